/*
 * The bounded dcache (src/fs/vfs/dentry.ts) and the shrinker registry it uses (src/mm).
 *
 * A read-only ext4 image with a few thousand files, built by mkfs.ext4 -d from a host tree, is
 * walked under a small mem=: the reclaimable dcache must stay under its bound while every stat,
 * read and readlink still gives what the host tree holds (the oracle), before and after the
 * dentries were dropped and read back from disk. Dentries something uses (an open file, the
 * cwd, a mountpoint, a chroot) must survive the pressure; hard links must keep one inode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { boot, type LklKernel } from '../../../../src/lkl.js';
import { createNodeHost } from '../../../../src/arch/node/index.js';
import type { Kernel } from '../../../../src/kernel/index.js';
import { MemoryBudget, PAGE_SIZE, type Shrinker } from '../../../../src/mm/index.js';
import { Dentry, dHashed, type Mount } from '../../../../src/fs/vfs/index.js';
import { O_RDONLY, O_DIRECTORY } from '../../../../src/uapi/fcntl.js';
import { MS_RDONLY } from '../../../../src/uapi/mount.js';

const HAS_MKFS = spawnSync('which', ['mkfs.ext4']).status === 0;
const DIRS = 6, FILES = 500;

/** A host tree: DIRS directories of FILES small files each, plus links of every kind. */
function makeTree(dir: string): void {
  for (let d = 0; d < DIRS; d++) {
    fs.mkdirSync(path.join(dir, `d${d}`, 'sub'), { recursive: true });
    for (let f = 0; f < FILES; f++) fs.writeFileSync(path.join(dir, `d${d}`, `f${f}`), `file ${d}/${f}\n`.repeat(1 + (f % 7)));
  }
  fs.linkSync(path.join(dir, 'd0', 'f1'), path.join(dir, 'd5', 'hard'));
  fs.symlinkSync('../d0/f2', path.join(dir, 'd1', 'sym'));
  fs.mkdirSync(path.join(dir, 'mp'));
}

interface Fixture { k: LklKernel; kern: Kernel; mnt: string; src: string; cleanup(): Promise<void> }

async function setup(mem: string): Promise<Fixture> {
  const tmp = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'dcache-'));
  const src = path.join(tmp, 'src');
  makeTree(src);
  const img = path.join(tmp, 'img');
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-d', src, '-N', '8192', img, '16M'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mkfs.ext4: got status ${r.status} (${r.stderr}), want 0`);
  const k = await boot({ cmdline: `mem=${mem}`, host: createNodeHost({ print: null }) });
  await k.fs.mkdir('/proc');
  assert.equal(await k.sys.mount('proc', '/proc', 'proc', 0, null), 0, 'mount /proc: got an error, want 0');
  const kern = (k as unknown as { k: Kernel }).k;
  const id = await k.diskAdd({ path: img, readOnly: true });
  const mnt = await k.mountDev(id, { fstype: 'ext4', flags: MS_RDONLY });
  return {
    k, kern, mnt, src,
    async cleanup() { await k.sys.chdir('/'); await k.halt(); fs.rmSync(tmp, { recursive: true, force: true }); },
  };
}

/** lstat every object below `root` (getdents order), with the host's answer beside ours. */
async function walk(f: Fixture, onFile?: (rel: string) => Promise<void>): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const rec = async (rel: string): Promise<void> => {
    for (const name of (await f.k.fs.readdir(path.posix.join(f.mnt, rel))) as string[]) {
      if (name === 'lost+found') continue;
      const r = path.posix.join(rel, name);
      const st = await f.k.fs.lstat(path.posix.join(f.mnt, r));
      seen.set(r, `${st.ino} ${st.mode.toString(8)} ${st.nlink} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) await rec(r);
      else if (onFile) await onFile(r);
    }
  };
  await rec('');
  return seen;
}

function ext4Mount(kern: Kernel): Mount {
  for (const m of kern.vfs.mounts) if (m.sb.type.name === 'ext4') return m;
  throw new Error('no ext4 mount');
}

/** Dentries cached below `d` (itself excluded). */
function cachedBelow(d: Dentry): number {
  let n = 0;
  for (const c of d.children.values()) n += 1 + cachedBelow(c);
  return n;
}

test('the shrinker registry spreads pressure over caches by size and carries fractions over', () => {
  const mem = new MemoryBudget(64 * PAGE_SIZE, 0);
  let cachePages = 40;
  mem.tryCharge('cached', 40);
  mem.registerShrinker((want) => { const n = Math.min(want, cachePages); cachePages -= n; mem.uncharge('cached', n); return n; });
  let slab = 20;
  mem.tryCharge('slab', 20);
  const s: Shrinker = {
    name: 'test', kind: 'slab', countPages: () => slab,
    scan: (n) => { const m = Math.min(n, slab); slab -= m; mem.uncharge('slab', m); return m; },
  };
  mem.registerShrinker(s);
  assert.equal(mem.reclaimable('slab'), 20, `reclaimable: got ${mem.reclaimable('slab')}, want 20`);
  // 4 free pages; 30 one-page charges need 26 pages back: a third of them from the slab cache.
  for (let i = 0; i < 30; i++) mem.charge('kernel', 1);
  const fromSlab = 20 - slab, fromCache = 40 - cachePages;
  assert.equal(fromSlab + fromCache, 26, `pages reclaimed: got ${fromSlab + fromCache}, want 26`);
  assert.ok(fromSlab >= 6 && fromSlab <= 10, `slab share of 26 pages: got ${fromSlab}, want about a third (6..10)`);
  // More than the page cache holds: the object cache gives the rest.
  const [c0, s0] = [cachePages, slab];
  mem.charge('kernel', c0 + 2);
  assert.equal(c0 + s0 - cachePages - slab, c0 + 2, `pages reclaimed: got ${c0 + s0 - cachePages - slab}, want ${c0 + 2}`);
  assert.ok(s0 - slab >= 2, `slab pages given: got ${s0 - slab}, want >= 2`);
  assert.ok(mem.tryChargeReclaim('kernel', 1000) === false, 'tryChargeReclaim beyond everything: got true, want false');
});

test('a walk of a large ext4 tree under mem=8M keeps the dcache bounded and answers like the host', { skip: HAS_MKFS || process.env.CI ? false : 'mkfs.ext4 (e2fsprogs) not installed' }, async () => {
  const f = await setup('8M');
  try {
    const dc = f.kern.vfs.dcache;
    let maxSeen = 0;
    const first = await walk(f, async () => { maxSeen = Math.max(maxSeen, dc.count); });
    const total = DIRS * (FILES + 2) + 3;
    assert.equal(first.size, total, `objects walked: got ${first.size}, want ${total}`);
    assert.ok(maxSeen <= dc.max, `dentries on the LRU during the walk: got ${maxSeen}, want <= ${dc.max}`);
    assert.ok(dc.pruned > 0, `dentries reclaimed: got ${dc.pruned}, want > 0`);
    const m = ext4Mount(f.kern);
    const below = cachedBelow(m.root);
    assert.ok(below <= dc.max, `dentries cached in the ext4 tree: got ${below}, want <= ${dc.max} (of ${total})`);
    const sbi = m.sb as unknown as { icache: Map<number, unknown> };
    assert.ok(sbi.icache.size <= dc.count + 1100, `inode cache: got ${sbi.icache.size}, want <= ${dc.count + 1100}`);
    const slab = f.kern.mem.pages('slab');
    assert.ok(slab <= Math.ceil((dc.count * 1536) / PAGE_SIZE), `slab pages: got ${slab}, want what ${dc.count} dentries are charged`);

    // Host oracle: sizes, link counts, types, contents of a sample.
    for (const [rel, line] of first) {
      const h = fs.lstatSync(path.join(f.src, rel));
      const [, mode, nlink, size] = line.split(' ');
      const want = `${h.mode.toString(8)} ${h.nlink} ${h.isDirectory() ? size : h.size}`;
      assert.equal(`${mode} ${nlink} ${size}`, want, `${rel}: got ${mode} ${nlink} ${size}, want ${want}`);
    }
    // Second walk: everything read back from disk where it was dropped, identical answers.
    const second = await walk(f);
    for (const [rel, line] of first) assert.equal(second.get(rel), line, `${rel} after reclaim: got ${second.get(rel)}, want ${line}`);
    for (const rel of ['d0/f1', 'd3/f499', 'd1/sym']) {
      const ours = rel.endsWith('sym') ? await f.k.fs.readlink(`${f.mnt}/${rel}`) : new TextDecoder().decode(await f.k.fs.readFile(`${f.mnt}/${rel}`) as Uint8Array);
      const host = rel.endsWith('sym') ? fs.readlinkSync(path.join(f.src, rel)) : fs.readFileSync(path.join(f.src, rel), 'utf8');
      assert.equal(ours, host, `${rel}: got ${JSON.stringify(ours)}, want ${JSON.stringify(host)}`);
    }
  } finally { await f.cleanup(); }
});

test('open files, the cwd, mountpoints, a chroot and hard links survive dcache pressure', { skip: HAS_MKFS || process.env.CI ? false : 'mkfs.ext4 (e2fsprogs) not installed' }, async () => {
  const f = await setup('8M');
  try {
    const { k, kern, mnt } = f;
    const m = ext4Mount(kern);
    // An open file, a cwd, a tmpfs mounted on an ext4 directory.
    const fd = await k.sys.open(`${mnt}/d0/f7`, O_RDONLY);
    assert.ok(fd >= 0, `open: got ${fd}, want an fd`);
    const d0 = m.root.children.get('d0')!;
    const openDentry = d0.children.get('f7')!;
    assert.equal(await k.sys.chdir(`${mnt}/d2/sub`), 0, 'chdir: got an error, want 0');
    const r = await k.sys.mount('none', `${mnt}/mp`, 'tmpfs', 0, null);
    assert.equal(r, 0, `mount tmpfs on ${mnt}/mp: got ${r}, want 0`);
    await k.fs.writeFile(`${mnt}/mp/x`, 'tmpfs data');
    const mp = m.root.children.get('mp')!;
    const hardA = (await k.fs.stat(`${mnt}/d0/f1`)).ino;

    await walk(f);
    await walk(f);
    assert.ok(kern.vfs.dcache.pruned > FILES, `dentries reclaimed: got ${kern.vfs.dcache.pruned}, want > ${FILES}`);

    // The open file's dentry is still the one in the tree, and reads work.
    assert.ok(dHashed(openDentry) && d0.children.get('f7') === openDentry, 'open file dentry: got dropped, want kept');
    const buf = new Uint8Array(64);
    const n = await k.sys.read(fd, buf, buf.length);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), fs.readFileSync(path.join(f.src, 'd0/f7'), 'utf8').slice(0, 64),
      'read of the open file: got other bytes, want the host file\'s');
    assert.equal(await k.fs.readlink(`/proc/self/fd/${fd}`), `${mnt}/d0/f7`, 'readlink /proc/self/fd: got another path, want the file\'s');
    assert.equal(await k.sys.close(fd), 0);
    // cwd: relative names and getcwd.
    const cwd = new Uint8Array(256);
    const cn = await k.sys.getcwd(cwd, cwd.length);
    assert.equal(new TextDecoder().decode(cwd.subarray(0, cn - 1)), `${mnt}/d2/sub`, 'getcwd after reclaim: got another path, want the cwd');
    assert.equal((await k.fs.stat('../f3')).size, fs.statSync(path.join(f.src, 'd2/f3')).size, 'stat ../f3 from the cwd: got another size');
    assert.equal(await k.fs.readlink('/proc/self/cwd'), `${mnt}/d2/sub`, 'readlink /proc/self/cwd: got another path');
    // The mountpoint and what is mounted there.
    assert.equal(m.root.children.get('mp'), mp, 'mountpoint dentry: got replaced, want kept');
    assert.equal(new TextDecoder().decode(await k.fs.readFile(`${mnt}/mp/x`) as Uint8Array), 'tmpfs data', 'file on the tmpfs mount: got other content');
    // Hard links: one inode number, one object, link count 2.
    const a = await k.fs.stat(`${mnt}/d0/f1`), b = await k.fs.stat(`${mnt}/d5/hard`);
    assert.equal(a.ino, hardA, `inode number after reclaim: got ${a.ino}, want ${hardA}`);
    assert.equal(b.ino, a.ino, `hard link inode: got ${b.ino}, want ${a.ino}`);
    assert.equal(a.nlink, 2, `nlink: got ${a.nlink}, want 2`);
    const ia = m.root.children.get('d0')!.children.get('f1')!.inode, ib = m.root.children.get('d5')!.children.get('hard')!.inode;
    assert.equal(ia, ib, 'the two names of one inode: got two inode objects, want one');

    // A chroot into the ext4 tree: ".." stops at the new root however much was reclaimed.
    // A descriptor from outside: Linux stops ".." at the task's root even on a walk from there.
    const outside = await k.sys.open(mnt, O_RDONLY | O_DIRECTORY);
    assert.equal(await k.sys.chdir(`${mnt}/d4`), 0);
    assert.equal(await k.sys.chroot('.'), 0, 'chroot: got an error, want 0');
    const rootIno = (await k.fs.stat('/')).ino;
    await k.fs.stat('/f0');
    for (let i = 0; i < 3; i++) kern.vfs.dcache.shrinkSb(null);
    const viaFd = await k.sys.openat(outside, 'd4/sub/../..', O_RDONLY | O_DIRECTORY, 0);
    assert.ok(viaFd >= 0, `openat(outside fd, "d4/sub/../.."): got ${viaFd}, want an fd`);
    const st = {} as { ino: number };
    assert.equal(await k.sys.fstat(viaFd, st), 0);
    assert.equal(st.ino, rootIno, `".." at the chroot reached from a descriptor: got inode ${st.ino}, want the root's ${rootIno}`);
    const up = await k.fs.readdir('/../..') as string[];
    assert.ok(up.includes('f0') && up.includes('sub') && !up.includes('d0'), `readdir /../.. in the chroot: got ${up.slice(0, 5)}, want the chroot's root`);
  } finally { await f.cleanup(); }
});
