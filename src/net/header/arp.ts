/*
 * ARP (RFC 826) for IPv4 over Ethernet, the only combination we speak: hardware type 1,
 * protocol type 0x0800, 6-byte hardware and 4-byte protocol addresses, so the packet is always
 * 28 bytes: op, sender MAC/IP, target MAC/IP.
 */
import { ETH_P_IP } from './ethernet.js';

export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;
export const ARPHRD_NONE = 0xfffe;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
export const ARP_HLEN = 28;

export interface ArpPacket {
  htype: number; ptype: number; hlen: number; plen: number; op: number;
  sha: Uint8Array; spa: number; tha: Uint8Array; tpa: number;
}

/**
 * The ARP packet at `off`, or null when it is short or not Ethernet/IPv4 (what Linux's arp_rcv
 * drops before looking further).
 */
export function parseArp(b: Uint8Array, off = 0): ArpPacket | null {
  if (b.length - off < ARP_HLEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset + off, ARP_HLEN);
  const p: ArpPacket = {
    htype: dv.getUint16(0), ptype: dv.getUint16(2), hlen: b[off + 4]!, plen: b[off + 5]!, op: dv.getUint16(6),
    sha: b.subarray(off + 8, off + 14), spa: dv.getUint32(14),
    tha: b.subarray(off + 18, off + 24), tpa: dv.getUint32(24),
  };
  if (p.htype !== ARPHRD_ETHER || p.ptype !== ETH_P_IP || p.hlen !== 6 || p.plen !== 4) return null;
  return p;
}

export function writeArp(b: Uint8Array, off: number, op: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): void {
  const dv = new DataView(b.buffer, b.byteOffset + off, ARP_HLEN);
  dv.setUint16(0, ARPHRD_ETHER); dv.setUint16(2, ETH_P_IP);
  b[off + 4] = 6; b[off + 5] = 4; dv.setUint16(6, op);
  b.set(sha.subarray(0, 6), off + 8); dv.setUint32(14, spa >>> 0);
  b.set(tha.subarray(0, 6), off + 18); dv.setUint32(24, tpa >>> 0);
}
