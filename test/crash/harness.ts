/*
 * The crash harness: run a workload once on our kernel over a recording FaultyDisk, then, for
 * each chosen cut, build the media state the power cut leaves and ask three recoverers what they
 * make of it:
 *   (a) ours: another kernel mounts the cut image read-only (which replays the journal, as Linux
 *       does on a writable device), the tree is read and checked against the model, then it is
 *       mounted read-write, a file is written, and it is unmounted; `e2fsck -fn` must find the
 *       result clean;
 *   (b) e2fsprogs: `e2fsck -fy` on a copy may recover the journal (and truncate orphans) but must
 *       fix nothing else — exit 0 or 1, and no "? yes" in its output except the superblock's
 *       summary free counts, which Linux too only writes at unmount — and `e2fsck -fn` must then
 *       be clean;
 *   (c) the host kernel (root only; every Nth cut): loop-mount read-write (its replay), read the
 *       tree, check it against the model, unmount, `e2fsck -fn` clean.
 * Host tools run in a pool of long-lived shells while our kernel works on the next cut.
 */
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultyDisk, crashImage, reproducer, type Cut } from './faulty_disk.js';
import { applyStep, altStates, manyNames, stepText, checkCut, pattern, type Step, type RunRecord, type ModelState, type FoundTree } from './model.js';
import { bootForDisks, walkLkl, errName, type Booted } from '../fixtures/lkl.js';
import { run } from '../fixtures/host.js';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { O_CREAT, O_WRONLY, O_TRUNC, O_RDONLY, O_APPEND } from '../../src/uapi/fcntl.js';

export interface Variant { name: string; mkfs: string[]; fstype: string; sizeMiB: number }

export const VARIANTS: Variant[] = [
  { name: 'ext4', mkfs: ['-t', 'ext4'], fstype: 'ext4', sizeMiB: 8 },
  { name: 'ext4-4k', mkfs: ['-t', 'ext4', '-b', '4096'], fstype: 'ext4', sizeMiB: 16 },
  { name: 'ext4^metadata_csum', mkfs: ['-t', 'ext4', '-O', '^metadata_csum'], fstype: 'ext4', sizeMiB: 8 },
  { name: 'ext3', mkfs: ['-t', 'ext3'], fstype: 'ext3', sizeMiB: 8 },
];

export function mkfsImage(v: Variant, dir: string): Uint8Array {
  const img = join(dir, `mkfs-${v.name.replace(/\W/g, '_')}.img`);
  fs.writeFileSync(img, '');
  fs.truncateSync(img, v.sizeMiB * 2 ** 20);
  // A fixed UUID and hash seed keep a run reproducible from its seed.
  run('mkfs.ext4', ['-q', '-F', ...v.mkfs, '-U', '3b1c6a2e-5d0f-4c7e-9a51-0c2d6f1e8a47', '-E', 'hash_seed=6f1d2c3b-4a59-4e8f-b7a6-1c2d3e4f5a6b', img]);
  const b = new Uint8Array(fs.readFileSync(img));
  fs.rmSync(img);
  return b;
}

/** A step that failed in a way the model does not follow. */
export class StepFailed extends Error {
  constructor(readonly step: Step, readonly err: number) { super(`${stepText(step)}: ${errName(err)}`); }
}

export interface Recorded { disk: FaultyDisk; rec: RunRecord; log: string[]; umountOp: number }

async function must(p: Promise<number>, st: Step): Promise<number> {
  const r = await p;
  if (r < 0) throw new StepFailed(st, r);
  return r;
}

async function writeAll(b: Booted, fd: number, data: Uint8Array, st: Step, pos?: number): Promise<void> {
  for (let o = 0; o < data.length;) {
    const part = data.subarray(o, Math.min(data.length, o + 65536));
    o += pos === undefined ? await must(b.k.sys.write(fd, part, part.length), st) : await must(b.k.sys.pwrite64(fd, part, part.length, pos + o), st);
  }
}

/** Run one step through system calls of our kernel under mount point m. */
export async function runStep(b: Booted, m: string, st: Step): Promise<void> {
  const sys = b.k.sys;
  const P = (p: string): string => `${m}/${p}`;
  switch (st.op) {
    case 'mkdir': await must(sys.mkdir(P(st.path), 0o755), st); break;
    case 'create': case 'append': {
      const fd = await must(sys.open(P(st.path), st.op === 'create' ? O_CREAT | O_WRONLY | O_TRUNC : O_WRONLY | O_APPEND, 0o644), st);
      try { await writeAll(b, fd, pattern(st.seed, st.len), st); } finally { await sys.close(fd); }
      break;
    }
    case 'overwrite': {
      const fd = await must(sys.open(P(st.path), O_WRONLY, 0), st);
      try { await writeAll(b, fd, pattern(st.seed, st.len), st, st.off); } finally { await sys.close(fd); }
      break;
    }
    case 'truncate': await must(sys.truncate(P(st.path), st.size), st); break;
    case 'fsync': {
      const fd = await must(sys.open(P(st.path), O_RDONLY, 0), st);
      try { await must(sys.fsync(fd), st); } finally { await sys.close(fd); }
      break;
    }
    case 'rename': await must(sys.rename(P(st.from), P(st.to)), st); break;
    case 'unlink': await must(sys.unlink(P(st.path)), st); break;
    case 'many':
      for (const [p, d] of manyNames(st)) {
        const fd = await must(sys.open(P(p), O_CREAT | O_WRONLY | O_TRUNC, 0o644), st);
        try { await writeAll(b, fd, d, st); } finally { await sys.close(fd); }
      }
      break;
  }
}

/**
 * Run `steps` on a fresh kernel over a recording disk made from `image`; the model follows. A
 * rename refused with EOPNOTSUPP throws StepFailed (callers turn that into a todo). `mountOpts`
 * adds to commit=300 (data=journal's cuts use it).
 */
export async function recordRun(image: Uint8Array, v: Variant, steps: Step[], mountOpts = ''): Promise<Recorded> {
  const b = await bootForDisks('mem=256M loglevel=8');
  if (!b) throw new Error('no disk API');
  const disk = new FaultyDisk(image);
  const blockSize = 1024 << new DataView(image.buffer, image.byteOffset).getUint32(1024 + 24, true);
  let id = 1;
  const initial: ModelState = { files: new Map(), dirs: new Set(['lost+found']) };
  const rec: RunRecord = { initial, steps: [], fsyncs: [] };
  let umountOp = 0;
  try {
    const did = await b.api.diskAdd(disk);
    // commit=300: no timer commit lands in the middle of a fast workload, so the sequence of disk
    // operations (and with it every cut position) depends on the seed alone.
    const m = await b.api.mountDev(did, { fstype: v.fstype, opts: mountOpts ? `${mountOpts},commit=300` : 'commit=300' });
    let state = initial;
    for (const [j, st] of steps.entries()) {
      const startOp = disk.ops;
      await runStep(b, m, st);
      const alt = altStates(state, st, blockSize);
      state = applyStep(state, st, () => id++);
      rec.steps.push({ step: st, startOp, endOp: disk.ops, state, ...(alt ? { alt } : {}) });
      if (st.op === 'fsync') rec.fsyncs.push({ step: j, path: st.path, endOp: disk.ops });
    }
    umountOp = disk.ops;
    await b.api.umountDev(did);
  } finally {
    await b.k.halt();
  }
  return { disk, rec, log: b.log, umountOp };
}

// ---- a pool for host tools ---------------------------------------------------------------------

/**
 * A long-lived shell that runs one command line at a time. Forking the test process for every
 * e2fsck costs more than the check itself (the parent's heap is large), so each pool slot keeps
 * one bash and feeds it commands; a marker line carries the exit status back.
 */
class ShellWorker {
  private readonly sh: ChildProcess;
  private buf = '';
  private pending: ((r: { code: number; out: string }) => void) | null = null;
  constructor() {
    this.sh = spawn('bash', ['--norc', '--noprofile'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.sh.stdout!.setEncoding('utf8');
    this.sh.stdout!.on('data', (d: string) => {
      this.buf += d;
      const m = /@@RC (\d+)\n/.exec(this.buf);
      if (m && this.pending) {
        const out = this.buf.slice(0, m.index);
        this.buf = this.buf.slice(m.index + m[0].length);
        const p = this.pending;
        this.pending = null;
        p({ code: Number(m[1]), out });
      }
    });
  }
  exec(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
    const q = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;
    return new Promise((resolve) => {
      this.pending = resolve;
      this.sh.stdin!.write(`${[cmd, ...args].map(q).join(' ')} 2>&1 </dev/null; echo "@@RC $?"\n`);
    });
  }
  close(): void { this.sh.stdin!.end(); }
}

export class Pool {
  private readonly idle: ShellWorker[] = [];
  private readonly all: ShellWorker[] = [];
  private readonly waiting: ((w: ShellWorker) => void)[] = [];
  constructor(readonly size = Math.max(2, Math.min(4, cpus().length))) {
    for (let i = 0; i < size; i++) { const w = new ShellWorker(); this.all.push(w); this.idle.push(w); }
  }
  private async get(): Promise<ShellWorker> {
    return this.idle.pop() ?? await new Promise<ShellWorker>((r) => this.waiting.push(r));
  }
  private put(w: ShellWorker): void {
    const next = this.waiting.shift();
    if (next) next(w); else this.idle.push(w);
  }
  /** Run fn with a shell of its own; host tools go through `exec`. */
  async run<T>(fn: (exec: (cmd: string, args: string[]) => Promise<{ code: number; out: string }>) => Promise<T>): Promise<T> {
    const w = await this.get();
    try { return await fn((c, a) => w.exec(c, a)); } finally { this.put(w); }
  }
  close(): void { for (const w of this.all) w.close(); }
}

// ---- the three recoverers ------------------------------------------------------------------------

/** Our kernel's view: walk `m` and read every regular file. */
async function readOurs(b: Booted, m: string): Promise<{ found: FoundTree; errors: string[] }> {
  const w = await walkLkl(b.k, m);
  const found: FoundTree = { files: new Map(), dirs: new Set(), other: [] };
  const errors = [...w.errors];
  for (const [rel, e] of w.tree) {
    if (rel === '') continue;
    const type = e.mode & 0o170000;
    if (type === 0o040000) { found.dirs.add(rel); continue; }
    if (type !== 0o100000) { found.other.push(rel); continue; }
    if (rel.startsWith('lost+found/')) { found.other.push(rel); continue; }
    const fd = await b.k.sys.open(`${m}/${rel}`, O_RDONLY, 0);
    if (fd < 0) { errors.push(`open ${rel}: ${errName(fd)}`); continue; }
    const data = new Uint8Array(e.size);
    for (let o = 0; o < data.length;) {
      const n = await b.k.sys.pread64(fd, data.subarray(o), data.length - o, o);
      if (n <= 0) { errors.push(`read ${rel} @${o}: ${n < 0 ? errName(n) : 'EOF'} before size ${e.size}`); break; }
      o += n;
    }
    await b.k.sys.close(fd);
    found.files.set(rel, data);
  }
  return { found, errors };
}

function readHost(root: string): FoundTree {
  const found: FoundTree = { files: new Map(), dirs: new Set(), other: [] };
  const walk = (rel: string): void => {
    for (const d of fs.readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) { found.dirs.add(r); walk(r); } else if (d.isFile() && !r.startsWith('lost+found/')) found.files.set(r, new Uint8Array(fs.readFileSync(join(root, r)))); else found.other.push(r);
    }
  };
  walk('');
  return found;
}

export interface CutResult { cut: Cut; problems: string[]; /** The cut left a journal to replay (needs_recovery). */ replayed: boolean }

export interface CheckOptions { host: boolean; variant: Variant; label: string; dir: string }

/** A cut's reproducer line: variant, workload label, mode:ops:seed. */
export function reproLine(o: CheckOptions, c: Cut, steps?: number): string {
  return `${reproducer(c, `${o.variant.name}:${o.label}`)}${steps ? ` CRASH_STEPS=${steps}` : ''}`;
}

/**
 * Check one cut through (a), (b) and optionally (c). Our kernel `b` is reused across cuts. Host
 * tools run in `pool`; the returned promise settles when all three are done.
 */
export async function checkOneCut(b: Booted, r: Recorded, cut: Cut, pool: Pool, o: CheckOptions): Promise<CutResult> {
  const problems: string[] = [];
  const media = crashImage(r.disk.baseImage(), r.disk.log, cut);
  const tag = `${o.variant.name.replace(/\W/g, '_')}-${o.label}-${cut.mode}-${cut.ops}-${cut.seed}`;
  const fsckImg = join(o.dir, `${tag}-fsck.img`);
  const hostImg = join(o.dir, `${tag}-host.img`);
  writeSparse(fsckImg, media);
  if (o.host) writeSparse(hostImg, media);
  // (b) starts in the pool while (a) runs here.
  const fsck = pool.run(async (execTool) => {
    const fix = await execTool('e2fsck', ['-fy', fsckImg]);
    // The superblock's free counts are written only at unmount/sync by Linux too: a crash leaves
    // them stale and e2fsck's pass 5 resets them. Anything else it fixes is corruption.
    const lines = fix.out.split('\n');
    const fixes = lines.filter((l, i) => /\? yes/.test(l) && !/^Free (blocks|inodes) count wrong \(\d+, counted=\d+\)\.$/.test(lines[i - 1] ?? ''));
    if (!(fix.code === 0 || fix.code === 1) || fixes.length > 0) {
      problems.push(`(b) e2fsck -fy: got exit ${fix.code}${fixes.length ? ` fixing: ${fixes.slice(0, 4).join(' | ')}` : ''}, want 0/1 with only journal recovery\n${fix.out.slice(0, 1500)}`);
    }
    const again = await execTool('e2fsck', ['-fn', fsckImg]);
    if (again.code !== 0) problems.push(`(b) e2fsck -fn after e2fsck -fy: got exit ${again.code}, want 0\n${again.out.slice(0, 800)}`);
    fs.rmSync(fsckImg, { force: true });
  });
  // (c) the host kernel, also in the pool: its mount and e2fsck go through the pool's shells.
  const hostDone = !o.host ? Promise.resolve() : pool.run(async (execTool) => {
    const mnt = join(o.dir, `${tag}-mnt`);
    fs.mkdirSync(mnt);
    try {
      const mr = await execTool('mount', ['-o', 'loop', hostImg, mnt]);
      if (mr.code !== 0) { problems.push(`(c) host mount: got exit ${mr.code}: ${mr.out.trim()}, want a mounted (replayed) filesystem`); return; }
      try {
        for (const p of checkCut(r.rec, cut.ops, readHost(mnt))) problems.push(`(c) host: ${p}`);
      } finally {
        // umount of a mount that set up its loop device detaches it too.
        const u = await execTool('umount', [mnt]);
        if (u.code !== 0) problems.push(`(c) host umount: got exit ${u.code}: ${u.out.trim()}`);
      }
      const r3 = await execTool('e2fsck', ['-fn', hostImg]);
      if (r3.code !== 0) problems.push(`(c) e2fsck -fn after the host's replay: got exit ${r3.code}, want 0\n${r3.out.slice(0, 800)}`);
    } finally {
      fs.rmdirSync(mnt);
      fs.rmSync(hostImg, { force: true });
    }
  });
  // (a) our replay, on the media bytes themselves (the files above are written already).
  let ourImg: string | null = null;
  // EXT3_FEATURE_INCOMPAT_RECOVER in the primary superblock's s_feature_incompat.
  const replayed = (new DataView(media.buffer, media.byteOffset).getUint32(1024 + 0x60, true) & 0x4) !== 0;
  try {
    const id = await b.api.diskAdd(media);
    try {
      const m = await b.api.mountDev(id, { fstype: o.variant.fstype, flags: MS_RDONLY });
      const { found, errors } = await readOurs(b, m);
      await b.api.umountDev(id);
      for (const e of errors) problems.push(`(a) ours, read-only: ${e}`);
      for (const p of checkCut(r.rec, cut.ops, found)) problems.push(`(a) ours: ${p}`);
      const m2 = await b.api.mountDev(id, { fstype: o.variant.fstype });
      // Writing after the replay: the recovered filesystem must take new work.
      const fd = await b.k.sys.open(`${m2}/after-crash`, O_CREAT | O_WRONLY, 0o644);
      if (fd < 0) problems.push(`(a) ours, read-write: create after replay: got ${errName(fd)}, want success`);
      else { await b.k.sys.write(fd, pattern(7, 5000), 5000); await b.k.sys.close(fd); }
      await b.api.umountDev(id);
    } finally {
      await b.api.diskRemove(id);
    }
    ourImg = join(o.dir, `${tag}-ours.img`);
    writeSparse(ourImg, media);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (typeof errno !== 'number') throw e;
    problems.push(`(a) ours: ${(e as Error).message}`);
  }
  const oursFsck = ourImg === null ? Promise.resolve() : pool.run(async (execTool) => {
    const r2 = await execTool('e2fsck', ['-fn', ourImg!]);
    if (r2.code !== 0) problems.push(`(a) e2fsck -fn after our replay and a write: got exit ${r2.code}, want 0\n${r2.out.slice(0, 1200)}`);
    fs.rmSync(ourImg!, { force: true });
  });
  await Promise.all([fsck, hostDone, oursFsck]);
  return { cut, problems, replayed };
}

/**
 * Write an image as a sparse file: all-zero 64 KiB chunks are left as holes (a fresh small
 * filesystem is mostly zeros, and the checks write three images per cut).
 */
export function writeSparse(path: string, img: Uint8Array): void {
  const fd = fs.openSync(path, 'w');
  try {
    fs.ftruncateSync(fd, img.length);
    const CH = 65536;
    const words = img.byteOffset % 4 === 0 ? new Uint32Array(img.buffer, img.byteOffset, img.length >> 2) : null;
    for (let o = 0; o < img.length; o += CH) {
      const e = Math.min(img.length, o + CH);
      let nz = false;
      if (words && e % 4 === 0) { for (let i = o >> 2; i < e >> 2; i++) if (words[i] !== 0) { nz = true; break; } }
      else for (let i = o; i < e; i++) if (img[i] !== 0) { nz = true; break; }
      if (nz) fs.writeSync(fd, img, o, e - o, o);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Cuts for a recorded run: every flush in flight, the clean end, and random positions. */
export function chooseCuts(r: Recorded, count: number, seed: number): Cut[] {
  const log = r.disk.log;
  const cuts: Cut[] = [{ mode: 'ordered', ops: log.length, seed }];
  const flushes: number[] = [];
  log.forEach((op, i) => { if (op.kind === 'flush') flushes.push(i); });
  let s = seed;
  const next = (): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s; };
  // Half at flushes (where the interesting commits are), half anywhere.
  for (let k = 0; cuts.length < count; k++) {
    const atFlush = k % 2 === 0 && flushes.length > 0;
    const ops = atFlush ? flushes[next() % flushes.length]! - (next() % 3) : next() % (log.length + 1);
    cuts.push({ mode: k % 3 === 0 ? 'ordered' : 'reorder', ops: Math.max(0, ops), seed: next() });
  }
  return cuts;
}

/** What a cut test checks on: a scratch folder, a pool of host tools and a checker kernel. */
export interface CutBench { dir: string; pool: Pool; b: Booted; close(): Promise<void> }

/** Set up a CutBench; without a disk API the test is skipped (null). close() undoes all three. */
export async function openCutBench(t: TestContext, prefix: string): Promise<CutBench | null> {
  const dir = tmpDir(prefix);
  const pool = new Pool();
  const rm = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const b = await bootForDisks('mem=256M loglevel=8');
  if (!b) { pool.close(); rm(); t.skip('no disk API'); return null; }
  return { dir, pool, b, close: async () => { try { await b.k.halt(); } finally { pool.close(); rm(); } } };
}

export function tmpDir(prefix: string): string {
  // Images are written three times per cut: memory-backed /dev/shm when there is one.
  const base = process.env.LKL_FIXTURE_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  return fs.mkdtempSync(join(base, `lkl-${prefix}-`));
}

