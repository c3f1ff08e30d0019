/*
 * ICMP for IPv4 (RFC 792): type, code, checksum over the whole message, four bytes whose meaning
 * depends on the type (identifier and sequence for echo, next-hop MTU for "fragmentation
 * needed", unused otherwise), then data. Error messages carry the offending IP header and at
 * least 8 bytes of its payload (RFC 1122 3.2.2; Linux quotes up to 576 bytes in total).
 */
import { inetChecksum } from './checksum.js';

export const ICMP_HLEN = 8;

export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETERPROB = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMPREPLY = 14;
export const NR_ICMP_TYPES = 18;

// Codes for ICMP_DEST_UNREACH
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_SR_FAILED = 5;
export const ICMP_PKT_FILTERED = 13;
// Codes for ICMP_TIME_EXCEEDED
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

/** Error types: never sent in reply to one of these (RFC 1122 3.2.2). */
export function icmpIsError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETERPROB;
}

export interface IcmpHeader { type: number; code: number; checksum: number; /** bytes 4..7 as one word */ un: number }

export function parseIcmpHeader(b: Uint8Array, off = 0): IcmpHeader | null {
  if (b.length - off < ICMP_HLEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset + off, ICMP_HLEN);
  return { type: b[off]!, code: b[off + 1]!, checksum: dv.getUint16(2), un: dv.getUint32(4) };
}

/** Echo identifier and sequence live in the rest-of-header word. */
export function echoId(h: IcmpHeader): number { return h.un >>> 16; }
export function echoSeq(h: IcmpHeader): number { return h.un & 0xffff; }

/**
 * Writes type, code and the rest-of-header word at `off`, then the checksum over
 * b[off, end) — the message is expected to be complete (payload already in place).
 */
export function writeIcmpHeader(b: Uint8Array, off: number, end: number, type: number, code: number, un: number): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, ICMP_HLEN);
  b[off] = type; b[off + 1] = code; dv.setUint16(2, 0); dv.setUint32(4, un >>> 0);
  dv.setUint16(2, inetChecksum(b, off, end));
}
