/*
 * AF_NETLINK, NETLINK_ROUTE (net/netlink/af_netlink.c, net/core/rtnetlink.c, devinet.c,
 * fib_frontend.c, neighbour.c): the message interface iproute2 and LKL's helpers configure the
 * stack through.
 *
 * A netlink socket talks to the kernel (port id 0). Each sendmsg carries one or more requests:
 * struct nlmsghdr {len, type, flags, seq, pid}, then the request's fixed header (ifinfomsg,
 * ifaddrmsg, rtmsg, ndmsg) and attributes (struct rtattr {len, type}, 4-byte aligned). Every
 * request is processed in order at once, and its answers are queued on the socket as datagrams:
 *   - a GET with NLM_F_DUMP answers with NLM_F_MULTI messages (several per datagram, about a
 *     page each) ending in NLMSG_DONE carrying a 0 status; dumps are never acked;
 *   - a GET without DUMP answers with one message;
 *   - every other request, and any request that failed, is answered by NLMSG_ERROR with the
 *     status (0 or -errno) when NLM_F_ACK was asked or the request failed. A success echoes only
 *     the request's header; an error echoes the whole request unless NETLINK_CAP_ACK is set
 *     (then flagged NLM_F_CAPPED).
 * Control messages (type < NLMSG_MIN_TYPE) and messages without NLM_F_REQUEST are only acked.
 *
 * Handled: RTM_GETLINK (dump or one by index/name), RTM_NEWLINK/RTM_SETLINK on an existing
 * device (flags under ifi_change, IFLA_MTU; creating devices is EOPNOTSUPP), RTM_GETADDR,
 * RTM_NEWADDR, RTM_DELADDR (IPv4; AF_INET6 requests and dumps are af_netlink6.ts's), RTM_GETROUTE
 * (dump of the main table, or a lookup),
 * RTM_NEWROUTE, RTM_DELROUTE (unicast routes of the main table), RTM_NEWNEIGH (IPv4 entries are
 * made permanent whatever state is asked), RTM_DELNEIGH (ENOENT when absent). Other types are
 * EOPNOTSUPP. Changes need CAP_NET_ADMIN (EPERM). Multicast groups may be joined, but no
 * notifications are sent to them.
 */
import { fail, KernelError } from '../../lib/errors.js';
import {
  EINVAL, EOPNOTSUPP, EPERM, ENODEV, EEXIST, EADDRNOTAVAIL, EAFNOSUPPORT, EPROTONOSUPPORT,
  ESOCKTNOSUPPORT, EADDRINUSE, ECONNREFUSED, EAGAIN, ENOPROTOOPT, EMSGSIZE, ENOENT,
} from '../../uapi/errno.js';
import {
  AF_NETLINK, AF_INET, AF_INET6, AF_UNSPEC, SOCK_RAW, SOCK_DGRAM, SOL_NETLINK, MSG_PEEK, MSG_DONTWAIT,
  MSG_TRUNC, SIOCINQ, SIOCOUTQ,
} from '../../uapi/socket.js';
import { POLLIN, POLLRDNORM, POLLOUT, POLLWRNORM, CAP_NET_ADMIN } from '../../uapi/misc.js';
import {
  NETLINK_ROUTE, MAX_LINKS, SOCKADDR_NL_SIZE, NLMSG_HDRLEN, NLMSG_ALIGN, NLMSG_ERROR, NLMSG_DONE,
  NLMSG_MIN_TYPE, NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE, NLM_F_EXCL,
  NLM_F_REPLACE, NLM_F_CAPPED, NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP, NETLINK_CAP_ACK,
  NETLINK_EXT_ACK, NETLINK_PKTINFO, NETLINK_NO_ENOBUFS, NETLINK_BROADCAST_ERROR,
  NETLINK_GET_STRICT_CHK, NLA_HDRLEN, RTA_ALIGN, NLA_TYPE_MASK,
  RTM_NEWLINK, RTM_GETLINK, RTM_SETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWROUTE,
  RTM_DELROUTE, RTM_GETROUTE, RTM_NEWNEIGH, RTM_DELNEIGH, IFINFOMSG_SIZE, IFADDRMSG_SIZE, RTMSG_SIZE, NDMSG_SIZE,
  IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, IFLA_MTU, IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_LINKMODE,
  IFLA_GROUP, IFLA_PROMISCUITY, IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES, IFLA_CARRIER, IFLA_MIN_MTU,
  IFLA_MAX_MTU, IFLA_STATS64, IF_OPER_UP, IF_OPER_DOWN, IF_OPER_UNKNOWN,
  IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS, IFA_F_PERMANENT,
  RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE, RT_TABLE_MAIN,
  RT_TABLE_UNSPEC, RT_TABLE_LOCAL, RTN_UNICAST, RTN_LOCAL, RT_SCOPE_HOST, RT_SCOPE_UNIVERSE,
  RT_SCOPE_LINK, NDA_DST, NDA_LLADDR,
} from '../../uapi/rtnetlink.js';
import { IFF_LOOPBACK, IFF_UP, IFF_LOWER_UP } from '../../uapi/if.js';
import type { Cred } from '../../kernel/index.js';
import { inetMakeMask } from '../header/index.js';
import { netOf, type NetNamespace, type NetDevice } from '../core/index.js';
import { arpTable } from '../arp/index.js';
import {
  Socket, sockWait, sockTimeo, intBytes, iovLen, type ProtoOps, type NetProtoFamily,
} from './socket.js';
import { devChangeFlags } from './af_inet_ioctl.js';
import { rtnetlink6 } from './af_netlink6.js';

/** About one page of messages per dump datagram (NLMSG_GOODSIZE). */
const NLMSG_GOODSIZE = 3776;

// ---- message building -----------------------------------------------------------------------------

/** Builds one netlink message: header, fixed part, attributes. */
export class MsgBuilder {
  private parts: Uint8Array[] = [];
  private len = NLMSG_HDRLEN;
  constructor(private type: number, private flags: number, private seq: number, private pid: number) {}

  fixed(b: Uint8Array): this { this.parts.push(b); this.len += NLMSG_ALIGN(b.length); return this; }

  attr(type: number, payload: Uint8Array): this {
    const total = NLA_HDRLEN + payload.length;
    const b = new Uint8Array(RTA_ALIGN(total));
    const dv = new DataView(b.buffer);
    dv.setUint16(0, total, true); dv.setUint16(2, type, true);
    b.set(payload, NLA_HDRLEN);
    this.parts.push(b); this.len += b.length;
    return this;
  }
  u8(type: number, v: number): this { return this.attr(type, new Uint8Array([v])); }
  u32(type: number, v: number): this { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return this.attr(type, b); }
  str(type: number, s: string): this {
    const b = new Uint8Array(s.length + 1);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
    return this.attr(type, b);
  }
  in4(type: number, a: number): this { return this.attr(type, new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff])); }

  build(): Uint8Array {
    const out = new Uint8Array(this.len);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, this.len, true); dv.setUint16(4, this.type, true); dv.setUint16(6, this.flags, true);
    dv.setUint32(8, this.seq >>> 0, true); dv.setUint32(12, this.pid >>> 0, true);
    let o = NLMSG_HDRLEN;
    for (const p of this.parts) { out.set(p, o); o += NLMSG_ALIGN(p.length); }
    return out;
  }
}

interface NlMsg { type: number; flags: number; seq: number; pid: number; body: Uint8Array; raw: Uint8Array }

/** Attributes after the fixed header: type → payload (the last one of a type wins). */
export function parseAttrs(b: Uint8Array, off: number): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  while (off + NLA_HDRLEN <= b.length) {
    const dv = new DataView(b.buffer, b.byteOffset + off, NLA_HDRLEN);
    const len = dv.getUint16(0, true), type = dv.getUint16(2, true) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > b.length) fail(EINVAL);
    m.set(type, b.subarray(off + NLA_HDRLEN, off + len));
    off += RTA_ALIGN(len);
  }
  return m;
}

const u32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset, b.length).getUint32(o, true);
const i32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset, b.length).getInt32(o, true);
function attrU32(a: Uint8Array | undefined): number | undefined { if (!a) return undefined; if (a.length < 4) fail(EINVAL); return u32At(a, 0); }
function attrIn4(a: Uint8Array | undefined): number | undefined {
  if (!a) return undefined;
  if (a.length < 4) fail(EINVAL);
  return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
}
function attrStr(a: Uint8Array | undefined): string | undefined {
  if (!a) return undefined;
  let s = '';
  for (const c of a) { if (!c) break; s += String.fromCharCode(c); }
  return s;
}

// ---- the socket ------------------------------------------------------------------------------------

class NetlinkSk {
  portid = 0;
  bound = false;
  groups = 0;
  dstPortid = 0;
  capAck = false;
  extAck = false;
  readonly flags = new Map<number, number>();
  readonly rx: Uint8Array[] = [];
  rxBytes = 0;
  constructor(readonly net: NetNamespace, readonly sock: Socket, readonly protocol: number) {}
}

interface NlTable { ports: Map<number, NetlinkSk> }
const tables = new WeakMap<NetNamespace, NlTable>();
function nlTable(net: NetNamespace): NlTable {
  let t = tables.get(net);
  if (!t) { t = { ports: new Map() }; tables.set(net, t); }
  return t;
}

function nlSk(sock: Socket): NetlinkSk { return sock.sk as NetlinkSk; }

/** netlink_autobind: the caller's tgid when free, else a negative number counting down. */
function autobind(sk: NetlinkSk, tgid: number): void {
  const t = nlTable(sk.net);
  let id = tgid > 0 && !t.ports.has(tgid) ? tgid : 0;
  if (!id) { let c = -4097; while (t.ports.has(c >>> 0)) c--; id = c >>> 0; }
  sk.portid = id; sk.bound = true;
  t.ports.set(id, sk);
}

function nlAddr(portid: number, groups: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_NL_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_NETLINK, true); dv.setUint32(4, portid >>> 0, true); dv.setUint32(8, groups >>> 0, true);
  return b;
}

export const netlinkFamily: NetProtoFamily = {
  family: AF_NETLINK,
  create(t, sock, protocol) {
    if (sock.type !== SOCK_RAW && sock.type !== SOCK_DGRAM) fail(ESOCKTNOSUPPORT);
    if (protocol < 0 || protocol >= MAX_LINKS) fail(EPROTONOSUPPORT);
    if (protocol !== NETLINK_ROUTE) fail(EPROTONOSUPPORT);
    void t;
    sock.sk = new NetlinkSk(netOf(sock.kernel), sock, protocol);
    sock.ops = netlinkOps;
  },
};

function callerCred(sock: Socket, t: { cred: Cred } | null): Cred | null {
  return t?.cred ?? sock.kernel.current?.cred ?? sock.file?.cred ?? null;
}

export const netlinkOps: ProtoOps = {
  family: AF_NETLINK,
  release(sock) {
    const sk = nlSk(sock);
    if (sk.bound && nlTable(sk.net).ports.get(sk.portid) === sk) nlTable(sk.net).ports.delete(sk.portid);
    sk.rx.length = 0; sk.rxBytes = 0;
  },
  bind(sock, addr, t) {
    const sk = nlSk(sock);
    if (addr.length < SOCKADDR_NL_SIZE) fail(EINVAL);
    const dv = new DataView(addr.buffer, addr.byteOffset, SOCKADDR_NL_SIZE);
    if (dv.getUint16(0, true) !== AF_NETLINK) fail(EINVAL);
    const pid = dv.getUint32(4, true), groups = dv.getUint32(8, true);
    if (sk.bound) {
      if (pid !== sk.portid) fail(EINVAL);
    } else if (pid) {
      if (nlTable(sk.net).ports.has(pid)) fail(EADDRINUSE);
      sk.portid = pid; sk.bound = true;
      nlTable(sk.net).ports.set(pid, sk);
    } else autobind(sk, t.tgid);
    sk.groups = groups;
  },
  connect(sock, addr, _flags, t) {
    const sk = nlSk(sock);
    if (addr.length < 2) fail(EINVAL);
    const fam = addr[0]! | (addr[1]! << 8);
    if (fam === AF_UNSPEC) { sk.dstPortid = 0; return; }
    if (addr.length < SOCKADDR_NL_SIZE || fam !== AF_NETLINK) fail(EINVAL);
    if (!sk.bound) autobind(sk, t.tgid);
    sk.dstPortid = u32At(addr, 4);
  },
  accept() { fail(EOPNOTSUPP); },
  listen() { fail(EOPNOTSUPP); },
  getname(sock, peer) {
    const sk = nlSk(sock);
    return peer ? nlAddr(sk.dstPortid, 0) : nlAddr(sk.portid, sk.groups);
  },
  poll(sock) {
    const sk = nlSk(sock);
    return (sk.rx.length ? POLLIN | POLLRDNORM : 0) | POLLOUT | POLLWRNORM;
  },
  ioctl(sock, cmd, arg) {
    const sk = nlSk(sock);
    if (cmd !== SIOCINQ && cmd !== SIOCOUTQ) fail(25 /* ENOTTY */);
    const v = cmd === SIOCINQ ? (sk.rx[0]?.length ?? 0) : 0;
    if (arg instanceof Uint8Array && arg.length >= 4) new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true);
    else if (typeof arg === 'object' && arg !== null) (arg as { value: number }).value = v;
    return 0;
  },
  shutdown() { fail(EOPNOTSUPP); }, // sock_no_shutdown
  setsockopt(sock, level, name, v) {
    const sk = nlSk(sock);
    if (level !== SOL_NETLINK) fail(ENOPROTOOPT);
    if (v.length < 4) fail(EINVAL);
    const val = u32At(v, 0);
    switch (name) {
      case NETLINK_ADD_MEMBERSHIP: case NETLINK_DROP_MEMBERSHIP:
        if (val > 31 || val === 0) { if (val === 0) return; }
        if (val >= 1 && val <= 32) {
          const bit = 1 << (val - 1);
          sk.groups = name === NETLINK_ADD_MEMBERSHIP ? (sk.groups | bit) >>> 0 : (sk.groups & ~bit) >>> 0;
        }
        return;
      case NETLINK_CAP_ACK: sk.capAck = val !== 0; return;
      case NETLINK_EXT_ACK: sk.extAck = val !== 0; return;
      case NETLINK_PKTINFO: case NETLINK_NO_ENOBUFS: case NETLINK_BROADCAST_ERROR: case NETLINK_GET_STRICT_CHK:
        sk.flags.set(name, val ? 1 : 0); return;
    }
    fail(ENOPROTOOPT);
  },
  getsockopt(sock, level, name) {
    const sk = nlSk(sock);
    if (level !== SOL_NETLINK) fail(ENOPROTOOPT);
    switch (name) {
      case NETLINK_CAP_ACK: return intBytes(sk.capAck ? 1 : 0);
      case NETLINK_EXT_ACK: return intBytes(sk.extAck ? 1 : 0);
      case NETLINK_PKTINFO: case NETLINK_NO_ENOBUFS: case NETLINK_BROADCAST_ERROR: case NETLINK_GET_STRICT_CHK:
        return intBytes(sk.flags.get(name) ?? 0);
    }
    fail(ENOPROTOOPT);
  },
  sendmsg(sock, msg, _flags, t) {
    const sk = nlSk(sock);
    let dst = sk.dstPortid;
    if (msg.name) {
      if (msg.name.length < SOCKADDR_NL_SIZE) fail(EINVAL);
      if ((msg.name[0]! | (msg.name[1]! << 8)) !== AF_NETLINK) fail(EINVAL);
      dst = u32At(msg.name, 4);
    }
    const len = iovLen(msg.iov);
    if (len > sock.sndbuf - 32) fail(EMSGSIZE);
    if (!sk.bound) autobind(sk, t?.tgid ?? sock.kernel.current?.tgid ?? 0);
    if (dst !== 0) {
      // Unicast to another user socket.
      const peer = nlTable(sk.net).ports.get(dst) ?? fail(ECONNREFUSED);
      const data = gather(msg.iov);
      queue(peer, data);
      return len;
    }
    rtnetlinkRcv(sk, gather(msg.iov), callerCred(sock, t));
    return len;
  },
  async recvmsg(sock, msg, flags) {
    const sk = nlSk(sock);
    const deadline = sockTimeo(sock, (flags & MSG_DONTWAIT) !== 0, false);
    for (;;) {
      const err = sock.takeError();
      if (err) fail(err);
      const d = sk.rx[0];
      if (d) {
        if (!(flags & MSG_PEEK)) { sk.rx.shift(); sk.rxBytes -= d.length; }
        let off = 0;
        for (const v of msg.iov) {
          if (off >= d.length) break;
          const n = Math.min(v.length, d.length - off);
          v.set(d.subarray(off, off + n)); off += n;
        }
        msg.name = nlAddr(0, 0);
        if (off < d.length) msg.flags |= MSG_TRUNC;
        return flags & MSG_TRUNC ? d.length : off;
      }
      if (deadline === 0) fail(EAGAIN);
      await sockWait(sock, deadline);
    }
  },
};

function gather(iov: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(iovLen(iov));
  let o = 0;
  for (const v of iov) { out.set(v, o); o += v.length; }
  return out;
}

function queue(sk: NetlinkSk, d: Uint8Array): void {
  sk.rx.push(d);
  sk.rxBytes += d.length;
  sk.sock.wake(POLLIN | POLLRDNORM);
}

/** Queue a list of messages as datagrams of about a page each. */
function queueMessages(sk: NetlinkSk, msgs: Uint8Array[]): void {
  let batch: Uint8Array[] = [], size = 0;
  const flush = () => {
    if (!batch.length) return;
    const out = new Uint8Array(size);
    let o = 0;
    for (const m of batch) { out.set(m, o); o += m.length; }
    queue(sk, out);
    batch = []; size = 0;
  };
  for (const m of msgs) {
    if (size && size + m.length > NLMSG_GOODSIZE) flush();
    batch.push(m); size += m.length;
  }
  flush();
}

// ---- rtnetlink ----------------------------------------------------------------------------------

/** netlink_rcv_skb: walk the requests, run each, ack as asked. */
function rtnetlinkRcv(sk: NetlinkSk, data: Uint8Array, cred: Cred | null): void {
  let off = 0;
  while (off + NLMSG_HDRLEN <= data.length) {
    const dv = new DataView(data.buffer, data.byteOffset + off, NLMSG_HDRLEN);
    const len = dv.getUint32(0, true);
    if (len < NLMSG_HDRLEN || off + len > data.length) return;
    const m: NlMsg = {
      type: dv.getUint16(4, true), flags: dv.getUint16(6, true), seq: dv.getUint32(8, true),
      pid: dv.getUint32(12, true), body: data.subarray(off + NLMSG_HDRLEN, off + len),
      raw: data.subarray(off, off + len),
    };
    let err = 0, dumped = false;
    if (m.flags & NLM_F_REQUEST && m.type >= NLMSG_MIN_TYPE) {
      try {
        dumped = rtnetlinkMsg(sk, m, cred);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        err = e.errno;
      }
    }
    if (!dumped && (err || m.flags & NLM_F_ACK)) ack(sk, m, err);
    off += NLMSG_ALIGN(len);
  }
}

/** netlink_ack: NLMSG_ERROR with the status and the request (only its header on success or with CAP_ACK). */
function ack(sk: NetlinkSk, m: NlMsg, err: number): void {
  const capped = err === 0 || sk.capAck;
  const echo = capped ? m.raw.subarray(0, NLMSG_HDRLEN) : m.raw;
  const body = new Uint8Array(4 + echo.length);
  new DataView(body.buffer).setInt32(0, -err, true);
  body.set(echo, 4);
  queue(sk, new MsgBuilder(NLMSG_ERROR, capped ? NLM_F_CAPPED : 0, m.seq, sk.portid).fixed(body).build());
}

function requireAdmin(cred: Cred | null): void {
  if (!cred || !cred.capable(CAP_NET_ADMIN)) fail(EPERM);
}

/** One request; returns true when it was a dump (answered with NLMSG_DONE, never acked). */
function rtnetlinkMsg(sk: NetlinkSk, m: NlMsg, cred: Cred | null): boolean {
  const net = sk.net;
  const dump = (m.flags & NLM_F_DUMP) === NLM_F_DUMP;
  switch (m.type) {
    case RTM_GETLINK: {
      if (dump) { finishDump(sk, m, [...net.devices.values()].map((d) => linkMsg(d, RTM_NEWLINK, NLM_F_MULTI, m.seq, sk.portid))); return true; }
      if (m.body.length < IFINFOMSG_SIZE) fail(EINVAL);
      const dev = findLink(net, m.body);
      queue(sk, linkMsg(dev, RTM_NEWLINK, 0, m.seq, sk.portid));
      return false;
    }
    case RTM_NEWLINK: case RTM_SETLINK: {
      requireAdmin(cred);
      if (m.body.length < IFINFOMSG_SIZE) fail(EINVAL);
      let dev: NetDevice;
      try { dev = findLink(net, m.body); } catch (e) {
        if (m.type === RTM_NEWLINK && m.flags & NLM_F_CREATE) fail(EOPNOTSUPP);
        throw e;
      }
      if (m.type === RTM_NEWLINK && m.flags & NLM_F_EXCL) fail(EEXIST);
      const attrs = parseAttrs(m.body, IFINFOMSG_SIZE);
      const mtu = attrU32(attrs.get(IFLA_MTU));
      if (mtu !== undefined && mtu !== dev.mtu) net.devSetMtu(dev, mtu);
      const ifiFlags = u32At(m.body, 8), change = u32At(m.body, 12);
      if (change || ifiFlags) {
        // do_setlink: ifi_change selects the bits to change (0: all, for old programs).
        const mask = change || 0xffffffff;
        devChangeFlags(net, dev, ((ifiFlags & mask) | (dev.flags & ~mask)) >>> 0);
      }
      return false;
    }
    case RTM_GETADDR: {
      if (!dump) fail(EOPNOTSUPP);
      const fam = m.body.length >= 1 ? m.body[0]! : AF_UNSPEC;
      const msgs = fam === AF_INET || fam === AF_UNSPEC
        ? net.ifaddrs.map((a) => addrMsg(a, RTM_NEWADDR, NLM_F_MULTI, m.seq, sk.portid)) : [];
      if (fam === AF_INET6 || fam === AF_UNSPEC) msgs.push(...v6Dump(net, m, sk.portid));
      finishDump(sk, m, msgs);
      return true;
    }
    case RTM_NEWADDR: case RTM_DELADDR: {
      requireAdmin(cred);
      if (m.body.length < IFADDRMSG_SIZE) fail(EINVAL);
      if (m.body[0] === AF_INET6) { rtnetlink6(net, m, sk.portid); return false; }
      if (m.body[0] !== AF_INET) fail(EAFNOSUPPORT);
      const plen = m.body[1]!;
      const dev = net.devGetByIndex(u32At(m.body, 4)) ?? fail(ENODEV);
      const attrs = parseAttrs(m.body, IFADDRMSG_SIZE);
      const local = attrIn4(attrs.get(IFA_LOCAL)) ?? attrIn4(attrs.get(IFA_ADDRESS));
      if (m.type === RTM_DELADDR) {
        const cand = net.addrsOf(dev).find((a) => (local === undefined || a.local === local) && (!plen || a.prefixLen === plen));
        if (!cand) fail(EADDRNOTAVAIL);
        net.inetAddrDel(dev, cand.local, cand.prefixLen);
        return false;
      }
      if (local === undefined) fail(EINVAL);
      if (plen > 32) fail(EINVAL);
      const existing = net.addrsOf(dev).find((a) => a.local === local);
      if (existing) {
        if (m.flags & NLM_F_EXCL || !(m.flags & NLM_F_REPLACE)) fail(EEXIST);
        net.inetAddrDel(dev, existing.local, existing.prefixLen);
      }
      // Unlike SIOCSIFADDR, rtnetlink sets a broadcast address only when asked ("brd").
      net.inetAddrAdd(dev, local, plen, attrIn4(attrs.get(IFA_BROADCAST)) ?? 0);
      return false;
    }
    case RTM_GETROUTE: {
      if (dump) {
        const fam = m.body.length >= 1 ? m.body[0]! : AF_UNSPEC;
        const msgs = fam === AF_INET || fam === AF_UNSPEC
          ? net.fib.routes.map((r) => routeMsg(r, m.seq, sk.portid, NLM_F_MULTI)) : [];
        if (fam === AF_INET6 || fam === AF_UNSPEC) msgs.push(...v6Dump(net, m, sk.portid));
        finishDump(sk, m, msgs);
        return true;
      }
      if (m.body.length < RTMSG_SIZE) fail(EINVAL);
      const attrs = parseAttrs(m.body, RTMSG_SIZE);
      const dst = attrIn4(attrs.get(RTA_DST)) ?? 0;
      const rt = net.routeOutput(dst, 0, attrU32(attrs.get(RTA_OIF)) ?? 0);
      const b = new MsgBuilder(RTM_NEWROUTE, 0, m.seq, sk.portid);
      b.fixed(rtmsgBytes(32, RT_TABLE_MAIN, rt.route?.protocol ?? 0, RT_SCOPE_UNIVERSE, rt.type === 2 ? RTN_LOCAL : rt.type));
      b.u32(RTA_TABLE, rt.type === 2 ? RT_TABLE_LOCAL : RT_TABLE_MAIN).in4(RTA_DST, dst).u32(RTA_OIF, rt.dev.ifindex);
      if (rt.nexthop !== dst) b.in4(RTA_GATEWAY, rt.nexthop);
      b.in4(RTA_PREFSRC, rt.saddr);
      queue(sk, b.build());
      return false;
    }
    case RTM_NEWROUTE: case RTM_DELROUTE: {
      requireAdmin(cred);
      if (m.body.length < RTMSG_SIZE) fail(EINVAL);
      if (m.body[0] === AF_INET6) { rtnetlink6(net, m, sk.portid); return false; }
      if (m.body[0] !== AF_INET) fail(EAFNOSUPPORT);
      const plen = m.body[1]!, table = m.body[4]!, proto = m.body[5]!, type = m.body[7]!;
      if (plen > 32) fail(EINVAL);
      const attrs = parseAttrs(m.body, RTMSG_SIZE);
      const tableId = attrU32(attrs.get(RTA_TABLE)) ?? table;
      if (tableId !== RT_TABLE_MAIN && tableId !== RT_TABLE_UNSPEC) fail(EOPNOTSUPP);
      const dst = attrIn4(attrs.get(RTA_DST)) ?? 0;
      if ((dst & ~inetMakeMask(plen)) >>> 0) fail(EINVAL);
      const r: { dst: number; prefixLen: number; gateway?: number; oif?: number; metric?: number; prefsrc?: number; protocol?: number } = { dst, prefixLen: plen };
      const gw = attrIn4(attrs.get(RTA_GATEWAY)); if (gw) r.gateway = gw;
      const oif = attrU32(attrs.get(RTA_OIF)); if (oif) r.oif = oif;
      const prio = attrU32(attrs.get(RTA_PRIORITY)); if (prio !== undefined) r.metric = prio;
      if (m.type === RTM_DELROUTE) { net.routeDel(r); return false; }
      if (type !== RTN_UNICAST) fail(EOPNOTSUPP);
      if (!(m.flags & NLM_F_CREATE)) fail(ENOENT);
      const src = attrIn4(attrs.get(RTA_PREFSRC)); if (src) r.prefsrc = src;
      if (proto) r.protocol = proto;
      net.routeAdd(r);
      return false;
    }
    case RTM_DELNEIGH: {
      requireAdmin(cred);
      if (m.body.length < NDMSG_SIZE) fail(EINVAL);
      if (m.body[0] !== AF_INET) fail(EAFNOSUPPORT);
      const dev = net.devGetByIndex(i32At(m.body, 4)) ?? fail(ENODEV);
      const dst = attrIn4(parseAttrs(m.body, NDMSG_SIZE).get(NDA_DST));
      if (dst === undefined) fail(EINVAL);
      if (!arpTable(net).delete(dev, dst)) fail(ENOENT);
      return false;
    }
    case RTM_NEWNEIGH: {
      requireAdmin(cred);
      if (m.body.length < NDMSG_SIZE) fail(EINVAL);
      if (m.body[0] !== AF_INET) fail(EAFNOSUPPORT);
      const dev = net.devGetByIndex(i32At(m.body, 4)) ?? fail(ENODEV);
      const attrs = parseAttrs(m.body, NDMSG_SIZE);
      const dst = attrIn4(attrs.get(NDA_DST));
      if (dst === undefined) fail(EINVAL);
      const ll = attrs.get(NDA_LLADDR);
      if (!ll || ll.length < dev.addrLen) fail(EINVAL);
      arpTable(net).addPermanent(dev, dst, ll.slice(0, dev.addrLen));
      return false;
    }
  }
  fail(EOPNOTSUPP);
}

/** The IPv6 part of an address or route dump (nothing when the namespace has no IPv6). */
function v6Dump(net: NetNamespace, m: NlMsg, pid: number): Uint8Array[] {
  try { return rtnetlink6(net, m, pid) ?? []; } catch { return []; }
}

function finishDump(sk: NetlinkSk, m: NlMsg, msgs: Uint8Array[]): void {
  msgs.push(new MsgBuilder(NLMSG_DONE, NLM_F_MULTI, m.seq, sk.portid).fixed(new Uint8Array(4)).build());
  queueMessages(sk, msgs);
}

/** The device an ifinfomsg names: by ifi_index, else by IFLA_IFNAME; ENODEV. */
function findLink(net: NetNamespace, body: Uint8Array): NetDevice {
  const index = i32At(body, 4);
  if (index) return net.devGetByIndex(index) ?? fail(ENODEV);
  const name = attrStr(parseAttrs(body, IFINFOMSG_SIZE).get(IFLA_IFNAME));
  if (name === undefined) fail(EINVAL);
  return net.devGetByName(name) ?? fail(ENODEV);
}

/** rtnl_fill_ifinfo */
function linkMsg(dev: NetDevice, type: number, flags: number, seq: number, pid: number): Uint8Array {
  const hdr = new Uint8Array(IFINFOMSG_SIZE);
  const dv = new DataView(hdr.buffer);
  dv.setUint16(2, dev.type, true);
  dv.setInt32(4, dev.ifindex, true);
  let f = dev.flags;
  if (dev.running) f |= IFF_LOWER_UP;
  dv.setUint32(8, f >>> 0, true);
  const b = new MsgBuilder(type, flags, seq, pid).fixed(hdr);
  const oper = dev.flags & IFF_LOOPBACK ? (dev.isUp ? IF_OPER_UNKNOWN : IF_OPER_DOWN) : dev.running ? IF_OPER_UP : IF_OPER_DOWN;
  b.str(IFLA_IFNAME, dev.name).u32(IFLA_TXQLEN, dev.txQueueLen).u8(IFLA_OPERSTATE, oper).u8(IFLA_LINKMODE, 0)
    .u32(IFLA_MTU, dev.mtu).u32(IFLA_MIN_MTU, dev.minMtu).u32(IFLA_MAX_MTU, dev.maxMtu).u32(IFLA_GROUP, 0)
    .u32(IFLA_PROMISCUITY, 0).u32(IFLA_NUM_TX_QUEUES, 1).u32(IFLA_NUM_RX_QUEUES, 1)
    .u8(IFLA_CARRIER, dev.carrier ? 1 : 0);
  if (dev.addrLen) b.attr(IFLA_ADDRESS, dev.mac.subarray(0, dev.addrLen)).attr(IFLA_BROADCAST, dev.broadcast.subarray(0, dev.addrLen));
  // struct rtnl_link_stats64: 24 u64 counters, the first ten of which we keep.
  const st = new Uint8Array(24 * 8);
  const sv = new DataView(st.buffer);
  const s = dev.stats;
  [s.rxPackets, s.txPackets, s.rxBytes, s.txBytes, s.rxErrors, s.txErrors, s.rxDropped, s.txDropped, s.multicast, s.collisions]
    .forEach((v, i) => sv.setBigUint64(i * 8, BigInt(v), true));
  b.attr(IFLA_STATS64, st);
  void IFF_UP;
  return b.build();
}

/** inet_fill_ifaddr */
function addrMsg(a: { dev: NetDevice; local: number; prefixLen: number; broadcast: number; label: string }, type: number, flags: number, seq: number, pid: number): Uint8Array {
  const hdr = new Uint8Array(IFADDRMSG_SIZE);
  hdr[0] = AF_INET; hdr[1] = a.prefixLen; hdr[2] = IFA_F_PERMANENT;
  // Scopes are not stored: 127/8 is host scope (as inetdev gives lo), the rest universe.
  hdr[3] = (a.local >>> 24) === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  new DataView(hdr.buffer).setUint32(4, a.dev.ifindex, true);
  const b = new MsgBuilder(type, flags, seq, pid).fixed(hdr);
  b.in4(IFA_ADDRESS, a.local).in4(IFA_LOCAL, a.local);
  if (a.broadcast) b.in4(IFA_BROADCAST, a.broadcast);
  b.str(IFA_LABEL, a.label).u32(IFA_FLAGS, IFA_F_PERMANENT);
  const ci = new Uint8Array(16);
  const cv = new DataView(ci.buffer);
  cv.setUint32(0, 0xffffffff, true); cv.setUint32(4, 0xffffffff, true);
  b.attr(IFA_CACHEINFO, ci);
  return b.build();
}

function rtmsgBytes(dstLen: number, table: number, proto: number, scope: number, type: number): Uint8Array {
  const h = new Uint8Array(RTMSG_SIZE);
  h[0] = AF_INET; h[1] = dstLen; h[4] = table; h[5] = proto; h[6] = scope; h[7] = type;
  return h;
}

/** fib_dump_info for a main-table route. */
function routeMsg(r: { dst: number; prefixLen: number; gateway: number; dev: NetDevice; metric: number; prefsrc: number; protocol: number; scope: number }, seq: number, pid: number, flags: number): Uint8Array {
  const b = new MsgBuilder(RTM_NEWROUTE, flags, seq, pid)
    .fixed(rtmsgBytes(r.prefixLen, RT_TABLE_MAIN, r.protocol, r.gateway ? RT_SCOPE_UNIVERSE : r.scope || RT_SCOPE_LINK, RTN_UNICAST));
  b.u32(RTA_TABLE, RT_TABLE_MAIN);
  if (r.prefixLen) b.in4(RTA_DST, r.dst);
  if (r.metric) b.u32(RTA_PRIORITY, r.metric);
  if (r.prefsrc) b.in4(RTA_PREFSRC, r.prefsrc);
  if (r.gateway) b.in4(RTA_GATEWAY, r.gateway);
  b.u32(RTA_OIF, r.dev.ifindex);
  return b.build();
}

