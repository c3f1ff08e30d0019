/*
 * struct ext4_super_block: 1024 bytes at byte offset 1024 of the device, little-endian.
 *
 * A view with one getter per on-disk field, named as in Linux's fs/ext4/ext4.h, plus the few
 * combined values (64-bit block counts) every user needs. The bytes are the caller's: the view
 * reads them on every access, so it sees a later in-place update (after journal replay).
 * Setters exist only for what the read-only driver ever writes back: the feature words after
 * recovery and the checksum.
 */
import { EXT4_FEATURE_INCOMPAT_64BIT } from './features.js';

export const EXT4_SUPER_BLOCK_SIZE = 1024;
/** Byte offset of the primary superblock on the device. */
export const EXT4_SUPER_BLOCK_OFFSET = 1024;
/** offsetof(struct ext4_super_block, s_checksum) */
export const EXT4_S_CHECKSUM_OFFSET = 0x3fc;

export class Ext4SuperBlockView {
  readonly bytes: Uint8Array;
  private readonly v: DataView;

  constructor(bytes: Uint8Array) {
    if (bytes.length < EXT4_SUPER_BLOCK_SIZE) throw new RangeError('ext4_super_block needs 1024 bytes');
    this.bytes = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, EXT4_SUPER_BLOCK_SIZE);
  }

  private u8(o: number): number { return this.v.getUint8(o); }
  private u16(o: number): number { return this.v.getUint16(o, true); }
  private u32(o: number): number { return this.v.getUint32(o, true); }
  private u64(o: number): number { return this.u32(o) + this.u32(o + 4) * 2 ** 32; }
  private raw(o: number, n: number): Uint8Array { return this.bytes.subarray(o, o + n); }

  get s_inodes_count(): number { return this.u32(0x00); }
  get s_blocks_count_lo(): number { return this.u32(0x04); }
  get s_r_blocks_count_lo(): number { return this.u32(0x08); }
  get s_free_blocks_count_lo(): number { return this.u32(0x0c); }
  get s_free_inodes_count(): number { return this.u32(0x10); }
  get s_first_data_block(): number { return this.u32(0x14); }
  get s_log_block_size(): number { return this.u32(0x18); }
  get s_log_cluster_size(): number { return this.u32(0x1c); }
  get s_blocks_per_group(): number { return this.u32(0x20); }
  get s_clusters_per_group(): number { return this.u32(0x24); }
  get s_inodes_per_group(): number { return this.u32(0x28); }
  get s_mtime(): number { return this.u32(0x2c); }
  get s_wtime(): number { return this.u32(0x30); }
  get s_mnt_count(): number { return this.u16(0x34); }
  get s_max_mnt_count(): number { return this.v.getInt16(0x36, true); }
  get s_magic(): number { return this.u16(0x38); }
  get s_state(): number { return this.u16(0x3a); }
  get s_errors(): number { return this.u16(0x3c); }
  get s_minor_rev_level(): number { return this.u16(0x3e); }
  get s_lastcheck(): number { return this.u32(0x40); }
  get s_checkinterval(): number { return this.u32(0x44); }
  get s_creator_os(): number { return this.u32(0x48); }
  get s_rev_level(): number { return this.u32(0x4c); }
  get s_def_resuid(): number { return this.u16(0x50); }
  get s_def_resgid(): number { return this.u16(0x52); }
  get s_first_ino(): number { return this.u32(0x54); }
  get s_inode_size(): number { return this.u16(0x58); }
  get s_block_group_nr(): number { return this.u16(0x5a); }
  get s_feature_compat(): number { return this.u32(0x5c); }
  get s_feature_incompat(): number { return this.u32(0x60); }
  set s_feature_incompat(x: number) { this.v.setUint32(0x60, x >>> 0, true); }
  get s_feature_ro_compat(): number { return this.u32(0x64); }
  get s_uuid(): Uint8Array { return this.raw(0x68, 16); }
  get s_volume_name(): Uint8Array { return this.raw(0x78, 16); }
  get s_last_mounted(): Uint8Array { return this.raw(0x88, 64); }
  get s_algorithm_usage_bitmap(): number { return this.u32(0xc8); }
  get s_prealloc_blocks(): number { return this.u8(0xcc); }
  get s_prealloc_dir_blocks(): number { return this.u8(0xcd); }
  get s_reserved_gdt_blocks(): number { return this.u16(0xce); }
  get s_journal_uuid(): Uint8Array { return this.raw(0xd0, 16); }
  get s_journal_inum(): number { return this.u32(0xe0); }
  get s_journal_dev(): number { return this.u32(0xe4); }
  get s_last_orphan(): number { return this.u32(0xe8); }
  /** s_hash_seed[4] as four 32-bit words. */
  get s_hash_seed(): number[] { return [0, 1, 2, 3].map((i) => this.u32(0xec + 4 * i)); }
  get s_def_hash_version(): number { return this.u8(0xfc); }
  get s_jnl_backup_type(): number { return this.u8(0xfd); }
  get s_desc_size(): number { return this.u16(0xfe); }
  get s_default_mount_opts(): number { return this.u32(0x100); }
  get s_first_meta_bg(): number { return this.u32(0x104); }
  get s_mkfs_time(): number { return this.u32(0x108); }
  /** s_jnl_blocks[17]: backup of the journal inode's i_block[] and i_size. */
  get s_jnl_blocks(): number[] { return Array.from({ length: 17 }, (_, i) => this.u32(0x10c + 4 * i)); }
  get s_blocks_count_hi(): number { return this.u32(0x150); }
  get s_r_blocks_count_hi(): number { return this.u32(0x154); }
  get s_free_blocks_count_hi(): number { return this.u32(0x158); }
  get s_min_extra_isize(): number { return this.u16(0x15c); }
  get s_want_extra_isize(): number { return this.u16(0x15e); }
  get s_flags(): number { return this.u32(0x160); }
  get s_raid_stride(): number { return this.u16(0x164); }
  get s_mmp_update_interval(): number { return this.u16(0x166); }
  get s_mmp_block(): number { return this.u64(0x168); }
  get s_raid_stripe_width(): number { return this.u32(0x170); }
  get s_log_groups_per_flex(): number { return this.u8(0x174); }
  get s_checksum_type(): number { return this.u8(0x175); }
  get s_encryption_level(): number { return this.u8(0x176); }
  get s_kbytes_written(): number { return this.u64(0x178); }
  get s_snapshot_inum(): number { return this.u32(0x180); }
  get s_snapshot_id(): number { return this.u32(0x184); }
  get s_snapshot_r_blocks_count(): number { return this.u64(0x188); }
  get s_snapshot_list(): number { return this.u32(0x190); }
  get s_error_count(): number { return this.u32(0x194); }
  get s_first_error_time(): number { return this.u32(0x198); }
  get s_first_error_ino(): number { return this.u32(0x19c); }
  get s_first_error_block(): number { return this.u64(0x1a0); }
  get s_first_error_func(): Uint8Array { return this.raw(0x1a8, 32); }
  get s_first_error_line(): number { return this.u32(0x1c8); }
  get s_last_error_time(): number { return this.u32(0x1cc); }
  get s_last_error_ino(): number { return this.u32(0x1d0); }
  get s_last_error_line(): number { return this.u32(0x1d4); }
  get s_last_error_block(): number { return this.u64(0x1d8); }
  get s_last_error_func(): Uint8Array { return this.raw(0x1e0, 32); }
  get s_mount_opts(): Uint8Array { return this.raw(0x200, 64); }
  get s_usr_quota_inum(): number { return this.u32(0x240); }
  get s_grp_quota_inum(): number { return this.u32(0x244); }
  get s_overhead_clusters(): number { return this.u32(0x248); }
  /** s_backup_bgs[2]: the two groups holding backups under sparse_super2. */
  get s_backup_bgs(): [number, number] { return [this.u32(0x24c), this.u32(0x250)]; }
  get s_encrypt_algos(): Uint8Array { return this.raw(0x254, 4); }
  get s_encrypt_pw_salt(): Uint8Array { return this.raw(0x258, 16); }
  get s_lpf_ino(): number { return this.u32(0x268); }
  get s_prj_quota_inum(): number { return this.u32(0x26c); }
  get s_checksum_seed(): number { return this.u32(0x270); }
  get s_wtime_hi(): number { return this.u8(0x274); }
  get s_mtime_hi(): number { return this.u8(0x275); }
  get s_mkfs_time_hi(): number { return this.u8(0x276); }
  get s_lastcheck_hi(): number { return this.u8(0x277); }
  get s_first_error_time_hi(): number { return this.u8(0x278); }
  get s_last_error_time_hi(): number { return this.u8(0x279); }
  get s_first_error_errcode(): number { return this.u8(0x27a); }
  get s_last_error_errcode(): number { return this.u8(0x27b); }
  get s_encoding(): number { return this.u16(0x27c); }
  get s_encoding_flags(): number { return this.u16(0x27e); }
  get s_orphan_file_inum(): number { return this.u32(0x280); }
  get s_checksum(): number { return this.u32(EXT4_S_CHECKSUM_OFFSET); }
  set s_checksum(x: number) { this.v.setUint32(EXT4_S_CHECKSUM_OFFSET, x >>> 0, true); }

  private get is64(): boolean { return (this.s_feature_incompat & EXT4_FEATURE_INCOMPAT_64BIT) !== 0; }
  /** ext4_blocks_count(): the _hi half counts only with the 64bit feature. */
  get blocksCount(): number { return this.s_blocks_count_lo + (this.is64 ? this.s_blocks_count_hi * 2 ** 32 : 0); }
  /** ext4_r_blocks_count() */
  get rBlocksCount(): number { return this.s_r_blocks_count_lo + (this.is64 ? this.s_r_blocks_count_hi * 2 ** 32 : 0); }
  /** ext4_free_blocks_count() */
  get freeBlocksCount(): number { return this.s_free_blocks_count_lo + (this.is64 ? this.s_free_blocks_count_hi * 2 ** 32 : 0); }
}
