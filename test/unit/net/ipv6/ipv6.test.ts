/*
 * IPv6 between two kernels over a cable, on lock-step virtual clocks: link-local addresses and
 * DAD on link up, ping6 link-local and global (after a router advertisement the test crafts),
 * fragmentation and reassembly of a 4000-byte ping, duplicate address detection failing, and
 * ICMPv6 errors for what a host must refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ping6, ipv6Stack, udp6Socket, IFA_F_TENTATIVE, IFA_F_DADFAILED, a6key,
} from '../../../../src/net/ipv6/index.js';
import { SkBuff } from '../../../../src/net/core/index.js';
import { ipv6ToString, parseIpv6Header, NEXTHDR_ICMP } from '../../../../src/net/header/index.js';
import { haltAll } from '../helpers.js';
import { twoNodes6, a6, LL_A, LL_B, MAC_A, MAC_B, routerAdvert, frame6, icmp6, settle } from './helpers6.js';

interface Cap { from: 'a' | 'b'; dstMac: string; nh: number; src: string; dst: string; icmpType: number; len: number; raw: Uint8Array }
function capture(cable: { filter: ((f: Uint8Array, from: 'a' | 'b') => boolean) | null }): Cap[] {
  const out: Cap[] = [];
  cable.filter = (f, from) => {
    if (f[12] === 0x86 && f[13] === 0xdd && f.length >= 54) {
      const h = parseIpv6Header(f, 14)!;
      out.push({
        from, dstMac: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'), nh: h.nextHeader,
        src: ipv6ToString(h.saddr), dst: ipv6ToString(h.daddr), icmpType: h.nextHeader === NEXTHDR_ICMP ? f[54]! : -1,
        len: f.length, raw: f.slice(),
      });
    }
    return false;
  };
  return out;
}

const addrs = (n: { v6: ReturnType<typeof ipv6Stack> }, devName: string) =>
  n.v6.st.addrs.filter((x) => x.dev.name === devName).map((x) => ({ addr: ipv6ToString(x.addr), plen: x.prefixLen, tentative: !!(x.flags & IFA_F_TENTATIVE), dadfailed: !!(x.flags & IFA_F_DADFAILED) }));

test('link up: ::1 on lo, a tentative EUI-64 link-local address, one DAD probe, usable after ~1 s, then router solicitations', async () => {
  let cap: Cap[] = [];
  const { a, b, adv } = await twoNodes6({ beforeUp: (c) => { cap = capture(c); } });
  assert.deepEqual(addrs(a, 'lo'), [{ addr: '::1', plen: 128, tentative: false, dadfailed: false }]);
  assert.deepEqual(addrs(a, 'eth0'), [{ addr: LL_A, plen: 64, tentative: true, dadfailed: false }], 'tentative before DAD');
  await adv(0.9);
  await adv(1.2);
  assert.deepEqual(addrs(a, 'eth0'), [{ addr: LL_A, plen: 64, tentative: false, dadfailed: false }], 'DAD completed within 2 s');
  assert.deepEqual(addrs(b, 'eth0'), [{ addr: LL_B, plen: 64, tentative: false, dadfailed: false }]);
  const dad = cap.filter((c) => c.from === 'a' && c.icmpType === 135);
  assert.equal(dad.length, 1, `got ${dad.length} DAD probes from a, want 1 (dad_transmits)`);
  assert.equal(dad[0]!.src, '::', 'DAD probes come from the unspecified address');
  assert.equal(dad[0]!.dst, 'ff02::1:ff00:1', 'to the solicited-node group');
  assert.equal(dad[0]!.dstMac, '33:33:ff:00:00:01', 'mapped to 33:33 + last 32 bits');
  assert.equal(dad[0]!.raw[14 + 7], 255, 'hop limit 255');
  // Options: a nonce (type 14), no source link-layer address.
  assert.equal(dad[0]!.raw[54 + 24], 14, 'enhanced DAD nonce option');
  // MLDv2: the solicited-node join is reported twice (robustness 2) to ff02::16 with hop limit 1.
  const mld = cap.filter((c) => c.from === 'a' && c.nh === 0 && c.raw[62] === 143);
  assert.equal(mld.length, 2, `got ${mld.length} MLD reports, want 2`);
  assert.ok(mld.every((c) => c.dst === 'ff02::16' && c.dstMac === '33:33:00:00:00:16' && c.raw[21] === 1));
  assert.equal(ipv6ToString(mld[0]!.raw.subarray(62 + 12, 62 + 28)), 'ff02::1:ff00:1', 'the record names the solicited-node group');
  assert.equal(mld[0]!.raw[62 + 8], 4, 'change to exclude mode');
  const rs = cap.filter((c) => c.from === 'a' && c.icmpType === 133);
  assert.equal(rs.length, 1, `got ${rs.length} router solicitations, want 1 after DAD`);
  assert.equal(rs[0]!.src, LL_A); assert.equal(rs[0]!.dst, 'ff02::2');
  await adv(4.1);
  assert.equal(cap.filter((c) => c.from === 'a' && c.icmpType === 133).length, 2, 'solicits again after rtr_solicit_interval');
  await haltAll(a, b);
});

test('ping6 over link-local addresses both ways, ::1 and our own address via lo', async () => {
  const { a, b, da, db, adv, cable } = await twoNodes6();
  await adv(2.5);
  const cap = capture(cable);
  const r1 = await ping6(a.net, a6(LL_B), { oif: da.ifindex });
  assert.ok(r1 && r1.type === 129 && r1.intact, `got ${JSON.stringify(r1)}, want an intact echo reply`);
  assert.equal(ipv6ToString(r1.from), LL_B);
  assert.equal(r1.hopLimit, 64);
  const ns = cap.find((c) => c.from === 'a' && c.icmpType === 135)!;
  assert.equal(ns.dst, 'ff02::1:ff00:2', 'address resolution asks the solicited-node group');
  assert.equal(ns.src, LL_A);
  const na = cap.find((c) => c.from === 'b' && c.icmpType === 136)!;
  assert.equal(na.raw[54 + 4]! & 0x60, 0x60, 'solicited + override');
  const r2 = await ping6(b.net, a6(LL_A), { oif: db.ifindex, seq: 2 });
  assert.ok(r2 && r2.intact);
  const rm = await ping6(a.net, a6('ff02::1'), { oif: da.ifindex, seq: 5 });
  assert.ok(rm && rm.intact && ipv6ToString(rm.from) === LL_B, 'an echo to all-nodes is answered from a unicast address');
  const r3 = await ping6(a.net, a6('::1'));
  assert.ok(r3 && r3.intact && ipv6ToString(r3.from) === '::1', 'loopback');
  const r4 = await ping6(a.net, a6(LL_A), { oif: da.ifindex });
  assert.ok(r4 && r4.intact, 'own link-local address answers through lo');
  await haltAll(a, b);
});

test('router advertisement: SLAAC address, default route, on-link prefix; ping6 global both ways', async () => {
  const { a, b, da, db, adv } = await twoNodes6();
  await adv(2.5);
  const routerMac = Uint8Array.of(2, 0, 0, 0, 0, 0x99);
  const ra = routerAdvert({ routerMac, router: a6('fe80::1'), prefix: a6('2001:db8:1::'), curHop: 77, mtu: 1400 });
  a.net.netifRx(da, SkBuff.fromBytes(ra));
  b.net.netifRx(db, SkBuff.fromBytes(ra));
  await settle();
  const ga = a.v6.st.findAddr(a6('2001:db8:1::ff:fe00:1'));
  assert.ok(ga, `got ${JSON.stringify(addrs(a, 'eth0'))}, want 2001:db8:1::ff:fe00:1 from SLAAC`);
  assert.ok(ga.flags & IFA_F_TENTATIVE, 'a SLAAC address goes through DAD');
  await adv(2.5);
  assert.equal(ga.flags & IFA_F_TENTATIVE, 0);
  const routes = a.v6.st.routes.map((r) => `${ipv6ToString(r.dst)}/${r.prefixLen} ${r.gateway ? 'via ' + ipv6ToString(r.gateway) : ''} metric ${r.metric} proto ${r.protocol}`);
  assert.ok(routes.includes('::/0 via fe80::1 metric 1024 proto 9'), `got ${routes.join('; ')}, want default via fe80::1 metric 1024 proto ra`);
  assert.ok(routes.includes('2001:db8:1::/64  metric 256 proto 9'), `got ${routes.join('; ')}, want the on-link prefix`);
  assert.equal(a.v6.st.idev(da)!.hopLimit, 77, 'hop limit from the RA');
  assert.equal(a.v6.st.idev(da)!.mtu, 1400, 'MTU option');
  const r = await ping6(a.net, a6('2001:db8:1::ff:fe00:2'));
  assert.ok(r && r.intact, 'a -> b global');
  assert.equal(ipv6ToString(r.from), '2001:db8:1::ff:fe00:2');
  assert.equal(r.hopLimit, 77, 'b replies with the hop limit the RA set');
  const r2 = await ping6(b.net, a6('2001:db8:1::ff:fe00:1'), { seq: 9 });
  assert.ok(r2 && r2.intact, 'b -> a global');
  // Source selection: a global destination gets the global source.
  assert.equal(ipv6ToString(a.v6.st.routeOutput(a6('2001:db8:1::ff:fe00:2')).saddr), '2001:db8:1::ff:fe00:1');
  assert.equal(ipv6ToString(a.v6.st.routeOutput(a6('2001:db8:2::5')).nexthop), 'fe80::1', 'off-link goes to the router');
  // A router lifetime of 0 withdraws the default route.
  b.net.netifRx(db, SkBuff.fromBytes(routerAdvert({ routerMac, router: a6('fe80::1'), prefix: a6('2001:db8:1::'), lifetime: 0 })));
  await settle();
  assert.ok(!b.v6.st.routes.some((x) => x.prefixLen === 0), 'default route removed');
  await haltAll(a, b);
});

test('a 4000-byte ping6 goes out in fragments and is reassembled both ways', async () => {
  const { a, b, da, adv, cable } = await twoNodes6();
  await adv(2.5);
  const cap = capture(cable);
  const r = await ping6(a.net, a6(LL_B), { oif: da.ifindex, size: 4000 });
  assert.ok(r && r.intact && r.bytes === 4008, `got ${JSON.stringify(r)}, want 4008 bytes back intact`);
  const fa = cap.filter((c) => c.from === 'a' && c.nh === 44);
  const fb = cap.filter((c) => c.from === 'b' && c.nh === 44);
  assert.equal(fa.length, 3, `got ${fa.length} fragments from a, want 3 (1448 + 1448 + 1112)`);
  // (1500 - 40 - 8) rounded down to 8 = 1448 bytes a fragment, so 1510-byte frames as Linux sends.
  assert.equal(fb.length, 3, 'the reply is fragmented too');
  assert.deepEqual(fa.map((c) => c.len), [1510, 1510, 14 + 40 + 8 + 1112]);
  const offs = fa.map((c) => (c.raw[54 + 2]! << 8) | c.raw[54 + 3]!);
  assert.deepEqual(offs, [0 | 1, 1448 | 1, 2896], 'offsets in 8-byte units with M on all but the last');
  assert.equal(new Set(fa.map((c) => a6key(c.raw.subarray(58, 62)).slice(0, 8))).size, 1, 'one identification');
  assert.ok((b.net.mib.get('Ip6ReasmOKs') ?? 0) >= 1);
  await haltAll(a, b);
});

test('duplicate address: the second holder marks it dadfailed, the first keeps it', async () => {
  const { a, b, da, db, adv } = await twoNodes6();
  await adv(2.5);
  a.v6.st.addrAdd(da, a6('2001:db8::5'), 64);
  await adv(2.5);
  assert.equal(a.v6.st.findAddr(a6('2001:db8::5'))!.flags & IFA_F_TENTATIVE, 0);
  b.v6.st.addrAdd(db, a6('2001:db8::5'), 64);
  await adv(2.5);
  const fb = b.v6.st.findAddr(a6('2001:db8::5'))!;
  assert.ok(fb.flags & IFA_F_DADFAILED && fb.flags & IFA_F_TENTATIVE, `got flags 0x${fb.flags.toString(16)}, want tentative dadfailed`);
  assert.equal(a.v6.st.findAddr(a6('2001:db8::5'))!.flags & (IFA_F_DADFAILED | IFA_F_TENTATIVE), 0, 'a keeps it');
  assert.match(b.lkl.dmesg(), /IPv6: eth0: IPv6 duplicate address 2001:db8::5 used by 02:00:00:00:00:01 detected!/);
  // b never uses it as a source: only its link-local address is left (RFC 6724 picks it as a last resort).
  assert.equal(ipv6ToString(b.v6.st.routeOutput(a6('2001:db8::7')).saddr), LL_B);
  assert.equal(b.v6.st.isLocal(a6('2001:db8::5')), false, 'a dadfailed address receives nothing');
  await haltAll(a, b);
});

test('ICMPv6 errors: unknown next header, routing header type 0, closed UDP port, Packet Too Big lowers the path MTU', async () => {
  const { a, b, da, db, adv, cable } = await twoNodes6();
  await adv(2.5);
  assert.ok(await ping6(a.net, a6(LL_B), { oif: da.ifindex }));
  const cap = capture(cable);
  const sa = a6(LL_A), sb = a6(LL_B);
  // Next header 253 (experimental): parameter problem code 1, pointer 6.
  b.net.netifRx(db, SkBuff.fromBytes(frame6(MAC_B, MAC_A, sa, sb, 253, new Uint8Array(16))));
  await settle();
  let e = cap.filter((c) => c.from === 'b' && c.icmpType === 4);
  assert.equal(e.length, 1, 'parameter problem for an unknown next header');
  assert.equal(e[0]!.raw[55], 1, 'code 1 (unrecognized next header)');
  assert.equal(new DataView(e[0]!.raw.buffer).getUint32(58), 6, 'pointer at the next header field');
  // Routing header type 0 with segments left 1: code 0 pointing at the routing type (40 + 2).
  const rh = new Uint8Array(24); rh[0] = 59; rh[1] = 2; rh[2] = 0; rh[3] = 1;
  b.net.netifRx(db, SkBuff.fromBytes(frame6(MAC_B, MAC_A, sa, sb, 43, rh)));
  await settle();
  e = cap.filter((c) => c.from === 'b' && c.icmpType === 4);
  assert.equal(e.length, 2);
  assert.equal(e[1]!.raw[55], 0); assert.equal(new DataView(e[1]!.raw.buffer).getUint32(58), 42);
  // Destination option of unknown type 0x80 (discard + parameter problem code 2).
  const dopt = new Uint8Array(8); dopt[0] = 59; dopt[1] = 0; dopt[2] = 0x80; dopt[3] = 4;
  b.net.netifRx(db, SkBuff.fromBytes(frame6(MAC_B, MAC_A, sa, sb, 60, dopt)));
  await settle();
  e = cap.filter((c) => c.from === 'b' && c.icmpType === 4);
  assert.equal(e.length, 3); assert.equal(e[2]!.raw[55], 2); assert.equal(new DataView(e[2]!.raw.buffer).getUint32(58), 42);
  // UDP to a closed port: destination unreachable, port unreachable; a connected socket hears ECONNREFUSED.
  const s = udp6Socket(a.net);
  s.connect(sb, 9, da.ifindex);
  s.sendto(new Uint8Array([1, 2, 3]));
  await settle();
  const u = cap.filter((c) => c.from === 'b' && c.icmpType === 1);
  assert.equal(u.length, 1); assert.equal(u[0]!.raw[55], 4);
  assert.throws(() => s.recv(), (err: Error & { errno?: number }) => err.errno === 111 || /ECONNREFUSED/.test(err.message));
  // UDP both ways with a bound socket.
  const srv = udp6Socket(b.net); srv.bind(a6('::'), 5353);
  s.close();
  const c = udp6Socket(a.net);
  c.sendto(new TextEncoder().encode('hello'), sb, 5353, da.ifindex);
  await settle();
  const d = srv.recv();
  assert.ok(d && new TextDecoder().decode(d.data) === 'hello' && ipv6ToString(d.saddr) === LL_A);
  // Packet Too Big (mtu 1280) about a packet a sent to b: path MTU drops, later pings fragment to 1280.
  const quoted = new Uint8Array(40 + 8);
  quoted.set(frame6(MAC_B, MAC_A, sa, sb, 58, new Uint8Array([128, 0, 0, 0, 0, 1, 0, 1])).subarray(14, 62));
  const ptb = icmp6(2, 0, 1280, quoted, sb, sa);
  a.net.netifRx(da, SkBuff.fromBytes(frame6(MAC_A, MAC_B, sb, sa, 58, ptb)));
  await settle();
  assert.equal(a.v6.st.pathMtu(da, sb), 1280);
  cap.length = 0;
  const r = await ping6(a.net, sb, { oif: da.ifindex, size: 1400, seq: 7 });
  assert.ok(r && r.intact);
  const frags = cap.filter((x) => x.from === 'a' && x.nh === 44);
  assert.equal(frags.length, 2, 'fragmented to the path MTU');
  assert.ok(frags.every((x) => x.len - 14 <= 1280));
  // Rate limiting: a burst of 10 errors to one /128 destination yields at most 6 (burst) at once.
  cap.length = 0;
  for (let i = 0; i < 10; i++) b.net.netifRx(db, SkBuff.fromBytes(frame6(MAC_B, MAC_A, sa, sb, 253, new Uint8Array(8))));
  await settle();
  const limited = cap.filter((x) => x.from === 'b' && x.icmpType === 4).length;
  assert.ok(limited <= 6 && limited >= 1, `got ${limited} errors, want the token bucket to cut the burst`);
  await haltAll(a, b);
});

test('reassembly timeout after 60 s answers time exceeded (fragment reassembly) to the source', async () => {
  const { a, b, da, db, adv, cable } = await twoNodes6();
  await adv(2.5);
  assert.ok(await ping6(b.net, a6(LL_A), { oif: db.ifindex }));
  const cap = capture(cable);
  const sa = a6(LL_A), sb = a6(LL_B);
  const fh = new Uint8Array(8 + 16); fh[0] = 59; fh[3] = 1; fh[7] = 42; // offset 0, M, id 42
  b.net.netifRx(db, SkBuff.fromBytes(frame6(MAC_B, MAC_A, sa, sb, 44, fh)));
  await settle();
  assert.equal(b.v6.frags.queues.size, 1);
  await adv(59);
  assert.equal(cap.filter((c) => c.from === 'b' && c.icmpType === 3).length, 0, 'nothing before 60 s');
  await adv(1.5);
  const te = cap.filter((c) => c.from === 'b' && c.icmpType === 3);
  assert.equal(te.length, 1, 'time exceeded after ip6frag_time');
  assert.equal(te[0]!.raw[55], 1, 'code 1: fragment reassembly time exceeded');
  assert.equal(b.v6.frags.queues.size, 0);
  assert.equal(b.v6.frags.memBytes, 0);
  void da;
  await haltAll(a, b);
});

test('SLAAC lifetimes: deprecated after the preferred lifetime, gone after the valid one; the two-hour rule; link down clears', async () => {
  const { a, b, da, adv } = await twoNodes6();
  await adv(2.5);
  const routerMac = Uint8Array.of(2, 0, 0, 0, 0, 0x99);
  a.net.netifRx(da, SkBuff.fromBytes(routerAdvert({ routerMac, router: a6('fe80::1'), prefix: a6('2001:db8:5::'), valid: 30, preferred: 10 })));
  await adv(2.5);
  const ifa = a.v6.st.findAddr(a6('2001:db8:5::ff:fe00:1'))!;
  assert.ok(ifa && !(ifa.flags & 0x20), 'preferred at first');
  await adv(8);
  assert.ok(ifa.flags & 0x20, 'deprecated after 10 s');
  assert.ok(a.v6.st.findAddr(a6('2001:db8:5::ff:fe00:1')), 'still valid');
  await adv(20.5);
  assert.equal(a.v6.st.findAddr(a6('2001:db8:5::ff:fe00:1')), undefined, 'removed after 30 s');
  // Two-hour rule: a long-lived address is not cut to a short lifetime by one advertisement.
  a.net.netifRx(da, SkBuff.fromBytes(routerAdvert({ routerMac, router: a6('fe80::1'), prefix: a6('2001:db8:6::'), valid: 86400, preferred: 3600 })));
  await adv(2.5);
  a.net.netifRx(da, SkBuff.fromBytes(routerAdvert({ routerMac, router: a6('fe80::1'), prefix: a6('2001:db8:6::'), valid: 60, preferred: 30 })));
  await settle();
  assert.equal(a.v6.st.findAddr(a6('2001:db8:6::ff:fe00:1'))!.validLft, 7200, 'valid lifetime clamped to 2 hours, not 60 s');
  // Link down: every address, route and neighbour of the device goes; up again: a new link-local.
  a.net.devClose(da);
  assert.deepEqual(addrs(a, 'eth0'), []);
  assert.equal(a.v6.st.routes.filter((r) => r.dev === da).length, 0);
  a.net.devOpen(da);
  assert.deepEqual(addrs(a, 'eth0'), [{ addr: LL_A, plen: 64, tentative: true, dadfailed: false }]);
  await haltAll(a, b);
});
