/*
 * Inline data, write side (fs/ext4/inline.c: ext4_prepare_inline_data, ext4_create_inline_data,
 * ext4_update_inline_data, ext4_inline_data_truncate, ext4_destroy_inline_data_nolock,
 * ext4_try_create_inline_dir, ext4_try_add_inline_entry, ext4_update_inline_dir,
 * ext4_delete_inline_entry, empty_inline_dir, ext4_finish_convert_inline_dir).
 *
 * inline.ts describes the layout: i_block's 60 bytes, then the in-inode attribute system.data.
 * Everything here edits inode.raw (the authoritative copy while mounted) synchronously; the
 * caller holds a handle and writes the inode afterwards (writeInode), so a change lands in the
 * inode-table block in one piece with the inode's other fields.
 *
 * When an inode is inline. A new regular file or directory on an inline_data filesystem "may be
 * inline" (EXT4_STATE_MAY_INLINE_DATA, an in-memory state kept here as a property of the inode).
 * A new directory becomes inline at once when the inode has room: i_size 60, the parent's number
 * in the first 4 bytes and one empty entry over the other 56, system.data present but empty. A
 * regular file starts extent-mapped and empty; its first write that ends within the maximum
 * inline size makes it inline (EXT4_INLINE_DATA_FL, the extent flag cleared, i_block zeroed).
 * Inodes read from disk may be inline only when they are already. A write that does not fit,
 * fallocate, or a truncate beyond the current inline size, ends the state: the inline bytes go
 * to a newly mapped block 0 (inode_write.ts: ext4ConvertInlineData) and system.data goes away.
 *
 * Sizes. The maximum inline size is 60 plus what system.data may grow to: the free space of the
 * in-inode area (get_max_inline_xattr_value_size: the lowest value offset, minus the entries and
 * the 4-byte terminator, plus system.data's own value if it exists, else minus a new entry's 20
 * bytes, rounded down to 4). With 256-byte inodes and 32 extra bytes that is 128. The inline
 * size (60 + system.data's length) follows the data: a write extends the value to exactly the
 * new end, a truncate shrinks it to the new size (and zeroes what i_block holds past it).
 *
 * Inline directories: entries are added to the first fit in the i_block part; when it is full
 * and system.data is still empty, the value grows at once to the whole free space (one empty
 * entry spanning it) unless that gains no more than a minimal entry; then the value part is
 * tried; failing both the directory becomes a one-block directory ("." and ".." with rec_len 12,
 * the inline entries copied after them, the last one stretched to the end) and the name goes
 * there. Deleting folds an entry into its predecessor within its part, or clears its inode
 * number when it is the part's first. A directory never goes back to inline.
 *
 * stat's st_blocks of an inline regular file counts the bytes as the sectors they would fill
 * (ext4_file_getattr); inode.ts adds that to inode.blocks when it reads such an inode, and
 * writeInode keeps the same convention (inlineStatBlocks), storing only the real i_blocks.
 */
import { fail } from '../../lib/errors.js';
import { EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL, EXT4_EXT_MAGIC, EXT4_GOOD_OLD_INODE_SIZE } from './layout/index.js';
import { type Ext4Inode, EFSCORRUPTED } from './ext4.js';
import { EXT4_XATTR_INDEX_SYSTEM } from './xattr.js';
import { ext4XattrIbodyAttrs, ext4XattrIbodySet } from './xattr_write.js';
import { inlineData, EXT4_MIN_INLINE_DATA_SIZE, EXT4_INLINE_DOTDOT_SIZE, EXT4_XATTR_SYSTEM_DATA } from './inline.js';
import { dirRecLen, le16, le32, recLenFromDisk } from './htree.js';

const DATA_NAME = new Uint8Array([0x64, 0x61, 0x74, 0x61]); // "data"
/** EXT4_XATTR_LEN("data"): an entry for system.data. */
const DATA_ENTRY_LEN = 20;
/** struct ext4_xattr_ibody_header: the magic before the in-inode entries. */
const IBODY_HEADER = 4;

function p16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function p32(b: Uint8Array, o: number, v: number): void { p16(b, o, v & 0xffff); p16(b, o + 2, (v >>> 16) & 0xffff); }
const pad4 = (n: number) => (n + 3) & ~3;

/* ---- the "may be inline" state ---- */

interface InlineState { mayInlineData?: boolean }

/** EXT4_STATE_MAY_INLINE_DATA: inline now, or new and never refused inline storage. */
export function mayInlineData(inode: Ext4Inode): boolean {
  return inode.hasInlineData || (inode as Ext4Inode & InlineState).mayInlineData === true;
}
export function setMayInlineData(inode: Ext4Inode, v: boolean): void {
  (inode as Ext4Inode & InlineState).mayInlineData = v;
}

/* ---- sizes ---- */

function isData(a: { index: number; name: Uint8Array }): boolean {
  return a.index === EXT4_XATTR_INDEX_SYSTEM && a.name.length === 4 && a.name.every((x, i) => x === DATA_NAME[i]);
}

/** get_max_inline_xattr_value_size: how long system.data may become. */
export function maxInlineValueSize(inode: Ext4Inode): number {
  if (!inode.extraIsize) return 0;
  const area = inode.sbi.inodeSize - EXT4_GOOD_OLD_INODE_SIZE - inode.extraIsize - IBODY_HEADER;
  if (area <= 0) return 0;
  let minOffs = area, entries = 0, data = -1;
  for (const a of ext4XattrIbodyAttrs(inode)) {
    entries += pad4(16 + a.name.length);
    if (!a.inum && a.size && a.offs < minOffs) minOffs = a.offs;
    if (isData(a)) data = a.size;
  }
  let free = minOffs - entries - 4;
  if (data >= 0) return Math.max(0, free + pad4(data));
  free -= DATA_ENTRY_LEN;
  return free > 3 ? free & ~3 : 0;
}

/** ext4_get_max_inline_size: 0 when the inode has no room for system.data at all. */
export function maxInlineSize(inode: Ext4Inode): number {
  const v = maxInlineValueSize(inode);
  return v ? v + EXT4_MIN_INLINE_DATA_SIZE : 0;
}

/** st_blocks of an inline regular file beyond its real i_blocks (ext4_file_getattr). */
export function inlineStatBlocks(inode: Ext4Inode): number {
  return inode.hasInlineData && inode.isReg ? Math.floor((inode.size + 511) / 512) : 0;
}

/* ---- creating, growing, shrinking, removing ---- */

function setDataValue(inode: Ext4Inode, value: Uint8Array | null): void {
  ext4XattrIbodySet(inode, EXT4_XATTR_INDEX_SYSTEM, EXT4_XATTR_SYSTEM_DATA, value);
}

/** ext4_create_inline_data: room for `len` bytes, all zero; the inode becomes inline. */
export function createInlineData(inode: Ext4Inode, len: number): void {
  setDataValue(inode, new Uint8Array(Math.max(0, len - EXT4_MIN_INLINE_DATA_SIZE)));
  inode.iBlock.fill(0);
  inode.i_flags = (inode.i_flags & ~EXT4_EXTENTS_FL) | EXT4_INLINE_DATA_FL;
}

/** ext4_update_inline_data: system.data grows (zero-filled) so the inline size reaches `len`. */
export function updateInlineData(inode: Ext4Inode, len: number): void {
  const d = inlineData(inode);
  if (len <= d.size) return;
  const v = new Uint8Array(len - EXT4_MIN_INLINE_DATA_SIZE);
  v.set(d.value.subarray(0, v.length));
  setDataValue(inode, v);
}

/** Copy `buf` to inline offset `pos` (the space exists). */
function putInline(inode: Ext4Inode, buf: Uint8Array, pos: number): void {
  const ib = inode.iBlock;
  const n1 = Math.max(0, Math.min(buf.length, EXT4_MIN_INLINE_DATA_SIZE - pos));
  if (n1 > 0) ib.set(buf.subarray(0, n1), pos);
  if (n1 < buf.length) {
    const d = inlineData(inode);
    const vpos = Math.max(0, pos - EXT4_MIN_INLINE_DATA_SIZE);
    if (vpos + buf.length - n1 > d.value.length) fail(EFSCORRUPTED);
    d.value.set(buf.subarray(n1), vpos); // d.value is a view into inode.raw
  }
}

/**
 * ext4_write_inline_data (after ext4_prepare_inline_data): `buf` at `pos` of an inode that may be
 * inline, when pos + length fits the maximum inline size. Returns false (nothing changed) when it
 * does not. The caller updates i_size and times and writes the inode.
 */
export function writeInlineData(inode: Ext4Inode, buf: Uint8Array, pos: number): boolean {
  const end = pos + buf.length;
  if (end > maxInlineSize(inode)) return false;
  if (!inode.hasInlineData) createInlineData(inode, end);
  else updateInlineData(inode, end);
  putInline(inode, buf, pos);
  return true;
}

/** ext4_inline_data_truncate: shrink to `size` (below the inline size). */
export function truncateInlineData(inode: Ext4Inode, size: number): void {
  const d = inlineData(inode);
  if (size >= d.size) return;
  if (d.size > EXT4_MIN_INLINE_DATA_SIZE) {
    const keep = Math.max(0, size - EXT4_MIN_INLINE_DATA_SIZE);
    setDataValue(inode, d.value.slice(0, keep));
  }
  if (size < EXT4_MIN_INLINE_DATA_SIZE) inode.iBlock.fill(0, size);
}

/** The whole inline content (inline size bytes), a copy. */
export function inlineContent(inode: Ext4Inode): Uint8Array {
  const d = inlineData(inode);
  const out = new Uint8Array(d.size);
  out.set(d.iblock);
  out.set(d.value, EXT4_MIN_INLINE_DATA_SIZE);
  return out;
}

/**
 * ext4_destroy_inline_data_nolock: system.data removed, i_block cleared, the inline flag off and,
 * with the extents feature, an empty extent tree in i_block.
 */
export function destroyInlineData(inode: Ext4Inode): void {
  setDataValue(inode, null);
  const ib = inode.iBlock;
  ib.fill(0);
  inode.i_flags &= ~EXT4_INLINE_DATA_FL;
  if (inode.sbi.hasExtents && (inode.isReg || inode.isDir || inode.isLnk)) {
    inode.i_flags |= EXT4_EXTENTS_FL;
    p16(ib, 0, EXT4_EXT_MAGIC); p16(ib, 2, 0); p16(ib, 4, 4); p16(ib, 6, 0);
  }
  setMayInlineData(inode, false);
}

/* ---- directories ---- */

/** ext4_try_create_inline_dir: make `dir` (new) an empty inline directory, if it has room. */
export function tryCreateInlineDir(dir: Ext4Inode, parent: number): boolean {
  if (!mayInlineData(dir) || maxInlineSize(dir) < EXT4_MIN_INLINE_DATA_SIZE) return false;
  createInlineData(dir, EXT4_MIN_INLINE_DATA_SIZE);
  const ib = dir.iBlock;
  p32(ib, 0, parent);
  p32(ib, EXT4_INLINE_DOTDOT_SIZE, 0);
  p16(ib, EXT4_INLINE_DOTDOT_SIZE + 4, EXT4_MIN_INLINE_DATA_SIZE - EXT4_INLINE_DOTDOT_SIZE);
  dir.size = EXT4_MIN_INLINE_DATA_SIZE;
  return true;
}

/** The two runs of entries: i_block after the parent number, and the system.data value. */
function parts(dir: Ext4Inode): Uint8Array[] {
  const d = inlineData(dir);
  const out = [d.iblock.subarray(EXT4_INLINE_DOTDOT_SIZE)];
  if (d.value.length) out.push(d.value);
  return out;
}

/** Walk a part's entries; `fn` returns true to stop. Corruption is EFSCORRUPTED. */
function walk(b: Uint8Array, fn: (off: number, rl: number, prev: number) => boolean): void {
  let off = 0, prev = -1;
  while (off < b.length) {
    if (off + 8 > b.length) fail(EFSCORRUPTED);
    const rl = recLenFromDisk(le16(b, off + 4), b.length);
    if (rl < dirRecLen(1) || rl % 4 || off + rl > b.length || (le32(b, off) && dirRecLen(b[off + 6]!) > rl)) fail(EFSCORRUPTED);
    if (fn(off, rl, prev)) return;
    prev = off;
    off += rl;
  }
}

/** ext4_find_dest_de within one part: an entry with room for `need` bytes, or -1. */
function findDest(b: Uint8Array, need: number): number {
  let at = -1;
  walk(b, (off, rl) => {
    const used = le32(b, off) ? dirRecLen(b[off + 6]!) : 0;
    if (rl - used >= need) { at = off; return true; }
    return false;
  });
  return at;
}

/** ext4_insert_dentry */
function insertAt(b: Uint8Array, off: number, name: Uint8Array, ino: number, ft: number): void {
  const rl = recLenFromDisk(le16(b, off + 4), b.length);
  let de = off, len = rl;
  if (le32(b, off)) {
    const used = dirRecLen(b[off + 6]!);
    p16(b, off + 4, used);
    de = off + used;
    len = rl - used;
  }
  p32(b, de, ino);
  p16(b, de + 4, len);
  b[de + 6] = name.length;
  b[de + 7] = ft;
  b.set(name, de + 8);
}

/**
 * ext4_update_inline_dir: an empty system.data grows to its whole room, one empty entry over it;
 * false when that would not add more than a minimal entry.
 */
function growInlineDir(dir: Ext4Inode): boolean {
  const oldSize = inlineData(dir).value.length;
  const newSize = maxInlineValueSize(dir);
  if (newSize - oldSize <= dirRecLen(1)) return false;
  updateInlineData(dir, newSize + EXT4_MIN_INLINE_DATA_SIZE);
  const v = inlineData(dir).value;
  if (oldSize === 0) {
    p32(v, 0, 0);
    p16(v, 4, newSize);
  } else {
    let last = 0;
    walk(v.subarray(0, oldSize), (off) => { last = off; return false; });
    p16(v, last + 4, recLenFromDisk(le16(v, last + 4), oldSize) + newSize - oldSize);
  }
  dir.size = newSize + EXT4_MIN_INLINE_DATA_SIZE;
  return true;
}

/**
 * ext4_try_add_inline_entry: add (name, ino, ft) to inline `dir`. False when there is no room:
 * the caller converts the directory and adds the name to its block.
 */
export function tryAddInlineEntry(dir: Ext4Inode, name: Uint8Array, ino: number, ft: number): boolean {
  const need = dirRecLen(name.length);
  let ps = parts(dir);
  let off = findDest(ps[0]!, need);
  if (off >= 0) { insertAt(ps[0]!, off, name, ino, ft); return true; }
  if (ps.length === 1) {
    if (!growInlineDir(dir)) return false;
    ps = parts(dir);
  }
  off = findDest(ps[1]!, need);
  if (off >= 0) { insertAt(ps[1]!, off, name, ino, ft); return true; }
  return false;
}

/** A live entry named `name`: which part, its offset and its predecessor's. */
export interface InlineEntry { part: number; off: number; prev: number; ino: number }

export function findInlineEntryW(dir: Ext4Inode, name: Uint8Array): InlineEntry | null {
  const ps = parts(dir);
  for (let p = 0; p < ps.length; p++) {
    const b = ps[p]!;
    let found: InlineEntry | null = null;
    walk(b, (off, _rl, prev) => {
      const ino = le32(b, off);
      if (!ino || b[off + 6] !== name.length) return false;
      for (let i = 0; i < name.length; i++) if (b[off + 8 + i] !== name[i]) return false;
      found = { part: p, off, prev, ino };
      return true;
    });
    if (found) return found;
  }
  return null;
}

/** ext4_delete_inline_entry (ext4_generic_delete_entry within the entry's part). */
export function deleteInlineEntry(dir: Ext4Inode, name: Uint8Array): number {
  const e = findInlineEntryW(dir, name);
  if (!e) fail(EFSCORRUPTED);
  const b = parts(dir)[e.part]!;
  const rl = recLenFromDisk(le16(b, e.off + 4), b.length);
  if (e.prev >= 0) {
    p16(b, e.prev + 4, recLenFromDisk(le16(b, e.prev + 4), b.length) + rl);
    b.fill(0, e.off, e.off + rl);
  } else {
    p32(b, e.off, 0);
    b.fill(0, e.off + 6, e.off + rl);
  }
  return e.ino;
}

/** ext4_setent on an inline entry: point `name` at another inode. */
export function setInlineEntry(dir: Ext4Inode, name: Uint8Array, ino: number, ft: number): void {
  const e = findInlineEntryW(dir, name);
  if (!e) fail(EFSCORRUPTED);
  const b = parts(dir)[e.part]!;
  p32(b, e.off, ino);
  b[e.off + 7] = ft;
}

/** The parent number an inline directory keeps in place of "..". */
export function setInlineParent(dir: Ext4Inode, parent: number): void {
  p32(dir.iBlock, 0, parent);
}

/** empty_inline_dir: no live entry in either part. */
export function emptyInlineDir(dir: Ext4Inode): boolean {
  if (!le32(dir.iBlock, 0)) return true; // no ".." (Linux warns and calls it empty)
  for (const b of parts(dir)) {
    let live = false;
    walk(b, (off) => { live = le32(b, off) !== 0; return live; });
    if (live) return false;
  }
  return true;
}

/**
 * ext4_finish_convert_inline_dir: the first block of a directory converted from inline content
 * `buf` (parent number, then entries): "." and ".." (rec_len 12 each), the entries, the last one
 * stretched to `limit` (the block, less the checksum tail with metadata_csum). The caller adds
 * the tail and the checksum.
 */
export function convertedDirBlock(dir: Ext4Inode, buf: Uint8Array, bs: number, limit: number, ftDir: number): Uint8Array {
  const b = new Uint8Array(bs);
  p32(b, 0, dir.ino); p16(b, 4, 12); b[6] = 1; b[7] = ftDir; b[8] = 0x2e;
  p32(b, 12, le32(buf, 0)); p16(b, 16, 12); b[18] = 2; b[19] = ftDir; b[20] = 0x2e; b[21] = 0x2e;
  const ents = buf.subarray(EXT4_INLINE_DOTDOT_SIZE);
  b.set(ents, 24);
  // ext4_update_final_de: find the last entry of the copied run and stretch it.
  const run = b.subarray(24, 24 + ents.length);
  let last = -1;
  for (let off = 0; off < run.length;) {
    const rl = le16(run, off + 4);
    if (rl < 12 || off + rl > run.length) break;
    last = off;
    off += rl;
  }
  if (last < 0) { p32(b, 24, 0); p16(b, 28, limit - 24); } else p16(b, 24 + last + 4, limit - 24 - last);
  return b;
}
