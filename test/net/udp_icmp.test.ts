/*
 * Two kernels on a cable: ping sockets both ways, UDP echo, ECONNREFUSED on a connected UDP
 * socket, raw ICMP sockets, and the configuration seen back through ioctl and rtnetlink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPair, sin } from './helpers.js';
import type { KernelTask } from '../../src/lkl.js';
import {
  AF_INET, SOCK_DGRAM, SOCK_RAW, IPPROTO_ICMP, MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC,
} from '../../src/uapi/socket.js';
import { EAGAIN, ECONNREFUSED, EPERM, EACCES, EADDRINUSE, EINVAL, EDESTADDRREQ } from '../../src/uapi/errno.js';

function echoRequest(seq: number, size = 56): Uint8Array {
  const b = new Uint8Array(8 + size);
  b[0] = 8; b[6] = seq >> 8; b[7] = seq & 0xff;
  for (let i = 0; i < size; i++) b[8 + i] = (i + 8) & 0xff;
  return b;
}

async function pingOnce(t: KernelTask, dst: string, seq: number): Promise<{ from: string; reply: Uint8Array }> {
  const fd = await t.sys.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  assert.ok(fd >= 0, `socket(ICMP ping): got ${fd}, want an fd`);
  try {
    const req = echoRequest(seq);
    assert.equal(await t.sys.sendto(fd, req, req.length, 0, sin(dst, 0), 16), req.length);
    const buf = new Uint8Array(2048);
    const from: { addr?: string } = {};
    const n = await t.sys.recvfrom(fd, buf, buf.length, 0, from, { value: 16 });
    assert.equal(n, 64, `got ${n} bytes of echo reply, want 64`);
    return { from: from.addr!, reply: buf.subarray(0, n) };
  } finally { await t.sys.close(fd); }
}

test('ping sockets answer both ways over the cable', async () => {
  const { a, b } = await bootPair();
  try {
    const r1 = await pingOnce(a, '10.0.0.2', 1);
    assert.equal(r1.from, '10.0.0.2');
    assert.equal(r1.reply[0], 0, `got ICMP type ${r1.reply[0]}, want echo reply 0`);
    assert.equal(r1.reply[7], 1);
    assert.deepEqual([...r1.reply.subarray(8)], [...echoRequest(1).subarray(8)]);
    const r2 = await pingOnce(b, '10.0.0.1', 7);
    assert.equal(r2.from, '10.0.0.1');
    assert.equal(r2.reply[0], 0);
    assert.equal(r2.reply[7], 7);
  } finally { await a.halt(); await b.halt(); }
});

test('UDP echo, MSG_PEEK/TRUNC/DONTWAIT, ECONNREFUSED on a connected socket', async () => {
  const { a, b } = await bootPair();
  try {
    const srv = await b.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await b.sys.bind(srv, sin('0.0.0.0', 7777), 16), 0);
    const server = (async () => {
      const buf = new Uint8Array(1500);
      const from: { addr?: string; port?: number } = {};
      const n = await b.sys.recvfrom(srv, buf, buf.length, 0, from, { value: 16 });
      await b.sys.sendto(srv, buf.subarray(0, n), n, 0, sin(from.addr!, from.port!), 16);
    })();
    const cli = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await a.sys.recvfrom(cli, new Uint8Array(4), 4, MSG_DONTWAIT, null, null), -EAGAIN);
    assert.equal(await a.sys.sendto(cli, new Uint8Array(4), 4, 0, null, 0), -EDESTADDRREQ);
    const msg = new TextEncoder().encode('hello over the cable');
    assert.equal(await a.sys.sendto(cli, msg, msg.length, 0, sin('10.0.0.2', 7777), 16), msg.length);
    await server;
    const small = new Uint8Array(5);
    assert.equal(await a.sys.recvfrom(cli, small, 5, MSG_PEEK, null, null), 5);
    assert.equal(await a.sys.recvfrom(cli, small, 5, MSG_PEEK | MSG_TRUNC, null, null), msg.length);
    const buf = new Uint8Array(100);
    const n = await a.sys.recvfrom(cli, buf, 100, 0, null, null);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'hello over the cable');
    // A second bind of the same port fails.
    const dup = await b.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await b.sys.bind(dup, sin('0.0.0.0', 7777), 16), -EADDRINUSE);
    // Connected to a closed port: the ICMP port unreachable comes back as ECONNREFUSED.
    const c2 = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await a.sys.connect(c2, sin('10.0.0.2', 9), 16), 0);
    assert.equal(await a.sys.write(c2, msg, msg.length), msg.length);
    const r = await a.sys.recvfrom(c2, buf, 100, 0, null, null);
    assert.equal(r, -ECONNREFUSED, `got ${r}, want -ECONNREFUSED`);
  } finally { await a.halt(); await b.halt(); }
});

test('raw ICMP sockets: EPERM without CAP_NET_RAW, whole datagrams for root', async () => {
  const { a, b } = await bootPair();
  try {
    const fd = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    assert.ok(fd >= 0);
    const req = echoRequest(3);
    // The caller computes the checksum of a raw message.
    let s = 0;
    for (let i = 0; i < req.length; i += 2) s += (req[i]! << 8) | (req[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const c = ~s & 0xffff; req[2] = c >> 8; req[3] = c & 0xff;
    assert.equal(await a.sys.sendto(fd, req, req.length, 0, sin('10.0.0.2', 0), 16), req.length);
    const buf = new Uint8Array(2048);
    const n = await a.sys.recvfrom(fd, buf, buf.length, 0, null, null);
    assert.equal(n, 20 + 64, `got ${n} bytes, want an IP header and 64 bytes of ICMP`);
    assert.equal(buf[0]! >> 4, 4);
    assert.equal(buf[20], 0, 'want an echo reply');
    // An unprivileged task may neither open raw sockets nor (default ping_group_range "0 0") ping sockets.
    const t = b.task();
    assert.equal(await t.sys.setgid(1000), 0);
    assert.equal(await t.sys.setuid(1000), 0);
    assert.equal(await t.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), -EPERM);
    assert.equal(await t.sys.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), -EACCES);
    assert.equal(await b.sysctl('net/ipv4/ping_group_range', '0 2147483647'), 0);
    assert.ok(await t.sys.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) >= 0);
    assert.equal(await b.sysctl('net/ipv4/ping_group_range', 'x'), -EINVAL);
  } finally { await a.halt(); await b.halt(); }
});
