/*
 * The vfat bench: fs2tar on a ~256 MiB FAT32 image holding a few thousand files, against the
 * ways a Linux user would otherwise turn such an image into a tar stream.
 *
 *   fs2tar   `node dist/src/apps/fs2tar.js img - | wc -c` (type detected, mem= default)
 *   mtools   `mcopy -s -m -n -i img ::/ dir` then `tar -cf - -C dir . | wc -c`, both timed
 *            (mtools is the usual way without root; the extraction lands on tmpfs)
 *   uml      real Linux 6.1 vfat in User-Mode Linux (the host kernel here has no vfat module):
 *            `mount -t vfat -o ro /dev/ubda mnt` then `tar -cf - . | wc -c`, timed inside UML
 *            around the tar only, cold cache after the mount; boot and mount are not timed.
 *            This is the "host kernel loop mount" figure, with UML's overheads (ubd reads
 *            through a host file, UML's own syscall path), so it flatters nothing.
 *
 * Copy-in (--copy-in, or VFAT_BENCH_COPYIN=1): the same tree, extracted once to a host directory,
 * copied into a fresh FAT32 image (mkfs.fat, not timed) by
 *   cptofs   `node dist/src/apps/cptofs.js -t vfat -i img src/. /`
 *   mcopy    `mcopy -s -m -i img src/* ::/`
 *   uml      Linux 6.1 vfat in UML: `cp -r src/. mnt/ && umount mnt`, timed inside UML (the
 *            umount writes back what cp left dirty, so the figure includes the writes)
 *
 * MB/s is the files' content (10^6 bytes per MB) over wall seconds; MB/CPU-s the same over the
 * CPU seconds (user + system) of every process of the pipeline, which a loaded machine disturbs
 * much less (not available for UML, whose CPU time includes its boot). Each figure is the
 * median of RUNS runs, methods interleaved round by round. The image is built once into /dev/shm
 * (or the temp directory) by mkfs.fat + mcopy and reused while the recipe is unchanged.
 *
 *   node dist/bench/vfat.js [--json] [--runs N] [--copy-in]
 *   VFAT_BENCH_METHODS=fs2tar,mtools node dist/bench/vfat.js   only those methods
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, table } from './harness.js';

const RECIPE = 'v2 mkfs.fat -F32 256MiB (default 512 B clusters); 3000 files in 60 dirs; xorshift sizes 64B..4MiB log-uniform';
const IMAGE_BYTES = 256 << 20;
const FILES = 3000;
const DIRS = 60;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const FS2TAR = path.join(ROOT, 'dist/src/apps/fs2tar.js');
const CPTOFS = path.join(ROOT, 'dist/src/apps/cptofs.js');
const UML = '/usr/bin/linux.uml';
const ENV = { ...process.env, TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };

function log(msg: string): void { process.stderr.write(`${msg}\n`); }
function sh(cmd: string): string { return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', env: ENV, maxBuffer: 1 << 26 }); }
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const have = (t: string) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;

function workDir(): string {
  const shm = '/dev/shm';
  try {
    const st = fs.statfsSync(shm);
    if (st.bavail * st.bsize > 3 * IMAGE_BYTES) return shm;
  } catch { /* no /dev/shm */ }
  return os.tmpdir();
}

/** Deterministic file sizes (log-uniform 64 B .. 4 MiB, capped so the sum fits the image). */
function plan(): { rel: string; size: number; seed: number }[] {
  let x = 0x9e3779b9;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
  const out: { rel: string; size: number; seed: number }[] = [];
  let total = 0;
  const budget = IMAGE_BYTES * 0.8;
  for (let i = 0; i < FILES; i++) {
    let size = Math.floor(64 * Math.pow(2, rnd() * 16));
    if (total + size > budget) size = Math.min(size, 4096);
    total += size;
    const d = i % DIRS;
    out.push({ rel: `dir ${String(d).padStart(2, '0')}/sub ${d % 3}/file number ${i} with a long name.dat`, size, seed: i + 1 });
  }
  return out;
}

function fill(buf: Buffer, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i + 4 <= buf.length; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; buf.writeInt32LE(x | 0, i); }
}

/** Build (or reuse) the corpus image; returns its path and content bytes. */
function corpus(base: string): { img: string; bytes: number; files: number } {
  const files = plan();
  const bytes = files.reduce((s, f) => s + f.size, 0);
  const key = crypto.createHash('sha256').update(RECIPE).digest('hex').slice(0, 12);
  const img = path.join(base, `lkl-vfat-bench-${key}.img`);
  if (fs.existsSync(img) && fs.existsSync(`${img}.ok`)) return { img, bytes, files: files.length };
  log(`building ${img} (${files.length} files, ${(bytes / 1e6).toFixed(0)} MB) ...`);
  const t0 = Date.now();
  const src = fs.mkdtempSync(path.join(base, 'lkl-vfat-src-'));
  try {
    // One pseudo-random pool; each file is a slice of it at its own offset.
    const pool = Buffer.alloc(8 << 20);
    fill(pool, 1);
    for (const f of files) {
      const p = path.join(src, f.rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      const at = (f.seed * 4099) % (pool.length - f.size + 1);
      fs.writeFileSync(p, pool.subarray(at, at + f.size));
      fs.utimesSync(p, 1_600_000_000 + f.seed * 2, 1_600_000_000 + f.seed * 2);
    }
    fs.rmSync(img, { force: true });
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, IMAGE_BYTES);
    sh(`mkfs.fat -F 32 -n VFATBENCH -i 5ca1ab1e ${q(img)} >/dev/null`);
    sh(`cd ${q(src)} && mcopy -s -m -i ${q(img)} * ::/`);
    fs.writeFileSync(`${img}.ok`, RECIPE);
  } finally { fs.rmSync(src, { recursive: true, force: true }); }
  log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { img, bytes, files: files.length };
}

/**
 * Wall seconds of a shell pipeline that prints a byte count (wc -c), and the CPU seconds
 * (user + system) of every process it ran, from the shell's `times`: on a loaded machine the
 * CPU figure moves much less than the wall one.
 */
function timedShell(cmd: string): { secs: number; cpu: number; out: number } {
  const t0 = process.hrtime.bigint();
  const o = sh(`${cmd}; times`).trim().split('\n');
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const sec = (t: string) => { const m = /^(\d+)m([\d.]+)s$/.exec(t); return m ? Number(m[1]) * 60 + Number(m[2]) : NaN; };
  const [u, sy] = o.at(-1)!.split(/\s+/);
  return { secs, cpu: sec(u!) + sec(sy!), out: Number(o.at(-3)) };
}

function umlModules(): string | null {
  const base = '/usr/lib/uml/modules';
  if (!fs.existsSync(base)) return null;
  const v = fs.readdirSync(base).sort().at(-1);
  const m = v ? path.join(base, v, 'kernel', 'fs') : null;
  return m && fs.existsSync(path.join(m, 'fat', 'vfat.ko')) ? m : null;
}

/**
 * Boot UML on `img` (read-only or read-write), mount it as vfat at mnt, and run `timed` there
 * between two readings of UML's clock; `timed` prints a byte count or 0. Boot and mount are not
 * timed. Returns UML's seconds around `timed`.
 */
function umlTimed(img: string, rw: boolean, timed: (mnt: string) => string): { secs: number; cpu: number; out: number } {
  const mods = umlModules()!;
  // UML mounts its own /dev, so the exchange directory must not be under /dev/shm.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkl-vfat-uml-'));
  try {
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const init = path.join(dir, 'init.sh');
    fs.writeFileSync(init, `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC LC_ALL=C.UTF-8
mount -t proc proc /proc
for m in fat/fat.ko fat/vfat.ko nls/nls_cp437.ko nls/nls_iso8859-1.ko nls/nls_utf8.ko; do insmod ${mods}/$m 2>/dev/null; done
if mount -t vfat -o ${rw ? 'utf8' : 'ro'} /dev/ubda ${mnt} 2>${dir}/err.txt; then
  t0=$(date +%s.%N)
  n=$(${timed(mnt)})
  t1=$(date +%s.%N)
  echo "$t0 $t1 $n" >${dir}/out.txt
  umount ${mnt} 2>/dev/null
fi
echo o >/proc/sysrq-trigger
`, { mode: 0o755 });
    spawnSync(UML, ['mem=512M', 'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/', 'rw', `${rw ? 'ubd0' : 'ubd0r'}=${img}`, `init=${init}`,
      'con=null', 'con0=null,fd:1', 'quiet', `uml_dir=${dir}`], { encoding: 'utf8', timeout: 600_000, input: '', env: { ...process.env, TMPDIR: dir } });
    let out = '';
    try { out = fs.readFileSync(path.join(dir, 'out.txt'), 'utf8').trim(); } catch { /* below */ }
    if (!out) throw new Error(`UML run failed: ${fs.existsSync(path.join(dir, 'err.txt')) ? fs.readFileSync(path.join(dir, 'err.txt'), 'utf8') : 'no output'}`);
    const [t0, t1, n] = out.split(/\s+/).map(Number);
    return { secs: t1! - t0!, cpu: NaN, out: n ?? 0 };
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

/** tar of the mounted image inside UML, cold cache after the mount. */
const umlRun = (img: string) => umlTimed(img, false, (mnt) => `cd ${mnt} && tar -cf - . | wc -c; cd /`);

/** cp -r of a host directory into the image mounted read-write inside UML; the umount (write-back) is timed too. */
const umlCopyIn = (img: string, src: string) => umlTimed(img, true, (mnt) => `cp -r ${src}/. ${mnt}/ && umount ${mnt} && echo 0`);

/** A fresh, empty FAT32 image like the corpus's (not timed). */
function freshImage(base: string): string {
  const img = path.join(base, 'lkl-vfat-copyin.img');
  fs.rmSync(img, { force: true });
  fs.closeSync(fs.openSync(img, 'w'));
  fs.truncateSync(img, IMAGE_BYTES);
  sh(`mkfs.fat -F 32 -n VFATBENCH -i 5ca1ab1e ${q(img)} >/dev/null`);
  return img;
}

/** Copy-in figures: cptofs vs mcopy vs UML Linux into a fresh FAT32 image; checks fsck.fat after each. */
function copyIn(base: string, img: string, bytes: number, runs: number): void {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'lkl-vfat-src-'));
  try {
    sh(`mcopy -s -m -n -i ${q(img)} ::/ ${q(src)}/`);
    const ms: Method[] = [
      { id: 'cptofs', what: 'cptofs -i img src/. /', run: () => { const f = freshImage(base); return timedShell(`${q(process.execPath)} ${q(CPTOFS)} -t vfat -i ${q(f)} ${q(src)}/. / && echo 0`); } },
      { id: 'mcopy', what: 'mcopy -s src/* ::/', run: () => { const f = freshImage(base); return timedShell(`cd ${q(src)} && mcopy -s -m -i ${q(f)} * ::/ && echo 0`); } },
    ];
    if (fs.existsSync(UML) && umlModules()) ms.push({ id: 'uml', what: 'Linux 6.1 vfat (UML): cp -r + umount', run: () => umlCopyIn(freshImage(base), src) });
    const secs = new Map<string, number[]>(ms.map((m) => [m.id, []]));
    const cpus = new Map<string, number[]>(ms.map((m) => [m.id, []]));
    for (let r = 0; r < runs; r++) {
      for (const m of ms) {
        const x = m.run();
        const fsck = spawnSync('fsck.fat', ['-n', path.join(base, 'lkl-vfat-copyin.img')], { encoding: 'utf8' });
        if (fsck.status !== 0) throw new Error(`${m.id}: fsck.fat -n after the copy: exit ${fsck.status}\n${fsck.stdout}`);
        secs.get(m.id)!.push(x.secs); cpus.get(m.id)!.push(x.cpu);
        log(`copy-in run ${r + 1}/${runs} ${m.id}: ${x.secs.toFixed(2)} s wall, ${x.cpu.toFixed(2)} s CPU (fsck.fat clean)`);
      }
    }
    const mbps = (id: string) => bytes / 1e6 / median(secs.get(id)!);
    process.stdout.write(`\ncopy-in: the same ${(bytes / 1e6).toFixed(1)} MB tree into a fresh FAT32 image, median of ${runs}\n\n`);
    process.stdout.write(table(['method', 'what', 'wall s', 'MB/s', 'cptofs / method', 'CPU s'],
      ms.map((m) => [m.id, m.what, median(secs.get(m.id)!).toFixed(2), mbps(m.id).toFixed(1),
        m.id === 'cptofs' ? '-' : `${(mbps('cptofs') / mbps(m.id)).toFixed(2)}x`,
        Number.isNaN(median(cpus.get(m.id)!)) ? '-' : median(cpus.get(m.id)!).toFixed(2)]),
    ['l', 'l', 'r', 'r', 'r', 'r']) + '\n');
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(path.join(base, 'lkl-vfat-copyin.img'), { force: true });
  }
}

interface Method { id: string; what: string; run(): { secs: number; cpu: number; out: number } }

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const ri = args.indexOf('--runs');
  const RUNS = ri >= 0 ? Number(args[ri + 1]) : 3;
  for (const t of ['mkfs.fat', 'mcopy', 'tar']) if (!have(t)) throw new Error(`${t} is needed (apt-get install dosfstools mtools tar)`);
  const base = workDir();
  const { img, bytes, files } = corpus(base);
  const only = process.env.VFAT_BENCH_METHODS?.split(',');
  const methods: Method[] = [
    { id: 'fs2tar', what: 'fs2tar img - | wc -c', run: () => timedShell(`${q(process.execPath)} ${q(FS2TAR)} ${q(img)} - | wc -c`) },
    {
      id: 'mtools', what: 'mcopy -s + tar -cf - | wc -c',
      run: () => {
        const dump = fs.mkdtempSync(path.join(base, 'lkl-vfat-mcopy-'));
        try { return timedShell(`mcopy -s -m -n -i ${q(img)} ::/ ${q(dump)}/ && tar -cf - -C ${q(dump)} . | wc -c`); } finally { fs.rmSync(dump, { recursive: true, force: true }); }
      },
    },
  ];
  if (fs.existsSync(UML) && umlModules()) {
    methods.push({ id: 'uml', what: 'Linux 6.1 vfat (UML): tar -cf - | wc -c', run: () => umlRun(img) });
  } else log('uml: skipped (user-mode-linux with vfat modules not installed)');
  const chosen = methods.filter((m) => !only || only.includes(m.id));
  const secs = new Map<string, number[]>(chosen.map((m) => [m.id, []]));
  const cpus = new Map<string, number[]>(chosen.map((m) => [m.id, []]));
  const sizes = new Map<string, number>();
  for (let r = 0; r < RUNS; r++) {
    for (const m of chosen) {
      const x = m.run();
      secs.get(m.id)!.push(x.secs);
      cpus.get(m.id)!.push(x.cpu);
      sizes.set(m.id, x.out);
      log(`run ${r + 1}/${RUNS} ${m.id}: ${x.secs.toFixed(2)} s wall, ${x.cpu.toFixed(2)} s CPU, ${x.out} tar bytes`);
    }
  }
  const mbps = (id: string) => bytes / 1e6 / median(secs.get(id)!);
  const ours = secs.has('fs2tar') ? mbps('fs2tar') : NaN;
  const result = chosen.map((m) => ({
    id: m.id, what: m.what, medianSecs: median(secs.get(m.id)!), mbPerSec: mbps(m.id), tarBytes: sizes.get(m.id)!,
    medianCpuSecs: median(cpus.get(m.id)!), mbPerCpuSec: bytes / 1e6 / median(cpus.get(m.id)!),
    oursOverPeer: m.id === 'fs2tar' ? 1 : ours / mbps(m.id),
  }));
  if (json) { process.stdout.write(`${JSON.stringify({ image: img, imageBytes: IMAGE_BYTES, files, contentBytes: bytes, runs: RUNS, result }, null, 2)}\n`); return; }
  process.stdout.write(`vfat bench: ${path.basename(img)}, FAT32 ${IMAGE_BYTES >> 20} MiB, ${files} files, ${(bytes / 1e6).toFixed(1)} MB content, median of ${RUNS}\n\n`);
  const oursCpu = result.find((r) => r.id === 'fs2tar')?.mbPerCpuSec ?? NaN;
  const cpuRatio = (r: typeof result[number]) => (r.id === 'fs2tar' || Number.isNaN(r.mbPerCpuSec * oursCpu) ? '-' : `${(oursCpu / r.mbPerCpuSec).toFixed(2)}x`);
  process.stdout.write(table(['method', 'what', 'wall s', 'MB/s', 'fs2tar / method', 'CPU s', 'MB/CPU-s', 'fs2tar / method (CPU)'],
    result.map((r) => [r.id, r.what, r.medianSecs.toFixed(2), r.mbPerSec.toFixed(1), r.id === 'fs2tar' ? '-' : `${r.oursOverPeer.toFixed(2)}x`,
      Number.isNaN(r.medianCpuSecs) ? '-' : r.medianCpuSecs.toFixed(2), Number.isNaN(r.mbPerCpuSec) ? '-' : r.mbPerCpuSec.toFixed(1), cpuRatio(r)]),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']) + '\n');
  if (args.includes('--copy-in') || process.env.VFAT_BENCH_COPYIN === '1') copyIn(base, img, bytes, RUNS);
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
