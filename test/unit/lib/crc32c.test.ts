/* CRC-32C vectors (RFC 3720 appendix B.4 and the classic "123456789" check value). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cU32, crc32cStandard } from '../../../src/lib/crc32c.js';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

const cases: [string, Uint8Array, number][] = [
  ['check value "123456789"', ascii('123456789'), 0xe3069283],
  ['32 bytes of zeros', new Uint8Array(32), 0x8a9136aa],
  ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
  ['32 incrementing bytes', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
  ['32 decrementing bytes', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ['empty', new Uint8Array(0), 0],
];

for (const [name, data, want] of cases) {
  test(`crc32c standard: ${name}`, () => {
    const got = crc32cStandard(data);
    assert.equal(got, want, `got ${hex(got)}, want ${hex(want)}`);
  });
}

test('crc32c is the raw register update (Linux convention): ~standard with seed ~0', () => {
  const got = crc32c(0xffffffff, ascii('123456789'));
  assert.equal(got, 0x1cf96d7c, `got ${hex(got)}, want 0x1cf96d7c`);
});

test('crc32c chains: split anywhere gives the same value as one pass', () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff);
  const whole = crc32c(0x12345678, data);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    const got = crc32c(crc32c(0x12345678, data, 0, cut), data, cut);
    assert.equal(got, whole, `cut at ${cut}: got ${hex(got)}, want ${hex(whole)}`);
  }
});

test('crc32cU32 equals crc32c over the little-endian bytes', () => {
  for (const v of [0, 1, 2, 0xdeadbeef, 0xffffffff]) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    assert.equal(crc32cU32(0xffffffff, v), crc32c(0xffffffff, b), `value ${hex(v)}`);
  }
});

test('crc32c speed: 64 MiB under 1.5 s', () => {
  const buf = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  const t0 = Date.now();
  let c = 0xffffffff;
  for (let i = 0; i < 64; i++) c = crc32c(c, buf);
  const ms = Date.now() - t0;
  assert.ok(ms < 1500, `got ${ms.toFixed(0)} ms, want < 1500 ms`);
});
