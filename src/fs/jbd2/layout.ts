/*
 * jbd2 on-disk layout: the journal superblock, the block header every journal metadata block
 * starts with, descriptor tags, commit headers and revoke headers (include/linux/jbd2.h).
 *
 * Everything in the journal is big-endian, unlike ext4 itself. A journal is an array of blocks
 * of the filesystem's block size, numbered 0..s_maxlen-1 ("journal blocks"; for an inode journal,
 * the inode's logical blocks). Block 0 is the superblock; the circular log lives in
 * s_first..s_maxlen-1 (minus the fast-commit area at the end when FAST_COMMIT is set).
 *
 * A transaction in the log is: one or more descriptor blocks, each followed by the data blocks
 * its tags describe, revoke blocks anywhere in it, and one commit block. Every metadata block
 * starts with journal_header_t { h_magic, h_blocktype, h_sequence }, h_sequence being the
 * transaction id (tid, a wrapping u32). Data blocks whose first four bytes would read as the magic
 * are stored with those bytes zeroed and the tag flag ESCAPE set.
 *
 * Field names are Linux's, kept verbatim in this file only; accessors take the raw block.
 */

export const JBD2_MAGIC_NUMBER = 0xc03b3998;

/* h_blocktype */
export const JBD2_DESCRIPTOR_BLOCK = 1;
export const JBD2_COMMIT_BLOCK = 2;
export const JBD2_SUPERBLOCK_V1 = 3;
export const JBD2_SUPERBLOCK_V2 = 4;
export const JBD2_REVOKE_BLOCK = 5;
export const JBD2_FC_BLOCK = 6;

/* s_feature_compat */
export const JBD2_FEATURE_COMPAT_CHECKSUM = 0x1;
/* s_feature_incompat */
export const JBD2_FEATURE_INCOMPAT_REVOKE = 0x1;
export const JBD2_FEATURE_INCOMPAT_64BIT = 0x2;
export const JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT = 0x4;
export const JBD2_FEATURE_INCOMPAT_CSUM_V2 = 0x8;
export const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x10;
export const JBD2_FEATURE_INCOMPAT_FAST_COMMIT = 0x20;

export const JBD2_KNOWN_COMPAT_FEATURES = JBD2_FEATURE_COMPAT_CHECKSUM;
export const JBD2_KNOWN_ROCOMPAT_FEATURES = 0;
export const JBD2_KNOWN_INCOMPAT_FEATURES =
  JBD2_FEATURE_INCOMPAT_REVOKE | JBD2_FEATURE_INCOMPAT_64BIT | JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT |
  JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3 | JBD2_FEATURE_INCOMPAT_FAST_COMMIT;

/* s_checksum_type and commit h_chksum_type */
export const JBD2_CRC32_CHKSUM = 1;
export const JBD2_MD5_CHKSUM = 2;
export const JBD2_SHA1_CHKSUM = 3;
export const JBD2_CRC32C_CHKSUM = 4;
export const JBD2_CRC32_CHKSUM_SIZE = 4;

/* Descriptor tag t_flags */
export const JBD2_FLAG_ESCAPE = 1;
export const JBD2_FLAG_SAME_UUID = 2;
export const JBD2_FLAG_DELETED = 4;
export const JBD2_FLAG_LAST_TAG = 8;

/** A journal smaller than this is refused. */
export const JBD2_MIN_JOURNAL_BLOCKS = 1024;
/** Fast-commit area size when s_num_fc_blks is 0. */
export const JBD2_DEFAULT_FAST_COMMIT_BLOCKS = 256;

/* journal_header_t: 12 bytes */
export const JOURNAL_HEADER_SIZE = 12;
export const H_MAGIC = 0;
export const H_BLOCKTYPE = 4;
export const H_SEQUENCE = 8;

/* journal_superblock_t: 1024 bytes, all checksummed */
export const JOURNAL_SUPERBLOCK_SIZE = 1024;
export const S_BLOCKSIZE = 0x0c;
export const S_MAXLEN = 0x10;
export const S_FIRST = 0x14;
export const S_SEQUENCE = 0x18;
export const S_START = 0x1c;
export const S_ERRNO = 0x20;
export const S_FEATURE_COMPAT = 0x24;
export const S_FEATURE_INCOMPAT = 0x28;
export const S_FEATURE_RO_COMPAT = 0x2c;
export const S_UUID = 0x30; /* 16 bytes */
export const S_NR_USERS = 0x40;
export const S_DYNSUPER = 0x44;
export const S_MAX_TRANSACTION = 0x48;
export const S_MAX_TRANS_DATA = 0x4c;
export const S_CHECKSUM_TYPE = 0x50; /* u8, then 3 bytes of padding */
export const S_NUM_FC_BLKS = 0x54;
export const S_HEAD = 0x58;
export const S_CHECKSUM = 0xfc;
export const S_USERS = 0x100; /* 16 * 48 bytes */

/* struct jbd2_journal_block_tail: the last 4 bytes of descriptor and revoke blocks (csum v2/v3) */
export const JBD2_BLOCK_TAIL_SIZE = 4;

/* journal_block_tag3_t (csum v3): 16 bytes */
export const TAG3_BLOCKNR = 0;
export const TAG3_FLAGS = 4; /* be32 */
export const TAG3_BLOCKNR_HIGH = 8;
export const TAG3_CHECKSUM = 12; /* be32 */
export const TAG3_SIZE = 16;

/* journal_block_tag_t (no csum, or csum v2): 12 bytes, t_blocknr_high only with 64BIT */
export const TAG_BLOCKNR = 0;
export const TAG_CHECKSUM = 4; /* be16, csum v2 */
export const TAG_FLAGS = 6; /* be16; also the low half of tag3's be32 t_flags */
export const TAG_BLOCKNR_HIGH = 8;
export const TAG_SIZE = 12;

/** A tag without SAME_UUID is followed by a 16-byte UUID. */
export const TAG_UUID_SIZE = 16;

/* struct commit_header */
export const COMMIT_CHKSUM_TYPE = 0x0c; /* u8 */
export const COMMIT_CHKSUM_SIZE = 0x0d; /* u8 */
export const COMMIT_CHKSUM = 0x10; /* be32[8]; h_chksum[0] carries the crc32 (v1) or crc32c (v2/v3) */
export const COMMIT_SEC = 0x30; /* be64 */
export const COMMIT_NSEC = 0x38; /* be32 */
export const COMMIT_HEADER_SIZE = 0x3c;

/* jbd2_journal_revoke_header_t */
export const REVOKE_R_COUNT = 0x0c; /* be32: bytes used in the block, header included */
export const REVOKE_HEADER_SIZE = 0x10;

export function be32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function be16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function putBe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24; b[off + 1] = v >>> 16; b[off + 2] = v >>> 8; b[off + 3] = v;
}

export function putBe16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8; b[off + 1] = v;
}

/** A 64-bit big-endian value as a JS number (exact up to 2^53; commit times and block numbers fit). */
export function be64(b: Uint8Array, off: number): number {
  return be32(b, off) * 0x100000000 + be32(b, off + 4);
}

/** journal_tag_bytes(): the size of one tag, UUID not counted. */
export function journalTagBytes(incompat: number): number {
  if (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) return TAG3_SIZE;
  let sz = TAG_SIZE;
  if (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) sz += 2;
  return incompat & JBD2_FEATURE_INCOMPAT_64BIT ? sz : sz - 4;
}
