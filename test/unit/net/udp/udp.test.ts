/*
 * UDP between two kernels: delivery with addresses and ports, binding errnos, ephemeral ports,
 * ICMP port unreachable turning into ECONNREFUSED on a connected endpoint, checksum failures
 * dropped, broadcast needing SO_BROADCAST, the receive buffer bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { udpSocket } from '../../../../src/net/udp/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED, EACCES, EDESTADDRREQ, EINVAL } from '../../../../src/uapi/errno.js';
import { twoNodes, settle, haltAll, ip } from '../helpers.js';

const errno = (fn: () => unknown): number => {
  try { fn(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
};

test('datagrams travel both ways with their source address and port', async () => {
  const { a, b } = await twoNodes();
  const srv = udpSocket(b.net); srv.bind(0, 7000);
  const cli = udpSocket(a.net);
  assert.equal(cli.sendto(new TextEncoder().encode('ping'), ip('10.0.0.2'), 7000), 4);
  const [lo, hi] = a.net.sysctl.ip_local_port_range;
  assert.ok(cli.localPort >= lo && cli.localPort <= hi, `got ephemeral port ${cli.localPort}`);
  const d = await srv.recvWait(b.net.now() + 1e9);
  assert.ok(d);
  assert.equal(new TextDecoder().decode(d.data), 'ping');
  assert.deepEqual([d.saddr, d.sport, d.daddr], [ip('10.0.0.1'), cli.localPort, ip('10.0.0.2')]);
  srv.sendto(new TextEncoder().encode('pong'), d.saddr, d.sport);
  const r = await cli.recvWait(a.net.now() + 1e9);
  assert.equal(new TextDecoder().decode(r!.data), 'pong');
  // A 9000-byte datagram crosses a 1500-byte MTU in fragments.
  const big = new Uint8Array(9000).map((_, i) => i & 0xff);
  cli.sendto(big, ip('10.0.0.2'), 7000);
  assert.deepEqual((await srv.recvWait(b.net.now() + 1e9))?.data, big);
  await haltAll(a, b);
});

test('bind errnos and port sharing rules', async () => {
  const { a, b } = await twoNodes();
  const s1 = udpSocket(a.net); s1.bind(0, 53);
  assert.equal(errno(() => udpSocket(a.net).bind(0, 53)), EADDRINUSE);
  assert.equal(errno(() => udpSocket(a.net).bind(ip('10.0.0.1'), 53)), EADDRINUSE, 'wildcard holder conflicts with a specific address');
  assert.equal(errno(() => udpSocket(a.net).bind(ip('10.9.9.9'), 54)), EADDRNOTAVAIL);
  assert.equal(errno(() => s1.bind(0, 55)), EINVAL, 'already bound');
  assert.equal(errno(() => udpSocket(a.net).sendto(new Uint8Array(1))), EDESTADDRREQ);
  s1.close();
  udpSocket(a.net).bind(ip('10.0.0.1'), 53);
  await haltAll(a, b);
});

test('a connected endpoint hears ICMP port unreachable as ECONNREFUSED', async () => {
  const { a, b } = await twoNodes();
  const s = udpSocket(a.net);
  s.connect(ip('10.0.0.2'), 9);
  s.sendto(new Uint8Array(10));
  await settle();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(errno(() => s.recv()), ECONNREFUSED);
  assert.equal(s.recv(), null, 'the error is reported once');
  assert.equal(b.net.mib.get('UdpNoPorts'), 1);
  await haltAll(a, b);
});

test('broadcast needs SO_BROADCAST; bad checksums are dropped', async () => {
  const { a, b, cable } = await twoNodes();
  const s = udpSocket(a.net);
  assert.equal(errno(() => s.sendto(new Uint8Array(1), ip('10.0.0.255'), 7)), EACCES);
  const srv = udpSocket(b.net); srv.bind(0, 7);
  s.broadcast = true;
  s.sendto(new Uint8Array([1]), ip('10.0.0.255'), 7);
  assert.deepEqual((await srv.recvWait(b.net.now() + 1e9))?.data, new Uint8Array([1]));
  // Corrupt the next datagram on the wire.
  cable.filter = (f) => { if (f.length > 42 && f[23] === 17) f[f.length - 1]! ^= 0x55; return false; };
  s.sendto(new Uint8Array([2, 3, 4]), ip('10.0.0.2'), 7);
  assert.equal(await srv.recvWait(b.net.now() + 1e8), null);
  assert.equal(b.net.mib.get('UdpInCsumErrors'), 1);
  await haltAll(a, b);
});

test('the receive buffer bounds what waits unread', async () => {
  const { a, b } = await twoNodes();
  const srv = udpSocket(b.net); srv.bind(0, 7); srv.rcvbuf = 3000;
  const s = udpSocket(a.net);
  for (let i = 0; i < 10; i++) s.sendto(new Uint8Array(1000), ip('10.0.0.2'), 7);
  await settle(); await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.rxQueue.length, 3, `got ${srv.rxQueue.length} queued, want 3`);
  assert.equal(b.net.mib.get('UdpRcvbufErrors'), 7);
  assert.equal(b.lkl.k.mem.pages('sock'), 1, 'queued datagrams are charged to mem= as sock pages');
  while (srv.recv()) { /* drain */ }
  assert.equal(b.lkl.k.mem.pages('sock'), 0, 'and uncharged when read');
  await haltAll(a, b);
});
