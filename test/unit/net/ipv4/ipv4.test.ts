/*
 * IPv4 input and reassembly, driven by hand-made frames injected into kernel b's eth0 while the
 * cable records what b answers: out-of-order and duplicate fragments, overlap (the datagram is
 * dropped), the 30 s timeout with ICMP "fragment reassembly time exceeded" (only when the first
 * fragment came), the memory threshold, bad checksums and lengths, protocol unreachable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkBuff } from '../../../../src/net/core/index.js';
import { udpSocket } from '../../../../src/net/udp/index.js';
import { ipv4State } from '../../../../src/net/ipv4/index.js';
import {
  writeEthHeader, writeIpv4Header, writeUdp4, parseIpv4Header, parseIcmpHeader, ETH_P_IP, IP_MF, IP_DF,
  ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, IPPROTO_UDP,
} from '../../../../src/net/header/index.js';
import { twoNodes, settle, haltAll, ip } from '../helpers.js';

/** A UDP datagram a -> b:7 of `n` bytes, as the IP payload bytes (UDP header included). */
function udpPayload(n: number): Uint8Array {
  const b = new Uint8Array(8 + n);
  for (let i = 0; i < n; i++) b[8 + i] = (i * 7) & 0xff;
  writeUdp4(b, 0, 4444, 7, 8 + n, ip('10.0.0.1'), ip('10.0.0.2'));
  return b;
}

async function rig() {
  const t = await twoNodes({ autoAdvance: false });
  const fromB: Uint8Array[] = [];
  // IPv4 frames only: the kernels also run IPv6 (DAD, MLD, router solicitations on link up).
  t.cable.filter = (f, from) => { if (from === 'b' && f[12] === 0x08 && f[13] === 0x00) fromB.push(f.slice()); return false; };
  const inject = (ipPayload: Uint8Array, o: { off: number; mf: boolean; id?: number; proto?: number; ttl?: number; mangle?: (f: Uint8Array) => void }) => {
    const frame = new Uint8Array(34 + ipPayload.length);
    writeEthHeader(frame, 0, t.db.mac, t.da.mac, ETH_P_IP);
    writeIpv4Header(frame, 14, {
      totLen: 20 + ipPayload.length, id: o.id ?? 0x4242, fragOff: (o.off >> 3) | (o.mf ? IP_MF : 0),
      ttl: o.ttl ?? 64, protocol: o.proto ?? IPPROTO_UDP, saddr: ip('10.0.0.1'), daddr: ip('10.0.0.2'),
    });
    frame.set(ipPayload, 34);
    o.mangle?.(frame);
    t.b.net.netifRx(t.db, SkBuff.fromBytes(frame));
  };
  const sock = udpSocket(t.b.net);
  sock.bind(0, 7);
  return { ...t, fromB, inject, sock };
}

test('fragments out of order, with a duplicate, reassemble into the datagram', async () => {
  const { a, b, inject, sock } = await rig();
  const p = udpPayload(3000);
  inject(p.subarray(2960), { off: 2960, mf: false });
  inject(p.subarray(0, 1480), { off: 0, mf: true });
  inject(p.subarray(0, 1480), { off: 0, mf: true }); // duplicate: ignored
  inject(p.subarray(1480, 2960), { off: 1480, mf: true });
  await settle();
  const d = sock.recv();
  assert.ok(d, 'got nothing, want the reassembled datagram');
  assert.deepEqual(d.data, p.subarray(8));
  assert.equal(ipv4State(b.net)!.frags.queues.size, 0);
  assert.equal(ipv4State(b.net)!.frags.mem, 0, 'memory returned');
  assert.equal(b.net.memHeldBytes, 0, 'nothing left charged to mem=');
  await haltAll(a, b);
});

test('an overlapping fragment drops the whole datagram', async () => {
  const { a, b, inject, sock } = await rig();
  const p = udpPayload(3000);
  inject(p.subarray(0, 1480), { off: 0, mf: true });
  inject(p.subarray(1472, 2960), { off: 1472, mf: true });
  inject(p.subarray(2960), { off: 2960, mf: false });
  inject(p.subarray(1480, 2960), { off: 1480, mf: true });
  await settle();
  assert.equal(sock.recv(), null, 'got a datagram, want none after an overlap');
  assert.equal(b.net.mib.get('IpReasmOverlaps'), 1);
  await haltAll(a, b);
});

test('reassembly timeout: ICMP time exceeded after 30 s, only when the first fragment came', async () => {
  const { a, b, inject, fromB } = await rig();
  const p = udpPayload(3000);
  inject(p.subarray(0, 1480), { off: 0, mf: true, id: 1 });
  inject(p.subarray(1480, 2960), { off: 1480, mf: true, id: 2 });
  await settle();
  b.host.advance(29.9e9); await settle();
  assert.equal(fromB.length, 0, 'nothing before ipfrag_time');
  b.host.advance(0.2e9); await settle();
  const icmp = fromB.filter((f) => f[23] === 1);
  assert.equal(icmp.length, 1, `got ${icmp.length} ICMP messages, want 1 (for the datagram whose first fragment came)`);
  const h = parseIcmpHeader(icmp[0]!, 34)!;
  assert.deepEqual([h.type, h.code], [ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME]);
  const quoted = parseIpv4Header(icmp[0]!, 42)!;
  assert.equal(quoted.id, 1);
  assert.equal(ipv4State(b.net)!.frags.queues.size, 0);
  await haltAll(a, b);
});

test('ipfrag_high_thresh bounds the memory of incomplete datagrams', async () => {
  const { a, b, inject } = await rig();
  b.net.sysctl.ipfrag_high_thresh = 20000;
  const p = udpPayload(3000);
  for (let id = 0; id < 100; id++) inject(p.subarray(0, 1480), { off: 0, mf: true, id });
  await settle();
  const st = ipv4State(b.net)!.frags;
  assert.ok(st.queues.size > 5 && st.queues.size < 20, `got ${st.queues.size} queues, want creation to stop past the threshold`);
  assert.ok(st.mem <= 20000 + 1480 + 512, `got ${st.mem} bytes held`);
  await haltAll(a, b);
});

test('bad header checksum, truncated and bad lengths are dropped; unknown protocol is answered', async () => {
  const { a, b, inject, sock, fromB } = await rig();
  const p = udpPayload(20);
  inject(p, { off: 0, mf: false, mangle: (f) => { f[24]! ^= 0xff; } });
  inject(p, { off: 0, mf: false, mangle: (f) => { f[16] = 0x10; f[17] = 0; ipFix(f); } }); // tot_len > frame
  inject(p, { off: 0, mf: false, mangle: (f) => { f[16] = 0; f[17] = 10; ipFix(f); } }); // tot_len < ihl
  inject(p, { off: 0, mf: false, mangle: (f) => { f[14] = 0x44; ipFix(f); } }); // ihl 4
  inject(p, { off: 0, mf: false, mangle: (f) => { f[14] = 0x65; ipFix(f); } }); // version 6
  await settle();
  assert.equal(sock.recv(), null);
  assert.equal(b.net.mib.get('IpInCsumErrors'), 1);
  assert.equal(b.net.mib.get('IpInTruncatedPkts'), 1);
  assert.equal(b.net.mib.get('IpInHdrErrors'), 3);
  // Padding after the IP datagram (short frames on Ethernet) is ignored.
  const padded = new Uint8Array(p.length + 10); padded.set(p);
  inject(padded, { off: 0, mf: false, mangle: (f) => { f[16] = 0; f[17] = 20 + p.length; ipFix(f); } });
  await settle();
  assert.deepEqual(sock.recv()?.data, p.subarray(8));
  inject(p, { off: 0, mf: false, proto: 253 });
  await settle();
  const icmp = fromB.filter((f) => f[23] === 1);
  assert.equal(icmp.length, 1);
  assert.deepEqual([icmp[0]![34], icmp[0]![35]], [ICMP_DEST_UNREACH, ICMP_PROT_UNREACH]);
  void IP_DF;
  await haltAll(a, b);
});

function ipFix(f: Uint8Array): void {
  f[24] = 0; f[25] = 0;
  let s = 0;
  const hl = (f[14]! & 15) * 4 || 20;
  for (let i = 14; i < 14 + hl; i += 2) s += (f[i]! << 8) | f[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  f[24] = c >> 8; f[25] = c & 0xff;
}
