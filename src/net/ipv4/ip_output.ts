/*
 * IPv4 output (ip_queue_xmit, ip_finish_output, ip_fragment).
 *
 * The caller hands an skb whose data starts at the transport header and the addresses; we route
 * it, prepend the 20-byte header in the skb's headroom and pass it to the neighbour layer. A
 * packet larger than the device MTU is cut into fragments of (MTU - header) rounded down to 8
 * bytes, each a new skb with its own header (MF on all but the last) — or refused with EMSGSIZE
 * when the caller asked for DF.
 */
import {
  IPV4_MIN_HLEN, IP_DF, IP_MF, IP_MAXPACKET, writeIpv4Header, ipv4IsMulticast, ipv4SendCheck, ETH_P_IP,
} from '../header/index.js';
import { SkBuff, MAX_HEADER, type IpSendParams, type RtResult } from '../core/index.js';
import { fail } from '../../lib/errors.js';
import { EMSGSIZE, EADDRNOTAVAIL } from '../../uapi/errno.js';
import type { Ipv4State } from './state.js';

export function ipQueueXmit(st: Ipv4State, skb: SkBuff, p: IpSendParams): void {
  const net = st.net;
  const rt = net.routeOutput(p.daddr, p.saddr ?? 0, p.oif ?? 0);
  if (!rt.saddr) fail(EADDRNOTAVAIL);
  const totLen = skb.len + IPV4_MIN_HLEN;
  if (totLen > IP_MAXPACKET) fail(EMSGSIZE);
  if (p.df && totLen > rt.dev.mtu) fail(EMSGSIZE);
  const off = skb.push(IPV4_MIN_HLEN);
  writeIpv4Header(skb.buf, off, {
    tos: p.tos ?? 0, totLen, id: st.nextId(), fragOff: p.df ? IP_DF : 0,
    ttl: p.ttl ?? (ipv4IsMulticast(p.daddr) ? 1 : net.sysctl.ip_default_ttl), protocol: p.protocol,
    saddr: rt.saddr, daddr: p.daddr >>> 0,
  });
  skb.networkHeader = off;
  net.count('IpOutRequests');
  ipOutput(st, skb, rt, totLen);
}

/** ip_finish_output: fragment if needed, then the neighbour layer. skb.data is at the IP header. */
export function ipOutput(st: Ipv4State, skb: SkBuff, rt: RtResult, totLen: number): void {
  const net = st.net;
  const mtu = rt.dev.mtu;
  // A TSO super-segment (skb gso_size, set by TCP) is cut up by the device, not fragmented.
  if (totLen <= mtu || (skb as SkBuff & { gsoSize?: number }).gsoSize) { net.neighOutput(ETH_P_IP, skb, rt.dev, rt.nexthop); return; }
  for (const f of ipFragment(skb, mtu)) net.neighOutput(ETH_P_IP, f, rt.dev, rt.nexthop);
  net.count('IpFragOKs');
}

/**
 * Cuts the datagram at skb.data into fragments fitting `mtu`. Options are copied into the first
 * fragment only (we send none). Each fragment is a fresh skb with link headroom.
 */
export function ipFragment(skb: SkBuff, mtu: number): SkBuff[] {
  const b = skb.buf;
  const off = skb.data;
  const ihl = (b[off]! & 15) * 4;
  const payload = skb.len - ihl;
  const origFrag = ((b[off + 6]! << 8) | b[off + 7]!);
  const baseOffset = (origFrag & 0x1fff) * 8;
  const origMf = origFrag & IP_MF;
  const chunk = (mtu - ihl) & ~7;
  if (chunk <= 0) return [];
  const out: SkBuff[] = [];
  for (let pos = 0; pos < payload; pos += chunk) {
    const len = Math.min(chunk, payload - pos);
    const f = SkBuff.alloc(ihl + len, MAX_HEADER);
    const fo = f.put(ihl + len);
    f.buf.set(b.subarray(off, off + ihl), fo);
    f.buf.set(b.subarray(off + ihl + pos, off + ihl + pos + len), fo + ihl);
    const last = pos + len >= payload;
    const fragOff = ((baseOffset + pos) >> 3) | (last ? origMf : IP_MF);
    const tot = ihl + len;
    f.buf[fo + 2] = tot >>> 8; f.buf[fo + 3] = tot & 0xff;
    f.buf[fo + 6] = fragOff >>> 8; f.buf[fo + 7] = fragOff & 0xff;
    ipv4SendCheck(f.buf, fo);
    f.networkHeader = fo;
    f.dev = skb.dev;
    out.push(f);
  }
  return out;
}
