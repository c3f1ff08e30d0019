/*
 * Ground truth: our TCP engine talks to the host's Linux TCP through a TUN device.
 *
 * A small Python helper opens /dev/net/tun (IFF_TUN | IFF_NO_PI) and relays raw IPv4 packets
 * over its stdin/stdout with a 2-byte length prefix; the test wraps/unwraps IPv4 headers itself
 * and drives the engine on real time. Linux is both client and server (node:net sockets), and its
 * own SYN is the oracle for the layout our SYN copies. Needs root (skips otherwise, not on CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, existsSync, unlinkSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { TcpEngine, parseTcp, type TcpSegment, type TcpSock } from '../../../../src/net/tcp/index.js';
import { inetChecksum } from '../../../../src/net/header/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { EAGAIN } from '../../../../src/uapi/errno.js';
import { pattern, equalBytes } from './sim.js';

const canRun = process.getuid?.() === 0 && existsSync('/dev/net/tun');
const skip = !canRun && !process.env.CI ? 'needs root and /dev/net/tun' : false;

const HELPER = `
import os, sys, fcntl, struct, threading, ctypes
ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL: never outlive the test process
TUNSETIFF = 0x400454ca
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', sys.argv[1].encode(), 0x0001 | 0x1000))
sys.stdout.buffer.write(b'RDY\\n'); sys.stdout.buffer.flush()
def up():
    while True:
        p = os.read(fd, 65536)
        sys.stdout.buffer.write(struct.pack('>H', len(p)) + p); sys.stdout.buffer.flush()
threading.Thread(target=up, daemon=True).start()
inp = sys.stdin.buffer
while True:
    h = inp.read(2)
    if len(h) < 2: break
    n = struct.unpack('>H', h)[0]
    os.write(fd, inp.read(n))
`;

interface Rig {
  engine: TcpEngine;
  hostAddr: Uint8Array;
  ourAddr: Uint8Array;
  hostIp: string;
  ourIp: string;
  segsIn: TcpSegment[];
  stop(): void;
}

async function rig(): Promise<Rig> {
  const n = process.pid % 200;
  const ifname = `lkltcp${n}`;
  const hostIp = `10.199.${n}.1`, ourIp = `10.199.${n}.2`;
  const hostAddr = new Uint8Array([10, 199, n, 1]), ourAddr = new Uint8Array([10, 199, n, 2]);
  const path = `/tmp/lkl_tcp_tun_${process.pid}.py`;
  writeFileSync(path, HELPER);
  const py: ChildProcess = spawn('python3', [path, ifname], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = Buffer.alloc(0);
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  let started = false;
  const segsIn: TcpSegment[] = [];
  const timers = new Set<NodeJS.Timeout>();
  // After stop() nothing may arm a timer (TIME-WAIT's 60 s would keep the process alive).
  let stopped = false;
  const engine = new TcpEngine({
    clock: {
      nowNs: () => Number(process.hrtime.bigint()),
      setTimer: (at, fn) => {
        if (stopped) return () => {};
        const t = setTimeout(() => { timers.delete(t); fn(); }, Math.max(0, (at - Number(process.hrtime.bigint())) / 1e6));
        timers.add(t);
        return () => { clearTimeout(t); timers.delete(t); };
      },
    },
    output: (src, dst, seg) => {
      const ip = new Uint8Array(20 + seg.length);
      ip[0] = 0x45; ip[2] = ip.length >> 8; ip[3] = ip.length & 0xff; ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
      ip.set(src, 12); ip.set(dst, 16);
      const c = inetChecksum(ip, 0, 20); ip[10] = c >> 8; ip[11] = c & 0xff;
      ip.set(seg, 20);
      const hdr = Buffer.from([ip.length >> 8, ip.length & 0xff]);
      if (!stopped) py.stdin!.write(Buffer.concat([hdr, Buffer.from(ip)]));
    },
    selectSource: () => ourAddr,
    random32: () => (Math.random() * 0x100000000) >>> 0,
  });
  py.stdout!.on('data', (d: Buffer) => {
    if (stopped) return;
    buf = Buffer.concat([buf, d]);
    if (!started) {
      const i = buf.indexOf(10);
      if (i < 0) return;
      buf = buf.subarray(i + 1); started = true; ready();
    }
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      const pkt = new Uint8Array(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if ((pkt[0]! >> 4) !== 4 || pkt[9] !== 6) continue;
      const ihl = (pkt[0]! & 15) * 4;
      const total = (pkt[2]! << 8) | pkt[3]!;
      const seg = pkt.slice(ihl, total);
      const p = parseTcp(seg); if (p) segsIn.push(p);
      engine.input(pkt.slice(16, 20), pkt.slice(12, 16), seg);
    }
  });
  await readyP;
  execFileSync('ip', ['addr', 'add', `${hostIp}/24`, 'dev', ifname]);
  execFileSync('ip', ['link', 'set', ifname, 'up']);
  return {
    engine, hostAddr, ourAddr, hostIp, ourIp, segsIn,
    stop() { stopped = true; for (const t of timers) clearTimeout(t); py.kill(); try { unlinkSync(path); } catch { /* gone */ } },
  };
}

/** The window scale tcp_select_initial_window picks from this host's sysctls. */
function hostWscale(): number {
  const rmem = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[2]);
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
  return Math.min(Math.max(Math.floor(Math.log2(Math.max(rmem, rmemMax))) - 15, 0), 14);
}

function until(pred: () => boolean, ms = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (pred()) { clearInterval(iv); resolve(); }
      else if (Date.now() - t0 > ms) { clearInterval(iv); reject(new Error('timeout')); }
    }, 2);
  });
}

/** Pump `data` out of our socket and read the echo/stream from it at the same time. */
function pumpOut(sk: TcpSock, data: Uint8Array): () => boolean {
  let off = 0, shut = false;
  return () => {
    while (off < data.length) {
      try { off += sk.send(data.subarray(off, off + 65536)); } catch (e) { if ((e as KernelError).errno === EAGAIN) break; throw e; }
    }
    if (off === data.length && !shut) { sk.shutdown(1); shut = true; }
    return shut;
  };
}

test('Linux client ↔ our listener: Linux SYN layout matches ours; 2 MiB each way intact', { skip, timeout: 60000 }, async () => {
  const r = await rig();
  try {
    const l = r.engine.socket(); l.bind(r.ourAddr, 8080); l.listen(8);
    const up = pattern(2 << 20, 11), down = pattern(2 << 20, 12);
    const got: Buffer[] = [];
    const client = net.connect({ host: r.ourIp, port: 8080, localAddress: r.hostIp });
    client.on('data', (d) => got.push(d));
    const closed = new Promise<void>((res) => client.on('end', () => res()));
    client.on('error', () => {});
    client.write(up); client.end();
    await until(() => r.engine.listenerFor(l)!.acceptQueue.length > 0);
    const s = l.accept();
    // Oracle: the host kernel's SYN. Same option order and fields as ours.
    const syn = r.segsIn.find((g) => g.flags === 0x02)!;
    assert.deepEqual(Object.keys(syn.options), ['mss', 'sackPermitted', 'tsVal', 'tsEcr', 'wscale'], `Linux SYN options ${Object.keys(syn.options)}`);
    assert.equal(syn.options.mss, 1460);
    assert.equal(syn.window, 64240, `Linux SYN window ${syn.window}; ours is 64240 too`);
    // Linux's handshake ACK: the SYN's 64240 rounded UP to the scale unit (502 with wscale 7,
    // what ours sends in conn.test.ts), whatever scale this host's tcp_rmem gives.
    const ws = syn.options.wscale!;
    const hsAck = r.segsIn.find((g) => g.flags === 0x10)!;
    assert.equal(hsAck.window, Math.ceil(64240 / 2 ** ws), `Linux handshake ACK window ${hsAck.window} (wscale ${ws})`);
    assert.equal(ws, hostWscale(), 'wscale = ilog2(max(tcp_rmem[2], rmem_max)) − 15');
    const push = pumpOut(s, down);
    const chunks: Uint8Array[] = []; let eof = false;
    await until(() => {
      const allQueued = push();
      for (;;) {
        try { const b = s.recv(1 << 20); if (!b.length) { eof = true; break; } chunks.push(b); } catch { break; }
      }
      return eof && allQueued;
    }, 30000);
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('Linux never saw our FIN')), 10000).unref())]);
    const recvd = Buffer.concat(chunks);
    assert.equal(recvd.length, up.length, `got ${recvd.length} bytes from Linux, want ${up.length}`);
    assert.ok(equalBytes(new Uint8Array(recvd), up));
    const back = Buffer.concat(got);
    assert.equal(back.length, down.length, `Linux got ${back.length} bytes, want ${down.length}`);
    assert.ok(equalBytes(new Uint8Array(back), down));
    s.close();
  } finally { r.stop(); }
});

test('our client → Linux server: handshake, 1 MiB echo, Linux SYN-ACK window 65160', { skip, timeout: 60000 }, async () => {
  const r = await rig();
  const server = net.createServer((c) => { c.pipe(c); c.on('error', () => {}); });
  await new Promise<void>((res) => server.listen(8081, r.hostIp, () => res()));
  try {
    const c = r.engine.socket();
    c.connect(r.hostAddr, 8081);
    await until(() => c.state === 1);
    const synack = r.segsIn.find((g) => g.flags === 0x12)!;
    // Oracle for our SYN-ACK: Linux's own is 65160 (45 × 1448) with wscale 7.
    assert.equal(synack.window, 65160, `Linux SYN-ACK window ${synack.window}`);
    assert.deepEqual(Object.keys(synack.options), ['mss', 'sackPermitted', 'tsVal', 'tsEcr', 'wscale']);
    assert.equal(synack.options.wscale, hostWscale());
    assert.equal(synack.options.wscale !== undefined && c.sackOk && c.tsOk, true);
    const data = pattern(1 << 20, 13);
    const push = pumpOut(c, data);
    const chunks: Uint8Array[] = []; let eof = false;
    await until(() => {
      const allQueued = push();
      for (;;) {
        try { const b = c.recv(1 << 20); if (!b.length) { eof = true; break; } chunks.push(b); } catch { break; }
      }
      return eof && allQueued;
    }, 30000);
    const echoed = Buffer.concat(chunks);
    assert.equal(echoed.length, data.length, `got ${echoed.length} echoed bytes, want ${data.length}`);
    assert.ok(equalBytes(new Uint8Array(echoed), data));
    c.close();
  } finally { server.close(); r.stop(); }
});

test('Linux answers a SYN to a closed port with RST, giving ECONNREFUSED', { skip, timeout: 60000 }, async () => {
  const r = await rig();
  try {
    const c = r.engine.socket();
    c.connect(r.hostAddr, 9); // nothing listens on discard
    await until(() => c.state === 7);
    assert.equal(c.takeError(), 111);
  } finally { r.stop(); }
});
