/*
 * struct ext4_inode: the 128-byte "good old" inode plus the extra fields after it
 * (i_extra_isize bytes of them, up to s_inode_size). Linux osd1/osd2 unions are read in their
 * Linux (l_*) variant, the only one ext4 defines for modern images.
 *
 * An extra field exists in one inode only if it fits inside 128 + i_extra_isize
 * (EXT4_FITS_IN_INODE); fits() answers that, and callers must ask before reading the field.
 */

import { EXT4_GOOD_OLD_INODE_SIZE } from './features.js';

/** sizeof(struct ext4_inode) with every extra field Linux knows. */
export const EXT4_INODE_SIZE_FULL = 160;

/* Field offsets (offsetof(struct ext4_inode, ...)). */
export const I_MODE = 0x00, I_UID = 0x02, I_SIZE_LO = 0x04, I_ATIME = 0x08, I_CTIME = 0x0c,
  I_MTIME = 0x10, I_DTIME = 0x14, I_GID = 0x18, I_LINKS_COUNT = 0x1a, I_BLOCKS_LO = 0x1c,
  I_FLAGS = 0x20, I_VERSION_LO = 0x24, I_BLOCK = 0x28, I_GENERATION = 0x64, I_FILE_ACL_LO = 0x68,
  I_SIZE_HIGH = 0x6c, I_OBSO_FADDR = 0x70, I_BLOCKS_HIGH = 0x74, I_FILE_ACL_HIGH = 0x76,
  I_UID_HIGH = 0x78, I_GID_HIGH = 0x7a, I_CHECKSUM_LO = 0x7c, I_EXTRA_ISIZE = 0x80,
  I_CHECKSUM_HI = 0x82, I_CTIME_EXTRA = 0x84, I_MTIME_EXTRA = 0x88, I_ATIME_EXTRA = 0x8c,
  I_CRTIME = 0x90, I_CRTIME_EXTRA = 0x94, I_VERSION_HI = 0x98, I_PROJID = 0x9c;
/** Size of i_block[]: 15 32-bit words, holding block map, extent root, inline data or a link. */
export const I_BLOCK_SIZE = 60;

export class Ext4InodeView {
  readonly bytes: Uint8Array;
  private readonly v: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.length < EXT4_GOOD_OLD_INODE_SIZE) throw new RangeError('ext4_inode needs at least 128 bytes');
    this.bytes = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  private u16(o: number): number { return this.v.getUint16(o, true); }
  private u32(o: number): number { return this.v.getUint32(o, true); }

  get i_mode(): number { return this.u16(I_MODE); }
  get i_uid(): number { return this.u16(I_UID); }
  get i_size_lo(): number { return this.u32(I_SIZE_LO); }
  get i_atime(): number { return this.u32(I_ATIME); }
  get i_ctime(): number { return this.u32(I_CTIME); }
  get i_mtime(): number { return this.u32(I_MTIME); }
  get i_dtime(): number { return this.u32(I_DTIME); }
  get i_gid(): number { return this.u16(I_GID); }
  get i_links_count(): number { return this.u16(I_LINKS_COUNT); }
  get i_blocks_lo(): number { return this.u32(I_BLOCKS_LO); }
  get i_flags(): number { return this.u32(I_FLAGS); }
  /** osd1.linux1.l_i_version */
  get l_i_version(): number { return this.u32(I_VERSION_LO); }
  /** i_block[i], 0 <= i < 15 */
  i_block(i: number): number { return this.u32(I_BLOCK + 4 * i); }
  /** The 60 bytes of i_block[] (an extent root, inline data, a fast symlink). */
  get i_block_bytes(): Uint8Array { return this.bytes.subarray(I_BLOCK, I_BLOCK + I_BLOCK_SIZE); }
  get i_generation(): number { return this.u32(I_GENERATION); }
  get i_file_acl_lo(): number { return this.u32(I_FILE_ACL_LO); }
  get i_size_high(): number { return this.u32(I_SIZE_HIGH); }
  get i_obso_faddr(): number { return this.u32(I_OBSO_FADDR); }
  get l_i_blocks_high(): number { return this.u16(I_BLOCKS_HIGH); }
  get l_i_file_acl_high(): number { return this.u16(I_FILE_ACL_HIGH); }
  get l_i_uid_high(): number { return this.u16(I_UID_HIGH); }
  get l_i_gid_high(): number { return this.u16(I_GID_HIGH); }
  get l_i_checksum_lo(): number { return this.u16(I_CHECKSUM_LO); }

  /** Is the on-disk inode large enough to carry i_extra_isize at all? */
  get hasExtra(): boolean { return this.bytes.length > EXT4_GOOD_OLD_INODE_SIZE; }
  get i_extra_isize(): number { return this.hasExtra ? this.u16(I_EXTRA_ISIZE) : 0; }
  get i_checksum_hi(): number { return this.u16(I_CHECKSUM_HI); }
  get i_ctime_extra(): number { return this.u32(I_CTIME_EXTRA); }
  get i_mtime_extra(): number { return this.u32(I_MTIME_EXTRA); }
  get i_atime_extra(): number { return this.u32(I_ATIME_EXTRA); }
  get i_crtime(): number { return this.u32(I_CRTIME); }
  get i_crtime_extra(): number { return this.u32(I_CRTIME_EXTRA); }
  get i_version_hi(): number { return this.u32(I_VERSION_HI); }
  get i_projid(): number { return this.u32(I_PROJID); }

  /**
   * EXT4_FITS_IN_INODE: does the field at `offset` of `size` bytes lie within
   * 128 + extraIsize? (extraIsize is the validated i_extra_isize.)
   */
  static fits(extraIsize: number, offset: number, size: number): boolean {
    return offset + size <= EXT4_GOOD_OLD_INODE_SIZE + extraIsize;
  }
}
