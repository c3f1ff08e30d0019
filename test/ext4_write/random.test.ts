/*
 * Seeded random sequences of create / write (random offsets, holes, appends) / truncate / unlink /
 * mkdir / rmdir / link / rename (files, over files, directories across parents) / setxattr /
 * removexattr / fallocate (all modes) on small images (4 KiB with a journal and metadata_csum;
 * ext2 with 1 KiB blocks and block maps), checked by `e2fsck -fn` and, as root, against the host kernel's view
 * of the same image (tree_oracle.ts). A failure prints the seed; rerun with EXT4_WRITE_SEED=<seed>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withTempDir } from '../fixtures/host.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, type Tree } from './tree_oracle.js';
import { AT_FDCWD, O_CREAT, O_WRONLY, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from '../../src/uapi/fcntl.js';
import { ENODATA, ENOSPC, EOPNOTSUPP } from '../../src/uapi/errno.js';

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
      let tree: Tree;
      const log: string[] = [];
      try {
        const id = await b.api.diskAdd({ path: img });
        const m = await b.api.mountDev(id, { fstype: args.includes('ext2') ? 'ext2' : 'ext4' });
        const sys = b.k.sys;
        const bs = args.includes('1024') ? 1024 : 4096;
        const blockMapped = args.includes('ext2');
        const dirs = [''];
        const files: string[] = [];
        let n = 0;
        for (let i = 0; i < OPS; i++) {
          const op = r();
          let what = '', res = 0;
          const special = r();
          if (special < 0.08 && files.length) {
            // An attribute set (sizes from empty to half a block: in-inode or block) or removed.
            const p = pick(files);
            const name = `user.k${Math.floor(r() * 6)}`;
            if (r() < 0.3) {
              res = await sys.lremovexattr(`${m}${p}`, name);
              what = `removexattr ${p} ${name}`;
              if (res === -ENODATA) res = 0;
            } else {
              const len = Math.floor(r() ** 2 * bs / 2);
              const v = new Uint8Array(len).map((_, j) => (j * 7 + i) & 0xff);
              res = await sys.lsetxattr(`${m}${p}`, name, v, len, 0);
              what = `setxattr ${p} ${name} ${len}`;
              if (res === -ENOSPC) res = 0; // the block is full
            }
          } else if (special < 0.16 && files.length) {
            // fallocate: preallocation (with or without KEEP_SIZE), punch, zero range.
            const p = pick(files);
            const mode = pick([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE]);
            const off = Math.floor(r() * 500_000), len = 1 + Math.floor(r() ** 2 * 300_000);
            const fd = await sys.open(`${m}${p}`, O_WRONLY, 0);
            res = fd >= 0 ? await sys.fallocate(fd, mode, off, len) : fd;
            if (fd >= 0) await sys.close(fd);
            what = `fallocate ${p} mode ${mode} ${off}+${len}`;
            // Block-mapped files take only PUNCH_HOLE (Linux's ext4 answers EOPNOTSUPP).
            if (res === -EOPNOTSUPP && blockMapped && !(mode & FALLOC_FL_PUNCH_HOLE)) res = 0;
          } else if (op < 0.25 || files.length === 0) {
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
          } else if (op < 0.975) {
            if (r() < 0.5 || dirs.length === 1) {
              // A file to a new name or over another file (maybe a link to the same inode: then
              // rename does nothing and both names stay).
              const src = pick(files);
              const over = files.length > 1 && r() < 0.4;
              const dst = over ? pick(files) : `${pick(dirs)}/r${n++}`;
              res = await sys.renameat2(AT_FDCWD, `${m}${src}`, AT_FDCWD, `${m}${dst}`, 0);
              what = `rename ${src} ${dst}`;
              if (res === 0 && (await sys.faccessat(AT_FDCWD, `${m}${src}`, 0)) < 0) {
                files.splice(files.indexOf(src), 1);
                if (!files.includes(dst)) files.push(dst);
              }
            } else {
              // A directory to a new parent (EINVAL when that is inside itself).
              const src = dirs[1 + Math.floor(r() * (dirs.length - 1))]!;
              const dst = `${pick(dirs)}/m${n++}`;
              res = await sys.renameat2(AT_FDCWD, `${m}${src}`, AT_FDCWD, `${m}${dst}`, 0);
              what = `rename dir ${src} ${dst}`;
              const move = (p: string): string => (p === src || p.startsWith(`${src}/`) ? dst + p.slice(src.length) : p);
              if (res === 0) {
                for (let k = 0; k < dirs.length; k++) dirs[k] = move(dirs[k]!);
                for (let k = 0; k < files.length; k++) files[k] = move(files[k]!);
              }
            }
          } else {
            const src = pick(files);
            const p = `${pick(dirs)}/l${n++}`;
            res = await sys.linkat(AT_FDCWD, `${m}${src}`, AT_FDCWD, `${m}${p}`, 0);
            what = `link ${src} ${p}`;
            if (res === 0) files.push(p);
          }
          log.push(`${what} -> ${res < 0 ? errName(res) : res}`);
          // ENOTEMPTY is expected for rmdir; nothing else may fail.
          if (res < 0 && !(what.startsWith('rmdir') && errName(res) === 'ENOTEMPTY')
            && !(what.startsWith('rename dir') && errName(res) === 'EINVAL')) {
            assert.fail(`seed ${seed}, op ${i}: ${what}: got ${errName(res)}, want success\n${log.slice(-10).join('\n')}`);
          }
        }
        if (process.env.EXT4_WRITE_DEBUG) t.diagnostic(log.filter((l) => /f36\b|l113/.test(l)).join("\n"));
        tree = await ourTree(b.k, m);
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      await assertTreeOracle(t, tree, img, { what: `seed ${seed} (last ops: ${log.slice(-5).join('; ')})` });
    });
  });
}
