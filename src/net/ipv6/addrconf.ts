/*
 * Address autoconfiguration (RFC 4862, net/ipv6/addrconf.c).
 *
 * When a device comes up with IPv6 (an MTU of at least 1280) it joins the all-nodes groups and
 * gets a link-local address fe80::/64 + the modified EUI-64 of its MAC (addr_gen_mode eui64,
 * Linux's default), with the fe80::/64 route; lo gets ::1/128 instead. Every new address starts
 * tentative and goes through duplicate address detection: after a random delay below
 * rtr_solicit_delay (1 s) one Neighbor Solicitation (dad_transmits) from :: to the address's
 * solicited-node group, carrying a nonce, then retrans_time (1 s) of silence makes it usable. An
 * NS from another prober or an NA for the address marks it dadfailed (it stays tentative, never
 * used), logging "IPv6 duplicate address ... detected!" as Linux does.
 *
 * Once the link-local address is usable a host solicits routers (to ff02::2) every
 * rtr_solicit_interval (4 s), doubling up to rtr_solicit_max_interval (1 h) (rtr_solicits -1:
 * until an advertisement arrives). A router advertisement (accept_ra) sets the default route
 * through its sender for the router lifetime (metric 1024), the hop limit, reachable time,
 * retransmit timer and link MTU it announces; each prefix information option with L adds an
 * on-link route for its valid lifetime, and with A and a /64 forms an address from the prefix
 * and our interface identifier (SLAAC), whose lifetimes follow RFC 4862 5.5.3 (the two-hour rule)
 * and which is deprecated when its preferred lifetime ends and removed when its valid one does.
 *
 * When the device goes down, its addresses, routes, neighbours and groups go (keep_addr_on_down
 * = 0).
 */
import { IPV6_MIN_MTU, macToString, ipv6ToString } from '../header/index.js';
import { IFF_LOOPBACK, type NetDevice } from '../core/index.js';
import {
  a6fromPrefixIid, eui64, solicitedNode, a6isLinkLocal, a6equal, a6isAny, a6prefixEqual,
  IN6ADDR_LOOPBACK, IN6ADDR_ANY,
} from './addr.js';
import {
  IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_PERMANENT, IFA_F_NODAD, IFA_F_DEPRECATED, IP6_RT_PRIO_ADDRCONF,
  IP6_RT_PRIO_USER, RTPROT_KERNEL, RTPROT_RA, type Ipv6State, type Inet6IfAddr,
} from './state.js';
import type { Ndisc, NdOpts } from './ndisc.js';

const MIN_VALID_LIFETIME = 2 * 3600;
const INFINITY_LIFE = 0xffffffff;

export class Addrconf {
  readonly st: Ipv6State;
  readonly nd: Ndisc;

  constructor(st: Ipv6State, nd: Ndisc) {
    this.st = st; this.nd = nd;
    st.net.onNetdevEvent((ev, dev) => {
      if (ev === 'up') this.devUp(dev);
      else if (ev === 'down' || ev === 'unregister') this.devDown(dev, ev === 'unregister');
      else if (ev === 'change_mtu') {
        const i = st.idev(dev);
        if (i) i.mtu = dev.mtu;
        else if (dev.isUp && dev.mtu >= IPV6_MIN_MTU) this.devUp(dev);
      }
    });
  }

  /** addrconf_notify(NETDEV_UP) */
  devUp(dev: NetDevice): void {
    const st = this.st;
    const idev = st.idevCreate(dev);
    if (!idev) return;
    idev.mtu = dev.mtu;
    st.joinDefaultGroups(dev);
    if (dev.flags & IFF_LOOPBACK) {
      if (!st.findAddr(IN6ADDR_LOOPBACK, dev)) st.addrAdd(dev, IN6ADDR_LOOPBACK, 128, { flags: IFA_F_PERMANENT });
      return;
    }
    const fe80 = new Uint8Array(16); fe80[0] = 0xfe; fe80[1] = 0x80;
    st.routeAddIfMissing({ dst: fe80, prefixLen: 64, gateway: null, dev, metric: IP6_RT_PRIO_ADDRCONF, protocol: RTPROT_KERNEL, expires: Infinity });
    if (dev.addrLen === 6) {
      const ll = a6fromPrefixIid(fe80, eui64(dev.mac));
      if (!st.findAddr(ll, dev)) st.addrAdd(dev, ll, 64, { flags: IFA_F_PERMANENT, noPrefixRoute: true });
    }
    // Addresses added while the device was down start their DAD now.
    for (const a of st.addrsOf(dev)) if (a.flags & IFA_F_TENTATIVE && !(a.flags & IFA_F_DADFAILED) && !a.timer) this.dadStart(a);
  }

  /** addrconf_ifdown */
  devDown(dev: NetDevice, unregister: boolean): void {
    const st = this.st;
    for (const a of st.addrsOf(dev)) { try { st.addrDel(dev, a.addr); } catch { /* already gone */ } }
    st.routeRemove((r) => r.dev === dev);
    this.nd.flushDev(dev);
    const i = st.idev(dev);
    if (i) {
      i.rsTimer?.cancel(); i.rsTimer = null;
      i.mc.clear(); i.raSeen = false; i.rsProbes = 0; i.rsInterval = st.sysctl.rtr_solicit_interval;
      i.hopLimit = st.sysctl.hop_limit; i.mtu = dev.mtu; i.reachableTimeMs = 0; i.retransTimeMs = 0;
    }
    if (unregister) st.idevs.delete(dev.ifindex);
  }

  // --- DAD ------------------------------------------------------------------------------------

  /** addrconf_dad_start / addrconf_dad_kick */
  dadStart(ifa: Inet6IfAddr): void {
    const st = this.st, net = st.net;
    ifa.timer?.cancel(); ifa.timer = null;
    if (!(ifa.flags & IFA_F_TENTATIVE) || ifa.flags & IFA_F_DADFAILED) return;
    if (!ifa.dev.isUp) return;
    if (ifa.flags & IFA_F_NODAD || ifa.dev.flags & IFF_LOOPBACK || st.sysctl.dad_transmits <= 0) { this.dadCompleted(ifa); return; }
    ifa.dadProbes = st.sysctl.dad_transmits;
    ifa.dadNonce = new Uint8Array(6);
    net.k.host.entropy(ifa.dadNonce);
    const delay = net.random32() % Math.max(1, st.sysctl.rtr_solicit_delay * 1e9);
    this.dadArm(ifa, delay);
  }

  private dadArm(ifa: Inet6IfAddr, delayNs: number): void {
    const net = this.st.net;
    ifa.timer = net.k.clock.addTimer(net.now() + delayNs, () => {
      ifa.timer = null;
      net.k.queueWork(() => this.dadTimer(ifa));
    }, true);
  }

  /** addrconf_dad_work */
  private dadTimer(ifa: Inet6IfAddr): void {
    const st = this.st;
    if (st.net.halted || !st.addrs.includes(ifa) || !(ifa.flags & IFA_F_TENTATIVE) || ifa.flags & IFA_F_DADFAILED) return;
    if (ifa.dadProbes <= 0) { this.dadCompleted(ifa); return; }
    ifa.dadProbes--;
    this.nd.sendNs(ifa.dev, ifa.addr, solicitedNode(ifa.addr), IN6ADDR_ANY, ifa.dadNonce, null);
    this.dadArm(ifa, this.nd.retransNs(ifa.dev));
  }

  /** addrconf_dad_completed: usable; the first usable link-local address starts router solicitation. */
  private dadCompleted(ifa: Inet6IfAddr): void {
    const st = this.st;
    ifa.flags &= ~IFA_F_TENTATIVE;
    st.notifyAddr('change', ifa);
    const dev = ifa.dev;
    const idev = st.idev(dev);
    if (!idev || dev.flags & IFF_LOOPBACK || !a6isLinkLocal(ifa.addr)) return;
    if (!st.sysctl.accept_ra || st.sysctl.forwarding || idev.raSeen || idev.rsTimer) return;
    if (st.sysctl.rtr_solicits === 0) return;
    idev.rsProbes = 0;
    idev.rsInterval = st.sysctl.rtr_solicit_interval;
    this.rsTimer(dev);
  }

  /** addrconf_rs_timer */
  private rsTimer(dev: NetDevice): void {
    const st = this.st, net = st.net;
    const idev = st.idev(dev);
    if (!idev || net.halted || !dev.isUp || idev.raSeen) return;
    const max = st.sysctl.rtr_solicits;
    if (max >= 0 && idev.rsProbes >= max) return;
    const ll = st.addrsOf(dev).find((a) => a6isLinkLocal(a.addr) && !(a.flags & IFA_F_TENTATIVE));
    this.nd.sendRs(dev, ll ? ll.addr : IN6ADDR_ANY);
    idev.rsProbes++;
    const interval = idev.rsInterval;
    // RFC 7559 backoff after the first few: double, capped by rtr_solicit_max_interval.
    idev.rsInterval = Math.min(interval * 2, st.sysctl.rtr_solicit_max_interval);
    idev.rsTimer = net.k.clock.addTimer(net.now() + interval * 1e9, () => {
      idev.rsTimer = null;
      net.k.queueWork(() => this.rsTimer(dev));
    }, true);
  }

  /** addrconf_dad_failure */
  dadFailure(ifa: Inet6IfAddr, mac: Uint8Array | null): void {
    const st = this.st;
    ifa.timer?.cancel(); ifa.timer = null;
    ifa.flags |= IFA_F_DADFAILED | IFA_F_TENTATIVE;
    st.net.count('Ip6DadFailures');
    st.net.k.printk(4, `IPv6: ${ifa.dev.name}: IPv6 duplicate address ${ipv6ToString(ifa.addr)} used by ${mac ? macToString(mac) : '00:00:00:00:00:00'} detected!`);
    st.notifyAddr('change', ifa);
  }

  // --- router advertisements ------------------------------------------------------------------

  /** ndisc_router_discovery */
  routerAdvert(dev: NetDevice, saddr: Uint8Array, b: Uint8Array, off: number, _end: number, opts: NdOpts): void {
    const st = this.st, net = st.net;
    const idev = st.idev(dev);
    if (!idev || !st.sysctl.accept_ra || st.sysctl.forwarding) return;
    // Our own advertisement looped back (we send none, but a bridge may reflect a peer's copy).
    if (st.findAddr(saddr, dev)) return;
    idev.raSeen = true;
    idev.rsTimer?.cancel(); idev.rsTimer = null;
    const curHop = b[off + 4]!;
    const lifetime = (b[off + 6]! << 8) | b[off + 7]!;
    const reach = ((b[off + 8]! << 24) | (b[off + 9]! << 16) | (b[off + 10]! << 8) | b[off + 11]!) >>> 0;
    const retrans = ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
    const now = net.now();
    const isDefault = (r: { dev: NetDevice; prefixLen: number; gateway: Uint8Array | null; protocol: number }) =>
      r.dev === dev && r.prefixLen === 0 && r.gateway !== null && a6equal(r.gateway, saddr) && r.protocol === RTPROT_RA;
    const existing = st.routes.find(isDefault);
    if (lifetime === 0) st.routeRemove(isDefault);
    else if (existing) existing.expires = now + lifetime * 1e9;
    else st.routeAddIfMissing({ dst: new Uint8Array(16), prefixLen: 0, gateway: saddr.slice(), dev, metric: IP6_RT_PRIO_USER, protocol: RTPROT_RA, expires: now + lifetime * 1e9 });
    if (curHop) idev.hopLimit = curHop;
    if (reach && reach <= 3600000) idev.reachableTimeMs = reach;
    if (retrans) idev.retransTimeMs = retrans;
    if (opts.mtu !== null && opts.mtu >= IPV6_MIN_MTU && opts.mtu <= dev.mtu) idev.mtu = opts.mtu;
    if (!st.sysctl.accept_ra) return;
    for (const p of opts.prefixes) this.prefixRcv(dev, p);
  }

  /** addrconf_prefix_rcv: one prefix information option (32 bytes). */
  private prefixRcv(dev: NetDevice, p: Uint8Array): void {
    const st = this.st, net = st.net;
    const plen = p[2]!, flags = p[3]!;
    const valid = ((p[4]! << 24) | (p[5]! << 16) | (p[6]! << 8) | p[7]!) >>> 0;
    const preferred = ((p[8]! << 24) | (p[9]! << 16) | (p[10]! << 8) | p[11]!) >>> 0;
    const prefix = p.slice(16, 32);
    if (plen > 128 || a6isLinkLocal(prefix) || prefix[0] === 0xff) return;
    if (preferred > valid) return;
    const now = net.now();
    const lifeNs = (s: number) => (s === INFINITY_LIFE ? Infinity : now + s * 1e9);
    if (flags & 0x80) {
      const match = (r: { dev: NetDevice; prefixLen: number; gateway: Uint8Array | null; dst: Uint8Array }) =>
        r.dev === dev && r.prefixLen === plen && r.gateway === null && a6prefixEqual(r.dst, prefix, plen);
      const r = st.routes.find(match);
      if (valid === 0) st.routeRemove((x) => match(x) && x.protocol === RTPROT_RA);
      else if (r) { if (r.protocol === RTPROT_RA) r.expires = lifeNs(valid); }
      else st.routeAddIfMissing({ dst: prefix, prefixLen: plen, gateway: null, dev, metric: IP6_RT_PRIO_ADDRCONF, protocol: RTPROT_RA, expires: lifeNs(valid) });
    }
    if (!(flags & 0x40) || !st.sysctl.autoconf) return;
    if (plen !== 64) {
      net.k.printk(4, `IPv6: addrconf: prefix option has invalid lifetime or length (plen ${plen}) on ${dev.name}`);
      return;
    }
    if (dev.addrLen !== 6) return;
    const addr = a6fromPrefixIid(prefix, eui64(dev.mac));
    let ifa = st.findAddr(addr, dev);
    if (!ifa) {
      if (valid === 0) return;
      ifa = st.addrAdd(dev, addr, 64, { flags: 0, validLft: valid === INFINITY_LIFE ? Infinity : valid,
        preferredLft: preferred === INFINITY_LIFE ? Infinity : preferred, autoconf: true, noPrefixRoute: true });
      this.armLifetime(ifa);
      return;
    }
    if (!ifa.autoconf) return;
    // RFC 4862 5.5.3 e): never let an advertisement cut the remaining valid lifetime below 2 hours.
    const elapsed = (now - ifa.tstamp) / 1e9;
    const remaining = ifa.validLft === Infinity ? Infinity : ifa.validLft - elapsed;
    let newValid: number;
    const v = valid === INFINITY_LIFE ? Infinity : valid;
    if (v > MIN_VALID_LIFETIME || v > remaining) newValid = v;
    else if (remaining <= MIN_VALID_LIFETIME) newValid = remaining;
    else newValid = MIN_VALID_LIFETIME;
    ifa.tstamp = now;
    ifa.validLft = newValid;
    ifa.preferredLft = preferred === INFINITY_LIFE ? Infinity : Math.min(preferred, newValid);
    if (ifa.preferredLft > 0) ifa.flags &= ~IFA_F_DEPRECATED;
    this.armLifetime(ifa);
    st.notifyAddr('change', ifa);
  }

  /** addrconf_verify for one address: deprecate at the preferred lifetime, delete at the valid one. */
  private armLifetime(ifa: Inet6IfAddr): void {
    const st = this.st, net = st.net;
    const at = (s: number) => ifa.tstamp + s * 1e9;
    const now = net.now();
    if (ifa.validLft !== Infinity && now >= at(ifa.validLft)) { try { st.addrDel(ifa.dev, ifa.addr); } catch { /* gone */ } return; }
    if (ifa.preferredLft !== Infinity && now >= at(ifa.preferredLft) && !(ifa.flags & IFA_F_DEPRECATED)) {
      ifa.flags |= IFA_F_DEPRECATED; st.notifyAddr('change', ifa);
    }
    const next = [ifa.preferredLft, ifa.validLft].filter((s) => s !== Infinity).map(at).filter((t) => t > now);
    if (!next.length) return;
    const when = Math.min(...next);
    ifa.lftTimer?.cancel();
    ifa.lftTimer = net.k.clock.addTimer(when, () => net.k.queueWork(() => { if (st.addrs.includes(ifa)) this.armLifetime(ifa); }), true);
  }
}

export { a6isAny };
