/*
 * IPv6 output (ip6_xmit, ip6_finish_output, ip6_fragment).
 *
 * The caller hands an skb whose data starts at the transport header; we route it, choose the
 * source, prepend the 40-byte header and give it to the neighbour layer. IPv6 routers never
 * fragment (RFC 8200 section 5): only the source does, to the smaller of the device's IPv6 MTU
 * and the path MTU learned from Packet Too Big messages. A fragment carries the header, an
 * 8-byte fragment header with a random 32-bit identification, and a multiple of 8 bytes of
 * the rest (the last one whatever remains). IPV6_DONTFRAG senders get EMSGSIZE instead.
 */
import {
  IPV6_HLEN, NEXTHDR_FRAGMENT, writeIpv6Header,
} from '../header/index.js';
import { SkBuff, MAX_HEADER } from '../core/index.js';
import { fail } from '../../lib/errors.js';
import { EMSGSIZE } from '../../uapi/errno.js';
import { a6isMulticast } from './addr.js';
import type { Ipv6State, Ip6SendParams, Rt6Result } from './state.js';

export const FRAG_HLEN = 8;
export const IPV6_MAXPLEN = 65535;

/** Per-namespace output hook: set by the ndisc unit (neighbour resolution and transmit). */
export type NeighOutput6 = (skb: SkBuff, rt: Rt6Result) => void;

export function ip6QueueXmit(st: Ipv6State, out: NeighOutput6, skb: SkBuff, p: Ip6SendParams): void {
  const rt = st.routeOutput(p.daddr, p.saddr ?? null, p.oif ?? 0);
  ip6XmitRouted(st, out, skb, p, rt);
}

/** ip6_xmit with the route already chosen (ndisc and ICMPv6 choose their own source). */
export function ip6XmitRouted(st: Ipv6State, out: NeighOutput6, skb: SkBuff, p: Ip6SendParams, rt: Rt6Result): void {
  const net = st.net;
  const plen = skb.len;
  if (plen > IPV6_MAXPLEN) fail(EMSGSIZE);
  if (p.dontFrag && plen + IPV6_HLEN > rt.mtu) fail(EMSGSIZE);
  const idev = st.idev(rt.dev);
  const hop = p.hopLimit ?? (a6isMulticast(p.daddr) ? 1 : idev?.hopLimit ?? st.sysctl.hop_limit);
  const off = skb.push(IPV6_HLEN);
  writeIpv6Header(skb.buf, off, {
    trafficClass: p.trafficClass ?? 0, flowLabel: p.flowLabel ?? 0, payloadLen: plen, nextHeader: p.nextHeader,
    hopLimit: hop, saddr: rt.saddr, daddr: p.daddr,
  });
  skb.networkHeader = off;
  net.count('Ip6OutRequests');
  ip6Output(st, out, skb, rt);
}

/** ip6_finish_output: fragment when larger than the MTU, then the neighbour layer. */
export function ip6Output(st: Ipv6State, out: NeighOutput6, skb: SkBuff, rt: Rt6Result): void {
  if (skb.len <= rt.mtu) { out(skb, rt); return; }
  const frags = ip6Fragment(skb, rt.mtu, st.net.random32());
  if (!frags.length) { st.net.count('Ip6FragFails'); return; }
  for (const f of frags) { st.net.count('Ip6FragCreates'); out(f, rt); }
  st.net.count('Ip6FragOKs');
}

/**
 * Cuts the packet at skb.data (a 40-byte header, no extension headers of ours) into fragments
 * fitting `mtu`. Returns [] when the MTU leaves no room for 8 bytes of data.
 */
export function ip6Fragment(skb: SkBuff, mtu: number, ident: number): SkBuff[] {
  const b = skb.buf, off = skb.data;
  const nexthdr = b[off + 6]!;
  const payload = skb.len - IPV6_HLEN;
  const chunk = (mtu - IPV6_HLEN - FRAG_HLEN) & ~7;
  if (chunk <= 0) return [];
  const out: SkBuff[] = [];
  for (let pos = 0; pos < payload; pos += chunk) {
    const len = Math.min(chunk, payload - pos);
    const last = pos + len >= payload;
    const f = SkBuff.alloc(IPV6_HLEN + FRAG_HLEN + len, MAX_HEADER);
    const fo = f.put(IPV6_HLEN + FRAG_HLEN + len);
    f.buf.set(b.subarray(off, off + IPV6_HLEN), fo);
    const pl = FRAG_HLEN + len;
    f.buf[fo + 4] = pl >>> 8; f.buf[fo + 5] = pl & 0xff;
    f.buf[fo + 6] = NEXTHDR_FRAGMENT;
    const h = fo + IPV6_HLEN;
    f.buf[h] = nexthdr; f.buf[h + 1] = 0;
    const offw = pos | (last ? 0 : 1); // offset in 8-byte units sits in the top 13 bits: pos is a multiple of 8
    f.buf[h + 2] = offw >>> 8; f.buf[h + 3] = offw & 0xff;
    f.buf[h + 4] = ident >>> 24; f.buf[h + 5] = (ident >>> 16) & 0xff; f.buf[h + 6] = (ident >>> 8) & 0xff; f.buf[h + 7] = ident & 0xff;
    f.buf.set(b.subarray(off + IPV6_HLEN + pos, off + IPV6_HLEN + pos + len), h + FRAG_HLEN);
    f.networkHeader = fo;
    f.dev = skb.dev;
    out.push(f);
  }
  return out;
}
