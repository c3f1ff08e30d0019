/*
 * The contracts of the TCP engine with the rest of the kernel, in one place.
 *
 *  - TcpClock: time and one-shot timers. nowNs() is CLOCK_MONOTONIC in ns; setTimer(expiresNs, fn)
 *    arms fn at an ABSOLUTE deadline and returns a cancel function. The kernel Clock
 *    (src/kernel/ktime) maps onto it as
 *      { nowNs: () => clock.monotonicNs(), setTimer: (t, fn) => { const k = clock.addTimer(t, fn, true); return () => k.cancel(); } }
 *  - TcpOutput: how a segment leaves; (src, dst, bytes) with 4- or 16-byte addresses and a
 *    complete TCP segment (header + options + payload, checksum filled in). With `gsoSize` the
 *    segment is a TSO super-segment: its payload is several segments of gsoSize bytes (the last
 *    may be shorter), for a device that cuts it up (or the link layer's software GSO).
 *  - TcpSysctl: the net.ipv4.tcp_* knobs that matter here, with Linux defaults.
 *
 * States are numbered as Linux numbers them (include/net/tcp_states.h) so TCP_INFO and
 * /proc/net/tcp can print them verbatim.
 */
import { KernelError } from '../../lib/errors.js';
import { EAGAIN } from '../../uapi/errno.js';

export interface TcpClock {
  nowNs(): number;
  setTimer(expiresNs: number, fn: () => void): () => void;
}

export type TcpOutput = (src: Uint8Array, dst: Uint8Array, segment: Uint8Array, gsoSize?: number) => void;

export const TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_SYN_RECV = 3, TCP_FIN_WAIT1 = 4,
  TCP_FIN_WAIT2 = 5, TCP_TIME_WAIT = 6, TCP_CLOSE = 7, TCP_CLOSE_WAIT = 8, TCP_LAST_ACK = 9,
  TCP_LISTEN = 10, TCP_CLOSING = 11;

export const tcpStateName: Record<number, string> = {
  1: 'ESTABLISHED', 2: 'SYN-SENT', 3: 'SYN-RECEIVED', 4: 'FIN-WAIT-1', 5: 'FIN-WAIT-2',
  6: 'TIME-WAIT', 7: 'CLOSED', 8: 'CLOSE-WAIT', 9: 'LAST-ACK', 10: 'LISTEN', 11: 'CLOSING',
};

/** Socket option levels and names (asm-generic/socket.h, linux/tcp.h). */
export const SOL_SOCKET = 1, SOL_TCP = 6;
export const SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_KEEPALIVE = 9, SO_LINGER = 13,
  SO_REUSEADDR = 2;
export const TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5,
  TCP_KEEPCNT = 6, TCP_SYNCNT = 7, TCP_LINGER2 = 8, TCP_WINDOW_CLAMP = 10, TCP_QUICKACK = 12,
  TCP_CONGESTION = 13, TCP_USER_TIMEOUT = 18;
export const SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

export interface TcpSysctl {
  /** tcp_timestamps, tcp_sack, tcp_window_scaling (all 1 by default). */
  timestamps: boolean;
  sack: boolean;
  windowScaling: boolean;
  /** tcp_syncookies: 0 off, 1 when the SYN queue overflows (default), 2 always. */
  syncookies: 0 | 1 | 2;
  synRetries: number;      // 6
  synackRetries: number;   // 5
  retries2: number;        // 15
  finTimeoutNs: number;    // 60 s
  keepaliveTimeS: number;  // 7200
  keepaliveIntvlS: number; // 75
  keepaliveProbes: number; // 9
  /** tcp_rmem / tcp_wmem: min, default, max. */
  rmem: [number, number, number];
  wmem: [number, number, number];
  rmemMax: number;         // net.core.rmem_max 212992
  wmemMax: number;         // net.core.wmem_max 212992
  somaxconn: number;       // 4096
  congestion: string;      // 'cubic'
  initCwnd: number;        // 10 (RFC 6928)
  /** Ephemeral port range (ip_local_port_range). */
  portLow: number;
  portHigh: number;
  /** tcp_invalid_ratelimit: spacing of out-of-window dupacks and challenge ACKs. */
  invalidRatelimitNs: number;
}

export function defaultSysctl(): TcpSysctl {
  return {
    timestamps: true, sack: true, windowScaling: true, syncookies: 1,
    synRetries: 6, synackRetries: 5, retries2: 15, finTimeoutNs: 60e9,
    keepaliveTimeS: 7200, keepaliveIntvlS: 75, keepaliveProbes: 9,
    rmem: [4096, 131072, 6291456], wmem: [4096, 16384, 4194304],
    rmemMax: 212992, wmemMax: 212992, somaxconn: 4096,
    congestion: 'cubic', initCwnd: 10, portLow: 32768, portHigh: 60999,
    invalidRatelimitNs: 500e6,
  };
}

export const MS = 1_000_000;
export const TCP_RTO_MIN_NS = 200 * MS;
export const TCP_RTO_MAX_NS = 120_000 * MS;
export const TCP_TIMEOUT_INIT_NS = 1000 * MS;
export const TCP_TIMEWAIT_LEN_NS = 60_000 * MS;
export const TCP_DELACK_MIN_NS = 40 * MS;
export const TCP_MAX_QUICKACKS = 16;
/** RFC 9293 default send MSS when the peer sent no MSS option (IPv4; IPv6 uses 1220). */
export const TCP_MSS_DEFAULT = 536;

/*
 * EAGAIN is the common, expected answer of recv/send/accept on a socket that is not ready, and
 * the socket layer turns it into a wait: building a fresh Error (with its stack trace) for each
 * one cost more than the segment that ended the wait. So these calls throw one shared instance.
 */
const EAGAIN_ERROR = new KernelError(EAGAIN);

/** Throw the shared EAGAIN KernelError (see above). */
export function throwEagain(): never {
  throw EAGAIN_ERROR;
}
