/*
 * IPv6 address helpers (include/net/ipv6.h, addrconf.h): classification by scope, the
 * solicited-node group of an address, the Ethernet multicast mapping (33:33 + the low 32 bits,
 * RFC 2464 section 7), modified EUI-64 interface identifiers (RFC 4291 appendix A), and a hex
 * key so addresses can index Maps.
 */

export const IN6ADDR_ANY: Readonly<Uint8Array> = new Uint8Array(16);
export const IN6ADDR_LOOPBACK: Readonly<Uint8Array> = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
export const IN6ADDR_LINKLOCAL_ALLNODES: Readonly<Uint8Array> = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
export const IN6ADDR_LINKLOCAL_ALLROUTERS: Readonly<Uint8Array> = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
export const IN6ADDR_INTERFACELOCAL_ALLNODES: Readonly<Uint8Array> = Uint8Array.of(0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

// Scopes as rtnetlink reports them for addresses (ifa_scope).
export const IFA_SCOPE_GLOBAL = 0;
export const IFA_SCOPE_SITE = 200;
export const IFA_SCOPE_LINK = 253;
export const IFA_SCOPE_HOST = 254;

/** Lower-case hex of the 16 bytes: a Map key. */
export function a6key(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += (a[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

export function a6equal(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function a6isAny(a: Uint8Array): boolean { for (let i = 0; i < 16; i++) if (a[i]) return false; return true; }
export function a6isLoopback(a: Uint8Array): boolean { return a6equal(a, IN6ADDR_LOOPBACK); }
export function a6isMulticast(a: Uint8Array): boolean { return a[0] === 0xff; }
export function a6isLinkLocal(a: Uint8Array): boolean { return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80; }
export function a6isV4Mapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i]) return false;
  return a[10] === 0xff && a[11] === 0xff;
}
/** The 4-bit scope field of a multicast address (1 interface-local, 2 link-local, 5 site, 14 global). */
export function a6mcScope(a: Uint8Array): number { return a[1]! & 0x0f; }

/** ipv6_addr_scope as ifa_scope: host for ::1, link for fe80::/10 and ff02::/16, global otherwise. */
export function a6scope(a: Uint8Array): number {
  if (a6isMulticast(a)) {
    const s = a6mcScope(a);
    return s === 1 ? IFA_SCOPE_HOST : s === 2 ? IFA_SCOPE_LINK : s === 5 ? IFA_SCOPE_SITE : IFA_SCOPE_GLOBAL;
  }
  if (a6isLoopback(a)) return IFA_SCOPE_HOST;
  if (a6isLinkLocal(a)) return IFA_SCOPE_LINK;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0xc0) return IFA_SCOPE_SITE;
  return IFA_SCOPE_GLOBAL;
}
/** Scope as RFC 6724 ranks it: larger is wider (host 1 < link 2 < site 5 < global 14). */
export function a6scopeRank(a: Uint8Array): number {
  const s = a6scope(a);
  return s === IFA_SCOPE_HOST ? 1 : s === IFA_SCOPE_LINK ? 2 : s === IFA_SCOPE_SITE ? 5 : 14;
}

/** ff02::1:ffXX:XXXX, the solicited-node group of `a` (RFC 4291 2.7.1). */
export function solicitedNode(a: Uint8Array): Uint8Array {
  const m = new Uint8Array(16);
  m[0] = 0xff; m[1] = 0x02; m[11] = 0x01; m[12] = 0xff;
  m[13] = a[13]!; m[14] = a[14]!; m[15] = a[15]!;
  return m;
}

/** ipv6_eth_mc_map: 33:33 followed by the group's last four bytes. */
export function ipv6EthMcMap(a: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, a[12]!, a[13]!, a[14]!, a[15]!);
}

/** The modified EUI-64 interface identifier of a 48-bit MAC: universal/local bit flipped, ff:fe inserted. */
export function eui64(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(mac[0]! ^ 0x02, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!);
}

/** prefix (first 64 bits) + interface identifier. */
export function a6fromPrefixIid(prefix: Uint8Array, iid: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a.set(prefix.subarray(0, 8), 0);
  a.set(iid.subarray(0, 8), 8);
  return a;
}

/** True when the first `plen` bits of a and b agree. */
export function a6prefixEqual(a: Uint8Array, b: Uint8Array, plen: number): boolean {
  const full = plen >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rem = plen & 7;
  if (!rem) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((a[full]! ^ b[full]!) & mask) === 0;
}

/** a with bits beyond plen cleared. */
export function a6prefix(a: Uint8Array, plen: number): Uint8Array {
  const r = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, plen - 8 * i));
    r[i] = a[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return r;
}

/** Length of the common prefix of a and b, in bits (RFC 6724 rule 8's CommonPrefixLen). */
export function a6commonPrefixLen(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x) return 8 * i + Math.clz32(x) - 24;
  }
  return 128;
}
