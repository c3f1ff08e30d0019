/*
 * ext4 read-write: extent trees deeper than one level. With 1 KiB blocks a leaf holds 84
 * extents and the root 4 indexes, so a file with more than 336 extents needs depth 2. Our kernel
 * writes such files (one-block and three-block extents with gaps; a preallocated range written
 * every other block, so unwritten and written extents alternate), then truncates them partway,
 * punches holes (whole extents, and single blocks inside longer ones, which splits them),
 * fills holes again and extends them. The host kernel builds a depth-2 tree of its own, which
 * we then append to, write into, truncate and punch. Oracles after every phase: `e2fsck -fn`
 * finds the image clean, `debugfs -R "ex /file"` shows the expected depth, and (as root) the
 * host's loop mount reads exactly the bytes of the test's model of each file (sha256).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, hostSkipReason } from '../fixtures/host.js';
import { mkfsExt4 } from '../fixtures/image.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { lcgBytes, FileModel, modelledFiles, assertReadsModel } from './tree_oracle.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from '../../src/uapi/fcntl.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4 && command -v debugfs'], { allowFail: true }).code === 0;
const ROOT_SKIP = hostSkipReason();
const BS = 1024;

const bytes = lcgBytes;

/** Depth of the file's extent tree as debugfs (libext2fs) reads it. */
function debugfsDepth(img: string, name: string): number {
  const r = run('debugfs', ['-R', `ex /${name}`, img], { allowFail: true });
  const m = /^\s*0\/\s*(\d+)/m.exec(r.stdout);
  assert.ok(m, `debugfs ex /${name}: no extent listing\n${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

function fsck(img: string, phase: string): void {
  const r = run('e2fsck', ['-fn', img], { allowFail: true });
  assert.equal(r.code, 0, `${phase}: e2fsck -fn: got exit ${r.code}, want 0\n${r.stdout.slice(0, 4000)}${r.stderr}`);
}

async function hostCheck(t: TestContext, img: string, models: Map<string, FileModel>, phase: string): Promise<void> {
  if (ROOT_SKIP) {
    if (process.env.CI) assert.fail(ROOT_SKIP);
    t.diagnostic(`${phase}: host comparison skipped: ${ROOT_SKIP}`);
    return;
  }
  await withHostMount(img, 'ro', (mnt) => {
    for (const [name, md] of models) {
      const got = fs.readFileSync(join(mnt, name));
      assert.equal(got.length, md.data.length, `${phase}: ${name} size on the host: got ${got.length}, want ${md.data.length}`);
      const sha = createHash('sha256').update(got).digest('hex');
      assert.equal(sha, md.sha(), `${phase}: ${name} sha256 on the host: got ${sha}, want the model's`);
    }
  });
}

type Session = {
  write(name: string, off: number, d: Uint8Array): Promise<void>;
  punch(name: string, off: number, len: number): Promise<void>;
  falloc(name: string, mode: number, off: number, len: number): Promise<void>;
  truncate(name: string, size: number): Promise<void>;
};

/** Mount the image in our kernel, run `fn`, check what it reads back against the models, unmount. */
async function ours(t: TestContext, img: string, models: Map<string, FileModel>, fn: (s: Session) => Promise<void>): Promise<boolean> {
  const b = await bootForDisks('mem=192M loglevel=4');
  if (!b) { t.skip('no disk API'); return false; }
  try {
    const id = await b.api.diskAdd({ path: img });
    const m = await b.api.mountDev(id, { fstype: 'ext4' });
    const sys = b.k.sys;
    const { open } = modelledFiles(sys, m, models);
    const ok = (r: number, what: string): void => { if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`); };
    await fn({
      write: async (name, off, d) => {
        const r = await sys.pwrite64(await open(name), d, d.length, off);
        assert.equal(r, d.length, `pwrite ${name} ${off}+${d.length}: got ${r < 0 ? errName(r) : r}, want ${d.length}`);
        models.get(name)!.write(off, d);
      },
      punch: async (name, off, len) => {
        ok(await sys.fallocate(await open(name), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len), `punch ${name} ${off}+${len}`);
        models.get(name)!.zero(off, len);
      },
      falloc: async (name, mode, off, len) => {
        ok(await sys.fallocate(await open(name), mode, off, len), `fallocate ${name} ${off}+${len}`);
        if (!(mode & FALLOC_FL_KEEP_SIZE)) models.get(name)!.grow(off + len);
      },
      truncate: async (name, size) => {
        ok(await sys.ftruncate(await open(name), size), `ftruncate ${name} ${size}`);
        models.get(name)!.truncate(size);
      },
    });
    // Our own reading agrees with the model too.
    for (const [name, md] of models) {
      const fd = await open(name);
      await assertReadsModel(sys, fd, name, md);
      ok(await sys.close(fd), 'close');
    }
    await b.api.umountDev(id);
  } finally {
    await b.k.halt();
  }
  return true;
}

const skip = HAVE ? false : 'e2fsprogs missing';

test('depth-2 extent trees written, truncated, punched and extended by us', { skip, timeout: 120_000 }, async (t) => {
  await withTempDir('ext4deep', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfsExt4(img, 64, ['-b', String(BS)]);
    const models = new Map<string, FileModel>();
    const N1 = 1200, N3 = 600, NU = 900;
    // Phase 1: build the trees.
    if (!await ours(t, img, models, async (s) => {
      // One-block extents with one-block holes (the blocks between stay free: no merging).
      for (let i = 0; i < N1; i++) await s.write('ones', 2 * i * BS, bytes(i + 1, BS));
      // Three-block extents with one-block holes.
      for (let i = 0; i < N3; i++) await s.write('threes', 4 * i * BS, bytes(10_000 + i, 3 * BS));
      // A preallocated range written every other block: unwritten and written extents alternate.
      await s.falloc('unw', 0, 0, 2 * NU * BS);
      for (let i = 0; i < NU; i++) await s.write('unw', 2 * i * BS + 100, bytes(20_000 + i, BS - 200));
    })) return;
    fsck(img, 'after building');
    for (const name of ['ones', 'threes', 'unw']) assert.equal(debugfsDepth(img, name), 2, `${name}: depth after building: got ${debugfsDepth(img, name)}, want 2`);
    await hostCheck(t, img, models, 'after building');

    // Phase 2: truncate partway, punch, refill, extend.
    await ours(t, img, models, async (s) => {
      await s.truncate('ones', (2 * N1 - 301) * BS + 17);             // 150 extents go, the last leaf shrinks
      await s.punch('ones', 200 * BS, 400 * BS);                      // whole extents in the middle
      await s.punch('ones', 1000 * BS + 5, 10);                       // inside one block: zeroed, kept
      for (let i = 0; i < 60; i++) await s.write('ones', (401 + 2 * i) * BS, bytes(30_000 + i, BS)); // into old holes
      await s.write('ones', 4000 * BS, bytes(31_000, 3 * BS));        // past EOF, after a hole
      for (let i = 0; i < 150; i++) await s.punch('threes', (4 * i + 1) * BS, BS);  // splits 150 extents in two
      await s.truncate('threes', 1801 * BS);                          // cuts inside an extent
      await s.punch('threes', 100 * BS, 3000 * BS);                   // through the end
      await s.write('threes', 2500 * BS, bytes(32_000, 5 * BS));
      await s.punch('unw', 300 * BS, 500 * BS);                       // written and unwritten alike
      await s.truncate('unw', 1200 * BS + 1);
      for (let i = 0; i < 40; i++) await s.write('unw', (1301 + 2 * i) * BS, bytes(33_000 + i, BS)); // past EOF
    });
    fsck(img, 'after truncating and punching');
    assert.equal(debugfsDepth(img, 'ones'), 2, 'ones: depth after phase 2');
    await hostCheck(t, img, models, 'after truncating and punching');

    // Phase 3: shrink to almost nothing: the trees give back their blocks and their depth.
    await ours(t, img, models, async (s) => {
      // In steps: ext4Truncate's handle reserves only 8 revokes (see the report), ~3 leaves a step.
      for (let b = 4000; b > 3; b -= 500) await s.truncate('ones', Math.max(3, b - 500) * BS);
      for (let b = 1400; b > 0; b -= 500) await s.truncate('unw', Math.max(0, b - 500) * BS);
      await s.write('unw', 0, bytes(34_000, 2 * BS));
    });
    fsck(img, 'after truncating to a few blocks');
    assert.equal(debugfsDepth(img, 'ones'), 0, 'ones: depth with 2 extents left');
    assert.equal(debugfsDepth(img, 'unw'), 0, 'unw: depth with 1 extent left');
    await hostCheck(t, img, models, 'after truncating to a few blocks');
  });
});

/**
 * The host writes `n` one-block extents with holes between them (its tree is `depth` deep), then
 * we append, write into holes (full leaves split), truncate and punch.
 */
async function hostMade(t: TestContext, n: number, sizeMiB: number, depth: number): Promise<void> {
  if (ROOT_SKIP) {
    if (process.env.CI) assert.fail(ROOT_SKIP);
    t.skip(`needs the host kernel: ${ROOT_SKIP}`);
    return;
  }
  await withTempDir('ext4deeph', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfsExt4(img, sizeMiB, ['-b', String(BS)]);
    const models = new Map<string, FileModel>();
    const md = new FileModel();
    models.set('host', md);
    await withHostMount(img, '', (mnt) => {
      const fd = fs.openSync(join(mnt, 'host'), 'w');
      try {
        for (let i = 0; i < n; i++) {
          const d = bytes(40_000 + i, BS);
          fs.writeSync(fd, d, 0, d.length, 2 * i * BS);
          md.write(2 * i * BS, d);
        }
        fs.fsyncSync(fd);
      } finally { fs.closeSync(fd); }
    });
    fsck(img, 'host-made');
    assert.equal(debugfsDepth(img, 'host'), depth, `host file depth: got ${debugfsDepth(img, 'host')}, want ${depth}`);
    await ours(t, img, models, async (s) => {
      for (let i = 0; i < 50; i++) await s.write('host', (2 * n + 2 * i) * BS, bytes(41_000 + i, BS)); // append
      for (let i = 0; i < 50; i++) await s.write('host', (n / 2 + 1 + 2 * i) * BS, bytes(42_000 + i, BS)); // into full leaves
      await s.truncate('host', (2 * n - 300) * BS + 99);
      await s.punch('host', (n / 10) * BS, 300 * BS);
      await s.punch('host', (n - 100) * BS, 1 * BS);
    });
    fsck(img, 'after our changes to the host-made tree');
    assert.equal(debugfsDepth(img, 'host'), depth, 'host file depth after our changes');
    await hostCheck(t, img, models, 'after our changes to the host-made tree');
  });
}

test('a depth-2 tree made by the host kernel is appended to, written into, truncated and punched by us', { skip, timeout: 120_000 }, async (t) => {
  await hostMade(t, 1000, 64, 2);
});

test('a depth-3 tree made by the host kernel (29000 extents) is changed by us', { skip, timeout: 120_000 }, async (t) => {
  await hostMade(t, 29_000, 128, 3);
});
