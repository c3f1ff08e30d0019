/*
 * TCP sockets (net/ipv4/af_inet.c's inet_stream_ops over tcp.c): the SOCK_STREAM kind of AF_INET,
 * a thin layer over the TcpSock objects of src/net/tcp.
 *
 * Plugging the engine in (tcpAttach, once per namespace): segments the engine emits are put in an
 * skb and sent with ipQueueXmit (protocol 6); segments IPv4 delivers to protocol 6 go to
 * engine.input; ICMP errors about our segments reach the connection (a SYN-SENT connection dies
 * with the error, as tcp_v4_err does; others keep it as a soft error); timers are kernel Clock
 * timers whose expiry only queues the engine's work on the kernel worker, like every other
 * interrupt. The path MTU is the route's device MTU and the source of an unbound connect is
 * the route's preferred source.
 *
 * What this layer adds: the socket states (SS_CONNECTING while a connect is under way, as
 * inet_stream_connect keeps them: a second connect() says EALREADY, or 0 once the first one has
 * succeeded, then EISCONN), sleeping (blocking connect/accept/send/recv honour O_NONBLOCK,
 * MSG_DONTWAIT and SO_RCVTIMEO/SO_SNDTIMEO), autobind at listen(), and the pending error: the
 * engine's error is moved into Socket.err as soon as it is raised, so SO_ERROR, POLLERR and the
 * next call see it.
 *
 * Generic SOL_SOCKET options the socket layer stores itself (SO_KEEPALIVE, SO_REUSEADDR,
 * SO_LINGER, SO_SNDBUF, SO_RCVBUF) must reach the engine at once (keepalive arms a timer), so the
 * socket's fields for them are turned into accessors over the TcpSock here.
 */
import { fail, KernelError } from '../../lib/errors.js';
import {
  EINVAL, EAGAIN, ENOTCONN, EISCONN, EALREADY, ECONNABORTED, EPIPE, EOPNOTSUPP, EADDRNOTAVAIL, EADDRINUSE,
  EAFNOSUPPORT, ENOPROTOOPT, EINPROGRESS, ECONNRESET, EFAULT,
} from '../../uapi/errno.js';
import { O_NONBLOCK } from '../../uapi/fcntl.js';
import {
  AF_INET, AF_INET6, SOL_IPV6, AF_UNSPEC, SOL_SOCKET, SOL_TCP, SOL_IP, SO_KEEPALIVE, SO_REUSEADDR, MSG_PEEK,
  MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_OOB, MSG_MORE, SS_UNCONNECTED, SS_CONNECTING,
  SS_CONNECTED, SIOCINQ, SIOCOUTQ, TCP_CONGESTION, TCP_INFO, SOCKADDR_IN_SIZE,
} from '../../uapi/socket.js';
import { POLLERR } from '../../uapi/misc.js';
import { CAP_NET_BIND_SERVICE } from '../../uapi/misc.js';
import { netOf, type NetNamespace, type NetDevice, type IcmpErrorInfo } from '../core/index.js';
import { netifGsoMaxSize, type GsoSkb } from '../link/index.js';
import {
  TcpEngine, TcpSock, TCP_SYN_SENT, TCP_SYN_RECV, TCP_CLOSE, TCP_LISTEN, TCP_ESTABLISHED, TCP_CLOSE_WAIT, IPPROTO_TCP,
  SO_LINGER, SO_SNDBUF, SO_RCVBUF,
} from '../tcp/index.js';
import { inetIoctl } from './af_inet_ioctl.js';
import { icmpErrno } from './af_inet_err.js';
import { newIpOpts, ipSetsockopt, ipGetsockopt, type IpOpts } from './af_inet_opts.js';
import { tcp6Attach, tcp6Output, route6Info, ipv6State, type Icmp6ErrorInfo } from '../ipv6/index.js';
import {
  SIN6_LEN_RFC2133, sin6Parse, sin6Bytes, isMapped, toMapped, fromMapped, needsScope, scopeIdFor, isAny6,
  bind6Check,
} from './af_inet6_addr.js';
import { sockOfEndpoint, tcpAttached } from './af_inet_reg.js';
import { newIpv6Opts, ipv6Setsockopt, ipv6Getsockopt, type Ipv6Opts, type V6OptCtx } from './af_inet6_opts.js';
import {
  Socket, sockWait, sockTimeo, intBytes, iovLen, type ProtoOps, type MsgHdr,
} from './socket.js';

/** Engines by namespace. */
const engines = new WeakMap<NetNamespace, TcpEngine>();
/** Connections with their own IP_TTL / IP_TOS, by engine (consulted by the output path). */
const ipOptsOf = new WeakMap<TcpEngine, Map<TcpSock, IpOpts>>();

/** The IP options of the connection that emitted `seg` (sport, dport at its start), if any. */
function segIpOpts(engine: TcpEngine, src: number, dst: number, seg: Uint8Array): IpOpts | null {
  const m = ipOptsOf.get(engine);
  if (!m || !m.size || seg.length < 4) return null;
  const sport = (seg[0]! << 8) | seg[1]!, dport = (seg[2]! << 8) | seg[3]!;
  for (const [c, o] of m) {
    if (c.state === TCP_CLOSE && c.orphan) { m.delete(c); continue; }
    if (c.localPort !== sport) continue;
    if (c.state === TCP_LISTEN || (c.remotePort === dport && fromV4(c.remoteAddr) === dst && fromV4(c.localAddr) === src)) return o;
  }
  return null;
}

const v4 = (a: number): Uint8Array => new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);
const fromV4 = (b: Uint8Array | null): number => (b && b.length === 4 ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : 0);

/** The namespace's TCP engine, plugged into IPv4 on first use. */
export function tcpAttach(net: NetNamespace): TcpEngine {
  let e = engines.get(net);
  if (e) return e;
  const clock = net.k.clock;
  const engine = new TcpEngine({
    clock: {
      nowNs: () => clock.monotonicNs(),
      setTimer: (t, fn) => {
        let live = true;
        const x = clock.addTimer(t, () => { if (live) net.k.queueWork(() => { if (live && !net.halted) fn(); }); }, true);
        return () => { live = false; x.cancel(); };
      },
    },
    output: (src, dst, seg, gsoSize) => {
      if (net.halted) return;
      if (dst.length === 16 && !isMapped(dst)) {
        try { tcp6Output(net, src, dst, seg, oif6(net, src)); } catch (err) {
          if (!(err instanceof KernelError)) net.oops('tcp output', err);
          else net.count('TcpOutErrors');
        }
        return;
      }
      if (dst.length === 16) { src = v4(fromMapped(src)); dst = v4(fromMapped(dst)); }
      const skb = net.allocSkb(seg.length);
      const off = skb.put(seg.length);
      skb.buf.set(seg, off);
      skb.transportHeader = off;
      if (gsoSize) (skb as GsoSkb).gsoSize = gsoSize;
      try {
        const p: Parameters<NetNamespace['ipQueueXmit']>[1] = { daddr: fromV4(dst), saddr: fromV4(src), protocol: IPPROTO_TCP };
        const o = segIpOpts(engine, p.saddr!, p.daddr, seg);
        if (o) { if (o.ttl !== -1) p.ttl = o.ttl; if (o.tos) p.tos = o.tos; }
        net.ipQueueXmit(skb, p);
      } catch (err) {
        // A segment that cannot be routed is lost, as one dropped on the wire; retransmission
        // and the connection's timers deal with it.
        if (!(err instanceof KernelError)) net.oops('tcp output', err);
        else net.count('TcpOutErrors');
      }
    },
    random32: () => net.random32(),
    // An IPv4 datagram is at most 65535 bytes whatever the device (lo's MTU is 65536).
    mtu: (l, r) => {
      if (r.length === 16 && !isMapped(r)) return route6Info(net, r, oif6(net, l))?.mtu ?? 1280;
      try { return Math.min(net.routeOutput(r.length === 16 ? fromMapped(r) : fromV4(r)).dev.mtu, 0xffff); } catch { return 1500; }
    },
    // TSO over IPv4 where the route's device has it (a TAP with offload): see link/ethernet.ts.
    gsoMax: (_l, r) => {
      if (r.length === 16 && !isMapped(r)) return 0;
      try {
        const rt = net.routeOutput(r.length === 16 ? fromMapped(r) : fromV4(r));
        return netifGsoMaxSize(rt.dev as NetDevice);
      } catch { return 0; }
    },
    selectSource: (r) => {
      if (r.length === 16 && !isMapped(r)) return route6Info(net, r)?.saddr ?? null;
      try {
        const s = net.routeOutput(r.length === 16 ? fromMapped(r) : fromV4(r)).saddr;
        return s ? (r.length === 16 ? toMapped(s) : v4(s)) : null;
      } catch { return null; }
    },
    sysctl: { portLow: net.sysctl.ip_local_port_range[0], portHigh: net.sysctl.ip_local_port_range[1] },
  });
  engines.set(net, engine);
  net.inetAddProtocol(IPPROTO_TCP, {
    handler: (skb, iph) => {
      const bytes = skb.buf.subarray(skb.data, skb.tail);
      // A segment for a dual-stack socket's port is seen by the engine with mapped addresses.
      if (dualOwns(engine, bytes, iph.daddr)) engine.input(toMapped(iph.daddr), toMapped(iph.saddr), bytes);
      else engine.input(v4(iph.daddr), v4(iph.saddr), bytes);
    },
    errHandler: (info) => tcpErr(engine, info),
  });
  // TCP over IPv6, when the namespace has IPv6.
  try { ipv6State(net); tcp6Attach(net, engine, (e) => tcp6Err(engine, e)); } catch { /* no IPv6 */ }
  net.k.onShutdown(() => {
    for (const c of engine.connections()) c.done();
  });
  e = engine;
  return e;
}

/** tcp_v4_err: a SYN-SENT connection dies with the error; later ones only note it. */
function tcpErr(engine: TcpEngine, info: IcmpErrorInfo): void {
  if (info.payload.length < 8) return;
  const sport = (info.payload[0]! << 8) | info.payload[1]!, dport = (info.payload[2]! << 8) | info.payload[3]!;
  const local = fromV4Num(info.iph.saddr), remote = fromV4Num(info.iph.daddr);
  for (const c of engine.connections()) {
    if (c.localPort !== sport || c.remotePort !== dport) continue;
    if (v4Of(c.localAddr) !== local || v4Of(c.remoteAddr) !== remote) continue;
    if (info.type === 3 && info.code === 4) return; // fragmentation needed: path MTU, not an error
    const e = icmpErrno(info.type, info.code);
    if (!e) return;
    const errno = e.errno;
    if (c.state === TCP_SYN_SENT || c.state === TCP_SYN_RECV) c.abort(errno);
    return;
  }
}
const fromV4Num = (a: number): number => a >>> 0;
/** The IPv4 address of a 4-byte or v4-mapped engine address (0 for other IPv6 ones). */
const v4Of = (a: Uint8Array | null): number => (a && a.length === 16 ? (isMapped(a) ? fromMapped(a) : 0) : fromV4(a));

// ---- IPv6 and the dual stack ----------------------------------------------------------------------

/** The interface a link-local source address lives on (the scope of its connection), else 0. */
function oif6(net: NetNamespace, src: Uint8Array): number {
  if (src.length !== 16 || !needsScope(src)) return 0;
  try { return ipv6State(net).findAddr(src)?.dev.ifindex ?? 0; } catch { return 0; }
}

/**
 * Dual-stack sockets by port: AF_INET6 sockets bound to :: without IPV6_V6ONLY, or to a
 * v4-mapped address, and the connections they made or accepted. IPv4 segments to these ports
 * reach the engine with mapped addresses, as Linux's IPv4 lookup finds such sockets.
 */
const duals = new WeakMap<TcpEngine, Map<number, Set<TcpSock>>>();

function dualSet(engine: TcpEngine, port: number, create: boolean): Set<TcpSock> | undefined {
  let m = duals.get(engine);
  if (!m) { if (!create) return undefined; m = new Map(); duals.set(engine, m); }
  let s = m.get(port);
  if (!s && create) { s = new Set(); m.set(port, s); }
  return s;
}

function dualAdd(c: TcpSock): void { if (c.localPort) dualSet(c.engine, c.localPort, true)!.add(c); }

/** The live dual-stack sockets on `port` (dead ones are dropped on the way). */
function dualLive(engine: TcpEngine, port: number): TcpSock[] {
  const s = dualSet(engine, port, false);
  if (!s) return [];
  const out: TcpSock[] = [];
  for (const c of s) {
    if (c.localPort !== port || (c.state === TCP_CLOSE && (c.orphan || dead.has(c)))) { s.delete(c); continue; }
    out.push(c);
  }
  if (!s.size) duals.get(engine)!.delete(port);
  return out;
}

/** Sockets whose file is closed (their TcpSock may linger in TIME-WAIT). */
const dead = new WeakSet<TcpSock>();

function dualOwns(engine: TcpEngine, seg: Uint8Array, daddr: number): boolean {
  if (seg.length < 4 || !duals.get(engine)?.size) return false;
  const dport = (seg[2]! << 8) | seg[3]!;
  for (const c of dualLive(engine, dport)) {
    if (!c.localAddr || isAny6(c.localAddr) || fromMapped(c.localAddr) === daddr) return true;
  }
  return false;
}

/** tcp_v6_err: a connection being set up dies with the error; later ones only note it. */
function tcp6Err(engine: TcpEngine, e: Icmp6ErrorInfo): void {
  if (e.payload.length < 8 || e.type === 2 /* Packet Too Big: path MTU only */) return;
  const sport = (e.payload[0]! << 8) | e.payload[1]!, dport = (e.payload[2]! << 8) | e.payload[3]!;
  const same = (a: Uint8Array | null, b: Uint8Array) => !!a && a.length === 16 && a.every((x, i) => x === b[i]);
  for (const c of engine.connections()) {
    if (c.localPort !== sport || c.remotePort !== dport || !same(c.localAddr, e.saddr) || !same(c.remoteAddr, e.daddr)) continue;
    const tab = [101 /* ENETUNREACH */, 13 /* EACCES */, 113, 113, 111 /* ECONNREFUSED */, 13, 13];
    const errno = e.type === 1 ? tab[e.code] ?? 71 : e.type === 4 ? 71 /* EPROTO */ : 113 /* EHOSTUNREACH */;
    if (c.state === TCP_SYN_SENT || c.state === TCP_SYN_RECV) c.abort(errno);
    return;
  }
}

// ---- the Socket ⇄ TcpSock association ---------------------------------------------------------

interface TcpSk {
  tcp: TcpSock; net: NetNamespace; cb: (mask: number) => void; ip: IpOpts;
  /** AF_INET6 sockets: the IPPROTO_IPV6 options, and the interface a link-local bind/connect named. */
  v6: Ipv6Opts | null; boundIf: number;
}

function tsk(sock: Socket): TcpSk { return sock.sk as TcpSk; }

/** Make `tcp` the protocol half of `sock`: wake-ups and errors flow to the socket. */
function attach(net: NetNamespace, sock: Socket, tcp: TcpSock): void {
  const old = sock.sk as TcpSk | undefined;
  if (old?.tcp) old.tcp.wq.removeCallback(old.cb);
  const cb = (mask: number): void => {
    if (tcp.err) { sock.err = tcp.err; tcp.err = 0; mask |= POLLERR; }
    sock.wake(mask);
  };
  tcp.wq.addCallback(cb);
  if (tcp.err) { sock.err = tcp.err; tcp.err = 0; }
  sockOfEndpoint.set(tcp, sock);
  let att = tcpAttached.get(tcp.engine);
  if (!att) { att = new Set(); tcpAttached.set(tcp.engine, att); }
  if (old?.tcp) att.delete(old.tcp);
  att.add(tcp);
  const ip = old?.ip ?? newIpOpts();
  const v6 = old?.v6 ?? (sock.family === AF_INET6 ? newIpv6Opts(net) : null);
  sock.sk = { tcp, net, cb, ip, v6, boundIf: old?.boundIf ?? 0 } satisfies TcpSk;
  if (ip.ttl !== -1 || ip.tos) registerIpOpts(tcp, ip);
  sock.ops = sock.family === AF_INET6 ? tcp6Ops : tcpOps;
  linkOptions(sock);
}

/** Socket fields the generic SOL_SOCKET code writes, forwarded to the engine (see the header). */
function linkOptions(sock: Socket): void {
  const t = () => tsk(sock).tcp;
  if (!Object.getOwnPropertyDescriptor(sock, 'sndbuf')?.get) {
    Object.defineProperty(sock, 'sndbuf', {
      configurable: true, enumerable: true,
      get: () => t().sndBuf,
      set: (v: number) => { t().sndBuf = v; t().sndBufLocked = true; t().wake(); },
    });
    Object.defineProperty(sock, 'rcvbuf', {
      configurable: true, enumerable: true,
      get: () => t().rcvBuf,
      set: (v: number) => { t().rcvBuf = v; t().rcvBufLocked = true; },
    });
    Object.defineProperty(sock, 'linger', {
      configurable: true, enumerable: true,
      get: () => ({ onoff: t().lingerOnOff ? 1 : 0, linger: t().lingerSec }),
      set: (v: { onoff: number; linger: number }) => { t().setsockopt(SOL_SOCKET, SO_LINGER, v.onoff ? Math.max(0, v.linger) : -1); },
    });
    const opts = sock.opts;
    const set = opts.set.bind(opts);
    opts.set = (k: number, v: number) => {
      set(k, v);
      if (k === SO_KEEPALIVE || k === SO_REUSEADDR) t().setsockopt(SOL_SOCKET, k, v);
      return opts;
    };
  }
  // A replaced TcpSock (after a disconnect) takes the options already set.
  const tcp = t();
  for (const k of [SO_KEEPALIVE, SO_REUSEADDR]) {
    const v = sock.opts.get(k);
    if (v !== undefined) tcp.setsockopt(SOL_SOCKET, k, v);
  }
}

function registerIpOpts(tcp: TcpSock, ip: IpOpts): void {
  let m = ipOptsOf.get(tcp.engine);
  if (!m) { m = new Map(); ipOptsOf.set(tcp.engine, m); }
  m.set(tcp, ip);
}

export function tcpCreate(net: NetNamespace, sock: Socket): void {
  const engine = tcpAttach(net);
  attach(net, sock, engine.socket());
}

function sinOf(addr: Uint8Array): { family: number; port: number; addr: number } {
  if (addr.length < 2) fail(EINVAL);
  const family = addr[0]! | (addr[1]! << 8);
  if (addr.length < SOCKADDR_IN_SIZE) return { family, port: 0, addr: 0 };
  return { family, port: (addr[2]! << 8) | addr[3]!, addr: fromV4(addr.subarray(4, 8)) };
}

function sinBytes(addr: number, port: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN_SIZE);
  b[0] = AF_INET; b[2] = port >>> 8; b[3] = port & 0xff;
  b.set(v4(addr), 4);
  return b;
}

function isErr(e: unknown, errno: number): boolean { return e instanceof KernelError && e.errno === errno; }

function intOf(v: Uint8Array): number {
  if (v.length < 4) fail(EINVAL);
  return new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
}

/**
 * inet_stream_connect's sock_error path: report the error (ECONNABORTED if it was already taken)
 * and disconnect, so the socket reads ENOTCONN and may connect again.
 */
function connectFailed(sock: Socket): never {
  const sk = tsk(sock);
  sock.state = SS_UNCONNECTED;
  const e = sock.takeError();
  sk.tcp.close();
  attach(sk.net, sock, tcpAttach(sk.net).socket());
  fail(e || ECONNABORTED);
}

export const tcpOps: ProtoOps = {
  family: AF_INET,

  release(sock) {
    const sk = tsk(sock);
    sk.tcp.wq.removeCallback(sk.cb);
    dead.add(sk.tcp);
    tcpAttached.get(sk.tcp.engine)?.delete(sk.tcp);
    sk.tcp.close();
  },

  bind(sock, addr, t) {
    const sk = tsk(sock);
    if (addr.length < SOCKADDR_IN_SIZE) fail(EINVAL);
    const a = sinOf(addr);
    if (a.family !== AF_INET && !(a.family === AF_UNSPEC && a.addr === 0)) fail(EAFNOSUPPORT);
    if (a.port && a.port < 1024 && !t.cred.capable(CAP_NET_BIND_SERVICE)) fail(13 /* EACCES */);
    if (a.addr && !sk.net.isLocalAddr(a.addr) && a.addr !== 0xffffffff) fail(EADDRNOTAVAIL);
    if (sk.tcp.localPort || sk.tcp.state !== TCP_CLOSE) fail(EINVAL);
    // inet_csk_bind_conflict over the connections on the port as well (accepted and TIME-WAIT
    // ones hold it too): allowed only when both sides set SO_REUSEADDR and neither listens.
    if (a.port) {
      for (const c of tcpAttach(sk.net).connections()) {
        if (c === sk.tcp || c.localPort !== a.port) continue;
        const ca = fromV4(c.localAddr);
        if (ca && a.addr && ca !== a.addr) continue;
        if (sk.tcp.reuseAddr && c.reuseAddr && c.state !== TCP_LISTEN) continue;
        fail(EADDRINUSE);
      }
      // ... and the dual-stack AF_INET6 sockets on it, which hold the IPv4 port too.
      for (const c of dualLive(tcpAttach(sk.net), a.port)) {
        const ca = c.localAddr && !isAny6(c.localAddr) ? fromMapped(c.localAddr) : 0;
        if (ca && a.addr && ca !== a.addr) continue;
        if (sk.tcp.reuseAddr && c.reuseAddr && c.state !== TCP_LISTEN) continue;
        fail(EADDRINUSE);
      }
    }
    sk.tcp.bind(v4(a.addr), a.port);
  },

  async connect(sock, addr, flags) {
    let sk = tsk(sock);
    if (addr.length < 2) fail(EINVAL);
    const a = sinOf(addr);
    let dst: Uint8Array, src: Uint8Array | undefined;
    if (a.family === AF_UNSPEC) {
      // tcp_disconnect: the connection is reset and the socket can connect again.
      if (sk.tcp.state !== TCP_CLOSE || sk.tcp.remoteAddr) {
        sk.tcp.abort(ECONNRESET);
        sk.tcp.close();
        attach(sk.net, sock, tcpAttach(sk.net).socket());
        sock.err = 0;
      }
      sock.state = SS_UNCONNECTED;
      return;
    }
    if (sock.family === AF_INET6) {
      const r = connect6Resolve(sk, addr);
      dst = r.dst; src = r.src;
    } else {
      if (addr.length < SOCKADDR_IN_SIZE) fail(EINVAL);
      if (a.family !== AF_INET) fail(EAFNOSUPPORT);
      dst = v4(a.addr);
    }
    const nonblock = (flags & O_NONBLOCK) !== 0;
    switch (sock.state) {
      case SS_CONNECTED: fail(EISCONN);
      // eslint-disable-next-line no-fallthrough
      case SS_CONNECTING:
        if (sk.tcp.state === TCP_SYN_SENT || sk.tcp.state === TCP_SYN_RECV) {
          if (nonblock) fail(EALREADY);
          break;
        }
        if (sk.tcp.state === TCP_CLOSE) connectFailed(sock);
        sock.state = SS_CONNECTED;
        return;
      default:
        if (sk.tcp.state !== TCP_CLOSE || sk.tcp.remoteAddr) {
          if (sk.tcp.state === TCP_CLOSE) {
            // A connection that ended: Linux lets the socket connect anew.
            sk.tcp.close();
            attach(sk.net, sock, tcpAttach(sk.net).socket());
            sk = tsk(sock);
          } else fail(EISCONN);
        }
        sk.tcp.connect(dst, a.port, src);
        if (isMapped(dst)) dualAdd(sk.tcp);
        sock.state = SS_CONNECTING;
        if (nonblock) fail(EINPROGRESS);
    }
    const deadline = sockTimeo(sock, false, true);
    while (sk.tcp.state === TCP_SYN_SENT || sk.tcp.state === TCP_SYN_RECV) {
      try { await sockWait(sock, deadline); } catch (e) { if (isErr(e, EAGAIN)) fail(EINPROGRESS); throw e; }
    }
    if (sk.tcp.state === TCP_CLOSE) connectFailed(sock);
    sock.state = SS_CONNECTED;
  },

  async accept(sock, newsock, flags) {
    const sk = tsk(sock);
    if (!sock.listening || sk.tcp.state !== TCP_LISTEN) fail(EINVAL);
    const deadline = sockTimeo(sock, (flags & O_NONBLOCK) !== 0, false);
    for (;;) {
      try {
        const child = sk.tcp.accept();
        child.reuseAddr = sk.tcp.reuseAddr; // sk_clone: the child inherits sk_reuse
        attach(sk.net, newsock, child);
        Object.assign(tsk(newsock).ip, sk.ip); // and the IP options
        if (sk.v6) { tsk(newsock).v6 = { ...sk.v6, groups: new Map() }; tsk(newsock).boundIf = sk.boundIf; }
        if (child.localAddr && isMapped(child.localAddr)) dualAdd(child);
        if (sk.ip.ttl !== -1 || sk.ip.tos) registerIpOpts(child, tsk(newsock).ip);
        newsock.state = SS_CONNECTED;
        return;
      } catch (e) {
        if (!isErr(e, EAGAIN)) throw e;
      }
      if (deadline === 0) fail(EAGAIN);
      await sockWait(sock, deadline);
      if (tsk(sock).tcp.state !== TCP_LISTEN) fail(EINVAL);
    }
  },

  getname(sock, peer) {
    const c = tsk(sock).tcp;
    if (peer) {
      if (!c.remotePort || c.state === TCP_CLOSE || c.state === TCP_SYN_SENT) fail(ENOTCONN);
      return sinBytes(fromV4(c.remoteAddr), c.remotePort);
    }
    return sinBytes(fromV4(c.localAddr), c.localPort);
  },

  poll(sock) {
    const c = tsk(sock).tcp;
    let mask = c.poll();
    if (sock.err) mask |= POLLERR;
    return mask;
  },

  ioctl(sock, cmd, arg) {
    const c = tsk(sock).tcp;
    if (cmd === SIOCINQ || cmd === SIOCOUTQ) {
      if (c.state === TCP_LISTEN) fail(EINVAL);
      const v = cmd === SIOCINQ ? c.bytesReadable : c.bytesUnsent + ((c.sndNxt - c.sndUna) >>> 0);
      if (arg instanceof Uint8Array && arg.length >= 4) { new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true); return 0; }
      if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return 0; }
      fail(EFAULT);
    }
    return inetIoctl(sock, cmd, arg);
  },

  listen(sock, backlog) {
    const sk = tsk(sock);
    if (sock.state !== SS_UNCONNECTED) fail(EINVAL);
    if (sk.tcp.state !== TCP_CLOSE && sk.tcp.state !== TCP_LISTEN) fail(EINVAL);
    if (sk.tcp.state === TCP_CLOSE && sk.tcp.remoteAddr) fail(EINVAL);
    if (!sk.tcp.localPort) {
      if (sock.family === AF_INET6) bind6Port(sk, new Uint8Array(16), 0);
      else sk.tcp.bind(new Uint8Array(4), 0);
    }
    sk.tcp.listen(backlog);
    sock.listening = true;
  },

  shutdown(sock, how) {
    const sk = tsk(sock);
    if (!Number.isInteger(how) || how < 0 || how > 2) fail(EINVAL);
    const wasListening = sk.tcp.state === TCP_LISTEN;
    sk.tcp.shutdown(how);
    if (wasListening && sk.tcp.state !== TCP_LISTEN) sock.listening = false;
    sock.wake(0);
  },

  setsockopt(sock, level, name, v) {
    const c = tsk(sock).tcp;
    if (level === SOL_TCP) {
      if (name === TCP_CONGESTION) {
        let s = '';
        for (const b of v) { if (!b) break; s += String.fromCharCode(b); }
        c.setsockopt(SOL_TCP, name, s);
        return;
      }
      c.setsockopt(SOL_TCP, name, intOf(v));
      return;
    }
    if (level === SOL_IPV6 && tsk(sock).v6) {
      const sk = tsk(sock);
      if (!ipv6Setsockopt(sk.v6!, v6Ctx(sk), name, v)) fail(ENOPROTOOPT);
      return;
    }
    if (level === SOL_IP) {
      const sk = tsk(sock);
      if (!ipSetsockopt(sk.ip, name, v)) fail(ENOPROTOOPT);
      if (sk.ip.ttl !== -1 || sk.ip.tos) registerIpOpts(c, sk.ip);
      return;
    }
    fail(ENOPROTOOPT);
  },

  getsockopt(sock, level, name) {
    const c = tsk(sock).tcp;
    if (level === SOL_TCP) {
      if (name === TCP_INFO) return tcpInfoBytes(c);
      const v = c.getsockopt(SOL_TCP, name);
      if (typeof v === 'string') {
        const b = new Uint8Array(16);
        for (let i = 0; i < v.length && i < 15; i++) b[i] = v.charCodeAt(i);
        return b;
      }
      return intBytes(v);
    }
    if (level === SOL_IP) { const r = ipGetsockopt(tsk(sock).net, tsk(sock).ip, name); if (r) return r; }
    if (level === SOL_IPV6 && tsk(sock).v6) { const r = ipv6Getsockopt(tsk(sock).v6!, v6Ctx(tsk(sock)), name); if (r) return r; }
    if (level === SOL_SOCKET && (name === SO_SNDBUF || name === SO_RCVBUF)) return intBytes(name === SO_SNDBUF ? c.sndBuf : c.rcvBuf);
    fail(ENOPROTOOPT);
  },

  sendmsg(sock, msg, flags) {
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    // Fast path (the request/response case): one buffer that fits the send queue of an open
    // connection is queued and pushed without a promise; anything else takes the general loop.
    if (msg.iov.length === 1 && sock.err === 0) {
      const c = tsk(sock).tcp, data = msg.iov[0]!;
      if (data.length > 0 && (c.state === TCP_ESTABLISHED || c.state === TCP_CLOSE_WAIT) &&
          c.sndBuf - c.bytesUnsent >= data.length) {
        const n = c.send(data, { more: (flags & MSG_MORE) !== 0 });
        if (n === data.length) return n;
        return tcpSendmsgSlow(sock, msg, flags, n);
      }
    }
    return tcpSendmsgSlow(sock, msg, flags, 0);
  },

  recvmsg(sock, msg, flags) {
    if (flags & MSG_OOB) fail(EINVAL);
    // Fast path: data is queued; copy it straight into the caller's buffers, no promise.
    const c = tsk(sock).tcp;
    if (c.bytesReadable > 0 && !(flags & MSG_TRUNC) && c.state !== TCP_LISTEN) {
      const want = iovLen(msg.iov);
      if (want > 0) {
        const peek = (flags & MSG_PEEK) !== 0;
        const got = c.recvInto(msg.iov, 0, want, peek);
        if (got >= want || peek || !(flags & MSG_WAITALL)) return got;
        return tcpRecvmsgSlow(sock, msg, flags, got);
      }
    }
    return tcpRecvmsgSlow(sock, msg, flags, 0);
  },
};

/** tcp_sendmsg's general loop: several buffers, a full send queue, errors, waiting. */
async function tcpSendmsgSlow(sock: Socket, msg: MsgHdr, flags: number, sent: number): Promise<number> {
  const total = iovLen(msg.iov);
  const data = msg.iov.length === 1 ? msg.iov[0]! : (() => {
    const out = new Uint8Array(total); let o = 0;
    for (const v of msg.iov) { out.set(v, o); o += v.length; }
    return out;
  })();
  const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, true);
  for (;;) {
    const c = tsk(sock).tcp;
    const err = sock.takeError();
    if (err) { if (sent) { sock.err = err; return sent; } fail(err); }
    // sk_stream_wait_connect: a socket that is not connecting is a broken pipe.
    if (c.state === TCP_CLOSE && !sent) fail(EPIPE);
    if (c.state === TCP_LISTEN) fail(EPIPE);
    try {
      if (sent < total || total === 0) sent += c.send(data.subarray(sent), { more: (flags & MSG_MORE) !== 0 });
      if (sent >= total) return sent;
    } catch (e) {
      if (!isErr(e, EAGAIN)) {
        if (sent) return sent;
        if (isErr(e, ENOTCONN)) fail(EPIPE);
        throw e;
      }
    }
    if (deadline === 0) { if (sent) return sent; fail(EAGAIN); }
    try { await sockWait(sock, deadline); } catch (e) { if (sent && isErr(e, EAGAIN)) return sent; throw e; }
  }
}

/** tcp_recvmsg's general loop: MSG_TRUNC, MSG_WAITALL, end of stream, errors, waiting. */
async function tcpRecvmsgSlow(sock: Socket, msg: MsgHdr, flags: number, got: number): Promise<number> {
  const want = iovLen(msg.iov);
  const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, false);
  const peek = (flags & MSG_PEEK) !== 0;
  for (;;) {
    const c = tsk(sock).tcp;
    if (c.state === TCP_LISTEN) fail(ENOTCONN);
    if (c.bytesReadable > 0 && want > got) {
      let n: number;
      if (flags & MSG_TRUNC) n = c.recv(want - got, { peek }).length; // discarded, not copied
      else n = c.recvInto(msg.iov, got, want - got, peek);
      got += n;
      if (got >= want || peek || !(flags & MSG_WAITALL)) return got;
      continue;
    }
    if (want === 0) return 0;
    const err = sock.takeError();
    if (err) { if (got) { sock.err = err; return got; } fail(err); }
    // An empty queue: end of stream, an error, or wait (no exception on the common path).
    try {
      if (c.recvEmpty() === 0) return got;
    } catch (e) {
      if (got) return got;
      throw e;
    }
    if (deadline === 0) { if (got) return got; fail(EAGAIN); }
    try { await sockWait(sock, deadline); } catch (e) { if (got && isErr(e, EAGAIN)) return got; throw e; }
  }
}

/**
 * struct tcp_info as Linux 5.x/6.x lays it out up to tcpi_snd_wnd (232 bytes; later kernels append
 * fields, which callers asking for more simply do not get). Fields the engine does not keep are 0.
 */
function tcpInfoBytes(c: TcpSock): Uint8Array {
  const i = c.info();
  const b = new Uint8Array(232);
  const dv = new DataView(b.buffer);
  b[0] = i.state; b[1] = i.caState; b[2] = i.retransmits; b[3] = i.probes; b[4] = i.backoff; b[5] = i.options;
  b[6] = (i.sndWscale & 0xf) | ((i.rcvWscale & 0xf) << 4);
  const u32 = (off: number, v: number) => dv.setUint32(off, Math.max(0, Math.min(0xffffffff, Math.floor(v))) >>> 0, true);
  u32(8, i.rtoUs); u32(12, 40000 /* ato: the delayed-ACK timeout */); u32(16, i.sndMss); u32(20, i.rcvMss);
  u32(24, i.unacked); u32(28, i.sacked); u32(32, i.lost); u32(36, i.retrans);
  u32(60, c.remoteAddr ? i.advMss + 40 : 0); // pmtu
  u32(68, i.rttUs); u32(72, i.rttvarUs); u32(76, i.sndSsthresh); u32(80, i.sndCwnd); u32(84, i.advMss);
  u32(88, 3); // reordering: tcp_reordering's default
  u32(96, i.rcvSpace); u32(100, i.totalRetrans);
  u32(136, i.segsOut); u32(140, i.segsIn); u32(144, c.bytesUnsent);
  u32(228, i.sndWnd);
  return b;
}

/** The TCP engine of a kernel's namespace (tests, /proc). */
export function tcpEngineOf(k: object): TcpEngine { return tcpAttach(netOf(k)); }


// ---- AF_INET6 stream sockets -------------------------------------------------------------------

const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

function v6Ctx(sk: TcpSk): V6OptCtx {
  return {
    net: sk.net, stream: true, bound: sk.tcp.localPort !== 0,
    pathMtu: () => {
      const c = sk.tcp;
      if (!c.remoteAddr || c.state === TCP_CLOSE || c.state === TCP_LISTEN) return null;
      return c.engine.mtu(c.localAddr ?? new Uint8Array(16), c.remoteAddr);
    },
  };
}

/**
 * Take (addr, port) in the 16-byte space and, for a dual-stack socket, check that IPv4 has the
 * port free as well (a probe bind in the 4-byte space), as Linux's shared table would refuse.
 */
function bind6Port(sk: TcpSk, addr: Uint8Array, port: number): void {
  const engine = sk.tcp.engine;
  const dual = isMapped(addr) || (!sk.v6!.v6only && isAny6(addr));
  for (let tries = 0; tries < 32; tries++) {
    sk.tcp.bind(addr, port);
    if (!dual) return;
    const probe = engine.socket();
    probe.reuseAddr = sk.tcp.reuseAddr;
    try {
      probe.bind(isMapped(addr) ? v4(fromMapped(addr)) : new Uint8Array(4), sk.tcp.localPort);
      engine.release(probe);
      dualAdd(sk.tcp);
      return;
    } catch (e) {
      engine.release(sk.tcp);
      sk.tcp.localPort = 0; sk.tcp.localAddr = null;
      if (port || !isErr(e, EADDRINUSE)) throw e;
    }
  }
  fail(EADDRINUSE);
}

/** tcp_v6_connect's address rules: the destination and, when we choose it, the source. */
function connect6Resolve(sk: TcpSk, addr: Uint8Array): { dst: Uint8Array; src?: Uint8Array } {
  if (addr.length < SIN6_LEN_RFC2133) fail(EINVAL);
  const a = sin6Parse(addr);
  if (a.family !== AF_INET6) fail(EAFNOSUPPORT);
  const local = sk.tcp.localAddr;
  if (isAny6(a.addr)) a.addr = local && isMapped(local) ? toMapped(0x7f000001) : LOOPBACK6.slice();
  if (a.addr[0] === 0xff) fail(101 /* ENETUNREACH */);
  if (isMapped(a.addr)) {
    if (sk.v6!.v6only) fail(101 /* ENETUNREACH */);
    return { dst: a.addr };
  }
  if (local && isMapped(local)) fail(101 /* ENETUNREACH */);
  if (needsScope(a.addr)) {
    if (a.scopeId) {
      if (sk.boundIf && sk.boundIf !== a.scopeId) fail(EINVAL);
      sk.boundIf = a.scopeId;
    }
    if (!sk.boundIf) fail(EINVAL);
  }
  if (local && !isAny6(local)) return { dst: a.addr };
  const r = route6Info(sk.net, a.addr, needsScope(a.addr) ? sk.boundIf : 0);
  if (!r) fail(101 /* ENETUNREACH */);
  return { dst: a.addr, src: r.saddr };
}

function name6(sk: TcpSk, addr: Uint8Array | null, port: number): Uint8Array {
  const a = addr && addr.length === 16 ? addr : new Uint8Array(16);
  const scope = sk.boundIf || oif6(sk.net, sk.tcp.localAddr ?? a);
  return sin6Bytes(a, port, scopeIdFor(a, scope));
}

export const tcp6Ops: ProtoOps = {
  ...tcpOps,
  family: AF_INET6,

  bind(sock, addr, t) {
    const sk = tsk(sock);
    const { a, ifindex } = bind6Check(sk.net, addr, t, sk.boundIf,
      sk.tcp.localPort !== 0 || sk.tcp.state !== TCP_CLOSE, sk.v6!.v6only !== 0);
    if (needsScope(a.addr)) sk.boundIf = ifindex;
    bind6Port(sk, a.addr, a.port);
    if (!isAny6(a.addr) && !isMapped(a.addr)) sk.v6!.v6only = 1;
  },

  getname(sock, peer) {
    const sk = tsk(sock);
    const c = sk.tcp;
    if (peer) {
      if (!c.remotePort || c.state === TCP_CLOSE || c.state === TCP_SYN_SENT) fail(ENOTCONN);
      return name6(sk, c.remoteAddr, c.remotePort);
    }
    return name6(sk, c.localAddr, c.localPort);
  },
};
