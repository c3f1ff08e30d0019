/*
 * When ICMP errors are (not) sent: never about a broadcast, never about an ICMP error, and at
 * most a burst of 6 then one per second to one destination (icmp_ratelimit, XRLIM_BURST_FACTOR).
 * Echo requests to a broadcast address are ignored (icmp_echo_ignore_broadcasts = 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkBuff } from '../../../../src/net/core/index.js';
import {
  writeEthHeader, writeIpv4Header, writeUdp4, writeIcmpHeader, ETH_P_IP, IPPROTO_UDP, IPPROTO_ICMP,
  ICMP_ECHO, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, MAC_BROADCAST,
} from '../../../../src/net/header/index.js';
import { twoNodes, settle, haltAll, ip } from '../helpers.js';

async function rig() {
  const t = await twoNodes({ autoAdvance: false });
  const icmpFromB: Uint8Array[] = [];
  t.cable.filter = (f, from) => { if (from === 'b' && f[12] === 0x08 && f[13] === 0x00 && f[23] === 1) icmpFromB.push(f.slice()); return false; };
  const inject = (o: { daddr: string; proto: number; body: Uint8Array; ttl?: number; bcast?: boolean }) => {
    const f = new Uint8Array(34 + o.body.length);
    writeEthHeader(f, 0, o.bcast ? MAC_BROADCAST : t.db.mac, t.da.mac, ETH_P_IP);
    writeIpv4Header(f, 14, { totLen: 20 + o.body.length, id: 1, ttl: o.ttl ?? 64, protocol: o.proto, saddr: ip('10.0.0.1'), daddr: ip(o.daddr) });
    f.set(o.body, 34);
    t.b.net.netifRx(t.db, SkBuff.fromBytes(f));
  };
  const udp = (daddr: string) => { const u = new Uint8Array(12); writeUdp4(u, 0, 5555, 9, 12, ip('10.0.0.1'), ip(daddr)); return u; };
  return { ...t, icmpFromB, inject, udp };
}

test('no error about broadcasts; broadcast echo ignored', async () => {
  const { a, b, inject, udp, icmpFromB } = await rig();
  inject({ daddr: '10.0.0.255', proto: IPPROTO_UDP, body: udp('10.0.0.255'), bcast: true });
  inject({ daddr: '255.255.255.255', proto: IPPROTO_UDP, body: udp('255.255.255.255'), bcast: true });
  const echo = new Uint8Array(16); writeIcmpHeader(echo, 0, 16, ICMP_ECHO, 0, 0x10001);
  inject({ daddr: '10.0.0.255', proto: IPPROTO_ICMP, body: echo, bcast: true });
  await settle();
  assert.equal(icmpFromB.length, 0, `got ${icmpFromB.length} ICMP messages, want none`);
  b.net.sysctl.icmp_echo_ignore_broadcasts = 0;
  inject({ daddr: '10.0.0.255', proto: IPPROTO_ICMP, body: echo, bcast: true });
  await settle();
  assert.equal(icmpFromB.length, 1, 'answered once icmp_echo_ignore_broadcasts = 0');
  await haltAll(a, b);
});

test('no error about an ICMP error: forwarding with TTL 1', async () => {
  const { a, b, inject, icmpFromB } = await rig();
  b.net.sysctl.ip_forward = 1;
  b.net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('10.0.0.1') });
  const err = new Uint8Array(36); writeIcmpHeader(err, 0, 36, ICMP_DEST_UNREACH, 1, 0);
  inject({ daddr: '192.0.2.9', proto: IPPROTO_ICMP, body: err, ttl: 1 });
  await settle();
  assert.equal(icmpFromB.length, 0, 'no time exceeded about an ICMP error');
  const echo = new Uint8Array(16); writeIcmpHeader(echo, 0, 16, ICMP_ECHO, 0, 0x10001);
  inject({ daddr: '192.0.2.9', proto: IPPROTO_ICMP, body: echo, ttl: 1 });
  await settle();
  assert.equal(icmpFromB.length, 1);
  assert.equal(icmpFromB[0]![34], ICMP_TIME_EXCEEDED);
  await haltAll(a, b);
});

test('errors to one destination: a burst of 6, then one per second', async () => {
  const { a, b, inject, udp, icmpFromB } = await rig();
  for (let i = 0; i < 20; i++) inject({ daddr: '10.0.0.2', proto: IPPROTO_UDP, body: udp('10.0.0.2') });
  await settle();
  assert.equal(icmpFromB.length, 6, `got ${icmpFromB.length} port unreachables, want the burst of 6`);
  b.host.advance(1e9);
  for (let i = 0; i < 5; i++) inject({ daddr: '10.0.0.2', proto: IPPROTO_UDP, body: udp('10.0.0.2') });
  await settle();
  assert.equal(icmpFromB.length, 7, 'one more after a second');
  assert.equal(b.net.mib.get('IcmpRateLimit'), 18);
  await haltAll(a, b);
});
