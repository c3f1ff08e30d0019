/*
 * Namespace operations (vfs_mkdir, vfs_unlink, vfs_rename, ...) with Linux's checks and errno
 * precedence, plus dcache maintenance, so filesystems only ever see validated requests.
 */
import { fail, type MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import {
  EEXIST, ENOENT, ENOTDIR, EISDIR, EROFS, EPERM, EBUSY, ENOTEMPTY, EINVAL, EXDEV, EMLINK,
  ENAMETOOLONG,
} from '../../uapi/errno.js';
import {
  S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_ISGID, S_IXGRP,
  S_IALLUGO,
} from '../../uapi/stat.js';
import { CAP_FSETID, CAP_MKNOD } from '../../uapi/misc.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT } from '../../uapi/fcntl.js';
import type { Cred } from '../../kernel/auth/index.js';
import { Dentry } from './dentry.js';
import type { Inode, InodeInit } from './inode.js';
import type { Path } from './mount.js';
import {
  pathParent, lookupChild, LAST_NORM, LAST_DOT, LAST_DOTDOT, LAST_ROOT, NAME_MAX, type NameiContext,
  type ParentLookup,
} from './namei.js';
import { inodePermission, isStickyDenied, MAY_WRITE, MAY_EXEC, FS_APPEND_FL, FS_IMMUTABLE_FL } from './permission.js';

/** Per-call filesystem context of the calling task (cred, root, umask). */
export interface FsContext extends NameiContext { umask: number }

/** inode_init_owner(): owner, group (setgid directories) and the S_ISGID rules for a new inode. */
export function initOwner(cred: Cred, dir: Inode, mode: number, rdev = 0): InodeInit {
  let gid = cred.fsgid;
  if (dir.mode & S_ISGID) {
    gid = dir.gid;
    if ((mode & S_IFMT) === S_IFDIR) mode |= S_ISGID;
  }
  if ((mode & S_IFMT) !== S_IFDIR && (mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) &&
    !cred.inGroup(gid) && !cred.capable(CAP_FSETID)) mode &= ~S_ISGID;
  return { mode, uid: cred.fsuid, gid, rdev };
}

/** d_instantiate + d_add: bind a new inode to its name in the dcache. */
export function dAdd(parent: Dentry, name: ByteString, inode: Inode | null, existing?: Dentry): Dentry {
  const d = existing && existing.parent === parent && existing.name === name ? existing : new Dentry(name, parent, inode);
  d.inode = inode;
  if (inode && !inode.alias) inode.alias = d;
  d.deleted = false;
  d.offset = ++parent.inode!.sb.vfs.dirOffsetCounter;
  parent.children.set(name, d);
  return d;
}

/** d_delete: the name is gone. Open files keep the (now detached) dentry. */
export function dDelete(d: Dentry): void {
  const cached = d.parent.children.get(d.name);
  if (cached === d) d.parent.children.delete(d.name);
  d.deleted = true;
  if (d.inode && d.inode.alias === d) d.inode.alias = null;
}

/** may_create */
function mayCreate(ctx: FsContext, dir: Path): void {
  if (dir.dentry.deleted || dir.dentry.inode!.nlink === 0) fail(ENOENT);
  inodePermission(ctx.cred, dir.dentry.inode!, MAY_WRITE | MAY_EXEC);
}

/** may_delete */
function mayDelete(ctx: FsContext, dir: Path, victim: Dentry, isdir: boolean): void {
  const inode = victim.inode;
  if (!inode) fail(ENOENT);
  inodePermission(ctx.cred, dir.dentry.inode!, MAY_WRITE | MAY_EXEC);
  if (isStickyDenied(ctx.cred, dir.dentry.inode!, inode)) fail(EPERM);
  if (inode.flags & (FS_APPEND_FL | FS_IMMUTABLE_FL)) fail(EPERM);
  if (isdir) {
    if (!inode.isDir) fail(ENOTDIR);
    if (victim.isRoot) fail(EBUSY);
  } else if (inode.isDir) fail(EISDIR);
  if (victim.mounts && victim.mounts.length) fail(EBUSY);
}

function wantWrite(p: Path): number { return p.mnt.readOnly ? EROFS : 0; }

/**
 * filename_create(): parent + a negative dentry for the new name. EEXIST outranks EROFS, and a
 * trailing slash is allowed only when creating a directory.
 */
async function filenameCreate(ctx: FsContext, start: Path, name: ByteString, isDir: boolean):
  Promise<{ parent: Path; last: ByteString; child: Dentry }> {
  const pl = await pathParent(ctx, start, name);
  if (pl.lastType !== LAST_NORM) fail(EEXIST);
  const roErr = wantWrite(pl.parent);
  const child = await lookupChild(pl.parent, pl.last, ctx.caller);
  if (child.inode) fail(EEXIST);
  if (pl.trailingSlash && !isDir) fail(ENOENT);
  if (roErr) fail(roErr);
  return { parent: pl.parent, last: pl.last, child };
}

export async function vfsMkdir(ctx: FsContext, start: Path, name: ByteString, mode: number): Promise<void> {
  const { parent, last, child } = await filenameCreate(ctx, start, name, true);
  const dir = parent.dentry.inode!;
  await dir.lock.writeLock();
  try {
    mayCreate(ctx, parent);
    if (!dir.op.mkdir) fail(EPERM);
    if (dir.nlink >= dir.sb.maxLinks) fail(EMLINK);
    if (last.length > dir.sb.maxNameLen) fail(ENAMETOOLONG);
    const m = S_IFDIR | (mode & ~ctx.umask & 0o1777);
    const inode = await dir.op.mkdir(dir, last, initOwner(ctx.cred, dir, m));
    dAdd(parent.dentry, last, inode, child);
  } finally { dir.lock.writeUnlock(); }
}

export async function vfsMknod(ctx: FsContext, start: Path, name: ByteString, mode: number, rdev: number): Promise<void> {
  let type = mode & S_IFMT;
  if (type === 0) type = S_IFREG;
  if (type === S_IFDIR) fail(EPERM);
  if (type !== S_IFREG && type !== S_IFCHR && type !== S_IFBLK && type !== S_IFIFO && type !== S_IFSOCK) fail(EINVAL);
  const { parent, last, child } = await filenameCreate(ctx, start, name, false);
  const dir = parent.dentry.inode!;
  if ((type === S_IFCHR || type === S_IFBLK) && !ctx.cred.capable(CAP_MKNOD)) fail(EPERM);
  await dir.lock.writeLock();
  try {
    mayCreate(ctx, parent);
    if (last.length > dir.sb.maxNameLen) fail(ENAMETOOLONG);
    const m = type | (mode & ~ctx.umask & 0o7777);
    const init = initOwner(ctx.cred, dir, m, type === S_IFCHR || type === S_IFBLK ? rdev : 0);
    let inode: Inode;
    if (type === S_IFREG) { if (!dir.op.create) fail(EPERM); inode = await dir.op.create(dir, last, init); }
    else { if (!dir.op.mknod) fail(EPERM); inode = await dir.op.mknod(dir, last, init); }
    dAdd(parent.dentry, last, inode, child);
  } finally { dir.lock.writeUnlock(); }
}

export async function vfsSymlink(ctx: FsContext, target: ByteString, start: Path, name: ByteString): Promise<void> {
  if (target.length === 0) fail(ENOENT);
  const { parent, last, child } = await filenameCreate(ctx, start, name, false);
  const dir = parent.dentry.inode!;
  await dir.lock.writeLock();
  try {
    mayCreate(ctx, parent);
    if (!dir.op.symlink) fail(EPERM);
    if (last.length > dir.sb.maxNameLen) fail(ENAMETOOLONG);
    const inode = await dir.op.symlink(dir, last, target, initOwner(ctx.cred, dir, S_IFLNK | 0o777));
    dAdd(parent.dentry, last, inode, child);
  } finally { dir.lock.writeUnlock(); }
}

/** vfs_link: `old` is the resolved source (AT_SYMLINK_FOLLOW decides by the caller). */
export async function vfsLink(ctx: FsContext, old: Path, start: Path, name: ByteString): Promise<void> {
  const { parent, last, child } = await filenameCreate(ctx, start, name, false);
  if (old.mnt !== parent.mnt) fail(EXDEV);
  const inode = old.dentry.inode!;
  const dir = parent.dentry.inode!;
  if (inode.isDir) fail(EPERM);
  await dir.lock.writeLock();
  try {
    mayCreate(ctx, parent);
    if (!dir.op.link) fail(EPERM);
    if (inode.flags & (FS_APPEND_FL | FS_IMMUTABLE_FL)) fail(EPERM);
    // An unlinked file cannot get a new name (unless it was O_TMPFILE, which keeps I_LINKABLE).
    if (inode.nlink === 0 && !(inode as { linkable?: boolean }).linkable) fail(ENOENT);
    if (inode.nlink >= inode.sb.maxLinks) fail(EMLINK);
    await dir.op.link(inode, dir, last);
    // I_LINKABLE is spent by the first name: unlinked again, the file stays unlinked.
    (inode as { linkable?: boolean }).linkable = false;
    dAdd(parent.dentry, last, inode, child);
  } finally { dir.lock.writeUnlock(); }
}

async function parentForDelete(ctx: FsContext, start: Path, name: ByteString): Promise<ParentLookup & { roErr: number }> {
  const pl = await pathParent(ctx, start, name);
  return { ...pl, roErr: wantWrite(pl.parent) };
}

export async function vfsUnlink(ctx: FsContext, start: Path, name: ByteString): Promise<void> {
  const pl = await parentForDelete(ctx, start, name);
  if (pl.lastType !== LAST_NORM) fail(EISDIR);
  if (pl.roErr) fail(pl.roErr);
  const dir = pl.parent.dentry.inode!;
  await dir.lock.writeLock();
  try {
    const victim = await lookupChild(pl.parent, pl.last, ctx.caller);
    if (!victim.inode) fail(ENOENT);
    if (pl.trailingSlash) fail(victim.inode.isDir ? EISDIR : ENOTDIR);
    mayDelete(ctx, pl.parent, victim, false);
    if (!dir.op.unlink) fail(EPERM);
    await dir.op.unlink(dir, pl.last, victim.inode);
    dDelete(victim);
    await maybeEvict(victim.inode);
  } finally { dir.lock.writeUnlock(); }
}

export async function vfsRmdir(ctx: FsContext, start: Path, name: ByteString): Promise<void> {
  const pl = await parentForDelete(ctx, start, name);
  if (pl.lastType === LAST_DOT) fail(EINVAL);
  if (pl.lastType === LAST_DOTDOT) fail(ENOTEMPTY);
  if (pl.lastType === LAST_ROOT) fail(EBUSY);
  if (pl.roErr) fail(pl.roErr);
  const dir = pl.parent.dentry.inode!;
  await dir.lock.writeLock();
  try {
    const victim = await lookupChild(pl.parent, pl.last, ctx.caller);
    if (!victim.inode) fail(ENOENT);
    mayDelete(ctx, pl.parent, victim, true);
    if (!dir.op.rmdir) fail(EPERM);
    if (!(await isEmptyDir(victim))) fail(ENOTEMPTY);
    await dir.op.rmdir(dir, pl.last, victim.inode);
    dDelete(victim);
    await maybeEvict(victim.inode);
  } finally { dir.lock.writeUnlock(); }
}

export async function isEmptyDir(d: Dentry): Promise<boolean> {
  const inode = d.inode!;
  if (inode.sb.dcacheAuthoritative) {
    for (const c of d.children.values()) if (c.inode) return false;
    return true;
  }
  if (inode.op.isEmptyDir) return inode.op.isEmptyDir(inode);
  return inode.nlink <= 2;
}

/** Last name gone and nobody has it open: let the filesystem free it. */
export function maybeEvict(inode: Inode): MaybePromise<void> {
  if (inode.nlink === 0 && inode.openCount === 0 && inode.sb.op.evictInode) return inode.sb.op.evictInode(inode);
}

/** vfs_rename with RENAME_NOREPLACE / RENAME_EXCHANGE. */
export async function vfsRename(ctx: FsContext, oldStart: Path, oldName: ByteString,
  newStart: Path, newName: ByteString, flags: number): Promise<void> {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) fail(EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) fail(EINVAL);
  if (flags & RENAME_WHITEOUT) fail(EINVAL);
  const op = await pathParent(ctx, oldStart, oldName);
  const np = await pathParent(ctx, newStart, newName);
  if (op.parent.mnt !== np.parent.mnt) fail(EXDEV);
  if (op.lastType !== LAST_NORM) fail(EBUSY);
  if (np.lastType !== LAST_NORM) fail(flags & RENAME_NOREPLACE ? EEXIST : EBUSY);
  if (op.parent.mnt.readOnly) fail(EROFS);

  const oldDir = op.parent.dentry.inode!, newDir = np.parent.dentry.inode!;
  const sb = oldDir.sb;
  // Cross-directory renames are serialised per filesystem so ancestry cannot change under us.
  const cross = oldDir !== newDir;
  let releaseRename: (() => void) | undefined;
  if (cross) {
    const prev = sb.renameLock;
    sb.renameLock = new Promise<void>((r) => { releaseRename = r; });
    await prev;
  }
  await lockTwo(oldDir, newDir);
  try {
    const oldD = await lookupChild(op.parent, op.last, ctx.caller);
    if (!oldD.inode) fail(ENOENT);
    const src = oldD.inode;
    if ((op.trailingSlash || np.trailingSlash) && !src.isDir) fail(ENOTDIR);
    const newD = await lookupChild(np.parent, np.last, ctx.caller);
    const tgt = newD.inode;
    if (flags & RENAME_EXCHANGE) {
      if (!tgt) fail(ENOENT);
      if (np.trailingSlash && !tgt.isDir) fail(ENOTDIR);
    }
    if ((flags & RENAME_NOREPLACE) && tgt) fail(EEXIST);
    // Source must not be an ancestor of the target (EINVAL); target not an ancestor of source (ENOTEMPTY).
    if (np.parent.dentry.isSubdirOf(oldD) ) fail(EINVAL);
    if (tgt && (flags & RENAME_EXCHANGE) && op.parent.dentry.isSubdirOf(newD)) fail(EINVAL);
    if (tgt && !(flags & RENAME_EXCHANGE) && op.parent.dentry.isSubdirOf(newD)) fail(ENOTEMPTY);
    if (src === tgt) return; // same inode (hard links or same name): success, nothing to do
    mayDelete(ctx, op.parent, oldD, src.isDir);
    if (tgt) {
      if (flags & RENAME_EXCHANGE) mayDelete(ctx, np.parent, newD, tgt.isDir);
      else {
        mayDelete(ctx, np.parent, newD, src.isDir);
        if (tgt.isDir && !(await isEmptyDir(newD))) fail(ENOTEMPTY);
      }
    } else mayCreate(ctx, np.parent);
    // Moving a directory to a new parent rewrites its ".." : needs write permission on it.
    if (cross && src.isDir) inodePermission(ctx.cred, src, MAY_WRITE);
    if (cross && tgt && tgt.isDir && (flags & RENAME_EXCHANGE)) inodePermission(ctx.cred, tgt, MAY_WRITE);
    if (oldD.mounts?.length || newD.mounts?.length) fail(EBUSY);
    if (cross && src.isDir && !tgt && newDir.nlink >= newDir.sb.maxLinks) fail(EMLINK);
    if (np.last.length > newDir.sb.maxNameLen) fail(ENAMETOOLONG);
    if (!oldDir.op.rename) fail(EPERM);
    await oldDir.op.rename(oldDir, op.last, src, newDir, np.last, tgt, flags);

    // dcache: move (and swap, or drop the replaced target).
    const oldParent = op.parent.dentry, newParent = np.parent.dentry;
    if (flags & RENAME_EXCHANGE) {
      oldParent.children.delete(op.last); newParent.children.delete(np.last);
      oldD.parent = newParent; oldD.name = np.last;
      newD.parent = oldParent; newD.name = op.last;
      // Fresh readdir positions: children maps are kept in offset order.
      oldD.offset = ++sb.vfs.dirOffsetCounter; newD.offset = ++sb.vfs.dirOffsetCounter;
      newParent.children.set(np.last, oldD); oldParent.children.set(op.last, newD);
    } else {
      if (tgt) { dDelete(newD); }
      oldParent.children.delete(op.last);
      oldD.parent = newParent; oldD.name = np.last; oldD.offset = ++sb.vfs.dirOffsetCounter;
      newParent.children.set(np.last, oldD);
      if (tgt) await maybeEvict(tgt);
    }
  } finally {
    oldDir.lock.writeUnlock();
    if (newDir !== oldDir) newDir.lock.writeUnlock();
    releaseRename?.();
  }
}

async function lockTwo(a: Inode, b: Inode): Promise<void> {
  if (a === b) { await a.lock.writeLock(); return; }
  const [first, second] = a.ino < b.ino ? [a, b] : [b, a];
  await first.lock.writeLock();
  await second.lock.writeLock();
}

export { S_IALLUGO };
