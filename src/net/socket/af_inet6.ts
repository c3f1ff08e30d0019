/*
 * AF_INET6 sockets (net/ipv6/af_inet6.c, udp.c, ping.c, datagram.c): the IPv6 family of the
 * socket layer over the rank-7 engines of src/net/ipv6 and src/net/tcp.
 *
 * socket(AF_INET6, type, protocol) picks one of three kinds:
 *   SOCK_STREAM / 0 or IPPROTO_TCP      TCP, the same engine as AF_INET with 16-byte addresses
 *                                       (af_inet_tcp.ts, which knows both families)
 *   SOCK_DGRAM  / 0 or IPPROTO_UDP      UDP over the Udp6Sock endpoints of src/net/ipv6
 *   SOCK_DGRAM  / IPPROTO_ICMPV6        ping sockets: echo requests out, echo replies in, gated
 *                                       by net.ipv4.ping_group_range as for IPv4 (EACCES)
 *   SOCK_RAW    / IPPROTO_ICMPV6        raw ICMPv6 (CAP_NET_RAW, else EPERM): whole ICMPv6 messages
 *                                       both ways (no IPv6 header, unlike raw IPv4), the kernel
 *                                       computing the checksum (RFC 3542 3.1); ICMP6_FILTER
 *                                       blocks types on input. Other raw protocols:
 *                                       EPROTONOSUPPORT.
 * Another type is ESOCKTNOSUPPORT.
 *
 * Dual stack. With IPV6_V6ONLY off (net.ipv6.bindv6only = 0, Linux's default) an AF_INET6
 * socket also speaks IPv4, its peers written as ::ffff:a.b.c.d. Linux keeps one port table for
 * both families; our IPv4 and IPv6 UDP engines have their own, so a dual-stack UDP socket holds
 * an endpoint in each: bound to :: it also binds 0.0.0.0 on the same port (EADDRINUSE when IPv4
 * has it: Linux's conflict between [::]:p and 0.0.0.0:p), bound to ::ffff:a.b.c.d it binds only
 * the IPv4 one, and a v4-mapped destination goes out through the IPv4 endpoint. Datagrams are
 * read from both queues in arrival order. A socket bound to a specific IPv6 address becomes
 * v6-only (as __inet6_bind sets sk_ipv6only), and a v6-only socket refuses mapped peers with
 * ENETUNREACH.
 *
 * Addresses: sockaddr_in6 of at least 24 bytes (EINVAL below), family AF_INET6 (EAFNOSUPPORT);
 * link-local addresses need sin6_scope_id or a socket bound to the device (EINVAL), an unknown
 * scope id is ENODEV; "::" as a destination means the loopback address, as on BSD and Linux.
 * Addresses we return carry the interface index in sin6_scope_id for link-local peers.
 *
 * Ping sockets: the ICMPv6 unit knows nothing of sockets, so the family wraps next header 58's
 * handler once per namespace (inet6Init): echo replies go to the socket owning their
 * identifier, and errors quoting one of our echo requests become the socket's error (when
 * IPV6_RECVERR is on, or for a hard error on a connected socket), then ICMPv6 goes on as
 * before. The kernel writes the identifier and the checksum; only ICMPV6_ECHO_REQUEST with code
 * 0 may be sent (EINVAL).
 */
import { fail, KernelError } from '../../lib/errors.js';
import {
  EAFNOSUPPORT, EINVAL, EADDRNOTAVAIL, EACCES, ENOTCONN, EOPNOTSUPP,
  EMSGSIZE, EDESTADDRREQ, EPIPE, ENOPROTOOPT, EADDRINUSE, ENETUNREACH,
  ECONNREFUSED, EHOSTUNREACH, EPROTO,
} from '../../uapi/errno.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC,
  IPPROTO_ICMPV6, SOL_IP, SOL_IPV6, SOL_ICMPV6, MSG_PEEK, MSG_OOB, SS_CONNECTED,
  SS_UNCONNECTED, SOCKADDR_IN_SIZE, SOCKADDR_IN6_SIZE, SO_BROADCAST,
} from '../../uapi/socket.js';
import { POLLERR } from '../../uapi/misc.js';
import {
  ICMPV6_HLEN, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_DEST_UNREACH, ICMPV6_PKT_TOOBIG, ICMPV6_TIME_EXCEED,
  ICMPV6_PARAMPROB, IPV6_HLEN, NEXTHDR_ICMP, icmpv6ChecksumOk, writeIcmpv6Header, parseIpv6Header,
} from '../header/index.js';
import type { NetNamespace, SkBuff } from '../core/index.js';
import { udpState, type UdpSock, type UdpDatagram } from '../udp/index.js';
import {
  ipv6Stack, udp6Socket, procNetRegister, type Udp6Sock, type Udp6Datagram, type Ip6RcvInfo, type Ip6SendParams, type Inet6Protocol,
} from '../ipv6/index.js';
import { Socket, iovLen, type ProtoOps, type NetProtoFamily } from './socket.js';
import { newIpOpts, ipSetsockopt, ipGetsockopt, type IpOpts } from './af_inet_opts.js';
import { sockOfEndpoint } from './af_inet_reg.js';
import { procNetTcp, procNetUdp } from './af_inet_proc.js';
import { inetCreate, sinParse } from './af_inet.js';
import {
  RCV_SHUTDOWN, SEND_SHUTDOWN, dgramPoll, dgramShutdown, dgramIoctl, pingPickIdent, MsgQueueSk,
  queueRecvmsg, msgQueueOps, dgramRecvWait, putDatagram, gatherIov,
} from './af_inet_common.js';
import {
  SIN6_LEN_RFC2133, sin6Parse, sin6Bytes, isMapped, toMapped, fromMapped, needsScope, scopeIdFor, isAny6,
  bind6Check, type SockaddrIn6,
} from './af_inet6_addr.js';
import {
  newIpv6Opts, ipv6Setsockopt, ipv6Getsockopt, ipv6DropGroups, hopLimitFor, IPV6_PMTUDISC_DO, IPV6_PMTUDISC_PROBE,
  ICMP6_FILTER, type Ipv6Opts, type V6OptCtx,
} from './af_inet6_opts.js';

const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

// ---- per-namespace state -------------------------------------------------------------------------

interface Inet6NetState { ping: Set<Ping6Sk>; raw: Set<Raw6Sk> }
const states = new WeakMap<NetNamespace, Inet6NetState>();

function inet6State(net: NetNamespace): Inet6NetState {
  let s = states.get(net);
  if (!s) { s = { ping: new Set(), raw: new Set() }; states.set(net, s); }
  return s;
}

/** Hook ping sockets under ICMPv6 input (idempotent; IPv6 must be initialised). */
export function inet6Init(net: NetNamespace): void {
  const st = ipv6Stack(net).st;
  const orig = st.protos.get(NEXTHDR_ICMP);
  if (!orig || (orig as { inet6Wrapped?: boolean }).inet6Wrapped) return;
  const s = inet6State(net);
  const wrapped: Inet6Protocol & { inet6Wrapped: boolean } = {
    inet6Wrapped: true,
    handler: (skb, info) => {
      if (s.raw.size) raw6Deliver(s, skb, info);
      if (s.ping.size) ping6Rcv(s, skb, info);
      orig.handler(skb, info);
    },
  };
  if (orig.errHandler) wrapped.errHandler = (e) => orig.errHandler!(e);
  st.protos.set(NEXTHDR_ICMP, wrapped);
  net.k.onShutdown(() => { for (const p of [...s.ping, ...s.raw]) p.close(); });
  procNetRegister(net, 'tcp6', () => procNetTcp(net, true));
  procNetRegister(net, 'udp6', () => procNetUdp(net, true));
}

// ---- the family ----------------------------------------------------------------------------------

export const inet6Family: NetProtoFamily = {
  family: AF_INET6,
  create(t, sock, protocol) {
    inetCreate(t, sock, protocol, {
      icmp: IPPROTO_ICMPV6,
      udp: udp6Create,
      ping(net, sock) {
        inet6Init(net);
        sock.protocol = IPPROTO_ICMPV6;
        sock.sk = new Ping6Sk(net, sock);
        sock.ops = ping6Ops;
      },
      raw(net, sock) {
        inet6Init(net);
        sock.protocol = IPPROTO_ICMPV6;
        sock.sk = new Raw6Sk(net, sock);
        inet6State(net).raw.add(sock.sk as Raw6Sk);
        sock.ops = raw6Ops;
      },
    });
  },
};

/** icmpv6_err_convert */
export function icmp6Errno(type: number, code: number): { errno: number; hard: boolean } | null {
  switch (type) {
    case ICMPV6_DEST_UNREACH: {
      const tab: [number, boolean][] = [[ENETUNREACH, false], [EACCES, true], [EHOSTUNREACH, false],
        [EHOSTUNREACH, false], [ECONNREFUSED, true], [EACCES, true], [EACCES, true]];
      const e = tab[code];
      return e ? { errno: e[0], hard: e[1] } : { errno: EPROTO, hard: true };
    }
    case ICMPV6_PKT_TOOBIG: return { errno: EMSGSIZE, hard: false };
    case ICMPV6_PARAMPROB: return { errno: EPROTO, hard: true };
    case ICMPV6_TIME_EXCEED: return { errno: EHOSTUNREACH, hard: false };
  }
  return null;
}

// ---- UDP over IPv6, dual stack ---------------------------------------------------------------------

interface Udp6Sk {
  kind: 'udp6';
  net: NetNamespace;
  u6: Udp6Sock;
  /** The IPv4 endpoint of a dual-stack socket (made on demand). */
  u4: UdpSock | null;
  o: Ipv6Opts;
  /** SOL_IP options, accepted on AF_INET6 sockets as Linux does (stored). */
  ip: IpOpts;
  shut: number;
  /** Which endpoint a connect() fixed: 6, 4 or 0. */
  conn: 0 | 4 | 6;
  /** bind(2) fixed the address / the port. */
  addrLocked: boolean;
  portLocked: boolean;
  /** Bound to ::ffff:a.b.c.d (IPv4 only). */
  mappedBound: boolean;
  /** Bound to :: without v6only: both endpoints hold the port. */
}

function u6sk(sock: Socket): Udp6Sk { return sock.sk as Udp6Sk; }

function udp6Create(net: NetNamespace, sock: Socket): void {
  const u6 = udp6Socket(net);
  Object.defineProperty(u6, 'rcvbuf', { get: () => sock.rcvbuf, set: () => {}, configurable: true });
  const sk: Udp6Sk = {
    kind: 'udp6', net, u6, u4: null, o: newIpv6Opts(net), ip: newIpOpts(), shut: 0, conn: 0, addrLocked: false, portLocked: false,
    mappedBound: false,
  };
  u6.waitq.addCallback(() => { if (u6.error) { sock.err = u6.error; u6.error = 0; } sock.wake(0); });
  sockOfEndpoint.set(u6, sock);
  sock.sk = sk;
  sock.ops = udp6Ops;
}

function u4Of(sock: Socket, sk: Udp6Sk): UdpSock {
  if (sk.u4) return sk.u4;
  const u4 = udpState(sk.net).socket();
  Object.defineProperty(u4, 'rcvbuf', { get: () => sock.rcvbuf, set: () => {}, configurable: true });
  u4.waitq.addCallback(() => { if (u4.error) { sock.err = u4.error; u4.error = 0; } sock.wake(0); });
  sockOfEndpoint.set(u4, sock);
  sk.u4 = u4;
  return u4;
}

function u6Unbind(u6: Udp6Sock): void {
  u6.u.unhash(u6);
  u6.localPort = 0;
  u6.localAddr = new Uint8Array(16);
}

function localPort(sk: Udp6Sk): number { return sk.u6.localPort || sk.u4?.localPort || 0; }

/**
 * Take the port in the IPv6 table and, for a dual-stack socket, the same port for 0.0.0.0 in the
 * IPv4 one (port 0: an ephemeral port free in both).
 */
function udp6BindAny(sock: Socket, sk: Udp6Sk, addr: Uint8Array, port: number, ifindex: number): void {
  const dual = !sk.o.v6only && isAny6(addr);
  for (let tries = 0; tries < 32; tries++) {
    sk.u6.bind(addr, port, ifindex);
    if (!dual) return;
    try {
      u4Of(sock, sk).bind(0, sk.u6.localPort);
      return;
    } catch (e) {
      u6Unbind(sk.u6);
      if (port || !(e instanceof KernelError) || e.errno !== EADDRINUSE) throw e;
    }
  }
  fail(EADDRINUSE);
}

/** Autobind before the first send or connect. */
function udp6Autobind(sock: Socket, sk: Udp6Sk): void {
  if (localPort(sk)) return;
  udp6BindAny(sock, sk, new Uint8Array(16), 0, 0);
}

/** The IPv4 endpoint, bound on our port, for a mapped destination (ENETUNREACH when v6-only). */
function u4Ready(sock: Socket, sk: Udp6Sk): UdpSock {
  if (sk.o.v6only) fail(ENETUNREACH);
  const u4 = u4Of(sock, sk);
  if (!u4.bound) {
    if (sk.u6.localPort) u4.bind(0, sk.u6.localPort);
    else udp6Autobind(sock, sk);
  }
  return u4;
}

/** The datagram a recvmsg takes next: the earlier of the two queues (a connected socket reads one). */
function nextDatagram(sk: Udp6Sk): { from: 4 | 6; at: number } | null {
  // A socket connected over one family takes nothing from the other (its endpoint only holds
  // the port): what arrived there is dropped, as Linux's lookup would never have found us.
  if (sk.conn === 4) while (sk.u6.rxQueue.length && !sk.u6.error) sk.u6.recv();
  if (sk.conn === 6 && sk.u4) while (sk.u4.rxQueue.length && !sk.u4.error) sk.u4.recv();
  const d6 = sk.conn === 4 ? undefined : sk.u6.rxQueue[0];
  const d4 = sk.conn === 6 || sk.mappedBound === false && sk.o.v6only ? undefined : sk.u4?.rxQueue[0];
  if (d6 && d4) return d4.tstamp < d6.tstamp ? { from: 4, at: 0 } : { from: 6, at: 0 };
  if (d6) return { from: 6, at: 0 };
  if (d4) return { from: 4, at: 0 };
  return null;
}

function optCtx(sk: Udp6Sk, stream = false): V6OptCtx {
  return {
    net: sk.net, stream, bound: localPort(sk) !== 0,
    pathMtu: () => {
      if (sk.conn !== 6) return null;
      try { return ipv6Stack(sk.net).st.routeOutput(sk.u6.remoteAddr, null, sk.u6.boundIf).mtu; } catch { return null; }
    },
  };
}

/** A destination of connect/sendto: the scope rules of ip6_datagram_connect / udpv6_sendmsg. */
function destScope(a: SockaddrIn6, boundIf: number): number {
  if (!needsScope(a.addr)) return 0;
  if (a.scopeId) {
    if (boundIf && boundIf !== a.scopeId) fail(EINVAL);
    return a.scopeId;
  }
  return boundIf;
}

export const udp6Ops: ProtoOps = {
  family: AF_INET6,
  release(sock) {
    const sk = u6sk(sock);
    sk.u6.close();
    sk.u4?.close();
    ipv6DropGroups(sk.net, sk.o);
  },
  bind(sock, addr, t) {
    const sk = u6sk(sock);
    const { a, ifindex } = bind6Check(sk.net, addr, t, sk.u6.boundIf, localPort(sk) !== 0, sk.o.v6only !== 0);
    if (isMapped(a.addr)) {
      u4Of(sock, sk).bind(fromMapped(a.addr), a.port);
      sk.mappedBound = true;
    } else {
      udp6BindAny(sock, sk, a.addr, a.port, ifindex);
      if (!isAny6(a.addr)) sk.o.v6only = 1;
    }
    sk.addrLocked = !isAny6(a.addr);
    sk.portLocked = a.port !== 0;
  },
  connect(sock, addr) {
    const sk = u6sk(sock);
    if (addr.length < 2) fail(EINVAL);
    const fam = addr[0]! | (addr[1]! << 8);
    if (fam === AF_UNSPEC) {
      sk.u6.remoteAddr = new Uint8Array(16); sk.u6.remotePort = 0;
      if (sk.u4) { sk.u4.remoteAddr = 0; sk.u4.remotePort = 0; if (!sk.addrLocked) sk.u4.localAddr = 0; }
      if (!sk.addrLocked && !sk.mappedBound && !isAny6(sk.u6.localAddr) && sk.u6.localPort) {
        // The source the connect chose goes back to the wildcard.
        sk.u6.localAddr = new Uint8Array(16);
      }
      sk.conn = 0;
      sock.state = SS_UNCONNECTED;
      return;
    }
    if (fam === AF_INET) {
      // ip6_datagram_connect hands a sockaddr_in to the IPv4 code on a dual-stack socket.
      if (sk.o.v6only) fail(EAFNOSUPPORT);
      if (addr.length < SOCKADDR_IN_SIZE) fail(EINVAL);
      const s = sinParse(addr);
      const u4 = u4Ready(sock, sk);
      u4.broadcast = (sock.opts.get(SO_BROADCAST) ?? 0) !== 0;
      u4.connect(s.addr, s.port);
      sk.conn = 4;
      sock.state = SS_CONNECTED;
      return;
    }
    if (addr.length < SIN6_LEN_RFC2133) fail(EINVAL);
    if (fam !== AF_INET6) fail(EAFNOSUPPORT);
    const a = sin6Parse(addr);
    if (isAny6(a.addr)) a.addr = sk.mappedBound ? toMapped(0x7f000001) : LOOPBACK6.slice();
    if (isMapped(a.addr)) {
      const u4 = u4Ready(sock, sk);
      u4.broadcast = (sock.opts.get(SO_BROADCAST) ?? 0) !== 0;
      u4.connect(fromMapped(a.addr), a.port);
      sk.conn = 4;
      sock.state = SS_CONNECTED;
      return;
    }
    if (sk.mappedBound) fail(ENETUNREACH);
    let scope = destScope(a, sk.u6.boundIf);
    if (!scope && a.addr[0] === 0xff) scope = sk.o.mcIf;
    if (needsScope(a.addr) && !scope) fail(EINVAL);
    if (!localPort(sk)) udp6Autobind(sock, sk);
    sk.u6.connect(a.addr, a.port, scope);
    sk.conn = 6;
    sock.state = SS_CONNECTED;
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const sk = u6sk(sock);
    if (peer) {
      if (sk.conn === 4) return sin6Bytes(toMapped(sk.u4!.remoteAddr), sk.u4!.remotePort);
      if (sk.conn !== 6) fail(ENOTCONN);
      return sin6Bytes(sk.u6.remoteAddr, sk.u6.remotePort, scopeIdFor(sk.u6.remoteAddr, sk.u6.boundIf));
    }
    if (sk.mappedBound || sk.conn === 4) return sin6Bytes(toMapped(sk.u4!.localAddr), sk.u4!.localPort);
    return sin6Bytes(sk.u6.localAddr, localPort(sk), scopeIdFor(sk.u6.localAddr, sk.u6.boundIf));
  },
  poll(sock) { const sk = u6sk(sock); return dgramPoll(sock, nextDatagram(sk) !== null, sk.shut); },
  ioctl(sock, cmd, arg) {
    const sk = u6sk(sock);
    return dgramIoctl(sock, cmd, arg, () => {
      const n = nextDatagram(sk);
      const d = n ? (n.from === 6 ? sk.u6.rxQueue[0] : sk.u4!.rxQueue[0]) : undefined;
      return d?.data.length ?? 0;
    });
  },
  shutdown(sock, how) {
    const sk = u6sk(sock);
    dgramShutdown(sock, sk, how, () => sk.conn !== 0);
  },
  setsockopt(sock, level, name, v) {
    const sk = u6sk(sock);
    if (level === SOL_IPV6 && ipv6Setsockopt(sk.o, optCtx(sk), name, v)) return;
    if (level === SOL_IP && ipSetsockopt(sk.ip, name, v)) return;
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const sk = u6sk(sock);
    if (level === SOL_IPV6) { const r = ipv6Getsockopt(sk.o, optCtx(sk), name); if (r) return r; }
    if (level === SOL_IP) { const r = ipGetsockopt(sk.net, sk.ip, name); if (r) return r; }
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, flags) {
    const sk = u6sk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    let dest: { v4: number; port: number } | { v6: Uint8Array; port: number; scope: number } | null = null;
    if (msg.name) {
      if (msg.name.length < 2) fail(EINVAL);
      const fam = msg.name[0]! | (msg.name[1]! << 8);
      if (fam === AF_INET) {
        if (sk.o.v6only) fail(ENETUNREACH);
        if (msg.name.length < SOCKADDR_IN_SIZE) fail(EINVAL);
        const s = sinParse(msg.name);
        if (!s.port) fail(EINVAL);
        dest = { v4: s.addr, port: s.port };
      } else if (fam === AF_INET6) {
        if (msg.name.length < SIN6_LEN_RFC2133) fail(EINVAL);
        const a = sin6Parse(msg.name);
        if (!a.port) fail(EINVAL);
        if (isAny6(a.addr)) a.addr = sk.mappedBound ? toMapped(0x7f000001) : LOOPBACK6.slice();
        if (isMapped(a.addr)) dest = { v4: fromMapped(a.addr), port: a.port };
        else {
          let scope = destScope(a, sk.u6.boundIf);
          if (!scope && a.addr[0] === 0xff) scope = sk.o.mcIf;
          dest = { v6: a.addr, port: a.port, scope };
        }
      } else if (fam !== AF_UNSPEC) fail(EINVAL);
    }
    if (!dest) {
      if (sk.conn === 4) dest = { v4: sk.u4!.remoteAddr, port: sk.u4!.remotePort };
      else if (sk.conn === 6) dest = { v6: sk.u6.remoteAddr, port: sk.u6.remotePort, scope: 0 };
      else fail(EDESTADDRREQ);
    }
    const data = gatherIov(msg.iov);
    if (data.length > 65535 - 8) fail(EMSGSIZE);
    const err = sock.takeError();
    if (err) fail(err);
    if (sk.shut & SEND_SHUTDOWN) fail(EPIPE);
    if ('v4' in dest) {
      const u4 = u4Ready(sock, sk);
      u4.broadcast = (sock.opts.get(SO_BROADCAST) ?? 0) !== 0;
      return u4.sendto(data, dest.v4, dest.port);
    }
    if (sk.mappedBound) fail(ENETUNREACH);
    if (needsScope(dest.v6) && !dest.scope && !sk.u6.boundIf) {
      // No interface for a link-local destination: no route to it.
      fail(ENETUNREACH);
    }
    udp6Autobind(sock, sk);
    const mc = dest.v6[0] === 0xff;
    const o: Parameters<Udp6Sock['sendto']>[4] = {
      hopLimit: hopLimitFor(sk.o, mc), trafficClass: sk.o.tclass,
      dontFrag: sk.o.dontfrag !== 0 || sk.o.pmtudisc === IPV6_PMTUDISC_DO || sk.o.pmtudisc === IPV6_PMTUDISC_PROBE,
      mcIf: sk.o.mcIf,
    };
    return sk.u6.sendto(data, dest.v6, dest.port, dest.scope, o);
  },
  recvmsg(sock, msg, flags) {
    const sk = u6sk(sock);
    return dgramRecvWait(sock, flags, () => {
      const n = nextDatagram(sk);
      if (!n) return null;
      let data: Uint8Array, name: Uint8Array, d6: Udp6Datagram | null = null, d4: UdpDatagram | null = null;
      if (n.from === 6) {
        const d = d6 = sk.u6.rxQueue[0]!;
        if (!(flags & MSG_PEEK)) sk.u6.recv();
        data = d.data;
        name = sin6Bytes(d.saddr, d.sport, scopeIdFor(d.saddr, d.ifindex));
      } else {
        const d = d4 = sk.u4!.rxQueue[0]!;
        if (!(flags & MSG_PEEK)) sk.u4!.recv();
        data = d.data;
        name = sin6Bytes(toMapped(d.saddr), d.sport);
      }
      const cm = recvCmsgs(sk.o, d6, d4);
      if (cm.length) msg.scm = { fds: [], creds: null, cmsgs: cm };
      return putDatagram(msg, flags, data, name);
    }, () => (sk.shut & RCV_SHUTDOWN) !== 0);
  },
};

const IPV6_PKTINFO = 50, IPV6_HOPLIMIT = 52, IPV6_TCLASS_CMSG = 67;

/**
 * The ancillary data the IPV6_RECV* options ask for (ip6_datagram_recv_ctl): struct in6_pktinfo
 * {in6_addr; int ifindex}, then the hop limit and traffic class as ints. Built from the head of
 * the queue the datagram came from (u6), or the IPv4 one (addresses mapped, no hop limit kept).
 */
function recvCmsgs(o: Ipv6Opts, d6: Udp6Datagram | null, d4: UdpDatagram | null): { level: number; type: number; data: Uint8Array }[] {
  const out: { level: number; type: number; data: Uint8Array }[] = [];
  if (!o.recvpktinfo && !o.recvhoplimit && !o.recvtclass) return out;
  const int = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); return b; };
  if (o.recvpktinfo && (d6 || d4)) {
    const b = new Uint8Array(20);
    b.set(d6 ? d6.daddr : toMapped(d4!.daddr), 0);
    new DataView(b.buffer).setInt32(16, d6 ? d6.ifindex : d4!.ifindex, true);
    out.push({ level: SOL_IPV6, type: IPV6_PKTINFO, data: b });
  }
  if (o.recvhoplimit && d6?.hopLimit !== undefined) out.push({ level: SOL_IPV6, type: IPV6_HOPLIMIT, data: int(d6.hopLimit) });
  if (o.recvtclass && d6?.trafficClass !== undefined) out.push({ level: SOL_IPV6, type: IPV6_TCLASS_CMSG, data: int(d6.trafficClass) });
  return out;
}

// ---- ping sockets over IPv6 ------------------------------------------------------------------------

interface Ping6Msg { data: Uint8Array; saddr: Uint8Array; ifindex: number }

class Ping6Sk extends MsgQueueSk<Ping6Msg> {
  readonly kind = 'ping6';
  ident = 0;
  localAddr = new Uint8Array(16);
  remoteAddr = new Uint8Array(16);
  boundIf = 0;
  connected = false;
  readonly o: Ipv6Opts;
  /** ICMP6_FILTER: 8 words, bit set = block that type (only echo replies reach us anyway). */
  filter = new Uint8Array(32);
  constructor(net: NetNamespace, sock: Socket) { super(net, sock); this.o = newIpv6Opts(net); }

  get bound(): boolean { return this.ident !== 0; }

  getPort(ident: number): void {
    const st = inet6State(this.net);
    this.ident = pingPickIdent(this.net, ident, (id) => [...st.ping].some((p) => p !== this && p.ident === id &&
      (isAny6(p.localAddr) || isAny6(this.localAddr) || p.localAddr.every((b, i) => b === this.localAddr[i]))));
    st.ping.add(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    inet6State(this.net).ping.delete(this);
    this.purge();
    ipv6DropGroups(this.net, this.o);
    this.sock.wake(0);
  }
}

const eq16 = (a: Uint8Array, b: Uint8Array) => { for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false; return true; };

/** ping_rcv / ping_err for ICMPv6 (skb.data at the ICMPv6 header). */
function ping6Rcv(s: Inet6NetState, skb: SkBuff, info: Ip6RcvInfo): void {
  const b = skb.buf, off = skb.data, end = skb.tail;
  if (end - off < ICMPV6_HLEN) return;
  const type = b[off]!;
  if (type === ICMPV6_ECHO_REPLY) {
    if (!icmpv6ChecksumOk(b, off, end, info.saddr, info.daddr)) return;
    const id = (b[off + 4]! << 8) | b[off + 5]!;
    for (const p of s.ping) {
      if (p.ident !== id) continue;
      if (!isAny6(p.localAddr) && !eq16(p.localAddr, info.daddr)) continue;
      if (p.boundIf && p.boundIf !== info.dev.ifindex) continue;
      p.enqueue({ data: b.slice(off, end), saddr: info.saddr.slice(), ifindex: info.dev.ifindex });
      return;
    }
    return;
  }
  if (type !== ICMPV6_DEST_UNREACH && type !== ICMPV6_PKT_TOOBIG && type !== ICMPV6_TIME_EXCEED && type !== ICMPV6_PARAMPROB) return;
  if (!icmpv6ChecksumOk(b, off, end, info.saddr, info.daddr)) return;
  const q = off + ICMPV6_HLEN;
  const inner = parseIpv6Header(b.subarray(0, end), q);
  if (!inner || inner.nextHeader !== NEXTHDR_ICMP) return;
  const p0 = q + IPV6_HLEN;
  if (end - p0 < 8 || b[p0] !== ICMPV6_ECHO_REQUEST) return;
  const id = (b[p0 + 4]! << 8) | b[p0 + 5]!;
  const e = icmp6Errno(type, b[off + 1]!);
  if (!e) return;
  for (const p of s.ping) {
    if (p.ident !== id) continue;
    if (!isAny6(p.localAddr) && !eq16(p.localAddr, inner.saddr)) continue;
    if (!p.o.recverr && (!e.hard || !p.connected)) return;
    p.sock.err = e.errno;
    p.sock.wake(POLLERR);
    return;
  }
}

function p6sk(sock: Socket): Ping6Sk { return sock.sk as Ping6Sk; }

function pingOptCtx(p: Ping6Sk): V6OptCtx {
  return {
    net: p.net, stream: false, bound: p.bound,
    pathMtu: () => {
      if (!p.connected) return null;
      try { return ipv6Stack(p.net).st.routeOutput(p.remoteAddr, null, p.boundIf).mtu; } catch { return null; }
    },
  };
}

/**
 * The peer a connect(2) of a ping or raw ICMPv6 socket names, checked and routed (null for
 * AF_UNSPEC, which disconnects). A ping socket also turns IPv4 peers away: a sockaddr_in is
 * EAFNOSUPPORT, a v4-mapped address ENETUNREACH.
 */
function icmp6ConnectDest(sock: Socket, p: Ping6Sk, addr: Uint8Array, ping: boolean): { daddr: Uint8Array; scope: number; saddr: Uint8Array } | null {
  if (addr.length < 2) fail(EINVAL);
  const fam = addr[0]! | (addr[1]! << 8);
  if (fam === AF_UNSPEC) { p.connected = false; p.remoteAddr = new Uint8Array(16); sock.state = SS_UNCONNECTED; return null; }
  if (ping && fam === AF_INET) fail(EAFNOSUPPORT);
  if (addr.length < SIN6_LEN_RFC2133) fail(EINVAL);
  if (fam !== AF_INET6) fail(EAFNOSUPPORT);
  const a = sin6Parse(addr);
  if (isAny6(a.addr)) a.addr = LOOPBACK6.slice();
  if (ping && isMapped(a.addr)) fail(ENETUNREACH);
  const scope = destScope(a, p.boundIf) || (a.addr[0] === 0xff ? p.o.mcIf : 0);
  const rt = icmp6Route(p, a.addr, scope);
  return { daddr: a.addr, scope, saddr: rt.saddr };
}

/**
 * Where a ping or raw ICMPv6 sendmsg goes: msg_name (at least RFC 2133's 24 bytes; "::" is the
 * loopback address) or the connected peer, and the interface a scoped destination needs. Ping
 * wants AF_INET6 and no v4-mapped address (EINVAL); raw (rawv6_sendmsg) also lets AF_UNSPEC by.
 */
function icmp6SendDest(p: Ping6Sk, name: Uint8Array | null, ping: boolean): { daddr: Uint8Array; scope: number } {
  if (!name) {
    if (!p.connected) fail(EDESTADDRREQ);
    return { daddr: p.remoteAddr, scope: p.boundIf };
  }
  if (name.length < SIN6_LEN_RFC2133) fail(EINVAL);
  const a = sin6Parse(name);
  if (ping ? a.family !== AF_INET6 : a.family && a.family !== AF_INET6) fail(EAFNOSUPPORT);
  if (ping && isMapped(a.addr)) fail(EINVAL);
  const daddr = isAny6(a.addr) ? LOOPBACK6.slice() : a.addr;
  let scope = p.boundIf;
  if (needsScope(daddr)) {
    if (a.scopeId && p.boundIf && a.scopeId !== p.boundIf) fail(EINVAL);
    scope = a.scopeId || p.boundIf || (daddr[0] === 0xff ? p.o.mcIf : 0);
  }
  return { daddr, scope };
}

/** The route to `daddr` from the socket's address (EINVAL: a scoped destination without interface). */
function icmp6Route(p: Ping6Sk, daddr: Uint8Array, scope: number): { saddr: Uint8Array } {
  if (needsScope(daddr) && !scope) fail(EINVAL);
  return ipv6Stack(p.net).st.routeOutput(daddr, isAny6(p.localAddr) ? null : p.localAddr, scope);
}

/**
 * Send one ICMPv6 message of a ping or raw socket: the caller's bytes with the header rewritten
 * (type, code, the 4 bytes after the checksum, and the checksum itself), with the socket's hop
 * limit, traffic class and interface.
 */
function icmp6Xmit(
  p: Ping6Sk, data: Uint8Array, type: number, code: number, un: number, saddr: Uint8Array, daddr: Uint8Array,
  scope: number, dontFrag: boolean,
): void {
  const net = p.net, len = data.length;
  const skb = net.allocSkb(len);
  const off = skb.put(len);
  skb.buf.set(data, off);
  writeIcmpv6Header(skb.buf, off, off + len, type, code, un, saddr, daddr);
  skb.transportHeader = off;
  const sp: Ip6SendParams = { daddr, saddr, nextHeader: NEXTHDR_ICMP };
  const hl = hopLimitFor(p.o, daddr[0] === 0xff);
  if (hl !== undefined) sp.hopLimit = hl;
  if (p.o.tclass) sp.trafficClass = p.o.tclass;
  if (scope) sp.oif = scope;
  if (dontFrag) sp.dontFrag = true;
  ipv6Stack(net).xmit(skb, sp);
  net.count('Icmp6OutMsgs');
}

export const ping6Ops: ProtoOps = {
  family: AF_INET6,
  release(sock) { p6sk(sock).close(); },
  bind(sock, addr, t) {
    const p = p6sk(sock);
    // ping_check_bind_addr: a mapped address is never ours for ICMPv6.
    if (addr.length >= SIN6_LEN_RFC2133 && sin6Parse(addr).family === AF_INET6 && isMapped(sin6Parse(addr).addr)) fail(EADDRNOTAVAIL);
    void t;
    const { a, ifindex } = bind6Check(p.net, addr, null, p.boundIf, p.bound, false);
    p.localAddr = a.addr.slice();
    if (needsScope(a.addr)) p.boundIf = ifindex;
    p.getPort(a.port);
    if (!isAny6(a.addr)) p.o.v6only = 1;
  },
  connect(sock, addr) {
    const p = p6sk(sock);
    const d = icmp6ConnectDest(sock, p, addr, true);
    if (!d) return;
    if (isAny6(p.localAddr)) p.localAddr = d.saddr.slice();
    if (d.scope) p.boundIf = d.scope;
    if (!p.bound) p.getPort(0);
    p.remoteAddr = d.daddr.slice(); p.connected = true;
    sock.state = SS_CONNECTED;
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const p = p6sk(sock);
    if (peer) {
      if (!p.connected) fail(ENOTCONN);
      return sin6Bytes(p.remoteAddr, 0, scopeIdFor(p.remoteAddr, p.boundIf));
    }
    return sin6Bytes(p.localAddr, p.ident, scopeIdFor(p.localAddr, p.boundIf));
  },
  ...msgQueueOps(p6sk),
  setsockopt(sock, level, name, v) {
    const p = p6sk(sock);
    if (level === SOL_IPV6 && ipv6Setsockopt(p.o, pingOptCtx(p), name, v)) return;
    if (level === SOL_ICMPV6 && name === ICMP6_FILTER) {
      if (v.length > 32) fail(EINVAL);
      p.filter.fill(0); p.filter.set(v);
      return;
    }
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const p = p6sk(sock);
    if (level === SOL_IPV6) { const r = ipv6Getsockopt(p.o, pingOptCtx(p), name); if (r) return r; }
    if (level === SOL_ICMPV6 && name === ICMP6_FILTER) return p.filter.slice();
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, flags) {
    const p = p6sk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    const { daddr, scope } = icmp6SendDest(p, msg.name, true);
    const len = iovLen(msg.iov);
    if (len > 0xffff) fail(EMSGSIZE);
    if (len < ICMPV6_HLEN) fail(EINVAL);
    const data = gatherIov(msg.iov);
    if (data[0] !== ICMPV6_ECHO_REQUEST || data[1] !== 0) fail(EINVAL);
    const err = sock.takeError();
    if (err) fail(err);
    if (p.shut & SEND_SHUTDOWN) fail(EPIPE);
    const rt = icmp6Route(p, daddr, scope);
    if (!p.bound) p.getPort(0);
    const un = ((p.ident << 16) | ((data[6]! << 8) | data[7]!)) >>> 0;
    const df = p.o.dontfrag !== 0 || p.o.pmtudisc === IPV6_PMTUDISC_DO || p.o.pmtudisc === IPV6_PMTUDISC_PROBE;
    icmp6Xmit(p, data, ICMPV6_ECHO_REQUEST, 0, un, rt.saddr, daddr, scope, df);
    p.net.count('Icmp6OutType128');
    return len;
  },
  recvmsg(sock, msg, flags) {
    return queueRecvmsg(sock, p6sk(sock), msg, flags, (m) => sin6Bytes(m.saddr, 0, scopeIdFor(m.saddr, m.ifindex)));
  },
};

// ---- raw ICMPv6 sockets (net/ipv6/raw.c) -------------------------------------------------------

class Raw6Sk extends Ping6Sk {
  override close(): void {
    if (this.closed) return;
    super.close();
    inet6State(this.net).raw.delete(this);
  }
}

/** rawv6_rcv for ICMPv6: a copy of the message to every matching raw socket its filter passes. */
function raw6Deliver(s: Inet6NetState, skb: SkBuff, info: Ip6RcvInfo): void {
  const b = skb.buf, off = skb.data, end = skb.tail;
  if (end - off < 4 || !icmpv6ChecksumOk(b, off, end, info.saddr, info.daddr)) return;
  const type = b[off]!;
  for (const r of s.raw) {
    if (!isAny6(r.localAddr) && !eq16(r.localAddr, info.daddr)) continue;
    if (r.connected && !eq16(r.remoteAddr, info.saddr)) continue;
    if (r.boundIf && r.boundIf !== info.dev.ifindex) continue;
    // ICMP6_FILTER: bit (type & 31) of word (type >> 5) set = blocked.
    const w = new DataView(r.filter.buffer).getUint32((type >> 5) * 4, true);
    if ((w >>> (type & 31)) & 1) continue;
    r.enqueue({ data: b.slice(off, end), saddr: info.saddr.slice(), ifindex: info.dev.ifindex });
  }
}

function r6sk(sock: Socket): Raw6Sk { return sock.sk as Raw6Sk; }

export const raw6Ops: ProtoOps = {
  ...ping6Ops,
  bind(sock, addr) {
    const r = r6sk(sock);
    const { a, ifindex } = bind6Check(r.net, addr, null, r.boundIf, false, false);
    if (isMapped(a.addr)) fail(EADDRNOTAVAIL);
    r.localAddr = a.addr.slice();
    if (needsScope(a.addr)) r.boundIf = ifindex;
  },
  getname(sock, peer) {
    const r = r6sk(sock);
    // A raw socket's "port" is its protocol (inet_num).
    if (peer) {
      if (!r.connected) fail(ENOTCONN);
      return sin6Bytes(r.remoteAddr, 0, scopeIdFor(r.remoteAddr, r.boundIf));
    }
    return sin6Bytes(r.localAddr, IPPROTO_ICMPV6, scopeIdFor(r.localAddr, r.boundIf));
  },
  connect(sock, addr) {
    const r = r6sk(sock);
    const d = icmp6ConnectDest(sock, r, addr, false);
    if (!d) return;
    if (d.scope) r.boundIf = d.scope;
    r.remoteAddr = d.daddr.slice(); r.connected = true;
    sock.state = SS_CONNECTED;
  },
  sendmsg(sock, msg, flags) {
    const r = r6sk(sock);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    const { daddr, scope } = icmp6SendDest(r, msg.name, false);
    const len = iovLen(msg.iov);
    if (len > 0xffff) fail(EMSGSIZE);
    // Linux needs room for the checksum (4 bytes); we need a whole ICMPv6 header (8).
    if (len < ICMPV6_HLEN) fail(EINVAL);
    const err = sock.takeError();
    if (err) fail(err);
    const rt = icmp6Route(r, daddr, scope);
    const data = gatherIov(msg.iov);
    // The caller's bytes 4..7 (identifier and sequence of an echo, say) go out as written.
    const un = new DataView(data.buffer, data.byteOffset, len).getUint32(4, false);
    icmp6Xmit(r, data, data[0]!, data[1]!, un, rt.saddr, daddr, scope, false);
    return len;
  },
};

export { SOCKADDR_IN6_SIZE };
