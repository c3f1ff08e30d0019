/*
 * Ground truth from the host kernel: the same image loop-mounted read-only on the host and
 * mounted in our kernel must show the same tree: every path's mode, uid, gid, size, nlink,
 * i_blocks, rdev, atime/mtime/ctime in ns, content hash, link target; and statfs (f_blocks
 * after overhead, f_bfree, f_bavail, f_files, f_ffree, f_fsid). Timestamps with nanoseconds,
 * epoch bits (after 2038) and pre-1970 values are written into inodes with debugfs so the host
 * kernel's decoding is the oracle. Needs root (loop devices): runs when CI=true, and elsewhere
 * when root; otherwise skipped with the reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { MAJOR, MINOR } from '../../src/uapi/stat.js';
import {
  E2FS, IS_ROOT, IN_CI, IMAGE_RECIPES, tmpdir, makeSourceTree, buildImage, bootWithImage, mountImage,
  hostWalk, sha256, fileSha256, compareRanges,
} from './fixtures.js';

const skip = !E2FS ? 'e2fsprogs not installed' : !IS_ROOT && !IN_CI ? 'needs root for loop mounts (runs in CI)' : false;
const work = skip ? '' : tmpdir('ext4-host-');
const src = path.join(work, 'src');
if (!skip) makeSourceTree(src);
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

/** Inode fields written by debugfs: [path, field, value]. */
const TIME_EDITS: [string, string, string][] = [
  ['/times/ns', 'mtime_extra', '0x1D6F3455'], // 123456789 ns, epoch 1
  ['/times/ns', 'atime_extra', '0x00000004'], // 1 ns
  ['/times/ns', 'ctime_extra', '0xEE6B27FC'], // 999999999 ns
  ['/times/y2100', 'mtime_lo', '0x80000000'],
  ['/times/y2100', 'mtime_extra', '0x00000001'], // 2038-01-19 + epoch: 2^31 s
  ['/times/y1960', 'mtime_lo', '0xF0000000'],
  ['/times/y1960', 'mtime_extra', '0x00000000'], // 1961, negative
  ['/small.txt', 'mtime_extra', '0x00000003'], // epoch 3, far future
];

/** Can the host kernel mount a 64 KiB-block ext4 (block size above the page size)? */
function hostSupportsBigBlocks(): boolean {
  if (skip) return false;
  const d = tmpdir('ext4-64k-probe-');
  try {
    const img = path.join(d, 'i.img');
    spawnSync('mke2fs', ['-F', '-q', '-t', 'ext4', '-b', '65536', img, '64M']);
    const m = path.join(d, 'm');
    fs.mkdirSync(m);
    const ok = spawnSync('mount', ['-o', 'loop,ro', img, m]).status === 0;
    if (ok) spawnSync('umount', [m]);
    return ok;
  } finally { fs.rmSync(d, { recursive: true, force: true }); }
}

function hostMount(img: string, mnt: string): void {
  const r = spawnSync('mount', ['-o', 'loop,ro', img, mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`host loop mount failed: ${r.stderr}`);
}
function hostUmount(mnt: string): void { spawnSync('umount', [mnt]); }

/** statfs(2) on the host via python (node's fs.statfs lacks f_fsid and f_frsize). */
function hostStatfs(p: string): { [k: string]: number | bigint; fsidBig: bigint } {
  const r = spawnSync('python3', ['-c', `import os,sys
s=os.statvfs(sys.argv[1])
print(s.f_bsize,s.f_blocks,s.f_bfree,s.f_bavail,s.f_files,s.f_ffree,s.f_namemax,s.f_fsid)`, p], { encoding: 'utf8' });
  const parts = r.stdout.trim().split(' ');
  const [bsize, blocks, bfree, bavail, files, ffree, namelen] = parts.map(Number);
  return { bsize: bsize!, blocks: blocks!, bfree: bfree!, bavail: bavail!, files: files!, ffree: ffree!, namelen: namelen!, fsidBig: BigInt(parts[7]!) };
}

for (const recipe of IMAGE_RECIPES) {
  // Linux mounts block sizes above its page size only in recent versions.
  const bigBlocks = recipe.args.includes('65536') && !hostSupportsBigBlocks() ? 'host kernel cannot mount 64 KiB blocks' : false;
  test(`${recipe.name}: same as the host kernel's loop mount`, { skip: skip || bigBlocks }, async () => {
    const img = buildImage(work, recipe, src);
    const edits = TIME_EDITS.map(([p, f, v]) => `sif ${p} ${f} ${v}`).join('\n');
    spawnSync('debugfs', ['-w', '-f', '-', img], { input: `${edits}\n`, encoding: 'utf8' });
    const mnt = fs.mkdtempSync(path.join(work, 'mnt-'));
    hostMount(img, mnt);
    const before = fileSha256(img);
    const b = await bootWithImage(img, { readOnly: true });
    try {
      assert.equal(await mountImage(b, recipe.fstype, MS_RDONLY), 0, b.dmesg());
      const paths = hostWalk(mnt);
      for (const rel of ['', ...paths]) {
        const hp = path.join(mnt, rel);
        const h = fs.lstatSync(hp, { bigint: true });
        const g = await b.lkl.fs.lstat(`/mnt/${rel}`);
        const what = `${recipe.name}:/${rel}`;
        assert.equal(g.mode, Number(h.mode), `${what} mode`);
        assert.equal(g.uid, Number(h.uid), `${what} uid`);
        assert.equal(g.gid, Number(h.gid), `${what} gid`);
        assert.equal(g.nlink, Number(h.nlink), `${what} nlink`);
        assert.equal(g.size, Number(h.size), `${what} size`);
        assert.equal(g.blocks, Number(h.blocks), `${what} blocks`);
        assert.equal(g.ino, Number(h.ino), `${what} ino`);
        assert.equal(g.mtimeNs, h.mtimeNs, `${what} mtime`);
        assert.equal(g.ctimeNs, h.ctimeNs, `${what} ctime`);
        assert.equal(g.atimeNs, h.atimeNs, `${what} atime`);
        if (g.isCharacterDevice() || g.isBlockDevice()) {
          const hr = h.rdev;
          const major = Number(((hr >> 8n) & 0xfffn) | ((hr >> 32n) & ~0xfffn));
          const minor = Number((hr & 0xffn) | ((hr >> 12n) & ~0xffn));
          assert.deepEqual([MAJOR(g.rdev), MINOR(g.rdev)], [major, minor], `${what} rdev`);
        }
        if (rel === 'huge-sparse') {
          const bad = await compareRanges(b.lkl, `/mnt/${rel}`, path.join(mnt, rel));
          assert.equal(bad, null, bad ?? '');
        } else if (g.isFile()) {
          const data = await b.lkl.fs.readFile(`/mnt/${rel}`) as Uint8Array;
          assert.equal(sha256(data), sha256(fs.readFileSync(hp)), `${what} content`);
        }
      }
      const st = {} as Record<string, number | number[]>;
      assert.equal(await b.lkl.sys.statfs('/mnt', st), 0);
      const hs = hostStatfs(mnt);
      for (const k of ['bsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'namelen'] as const) {
        assert.equal(st[k], hs[k], `statfs f_${k}`);
      }
      const fsid = st.fsid as number[];
      assert.equal(BigInt(fsid[0]!) | (BigInt(fsid[1]!) << 32n), hs.fsidBig, 'statfs f_fsid');
    } finally {
      await b.halt();
      hostUmount(mnt);
    }
    assert.equal(fileSha256(img), before, 'our mount modified the image');
    fs.rmSync(img);
  });
}
