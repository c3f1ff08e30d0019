/*
 * TCP between two kernels on a cable, and over loopback in one kernel, all through syscalls:
 * connect/accept, 10 MiB each way intact, shutdown and close, ECONNREFUSED, non-blocking
 * connect with poll, options, and 1,000 concurrent connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bootPair, bootKernel, sin, readN, writeAll, pattern } from './helpers.js';
import type { KernelTask } from '../../src/lkl.js';
import {
  AF_INET, SOCK_STREAM, SOCK_DGRAM, SOCK_NONBLOCK, SOL_SOCKET, SOL_TCP, SO_ERROR, SO_REUSEADDR,
  SO_KEEPALIVE, SO_LINGER, TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, SHUT_WR,
  MSG_DONTWAIT,
} from '../../src/uapi/socket.js';
import { POLLOUT, POLLERR, POLLIN } from '../../src/uapi/misc.js';
import {
  ECONNREFUSED, EINPROGRESS, EAGAIN, ENOTCONN, EPIPE, ECONNRESET, EISCONN, EINVAL, EADDRINUSE,
} from '../../src/uapi/errno.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function listenOn(t: KernelTask, addr: string, port: number, backlog = 128): Promise<number> {
  const fd = await t.sys.socket(AF_INET, SOCK_STREAM, 0);
  assert.ok(fd >= 0, `socket: got ${fd}`);
  const one = new Int32Array([1]);
  assert.equal(await t.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new Uint8Array(one.buffer), 4), 0);
  assert.equal(await t.sys.bind(fd, sin(addr, port), 16), 0);
  assert.equal(await t.sys.listen(fd, backlog), 0);
  return fd;
}

async function connectTo(t: KernelTask, addr: string, port: number): Promise<number> {
  const fd = await t.sys.socket(AF_INET, SOCK_STREAM, 0);
  const r = await t.sys.connect(fd, sin(addr, port), 16);
  assert.equal(r, 0, `connect ${addr}:${port}: got ${r}, want 0`);
  return fd;
}

const intOpt = async (t: KernelTask, fd: number, level: number, name: number): Promise<number> => {
  const v = { value: 0 };
  const r = await t.sys.getsockopt(fd, level, name, v, { value: 4 });
  assert.equal(r, 0);
  return v.value;
};

test('TCP: 10 MiB each way between two kernels, intact', async () => {
  const { a, b } = await bootPair();
  try {
    const lfd = await listenOn(b, '0.0.0.0', 5000);
    const up = pattern(10 << 20, 11), down = pattern(10 << 20, 12);
    const srvTask = b.task();
    const server = (async () => {
      const cfd = await srvTask.sys.accept4(lfd, null, null, 0);
      assert.ok(cfd >= 0, `accept4: got ${cfd}`);
      const [got] = await Promise.all([readN(srvTask, cfd, up.length), writeAll(b.task(), cfd, down)]);
      return { cfd, got };
    })();
    const cfd = await connectTo(a, '10.0.0.2', 5000);
    const name: { addr?: string; port?: number } = {};
    assert.equal(await a.sys.getpeername(cfd, name, { value: 16 }), 0);
    assert.deepEqual([name.addr, name.port], ['10.0.0.2', 5000]);
    const [got] = await Promise.all([readN(a.task(), cfd, down.length), writeAll(a, cfd, up)]);
    const s = await server;
    assert.equal(got.length, down.length, `got ${got.length} bytes, want ${down.length}`);
    assert.equal(sha(got), sha(down));
    assert.equal(s.got.length, up.length);
    assert.equal(sha(s.got), sha(up));
    await a.sys.close(cfd); await b.sys.close(s.cfd);
  } finally { await a.halt(); await b.halt(); }
});

test('TCP: shutdown and close, EPIPE/ECONNRESET after the peer is gone, ECONNREFUSED', async () => {
  const { a, b } = await bootPair();
  try {
    const lfd = await listenOn(b, '10.0.0.2', 5001);
    const acc = b.sys.accept4(lfd, null, null, 0);
    const cfd = await connectTo(a, '10.0.0.2', 5001);
    const sfd = await acc;
    assert.ok(sfd >= 0);
    assert.equal(await a.sys.connect(cfd, sin('10.0.0.2', 5001), 16), -EISCONN);
    assert.equal(await b.sys.listen(sfd, 1), -EINVAL);
    // Half close: the server sees EOF after the data, and can still answer.
    const hello = new TextEncoder().encode('hello');
    assert.equal(await a.sys.write(cfd, hello, 5), 5);
    assert.equal(await a.sys.shutdown(cfd, SHUT_WR), 0);
    const got = await readN(b, sfd, 100);
    assert.equal(new TextDecoder().decode(got), 'hello', 'want the data, then EOF');
    assert.equal(await a.sys.write(cfd, hello, 5), -EPIPE);
    assert.equal(await b.sys.write(sfd, hello, 5), 5);
    assert.equal(await b.sys.close(sfd), 0);
    const back = await readN(a, cfd, 100);
    assert.equal(new TextDecoder().decode(back), 'hello');
    assert.equal(await a.sys.read(cfd, new Uint8Array(10), 10), 0, 'want EOF after the peer closed');
    await a.sys.close(cfd);
    // A peer that closes with unread data resets; the other side's read says ECONNRESET.
    const acc2 = b.sys.accept4(lfd, null, null, 0);
    const c2 = await connectTo(a, '10.0.0.2', 5001);
    const s2 = await acc2;
    assert.equal(await a.sys.write(c2, hello, 5), 5);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await b.sys.close(s2), 0);
    const rr = await a.sys.read(c2, new Uint8Array(10), 10);
    assert.equal(rr, -ECONNRESET, `got ${rr}, want -ECONNRESET`);
    const w = await a.sys.write(c2, hello, 5);
    assert.equal(w, -EPIPE, `got ${w}, want -EPIPE`);
    await a.sys.close(c2);
    // Nobody listens on 5999.
    const c3 = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await a.sys.connect(c3, sin('10.0.0.2', 5999), 16), -ECONNREFUSED);
    assert.equal(await a.sys.read(c3, new Uint8Array(1), 1), -ENOTCONN);
    await a.sys.close(c3);
  } finally { await a.halt(); await b.halt(); }
});

test('TCP: non-blocking connect, poll, SO_ERROR; options', async () => {
  const { a, b } = await bootPair();
  try {
    const lfd = await listenOn(b, '0.0.0.0', 5002);
    const fd = await a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert.equal(await a.sys.connect(fd, sin('10.0.0.2', 5002), 16), -EINPROGRESS);
    const pfd = [{ fd, events: POLLOUT, revents: 0 }];
    assert.equal(await a.sys.poll(pfd, 1, 5000), 1);
    assert.ok(pfd[0]!.revents & POLLOUT, `got revents ${pfd[0]!.revents}, want POLLOUT`);
    assert.equal(await intOpt(a, fd, SOL_SOCKET, SO_ERROR), 0);
    assert.equal(await a.sys.connect(fd, sin('10.0.0.2', 5002), 16), 0, 'a completed connect reports 0 once');
    assert.equal(await a.sys.connect(fd, sin('10.0.0.2', 5002), 16), -EISCONN);
    assert.equal(await a.sys.recvfrom(fd, new Uint8Array(4), 4, MSG_DONTWAIT, null, null), -EAGAIN);
    const sfd = await b.sys.accept4(lfd, null, null, 0);
    assert.ok(sfd >= 0);
    // The listener is readable while a connection waits, and poll sees data arrive.
    const rd = [{ fd, events: POLLIN, revents: 0 }];
    const waiting = a.sys.poll(rd, 1, 5000);
    assert.equal(await b.sys.write(sfd, new Uint8Array([1, 2, 3]), 3), 3);
    assert.equal(await waiting, 1);
    assert.ok(rd[0]!.revents & POLLIN);
    // Refused, non-blocking: poll reports POLLERR and SO_ERROR says why.
    const bad = await a.sys.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert.equal(await a.sys.connect(bad, sin('10.0.0.2', 6000), 16), -EINPROGRESS);
    const pe = [{ fd: bad, events: POLLOUT, revents: 0 }];
    assert.equal(await a.sys.poll(pe, 1, 5000), 1);
    assert.ok(pe[0]!.revents & POLLERR, `got revents ${pe[0]!.revents}, want POLLERR`);
    assert.equal(await intOpt(a, bad, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    assert.equal(await intOpt(a, bad, SOL_SOCKET, SO_ERROR), 0);
    // TCP_INFO: an established connection with timestamps, SACK and window scaling.
    const info = new Uint8Array(232), ilen = new Int32Array([232]);
    assert.equal(await a.sys.getsockopt(fd, SOL_TCP, 11 /* TCP_INFO */, info, ilen), 0);
    assert.equal(ilen[0], 232);
    assert.equal(info[0], 1, `got tcpi_state ${info[0]}, want ESTABLISHED`);
    assert.equal(info[5], 7, `got tcpi_options ${info[5]}, want TS|SACK|WSCALE`);
    assert.equal(new DataView(info.buffer).getUint32(16, true), 1448, 'tcpi_snd_mss on a 1500-byte link with timestamps');
    // Options reach the engine and read back.
    const one = new Uint8Array(new Int32Array([1]).buffer);
    for (const [lvl, name, v] of [[SOL_TCP, TCP_NODELAY, 1], [SOL_SOCKET, SO_KEEPALIVE, 1], [SOL_TCP, TCP_KEEPIDLE, 30],
      [SOL_TCP, TCP_KEEPINTVL, 5], [SOL_TCP, TCP_KEEPCNT, 3]] as const) {
      assert.equal(await a.sys.setsockopt(fd, lvl, name, new Uint8Array(new Int32Array([v]).buffer), 4), 0);
      assert.equal(await intOpt(a, fd, lvl, name), v, `option ${lvl}/${name}`);
    }
    assert.equal(await a.sys.setsockopt(fd, SOL_TCP, TCP_KEEPIDLE, new Uint8Array(new Int32Array([0]).buffer), 4), -EINVAL);
    const linger = new Uint8Array(8); new DataView(linger.buffer).setInt32(0, 1, true); new DataView(linger.buffer).setInt32(4, 0, true);
    assert.equal(await a.sys.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 8), 0);
    void one;
    // SO_LINGER {1, 0}: close resets, the peer reads ECONNRESET.
    assert.equal(await a.sys.close(fd), 0);
    const r = await b.sys.read(sfd, new Uint8Array(8), 8);
    assert.equal(r, -ECONNRESET, `got ${r}, want -ECONNRESET after a lingering close`);
    // A second listener on the same port.
    const l2 = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await b.sys.bind(l2, sin('0.0.0.0', 5002), 16), -EADDRINUSE);
  } finally { await a.halt(); await b.halt(); }
});

test('TCP: 1,000 concurrent connections accepted and served', async () => {
  const { a, b } = await bootPair();
  try {
    const N = 1000;
    const lfd = await listenOn(b, '0.0.0.0', 7000, 1024);
    const served: Promise<void>[] = [];
    const acceptor = (async () => {
      for (let i = 0; i < N; i++) {
        const t = b.task();
        const c = await t.sys.accept4(lfd, null, null, 0);
        assert.ok(c >= 0, `accept #${i}: got ${c}`);
        served.push((async () => {
          const req = await readN(t, c, 4);
          await writeAll(t, c, new Uint8Array([...req].reverse()));
          await t.sys.close(c);
        })());
      }
    })();
    const clients = Array.from({ length: N }, async (_, i) => {
      const t = a.task();
      const fd = await connectTo(t, '10.0.0.2', 7000);
      const req = new Uint8Array([i >> 8, i & 0xff, 0xaa, 0x55]);
      await writeAll(t, fd, req);
      const resp = await readN(t, fd, 4);
      await t.sys.close(fd);
      return resp[0] === 0x55 && resp[1] === 0xaa && resp[2] === (i & 0xff) && resp[3] === i >> 8;
    });
    const ok = await Promise.all(clients);
    await acceptor;
    await Promise.all(served);
    assert.equal(ok.filter(Boolean).length, N, `got ${ok.filter(Boolean).length} correct answers, want ${N}`);
  } finally { await a.halt(); await b.halt(); }
});

test('loopback: lo up, then TCP and UDP over 127.0.0.1 in one kernel', async () => {
  const k = await bootKernel(5);
  try {
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    // lo is down after boot, as in LKL: nothing routes to 127.0.0.1.
    assert.equal(await k.sys.sendto(u, new Uint8Array(1), 1, 0, sin('127.0.0.1', 9), 16), -101 /* ENETUNREACH */);
    assert.equal(await k.ifUp(1), 0);
    const srv = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(srv, sin('127.0.0.1', 4000), 16), 0);
    assert.equal(await k.sys.sendto(u, new Uint8Array([9, 8, 7]), 3, 0, sin('127.0.0.1', 4000), 16), 3);
    const buf = new Uint8Array(10);
    const from: { addr?: string } = {};
    assert.equal(await k.sys.recvfrom(srv, buf, 10, 0, from, { value: 16 }), 3);
    assert.equal(from.addr, '127.0.0.1');
    const lfd = await listenOn(k, '127.0.0.1', 4001);
    const acc = k.task().sys.accept4(lfd, null, null, 0);
    const c = await connectTo(k, '127.0.0.1', 4001);
    const s = await acc;
    const data = pattern(1 << 20, 3);
    const [got] = await Promise.all([readN(k.task(), s, data.length), writeAll(k, c, data)]);
    assert.equal(sha(got), sha(data));
  } finally { await k.halt(); }
});

test('TCP: keepalive ends a connection whose peer vanished (ETIMEDOUT); epoll readiness', async () => {
  const { a, b, cable } = await bootPair();
  try {
    const lfd = await listenOn(b, '0.0.0.0', 5003);
    const acc = b.sys.accept4(lfd, null, null, 0);
    const fd = await connectTo(a, '10.0.0.2', 5003);
    const sfd = await acc;
    // epoll sees the data the peer writes.
    const ep = await a.sys.epoll_create1(0);
    assert.equal(await a.sys.epoll_ctl(ep, 1 /* EPOLL_CTL_ADD */, fd, { events: POLLIN, data: 42 }), 0);
    const evs = [{ events: 0, data: 0 }];
    const w = a.sys.epoll_pwait(ep, evs, 1, 5000, null, 8);
    assert.equal(await b.sys.write(sfd, new Uint8Array([7]), 1), 1);
    assert.equal(await w, 1);
    assert.equal(evs[0]!.data, 42);
    assert.ok(evs[0]!.events & POLLIN);
    assert.equal(await a.sys.read(fd, new Uint8Array(1), 1), 1);
    for (const [lvl, name, v] of [[SOL_SOCKET, SO_KEEPALIVE, 1], [SOL_TCP, TCP_KEEPIDLE, 10], [SOL_TCP, TCP_KEEPINTVL, 2], [SOL_TCP, TCP_KEEPCNT, 3]] as const) {
      assert.equal(await a.sys.setsockopt(fd, lvl, name, new Uint8Array(new Int32Array([v]).buffer), 4), 0);
    }
    cable.connected = false;
    const t0 = a.k.clock.monotonicNs();
    const r = await a.sys.read(fd, new Uint8Array(1), 1);
    assert.equal(r, -110 /* ETIMEDOUT */, `got ${r}, want -ETIMEDOUT`);
    const secs = (a.k.clock.monotonicNs() - t0) / 1e9;
    assert.ok(secs >= 15 && secs < 20, `got the timeout after ${secs} s, want 10 + 3 × 2`);
  } finally { await a.halt(); await b.halt(); }
});

test('TCP: IP_TTL and IP_TOS reach the wire, and accepted sockets inherit them', async () => {
  const { a, b, cable } = await bootPair();
  try {
    const seen: { from: string; ttl: number; tos: number }[] = [];
    cable.filter = (f, from) => {
      if (f[12] === 0x08 && f[13] === 0x00 && f[23] === 6) seen.push({ from, ttl: f[22]!, tos: f[15]! });
      return false;
    };
    const i32 = (v: number) => new Uint8Array(new Int32Array([v]).buffer);
    const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await b.sys.setsockopt(lfd, 0 /* SOL_IP */, 2 /* IP_TTL */, i32(99), 4), 0);
    assert.equal(await b.sys.bind(lfd, sin('0.0.0.0', 5004), 16), 0);
    assert.equal(await b.sys.listen(lfd, 4), 0);
    const acc = b.sys.accept4(lfd, null, null, 0);
    const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await a.sys.setsockopt(fd, 0, 2, i32(33), 4), 0);
    assert.equal(await a.sys.setsockopt(fd, 0, 1 /* IP_TOS */, i32(0x10), 4), 0);
    assert.equal(await intOpt(a, fd, 0, 2), 33);
    assert.equal(await a.sys.connect(fd, sin('10.0.0.2', 5004), 16), 0);
    const sfd = await acc;
    assert.equal(await intOpt(b, sfd, 0, 2), 99, 'the accepted socket inherits IP_TTL');
    assert.equal(await b.sys.write(sfd, new Uint8Array(10), 10), 10);
    assert.equal((await readN(a, fd, 10)).length, 10);
    const fromA = seen.filter((s) => s.from === 'a'), fromB = seen.filter((s) => s.from === 'b');
    assert.ok(fromA.length > 0 && fromA.every((s) => s.ttl === 33 && s.tos === 0x10), `got ${JSON.stringify(fromA)}, want TTL 33 TOS 0x10`);
    assert.ok(fromB.length > 0 && fromB.every((s) => s.ttl === 99), `got ${JSON.stringify(fromB)}, want TTL 99 (SYN-ACK included)`);
  } finally { await a.halt(); await b.halt(); }
});
