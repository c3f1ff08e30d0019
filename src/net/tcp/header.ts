/*
 * The TCP header (RFC 9293 §3.1) and its options, as plain parse/build functions.
 *
 * A segment is 20 bytes of fixed header, 0–40 bytes of options, then payload. Options are
 * kind/length/value records padded with NOP (1) and ended by EOL (0); the ones spoken here are
 * MSS (2), window scale (3, RFC 7323), SACK-permitted (4) and SACK blocks (5, RFC 2018) and
 * timestamps (8, RFC 7323). Unknown options are skipped by their length byte.
 *
 * buildTcp() lays options out the way Linux's tcp_options_write() does, so our segments look
 * like Linux's on the wire: MSS first, then SACK-permitted fused with the timestamp option
 * (4,2,8,10,...) or the timestamp behind two NOPs, then NOP + window scale, then NOP NOP + SACK.
 * A Linux SYN thus carries "MSS, SACK_PERM, TS, NOP, WScale" in 20 option bytes.
 *
 * The checksum covers a pseudo-header (addresses, protocol 6, TCP length); 4-byte addresses mean
 * IPv4 (RFC 9293 §3.1), 16-byte ones IPv6 (RFC 8200 §8.1).
 */
import { csumPartial, csumFold, pseudoHeaderSum4, pseudoHeaderSum6 } from '../header/index.js';

export const IPPROTO_TCP = 6;

export const TCP_FLAG_FIN = 0x01, TCP_FLAG_SYN = 0x02, TCP_FLAG_RST = 0x04, TCP_FLAG_PSH = 0x08,
  TCP_FLAG_ACK = 0x10, TCP_FLAG_URG = 0x20, TCP_FLAG_ECE = 0x40, TCP_FLAG_CWR = 0x80;

export const TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_MSS = 2, TCPOPT_WINDOW = 3,
  TCPOPT_SACK_PERM = 4, TCPOPT_SACK = 5, TCPOPT_TIMESTAMP = 8;

export const TCP_HEADER_LEN = 20;
/** Largest window scale shift (RFC 7323 §2.3). */
export const TCP_MAX_WSCALE = 14;

export interface TcpOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left, right) sequence pairs. */
  sack?: Array<[number, number]>;
  tsVal?: number;
  tsEcr?: number;
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** Raw 16-bit window field (unscaled). */
  window: number;
  urgent: number;
  options: TcpOptions;
  payload: Uint8Array;
  /** Header length in bytes (data offset * 4), set by parseTcp. */
  headerLen?: number;
}

/** Parse a TCP segment; null when it is too short or its data offset is impossible. */
export function parseTcp(b: Uint8Array): TcpSegment | null {
  if (b.length < TCP_HEADER_LEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const doff = (b[12]! >> 4) * 4;
  if (doff < TCP_HEADER_LEN || doff > b.length) return null;
  const options = parseOptions(b, TCP_HEADER_LEN, doff);
  return {
    srcPort: dv.getUint16(0), dstPort: dv.getUint16(2),
    seq: dv.getUint32(4), ack: dv.getUint32(8),
    flags: b[13]!, window: dv.getUint16(14), urgent: dv.getUint16(18),
    options, payload: b.subarray(doff), headerLen: doff,
  };
}

function parseOptions(b: Uint8Array, start: number, end: number): TcpOptions {
  const o: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { i++; continue; }
    if (i + 1 >= end) break;
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) break; // malformed: stop, as Linux does
    const rd16 = (p: number) => (b[p]! << 8) | b[p + 1]!;
    const rd32 = (p: number) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    switch (kind) {
      case TCPOPT_MSS: if (len === 4) o.mss = rd16(i + 2); break;
      case TCPOPT_WINDOW: if (len === 3) o.wscale = b[i + 2]!; break;
      case TCPOPT_SACK_PERM: if (len === 2) o.sackPermitted = true; break;
      case TCPOPT_TIMESTAMP: if (len === 10) { o.tsVal = rd32(i + 2); o.tsEcr = rd32(i + 6); } break;
      case TCPOPT_SACK:
        if (len >= 10 && (len - 2) % 8 === 0) {
          o.sack = [];
          for (let p = i + 2; p < i + len; p += 8) o.sack.push([rd32(p), rd32(p + 4)]);
        }
        break;
    }
    i += len;
  }
  return o;
}

/** Serialise options in Linux's order; the result is padded to a multiple of 4 bytes. */
export function buildOptions(o: TcpOptions): Uint8Array {
  const out: number[] = [];
  const w16 = (v: number) => out.push((v >>> 8) & 0xff, v & 0xff);
  const w32 = (v: number) => out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  if (o.mss !== undefined) { out.push(TCPOPT_MSS, 4); w16(o.mss); }
  const ts = o.tsVal !== undefined;
  if (ts) {
    if (o.sackPermitted) out.push(TCPOPT_SACK_PERM, 2); else out.push(TCPOPT_NOP, TCPOPT_NOP);
    out.push(TCPOPT_TIMESTAMP, 10); w32(o.tsVal!); w32(o.tsEcr ?? 0);
  } else if (o.sackPermitted) {
    out.push(TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, 2);
  }
  if (o.wscale !== undefined) out.push(TCPOPT_NOP, TCPOPT_WINDOW, 3, o.wscale);
  if (o.sack && o.sack.length) {
    out.push(TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 2 + 8 * o.sack.length);
    for (const [l, r] of o.sack) { w32(l); w32(r); }
  }
  while (out.length % 4) out.push(TCPOPT_EOL);
  if (out.length > 40) throw new RangeError(`TCP options too long: ${out.length}`);
  return Uint8Array.from(out);
}

/** Bytes the options would take (for MSS computations). */
export function optionsLength(o: TcpOptions): number { return buildOptions(o).length; }

/**
 * Build a segment with a valid checksum for the pseudo-header of src → dst (with `csum` false the
 * field stays 0: a TSO super-segment, summed per piece by whoever segments it).
 */
export function buildTcp(seg: TcpSegment, src: Uint8Array, dst: Uint8Array, csum = true): Uint8Array {
  const opts = buildOptions(seg.options);
  const hlen = TCP_HEADER_LEN + opts.length;
  const b = new Uint8Array(hlen + seg.payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, seg.srcPort); dv.setUint16(2, seg.dstPort);
  dv.setUint32(4, seg.seq >>> 0); dv.setUint32(8, seg.ack >>> 0);
  b[12] = (hlen / 4) << 4; b[13] = seg.flags & 0xff;
  dv.setUint16(14, seg.window & 0xffff); dv.setUint16(18, seg.urgent & 0xffff);
  b.set(opts, TCP_HEADER_LEN);
  b.set(seg.payload, hlen);
  if (csum) dv.setUint16(16, tcpChecksum(b, src, dst));
  return b;
}

/** The checksum field value for `b` (its checksum field taken as is: 0 when verifying a good one). */
export function tcpChecksum(b: Uint8Array, src: Uint8Array, dst: Uint8Array): number {
  const ph = src.length === 16
    ? pseudoHeaderSum6(src, dst, IPPROTO_TCP, b.length)
    : pseudoHeaderSum4(src, dst, IPPROTO_TCP, b.length);
  return csumFold(csumWide(b, ph));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * csumPartial over all of `b`, a word at a time: every segment sent and received is summed, and
 * at a byte pair per step that was the stack's largest single cost. The ones' complement sum does
 * not care about byte order (RFC 1071 §2(B)), so 32-bit words read in the machine's little-endian
 * order are summed as two 16-bit halves, folded, and byte-swapped once at the end.
 */
export function csumWide(b: Uint8Array, sum: number): number {
  const n = b.length;
  const off = b.byteOffset;
  if (!LITTLE_ENDIAN || n < 64 || (off & 1) !== 0) return csumPartial(b, 0, n, sum);
  let i = 0;
  // One big-endian word first when the data starts 2 bytes past a 4-byte boundary.
  if ((off & 3) !== 0) { sum += (b[0]! << 8) | b[1]!; i = 2; }
  const words = (n - i) >>> 2;
  const u32 = new Uint32Array(b.buffer, off + i, words);
  // Two words per step into two sums: fewer loop tests, independent additions.
  let lo = 0, hi = 0, j = 0;
  for (; j + 1 < words; j += 2) {
    const w = u32[j]!, x = u32[j + 1]!;
    lo += (w & 0xffff) + (x & 0xffff);
    hi += (w >>> 16) + (x >>> 16);
  }
  if (j < words) { const w = u32[j]!; lo += w & 0xffff; hi += w >>> 16; }
  let le = lo + hi;
  while (le > 0xffff) le = (le % 0x10000) + Math.floor(le / 0x10000);
  sum += ((le & 0xff) << 8) | (le >>> 8);
  return csumPartial(b, i + (words << 2), n, sum);
}

/** True when the checksum of a received segment is correct. */
export function tcpChecksumOk(b: Uint8Array, src: Uint8Array, dst: Uint8Array): boolean {
  return tcpChecksum(b, src, dst) === 0;
}

/** Segment length in sequence space: payload plus one for SYN and one for FIN. */
export function segLen(seg: TcpSegment): number {
  return seg.payload.length + (seg.flags & TCP_FLAG_SYN ? 1 : 0) + (seg.flags & TCP_FLAG_FIN ? 1 : 0);
}

/** Modular sequence-number comparisons (RFC 9293 §3.4). */
export function seqBefore(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
export function seqAfter(a: number, b: number): boolean { return ((b - a) | 0) < 0; }
export function seqBeforeEq(a: number, b: number): boolean { return ((a - b) | 0) <= 0; }
export function seqAfterEq(a: number, b: number): boolean { return ((b - a) | 0) <= 0; }
export function seqAdd(a: number, n: number): number { return (a + n) >>> 0; }
export function seqDiff(a: number, b: number): number { return (a - b) | 0; }
/** a ≤ x < b in sequence space. */
export function seqBetween(x: number, a: number, b: number): boolean { return ((x - a) >>> 0) < ((b - a) >>> 0); }
