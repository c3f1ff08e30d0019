/*
 * Writing inodes and file data (fs/ext4/inode.c: ext4_do_update_inode, ext4_write_begin/end,
 * ext4_truncate, ext4_setattr, ext4_evict_inode; ialloc.c: __ext4_new_inode).
 *
 * The in-memory Ext4Inode is authoritative while mounted read-write: each change updates its
 * fields, then writeInode() encodes them into the raw on-disk bytes (timestamps with their
 * _extra epoch and nanosecond words where i_extra_isize reaches them, i_blocks in 512-byte units,
 * the checksum last) and copies the slot into its inode-table block inside the handle.
 *
 * A write maps each block of the range: blocks already mapped are overwritten in place; holes
 * get new blocks, as long runs as possible starting right after the previous extent's physical
 * end (or in the inode's group), recorded in the extent list with merging. Data goes to the
 * block cache before the handle stops (data=ordered: the commit flushes it first). Partial
 * blocks are read, merged and written; new blocks are zero-filled around the written bytes.
 * Preallocated (unwritten) blocks are written like new ones and the written part of their extent
 * becomes initialised in the same handle (fallocate.ts makes them). Large writes are cut into
 * chunks, one handle each, so a transaction stays small.
 *
 * Truncation down cuts the extent list at the new end, frees the blocks (they stay unused until
 * the transaction commits), zeroes the tail of the new last block so the bytes past EOF read as
 * zero if the file grows again, and writes the inode. Growing is just the new size (a hole).
 *
 * Eviction of an unlinked inode frees all its blocks, takes it off the orphan list (orphan.ts: it
 * joined when its last name went, so a crash before the last close finds it at the next mount),
 * sets i_dtime and clears its bit in the inode bitmap. A directory's blocks are metadata: freeing
 * them revokes their journalled copies.
 *
 * Inline data (inline_write.ts): a regular file that may be inline takes a write that ends within
 * the maximum inline size into the inode itself; one that does not fit first converts the file
 * (ext4ConvertInlineData: the inline bytes move to a newly mapped block 0, system.data goes), then
 * takes the normal path. A truncate of an inline file below its size shrinks system.data; one up
 * to at most the inline size only changes i_size; one beyond it converts first, as Linux does.
 */
import { fail, isPromise } from '../../lib/errors.js';
import { EOPNOTSUPP, EFBIG, ENOSPC } from '../../uapi/errno.js';
import type { Timespec } from '../../uapi/stat.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } from '../../uapi/stat.js';
import type { File, Inode, Iattr } from '../vfs/index.js';
import {
  EXT4_GOOD_OLD_INODE_SIZE, EXT4_EXTENTS_FL, EXT4_EA_INODE_FL, EXT4_HUGE_FILE_FL, I_CHECKSUM_LO, I_CHECKSUM_HI, I_CTIME_EXTRA, I_MTIME_EXTRA,
  I_ATIME_EXTRA, I_CRTIME, I_CRTIME_EXTRA, I_EXTRA_ISIZE, Ext4InodeView,
} from './layout/index.js';
import { Ext4Inode, type Ext4Sb } from './ext4.js';
import { inodeLocation, ext4InodeCsum } from './inode.js';
import { allocBlocks, freeBlocks, freeInode, ALLOC_CREDITS } from './balloc.js';
import { loadExtents, extentTreeBlocks, storeExtents, insertExtent, cutExtents, treeMax, setExtentState, type Extent } from './extents_write.js';
import { indMapForWrite, indTruncate, indMaxBlocks } from './indirect_write.js';
import { Ext4Handle, ext4JournalStart, withHandle, writeState, ext4WriteDataBlock, ext4ShouldJournalData, ext4WriteChunkBlocks } from './jbd.js';
import { orphanDel } from './orphan.js';
import {
  mayInlineData, setMayInlineData, writeInlineData, truncateInlineData, inlineContent, destroyInlineData,
  convertedDirBlock, inlineStatBlocks,
} from './inline_write.js';
import { inlineSize } from './inline.js';

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

/** ext4_encode_extra_time: the low 32 bits of the seconds, and epoch | nsec << 2. */
function encodeTime(t: Timespec): [number, number] {
  const base = ((t.sec % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const epoch = Math.floor((t.sec - (base | 0)) / 2 ** 32) & 3;
  return [base >>> 0, ((t.nsec << 2) | epoch) >>> 0];
}

/** ext4_do_update_inode: encode `inode` into its raw bytes and its inode-table block. */
export async function writeInode(h: Ext4Handle, inode: Ext4Inode): Promise<void> {
  const sbi = inode.sbi;
  const raw = inode.raw;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const xi = inode.extraIsize;
  v.setUint16(0x00, inode.mode & 0xffff, true);
  v.setUint16(0x02, inode.uid & 0xffff, true);
  v.setUint16(0x78, (inode.uid >>> 16) & 0xffff, true);
  v.setUint16(0x18, inode.gid & 0xffff, true);
  v.setUint16(0x7a, (inode.gid >>> 16) & 0xffff, true);
  v.setUint32(0x04, inode.size % 2 ** 32, true);
  v.setUint32(0x6c, Math.floor(inode.size / 2 ** 32), true);
  const times: [Timespec, number, number][] = [[inode.atime, 0x08, I_ATIME_EXTRA], [inode.ctime, 0x0c, I_CTIME_EXTRA], [inode.mtime, 0x10, I_MTIME_EXTRA]];
  if (Ext4InodeView.fits(xi, I_CRTIME, 4)) times.push([inode.btime, I_CRTIME, I_CRTIME_EXTRA]);
  for (const [t, off, xoff] of times) {
    const [base, extra] = encodeTime(t);
    v.setUint32(off, base, true);
    if (Ext4InodeView.fits(xi, xoff, 4)) v.setUint32(xoff, extra, true);
  }
  v.setUint32(0x14, inode.dtime >>> 0, true);
  v.setUint16(0x1a, inode.nlink & 0xffff, true);
  // i_blocks: 512-byte units, 48 bits with huge_file. An inline file's in-memory count also holds
  // the sectors stat shows for its bytes (inode.ts adds them at iget); they are not stored.
  if (inode.hasInlineData && inode.isReg) inode.blocks = (inode.i_file_acl ? sbi.blockSize >> 9 : 0) + inlineStatBlocks(inode);
  let blocks = inode.blocks - inlineStatBlocks(inode);
  let flags = inode.i_flags & ~EXT4_HUGE_FILE_FL;
  if (blocks >= 2 ** 32 && !sbi.hasHugeFile) fail(EFBIG);
  if (blocks >= 2 ** 48) { flags |= EXT4_HUGE_FILE_FL; blocks = Math.floor(blocks / (sbi.blockSize >> 9)); }
  v.setUint32(0x1c, blocks % 2 ** 32, true);
  v.setUint16(0x74, sbi.hasHugeFile ? Math.floor(blocks / 2 ** 32) & 0xffff : 0, true);
  inode.i_flags = flags;
  v.setUint32(0x20, flags >>> 0, true);
  v.setUint32(0x64, inode.generation >>> 0, true);
  v.setUint32(0x68, inode.i_file_acl % 2 ** 32, true);
  if (sbi.has64bit) v.setUint16(0x76, Math.floor(inode.i_file_acl / 2 ** 32), true);
  if (sbi.hasMetadataCsum) {
    const c = ext4InodeCsum(sbi, raw, inode.csumSeed, xi);
    v.setUint16(I_CHECKSUM_LO, c & 0xffff, true);
    if (sbi.inodeSize > EXT4_GOOD_OLD_INODE_SIZE && Ext4InodeView.fits(xi, I_CHECKSUM_HI, 2)) v.setUint16(I_CHECKSUM_HI, c >>> 16, true);
  }
  const loc = inodeLocation(sbi, inode.ino);
  const b = await h.getBlock(loc.block);
  b.set(raw, loc.offset);
  h.dirty(loc.block);
}

/** Fields of a brand-new inode (the on-disk slot is rewritten whole). */
export function initNewInode(sbi: Ext4Sb, ino: number, mode: number, uid: number, gid: number, generation: number): Uint8Array {
  const raw = new Uint8Array(sbi.inodeSize);
  if (sbi.inodeSize > EXT4_GOOD_OLD_INODE_SIZE) {
    let want = sbi.es.s_want_extra_isize || 32;
    want = Math.min(want, sbi.inodeSize - EXT4_GOOD_OLD_INODE_SIZE) & ~3;
    new DataView(raw.buffer).setUint16(I_EXTRA_ISIZE, want, true);
  }
  void ino; void mode; void uid; void gid; void generation;
  return raw;
}

/* ---- data ---- */

/** Blocks per write chunk (one handle each). */
const WRITE_CHUNK_BLOCKS = 1024;

function findMapping(list: Extent[], lblk: number): { pblk: number; len: number; next: number; prevEnd: number; upblk: number } {
  // Binary search for the last extent starting at or before lblk.
  let lo = 0, hi = list.length;
  while (lo < hi) { const m = (lo + hi) >>> 1; if (list[m]!.lblk <= lblk) lo = m + 1; else hi = m; }
  const e = list[lo - 1];
  const nextE = list[lo];
  const next = nextE ? nextE.lblk : Infinity;
  if (e && lblk < e.lblk + e.len) {
    const off = lblk - e.lblk;
    return { pblk: e.unwritten ? -1 : e.pblk + off, len: e.len - off, next, prevEnd: 0, upblk: e.pblk + off };
  }
  return { pblk: 0, len: Math.min(next, 2 ** 32 - 1) - lblk, next, prevEnd: e ? e.pblk + e.len + (lblk - e.lblk - e.len) : 0, upblk: 0 };
}

function inodeGoal(inode: Ext4Inode): number {
  const sbi = inode.sbi;
  const g = Math.floor((inode.ino - 1) / sbi.inodesPerGroup);
  return sbi.groupFirstBlock(g);
}

/**
 * Refuse what this writer cannot change (before any change is made). Callers that handle inline
 * data (or convert it first) pass inlineOk; the others (fallocate.ts until it converts, as
 * ext4_fallocate does) still get EOPNOTSUPP for an inline inode.
 */
export function checkWritableInode(inode: Ext4Inode, inlineOk = false): void {
  if (inode.hasInlineData && !inlineOk) fail(EOPNOTSUPP, 'ext4: inline data files: convert before this operation');
  if (inode.encrypted) fail(EOPNOTSUPP);
}

/**
 * ext4_convert_inline_data_nolock inside `h`: the inline content moves to a new block 0 (a
 * directory's becomes a block directory: "." and ".." first), system.data is removed and the inode
 * gets an empty extent tree (or block map) before the block is mapped. Directories become one
 * block long; a file keeps its size.
 */
export async function ext4ConvertInlineDataHandle(h: Ext4Handle, inode: Ext4Inode): Promise<number> {
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  const buf = inlineContent(inode);
  const statExtra = inlineStatBlocks(inode);
  destroyInlineData(inode);
  inode.blocks -= statExtra;
  let pblk = 0;
  await mapWriteRange(h, inode, 0, 1, async (_l, p) => { pblk = p; });
  inode.extentCache = null;
  if (inode.isDir) {
    const limit = bs - (sbi.hasMetadataCsum ? 12 : 0);
    const data = convertedDirBlock(inode, buf, bs, limit, sbi.hasFiletype ? 2 : 0);
    if (sbi.hasMetadataCsum) {
      // ext4_initialize_dirent_tail and ext4_dirblock_csum_set
      const t = bs - 12;
      data[t + 4] = 12; data[t + 5] = 0; data[t + 7] = 0xde;
      new DataView(data.buffer).setUint32(t + 8, sbi.chksum(inode.csumSeed, data, 0, t) >>> 0, true);
    }
    const b = await h.getBlock(pblk, true);
    b.set(data);
    h.dirty(pblk);
    inode.size = bs;
  } else {
    const data = new Uint8Array(bs);
    data.set(buf.subarray(0, Math.min(buf.length, inode.size)));
    await ext4WriteDataBlock(h, inode, pblk, data);
  }
  return pblk;
}

/** ext4_convert_inline_data: an inode that may be inline stops being so (fallocate, ...). */
export async function ext4ConvertInlineData(inode: Ext4Inode): Promise<void> {
  if (!inode.hasInlineData) { setMayInlineData(inode, false); return; }
  await withHandle(inode.sbi, 2 * ALLOC_CREDITS + 8, async (h) => {
    await ext4ConvertInlineDataHandle(h, inode);
    await writeInode(h, inode);
  }).finally(() => { inode.extentCache = null; });
}

/**
 * The write_begin choice for an inode that may be inline: true when `buf` went into the inode;
 * false when the caller writes through blocks (converted first if it was inline).
 */
async function tryWriteInline(inode: Ext4Inode, buf: Uint8Array, pos: number): Promise<boolean> {
  const sbi = inode.sbi;
  // Only a file without data blocks can take inline data (fallocate may have given it some).
  const dataBlocks = inode.blocks - (inode.i_file_acl ? sbi.blockSize >> 9 : 0) - inlineStatBlocks(inode);
  if (!inode.isReg || (!inode.hasInlineData && dataBlocks > 0)) { setMayInlineData(inode, false); return false; }
  let done = false;
  await withHandle(sbi, 4, async (h) => {
    if (!writeInlineData(inode, buf, pos)) return;
    done = true;
    if (pos + buf.length > inode.size) inode.size = pos + buf.length;
    inode.touch(true);
    await writeInode(h, inode);
  });
  if (!done) await ext4ConvertInlineData(inode);
  return done;
}

/** Map [lblk, lblk+count) for writing through the extent tree or the block map. */
export async function mapWriteRange(h: Ext4Handle, inode: Ext4Inode, lblk: number, count: number,
  each: (lblk: number, pblk: number, fresh: boolean) => Promise<void>): Promise<void> {
  if (!inode.usesExtents) {
    if (lblk + count > indMaxBlocks(inode)) fail(EFBIG);
    await indMapForWrite(h, inode, lblk, count, each);
    return;
  }
  // Only the part of the tree the range can touch is decoded (with its neighbours, for merging).
  const { list, leaves } = await loadExtents(inode, lblk, lblk + count);
  const state = { changed: false };
  try {
    await mapForWrite(h, inode, list, lblk, count, each, state);
  } finally {
    // What was allocated before an error is recorded, so no block leaks.
    if (state.changed) await storeExtents(h, inode, list, leaves);
  }
}

/** Free every block at or past logical block `keep`; returns the new last block's mapping (0: none). */
async function truncateBlocks(h: Ext4Handle, inode: Ext4Inode, keep: number): Promise<number> {
  const bs = inode.sbi.blockSize;
  if (!inode.usesExtents) {
    await indTruncate(h, inode, keep);
    if (!keep) return 0;
    const m = await inode.mapBlocks(keep - 1, 1);
    return m.unwritten ? 0 : m.pblk;
  }
  const { list, leaves } = await loadExtents(inode, keep);
  const freed = cutExtents(list, keep);
  for (const r of freed) {
    // A directory's blocks are metadata: their journalled copies must never go home again
    // (checkpoint) or come back (replay) over whatever the block holds next.
    if (inode.isDir || ext4ShouldJournalData(inode)) for (let i = 0; i < r.len; i++) h.forget(r.pblk + i);
    await freeBlocks(h, r.pblk, r.len);
    inode.blocks -= r.len * (bs >> 9);
  }
  await storeExtents(h, inode, list, leaves);
  if (!keep) return 0;
  const m = findMapping(list, keep - 1);
  return m.pblk > 0 ? m.pblk : 0;
}

/**
 * Make blocks [lblk, lblk+count) of `inode` mapped, allocating holes (in `h`). Returns the
 * physical block of each (new ones flagged) through `each`.
 */
async function mapForWrite(h: Ext4Handle, inode: Ext4Inode, list: Extent[], lblk: number, count: number,
  each: (lblk: number, pblk: number, fresh: boolean) => Promise<void>, state: { changed: boolean }): Promise<void> {
  let at = lblk;
  const end = lblk + count;
  const spb = inode.sbi.blockSize >> 9;
  while (at < end) {
    const m = findMapping(list, at);
    if (m.pblk > 0) {
      const n = Math.min(m.len, end - at);
      for (let i = 0; i < n; i++) await each(at + i, m.pblk + i, false);
      at += n;
      continue;
    }
    if (m.pblk < 0) {
      // Preallocated (unwritten) blocks: written as new ones (what the write leaves of a block is
      // zeros), then marked initialised in the same handle (split off the rest of the extent).
      if (list.length >= treeMax(inode) - 2) fail(EFBIG, 'ext4: extent tree full');
      const n = Math.min(m.len, end - at);
      for (let i = 0; i < n; i++) await each(at + i, m.upblk + i, true);
      setExtentState(list, at, at + n, false);
      state.changed = true;
      at += n;
      continue;
    }
    if (list.length >= treeMax(inode) - 1) fail(EFBIG, 'ext4: extent tree full');
    const want = Math.min(m.len, end - at);
    const goal = m.prevEnd || inodeGoal(inode);
    const got = await allocBlocks(h, goal, want);
    insertExtent(list, at, got.pblk, got.len);
    inode.blocks += got.len * spb;
    state.changed = true;
    for (let i = 0; i < got.len; i++) await each(at + i, got.pblk + i, true);
    at += got.len;
  }
}

/** ext4_buffered_write_iter for extent-mapped files. */
export async function ext4FileWrite(file: File, buf: Uint8Array, pos: number): Promise<number> {
  const inode = file.inode as Ext4Inode;
  checkWritableInode(inode, true);
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  if (pos + buf.length > sbi.maxFileSize) fail(EFBIG);
  if (buf.length && mayInlineData(inode) && await tryWriteInline(inode, buf, pos)) return buf.length;
  let done = 0;
  let retried = false;
  while (done < buf.length) {
    const p = pos + done;
    const first = Math.floor(p / bs);
    const lastExcl = Math.min(Math.ceil((pos + buf.length) / bs), first + ext4WriteChunkBlocks(inode, WRITE_CHUNK_BLOCKS));
    const chunkEnd = Math.min(pos + buf.length, lastExcl * bs);
    // Bitmap and descriptor of every group a fragmented chunk may touch, the inode, the tree;
    // under data=journal every data block is a journalled block too.
    const journalled = ext4ShouldJournalData(inode);
    const dataCredits = journalled ? lastExcl - first : 0;
    const h = await ext4JournalStart(sbi, Math.min(2 * sbi.groupsCount, 64) + 16 + (inode.usesExtents ? 0 : 16) + dataCredits);
    // Bytes whose blocks are mapped and written: on an error (ENOSPC) the write is short, not torn.
    let mappedEnd = p;
    let err: unknown = null;
    try {
      try {
        await mapWriteRange(h, inode, first, lastExcl - first, async (lblk, pblk, fresh) => {
          const bStart = lblk * bs;
          const from = Math.max(p, bStart), to = Math.min(chunkEnd, bStart + bs);
          let data: Uint8Array;
          // A whole block goes in as the caller's bytes: the page cache copies them (bwrite); only the
          // journal's overlay (data=journal) keeps the buffer it is given, so that one gets a copy.
          if (from === bStart && to === bStart + bs) data = journalled ? buf.slice(from - pos, to - pos) : buf.subarray(from - pos, to - pos);
          else {
            data = fresh ? new Uint8Array(bs) : (await aw(sbi.bread(pblk, false))).slice();
            data.set(buf.subarray(from - pos, to - pos), from - bStart);
          }
          await ext4WriteDataBlock(h, inode, pblk, data);
          mappedEnd = to;
        });
      } catch (e) { err = e; }
      if (mappedEnd > p) {
        done = mappedEnd - pos;
        if (pos + done > inode.size) inode.size = pos + done;
        inode.touch(true);
      }
      await writeInode(h, inode);
    } finally {
      await h.stop();
      // Mapping caches filled while the handle held newer private copies (no journal) are stale.
      inode.extentCache = null;
    }
    if (err) {
      // ext4_should_retry_alloc: blocks freed by uncommitted transactions come back after a commit.
      const ws = writeState(sbi);
      if ((err as { errno?: number }).errno === ENOSPC && mappedEnd === p && !retried && ws.journal && ws.pendingFree.size) {
        retried = true;
        await ws.journal.commit();
        continue;
      }
      if (done > 0) return done;
      throw err;
    }
    retried = false;
  }
  return done;
}

/** ext4_truncate / the size part of ext4_setattr. */
export async function ext4Truncate(inode: Ext4Inode, size: number, evicting = false): Promise<void> {
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  if (size > sbi.maxFileSize) fail(EFBIG);
  if (inode.hasInlineData) {
    // ext4_setattr / ext4_inline_data_truncate: growing past the inline size converts first.
    if (!evicting && size > inode.size && size > inlineSize(inode)) await ext4ConvertInlineData(inode);
    else {
      await withHandle(sbi, 4, async (h) => {
        if (size < inode.size) truncateInlineData(inode, size);
        inode.size = size;
        await writeInode(h, inode);
      });
      return;
    }
  }
  if (size >= inode.size && !evicting) {
    await withHandle(sbi, 4, async (h) => { inode.size = size; await writeInode(h, inode); });
    return;
  }
  if (!inode.isReg && !inode.isDir && !evicting) fail(EOPNOTSUPP);
  checkWritableInode(inode);
  const keepBlocks = Math.ceil(size / bs);
  const per = bs / 4;
  // Every freed tree block (extents) or map block (indirect) is revoked.
  const revokes = (inode.usesExtents ? (await extentTreeBlocks(inode)) + 8 : Math.ceil(inode.blocks / (bs >> 9) / per) + 8) +
    (inode.isDir ? Math.ceil(inode.size / bs) : 0);
  await withHandle(sbi, 2 * ALLOC_CREDITS * Math.min(sbi.groupsCount, 16) + 64, async (h) => {
    const last = await truncateBlocks(h, inode, keepBlocks);
    // Zero the tail of the new last block: bytes past EOF must read as zero if the file grows.
    if (size % bs && last) {
      const data = (await aw(sbi.bread(last))).slice();
      data.fill(0, size % bs);
      await ext4WriteDataBlock(h, inode, last, data);
    }
    inode.size = size;
    await writeInode(h, inode);
  }, revokes).finally(() => { inode.extentCache = null; });
}

/** ext4_setattr */
export async function ext4Setattr(inodeV: Inode, attr: Iattr): Promise<void> {
  const inode = inodeV as Ext4Inode;
  if (attr.size !== undefined && attr.size !== inode.size) {
    if ((inode.mode & S_IFMT) !== S_IFREG) fail(EOPNOTSUPP);
    await ext4Truncate(inode, attr.size);
  }
  await withHandle(inode.sbi, 4, async (h) => {
    if (attr.mode !== undefined) inode.mode = attr.mode;
    if (attr.uid !== undefined) inode.uid = attr.uid;
    if (attr.gid !== undefined) inode.gid = attr.gid;
    if (attr.atime !== undefined) inode.atime = attr.atime;
    if (attr.mtime !== undefined) inode.mtime = attr.mtime;
    if (attr.ctime !== undefined) inode.ctime = attr.ctime;
    await writeInode(h, inode);
  });
}

/** ext4_evict_inode for an inode whose last link and last user are gone. */
export async function ext4EvictInode(inodeV: Inode): Promise<void> {
  const inode = inodeV as Ext4Inode;
  const sbi = inode.sbi;
  writeState(sbi).dirtyInodes?.delete(inode);
  inode.dirtyAtime = false;
  if (inode.nlink !== 0) return;
  const type = inode.mode & S_IFMT;
  // Free the data (fast symlinks and devices have none in blocks).
  if (inode.i_flags & EXT4_EA_INODE_FL) return; // kept: e2fsck reports a leak, never a double use
  const inline = inode.hasInlineData;
  if (!inline && (type === S_IFREG || type === S_IFDIR || (type === S_IFLNK && !inode.isFastSymlink()))) {
    if (inode.size > 0 || inode.blocks > 0) await ext4Truncate(inode, 0, true);
  }
  // ext4_inline_data_truncate to 0: the bytes in i_block and system.data go with the inode.
  if (inline) truncateInlineData(inode, 0);
  if (inode.i_file_acl) await releaseXattrBlock(inode);
  await withHandle(sbi, 2 * ALLOC_CREDITS + 6, async (h) => {
    await orphanDel(h, inode);
    inode.dtime = Math.floor(sbi.vfs.clock.realtime().sec) >>> 0;
    inode.size = 0;
    await writeInode(h, inode);
    await freeInode(h, inode.ino, type === S_IFDIR);
  });
  sbi.icache.delete(inode.ino);
}

/**
 * ext4_xattr_release_block: the inode lets go of its xattr block; the last user frees it,
 * others see h_refcount drop (with the block's checksum redone under metadata_csum).
 */
async function releaseXattrBlock(inode: Ext4Inode): Promise<void> {
  const sbi = inode.sbi;
  const nr = inode.i_file_acl;
  await withHandle(sbi, 2 * ALLOC_CREDITS + 4, async (h) => {
    const b = await h.getBlock(nr);
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    const ref = v.getUint32(4, true);
    if (ref <= 1) {
      h.forget(nr);
      await freeBlocks(h, nr, 1);
    } else {
      v.setUint32(4, ref - 1, true);
      if (sbi.hasMetadataCsum) {
        // ext4_xattr_block_csum: crc32c(seed, le64 block number, block with h_checksum zeroed).
        const le = new Uint8Array(8);
        new DataView(le.buffer).setUint32(0, nr % 2 ** 32, true);
        new DataView(le.buffer).setUint32(4, Math.floor(nr / 2 ** 32), true);
        v.setUint32(0x10, 0, true);
        v.setUint32(0x10, sbi.chksum(sbi.chksum(sbi.csumSeed, le), b) >>> 0, true);
      }
      h.dirty(nr);
    }
    inode.i_file_acl = 0;
    inode.blocks = Math.max(0, inode.blocks - (sbi.blockSize >> 9));
    await writeInode(h, inode);
  }, 1);
}

/** fsync / sync_fs: commit the journal, or write back the cache without one. */
export async function ext4ForceCommit(sbi: Ext4Sb): Promise<void> {
  await ext4WriteDirtyInodes(sbi);
  const j = writeState(sbi).journal;
  if (j) await j.commit();
  else await sbi.bdev.sync();
}

/** ext4_dirty_inode: remember an inode whose atime moved outside any operation. */
export function ext4DirtyInode(inode: Ext4Inode): void {
  const sbi = inode.sbi;
  // The inode cache must hand out this object until it is written (a new inode, made by create,
  // is not in it yet); an object the cache has already replaced is stale and not written.
  const cached = sbi.icache.get(inode.ino);
  if (cached === undefined) sbi.icache.set(inode.ino, inode);
  else if (cached !== inode) return;
  const ws = writeState(sbi);
  inode.dirtyAtime = true;
  (ws.dirtyInodes ??= new Set()).add(inode);
}

/**
 * Write the inodes dirtyInode collected (relatime updates), a batch per handle. An inode the
 * cache has let go of, or one being freed, is skipped: its slot may belong to a newer object.
 */
export async function ext4WriteDirtyInodes(sbi: Ext4Sb): Promise<void> {
  const ws = writeState(sbi);
  const set = ws.dirtyInodes;
  if (!set || set.size === 0) return;
  const all = [...set].filter((i) => i.nlink > 0 && sbi.icache.get(i.ino) === i);
  set.clear();
  for (const i of all) i.dirtyAtime = false;
  for (let at = 0; at < all.length; at += 64) {
    const batch = all.slice(at, at + 64);
    await withHandle(sbi, batch.length + 4, async (h) => { for (const i of batch) await writeInode(h, i); });
  }
}

export { Ext4Inode, EXT4_EXTENTS_FL };
export type { Ext4Handle };
