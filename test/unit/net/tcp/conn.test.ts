import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TCP_ESTABLISHED, TCP_SYN_SENT, TCP_CLOSE, TCP_TIME_WAIT, TCP_FIN_WAIT2, TCP_CLOSE_WAIT, TCP_CLOSING,
  TCP_LAST_ACK, TCP_FLAG_SYN, TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_FIN, SHUT_WR, SOL_SOCKET, SOL_TCP,
  SO_RCVBUF, SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_NODELAY, SO_ERROR, TCP_CONGESTION,
  buildTcp, type TcpSock,
} from '../../../../src/net/tcp/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { EAGAIN, ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE } from '../../../../src/uapi/errno.js';
import { Pair, ADDR_A, ADDR_B, pattern, equalBytes } from './sim.js';

const ANY4 = new Uint8Array(4);
const SEC = 1e9;

function listen(p: Pair, port = 80, backlog = 16): TcpSock {
  const l = p.b.socket(); l.bind(ANY4, port); l.listen(backlog); return l;
}

function establish(p: Pair, port = 80): { c: TcpSock; s: TcpSock; l: TcpSock } {
  const l = listen(p, port);
  const c = p.a.socket();
  c.connect(ADDR_B, port);
  const ok = p.clock.advance(10 * SEC, () => c.state === TCP_ESTABLISHED && p.b.listenerFor(l)!.acceptQueue.length > 0);
  assert.ok(ok, `handshake did not complete: client state ${c.state}`);
  return { c, s: l.accept(), l };
}

function errnoOf(fn: () => unknown): number {
  try { fn(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

/** Send `data` from a to b and read it all back (sender shuts down when done). */
function transfer(p: Pair, from: TcpSock, to: TcpSock, data: Uint8Array, limitNs = 600 * SEC): Uint8Array {
  let off = 0, shut = false, eof = false;
  const chunks: Uint8Array[] = []; let got = 0;
  const tick = () => {
    while (off < data.length) {
      try { off += from.send(data.subarray(off, off + 65536)); } catch (e) { if ((e as KernelError).errno === EAGAIN) break; throw e; }
    }
    if (off === data.length && !shut) { from.shutdown(SHUT_WR); shut = true; }
    for (;;) {
      try {
        const b = to.recv(1 << 20);
        if (b.length === 0) { eof = true; break; }
        chunks.push(b); got += b.length;
      } catch (e) { if ((e as KernelError).errno === EAGAIN) break; throw e; }
    }
  };
  const ok = p.clock.advance(limitNs, () => eof, tick);
  assert.ok(ok, `transfer stalled: sent ${off}/${data.length}, received ${got}`);
  const out = new Uint8Array(got); let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

test('three-way handshake negotiates MSS, SACK, timestamps and window scale like Linux', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  const [syn, synack, ack] = p.log.map((r) => r.seg);
  assert.equal(syn!.flags, TCP_FLAG_SYN);
  assert.deepEqual(Object.keys(syn!.options), ['mss', 'sackPermitted', 'tsVal', 'tsEcr', 'wscale']);
  assert.equal(syn!.options.mss, 1460);
  assert.equal(syn!.options.wscale, 7, `got wscale ${syn!.options.wscale}, want 7 (tcp_rmem max 6 MiB)`);
  // Linux: SYN window 64240 (44 × 1460), SYN-ACK 65160 (45 × 1448, MSS less timestamps).
  assert.equal(syn!.window, 64240, `got SYN window ${syn!.window}, want 64240`);
  assert.equal(synack!.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
  assert.equal(synack!.window, 65160, `got SYN-ACK window ${synack!.window}, want 65160`);
  assert.equal(synack!.ack, (syn!.seq + 1) >>> 0);
  assert.equal(synack!.options.tsEcr, syn!.options.tsVal);
  assert.equal(ack!.flags, TCP_FLAG_ACK);
  // Linux's handshake ACK: the SYN's 64240 rounded up to the 128-byte scale unit → "win 502".
  assert.equal(ack!.window, 502, `got handshake ACK window ${ack!.window}, want 502`);
  assert.equal(c.info().sndMss, 1448); assert.equal(s.info().sndMss, 1448);
  assert.ok(c.sackOk && c.tsOk && c.wscaleOk && s.sackOk && s.tsOk && s.wscaleOk);
  assert.equal(c.localPort >= 32768 && c.localPort <= 60999, true, `ephemeral port ${c.localPort}`);
});

test('peer without options: MSS defaults to 536 and nothing else is used', () => {
  const p = new Pair({ sysctlA: { sack: false, timestamps: false, windowScaling: false } });
  const { c, s } = establish(p);
  assert.deepEqual(Object.keys(p.log[0]!.seg.options), ['mss']);
  assert.ok(!s.sackOk && !s.tsOk && !s.wscaleOk);
  assert.equal(c.info().sndMss, 1460);
});

test('connect to a closed port gives ECONNREFUSED via RST', () => {
  const p = new Pair();
  const c = p.a.socket();
  c.connect(ADDR_B, 81);
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_CLOSE);
  const rst = p.sent('b')[0]!;
  assert.equal(rst.flags, TCP_FLAG_RST | TCP_FLAG_ACK);
  assert.equal(errnoOf(() => c.send(new Uint8Array(1))), ECONNREFUSED);
});

test('SYN retries: 6 retransmissions with doubling RTO, then ETIMEDOUT after 127 s', () => {
  const p = new Pair();
  p.ab.down = true;
  const c = p.a.socket();
  c.connect(ADDR_B, 80);
  p.clock.advance(200 * SEC, () => c.state === TCP_CLOSE);
  const times = p.log.filter((r) => r.from === 'a').map((r) => Math.round((r.at - p.log[0]!.at) / SEC));
  assert.deepEqual(times, [0, 1, 3, 7, 15, 31, 63], `got SYN times ${times}`);
  assert.equal(Math.round((p.clock.now - p.log[0]!.at) / SEC), 127);
  assert.equal(c.takeError(), ETIMEDOUT);
});

for (const [loss, reorder, size] of [[0, 0, 4 << 20], [0.01, 0.01, 3 << 20], [0.05, 0.02, 2 << 20]] as const) {
  test(`bulk transfer of ${size >> 20} MiB intact at ${loss * 100}% loss, ${reorder * 100}% reordering`, () => {
    const p = new Pair({ seed: 99 });
    p.keepLog = false;
    const { c, s } = establish(p);
    p.ab.loss = loss; p.ba.loss = loss; p.ab.reorder = reorder; p.ab.dup = reorder;
    const data = pattern(size, 7);
    const got = transfer(p, c, s, data);
    assert.equal(got.length, data.length, `got ${got.length} bytes, want ${data.length}`);
    assert.ok(equalBytes(got, data), 'data corrupted');
    if (loss > 0) assert.ok(c.totalRetrans > 0, 'expected retransmissions');
  });
}

test('SACK scoreboard avoids go-back-N: fewer retransmissions than NewReno', () => {
  const run = (sack: boolean) => {
    const p = new Pair({ seed: 5, sysctlA: { sack }, sysctlB: { sack } });
    p.keepLog = false;
    const { c, s } = establish(p);
    // Lose data segment #200 and its fast retransmission (forcing an RTO), plus four later holes.
    let n = 0, victim = -1, victimDrops = 0;
    p.ab.dropIf = (seg) => {
      if (!seg.payload.length) return false;
      n++;
      if (n === 200) victim = seg.seq;
      if (seg.seq === victim && victimDrops < 2) { victimDrops++; return true; }
      return n === 210 || n === 220 || n === 230 || n === 240;
    };
    const data = pattern(1 << 20, 3);
    const got = transfer(p, c, s, data);
    assert.ok(equalBytes(got, data));
    return c.totalRetrans;
  };
  const withSack = run(true), without = run(false);
  // SACK: the 5 holes plus the lost retransmission. NewReno: after the RTO everything above the
  // hole is resent because the sender cannot know the receiver already holds it.
  assert.equal(withSack, 6, `got ${withSack} retransmissions with SACK, want 6`);
  assert.ok(without > 2 * withSack, `got NewReno ${without} retransmissions, want well above SACK's ${withSack}`);
});

test('RTO backs off exponentially and the connection dies with ETIMEDOUT (tcp_retries2)', () => {
  const p = new Pair();
  const { c } = establish(p);
  p.ab.down = true; p.ba.down = true;
  c.send(new Uint8Array(100));
  const start = p.clock.now;
  p.clock.advance(2000 * SEC, () => c.state === TCP_CLOSE);
  const tx = p.log.filter((r) => r.from === 'a' && r.seg.payload.length === 100).map((r) => r.at - start);
  const gaps = tx.slice(1).map((t, i) => t - tx[i]!);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! >= gaps[i - 1]! * 1.99 || gaps[i]! === 120 * SEC, `gap ${i}: ${gaps[i]} after ${gaps[i - 1]}`);
  assert.ok(gaps.some((g) => g === 120 * SEC), 'RTO should cap at 120 s');
  assert.equal(c.takeError(), ETIMEDOUT);
  const dur = (p.clock.now - start) / SEC;
  assert.ok(dur > 900 && dur < 1000, `gave up after ${dur}s, want ~924.6 s like Linux`);
});

test('zero window: persist probes until the reader drains, then data flows', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  const data = pattern(300000, 9);
  let off = 0;
  const tick = () => { while (off < data.length) { try { off += c.send(data.subarray(off)); } catch { break; } } };
  p.clock.advance(30 * SEC, undefined, tick);
  // The receiver never read: its window closed and the sender probes with snd_una − 1.
  const zeroWin = p.sent('b').filter((g) => g.window === 0);
  assert.ok(zeroWin.length > 0, 'receiver must advertise a zero window');
  const probes = p.sent('a').filter((g) => g.payload.length === 0 && g.seq === ((c.sndUna - 1) >>> 0));
  assert.ok(probes.length >= 3, `got ${probes.length} window probes, want several`);
  assert.equal(c.state, TCP_ESTABLISHED);
  // Now the application reads; the window reopens and everything arrives intact.
  const got = transfer(p, c, s, data.subarray(off), 120 * SEC);
  assert.equal(got.length, data.length, `got ${got.length} bytes, want ${data.length}`);
  assert.ok(equalBytes(got, data));
});

test('simultaneous open goes SYN-SENT → SYN-RECEIVED → ESTABLISHED on both sides', () => {
  const p = new Pair();
  const x = p.a.socket(); x.bind(ANY4, 5000);
  const y = p.b.socket(); y.bind(ANY4, 6000);
  x.connect(ADDR_B, 6000); y.connect(ADDR_A, 5000);
  p.clock.advance(5 * SEC, () => x.state === TCP_ESTABLISHED && y.state === TCP_ESTABLISHED);
  assert.equal(x.state, TCP_ESTABLISHED); assert.equal(y.state, TCP_ESTABLISHED);
  const synacks = p.log.filter((r) => r.seg.flags === (TCP_FLAG_SYN | TCP_FLAG_ACK));
  assert.equal(synacks.length, 2, `got ${synacks.length} SYN-ACKs, want 2`);
  x.send(pattern(10)); p.clock.advance(SEC);
  assert.ok(equalBytes(y.recv(100), pattern(10)));
});

test('simultaneous close passes CLOSING and both end in TIME-WAIT, gone after 60 s', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.shutdown(SHUT_WR); s.shutdown(SHUT_WR);
  let sawClosing = false;
  p.clock.advance(SEC, () => c.state === TCP_TIME_WAIT && s.state === TCP_TIME_WAIT, () => { if (c.state === TCP_CLOSING) sawClosing = true; });
  assert.ok(sawClosing, 'expected CLOSING');
  assert.equal(c.state, TCP_TIME_WAIT); assert.equal(s.state, TCP_TIME_WAIT);
  p.clock.advance(59 * SEC);
  assert.equal(c.state, TCP_TIME_WAIT);
  p.clock.advance(2 * SEC);
  assert.equal(c.state, TCP_CLOSE); assert.equal(s.state, TCP_CLOSE);
  assert.equal(p.a.connectionCount, 0);
});

test('orderly close: FIN-WAIT-2/CLOSE-WAIT/LAST-ACK; TIME-WAIT re-ACKs a retransmitted FIN', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.close();
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_FIN_WAIT2); assert.equal(s.state, TCP_CLOSE_WAIT);
  assert.equal(s.recv(10).length, 0, 'EOF expected');
  p.ab.down = true; // our last ACK will be lost
  s.close();
  assert.equal(s.state, TCP_LAST_ACK);
  p.clock.advance(SEC / 2);
  assert.equal(c.state, TCP_TIME_WAIT);
  p.ab.down = false;
  p.clock.advance(5 * SEC, () => s.state === TCP_CLOSE);
  assert.equal(s.state, TCP_CLOSE, 'retransmitted FIN must be re-ACKed from TIME-WAIT');
  assert.equal(c.state, TCP_TIME_WAIT);
});

test('RST: exact sequence resets (ECONNRESET); in-window gets a challenge ACK; out of window ignored', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  const inject = (seq: number) => {
    const seg = { srcPort: s.localPort, dstPort: c.localPort, seq, ack: 0, flags: TCP_FLAG_RST, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
    p.a.input(ADDR_A, ADDR_B, buildTcp(seg, ADDR_B, ADDR_A));
  };
  const before = p.a.stats.challengeAcks;
  inject((c.rcvNxt + 1000) >>> 0);
  assert.equal(c.state, TCP_ESTABLISHED);
  assert.equal(p.a.stats.challengeAcks, before + 1, 'in-window RST must draw a challenge ACK');
  inject((c.rcvNxt + 0x40000000) >>> 0);
  assert.equal(c.state, TCP_ESTABLISHED);
  assert.equal(p.a.stats.challengeAcks, before + 1);
  inject(c.rcvNxt);
  assert.equal(c.state, TCP_CLOSE);
  assert.equal(errnoOf(() => c.recv(10)), ECONNRESET);
  assert.equal(c.recv(10).length, 0, 'after the error is reported, EOF');
});

test('in-window SYN on an established connection draws a challenge ACK (RFC 5961 §4)', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  const seg = { srcPort: s.localPort, dstPort: c.localPort, seq: c.rcvNxt, ack: 0, flags: TCP_FLAG_SYN, window: 1000, urgent: 0, options: {}, payload: new Uint8Array(0) };
  const n = p.sent('a').length;
  p.a.input(ADDR_A, ADDR_B, buildTcp(seg, ADDR_B, ADDR_A));
  assert.equal(c.state, TCP_ESTABLISHED);
  const out = p.sent('a').slice(n);
  assert.equal(out.length, 1); assert.equal(out[0]!.flags, TCP_FLAG_ACK); assert.equal(out[0]!.ack, c.rcvNxt);
});

test('close() with unread data sends RST; the peer sees ECONNRESET and EPIPE after', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.send(pattern(100)); p.clock.advance(SEC);
  s.close();
  const rst = p.sent('b').at(-1)!;
  assert.equal(rst.flags, TCP_FLAG_RST | TCP_FLAG_ACK);
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_CLOSE);
  assert.equal(c.getsockopt(SOL_SOCKET, SO_ERROR), ECONNRESET);
  assert.equal(errnoOf(() => c.send(pattern(1))), EPIPE);
});

test('a stray ACK gets RST with seq = its ack; a stray RST gets nothing', () => {
  const p = new Pair();
  const seg = { srcPort: 1234, dstPort: 99, seq: 1000, ack: 0xdeadbeef, flags: TCP_FLAG_ACK, window: 10, urgent: 0, options: {}, payload: pattern(5) };
  p.b.input(ADDR_B, ADDR_A, buildTcp(seg, ADDR_A, ADDR_B));
  const out = p.sent('b');
  assert.equal(out.length, 1);
  assert.equal(out[0]!.flags, TCP_FLAG_RST); assert.equal(out[0]!.seq, 0xdeadbeef);
  p.b.input(ADDR_B, ADDR_A, buildTcp({ ...seg, flags: TCP_FLAG_RST }, ADDR_A, ADDR_B));
  assert.equal(p.sent('b').length, 1);
  // A corrupted segment is dropped before anything else.
  const bad = buildTcp(seg, ADDR_A, ADDR_B); bad[20]! ^= 0xff;
  p.b.input(ADDR_B, ADDR_A, bad);
  assert.equal(p.b.stats.badChecksum, 1);
});

test('abort() sends RST; the peer reports ECONNRESET', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  s.abort();
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_CLOSE);
  assert.equal(c.takeError(), ECONNRESET);
  void TCP_FLAG_FIN;
});

test('keepalive: 9 unanswered probes 75 s apart after 7200 s idle → ETIMEDOUT and RST', () => {
  const p = new Pair();
  const { c } = establish(p);
  c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
  assert.equal(c.getsockopt(SOL_TCP, TCP_KEEPIDLE), 7200);
  assert.equal(c.getsockopt(SOL_TCP, TCP_KEEPINTVL), 75);
  assert.equal(c.getsockopt(SOL_TCP, TCP_KEEPCNT), 9);
  // An answering peer keeps the connection alive.
  p.clock.advance(7300 * SEC);
  assert.equal(c.state, TCP_ESTABLISHED);
  const start = p.clock.now;
  p.ba.down = true;
  p.clock.advance(20000 * SEC, () => c.state === TCP_CLOSE);
  assert.equal(c.takeError(), ETIMEDOUT);
  const probes = p.log.filter((r) => r.from === 'a' && r.at >= start && r.seg.flags === TCP_FLAG_ACK);
  assert.equal(probes.length, 9, `got ${probes.length} probes, want 9`);
  assert.equal(p.log.at(-1)!.seg.flags & TCP_FLAG_RST, TCP_FLAG_RST);
});

test('keepalive options shorten the timeout', () => {
  const p = new Pair();
  const { c } = establish(p);
  c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
  c.setsockopt(SOL_TCP, TCP_KEEPIDLE, 10); c.setsockopt(SOL_TCP, TCP_KEEPINTVL, 2); c.setsockopt(SOL_TCP, TCP_KEEPCNT, 3);
  p.ba.down = true;
  const t0 = p.clock.now;
  p.clock.advance(100 * SEC, () => c.state === TCP_CLOSE);
  const dur = Math.round((p.clock.now - t0) / SEC);
  assert.equal(dur, 16, `got ${dur}s, want 10 + 3×2`);
});

test('listen backlog: accept queue holds backlog+1; further SYNs are dropped until accept()', () => {
  const p = new Pair();
  const l = listen(p, 80, 1);
  // One at a time, so only the accept queue (not the SYN queue) is under pressure.
  const cs = [0, 1, 2].map(() => { const c = p.a.socket(); c.connect(ADDR_B, 80); p.clock.advance(SEC / 2); return c; });
  const lst = p.b.listenerFor(l)!;
  assert.equal(lst.acceptQueue.length, 2, `got ${lst.acceptQueue.length} queued, want 2 (backlog 1 + 1, as Linux)`);
  assert.equal(cs[2]!.state, TCP_SYN_SENT);
  assert.ok(lst.overflows > 0);
  l.accept();
  p.clock.advance(10 * SEC, () => lst.acceptQueue.length === 2);
  assert.equal(cs[2]!.state, TCP_ESTABLISHED);
});

test('SYN queue overflow answers with SYN cookies that complete the handshake', () => {
  const p = new Pair();
  const l = listen(p, 80, 2);
  const lst = p.b.listenerFor(l)!;
  // Hold SYN-RECEIVED children by losing the client's final ACKs for the first two connections.
  let acks = 0;
  p.ab.dropIf = (seg) => seg.flags === TCP_FLAG_ACK && seg.payload.length === 0 && acks++ < 2;
  const c1 = p.a.socket(); c1.connect(ADDR_B, 80);
  const c2 = p.a.socket(); c2.connect(ADDR_B, 80);
  p.clock.advance(SEC / 10);
  assert.equal(lst.synQueue.size, 2);
  const c3 = p.a.socket(); c3.connect(ADDR_B, 80);
  p.clock.advance(SEC / 10);
  assert.equal(lst.cookiesSent, 1, `got ${lst.cookiesSent} cookies, want 1`);
  assert.equal(c3.state, TCP_ESTABLISHED);
  const s3 = lst.acceptQueue.find((x) => x.remotePort === c3.localPort)!;
  assert.ok(s3, 'cookie connection must be in the accept queue');
  c3.send(pattern(5000)); p.clock.advance(SEC);
  assert.ok(equalBytes(s3.recv(10000), pattern(5000)));
});

test('window scaling: a 1 MiB receive buffer gives >64 KiB in flight', () => {
  const p = new Pair({ delayNs: 50e6 });
  const l = p.b.socket(); l.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20); l.bind(ANY4, 80); l.listen(4);
  const c = p.a.socket(); c.connect(ADDR_B, 80);
  p.clock.advance(SEC);
  const s = l.accept();
  assert.equal(s.rcvBuf, 2 * 212992, 'SO_RCVBUF is doubled and capped by rmem_max');
  const data = pattern(3 << 20, 4);
  let off = 0, maxFlight = 0;
  const tick = () => {
    while (off < data.length) { try { off += c.send(data.subarray(off, off + 65536)); } catch { break; } }
    maxFlight = Math.max(maxFlight, (c.sndNxt - c.sndUna) >>> 0);
    try { s.recv(1 << 22); } catch { /* EAGAIN */ }
  };
  p.clock.advance(30 * SEC, () => off === data.length && c.sndUna === c.sndNxt, tick);
  assert.ok(maxFlight > 65535, `got max in flight ${maxFlight}, want > 65535`);
  const bigWin = p.sent('b').some((g) => (g.window << s.rcvWscale) > 65535 && !(g.flags & TCP_FLAG_SYN));
  assert.ok(bigWin, 'receiver must advertise a scaled window above 64 KiB');
});

test('PAWS drops a segment with an old timestamp and answers with a duplicate ACK', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.send(pattern(10)); p.clock.advance(SEC);
  assert.equal(s.recv(100).length, 10);
  const seg = {
    srcPort: c.localPort, dstPort: s.localPort, seq: s.rcvNxt, ack: s.sndNxt, flags: TCP_FLAG_ACK, window: 1000, urgent: 0,
    options: { tsVal: (s.tsRecent - 1000) >>> 0, tsEcr: 0 }, payload: pattern(20),
  };
  const n = p.sent('b').length;
  p.b.input(ADDR_B, ADDR_A, buildTcp(seg, ADDR_A, ADDR_B));
  assert.equal(s.bytesReadable, 0, 'old-timestamp data must be dropped');
  const out = p.sent('b').slice(n);
  assert.equal(out.length, 1); assert.equal(out[0]!.ack, s.rcvNxt);
  // The same segment with a fresh timestamp is accepted.
  seg.options.tsVal = (s.tsRecent + 10) >>> 0;
  p.b.input(ADDR_B, ADDR_A, buildTcp(seg, ADDR_A, ADDR_B));
  assert.equal(s.bytesReadable, 20);
});

test('Nagle holds a small segment behind unacked small data; TCP_NODELAY sends at once', () => {
  for (const nodelay of [false, true]) {
    const p = new Pair({ delayNs: 50e6 });
    const { c } = establish(p);
    if (nodelay) c.setsockopt(SOL_TCP, TCP_NODELAY, 1);
    const n = p.sent('a').length;
    c.send(pattern(10)); c.send(pattern(10));
    const out = p.sent('a').slice(n).filter((g) => g.payload.length);
    assert.equal(out.length, nodelay ? 2 : 1, `nodelay=${nodelay}: got ${out.length} segments`);
  }
});

test('delayed ACK: a single small segment is acknowledged after 40 ms', () => {
  const p = new Pair({ delayNs: 1e6 });
  const { c } = establish(p);
  // Leave quick-ack mode first.
  for (let i = 0; i < 20; i++) { c.send(pattern(10)); p.clock.advance(SEC / 10); }
  p.log.length = 0;
  c.send(pattern(10));
  p.clock.advance(SEC);
  const data = p.log.find((r) => r.from === 'a' && r.seg.payload.length)!;
  const ack = p.log.find((r) => r.from === 'b' && r.at > data.at)!;
  const ms = Math.round((ack.at - data.at) / 1e6);
  assert.equal(ms, 41, `got ACK after ${ms} ms, want 1 ms link + 40 ms delack`);
});

test('congestion control is pluggable: reno and cubic by name', () => {
  const p = new Pair();
  const { c } = establish(p);
  assert.equal(c.getsockopt(SOL_TCP, TCP_CONGESTION), 'cubic');
  c.setsockopt(SOL_TCP, TCP_CONGESTION, 'reno');
  assert.equal(c.getsockopt(SOL_TCP, TCP_CONGESTION), 'reno');
  assert.equal(c.info().sndCwnd, 10, 'initial cwnd 10 (RFC 6928)');
});

test('IPv6: handshake uses MSS 1440 and data arrives with the IPv6 pseudo-header checksum', () => {
  const a6 = new Uint8Array(16); a6[0] = 0xfd; a6[15] = 1;
  const b6 = new Uint8Array(16); b6[0] = 0xfd; b6[15] = 2;
  const p = new Pair({ addrA: a6, addrB: b6 });
  const l = p.b.socket(); l.bind(new Uint8Array(16), 443); l.listen(4);
  const c = p.a.socket(); c.connect(b6, 443);
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_ESTABLISHED);
  assert.equal(p.log[0]!.seg.options.mss, 1440, `got MSS ${p.log[0]!.seg.options.mss}, want 1440`);
  const s = l.accept();
  const got = transfer(p, c, s, pattern(100000));
  assert.ok(equalBytes(got, pattern(100000)));
});

test('a SYN with a higher sequence number reopens a pair in TIME-WAIT', () => {
  const p = new Pair();
  const l = listen(p, 80);
  const c = p.a.socket(); c.bind(ANY4, 40000); c.connect(ADDR_B, 80);
  p.clock.advance(SEC);
  const s = l.accept();
  s.close(); p.clock.advance(SEC); c.close(); p.clock.advance(SEC);
  assert.equal(s.state, TCP_TIME_WAIT, 'the active closer (server) holds TIME-WAIT');
  // A new client incarnation on the same port, starting well above the old sequence space.
  const c2 = p.a.socket(); c2.setsockopt(SOL_SOCKET, 2 /* SO_REUSEADDR */, 1); c2.bind(ANY4, 40000);
  c2.connect(ADDR_B, 80);
  p.clock.advance(5 * SEC, () => c2.state === TCP_ESTABLISHED);
  assert.equal(c2.state, TCP_ESTABLISHED);
  p.clock.advance(SEC / 10); // let the final ACK land
  assert.equal(p.b.listenerFor(l)!.acceptQueue.length, 1);
});

test('challenge ACKs are rate limited to one per 500 ms per connection', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  const before = p.a.stats.challengeAcks;
  for (let i = 0; i < 10; i++) {
    const seg = { srcPort: s.localPort, dstPort: c.localPort, seq: (c.rcvNxt + 100 + i) >>> 0, ack: 0, flags: TCP_FLAG_RST, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
    p.a.input(ADDR_A, ADDR_B, buildTcp(seg, ADDR_B, ADDR_A));
  }
  assert.equal(p.a.stats.challengeAcks - before, 1);
  p.clock.advance(SEC);
  const seg = { srcPort: s.localPort, dstPort: c.localPort, seq: (c.rcvNxt + 5) >>> 0, ack: 0, flags: TCP_FLAG_RST, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
  p.a.input(ADDR_A, ADDR_B, buildTcp(seg, ADDR_B, ADDR_A));
  assert.equal(p.a.stats.challengeAcks - before, 2);
});

test('data arriving after close() is answered with RST', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  s.close();
  p.clock.advance(SEC);
  assert.equal(s.state, TCP_FIN_WAIT2);
  c.send(pattern(10));
  p.clock.advance(SEC);
  assert.equal(s.state, TCP_CLOSE);
  assert.ok(p.sent('b').some((g) => g.flags & TCP_FLAG_RST), 'server must send RST');
  assert.equal(c.state, TCP_CLOSE);
  // The client was in CLOSE-WAIT (it had the server's FIN): Linux's tcp_reset reports EPIPE there.
  assert.equal(c.takeError(), EPIPE);
});

test('TCP_CORK holds partial segments until uncorked', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.setsockopt(SOL_TCP, 3 /* TCP_CORK */, 1);
  c.send(pattern(100)); c.send(pattern(100));
  p.clock.advance(SEC);
  assert.equal(s.bytesReadable, 0, 'corked data must wait');
  c.setsockopt(SOL_TCP, 3, 0);
  p.clock.advance(SEC);
  assert.equal(s.bytesReadable, 200);
  const dataSegs = p.sent('a').filter((g) => g.payload.length);
  assert.equal(dataSegs.length, 1, `got ${dataSegs.length} segments, want one coalesced`);
});

test('poll mask follows tcp_poll', () => {
  const p = new Pair();
  const fresh = p.a.socket();
  assert.equal(fresh.poll(), 0x4 | 0x100 | 0x10, 'unconnected: POLLOUT|POLLWRNORM|POLLHUP');
  const { c, s } = establish(p);
  assert.equal(c.poll(), 0x4 | 0x100);
  c.send(pattern(5)); p.clock.advance(SEC);
  assert.equal(s.poll() & 0x1, 0x1);
  c.shutdown(SHUT_WR); p.clock.advance(SEC);
  assert.equal(s.poll() & 0x2000, 0x2000, 'POLLRDHUP after FIN');
  let woke = 0; s.wq.addCallback(() => woke++);
  s.close(); p.clock.advance(SEC);
  assert.ok(woke > 0, 'waiters must be woken on state changes');
  assert.equal(c.poll() & 0x10, 0x10, 'POLLHUP once both directions are shut');
  void TCP_LAST_ACK; void TCP_NODELAY;
});

test('orphaned FIN-WAIT-2 gives up after tcp_fin_timeout (60 s) when the peer never closes', () => {
  const p = new Pair();
  const { c, s } = establish(p);
  c.close();
  p.clock.advance(SEC);
  assert.equal(c.state, TCP_FIN_WAIT2);
  p.clock.advance(58 * SEC);
  assert.equal(c.state, TCP_FIN_WAIT2);
  p.clock.advance(2 * SEC);
  assert.equal(c.state, TCP_CLOSE);
  assert.equal(s.state, TCP_CLOSE_WAIT);
});

test('receive autotuning grows the buffer and window for a fast reader', () => {
  const p = new Pair({ delayNs: 20e6 });
  const { c, s } = establish(p);
  const before = s.rcvBuf;
  const got = transfer(p, c, s, pattern(4 << 20, 21));
  assert.equal(got.length, 4 << 20);
  assert.ok(s.rcvBuf > before, `got rcvbuf ${s.rcvBuf}, want above ${before}`);
  assert.ok(s.rcvBuf <= 6291456, 'capped by tcp_rmem[2]');
});

test('shutdown() errors follow inet_shutdown', () => {
  const p = new Pair();
  const fresh = p.a.socket();
  assert.equal(errnoOf(() => fresh.shutdown(SHUT_WR)), 107 /* ENOTCONN */);
  assert.equal(errnoOf(() => fresh.shutdown(7)), 22 /* EINVAL */);
  const l = listen(p, 80);
  l.shutdown(SHUT_WR);
  assert.equal(l.state, 10, 'SHUT_WR leaves a listener listening');
  l.shutdown(0);
  assert.equal(l.state, TCP_CLOSE, 'SHUT_RD stops it');
  p.ab.down = true;
  const c = p.a.socket(); c.connect(ADDR_B, 80);
  c.shutdown(SHUT_WR);
  assert.equal(c.state, TCP_CLOSE);
  assert.equal(c.takeError(), ECONNRESET);
});
