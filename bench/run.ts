/*
 * `npm run bench`: what the kernel core costs, beside Node's own node:fs doing the same work.
 *
 * Each figure is a syscall issued through the public API, the way an embedding program calls
 * it, timed in a loop (see harness.ts: warm-up, 7 rounds, median round's ns/op). The peer runs
 * the same operation through node:fs on the host, in a directory on tmpfs (/dev/shm when it
 * exists), so neither side touches a disk: the comparison is the code path, not the medium.
 * Both promise and sync flavours of node:fs are shown: ours is always a promise, so
 * fs.promises is the like-for-like peer, and the *Sync call is the floor a host syscall sets.
 *
 *   boot → first syscall   boot() until the first getpid returns, median of 30 boots
 *   getpid                 the dispatch path with no work behind it (no host peer exists)
 *   stat                   a cached 4-component path walk plus attribute copy-out
 *   open + close           path walk, struct file, fd install and release
 *   pread 4 KiB            fd lookup and a page-cache copy
 *
 * Then fs2tar on a ~1 GiB, ~30k-file ext4 image against the host kernel, debugfs and the ext2fs
 * npm package (fs2tar.ts says how).
 *
 * Targets from the performance issue are printed beside the figures: they are reported, never
 * asserted, and the run exits 0 whatever they show. `--json` prints the results as JSON;
 * `--only core` or `--only fs2tar` runs one part (default: both). `--only net` runs the network
 * bench (net.ts: TCP over TAP, the cable and Linux veth; needs root), which the default leaves out.
 * `--only cptofs [--size MB]` runs the copy-into-an-image bench (cptofs.ts: cptofs, lkl mkfs -d,
 * mke2fs -d, loop mount + cp -a, the ext2fs package, untar), also left out of the default.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { boot, NR, uapi, type LklKernel } from '../src/lkl.js';
import { createNodeHost } from '../src/arch/node/index.js';
import { measureAsync, measureSync, median, fmtNs, table, type Measure } from './harness.js';
import { benchFs2tar } from './fs2tar.js';
import { benchCptofs } from './cptofs.js';
import { benchNet } from './net.js';

const json = process.argv.includes('--json');
const onlyIdx = process.argv.indexOf('--only');
const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : undefined;
if (only !== undefined && only !== 'core' && only !== 'fs2tar' && only !== 'net' && only !== 'cptofs') {
  process.stderr.write(`bench: --only takes core, fs2tar, net or cptofs, got '${only}'\n`);
  process.exit(2);
}
const BOOT_CMDLINE = 'mem=64M quiet';
const BOOTS = 30;
const FILE = '/a/b/c/file';
const FILE_SIZE = 16384;

interface Row {
  metric: string;
  ours: number | null;     // ns/op
  peerName: string | null;
  peer: number | null;     // ns/op
  target: number | null;   // ns, the goal for `ours`
  note?: string;
}

function log(msg: string): void { if (!json) process.stderr.write(`${msg}\n`); }

async function bootOnce(): Promise<{ ns: number; k: LklKernel }> {
  const t0 = process.hrtime.bigint();
  const k = await boot({ cmdline: BOOT_CMDLINE, host: createNodeHost({ print: null }) });
  const pid = await k.sys.getpid();
  const ns = Number(process.hrtime.bigint() - t0);
  if (pid !== 1) throw new Error(`first getpid: got ${pid}, want 1`);
  return { ns, k };
}

/** Fail loudly if a setup step does not return what it must: a bench of a failing call is noise. */
function want(what: string, got: number, ok: (r: number) => boolean): number {
  if (!ok(got)) throw new Error(`${what}: got ${got}, want success`);
  return got;
}

async function setupKernel(k: LklKernel): Promise<void> {
  for (const d of ['/a', '/a/b', '/a/b/c']) want(`mkdir ${d}`, await k.sys.mkdir(d, 0o755), (r) => r === 0);
  const fd = want('creat', await k.sys.open(FILE, uapi.O_CREAT | uapi.O_WRONLY | uapi.O_TRUNC, 0o644), (r) => r >= 0);
  const data = new Uint8Array(FILE_SIZE);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  want('write', await k.sys.write(fd, data, data.length), (r) => r === data.length);
  want('close', await k.sys.close(fd), (r) => r === 0);
}

function setupHost(): { dir: string; file: string } {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'lkl-bench-'));
  fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
  const file = path.join(dir, 'a/b/c/file');
  const data = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  fs.writeFileSync(file, data);
  return { dir, file };
}

async function core(): Promise<object | null> {
  const loadAtStart = os.loadavg()[0]!;
  const m: Record<string, Measure | number> = {};

  // 1. Boot to first syscall. The very first boot of the process pays for JIT and module
  //    initialisation; it is shown apart, then BOOTS more give the median.
  log('boot …');
  const cold = await bootOnce();
  await cold.k.halt();
  const boots: number[] = [];
  for (let i = 0; i < BOOTS; i++) {
    const b = await bootOnce();
    boots.push(b.ns);
    await b.k.halt();
  }
  m.bootColdNs = cold.ns;
  m.bootMedianNs = median(boots);

  // The kernel that the syscall figures run on.
  const { k } = await bootOnce();
  await setupKernel(k);
  const host = setupHost();
  try {
    // 2. getpid: the typed wrapper, and the raw dispatch it wraps.
    log('getpid …');
    const getpidOpts = { minIters: 200_000 };
    m.getpidSys = await measureAsync(() => k.sys.getpid(), getpidOpts);
    m.getpidRaw = await measureAsync(() => k.syscall(NR.getpid), getpidOpts);
    // The floor under any awaited call: one await of an already-settled promise.
    m.awaitFloor = await measureAsync(() => Promise.resolve(0), getpidOpts);

    // 3. stat of a cached 4-component path.
    log('stat …');
    const stObj = {};
    const stBuf = new Uint8Array(128);
    want('stat obj', await k.sys.stat(FILE, stObj), (r) => r === 0);
    want('stat buf', await k.sys.stat(FILE, stBuf), (r) => r === 0);
    m.statObj = await measureAsync(() => k.sys.stat(FILE, stObj));
    m.statBuf = await measureAsync(() => k.sys.stat(FILE, stBuf));
    m.statFacade = await measureAsync(() => k.fs.stat(FILE));
    m.hostStatP = await measureAsync(() => fs.promises.stat(host.file));
    m.hostStatS = measureSync(() => fs.statSync(host.file));

    // 4. open + close.
    log('open+close …');
    m.openClose = await measureAsync(async () => {
      const fd = await k.sys.open(FILE, uapi.O_RDONLY, 0);
      await k.sys.close(fd);
    });
    m.hostOpenCloseP = await measureAsync(async () => { const fh = await fs.promises.open(host.file, 'r'); await fh.close(); });
    m.hostOpenCloseS = measureSync(() => fs.closeSync(fs.openSync(host.file, 'r')));

    // 5. 4 KiB pread from a cached file.
    log('pread …');
    const fd = want('open', await k.sys.open(FILE, uapi.O_RDONLY, 0), (r) => r >= 0);
    const buf = new Uint8Array(4096);
    want('pread64', await k.sys.pread64(fd, buf, 4096, 0), (r) => r === 4096);
    m.pread = await measureAsync(() => k.sys.pread64(fd, buf, 4096, 0));
    await k.sys.close(fd);
    const hbuf = Buffer.alloc(4096);
    const fh = await fs.promises.open(host.file, 'r');
    m.hostPreadP = await measureAsync(() => fh.read(hbuf, 0, 4096, 0));
    await fh.close();
    const hfd = fs.openSync(host.file, 'r');
    m.hostPreadS = measureSync(() => fs.readSync(hfd, hbuf, 0, 4096, 0));
    fs.closeSync(hfd);
  } finally {
    await k.halt();
    fs.rmSync(host.dir, { recursive: true, force: true });
  }

  const ns = (key: string): number => { const v = m[key]!; return typeof v === 'number' ? v : v.nsPerOp; };
  const rows: Row[] = [
    { metric: 'boot → first getpid (median of 30)', ours: ns('bootMedianNs'), peerName: null, peer: null, target: 20e6 },
    { metric: 'boot → first getpid (first, cold JIT)', ours: ns('bootColdNs'), peerName: null, peer: null, target: null },
    { metric: 'getpid: await k.sys.getpid()', ours: ns('getpidSys'), peerName: null, peer: null, target: 1e3 },
    { metric: 'getpid: await k.syscall(NR.getpid)', ours: ns('getpidRaw'), peerName: null, peer: null, target: 1e3 },
    { metric: '(floor) await Promise.resolve(0)', ours: ns('awaitFloor'), peerName: null, peer: null, target: null },
    { metric: 'stat 4-comp, sys.stat(obj)', ours: ns('statObj'), peerName: 'fs.promises.stat', peer: ns('hostStatP'), target: 3e3 },
    { metric: 'stat 4-comp, sys.stat(obj)', ours: ns('statObj'), peerName: 'fs.statSync', peer: ns('hostStatS'), target: 3e3 },
    { metric: 'stat 4-comp, sys.stat(u8[128])', ours: ns('statBuf'), peerName: 'fs.promises.stat', peer: ns('hostStatP'), target: 3e3 },
    { metric: 'stat 4-comp, sys.stat(u8[128])', ours: ns('statBuf'), peerName: 'fs.statSync', peer: ns('hostStatS'), target: 3e3 },
    { metric: 'stat 4-comp, k.fs.stat()', ours: ns('statFacade'), peerName: 'fs.promises.stat', peer: ns('hostStatP'), target: null },
    { metric: 'open+close, sys.open/close', ours: ns('openClose'), peerName: 'fs.promises open/close', peer: ns('hostOpenCloseP'), target: null },
    { metric: 'open+close, sys.open/close', ours: ns('openClose'), peerName: 'fs.openSync/closeSync', peer: ns('hostOpenCloseS'), target: null },
    { metric: 'pread 4 KiB, sys.pread64', ours: ns('pread'), peerName: 'fh.read', peer: ns('hostPreadP'), target: null },
    { metric: 'pread 4 KiB, sys.pread64', ours: ns('pread'), peerName: 'fs.readSync', peer: ns('hostPreadS'), target: null },
  ];

  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    hostDir: fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(),
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    loadAtStart,
  };
  const maxRssKiB = process.resourceUsage().maxRSS;

  if (json) {
    const out = {
      machine,
      maxRssKiB,
      rows: rows.map((r) => ({
        metric: r.metric, oursNs: r.ours, peer: r.peerName, peerNs: r.peer,
        ratio: r.ours !== null && r.peer ? r.ours / r.peer : null, targetNs: r.target,
        targetMet: r.target !== null && r.ours !== null ? r.ours <= r.target : null,
      })),
      raw: m,
      boots,
    };
    return out;
  }

  const lines = rows.map((r) => [
    r.metric,
    fmtNs(r.ours),
    r.peerName ? `${fmtNs(r.peer)} ${r.peerName}` : '-',
    r.ours !== null && r.peer ? `${(r.ours / r.peer).toFixed(2)}x` : '-',
    r.target === null ? '' : `≤ ${fmtNs(r.target)} ${r.ours !== null && r.ours <= r.target ? 'met' : 'MISSED'}`,
  ]);
  const iters = (key: string) => { const v = m[key]; return typeof v === 'object' ? v.iters : 0; };
  process.stdout.write([
    `lkl-ts bench — ${machine.cpu} (${machine.cpus} cpus), Node ${machine.node} ${machine.platform}`,
    `peer: node:fs on ${machine.hostDir}; 7 rounds per figure, median round's ns/op; boot cmdline '${BOOT_CMDLINE}'`,
    `load average at start: ${loadAtStart.toFixed(2)}${loadAtStart > machine.cpus / 2 ? ' — busy machine: figures are noisy, rerun when idle' : ''}`,
    '',
    table(['metric', 'ours', 'peer', 'ratio', 'target'], lines, ['l', 'r', 'l', 'r', 'l']),
    '',
    `iterations per round: getpid ${iters('getpidSys')}, stat ${iters('statObj')}, open+close ${iters('openClose')}, pread ${iters('pread')}`,
    `boots: min ${fmtNs(Math.min(...boots))}, median ${fmtNs(median(boots))}, max ${fmtNs(Math.max(...boots))}`,
    `peak RSS: ${(maxRssKiB / 1024).toFixed(1)} MiB${machine.gcExposed ? '' : ' (run with --expose-gc for GC between rounds)'}`,
    'targets are reported, not asserted.',
    '',
  ].join('\n'));
  return null;
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  if (only === 'cptofs') {
    // Filling ext4 images with the ~1 GiB corpus, seven ways (cptofs.ts); --size MB samples it down.
    const i = process.argv.indexOf('--size');
    out.cptofs = await benchCptofs({ json, sizeMB: i > 0 ? Number(process.argv[i + 1]) : null });
    if (json) process.stdout.write(`${JSON.stringify(out.cptofs, null, 2)}\n`);
    return;
  }
  if (only === 'net') {
    out.net = await benchNet({ json });
    if (json) process.stdout.write(`${JSON.stringify(out.net, null, 2)}\n`);
    return;
  }
  if (only !== 'fs2tar') out.core = await core();
  if (only !== 'core') {
    if (!json && only !== 'fs2tar') process.stdout.write('\n');
    out.fs2tar = await benchFs2tar({ json });
  }
  if (json) process.stdout.write(`${JSON.stringify(only ? out[only] : out, null, 2)}\n`);
}

main().then(
  () => { process.exitCode = 0; },
  (e) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; },
);
