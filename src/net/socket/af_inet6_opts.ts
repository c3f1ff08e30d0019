/*
 * The IPPROTO_IPV6 socket options (do_ipv6_setsockopt / do_ipv6_getsockopt) every AF_INET6 kind
 * keeps, with Linux's defaults and errnos:
 *
 *   IPV6_V6ONLY          net.ipv6.bindv6only (0); EINVAL once the socket has a port. Binding to a
 *                        specific non-mapped address turns it on, as __inet6_bind does.
 *   IPV6_UNICAST_HOPS    -1 = the namespace's hop_limit (64); -1..255, else EINVAL
 *   IPV6_MULTICAST_HOPS  -1 = 1; IPV6_MULTICAST_LOOP 0/1 (default 1); IPV6_MULTICAST_IF an ifindex
 *                        (ENODEV) — the three refused by setsockopt on stream sockets (ENOPROTOOPT)
 *   IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP  struct ipv6_mreq {in6_addr; int ifindex} (20 bytes)
 *   IPV6_MTU_DISCOVER    0..5 (default IPV6_PMTUDISC_WANT); IPV6_MTU (>= 1280 or 0; get: the
 *                        path MTU of a connected socket, else ENOTCONN); IPV6_DONTFRAG
 *   IPV6_TCLASS          -1..255 (-1 = 0); IPV6_RECVERR, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT,
 *                        IPV6_RECVTCLASS, IPV6_FLOWINFO: booleans stored and reported
 * A value shorter than an int is EINVAL; an unknown name is ENOPROTOOPT.
 *
 * The option numbers are uapi linux/in6.h's; they belong in src/uapi/socket.ts.
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENODEV, ENOPROTOOPT, EADDRINUSE, EADDRNOTAVAIL } from '../../uapi/errno.js';
import type { NetNamespace } from '../core/index.js';
import { ipv6Stack } from '../ipv6/index.js';
import { intBytes } from './socket.js';

export const IPV6_ADDRFORM = 1, IPV6_FLOWINFO = 11, IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_IF = 17,
  IPV6_MULTICAST_HOPS = 18, IPV6_MULTICAST_LOOP = 19, IPV6_JOIN_GROUP = 20, IPV6_LEAVE_GROUP = 21,
  IPV6_MTU_DISCOVER = 23, IPV6_MTU = 24, IPV6_RECVERR = 25, IPV6_V6ONLY = 26, IPV6_RECVPKTINFO = 49,
  IPV6_PKTINFO = 50, IPV6_RECVHOPLIMIT = 51, IPV6_HOPLIMIT = 52, IPV6_DONTFRAG = 62, IPV6_RECVTCLASS = 66,
  IPV6_TCLASS = 67;
export const IPV6_PMTUDISC_DONT = 0, IPV6_PMTUDISC_WANT = 1, IPV6_PMTUDISC_DO = 2, IPV6_PMTUDISC_PROBE = 3,
  IPV6_PMTUDISC_INTERFACE = 4, IPV6_PMTUDISC_OMIT = 5;
/** SOL_ICMPV6 ICMP6_FILTER */
export const ICMP6_FILTER = 1;

export interface Ipv6Opts {
  v6only: number;
  hops: number;
  mcHops: number;
  mcLoop: number;
  mcIf: number;
  pmtudisc: number;
  mtu: number;
  dontfrag: number;
  tclass: number;
  recverr: number;
  recvpktinfo: number;
  recvhoplimit: number;
  recvtclass: number;
  flowinfo: number;
  /** Joined groups: `${ifindex}/${hex}` → (dev index, group). */
  groups: Map<string, { ifindex: number; group: Uint8Array }>;
}

export function newIpv6Opts(net: NetNamespace): Ipv6Opts {
  return {
    v6only: bindv6only(net), hops: -1, mcHops: -1, mcLoop: 1, mcIf: 0, pmtudisc: IPV6_PMTUDISC_WANT, mtu: 0,
    dontfrag: 0, tclass: 0, recverr: 0, recvpktinfo: 0, recvhoplimit: 0, recvtclass: 0, flowinfo: 0, groups: new Map(),
  };
}

/** net.ipv6.bindv6only: Linux's default 0 (dual-stack sockets). */
const bindv6onlyOf = new WeakMap<NetNamespace, number>();
export function bindv6only(net: NetNamespace): number { return bindv6onlyOf.get(net) ?? 0; }
export function setBindv6only(net: NetNamespace, v: number): void { bindv6onlyOf.set(net, v ? 1 : 0); }

function intArg(v: Uint8Array): number {
  if (v.length < 4) fail(EINVAL);
  return new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
}

export interface V6OptCtx {
  net: NetNamespace;
  stream: boolean;
  /** The socket holds a port (IPV6_V6ONLY may no longer change). */
  bound: boolean;
  /** The path MTU towards the connected peer, or null when not connected (IPV6_MTU). */
  pathMtu(): number | null;
}

const groupKey = (ifindex: number, g: Uint8Array) => `${ifindex}/${[...g].map((x) => x.toString(16)).join(':')}`;

/** do_ipv6_setsockopt for the options we keep; false when the name is not one of them. */
export function ipv6Setsockopt(o: Ipv6Opts, c: V6OptCtx, name: number, v: Uint8Array): boolean {
  switch (name) {
    case IPV6_V6ONLY: {
      const x = intArg(v);
      if (c.bound) fail(EINVAL);
      o.v6only = x ? 1 : 0; return true;
    }
    case IPV6_UNICAST_HOPS: {
      const x = intArg(v);
      if (x < -1 || x > 255) fail(EINVAL);
      o.hops = x; return true;
    }
    case IPV6_MULTICAST_HOPS: {
      if (c.stream) fail(ENOPROTOOPT);
      const x = intArg(v);
      if (x < -1 || x > 255) fail(EINVAL);
      o.mcHops = x === -1 ? 1 : x; return true;
    }
    case IPV6_MULTICAST_LOOP: {
      if (c.stream) fail(ENOPROTOOPT);
      const x = intArg(v);
      if (x !== 0 && x !== 1) fail(EINVAL);
      o.mcLoop = x; return true;
    }
    case IPV6_MULTICAST_IF: {
      if (c.stream) fail(ENOPROTOOPT);
      const x = intArg(v);
      if (x && !c.net.devGetByIndex(x)) fail(ENODEV);
      o.mcIf = x; return true;
    }
    case IPV6_JOIN_GROUP: case IPV6_LEAVE_GROUP: {
      if (c.stream) fail(ENOPROTOOPT);
      if (v.length < 20) fail(EINVAL);
      const group = v.slice(0, 16);
      if (group[0] !== 0xff) fail(EINVAL);
      let ifindex = new DataView(v.buffer, v.byteOffset + 16, 4).getInt32(0, true);
      const st = ipv6Stack(c.net).st;
      if (!ifindex) {
        try { ifindex = st.routeOutput(group).dev.ifindex; } catch { fail(ENODEV); }
      }
      const dev = c.net.devGetByIndex(ifindex) ?? fail(ENODEV);
      const k = groupKey(ifindex, group);
      if (name === IPV6_JOIN_GROUP) {
        if (o.groups.has(k)) fail(EADDRINUSE);
        st.mcJoin(dev, group);
        o.groups.set(k, { ifindex, group });
      } else {
        if (!o.groups.has(k)) fail(EADDRNOTAVAIL);
        o.groups.delete(k);
        st.mcLeave(dev, group);
      }
      return true;
    }
    case IPV6_MTU_DISCOVER: {
      const x = intArg(v);
      if (x < IPV6_PMTUDISC_DONT || x > IPV6_PMTUDISC_OMIT) fail(EINVAL);
      o.pmtudisc = x; return true;
    }
    case IPV6_MTU: {
      const x = intArg(v);
      if (x && x < 1280) fail(EINVAL);
      o.mtu = x; return true;
    }
    case IPV6_TCLASS: {
      const x = intArg(v);
      if (x < -1 || x > 0xff) fail(EINVAL);
      o.tclass = x === -1 ? 0 : x; return true;
    }
    case IPV6_DONTFRAG: o.dontfrag = intArg(v) ? 1 : 0; return true;
    case IPV6_RECVERR: o.recverr = intArg(v) ? 1 : 0; return true;
    case IPV6_RECVPKTINFO: o.recvpktinfo = intArg(v) ? 1 : 0; return true;
    case IPV6_RECVHOPLIMIT: o.recvhoplimit = intArg(v) ? 1 : 0; return true;
    case IPV6_RECVTCLASS: o.recvtclass = intArg(v) ? 1 : 0; return true;
    case IPV6_FLOWINFO: o.flowinfo = intArg(v) ? 1 : 0; return true;
  }
  return false;
}

export function ipv6Getsockopt(o: Ipv6Opts, c: V6OptCtx, name: number): Uint8Array | null {
  switch (name) {
    case IPV6_V6ONLY: return intBytes(o.v6only);
    case IPV6_UNICAST_HOPS: return intBytes(o.hops === -1 ? ipv6Stack(c.net).st.sysctl.hop_limit : o.hops);
    // Only setting them is refused on stream sockets.
    case IPV6_MULTICAST_HOPS: return intBytes(o.mcHops === -1 ? 1 : o.mcHops);
    case IPV6_MULTICAST_LOOP: return intBytes(o.mcLoop);
    case IPV6_MULTICAST_IF: return intBytes(o.mcIf);
    case IPV6_MTU_DISCOVER: return intBytes(o.pmtudisc);
    case IPV6_MTU: {
      const m = c.pathMtu();
      if (m === null) fail(107 /* ENOTCONN */);
      return intBytes(o.mtu ? Math.min(o.mtu, m) : m);
    }
    case IPV6_TCLASS: return intBytes(o.tclass);
    case IPV6_DONTFRAG: return intBytes(o.dontfrag);
    case IPV6_RECVERR: return intBytes(o.recverr);
    case IPV6_RECVPKTINFO: return intBytes(o.recvpktinfo);
    case IPV6_RECVHOPLIMIT: return intBytes(o.recvhoplimit);
    case IPV6_RECVTCLASS: return intBytes(o.recvtclass);
    case IPV6_FLOWINFO: return intBytes(o.flowinfo);
  }
  return null;
}

/** Leave every group the socket joined (on close). */
export function ipv6DropGroups(net: NetNamespace, o: Ipv6Opts): void {
  if (!o.groups.size) return;
  const st = ipv6Stack(net).st;
  for (const { ifindex, group } of o.groups.values()) {
    const dev = net.devGetByIndex(ifindex);
    if (dev) st.mcLeave(dev, group);
  }
  o.groups.clear();
}

/** The hop limit a unicast (or multicast) datagram of this socket carries, or undefined = default. */
export function hopLimitFor(o: Ipv6Opts, multicast: boolean): number | undefined {
  if (multicast) return o.mcHops === -1 ? 1 : o.mcHops;
  return o.hops === -1 ? undefined : o.hops;
}
