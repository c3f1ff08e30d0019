/*
 * QEMU socket transports (src/arch/node/net_qemu.ts): two of our backends wired to each other
 * must pass frames intact and in order both ways; and a reference peer written independently in
 * Python (plain sockets, QEMU's framing: one datagram per frame, or a 4-byte big-endian length
 * before each frame on a stream) must understand what we send and be understood. The test against
 * a real QEMU is qemu_hub.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { createNetBackend, parseNetSpec, DgramBackend, StreamBackend, StreamDeframer, encodeStreamFrame } from '../../src/arch/node/index.js';
import type { NetBackend } from '../../src/arch/host.js';
import { Collector, eq, haveTool, patternFrame } from './frames.js';

const open: NetBackend[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const b of open) await b.close?.();
});
process.once('exit', () => { for (const p of procs) p.kill('SIGKILL'); });

async function track<T extends NetBackend>(p: Promise<T>): Promise<T> {
  const b = await p;
  open.push(b);
  return b;
}

/** The sizes every exchange covers: minimum, full 1500-MTU frame, odd sizes, a jumbo one. */
const SIZES = [64, 1514, 60, 61, 1000, 9014];

/**
 * `count` frames each way, compared in order. Every `window` frames we wait for the other side
 * to have them all: datagrams over loopback are lossless only while the receiver's socket buffer
 * (as small as 208 KiB where net.core.rmem_max is the default) is not overrun.
 */
async function exchange(a: NetBackend, b: NetBackend, count: number, window = 32): Promise<void> {
  const ca = new Collector(a);
  const cb = new Collector(b);
  const sentAB: Uint8Array[] = [];
  const sentBA: Uint8Array[] = [];
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = SIZES[i % SIZES.length]!;
    const fa = patternFrame(len, i);
    const fb = patternFrame(len, 100000 + i);
    sentAB.push(fa);
    sentBA.push(fb);
    await a.tx(fa);
    await b.tx(fb);
    if (i % window === window - 1 || i === count - 1) {
      gotB.push(...await cb.count(sentAB.length - gotB.length));
      gotA.push(...await ca.count(sentBA.length - gotA.length));
    }
  }
  for (let i = 0; i < count; i++) {
    assert.ok(eq(gotB[i]!, sentAB[i]!), `a->b frame ${i}: got ${gotB[i]!.length} bytes seq ${new DataView(gotB[i]!.buffer, gotB[i]!.byteOffset).getUint32(0)}, want ${sentAB[i]!.length} bytes seq ${i}`);
    assert.ok(eq(gotA[i]!, sentBA[i]!), `b->a frame ${i}: got ${gotA[i]!.length} bytes, want ${sentBA[i]!.length} intact`);
  }
  assert.equal(cb.frames.length + ca.frames.length, 0, 'extra frames: got some, want none');
}

describe('spec parsing', () => {
  it('parses each type and rejects bad specs', () => {
    const d = parseNetSpec('qemu-dgram:local=127.0.0.1:5555,remote=127.0.0.1:5556,mac=02:00:00:00:00:01');
    assert.deepEqual(d.type === 'qemu-dgram' && [d.local, d.remote, Array.from(d.mac!)],
      [{ host: '127.0.0.1', port: 5555 }, { host: '127.0.0.1', port: 5556 }, [2, 0, 0, 0, 0, 1]]);
    const q = parseNetSpec('qemu-dgram:udp=[::1]:7,localaddr=[::1]:8');
    assert.deepEqual(q.type === 'qemu-dgram' && [q.remote, q.local], [{ host: '::1', port: 7 }, { host: '::1', port: 8 }]);
    const s = parseNetSpec('qemu-stream:connect=unix:/tmp/x.sock,reconnect=2');
    assert.deepEqual(s.type === 'qemu-stream' && [s.connect, s.reconnectMs], [{ path: '/tmp/x.sock' }, 2000]);
    const l = parseNetSpec('qemu-stream:listen=:5555');
    assert.deepEqual(l.type === 'qemu-stream' && l.listen, { host: '', port: 5555 });
    const t = parseNetSpec('tap:tap0,up=0,addr=10.0.0.1/24,mtu=9000');
    assert.deepEqual(t.type === 'tap' && [t.name, t.up, t.addr, t.mtu], ['tap0', false, '10.0.0.1/24', 9000]);
    for (const bad of ['tap:', 'tap:x,up=2', 'qemu-dgram:', 'qemu-dgram:remote=:5', 'qemu-stream:connect=a:1,listen=:2',
      'qemu-stream:listen=:1,reconnect=1', 'qemu-stream:connect=h:99999', 'vde:/tmp/x', 'tap:t,foo=1', 'tap:t,mac=1:2']) {
      assert.throws(() => parseNetSpec(bad), Error, `spec "${bad}": got accepted, want an error`);
    }
  });
});

describe('stream deframer', () => {
  it('splits frames at any chunk boundary and refuses lengths QEMU refuses', () => {
    const frames = [patternFrame(64, 1), patternFrame(1514, 2), patternFrame(0, 3), patternFrame(7, 4)];
    const wire = Buffer.concat(frames.map(encodeStreamFrame));
    for (const step of [1, 3, 4, 5, 100, wire.length]) {
      const got: Uint8Array[] = [];
      const d = new StreamDeframer((f) => got.push(f));
      for (let i = 0; i < wire.length; i += step) assert.equal(d.push(wire.subarray(i, i + step)), true);
      assert.deepEqual(got.map((f) => Array.from(f)), frames.map((f) => Array.from(f)), `chunk size ${step}`);
    }
    const d = new StreamDeframer(() => {});
    assert.equal(d.push(Uint8Array.from([0, 1, 0x10, 1])), false, 'length 69633: got accepted, want refused');
  });
});

describe('qemu-dgram pair', () => {
  it('passes frames intact and in order both ways', async () => {
    const a = await track(createNetBackend('qemu-dgram:local=127.0.0.1:0') as Promise<DgramBackend>);
    const aPort = a.localAddress.port;
    const b = await track(createNetBackend(`qemu-dgram:local=127.0.0.1:0,remote=127.0.0.1:${aPort}`) as Promise<DgramBackend>);
    // a has no remote: it answers the source of the last datagram, so b speaks first.
    const ca = new Collector(a);
    b.tx(patternFrame(64, 999));
    assert.equal((await ca.next()).length, 64);
    a.setReceiver(null);
    await exchange(a, b, 600);
  });
});

describe('qemu-stream pair', () => {
  it('TCP listen/connect passes frames intact and in order both ways', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const addr = srv.localAddress as { host: string; port: number };
    const cli = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${addr.port}`) as Promise<StreamBackend>);
    await srv.waitConnected();
    await exchange(srv, cli, 3000, 1000);
  });

  it('unix listen/connect works, and a second client waits for the first to leave', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lklnet-')), 'n.sock');
    const srv = await track(createNetBackend(`qemu-stream:listen=unix:${sock}`) as Promise<StreamBackend>);
    const c1 = await track(createNetBackend(`qemu-stream:connect=unix:${sock}`) as Promise<StreamBackend>);
    const c2 = await track(createNetBackend(`qemu-stream:connect=unix:${sock}`) as Promise<StreamBackend>);
    await srv.waitConnected();
    await exchange(srv, c1, 50);
    const ss = new Collector(srv);
    c2.tx(patternFrame(100, 2));
    c1.tx(patternFrame(100, 1));
    const first = await ss.next();
    assert.equal(new DataView(first.buffer).getUint32(0), 1, 'got a frame from the queued client first, want the attached one');
    await c1.close();
    const second = await ss.next(() => true, 5000, "the queued client's frame");
    assert.ok(eq(second, patternFrame(100, 2)), 'queued client frame: got corrupted, want intact');
  });

  it('hangs up on a length QEMU would refuse and serves the next client', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const port = (srv.localAddress as { port: number }).port;
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    await new Promise((r) => raw.once('connect', r));
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await new Promise((r) => raw.once('close', r));
    const cli = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${port}`));
    await srv.waitConnected();
    await exchange(srv, cli, 10);
  });

  it('tx pushes back when the peer stops reading, and drops past the limit', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const raw = net.connect((srv.localAddress as { port: number }).port, '127.0.0.1');
    raw.on('error', () => {});
    raw.pause();
    await srv.waitConnected();
    let pushedBack: Promise<void> | null = null;
    let sent = 0;
    while (srv.txDropped === 0 && sent < 100000) {
      const r = srv.tx(patternFrame(1514, sent++));
      if (r && !pushedBack) pushedBack = r;
    }
    assert.ok(pushedBack, `no back-pressure promise after ${sent} frames, want one`);
    assert.ok(srv.txDropped > 0, `drops after ${sent} frames to a stalled peer: got none, want some`);
    let bytes = 0;
    raw.on('data', (d: Buffer) => { bytes += d.length; });
    raw.resume();
    await pushedBack;
    raw.destroy();
    assert.ok(bytes > 0);
  });

  it('a frame sent with no peer is dropped, not queued', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    srv.tx(patternFrame(64, 1));
    assert.equal(srv.txDropped, 1);
    const port = (srv.localAddress as { port: number }).port;
    const cli = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${port}`));
    await srv.waitConnected();
    const c = new Collector(cli);
    srv.tx(patternFrame(64, 2));
    const f = await c.next();
    assert.equal(new DataView(f.buffer).getUint32(0), 2, 'got the frame sent before the peer came, want only the later one');
  });

  it('a client with reconnect= comes back after the server restarts', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const port = (srv.localAddress as { port: number }).port;
    const cli = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${port},reconnect-ms=100`) as Promise<StreamBackend>);
    await srv.waitConnected();
    await srv.close();
    const srv2 = await track(createNetBackend(`qemu-stream:listen=127.0.0.1:${port}`) as Promise<StreamBackend>);
    await srv2.waitConnected();
    await cli.waitConnected();
    await exchange(srv2, cli, 5);
  });
});

/*
 * The reference peer. It knows nothing of our code: QEMU's framing from its documentation. It
 * first sends GREET frames (all in one write, so they arrive coalesced), then echoes every frame
 * it receives with its bytes reversed until the connection ends (stream) or forever (dgram).
 */
const PEER = String.raw`
import socket, struct, sys
mode, port = sys.argv[1], int(sys.argv[2])
sizes = [64, 1514, 60, 9014, 61]
def pattern(n, k):
    return bytes(((i * 31 + k * 7) & 255) for i in range(n))
def recvall(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b
if mode in ('stream-listen', 'stream-connect'):
    if mode == 'stream-listen':
        srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
        print(srv.getsockname()[1], flush=True)
        c, _ = srv.accept()
    else:
        c = socket.create_connection(('127.0.0.1', port))
        print(0, flush=True)
    c.sendall(b''.join(struct.pack('!I', n) + pattern(n, k) for k, n in enumerate(sizes)))
    while True:
        h = recvall(c, 4)
        if h is None:
            break
        (n,) = struct.unpack('!I', h)
        p = recvall(c, n)
        c.sendall(struct.pack('!I', n) + p[::-1])
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
    print(s.getsockname()[1], flush=True)
    first = True
    while True:
        p, src = s.recvfrom(70000)
        if first:
            first = False
            for k, n in enumerate(sizes):
                s.sendto(pattern(n, k), src)
        s.sendto(p[::-1], src)
`;
const PEER_SIZES = [64, 1514, 60, 9014, 61];
function peerPattern(n: number, k: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + k * 7) & 255);
}

function startPeer(mode: string, port = 0): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn('python3', ['-c', PEER, mode, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.once('data', (d: Buffer) => resolve({ proc, port: Number(d.toString().trim()) }));
  });
}

/** `window`: frames in flight before waiting for their echoes (UDP to a slow peer drops bursts). */
async function checkAgainstPeer(b: NetBackend, c: Collector, greetFirst: boolean, window = 200): Promise<void> {
  if (greetFirst) {
    const greet = await c.count(PEER_SIZES.length);
    PEER_SIZES.forEach((n, k) => assert.ok(eq(greet[k]!, peerPattern(n, k)), `peer frame ${k}: got ${greet[k]!.length} bytes, want ${n} intact`));
  }
  const sent: Uint8Array[] = [];
  const got: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const f = patternFrame(SIZES[i % SIZES.length]!, i);
    sent.push(f);
    await b.tx(f);
    if (sent.length - got.length >= window) got.push(...await c.count(sent.length - got.length));
  }
  got.push(...await c.count(sent.length - got.length));
  for (let i = 0; i < 200; i++) {
    assert.ok(eq(got[i]!, sent[i]!.slice().reverse()), `echo ${i}: got ${got[i]!.length} bytes, want ${sent[i]!.length} reversed`);
  }
}

describe('against an independent Python peer speaking QEMU framing', { skip: !process.env['CI'] && !haveTool('python3') ? 'needs python3' : false }, () => {
  it('stream: we connect to it', async () => {
    const peer = await startPeer('stream-listen');
    const b = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${peer.port}`));
    await checkAgainstPeer(b, new Collector(b), true);
  });

  it('stream: it connects to us', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const c = new Collector(srv);
    await startPeer('stream-connect', (srv.localAddress as { port: number }).port);
    await srv.waitConnected();
    await checkAgainstPeer(srv, c, true);
  });

  it('dgram: one datagram per frame both ways', async () => {
    const peer = await startPeer('dgram');
    const b = await track(createNetBackend(`qemu-dgram:local=127.0.0.1:0,remote=127.0.0.1:${peer.port}`));
    const c = new Collector(b);
    await b.tx(patternFrame(64, 12345));
    await c.count(PEER_SIZES.length).then((greet) =>
      PEER_SIZES.forEach((n, k) => assert.ok(eq(greet[k]!, peerPattern(n, k)), `peer frame ${k}: got ${greet[k]!.length} bytes, want ${n} intact`)));
    assert.ok(eq(await c.next(), patternFrame(64, 12345).reverse()), 'first echo: got wrong bytes, want our frame reversed');
    await checkAgainstPeer(b, c, false, 16);
  });
});

describe('idle', () => {
  it('open backends with no traffic use almost no CPU', async () => {
    const srv = await track(createNetBackend('qemu-stream:listen=127.0.0.1:0') as Promise<StreamBackend>);
    const cli = await track(createNetBackend(`qemu-stream:connect=127.0.0.1:${(srv.localAddress as { port: number }).port}`));
    await srv.waitConnected();
    const d = await track(createNetBackend('qemu-dgram:local=127.0.0.1:0,remote=127.0.0.1:9'));
    for (const b of [srv, cli, d]) b.setReceiver(() => {});
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms < 100, `CPU over 1 s idle: got ${ms.toFixed(1)} ms, want well under 100 ms`);
  });
});
