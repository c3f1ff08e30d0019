/*
 * CRC-32 of IEEE 802.3 (the zlib/Ethernet CRC), as GPT headers and partition entry arrays carry.
 *
 * The polynomial is 0x04C11DB7 processed bit-reversed (0xEDB88320), least significant bit first.
 * Linux's crc32_le(seed, p, len) is the raw register update with no inversion; EFI (and zlib)
 * seed the register with ~0 and invert the result, which is what crc32() below returns. The
 * Castagnoli CRC that ext4 and jbd2 use is a different polynomial and does not live here.
 *
 * A 256-entry table, one byte per step: a 4 MiB GPT entry array (Linux's largest) takes a few
 * milliseconds, which is all this needs.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The raw register update (Linux's crc32_le): no pre- or post-inversion. */
export function crc32_le(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = seed >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The standard CRC-32 (zlib's crc32(0, ...), EFI's efi_crc32): ~crc32_le(~0, data). */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  return (crc32_le(0xffffffff, data, start, end) ^ 0xffffffff) >>> 0;
}
