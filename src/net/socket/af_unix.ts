/*
 * AF_UNIX: local sockets (net/unix/af_unix.c, unix(7)).
 *
 * A unix socket is a UnixSock hung on Socket.sk. Data moves as "skbs" — one queued message each,
 * with the sender's credentials, its address (for recvfrom on datagram sockets) and any files
 * passed with SCM_RIGHTS — from the sender straight onto the receiver's queue. Flow control is
 * the sender's: the bytes of its skbs still queued somewhere (wmem) may not exceed its SO_SNDBUF;
 * datagram receivers also cap their queue at max_dgram_qlen (10) messages from strangers.
 *
 * Types:
 *   SOCK_STREAM     a byte stream; reads merge skbs, writes are split at sndbuf/2 - 64 bytes.
 *   SOCK_SEQPACKET  connection-oriented like STREAM, record-preserving like DGRAM.
 *   SOCK_DGRAM      connectionless; connect() only sets a default destination and filter.
 *
 * Addresses (sockaddr_un): a pathname (an S_IFSOCK node made by bind through the VFS mknod path,
 * found again by its inode), an abstract name (sun_path[0] == 0, a per-kernel table), or none.
 * bind with only the family autobinds to an abstract "\0XXXXX" (five hex digits). The length
 * getsockname returns is that of the stored address: 2 + strlen(path) + 1 for a pathname, as
 * given for an abstract name, 2 for an unbound socket.
 *
 * Connection: connect() on a stream/seqpacket socket makes a fresh "embryo" socket joined to the
 * connector and queues it on the listener; accept() takes it. The connector is connected at once
 * and may write before the accept. Closing one end sets the peer's shutdown to both directions
 * (reads drain then return 0, writes are EPIPE); unread data or an unaccepted embryo makes the
 * peer's next call ECONNRESET (sk_err), as in Linux.
 *
 * Concurrency: one JS thread; each operation is atomic between awaits and every blocking call
 * loops on its condition after each wake-up of the socket's wait queue.
 */
import { fail } from '../../lib/errors.js';
import { type ByteString, bytesToByteString } from '../../lib/bytestr.js';
import {
  EINVAL, EOPNOTSUPP, ENOTCONN, EISCONN, EPIPE, ECONNREFUSED, ECONNRESET, EPROTOTYPE,
  EADDRINUSE, EEXIST, EAGAIN, EMSGSIZE, EPERM, EPROTONOSUPPORT, ESOCKTNOSUPPORT, ENOPROTOOPT,
  ENOTTY, EFAULT, ENOMEM,
} from '../../uapi/errno.js';
import { S_IFSOCK, S_IFMT } from '../../uapi/stat.js';
import { O_NONBLOCK } from '../../uapi/fcntl.js';
import {
  POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLWRBAND, POLLHUP, POLLERR, POLLRDHUP, FIONREAD,
} from '../../uapi/misc.js';
import {
  AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, MSG_OOB, MSG_PEEK, MSG_TRUNC,
  MSG_DONTWAIT, MSG_WAITALL, SOL_SOCKET, SO_PEEK_OFF, SS_CONNECTED, SS_UNCONNECTED,
  SUN_PATH_OFFSET, SOCKADDR_UN_SIZE, PF_UNIX, SIOCOUTQ, SIOCINQ, SHUT_RD, SHUT_RDWR,
} from '../../uapi/socket.js';
import type { Task } from '../../kernel/index.js';
import {
  type Inode, type File, vfsMknod, pathLookup, inodePermission, LOOKUP_FOLLOW, MAY_WRITE,
} from '../../fs/vfs/index.js';
import { fput } from '../../fs/vfs/index.js';
import {
  type Socket, type ProtoOps, type NetProtoFamily, type MsgHdr, type ScmCookie, type Ucred,
  builtinFamilies, sockWait, sockTimeo, iovLen, intBytes, sockAlloc,
} from './socket.js';

const TCP_ESTABLISHED = 1, TCP_CLOSE = 7, TCP_LISTEN = 10;
const RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2, SHUTDOWN_MASK = 3;
/** net.unix.max_dgram_qlen. */
export const UNIX_MAX_DGRAM_QLEN = 10;
/** What an skb costs its sender beyond its data (struct sk_buff and shared info, roughly). */
const SKB_OVERHEAD = 576;

/** One queued message. */
interface Skb {
  data: Uint8Array;
  /** Bytes already read from the front (stream reads may take part of an skb). */
  off: number;
  scm: ScmCookie | null;
  creds: Ucred;
  /** The sender (its address for recvfrom; its wmem is given back on consumption). */
  from: UnixSock;
  truesize: number;
  /** An embryo socket waiting for accept (listener queues only). */
  embryo?: UnixSock;
}

/** Per-kernel unix namespace: abstract names, pathname inodes, the autobind counter. */
interface UnixNet { abstract: Map<ByteString, UnixSock>; byInode: WeakMap<Inode, UnixSock>; ordernum: number }
const unixNets = new WeakMap<object, UnixNet>();
function unixNet(sock: Socket): UnixNet {
  let n = unixNets.get(sock.kernel);
  if (!n) unixNets.set(sock.kernel, (n = { abstract: new Map(), byInode: new WeakMap(), ordernum: 1 }));
  return n;
}

/** struct unix_sock. */
export class UnixSock {
  /** The owning socket; an embryo moves to the socket accept(2) made. */
  sock: Socket;
  state = TCP_CLOSE;
  peer: UnixSock | null = null;
  /** The bound address exactly as getsockname returns it; null when unbound. */
  addr: Uint8Array | null = null;
  abstractName: ByteString | null = null;
  pathInode: Inode | null = null;
  readonly recvq: Skb[] = [];
  /** Listen backlog, or the datagram queue limit. */
  maxBacklog = UNIX_MAX_DGRAM_QLEN;
  shutdown = 0;
  /** Bytes (with overhead) of this socket's skbs still queued (sk_wmem_alloc). */
  wmem = 0;
  dead = false;
  /** Credentials of the creator (used when a plain write has no task). */
  readonly owner: Ucred;

  constructor(sock: Socket, owner: Ucred) { this.sock = sock; this.owner = owner; }
  get type(): number { return this.sock.type; }
  wake(key = 0): void { this.sock.wake(key); }
}

function usk(sock: Socket): UnixSock { return sock.sk as UnixSock; }

function credsOf(t: Task | null, u: UnixSock): Ucred {
  if (!t || !t.tgid) return u.owner;
  return { pid: t.tgid, uid: t.cred.uid, gid: t.cred.gid };
}

// ---- addresses ----------------------------------------------------------------------------------

/** unix_validate_addr. */
function validateAddr(addr: Uint8Array): void {
  if (addr.length <= SUN_PATH_OFFSET || addr.length > SOCKADDR_UN_SIZE) fail(EINVAL);
  if ((addr[0]! | (addr[1]! << 8)) !== AF_UNIX) fail(EINVAL);
}

/** The pathname of a pathname address: sun_path up to its first NUL within the length. */
function sunPath(addr: Uint8Array): ByteString {
  const p = addr.subarray(SUN_PATH_OFFSET);
  let end = p.indexOf(0);
  if (end < 0) end = p.length;
  return bytesToByteString(p, 0, end);
}

function makeAddr(sunPathBytes: Uint8Array | ByteString): Uint8Array {
  const n = typeof sunPathBytes === 'string' ? sunPathBytes.length : sunPathBytes.length;
  const b = new Uint8Array(SUN_PATH_OFFSET + n);
  b[0] = AF_UNIX;
  if (typeof sunPathBytes === 'string') for (let i = 0; i < n; i++) b[SUN_PATH_OFFSET + i] = sunPathBytes.charCodeAt(i) & 0xff;
  else b.set(sunPathBytes, SUN_PATH_OFFSET);
  return b;
}

function startOf(t: Task, path: ByteString) { return path.charCodeAt(0) === 47 ? t.fs.root : t.fs.pwd; }

/** unix_find_other: the socket an address names, of the right type. */
async function findOther(t: Task | null, self: UnixSock, addr: Uint8Array): Promise<UnixSock> {
  const net = unixNet(self.sock);
  let other: UnixSock | undefined;
  if (addr[SUN_PATH_OFFSET] !== 0) {
    if (!t) fail(ECONNREFUSED);
    const path = sunPath(addr);
    const p = await pathLookup(t.fsContext(), startOf(t, path), path, LOOKUP_FOLLOW);
    const inode = p.dentry.inode!;
    if ((inode.mode & S_IFMT) !== S_IFSOCK) fail(ECONNREFUSED);
    inodePermission(t.cred, inode, MAY_WRITE, p.mnt);
    other = net.byInode.get(inode);
  } else {
    other = net.abstract.get(bytesToByteString(addr, SUN_PATH_OFFSET, addr.length));
  }
  if (!other || other.dead) fail(ECONNREFUSED);
  if (other.type !== self.type) fail(EPROTOTYPE);
  return other;
}

/** unix_autobind: an abstract name "\0" + five hex digits, the first one free. */
function autobind(u: UnixSock): void {
  if (u.addr) return;
  const net = unixNet(u.sock);
  for (let tries = 0; tries < 0x100000; tries++) {
    const name = '\0' + (net.ordernum & 0xfffff).toString(16).padStart(5, '0');
    net.ordernum = (net.ordernum + 1) & 0xfffff;
    if (net.abstract.has(name)) continue;
    u.abstractName = name;
    u.addr = makeAddr(name);
    net.abstract.set(name, u);
    return;
  }
  fail(ENOMEM);
}

async function unixBind(sock: Socket, addr: Uint8Array, t: Task): Promise<void> {
  const u = usk(sock);
  if (addr.length === SUN_PATH_OFFSET && (addr[0]! | (addr[1]! << 8)) === AF_UNIX) {
    // Autobinding a bound socket is a quiet success.
    autobind(u);
    return;
  }
  validateAddr(addr);
  const net = unixNet(sock);
  if (addr[SUN_PATH_OFFSET] !== 0) {
    const path = sunPath(addr);
    const ctx = t.fsContext();
    // The node is made first, as Linux does: an existing name is EADDRINUSE even for a bound socket.
    try {
      await vfsMknod(ctx, startOf(t, path), path, S_IFSOCK | (sock.inode.mode & 0o777), 0);
    } catch (e) {
      if ((e as { errno?: number }).errno === EEXIST) fail(EADDRINUSE);
      throw e;
    }
    if (u.addr) fail(EINVAL);
    const p = await pathLookup(ctx, startOf(t, path), path, 0);
    u.pathInode = p.dentry.inode!;
    net.byInode.set(u.pathInode, u);
    u.addr = makeAddr(path + '\0');
    return;
  }
  if (u.addr) fail(EINVAL);
  const name = bytesToByteString(addr, SUN_PATH_OFFSET, addr.length);
  if (net.abstract.has(name)) fail(EADDRINUSE);
  u.abstractName = name;
  u.addr = addr.slice();
  net.abstract.set(name, u);
}

function unixGetname(sock: Socket, peer: boolean): Uint8Array {
  let u = usk(sock);
  if (peer) {
    if (!u.peer || (u.type !== SOCK_DGRAM && u.state !== TCP_ESTABLISHED)) fail(ENOTCONN);
    u = u.peer;
  }
  return u.addr ? u.addr.slice() : makeAddr('');
}

// ---- connect / listen / accept ------------------------------------------------------------------

function newUnixSock(sock: Socket, owner: Ucred): UnixSock {
  const u = new UnixSock(sock, owner);
  sock.sk = u;
  return u;
}

/** Join two connected stream/seqpacket socks. */
function pair(a: UnixSock, b: UnixSock): void {
  a.peer = b; b.peer = a;
  a.state = b.state = TCP_ESTABLISHED;
  a.sock.state = b.sock.state = SS_CONNECTED;
}

async function unixStreamConnect(sock: Socket, addr: Uint8Array, flags: number, t: Task): Promise<void> {
  const u = usk(sock);
  validateAddr(addr);
  const deadline = sockTimeo(sock, (flags & O_NONBLOCK) !== 0, true);
  for (;;) {
    const other = await findOther(t, u, addr);
    if (u.state === TCP_ESTABLISHED) fail(EISCONN);
    if (u.state !== TCP_CLOSE) fail(EINVAL);
    if (other.state !== TCP_LISTEN || other.shutdown & RCV_SHUTDOWN) fail(ECONNREFUSED);
    if (other.recvq.length > other.maxBacklog) {
      if (deadline === 0) fail(EAGAIN);
      await sockWait(other.sock, deadline);
      continue;
    }
    // The server side of the connection, waiting for accept() on the listener's queue.
    const creds = credsOf(t, u);
    const nsock = sockAlloc(sock.kernel, other.sock.file?.cred ?? t.cred, AF_UNIX, sock.type);
    nsock.ops = sock.ops;
    const n = newUnixSock(nsock, other.owner);
    nsock.protocol = sock.protocol;
    nsock.sndbuf = other.sock.sndbuf;
    nsock.rcvbuf = other.sock.rcvbuf;
    n.addr = other.addr;
    n.pathInode = other.pathInode;
    nsock.peerCred = creds;
    sock.peerCred = { ...other.owner };
    pair(u, n);
    if (!u.addr && sock.passcred) autobind(u);
    other.recvq.push({ data: new Uint8Array(0), off: 0, scm: null, creds, from: u, truesize: 0, embryo: n });
    other.wake(POLLIN | POLLRDNORM);
    return;
  }
}

async function unixDgramConnect(sock: Socket, addr: Uint8Array, _flags: number, t: Task): Promise<void> {
  const u = usk(sock);
  if (addr.length < SUN_PATH_OFFSET) fail(EINVAL);
  if ((addr[0]! | (addr[1]! << 8)) === 0) {
    // AF_UNSPEC dissolves the association.
    const old = u.peer;
    u.peer = null;
    sock.state = SS_UNCONNECTED;
    if (old) old.wake(POLLOUT | POLLWRNORM);
    return;
  }
  validateAddr(addr);
  const other = await findOther(t, u, addr);
  if (!u.addr && sock.passcred) autobind(u);
  u.peer = other;
  sock.state = SS_CONNECTED;
}

function unixListen(sock: Socket, backlog: number): void {
  const u = usk(sock);
  if (u.type !== SOCK_STREAM && u.type !== SOCK_SEQPACKET) fail(EOPNOTSUPP);
  if (!u.addr) fail(EINVAL);
  if (u.state !== TCP_CLOSE && u.state !== TCP_LISTEN) fail(EINVAL);
  if (backlog > u.maxBacklog) u.wake(0);
  u.maxBacklog = backlog;
  u.state = TCP_LISTEN;
  sock.listening = true;
}

async function unixAccept(sock: Socket, newsock: Socket, flags: number, _t: Task): Promise<void> {
  const u = usk(sock);
  if (u.type !== SOCK_STREAM && u.type !== SOCK_SEQPACKET) fail(EOPNOTSUPP);
  if (u.state !== TCP_LISTEN) fail(EINVAL);
  const deadline = sockTimeo(sock, (flags & O_NONBLOCK) !== 0, false);
  for (;;) {
    const skb = u.recvq.shift();
    if (skb) {
      u.wake(POLLOUT); // a connector may wait for room in the backlog
      const n = skb.embryo!;
      const peerCred = n.sock.peerCred;
      newsock.sndbuf = n.sock.sndbuf;
      newsock.rcvbuf = n.sock.rcvbuf;
      newsock.passcred = sock.passcred;
      // The embryo's protocol state moves into the socket accept(2) made (sock_graft).
      newsock.sk = n;
      n.sock = newsock;
      newsock.ops = sock.ops;
      newsock.protocol = sock.protocol;
      newsock.state = SS_CONNECTED;
      newsock.peerCred = peerCred;
      return;
    }
    if (u.dead) fail(EINVAL);
    await sockWait(sock, deadline);
    if (u.state !== TCP_LISTEN) fail(EINVAL);
  }
}

// ---- sending ------------------------------------------------------------------------------------

function gather(iov: Uint8Array[], from: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let skip = from, at = 0;
  for (const v of iov) {
    if (at >= len) break;
    if (skip >= v.length) { skip -= v.length; continue; }
    const n = Math.min(v.length - skip, len - at);
    out.set(v.subarray(skip, skip + n), at);
    at += n; skip = 0;
  }
  return out;
}

function scatter(iov: Uint8Array[], data: Uint8Array, at: number): number {
  let skip = at, off = 0;
  for (const v of iov) {
    if (off >= data.length) break;
    if (skip >= v.length) { skip -= v.length; continue; }
    const n = Math.min(v.length - skip, data.length - off);
    v.set(data.subarray(off, off + n), skip);
    off += n; skip = 0;
  }
  return off;
}

/** Charge an skb to its sender; the receiver's consumption gives it back (sock_wfree). */
function skbFree(skb: Skb): void {
  const from = skb.from;
  const wasWritable = (from.wmem << 2) <= from.sock.sndbuf;
  from.wmem -= skb.truesize;
  if (!wasWritable || from.type === SOCK_DGRAM) from.wake(POLLOUT | POLLWRNORM | POLLWRBAND);
}

/** Drop a queued skb without delivering it (its files are closed). */
async function skbDiscard(skb: Skb): Promise<void> {
  skbFree(skb);
  if (skb.scm) for (const f of skb.scm.fds) await fput(f);
}

function writeDeadline(sock: Socket, flags: number): number {
  const nb = (flags & MSG_DONTWAIT) !== 0 || (sock.file !== null && (sock.file.flags & O_NONBLOCK) !== 0);
  return sockTimeo(sock, nb, true);
}
function readDeadline(sock: Socket, flags: number): number {
  const nb = (flags & MSG_DONTWAIT) !== 0 || (sock.file !== null && (sock.file.flags & O_NONBLOCK) !== 0);
  return sockTimeo(sock, nb, false);
}

/** Wait until the sender may queue `size` more bytes (sock_alloc_send_pskb's wait). */
async function waitSndbuf(u: UnixSock, deadline: number): Promise<void> {
  while (u.wmem >= u.sock.sndbuf) {
    if (u.shutdown & SEND_SHUTDOWN) fail(EPIPE);
    const e = u.sock.takeError(); if (e) fail(e);
    if (deadline === 0) fail(EAGAIN);
    await sockWait(u.sock, deadline);
  }
}

async function unixStreamSendmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): Promise<number> {
  const u = usk(sock);
  const len = iovLen(msg.iov);
  const err0 = sock.takeError(); if (err0) fail(err0);
  if (flags & MSG_OOB) fail(EOPNOTSUPP);
  if (msg.name && msg.name.length) fail(u.state === TCP_ESTABLISHED ? EISCONN : EOPNOTSUPP);
  const other = u.peer;
  if (!other) fail(ENOTCONN);
  if (u.shutdown & SEND_SHUTDOWN) fail(EPIPE);
  const deadline = writeDeadline(sock, flags);
  let sent = 0;
  let scm = msg.scm;
  // Explicit SCM_CREDENTIALS (already checked by the syscall layer) replace the sender's own.
  const creds = scm?.creds ?? credsOf(t, u);
  try {
    // A zero-length write sends nothing, not even the files (as Linux's loop never runs).
    while (sent < len) {
      let size = Math.min(len - sent, (sock.sndbuf >> 1) - 64, 32768 + 4096 * 16);
      try { await waitSndbuf(u, deadline); } catch (e) { if (sent) break; throw e; }
      if (other.dead || other.shutdown & RCV_SHUTDOWN) { if (sent) break; fail(EPIPE); }
      size = Math.max(0, size);
      const skb: Skb = {
        data: gather(msg.iov, sent, size), off: 0, scm, creds, from: u,
        truesize: size + SKB_OVERHEAD,
      };
      scm = null; // files travel with the first skb only
      u.wmem += skb.truesize;
      other.recvq.push(skb);
      other.wake(POLLIN | POLLRDNORM);
      sent += size;
    }
  } finally {
    if (scm) for (const f of scm.fds) await fput(f);
  }
  return sent;
}

async function unixDgramSendmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): Promise<number> {
  const u = usk(sock);
  const len = iovLen(msg.iov);
  let scmOwned = msg.scm;
  try {
    const e0 = sock.takeError(); if (e0) fail(e0);
    if (flags & MSG_OOB) fail(EOPNOTSUPP);
    let other: UnixSock | null = null;
    const named = msg.name !== null && msg.name.length > 0 && u.type === SOCK_DGRAM;
    if (named) validateAddr(msg.name!);
    // Checked in this order by Linux: size, own shutdown, then the destination.
    if (len > sock.sndbuf - 32) fail(EMSGSIZE);
    if (u.shutdown & SEND_SHUTDOWN) fail(EPIPE);
    if (!named) other = u.peer ?? fail(ENOTCONN);
    if (!u.addr && sock.passcred) autobind(u);
    const deadline = writeDeadline(sock, flags);
    await waitSndbuf(u, deadline);
    for (;;) {
      if (named) other = await findOther(t, u, msg.name!);
      const o = other!;
      if (o.dead) {
        if (!named) {
          // The connected peer went away: drop the association once, report it (unix_dgram_disconnected).
          if (u.peer === o) { u.peer = null; sock.state = SS_UNCONNECTED; }
          fail(u.type === SOCK_SEQPACKET ? EPIPE : ECONNREFUSED);
        }
        fail(ECONNREFUSED);
      }
      if (o.shutdown & RCV_SHUTDOWN) fail(EPIPE);
      if (o.peer && o.peer !== u && u.type === SOCK_DGRAM) fail(EPERM);
      if (o.peer !== u && o.recvq.length > o.maxBacklog) {
        if (deadline === 0) fail(EAGAIN);
        await sockWait(o.sock, deadline);
        continue;
      }
      const skb: Skb = {
        data: gather(msg.iov, 0, len), off: 0, scm: scmOwned, creds: scmOwned?.creds ?? credsOf(t, u), from: u,
        truesize: len + SKB_OVERHEAD,
      };
      scmOwned = null;
      u.wmem += skb.truesize;
      o.recvq.push(skb);
      o.wake(POLLIN | POLLRDNORM);
      return len;
    }
  } finally {
    if (scmOwned) for (const f of scmOwned.fds) await fput(f);
  }
}

async function unixSeqpacketSendmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): Promise<number> {
  const u = usk(sock);
  const e0 = sock.takeError();
  if (e0) { await dropScm(msg.scm); fail(e0); }
  if (u.state !== TCP_ESTABLISHED) { await dropScm(msg.scm); fail(ENOTCONN); }
  msg.name = null;
  return unixDgramSendmsg(sock, msg, flags, t);
}

async function dropScm(scm: ScmCookie | null): Promise<void> { if (scm) for (const f of scm.fds) await fput(f); }

// ---- receiving ----------------------------------------------------------------------------------

/** Hand an skb's ancillary data to the message (files move to the message's ownership). */
function takeScm(msg: MsgHdr, skb: Skb, peek: boolean): void {
  if (skb.scm && skb.scm.fds.length) {
    if (peek) {
      for (const f of skb.scm.fds) f.refs++;
      msg.scm = { fds: [...skb.scm.fds], creds: skb.creds };
    } else {
      msg.scm = { fds: skb.scm.fds, creds: skb.creds };
      skb.scm = null;
    }
  } else {
    msg.scm = { fds: [], creds: skb.creds };
  }
}

async function unixStreamRecvmsg(sock: Socket, msg: MsgHdr, flags: number, _t: Task | null): Promise<number> {
  const u = usk(sock);
  if (u.state !== TCP_ESTABLISHED) fail(EINVAL);
  if (flags & MSG_OOB) fail(EOPNOTSUPP);
  const size = iovLen(msg.iov);
  const target = flags & MSG_WAITALL ? size : Math.min(size, sock.rcvlowat);
  const deadline = readDeadline(sock, flags);
  const peek = (flags & MSG_PEEK) !== 0;
  let copied = 0;
  let peekSkip = peek && sock.peekOff >= 0 ? sock.peekOff : 0;
  let gotScm = false;
  for (;;) {
    // Find data: skip what a peek has already looked at.
    let idx = 0, skip = peekSkip;
    if (peek) {
      while (idx < u.recvq.length && skip >= u.recvq[idx]!.data.length - u.recvq[idx]!.off) {
        skip -= u.recvq[idx]!.data.length - u.recvq[idx]!.off; idx++;
      }
    }
    const skb = u.recvq[idx];
    if (!skb) {
      if (copied >= target) break;
      const e = sock.takeError();
      if (e) { if (copied) { sock.err = e; break; } fail(e); }
      if (u.shutdown & RCV_SHUTDOWN) break;
      if (deadline === 0) { if (copied) break; fail(EAGAIN); }
      try { await sockWait(sock, deadline); } catch (err) { if (copied) break; throw err; }
      continue;
    }
    // Messages carrying files are not merged with others (as unix_stream_read_generic stops at scm changes).
    if (copied && skb.scm && skb.scm.fds.length) break;
    if (msg.name === null && copied === 0) {
      msg.name = skb.from.addr ? skb.from.addr.slice() : null;
    }
    const start = skb.off + (peek ? skip : 0);
    const chunk = Math.min(skb.data.length - start, size - copied);
    scatter(msg.iov, skb.data.subarray(start, start + chunk), copied);
    copied += chunk;
    if (!gotScm) { takeScm(msg, skb, peek); gotScm = true; }
    if (peek) {
      peekSkip += chunk;
      if (sock.peekOff >= 0) sock.peekOff += chunk;
    } else {
      skb.off += chunk;
      if (skb.off >= skb.data.length) {
        u.recvq.splice(idx, 1);
        skbFree(skb);
        if (skb.scm) { for (const f of skb.scm.fds) await fput(f); }
      }
    }
    if (copied >= size) break;
    if (msg.scm && msg.scm.fds.length) break;
  }
  return copied;
}

async function unixDgramRecvmsg(sock: Socket, msg: MsgHdr, flags: number, _t: Task | null): Promise<number> {
  const u = usk(sock);
  if (flags & MSG_OOB) fail(EOPNOTSUPP);
  const deadline = readDeadline(sock, flags);
  const peek = (flags & MSG_PEEK) !== 0;
  for (;;) {
    const skb = u.recvq[0];
    if (skb) {
      const size = iovLen(msg.iov);
      const n = Math.min(size, skb.data.length);
      scatter(msg.iov, skb.data.subarray(0, n), 0);
      if (n < skb.data.length) msg.flags |= MSG_TRUNC;
      msg.name = skb.from.addr ? skb.from.addr.slice() : null;
      takeScm(msg, skb, peek);
      if (!peek) {
        u.recvq.shift();
        skbFree(skb);
        // A queue slot freed: writers blocked on our full queue may go on.
        u.wake(POLLOUT | POLLWRNORM);
      }
      return flags & MSG_TRUNC ? skb.data.length : n;
    }
    const e = sock.takeError(); if (e) fail(e);
    if (u.shutdown & RCV_SHUTDOWN) return 0;
    if (deadline === 0) fail(EAGAIN);
    await sockWait(sock, deadline);
  }
}

async function unixSeqpacketRecvmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): Promise<number> {
  if (usk(sock).state !== TCP_ESTABLISHED) fail(ENOTCONN);
  return unixDgramRecvmsg(sock, msg, flags, t);
}

// ---- shutdown, poll, release --------------------------------------------------------------------

function unixShutdown(sock: Socket, how: number): void {
  const u = usk(sock);
  if (how < SHUT_RD || how > SHUT_RDWR) fail(EINVAL);
  const mode = how + 1;
  u.shutdown |= mode;
  u.wake(0);
  const other = u.peer;
  if (other && (u.type === SOCK_STREAM || u.type === SOCK_SEQPACKET)) {
    let peerMode = 0;
    if (mode & RCV_SHUTDOWN) peerMode |= SEND_SHUTDOWN;
    if (mode & SEND_SHUTDOWN) peerMode |= RCV_SHUTDOWN;
    other.shutdown |= peerMode;
    other.wake(peerMode === SHUTDOWN_MASK ? POLLHUP : POLLIN | POLLRDHUP);
  }
}

function writable(u: UnixSock): boolean {
  return u.state !== TCP_LISTEN && (u.wmem << 2) <= u.sock.sndbuf;
}

function unixPoll(sock: Socket, _file: File): number {
  const u = usk(sock);
  let mask = 0;
  if (sock.err) mask |= POLLERR;
  if (u.shutdown === SHUTDOWN_MASK) mask |= POLLHUP;
  if (u.shutdown & RCV_SHUTDOWN) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
  if (u.recvq.length) mask |= POLLIN | POLLRDNORM;
  if (u.type === SOCK_DGRAM) {
    let w = writable(u);
    const o = u.peer;
    if (w && o && o.peer !== u && o.recvq.length > o.maxBacklog) w = false;
    if (w) mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
    return mask;
  }
  if (u.state === TCP_CLOSE) mask |= POLLHUP;
  if (writable(u)) mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
  return mask;
}

function unixIoctl(sock: Socket, cmd: number, arg: unknown): number {
  const u = usk(sock);
  let v: number;
  if (cmd === SIOCOUTQ) v = Math.max(0, u.wmem);
  else if (cmd === FIONREAD || cmd === SIOCINQ) {
    if (u.state === TCP_LISTEN) fail(EINVAL);
    if (u.type === SOCK_STREAM) { v = 0; for (const s of u.recvq) v += s.data.length - s.off; }
    else v = u.recvq.length ? u.recvq[0]!.data.length : 0;
  } else fail(ENOTTY);
  if (arg instanceof Uint8Array) {
    if (arg.length < 4) fail(EFAULT);
    new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true);
  } else if (typeof arg === 'object' && arg !== null) (arg as { value: number }).value = v;
  else fail(EFAULT);
  return 0;
}

/** unix_release_sock: unhash, tell the peer, drop the queue (and embryos on a listener). */
async function releaseUnix(u: UnixSock, embryo: boolean): Promise<void> {
  if (u.dead) return;
  u.dead = true;
  const net = unixNet(u.sock);
  if (u.abstractName !== null && net.abstract.get(u.abstractName) === u) net.abstract.delete(u.abstractName);
  if (u.pathInode && net.byInode.get(u.pathInode) === u) net.byInode.delete(u.pathInode);
  const wasListening = u.state === TCP_LISTEN;
  u.state = TCP_CLOSE;
  u.shutdown = SHUTDOWN_MASK;
  u.sock.listening = false;
  const skpair = u.peer;
  if (skpair) {
    if (u.type === SOCK_STREAM || u.type === SOCK_SEQPACKET) {
      if (u.recvq.length || embryo) skpair.sock.err = ECONNRESET;
      skpair.shutdown = SHUTDOWN_MASK;
      skpair.wake(POLLHUP | POLLIN | POLLERR);
    } else {
      skpair.wake(POLLOUT | POLLWRNORM);
    }
    u.peer = null;
  }
  u.wake(0);
  const q = u.recvq.splice(0);
  for (const skb of q) {
    if (wasListening && skb.embryo) await releaseUnix(skb.embryo, true);
    else await skbDiscard(skb);
  }
}

async function unixRelease(sock: Socket): Promise<void> {
  const u = sock.sk as UnixSock | undefined;
  if (u) await releaseUnix(u, false);
}

// ---- options ------------------------------------------------------------------------------------

function unixSetsockopt(sock: Socket, level: number, optname: number, v: Uint8Array): void {
  if (level === SOL_SOCKET && optname === SO_PEEK_OFF) {
    if (v.length < 4) fail(EINVAL);
    sock.peekOff = new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
    return;
  }
  fail(level === SOL_SOCKET ? ENOPROTOOPT : EOPNOTSUPP);
}

function unixGetsockopt(sock: Socket, level: number, optname: number): Uint8Array {
  if (level === SOL_SOCKET && optname === SO_PEEK_OFF) return intBytes(sock.peekOff);
  fail(level === SOL_SOCKET ? ENOPROTOOPT : EOPNOTSUPP);
}

// ---- the ops tables and the family ----------------------------------------------------------------

function socketpairUnix(a: Socket, b: Socket, t: Task): void {
  const ua = usk(a), ub = usk(b);
  const creds = { pid: t.tgid, uid: t.cred.uid, gid: t.cred.gid };
  a.peerCred = { ...creds };
  b.peerCred = { ...creds };
  if (a.type === SOCK_DGRAM) {
    ua.peer = ub; ub.peer = ua;
    a.state = b.state = SS_CONNECTED;
  } else pair(ua, ub);
}

const common = {
  family: AF_UNIX,
  release: unixRelease,
  bind: unixBind,
  getname: unixGetname,
  poll: unixPoll,
  ioctl: unixIoctl,
  shutdown: unixShutdown,
  setsockopt: unixSetsockopt,
  getsockopt: unixGetsockopt,
  socketpair: socketpairUnix,
};

export const unixStreamOps: ProtoOps = {
  ...common,
  connect: unixStreamConnect,
  listen: unixListen,
  accept: unixAccept,
  sendmsg: unixStreamSendmsg,
  recvmsg: unixStreamRecvmsg,
};

export const unixSeqpacketOps: ProtoOps = {
  ...common,
  connect: unixStreamConnect,
  listen: unixListen,
  accept: unixAccept,
  sendmsg: unixSeqpacketSendmsg,
  recvmsg: unixSeqpacketRecvmsg,
};

export const unixDgramOps: ProtoOps = {
  ...common,
  connect: unixDgramConnect,
  listen: () => fail(EOPNOTSUPP),
  accept: () => fail(EOPNOTSUPP),
  sendmsg: unixDgramSendmsg,
  recvmsg: unixDgramRecvmsg,
};

/** unix_create. */
export const unixFamily: NetProtoFamily = {
  family: AF_UNIX,
  create(t, sock, protocol, kern) {
    if (protocol && protocol !== PF_UNIX) fail(EPROTONOSUPPORT);
    switch (sock.type) {
      case SOCK_STREAM: sock.ops = unixStreamOps; break;
      // SOCK_RAW is quietly a datagram socket for user callers (a historical BSD quirk).
      case SOCK_RAW: if (!kern) sock.type = SOCK_DGRAM; sock.ops = unixDgramOps; break;
      case SOCK_DGRAM: sock.ops = unixDgramOps; break;
      case SOCK_SEQPACKET: sock.ops = unixSeqpacketOps; break;
      default: fail(ESOCKTNOSUPPORT);
    }
    newUnixSock(sock, { pid: t.tgid, uid: t.cred.uid, gid: t.cred.gid });
  },
};

builtinFamilies.push(unixFamily);

