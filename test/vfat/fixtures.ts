/*
 * Fixtures for the vfat ground-truth suite. The oracles are independent FAT implementations:
 * mkfs.fat/fsck.fat (dosfstools) and mtools (mcopy, mmd, mdir, mattrib, mtype, mshowfat), run with
 * TZ=UTC (mtools stores local time) and a UTF-8 locale (mtools converts long names through it).
 * Our side is the real kernel from boot() in src/lkl.ts with the image as a disk, mounted through
 * k.mountDev(id, { fstype: 'vfat', opts: 'tz=UTC' }).
 *
 * The driver is written concurrently with this suite, so `probeVfat()` finds out once per file
 * what it can do (mount, read, write) and the tests it cannot run yet are marked todo with the
 * reason it failed: they still run and still assert, but do not fail the run.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { boot, type LklKernel } from '../../src/lkl.js';
import { MS_RDONLY } from '../../src/uapi/mount.js';

export const IN_CI = process.env.CI === 'true';
export const TOOLS = ['mkfs.fat', 'fsck.fat', 'mcopy', 'mdir', 'mmd', 'mtype', 'mattrib', 'mshowfat']
  .every((t) => spawnSync('which', [t]).status === 0);
/** Skip reason when the host tools are missing (never skipped in CI: there they must be installed). */
export const SKIP: string | false = TOOLS || IN_CI ? false : 'dosfstools/mtools not installed';

export const ENV = { ...process.env, TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };

// Scratch directories and hashing: the same helpers as the ext4 suites'.
import { tmpdir, sha256, fileSha256 } from '../ext4/fixtures.js';
export { tmpdir, sha256, fileSha256 };

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

/** Run a host tool; throws with its output unless it exits 0 (or `allowFail`). */
export function run(cmd: string, args: string[], allowFail = false): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { env: ENV, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (!allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r;
}

/** A sparse image formatted by mkfs.fat with exactly these arguments. */
export function mkfsImage(p: string, sizeBytes: number, args: string[]): string {
  fs.rmSync(p, { force: true });
  fs.closeSync(fs.openSync(p, 'w'));
  fs.truncateSync(p, sizeBytes);
  run('mkfs.fat', [...args, p]);
  return p;
}

/** fsck.fat -n: null when clean, else its report. */
export function fsckProblems(img: string): string | null {
  const r = run('fsck.fat', ['-n', img], true);
  return r.status === 0 ? null : `fsck.fat -n exit ${r.status}:\n${r.stdout}${r.stderr}`;
}

export const mcopyIn = (img: string, srcs: string[], dest: string) => run('mcopy', ['-s', '-m', '-o', '-i', img, ...srcs, dest]);
export const mmd = (img: string, dir: string) => run('mmd', ['-i', img, dir]);

/** One file's bytes as mtools reads them (mtype -i img ::/path). */
export function mtoolsRead(img: string, p: string): Buffer {
  const r = spawnSync('mtype', ['-i', img, `::/${p}`], { env: ENV, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`mtype ::/${p}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Extract the whole volume with mtools into `out` (names, contents, mtimes as mtools reads them). */
export function mtoolsExtract(img: string, out: string): void {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  run('mcopy', ['-s', '-m', '-n', '-i', img, '::/', out + '/']);
}

export interface Entry { path: string; type: 'f' | 'd'; size: number; mtimeMs: number; sha?: string }

/** The host tree under `root` (relative paths, sorted), as mtools extracted it. */
export function hostTree(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.statSync(path.join(root, r));
      if (st.isDirectory()) { out.push({ path: r, type: 'd', size: 0, mtimeMs: st.mtimeMs }); walk(r); }
      else out.push({ path: r, type: 'f', size: st.size, mtimeMs: st.mtimeMs, sha: fileSha256(path.join(root, r)) });
    }
  };
  walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The same listing through our kernel. */
export async function kernelTree(k: LklKernel, root: string, contents = true): Promise<Entry[]> {
  const out: Entry[] = [];
  const walk = async (rel: string) => {
    for (const name of (await k.fs.readdir(rel ? `${root}/${rel}` : root)) as string[]) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await k.fs.stat(`${root}/${r}`);
      if (st.isDirectory()) { out.push({ path: r, type: 'd', size: 0, mtimeMs: st.mtimeMs }); await walk(r); }
      else {
        const e: Entry = { path: r, type: 'f', size: st.size, mtimeMs: st.mtimeMs };
        if (contents) e.sha = sha256(await k.fs.readFile(`${root}/${r}`));
        out.push(e);
      }
    }
  };
  await walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Differences between two listings as "got X, want Y" lines (directory mtimes not compared). */
export function diffTrees(got: Entry[], want: Entry[], opts: { mtimes?: boolean } = {}): string[] {
  const d: string[] = [];
  const g = new Map(got.map((e) => [e.path, e])), w = new Map(want.map((e) => [e.path, e]));
  for (const [p, e] of w) {
    const o = g.get(p);
    if (!o) { d.push(`${p}: got missing, want ${e.type} size ${e.size}`); continue; }
    if (o.type !== e.type) { d.push(`${p}: got type ${o.type}, want ${e.type}`); continue; }
    if (e.type === 'f') {
      if (o.size !== e.size) d.push(`${p}: got size ${o.size}, want ${e.size}`);
      if (e.sha && o.sha && o.sha !== e.sha) d.push(`${p}: contents differ`);
      if (opts.mtimes !== false && o.mtimeMs !== e.mtimeMs) {
        d.push(`${p}: got mtime ${new Date(o.mtimeMs).toISOString()}, want ${new Date(e.mtimeMs).toISOString()}`);
      }
    }
  }
  for (const p of g.keys()) if (!w.has(p)) d.push(`${p}: got present, want absent`);
  return d;
}

export interface Mounted { k: LklKernel; id: number; mnt: string; done(): Promise<void> }

/**
 * Boot a kernel, attach `img`, mount it as vfat. `readOnly` opens the disk read-only and mounts
 * with MS_RDONLY (with `diskWritable` only the mount is read-only: the driver itself must not
 * write). done() unmounts (flushing) and halts.
 */
export async function mountVfat(img: string, o: { readOnly?: boolean; opts?: string; diskWritable?: boolean } = {}): Promise<Mounted> {
  const k = await boot({ cmdline: 'mem=256M' });
  let id = -1, mounted = false;
  try {
    id = await k.diskAdd({ path: img, readOnly: !!o.readOnly && !o.diskWritable });
    const mnt = await k.mountDev(id, { fstype: 'vfat', flags: o.readOnly ? MS_RDONLY : 0, opts: o.opts ?? 'tz=UTC' });
    mounted = true;
    return {
      k, id, mnt,
      async done() {
        try { if (mounted) { mounted = false; await k.umountDev(id); } } finally { await k.halt(); }
      },
    };
  } catch (e) {
    await k.halt().catch(() => 0);
    throw e;
  }
}

export interface Capabilities { mount: string | false; read: string | false; write: string | false }

let probed: Promise<Capabilities> | undefined;

/**
 * What the vfat driver can do today; each field is false when it works, or the reason it does not
 * (used as the todo reason of the tests that need it).
 */
export function probeVfat(): Promise<Capabilities> {
  probed ??= (async () => {
    if (SKIP) return { mount: SKIP, read: SKIP, write: SKIP };
    const dir = tmpdir('vfat-probe-');
    const caps: Capabilities = { mount: false, read: false, write: false };
    try {
      const img = mkfsImage(path.join(dir, 'p.img'), 8 << 20, ['-i', '1']);
      fs.writeFileSync(path.join(dir, 'Hello.txt'), 'hello vfat\n');
      mcopyIn(img, [path.join(dir, 'Hello.txt')], '::/');
      let m: Mounted;
      try { m = await mountVfat(img, { readOnly: true }); } catch (e) {
        const r = `vfat mount through boot() fails: ${(e as Error).message}`;
        return { mount: r, read: r, write: r };
      }
      try {
        const names = await m.k.fs.readdir(m.mnt);
        const data = new TextDecoder().decode(await m.k.fs.readFile(`${m.mnt}/Hello.txt`));
        if (!names.includes('Hello.txt') || data !== 'hello vfat\n') caps.read = `read path broken: readdir ${JSON.stringify(names)}, content ${JSON.stringify(data)}`;
      } catch (e) { caps.read = `vfat read fails: ${(e as Error).message}`; } finally { await m.done().catch(() => 0); }
      try {
        const w = await mountVfat(img);
        try {
          await w.k.fs.writeFile(`${w.mnt}/Probe File.txt`, 'written by lkl\n');
          await w.k.fs.mkdir(`${w.mnt}/probe dir`);
        } finally { await w.done(); }
        const p = fsckProblems(img);
        const got = run('mtype', ['-i', img, '::/Probe File.txt'], true).stdout;
        if (p) caps.write = `image not clean after a write: ${p.split('\n').slice(0, 4).join(' / ')}`;
        else if (got !== 'written by lkl\n') caps.write = `mtools reads ${JSON.stringify(got)} from our write`;
      } catch (e) { caps.write = `vfat write fails: ${(e as Error).message}`; }
      if (caps.read && !caps.write) caps.write = caps.read;
      return caps;
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  })();
  return probed;
}

/** The BPB fields the corruption tests need, and FAT entry access on an image file. */
export class FatImage {
  readonly bytesPerSec: number; readonly secPerClus: number; readonly reserved: number; readonly numFats: number;
  readonly rootEntries: number; readonly fatSz: number; readonly totSec: number; readonly fatBits: 12 | 16 | 32;
  readonly clusterCount: number; readonly dataStart: number;
  constructor(readonly img: string) {
    const b = Buffer.alloc(512);
    const fd = fs.openSync(img, 'r');
    fs.readSync(fd, b, 0, 512, 0);
    fs.closeSync(fd);
    this.bytesPerSec = b.readUInt16LE(11); this.secPerClus = b[13]!; this.reserved = b.readUInt16LE(14);
    this.numFats = b[16]!; this.rootEntries = b.readUInt16LE(17);
    this.fatSz = b.readUInt16LE(22) || b.readUInt32LE(36);
    this.totSec = b.readUInt16LE(19) || b.readUInt32LE(32);
    const rootSecs = Math.ceil(this.rootEntries * 32 / this.bytesPerSec);
    this.dataStart = this.reserved + this.numFats * this.fatSz + rootSecs;
    this.clusterCount = Math.floor((this.totSec - this.dataStart) / this.secPerClus);
    this.fatBits = b.readUInt16LE(22) === 0 ? 32 : this.clusterCount < 4085 ? 12 : 16;
  }
  get clusterBytes(): number { return this.bytesPerSec * this.secPerClus; }
  clusterOffset(c: number): number { return (this.dataStart + (c - 2) * this.secPerClus) * this.bytesPerSec; }
  /** Set FAT entry `c` to `v` in every FAT copy. */
  setEntry(c: number, v: number): void {
    const fd = fs.openSync(this.img, 'r+');
    try {
      for (let i = 0; i < this.numFats; i++) {
        const base = (this.reserved + i * this.fatSz) * this.bytesPerSec;
        if (this.fatBits === 32) {
          const b = Buffer.alloc(4); b.writeUInt32LE(v & 0x0fffffff); fs.writeSync(fd, b, 0, 4, base + c * 4);
        } else if (this.fatBits === 16) {
          const b = Buffer.alloc(2); b.writeUInt16LE(v & 0xffff); fs.writeSync(fd, b, 0, 2, base + c * 2);
        } else {
          const off = base + Math.floor(c * 3 / 2);
          const b = Buffer.alloc(2); fs.readSync(fd, b, 0, 2, off);
          let w = b.readUInt16LE(0);
          w = c & 1 ? (w & 0x000f) | ((v & 0xfff) << 4) : (w & 0xf000) | (v & 0xfff);
          b.writeUInt16LE(w); fs.writeSync(fd, b, 0, 2, off);
        }
      }
    } finally { fs.closeSync(fd); }
  }
  /** Write bytes at an absolute offset. */
  poke(off: number, bytes: Uint8Array): void {
    const fd = fs.openSync(this.img, 'r+');
    try { fs.writeSync(fd, bytes, 0, bytes.length, off); } finally { fs.closeSync(fd); }
  }
}

/** A file's clusters in chain order, as mshowfat lists them ("<3-7><12>"). */
export function chainOf(img: string, p: string): number[] {
  const out: number[] = [];
  for (const r of run('mshowfat', ['-i', img, `::/${p}`]).stdout.match(/<[^>]+>/g) ?? []) {
    const [a, b] = r.slice(1, -1).split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

/** Settle `p` within `ms`, or fail as a hang. Resolves to the value or to the error's code. */
export async function settle<T>(p: Promise<T>, ms: number, what: string): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: still running after ${ms} ms (hang)`)), ms); });
  try {
    const value = await Promise.race([p, hang]);
    return { ok: true, value };
  } catch (e) {
    if ((e as Error).message?.includes('(hang)')) throw e;
    return { ok: false, code: (e as { code?: string }).code ?? String(e) };
  } finally { clearTimeout(timer); }
}
