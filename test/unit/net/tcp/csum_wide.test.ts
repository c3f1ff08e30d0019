/*
 * csumWide (the word-at-a-time sum tcpChecksum uses) against the byte-pair reference csumPartial
 * from src/net/header: every length 0..300 and some large ones, every start offset modulo 8
 * (odd offsets take the reference path), random and carry-heavy (all 0xff) contents, with a
 * pseudo-header sum folded in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csumWide } from '../../../../src/net/tcp/header.js';
import { csumFold, csumPartial } from '../../../../src/net/header/checksum.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('csumWide equals the byte-pair sum for every length, offset and fill', () => {
  const r = rng(7);
  const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1448, 1460, 9000, 65495, 65535];
  for (const len of lengths) {
    for (let off = 0; off < 8; off++) {
      for (const fill of ['random', 'ones'] as const) {
        const buf = new Uint8Array(off + len + 3);
        for (let i = 0; i < buf.length; i++) buf[i] = fill === 'ones' ? 0xff : r() & 0xff;
        const b = buf.subarray(off, off + len);
        const ph = r() % 400000;
        const got = csumFold(csumWide(b, ph)), want = csumFold(csumPartial(b, 0, len, ph));
        assert.equal(got, want, `len ${len} offset ${off} ${fill}: got ${got.toString(16)}, want ${want.toString(16)}`);
      }
    }
  }
});
