/*
 * AF_INET6 sockets on one kernel over lo: ping sockets to ::1, UDP and TCP over ::1, the dual
 * stack (an AF_INET6 listener bound to :: serving an AF_INET client as ::ffff:127.0.0.1, a
 * v4-mapped connect and sendto), IPV6_V6ONLY and its port conflicts, the IPPROTO_IPV6 options'
 * defaults and errnos, and the address errnos of bind/connect (short addrlen, wrong family,
 * link-local without scope id, non-local address).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, type LklKernel } from '../../../../src/lkl.js';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import {
  AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, SOCK_RAW, IPPROTO_ICMPV6, SOL_IPV6, SOCK_NONBLOCK,
} from '../../../../src/uapi/socket.js';
import {
  EINVAL, EAFNOSUPPORT, EADDRNOTAVAIL, EADDRINUSE, ENETUNREACH, ENOTCONN, ENOPROTOOPT, EPROTONOSUPPORT,
  ESOCKTNOSUPPORT, EAGAIN, ECONNREFUSED,
} from '../../../../src/uapi/errno.js';
import {
  IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_TCLASS, IPV6_MTU_DISCOVER,
  IPV6_RECVPKTINFO, IPV6_MTU,
} from '../../../../src/net/socket/index.js';

async function kernel(): Promise<LklKernel> {
  const k = await boot({ cmdline: 'mem=64M quiet', host: new FakeHost({ seed: 7, autoAdvance: true }) });
  assert.equal(await k.ifUp(1), 0);
  return k;
}

const sin6 = (addr: string, port: number, scope_id = 0) => ({ family: AF_INET6, addr, port, scope_id });
const sin = (addr: string, port: number) => ({ family: AF_INET, addr, port });
const int = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); return b; };

async function getInt(k: LklKernel, fd: number, level: number, name: number): Promise<number> {
  const b = new Uint8Array(4), len = { value: 4 };
  const r = await k.sys.getsockopt(fd, level, name, b, len);
  return r < 0 ? r : new DataView(b.buffer).getInt32(0, true);
}

async function name(k: LklKernel, fd: number, peer = false): Promise<{ addr?: string; port?: number; scope_id?: number; family?: number } | number> {
  const o: { addr?: string; port?: number } = {};
  const r = peer ? await k.sys.getpeername(fd, o, { value: 28 }) : await k.sys.getsockname(fd, o, { value: 28 });
  return r < 0 ? r : o;
}

test('ping ::1 through an ICMPv6 ping socket', async () => {
  const k = await kernel();
  try {
    const fd = await k.sys.socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    assert.ok(fd >= 0, `socket: got ${fd}`);
    const req = new Uint8Array(64); req[0] = 128; req[6] = 0; req[7] = 5;
    for (let i = 8; i < 64; i++) req[i] = i;
    assert.equal(await k.sys.sendto(fd, req, req.length, 0, sin6('::1', 0), 28), 64);
    const buf = new Uint8Array(200), from: { addr?: string; port?: number } = {};
    const n = await k.sys.recvfrom(fd, buf, buf.length, 0, from, { value: 28 });
    assert.equal(n, 64, `got ${n} bytes, want 64`);
    assert.equal(buf[0], 129, `got type ${buf[0]}, want 129 (echo reply)`);
    assert.equal(buf[7], 5, 'sequence echoed');
    assert.deepEqual(buf.subarray(8, 64), req.subarray(8, 64));
    assert.equal(from.addr, '::1');
    const me = await name(k, fd) as { port: number };
    assert.equal((buf[4]! << 8) | buf[5]!, me.port, 'the identifier is the socket\'s "port"');
    // Only echo requests may be sent; a v4-mapped destination is refused.
    req[0] = 1;
    assert.equal(await k.sys.sendto(fd, req, 64, 0, sin6('::1', 0), 28), -EINVAL);
    req[0] = 128;
    assert.equal(await k.sys.sendto(fd, req, 64, 0, sin6('::ffff:127.0.0.1', 0), 28), -EINVAL);
    assert.equal(await k.sys.sendto(fd, req, 4, 0, sin6('::1', 0), 28), -EINVAL, 'shorter than an ICMPv6 header');
    await k.sys.close(fd);
  } finally { await k.halt(); }
});

test('socket(AF_INET6) kinds and errnos', async () => {
  const k = await kernel();
  try {
    assert.equal(await k.sys.socket(AF_INET6, SOCK_DGRAM, 6), -EPROTONOSUPPORT);
    assert.equal(await k.sys.socket(AF_INET6, SOCK_STREAM, 17), -EPROTONOSUPPORT);
    assert.equal(await k.sys.socket(AF_INET6, 5 /* SOCK_SEQPACKET */, 0), -ESOCKTNOSUPPORT);
    const u = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    // bind: short address, wrong family, a foreign address, link-local without scope id.
    assert.equal(await k.sys.bind(u, new Uint8Array(20).fill(0).map((_, i) => (i === 0 ? AF_INET6 : 0)), 20), -EINVAL);
    assert.equal(await k.sys.bind(u, sin('127.0.0.1', 0), 16), -EINVAL, 'a sockaddr_in is too short for AF_INET6');
    const wrong = new Uint8Array(28); wrong[0] = AF_INET;
    assert.equal(await k.sys.bind(u, wrong, 28), -EAFNOSUPPORT);
    assert.equal(await k.sys.bind(u, sin6('2001:db8::1', 0), 28), -EADDRNOTAVAIL);
    assert.equal(await k.sys.bind(u, sin6('fe80::1', 0), 28), -EINVAL);
    assert.equal(await k.sys.getpeername(u, {}, { value: 28 }), -ENOTCONN);
    // Option defaults (Linux's).
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_V6ONLY), 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_UNICAST_HOPS), 64);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_MULTICAST_HOPS), 1);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_MULTICAST_LOOP), 1);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_TCLASS), 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_MTU_DISCOVER), 1);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_RECVPKTINFO), 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_MTU), -ENOTCONN);
    assert.equal(await getInt(k, u, SOL_IPV6, 9999), -ENOPROTOOPT);
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_UNICAST_HOPS, int(256), 4), -EINVAL);
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_MULTICAST_LOOP, int(2), 4), -EINVAL);
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_TCLASS, int(-2), 4), -EINVAL);
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_V6ONLY, int(1), 2), -EINVAL, 'optlen < sizeof(int)');
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_UNICAST_HOPS, int(7), 4), 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_UNICAST_HOPS), 7);
    assert.equal(await k.sys.bind(u, sin6('::1', 0), 28), 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_V6ONLY), 1, 'binding a specific address makes the socket v6-only');
    assert.equal(await k.sys.setsockopt(u, SOL_IPV6, IPV6_V6ONLY, int(0), 4), -EINVAL, 'too late once bound');
    assert.equal(await k.sys.connect(u, sin6('::ffff:127.0.0.1', 9), 28), -ENETUNREACH);
    const t = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await getInt(k, t, SOL_IPV6, IPV6_MULTICAST_HOPS), 1);
    assert.equal(await k.sys.setsockopt(t, SOL_IPV6, IPV6_MULTICAST_HOPS, int(3), 4), -ENOPROTOOPT);
    assert.equal(await k.sys.connect(t, sin('127.0.0.1', 80), 16), -EINVAL);
    await k.sys.close(t); await k.sys.close(u);
  } finally { await k.halt(); }
});

test('UDP over ::1 and the dual stack', async () => {
  const k = await kernel();
  try {
    const srv = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(srv, sin6('::', 5353), 28), 0);
    // [::]:5353 without V6ONLY holds the IPv4 port too.
    const v4 = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(v4, sin('0.0.0.0', 5353), 16), -EADDRINUSE);
    const c6 = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.sendto(c6, new Uint8Array([1, 2, 3]), 3, 0, sin6('::1', 5353), 28), 3);
    assert.equal(await k.sys.sendto(v4, new Uint8Array([4, 5]), 2, 0, sin('127.0.0.1', 5353), 16), 2);
    const buf = new Uint8Array(16);
    let from: { addr?: string; port?: number; family?: number } = {};
    assert.equal(await k.sys.recvfrom(srv, buf, 16, 0, from, { value: 28 }), 3);
    assert.equal(from.addr, '::1');
    from = {};
    assert.equal(await k.sys.recvfrom(srv, buf, 16, 0, from, { value: 28 }), 2);
    assert.equal(from.addr, '::ffff:127.0.0.1', 'an IPv4 peer as a v4-mapped address');
    const v4port = (await name(k, v4) as { port: number }).port;
    assert.equal(from.port, v4port);
    // Answer through the mapped address: it goes out over IPv4.
    assert.equal(await k.sys.sendto(srv, new Uint8Array([9]), 1, 0, sin6('::ffff:127.0.0.1', v4port), 28), 1);
    const f4: { addr?: string; port?: number } = {};
    assert.equal(await k.sys.recvfrom(v4, buf, 16, 0, f4, { value: 16 }), 1);
    assert.deepEqual([f4.addr, f4.port], ['127.0.0.1', 5353]);
    // Connected v4-mapped UDP, getpeername in sockaddr_in6.
    const cm = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.connect(cm, sin6('::ffff:127.0.0.1', 5353), 28), 0);
    assert.deepEqual(await name(k, cm, true), { family: AF_INET6, addr: '::ffff:127.0.0.1', port: 5353, flowinfo: 0, scope_id: 0 });
    const me = await name(k, cm) as { addr: string };
    assert.equal(me.addr, '::ffff:127.0.0.1');
    // Nothing listens on a port: ECONNREFUSED on a connected socket.
    const cr = await k.sys.socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert.equal(await k.sys.connect(cr, sin6('::1', 9), 28), 0);
    assert.equal(await k.sys.write(cr, new Uint8Array(1), 1), 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await k.sys.read(cr, buf, 16), -ECONNREFUSED);
    assert.equal(await k.sys.read(cr, buf, 16), -EAGAIN);
    // V6ONLY sockets leave IPv4 alone.
    const o6 = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.setsockopt(o6, SOL_IPV6, IPV6_V6ONLY, int(1), 4), 0);
    const p4 = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(p4, sin('0.0.0.0', 6000), 16), 0);
    assert.equal(await k.sys.bind(o6, sin6('::', 6000), 28), 0);
    assert.equal(await k.sys.sendto(o6, buf, 1, 0, sin6('::ffff:127.0.0.1', 6000), 28), -ENETUNREACH);
    for (const fd of [srv, v4, c6, cm, cr, o6, p4]) await k.sys.close(fd);
  } finally { await k.halt(); }
});

test('TCP over ::1, and a dual-stack listener serving an IPv4 client', async () => {
  const k = await kernel();
  try {
    const l = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l, sin6('::', 8080), 28), 0);
    assert.equal(await k.sys.listen(l, 8), 0);
    const l4 = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l4, sin('0.0.0.0', 8080), 16), -EADDRINUSE, '[::]:8080 holds the IPv4 port');
    await k.sys.close(l4);
    // An IPv6 client.
    const c = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c, sin6('::1', 8080), 28), 0);
    const peer: { addr?: string; port?: number } = {};
    const s = await k.sys.accept(l, peer, { value: 28 });
    assert.ok(s >= 0, `accept: got ${s}`);
    assert.equal(peer.addr, '::1');
    assert.equal(await k.sys.write(c, new Uint8Array([1, 2, 3]), 3), 3);
    const buf = new Uint8Array(16);
    assert.equal(await k.sys.read(s, buf, 16), 3);
    assert.deepEqual(await name(k, s), { family: AF_INET6, addr: '::1', port: 8080, flowinfo: 0, scope_id: 0 });
    // An IPv4 client reaches the same listener; its address is v4-mapped.
    const c4 = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c4, sin('127.0.0.1', 8080), 16), 0);
    const p4: { addr?: string; port?: number } = {};
    const s4 = await k.sys.accept(l, p4, { value: 28 });
    assert.ok(s4 >= 0, `accept: got ${s4}`);
    assert.equal(p4.addr, '::ffff:127.0.0.1');
    assert.equal((await name(k, s4) as { addr: string }).addr, '::ffff:127.0.0.1');
    assert.equal(await k.sys.write(s4, new Uint8Array([7, 8]), 2), 2);
    assert.equal(await k.sys.read(c4, buf, 16), 2);
    assert.deepEqual([...buf.subarray(0, 2)], [7, 8]);
    // An AF_INET6 client connecting to a v4-mapped address talks IPv4.
    const l2 = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l2, sin('127.0.0.1', 9090), 16), 0);
    assert.equal(await k.sys.listen(l2, 4), 0);
    const cm = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(cm, sin6('::ffff:127.0.0.1', 9090), 28), 0);
    const pm: { addr?: string; port?: number } = {};
    const sm = await k.sys.accept(l2, pm, { value: 16 });
    assert.ok(sm >= 0);
    assert.equal(pm.addr, '127.0.0.1');
    assert.equal(await k.sys.write(cm, new Uint8Array([5]), 1), 1);
    assert.equal(await k.sys.read(sm, buf, 16), 1);
    assert.equal((await name(k, cm, true) as { addr: string }).addr, '::ffff:127.0.0.1');
    // Nobody on the port: refused.
    const cx = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(cx, sin6('::1', 1), 28), -ECONNREFUSED);
    for (const fd of [l, c, s, c4, s4, l2, cm, sm, cx]) await k.sys.close(fd);
  } finally { await k.halt(); }
});

// ---- /proc/net/{tcp,tcp6,udp,udp6} against the host's files --------------------------------------

const HEX = '[0-9A-F]';
const TCP_LINE = (a: number) => new RegExp(`^ *\\d+: ${HEX}{${a}}:${HEX}{4} ${HEX}{${a}}:${HEX}{4} ${HEX}{2} ${HEX}{8}:${HEX}{8} ` +
  `${HEX}{2}:${HEX}{8} ${HEX}{8} +\\d+ +\\d+ \\d+ \\d+ [0-9a-f]{16} \\d+ \\d+ \\d+ \\d+ -?\\d+ *$`);
const UDP_LINE = (a: number) => new RegExp(`^ *\\d+: ${HEX}{${a}}:${HEX}{4} ${HEX}{${a}}:${HEX}{4} ${HEX}{2} ${HEX}{8}:${HEX}{8} ` +
  `${HEX}{2}:${HEX}{8} ${HEX}{8} +\\d+ +\\d+ \\d+ \\d+ [0-9a-f]{16} \\d+ *$`);

test('/proc/net/tcp, tcp6, udp, udp6 in the host kernel\'s format', async () => {
  const { readFileSync } = await import('node:fs');
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  // The host's own sockets: a listener and an established pair on each family, a UDP socket.
  const srv = net.createServer(() => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const cli = net.connect(port, '127.0.0.1');
  await new Promise((r) => cli.on('connect', r));
  const us = dgram.createSocket('udp4');
  await new Promise<void>((r) => us.bind(0, '127.0.0.1', r));
  const host = (f: string) => readFileSync(`/proc/net/${f}`, 'latin1').split('\n').filter((x) => x);
  const hostTcp = host('tcp'), hostUdp = host('udp'), hostTcp6 = host('tcp6'), hostUdp6 = host('udp6');
  const hp = port.toString(16).toUpperCase().padStart(4, '0');
  const hostListen = hostTcp.find((l) => l.includes(`:${hp} 00000000:0000 0A`))!;
  const hostEst = hostTcp.find((l) => l.includes(`:${hp} 01 `))!;
  cli.destroy(); srv.close(); us.close();
  assert.ok(hostListen && hostEst, 'the host lists its listener and connection');

  const k = await kernel();
  try {
    assert.equal(await k.sys.mkdir('/proc', 0o555).then((r) => (r === -17 ? 0 : r)), 0);
    assert.equal(await k.sys.mount('proc', '/proc', 'proc', 0, null), 0);
    const l = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l, sin('127.0.0.1', 4000), 16), 0);
    assert.equal(await k.sys.listen(l, 5), 0);
    const c = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c, sin('127.0.0.1', 4000), 16), 0);
    const s = await k.sys.accept(l, null, null);
    assert.equal(await k.sys.write(c, new Uint8Array(5), 5), 5);
    const l6 = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(l6, sin6('::', 4001), 28), 0);
    assert.equal(await k.sys.listen(l6, 5), 0);
    const c6 = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(c6, sin6('::1', 4001), 28), 0);
    const u = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(u, sin('127.0.0.1', 4002), 16), 0);
    assert.equal(await k.sys.sendto(u, new Uint8Array(3), 3, 0, sin('127.0.0.1', 4002), 16), 3);
    const u6 = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(u6, sin6('::1', 4003), 28), 0);
    const read = async (f: string) => {
      const fd = await k.sys.open(`/proc/net/${f}`, 0, 0);
      const b = new Uint8Array(65536);
      const n = await k.sys.read(fd, b, b.length);
      await k.sys.close(fd);
      return String.fromCharCode(...b.subarray(0, n)).split('\n').filter((x) => x);
    };
    const tcp = await read('tcp'), tcp6 = await read('tcp6'), udp = await read('udp'), udp6 = await read('udp6');
    // Headers byte for byte, including Linux's padding.
    assert.equal(tcp[0], hostTcp[0]); assert.equal(tcp6[0], hostTcp6[0]);
    assert.equal(udp[0], hostUdp[0]); assert.equal(udp6[0], hostUdp6[0]);
    // The line grammar, checked on the host's own lines first; IPv4 lines have the host's width.
    for (const [re, ours, theirs, width] of [[TCP_LINE(8), tcp, hostTcp, 149], [TCP_LINE(32), tcp6, hostTcp6, 0],
      [UDP_LINE(8), udp, hostUdp, 127], [UDP_LINE(32), udp6, hostUdp6, 0]] as const) {
      for (const x of theirs.slice(1).filter((y) => !/ 06 /.test(y.slice(0, 100)))) assert.match(x, re, 'the grammar fits the host');
      for (const x of ours.slice(1)) {
        assert.match(x, re);
        if (width) assert.equal(x.length, width, `got a ${x.length}-column line, want ${width}: ${x}`);
      }
    }
    assert.equal(hostListen.length, 149);
    const listen = tcp.find((x) => x.includes('0100007F:0FA0 00000000:0000 0A'));
    assert.ok(listen, `listener 127.0.0.1:4000 in ${tcp.join('\n')}`);
    const est = tcp.filter((x) => / 01 /.test(x.slice(0, 50)));
    assert.equal(est.length, 2, 'both ends of the connection');
    assert.ok(est.some((x) => x.includes('0100007F:0FA0 0100007F:') && x.includes('00000000:00000005')), 'five bytes unread on the accepted side');
    assert.ok(tcp6.some((x) => x.includes('00000000000000000000000000000000:0FA1 00000000000000000000000000000000:0000 0A')));
    assert.ok(tcp6.some((x) => x.includes('00000000000000000000000001000000:0FA1 00000000000000000000000001000000:')), 'the ::1 connection');
    assert.ok(udp.some((x) => x.includes('0100007F:0FA2 00000000:0000 07 00000000:00000003')));
    assert.ok(udp6.some((x) => x.includes('00000000000000000000000001000000:0FA3')));
    for (const fd of [l, c, s, l6, c6, u, u6]) await k.sys.close(fd);
  } finally { await k.halt(); }
});

test('net.ipv6.bindv6only makes new AF_INET6 sockets v6-only', async () => {
  const k = await kernel();
  try {
    assert.equal(await k.sysctl('net/ipv6/bindv6only', '1'), 0);
    const u = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await getInt(k, u, SOL_IPV6, IPV6_V6ONLY), 1);
    assert.equal(await k.sys.bind(u, sin6('::', 7777), 28), 0);
    const v4 = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(v4, sin('0.0.0.0', 7777), 16), 0, 'a v6-only [::]:7777 leaves IPv4 free');
    assert.equal(await k.sysctl('net/ipv6/bindv6only', '0'), 0);
    const t = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
    assert.equal(await getInt(k, t, SOL_IPV6, IPV6_V6ONLY), 0);
    for (const fd of [u, v4, t]) await k.sys.close(fd);
  } finally { await k.halt(); }
});

test('raw ICMPv6 sockets: root only, the kernel computes the checksum, ICMP6_FILTER', async () => {
  const k = await kernel();
  try {
    const r = await k.sys.socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    assert.ok(r >= 0, `socket: got ${r}`);
    assert.equal(await k.sys.socket(AF_INET6, SOCK_RAW, 17), -EPROTONOSUPPORT);
    const me = await name(k, r) as { port: number };
    assert.equal(me.port, IPPROTO_ICMPV6, 'a raw socket\'s port is its protocol');
    const req = new Uint8Array(16); req[0] = 128; req[4] = 0x12; req[5] = 0x34; req[7] = 9;
    assert.equal(await k.sys.sendto(r, req, 16, 0, sin6('::1', 0), 28), 16);
    // Over lo the raw socket sees its own request, then the reply.
    const buf = new Uint8Array(100);
    const types: number[] = [];
    for (let i = 0; i < 2; i++) {
      const n = await k.sys.recvfrom(r, buf, 100, 0, null, null);
      assert.equal(n, 16, `got ${n} bytes, want 16 (no IPv6 header)`);
      types.push(buf[0]!);
    }
    assert.deepEqual(types, [128, 129]);
    assert.deepEqual([buf[4], buf[5], buf[7]], [0x12, 0x34, 9], 'identifier and sequence kept');
    // Block echo requests (type 128: word 4, bit 0).
    const filt = new Uint8Array(32); filt[16] = 1;
    assert.equal(await k.sys.setsockopt(r, 58 /* SOL_ICMPV6 */, 1 /* ICMP6_FILTER */, filt, 32), 0);
    assert.equal(await k.sys.sendto(r, req, 16, 0, sin6('::1', 0), 28), 16);
    assert.equal(await k.sys.recvfrom(r, buf, 100, 0, null, null), 16);
    assert.equal(buf[0], 129, 'only the reply passes the filter');
    await k.sys.close(r);
  } finally { await k.halt(); }
});

test('poll and epoll see AF_INET6 datagrams and connections', async () => {
  const k = await kernel();
  try {
    const u = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(u, sin6('::1', 5000), 28), 0);
    const pfd = [{ fd: u, events: 1 /* POLLIN */, revents: 0 }];
    assert.equal(await k.sys.poll(pfd, 1, 0), 0);
    const ep = await k.sys.epoll_create1(0);
    assert.equal(await k.sys.epoll_ctl(ep, 1 /* EPOLL_CTL_ADD */, u, { events: 1, data: 42 }), 0);
    const c = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    const evs = [{ events: 0, data: 0 }];
    const waiting = k.sys.epoll_pwait(ep, evs, 1, 1000, null, 8);
    assert.equal(await k.sys.sendto(c, new Uint8Array(3), 3, 0, sin6('::1', 5000), 28), 3);
    assert.equal(await waiting, 1, 'epoll wakes for the datagram');
    assert.deepEqual([evs[0]!.events & 1, evs[0]!.data], [1, 42]);
    assert.equal(await k.sys.poll(pfd, 1, 0), 1);
    assert.equal(pfd[0]!.revents, 1);
    for (const fd of [u, c, ep]) await k.sys.close(fd);
  } finally { await k.halt(); }
});

test('IPV6_RECVPKTINFO / RECVHOPLIMIT / RECVTCLASS produce their control messages', async () => {
  const { sockFromFile } = await import('../../../../src/net/socket/index.js');
  const k = await kernel();
  try {
    const u = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.bind(u, sin6('::1', 5001), 28), 0);
    for (const o of [IPV6_RECVPKTINFO, 51 /* IPV6_RECVHOPLIMIT */, 66 /* IPV6_RECVTCLASS */]) {
      assert.equal(await k.sys.setsockopt(u, SOL_IPV6, o, int(1), 4), 0);
    }
    const c = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
    assert.equal(await k.sys.setsockopt(c, SOL_IPV6, IPV6_TCLASS, int(0x20), 4), 0);
    assert.equal(await k.sys.setsockopt(c, SOL_IPV6, IPV6_UNICAST_HOPS, int(33), 4), 0);
    assert.equal(await k.sys.sendto(c, new Uint8Array(2), 2, 0, sin6('::1', 5001), 28), 2);
    // The syscall layer turns msg.scm.cmsgs into cmsgs; here the protocol's half is checked.
    const sock = sockFromFile(k.kernelTask.files.get(u))!;
    const msg = { name: null, iov: [new Uint8Array(10)], flags: 0, scm: null, controlLen: 100 } as Parameters<typeof sock.ops.recvmsg>[1];
    assert.equal(await sock.ops.recvmsg(sock, msg, 0, k.kernelTask), 2);
    const cm = msg.scm?.cmsgs ?? [];
    assert.deepEqual(cm.map((x) => [x.level, x.type]), [[41, 50], [41, 52], [41, 67]]);
    assert.deepEqual([...cm[0]!.data.subarray(0, 16)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 'ipi6_addr = ::1');
    assert.equal(new DataView(cm[1]!.data.buffer).getInt32(0, true), 33, 'the hop limit it came with');
    assert.equal(new DataView(cm[2]!.data.buffer).getInt32(0, true), 0x20, 'its traffic class');
    for (const fd of [u, c]) await k.sys.close(fd);
  } finally { await k.halt(); }
});
