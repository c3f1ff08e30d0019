/*
 * fallocate(2) on ext4 (fs/ext4/extents.c: ext4_fallocate, ext4_alloc_file_blocks,
 * ext4_zero_range; fs/ext4/inode.c: ext4_punch_hole, ext4_zero_partial_blocks).
 *
 * Preallocation reserves blocks without writing them: the extents that map them carry the
 * "unwritten" flag (the top bit of ee_len), reads see zeros, and the first write into one
 * splits the extent and marks the written part initialised (inode_write.ts mapForWrite). So:
 *   mode 0 / KEEP_SIZE  holes in the range get unwritten extents; without KEEP_SIZE the size
 *                       grows to the end of the range (as far as allocation got);
 *   ZERO_RANGE          the same, and whole blocks already written become unwritten (they read
 *                       as zeros without writing a byte); the partial blocks at the edges are
 *                       zeroed in place;
 *   PUNCH_HOLE          (always with KEEP_SIZE) partial edge blocks zeroed, whole blocks freed.
 *                       Linux stops at the page-rounded end of file (blocks preallocated past
 *                       EOF stay), and frees nothing at or past EOF (the times still change).
 * Preallocation and ZERO_RANGE need extents: on a block-mapped file they are EOPNOTSUPP, as in
 * Linux; punching works for both (block maps drop the pointers and indirect blocks left empty).
 * COLLAPSE_RANGE and INSERT_RANGE are not implemented (EOPNOTSUPP).
 *
 * Journalled data (data=journal, or chattr +j under nodelalloc; jbd.ts): the zeroed edge blocks
 * are read from their newest copy and written through the journal in a handle, and the blocks a
 * punch frees are revoked, as truncation does.
 *
 * Every change of a chunk of the range (a few allocations, or a few extents freed) is one handle:
 * the journal's credits bound a handle, and an ENOSPC in the middle leaves what was done so far
 * consistent, as Linux's loop of ext4_map_blocks calls does. mtime and ctime change first
 * (file_modified), and mtime again when the size grows.
 */
import { fail, isPromise } from '../../lib/errors.js';
import { EOPNOTSUPP, EFBIG, ENOSPC, EINVAL } from '../../uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from '../../uapi/fcntl.js';
import type { File } from '../vfs/index.js';
import type { Ext4Inode } from './ext4.js';
import { allocBlocks, freeBlocks, ALLOC_CREDITS } from './balloc.js';
import {
  loadExtents, storeExtents, treeMax, setExtentState, removeExtentRange, insertUnwritten,
  EXT_UNWRITTEN_MAX_LEN, type Extent,
} from './extents_write.js';
import { indTruncate } from './indirect_write.js';
import { writeInode, checkWritableInode, ext4ConvertInlineData } from './inode_write.js';
import { withHandle, writeState, ext4WriteDataBlock, ext4ReadDataBlock, ext4ShouldJournalData } from './jbd.js';

const PAGE_SIZE = 4096;
/** Allocations or freed runs per handle. */
const PER_HANDLE = 8;

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

/** The extent holding `l`, or the next one's start (Infinity: none). */
function at(list: Extent[], l: number): { e: Extent | null; next: number; prev: Extent | null } {
  let prev: Extent | null = null;
  for (const e of list) {
    if (l < e.lblk) return { e: null, next: e.lblk, prev };
    if (l < e.lblk + e.len) return { e, next: e.lblk, prev };
    prev = e;
  }
  return { e: null, next: Infinity, prev };
}

function inodeGoal(inode: Ext4Inode): number {
  const sbi = inode.sbi;
  return sbi.groupFirstBlock(Math.floor((inode.ino - 1) / sbi.inodesPerGroup));
}

/**
 * ext4_alloc_file_blocks with EXT4_GET_BLOCKS_CREATE_UNWRIT_EXT: holes in [from, to) become
 * unwritten extents; with `convert`, written extents there become unwritten too (zero range).
 * `newSize` (0: keep) grows i_size as the allocation advances.
 */
async function allocRange(inode: Ext4Inode, from: number, to: number, convert: boolean, newSize: number): Promise<void> {
  const sbi = inode.sbi;
  const bs = sbi.blockSize, spb = bs >> 9;
  let pos = from;
  let retried = false;
  while (pos < to) {
    try {
      await withHandle(sbi, PER_HANDLE * ALLOC_CREDITS + 16, async (h) => {
        const { list, leaves } = await loadExtents(inode, pos, to);
        let allocs = 0, changed = false;
        try {
          while (pos < to && allocs < PER_HANDLE) {
            const m = at(list, pos);
            if (m.e) {
              const n = Math.min(m.e.lblk + m.e.len, to) - pos;
              if (convert && !m.e.unwritten) {
                if (list.length >= treeMax(inode) - 2) fail(EFBIG, 'ext4: extent tree full');
                setExtentState(list, pos, pos + n, true);
                changed = true;
              }
              pos += n;
              continue;
            }
            if (list.length >= treeMax(inode) - 1) fail(EFBIG, 'ext4: extent tree full');
            const want = Math.min(m.next, to, pos + EXT_UNWRITTEN_MAX_LEN) - pos;
            const goal = m.prev ? m.prev.pblk + m.prev.len + (pos - m.prev.lblk - m.prev.len) : inodeGoal(inode);
            const got = await allocBlocks(h, goal, want);
            insertUnwritten(list, pos, got.pblk, got.len);
            inode.blocks += got.len * spb;
            changed = true;
            allocs++;
            pos += got.len;
          }
        } finally {
          if (changed) await storeExtents(h, inode, list, leaves);
          if (newSize) {
            const epos = Math.min(pos * bs, newSize);
            if (epos > inode.size) { inode.size = epos; inode.touch(true); }
          }
          await writeInode(h, inode);
        }
      });
      retried = false;
    } catch (e) {
      // ext4_should_retry_alloc: blocks freed by transactions not yet committed come back after one.
      const ws = writeState(sbi);
      if ((e as { errno?: number }).errno === ENOSPC && !retried && ws.journal && ws.pendingFree.size) {
        retried = true;
        await ws.journal.commit();
        continue;
      }
      throw e;
    } finally {
      inode.extentCache = null;
    }
  }
}

/**
 * ext4_block_zero_page_range for bytes [from, to) inside one block: only written blocks hold data.
 * The block is read where its newest copy is and written as any file data: in data=journal (or
 * for a chattr +j file) that is through the journal, in a handle of its own.
 */
async function zeroPartial(inode: Ext4Inode, from: number, to: number): Promise<void> {
  if (from >= to) return;
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  const lblk = Math.floor(from / bs);
  const m = await inode.mapBlocks(lblk, 1);
  if (!m.pblk || m.unwritten) return;
  const zero = (data: Uint8Array): Uint8Array => { data.fill(0, from - lblk * bs, to - lblk * bs); return data; };
  if (!ext4ShouldJournalData(inode)) {
    const data = zero((await aw(sbi.bdev.bread(m.pblk, bs))).slice());
    await aw(sbi.bdev.bwrite(m.pblk, bs, data));
    return;
  }
  await withHandle(sbi, 1, async (h) => {
    await ext4WriteDataBlock(h, inode, m.pblk, zero((await aw(ext4ReadDataBlock(sbi, m.pblk))).slice()));
  });
}

/** ext4_zero_partial_blocks: the unaligned head and tail of [start, end). */
async function zeroEdges(inode: Ext4Inode, start: number, end: number): Promise<void> {
  const bs = inode.sbi.blockSize;
  const firstFull = Math.ceil(start / bs) * bs, lastFull = Math.floor(end / bs) * bs;
  if (firstFull > lastFull) { await zeroPartial(inode, start, end); return; } // inside one block
  await zeroPartial(inode, start, firstFull);
  await zeroPartial(inode, lastFull, end);
}

/** ext4_punch_hole */
async function punchHole(inode: Ext4Inode, offset: number, len: number): Promise<void> {
  const sbi = inode.sbi;
  const bs = sbi.blockSize, spb = bs >> 9;
  // file_modified() runs before the range check: even a punch wholly past EOF stamps the file.
  inode.touch(true);
  if (offset >= inode.size) {
    await withHandle(sbi, 4, async (h) => { await writeInode(h, inode); });
    return;
  }
  if (offset + len > inode.size) len = inode.size + PAGE_SIZE - (inode.size & (PAGE_SIZE - 1)) - offset;
  const end = offset + len;
  await zeroEdges(inode, offset, end);
  const first = Math.ceil(offset / bs), stop = Math.floor(end / bs);
  if (!inode.usesExtents) {
    const per = bs / 4;
    const revokes = Math.ceil(inode.blocks / spb / per) + 8;
    await withHandle(sbi, 2 * ALLOC_CREDITS * Math.min(sbi.groupsCount, 16) + 64, async (h) => {
      if (stop > first) await indTruncate(h, inode, first, stop);
      await writeInode(h, inode);
    }, revokes).finally(() => { inode.extentCache = null; });
    return;
  }
  let pos = first;
  do {
    await withHandle(sbi, PER_HANDLE * ALLOC_CREDITS + 16, async (h) => {
      const { list, leaves } = await loadExtents(inode, pos, stop);
      // This handle's share: the next PER_HANDLE extents that overlap the rest of the range.
      let chunkEnd = stop, n = 0;
      for (const e of list) {
        if (e.lblk + e.len <= pos || e.lblk >= stop) continue;
        if (++n === PER_HANDLE) { chunkEnd = Math.min(stop, e.lblk + e.len); break; }
      }
      if (stop > pos) {
        if (list.length >= treeMax(inode) - 1) {
          // A hole in the middle of an extent adds one; a full tree cannot take it.
          const s = at(list, pos), t = at(list, chunkEnd);
          if (s.e && s.e.lblk < pos && t.e && t.e === s.e) fail(EFBIG, 'ext4: extent tree full');
        }
        const freed = removeExtentRange(list, pos, chunkEnd);
        const journalled = ext4ShouldJournalData(inode);
        for (const r of freed) {
          // Journalled data: an older logged copy must not come back over the block's next owner.
          if (journalled) for (let i = 0; i < r.len; i++) h.forget(r.pblk + i);
          await freeBlocks(h, r.pblk, r.len);
          inode.blocks -= r.len * spb;
        }
        if (freed.length) await storeExtents(h, inode, list, leaves);
      }
      await writeInode(h, inode);
      pos = chunkEnd;
    }, 8).finally(() => { inode.extentCache = null; });
  } while (pos < stop);
}

/** ext4_zero_range */
async function zeroRange(inode: Ext4Inode, mode: number, offset: number, len: number): Promise<void> {
  const bs = inode.sbi.blockSize;
  const end = offset + len;
  const newSize = !(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size ? end : 0;
  inode.touch(true);
  // The whole range, edges included, gets blocks (unwritten where there were none); the
  // aligned middle turns unwritten; the edges that hold data are zeroed where the range covers them.
  const first = Math.floor(offset / bs), last = Math.ceil(end / bs);
  const midFirst = Math.ceil(offset / bs), midLast = Math.floor(end / bs);
  if (midFirst > first) await allocRange(inode, first, midFirst, false, 0);
  if (midLast > midFirst) await allocRange(inode, midFirst, midLast, true, 0);
  if (last > midLast && last > first) await allocRange(inode, Math.max(midLast, first), last, false, 0);
  await zeroEdges(inode, offset, end);
  await withHandle(inode.sbi, 4, async (h) => {
    if (newSize && newSize > inode.size) { inode.size = newSize; inode.touch(true); }
    await writeInode(h, inode);
  });
}

/** ext4_fallocate (the VFS has checked the mode combination, the file and the range). */
export async function ext4Fallocate(file: File, mode: number, offset: number, len: number): Promise<void> {
  const inode = file.inode as Ext4Inode;
  checkWritableInode(inode, true);
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) fail(EOPNOTSUPP);
  // Every mode works on block-mapped data: an inline file is converted first, as ext4_fallocate does.
  await ext4ConvertInlineData(inode);
  if (mode & FALLOC_FL_PUNCH_HOLE) { await punchHole(inode, offset, len); return; }
  if (!inode.usesExtents) fail(EOPNOTSUPP);
  if (mode & FALLOC_FL_ZERO_RANGE) {
    if (!inode.isReg) fail(EINVAL);
    await zeroRange(inode, mode, offset, len);
    return;
  }
  const bs = inode.sbi.blockSize;
  const end = offset + len;
  const newSize = !(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size ? end : 0;
  inode.touch(true);
  await allocRange(inode, Math.floor(offset / bs), Math.ceil(end / bs), false, newSize);
}
