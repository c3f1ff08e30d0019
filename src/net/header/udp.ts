/*
 * UDP (RFC 768): source port, destination port, length (header included), checksum over a
 * pseudo-header (addresses, protocol, length) and the datagram. Over IPv4 a zero checksum means
 * "none"; a computed zero is sent as 0xffff. Over IPv6 the checksum is mandatory (RFC 8200 8.1).
 */
import { csumFold, csumPartial, pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
import { ipv4ToBytes } from './ipv4.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_HLEN = 8;

export interface UdpHeader { sport: number; dport: number; len: number; check: number }

export function parseUdpHeader(b: Uint8Array, off = 0): UdpHeader | null {
  if (b.length - off < UDP_HLEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset + off, UDP_HLEN);
  return { sport: dv.getUint16(0), dport: dv.getUint16(2), len: dv.getUint16(4), check: dv.getUint16(6) };
}

/** Unfolded pseudo-header sum for IPv4 addresses given as numbers. */
export function udp4PseudoSum(saddr: number, daddr: number, len: number): number {
  return pseudoHeaderSum4(ipv4ToBytes(saddr), ipv4ToBytes(daddr), IPPROTO_UDP, len);
}

/**
 * Writes the header at `off` for a datagram of `len` bytes (header included) already in place
 * after it, with the IPv4 checksum (0 becomes 0xffff).
 */
export function writeUdp4(b: Uint8Array, off: number, sport: number, dport: number, len: number, saddr: number, daddr: number): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, UDP_HLEN);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, len); dv.setUint16(6, 0);
  const c = csumFold(csumPartial(b, off, off + len, udp4PseudoSum(saddr, daddr, len)));
  dv.setUint16(6, c === 0 ? 0xffff : c);
}

/** True when the checksum of the IPv4 datagram b[off, off+len) is absent (0) or correct. */
export function udp4ChecksumOk(b: Uint8Array, off: number, len: number, saddr: number, daddr: number): boolean {
  if (b[off + 6] === 0 && b[off + 7] === 0) return true;
  return csumFold(csumPartial(b, off, off + len, udp4PseudoSum(saddr, daddr, len))) === 0;
}

/** The same over IPv6 (addresses as 16-byte arrays); zero is always invalid there. */
export function writeUdp6(b: Uint8Array, off: number, sport: number, dport: number, len: number, saddr: Uint8Array, daddr: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, UDP_HLEN);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, len); dv.setUint16(6, 0);
  const c = csumFold(csumPartial(b, off, off + len, pseudoHeaderSum6(saddr, daddr, IPPROTO_UDP, len)));
  dv.setUint16(6, c === 0 ? 0xffff : c);
}
export function udp6ChecksumOk(b: Uint8Array, off: number, len: number, saddr: Uint8Array, daddr: Uint8Array): boolean {
  if (b[off + 6] === 0 && b[off + 7] === 0) return false;
  return csumFold(csumPartial(b, off, off + len, pseudoHeaderSum6(saddr, daddr, IPPROTO_UDP, len))) === 0;
}
