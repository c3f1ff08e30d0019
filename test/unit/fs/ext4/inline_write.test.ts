/*
 * The in-inode parts of inline data (src/fs/ext4/inline_write.ts) on a bare inode: the maximum
 * inline size as Linux computes it (get_max_inline_xattr_value_size), files written, grown and
 * truncated inside i_block and system.data, and inline directories (creation, entries added to
 * i_block then to a grown system.data, lookup, deletion, emptiness, the converted first block).
 * The behaviour against the host kernel is test/ext4_write/inline_data.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ext4Inode } from '../../../../src/fs/ext4/ext4.js';
import {
  maxInlineSize, writeInlineData, truncateInlineData, inlineContent, destroyInlineData, tryCreateInlineDir, tryAddInlineEntry,
  findInlineEntryW, deleteInlineEntry, emptyInlineDir, convertedDirBlock, setMayInlineData,
} from '../../../../src/fs/ext4/inline_write.js';
import { inlineData } from '../../../../src/fs/ext4/inline.js';
import { ext4XattrIbodySet } from '../../../../src/fs/ext4/xattr_write.js';

const EXTENTS_FL = 0x80000, INLINE_FL = 0x10000000;

/** A new inode of `inodeSize` bytes (extra isize 32 unless 128-byte), not through the driver. */
function bareInode(inodeSize: number, mode: number, ino = 12): Ext4Inode {
  const i = Object.create(Ext4Inode.prototype) as Ext4Inode;
  const sbi = { inodeSize, hasExtents: true, hasEaInode: false, blockSize: 4096 };
  Object.assign(i, { sbi, sb: sbi, ino, mode, raw: new Uint8Array(inodeSize), extraIsize: inodeSize > 128 ? 32 : 0, i_flags: EXTENTS_FL, size: 0, blocks: 0 });
  if (inodeSize > 128) i.raw[0x80] = 32;
  setMayInlineData(i, true);
  return i;
}
const file = (n = 256) => bareInode(n, 0o100644);
const dir = (n = 256) => bareInode(n, 0o40755);
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

test('maximum inline size: 60 + the free in-inode attribute space, as Linux computes it', () => {
  const cases: [string, Ext4Inode, number][] = [
    ['256-byte inode', file(256), 128],
    ['512-byte inode', file(512), 384],
    ['1024-byte inode', file(1024), 896],
    ['128-byte inode (no room)', file(128), 0],
  ];
  for (const [name, inode, want] of cases) assert.equal(maxInlineSize(inode), want, `${name}: got ${maxInlineSize(inode)}, want ${want}`);
  // A user attribute in the inode (name "x": 20-byte entry, 12-byte value) leaves less room.
  const f = file();
  ext4XattrIbodySet(f, 1, 'x', new Uint8Array(10));
  assert.equal(maxInlineSize(f), 96, `with user.x in the inode: got ${maxInlineSize(f)}, want 96`);
  // Once system.data exists its own value counts as free for itself.
  writeInlineData(f, bytes(80, 1), 0);
  assert.equal(maxInlineSize(f), 96, `with system.data of 20: got ${maxInlineSize(f)}, want 96`);
});

test('a file goes inline on its first write, grows into system.data, shrinks back', () => {
  const f = file();
  assert.equal(writeInlineData(f, bytes(10, 1), 0), true, 'a 10-byte write: got refused, want inline');
  assert.equal(f.i_flags, INLINE_FL, `flags: got 0x${f.i_flags.toString(16)}, want inline only (extents cleared)`);
  assert.equal(inlineData(f).value.length, 0, 'system.data after 10 bytes: got a value, want empty');
  f.size = 10;
  // A write at 100 leaves a zero gap and extends system.data to exactly the new end.
  assert.equal(writeInlineData(f, bytes(5, 2), 100), true);
  f.size = 105;
  assert.equal(inlineData(f).size, 105, `inline size: got ${inlineData(f).size}, want 105`);
  const c = inlineContent(f);
  assert.deepEqual([...c.subarray(0, 10)], [...bytes(10, 1)], 'first bytes: got others, want the written ones');
  assert.ok(c.subarray(10, 100).every((x) => x === 0), 'the gap: got non-zero bytes, want zeros');
  assert.deepEqual([...c.subarray(100, 105)], [...bytes(5, 2)], 'bytes at 100: got others, want the written ones');
  assert.equal(writeInlineData(f, bytes(1, 3), 128), false, 'a write ending at 129: got inline, want refused (past 128)');
  truncateInlineData(f, 30);
  f.size = 30;
  assert.equal(inlineData(f).size, 60, `inline size after truncating to 30: got ${inlineData(f).size}, want 60`);
  assert.ok(f.iBlock.subarray(30).every((x) => x === 0), 'i_block past 30: got data, want zeros');
  destroyInlineData(f);
  assert.equal(f.i_flags, EXTENTS_FL, `flags after destroy: got 0x${f.i_flags.toString(16)}, want extents only`);
  assert.equal(f.iBlock[0] | (f.iBlock[1]! << 8), 0xf30a, 'i_block after destroy: got no extent header, want an empty tree');
  assert.equal(inlineData(f).value.length, 0, 'system.data after destroy: got a value, want none');
});

test('inline directory: i_block first, then system.data grown to its room, then no room', () => {
  const d = dir();
  assert.equal(tryCreateInlineDir(d, 2), true, 'mkdir: got a block directory, want inline');
  assert.equal(d.size, 60, `new inline directory size: got ${d.size}, want 60`);
  assert.equal(emptyInlineDir(d), true, 'a new inline directory: got not empty, want empty');
  const name = (i: number) => new TextEncoder().encode(`entry-${String(i).padStart(2, '0')}-abcdefg`); // rec_len 28
  for (let i = 0; i < 2; i++) assert.equal(tryAddInlineEntry(d, name(i), 100 + i, 1), true, `entry ${i}: got no room, want i_block`);
  assert.equal(d.size, 60, `two 28-byte entries: got size ${d.size}, want 60 (they fill i_block)`);
  assert.equal(tryAddInlineEntry(d, name(2), 102, 1), true, 'third entry: got no room, want system.data');
  assert.equal(d.size, 128, `after growing into system.data: got size ${d.size}, want 128`);
  assert.equal(tryAddInlineEntry(d, name(3), 103, 1), true);
  assert.equal(tryAddInlineEntry(d, name(4), 104, 1), false, 'fifth entry: got added, want no room (conversion)');
  assert.equal(findInlineEntryW(d, name(3))?.ino, 103, 'lookup of entry 3: got another inode, want 103');
  assert.equal(findInlineEntryW(d, name(4)), null, 'lookup of the refused name: got an entry, want none');
  const block = convertedDirBlock(d, inlineContent(d), 4096, 4096 - 12, 2);
  assert.deepEqual([block[4], block[16], block[20], block[21]], [12, 12, 0x2e, 0x2e], '"." and "..": got other rec_lens/names, want 12, 12, ".."');
  assert.equal(block[12]! | (block[13]! << 8), 2, '".." of the converted block: got another inode, want the parent 2');
  let off = 24, n = 0, last = 0;
  while (off < 4096 - 12) { last = off; if (block[off]) n++; off += block[off + 4]! | (block[off + 5]! << 8); }
  assert.equal(off, 4096 - 12, `entries of the converted block: got them ending at ${off}, want at the tail (4084)`);
  assert.equal(n, 4, `live entries in the converted block: got ${n}, want 4`);
  assert.ok(last > 24, 'the last entry: got the first, want the copied run stretched');
  for (let i = 0; i < 4; i++) assert.equal(deleteInlineEntry(d, name(i)), 100 + i);
  assert.equal(emptyInlineDir(d), true, 'after deleting every entry: got not empty, want empty');
  assert.equal(d.size, 128, `after deleting: got size ${d.size}, want 128 (an inline directory never shrinks)`);
});

test('a 128-byte inode has no room: no inline directory, no inline write', () => {
  const d = dir(128);
  assert.equal(tryCreateInlineDir(d, 2), false, 'mkdir with 128-byte inodes: got inline, want a block directory');
  const f = file(128);
  assert.equal(writeInlineData(f, bytes(1, 1), 0), false, 'a 1-byte write with 128-byte inodes: got inline, want refused');
});
