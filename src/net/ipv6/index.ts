/*
 * IPv6 (rank 7): input with the extension header walk, output with source fragmentation and
 * path MTU, reassembly, ICMPv6, Neighbor Discovery, address autoconfiguration with DAD, UDP
 * over IPv6 and the glue for TCP. See README.md in this folder.
 */
export {
  ipv6Init, ipv6Stack, procNetIfInet6, inet6AddProtocol, ip6Send, ping6, udp6Socket, tcp6Attach, tcp6Output, route6Info,
  type Ipv6Stack, type TcpInput,
} from './init.js';
export {
  Ipv6State, Ipv6Sysctl, ipv6State, IFA_F_NODAD, IFA_F_OPTIMISTIC, IFA_F_DADFAILED, IFA_F_DEPRECATED,
  IFA_F_TENTATIVE, IFA_F_PERMANENT, RTPROT_KERNEL, RTPROT_BOOT, RTPROT_STATIC, RTPROT_RA, IP6_RT_PRIO_ADDRCONF,
  IP6_RT_PRIO_USER, type Inet6IfAddr, type Route6, type Inet6Dev, type Inet6Protocol, type Ip6RcvInfo,
  type Icmp6ErrorInfo, type Ip6SendParams, type Rt6Result,
} from './state.js';
export {
  IN6ADDR_ANY, IN6ADDR_LOOPBACK, IN6ADDR_LINKLOCAL_ALLNODES, IN6ADDR_LINKLOCAL_ALLROUTERS, IFA_SCOPE_GLOBAL,
  IFA_SCOPE_LINK, IFA_SCOPE_HOST, IFA_SCOPE_SITE, a6key, a6equal, a6isAny, a6isLoopback, a6isMulticast,
  a6isLinkLocal, a6isV4Mapped, a6scope, solicitedNode, ipv6EthMcMap, eui64, a6fromPrefixIid, a6prefixEqual,
} from './addr.js';
export {
  Ndisc, parseNdOpts, NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_FAILED, NUD_NOARP,
  NUD_PERMANENT, NUD_VALID, ND_OPT_SOURCE_LL_ADDR, ND_OPT_TARGET_LL_ADDR, ND_OPT_PREFIX_INFO, ND_OPT_MTU,
  ND_OPT_NONCE, NA_ROUTER, NA_SOLICITED, NA_OVERRIDE, type Neighbour6, type NdOpts,
} from './ndisc.js';
export { Icmp6, type Ping6Reply, type Ping6Options } from './icmp6.js';
export { Udp6Sock, Udp6State, type Udp6Datagram } from './udp6.js';
export { Frag6Table, ICMPV6_EXC_HOPLIMIT, ICMPV6_EXC_FRAGTIME } from './reassembly.js';
export { ICMPV6_HDR_FIELD, ICMPV6_UNK_NEXTHDR, ICMPV6_UNK_OPTION } from './input.js';
export { ip6Fragment, FRAG_HLEN } from './output.js';
export { procNetRegister, procNetShow } from './proc.js';
