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
  AF_INET, AF_UNSPEC, SOL_SOCKET, SOL_TCP, SOL_IP, SO_KEEPALIVE, SO_REUSEADDR, MSG_PEEK,
  MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_OOB, MSG_MORE, SS_UNCONNECTED, SS_CONNECTING,
  SS_CONNECTED, SIOCINQ, SIOCOUTQ, TCP_CONGESTION, TCP_INFO, SOCKADDR_IN_SIZE,
} from '../../uapi/socket.js';
import { POLLERR } from '../../uapi/misc.js';
import { CAP_NET_BIND_SERVICE } from '../../uapi/misc.js';
import { netOf, type NetNamespace, type IcmpErrorInfo } from '../core/index.js';
import {
  TcpEngine, TcpSock, TCP_SYN_SENT, TCP_SYN_RECV, TCP_CLOSE, TCP_LISTEN, IPPROTO_TCP,
  SO_LINGER, SO_SNDBUF, SO_RCVBUF,
} from '../tcp/index.js';
import { inetIoctl } from './af_inet_ioctl.js';
import { icmpErrno } from './af_inet_err.js';
import { newIpOpts, ipSetsockopt, ipGetsockopt, type IpOpts } from './af_inet_opts.js';
import {
  Socket, sockWait, sockTimeo, intBytes, type ProtoOps,
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
    output: (src, dst, seg) => {
      if (net.halted) return;
      const skb = net.allocSkb(seg.length);
      const off = skb.put(seg.length);
      skb.buf.set(seg, off);
      skb.transportHeader = off;
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
    mtu: (_l, r) => { try { return Math.min(net.routeOutput(fromV4(r)).dev.mtu, 0xffff); } catch { return 1500; } },
    selectSource: (r) => { try { const s = net.routeOutput(fromV4(r)).saddr; return s ? v4(s) : null; } catch { return null; } },
    sysctl: { portLow: net.sysctl.ip_local_port_range[0], portHigh: net.sysctl.ip_local_port_range[1] },
  });
  engines.set(net, engine);
  net.inetAddProtocol(IPPROTO_TCP, {
    handler: (skb, iph) => engine.input(v4(iph.daddr), v4(iph.saddr), skb.buf.subarray(skb.data, skb.tail)),
    errHandler: (info) => tcpErr(engine, info),
  });
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
    if (fromV4(c.localAddr) !== local || fromV4(c.remoteAddr) !== remote) continue;
    if (info.type === 3 && info.code === 4) return; // fragmentation needed: path MTU, not an error
    const e = icmpErrno(info.type, info.code);
    if (!e) return;
    const errno = e.errno;
    if (c.state === TCP_SYN_SENT || c.state === TCP_SYN_RECV) c.abort(errno);
    return;
  }
}
const fromV4Num = (a: number): number => a >>> 0;

// ---- the Socket ⇄ TcpSock association ---------------------------------------------------------

interface TcpSk { tcp: TcpSock; net: NetNamespace; cb: (mask: number) => void; ip: IpOpts }

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
  const ip = old?.ip ?? newIpOpts();
  sock.sk = { tcp, net, cb, ip } satisfies TcpSk;
  if (ip.ttl !== -1 || ip.tos) registerIpOpts(tcp, ip);
  sock.ops = tcpOps;
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
    }
    sk.tcp.bind(v4(a.addr), a.port);
  },

  async connect(sock, addr, flags) {
    let sk = tsk(sock);
    if (addr.length < 2) fail(EINVAL);
    const a = sinOf(addr);
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
    if (addr.length < SOCKADDR_IN_SIZE) fail(EINVAL);
    if (a.family !== AF_INET) fail(EAFNOSUPPORT);
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
        sk.tcp.connect(v4(a.addr), a.port);
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
    if (!sk.tcp.localPort) sk.tcp.bind(new Uint8Array(4), 0);
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
    if (level === SOL_SOCKET && (name === SO_SNDBUF || name === SO_RCVBUF)) return intBytes(name === SO_SNDBUF ? c.sndBuf : c.rcvBuf);
    fail(ENOPROTOOPT);
  },

  async sendmsg(sock, msg, flags) {
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    const total = msg.iov.reduce((n, v) => n + v.length, 0);
    const data = msg.iov.length === 1 ? msg.iov[0]! : (() => {
      const out = new Uint8Array(total); let o = 0;
      for (const v of msg.iov) { out.set(v, o); o += v.length; }
      return out;
    })();
    const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, true);
    let sent = 0;
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
  },

  async recvmsg(sock, msg, flags) {
    if (flags & MSG_OOB) fail(EINVAL);
    const want = msg.iov.reduce((n, v) => n + v.length, 0);
    const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, false);
    const peek = (flags & MSG_PEEK) !== 0;
    let got = 0;
    for (;;) {
      const c = tsk(sock).tcp;
      if (c.state === TCP_LISTEN) fail(ENOTCONN);
      if (c.bytesReadable > 0 && want > got) {
        const chunk = c.recv(want - got, { peek });
        if (!(flags & MSG_TRUNC)) {
          let off = 0, skip = got;
          for (const v of msg.iov) {
            if (skip >= v.length) { skip -= v.length; continue; }
            const n = Math.min(v.length - skip, chunk.length - off);
            v.set(chunk.subarray(off, off + n), skip);
            off += n; skip = 0;
            if (off >= chunk.length) break;
          }
        }
        got += chunk.length;
        if (got >= want || peek || !(flags & MSG_WAITALL)) return got;
        continue;
      }
      if (want === 0) return 0;
      const err = sock.takeError();
      if (err) { if (got) { sock.err = err; return got; } fail(err); }
      try {
        const r = c.recv(want - got, { peek });
        if (r.length === 0) return got; // end of stream
      } catch (e) {
        if (!isErr(e, EAGAIN)) { if (got) return got; throw e; }
      }
      if (deadline === 0) { if (got) return got; fail(EAGAIN); }
      try { await sockWait(sock, deadline); } catch (e) { if (got && isErr(e, EAGAIN)) return got; throw e; }
    }
  },
};

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

