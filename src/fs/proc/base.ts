/*
 * /proc/<pid> and /proc/<pid>/task/<tid> (fs/proc/base.c, array.c, fd.c): one directory per task
 * describing it — status and stat in Linux's exact formats, cmdline, comm, the fd table as magic
 * links (fd/) and as text (fdinfo/), cwd and root, and the mount table as the task sees it.
 *
 * Everything is read from the live Task when a file is opened. Entries belong to their task: once
 * it exits they stop validating (see inode.ts) and lookups in a held directory give ENOENT.
 *
 * Magic links (fd/N, cwd, root) read as the target's path name, "pipe:[ino]" or
 * "anon_inode:[name]"; path walk through them lands on the object itself (InodeOperations.getLink
 * returning a Path), even when no name leads there any more. Following or reading them needs
 * ptrace-read access to the task: same thread group, same ids, or CAP_SYS_PTRACE.
 */
import { fail } from '../../lib/errors.js';
import { bytesToByteString, type ByteString } from '../../lib/bytestr.js';
import { EACCES, EINVAL } from '../../uapi/errno.js';
import { O_CLOEXEC } from '../../uapi/fcntl.js';
import { S_IFDIR, S_IFLNK, S_IFREG, MAJOR, MINOR, PIPEFS_MAGIC, ANON_INODE_FS_MAGIC } from '../../uapi/stat.js';
import { RLIMIT_SIGPENDING, RLIMIT_RSS } from '../../uapi/misc.js';
import { CAP_FULL_SET, type Kernel, type Task } from '../../kernel/index.js';
import {
  type File, type Path, type Mount, dPath, mountOptions, mountFlagsString, FMODE_READ, FMODE_WRITE,
} from '../vfs/index.js';
import {
  type ProcInode, type ProcSuper, type ProcDirOps, type ProcEntrySpec, taskInode, tableDir,
  nameToInt, mangle, magicLinkIops, taskAlive,
} from './inode.js';

const SOCKFS_MAGIC = 0x534f434b;
const CAP_SYS_PTRACE = 19;
/** USER_HZ: the tick unit of times in /proc/<pid>/stat and /proc/stat. */
export const USER_HZ = 100;

// ---- access ------------------------------------------------------------------------------------

/** The task whose syscall is running (Linux's current), set by the syscall dispatcher. */
export function current(k: Kernel): Task | null { return (k.vfs.caller as Task | undefined) ?? k.current ?? null; }

/** ptrace_may_access(PTRACE_MODE_READ_FSCREDS), reduced to what our tasks have. */
function mayAccessTask(k: Kernel, t: Task): boolean {
  const cur = current(k);
  if (!cur) return true; // kernel-internal lookups
  if (cur.tgid === t.tgid) return true;
  const c = cur.cred, tc = t.cred;
  if (c.fsuid === tc.uid && c.fsuid === tc.euid && c.fsuid === tc.suid &&
    c.fsgid === tc.gid && c.fsgid === tc.egid && c.fsgid === tc.sgid) return true;
  return c.capable(CAP_SYS_PTRACE);
}

/** The root d_path uses: the reader's root (current), else the kernel's. */
function readerRoot(k: Kernel): Path { return current(k)?.fs.root ?? k.rootPath(); }

/** The name a magic link to `f` reads as (d_path, or d_dname for pseudo filesystems). */
export function fileLinkName(f: File, root: Path): ByteString {
  const sb = f.inode.sb;
  if (sb.magic === PIPEFS_MAGIC) return `pipe:[${f.inode.ino}]`;
  if (sb.magic === SOCKFS_MAGIC) return `socket:[${f.inode.ino}]`;
  if (sb.magic === ANON_INODE_FS_MAGIC) {
    const n = f.path.dentry.name;
    return `anon_inode:${n.startsWith('[') ? n : `[${n}]`}`;
  }
  return pathLinkName(f.path, root);
}

function pathLinkName(p: Path, root: Path): ByteString {
  const s = dPath(p, root);
  return p.dentry.deleted ? `${s} (deleted)` : s;
}

// ---- status and stat ---------------------------------------------------------------------------

function stateLetter(t: Task): string {
  if (t.exited) return 'Z';
  if (t.kthread && t.state === 'S') return 'I';
  return t.state;
}
const STATE_NAMES: Record<string, string> = {
  R: 'R (running)', S: 'S (sleeping)', D: 'D (disk sleep)', Z: 'Z (zombie)', I: 'I (idle)',
};

function ppidOf(t: Task): number {
  const leader = t.groupLeader;
  return leader.parent === leader ? 0 : leader.parent.tgid;
}
function threadCount(t: Task): number {
  let n = 0;
  for (const x of t.kernel.tasks.values()) if (x.tgid === t.tgid && !x.exited) n++;
  return n;
}
/** Process group and session: our tasks have none of their own (see getpgid/getsid). */
function pgrpOf(t: Task): number { return t.kthread ? 0 : t.tgid; }
function sessionOf(t: Task): number { return t.kthread ? 0 : t.kernel.init.tgid; }

/** fdt->max_fds: 64, doubling to cover the highest fd in use. */
function fdSize(t: Task): number {
  let n = 64;
  while (n < t.files.size) n *= 2;
  return n;
}

function hex16(v: bigint | number): string { return BigInt(v).toString(16).padStart(16, '0'); }

/** Escape a task name the way status's Name: line does. */
function escapeComm(s: string): string {
  return s.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

export function statusText(t: Task): string {
  const c = t.cred;
  const sigq = t.rlimits[RLIMIT_SIGPENDING]?.[0] ?? 0;
  const zeros = '0'.repeat(16);
  const lines = [
    `Name:\t${escapeComm(t.comm)}`,
    `Umask:\t0${(t.fs.umask & 0o777).toString(8).padStart(3, '0')}`,
    `State:\t${STATE_NAMES[stateLetter(t)]}`,
    `Tgid:\t${t.tgid}`,
    `Ngid:\t0`,
    `Pid:\t${t.tid}`,
    `PPid:\t${ppidOf(t)}`,
    `TracerPid:\t0`,
    `Uid:\t${c.uid}\t${c.euid}\t${c.suid}\t${c.fsuid}`,
    `Gid:\t${c.gid}\t${c.egid}\t${c.sgid}\t${c.fsgid}`,
    `FDSize:\t${fdSize(t)}`,
    `Groups:\t${c.groups.join(' ')} `,
    `NStgid:\t${t.tgid}`,
    `NSpid:\t${t.tid}`,
    `NSpgid:\t${pgrpOf(t)}`,
    `NSsid:\t${sessionOf(t)}`,
    `Kthread:\t${t.kthread ? 1 : 0}`,
    `Threads:\t${threadCount(t)}`,
    `SigQ:\t0/${Number.isFinite(sigq) ? sigq : -1}`,
    `SigPnd:\t${zeros}`, `ShdPnd:\t${zeros}`, `SigBlk:\t${zeros}`, `SigIgn:\t${zeros}`, `SigCgt:\t${zeros}`,
    `CapInh:\t${hex16(c.capInheritable)}`,
    `CapPrm:\t${hex16(c.capPermitted)}`,
    `CapEff:\t${hex16(c.capEffective)}`,
    `CapBnd:\t${hex16(CAP_FULL_SET)}`,
    `CapAmb:\t${zeros}`,
    `NoNewPrivs:\t0`,
    `Seccomp:\t0`,
    `Seccomp_filters:\t0`,
    `Speculation_Store_Bypass:\tunknown`,
    `SpeculationIndirectBranch:\tunknown`,
    `Cpus_allowed:\t1`,
    `Cpus_allowed_list:\t0`,
    `Mems_allowed:\t1`,
    `Mems_allowed_list:\t0`,
    `voluntary_ctxt_switches:\t0`,
    `nonvoluntary_ctxt_switches:\t0`,
  ];
  return lines.join('\n') + '\n';
}

const PF_KTHREAD = 0x00200000;
const U64_MAX = '18446744073709551615';

/** /proc/<pid>/stat: the 52 fields of do_task_stat, in order. */
export function statText(t: Task): string {
  const rss = t.rlimits[RLIMIT_RSS]?.[0] ?? Infinity;
  const isLeader = t.groupLeader === t;
  const f: (string | number)[] = [
    t.tid, `(${t.comm})`, stateLetter(t), ppidOf(t), pgrpOf(t), sessionOf(t),
    0, -1, t.kthread ? PF_KTHREAD : 0, // tty_nr, tpgid, flags
    0, 0, 0, 0, // minflt cminflt majflt cmajflt
    0, 0, 0, 0, // utime stime cutime cstime (not accounted)
    20, 0, threadCount(t), 0, // priority nice num_threads itrealvalue
    Math.floor(t.startNs / (1e9 / USER_HZ)), // starttime
    0, 0, Number.isFinite(rss) ? rss : U64_MAX, // vsize rss rsslim
    0, 0, 0, 0, 0, // startcode endcode startstack kstkesp kstkeip
    0, 0, 0, 0, // signal blocked sigignore sigcatch
    0, 0, 0, // wchan nswap cnswap
    isLeader ? 17 : -1, 0, 0, 0, // exit_signal processor rt_priority policy
    0, 0, 0, // delayacct_blkio_ticks guest_time cguest_time
    0, 0, 0, 0, 0, 0, 0, // start_data end_data start_brk arg_start arg_end env_start env_end
    0, // exit_code
  ];
  return f.join(' ') + '\n';
}

function cmdlineText(t: Task): string {
  if (t.kthread) return '';
  if (t.tgid === t.kernel.init.tgid) return ['init', ...t.kernel.initArgs].map((a) => a + '\0').join('');
  return t.comm + '\0';
}

// ---- mounts ------------------------------------------------------------------------------------

/** Mounts visible from `root`, each with its mountpoint as seen from there. */
function visibleMounts(k: Kernel, root: Path): { m: Mount; at: ByteString }[] {
  const out: { m: Mount; at: ByteString }[] = [];
  for (const m of k.vfs.mounts) {
    const at = dPath({ mnt: m, dentry: m.root }, root);
    if (at.startsWith('(unreachable)')) continue;
    out.push({ m, at });
  }
  return out;
}

export function mountsText(k: Kernel, root: Path): string {
  return visibleMounts(k, root)
    .map(({ m, at }) => `${mangle(m.devname)} ${mangle(at)} ${mangle(m.sb.type.name)} ${mountOptions(m)} 0 0\n`)
    .join('');
}


/** Path of the mount's root inside its own filesystem ("/" unless a bind of a subtree). */
function rootInSb(m: Mount): ByteString {
  const parts: ByteString[] = [];
  for (let d = m.root; d !== m.sb.root && !d.isRoot; d = d.parent) parts.push(d.name);
  return '/' + parts.reverse().join('/');
}

export function mountinfoText(k: Kernel, root: Path): string {
  return visibleMounts(k, root).map(({ m, at }) => {
    const sb = m.sb;
    const extra = sb.op.showOptions?.(sb);
    const superOpts = (sb.readOnly ? 'ro' : 'rw') + (extra ? `,${extra}` : '');
    return `${m.id} ${m.parent.id} ${MAJOR(sb.dev)}:${MINOR(sb.dev)} ${mangle(rootInSb(m))} ${mangle(at)} ` +
      `${mountFlagsString(m)} - ${mangle(sb.type.name)} ${mangle(m.devname)} ${superOpts}\n`;
  }).join('');
}

// ---- entries -----------------------------------------------------------------------------------

type Prefix = 'P' | 'T';

function seqFile(sb: ProcSuper, t: Task, key: string, mode: number, show: (t: Task) => string,
  store?: (t: Task, data: Uint8Array) => void): ProcInode {
  return taskInode(sb, t, key, S_IFREG | mode, (i) => {
    i.show = (ino) => show(ino.task!);
    if (store) i.store = (ino, data) => store(ino.task!, data);
  });
}

function magicLink(sb: ProcSuper, t: Task, key: string, target: (t: Task) => Path, extra?: (i: ProcInode) => boolean, name?: (t: Task) => ByteString): ProcInode {
  return taskInode(sb, t, key, S_IFLNK | 0o777, (i) => {
    i.op = magicLinkIops;
    i.size = 0;
    if (extra) i.extraValid = extra;
    i.target = (ino) => {
      if (!mayAccessTask(sb.k, ino.task!)) fail(EACCES);
      return target(ino.task!);
    };
    i.link = (ino) => {
      if (!mayAccessTask(sb.k, ino.task!)) fail(EACCES);
      return name ? name(ino.task!) : pathLinkName(target(ino.task!), readerRoot(sb.k));
    };
  });
}

/** comm_write: a thread group may rename its own threads; the name is cut to 15 bytes. */
function commStore(sb: ProcSuper) {
  return (t: Task, data: Uint8Array) => {
    const cur = current(sb.k);
    if (cur && cur.tgid !== t.tgid) fail(EINVAL);
    let s = bytesToByteString(data.subarray(0, 15));
    const nl = s.indexOf('\n');
    if (nl >= 0) s = s.slice(0, nl);
    const nul = s.indexOf('\0');
    if (nul >= 0) s = s.slice(0, nul);
    t.comm = s;
  };
}

function fdFile(t: Task, fd: number): File | undefined { return taskAlive(t) ? t.files.peek(fd) : undefined; }

function fdDir(sb: ProcSuper, prefix: Prefix, info: boolean): ProcDirOps {
  const make = (t: Task, fd: number): ProcInode => {
    if (info) {
      return taskInode(sb, t, `${prefix}/fdinfo/${fd}`, S_IFREG | 0o444, (i) => {
        i.fd = fd;
        i.extraValid = (ino) => fdFile(ino.task!, ino.fd) !== undefined;
        i.show = (ino) => {
          const f = fdFile(ino.task!, ino.fd)!;
          const flags = f.flags | (ino.task!.files.isCloexec(ino.fd) ? O_CLOEXEC : 0);
          return `pos:\t${f.pos}\nflags:\t0${flags.toString(8)}\nmnt_id:\t${f.path.mnt.id}\nino:\t${f.inode.ino}\n`;
        };
      });
    }
    const i = magicLink(sb, t, `${prefix}/fd/${fd}`,
      (tt) => fdFile(tt, fd)!.path,
      (ino) => fdFile(ino.task!, fd) !== undefined,
      (tt) => fileLinkName(fdFile(tt, fd)!, readerRoot(sb.k)));
    // tid_fd_update_inode: the link's permission bits mirror the open mode.
    const f = fdFile(t, fd);
    let mode = S_IFLNK;
    if (f && f.mode & FMODE_READ) mode |= 0o500;
    if (f && f.mode & FMODE_WRITE) mode |= 0o300;
    i.mode = mode;
    i.size = 64;
    return i;
  };
  return {
    *list(dir) {
      const t = dir.task!;
      for (const [fd] of t.files.entries()) yield { pos: 2 + fd, name: String(fd), inode: () => (fdFile(t, fd) ? make(t, fd) : null) };
    },
    lookup(dir, name) {
      const fd = nameToInt(name);
      if (fd < 0 || !fdFile(dir.task!, fd)) return null;
      return make(dir.task!, fd);
    },
  };
}

function subdir(sb: ProcSuper, t: Task, key: string, mode: number, ops: ProcDirOps, refresh?: (i: ProcInode) => void): ProcInode {
  return taskInode(sb, t, key, S_IFDIR | mode, (i) => {
    i.dir = ops;
    if (refresh) i.refresh = refresh;
  });
}

/** The entries of a pid directory (tgid_base_stuff) or of a task/<tid> one (tid_base_stuff). */
function pidEntries(sb: ProcSuper, prefix: Prefix): ProcEntrySpec[] {
  const k = sb.k;
  const fdOps = fdDir(sb, prefix, false);
  const fdinfoOps = fdDir(sb, prefix, true);
  const e: ProcEntrySpec[] = [];
  if (prefix === 'P') {
    e.push({ name: 'task', make: (d) => subdir(sb, d.task!, 'P/task', 0o555, taskDir(sb), (i) => { i.nlink = 2 + threadCount(i.task!); }) });
  }
  e.push(
    { name: 'fd', make: (d) => subdir(sb, d.task!, `${prefix}/fd`, 0o500, fdOps, (i) => { i.size = i.task!.files.count; }) },
    { name: 'fdinfo', make: (d) => subdir(sb, d.task!, `${prefix}/fdinfo`, 0o555, fdinfoOps) },
    { name: 'status', make: (d) => seqFile(sb, d.task!, `${prefix}/status`, 0o444, statusText) },
    { name: 'comm', make: (d) => seqFile(sb, d.task!, `${prefix}/comm`, 0o644, (t) => t.comm + '\n', commStore(sb)) },
    { name: 'cmdline', make: (d) => seqFile(sb, d.task!, `${prefix}/cmdline`, 0o444, cmdlineText) },
    { name: 'stat', make: (d) => seqFile(sb, d.task!, `${prefix}/stat`, 0o444, statText) },
    { name: 'cwd', make: (d) => magicLink(sb, d.task!, `${prefix}/cwd`, (t) => t.fs.pwd) },
    { name: 'root', make: (d) => magicLink(sb, d.task!, `${prefix}/root`, (t) => t.fs.root) },
    { name: 'mounts', make: (d) => seqFile(sb, d.task!, `${prefix}/mounts`, 0o444, (t) => mountsText(k, t.fs.root)) },
    { name: 'mountinfo', make: (d) => seqFile(sb, d.task!, `${prefix}/mountinfo`, 0o444, (t) => mountinfoText(k, t.fs.root)) },
  );
  return e;
}

/** /proc/<pid>/task: one directory per thread of the group. */
function taskDir(sb: ProcSuper): ProcDirOps {
  const threads = (t: Task) => [...t.kernel.tasks.values()].filter((x) => x.tgid === t.tgid && !x.exited).sort((a, b) => a.tid - b.tid);
  return {
    *list(dir) {
      for (const x of threads(dir.task!)) yield { pos: 2 + x.tid, name: String(x.tid), inode: () => tidDirInode(sb, x) };
    },
    lookup(dir, name) {
      const tid = nameToInt(name);
      const x = tid > 0 ? dir.task!.kernel.tasks.get(tid) : undefined;
      if (!x || x.exited || x.tgid !== dir.task!.tgid) return null;
      return tidDirInode(sb, x);
    },
  };
}

/** /proc/<pid> for task `t` (a group leader, or any thread looked up by its tid). */
export function pidDirInode(sb: ProcSuper, t: Task): ProcInode {
  return taskInode(sb, t, 'P', S_IFDIR | 0o555, (i) => {
    i.dir = tableDir(pidEntries(sb, 'P'));
    i.nlink = 5; // ., .., task, fd, fdinfo
  });
}

/** /proc/<pid>/task/<tid> */
export function tidDirInode(sb: ProcSuper, t: Task): ProcInode {
  return taskInode(sb, t, 'T', S_IFDIR | 0o555, (i) => {
    i.dir = tableDir(pidEntries(sb, 'T'));
    i.nlink = 4; // ., .., fd, fdinfo
  });
}
