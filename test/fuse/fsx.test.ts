/*
 * The fsx-style exerciser (fsx.ts) on one file through an lklfuse mount, for ext4 and vfat, with
 * fixed seeds (FSX_SEED=n adds one of your choice). The exerciser is first run on the host's own
 * filesystem, so a failure on the mount is not the model's fault. After each run the mount is
 * ended with umount(8) and the image must pass the host's fsck.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipReason, tmpdir, sh, unmount, mountEntry, startLklfuse, waitExit, teardown, type Running } from './helpers.js';
import { runFsx, describe } from './fsx.js';

const SKIP = skipReason(['mount', 'umount', 'mkfs.ext4', 'e2fsck', 'mkfs.fat', 'fsck.fat', 'python3']);
const work = SKIP ? '' : tmpdir('lklfuse-fsx-');
const mnt = path.join(work, 'mnt');
let running: Running | null = null;
const SEEDS = [1, 20261124, ...(process.env.FSX_SEED ? [Number(process.env.FSX_SEED)] : [])];
const OPTS = { ops: 400, maxSize: 256 << 10, maxLen: 40 << 10, helper: true };

after(async () => {
  if (SKIP) return;
  await teardown(mnt, running);
  fs.rmSync(work, { recursive: true, force: true });
});

test('fsx: the model agrees with the host filesystem', { skip: SKIP }, async () => {
  const r = await runFsx(path.join(work, 'host-file'), { ...OPTS, seed: 7, ops: 200 });
  assert.ok(r.ok, describe(r));
});

for (const kind of ['ext4', 'vfat'] as const) {
  test(`fsx on ${kind} through lklfuse`, { skip: SKIP }, async (t) => {
    const img = path.join(work, `${kind}.img`);
    if (kind === 'ext4') {
      assert.equal(sh('mkfs.ext4', ['-q', '-F', img, '64M']).status, 0, 'mkfs.ext4');
    } else {
      fs.writeFileSync(img, Buffer.alloc(0));
      fs.truncateSync(img, 64 << 20);
      assert.equal(sh('mkfs.fat', ['-F', '32', img]).status, 0, 'mkfs.fat');
    }
    fs.mkdirSync(mnt, { recursive: true });
    for (const seed of SEEDS) {
      running = await startLklfuse(img, mnt);
      try {
        assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount: got ${mountEntry(mnt)?.type}, want fuse.lklfuse (${running.stderr()})`);
        const r = await runFsx(path.join(mnt, `fsx-${seed}`), { ...OPTS, seed });
        for (const n of r.notes) t.diagnostic(`seed ${seed}: ${n}`);
        t.diagnostic(`seed ${seed}: ${JSON.stringify(r.counts)}`);
        assert.ok(r.ok, describe(r));
      } finally {
        const u = unmount(mnt);
        const st = await waitExit(running, 20_000);
        if (u.status !== 0 || st === null) await teardown(mnt, running);
        running = null;
        assert.equal(u.status, 0, `umount: got status ${u.status} (${u.stderr})`);
        assert.equal(st, 0, `lklfuse exit status: got ${st}, want 0`);
      }
      const f = kind === 'ext4' ? sh('e2fsck', ['-fn', img]) : sh('fsck.fat', ['-n', img]);
      assert.equal(f.status, 0, `fsck after seed ${seed}: got status ${f.status}, want 0:\n${f.stdout}${f.stderr}`);
    }
  });
}
