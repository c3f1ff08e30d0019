/*
 * ext2/ext3/ext4 read-only: for each feature set of IMAGE_RECIPES, an image built by
 * `mke2fs -d` from a generated source tree is mounted in our kernel and every path is compared
 * with the source tree: the names in every directory, mode, uid, gid, size, nlink, mtime in ns,
 * file contents (sha256), symlink targets, device numbers. Also: statfs against dumpe2fs's
 * counts, SEEK_DATA/SEEK_HOLE on a sparse file, writes refused with EROFS, the mount message,
 * and the image file unchanged afterwards.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { MAJOR, MINOR } from '../../src/uapi/stat.js';
import { EROFS } from '../../src/uapi/errno.js';
import { O_RDONLY, O_WRONLY, O_CREAT, SEEK_DATA, SEEK_HOLE } from '../../src/uapi/fcntl.js';
import {
  E2FS, IMAGE_RECIPES, tmpdir, makeSourceTree, buildImage, bootWithImage, mountImage, hostWalk,
  kernelWalk, sha256, fileSha256, compareRanges,
} from './fixtures.js';

const skip = E2FS ? false : 'e2fsprogs (mke2fs) not installed';
const work = E2FS ? tmpdir('ext4-read-') : '';
const src = path.join(work, 'src');
if (E2FS) makeSourceTree(src);
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

function dumpe2fs(img: string): Record<string, string> {
  const r = spawnSync('dumpe2fs', ['-h', img], { encoding: 'utf8' });
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

for (const recipe of IMAGE_RECIPES) {
  test(`${recipe.name}: every path reads as the source tree`, { skip }, async () => {
    const img = buildImage(work, recipe, src);
    const before = fileSha256(img);
    const b = await bootWithImage(img, { readOnly: true });
    try {
      const r = await mountImage(b, recipe.fstype, MS_RDONLY);
      assert.equal(r, 0, `mount got ${r}, want 0\n${b.dmesg()}`);
      const dm = b.dmesg();
      const uuid = dumpe2fs(img)['Filesystem UUID'];
      const journal = recipe.fstype !== 'ext2';
      assert.match(dm, new RegExp(`EXT4-fs \\(vda\\): mounted filesystem ${uuid} ro with${journal ? ' ordered data mode' : 'out journal'}\\. Quota mode: none\\.`));

      // Names: everything the host sees (lost+found is the image's own).
      const want = hostWalk(src);
      const got = (await kernelWalk(b.lkl, '/mnt')).filter((p) => !p.startsWith('lost+found'));
      assert.deepEqual(got, want, 'directory listings differ');

      // mke2fs -d with inline_data stores a sparse file's size wrongly (e2fsprogs 1.47.0):
      // the image, not the source, is what Linux would read there.
      const mkfsBug = (rel: string) => (rel === 'sparse' || rel === 'huge-sparse') && recipe.args.includes('inline_data');
      const bs = Number(dumpe2fs(img)['Block size']);
      for (const rel of want) {
        if (mkfsBug(rel)) continue;
        const h = fs.lstatSync(path.join(src, rel), { bigint: true });
        const g = await b.lkl.fs.lstat(`/mnt/${rel}`);
        const what = `${recipe.name}:${rel}`;
        assert.equal(g.mode.toString(8), Number(h.mode).toString(8), `${what} mode`);
        assert.equal(g.uid, Number(h.uid), `${what} uid`);
        assert.equal(g.gid, Number(h.gid), `${what} gid`);
        assert.equal(g.nlink, Number(h.nlink), `${what} nlink`);
        if (!g.isDirectory()) assert.equal(g.size, Number(h.size), `${what} size`);
        if (g.isCharacterDevice() || g.isBlockDevice()) {
          // glibc's dev_t encoding on the host, the kernel's MKDEV in ours.
          const hr = h.rdev;
          const major = Number(((hr >> 8n) & 0xfffn) | ((hr >> 32n) & ~0xfffn));
          const minor = Number((hr & 0xffn) | ((hr >> 12n) & ~0xffn));
          assert.deepEqual([MAJOR(g.rdev), MINOR(g.rdev)], [major, minor], `${what} rdev`);
        }
        // Times: mke2fs -d stores file times in whole seconds, truncated to 32 bits (a 2100
        // mtime becomes 1963), and gives directories its own clock; timestamps.test covers ns.
        if (!g.isDirectory()) {
          const hs = h.mtimeNs / 1_000_000_000n - (h.mtimeNs < 0n && h.mtimeNs % 1_000_000_000n !== 0n ? 1n : 0n);
          const want32 = BigInt.asIntN(32, hs);
          assert.equal(g.mtimeNs, want32 * 1_000_000_000n, `${what} mtime`);
        }
        if (rel === 'huge-sparse') {
          const bad = await compareRanges(b.lkl, `/mnt/${rel}`, path.join(src, rel));
          assert.equal(bad, null, bad ?? '');
        } else if (g.isFile()) {
          const data = await b.lkl.fs.readFile(`/mnt/${rel}`) as Uint8Array;
          assert.equal(sha256(data), sha256(fs.readFileSync(path.join(src, rel))), `${what} content`);
        } else if (g.isSymbolicLink()) {
          const buf = new Uint8Array(4096);
          const n = await b.lkl.sys.readlink(`/mnt/${rel}`, buf, buf.length);
          assert.equal(Buffer.from(buf.subarray(0, Math.max(n, 0))).toString(), fs.readlinkSync(path.join(src, rel)), `${what} link`);
        }
      }

      // Sparse file: data and holes where the host put them.
      const fd = await b.lkl.sys.open('/mnt/sparse', O_RDONLY, 0);
      assert.ok(fd >= 0, `open sparse: got ${fd}`);
      const roundUp = (n: number) => Math.ceil(n / bs) * bs;
      assert.equal(await b.lkl.sys.lseek(fd, 0, SEEK_HOLE), roundUp(5000), 'first hole');
      assert.equal(await b.lkl.sys.lseek(fd, 100, SEEK_DATA), 100, 'data at 100');
      assert.equal(await b.lkl.sys.lseek(fd, roundUp(5000), SEEK_DATA), 20 << 20, 'second data');
      assert.equal(await b.lkl.sys.lseek(fd, 20 << 20, SEEK_HOLE), roundUp((20 << 20) + 9000), 'second hole');
      assert.equal(await b.lkl.sys.lseek(fd, 21 << 20, SEEK_DATA), -6 /* ENXIO */, 'no data after the last extent');
      await b.lkl.sys.close(fd);

      // Read-only: writes refused.
      assert.equal(await b.lkl.sys.open('/mnt/small.txt', O_WRONLY, 0), -EROFS, 'open for write');
      assert.equal(await b.lkl.sys.open('/mnt/newfile', O_WRONLY | O_CREAT, 0o644), -EROFS, 'create');
      assert.equal(await b.lkl.sys.mkdir('/mnt/newdir', 0o755), -EROFS, 'mkdir');

      // statfs as Linux computes it.
      const st = {} as Record<string, number>;
      assert.equal(await b.lkl.sys.statfs('/mnt', st), 0);
      const d = dumpe2fs(img);
      assert.equal(st.bsize, Number(d['Block size']), 'f_bsize');
      assert.equal(st.files, Number(d['Inode count']), 'f_files');
      assert.equal(st.ffree, Number(d['Free inodes']), 'f_ffree');
      assert.equal(st.bfree, Number(d['Free blocks']), 'f_bfree');
      assert.equal(st.namelen, 255);

      assert.equal(await b.lkl.sys.umount2('/mnt', 0), 0, 'umount');
    } finally {
      await b.halt();
    }
    assert.equal(fileSha256(img), before, 'image file modified');
    fs.rmSync(img);
  });
}

