/*
 * Directory name hashes (fs/ext4/hash.c): the keys of the dir_index htree.
 *
 * An indexed directory sorts its leaf blocks by a 31-bit hash of each name (the low bit of a
 * stored hash is a "collision continues in the next block" flag, so it is always cleared here).
 * Three functions exist, each chosen once per directory in its dx_root:
 *   - legacy:   a cheap multiplicative hash ("dx_hack_hash"), no seed;
 *   - half_md4: three rounds of MD4 over 32-byte chunks of the name, seeded;
 *   - tea:      16 cycles of the TEA cipher over 16-byte chunks, seeded.
 * Each comes in a signed and an unsigned flavour: the original code read name bytes as plain
 * `char`, which is signed on x86 and unsigned on ARM/PowerPC, so bytes >= 0x80 hashed
 * differently by platform. The superblock records which one the filesystem was built with
 * (EXT2_FLAGS_SIGNED_HASH / EXT2_FLAGS_UNSIGNED_HASH) and the mount adds 3 to the version number
 * of the dx_root for unsigned filesystems (DX_HASH_*_UNSIGNED).
 * The seed is the superblock's s_hash_seed; an all-zero seed means the MD4 initial vector.
 * SipHash (version 6) is only used for encrypted+casefolded directories, which we refuse.
 *
 * The result has a major hash (what the index sorts on) and a minor hash (only readdir's
 * position cookie uses it). All arithmetic is on uint32 via `>>> 0` and Math.imul.
 */

export const DX_HASH_LEGACY = 0, DX_HASH_HALF_MD4 = 1, DX_HASH_TEA = 2,
  DX_HASH_LEGACY_UNSIGNED = 3, DX_HASH_HALF_MD4_UNSIGNED = 4, DX_HASH_TEA_UNSIGNED = 5,
  DX_HASH_SIPHASH = 6;

/** Largest 31-bit hash; the hash EOF cookie of 32-bit readdir. */
export const EXT4_HTREE_EOF_32BIT = 0x7fffffff;

export interface DxHash { hash: number; minor: number }

/** The dx_hack_hash, with name bytes sign-extended (signed) or not. */
function legacyHash(name: Uint8Array, len: number, signed: boolean): number {
  let h0 = 0x12a3fe2d, h1 = 0x37abe8f9;
  for (let i = 0; i < len; i++) {
    let c = name[i]!;
    if (signed && c >= 0x80) c -= 0x100;
    let h = (h1 + ((h0 ^ Math.imul(c, 7152373)) >>> 0)) >>> 0;
    if (h & 0x80000000) h = (h - 0x7fffffff) >>> 0;
    h1 = h0;
    h0 = h;
  }
  return (h0 << 1) >>> 0;
}

/**
 * Pack up to num*4 bytes of the name into num big-endian-ish words the way str2hashbuf does:
 * each word accumulates bytes as val = byte + (val << 8) starting from a pad word that encodes
 * the remaining length; missing words are the pad.
 */
function str2hashbuf(msg: Uint8Array, off: number, len: number, out: Uint32Array, num: number, signed: boolean): void {
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  let o = 0;
  const n = Math.min(len, num * 4);
  for (let i = 0; i < n; i++) {
    let c = msg[off + i]!;
    if (signed && c >= 0x80) c -= 0x100;
    val = (c + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) { out[o++] = val; val = pad; num--; }
  }
  if (--num >= 0) out[o++] = val;
  while (--num >= 0) out[o++] = pad;
}

const rol32 = (x: number, s: number) => ((x << s) | (x >>> (32 - s))) >>> 0;

/** Half MD4: MD4's three rounds over 8 words, folding into buf. */
function halfMd4Transform(buf: Uint32Array, x: Uint32Array): void {
  let a = buf[0]!, b = buf[1]!, c = buf[2]!, d = buf[3]!;
  const K2 = 0x5a827999, K3 = 0x6ed9eba1;
  const F = (p: number, q: number, r: number) => (r ^ (p & (q ^ r))) >>> 0;
  const G = (p: number, q: number, r: number) => ((p & q) + ((p ^ q) & r)) >>> 0;
  const H = (p: number, q: number, r: number) => (p ^ q ^ r) >>> 0;
  // Round 1: F, words in order, shifts 3 7 11 19.
  const r1 = [3, 7, 11, 19];
  for (let i = 0; i < 8; i += 4) {
    a = rol32((a + F(b, c, d) + x[i]!) >>> 0, r1[0]!);
    d = rol32((d + F(a, b, c) + x[i + 1]!) >>> 0, r1[1]!);
    c = rol32((c + F(d, a, b) + x[i + 2]!) >>> 0, r1[2]!);
    b = rol32((b + F(c, d, a) + x[i + 3]!) >>> 0, r1[3]!);
  }
  // Round 2: G, words 1 3 5 7 0 2 4 6, shifts 3 5 9 13.
  const o2 = [1, 3, 5, 7, 0, 2, 4, 6];
  for (let i = 0; i < 8; i += 4) {
    a = rol32((a + G(b, c, d) + x[o2[i]!]! + K2) >>> 0, 3);
    d = rol32((d + G(a, b, c) + x[o2[i + 1]!]! + K2) >>> 0, 5);
    c = rol32((c + G(d, a, b) + x[o2[i + 2]!]! + K2) >>> 0, 9);
    b = rol32((b + G(c, d, a) + x[o2[i + 3]!]! + K2) >>> 0, 13);
  }
  // Round 3: H, words 3 7 2 6 1 5 0 4, shifts 3 9 11 15.
  const o3 = [3, 7, 2, 6, 1, 5, 0, 4];
  for (let i = 0; i < 8; i += 4) {
    a = rol32((a + H(b, c, d) + x[o3[i]!]! + K3) >>> 0, 3);
    d = rol32((d + H(a, b, c) + x[o3[i + 1]!]! + K3) >>> 0, 9);
    c = rol32((c + H(d, a, b) + x[o3[i + 2]!]! + K3) >>> 0, 11);
    b = rol32((b + H(c, d, a) + x[o3[i + 3]!]! + K3) >>> 0, 15);
  }
  buf[0] = buf[0]! + a; buf[1] = buf[1]! + b; buf[2] = buf[2]! + c; buf[3] = buf[3]! + d;
}

/** TEA: 16 cycles enciphering buf[0..1] under the key in[0..3], added back into buf. */
function teaTransform(buf: Uint32Array, k: Uint32Array): void {
  let sum = 0, b0 = buf[0]!, b1 = buf[1]!;
  const a = k[0]!, b = k[1]!, c = k[2]!, d = k[3]!;
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b)) >>> 0)) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d)) >>> 0)) >>> 0;
  }
  buf[0] = buf[0]! + b0; buf[1] = buf[1]! + b1;
}

/**
 * ext4fs_dirhash for an already-folded name. `version` is the effective DX_HASH_* (unsigned
 * variants included), `seed` the four words of s_hash_seed (all zero: default). Returns null for
 * an unknown version (Linux warns and fails with EINVAL; the caller reports it).
 */
export function dirhash(name: Uint8Array, version: number, seed?: ArrayLike<number> | null): DxHash | null {
  const len = name.length;
  const buf = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  if (seed && (seed[0] || seed[1] || seed[2] || seed[3])) {
    for (let i = 0; i < 4; i++) buf[i] = seed[i]!;
  }
  let hash: number, minor = 0;
  switch (version) {
    case DX_HASH_LEGACY: case DX_HASH_LEGACY_UNSIGNED:
      hash = legacyHash(name, len, version === DX_HASH_LEGACY);
      break;
    case DX_HASH_HALF_MD4: case DX_HASH_HALF_MD4_UNSIGNED: {
      const signed = version === DX_HASH_HALF_MD4;
      const inp = new Uint32Array(8);
      for (let off = 0, rem = len; rem > 0; off += 32, rem -= 32) {
        str2hashbuf(name, off, rem, inp, 8, signed);
        halfMd4Transform(buf, inp);
      }
      hash = buf[1]!; minor = buf[2]!;
      break;
    }
    case DX_HASH_TEA: case DX_HASH_TEA_UNSIGNED: {
      const signed = version === DX_HASH_TEA;
      const inp = new Uint32Array(4);
      for (let off = 0, rem = len; rem > 0; off += 16, rem -= 16) {
        str2hashbuf(name, off, rem, inp, 4, signed);
        teaTransform(buf, inp);
      }
      hash = buf[0]!; minor = buf[1]!;
      break;
    }
    default:
      return null;
  }
  hash = (hash & ~1) >>> 0;
  // The all-ones 31-bit value is the EOF cookie, so no name may hash to it.
  if (hash === ((EXT4_HTREE_EOF_32BIT << 1) >>> 0)) hash = ((EXT4_HTREE_EOF_32BIT - 1) << 1) >>> 0;
  return { hash, minor: minor >>> 0 };
}

/** Names of the hash versions as debugfs and mke2fs spell them. */
export const dxHashName: Record<number, string> = {
  [DX_HASH_LEGACY]: 'legacy', [DX_HASH_HALF_MD4]: 'half_md4', [DX_HASH_TEA]: 'tea',
  [DX_HASH_LEGACY_UNSIGNED]: 'legacy_unsigned', [DX_HASH_HALF_MD4_UNSIGNED]: 'half_md4_unsigned',
  [DX_HASH_TEA_UNSIGNED]: 'tea_unsigned', [DX_HASH_SIPHASH]: 'siphash',
};
