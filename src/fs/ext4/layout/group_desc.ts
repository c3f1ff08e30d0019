/*
 * struct ext4_group_desc: one per block group, packed s_desc_size bytes apart in the group
 * descriptor table. 32 bytes without the 64bit feature; with it s_desc_size (64 or more) and the
 * _hi halves count. Getters read the halves verbatim; the combined accessors (blockBitmap,
 * inodeTable, ...) follow Linux's ext4_block_bitmap() and friends: the _hi half only when the
 * descriptor is at least EXT4_MIN_DESC_SIZE_64BIT bytes.
 */

export const EXT4_GROUP_DESC_SIZE_32 = 32;
export const EXT4_GROUP_DESC_SIZE_64 = 64;
/** offsetof(struct ext4_group_desc, bg_checksum) */
export const EXT4_BG_CHECKSUM_OFFSET = 0x1e;

export class Ext4GroupDescView {
  readonly bytes: Uint8Array;
  private readonly v: DataView;
  /** s_desc_size in effect (32 without 64bit). */
  readonly descSize: number;

  constructor(bytes: Uint8Array, descSize: number) {
    if (bytes.length < descSize || descSize < EXT4_GROUP_DESC_SIZE_32) throw new RangeError(`ext4_group_desc needs ${descSize} bytes`);
    this.bytes = bytes;
    this.descSize = descSize;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, descSize);
  }

  private u16(o: number): number { return this.v.getUint16(o, true); }
  private u32(o: number): number { return this.v.getUint32(o, true); }
  private get wide(): boolean { return this.descSize >= EXT4_GROUP_DESC_SIZE_64; }
  private hi16(o: number): number { return this.wide ? this.u16(o) : 0; }
  private hi32(o: number): number { return this.wide ? this.u32(o) : 0; }

  get bg_block_bitmap_lo(): number { return this.u32(0x00); }
  get bg_inode_bitmap_lo(): number { return this.u32(0x04); }
  get bg_inode_table_lo(): number { return this.u32(0x08); }
  get bg_free_blocks_count_lo(): number { return this.u16(0x0c); }
  get bg_free_inodes_count_lo(): number { return this.u16(0x0e); }
  get bg_used_dirs_count_lo(): number { return this.u16(0x10); }
  get bg_flags(): number { return this.u16(0x12); }
  get bg_exclude_bitmap_lo(): number { return this.u32(0x14); }
  get bg_block_bitmap_csum_lo(): number { return this.u16(0x18); }
  get bg_inode_bitmap_csum_lo(): number { return this.u16(0x1a); }
  get bg_itable_unused_lo(): number { return this.u16(0x1c); }
  get bg_checksum(): number { return this.u16(EXT4_BG_CHECKSUM_OFFSET); }
  get bg_block_bitmap_hi(): number { return this.hi32(0x20); }
  get bg_inode_bitmap_hi(): number { return this.hi32(0x24); }
  get bg_inode_table_hi(): number { return this.hi32(0x28); }
  get bg_free_blocks_count_hi(): number { return this.hi16(0x2c); }
  get bg_free_inodes_count_hi(): number { return this.hi16(0x2e); }
  get bg_used_dirs_count_hi(): number { return this.hi16(0x30); }
  get bg_itable_unused_hi(): number { return this.hi16(0x32); }
  get bg_exclude_bitmap_hi(): number { return this.hi32(0x34); }
  get bg_block_bitmap_csum_hi(): number { return this.hi16(0x38); }
  get bg_inode_bitmap_csum_hi(): number { return this.hi16(0x3a); }
  get bg_reserved(): number { return this.hi32(0x3c); }

  get blockBitmap(): number { return this.bg_block_bitmap_lo + this.bg_block_bitmap_hi * 2 ** 32; }
  get inodeBitmap(): number { return this.bg_inode_bitmap_lo + this.bg_inode_bitmap_hi * 2 ** 32; }
  get inodeTable(): number { return this.bg_inode_table_lo + this.bg_inode_table_hi * 2 ** 32; }
  get freeBlocksCount(): number { return this.bg_free_blocks_count_lo + this.bg_free_blocks_count_hi * 65536; }
  get freeInodesCount(): number { return this.bg_free_inodes_count_lo + this.bg_free_inodes_count_hi * 65536; }
  get usedDirsCount(): number { return this.bg_used_dirs_count_lo + this.bg_used_dirs_count_hi * 65536; }
  get itableUnused(): number { return this.bg_itable_unused_lo + this.bg_itable_unused_hi * 65536; }
}
