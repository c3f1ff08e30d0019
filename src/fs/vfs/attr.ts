/*
 * Attribute changes (notify_change): chmod, chown, utimensat, truncate — permission rules from
 * setattr_prepare, set-id clearing, ctime updates — and stat (vfs_getattr).
 */
import { fail, isPromise, type MaybePromise } from '../../lib/errors.js';
import { EINVAL, EISDIR, EROFS, EPERM, EFBIG, EBADF } from '../../uapi/errno.js';
import { S_IALLUGO, S_IFMT, S_IFREG, S_IFDIR, UTIME_NOW, UTIME_OMIT, type Kstat, type Timespec } from '../../uapi/stat.js';
import type { Inode, Iattr } from './inode.js';
import type { Path } from './mount.js';
import type { File } from './file.js';
import type { FsContext } from './namei_ops.js';
import { inodePermission, setattrPrepare, killSuidOnChown, killSuidOnWrite, MAY_WRITE, FS_APPEND_FL, FS_IMMUTABLE_FL } from './permission.js';

function wantWrite(path: Path): void { if (path.mnt.readOnly) fail(EROFS); }

/** notify_change(): apply `attr`, with ctime moving whenever anything changes. */
export async function notifyChange(inode: Inode, attr: Iattr): Promise<void> {
  if (attr.ctime === undefined) attr.ctime = inode.sb.currentTime();
  if (inode.op.setattr) { await inode.op.setattr(inode, attr); return; }
  simpleSetattr(inode, attr);
}

/** simple_setattr for in-memory inodes without their own setattr (size handled by the caller). */
export function simpleSetattr(inode: Inode, attr: Iattr): void {
  if (attr.mode !== undefined) inode.mode = attr.mode;
  if (attr.uid !== undefined) inode.uid = attr.uid;
  if (attr.gid !== undefined) inode.gid = attr.gid;
  if (attr.atime !== undefined) inode.atime = attr.atime;
  if (attr.mtime !== undefined) inode.mtime = attr.mtime;
  if (attr.ctime !== undefined) inode.ctime = attr.ctime;
  if (attr.size !== undefined) inode.size = attr.size;
}

export async function doChmod(ctx: FsContext, path: Path, mode: number): Promise<void> {
  wantWrite(path);
  const inode = path.dentry.inode!;
  await inode.lock.writeLock();
  try {
    const attr: Iattr = { mode: (mode & S_IALLUGO) | (inode.mode & ~S_IALLUGO) };
    if (inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) fail(EPERM);
    setattrPrepare(ctx.cred, inode, attr, false);
    await notifyChange(inode, attr);
  } finally { inode.lock.writeUnlock(); }
}

/** chown_common: uid/gid of -1 (0xffffffff) leave that id unchanged. */
export async function doChown(ctx: FsContext, path: Path, uid: number, gid: number): Promise<void> {
  wantWrite(path);
  const inode = path.dentry.inode!;
  await inode.lock.writeLock();
  try {
    const attr: Iattr = {};
    if (uid !== -1 && uid !== 0xffffffff) attr.uid = uid >>> 0;
    if (gid !== -1 && gid !== 0xffffffff) attr.gid = gid >>> 0;
    if (inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) fail(EPERM);
    setattrPrepare(ctx.cred, inode, attr, false);
    if ((inode.mode & S_IFMT) !== S_IFDIR) killSuidOnChown(inode, attr);
    await notifyChange(inode, attr);
  } finally { inode.lock.writeUnlock(); }
}

/** utimensat semantics: null = both now; UTIME_NOW / UTIME_OMIT per field. */
export async function doUtimes(ctx: FsContext, path: Path, times: [Timespec, Timespec] | null): Promise<void> {
  const inode = path.dentry.inode!;
  let atime: Timespec | undefined, mtime: Timespec | undefined;
  let toNow = true;
  const now = inode.sb.currentTime();
  if (times === null) { atime = now; mtime = now; }
  else {
    for (const t of times) {
      if (t.nsec !== UTIME_NOW && t.nsec !== UTIME_OMIT && (t.nsec < 0 || t.nsec > 999_999_999)) fail(EINVAL);
    }
    const [a, m] = times;
    if (a.nsec === UTIME_OMIT && m.nsec === UTIME_OMIT) return;
    toNow = (a.nsec === UTIME_NOW || a.nsec === UTIME_OMIT) && (m.nsec === UTIME_NOW || m.nsec === UTIME_OMIT);
    if (a.nsec !== UTIME_OMIT) atime = a.nsec === UTIME_NOW ? now : truncTime(inode, a);
    if (m.nsec !== UTIME_OMIT) mtime = m.nsec === UTIME_NOW ? now : truncTime(inode, m);
  }
  wantWrite(path);
  await inode.lock.writeLock();
  try {
    const attr: Iattr = {};
    if (atime) attr.atime = atime;
    if (mtime) attr.mtime = mtime;
    setattrPrepare(ctx.cred, inode, attr, toNow);
    await notifyChange(inode, attr);
  } finally { inode.lock.writeUnlock(); }
}

function truncTime(inode: Inode, t: Timespec): Timespec {
  const g = inode.sb.timeGranularityNs;
  if (g === 1) return { sec: t.sec, nsec: t.nsec };
  if (g >= 1e9) return { sec: t.sec - (t.sec % (g / 1e9)), nsec: 0 };
  return { sec: t.sec, nsec: t.nsec - (t.nsec % g) };
}

/**
 * do_truncate for truncate(2) (file === undefined: path checks here) and ftruncate(2)/O_TRUNC
 * (file given: the caller checked the fd).
 */
export async function doTruncate(ctx: FsContext, path: Path, length: number, file?: File): Promise<void> {
  const inode = path.dentry.inode!;
  if (length < 0) fail(EINVAL);
  if (!file) {
    if (inode.isDir) fail(EISDIR);
    if ((inode.mode & S_IFMT) !== S_IFREG) fail(EINVAL);
    wantWrite(path);
    inodePermission(ctx.cred, inode, MAY_WRITE);
  }
  if (inode.flags & (FS_APPEND_FL | FS_IMMUTABLE_FL)) fail(EPERM);
  if (length > inode.sb.maxFileSize) fail(EFBIG);
  await inode.lock.writeLock();
  try {
    const attr: Iattr = { size: length };
    const now = inode.sb.currentTime();
    attr.mtime = now; attr.ctime = now;
    // Truncation by a writer also drops set-id bits (ATTR_KILL_SUID) unless CAP_FSETID.
    killSuidOnWrite(ctx.cred, inode);
    await notifyChange(inode, attr);
  } finally { inode.lock.writeUnlock(); }
}

export function checkFtruncate(file: File): void {
  if (!(file.mode & 0x2)) fail(file.mode & 0x4000 ? EBADF : EINVAL);
  if ((file.inode.mode & S_IFMT) !== S_IFREG) fail(file.inode.isDir ? EISDIR : EINVAL);
}

/** vfs_getattr */
export function vfsGetattr(path: Path): MaybePromise<Kstat> {
  const inode = path.dentry.inode!;
  // Most filesystems have no getattr (the inode is current): no promise then.
  const r = inode.op.getattr ? inode.op.getattr(inode) : undefined;
  if (isPromise(r)) return r.then(() => statOf(path, inode));
  return statOf(path, inode);
}

function statOf(path: Path, inode: Inode): Kstat {
  const st = inode.stat();
  st.mnt_id = path.mnt.id;
  return st;
}
