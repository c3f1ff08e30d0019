/*
 * Software GSO (src/net/link/ethernet.ts gsoSegmentFrame): a TCP/IPv4 super-segment cut into
 * MSS-sized frames for a device without TSO. Each piece must be a frame a Linux receiver would
 * take: valid IPv4 and TCP checksums, its own length, id and sequence number, PSH and FIN on the
 * last piece only, CWR on the first only, and the payloads in order adding up to the original.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gsoSegmentFrame } from '../../../../src/net/link/index.js';
import { writeEthHeader, writeIpv4Header, inetChecksum, ETH_P_IP, ETH_HLEN } from '../../../../src/net/header/index.js';
import { buildTcp, parseTcp, tcpChecksumOk, TCP_FLAG_ACK, TCP_FLAG_PSH, TCP_FLAG_FIN } from '../../../../src/net/tcp/index.js';

const SRC = Uint8Array.of(10, 0, 0, 1), DST = Uint8Array.of(10, 0, 0, 2);

function superFrame(payload: Uint8Array, flags: number): Uint8Array {
  const tcp = buildTcp({
    srcPort: 40000, dstPort: 80, seq: 0xfffff000, ack: 1234, flags, window: 512, urgent: 0,
    options: { tsVal: 7, tsEcr: 9 }, payload,
  }, SRC, DST);
  const f = new Uint8Array(ETH_HLEN + 20 + tcp.length);
  writeEthHeader(f, 0, Uint8Array.of(2, 0, 0, 0, 0, 2), Uint8Array.of(2, 0, 0, 0, 0, 1), ETH_P_IP);
  writeIpv4Header(f, ETH_HLEN, { totLen: 20 + tcp.length, id: 0xfffe, ttl: 64, protocol: 6, saddr: 0x0a000001, daddr: 0x0a000002 });
  f.set(tcp, ETH_HLEN + 20);
  return f;
}

test('software GSO cuts a TCP super-segment into valid MSS-sized frames', () => {
  const mss = 1448;
  const payload = Uint8Array.from({ length: 5 * mss + 100 }, (_, i) => (i * 31 + 7) & 255);
  const frames = gsoSegmentFrame(superFrame(payload, TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN | 0x80), mss);
  assert.equal(frames.length, 6, `pieces: got ${frames.length}, want 6`);
  const joined: number[] = [];
  frames.forEach((f, i) => {
    const ip = f.subarray(ETH_HLEN, ETH_HLEN + 20);
    assert.equal(inetChecksum(ip), 0, `piece ${i}: IPv4 checksum does not verify`);
    const tot = (ip[2]! << 8) | ip[3]!;
    assert.equal(tot, f.length - ETH_HLEN, `piece ${i}: IP total length: got ${tot}, want ${f.length - ETH_HLEN}`);
    assert.equal((ip[4]! << 8) | ip[5]!, (0xfffe + i) & 0xffff, `piece ${i}: IP id`);
    const seg = f.subarray(ETH_HLEN + 20);
    assert.ok(tcpChecksumOk(seg, SRC, DST), `piece ${i}: TCP checksum does not verify`);
    const t = parseTcp(seg)!;
    assert.equal(t.seq, (0xfffff000 + i * mss) >>> 0, `piece ${i}: seq: got ${t.seq}`);
    assert.equal(t.ack, 1234);
    assert.equal(t.options.tsVal, 7, `piece ${i}: timestamps kept`);
    const last = i === frames.length - 1;
    assert.equal(t.payload.length, last ? 100 : mss, `piece ${i}: payload length: got ${t.payload.length}`);
    assert.equal((t.flags & TCP_FLAG_PSH) !== 0, last, `piece ${i}: PSH: got ${(t.flags & TCP_FLAG_PSH) !== 0}, want ${last}`);
    assert.equal((t.flags & TCP_FLAG_FIN) !== 0, last, `piece ${i}: FIN: got ${(t.flags & TCP_FLAG_FIN) !== 0}, want ${last}`);
    assert.equal((t.flags & 0x80) !== 0, i === 0, `piece ${i}: CWR on the first piece only`);
    joined.push(...t.payload);
  });
  assert.deepEqual(Uint8Array.from(joined), payload, 'payloads in order: got different bytes, want the original');
});

test('software GSO leaves a frame of one segment, or one that is not TCP/IPv4, alone', () => {
  const one = superFrame(new Uint8Array(1000), TCP_FLAG_ACK);
  const r = gsoSegmentFrame(one, 1448);
  assert.equal(r.length, 1);
  assert.equal(r[0], one, 'want the frame itself back');
  const arp = new Uint8Array(60); arp[12] = 0x08; arp[13] = 0x06;
  assert.equal(gsoSegmentFrame(arp, 100)[0], arp);
});
