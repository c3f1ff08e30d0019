/*
 * The generic socket layer: the family registry and the ProtoOps contract as socket(2) and the
 * other calls drive it, ENOTSOCK/EBADF on every socket call, sockfs inodes, SOL_SOCKET options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../../../src/lkl.js';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { fail } from '../../../../src/lib/errors.js';
import {
  EAFNOSUPPORT, ENOTSOCK, EBADF, ENOPROTOOPT, EOPNOTSUPP, EINVAL, EDOM, EPERM,
} from '../../../../src/uapi/errno.js';
import {
  AF_INET, AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SOL_SOCKET, SOL_TCP, TCP_NODELAY, SO_DOMAIN, SO_TYPE,
  SO_RCVTIMEO, SO_LINGER, SO_REUSEADDR, SO_SNDBUFFORCE, SO_SNDLOWAT, SO_ERROR,
} from '../../../../src/uapi/socket.js';
import { S_IFSOCK, S_IFMT } from '../../../../src/uapi/stat.js';
import {
  registerFamily, unregisterFamily, intBytes, encodeSockaddr, type ProtoOps, type Socket,
} from '../../../../src/net/socket/index.js';

async function kernel() { return boot({ cmdline: 'mem=64M', host: new FakeHost() }); }
const int = (v: number): Uint8Array => intBytes(v);

test('registry: an unregistered family is EAFNOSUPPORT; a registered one gets every call', async () => {
  const k = await kernel();
  try {
    // The real AF_INET is registered at boot: take it away to test the registry with a fake.
    unregisterFamily(k.k, AF_INET);
    assert.equal(await k.sys.socket(AF_INET, SOCK_STREAM, 0), -EAFNOSUPPORT);
    const calls: string[] = [];
    const ops: ProtoOps = {
      family: AF_INET,
      release: () => { calls.push('release'); },
      bind: (_s, a) => { calls.push(`bind:${a.length}`); },
      connect: (_s, a) => { calls.push(`connect:${a.length}`); },
      accept: () => fail(EOPNOTSUPP),
      getname: (_s, peer) => encodeSockaddr({ family: AF_INET, port: peer ? 80 : 1234, addr: '127.0.0.1' }),
      poll: () => 4,
      listen: (_s, backlog) => { calls.push(`listen:${backlog}`); },
      shutdown: (_s, how) => { calls.push(`shutdown:${how}`); },
      setsockopt: (_s, level, name, v) => { calls.push(`setsockopt:${level}:${name}:${v.length}`); },
      getsockopt: (_s, level, name) => { if (level !== SOL_TCP) fail(ENOPROTOOPT); return int(name * 10); },
      sendmsg: (_s, m) => { calls.push(`sendmsg:${m.iov[0]!.length}:${m.name?.length ?? 0}`); return m.iov[0]!.length; },
      recvmsg: (_s, m) => { m.iov[0]!.set([1, 2]); m.name = encodeSockaddr({ family: AF_INET, port: 9, addr: '10.0.0.1' }); return 2; },
    };
    registerFamily(k.k, { family: AF_INET, create: (_t, sock: Socket) => { sock.ops = ops; } });
    const fd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.ok(fd >= 0, `socket: got ${fd}, want an fd`);
    const v = new Uint8Array(4), len = new Int32Array([4]);
    assert.equal(await k.sys.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, v, len), 0);
    assert.equal(new DataView(v.buffer).getInt32(0, true), AF_INET);
    assert.equal(await k.sys.getsockopt(fd, SOL_TCP, TCP_NODELAY, v, len), 0);
    assert.equal(new DataView(v.buffer).getInt32(0, true), 10);
    const sin = { family: AF_INET, port: 80, addr: '127.0.0.1' };
    assert.equal(await k.sys.bind(fd, sin, 16), 0);
    assert.equal(await k.sys.connect(fd, encodeSockaddr(sin), 16), 0);
    assert.equal(await k.sys.listen(fd, -1), 0);
    assert.equal(await k.sys.setsockopt(fd, SOL_TCP, TCP_NODELAY, int(1), 4), 0);
    assert.equal(await k.sys.sendto(fd, new Uint8Array(3), 3, 0, sin, 16), 3);
    const name: Record<string, unknown> = { family: 0 };
    const nl = { value: 0 };
    assert.equal(await k.sys.getpeername(fd, name, nl), 0);
    assert.deepEqual(name, { family: AF_INET, port: 80, addr: '127.0.0.1' });
    assert.equal(nl.value, 16);
    const from = new Uint8Array(16), fl = new Int32Array([16]);
    assert.equal(await k.sys.recvfrom(fd, new Uint8Array(4), 4, 0, from, fl), 2);
    assert.deepEqual([...from.subarray(4, 8)], [10, 0, 0, 1]);
    assert.equal(await k.sys.shutdown(fd, 1), 0);
    assert.equal(await k.sys.close(fd), 0);
    assert.deepEqual(calls, ['bind:16', 'connect:16', 'listen:4096', `setsockopt:${SOL_TCP}:${TCP_NODELAY}:4`, 'sendmsg:3:16', 'shutdown:1', 'release']);
    unregisterFamily(k.k, AF_INET);
    assert.equal(await k.sys.socket(AF_INET, SOCK_STREAM, 0), -EAFNOSUPPORT);
  } finally { await k.halt(); }
});

test('every socket call is EBADF on a bad fd and ENOTSOCK on a pipe', async () => {
  const k = await kernel();
  try {
    const p = new Int32Array(2);
    await k.sys.pipe2(p, 0);
    const sa = new Uint8Array(16), ln = new Int32Array([16]);
    const calls: [string, (fd: number) => Promise<number>][] = [
      ['bind', (fd) => k.sys.bind(fd, sa, 16)],
      ['connect', (fd) => k.sys.connect(fd, sa, 16)],
      ['listen', (fd) => k.sys.listen(fd, 1)],
      ['accept4', (fd) => k.sys.accept4(fd, null, null, 0)],
      ['getsockname', (fd) => k.sys.getsockname(fd, sa, ln)],
      ['getpeername', (fd) => k.sys.getpeername(fd, sa, ln)],
      ['sendto', (fd) => k.sys.sendto(fd, sa, 1, 0, null, 0)],
      ['recvfrom', (fd) => k.sys.recvfrom(fd, sa, 1, 0, null, null)],
      ['setsockopt', (fd) => k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, int(1), 4)],
      ['getsockopt', (fd) => k.sys.getsockopt(fd, SOL_SOCKET, SO_TYPE, sa, ln)],
      ['shutdown', (fd) => k.sys.shutdown(fd, 0)],
      ['sendmsg', (fd) => k.sys.sendmsg(fd, { msg_iov: [sa] }, 0)],
      ['recvmsg', (fd) => k.sys.recvmsg(fd, { msg_iov: [sa] }, 0)],
    ];
    for (const [name, call] of calls) {
      assert.equal(await call(999), -EBADF, `${name}(999): want -EBADF`);
      const r = await call(p[0]!);
      assert.equal(r, -ENOTSOCK, `${name}(pipe): got ${r}, want -ENOTSOCK`);
    }
  } finally { await k.halt(); }
});

test('socket inodes: S_IFSOCK, distinct inode numbers, owner is the caller', async () => {
  const k = await kernel();
  try {
    const a = await k.sys.socket(AF_UNIX, SOCK_DGRAM, 0), b = await k.sys.socket(AF_UNIX, SOCK_DGRAM, 0);
    const st = new Uint8Array(128);
    await k.sys.fstat(a, st);
    const dv = new DataView(st.buffer);
    assert.equal(dv.getUint32(16, true) & S_IFMT, S_IFSOCK);
    assert.equal(dv.getUint32(16, true) & 0o777, 0o777);
    const ino = dv.getBigUint64(8, true);
    await k.sys.fstat(b, st);
    assert.notEqual(dv.getBigUint64(8, true), ino);
  } finally { await k.halt(); }
});

test('SOL_SOCKET option errors', async () => {
  const k = await kernel();
  try {
    const fd = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(8, 1000000n, true);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16), -EDOM);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 8), -EINVAL);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_LINGER, new Uint8Array(8), 4), -EINVAL);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_SNDLOWAT, int(1), 4), -ENOPROTOOPT);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_ERROR, int(1), 4), -ENOPROTOOPT);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, int(1), -1), -EINVAL);
    const t = k.task();
    await t.sys.new_thread_group_leader();
    await t.sys.setresuid(1000, 1000, 1000);
    const fd2 = await t.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    assert.equal(await t.sys.setsockopt(fd2, SOL_SOCKET, SO_SNDBUFFORCE, int(1 << 20), 4), -EPERM);
    const v = new Uint8Array(4), len = new Int32Array([4]);
    assert.equal(await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, int(7), 4), 0);
    assert.equal(await k.sys.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, v, len), 0);
    assert.equal(new DataView(v.buffer).getInt32(0, true), 1);
  } finally { await k.halt(); }
});
