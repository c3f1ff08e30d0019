/*
 * UDP over IPv6 (net/ipv6/udp.c): the endpoint engine the AF_INET6 socket layer wraps.
 *
 * The same demultiplexing as UDP over IPv4 (a connected endpoint over a bound one, an exact local
 * address over the wildcard), with two IPv6 rules: the checksum is mandatory (RFC 8200 8.1: a
 * datagram with checksum 0 is dropped, and we always send one, 0 becoming 0xffff), and a
 * link-local address is only meaningful with its interface. A unicast datagram nobody wants
 * is answered with ICMPv6 port unreachable. The port space is this unit's own (a dual-stack
 * socket layer would share it with IPv4's; see README).
 */
import {
  UDP_HLEN, IPPROTO_UDP, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, ICMPV6_PKT_TOOBIG, parseUdpHeader,
  udp6ChecksumOk, writeUdp6,
} from '../header/index.js';
import type { SkBuff } from '../core/index.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { fail } from '../../lib/errors.js';
import {
  EADDRINUSE, EADDRNOTAVAIL, EINVAL, EMSGSIZE, EDESTADDRREQ, ECONNREFUSED, EHOSTUNREACH, EBADF, EPROTO, ENETUNREACH,
  EACCES,
} from '../../uapi/errno.js';
import { a6equal, a6isAny, a6isMulticast, a6key, IN6ADDR_ANY } from './addr.js';
import type { Ipv6State, Ip6RcvInfo, Ip6SendParams, Icmp6ErrorInfo } from './state.js';

export interface Udp6Datagram {
  data: Uint8Array; saddr: Uint8Array; sport: number; daddr: Uint8Array; ifindex: number; tstamp: number;
  /** The IPv6 header's hop limit and traffic class (IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS). */
  hopLimit?: number; trafficClass?: number;
}

export class Udp6Sock {
  readonly u: Udp6State;
  localAddr: Uint8Array = IN6ADDR_ANY.slice();
  localPort = 0;
  remoteAddr: Uint8Array = IN6ADDR_ANY.slice();
  remotePort = 0;
  /** SO_BINDTODEVICE / sin6_scope_id. */
  boundIf = 0;
  rcvbuf: number;
  readonly rxQueue: Udp6Datagram[] = [];
  rxBytes = 0;
  error = 0;
  closed = false;
  readonly waitq = new WaitQueue();
  drops = 0;

  constructor(u: Udp6State) { this.u = u; this.rcvbuf = u.st.net.sysctl.udp_rmem_default; }
  get bound(): boolean { return this.localPort !== 0; }

  bind(addr: Uint8Array, port: number, scopeId = 0): void {
    if (this.closed) fail(EBADF);
    if (this.bound) fail(EINVAL);
    if (!a6isAny(addr) && !a6isMulticast(addr) && !this.u.st.findAddr(addr)) fail(EADDRNOTAVAIL);
    if (scopeId) this.boundIf = scopeId;
    this.u.getPort(this, addr, port);
  }

  connect(addr: Uint8Array, port: number, scopeId = 0): void {
    if (this.closed) fail(EBADF);
    const rt = this.u.st.routeOutput(addr, a6isAny(this.localAddr) ? null : this.localAddr, scopeId || this.boundIf);
    if (!this.bound) this.u.getPort(this, IN6ADDR_ANY, 0);
    if (a6isAny(this.localAddr)) this.localAddr = rt.saddr.slice();
    this.remoteAddr = addr.slice(); this.remotePort = port;
    if (scopeId) this.boundIf = scopeId;
  }

  sendto(data: Uint8Array, daddr?: Uint8Array, dport?: number, scopeId = 0,
    o: { hopLimit?: number | undefined; trafficClass?: number; dontFrag?: boolean; mcIf?: number } = {}): number {
    if (this.closed) fail(EBADF);
    const st = this.u.st, net = st.net;
    if (!daddr) {
      if (!this.remotePort) fail(EDESTADDRREQ);
      daddr = this.remoteAddr; dport = this.remotePort;
    }
    if (!dport) fail(EINVAL);
    if (data.length > 65535 - UDP_HLEN) fail(EMSGSIZE);
    const oif = scopeId || this.boundIf || (a6isMulticast(daddr) ? o.mcIf ?? 0 : 0);
    const rt = st.routeOutput(daddr, a6isAny(this.localAddr) || a6isMulticast(this.localAddr) ? null : this.localAddr, oif);
    if (!this.bound) this.u.getPort(this, IN6ADDR_ANY, 0);
    const len = UDP_HLEN + data.length;
    const skb = net.allocSkb(len);
    const off = skb.put(len);
    skb.buf.set(data, off + UDP_HLEN);
    writeUdp6(skb.buf, off, this.localPort, dport, len, rt.saddr, daddr);
    skb.transportHeader = off;
    const p: Ip6SendParams = { daddr, saddr: rt.saddr, nextHeader: IPPROTO_UDP };
    if (oif) p.oif = oif;
    if (o.hopLimit !== undefined) p.hopLimit = o.hopLimit;
    if (o.trafficClass) p.trafficClass = o.trafficClass;
    if (o.dontFrag) p.dontFrag = true;
    this.u.xmit(skb, p);
    net.count('Udp6OutDatagrams');
    return data.length;
  }

  recv(): Udp6Datagram | null {
    if (this.error) { const e = this.error; this.error = 0; fail(e); }
    const d = this.rxQueue.shift();
    if (!d) return null;
    this.rxBytes -= d.data.length;
    this.u.st.net.memUncharge(d.data.length);
    return d;
  }

  async recvWait(deadlineNs = Infinity): Promise<Udp6Datagram | null> {
    const clock = this.u.st.net.k.clock;
    for (;;) {
      const d = this.recv();
      if (d) return d;
      if (this.closed || this.u.st.net.halted) return null;
      const r = await clock.waitTimeout(this.waitq, deadlineNs);
      if (r === -1) return this.recv();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.u.unhash(this);
    this.u.st.net.memUncharge(this.rxBytes);
    this.rxQueue.length = 0; this.rxBytes = 0;
    this.waitq.wakeAll();
  }

  enqueue(d: Udp6Datagram): boolean {
    if (this.rxBytes + d.data.length > this.rcvbuf && this.rxQueue.length) { this.drops++; return false; }
    if (!this.u.st.net.memCharge(d.data.length)) { this.drops++; return false; }
    this.rxQueue.push(d);
    this.rxBytes += d.data.length;
    this.waitq.wakeAll();
    return true;
  }
}

export class Udp6State {
  readonly st: Ipv6State;
  readonly ports = new Map<number, Udp6Sock[]>();
  readonly xmit: (skb: SkBuff, p: Ip6SendParams) => void;
  readonly icmpSend: (skb: SkBuff, type: number, code: number, info: number) => void;

  constructor(st: Ipv6State, xmit: (skb: SkBuff, p: Ip6SendParams) => void,
    icmpSend: (skb: SkBuff, type: number, code: number, info: number) => void) {
    this.st = st; this.xmit = xmit; this.icmpSend = icmpSend;
  }

  socket(): Udp6Sock { return new Udp6Sock(this); }

  getPort(sk: Udp6Sock, addr: Uint8Array, port: number): void {
    const conflict = (p: number) => (this.ports.get(p) ?? []).some((o) => a6isAny(o.localAddr) || a6isAny(addr) || a6equal(o.localAddr, addr));
    if (port === 0) {
      const [lo, hi] = this.st.net.sysctl.ip_local_port_range;
      const n = hi - lo + 1;
      let p = lo + (this.st.net.random32() % n);
      for (let i = 0; i < n; i++, p = p === hi ? lo : p + 1) if (!conflict(p)) { port = p; break; }
      if (port === 0) fail(EADDRINUSE);
    } else if (conflict(port)) fail(EADDRINUSE);
    sk.localAddr = addr.slice();
    sk.localPort = port;
    const l = this.ports.get(port) ?? [];
    l.push(sk);
    this.ports.set(port, l);
  }

  unhash(sk: Udp6Sock): void {
    const l = this.ports.get(sk.localPort);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i >= 0) l.splice(i, 1);
    if (!l.length) this.ports.delete(sk.localPort);
  }

  /** __udp6_lib_rcv: skb.data at the UDP header. Never throws on bad input. */
  rcv(skb: SkBuff, info: Ip6RcvInfo): void {
    const net = this.st.net;
    const b = skb.buf;
    const h = parseUdpHeader(b.subarray(0, skb.tail), skb.data);
    if (!h || h.len < UDP_HLEN || h.len > skb.len) { net.count('Udp6InErrors'); return; }
    skb.trim(h.len);
    if (h.check === 0 || !udp6ChecksumOk(b, skb.data, h.len, info.saddr, info.daddr)) {
      net.count('Udp6InCsumErrors'); net.count('Udp6InErrors'); return;
    }
    const mc = a6isMulticast(info.daddr);
    const cands = (this.ports.get(h.dport) ?? []).filter((s) =>
      (a6isAny(s.localAddr) || a6equal(s.localAddr, info.daddr)) &&
      (!s.remotePort || (s.remotePort === h.sport && a6equal(s.remoteAddr, info.saddr))) &&
      (!s.boundIf || s.boundIf === info.dev.ifindex));
    if (!cands.length) {
      net.count('Udp6NoPorts');
      if (!mc) this.icmpSend(skb, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0);
      return;
    }
    const score = (s: Udp6Sock) => (s.remotePort ? 4 : 0) + (a6isAny(s.localAddr) ? 0 : 2) + (s.boundIf ? 1 : 0);
    const targets = mc ? cands : [cands.reduce((a, s) => (score(s) > score(a) ? s : a))];
    const data = b.slice(skb.data + UDP_HLEN, skb.data + h.len);
    for (const s of targets) {
      const ok = s.enqueue({ data: targets.length > 1 ? data.slice() : data, saddr: info.saddr, sport: h.sport, daddr: info.daddr, ifindex: info.dev.ifindex, tstamp: skb.tstamp, hopLimit: info.hopLimit, trafficClass: info.trafficClass });
      net.count(ok ? 'Udp6InDatagrams' : 'Udp6RcvbufErrors');
    }
  }

  /** __udp6_lib_err: a connected socket learns the error (ECONNREFUSED for port unreachable). */
  err(e: Icmp6ErrorInfo): void {
    if (e.payload.length < 8) return;
    const sport = (e.payload[0]! << 8) | e.payload[1]!, dport = (e.payload[2]! << 8) | e.payload[3]!;
    for (const s of this.ports.get(sport) ?? []) {
      if (!s.remotePort || s.remotePort !== dport || !a6equal(s.remoteAddr, e.daddr)) continue;
      if (e.type === ICMPV6_PKT_TOOBIG) continue;
      s.error = e.type === ICMPV6_DEST_UNREACH ? (e.code === ICMPV6_PORT_UNREACH ? ECONNREFUSED : e.code === 0 ? ENETUNREACH : e.code === 1 ? EACCES : EHOSTUNREACH) : e.type === 3 ? EHOSTUNREACH : EPROTO;
      s.waitq.wakeAll();
    }
  }
}

export { a6key };
