/*
 * struct sockaddr_in6 at the AF_INET6 socket boundary, and IPv4-mapped addresses.
 *
 * A sockaddr_in6 is 28 bytes: family, port (big-endian), flowinfo, the 16-byte address and
 * sin6_scope_id. Linux accepts 24 bytes (SIN6_LEN_RFC2133, the RFC 2133 layout without
 * scope_id) for bind, connect and sendto, and refuses anything shorter with EINVAL. The scope
 * id names the interface of a link-local address: bind/connect to fe80::/10 need one (or a
 * socket already bound to a device), and the addresses we hand back carry the interface index
 * for link-local (and link-local multicast) addresses and 0 for all others, as
 * ipv6_iface_scope_id does.
 *
 * Dual-stack sockets speak IPv4 through IPv4-mapped addresses (::ffff:a.b.c.d, RFC 4291
 * 2.5.5.2): a peer reached over IPv4 is reported with one, and connecting or sending to one
 * goes out over IPv4. toMapped/fromMapped convert between the two spellings.
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, EAFNOSUPPORT, EACCES, EADDRNOTAVAIL, ENODEV } from '../../uapi/errno.js';
import { AF_INET6, SOCKADDR_IN6_SIZE } from '../../uapi/socket.js';
import { CAP_NET_BIND_SERVICE } from '../../uapi/misc.js';
import type { Task } from '../../kernel/index.js';
import type { NetNamespace } from '../core/index.js';
import { ipv6Stack } from '../ipv6/index.js';

/** SIN6_LEN_RFC2133: the shortest sockaddr_in6 Linux accepts. */
export const SIN6_LEN_RFC2133 = 24;

export interface SockaddrIn6 { family: number; port: number; flowinfo: number; addr: Uint8Array; scopeId: number }

/** Decode the caller's bytes (family always; the rest when the length allows, else zeros). */
export function sin6Parse(b: Uint8Array): SockaddrIn6 {
  if (b.length < 2) fail(EINVAL);
  const family = b[0]! | (b[1]! << 8);
  const addr = new Uint8Array(16);
  if (b.length < SIN6_LEN_RFC2133) return { family, port: 0, flowinfo: 0, addr, scopeId: 0 };
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  addr.set(b.subarray(8, 24));
  return {
    family, port: dv.getUint16(2, false), flowinfo: dv.getUint32(4, false), addr,
    scopeId: b.length >= SOCKADDR_IN6_SIZE ? dv.getUint32(24, true) : 0,
  };
}

export function sin6Bytes(addr: Uint8Array, port: number, scopeId = 0, flowinfo = 0): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN6_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, port, false);
  dv.setUint32(4, flowinfo >>> 0, false);
  b.set(addr.subarray(0, 16), 8);
  dv.setUint32(24, scopeId >>> 0, true);
  return b;
}

export function isMapped(a: Uint8Array): boolean {
  if (a.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (a[i]) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** A host-order IPv4 address as ::ffff:a.b.c.d. */
export function toMapped(v4: number): Uint8Array {
  const a = new Uint8Array(16);
  a[10] = 0xff; a[11] = 0xff;
  a[12] = v4 >>> 24; a[13] = (v4 >>> 16) & 0xff; a[14] = (v4 >>> 8) & 0xff; a[15] = v4 & 0xff;
  return a;
}

/** The IPv4 address inside ::ffff:a.b.c.d (host order). */
export function fromMapped(a: Uint8Array): number {
  return ((a[12]! << 24) | (a[13]! << 16) | (a[14]! << 8) | a[15]!) >>> 0;
}

/** Link-local unicast, or multicast of link or interface scope: needs an interface. */
export function needsScope(a: Uint8Array): boolean {
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return true;
  return a[0] === 0xff && ((a[1]! & 0x0f) === 1 || (a[1]! & 0x0f) === 2);
}

/** ipv6_iface_scope_id: the index for scoped addresses, 0 for the rest. */
export function scopeIdFor(a: Uint8Array, ifindex: number): number { return needsScope(a) ? ifindex : 0; }

export function isAny6(a: Uint8Array): boolean { for (let i = 0; i < 16; i++) if (a[i]) return false; return true; }

/**
 * The checks of a bind(2) address common to every AF_INET6 kind (__inet6_bind): returns the
 * parsed address and the interface a link-local one names.
 */
export function bind6Check(net: NetNamespace, addr: Uint8Array, t: Task | null, boundIf: number, bound: boolean,
  v6only: boolean): { a: SockaddrIn6; ifindex: number } {
  if (addr.length < SIN6_LEN_RFC2133) fail(EINVAL);
  const a = sin6Parse(addr);
  if (a.family !== AF_INET6) fail(EAFNOSUPPORT);
  if (t && a.port && a.port < 1024 && !t.cred.capable(CAP_NET_BIND_SERVICE)) fail(EACCES);
  if (isMapped(a.addr) && v6only) fail(EINVAL);
  if (bound) fail(EINVAL);
  let ifindex = boundIf;
  if (isMapped(a.addr)) {
    const v4 = fromMapped(a.addr);
    if (v4 && v4 !== 0xffffffff && !net.isLocalAddr(v4) && (v4 >>> 28) !== 14) fail(EADDRNOTAVAIL);
    return { a, ifindex };
  }
  if (!isAny6(a.addr)) {
    if (needsScope(a.addr)) {
      if (a.scopeId) ifindex = a.scopeId;
      if (!ifindex) fail(EINVAL);
      if (!net.devGetByIndex(ifindex)) fail(ENODEV);
    }
    if (a.addr[0] !== 0xff) {
      const st = ipv6Stack(net).st;
      const dev = needsScope(a.addr) ? net.devGetByIndex(ifindex)! : null;
      const ifa = st.findAddr(a.addr, dev);
      if (!ifa || ifa.flags & 0x40 /* IFA_F_TENTATIVE */) fail(EADDRNOTAVAIL);
    }
  }
  return { a, ifindex };
}

