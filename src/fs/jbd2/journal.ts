/*
 * The journal as recovery sees it: the device contract, the superblock checks of
 * journal_check_superblock()/journal_load_superblock() (fs/jbd2/journal.c), and the in-memory
 * journal_t fields recovery needs.
 *
 * jbd2 knows nothing of the filesystem that owns the journal. The owner (ext4's glue) hands it a
 * JournalDevice: the journal's blocks by journal block number (for an inode journal, inode 8's
 * logical blocks, mapped by the owner), a way to write a filesystem block, and a way to write a
 * journal block (only block 0, the superblock, is ever written). Every method may throw a
 * KernelError; recovery turns anything else a device throws into EIO.
 *
 * Superblock rules (Linux's, with Linux's messages):
 *   - magic 0xC03B3998 and s_blocksize equal to the device's block size, else
 *     "JBD2: no valid journal superblock found" (EINVAL);
 *   - h_blocktype SUPERBLOCK_V1 or V2, else "JBD2: unrecognised superblock format ID" (EINVAL);
 *   - s_maxlen within the journal, s_first in 1..len-1 (EINVAL);
 *   - a V1 superblock has no feature fields: every feature reads as off;
 *   - V2: unknown incompat or ro_compat bits refuse the journal with
 *     "JBD2: Unrecognised features on journal" (EINVAL); at least 1024 blocks (plus the fast-commit
 *     area); never checksum v1 with v2/v3 nor v2 with v3; with v2/v3 s_checksum_type must be
 *     crc32c and s_checksum must match, else "JBD2: journal checksum error" (EBADMSG, Linux's
 *     EFSBADCRC).
 */
import { KernelError, fail } from '../../lib/errors.js';
import { EINVAL, EBADMSG, EIO } from '../../uapi/errno.js';
import { KERN_WARNING, KERN_ERR } from '../../kernel/printk/index.js';
import {
  JBD2_MAGIC_NUMBER, JBD2_SUPERBLOCK_V1, JBD2_SUPERBLOCK_V2, JBD2_KNOWN_INCOMPAT_FEATURES,
  JBD2_KNOWN_ROCOMPAT_FEATURES, JBD2_FEATURE_INCOMPAT_CSUM_V2, JBD2_FEATURE_INCOMPAT_CSUM_V3,
  JBD2_FEATURE_INCOMPAT_FAST_COMMIT, JBD2_FEATURE_COMPAT_CHECKSUM, JBD2_CRC32C_CHKSUM,
  JBD2_MIN_JOURNAL_BLOCKS, JBD2_DEFAULT_FAST_COMMIT_BLOCKS, JOURNAL_SUPERBLOCK_SIZE, H_MAGIC,
  H_BLOCKTYPE, S_BLOCKSIZE, S_MAXLEN, S_FIRST, S_SEQUENCE, S_START, S_FEATURE_COMPAT,
  S_FEATURE_INCOMPAT, S_FEATURE_RO_COMPAT, S_CHECKSUM_TYPE, S_CHECKSUM, S_NUM_FC_BLKS,
  be32, putBe32, journalTagBytes,
} from './layout.js';
import { superblockCsum, csumSeed } from './checksum.js';

/** What the journal's owner provides. Block numbers are plain numbers (exact below 2^53). */
export interface JournalDevice {
  /** The journal's block size: the filesystem block size. */
  blockSize: number;
  /** Blocks in the journal (the journal inode's size in blocks). */
  nrBlocks: number;
  /** Journal block `n` (0 = superblock), blockSize bytes. The result is not modified. */
  readBlock(n: number): Promise<Uint8Array>;
  /**
   * Write a replayed block to the filesystem device. `fsBlockNr` comes from the log and a corrupt
   * journal can name any block: refuse blocks outside the filesystem by throwing (EIO).
   */
  writeFsBlock(fsBlockNr: number, data: Uint8Array): Promise<void>;
  /**
   * Write journal block `n` (recovery writes only block 0, the superblock, marked clean; the
   * writing side, transaction.ts, also writes the log itself).
   */
  writeJournalBlock(n: number, data: Uint8Array): Promise<void>;
  /**
   * Make the writes so far durable (sync_blockdev, a cache-flush barrier); called after replay and
   * after the superblock, and by a commit before and after its commit block. For an inode journal
   * one flush covers both the log and the home blocks (same device).
   */
  flush?(): Promise<void>;
  /** Linux's j_devname for messages, e.g. "vda1-8" (device, journal inode); default "journal". */
  name?: string;
}

export type JournalLog = (level: number, msg: string) => void;

/** The journal_t fields recovery uses. */
export interface Journal {
  dev: JournalDevice;
  log: JournalLog;
  /** Block 0 as read (a private copy). */
  sb: Uint8Array;
  blocksize: number;
  /** j_total_len: usable journal blocks, min(device, s_maxlen). */
  totalLen: number;
  /** j_first, j_last: the circular log is [first, last). */
  first: number;
  last: number;
  /** Feature words (all zero for a V1 superblock). */
  compat: number;
  incompat: number;
  /** j_csum_seed (csum v2/v3). */
  csumSeed: number;
  /** journal_tag_bytes(). */
  tagBytes: number;
  /** Fast-commit area [fcFirst, fcLast] when FAST_COMMIT is set. */
  fcFirst: number;
  fcLast: number;
  /** j_failed_commit: a transaction whose commit block failed its checksum (0 = none). */
  failedCommit: number;
}

export function hasCsumV2or3(j: { incompat: number }): boolean {
  return (j.incompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3)) !== 0;
}

/** Does this journal superblock (block 0) say the log holds transactions to replay? */
export function journalNeedsRecovery(jsb: Uint8Array): boolean {
  if (jsb.length < JOURNAL_SUPERBLOCK_SIZE || be32(jsb, H_MAGIC) !== JBD2_MAGIC_NUMBER) return false;
  const type = be32(jsb, H_BLOCKTYPE);
  if (type !== JBD2_SUPERBLOCK_V1 && type !== JBD2_SUPERBLOCK_V2) return false;
  return be32(jsb, S_START) !== 0;
}

/** Call a device method; anything but a KernelError becomes EIO. */
export async function devCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof KernelError) throw e;
    throw new KernelError(EIO, e instanceof Error ? e.message : String(e));
  }
}

/** journal_load_superblock(): read block 0, check it, and set up the journal_t fields. */
export async function loadJournal(dev: JournalDevice, log: JournalLog): Promise<Journal> {
  const blocksize = dev.blockSize;
  if (!Number.isInteger(blocksize) || blocksize < JOURNAL_SUPERBLOCK_SIZE || blocksize > 65536 ||
      (blocksize & (blocksize - 1)) !== 0)
    fail(EINVAL, `jbd2: bad journal block size ${blocksize}`);
  let raw: Uint8Array;
  try {
    raw = await devCall(() => dev.readBlock(0));
  } catch (e) {
    log(KERN_ERR, 'journal_load_superblock: Cannot read journal superblock');
    throw e;
  }
  if (raw.length !== blocksize) {
    log(KERN_ERR, 'journal_load_superblock: Cannot read journal superblock');
    fail(EIO);
  }
  const sb = raw.slice();
  const bad = (level: number, msg: string, errno = EINVAL): never => {
    log(level, msg);
    fail(errno, msg);
  };

  let totalLen = Math.max(0, Math.floor(dev.nrBlocks));
  if (be32(sb, H_MAGIC) !== JBD2_MAGIC_NUMBER || be32(sb, S_BLOCKSIZE) !== blocksize)
    bad(KERN_WARNING, 'JBD2: no valid journal superblock found');
  const type = be32(sb, H_BLOCKTYPE);
  if (type !== JBD2_SUPERBLOCK_V1 && type !== JBD2_SUPERBLOCK_V2)
    bad(KERN_WARNING, 'JBD2: unrecognised superblock format ID');
  const maxlen = be32(sb, S_MAXLEN);
  if (maxlen > totalLen) bad(KERN_WARNING, 'JBD2: journal file too short');
  const first = be32(sb, S_FIRST);
  if (first === 0 || first >= totalLen) bad(KERN_WARNING, `JBD2: Invalid start block of journal: ${first}`);

  // jbd2_format_support_feature(): a V1 superblock has no feature fields.
  const v2 = type !== JBD2_SUPERBLOCK_V1;
  const compat = v2 ? be32(sb, S_FEATURE_COMPAT) : 0;
  const incompat = v2 ? be32(sb, S_FEATURE_INCOMPAT) : 0;
  const roCompat = v2 ? be32(sb, S_FEATURE_RO_COMPAT) : 0;
  let numFcBlks = 0;
  if (v2) {
    if ((roCompat & ~JBD2_KNOWN_ROCOMPAT_FEATURES) !== 0 || (incompat & ~JBD2_KNOWN_INCOMPAT_FEATURES) !== 0)
      bad(KERN_WARNING, 'JBD2: Unrecognised features on journal');
    if (incompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT)
      numFcBlks = be32(sb, S_NUM_FC_BLKS) || JBD2_DEFAULT_FAST_COMMIT_BLOCKS;
    if (maxlen < JBD2_MIN_JOURNAL_BLOCKS || maxlen - JBD2_MIN_JOURNAL_BLOCKS < numFcBlks)
      bad(KERN_ERR, `JBD2: journal file too short ${maxlen},${numFcBlks}`);
    if ((incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) && (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3))
      bad(KERN_ERR, "JBD2: Can't enable checksumming v2 and v3 at the same time!");
    const v23 = hasCsumV2or3({ incompat });
    if (v23 && (compat & JBD2_FEATURE_COMPAT_CHECKSUM))
      bad(KERN_ERR, "JBD2: Can't enable checksumming v1 and v2/3 at the same time!");
    if (v23) {
      if (sb[S_CHECKSUM_TYPE] !== JBD2_CRC32C_CHKSUM) bad(KERN_ERR, 'JBD2: Unknown checksum type');
      if (be32(sb, S_CHECKSUM) !== superblockCsum(sb)) bad(KERN_ERR, 'JBD2: journal checksum error', EBADMSG);
    }
  }

  if (maxlen < totalLen) totalLen = maxlen;
  let last = maxlen;
  let fcFirst = 0, fcLast = 0;
  if (numFcBlks) {
    fcLast = maxlen;
    last = fcLast - numFcBlks;
    fcFirst = last + 1;
  }
  return {
    dev, log, sb, blocksize, totalLen, first, last, compat, incompat,
    csumSeed: hasCsumV2or3({ incompat }) ? csumSeed(sb) : 0,
    tagBytes: journalTagBytes(incompat),
    fcFirst, fcLast, failedCommit: 0,
  };
}

/**
 * The superblock of a recovered journal, as e2fsck writes it when it releases a replayed journal:
 * s_sequence = the next transaction id, s_start = 0 (empty: nothing to recover), checksum redone.
 */
export function cleanSuperblock(j: Journal, nextSequence: number): Uint8Array {
  const sb = j.sb.slice();
  putBe32(sb, S_SEQUENCE, nextSequence >>> 0);
  putBe32(sb, S_START, 0);
  if (hasCsumV2or3(j)) putBe32(sb, S_CHECKSUM, superblockCsum(sb));
  return sb;
}
