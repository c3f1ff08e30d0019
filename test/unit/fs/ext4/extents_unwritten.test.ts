/*
 * Extent-list edits behind fallocate and writes into preallocated space
 * (src/fs/ext4/extents_write.ts): splitting at a block, changing the state of a range (and
 * merging back what continues on disk), taking a range out, adding unwritten extents. Lengths
 * respect the on-disk limits: 32768 blocks initialised, 32767 unwritten.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  splitExtentAt, setExtentState, removeExtentRange, insertUnwritten, mergeExtents, EXT_UNWRITTEN_MAX_LEN, type Extent,
} from '../../../../src/fs/ext4/extents_write.js';

const e = (lblk: number, len: number, pblk: number, unwritten = false): Extent => ({ lblk, len, pblk, unwritten });

test('a write into the middle of an unwritten extent leaves three, and merges back when filled', () => {
  const l = [e(0, 100, 1000, true)];
  setExtentState(l, 10, 20, false);
  assert.deepEqual(l, [e(0, 10, 1000, true), e(10, 10, 1010), e(20, 80, 1020, true)], 'middle conversion');
  setExtentState(l, 0, 10, false);
  assert.deepEqual(l, [e(0, 20, 1000), e(20, 80, 1020, true)], 'head conversion merges with the written part');
  setExtentState(l, 20, 100, false);
  assert.deepEqual(l, [e(0, 100, 1000)], 'all written: got several extents, want one');
});

test('splitting outside an extent or at its edges changes nothing', () => {
  const l = [e(10, 10, 500)];
  splitExtentAt(l, 5); splitExtentAt(l, 10); splitExtentAt(l, 20); splitExtentAt(l, 30);
  assert.deepEqual(l, [e(10, 10, 500)]);
  splitExtentAt(l, 15);
  assert.deepEqual(l, [e(10, 5, 500), e(15, 5, 505)]);
});

test('a full-length initialised extent becomes two unwritten ones (32767 is the unwritten limit)', () => {
  const l = [e(0, 32768, 5000)];
  setExtentState(l, 0, 32768, true);
  assert.deepEqual(l, [e(0, EXT_UNWRITTEN_MAX_LEN, 5000, true), e(EXT_UNWRITTEN_MAX_LEN, 1, 5000 + EXT_UNWRITTEN_MAX_LEN, true)]);
});

test('removing a range returns exactly the physical runs inside it', () => {
  const l = [e(0, 10, 100), e(10, 10, 300, true), e(30, 5, 400)];
  const freed = removeExtentRange(l, 5, 32);
  assert.deepEqual(l, [e(0, 5, 100), e(32, 3, 402)], 'what stays');
  assert.deepEqual(freed.map((r) => [r.pblk, r.len]).sort((a, b) => a[0]! - b[0]!), [[105, 5], [300, 10], [400, 2]], 'what is freed');
});

test('unwritten extents join only unwritten neighbours that continue on disk', () => {
  const l = [e(0, 4, 100)];
  insertUnwritten(l, 4, 104, 4);
  assert.equal(l.length, 2, `unwritten after written: got ${l.length} extent(s), want 2`);
  insertUnwritten(l, 8, 108, 4);
  assert.deepEqual(l, [e(0, 4, 100), e(4, 8, 104, true)]);
  const m = [e(0, EXT_UNWRITTEN_MAX_LEN, 0, true), e(EXT_UNWRITTEN_MAX_LEN, 1, EXT_UNWRITTEN_MAX_LEN, true)];
  mergeExtents(m);
  assert.equal(m.length, 2, `unwritten merge past 32767: got ${m.length} extent(s), want 2`);
});
