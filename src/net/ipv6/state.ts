/*
 * The IPv6 state of one network namespace, and the unit's registration.
 *
 * IPv6 keeps its own tables beside the IPv4 ones in src/net/core: addresses (struct
 * inet6_ifaddr, with the tentative/dadfailed flags of duplicate address detection), per-device
 * settings (struct inet6_dev: MTU and hop limit learned from router advertisements, the
 * multicast groups joined), the routing table (fib6, below), the path MTU cache, and the
 * registry of upper protocols (inet6_add_protocol). It is found with ipv6State(net); nothing is
 * kept at module level, so two kernels in one process are two hosts.
 *
 * The routing table is a list searched by longest prefix then lowest metric, as the IPv4 one:
 * connected prefixes (metric 256, proto kernel), fe80::/64 on every IPv6 device, prefixes and
 * default routers learned from router advertisements (proto ra, metric 1024 for the default,
 * with lifetimes), and static ones. Local addresses are answered from the address list.
 */
import { fail } from '../../lib/errors.js';
import { EADDRNOTAVAIL, EEXIST, EINVAL, ENETUNREACH, ENODEV, ESRCH } from '../../uapi/errno.js';
import { ETH_P_IPV6, IPV6_MIN_MTU, ipv6ToString } from '../header/index.js';
import { IFF_LOOPBACK, type NetDevice, type NetNamespace, type SkBuff } from '../core/index.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';
import {
  a6key, a6equal, a6isAny, a6isLoopback, a6isMulticast, a6isLinkLocal, a6prefixEqual, a6scopeRank,
  a6commonPrefixLen, a6prefix, IN6ADDR_LINKLOCAL_ALLNODES, IN6ADDR_INTERFACELOCAL_ALLNODES, IFA_SCOPE_LINK,
  a6scope, solicitedNode,
} from './addr.js';

// ifa_flags (uapi linux/if_addr.h)
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RTPROT_RA = 9;

/** Metrics Linux gives: connected and fe80::/64 routes 256, RA default routes 1024. */
export const IP6_RT_PRIO_ADDRCONF = 256;
export const IP6_RT_PRIO_USER = 1024;

/** struct inet6_ifaddr */
export interface Inet6IfAddr {
  dev: NetDevice;
  addr: Uint8Array;
  prefixLen: number;
  scope: number;
  flags: number;
  /** Lifetimes in seconds from `tstamp` (Infinity: forever). */
  validLft: number;
  preferredLft: number;
  tstamp: number;
  /** Learned from a router advertisement (SLAAC). */
  autoconf: boolean;
  dadProbes: number;
  dadNonce: Uint8Array | null;
  /** DAD's timer. */
  timer: KernelTimer | null;
  /** The lifetime timer of an autoconfigured address. */
  lftTimer: KernelTimer | null;
}

/** A route in the IPv6 table (struct fib6_info, reduced). */
export interface Route6 {
  dst: Uint8Array;
  prefixLen: number;
  /** null: on-link. */
  gateway: Uint8Array | null;
  dev: NetDevice;
  metric: number;
  protocol: number;
  /** Monotonic ns after which the route is gone (Infinity: never). */
  expires: number;
}

/** The per-device IPv6 settings (struct inet6_dev's cnf and learned values). */
export interface Inet6Dev {
  dev: NetDevice;
  mtu: number;
  hopLimit: number;
  /** Joined multicast groups by key, with reference counts. */
  mc: Map<string, { addr: Uint8Array; users: number }>;
  rsTimer: KernelTimer | null;
  rsProbes: number;
  rsInterval: number;
  /** An RA was received: stop soliciting. */
  raSeen: boolean;
  /** Reachable time / retransmit timer learned from RAs (ms), 0 = defaults. */
  reachableTimeMs: number;
  retransTimeMs: number;
}

/** The sysctls of net.ipv6 with Linux's defaults. */
export class Ipv6Sysctl {
  hop_limit = 64;
  ip6frag_high_thresh = 4 * 1024 * 1024;
  ip6frag_low_thresh = 3 * 1024 * 1024;
  ip6frag_time = 60;
  icmp_ratelimit = 1000;
  /** Which ICMPv6 types are rate limited: 0-1,3-127 (all errors but Packet Too Big). */
  icmp_ratemask = (t: number): boolean => t <= 1 || (t >= 3 && t <= 127);
  icmp_echo_ignore_all = 0;
  icmp_echo_ignore_multicast = 0;
  accept_ra = 1;
  autoconf = 1;
  dad_transmits = 1;
  rtr_solicits = -1;
  rtr_solicit_interval = 4;
  rtr_solicit_max_interval = 3600;
  rtr_solicit_delay = 1;
  /** Seconds a learned path MTU is kept (ip6_rt_mtu_expires). */
  mtu_expires = 600;
  forwarding = 0;
}

/** An upper protocol's receive side over IPv6 (inet6_protocol). skb.data at the transport header. */
export interface Inet6Protocol {
  handler(skb: SkBuff, h: Ip6RcvInfo): void;
  /** An ICMPv6 error about a packet we sent: quoted header fields and the transport bytes (at least 8). */
  errHandler?(e: Icmp6ErrorInfo): void;
}

export interface Ip6RcvInfo {
  saddr: Uint8Array;
  daddr: Uint8Array;
  hopLimit: number;
  trafficClass: number;
  dev: NetDevice;
}

export interface Icmp6ErrorInfo {
  type: number; code: number; info: number;
  saddr: Uint8Array; daddr: Uint8Array; nextHeader: number;
  payload: Uint8Array;
}

export interface Ip6SendParams {
  daddr: Uint8Array;
  /** Absent or :: = chosen from the route. */
  saddr?: Uint8Array;
  nextHeader: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  oif?: number;
  /** IPV6_DONTFRAG: EMSGSIZE instead of fragmenting. */
  dontFrag?: boolean;
}

export interface Rt6Result {
  local: boolean;
  dev: NetDevice;
  nexthop: Uint8Array;
  saddr: Uint8Array;
  mtu: number;
  route: Route6 | null;
}

export class Ipv6State {
  readonly net: NetNamespace;
  readonly sysctl = new Ipv6Sysctl();
  readonly addrs: Inet6IfAddr[] = [];
  readonly idevs = new Map<number, Inet6Dev>();
  readonly routes: Route6[] = [];
  readonly protos = new Map<number, Inet6Protocol>();
  /** Path MTUs learned from Packet Too Big, by destination key. */
  readonly pmtu = new Map<string, { mtu: number; expires: number }>();
  /** Listeners for address changes (for netlink). */
  readonly addrListeners: ((ev: 'add' | 'del' | 'change', ifa: Inet6IfAddr) => void)[] = [];
  /** Filled by the modules that own them (avoids import cycles). */
  hooks!: {
    dadStart(ifa: Inet6IfAddr): void;
    neighFlushDev(dev: NetDevice): void;
    /** MLD: a group was joined / left on dev (first join, last leave). */
    mcJoined?(dev: NetDevice, group: Uint8Array): void;
    mcLeft?(dev: NetDevice, group: Uint8Array): void;
  };

  constructor(net: NetNamespace) { this.net = net; }

  // --- devices -------------------------------------------------------------------------------

  idev(dev: NetDevice): Inet6Dev | undefined { return this.idevs.get(dev.ifindex); }
  /** ipv6_add_dev: IPv6 needs an MTU of at least 1280. */
  idevCreate(dev: NetDevice): Inet6Dev | undefined {
    let i = this.idevs.get(dev.ifindex);
    if (i) return i;
    if (dev.mtu < IPV6_MIN_MTU) return undefined;
    i = {
      dev, mtu: dev.mtu, hopLimit: this.sysctl.hop_limit, mc: new Map(), rsTimer: null, rsProbes: 0,
      rsInterval: this.sysctl.rtr_solicit_interval, raSeen: false, reachableTimeMs: 0, retransTimeMs: 0,
    };
    this.idevs.set(dev.ifindex, i);
    return i;
  }

  mcJoin(dev: NetDevice, group: Uint8Array): void {
    const i = this.idev(dev);
    if (!i) return;
    const k = a6key(group);
    const e = i.mc.get(k);
    if (e) { e.users++; return; }
    i.mc.set(k, { addr: group.slice(), users: 1 });
    this.hooks.mcJoined?.(dev, group);
  }
  mcLeave(dev: NetDevice, group: Uint8Array): void {
    const i = this.idev(dev);
    const e = i?.mc.get(a6key(group));
    if (!i || !e) return;
    if (--e.users <= 0) { i.mc.delete(a6key(group)); this.hooks.mcLeft?.(dev, group); }
  }
  /** ipv6_chk_mcast_addr: is dev a member of group? */
  mcMember(dev: NetDevice, group: Uint8Array): boolean { return this.idev(dev)?.mc.has(a6key(group)) ?? false; }

  // --- addresses -----------------------------------------------------------------------------

  addrsOf(dev: NetDevice): Inet6IfAddr[] { return this.addrs.filter((a) => a.dev === dev); }

  /** The address entry for `a` on dev (any device when dev is null), tentative ones included. */
  findAddr(a: Uint8Array, dev: NetDevice | null = null): Inet6IfAddr | undefined {
    return this.addrs.find((x) => (!dev || x.dev === dev) && a6equal(x.addr, a));
  }

  /**
   * ipv6_chk_addr: `a` is a usable (not tentative) address of ours. A link-local address must be
   * on the device it arrived on; others may be on any up device (the weak host model Linux uses).
   */
  isLocal(a: Uint8Array, dev: NetDevice | null = null): boolean {
    if (a6isLoopback(a)) return this.addrs.some((x) => a6isLoopback(x.addr) && x.dev.isUp);
    return this.addrs.some((x) => a6equal(x.addr, a) && x.dev.isUp && !(x.flags & IFA_F_TENTATIVE) &&
      (!dev || !a6isLinkLocal(a) || x.dev === dev || dev.flags & IFF_LOOPBACK));
  }

  /**
   * ipv6_add_addr + addrconf: adds the address (tentative, with DAD to run unless nodad or the
   * device cannot do it), joins its solicited-node group and adds the prefix route.
   */
  addrAdd(dev: NetDevice, addr: Uint8Array, prefixLen: number, o: {
    flags?: number; validLft?: number; preferredLft?: number; autoconf?: boolean; noPrefixRoute?: boolean;
  } = {}): Inet6IfAddr {
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) fail(EINVAL);
    if (a6isMulticast(addr) || a6isAny(addr)) fail(EINVAL);
    if (!this.net.devGetByIndex(dev.ifindex)) fail(ENODEV);
    const idev = this.idevCreate(dev);
    if (!idev) fail(EINVAL, 'IPv6 needs an MTU of 1280');
    if (this.findAddr(addr, dev)) fail(EEXIST);
    const nodad = (o.flags ?? 0) & IFA_F_NODAD || dev.flags & IFF_LOOPBACK || dev.flags & 0x80 /* IFF_NOARP */ ||
      this.sysctl.dad_transmits <= 0;
    const ifa: Inet6IfAddr = {
      dev, addr: addr.slice(0, 16), prefixLen, scope: a6scope(addr),
      flags: ((o.flags ?? IFA_F_PERMANENT) & ~IFA_F_TENTATIVE) | (nodad ? 0 : IFA_F_TENTATIVE),
      validLft: o.validLft ?? Infinity, preferredLft: o.preferredLft ?? Infinity, tstamp: this.net.now(),
      autoconf: o.autoconf ?? false, dadProbes: 0, dadNonce: null, timer: null, lftTimer: null,
    };
    this.addrs.push(ifa);
    this.mcJoin(dev, solicitedNode(addr));
    if (prefixLen < 128 && !o.noPrefixRoute && !(dev.flags & IFF_LOOPBACK)) {
      this.routeAddIfMissing({ dst: a6prefix(addr, prefixLen), prefixLen, gateway: null, dev, metric: IP6_RT_PRIO_ADDRCONF,
        protocol: RTPROT_KERNEL, expires: Infinity });
    }
    this.notifyAddr('add', ifa);
    if (ifa.flags & IFA_F_TENTATIVE && dev.isUp) this.hooks.dadStart(ifa);
    return ifa;
  }

  addrDel(dev: NetDevice, addr: Uint8Array, prefixLen?: number): void {
    const i = this.addrs.findIndex((x) => x.dev === dev && a6equal(x.addr, addr) && (prefixLen === undefined || x.prefixLen === prefixLen));
    if (i < 0) fail(EADDRNOTAVAIL);
    const ifa = this.addrs[i]!;
    this.addrs.splice(i, 1);
    ifa.timer?.cancel(); ifa.timer = null;
    ifa.lftTimer?.cancel(); ifa.lftTimer = null;
    this.mcLeave(dev, solicitedNode(ifa.addr));
    // The prefix route goes with the last address using it (and only the kernel's own).
    if (!this.addrs.some((x) => x.dev === dev && x.prefixLen === ifa.prefixLen && a6prefixEqual(x.addr, ifa.addr, ifa.prefixLen))) {
      this.routeRemove((r) => r.dev === dev && r.protocol === RTPROT_KERNEL && r.prefixLen === ifa.prefixLen &&
        a6prefixEqual(r.dst, ifa.addr, ifa.prefixLen) && !r.gateway && !a6isLinkLocal(r.dst));
    }
    this.notifyAddr('del', ifa);
  }

  notifyAddr(ev: 'add' | 'del' | 'change', ifa: Inet6IfAddr): void {
    for (const l of this.addrListeners) { try { l(ev, ifa); } catch (e) { this.net.oops('inet6 addr event', e); } }
  }

  /**
   * ipv6_dev_get_saddr (RFC 6724 source selection, the rules that matter on a host): usable
   * addresses only (not tentative, not dadfailed); the same address as the destination first;
   * then an appropriate scope (the smallest scope not narrower than the destination's, else the
   * widest); then not deprecated; then on the outgoing device; then the longest common prefix.
   */
  selectSource(dev: NetDevice | null, daddr: Uint8Array): Uint8Array | null {
    const dscope = a6scopeRank(daddr);
    let best: Inet6IfAddr | null = null;
    const better = (a: Inet6IfAddr, b: Inet6IfAddr): boolean => {
      if (a6equal(a.addr, daddr)) return true;
      if (a6equal(b.addr, daddr)) return false;
      const sa = a6scopeRank(a.addr), sb = a6scopeRank(b.addr);
      if (sa !== sb) {
        if (sa < sb) return sa >= dscope ? true : false;
        return sb >= dscope ? false : true;
      }
      const da = (a.flags & IFA_F_DEPRECATED) !== 0, db = (b.flags & IFA_F_DEPRECATED) !== 0;
      if (da !== db) return !da;
      const oa = a.dev === dev, ob = b.dev === dev;
      if (oa !== ob) return oa;
      return a6commonPrefixLen(a.addr, daddr) > a6commonPrefixLen(b.addr, daddr);
    };
    for (const a of this.addrs) {
      if (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) || !a.dev.isUp) continue;
      // Link-local and loopback sources only on their own device.
      if (a6scopeRank(a.addr) <= 2 && dev && a.dev !== dev && !(dev.flags & IFF_LOOPBACK)) continue;
      if (dscope <= 2 && a6scopeRank(a.addr) > dscope && dev && a.dev !== dev) continue;
      if (a6isLoopback(a.addr) && !a6isLoopback(daddr)) continue;
      if (!best || better(a, best)) best = a;
    }
    return best ? best.addr : null;
  }

  // --- routes --------------------------------------------------------------------------------

  routeAdd(r: Route6): void {
    if (this.routes.some((x) => sameRoute(x, r))) fail(EEXIST);
    if (r.gateway && !a6isLinkLocal(r.gateway) && !this.routes.some((x) => !x.gateway && x.dev === r.dev &&
      a6prefixEqual(x.dst, r.gateway!, x.prefixLen))) fail(ENETUNREACH);
    this.routes.push({ ...r, dst: a6prefix(r.dst, r.prefixLen) });
  }
  routeAddIfMissing(r: Route6): Route6 {
    const e = this.routes.find((x) => sameRoute(x, r));
    if (e) return e;
    const n = { ...r, dst: a6prefix(r.dst, r.prefixLen) };
    this.routes.push(n);
    return n;
  }
  routeDel(match: (r: Route6) => boolean): void {
    if (!this.routeRemove(match)) fail(ESRCH);
  }
  routeRemove(match: (r: Route6) => boolean): number {
    let n = 0;
    for (let i = this.routes.length - 1; i >= 0; i--) if (match(this.routes[i]!)) { this.routes.splice(i, 1); n++; }
    return n;
  }

  /** fib6_lookup: longest prefix, then lowest metric, over live routes on up devices. */
  routeLookup(daddr: Uint8Array, oif = 0): Route6 | null {
    const now = this.net.now();
    let best: Route6 | null = null;
    for (const r of this.routes) {
      if (r.expires <= now || !r.dev.isUp || (oif && r.dev.ifindex !== oif)) continue;
      if (!a6prefixEqual(r.dst, daddr, r.prefixLen)) continue;
      if (!best || r.prefixLen > best.prefixLen || (r.prefixLen === best.prefixLen && r.metric < best.metric)) best = r;
    }
    return best;
  }

  /** The MTU towards daddr through dev: the device's IPv6 MTU, lowered by a learned path MTU. */
  pathMtu(dev: NetDevice, daddr: Uint8Array): number {
    let mtu = Math.min(this.idev(dev)?.mtu ?? dev.mtu, dev.mtu);
    const p = this.pmtu.get(a6key(daddr));
    if (p) {
      if (p.expires <= this.net.now()) this.pmtu.delete(a6key(daddr));
      else mtu = Math.min(mtu, p.mtu);
    }
    return mtu;
  }

  /**
   * ip6_route_output + source selection. Local destinations go through loopback; multicast and
   * link-local destinations need a device (oif, else the route's); anything else takes the
   * longest matching route. ENETUNREACH without a route, EADDRNOTAVAIL without a source.
   */
  routeOutput(daddr: Uint8Array, saddr: Uint8Array | null = null, oif = 0): Rt6Result {
    const net = this.net;
    const want = saddr && !a6isAny(saddr) ? saddr : null;
    if (this.isLocal(daddr) && !a6isMulticast(daddr)) {
      const lo = net.loopback;
      if (!lo || !lo.isUp) fail(ENETUNREACH);
      return { local: true, dev: lo, nexthop: daddr, saddr: want ?? daddr, mtu: lo.mtu, route: null };
    }
    if (a6isLoopback(daddr)) fail(ENETUNREACH);
    let dev: NetDevice | undefined;
    let route: Route6 | null = null;
    let nexthop = daddr;
    if (a6isMulticast(daddr)) {
      dev = oif ? net.devGetByIndex(oif) : undefined;
      if (!dev) {
        for (const i of this.idevs.values()) if (i.dev.isUp && !(i.dev.flags & IFF_LOOPBACK)) { dev = i.dev; break; }
      }
      if (!dev || !dev.isUp) fail(ENETUNREACH);
    } else {
      route = this.routeLookup(daddr, oif);
      if (!route && oif && a6isLinkLocal(daddr)) {
        const d = net.devGetByIndex(oif);
        if (d && d.isUp && this.idev(d)) dev = d;
      }
      if (route) { dev = route.dev; if (route.gateway) nexthop = route.gateway; }
      if (!dev) fail(ENETUNREACH);
    }
    const src = want ?? this.selectSource(dev, daddr);
    if (!src) fail(EADDRNOTAVAIL);
    return { local: false, dev, nexthop, saddr: src, mtu: this.pathMtu(dev, daddr), route };
  }

  /** Groups every IPv6 device joins (all-nodes, interface- and link-local). */
  joinDefaultGroups(dev: NetDevice): void {
    this.mcJoin(dev, IN6ADDR_LINKLOCAL_ALLNODES);
    this.mcJoin(dev, IN6ADDR_INTERFACELOCAL_ALLNODES);
  }

  describe(a: Uint8Array): string { return ipv6ToString(a); }
}

function sameRoute(a: Route6, b: Route6): boolean {
  return a.dev === b.dev && a.prefixLen === b.prefixLen && a.metric === b.metric &&
    a6prefixEqual(a.dst, b.dst, a.prefixLen) &&
    (a.gateway === null ? b.gateway === null : b.gateway !== null && a6equal(a.gateway, b.gateway));
}

export const states = new WeakMap<NetNamespace, Ipv6State>();

/** The namespace's IPv6 state; throws ENODEV when ipv6Init never ran. */
export function ipv6State(net: NetNamespace): Ipv6State {
  return states.get(net) ?? fail(ENODEV, 'IPv6 not initialised');
}

export { ETH_P_IPV6, IFA_SCOPE_LINK };
