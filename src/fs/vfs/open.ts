/*
 * open(2) (do_filp_open, may_open, do_open) and the file reference rules.
 */
import { fail, isPromise, type MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import {
  EEXIST, EISDIR, ELOOP, ENOTDIR, ENXIO, EROFS, EACCES, EPERM, ENOENT, EINVAL, EOPNOTSUPP,
} from '../../uapi/errno.js';
import {
  O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW, O_PATH, O_APPEND, O_NOATIME,
  O_TMPFILE, O_WRONLY, O_RDWR, O_CLOEXEC, O_RDONLY, __O_TMPFILE,
} from '../../uapi/fcntl.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } from '../../uapi/stat.js';
import { Dentry } from './dentry.js';
import { File, FMODE_PATH, type FileOperations } from './file.js';
import type { Inode } from './inode.js';
import { type Path, followMounts } from './mount.js';
import {
  pathLookup, pathLookupCached, pathLookupMaybe, pathParent, lookupChild, LOOKUP_FOLLOW, LOOKUP_DIRECTORY, LAST_NORM, MAXSYMLINKS,
} from './namei.js';
import { inodePermission, ownerOrCapable, MAY_READ, MAY_WRITE, MAY_EXEC, FS_APPEND_FL } from './permission.js';
import { type FsContext, initOwner, dAdd, maybeEvict } from './namei_ops.js';
import { doTruncate } from './attr.js';
import { locksRemoveFile } from './locks.js';
import { MNT_NODEV } from './mount.js';

/** Operations of a path-only (O_PATH) file: nothing but fstat, fchdir, *at. */
const pathFop: FileOperations = {};

export interface OpenHow { flags: number; mode: number; resolve: number }

function accMask(flags: number): number {
  const acc = flags & O_ACCMODE;
  let m = 0;
  if (acc === O_RDONLY || acc === O_RDWR) m |= MAY_READ;
  if (acc === O_WRONLY || acc === O_RDWR) m |= MAY_WRITE;
  if (flags & O_TRUNC) m |= MAY_WRITE;
  return m;
}

/** may_open(): type- and mount-dependent checks before the permission bits. */
function mayOpen(ctx: FsContext, path: Path, flags: number, created: boolean): void {
  const inode = path.dentry.inode!;
  const acc = accMask(flags);
  switch (inode.mode & S_IFMT) {
    case S_IFLNK: fail(ELOOP);
    case S_IFDIR: if (acc & MAY_WRITE) fail(EISDIR); break;
    case S_IFBLK: case S_IFCHR: if (path.mnt.flags & MNT_NODEV) fail(EACCES); break;
    case S_IFIFO: case S_IFSOCK: break;
    default: break;
  }
  if (!created) {
    const t = inode.mode & S_IFMT;
    // Pipes, sockets and devices on a read-only mount may still be opened for writing.
    if ((acc & MAY_WRITE) && path.mnt.readOnly && (t === S_IFREG || t === S_IFDIR)) fail(EROFS);
    inodePermission(ctx.cred, inode, acc);
  }
  if (inode.flags & FS_APPEND_FL) {
    if ((flags & O_ACCMODE) !== O_RDONLY && !(flags & O_APPEND)) fail(EPERM);
    if (flags & O_TRUNC) fail(EPERM);
  }
  if ((flags & O_NOATIME) && !ownerOrCapable(ctx.cred, inode)) fail(EPERM);
}

/** Which FileOperations serve this inode: the filesystem's, a device driver's, or the pipe code. */
export function fileOpsFor(inode: Inode): FileOperations {
  const vfs = inode.sb.vfs;
  switch (inode.mode & S_IFMT) {
    case S_IFCHR: return vfs.chrdevFop(inode.rdev, inode.rdev % 2 ** 20) ?? fail(ENXIO);
    case S_IFBLK: return (vfs.blockDevice(inode.rdev) as FileOperations | undefined) ?? fail(ENXIO);
    case S_IFIFO: return vfs.fifoFop ?? fail(ENXIO);
    case S_IFSOCK: return fail(ENXIO);
    default: return inode.fop;
  }
}

/** Build and open a File on `path` (vfs_open). */
export async function openPath(ctx: FsContext, path: Path, flags: number): Promise<File> {
  return doDentryOpen(ctx, path, flags);
}

/** openPath without a promise when the filesystem's open needs none (do_dentry_open). */
export function doDentryOpen(ctx: FsContext, path: Path, flags: number): MaybePromise<File> {
  const inode = path.dentry.inode!;
  if (flags & O_PATH) {
    const f = new File(path, inode, flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), pathFop, ctx.cred);
    f.mode = FMODE_PATH;
    inode.openCount++;
    path.mnt.refs++;
    return f;
  }
  const fop = fileOpsFor(inode);
  const f = new File(path, inode, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC), fop, ctx.cred);
  inode.openCount++;
  path.mnt.refs++;
  const undo = (e: unknown): never => {
    inode.openCount--;
    path.mnt.refs--;
    throw e;
  };
  let r: MaybePromise<void>;
  try {
    inode.sb.vfs.caller = ctx.caller;
    r = fop.open ? fop.open(inode, f) : undefined;
  } catch (e) { return undo(e); }
  return isPromise(r) ? r.then(() => f, undo) : f;
}

/** Drop one reference; the last one releases (fput). */
export function fput(f: File): MaybePromise<void> {
  if (--f.refs > 0) return;
  if (f.released) return;
  f.released = true;
  locksRemoveFile(f); // OFD and flock locks belong to the open file description
  // Synchronous unless release or eviction has to wait (closing a file costs no promise then).
  let r: MaybePromise<void>;
  try {
    r = f.fop.release ? f.fop.release(f.inode, f) : undefined;
  } catch (e) {
    const d = fputDone(f);
    if (isPromise(d)) return d.then(() => { throw e; });
    throw e;
  }
  if (isPromise(r)) return r.then(() => fputDone(f), async (e: unknown) => { await fputDone(f); throw e; });
  return fputDone(f);
}

/** The end of fput, after release (whether it succeeded or not). */
function fputDone(f: File): MaybePromise<void> {
  f.inode.openCount--;
  f.path.mnt.refs--;
  return maybeEvict(f.inode);
}

/**
 * do_filp_open: resolve (and maybe create) `name` relative to `start`, then open it. A plain open
 * of an existing object (no O_CREAT, O_TRUNC, O_PATH or O_TMPFILE) takes a short path: without a
 * promise at all when the path is in the dcache and the filesystem's open needs none, else one
 * promise for the walk; everything else goes through doFilpOpenSlow.
 */
export function doFilpOpen(ctx: FsContext, start: Path, name: ByteString, how: OpenHow): MaybePromise<File> {
  const flags = how.flags;
  if (!(flags & (O_CREAT | O_TRUNC | O_PATH | __O_TMPFILE))) {
    let lf = how.resolve;
    if (!(flags & O_NOFOLLOW)) lf |= LOOKUP_FOLLOW;
    if (flags & O_DIRECTORY) lf |= LOOKUP_DIRECTORY;
    const path = pathLookupMaybe(ctx, start, name, lf);
    return isPromise(path) ? path.then((p) => openExisting(ctx, p, flags)) : openExisting(ctx, path, flags);
  }
  return doFilpOpenSlow(ctx, start, name, how);
}

/** The rest of a plain open once the path is resolved (the checks doFilpOpenSlow makes too). */
function openExisting(ctx: FsContext, path: Path, flags: number): MaybePromise<File> {
  const inode = path.dentry.inode!;
  if (inode.isLnk) fail(ELOOP);
  if ((flags & O_DIRECTORY) && !inode.isDir) fail(ENOTDIR);
  mayOpen(ctx, path, flags, false);
  return doDentryOpen(ctx, path, flags);
}

async function doFilpOpenSlow(ctx: FsContext, start: Path, name: ByteString, how: OpenHow): Promise<File> {
  let flags = how.flags;
  if (flags & O_PATH) flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  if ((flags & O_TMPFILE) === O_TMPFILE) return openTmpfile(ctx, start, name, how);
  if ((flags & __O_TMPFILE)) fail(EINVAL);
  // Since Linux 6.4 the combination is refused outright rather than half-honoured.
  if ((flags & O_CREAT) && (flags & O_DIRECTORY)) fail(EINVAL);

  let created = false;
  let path: Path;
  if (!(flags & O_CREAT)) {
    let lf = 0;
    if (!(flags & O_NOFOLLOW)) lf |= LOOKUP_FOLLOW;
    if (flags & O_DIRECTORY) lf |= LOOKUP_DIRECTORY;
    lf |= how.resolve;
    // A cached path needs no await; anything doubtful takes the full walk (and its errno).
    path = pathLookupCached(ctx, start, name, lf) ?? await pathLookup(ctx, start, name, lf);
    const inode = path.dentry.inode!;
    if (inode.isLnk && !(flags & O_PATH)) fail(ELOOP);
  } else {
    // O_CREAT: walk to the parent, then look at the last component ourselves; a symlink there is
    // followed (and may even create its dangling target) unless O_EXCL or O_NOFOLLOW.
    let base = start;
    let target = name;
    let links = 0;
    for (;;) {
      const pl = await pathParent(ctx, base, target, how.resolve);
      if (pl.lastType !== LAST_NORM || pl.trailingSlash) fail(EISDIR);
      const dir = pl.parent.dentry.inode!;
      await dir.lock.writeLock();
      let next: ByteString | null = null;
      try {
        const child = await lookupChild(pl.parent, pl.last, ctx.caller);
        if (!child.inode) {
          if (pl.parent.mnt.readOnly) fail(EROFS);
          if (pl.parent.dentry.deleted || dir.nlink === 0) fail(ENOENT);
          inodePermission(ctx.cred, dir, MAY_WRITE | MAY_EXEC);
          if (!dir.op.create) fail(EACCES);
          const mode = S_IFREG | (how.mode & ~ctx.umask & 0o7777);
          const inode = await dir.op.create(dir, pl.last, initOwner(ctx.cred, dir, mode));
          const d = dAdd(pl.parent.dentry, pl.last, inode, child);
          path = { mnt: pl.parent.mnt, dentry: d };
          created = true;
        } else {
          if (flags & O_EXCL) fail(EEXIST);
          path = followMounts({ mnt: pl.parent.mnt, dentry: child });
          const ci = path.dentry.inode!;
          if (ci.isLnk) {
            ci.sb.vfs.caller = ctx.caller;
            if (flags & O_NOFOLLOW) fail(ELOOP);
            if (++links > MAXSYMLINKS) fail(ELOOP);
            if (ci.op.getLink) {
              const t = await ci.op.getLink(ci);
              if (typeof t === 'object' && t !== null) { path = t as Path; }
              else next = t as ByteString;
            } else next = await ci.op.readlink!(ci);
            base = pl.parent;
          }
        }
      } finally { dir.lock.writeUnlock(); }
      if (next === null) break;
      target = next;
    }
    path = path!;
    if (path.dentry.inode!.isDir && !created) fail(EISDIR);
  }
  const inode = path.dentry.inode!;
  if ((flags & O_DIRECTORY) && !inode.isDir) fail(ENOTDIR);
  if (!(flags & O_PATH)) mayOpen(ctx, path, flags, created);
  const file = await openPath(ctx, path, flags);
  if ((flags & O_TRUNC) && !created && inode.isReg && !(flags & O_PATH)) {
    try { await doTruncate(ctx, path, 0, file); } catch (e) { await fput(file); throw e; }
  }
  return file;
}

async function openTmpfile(ctx: FsContext, start: Path, name: ByteString, how: OpenHow): Promise<File> {
  const acc = how.flags & O_ACCMODE;
  if (acc !== O_WRONLY && acc !== O_RDWR) fail(EINVAL);
  const dirPath = await pathLookup(ctx, start, name, LOOKUP_FOLLOW | LOOKUP_DIRECTORY | how.resolve);
  const dir = dirPath.dentry.inode!;
  if (dirPath.mnt.readOnly) fail(EROFS);
  inodePermission(ctx.cred, dir, MAY_WRITE | MAY_EXEC);
  if (!dir.op.tmpfile) fail(EOPNOTSUPP);
  const inode = await dir.op.tmpfile(dir, initOwner(ctx.cred, dir, S_IFREG | (how.mode & ~ctx.umask & 0o7777)));
  // I_LINKABLE: linkat may name it later, unless O_EXCL asked for a file that never gets a name.
  (inode as { linkable?: boolean }).linkable = !(how.flags & O_EXCL);
  const d = new Dentry(`#${inode.ino}`, dirPath.dentry, inode);
  d.deleted = true;
  return openPath(ctx, { mnt: dirPath.mnt, dentry: d }, how.flags & ~O_TMPFILE);
}
