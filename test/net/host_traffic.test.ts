/*
 * Real traffic between our stack and the host's Linux stack, with real Linux programs on the
 * other end. The test makes a network namespace, creates a TAP device through the Node host's
 * TAP backend (socat holds the device's file descriptor in this namespace), then moves the device
 * into the new namespace: the attachment survives the move, so every frame the namespace sends
 * on the device reaches our kernel and the other way round, while the host's own interfaces and
 * routes never see the test's addresses. Host-side programs run inside the namespace with
 * `ip netns exec`: curl, `python3 -m http.server`, tc netem, and a small node:net/node:dgram
 * peer written to a temporary file.
 *
 * Cases: curl fetches from an HTTP/1.1 server written here over our sockets; our HTTP client
 * fetches a large file from python's http.server; bulk TCP both ways under netem loss, reordering
 * and delay; a thousand concurrent connections from the host to one listener of ours; UDP echo
 * both ways including a 60000-byte datagram (IPv4 fragmentation in both directions).
 *
 * Sizes: the TAP backend relays each frame through socat as one UDP datagram, so throughput is
 * bounded by that relay and by this one JS thread; LKT_HTTP_MB (default 100) and LKT_BULK_MB
 * (default 20; the 5%-loss phase moves a quarter of it, being bound by retransmission timeouts)
 * size the big transfers; LKT_SEED seeds the in-process impairment. Rates are printed with the process CPU time, since the
 * wall clock is shared with whoever else runs on the machine.
 *
 * Loss, reordering and delay come from tc netem on the namespace's side of the TAP where the host
 * kernel has sch_netem, else from an in-process impairment of both directions (see Impair).
 *
 * Needs root, socat, ip, tc, curl and python3; skips with a printed reason elsewhere, never when
 * CI is set. Everything made here (namespace, device, temporary files, processes) is removed in
 * after(), also on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { boot, type LklKernel, type KernelTask } from '../../src/lkl.js';
import { createNodeHost, createTapBackend, type TapBackend } from '../../src/arch/node/index.js';
import type { NetBackend } from '../../src/arch/host.js';
import { AF_INET, SOCK_STREAM, SOCK_DGRAM, SOL_SOCKET, SO_REUSEADDR, SHUT_WR } from '../../src/uapi/socket.js';
import { sin, pattern, writeAll } from './helpers.js';

const run = promisify(execFile);
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tools = ['socat', 'ip', 'tc', 'curl', 'python3'];
const missing = tools.filter((t) => !have(t));
const isRoot = process.getuid?.() === 0;
const skip = (!isRoot || missing.length) && !process.env['CI']
  ? `needs root and ${tools.join(', ')} (TAP device in a network namespace)${missing.length ? `; missing: ${missing.join(', ')}` : ''}${isRoot ? '' : '; not root'}`
  : false;
if (skip) console.log(`# skip host_traffic: ${skip}`);

const HOST = '10.213.91.1', OURS = '10.213.91.2';
const HTTP_MB = Number(process.env['LKT_HTTP_MB'] ?? 100);
const BULK_MB = Number(process.env['LKT_BULK_MB'] ?? 20);
const CONNS = 1000;
const BULK_SEED = Number(process.env['LKT_SEED'] ?? 20261124);

const tag = `lkh${process.pid % 100000}`;
const NS = `${tag}ns`, DEV = `${tag}t`;
let tmp = '';
let k: LklKernel;
let tap: TapBackend | null = null;

/*
 * Where the host kernel lacks sch_netem (some VM kernels are built without it), the same
 * impairment is applied between the TAP device and our NIC instead: each frame, in each
 * direction, is dropped with probability `loss`, else sent straight on with probability
 * `reorder` (jumping ahead of the delayed ones, which is how netem reorders), else held for
 * `delayMs`. Seeded, so a failing run can be replayed. With everything zero it is a plain wire.
 */
class Impair implements NetBackend {
  loss = 0; reorder = 0; delayMs = 0;
  private x = 0x9e3779b9;
  private rx: ((f: Uint8Array) => void) | null = null;
  readonly mtu?: number;
  constructor(private readonly inner: NetBackend) {
    if (inner.mtu !== undefined) this.mtu = inner.mtu;
    inner.setReceiver((f) => this.pass(f, (g) => this.rx?.(g)));
  }
  seed(s: number): void { this.x = s >>> 0 || 1; }
  private rand(): number { let x = this.x; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; this.x = x >>> 0; return this.x / 4294967296; }
  private pass(f: Uint8Array, out: (f: Uint8Array) => void): void {
    if (!this.loss && !this.delayMs) { out(f); return; }
    if (this.rand() < this.loss) return;
    if (!this.delayMs || this.rand() < this.reorder) { out(f); return; }
    const copy = f.slice();
    setTimeout(() => out(copy), this.delayMs);
  }
  tx(frame: Uint8Array): void | Promise<void> {
    if (!this.loss && !this.delayMs) return this.inner.tx(frame);
    this.pass(frame, (g) => { void this.inner.tx(g); });
  }
  setReceiver(rx: ((frame: Uint8Array) => void) | null): void { this.rx = rx; }
}
let wire: Impair;
const children = new Set<ChildProcess>();

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const nsArgv = (argv: string[]) => ['netns', 'exec', NS, ...argv];
/** Run a host program inside the namespace, asynchronously (our kernel runs on this event loop). */
const inNs = (argv: string[], o: { timeout?: number; maxBuffer?: number } = {}) =>
  run('ip', nsArgv(argv), { encoding: 'utf8', timeout: o.timeout ?? 60_000, maxBuffer: o.maxBuffer ?? 1 << 20 });

/** A long-running host program inside the namespace; killed in after(). */
function spawnInNs(argv: string[]): ChildProcess & { out: () => string } {
  const c = spawn('ip', nsArgv(argv), { stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: () => string };
  let text = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => { text += d; });
  c.stderr!.setEncoding('utf8').on('data', (d: string) => { text += d; });
  c.out = () => text;
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

/** CPU time (user+sys, this process and its finished children excluded) in seconds. */
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
function rate(what: string, bytes: number, t0: number, c0: number): void {
  const wall = (Date.now() - t0) / 1000, c = cpu() - c0;
  console.log(`# ${what}: ${(bytes / 1048576).toFixed(1)} MiB in ${wall.toFixed(2)} s wall (${(bytes / 1048576 / wall).toFixed(1)} MiB/s), ${c.toFixed(2)} s CPU of this process (machine shared: wall figures are indicative)`);
}

/*
 * The host-side peer (node, inside the namespace): modes
 *   bulk HOST PORT NBYTES SEED  connect, send NBYTES of pattern(SEED) then SHUT_WR, read to EOF;
 *                               print JSON {sent, got, gotLen}
 *   conns HOST PORT N           open N connections at once, each writes "line i\n" and waits
 *                               for the same line back; print JSON {ok, failed, firstError}
 *   udpecho HOST                echo server on HOST:0; print the port, then serve
 *   udpsend HOST PORT SIZES     send one datagram per size to HOST:PORT, wait for each echo;
 *                               print JSON [{size, ok}]
 */
const PEER = String.raw`
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { createHash } from 'node:crypto';
const [mode, ...a] = process.argv.slice(2);
function pattern(n, seed) {
  const b = Buffer.alloc(n); let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}
if (mode === 'bulk') {
  const [host, port, n, seed] = [a[0], +a[1], +a[2], +a[3]];
  const data = pattern(n, seed);
  const h = createHash('sha256'); let got = 0;
  // Exit only when our own data is out as well as theirs in: exiting on 'end' while our write
  // was still queued in node cut the stream short (the host then sent FIN after a prefix).
  let wrote = false, ended = false;
  const finish = () => { if (!wrote || !ended) return; console.log(JSON.stringify({ sent: createHash('sha256').update(data).digest('hex'), got: h.digest('hex'), gotLen: got })); process.exit(0); };
  const s = net.connect(port, host, () => { s.end(data, () => { wrote = true; finish(); }); });
  s.on('data', (d) => { h.update(d); got += d.length; });
  s.on('end', () => { ended = true; finish(); });
  s.on('error', (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
} else if (mode === 'conns') {
  const [host, port, n] = [a[0], +a[1], +a[2]];
  let ok = 0, failed = 0, firstError = '';
  const one = (i) => new Promise((resolve) => {
    const line = 'line ' + i + ' ' + 'x'.repeat(i % 50) + '\n';
    let buf = '';
    const s = net.connect(port, host);
    const done = (good, why) => { if (good) ok++; else { failed++; if (!firstError) firstError = why; } s.destroy(); resolve(); };
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line));
    s.on('data', (d) => { buf += d; if (buf.length >= line.length) done(buf === line, 'got ' + JSON.stringify(buf) + ', want ' + JSON.stringify(line)); });
    s.on('error', (e) => done(false, String(e)));
    s.on('end', () => { if (buf.length < line.length) done(false, 'EOF after ' + JSON.stringify(buf)); });
    s.setTimeout(60000, () => done(false, 'timeout'));
  });
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  console.log(JSON.stringify({ ok, failed, firstError }));
} else if (mode === 'udpecho') {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(0, a[0], () => console.log(String(s.address().port)));
} else if (mode === 'udpsend') {
  const [host, port, sizes] = [a[0], +a[1], a[2].split(',').map(Number)];
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  await new Promise((r) => s.bind(0, () => r()));
  const out = [];
  for (const size of sizes) {
    const m = pattern(size, size);
    const want = createHash('sha256').update(m).digest('hex');
    const got = await new Promise((resolve) => {
      const t = setTimeout(() => { s.off('message', on); resolve(null); }, 5000);
      const on = (r) => { clearTimeout(t); s.off('message', on); resolve(r); };
      s.on('message', on);
      s.send(m, port, host);
    });
    out.push({ size, ok: got !== null && createHash('sha256').update(got).digest('hex') === want, gotLen: got ? got.length : -1 });
  }
  console.log(JSON.stringify(out));
  s.close();
}
`;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: got exit ${r.status} (${r.stderr.trim()}), want 0`);
}

before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  fs.writeFileSync(path.join(tmp, 'peer.mjs'), PEER);
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  // socat attaches in this namespace (its relay socket talks to ours over 127.0.0.1 here), then
  // the device moves; moving takes the address and IFF_UP away, so both are set again there.
  tap = await createTapBackend({ name: DEV, up: false });
  sh('ip', ['link', 'set', DEV, 'netns', NS]);
  sh('ip', ['-n', NS, 'addr', 'add', `${HOST}/24`, 'dev', DEV]);
  sh('ip', ['-n', NS, 'link', 'set', DEV, 'up']);
  k = await boot({ cmdline: 'mem=256M quiet', host: createNodeHost({ print: null }) });
  wire = new Impair(tap);
  const ifi = k.netdevGetIfindex(k.netdevAdd(wire));
  assert.equal(await k.ifUp(1), 0);
  assert.equal(await k.ifUp(ifi), 0);
  assert.equal(await k.ifSetIpv4(ifi, OURS, 24), 0);
});

after(async () => {
  for (const c of [...children]) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  // The namespace's own programs (python's server) die with their ip-netns-exec parent killed
  // above only if they are that process itself (ip netns exec execs), which they are.
  try { if (k) await k.halt(); } catch { /* report the test's own failure instead */ }
  try { await tap?.close(); } catch { /* already gone */ }
  spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', DEV], { stdio: 'ignore' });
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Read from fd until "\r\n\r\n"; returns [header text, bytes after it]. */
async function readHead(t: KernelTask, fd: number): Promise<[string, Uint8Array]> {
  let acc = new Uint8Array(0);
  const buf = new Uint8Array(65536);
  for (;;) {
    const r = await t.sys.read(fd, buf, buf.length);
    if (r < 0) throw new Error(`read: got ${r}`);
    if (r === 0) throw new Error(`EOF before the end of the header: ${JSON.stringify(Buffer.from(acc).toString('latin1'))}`);
    const n = new Uint8Array(acc.length + r); n.set(acc); n.set(buf.subarray(0, r), acc.length); acc = n;
    const end = Buffer.from(acc).indexOf('\r\n\r\n');
    if (end >= 0) return [Buffer.from(acc.subarray(0, end)).toString('latin1'), acc.slice(end + 4)];
    if (acc.length > 65536) throw new Error('header over 64 KiB');
  }
}

async function listenOn(t: KernelTask, port: number, backlog: number): Promise<number> {
  const fd = await t.sys.socket(AF_INET, SOCK_STREAM, 0);
  assert.ok(fd >= 0, `socket: got ${fd}`);
  assert.equal(await t.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new Int32Array([1]), 4), 0);
  assert.equal(await t.sys.bind(fd, sin(OURS, port), 16), 0);
  assert.equal(await t.sys.listen(fd, backlog), 0);
  return fd;
}

test('host curl fetches 1 MiB over HTTP/1.1 from a server on our stack', { skip, timeout: 30_000 }, async () => {
  const body = pattern(1 << 20, 31);
  const t = k.task();
  const lfd = await listenOn(t, 8080, 16);
  let requestLine = '';
  const served = (async () => {
    const fd = await t.sys.accept4(lfd, null, null, 0);
    if (fd < 0) throw new Error(`accept4: got ${fd}`);
    const [head] = await readHead(t, fd);
    requestLine = head.split('\r\n')[0]!;
    const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
    const ok = m && m[1] === 'GET' && m[2] === '/blob';
    const payload = ok ? body : new TextEncoder().encode('not found\n');
    const hdr = `HTTP/1.1 ${ok ? '200 OK' : '404 Not Found'}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${payload.length}\r\nConnection: close\r\n\r\n`;
    await writeAll(t, fd, new TextEncoder().encode(hdr));
    await writeAll(t, fd, payload);
    assert.equal(await t.sys.close(fd), 0);
  })();
  const out = path.join(tmp, 'curl.out');
  const t0 = Date.now(), c0 = cpu();
  const r = await inNs(['curl', '-sS', '--http1.1', '--max-time', '25', '-o', out, '-w', '%{http_code} %{http_version} %{size_download}',
    `http://${OURS}:8080/blob`]).catch((e: { code?: number; stdout?: string; stderr?: string }) =>
    ({ stdout: `curl exit ${e.code}: ${e.stdout} ${e.stderr}` }));
  await served;
  rate('curl <- our HTTP server', body.length, t0, c0);
  assert.equal(r.stdout, `200 1.1 ${body.length}`, `curl: got "${r.stdout}", want "200 1.1 ${body.length}"`);
  assert.match(requestLine, /^GET \/blob HTTP\/1\.1$/);
  assert.equal(sha(fs.readFileSync(out)), sha(body), 'sha256 of the body curl saved');
  await t.sys.close(lfd);
});

test(`our HTTP client fetches ${HTTP_MB} MiB from python3 -m http.server on the host`, { skip, timeout: 90_000 }, async () => {
  const size = Math.round(HTTP_MB * 1048576);
  const dir = path.join(tmp, 'www');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'big.bin');
  const want = createHash('sha256');
  const fdw = fs.openSync(file, 'w');
  for (let off = 0, i = 0; off < size; off += 1 << 20, i++) {
    const chunk = pattern(Math.min(1 << 20, size - off), 1000 + i);
    want.update(chunk); fs.writeSync(fdw, chunk);
  }
  fs.closeSync(fdw);
  const srv = spawnInNs(['python3', '-m', 'http.server', '8000', '--bind', HOST, '--directory', dir]);
  const t = k.task();
  // Connect until the server listens (a refused SYN comes back as ECONNREFUSED).
  let fd = -1;
  for (let i = 0; ; i++) {
    fd = await t.sys.socket(AF_INET, SOCK_STREAM, 0);
    const r = await t.sys.connect(fd, sin(HOST, 8000), 16);
    if (r === 0) break;
    await t.sys.close(fd);
    if (i > 100) throw new Error(`connect to http.server: got ${r}, want 0; server says: ${srv.out()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const t0 = Date.now(), c0 = cpu();
  await writeAll(t, fd, new TextEncoder().encode(`GET /big.bin HTTP/1.1\r\nHost: ${HOST}:8000\r\nUser-Agent: lkl-ts\r\nConnection: close\r\n\r\n`));
  const [head, rest] = await readHead(t, fd);
  assert.match(head.split('\r\n')[0]!, /^HTTP\/1\.[01] 200 /, `status line: ${head}`);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  assert.equal(Number(cl?.[1]), size, `Content-Length: got ${cl?.[1]}, want ${size}`);
  const got = createHash('sha256').update(rest);
  let n = rest.length;
  const buf = new Uint8Array(1 << 18);
  for (;;) {
    const r = await t.sys.read(fd, buf, buf.length);
    if (r < 0) throw new Error(`read: got ${r}`);
    if (r === 0) break;
    got.update(buf.subarray(0, r)); n += r;
  }
  rate('our HTTP client <- python http.server', n, t0, c0);
  await t.sys.close(fd);
  srv.kill('SIGTERM');
  assert.equal(n, size, `body length: got ${n}, want ${size}`);
  assert.equal(got.digest('hex'), want.digest('hex'), 'sha256 of the body');
  fs.rmSync(file);
});

/** One bulk exchange with the host peer: it sends `bytes` of pattern(seed) while we send ours. */
async function bulkExchange(port: number, bytes: number, seed: number, what: string): Promise<void> {
  const t = k.task(), tw = k.task();
  const lfd = await listenOn(t, port, 4);
  const peer = inNs([process.execPath, path.join(tmp, 'peer.mjs'), 'bulk', OURS, String(port), String(bytes), String(seed)], { timeout: 100_000 });
  const t0 = Date.now(), c0 = cpu();
  const fd = await t.sys.accept4(lfd, null, null, 0);
  assert.ok(fd >= 0, `accept4: got ${fd}`);
  const ours = pattern(bytes, seed + 1);
  const h = createHash('sha256');
  let n = 0;
  await Promise.all([
    (async () => {
      const buf = new Uint8Array(1 << 18);
      for (;;) {
        const r = await t.sys.read(fd, buf, buf.length);
        if (r < 0) throw new Error(`read: got ${r}`);
        if (r === 0) break;
        h.update(buf.subarray(0, r)); n += r;
      }
    })(),
    (async () => {
      await writeAll(tw, fd, ours);
      assert.equal(await tw.sys.shutdown(fd, SHUT_WR), 0);
    })(),
  ]);
  const res = JSON.parse((await peer).stdout) as { sent: string; got: string; gotLen: number };
  rate(`${what}, both directions`, 2 * bytes, t0, c0);
  await t.sys.close(fd);
  await t.sys.close(lfd);
  assert.equal(n, bytes, `bytes we received: got ${n}, want ${bytes}`);
  assert.equal(h.digest('hex'), res.sent, 'sha256 of what we received vs what the host sent');
  assert.equal(res.gotLen, bytes, `bytes the host received: got ${res.gotLen}, want ${bytes}`);
  assert.equal(res.got, sha(ours), 'sha256 of what the host received vs what we sent');
}

test(`bulk TCP ${BULK_MB} MiB each way under loss, reordering and delay`, {
  skip, timeout: 120_000,
}, async () => {
  const bytes = Math.round(BULK_MB * 1048576);
  // tc netem on the host side of the TAP, as the issue asks; the in-process Impair otherwise.
  const netem = await inNs(['tc', 'qdisc', 'add', 'dev', DEV, 'root', 'netem', 'loss', '1%', 'reorder', '5%', 'delay', '1ms'])
    .then(() => true, (e: { stderr?: string }) => {
      console.log(`# tc netem unavailable on this host kernel (${(e.stderr ?? '').trim()}): impairing both directions in-process instead`);
      return false;
    });
  try {
    if (!netem) { wire.seed(BULK_SEED); wire.loss = 0.01; wire.reorder = 0.05; wire.delayMs = 1; }
    await bulkExchange(9001, bytes, 41, `loss 1% reorder 5% delay 1ms (${netem ? 'netem' : 'in-process'}, seed ${BULK_SEED})`);
    if (netem) await inNs(['tc', 'qdisc', 'change', 'dev', DEV, 'root', 'netem', 'loss', '5%', 'delay', '1ms']);
    else { wire.loss = 0.05; wire.reorder = 0; }
    await bulkExchange(9002, Math.round(bytes / 4), 43, `loss 5% delay 1ms (${netem ? 'netem' : 'in-process'}, seed ${BULK_SEED})`);
  } finally {
    wire.loss = 0; wire.reorder = 0; wire.delayMs = 0;
    if (netem) await inNs(['tc', 'qdisc', 'del', 'dev', DEV, 'root']).catch(() => undefined);
  }
});

test(`${CONNS} concurrent connections from the host to one listener of ours`, { skip, timeout: 90_000 }, async () => {
  // A Linux admin expecting a thousand simultaneous connects raises net.core.somaxconn and the
  // listen backlog, and RLIMIT_NOFILE past 1024 (every accepted socket is an fd).
  const sc = await k.sysctl('net/core/somaxconn', 4096);
  if (sc !== 0) console.log(`# net.core.somaxconn not settable through sysctl (got ${sc}); the default is 4096`);
  const t = k.task();
  assert.equal(await t.sys.prlimit64(0, 7 /* RLIMIT_NOFILE */, { cur: 4096, max: 4096 }, null), 0);
  const lfd = await listenOn(t, 7000, CONNS);
  let served = 0, stop = false;
  const errors: string[] = [];
  const serve = async (fd: number) => {
    const ct = k.task();
    try {
      const buf = new Uint8Array(256);
      let line = new Uint8Array(0);
      while (!line.includes(10)) {
        const r = await ct.sys.read(fd, buf, buf.length);
        if (r <= 0) { errors.push(`read: got ${r}`); return; }
        const n = new Uint8Array(line.length + r); n.set(line); n.set(buf.subarray(0, r), line.length); line = n;
      }
      await writeAll(ct, fd, line);
      served++;
    } finally { await ct.sys.close(fd); }
  };
  const pending: Promise<void>[] = [];
  const acceptLoop = (async () => {
    while (!stop) {
      const fd = await t.sys.accept4(lfd, null, null, 0);
      if (fd < 0) { if (!stop) errors.push(`accept4: got ${fd}`); return; }
      pending.push(serve(fd));
    }
  })();
  const t0 = Date.now();
  const r = await inNs([process.execPath, path.join(tmp, 'peer.mjs'), 'conns', OURS, '7000', String(CONNS)], { timeout: 80_000 });
  const res = JSON.parse(r.stdout) as { ok: number; failed: number; firstError: string };
  console.log(`# ${CONNS} connections: ${res.ok} echoed in ${((Date.now() - t0) / 1000).toFixed(2)} s wall`);
  stop = true;
  await t.sys.close(lfd);
  await Promise.race([acceptLoop, new Promise((r2) => setTimeout(r2, 1000))]);
  await Promise.all(pending);
  assert.equal(res.ok, CONNS, `host side: got ${res.ok} echoes (${res.failed} failed, first: ${res.firstError}), want ${CONNS}`);
  assert.equal(served, CONNS, `served: got ${served}, want ${CONNS}; errors: ${errors.slice(0, 3).join('; ')}`);
});

test('UDP echo both ways, up to a 60000-byte datagram (fragmented both ways)', { skip, timeout: 30_000 }, async () => {
  const sizes = [1, 512, 1472, 1473, 8000, 60000];
  // The host echoes, we send.
  const echo = spawnInNs([process.execPath, path.join(tmp, 'peer.mjs'), 'udpecho', HOST]);
  for (let i = 0; !/^\d+\n/.test(echo.out()); i++) {
    if (i > 100) throw new Error(`host UDP echo did not start: ${echo.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const hostPort = Number(echo.out().trim());
  const t = k.task();
  const ufd = await t.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const rb = new Uint8Array(65536);
  for (const size of sizes) {
    const m = pattern(size, size);
    assert.equal(await t.sys.sendto(ufd, m, size, 0, sin(HOST, hostPort), 16), size, `sendto ${size}`);
    const n = await t.sys.recvfrom(ufd, rb, rb.length, 0, null, null);
    assert.equal(n, size, `echo from the host of ${size} bytes: got ${n} bytes`);
    assert.equal(sha(rb.subarray(0, n)), sha(m), `echo from the host of ${size} bytes: content differs`);
  }
  await t.sys.close(ufd);
  echo.kill('SIGTERM');

  // We echo, the host sends.
  const sfd = await t.sys.socket(AF_INET, SOCK_DGRAM, 0);
  assert.equal(await t.sys.bind(sfd, sin(OURS, 5353), 16), 0);
  let stop = false;
  const server = (async () => {
    const from = { family: 0, addr: '', port: 0 };
    const buf = new Uint8Array(65536);
    while (!stop) {
      const n = await t.sys.recvfrom(sfd, buf, buf.length, 0, from, null);
      if (n < 0) return;
      await t.sys.sendto(sfd, buf.subarray(0, n), n, 0, sin(from.addr, from.port), 16);
    }
  })();
  const r = await inNs([process.execPath, path.join(tmp, 'peer.mjs'), 'udpsend', OURS, '5353', sizes.join(',')]);
  stop = true;
  await t.sys.close(sfd);
  await Promise.race([server, new Promise((r2) => setTimeout(r2, 500))]);
  const res = JSON.parse(r.stdout) as { size: number; ok: boolean; gotLen: number }[];
  for (const x of res) assert.ok(x.ok, `host's ${x.size}-byte datagram echoed by us: got ${x.gotLen} bytes back, want ${x.size} intact`);
  assert.equal(res.length, sizes.length);
});
