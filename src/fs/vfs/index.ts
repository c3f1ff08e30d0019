/*
 * The VFS: contracts for filesystems (inode, dentry, super, file) and the generic operations the
 * syscall layer calls. Grouped by concept; see each file's opening comment.
 */
export { Vfs, type VfsServices, type BlockDeviceResolver } from './vfs.js';
export { Inode, type InodeOperations, type InodeInit, type Iattr } from './inode.js';
export { Dentry, Dcache, dget, dput, dHashed, DENTRY_CHARGE, DCACHE_ON_LRU, DCACHE_REFERENCED, DCACHE_PINNED } from './dentry.js';
export {
  SuperBlock, type SuperOperations, type FileSystemType, type MountRequest,
  FS_REQUIRES_DEV, FS_BINARY_MOUNTDATA, FS_USERNS_MOUNT,
} from './super.js';
export {
  File, type FileOperations, type DirContext, openFlagsToFmode,
  FMODE_READ, FMODE_WRITE, FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE, FMODE_STREAM, FMODE_PATH,
  FMODE_ATOMIC_POS, FMODE_NOWAIT,
} from './file.js';
export {
  Mount, type Path, lookupMnt, followMounts, pathEqual,
  MNT_NOEXEC, MNT_NOSUID, MNT_NODEV, MNT_NOATIME, MNT_NODIRATIME, MNT_RELATIME, MNT_READONLY, MNT_NOSYMFOLLOW,
} from './mount.js';
export {
  pathLookup, pathLookupCached, pathLookupMaybe, pathParent, lookupChild, dPath, type NameiContext, type ParentLookup,
  LOOKUP_FOLLOW, LOOKUP_DIRECTORY, LOOKUP_EMPTY, LOOKUP_NO_SYMLINKS, LOOKUP_NO_MAGICLINKS,
  LOOKUP_NO_XDEV, LOOKUP_BENEATH, LOOKUP_IN_ROOT, MAXSYMLINKS, PATH_MAX, NAME_MAX,
  LAST_NORM, LAST_ROOT, LAST_DOT, LAST_DOTDOT,
} from './namei.js';
export {
  type FsContext, initOwner, dAdd, dDelete, isEmptyDir, maybeEvict,
  vfsMkdir, vfsMknod, vfsSymlink, vfsLink, vfsUnlink, vfsRmdir, vfsRename,
} from './namei_ops.js';
export {
  permissionErrno, inodePermission, ownerOrCapable, isStickyDenied, setattrPrepare,
  killSuidOnWrite, MAY_EXEC, MAY_WRITE, MAY_READ, MAY_APPEND, MAY_ACCESS, MAY_OPEN, MAY_CHDIR,
  FS_IMMUTABLE_FL, FS_APPEND_FL,
} from './permission.js';
export { doFilpOpen, openPath, fput, fileOpsFor, type OpenHow } from './open.js';
export { notifyChange, simpleSetattr, doChmod, doChown, doUtimes, doTruncate, checkFtruncate, vfsGetattr } from './attr.js';
export { vfsRead, vfsReadNow, vfsWrite, vfsLlseek, genericFileLlseek, iterateDir, touchAtime, MAX_RW_COUNT } from './read_write.js';
export {
  SimpleXattrs, xattrPermission, checkXattrName, XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX,
  XATTR_SECURITY_PREFIX, XATTR_SYSTEM_PREFIX,
} from './xattr.js';
export {
  FileLockContext, fcntlGetlk, fcntlSetlk, flockFile, flockTranslateCmd, locksRemovePosix, locksRemoveFile,
  inodeLocks, readFlock, writeFlock, flockRange, applyRange, posixLock, OFFSET_MAX, LOCK_MAND, FLOCK_SIZE,
  type PosixLock, type FlockLock, type Flock, type LockOwner, type LockWaitAbort,
} from './locks.js';
export { doMount, doUmount, attachMount, mountOptions, mountFlagsString, VFS_FLAG_OPTIONS, type MountArgs } from './namespace.js';
