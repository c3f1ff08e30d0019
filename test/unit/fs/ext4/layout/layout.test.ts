/*
 * Size and offset tests for the on-disk structs: each view must span exactly Linux's struct
 * size and put the last field where Linux does (a misplaced field shifts everything after it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Ext4SuperBlockView, EXT4_SUPER_BLOCK_SIZE, EXT4_S_CHECKSUM_OFFSET, Ext4GroupDescView,
  EXT4_GROUP_DESC_SIZE_32, EXT4_GROUP_DESC_SIZE_64, EXT4_BG_CHECKSUM_OFFSET, Ext4InodeView,
  EXT4_INODE_SIZE_FULL, I_PROJID, I_BLOCK, I_BLOCK_SIZE, Ext4ExtentHeaderView, Ext4ExtentView,
  Ext4ExtentIdxView, Ext4ExtentTailView, extentTailOffset, EXT4_EXTENT_HEADER_SIZE, EXT4_EXTENT_SIZE,
  EXT4_EXTENT_IDX_SIZE, EXT4_EXTENT_TAIL_SIZE, EXT4_GOOD_OLD_INODE_SIZE, EXT4_FEATURE_INCOMPAT_64BIT,
} from '../../../../../src/fs/ext4/layout/index.js';

function setLE(b: Uint8Array, off: number, size: number, v: number): void {
  const d = new DataView(b.buffer, b.byteOffset);
  if (size === 1) d.setUint8(off, v);
  else if (size === 2) d.setUint16(off, v, true);
  else if (size === 4) d.setUint32(off, v, true);
}

const sizes: [string, number, number][] = [
  ['ext4_super_block', EXT4_SUPER_BLOCK_SIZE, 1024],
  ['ext4_super_block.s_checksum end', EXT4_S_CHECKSUM_OFFSET + 4, 1024],
  ['ext4_group_desc (32)', EXT4_GROUP_DESC_SIZE_32, 32],
  ['ext4_group_desc (64)', EXT4_GROUP_DESC_SIZE_64, 64],
  ['ext4_group_desc.bg_checksum end', EXT4_BG_CHECKSUM_OFFSET + 2, 32],
  ['ext4_inode good old', EXT4_GOOD_OLD_INODE_SIZE, 128],
  ['ext4_inode full', EXT4_INODE_SIZE_FULL, 160],
  ['ext4_inode.i_projid end', I_PROJID + 4, 160],
  ['ext4_inode.i_block end', I_BLOCK + I_BLOCK_SIZE, 0x64],
  ['ext4_extent_header', EXT4_EXTENT_HEADER_SIZE, 12],
  ['ext4_extent', EXT4_EXTENT_SIZE, 12],
  ['ext4_extent_idx', EXT4_EXTENT_IDX_SIZE, 12],
  ['ext4_extent_tail', EXT4_EXTENT_TAIL_SIZE, 4],
  ['inode root: 4 extents after the header fill i_block', EXT4_EXTENT_HEADER_SIZE + 4 * EXT4_EXTENT_SIZE, I_BLOCK_SIZE],
  ['tail offset of a 4k leaf (340 entries)', extentTailOffset(340), 4092],
];
for (const [name, got, want] of sizes) {
  test(`size: ${name}`, () => assert.equal(got, want, `got ${got}, want ${want}`));
}

test('superblock fields at Linux offsets (first, middle, last)', () => {
  const b = new Uint8Array(1024);
  setLE(b, 0x00, 4, 1234); setLE(b, 0x38, 2, 0xef53); setLE(b, 0xfe, 2, 64);
  setLE(b, 0x270, 4, 0xcafe); setLE(b, 0x280, 4, 12); setLE(b, 0x3fc, 4, 0xdeadbeef);
  setLE(b, 0x04, 4, 5); setLE(b, 0x150, 4, 1); setLE(b, 0x24c, 4, 1); setLE(b, 0x250, 4, 7);
  const sb = new Ext4SuperBlockView(b);
  assert.equal(sb.s_inodes_count, 1234);
  assert.equal(sb.s_magic, 0xef53);
  assert.equal(sb.s_desc_size, 64);
  assert.equal(sb.s_checksum_seed, 0xcafe);
  assert.equal(sb.s_orphan_file_inum, 12);
  assert.equal(sb.s_checksum, 0xdeadbeef);
  assert.deepEqual(sb.s_backup_bgs, [1, 7]);
  assert.equal(sb.blocksCount, 5, 'without 64bit the _hi half is ignored');
  setLE(b, 0x60, 4, EXT4_FEATURE_INCOMPAT_64BIT);
  assert.equal(sb.blocksCount, 5 + 2 ** 32, 'with 64bit the _hi half counts');
});

test('group descriptor: _hi halves only with 64-byte descriptors', () => {
  const b = new Uint8Array(64);
  setLE(b, 0x08, 4, 100); setLE(b, 0x28, 4, 2); setLE(b, 0x1e, 2, 0xabcd); setLE(b, 0x3a, 2, 9);
  assert.equal(new Ext4GroupDescView(b, 32).inodeTable, 100);
  assert.equal(new Ext4GroupDescView(b, 64).inodeTable, 100 + 2 * 2 ** 32);
  assert.equal(new Ext4GroupDescView(b, 64).bg_checksum, 0xabcd);
  assert.equal(new Ext4GroupDescView(b, 64).bg_inode_bitmap_csum_hi, 9);
});

test('inode fields at Linux offsets', () => {
  const b = new Uint8Array(256);
  setLE(b, 0x00, 2, 0o100644); setLE(b, 0x28, 4, 0xf30a); setLE(b, 0x64, 4, 77);
  setLE(b, 0x80, 2, 32); setLE(b, 0x94, 4, 0x11); setLE(b, 0x9c, 4, 42);
  const i = new Ext4InodeView(b);
  assert.equal(i.i_mode, 0o100644);
  assert.equal(i.i_block(0), 0xf30a);
  assert.equal(i.i_generation, 77);
  assert.equal(i.i_extra_isize, 32);
  assert.equal(i.i_crtime_extra, 0x11);
  assert.equal(i.i_projid, 42);
  assert.ok(Ext4InodeView.fits(32, 0x9c, 4), 'i_projid fits with extra_isize 32');
  assert.ok(!Ext4InodeView.fits(28, 0x9c, 4), 'i_projid does not fit with extra_isize 28');
});

test('extent records decode', () => {
  const b = new Uint8Array(36);
  setLE(b, 0, 2, 0xf30a); setLE(b, 2, 2, 1); setLE(b, 4, 2, 4); setLE(b, 6, 2, 0);
  setLE(b, 12, 4, 10); setLE(b, 16, 2, 32768 + 5); setLE(b, 18, 2, 1); setLE(b, 20, 4, 99);
  setLE(b, 24, 4, 3); setLE(b, 28, 4, 500); setLE(b, 32, 2, 2);
  const h = new Ext4ExtentHeaderView(b);
  assert.deepEqual([h.eh_magic, h.eh_entries, h.eh_max, h.eh_depth], [0xf30a, 1, 4, 0]);
  const e = new Ext4ExtentView(b, 12);
  assert.equal(e.ee_block, 10);
  assert.ok(e.unwritten);
  assert.equal(e.actualLen, 5);
  assert.equal(e.pblock, 99 + 2 ** 32);
  const x = new Ext4ExtentIdxView(b, 24);
  assert.equal(x.ei_block, 3);
  assert.equal(x.leaf, 500 + 2 * 2 ** 32);
  assert.equal(new Ext4ExtentTailView(b, 32).et_checksum, 2);
  const full = new Uint8Array(12); setLE(full, 4, 2, 32768);
  assert.equal(new Ext4ExtentView(full).actualLen, 32768, 'ee_len 32768 is an initialized extent of 32768');
  assert.ok(!new Ext4ExtentView(full).unwritten);
});
