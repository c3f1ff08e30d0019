/*
 * The TCP engine: demultiplexing, port allocation, listeners and SYN cookies.
 *
 * Incoming segments arrive through input(local, remote, bytes) from the IP layer. After the
 * checksum, the engine looks for a connection on the exact 4-tuple (Linux's established hash,
 * which here also holds SYN-RECEIVED children and TIME-WAIT), then for a listener on
 * (local address, port) or (wildcard, port). Nothing found: answer with RST (RFC 9293 §3.10.7.1)
 * unless the segment itself is a RST.
 *
 * A listener keeps two bounded queues as Linux does: the SYN queue (children in SYN-RECEIVED,
 * at most `backlog`) and the accept queue (established children, full when it holds MORE than
 * `backlog`, Linux's sk_acceptq_is_full). A SYN is dropped when the accept queue is full; when
 * only the SYN queue is full, a SYN cookie answers instead (tcp_syncookies = 1): the ISS encodes
 * a hash of the 4-tuple, a coarse clock and the MSS, and the timestamp carries the window scale
 * and SACK-permitted bits, so the final ACK can rebuild the connection without stored state.
 *
 * Ports: bind(0) and connect() on an unbound socket draw from ip_local_port_range
 * (32768–60999), starting at a random offset. connect() may share a port with other connections
 * as long as the 4-tuple is unique; bind() refuses a port another socket holds on an
 * overlapping address (EADDRINUSE) unless both set SO_REUSEADDR and neither listens.
 */
import { fail } from '../../lib/errors.js';
import {
  EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENETUNREACH,
} from '../../uapi/errno.js';
import { POLLIN, POLLRDNORM } from '../../uapi/misc.js';
import {
  buildTcp, parseTcp, segLen, seqAdd, tcpChecksumOk, TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN,
  type TcpSegment,
} from './header.js';
import { TcpSock } from './sock.js';
import {
  defaultSysctl, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV,
  type TcpClock, type TcpOutput, type TcpSysctl, throwEagain,
} from './types.js';

export interface TcpEngineOptions {
  clock: TcpClock;
  output: TcpOutput;
  /** 32 random bits (ISNs, timestamp offsets, port choice, cookie secret). */
  random32?: () => number;
  /** Path MTU towards `remote` (default 1500). */
  mtu?: (local: Uint8Array, remote: Uint8Array) => number;
  /**
   * TSO: the largest TCP payload one super-segment towards `remote` may carry (the route's device
   * segments it), or 0 where the device cannot (default).
   */
  gsoMax?: (local: Uint8Array, remote: Uint8Array) => number;
  /** Source address for connect() on an unbound socket; null = unreachable. */
  selectSource?: (remote: Uint8Array) => Uint8Array | null;
  sysctl?: Partial<TcpSysctl>;
  /** Skip checksum verification (offloaded / trusted loopback). */
  noChecksum?: boolean;
}

/** Two hex digits per byte value: connection lookup builds a key per segment, keep it cheap. */
const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function addrKey(a: Uint8Array): string {
  if (a.length === 4) return HEX2[a[0]!]! + HEX2[a[1]!]! + HEX2[a[2]!]! + HEX2[a[3]!]!;
  let s = '';
  for (let i = 0; i < a.length; i++) s += HEX2[a[i]!]!;
  return s;
}
function isAny(a: Uint8Array): boolean { return a.every((b) => b === 0); }
function tupleKey(la: Uint8Array, lp: number, ra: Uint8Array, rp: number): string {
  return `${addrKey(la)}:${lp}>${addrKey(ra)}:${rp}`;
}

/** A listening socket: SYN queue, accept queue, and the readiness of accept(). */
export class TcpListener {
  readonly sock: TcpSock;
  backlog: number;
  readonly synQueue = new Set<TcpSock>();
  readonly acceptQueue: TcpSock[] = [];
  /** Stats: SYNs dropped for a full accept queue (LINUX_MIB_LISTENOVERFLOWS), cookies sent. */
  overflows = 0;
  cookiesSent = 0;

  constructor(sock: TcpSock, backlog: number) { this.sock = sock; this.backlog = backlog; }

  /** sk_acceptq_is_full: strictly more than backlog. */
  acceptFull(): boolean { return this.acceptQueue.length > this.backlog; }
  canAccept(): boolean { return !this.acceptFull(); }

  childEstablished(child: TcpSock): void {
    this.synQueue.delete(child);
    this.acceptQueue.push(child);
    this.sock.wake();
  }

  dropChild(child: TcpSock): void {
    this.synQueue.delete(child);
    const i = this.acceptQueue.indexOf(child);
    if (i >= 0) this.acceptQueue.splice(i, 1);
    child.parent = null;
  }

  /** Next established connection, or EAGAIN. */
  accept(): TcpSock {
    for (;;) {
      const c = this.acceptQueue.shift();
      if (!c) throwEagain();
      c.parent = null;
      return c; // a connection reset while queued is still returned, as Linux does
    }
  }
}

export class TcpEngine {
  readonly clock: TcpClock;
  readonly sysctl: TcpSysctl;
  readonly stats = { challengeAcks: 0, rstsSent: 0, badChecksum: 0, segsIn: 0 };
  private readonly out: TcpOutput;
  private readonly rnd: () => number;
  private readonly mtuFn: (l: Uint8Array, r: Uint8Array) => number;
  private readonly gsoMaxFn: ((l: Uint8Array, r: Uint8Array) => number) | undefined;
  private readonly selectSource: ((r: Uint8Array) => Uint8Array | null) | undefined;
  private readonly noChecksum: boolean;
  /** 4-tuple → connection (established hash, incl. SYN-RECEIVED and TIME-WAIT). */
  private readonly conns = new Map<string, TcpSock>();
  /** `${addrKey}:${port}` → listener; wildcard address keys are all-zero. */
  private readonly listeners = new Map<string, TcpListener>();
  private readonly listenerOf = new Map<TcpSock, TcpListener>();
  /** port → sockets bound to it (bind() or connect()). */
  private readonly bound = new Map<number, Set<TcpSock>>();
  private readonly cookieSecret: number;

  constructor(opts: TcpEngineOptions) {
    this.clock = opts.clock;
    this.out = opts.output;
    this.sysctl = { ...defaultSysctl(), ...opts.sysctl };
    let seed = 0x9e3779b9;
    this.rnd = opts.random32 ?? (() => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; });
    this.mtuFn = opts.mtu ?? (() => 1500);
    this.gsoMaxFn = opts.gsoMax;
    this.selectSource = opts.selectSource;
    this.noChecksum = opts.noChecksum ?? false;
    this.cookieSecret = this.rnd();
  }

  random32(): number { return this.rnd() >>> 0; }
  mtu(l: Uint8Array, r: Uint8Array): number { return this.mtuFn(l, r); }
  xmit(src: Uint8Array, dst: Uint8Array, bytes: Uint8Array, gsoSize = 0): void {
    if (gsoSize) this.out(src, dst, bytes, gsoSize); else this.out(src, dst, bytes);
  }
  /** TSO payload limit towards `r` (0: one segment per frame). */
  gsoMax(l: Uint8Array, r: Uint8Array): number { return this.gsoMaxFn ? this.gsoMaxFn(l, r) : 0; }

  /** A new unconnected socket (socket(AF_INET, SOCK_STREAM, 0)). */
  socket(): TcpSock { return new TcpSock(this); }

  /** Number of live connections the engine tracks (for tests and /proc). */
  get connectionCount(): number { return this.conns.size; }
  connections(): TcpSock[] { return [...this.conns.values()]; }

  // --- binding and ports ---

  bind(sk: TcpSock, addr: Uint8Array, port: number): void {
    if (sk.localPort || sk.state !== TCP_CLOSE) fail(EINVAL);
    if (port < 0 || port > 65535) fail(EINVAL);
    if (port === 0) {
      port = this.pickPort((p) => !this.bindConflict(sk, addr, p));
    } else if (this.bindConflict(sk, addr, port)) {
      fail(EADDRINUSE);
    }
    sk.localAddr = addr.slice(); sk.localPort = port;
    this.addBound(sk);
  }

  private bindConflict(sk: TcpSock, addr: Uint8Array, port: number): boolean {
    const set = this.bound.get(port);
    if (!set) return false;
    for (const o of set) {
      if (o === sk || !o.localAddr || o.localAddr.length !== addr.length) continue;
      const overlap = isAny(o.localAddr) || isAny(addr) || addrKey(o.localAddr) === addrKey(addr);
      if (!overlap) continue;
      if (sk.reuseAddr && o.reuseAddr && o.state !== TCP_LISTEN) continue;
      return true;
    }
    return false;
  }

  private pickPort(ok: (p: number) => boolean): number {
    const lo = this.sysctl.portLow, n = this.sysctl.portHigh - lo + 1;
    const start = this.random32() % n;
    for (let i = 0; i < n; i++) {
      const p = lo + ((start + i) % n);
      if (ok(p)) return p;
    }
    fail(EADDRNOTAVAIL);
  }

  private addBound(sk: TcpSock): void {
    let s = this.bound.get(sk.localPort);
    if (!s) { s = new Set(); this.bound.set(sk.localPort, s); }
    s.add(sk);
  }

  /** connect(): pick the source, the port if unbound, and hash the 4-tuple. */
  connectHash(sk: TcpSock, remote: Uint8Array, rport: number, src?: Uint8Array): void {
    if (rport <= 0 || rport > 65535) fail(EINVAL);
    let la = sk.localAddr && !isAny(sk.localAddr) ? sk.localAddr : (src ?? this.selectSource?.(remote) ?? null);
    if (!la) fail(ENETUNREACH);
    if (la.length !== remote.length) fail(EINVAL);
    la = la.slice();
    if (!sk.localPort) {
      sk.localPort = this.pickPort((p) => !this.conns.has(tupleKey(la!, p, remote, rport)) && !this.portHasBinder(p));
      sk.localAddr = la;
      this.addBound(sk);
    } else {
      if (this.conns.has(tupleKey(la, sk.localPort, remote, rport))) fail(EADDRNOTAVAIL);
      sk.localAddr = la;
    }
    sk.remoteAddr = remote.slice(); sk.remotePort = rport;
    this.conns.set(tupleKey(sk.localAddr, sk.localPort, sk.remoteAddr, rport), sk);
  }

  /** Ports taken by bind()/listen() are not reused by connect()'s automatic choice. */
  private portHasBinder(p: number): boolean {
    const s = this.bound.get(p);
    if (!s) return false;
    for (const o of s) if (!o.remoteAddr || o.state === TCP_LISTEN) return true;
    return false;
  }

  listen(sk: TcpSock, backlog: number): void {
    if (sk.state === TCP_LISTEN) { this.listenerOf.get(sk)!.backlog = this.clampBacklog(backlog); return; }
    if (sk.state !== TCP_CLOSE || sk.remoteAddr) fail(EINVAL);
    if (!sk.localPort) fail(EINVAL); // the socket layer autobinds before calling listen
    const key = `${addrKey(sk.localAddr!)}:${sk.localPort}`;
    if (this.listeners.has(key)) fail(EADDRINUSE);
    const l = new TcpListener(sk, this.clampBacklog(backlog));
    this.listeners.set(key, l);
    this.listenerOf.set(sk, l);
    sk.state = TCP_LISTEN;
  }

  private clampBacklog(b: number): number { return Math.max(0, Math.min(b, this.sysctl.somaxconn)); }

  listenerFor(sk: TcpSock): TcpListener | null { return this.listenerOf.get(sk) ?? null; }

  /** accept(): a connected socket, or EAGAIN. */
  accept(sk: TcpSock): TcpSock {
    const l = this.listenerOf.get(sk);
    if (!l) fail(EINVAL);
    return l.accept();
  }

  /** Listener poll: readable when a connection waits. */
  listenPoll(sk: TcpSock): number {
    const l = this.listenerOf.get(sk);
    return l && l.acceptQueue.length ? POLLIN | POLLRDNORM : 0;
  }

  closeListener(sk: TcpSock): void {
    const l = this.listenerOf.get(sk);
    if (!l) return;
    this.listeners.delete(`${addrKey(sk.localAddr!)}:${sk.localPort}`);
    this.listenerOf.delete(sk);
    // Connections nobody accepted are reset (inet_csk_listen_stop).
    for (const c of [...l.synQueue, ...l.acceptQueue]) { c.parent = null; c.abort(); }
    l.synQueue.clear(); l.acceptQueue.length = 0;
    sk.state = TCP_CLOSE;
    this.unhash(sk);
    sk.wake();
  }

  unhash(sk: TcpSock): void {
    if (sk.remoteAddr && sk.localAddr) {
      const k = tupleKey(sk.localAddr, sk.localPort, sk.remoteAddr, sk.remotePort);
      if (this.conns.get(k) === sk) this.conns.delete(k);
    }
    if (sk.state === TCP_CLOSE && sk.orphan || !sk.remoteAddr) {
      const s = this.bound.get(sk.localPort);
      if (s) { s.delete(sk); if (!s.size) this.bound.delete(sk.localPort); }
    } else if (sk.state === TCP_CLOSE) {
      // A closed but still open socket keeps its port until close() (as Linux keeps the bind).
    }
  }

  /** Release the port of a socket that was closed (called by close() paths via unhash). */
  release(sk: TcpSock): void {
    const s = this.bound.get(sk.localPort);
    if (s) { s.delete(sk); if (!s.size) this.bound.delete(sk.localPort); }
  }

  // --- input ---

  /** Entry point from IP: `local` is the packet's destination address, `remote` its source. */
  input(local: Uint8Array, remote: Uint8Array, bytes: Uint8Array): void {
    this.stats.segsIn++;
    if (!this.noChecksum && !tcpChecksumOk(bytes, remote, local)) { this.stats.badChecksum++; return; }
    const seg = parseTcp(bytes);
    if (!seg) return;
    this.deliver(local, remote, seg);
  }

  /** Demultiplex a parsed segment (also used to re-deliver a SYN that ended a TIME-WAIT). */
  deliver(local: Uint8Array, remote: Uint8Array, seg: TcpSegment): void {
    const c = this.conns.get(tupleKey(local, seg.dstPort, remote, seg.srcPort));
    if (c) { c.input(seg); return; }
    const l = this.listeners.get(`${addrKey(local)}:${seg.dstPort}`)
      ?? this.listeners.get(`${addrKey(new Uint8Array(local.length))}:${seg.dstPort}`);
    if (l) { this.listenInput(l, local, remote, seg); return; }
    this.sendResetFor(local, remote, seg);
  }

  /** RST for a segment nobody wants (RFC 9293 §3.10.7.1, tcp_v4_send_reset). */
  sendResetFor(local: Uint8Array, remote: Uint8Array, seg: TcpSegment): void {
    if (seg.flags & TCP_FLAG_RST) return;
    const rst: TcpSegment = seg.flags & TCP_FLAG_ACK
      ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: TCP_FLAG_RST, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) }
      : { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: 0, ack: seqAdd(seg.seq, segLen(seg)), flags: TCP_FLAG_RST | TCP_FLAG_ACK, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
    this.stats.rstsSent++;
    this.out(local, remote, buildTcp(rst, local, remote));
  }

  private listenInput(l: TcpListener, local: Uint8Array, remote: Uint8Array, seg: TcpSegment): void {
    const f = seg.flags;
    if (f & TCP_FLAG_RST) return;
    if (f & TCP_FLAG_ACK) {
      if (!(f & TCP_FLAG_SYN) && this.sysctl.syncookies && this.cookieCheck(l, local, remote, seg)) return;
      this.sendResetFor(local, remote, seg);
      return;
    }
    if (!(f & TCP_FLAG_SYN)) return;
    if (l.acceptFull()) { l.overflows++; return; }
    if (this.sysctl.syncookies === 2 || l.synQueue.size >= l.backlog) {
      if (!this.sysctl.syncookies) { l.overflows++; return; }
      this.sendCookie(l, local, remote, seg);
      return;
    }
    const child = this.newChild(l, local, remote, seg);
    l.synQueue.add(child);
    child.initPassive(seg, this.random32());
  }

  private newChild(l: TcpListener, local: Uint8Array, remote: Uint8Array, seg: TcpSegment): TcpSock {
    const p = l.sock;
    const child = new TcpSock(this);
    child.localAddr = local.slice(); child.localPort = seg.dstPort;
    child.remoteAddr = remote.slice(); child.remotePort = seg.srcPort;
    // Inherited options (sk_clone): buffers, Nagle, keepalive, MSS clamp, congestion control.
    child.sndBuf = p.sndBuf; child.rcvBuf = p.rcvBuf; child.sndBufLocked = p.sndBufLocked; child.rcvBufLocked = p.rcvBufLocked;
    child.nodelay = p.nodelay; child.keepalive = p.keepalive; child.keepIdleS = p.keepIdleS;
    child.keepIntvlS = p.keepIntvlS; child.keepCnt = p.keepCnt; child.userMss = p.userMss;
    child.windowClamp = p.windowClamp; child.linger2Ns = p.linger2Ns; child.userTimeoutMs = p.userTimeoutMs;
    child.cc = p.cc.name === child.cc.name ? child.cc : (child.setsockopt(6, 13, p.cc.name), child.cc);
    child.parent = l;
    this.conns.set(tupleKey(local, seg.dstPort, remote, seg.srcPort), child);
    return child;
  }

  // --- SYN cookies ---

  private static readonly MSS_TABLE = [536, 1300, 1440, 1460];

  private cookieHash(local: Uint8Array, remote: Uint8Array, lp: number, rp: number, count: number, seq: number): number {
    let h = (this.cookieSecret ^ Math.imul(count + 1, 0x9e3779b1)) >>> 0;
    const mix = (v: number) => { h = Math.imul(h ^ v, 0x85ebca6b) >>> 0; h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35) >>> 0; h ^= h >>> 16; };
    for (const b of local) mix(b);
    for (const b of remote) mix(b);
    mix(lp); mix(rp); mix(seq);
    return h >>> 0;
  }

  /** Minute-ish counter for cookie expiry (Linux: 64 s granularity, two counters accepted). */
  private cookieCount(): number { return Math.floor(this.clock.nowNs() / 64e9) & 0xff; }

  private sendCookie(l: TcpListener, local: Uint8Array, remote: Uint8Array, seg: TcpSegment): void {
    const peerMss = seg.options.mss ?? 536;
    let idx = 0;
    for (let i = TcpEngine.MSS_TABLE.length - 1; i >= 0; i--) if (TcpEngine.MSS_TABLE[i]! <= peerMss) { idx = i; break; }
    const count = this.cookieCount();
    // ISS = hash(tuple, counter) with the counter in the top byte and the MSS index in the low two bits.
    const h = this.cookieHash(local, remote, seg.dstPort, seg.srcPort, count, seg.seq);
    const iss = (((count << 24) | ((h & 0x3fffff) << 2) | idx) >>> 0);
    const child = new TcpSock(this);
    child.localAddr = local.slice(); child.localPort = seg.dstPort;
    child.remoteAddr = remote.slice(); child.remotePort = seg.srcPort;
    child.rcvBuf = l.sock.rcvBuf; child.rcvBufLocked = l.sock.rcvBufLocked; child.userMss = l.sock.userMss;
    child.initConnection();
    // The timestamp's low 6 bits carry the PEER's window scale (4 bits, 0xf = none) and
    // SACK-permitted (Linux's cookie_init_timestamp layout); ours is recomputed identically later.
    const o = seg.options;
    const tsOk = this.sysctl.timestamps && o.tsVal !== undefined;
    const peerWs = o.wscale !== undefined && this.sysctl.windowScaling;
    const wsBits = peerWs ? Math.min(o.wscale!, 14) : 0xf;
    const opts: import('./header.js').TcpOptions = { mss: child.advMss };
    if (tsOk) {
      const nowMs = Math.floor(this.clock.nowNs() / 1e6);
      let ts = (nowMs & ~0x3f) | wsBits | (o.sackPermitted && this.sysctl.sack ? 0x10 : 0);
      if (ts > nowMs) ts -= 64; // never ahead of the clock later timestamps come from
      opts.sackPermitted = !!o.sackPermitted && this.sysctl.sack;
      opts.tsVal = ts >>> 0; opts.tsEcr = o.tsVal!;
      if (peerWs) opts.wscale = child.rcvWscale;
    }
    const synack: TcpSegment = {
      srcPort: seg.dstPort, dstPort: seg.srcPort, seq: iss, ack: seqAdd(seg.seq, 1),
      flags: TCP_FLAG_SYN | TCP_FLAG_ACK, window: Math.min(65535, child.rcvBuf >> 1), urgent: 0, options: opts, payload: new Uint8Array(0),
    };
    l.cookiesSent++;
    this.out(local, remote, buildTcp(synack, local, remote));
  }

  /** A bare ACK reached the listener: it may complete a cookie handshake. */
  private cookieCheck(l: TcpListener, local: Uint8Array, remote: Uint8Array, seg: TcpSegment): boolean {
    const iss = seqAdd(seg.ack, -1);
    const count = iss >>> 24;
    const now = this.cookieCount();
    if (((now - count) & 0xff) > 1) return false;
    const h = this.cookieHash(local, remote, seg.dstPort, seg.srcPort, count, seqAdd(seg.seq, -1));
    if (((iss >>> 2) & 0x3fffff) !== (h & 0x3fffff)) return false;
    if (l.acceptFull()) { l.overflows++; return true; } // drop silently
    const mss = TcpEngine.MSS_TABLE[iss & 3]!;
    // Without timestamps the cookie carries no options: no window scaling, no SACK.
    let wscale: number | undefined;
    let sackOk = false;
    if (seg.options.tsEcr !== undefined) {
      const bits = seg.options.tsEcr & 0x3f;
      if ((bits & 0xf) !== 0xf) wscale = bits & 0xf;
      sackOk = (bits & 0x10) !== 0;
    }
    const child = this.newChild(l, local, remote, seg);
    child.initFromCookie(seg, iss, mss, wscale, sackOk);
    child.parent = l;
    l.childEstablished(child);
    if (seg.payload.length) child.input(seg);
    return true;
  }

  /** For the socket layer: has this socket been handed a connection (ESTABLISHED at least once)? */
  static isConnected(sk: TcpSock): boolean { return sk.state === TCP_ESTABLISHED || sk.state > TCP_SYN_RECV && sk.state !== TCP_CLOSE && sk.state !== TCP_LISTEN; }
}

