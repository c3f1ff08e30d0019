/*
 * UDP (net/ipv4/udp.c): demultiplexing datagrams to bound endpoints, and sending.
 *
 * An endpoint (UdpSock) is bound to a local address (0 = any) and port. An arriving datagram goes
 * to the endpoint that matches best: a connected endpoint whose remote address and port match,
 * then an exact local address over the wildcard. Broadcasts go to every match. When nothing
 * matches, a unicast datagram is answered with ICMP port unreachable. Checksums are verified
 * (zero means none, over IPv4). Each endpoint queues at most rcvbuf bytes; beyond, datagrams
 * are dropped and counted (RcvbufErrors), as Linux does.
 *
 * This is the engine the socket layer wraps: bind/connect/sendto/recv with Linux's errnos; the
 * socket layer adds file descriptors, flags and poll (waitq is woken on every arrival and error).
 */
import {
  UDP_HLEN, IPPROTO_UDP, INADDR_BROADCAST, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH,
  ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB, ICMP_FRAG_NEEDED, parseUdpHeader, udp4ChecksumOk, writeUdp4,
  ipv4IsMulticast, IP_MAXPACKET, IPV4_MIN_HLEN, type Ipv4Header,
} from '../header/index.js';
import { type NetNamespace, type SkBuff, type IcmpErrorInfo, RTN_BROADCAST } from '../core/index.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { fail } from '../../lib/errors.js';
import {
  EADDRINUSE, EADDRNOTAVAIL, EINVAL, EMSGSIZE, ENODEV, EDESTADDRREQ, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH,
  EPROTO, EACCES, EBADF,
} from '../../uapi/errno.js';

export interface UdpDatagram {
  data: Uint8Array;
  saddr: number;
  sport: number;
  daddr: number;
  ifindex: number;
  tstamp: number;
}

export class UdpSock {
  readonly udp: UdpState;
  localAddr = 0;
  localPort = 0;
  remoteAddr = 0;
  remotePort = 0;
  /** SO_RCVBUF: bytes queued at most. */
  rcvbuf: number;
  readonly rxQueue: UdpDatagram[] = [];
  rxBytes = 0;
  /** Pending error (sk_err), reported once by the next call. */
  error = 0;
  broadcast = false;
  closed = false;
  /** Woken on every arrival, error and close. */
  readonly waitq = new WaitQueue();
  drops = 0;

  constructor(udp: UdpState) { this.udp = udp; this.rcvbuf = udp.net.sysctl.udp_rmem_default; }

  get bound(): boolean { return this.localPort !== 0; }

  /** bind(2): EINVAL when already bound, EADDRNOTAVAIL for a foreign address, EADDRINUSE. */
  bind(addr: number, port: number): void {
    if (this.closed) fail(EBADF);
    if (this.bound) fail(EINVAL);
    this.udp.getPort(this, addr >>> 0, port);
  }

  /** connect(2): fixes the remote end, autobinding and choosing the source address from the route. */
  connect(addr: number, port: number): void {
    if (this.closed) fail(EBADF);
    const rt = this.udp.net.routeOutput(addr, this.localAddr);
    if (rt.type === RTN_BROADCAST && !this.broadcast) fail(EACCES);
    if (!this.bound) this.udp.getPort(this, 0, 0);
    if (!this.localAddr) this.udp.rehash(this, rt.saddr);
    this.remoteAddr = addr >>> 0;
    this.remotePort = port;
  }

  /** sendto(2): returns the bytes sent. Autobinds an ephemeral port. */
  sendto(data: Uint8Array, daddr?: number, dport?: number): number {
    if (this.closed) fail(EBADF);
    const net = this.udp.net;
    if (daddr === undefined) {
      if (!this.remotePort) fail(EDESTADDRREQ);
      daddr = this.remoteAddr; dport = this.remotePort;
    }
    if (!dport) fail(EINVAL);
    if (data.length > IP_MAXPACKET - IPV4_MIN_HLEN - UDP_HLEN) fail(EMSGSIZE);
    const rt = net.routeOutput(daddr, this.localAddr);
    if ((rt.type === RTN_BROADCAST) && !this.broadcast) fail(EACCES);
    if (!this.bound) this.udp.getPort(this, 0, 0);
    const saddr = this.localAddr && !ipv4IsMulticast(this.localAddr) && this.localAddr !== INADDR_BROADCAST ? this.localAddr : rt.saddr;
    const len = UDP_HLEN + data.length;
    const skb = net.allocSkb(len);
    const off = skb.put(len);
    skb.buf.set(data, off + UDP_HLEN);
    writeUdp4(skb.buf, off, this.localPort, dport, len, saddr, daddr);
    skb.transportHeader = off;
    net.ipQueueXmit(skb, { daddr, saddr, protocol: IPPROTO_UDP });
    net.count('UdpOutDatagrams');
    return data.length;
  }

  /** Takes the next datagram, or null when none is queued. Reports a pending error first. */
  recv(): UdpDatagram | null {
    if (this.error) { const e = this.error; this.error = 0; fail(e); }
    const d = this.rxQueue.shift();
    if (!d) return null;
    this.rxBytes -= d.data.length;
    this.udp.net.memUncharge(d.data.length);
    return d;
  }

  /** Waits for a datagram up to the absolute monotonic deadline (Infinity: forever); null on timeout. */
  async recvWait(deadlineNs = Infinity): Promise<UdpDatagram | null> {
    const clock = this.udp.net.k.clock;
    for (;;) {
      const d = this.recv();
      if (d) return d;
      if (this.closed || this.udp.net.halted) return null;
      const r = await clock.waitTimeout(this.waitq, deadlineNs);
      if (r === -1) return this.recv();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.udp.unhash(this);
    this.udp.net.memUncharge(this.rxBytes);
    this.rxQueue.length = 0; this.rxBytes = 0;
    this.waitq.wakeAll();
  }

  /** Queue a datagram (udp_queue_rcv_skb); false when the receive buffer is full. */
  enqueue(d: UdpDatagram): boolean {
    if (this.rxBytes + d.data.length > this.rcvbuf && this.rxQueue.length) { this.drops++; return false; }
    if (!this.udp.net.memCharge(d.data.length)) { this.drops++; return false; }
    this.rxQueue.push(d);
    this.rxBytes += d.data.length;
    this.waitq.wakeAll();
    return true;
  }
}

export class UdpState {
  readonly net: NetNamespace;
  /** Bound endpoints by local port. */
  readonly ports = new Map<number, UdpSock[]>();

  constructor(net: NetNamespace) { this.net = net; }

  socket(): UdpSock { return new UdpSock(this); }

  /** udp_lib_get_port: port 0 picks a free ephemeral port from ip_local_port_range. */
  getPort(s: UdpSock, addr: number, port: number): void {
    const net = this.net;
    if (addr && addr !== INADDR_BROADCAST && !ipv4IsMulticast(addr) && !net.isLocalAddr(addr)) fail(EADDRNOTAVAIL);
    if (port < 0 || port > 65535) fail(EINVAL);
    if (!port) {
      const [lo, hi] = net.sysctl.ip_local_port_range;
      const n = hi - lo + 1;
      const start = net.random32() % n;
      for (let i = 0; i < n; i++) {
        const p = lo + ((start + i) % n);
        if (!this.conflict(addr, p)) { port = p; break; }
      }
      if (!port) fail(EADDRINUSE);
    } else if (this.conflict(addr, port)) fail(EADDRINUSE);
    s.localAddr = addr; s.localPort = port;
    const l = this.ports.get(port) ?? [];
    l.push(s);
    this.ports.set(port, l);
  }

  private conflict(addr: number, port: number): boolean {
    for (const o of this.ports.get(port) ?? []) if (!o.localAddr || !addr || o.localAddr === addr) return true;
    return false;
  }

  rehash(s: UdpSock, addr: number): void { s.localAddr = addr; }

  unhash(s: UdpSock): void {
    const l = this.ports.get(s.localPort);
    if (!l) return;
    const i = l.indexOf(s);
    if (i >= 0) l.splice(i, 1);
    if (!l.length) this.ports.delete(s.localPort);
  }

  /** Best match for a unicast datagram (udp4_lib_lookup's scoring). */
  lookup(saddr: number, sport: number, daddr: number, dport: number): UdpSock | null {
    let best: UdpSock | null = null, bestScore = -1;
    for (const s of this.ports.get(dport) ?? []) {
      let score = 0;
      if (s.localAddr) { if (s.localAddr !== daddr) continue; score += 4; }
      if (s.remoteAddr) { if (s.remoteAddr !== saddr) continue; score += 4; }
      if (s.remotePort) { if (s.remotePort !== sport) continue; score += 4; }
      if (score > bestScore) { best = s; bestScore = score; }
    }
    return best;
  }

  /** udp_rcv: skb.data at the UDP header. Never throws on bad input. */
  rcv(skb: SkBuff, iph: Ipv4Header): void {
    const net = this.net;
    const h = parseUdpHeader(skb.buf.subarray(0, skb.tail), skb.data);
    if (!h) { net.count('UdpInErrors'); return; }
    if (h.len < UDP_HLEN || h.len > skb.len) { net.count('UdpInErrors'); return; }
    skb.trim(h.len);
    if (!udp4ChecksumOk(skb.buf, skb.data, h.len, iph.saddr, iph.daddr)) {
      net.count('UdpInCsumErrors'); net.count('UdpInErrors');
      return;
    }
    const data = skb.buf.slice(skb.data + UDP_HLEN, skb.data + h.len);
    const mk = (): UdpDatagram => ({
      data, saddr: iph.saddr, sport: h.sport, daddr: iph.daddr, ifindex: skb.dev?.ifindex ?? 0, tstamp: skb.tstamp,
    });
    const bcast = iph.daddr === INADDR_BROADCAST || ipv4IsMulticast(iph.daddr) ||
      (skb.dev !== null && !net.isLocalAddr(iph.daddr));
    if (bcast) {
      let any = false;
      for (const s of this.ports.get(h.dport) ?? []) {
        if (s.localAddr && s.localAddr !== iph.daddr) continue;
        if (s.remoteAddr && (s.remoteAddr !== iph.saddr || s.remotePort !== h.sport)) continue;
        any = true;
        if (!s.enqueue(mk())) net.count('UdpRcvbufErrors');
      }
      if (any) net.count('UdpInDatagrams');
      return;
    }
    const s = this.lookup(iph.saddr, h.sport, iph.daddr, h.dport);
    if (!s) {
      net.count('UdpNoPorts');
      skb.data = skb.networkHeader;
      net.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
      return;
    }
    if (s.enqueue(mk())) net.count('UdpInDatagrams');
    else { net.count('UdpRcvbufErrors'); net.count('UdpInErrors'); }
  }

  /** __udp4_lib_err: an ICMP error about a datagram we sent; only connected endpoints hear it. */
  err(e: IcmpErrorInfo): void {
    if (e.payload.length < 4) return;
    const sport = (e.payload[0]! << 8) | e.payload[1]!, dport = (e.payload[2]! << 8) | e.payload[3]!;
    const s = this.lookup(e.iph.daddr, dport, e.iph.saddr, sport);
    if (!s || !s.remotePort) return;
    let errno = EHOSTUNREACH;
    if (e.type === ICMP_DEST_UNREACH) {
      if (e.code === ICMP_PORT_UNREACH) errno = ECONNREFUSED;
      else if (e.code === ICMP_FRAG_NEEDED) errno = EMSGSIZE;
      else if (e.code === 0) errno = ENETUNREACH;
    } else if (e.type === ICMP_TIME_EXCEEDED) errno = EHOSTUNREACH;
    else if (e.type === ICMP_PARAMETERPROB) errno = EPROTO;
    else return;
    s.error = errno;
    s.waitq.wakeAll();
  }
}

const states = new WeakMap<NetNamespace, UdpState>();

/** udp_init: registers protocol 17. */
export function udpInit(net: NetNamespace): UdpState {
  let st = states.get(net);
  if (st) return st;
  const s = new UdpState(net);
  states.set(net, s);
  net.inetAddProtocol(IPPROTO_UDP, { handler: (skb, iph) => s.rcv(skb, iph), errHandler: (e) => s.err(e) });
  net.k.onShutdown(() => { for (const l of [...s.ports.values()]) for (const so of [...l]) so.close(); });
  return s;
}

export function udpState(net: NetNamespace): UdpState {
  return states.get(net) ?? fail(ENODEV, 'UDP not initialised');
}

/** A new unbound UDP endpoint in net. */
export function udpSocket(net: NetNamespace): UdpSock { return udpState(net).socket(); }
