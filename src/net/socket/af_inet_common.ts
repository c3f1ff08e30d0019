/*
 * What the IPv4 and IPv6 datagram families share (af_inet.ts, af_inet6.ts).
 *
 * Linux's AF_INET6 code calls back into the AF_INET one for everything that does not depend on
 * the address size: inet_shutdown, datagram_poll, the ping socket machinery of net/ipv4/ping.c
 * (used by both families, parameterised by a small table of family operations), the
 * SIOCINQ/SIOCOUTQ answers of udp_ioctl. This file is that common part here: the shutdown bits
 * and poll mask of a datagram socket, the group check and identifier choice of ping sockets, and
 * the receive queue of whole messages that ping and raw sockets of both families keep (with its
 * memory accounting and the blocking recvmsg loop over it). Addresses stay in the family files.
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, EACCES, EADDRINUSE, EOPNOTSUPP, EAGAIN, EFAULT, ENOTCONN } from '../../uapi/errno.js';
import {
  SHUT_RD, SHUT_RDWR, MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC, MSG_ERRQUEUE, MSG_OOB, SIOCINQ, SIOCOUTQ,
} from '../../uapi/socket.js';
import { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDNORM, POLLWRNORM, POLLWRBAND, POLLRDHUP } from '../../uapi/misc.js';
import type { Task } from '../../kernel/index.js';
import type { NetNamespace } from '../core/index.js';
import { type Socket, sockWait, sockTimeo, iovLen, type MsgHdr, type ProtoOps } from './socket.js';
import { inetIoctl } from './af_inet_ioctl.js';

/** Bits of sk_shutdown. */
export const RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2;

/** inet_shutdown's common part: EINVAL for a bad `how`; returns the new shutdown bits. */
export function shutdownBits(how: number): number {
  if (!Number.isInteger(how) || how < SHUT_RD || how > SHUT_RDWR) fail(EINVAL);
  return how + 1;
}

/**
 * shutdown(2) of a connectionless socket: the bits are set and sleepers woken whatever the
 * state, but an unconnected socket says ENOTCONN (inet_shutdown).
 */
export function dgramShutdown(sock: Socket, sk: { shut: number }, how: number, connected: () => boolean): void {
  sk.shut |= shutdownBits(how);
  sock.wake(0);
  if (!connected()) fail(ENOTCONN);
}

/** datagram_poll */
export function dgramPoll(sock: Socket, readable: boolean, shut: number): number {
  let mask = 0;
  if (sock.err) mask |= POLLERR;
  if (shut & RCV_SHUTDOWN) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
  if (shut === (RCV_SHUTDOWN | SEND_SHUTDOWN)) mask |= POLLHUP;
  if (readable) mask |= POLLIN | POLLRDNORM;
  mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
  return mask;
}

/** Write an int result of an ioctl: into a 4-byte buffer, or the `value` of an object. */
export function putIntArg(arg: unknown, v: number): number {
  if (arg instanceof Uint8Array) {
    if (arg.length < 4) fail(EFAULT);
    new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true);
    return 0;
  }
  if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return 0; }
  fail(EFAULT);
}

/**
 * ioctl of a datagram socket: SIOCINQ is the size of the next datagram (`inq`, asked only for
 * that command), SIOCOUTQ 0 as nothing waits to go out; the rest are interface ioctls.
 */
export function dgramIoctl(sock: Socket, cmd: number, arg: unknown, inq: () => number): number {
  if (cmd === SIOCINQ) return putIntArg(arg, inq());
  if (cmd === SIOCOUTQ) return putIntArg(arg, 0);
  return inetIoctl(sock, cmd, arg);
}

/** Copy up to `len` bytes from `data` into the iovec; returns bytes copied. */
export function copyToIov(iov: Uint8Array[], data: Uint8Array): number {
  let off = 0;
  for (const v of iov) {
    if (off >= data.length) break;
    const n = Math.min(v.length, data.length - off);
    v.set(data.subarray(off, off + n));
    off += n;
  }
  return off;
}

export function gatherIov(iov: Uint8Array[]): Uint8Array {
  if (iov.length === 1) return iov[0]!;
  const out = new Uint8Array(iovLen(iov));
  let o = 0;
  for (const v of iov) { out.set(v, o); o += v.length; }
  return out;
}

// ---- ping sockets ---------------------------------------------------------------------------------

/** ping_init_sock: EACCES unless a group of the caller is in ping_group_range [lo, hi]. */
export function pingCheckGroup(range: readonly [number, number], t: Task): void {
  const [lo, hi] = range;
  const c = t.cred;
  const ok = (g: number) => g >= lo && g <= hi;
  if (ok(c.egid)) return;
  for (const g of c.groups) if (ok(g)) return;
  fail(EACCES);
}

/**
 * ping_get_port's choice: `ident` itself unless `taken` (EADDRINUSE), or for 0 a free
 * identifier searched from a random start (EADDRINUSE when none is).
 */
export function pingPickIdent(net: NetNamespace, ident: number, taken: (id: number) => boolean): number {
  if (ident) {
    if (taken(ident)) fail(EADDRINUSE);
    return ident;
  }
  const start = net.random32() % 0xffff;
  for (let i = 0; i < 0xffff && !ident; i++) {
    const id = 1 + ((start + i) % 0xffff);
    if (!taken(id)) ident = id;
  }
  if (!ident) fail(EADDRINUSE);
  return ident;
}

// ---- a queue of whole messages (ping and raw sockets) --------------------------------------------

export interface QueuedMsg { data: Uint8Array }

/**
 * The receive side of a ping or raw socket: whole messages, bounded by SO_RCVBUF (one message
 * always fits an empty queue, as sock_queue_rcv_skb's check is against what is already queued)
 * and charged to the namespace's memory budget.
 */
export class MsgQueueSk<M extends QueuedMsg> {
  shut = 0;
  readonly rx: M[] = [];
  rxBytes = 0;
  closed = false;
  constructor(readonly net: NetNamespace, readonly sock: Socket) {}

  enqueue(m: M): void {
    if (this.rxBytes + m.data.length > this.sock.rcvbuf && this.rx.length) return;
    if (!this.net.memCharge(m.data.length)) return;
    this.rx.push(m);
    this.rxBytes += m.data.length;
    this.sock.wake(POLLIN | POLLRDNORM);
  }

  /** Drop every queued message and give its memory back (on close). */
  purge(): void {
    this.net.memUncharge(this.rxBytes);
    this.rx.length = 0; this.rxBytes = 0;
  }
}

/**
 * poll, ioctl and shutdown of a ping or raw socket: readable while a message is queued, SIOCINQ
 * the size of the first, ENOTCONN from shutdown unless connected.
 */
export function msgQueueOps(
  skOf: (sock: Socket) => MsgQueueSk<QueuedMsg> & { connected: boolean },
): Pick<ProtoOps, 'poll' | 'ioctl' | 'shutdown'> {
  return {
    poll(sock) { const q = skOf(sock); return dgramPoll(sock, q.rx.length > 0, q.shut); },
    ioctl(sock, cmd, arg) {
      const q = skOf(sock);
      return dgramIoctl(sock, cmd, arg, () => q.rx[0]?.data.length ?? 0);
    },
    shutdown(sock, how) {
      const q = skOf(sock);
      dgramShutdown(sock, q, how, () => q.connected);
    },
  };
}

/**
 * recvmsg on a message queue: the first message (kept with MSG_PEEK), truncated to the iovec
 * (MSG_TRUNC in msg.flags; with MSG_TRUNC in `flags` the whole length is returned), its source
 * as `nameOf` writes it. Blocks unless nonblocking; 0 once the reading side is shut or closed.
 */
export function queueRecvmsg<M extends QueuedMsg>(
  sock: Socket, q: MsgQueueSk<M>, msg: MsgHdr, flags: number, nameOf: (m: M) => Uint8Array,
): Promise<number> {
  return dgramRecvWait(sock, flags, () => {
    const m = q.rx[0];
    if (!m) return null;
    if (!(flags & MSG_PEEK)) { q.rx.shift(); q.rxBytes -= m.data.length; q.net.memUncharge(m.data.length); }
    return putDatagram(msg, flags, m.data, nameOf(m));
  }, () => (q.shut & RCV_SHUTDOWN) !== 0 || q.closed);
}

/**
 * The wait of a datagram recvmsg: the pending error first, then `take` (the length to return,
 * null while nothing is queued), then 0 at end of file (`eof`), else sleep until woken or the
 * receive timeout (EAGAIN; at once when nonblocking). No out-of-band data, no error queue.
 */
export async function dgramRecvWait(
  sock: Socket, flags: number, take: () => number | null, eof: () => boolean,
): Promise<number> {
  if (flags & MSG_OOB) fail(EOPNOTSUPP);
  if (flags & MSG_ERRQUEUE) fail(EAGAIN);
  const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, false);
  for (;;) {
    const err = sock.takeError();
    if (err) fail(err);
    const n = take();
    if (n !== null) return n;
    if (eof()) return 0;
    if (deadline === 0) fail(EAGAIN);
    await sockWait(sock, deadline);
  }
}

/**
 * One datagram into a recvmsg: as much as the iovec holds (MSG_TRUNC in msg.flags when cut),
 * its source in msg.name; returns the bytes copied, or the whole length when the caller passed
 * MSG_TRUNC.
 */
export function putDatagram(msg: MsgHdr, flags: number, data: Uint8Array, name: Uint8Array): number {
  const n = copyToIov(msg.iov, data);
  msg.name = name;
  if (n < data.length) msg.flags |= MSG_TRUNC;
  return flags & MSG_TRUNC ? data.length : n;
}
