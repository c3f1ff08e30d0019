/*
 * Neighbor Discovery (RFC 4861, net/ipv6/ndisc.c) and the IPv6 neighbour cache.
 *
 * The cache has the states of the IPv4 one (src/net/arp) and Linux's neigh timers:
 *   (none) --output--> INCOMPLETE: a Neighbor Solicitation to the target's solicited-node group
 *             every retrans_time (1 s), mcast_solicit (3) times; packets wait, bounded by
 *             unres_qlen_bytes. No answer: FAILED, and the waiting packets get ICMPv6 address
 *             unreachable.
 *   solicited advertisement --> REACHABLE for a random [base/2, 3*base/2) of base_reachable_time
 *             (30 s), then STALE. Unsolicited news (an NS's source link-layer option, an
 *             unsolicited NA with override, an RA's) makes STALE.
 *   STALE --output--> DELAY (5 s) --> PROBE: unicast NS every retrans_time, ucast_solicit (3)
 *             times, then FAILED.
 *
 * Messages are checked as 7.1 requires — hop limit 255, code 0, the minimum length, no option of
 * length 0, a non-multicast target — and an NS from the unspecified address (DAD) must go to a
 * solicited-node group without a source link-layer option. An NS for one of our addresses is
 * answered with a solicited NA carrying our link-layer address (to all-nodes, unsolicited, when
 * the NS came from ::); an NS or NA for an address we are still checking (tentative) means
 * somebody else has it: DAD fails (addrconf). A looped-back DAD probe of our own is recognised
 * by its nonce option (enhanced DAD, RFC 7527) as Linux does. Router advertisements go to
 * addrconf; router solicitations are for routers and ignored.
 */
import {
  IPV6_HLEN, NEXTHDR_ICMP, ETH_P_IPV6, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, macEqual, macToString,
  isValidEtherAddr, writeIcmpv6Header, NDISC_NEIGHBOUR_SOLICITATION, NDISC_NEIGHBOUR_ADVERTISEMENT,
  NDISC_ROUTER_ADVERTISEMENT, NDISC_ROUTER_SOLICITATION, writeIpv6Header, ipv6ToString,
} from '../header/index.js';
import { SkBuff, PACKET_HOST, IFF_LOOPBACK, IFF_NOARP, type NetDevice } from '../core/index.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';
import { fail } from '../../lib/errors.js';
import { EINVAL } from '../../uapi/errno.js';
import {
  a6key, a6isAny, a6isMulticast, a6equal, solicitedNode, ipv6EthMcMap, IN6ADDR_LINKLOCAL_ALLNODES,
} from './addr.js';
import { IFA_F_TENTATIVE, IFA_F_DADFAILED, type Ipv6State, type Ip6RcvInfo, type Rt6Result, type Inet6IfAddr } from './state.js';

export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;

export const ND_OPT_SOURCE_LL_ADDR = 1;
export const ND_OPT_TARGET_LL_ADDR = 2;
export const ND_OPT_PREFIX_INFO = 3;
export const ND_OPT_REDIRECT_HDR = 4;
export const ND_OPT_MTU = 5;
export const ND_OPT_NONCE = 14;

export const NA_ROUTER = 0x80;
export const NA_SOLICITED = 0x40;
export const NA_OVERRIDE = 0x20;

const NS_PER_MS = 1_000_000;

export interface Neighbour6 {
  addr: Uint8Array;
  dev: NetDevice;
  mac: Uint8Array;
  nudState: number;
  isRouter: boolean;
  probes: number;
  confirmed: number;
  updated: number;
  used: number;
  reachableTimeNs: number;
  timer: KernelTimer | null;
  queue: SkBuff[];
  queueBytes: number;
}

/** Parsed ND options: the last of each single option, every prefix information option. */
export interface NdOpts {
  sllao: Uint8Array | null;
  tllao: Uint8Array | null;
  mtu: number | null;
  nonce: Uint8Array | null;
  prefixes: Uint8Array[];
}

/** ndisc_parse_options: null when an option has length 0 or overruns. */
export function parseNdOpts(b: Uint8Array, start: number, end: number): NdOpts | null {
  const o: NdOpts = { sllao: null, tllao: null, mtu: null, nonce: null, prefixes: [] };
  let i = start;
  while (i < end) {
    if (end - i < 2) return null;
    const t = b[i]!, l = b[i + 1]! * 8;
    if (l === 0 || i + l > end) return null;
    switch (t) {
      case ND_OPT_SOURCE_LL_ADDR: if (l >= 8) o.sllao = b.slice(i + 2, i + 8); break;
      case ND_OPT_TARGET_LL_ADDR: if (l >= 8) o.tllao = b.slice(i + 2, i + 8); break;
      case ND_OPT_MTU: if (l === 8) o.mtu = ((b[i + 4]! << 24) | (b[i + 5]! << 16) | (b[i + 6]! << 8) | b[i + 7]!) >>> 0; break;
      case ND_OPT_NONCE: o.nonce = b.slice(i + 2, i + l); break;
      case ND_OPT_PREFIX_INFO: if (l === 32) o.prefixes.push(b.slice(i, i + 32)); break;
      default: break;
    }
    i += l;
  }
  return o;
}

export interface NdiscHooks {
  /** An NS/NA says someone else uses a tentative address of ours. */
  dadFailure(ifa: Inet6IfAddr, mac: Uint8Array | null): void;
  /** A router advertisement that passed validation. */
  routerAdvert(dev: NetDevice, saddr: Uint8Array, b: Uint8Array, off: number, end: number, opts: NdOpts): void;
  icmpSend(skb: SkBuff, type: number, code: number, info: number): void;
}

export class Ndisc {
  readonly st: Ipv6State;
  readonly entries = new Map<string, Neighbour6>();
  hooks!: NdiscHooks;
  unresDiscards = 0;

  constructor(st: Ipv6State) { this.st = st; }

  private key(dev: NetDevice, a: Uint8Array): string { return `${dev.ifindex}/${a6key(a)}`; }
  lookup(dev: NetDevice, a: Uint8Array): Neighbour6 | undefined { return this.entries.get(this.key(dev, a)); }

  private create(dev: NetDevice, a: Uint8Array, state: number): Neighbour6 {
    const now = this.st.net.now();
    const n: Neighbour6 = {
      addr: a.slice(0, 16), dev, mac: new Uint8Array(6), nudState: state, isRouter: false, probes: 0,
      confirmed: now - 1e12, updated: now, used: now, reachableTimeNs: this.randomReachableTime(dev), timer: null,
      queue: [], queueBytes: 0,
    };
    this.entries.set(this.key(dev, a), n);
    return n;
  }

  private baseReachableMs(dev: NetDevice): number {
    return this.st.idev(dev)?.reachableTimeMs || this.st.net.sysctl.base_reachable_time_ms;
  }
  retransNs(dev: NetDevice): number {
    return (this.st.idev(dev)?.retransTimeMs || this.st.net.sysctl.retrans_time_ms) * NS_PER_MS;
  }
  private randomReachableTime(dev: NetDevice): number {
    const base = this.baseReachableMs(dev) * NS_PER_MS;
    return base / 2 + (this.st.net.random32() % base);
  }

  private arm(n: Neighbour6, delayNs: number): void {
    const net = this.st.net;
    n.timer?.cancel();
    n.timer = net.k.clock.addTimer(net.now() + delayNs, () => {
      n.timer = null;
      net.k.queueWork(() => this.timerHandler(n));
    }, true);
  }

  private destroy(n: Neighbour6): void {
    n.timer?.cancel(); n.timer = null;
    const k = this.key(n.dev, n.addr);
    if (this.entries.get(k) === n) this.entries.delete(k);
  }

  // --- output ---------------------------------------------------------------------------------

  /** The output hook of the IPv6 layer: skb.data at the IPv6 header. */
  output(skb: SkBuff, rt: Rt6Result): void {
    const dev = rt.dev;
    skb.dev = dev;
    skb.protocol = ETH_P_IPV6;
    if (dev.flags & (IFF_LOOPBACK | IFF_NOARP)) { this.xmit(skb, dev, null); return; }
    if (a6isMulticast(rt.nexthop)) { this.xmit(skb, dev, ipv6EthMcMap(rt.nexthop)); return; }
    this.resolve(skb, dev, rt.nexthop);
  }

  private resolve(skb: SkBuff, dev: NetDevice, nexthop: Uint8Array): void {
    const net = this.st.net;
    const now = net.now();
    let n = this.lookup(dev, nexthop);
    if (!n) n = this.create(dev, nexthop, 0);
    n.used = now;
    switch (n.nudState) {
      case NUD_PERMANENT: case NUD_NOARP: case NUD_REACHABLE: case NUD_DELAY: case NUD_PROBE:
        this.xmit(skb, dev, n.mac);
        return;
      case NUD_STALE:
        n.nudState = NUD_DELAY; n.updated = now;
        this.arm(n, net.sysctl.delay_first_probe_time * 1e9);
        this.xmit(skb, dev, n.mac);
        return;
      case NUD_INCOMPLETE:
        this.enqueue(n, skb);
        return;
      default:
        n.nudState = NUD_INCOMPLETE; n.probes = 0; n.updated = now;
        this.enqueue(n, skb);
        this.solicit(n, skb);
        n.probes++;
        this.arm(n, this.retransNs(dev));
    }
  }

  private enqueue(n: Neighbour6, skb: SkBuff): void {
    const limit = this.st.net.sysctl.unres_qlen_bytes;
    const size = skb.buf.length;
    while (n.queue.length && n.queueBytes + size > limit) {
      const old = n.queue.shift()!;
      n.queueBytes -= old.buf.length;
      this.unresDiscards++;
    }
    if (size > limit) { this.unresDiscards++; return; }
    n.queue.push(skb);
    n.queueBytes += size;
  }

  private xmit(skb: SkBuff, dev: NetDevice, mac: Uint8Array | null): void {
    skb.dev = dev;
    dev.headerOps?.create(skb, dev, ETH_P_IPV6, mac);
    this.st.net.devQueueXmit(skb);
  }

  /** ndisc_solicit: multicast while INCOMPLETE, unicast when probing. */
  private solicit(n: Neighbour6, skb: SkBuff | null): void {
    let saddr: Uint8Array | null = null;
    if (skb && skb.len >= IPV6_HLEN) {
      const s = skb.buf.subarray(skb.data + 8, skb.data + 24);
      const ifa = this.st.findAddr(s, n.dev);
      if (ifa && !(ifa.flags & IFA_F_TENTATIVE)) saddr = ifa.addr;
    }
    if (!saddr) saddr = this.st.selectSource(n.dev, n.addr);
    if (!saddr) return;
    const dst = n.nudState & NUD_PROBE ? n.addr : solicitedNode(n.addr);
    this.sendNs(n.dev, n.addr, dst, saddr, null, n.nudState & NUD_PROBE ? n.mac : null);
  }

  // --- sending ND messages --------------------------------------------------------------------

  /**
   * Sends an ND message: the ICMPv6 body `body` (type and the fixed part, options appended by
   * the caller) from saddr to daddr with hop limit 255. The link destination is the group's
   * for multicast, `mac` when given, else the neighbour cache's.
   */
  sendNd(dev: NetDevice, saddr: Uint8Array, daddr: Uint8Array, body: Uint8Array, mac: Uint8Array | null): void {
    const net = this.st.net;
    if (!dev.isUp) return;
    const skb = net.allocSkb(IPV6_HLEN + body.length);
    const off = skb.put(body.length);
    skb.buf.set(body, off);
    writeIcmpv6Header(skb.buf, off, off + body.length, body[0]!, 0, (body[4]! << 24 | body[5]! << 16 | body[6]! << 8 | body[7]!) >>> 0, saddr, daddr);
    const h = skb.push(IPV6_HLEN);
    writeIpv6Header(skb.buf, h, { payloadLen: body.length, nextHeader: NEXTHDR_ICMP, hopLimit: 255, saddr, daddr });
    skb.networkHeader = h;
    net.count('Icmp6OutMsgs'); net.count(`Icmp6OutType${body[0]}`);
    net.count('Ip6OutRequests');
    if (dev.flags & (IFF_LOOPBACK | IFF_NOARP)) { this.xmit(skb, dev, null); return; }
    if (a6isMulticast(daddr)) { this.xmit(skb, dev, ipv6EthMcMap(daddr)); return; }
    if (mac) { this.xmit(skb, dev, mac); return; }
    this.resolve(skb, dev, daddr);
  }

  /** ndisc_send_ns. saddr :: (DAD) sends no source link-layer option; nonce is DAD's. */
  sendNs(dev: NetDevice, target: Uint8Array, daddr: Uint8Array, saddr: Uint8Array, nonce: Uint8Array | null, mac: Uint8Array | null): void {
    const withLl = !a6isAny(saddr) && dev.addrLen === 6;
    const body = new Uint8Array(24 + (withLl ? 8 : 0) + (nonce ? 8 : 0));
    body[0] = NDISC_NEIGHBOUR_SOLICITATION;
    body.set(target.subarray(0, 16), 8);
    let o = 24;
    if (withLl) { body[o] = ND_OPT_SOURCE_LL_ADDR; body[o + 1] = 1; body.set(dev.mac.subarray(0, 6), o + 2); o += 8; }
    if (nonce) { body[o] = ND_OPT_NONCE; body[o + 1] = 1; body.set(nonce.subarray(0, 6), o + 2); }
    this.sendNd(dev, saddr, daddr, body, mac);
  }

  /** ndisc_send_na with our link-layer address as target option. */
  sendNa(dev: NetDevice, daddr: Uint8Array, target: Uint8Array, solicited: boolean, override: boolean, mac: Uint8Array | null): void {
    const body = new Uint8Array(32);
    body[0] = NDISC_NEIGHBOUR_ADVERTISEMENT;
    body[4] = (solicited ? NA_SOLICITED : 0) | (override ? NA_OVERRIDE : 0) | (this.st.sysctl.forwarding ? NA_ROUTER : 0);
    body.set(target.subarray(0, 16), 8);
    body[24] = ND_OPT_TARGET_LL_ADDR; body[25] = 1; body.set(dev.mac.subarray(0, 6), 26);
    this.sendNd(dev, target, daddr, body, mac);
  }

  /** ndisc_send_rs: to all-routers, with our link-layer address unless the source is ::. */
  sendRs(dev: NetDevice, saddr: Uint8Array): void {
    const withLl = !a6isAny(saddr);
    const body = new Uint8Array(8 + (withLl ? 8 : 0));
    body[0] = NDISC_ROUTER_SOLICITATION;
    if (withLl) { body[8] = ND_OPT_SOURCE_LL_ADDR; body[9] = 1; body.set(dev.mac.subarray(0, 6), 10); }
    this.sendNd(dev, saddr, Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), body, null);
  }

  // --- timers ---------------------------------------------------------------------------------

  private timerHandler(n: Neighbour6): void {
    if (this.entries.get(this.key(n.dev, n.addr)) !== n || this.st.net.halted) return;
    const s = this.st.net.sysctl;
    const now = this.st.net.now();
    switch (n.nudState) {
      case NUD_REACHABLE:
        if (now >= n.confirmed + n.reachableTimeNs) {
          n.nudState = NUD_STALE; n.updated = now;
          this.arm(n, s.gc_stale_time * 1e9);
        } else this.arm(n, n.confirmed + n.reachableTimeNs - now);
        return;
      case NUD_STALE:
        if (now - n.used >= s.gc_stale_time * 1e9) this.destroy(n);
        else this.arm(n, n.used + s.gc_stale_time * 1e9 - now);
        return;
      case NUD_DELAY:
        if (now < n.confirmed + n.reachableTimeNs) {
          n.nudState = NUD_REACHABLE; n.updated = now;
          this.arm(n, n.confirmed + n.reachableTimeNs - now);
          return;
        }
        n.nudState = NUD_PROBE; n.updated = now; n.probes = 0;
        break;
      case NUD_INCOMPLETE: case NUD_PROBE:
        break;
      default:
        return;
    }
    const max = n.nudState === NUD_INCOMPLETE ? s.mcast_solicit + s.app_solicit : s.ucast_solicit + s.app_solicit;
    if (n.probes >= max) {
      n.nudState = NUD_FAILED; n.updated = now;
      const q = n.queue; n.queue = []; n.queueBytes = 0;
      for (const skb of q) {
        skb.networkHeader = skb.data;
        skb.pktType = PACKET_HOST;
        this.hooks.icmpSend(skb, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0);
      }
      return;
    }
    this.solicit(n, n.queue[n.queue.length - 1] ?? null);
    n.probes++;
    this.arm(n, this.retransNs(n.dev));
  }

  /**
   * neigh_update. `override`: replace a different known address (else a REACHABLE entry only
   * turns STALE); `state` the new state when the address is accepted.
   */
  update(n: Neighbour6, mac: Uint8Array | null, state: number, override: boolean, isRouter?: boolean): void {
    const net = this.st.net;
    const now = net.now();
    if (n.nudState & (NUD_PERMANENT | NUD_NOARP)) return;
    if (isRouter !== undefined) n.isRouter = isRouter;
    const valid = (n.nudState & NUD_VALID) !== 0;
    if (!valid && !mac) return;
    const changed = mac !== null && (!valid || !macEqual(n.mac, mac));
    if (valid && changed && !override) {
      if (n.nudState === NUD_REACHABLE) { n.nudState = NUD_STALE; n.updated = now; this.arm(n, net.sysctl.gc_stale_time * 1e9); }
      return;
    }
    if (state === NUD_STALE && !changed && valid) return; // same address, unconfirmed news
    if (mac) n.mac = mac.slice(0, 6);
    n.nudState = state; n.updated = now;
    if (state === NUD_REACHABLE) {
      n.confirmed = now;
      n.reachableTimeNs = this.randomReachableTime(n.dev);
      this.arm(n, n.reachableTimeNs);
    } else this.arm(n, net.sysctl.gc_stale_time * 1e9);
    if (n.queue.length) {
      const q = n.queue; n.queue = []; n.queueBytes = 0;
      for (const skb of q) this.xmit(skb, n.dev, n.mac);
    }
  }

  /** neigh_event_ns: learned from a message the neighbour sent us (NS, RS, RA): STALE. */
  private learn(dev: NetDevice, a: Uint8Array, mac: Uint8Array, isRouter?: boolean): void {
    if (!isValidEtherAddr(mac) || macEqual(mac, dev.mac)) return;
    let n = this.lookup(dev, a);
    if (!n) n = this.create(dev, a, 0);
    this.update(n, mac, NUD_STALE, true, isRouter);
  }

  // --- input ----------------------------------------------------------------------------------

  /** ndisc_rcv: skb.data at the ICMPv6 header (checksum already verified). */
  rcv(skb: SkBuff, info: Ip6RcvInfo, type: number): void {
    const net = this.st.net;
    const dev = info.dev;
    if (info.hopLimit !== 255) return;
    const b = skb.buf, off = skb.data, end = skb.tail;
    if (b[off + 1] !== 0) return;
    if (dev.flags & (IFF_LOOPBACK | IFF_NOARP)) return;
    switch (type) {
      case NDISC_NEIGHBOUR_SOLICITATION: if (end - off >= 24) this.recvNs(skb, info); return;
      case NDISC_NEIGHBOUR_ADVERTISEMENT: if (end - off >= 24) this.recvNa(skb, info); return;
      case NDISC_ROUTER_ADVERTISEMENT: {
        if (end - off < 16) return;
        const opts = parseNdOpts(b, off + 16, end);
        if (!opts) return;
        // RFC 4861 6.1.2: only from a link-local source.
        if (!(info.saddr[0] === 0xfe && (info.saddr[1]! & 0xc0) === 0x80)) return;
        if (opts.sllao) this.learn(dev, info.saddr, opts.sllao, true);
        else { const n = this.lookup(dev, info.saddr); if (n) n.isRouter = true; }
        this.hooks.routerAdvert(dev, info.saddr, b, off, end, opts);
        return;
      }
      default:
        net.count('Icmp6InNdiscIgnored');
        return; // RS (we are no router), redirects (not handled)
    }
  }

  private recvNs(skb: SkBuff, info: Ip6RcvInfo): void {
    const st = this.st, dev = info.dev;
    const b = skb.buf, off = skb.data;
    const target = b.slice(off + 8, off + 24);
    if (a6isMulticast(target)) return;
    const opts = parseNdOpts(b, off + 24, skb.tail);
    if (!opts) return;
    const dad = a6isAny(info.saddr);
    if (dad && (!a6equal(info.daddr, solicitedNode(target)) || opts.sllao)) return;
    const ifa = st.findAddr(target, dev);
    if (!ifa) return;
    if (ifa.flags & IFA_F_TENTATIVE) {
      if (ifa.flags & IFA_F_DADFAILED) return;
      // Our own probe looped back (same nonce): not a conflict.
      if (dad && opts.nonce && ifa.dadNonce && opts.nonce.length >= 6 && a6equal(pad16(opts.nonce), pad16(ifa.dadNonce))) return;
      if (dad) this.hooks.dadFailure(ifa, null);
      // A tentative address answers no one (RFC 4862 5.4.3).
      return;
    }
    if (dad) {
      this.sendNa(dev, IN6ADDR_LINKLOCAL_ALLNODES, target, false, true, null);
      return;
    }
    if (opts.sllao) this.learn(dev, info.saddr, opts.sllao);
    const n = this.lookup(dev, info.saddr);
    this.sendNa(dev, info.saddr, target, true, true, n && n.nudState & NUD_VALID ? n.mac : opts.sllao);
  }

  private recvNa(skb: SkBuff, info: Ip6RcvInfo): void {
    const st = this.st, dev = info.dev;
    const b = skb.buf, off = skb.data;
    const flags = b[off + 4]!;
    const target = b.slice(off + 8, off + 24);
    if (a6isMulticast(target)) return;
    if (a6isMulticast(info.daddr) && flags & NA_SOLICITED) return;
    const opts = parseNdOpts(b, off + 24, skb.tail);
    if (!opts) return;
    const ifa = st.findAddr(target, dev);
    if (ifa) {
      if (ifa.flags & IFA_F_TENTATIVE) { if (!(ifa.flags & IFA_F_DADFAILED)) this.hooks.dadFailure(ifa, opts.tllao); return; }
      // Someone advertises an address we hold: Linux only logs it.
      if (opts.tllao && !macEqual(opts.tllao, dev.mac)) {
        st.net.k.printk(3, `IPv6: ndisc_recv_na: ${dev.name}: someone advertises our address ${ipv6ToString(target)} on ${macToString(opts.tllao)}!`);
      }
      return;
    }
    const n = this.lookup(dev, target);
    if (!n) return;
    if (n.nudState === NUD_INCOMPLETE && !opts.tllao) return;
    const state = flags & NA_SOLICITED ? NUD_REACHABLE : NUD_STALE;
    if (!opts.tllao && n.nudState & NUD_VALID) {
      // No address: a solicited NA confirms what we have.
      if (flags & NA_SOLICITED) this.update(n, n.mac, NUD_REACHABLE, true, (flags & NA_ROUTER) !== 0);
      return;
    }
    this.update(n, opts.tllao, state, (flags & NA_OVERRIDE) !== 0 || n.nudState === NUD_INCOMPLETE, (flags & NA_ROUTER) !== 0);
  }

  // --- administration -------------------------------------------------------------------------

  addPermanent(dev: NetDevice, a: Uint8Array, mac: Uint8Array): void {
    if (mac.length !== 6) fail(EINVAL);
    let n = this.lookup(dev, a);
    if (!n) n = this.create(dev, a, NUD_PERMANENT);
    n.timer?.cancel(); n.timer = null;
    n.mac = mac.slice(0, 6); n.nudState = NUD_PERMANENT;
    if (n.queue.length) { const q = n.queue; n.queue = []; n.queueBytes = 0; for (const s of q) this.xmit(s, dev, n.mac); }
  }

  delete(dev: NetDevice, a: Uint8Array): boolean {
    const n = this.lookup(dev, a);
    if (!n) return false;
    n.queue = [];
    this.destroy(n);
    return true;
  }

  flushDev(dev: NetDevice): void {
    for (const n of [...this.entries.values()]) if (n.dev === dev) { n.queue = []; this.destroy(n); }
  }
}

function pad16(a: Uint8Array): Uint8Array { const r = new Uint8Array(16); r.set(a.subarray(0, 16)); return r; }
