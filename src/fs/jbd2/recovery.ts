/*
 * Journal recovery: replaying the log after a crash (fs/jbd2/recovery.c).
 *
 * The superblock says where the log starts (s_start; 0 means the journal is empty) and which
 * transaction id to expect there (s_sequence). Recovery walks the log three times, each pass
 * from the same start, block by block, wrapping from j_last back to j_first:
 *
 *   SCAN    find the end of the log: the first block that is not a journal block of the expected
 *           transaction, or a commit block that fails its checksum. Only transactions whose
 *           commit block was found count. Checksums of descriptor, revoke and commit blocks are
 *           checked here.
 *   REVOKE  collect the revoke records of the committed transactions (revoke.ts).
 *   REPLAY  copy every logged block of the committed transactions to its home in the filesystem,
 *           unless a revoke of the same or a later transaction covers it, or its per-block
 *           checksum (v2/v3) is wrong; a block stored escaped gets its magic back.
 *
 * Stale blocks from an older use of the log are told from corruption the way Linux does: a bad
 * descriptor or revoke checksum during SCAN is decided by the following commit block's time
 * (older than the previous commit: stale, the log ends there quietly; not older: corruption,
 * EBADMSG). A commit block with a bad checksum ends the log (sync commit: that transaction is
 * "failed", and the journal load reports EUCLEAN after replaying the ones before it; async commit:
 * scanning goes on). A commit block of which only the header reached the disk is accepted.
 *
 * Beyond Linux: every pass stops once it has walked the whole circular log once (a transaction
 * that never commits and laps the log would make Linux loop forever); SCAN then treats the
 * position as the end of the log, so only the transactions committed before it are replayed.
 * Fast commits (FAST_COMMIT) are replayed by Linux through ext4's callback; jbd2 here has none:
 * a non-empty fast-commit area is reported and left alone, so changes made by fast commits after
 * the last full commit are lost (as if the fast commits had not reached the disk).
 *
 * Errors are Linux's: EBADMSG for checksum failures (EFSBADCRC), EUCLEAN for a corrupt journal
 * (EFSCORRUPTED), EINVAL for a revoke block overflowing its block, EIO for I/O and for passes
 * that disagree. Nothing but a KernelError ever leaves this file.
 */
import { KernelError } from '../../lib/errors.js';
import { EBADMSG, EUCLEAN, EINVAL, EIO, ENOMEM } from '../../uapi/errno.js';
import { KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_DEBUG } from '../../kernel/printk/index.js';
import {
  JBD2_MAGIC_NUMBER, JBD2_DESCRIPTOR_BLOCK, JBD2_COMMIT_BLOCK, JBD2_REVOKE_BLOCK,
  JBD2_FEATURE_COMPAT_CHECKSUM, JBD2_FEATURE_INCOMPAT_64BIT, JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT,
  JBD2_FEATURE_INCOMPAT_CSUM_V3, JBD2_FEATURE_INCOMPAT_FAST_COMMIT, JBD2_FLAG_ESCAPE,
  JBD2_FLAG_SAME_UUID, JBD2_FLAG_LAST_TAG, JBD2_CRC32_CHKSUM, JBD2_CRC32_CHKSUM_SIZE,
  JBD2_BLOCK_TAIL_SIZE, JOURNAL_HEADER_SIZE, H_MAGIC, H_BLOCKTYPE, H_SEQUENCE, S_SEQUENCE, S_START,
  TAG_BLOCKNR, TAG_FLAGS, TAG_BLOCKNR_HIGH, TAG_CHECKSUM, TAG3_CHECKSUM, TAG_UUID_SIZE,
  COMMIT_CHKSUM_TYPE, COMMIT_CHKSUM_SIZE, COMMIT_CHKSUM, COMMIT_SEC, REVOKE_R_COUNT,
  REVOKE_HEADER_SIZE, be32, be16, be64, putBe32,
} from './layout.js';
import {
  descriptorBlockCsumOk, commitBlockCsum, partialCommitBlockCsum, blockTagCsum, crc32Be,
} from './checksum.js';
import { RevokeTable, tidGeq } from './revoke.js';
import {
  type Journal, type JournalDevice, type JournalLog, loadJournal, hasCsumV2or3, devCall,
  cleanSuperblock,
} from './journal.js';

const PASS_SCAN = 0, PASS_REVOKE = 1, PASS_REPLAY = 2;

/** struct recovery_info, plus our counters. */
interface RecoveryInfo {
  startTransaction: number;
  /** First transaction not to replay; 0 = not yet known (Linux's convention). */
  endTransaction: number;
  nrReplays: number;
  nrRevokes: number;
  nrRevokeHits: number;
  revoke: RevokeTable;
  /** First error writing a filesystem block (surfaces like sync_blockdev's). */
  writeError: number;
  dryRun: boolean;
}

export interface RecoveryResult {
  /** Transactions replayed: endTransaction - startTransaction (mod 2^32). */
  transactions: number;
  /** Blocks written to the filesystem. */
  replayedBlocks: number;
  /** Logged blocks skipped because a revoke covered them. */
  revoked: number;
  /** Revoke records read. */
  revokeRecords: number;
  /** s_sequence at the start of recovery: the first transaction in the log. */
  startTransaction: number;
  /** The first transaction id not replayed (Linux's info->end_transaction); the journal restarts at endTransaction + 1. */
  endTransaction: number;
}

export interface RecoveryOptions {
  /** Run the three passes and every check but write nothing (neither filesystem blocks nor the superblock). */
  readOnlyDryRun?: boolean;
}

/** Negative errno of an exception from a device call. */
function errnoOf(e: unknown): number {
  return e instanceof KernelError ? -e.errno : -EIO;
}

/** jread(): journal block `offset`, or a negative errno. */
async function jread(j: Journal, offset: number): Promise<Uint8Array | number> {
  if (offset >= j.totalLen) {
    j.log(KERN_ERR, 'JBD2: corrupted journal superblock');
    return -EUCLEAN;
  }
  let b: Uint8Array;
  try {
    b = await devCall(() => j.dev.readBlock(offset));
  } catch (e) {
    j.log(KERN_ERR, `JBD2: Failed to read block at offset ${offset}`);
    return errnoOf(e);
  }
  if (b.length !== j.blocksize) {
    j.log(KERN_ERR, `JBD2: Failed to read block at offset ${offset}`);
    return -EIO;
  }
  return b;
}

/** count_tags(): tags in use in a descriptor block. */
function countTags(j: Journal, b: Uint8Array): number {
  const size = j.blocksize - (hasCsumV2or3(j) ? JBD2_BLOCK_TAIL_SIZE : 0);
  let nr = 0;
  let tagp = JOURNAL_HEADER_SIZE;
  while (tagp + j.tagBytes <= size) {
    const flags = be16(b, tagp + TAG_FLAGS);
    nr++;
    tagp += j.tagBytes;
    if (!(flags & JBD2_FLAG_SAME_UUID)) tagp += TAG_UUID_SIZE;
    if (flags & JBD2_FLAG_LAST_TAG) break;
  }
  return nr;
}

/** read_tag_block(). */
function readTagBlock(j: Journal, b: Uint8Array, tagp: number): number {
  const lo = be32(b, tagp + TAG_BLOCKNR);
  if (!(j.incompat & JBD2_FEATURE_INCOMPAT_64BIT)) return lo;
  return be32(b, tagp + TAG_BLOCKNR_HIGH) * 0x100000000 + lo;
}

/** jbd2_block_tag_csum_verify(). */
function blockTagCsumOk(j: Journal, b: Uint8Array, tagp: number, data: Uint8Array, tid: number): boolean {
  if (!hasCsumV2or3(j)) return true;
  const csum = blockTagCsum(j.csumSeed, tid, data);
  if (j.incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) return be32(b, tagp + TAG3_CHECKSUM) === csum;
  return be16(b, tagp + TAG_CHECKSUM) === (csum & 0xffff);
}

/** jbd2_commit_block_csum_verify() (true without v2/v3). */
function commitBlockCsumOk(j: Journal, b: Uint8Array): boolean {
  return !hasCsumV2or3(j) || be32(b, COMMIT_CHKSUM) === commitBlockCsum(j.csumSeed, b);
}

/** The walk position of one pass: next_log_block with wrap(), and how far it has gone. */
class LogCursor {
  walked = 0;
  constructor(private j: Journal, public block: number) {}
  /** Step over `n` blocks, wrapping once from j_last back to j_first as Linux's wrap() does. */
  advance(n: number): void {
    this.block += n;
    this.walked += n;
    if (this.block >= this.j.last) this.block -= this.j.last - this.j.first;
  }
}

/**
 * jbd2_do_replay(): write the blocks described by one descriptor block. Returns 0 or the last
 * negative errno (the pass goes on after a bad block, as Linux recovers what it can).
 */
async function doReplay(j: Journal, info: RecoveryInfo, b: Uint8Array, cur: LogCursor, tid: number): Promise<number> {
  let ret = 0;
  const end = j.blocksize - (hasCsumV2or3(j) ? JBD2_BLOCK_TAIL_SIZE : 0);
  let tagp = JOURNAL_HEADER_SIZE;
  while (tagp + j.tagBytes <= end) {
    const flags = be16(b, tagp + TAG_FLAGS);
    const ioBlock = cur.block;
    cur.advance(1);
    const obh = await jread(j, ioBlock);
    if (typeof obh === 'number') {
      ret = obh;
      j.log(KERN_ERR, `JBD2: IO error ${obh} recovering block ${ioBlock} in log`);
    } else {
      const blocknr = readTagBlock(j, b, tagp);
      if (info.revoke.test(blocknr, tid)) {
        info.nrRevokeHits++;
      } else if (!blockTagCsumOk(j, b, tagp, obh, tid)) {
        ret = -EBADMSG;
        j.log(KERN_ERR, `JBD2: Invalid checksum recovering data block ${blocknr} in journal block ${ioBlock}`);
      } else {
        let data = obh;
        if (flags & JBD2_FLAG_ESCAPE) {
          data = obh.slice();
          putBe32(data, 0, JBD2_MAGIC_NUMBER);
        }
        if (!info.dryRun) {
          try {
            await devCall(() => j.dev.writeFsBlock(blocknr, data));
          } catch (e) {
            const err = errnoOf(e);
            if (!info.writeError) info.writeError = err;
            j.log(KERN_ERR, `JBD2: IO error ${err} writing block ${blocknr} during recovery`);
          }
        }
        info.nrReplays++;
      }
    }
    tagp += j.tagBytes;
    if (!(flags & JBD2_FLAG_SAME_UUID)) tagp += TAG_UUID_SIZE;
    if (flags & JBD2_FLAG_LAST_TAG) break;
  }
  return ret;
}

/** scan_revoke_records(). */
function scanRevokeRecords(j: Journal, b: Uint8Array, tid: number, info: RecoveryInfo): number {
  const rcount = be32(b, REVOKE_R_COUNT);
  const csumSize = hasCsumV2or3(j) ? JBD2_BLOCK_TAIL_SIZE : 0;
  if (rcount > j.blocksize - csumSize) return -EINVAL;
  const recordLen = j.incompat & JBD2_FEATURE_INCOMPAT_64BIT ? 8 : 4;
  for (let off = REVOKE_HEADER_SIZE; off + recordLen <= rcount; off += recordLen) {
    const blocknr = recordLen === 4 ? be32(b, off) : be64(b, off);
    info.revoke.set(blocknr, tid);
    info.nrRevokes++;
  }
  return 0;
}

/** The fast-commit area: Linux hands it to ext4's replay callback; we only say it is there. */
async function reportFastCommitArea(j: Journal): Promise<void> {
  if (!(j.incompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT) || j.fcFirst >= j.totalLen) return;
  const b = await jread(j, j.fcFirst);
  if (typeof b === 'number' || b.every((x) => x === 0)) return;
  j.log(KERN_WARNING, `JBD2: fast commit area (journal blocks ${j.fcFirst}-${j.fcLast}) not replayed: ` +
    'fast-commit replay is not supported; changes committed only by fast commits are lost');
}

/** do_one_pass(): one walk over the log. Returns 0 or a negative errno. */
async function doOnePass(j: Journal, info: RecoveryInfo, pass: number): Promise<number> {
  let nextCommitID = be32(j.sb, S_SEQUENCE);
  const cur = new LogCursor(j, be32(j.sb, S_START));
  let success = 0;
  let crc32Sum = 0xffffffff; // v1 transaction checksum
  let needCheckCommitTime = false;
  let lastTransCommitTime = 0;
  const logSize = j.last - j.first;
  const v23 = hasCsumV2or3(j);
  const v1 = (j.compat & JBD2_FEATURE_COMPAT_CHECKSUM) !== 0;

  if (pass === PASS_SCAN) info.startTransaction = nextCommitID;

  scan: for (;;) {
    if (pass !== PASS_SCAN && tidGeq(nextCommitID, info.endTransaction)) break;

    const walkedBefore = cur.walked;
    const bh = await jread(j, cur.block);
    if (typeof bh === 'number') return bh;
    cur.advance(1);

    if (be32(bh, H_MAGIC) !== JBD2_MAGIC_NUMBER) break;
    const blocktype = be32(bh, H_BLOCKTYPE);
    const sequence = be32(bh, H_SEQUENCE);
    if (sequence !== nextCommitID) break;

    // The log has come round to blocks already walked in this pass and they still belong to
    // the open transaction: it never committed. Linux would walk forever; we stop.
    if (walkedBefore >= logSize) {
      j.log(KERN_ERR, `JBD2: log wraps onto itself at block ${cur.block} in transaction ${nextCommitID}: ` +
        'treating it as the end of the log');
      break;
    }

    switch (blocktype) {
      case JBD2_DESCRIPTOR_BLOCK: {
        if (v23 && !descriptorBlockCsumOk(j.csumSeed, bh)) {
          // SCAN may meet stale blocks of an older use of the log: the commit time decides later.
          if (pass !== PASS_SCAN) {
            j.log(KERN_ERR, `JBD2: Invalid checksum recovering block ${cur.block} in log`);
            return -EBADMSG;
          }
          needCheckCommitTime = true;
          j.log(KERN_DEBUG, `invalid descriptor block found in ${cur.block}`);
        }
        if (pass !== PASS_REPLAY) {
          if (pass === PASS_SCAN && v1 && !needCheckCommitTime && !info.endTransaction) {
            // calc_chksums(): the v1 checksum runs over the descriptor and its data blocks.
            const n = countTags(j, bh);
            crc32Sum = crc32Be(crc32Sum, bh);
            for (let i = 0; i < n; i++) {
              const ioBlock = cur.block;
              cur.advance(1);
              const obh = await jread(j, ioBlock);
              if (typeof obh === 'number') {
                j.log(KERN_ERR, `JBD2: IO error ${obh} recovering block ${ioBlock} in log`);
                break scan;
              }
              crc32Sum = crc32Be(crc32Sum, obh);
            }
            continue;
          }
          cur.advance(countTags(j, bh));
          continue;
        }
        const err = await doReplay(j, info, bh, cur, nextCommitID);
        if (err) {
          if (err === -ENOMEM) return err;
          success = err;
        }
        continue;
      }

      case JBD2_COMMIT_BLOCK: {
        if (pass !== PASS_SCAN) {
          nextCommitID = (nextCommitID + 1) >>> 0;
          continue;
        }
        const commitTime = be64(bh, COMMIT_SEC);
        if (needCheckCommitTime) {
          if (commitTime >= lastTransCommitTime) {
            j.log(KERN_ERR, `JBD2: Invalid checksum found in transaction ${nextCommitID}`);
            return -EBADMSG;
          }
          // An older commit time: stale blocks of an earlier journal. The log ends here.
          j.log(KERN_DEBUG, `JBD2: Invalid checksum ignored in transaction ${nextCommitID}, likely stale data`);
          break scan;
        }
        let ok: boolean;
        if (v1) {
          if (info.endTransaction) {
            j.failedCommit = info.endTransaction;
            break scan;
          }
          const found = be32(bh, COMMIT_CHKSUM);
          const type = bh[COMMIT_CHKSUM_TYPE]!, size = bh[COMMIT_CHKSUM_SIZE]!;
          ok = (crc32Sum === found && type === JBD2_CRC32_CHKSUM && size === JBD2_CRC32_CHKSUM_SIZE) ||
            (type === 0 && size === 0 && found === 0);
          if (ok) crc32Sum = 0xffffffff;
        } else if (commitBlockCsumOk(j, bh)) {
          ok = true;
        } else if (be32(bh, COMMIT_CHKSUM) === partialCommitBlockCsum(j.csumSeed, bh)) {
          j.log(KERN_NOTICE, `JBD2: Find incomplete commit block in transaction ${nextCommitID} block ${cur.block}`);
          ok = true;
        } else {
          ok = false;
        }
        if (!ok) {
          if (commitTime < lastTransCommitTime) {
            j.log(KERN_DEBUG, `JBD2: Invalid checksum ignored in transaction ${nextCommitID}, likely stale data`);
            break scan;
          }
          info.endTransaction = nextCommitID;
          if (!(j.incompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT)) {
            j.failedCommit = nextCommitID;
            break scan;
          }
        }
        lastTransCommitTime = commitTime;
        nextCommitID = (nextCommitID + 1) >>> 0;
        continue;
      }

      case JBD2_REVOKE_BLOCK: {
        if (pass === PASS_SCAN && v23 && !descriptorBlockCsumOk(j.csumSeed, bh)) {
          j.log(KERN_DEBUG, `JBD2: invalid revoke block found in ${cur.block}`);
          needCheckCommitTime = true;
        }
        if (pass !== PASS_REVOKE) continue;
        const err = scanRevokeRecords(j, bh, nextCommitID, info);
        if (err) return err;
        continue;
      }

      default: // an unknown block type ends the log
        break scan;
    }
  }

  // done: the end of the log (SCAN), or the end found by SCAN (the other passes).
  if (pass === PASS_SCAN) {
    if (!info.endTransaction) info.endTransaction = nextCommitID;
    await reportFastCommitArea(j);
  } else if (info.endTransaction !== nextCommitID) {
    j.log(KERN_ERR, `JBD2: recovery pass ${pass} ended at transaction ${nextCommitID}, expected ${info.endTransaction}`);
    if (!success) success = -EIO;
  }
  return success;
}

/**
 * Replay the journal if its superblock says it holds transactions (s_start != 0): Linux's
 * jbd2_journal_recover() followed by what jbd2_journal_load() checks after it, and the
 * superblock update e2fsck makes when it is done (s_sequence = endTransaction + 1, s_start = 0).
 *
 * Throws KernelError: EINVAL/EBADMSG for a bad superblock (nothing written); for a failed recovery
 * (blocks already replayed stay written, the superblock is left as it was, as Linux leaves it):
 * EBADMSG (bad checksums), EINVAL (bad revoke block), EIO/EUCLEAN (I/O, corrupt journal);
 * EUCLEAN when a transaction's commit block failed its checksum ("journal transaction %u on %s is
 * corrupt": the transactions before it are replayed, the superblock stays dirty).
 */
export async function recoverJournal(dev: JournalDevice, log: JournalLog, opts: RecoveryOptions = {}): Promise<RecoveryResult> {
  const j = await loadJournal(dev, log);
  const dryRun = opts.readOnlyDryRun === true;
  const start = be32(j.sb, S_START);
  const seq = be32(j.sb, S_SEQUENCE);
  if (start === 0) {
    return { transactions: 0, replayedBlocks: 0, revoked: 0, revokeRecords: 0, startTransaction: seq, endTransaction: seq };
  }

  const info: RecoveryInfo = {
    startTransaction: 0, endTransaction: 0, nrReplays: 0, nrRevokes: 0, nrRevokeHits: 0,
    revoke: new RevokeTable(), writeError: 0, dryRun,
  };
  let err = await doOnePass(j, info, PASS_SCAN);
  if (!err) err = await doOnePass(j, info, PASS_REVOKE);
  if (!err) err = await doOnePass(j, info, PASS_REPLAY);

  log(KERN_DEBUG, `JBD2: recovery, exit status ${err}, recovered transactions ${info.startTransaction} to ${info.endTransaction}`);
  log(KERN_DEBUG, `JBD2: Replayed ${info.nrReplays} and revoked ${info.nrRevokeHits}/${info.nrRevokes} blocks`);
  info.revoke.clear();

  if (!dryRun && dev.flush) {
    try {
      await devCall(() => dev.flush!());
    } catch (e) {
      if (!info.writeError) info.writeError = errnoOf(e);
    }
  }
  if (!err) err = info.writeError;
  if (err) {
    log(KERN_WARNING, 'JBD2: journal recovery failed');
    throw new KernelError(-err, 'journal recovery failed');
  }
  if (j.failedCommit) {
    log(KERN_ERR, `JBD2: journal transaction ${j.failedCommit} on ${dev.name ?? 'journal'} is corrupt.`);
    throw new KernelError(EUCLEAN, `journal transaction ${j.failedCommit} is corrupt`);
  }

  if (!dryRun) {
    const sb = cleanSuperblock(j, (info.endTransaction + 1) >>> 0);
    await devCall(() => dev.writeJournalBlock(0, sb));
    if (dev.flush) await devCall(() => dev.flush!());
  }
  return {
    transactions: (info.endTransaction - info.startTransaction) >>> 0,
    replayedBlocks: info.nrReplays,
    revoked: info.nrRevokeHits,
    revokeRecords: info.nrRevokes,
    startTransaction: info.startTransaction,
    endTransaction: info.endTransaction,
  };
}
