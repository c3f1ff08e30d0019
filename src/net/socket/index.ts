/*
 * Sockets as files: struct socket, sockfs, the family registry and the ProtoOps contract
 * (socket.ts, README.md), the sockaddr codec for the syscall boundary (sockaddr.ts), and the
 * AF_UNIX family (af_unix.ts), which every kernel with networking has; and netStackInit
 * (stack.ts), the whole stack's boot. This index is the network stack's entry: src/lkl.ts imports
 * it dynamically, only for a kernel booted with networking.
 */
export {
  Socket, sockCreate, sockAlloc, sockAllocFile, sockFromFile, sockRelease, sockWait, sockTimeo,
  registerFamily, unregisterFamily, familyRegistered, sockfsSuper, sockSetsockopt, sockGetsockopt,
  iovLen, intBytes, socketFileOps, SOCKFS_MAGIC, SYSCTL_WMEM_DEFAULT, SYSCTL_RMEM_DEFAULT,
  SYSCTL_WMEM_MAX, SYSCTL_RMEM_MAX, SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF,
  type ProtoOps, type NetProtoFamily, type MsgHdr, type ScmCookie, type Ucred,
} from './socket.js';
export {
  unixFamily, unixStreamOps, unixDgramOps, unixSeqpacketOps, UNIX_MAX_DGRAM_QLEN,
} from './af_unix.js';
export {
  addrFromUser, addrToUser, encodeSockaddr, decodeSockaddr, getIntPtr, putIntPtr, ipv4Format,
  ipv6Parse, ipv6Format, type SockaddrObject,
} from './sockaddr.js';
export { inetFamily, inetInit, udpOps, pingOps, rawOps, sinParse, sinBytes } from './af_inet.js';
export { tcpOps, tcpAttach, tcpEngineOf } from './af_inet_tcp.js';
export { inetIoctl, inetAbcLen, maskToPrefix } from './af_inet_ioctl.js';
export { netSysctlWrite, netSysctlRead, netSysctlNames } from './af_inet_sysctl.js';
export { netlinkFamily, netlinkOps } from './af_netlink.js';
export { inet6Family, inet6Init, udp6Ops, ping6Ops, icmp6Errno } from './af_inet6.js';
export { tcp6Ops } from './af_inet_tcp.js';
export { sin6Parse, sin6Bytes, isMapped, toMapped, fromMapped, SIN6_LEN_RFC2133 } from './af_inet6_addr.js';
export {
  IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_JOIN_GROUP,
  IPV6_LEAVE_GROUP, IPV6_MTU_DISCOVER, IPV6_MTU, IPV6_RECVERR, IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_DONTFRAG,
  IPV6_RECVTCLASS, IPV6_TCLASS, bindv6only, setBindv6only,
} from './af_inet6_opts.js';
export { netStackInit, netStackLateInit } from './stack.js';
