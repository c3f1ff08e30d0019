/*
 * CRC-32C (Castagnoli), the checksum of ext4's metadata_csum and of jbd2's v2/v3 journal.
 *
 * The polynomial 0x1EDC6F41 processed bit-reversed (0x82F63B78), least significant bit first.
 * Like Linux's crc32c(crc, p, len), crc32c() here is the raw register update: the caller picks
 * the seed and nothing is inverted at the end. ext4 seeds with ~0 (or with a running value) and
 * stores the register as is; the "standard" CRC-32C of iSCSI and RFC 3720 is
 * ~crc32c(~0, data), which crc32cStandard() returns for tests and other users.
 *
 * Speed matters: every inode, extent block, directory block and journal block read is
 * checksummed. Slicing-by-8 consumes eight bytes per step from eight 256-entry tables (8 KiB,
 * built once per process; the tables are constants, not kernel state).
 */

const POLY = 0x82f63b78;

const T: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** Linux's crc32c(seed, data): the raw register update over data[start, end), no inversion. */
export function crc32c(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = seed >>> 0;
  let i = start;
  // Bytewise until the remaining length is a multiple of 8 or small.
  const tail = end - ((end - i) & 7);
  const t = T;
  while (i < tail) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + (b & 0xff)]! ^ t[512 + ((b >>> 8) & 0xff)]! ^ t[256 + ((b >>> 16) & 0xff)]! ^ t[(b >>> 24) & 0xff]!;
    i += 8;
  }
  for (; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** crc32c over a little-endian 32-bit value (ext4 feeds inode numbers and group numbers). */
export function crc32cU32(seed: number, v: number): number {
  const t = T;
  let c = (seed ^ v) >>> 0;
  c = t[c & 0xff]! ^ (c >>> 8);
  c = t[c & 0xff]! ^ (c >>> 8);
  c = t[c & 0xff]! ^ (c >>> 8);
  c = t[c & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The standard CRC-32C (RFC 3720): ~crc32c(~0, data). */
export function crc32cStandard(data: Uint8Array, start = 0, end = data.length): number {
  return (crc32c(0xffffffff, data, start, end) ^ 0xffffffff) >>> 0;
}
