/*
 * Ethernet II framing (IEEE 802.3 with an EtherType): destination MAC, source MAC, a 16-bit
 * EtherType, then the payload. The frame check sequence is the NIC's business and never reaches
 * us; minimum-size padding (60 bytes without FCS) is added by the sender and ignored by readers,
 * who trust the length fields of the protocol inside.
 */

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const ETH_ZLEN = 60;
export const ETH_DATA_LEN = 1500;
export const ETH_FRAME_LEN = 1514;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;

export const MAC_BROADCAST: Readonly<Uint8Array> = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const MAC_ZERO: Readonly<Uint8Array> = new Uint8Array(6);

export interface EthHeader { dst: Uint8Array; src: Uint8Array; type: number }

/** The header at `off`, or null when fewer than 14 bytes remain. Addresses are views, not copies. */
export function parseEthHeader(b: Uint8Array, off = 0): EthHeader | null {
  if (b.length - off < ETH_HLEN) return null;
  return {
    dst: b.subarray(off, off + 6),
    src: b.subarray(off + 6, off + 12),
    type: (b[off + 12]! << 8) | b[off + 13]!,
  };
}

export function writeEthHeader(b: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, type: number): void {
  b.set(dst.subarray(0, 6), off);
  b.set(src.subarray(0, 6), off + 6);
  b[off + 12] = type >>> 8; b[off + 13] = type & 0xff;
}

export function isBroadcastMac(m: Uint8Array): boolean {
  return m[0] === 0xff && m[1] === 0xff && m[2] === 0xff && m[3] === 0xff && m[4] === 0xff && m[5] === 0xff;
}
/** The group bit: multicast and broadcast destinations. */
export function isMulticastMac(m: Uint8Array): boolean { return (m[0]! & 1) === 1; }
export function isZeroMac(m: Uint8Array): boolean { return !(m[0]! | m[1]! | m[2]! | m[3]! | m[4]! | m[5]!); }
/** A usable unicast station address (not multicast, not all zeros). */
export function isValidEtherAddr(m: Uint8Array): boolean { return m.length === 6 && !isMulticastMac(m) && !isZeroMac(m); }

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** "aa:bb:cc:dd:ee:ff" as Linux prints it (%pM). */
export function macToString(m: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push((m[i] ?? 0).toString(16).padStart(2, '0'));
  return out.join(':');
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes); null when malformed. */
export function parseMac(s: string): Uint8Array | null {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) return null;
  const m = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(parts[i]!)) return null;
    m[i] = parseInt(parts[i]!, 16);
  }
  return m;
}
