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
 * File data, by the data= mode (ext4ShouldJournalData decides per inode, as Linux's
 * ext4_inode_journal_mode):
 *   ordered    (the default) data goes straight to the block cache; the order holds because the
 *              commit flushes the device (all dirty cache blocks, the data included) before it
 *              writes the commit block, so committed metadata never points at unwritten data.
 *   writeback  Linux drops that ordering: metadata may commit before the data it maps reaches
 *              the disk, so a crash can leave stale bytes in recently written files (never a
 *              metadata inconsistency: e2fsck stays clean). Here the block device can only flush
 *              as a whole (BlockDevice.sync has no range), so the commit's flush still takes the
 *              data along: writeback behaves as ordered, a stronger guarantee Linux permits.
 *   journal    every file data block is journalled like metadata (ext4WriteDataBlock): it lives
 *              in the same overlay as metadata until the checkpoint takes it home, so readers
 *              (sbi.bread, file.ts) must look there first; freed data blocks are revoked, so a
 *              replay never writes an old copy over the block's next owner. fsync is a commit.
 *              With nodelalloc, a regular file carrying EXT4_JOURNAL_DATA_FL (chattr +j) is
 *              journalled the same way under ordered or writeback; with delalloc (the default)
 *              Linux ignores the flag, and so do we.
 * A journalled data block costs a credit the caller did not count (ext4FileWrite reserves
 * metadata credits only): ext4WriteDataBlock extends the handle (jbd2_journal_extend) when it
 * runs out, and forget() extends the revoke records.
 *
 * Memory: the overlay's blocks are charged to mem= ('buffers'; jbd2 charges its frozen commit
 * copies itself). None of it can be dropped before the checkpoint, so a charge that finds the
 * budget spent overdraws it and asks for a commit; the next handle to start then waits for a
 * commit and a checkpoint, which write the blocks home and let the overlay go.
 *
 * Credits follow ext4's estimates loosely: callers ask for a bound on distinct blocks they may
 * dirty; the journal refuses a handle larger than a transaction may grow.
 */
import { isPromise, fail } from '../../lib/errors.js';
import { Mutex } from '../../lib/mutex.js';
import { ENOSPC } from '../../uapi/errno.js';
import { PAGE_SIZE } from '../../mm/index.js';
import { jbd2ChargeNoFail, type Jbd2Journal, type Jbd2Handle } from '../jbd2/index.js';
import { EXT4_DEFM_JMODE, EXT4_DEFM_JMODE_DATA, EXT4_DEFM_JMODE_WBACK, EXT4_EA_INODE_FL, EXT4_JOURNAL_DATA_FL } from './layout/index.js';
import { ext4Msg, KERN_ERR, type Ext4Sb, type Ext4Inode } from './ext4.js';

export type DataMode = 'journal' | 'ordered' | 'writeback';

/**
 * The data= mode in force: the mount option, else the superblock's default mount options
 * (tune2fs -o journal_data...), else ordered. Without a journal there is none ('').
 */
export function ext4DataMode(sbi: Ext4Sb): DataMode | '' {
  if (!sbi.hasJournal) return '';
  const m = sbi.opts.dataMode;
  if (m === 'journal' || m === 'ordered' || m === 'writeback') return m;
  return defaultDataMode(sbi);
}

/** The mode the superblock's s_default_mount_opts asks for (Linux's s_def_mount_opt). */
export function defaultDataMode(sbi: Ext4Sb): DataMode {
  const j = sbi.es.s_default_mount_opts & EXT4_DEFM_JMODE;
  return j === EXT4_DEFM_JMODE_DATA ? 'journal' : j === EXT4_DEFM_JMODE_WBACK ? 'writeback' : 'ordered';
}

/** Is delayed allocation off (nodelalloc, or data=journal which implies it)? */
export function ext4NoDelalloc(sbi: Ext4Sb): boolean {
  if (ext4DataMode(sbi) === 'journal') return true;
  // super.ts records the option when it parses it (Ext4MountOptions.delalloc); absent: delalloc.
  return (sbi.opts as { delalloc?: boolean }).delalloc === false;
}

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
  /** Inodes whose only change is an atime a read moved (dirtyInode), written at the next sync. */
  dirtyInodes?: Set<Ext4Inode>;
  /** Superblock counters/state must be written at the next sync. */
  sbDirty: boolean;
  /**
   * Without a journal each handle works on private copies written back when it stops, so handles
   * run one at a time (a journal's handles share the overlay buffers instead and run together).
   */
  noJournalLock: Mutex;
  /** The data= mode in force (fixed for the mount: a remount may not change it). */
  dataMode: DataMode | '';
  /** Pages of mem= charged for the overlay's blocks. */
  overlayPages: number;
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
        overlayCharge(sbi);
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
    if (j) { this.sbi.metaOverlay.set(nr, b); overlayCharge(this.sbi); j.getWriteAccess(this.h!, nr); }
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
    if (this.sbi.metaOverlay.delete(nr)) overlayCharge(this.sbi);
    if (j) {
      // Journalled data is revoked block by block, more than the caller may have counted.
      if (this.h!.revokeCredits <= 0) j.tryExtend(this.h!, 0, REVOKE_BATCH);
      j.revoke(this.h!, nr);
    }
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
  // The journal's copies overdrew mem=: have them written home before adding more.
  if (j.memoryTight() || overlayTight(sbi)) { await j.commit(); await j.checkpoint(); }
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
    overlayCharge(sbi);
  }
}

/** Revoke records or data credits asked for at a time when a handle runs out. */
const REVOKE_BATCH = 64;
const DATA_CREDIT_BATCH = 16;

/**
 * Charge (or give back) mem= for the overlay so it matches its size. A charge that finds no
 * memory overdraws and asks the journal to commit: the blocks go home and are released after it.
 */
export function overlayCharge(sbi: Ext4Sb): void {
  const ws = states.get(sbi);
  if (!ws) return;
  const pages = Math.ceil(sbi.metaOverlay.size * sbi.blockSize / PAGE_SIZE);
  const delta = pages - ws.overlayPages;
  if (delta === 0) return;
  ws.overlayPages = pages;
  const mem = sbi.vfs.mem;
  if (delta < 0) { mem.uncharge('buffers', -delta); return; }
  if (!jbd2ChargeNoFail(mem, delta) && ws.journal?.running) ws.journal.logStartCommit(ws.journal.running.tid);
}

/** Give back everything the overlay was charged (unmount, after the overlay is emptied). */
export function overlayUncharge(sbi: Ext4Sb): void {
  const ws = states.get(sbi);
  if (!ws || !ws.overlayPages) return;
  sbi.vfs.mem.uncharge('buffers', ws.overlayPages);
  ws.overlayPages = 0;
}

function overlayTight(sbi: Ext4Sb): boolean {
  return states.has(sbi) && writeState(sbi).overlayPages > 0 && sbi.vfs.mem.freePages < 0;
}

/** A block freed in `h` (journalled mounts): keep it from reuse until its transaction commits. */
export function markFreed(h: Ext4Handle, nr: number): void {
  if (!h.h) return;
  const ws = writeState(h.sbi);
  // A freed block must leave the journal for good (ext4_free_blocks with EXT4_FREE_BLOCKS_FORGET):
  // its overlay copy dropped and older logged copies revoked. Callers forget() metadata and the
  // blocks of journalled-data inodes they know of; this catches the rest (under data=journal every
  // freed block not yet revoked is journalled file data: block-mapped files free theirs here).
  if (!h.h.transaction.revokes.has(nr) && (h.sbi.metaOverlay.has(nr) || ws.dataMode === 'journal')) h.forget(nr);
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
 * it) or, when the inode journals its data, the journal like metadata: the block joins the
 * overlay (so every reader sees it) and the handle's transaction, and only the checkpoint takes
 * it home. A handle out of credits is extended (ext4FileWrite counts metadata credits only).
 */
export async function ext4WriteDataBlock(h: Ext4Handle, inode: Ext4Inode, pblk: number, data: Uint8Array): Promise<void> {
  const sbi = h.sbi;
  const j = h.h ? writeState(sbi).journal : null;
  if (!j || !ext4ShouldJournalData(inode)) {
    await aw(sbi.bdev.bwrite(pblk, sbi.blockSize, data));
    return;
  }
  const jh = h.h!;
  if (jh.credits <= 0 && !jh.transaction.buffers.has(pblk) && !(await j.extend(jh, DATA_CREDIT_BATCH))) {
    ext4Msg(sbi, KERN_ERR, `journal too small to hold the data of one write (inode ${inode.ino})`);
    fail(ENOSPC);
  }
  // One buffer per block for the whole filesystem: later writes change it in place, so every
  // holder (the running transaction, a handle) sees the newest bytes.
  let b = sbi.metaOverlay.get(pblk);
  if (b && b.length === data.length) b.set(data);
  else {
    b = data.length === sbi.blockSize ? data : data.slice(0, sbi.blockSize);
    sbi.metaOverlay.set(pblk, b);
    overlayCharge(sbi);
  }
  j.getWriteAccess(jh, pblk);
  j.dirtyMetadata(jh, pblk, b);
}

/**
 * How many data blocks one write handle should cover when the inode journals its data (each one
 * is a log block): a quarter of the largest transaction, so a chunk's credits can be reserved up
 * front; `max` (the caller's chunk for unjournalled data) otherwise.
 */
export function ext4WriteChunkBlocks(inode: Ext4Inode, max: number): number {
  const j = states.get(inode.sbi)?.journal;
  if (!j || !ext4ShouldJournalData(inode)) return max;
  return Math.max(16, Math.min(max, Math.floor(j.maxTransactionBuffers / 4)));
}

/**
 * A file data block's newest content, wherever it is (the overlay for journalled data not yet
 * home, else the block cache): what a partial-block write must merge into.
 */
export function ext4ReadDataBlock(sbi: Ext4Sb, pblk: number): Uint8Array | Promise<Uint8Array> {
  return sbi.bread(pblk);
}

/**
 * ext4_should_journal_data: are this inode's data blocks journalled (written through the journal,
 * revoked when freed)? Only on a journalled read-write mount: under data=journal every inode but
 * an encrypted regular file; otherwise what is not a regular file (directories, symlinks: their
 * blocks are metadata), EA inodes, and, with nodelalloc, files flagged EXT4_JOURNAL_DATA_FL.
 */
export function ext4ShouldJournalData(inode: Ext4Inode): boolean {
  const ws = states.get(inode.sbi);
  if (!ws || !ws.journal) return false;
  if (!inode.isReg || (inode.i_flags & EXT4_EA_INODE_FL)) return true;
  if (ws.dataMode === 'journal' || ((inode.i_flags & EXT4_JOURNAL_DATA_FL) && ext4NoDelalloc(inode.sbi)))
    return !inode.encrypted;
  return false;
}
