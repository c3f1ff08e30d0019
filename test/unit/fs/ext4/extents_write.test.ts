/*
 * The pure parts of extent-tree editing (src/fs/ext4/extents_write.ts): inserting a mapping
 * merges with a logically and physically adjacent neighbour (never past 32768 blocks, never into
 * an unwritten extent), and cutting at a logical block splits the straddling extent and returns
 * exactly the physical runs to free.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insertExtent, cutExtents, type Extent } from '../../../../src/fs/ext4/extents_write.js';

const e = (lblk: number, len: number, pblk: number, unwritten = false): Extent => ({ lblk, len, pblk, unwritten });

test('insertExtent appends, merges with the previous and bridges to the next', () => {
  const l: Extent[] = [];
  insertExtent(l, 0, 100, 4);
  insertExtent(l, 4, 104, 4);
  assert.deepEqual(l, [e(0, 8, 100)], 'physically contiguous append: got a second extent, want one merged');
  insertExtent(l, 20, 120, 2);
  insertExtent(l, 8, 108, 12);
  assert.deepEqual(l, [e(0, 22, 100)], 'filling the gap: got separate extents, want one');
});

test('insertExtent keeps separate what is not adjacent on disk or too long', () => {
  const l: Extent[] = [e(0, 4, 100)];
  insertExtent(l, 4, 500, 4);
  assert.deepEqual(l, [e(0, 4, 100), e(4, 4, 500)]);
  const big: Extent[] = [e(0, 32768, 1000)];
  insertExtent(big, 32768, 1000 + 32768, 1);
  assert.equal(big.length, 2, `merge past EXT_INIT_MAX_LEN: got ${big.length} extent(s), want 2`);
  const unw: Extent[] = [e(0, 4, 100, true)];
  insertExtent(unw, 4, 104, 4);
  assert.equal(unw.length, 2, 'merge into an unwritten extent: got merged, want separate');
  const before: Extent[] = [e(10, 4, 210)];
  insertExtent(before, 6, 206, 4);
  assert.deepEqual(before, [e(6, 8, 206)], 'prepend: got separate, want merged into the next');
});

test('cutExtents splits the straddling extent and frees exactly the rest', () => {
  const l: Extent[] = [e(0, 10, 100), e(10, 5, 300), e(20, 5, 400)];
  const freed = cutExtents(l, 12);
  assert.deepEqual(l, [e(0, 10, 100), e(10, 2, 300)]);
  assert.deepEqual(freed.sort((a, b) => a.pblk - b.pblk), [{ pblk: 302, len: 3 }, { pblk: 400, len: 5 }]);
  const all = [e(0, 3, 7)];
  assert.deepEqual(cutExtents(all, 0), [{ pblk: 7, len: 3 }]);
  assert.equal(all.length, 0, 'cut at 0: got extents left, want none');
});
