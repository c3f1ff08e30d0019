/*
 * Robustness: 10,000 random frames and 10,000 mutations of valid ARP, ICMP, UDP and fragmented
 * frames (bit flips, truncation, extension, field stomping) go into a kernel's eth0 and lo. None
 * may throw out of the stack or trip a BUG, and the kernel must still answer a ping afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkBuff } from '../../../../src/net/core/index.js';
import { ping } from '../../../../src/net/icmp/index.js';
import { udpSocket } from '../../../../src/net/udp/index.js';
import {
  writeEthHeader, writeIpv4Header, writeUdp4, writeArp, writeIcmpHeader, ETH_P_IP, ETH_P_ARP, ARPOP_REQUEST,
  ARPOP_REPLY, MAC_ZERO, IP_MF, ICMP_ECHO, ICMP_DEST_UNREACH,
} from '../../../../src/net/header/index.js';
import { ECHO_REQUEST, UDP_TO_9999, ICMP_PORT_UNREACH } from '../frames.js';
import { twoNodes, settle, haltAll, ip } from '../helpers.js';

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('random and mutated frames never break the stack', async () => {
  const { a, b, da, db } = await twoNodes();
  udpSocket(b.net).bind(0, 7);
  const r = rng(12345);
  const seeds: Uint8Array[] = [];
  const eth = (type: number, body: Uint8Array) => {
    const f = new Uint8Array(14 + body.length);
    writeEthHeader(f, 0, db.mac, da.mac, type); f.set(body, 14); return f;
  };
  const arp = new Uint8Array(28);
  writeArp(arp, 0, ARPOP_REQUEST, da.mac, ip('10.0.0.1'), MAC_ZERO, ip('10.0.0.2')); seeds.push(eth(ETH_P_ARP, arp));
  const arp2 = new Uint8Array(28);
  writeArp(arp2, 0, ARPOP_REPLY, da.mac, ip('10.0.0.1'), db.mac, ip('10.0.0.2')); seeds.push(eth(ETH_P_ARP, arp2));
  const ipf = (proto: number, payload: Uint8Array, frag = 0) => {
    const f = new Uint8Array(20 + payload.length);
    writeIpv4Header(f, 0, { totLen: f.length, id: r() & 0xffff, fragOff: frag, ttl: 64, protocol: proto, saddr: ip('10.0.0.1'), daddr: ip('10.0.0.2') });
    f.set(payload, 20); return eth(ETH_P_IP, f);
  };
  const echo = new Uint8Array(64); writeIcmpHeader(echo, 0, 64, ICMP_ECHO, 0, 0x10001); seeds.push(ipf(1, echo));
  const err = new Uint8Array(8 + 28); err.set(UDP_TO_9999.subarray(14, 42), 8); writeIcmpHeader(err, 0, 36, ICMP_DEST_UNREACH, 3, 0); seeds.push(ipf(1, err));
  const udp = new Uint8Array(40); writeUdp4(udp, 0, 1000, 7, 40, ip('10.0.0.1'), ip('10.0.0.2')); seeds.push(ipf(17, udp));
  seeds.push(ipf(17, udp.subarray(0, 24), IP_MF), ipf(17, udp.subarray(24), 3));
  const lo = b.net.loopback!;
  const loSeeds = [ECHO_REQUEST, UDP_TO_9999, ICMP_PORT_UNREACH];

  let n = 0;
  const push = (dev: typeof db, f: Uint8Array) => { b.net.netifRx(dev, SkBuff.fromBytes(f)); if (++n % 500 === 0) return settle(1); return undefined; };
  for (let i = 0; i < 10000; i++) {
    const len = r() % 1600;
    const f = new Uint8Array(len);
    for (let j = 0; j < len; j++) f[j] = r() & 0xff;
    // Half of them with a plausible Ethernet type so they reach the protocols.
    if (len >= 14 && i & 1) { const t = [ETH_P_IP, ETH_P_ARP][i & 2 ? 1 : 0]!; f[12] = t >> 8; f[13] = t & 0xff; if (i & 4) f[14] = 0x45; }
    const w = push(i & 8 ? lo : db, f); if (w) await w;
  }
  for (let i = 0; i < 10000; i++) {
    const lodev = i % 5 === 0;
    const base = lodev ? loSeeds[r() % loSeeds.length]! : seeds[r() % seeds.length]!;
    let f = base.slice();
    switch (r() % 5) {
      case 0: for (let k = 0, m = 1 + (r() % 4); k < m; k++) f[r() % f.length]! ^= 1 << (r() % 8); break;
      case 1: f = f.subarray(0, r() % f.length); break;
      case 2: { const g = new Uint8Array(f.length + (r() % 100)); g.set(f); for (let k = f.length; k < g.length; k++) g[k] = r() & 0xff; f = g; break; }
      case 3: { const at = 14 + (r() % Math.max(1, f.length - 14)); if (at < f.length) f[at] = r() & 0xff; break; }
      default: { for (let k = 14; k + 1 < f.length && k < 40; k += 2) if (r() % 3 === 0) f[k] = r() & 0xff; }
    }
    const w = push(lodev ? lo : db, f); if (w) await w;
  }
  await settle();
  const bugs = b.lkl.dmesg().split('\n').filter((l) => l.includes('BUG'));
  assert.deepEqual(bugs, [], 'no oops while eating garbage');
  assert.ok(db.stats.rxPackets > 0);
  const reply = await ping(a.net, ip('10.0.0.2'), { timeoutNs: 5e9 });
  assert.ok(reply && reply.intact, 'b still answers');
  await haltAll(a, b);
});
