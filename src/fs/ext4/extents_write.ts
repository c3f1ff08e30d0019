/*
 * Changing extent trees (the writing half of fs/ext4/extents.c), for trees of depth 0 and 1.
 *
 * An extent maps a run of logical blocks to a run of physical ones. The root in i_block[] holds
 * four extents (depth 0); more need a level of leaf blocks under an index in the root (depth 1:
 * up to four leaves of (blocksize - 12) / 12 extents each, 1360 extents at 4 KiB). Rather than
 * Linux's in-place splits and shifts, a change here reads the inode's whole extent list, edits it
 * (insert with merging into the neighbour when logically and physically adjacent, or cut at a
 * truncation point), and lays the tree out again: depth 0 if the list fits the root, otherwise
 * depth 1 reusing the existing leaf blocks, allocating or freeing leaves as the count changes.
 * Each leaf gets its checksum tail (metadata_csum) and each index entry the first logical block
 * of its leaf, as e2fsck checks. Deeper trees (from other writers) are refused with EOPNOTSUPP
 * before anything changes. Unwritten extents (fallocate) are edited the same way: split at the
 * edges of a range, their state changed, neighbours merged back (at most 32767 blocks unwritten).
 */
import { fail, isPromise } from '../../lib/errors.js';
import { EOPNOTSUPP, EFBIG } from '../../uapi/errno.js';
import { EXT4_EXT_MAGIC, EXT4_EXTENT_HEADER_SIZE, EXT_INIT_MAX_LEN, extentTailOffset } from './layout/index.js';
import type { Ext4Inode } from './ext4.js';
import { extentBlockCsum } from './extents.js';
import { allocBlocks, freeBlocks } from './balloc.js';
import type { Ext4Handle } from './jbd.js';

export interface Extent { lblk: number; len: number; pblk: number; unwritten: boolean }

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
function p16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function p32(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true); }

/** Extents per leaf block. */
export function leafMax(inode: Ext4Inode): number { return Math.floor((inode.sbi.blockSize - EXT4_EXTENT_HEADER_SIZE) / 12); }
/** Most extents a depth <= 1 tree holds. */
export function treeMax(inode: Ext4Inode): number { return 4 * leafMax(inode); }

function readEntries(node: Uint8Array, out: Extent[]): void {
  const n = u16(node, 2);
  for (let i = 0; i < n; i++) {
    const o = EXT4_EXTENT_HEADER_SIZE + 12 * i;
    const raw = u16(node, o + 4);
    out.push({ lblk: u32(node, o), len: raw <= EXT_INIT_MAX_LEN ? raw : raw - EXT_INIT_MAX_LEN,
      pblk: u32(node, o + 8) + u16(node, o + 6) * 2 ** 32, unwritten: raw > EXT_INIT_MAX_LEN });
  }
}

/** The inode's extents in order, and its leaf blocks (depth 1). */
export async function loadExtents(inode: Ext4Inode): Promise<{ list: Extent[]; leaves: number[] }> {
  const root = inode.iBlock;
  const depth = u16(root, 6);
  const list: Extent[] = [];
  const leaves: number[] = [];
  if (u16(root, 0) !== EXT4_EXT_MAGIC) fail(EOPNOTSUPP);
  if (depth === 0) { readEntries(root, list); return { list, leaves }; }
  if (depth > 1) fail(EOPNOTSUPP, 'ext4: extent trees deeper than 1 are not writable yet');
  const n = u16(root, 2);
  for (let i = 0; i < n; i++) {
    const o = EXT4_EXTENT_HEADER_SIZE + 12 * i;
    const leaf = u32(root, o + 4) + u16(root, o + 8) * 2 ** 32;
    leaves.push(leaf);
    const r = inode.sbi.bread(leaf);
    readEntries(isPromise(r) ? await r : r, list);
  }
  return { list, leaves };
}

function putEntries(node: Uint8Array, ext: Extent[], max: number, depth: number): void {
  p16(node, 0, EXT4_EXT_MAGIC); p16(node, 2, ext.length); p16(node, 4, max); p16(node, 6, depth); p32(node, 8, 0);
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i]!, o = EXT4_EXTENT_HEADER_SIZE + 12 * i;
    p32(node, o, e.lblk);
    p16(node, o + 4, e.unwritten ? e.len + EXT_INIT_MAX_LEN : e.len);
    p16(node, o + 6, Math.floor(e.pblk / 2 ** 32));
    p32(node, o + 8, e.pblk % 2 ** 32);
  }
  node.fill(0, EXT4_EXTENT_HEADER_SIZE + 12 * ext.length, EXT4_EXTENT_HEADER_SIZE + 12 * max);
}

/**
 * Lay `list` out as the inode's tree (see the opening comment). Changes i_block[] and i_blocks in
 * memory; the caller writes the inode. Leaf blocks are allocated near `goal`.
 */
export async function storeExtents(h: Ext4Handle, inode: Ext4Inode, list: Extent[], leaves: number[]): Promise<void> {
  const sbi = inode.sbi;
  const root = inode.iBlock;
  const per = leafMax(inode);
  const sectorsPerBlock = sbi.blockSize >> 9;
  if (list.length > 4 * per) fail(EFBIG, 'ext4: too many extents for a depth-1 tree');
  const need = list.length <= 4 ? 0 : Math.ceil(list.length / per);
  const keep = leaves.slice(0, need);
  for (const old of leaves.slice(need)) {
    h.forget(old);
    await freeBlocks(h, old, 1);
    inode.blocks -= sectorsPerBlock;
  }
  while (keep.length < need) {
    const goal = list[0] ? list[0].pblk : 0;
    const { pblk } = await allocBlocks(h, goal, 1);
    keep.push(pblk);
    inode.blocks += sectorsPerBlock;
  }
  if (need === 0) { putEntries(root, list, 4, 0); inode.extentCache = null; return; }
  // Spread evenly so each leaf has room to grow.
  const chunk = Math.ceil(list.length / need);
  p16(root, 0, EXT4_EXT_MAGIC); p16(root, 2, need); p16(root, 4, 4); p16(root, 6, 1); p32(root, 8, 0);
  root.fill(0, EXT4_EXTENT_HEADER_SIZE);
  for (let i = 0; i < need; i++) {
    const part = list.slice(i * chunk, (i + 1) * chunk);
    const nr = keep[i]!;
    const b = await h.getBlock(nr, true);
    b.fill(0);
    putEntries(b, part, per, 0);
    if (sbi.hasMetadataCsum) p32(b, extentTailOffset(per), extentBlockCsum(inode, b, per));
    h.dirty(nr);
    const o = EXT4_EXTENT_HEADER_SIZE + 12 * i;
    p32(root, o, part[0]!.lblk);
    p32(root, o + 4, nr % 2 ** 32);
    p16(root, o + 8, Math.floor(nr / 2 ** 32));
    p16(root, o + 10, 0);
  }
  inode.extentCache = null;
}

/** Add the mapping lblk..lblk+len -> pblk (the range must be unmapped), merging with neighbours. */
export function insertExtent(list: Extent[], lblk: number, pblk: number, len: number): void {
  let i = 0;
  while (i < list.length && list[i]!.lblk < lblk) i++;
  const prev = list[i - 1];
  if (prev && !prev.unwritten && prev.lblk + prev.len === lblk && prev.pblk + prev.len === pblk && prev.len + len <= EXT_INIT_MAX_LEN) {
    prev.len += len;
    const next = list[i];
    if (next && !next.unwritten && prev.lblk + prev.len === next.lblk && prev.pblk + prev.len === next.pblk && prev.len + next.len <= EXT_INIT_MAX_LEN) {
      prev.len += next.len;
      list.splice(i, 1);
    }
    return;
  }
  const next = list[i];
  if (next && !next.unwritten && lblk + len === next.lblk && pblk + len === next.pblk && next.len + len <= EXT_INIT_MAX_LEN) {
    next.lblk = lblk; next.pblk = pblk; next.len += len;
    return;
  }
  list.splice(i, 0, { lblk, len, pblk, unwritten: false });
}

/** Cut every mapping at or beyond logical block `from`; returns the physical runs to free. */
export function cutExtents(list: Extent[], from: number): { pblk: number; len: number }[] {
  const freed: { pblk: number; len: number }[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const e = list[i]!;
    if (e.lblk + e.len <= from) break;
    if (e.lblk >= from) { freed.push({ pblk: e.pblk, len: e.len }); list.splice(i, 1); continue; }
    const keep = from - e.lblk;
    freed.push({ pblk: e.pblk + keep, len: e.len - keep });
    e.len = keep;
  }
  return freed;
}

/* ---- unwritten extents (fallocate, and writes into preallocated space) ------------------------- */

/** Longest unwritten extent (EXT_UNWRITTEN_MAX_LEN): its length field keeps the top bit as the flag. */
export const EXT_UNWRITTEN_MAX_LEN = EXT_INIT_MAX_LEN - 1;

/** Split the extent straddling logical block `l` (if any) in two at `l`. */
export function splitExtentAt(list: Extent[], l: number): void {
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e.lblk >= l) return;
    if (l < e.lblk + e.len) {
      const head = l - e.lblk;
      list.splice(i + 1, 0, { lblk: l, len: e.len - head, pblk: e.pblk + head, unwritten: e.unwritten });
      e.len = head;
      return;
    }
  }
}

/** Join neighbours that continue each other logically and physically in the same state. */
export function mergeExtents(list: Extent[]): void {
  for (let i = 1; i < list.length;) {
    const a = list[i - 1]!, b = list[i]!;
    const max = a.unwritten ? EXT_UNWRITTEN_MAX_LEN : EXT_INIT_MAX_LEN;
    if (a.unwritten === b.unwritten && a.lblk + a.len === b.lblk && a.pblk + a.len === b.pblk && a.len + b.len <= max) {
      a.len += b.len;
      list.splice(i, 1);
    } else i++;
  }
}

/** Set the state of every mapped block in [from, to) (splitting at the ends), then merge. */
export function setExtentState(list: Extent[], from: number, to: number, unwritten: boolean): void {
  splitExtentAt(list, from);
  splitExtentAt(list, to);
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    if (e.lblk < from || e.lblk + e.len > to) continue;
    e.unwritten = unwritten;
    // A full-length initialised extent (32768) is one block too long to be unwritten.
    if (unwritten && e.len > EXT_UNWRITTEN_MAX_LEN) {
      list.splice(i + 1, 0, { lblk: e.lblk + EXT_UNWRITTEN_MAX_LEN, len: e.len - EXT_UNWRITTEN_MAX_LEN, pblk: e.pblk + EXT_UNWRITTEN_MAX_LEN, unwritten: true });
      e.len = EXT_UNWRITTEN_MAX_LEN;
    }
  }
  mergeExtents(list);
}

/** Take every mapping in [from, to) out of the list (splitting at the ends); returns the freed runs. */
export function removeExtentRange(list: Extent[], from: number, to: number): { pblk: number; len: number }[] {
  splitExtentAt(list, from);
  splitExtentAt(list, to);
  const freed: { pblk: number; len: number }[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const e = list[i]!;
    if (e.lblk >= from && e.lblk + e.len <= to) { freed.push({ pblk: e.pblk, len: e.len }); list.splice(i, 1); }
  }
  return freed;
}

/** Add an unmapped range as an unwritten extent (no merging across states). */
export function insertUnwritten(list: Extent[], lblk: number, pblk: number, len: number): void {
  let i = 0;
  while (i < list.length && list[i]!.lblk < lblk) i++;
  list.splice(i, 0, { lblk, len, pblk, unwritten: true });
  mergeExtents(list);
}
