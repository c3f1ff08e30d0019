/*
 * Sockets as files: struct socket, sockfs, the family registry and the ProtoOps contract
 * (socket.ts, README.md), the sockaddr codec for the syscall boundary (sockaddr.ts), and the
 * AF_UNIX family (af_unix.ts), which every kernel has.
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
