/*
 * Extent trees (fs/ext4/extents.c, read side): logical block -> physical block.
 *
 * An extent-mapped inode keeps the root of a B-tree in i_block[]: a header and up to four
 * entries. At depth 0 the entries are extents (first logical block, length, first physical
 * block); above, they are indexes (first logical block covered, child node's block). Children
 * are whole blocks with the same header, up to (blocksize - 12) / 12 entries and, with
 * metadata_csum, a crc32c tail seeded by the inode. Linux refuses trees deeper than 5.
 *
 * Every node is checked as Linux's __ext4_ext_check does before it is used: magic 0xF30A, depth
 * as expected, 0 < eh_max <= capacity, eh_entries <= eh_max, no empty index node, entries sorted
 * and non-overlapping, physical ranges inside the filesystem and outside its metadata, the
 * child's first key equal to its parent's key, and the tail checksum. A failure logs
 *   EXT4-fs error (device vda1): ext4_find_extent:N: inode #12: comm cat: pblk 1234 bad
 *   header/extent: invalid magic - magic 0, entries 0, max 0(340), depth 0(0)
 * and throws EUCLEAN (EBADMSG for a checksum mismatch).
 *
 * A lookup answers a run: the extent containing the block (trimmed to start there) or the hole
 * up to the next extent. The last leaf visited is cached in the inode with the logical range its
 * parent index assigns it, so sequential reads walk the tree once per leaf.
 */
import { isPromise, type MaybePromise } from '../../lib/errors.js';
import { EIO } from '../../uapi/errno.js';
import {
  Ext4ExtentHeaderView, EXT4_EXT_MAGIC, EXT4_EXTENT_HEADER_SIZE, EXT4_EXTENT_SIZE,
  EXT4_MAX_EXTENT_DEPTH, EXT_INIT_MAX_LEN, extentTailOffset,
} from './layout/index.js';
import { ext4Error, EFSBADCRC, type Ext4Inode, type BlockMapping } from './ext4.js';

const EXT_MAX_BLOCKS = 2 ** 32 - 1;

/** A decoded leaf: extents as (lblk, len, pblk, unwritten) quadruples, and the range it covers. */
interface LeafCache { lo: number; hi: number; n: number; e: Float64Array }

function u16(b: Uint8Array, o: number): number { return b[o]! | (b[o + 1]! << 8); }
function u32(b: Uint8Array, o: number): number { return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0; }

/** ext4_ext_max_entries: capacity of a node at `depth` (the root holds 4). */
function maxEntries(inode: Ext4Inode, isRoot: boolean): number {
  return isRoot ? (60 - EXT4_EXTENT_HEADER_SIZE) / EXT4_EXTENT_SIZE : Math.floor((inode.sbi.blockSize - EXT4_EXTENT_HEADER_SIZE) / EXT4_EXTENT_SIZE);
}

/** ext4_extent_block_csum over a node block (header through eh_max entries). */
export function extentBlockCsum(inode: Ext4Inode, node: Uint8Array, ehMax: number): number {
  return inode.sbi.chksum(inode.csumSeed, node, 0, extentTailOffset(ehMax));
}

/**
 * __ext4_ext_check for the node in `node` expected at `depth`, read from `pblk` (0 for the root)
 * under an index whose key is `lblk`. Throws the logged error.
 */
function extCheck(inode: Ext4Inode, func: string, node: Uint8Array, depth: number, pblk: number, lblk: number, isRoot: boolean): void {
  const h = new Ext4ExtentHeaderView(node);
  const max = maxEntries(inode, isRoot);
  let err = '';
  let errno: number | undefined;
  let badPblk = pblk;
  if (h.eh_magic !== EXT4_EXT_MAGIC) err = 'invalid magic';
  else if (h.eh_depth !== depth) err = 'unexpected eh_depth';
  else if (h.eh_max === 0) err = 'invalid eh_max';
  else if (h.eh_max > max) err = 'too large eh_max';
  else if (h.eh_entries > h.eh_max) err = 'invalid eh_entries';
  else if (h.eh_entries === 0 && depth > 0) err = 'eh_entries is 0 but eh_depth is > 0';
  else {
    const bad = validEntries(inode, node, h.eh_entries, depth, lblk, isRoot);
    if (bad !== null) { err = 'invalid extent entries'; if (bad > 0) badPblk = bad; }
    else if (depth > 32) err = 'too large eh_depth';
    else if (!isRoot && inode.sbi.hasMetadataCsum) {
      const tail = extentTailOffset(h.eh_max);
      if (u32(node, tail) !== extentBlockCsum(inode, node, h.eh_max)) { err = 'extent tree corrupted'; errno = EFSBADCRC; }
    }
  }
  if (!err) return;
  throw ext4Error(inode.sbi, func, inode,
    `pblk ${badPblk} bad header/extent: ${err} - magic ${h.eh_magic.toString(16)}, entries ${h.eh_entries}, max ${h.eh_max}(${max}), depth ${h.eh_depth}(${depth})`,
    errno === undefined ? {} : { errno });
}

/**
 * ext4_valid_extent_entries: null when fine; otherwise the offending physical block (or 0).
 * Non-root nodes must start exactly at their parent's key.
 */
function validEntries(inode: Ext4Inode, node: Uint8Array, entries: number, depth: number, lblk: number, isRoot: boolean): number | null {
  if (entries === 0) return null;
  const sbi = inode.sbi;
  let cur = 0;
  if (!isRoot && u32(node, EXT4_EXTENT_HEADER_SIZE) !== lblk) return 0;
  for (let i = 0; i < entries; i++) {
    const o = EXT4_EXTENT_HEADER_SIZE + i * EXT4_EXTENT_SIZE;
    const block = u32(node, o);
    if (depth === 0) {
      const rawLen = u16(node, o + 4);
      const len = rawLen <= EXT_INIT_MAX_LEN ? rawLen : rawLen - EXT_INIT_MAX_LEN;
      const p = u32(node, o + 8) + u16(node, o + 6) * 2 ** 32;
      if (len === 0 || block + len > EXT_MAX_BLOCKS) return 0;
      if (!sbi.blockValid(p, len)) return 0;
      if (block < cur) return p;
      cur = block + len;
    } else {
      const p = u32(node, o + 4) + u16(node, o + 8) * 2 ** 32;
      if (!sbi.blockValid(p, 1)) return 0;
      if (block < cur) return p;
      cur = block + 1;
    }
  }
  return null;
}

/** ext4_ext_check_inode: the root in i_block[], checked at iget. */
export function ext4ExtCheckInode(inode: Ext4Inode): void {
  const root = inode.iBlock;
  const depth = u16(root, 6);
  extCheck(inode, 'ext4_ext_check_inode', root, depth, 0, 0, true);
}

/** Decode a checked leaf node's extents. */
function decodeLeaf(node: Uint8Array, lo: number, hi: number): LeafCache {
  const n = u16(node, 2);
  const e = new Float64Array(n * 4);
  for (let i = 0; i < n; i++) {
    const o = EXT4_EXTENT_HEADER_SIZE + i * EXT4_EXTENT_SIZE;
    const rawLen = u16(node, o + 4);
    e[4 * i] = u32(node, o);
    e[4 * i + 1] = rawLen <= EXT_INIT_MAX_LEN ? rawLen : rawLen - EXT_INIT_MAX_LEN;
    e[4 * i + 2] = u32(node, o + 8) + u16(node, o + 6) * 2 ** 32;
    e[4 * i + 3] = rawLen > EXT_INIT_MAX_LEN ? 1 : 0;
  }
  return { lo, hi, n, e };
}

/**
 * Find the leaf covering `lblk`, reading and checking index and leaf blocks on the way. A tree of
 * depth 0 (the extents in the inode itself, most files) needs no read: no promise then.
 */
function findLeaf(inode: Ext4Inode, lblk: number): MaybePromise<LeafCache> {
  const depth = u16(inode.iBlock, 6);
  if (depth === 0) return decodeLeaf(inode.iBlock, 0, EXT_MAX_BLOCKS + 1);
  return findLeafDeep(inode, lblk, depth);
}

async function findLeafDeep(inode: Ext4Inode, lblk: number, depth: number): Promise<LeafCache> {
  const sbi = inode.sbi;
  let node: Uint8Array = inode.iBlock;
  if (depth > EXT4_MAX_EXTENT_DEPTH) {
    throw ext4Error(sbi, 'ext4_find_extent', inode, `inode has invalid extent depth: ${depth}`);
  }
  let lo = 0, hi = EXT_MAX_BLOCKS + 1;
  for (let d = depth; d > 0; d--) {
    const n = u16(node, 2);
    // Last index whose key is <= lblk; the first one when lblk precedes them all.
    let l = 1, r = n - 1;
    while (l <= r) {
      const m = (l + r) >>> 1;
      if (lblk < u32(node, EXT4_EXTENT_HEADER_SIZE + m * EXT4_EXTENT_SIZE)) r = m - 1; else l = m + 1;
    }
    const ix = l - 1;
    const o = EXT4_EXTENT_HEADER_SIZE + ix * EXT4_EXTENT_SIZE;
    const key = u32(node, o);
    const child = u32(node, o + 4) + u16(node, o + 8) * 2 ** 32;
    // Blocks before the first key still search under the first index (as Linux's binsearch).
    if (ix > 0) lo = key;
    if (ix + 1 < n) hi = Math.min(hi, u32(node, o + EXT4_EXTENT_SIZE));
    let blk: Uint8Array;
    try {
      const b = sbi.bread(child);
      blk = isPromise(b) ? await b : b;
    } catch {
      throw ext4Error(sbi, 'ext4_find_extent', inode, `pblk ${child}: unable to read extent block`, { errno: EIO });
    }
    extCheck(inode, 'ext4_find_extent', blk, d - 1, child, key, false);
    node = blk;
  }
  return decodeLeaf(node, lo, hi);
}

/**
 * Decoded leaves of one inode (the extent status cache's role): sorted by the logical range each
 * covers, which never overlap. Several are kept, so random access over a file or directory with
 * many leaves does not re-read and re-verify a leaf per lookup; writers drop them all
 * (inode.extentCache = null).
 */
const MAX_CACHED_LEAVES = 32;

function cachedLeaf(set: LeafCache[] | null, lblk: number): LeafCache | null {
  if (!set) return null;
  let l = 0, r = set.length - 1;
  while (l <= r) {
    const m = (l + r) >>> 1;
    const x = set[m]!;
    if (lblk < x.lo) r = m - 1;
    else if (lblk >= x.hi) l = m + 1;
    else return x;
  }
  return null;
}

function cacheLeaf(set: LeafCache[] | null, leaf: LeafCache): LeafCache[] {
  const out = set ?? [];
  let i = 0;
  while (i < out.length && out[i]!.lo < leaf.lo) i++;
  if (i < out.length && out[i]!.lo === leaf.lo) { out[i] = leaf; return out; }
  out.splice(i, 0, leaf);
  // Over the bound: drop the leaf farthest from the new one (the old single-leaf cache's spirit).
  if (out.length > MAX_CACHED_LEAVES) out.splice(i < out.length / 2 ? out.length - 1 : 0, 1);
  return out;
}

/** Map `lblk` of an extent-mapped inode (ext4_ext_map_blocks without allocation). */
export function ext4ExtMap(inode: Ext4Inode, lblk: number, maxLen: number): MaybePromise<BlockMapping> {
  const leaf = cachedLeaf(inode.extentCache as LeafCache[] | null, lblk);
  if (leaf) return mapInLeaf(leaf, lblk, maxLen);
  const found = findLeaf(inode, lblk);
  if (isPromise(found)) return found.then((l) => mapInLeaf(cacheFound(inode, l), lblk, maxLen));
  return mapInLeaf(cacheFound(inode, found), lblk, maxLen);
}

function cacheFound(inode: Ext4Inode, leaf: LeafCache): LeafCache {
  inode.extentCache = cacheLeaf(inode.extentCache as LeafCache[] | null, leaf);
  return leaf;
}

function mapInLeaf(leaf: LeafCache, lblk: number, maxLen: number): BlockMapping {
  const { e, n } = leaf;
  // Last extent starting at or before lblk.
  let l = 0, r = n - 1, ix = -1;
  while (l <= r) {
    const m = (l + r) >>> 1;
    if (e[4 * m]! <= lblk) { ix = m; l = m + 1; } else r = m - 1;
  }
  if (ix >= 0) {
    const start = e[4 * ix]!, len = e[4 * ix + 1]!;
    if (lblk < start + len) {
      return {
        pblk: e[4 * ix + 2]! + (lblk - start),
        len: Math.max(1, Math.min(start + len - lblk, maxLen)),
        unwritten: e[4 * ix + 3] === 1,
      };
    }
  }
  const next = ix + 1 < n ? e[4 * (ix + 1)]! : leaf.hi;
  return { pblk: 0, len: Math.max(1, Math.min(next - lblk, maxLen)), unwritten: false };
}
