/*
 * AF_INET sockets (net/ipv4/af_inet.c, udp.c, ping.c, raw.c, devinet.c): the IPv4 family of the
 * socket layer over the rank-7 engines.
 *
 * socket(AF_INET, type, protocol) picks one of four kinds:
 *   SOCK_STREAM / 0 or IPPROTO_TCP   TCP, over src/net/tcp (af_inet_tcp.ts)
 *   SOCK_DGRAM  / 0 or IPPROTO_UDP   UDP, over the UdpSock endpoints of src/net/udp
 *   SOCK_DGRAM  / IPPROTO_ICMP       "ping" sockets: echo requests out, echo replies in, without
 *                                    privilege, for users whose group is in
 *                                    net.ipv4.ping_group_range (see below)
 *   SOCK_RAW    / IPPROTO_ICMP       raw ICMP: CAP_NET_RAW only (EPERM otherwise); the caller
 *                                    writes the ICMP message, reads whole IP datagrams
 * Anything else is ESOCKTNOSUPPORT (unknown type) or EPROTONOSUPPORT (type known, protocol not).
 *
 * ping_group_range: Linux allows a ping socket when the caller's group or one of its
 * supplementary groups lies in the range; any other caller gets EACCES. Linux's default is
 * "1 0" (nobody); ours is "0 0": the root group may, as LKL programs (which run as root) expect
 * ping to work without raw sockets. Change it with k.sysctl('net/ipv4/ping_group_range', ...).
 *
 * ICMP input for ping and raw sockets: the ICMP protocol unit knows nothing of sockets, so the
 * family wraps protocol 1's handler once per namespace (inetInit): every ICMP datagram is first
 * copied to matching raw sockets (raw_local_deliver), an echo reply to the ping socket owning its
 * identifier (ping_rcv), an error quoting one of our echo requests to that ping socket (ping_err);
 * then the ICMP unit processes it as before (echo replies, errors to UDP/TCP).
 *
 * Pending errors: ICMP errors the engines record (UdpSock.error, TcpSock errors) are moved into
 * the generic Socket.err as soon as they are reported, so SO_ERROR, poll's POLLERR and the next
 * call (connected UDP: ECONNREFUSED) see them as on Linux.
 *
 * Interface configuration ioctls (SIOCGIFINDEX ... SIOCADDRT) are answered by every AF_INET socket
 * (inetIoctl in af_inet_ioctl.ts), as ifconfig and LKL's helpers use them.
 */
import { fail } from '../../lib/errors.js';
import {
  EAFNOSUPPORT, EINVAL, EADDRNOTAVAIL, EACCES, EPERM, ENOTCONN, EOPNOTSUPP, ESOCKTNOSUPPORT,
  EPROTONOSUPPORT, EMSGSIZE, EDESTADDRREQ, EPIPE, ENOPROTOOPT,
} from '../../uapi/errno.js';
import {
  AF_INET, AF_UNSPEC, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, IPPROTO_IP, IPPROTO_UDP, IPPROTO_ICMP,
  IPPROTO_TCP, SOL_IP, SOL_RAW, SO_BROADCAST, MSG_PEEK,
  MSG_OOB, SOCKADDR_IN_SIZE, SS_CONNECTED, SS_UNCONNECTED,
} from '../../uapi/socket.js';
import { ICMP_FILTER } from '../../uapi/if.js';
import { POLLERR, CAP_NET_RAW, CAP_NET_BIND_SERVICE } from '../../uapi/misc.js';
import type { Task } from '../../kernel/index.js';
import {
  ICMP_HLEN, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB,
  UDP_HLEN, IP_MAXPACKET, IPV4_MIN_HLEN, INADDR_BROADCAST, inetChecksum, parseIcmpHeader,
  parseIpv4Header, writeUdp4, ipv4IsMulticast, type Ipv4Header,
} from '../header/index.js';
import { netOf, RTN_BROADCAST, type NetNamespace, type SkBuff, type InetProtocol } from '../core/index.js';
import { udpState, type UdpSock } from '../udp/index.js';
import { Socket, iovLen, intBytes, type ProtoOps, type NetProtoFamily } from './socket.js';
import { icmpErrno } from './af_inet_err.js';
import { newIpOpts, ipSetsockopt, ipGetsockopt, sendParams, type IpOpts } from './af_inet_opts.js';
import { tcpCreate, tcpAttach } from './af_inet_tcp.js';
import { sockOfEndpoint } from './af_inet_reg.js';
import { procNetTcp, procNetUdp } from './af_inet_proc.js';
import { procNetRegister } from '../ipv6/index.js';
import {
  RCV_SHUTDOWN, SEND_SHUTDOWN, dgramPoll, dgramShutdown, dgramIoctl, pingCheckGroup, pingPickIdent, MsgQueueSk,
  queueRecvmsg, msgQueueOps, dgramRecvWait, putDatagram, gatherIov,
} from './af_inet_common.js';

// Older importers find these here.
export { copyToIov, gatherIov, putIntArg } from './af_inet_common.js';

// ---- sockaddr_in ----------------------------------------------------------------------------------

export interface SockaddrIn { family: number; port: number; addr: number }

/** Decode a sockaddr_in the caller passed (its length already bounded to 128 by the syscall). */
export function sinParse(b: Uint8Array): SockaddrIn {
  if (b.length < 2) fail(EINVAL);
  const family = b[0]! | (b[1]! << 8);
  if (b.length < SOCKADDR_IN_SIZE) return { family, port: 0, addr: 0 };
  return {
    family, port: (b[2]! << 8) | b[3]!,
    addr: ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 0,
  };
}

export function sinBytes(addr: number, port: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN_SIZE);
  b[0] = AF_INET;
  b[2] = port >>> 8; b[3] = port & 0xff;
  b[4] = addr >>> 24; b[5] = (addr >>> 16) & 0xff; b[6] = (addr >>> 8) & 0xff; b[7] = addr & 0xff;
  return b;
}

/** An address argument of bind/connect/sendto: EINVAL when short, EAFNOSUPPORT for another family. */
function sinRequire(b: Uint8Array, allowUnspecAny = false): SockaddrIn {
  if (b.length < SOCKADDR_IN_SIZE) fail(EINVAL);
  const a = sinParse(b);
  if (a.family !== AF_INET) {
    // inet_bind tolerates AF_UNSPEC with INADDR_ANY for old programs.
    if (!(allowUnspecAny && a.family === AF_UNSPEC && a.addr === 0)) fail(EAFNOSUPPORT);
  }
  return a;
}

// ---- per-namespace family state -------------------------------------------------------------------

interface InetNetState {
  ping: Set<PingSk>;
  raw: Set<RawSk>;
  /** net.ipv4.ping_group_range (see the file comment for our default). */
  pingGroupRange: [number, number];
}

const inetStates = new WeakMap<NetNamespace, InetNetState>();

export function inetNetState(net: NetNamespace): InetNetState {
  let s = inetStates.get(net);
  if (!s) { s = { ping: new Set(), raw: new Set(), pingGroupRange: [0, 0] }; inetStates.set(net, s); }
  return s;
}

/**
 * Hook the family into a namespace whose ICMP unit is registered: raw and ping sockets see ICMP
 * input before the ICMP unit does. Idempotent.
 */
export function inetInit(net: NetNamespace): void {
  tcpAttach(net);
  procNetRegister(net, 'tcp', () => procNetTcp(net, false));
  procNetRegister(net, 'udp', () => procNetUdp(net, false));
  const st = inetNetState(net);
  const orig = net.inetProtos.get(IPPROTO_ICMP);
  if (!orig || (orig as { inetWrapped?: boolean }).inetWrapped) return;
  const wrapped: InetProtocol & { inetWrapped: boolean } = {
    inetWrapped: true,
    handler: (skb, iph) => {
      if (st.raw.size) rawDeliver(st, skb, iph);
      if (st.ping.size) pingRcv(st, skb, iph);
      orig.handler(skb, iph);
    },
  };
  if (orig.errHandler) wrapped.errHandler = (e) => orig.errHandler!(e);
  net.inetDelProtocol(IPPROTO_ICMP);
  net.inetAddProtocol(IPPROTO_ICMP, wrapped);
  net.k.onShutdown(() => {
    for (const p of [...st.ping]) p.close();
    for (const r of [...st.raw]) r.close();
  });
}

// ---- the family -------------------------------------------------------------------------------------

/** How a family makes its datagram sockets, for inetCreate. */
export interface InetCreators {
  /** The ICMP protocol number of the family (IPPROTO_ICMP, IPPROTO_ICMPV6). */
  icmp: number;
  udp(net: NetNamespace, sock: Socket): void;
  ping(net: NetNamespace, sock: Socket): void;
  raw(net: NetNamespace, sock: Socket, protocol: number): void;
}

/**
 * inet_create / inet6_create: the type and protocol pick the kind of socket (see the file
 * comment), with the same errors in both families; TCP is one engine for both.
 */
export function inetCreate(t: Task, sock: Socket, protocol: number, c: InetCreators): void {
  const net = netOf(t.kernel);
  switch (sock.type) {
    case SOCK_STREAM:
      if (protocol !== IPPROTO_IP && protocol !== IPPROTO_TCP) fail(EPROTONOSUPPORT);
      sock.protocol = IPPROTO_TCP;
      tcpCreate(net, sock);
      return;
    case SOCK_DGRAM:
      if (protocol === IPPROTO_IP || protocol === IPPROTO_UDP) {
        sock.protocol = IPPROTO_UDP;
        c.udp(net, sock);
        return;
      }
      if (protocol === c.icmp) {
        pingCheckGroup(inetNetState(net).pingGroupRange, t);
        c.ping(net, sock);
        return;
      }
      fail(EPROTONOSUPPORT);
    // eslint-disable-next-line no-fallthrough
    case SOCK_RAW:
      // inet_create: raw sockets need CAP_NET_RAW before the protocol is even looked at.
      if (!t.cred.capable(CAP_NET_RAW)) fail(EPERM);
      if (protocol !== c.icmp) fail(EPROTONOSUPPORT);
      c.raw(net, sock, protocol);
      return;
    default:
      fail(ESOCKTNOSUPPORT);
  }
}

export const inetFamily: NetProtoFamily = {
  family: AF_INET,
  create(t, sock, protocol) {
    inetCreate(t, sock, protocol, { icmp: IPPROTO_ICMP, udp: udpCreate, ping: pingCreate, raw: rawCreate });
  },
};

/** Privileged port check of inet_bind (ip_unprivileged_port_start = 1024). */
function checkBindPort(port: number, t: Task): void {
  if (port && port < 1024 && !t.cred.capable(CAP_NET_BIND_SERVICE)) fail(EACCES);
}

// ---- UDP ------------------------------------------------------------------------------------------

interface UdpSk {
  kind: 'udp';
  net: NetNamespace;
  u: UdpSock;
  ip: IpOpts;
  shut: number;
  /** bind(2) fixed the address / the port (SOCK_BINDADDR_LOCK / SOCK_BINDPORT_LOCK). */
  addrLocked: boolean;
  portLocked: boolean;
}

function udpCreate(net: NetNamespace, sock: Socket): void {
  const u = udpState(net).socket();
  // The engine's receive limit follows SO_RCVBUF (counted in payload bytes, see README.md).
  Object.defineProperty(u, 'rcvbuf', { get: () => sock.rcvbuf, set: () => {}, configurable: true });
  // Errors the engine records (ICMP about our datagrams) become the socket's pending error.
  u.waitq.addCallback(() => {
    if (u.error) { sock.err = u.error; u.error = 0; }
    sock.wake(0);
  });
  const sk: UdpSk = { kind: 'udp', net, u, ip: newIpOpts(), shut: 0, addrLocked: false, portLocked: false };
  sockOfEndpoint.set(u, sock);
  sock.sk = sk;
  sock.ops = udpOps;
}

function udpSk(sock: Socket): UdpSk { return sock.sk as UdpSk; }

export const udpOps: ProtoOps = {
  family: AF_INET,
  release(sock) { udpSk(sock).u.close(); },
  bind(sock, addr, t) {
    const sk = udpSk(sock);
    const a = sinRequire(addr, true);
    checkBindPort(a.port, t);
    if (sk.u.bound) fail(EINVAL);
    sk.u.bind(a.addr, a.port);
    sk.addrLocked = a.addr !== 0;
    sk.portLocked = a.port !== 0;
  },
  connect(sock, addr) {
    const sk = udpSk(sock);
    const fam = sinParse(addr).family;
    if (fam === AF_UNSPEC) {
      // __udp_disconnect: forget the peer; an automatic binding goes too.
      sk.u.remoteAddr = 0; sk.u.remotePort = 0;
      if (!sk.addrLocked) sk.u.localAddr = 0;
      if (!sk.portLocked && sk.u.bound) {
        const st = udpState(sk.net);
        st.unhash(sk.u); sk.u.localPort = 0;
      }
      sock.state = SS_UNCONNECTED;
      return;
    }
    const a = sinRequire(addr);
    sk.u.broadcast = (sock.opts.get(SO_BROADCAST) ?? 0) !== 0;
    sk.u.connect(a.addr, a.port);
    sock.state = SS_CONNECTED;
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const u = udpSk(sock).u;
    if (peer) {
      if (!u.remotePort) fail(ENOTCONN);
      return sinBytes(u.remoteAddr, u.remotePort);
    }
    return sinBytes(u.localAddr, u.localPort);
  },
  poll(sock) { const sk = udpSk(sock); return dgramPoll(sock, sk.u.rxQueue.length > 0, sk.shut); },
  ioctl(sock, cmd, arg) {
    const u = udpSk(sock).u;
    return dgramIoctl(sock, cmd, arg, () => u.rxQueue[0]?.data.length ?? 0);
  },
  shutdown(sock, how) {
    const sk = udpSk(sock);
    dgramShutdown(sock, sk, how, () => sk.u.remotePort !== 0);
  },
  setsockopt(sock, level, name, v) {
    const sk = udpSk(sock);
    if (level === SOL_IP && ipSetsockopt(sk.ip, name, v)) return;
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const sk = udpSk(sock);
    if (level === SOL_IP) { const r = ipGetsockopt(sk.net, sk.ip, name); if (r) return r; }
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, flags) {
    const sk = udpSk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    let daddr: number, dport: number;
    if (msg.name) {
      if (msg.name.length < SOCKADDR_IN_SIZE) fail(EINVAL);
      const a = sinParse(msg.name);
      if (a.family !== AF_INET && a.family !== AF_UNSPEC) fail(EAFNOSUPPORT);
      daddr = a.addr; dport = a.port;
      if (!dport) fail(EINVAL);
    } else {
      if (!sk.u.remotePort) fail(EDESTADDRREQ);
      daddr = sk.u.remoteAddr; dport = sk.u.remotePort;
    }
    const data = gatherIov(msg.iov);
    if (data.length > IP_MAXPACKET - IPV4_MIN_HLEN - UDP_HLEN) fail(EMSGSIZE);
    udpSend(sock, sk, data, daddr, dport);
    return data.length;
  },
  recvmsg(sock, msg, flags) {
    const sk = udpSk(sock);
    return dgramRecvWait(sock, flags, () => {
      const d = sk.u.rxQueue[0];
      if (!d) return null;
      if (!(flags & MSG_PEEK)) sk.u.recv();
      return putDatagram(msg, flags, d.data, sinBytes(d.saddr, d.sport));
    }, () => (sk.shut & RCV_SHUTDOWN) !== 0);
  },
};

/** udp_sendmsg's output: like UdpSock.sendto, with the socket's IP options (TTL, TOS, DF). */
function udpSend(sock: Socket, sk: UdpSk, data: Uint8Array, daddr: number, dport: number): void {
  const net = sk.net, u = sk.u;
  const rt = net.routeOutput(daddr, u.localAddr);
  const bcast = (sock.opts.get(SO_BROADCAST) ?? 0) !== 0;
  if (rt.type === RTN_BROADCAST && !bcast) fail(EACCES);
  // sock_alloc_send_pskb: the pending error, then a shut sending side, once the route is known.
  const err = sock.takeError();
  if (err) fail(err);
  if (sk.shut & SEND_SHUTDOWN) fail(EPIPE);
  if (!u.bound) udpState(net).getPort(u, 0, 0);
  const saddr = u.localAddr && !ipv4IsMulticast(u.localAddr) && u.localAddr !== INADDR_BROADCAST ? u.localAddr : rt.saddr;
  const len = UDP_HLEN + data.length;
  const skb = net.allocSkb(len);
  const off = skb.put(len);
  skb.buf.set(data, off + UDP_HLEN);
  writeUdp4(skb.buf, off, u.localPort, dport, len, saddr, daddr);
  skb.transportHeader = off;
  net.ipQueueXmit(skb, sendParams(sk.ip, daddr, saddr, IPPROTO_UDP));
  net.count('UdpOutDatagrams');
}

// ---- ping sockets (net/ipv4/ping.c) ------------------------------------------------------------

interface PingMsg { data: Uint8Array; saddr: number }

class PingSk extends MsgQueueSk<PingMsg> {
  readonly kind = 'ping';
  ident = 0;
  localAddr = 0;
  remoteAddr = 0;
  connected = false;
  readonly ip = newIpOpts();

  get bound(): boolean { return this.ident !== 0; }

  /** ping_get_port: a free identifier (ident 0 picks one). */
  getPort(ident: number): void {
    const st = inetNetState(this.net);
    this.ident = pingPickIdent(this.net, ident, (id) => [...st.ping].some((p) => p !== this && p.ident === id &&
      (!p.localAddr || !this.localAddr || p.localAddr === this.localAddr)));
    st.ping.add(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    inetNetState(this.net).ping.delete(this);
    this.purge();
    this.sock.wake(0);
  }
}

function pingCreate(net: NetNamespace, sock: Socket): void {
  sock.sk = new PingSk(net, sock);
  sock.ops = pingOps;
}

function pingSk(sock: Socket): PingSk { return sock.sk as PingSk; }

/** ping_rcv: an echo reply goes to the ping socket that owns its identifier. */
function pingRcv(st: InetNetState, skb: SkBuff, iph: Ipv4Header): void {
  const len = skb.tail - skb.data;
  if (len < ICMP_HLEN) return;
  const h = parseIcmpHeader(skb.buf, skb.data);
  if (!h) return;
  if (h.type === ICMP_ECHOREPLY) {
    if (inetChecksum(skb.buf, skb.data, skb.tail) !== 0) return;
    const id = h.un >>> 16;
    for (const p of st.ping) {
      if (p.ident !== id) continue;
      if (p.localAddr && p.localAddr !== iph.daddr) continue;
      p.enqueue({ data: skb.buf.slice(skb.data, skb.tail), saddr: iph.saddr });
      return;
    }
    return;
  }
  if (h.type !== ICMP_DEST_UNREACH && h.type !== ICMP_TIME_EXCEEDED && h.type !== ICMP_PARAMETERPROB) return;
  // ping_err: the quoted datagram must be one of our echo requests.
  const q = skb.data + ICMP_HLEN;
  const inner = parseIpv4Header(skb.buf, q);
  if (!inner || inner.protocol !== IPPROTO_ICMP || inner.ihl < 5) return;
  const p0 = q + inner.ihl * 4;
  if (skb.tail - p0 < 8 || skb.buf[p0] !== ICMP_ECHO) return;
  const id = (skb.buf[p0 + 4]! << 8) | skb.buf[p0 + 5]!;
  const e = h.type === ICMP_DEST_UNREACH && h.code === 4 /* FRAG_NEEDED */
    ? { errno: EMSGSIZE, hard: false } : icmpErrno(h.type, h.code);
  if (!e) return;
  for (const p of st.ping) {
    if (p.ident !== id) continue;
    if (p.localAddr && p.localAddr !== inner.saddr) continue;
    if (!p.ip.recverr && (!e.hard || !p.connected)) return;
    p.sock.err = e.errno;
    p.sock.wake(POLLERR);
    return;
  }
}

export const pingOps: ProtoOps = {
  family: AF_INET,
  release(sock) { pingSk(sock).close(); },
  bind(sock, addr, t) {
    const p = pingSk(sock);
    const a = sinRequire(addr, true);
    void t;
    if (p.bound) fail(EINVAL);
    if (a.addr && a.addr !== INADDR_BROADCAST && !p.net.isLocalAddr(a.addr)) fail(EADDRNOTAVAIL);
    p.localAddr = a.addr;
    p.getPort(a.port);
  },
  connect(sock, addr) {
    const p = pingSk(sock);
    const a = sinParse(addr);
    if (a.family === AF_UNSPEC) { p.connected = false; p.remoteAddr = 0; sock.state = SS_UNCONNECTED; return; }
    const s = sinRequire(addr);
    const rt = p.net.routeOutput(s.addr, p.localAddr);
    if (rt.type === RTN_BROADCAST && !(sock.opts.get(SO_BROADCAST) ?? 0)) fail(EACCES);
    if (!p.localAddr) p.localAddr = rt.saddr;
    if (!p.bound) p.getPort(0);
    p.remoteAddr = s.addr; p.connected = true;
    sock.state = SS_CONNECTED;
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const p = pingSk(sock);
    if (peer) { if (!p.connected) fail(ENOTCONN); return sinBytes(p.remoteAddr, 0); }
    return sinBytes(p.localAddr, p.ident);
  },
  ...msgQueueOps(pingSk),
  setsockopt(sock, level, name, v) {
    if (level === SOL_IP && ipSetsockopt(pingSk(sock).ip, name, v)) return;
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const p = pingSk(sock);
    if (level === SOL_IP) { const r = ipGetsockopt(p.net, p.ip, name); if (r) return r; }
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, flags) {
    const p = pingSk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    const len = iovLen(msg.iov);
    // ping_v4_sendmsg: at most 0xffff minus the headers, at least an ICMP header.
    if (len > 0xffff - IPV4_MIN_HLEN) fail(EMSGSIZE);
    if (len < ICMP_HLEN) fail(EINVAL);
    let daddr: number;
    if (msg.name) {
      if (msg.name.length < SOCKADDR_IN_SIZE) fail(EINVAL);
      const a = sinParse(msg.name);
      if (a.family !== AF_INET) fail(EAFNOSUPPORT);
      daddr = a.addr;
    } else {
      if (!p.connected) fail(EDESTADDRREQ);
      daddr = p.remoteAddr;
    }
    const data = gatherIov(msg.iov);
    // Only echo requests with code 0 may be sent (ping_common_sendmsg).
    if (data[0] !== ICMP_ECHO || data[1] !== 0) fail(EINVAL);
    const net = p.net;
    const rt = net.routeOutput(daddr, p.localAddr);
    if (rt.type === RTN_BROADCAST && !(sock.opts.get(SO_BROADCAST) ?? 0)) fail(EACCES);
    const err = sock.takeError();
    if (err) fail(err);
    if (p.shut & SEND_SHUTDOWN) fail(EPIPE);
    if (!p.bound) p.getPort(0);
    const skb = net.allocSkb(len);
    const off = skb.put(len);
    skb.buf.set(data, off);
    // The kernel owns the identifier field and the checksum.
    skb.buf[off + 4] = p.ident >>> 8; skb.buf[off + 5] = p.ident & 0xff;
    skb.buf[off + 2] = 0; skb.buf[off + 3] = 0;
    const c = inetChecksum(skb.buf, off, off + len);
    skb.buf[off + 2] = c >>> 8; skb.buf[off + 3] = c & 0xff;
    const saddr = p.localAddr || rt.saddr;
    net.ipQueueXmit(skb, sendParams(p.ip, daddr, saddr, IPPROTO_ICMP));
    net.count('IcmpOutMsgs');
    net.count('IcmpOutEchos');
    return len;
  },
  recvmsg(sock, msg, flags) {
    return queueRecvmsg(sock, pingSk(sock), msg, flags, (m) => sinBytes(m.saddr, 0));
  },
};

// ---- raw ICMP sockets (net/ipv4/raw.c) -----------------------------------------------------------

class RawSk extends MsgQueueSk<PingMsg> {
  readonly kind = 'raw';
  localAddr = 0;
  remoteAddr = 0;
  connected = false;
  /** ICMP_FILTER: bit n set drops ICMP type n. */
  filter = 0;
  readonly ip = newIpOpts();
  constructor(net: NetNamespace, sock: Socket, readonly protocol: number) { super(net, sock); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    inetNetState(this.net).raw.delete(this);
    this.purge();
    this.sock.wake(0);
  }
}

function rawCreate(net: NetNamespace, sock: Socket, protocol: number): void {
  const r = new RawSk(net, sock, protocol);
  sock.sk = r;
  sock.ops = rawOps;
  inetNetState(net).raw.add(r);
}

function rawSk(sock: Socket): RawSk { return sock.sk as RawSk; }

/** raw_v4_input: a copy of the whole IP datagram to every matching raw socket. */
function rawDeliver(st: InetNetState, skb: SkBuff, iph: Ipv4Header): void {
  if (skb.networkHeader < 0) return;
  const type = skb.tail > skb.data ? skb.buf[skb.data]! : 0;
  for (const r of st.raw) {
    if (r.protocol !== iph.protocol) continue;
    if (r.localAddr && r.localAddr !== iph.daddr) continue;
    if (r.connected && r.remoteAddr !== iph.saddr) continue;
    if (type < 32 && (r.filter >>> type) & 1) continue;
    r.enqueue({ data: skb.buf.slice(skb.networkHeader, skb.tail), saddr: iph.saddr });
  }
}

export const rawOps: ProtoOps = {
  family: AF_INET,
  release(sock) { rawSk(sock).close(); },
  bind(sock, addr) {
    const r = rawSk(sock);
    const a = sinRequire(addr, true);
    if (a.addr && a.addr !== INADDR_BROADCAST && !r.net.isLocalAddr(a.addr)) fail(EADDRNOTAVAIL);
    r.localAddr = a.addr;
  },
  connect(sock, addr) {
    const r = rawSk(sock);
    if (sinParse(addr).family === AF_UNSPEC) { r.connected = false; r.remoteAddr = 0; sock.state = SS_UNCONNECTED; return; }
    const a = sinRequire(addr);
    r.net.routeOutput(a.addr, r.localAddr);
    r.remoteAddr = a.addr; r.connected = true;
    sock.state = SS_CONNECTED;
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const r = rawSk(sock);
    if (peer) { if (!r.connected) fail(ENOTCONN); return sinBytes(r.remoteAddr, 0); }
    return sinBytes(r.localAddr, 0);
  },
  ...msgQueueOps(rawSk),
  setsockopt(sock, level, name, v) {
    const r = rawSk(sock);
    if (level === SOL_RAW) {
      if (name !== ICMP_FILTER) fail(ENOPROTOOPT);
      if (v.length < 4) fail(EINVAL);
      r.filter = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
      return;
    }
    if (level === SOL_IP && ipSetsockopt(r.ip, name, v)) return;
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const r = rawSk(sock);
    if (level === SOL_RAW) {
      if (name !== ICMP_FILTER) fail(ENOPROTOOPT);
      return intBytes(r.filter | 0);
    }
    if (level === SOL_IP) { const x = ipGetsockopt(r.net, r.ip, name); if (x) return x; }
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, flags) {
    const r = rawSk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    const len = iovLen(msg.iov);
    if (len > 0xffff - IPV4_MIN_HLEN) fail(EMSGSIZE);
    let daddr: number;
    if (msg.name) {
      if (msg.name.length < SOCKADDR_IN_SIZE) fail(EINVAL);
      const a = sinParse(msg.name);
      if (a.family !== AF_INET && a.family !== AF_UNSPEC) fail(EAFNOSUPPORT);
      daddr = a.addr;
    } else {
      if (!r.connected) fail(EDESTADDRREQ);
      daddr = r.remoteAddr;
    }
    const err = sock.takeError();
    if (err) fail(err);
    const net = r.net;
    const rt = net.routeOutput(daddr, r.localAddr);
    if (rt.type === RTN_BROADCAST && !(sock.opts.get(SO_BROADCAST) ?? 0)) fail(EACCES);
    const skb = net.allocSkb(len);
    const off = skb.put(len);
    skb.buf.set(gatherIov(msg.iov), off);
    net.ipQueueXmit(skb, sendParams(r.ip, daddr, r.localAddr || rt.saddr, r.protocol));
    return len;
  },
  recvmsg(sock, msg, flags) {
    return queueRecvmsg(sock, rawSk(sock), msg, flags, (m) => sinBytes(m.saddr, 0));
  },
};

