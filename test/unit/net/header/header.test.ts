/*
 * Wire formats: parsing frames Linux produced, rebuilding them byte for byte with our writers,
 * and the RFC/Wikipedia reference values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from '../../../../src/net/header/index.js';
import { UDP_TO_9999, ICMP_PORT_UNREACH, ECHO_REQUEST, ECHO_REPLY, hex } from '../frames.js';

test('Linux UDP frame: every header field parses and our writers rebuild it exactly', () => {
  const f = UDP_TO_9999;
  const eth = H.parseEthHeader(f)!;
  assert.equal(eth.type, H.ETH_P_IP);
  const ip = H.parseIpv4Header(f, 14)!;
  assert.deepEqual([ip.version, ip.ihl, ip.totLen, ip.id, ip.fragOff, ip.ttl, ip.protocol],
    [4, 5, 44, 0x4477, H.IP_DF, 64, H.IPPROTO_UDP]);
  assert.equal(H.inetChecksum(f, 14, 34), 0, 'IPv4 header checksum must verify');
  const udp = H.parseUdpHeader(f, 34)!;
  assert.deepEqual([udp.sport, udp.dport, udp.len], [0x831c, 9999, 24]);
  // Over lo Linux leaves the checksum to "hardware" (CHECKSUM_PARTIAL): the field holds only the
  // folded pseudo-header sum, uncomplemented. That value is our pseudo-header sum.
  assert.equal(udp.check, (~H.csumFold(H.udp4PseudoSum(ip.saddr, ip.daddr, 24))) & 0xffff);
  // Rebuild.
  const b = new Uint8Array(f.length);
  H.writeEthHeader(b, 0, H.MAC_ZERO, H.MAC_ZERO, H.ETH_P_IP);
  H.writeIpv4Header(b, 14, { totLen: 44, id: 0x4477, fragOff: H.IP_DF, ttl: 64, protocol: 17, saddr: ip.saddr, daddr: ip.daddr });
  b.set(f.subarray(42), 42);
  H.writeUdp4(b, 34, 0x831c, 9999, 24, ip.saddr, ip.daddr);
  assert.ok(H.udp4ChecksumOk(b, 34, 24, ip.saddr, ip.daddr));
  b[40] = f[40]!; b[41] = f[41]!;
  assert.deepEqual(b, f, 'got a different frame, want Linux\'s bytes');
  // A flipped payload bit breaks a complete UDP checksum.
  const bad = b.slice(); H.writeUdp4(bad, 34, 0x831c, 9999, 24, ip.saddr, ip.daddr); bad[50]! ^= 1;
  assert.equal(H.udp4ChecksumOk(bad, 34, 24, ip.saddr, ip.daddr), false);
});

test('Linux ICMP frames: port unreachable quotes the datagram; echo reply rebuilds exactly', () => {
  const u = ICMP_PORT_UNREACH;
  const ip = H.parseIpv4Header(u, 14)!;
  assert.equal(ip.tos, 0xc0, 'ICMP errors carry precedence "internetwork control"');
  const ic = H.parseIcmpHeader(u, 34)!;
  assert.deepEqual([ic.type, ic.code], [H.ICMP_DEST_UNREACH, H.ICMP_PORT_UNREACH]);
  assert.equal(H.inetChecksum(u, 34), 0);
  assert.deepEqual(u.subarray(42), UDP_TO_9999.subarray(14), 'quotes the whole offending datagram');
  assert.ok(H.icmpIsError(ic.type) && !H.icmpIsError(H.ICMP_ECHO));

  const rq = H.parseIcmpHeader(ECHO_REQUEST, 34)!;
  assert.deepEqual([rq.type, H.echoId(rq), H.echoSeq(rq)], [H.ICMP_ECHO, 0x1234, 1]);
  const b = ECHO_REPLY.slice();
  b.fill(0, 34, 42);
  H.writeIcmpHeader(b, 34, b.length, H.ICMP_ECHOREPLY, 0, (0x1234 << 16) | 1);
  assert.deepEqual(b, ECHO_REPLY);
});

test('IPv4 header: the Wikipedia reference checksum (0xb861) and address helpers', () => {
  const h = hex('450000730000400040110000c0a80001c0a800c7');
  const b = new Uint8Array(20);
  H.writeIpv4Header(b, 0, { totLen: 0x73, id: 0, fragOff: H.IP_DF, ttl: 64, protocol: 17, saddr: 0xc0a80001, daddr: 0xc0a800c7 });
  h[10] = 0xb8; h[11] = 0x61;
  assert.deepEqual(b, h);
  assert.equal(H.ipv4ToString(0xc0a800c7), '192.168.0.199');
  assert.equal(H.parseIpv4('192.168.0.199'), 0xc0a800c7);
  for (const bad of ['1.2.3', '256.1.1.1', '1.2.3.4.5', ' 1.2.3.4', '']) assert.equal(H.parseIpv4(bad), null, `parseIpv4(${JSON.stringify(bad)})`);
  assert.equal(H.inetMakeMask(24), 0xffffff00);
  assert.equal(H.inetMakeMask(0), 0);
  assert.equal(H.inetMakeMask(32), 0xffffffff);
});

test('Ethernet and ARP round trip; MAC text form', () => {
  const mac = H.parseMac('02:fc:00:00:00:05')!;
  assert.equal(H.macToString(mac), '02:fc:00:00:00:05');
  assert.equal(H.parseMac('02:fc:00:00:00'), null);
  assert.ok(H.isBroadcastMac(H.MAC_BROADCAST) && H.isMulticastMac(H.MAC_BROADCAST) && !H.isMulticastMac(mac));
  const b = new Uint8Array(28);
  H.writeArp(b, 0, H.ARPOP_REQUEST, mac, 0xc0000201, H.MAC_ZERO, 0xc0000202);
  // RFC 826 layout: htype 1, ptype 0x0800, 6, 4, op 1.
  assert.deepEqual([...b.subarray(0, 8)], [0, 1, 8, 0, 6, 4, 0, 1]);
  const p = H.parseArp(b)!;
  assert.deepEqual([p.op, p.spa, p.tpa, H.macToString(p.sha)], [1, 0xc0000201, 0xc0000202, '02:fc:00:00:00:05']);
  b[5] = 16; // not IPv4-sized protocol addresses
  assert.equal(H.parseArp(b), null);
  assert.equal(H.parseArp(b.subarray(0, 27)), null);
  assert.equal(H.parseEthHeader(new Uint8Array(13)), null);
});

test('IPv6 text forms (RFC 5952) and ICMPv6 checksum', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['0:0:0:0:0:0:0:1', '::1'], ['::', '::'],
    ['2001:DB8::0:1', '2001:db8::1'], ['fe80::1:2', 'fe80::1:2'], ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ];
  for (const [i, o] of cases) assert.equal(H.ipv6ToString(H.parseIpv6(i)!), o, `ipv6 ${i}`);
  for (const bad of ['1::2::3', '12345::', ':::', '1:2:3:4:5:6:7:8:9', 'g::1']) assert.equal(H.parseIpv6(bad), null, bad);
  const src = H.parseIpv6('fe80::1')!, dst = H.parseIpv6('ff02::1')!;
  const m = new Uint8Array(16);
  H.writeIcmpv6Header(m, 0, 16, H.ICMPV6_ECHO_REQUEST, 0, 0x00010001, src, dst);
  assert.ok(H.icmpv6ChecksumOk(m, 0, 16, src, dst));
  const h6 = new Uint8Array(40);
  H.writeIpv6Header(h6, 0, { payloadLen: 16, nextHeader: 58, hopLimit: 255, saddr: src, daddr: dst, flowLabel: 0x12345 });
  const p = H.parseIpv6Header(h6)!;
  assert.deepEqual([p.version, p.payloadLen, p.nextHeader, p.hopLimit, p.flowLabel], [6, 16, 58, 255, 0x12345]);
});
