/*
 * BOOTP/DHCP messages (RFC 951, RFC 2131, options from RFC 2132) as bytes.
 *
 * A BOOTP message is a fixed 236-byte record followed by a variable "vendor" area. DHCP lives in
 * that area: it starts with the magic cookie 99.130.83.99 and holds options as type-length-value
 * triples (type 0 is a one-byte pad, 255 ends the list). The fixed record:
 *
 *   0 op (1 request, 2 reply)  1 htype (ARPHRD_*)  2 hlen  3 hops
 *   4 xid                      8 secs  10 flags (0x8000: broadcast the reply)
 *   12 ciaddr  16 yiaddr  20 siaddr  24 giaddr  28 chaddr[16]  44 sname[64]  108 file[128]
 *   236 vendor area / options
 *
 * The boot-time client (ipconfig.ts) sends a vendor area of 312 bytes, as Linux's does, so every
 * request is a 548-byte UDP payload: 576 bytes with the IP header, the datagram size every host
 * must accept (RFC 1122). This file only encodes and decodes; it holds no state.
 */

export const BOOTP_REQUEST = 1;
export const BOOTP_REPLY = 2;
/** Size of the fixed part, before the vendor area. */
export const BOOTP_FIXED_LEN = 236;
/** Vendor area sent by the client (Linux's bootp_pkt.exten). */
export const BOOTP_VEND_LEN = 312;
export const BOOTP_SERVER_PORT = 67;
export const BOOTP_CLIENT_PORT = 68;
/** flags: ask the server to broadcast its reply (RFC 2131 4.1). */
export const BOOTP_FLAG_BROADCAST = 0x8000;
export const DHCP_MAGIC_COOKIE: readonly number[] = [99, 130, 83, 99];

// DHCP message types (option 53).
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

// Options (RFC 2132) the client uses.
export const DHO_PAD = 0;
export const DHO_SUBNET_MASK = 1;
export const DHO_ROUTERS = 3;
export const DHO_NAME_SERVERS = 5;
export const DHO_DOMAIN_NAME_SERVERS = 6;
export const DHO_HOST_NAME = 12;
export const DHO_DOMAIN_NAME = 15;
export const DHO_ROOT_PATH = 17;
export const DHO_INTERFACE_MTU = 26;
export const DHO_NIS_DOMAIN = 40;
export const DHO_NTP_SERVERS = 42;
export const DHO_REQUESTED_ADDRESS = 50;
export const DHO_LEASE_TIME = 51;
export const DHO_MESSAGE_TYPE = 53;
export const DHO_SERVER_IDENTIFIER = 54;
export const DHO_PARAMETER_REQUEST_LIST = 55;
export const DHO_MAX_MESSAGE_SIZE = 57;
export const DHO_VENDOR_CLASS_ID = 60;
export const DHO_CLIENT_ID = 61;
export const DHO_END = 255;

/** One option as it appeared: code and value bytes (a copy). */
export interface DhcpOption { code: number; data: Uint8Array }

/** A decoded BOOTP/DHCP message. Addresses are host-order numbers. */
export interface BootpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** The client hardware address, hlen bytes (at most 16). */
  chaddr: Uint8Array;
  sname: string;
  file: string;
  /** True when the vendor area starts with the DHCP magic cookie. */
  cookie: boolean;
  /** The options in wire order (empty without a cookie); pads and the end mark are not listed. */
  options: DhcpOption[];
}

/** A message to encode: the fixed fields that default to zero may be left out. */
export type BootpBuild = Partial<Omit<BootpMessage, 'chaddr' | 'options' | 'cookie'>> & {
  op: number; xid: number; chaddr: Uint8Array; options?: DhcpOption[];
};

function cstring(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * Encode: the fixed part, the cookie, the options in order, the end mark, then zero padding up
 * to a vendor area of `vendLen` bytes (the area grows if the options need more). A value longer
 * than 255 bytes is a caller bug (RangeError); RFC 3396 long options are not produced.
 */
export function encodeBootp(m: BootpBuild, vendLen = BOOTP_VEND_LEN): Uint8Array {
  const opts = m.options ?? [];
  let need = 4 + 1;
  for (const o of opts) {
    if (o.code === DHO_PAD || o.code === DHO_END) throw new RangeError(`option ${o.code} has no value`);
    if (o.data.length > 255) throw new RangeError(`option ${o.code}: ${o.data.length} bytes, at most 255`);
    need += 2 + o.data.length;
  }
  const b = new Uint8Array(BOOTP_FIXED_LEN + Math.max(vendLen, need));
  const dv = new DataView(b.buffer);
  b[0] = m.op; b[1] = m.htype ?? 1; b[2] = m.hlen ?? m.chaddr.length; b[3] = m.hops ?? 0;
  dv.setUint32(4, m.xid >>> 0); dv.setUint16(8, m.secs ?? 0); dv.setUint16(10, m.flags ?? 0);
  dv.setUint32(12, (m.ciaddr ?? 0) >>> 0); dv.setUint32(16, (m.yiaddr ?? 0) >>> 0);
  dv.setUint32(20, (m.siaddr ?? 0) >>> 0); dv.setUint32(24, (m.giaddr ?? 0) >>> 0);
  b.set(m.chaddr.subarray(0, 16), 28);
  for (const [s, off, max] of [[m.sname ?? '', 44, 63], [m.file ?? '', 108, 127]] as const) {
    for (let i = 0; i < s.length && i < max; i++) b[off + i] = s.charCodeAt(i) & 0xff;
  }
  let o = BOOTP_FIXED_LEN;
  b.set(DHCP_MAGIC_COOKIE, o); o += 4;
  for (const opt of opts) { b[o++] = opt.code; b[o++] = opt.data.length; b.set(opt.data, o); o += opt.data.length; }
  b[o] = DHO_END;
  return b;
}

/**
 * Decode a BOOTP/DHCP payload (the UDP data). Null when shorter than the fixed part or when
 * hlen exceeds 16. Options are read up to the end mark or the end of the bytes; one whose
 * length runs past the end is dropped with everything after it, as Linux's parser stops there.
 */
export function parseBootp(b: Uint8Array): BootpMessage | null {
  if (b.length < BOOTP_FIXED_LEN) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const hlen = b[2]!;
  if (hlen > 16) return null;
  const m: BootpMessage = {
    op: b[0]!, htype: b[1]!, hlen, hops: b[3]!, xid: dv.getUint32(4), secs: dv.getUint16(8), flags: dv.getUint16(10),
    ciaddr: dv.getUint32(12), yiaddr: dv.getUint32(16), siaddr: dv.getUint32(20), giaddr: dv.getUint32(24),
    chaddr: b.slice(28, 28 + hlen), sname: cstring(b, 44, 64), file: cstring(b, 108, 128),
    cookie: false, options: [],
  };
  if (b.length < BOOTP_FIXED_LEN + 4 || DHCP_MAGIC_COOKIE.some((c, i) => b[BOOTP_FIXED_LEN + i] !== c)) return m;
  m.cookie = true;
  for (let o = BOOTP_FIXED_LEN + 4; o < b.length;) {
    const code = b[o]!;
    if (code === DHO_END) break;
    if (code === DHO_PAD) { o++; continue; }
    if (o + 1 >= b.length) break;
    const len = b[o + 1]!;
    if (o + 2 + len > b.length) break;
    m.options.push({ code, data: b.slice(o + 2, o + 2 + len) });
    o += 2 + len;
  }
  return m;
}

/** The first occurrence of option `code`, or undefined. */
export function dhcpOption(m: BootpMessage, code: number): Uint8Array | undefined {
  return m.options.find((o) => o.code === code)?.data;
}

/** The DHCP message type (option 53), or 0 for plain BOOTP. */
export function dhcpMessageType(m: BootpMessage): number {
  const v = dhcpOption(m, DHO_MESSAGE_TYPE);
  return v && v.length >= 1 ? v[0]! : 0;
}

/** Big-endian IPv4 addresses packed in an option value (routers, name servers...). */
export function optionAddrs(v: Uint8Array | undefined): number[] {
  const out: number[] = [];
  if (!v) return out;
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0);
  return out;
}

/** An option value of one IPv4 address. */
export function addrOption(code: number, a: number): DhcpOption {
  return { code, data: Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff) };
}
