/*
 * ext4 read-write: a scripted sequence of creates, writes (append, extend, overwrite, a 50 MiB
 * file), truncates, unlinks, mkdir/rmdir and attribute changes on images made by mkfs.ext4, then
 * the oracles (tree_oracle.ts): `e2fsck -fn` must find the image clean, and (as root) the host
 * kernel's loop mount must show exactly the tree our kernel showed before unmounting (names,
 * types, sizes, modes, owners, link counts, block counts, rdev, targets, mtimes and ctimes to the
 * nanosecond, xattrs, inode numbers, content hashes). Every test that writes ends with it. A crash case copies the image after an
 * fsync while still mounted: e2fsck replays the journal, the result is clean, and the host sees
 * every fsync'd file intact.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withTempDir } from '../fixtures/host.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, snapshotImage, type Tree, ATIME_SKIP } from './tree_oracle.js';
import { EOPNOTSUPP, EROFS, EINVAL, ENOTEMPTY, EEXIST, ENOENT } from '../../src/uapi/errno.js';
import { MS_REMOUNT, MS_RDONLY } from '../../src/uapi/mount.js';
import { AT_FDCWD, O_CREAT, O_WRONLY, O_RDWR, O_APPEND, O_TRUNC, RENAME_NOREPLACE, RENAME_EXCHANGE } from '../../src/uapi/fcntl.js';

const HAVE_E2FSCK = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4'], { allowFail: true }).code === 0;

/** Deterministic content: byte i of file `seed` is a mix of both. */
function content(seed: number, size: number, from = 0): Uint8Array {
  const b = new Uint8Array(size);
  let x = (seed * 2654435761 + from) >>> 0;
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

function mkfs(img: string, sizeMiB: number, args: string[]): void {
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 2 ** 20);
  run('mkfs.ext4', ['-q', '-F', ...args, img]);
}

type Sys = Awaited<ReturnType<typeof bootForDisks>> extends infer B ? B extends { k: infer K } ? K extends { sys: infer S } ? S : never : never : never;

async function must(p: Promise<number> | number, what: string): Promise<number> {
  const r = await p;
  if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`);
  return r;
}

async function writeAll(sys: Sys, fd: number, data: Uint8Array, pos?: number): Promise<void> {
  for (let o = 0; o < data.length;) {
    const part = data.subarray(o, Math.min(data.length, o + (1 << 20)));
    const n = pos === undefined ? await must(sys.write(fd, part, part.length), 'write')
      : await must(sys.pwrite64(fd, part, part.length, pos + o), 'pwrite64');
    o += n;
  }
}

async function createFile(sys: Sys, path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const fd = await must(sys.open(path, O_CREAT | O_WRONLY | O_TRUNC, mode), `open ${path}`);
  await writeAll(sys, fd, data);
  await must(sys.close(fd), 'close');
}

/** The scripted sequence; `big` adds the 50 MiB file. Returns the paths it fsync'd. */
async function script(sys: Sys, m: string, big: boolean): Promise<void> {
  await must(sys.mkdir(`${m}/a`, 0o755), 'mkdir a');
  await must(sys.mkdir(`${m}/a/b`, 0o750), 'mkdir a/b');
  await must(sys.mkdir(`${m}/a/b/c`, 0o700), 'mkdir a/b/c');
  await must(sys.mkdir(`${m}/gone`, 0o755), 'mkdir gone');
  const sizes = [0, 1, 100, 4095, 4096, 4097, 65536, 100_000, 1_048_579, 3 * 2 ** 20 + 17];
  for (const [i, s] of sizes.entries()) await createFile(sys, `${m}/a/f${i}`, content(i, s));
  // Many names in one directory: it grows past its first block.
  for (let i = 0; i < 300; i++) await createFile(sys, `${m}/a/b/entry-with-a-longish-name-${i}`, content(1000 + i, i * 7));
  if (big) await createFile(sys, `${m}/big`, content(77, 50 * 2 ** 20 + 123));
  // Overwrite in the middle and append.
  let fd = await must(sys.open(`${m}/a/f8`, O_RDWR, 0), 'open f8');
  await writeAll(sys, fd, content(500, 10_000), 12_345);
  await must(sys.close(fd), 'close');
  fd = await must(sys.open(`${m}/a/f3`, O_WRONLY | O_APPEND, 0), 'open f3');
  await writeAll(sys, fd, content(501, 9000));
  await must(sys.close(fd), 'close');
  // Truncations: down to an odd size, to 0, up (a hole), then writing past the hole.
  await must(sys.truncate(`${m}/a/f9`, 1_000_001), 'truncate f9');
  await must(sys.truncate(`${m}/a/f7`, 0), 'truncate f7');
  await must(sys.truncate(`${m}/a/f6`, 300_000), 'truncate f6 up');
  fd = await must(sys.open(`${m}/a/f6`, O_WRONLY, 0), 'open f6');
  await writeAll(sys, fd, content(502, 5000), 400_000);
  await must(sys.close(fd), 'close');
  // Unlinks and rmdir.
  for (let i = 0; i < 300; i += 3) await must(sys.unlink(`${m}/a/b/entry-with-a-longish-name-${i}`), 'unlink');
  await must(sys.unlink(`${m}/a/f5`), 'unlink f5');
  await must(sys.rmdir(`${m}/gone`), 'rmdir gone');
  // Attributes.
  await must(sys.fchmodat(AT_FDCWD, `${m}/a/f1`, 0o600), 'chmod');
  await must(sys.fchownat(AT_FDCWD, `${m}/a/f2`, 1234, 5678, 0), 'chown');
  await must(sys.fchownat(AT_FDCWD, `${m}/a/b/c`, 42, 43, 0), 'chown dir');
  await must(sys.utimensat(AT_FDCWD, `${m}/a/f4`, [{ sec: 1_600_000_000, nsec: 123_456_789 }, { sec: 1_500_000_000, nsec: 987_654_321 }], 0), 'utimensat');
  // Links: hard, fast and slow symbolic; special files.
  await must(sys.linkat(AT_FDCWD, `${m}/a/f2`, AT_FDCWD, `${m}/a/b/c/hard`, 0), 'link');
  await must(sys.symlinkat('../f0', AT_FDCWD, `${m}/a/b/fast-link`), 'symlink fast');
  await must(sys.symlinkat(`${'long/'.repeat(30)}target`, AT_FDCWD, `${m}/a/slow-link`), 'symlink slow');
  await must(sys.mknodat(AT_FDCWD, `${m}/a/fifo`, 0o10644, 0), 'mknod fifo');
  await must(sys.mknodat(AT_FDCWD, `${m}/a/null`, 0o20600, (1 << 8) | 3), 'mknod chr');
  await must(sys.symlinkat('x', AT_FDCWD, `${m}/a/gone-link`), 'symlink');
  await must(sys.unlink(`${m}/a/gone-link`), 'unlink symlink');
  // Unlinked while open: the data lives until the last close, then everything is freed.
  const ofd = await must(sys.open(`${m}/a/open-unlinked`, O_CREAT | O_RDWR, 0o600), 'open');
  await writeAll(sys, ofd, content(600, 50_000));
  await must(sys.unlink(`${m}/a/open-unlinked`), 'unlink open file');
  await writeAll(sys, ofd, content(601, 70_000));
  await must(sys.close(ofd), 'close unlinked');
  await renames(sys, m);
}

/**
 * Every kind of rename: the host's view after unmount (names, link counts of the moved
 * directories and of their old and new parents, ".." checked by e2fsck) is the oracle.
 */
async function renames(sys: Sys, m: string): Promise<void> {
  const ren = (a: string, b: string, flags = 0): Promise<number> => sys.renameat2(AT_FDCWD, `${m}/${a}`, AT_FDCWD, `${m}/${b}`, flags);
  const mustRen = async (a: string, b: string, flags = 0): Promise<void> => { await must(ren(a, b, flags), `rename ${a} ${b} (${flags})`); };
  // Plain, same directory and across directories (into the multi-block one, and out of it).
  await mustRen('a/f1', 'a/f1-renamed');
  await mustRen('a/f0', 'a/b/moved-f0');
  await mustRen('a/b/entry-with-a-longish-name-1', 'a/from-b');
  await mustRen('a/b/entry-with-a-longish-name-2', 'a/b/entry-with-a-longish-name-2-renamed-within');
  // Over an existing file (also one with another link, which keeps its other name).
  await createFile(sys, `${m}/a/over-src`, content(700, 5000));
  await createFile(sys, `${m}/a/b/over-dst`, content(701, 9000));
  await mustRen('a/over-src', 'a/b/over-dst');
  await createFile(sys, `${m}/a/linked`, content(702, 100));
  await must(sys.linkat(AT_FDCWD, `${m}/a/linked`, AT_FDCWD, `${m}/a/linked2`, 0), 'link');
  await createFile(sys, `${m}/a/replacer`, content(703, 200));
  await mustRen('a/replacer', 'a/linked2');
  // Over a file that is still open: its blocks go at the last close.
  await createFile(sys, `${m}/a/open-victim`, content(704, 40_000));
  const vfd = await must(sys.open(`${m}/a/open-victim`, O_RDWR, 0), 'open victim');
  await createFile(sys, `${m}/a/victor`, content(705, 300));
  await mustRen('a/victor', 'a/open-victim');
  await writeAll(sys, vfd, content(706, 8000), 40_000);
  await must(sys.close(vfd), 'close victim');
  // Directories: across parents (".." and both parents' link counts), over an empty directory
  // in the same parent and across parents.
  await must(sys.mkdir(`${m}/d1`, 0o755), 'mkdir d1');
  await must(sys.mkdir(`${m}/d1/sub`, 0o755), 'mkdir d1/sub');
  await createFile(sys, `${m}/d1/sub/file`, content(707, 123));
  await mustRen('d1', 'a/b/d1-moved');
  await mustRen('a/b/d1-moved/sub', 'sub-up');
  await must(sys.mkdir(`${m}/x1`, 0o700), 'mkdir x1');
  await must(sys.mkdir(`${m}/x2`, 0o711), 'mkdir x2');
  await mustRen('x1', 'x2');
  await must(sys.mkdir(`${m}/a/empty-target`, 0o755), 'mkdir empty-target');
  await mustRen('sub-up', 'a/empty-target');
  // The VFS's refusals reach us unchanged.
  await must(sys.mkdir(`${m}/full`, 0o755), 'mkdir full');
  await createFile(sys, `${m}/full/x`, content(708, 1));
  let r = await ren('a/b/d1-moved', 'full');
  assert.equal(r, -ENOTEMPTY, `rename over a non-empty directory: got ${errName(r)}, want ENOTEMPTY`);
  // RENAME_NOREPLACE.
  r = await ren('a/f2', 'a/f3', RENAME_NOREPLACE);
  assert.equal(r, -EEXIST, `RENAME_NOREPLACE onto an existing name: got ${errName(r)}, want EEXIST`);
  await createFile(sys, `${m}/a/nr`, content(709, 10));
  await mustRen('a/nr', 'a/b/nr-done', RENAME_NOREPLACE);
  // RENAME_EXCHANGE: two files in one directory, two directories across parents, and a file
  // with a directory across parents (both parents' link counts change).
  await mustRen('a/f3', 'a/f4', RENAME_EXCHANGE);
  await must(sys.mkdir(`${m}/ex1`, 0o755), 'mkdir ex1');
  await must(sys.mkdir(`${m}/a/b/ex2`, 0o700), 'mkdir ex2');
  await createFile(sys, `${m}/ex1/in-ex1`, content(710, 11));
  await mustRen('ex1', 'a/b/ex2', RENAME_EXCHANGE);
  await mustRen('a/f8', 'a/b/ex2', RENAME_EXCHANGE);
  r = await ren('a/f8', 'a/does-not-exist', RENAME_EXCHANGE);
  assert.equal(r, -ENOENT, `RENAME_EXCHANGE with a missing target: got ${errName(r)}, want ENOENT`);
}

function e2fsck(img: string, flags: string): { code: number; out: string } {
  const r = run('e2fsck', [flags, img], { allowFail: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

/**
 * The script on a fresh image, then the tree oracle on the unmounted image. With `snapshot`, also
 * on a copy taken after sync while still mounted read-write: sync must have put on the disk
 * (journal included) everything our kernel shows.
 */
async function roundTrip(t: TestContext, mkfsArgs: string[], sizeMiB: number, big: boolean, fstype = 'ext4', snapshot = false): Promise<void> {
  await withTempDir('ext4w', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfs(img, sizeMiB, mkfsArgs);
    const b = await bootForDisks('mem=256M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    let ours: Tree;
    let live: Tree | undefined;
    const snap = join(dir, 'synced.img');
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype });
      assert.ok(b.log.some((l) => l.includes('r/w')), `mount message: got ${b.log.filter((l) => l.includes('EXT4')).join(' | ')}, want a r/w mount`);
      await script(b.k.sys, m, big);
      if (snapshot) {
        await snapshotImage(b.k, img, snap);
        live = await ourTree(b.k, m);
      }
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    const slow = ours.get('a/slow-link');
    assert.equal(slow?.target, `${'long/'.repeat(30)}target`, `a/slow-link target: got ${slow?.target}, want the 156-byte path`);
    assert.equal(ours.get('a/f2')?.nlink, 2, `a/f2 nlink after link: got ${ours.get('a/f2')?.nlink}, want 2`);
    t.diagnostic(`${ours.size} entries compared`);
    await assertTreeOracle(t, ours, img);
    if (live) {
      await assertTreeOracle(t, live, snap, { what: 'snapshot after sync, still mounted', skip: [ATIME_SKIP] });
      fs.rmSync(snap);
    }
  });
}

const skip = !HAVE_E2FSCK ? 'e2fsck/mkfs.ext4 not installed' : false;

test('ext4 (4 KiB, metadata_csum, journal): scripted writes are e2fsck-clean and match the host', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-b', '4096'], 256, true);
});

test('ext4 -b 1024 -O ^metadata_csum: many groups, gdt_csum checksums; a snapshot after sync holds the same tree', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-b', '1024', '-O', '^metadata_csum'], 64, false, 'ext4', true);
});

test('ext4 without a journal (-O ^has_journal)', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-b', '4096', '-O', '^has_journal'], 64, false);
});

test('ext2 (-t ext2 -b 1024, block-mapped files, no journal) mounted as ext2', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-t', 'ext2', '-b', '1024'], 64, false, 'ext2');
});

test('ext2 with 128-byte inodes: whole-second timestamps as the host shows them', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-t', 'ext2', '-b', '4096', '-I', '128'], 64, false, 'ext2');
});

test('ext3 (-t ext3, journal, block-mapped files) mounted as ext3', { skip, timeout: 300_000 }, async (t) => {
  await roundTrip(t, ['-t', 'ext3', '-b', '4096'], 64, false, 'ext3');
});

test('htree directory (indexed by e2fsck -D): inserts go to the hashed leaf, full leaves split', { skip, timeout: 300_000 }, async (t) => {
  await withTempDir('ext4h', async (dir) => {
    const src = join(dir, 'src');
    fs.mkdirSync(join(src, 'big'), { recursive: true });
    for (let i = 0; i < 800; i++) fs.writeFileSync(join(src, 'big', `host-file-${i}`), `x${i}`);
    const img = join(dir, 'fs.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 * 2 ** 20);
    run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', src, img]);
    e2fsck(img, '-fyD');
    const flags = run('debugfs', ['-R', 'stat /big', img]).stdout;
    assert.match(flags, /Flags: 0x\w*1\w{3}\b/, `debugfs stat /big: got ${flags.split('\n').find((l) => l.includes('Flags'))}, want EXT4_INDEX_FL (0x1000)`);
    const b = await bootForDisks('mem=256M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    let ours: Tree;
    let added = 0, refused = 0;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      const sys = b.k.sys;
      const createSome = async (from: number, to: number): Promise<void> => {
        for (let i = from; i < to; i++) {
          const r = await sys.open(`${m}/big/new-${i}`, O_CREAT | O_WRONLY, 0o640);
          if (r === -EOPNOTSUPP) {
            refused++;
            // Refused before any change: the name does not exist.
            const again = await sys.open(`${m}/big/new-${i}`, O_WRONLY, 0);
            assert.ok(again < 0, `open of refused new-${i}: got fd ${again}, want ENOENT`);
            continue;
          }
          await must(r, `create new-${i}`);
          await writeAll(sys, r, content(i, 100 + i));
          await must(sys.close(r), 'close');
          added++;
        }
      };
      // Leaves packed by e2fsck -D first fill up (refusals possible), then get room from unlinks.
      await createSome(0, 800);
      for (let i = 0; i < 800; i += 2) await must(sys.unlink(`${m}/big/host-file-${i}`), 'unlink');
      await createSome(800, 1000);
      // Renames within, into and out of the indexed directory, then the directory itself moves
      // to a new parent: its ".." lives in the dx root, whose checksum covers it.
      for (let i = 1; i < 40; i += 2) {
        await must(sys.renameat2(AT_FDCWD, `${m}/big/host-file-${i}`, AT_FDCWD, `${m}/big/host-file-${i + 40}`, 0), 'rename over');
        await must(sys.renameat2(AT_FDCWD, `${m}/big/host-file-${i + 100}`, AT_FDCWD, `${m}/out-${i}`, 0), 'rename out');
        await must(sys.renameat2(AT_FDCWD, `${m}/out-${i}`, AT_FDCWD, `${m}/big/back-${i}`, 0), 'rename in');
      }
      await must(sys.renameat2(AT_FDCWD, `${m}/big/host-file-201`, AT_FDCWD, `${m}/big/host-file-203`, RENAME_EXCHANGE), 'exchange');
      await must(sys.mkdir(`${m}/parent`, 0o755), 'mkdir parent');
      await must(sys.renameat2(AT_FDCWD, `${m}/big`, AT_FDCWD, `${m}/parent/big`, 0), 'move the indexed directory');
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    t.diagnostic(`${added} added, ${refused} refused`);
    assert.equal(refused, 0, `creates refused in the indexed directory: got ${refused}, want 0 (full leaves split)`);
    await assertTreeOracle(t, ours, img);
  });
});

for (const [label, args, n] of [
  ['1 KiB blocks, metadata_csum', ['-b', '1024'], 1500],
  ['1 KiB blocks, large_dir, no metadata_csum', ['-b', '1024', '-O', 'large_dir,^metadata_csum'], 1500],
] as [string, string[], number][]) {
  test(`htree growth (${label}): leaf splits, the root gains a level, index nodes split`, { skip, timeout: 300_000 }, async (t) => {
    await withTempDir('ext4g', async (dir) => {
      const src = join(dir, 'src');
      fs.mkdirSync(join(src, 'big'), { recursive: true });
      const long = (i: number, p: string) => `${p}-${i}-${'n'.repeat(180)}`;
      for (let i = 0; i < 40; i++) fs.writeFileSync(join(src, 'big', long(i, 'host')), '');
      const img = join(dir, 'fs.img');
      fs.writeFileSync(img, '');
      fs.truncateSync(img, 64 * 2 ** 20);
      run('mkfs.ext4', ['-q', '-F', ...args, '-d', src, img]);
      e2fsck(img, '-fyD');
      const b = await bootForDisks('mem=256M loglevel=8');
      if (!b) { t.skip('no disk API'); return; }
      let ours: Tree;
      try {
        const id = await b.api.diskAdd({ path: img });
        const m = await b.api.mountDev(id, { fstype: 'ext4' });
        const sys = b.k.sys;
        for (let i = 0; i < n; i++) {
          const fd = await must(sys.open(`${m}/big/${long(i, 'ours')}`, O_CREAT | O_WRONLY, 0o600), `create ${i}`);
          await must(sys.close(fd), 'close');
          if (i % 5 === 4) await must(sys.mkdir(`${m}/big/${long(i, 'dir')}`, 0o700), `mkdir ${i}`);
        }
        for (let i = 0; i < n; i += 7) await must(sys.unlink(`${m}/big/${long(i, 'ours')}`), 'unlink');
        for (let i = 1; i < n; i += 7) {
          await must(sys.renameat2(AT_FDCWD, `${m}/big/${long(i, 'ours')}`, AT_FDCWD, `${m}/big/${long(i, 'renamed')}`, 0), 'rename');
        }
        ours = await ourTree(b.k, m);
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      await assertTreeOracle(t, ours, img);
      const ht = run('debugfs', ['-R', 'htree_dump /big', img], { allowFail: true }).stdout;
      const lv = /Indirect levels: (\d+)/.exec(ht);
      assert.equal(lv?.[1], '1', `debugfs htree_dump: got indirect levels ${lv?.[1]}, want 1`);
      // The root's count: more than one entry means an index node was split.
      const rc = /Number of entries \(count\): (\d+)/.exec(ht);
      assert.ok(Number(rc?.[1]) >= 2, `root entries after growth: got ${rc?.[1]}, want >= 2 (a node split)`);
      t.diagnostic(`${ours.size} entries`);
    });
  });
}

test('crash after fsync: e2fsck replays to a clean image holding the fsync\'d data', { skip, timeout: 300_000 }, async (t) => {
  await withTempDir('ext4c', async (dir) => {
    const img = join(dir, 'fs.img');
    const crash = join(dir, 'crash.img');
    mkfs(img, 64, ['-b', '4096']);
    const b = await bootForDisks('mem=256M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    const data = content(9, 3 * 2 ** 20 + 5);
    let ours: Tree;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      await must(b.k.sys.mkdir(`${m}/d`, 0o755), 'mkdir');
      const fd = await must(b.k.sys.open(`${m}/d/synced`, O_CREAT | O_WRONLY, 0o644), 'open');
      await writeAll(b.k.sys, fd, data);
      await must(b.k.sys.fsync(fd), 'fsync');
      // More changes that nobody syncs: they may be lost, but must not tear the filesystem.
      await createFile(b.k.sys, `${m}/d/unsynced`, content(10, 200_000));
      await must(b.k.sys.mkdir(`${m}/d/sub`, 0o700), 'mkdir');
      await must(b.k.sys.unlink(`${m}/d/unsynced`), 'unlink');
      // Power cut now: the image as the disk holds it.
      fs.copyFileSync(img, crash);
      await must(b.k.sys.close(fd), 'close');
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    const hdr = run('dumpe2fs', ['-h', crash], { allowFail: true }).stdout;
    assert.match(hdr, /Filesystem features:.*needs_recovery/, 'the cut image: got no needs_recovery, want a journal to replay');
    assert.doesNotMatch(hdr, /Journal start:\s+0\b/, 'the cut image: got an empty journal, want the fsync\'d transaction in it');
    const fix = e2fsck(crash, '-fy');
    assert.ok(fix.code === 0 || fix.code === 1, `e2fsck -fy after the cut: got exit ${fix.code}, want 0 or 1\n${fix.out}`);
    const again = e2fsck(crash, '-fn');
    assert.equal(again.code, 0, `e2fsck -fn after replay: got exit ${again.code}, want 0\n${again.out}`);
    await assertTreeOracle(t, ours, img, { what: 'the unmounted image' });
    // The synced file, as debugfs reads it from the replayed image.
    const out = join(dir, 'synced.out');
    run('debugfs', ['-R', `dump /d/synced ${out}`, crash]);
    const got = fs.readFileSync(out);
    assert.equal(got.length, data.length, `synced file size: got ${got.length}, want ${data.length}`);
    assert.ok(Buffer.from(data).equals(got), 'synced file content: got different bytes, want what was written');
  });
});

test('unsupported for writing (quota): the mount falls back to read-only with a message; writes get EROFS', { skip, timeout: 120_000 }, async (t) => {
  await withTempDir('ext4q', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfs(img, 32, ['-b', '4096', '-O', 'quota']);
    const before = fs.readFileSync(img);
    const b = await bootForDisks('mem=128M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    let ours: Tree;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      const line = b.log.find((l) => l.includes('write support for'));
      assert.ok(line?.includes('quota') && line.includes('mounting read-only'), `kernel log: got ${line ?? 'nothing'}, want the read-only fallback naming quota`);
      const r = await b.k.sys.open(`${m}/new`, O_CREAT | O_WRONLY, 0o644);
      assert.equal(r, -EROFS, `create: got ${r < 0 ? errName(r) : r}, want EROFS`);
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    assert.ok(before.equals(fs.readFileSync(img)), 'image: got modified, want untouched by a read-only fallback');
    await assertTreeOracle(t, ours, img);
  });
});

test('remount read-only leaves a clean image while still mounted', { skip, timeout: 120_000 }, async (t) => {
  await withTempDir('ext4r', async (dir) => {
    const img = join(dir, 'fs.img');
    const snap = join(dir, 'snap.img');
    mkfs(img, 32, ['-b', '4096']);
    const b = await bootForDisks('mem=128M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    let ours: Tree;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      await createFile(b.k.sys, `${m}/kept`, content(3, 123_456));
      await must(b.k.sys.mount('none', m, null, MS_REMOUNT | MS_RDONLY, null), 'remount ro');
      await snapshotImage(b.k, img, snap);
      ours = await ourTree(b.k, m);
      const r = await b.k.sys.open(`${m}/other`, O_CREAT | O_WRONLY, 0o644);
      assert.equal(r, -EROFS, `create after remount ro: got ${r < 0 ? errName(r) : r}, want EROFS`);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    const hdr = run('dumpe2fs', ['-h', snap], { allowFail: true }).stdout;
    assert.doesNotMatch(hdr, /needs_recovery/, 'after remount ro: got needs_recovery, want a clean journal');
    // The snapshot taken while still mounted (read-only) holds exactly the tree our kernel shows.
    await assertTreeOracle(t, ours, snap, { what: 'the remounted image' });
  });
});

test('unknown RO_COMPAT feature: a read-write mount fails with EINVAL as Linux; read-only works', { skip, timeout: 120_000 }, async (t) => {
  await withTempDir('ext4u', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfs(img, 32, ['-b', '4096']);
    run('debugfs', ['-w', '-R', 'feature FEATURE_R31', img]);
    const b = await bootForDisks('mem=128M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    try {
      const id = await b.api.diskAdd({ path: img });
      let err: number | undefined;
      try { await b.api.mountDev(id, { fstype: 'ext4' }); } catch (e) { const n = (e as { errno?: number }).errno; err = n === undefined ? undefined : Math.abs(n); }
      assert.equal(err, EINVAL, `rw mount: got ${err === undefined ? 'a mount' : errName(-err)}, want EINVAL`);
      assert.ok(b.log.some((l) => l.includes("couldn't mount RDWR because of unsupported optional features (80000000)")),
        `kernel log: got ${b.log.filter((l) => l.includes('EXT4')).join(' | ')}, want Linux's RDWR refusal`);
      await b.api.mountDev(id, { fstype: 'ext4', flags: MS_RDONLY });
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
  });
});

test('ENOSPC: a write into a full filesystem is short, then fails; the image stays clean', { skip, timeout: 120_000 }, async (t) => {
  for (const args of [['-b', '4096'], ['-t', 'ext2', '-b', '1024']]) {
    await withTempDir('ext4f', async (dir) => {
      const img = join(dir, 'fs.img');
      mkfs(img, 16, args);
      const b = await bootForDisks('mem=128M loglevel=8');
      if (!b) { t.skip('no disk API'); return; }
      let total = 0, last = 0;
      let ours: Tree;
      try {
        const id = await b.api.diskAdd({ path: img });
        const m = await b.api.mountDev(id, { fstype: 'ext4' });
        const sys = b.k.sys;
        const fd = await must(sys.open(`${m}/fill`, O_CREAT | O_WRONLY, 0o644), 'open');
        const chunk = content(5, 1 << 20);
        for (let i = 0; i < 64; i++) {
          last = await sys.write(fd, chunk, chunk.length);
          if (last < 0) break;
          total += last;
        }
        await must(sys.close(fd), 'close');
        assert.equal(last, -28, `write past the end of space: got ${last}, want ENOSPC (-28)`);
        assert.ok(total > 8 << 20 && total < 16 << 20, `bytes written before ENOSPC: got ${total}`);
        // Small files until the directory or the inodes run out, then remove some.
        let files = 0;
        for (; files < 200; files++) {
          const r = await sys.open(`${m}/small-${files}`, O_CREAT | O_WRONLY, 0o644);
          if (r < 0) break;
          await sys.write(r, chunk.subarray(0, 10), 10);
          await must(sys.close(r), 'close');
        }
        await must(sys.truncate(`${m}/fill`, 12345), 'truncate');
        for (let i = 0; i < files; i += 2) await must(sys.unlink(`${m}/small-${i}`), 'unlink');
        // The freed space is usable again (after the freeing transaction commits, with a journal).
        await createFile(sys, `${m}/after`, content(6, 4 << 20));
        ours = await ourTree(b.k, m);
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      await assertTreeOracle(t, ours, img, { what: `${args.join(' ')} after ENOSPC` });
    });
  }
});
