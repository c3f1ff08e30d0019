/*
 * The writing side of jbd2: transactions, handles, commit (fs/jbd2/transaction.c, commit.c,
 * journal.c).
 *
 * A filesystem operation that changes metadata brackets its changes in a handle: start(credits)
 * reserves room for at most `credits` distinct blocks, getWriteAccess()/dirtyMetadata() name each
 * block it changes (with its new content), revoke() records a metadata block being freed, and
 * stop() ends the handle. Handles are batched into the one running transaction; a transaction is
 * atomic: after a crash, recovery replays all of its blocks or none.
 *
 * A transaction commits when asked (commit(), a sync handle: fsync), when the commit interval
 * (5 s) since it began has passed, or when it has grown to the journal's maximum transaction size
 * (a quarter of the log). Committing first locks the transaction (new handles wait), waits for its
 * open handles to stop, and switches it out: from then on a new running transaction takes handles
 * while this one is written. At that moment, with no handle open, the journal takes its own copy
 * of every block (jbd2's frozen data): the filesystem may go on changing its cache, the commit and
 * later the checkpoint write the copy. Only one transaction commits at a time.
 *
 * The commit writes, at the log head: the transaction's revoke blocks, its descriptor blocks each
 * followed by the copies they describe, a flush (barrier: the copies and, for data=ordered, the
 * file data the filesystem wrote in its beforeCommit hook are durable), the commit block, and a
 * flush again. Only then is the transaction committed.
 *
 * Log space: the log is the circular range [first, last) of journal blocks; [tail, head) holds
 * transactions not yet checkpointed. A handle may join the running transaction only while the log
 * keeps room for a whole maximum-size transaction beyond what the committing one may still use
 * (jbd2_log_space_left, with Linux's 32 blocks of slack); otherwise the starter checkpoints
 * (checkpoint.ts) to free space first. destroy() commits and checkpoints everything and marks the
 * journal empty (s_start = 0), so the image needs no recovery.
 *
 * A handle that finds it needs more blocks than it asked for (ext4's data=journal logs every file
 * data block it writes) extends itself (extend(), jbd2_journal_extend): the running transaction
 * may then outgrow the soft maximum as long as the log can still hold it; new handles wait for
 * its commit. jbd2 does not care whether a block is metadata or journalled file data.
 *
 * Memory: the journal's frozen copies are charged to the kernel's mem= budget (JournalOptions.mem,
 * as 'buffers'). They cannot be dropped before their checkpoint, so a charge that finds no memory
 * overdraws the budget rather than failing the commit, and the commit thread then checkpoints at
 * once, which writes the copies home and gives the memory back.
 *
 * Limits: no nested handles (a task must stop its handle before starting another), no
 * async_commit, no fast commits.
 */
import { KernelError, fail } from '../../lib/errors.js';
import { Mutex } from '../../lib/mutex.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EINVAL, EIO, ENOSPC, EROFS } from '../../uapi/errno.js';
import type { Timespec } from '../../uapi/stat.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';
import { type MemoryBudget, PAGE_SIZE } from '../../mm/index.js';
import { KERN_ERR } from '../../kernel/printk/index.js';
import { type JournalDevice, type JournalLog, loadJournal, journalNeedsRecovery, hasCsumV2or3, devCall } from './journal.js';
import { recoverJournal } from './recovery.js';
import { tidGeq, tidGt } from './revoke.js';
import {
  JBD2_SUPERBLOCK_V2, JBD2_FEATURE_INCOMPAT_CSUM_V2, JBD2_FEATURE_INCOMPAT_CSUM_V3,
  JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT, JBD2_FEATURE_INCOMPAT_REVOKE, JBD2_FEATURE_COMPAT_CHECKSUM,
  JBD2_KNOWN_COMPAT_FEATURES, JBD2_KNOWN_INCOMPAT_FEATURES, JBD2_KNOWN_ROCOMPAT_FEATURES,
  JBD2_CRC32C_CHKSUM, H_BLOCKTYPE, S_SEQUENCE, S_START, S_HEAD, S_UUID, S_CHECKSUM, S_CHECKSUM_TYPE,
  S_FEATURE_COMPAT, S_FEATURE_INCOMPAT, S_FEATURE_RO_COMPAT, be32, putBe32,
} from './layout.js';
import { superblockCsum, csumSeed } from './checksum.js';
import {
  type LogFormat, type LogBuffer, buildRevokeBlocks, buildDescriptorBlocks, buildCommitBlock,
  revokeRecordsPerBlock, tagsPerDescriptor,
} from './commit.js';
import { checkpointAll, cleanupJournalTail, logDoCheckpoint } from './checkpoint.js';

/** The clock the journal needs: the kernel Clock (src/kernel/ktime) fits. */
export interface JournalClock {
  monotonicNs(): number;
  realtime(): Timespec;
  addTimer(expires: number, fn: () => void, background?: boolean): KernelTimer;
}

export interface JournalOptions {
  log?: JournalLog;
  /** Commit interval timer and commit times; without one there are no interval commits and times are 0. */
  clock?: JournalClock;
  /** j_commit_interval, ms (ext4's commit= option); default 5000. */
  commitIntervalMs?: number;
  /** data=ordered: make the data of transaction `tid` reach the device; runs before the commit block. */
  beforeCommit?: (tid: number) => Promise<void>;
  /** Issue flushes (barrier=1, the default); off, the commit relies on write order alone. */
  barrier?: boolean;
  /** The mem= budget the frozen copies are charged to (as 'buffers'); none: not accounted. */
  mem?: MemoryBudget;
}

/**
 * Charge `pages` that cannot be refused (the journal's copies are needed until checkpoint, like
 * Linux's __GFP_NOFAIL journal heads): reclaim first, and overdraw the budget when that is not
 * enough. Returns false when it overdrew, so the caller pushes a checkpoint to pay it back.
 */
export function chargeNoFail(mem: MemoryBudget, pages: number): boolean {
  if (pages <= 0) return true;
  if (mem.tryChargeReclaim('buffers', pages)) return true;
  // MemoryBudget has no forced charge: a negative uncharge is one (freePages goes below zero).
  mem.uncharge('buffers', -pages);
  return false;
}

export type TransactionState = 'running' | 'locked' | 'commit' | 'finished';

/** transaction_t. */
export class Transaction {
  state: TransactionState = 'running';
  /** t_updates: handles open. */
  updates = 0;
  /** t_outstanding_credits: log blocks this transaction may still use. */
  outstanding: number;
  /** Blocks dirtied, by home block number: the filesystem's buffer, by reference until frozen. */
  buffers = new Map<number, Uint8Array>();
  /** Blocks revoked, in order. */
  revokes = new Set<number>();
  /** After the switch: the copies still to be checkpointed (jbd2's checkpoint list). */
  frozen = new Map<number, Uint8Array>();
  /** Transactions whose revokes of our blocks must commit before our log space is released. */
  pinnedBy = new Set<Transaction>();
  /** data=ordered writes to run before the commit block. */
  ordered: (() => Promise<void>)[] = [];
  /** Where the transaction starts in the log (set when its commit starts). */
  logStart = 0;
  /** t_expires (monotonic ns) and its timer. */
  expires = Infinity;
  timer: KernelTimer | null = null;
  constructor(readonly tid: number, credits: number) { this.outstanding = credits; }
}

/** handle_t. */
export class Jbd2Handle {
  /** h_total_credits left for new buffers. */
  credits: number;
  revokeCredits: number;
  /** Revoke records and revoke blocks reserved (extend() raises both). */
  revokeRecords: number;
  revokeBlockCredits: number;
  /** h_sync: stop() commits the transaction and waits (fsync, O_SYNC). */
  sync = false;
  stopped = false;
  constructor(readonly transaction: Transaction, credits: number, revokeRecords: number, revokeBlocks: number) {
    this.credits = credits;
    this.revokeCredits = this.revokeRecords = revokeRecords;
    this.revokeBlockCredits = revokeBlocks;
  }
}

export interface JournalStats {
  first: number; last: number; head: number; tail: number; free: number;
  tailSequence: number; transactionSequence: number; commitSequence: number;
  maxTransactionBuffers: number; checkpointTransactions: number;
  running: number | null; committing: number | null;
}

/** journal_t, writing side. */
export class Jbd2Journal {
  readonly dev: JournalDevice;
  readonly log: JournalLog;
  readonly blocksize: number;
  /** The journal superblock as we will next write it. */
  sb: Uint8Array;
  first: number;
  last: number;
  totalLen: number;
  compat: number;
  incompat: number;
  csumSeed: number;
  /** j_max_transaction_buffers: the largest transaction, in log blocks. */
  maxTransactionBuffers: number;
  head: number;
  tail: number;
  /** j_free: log blocks between head and tail. */
  free: number;
  tailSequence: number;
  /** j_transaction_sequence: the tid the next transaction gets. */
  transactionSequence: number;
  commitSequence: number;
  commitRequest: number;
  /** JBD2_FLUSHED: the superblock says "empty"; the next commit must write the tail first. */
  flushed: boolean;
  running: Transaction | null = null;
  committing: Transaction | null = null;
  checkpointList: Transaction[] = [];
  readonly checkpointMutex = new Mutex();
  /** Every state change wakes this queue; waiters re-check their condition (wait_event style). */
  private readonly wq = new WaitQueue();
  /** Non-zero once the journal has aborted: the errno. */
  aborted = 0;
  private kjournaldBusy = false;
  private destroyed = false;
  private readonly clock: JournalClock | undefined;
  private readonly commitIntervalNs: number;
  private readonly beforeCommit: ((tid: number) => Promise<void>) | undefined;
  private readonly barrier: boolean;
  private readonly mem: MemoryBudget | undefined;
  /** Bytes of frozen copies charged to `mem`, and the pages that stands for. */
  private frozenBytes = 0;
  private frozenPages = 0;

  private constructor(dev: JournalDevice, log: JournalLog, sb: Uint8Array, opts: JournalOptions) {
    this.dev = dev;
    this.log = log;
    this.blocksize = dev.blockSize;
    this.sb = sb;
    this.first = 0; this.last = 0; this.totalLen = 0;
    this.compat = 0; this.incompat = 0; this.csumSeed = 0;
    this.maxTransactionBuffers = 0;
    this.clock = opts.clock;
    this.commitIntervalNs = (opts.commitIntervalMs ?? 5000) * 1_000_000;
    this.beforeCommit = opts.beforeCommit;
    this.barrier = opts.barrier ?? true;
    this.mem = opts.mem;
    // journal_reset(): an empty log whose first transaction gets s_sequence.
    this.transactionSequence = be32(sb, S_SEQUENCE);
    this.head = this.tail = 0;
    this.free = 0;
    this.tailSequence = this.transactionSequence;
    this.commitSequence = (this.transactionSequence - 1) >>> 0;
    this.commitRequest = this.commitSequence;
    this.flushed = true;
  }

  /**
   * jbd2_journal_load(): validate the superblock, replay the log if it needs it, and reset the
   * journal to an empty log starting at s_first.
   */
  static async open(dev: JournalDevice, opts: JournalOptions = {}): Promise<Jbd2Journal> {
    const log = opts.log ?? (() => {});
    if (journalNeedsRecovery(await devCall(() => dev.readBlock(0)))) await recoverJournal(dev, log);
    const lj = await loadJournal(dev, log);
    if (be32(lj.sb, H_BLOCKTYPE) !== JBD2_SUPERBLOCK_V2) {
      log(KERN_ERR, 'JBD2: cannot write a V1 journal superblock');
      fail(EINVAL);
    }
    if (lj.incompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT) {
      log(KERN_ERR, 'JBD2: async_commit journals are not supported for writing');
      fail(EINVAL);
    }
    const j = new Jbd2Journal(dev, log, lj.sb, opts);
    j.first = lj.first;
    j.last = lj.last;
    j.totalLen = lj.totalLen;
    j.compat = lj.compat;
    j.incompat = lj.incompat;
    j.csumSeed = lj.csumSeed;
    j.maxTransactionBuffers = Math.floor(lj.totalLen / 4);
    j.head = j.tail = j.first;
    j.free = j.last - j.first;
    return j;
  }

  // ---- features (jbd2_journal_set_features / clear_features) ----

  /** Turn journal features on, as the filesystem asks at mount (64bit, csum v3, revoke). */
  setFeatures(compat: number, roCompat: number, incompat: number): void {
    if ((compat & ~JBD2_KNOWN_COMPAT_FEATURES) || (roCompat & ~JBD2_KNOWN_ROCOMPAT_FEATURES) ||
        (incompat & ~JBD2_KNOWN_INCOMPAT_FEATURES) || (incompat & JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT))
      fail(EINVAL);
    const sb = this.sb;
    if (incompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3)) {
      sb[S_CHECKSUM_TYPE] = JBD2_CRC32C_CHKSUM;
      putBe32(sb, S_FEATURE_COMPAT, be32(sb, S_FEATURE_COMPAT) & ~JBD2_FEATURE_COMPAT_CHECKSUM);
      const other = incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3 ? JBD2_FEATURE_INCOMPAT_CSUM_V2 : JBD2_FEATURE_INCOMPAT_CSUM_V3;
      putBe32(sb, S_FEATURE_INCOMPAT, be32(sb, S_FEATURE_INCOMPAT) & ~other);
    }
    if (compat & JBD2_FEATURE_COMPAT_CHECKSUM)
      putBe32(sb, S_FEATURE_INCOMPAT, be32(sb, S_FEATURE_INCOMPAT) & ~(JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3));
    putBe32(sb, S_FEATURE_COMPAT, (be32(sb, S_FEATURE_COMPAT) | compat) >>> 0);
    putBe32(sb, S_FEATURE_RO_COMPAT, (be32(sb, S_FEATURE_RO_COMPAT) | roCompat) >>> 0);
    putBe32(sb, S_FEATURE_INCOMPAT, (be32(sb, S_FEATURE_INCOMPAT) | incompat) >>> 0);
    this.reloadFeatures();
  }

  clearFeatures(compat: number, roCompat: number, incompat: number): void {
    const sb = this.sb;
    putBe32(sb, S_FEATURE_COMPAT, be32(sb, S_FEATURE_COMPAT) & ~compat);
    putBe32(sb, S_FEATURE_RO_COMPAT, be32(sb, S_FEATURE_RO_COMPAT) & ~roCompat);
    putBe32(sb, S_FEATURE_INCOMPAT, be32(sb, S_FEATURE_INCOMPAT) & ~incompat);
    this.reloadFeatures();
  }

  private reloadFeatures(): void {
    this.compat = be32(this.sb, S_FEATURE_COMPAT);
    this.incompat = be32(this.sb, S_FEATURE_INCOMPAT);
    this.csumSeed = hasCsumV2or3(this) ? csumSeed(this.sb) : 0;
    // Features take effect through the superblock: make sure the next commit writes it.
    this.sbDirty = true;
  }

  private sbDirty = false;

  get format(): LogFormat {
    return { blocksize: this.blocksize, compat: this.compat, incompat: this.incompat,
      uuid: this.sb.subarray(S_UUID, S_UUID + 16), csumSeed: this.csumSeed };
  }

  /** jbd2_descriptor_blocks_per_trans(): the commit block plus the descriptors of a full transaction. */
  private descriptorBlocksPerTrans(): number {
    return 1 + Math.ceil(this.maxTransactionBuffers / Math.max(1, tagsPerDescriptor(this.format)));
  }

  /** jbd2_log_space_left(). */
  logSpaceLeft(): number {
    let free = this.free - 32;
    if (this.committing) free -= this.committing.outstanding;
    return Math.max(free, 0);
  }

  stats(): JournalStats {
    return {
      first: this.first, last: this.last, head: this.head, tail: this.tail, free: this.free,
      tailSequence: this.tailSequence, transactionSequence: this.transactionSequence,
      commitSequence: this.commitSequence, maxTransactionBuffers: this.maxTransactionBuffers,
      checkpointTransactions: this.checkpointList.length,
      running: this.running?.tid ?? null, committing: this.committing?.tid ?? null,
    };
  }

  // ---- handles ----

  /**
   * jbd2__journal_start(): a handle on the running transaction with room for `credits` blocks and
   * `revokeRecords` revoke records. Waits while the running transaction is locked for commit, is
   * too full to take the credits (its commit is started), or the log lacks space (checkpoint).
   */
  async start(credits: number, revokeRecords = 0): Promise<Jbd2Handle> {
    if (this.aborted || this.destroyed) fail(EROFS);
    if (!Number.isInteger(credits) || credits < 0 || !Number.isInteger(revokeRecords) || revokeRecords < 0) fail(EINVAL);
    const revokeBlocks = Math.ceil(revokeRecords / revokeRecordsPerBlock(this.format));
    const total = credits + revokeBlocks;
    if (total > this.maxTransactionBuffers) {
      this.log(KERN_ERR, `JBD2: ${this.dev.name ?? 'journal'} wants too many credits credits:${total} rsv_credits:0 max:${this.maxTransactionBuffers}`);
      fail(ENOSPC);
    }
    for (;;) {
      if (this.aborted) fail(EROFS);
      if (!this.running) this.running = this.newTransaction();
      const t = this.running;
      if (t.state !== 'running') { await this.wq.sleep(); continue; }
      if (t.outstanding + total > this.maxTransactionBuffers) {
        // Too large already: commit it and join the next one.
        this.logStartCommit(t.tid);
        await this.wq.sleep();
        continue;
      }
      if (this.logSpaceLeft() < this.maxTransactionBuffers) {
        await this.logWaitForSpace();
        continue;
      }
      t.outstanding += total;
      t.updates++;
      return new Jbd2Handle(t, credits, revokeRecords, revokeBlocks);
    }
  }

  private checkHandle(h: Jbd2Handle): Transaction {
    if (h.stopped) fail(EINVAL, 'jbd2: handle already stopped');
    if (this.aborted) fail(EROFS);
    return h.transaction;
  }

  /**
   * jbd2_journal_get_write_access(): the filesystem is about to change `blockNr`. A revoke of it
   * in the running transaction is cancelled (the block is metadata again).
   */
  getWriteAccess(h: Jbd2Handle, blockNr: number): void {
    const t = this.checkHandle(h);
    this.cancelRevoke(t, blockNr);
  }

  /** jbd2_journal_get_create_access(): a freshly allocated metadata block. */
  getCreateAccess(h: Jbd2Handle, blockNr: number): void {
    this.getWriteAccess(h, blockNr);
  }

  /**
   * jbd2_journal_dirty_metadata(): `bytes` (a full block) is the new content of `blockNr`. The
   * journal keeps the reference and copies it when the commit starts (no handle open then), so
   * the filesystem may pass its cache buffer and go on changing it; what it changes after the
   * copy belongs to the next transaction, where it must dirty the block again.
   */
  dirtyMetadata(h: Jbd2Handle, blockNr: number, bytes: Uint8Array): void {
    const t = this.checkHandle(h);
    if (bytes.length !== this.blocksize) fail(EINVAL, `jbd2: block of ${bytes.length} bytes, want ${this.blocksize}`);
    if (!Number.isSafeInteger(blockNr) || blockNr < 0) fail(EINVAL);
    this.cancelRevoke(t, blockNr);
    if (!t.buffers.has(blockNr)) {
      if (h.credits <= 0) {
        this.log(KERN_ERR, `JBD2: ${this.dev.name ?? 'journal'}: handle out of credits dirtying block ${blockNr}`);
        fail(ENOSPC);
      }
      h.credits--;
    }
    t.buffers.set(blockNr, bytes);
  }

  /** The data=ordered list: `write` puts file data on the device before this transaction commits. */
  addOrderedData(h: Jbd2Handle, write: () => Promise<void>): void {
    this.checkHandle(h).ordered.push(write);
  }

  /**
   * jbd2_journal_revoke(): `blockNr` (metadata) is being freed; a replay must not write any older
   * logged copy of it over whatever the block holds next.
   */
  revoke(h: Jbd2Handle, blockNr: number): void {
    const t = this.checkHandle(h);
    if (!(this.incompat & JBD2_FEATURE_INCOMPAT_REVOKE)) this.setFeatures(0, 0, JBD2_FEATURE_INCOMPAT_REVOKE);
    if (h.revokeCredits <= 0) {
      this.log(KERN_ERR, `JBD2: ${this.dev.name ?? 'journal'}: revoke of block ${blockNr} without revoke credits`);
      fail(EIO);
    }
    if (t.revokes.has(blockNr)) {
      this.log(KERN_ERR, `JBD2: revoking already revoked block ${blockNr}: inconsistent data on disk`);
      fail(EIO);
    }
    h.revokeCredits--;
    t.revokes.add(blockNr);
    // jbd2_journal_forget(): the block leaves this transaction, and older copies are no longer
    // written home, though their transactions stay in the log until ours commits.
    if (t.buffers.delete(blockNr)) h.credits++;
    const older = this.committing ? [...this.checkpointList, this.committing] : this.checkpointList;
    let dropped = false;
    for (const o of older) if (o.frozen.delete(blockNr)) { o.pinnedBy.add(t); dropped = true; }
    if (dropped) this.rechargeFrozen();
  }

  /**
   * Bring the mem= charge of the frozen copies in line with what the committing and checkpoint
   * transactions hold (called wherever copies are made or dropped). Returns false when the budget
   * is overdrawn.
   */
  rechargeFrozen(): boolean {
    if (!this.mem) return true;
    let bytes = 0;
    for (const t of this.checkpointList) bytes += t.frozen.size * this.blocksize;
    if (this.committing) bytes += this.committing.frozen.size * this.blocksize;
    this.frozenBytes = bytes;
    const pages = Math.ceil(bytes / PAGE_SIZE);
    const delta = pages - this.frozenPages;
    this.frozenPages = pages;
    if (delta < 0) { this.mem.uncharge('buffers', -delta); return this.mem.freePages >= 0; }
    return chargeNoFail(this.mem, delta) && this.mem.freePages >= 0;
  }

  /** Memory the journal's own copies hold (bytes), for tests and /proc-style reports. */
  get frozenMemory(): number { return this.frozenBytes; }

  /** Is the mem= budget overdrawn (journal copies waiting for a checkpoint to pay it back)? */
  memoryTight(): boolean { return !!this.mem && this.mem.freePages < 0; }

  /**
   * jbd2_journal_extend(): `credits` more buffers and `revokeRecords` more revoke records for a
   * handle already open. Unlike start() this never waits for the handle's own transaction to
   * commit (it cannot, the handle holds it open): the transaction may grow past
   * maxTransactionBuffers while the log still has room for all of it (its descriptor blocks
   * included), making room first by waiting for the committing transaction and checkpointing
   * committed ones. Returns false when the log cannot hold that much (the caller fails the
   * operation or stops and restarts its handle).
   */
  async extend(h: Jbd2Handle, credits: number, revokeRecords = 0): Promise<boolean> {
    for (;;) {
      if (this.tryExtend(h, credits, revokeRecords)) return true;
      if (this.committing) { await this.waitCommit(this.committing.tid); continue; }
      if (!this.checkpointList.length) return false;
      await this.checkpointMutex.lock();
      let released: number;
      let moved: boolean;
      try {
        released = await logDoCheckpoint(this);
        moved = await cleanupJournalTail(this);
      } finally {
        this.checkpointMutex.unlock();
      }
      // Nothing more to gain: the oldest transaction is pinned by a revoke in ours.
      if (!released && !moved) return false;
    }
  }

  /** extend() without waiting: succeeds only when the log has the room now. */
  tryExtend(h: Jbd2Handle, credits: number, revokeRecords = 0): boolean {
    const t = this.checkHandle(h);
    if (!Number.isInteger(credits) || credits < 0 || !Number.isInteger(revokeRecords) || revokeRecords < 0) fail(EINVAL);
    const f = this.format;
    const newRecords = h.revokeRecords + revokeRecords;
    // Revoke blocks for the handle's new record total, beyond those it reserved already.
    const moreRevokeBlocks = Math.max(0, Math.ceil(newRecords / revokeRecordsPerBlock(f)) - h.revokeBlockCredits);
    // Buffers past the soft maximum need descriptor blocks of their own.
    const moreDescriptors = credits ? Math.ceil(credits / Math.max(1, tagsPerDescriptor(f))) : 0;
    const wanted = credits + moreDescriptors + moreRevokeBlocks;
    if (t.outstanding + wanted > this.logSpaceLeft()) return false;
    t.outstanding += wanted;
    h.credits += credits + moreDescriptors;
    h.revokeCredits += revokeRecords;
    h.revokeRecords = newRecords;
    h.revokeBlockCredits += moreRevokeBlocks;
    return true;
  }

  /** jbd2_journal_cancel_revoke(). */
  private cancelRevoke(t: Transaction, blockNr: number): void {
    t.revokes.delete(blockNr);
  }

  /**
   * jbd2_journal_stop(): return unused credits; a sync handle commits and waits, and a transaction
   * over its size or past its interval starts committing.
   */
  async stop(h: Jbd2Handle): Promise<void> {
    if (h.stopped) fail(EINVAL, 'jbd2: handle already stopped');
    h.stopped = true;
    const t = h.transaction;
    // Unused buffer credits go back, and the revoke blocks the unused revoke records needed.
    const revokesUsed = h.revokeRecords - h.revokeCredits;
    const perBlock = revokeRecordsPerBlock(this.format);
    t.outstanding -= h.credits + (h.revokeBlockCredits - Math.ceil(revokesUsed / perBlock));
    t.updates--;
    if (t.updates === 0) this.wq.wakeAll();
    if (this.aborted) fail(EIO);
    if (h.sync) {
      this.logStartCommit(t.tid);
      await this.waitCommit(t.tid);
    } else if (t.state === 'running' &&
        (t.outstanding > this.maxTransactionBuffers || (this.clock && this.clock.monotonicNs() >= t.expires))) {
      this.logStartCommit(t.tid);
    }
  }

  // ---- commit ----

  private newTransaction(): Transaction {
    const t = new Transaction(this.transactionSequence, this.descriptorBlocksPerTrans());
    this.transactionSequence = (this.transactionSequence + 1) >>> 0;
    if (this.clock) {
      t.expires = this.clock.monotonicNs() + this.commitIntervalNs;
      t.timer = this.clock.addTimer(t.expires, () => { t.timer = null; this.logStartCommit(t.tid); }, true);
    }
    return t;
  }

  /** jbd2_log_start_commit(): ask the commit thread to commit up to `tid`. */
  logStartCommit(tid: number): void {
    if (tidGt(tid, this.commitRequest)) this.commitRequest = tid;
    if (this.kjournaldBusy) return;
    this.kjournaldBusy = true;
    void this.kjournald();
  }

  /** The commit thread: commits the running transaction while one is requested. */
  private async kjournald(): Promise<void> {
    try {
      while (!this.aborted && this.running && tidGeq(this.commitRequest, this.running.tid)) {
        await this.commitTransaction(this.running);
        // Copies overdrew mem=: write them home now instead of waiting for the log to fill.
        if (this.memoryTight() && !this.destroyed) await checkpointAll(this);
      }
    } catch (e) {
      this.abort(e instanceof KernelError ? e.errno : EIO);
    } finally {
      this.kjournaldBusy = false;
      this.wq.wakeAll();
    }
  }

  /** jbd2_log_wait_commit(). */
  async waitCommit(tid: number): Promise<void> {
    while (!tidGeq(this.commitSequence, tid)) {
      if (this.aborted) fail(EIO);
      await this.wq.sleep();
    }
    if (this.aborted) fail(EIO);
  }

  /** jbd2_journal_force_commit(): commit what is running (or committing) and wait for it. */
  async commit(): Promise<void> {
    if (this.aborted) fail(EIO);
    const t = this.running ?? this.committing;
    if (!t) return;
    this.logStartCommit(t.tid);
    await this.waitCommit(t.tid);
  }

  private abort(errno: number): void {
    if (this.aborted) return;
    this.aborted = errno;
    this.log(KERN_ERR, `Aborting journal on device ${this.dev.name ?? 'journal'}.`);
    this.wq.wakeAll();
  }

  /** j_head -> next log block (jbd2_journal_next_log_block). */
  private nextLogBlock(): number {
    const n = this.head;
    this.head++;
    this.free--;
    if (this.head === this.last) this.head = this.first;
    return n;
  }

  async devCall<T>(f: () => Promise<T>): Promise<T> {
    return devCall(f);
  }

  async flushDevice(): Promise<void> {
    if (this.barrier && this.dev.flush) await devCall(() => this.dev.flush!());
  }

  /** jbd2_write_superblock() of the in-memory superblock; `fua` adds a flush after it. */
  private async writeSuperblock(preflush: boolean, fua: boolean): Promise<void> {
    if (hasCsumV2or3(this)) putBe32(this.sb, S_CHECKSUM, superblockCsum(this.sb));
    if (preflush) await this.flushDevice();
    await devCall(() => this.dev.writeJournalBlock(0, this.sb.slice()));
    if (fua) await this.flushDevice();
    this.sbDirty = false;
  }

  /** jbd2_journal_update_sb_log_tail(). */
  async writeSbLogTail(tid: number, block: number, fua: boolean): Promise<void> {
    putBe32(this.sb, S_SEQUENCE, tid >>> 0);
    putBe32(this.sb, S_START, block);
    await this.writeSuperblock(false, fua);
    this.flushed = false;
  }

  /** jbd2_journal_commit_transaction(). */
  private async commitTransaction(t: Transaction): Promise<void> {
    // Lock: no new handle joins; wait for the open ones.
    t.state = 'locked';
    t.timer?.cancel();
    t.timer = null;
    while (t.updates > 0) await this.wq.sleep();
    // Switch (no await from here to the freeze): a new running transaction may start.
    this.running = null;
    this.committing = t;
    t.state = 'commit';
    const bufs: LogBuffer[] = [];
    for (const [blockNr, data] of t.buffers) {
      const copy = data.slice();
      bufs.push({ blockNr, data: copy });
      t.frozen.set(blockNr, copy);
    }
    t.buffers.clear();
    t.logStart = this.head;
    this.rechargeFrozen();
    this.wq.wakeAll();

    if (this.flushed || this.sbDirty) {
      // Under the checkpoint mutex, as Linux: a tail update in flight must not be overwritten
      // with the tail it replaces.
      await this.checkpointMutex.lock();
      try {
        if (this.flushed || this.sbDirty) await this.writeSbLogTail(this.tailSequence, this.tail, false);
      } finally {
        this.checkpointMutex.unlock();
      }
    }
    for (const w of t.ordered) await w();
    t.ordered = [];
    if (this.beforeCommit) await this.beforeCommit(t.tid);

    const f = this.format;
    const revokeBlocks = buildRevokeBlocks(f, t.tid, t.revokes);
    const desc = buildDescriptorBlocks(f, t.tid, bufs);
    const need = revokeBlocks.length + desc.blocks.length + 1;
    if (need > this.free) {
      this.log(KERN_ERR, `JBD2: ${this.dev.name ?? 'journal'}: commit of ${need} blocks with only ${this.free} log blocks free`);
      fail(EIO);
    }
    for (const b of [...revokeBlocks, ...desc.blocks]) {
      const n = this.nextLogBlock();
      await devCall(() => this.dev.writeJournalBlock(n, b));
    }
    // The commit record: preflush (everything above and the ordered data is durable) and FUA.
    const now = this.clock ? this.clock.realtime() : { sec: 0, nsec: 0 };
    const cb = buildCommitBlock(f, t.tid, now, desc.crc32Sum);
    await this.flushDevice();
    const n = this.nextLogBlock();
    await devCall(() => this.dev.writeJournalBlock(n, cb));
    await this.flushDevice();

    t.state = 'finished';
    t.outstanding = 0;
    this.committing = null;
    this.commitSequence = t.tid;
    this.checkpointList.push(t);
    this.wq.wakeAll();
  }

  // ---- log space, checkpoint, shutdown ----

  /** __jbd2_log_wait_for_space(). */
  private async logWaitForSpace(): Promise<void> {
    while (this.logSpaceLeft() < this.maxTransactionBuffers) {
      if (this.aborted) fail(EROFS);
      const cp = this.checkpointList[0];
      if (cp) {
        const pin = [...cp.pinnedBy].find((p) => p.state !== 'finished');
        if (pin) {
          // The oldest transaction waits for a revoke in a later one: commit that first.
          this.logStartCommit(pin.tid);
          await this.waitCommit(pin.tid);
          continue;
        }
        await this.checkpointMutex.lock();
        try {
          await logDoCheckpoint(this);
          await cleanupJournalTail(this);
        } finally {
          this.checkpointMutex.unlock();
        }
      } else if (this.committing) {
        await this.waitCommit(this.committing.tid);
      } else {
        await this.checkpointMutex.lock();
        let moved: boolean;
        try { moved = await cleanupJournalTail(this); } finally { this.checkpointMutex.unlock(); }
        if (!moved && this.logSpaceLeft() < this.maxTransactionBuffers) {
          this.log(KERN_ERR, `JBD2: ${this.dev.name ?? 'journal'}: needed ${this.maxTransactionBuffers} blocks and only had ${this.logSpaceLeft()} space available`);
          this.abort(EIO);
          fail(EIO);
        }
      }
    }
  }

  /** jbd2_journal_flush() without the erase: commit, then checkpoint everything committed. */
  async flush(): Promise<void> {
    await this.commit();
    if (this.committing) await this.waitCommit(this.committing.tid);
    await checkpointAll(this);
    if (this.aborted) fail(EIO);
  }

  /** Checkpoint what is committed (the log then holds only what is running or committing). */
  async checkpoint(): Promise<void> {
    await checkpointAll(this);
    if (this.aborted) fail(EIO);
  }

  /**
   * jbd2_journal_destroy(): commit what is left, checkpoint it all, and mark the journal empty
   * (s_start = 0, s_sequence one past the last tid), so the next mount has nothing to replay.
   * Nothing may be using the journal any more.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      if (!this.aborted) {
        await this.commit();
        while (this.committing || this.kjournaldBusy) await this.wq.sleep();
        await checkpointAll(this);
      }
    } finally {
      this.destroyed = true;
      this.running?.timer?.cancel();
      // Whatever copies are left (an aborted journal) are dropped with the journal.
      if (this.mem && this.frozenPages) this.mem.uncharge('buffers', this.frozenPages);
      this.frozenPages = this.frozenBytes = 0;
    }
    if (this.aborted) fail(EIO);
    this.transactionSequence = (this.transactionSequence + 1) >>> 0;
    this.tailSequence = this.transactionSequence;
    await this.markJournalEmpty();
  }

  /** jbd2_mark_journal_empty() with preflush and FUA. */
  private async markJournalEmpty(): Promise<void> {
    if (be32(this.sb, S_START) === 0) return; // already empty on disk
    putBe32(this.sb, S_SEQUENCE, this.tailSequence >>> 0);
    putBe32(this.sb, S_START, 0);
    putBe32(this.sb, S_HEAD, this.head);
    await this.writeSuperblock(true, true);
    this.flushed = true;
  }
}
