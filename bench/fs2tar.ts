/*
 * The fs2tar bench: archive a ~1 GiB, ~30k-file ext4 image, against three peers, in one run.
 *
 * An archiver of filesystem images is judged by how fast it turns an image into a tar stream and
 * how much memory it holds while doing so. Our fs2tar boots a kernel in its process and reads
 * the image through the block layer, ext4 and the syscall API; the peers read the same image
 * three other ways:
 *
 *   host      the host kernel: `mount -o loop,ro` (not timed), then `tar -cf - -C mnt . | wc -c`
 *   debugfs   e2fsprogs in C: `debugfs -R 'rdump / dir' img`, then `tar -cf - -C dir . | wc -c`,
 *             both timed (rdump writes to tmpfs, then tar reads it back)
 *   ext2fs    the `ext2fs` npm package (libext2fs compiled to WebAssembly) walked through its
 *             fs.promises API into tar-stream, in a child process (this file, --ext2fs-worker)
 *
 * Every method runs as a child process whose stdout goes to `wc -c`, so all pay for one pipe.
 * Wall time is read around the whole pipeline; peak RSS is the producer's maximum resident set
 * as /usr/bin/time reports it (%M), the larger of the two for debugfs + tar. MB/s is the image's
 * file content (each inode's size counted once, 10^6 bytes per MB) over wall seconds; each
 * figure is the median of 3 runs, the methods interleaved round by round so that a noisy
 * moment hits all of them alike. As root, the page cache is dropped before every run of every
 * method; the image itself lives on tmpfs (/dev/shm when it has room), so the medium is RAM for
 * all and the comparison is the code path.
 *
 * The corpus is built once and cached by a content key (the chosen files' paths, sizes and
 * mtimes plus the recipe): an even sample of the files under /usr/include, /usr/share and
 * /usr/lib (see pickFiles), copied with GNU tar into a fresh
 * `mkfs.ext4` image through a loop mount as root, or via `mkfs.ext4 -d` otherwise.
 *
 *   node dist/bench/fs2tar.js [--json]             the bench alone
 *   node dist/bench/fs2tar.js --profile [-m N]     V8 CPU profile of fs2tar on the corpus
 *   FS2TAR_BENCH_METHODS=id,id node dist/bench/fs2tar.js   only those methods (ids in the table)
 *
 * Targets from issue 3 are printed beside the figures and never asserted: at least the speed
 * of the ext2fs package, within 1.5x of loop mount + GNU tar, peak RSS under mem= + 100 MB.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, table, preadFull } from './harness.js';

const RECIPE = 'v2 mkfs.ext4 defaults; stride sample of include,share,lib; GNU tar --xattrs copy';
const BYTE_BUDGET = 1 << 30;
const FILE_BUDGET = 30_000;
const ROOTS = ['/usr/include', '/usr/share', '/usr/lib'];
/** Very large files would make the corpus a handful of blobs: skip them. */
const MAX_FILE = 128 << 20;
const RUNS = 3;

const HERE = path.dirname(fileURLToPath(import.meta.url));        // dist/bench
const ROOT = path.resolve(HERE, '../..');                          // repository root
const FS2TAR = path.join(ROOT, 'dist/src/apps/fs2tar.js');
/** The node flags of fs2tar's shebang (`#!/usr/bin/env -S node FLAGS`): run as its bin runs. */
function shebangFlags(file: string): string {
  const first = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n', 1)[0]! : '';
  const m = /^#!\S*env -S node(.*)$/.exec(first);
  return m ? m[1]!.trim() : '';
}
const SELF = path.join(HERE, 'fs2tar.js');
const isRoot = process.getuid?.() === 0;

function log(msg: string): void { process.stderr.write(`${msg}\n`); }

function sh(cmd: string): string { return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }

function has(cmd: string): boolean { return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0; }

function q(s: string): string { return `'${s.replace(/'/g, `'\\''`)}'`; }

// ---------------------------------------------------------------------------------- corpus

interface Corpus { image: string; files: number; dirs: number; symlinks: number; contentBytes: number; imageBytes: number; key: string; built: boolean; buildSec: number }

/**
 * Pick the corpus: a sorted depth-first walk of ROOTS lists every file and symlink; a regular
 * stride through that list keeps FILE_BUDGET of them (so every part of the tree, small headers
 * and large libraries alike, is represented), stopping early if BYTE_BUDGET is spent; the
 * directories on the way to a kept entry come along.
 */
export function pickFiles(): { list: string[]; files: number; bytes: number } {
  const all: { p: string; size: number; id: string | null }[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try { names = fs.readdirSync(dir).sort(); } catch { return; }
    for (const n of names) {
      const p = path.join(dir, n);
      let st: fs.Stats;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (st.isDirectory()) { walk(p); continue; }
      if (st.isSymbolicLink()) { all.push({ p, size: 0, id: null }); continue; }
      if (!st.isFile() || st.size > MAX_FILE) continue;
      try { fs.accessSync(p, fs.constants.R_OK); } catch { continue; }
      all.push({ p, size: st.size, id: `${st.dev}:${st.ino}` });
    }
  };
  for (const r of ROOTS) if (fs.existsSync(r)) walk(r);
  const nFiles = all.filter((e) => e.id !== null).length;
  const step = Math.max(1, nFiles / FILE_BUDGET);
  const seen = new Set<string>();
  const dirs = new Set<string>();
  const list: string[] = [];
  let files = 0, bytes = 0, fileIdx = 0, next = 0;
  for (const e of all) {
    if (e.id === null) { if (fileIdx >= next - 1) list.push(e.p); continue; }  // symlinks near kept files
    if (fileIdx++ < next) continue;
    next += step;
    if (files >= FILE_BUDGET || bytes >= BYTE_BUDGET) break;
    for (let d = path.dirname(e.p); d !== '/' && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
    list.push(e.p);
    if (!seen.has(e.id)) { seen.add(e.id); bytes += e.size; }
    files++;
  }
  for (const l of list) for (let d = path.dirname(l); d !== '/' && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
  return { list: [...[...dirs].sort(), ...list], files, bytes };
}

function pickWorkDir(need: number): string {
  try {
    const free = fs.statfsSync('/dev/shm');
    if (free.bavail * free.bsize > need * 2 + (2 << 30)) return '/dev/shm';
  } catch { /* no /dev/shm */ }
  return os.tmpdir();
}

export function buildCorpus(): Corpus {
  const t0 = performance.now();
  const pick = pickFiles();
  const h = crypto.createHash('sha256').update(RECIPE);
  for (const p of pick.list) {
    const st = fs.lstatSync(p);
    h.update(`${p}\0${st.size}\0${st.mtimeMs}\0`);
  }
  const key = h.digest('hex').slice(0, 16);
  const imageBytes = Math.ceil((pick.bytes * 1.25 + pick.files * 8192 + (384 << 20)) / (1 << 20)) * (1 << 20);
  const dir = pickWorkDir(imageBytes);
  const image = path.join(dir, `lkl-bench-fs2tar-${key}.img`);
  const stat = { files: 0, dirs: 0, symlinks: 0 };
  for (const p of pick.list) {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) stat.dirs++; else if (st.isSymbolicLink()) stat.symlinks++; else stat.files++;
  }
  const base = { ...stat, contentBytes: pick.bytes, imageBytes, key };
  if (fs.existsSync(image)) return { image, ...base, built: false, buildSec: (performance.now() - t0) / 1e3 };
  // A stale corpus from another key is 1 GiB of tmpfs: remove it.
  for (const n of fs.readdirSync(dir)) if (/^lkl-bench-fs2tar-[0-9a-f]{16}\.img$/.test(n)) fs.rmSync(path.join(dir, n), { force: true });

  log(`fs2tar bench: building corpus ${image} (${pick.files} files, ${(pick.bytes / 1e6).toFixed(0)} MB)…`);
  const tmp = `${image}.tmp`;
  const listFile = `${image}.list`;
  fs.writeFileSync(listFile, pick.list.map((p) => `${p}\0`).join(''));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lkl-bench-fs2tar-'));
  const copy = (dest: string) => sh(`tar -cf - --no-recursion --null -T ${q(listFile)} --xattrs --xattrs-include='*' 2>/dev/null | tar -xpf - --xattrs --xattrs-include='*' -C ${q(dest)}`);
  try {
    fs.rmSync(tmp, { force: true });
    if (isRoot) {
      fs.closeSync(fs.openSync(tmp, 'w'));
      fs.truncateSync(tmp, imageBytes);
      sh(`mkfs.ext4 -q -F ${q(tmp)}`);
      const mnt = path.join(work, 'mnt');
      fs.mkdirSync(mnt);
      sh(`mount -o loop ${q(tmp)} ${q(mnt)}`);
      try { copy(mnt); } finally { sh(`umount ${q(mnt)}`); }
    } else {
      // No loop mounts without root: stage the tree and let mke2fs populate the image.
      const stage = path.join(work, 'stage');
      fs.mkdirSync(stage);
      copy(stage);
      sh(`mkfs.ext4 -q -F -d ${q(stage)} ${q(tmp)} ${imageBytes >> 20}M`);
    }
    fs.renameSync(tmp, image);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(tmp, { force: true });
    fs.rmSync(listFile, { force: true });
  }
  return { image, ...base, built: true, buildSec: (performance.now() - t0) / 1e3 };
}

// --------------------------------------------------------------------------------- methods

interface Run { sec: number; rssKiB: number; tarBytes: number }
interface Method { id: string; label: string; memMiB?: number; setup?: () => void; teardown?: () => void; run: () => Run }

const TIME = '/usr/bin/time';
const haveTime = fs.existsSync(TIME);

function dropCaches(): void {
  if (!isRoot) return;
  try { sh('sync; echo 3 > /proc/sys/vm/drop_caches'); } catch { /* a container may refuse */ }
}

/**
 * Run a bash pipeline whose producers are wrapped as `T(n) cmd`, each writing its peak RSS
 * to rss.n; the last stage must print a byte count (wc -c). Wall time covers the whole line.
 */
function timed(work: string, line: (T: (n: number) => string) => string): Run {
  const T = (n: number) => (haveTime ? `${TIME} -f %M -o ${q(path.join(work, `rss.${n}`))}` : '');
  for (const n of fs.readdirSync(work)) if (n.startsWith('rss.')) fs.rmSync(path.join(work, n));
  const cmd = `set -o pipefail; ${line(T)}`;
  dropCaches();
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  let rssKiB = 0;
  for (const n of fs.readdirSync(work)) {
    if (!n.startsWith('rss.')) continue;
    const v = Number(fs.readFileSync(path.join(work, n), 'utf8').trim().split('\n').pop());
    if (Number.isFinite(v)) rssKiB = Math.max(rssKiB, v);
  }
  return { sec, rssKiB, tarBytes: Number(r.stdout.trim()) };
}

function methods(img: string, work: string): Method[] {
  const mnt = path.join(work, 'mnt');
  const dump = path.join(work, 'rdump');
  const ours = (mem: number | null): Method => ({
    id: mem === null ? 'ours' : `ours-m${mem}`,
    label: mem === null ? 'fs2tar (ours, default mem=10M)' : `fs2tar (ours, -m ${mem})`,
    memMiB: mem ?? 10,
    run: () => timed(work, (T) => `${T(1)} ${q(process.execPath)} ${shebangFlags(FS2TAR)} ${q(FS2TAR)} -t ext4 ${mem === null ? '' : `-m ${mem}`} ${q(img)} - | wc -c`),
  });
  const list: Method[] = [ours(null), ours(256)];
  if (isRoot) {
    list.push({
      id: 'host',
      label: 'host kernel: loop mount + GNU tar',
      setup: () => { fs.mkdirSync(mnt, { recursive: true }); sh(`mount -o loop,ro ${q(img)} ${q(mnt)}`); },
      teardown: () => { sh(`umount ${q(mnt)}`); },
      run: () => timed(work, (T) => `${T(1)} tar -cf - -C ${q(mnt)} . | wc -c`),
    });
  }
  if (has('debugfs')) {
    list.push({
      id: 'debugfs',
      label: "debugfs -R 'rdump / dir' + GNU tar",
      run: () => {
        fs.rmSync(dump, { recursive: true, force: true });
        fs.mkdirSync(dump);
        try {
          return timed(work, (T) => `${T(1)} debugfs -R ${q(`rdump / ${dump}`)} ${q(img)} >/dev/null 2>&1 && ${T(2)} tar -cf - -C ${q(dump)} . | wc -c`);
        } finally { fs.rmSync(dump, { recursive: true, force: true }); }
      },
    });
  }
  if (fs.existsSync(path.join(ROOT, 'node_modules/ext2fs'))) {
    list.push({
      id: 'ext2fs',
      label: 'ext2fs npm (libext2fs WASM) + tar-stream',
      run: () => timed(work, (T) => `${T(1)} ${q(process.execPath)} ${q(SELF)} --ext2fs-worker ${q(img)} | wc -c`),
    });
  }
  return list;
}

// ----------------------------------------------------------------------------------- bench

export interface Fs2tarBenchResult {
  corpus: Corpus;
  dropCaches: boolean;
  rssSource: string;
  rows: { id: string; label: string; runs: Run[]; sec: number; mbps: number; rssMiB: number; tarBytes: number }[];
}

export async function benchFs2tar(o: { json?: boolean } = {}): Promise<Fs2tarBenchResult> {
  if (!fs.existsSync(FS2TAR)) throw new Error(`${FS2TAR} missing: run npm run build`);
  const corpus = buildCorpus();
  log(`fs2tar bench: corpus ${corpus.image}: ${corpus.files} files, ${corpus.dirs} dirs, ${corpus.symlinks} symlinks, ${(corpus.contentBytes / 1e6).toFixed(0)} MB of content${corpus.built ? `, built in ${corpus.buildSec.toFixed(0)} s` : ' (cached)'}`);
  const work = fs.mkdtempSync(path.join(path.dirname(corpus.image), 'lkl-bench-fs2tar-work-'));
  // FS2TAR_BENCH_METHODS=ours10,host (ids, comma-separated) runs a subset while iterating.
  const only = process.env.FS2TAR_BENCH_METHODS?.split(',').filter(Boolean);
  const ms = methods(corpus.image, work).filter((m) => !only || only.includes(m.id));
  const runs = new Map<string, Run[]>(ms.map((m) => [m.id, []]));
  const failed = new Map<string, string>();
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const m of ms) {
        if (failed.has(m.id)) continue;
        try {
          m.setup?.();
          try {
            const x = m.run();
            runs.get(m.id)!.push(x);
            log(`fs2tar bench: round ${r + 1}/${RUNS} ${m.id}: ${x.sec.toFixed(2)} s, ${(x.rssKiB / 1024).toFixed(0)} MiB, ${x.tarBytes} tar bytes`);
          } finally { m.teardown?.(); }
        } catch (e) {
          failed.set(m.id, e instanceof Error ? e.message : String(e));
          log(`fs2tar bench: ${m.id} failed: ${failed.get(m.id)}`);
        }
      }
    }
  } finally {
    try { if (isRoot) sh(`mountpoint -q ${q(path.join(work, 'mnt'))} && umount ${q(path.join(work, 'mnt'))} || true`); } catch { /* best effort */ }
    fs.rmSync(work, { recursive: true, force: true });
  }
  const rows = ms.filter((m) => runs.get(m.id)!.length > 0).map((m) => {
    const rs = runs.get(m.id)!;
    const sec = median(rs.map((x) => x.sec));
    return {
      id: m.id, label: m.label, runs: rs, sec,
      mbps: corpus.contentBytes / 1e6 / sec,
      rssMiB: median(rs.map((x) => x.rssKiB)) / 1024,
      tarBytes: median(rs.map((x) => x.tarBytes)),
    };
  });
  const res: Fs2tarBenchResult = { corpus, dropCaches: isRoot, rssSource: haveTime ? '/usr/bin/time %M' : 'unavailable (apt package time missing)', rows };
  if (!o.json) process.stdout.write(render(res, failed));
  return res;
}

function render(res: Fs2tarBenchResult, failed: Map<string, string>): string {
  const by = (id: string) => res.rows.find((r) => r.id === id);
  const ours = by('ours'), ours256 = by('ours-m256');
  const ratio = (a: number | undefined, b: number) => (a === undefined ? '-' : `${(a / b).toFixed(2)}x`);
  const lines = res.rows.map((r) => [
    r.label, r.sec.toFixed(2), r.mbps.toFixed(1), r.rssMiB.toFixed(0), `${(r.tarBytes / 1e6).toFixed(0)}`,
    r.id.startsWith('ours') ? '' : ratio(ours?.mbps, r.mbps),
    r.id.startsWith('ours') ? '' : ratio(ours256?.mbps, r.mbps),
  ]);
  const c = res.corpus;
  const tgt: string[] = [];
  const host = by('host'), ext2fs = by('ext2fs');
  for (const o of [ours, ours256]) {
    if (!o) continue;
    const m = o.id === 'ours' ? 'mem=10M' : 'mem=256M';
    if (ext2fs) tgt.push(`  ${m}: speed ≥ ext2fs: ${(o.mbps / ext2fs.mbps).toFixed(2)}x ${o.mbps >= ext2fs.mbps ? 'met' : 'MISSED'}`);
    if (host) tgt.push(`  ${m}: within 1.5x of host (≥ 0.67x): ${(o.mbps / host.mbps).toFixed(2)}x ${o.mbps * 1.5 >= host.mbps ? 'met' : 'MISSED'}`);
    const mem = o.id === 'ours' ? 10 : 256;
    tgt.push(`  ${m}: peak RSS < ${mem + 100} MB: ${o.rssMiB.toFixed(0)} MiB ${o.rssMiB * 1.048576 < mem + 100 ? 'met' : 'MISSED'}`);
  }
  return [
    `fs2tar bench — ${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} cpus), Node ${process.version}`,
    `corpus: ${c.image} (${(c.imageBytes / 2 ** 30).toFixed(2)} GiB image, key ${c.key}): ${c.files} files, ${c.dirs} dirs, ${c.symlinks} symlinks, ${(c.contentBytes / 1e6).toFixed(0)} MB of file content`,
    `median of ${RUNS} runs, methods interleaved; page cache ${res.dropCaches ? 'dropped before every run of every method' : 'NOT dropped (not root)'}; peak RSS: ${res.rssSource}`,
    '',
    table(['method', 's', 'MB/s', 'RSS MiB', 'tar MB', 'ours(10M)/peer', 'ours(256M)/peer'], lines, ['l', 'r', 'r', 'r', 'r', 'r', 'r']),
    '',
    'MB/s = file content bytes / wall s; ratios are speed ratios (>1: ours faster).',
    ...[...failed].map(([id, e]) => `${id}: FAILED: ${e}`),
    'targets (reported, not asserted):',
    ...tgt,
    '',
  ].join('\n');
}

// --------------------------------------------------------------------------- ext2fs worker

/** The fs API of the ext2fs package, as much of it as the walk uses (it ships no typings). */
interface E2Stats { mode: number; uid: number; gid: number; size: number; ino: number; nlink: number; mtime: Date; isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }
interface E2Fs {
  readdir(p: string): Promise<string[]>;
  lstat(p: string): Promise<E2Stats>;
  readlink(p: string): Promise<string>;
  /** fs.promises.open: a FileHandle-like object, not an fd number. */
  open(p: string, flags: string): Promise<{ fd: number; read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }> }>;
  /** FileHandle.close() of ext2fs 4.2.5 passes the handle itself as the fd (EBADF, the file
   *  stays open and the fixed WASM heap runs out after ~9k files): close by number instead. */
  close(fd: number): Promise<void>;
}

/**
 * What the package expects as a disk: file-disk's shape, async read/write/discard/flush with
 * (buffer, bufferOffset, length, fileOffset). The package mounts read-write and writes back
 * inodes (atime) while reading files, and a failed write surfaces as EIO from read(): writes
 * therefore go to an in-memory overlay of 512-byte sectors, and the image is never modified.
 */
class OverlayFileDisk {
  private over = new Map<number, Uint8Array>();
  constructor(private fd: number) {}
  async read(buf: Uint8Array, off: number, len: number, pos: number): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    preadFull(this.fd, buf, off, len, pos);
    if (this.over.size > 0) {
      for (let s = Math.floor(pos / 512); s * 512 < pos + len; s++) {
        const d = this.over.get(s);
        if (!d) continue;
        const from = Math.max(s * 512, pos), to = Math.min(s * 512 + 512, pos + len);
        buf.set(d.subarray(from - s * 512, to - s * 512), off + from - pos);
      }
    }
    return { bytesRead: len, buffer: buf };
  }
  async write(buf: Uint8Array, off: number, len: number, pos: number): Promise<{ bytesWritten: number; buffer: Uint8Array }> {
    for (let s = Math.floor(pos / 512); s * 512 < pos + len; s++) {
      let d = this.over.get(s);
      if (!d) { d = new Uint8Array(512); fs.readSync(this.fd, d, 0, 512, s * 512); this.over.set(s, d); }
      const from = Math.max(s * 512, pos), to = Math.min(s * 512 + 512, pos + len);
      d.set(buf.subarray(off + from - pos, off + to - pos), from - s * 512);
    }
    return { bytesWritten: len, buffer: buf };
  }
  async discard(): Promise<void> {}
  async flush(): Promise<void> {}
}

async function ext2fsWorker(img: string): Promise<void> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  interface Mounted { promises: E2Fs }
  interface Ext2fsModule { mount(d: unknown, off: number): Promise<Mounted>; umount(f: Mounted): Promise<void> }
  const pkgDir = path.dirname(require.resolve('ext2fs'));
  /** A fresh copy of the package: its own WASM instance and heap. */
  const load = (): Ext2fsModule => {
    for (const k of Object.keys(require.cache)) if (k.startsWith(pkgDir)) delete require.cache[k];
    return require('ext2fs') as Ext2fsModule;
  };
  let ext2fs = load();
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    pack.on('error', reject);
    process.stdout.on('error', reject);
    pack.pipe(process.stdout).on('finish', resolve);
  });
  const fd = fs.openSync(img, 'r');
  const links = new Map<number, string>();
  // The WASM heap is a fixed 16 MiB (no memory growth): read in modest chunks.
  const CHUNK = 64 << 10;
  const buf = Buffer.alloc(CHUNK);
  // ext2fs 4.2.5's readdir leaks ~16 KiB of its fixed 16 MiB WASM heap per call (Aborted(OOM)
  // after ~900 readdirs of one directory, ~9k entries of the corpus), and umount does not give
  // it back: every READDIRS_PER_MOUNT directories, unmount and load a fresh instance of the
  // package (a new WASM heap), then mount again. The reloads are counted in the time.
  const disk = new OverlayFileDisk(fd);
  const READDIRS_PER_MOUNT = 500;
  let reloads = 0;
  let mounted = await ext2fs.mount(disk, 0);
  let readdirs = 0;
  try {
    const e: Pick<E2Fs, 'lstat' | 'readlink' | 'open' | 'close'> = {
      lstat: (p) => mounted.promises.lstat(p),
      readlink: (p) => mounted.promises.readlink(p),
      open: (p, f) => mounted.promises.open(p, f),
      close: (n) => mounted.promises.close(n),
    };
    const readdir = async (p: string): Promise<string[]> => {
      if (++readdirs % READDIRS_PER_MOUNT === 0) {
        await ext2fs.umount(mounted);
        ext2fs = load();
        reloads++;
        mounted = await ext2fs.mount(disk, 0);
      }
      return mounted.promises.readdir(p);
    };
    // Everything but directories, which walk() below emits and descends into.
    const visit = async (p: string, name: string): Promise<void> => {
      const st = await e.lstat(p);
      const h = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isSymbolicLink()) {
        pack.entry({ ...h, type: 'symlink', linkname: await e.readlink(p) });
      } else if (st.isFile()) {
        const first = st.nlink > 1 ? links.get(st.ino) : undefined;
        if (first !== undefined) { pack.entry({ ...h, type: 'link', linkname: first }); return; }
        if (st.nlink > 1) links.set(st.ino, name);
        // One entry at a time: the next header waits until this entry's callback.
        let ent!: ReturnType<typeof pack.entry>;
        const fin = new Promise<void>((res, rej) => { ent = pack.entry({ ...h, type: 'file', size: st.size }, (err) => (err ? rej(err) : res())); });
        const f = await e.open(p, 'r');
        try {
          for (let pos = 0; pos < st.size;) {
            const { bytesRead } = await f.read(buf, 0, Math.min(CHUNK, st.size - pos), pos);
            if (bytesRead <= 0) throw new Error(`${p}: short read at ${pos}`);
            // tar-stream keeps the chunk it is given: hand it a copy, and honour backpressure.
            if (!ent.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise<void>((r) => ent.once('drain', () => r()));
            pos += bytesRead;
          }
        } finally { await e.close(f.fd); }
        ent.end(() => {});
        await fin;
      }
      // Devices, fifos and sockets: a /usr corpus has none.
    };
    const root = await e.lstat('/');
    pack.entry({ name: '.', mode: root.mode & 0o7777, uid: root.uid, gid: root.gid, mtime: root.mtime, type: 'directory' });
    const walk = async (p: string, name: string): Promise<void> => {
      for (const n of (await readdir(p)).sort()) {
        const cp = p === '/' ? `/${n}` : `${p}/${n}`;
        const cn = `${name}/${n}`;
        const st = await e.lstat(cp);
        if (st.isDirectory()) {
          pack.entry({ name: cn, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, type: 'directory' });
          await walk(cp, cn);
        } else {
          await visit(cp, cn);
        }
      }
    };
    await walk('/', '.');
  } finally { await ext2fs.umount(mounted); }
  fs.closeSync(fd);
  if (process.env.EXT2FS_WORKER_DEBUG) process.stderr.write(`ext2fs worker: ${readdirs} readdirs, ${reloads} reloads\n`);
  pack.finalize();
  await done;
}

// ------------------------------------------------------------------------------- profiling

interface PNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; hitCount?: number; children?: number[] }

/** Profile fs2tar in this process on the corpus and print the top self and inclusive costs. */
async function profileOurs(mem: number | null, top: number): Promise<void> {
  process.setSourceMapsEnabled(true);
  const corpus = buildCorpus();
  const inspector = await import('node:inspector');
  const { findSourceMap } = await import('node:module');
  const { fs2tarMain } = await import('../src/apps/fs2tar/main.js');
  const s = new inspector.Session();
  s.connect();
  const post = <T>(m: string, p: object = {}) => new Promise<T>((res, rej) => s.post(m, p, (e, r) => (e ? rej(e) : res(r as T))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  // Where the resident memory is: sampled every 100 ms, the peak of each part.
  const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  // With --expose-gc, every 2 s a full GC first: what is still live then is retained, not garbage.
  const gc = (globalThis as { gc?: () => void }).gc;
  const live = { heapUsed: 0, arrayBuffers: 0 };
  let ticks = 0;
  const sampler = setInterval(() => {
    let m = process.memoryUsage();
    for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
    if (gc && ++ticks % 20 === 0) {
      gc();
      m = process.memoryUsage();
      live.heapUsed = Math.max(live.heapUsed, m.heapUsed);
      live.arrayBuffers = Math.max(live.arrayBuffers, m.arrayBuffers);
    }
  }, 100);
  const t0 = performance.now();
  const rc = await fs2tarMain(['-t', 'ext4', ...(mem === null ? [] : ['-m', String(mem)]), corpus.image, '/dev/null'], { stdout: process.stdout, stderr: process.stderr });
  const sec = (performance.now() - t0) / 1e3;
  clearInterval(sampler);
  const { profile } = await post<{ profile: { nodes: PNode[] } }>('Profiler.stop');
  s.disconnect();
  const where = (n: PNode): string => {
    const f = n.callFrame;
    let url = f.url, line = f.lineNumber + 1;
    if (url.startsWith('file:')) {
      const e = findSourceMap(url)?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
      if (e?.originalSource) { url = e.originalSource; line = (e.originalLine ?? 0) + 1; }
      url = url.replace(/^file:\/\/.*?\/(src|bench|dist|node_modules)\//, '$1/');
    }
    return `${f.functionName || '(anonymous)'} ${url ? `${url}:${line}` : ''}`.trim();
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const self = new Map<string, number>();
  const selfFn = new Map<string, number>();  // by function, lines merged
  for (const n of profile.nodes) {
    const k = where(n);
    self.set(k, (self.get(k) ?? 0) + (n.hitCount ?? 0));
    const fk = k.replace(/:\d+$/, '');
    selfFn.set(fk, (selfFn.get(fk) ?? 0) + (n.hitCount ?? 0));
  }
  const incl = new Map<string, number>();
  const walk = (id: number, on: Set<string>): number => {
    const n = byId.get(id)!;
    let sum = n.hitCount ?? 0;
    const k = where(n).replace(/:\d+$/, '');
    const fresh = !on.has(k);
    if (fresh) on.add(k);
    for (const c of n.children ?? []) sum += walk(c, on);
    if (fresh) { on.delete(k); incl.set(k, (incl.get(k) ?? 0) + sum); }
    return sum;
  };
  walk(profile.nodes[0]!.id, new Set());
  const pct = (h: number) => `${((100 * h) / total).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, h]) => `  ${pct(h)}  ${k}`).join('\n');
  process.stdout.write([
    `fs2tar ${mem === null ? '(default mem)' : `-m ${mem}`} on ${corpus.image}: exit ${rc}, ${sec.toFixed(2)} s under the profiler (${(corpus.contentBytes / 1e6 / sec).toFixed(1)} MB/s), ${total} samples, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    `peak memory (MiB, each part's own peak): ${Object.entries(peak).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)}`).join(', ')}`,
    gc ? `live after a full GC (peak of samples every 2 s, MiB): heapUsed ${(live.heapUsed / 2 ** 20).toFixed(0)}, arrayBuffers ${(live.arrayBuffers / 2 ** 20).toFixed(0)}` : 'run with --expose-gc to see what is live after a full GC',
    '', 'self time by function:', list(selfFn), '', 'self time by line:', list(self), '', 'inclusive time by function:', list(incl), '',
  ].join('\n'));
}

// ------------------------------------------------------------------------------------ main

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const argv = process.argv.slice(2);
  const job = argv[0] === '--ext2fs-worker' ? ext2fsWorker(argv[1]!)
    : argv[0] === '--profile' ? profileOurs(argv.includes('-m') ? Number(argv[argv.indexOf('-m') + 1]) : null, Number(process.env.TOP ?? 30))
    : benchFs2tar({ json: argv.includes('--json') }).then((r) => { if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`); });
  job.catch((e) => { process.stderr.write(`fs2tar bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; });
}
