/*
 * The network namespace: everything one kernel's stack holds — devices, IPv4 addresses, the
 * routing table, the registered protocols, the receive backlog and the sysctls. One per kernel,
 * found with netOf(kernel); no module-level state, so two kernels in one process are two hosts.
 *
 * Registration (how rank-7 units plug in; gVisor's registration.go, Linux's dev_add_pack and
 * inet_add_protocol):
 *   devAddPack(ethertype, fn)      link-layer demux: ipv4 registers ETH_P_IP, arp ETH_P_ARP.
 *   inetAddProtocol(proto, p)      IP protocol demux: icmp 1, udp 17, tcp 6.
 *   neighRegister(ethertype, ops)  neighbour resolution for a network protocol (arp for IPv4).
 *   ipv4 / icmpSend                the output path and the ICMP error sender, set by the ipv4 and
 *                                  icmp units so that udp and tcp can reach them without
 *                                  importing a unit of their own rank.
 *
 * Receive path: driver -> netifRx (queue, wake the worker) ... worker -> processBacklog ->
 * dev.typeTrans (strip link header) -> packet handler (ip_rcv) -> inet protocol handler.
 * Transmit path: protocol -> ipv4.queueXmit -> routeOutput -> neighOutput -> dev.headerOps.create
 * -> devQueueXmit -> dev.ops.xmit. Handlers run inside a try/catch: a malformed packet that
 * trips a bug is logged as an oops and dropped, never thrown out of the stack.
 */
import { fail } from '../../lib/errors.js';
import { EADDRNOTAVAIL, EEXIST, EINVAL, ENETDOWN, ENETUNREACH, ENODEV, ENOBUFS, ESRCH, ENFILE } from '../../uapi/errno.js';
import type { Clock } from '../../kernel/ktime/index.js';
import type { Printk } from '../../kernel/printk/index.js';
import {
  inetMakeMask, ipv4IsLoopback, ipv4IsMulticast, INADDR_BROADCAST, ipv4ToString, type Ipv4Header,
} from '../header/index.js';
import { SkBuff } from './skb.js';
import { NetDevice, IFF_UP, IFF_RUNNING, IFF_LOOPBACK, IFF_NOARP, IFF_LOWER_UP, IFNAMSIZ } from './netdevice.js';
import { FibTable, RTPROT_KERNEL, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RTPROT_BOOT, type Route } from './route.js';

/** What the stack needs from the kernel; the Kernel object satisfies it structurally. */
export interface NetKernel {
  readonly clock: Clock;
  readonly printk: Printk;
  readonly host: { entropy(buf: Uint8Array): void };
  /** Run fn from the kernel worker (schedule_work): the bottom half of every receive. */
  queueWork(fn: () => void | Promise<void>): void;
  onShutdown(fn: () => void | Promise<void>): void;
  /** The mem= budget; buffered packets are charged to it as 'sock' pages. */
  readonly mem?: { tryCharge(kind: 'sock', pages: number): boolean; uncharge(kind: 'sock', pages: number): void };
}

/** An IPv4 address on a device (struct in_ifaddr). */
export interface InIfAddr {
  dev: NetDevice;
  local: number;
  prefixLen: number;
  mask: number;
  broadcast: number;
  label: string;
}

export type PacketHandler = (skb: SkBuff, dev: NetDevice) => void;

/** An error reported by ICMP about a packet we sent, for the protocol that sent it. */
export interface IcmpErrorInfo {
  type: number; code: number; info: number;
  /** The quoted IP header of our packet. */
  iph: Ipv4Header;
  /** The quoted transport bytes (at least 8). */
  payload: Uint8Array;
}

/** An IP protocol's receive side (struct net_protocol). skb.data is at the transport header. */
export interface InetProtocol {
  handler(skb: SkBuff, iph: Ipv4Header): void;
  errHandler?(e: IcmpErrorInfo): void;
}

export interface IpSendParams {
  daddr: number;
  /** 0: chosen from the route. */
  saddr?: number;
  protocol: number;
  ttl?: number;
  tos?: number;
  /** Set DF (no fragmentation; EMSGSIZE when too big). */
  df?: boolean;
  /** Bind to this output ifindex (SO_BINDTODEVICE). */
  oif?: number;
}

/** The IPv4 output path as the ipv4 unit registers it. skb.data is at the transport header. */
export interface Ipv4Output {
  /** Route, add the IP header, fragment if needed and send. Throws ENETUNREACH, EMSGSIZE... */
  queueXmit(skb: SkBuff, p: IpSendParams): void;
}

/** Neighbour resolution for one network protocol (struct neigh_table's output side). */
export interface NeighOps {
  /** Send skb (network header at data) to `nexthop` on `dev`, resolving its link address. */
  output(skb: SkBuff, dev: NetDevice, nexthop: number): void;
  /** Forget entries on a device that went down. */
  flushDev?(dev: NetDevice): void;
}

export type IcmpSender = (skbIn: SkBuff, type: number, code: number, info: number) => void;

// Route types (rtm_type).
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_MULTICAST = 5;

export interface RtResult {
  type: number;
  dev: NetDevice;
  /** Where to send on the link: the gateway, or the destination itself. */
  nexthop: number;
  saddr: number;
  route: Route | null;
}

export type NetdevEvent = 'register' | 'up' | 'down' | 'unregister' | 'change_mtu' | 'addr_add' | 'addr_del';

/** The sysctls of net.core, net.ipv4 and net.ipv4.neigh.default, with Linux's defaults. */
export class NetSysctl {
  ip_default_ttl = 64;
  ip_forward = 0;
  ip_local_port_range: [number, number] = [32768, 60999];
  ipfrag_high_thresh = 4 * 1024 * 1024;
  ipfrag_low_thresh = 3 * 1024 * 1024;
  /** Seconds a partial datagram is kept. */
  ipfrag_time = 30;
  ipfrag_max_dist = 64;
  netdev_max_backlog = 1000;
  /** net.core.somaxconn: the largest listen backlog (listen(2) clamps to it). */
  somaxconn = 4096;
  icmp_echo_ignore_all = 0;
  icmp_echo_ignore_broadcasts = 1;
  icmp_ratelimit = 1000;
  icmp_ratemask = 0x1818;
  // net.ipv4.neigh.default
  base_reachable_time_ms = 30000;
  retrans_time_ms = 1000;
  mcast_solicit = 3;
  ucast_solicit = 3;
  app_solicit = 0;
  delay_first_probe_time = 5;
  gc_stale_time = 60;
  unres_qlen_bytes = 212992;
  arp_accept = 0;
  udp_rmem_default = 212992;
}

const nets = new WeakMap<object, NetNamespace>();

/** The namespace of a kernel, created on first use. */
export function netNsInit(k: NetKernel): NetNamespace {
  let n = nets.get(k);
  if (!n) { n = new NetNamespace(k); nets.set(k, n); }
  return n;
}
/** The namespace of a kernel; throws ENODEV when the stack was never initialised. */
export function netOf(k: object): NetNamespace {
  return nets.get(k) ?? fail(ENODEV, 'network stack not initialised');
}

export class NetNamespace {
  readonly k: NetKernel;
  readonly sysctl = new NetSysctl();
  readonly devices = new Map<number, NetDevice>();
  readonly ifaddrs: InIfAddr[] = [];
  readonly fib = new FibTable();
  readonly ptypes = new Map<number, PacketHandler>();
  readonly inetProtos = new Map<number, InetProtocol>();
  readonly neigh = new Map<number, NeighOps>();
  ipv4: Ipv4Output | null = null;
  icmpSend: IcmpSender = () => {};
  private listeners: ((ev: NetdevEvent, dev: NetDevice, ifa?: InIfAddr) => void)[] = [];
  private nextIfindex = 1;
  private backlog: SkBuff[] = [];
  private backlogScheduled = false;
  halted = false;
  /** Bytes of packets held (backlog, socket queues, reassembly) and the pages charged for them. */
  private heldBytes = 0;
  private heldPages = 0;
  /** MIB counters (Ip:, Icmp:, Udp: lines of /proc/net/snmp), by name. */
  readonly mib = new Map<string, number>();

  constructor(k: NetKernel) {
    this.k = k;
    k.onShutdown(() => this.shutdown());
  }

  now(): number { return this.k.clock.monotonicNs(); }
  random32(): number {
    const b = new Uint8Array(4);
    this.k.host.entropy(b);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  count(name: string, n = 1): void { this.mib.set(name, (this.mib.get(name) ?? 0) + n); }

  /**
   * Charge `bytes` of buffered packet data to the kernel's memory budget (whole pages, as
   * 'sock'). False when memory is exhausted: the caller drops the packet, as Linux does when
   * an allocation fails under pressure. Every successful charge is paired with memUncharge.
   */
  memCharge(bytes: number): boolean {
    const pages = Math.ceil((this.heldBytes + bytes) / 4096);
    if (pages > this.heldPages && this.k.mem && !this.k.mem.tryCharge('sock', pages - this.heldPages)) return false;
    if (pages > this.heldPages) this.heldPages = pages;
    this.heldBytes += bytes;
    return true;
  }
  memUncharge(bytes: number): void {
    this.heldBytes = Math.max(0, this.heldBytes - bytes);
    const pages = Math.ceil(this.heldBytes / 4096);
    if (pages < this.heldPages) { this.k.mem?.uncharge('sock', this.heldPages - pages); this.heldPages = pages; }
  }
  get memHeldBytes(): number { return this.heldBytes; }

  // --- devices ------------------------------------------------------------------------------

  /** register_netdevice: assigns the ifindex and resolves a "%d" name template. */
  registerNetdevice(dev: NetDevice): void {
    if (this.halted) fail(ENODEV);
    if (dev.name.includes('%d')) {
      let i = 0;
      while (this.devGetByName(dev.name.replace('%d', String(i)))) i++;
      dev.name = dev.name.replace('%d', String(i));
    }
    if (!dev.name || dev.name.length >= IFNAMSIZ || /[/:\s]/.test(dev.name)) fail(EINVAL);
    if (this.devGetByName(dev.name)) fail(EEXIST);
    if (this.nextIfindex > 0x7fffffff) fail(ENFILE);
    dev.ifindex = this.nextIfindex++;
    this.devices.set(dev.ifindex, dev);
    this.notify('register', dev);
  }

  unregisterNetdevice(dev: NetDevice): void {
    if (this.devices.get(dev.ifindex) !== dev) return;
    if (dev.isUp) this.devClose(dev);
    for (const a of this.ifaddrs.filter((x) => x.dev === dev)) this.inetAddrDel(dev, a.local, a.prefixLen);
    this.fib.remove({ dev });
    this.devices.delete(dev.ifindex);
    this.notify('unregister', dev);
    dev.ops.uninit?.(dev);
  }

  devGetByIndex(ifindex: number): NetDevice | undefined { return this.devices.get(ifindex); }
  devGetByName(name: string): NetDevice | undefined {
    for (const d of this.devices.values()) if (d.name === name) return d;
    return undefined;
  }
  get loopback(): NetDevice | undefined {
    for (const d of this.devices.values()) if (d.flags & IFF_LOOPBACK) return d;
    return undefined;
  }

  /** dev_open ("ip link set X up"): idempotent. */
  devOpen(dev: NetDevice): void {
    if (dev.isUp) return;
    dev.ops.open?.(dev);
    dev.flags |= IFF_UP;
    if (dev.carrier) dev.flags |= IFF_RUNNING | IFF_LOWER_UP;
    // inetdev: a loopback device gets 127.0.0.1/8 when it comes up without an address.
    if (dev.flags & IFF_LOOPBACK && !this.ifaddrs.some((a) => a.dev === dev)) {
      this.inetAddrAdd(dev, 0x7f000001, 8);
    }
    for (const a of this.ifaddrs) if (a.dev === dev) this.addConnectedRoute(a);
    this.notify('up', dev);
  }

  /** dev_close: routes through the device go, neighbour entries are flushed. */
  devClose(dev: NetDevice): void {
    if (!dev.isUp) return;
    dev.flags &= ~(IFF_UP | IFF_RUNNING | IFF_LOWER_UP);
    this.fib.remove({ dev });
    for (const n of this.neigh.values()) n.flushDev?.(dev);
    dev.ops.stop?.(dev);
    this.notify('down', dev);
  }

  /** netif_carrier_on/off from a driver. */
  setCarrier(dev: NetDevice, on: boolean): void {
    dev.carrier = on;
    if (on && dev.isUp) dev.flags |= IFF_RUNNING | IFF_LOWER_UP;
    else dev.flags &= ~(IFF_RUNNING | IFF_LOWER_UP);
  }

  /** dev_set_mtu: EINVAL outside the device's [minMtu, maxMtu]. */
  devSetMtu(dev: NetDevice, mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < dev.minMtu || mtu > dev.maxMtu) fail(EINVAL);
    dev.mtu = mtu;
    this.notify('change_mtu', dev);
  }

  onNetdevEvent(fn: (ev: NetdevEvent, dev: NetDevice, ifa?: InIfAddr) => void): void { this.listeners.push(fn); }
  private notify(ev: NetdevEvent, dev: NetDevice, ifa?: InIfAddr): void {
    for (const l of this.listeners) {
      try { l(ev, dev, ifa); } catch (e) { this.oops(`netdev event ${ev}`, e); }
    }
  }

  // --- IPv4 addresses -------------------------------------------------------------------------

  /** Adds local/prefixLen to dev ("ip addr add"); EEXIST when present, EINVAL on a bad prefix. */
  inetAddrAdd(dev: NetDevice, local: number, prefixLen: number, broadcast?: number): InIfAddr {
    if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) fail(EINVAL);
    if (this.devices.get(dev.ifindex) !== dev) fail(ENODEV);
    if (this.ifaddrs.some((a) => a.dev === dev && a.local === local)) fail(EEXIST);
    const mask = inetMakeMask(prefixLen);
    const ifa: InIfAddr = {
      dev, local: local >>> 0, prefixLen, mask,
      broadcast: broadcast ?? (prefixLen < 31 ? ((local & mask) | ~mask) >>> 0 : 0),
      label: dev.name,
    };
    this.ifaddrs.push(ifa);
    if (dev.isUp) this.addConnectedRoute(ifa);
    this.notify('addr_add', dev, ifa);
    return ifa;
  }

  inetAddrDel(dev: NetDevice, local: number, prefixLen?: number): void {
    const i = this.ifaddrs.findIndex((a) => a.dev === dev && a.local === local >>> 0 &&
      (prefixLen === undefined || a.prefixLen === prefixLen));
    if (i < 0) fail(EADDRNOTAVAIL);
    const ifa = this.ifaddrs[i]!;
    this.ifaddrs.splice(i, 1);
    this.fib.remove({ dev, dst: (ifa.local & ifa.mask) >>> 0, prefixLen: ifa.prefixLen, protocol: RTPROT_KERNEL });
    // Routes that used it as their preferred source go too (fib_del_ifaddr).
    this.fib.remove({ prefsrc: ifa.local, dev });
    this.notify('addr_del', dev, ifa);
  }

  addrsOf(dev: NetDevice): InIfAddr[] { return this.ifaddrs.filter((a) => a.dev === dev); }

  private addConnectedRoute(ifa: InIfAddr): void {
    // A loopback prefix is "local", answered by isLocalAddr; /32 needs no connected route.
    if (ifa.dev.flags & IFF_LOOPBACK || ifa.prefixLen === 32) return;
    this.fib.add({
      dst: ifa.local, prefixLen: ifa.prefixLen, gateway: 0, dev: ifa.dev, metric: 0,
      prefsrc: ifa.local, protocol: RTPROT_KERNEL, scope: RT_SCOPE_LINK,
    });
  }

  /** The device owning `addr` as a local address (an address on an up device, or lo's prefix). */
  localDev(addr: number): NetDevice | null {
    for (const a of this.ifaddrs) {
      if (!a.dev.isUp) continue;
      if (a.local === addr) return a.dev;
      if (a.dev.flags & IFF_LOOPBACK && ((addr & a.mask) >>> 0) === ((a.local & a.mask) >>> 0)) return a.dev;
    }
    return null;
  }
  isLocalAddr(addr: number): boolean { return this.localDev(addr) !== null; }

  /** A broadcast address of dev (limited, or a directed one of its subnets). */
  isBroadcastOn(addr: number, dev: NetDevice): boolean {
    if (addr === INADDR_BROADCAST) return true;
    for (const a of this.ifaddrs) if (a.dev === dev && a.broadcast && a.broadcast === addr) return true;
    return false;
  }

  /** inet_select_addr: a source for reaching `dst` through dev. */
  inetSelectAddr(dev: NetDevice, dst: number): number {
    let first = 0;
    for (const a of this.ifaddrs) {
      if (a.dev !== dev) continue;
      if (((dst & a.mask) >>> 0) === ((a.local & a.mask) >>> 0)) return a.local;
      if (!first) first = a.local;
    }
    if (first) return first;
    // Any address of an up device that is not loopback (Linux falls back across devices).
    for (const a of this.ifaddrs) if (a.dev.isUp && !(a.dev.flags & IFF_LOOPBACK)) return a.local;
    return 0;
  }

  // --- routes ---------------------------------------------------------------------------------

  /**
   * "ip route add dst/prefixLen [via gateway] [dev oif] [metric m]". A gateway must be reachable
   * on a connected route (ENETUNREACH otherwise); the device defaults to that route's. EEXIST
   * for a duplicate.
   */
  routeAdd(r: { dst: number; prefixLen: number; gateway?: number; oif?: number; metric?: number; prefsrc?: number; protocol?: number }): Route {
    if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > 32) fail(EINVAL);
    let dev = r.oif ? this.devices.get(r.oif) ?? fail(ENODEV) : undefined;
    const gw = r.gateway ?? 0;
    if (gw) {
      const via = this.fib.lookup(gw, r.oif ?? 0);
      if (!via || via.gateway) fail(ENETUNREACH);
      dev ??= via.dev;
    }
    if (!dev) fail(ENODEV);
    if (!dev.isUp) fail(ENETDOWN);
    const route = this.fib.add({
      dst: r.dst, prefixLen: r.prefixLen, gateway: gw, dev, metric: r.metric ?? 0,
      prefsrc: r.prefsrc ?? 0, protocol: r.protocol ?? RTPROT_BOOT, scope: gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
    });
    return route ?? fail(EEXIST);
  }

  /** "ip route del": ESRCH when nothing matches. */
  routeDel(r: { dst: number; prefixLen: number; gateway?: number; oif?: number; metric?: number }): void {
    const match: Partial<Route> = { dst: (r.dst & inetMakeMask(r.prefixLen)) >>> 0, prefixLen: r.prefixLen };
    if (r.gateway) match.gateway = r.gateway;
    if (r.oif) match.dev = this.devices.get(r.oif) ?? fail(ENODEV);
    if (r.metric !== undefined) match.metric = r.metric;
    if (this.fib.remove(match) === 0) fail(ESRCH);
  }

  /**
   * ip_route_output: where a locally generated packet to `daddr` goes. Local destinations go
   * to the loopback device; the limited broadcast goes out `oif` (or the first route's device).
   * Throws ENETUNREACH when no route matches.
   */
  routeOutput(daddr: number, saddr = 0, oif = 0): RtResult {
    daddr >>>= 0;
    const ldev = this.localDev(daddr);
    if (ldev) {
      // Always through loopback, as Linux: with lo down, even our own eth0 address is unreachable.
      const dev = this.loopback ?? ldev;
      return { type: RTN_LOCAL, dev, nexthop: daddr, saddr: saddr || daddr, route: null };
    }
    if (ipv4IsLoopback(daddr)) fail(ENETUNREACH);
    if (daddr === INADDR_BROADCAST || ipv4IsMulticast(daddr)) {
      const dev = oif ? this.devices.get(oif) : this.fib.lookup(daddr)?.dev ?? this.firstUpDev();
      if (!dev || !dev.isUp) fail(ENETUNREACH);
      return {
        type: daddr === INADDR_BROADCAST ? RTN_BROADCAST : RTN_MULTICAST, dev, nexthop: daddr,
        saddr: saddr || this.inetSelectAddr(dev, daddr), route: null,
      };
    }
    const r = this.fib.lookup(daddr, oif);
    if (!r) fail(ENETUNREACH);
    const type = this.isBroadcastOn(daddr, r.dev) ? RTN_BROADCAST : RTN_UNICAST;
    const nexthop = r.gateway || daddr;
    return { type, dev: r.dev, nexthop, saddr: saddr || r.prefsrc || this.inetSelectAddr(r.dev, nexthop), route: r };
  }

  private firstUpDev(): NetDevice | undefined {
    for (const d of this.devices.values()) if (d.isUp && !(d.flags & IFF_LOOPBACK)) return d;
    return undefined;
  }

  // --- protocol registration -----------------------------------------------------------------

  devAddPack(ethertype: number, fn: PacketHandler): void {
    if (this.ptypes.has(ethertype)) fail(EEXIST);
    this.ptypes.set(ethertype, fn);
  }
  devRemovePack(ethertype: number): void { this.ptypes.delete(ethertype); }
  inetAddProtocol(proto: number, p: InetProtocol): void {
    if (this.inetProtos.has(proto)) fail(EEXIST);
    this.inetProtos.set(proto, p);
  }
  inetDelProtocol(proto: number): void { this.inetProtos.delete(proto); }
  neighRegister(ethertype: number, ops: NeighOps): void { this.neigh.set(ethertype, ops); }

  /**
   * Hand a network-layer packet to the link: devices without ARP (loopback) get the link header
   * at once, others go through the protocol's neighbour layer. The skb is consumed.
   */
  neighOutput(ethertype: number, skb: SkBuff, dev: NetDevice, nexthop: number): void {
    skb.dev = dev;
    skb.protocol = ethertype;
    if (dev.flags & (IFF_NOARP | IFF_LOOPBACK)) {
      dev.headerOps?.create(skb, dev, ethertype, null);
      this.devQueueXmit(skb);
      return;
    }
    const n = this.neigh.get(ethertype);
    if (!n) { dev.stats.txDropped++; return; }
    n.output(skb, dev, nexthop);
  }

  /** Send via the registered IPv4 output (what udp and tcp call). */
  ipQueueXmit(skb: SkBuff, p: IpSendParams): void {
    if (!this.ipv4) fail(ENETUNREACH, 'no IPv4');
    this.ipv4.queueXmit(skb, p);
  }

  // --- the data path ---------------------------------------------------------------------------

  /** dev_queue_xmit: hand a complete frame to the driver (consumed). */
  devQueueXmit(skb: SkBuff): void {
    const dev = skb.dev as NetDevice | null;
    if (!dev) return;
    if (!dev.running || this.halted) { dev.stats.txDropped++; return; }
    dev.stats.txPackets++;
    dev.stats.txBytes += skb.len;
    try { dev.ops.xmit(skb, dev); } catch (e) { dev.stats.txErrors++; this.oops(`${dev.name} xmit`, e); }
  }

  /**
   * netif_rx: a driver received a frame on dev. Only queues it (this may run from a host
   * callback, an interrupt) and schedules the backlog on the kernel worker.
   */
  netifRx(dev: NetDevice, skb: SkBuff): void {
    if (this.halted || !dev.isUp) { dev.stats.rxDropped++; return; }
    if (this.backlog.length >= this.sysctl.netdev_max_backlog || !this.memCharge(skb.buf.length)) {
      dev.stats.rxDropped++;
      return;
    }
    skb.dev = dev;
    skb.tstamp = this.now();
    dev.stats.rxPackets++;
    dev.stats.rxBytes += skb.len;
    this.backlog.push(skb);
    if (!this.backlogScheduled) {
      this.backlogScheduled = true;
      this.k.queueWork(() => this.processBacklog());
    }
  }

  /** True when frames are waiting (tests drain with flush()). */
  get backlogLength(): number { return this.backlog.length; }

  /** The bottom half: classify each frame and hand it to its packet handler. */
  processBacklog(): void {
    this.backlogScheduled = false;
    // Frames queued while processing (loopback replies) wait for the next run, so one busy
    // device cannot starve the rest of the worker's queue.
    const batch = this.backlog;
    this.backlog = [];
    for (const skb of batch) { this.memUncharge(skb.buf.length); this.receiveSkb(skb); }
  }

  /** __netif_receive_skb. Never throws. */
  receiveSkb(skb: SkBuff): void {
    const dev = skb.dev as NetDevice;
    try {
      if (dev.typeTrans && !dev.typeTrans(skb, dev)) { dev.stats.rxErrors++; return; }
      const h = this.ptypes.get(skb.protocol);
      if (!h) return; // rx_nohandler
      h(skb, dev);
    } catch (e) {
      dev.stats.rxErrors++;
      this.oops(`receive on ${dev.name}`, e);
    }
  }

  oops(where: string, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.k.printk(1, `BUG: net: unexpected error in ${where}: ${err.message}`);
    for (const line of (err.stack ?? '').split('\n').slice(1, 6)) this.k.printk(1, ` ${line.trim()}`);
  }

  /** An skb for `size` bytes of transport payload with room for every header below. */
  allocSkb(size: number): SkBuff {
    if (size < 0 || size > 0x7fffffff) fail(ENOBUFS);
    return SkBuff.alloc(size);
  }

  private shutdown(): void {
    this.halted = true;
    for (const skb of this.backlog) this.memUncharge(skb.buf.length);
    this.backlog = [];
    for (const d of [...this.devices.values()].reverse()) {
      try { this.unregisterNetdevice(d); } catch (e) { this.oops('unregister at halt', e); }
    }
  }

  describe(addr: number): string { return ipv4ToString(addr); }
}
