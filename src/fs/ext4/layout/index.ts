/*
 * ext4's on-disk layout: views over the raw bytes with Linux's field names, and the constants
 * (feature flags, inode flags, special inode numbers). Nothing here reads a device or keeps
 * state; src/fs/ext4/*.ts interpret these records.
 */
export * from './features.js';
export {
  Ext4SuperBlockView, EXT4_SUPER_BLOCK_SIZE, EXT4_SUPER_BLOCK_OFFSET, EXT4_S_CHECKSUM_OFFSET,
} from './superblock.js';
export {
  Ext4GroupDescView, EXT4_GROUP_DESC_SIZE_32, EXT4_GROUP_DESC_SIZE_64, EXT4_BG_CHECKSUM_OFFSET,
} from './group_desc.js';
export {
  Ext4InodeView, EXT4_INODE_SIZE_FULL, I_BLOCK, I_BLOCK_SIZE, I_CHECKSUM_LO, I_CHECKSUM_HI,
  I_EXTRA_ISIZE, I_CTIME_EXTRA, I_MTIME_EXTRA, I_ATIME_EXTRA, I_CRTIME, I_CRTIME_EXTRA,
  I_VERSION_HI, I_PROJID,
} from './inode.js';
export {
  Ext4ExtentHeaderView, Ext4ExtentView, Ext4ExtentIdxView, Ext4ExtentTailView, extentTailOffset,
  EXT4_EXT_MAGIC, EXT4_EXTENT_HEADER_SIZE, EXT4_EXTENT_SIZE, EXT4_EXTENT_IDX_SIZE,
  EXT4_EXTENT_TAIL_SIZE, EXT_INIT_MAX_LEN, EXT_UNWRITTEN_MAX_LEN, EXT4_MAX_EXTENT_DEPTH,
} from './extent.js';
