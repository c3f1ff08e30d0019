/*
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum of the
 * data taken as big-endian 16-bit words, an odd trailing byte padded with zero. IPv4 headers, ICMP,
 * UDP, TCP and ICMPv6 all use it; the transport protocols also sum a pseudo-header of addresses,
 * protocol and length (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1).
 *
 * Sums are kept unfolded (a plain number that may exceed 16 bits) so partial sums over a
 * pseudo-header and several buffers can be added before one final fold — the csum_partial /
 * csum_fold split of Linux.
 */

/** Adds the 16-bit big-endian words of bytes[start, end) to `sum` (unfolded). */
export function csumPartial(bytes: Uint8Array, start = 0, end = bytes.length, sum = 0): number {
  let i = start;
  // Fold every so often so the accumulator stays an exact integer (well below 2^53).
  while (end - i >= 2) {
    const stop = Math.min(end - 1, i + 0x20000);
    for (; i < stop; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Folds an unfolded sum to 16 bits and complements it: the value that goes on the wire. */
export function csumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The checksum of bytes[start, end) alone (IPv4 header, ICMP). 0 when verifying a correct one. */
export function inetChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return csumFold(csumPartial(bytes, start, end));
}

/** Unfolded sum of the IPv4 pseudo-header: source, destination (4 bytes each), protocol, length. */
export function pseudoHeaderSum4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return csumPartial(src, 0, 4) + csumPartial(dst, 0, 4) + protocol + length;
}

/** Unfolded sum of the IPv6 pseudo-header: addresses (16 bytes each), 32-bit length, next header. */
export function pseudoHeaderSum6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  return csumPartial(src, 0, 16) + csumPartial(dst, 0, 16) + (length >>> 16) + (length & 0xffff) + nextHeader;
}
