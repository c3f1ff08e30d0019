/*
 * CRC-16 (the "ANSI"/IBM polynomial 0x8005, processed bit-reversed as 0xA001), Linux's lib/crc16.
 *
 * ext4 group descriptors carry a 16-bit checksum. With metadata_csum it is the low half of a
 * crc32c; with only gdt_csum (uninit_bg) it is this CRC seeded with ~0 over the filesystem UUID,
 * the group number and the descriptor. Like Linux's crc16(crc, p, len) this is the raw register
 * update without inversion.
 */

const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xa001 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Linux's crc16(crc, data): raw update over data[start, end). */
export function crc16(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = seed & 0xffff;
  for (let i = start; i < end; i++) c = (TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) & 0xffff;
  return c;
}
