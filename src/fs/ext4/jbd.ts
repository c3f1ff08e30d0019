/*
 * ext4's side of journaling (fs/ext4/ext4_jbd2.c): handles, and where changed metadata lives
 * until the journal lets it go home.
 *
 * Every metadata change of a read-write mount is made inside an Ext4Handle. getBlock() hands out
 * the one mutable copy of a metadata block for the whole filesystem; dirty() tells the journal
 * the block changed (jbd2_journal_dirty_metadata). With a journal, a changed block must not reach
 * its home location before the transaction holding it commits, so the copy lives in the
 * superblock's metadata overlay (Ext4Sb.metaOverlay, which Ext4Sb.bread consults first) and only
 * the journal's checkpoint writes it home; the overlay entry is dropped once the home block holds
 * the latest content. Without a journal (ext2, ^has_journal) a changed block is written to the
 * block cache when the handle stops, and sync writes it back.
 *
 * File data goes straight to the block cache. data=ordered holds because the commit flushes the
 * device (all dirty cache blocks, the data included) before it writes the commit block.
 *
 * Credits follow ext4's estimates loosely: callers ask for a bound on distinct blocks they may
 * dirty; the journal refuses a handle larger than a transaction may grow.
 */
import { isPromise } from '../../lib/errors.js';
import { Mutex } from '../../lib/mutex.js';
import type { Jbd2Journal, Jbd2Handle } from '../jbd2/index.js';
import type { Ext4Sb, Ext4Inode } from './ext4.js';

/** Per-mount write state, kept outside Ext4Sb so the read-only driver does not carry it. */
export interface Ext4WriteState {
  journal: Jbd2Journal | null;
  /**
   * Blocks freed, by the tid of the transaction that freed them: not reused until it has
   * committed, so a crash before that commit cannot find them holding someone else's data.
   */
  pendingFree: Map<number, Set<number>>;
  /** Next i_generation. */
  nextGeneration: number;
  /** Superblock counters/state must be written at the next sync. */
  sbDirty: boolean;
  /**
   * Without a journal each handle works on private copies written back when it stops, so handles
   * run one at a time (a journal's handles share the overlay buffers instead and run together).
   */
  noJournalLock: Mutex;
}

const states = new WeakMap<Ext4Sb, Ext4WriteState>();

export function writeState(sbi: Ext4Sb): Ext4WriteState {
  const s = states.get(sbi);
  if (!s) throw new Error('ext4: no write state (read-only mount)');
  return s;
}
export function setWriteState(sbi: Ext4Sb, s: Ext4WriteState | null): void {
  if (s) states.set(sbi, s); else states.delete(sbi);
}
export function isWritable(sbi: Ext4Sb): boolean { return states.has(sbi); }

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

/** handle_t for ext4: the jbd2 handle (null without a journal) and the blocks it touched. */
export class Ext4Handle {
  readonly blocks = new Map<number, Uint8Array>();
  private stopped = false;
  constructor(readonly sbi: Ext4Sb, readonly h: Jbd2Handle | null) {}

  /** A mutable copy of metadata block `nr` (the same object for every caller until it goes home). */
  async getBlock(nr: number, fresh = false): Promise<Uint8Array> {
    const have = this.blocks.get(nr);
    if (have) return have;
    const sbi = this.sbi;
    const j = writeState(sbi).journal;
    let b: Uint8Array;
    if (j) {
      const o = sbi.metaOverlay.get(nr);
      if (o) b = o;
      else {
        b = fresh ? new Uint8Array(sbi.blockSize) : (await aw(sbi.bdev.bread(nr, sbi.blockSize))).slice();
        sbi.metaOverlay.set(nr, b);
      }
      j.getWriteAccess(this.h!, nr);
    } else {
      b = fresh ? new Uint8Array(sbi.blockSize) : (await aw(sbi.bdev.bread(nr, sbi.blockSize))).slice();
    }
    this.blocks.set(nr, b);
    return b;
  }

  /** Register a buffer that is already the filesystem's authoritative copy (group descriptor blocks). */
  adopt(nr: number, b: Uint8Array): void {
    this.blocks.set(nr, b);
    const j = writeState(this.sbi).journal;
    if (j) { this.sbi.metaOverlay.set(nr, b); j.getWriteAccess(this.h!, nr); }
  }

  /** The block's new content is final for this handle. */
  dirty(nr: number): void {
    const b = this.blocks.get(nr);
    if (!b) throw new Error(`ext4: dirtying block ${nr} without getBlock`);
    const j = writeState(this.sbi).journal;
    if (j) j.dirtyMetadata(this.h!, nr, b);
  }

  /** A metadata block is freed: a replay must not write an old logged copy over its next use. */
  forget(nr: number): void {
    const j = writeState(this.sbi).journal;
    this.blocks.delete(nr);
    this.sbi.metaOverlay.delete(nr);
    if (j) j.revoke(this.h!, nr);
  }

  async stop(sync = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const sbi = this.sbi;
    const j = writeState(sbi).journal;
    if (j) {
      if (sync) this.h!.sync = true;
      await j.stop(this.h!);
      return;
    }
    try {
      for (const [nr, b] of this.blocks) await aw(sbi.bdev.bwrite(nr, sbi.blockSize, b.slice()));
      if (sync) await sbi.bdev.sync();
    } finally {
      writeState(sbi).noJournalLock.unlock();
    }
  }
}

/** ext4_journal_start: `credits` distinct metadata blocks, `revokes` freed metadata blocks. */
/**
 * Every handle may revoke a few blocks by default: an extent tree that shrinks after a merge (a
 * write into preallocated space, an insertion joining two extents) frees a leaf, and a freed
 * metadata block is revoked.
 */
export const DEFAULT_REVOKES = 4;

export async function ext4JournalStart(sbi: Ext4Sb, credits: number, revokes = DEFAULT_REVOKES): Promise<Ext4Handle> {
  const ws = writeState(sbi);
  const j = ws.journal;
  if (!j) {
    await ws.noJournalLock.lock();
    return new Ext4Handle(sbi, null);
  }
  const max = j.maxTransactionBuffers - 8;
  return new Ext4Handle(sbi, await j.start(Math.min(credits, max), revokes));
}

/** Run `fn` in a handle; the handle stops whatever happens (errors leave earlier changes logged, as Linux). */
export async function withHandle<T>(sbi: Ext4Sb, credits: number, fn: (h: Ext4Handle) => Promise<T>, revokes = DEFAULT_REVOKES): Promise<T> {
  const h = await ext4JournalStart(sbi, credits, revokes);
  try { return await fn(h); } finally { await h.stop(); }
}

/** Journal checkpoint callback: a block reached home; keep the overlay only if it changed since. */
export function homeWritten(sbi: Ext4Sb, nr: number, data: Uint8Array): void {
  const o = sbi.metaOverlay.get(nr);
  if (!o) return;
  if (o.length === data.length) {
    for (let i = 0; i < o.length; i++) if (o[i] !== data[i]) return;
    sbi.metaOverlay.delete(nr);
  }
}

/** A block freed in `h` (journalled mounts): keep it from reuse until its transaction commits. */
export function markFreed(h: Ext4Handle, nr: number): void {
  if (!h.h) return;
  const ws = writeState(h.sbi);
  const tid = h.h.transaction.tid;
  let set = ws.pendingFree.get(tid);
  if (!set) ws.pendingFree.set(tid, set = new Set());
  set.add(nr);
}

/** Is `nr` freed by a transaction that has not committed yet? */
export function isPendingFree(sbi: Ext4Sb, nr: number): boolean {
  const ws = writeState(sbi);
  if (!ws.journal || ws.pendingFree.size === 0) return false;
  const done = ws.journal.commitSequence;
  for (const [tid, set] of ws.pendingFree) {
    // Committed (tid <= commitSequence, wrapping): free for good.
    if (((done - tid) | 0) >= 0) { ws.pendingFree.delete(tid); continue; }
    if (set.has(nr)) return true;
  }
  return false;
}

/**
 * Where a file's data block goes: the block cache (data=ordered and writeback; the commit orders
 * it) or, under data=journal, the journal like metadata.
 */
export async function ext4WriteDataBlock(h: Ext4Handle, inode: Ext4Inode, pblk: number, data: Uint8Array): Promise<void> {
  void inode;
  await aw(h.sbi.bdev.bwrite(pblk, h.sbi.blockSize, data));
}

/** ext4_should_journal_data: are this inode's data blocks journalled (so freed ones are revoked)? */
export function ext4ShouldJournalData(inode: Ext4Inode): boolean {
  void inode;
  return false;
}
