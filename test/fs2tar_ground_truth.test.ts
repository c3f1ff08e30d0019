/*
 * fs2tar against the host kernel (issue 3, acceptance): for the generated trees and a real tree,
 * `fs2tar img out.tar` extracted by GNU tar (`tar --xattrs --xattrs-include='*' --numeric-owner
 * -xpf`, as root so owners and setuid/sticky modes are restored) must give the tree the host
 * kernel shows through a read-only loop mount of the same image: `diff -r --no-dereference` finds
 * nothing, and path by path type, mode, uid, gid, size, nlink, mtime (ns), rdev, symlink target,
 * content hash and all xattrs (user., trusted., security., system.posix_acl_*) agree, and names
 * sharing an inode on the mount share one in the extraction. atime/ctime are not compared (tar
 * cannot set them); sockets must be absent (fs2tar skips them, as GNU tar does).
 *
 * Extraction goes onto a scratch ext4 loop mount, so the target stores every xattr namespace and
 * value size the image holds, whatever filesystem /tmp is.
 *
 * The generated recipes are used without /sparse/huge (TreeOptions.hugeSparse = false): fs2tar
 * archives a sparse file with its zeros, so that one path alone makes a 5 GiB archive and a 5 GiB
 * extraction (about 45 s just to stream it here), beyond this test's time budget. The >4 GiB
 * offsets are what the ground-truth suite (test/ground_truth.test.ts) checks on our kernel's reads.
 *
 * Needs root, loop devices, GNU tar and diff; skips elsewhere with the reason, fails under CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requireHost, withHostMount, withTempDir, walkHost, sha256File } from './fixtures/host.js';
import { RECIPES, buildImage, mkfsCommand, type Recipe } from './fixtures/image.js';
import { summarize } from './fixtures/walk.js';
import { runFs2tar } from './apps/fs2tar_helpers.js';
import { withScratchExt4, gnuExtract, diffR, compareExtraction, socketsOf, countLinkGroups } from './fs2tar_gt/compare.js';

const MAX_SHOWN = 60;
const CASES = ['ext4-defaults', 'ext3', 'ext4-no-metadata_csum', 'ext4-real-tree'];

function report(what: string, diffs: string[]): string {
  return `${what}: ${diffs.length} difference(s) (got: extracted archive, want: host loop mount)\n` +
    `${diffs.slice(0, MAX_SHOWN).join('\n')}${diffs.length > MAX_SHOWN ? `\n... and ${diffs.length - MAX_SHOWN} more` : ''}`;
}

/** The recipe as this test uses it: generated trees without the 5 GiB sparse file (see above). */
function variant(r: Recipe): { recipe: Recipe; note: string | null } {
  if (r.tree.kind !== 'generated' || !r.tree.opts.hugeSparse) return { recipe: r, note: null };
  return {
    recipe: { ...r, tree: { kind: 'generated', opts: { ...r.tree.opts, hugeSparse: false } } },
    note: 'without /sparse/huge (5 GiB sparse file: fs2tar writes its zeros, a 5 GiB archive; see the file comment)',
  };
}

function toolMissing(): string | null {
  for (const tool of ['tar', 'diff']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not installed`;
  if (!/GNU tar/.test(spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout ?? '')) return 'tar is not GNU tar';
  return null;
}

test('fs2tar ground truth: extracted archive equals the host loop mount', { timeout: 900_000 }, async (t) => {
  if (!requireHost(t)) return;
  const missing = toolMissing();
  if (missing) {
    if (process.env.CI === 'true') assert.fail(`CI=true but ${missing}`);
    process.stdout.write(`# skipping: ${missing}\n`);
    t.skip(missing);
    return;
  }
  await withTempDir('fs2tar-gt', async (dir) => {
    for (const name of CASES) {
      const base = RECIPES.find((r) => r.name === name);
      assert.ok(base, `recipe ${name}: got none in test/fixtures/image.ts, want it`);
      const { recipe, note } = variant(base);
      await t.test(name, async (st) => {
        const t0 = Date.now();
        if (note) { st.diagnostic(`${name}: ${note}`); process.stdout.write(`# ${name}: ${note}\n`); }
        const img = await buildImage(recipe, dir);
        const tarFile = join(dir, `${name}.tar`);
        try {
          st.diagnostic(`${mkfsCommand(recipe, img)} (${recipe.sizeMiB} MiB), populated in ${Date.now() - t0} ms`);
          const before = sha256File(img);

          const t1 = Date.now();
          const r = await runFs2tar([img, tarFile], 150_000);
          assert.equal(r.timedOut, false, `fs2tar: got no exit within 150 s, want an exit\n${r.stderr}`);
          assert.equal(r.code, 0, `fs2tar exit status: got ${r.code}, want 0\n${r.stderr}`);
          const odd = r.stderr.split('\n').filter((l) => l && !/^fs2tar: .*: socket ignored$/.test(l));
          assert.deepEqual(odd, [], `fs2tar stderr: got ${JSON.stringify(odd)}, want only "socket ignored" lines`);
          st.diagnostic(`fs2tar: ${fs.statSync(tarFile).size} bytes in ${Date.now() - t1} ms`);
          assert.equal(sha256File(img), before, 'image sha256: got changed, want unchanged');

          await withScratchExt4(join(dir, 'scratch.img'), 2048, async (scratch) => {
            const out = join(scratch, 'out');
            fs.mkdirSync(out);
            const x = gnuExtract(tarFile, out);
            assert.equal(x.status, 0, `tar -xpf exit status: got ${x.status}, want 0\n${x.unexpected.join('\n')}`);
            assert.deepEqual(x.unexpected, [], `tar messages: got ${JSON.stringify(x.unexpected.slice(0, 20))}, want none`);
            fs.rmSync(tarFile);

            await withHostMount(img, 'ro', async (mnt) => {
              const want = await walkHost(mnt);
              const got = await walkHost(out);
              const sockets = socketsOf(want);
              st.diagnostic(`host mount: ${summarize(want)}; ${countLinkGroups(want)} hard-link group(s); ${sockets.length} socket(s)`);
              st.diagnostic(`extracted:  ${summarize(got)}; ${countLinkGroups(got)} hard-link group(s)`);
              if (recipe.tree.kind === 'generated') {
                assert.ok(countLinkGroups(want) > 0, 'fixture: got no hard links on the mount, want some (the generated tree has them)');
                assert.ok(sockets.length > 0, 'fixture: got no socket on the mount, want one');
              }

              const d = diffR(mnt, out);
              assert.deepEqual(d.lines, [], report('diff -r --no-dereference mount extracted', d.lines));
              assert.equal(d.socketsOnlyInWant.length, sockets.length,
                `diff -r: sockets only on the mount: got ${d.socketsOnlyInWant.length}, want ${sockets.length}`);

              const diffs = compareExtraction(got, want);
              assert.deepEqual(diffs, [], report('metadata', diffs));
            });
          });
          st.diagnostic(`${name}: done in ${Date.now() - t0} ms`);
        } finally {
          fs.rmSync(img, { force: true });
          fs.rmSync(tarFile, { force: true });
        }
      });
    }
  });
});
