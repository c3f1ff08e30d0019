/*
 * ext2, ext3 and ext4 through one driver (as Linux's ext4 module serves all three).
 *
 * ext4Initcall registers the three filesystem types, each needing a block device: mount(2)
 * hands the device to ext4FillSuper (super.ts), which checks the on-disk superblock against
 * what the requested type may contain, replays a dirty journal when the device is writable, and
 * returns a superblock whose root dentry is inode 2. A writable request becomes a read-write
 * mount when super_write.ts supports the filesystem (journal through jbd2, data=ordered);
 * otherwise the mount is read-only and writes fail with EROFS.
 *
 * Map of the driver (Linux's file names): layout/ (on-disk records), ext4.ts (shared Ext4Sb and
 * Ext4Inode), super.ts (mount, statfs), inode.ts (iget), extents.ts and indirect.ts (block
 * mapping), file.ts (regular file reads), dir.ts, htree.ts, hash.ts, casefold.ts, namei via
 * dir.ts, symlink.ts, xattr.ts, inline.ts (directories, names, links, attributes); writing:
 * super_write.ts (rw mount, sync, umount), jbd.ts (handles, metadata overlay), balloc.ts (block
 * and inode bitmaps), inode_write.ts (inodes, data, truncate, evict), extents_write.ts and
 * indirect_write.ts (mapping changes), namei_write.ts (create, mkdir, link, unlink, rmdir,
 * rename, htree splits), xattr_write.ts (setxattr, removexattr, POSIX ACLs), fallocate.ts
 * (preallocation, punch, zero range), orphan.ts (the orphan list).
 */
import { FS_REQUIRES_DEV, type FileSystemType, type MountRequest, type Vfs } from '../vfs/index.js';
import { ext4FillSuper } from './super.js';

export { Ext4Sb, Ext4Inode, ext4Error, ext4Msg, type BlockMapping, type Ext4MountOptions } from './ext4.js';
export { ext4FillSuper, parseOptions as ext4ParseOptions, formatUuid, superblockCsum, groupDescCsum } from './super.js';
export { mkfsExt4, type MkfsOptions as Ext4MkfsOptions, type MkfsSummary as Ext4MkfsSummary, type MkfsDevice } from './mkfs/index.js';
export { ext4Iget, ext4DecodeExtraTime, ext4InodeCsum } from './inode.js';
export * as ext4Layout from './layout/index.js';

/** One of the three types; they share the driver and differ in the features they accept. */
export function createExt4Type(name: 'ext2' | 'ext3' | 'ext4'): FileSystemType {
  const type: FileSystemType = {
    name,
    fsFlags: FS_REQUIRES_DEV,
    mount: (req: MountRequest) => ext4FillSuper(type, req),
  };
  return type;
}

/** Register ext4, ext3 and ext2 (Linux registers ext4 first; probing tries types in order). */
export function ext4Init(vfs: Vfs): void {
  for (const name of ['ext4', 'ext3', 'ext2'] as const) vfs.registerFilesystem(createExt4Type(name));
}

/** The initcall src/lkl.ts lists (shaped as the kernel's Initcall; ext4 cannot import the kernel). */
export const ext4Initcall = {
  name: 'ext4',
  fn: (k: { vfs: Vfs }): void => ext4Init(k.vfs),
};
