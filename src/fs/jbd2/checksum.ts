/*
 * The journal's checksums.
 *
 * v2/v3 (INCOMPAT_CSUM_V2/V3, what mkfs.ext4 with metadata_csum gives): crc32c, Linux's raw
 * convention (seed in, no final inversion; the ext4 convention of src/lib/crc32c.ts). The seed of
 * every metadata checksum is j_csum_seed = crc32c(~0, s_uuid); a block's own checksum field is
 * zeroed while it is computed:
 *   - superblock: crc32c(~0, the 1024-byte superblock) in s_checksum;
 *   - descriptor and revoke blocks: crc32c(seed, block) in the 4-byte tail;
 *   - commit blocks: crc32c(seed, block) in h_chksum[0];
 *   - data blocks: crc32c(crc32c(seed, be32 tid), block) in their tag (v3: 32 bits; v2: low 16).
 * v1 (COMPAT_CHECKSUM, the old journal_checksum): one crc32_be, seeded ~0, over every descriptor
 * and data block of a transaction, stored in the commit block with type CRC32 and size 4.
 * crc32_be is the MSB-first CRC-32 (polynomial 0x04c11db7), also with no inversions.
 */
import { crc32c } from '../../lib/crc32c.js';
import {
  JOURNAL_SUPERBLOCK_SIZE, S_CHECKSUM, S_UUID, JBD2_BLOCK_TAIL_SIZE, COMMIT_CHKSUM,
  COMMIT_HEADER_SIZE, be32,
} from './layout.js';

/** crc32c over a range with the 4 bytes at `hole` counted as zeros. */
function crc32cWithHole(seed: number, b: Uint8Array, start: number, end: number, hole: number): number {
  let c = crc32c(seed, b, start, hole);
  c = crc32c(c, ZERO4, 0, 4);
  return crc32c(c, b, hole + 4, end) >>> 0;
}
const ZERO4 = new Uint8Array(4);

/** jbd2_superblock_csum(). */
export function superblockCsum(sb: Uint8Array): number {
  return crc32cWithHole(0xffffffff, sb, 0, JOURNAL_SUPERBLOCK_SIZE, S_CHECKSUM);
}

/** j_csum_seed. */
export function csumSeed(sb: Uint8Array): number {
  return crc32c(0xffffffff, sb, S_UUID, S_UUID + 16) >>> 0;
}

/** jbd2_descriptor_block_csum_verify() for descriptor and revoke blocks. */
export function descriptorBlockCsumOk(seed: number, b: Uint8Array): boolean {
  const tail = b.length - JBD2_BLOCK_TAIL_SIZE;
  return be32(b, tail) === crc32cWithHole(seed, b, 0, b.length, tail);
}

/** The v2/v3 checksum a descriptor or revoke block should carry (test fixtures build with it). */
export function descriptorBlockCsum(seed: number, b: Uint8Array): number {
  return crc32cWithHole(seed, b, 0, b.length, b.length - JBD2_BLOCK_TAIL_SIZE);
}

/** The v2/v3 checksum of a commit block (h_chksum[0] zeroed). */
export function commitBlockCsum(seed: number, b: Uint8Array): number {
  return crc32cWithHole(seed, b, 0, b.length, COMMIT_CHKSUM);
}

/**
 * The checksum of a commit block of which only the commit header reached the disk, the rest of
 * the block reading as zeros (jbd2_commit_block_csum_verify_partial: a torn write of the first
 * sector; Linux accepts it).
 */
export function partialCommitBlockCsum(seed: number, b: Uint8Array): number {
  const tmp = new Uint8Array(b.length);
  tmp.set(b.subarray(0, COMMIT_HEADER_SIZE));
  return crc32cWithHole(seed, tmp, 0, tmp.length, COMMIT_CHKSUM);
}

/** The per-block checksum of a data block of transaction `tid` (v3 keeps 32 bits, v2 the low 16). */
export function blockTagCsum(seed: number, tid: number, data: Uint8Array): number {
  const seq = new Uint8Array(4);
  seq[0] = tid >>> 24; seq[1] = tid >>> 16; seq[2] = tid >>> 8; seq[3] = tid;
  return crc32c(crc32c(seed, seq, 0, 4), data, 0, data.length) >>> 0;
}

const CRC32_BE_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Linux's crc32_be(crc, p, len): MSB-first CRC-32, no pre- or post-inversion. */
export function crc32Be(crc: number, b: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < b.length; i++) c = ((c << 8) ^ CRC32_BE_TABLE[((c >>> 24) ^ b[i]!) & 0xff]!) >>> 0;
  return c;
}
