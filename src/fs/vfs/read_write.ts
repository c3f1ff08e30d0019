/*
 * read/write/lseek on files (fs/read_write.c) and directory iteration (fs/readdir.c).
 */
import { fail, isPromise, type MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { EBADF, EINVAL, EISDIR, ESPIPE, EFBIG, ENOTDIR, ENOENT, ENXIO, EOVERFLOW } from '../../uapi/errno.js';
import { O_APPEND, O_PATH, SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE } from '../../uapi/fcntl.js';
import { File, FMODE_READ, FMODE_WRITE, FMODE_LSEEK, FMODE_STREAM, FMODE_PATH, type DirContext } from './file.js';
import { killSuidOnWrite } from './permission.js';
import { MNT_NOATIME, MNT_NODIRATIME } from './mount.js';
import { MS_NOATIME } from '../../uapi/mount.js';

export const MAX_RW_COUNT = 0x7ffff000;

/** touch_atime with relatime: only when atime <= mtime/ctime or older than a day. */
export function touchAtime(file: File): void {
  const inode = file.inode;
  if (file.flags & 0o1000000 /* O_NOATIME */) return;
  if (file.path.mnt.flags & MNT_NOATIME || inode.sb.flags & MS_NOATIME) return;
  if (inode.isDir && file.path.mnt.flags & MNT_NODIRATIME) return;
  if (file.path.mnt.readOnly) return;
  const a = inode.atime, m = inode.mtime, c = inode.ctime;
  const now = inode.sb.currentTime();
  const le = (x: { sec: number; nsec: number }, y: { sec: number; nsec: number }) => x.sec < y.sec || (x.sec === y.sec && x.nsec <= y.nsec);
  if (le(a, m) || le(a, c) || now.sec - a.sec >= 24 * 3600) {
    inode.atime = now;
    inode.sb.op.dirtyInode?.(inode);
  }
}

/** vfs_read. `pos` undefined means "at and advancing f_pos". */
export async function vfsRead(file: File, buf: Uint8Array, pos?: number): Promise<number> {
  return vfsReadNow(file, buf, pos);
}

/**
 * vfsRead without a promise when the filesystem's read completes at once (read(2) and pread64
 * call this one): a cached read then costs no microtask round trip.
 */
export function vfsReadNow(file: File, buf: Uint8Array, pos?: number): MaybePromise<number> {
  if (!(file.mode & FMODE_READ)) fail(EBADF);
  const fop = file.fop;
  if (file.inode.isDir && !(file.mode & FMODE_STREAM)) fail(EISDIR);
  if (!fop.read) fail(EINVAL);
  if (buf.length > MAX_RW_COUNT) buf = buf.subarray(0, MAX_RW_COUNT);
  if (pos !== undefined) {
    if (file.mode & FMODE_STREAM) fail(ESPIPE);
    if (pos < 0) fail(EINVAL);
    const n = fop.read(file, buf, pos);
    const after = (v: number): number => {
      if (v > 0 || buf.length === 0) touchAtime(file);
      return v;
    };
    return isPromise(n) ? n.then(after) : after(n);
  }
  const n = fop.read(file, buf, file.pos);
  const after = (v: number): number => {
    if (!(file.mode & FMODE_STREAM)) file.pos += v;
    if (file.inode.isReg) touchAtime(file);
    return v;
  };
  return isPromise(n) ? n.then(after) : after(n);
}

/** vfs_write; O_APPEND writes at end of file even for pwrite (as Linux does). */
export async function vfsWrite(file: File, buf: Uint8Array, pos?: number): Promise<number> {
  if (!(file.mode & FMODE_WRITE)) fail(EBADF);
  const fop = file.fop;
  if (!fop.write) fail(EINVAL);
  if (buf.length > MAX_RW_COUNT) buf = buf.subarray(0, MAX_RW_COUNT);
  const inode = file.inode;
  if (file.mode & FMODE_STREAM) {
    if (pos !== undefined) fail(ESPIPE);
    return fop.write(file, buf, 0);
  }
  if (pos !== undefined && pos < 0) fail(EINVAL);
  if (!inode.isReg) {
    const at = pos ?? file.pos;
    const n = await fop.write(file, buf, at);
    if (pos === undefined) file.pos += n;
    return n;
  }
  // Regular file: serialise writers on i_rwsem so O_APPEND and extension are atomic.
  await inode.lock.writeLock();
  try {
    let at = (file.flags & O_APPEND) ? inode.size : (pos ?? file.pos);
    if (buf.length === 0) return 0;
    const max = inode.sb.maxFileSize;
    if (at >= max) fail(EFBIG);
    if (at + buf.length > max) buf = buf.subarray(0, max - at);
    killSuidOnWrite(file.cred, inode);
    const n = await fop.write(file, buf, at);
    if (pos === undefined) file.pos = at + n;
    return n;
  } finally { inode.lock.writeUnlock(); }
}

/** vfs_llseek with generic_file_llseek semantics unless the file brings its own. */
export async function vfsLlseek(file: File, offset: number, whence: number): Promise<number> {
  if (file.mode & FMODE_PATH) fail(EBADF);
  if (!(file.mode & FMODE_LSEEK) || file.mode & FMODE_STREAM) fail(ESPIPE);
  if (whence < SEEK_SET || whence > SEEK_HOLE) fail(EINVAL);
  if (file.fop.llseek) return file.fop.llseek(file, offset, whence);
  return genericFileLlseek(file, offset, whence);
}

export async function genericFileLlseek(file: File, offset: number, whence: number): Promise<number> {
  const inode = file.inode;
  let pos: number;
  switch (whence) {
    case SEEK_SET: pos = offset; break;
    case SEEK_CUR: if (offset === 0) return file.pos; pos = file.pos + offset; break;
    case SEEK_END: pos = inode.size + offset; break;
    case SEEK_DATA: case SEEK_HOLE:
      if (offset < 0 || offset >= inode.size) fail(ENXIO);
      if (file.fop.seekData) pos = await file.fop.seekData(file, offset, whence === SEEK_HOLE);
      else pos = whence === SEEK_DATA ? offset : inode.size;
      break;
    default: fail(EINVAL);
  }
  if (pos < 0) fail(EINVAL);
  if (pos > inode.sb.maxFileSize && inode.isReg) fail(EINVAL);
  if (!Number.isSafeInteger(pos)) fail(EOVERFLOW);
  if (pos !== file.pos) {
    file.pos = pos;
    if (inode.isDir) file.private_data = undefined; // restart directory cursor
  }
  return pos;
}

/** iterate_dir: run the filesystem's iterate from file.pos; returns false once the dir is gone. */
/**
 * List a directory from file.pos. `emit` also gets the position the listing has reached (the
 * offset of this entry), which getdents64 stores as the previous record's d_off, as filldir does.
 */
export async function iterateDir(file: File,
  emit: (name: ByteString, ino: number, dtype: number, pos: number) => boolean): Promise<void> {
  const inode = file.inode;
  if (file.flags & O_PATH) fail(EBADF);
  if (!inode.isDir) fail(ENOTDIR);
  if (!file.fop.iterate) fail(ENOTDIR);
  // A removed directory has no entries left to list: Linux says ENOENT (IS_DEADDIR).
  if (inode.nlink === 0) fail(ENOENT);
  await inode.lock.readLock();
  try {
    const ctx: DirContext = { pos: file.pos, emit: (name, ino, dtype) => emit(name, ino, dtype, ctx.pos) };
    await file.fop.iterate(file, ctx);
    file.pos = ctx.pos;
  } finally { inode.lock.readUnlock(); }
  touchAtime(file);
}

export function checkWritable(file: File): void { if (!(file.mode & FMODE_WRITE)) fail(EBADF); }
