/*
 * File and namespace system calls: open, read/write, stat, directories, links, attributes,
 * fd-table calls (dup, fcntl, close_range), cwd/root, mount. Thin: decode, validate, delegate to
 * the VFS, roll back on failure.
 */
import { fail, KernelError, isPromise } from '../lib/errors.js';
import type { ByteString } from '../lib/bytestr.js';
import { byteStringToBytes } from '../lib/bytestr.js';
import {
  EBADF, EINVAL, ENOTDIR, EACCES, EPERM, ERANGE, ENOENT, ENOTTY, EISDIR, EROFS, E2BIG, EFAULT,
  ESPIPE, EOPNOTSUPP, EFBIG, ENODEV,
} from '../uapi/errno.js';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH, AT_EACCESS,
  AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, O_CLOEXEC, O_CREAT, O_TMPFILE, O_PATH, O_ACCMODE,
  O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, FASYNC, O_LARGEFILE, VALID_OPEN_FLAGS,
  RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH, RESOLVE_IN_ROOT,
  RESOLVE_CACHED, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK,
  F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_GETOWN, F_SETOWN, F_GETSIG, F_SETSIG,
  F_GETPIPE_SZ, F_SETPIPE_SZ, F_GETLEASE, F_SETLEASE, F_ADD_SEALS, F_GET_SEALS, FD_CLOEXEC,
  CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE, R_OK, W_OK, X_OK, RWF_SUPPORTED, RWF_APPEND,
  RWF_NOAPPEND, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE,
  FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_NO_HIDE_STALE,
} from '../uapi/fcntl.js';
import {
  encodeStat, encodeStatx, STATX__RESERVED, new_decode_dev, S_IFMT, S_IFREG, S_IFDIR, S_IFIFO, type Kstat, type Timespec,
  UTIME_OMIT,
} from '../uapi/stat.js';
import { FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC, CAP_SYS_CHROOT, CAP_SYS_ADMIN } from '../uapi/misc.js';
import { MS_RDONLY } from '../uapi/mount.js';
import type { Task } from '../kernel/index.js';
import { FilesStruct } from '../kernel/index.js';
import {
  type File, type Path, doFilpOpen, fput, vfsRead, vfsReadNow, vfsWrite, vfsLlseek, iterateDir, vfsGetattr,
  vfsMkdir, vfsMknod, vfsUnlink, vfsRmdir, vfsRename, vfsLink, vfsSymlink, doChmod, doChown,
  doUtimes, doTruncate, checkFtruncate, pathLookup, dPath, inodePermission, permissionErrno,
  doMount, doUmount, VFS_FLAG_OPTIONS, pathLookupCached, LOOKUP_FOLLOW, LOOKUP_DIRECTORY, LOOKUP_EMPTY,
  LOOKUP_NO_SYMLINKS, LOOKUP_NO_MAGICLINKS, LOOKUP_NO_XDEV, LOOKUP_BENEATH, LOOKUP_IN_ROOT,
  MAY_EXEC, MAY_WRITE, MAY_READ, FMODE_WRITE, FMODE_READ, FMODE_PATH, FS_APPEND_FL,
} from '../fs/vfs/index.js';
import { getPath, userBuf, putStruct, isNull, toInt, toInt32, toUint32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';
import { dirfdPath, userPathAt, installFd, fdFile } from './common.js';
import { hooks } from './hooks.js';

// ---- open / close ----------------------------------------------------------------------------

function doOpen(t: Task, dfd: unknown, pathArg: unknown, flags: number, mode: number, resolve = 0): number | Promise<number> {
  const path = getPath(pathArg);
  if (!(flags & O_PATH)) flags |= O_LARGEFILE; // force_o_largefile(): 64-bit kernel
  if (!(flags & (O_CREAT | O_TMPFILE))) mode = 0;
  const start = dirfdPath(t, dfd, path);
  const file = doFilpOpen(t.fsContext(), start, path, { flags, mode, resolve });
  return isPromise(file) ? file.then((f) => install(t, f, flags)) : install(t, file, flags);
}

function install(t: Task, file: File, flags: number): number | Promise<number> {
  try { return installFd(t, file, flags); } catch (e) {
    const r = fput(file);
    if (isPromise(r)) return r.then(() => { throw e; });
    throw e;
  }
}

function sysOpenat(t: Task, dfd: unknown, path: unknown, flags: unknown, mode: unknown): number | Promise<number> {
  // openat ignores unknown flags (historical); O_TMPFILE without O_DIRECTORY bits is EINVAL in do_filp_open.
  return doOpen(t, dfd, path, toInt32(flags) & VALID_OPEN_FLAGS, toUint32(mode) & 0o7777);
}

/** struct open_how: u64 flags, u64 mode, u64 resolve (24 bytes), or an object. */
async function sysOpenat2(t: Task, dfd: unknown, path: unknown, how: unknown, size: unknown): Promise<number> {
  let flags: number, mode: number, resolve: number;
  if (how instanceof Uint8Array) {
    const sz = toInt(size);
    if (sz < 24) fail(EINVAL);
    if (sz > 4096) fail(E2BIG);
    const v = new DataView(how.buffer, how.byteOffset, how.byteLength);
    for (let i = 24; i < Math.min(sz, how.length); i++) if (how[i] !== 0) fail(E2BIG);
    flags = Number(v.getBigUint64(0, true)); mode = Number(v.getBigUint64(8, true)); resolve = Number(v.getBigUint64(16, true));
  } else if (typeof how === 'object' && how !== null) {
    const h = how as { flags?: number; mode?: number; resolve?: number };
    flags = h.flags ?? 0; mode = h.mode ?? 0; resolve = h.resolve ?? 0;
  } else fail(EFAULT);
  if (flags & ~VALID_OPEN_FLAGS) fail(EINVAL);
  if (resolve & ~(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED)) fail(EINVAL);
  if ((resolve & RESOLVE_BENEATH) && (resolve & RESOLVE_IN_ROOT)) fail(EINVAL);
  if (!(flags & (O_CREAT | (O_TMPFILE & ~0o200000))) && mode !== 0) fail(EINVAL);
  if (mode & ~0o7777) fail(EINVAL);
  let lf = 0;
  if (resolve & RESOLVE_NO_XDEV) lf |= LOOKUP_NO_XDEV;
  if (resolve & RESOLVE_NO_MAGICLINKS) lf |= LOOKUP_NO_MAGICLINKS;
  if (resolve & RESOLVE_NO_SYMLINKS) lf |= LOOKUP_NO_SYMLINKS;
  if (resolve & RESOLVE_BENEATH) lf |= LOOKUP_BENEATH;
  if (resolve & RESOLVE_IN_ROOT) lf |= LOOKUP_IN_ROOT;
  return doOpen(t, dfd, path, flags, mode, lf);
}

/** close(2): the fd goes away even when flush reports an error. */
export function closeFd(t: Task, fd: number): number | Promise<number> {
  const file = t.files.remove(fd);
  hooks.onClose?.(t, file);
  // Without a flush and with nothing to wait for in fput, close costs no promise.
  if (!file.fop.flush) {
    const r = fput(file);
    return isPromise(r) ? r.then(() => 0) : 0;
  }
  return closeFlush(file);
}

async function closeFlush(file: File): Promise<number> {
  let err = 0;
  try { await file.fop.flush!(file); } catch (e) { if (e instanceof KernelError) err = e.errno; else throw e; }
  await fput(file);
  if (err) fail(err);
  return 0;
}

async function sysCloseRange(t: Task, first: unknown, last: unknown, flags: unknown): Promise<number> {
  const lo = toUint32(first), hi = toUint32(last), fl = toUint32(flags);
  if (fl & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) fail(EINVAL);
  if (lo > hi) fail(EINVAL);
  if (fl & CLOSE_RANGE_UNSHARE && t.files.users > 1) {
    const copy = t.files.copy();
    t.files.users--; t.files = copy;
  }
  for (const [fd] of [...t.files.entries()]) {
    if (fd < lo || fd > hi) continue;
    if (fl & CLOSE_RANGE_CLOEXEC) t.files.setCloexec(fd, true);
    else { try { await closeFd(t, fd); } catch { /* close_range ignores each close's error */ } }
  }
  return 0;
}

// ---- read / write ----------------------------------------------------------------------------

function iovecs(iov: unknown, cnt: unknown): Uint8Array[] {
  const n = toInt32(cnt);
  if (n < 0 || n > 1024) fail(EINVAL);
  if (!Array.isArray(iov)) fail(EFAULT);
  const out: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const b = iov[i];
    if (!(b instanceof Uint8Array)) fail(EFAULT);
    total += b.length;
    if (total > 0x7ffff000) fail(EINVAL);
    out.push(b);
  }
  return out;
}

async function readv(file: File, bufs: Uint8Array[], pos?: number): Promise<number> {
  let done = 0;
  for (const b of bufs) {
    if (b.length === 0) continue;
    const n = await vfsRead(file, b, pos === undefined ? undefined : pos + done);
    done += n;
    if (n < b.length) break;
  }
  return done;
}
async function writev(file: File, bufs: Uint8Array[], pos?: number): Promise<number> {
  let done = 0;
  for (const b of bufs) {
    if (b.length === 0) continue;
    let n: number;
    try { n = await vfsWrite(file, b, pos === undefined ? undefined : pos + done); }
    catch (e) { if (done > 0) return done; throw e; }
    done += n;
    if (n < b.length) break;
  }
  return done;
}

function posArg(p: unknown): number {
  const n = toInt(p);
  if (n < 0) fail(EINVAL);
  return n;
}

function rwfCheck(file: File, flags: unknown): number {
  const f = toInt32(flags);
  if (f & ~RWF_SUPPORTED) fail(EOPNOTSUPP);
  if ((f & RWF_APPEND) && (f & RWF_NOAPPEND)) fail(EINVAL);
  void file;
  return f;
}

// ---- stat ------------------------------------------------------------------------------------

async function statAt(t: Task, dfd: unknown, path: unknown, flags: number): Promise<Kstat> {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE)) fail(EINVAL);
  let lf = flags & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW;
  if (flags & AT_EMPTY_PATH) lf |= LOOKUP_EMPTY;
  const p = await userPathAt(t, dfd, path, lf);
  return vfsGetattr(p);
}

/** newfstatat: a cached path is answered without awaiting; anything else takes the full walk. */
function sysNewfstatat(t: Task, dfd: unknown, path: unknown, out: unknown, flags: unknown): number | Promise<number> {
  const f = toInt32(flags);
  if (!(f & ~AT_SYMLINK_NOFOLLOW)) {
    const p = getPath(path);
    const fast = p.length ? pathLookupCached(t.fsContext(), dirfdPath(t, dfd, p), p, f & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW) : undefined;
    if (fast && !fast.dentry.inode!.op.getattr) {
      const st = fast.dentry.inode!.stat();
      st.mnt_id = fast.mnt.id;
      putStat(out, st);
      return 0;
    }
  }
  return statAt(t, dfd, path, f).then((st) => { putStat(out, st); return 0; });
}

function putStat(out: unknown, st: Kstat): void {
  if (out instanceof Uint8Array) { encodeStat(st, out); return; }
  if (typeof out !== 'object' || out === null) fail(EFAULT);
  // Field by field: several times cheaper than Object.assign on this hot path.
  const o = out as Kstat;
  o.dev = st.dev; o.ino = st.ino; o.mode = st.mode; o.nlink = st.nlink; o.uid = st.uid; o.gid = st.gid;
  o.rdev = st.rdev; o.size = st.size; o.blksize = st.blksize; o.blocks = st.blocks;
  o.atime = st.atime; o.mtime = st.mtime; o.ctime = st.ctime;
  if (st.btime) o.btime = st.btime;
  if (st.mnt_id !== undefined) o.mnt_id = st.mnt_id;
}

// ---- directories -----------------------------------------------------------------------------

function putU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, n >>> 0, true);
  v.setUint32(off + 4, Math.floor(n / 0x100000000) >>> 0, true);
}

/** getdents64: struct linux_dirent64 records, 8-byte aligned. */
async function sysGetdents64(t: Task, fd: unknown, bufArg: unknown, count: unknown): Promise<number> {
  const file = fdFile(t, fd);
  const buf = userBuf(bufArg, toUint32(count));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  let prev = -1;
  let tooSmall = false;
  await iterateDir(file, (name: ByteString, ino: number, dtype: number, pos: number) => {
    const reclen = (19 + name.length + 1 + 7) & ~7;
    if (off + reclen > buf.length) { if (off === 0) tooSmall = true; return false; }
    // d_off of a record: where the listing resumes after it, i.e. this entry's position.
    // 64-bit fields as two 32-bit halves: no BigInt per entry (positions and inode numbers are
    // non-negative and below 2^53).
    if (prev >= 0) putU64(v, prev + 8, pos);
    putU64(v, off, ino);
    v.setUint32(off + 8, 0, true); v.setUint32(off + 12, 0, true);
    v.setUint16(off + 16, reclen, true);
    v.setUint8(off + 18, dtype);
    for (let i = 0; i < name.length; i++) buf[off + 19 + i] = name.charCodeAt(i);
    buf.fill(0, off + 19 + name.length, off + reclen);
    prev = off;
    off += reclen;
    return true;
  }).then(() => { if (prev >= 0) v.setBigInt64(prev + 8, BigInt(file.pos), true); });
  if (tooSmall) fail(EINVAL);
  return off;
}

// ---- namespace -------------------------------------------------------------------------------

async function sysMkdirat(t: Task, dfd: unknown, path: unknown, mode: unknown): Promise<number> {
  const p = getPath(path);
  await vfsMkdir(t.fsContext(), dirfdPath(t, dfd, p), p, toUint32(mode));
  return 0;
}
async function sysMknodat(t: Task, dfd: unknown, path: unknown, mode: unknown, dev: unknown): Promise<number> {
  const p = getPath(path);
  await vfsMknod(t.fsContext(), dirfdPath(t, dfd, p), p, toUint32(mode), new_decode_dev(toUint32(dev)));
  return 0;
}
async function sysUnlinkat(t: Task, dfd: unknown, path: unknown, flags: unknown): Promise<number> {
  const f = toInt32(flags);
  if (f & ~AT_REMOVEDIR) fail(EINVAL);
  const p = getPath(path);
  const start = dirfdPath(t, dfd, p);
  if (f & AT_REMOVEDIR) await vfsRmdir(t.fsContext(), start, p);
  else await vfsUnlink(t.fsContext(), start, p);
  return 0;
}
async function sysRenameat2(t: Task, odfd: unknown, oldp: unknown, ndfd: unknown, newp: unknown, flags: unknown): Promise<number> {
  const o = getPath(oldp), n = getPath(newp);
  await vfsRename(t.fsContext(), dirfdPath(t, odfd, o), o, dirfdPath(t, ndfd, n), n, toUint32(flags));
  return 0;
}
async function sysLinkat(t: Task, odfd: unknown, oldp: unknown, ndfd: unknown, newp: unknown, flags: unknown): Promise<number> {
  const f = toInt32(flags);
  if (f & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) fail(EINVAL);
  let lf = f & AT_SYMLINK_FOLLOW ? LOOKUP_FOLLOW : 0;
  if (f & AT_EMPTY_PATH) {
    if (!t.cred.capable(CAP_SYS_ADMIN)) fail(ENOENT);
    lf |= LOOKUP_EMPTY;
  }
  const old = await userPathAt(t, odfd, oldp, lf);
  const n = getPath(newp);
  await vfsLink(t.fsContext(), old, dirfdPath(t, ndfd, n), n);
  return 0;
}
async function sysSymlinkat(t: Task, target: unknown, ndfd: unknown, newp: unknown): Promise<number> {
  const tg = getPath(target), n = getPath(newp);
  await vfsSymlink(t.fsContext(), tg, dirfdPath(t, ndfd, n), n);
  return 0;
}
async function sysReadlinkat(t: Task, dfd: unknown, path: unknown, bufArg: unknown, size: unknown): Promise<number> {
  const sz = toInt32(size);
  if (sz <= 0) fail(EINVAL);
  const p = await userPathAt(t, dfd, path, LOOKUP_EMPTY);
  const inode = p.dentry.inode!;
  // An empty path names the fd's object itself: not a link there is ENOENT, elsewhere EINVAL.
  if (!inode.isLnk || !inode.op.readlink) fail(getPath(path).length === 0 ? ENOENT : EINVAL);
  inode.sb.vfs.caller = t;
  const target = await inode.op.readlink(inode);
  const buf = userBuf(bufArg, sz);
  const n = Math.min(target.length, buf.length);
  for (let i = 0; i < n; i++) buf[i] = target.charCodeAt(i);
  return n;
}

// ---- attributes ------------------------------------------------------------------------------

function readTimespecs(arg: unknown): [Timespec, Timespec] | null {
  if (isNull(arg)) return null;
  if (arg instanceof Uint8Array) {
    if (arg.length < 32) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, 32);
    return [
      { sec: Number(v.getBigInt64(0, true)), nsec: Number(v.getBigInt64(8, true)) },
      { sec: Number(v.getBigInt64(16, true)), nsec: Number(v.getBigInt64(24, true)) },
    ];
  }
  if (Array.isArray(arg) && arg.length === 2) {
    const [a, m] = arg as { sec: number; nsec: number }[];
    return [{ sec: a!.sec, nsec: a!.nsec }, { sec: m!.sec, nsec: m!.nsec }];
  }
  fail(EFAULT);
}

async function sysUtimensat(t: Task, dfd: unknown, path: unknown, times: unknown, flags: unknown): Promise<number> {
  const ts = readTimespecs(times);
  // Both UTIME_OMIT: nothing to do, and Linux does not even look at the path or the flags.
  if (ts && ts[0].nsec === UTIME_OMIT && ts[1].nsec === UTIME_OMIT) return 0;
  const f = toInt32(flags);
  if (f & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) fail(EINVAL);
  let p: Path;
  if (isNull(path)) {
    // utimensat(fd, NULL, ...) operates on the fd itself (futimens).
    if (f & AT_SYMLINK_NOFOLLOW) fail(EINVAL);
    const fd = toInt32(dfd);
    if (fd === AT_FDCWD) fail(EFAULT);
    p = fileForAttr(t, fd).path;
  } else {
    let lf = f & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW;
    if (f & AT_EMPTY_PATH) lf |= LOOKUP_EMPTY;
    p = await userPathAt(t, dfd, path, lf);
  }
  await doUtimes(t.fsContext(), p, ts);
  return 0;
}

async function sysFchmodat(t: Task, dfd: unknown, path: unknown, mode: unknown, flags?: unknown): Promise<number> {
  const f = toInt32(flags ?? 0);
  if (f & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) fail(EINVAL);
  let lf = f & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW;
  if (f & AT_EMPTY_PATH) lf |= LOOKUP_EMPTY;
  const p = await userPathAt(t, dfd, path, lf);
  if ((f & AT_SYMLINK_NOFOLLOW) && p.dentry.inode!.isLnk) fail(EOPNOTSUPP);
  await doChmod(t.fsContext(), p, toUint32(mode));
  return 0;
}
async function sysFchownat(t: Task, dfd: unknown, path: unknown, uid: unknown, gid: unknown, flags: unknown): Promise<number> {
  const f = toInt32(flags);
  if (f & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) fail(EINVAL);
  let lf = f & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW;
  if (f & AT_EMPTY_PATH) lf |= LOOKUP_EMPTY;
  const p = await userPathAt(t, dfd, path, lf);
  await doChown(t.fsContext(), p, toInt32(uid), toInt32(gid));
  return 0;
}
function fileForAttr(t: Task, fd: unknown): File {
  const f = fdFile(t, fd);
  if (f.mode & FMODE_PATH) fail(EBADF);
  return f;
}

async function sysFallocate(t: Task, fd: unknown, mode: unknown, offset: unknown, len: unknown): Promise<number> {
  const file = fdFile(t, fd);
  const m = toInt32(mode), off = toInt(offset), l = toInt(len);
  if (off < 0 || l <= 0) fail(EINVAL);
  const known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
    FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_NO_HIDE_STALE;
  if (m & ~known) fail(EOPNOTSUPP);
  if ((m & FALLOC_FL_PUNCH_HOLE) && !(m & FALLOC_FL_KEEP_SIZE)) fail(EOPNOTSUPP);
  if ((m & FALLOC_FL_PUNCH_HOLE) && (m & FALLOC_FL_ZERO_RANGE)) fail(EOPNOTSUPP);
  if (!(file.mode & FMODE_WRITE)) fail(EBADF);
  const inode = file.inode;
  if (inode.isDir) fail(EISDIR);
  if ((inode.mode & S_IFMT) === S_IFIFO) fail(ESPIPE);
  if ((inode.mode & S_IFMT) !== S_IFREG) fail(ENODEV);
  if (file.path.mnt.readOnly) fail(EROFS);
  if ((m & ~FALLOC_FL_KEEP_SIZE) && (inode.flags & FS_APPEND_FL)) fail(EPERM);
  if (off + l > inode.sb.maxFileSize || off + l < 0) fail(EFBIG);
  if (!file.fop.fallocate) fail(EOPNOTSUPP);
  await inode.lock.writeLock();
  try { await file.fop.fallocate(file, m, off, l); } finally { inode.lock.writeUnlock(); }
  return 0;
}

/** faccessat: checks with the real uid/gid (unless AT_EACCESS), as access(2) does. */
async function doFaccessat(t: Task, dfd: unknown, path: unknown, mode: unknown, flags: unknown): Promise<number> {
  const m = toInt32(mode), f = toInt32(flags);
  if (m & ~(R_OK | W_OK | X_OK)) fail(EINVAL);
  if (f & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) fail(EINVAL);
  let cred = t.cred;
  if (!(f & AT_EACCESS)) {
    cred = t.cred.clone();
    cred.fsuid = cred.uid; cred.fsgid = cred.gid;
    // Non-root real uid: no capabilities; root real uid: the permitted set.
    cred.capEffective = cred.uid !== 0 ? 0n : cred.capPermitted;
  }
  const ctx = { ...t.fsContext(), cred };
  let lf = f & AT_SYMLINK_NOFOLLOW ? 0 : LOOKUP_FOLLOW;
  if (f & AT_EMPTY_PATH) lf |= LOOKUP_EMPTY;
  const p = getPath(path);
  const target = p.length === 0 && (f & AT_EMPTY_PATH) ? await userPathAt(t, dfd, path, lf)
    : await pathLookup(ctx, dirfdPath(t, dfd, p), p, lf);
  if (m === 0) return 0;
  const inode = target.dentry.inode!;
  let mask = 0;
  if (m & R_OK) mask |= MAY_READ;
  if (m & W_OK) mask |= MAY_WRITE;
  if (m & X_OK) mask |= MAY_EXEC;
  if ((mask & MAY_WRITE) && target.mnt.readOnly) {
    const ty = inode.mode & S_IFMT;
    if (ty === S_IFREG || ty === S_IFDIR || ty === 0o120000) fail(EROFS);
  }
  const e = permissionErrno(cred, inode, mask);
  if (e) fail(e);
  return 0;
}

// ---- fd table --------------------------------------------------------------------------------

function dupTo(t: Task, file: File, min: number, cloexec: boolean): number {
  file.refs++;
  try { return t.files.install(file, cloexec, t.nofile, min); } catch (e) { file.refs--; throw e; }
}

async function sysDup3(t: Task, oldfd: unknown, newfd: unknown, flags: unknown): Promise<number> {
  const o = toInt32(oldfd), n = toInt32(newfd), f = toInt32(flags);
  if (f & ~O_CLOEXEC) fail(EINVAL);
  if (o === n) fail(EINVAL);
  if (n < 0 || n >= t.nofile) fail(EBADF);
  const file = t.files.get(o);
  file.refs++;
  const old = t.files.replace(n, file, (f & O_CLOEXEC) !== 0);
  if (old) { hooks.onClose?.(t, old); await fput(old); }
  return n;
}

async function sysFcntl(t: Task, fdArg: unknown, cmdArg: unknown, arg: unknown): Promise<number> {
  const fd = toInt32(fdArg), cmd = toInt32(cmdArg);
  const file = t.files.get(fd);
  const pathOnly = (file.mode & FMODE_PATH) !== 0;
  switch (cmd) {
    case F_DUPFD: case F_DUPFD_CLOEXEC: {
      const min = toInt(arg);
      if (min < 0 || min >= t.nofile) fail(EINVAL);
      return dupTo(t, file, min, cmd === F_DUPFD_CLOEXEC);
    }
    case F_GETFD: return t.files.isCloexec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD: t.files.setCloexec(fd, (toInt(arg) & FD_CLOEXEC) !== 0); return 0;
    case F_GETFL: return file.flags;
    case F_SETFL: {
      if (pathOnly) fail(EBADF);
      const SETFL_MASK = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | FASYNC;
      const nf = toInt(arg);
      if (!(nf & O_APPEND) && (file.inode.flags & FS_APPEND_FL)) fail(EPERM);
      if ((nf & O_NOATIME) && !(file.flags & O_NOATIME) && file.cred.fsuid !== file.inode.uid && !t.cred.capable(3)) fail(EPERM);
      file.flags = (file.flags & ~SETFL_MASK) | (nf & SETFL_MASK);
      return 0;
    }
    case F_GETLK: case F_SETLK: case F_SETLKW: case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
      if (pathOnly) fail(EBADF);
      if (!hooks.fcntlLock) fail(EINVAL);
      return hooks.fcntlLock(t, fd, cmd, arg);
    case F_GETPIPE_SZ: case F_SETPIPE_SZ:
      if (!hooks.pipeFcntl) fail(EBADF);
      return hooks.pipeFcntl(file, cmd, toInt(arg), t.cred);
    case F_GETOWN: case F_GETSIG: case F_GETLEASE: return cmd === F_GETLEASE ? 2 /* F_UNLCK */ : 0;
    case F_SETOWN: case F_SETSIG: return 0;
    case F_SETLEASE: fail(EINVAL);
    case F_ADD_SEALS: case F_GET_SEALS: fail(EINVAL);
    default: fail(EINVAL);
  }
}

async function sysIoctl(t: Task, fdArg: unknown, cmdArg: unknown, arg: unknown): Promise<number> {
  const fd = toInt32(fdArg), cmd = toUint32(cmdArg);
  const file = t.files.get(fd);
  if (file.mode & FMODE_PATH) fail(EBADF);
  const readInt = (): number => {
    if (arg instanceof Uint8Array) return new DataView(arg.buffer, arg.byteOffset, 4).getInt32(0, true);
    if (typeof arg === 'object' && arg !== null && 'value' in arg) return Number((arg as { value: number }).value);
    if (typeof arg === 'number') return arg;
    fail(EFAULT);
  };
  const writeInt = (v: number): void => {
    if (arg instanceof Uint8Array) { new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true); return; }
    if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return; }
    fail(EFAULT);
  };
  switch (cmd) {
    case FIOCLEX: t.files.setCloexec(fd, true); return 0;
    case FIONCLEX: t.files.setCloexec(fd, false); return 0;
    case FIONBIO: {
      if (readInt()) file.flags |= O_NONBLOCK; else file.flags &= ~O_NONBLOCK;
      return 0;
    }
    case FIOASYNC: { if (readInt()) file.flags |= FASYNC; else file.flags &= ~FASYNC; return 0; }
    case FIONREAD:
      if (file.inode.isReg) { writeInt(Math.max(0, file.inode.size - file.pos)); return 0; }
      break;
  }
  if (file.fop.ioctl) return file.fop.ioctl(file, cmd, arg);
  fail(ENOTTY);
}

// ---- cwd, root, mount ------------------------------------------------------------------------

async function sysChdir(t: Task, path: unknown): Promise<number> {
  const p = await userPathAt(t, AT_FDCWD, path, LOOKUP_FOLLOW | LOOKUP_DIRECTORY);
  inodePermission(t.cred, p.dentry.inode!, MAY_EXEC);
  t.fs.setPwd(p);
  return 0;
}
async function sysFchdir(t: Task, fd: unknown): Promise<number> {
  const f = fdFile(t, fd);
  if (!f.inode.isDir) fail(ENOTDIR);
  inodePermission(t.cred, f.inode, MAY_EXEC);
  t.fs.setPwd(f.path);
  return 0;
}
async function sysChroot(t: Task, path: unknown): Promise<number> {
  const p = await userPathAt(t, AT_FDCWD, path, LOOKUP_FOLLOW | LOOKUP_DIRECTORY);
  inodePermission(t.cred, p.dentry.inode!, MAY_EXEC);
  if (!t.cred.capable(CAP_SYS_CHROOT)) fail(EPERM);
  t.fs.setRoot(p);
  return 0;
}
async function sysGetcwd(t: Task, bufArg: unknown, size: unknown): Promise<number> {
  const pwd = t.fs.pwd;
  if (pwd.dentry.deleted) fail(ENOENT);
  const s = dPath(pwd, t.fs.root);
  const sz = toUint32(size);
  if (s.length + 1 > sz) fail(ERANGE);
  const buf = userBuf(bufArg, sz);
  if (buf.length < s.length + 1) fail(ERANGE);
  buf.set(byteStringToBytes(s));
  buf[s.length] = 0;
  return s.length + 1;
}

/** mount(2): data is a string (or bytes); VFS flag words inside data are honoured as mount(8) would not — Linux does not parse them, so neither do we. */
async function sysMount(t: Task, source: unknown, target: unknown, fstype: unknown, flags: unknown, data: unknown): Promise<number> {
  if (!t.cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  const tgt = await userPathAt(t, AT_FDCWD, target, LOOKUP_FOLLOW);
  const src = isNull(source) ? 'none' : getPath(source);
  const type = isNull(fstype) ? null : getPath(fstype);
  const d = isNull(data) ? '' : typeof data === 'string' ? data : getPath(data);
  const ctx = t.fsContext();
  await doMount(t.kernel.vfs, t.cred, {
    source: src, target: tgt, fstype: type, flags: toUint32(flags), data: d,
    resolvePath: (s) => pathLookup(ctx, dirfdPath(t, AT_FDCWD, s), s, LOOKUP_FOLLOW),
    resolveBdev: hooks.resolveBdev ? (s) => hooks.resolveBdev!(t, s) : undefined,
  });
  return 0;
}
async function sysUmount2(t: Task, target: unknown, flags: unknown): Promise<number> {
  const f = toInt32(flags);
  if (!t.cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  const p = await userPathAt(t, AT_FDCWD, target, f & 8 /* UMOUNT_NOFOLLOW */ ? 0 : LOOKUP_FOLLOW);
  await doUmount(t.kernel.vfs, t.cred, p, f);
  return 0;
}

async function syncAll(t: Task): Promise<void> {
  const seen = new Set<unknown>();
  for (const m of t.kernel.vfs.mounts) {
    if (seen.has(m.sb)) continue;
    seen.add(m.sb);
    if (m.sb.op.syncFs && !(m.sb.flags & MS_RDONLY)) await m.sb.op.syncFs(m.sb, true);
  }
}

async function doFsync(t: Task, fd: unknown, datasync: boolean): Promise<number> {
  const f = fdFile(t, fd);
  if (f.mode & FMODE_PATH) fail(EBADF);
  if (!f.fop.fsync) fail(EINVAL);
  await f.fop.fsync(f, datasync);
  return 0;
}

export const fsSyscalls: SyscallDef[] = [
  { name: 'openat', handler: sysOpenat },
  { name: 'openat2', handler: sysOpenat2 },
  { name: 'close', handler: (t, fd) => closeFd(t, toInt32(fd)) },
  { name: 'close_range', handler: sysCloseRange },
  { name: 'read', handler: (t, fd, buf, count) => vfsReadNow(fdFile(t, fd), userBuf(buf, toUint32(count))) },
  { name: 'write', handler: (t, fd, buf, count) => vfsWrite(fdFile(t, fd), userBuf(buf, toUint32(count))) },
  { name: 'pread64', handler: (t, fd, buf, count, pos) => vfsReadNow(fdFile(t, fd), userBuf(buf, toUint32(count)), posArg(pos)) },
  { name: 'pwrite64', handler: (t, fd, buf, count, pos) => vfsWrite(fdFile(t, fd), userBuf(buf, toUint32(count)), posArg(pos)) },
  { name: 'readv', handler: (t, fd, iov, cnt) => readv(fdFile(t, fd), iovecs(iov, cnt)) },
  { name: 'writev', handler: (t, fd, iov, cnt) => writev(fdFile(t, fd), iovecs(iov, cnt)) },
  { name: 'preadv', handler: (t, fd, iov, cnt, pos) => readv(fdFile(t, fd), iovecs(iov, cnt), posArg(pos)) },
  { name: 'pwritev', handler: (t, fd, iov, cnt, pos) => writev(fdFile(t, fd), iovecs(iov, cnt), posArg(pos)) },
  {
    name: 'preadv2', note: 'RWF_HIPRI/NOWAIT accepted and ignored',
    handler: (t, fd, iov, cnt, pos, flags) => {
      const f = fdFile(t, fd); rwfCheck(f, flags);
      const p = toInt(pos);
      return readv(f, iovecs(iov, cnt), p === -1 ? undefined : posArg(p));
    },
  },
  {
    name: 'pwritev2', note: 'RWF_APPEND honoured; RWF_HIPRI/NOWAIT/DSYNC/SYNC accepted',
    handler: async (t, fd, iov, cnt, pos, flags) => {
      const f = fdFile(t, fd); const fl = rwfCheck(f, flags);
      const p = toInt(pos);
      const bufs = iovecs(iov, cnt);
      if (fl & RWF_APPEND) {
        const saved = f.flags; f.flags |= O_APPEND;
        try { return await writev(f, bufs, p === -1 ? undefined : posArg(p)); } finally { f.flags = saved; }
      }
      if (fl & RWF_NOAPPEND) {
        const saved = f.flags; f.flags &= ~O_APPEND;
        try { return await writev(f, bufs, p === -1 ? undefined : posArg(p)); } finally { f.flags = saved; }
      }
      return writev(f, bufs, p === -1 ? undefined : posArg(p));
    },
  },
  { name: 'lseek', handler: (t, fd, off, whence) => vfsLlseek(fdFile(t, fd), toInt(off), toUint32(whence)) },
  {
    name: 'fstat',
    handler: (t, fd, out) => {
      const st = vfsGetattr(fdFile(t, fd).path);
      if (isPromise(st)) return st.then((v) => { putStat(out, v); return 0; });
      putStat(out, st);
      return 0;
    },
  },
  { name: 'newfstatat', handler: sysNewfstatat },
  {
    name: 'statx', note: 'STATX_BTIME where the filesystem records it; no STATX_DIOALIGN',
    handler: async (t, dfd, path, flags, mask, out) => {
      const f = toInt32(flags), m = toUint32(mask);
      if (m & STATX__RESERVED) fail(EINVAL);
      if ((f & AT_STATX_SYNC_TYPE) === AT_STATX_SYNC_TYPE) fail(EINVAL);
      const st = await statAt(t, dfd, path, f);
      putStruct(out, st, (s, o) => encodeStatx(s, m, o));
      return 0;
    },
  },
  { name: 'getdents64', handler: sysGetdents64 },
  { name: 'mkdirat', handler: sysMkdirat },
  { name: 'mknodat', handler: sysMknodat },
  { name: 'unlinkat', handler: sysUnlinkat },
  { name: 'renameat', handler: (t, od, o, nd, n) => sysRenameat2(t, od, o, nd, n, 0) },
  { name: 'renameat2', handler: sysRenameat2 },
  { name: 'linkat', handler: sysLinkat },
  { name: 'symlinkat', handler: sysSymlinkat },
  { name: 'readlinkat', handler: sysReadlinkat },
  { name: 'fchmod', handler: async (t, fd, mode) => { await doChmod(t.fsContext(), fileForAttr(t, fd).path, toUint32(mode)); return 0; } },
  { name: 'fchmodat', handler: (t, dfd, path, mode) => sysFchmodat(t, dfd, path, mode, 0) },
  { name: 'fchmodat2', handler: sysFchmodat },
  { name: 'fchown', handler: async (t, fd, uid, gid) => { await doChown(t.fsContext(), fileForAttr(t, fd).path, toInt32(uid), toInt32(gid)); return 0; } },
  { name: 'fchownat', handler: sysFchownat },
  { name: 'utimensat', handler: sysUtimensat },
  {
    name: 'truncate',
    handler: async (t, path, len) => { await doTruncate(t.fsContext(), await userPathAt(t, AT_FDCWD, path, LOOKUP_FOLLOW), toInt(len)); return 0; },
  },
  {
    name: 'ftruncate',
    handler: async (t, fd, len) => {
      const f = fdFile(t, fd); const l = toInt(len);
      if (l < 0) fail(EINVAL);
      checkFtruncate(f);
      await doTruncate(t.fsContext(), f.path, l, f);
      return 0;
    },
  },
  { name: 'fallocate', handler: sysFallocate },
  { name: 'fsync', handler: (t, fd) => doFsync(t, fd, false) },
  { name: 'fdatasync', handler: (t, fd) => doFsync(t, fd, true) },
  { name: 'sync', handler: async (t) => { await syncAll(t); return 0; } },
  {
    name: 'syncfs',
    handler: async (t, fd) => {
      const sb = fdFile(t, fd).inode.sb;
      if (sb.op.syncFs && !sb.readOnly) await sb.op.syncFs(sb, true);
      return 0;
    },
  },
  { name: 'sync_file_range', handler: (t, fd) => { fdFile(t, fd); return 0; }, support: 'partial', note: 'writeback is synchronous here' },
  { name: 'faccessat', handler: (t, dfd, path, mode) => doFaccessat(t, dfd, path, mode, 0) },
  { name: 'faccessat2', handler: doFaccessat },
  { name: 'dup', handler: (t, fd) => dupTo(t, t.files.get(toInt32(fd)), 0, false) },
  { name: 'dup3', handler: sysDup3 },
  { name: 'fcntl', handler: sysFcntl },
  { name: 'ioctl', handler: sysIoctl, support: 'partial', note: 'FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC and per-device commands' },
  { name: 'chdir', handler: sysChdir },
  { name: 'fchdir', handler: sysFchdir },
  { name: 'chroot', handler: sysChroot },
  { name: 'getcwd', handler: sysGetcwd },
  { name: 'mount', handler: sysMount, support: 'partial', note: 'no propagation (shared/slave accepted as private)' },
  { name: 'umount2', handler: sysUmount2 },
];
