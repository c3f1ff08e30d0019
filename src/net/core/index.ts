/*
 * The network core (rank 5): packet buffers, devices, the per-kernel namespace with addresses,
 * routes, protocol registration and the receive backlog. Contracts are described in README.md.
 */
export {
  SkBuff, MAX_HEADER, PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING,
  PACKET_LOOPBACK, type SkbDevice,
} from './skb.js';
export {
  NetDevice, NetDevStats, IFF_UP, IFF_BROADCAST, IFF_DEBUG, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_NOTRAILERS,
  IFF_RUNNING, IFF_NOARP, IFF_PROMISC, IFF_ALLMULTI, IFF_MULTICAST, IFF_LOWER_UP, IFNAMSIZ,
  type NetDeviceOps, type HeaderOps, type NetBackend,
} from './netdevice.js';
export {
  FibTable, RTPROT_KERNEL, RTPROT_BOOT, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST,
  RTF_UP, RTF_GATEWAY, RTF_HOST, type Route,
} from './route.js';
export {
  NetNamespace, NetSysctl, netNsInit, netOf, RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST,
  type NetKernel, type InIfAddr, type PacketHandler, type InetProtocol, type IcmpErrorInfo, type IpSendParams,
  type Ipv4Output, type NeighOps, type IcmpSender, type RtResult, type NetdevEvent,
} from './netns.js';
export { procNetDev, procNetRoute } from './proc.js';
