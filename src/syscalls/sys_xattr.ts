/*
 * Extended attribute system calls (fs/xattr.c): {,l,f}{set,get,list,remove}xattr.
 *
 * An attribute name is "namespace.name". The VFS decides who may touch which namespace
 * (xattrPermission: user.* only on regular files and directories, trusted.* only with
 * CAP_SYS_ADMIN, security.* and system.* left to the filesystem); the filesystem stores the
 * values through its InodeOperations. The order of checks is Linux's, since it decides which errno
 * a caller sees when several things are wrong: flags, then name (ERANGE) and size (E2BIG), then
 * the path or fd, then a read-only mount (EROFS), then permission, then whether the filesystem
 * knows the namespace at all (EOPNOTSUPP), then the store's own answer (EEXIST, ENODATA).
 * Setting and removing hold the inode lock, as Linux does, so they serialise with other writers.
 *
 * The l* variants act on a final symlink itself; f* ones on an open file (not O_PATH: EBADF).
 */
import { fail, isPromise } from '../lib/errors.js';
import { toByteString, bytesToByteString, type ByteString } from '../lib/bytestr.js';
import { EBADF, EFAULT, EINVAL, ERANGE, E2BIG, EROFS, ENODATA, EOPNOTSUPP, EPERM } from '../uapi/errno.js';
import { AT_FDCWD, XATTR_CREATE, XATTR_REPLACE, XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX } from '../uapi/fcntl.js';
import { CAP_SYS_ADMIN } from '../uapi/misc.js';
import type { Task } from '../kernel/index.js';
import {
  type File, type Path, type Inode, FMODE_PATH, MAY_READ, MAY_WRITE, FS_IMMUTABLE_FL, FS_APPEND_FL,
  xattrPermission, inodePermission, XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX,
  XATTR_SYSTEM_PREFIX,
} from '../fs/vfs/index.js';
import { userBuf, isNull, toInt, toInt32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';
import { MS_POSIXACL } from '../uapi/mount.js';
import { userPathAt, LOOKUP_FOLLOW } from './common.js';

const POSIX_ACL_ACCESS = 'system.posix_acl_access', POSIX_ACL_DEFAULT = 'system.posix_acl_default';

/** import_xattr_name: at most 255 bytes up to the first NUL; empty or longer is ERANGE. */
function xattrName(arg: unknown): ByteString {
  let s: ByteString;
  if (typeof arg === 'string') s = toByteString(arg);
  else if (arg instanceof Uint8Array) {
    let end = arg.indexOf(0);
    if (end < 0) end = arg.length;
    s = bytesToByteString(arg, 0, Math.min(end, XATTR_NAME_MAX + 1));
  } else fail(EFAULT);
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  if (s.length === 0 || s.length > XATTR_NAME_MAX) fail(ERANGE);
  return s;
}

/** A size_t argument: negative JS numbers are huge unsigned values. */
function sizeArg(arg: unknown): number {
  const n = toInt(arg);
  return n < 0 ? Number.MAX_SAFE_INTEGER : n;
}

function knownPrefix(name: ByteString): boolean {
  return name.startsWith(XATTR_USER_PREFIX) || name.startsWith(XATTR_TRUSTED_PREFIX) ||
    name.startsWith(XATTR_SECURITY_PREFIX) || name.startsWith(XATTR_SYSTEM_PREFIX);
}

/**
 * xattr_permission. For a namespace the VFS does not know, Linux still checks the inode's mode
 * bits first and only then fails to find a handler (EOPNOTSUPP in resolveHandler).
 */
function permission(t: Task, inode: Inode, name: ByteString, mask: number): void {
  if (knownPrefix(name)) { xattrPermission(t.cred, inode, name, mask); return; }
  if (mask & MAY_WRITE && inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) fail(EPERM);
  inodePermission(t.cred, inode, mask);
}

/**
 * xattr_resolve_name: is there a handler for this name on this inode? No xattr support at all,
 * an unknown namespace, or POSIX ACLs on a filesystem without them, are EOPNOTSUPP; a bare prefix such as
 * "user." is EINVAL.
 */
function resolveHandler(inode: Inode, name: ByteString, has: boolean): void {
  const op = inode.op;
  if (!op.getxattr && !op.setxattr && !op.listxattr && !op.removexattr) fail(EOPNOTSUPP);
  // ACLs are served only by filesystems mounted with them (SB_POSIXACL), as Linux's posix_acl handlers.
  if (name === POSIX_ACL_ACCESS || name === POSIX_ACL_DEFAULT) {
    if (!(inode.sb.flags & MS_POSIXACL) || !has) fail(EOPNOTSUPP);
    return;
  }
  for (const p of [XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX]) {
    if (!name.startsWith(p)) continue;
    if (name.length === p.length) fail(EINVAL);
    if (!has) fail(EOPNOTSUPP);
    return;
  }
  fail(EOPNOTSUPP);
}

/** fdget(): O_PATH descriptors are EBADF here. */
function fdgetFile(t: Task, fd: unknown): File {
  const f = t.files.peek(toInt32(fd));
  if (!f || f.mode & FMODE_PATH) fail(EBADF);
  return f;
}

function lookup(t: Task, path: unknown, follow: boolean): Promise<Path> {
  return userPathAt(t, AT_FDCWD, path, follow ? LOOKUP_FOLLOW : 0);
}

// ---- set / remove ----------------------------------------------------------------------------

interface SetArgs { name: ByteString; value: Uint8Array; flags: number }

/** setxattr_copy: flags, name and value checked before the file is even looked at. */
function setxattrCopy(nameArg: unknown, valueArg: unknown, sizeA: unknown, flagsArg: unknown): SetArgs {
  const flags = toInt32(flagsArg);
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) fail(EINVAL);
  const name = xattrName(nameArg);
  const size = sizeArg(sizeA);
  let value = new Uint8Array(0);
  if (size) {
    if (size > XATTR_SIZE_MAX) fail(E2BIG);
    if (isNull(valueArg)) fail(EFAULT);
    const buf = userBuf(valueArg);
    if (buf.length < size) fail(EFAULT);
    value = buf.slice(0, size);
  }
  return { name, value, flags };
}

/** mnt_want_write + vfs_setxattr. */
async function doSetxattr(t: Task, path: Path, a: SetArgs): Promise<number> {
  if (path.mnt.readOnly) fail(EROFS);
  const inode = path.dentry.inode!;
  await inode.lock.writeLock();
  try {
    permission(t, inode, a.name, MAY_WRITE);
    resolveHandler(inode, a.name, inode.op.setxattr !== undefined);
    // The filesystem sets ctime itself, in the same transaction as the change (a second touch
    // here made the in-memory ctime later than the one written).
    await inode.op.setxattr!(inode, a.name, a.value, a.flags);
  } finally { inode.lock.writeUnlock(); }
  return 0;
}

/** mnt_want_write + vfs_removexattr. */
async function doRemovexattr(t: Task, path: Path, name: ByteString): Promise<number> {
  if (path.mnt.readOnly) fail(EROFS);
  const inode = path.dentry.inode!;
  await inode.lock.writeLock();
  try {
    permission(t, inode, name, MAY_WRITE);
    resolveHandler(inode, name, inode.op.removexattr !== undefined);
    await inode.op.removexattr!(inode, name);
  } finally { inode.lock.writeUnlock(); }
  return 0;
}

// ---- get / list ------------------------------------------------------------------------------

/** getxattr: the value's length; with size 0 only the length (how much to allocate). */
async function doGetxattr(t: Task, inode: Inode, name: ByteString, valueArg: unknown, sizeA: unknown): Promise<number> {
  const size = Math.min(sizeArg(sizeA), XATTR_SIZE_MAX);
  permission(t, inode, name, MAY_READ);
  resolveHandler(inode, name, inode.op.getxattr !== undefined);
  const v = await inode.op.getxattr!(inode, name);
  if (!v) fail(ENODATA);
  if (size === 0) return v.length;
  if (v.length > size) fail(size >= XATTR_SIZE_MAX ? E2BIG : ERANGE);
  const buf = userBuf(valueArg);
  if (buf.length < v.length) fail(EFAULT);
  buf.set(v);
  return v.length;
}

/** listxattr: NUL-terminated names the caller may see; trusted.* only with CAP_SYS_ADMIN. */
function doListxattr(t: Task, inode: Inode, listArg: unknown, sizeA: unknown): number | Promise<number> {
  const size = Math.min(sizeArg(sizeA), XATTR_LIST_MAX);
  const names = inode.op.listxattr ? inode.op.listxattr(inode) : [];
  // No promise when the filesystem lists at once (ext4 without an xattr block).
  return isPromise(names) ? names.then((n) => putNames(t, n, listArg, size)) : putNames(t, names, listArg, size);
}

function putNames(t: Task, names: ByteString[], listArg: unknown, size: number): number {
  if (!t.cred.capable(CAP_SYS_ADMIN)) names = names.filter((n) => !n.startsWith(XATTR_TRUSTED_PREFIX));
  let total = 0;
  for (const n of names) total += n.length + 1;
  if (size === 0) return total;
  if (total > size) fail(size >= XATTR_LIST_MAX ? E2BIG : ERANGE);
  const buf = userBuf(listArg);
  if (buf.length < total) fail(EFAULT);
  let o = 0;
  for (const n of names) {
    for (let i = 0; i < n.length; i++) buf[o++] = n.charCodeAt(i);
    buf[o++] = 0;
  }
  return total;
}

// ---- the twelve entry points -----------------------------------------------------------------

function pathSet(follow: boolean) {
  return async (t: Task, path: unknown, name: unknown, value: unknown, size: unknown, flags: unknown): Promise<number> => {
    const a = setxattrCopy(name, value, size, flags);
    return doSetxattr(t, await lookup(t, path, follow), a);
  };
}
async function sysFsetxattr(t: Task, fd: unknown, name: unknown, value: unknown, size: unknown, flags: unknown): Promise<number> {
  const f = fdgetFile(t, fd);
  return doSetxattr(t, f.path, setxattrCopy(name, value, size, flags));
}

function pathGet(follow: boolean) {
  return async (t: Task, path: unknown, name: unknown, value: unknown, size: unknown): Promise<number> => {
    const n = xattrName(name);
    const p = await lookup(t, path, follow);
    return doGetxattr(t, p.dentry.inode!, n, value, size);
  };
}
async function sysFgetxattr(t: Task, fd: unknown, name: unknown, value: unknown, size: unknown): Promise<number> {
  const f = fdgetFile(t, fd);
  return doGetxattr(t, f.inode, xattrName(name), value, size);
}

function pathList(follow: boolean) {
  return async (t: Task, path: unknown, list: unknown, size: unknown): Promise<number> => {
    const p = await lookup(t, path, follow);
    return doListxattr(t, p.dentry.inode!, list, size);
  };
}
function sysFlistxattr(t: Task, fd: unknown, list: unknown, size: unknown): number | Promise<number> {
  return doListxattr(t, fdgetFile(t, fd).inode, list, size);
}

function pathRemove(follow: boolean) {
  return async (t: Task, path: unknown, name: unknown): Promise<number> => {
    const n = xattrName(name);
    return doRemovexattr(t, await lookup(t, path, follow), n);
  };
}
async function sysFremovexattr(t: Task, fd: unknown, name: unknown): Promise<number> {
  const f = fdgetFile(t, fd);
  return doRemovexattr(t, f.path, xattrName(name));
}

const NOTE = 'system.posix_acl_* served where the filesystem has ACLs (ext4 reads); tmpfs: EOPNOTSUPP';

export const xattrSyscalls: SyscallDef[] = [
  { name: 'setxattr', handler: pathSet(true), support: 'partial', note: NOTE },
  { name: 'lsetxattr', handler: pathSet(false), support: 'partial', note: NOTE },
  { name: 'fsetxattr', handler: sysFsetxattr, support: 'partial', note: NOTE },
  { name: 'getxattr', handler: pathGet(true), support: 'partial', note: NOTE },
  { name: 'lgetxattr', handler: pathGet(false), support: 'partial', note: NOTE },
  { name: 'fgetxattr', handler: sysFgetxattr, support: 'partial', note: NOTE },
  { name: 'listxattr', handler: pathList(true) },
  { name: 'llistxattr', handler: pathList(false) },
  { name: 'flistxattr', handler: sysFlistxattr },
  { name: 'removexattr', handler: pathRemove(true), support: 'partial', note: NOTE },
  { name: 'lremovexattr', handler: pathRemove(false), support: 'partial', note: NOTE },
  { name: 'fremovexattr', handler: sysFremovexattr, support: 'partial', note: NOTE },
];
