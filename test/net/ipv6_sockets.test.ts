/*
 * AF_INET6 sockets between two kernels on the in-process cable, configured only through the
 * public API (ifUp, ifSetIpv4, ifSetIpv6): ping6 both ways through ICMPv6 ping sockets (global
 * and link-local, with the link-local reply's sin6_scope_id), UDP and TCP over global and
 * link-local addresses (bind/connect to fe80:: need the scope id), and a dual-stack listener
 * bound to :: serving an IPv4 client from the other kernel, which it sees as ::ffff:10.0.0.1.
 *
 * Then the host kernel as the oracle, over a TAP device (root and socat; skipped otherwise,
 * never on CI): the host's ping -6 to us and ours to it, TCP over IPv6 both ways against node:net
 * (the host's TCP), the host connecting to our dual-stack listener over IPv6 and IPv4, and UDP
 * the same ways (node:dgram).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPair, readN, writeAll, pattern, sin, listenHostTcp } from './helpers.js';
import type { LklKernel } from '../../src/lkl.js';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, IPPROTO_ICMPV6 } from '../../src/uapi/socket.js';
import { EINVAL } from '../../src/uapi/errno.js';
import { spawnSync, execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as nodeNet from 'node:net';
import * as dgram from 'node:dgram';
import { boot } from '../../src/lkl.js';
import { createNodeHost, createTapBackend } from '../../src/arch/node/index.js';

const sin6 = (addr: string, port: number, scope_id = 0) => ({ family: AF_INET6, addr, port, scope_id });
/** The link-local address addrconf gives MAC 02:00:00:00:00:0n (modified EUI-64). */
const ll = (n: number) => `fe80::ff:fe00:${n}`;

async function ping6(k: LklKernel, dst: string, scope = 0): Promise<{ n: number; type?: number; from?: string; scope?: number }> {
  const fd = await k.sys.socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
  if (fd < 0) return { n: fd };
  try {
    const req = new Uint8Array(8 + 56); req[0] = 128; req[7] = 1;
    const s = await k.sys.sendto(fd, req, req.length, 0, sin6(dst, 0, scope), 28);
    if (s < 0) return { n: s };
    const from: { addr?: string; scope_id?: number } = {};
    const buf = new Uint8Array(2000);
    const n = await k.sys.recvfrom(fd, buf, buf.length, 0, from, { value: 28 });
    return { n, type: buf[0]!, from: from.addr!, scope: from.scope_id! };
  } finally { await k.sys.close(fd); }
}

async function setup() {
  const p = await bootPair();
  assert.equal(await p.a.ifSetIpv6(p.ifA, '2001:db8::1', 64), 0);
  assert.equal(await p.b.ifSetIpv6(p.ifB, '2001:db8::2', 64), 0);
  // The link-local addresses came with ifUp; let their DAD finish too.
  await p.a.sys.nanosleep({ sec: 3, nsec: 0 }, null);
  return p;
}

test('ping6 both ways, global and link-local', async () => {
  const { a, b, ifA, ifB } = await setup();
  try {
    let r = await ping6(a, '2001:db8::2');
    assert.deepEqual([r.n, r.type, r.from], [64, 129, '2001:db8::2'], `a → b: got ${JSON.stringify(r)}`);
    r = await ping6(b, '2001:db8::1');
    assert.deepEqual([r.n, r.type, r.from], [64, 129, '2001:db8::1']);
    r = await ping6(a, ll(2), ifA);
    assert.deepEqual([r.n, r.type, r.from, r.scope], [64, 129, ll(2), ifA], `a → b link-local: got ${JSON.stringify(r)}`);
    r = await ping6(b, ll(1), ifB);
    assert.deepEqual([r.n, r.type, r.from, r.scope], [64, 129, ll(1), ifB]);
    assert.equal((await ping6(a, ll(2))).n, -EINVAL, 'a link-local destination without an interface');
    assert.equal((await ping6(a, '::1')).n, 64);
  } finally { await a.halt(); await b.halt(); }
});

for (const [what, addrB, scoped] of [['global', '2001:db8::2', false], ['link-local', ll(2), true]] as const) {
  test(`UDP and TCP over IPv6 (${what} addresses)`, async () => {
    const { a, b, ifA, ifB } = await setup();
    try {
      // UDP: b echoes one datagram back to its sender.
      const us = await b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
      assert.equal(await b.sys.bind(us, sin6(scoped ? addrB : '::', 7000, scoped ? ifB : 0), 28), 0);
      if (scoped) assert.equal(await b.sys.bind(await b.sys.socket(AF_INET6, SOCK_DGRAM, 0), sin6(addrB, 7001), 28), -EINVAL, 'fe80:: without scope id');
      const uc = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
      const msg = pattern(1000, 3);
      assert.equal(await a.sys.sendto(uc, msg, msg.length, 0, sin6(addrB, 7000, scoped ? ifA : 0), 28), 1000);
      const buf = new Uint8Array(2000);
      const from: { addr?: string; port?: number; scope_id?: number } = {};
      assert.equal(await b.sys.recvfrom(us, buf, buf.length, 0, from, { value: 28 }), 1000);
      assert.deepEqual(buf.subarray(0, 1000), msg);
      assert.equal(from.addr, scoped ? ll(1) : '2001:db8::1');
      assert.equal(from.scope_id, scoped ? ifB : 0);
      assert.equal(await b.sys.sendto(us, buf, 10, 0, from, 28), 10);
      assert.equal(await a.sys.recvfrom(uc, buf, buf.length, 0, null, null), 10);
      // TCP: 200 KB from a to b, echoed back.
      const l = await b.sys.socket(AF_INET6, SOCK_STREAM, 0);
      assert.equal(await b.sys.bind(l, sin6('::', 8000), 28), 0);
      assert.equal(await b.sys.listen(l, 4), 0);
      const c = await a.sys.socket(AF_INET6, SOCK_STREAM, 0);
      if (scoped) assert.equal(await a.sys.connect(c, sin6(addrB, 8000), 28), -EINVAL, 'connect to fe80:: needs an interface');
      assert.equal(await a.sys.connect(c, sin6(addrB, 8000, scoped ? ifA : 0), 28), 0);
      const peer: { addr?: string; scope_id?: number } = {};
      const s = await b.sys.accept(l, peer, { value: 28 });
      assert.ok(s >= 0, `accept: got ${s}`);
      assert.equal(peer.addr, scoped ? ll(1) : '2001:db8::1');
      assert.equal(peer.scope_id, scoped ? ifB : 0);
      const me: { addr?: string; scope_id?: number } = {};
      assert.equal(await a.sys.getsockname(c, me, { value: 28 }), 0);
      assert.deepEqual([me.addr, me.scope_id], [scoped ? ll(1) : '2001:db8::1', scoped ? ifA : 0]);
      const data = pattern(200_000, 5);
      const sending = writeAll(a, c, data);
      const got = await readN(b, s, data.length);
      await sending;
      assert.equal(got.length, data.length);
      assert.ok(got.every((x, i) => x === data[i]), 'TCP data intact');
      for (const [k, fd] of [[a, uc], [a, c], [b, us], [b, l], [b, s]] as const) await k.sys.close(fd);
    } finally { await a.halt(); await b.halt(); }
  });
}

test('a dual-stack listener serves an IPv4 client from the other kernel', async () => {
  const { a, b } = await setup();
  try {
    const l = await b.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await b.sys.bind(l, sin6('::', 8080), 28), 0);
    assert.equal(await b.sys.listen(l, 4), 0);
    const c4 = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await a.sys.connect(c4, sin('10.0.0.2', 8080), 16), 0);
    const peer: { family?: number; addr?: string } = {};
    const s = await b.sys.accept(l, peer, { value: 28 });
    assert.ok(s >= 0, `accept: got ${s}`);
    assert.deepEqual([peer.family, peer.addr], [AF_INET6, '::ffff:10.0.0.1']);
    const data = pattern(50_000, 9);
    const sending = writeAll(b, s, data);
    const got = await readN(a, c4, data.length);
    await sending;
    assert.ok(got.length === data.length && got.every((x, i) => x === data[i]), 'data from the AF_INET6 side intact');
    // And an IPv6 client to the same listener.
    const c6 = await a.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await a.sys.connect(c6, sin6('2001:db8::2', 8080), 28), 0);
    const p6: { addr?: string } = {};
    const s6 = await b.sys.accept(l, p6, { value: 28 });
    assert.equal(p6.addr, '2001:db8::1');
    // UDP the same way: [::]:53 answers an IPv4 datagram.
    const u = await b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await b.sys.bind(u, sin6('::', 53), 28), 0);
    const u4 = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await a.sys.sendto(u4, new Uint8Array([1, 2]), 2, 0, sin('10.0.0.2', 53), 16), 2);
    const from: { addr?: string; port?: number } = {};
    const buf = new Uint8Array(10);
    assert.equal(await b.sys.recvfrom(u, buf, 10, 0, from, { value: 28 }), 2);
    assert.equal(from.addr, '::ffff:10.0.0.1');
    assert.equal(await b.sys.sendto(u, buf, 2, 0, sin6(from.addr!, from.port!), 28), 2);
    const f4: { addr?: string; port?: number } = {};
    assert.equal(await a.sys.recvfrom(u4, buf, 10, 0, f4, { value: 16 }), 2);
    assert.deepEqual([f4.addr, f4.port], ['10.0.0.2', 53]);
    for (const [k, fd] of [[a, c4], [a, c6], [a, u4], [b, l], [b, s], [b, s6], [b, u]] as const) await k.sys.close(fd);
  } finally { await a.halt(); await b.halt(); }
});

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canTap = process.getuid?.() === 0 && have('socat') && have('ping') && have('ip');
const tapSkip = !canTap && !process.env.CI ? 'needs root, socat, ping and ip (TAP device)' : false;

test('TAP: IPv6 ping, TCP and the dual stack with the host kernel', { skip: tapSkip, timeout: 60_000 }, async () => {
  const name = `lk6${process.pid % 100000}`;
  const HOST4 = '10.213.79.1', OURS4 = '10.213.79.2', HOST6 = 'fd77:79::1', OURS6 = 'fd77:79::2';
  const tap = await createTapBackend({ name, addr: `${HOST4}/24` });
  const k = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
  try {
    execFileSync('ip', ['-6', 'addr', 'add', `${HOST6}/64`, 'dev', name, 'nodad']);
    const ifi = k.netdevGetIfindex(k.netdevAdd(tap));
    assert.equal(await k.ifUp(1), 0);
    assert.equal(await k.ifUp(ifi), 0);
    assert.equal(await k.ifSetIpv4(ifi, OURS4, 24), 0);
    assert.equal(await k.ifSetIpv6(ifi, OURS6, 64), 0);

    const p = await promisify(execFile)('ping', ['-6', '-c', '2', '-W', '2', '-I', name, OURS6], { encoding: 'utf8' })
      .catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `FAILED ${e.stdout}${e.stderr}` }));
    assert.match(p.stdout, /2 received/, `host ping -6: ${p.stdout}`);
    const r = await ping6(k, HOST6);
    assert.deepEqual([r.n, r.type, r.from], [64, 129, HOST6], `our ping6 to the host: ${JSON.stringify(r)}`);

    // TCP over IPv6 to the host's server: 100 KB each way.
    const up = pattern(100_000, 31), down = pattern(100_000, 32);
    const { server, received } = await listenHostTcp(HOST6, 5557, down);
    const cfd = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(cfd, sin6(HOST6, 5557), 28), 0);
    const [got] = await Promise.all([readN(k, cfd, down.length), (async () => {
      await writeAll(k, cfd, up);
      assert.equal(await k.sys.shutdown(cfd, 1), 0);
    })()]);
    assert.ok(got.length === down.length && got.every((x, i) => x === down[i]), 'bytes from the host TCP over IPv6');
    assert.equal(await k.sys.read(cfd, new Uint8Array(1), 1), 0, 'EOF after the host closed');
    await k.sys.close(cfd);
    server.close();
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(received().length === up.length && received().every((x, i) => x === up[i]), 'bytes the host TCP received');

    // The host connects to our dual-stack listener, over IPv6 and over IPv4.
    const lfd = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(lfd, sin6('::', 6667), 28), 0);
    assert.equal(await k.sys.listen(lfd, 8), 0);
    for (const [dst, want] of [[OURS6, HOST6], [OURS4, `::ffff:${HOST4}`]] as const) {
      const peer: { addr?: string } = {};
      const acc = k.task().sys.accept4(lfd, peer, { value: 28 }, 0);
      const client = nodeNet.connect(6667, dst);
      const hostChunks: Buffer[] = [];
      client.on('data', (d) => hostChunks.push(d));
      const closed = new Promise<void>((res) => client.on('end', () => res()));
      client.write(Buffer.from('hello over ' + dst));
      const sfd = await acc;
      assert.ok(sfd >= 0, `accept: got ${sfd}`);
      assert.equal(peer.addr, want);
      const hello = await readN(k, sfd, 11 + dst.length);
      assert.equal(String.fromCharCode(...hello), 'hello over ' + dst);
      await writeAll(k, sfd, down);
      await k.sys.close(sfd);
      await closed;
      client.destroy();
      assert.equal(Buffer.concat(hostChunks).length, down.length, `the host read our bytes (${dst})`);
    }
    await k.sys.close(lfd);

    // UDP: the host's udp6 socket echoes ours; the host's udp4 socket reaches our [::]:7777.
    const h6 = dgram.createSocket('udp6');
    await new Promise<void>((res) => h6.bind(0, HOST6, () => res()));
    h6.on('message', (m, ri) => h6.send(m, ri.port, ri.address));
    const ufd = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(ufd, sin6('::', 7777), 28), 0);
    assert.equal(await k.sys.sendto(ufd, up, 1200, 0, sin6(HOST6, h6.address().port), 28), 1200);
    const ub = new Uint8Array(2000), from: { addr?: string } = {};
    assert.equal(await k.sys.recvfrom(ufd, ub, 2000, 0, from, { value: 28 }), 1200);
    assert.equal(from.addr, HOST6);
    const h4 = dgram.createSocket('udp4');
    await new Promise<void>((res) => h4.bind(0, HOST4, () => res()));
    const back = new Promise<Buffer>((res) => h4.on('message', (m) => res(m)));
    h4.send(Buffer.from('v4 to ::'), 7777, OURS4);
    const f4: { addr?: string; port?: number } = {};
    assert.equal(await k.sys.recvfrom(ufd, ub, 2000, 0, f4, { value: 28 }), 8);
    assert.equal(f4.addr, `::ffff:${HOST4}`);
    assert.equal(await k.sys.sendto(ufd, ub, 8, 0, sin6(f4.addr!, f4.port!), 28), 8);
    assert.equal((await back).toString(), 'v4 to ::', 'the host got our answer over IPv4');
    h6.close(); h4.close();
    await k.sys.close(ufd);
  } finally {
    await k.halt();
    await tap.close?.();
    try { execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
});
