import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildTcp, parseTcp, buildOptions, tcpChecksumOk, TCP_FLAG_SYN, TCP_FLAG_ACK,
} from '../../../../src/net/tcp/index.js';
import { seqAfter, seqBefore, seqBetween } from '../../../../src/net/tcp/header.js';

const A4 = new Uint8Array([192, 168, 1, 1]), B4 = new Uint8Array([192, 168, 1, 2]);

test('SYN options follow Linux order: MSS, SACK_PERM, TS, NOP, WScale', () => {
  const opts = buildOptions({ mss: 1460, sackPermitted: true, tsVal: 0x01020304, tsEcr: 0, wscale: 7 });
  // Exactly what tcpdump -x shows for a Linux SYN: 0204 05b4 0402 080a <tsval> <tsecr> 0103 0307
  const want = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7];
  assert.deepEqual([...opts], want, `got ${[...opts]}, want ${want}`);
});

test('data-segment timestamp is NOP NOP TS; SACK blocks follow behind NOP NOP', () => {
  const opts = buildOptions({ tsVal: 5, tsEcr: 6, sack: [[100, 200]] });
  assert.deepEqual([...opts.subarray(0, 4)], [1, 1, 8, 10]);
  assert.deepEqual([...opts.subarray(12, 16)], [1, 1, 5, 10]);
  assert.equal(opts.length, 24, `got ${opts.length}, want 24`);
});

test('SACK-permitted without timestamps is NOP NOP SACK_PERM', () => {
  assert.deepEqual([...buildOptions({ mss: 536, sackPermitted: true })], [2, 4, 2, 0x18, 1, 1, 4, 2]);
});

test('build/parse round trip with IPv4 and IPv6 checksums', () => {
  for (const [s, d] of [[A4, B4], [new Uint8Array(16).fill(0xfe), new Uint8Array(16).fill(0x20)]] as const) {
    const seg = {
      srcPort: 40000, dstPort: 80, seq: 0xfffffff0, ack: 12345, flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
      window: 65160, urgent: 0, payload: new Uint8Array([1, 2, 3]),
      options: { mss: 1460, sackPermitted: true, tsVal: 99, tsEcr: 98, wscale: 7, sack: [[1, 2]] as Array<[number, number]> },
    };
    const b = buildTcp(seg, s, d);
    assert.ok(tcpChecksumOk(b, s, d), 'checksum must verify');
    b[b.length - 1]! ^= 1;
    assert.ok(!tcpChecksumOk(b, s, d), 'corrupted segment must fail');
    b[b.length - 1]! ^= 1;
    const p = parseTcp(b)!;
    assert.equal(p.seq, 0xfffffff0); assert.equal(p.ack, 12345); assert.equal(p.window, 65160);
    assert.deepEqual(p.options, seg.options);
    assert.deepEqual([...p.payload], [1, 2, 3]);
  }
});

test('checksum matches a hand-computed value (RFC 1071 over pseudo-header)', () => {
  // Minimal SYN 10.0.0.1:1 -> 10.0.0.2:2, seq 0, no options, window 0.
  const seg = { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_FLAG_SYN, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
  const b = buildTcp(seg, new Uint8Array([10, 0, 0, 1]), new Uint8Array([10, 0, 0, 2]));
  // Sum: 0x0a00+0x0001+0x0a00+0x0002+6+20 (pseudo) + 0x0001+0x0002+0x5002 (header) = 0x6422; ~ = 0x9bdd
  assert.equal((b[16]! << 8) | b[17]!, 0x9bdd, `got ${((b[16]! << 8) | b[17]!).toString(16)}, want 9bdd`);
});

test('malformed headers are rejected and unknown options skipped', () => {
  assert.equal(parseTcp(new Uint8Array(19)), null);
  const b = new Uint8Array(24); b[12] = 0x70; // data offset 28 > length
  assert.equal(parseTcp(b), null);
  const c = new Uint8Array(28); c[12] = 0x70; c.set([0xfd, 4, 0, 0, 2, 4, 1, 0], 20);
  assert.equal(parseTcp(c)!.options.mss, 256);
});

test('sequence comparisons wrap', () => {
  assert.ok(seqBefore(0xfffffff0, 5));
  assert.ok(seqAfter(5, 0xfffffff0));
  assert.ok(seqBetween(2, 0xfffffffe, 10));
  assert.ok(!seqBetween(10, 0xfffffffe, 10));
});
