/*
 * Changing extent trees (the writing half of fs/ext4/extents.c), at any depth.
 *
 * An extent maps a run of logical blocks to a run of physical ones. The root in i_block[] holds a
 * header and four entries; at depth 0 they are extents, above they are indexes (first logical
 * block of the subtree, child block). Every other node is a whole block of (blocksize - 12) / 12
 * entries with, under metadata_csum, a crc32c tail seeded by the inode. Two rules e2fsck and
 * ext4_ext_check enforce: an index entry's key equals the first logical block of its child (so,
 * recursively, of the first extent below it), and no node but the root is ever empty.
 *
 * ExtentTree works on one path at a time, as Linux does: find() walks from the root to the leaf
 * whose range holds a logical block, remembering at each level which entry it followed. Then
 *   - insert into a leaf: shift the entries; if the leaf is full, split it (a new block takes the
 *     upper half, or only the new entry when it goes at the end, so appends fill leaves) and put
 *     an index for the new block into the parent, splitting index nodes upward the same way; when
 *     the root itself is full the tree grows by one level (ext4_ext_grow_indepth): the root's
 *     entries move into a new block and the root becomes a single index to it;
 *   - remove from a leaf: a node left empty is freed (its journalled copies revoked) and its index
 *     removed from the parent, recursively; a root left empty goes back to depth 0; a root holding
 *     one index to a child with at most four entries takes those entries back (the depth shrinks,
 *     as ext4_ext_try_to_merge_up does for depth 1);
 *   - whenever a node's first entry changes, the keys above it are corrected (ext4_ext_correct_indexes).
 * So each inserted or removed extent dirties O(depth) blocks. Per inserted extent, at depth d the
 * worst case (every node on the path splits and the root grows) dirties 2d + 1 tree blocks and
 * allocates d + 1 blocks (bitmap and group descriptor each): see extentInsertCredits().
 *
 * The editing policy (merging with neighbours, splitting unwritten extents at the edges of a
 * range, the 32767-block unwritten limit) stays on plain sorted lists of extents: a caller loads
 * the extents around the range it changes (loadExtents(inode, from, to): the extent at or before
 * `from - 1` through the first one at or after `to`; or the whole file without a range), edits the
 * list with insertExtent/cutExtents/setExtentState/... and hands it back to storeExtents(), which
 * compares it with what was loaded and applies only the differences, entry by entry, through the
 * path operations: changed extents in place, new ones inserted, vanished ones removed.
 */
import { fail, isPromise } from '../../lib/errors.js';
import { EOPNOTSUPP, EFBIG, EUCLEAN } from '../../uapi/errno.js';
import {
  EXT4_EXT_MAGIC, EXT4_EXTENT_HEADER_SIZE, EXT4_MAX_EXTENT_DEPTH, EXT_INIT_MAX_LEN, extentTailOffset,
} from './layout/index.js';
import type { Ext4Inode } from './ext4.js';
import { extentBlockCsum } from './extents.js';
import { allocBlocks, freeBlocks, ALLOC_CREDITS } from './balloc.js';
import type { Ext4Handle } from './jbd.js';

export interface Extent { lblk: number; len: number; pblk: number; unwritten: boolean }

const HDR = EXT4_EXTENT_HEADER_SIZE;
const ES = 12;
/** Entries of the root in i_block[] (60 bytes). */
const ROOT_MAX = 4;

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
function p16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function p32(b: Uint8Array, o: number, v: number): void { p16(b, o, v & 0xffff); p16(b, o + 2, (v >>> 16) & 0xffff); }

const nEntries = (n: Uint8Array) => u16(n, 2);
const nMax = (n: Uint8Array) => u16(n, 4);
const nDepth = (n: Uint8Array) => u16(n, 6);
const keyAt = (n: Uint8Array, i: number) => u32(n, HDR + ES * i);
const childAt = (n: Uint8Array, i: number) => u32(n, HDR + ES * i + 4) + u16(n, HDR + ES * i + 8) * 2 ** 32;

function putHeader(n: Uint8Array, entries: number, max: number, depth: number): void {
  p16(n, 0, EXT4_EXT_MAGIC); p16(n, 2, entries); p16(n, 4, max); p16(n, 6, depth); p32(n, 8, 0);
}

/** The 12 on-disk bytes of an extent (ext4_extent). */
function extentBytes(e: Extent): Uint8Array {
  const b = new Uint8Array(ES);
  p32(b, 0, e.lblk);
  p16(b, 4, e.unwritten ? e.len + EXT_INIT_MAX_LEN : e.len);
  p16(b, 6, Math.floor(e.pblk / 2 ** 32));
  p32(b, 8, e.pblk % 2 ** 32);
  return b;
}

/** The 12 on-disk bytes of an index entry (ext4_extent_idx). */
function indexBytes(lblk: number, child: number): Uint8Array {
  const b = new Uint8Array(ES);
  p32(b, 0, lblk);
  p32(b, 4, child % 2 ** 32);
  p16(b, 8, Math.floor(child / 2 ** 32));
  return b;
}

function extentAt(n: Uint8Array, i: number): Extent {
  const o = HDR + ES * i;
  const raw = u16(n, o + 4);
  return { lblk: u32(n, o), len: raw <= EXT_INIT_MAX_LEN ? raw : raw - EXT_INIT_MAX_LEN,
    pblk: u32(n, o + 8) + u16(n, o + 6) * 2 ** 32, unwritten: raw > EXT_INIT_MAX_LEN };
}

/** Last entry whose key is <= lblk, -1 when lblk precedes them all. */
function search(n: Uint8Array, lblk: number): number {
  let l = 0, r = nEntries(n) - 1, ix = -1;
  while (l <= r) {
    const m = (l + r) >>> 1;
    if (keyAt(n, m) <= lblk) { ix = m; l = m + 1; } else r = m - 1;
  }
  return ix;
}

/**
 * What the tree needs from its surroundings: block I/O inside the current handle, allocation,
 * and the root. ext4 wires it to a handle (ext4TreeIo); unit tests to a map of blocks.
 */
export interface TreeIo {
  /** Entries per non-root node: (blocksize - 12) / 12. */
  readonly blockMax: number;
  /** The root node (i_block[]), changed in place; its owner writes it back. */
  readonly root: Uint8Array;
  /** Current content of a tree block (not to be changed). */
  read(nr: number): Uint8Array | Promise<Uint8Array>;
  /** The mutable copy of a tree block (`fresh`: newly allocated, content irrelevant). */
  write(nr: number, fresh: boolean): Promise<Uint8Array>;
  /** The block's new content is final (checksum it and log it). */
  dirty(nr: number, node: Uint8Array): void;
  /** A new tree block near `goal`. */
  alloc(goal: number): Promise<number>;
  /** Free a tree block (revoking its journalled copies). */
  free(nr: number): Promise<void>;
}

/** One level of a path: the node (nr 0: the root), and the entry followed (or found) in it. */
interface Level { nr: number; node: Uint8Array; ix: number }

/** An extent tree reached through a TreeIo (see the opening comment). */
export class ExtentTree {
  constructor(readonly io: TreeIo) {}

  get depth(): number { return nDepth(this.io.root); }

  private async node(nr: number, depth: number): Promise<Uint8Array> {
    const r = this.io.read(nr);
    const b = isPromise(r) ? await r : r;
    if (u16(b, 0) !== EXT4_EXT_MAGIC || nDepth(b) !== depth || nEntries(b) > nMax(b) || nMax(b) > this.io.blockMax) {
      fail(EUCLEAN, `ext4: extent block ${nr}: bad header (depth ${nDepth(b)}, want ${depth})`);
    }
    return b;
  }

  /** ext4_find_extent: the path from the root to the leaf whose range holds `lblk`. */
  async find(lblk: number): Promise<Level[]> {
    const path: Level[] = [];
    let node = this.io.root, nr = 0;
    const depth = nDepth(node);
    if (u16(node, 0) !== EXT4_EXT_MAGIC || depth > EXT4_MAX_EXTENT_DEPTH) fail(EUCLEAN, 'ext4: bad extent tree root');
    for (let d = depth; d > 0; d--) {
      const ix = Math.max(0, search(node, lblk));
      if (nEntries(node) === 0) fail(EUCLEAN, 'ext4: empty extent index node');
      path.push({ nr, node, ix });
      nr = childAt(node, ix);
      node = await this.node(nr, d - 1);
    }
    path.push({ nr, node, ix: search(node, lblk) });
    return path;
  }

  /** Move `path` to the next leaf (false at the last one). */
  async nextLeaf(path: Level[]): Promise<boolean> {
    const leaf = path.length - 1;
    for (let l = leaf - 1; l >= 0; l--) {
      const lv = path[l]!;
      if (lv.ix + 1 >= nEntries(lv.node)) continue;
      lv.ix++;
      for (let d = l; d < leaf; d++) {
        const nr = childAt(path[d]!.node, path[d]!.ix);
        path[d + 1] = { nr, node: await this.node(nr, leaf - d - 1), ix: 0 };
      }
      return true;
    }
    return false;
  }

  /**
   * The extents from the one at or before `from - 1` (the left neighbour of an edit starting at
   * `from`) through the first one starting at or after `to` (all of them by default), in order.
   */
  async load(from = 0, to = Infinity): Promise<Extent[]> {
    const out: Extent[] = [];
    const path = await this.find(Math.max(0, from - 1));
    let i = Math.max(0, path[path.length - 1]!.ix);
    for (;;) {
      const leaf = path[path.length - 1]!.node;
      for (const n = nEntries(leaf); i < n; i++) {
        const e = extentAt(leaf, i);
        out.push(e);
        if (e.lblk >= to) return out;
      }
      if (!(await this.nextLeaf(path))) return out;
      i = 0;
    }
  }

  /** How many blocks the tree uses (index and leaf nodes); reads the index nodes only. */
  async countBlocks(): Promise<number> {
    const count = async (node: Uint8Array, depth: number): Promise<number> => {
      const n = nEntries(node);
      if (depth <= 1) return depth === 1 ? n : 0;
      let sum = n;
      for (let i = 0; i < n; i++) sum += await count(await this.node(childAt(node, i), depth - 1), depth - 1);
      return sum;
    };
    return count(this.io.root, this.depth);
  }

  /** Every tree block (index and leaf nodes), for checks. */
  async blocks(): Promise<number[]> {
    const out: number[] = [];
    const walk = async (node: Uint8Array, depth: number): Promise<void> => {
      if (depth === 0) return;
      for (let i = 0; i < nEntries(node); i++) {
        const nr = childAt(node, i);
        out.push(nr);
        await walk(await this.node(nr, depth - 1), depth - 1);
      }
    };
    await walk(this.io.root, this.depth);
    return out;
  }

  /** The node at path[l], ready to change (path[l].node becomes the handle's copy). */
  private async mut(path: Level[], l: number): Promise<Uint8Array> {
    const lv = path[l]!;
    if (lv.nr === 0) return lv.node;
    lv.node = await this.io.write(lv.nr, false);
    return lv.node;
  }

  private done(path: Level[], l: number): void {
    const lv = path[l]!;
    if (lv.nr !== 0) this.io.dirty(lv.nr, lv.node);
  }

  /** ext4_ext_correct_indexes: path[l]'s first key changed; carry it up while it is a first entry. */
  private async fixKeys(path: Level[], l: number): Promise<void> {
    const k = keyAt(path[l]!.node, 0);
    for (let p = l - 1; p >= 0; p--) {
      const lv = path[p]!;
      if (keyAt(lv.node, lv.ix) === k) return;
      const node = await this.mut(path, p);
      p32(node, HDR + ES * lv.ix, k);
      this.done(path, p);
      if (lv.ix !== 0) return;
    }
  }

  /** ext4_ext_grow_indepth: the root's entries move into a new block; the root indexes it. */
  private async grow(path: Level[]): Promise<void> {
    const root = this.io.root;
    const depth = nDepth(root), n = nEntries(root);
    if (depth >= EXT4_MAX_EXTENT_DEPTH) fail(EFBIG, 'ext4: extent tree too deep');
    const goal = n ? (depth ? childAt(root, 0) : extentAt(root, 0).pblk) : 0;
    const nb = await this.io.alloc(goal);
    const nn = await this.io.write(nb, true);
    nn.fill(0);
    putHeader(nn, n, this.io.blockMax, depth);
    nn.set(root.subarray(HDR, HDR + ES * n), HDR);
    this.io.dirty(nb, nn);
    const k = n ? keyAt(root, 0) : 0;
    root.fill(0, HDR);
    putHeader(root, 1, ROOT_MAX, depth + 1);
    root.set(indexBytes(k, nb), HDR);
    path.splice(1, 0, { nr: nb, node: nn, ix: path[0]!.ix });
    path[0]!.ix = 0;
  }

  /** Put the 12-byte entry `ent` at position `pos` of path[l]'s node, splitting as needed. */
  private async insertAt(path: Level[], l: number, pos: number, ent: Uint8Array): Promise<void> {
    const n = nEntries(path[l]!.node);
    if (n < nMax(path[l]!.node)) {
      const node = await this.mut(path, l);
      node.copyWithin(HDR + ES * (pos + 1), HDR + ES * pos, HDR + ES * n);
      node.set(ent, HDR + ES * pos);
      p16(node, 2, n + 1);
      this.done(path, l);
      if (pos === 0 && l > 0) await this.fixKeys(path, l);
      return;
    }
    if (l === 0) {
      await this.grow(path);
      await this.insertAt(path, 1, pos, ent);
      return;
    }
    // ext4_ext_split, one level: allocate first, so ENOSPC leaves the tree as it was.
    const nb = await this.io.alloc(path[l]!.nr);
    const nn = await this.io.write(nb, true);
    const node = await this.mut(path, l);
    nn.fill(0);
    putHeader(nn, 0, this.io.blockMax, nDepth(node));
    // Appending starts an empty right sibling (leaves fill up); otherwise the upper half moves.
    const s = pos === n ? n : n >> 1;
    nn.set(node.subarray(HDR + ES * s, HDR + ES * n), HDR);
    p16(nn, 2, n - s);
    node.fill(0, HDR + ES * s, HDR + ES * n);
    p16(node, 2, s);
    const into = pos <= s && pos !== n ? node : nn;
    const at = into === node ? pos : pos - s;
    const m = nEntries(into);
    into.copyWithin(HDR + ES * (at + 1), HDR + ES * at, HDR + ES * m);
    into.set(ent, HDR + ES * at);
    p16(into, 2, m + 1);
    this.io.dirty(nb, nn);
    this.done(path, l);
    if (into === node && at === 0) await this.fixKeys(path, l);
    await this.insertAt(path, l - 1, path[l - 1]!.ix + 1, indexBytes(keyAt(nn, 0), nb));
  }

  /** Remove `cnt` entries from position `pos` of path[l]'s node; free it if left empty. */
  private async removeAt(path: Level[], l: number, pos: number, cnt: number): Promise<void> {
    const n = nEntries(path[l]!.node);
    if (l > 0 && n === cnt) {
      await this.io.free(path[l]!.nr);
      await this.removeAt(path, l - 1, path[l - 1]!.ix, 1);
      return;
    }
    const node = await this.mut(path, l);
    node.copyWithin(HDR + ES * pos, HDR + ES * (pos + cnt), HDR + ES * n);
    node.fill(0, HDR + ES * (n - cnt), HDR + ES * n);
    p16(node, 2, n - cnt);
    // An empty root is an empty tree, whatever its depth was.
    if (l === 0 && n === cnt) putHeader(node, 0, ROOT_MAX, 0);
    this.done(path, l);
    if (pos === 0 && l > 0 && n > cnt) await this.fixKeys(path, l);
  }

  /** Depth shrinks while the root has one child whose entries fit in the root. */
  async shrink(): Promise<void> {
    const root = this.io.root;
    for (;;) {
      const d = nDepth(root);
      if (d === 0 || nEntries(root) !== 1) return;
      const nr = childAt(root, 0);
      const child = await this.node(nr, d - 1);
      const n = nEntries(child);
      if (n > ROOT_MAX) return;
      const ents = child.slice(HDR, HDR + ES * n);
      root.fill(0, HDR);
      putHeader(root, n, ROOT_MAX, d - 1);
      root.set(ents, HDR);
      await this.io.free(nr);
    }
  }

  /** Add extent `e` (its range unmapped in the tree). No merging: that is the list's business. */
  async insert(e: Extent): Promise<void> {
    const path = await this.find(e.lblk);
    const leaf = path.length - 1;
    await this.insertAt(path, leaf, path[leaf]!.ix + 1, extentBytes(e));
  }

  /** Rewrite the extent starting at `e.lblk` (same first block) in place. */
  async replace(e: Extent): Promise<void> {
    const path = await this.find(e.lblk);
    const leaf = path.length - 1, ix = path[leaf]!.ix;
    if (ix < 0 || keyAt(path[leaf]!.node, ix) !== e.lblk) fail(EUCLEAN, `ext4: no extent at ${e.lblk} to change`);
    const node = await this.mut(path, leaf);
    node.set(extentBytes(e), HDR + ES * ix);
    this.done(path, leaf);
  }

  /** Remove the extents starting at the given blocks (sorted ascending). */
  async remove(starts: number[]): Promise<void> {
    for (let i = starts.length - 1; i >= 0;) {
      const path = await this.find(starts[i]!);
      const leaf = path.length - 1, node = path[leaf]!.node, ix = path[leaf]!.ix;
      if (ix < 0 || keyAt(node, ix) !== starts[i]) fail(EUCLEAN, `ext4: no extent at ${starts[i]} to remove`);
      // Neighbours in the same leaf go in one step.
      let first = ix;
      i--;
      while (i >= 0 && first > 0 && keyAt(node, first - 1) === starts[i]) { first--; i--; }
      await this.removeAt(path, leaf, first, ix - first + 1);
    }
  }

  /**
   * Make the tree's extents `old` (as loaded) become `cur`: extents whose first block is in
   * both are changed in place, new ones inserted, vanished ones removed; then the depth shrinks
   * if it can. `cur` must be sorted and non-overlapping.
   */
  async apply(old: Extent[], cur: Extent[]): Promise<void> {
    for (let i = 0; i < cur.length; i++) {
      const e = cur[i]!;
      const max = e.unwritten ? EXT_UNWRITTEN_MAX_LEN : EXT_INIT_MAX_LEN;
      if (e.len < 1 || e.len > max || (i > 0 && cur[i - 1]!.lblk + cur[i - 1]!.len > e.lblk)) {
        fail(EUCLEAN, `ext4: bad extent list at ${e.lblk}+${e.len}`);
      }
    }
    const before = new Map<number, Extent>();
    for (const e of old) before.set(e.lblk, e);
    const now = new Set<number>();
    const added: Extent[] = [];
    let changed = false;
    for (const e of cur) {
      now.add(e.lblk);
      const o = before.get(e.lblk);
      if (!o) { added.push(e); continue; }
      if (o.len !== e.len || o.pblk !== e.pblk || o.unwritten !== e.unwritten) { await this.replace(e); changed = true; }
    }
    // Inserting before removing keeps a leaf that is emptied and refilled from being freed.
    for (const e of added) await this.insert(e);
    const gone = old.filter((e) => !now.has(e.lblk)).map((e) => e.lblk);
    if (gone.length) await this.remove(gone);
    if (changed || added.length || gone.length) await this.shrink();
  }
}

/* ---- ext4 wiring ----------------------------------------------------------------------------- */

/** Extents per non-root node. */
export function leafMax(inode: Ext4Inode): number { return Math.floor((inode.sbi.blockSize - HDR) / ES); }

/** Most extents a tree of the deepest depth Linux accepts could hold (no practical cap). */
export function treeMax(inode: Ext4Inode): number { return ROOT_MAX * leafMax(inode) ** EXT4_MAX_EXTENT_DEPTH; }

/** The current depth of an extent-mapped inode's tree. */
export function extentDepth(inode: Ext4Inode): number { return nDepth(inode.iBlock); }

/**
 * Journal credits for inserting one extent at the current depth d, worst case: every node on the
 * path splits (2d tree blocks) and the root grows (1 block), each of those d + 1 new blocks
 * allocated in a group of its own (ALLOC_CREDITS each). The inode block is not included.
 */
export function extentInsertCredits(inode: Ext4Inode): number {
  const d = extentDepth(inode);
  return 2 * d + 1 + (d + 1) * ALLOC_CREDITS;
}

/**
 * Removing one extent, worst case: its leaf and every index above are changed or freed (d blocks,
 * d revokes), each freed block in a group of its own (ALLOC_CREDITS each).
 */
export function extentRemoveCredits(inode: Ext4Inode): { credits: number; revokes: number } {
  const d = extentDepth(inode);
  return { credits: d * (1 + ALLOC_CREDITS), revokes: d };
}

/**
 * Blocks the inode's extent tree uses (index and leaf nodes): a bound on the revokes a truncation
 * of the whole tree needs in one handle.
 */
export async function extentTreeBlocks(inode: Ext4Inode): Promise<number> {
  if (u16(inode.iBlock, 0) !== EXT4_EXT_MAGIC) return 0;
  return new ExtentTree(ext4TreeIo(inode, null)).countBlocks();
}

/** A TreeIo over `inode`'s tree inside handle `h` (without a handle: read only). */
export function ext4TreeIo(inode: Ext4Inode, h: Ext4Handle | null): TreeIo {
  const sbi = inode.sbi;
  const spb = sbi.blockSize >> 9;
  const max = leafMax(inode);
  const noHandle = (): never => { throw new Error('ext4: extent tree change without a handle'); };
  return {
    blockMax: max,
    root: inode.iBlock,
    // Blocks this handle changed are newer than the cache (no journal: private copies).
    read: (nr) => h?.blocks.get(nr) ?? sbi.bread(nr),
    write: (nr, fresh) => (h ? h.getBlock(nr, fresh) : noHandle()),
    dirty: (nr, node) => {
      if (!h) noHandle();
      if (sbi.hasMetadataCsum) p32(node, extentTailOffset(nMax(node)), extentBlockCsum(inode, node, nMax(node)));
      h!.dirty(nr);
    },
    alloc: async (goal) => {
      if (!h) noHandle();
      const { pblk } = await allocBlocks(h!, goal, 1);
      inode.blocks += spb;
      return pblk;
    },
    free: async (nr) => {
      if (!h) noHandle();
      h!.forget(nr);
      await freeBlocks(h!, nr, 1);
      inode.blocks -= spb;
    },
  };
}

/** What loadExtents saw, for storeExtents to compare with. */
export interface ExtentSnapshot { readonly old: Extent[] }

/**
 * The inode's extents in order: all of them, or (with a range) those from the one at or before
 * `from - 1` through the first one at or after `to`, which is all an edit of [from, to) can touch
 * (merging included).
 */
export async function loadExtents(inode: Ext4Inode, from = 0, to = Infinity): Promise<{ list: Extent[]; leaves: ExtentSnapshot }> {
  if (u16(inode.iBlock, 0) !== EXT4_EXT_MAGIC) fail(EOPNOTSUPP);
  const list = await new ExtentTree(ext4TreeIo(inode, null)).load(from, to);
  return { list, leaves: { old: list.map((e) => ({ ...e })) } };
}

/**
 * Make the tree hold `list` where it held what loadExtents returned (see the opening comment).
 * Changes i_block[] and i_blocks in memory; the caller writes the inode.
 */
export async function storeExtents(h: Ext4Handle, inode: Ext4Inode, list: Extent[], leaves: ExtentSnapshot): Promise<void> {
  try {
    await new ExtentTree(ext4TreeIo(inode, h)).apply(leaves.old, list);
  } finally {
    inode.extentCache = null;
  }
  // What is on disk now is the base of a further store with the same list.
  (leaves as { old: Extent[] }).old = list.map((e) => ({ ...e }));
}

/* ---- list editing ------------------------------------------------------------------------------ */

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
