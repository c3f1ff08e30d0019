/*
 * IPv4 input (ip_rcv, ip_local_deliver) and forwarding.
 *
 * A packet is checked before anything reads it: at least 20 bytes, version 4, IHL >= 5, the
 * header checksum, a total length covering the header and no longer than what arrived (link
 * padding beyond it is trimmed). Then the route decides: one of our addresses or a broadcast of
 * the arrival device is delivered locally (fragments are reassembled first); anything else is
 * forwarded when ip_forward is set (TTL decremented, ICMP time exceeded at 1) and dropped
 * otherwise. Local delivery hands the transport bytes to the registered protocol, or answers
 * ICMP protocol unreachable.
 */
import {
  IPV4_MIN_HLEN, parseIpv4Header, inetChecksum, ipv4IsMulticast, ipv4IsLoopback, INADDR_BROADCAST,
  IP_MF, IP_OFFSET, IP_DF, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL,
  ICMP_FRAG_NEEDED, ipv4SendCheck, type Ipv4Header,
} from '../header/index.js';
import {
  PACKET_OTHERHOST, IFF_LOOPBACK, type NetDevice, type SkBuff,
} from '../core/index.js';
import type { Ipv4State } from './state.js';

/** ip_rcv: validate; never throws on malformed input. */
export function ipRcv(st: Ipv4State, skb: SkBuff, dev: NetDevice): void {
  const net = st.net;
  net.count('IpInReceives');
  if (skb.pktType === PACKET_OTHERHOST) return;
  const b = skb.buf;
  const off = skb.data;
  if (skb.len < IPV4_MIN_HLEN) { net.count('IpInHdrErrors'); return; }
  const ihl = (b[off]! & 15) * 4;
  if (b[off]! >> 4 !== 4 || ihl < IPV4_MIN_HLEN || ihl > skb.len) { net.count('IpInHdrErrors'); return; }
  if (inetChecksum(b, off, off + ihl) !== 0) { net.count('IpInCsumErrors'); return; }
  const iph = parseIpv4Header(b, off)!;
  if (iph.totLen > skb.len) { net.count('IpInTruncatedPkts'); return; }
  if (iph.totLen < ihl) { net.count('IpInHdrErrors'); return; }
  skb.trim(iph.totLen);
  skb.networkHeader = off;

  // Martians: sources that can never be valid on a wire (ip_route_input_slow).
  if (ipv4IsMulticast(iph.saddr) || iph.saddr === INADDR_BROADCAST) { net.count('IpInAddrErrors'); return; }
  if (ipv4IsLoopback(iph.saddr) && !(dev.flags & IFF_LOOPBACK)) { net.count('IpInAddrErrors'); return; }
  if (ipv4IsLoopback(iph.daddr) && !(dev.flags & IFF_LOOPBACK)) { net.count('IpInAddrErrors'); return; }

  if (net.isLocalAddr(iph.daddr) || net.isBroadcastOn(iph.daddr, dev) || iph.daddr === 0xe0000001) {
    ipLocalDeliver(st, skb, iph);
    return;
  }
  if (ipv4IsMulticast(iph.daddr)) return; // no group memberships
  if (net.sysctl.ip_forward) { ipForward(st, skb, iph); return; }
  net.count('IpInAddrErrors');
}

/** ip_local_deliver: reassemble, then hand to the protocol. */
export function ipLocalDeliver(st: Ipv4State, skb: SkBuff, iph: Ipv4Header): void {
  const net = st.net;
  if (iph.fragOff & (IP_MF | IP_OFFSET)) {
    const whole = st.frags.add(skb, iph);
    if (!whole) return;
    skb = whole;
    iph = parseIpv4Header(skb.buf, skb.data)!;
    skb.networkHeader = skb.data;
  }
  const ihl = iph.ihl * 4;
  skb.pull(ihl);
  skb.transportHeader = skb.data;
  const p = net.inetProtos.get(iph.protocol);
  if (!p) {
    net.count('IpInUnknownProtos');
    net.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0);
    return;
  }
  net.count('IpInDelivers');
  p.handler(skb, iph);
}

/** ip_forward: TTL, MTU, then out through the route (ip_forward = 1 only). */
function ipForward(st: Ipv4State, skb: SkBuff, iph: Ipv4Header): void {
  const net = st.net;
  if (iph.ttl <= 1) { net.icmpSend(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0); return; }
  let rt;
  try { rt = net.routeOutput(iph.daddr); } catch { net.count('IpOutNoRoutes'); return; }
  if (iph.totLen > rt.dev.mtu && iph.fragOff & IP_DF) {
    net.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, rt.dev.mtu);
    return;
  }
  skb.buf[skb.data + 8] = iph.ttl - 1;
  ipv4SendCheck(skb.buf, skb.data);
  net.count('IpForwDatagrams');
  st.output(skb, rt, iph.totLen);
}
