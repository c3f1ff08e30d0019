/*
 * One TCP connection (Linux's tcp_sock): the RFC 9293 state machine with its send and receive
 * machinery.
 *
 * Sending. Application bytes go into sndQueue, whose head is sequence number sndQueueSeq. Each
 * transmitted segment is recorded in rtxQueue (Linux's retransmit queue of skbs) with its SACK
 * scoreboard bits: sacked (the peer holds it), lost (we believe it is gone) and retrans (a
 * retransmission is in flight). In-flight is Linux's
 *     packets_out − (sacked_out + lost_out) + retrans_out
 * and new segments go out while it is below cwnd and the peer's window allows (with Nagle,
 * Minshall's variant, TCP_CORK and MSG_MORE holding back small ones). Loss is detected by three
 * duplicate ACKs (NewReno, RFC 6582, when SACK is off: each dupack counts as one "sacked"
 * segment as Linux's tcp_add_reno_sacks does), by the SACK scoreboard (RFC 6675: a hole with
 * three SACKed segments above it is lost), or by the RTO (RFC 6298: 1 s initially, srtt +
 * max(4·rttvar, 200 ms) as Linux's rto_min, 120 s cap, Karn's rule, doubling backoff).
 * Congestion control is a pluggable CongestionOps (cong.ts).
 *
 * Receiving. In-order bytes go to rcvQueue; out-of-order ones to oooQueue (sorted, without
 * overlaps), which also produces the SACK blocks we send. The advertised window is the free part
 * of half the receive buffer (Linux's tcp_adv_win_scale = 1), never shrunk below what was
 * already offered, scaled by rcvWscale (RFC 7323). ACKs are delayed (40 ms, or every second
 * full segment) except in quick-ack mode: at the start and after out-of-order data.
 *
 * Validation of incoming segments follows Linux's tcp_validate_incoming(): PAWS (RFC 7323),
 * the sequence window check, then RST and SYN handling per RFC 5961 (exact RST resets, other
 * in-window RST or any SYN draws a challenge ACK), rate limited like tcp_invalid_ratelimit.
 *
 * Timers: retransmit (also SYN, SYN-ACK, and zero-window probes: the persist timer), delayed
 * ACK, keepalive (also the orphaned FIN-WAIT-2 timeout), TIME-WAIT (60 s).
 *
 * Errors are reported as Linux does: sk_err (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE) is
 * returned once by the next call (or SO_ERROR), and raises POLLERR.
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import {
  ECONNREFUSED, ECONNRESET, EINVAL, EISCONN, ENOTCONN, ENOPROTOOPT, EPIPE, ETIMEDOUT, EALREADY,
  ENOENT,
} from '../../uapi/errno.js';
import {
  POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRNORM,
} from '../../uapi/misc.js';
import { ByteQueue } from './buffer.js';
import { makeCongestion, type CongestionOps } from './cong.js';
import {
  buildTcp, seqAdd, seqAfter, seqAfterEq, seqBefore, seqBeforeEq, seqDiff, segLen,
  TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_PSH, TCP_FLAG_RST, TCP_FLAG_SYN, TCP_MAX_WSCALE,
  type TcpOptions, type TcpSegment,
} from './header.js';
import type { TcpEngine } from './engine.js';
import {
  MS, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SOL_SOCKET, SOL_TCP,
  TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_CONGESTION, TCP_CORK, TCP_DELACK_MIN_NS,
  TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL,
  TCP_LAST_ACK, TCP_LINGER2, TCP_LISTEN, TCP_MAX_QUICKACKS, TCP_MAXSEG, TCP_MSS_DEFAULT, TCP_NODELAY,
  TCP_QUICKACK, TCP_RTO_MAX_NS, TCP_RTO_MIN_NS, TCP_SYN_RECV, TCP_SYN_SENT, TCP_SYNCNT,
  TCP_TIME_WAIT, TCP_TIMEOUT_INIT_NS, TCP_TIMEWAIT_LEN_NS, TCP_USER_TIMEOUT, TCP_WINDOW_CLAMP,
  SHUT_RD, SHUT_WR, SHUT_RDWR, throwEagain,
} from './types.js';

/** One transmitted segment on the retransmit queue. */
interface Skb {
  seq: number;
  end: number;
  syn: boolean;
  fin: boolean;
  sacked: boolean;
  lost: boolean;
  retrans: boolean;
  everRetrans: boolean;
  sentNs: number;
}

interface OooSeg { seq: number; data: Uint8Array; fin: boolean }

const CA_OPEN = 0, CA_DISORDER = 1, CA_RECOVERY = 3, CA_LOSS = 4;
const RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2;

/**
 * A one-shot timer slot on the injected clock. The retransmit timer is pushed back on nearly
 * every ACK and stopped and restarted as the queue drains and refills; doing each of those on
 * the clock (a heap insert and a host timer each time) cost as much as a segment. So the slot is
 * lazy, as Linux's sk_reset_timer users effectively are: a later deadline just moves `at`, and
 * when the clock timer fires early it re-arms for the rest; a cancel only disarms, leaving the
 * clock timer to fire into nothing unless it is far off (then it is cancelled for real, so a
 * closed socket is not kept alive by a keepalive timer hours away).
 */
class Timer {
  private cancelFn: (() => void) | null = null;
  private scheduledAt = 0;
  private armed = false;
  at = 0;
  constructor(private readonly eng: TcpEngine, private readonly fn: () => void) {}
  arm(at: number): void {
    this.at = at;
    this.armed = true;
    if (this.cancelFn !== null && this.scheduledAt <= at) return;
    this.schedule(at);
  }
  private schedule(at: number): void {
    if (this.cancelFn) this.cancelFn();
    this.scheduledAt = at;
    this.cancelFn = this.eng.clock.setTimer(at, () => this.fire());
  }
  private fire(): void {
    this.cancelFn = null;
    if (!this.armed) return;
    if (this.eng.clock.nowNs() < this.at) { this.schedule(this.at); return; }
    this.armed = false;
    this.fn();
  }
  cancel(): void {
    this.armed = false;
    if (this.cancelFn && this.scheduledAt - this.eng.clock.nowNs() > LAZY_CANCEL_NS) { this.cancelFn(); this.cancelFn = null; }
  }
  get pending(): boolean { return this.armed; }
}

/** A disarmed clock timer due within this long is left to fire harmlessly (see Timer). */
const LAZY_CANCEL_NS = 2e9;

export interface TcpSendFlags { more?: boolean }
export interface TcpRecvFlags { peek?: boolean }

export class TcpSock {
  readonly engine: TcpEngine;
  state = TCP_CLOSE;
  localAddr: Uint8Array | null = null;
  localPort = 0;
  remoteAddr: Uint8Array | null = null;
  remotePort = 0;
  /** Listener that created this connection (passive open) until accept(). */
  parent: import('./engine.js').TcpListener | null = null;
  /** Closed by the application; the engine finishes the connection alone. */
  orphan = false;
  shutdownMask = 0;
  /** Pending error (sk_err), reported once. */
  err = 0;
  /** Readiness: woken with the poll mask whenever it may have changed. */
  readonly wq = new WaitQueue();
  onEvent: ((mask: number) => void) | null = null;

  // --- Sequence space (RFC 9293 names) ---
  iss = 0; sndUna = 0; sndNxt = 0; sndWnd = 0; sndWl1 = 0; sndWl2 = 0; maxWindow = 0;
  irs = 0; rcvNxt = 0; rcvWnd = 0; rcvWup = 0;
  sndWscale = 0; rcvWscale = 0; wscaleOk = false;
  sackOk = false; tsOk = false;
  tsRecent = 0; tsRecentStampNs = 0; tsOffset = 0;
  /** MSS we advertise, peer's MSS, and the current send MSS (payload per segment). */
  advMss = 1460; peerMss = TCP_MSS_DEFAULT; mssCache = TCP_MSS_DEFAULT; userMss = 0;
  rcvMss = TCP_MSS_DEFAULT;

  // --- Send side ---
  sndQueue = new ByteQueue();
  sndQueueSeq = 0;
  rtxQueue: Skb[] = [];
  sndBuf: number; rcvBuf: number;
  sndBufLocked = false; rcvBufLocked = false;
  finQueued = false; finSent = false;
  sndSml = 0;
  nodelay = false; cork = false;
  packetsOut = 0; sackedOut = 0; lostOut = 0; retransOut = 0;
  cwnd: number; ssthresh = 0x7fffffff; cwndCnt = 0;
  caState = CA_OPEN; highSeq = 0; dupAcks = 0; renoSacked = 0;
  cc: CongestionOps;
  srttNs = 0; rttvarNs = 0; rtoNs = TCP_TIMEOUT_INIT_NS; backoff = 0; retransmits = 0;
  retransStampNs = 0; probesOut = 0;
  /** Statistics (part of TCP_INFO). */
  totalRetrans = 0; segsOut = 0; segsIn = 0;

  // --- Receive side ---
  rcvQueue = new ByteQueue();
  oooQueue: OooSeg[] = [];
  oooBytes = 0;
  lastOooSeq = -1;
  finReceived = false;
  quickAcks = TCP_MAX_QUICKACKS;
  ackPending = 0;
  windowClamp = 0;
  /** Slow-start threshold of the advertised window (rcv_ssthresh): grows as data arrives. */
  rcvSsthresh = 0;
  lastRcvNs = 0;
  rcvqCopied = 0; rcvqTimeNs = 0;
  lastOowAckNs = -Infinity;

  // --- Options ---
  keepalive = false;
  keepIdleS: number; keepIntvlS: number; keepCnt: number;
  synRetries: number;
  linger2Ns: number;
  lingerOnOff = false; lingerSec = 0;
  reuseAddr = false;
  userTimeoutMs = 0;

  // --- Timers ---
  private rtxTimer: Timer;
  private delackTimer: Timer;
  private keepaliveTimer: Timer;
  private twTimer: Timer;

  constructor(engine: TcpEngine) {
    this.engine = engine;
    const sc = engine.sysctl;
    this.sndBuf = sc.wmem[1];
    this.rcvBuf = sc.rmem[1];
    this.cwnd = sc.initCwnd;
    this.cc = makeCongestion(sc.congestion) ?? makeCongestion('cubic')!;
    this.keepIdleS = sc.keepaliveTimeS; this.keepIntvlS = sc.keepaliveIntvlS; this.keepCnt = sc.keepaliveProbes;
    this.synRetries = sc.synRetries;
    this.linger2Ns = sc.finTimeoutNs;
    this.rtxTimer = new Timer(engine, () => this.onRetransmitTimer());
    this.delackTimer = new Timer(engine, () => this.onDelackTimer());
    this.keepaliveTimer = new Timer(engine, () => this.onKeepaliveTimer());
    this.twTimer = new Timer(engine, () => this.onTimewaitTimer());
  }

  private now(): number { return this.engine.clock.nowNs(); }
  /** The congestion module sees the connection through this view. */
  private ccView() {
    const self = this;
    return {
      get cwnd() { return self.cwnd; }, set cwnd(v: number) { self.cwnd = v; },
      get ssthresh() { return self.ssthresh; }, set ssthresh(v: number) { self.ssthresh = v; },
      get cwndCnt() { return self.cwndCnt; }, set cwndCnt(v: number) { self.cwndCnt = v; },
      get srttNs() { return self.srttNs; },
      nowNs: () => self.now(),
    };
  }

  // =====================================================================================
  // Socket-facing API
  // =====================================================================================

  /** bind(): local address (all-zero = any) and port (0 = ephemeral). */
  bind(addr: Uint8Array, port: number): void { this.engine.bind(this, addr, port); }
  /** listen(): become a listener with this backlog (the socket must be bound). */
  listen(backlog: number): void { this.engine.listen(this, backlog); }
  /** accept(): the next established connection, or EAGAIN. */
  accept(): TcpSock { return this.engine.accept(this); }

  /** Active open. Source address/port come from bind() or the engine's selection. */
  connect(remote: Uint8Array, port: number, src?: Uint8Array): void {
    if (this.state === TCP_SYN_SENT) fail(EALREADY);
    if (this.state !== TCP_CLOSE || this.remoteAddr) fail(this.state === TCP_LISTEN ? EINVAL : EISCONN);
    this.engine.connectHash(this, remote, port, src);
    this.initConnection();
    this.iss = this.engine.random32();
    this.sndUna = this.sndNxt = this.iss;
    this.sndQueueSeq = seqAdd(this.iss, 1);
    this.setState(TCP_SYN_SENT);
    const skb = this.newSkb(this.iss, seqAdd(this.iss, 1), true, false);
    this.rtxQueue.push(skb); this.packetsOut++;
    this.sndNxt = skb.end;
    this.transmitSkb(skb);
    this.armRto();
  }

  /** Queue bytes. Returns how many were taken; throws EAGAIN when none fit, EPIPE after shutdown. */
  send(data: Uint8Array, flags: TcpSendFlags = {}): number {
    if (this.err) { const e = this.err; this.err = 0; fail(e); }
    if (this.shutdownMask & SEND_SHUTDOWN) fail(EPIPE);
    if (this.state === TCP_SYN_SENT || this.state === TCP_SYN_RECV) throwEagain();
    if (this.state !== TCP_ESTABLISHED && this.state !== TCP_CLOSE_WAIT) fail(this.state === TCP_CLOSE ? (this.remoteAddr ? EPIPE : ENOTCONN) : EPIPE);
    const room = this.sndBuf - this.sndQueue.length;
    if (room <= 0) { if (data.length) throwEagain(); return 0; }
    const n = Math.min(room, data.length);
    this.sndQueue.push(data.subarray(0, n));
    this.pushPending(flags.more === true);
    return n;
  }

  /**
   * Take up to `max` bytes. An empty result means end of stream (FIN received or SHUT_RD).
   * Throws EAGAIN when nothing is available yet, the pending error once, ENOTCONN before connect.
   */
  recv(max: number, flags: TcpRecvFlags = {}): Uint8Array {
    if (this.state === TCP_LISTEN) fail(ENOTCONN);
    if (this.rcvQueue.length === 0) {
      if (this.err) { const e = this.err; this.err = 0; fail(e); }
      if (this.finReceived || (this.shutdownMask & RCV_SHUTDOWN)) return new Uint8Array(0);
      if (this.state === TCP_CLOSE) { if (!this.remoteAddr) fail(ENOTCONN); return new Uint8Array(0); }
      if (this.state === TCP_SYN_SENT || this.state === TCP_SYN_RECV) throwEagain();
      throwEagain();
    }
    const out = flags.peek ? this.rcvQueue.peek(0, max) : this.rcvQueue.read(max);
    if (!flags.peek) { this.rcvSpaceAdjust(out.length); this.cleanupRbuf(); }
    return out;
  }

  /**
   * recv() straight into the caller's buffers: copies up to `max` bytes into `iov` from byte
   * offset `skip` on, with no intermediate array. Only when bytesReadable > 0.
   */
  recvInto(iov: readonly Uint8Array[], skip: number, max: number, peek: boolean): number {
    let got = 0;
    for (const v of iov) {
      if (got >= max) break;
      if (skip >= v.length) { skip -= v.length; continue; }
      const n = this.rcvQueue.copyOut(v, skip, got, Math.min(max - got, v.length - skip));
      skip = 0;
      if (n === 0) break;
      got += n;
    }
    if (!peek && got) { this.rcvQueue.drop(got); this.rcvSpaceAdjust(got); this.cleanupRbuf(); }
    return got;
  }

  /**
   * What recv() would do on an empty receive queue, without the exception: 0 for end of stream,
   * -1 when the caller would wait; throws the pending error (once) or ENOTCONN as recv() does.
   */
  recvEmpty(): number {
    if (this.state === TCP_LISTEN) fail(ENOTCONN);
    if (this.err) { const e = this.err; this.err = 0; fail(e); }
    if (this.finReceived || (this.shutdownMask & RCV_SHUTDOWN)) return 0;
    if (this.state === TCP_CLOSE) { if (!this.remoteAddr) fail(ENOTCONN); return 0; }
    return -1;
  }

  get bytesReadable(): number { return this.rcvQueue.length; }
  get bytesUnsent(): number { return this.sndQueue.length; }

  shutdown(how: number): void {
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) fail(EINVAL);
    const bits = how === SHUT_RD ? RCV_SHUTDOWN : how === SHUT_WR ? SEND_SHUTDOWN : RCV_SHUTDOWN | SEND_SHUTDOWN;
    switch (this.state) {
      case TCP_CLOSE:
        // inet_shutdown: ENOTCONN, yet the flags are set so pollers see the hang-up.
        this.shutdownMask |= bits; this.wake(); fail(ENOTCONN);
      case TCP_LISTEN:
        if (how !== SHUT_WR) this.engine.closeListener(this); // SHUT_RD stops listening
        return;
      case TCP_SYN_SENT: {
        // tcp_disconnect on a pending connect: forget it, report ECONNRESET, allow a new connect.
        this.err = ECONNRESET;
        this.done();
        this.remoteAddr = null; this.remotePort = 0;
        return;
      }
    }
    if (how === SHUT_RD || how === SHUT_RDWR) this.shutdownMask |= RCV_SHUTDOWN;
    if (how === SHUT_WR || how === SHUT_RDWR) this.sendFin();
    this.wake();
  }

  /** close(): orderly release, or RST when unread data would be lost or SO_LINGER is {1, 0}. */
  close(): void {
    this.orphan = true;
    this.shutdownMask = RCV_SHUTDOWN | SEND_SHUTDOWN;
    switch (this.state) {
      case TCP_LISTEN: this.engine.closeListener(this); return;
      case TCP_CLOSE: this.engine.unhash(this); return;
      case TCP_SYN_SENT: this.done(); return;
    }
    if (this.rcvQueue.length > 0 || (this.lingerOnOff && this.lingerSec === 0)) {
      this.rcvQueue.clear();
      this.sendActiveReset();
      this.done();
      return;
    }
    this.rcvQueue.clear();
    if (this.state === TCP_SYN_RECV || this.state === TCP_ESTABLISHED || this.state === TCP_CLOSE_WAIT) {
      this.finQueued = true;
      this.setState(this.state === TCP_CLOSE_WAIT ? TCP_LAST_ACK : TCP_FIN_WAIT1);
      this.pushPending(false);
    } else if (this.state === TCP_FIN_WAIT2) {
      this.armFinWait2();
    }
  }

  /** Abort with RST (SO_LINGER 0, or the kernel giving up). */
  abort(errno = ECONNRESET): void {
    if (this.state !== TCP_CLOSE && this.state !== TCP_LISTEN && this.state !== TCP_SYN_SENT && this.state !== TCP_TIME_WAIT) this.sendActiveReset();
    if (this.state === TCP_LISTEN) { this.engine.closeListener(this); return; }
    this.err = errno;
    this.done();
  }

  /** The poll mask, as Linux's tcp_poll computes it. */
  poll(): number {
    if (this.state === TCP_LISTEN) return this.engine.listenPoll(this);
    let mask = 0;
    if (this.err) mask |= POLLERR;
    if (this.shutdownMask === (RCV_SHUTDOWN | SEND_SHUTDOWN) || this.state === TCP_CLOSE) mask |= POLLHUP;
    if (this.shutdownMask & RCV_SHUTDOWN) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    if (this.state !== TCP_SYN_SENT && this.state !== TCP_SYN_RECV) {
      if (this.rcvQueue.length > 0) mask |= POLLIN | POLLRDNORM;
      if (!(this.shutdownMask & SEND_SHUTDOWN)) {
        if (this.sndBuf - this.sndQueue.length >= this.sndBuf / 3 && this.state !== TCP_CLOSE) mask |= POLLOUT | POLLWRNORM;
        if (this.state === TCP_CLOSE) mask |= POLLOUT | POLLWRNORM;
      } else {
        mask |= POLLOUT | POLLWRNORM;
      }
    }
    return mask;
  }

  /** SO_ERROR: read and clear the pending error. */
  takeError(): number { const e = this.err; this.err = 0; return e; }

  setsockopt(level: number, name: number, value: number | string): void {
    const v = typeof value === 'number' ? value : 0;
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_SNDBUF: this.sndBuf = Math.max(Math.min(v, this.engine.sysctl.wmemMax) * 2, 4608); this.sndBufLocked = true; this.wake(); return;
        case SO_RCVBUF: this.rcvBuf = Math.max(Math.min(v, this.engine.sysctl.rmemMax) * 2, 2304); this.rcvBufLocked = true; return;
        case SO_KEEPALIVE: this.keepalive = v !== 0; this.resetKeepalive(); return;
        case SO_LINGER: this.lingerOnOff = v >= 0; this.lingerSec = Math.max(0, v); return; // -1 = off
        case SO_REUSEADDR: this.reuseAddr = v !== 0; return;
      }
      fail(ENOPROTOOPT);
    }
    if (level !== SOL_TCP) fail(ENOPROTOOPT);
    switch (name) {
      case TCP_NODELAY: this.nodelay = v !== 0; if (this.nodelay) this.pushPending(false); return;
      case TCP_CORK: this.cork = v !== 0; if (!this.cork) this.pushPending(false); return;
      case TCP_MAXSEG: if (v !== 0 && (v < 88 || v > 65535 - 40)) fail(EINVAL); this.userMss = v; return;
      case TCP_KEEPIDLE: if (v < 1 || v > 32767) fail(EINVAL); this.keepIdleS = v; this.resetKeepalive(); return;
      case TCP_KEEPINTVL: if (v < 1 || v > 32767) fail(EINVAL); this.keepIntvlS = v; return;
      case TCP_KEEPCNT: if (v < 1 || v > 127) fail(EINVAL); this.keepCnt = v; return;
      case TCP_SYNCNT: if (v < 1 || v > 127) fail(EINVAL); this.synRetries = v; return;
      case TCP_LINGER2: this.linger2Ns = v < 0 ? -1 : Math.min(v, 120) * 1e9 || this.engine.sysctl.finTimeoutNs; return;
      case TCP_WINDOW_CLAMP: if (v < 0) fail(EINVAL); this.windowClamp = v; return;
      case TCP_QUICKACK: if (v) { this.quickAcks = TCP_MAX_QUICKACKS; if (this.ackPending) this.sendAck(); } return;
      case TCP_USER_TIMEOUT: if (v < 0) fail(EINVAL); this.userTimeoutMs = v; return;
      case TCP_CONGESTION: {
        const cc = makeCongestion(String(value));
        if (!cc) fail(ENOENT);
        this.cc = cc; cc.init(this.ccView()); return;
      }
    }
    fail(ENOPROTOOPT);
  }

  getsockopt(level: number, name: number): number | string {
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_SNDBUF: return this.sndBuf;
        case SO_RCVBUF: return this.rcvBuf;
        case SO_KEEPALIVE: return this.keepalive ? 1 : 0;
        case SO_ERROR: return this.takeError();
        case SO_REUSEADDR: return this.reuseAddr ? 1 : 0;
        case SO_LINGER: return this.lingerOnOff ? this.lingerSec : -1;
      }
      fail(ENOPROTOOPT);
    }
    if (level !== SOL_TCP) fail(ENOPROTOOPT);
    switch (name) {
      case TCP_NODELAY: return this.nodelay ? 1 : 0;
      case TCP_CORK: return this.cork ? 1 : 0;
      case TCP_MAXSEG: return this.state === TCP_CLOSE || this.state === TCP_LISTEN ? (this.userMss || TCP_MSS_DEFAULT) : this.mssCache;
      case TCP_KEEPIDLE: return this.keepIdleS;
      case TCP_KEEPINTVL: return this.keepIntvlS;
      case TCP_KEEPCNT: return this.keepCnt;
      case TCP_SYNCNT: return this.synRetries;
      case TCP_LINGER2: return this.linger2Ns < 0 ? -1 : Math.floor(this.linger2Ns / 1e9);
      case TCP_WINDOW_CLAMP: return this.windowClamp;
      case TCP_QUICKACK: return this.quickAcks > 0 ? 1 : 0;
      case TCP_USER_TIMEOUT: return this.userTimeoutMs;
      case TCP_CONGESTION: return this.cc.name;
    }
    fail(ENOPROTOOPT);
  }

  /** A few TCP_INFO fields, in Linux's units (µs, segments, bytes). */
  info() {
    return {
      state: this.state, caState: this.caState, retransmits: this.retransmits, probes: this.probesOut,
      backoff: this.backoff, options: (this.tsOk ? 1 : 0) | (this.sackOk ? 2 : 0) | (this.wscaleOk ? 4 : 0),
      sndWscale: this.sndWscale, rcvWscale: this.rcvWscale,
      rtoUs: Math.floor(this.rtoNs / 1000), sndMss: this.mssCache, rcvMss: this.rcvMss,
      unacked: this.packetsOut, sacked: this.sackedOut, lost: this.lostOut, retrans: this.retransOut,
      rttUs: Math.floor(this.srttNs / 1000), rttvarUs: Math.floor(this.rttvarNs / 1000),
      sndSsthresh: this.ssthresh, sndCwnd: this.cwnd, advMss: this.advMss,
      rcvSpace: this.rcvBuf, totalRetrans: this.totalRetrans, segsOut: this.segsOut, segsIn: this.segsIn,
      sndWnd: this.sndWnd, rcvWnd: this.rcvWnd,
    };
  }

  // =====================================================================================
  // Connection setup helpers (also used by the listener for passive opens)
  // =====================================================================================

  /** MSS and window-scale choices made before the SYN or SYN-ACK. */
  initConnection(): void {
    const mtu = this.engine.mtu(this.localAddr!, this.remoteAddr!);
    const ipHdr = this.remoteAddr!.length === 16 ? 40 : 20;
    this.advMss = mtu - ipHdr - 20;
    if (this.userMss) this.advMss = Math.min(this.advMss, this.userMss);
    this.mssCache = Math.min(this.advMss, TCP_MSS_DEFAULT);
    // Window scale as tcp_select_initial_window picks it: ilog2(largest buffer) − 15, where the
    // largest buffer is tcp_rmem[2]/rmem_max unless SO_RCVBUF pinned it.
    let space = Math.max(this.engine.sysctl.rmem[2], this.engine.sysctl.rmemMax);
    if (this.rcvBufLocked) space = Math.min(space, this.winFromSpace(this.rcvBuf));
    if (this.windowClamp) space = Math.min(space, this.windowClamp);
    const ws = Math.min(Math.max(Math.floor(Math.log2(Math.max(space, 1))) - 15, 0), TCP_MAX_WSCALE);
    this.rcvWscale = this.engine.sysctl.windowScaling ? ws : 0;
    this.tsOffset = this.engine.random32();
    this.cc.init(this.ccView());
    this.lastRcvNs = this.now();
  }

  /** Options of our SYN / SYN-ACK. `peer` = the peer's SYN options (for a SYN-ACK). */
  synOptions(peer: TcpOptions | null): TcpOptions {
    const sc = this.engine.sysctl;
    const o: TcpOptions = { mss: this.advMss };
    if (sc.sack && (!peer || peer.sackPermitted)) o.sackPermitted = true;
    if (sc.timestamps && (!peer || peer.tsVal !== undefined)) { o.tsVal = this.tsNow(); o.tsEcr = peer ? this.tsRecent : 0; }
    if (sc.windowScaling && (!peer || peer.wscale !== undefined)) o.wscale = this.rcvWscale;
    return o;
  }

  /** Adopt what the peer's SYN offered (both directions agreed once both SYNs carry it). */
  applyPeerSynOptions(o: TcpOptions, weOffered: boolean): void {
    const sc = this.engine.sysctl;
    this.peerMss = o.mss ?? (this.remoteAddr!.length === 16 ? 1220 : TCP_MSS_DEFAULT);
    this.sackOk = weOffered && sc.sack && !!o.sackPermitted;
    this.tsOk = weOffered && sc.timestamps && o.tsVal !== undefined;
    if (this.tsOk) { this.tsRecent = o.tsVal!; this.tsRecentStampNs = this.now(); }
    if (weOffered && sc.windowScaling && o.wscale !== undefined) {
      this.wscaleOk = true;
      this.sndWscale = Math.min(o.wscale, TCP_MAX_WSCALE);
    } else {
      this.wscaleOk = false; this.sndWscale = 0; this.rcvWscale = 0;
    }
    this.syncMss();
  }

  private syncMss(): void {
    let mss = Math.min(this.peerMss, this.advMss);
    if (this.userMss) mss = Math.min(mss, this.userMss);
    if (this.tsOk) mss -= 12;
    this.mssCache = Math.max(mss, 48);
    this.rcvMss = Math.max(Math.min(this.advMss, this.peerMss) - (this.tsOk ? 12 : 0), 48);
  }

  /** Passive open: a listener's SYN became this connection in SYN-RECEIVED. */
  initPassive(seg: TcpSegment, iss: number): void {
    this.initConnection();
    this.irs = seg.seq;
    this.rcvNxt = this.rcvWup = seqAdd(seg.seq, 1);
    this.applyPeerSynOptions(seg.options, true);
    this.sndWnd = seg.window; // never scaled in a SYN
    this.maxWindow = this.sndWnd;
    this.sndWl1 = seg.seq; this.sndWl2 = iss;
    this.iss = iss; this.sndUna = iss;
    this.sndQueueSeq = seqAdd(iss, 1);
    this.setState(TCP_SYN_RECV);
    const skb = this.newSkb(iss, seqAdd(iss, 1), true, false);
    this.rtxQueue.push(skb); this.packetsOut++;
    this.sndNxt = skb.end;
    this.transmitSkb(skb);
    this.armRto();
  }

  /** A SYN cookie completed: go straight to ESTABLISHED. */
  initFromCookie(seg: TcpSegment, iss: number, mss: number, wscale: number | undefined, sackOk: boolean): void {
    this.initConnection();
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = this.rcvWup = seg.seq;
    this.peerMss = mss;
    this.tsOk = this.engine.sysctl.timestamps && seg.options.tsVal !== undefined;
    if (this.tsOk) { this.tsRecent = seg.options.tsVal!; this.tsRecentStampNs = this.now(); }
    this.sackOk = sackOk && this.tsOk;
    if (wscale !== undefined && this.tsOk) { this.wscaleOk = true; this.sndWscale = wscale; } else { this.wscaleOk = false; this.sndWscale = 0; this.rcvWscale = 0; }
    this.syncMss();
    this.tsOffset = 0; // the cookie's timestamp was taken from the bare clock
    this.iss = iss; this.sndUna = this.sndNxt = seqAdd(iss, 1);
    this.sndQueueSeq = this.sndNxt;
    this.sndWnd = seg.window << this.sndWscale; this.maxWindow = this.sndWnd;
    this.sndWl1 = seg.seq; this.sndWl2 = seg.ack;
    this.setState(TCP_ESTABLISHED);
  }

  // =====================================================================================
  // Input
  // =====================================================================================

  /** A segment for this connection (already demultiplexed and checksum-verified). */
  input(seg: TcpSegment): void {
    this.segsIn++;
    if (this.state === TCP_CLOSE) return;
    if (this.state === TCP_SYN_SENT) { this.synSentInput(seg); return; }
    if (this.state === TCP_TIME_WAIT) { this.timewaitInput(seg); return; }
    const len = segLen(seg);
    const f = seg.flags;
    const o = seg.options;

    // PAWS (RFC 7323 §5): a timestamp older than the newest one seen marks an old duplicate.
    if (this.tsOk && o.tsVal !== undefined && this.tsRecentStampNs
      && seqBefore(o.tsVal, this.tsRecent) && !(f & TCP_FLAG_RST)
      && this.now() - this.tsRecentStampNs < 24 * 86400e9) {
      this.sendDupAck(seg);
      return;
    }

    // SYN-RECEIVED child: a retransmitted SYN asks for the SYN-ACK again.
    if (this.state === TCP_SYN_RECV && (f & TCP_FLAG_SYN) && !(f & TCP_FLAG_ACK) && seg.seq === this.irs) {
      const skb = this.rtxQueue[0];
      if (skb && skb.syn) this.transmitSkb(skb);
      return;
    }

    // Sequence check (tcp_sequence): the segment must overlap the receive window.
    const endSeq = seqAdd(seg.seq, len);
    if (seqBefore(endSeq, this.rcvWup) || seqAfter(seg.seq, seqAdd(this.rcvNxt, this.receiveWindow()))) {
      if (!(f & TCP_FLAG_RST)) {
        if (f & TCP_FLAG_SYN) this.sendChallengeAck();
        else this.sendDupAck(seg);
      }
      return;
    }

    if (f & TCP_FLAG_RST) {
      // RFC 5961 §3.2: only an exact RST resets; others in the window get a challenge ACK.
      if (seg.seq === this.rcvNxt) this.resetByPeer();
      else this.sendChallengeAck();
      return;
    }

    // Record the timestamp for PAWS and RTTM (RFC 7323 §4.3): only from in-order segments.
    if (this.tsOk && o.tsVal !== undefined && seqBeforeEq(seg.seq, this.rcvWup)
      && (seqAfterEq(o.tsVal, this.tsRecent) || !this.tsRecentStampNs)) {
      this.tsRecent = o.tsVal; this.tsRecentStampNs = this.now();
    }

    if (f & TCP_FLAG_SYN) {
      // RFC 5961 §4: any SYN in a synchronized state gets a challenge ACK — except the peer's
      // SYN-ACK completing a simultaneous open, which Linux lets through.
      const simOpenSynAck = this.state === TCP_SYN_RECV && !this.parent && (f & TCP_FLAG_ACK)
        && seg.payload.length === 0 && seqAdd(seg.seq, 1) === this.rcvNxt && seg.ack === this.sndNxt;
      if (!simOpenSynAck) { this.sendChallengeAck(); return; }
    }
    if (!(f & TCP_FLAG_ACK)) return;

    this.lastRcvNs = this.now();
    if (this.state === TCP_SYN_RECV) {
      if (seqBeforeEq(seg.ack, this.sndUna) || seqAfter(seg.ack, this.sndNxt)) {
        this.sendReset(seg.ack, 0, false);
        return;
      }
      if (this.parent && !this.parent.canAccept()) return; // accept queue full: ignore the ACK
      this.sndWnd = seg.window << this.sndWscale;
      this.maxWindow = Math.max(this.maxWindow, this.sndWnd);
      this.sndWl1 = seg.seq; this.sndWl2 = seg.ack;
      this.setState(TCP_ESTABLISHED);
      if (this.parent) this.parent.childEstablished(this);
    }

    if (!this.processAck(seg)) return;
    if (this.state === TCP_CLOSE) return;

    // Our FIN acknowledged: advance the closing states.
    const finAcked = this.finSent && this.sndUna === this.sndNxt;
    if (finAcked) {
      if (this.state === TCP_FIN_WAIT1) {
        this.setState(TCP_FIN_WAIT2);
        this.shutdownMask |= SEND_SHUTDOWN;
        if (this.orphan) this.armFinWait2();
        this.wake();
      } else if (this.state === TCP_CLOSING) {
        this.enterTimeWait();
        return;
      } else if (this.state === TCP_LAST_ACK) {
        this.done();
        return;
      }
    }

    // Data and FIN.
    if (seg.payload.length || (f & TCP_FLAG_FIN)) {
      if (this.state === TCP_CLOSE_WAIT || this.state === TCP_CLOSING || this.state === TCP_LAST_ACK) {
        // The peer already sent FIN: anything new is a retransmission to re-ACK.
        if (seqBefore(seg.seq, this.rcvNxt)) this.sendAck();
      } else {
        if ((this.shutdownMask & RCV_SHUTDOWN) && this.orphan && seg.payload.length
          && seqAfter(seqAdd(seg.seq, seg.payload.length), this.rcvNxt)) {
          // Data for a closed socket (tcp_rcv_state_process: "data after close").
          this.sendReset(this.sndNxt, 0, false);
          this.err = ECONNRESET;
          this.done();
          return;
        }
        this.dataQueue(seg);
      }
    }
    this.output();
    this.ackSnd();
  }

  private synSentInput(seg: TcpSegment): void {
    const f = seg.flags;
    let ackOk = false;
    if (f & TCP_FLAG_ACK) {
      if (seqBeforeEq(seg.ack, this.iss) || seqAfter(seg.ack, this.sndNxt)) {
        if (!(f & TCP_FLAG_RST)) this.sendReset(seg.ack, 0, false);
        return;
      }
      ackOk = true;
    }
    if (f & TCP_FLAG_RST) {
      if (ackOk) { this.err = ECONNREFUSED; this.done(); }
      return;
    }
    if (!(f & TCP_FLAG_SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = this.rcvWup = seqAdd(seg.seq, 1);
    this.applyPeerSynOptions(seg.options, true);
    this.sndWnd = seg.window; // SYN windows are never scaled
    this.maxWindow = this.sndWnd;
    this.sndWl1 = seg.seq; this.sndWl2 = seg.ack;
    this.lastRcvNs = this.now();
    if (ackOk) {
      // SYN-ACK: our SYN is acknowledged.
      this.cleanRtxQueue(seg.ack, seg);
      this.sndUna = seg.ack;
      this.backoff = 0; this.retransmits = 0;
      this.rtxTimer.cancel();
      this.setState(TCP_ESTABLISHED);
      if (seg.payload.length) this.dataQueue({ ...seg, seq: seqAdd(seg.seq, 1), flags: seg.flags & ~TCP_FLAG_SYN });
      this.sendAck();
      this.resetKeepalive();
      this.output();
      this.wake();
    } else {
      // Simultaneous open (RFC 9293 §3.5): answer with SYN-ACK, our SYN's sequence number.
      this.setState(TCP_SYN_RECV);
      const skb = this.rtxQueue[0]!;
      this.transmitSkb(skb);
      this.armRto();
    }
  }

  private timewaitInput(seg: TcpSegment): void {
    const f = seg.flags;
    if (f & TCP_FLAG_RST) { this.done(); return; } // RFC 1337 not applied, as Linux's default
    if (f & TCP_FLAG_SYN) {
      // A new incarnation may reuse the pair if it starts above the old sequence space
      // (or with a newer timestamp); the engine then hands the SYN to a listener.
      const newer = seqAfter(seg.seq, this.rcvNxt) || (this.tsOk && seg.options.tsVal !== undefined && seqAfter(seg.options.tsVal, this.tsRecent));
      if (newer && !(f & TCP_FLAG_ACK)) { const la = this.localAddr!, ra = this.remoteAddr!; this.done(); this.engine.deliver(la, ra, seg); return; }
      this.sendAck();
      return;
    }
    if (f & TCP_FLAG_FIN) {
      // The peer did not hear our last ACK: repeat it and restart the 2MSL wait.
      this.sendAck();
      this.twTimer.arm(this.now() + TCP_TIMEWAIT_LEN_NS);
      return;
    }
    if (seg.payload.length) this.sendAck();
  }

  /** Receive window still open to the peer (tcp_receive_window). */
  private receiveWindow(): number {
    const w = seqDiff(seqAdd(this.rcvWup, this.rcvWnd), this.rcvNxt);
    return Math.max(w, 0);
  }

  private resetByPeer(): void {
    // tcp_reset: the errno depends on the state.
    switch (this.state) {
      case TCP_SYN_SENT: this.err = ECONNREFUSED; break;
      case TCP_CLOSE_WAIT: this.err = EPIPE; break;
      case TCP_CLOSE: return;
      default: this.err = ECONNRESET;
    }
    if (this.state === TCP_SYN_RECV && this.parent) { this.err = 0; this.parent.dropChild(this); }
    this.done();
  }

  /** ACK processing (tcp_ack). Returns false when the segment must be dropped. */
  private processAck(seg: TcpSegment): boolean {
    const ack = seg.ack;
    const priorUna = this.sndUna;
    if (seqAfter(ack, this.sndNxt)) {
      // ACK of data we never sent (RFC 5961 §5): answer with an ACK, drop.
      this.sendDupAck(seg);
      return false;
    }
    if (seqBefore(ack, seqAdd(priorUna, -Math.max(this.maxWindow, 1)))) {
      this.sendChallengeAck();
      return false;
    }
    this.probesOut = 0;
    const priorInFlight = this.inFlight();
    const priorPackets = this.packetsOut;
    const nwin = seg.window << this.sndWscale;
    const wndChanged = nwin !== this.sndWnd;
    // Window update (RFC 9293 §3.10.7.4, Linux's tcp_may_update_window).
    if (seqAfter(ack, priorUna) || seqAfter(seg.seq, this.sndWl1) || (seg.seq === this.sndWl1 && nwin > this.sndWnd)) {
      this.sndWnd = nwin; this.sndWl1 = seg.seq; this.sndWl2 = ack;
      if (nwin > this.maxWindow) this.maxWindow = nwin;
    }
    let newSacked = false;
    if (this.sackOk && seg.options.sack && this.rtxQueue.length) newSacked = this.processSack(seg.options.sack, ack);

    if (seqBeforeEq(ack, priorUna)) {
      // Duplicate ACK? Only a pure ACK that leaves the window alone counts (RFC 5681 §2).
      const isDup = ack === priorUna && seg.payload.length === 0 && !(seg.flags & (TCP_FLAG_SYN | TCP_FLAG_FIN))
        && priorPackets > 0 && (!wndChanged || newSacked);
      if (isDup || newSacked) this.onDupAck(isDup, newSacked);
      if (priorPackets === 0 && this.sndQueueUnsent() > 0) this.checkProbeTimer();
      return true;
    }

    // New data acknowledged.
    const acked = this.cleanRtxQueue(ack, seg);
    this.sndUna = ack;
    this.dupAcks = 0;
    this.backoff = 0; this.retransmits = 0; this.retransStampNs = 0;
    if (!this.sackOk) this.renoSacked = Math.max(0, this.renoSacked - acked);

    // Recovery bookkeeping (RFC 6582 / RFC 6675).
    if (this.caState === CA_RECOVERY || this.caState === CA_LOSS) {
      if (seqAfterEq(ack, this.highSeq)) {
        if (this.caState === CA_RECOVERY) this.cwnd = Math.max(Math.min(this.cwnd, this.ssthresh), 2);
        this.caState = CA_OPEN;
        this.renoSacked = 0;
      } else if (this.caState === CA_RECOVERY && !this.sackOk) {
        // NewReno partial ACK: the next hole is lost too; retransmit it at once.
        const head = this.rtxQueue[0];
        if (head && !head.sacked) { this.markLost(head, true); }
      }
    } else if (this.caState === CA_DISORDER && this.sackedOut + this.renoSacked === 0) {
      this.caState = CA_OPEN;
    }
    if (this.caState !== CA_RECOVERY && acked > 0) {
      const limited = this.cwnd < this.ssthresh ? priorInFlight * 2 >= this.cwnd : priorInFlight + 2 >= this.cwnd;
      if (limited) this.cc.congAvoid(this.ccView(), acked);
      this.cwnd = Math.min(this.cwnd, 65535);
    }
    // Only SACKed segments can mark others lost: skip the scan of the whole queue without them.
    if (this.sackOk && this.sackedOut > 0) this.markLostFromSack();
    this.updateSndBufAuto();
    if (this.packetsOut > 0) this.armRto(); else { this.rtxTimer.cancel(); this.checkProbeTimer(); }
    this.wake();
    return true;
  }

  /** Remove fully acknowledged segments; trim a partially acknowledged head. Returns segments acked. */
  private cleanRtxQueue(ack: number, seg: TcpSegment): number {
    let acked = 0;
    let rttNs = -1;
    const now = this.now();
    while (this.rtxQueue.length) {
      const skb = this.rtxQueue[0]!;
      if (seqAfter(skb.end, ack)) {
        // Partial ACK of a segment: drop the acknowledged bytes.
        if (seqAfter(ack, skb.seq) && !skb.syn) {
          const n = seqDiff(ack, skb.seq);
          this.sndQueue.drop(n); this.sndQueueSeq = seqAdd(this.sndQueueSeq, n);
          skb.seq = ack;
        }
        break;
      }
      this.rtxQueue.shift();
      this.packetsOut--;
      if (skb.sacked) this.sackedOut--;
      if (skb.lost) this.lostOut--;
      if (skb.retrans) this.retransOut--;
      if (!skb.everRetrans) rttNs = now - skb.sentNs;
      const dataLen = seqDiff(skb.end, skb.seq) - (skb.syn ? 1 : 0) - (skb.fin ? 1 : 0);
      if (dataLen > 0) { this.sndQueue.drop(dataLen); this.sndQueueSeq = seqAdd(this.sndQueueSeq, dataLen); }
      acked++;
    }
    // Karn: no sample from retransmitted segments, unless the echoed timestamp tells us.
    if (rttNs < 0 && acked && this.tsOk && seg.options.tsEcr) {
      const ms = seqDiff(this.tsNow(), seg.options.tsEcr);
      if (ms >= 0) rttNs = Math.max(ms, 1) * MS;
    }
    if (rttNs >= 0 && acked) this.rttSample(rttNs);
    return acked;
  }

  /** RFC 6298 §2 estimator with Linux's floor of rto_min over srtt. */
  private rttSample(rtt: number): void {
    if (this.srttNs === 0) { this.srttNs = rtt; this.rttvarNs = rtt / 2; }
    else {
      this.rttvarNs = 0.75 * this.rttvarNs + 0.25 * Math.abs(this.srttNs - rtt);
      this.srttNs = 0.875 * this.srttNs + 0.125 * rtt;
    }
    this.rtoNs = Math.min(Math.max(this.srttNs + Math.max(4 * this.rttvarNs, TCP_RTO_MIN_NS), TCP_RTO_MIN_NS), TCP_RTO_MAX_NS);
  }

  /** Mark the SACKed segments (RFC 2018 §4 sender side). Returns true when anything new was SACKed. */
  private processSack(blocks: Array<[number, number]>, ack: number): boolean {
    let fresh = false;
    for (const [l, r] of blocks) {
      // Ignore blocks outside [snd_una, snd_nxt] and D-SACKs below the ACK.
      if (!seqBefore(l, r) || seqBeforeEq(r, ack) || seqAfter(r, this.sndNxt) || seqBefore(l, this.sndUna)) continue;
      for (const skb of this.rtxQueue) {
        if (seqAfterEq(skb.seq, r)) break;
        if (skb.sacked || seqBefore(skb.seq, l) || seqAfter(skb.end, r)) continue;
        skb.sacked = true; this.sackedOut++; fresh = true;
        if (skb.lost) { skb.lost = false; this.lostOut--; }
        if (skb.retrans) { skb.retrans = false; this.retransOut--; }
      }
    }
    return fresh;
  }

  /** RFC 6675 IsLost(): an un-SACKed segment with at least three SACKed ones above it. */
  private markLostFromSack(): void {
    let above = 0;
    for (let i = this.rtxQueue.length - 1; i >= 0; i--) {
      const skb = this.rtxQueue[i]!;
      if (skb.sacked) { above++; continue; }
      if (above >= 3 && !skb.lost && !skb.retrans) this.markLost(skb, false);
    }
  }

  private markLost(skb: Skb, now: boolean): void {
    if (!skb.lost) { skb.lost = true; this.lostOut++; }
    if (skb.retrans) { skb.retrans = false; this.retransOut--; }
    if (now) this.retransmitSkb(skb);
  }

  private onDupAck(isDup: boolean, newSacked: boolean): void {
    if (isDup) this.dupAcks++;
    if (!this.sackOk && isDup && this.renoSacked < this.packetsOut - 1) this.renoSacked++;
    if (this.caState === CA_OPEN) this.caState = CA_DISORDER;
    if (this.sackOk && newSacked) this.markLostFromSack();
    if (!this.sackOk && this.dupAcks >= 3 && this.caState !== CA_RECOVERY && this.caState !== CA_LOSS) {
      const head = this.rtxQueue[0];
      if (head && !head.lost) this.markLost(head, false);
    }
    if ((this.caState === CA_DISORDER) && this.lostOut > 0) {
      // Fast retransmit: enter recovery (RFC 6582 §3.2 step 2 / RFC 6675 §5).
      this.caState = CA_RECOVERY;
      this.highSeq = this.sndNxt;
      this.ssthresh = this.cc.ssthresh(this.ccView());
      this.cwnd = Math.max(this.ssthresh, 2);
      this.cwndCnt = 0;
      const head = this.rtxQueue.find((s) => s.lost && !s.retrans);
      if (head) this.retransmitSkb(head);
    }
    this.output();
  }

  // =====================================================================================
  // Receive path
  // =====================================================================================

  private dataQueue(seg: TcpSegment): void {
    let seq = seg.seq;
    let data = seg.payload;
    let fin = (seg.flags & TCP_FLAG_FIN) !== 0;
    if (seqBefore(seq, this.rcvNxt)) {
      const cut = seqDiff(this.rcvNxt, seq);
      if (cut >= data.length + (fin ? 1 : 0)) { this.quickAcks = Math.max(this.quickAcks, 1); this.sendAck(); return; } // pure duplicate
      if (cut > data.length) { data = new Uint8Array(0); } else data = data.subarray(cut);
      seq = this.rcvNxt;
    }
    // Memory bound: the whole buffer, while only half of it is ever advertised (the other half
    // is Linux's per-packet overhead allowance), so data inside a promised window always fits.
    const room = Math.max(0, this.rcvBuf - this.rcvQueue.length - this.oooBytes);
    if (seq === this.rcvNxt) {
      if (data.length > room) {
        if (room <= 0 && data.length) { this.sendAck(); return; } // zero window: drop, re-advertise
        data = data.subarray(0, room); fin = false;
      }
      if (data.length) {
        this.growWindow();
        if (!(this.shutdownMask & RCV_SHUTDOWN)) this.rcvQueue.push(data);
        this.rcvNxt = seqAdd(this.rcvNxt, data.length);
        // Segments since our last ACK: the second one draws an ACK (ackSnd), so a bulk stream
        // is acknowledged every other full-sized segment, as Linux's "more than one full frame".
        this.ackPending++;
      }
      const hadOoo = this.oooQueue.length > 0;
      if (fin) this.finReceivedNow();
      else this.drainOoo();
      if (hadOoo) this.quickAcks = Math.max(this.quickAcks, 1);
      this.wake();
      return;
    }
    // Out of order: keep it if it fits in the window, and tell the sender at once (SACK).
    if (seqAfterEq(seq, seqAdd(this.rcvNxt, Math.max(this.receiveWindow(), room)))) { this.sendAck(); return; }
    this.oooInsert(seq, data, fin);
    this.quickAcks = TCP_MAX_QUICKACKS;
    this.sendAck();
  }

  /** tcp_grow_window: open the offered window by two segments per segment received. */
  private growWindow(): void {
    const clamp = this.windowClamp || this.winFromSpace(this.rcvBuf);
    if (this.rcvSsthresh < clamp) this.rcvSsthresh = Math.min(this.rcvSsthresh + 2 * this.rcvMss, clamp);
  }

  private rcvSpaceBytes(): number {
    return Math.max(0, this.winFromSpace(this.rcvBuf) - this.rcvQueue.length - this.oooBytes);
  }

  private winFromSpace(space: number): number { return space >> 1; }

  private oooInsert(seq: number, data: Uint8Array, fin: boolean): void {
    this.lastOooSeq = seq;
    // Insert only the parts not already held, keeping the queue sorted and disjoint.
    const pieces: OooSeg[] = [];
    let s = seq, d = data;
    for (const q of this.oooQueue) {
      if (!d.length) break;
      const qEnd = seqAdd(q.seq, q.data.length);
      if (seqBeforeEq(qEnd, s)) continue;
      const dEnd = seqAdd(s, d.length);
      if (seqBeforeEq(dEnd, q.seq)) break;
      if (seqBefore(s, q.seq)) pieces.push({ seq: s, data: d.subarray(0, seqDiff(q.seq, s)), fin: false });
      const skip = seqDiff(qEnd, s);
      if (skip >= d.length) { d = new Uint8Array(0); break; }
      d = d.subarray(skip); s = qEnd;
    }
    if (d.length) pieces.push({ seq: s, data: d, fin: false });
    for (const p of pieces) {
      let i = 0;
      while (i < this.oooQueue.length && seqBefore(this.oooQueue[i]!.seq, p.seq)) i++;
      this.oooQueue.splice(i, 0, { seq: p.seq, data: p.data.slice(), fin: false });
      this.oooBytes += p.data.length;
    }
    // The FIN occupies the sequence number after the segment's last byte (RFC 9293 §3.4), not
    // the end of whichever new piece the overlap left: mark the entry ending there, or queue a
    // bare FIN at that number. Queued data reaching past it contradicts the FIN; drop the FIN
    // then and let the peer's retransmission settle it.
    if (!fin) return;
    const endSeq = seqAdd(seq, data.length);
    let i = 0;
    for (; i < this.oooQueue.length; i++) {
      const q = this.oooQueue[i]!;
      const qEnd = seqAdd(q.seq, q.data.length);
      if (qEnd === endSeq && q.data.length) { q.fin = true; return; }
      if (seqBefore(q.seq, endSeq) && seqAfter(qEnd, endSeq)) return;
      if (seqAfterEq(q.seq, endSeq)) break;
    }
    if (i < this.oooQueue.length && this.oooQueue[i]!.seq === endSeq && !this.oooQueue[i]!.data.length) { this.oooQueue[i]!.fin = true; return; }
    this.oooQueue.splice(i, 0, { seq: endSeq, data: new Uint8Array(0), fin: true });
  }

  private drainOoo(): void {
    while (this.oooQueue.length) {
      const q = this.oooQueue[0]!;
      if (seqAfter(q.seq, this.rcvNxt)) break;
      this.oooQueue.shift();
      this.oooBytes -= q.data.length;
      const skip = seqDiff(this.rcvNxt, q.seq);
      if (skip < q.data.length) {
        const d = q.data.subarray(skip);
        if (!(this.shutdownMask & RCV_SHUTDOWN)) this.rcvQueue.push(d);
        this.rcvNxt = seqAdd(this.rcvNxt, d.length);
      }
      if (q.fin && seqAdd(q.seq, q.data.length) === this.rcvNxt) { this.finReceivedNow(); return; }
    }
  }

  /** SACK blocks: the most recently changed block first (RFC 2018 §4). */
  private sackBlocks(): Array<[number, number]> {
    if (!this.sackOk || !this.oooQueue.length) return [];
    const blocks: Array<[number, number]> = [];
    for (const q of this.oooQueue) {
      const end = seqAdd(q.seq, q.data.length);
      const last = blocks[blocks.length - 1];
      if (last && last[1] === q.seq) last[1] = end; else blocks.push([q.seq, end]);
    }
    const i = blocks.findIndex(([l, r]) => this.lastOooSeq >= 0 && seqBeforeEq(l, this.lastOooSeq) && seqBefore(this.lastOooSeq, r));
    if (i > 0) blocks.unshift(...blocks.splice(i, 1));
    return blocks.slice(0, this.tsOk ? 3 : 4).filter(([l, r]) => l !== r);
  }

  private finReceivedNow(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.finReceived = true;
    this.shutdownMask |= RCV_SHUTDOWN;
    this.oooQueue = []; this.oooBytes = 0;
    this.quickAcks = Math.max(this.quickAcks, 1);
    this.ackPending++;
    switch (this.state) {
      case TCP_SYN_RECV: case TCP_ESTABLISHED: this.setState(TCP_CLOSE_WAIT); break;
      case TCP_FIN_WAIT1: this.setState(TCP_CLOSING); break; // simultaneous close
      case TCP_FIN_WAIT2: this.sendAck(); this.enterTimeWait(); return;
    }
    this.sendAck();
    this.wake();
  }

  /**
   * Receive-buffer autotuning (tcp_rcv_space_adjust, "DRS"): once per RTT, if the application
   * consumed more than the buffer's share, grow SO_RCVBUF towards twice that rate, up to
   * tcp_rmem[2]. Skipped when the user fixed SO_RCVBUF.
   */
  private rcvSpaceAdjust(copied: number): void {
    if (this.rcvBufLocked) return;
    this.rcvqCopied += copied;
    const now = this.now();
    const rtt = Math.max(this.srttNs, TCP_DELACK_MIN_NS);
    if (now - this.rcvqTimeNs < rtt) return;
    const space = 2 * this.rcvqCopied;
    this.rcvqCopied = 0; this.rcvqTimeNs = now;
    // Buffer = twice the payload space (Linux's truesize allowance), like tcp_rmem defaults.
    const want = Math.min(4 * space, this.engine.sysctl.rmem[2]);
    if (want > this.rcvBuf) this.rcvBuf = want;
  }

  /** After the application read: re-open the window if it grew a lot (tcp_cleanup_rbuf). */
  private cleanupRbuf(): void {
    if (this.state === TCP_CLOSE || this.state === TCP_LISTEN || this.finReceived) return;
    const cur = this.receiveWindow();
    const nw = this.rcvSpaceBytes();
    if (nw >= 2 * cur && nw - cur >= this.rcvMss && nw >= this.rcvMss) this.sendAck();
  }

  /** Window to advertise now (tcp_select_window); updates rcv_wnd/rcv_wup. */
  private selectWindow(): number {
    const cur = this.receiveWindow();
    let free = this.rcvSpaceBytes();
    if (this.windowClamp) free = Math.min(free, this.windowClamp);
    if (this.rcvSsthresh) free = Math.min(free, this.rcvSsthresh);
    const full = this.winFromSpace(this.rcvBuf);
    // Receiver silly-window avoidance: don't offer tiny openings.
    if (free < full >> 4 && free < this.rcvMss) free = 0;
    free = Math.min(free, 65535 << this.rcvWscale);
    let wnd = this.rcvWscale ? (free >> this.rcvWscale) << this.rcvWscale : free;
    if (wnd < cur) wnd = cur + ((1 << this.rcvWscale) - 1) & ~((1 << this.rcvWscale) - 1); // never shrink
    this.rcvWnd = wnd; this.rcvWup = this.rcvNxt;
    return Math.min(wnd >> this.rcvWscale, 65535);
  }

  /** Decide whether an ACK goes now or after the delayed-ACK timer (__tcp_ack_snd_check). */
  private ackSnd(): void {
    if (!this.ackPending) return;
    if (this.quickAcks > 0 || this.ackPending >= 2 || this.oooQueue.length) { this.sendAck(); return; }
    if (!this.delackTimer.pending) this.delackTimer.arm(this.now() + TCP_DELACK_MIN_NS);
  }

  private onDelackTimer(): void { if (this.ackPending) this.sendAck(); }

  // =====================================================================================
  // Output
  // =====================================================================================

  private newSkb(seq: number, end: number, syn: boolean, fin: boolean): Skb {
    return { seq, end, syn, fin, sacked: false, lost: false, retrans: false, everRetrans: false, sentNs: 0 };
  }

  private tsNow(): number { return (Math.floor(this.now() / MS) + this.tsOffset) >>> 0; }

  private inFlight(): number {
    return this.packetsOut - (this.sackedOut + this.renoSacked + this.lostOut) + this.retransOut;
  }

  private sndQueueUnsent(): number {
    const sentData = seqDiff(this.sndNxt, this.sndQueueSeq) - (this.finSent ? 1 : 0);
    return this.sndQueue.length - Math.max(0, sentData);
  }

  /** Queue our FIN after the pending data (shutdown(SHUT_WR) / close()). */
  private sendFin(): void {
    if (this.shutdownMask & SEND_SHUTDOWN || this.finQueued) { this.shutdownMask |= SEND_SHUTDOWN; return; }
    this.shutdownMask |= SEND_SHUTDOWN;
    if (this.state === TCP_ESTABLISHED || this.state === TCP_SYN_RECV) this.setState(TCP_FIN_WAIT1);
    else if (this.state === TCP_CLOSE_WAIT) this.setState(TCP_LAST_ACK);
    else return;
    this.finQueued = true;
    this.pushPending(false);
  }

  private pushPending(more: boolean): void {
    if (this.state === TCP_SYN_SENT || this.state === TCP_CLOSE || this.state === TCP_LISTEN) return;
    this.output(more);
  }

  /** tcp_write_xmit: lost segments first, then new data, as cwnd and the peer's window allow. */
  output(more = false): void {
    if (this.state === TCP_CLOSE || this.state === TCP_SYN_SENT || this.state === TCP_TIME_WAIT) return;
    if (this.state === TCP_SYN_RECV && this.rtxQueue[0]?.syn) return;
    // Retransmit lost segments.
    if (this.lostOut > this.retransOut || this.lostOut > 0) {
      for (const skb of this.rtxQueue) {
        if (this.inFlight() >= this.cwnd) break;
        if (skb.lost && !skb.retrans && !skb.sacked) this.retransmitSkb(skb);
      }
    }
    const mss = this.mssCache;
    // TSO: full-sized new segments are sent together as one super-segment of up to `gsoSegs`
    // segments when the route's device cuts it up itself (asked lazily: the 1-byte
    // request/response path never needs it). Each keeps its own rtx-queue entry, so ACK, SACK and
    // loss accounting and retransmission stay per MSS-sized segment.
    let gsoSegs = -1;
    let batch: Skb[] | null = null;
    for (;;) {
      const unsent = this.sndQueueUnsent();
      if (unsent <= 0 && !(this.finQueued && !this.finSent)) break;
      if (this.inFlight() >= this.cwnd) break;
      const wndEnd = seqAdd(this.sndUna, this.sndWnd);
      const wndRoom = seqDiff(wndEnd, this.sndNxt);
      let len = Math.min(unsent, mss);
      if (len > 0) {
        if (wndRoom <= 0) { this.checkProbeTimer(); break; }
        if (len > wndRoom) {
          // Sender SWS avoidance: only send a window-limited fragment if it is a decent size.
          if (wndRoom < mss && wndRoom < (this.maxWindow >> 1) && this.packetsOut > 0) break;
          len = wndRoom;
        }
        const allQueued = len === unsent;
        if (len < mss && allQueued && !this.finQueued) {
          if (this.cork || more) break;
          // Nagle with Minshall's rule: hold a small segment while another small one is unacked.
          if (!this.nodelay && this.packetsOut > 0 && seqAfter(this.sndSml, this.sndUna)) break;
        }
      }
      const seq = this.sndNxt;
      const fin = this.finQueued && !this.finSent && len === unsent;
      const skb = this.newSkb(seq, seqAdd(seq, len + (fin ? 1 : 0)), false, fin);
      if (fin) this.finSent = true;
      this.rtxQueue.push(skb); this.packetsOut++;
      this.sndNxt = skb.end;
      if (len < mss) this.sndSml = skb.end;
      if (!this.rtxTimer.pending || this.rtxQueue.length === 1) this.armRto();
      if (!fin && len === mss) {
        if (gsoSegs < 0) gsoSegs = this.gsoSegs(mss);
        if (gsoSegs > 1) {
          (batch ??= []).push(skb);
          if (batch.length >= gsoSegs) { this.transmitBatch(batch); batch = null; }
          continue;
        }
      }
      if (batch) { this.transmitBatch(batch); batch = null; }
      this.transmitSkb(skb);
    }
    if (batch) this.transmitBatch(batch);
  }

  /** How many `mss` segments one TSO super-segment may carry on this connection's route (1: no TSO). */
  private gsoSegs(mss: number): number {
    if (!this.localAddr || !this.remoteAddr || mss <= 0) return 1;
    // Asked once per connection: should the route later move to a device without TSO, the link
    // layer segments in software, so a stale answer costs speed, never correctness.
    if (this.gsoMaxCache < 0) this.gsoMaxCache = this.engine.gsoMax(this.localAddr, this.remoteAddr);
    const max = this.gsoMaxCache;
    return max > mss ? Math.floor(max / mss) : 1;
  }
  private gsoMaxCache = -1;

  /**
   * Send consecutive new full-sized segments as one TSO super-segment (tcp_tso_segs' effect): one
   * header with the first one's sequence number; the device repeats the header per gso_size bytes
   * of payload, advancing the sequence number and keeping PSH for the last piece only.
   */
  private transmitBatch(b: Skb[]): void {
    if (b.length === 1) { this.transmitSkb(b[0]!); return; }
    const first = b[0]!, last = b[b.length - 1]!;
    const mss = seqDiff(first.end, first.seq);
    const dataLen = seqDiff(last.end, first.seq);
    const payload = this.sndQueue.view(seqDiff(first.seq, this.sndQueueSeq), dataLen);
    let flags = TCP_FLAG_ACK;
    if (last.end === seqAdd(this.sndQueueSeq, this.sndQueue.length)) flags |= TCP_FLAG_PSH;
    const now = this.now();
    for (const s of b) s.sentNs = now;
    const seg: TcpSegment = {
      srcPort: this.localPort, dstPort: this.remotePort, seq: first.seq, ack: this.rcvNxt,
      flags, window: this.selectWindow(), urgent: 0, options: this.dataOptions(), payload,
    };
    this.segsOut += b.length;
    // No checksum: whoever cuts the super-segment up (the host, or software GSO) sums each piece.
    this.engine.xmit(this.localAddr!, this.remoteAddr!, buildTcp(seg, this.localAddr!, this.remoteAddr!, false), mss);
    this.ackSent();
  }

  /** Build and send the segment an skb describes (first transmission or retransmission). */
  private transmitSkb(skb: Skb): void {
    let flags = 0;
    let opts: TcpOptions;
    let window: number;
    if (skb.syn) {
      flags = TCP_FLAG_SYN | (this.state === TCP_SYN_SENT ? 0 : TCP_FLAG_ACK);
      opts = this.state === TCP_SYN_SENT ? this.synOptions(null) : this.synAckOptions();
      window = Math.min(this.synWindow(), 65535);
      this.rcvWnd = window; this.rcvWup = this.rcvNxt;
      this.rcvSsthresh = window;
    } else {
      flags = TCP_FLAG_ACK;
      opts = this.dataOptions();
      window = this.selectWindow();
    }
    const dataLen = seqDiff(skb.end, skb.seq) - (skb.syn ? 1 : 0) - (skb.fin ? 1 : 0);
    // A view, not a copy: emit() copies it into the segment before anything touches the queue.
    const payload = dataLen > 0 ? this.sndQueue.view(seqDiff(skb.seq, this.sndQueueSeq), dataLen) : new Uint8Array(0);
    if (skb.fin) flags |= TCP_FLAG_FIN;
    if (dataLen > 0 && seqAdd(skb.end, skb.fin ? -1 : 0) === seqAdd(this.sndQueueSeq, this.sndQueue.length)) flags |= TCP_FLAG_PSH;
    skb.sentNs = this.now();
    this.emit(skb.seq, flags, window, opts, payload);
    if (flags & TCP_FLAG_ACK) this.ackSent();
  }

  private synAckOptions(): TcpOptions {
    const o: TcpOptions = { mss: this.advMss };
    if (this.sackOk) o.sackPermitted = true;
    if (this.tsOk) { o.tsVal = this.tsNow(); o.tsEcr = this.tsRecent; }
    if (this.wscaleOk) o.wscale = this.rcvWscale;
    return o;
  }

  /** Initial window: half the receive buffer rounded down to whole segments (tcp_select_initial_window). */
  private synWindow(): number {
    let space = this.winFromSpace(this.rcvBuf);
    if (this.windowClamp) space = Math.min(space, this.windowClamp);
    const mss = this.state === TCP_SYN_SENT ? this.advMss : this.advMss - (this.tsOk ? 12 : 0);
    space = Math.min(space, 65535);
    if (space > mss) space = Math.floor(space / mss) * mss;
    return space;
  }

  private dataOptions(): TcpOptions {
    const o: TcpOptions = {};
    if (this.tsOk) { o.tsVal = this.tsNow(); o.tsEcr = this.tsRecent; }
    const sack = this.sackBlocks();
    if (sack.length) o.sack = sack;
    return o;
  }

  private retransmitSkb(skb: Skb): void {
    if (!skb.retrans) { skb.retrans = true; this.retransOut++; }
    if (!skb.everRetrans && !this.retransStampNs) this.retransStampNs = skb.sentNs;
    skb.everRetrans = true;
    this.totalRetrans++;
    this.transmitSkb(skb);
  }

  private emit(seq: number, flags: number, window: number, options: TcpOptions, payload: Uint8Array): void {
    const seg: TcpSegment = {
      srcPort: this.localPort, dstPort: this.remotePort, seq, ack: flags & TCP_FLAG_ACK ? this.rcvNxt : 0,
      flags, window, urgent: 0, options, payload,
    };
    this.segsOut++;
    this.engine.xmit(this.localAddr!, this.remoteAddr!, buildTcp(seg, this.localAddr!, this.remoteAddr!));
  }

  private ackSent(): void {
    this.ackPending = 0;
    if (this.quickAcks > 0) this.quickAcks--;
    this.delackTimer.cancel();
  }

  /** A pure ACK with the current window, timestamps and SACK blocks. */
  sendAck(): void {
    if (this.state === TCP_CLOSE || this.state === TCP_SYN_SENT || this.state === TCP_LISTEN) return;
    this.emit(this.sndNxt, TCP_FLAG_ACK, this.selectWindow(), this.dataOptions(), new Uint8Array(0));
    this.ackSent();
  }

  /** Out-of-window segments get a duplicate ACK, rate limited for pure ACKs (tcp_oow_rate_limited). */
  private sendDupAck(seg: TcpSegment): void {
    if (seg.payload.length === 0 && !(seg.flags & TCP_FLAG_SYN)) {
      if (this.now() - this.lastOowAckNs < this.engine.sysctl.invalidRatelimitNs) return;
      this.lastOowAckNs = this.now();
    }
    this.sendAck();
  }

  /** RFC 5961 challenge ACK, rate limited per connection. */
  private sendChallengeAck(): void {
    if (this.now() - this.lastOowAckNs < this.engine.sysctl.invalidRatelimitNs) return;
    this.lastOowAckNs = this.now();
    this.engine.stats.challengeAcks++;
    this.sendAck();
  }

  private sendReset(seq: number, ack: number, withAck: boolean): void {
    this.emit(seq, TCP_FLAG_RST | (withAck ? TCP_FLAG_ACK : 0), 0, {}, new Uint8Array(0));
  }

  private sendActiveReset(): void {
    this.sendReset(this.sndNxt, this.rcvNxt, true);
  }

  // =====================================================================================
  // Timers
  // =====================================================================================

  private armRto(): void {
    this.rtxTimer.arm(this.now() + Math.min(this.rtoNs, TCP_RTO_MAX_NS));
  }

  /** Linux's tcp_model_timeout: how long `boundary` doublings from rto_min take, capped per step. */
  private retriesTimeoutNs(boundary: number, base: number): number {
    const thresh = Math.floor(Math.log2(TCP_RTO_MAX_NS / base));
    if (boundary <= thresh) return ((2 << boundary) - 1) * base;
    return ((2 << thresh) - 1) * base + (boundary - thresh) * TCP_RTO_MAX_NS;
  }

  private onRetransmitTimer(): void {
    if (this.state === TCP_CLOSE) return;
    if (this.packetsOut === 0) { this.probeTimer(); return; }
    const now = this.now();
    if (this.state === TCP_SYN_SENT || this.state === TCP_SYN_RECV) {
      const limit = this.state === TCP_SYN_SENT ? this.synRetries : this.engine.sysctl.synackRetries;
      if (this.retransmits >= limit) {
        if (this.state === TCP_SYN_RECV && this.parent) { this.parent.dropChild(this); this.done(); return; }
        this.err = ETIMEDOUT; this.done(); return;
      }
    } else {
      const first = this.retransStampNs || this.rtxQueue[0]!.sentNs;
      const limit = this.userTimeoutMs ? this.userTimeoutMs * MS
        : this.retriesTimeoutNs(this.orphan ? 8 : this.engine.sysctl.retries2, TCP_RTO_MIN_NS);
      if (this.retransmits > 0 && now - first >= limit) {
        this.err = ETIMEDOUT; this.done(); return;
      }
    }
    // Enter Loss (RFC 6298 §5.5, RFC 5681 §3.1): everything outstanding is presumed lost.
    if (this.caState !== CA_LOSS || this.retransmits === 0) {
      if (this.caState !== CA_LOSS) this.ssthresh = this.cc.ssthresh(this.ccView());
      this.cc.onLoss?.(this.ccView());
    }
    this.cwnd = 1; this.cwndCnt = 0;
    this.caState = CA_LOSS;
    this.highSeq = this.sndNxt;
    this.renoSacked = 0; this.dupAcks = 0;
    for (const skb of this.rtxQueue) {
      if (skb.retrans) { skb.retrans = false; this.retransOut--; }
      if (!skb.sacked && !skb.lost) { skb.lost = true; this.lostOut++; }
    }
    const head = this.rtxQueue.find((s) => !s.sacked) ?? this.rtxQueue[0]!;
    if (!head.lost) { head.lost = true; this.lostOut++; }
    this.retransmitSkb(head);
    this.retransmits++;
    this.backoff++;
    this.rtoNs = Math.min(this.rtoNs * 2, TCP_RTO_MAX_NS);
    this.armRto();
  }

  /** Zero window with data waiting and nothing in flight: arm the persist timer. */
  private checkProbeTimer(): void {
    if (this.packetsOut > 0 || this.sndQueueUnsent() <= 0 || this.rtxTimer.pending) return;
    const when = Math.min(this.rtoNs * 2 ** this.backoff, TCP_RTO_MAX_NS);
    this.rtxTimer.arm(this.now() + when);
  }

  /** Persist timer (tcp_probe_timer): send a window probe, back off. */
  private probeTimer(): void {
    if (this.sndQueueUnsent() <= 0) return;
    const wndRoom = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
    if (wndRoom > 0) { this.output(); if (this.packetsOut) return; }
    if (this.probesOut >= this.engine.sysctl.retries2 && !this.userTimeoutMs) {
      this.err = ETIMEDOUT; this.done(); return;
    }
    // The probe is an old sequence number, which forces the peer to answer with its window.
    this.emit(seqAdd(this.sndUna, -1), TCP_FLAG_ACK, this.selectWindow(), this.dataOptions(), new Uint8Array(0));
    this.probesOut++;
    this.backoff++;
    const when = Math.min(this.rtoNs * 2 ** this.backoff, TCP_RTO_MAX_NS);
    this.rtxTimer.arm(this.now() + when);
  }

  private resetKeepalive(): void {
    if (!this.keepalive || this.state === TCP_CLOSE || this.state === TCP_LISTEN || this.state === TCP_SYN_SENT) { this.keepaliveTimer.cancel(); return; }
    this.keepaliveTimer.arm(this.lastRcvNs + this.keepIdleS * 1e9);
  }

  private onKeepaliveTimer(): void {
    if (this.state === TCP_FIN_WAIT2 && this.orphan) { this.done(); return; } // tcp_fin_timeout expired
    if (!this.keepalive || this.state === TCP_CLOSE) return;
    const now = this.now();
    if (this.packetsOut || this.sndQueueUnsent() > 0) { this.keepaliveTimer.arm(now + this.keepIdleS * 1e9); return; }
    const idle = now - this.lastRcvNs;
    if (idle >= this.keepIdleS * 1e9) {
      if (this.probesOut >= this.keepCnt) {
        this.sendActiveReset();
        this.err = ETIMEDOUT;
        this.done();
        return;
      }
      this.emit(seqAdd(this.sndUna, -1), TCP_FLAG_ACK, this.selectWindow(), this.dataOptions(), new Uint8Array(0));
      this.probesOut++;
      this.keepaliveTimer.arm(now + this.keepIntvlS * 1e9);
    } else {
      this.probesOut = 0;
      this.keepaliveTimer.arm(this.lastRcvNs + this.keepIdleS * 1e9);
    }
  }

  private armFinWait2(): void {
    if (this.linger2Ns < 0) { this.sendActiveReset(); this.done(); return; }
    this.keepaliveTimer.arm(this.now() + this.linger2Ns);
  }

  private enterTimeWait(): void {
    this.setState(TCP_TIME_WAIT);
    this.rtxTimer.cancel(); this.delackTimer.cancel(); this.keepaliveTimer.cancel();
    this.twTimer.arm(this.now() + TCP_TIMEWAIT_LEN_NS);
    this.wake();
  }

  private onTimewaitTimer(): void { this.done(); }

  /** Send-buffer autotuning (tcp_sndbuf_expand): room for two windows of segments. */
  private updateSndBufAuto(): void {
    if (this.sndBufLocked) return;
    const want = Math.min(2 * Math.max(this.cwnd, this.sndWnd / this.mssCache) * this.mssCache * 2, this.engine.sysctl.wmem[2]);
    if (want > this.sndBuf) this.sndBuf = Math.floor(want);
  }

  // =====================================================================================
  // State and teardown
  // =====================================================================================

  setState(s: number): void {
    this.state = s;
    if (s === TCP_ESTABLISHED) { this.resetKeepalive(); this.updateSndBufAuto(); }
  }

  /** tcp_done: the connection is over; free everything and tell the waiters. */
  done(): void {
    this.state = TCP_CLOSE;
    this.shutdownMask = RCV_SHUTDOWN | SEND_SHUTDOWN;
    this.rtxTimer.cancel(); this.delackTimer.cancel(); this.keepaliveTimer.cancel(); this.twTimer.cancel();
    this.rtxQueue = []; this.packetsOut = this.sackedOut = this.lostOut = this.retransOut = 0;
    this.oooQueue = []; this.oooBytes = 0;
    if (this.parent) this.parent.dropChild(this);
    this.engine.unhash(this);
    this.wake();
  }

  wake(): void {
    const mask = this.poll();
    this.wq.wakeAll(mask);
    this.onEvent?.(mask);
  }
}
