/*
 * Inline data (fs/ext4/inline.c, read side): small files and directories kept inside the inode.
 * inline_write.ts makes, grows, shrinks and converts them.
 *
 * With the inline_data feature an inode flagged EXT4_INLINE_DATA_FL has no data blocks. Its
 * content is the 60 bytes of i_block[] followed by the value of the in-inode extended attribute
 * "system.data" (index 7, name "data"), which may be empty; the "inline size" is 60 + that
 * value's length, and a file reads min(inline size, i_size) bytes of it. The attribute must be
 * in the inode itself (never in a block or an EA inode).
 *
 * An inline directory has no "." or ".." entries: i_block starts with the parent's inode number
 * (4 bytes) and ordinary ext4_dir_entry_2 records fill the rest of i_block, then continue, as a
 * second independent run of records, in the system.data value. readdir positions are those of
 * the block format this directory would have ("." at 0, ".." at 12, the first real entry at 24),
 * so a position survives the directory being converted to a block: entry bytes at offset k of
 * the inline buffer have position k + 20.
 * An inline symlink (made by old kernels) stores its target the same way as a file.
 *
 * Corrupt inline entries are reported like block ones. Linux turns a broken inline lookup into
 * -EPERM (the raw -1 of ext4_search_dir leaks out); we return EUCLEAN instead, the errno the rest
 * of the driver gives for corruption.
 */
import { fail } from '../../lib/errors.js';
import { bytesToByteString } from '../../lib/bytestr.js';
import { DT_DIR, DT_UNKNOWN } from '../../uapi/stat.js';
import type { DirContext } from '../vfs/index.js';
import { type Ext4Inode, ext4Error, EFSCORRUPTED } from './ext4.js';
import { ext4XattrIbodyFind, EXT4_XATTR_INDEX_SYSTEM } from './xattr.js';
import {
  checkDirEntry, searchDir, recLenFromDisk, dirRecLen, le16, le32, entryNameLen, EXT4_DIR_ENTRY_HDR,
  type LookupName, type FoundEntry,
} from './htree.js';
import { I_BLOCK } from './layout/index.js';

export const EXT4_MIN_INLINE_DATA_SIZE = 60;
export const EXT4_INLINE_DOTDOT_OFFSET = 0, EXT4_INLINE_DOTDOT_SIZE = 4;
export const EXT4_XATTR_SYSTEM_DATA = 'data';

/** Where an inline inode's bytes are: i_block and the system.data value. */
export interface InlineData { iblock: Uint8Array; value: Uint8Array; size: number }

/**
 * ext4_find_inline_data_nolock: locate system.data. Without it (or without room for in-inode
 * attributes) only i_block holds data; Linux would not treat the inode as inline at all, we read
 * the 60 bytes rather than refuse.
 */
export function inlineData(inode: Ext4Inode): InlineData {
  const iblock = inode.raw.subarray(I_BLOCK, I_BLOCK + EXT4_MIN_INLINE_DATA_SIZE);
  let value: Uint8Array = new Uint8Array(0);
  if (inode.extraIsize) {
    const f = ext4XattrIbodyFind(inode, EXT4_XATTR_INDEX_SYSTEM, EXT4_XATTR_SYSTEM_DATA);
    if (f) {
      if (f.entry.valueInum) {
        throw ext4Error(inode.sbi, 'ext4_find_inline_data_nolock', inode, 'inline data xattr refers to an external xattr inode');
      }
      const start = f.area.valueStart + f.entry.valueOffs;
      value = f.area.buf.subarray(start, start + f.entry.valueSize);
    }
  }
  return { iblock, value, size: EXT4_MIN_INLINE_DATA_SIZE + value.length };
}

/** ext4_get_inline_size */
export function inlineSize(inode: Ext4Inode): number { return inlineData(inode).size; }

/** The first `len` bytes of the inline content (ext4_read_inline_data). */
function inlineBytes(d: InlineData, len: number): Uint8Array {
  const out = new Uint8Array(Math.min(len, d.size));
  const a = Math.min(out.length, EXT4_MIN_INLINE_DATA_SIZE);
  out.set(d.iblock.subarray(0, a));
  if (out.length > a) out.set(d.value.subarray(0, out.length - a), a);
  return out;
}

/** A regular file's (or inline symlink's) content: min(inline size, i_size) bytes. */
export async function readInlineData(inode: Ext4Inode): Promise<Uint8Array> {
  const d = inlineData(inode);
  return inlineBytes(d, Math.min(d.size, inode.size));
}

/** Synchronous twin for callers that must not await (the data is in the inode already). */
export function readInlineDataSync(inode: Ext4Inode): Uint8Array {
  const d = inlineData(inode);
  return inlineBytes(d, Math.min(d.size, inode.size));
}

/** The whole inline directory buffer (parent number + entries), inline size bytes. */
export function inlineDirBuffer(inode: Ext4Inode): Uint8Array {
  const d = inlineData(inode);
  return inlineBytes(d, d.size);
}

/** The parent directory's inode number of an inline directory. */
export function inlineDirParent(inode: Ext4Inode): number {
  return le32(inode.raw, I_BLOCK);
}

/** get_dtype */
export function fileTypeToDtype(inode: Ext4Inode, ft: number): number {
  if (!inode.sbi.hasFiletype || ft >= FT_TO_DT.length) return DT_UNKNOWN;
  return FT_TO_DT[ft]!;
}
/** EXT4_FT_* to DT_*: unknown, reg, dir, chr, blk, fifo, sock, symlink. */
const FT_TO_DT = [0, 8, 4, 2, 6, 1, 12, 10];

/**
 * ext4_read_inline_dir: emit entries from ctx.pos on. "." is position 0, ".." 12, entries from
 * 24 (their offset in the buffer plus 20). A position inside an entry is first moved back to the
 * start of the entry holding it, as Linux rescans after the directory may have changed.
 */
export function readInlineDir(inode: Ext4Inode, ctx: DirContext): void {
  const buf = inlineDirBuffer(inode);
  const inlineSz = buf.length;
  const parent = le32(buf, 0);
  const dotdotOffset = dirRecLen(1);
  const dotdotSize = dotdotOffset + dirRecLen(2);
  const extraOffset = dotdotSize - EXT4_INLINE_DOTDOT_SIZE;
  const extraSize = extraOffset + inlineSz;
  const bs = inode.sbi.blockSize;

  // Re-synchronise the position with an entry boundary.
  let i = 0;
  while (i < extraSize && i < ctx.pos) {
    if (i === 0) { i = dotdotOffset; continue; }
    if (i === dotdotOffset) { i = dotdotSize; continue; }
    const o = i - extraOffset;
    if (o + EXT4_DIR_ENTRY_HDR > inlineSz) break;
    const rl = recLenFromDisk(le16(buf, o + 4), extraSize);
    if (rl < dirRecLen(1)) break;
    i += rl;
  }
  ctx.pos = i;

  while (ctx.pos < extraSize) {
    if (ctx.pos === 0) {
      if (!ctx.emit('.', inode.ino, DT_DIR)) return;
      ctx.pos = dotdotOffset;
      continue;
    }
    if (ctx.pos === dotdotOffset) {
      if (!ctx.emit('..', parent, DT_DIR)) return;
      ctx.pos = dotdotSize;
      continue;
    }
    // Entries of the i_block part must not run into the system.data part and vice versa: each
    // part is checked against its own end.
    const o = ctx.pos - extraOffset;
    const partEnd = o < EXT4_MIN_INLINE_DATA_SIZE ? EXT4_MIN_INLINE_DATA_SIZE : inlineSz;
    const part = buf.subarray(0, partEnd);
    if (!checkDirEntry(inode, true, part, o, partEnd, ctx.pos, 0, 'ext4_read_inline_dir')) return;
    const ino = le32(buf, o);
    const rl = recLenFromDisk(le16(buf, o + 4), bs);
    if (ino) {
      const nl = entryNameLen(buf, o);
      const name = bytesToByteString(buf, o + EXT4_DIR_ENTRY_HDR, o + EXT4_DIR_ENTRY_HDR + nl);
      if (!ctx.emit(name, ino, fileTypeToDtype(inode, buf[o + 7]!))) return;
    }
    ctx.pos += rl;
  }
}

/**
 * ext4_find_inline_entry: search the i_block part, then the system.data part. Returns the
 * entry or null.
 */
export function findInlineEntry(dir: Ext4Inode, fname: LookupName): FoundEntry | null {
  const d = inlineData(dir);
  const first = d.iblock.subarray(EXT4_INLINE_DOTDOT_SIZE, EXT4_MIN_INLINE_DATA_SIZE);
  let r = searchDir(dir, first, fname, 0, 0, 'ext4_find_inline_entry');
  if (r === 'bad') fail(EFSCORRUPTED);
  if (r) return r;
  if (d.size === EXT4_MIN_INLINE_DATA_SIZE) return null;
  r = searchDir(dir, d.value, fname, 0, 0, 'ext4_find_inline_entry');
  if (r === 'bad') fail(EFSCORRUPTED);
  return r;
}
