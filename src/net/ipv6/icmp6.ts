/*
 * ICMPv6 (RFC 4443, net/ipv6/icmp.c): echo, the four error messages, and the dispatch of
 * Neighbor Discovery messages to ndisc.
 *
 * Sending errors (icmp6_send) follows RFC 4443 2.4(e) as Linux does: never about an ICMPv6 error
 * or a redirect, never about a packet whose source is unspecified or multicast, and not about a
 * packet sent to a multicast address or received as a link-layer multicast — except Packet Too
 * Big and a parameter problem for an unrecognized option whose type asks for it (high bits 10).
 * An error quotes as much of the offending packet as fits the minimum MTU (1280 bytes). Errors
 * other than Packet Too Big (icmp_ratemask 0-1,3-127) are rate limited per destination with a
 * token bucket of icmp_ratelimit (1 s) scaled down for wider routes (>> ((128 - plen) >> 5)) and
 * a burst of 6, never towards loopback.
 *
 * Errors received about packets we sent go to the upper protocol named in the quote (after its
 * extension headers), and Packet Too Big lowers the path MTU cache (never below 1280) for
 * mtu_expires (10 minutes).
 */
import {
  ICMPV6_HLEN, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_DEST_UNREACH, ICMPV6_PKT_TOOBIG, ICMPV6_TIME_EXCEED,
  ICMPV6_PARAMPROB, NDISC_REDIRECT, IPV6_HLEN, IPV6_MIN_MTU, NEXTHDR_ICMP, NEXTHDR_HOP, NEXTHDR_DEST,
  NEXTHDR_ROUTING, NEXTHDR_FRAGMENT, icmpv6ChecksumOk, icmpv6IsError, parseIcmpv6Header, parseIpv6Header,
  writeIcmpv6Header, NDISC_ROUTER_SOLICITATION, NDISC_NEIGHBOUR_ADVERTISEMENT,
} from '../header/index.js';
import { PACKET_HOST, IFF_LOOPBACK, type SkBuff } from '../core/index.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { fail } from '../../lib/errors.js';
import { EINVAL } from '../../uapi/errno.js';
import { a6key, a6isAny, a6isMulticast, a6equal } from './addr.js';
import type { Ipv6State, Ip6RcvInfo, Ip6SendParams } from './state.js';
import { ICMPV6_UNK_OPTION } from './input.js';

const XRLIM_BURST_FACTOR = 6;

export interface Ping6Reply {
  /** ICMPV6_ECHO_REPLY, or the error type that came back instead. */
  type: number;
  code: number;
  from: Uint8Array;
  seq: number;
  hopLimit: number;
  bytes: number;
  rttNs: number;
  intact: boolean;
}

export interface Ping6Options {
  size?: number; id?: number; seq?: number; hopLimit?: number; saddr?: Uint8Array; oif?: number;
  dontFrag?: boolean; timeoutNs?: number;
}

interface Waiter { daddr: Uint8Array; payload: Uint8Array; sent: number; reply: Ping6Reply | null; wq: WaitQueue }

export interface Icmp6Deps {
  st: Ipv6State;
  xmit(skb: SkBuff, p: Ip6SendParams): void;
  ndiscRcv(skb: SkBuff, info: Ip6RcvInfo, type: number): void;
  /** MLD queries and reports (130-132, 143). */
  mldRcv?(skb: SkBuff, info: Ip6RcvInfo, type: number): void;
}

export class Icmp6 {
  readonly d: Icmp6Deps;
  private peers = new Map<string, { tokens: number; last: number }>();
  private waiters = new Map<string, Waiter>();
  private nextId: number;

  constructor(d: Icmp6Deps) { this.d = d; this.nextId = d.st.net.random32() & 0xffff; }

  /** icmpv6_rcv: skb.data at the ICMPv6 header. */
  rcv(skb: SkBuff, info: Ip6RcvInfo): void {
    const net = this.d.st.net;
    net.count('Icmp6InMsgs');
    const b = skb.buf;
    if (skb.len < 4) { net.count('Icmp6InErrors'); return; }
    if (!icmpv6ChecksumOk(b, skb.data, skb.tail, info.saddr, info.daddr)) {
      net.count('Icmp6InCsumErrors'); net.count('Icmp6InErrors'); return;
    }
    const type = b[skb.data]!;
    net.count(`Icmp6InType${type}`);
    if (type >= NDISC_ROUTER_SOLICITATION && type <= NDISC_REDIRECT) { this.d.ndiscRcv(skb, info, type); return; }
    if ((type >= 130 && type <= 132) || type === 143) { this.d.mldRcv?.(skb, info, type); return; }
    if (skb.len < ICMPV6_HLEN) { net.count('Icmp6InErrors'); return; }
    const h = parseIcmpv6Header(b, skb.data)!;
    switch (type) {
      case ICMPV6_ECHO_REQUEST: this.echo(skb, info, h.un); return;
      case ICMPV6_ECHO_REPLY: this.echoReply(skb, info, h.un); return;
      case ICMPV6_DEST_UNREACH: case ICMPV6_PKT_TOOBIG: case ICMPV6_TIME_EXCEED: case ICMPV6_PARAMPROB:
        this.err(skb, info, type, h.code, h.un);
        return;
      default:
        return;
    }
  }

  /** icmpv6_echo_reply: same identifier, sequence and data; a multicast request is answered from a unicast source. */
  private echo(skb: SkBuff, info: Ip6RcvInfo, un: number): void {
    const st = this.d.st, net = st.net;
    if (st.sysctl.icmp_echo_ignore_all) return;
    const mc = a6isMulticast(info.daddr);
    if (mc && st.sysctl.icmp_echo_ignore_multicast) return;
    const len = skb.len;
    const r = net.allocSkb(len);
    const off = r.put(len);
    r.buf.set(skb.buf.subarray(skb.data, skb.tail), off);
    r.buf[off] = ICMPV6_ECHO_REPLY;
    const p: Ip6SendParams = {
      daddr: info.saddr, nextHeader: NEXTHDR_ICMP, trafficClass: info.trafficClass,
      oif: info.dev.flags & IFF_LOOPBACK ? 0 : info.dev.ifindex,
    };
    if (!mc) p.saddr = info.daddr;
    try {
      const rt = st.routeOutput(info.saddr, p.saddr ?? null, p.oif ?? 0);
      writeIcmpv6Header(r.buf, off, off + len, ICMPV6_ECHO_REPLY, 0, un, rt.saddr, info.saddr);
      p.saddr = rt.saddr;
      this.d.xmit(r, p);
      net.count('Icmp6OutMsgs'); net.count('Icmp6OutType129');
    } catch { net.count('Icmp6OutErrors'); }
  }

  private echoReply(skb: SkBuff, info: Ip6RcvInfo, un: number): void {
    const id = un >>> 16, seq = un & 0xffff;
    const w = this.waiters.get(`${id}/${seq}`);
    if (!w || w.reply) return;
    const data = skb.buf.subarray(skb.data + ICMPV6_HLEN, skb.tail);
    let intact = data.length === w.payload.length;
    for (let i = 0; intact && i < data.length; i++) if (data[i] !== w.payload[i]) intact = false;
    w.reply = {
      type: ICMPV6_ECHO_REPLY, code: 0, from: info.saddr, seq, hopLimit: info.hopLimit,
      bytes: data.length + ICMPV6_HLEN, rttNs: this.d.st.net.now() - w.sent, intact,
    };
    w.wq.wakeAll();
  }

  /** icmpv6_notify: an error about a packet we sent. */
  private err(skb: SkBuff, info: Ip6RcvInfo, type: number, code: number, un: number): void {
    const st = this.d.st;
    const q = skb.data + ICMPV6_HLEN;
    const inner = parseIpv6Header(skb.buf.subarray(0, skb.tail), q);
    if (!inner || inner.version !== 6) return;
    if (type === ICMPV6_PKT_TOOBIG) {
      const mtu = Math.max(un >>> 0, IPV6_MIN_MTU);
      const k = a6key(inner.daddr);
      const cur = st.pmtu.get(k);
      if (!cur || cur.mtu > mtu || cur.expires <= st.net.now()) {
        st.pmtu.set(k, { mtu, expires: st.net.now() + st.sysctl.mtu_expires * 1e9 });
      }
    }
    // Skip the quoted extension headers to the upper protocol.
    let nexthdr = inner.nextHeader, pos = q + IPV6_HLEN;
    const b = skb.buf;
    for (let i = 0; i < 16; i++) {
      if (nexthdr === NEXTHDR_HOP || nexthdr === NEXTHDR_DEST || nexthdr === NEXTHDR_ROUTING) {
        if (skb.tail - pos < 8) return;
        const n = b[pos]!; pos += (b[pos + 1]! + 1) * 8; nexthdr = n;
      } else if (nexthdr === NEXTHDR_FRAGMENT) {
        if (skb.tail - pos < 8) return;
        if (((b[pos + 2]! << 8) | b[pos + 3]!) & 0xfff8) return; // not the first fragment
        nexthdr = b[pos]!; pos += 8;
      } else break;
    }
    if (skb.tail - pos < 8) return;
    const payload = b.subarray(pos, skb.tail);
    if (nexthdr === NEXTHDR_ICMP && payload[0] === ICMPV6_ECHO_REQUEST) {
      const id = (payload[4]! << 8) | payload[5]!, seq = (payload[6]! << 8) | payload[7]!;
      const w = this.waiters.get(`${id}/${seq}`);
      if (w && !w.reply && a6equal(w.daddr, inner.daddr)) {
        w.reply = { type, code, from: info.saddr, seq, hopLimit: info.hopLimit, bytes: 0, rttNs: st.net.now() - w.sent, intact: false };
        w.wq.wakeAll();
      }
      return;
    }
    st.protos.get(nexthdr)?.errHandler?.({
      type, code, info: un >>> 0, saddr: inner.saddr.slice(), daddr: inner.daddr.slice(), nextHeader: nexthdr, payload,
    });
  }

  // --- errors we send -------------------------------------------------------------------------

  /** icmp6_send: skbIn.networkHeader at the offending packet's IPv6 header. Never throws. */
  send(skbIn: SkBuff, type: number, code: number, info: number): void {
    const st = this.d.st, net = st.net;
    try {
      const nh = skbIn.networkHeader;
      if (nh < 0 || skbIn.tail - nh < IPV6_HLEN) return;
      const hdr = parseIpv6Header(skbIn.buf.subarray(0, skbIn.tail), nh)!;
      const saddr = hdr.saddr.slice(), daddr = hdr.daddr.slice();
      let src: Uint8Array | null = st.isLocal(daddr) ? daddr : null;
      if (a6isMulticast(daddr) || skbIn.pktType !== PACKET_HOST) {
        const unrecOpt = type === ICMPV6_PARAMPROB && code === ICMPV6_UNK_OPTION &&
          ((skbIn.buf[nh + info] ?? 0) & 0xc0) === 0x80;
        if (!(type === ICMPV6_PKT_TOOBIG || unrecOpt)) return;
        src = null;
      }
      if (a6isAny(saddr) || a6isMulticast(saddr)) return;
      if (icmpv6IsError(type) && this.isIneligible(skbIn, nh, hdr.nextHeader)) return;
      const dev = skbIn.dev as Parameters<Ipv6State['idev']>[0] | null;
      const oif = dev && !(dev.flags & IFF_LOOPBACK) ? dev.ifindex : 0;
      let rt;
      try { rt = st.routeOutput(saddr, src, oif); } catch { return; }
      if (!this.rateAllow(type, saddr, rt.dev.flags & IFF_LOOPBACK ? -1 : rt.route?.prefixLen ?? 128)) {
        net.count('Icmp6RateLimit'); return;
      }
      const quoted = Math.min(skbIn.tail - nh, IPV6_MIN_MTU - IPV6_HLEN - ICMPV6_HLEN);
      const r = net.allocSkb(ICMPV6_HLEN + quoted);
      const off = r.put(ICMPV6_HLEN + quoted);
      r.buf.set(skbIn.buf.subarray(nh, nh + quoted), off + ICMPV6_HLEN);
      writeIcmpv6Header(r.buf, off, off + ICMPV6_HLEN + quoted, type, code, info, rt.saddr, saddr);
      this.d.xmit(r, { daddr: saddr, saddr: rt.saddr, nextHeader: NEXTHDR_ICMP, oif });
      net.count('Icmp6OutMsgs');
      net.count(`Icmp6OutType${type}`);
    } catch (e) {
      net.count('Icmp6OutErrors');
      if (!(e instanceof Error && 'errno' in e)) net.oops('icmp6_send', e);
    }
  }

  /** is_ineligible: the offending packet is itself an ICMPv6 error or redirect (or we cannot tell). */
  private isIneligible(skb: SkBuff, nh: number, nexthdr: number): boolean {
    const b = skb.buf;
    let pos = nh + IPV6_HLEN;
    for (let i = 0; i < 16; i++) {
      if (nexthdr === NEXTHDR_HOP || nexthdr === NEXTHDR_DEST || nexthdr === NEXTHDR_ROUTING) {
        if (skb.tail - pos < 8) return false;
        const n = b[pos]!; pos += (b[pos + 1]! + 1) * 8; nexthdr = n;
      } else if (nexthdr === NEXTHDR_FRAGMENT) {
        if (skb.tail - pos < 8) return false;
        if (((b[pos + 2]! << 8) | b[pos + 3]!) & 0xfff8) return false;
        nexthdr = b[pos]!; pos += 8;
      } else break;
    }
    if (nexthdr !== NEXTHDR_ICMP) return false;
    if (pos >= skb.tail) return true;
    const t = b[pos]!;
    return icmpv6IsError(t) || t === NDISC_REDIRECT;
  }

  /** icmpv6_xrlim_allow. prefixLen -1: towards loopback, always allowed. */
  private rateAllow(type: number, daddr: Uint8Array, prefixLen: number): boolean {
    const s = this.d.st.sysctl;
    if (prefixLen < 0 || !s.icmp_ratemask(type)) return true;
    let tmo = s.icmp_ratelimit * 1e6;
    if (tmo <= 0) return true;
    if (prefixLen < 128) tmo = Math.floor(tmo / 2 ** ((128 - prefixLen) >> 5));
    const now = this.d.st.net.now();
    const k = a6key(daddr);
    let p = this.peers.get(k);
    if (!p) { p = { tokens: XRLIM_BURST_FACTOR * tmo, last: now }; this.peers.set(k, p); }
    p.tokens = Math.min(p.tokens + (now - p.last), XRLIM_BURST_FACTOR * tmo);
    p.last = now;
    if (p.tokens >= tmo) { p.tokens -= tmo; return true; }
    return false;
  }

  // --- ping -----------------------------------------------------------------------------------

  async ping(daddr: Uint8Array, o: Ping6Options = {}): Promise<Ping6Reply | null> {
    const st = this.d.st, net = st.net;
    const size = o.size ?? 56;
    if (size < 0 || size > 65527) fail(EINVAL);
    const id = o.id ?? this.nextId;
    const seq = (o.seq ?? 1) & 0xffff;
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i++) payload[i] = (i + 8) & 0xff;
    const key = `${id}/${seq}`;
    const w: Waiter = { daddr: daddr.slice(), payload, sent: net.now(), reply: null, wq: new WaitQueue() };
    this.waiters.set(key, w);
    try {
      const rt = st.routeOutput(daddr, o.saddr ?? null, o.oif ?? 0);
      const skb = net.allocSkb(ICMPV6_HLEN + size);
      const off = skb.put(ICMPV6_HLEN + size);
      skb.buf.set(payload, off + ICMPV6_HLEN);
      writeIcmpv6Header(skb.buf, off, off + ICMPV6_HLEN + size, ICMPV6_ECHO_REQUEST, 0, ((id << 16) | seq) >>> 0, rt.saddr, daddr);
      const p: Ip6SendParams = { daddr, saddr: rt.saddr, nextHeader: NEXTHDR_ICMP };
      if (o.oif) p.oif = o.oif;
      if (o.hopLimit !== undefined) p.hopLimit = o.hopLimit;
      if (o.dontFrag) p.dontFrag = true;
      this.d.xmit(skb, p);
      net.count('Icmp6OutMsgs'); net.count('Icmp6OutType128');
      const deadline = net.now() + (o.timeoutNs ?? 1e9);
      while (!w.reply) {
        const r = await net.k.clock.waitTimeout(w.wq, deadline);
        if (r === -1 && !w.reply) return null;
        if (net.halted) return null;
      }
      return w.reply;
    } finally {
      this.waiters.delete(key);
    }
  }
}

export { NDISC_NEIGHBOUR_ADVERTISEMENT };
