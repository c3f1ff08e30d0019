/*
 * End to end: two kernels joined by the cable ping each other (ARP first), a 4000-byte ping is
 * fragmented at MTU 1500 and reassembled both ways, loopback pings 127.0.0.1 and our own
 * address, and an unreachable host times out with ICMP host unreachable from ARP failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ping } from '../../../src/net/icmp/index.js';
import { ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH } from '../../../src/net/header/index.js';
import { procNetDev } from '../../../src/net/core/index.js';
import { procNetArp } from '../../../src/net/arp/index.js';
import { twoNodes, bootNode, haltAll, ip } from './helpers.js';

test('two kernels over the cable ping each other', async () => {
  const { a, b, da, db } = await twoNodes();
  const r = await ping(a.net, ip('10.0.0.2'), { seq: 1 });
  assert.ok(r, 'got no reply, want an echo reply');
  assert.equal(r.type, ICMP_ECHOREPLY, `got type ${r.type}, want 0`);
  assert.equal(r.from, ip('10.0.0.2'));
  assert.equal(r.ttl, 64, `got ttl ${r.ttl}, want 64`);
  assert.ok(r.intact, 'payload came back altered');
  const r2 = await ping(b.net, ip('10.0.0.1'), { seq: 7, size: 100 });
  assert.ok(r2 && r2.type === ICMP_ECHOREPLY && r2.bytes === 108, `got ${JSON.stringify(r2)}, want 108-byte echo reply`);
  // Both learned the other's MAC.
  assert.match(procNetArp(a.net), /^10\.0\.0\.2 +0x1 +0x2 +02:00:00:00:00:02 +\* +eth0$/m);
  // Column for column what a Linux host's /proc/net/arp shows.
  assert.equal(procNetArp(b.net),
    'IP address       HW type     Flags       HW address            Mask     Device\n' +
    '10.0.0.1         0x1         0x2         02:00:00:00:00:01     *        eth0\n');
  // 1 ARP request + 2 echo (request, reply) ... counted on both devices.
  assert.ok(da.stats.txPackets >= 3 && db.stats.rxPackets >= 3, `got tx ${da.stats.txPackets} rx ${db.stats.rxPackets}`);
  assert.match(procNetDev(a.net), /^ {2}eth0: +\d+ +\d+ +0 +0 /m);
  await haltAll(a, b);
});

test('4000-byte ping is fragmented at MTU 1500 and reassembled, both directions', async () => {
  const { a, b, cable } = await twoNodes();
  const sizes: number[] = [];
  cable.filter = (f) => { sizes.push(f.length); return false; };
  const r = await ping(a.net, ip('10.0.0.2'), { size: 4000 });
  assert.ok(r && r.type === ICMP_ECHOREPLY && r.intact && r.bytes === 4008, `got ${JSON.stringify(r)}, want intact 4008-byte reply`);
  // 4008 bytes of ICMP = 1480 + 1480 + 1048: three fragments each way, none above 1514 bytes on the wire.
  const ipFrames = sizes.filter((s) => s > 60);
  assert.equal(ipFrames.filter((s) => s === 1514).length, 4, `got frame sizes ${sizes}, want 4 full fragments`);
  assert.ok(Math.max(...sizes) <= 1514, `got max frame ${Math.max(...sizes)}, want <= 1514`);
  const r2 = await ping(b.net, ip('10.0.0.1'), { size: 4000, seq: 2 });
  assert.ok(r2 && r2.intact, 'b -> a 4000-byte ping failed');
  assert.equal(a.net.mib.get('IpReasmOKs'), 2, `got ${a.net.mib.get('IpReasmOKs')} reassemblies on a, want 2`);
  await haltAll(a, b);
});

test('DF set on a too-large ping is refused with EMSGSIZE', async () => {
  const { a, b } = await twoNodes();
  await assert.rejects(ping(a.net, ip('10.0.0.2'), { size: 2000, df: true }), (e: { errno?: number }) => e.errno === 90);
  await haltAll(a, b);
});

test('loopback: 127.0.0.1 and our own address answer once lo is up', async () => {
  const n = await bootNode();
  const lo = n.net.devGetByName('lo')!;
  assert.equal(lo.ifindex, 1, `got lo ifindex ${lo.ifindex}, want 1`);
  await assert.rejects(ping(n.net, ip('127.0.0.1')), (e: { errno?: number }) => e.errno === 101, 'lo down: want ENETUNREACH');
  n.net.devOpen(lo);
  const r = await ping(n.net, ip('127.0.0.1'), { size: 60000 });
  assert.ok(r && r.intact && r.from === ip('127.0.0.1'), `got ${JSON.stringify(r)}`);
  const r2 = await ping(n.net, ip('127.3.4.5'));
  assert.ok(r2 && r2.from === ip('127.3.4.5'), 'anything in 127/8 is local');
  assert.ok(lo.stats.rxPackets === lo.stats.txPackets && lo.stats.rxPackets >= 4);
  await haltAll(n);
});

test('ARP failure: ping to an absent host gets host unreachable after 3 requests', async () => {
  const { a, b, cable } = await twoNodes();
  let requests = 0;
  cable.filter = (f, from) => {
    if (from === 'a' && f[12] === 0x08 && f[13] === 0x06) requests++;
    return false;
  };
  const t0 = a.host.now;
  const r = await ping(a.net, ip('10.0.0.9'), { timeoutNs: 10e9 });
  assert.ok(r, 'got timeout, want ICMP host unreachable');
  assert.equal(r.type, ICMP_DEST_UNREACH);
  assert.equal(r.code, ICMP_HOST_UNREACH);
  assert.equal(requests, 3, `got ${requests} ARP requests, want 3`);
  const took = a.host.now - t0;
  assert.ok(took >= 3e9 && took < 3.5e9, `got failure after ${took / 1e9}s, want 3 s (3 x retrans_time)`);
  assert.match(procNetArp(a.net), /^10\.0\.0\.9 +0x1 +0x0 +00:00:00:00:00:00/m);
  await haltAll(a, b);
});
