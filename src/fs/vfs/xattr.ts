/*
 * Extended attributes: namespace rules (fs/xattr.c, xattr_permission) and a simple in-memory
 * store (simple_xattr) for tmpfs-like filesystems.
 */
import { fail } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { EPERM, ENODATA, EEXIST, ERANGE, EOPNOTSUPP, ENOTSUP, EINVAL, E2BIG } from '../../uapi/errno.js';
import { XATTR_CREATE, XATTR_REPLACE, XATTR_NAME_MAX, XATTR_SIZE_MAX } from '../../uapi/fcntl.js';
import { CAP_SYS_ADMIN } from '../../uapi/misc.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_ISVTX } from '../../uapi/stat.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { Inode } from './inode.js';
import { inodePermission, ownerOrCapable, MAY_READ, MAY_WRITE, FS_APPEND_FL, FS_IMMUTABLE_FL } from './permission.js';

export const XATTR_USER_PREFIX = 'user.', XATTR_TRUSTED_PREFIX = 'trusted.',
  XATTR_SECURITY_PREFIX = 'security.', XATTR_SYSTEM_PREFIX = 'system.';

export function checkXattrName(name: ByteString): void {
  if (name.length === 0 || name.length > XATTR_NAME_MAX) fail(name.length ? ERANGE : ERANGE);
}

/** xattr_permission: who may read or write which namespace on which kind of inode. */
export function xattrPermission(cred: Cred, inode: Inode, name: ByteString, mask: number): void {
  if (mask & MAY_WRITE && inode.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) fail(EPERM);
  if (name.startsWith(XATTR_SECURITY_PREFIX) || name.startsWith(XATTR_SYSTEM_PREFIX)) return;
  if (name.startsWith(XATTR_TRUSTED_PREFIX)) {
    if (!cred.capable(CAP_SYS_ADMIN)) fail(mask & MAY_WRITE ? EPERM : ENODATA);
    return;
  }
  if (name.startsWith(XATTR_USER_PREFIX)) {
    const t = inode.mode & S_IFMT;
    if (t !== S_IFREG && t !== S_IFDIR) fail(mask & MAY_WRITE ? EPERM : ENODATA);
    if (t === S_IFDIR && inode.mode & S_ISVTX && mask & MAY_WRITE && !ownerOrCapable(cred, inode)) fail(EPERM);
  } else fail(EOPNOTSUPP);
  inodePermission(cred, inode, mask);
}

/** In-memory xattrs for filesystems without on-disk storage (tmpfs). */
export class SimpleXattrs {
  private map = new Map<ByteString, Uint8Array>();
  get(name: ByteString): Uint8Array | null { return this.map.get(name) ?? null; }
  set(name: ByteString, value: Uint8Array, flags: number): void {
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) fail(EINVAL);
    if (value.length > XATTR_SIZE_MAX) fail(E2BIG);
    const has = this.map.has(name);
    if (flags & XATTR_CREATE && has) fail(EEXIST);
    if (flags & XATTR_REPLACE && !has) fail(ENODATA);
    this.map.set(name, value.slice());
  }
  remove(name: ByteString): void { if (!this.map.delete(name)) fail(ENODATA); }
  list(): ByteString[] { return [...this.map.keys()]; }
  get bytes(): number { let n = 0; for (const [k, v] of this.map) n += k.length + v.length; return n; }
}
