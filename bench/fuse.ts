/*
 * The lklfuse bench: the same ext4 image mounted three ways, the same load on each.
 *
 *   lklfuse  `node dist/src/apps/lklfuse.js img mnt -f` (this project's kernel behind FUSE)
 *   fuse2fs  `fuse2fs img mnt -o fakeroot -f` (e2fsprogs' libext2fs behind FUSE via libfuse)
 *   kernel   `mount -o loop img mnt` (the host's own ext4; no FUSE round trips at all)
 *
 * Load: four fio jobs on one 64 MiB file (psync, iodepth 1, one job at a time): sequential write
 * and read with 1 MiB blocks, random 4 KiB write and read (time-limited). fio's default
 * invalidate=1 drops the file's cached pages before each job, and FUSE drops them on every open
 * anyway, so reads reach the filesystem. Writes end with fsync (end_fsync=1). Then a metadata
 * run in this process: create (open O_CREAT + close), stat and unlink FILES empty files in one
 * directory, each phase timed on its own.
 *
 * Every method gets a fresh image made by mkfs.ext4 in /dev/shm (RAM), so the comparison is the
 * code path, not a disk. The machine may be busy: the load average is printed with the results.
 * Ratios are lklfuse / peer (above 1: lklfuse faster).
 *
 * With --rounds N every method runs N times, methods interleaved round by round, and each
 * figure is the median of its N runs (a loaded machine makes single runs noisy).
 *
 *   node dist/bench/fuse.js [--json] [--files N] [--runtime S] [--rounds N] [--only lklfuse,fuse2fs,kernel]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { table, median } from './harness.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LKLFUSE = path.resolve(HERE, '../src/apps/lklfuse.js');
const argv = process.argv.slice(2);
const opt = (name: string, def: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1]! : def; };
const FILES = Number(opt('--files', '10000'));
const RUNTIME = Number(opt('--runtime', '5'));
const METHODS = opt('--only', 'lklfuse,fuse2fs,kernel').split(',');
const JSON_OUT = argv.includes('--json');
const ROUNDS = Number(opt('--rounds', '1'));
const IMAGE_MB = 256;
const FILE_MB = 64;

type Method = 'lklfuse' | 'fuse2fs' | 'kernel';
interface Result { method: Method; seqWriteMBs: number; seqReadMBs: number; randWriteIops: number; randReadIops: number; createOps: number; statOps: number; unlinkOps: number }

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}: ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

function mounted(mnt: string): string | null {
  for (const l of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = l.split(' ');
    if (f[1] === mnt) return f[2]!;
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function mount(m: Method, img: string, mnt: string): Promise<ChildProcess | null> {
  if (m === 'kernel') { run('mount', ['-o', 'loop', img, mnt]); return null; }
  const child = m === 'lklfuse'
    ? spawn(process.execPath, [LKLFUSE, img, mnt, '-f'], { stdio: 'ignore' })
    : spawn('fuse2fs', [img, mnt, '-o', 'fakeroot', '-f'], { stdio: 'ignore' });
  for (let i = 0; i < 400 && !mounted(mnt)?.startsWith('fuse'); i++) await sleep(50);
  if (!mounted(mnt)) { child.kill('SIGKILL'); throw new Error(`${m}: no mount after 20 s`); }
  return child;
}

async function unmount(mnt: string, child: ChildProcess | null): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (spawnSync('umount', [mnt]).status === 0 || !mounted(mnt)) break;
    await sleep(100);
  }
  if (mounted(mnt)) spawnSync('umount', ['-l', mnt]);
  if (child && child.exitCode === null && child.signalCode === null) {
    const done = new Promise((r) => child.once('exit', r));
    await Promise.race([done, sleep(30_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

interface FioJob { name: string; rw: string; bs: string; timed: boolean }
const JOBS: FioJob[] = [
  { name: 'seqwrite', rw: 'write', bs: '1M', timed: false },
  { name: 'seqread', rw: 'read', bs: '1M', timed: false },
  { name: 'randwrite', rw: 'randwrite', bs: '4k', timed: true },
  { name: 'randread', rw: 'randread', bs: '4k', timed: true },
];

function fio(dir: string, j: FioJob): { bw: number; iops: number } {
  const args = [
    `--name=${j.name}`, `--directory=${dir}`, '--filename=fio.dat', `--rw=${j.rw}`, `--bs=${j.bs}`,
    `--size=${FILE_MB}M`, '--ioengine=psync', '--iodepth=1', '--numjobs=1', '--end_fsync=1',
    '--output-format=json', ...(j.timed ? ['--time_based', `--runtime=${RUNTIME}`] : []),
  ];
  const out = JSON.parse(run('fio', args)) as { jobs: { read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }[] };
  const s = j.rw.includes('read') ? out.jobs[0]!.read : out.jobs[0]!.write;
  return { bw: s.bw_bytes / 1e6, iops: s.iops };
}

function metadata(dir: string): { create: number; stat: number; unlink: number } {
  fs.mkdirSync(dir);
  const names = Array.from({ length: FILES }, (_, i) => path.join(dir, `f${i}`));
  const time = (f: (p: string) => void) => {
    const t0 = process.hrtime.bigint();
    for (const n of names) f(n);
    return FILES / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  const create = time((p) => fs.closeSync(fs.openSync(p, 'wx')));
  const stat = time((p) => fs.statSync(p));
  const unlink = time((p) => fs.unlinkSync(p));
  fs.rmdirSync(dir);
  return { create, stat, unlink };
}

async function bench(m: Method, work: string): Promise<Result> {
  const img = path.join(work, `${m}.img`), mnt = path.join(work, `mnt-${m}`);
  run('mkfs.ext4', ['-q', '-F', img, `${IMAGE_MB}M`]);
  fs.mkdirSync(mnt, { recursive: true });
  const child = await mount(m, img, mnt);
  try {
    const r: Partial<Result> = { method: m };
    for (const j of JOBS) {
      const x = fio(mnt, j);
      if (j.name === 'seqwrite') r.seqWriteMBs = x.bw;
      if (j.name === 'seqread') r.seqReadMBs = x.bw;
      if (j.name === 'randwrite') r.randWriteIops = x.iops;
      if (j.name === 'randread') r.randReadIops = x.iops;
      process.stderr.write(`# ${m} ${j.name}: ${x.bw.toFixed(1)} MB/s ${x.iops.toFixed(0)} IOPS\n`);
    }
    fs.unlinkSync(path.join(mnt, 'fio.dat'));
    const md = metadata(path.join(mnt, 'md'));
    process.stderr.write(`# ${m} metadata: create ${md.create.toFixed(0)}/s stat ${md.stat.toFixed(0)}/s unlink ${md.unlink.toFixed(0)}/s\n`);
    return { ...r, createOps: md.create, statOps: md.stat, unlinkOps: md.unlink } as Result;
  } finally {
    await unmount(mnt, child);
    fs.rmSync(img, { force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('fuse bench: needs root (mount, /dev/fuse)'); return; }
  for (const t of ['fio', 'mkfs.ext4', ...(METHODS.includes('fuse2fs') ? ['fuse2fs'] : [])]) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) { console.log(`fuse bench: ${t} not installed`); return; }
  }
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = fs.mkdtempSync(path.join(base, 'fuse-bench-'));
  const load0 = os.loadavg();
  const results: Result[] = [];
  try {
    const runs = new Map<Method, Result[]>();
    for (let i = 0; i < ROUNDS; i++) {
      for (const m of METHODS as Method[]) runs.set(m, [...(runs.get(m) ?? []), await bench(m, work)]);
    }
    for (const [m, rs] of runs) {
      const r = { method: m } as Result;
      for (const k of Object.keys(rs[0]!) as (keyof Result)[]) if (k !== 'method') (r[k] as number) = median(rs.map((x) => x[k] as number));
      results.push(r);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const load1 = os.loadavg();
  if (JSON_OUT) { console.log(JSON.stringify({ load: [load0, load1], cpus: os.cpus().length, files: FILES, runtime: RUNTIME, rounds: ROUNDS, results }, null, 2)); return; }
  const cols: [keyof Result, string][] = [
    ['seqWriteMBs', 'seq write 1M MB/s'], ['seqReadMBs', 'seq read 1M MB/s'], ['randWriteIops', 'rand write 4k IOPS'],
    ['randReadIops', 'rand read 4k IOPS'], ['createOps', 'create/s'], ['statOps', 'stat/s'], ['unlinkOps', 'unlink/s'],
  ];
  const lkl = results.find((r) => r.method === 'lklfuse');
  const rows = cols.map(([k, label]) => {
    const row = [label, ...results.map((r) => (r[k] as number).toFixed(k.endsWith('MBs') ? 1 : 0))];
    if (lkl) for (const r of results) if (r !== lkl) row.push(((lkl[k] as number) / (r[k] as number)).toFixed(2));
    return row;
  });
  const ratioHeads = lkl ? results.filter((r) => r !== lkl).map((r) => `lklfuse/${r.method}`) : [];
  console.log(`lklfuse bench: ext4 ${IMAGE_MB} MiB image in ${base}, fio file ${FILE_MB} MiB, random jobs ${RUNTIME} s, metadata ${FILES} files, median of ${ROUNDS} round(s)`);
  console.log(`load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ${load1.map((x) => x.toFixed(2)).join(' ')} after, ${os.cpus().length} CPUs`);
  console.log(table(['', ...results.map((r) => r.method), ...ratioHeads], rows, ['l', ...results.map(() => 'r' as const), ...ratioHeads.map(() => 'r' as const)]));
}

await main();
