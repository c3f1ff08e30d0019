/*
 * Fixtures for the ext4 read tests: source trees, images made from them by e2fsprogs at test
 * time (mke2fs -d, no root needed), and a kernel booted here with the image as /dev/vda.
 *
 * Every image is built by an exact command line (IMAGE_RECIPES) into a fresh directory under
 * /tmp (or /dev/shm) and removed afterwards. The kernel is the real one (tmpfs root, drivers,
 * virtio_blk, ext4) with the syscall table, driven through the public sys/fs API.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { createHash } from 'node:crypto';
import { Kernel } from '../../src/kernel/index.js';
import { LklKernel } from '../../src/lkl.js';
import { createNodeHost } from '../../src/arch/node/index.js';
import { createTmpfsType } from '../../src/fs/tmpfs/index.js';
import { driversInitcall, blockInitcall, diskAdd, diskReady, resolveBdev } from '../../src/drivers/index.js';
import { syscallTable, hooks } from '../../src/syscalls/index.js';
import { ext4Initcall } from '../../src/fs/ext4/index.js';
import type { DiskBackend } from '../../src/arch/host.js';

export const E2FS = ['mke2fs', 'debugfs', 'e2fsck'].every((t) => spawnSync('which', [t]).status === 0);
export const IS_ROOT = process.getuid?.() === 0;
export const IN_CI = process.env.CI === 'true';

export function tmpdir(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, prefix));
}

export function sha256(data: Uint8Array): string { return createHash('sha256').update(data).digest('hex'); }
export function fileSha256(p: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(p, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally { fs.closeSync(fd); }
  return h.digest('hex');
}

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

/**
 * The source tree copied into every image: sizes around block boundaries, a sparse file,
 * a deep path, a wide directory, hard links, symlinks (fast and slow), a FIFO, and files with
 * nanosecond and post-2038 timestamps and non-root owners (owners only when running as root).
 */
export function makeSourceTree(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const w = (rel: string, data: Buffer | string) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  };
  w('empty', '');
  w('small.txt', 'hello, ext4\n');
  for (const n of [1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537]) w(`sizes/f${n}`, pattern(n, n));
  w('big/one-mib', pattern(1 << 20, 11));
  w('big/three-mib-plus', pattern(3 * (1 << 20) + 123, 12));
  // Sparse: data, 20 MiB hole, data, hole to the end.
  const sp = path.join(dir, 'sparse');
  const fd = fs.openSync(sp, 'w');
  fs.writeSync(fd, pattern(5000, 3), 0, 5000, 0);
  fs.writeSync(fd, pattern(9000, 4), 0, 9000, 20 * (1 << 20));
  fs.ftruncateSync(fd, 40 * (1 << 20));
  fs.closeSync(fd);
  // Over 4 GiB: data at 0 and at 4.5 GiB, size 5 GiB (HUGE_OFFSETS).
  const hf = fs.openSync(path.join(dir, 'huge-sparse'), 'w');
  for (const off of HUGE_OFFSETS) fs.writeSync(hf, pattern(9000, off % 9973), 0, 9000, off);
  fs.ftruncateSync(hf, 5 * 2 ** 30);
  fs.closeSync(hf);
  // 2000 one-run extents: a tree of depth 2 with 1 KiB and 4 KiB blocks alike.
  const fr = fs.openSync(path.join(dir, 'fragmented'), 'w');
  for (let i = 0; i < 2000; i++) fs.writeSync(fr, pattern(4096, 1000 + i), 0, 4096, i * 8192);
  fs.closeSync(fr);
  let deep = 'deep';
  for (let i = 0; i < 24; i++) deep = path.join(deep, `level${i}`);
  w(path.join(deep, 'leaf.txt'), 'bottom\n');
  for (let i = 0; i < 300; i++) w(`wide/entry-${String(i).padStart(4, '0')}`, `${i}\n`);
  w('links/target', 'linked\n');
  fs.linkSync(path.join(dir, 'links/target'), path.join(dir, 'links/hard1'));
  fs.linkSync(path.join(dir, 'links/target'), path.join(dir, 'links/hard2'));
  fs.symlinkSync('target', path.join(dir, 'links/fast'));
  fs.symlinkSync('x'.repeat(200), path.join(dir, 'links/slow'));
  spawnSync('mkfifo', [path.join(dir, 'fifo')]);
  w('times/ns', 'ns\n');
  w('times/y2100', '2100\n');
  w('times/y1960', '1960\n');
  fs.utimesSync(path.join(dir, 'times/ns'), new Date('2001-02-03T04:05:06.123Z'), new Date('2001-02-03T04:05:06.789Z'));
  execFileSync('touch', ['-h', '-m', '-d', '2001-02-03 04:05:06.123456789', path.join(dir, 'times/ns')]);
  execFileSync('touch', ['-h', '-m', '-d', '2100-01-01 00:00:00.5', path.join(dir, 'times/y2100')]);
  execFileSync('touch', ['-h', '-m', '-d', '1960-06-01 12:00:00', path.join(dir, 'times/y1960')]);
  w('modes/suid', '#!/bin/sh\n');
  fs.chmodSync(path.join(dir, 'modes/suid'), 0o4755);
  w('modes/private', 'p\n');
  fs.chmodSync(path.join(dir, 'modes/private'), 0o600);
  if (IS_ROOT) {
    w('owners/big-ids', 'ids\n');
    fs.lchownSync(path.join(dir, 'owners/big-ids'), 100000, 200000);
    execFileSync('mknod', [path.join(dir, 'owners/chr'), 'c', '1', '3']);
    execFileSync('mknod', [path.join(dir, 'owners/blk-new'), 'b', '259', '300000']);
  }
}

/** Where huge-sparse has data (9000 bytes each); read back by range instead of whole. */
export const HUGE_OFFSETS = [0, 4.5 * 2 ** 30];

/** Compare `p` in our kernel with `hostPath` at the data ranges of huge-sparse and around them. */
export async function compareRanges(lkl: LklKernel, p: string, hostPath: string): Promise<string | null> {
  const fd = await lkl.sys.open(p, 0, 0);
  if (fd < 0) return `open ${p}: ${fd}`;
  const hfd = fs.openSync(hostPath, 'r');
  try {
    for (const off of [...HUGE_OFFSETS, 2 ** 32 - 4096, 2 ** 32 + 5]) {
      const a = new Uint8Array(12000), b = Buffer.alloc(12000);
      const n = await lkl.sys.pread64(fd, a, a.length, off);
      const m = fs.readSync(hfd, b, 0, b.length, off);
      if (n !== m || sha256(a.subarray(0, n)) !== sha256(b.subarray(0, m))) return `${p} at ${off}: got ${n} bytes, want ${m} (or contents differ)`;
    }
  } finally { fs.closeSync(hfd); await lkl.sys.close(fd); }
  return null;
}

export interface Recipe { name: string; fstype: 'ext2' | 'ext3' | 'ext4'; args: string[]; sizeMiB: number }

/** The feature sets under test: exact mke2fs arguments. */
export const IMAGE_RECIPES: Recipe[] = [
  { name: 'ext4-default', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096'], sizeMiB: 96 },
  { name: 'ext4-no-metadata_csum', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum'], sizeMiB: 96 },
  { name: 'ext4-no-64bit', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-O', '^64bit'], sizeMiB: 96 },
  { name: 'ext4-1k', fstype: 'ext4', args: ['-t', 'ext4', '-b', '1024'], sizeMiB: 96 },
  { name: 'ext3-1k', fstype: 'ext3', args: ['-t', 'ext3', '-b', '1024'], sizeMiB: 96 },
  { name: 'ext4-64k', fstype: 'ext4', args: ['-t', 'ext4', '-b', '65536'], sizeMiB: 160 },
  { name: 'ext4-meta_bg', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-O', 'meta_bg,^resize_inode'], sizeMiB: 96 },
  { name: 'ext4-sparse_super2', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-O', 'sparse_super2'], sizeMiB: 96 },
  { name: 'ext4-inline_data', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'], sizeMiB: 96 },
  { name: 'ext4-128-byte-inodes', fstype: 'ext4', args: ['-t', 'ext4', '-b', '4096', '-I', '128'], sizeMiB: 96 },
  { name: 'ext3', fstype: 'ext3', args: ['-t', 'ext3', '-b', '4096'], sizeMiB: 96 },
  { name: 'ext2', fstype: 'ext2', args: ['-t', 'ext2', '-b', '4096'], sizeMiB: 96 },
  { name: 'ext2-1k', fstype: 'ext2', args: ['-t', 'ext2', '-b', '1024'], sizeMiB: 96 },
];

/** mke2fs -F -q <args> -d <src> <img> <size>M; returns the image path. */
export function buildImage(dir: string, r: Recipe, src: string): string {
  const img = path.join(dir, `${r.name}.img`);
  const res = spawnSync('mke2fs', ['-F', '-q', ...r.args, '-d', src, img, `${r.sizeMiB}M`], {
    encoding: 'utf8', env: { ...process.env, E2FSPROGS_FAKE_TIME: '', MKE2FS_CONFIG: process.env.MKE2FS_CONFIG ?? '' },
  });
  if (res.status !== 0) throw new Error(`mke2fs ${r.args.join(' ')} failed: ${res.stderr}`);
  return img;
}

export interface Booted { lkl: LklKernel; k: Kernel; id: number; dmesg(): string; halt(): Promise<void> }

/** Boot a kernel with `image` as /dev/vda (read-only unless asked). */
export async function bootWithImage(image: string | DiskBackend, opts: { readOnly?: boolean } = {}): Promise<Booted> {
  const host = createNodeHost({ print: null });
  const k = new Kernel(host, 'mem=64M');
  await k.boot([
    { name: 'tmpfs', fn: (k) => { k.vfs.registerFilesystem(createTmpfsType('tmpfs')); k.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    driversInitcall,
    blockInitcall,
    ext4Initcall,
  ]);
  hooks.resolveBdev ??= (t, source) => resolveBdev(t.kernel, source, t);
  const backend = typeof image === 'string' ? host.openDisk!(image, { readOnly: opts.readOnly ?? true }) : image;
  const id = diskAdd(k, backend);
  await diskReady(k, id);
  const lkl = new LklKernel(k, syscallTable());
  return {
    lkl, k, id,
    dmesg: () => k.log.dmesg(),
    halt: async () => { await lkl.halt(); await backend.close?.(); },
  };
}

/** Mount /dev/vda at `target` (created); returns the mount(2) result. */
export async function mountImage(b: Booted, fstype: string, flags: number, data: string | null = null, target = '/mnt'): Promise<number> {
  await b.lkl.sys.mkdir(target, 0o755);
  return b.lkl.sys.mount('/dev/vda', target, fstype, flags, data);
}

/** Every path below `root` on the host, relative, sorted, directories included. */
export function hostWalk(root: string): string[] {
  const out: string[] = [];
  const rec = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) rec(r);
    }
  };
  rec('');
  return out.sort();
}

/** Every path below `root` in the kernel, as hostWalk. */
export async function kernelWalk(lkl: LklKernel, root: string): Promise<string[]> {
  const out: string[] = [];
  const rec = async (rel: string) => {
    const dir = rel ? `${root}/${rel}` : root;
    for (const name of await lkl.fs.readdir(dir) as string[]) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      const st = await lkl.fs.lstat(`${root}/${r}`);
      if (st.isDirectory()) await rec(r);
    }
  };
  await rec('');
  return out.sort();
}

/** A DiskBackend over a host file that counts writes (and can refuse them). */
export function fileBackend(p: string, readOnly: boolean): DiskBackend & { writes: number } {
  const fd = fs.openSync(p, readOnly ? 'r' : 'r+');
  const capacity = fs.fstatSync(fd).size;
  const b = {
    capacity, readOnly, writes: 0,
    read(buf: Uint8Array, offset: number) {
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
        if (n <= 0) throw new Error('short read');
        done += n;
      }
    },
    write(buf: Uint8Array, offset: number) {
      if (readOnly) throw new Error('read-only');
      b.writes++;
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
    },
    flush() { if (!readOnly) fs.fsyncSync(fd); },
    close() { fs.closeSync(fd); },
  };
  return b;
}
