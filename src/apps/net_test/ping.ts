/*
 * The echo exchange of LKL's net-test (lkl_test_icmp), over a kernel's own sockets.
 *
 * IPv4 is LKL's way exactly: a raw ICMP socket (SOCK_RAW, IPPROTO_ICMP; init holds CAP_NET_RAW),
 * echo requests of a bare 8-byte header with identifier 0 and sequence i, each answered within
 * one second (poll 1000 ms), the reply read with MSG_DONTWAIT and found behind the IP header.
 * IPv6, which LKL's test does not have, uses what ping(8) uses without privileges on Linux: a
 * ping socket (SOCK_DGRAM, IPPROTO_ICMPV6), through which the kernel fills in the identifier and
 * the checksum and hands back the ICMPv6 message without the IP header.
 *
 * Two things are stricter than LKL: a raw socket also sees echo *requests* (our own on loopback,
 * the peer's when it pings us), which LKL counts as success; here only an echo reply carrying the
 * sequence we sent counts, and anything else is read past until the second is up. And one is
 * looser: the first echo may be resent, once a second, for `graceMs`, because a peer process may
 * still be configuring its interface and a fresh IPv6 address is unusable until duplicate address
 * detection ends (about a second); LKL leaves that to the caller's sleep.
 */
import { performance } from 'node:perf_hooks';
import type { KernelTask } from '../../lkl.js';
import { AF_INET, AF_INET6, SOCK_RAW, SOCK_DGRAM, IPPROTO_ICMP, IPPROTO_ICMPV6, MSG_DONTWAIT } from '../../uapi/socket.js';
import { POLLIN } from '../../uapi/misc.js';
import { EADDRNOTAVAIL, EHOSTUNREACH, EAGAIN } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';

export const ICMP_ECHOREPLY = 0, ICMP_ECHO = 8;
export const ICMPV6_ECHO_REQUEST = 128, ICMPV6_ECHO_REPLY = 129;

/** Where to ping: an address of either family, with the interface for a link-local one. */
export interface PingTarget {
  family: typeof AF_INET | typeof AF_INET6;
  addr: string;
  /** sin6_scope_id (0: none). */
  scopeId: number;
}

export interface PingResult {
  ok: boolean;
  /** Echo replies received, in order of sequence. */
  replies: number;
}

/** The Internet checksum (RFC 1071) of b. */
export function inCksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request header: type, code 0, checksum (IPv4 only; the kernel fills IPv6's), id 0, seq. */
function echoRequest(family: number, seq: number): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = family === AF_INET ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
  h[6] = (seq >> 8) & 0xff; h[7] = seq & 0xff;
  if (family === AF_INET) { const c = inCksum(h); h[2] = c >> 8; h[3] = c & 0xff; }
  return h;
}

/** The ICMP message in what recv returned: behind the IP header for raw IPv4, as is for ping6. */
function icmpOf(family: number, b: Uint8Array): Uint8Array | null {
  if (family === AF_INET6) return b.length >= 8 ? b : null;
  if (b.length < 20) return null;
  const ihl = (b[0]! & 0x0f) * 4;
  return b.length >= ihl + 8 ? b.subarray(ihl) : null;
}

/**
 * sendto errors that may pass while an interface comes up: no usable source address yet (IPv6
 * link-local still tentative), neighbour not answering yet. A missing route is not one of them.
 */
const TRANSIENT = [EADDRNOTAVAIL, EHOSTUNREACH];

const sleep = (ms: number) => new Promise<void>((r) => { setTimeout(r, ms); });
const targetText = (t: PingTarget) => (t.scopeId ? `${t.addr}%${t.scopeId}` : t.addr);

/**
 * Ping `dst` `count` times from task `t`, logging each step as LKL does ("pinging X", "ICMP echo
 * reply (seq=N)"). Succeeds when every request got its reply within a second.
 */
export async function pingTest(t: KernelTask, dst: PingTarget, count: number, log: (s: string) => void, graceMs = 0): Promise<PingResult> {
  const v4 = dst.family === AF_INET;
  const sock = await t.sys.socket(dst.family, v4 ? SOCK_RAW : SOCK_DGRAM, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  const res: PingResult = { ok: false, replies: 0 };
  if (sock < 0) {
    log(`socket error (${strerror(sock)})${v4 ? '' : ': IPv6 ping sockets (socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)) are not available'}`);
    return res;
  }
  log(`pinging ${targetText(dst)}`);
  const sa = v4
    ? { family: AF_INET, addr: dst.addr, port: 0 }
    : { family: AF_INET6, addr: dst.addr, port: 0, flowinfo: 0, scope_id: dst.scopeId };
  const salen = v4 ? 16 : 28;
  const buf = new Uint8Array(1500);
  const start = performance.now();
  try {
    for (let seq = 0; seq < count; seq++) {
      const req = echoRequest(dst.family, seq);
      let sent = await t.sys.sendto(sock, req, req.length, 0, sa, salen);
      // The first request may meet an interface still coming up (no route, address tentative).
      while (sent < 0 && seq === 0 && performance.now() - start < graceMs && TRANSIENT.includes(-sent)) {
        await sleep(100);
        sent = await t.sys.sendto(sock, req, req.length, 0, sa, salen);
      }
      if (sent < 0) { log(`sendto error (${strerror(sent)})`); return res; }
      let deadline = performance.now() + 1000;
      for (;;) {
        const left = Math.ceil(deadline - performance.now());
        if (left <= 0) {
          if (seq === 0 && performance.now() - start < graceMs) {
            // Resend the first request while the peer may still be coming up.
            const r = await t.sys.sendto(sock, req, req.length, 0, sa, salen);
            if (r < 0 && !TRANSIENT.includes(-r)) { log(`sendto error (${strerror(r)})`); return res; }
            deadline = performance.now() + 1000;
            continue;
          }
          log(`no ICMP echo reply (seq=${seq}) within 1000 ms`);
          return res;
        }
        const pfd = [{ fd: sock, events: POLLIN, revents: 0 }];
        const p = await t.sys.poll(pfd, 1, left);
        if (p < 0) { log(`poll error (${strerror(p)})`); return res; }
        if (p === 0) continue;
        const n = await t.sys.recvfrom(sock, buf, buf.length, MSG_DONTWAIT, null, null);
        if (n === -EAGAIN) continue;
        if (n < 0) { log(`recv error (${strerror(n)})`); return res; }
        const icmp = icmpOf(dst.family, buf.subarray(0, n));
        if (!icmp) continue;
        const type = icmp[0]!, code = icmp[1]!, rseq = (icmp[6]! << 8) | icmp[7]!;
        const replyType = v4 ? ICMP_ECHOREPLY : ICMPV6_ECHO_REPLY;
        const requestType = v4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
        if (type === requestType) continue; // our own request on loopback, or the peer pinging us
        if (type !== replyType || code !== 0) {
          log(`no ICMP echo reply (type=${type}, code=${code})`);
          return res;
        }
        if (rseq !== seq) continue; // a late reply to an earlier resend
        log(`ICMP echo reply (seq=${seq})`);
        res.replies++;
        break;
      }
    }
    res.ok = true;
    return res;
  } finally {
    await t.sys.close(sock);
  }
}
