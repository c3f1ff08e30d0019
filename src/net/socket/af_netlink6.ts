/*
 * rtnetlink for AF_INET6 (net/ipv6/addrconf.c's inet6_rtm_* and route.c's inet6_rtm_*): the
 * addresses and routes of src/net/ipv6 as `ip -6 addr` and `ip -6 route` see and change them.
 *
 *   RTM_NEWADDR   IFA_LOCAL or IFA_ADDRESS (16 bytes), prefix length <= 128 (EINVAL), ENODEV for
 *                 an unknown index, EEXIST when present (NLM_F_EXCL, or without NLM_F_REPLACE).
 *                 IFA_FLAGS (or ifa_flags) may ask for IFA_F_NODAD and IFA_F_NOPREFIXROUTE; the
 *                 address is permanent and starts tentative while DAD runs, as on Linux: a caller
 *                 that needs it usable polls RTM_GETADDR until IFA_F_TENTATIVE clears.
 *   RTM_DELADDR   EADDRNOTAVAIL when absent.
 *   RTM_GETADDR   dump: ifaddrmsg {AF_INET6, plen, flags, scope, index}, IFA_ADDRESS,
 *                 IFA_CACHEINFO, IFA_FLAGS.
 *   RTM_NEWROUTE  RTA_DST/RTA_GATEWAY/RTA_OIF/RTA_PRIORITY (default metric 1024). A link-local
 *                 gateway needs RTA_OIF (EINVAL, "Egress device not specified"); another gateway
 *                 must be on a connected prefix (EHOSTUNREACH, "No route to host"); EEXIST.
 *   RTM_DELROUTE  ESRCH when nothing matches.
 *   RTM_GETROUTE  dump of the table.
 * Each of these was checked against the host's `ip -6` answers.
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENODEV, EEXIST, EHOSTUNREACH, EOPNOTSUPP } from '../../uapi/errno.js';
import {
  NLM_F_MULTI, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_CREATE, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWROUTE,
  RTM_DELROUTE, RTM_GETROUTE, IFADDRMSG_SIZE, RTMSG_SIZE, IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_FLAGS, RTA_DST,
  RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE, RT_TABLE_MAIN, RT_TABLE_UNSPEC, RTN_UNICAST, RT_SCOPE_UNIVERSE,
  RTPROT_BOOT,
} from '../../uapi/rtnetlink.js';
import { AF_INET6 } from '../../uapi/socket.js';
import type { NetNamespace } from '../core/index.js';
import {
  ipv6State, IFA_F_NODAD, IFA_F_PERMANENT, IP6_RT_PRIO_USER, a6isLinkLocal, a6prefixEqual, a6equal,
  type Inet6IfAddr, type Route6,
} from '../ipv6/index.js';
import { MsgBuilder, parseAttrs } from './af_netlink.js';

const IFA_F_NOPREFIXROUTE = 0x200;

const u32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset, b.length).getUint32(o, true);

function attr16(a: Uint8Array | undefined): Uint8Array | undefined {
  if (!a) return undefined;
  if (a.length < 16) fail(EINVAL);
  return a.slice(0, 16);
}
function attrU32(a: Uint8Array | undefined): number | undefined {
  if (!a) return undefined;
  if (a.length < 4) fail(EINVAL);
  return u32At(a, 0);
}

interface Req { type: number; flags: number; seq: number; body: Uint8Array }

/** inet6_fill_ifaddr */
export function addr6Msg(a: Inet6IfAddr, type: number, flags: number, seq: number, pid: number, now: number): Uint8Array {
  const hdr = new Uint8Array(IFADDRMSG_SIZE);
  hdr[0] = AF_INET6; hdr[1] = a.prefixLen; hdr[2] = a.flags & 0xff; hdr[3] = a.scope;
  new DataView(hdr.buffer).setUint32(4, a.dev.ifindex, true);
  const b = new MsgBuilder(type, flags, seq, pid).fixed(hdr);
  b.attr(IFA_ADDRESS, a.addr);
  // struct ifa_cacheinfo {ifa_prefered, ifa_valid, cstamp, tstamp} (lifetimes left, in seconds).
  const ci = new Uint8Array(16);
  const cv = new DataView(ci.buffer);
  const left = (lft: number) => (lft === Infinity ? 0xffffffff : Math.max(0, Math.floor(lft - (now - a.tstamp) / 1e9)));
  cv.setUint32(0, left(a.preferredLft), true); cv.setUint32(4, left(a.validLft), true);
  cv.setUint32(8, Math.floor(a.tstamp / 1e7), true); cv.setUint32(12, Math.floor(a.tstamp / 1e7), true);
  b.attr(IFA_CACHEINFO, ci);
  b.u32(IFA_FLAGS, a.flags);
  return b.build();
}

function route6Msg(r: Route6, seq: number, pid: number, flags: number): Uint8Array {
  const h = new Uint8Array(RTMSG_SIZE);
  h[0] = AF_INET6; h[1] = r.prefixLen; h[4] = RT_TABLE_MAIN; h[5] = r.protocol; h[6] = RT_SCOPE_UNIVERSE; h[7] = RTN_UNICAST;
  const b = new MsgBuilder(RTM_NEWROUTE, flags, seq, pid).fixed(h);
  b.u32(RTA_TABLE, RT_TABLE_MAIN);
  if (r.prefixLen) b.attr(RTA_DST, r.dst);
  b.u32(RTA_PRIORITY, r.metric);
  if (r.gateway) b.attr(RTA_GATEWAY, r.gateway);
  b.u32(RTA_OIF, r.dev.ifindex);
  return b.build();
}

/**
 * One AF_INET6 request. Returns the dump's messages for a GET (the caller ends the dump), or
 * null for a change (the caller acks).
 */
export function rtnetlink6(net: NetNamespace, m: Req, pid: number): Uint8Array[] | null {
  const st = ipv6State(net);
  switch (m.type) {
    case RTM_GETADDR:
      return st.addrs.map((a) => addr6Msg(a, RTM_NEWADDR, NLM_F_MULTI, m.seq, pid, net.now()));
    case RTM_GETROUTE:
      return st.routes.map((r) => route6Msg(r, m.seq, pid, NLM_F_MULTI));
    case RTM_NEWADDR: case RTM_DELADDR: {
      if (m.body.length < IFADDRMSG_SIZE) fail(EINVAL);
      const plen = m.body[1]!;
      const attrs = parseAttrs(m.body, IFADDRMSG_SIZE);
      const addr = attr16(attrs.get(IFA_LOCAL)) ?? attr16(attrs.get(IFA_ADDRESS));
      if (!addr) fail(EINVAL);
      if (plen > 128) fail(EINVAL);
      const dev = net.devGetByIndex(u32At(m.body, 4)) ?? fail(ENODEV);
      if (m.type === RTM_DELADDR) { st.addrDel(dev, addr, plen || undefined); return null; }
      const flags = attrU32(attrs.get(IFA_FLAGS)) ?? m.body[2]!;
      const existing = st.findAddr(addr, dev);
      if (existing) {
        if (m.flags & NLM_F_EXCL || !(m.flags & NLM_F_REPLACE)) fail(EEXIST);
        st.addrDel(dev, addr);
      }
      st.addrAdd(dev, addr, plen, {
        flags: IFA_F_PERMANENT | (flags & IFA_F_NODAD), noPrefixRoute: (flags & IFA_F_NOPREFIXROUTE) !== 0,
      });
      return null;
    }
    case RTM_NEWROUTE: case RTM_DELROUTE: {
      if (m.body.length < RTMSG_SIZE) fail(EINVAL);
      const plen = m.body[1]!, table = m.body[4]!, proto = m.body[5]!, type = m.body[7]!;
      if (plen > 128) fail(EINVAL);
      const attrs = parseAttrs(m.body, RTMSG_SIZE);
      const tableId = attrU32(attrs.get(RTA_TABLE)) ?? table;
      if (tableId !== RT_TABLE_MAIN && tableId !== RT_TABLE_UNSPEC) fail(EOPNOTSUPP);
      const dst = attr16(attrs.get(RTA_DST)) ?? new Uint8Array(16);
      const gw = attr16(attrs.get(RTA_GATEWAY)) ?? null;
      const oif = attrU32(attrs.get(RTA_OIF)) ?? 0;
      const prio = attrU32(attrs.get(RTA_PRIORITY));
      if (m.type === RTM_DELROUTE) {
        st.routeDel((r) => r.prefixLen === plen && a6prefixEqual(r.dst, dst, plen) &&
          (!gw || (r.gateway !== null && a6equal(r.gateway, gw))) && (!oif || r.dev.ifindex === oif) &&
          (prio === undefined || r.metric === prio));
        return null;
      }
      if (type !== RTN_UNICAST) fail(EOPNOTSUPP);
      if (!(m.flags & NLM_F_CREATE)) fail(2 /* ENOENT */);
      let dev = oif ? net.devGetByIndex(oif) ?? fail(ENODEV) : null;
      if (gw) {
        if (a6isLinkLocal(gw)) {
          if (!dev) fail(EINVAL);
        } else {
          const onlink = st.routes.find((r) => !r.gateway && (!dev || r.dev === dev) && a6prefixEqual(r.dst, gw, r.prefixLen) &&
            r.dev.isUp);
          if (!onlink) fail(EHOSTUNREACH);
          dev = onlink.dev;
        }
      }
      if (!dev) fail(ENODEV);
      st.routeAdd({
        dst, prefixLen: plen, gateway: gw, dev, metric: prio ?? IP6_RT_PRIO_USER, protocol: proto || RTPROT_BOOT,
        expires: Infinity,
      });
      return null;
    }
  }
  fail(EOPNOTSUPP);
}
