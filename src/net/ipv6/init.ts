/*
 * ipv6Init: wires the IPv6 units of one namespace together and registers them upward —
 * ETH_P_IPV6 input, ICMPv6 (58) and UDP (17) over IPv6, Neighbor Discovery, address
 * autoconfiguration on device events — and the entry points the socket layer uses.
 */
import { ETH_P_IPV6, NEXTHDR_ICMP, IPPROTO_UDP, NEXTHDR_TCP } from '../header/index.js';
import type { NetNamespace, SkBuff } from '../core/index.js';
import { fail } from '../../lib/errors.js';
import { ENODEV } from '../../uapi/errno.js';
import { Ipv6State, states, type Ip6SendParams, type Inet6Protocol, type Ip6RcvInfo } from './state.js';
import { Frag6Table, setIcmp6SendHook } from './reassembly.js';
import { ipv6Rcv } from './input.js';
import { ip6QueueXmit } from './output.js';
import { Icmp6, type Ping6Options, type Ping6Reply } from './icmp6.js';
import { Ndisc } from './ndisc.js';
import { Addrconf } from './addrconf.js';
import { Udp6State, type Udp6Sock } from './udp6.js';
import { procNetIfInet6 as ifInet6 } from './proc.js';
import { Mld, ICMPV6_MGM_QUERY } from './mld.js';

export interface Ipv6Stack {
  st: Ipv6State;
  frags: Frag6Table;
  icmp: Icmp6;
  nd: Ndisc;
  addrconf: Addrconf;
  udp: Udp6State;
  /** Route, add the header, fragment and send; skb.data at the transport header. */
  xmit(skb: SkBuff, p: Ip6SendParams): void;
}

const stacks = new WeakMap<NetNamespace, Ipv6Stack>();

/** ipv6 module init (inet6_init + addrconf_init + ndisc_init + icmpv6_init + udpv6_init). */
export function ipv6Init(net: NetNamespace): Ipv6Stack {
  const have = stacks.get(net);
  if (have) return have;
  const st = new Ipv6State(net);
  states.set(net, st);
  const nd = new Ndisc(st);
  const out = (skb: SkBuff, rt: Parameters<Ndisc['output']>[1]) => nd.output(skb, rt);
  const xmit = (skb: SkBuff, p: Ip6SendParams) => ip6QueueXmit(st, out, skb, p);
  const frags = new Frag6Table(st);
  const icmp = new Icmp6({
    st, xmit,
    ndiscRcv: (skb, info, type) => nd.rcv(skb, info, type),
    mldRcv: (skb, info, type) => { if (type === ICMPV6_MGM_QUERY) mld.rcvQuery(skb, info); },
  });
  const icmpSend = (skb: SkBuff, type: number, code: number, info: number) => icmp.send(skb, type, code, info);
  setIcmp6SendHook(st, icmpSend);
  const addrconf = new Addrconf(st, nd);
  const mld = new Mld(st);
  st.hooks = {
    dadStart: (ifa) => addrconf.dadStart(ifa), neighFlushDev: (dev) => nd.flushDev(dev),
    mcJoined: (dev, g) => mld.joined(dev, g), mcLeft: (dev, g) => mld.left(dev, g),
  };
  nd.hooks = {
    dadFailure: (ifa, mac) => addrconf.dadFailure(ifa, mac),
    routerAdvert: (dev, saddr, b, off, end, opts) => addrconf.routerAdvert(dev, saddr, b, off, end, opts),
    icmpSend,
  };
  const udp = new Udp6State(st, xmit, icmpSend);
  st.protos.set(NEXTHDR_ICMP, { handler: (skb, info) => icmp.rcv(skb, info) });
  st.protos.set(IPPROTO_UDP, { handler: (skb, info) => udp.rcv(skb, info), errHandler: (e) => udp.err(e) });
  net.devAddPack(ETH_P_IPV6, (skb, dev) => ipv6Rcv({ st, frags, icmpSend }, skb, dev));
  net.k.onShutdown(() => {
    frags.clear();
    for (const a of st.addrs) { a.timer?.cancel(); a.lftTimer?.cancel(); }
    for (const i of st.idevs.values()) i.rsTimer?.cancel();
  });
  const stack: Ipv6Stack = { st, frags, icmp, nd, addrconf, udp, xmit };
  stacks.set(net, stack);
  // Devices already up (lo brought up before ipv6Init) get their addresses now.
  for (const dev of net.devices.values()) if (dev.isUp) addrconf.devUp(dev);
  return stack;
}

export function ipv6Stack(net: NetNamespace): Ipv6Stack {
  return stacks.get(net) ?? fail(ENODEV, 'IPv6 not initialised');
}

/** inet6_add_protocol: an upper protocol over IPv6 (EEXIST when taken). */
export function inet6AddProtocol(net: NetNamespace, proto: number, p: Inet6Protocol): void {
  const st = ipv6Stack(net).st;
  if (st.protos.has(proto)) fail(17 /* EEXIST */);
  st.protos.set(proto, p);
}

/** Send an upper-layer packet over IPv6 (skb.data at the transport header). */
export function ip6Send(net: NetNamespace, skb: SkBuff, p: Ip6SendParams): void { ipv6Stack(net).xmit(skb, p); }

/** ping6 in the kernel: one echo request; null on timeout. */
export function ping6(net: NetNamespace, daddr: Uint8Array, o?: Ping6Options): Promise<Ping6Reply | null> {
  return ipv6Stack(net).icmp.ping(daddr, o);
}

/** A UDP-over-IPv6 endpoint for the socket layer. */
export function udp6Socket(net: NetNamespace): Udp6Sock { return ipv6Stack(net).udp.socket(); }

/** The part of TcpEngine this glue needs (src/net/tcp is a unit of our rank: no import). */
export interface TcpInput { input(local: Uint8Array, remote: Uint8Array, bytes: Uint8Array): void }

/**
 * TCP over IPv6: delivers next header 6 to the engine with 16-byte addresses. The engine's
 * output callback must send segments whose addresses are 16 bytes with tcp6Output. Attaching
 * the same engine again changes nothing; another engine takes over next header 6 (a test's own
 * engine beside the socket layer's).
 */
const attachedEngines = new WeakMap<Inet6Protocol, TcpInput>();
export function tcp6Attach(net: NetNamespace, engine: TcpInput, errHandler?: Inet6Protocol['errHandler']): void {
  const st = ipv6Stack(net).st;
  const cur = st.protos.get(NEXTHDR_TCP);
  if (cur && attachedEngines.get(cur) === engine) return;
  const p: Inet6Protocol = {
    handler: (skb: SkBuff, info: Ip6RcvInfo) => engine.input(info.daddr, info.saddr, skb.buf.subarray(skb.data, skb.tail)),
  };
  if (errHandler) p.errHandler = errHandler;
  attachedEngines.set(p, engine);
  st.protos.set(NEXTHDR_TCP, p);
}

/** The output side for TcpEngine: a complete segment (checksum included) from src to dst. */
export function tcp6Output(net: NetNamespace, src: Uint8Array, dst: Uint8Array, seg: Uint8Array, oif = 0): void {
  const skb = net.allocSkb(seg.length);
  const off = skb.put(seg.length);
  skb.buf.set(seg, off);
  skb.transportHeader = off;
  const p: Ip6SendParams = { daddr: dst, saddr: src, nextHeader: NEXTHDR_TCP };
  if (oif) p.oif = oif;
  ipv6Stack(net).xmit(skb, p);
}

/** For the engine's mtu and selectSource callbacks. */
export function route6Info(net: NetNamespace, dst: Uint8Array, oif = 0): { mtu: number; saddr: Uint8Array } | null {
  try { const r = ipv6Stack(net).st.routeOutput(dst, null, oif); return { mtu: r.mtu, saddr: r.saddr }; } catch { return null; }
}

/** /proc/net/if_inet6 of a namespace. */
export function procNetIfInet6(net: NetNamespace): string { return ifInet6(ipv6Stack(net).st); }
