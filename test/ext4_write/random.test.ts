/*
 * Seeded random sequences of create / write (random offsets, holes, appends) / truncate / unlink /
 * mkdir / rmdir / link on small images (4 KiB with a journal and metadata_csum; ext2 with 1 KiB
 * blocks and block maps), checked by `e2fsck -fn` and, as root, against the host kernel's view
 * of the same image. A failure prints the seed; rerun with EXT4_WRITE_SEED=<seed>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, walkHost, hostSkipReason } from '../fixtures/host.js';
import { bootForDisks, walkLkl, errName } from '../fixtures/lkl.js';
import { compareTrees } from '../fixtures/walk.js';
import { AT_FDCWD, O_CREAT, O_WRONLY } from '../../src/uapi/fcntl.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4'], { allowFail: true }).code === 0;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

const OPS = Number(process.env.EXT4_WRITE_OPS ?? 400);

for (const [name, args, seed0] of [
  ['ext4 4k journal', ['-b', '4096'], 1],
  ['ext2 1k', ['-t', 'ext2', '-b', '1024'], 2],
  ['ext4 1k ^metadata_csum', ['-b', '1024', '-O', '^metadata_csum'], 3],
] as [string, string[], number][]) {
  test(`random operations (${name}) stay e2fsck-clean and match the host`, { skip: HAVE ? false : 'e2fsprogs missing', timeout: 300_000 }, async (t) => {
    const seed = Number(process.env.EXT4_WRITE_SEED ?? seed0);
    const r = rng(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
    await withTempDir('ext4rand', async (dir) => {
      const img = join(dir, 'fs.img');
      fs.writeFileSync(img, '');
      fs.truncateSync(img, 48 * 2 ** 20);
      run('mkfs.ext4', ['-q', '-F', ...args, img]);
      const b = await bootForDisks('mem=192M loglevel=8');
      if (!b) { t.skip('no disk API'); return; }
      let tree;
      const log: string[] = [];
      try {
        const id = await b.api.diskAdd({ path: img });
        const m = await b.api.mountDev(id, { fstype: args.includes('ext2') ? 'ext2' : 'ext4' });
        const sys = b.k.sys;
        const dirs = [''];
        const files: string[] = [];
        let n = 0;
        for (let i = 0; i < OPS; i++) {
          const op = r();
          let what = '', res = 0;
          if (op < 0.25 || files.length === 0) {
            const p = `${pick(dirs)}/f${n++}`;
            const fd = await sys.open(`${m}${p}`, O_CREAT | O_WRONLY, 0o644);
            what = `create ${p}`; res = fd;
            if (fd >= 0) { files.push(p); await sys.close(fd); }
          } else if (op < 0.55) {
            const p = pick(files);
            const len = Math.floor(r() ** 3 * 600_000);
            const off = Math.floor(r() * 400_000);
            const data = new Uint8Array(len).map((_, j) => (j * 31 + i) & 0xff);
            const fd = await sys.open(`${m}${p}`, O_WRONLY, 0);
            res = fd >= 0 ? await sys.pwrite64(fd, data, len, off) : fd;
            if (fd >= 0) await sys.close(fd);
            what = `pwrite ${p} ${off}+${len}`;
          } else if (op < 0.68) {
            const p = pick(files);
            const len = Math.floor(r() ** 2 * 500_000);
            res = await sys.truncate(`${m}${p}`, len);
            what = `truncate ${p} ${len}`;
          } else if (op < 0.8) {
            const k = Math.floor(r() * files.length);
            const p = files[k]!;
            res = await sys.unlink(`${m}${p}`);
            what = `unlink ${p}`;
            if (res === 0) files.splice(k, 1);
          } else if (op < 0.9) {
            const p = `${pick(dirs)}/d${n++}`;
            res = await sys.mkdir(`${m}${p}`, 0o755);
            what = `mkdir ${p}`;
            if (res === 0) dirs.push(p);
          } else if (op < 0.95 && dirs.length > 1) {
            const k = 1 + Math.floor(r() * (dirs.length - 1));
            const p = dirs[k]!;
            res = await sys.rmdir(`${m}${p}`);
            what = `rmdir ${p}`;
            if (res === 0) dirs.splice(k, 1);
          } else {
            const src = pick(files);
            const p = `${pick(dirs)}/l${n++}`;
            res = await sys.linkat(AT_FDCWD, `${m}${src}`, AT_FDCWD, `${m}${p}`, 0);
            what = `link ${src} ${p}`;
            if (res === 0) files.push(p);
          }
          log.push(`${what} -> ${res < 0 ? errName(res) : res}`);
          // ENOTEMPTY is expected for rmdir; nothing else may fail.
          if (res < 0 && !(what.startsWith('rmdir') && errName(res) === 'ENOTEMPTY')) {
            assert.fail(`seed ${seed}, op ${i}: ${what}: got ${errName(res)}, want success\n${log.slice(-10).join('\n')}`);
          }
        }
        if (process.env.EXT4_WRITE_DEBUG) t.diagnostic(log.filter((l) => /f36\b|l113/.test(l)).join("\n"));
        tree = (await walkLkl(b.k, m)).tree;
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      const f = run('e2fsck', ['-fn', img], { allowFail: true });
      assert.equal(f.code, 0, `seed ${seed}: e2fsck -fn: got exit ${f.code}, want 0\n${f.stdout}${f.stderr}\nlast ops:\n${log.slice(-15).join('\n')}`);
      const skip = hostSkipReason();
      if (skip) { if (process.env.CI) assert.fail(skip); t.diagnostic(`host comparison skipped: ${skip}`); return; }
      const host = await withHostMount(img, 'ro', walkHost);
      const diffs = compareTrees(tree, host, ['atime', 'ctime']);
      assert.equal(diffs.length, 0, `seed ${seed}: our tree (got) vs host (want):\n${diffs.slice(0, 30).join('\n')}`);
    });
  });
}
