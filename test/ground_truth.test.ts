/*
 * Ground truth: for every fixture recipe (test/fixtures/image.ts), what our kernel reads from the
 * image must equal what the host kernel shows through a read-only loop mount — path by path: inode,
 * d_type, mode, uid, gid, size, blocks, nlink, a/m/ctime in ns, rdev, xattrs, link target and a
 * hash of the contents. Failures read "path: field got X, want Y" (got: ours; want: the host).
 *
 * Then the journal: images with needs_recovery — copied while mounted after sync, and crafted with
 * debugfs (jo/jw/jc) — must read as the host shows them after its own replay; a read-only device
 * refuses the mount with EROFS as Linux does ("write access unavailable, cannot proceed"), and
 * `noload` shows the tree as it is on disk, again compared with the host's `ro,noload` mount.
 *
 * Needs root and loop devices for the host side (skips elsewhere with the reason; under CI=true a
 * missing facility fails). Our side waits for k.diskAdd/mountDev and ext4 and skips with that reason.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { MS_RDONLY } from '../src/uapi/mount.js';
import { EROFS } from '../src/uapi/errno.js';
import { requireHost, withHostMount, withTempDir, walkHost, hostMountOutcome, run, sha256File } from './fixtures/host.js';
import { RECIPES, buildImage, makeEmptyImage, populate, superblockInfo, debugfs, copySparse, mkfsCommand, type Recipe } from './fixtures/image.js';
import { SMALL_TREE } from './fixtures/tree.js';
import { lklWalkImage, errName, DISK_API_MISSING, type DiskSpec, type MountDevOptions } from './fixtures/lkl.js';
import { compareTrees, summarize, type Tree } from './fixtures/walk.js';

const MAX_SHOWN = 60;

function report(diffs: string[]): string {
  const head = diffs.slice(0, MAX_SHOWN).join('\n');
  return `${diffs.length} difference(s) between our kernel (got) and the host kernel (want):\n${head}${diffs.length > MAX_SHOWN ? `\n... and ${diffs.length - MAX_SHOWN} more` : ''}`;
}

/** Walk `disk` with our kernel and compare with `want`; skips (with the reason) until the API exists. */
async function checkOurs(t: TestContext, disk: DiskSpec, mount: MountDevOptions, want: Tree): Promise<void> {
  const ours = await lklWalkImage(disk, mount);
  if (ours === null) { t.skip(DISK_API_MISSING); return; }
  if (ours.mountErr !== undefined) {
    assert.fail(`mountDev(${JSON.stringify(mount)}): got ${errName(ours.mountErr)} ${ours.mountMessage ?? ''}, want a mount\n${ours.log.join('').slice(-3000)}`);
  }
  const w = ours.walk!;
  t.diagnostic(`ours: ${summarize(w.tree)}; ${w.errors.length} error(s)`);
  const diffs = compareTrees(w.tree, want);
  assert.equal(diffs.length, 0, report(diffs));
  assert.equal(ours.umount, 0, `umountDev: got ${ours.umount}, want 0`);
}

test('ground truth: our kernel reads every recipe as the host kernel does', { timeout: 600_000 }, async (t) => {
  if (!requireHost(t)) return;
  await withTempDir('gt', async (dir) => {
    for (const r of RECIPES) {
      await t.test(r.name, async (st) => {
        const t0 = Date.now();
        const img = await buildImage(r, dir);
        try {
          st.diagnostic(`${mkfsCommand(r, img)} (${r.sizeMiB} MiB), populated in ${Date.now() - t0} ms`);
          // A read-only open must not write: the image's mtime/ctime (ns) and size stay as they are.
          const stamp = (): string => { const s = fs.statSync(img, { bigint: true }); return `${s.mtimeNs}/${s.ctimeNs}/${s.size}`; };
          const before = stamp();
          const want = await withHostMount(img, 'ro', walkHost);
          st.diagnostic(`host: ${summarize(want)}`);
          await checkOurs(st, { path: img, readOnly: true }, { fstype: 'ext4', flags: MS_RDONLY }, want);
          assert.equal(stamp(), before, 'image mtime/ctime/size: got changed, want untouched (opened read-only)');
        } finally {
          fs.rmSync(img, { force: true });
        }
      });
    }
  });
});

/** A small populated ext4 image (4 KiB blocks) used as the base of the journal cases. */
const JOURNAL_BASE: Recipe = {
  name: 'journal-base', fstype: 'ext4', sizeMiB: 64, mkfs: ['mkfs.ext4', '-q', '-F', '-b', '4096'],
  tree: { kind: 'generated', opts: SMALL_TREE },
};

/** The host's view after its own replay: rw mount (replays), umount, then walk a ro mount. */
async function hostReplayed(dirty: string, scratch: string): Promise<Tree> {
  copySparse(dirty, scratch);
  try {
    await withHostMount(scratch, 'noinit_itable', () => undefined);
    return await withHostMount(scratch, 'ro', walkHost);
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

/**
 * The three Linux outcomes for an image needing recovery, checked on our kernel:
 * a writable device replays (even for a read-only mount); a read-only device fails with EROFS;
 * a read-only device with noload mounts without replay.
 */
async function journalCases(t: TestContext, dir: string, dirty: string, needsReplay = true): Promise<void> {
  const features = superblockInfo(dirty)['Filesystem features'] ?? '';
  assert.match(features, /needs_recovery/, `fixture: got features "${features}", want needs_recovery`);
  const replayed = await hostReplayed(dirty, join(dir, 'host-replay.img'));
  const noloadView = await withHostMount(dirty, 'ro,noload', walkHost);
  const hostRo = hostMountOutcome(dirty, 'ro');
  assert.equal(hostRo.ok, false, 'host: ro mount of a dirty image on a read-only loop device should fail');
  const sum = sha256File(dirty);
  // The fixture must depend on replay, or the cases below would prove nothing.
  const replayDiff = compareTrees(noloadView, replayed);
  if (needsReplay) assert.notEqual(replayDiff.length, 0, 'fixture: the host shows the same tree with and without replay');
  t.diagnostic(`host: replay changes ${replayDiff.length} field(s), e.g. ${replayDiff.slice(0, 3).join('; ')}`);

  await t.test('writable device, MS_RDONLY: replayed as the host replays', async (st) => {
    const copy = join(dir, 'ours-replay.img');
    copySparse(dirty, copy);
    try {
      await checkOurs(st, { path: copy, readOnly: false }, { fstype: 'ext4', flags: MS_RDONLY }, replayed);
    } finally { fs.rmSync(copy, { force: true }); }
  });
  await t.test('read-only device: mount fails with EROFS as on the host', async (st) => {
    const ours = await lklWalkImage({ path: dirty, readOnly: true }, { fstype: 'ext4', flags: MS_RDONLY });
    if (ours === null) { st.skip(DISK_API_MISSING); return; }
    assert.equal(ours.mountErr, -EROFS, `mountDev: got ${ours.mountErr === undefined ? 'a mount' : errName(ours.mountErr)}, want EROFS (host: ${hostRo.stderr.split('\n')[0]})`);
    assert.equal(sha256File(dirty), sum, 'image sha256: got modified, want unchanged');
  });
  await t.test('read-only device with noload: the tree as on disk', async (st) => {
    await checkOurs(st, { path: dirty, readOnly: true }, { fstype: 'ext4', flags: MS_RDONLY, opts: 'noload' }, noloadView);
    assert.equal(sha256File(dirty), sum, 'image sha256: got modified, want unchanged');
  });
}

/** Changes of every kind the journal logs: new and removed names, data, attributes, xattrs. */
function mutate(mnt: string): string[] {
  fs.mkdirSync(join(mnt, 'after-sync'));
  for (let i = 0; i < 50; i++) fs.writeFileSync(join(mnt, 'after-sync', `new${i}`), `file ${i}\n`.repeat(i * 40));
  fs.appendFileSync(join(mnt, 'files/small8'), 'appended after the fixture was built\n');
  fs.unlinkSync(join(mnt, 'links/c'));
  fs.renameSync(join(mnt, 'files/medium0'), join(mnt, 'after-sync/medium0-moved'));
  fs.truncateSync(join(mnt, 'files/large0'), 12345);
  fs.chmodSync(join(mnt, 'files/small9'), 0o4700);
  fs.symlinkSync('new0', join(mnt, 'after-sync/link'));
  fs.rmSync(join(mnt, 'deep/level01/level02/level03'), { recursive: true });
  for (let i = 0; i < 100; i++) fs.writeFileSync(join(mnt, 'big', `added-${i}`), '');
  run('setfattr', ['-n', 'user.after', '-v', 'sync', join(mnt, 'after-sync/new1')]);
  return ['after-sync', 'after-sync/new1', 'files/small8', 'files', 'links', 'big', 'files/large0', 'deep/level01/level02'];
}

/*
 * sync(1) also writes the block device's cache, so after it the metadata is home as well as in the
 * journal: replay must be harmless (same tree). fsync only forces a journal commit, so a copy taken
 * then needs the replay to show the changes.
 */
for (const how of ['sync', 'fsync'] as const) {
  test(`dirty journal: image copied while mounted, after ${how}`, { timeout: 300_000 }, async (t) => {
    if (!requireHost(t)) return;
    await withTempDir('dirty', async (dir) => {
      const img = await buildImage(JOURNAL_BASE, dir);
      const dirty = join(dir, 'dirty.img');
      await withHostMount(img, 'noinit_itable', (mnt) => {
        const touched = mutate(mnt);
        if (how === 'sync') run('sync', []);
        else for (const p of touched) { const fd = fs.openSync(join(mnt, p), 'r'); try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); } }
        copySparse(img, dirty);
      });
      await journalCases(t, dir, dirty, how === 'fsync');
    });
  });
}

/** Build the base, then write journal transactions with debugfs onto a copy. */
async function crafted(t: TestContext, name: string, plan: (img: string, blocks: (path: string) => number[], dir: string) => string[]): Promise<void> {
  if (!requireHost(t)) return;
  await withTempDir(`jrnl-${name}`, async (dir) => {
    const img = join(dir, 'base.img');
    makeEmptyImage(JOURNAL_BASE, img);
    await populate(JOURNAL_BASE, img, dir);
    const blocks = (p: string): number[] => {
      const out = debugfs(img, [`blocks ${p}`]);
      const line = out.split('\n').find((l) => /^\d+( \d+)*\s*$/.test(l.trim()));
      if (!line) throw new Error(`debugfs blocks ${p}: ${out}`);
      return line.trim().split(/\s+/).map(Number);
    };
    const cmds = plan(img, blocks, dir);
    const out = debugfs(img, cmds, true);
    t.diagnostic(`debugfs -w: ${cmds.join('; ')}`);
    if (/error|invalid|not open/i.test(out)) t.diagnostic(out);
    await journalCases(t, dir, img);
  });
}

function blockFile(dir: string, name: string, nblocks: number, byte: number): string {
  const p = join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(4096 * nblocks, byte));
  return p;
}

test('dirty journal crafted with debugfs: one committed transaction', { timeout: 120_000 }, async (t) => {
  await crafted(t, 'commit', (_img, blocks, dir) => {
    const b = blocks('/files/medium1');
    return ['jo', `jw -b ${b[0]},${b[1]},${b[2]} ${blockFile(dir, 'new.bin', 3, 0x41)}`, 'jc'];
  });
});

test('dirty journal crafted with debugfs: a write revoked by a later transaction', { timeout: 120_000 }, async (t) => {
  await crafted(t, 'revoke', (_img, blocks, dir) => {
    const b = blocks('/files/medium1');
    const a = blocks('/files/large0');
    return ['jo', `jw -b ${b[0]},${a[0]} ${blockFile(dir, 'x.bin', 2, 0x58)}`, `jw -r ${b[0]}`, `jw -b ${a[1]} ${blockFile(dir, 'y.bin', 1, 0x59)}`, 'jc'];
  });
});

test('dirty journal crafted with debugfs: an uncommitted transaction is not replayed', { timeout: 120_000 }, async (t) => {
  await crafted(t, 'uncommitted', (_img, blocks, dir) => {
    const b = blocks('/files/medium1');
    const a = blocks('/links/a');
    return ['jo', `jw -b ${a[0]} ${blockFile(dir, 'c.bin', 1, 0x43)}`, `jw -c -b ${b[0]} ${blockFile(dir, 'u.bin', 1, 0x55)}`, 'jc'];
  });
});
