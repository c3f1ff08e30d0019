/*
 * Socket addresses at the syscall boundary (move_addr_to_kernel / move_addr_to_user).
 *
 * Inside the kernel an address is always the exact bytes of a struct sockaddr_* with its length
 * (a Uint8Array of that length). A JavaScript caller may pass either those bytes or a plain
 * object, which is encoded here:
 *   { family: AF_UNIX, path }                 path: string/bytes; a leading "\0" makes it abstract
 *   { family: AF_INET, port, addr }           addr: "a.b.c.d" or a host-order number
 *   { family: AF_INET6, port, addr, flowinfo?, scope_id? }   addr: text ("::1") or 16 bytes
 * and an object given for an output address is filled with the same fields.
 */
import { fail } from '../../lib/errors.js';
import { toByteString, bytesToByteString, type ByteString } from '../../lib/bytestr.js';
import { EINVAL, EFAULT } from '../../uapi/errno.js';
import {
  AF_UNIX, AF_INET, AF_INET6, SOCKADDR_STORAGE_SIZE, SUN_PATH_OFFSET, SOCKADDR_IN_SIZE,
  SOCKADDR_IN6_SIZE, SIN_PORT_OFFSET, SIN_ADDR_OFFSET, SIN6_PORT_OFFSET, SIN6_FLOWINFO_OFFSET,
  SIN6_ADDR_OFFSET, SIN6_SCOPE_ID_OFFSET, UNIX_PATH_MAX,
} from '../../uapi/socket.js';

/** A decoded address, as objects carry it. */
export interface SockaddrObject {
  family: number;
  path?: string | Uint8Array;
  port?: number;
  addr?: string | number | Uint8Array;
  flowinfo?: number;
  scope_id?: number;
}

function ipv4Parse(a: string | number | Uint8Array | undefined): number {
  if (a === undefined) return 0;
  if (typeof a === 'number') return a >>> 0;
  if (a instanceof Uint8Array) { if (a.length < 4) fail(EINVAL); return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0; }
  const p = a.split('.');
  if (p.length !== 4) fail(EINVAL);
  let v = 0;
  for (const x of p) { const n = Number(x); if (!/^\d{1,3}$/.test(x) || n > 255) fail(EINVAL); v = v * 256 + n; }
  return v >>> 0;
}

export function ipv4Format(v: number): string { return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.'); }

/** Parse IPv6 text ("::1", "fe80::1", "::ffff:1.2.3.4") into 16 bytes. */
export function ipv6Parse(a: string | Uint8Array | number | undefined): Uint8Array {
  const out = new Uint8Array(16);
  if (a === undefined || typeof a === 'number') return out;
  if (a instanceof Uint8Array) { if (a.length < 16) fail(EINVAL); out.set(a.subarray(0, 16)); return out; }
  let s = a;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) { const n = ipv4Parse(v4[1]!); tail.push(n >>> 16, n & 0xffff); s = s.slice(0, -v4[1]!.length); if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1); }
  const halves = s.split('::');
  if (halves.length > 2) fail(EINVAL);
  const words = (h: string): number[] => (h === '' ? [] : h.split(':').map((w) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) fail(EINVAL);
    return parseInt(w, 16);
  }));
  const head = words(halves[0]!);
  const rest = halves.length === 2 ? words(halves[1]!) : [];
  const all = halves.length === 2
    ? [...head, ...new Array<number>(8 - head.length - rest.length - tail.length).fill(0), ...rest, ...tail]
    : [...head, ...tail];
  if (all.length !== 8) fail(EINVAL);
  all.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 255; });
  return out;
}

export function ipv6Format(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of two or more zero words becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i; while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  // inet_ntop writes IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible addresses with a dotted tail.
  if (best === 0 && (bestLen === 6 || (bestLen === 7 && w[7] !== 1) || (bestLen === 5 && w[5] === 0xffff))) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** Encode an address object into its ABI bytes. */
export function encodeSockaddr(o: SockaddrObject): Uint8Array {
  const family = o.family >>> 0;
  if (family === AF_UNIX) {
    const p: ByteString = o.path === undefined ? '' : typeof o.path === 'string' ? toByteString(o.path) : bytesToByteString(o.path, 0, o.path.length);
    if (p.length > UNIX_PATH_MAX) fail(EINVAL);
    const abstract = p.length > 0 && p.charCodeAt(0) === 0;
    const len = SUN_PATH_OFFSET + p.length + (abstract || p.length === 0 || p.length === UNIX_PATH_MAX ? 0 : 1);
    const b = new Uint8Array(len);
    b[0] = AF_UNIX;
    for (let i = 0; i < p.length; i++) b[SUN_PATH_OFFSET + i] = p.charCodeAt(i) & 0xff;
    return b;
  }
  if (family === AF_INET) {
    const b = new Uint8Array(SOCKADDR_IN_SIZE);
    const v = new DataView(b.buffer);
    v.setUint16(0, family, true);
    v.setUint16(SIN_PORT_OFFSET, (o.port ?? 0) & 0xffff, false);
    v.setUint32(SIN_ADDR_OFFSET, ipv4Parse(o.addr), false);
    return b;
  }
  if (family === AF_INET6) {
    const b = new Uint8Array(SOCKADDR_IN6_SIZE);
    const v = new DataView(b.buffer);
    v.setUint16(0, family, true);
    v.setUint16(SIN6_PORT_OFFSET, (o.port ?? 0) & 0xffff, false);
    v.setUint32(SIN6_FLOWINFO_OFFSET, (o.flowinfo ?? 0) >>> 0, false);
    b.set(ipv6Parse(o.addr), SIN6_ADDR_OFFSET);
    v.setUint32(SIN6_SCOPE_ID_OFFSET, (o.scope_id ?? 0) >>> 0, true);
    return b;
  }
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, family, true);
  return b;
}

/** Decode ABI bytes into an address object (the inverse of encodeSockaddr). */
export function decodeSockaddr(b: Uint8Array): SockaddrObject {
  if (b.length < 2) return { family: 0 };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, true);
  if (family === AF_UNIX) {
    const p = b.subarray(SUN_PATH_OFFSET);
    if (p.length && p[0] === 0) return { family, path: bytesToByteString(p, 0, p.length) };
    let end = p.indexOf(0); if (end < 0) end = p.length;
    return { family, path: bytesToByteString(p, 0, end) };
  }
  if (family === AF_INET && b.length >= 8) {
    return { family, port: v.getUint16(SIN_PORT_OFFSET, false), addr: ipv4Format(v.getUint32(SIN_ADDR_OFFSET, false)) };
  }
  if (family === AF_INET6 && b.length >= SOCKADDR_IN6_SIZE) {
    return {
      family, port: v.getUint16(SIN6_PORT_OFFSET, false), flowinfo: v.getUint32(SIN6_FLOWINFO_OFFSET, false),
      addr: ipv6Format(b.subarray(SIN6_ADDR_OFFSET, SIN6_ADDR_OFFSET + 16)), scope_id: v.getUint32(SIN6_SCOPE_ID_OFFSET, true),
    };
  }
  return { family };
}

function isAddrObject(a: unknown): a is SockaddrObject {
  return typeof a === 'object' && a !== null && !ArrayBuffer.isView(a) && typeof (a as SockaddrObject).family === 'number';
}

/**
 * move_addr_to_kernel: the address argument as bytes. EINVAL for a length outside
 * 0..sizeof(sockaddr_storage); EFAULT when the length runs past the caller's bytes.
 */
export function addrFromUser(arg: unknown, addrlen: unknown): Uint8Array {
  if (isAddrObject(arg)) return encodeSockaddr(arg);
  const len = typeof addrlen === 'number' ? addrlen | 0 : typeof addrlen === 'bigint' ? Number(addrlen) : 0;
  if (len < 0 || len > SOCKADDR_STORAGE_SIZE) fail(EINVAL);
  if (len === 0) return new Uint8Array(0);
  if (!(arg instanceof Uint8Array)) fail(EFAULT);
  if (arg.length < len) fail(EFAULT);
  return arg.slice(0, len);
}

/** Read an int through a pointer argument (socklen_t *): Int32Array, 4+ bytes, or {value}. */
export function getIntPtr(arg: unknown): number {
  if (arg instanceof Int32Array || arg instanceof Uint32Array) { if (!arg.length) fail(EFAULT); return arg[0]! | 0; }
  if (arg instanceof Uint8Array) { if (arg.length < 4) fail(EFAULT); return new DataView(arg.buffer, arg.byteOffset, 4).getInt32(0, true); }
  if (Array.isArray(arg)) return Number(arg[0]) | 0;
  if (typeof arg === 'object' && arg !== null && 'value' in arg) return Number((arg as { value: unknown }).value) | 0;
  fail(EFAULT);
}

export function putIntPtr(arg: unknown, v: number): void {
  if (arg instanceof Int32Array || arg instanceof Uint32Array) { arg[0] = v; return; }
  if (arg instanceof Uint8Array) { if (arg.length < 4) fail(EFAULT); new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true); return; }
  if (Array.isArray(arg)) { arg[0] = v; return; }
  if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return; }
  fail(EFAULT);
}

/**
 * move_addr_to_user: copy at most *addrlen bytes of `k` out and store its full length in
 * *addrlen. A plain-object address gets the decoded fields.
 */
export function addrToUser(k: Uint8Array, uaddr: unknown, ulenPtr: unknown): void {
  if (isAddrObject(uaddr) || (typeof uaddr === 'object' && uaddr !== null && !ArrayBuffer.isView(uaddr))) {
    for (const key of ['path', 'port', 'addr', 'flowinfo', 'scope_id']) delete (uaddr as Record<string, unknown>)[key];
    Object.assign(uaddr as object, decodeSockaddr(k));
    if (ulenPtr !== null && ulenPtr !== undefined && ulenPtr !== 0) putIntPtr(ulenPtr, k.length);
    return;
  }
  let len = getIntPtr(ulenPtr);
  if (len < 0) fail(EINVAL);
  if (len > k.length) len = k.length;
  if (len) {
    if (!(uaddr instanceof Uint8Array) || uaddr.length < len) fail(EFAULT);
    uaddr.set(k.subarray(0, len));
  }
  putIntPtr(ulenPtr, k.length);
}
