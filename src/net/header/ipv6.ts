/*
 * The IPv6 fixed header (RFC 8200): version 6, traffic class, flow label, payload length (not
 * counting these 40 bytes), next header, hop limit, 128-bit addresses. Addresses are 16-byte
 * arrays; text form follows RFC 5952 (lower case, longest zero run as "::").
 */
export const IPV6_HLEN = 40;
export const IPV6_MIN_MTU = 1280;

export const NEXTHDR_HOP = 0;
export const NEXTHDR_TCP = 6;
export const NEXTHDR_UDP = 17;
export const NEXTHDR_ROUTING = 43;
export const NEXTHDR_FRAGMENT = 44;
export const NEXTHDR_ICMP = 58;
export const NEXTHDR_NONE = 59;
export const NEXTHDR_DEST = 60;

export interface Ipv6Header {
  version: number; trafficClass: number; flowLabel: number; payloadLen: number; nextHeader: number;
  hopLimit: number; saddr: Uint8Array; daddr: Uint8Array;
}

export function parseIpv6Header(b: Uint8Array, off = 0): Ipv6Header | null {
  if (b.length - off < IPV6_HLEN) return null;
  const w0 = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  return {
    version: w0 >>> 28, trafficClass: (w0 >>> 20) & 0xff, flowLabel: w0 & 0xfffff,
    payloadLen: (b[off + 4]! << 8) | b[off + 5]!, nextHeader: b[off + 6]!, hopLimit: b[off + 7]!,
    saddr: b.subarray(off + 8, off + 24), daddr: b.subarray(off + 24, off + 40),
  };
}

export function writeIpv6Header(b: Uint8Array, off: number, h: {
  trafficClass?: number; flowLabel?: number; payloadLen: number; nextHeader: number; hopLimit: number;
  saddr: Uint8Array; daddr: Uint8Array;
}): void {
  const w0 = ((6 << 28) | ((h.trafficClass ?? 0) << 20) | ((h.flowLabel ?? 0) & 0xfffff)) >>> 0;
  b[off] = w0 >>> 24; b[off + 1] = (w0 >>> 16) & 255; b[off + 2] = (w0 >>> 8) & 255; b[off + 3] = w0 & 255;
  b[off + 4] = h.payloadLen >>> 8; b[off + 5] = h.payloadLen & 255; b[off + 6] = h.nextHeader; b[off + 7] = h.hopLimit;
  b.set(h.saddr.subarray(0, 16), off + 8); b.set(h.daddr.subarray(0, 16), off + 24);
}

/** RFC 5952 text form. */
export function ipv6ToString(a: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((a[2 * i]! << 8) | a[2 * i + 1]!);
  // IPv4-mapped ::ffff:a.b.c.d
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (x: number) => x.toString(16);
  if (bestStart < 0) return w.map(hex).join(':');
  return `${w.slice(0, bestStart).map(hex).join(':')}::${w.slice(bestStart + bestLen).map(hex).join(':')}`;
}

/** Parses any RFC 4291 text form (including an embedded dotted quad); null when malformed. */
export function parseIpv6(s: string): Uint8Array | null {
  let tail4: number[] | null = null;
  const m4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m4) {
    const q = m4[2]!.split('.').map(Number);
    if (q.some((x) => x > 255)) return null;
    tail4 = q; s = m4[1]! + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const part = (t: string) => (t === '' ? [] : t.split(':'));
  const head = part(halves[0]!), tail = halves.length === 2 ? part(halves[1]!) : [];
  const n = head.length + tail.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return null;
  const words = [...head, ...Array<string>(8 - n).fill('0'), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(words[i]!)) return null;
    const v = parseInt(words[i]!, 16);
    out[2 * i] = v >>> 8; out[2 * i + 1] = v & 255;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}
