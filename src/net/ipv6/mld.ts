/*
 * Multicast Listener Discovery version 2 (RFC 3810, net/ipv6/mcast.c), the host side a switch
 * with MLD snooping relies on to forward solicited-node traffic to us.
 *
 * Joining a group (every group but all-nodes ff02::1 and interface-local ones) sends an
 * unsolicited State Change Report "change to exclude mode" with no sources to ff02::16, and
 * repeats it once (robustness 2) after a random delay below the unsolicited report interval
 * (1 s); leaving sends "change to include mode" the same way. A General or group-specific Query
 * is answered after a random delay below its Maximum Response Delay with a Current State
 * Report ("mode is exclude") for the groups asked about. Reports leave with hop limit 1 and a
 * hop-by-hop header carrying the Router Alert option, from the device's link-local address, or
 * from :: while that is still tentative (RFC 3810 5.2.13), as Linux does.
 */
import {
  IPV6_HLEN, NEXTHDR_HOP, NEXTHDR_ICMP, ETH_P_IPV6, writeIcmpv6Header, writeIpv6Header,
} from '../header/index.js';
import { IFF_LOOPBACK, type NetDevice, type SkBuff } from '../core/index.js';
import {
  a6equal, a6isAny, a6isLinkLocal, a6mcScope, ipv6EthMcMap, IN6ADDR_ANY, IN6ADDR_LINKLOCAL_ALLNODES,
} from './addr.js';
import { IFA_F_TENTATIVE, type Ipv6State, type Ip6RcvInfo } from './state.js';

export const ICMPV6_MGM_QUERY = 130;
export const ICMPV6_MLD2_REPORT = 143;
export const MLD2_MODE_IS_EXCLUDE = 2;
export const MLD2_CHANGE_TO_INCLUDE = 3;
export const MLD2_CHANGE_TO_EXCLUDE = 4;
export const MLD2_ALL_MCR: Readonly<Uint8Array> = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16);

const ROBUSTNESS = 2;
const UNSOLICITED_INTERVAL_NS = 1e9;

export class Mld {
  readonly st: Ipv6State;
  constructor(st: Ipv6State) { this.st = st; }

  /** Groups that are never reported (RFC 3810 6: all-nodes; interface-local scope). */
  private reported(group: Uint8Array): boolean {
    return !a6equal(group, IN6ADDR_LINKLOCAL_ALLNODES) && a6mcScope(group) > 1;
  }

  joined(dev: NetDevice, group: Uint8Array): void { this.stateChange(dev, group, MLD2_CHANGE_TO_EXCLUDE); }
  left(dev: NetDevice, group: Uint8Array): void { this.stateChange(dev, group, MLD2_CHANGE_TO_INCLUDE); }

  private stateChange(dev: NetDevice, group: Uint8Array, recType: number): void {
    if (!this.reported(group) || dev.flags & IFF_LOOPBACK || !dev.isUp) return;
    const g = group.slice();
    this.sendReport(dev, [g], recType);
    const net = this.st.net;
    for (let i = 1; i < ROBUSTNESS; i++) {
      const delay = net.random32() % UNSOLICITED_INTERVAL_NS;
      net.k.clock.addTimer(net.now() + delay, () => net.k.queueWork(() => {
        if (net.halted || !dev.isUp) return;
        // A report about a membership that changed again meanwhile would be stale.
        const member = this.st.mcMember(dev, g);
        if ((recType === MLD2_CHANGE_TO_EXCLUDE) === member) this.sendReport(dev, [g], recType);
      }), true);
    }
  }

  /** igmp6_event_query: answer a query after a random part of its maximum response delay. */
  rcvQuery(skb: SkBuff, info: Ip6RcvInfo): void {
    const b = skb.buf, off = skb.data;
    if (skb.len < 24 || info.hopLimit !== 1 || !a6isLinkLocal(info.saddr)) return;
    const group = b.slice(off + 8, off + 24);
    let mrd = (b[off + 4]! << 8) | b[off + 5]!;
    if (skb.len >= 28 && mrd >= 0x8000) mrd = ((mrd & 0x0fff) | 0x1000) << (((mrd >> 12) & 7) + 3); // MLDv2 exponent
    const idev = this.st.idev(info.dev);
    if (!idev) return;
    const groups = [...idev.mc.values()].map((e) => e.addr).filter((g) => this.reported(g) && (a6isAny(group) || a6equal(g, group)));
    if (!groups.length) return;
    const net = this.st.net;
    const delay = mrd ? net.random32() % (mrd * 1e6) : 0;
    const dev = info.dev;
    net.k.clock.addTimer(net.now() + delay, () => net.k.queueWork(() => {
      if (net.halted || !dev.isUp) return;
      const still = groups.filter((g) => this.st.mcMember(dev, g));
      if (still.length) this.sendReport(dev, still, MLD2_MODE_IS_EXCLUDE);
    }), true);
  }

  /** mld_sendpack: one report with a record per group. */
  sendReport(dev: NetDevice, groups: Uint8Array[], recType: number): void {
    const st = this.st, net = st.net;
    const ll = st.addrsOf(dev).find((a) => a6isLinkLocal(a.addr) && !(a.flags & IFA_F_TENTATIVE));
    const saddr = ll ? ll.addr : IN6ADDR_ANY;
    const icmpLen = 8 + 20 * groups.length;
    const skb = net.allocSkb(IPV6_HLEN + 8 + icmpLen);
    const off = skb.put(icmpLen);
    const b = skb.buf;
    b[off + 6] = groups.length >> 8; b[off + 7] = groups.length & 0xff;
    groups.forEach((g, i) => { const r = off + 8 + 20 * i; b[r] = recType; b.set(g, r + 4); });
    writeIcmpv6Header(b, off, off + icmpLen, ICMPV6_MLD2_REPORT, 0, groups.length & 0xffff, saddr, MLD2_ALL_MCR);
    // Hop-by-hop: next header ICMPv6, length 0, Router Alert (MLD, value 0), PadN(0).
    const h = skb.push(8);
    const bb = skb.buf; // push may have reallocated
    bb.set([NEXTHDR_ICMP, 0, 5, 2, 0, 0, 1, 0], h);
    const ip = skb.push(IPV6_HLEN);
    writeIpv6Header(bb, ip, { payloadLen: 8 + icmpLen, nextHeader: NEXTHDR_HOP, hopLimit: 1, saddr, daddr: MLD2_ALL_MCR });
    skb.networkHeader = ip;
    skb.dev = dev;
    dev.headerOps?.create(skb, dev, ETH_P_IPV6, ipv6EthMcMap(MLD2_ALL_MCR));
    net.count('Icmp6OutMsgs'); net.count('Icmp6OutType143');
    net.devQueueXmit(skb);
  }
}
