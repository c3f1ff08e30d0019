/*
 * IPv6 input (ip6_input.c, exthdrs.c): validation, then the walk along the extension header
 * chain to the upper protocol.
 *
 * Validation before anything is read: at least 40 bytes, version 6, a payload length that fits
 * what arrived (link padding beyond is trimmed; a zero length means a jumbogram, which we do
 * not take), no multicast or IPv4-mapped source, no loopback address from outside lo, no
 * multicast destination of scope 0 or of interface-local scope from outside lo. The packet is
 * ours when its destination is one of our addresses or a group the device has joined; a host
 * (forwarding = 0) drops everything else. A tentative address receives nothing but Neighbor
 * Discovery (RFC 4862 5.4).
 *
 * The walk: hop-by-hop options only right after the fixed header; options are TLVs whose
 * unknown types are skipped, or dropped with or without a parameter problem, as the two high
 * bits of the type say (RFC 8200 4.2); a routing header with segments left is refused (type 0
 * is deprecated, RFC 5095, and a host routes nothing); fragments go to reassembly; no next
 * header (59) ends the packet; an unknown next header is answered with parameter problem
 * "unrecognized next header" pointing at the byte that named it.
 */
import {
  IPV6_HLEN, NEXTHDR_HOP, NEXTHDR_ROUTING, NEXTHDR_FRAGMENT, NEXTHDR_DEST, NEXTHDR_NONE, NEXTHDR_ICMP,
  ICMPV6_PARAMPROB, parseIpv6Header,
} from '../header/index.js';
import { PACKET_OTHERHOST, IFF_LOOPBACK, type NetDevice, type SkBuff } from '../core/index.js';
import {
  a6isMulticast, a6isV4Mapped, a6isLoopback, a6mcScope,
} from './addr.js';
import { IFA_F_TENTATIVE, type Ipv6State, type Ip6RcvInfo } from './state.js';
import type { Frag6Table } from './reassembly.js';

export const ICMPV6_HDR_FIELD = 0;
export const ICMPV6_UNK_NEXTHDR = 1;
export const ICMPV6_UNK_OPTION = 2;

const NDISC_NS = 135, NDISC_NA = 136;

export interface Ip6InputCtx {
  st: Ipv6State;
  frags: Frag6Table;
  icmpSend(skb: SkBuff, type: number, code: number, info: number): void;
}

/** ipv6_rcv: never throws on malformed input. */
export function ipv6Rcv(c: Ip6InputCtx, skb: SkBuff, dev: NetDevice): void {
  const st = c.st, net = st.net;
  const idev = st.idev(dev);
  net.count('Ip6InReceives');
  if (!idev || skb.pktType === PACKET_OTHERHOST) { net.count('Ip6InDiscards'); return; }
  const b = skb.buf, off = skb.data;
  if (skb.len < IPV6_HLEN) { net.count('Ip6InHdrErrors'); return; }
  const h = parseIpv6Header(b.subarray(0, skb.tail), off)!;
  if (h.version !== 6) { net.count('Ip6InHdrErrors'); return; }
  if (h.payloadLen === 0) { net.count('Ip6InHdrErrors'); return; } // jumbogram or empty: not supported
  if (h.payloadLen + IPV6_HLEN > skb.len) { net.count('Ip6InTruncatedPkts'); return; }
  skb.trim(h.payloadLen + IPV6_HLEN);
  skb.networkHeader = off;
  const lo = (dev.flags & IFF_LOOPBACK) !== 0;
  if (a6isMulticast(h.saddr) || a6isV4Mapped(h.saddr) || a6isV4Mapped(h.daddr)) { net.count('Ip6InAddrErrors'); return; }
  if (!lo && (a6isLoopback(h.saddr) || a6isLoopback(h.daddr))) { net.count('Ip6InAddrErrors'); return; }
  if (a6isMulticast(h.daddr) && (a6mcScope(h.daddr) === 0 || (a6mcScope(h.daddr) === 1 && !lo))) {
    net.count('Ip6InAddrErrors'); return;
  }

  // Is it for us?
  let tentative = false;
  if (a6isMulticast(h.daddr)) {
    if (!st.mcMember(dev, h.daddr)) { net.count('Ip6InDiscards'); return; }
    net.count('Ip6InMcastPkts');
  } else if (!st.isLocal(h.daddr, dev)) {
    const t = st.findAddr(h.daddr, lo ? null : dev);
    if (!t || !(t.flags & IFA_F_TENTATIVE)) { net.count('Ip6InAddrErrors'); return; }
    tentative = true;
  }
  ip6Deliver(c, skb, off + IPV6_HLEN, h.nextHeader, off + 6, dev, tentative, true);
}

/**
 * ip6_input_finish: walk from `pos` (absolute offset of the header named `nexthdr`, which was
 * read from byte `nhoff`) to the upper protocol.
 */
function ip6Deliver(c: Ip6InputCtx, skb: SkBuff, pos: number, nexthdr: number, nhoff: number, dev: NetDevice,
  tentative: boolean, first: boolean): void {
  const st = c.st, net = st.net;
  const nh = skb.networkHeader;
  const b = skb.buf;
  const daddrMc = a6isMulticast(b.subarray(nh + 24, nh + 40));
  for (let guard = 0; guard < 64; guard++) {
    switch (nexthdr) {
      case NEXTHDR_HOP: {
        if (!first) { paramProb(c, skb, ICMPV6_UNK_NEXTHDR, nhoff - nh); net.count('Ip6InUnknownProtos'); return; }
        const len = extLen(skb, pos);
        if (len < 0 || !parseTlvs(c, skb, pos, len, daddrMc, true)) { net.count('Ip6InHdrErrors'); return; }
        nhoff = pos; nexthdr = b[pos]!; pos += len;
        break;
      }
      case NEXTHDR_DEST: {
        const len = extLen(skb, pos);
        if (len < 0 || !parseTlvs(c, skb, pos, len, daddrMc, false)) { net.count('Ip6InHdrErrors'); return; }
        nhoff = pos; nexthdr = b[pos]!; pos += len;
        break;
      }
      case NEXTHDR_ROUTING: {
        const len = extLen(skb, pos);
        if (len < 0) { net.count('Ip6InHdrErrors'); return; }
        const segLeft = b[pos + 3]!;
        if (segLeft !== 0) {
          // We forward nothing: any type with segments left is "unrecognized" for a host, and
          // type 0 is deprecated everywhere.
          paramProb(c, skb, ICMPV6_HDR_FIELD, pos + 2 - nh);
          net.count('Ip6InHdrErrors');
          return;
        }
        nhoff = pos; nexthdr = b[pos]!; pos += len;
        break;
      }
      case NEXTHDR_FRAGMENT: {
        if (skb.tail - pos < 8) { net.count('Ip6InHdrErrors'); return; }
        const offw = (b[pos + 2]! << 8) | b[pos + 3]!;
        const offset = offw & 0xfff8, more = offw & 1;
        const dlen = skb.tail - pos - 8;
        if (offset === 0 && !more) { nhoff = pos; nexthdr = b[pos]!; pos += 8; break; } // atomic fragment
        if (more && dlen & 7) { paramProb(c, skb, ICMPV6_HDR_FIELD, 4); net.count('Ip6InHdrErrors'); return; }
        if (offset + dlen > 65535) { paramProb(c, skb, ICMPV6_HDR_FIELD, pos + 2 - nh); net.count('Ip6InHdrErrors'); return; }
        const r = c.frags.add(skb, pos, nhoff);
        if (!r) return;
        skb = r.skb;
        ip6Deliver(c, skb, r.nextOff, r.nexthdr, r.nhoff, dev, tentative, false);
        return;
      }
      case NEXTHDR_NONE:
        return;
      default: {
        if (tentative && !(nexthdr === NEXTHDR_ICMP && skb.tail - pos >= 1 && (b[pos] === NDISC_NS || b[pos] === NDISC_NA))) {
          net.count('Ip6InAddrErrors'); return;
        }
        const p = st.protos.get(nexthdr);
        if (!p) {
          net.count('Ip6InUnknownProtos');
          paramProb(c, skb, ICMPV6_UNK_NEXTHDR, nhoff - nh);
          return;
        }
        skb.pull(pos - skb.data);
        skb.transportHeader = pos;
        net.count('Ip6InDelivers');
        const hdr = parseIpv6Header(skb.buf, nh)!;
        const info: Ip6RcvInfo = {
          saddr: hdr.saddr.slice(), daddr: hdr.daddr.slice(), hopLimit: hdr.hopLimit, trafficClass: hdr.trafficClass, dev,
        };
        p.handler(skb, info);
        return;
      }
    }
    first = false;
  }
}

/** The byte length of the extension header at pos ((hdrlen + 1) * 8), -1 when it overruns. */
function extLen(skb: SkBuff, pos: number): number {
  if (skb.tail - pos < 8) return -1;
  const len = (skb.buf[pos + 1]! + 1) * 8;
  return pos + len > skb.tail ? -1 : len;
}

/**
 * ip6_parse_tlv: Pad1, PadN, router alert (hop-by-hop) are known; an unknown option is handled
 * by its type's two high bits: skip, drop, drop with parameter problem, or drop with parameter
 * problem unless the destination was multicast. False: drop the packet.
 */
function parseTlvs(c: Ip6InputCtx, skb: SkBuff, pos: number, len: number, daddrMc: boolean, hop: boolean): boolean {
  const b = skb.buf, nh = skb.networkHeader;
  let i = pos + 2;
  const end = pos + len;
  let padRun = 0;
  while (i < end) {
    const t = b[i]!;
    if (t === 0) { i++; if (++padRun > 7) return false; continue; }
    if (i + 2 > end) return false;
    const olen = b[i + 1]!;
    if (i + 2 + olen > end) return false;
    if (t === 1) {
      padRun += olen + 2;
      if (padRun > 7) return false; // Linux: more than 7 bytes of padding is suspicious
      i += 2 + olen;
      continue;
    }
    padRun = 0;
    if (hop && t === 5 && olen === 2) { i += 4; continue; } // router alert
    switch (t >> 6) {
      case 0: break;
      case 1: return false;
      case 3: if (daddrMc) return false;
        paramProb(c, skb, ICMPV6_UNK_OPTION, i - nh); return false;
      case 2:
        paramProb(c, skb, ICMPV6_UNK_OPTION, i - nh); return false;
    }
    i += 2 + olen;
  }
  return true;
}

function paramProb(c: Ip6InputCtx, skb: SkBuff, code: number, pointer: number): void {
  c.icmpSend(skb, ICMPV6_PARAMPROB, code, pointer);
}
