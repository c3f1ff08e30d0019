/*
 * AF_UNIX behaviour that needs more than one task or the clock: blocking and waking, flow
 * control, timeouts, readiness through epoll, halting, descriptor passing. (Errno tables checked
 * against the host kernel live in test/behaviour/socket_cases.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../../../src/lkl.js';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { EAGAIN, EINTR, EPIPE, ECONNRESET } from '../../../../src/uapi/errno.js';
import {
  AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOL_SOCKET, SO_RCVTIMEO, SO_SNDBUF, MSG_DONTWAIT,
  MSG_WAITALL, MSG_CMSG_CLOEXEC, SOCK_NONBLOCK,
} from '../../../../src/uapi/socket.js';
import { O_NONBLOCK } from '../../../../src/uapi/fcntl.js';

async function kernel() { return boot({ cmdline: 'mem=64M', host: new FakeHost() }); }
type K = Awaited<ReturnType<typeof kernel>>;

async function pair(k: K, type = SOCK_STREAM): Promise<[number, number]> {
  const sv = new Int32Array(2);
  assert.equal(await k.sys.socketpair(AF_UNIX, type, 0, sv), 0);
  return [sv[0]!, sv[1]!];
}
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array, n: number): string => new TextDecoder().decode(b.subarray(0, n));
const addr = (p: string): Uint8Array => { const b = new Uint8Array(2 + p.length + 1); b[0] = AF_UNIX; b.set(enc(p), 2); return b; };

test('a blocked recv is woken by another task\'s send', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k);
    const buf = new Uint8Array(16);
    let done = false;
    const r = k.sys.recvfrom(b, buf, 16, 0, null, null).then((n: number) => { done = true; return n; });
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(done, false, 'recv returned before any data was sent');
    const t2 = k.task();
    assert.equal(await t2.sys.sendto(a, enc('wake'), 4, 0, null, 0), 4);
    const n = await r;
    assert.equal(dec(buf, n), 'wake', `got ${dec(buf, n)}, want wake`);
  } finally { await k.halt(); }
});

test('accept sleeps until a connect; connect sleeps on a full backlog until an accept', async () => {
  const k = await kernel();
  try {
    const l = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l, addr('/l.sock'), 9), 0);
    assert.equal(await k.sys.listen(l, 0), 0);
    const acc = k.sys.accept4(l, null, null, 0);
    const c1 = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c1, addr('/l.sock'), 9), 0);
    const s1 = await acc;
    assert.ok(s1 >= 0, `accept: got ${s1}, want an fd`);
    // Backlog 0 admits one queued connection; the next connect waits for an accept.
    const c2 = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    const c3 = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c2, addr('/l.sock'), 9), 0);
    let connected = false;
    const p3 = k.task().sys.connect(c3, addr('/l.sock'), 9).then((r: number) => { connected = true; return r; });
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(connected, false, 'connect to a full backlog did not wait');
    assert.ok(await k.sys.accept4(l, null, null, 0) >= 0);
    assert.equal(await p3, 0);
  } finally { await k.halt(); }
});

test('stream flow control: partial non-blocking write, then a blocked writer drained by a reader', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k, SOCK_STREAM);
    const big = new Uint8Array(1 << 20).fill(7);
    const n = await k.sys.sendto(a, big, big.length, MSG_DONTWAIT, null, 0);
    assert.ok(n > 0 && n < big.length, `partial write: got ${n}, want 0 < n < ${big.length}`);
    assert.equal(await k.sys.sendto(a, big, big.length, MSG_DONTWAIT, null, 0), -EAGAIN);
    // Drain it, then a blocking 1 MiB write completes while another task reads.
    const sink = new Uint8Array(65536);
    let got = 0;
    while (got < n) got += await k.sys.read(b, sink, sink.length);
    const reader = (async () => {
      const t = k.task();
      let total = 0;
      while (total < big.length) {
        const r = await t.sys.read(b, sink, sink.length);
        assert.ok(r > 0, `read: got ${r}, want > 0`);
        total += r;
      }
      return total;
    })();
    assert.equal(await k.sys.write(a, big, big.length), big.length);
    assert.equal(await reader, big.length);
  } finally { await k.halt(); }
});

test('SO_RCVTIMEO: recv gives up with EAGAIN after the timeout', async () => {
  const k = await kernel();
  try {
    const [, b] = await pair(k);
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(0, 1n, true);
    new DataView(tv.buffer).setBigInt64(8, 500000n, true);
    assert.equal(await k.sys.setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, tv, 16), 0);
    const out = new Uint8Array(16), len = new Int32Array([16]);
    assert.equal(await k.sys.getsockopt(b, SOL_SOCKET, SO_RCVTIMEO, out, len), 0);
    assert.equal(new DataView(out.buffer).getBigInt64(8, true), 500000n);
    const ts0 = new Uint8Array(16);
    await k.sys.clock_gettime(1, ts0);
    const r = await k.sys.recvfrom(b, new Uint8Array(4), 4, 0, null, null);
    assert.equal(r, -EAGAIN, `recv: got ${r}, want -EAGAIN`);
    const ts1 = new Uint8Array(16);
    await k.sys.clock_gettime(1, ts1);
    const ns = (x: Uint8Array): bigint => new DataView(x.buffer).getBigInt64(0, true) * 1000000000n + new DataView(x.buffer).getBigInt64(8, true);
    assert.ok(ns(ts1) - ns(ts0) >= 1500000000n, `waited ${ns(ts1) - ns(ts0)} ns, want >= 1.5 s`);
  } finally { await k.halt(); }
});

test('MSG_WAITALL waits for the whole request', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k);
    const buf = new Uint8Array(6);
    const r = k.sys.recvfrom(b, buf, 6, MSG_WAITALL, null, null);
    const t = k.task();
    await t.sys.sendto(a, enc('abc'), 3, 0, null, 0);
    await new Promise((res) => setTimeout(res, 5));
    await t.sys.sendto(a, enc('def'), 3, 0, null, 0);
    assert.equal(await r, 6);
    assert.equal(dec(buf, 6), 'abcdef');
  } finally { await k.halt(); }
});

test('epoll sees a socket become readable', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k);
    const ep = await k.sys.epoll_create1(0);
    const ev = new Uint8Array(16);
    new DataView(ev.buffer).setUint32(0, 1 /* EPOLLIN */, true);
    assert.equal(await k.sys.epoll_ctl(ep, 1, b, ev), 0);
    const out = new Uint8Array(16 * 4);
    assert.equal(await k.sys.epoll_pwait(ep, out, 4, 0, null, 8), 0);
    const w = k.sys.epoll_pwait(ep, out, 4, -1, null, 8);
    await k.task().sys.sendto(a, enc('x'), 1, 0, null, 0);
    assert.equal(await w, 1);
    assert.equal(new DataView(out.buffer).getUint32(0, true) & 1, 1);
  } finally { await k.halt(); }
});

test('/proc/self/fd shows socket:[ino] with the socket inode of fstat', async () => {
  const k = await kernel();
  try {
    assert.equal(await k.sys.mkdir('/proc', 0o555), 0);
    assert.equal(await k.sys.mount('proc', '/proc', 'proc', 0, null), 0);
    const fd = await k.sys.socket(AF_UNIX, SOCK_DGRAM, 0);
    const st = new Uint8Array(128);
    assert.equal(await k.sys.fstat(fd, st), 0);
    const ino = Number(new DataView(st.buffer).getBigUint64(8, true));
    const buf = new Uint8Array(64);
    const n = await k.sys.readlinkat(-100, `/proc/self/fd/${fd}`, buf, 64);
    assert.ok(n > 0, `readlink: got ${n}, want > 0`);
    assert.equal(dec(buf, n), `socket:[${ino}]`);
  } finally { await k.halt(); }
});

test('halt wakes a blocked recv with EINTR', async () => {
  const k = await kernel();
  const [, b] = await pair(k);
  const r = k.sys.recvfrom(b, new Uint8Array(4), 4, 0, null, null);
  await new Promise((res) => setTimeout(res, 5));
  await k.halt();
  assert.equal(await r, -EINTR);
});

test('sendmmsg / recvmmsg move several datagrams', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k, SOCK_DGRAM);
    const out = ['one', 'three', 'xx'].map((s) => ({ msg_hdr: { msg_iov: [enc(s)] }, msg_len: 0 }));
    assert.equal(await k.sys.sendmmsg(a, out, 3, 0), 3);
    assert.deepEqual(out.map((m) => m.msg_len), [3, 5, 2]);
    const bufs = [0, 1, 2, 3].map(() => new Uint8Array(8));
    const vec = bufs.map((bb) => ({ msg_hdr: { msg_iov: [bb] } as Record<string, unknown>, msg_len: 0 }));
    assert.equal(await k.sys.recvmmsg(b, vec, 4, MSG_DONTWAIT, null), 3);
    assert.deepEqual(vec.slice(0, 3).map((m, i) => dec(bufs[i]!, m.msg_len)), ['one', 'three', 'xx']);
  } finally { await k.halt(); }
});

test('SCM_RIGHTS with MSG_CMSG_CLOEXEC; files in flight are closed with the socket', async () => {
  const k = await kernel();
  try {
    const [a, b] = await pair(k, SOCK_SEQPACKET);
    const p = new Int32Array(2);
    assert.equal(await k.sys.pipe2(p, O_NONBLOCK), 0);
    const ctl = new Uint8Array(24);
    const dv = new DataView(ctl.buffer);
    dv.setBigUint64(0, 20n, true); dv.setInt32(8, 1, true); dv.setInt32(12, 1, true); dv.setInt32(16, p[1]!, true);
    assert.equal(await k.sys.sendmsg(a, { msg_iov: [enc('f')], msg_control: ctl, msg_controllen: 20 }, 0), 1);
    const rctl = new Uint8Array(24);
    const m: Record<string, unknown> = { msg_iov: [new Uint8Array(1)], msg_control: rctl };
    assert.equal(await k.sys.recvmsg(b, m, MSG_CMSG_CLOEXEC), 1);
    const nfd = new DataView(rctl.buffer).getInt32(16, true);
    assert.equal(await k.sys.fcntl(nfd, 1 /* F_GETFD */, 0), 1);
    assert.equal(m['msg_controllen'], 24);
    // Now send the write end again, close every other holder, and never receive it.
    assert.equal(await k.sys.sendmsg(a, { msg_iov: [enc('g')], msg_control: ctl, msg_controllen: 20 }, 0), 1);
    await k.sys.close(nfd);
    await k.sys.close(p[1]!);
    const rb = new Uint8Array(1);
    assert.equal(await k.sys.read(p[0]!, rb, 1), -EAGAIN, 'a writer is still in flight');
    await k.sys.close(b);
    assert.equal(await k.sys.read(p[0]!, rb, 1), 0, 'closing the receiver should drop the in-flight writer');
    // Unread data at close resets the peer once (as the host kernel does), then EPIPE.
    assert.equal(await k.sys.sendto(a, enc('x'), 1, 0x4000, null, 0), -ECONNRESET);
    assert.equal(await k.sys.sendto(a, enc('x'), 1, 0x4000, null, 0), -EPIPE);
  } finally { await k.halt(); }
});

test('FIONBIO and SOCK_NONBLOCK make recv non-blocking; SO_SNDBUF is doubled', async () => {
  const k = await kernel();
  try {
    const [, b] = await pair(k, SOCK_STREAM | SOCK_NONBLOCK);
    assert.equal(await k.sys.recvfrom(b, new Uint8Array(1), 1, 0, null, null), -EAGAIN);
    assert.equal(await k.sys.ioctl(b, 0x5421 /* FIONBIO */, new Uint8Array(4)), 0);
    assert.equal(await k.sys.fcntl(b, 3, 0) & O_NONBLOCK, 0);
    const v = new Uint8Array(4), len = new Int32Array([4]);
    new DataView(v.buffer).setInt32(0, 10000, true);
    assert.equal(await k.sys.setsockopt(b, SOL_SOCKET, SO_SNDBUF, v, 4), 0);
    assert.equal(await k.sys.getsockopt(b, SOL_SOCKET, SO_SNDBUF, v, len), 0);
    assert.equal(new DataView(v.buffer).getInt32(0, true), 20000);
  } finally { await k.halt(); }
});
