/*
 * procfs plumbing: the superblock, the inode type, generated ("seq_file") files, magic links and
 * directories whose content is computed on every lookup.
 *
 * Nothing under /proc is stored. A regular file is a `show` function run when the file is opened:
 * its text becomes a snapshot in file.private_data and reads are positional within that snapshot,
 * so a reader that reads in small pieces sees one consistent picture (seq_file). A few files also
 * take writes (`store`), like sysctls. A directory answers lookup() and iterate() from the live
 * kernel state: the task list, a task's fd table.
 *
 * The dcache problem. The VFS caches every dentry it gets back from lookup() in the parent's
 * `children` map, negative ones included, and consults that map before asking the filesystem.
 * For /proc that is wrong twice over: a cached /proc/42 would outlive task 42, and a cached
 * negative /proc/43 would hide task 43 once it exists. Linux solves this with d_revalidate; our
 * VFS has no such hook, so every procfs directory dentry gets a ProcChildren map instead of a
 * plain Map. Its get() hands out a cached dentry only while the inode behind it is still valid
 * (the task alive, the fd still open) and drops it otherwise, and its set() refuses negative
 * dentries, so a miss always reaches lookup() again. Dentries with something mounted on them are
 * always kept. The map is installed on the root at mount time and on every other directory the
 * first time it is looked into or listed (through inode.alias, the dentry the VFS built for it).
 *
 * Inodes are cached per superblock (static entries) or per task (everything under /proc/<pid>),
 * so a name keeps its inode number for as long as what it names exists, and getdents and stat
 * agree on d_ino. Per-task caches live in a WeakMap keyed by the Task: they go when the task does.
 */
import { fail } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { utf8Encode } from '../../lib/bytestr.js';
import { EACCES, EINVAL, EPERM, ESRCH, ENOENT } from '../../uapi/errno.js';
import { SEEK_CUR, SEEK_SET } from '../../uapi/fcntl.js';
import { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG, PROC_SUPER_MAGIC, type Kstatfs } from '../../uapi/stat.js';
import type { Kernel, Task } from '../../kernel/index.js';
import {
  Inode, SuperBlock, Dentry, type InodeOperations, type FileOperations, type File, type DirContext,
  type FileSystemType, type Path,
} from '../vfs/index.js';

export class ProcSuper extends SuperBlock {
  k!: Kernel;
  nextIno = 2;
  /** Inodes of the static part (/proc/meminfo, /proc/sys/...), by key. */
  readonly staticInodes = new Map<string, ProcInode>();
  /** Inodes describing a task, by task then key; they vanish with the task. */
  readonly taskInodes = new WeakMap<Task, Map<string, ProcInode>>();
  /** Mount options (hidepid=, gid=) as given, for /proc/mounts. */
  options = '';
}

/** What a directory inode knows how to do: list its entries and find one by name. */
export interface ProcDirOps {
  /** Entries after "." and "..", in order, each with its readdir position (>= 2, increasing). */
  list(dir: ProcInode): Iterable<ProcDirEntry>;
  lookup(dir: ProcInode, name: ByteString): ProcInode | null;
}
export interface ProcDirEntry { pos: number; name: ByteString; inode: () => ProcInode | null }

export class ProcInode extends Inode {
  declare sb: ProcSuper;
  /** The task this inode describes, or null outside /proc/<pid>. */
  task: Task | null = null;
  /** The fd of /proc/<pid>/fd/N and fdinfo/N, else -1. */
  fd = -1;
  /** Generated content of a regular file, computed at open time. */
  show?: (inode: ProcInode, file: File) => string | Uint8Array;
  /** Write handler (sysctls, comm): gets the written bytes and the position. */
  store?: (inode: ProcInode, data: Uint8Array, pos: number, file: File) => void;
  /** Directory content. */
  dir?: ProcDirOps;
  /** Link text (readlink) for symlinks and magic links. */
  link?: (inode: ProcInode) => ByteString;
  /** Magic links: where path walk goes. */
  target?: (inode: ProcInode) => Path;
  /** Extra validity test (the fd still open, ...) on top of the task being alive. */
  extraValid?: (inode: ProcInode) => boolean;
  /** Recompute nlink/size/mode before stat (directories that count their entries). */
  refresh?: (inode: ProcInode) => void;

  /** Does the object this inode names still exist? */
  valid(): boolean {
    const t = this.task;
    if (t && !taskAlive(t)) return false;
    return this.extraValid ? this.extraValid(this) : true;
  }
}

export function taskAlive(t: Task): boolean {
  return !t.exited && t.kernel.tasks.get(t.tid) === t;
}

/** The dentry map for procfs directories; see the essay above. */
export class ProcChildren extends Map<ByteString, Dentry> {
  override get(name: ByteString): Dentry | undefined {
    const d = super.get(name);
    if (!d) return undefined;
    if (d.mounts && d.mounts.length) return d;
    const inode = d.inode as ProcInode | null;
    if (inode && inode.valid()) return d;
    super.delete(name);
    return undefined;
  }
  override set(name: ByteString, d: Dentry): this {
    if (!d.inode && !(d.mounts && d.mounts.length)) return this;
    return super.set(name, d);
  }
}

/** Give `d` a ProcChildren map (keeping what is valid in the old one). */
export function ensureProcChildren(d: Dentry | null): void {
  if (!d || d.children instanceof ProcChildren) return;
  const m = new ProcChildren();
  for (const [k, v] of d.children) m.set(k, v);
  (d as unknown as { children: Map<ByteString, Dentry> }).children = m;
}

// ---- inode construction ------------------------------------------------------------------------

export function allocInode(sb: ProcSuper, mode: number): ProcInode {
  const t = mode & S_IFMT;
  const iops = t === S_IFDIR ? dirIops : t === S_IFLNK ? linkIops : fileIops;
  const fops = t === S_IFDIR ? dirFops : t === S_IFREG ? seqFops : {};
  const inode = new ProcInode(sb, sb.nextIno++, mode, iops, fops);
  inode.nlink = t === S_IFDIR ? 2 : 1;
  return inode;
}

/** The cached inode for `key` (static part), made by `init` the first time. */
export function staticInode(sb: ProcSuper, key: string, mode: number, init: (i: ProcInode) => void): ProcInode {
  let i = sb.staticInodes.get(key);
  if (!i) {
    i = allocInode(sb, mode);
    init(i);
    sb.staticInodes.set(key, i);
  }
  return i;
}

/**
 * The cached inode for `key` of task `t` (owner: the task's euid/egid, as Linux's
 * task_dump_owner). Regenerated if an extra validity test has since failed (fd reused).
 */
export function taskInode(sb: ProcSuper, t: Task, key: string, mode: number, init: (i: ProcInode) => void): ProcInode {
  let m = sb.taskInodes.get(t);
  if (!m) sb.taskInodes.set(t, (m = new Map()));
  let i = m.get(key);
  if (!i || !i.valid()) {
    i = allocInode(sb, mode);
    i.task = t;
    init(i);
    m.set(key, i);
  }
  i.uid = t.cred.euid;
  i.gid = t.cred.egid;
  return i;
}

// ---- operations --------------------------------------------------------------------------------

/** proc_setattr: no chmod/chown of generated files; times are accepted and kept. */
function procSetattr(inode: Inode, attr: { mode?: number; uid?: number; gid?: number; atime?: unknown; mtime?: unknown; ctime?: unknown }): void {
  if (attr.mode !== undefined || attr.uid !== undefined || attr.gid !== undefined) fail(EPERM);
  const a = attr as { atime?: Inode['atime']; mtime?: Inode['mtime']; ctime?: Inode['ctime'] };
  if (a.atime) inode.atime = a.atime;
  if (a.mtime) inode.mtime = a.mtime;
  if (a.ctime) inode.ctime = a.ctime;
}

const fileIops: InodeOperations = {
  setattr: procSetattr,
  getattr(inode) { (inode as ProcInode).refresh?.(inode as ProcInode); },
};

const linkIops: InodeOperations = {
  setattr: procSetattr,
  readlink(inode) {
    const p = inode as ProcInode;
    if (!p.valid()) fail(ENOENT);
    return p.link!(p);
  },
  getattr(inode) { (inode as ProcInode).refresh?.(inode as ProcInode); },
};

/** Magic links (fd/N, cwd, root) also resolve to a place for path walk. */
export const magicLinkIops: InodeOperations = {
  ...linkIops,
  getLink(inode) {
    const p = inode as ProcInode;
    if (!p.valid()) fail(ENOENT);
    return p.target!(p);
  },
};

const dirIops: InodeOperations = {
  setattr: procSetattr,
  lookup(dir, name) {
    const p = dir as ProcInode;
    ensureProcChildren(p.alias);
    if (!p.valid()) return null;
    return p.dir!.lookup(p, name);
  },
  getattr(inode) { (inode as ProcInode).refresh?.(inode as ProcInode); },
};

const dirFops: FileOperations = {
  iterate(file: File, ctx: DirContext) {
    const dir = file.inode as ProcInode;
    const d = file.path.dentry;
    ensureProcChildren(d);
    if (!dir.valid()) fail(ENOENT);
    if (ctx.pos === 0) { if (!ctx.emit('.', dir.ino, 4)) return; ctx.pos = 1; }
    if (ctx.pos === 1) { if (!ctx.emit('..', d.parent.inode!.ino, 4)) return; ctx.pos = 2; }
    for (const e of dir.dir!.list(dir)) {
      if (e.pos < ctx.pos) continue;
      const inode = e.inode();
      if (!inode) continue;
      if (!ctx.emit(e.name, inode.ino, (inode.mode & S_IFMT) >>> 12)) return;
      ctx.pos = e.pos + 1;
    }
  },
};

const EMPTY = new Uint8Array(0);

/** Generated files: snapshot at open, positional reads, optional writes, seq_lseek. */
export const seqFops: FileOperations = {
  open(inode, file) {
    const p = inode as ProcInode;
    if (file.writable && !p.store) fail(EACCES);
    if (!p.valid()) fail(ESRCH);
    if (file.readable && p.show) {
      const v = p.show(p, file);
      file.private_data = typeof v === 'string' ? utf8Encode(v) : v;
    } else file.private_data = EMPTY;
  },
  read(file, buf, pos) {
    const data = (file.private_data as Uint8Array | undefined) ?? EMPTY;
    if (pos >= data.length) return 0;
    const n = Math.min(buf.length, data.length - pos);
    buf.set(data.subarray(pos, pos + n));
    return n;
  },
  write(file, buf, pos) {
    const p = file.inode as ProcInode;
    if (!p.store) fail(EINVAL);
    if (!p.valid()) fail(ESRCH);
    p.store(p, buf, pos, file);
    return buf.length;
  },
  llseek: seqLseek,
};

/** seq_lseek: SEEK_SET and SEEK_CUR only; the size of generated text is not known in advance. */
export function seqLseek(file: File, offset: number, whence: number): number {
  let pos: number;
  if (whence === SEEK_SET) pos = offset;
  else if (whence === SEEK_CUR) pos = file.pos + offset;
  else fail(EINVAL);
  if (pos < 0) fail(EINVAL);
  file.pos = pos;
  return pos;
}

// ---- helpers for the content generators -------------------------------------------------------

/** A table of fixed entries as a ProcDirOps (Linux's pid_entry arrays, proc_dir_entry lists). */
export interface ProcEntrySpec { name: string; make: (dir: ProcInode) => ProcInode }

export function tableDir(entries: ProcEntrySpec[]): ProcDirOps {
  return {
    list(dir) {
      return entries.map((e, i) => ({ pos: 2 + i, name: e.name, inode: () => e.make(dir) }));
    },
    lookup(dir, name) {
      const e = entries.find((x) => x.name === name);
      return e ? e.make(dir) : null;
    },
  };
}

/** Canonical decimal (no sign, no leading zeros) as name_to_int accepts; -1 otherwise. */
export function nameToInt(name: ByteString): number {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(name)) return -1;
  const n = Number(name);
  return n > 0x7fffffff ? -1 : n;
}

/** Escape " \t\n\\" the way /proc/mounts does (mangle: octal escapes). */
export function mangle(s: string): string {
  return s.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

export function procStatfs(): Kstatfs {
  return {
    type: PROC_SUPER_MAGIC, bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0,
    fsid: [0, 0], namelen: 255, frsize: 4096, flags: 0,
  };
}

export { Dentry, type FileSystemType };
