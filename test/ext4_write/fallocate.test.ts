/*
 * ext4 read-write: fallocate (preallocation with and without KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE)
 * and writes into preallocated (unwritten) extents. Every file has a model of its bytes in the
 * test; the oracles are `e2fsck -fn` and, as root, the host kernel: its loop mount must show the
 * tree our kernel showed (sizes, block counts, content) and each file's bytes must equal the model.
 * Block-mapped files (ext2) refuse preallocation and ZERO_RANGE with EOPNOTSUPP, as Linux's ext4
 * does, and punch holes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withTempDir } from '../fixtures/host.js';
import { mkfsExt4 } from '../fixtures/image.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, lcgBytes, FileModel, modelledFiles, assertReadsModel, type Tree } from './tree_oracle.js';
import { EOPNOTSUPP } from '../../src/uapi/errno.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from '../../src/uapi/fcntl.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4'], { allowFail: true }).code === 0;

const bytes = lcgBytes;

async function body(t: TestContext, mkfsArgs: string[], extents: boolean): Promise<void> {
  await withTempDir('ext4fa', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfsExt4(img, 64, mkfsArgs);
    const b = await bootForDisks('mem=192M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    const models = new Map<string, FileModel>();
    let ours: Tree;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      const sys = b.k.sys;
      const { fds, open } = modelledFiles(sys, m, models);
      const write = async (name: string, off: number, d: Uint8Array): Promise<void> => {
        const fd = await open(name);
        const r = await sys.pwrite64(fd, d, d.length, off);
        assert.equal(r, d.length, `pwrite ${name} ${off}+${d.length}: got ${r < 0 ? errName(r) : r}, want ${d.length}`);
        models.get(name)!.write(off, d);
      };
      const falloc = async (name: string, mode: number, off: number, len: number): Promise<number> => {
        const fd = await open(name);
        const r = await sys.fallocate(fd, mode, off, len);
        if (r < 0) return r;
        const md = models.get(name)!;
        if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) md.zero(off, len);
        if (!(mode & FALLOC_FL_KEEP_SIZE)) md.grow(off + len);
        return r;
      };
      const must = async (p: Promise<number>, what: string): Promise<void> => {
        const r = await p;
        if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`);
      };
      if (extents) {
        // Preallocation: size grows (mode 0) or not (KEEP_SIZE, also past EOF).
        await must(falloc('alloc', 0, 0, 1 << 20), 'fallocate 0..1M');
        await write('alloc', 5000, bytes(1, 10_000));
        await write('alloc', 500_000, bytes(2, 1));
        await write('alloc', (1 << 20) - 100, bytes(3, 300)); // through the end of the preallocation
        await write('keep', 0, bytes(4, 100_000));
        await must(falloc('keep', FALLOC_FL_KEEP_SIZE, 50_000, 2 << 20), 'fallocate KEEP_SIZE past EOF');
        await write('keep', 150_000, bytes(5, 4096)); // into the part past the old EOF
        await must(falloc('keep', 0, 0, 10), 'fallocate over allocated blocks');
        // Writes that split a preallocated extent many times.
        await must(falloc('split', FALLOC_FL_KEEP_SIZE, 0, 1 << 20), 'fallocate split');
        for (let i = 0; i < 60; i++) await write('split', i * 16384 + (i % 3) * 1000, bytes(10 + i, 3000));
        // Truncating a file with preallocation past EOF, down and up.
        await write('trunc', 0, bytes(6, 20_000));
        await must(falloc('trunc', FALLOC_FL_KEEP_SIZE, 0, 400_000), 'fallocate trunc');
        await must(sys.ftruncate(await open('trunc'), 10_000), 'truncate down');
        models.get('trunc')!.truncate(10_000);
        await must(sys.ftruncate(await open('trunc'), 300_000), 'truncate up');
        models.get('trunc')!.truncate(300_000);
        // ZERO_RANGE: unaligned edges, with and without KEEP_SIZE, over holes and data.
        await write('zero', 0, bytes(7, 300_000));
        await must(falloc('zero', FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 5000, 200_000), 'zero range');
        await must(falloc('zero', FALLOC_FL_ZERO_RANGE, 250_000, 100_000), 'zero range growing the file');
        await must(falloc('zero', FALLOC_FL_ZERO_RANGE, 1000, 100), 'zero range inside one block');
        await write('zero', 6000, bytes(8, 5000)); // a write into the zeroed (unwritten) middle
      } else {
        await write('alloc', 0, bytes(1, 5000));
        for (const mode of [0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE]) {
          const r = await falloc('alloc', mode, 0, 100_000);
          assert.equal(r, -EOPNOTSUPP, `fallocate mode ${mode} on a block-mapped file: got ${r < 0 ? errName(r) : r}, want EOPNOTSUPP`);
        }
      }
      // PUNCH_HOLE: aligned and not, inside one block, through EOF, past EOF; block maps too.
      await write('punch', 0, bytes(9, 3 << 20));
      await must(falloc('punch', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 65536), 'punch aligned');
      await must(falloc('punch', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100_001, 300_000), 'punch unaligned');
      await must(falloc('punch', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2_000_100, 50), 'punch inside a block');
      await must(falloc('punch', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (3 << 20) - 5000, 1 << 20), 'punch through EOF');
      await must(falloc('punch', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 << 20, 4096), 'punch past EOF');
      await write('punch', 90_000, bytes(11, 20_000)); // refill part of a hole
      const r = await falloc('punch', FALLOC_FL_PUNCH_HOLE, 0, 4096);
      assert.equal(r, -EOPNOTSUPP, `PUNCH_HOLE without KEEP_SIZE: got ${r < 0 ? errName(r) : r}, want EOPNOTSUPP`);
      // What our kernel reads back equals the model.
      for (const [name, md] of models) {
        const fd = fds.get(name)!;
        await assertReadsModel(sys, fd, name, md);
        await must(sys.close(fd), 'close');
      }
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    // e2fsck -fn, the host's tree equal to ours, and on the host mount each file's bytes equal to its model.
    await assertTreeOracle(t, ours, img, {
      onHost: (mnt) => {
        for (const [name, md] of models) {
          const got = fs.readFileSync(join(mnt, name));
          assert.equal(got.length, md.data.length, `${name} size on the host: got ${got.length}, want ${md.data.length}`);
          assert.ok(got.equals(Buffer.from(md.data)), `${name} on the host: got different bytes, want the model`);
        }
      },
    });
  });
}

const skip = HAVE ? false : 'e2fsprogs missing';
test('fallocate on ext4 (4 KiB, journal, metadata_csum)', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-b', '4096'], true);
});
test('fallocate on ext4 with 1 KiB blocks, no metadata_csum (depth-1 extent trees)', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-b', '1024', '-O', '^metadata_csum'], true);
});
test('fallocate on ext2 (block maps): EOPNOTSUPP except PUNCH_HOLE', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-t', 'ext2', '-b', '1024'], false);
});
