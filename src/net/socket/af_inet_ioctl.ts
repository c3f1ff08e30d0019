/*
 * Interface configuration through ioctl(2) on an AF_INET socket (net/core/dev_ioctl.c,
 * net/ipv4/devinet.c's devinet_ioctl, fib_frontend.c's ip_rt_ioctl): what ifconfig, route and
 * LKL's lkl_if_up / lkl_if_set_mtu use.
 *
 * The argument is a struct ifreq (40 bytes: the name, then a union holding a sockaddr, the
 * flags, the index or the MTU) or, for SIOCADDRT/SIOCDELRT, a struct rtentry (120 bytes; its
 * rt_dev pointer cannot be followed from JavaScript, so a device is chosen by the route, or
 * given as `dev` when the argument is an object { rtentry: bytes, dev: "eth0" }).
 *
 * Errors as Linux: EFAULT for a missing or short argument, EPERM for a change without
 * CAP_NET_ADMIN, ENODEV for an unknown name or index, EADDRNOTAVAIL when the device has no IPv4
 * address to report or adjust, EINVAL for a bad family, mask or MTU.
 *
 * Addresses follow devinet_ioctl: SIOCSIFADDR replaces the address labelled with the device's
 * name and gives it its classful prefix (/8, /16, /24); SIOCSIFNETMASK then changes the prefix.
 */
import { fail } from '../../lib/errors.js';
import {
  EFAULT, EPERM, ENODEV, EADDRNOTAVAIL, EINVAL, ENOTTY, EAFNOSUPPORT, ESRCH,
} from '../../uapi/errno.js';
import { AF_INET } from '../../uapi/socket.js';
import { CAP_NET_ADMIN } from '../../uapi/misc.js';
import {
  IFNAMSIZ, IFREQ_SIZE, IFR_UNION_OFFSET, SIOCGIFNAME, SIOCGIFINDEX, SIOCGIFFLAGS, SIOCSIFFLAGS,
  SIOCGIFMTU, SIOCSIFMTU, SIOCGIFADDR, SIOCSIFADDR, SIOCGIFNETMASK, SIOCSIFNETMASK, SIOCGIFBRDADDR,
  SIOCGIFHWADDR, SIOCADDRT, SIOCDELRT, SIOCGIFTXQLEN, SIOCGIFMETRIC, IFF_UP, IFF_USER_SETTABLE,
  IFF_RUNNING, RTENTRY_SIZE, RT_DST_OFFSET, RT_GATEWAY_OFFSET, RT_GENMASK_OFFSET, RT_FLAGS_OFFSET,
  RT_METRIC_OFFSET, RTF_GATEWAY, RTF_HOST, SIOCDIFADDR,
} from '../../uapi/if.js';
import type { Cred } from '../../kernel/index.js';
import { inetMakeMask } from '../header/index.js';
import { netOf, type NetNamespace, type NetDevice, type InIfAddr } from '../core/index.js';
import type { Socket } from './socket.js';

function callerCred(sock: Socket): Cred | null {
  return sock.kernel.current?.cred ?? sock.file?.cred ?? null;
}

function requireAdmin(sock: Socket): void {
  const c = callerCred(sock);
  if (!c || !c.capable(CAP_NET_ADMIN)) fail(EPERM);
}

/** The ifreq bytes of the argument; EFAULT when absent or short. */
function ifreqArg(arg: unknown): Uint8Array {
  if (!(arg instanceof Uint8Array) || arg.length < IFREQ_SIZE) fail(EFAULT);
  return arg;
}

function ifrName(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < IFNAMSIZ - 1 && b[i]; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function setIfrName(b: Uint8Array, name: string): void {
  b.fill(0, 0, IFNAMSIZ);
  for (let i = 0; i < name.length && i < IFNAMSIZ - 1; i++) b[i] = name.charCodeAt(i);
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);

function readSinAddr(b: Uint8Array, off: number): { family: number; addr: number } {
  return {
    family: b[off]! | (b[off + 1]! << 8),
    addr: ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0,
  };
}

function writeSinAddr(b: Uint8Array, off: number, addr: number): void {
  b.fill(0, off, off + 16);
  b[off] = AF_INET;
  b[off + 4] = addr >>> 24; b[off + 5] = (addr >>> 16) & 0xff; b[off + 6] = (addr >>> 8) & 0xff; b[off + 7] = addr & 0xff;
}

/** inet_abc_len: the classful prefix of an address; -1 for class D/E. */
export function inetAbcLen(addr: number): number {
  if (addr === 0) return 0;
  if ((addr >>> 31) === 0) return 8;
  if ((addr >>> 30) === 2) return 16;
  if ((addr >>> 29) === 6) return 24;
  return -1;
}

/** bad_mask: not a contiguous netmask. */
export function maskToPrefix(mask: number): number {
  mask >>>= 0;
  const inv = (~mask) >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  let n = 0;
  for (let m = mask; m & 0x80000000; m = (m << 1) >>> 0) n++;
  return n;
}

function devByName(net: NetNamespace, name: string): NetDevice {
  return net.devGetByName(name) ?? fail(ENODEV);
}

/** The address devinet_ioctl works on: the one labelled with the device name (the primary). */
function labelledAddr(net: NetNamespace, dev: NetDevice, name: string): InIfAddr | undefined {
  return net.addrsOf(dev).find((a) => a.label === name) ?? net.addrsOf(dev)[0];
}

/** dev_change_flags: IFF_UP opens or closes the device; other user flags are stored. */
export function devChangeFlags(net: NetNamespace, dev: NetDevice, flags: number): void {
  const keep = dev.flags & ~IFF_USER_SETTABLE;
  const want = flags & IFF_USER_SETTABLE;
  if ((want & IFF_UP) && !dev.isUp) net.devOpen(dev);
  else if (!(want & IFF_UP) && dev.isUp) net.devClose(dev);
  dev.flags = (dev.flags & (IFF_UP | IFF_RUNNING | keep)) | (want & ~IFF_UP);
}

/** The interface ioctls of an AF_INET socket; ENOTTY for anything else. */
export function inetIoctl(sock: Socket, cmd: number, arg: unknown): number {
  const net = netOf(sock.kernel);
  switch (cmd) {
    case SIOCADDRT: case SIOCDELRT: return routeIoctl(sock, net, cmd, arg);
    case SIOCGIFNAME: {
      const b = ifreqArg(arg);
      const dev = net.devGetByIndex(dv(b).getInt32(IFR_UNION_OFFSET, true)) ?? fail(ENODEV);
      setIfrName(b, dev.name);
      return 0;
    }
    case SIOCGIFINDEX: case SIOCGIFFLAGS: case SIOCGIFMTU: case SIOCGIFHWADDR: case SIOCGIFTXQLEN:
    case SIOCGIFMETRIC: {
      const b = ifreqArg(arg);
      const dev = devByName(net, ifrName(b));
      const d = dv(b);
      b.fill(0, IFR_UNION_OFFSET, IFREQ_SIZE);
      if (cmd === SIOCGIFINDEX) d.setInt32(IFR_UNION_OFFSET, dev.ifindex, true);
      else if (cmd === SIOCGIFFLAGS) d.setInt16(IFR_UNION_OFFSET, dev.flags & 0xffff, true);
      else if (cmd === SIOCGIFMTU) d.setInt32(IFR_UNION_OFFSET, dev.mtu, true);
      else if (cmd === SIOCGIFTXQLEN) d.setInt32(IFR_UNION_OFFSET, dev.txQueueLen, true);
      else if (cmd === SIOCGIFMETRIC) d.setInt32(IFR_UNION_OFFSET, 0, true);
      else {
        d.setUint16(IFR_UNION_OFFSET, dev.type, true);
        b.set(dev.mac.subarray(0, Math.min(dev.mac.length, 14)), IFR_UNION_OFFSET + 2);
      }
      return 0;
    }
    case SIOCSIFFLAGS: {
      const b = ifreqArg(arg);
      requireAdmin(sock);
      const dev = devByName(net, ifrName(b));
      devChangeFlags(net, dev, dv(b).getUint16(IFR_UNION_OFFSET, true));
      return 0;
    }
    case SIOCSIFMTU: {
      const b = ifreqArg(arg);
      requireAdmin(sock);
      const dev = devByName(net, ifrName(b));
      const mtu = dv(b).getInt32(IFR_UNION_OFFSET, true);
      if (mtu < 0) fail(EINVAL);
      if (mtu !== dev.mtu) net.devSetMtu(dev, mtu);
      return 0;
    }
    case SIOCGIFADDR: case SIOCGIFNETMASK: case SIOCGIFBRDADDR: {
      const b = ifreqArg(arg);
      const name = ifrName(b);
      const dev = devByName(net, name);
      const a = labelledAddr(net, dev, name) ?? fail(EADDRNOTAVAIL);
      writeSinAddr(b, IFR_UNION_OFFSET, cmd === SIOCGIFADDR ? a.local : cmd === SIOCGIFNETMASK ? a.mask : a.broadcast);
      return 0;
    }
    case SIOCSIFADDR: case SIOCSIFNETMASK: case SIOCDIFADDR: {
      const b = ifreqArg(arg);
      requireAdmin(sock);
      const sin = readSinAddr(b, IFR_UNION_OFFSET);
      if (sin.family !== AF_INET) fail(EINVAL);
      const name = ifrName(b);
      const dev = devByName(net, name);
      const cur = labelledAddr(net, dev, name);
      if (cmd === SIOCDIFADDR) {
        if (!cur) fail(EADDRNOTAVAIL);
        net.inetAddrDel(dev, cur.local, cur.prefixLen);
        return 0;
      }
      if (cmd === SIOCSIFADDR) {
        const plen = inetAbcLen(sin.addr);
        if (plen < 0) fail(EINVAL);
        if (cur && cur.local === sin.addr) return 0;
        if (cur) net.inetAddrDel(dev, cur.local, cur.prefixLen);
        if (sin.addr === 0) return 0; // "ifconfig eth0 0.0.0.0" only removes
        net.inetAddrAdd(dev, sin.addr, plen);
        return 0;
      }
      if (!cur) fail(EADDRNOTAVAIL);
      const plen = maskToPrefix(sin.addr);
      if (plen < 0) fail(EINVAL);
      if (plen !== cur.prefixLen) {
        const local = cur.local;
        net.inetAddrDel(dev, local, cur.prefixLen);
        net.inetAddrAdd(dev, local, plen);
      }
      return 0;
    }
  }
  fail(ENOTTY);
}

/** ip_rt_ioctl: add or delete an IPv4 route described by a struct rtentry. */
function routeIoctl(sock: Socket, net: NetNamespace, cmd: number, arg: unknown): number {
  let b: Uint8Array;
  let devName: string | null = null;
  if (arg instanceof Uint8Array) b = arg;
  else if (typeof arg === 'object' && arg !== null && (arg as { rtentry?: unknown }).rtentry instanceof Uint8Array) {
    b = (arg as { rtentry: Uint8Array }).rtentry;
    devName = (arg as { dev?: string }).dev ?? null;
  } else fail(EFAULT);
  if (b.length < RTENTRY_SIZE) fail(EFAULT);
  requireAdmin(sock);
  const d = dv(b);
  const dst = readSinAddr(b, RT_DST_OFFSET), gw = readSinAddr(b, RT_GATEWAY_OFFSET), mask = readSinAddr(b, RT_GENMASK_OFFSET);
  const flags = d.getUint16(RT_FLAGS_OFFSET, true);
  const metric = d.getInt16(RT_METRIC_OFFSET, true);
  // rtentry_to_fib_config
  if (dst.family !== AF_INET) fail(EAFNOSUPPORT);
  let plen = 32;
  if (!(flags & RTF_HOST)) {
    if (mask.family !== AF_INET && mask.family !== 0) fail(EAFNOSUPPORT);
    plen = maskToPrefix(mask.addr);
    if (plen < 0) fail(EINVAL);
    if ((dst.addr & ~inetMakeMask(plen)) >>> 0) fail(EINVAL);
  }
  let oif = 0;
  if (devName !== null) oif = (net.devGetByName(devName) ?? fail(ENODEV)).ifindex;
  let gateway = 0;
  if (flags & RTF_GATEWAY) {
    if (gw.family !== AF_INET) fail(EAFNOSUPPORT);
    gateway = gw.addr;
  }
  const r: { dst: number; prefixLen: number; gateway?: number; oif?: number; metric?: number } = { dst: dst.addr, prefixLen: plen };
  if (gateway) r.gateway = gateway;
  if (oif) r.oif = oif;
  if (metric) r.metric = metric - 1;
  if (cmd === SIOCADDRT) {
    if (!gateway && !oif) fail(ENODEV);
    net.routeAdd(r);
  } else {
    try { net.routeDel(r); } catch (e) { if ((e as { errno?: number }).errno === ESRCH) fail(ESRCH); throw e; }
  }
  return 0;
}


