/*
 * Directory hash tests: fixed vectors taken from debugfs 1.47's dx_hash. The sweep against
 * debugfs itself (casefolded names included) is test/ext4_dirs/oracle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dirhash, DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA, DX_HASH_LEGACY_UNSIGNED,
  DX_HASH_HALF_MD4_UNSIGNED, DX_HASH_TEA_UNSIGNED, dxHashName,
} from '../../../../src/fs/ext4/hash.js';

const enc = new TextEncoder();
const SEED_UUID = '01234567-89ab-cdef-0123-456789abcdef';
/** s_hash_seed words as the kernel reads them: little-endian u32s of the 16 uuid bytes. */
function seedWords(uuid: string): number[] {
  const h = uuid.replace(/-/g, '');
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return [0, 1, 2, 3].map((i) => (b[4 * i]! | (b[4 * i + 1]! << 8) | (b[4 * i + 2]! << 16) | (b[4 * i + 3]! << 24)) >>> 0);
}
const hex = (n: number) => '0x' + n.toString(16);

test('fixed vectors (debugfs dx_hash)', () => {
  const seed = seedWords(SEED_UUID);
  const name = enc.encode('h\u00e9llo');
  const cases: [number, number, number][] = [
    [DX_HASH_LEGACY, 0x239928cc, 0],
    [DX_HASH_HALF_MD4, 0x1e7a395c, 0xe9adfb54],
    [DX_HASH_TEA, 0x313ecf7e, 0xedbe6b7e],
  ];
  for (const [v, h, m] of cases) {
    const got = dirhash(name, v, seed)!;
    assert.equal(got.hash, h, `${dxHashName[v]}: got ${hex(got.hash)}, want ${hex(h)}`);
    assert.equal(got.minor, m, `${dxHashName[v]} minor: got ${hex(got.minor)}, want ${hex(m)}`);
  }
  const tea = dirhash(enc.encode('hello'), DX_HASH_TEA, [0, 0, 0, 0])!;
  assert.equal(tea.hash, 0x6f5bb1a8, `tea default seed: got ${hex(tea.hash)}, want 0x6f5bb1a8`);
});

test('signed and unsigned flavours agree on ASCII and differ on high bytes', () => {
  const seed = seedWords(SEED_UUID);
  const pairs: [number, number][] = [
    [DX_HASH_LEGACY, DX_HASH_LEGACY_UNSIGNED], [DX_HASH_HALF_MD4, DX_HASH_HALF_MD4_UNSIGNED],
    [DX_HASH_TEA, DX_HASH_TEA_UNSIGNED],
  ];
  for (const [s, u] of pairs) {
    const a = enc.encode('plain-ascii-name');
    assert.deepEqual(dirhash(a, s, seed), dirhash(a, u, seed), `${dxHashName[s]} ascii`);
    const b = enc.encode('\u00fcber');
    assert.notDeepEqual(dirhash(b, s, seed), dirhash(b, u, seed), `${dxHashName[s]} high bytes`);
  }
  assert.equal(dirhash(enc.encode('x'), 9, null), null, 'unknown version: got a hash, want null');
});

test('the low bit is clear and the EOF value is never produced', () => {
  for (let i = 0; i < 2000; i++) {
    const r = dirhash(enc.encode(`name-${i}`), DX_HASH_HALF_MD4, null)!;
    assert.equal(r.hash & 1, 0, `name-${i}: got odd hash ${hex(r.hash)}`);
    assert.notEqual(r.hash, 0xfffffffe);
  }
});
