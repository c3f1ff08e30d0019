/*
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages riding on it (RFC 4861): the same
 * type/code/checksum/rest-of-header shape as ICMP for IPv4, but the checksum covers the IPv6
 * pseudo-header too.
 */
import { csumFold, csumPartial, pseudoHeaderSum6 } from './checksum.js';
import { IPPROTO_ICMPV6 } from './ipv4.js';

export const ICMPV6_HLEN = 8;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PKT_TOOBIG = 2;
export const ICMPV6_TIME_EXCEED = 3;
export const ICMPV6_PARAMPROB = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const NDISC_ROUTER_SOLICITATION = 133;
export const NDISC_ROUTER_ADVERTISEMENT = 134;
export const NDISC_NEIGHBOUR_SOLICITATION = 135;
export const NDISC_NEIGHBOUR_ADVERTISEMENT = 136;
export const NDISC_REDIRECT = 137;

export const ICMPV6_NOROUTE = 0;
export const ICMPV6_ADM_PROHIBITED = 1;
export const ICMPV6_ADDR_UNREACH = 3;
export const ICMPV6_PORT_UNREACH = 4;

/** Types below 128 are errors (RFC 4443 2.1). */
export function icmpv6IsError(type: number): boolean { return type < 128; }

export function parseIcmpv6Header(b: Uint8Array, off = 0): { type: number; code: number; checksum: number; un: number } | null {
  if (b.length - off < ICMPV6_HLEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset + off, ICMPV6_HLEN);
  return { type: b[off]!, code: b[off + 1]!, checksum: dv.getUint16(2), un: dv.getUint32(4) };
}

/** Writes the header at `off` and the checksum over b[off, end) and the pseudo-header. */
export function writeIcmpv6Header(b: Uint8Array, off: number, end: number, type: number, code: number, un: number,
  saddr: Uint8Array, daddr: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, ICMPV6_HLEN);
  b[off] = type; b[off + 1] = code; dv.setUint16(2, 0); dv.setUint32(4, un >>> 0);
  dv.setUint16(2, csumFold(csumPartial(b, off, end, pseudoHeaderSum6(saddr, daddr, IPPROTO_ICMPV6, end - off))));
}

export function icmpv6ChecksumOk(b: Uint8Array, off: number, end: number, saddr: Uint8Array, daddr: Uint8Array): boolean {
  return csumFold(csumPartial(b, off, end, pseudoHeaderSum6(saddr, daddr, IPPROTO_ICMPV6, end - off))) === 0;
}
