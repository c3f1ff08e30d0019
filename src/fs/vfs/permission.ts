/*
 * Permission checks: generic_permission with Linux's capability overrides, sticky directories,
 * and the attribute-change rules of setattr_prepare (chmod, chown, utimes, truncate).
 */
import { fail } from '../../lib/errors.js';
import { EACCES, EPERM, EROFS, ETXTBSY } from '../../uapi/errno.js';
import { CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN, CAP_FSETID } from '../../uapi/misc.js';
import { S_ISGID, S_ISUID, S_ISVTX, S_IXGRP, S_IFMT, S_IFDIR } from '../../uapi/stat.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { Inode, Iattr } from './inode.js';
import type { Mount } from './mount.js';

export const MAY_EXEC = 1, MAY_WRITE = 2, MAY_READ = 4, MAY_APPEND = 8, MAY_ACCESS = 16,
  MAY_OPEN = 32, MAY_CHDIR = 64, MAY_NOT_BLOCK = 128;

export const FS_IMMUTABLE_FL = 0x10, FS_APPEND_FL = 0x20;

/** acl_permission_check + capability overrides (generic_permission). Returns 0 or an errno. */
export function permissionErrno(cred: Cred, inode: Inode, mask: number): number {
  mask &= MAY_READ | MAY_WRITE | MAY_EXEC;
  const mode = inode.mode;
  let bits: number;
  if (cred.fsuid === inode.uid) bits = (mode >> 6) & 7;
  else if (cred.inGroup(inode.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if ((mask & ~bits) === 0) return 0;
  const isDir = (mode & S_IFMT) === S_IFDIR;
  // Read/search of directories with CAP_DAC_READ_SEARCH, everything on dirs with CAP_DAC_OVERRIDE.
  if (isDir) {
    if (!(mask & MAY_WRITE) && cred.capable(CAP_DAC_READ_SEARCH)) return 0;
    if (cred.capable(CAP_DAC_OVERRIDE)) return 0;
    return EACCES;
  }
  // Exec on a regular file needs at least one x bit even for root.
  if (mask & MAY_EXEC && (mode & 0o111) === 0) return EACCES;
  if (cred.capable(CAP_DAC_OVERRIDE)) return 0;
  if (mask === MAY_READ && cred.capable(CAP_DAC_READ_SEARCH)) return 0;
  return EACCES;
}

/** inode_permission(): EROFS for writes on read-only mounts of regular files, dirs, links. */
export function inodePermission(cred: Cred, inode: Inode, mask: number, mnt?: Mount): void {
  if (mask & MAY_WRITE) {
    const t = inode.mode & S_IFMT;
    if (mnt?.readOnly && (t === 0o100000 || t === S_IFDIR || t === 0o120000)) fail(EROFS);
    if (inode.flags & FS_IMMUTABLE_FL) fail(EPERM);
  }
  const e = permissionErrno(cred, inode, mask);
  if (e) fail(e);
}

/** inode_owner_or_capable */
export function ownerOrCapable(cred: Cred, inode: Inode): boolean {
  return cred.fsuid === inode.uid || cred.capable(CAP_FOWNER);
}

/** check_sticky: in a sticky directory only the file's or directory's owner (or CAP_FOWNER) may delete. */
export function isStickyDenied(cred: Cred, dir: Inode, inode: Inode): boolean {
  if (!(dir.mode & S_ISVTX)) return false;
  if (cred.fsuid === inode.uid || cred.fsuid === dir.uid) return false;
  return !cred.capable(CAP_FOWNER);
}

/**
 * setattr_prepare(): may `cred` make these changes? Also adjusts the request the way Linux does
 * (clearing S_ISGID when the caller is not in the group, for chmod).
 */
export function setattrPrepare(cred: Cred, inode: Inode, attr: Iattr, timesToNow: boolean): void {
  if (attr.size !== undefined && (inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))) fail(EPERM);
  if (attr.uid !== undefined) {
    // chown to another uid needs CAP_CHOWN; "chown to self" by the owner is allowed.
    if (!(cred.fsuid === inode.uid && attr.uid === inode.uid) && !cred.capable(CAP_CHOWN)) fail(EPERM);
  }
  if (attr.gid !== undefined) {
    const ok = (cred.fsuid === inode.uid && (attr.gid === inode.gid || cred.inGroup(attr.gid))) || cred.capable(CAP_CHOWN);
    if (!ok) fail(EPERM);
  }
  if (attr.mode !== undefined) {
    if (!ownerOrCapable(cred, inode)) fail(EPERM);
    const gid = attr.gid ?? inode.gid;
    if (!cred.inGroup(gid) && !cred.capable(CAP_FSETID)) attr.mode &= ~S_ISGID;
  }
  if (attr.atime !== undefined || attr.mtime !== undefined) {
    if (!ownerOrCapable(cred, inode)) {
      // Setting both to "now" only needs write permission (utimensat with NULL / UTIME_NOW).
      if (!timesToNow) fail(EPERM);
      const e = permissionErrno(cred, inode, MAY_WRITE);
      if (e) fail(e);
    }
    if (inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) fail(EPERM);
  }
}

/** chown by a non-root caller clears set-id bits (and S_ISGID only with group exec). */
export function killSuidOnChown(inode: Inode, attr: Iattr): void {
  if (attr.uid === undefined && attr.gid === undefined) return;
  if ((inode.mode & S_IFMT) === S_IFDIR) return;
  let mode = attr.mode ?? inode.mode;
  mode &= ~S_ISUID;
  if (mode & S_IXGRP) mode &= ~S_ISGID;
  if (mode !== (attr.mode ?? inode.mode)) attr.mode = mode;
}

/** file_remove_privs on write: drop S_ISUID, and S_ISGID when group-executable, unless CAP_FSETID. */
export function killSuidOnWrite(cred: Cred, inode: Inode): boolean {
  if (!(inode.mode & (S_ISUID | S_ISGID))) return false;
  if (cred.capable(CAP_FSETID)) return false;
  let mode = inode.mode & ~S_ISUID;
  if (mode & S_IXGRP) mode &= ~S_ISGID;
  if (mode === inode.mode) return false;
  inode.mode = mode;
  return true;
}
