/*
 * The log format a commit writes (fs/jbd2/commit.c, fs/jbd2/revoke.c): the blocks of one
 * transaction, in the order they go to the log.
 *
 *   revoke blocks     header (REVOKE, tid), r_count = bytes used, then one be32 block number per
 *                     record (be64 with INCOMPAT_64BIT), csum tail with v2/v3;
 *   descriptor block  header (DESCRIPTOR, tid), then tags: the home block number, flags and (v2/v3)
 *                     the checksum of the log copy; the first tag of each descriptor is followed by
 *                     the journal UUID, later ones carry SAME_UUID; the last one LAST_TAG; csum tail;
 *   metadata copies   one per tag, right after its descriptor; a copy whose first four bytes read as
 *                     the jbd2 magic is logged with them zeroed and its tag flagged ESCAPE, so a
 *                     replay scan never mistakes it for a journal block;
 *   commit block      header (COMMIT, tid), commit time, checksum (v1: crc32_be of every descriptor
 *                     and copy of the transaction; v2/v3: crc32c of the block, type/size left 0).
 *
 * Everything here is pure: the caller (transaction.ts) places the blocks in the circular log and
 * issues the writes and flushes. Revoke blocks come first, as Linux writes them before the buffers.
 */
import type { Timespec } from '../../uapi/stat.js';
import {
  JBD2_MAGIC_NUMBER, JBD2_DESCRIPTOR_BLOCK, JBD2_COMMIT_BLOCK, JBD2_REVOKE_BLOCK,
  JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_CSUM_V2, JBD2_FEATURE_INCOMPAT_CSUM_V3,
  JBD2_FEATURE_COMPAT_CHECKSUM, JBD2_CRC32_CHKSUM, JBD2_CRC32_CHKSUM_SIZE, JBD2_FLAG_ESCAPE,
  JBD2_FLAG_SAME_UUID, JBD2_FLAG_LAST_TAG, JBD2_BLOCK_TAIL_SIZE, JOURNAL_HEADER_SIZE, H_MAGIC,
  H_BLOCKTYPE, H_SEQUENCE, TAG3_BLOCKNR, TAG3_FLAGS, TAG3_BLOCKNR_HIGH, TAG3_CHECKSUM, TAG_BLOCKNR,
  TAG_CHECKSUM, TAG_FLAGS, TAG_BLOCKNR_HIGH, TAG_UUID_SIZE, COMMIT_CHKSUM_TYPE, COMMIT_CHKSUM_SIZE,
  COMMIT_CHKSUM, COMMIT_SEC, COMMIT_NSEC, REVOKE_R_COUNT, REVOKE_HEADER_SIZE, be32, putBe32, putBe16,
  journalTagBytes,
} from './layout.js';
import { descriptorBlockCsum, commitBlockCsum, blockTagCsum, crc32Be } from './checksum.js';

/** What the format depends on: the journal's geometry and features. */
export interface LogFormat {
  blocksize: number;
  compat: number;
  incompat: number;
  /** s_uuid (16 bytes), copied after the first tag of every descriptor. */
  uuid: Uint8Array;
  /** j_csum_seed (v2/v3). */
  csumSeed: number;
}

/** One metadata block of a transaction: its home block and its frozen content. */
export interface LogBuffer { blockNr: number; data: Uint8Array }

function csumV2or3(f: LogFormat): boolean {
  return (f.incompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3)) !== 0;
}

function tailSize(f: LogFormat): number {
  return csumV2or3(f) ? JBD2_BLOCK_TAIL_SIZE : 0;
}

/** jbd2_journal_get_descriptor_buffer(): a zeroed block with its header. */
function headerBlock(f: LogFormat, type: number, tid: number): Uint8Array {
  const b = new Uint8Array(f.blocksize);
  putBe32(b, H_MAGIC, JBD2_MAGIC_NUMBER);
  putBe32(b, H_BLOCKTYPE, type);
  putBe32(b, H_SEQUENCE, tid >>> 0);
  return b;
}

/** Revoke records that fit in one revoke block (j_revoke_records_per_block). */
export function revokeRecordsPerBlock(f: LogFormat): number {
  const sz = f.incompat & JBD2_FEATURE_INCOMPAT_64BIT ? 8 : 4;
  return Math.floor((f.blocksize - REVOKE_HEADER_SIZE - tailSize(f)) / sz);
}

/** jbd2_journal_write_revoke_records(): the revoke blocks of transaction `tid`. */
export function buildRevokeBlocks(f: LogFormat, tid: number, records: Iterable<number>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const sz = f.incompat & JBD2_FEATURE_INCOMPAT_64BIT ? 8 : 4;
  const limit = f.blocksize - tailSize(f);
  let b: Uint8Array | null = null;
  let off = 0;
  const close = (): void => {
    if (!b) return;
    putBe32(b, REVOKE_R_COUNT, off);
    if (csumV2or3(f)) putBe32(b, f.blocksize - JBD2_BLOCK_TAIL_SIZE, descriptorBlockCsum(f.csumSeed, b));
    out.push(b);
    b = null;
  };
  for (const nr of records) {
    if (b && off + sz > limit) close();
    if (!b) {
      b = headerBlock(f, JBD2_REVOKE_BLOCK, tid);
      off = REVOKE_HEADER_SIZE;
    }
    if (sz === 8) {
      putBe32(b, off, Math.floor(nr / 0x100000000));
      putBe32(b, off + 4, nr >>> 0);
    } else {
      putBe32(b, off, nr >>> 0);
    }
    off += sz;
  }
  close();
  return out;
}

/** Tags per descriptor block as jbd2_descriptor_blocks_per_trans() counts them (16 bytes of slack). */
export function tagsPerDescriptor(f: LogFormat): number {
  const space = f.blocksize - JOURNAL_HEADER_SIZE - TAG_UUID_SIZE - tailSize(f);
  return Math.floor((space - 16) / journalTagBytes(f.incompat));
}

/** j_wbufsize: the most buffers (descriptor included) one descriptor's batch may hold. */
function wbufSize(f: LogFormat): number {
  return Math.floor(f.blocksize / 8); // jbd2_min_tag_size(): a 32-bit tag without checksum
}

export interface DescriptorLog {
  /** Descriptor blocks and log copies, in log order. */
  blocks: Uint8Array[];
  /** The v1 (COMPAT_CHECKSUM) running crc32_be over all of them, seeded ~0. */
  crc32Sum: number;
}

/**
 * The descriptor blocks and the (escaped) copies of `bufs`, packed as jbd2_journal_commit_transaction
 * does: a descriptor is closed when the buffers run out, when the batch reaches j_wbufsize, or when
 * less than a tag, a UUID and a tail's worth of room is left.
 */
export function buildDescriptorBlocks(f: LogFormat, tid: number, bufs: readonly LogBuffer[]): DescriptorLog {
  const out: Uint8Array[] = [];
  const tagBytes = journalTagBytes(f.incompat);
  const v3 = (f.incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) !== 0;
  const v2 = (f.incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) !== 0;
  const is64 = (f.incompat & JBD2_FEATURE_INCOMPAT_64BIT) !== 0;
  const csumSize = tailSize(f);
  const v1 = (f.compat & JBD2_FEATURE_COMPAT_CHECKSUM) !== 0;
  let crc32Sum = 0xffffffff;
  let desc: Uint8Array | null = null;
  let batch: Uint8Array[] = [];
  let tagp = 0, spaceLeft = 0, firstTag = true, lastTagp = 0;

  const flush = (): void => {
    const d = desc!;
    // LAST_TAG lands in the low half of t_flags whether it is a be16 or tag3's be32.
    d[lastTagp + TAG_FLAGS + 1]! |= JBD2_FLAG_LAST_TAG;
    if (csumSize) putBe32(d, f.blocksize - JBD2_BLOCK_TAIL_SIZE, descriptorBlockCsum(f.csumSeed, d));
    for (const b of batch) {
      if (v1) crc32Sum = crc32Be(crc32Sum, b);
      out.push(b);
    }
    desc = null;
    batch = [];
  };

  bufs.forEach((buf, i) => {
    if (!desc) {
      desc = headerBlock(f, JBD2_DESCRIPTOR_BLOCK, tid);
      tagp = JOURNAL_HEADER_SIZE;
      spaceLeft = f.blocksize - JOURNAL_HEADER_SIZE;
      firstTag = true;
      batch.push(desc);
    }
    // jbd2_journal_write_metadata_buffer(): escape a copy that starts with the magic.
    let copy = buf.data;
    let flags = 0;
    if (be32(copy, 0) === JBD2_MAGIC_NUMBER) {
      copy = copy.slice();
      putBe32(copy, 0, 0);
      flags |= JBD2_FLAG_ESCAPE;
    }
    if (!firstTag) flags |= JBD2_FLAG_SAME_UUID;
    const d: Uint8Array = desc;
    const hi = Math.floor(buf.blockNr / 0x100000000);
    if (v3) {
      putBe32(d, tagp + TAG3_BLOCKNR, buf.blockNr >>> 0);
      putBe32(d, tagp + TAG3_FLAGS, flags);
      if (is64) putBe32(d, tagp + TAG3_BLOCKNR_HIGH, hi);
      putBe32(d, tagp + TAG3_CHECKSUM, blockTagCsum(f.csumSeed, tid, copy));
    } else {
      putBe32(d, tagp + TAG_BLOCKNR, buf.blockNr >>> 0);
      putBe16(d, tagp + TAG_FLAGS, flags);
      if (is64) putBe32(d, tagp + TAG_BLOCKNR_HIGH, hi);
      if (v2) putBe16(d, tagp + TAG_CHECKSUM, blockTagCsum(f.csumSeed, tid, copy) & 0xffff);
    }
    lastTagp = tagp;
    tagp += tagBytes;
    spaceLeft -= tagBytes;
    batch.push(copy);
    if (firstTag) {
      d.set(f.uuid.subarray(0, TAG_UUID_SIZE), tagp);
      tagp += TAG_UUID_SIZE;
      spaceLeft -= TAG_UUID_SIZE;
      firstTag = false;
    }
    if (batch.length === wbufSize(f) || i === bufs.length - 1 || spaceLeft < tagBytes + 16 + csumSize) flush();
  });
  return { blocks: out, crc32Sum };
}

/** The number of descriptor blocks buildDescriptorBlocks() will use for `n` buffers (an upper bound). */
export function descriptorBlocksFor(f: LogFormat, n: number): number {
  return n === 0 ? 0 : Math.ceil(n / Math.max(1, tagsPerDescriptor(f)));
}

/** The commit block (jbd2's journal_submit_commit_record()). */
export function buildCommitBlock(f: LogFormat, tid: number, now: Timespec, crc32Sum: number): Uint8Array {
  const b = headerBlock(f, JBD2_COMMIT_BLOCK, tid);
  putBe32(b, COMMIT_SEC, Math.floor(now.sec / 0x100000000));
  putBe32(b, COMMIT_SEC + 4, now.sec >>> 0);
  putBe32(b, COMMIT_NSEC, now.nsec >>> 0);
  if (f.compat & JBD2_FEATURE_COMPAT_CHECKSUM) {
    b[COMMIT_CHKSUM_TYPE] = JBD2_CRC32_CHKSUM;
    b[COMMIT_CHKSUM_SIZE] = JBD2_CRC32_CHKSUM_SIZE;
    putBe32(b, COMMIT_CHKSUM, crc32Sum >>> 0);
  }
  if (csumV2or3(f)) {
    b[COMMIT_CHKSUM_TYPE] = 0;
    b[COMMIT_CHKSUM_SIZE] = 0;
    putBe32(b, COMMIT_CHKSUM, 0);
    putBe32(b, COMMIT_CHKSUM, commitBlockCsum(f.csumSeed, b));
  }
  return b;
}
