/*
 * The IPv4 header (RFC 791): 20 bytes plus up to 40 of options, the header length in 32-bit
 * words (IHL), total length, identification and fragment offset in 8-byte units with the DF/MF
 * flags, TTL, protocol, a header checksum (RFC 1071 over the header only), and the addresses.
 *
 * Addresses are plain unsigned 32-bit numbers in host order (0xc0a80001 = 192.168.0.1): routing
 * masks and compares them directly. Helpers convert to and from the dotted quad.
 */
import { inetChecksum } from './checksum.js';

export const IPV4_MIN_HLEN = 20;
export const IPV4_MAX_HLEN = 60;
export const IP_MAXPACKET = 65535;

export const IP_CE = 0x8000;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFSET = 0x1fff;

export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_RAW = 255;

export const INADDR_ANY = 0;
export const INADDR_BROADCAST = 0xffffffff;
export const INADDR_LOOPBACK = 0x7f000001;

export interface Ipv4Header {
  version: number; ihl: number; tos: number; totLen: number; id: number;
  /** Flags and fragment offset as on the wire (IP_DF | IP_MF | offset/8). */
  fragOff: number; ttl: number; protocol: number; check: number; saddr: number; daddr: number;
}

/** Reads the fixed fields at `off`; null when fewer than 20 bytes remain. Does not validate. */
export function parseIpv4Header(b: Uint8Array, off = 0): Ipv4Header | null {
  if (b.length - off < IPV4_MIN_HLEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset + off, IPV4_MIN_HLEN);
  return {
    version: b[off]! >> 4, ihl: b[off]! & 15, tos: b[off + 1]!, totLen: dv.getUint16(2), id: dv.getUint16(4),
    fragOff: dv.getUint16(6), ttl: b[off + 8]!, protocol: b[off + 9]!, check: dv.getUint16(10),
    saddr: dv.getUint32(12), daddr: dv.getUint32(16),
  };
}

export interface Ipv4Build {
  tos?: number; totLen: number; id: number; fragOff?: number; ttl: number; protocol: number;
  saddr: number; daddr: number;
}

/** Writes a 20-byte header (no options) with its checksum at `off`. */
export function writeIpv4Header(b: Uint8Array, off: number, h: Ipv4Build): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, IPV4_MIN_HLEN);
  b[off] = 0x45; b[off + 1] = h.tos ?? 0; dv.setUint16(2, h.totLen); dv.setUint16(4, h.id & 0xffff);
  dv.setUint16(6, h.fragOff ?? 0); b[off + 8] = h.ttl; b[off + 9] = h.protocol; dv.setUint16(10, 0);
  dv.setUint32(12, h.saddr >>> 0); dv.setUint32(16, h.daddr >>> 0);
  dv.setUint16(10, inetChecksum(b, off, off + IPV4_MIN_HLEN));
}

/** Recomputes the checksum of the header of `ihl` words at `off` (after a field changed). */
export function ipv4SendCheck(b: Uint8Array, off: number): void {
  const hl = (b[off]! & 15) * 4;
  b[off + 10] = 0; b[off + 11] = 0;
  const c = inetChecksum(b, off, off + hl);
  b[off + 10] = c >>> 8; b[off + 11] = c & 0xff;
}

export function ipv4ToString(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parses a strict dotted quad ("10.0.0.1"); null when malformed. */
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let a = 0;
  for (let i = 1; i <= 4; i++) {
    const v = Number(m[i]);
    if (v > 255) return null;
    a = a * 256 + v;
  }
  return a >>> 0;
}

export function ipv4ToBytes(a: number, out = new Uint8Array(4), off = 0): Uint8Array {
  out[off] = a >>> 24; out[off + 1] = (a >>> 16) & 255; out[off + 2] = (a >>> 8) & 255; out[off + 3] = a & 255;
  return out;
}
export function ipv4FromBytes(b: Uint8Array, off = 0): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** The netmask of a prefix length (0..32) as an unsigned number. */
export function inetMakeMask(prefixLen: number): number {
  return prefixLen <= 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}
export function ipv4IsMulticast(a: number): boolean { return (a >>> 28) === 0xe; }
export function ipv4IsLoopback(a: number): boolean { return (a >>> 24) === 127; }
export function ipv4IsLbcast(a: number): boolean { return a === INADDR_BROADCAST; }
export function ipv4IsZeronet(a: number): boolean { return (a >>> 24) === 0; }
