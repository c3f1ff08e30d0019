/*
 * Real programs on an lklfuse mount. Each program gets its own mount of the image: lklfuse is
 * started, the program works on the mount through the host kernel, the mount is ended with
 * umount(8), and the image is then checked by the host's own tool (e2fsck -fn for ext4,
 * fsck.fat -n for vfat). What each program does is checked by the program itself where it can
 * (git fsck --full, sqlite's PRAGMA integrity_check) and by diff -r against a host copy otherwise
 * (rsync -a, tar). Programs that need what FAT cannot keep (git's modes and symlinks, rsync's
 * owners) run on ext4 only; on vfat rsync runs with -rt.
 */
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  skipReason, tmpdir, sh, unmount, mountEntry, startLklfuse, waitExit, teardown, pattern, type Running,
} from './helpers.js';

const SKIP = skipReason(['mount', 'umount', 'mkfs.ext4', 'e2fsck', 'mkfs.fat', 'fsck.fat', 'git', 'sqlite3', 'rsync', 'tar', 'diff', 'find']);
const work = SKIP ? '' : tmpdir('lklfuse-prog-');
const REPO_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/fs');
const mnt = path.join(work, 'mnt');
const tree = path.join(work, 'tree');
const fatTree = path.join(work, 'fattree');
let running: Running | null = null;

after(async () => {
  if (SKIP) return;
  await teardown(mnt, running);
  // LKLFUSE_KEEP=1 keeps the images and trees for a look after a failure.
  if (process.env.LKLFUSE_KEEP) process.stdout.write(`# kept ${work}\n`);
  else fs.rmSync(work, { recursive: true, force: true });
});

type Kind = 'ext4' | 'vfat';
const img = (k: Kind) => path.join(work, `${k}.img`);

/** Mount `k`'s image, run `body` on the mount, unmount, and require a clean fsck of the image. */
async function onMount(k: Kind, body: () => void | Promise<void>): Promise<void> {
  running = await startLklfuse(img(k), mnt);
  try {
    const m = mountEntry(mnt);
    assert.equal(m?.type, 'fuse.lklfuse', `mount: got ${m?.type}, want fuse.lklfuse (stderr: ${running.stderr()})`);
    await body();
  } finally {
    const u = unmount(mnt);
    if (u.status !== 0) await teardown(mnt, running);
    const st = await waitExit(running, 20_000);
    if (st === null) await teardown(mnt, running);
    assert.equal(u.status, 0, `umount: got status ${u.status} (${u.stderr})`);
    assert.equal(st, 0, `lklfuse exit status: got ${st}, want 0 (${running.stderr()})`);
    running = null;
  }
  const f = k === 'ext4' ? sh('e2fsck', ['-fn', img(k)]) : sh('fsck.fat', ['-n', img(k)]);
  assert.equal(f.status, 0, `${k === 'ext4' ? 'e2fsck -fn' : 'fsck.fat -n'}: got status ${f.status}, want 0:\n${f.stdout}${f.stderr}`);
}

function ok(r: { status: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.status, 0, `${what}: got status ${r.status}, want 0:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * "relative-path type mode owner size target mtime" of every entry under `root`, sorted; mtimes
 * in nanoseconds (rsync keeps them) or whole seconds (a tar archive keeps no more).
 */
function listing(root: string, times: 'ns' | 's'): string[] {
  const fmt = `%P %y %m %U %G %s %l ${times === 'ns' ? '%T@' : '%Ts'}\\n`;
  return ok(sh('find', [root, '-mindepth', '1', '-printf', fmt]), 'find').split('\n')
    // A symlink's own time is not what rsync/tar promise to keep; directory sizes are per-filesystem.
    .map((l) => l.replace(/^(\S+ l .*) [\d.]+$/, '$1').replace(/^(\S+ d \S+ \S+ \S+) \d+/, '$1'))
    .filter((l) => l && !l.startsWith('lost+found')).sort();
}

/** Equal listings, or a failure naming only the lines that differ. */
function sameListing(got: string[], want: string[], what: string): void {
  const g = new Set(got), w = new Set(want);
  const extra = got.filter((l) => !w.has(l)).slice(0, 20), missing = want.filter((l) => !g.has(l)).slice(0, 20);
  assert.ok(!extra.length && !missing.length, `${what}: got lines\n${extra.join('\n')}\nwant instead\n${missing.join('\n')}`);
}

test('programs: prepare images and a real tree', { skip: SKIP }, () => {
  fs.mkdirSync(mnt);
  ok(sh('mkfs.ext4', ['-q', '-F', img('ext4'), '96M']), 'mkfs.ext4');
  fs.writeFileSync(img('vfat'), Buffer.alloc(0));
  fs.truncateSync(img('vfat'), 96 << 20);
  ok(sh('mkfs.fat', ['-F', '32', img('vfat')]), 'mkfs.fat');
  // A slice of /usr/share/doc (real names, symlinks, gzip files), about 2-3 MB, plus a few
  // files of our own so the tree is never empty or trivial.
  fs.mkdirSync(tree);
  const docs = fs.existsSync('/usr/share/doc') ? fs.readdirSync('/usr/share/doc').sort().slice(0, 60) : [];
  for (const d of docs) sh('cp', ['-a', path.join('/usr/share/doc', d), tree]);
  // Containers often ship without /usr/share/doc: this project's own sources are always there.
  ok(sh('cp', ['-a', REPO_SRC, path.join(tree, 'lkl-src')]), 'cp -a of the project sources');
  fs.mkdirSync(path.join(tree, 'own/deep/er'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'own/big.bin'), pattern(3_000_000, 11));
  fs.writeFileSync(path.join(tree, 'own/deep/er/small'), 'small\n');
  fs.writeFileSync(path.join(tree, 'own/empty'), '');
  fs.symlinkSync('deep/er/small', path.join(tree, 'own/link'));
  fs.chmodSync(path.join(tree, 'own/big.bin'), 0o600);
  fs.chownSync(path.join(tree, 'own/deep/er/small'), 1234, 5678);
  // FAT keeps no symlinks, owners or modes: its tree is the same without the symlinks.
  ok(sh('cp', ['-a', tree, fatTree]), 'cp -a');
  ok(sh('find', [fatTree, '-type', 'l', '-delete']), 'find -delete');
});

// This test once found ext4 corruption: after `git gc` and a remount, .git/index read back as a
// directory block of a pruned objects/xx directory (a freed, journalled directory block was
// checkpointed over file data that had reused it). It must stay clean.
test('ext4: git init, add, commit, mv, gc, fsck --full', { skip: SKIP }, async (t: TestContext) => {
  let unsupported = false;
  await onMount('ext4', () => {
    // git replaces its index and refs by rename(2): without rename nothing else is meaningful.
    fs.writeFileSync(path.join(mnt, 'r1'), 'x');
    try { fs.renameSync(path.join(mnt, 'r1'), path.join(mnt, 'r2')); fs.unlinkSync(path.join(mnt, 'r2')); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EOPNOTSUPP') throw e;
      fs.unlinkSync(path.join(mnt, 'r1'));
      unsupported = true;
      return;
    }
    const repo = path.join(mnt, 'repo');
    const git = (...a: string[]) => ok(sh('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', '-c', 'init.defaultBranch=main', ...a], { cwd: repo }), `git ${a.join(' ')}`);
    fs.mkdirSync(repo);
    git('init', '-q');
    ok(sh('cp', ['-a', path.join(tree, 'own'), ...fs.readdirSync(tree).slice(0, 10).map((d) => path.join(tree, d)), repo]), 'cp -a into repo');
    git('add', '-A');
    git('commit', '-q', '-m', 'first');
    git('mv', 'own/big.bin', 'own/moved.bin');
    fs.appendFileSync(path.join(repo, 'own/deep/er/small'), 'more\n');
    git('commit', '-q', '-a', '-m', 'second');
    git('fsck', '--full', '--strict');
    git('gc', '-q');
    git('fsck', '--full', '--strict');
    assert.equal(git('status', '--porcelain'), '', 'git status after commit: got changes, want none');
  });
  if (unsupported) { t.todo('ext4 rename answers EOPNOTSUPP (rename support in progress)'); return; }
  // After a remount the repository is still whole and the working tree matches HEAD.
  await onMount('ext4', () => {
    const repo = path.join(mnt, 'repo');
    ok(sh('git', ['fsck', '--full', '--strict'], { cwd: repo }), 'git fsck after remount');
    const n = ok(sh('git', ['rev-list', '--count', 'HEAD'], { cwd: repo }), 'git rev-list').trim();
    assert.equal(n, '2', `commits: got ${n}, want 2`);
    assert.equal(ok(sh('git', ['status', '--porcelain'], { cwd: repo }), 'git status'), '', 'git status after remount: got changes, want none');
    assert.ok(fs.readFileSync(path.join(repo, 'own/moved.bin')).equals(pattern(3_000_000, 11)), 'moved.bin: got different bytes');
  });
});

const SQL_FILL = [
  'PRAGMA journal_mode=DELETE;',
  'CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB);',
  // 10 transactions of 1000 rows: each commit goes through the rollback journal and fsync.
  ...Array.from({ length: 10 }, (_, i) =>
    `BEGIN; INSERT INTO t(k, v) SELECT 'k' || (${i * 1000} + x), randomblob(100 + x % 300) FROM ` +
    `(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT x FROM c); COMMIT;`),
  'BEGIN; DELETE FROM t WHERE id % 7 = 0; UPDATE t SET v = randomblob(500) WHERE id % 11 = 0; COMMIT;',
  'CREATE INDEX tv ON t(length(v));',
  'VACUUM;',
  'PRAGMA integrity_check;',
  'SELECT count(*) FROM t;',
].join('\n');
const SQL_CHECK = "PRAGMA integrity_check; SELECT count(*) FROM t; SELECT count(*) FROM t WHERE k LIKE 'k%';";
const ROWS = String(10000 - Math.floor(10000 / 7));

for (const k of ['ext4', 'vfat'] as Kind[]) {
  test(`${k}: sqlite3 database, 10k rows in transactions, integrity_check`, { skip: SKIP }, async () => {
    await onMount(k, () => {
      const out = ok(sh('sqlite3', [path.join(mnt, 'test.db')], { input: SQL_FILL }), 'sqlite3 fill').trim().split('\n');
      assert.deepEqual(out.slice(-2), ['ok', ROWS], `integrity_check and count: got ${out.slice(-2).join(' ')}, want ok ${ROWS}`);
    });
    await onMount(k, () => {
      const out = ok(sh('sqlite3', [path.join(mnt, 'test.db')], { input: SQL_CHECK }), 'sqlite3 check').trim().split('\n');
      assert.deepEqual(out, ['ok', ROWS, ROWS], `after remount: got ${out.join(' ')}, want ok ${ROWS} ${ROWS}`);
    });
  });

  test(`${k}: rsync ${k === 'ext4' ? '-a' : '-rt'} of a real tree, diff -r, second rsync copies nothing`, { skip: SKIP }, async () => {
    const src = k === 'ext4' ? tree : fatTree;
    // FAT stores mtimes in 2 s steps, so rsync must be told to allow that.
    const flags = k === 'ext4' ? ['-a', '-H'] : ['-rt', '--modify-window=1'];
    const dst = path.join(mnt, 'rs');
    await onMount(k, () => {
      ok(sh('rsync', [...flags, src + '/', dst + '/']), 'rsync');
      ok(sh('diff', ['-r', '--no-dereference', src, dst]), 'diff -r');
      if (k === 'ext4') sameListing(listing(dst, 'ns'), listing(src, 'ns'), 'find listing after rsync -a');
    });
    await onMount(k, () => {
      ok(sh('diff', ['-r', '--no-dereference', src, dst]), 'diff -r after remount');
      const again = ok(sh('rsync', [...flags, '-i', src + '/', dst + '/']), 'second rsync');
      assert.equal(again.trim(), '', `second rsync: got transfers, want none:\n${again}`);
    });
  });

  test(`${k}: tar extract onto the mount and create from it`, { skip: SKIP }, async () => {
    const src = k === 'ext4' ? tree : fatTree;
    const inTar = path.join(work, `${k}-in.tar`), outTar = path.join(work, `${k}-out.tar`), out = path.join(work, `${k}-untar`);
    ok(sh('tar', ['-C', src, '-cf', inTar, '.']), 'tar -c of the source');
    const dst = path.join(mnt, 'tar');
    await onMount(k, () => {
      fs.mkdirSync(dst);
      // FAT cannot take owners or modes: tar would report every chown/chmod as an error.
      ok(sh('tar', ['-C', dst, ...(k === 'ext4' ? ['-xpf'] : ['--no-same-owner', '--no-same-permissions', '-xf']), inTar]), 'tar -x onto the mount');
      ok(sh('diff', ['-r', '--no-dereference', src, dst]), 'diff -r of the extracted tree');
      if (k === 'ext4') sameListing(listing(dst, 's'), listing(src, 's'), 'find listing after tar -x');
    });
    await onMount(k, () => {
      ok(sh('tar', ['-C', dst, '-cf', outTar, '.']), 'tar -c from the mount');
    });
    fs.mkdirSync(out);
    ok(sh('tar', ['-C', out, '-xpf', outTar]), 'tar -x of the archive made from the mount');
    ok(sh('diff', ['-r', '--no-dereference', src, out]), 'diff -r of the round trip');
    if (k === 'ext4') sameListing(listing(out, 's'), listing(src, 's'), 'find listing after the round trip');
  });
}
