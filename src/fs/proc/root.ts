/*
 * The /proc root and its system-wide files (fs/proc/root.c, generic.c, meminfo.c, and friends):
 * self and thread-self, one directory per process, and the text files that describe the kernel —
 * meminfo, uptime, version, cmdline, filesystems, loadavg, stat, mounts, kmsg — plus the few
 * sysctls under sys/kernel.
 *
 * /proc/self needs to know who is asking. The VFS sets vfs.caller to the calling task right before
 * each call into a filesystem (lookup, readlink, getLink, open), so self, thread-self and the d_path
 * root of magic links see the right task even when other tasks' syscalls ran in between.
 */
import { fail } from '../../lib/errors.js';
import { bytesToByteString, type ByteString } from '../../lib/bytestr.js';
import { EINVAL, ENOENT, EPERM } from '../../uapi/errno.js';
import { O_NONBLOCK } from '../../uapi/fcntl.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from '../../uapi/stat.js';
import { CAP_SYSLOG, CAP_SYS_ADMIN, POLLIN, POLLRDNORM } from '../../uapi/misc.js';
import { PAGE_SIZE } from '../../mm/index.js';
import { PID_MAX, type Kernel, type Task } from '../../kernel/index.js';
import {
  Dentry, FS_REQUIRES_DEV, type FileSystemType, type MountRequest, type FileOperations,
} from '../vfs/index.js';
import {
  ProcSuper, ProcInode, ProcChildren, allocInode, staticInode, tableDir, nameToInt, procStatfs,
  type ProcDirOps, type ProcEntrySpec, type ProcDirEntry,
} from './inode.js';
import { pidDirInode, current, mountsText, USER_HZ } from './base.js';
import { blockLayerOf } from '../../block/index.js';
import { syslogRead, syslogHasUnread, MINIMUM_CONSOLE_LOGLEVEL } from './kmsg.js';

/** readdir positions of pid directories: after every static entry (FIRST_PROCESS_ENTRY). */
const PID_POS_BASE = 256;

// ---- generators --------------------------------------------------------------------------------

/** The banner the boot log prints first (linux_banner). */
export function versionText(k: Kernel): string {
  return `Linux version ${k.uts.release} (lkl-ts@${k.host.name}) (${k.host.description}) ${k.uts.version}\n`;
}

function kbLine(label: string, pages: number): string {
  return `${(label + ':').padEnd(16)}${String(pages * (PAGE_SIZE / 1024)).padStart(8)} kB\n`;
}

/** /proc/meminfo from the `mem=` budget. Shmem counts as cached, as in Linux. */
export function meminfoText(k: Kernel): string {
  const m = k.mem;
  const total = m.totalPages - m.reservedPages;
  const free = Math.max(0, m.freePages);
  const shmem = m.pages('shmem'), cachedFile = m.pages('cached'), buffers = m.pages('buffers');
  const slab = m.pages('slab') + m.pages('sock');
  // The dcache's pages: given back under pressure (its shrinker), so they count as available.
  const sreclaimable = m.reclaimable('slab');
  const cached = cachedFile + shmem;
  const available = Math.min(total, free + cachedFile + buffers + sreclaimable);
  const rows: [string, number][] = [
    ['MemTotal', total], ['MemFree', free], ['MemAvailable', available], ['Buffers', buffers],
    ['Cached', cached], ['SwapCached', 0], ['Active', shmem + cachedFile + buffers], ['Inactive', 0],
    ['Active(anon)', shmem], ['Inactive(anon)', 0], ['Active(file)', cachedFile + buffers],
    ['Inactive(file)', 0], ['Unevictable', 0], ['Mlocked', 0], ['SwapTotal', 0], ['SwapFree', 0],
    ['Zswap', 0], ['Zswapped', 0], ['Dirty', 0], ['Writeback', 0], ['AnonPages', 0], ['Mapped', 0],
    ['Shmem', shmem], ['KReclaimable', sreclaimable], ['Slab', slab], ['SReclaimable', sreclaimable],
    ['SUnreclaim', slab - sreclaimable],
    ['KernelStack', 0], ['PageTables', 0], ['SecPageTables', 0], ['NFS_Unstable', 0], ['Bounce', 0],
    ['WritebackTmp', 0], ['CommitLimit', Math.floor(total / 2)], ['Committed_AS', shmem],
    ['VmallocTotal', 0], ['VmallocUsed', 0], ['VmallocChunk', 0], ['Percpu', 0],
  ];
  return rows.map(([l, p]) => kbLine(l, p)).join('');
}

function centis(ns: number): string {
  const cs = Math.floor(ns / 1e7);
  return `${Math.floor(cs / 100)}.${String(cs % 100).padStart(2, '0')}`;
}

/** /proc/uptime: seconds since boot and idle seconds. Idle is not accounted: the CPU counts as idle throughout. */
export function uptimeText(k: Kernel): string {
  const ns = k.clock.sinceBootNs();
  return `${centis(ns)} ${centis(ns)}\n`;
}

function liveTasks(k: Kernel): Task[] { return [...k.tasks.values()].filter((t) => !t.exited); }
function lastPid(k: Kernel): number { let n = 0; for (const t of k.tasks.keys()) n = Math.max(n, t); return n; }

/** /proc/loadavg: no load accounting, so the averages are 0; running/total and the newest pid are real. */
export function loadavgText(k: Kernel): string {
  const ts = liveTasks(k);
  const running = ts.filter((t) => t.state === 'R').length;
  return `0.00 0.00 0.00 ${running}/${ts.length} ${lastPid(k)}\n`;
}

/** /proc/stat for one CPU: only idle time and the boot time carry information. */
export function statText(k: Kernel): string {
  const up = k.clock.sinceBootNs();
  const idle = Math.floor(up / (1e9 / USER_HZ));
  const cpu = `0 0 0 ${idle} 0 0 0 0 0 0`;
  const btime = k.clock.realtime().sec - Math.floor(up / 1e9);
  const ts = liveTasks(k);
  return `cpu  ${cpu}\ncpu0 ${cpu}\nintr 0\nctxt 0\nbtime ${btime}\nprocesses ${lastPid(k)}\n` +
    `procs_running ${ts.filter((t) => t.state === 'R').length}\nprocs_blocked ${ts.filter((t) => t.state === 'D').length}\n` +
    `softirq 0 0 0 0 0 0 0 0 0 0 0\n`;
}

export function filesystemsText(k: Kernel): string {
  let s = '';
  for (const [name, type] of k.vfs.fsTypes) s += `${type.fsFlags & FS_REQUIRES_DEV ? '' : 'nodev'}\t${name}\n`;
  return s;
}

/** /proc/partitions: every disk and partition, sizes in 1 KiB blocks (block/genhd.c show_partition). */
export function partitionsText(k: Kernel): string {
  return blockLayerOf(k)?.partitionsText() ?? 'major minor  #blocks  name\n\n';
}

// ---- sysctls (sys/kernel) ----------------------------------------------------------------------

/**
 * proc_dostring: the value ends at the first newline or NUL and is cut to maxlen-1 bytes; a write
 * at an offset continues the current value there (sysctl_writes_strict), past its end is ignored.
 */
function storeString(get: () => ByteString, set: (v: ByteString) => void, maxlen: number) {
  return (_i: ProcInode, data: Uint8Array, pos: number) => {
    const cur = get();
    if (pos > cur.length) return;
    let s = bytesToByteString(data);
    const cut = s.search(/[\n\0]/);
    if (cut >= 0) s = s.slice(0, cut);
    set((cur.slice(0, pos) + s).slice(0, maxlen - 1));
  };
}

/** /proc/sys/kernel/printk: console_loglevel default_message_loglevel minimum default_console. */
function printkStore(k: Kernel) {
  return (_i: ProcInode, data: Uint8Array, pos: number) => {
    if (pos !== 0) return;
    const words = bytesToByteString(data).trim().split(/\s+/).filter(Boolean);
    if (!words.length || !words.every((w) => /^-?\d+$/.test(w))) fail(EINVAL);
    k.log.consoleLoglevel = Number(words[0]);
  };
}

function sysctlFile(sb: ProcSuper, key: string, mode: number, show: () => string,
  store?: (i: ProcInode, data: Uint8Array, pos: number) => void): ProcInode {
  return staticInode(sb, key, S_IFREG | mode, (i) => {
    i.show = show;
    if (store) i.store = store;
  });
}

function sysKernelEntries(sb: ProcSuper): ProcEntrySpec[] {
  const k = sb.k;
  const uts = k.uts;
  const rootOnly = (set: (v: ByteString) => void) => (v: ByteString) => {
    // The mode already keeps other users out; this is the CAP_SYS_ADMIN test of the uts sysctls.
    if (!(current(k)?.cred.capable(CAP_SYS_ADMIN) ?? true)) fail(EPERM);
    set(v);
  };
  const e: [string, number, () => string, ((i: ProcInode, d: Uint8Array, p: number) => void)?][] = [
    ['domainname', 0o644, () => `${uts.domainname}\n`, storeString(() => uts.domainname, rootOnly((v) => { uts.domainname = v; }), 65)],
    ['hostname', 0o644, () => `${uts.nodename}\n`, storeString(() => uts.nodename, rootOnly((v) => { uts.nodename = v; }), 65)],
    ['osrelease', 0o444, () => `${uts.release}\n`],
    ['ostype', 0o444, () => `${uts.sysname}\n`],
    ['pid_max', 0o444, () => `${PID_MAX}\n`],
    ['printk', 0o644, () => `${k.log.consoleLoglevel}\t4\t${MINIMUM_CONSOLE_LOGLEVEL}\t7\n`, printkStore(k)],
    ['version', 0o444, () => `${uts.version}\n`],
  ];
  return e.map(([name, mode, show, store]) => ({ name, make: () => sysctlFile(sb, `sys/kernel/${name}`, mode, show, store) }));
}

function staticDir(sb: ProcSuper, key: string, entries: ProcEntrySpec[]): ProcInode {
  return staticInode(sb, key, S_IFDIR | 0o555, (i) => {
    i.dir = tableDir(entries);
    i.nlink = 2 + entries.filter((e) => e.make(i).isDir).length;
  });
}

// ---- /proc/kmsg --------------------------------------------------------------------------------

function kmsgFops(k: Kernel): FileOperations {
  return {
    open(_inode, file) {
      // check_syslog_permissions(SYSLOG_ACTION_OPEN, SYSLOG_FROM_PROC)
      if (!file.cred.capable(CAP_SYSLOG) && !file.cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
    },
    read(file, buf) { return syslogRead(k, buf, (file.flags & O_NONBLOCK) !== 0); },
    poll() { return syslogHasUnread(k.log) ? POLLIN | POLLRDNORM : 0; },
    waitQueue() { return k.log.waitq; },
  };
}

// ---- the root directory ------------------------------------------------------------------------

function rootEntries(sb: ProcSuper): ProcEntrySpec[] {
  const k = sb.k;
  const link = (name: string, text: (i: ProcInode) => ByteString, size = 0): ProcEntrySpec => ({
    name,
    make: () => staticInode(sb, name, S_IFLNK | 0o777, (i) => { i.link = text; i.size = size; }),
  });
  const file = (name: string, mode: number, show: () => string): ProcEntrySpec => ({
    name, make: () => staticInode(sb, name, S_IFREG | mode, (i) => { i.show = show; }),
  });
  const selfTask = (): Task => current(k) ?? fail(ENOENT);
  return [
    link('self', () => String(selfTask().tgid)),
    link('thread-self', () => { const t = selfTask(); return `${t.tgid}/task/${t.tid}`; }),
    link('mounts', () => 'self/mounts', 'self/mounts'.length),
    file('cmdline', 0o444, () => `${k.cmdline}\n`),
    file('filesystems', 0o444, () => filesystemsText(k)),
    {
      name: 'kmsg',
      make: () => staticInode(sb, 'kmsg', S_IFREG | 0o400, (i) => { i.fop = kmsgFops(k); }),
    },
    file('loadavg', 0o444, () => loadavgText(k)),
    file('meminfo', 0o444, () => meminfoText(k)),
    // Linux's /proc/net is a link to self/net (per network namespace); a kernel here has at most
    // one namespace, so a directory. It exists only when the network stack registered its files (proc_net.ts): a kernel booted
    // without networking has none, as one built with CONFIG_NET=n.
    ...netEntries(k).map((files) => ({
      name: 'net',
      make: () => staticDir(sb, 'net', files.map((f) => file(f.name, 0o444, f.show))),
    })),
    file('partitions', 0o444, () => partitionsText(k)),
    file('stat', 0o444, () => statText(k)),
    { name: 'sys', make: () => staticDir(sb, 'sys', [{ name: 'kernel', make: () => staticDir(sb, 'sys/kernel', sysKernelEntries(sb)) }]) },
    file('uptime', 0o444, () => uptimeText(k)),
    file('version', 0o444, () => versionText(k)),
  ];
}

/** One file of /proc/net: its name and the text it shows. */
export interface ProcNetFile { name: string; show: () => string }

/** The /proc/net files of each kernel whose network stack is up (procNetRegister). */
const procNetFiles = new WeakMap<Kernel, ProcNetFile[]>();

/** Give kernel k a /proc/net directory holding these files (proc_net_init). */
export function procNetRegister(k: Kernel, files: ProcNetFile[]): void { procNetFiles.set(k, files); }

function netEntries(k: Kernel): ProcNetFile[][] {
  const files = procNetFiles.get(k);
  return files ? [files] : [];
}

/** Thread group leaders, in pid order: the numbered entries of /proc. */
function processes(k: Kernel): Task[] {
  return [...k.tasks.values()].filter((t) => !t.exited && t.groupLeader === t).sort((a, b) => a.tgid - b.tgid);
}

function rootDirOps(sb: ProcSuper): ProcDirOps {
  const fixed = tableDir(rootEntries(sb));
  return {
    *list(dir): Iterable<ProcDirEntry> {
      yield* fixed.list(dir);
      for (const t of processes(sb.k)) yield { pos: PID_POS_BASE + t.tgid, name: String(t.tgid), inode: () => pidDirInode(sb, t) };
    },
    lookup(dir, name) {
      const hit = fixed.lookup(dir, name);
      if (hit) return hit;
      // Any thread can be looked up by its tid, though only leaders are listed (as in Linux).
      const pid = nameToInt(name);
      const t = pid > 0 ? sb.k.tasks.get(pid) : undefined;
      if (!t || t.exited) return null;
      return pidDirInode(sb, t);
    },
  };
}

// ---- the filesystem type -----------------------------------------------------------------------

function parseOptions(data: string): string {
  const kept: string[] = [];
  for (const opt of data.split(',')) {
    if (!opt) continue;
    const [key, val = ''] = opt.split('=', 2) as [string, string?];
    // hidepid=0 (off) and gid= are the defaults' spelling; other visibility modes are not implemented.
    if (key === 'hidepid' && (val === '0' || val === 'off')) continue;
    if (key === 'gid' && /^\d+$/.test(val)) { kept.push(opt); continue; }
    fail(EINVAL, `proc: Unknown parameter '${key}'`);
  }
  return kept.join(',');
}

export function createProcType(k: Kernel): FileSystemType {
  const type: FileSystemType = {
    name: 'proc',
    fsFlags: 0,
    mount(req: MountRequest) {
      const options = parseOptions(req.data);
      const sb = new ProcSuper(req.vfs, type, req.flags, {
        statfs: procStatfs,
        showOptions: (s) => (s as ProcSuper).options,
      }, 'proc');
      sb.k = k;
      sb.options = options;
      sb.magic = 0x9fa0;
      sb.blocksize = PAGE_SIZE;
      sb.dcacheAuthoritative = false;
      // ProcChildren checks every cached dentry on use, so dropped ones are safely rebuilt.
      sb.dcacheRevalidates = true;
      const root = allocInode(sb, S_IFDIR | 0o555);
      root.ino = 1;
      root.dir = rootDirOps(sb);
      root.refresh = (i) => { i.nlink = 3 + processes(k).length; };
      root.refresh(root);
      sb.root = new Dentry('/', null, root);
      (sb.root as unknown as { children: Map<ByteString, Dentry> }).children = new ProcChildren();
      return sb;
    },
  };
  return type;
}

