/*
 * The extent tree's on-disk records (fs/ext4/ext4_extents.h). Every tree node, the root in the
 * inode's i_block[] included, starts with a 12-byte header followed by eh_max 12-byte entries:
 * leaves (eh_depth 0) hold struct ext4_extent, index nodes hold struct ext4_extent_idx. A node
 * in its own block ends with struct ext4_extent_tail (a crc32c) right after eh_max entries.
 *
 * ee_len above EXT_INIT_MAX_LEN (32768) marks an unwritten (preallocated) extent whose length is
 * ee_len - 32768; such ranges read as zeros.
 */

export const EXT4_EXT_MAGIC = 0xf30a;
export const EXT4_EXTENT_HEADER_SIZE = 12;
export const EXT4_EXTENT_SIZE = 12;
export const EXT4_EXTENT_IDX_SIZE = 12;
export const EXT4_EXTENT_TAIL_SIZE = 4;
export const EXT_INIT_MAX_LEN = 1 << 15;
export const EXT_UNWRITTEN_MAX_LEN = EXT_INIT_MAX_LEN - 1;
/** Linux refuses trees deeper than this (EXT4_MAX_EXTENT_DEPTH). */
export const EXT4_MAX_EXTENT_DEPTH = 5;

function view(b: Uint8Array, off: number, size: number): DataView {
  if (off < 0 || off + size > b.length) throw new RangeError('extent record out of range');
  return new DataView(b.buffer, b.byteOffset + off, size);
}

export class Ext4ExtentHeaderView {
  private readonly v: DataView;
  constructor(bytes: Uint8Array, offset = 0) { this.v = view(bytes, offset, EXT4_EXTENT_HEADER_SIZE); }
  get eh_magic(): number { return this.v.getUint16(0, true); }
  get eh_entries(): number { return this.v.getUint16(2, true); }
  get eh_max(): number { return this.v.getUint16(4, true); }
  get eh_depth(): number { return this.v.getUint16(6, true); }
  get eh_generation(): number { return this.v.getUint32(8, true); }
}

export class Ext4ExtentView {
  private readonly v: DataView;
  constructor(bytes: Uint8Array, offset = 0) { this.v = view(bytes, offset, EXT4_EXTENT_SIZE); }
  get ee_block(): number { return this.v.getUint32(0, true); }
  get ee_len(): number { return this.v.getUint16(4, true); }
  get ee_start_hi(): number { return this.v.getUint16(6, true); }
  get ee_start_lo(): number { return this.v.getUint32(8, true); }
  /** ext4_ext_pblock() */
  get pblock(): number { return this.ee_start_lo + this.ee_start_hi * 2 ** 32; }
  /** ext4_ext_is_unwritten() */
  get unwritten(): boolean { return this.ee_len > EXT_INIT_MAX_LEN; }
  /** ext4_ext_get_actual_len() */
  get actualLen(): number { const l = this.ee_len; return l <= EXT_INIT_MAX_LEN ? l : l - EXT_INIT_MAX_LEN; }
}

export class Ext4ExtentIdxView {
  private readonly v: DataView;
  constructor(bytes: Uint8Array, offset = 0) { this.v = view(bytes, offset, EXT4_EXTENT_IDX_SIZE); }
  get ei_block(): number { return this.v.getUint32(0, true); }
  get ei_leaf_lo(): number { return this.v.getUint32(4, true); }
  get ei_leaf_hi(): number { return this.v.getUint16(8, true); }
  get ei_unused(): number { return this.v.getUint16(10, true); }
  /** ext4_idx_pblock() */
  get leaf(): number { return this.ei_leaf_lo + this.ei_leaf_hi * 2 ** 32; }
}

export class Ext4ExtentTailView {
  private readonly v: DataView;
  constructor(bytes: Uint8Array, offset: number) { this.v = view(bytes, offset, EXT4_EXTENT_TAIL_SIZE); }
  get et_checksum(): number { return this.v.getUint32(0, true); }
}

/** EXT4_EXTENT_TAIL_OFFSET(hdr): where the tail sits in a node with eh_max entries. */
export function extentTailOffset(ehMax: number): number {
  return EXT4_EXTENT_HEADER_SIZE + EXT4_EXTENT_SIZE * ehMax;
}
