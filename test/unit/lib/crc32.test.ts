import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, crc32_le } from '../../../src/lib/crc32.js';

const ascii = (s: string) => new TextEncoder().encode(s);

// Known answers: the "check" value of CRC-32/ISO-HDLC and a few zlib results.
const CASES: Array<[string, Uint8Array, number]> = [
  ['empty', new Uint8Array(0), 0x00000000],
  ['check 123456789', ascii('123456789'), 0xcbf43926],
  ['one zero byte', new Uint8Array(1), 0xd202ef8d],
  ['quick brown fox', ascii('The quick brown fox jumps over the lazy dog'), 0x414fa339],
];

test('crc32 known answers', () => {
  for (const [name, data, want] of CASES) {
    const got = crc32(data);
    assert.equal(got, want, `${name}: got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
  }
});

test('crc32 over a sub-range equals crc32 of the slice', () => {
  const buf = ascii('xx123456789yy');
  const got = crc32(buf, 2, 11);
  assert.equal(got, 0xcbf43926, `got 0x${got.toString(16)}, want 0xcbf43926`);
});

test('crc32_le chains: ~crc32_le(crc32_le(~0, a), b) == crc32(a+b)', () => {
  const a = ascii('12345'), b = ascii('6789');
  const got = (crc32_le(crc32_le(0xffffffff, a), b) ^ 0xffffffff) >>> 0;
  assert.equal(got, 0xcbf43926, `got 0x${got.toString(16)}, want 0xcbf43926`);
});
