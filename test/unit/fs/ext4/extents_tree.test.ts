/*
 * The path-based extent tree (src/fs/ext4/extents_write.ts ExtentTree) over an in-memory block
 * store whose nodes hold 4 or 5 entries, so trees reach depth 4-5 with a few hundred extents. Random
 * edits (writes into holes, state changes, punches, truncations; through whole-file and
 * windowed loads) are checked after every step against a block-by-block model of the mapping,
 * and against the invariants ext4_ext_check and e2fsck enforce, checked independently here on
 * the raw bytes: magic, depth, 0 < entries <= max below the root, sorted non-overlapping
 * entries, every index key equal to its child's first key, every extent inside its index's
 * range. The store also checks the journalling discipline: a block changed without dirty(), or a
 * block leaked or freed twice, fails the test; each single insertion dirties at most 2d + 1
 * tree blocks (the bound extentInsertCredits() states).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExtentTree, type TreeIo, type Extent, insertExtent, setExtentState, removeExtentRange, cutExtents,
  insertUnwritten,
} from '../../../../src/fs/ext4/extents_write.js';

const MAGIC = 0xf30a;
const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** A block store with handle semantics: write() copies, dirty() marks, commit() checks and publishes. */
class FakeIo implements TreeIo {
  readonly root = new Uint8Array(60);
  disk = new Map<number, Uint8Array>();
  copies = new Map<number, Uint8Array>();
  dirtied = new Set<number>();
  allocated = new Set<number>();
  next = 1000;
  allocs = 0;
  constructor(readonly blockMax: number) {
    this.root.set([0x0a, 0xf3, 0, 0, 4, 0, 0, 0]);
  }
  read(nr: number): Uint8Array {
    const b = this.copies.get(nr) ?? this.disk.get(nr);
    if (!b) throw new Error(`read of unallocated block ${nr}`);
    return b;
  }
  async write(nr: number, fresh: boolean): Promise<Uint8Array> {
    if (!this.allocated.has(nr)) throw new Error(`write of unallocated block ${nr}`);
    let b = this.copies.get(nr);
    if (!b) {
      b = fresh ? new Uint8Array(12 + 12 * this.blockMax) : this.disk.get(nr)!.slice();
      this.copies.set(nr, b);
    }
    return b;
  }
  dirty(nr: number, node: Uint8Array): void {
    if (this.copies.get(nr) !== node) throw new Error(`dirty(${nr}) of a buffer that is not its copy`);
    this.dirtied.add(nr);
  }
  async alloc(goal: number): Promise<number> {
    void goal;
    const nr = this.next++;
    this.allocated.add(nr);
    this.allocs++;
    return nr;
  }
  async free(nr: number): Promise<void> {
    if (!this.allocated.delete(nr)) throw new Error(`free of unallocated block ${nr}`);
    this.copies.delete(nr);
    this.disk.delete(nr);
    this.dirtied.delete(nr);
  }
  /** End of a handle: every changed copy must have been dirtied. Returns blocks dirtied. */
  commit(): number {
    for (const [nr, b] of this.copies) {
      const old = this.disk.get(nr);
      const same = old && old.length === b.length && old.every((v, i) => v === b[i]);
      if (!same && !this.dirtied.has(nr)) throw new Error(`block ${nr} changed without dirty()`);
      this.disk.set(nr, b.slice());
    }
    const n = this.dirtied.size;
    this.copies.clear();
    this.dirtied.clear();
    this.allocs = 0;
    return n;
  }
}

/** Independent check of the on-"disk" tree; returns its extents and the blocks it uses. */
function checkTree(io: FakeIo): { list: Extent[]; blocks: number[]; depth: number } {
  const list: Extent[] = [];
  const blocks: number[] = [];
  const root = io.root;
  assert.equal(u16(root, 0), MAGIC, 'root magic');
  const depth = u16(root, 6);
  assert.ok(depth <= 5, `depth: got ${depth}, want <= 5`);
  assert.equal(u16(root, 4), 4, 'root eh_max');
  const walk = (node: Uint8Array, d: number, lo: number, hi: number, isRoot: boolean): void => {
    const n = u16(node, 2);
    assert.equal(u16(node, 0), MAGIC, 'magic');
    assert.equal(u16(node, 6), d, `node depth: got ${u16(node, 6)}, want ${d}`);
    assert.ok(n <= u16(node, 4), `entries ${n} > max ${u16(node, 4)}`);
    if (!isRoot) {
      assert.equal(u16(node, 4), io.blockMax, 'eh_max of a block');
      assert.ok(n > 0, 'empty non-root node');
      assert.equal(u32(node, 12), lo, `first key: got ${u32(node, 12)}, want the parent's key ${lo}`);
    }
    let prevEnd = -1;
    for (let i = 0; i < n; i++) {
      const o = 12 + 12 * i;
      const k = u32(node, o);
      assert.ok(k >= lo && k < hi, `key ${k} outside its index range [${lo}, ${hi})`);
      if (d === 0) {
        const raw = u16(node, o + 4);
        const e = { lblk: k, len: raw <= 32768 ? raw : raw - 32768, pblk: u32(node, o + 8) + u16(node, o + 6) * 2 ** 32, unwritten: raw > 32768 };
        assert.ok(e.len > 0 && e.lblk >= prevEnd, `extent ${e.lblk}+${e.len} overlaps or is empty`);
        assert.ok(e.lblk + e.len <= hi, `extent ${e.lblk}+${e.len} runs past its index range end ${hi}`);
        prevEnd = e.lblk + e.len;
        list.push(e);
      } else {
        assert.ok(k > prevEnd, 'index keys not increasing');
        prevEnd = k;
        const child = u32(node, o + 4) + u16(node, o + 8) * 2 ** 32;
        blocks.push(child);
        const next = i + 1 < n ? u32(node, o + 12) : hi;
        const b = io.disk.get(child);
        assert.ok(b, `index points at unallocated block ${child}`);
        walk(b, d - 1, k, next, false);
      }
    }
  };
  walk(root, depth, 0, 2 ** 32, true);
  const used = new Set(blocks);
  assert.equal(used.size, blocks.length, 'a block used twice in the tree');
  assert.deepEqual([...io.allocated].sort((a, b) => a - b), [...used].sort((a, b) => a - b), 'allocated blocks (got) vs tree blocks (want): leak or loss');
  return { list, blocks, depth };
}

/** lblk -> "pblk:u|w" for every mapped block. */
function expand(list: Extent[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const e of list) for (let i = 0; i < e.len; i++) m.set(e.lblk + i, `${e.pblk + i}:${e.unwritten ? 'u' : 'w'}`);
  return m;
}

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
}

type Edit = (list: Extent[]) => void;

/** One handle: load (whole or window), edit, apply, commit; returns blocks dirtied. */
async function step(io: FakeIo, model: Extent[], edit: Edit, window: [number, number] | null): Promise<number> {
  const tree = new ExtentTree(io);
  const list = window ? await tree.load(window[0], window[1]) : await tree.load();
  const old = list.map((e) => ({ ...e }));
  edit(list);
  edit(model);
  await tree.apply(old, list);
  return io.commit();
}

test('random edits keep a valid tree equal to the model, growing to depth >= 4 and back to 0', async (t) => {
  // Nodes of 5 below a root of 4: as with real blocks, a root that grows leaves room in its new child.
  const io = new FakeIo(5);
  const r = rng(12345);
  const SPACE = 3000;
  const model: Extent[] = [];
  let maxDepth = 0;
  let nextP = 100_000;
  for (let iter = 0; iter < 1300; iter++) {
    const kind = iter < 700 ? 0 : r(10);
    const a = r(SPACE), len = 1 + r(iter < 700 ? 2 : 40);
    const win: [number, number] | null = r(3) === 0 ? null : [a, a + len];
    let edit: Edit;
    let single = false;
    if (kind <= 4) {
      // A write into the first hole at or after a: one new extent (merges when contiguous).
      const mapped = expand(model);
      let l = a;
      while (mapped.has(l)) l++;
      let n = 0;
      while (n < len && !mapped.has(l + n)) n++;
      const contiguous = r(2) === 0;
      const pblk = contiguous ? 100_000_000 + l : (nextP += 100);
      const unw = r(4) === 0;
      edit = unw ? (list) => insertUnwritten(list, l, pblk, n) : (list) => insertExtent(list, l, pblk, n);
      if (win) { win[0] = l; win[1] = l + n; }
      single = true;
    } else if (kind <= 6) {
      const unw = r(2) === 0;
      edit = (list) => setExtentState(list, a, a + len, unw);
    } else if (kind <= 8) {
      edit = (list) => { removeExtentRange(list, a, a + len); };
    } else {
      const from = SPACE - r(200);
      if (win) { win[0] = from; win[1] = Infinity; }
      edit = (list) => { cutExtents(list, from); };
    }
    const depthBefore = new ExtentTree(io).depth;
    const dirtied = await step(io, model, edit, win);
    const got = checkTree(io);
    maxDepth = Math.max(maxDepth, got.depth);
    if (iter % 50 === 0) assert.equal(await new ExtentTree(io).countBlocks(), got.blocks.length, 'countBlocks()');
    if (single) assert.ok(dirtied <= 2 * depthBefore + 1, `insert at depth ${depthBefore} dirtied ${dirtied} blocks, want <= ${2 * depthBefore + 1}`);
    const want = expand(model), have = expand(got.list);
    assert.equal(have.size, want.size, `iteration ${iter}: mapped blocks: got ${have.size}, want ${want.size}`);
    for (const [l, v] of want) assert.equal(have.get(l), v, `iteration ${iter}: block ${l}: got ${have.get(l)}, want ${v}`);
  }
  t.diagnostic(`deepest tree: ${maxDepth}`);
  assert.ok(maxDepth >= 4, `deepest tree: got ${maxDepth}, want >= 4`);
  // Everything goes: the tree is an empty depth-0 root again and no block is left allocated.
  await step(io, model, (list) => { cutExtents(list, 0); }, null);
  const end = checkTree(io);
  assert.equal(end.depth, 0, `depth after removing everything: got ${end.depth}, want 0`);
  assert.equal(end.list.length, 0);
  assert.equal(io.allocated.size, 0, `tree blocks left: got ${io.allocated.size}, want 0`);
});

test('appending fills leaves (split at the end) and the tree shrinks when entries fit the root', async () => {
  const io = new FakeIo(4);
  const model: Extent[] = [];
  // 64 one-block extents with gaps: full leaves of 4, so 16 leaves, 4 index nodes, depth 2.
  for (let i = 0; i < 64; i++) await step(io, model, (list) => insertExtent(list, 10 + 2 * i, 5000 + 3 * i, 1), [10 + 2 * i, 11 + 2 * i]);
  let t = checkTree(io);
  assert.equal(t.depth, 2, `depth after 64 appends: got ${t.depth}, want 2`);
  assert.equal(t.blocks.length, 16 + 4, `tree blocks: got ${t.blocks.length}, want 20 (all nodes full)`);
  // Prepending before everything splits the first leaf and moves every first key on the left edge.
  await step(io, model, (list) => insertExtent(list, 0, 1, 1), [0, 1]);
  checkTree(io);
  // Cut down to two leaves ([0, 10, 12] and [14]): depth 1.
  await step(io, model, (list) => { cutExtents(list, 15); }, [15, Infinity]);
  t = checkTree(io);
  assert.equal(t.depth, 1, `depth with two leaves left: got ${t.depth}, want 1`);
  // One leaf of two extents left: they go back into the root.
  await step(io, model, (list) => { cutExtents(list, 11); }, [11, Infinity]);
  t = checkTree(io);
  assert.equal(t.depth, 0, `depth with 2 extents left: got ${t.depth}, want 0`);
  assert.deepEqual(t.list.map((e) => e.lblk), [0, 10]);
  assert.equal(io.allocated.size, 0);
});

test('a windowed load returns the extents around the range and nothing else', async () => {
  const io = new FakeIo(4);
  const model: Extent[] = [];
  for (let i = 0; i < 40; i++) await step(io, model, (list) => insertExtent(list, 10 * i, 7000 + 20 * i, 2), [10 * i, 10 * i + 2]);
  const tree = new ExtentTree(io);
  assert.deepEqual((await tree.load(55, 75)).map((e) => e.lblk), [50, 60, 70, 80]);
  assert.deepEqual((await tree.load(60, 70)).map((e) => e.lblk), [50, 60, 70]);
  assert.deepEqual((await tree.load(61, 70)).map((e) => e.lblk), [60, 70]);
  assert.deepEqual((await tree.load(0, 1)).map((e) => e.lblk), [0, 10]);
  assert.deepEqual((await tree.load(395, Infinity)).map((e) => e.lblk), [390]);
});
