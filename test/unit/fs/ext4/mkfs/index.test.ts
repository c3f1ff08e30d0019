/*
 * mkfsExt4 without host tools: geometry numbers for sizes whose mke2fs output was recorded
 * (dumpe2fs of `mke2fs -t ext4` on e2fsprogs 1.47), what gets written, and option errors.
 * test/mkfs/mkfs.test.ts compares against the live mke2fs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkfsExt4, defaultJournalBlocks, type MkfsOptions } from '../../../../../src/fs/ext4/mkfs/index.js';
import { KernelError } from '../../../../../src/lib/errors.js';
import { EINVAL } from '../../../../../src/uapi/errno.js';

const base: MkfsOptions = { type: 'ext4', uuid: '11111111-2222-3333-4444-555555555555', hashSeed: '66666666-7777-8888-9999-aaaaaaaaaaaa', now: 1700000000 };

/** A device that keeps only the writes (offset -> bytes). */
function recorder(size: number): { size: number; writes: Map<number, Uint8Array>; write(o: number, b: Uint8Array): void } {
  const writes = new Map<number, Uint8Array>();
  return { size, writes, write(o, b) { writes.set(o, b.slice()); } };
}

test('64 MiB ext4 has mke2fs geometry (1 KiB blocks, 8 groups)', async () => {
  const dev = recorder(64 * 2 ** 20);
  const s = await mkfsExt4(dev, base);
  assert.equal(s.blockSize, 1024, `block size: got ${s.blockSize}, want 1024`);
  assert.equal(s.groups, 8, `groups: got ${s.groups}, want 8`);
  assert.equal(s.inodesCount, 16384, `inodes: got ${s.inodesCount}, want 16384`);
  assert.equal(s.freeBlocks, 56023, `free blocks: got ${s.freeBlocks}, want 56023`);
  assert.equal(s.freeInodes, 16373, `free inodes: got ${s.freeInodes}, want 16373`);
  assert.deepEqual(s.backups, [8193, 24577, 40961, 57345], `backups: got ${s.backups}`);
  const sb = dev.writes.get(1024)!;
  const dv = new DataView(sb.buffer, sb.byteOffset);
  assert.equal(dv.getUint16(0x38, true), 0xef53, 'magic');
  assert.equal(dv.getUint32(0x248, true), 9499, `overhead: got ${dv.getUint32(0x248, true)}, want 9499`);
  // The journal superblock sits at the journal's first block, 16385.
  const jsb = dev.writes.get(16385 * 1024)!;
  assert.equal(new DataView(jsb.buffer).getUint32(0, false), 0xc03b3998, 'jbd2 magic');
});

test('16 TiB ext4 needs no resize inode and writes only metadata', async () => {
  const dev = recorder(16 * 2 ** 40);
  const t0 = Date.now();
  const s = await mkfsExt4(dev, base);
  assert.equal(s.blocksCount, 2 ** 32, `blocks: got ${s.blocksCount}, want 2^32`);
  assert.equal(s.groups, 131072, `groups: got ${s.groups}`);
  assert.equal(s.freeBlocks, 4277614561, `free: got ${s.freeBlocks}, want 4277614561`);
  assert.equal(s.features.includes('resize_inode'), false, 'resize_inode must be off past 2^32-1 blocks');
  let bytes = 0;
  for (const b of dev.writes.values()) bytes += b.length;
  assert.ok(bytes < 256 * 2 ** 20, `wrote ${bytes} bytes, want only metadata`);
  assert.ok(Date.now() - t0 < 60_000, 'took over a minute');
});

test('tiny filesystems get no journal, as mke2fs ("too small for a journal")', async () => {
  const s = await mkfsExt4(recorder(2 ** 20), base);
  assert.equal(s.journalBlocks, 0, `journal: got ${s.journalBlocks}, want 0`);
  assert.equal(s.features.includes('has_journal'), false);
  assert.equal(defaultJournalBlocks(65536), 4096);
  assert.equal(defaultJournalBlocks(2 ** 28), 262144);
});

test('bad options fail with EINVAL', async () => {
  const bad: Array<Partial<MkfsOptions>> = [
    { features: '^extent' }, // 64bit without extents
    { features: 'no_such_feature' },
    { blockSize: 3000 },
    { extended: 'bogus=1' },
    { uuid: 'xyz' },
    { type: 'ext2', features: '^sparse_super' }, // resize_inode needs sparse_super
    { features: 'inline_data', inodeSize: 128 },
  ];
  for (const o of bad) {
    await assert.rejects(mkfsExt4(recorder(64 * 2 ** 20), { ...base, ...o }),
      (e: unknown) => e instanceof KernelError && e.errno === EINVAL, `options ${JSON.stringify(o)}: want EINVAL`);
  }
});
