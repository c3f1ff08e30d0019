/*
 * ICMP for IPv4 (net/ipv4/icmp.c): answering echo requests, reporting errors about packets we
 * received (icmpSend), passing errors about packets we sent to the protocol that sent them, and
 * an in-kernel ping for tests and `net-test`.
 *
 * icmpSend follows RFC 1122 3.2.2 as Linux does: no error about an ICMP error, about a datagram
 * sent to a broadcast or multicast address (or received as a link broadcast), about a fragment
 * other than the first, or about a packet whose source is not a single host. Errors quote the
 * offending IP header and as much of its data as fits a 576-byte datagram, and are rate limited
 * per destination (icmp_ratelimit, 1 s, with a burst of 6) except towards loopback.
 */
import {
  ICMP_HLEN, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB,
  ICMP_SOURCE_QUENCH, ICMP_REDIRECT, NR_ICMP_TYPES, IPPROTO_ICMP, IP_OFFSET, IPV4_MIN_HLEN, INADDR_BROADCAST,
  icmpIsError, inetChecksum, parseIcmpHeader, parseIpv4Header, writeIcmpHeader, ipv4IsMulticast,
  ipv4IsZeronet, echoId, echoSeq, type Ipv4Header,
} from '../header/index.js';
import {
  PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, IFF_LOOPBACK, type NetNamespace, type SkBuff,
} from '../core/index.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { fail } from '../../lib/errors.js';
import { ENODEV, EINVAL } from '../../uapi/errno.js';

/** IP datagrams carrying ICMP errors are at most this long (RFC 1812 4.3.2.3). */
export const ICMP_ERR_MAX = 576;
const IPTOS_PREC_INTERNETCONTROL = 0xc0;
const XRLIM_BURST_FACTOR = 6;

export interface PingReply {
  /** ICMP_ECHOREPLY, or the error type (destination unreachable, time exceeded) that came back. */
  type: number;
  code: number;
  from: number;
  seq: number;
  ttl: number;
  /** Echoed payload length. */
  bytes: number;
  rttNs: number;
  /** The payload came back byte for byte. */
  intact: boolean;
}

interface PingWaiter { id: number; seq: number; daddr: number; payload: Uint8Array; sent: number; reply: PingReply | null; wq: WaitQueue }

export class IcmpState {
  readonly net: NetNamespace;
  /** Per destination token bucket (inet_peer rate_tokens / rate_last), ns. */
  private peers = new Map<number, { tokens: number; last: number }>();
  private waiters = new Map<string, PingWaiter>();
  private nextId: number;

  constructor(net: NetNamespace) {
    this.net = net;
    this.nextId = net.random32() & 0xffff;
  }

  // --- input ----------------------------------------------------------------------------------

  /** icmp_rcv: skb.data at the ICMP header. */
  rcv(skb: SkBuff, iph: Ipv4Header): void {
    const net = this.net;
    net.count('IcmpInMsgs');
    const b = skb.buf;
    if (skb.len < ICMP_HLEN) { net.count('IcmpInErrors'); return; }
    if (inetChecksum(b, skb.data, skb.tail) !== 0) { net.count('IcmpInCsumErrors'); net.count('IcmpInErrors'); return; }
    const h = parseIcmpHeader(b, skb.data)!;
    switch (h.type) {
      case ICMP_ECHO: this.echo(skb, iph); return;
      case ICMP_ECHOREPLY: this.echoReply(skb, iph, h.un); return;
      case ICMP_DEST_UNREACH: case ICMP_TIME_EXCEEDED: case ICMP_PARAMETERPROB: case ICMP_SOURCE_QUENCH:
        this.unreach(skb, iph, h.type, h.code, h.un);
        return;
      default:
        return;
    }
  }

  /** icmp_echo: reply with the same identifier, sequence and data. */
  private echo(skb: SkBuff, iph: Ipv4Header): void {
    const net = this.net;
    if (net.sysctl.icmp_echo_ignore_all) return;
    const bcast = skb.pktType === PACKET_BROADCAST || skb.pktType === PACKET_MULTICAST ||
      ipv4IsMulticast(iph.daddr) || (skb.dev !== null && !net.isLocalAddr(iph.daddr));
    if (bcast && net.sysctl.icmp_echo_ignore_broadcasts) return;
    const len = skb.len;
    const r = net.allocSkb(len);
    const off = r.put(len);
    r.buf.set(skb.buf.subarray(skb.data, skb.tail), off);
    writeIcmpHeader(r.buf, off, off + len, ICMP_ECHOREPLY, 0, parseIcmpHeader(r.buf, off)!.un);
    const saddr = net.isLocalAddr(iph.daddr) ? iph.daddr : 0;
    try {
      net.ipQueueXmit(r, { daddr: iph.saddr, saddr, protocol: IPPROTO_ICMP, tos: iph.tos });
      net.count('IcmpOutEchoReps');
    } catch { net.count('IcmpOutErrors'); }
  }

  private echoReply(skb: SkBuff, iph: Ipv4Header, un: number): void {
    const id = un >>> 16, seq = un & 0xffff;
    const w = this.waiters.get(`${id}/${seq}`);
    if (!w || w.reply) return;
    const data = skb.buf.subarray(skb.data + ICMP_HLEN, skb.tail);
    let intact = data.length === w.payload.length;
    for (let i = 0; intact && i < data.length; i++) if (data[i] !== w.payload[i]) intact = false;
    w.reply = {
      type: ICMP_ECHOREPLY, code: 0, from: iph.saddr, seq, ttl: iph.ttl, bytes: data.length + ICMP_HLEN,
      rttNs: this.net.now() - w.sent, intact,
    };
    w.wq.wakeAll();
  }

  /** icmp_unreach: an error about something we sent goes to its protocol (and to a waiting ping). */
  private unreach(skb: SkBuff, iph: Ipv4Header, type: number, code: number, un: number): void {
    const net = this.net;
    const q = skb.data + ICMP_HLEN;
    if (skb.tail - q < IPV4_MIN_HLEN + 8) return;
    const inner = parseIpv4Header(skb.buf, q);
    if (!inner || inner.version !== 4 || inner.ihl < 5) return;
    const ihl = inner.ihl * 4;
    if (skb.tail - q < ihl + 8) return;
    const payload = skb.buf.subarray(q + ihl, skb.tail);
    if (inner.protocol === IPPROTO_ICMP && payload[0] === ICMP_ECHO) {
      const id = (payload[4]! << 8) | payload[5]!, seq = (payload[6]! << 8) | payload[7]!;
      const w = this.waiters.get(`${id}/${seq}`);
      if (w && !w.reply && w.daddr === inner.daddr) {
        w.reply = { type, code, from: iph.saddr, seq, ttl: iph.ttl, bytes: 0, rttNs: net.now() - w.sent, intact: false };
        w.wq.wakeAll();
      }
      return;
    }
    const info = type === ICMP_DEST_UNREACH ? un & 0xffff : type === ICMP_PARAMETERPROB ? un >>> 24 : 0;
    net.inetProtos.get(inner.protocol)?.errHandler?.({ type, code, info, iph: inner, payload });
  }

  // --- errors we send -------------------------------------------------------------------------

  /** icmp_send: skbIn.networkHeader is the offending datagram's IP header. Never throws. */
  send(skbIn: SkBuff, type: number, code: number, info: number): void {
    const net = this.net;
    try {
      const nh = skbIn.networkHeader;
      if (nh < 0 || skbIn.tail - nh < IPV4_MIN_HLEN) return;
      const iph = parseIpv4Header(skbIn.buf, nh)!;
      const ihl = iph.ihl * 4;
      if (skbIn.pktType !== PACKET_HOST) return;
      if (iph.daddr === INADDR_BROADCAST || ipv4IsMulticast(iph.daddr)) return;
      if (skbIn.dev && net.isBroadcastOn(iph.daddr, skbIn.dev as never)) return;
      if (iph.saddr === 0 || iph.saddr === INADDR_BROADCAST || ipv4IsMulticast(iph.saddr) || ipv4IsZeronet(iph.saddr)) return;
      if (iph.fragOff & IP_OFFSET) return;
      if (icmpIsError(type) && iph.protocol === IPPROTO_ICMP) {
        const t = skbIn.buf[nh + ihl];
        if (t === undefined || t >= NR_ICMP_TYPES || icmpIsError(t) || t === ICMP_REDIRECT) return;
      }
      let rt;
      try { rt = net.routeOutput(iph.saddr); } catch { return; }
      if (icmpIsError(type) && !(rt.dev.flags & IFF_LOOPBACK) && !this.rateAllow(iph.saddr)) { net.count('IcmpRateLimit'); return; }
      const quoted = Math.min(skbIn.tail - nh, ICMP_ERR_MAX - IPV4_MIN_HLEN - ICMP_HLEN);
      const r = net.allocSkb(ICMP_HLEN + quoted);
      const off = r.put(ICMP_HLEN + quoted);
      r.buf.set(skbIn.buf.subarray(nh, nh + quoted), off + ICMP_HLEN);
      const un = type === ICMP_PARAMETERPROB ? (info & 0xff) << 24 : type === ICMP_DEST_UNREACH ? info & 0xffff : 0;
      writeIcmpHeader(r.buf, off, off + ICMP_HLEN + quoted, type, code, un);
      const saddr = net.isLocalAddr(iph.daddr) ? iph.daddr : 0;
      net.ipQueueXmit(r, {
        daddr: iph.saddr, saddr, protocol: IPPROTO_ICMP, tos: (iph.tos & 0x1e) | IPTOS_PREC_INTERNETCONTROL,
      });
      net.count('IcmpOutMsgs');
      net.count(`IcmpOutType${type}`);
    } catch (e) {
      net.count('IcmpOutErrors');
      if (!(e instanceof Error && 'errno' in e)) net.oops('icmp_send', e);
    }
  }

  /** inet_peer_xrlim_allow: token bucket per destination. */
  private rateAllow(daddr: number): boolean {
    const timeout = this.net.sysctl.icmp_ratelimit * 1e6;
    if (timeout <= 0) return true;
    const now = this.net.now();
    let p = this.peers.get(daddr);
    if (!p) { p = { tokens: XRLIM_BURST_FACTOR * timeout, last: now }; this.peers.set(daddr, p); }
    p.tokens = Math.min(p.tokens + (now - p.last), XRLIM_BURST_FACTOR * timeout);
    p.last = now;
    if (p.tokens >= timeout) { p.tokens -= timeout; return true; }
    return false;
  }

  // --- ping -----------------------------------------------------------------------------------

  /**
   * Sends one echo request and waits for its reply (or an ICMP error about it) until
   * timeoutNs. Resolves null on timeout. Throws what output throws (ENETUNREACH, EMSGSIZE).
   */
  async ping(daddr: number, o: PingOptions = {}): Promise<PingReply | null> {
    const net = this.net;
    const size = o.size ?? 56;
    if (size < 0 || size > 65507) fail(EINVAL);
    const id = o.id ?? this.nextId;
    const seq = (o.seq ?? 1) & 0xffff;
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i++) payload[i] = (i + 8) & 0xff; // ping's default pattern
    const key = `${id}/${seq}`;
    const w: PingWaiter = { id, seq, daddr: daddr >>> 0, payload, sent: net.now(), reply: null, wq: new WaitQueue() };
    this.waiters.set(key, w);
    try {
      const skb = net.allocSkb(ICMP_HLEN + size);
      const off = skb.put(ICMP_HLEN + size);
      skb.buf.set(payload, off + ICMP_HLEN);
      writeIcmpHeader(skb.buf, off, off + ICMP_HLEN + size, ICMP_ECHO, 0, ((id << 16) | seq) >>> 0);
      const p: Parameters<NetNamespace['ipQueueXmit']>[1] = { daddr: daddr >>> 0, protocol: IPPROTO_ICMP };
      if (o.ttl !== undefined) p.ttl = o.ttl;
      if (o.df !== undefined) p.df = o.df;
      if (o.saddr !== undefined) p.saddr = o.saddr;
      net.ipQueueXmit(skb, p);
      net.count('IcmpOutEchos');
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

export interface PingOptions {
  /** Bytes of data after the 8-byte header (ping -s), default 56. */
  size?: number;
  id?: number;
  seq?: number;
  ttl?: number;
  df?: boolean;
  saddr?: number;
  /** Default 1 s. */
  timeoutNs?: number;
}

const states = new WeakMap<NetNamespace, IcmpState>();

/** icmp_init: registers protocol 1 and the ICMP error sender. */
export function icmpInit(net: NetNamespace): IcmpState {
  let st = states.get(net);
  if (st) return st;
  const s = new IcmpState(net);
  states.set(net, s);
  net.inetAddProtocol(IPPROTO_ICMP, { handler: (skb, iph) => s.rcv(skb, iph) });
  net.icmpSend = (skb, type, code, info) => s.send(skb, type, code, info);
  return s;
}

/** ping(8) in the kernel: one echo request to daddr. */
export function ping(net: NetNamespace, daddr: number, o?: PingOptions): Promise<PingReply | null> {
  const s = states.get(net) ?? fail(ENODEV, 'ICMP not initialised');
  return s.ping(daddr, o);
}

export { echoId, echoSeq };
