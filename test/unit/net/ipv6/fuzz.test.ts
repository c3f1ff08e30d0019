/*
 * Robustness: 10,000 random IPv6 frames and 10,000 mutations of valid ones (echo, NS, NA, RA,
 * fragments, extension headers, UDP, ICMPv6 errors) go into a kernel's eth0 and lo. None may
 * throw out of the stack or trip a BUG, reassembly must not keep memory beyond its limits, and
 * the kernel must still answer ping6 afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkBuff } from '../../../../src/net/core/index.js';
import { ping6, udp6Socket } from '../../../../src/net/ipv6/index.js';
import { writeUdp6 } from '../../../../src/net/header/index.js';
import { haltAll } from '../helpers.js';
import { twoNodes6, a6, LL_A, LL_B, MAC_A, MAC_B, frame6, icmp6, routerAdvert, settle } from './helpers6.js';

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('random and mutated IPv6 frames never break the stack', async () => {
  const { a, b, da, db, adv } = await twoNodes6();
  await adv(2.5);
  udp6Socket(b.net).bind(a6('::'), 7);
  const r = rng(4242);
  const sa = a6(LL_A), sb = a6(LL_B);
  const seeds: Uint8Array[] = [];
  const echo = new Uint8Array(56);
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 58, icmp6(128, 0, 0x10001, echo, sa, sb)));
  const nsBody = new Uint8Array(24); nsBody.set(sb); nsBody[16] = 1; nsBody[17] = 1; nsBody.set(MAC_A, 18);
  seeds.push(frame6(MAC_B, MAC_A, sa, a6('ff02::1:ff00:2'), 58, icmp6(135, 0, 0, nsBody, sa, a6('ff02::1:ff00:2')), 255));
  const naBody = new Uint8Array(24); naBody.set(sa); naBody[16] = 2; naBody[17] = 1; naBody.set(MAC_A, 18);
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 58, icmp6(136, 0, 0x60000000, naBody, sa, sb), 255));
  const dadBody = new Uint8Array(16); dadBody.set(sb);
  seeds.push(frame6(MAC_B, MAC_A, a6('::'), a6('ff02::1:ff00:2'), 58, icmp6(135, 0, 0, dadBody, a6('::'), a6('ff02::1:ff00:2')), 255));
  seeds.push(routerAdvert({ routerMac: MAC_A, router: sa, prefix: a6('2001:db8:7::'), mtu: 1300 }));
  const udp = new Uint8Array(40); writeUdp6(udp, 0, 1000, 7, 40, sa, sb); seeds.push(frame6(MAC_B, MAC_A, sa, sb, 17, udp));
  const fragA = new Uint8Array(8 + 32); fragA[0] = 17; fragA[3] = 1; fragA[7] = 9; fragA.set(udp.subarray(0, 32), 8);
  const fragB = new Uint8Array(8 + 8); fragB[0] = 17; fragB[2] = 0; fragB[3] = 32; fragB[7] = 9; fragB.set(udp.subarray(32), 8);
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 44, fragA), frame6(MAC_B, MAC_A, sa, sb, 44, fragB));
  const hbh = new Uint8Array(8 + 8); hbh[0] = 60; hbh[1] = 0; hbh[2] = 5; hbh[3] = 2; hbh[6] = 1; hbh[7] = 0;
  hbh[8] = 59; hbh[9] = 0; hbh[10] = 1; hbh[11] = 4;
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 0, hbh));
  const quoted = frame6(MAC_A, MAC_B, sb, sa, 17, udp).subarray(14);
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 58, icmp6(1, 4, 0, quoted, sa, sb)));
  seeds.push(frame6(MAC_B, MAC_A, sa, sb, 58, icmp6(2, 0, 1280, quoted, sa, sb)));
  const lo = b.net.loopback!;

  let n = 0;
  const push = (dev: typeof db, f: Uint8Array) => { b.net.netifRx(dev, SkBuff.fromBytes(f)); if (++n % 500 === 0) return settle(1); return undefined; };
  for (let i = 0; i < 10000; i++) {
    const len = r() % 1600;
    const f = new Uint8Array(len);
    for (let j = 0; j < len; j++) f[j] = r() & 0xff;
    if (len >= 14 && i & 1) { f[12] = 0x86; f[13] = 0xdd; if (i & 2 && len > 14) f[14] = 0x60; }
    const w = push(i & 8 ? lo : db, f); if (w) await w;
  }
  for (let i = 0; i < 10000; i++) {
    const base = seeds[r() % seeds.length]!;
    let f = base.slice();
    switch (r() % 6) {
      case 0: for (let k = 0, m = 1 + (r() % 4); k < m; k++) f[r() % f.length]! ^= 1 << (r() % 8); break;
      case 1: f = f.subarray(0, r() % f.length); break;
      case 2: { const g = new Uint8Array(f.length + (r() % 100)); g.set(f); for (let k = f.length; k < g.length; k++) g[k] = r() & 0xff; f = g; break; }
      case 3: { const at = 14 + (r() % Math.max(1, f.length - 14)); if (at < f.length) f[at] = r() & 0xff; break; }
      case 4: { for (let k = 54; k < f.length && k < 80; k++) if (r() % 3 === 0) f[k] = r() & 0xff; break; }
      default: { f[20] = [0, 43, 44, 60, 58, 17, 59, 6, 255][r() % 9]!; f[18] = r() & 0xff; f[19] = r() & 0xff; }
    }
    const w = push(i % 7 === 0 ? lo : db, f); if (w) await w;
  }
  await settle();
  const bugs = b.lkl.dmesg().split('\n').filter((l) => l.includes('BUG'));
  assert.deepEqual(bugs, [], 'no oops while eating garbage');
  assert.ok(b.v6.frags.memBytes <= b.v6.st.sysctl.ip6frag_high_thresh + 65536, 'reassembly stays within its limit');
  await adv(61);
  assert.equal(b.v6.frags.queues.size, 0, 'every partial packet expired after 60 s');
  assert.equal(b.v6.frags.memBytes, 0);
  const reply = await ping6(a.net, sb, { oif: da.ifindex, timeoutNs: 5e9 });
  assert.ok(reply && reply.intact, 'b still answers');
  await haltAll(a, b);
});
