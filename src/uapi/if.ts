/*
 * Network interface configuration ABI (include/uapi/linux/if.h, sockios.h, route.h,
 * if_arp.h): the SIOC* ioctl numbers an AF_INET socket answers, the interface flags, and the
 * byte layouts of struct ifreq and struct rtentry on a 64-bit little-endian machine.
 */

// ---- interface flags (net_device_flags; IFF_LOWER_UP and above do not fit ifr_flags) ---------
export const IFF_UP = 0x1, IFF_BROADCAST = 0x2, IFF_DEBUG = 0x4, IFF_LOOPBACK = 0x8,
  IFF_POINTOPOINT = 0x10, IFF_NOTRAILERS = 0x20, IFF_RUNNING = 0x40, IFF_NOARP = 0x80,
  IFF_PROMISC = 0x100, IFF_ALLMULTI = 0x200, IFF_MASTER = 0x400, IFF_SLAVE = 0x800,
  IFF_MULTICAST = 0x1000, IFF_PORTSEL = 0x2000, IFF_AUTOMEDIA = 0x4000, IFF_DYNAMIC = 0x8000,
  IFF_LOWER_UP = 0x10000, IFF_DORMANT = 0x20000, IFF_ECHO = 0x40000;
/** Flags a user may change with SIOCSIFFLAGS (dev_change_flags keeps the others). */
export const IFF_USER_SETTABLE = IFF_UP | IFF_DEBUG | IFF_NOTRAILERS | IFF_NOARP | IFF_DYNAMIC |
  IFF_MULTICAST | IFF_PORTSEL | IFF_AUTOMEDIA | IFF_PROMISC | IFF_ALLMULTI;

export const IFNAMSIZ = 16;

// ---- ARP hardware types (if_arp.h) ----------------------------------------------------------------
export const ARPHRD_ETHER = 1, ARPHRD_LOOPBACK = 772, ARPHRD_NONE = 0xfffe;

// ---- socket ioctls (sockios.h) -----------------------------------------------------------------
export const SIOCADDRT = 0x890b, SIOCDELRT = 0x890c, SIOCRTMSG = 0x890d,
  SIOCGIFNAME = 0x8910, SIOCSIFLINK = 0x8911, SIOCGIFCONF = 0x8912, SIOCGIFFLAGS = 0x8913,
  SIOCSIFFLAGS = 0x8914, SIOCGIFADDR = 0x8915, SIOCSIFADDR = 0x8916, SIOCGIFDSTADDR = 0x8917,
  SIOCSIFDSTADDR = 0x8918, SIOCGIFBRDADDR = 0x8919, SIOCSIFBRDADDR = 0x891a,
  SIOCGIFNETMASK = 0x891b, SIOCSIFNETMASK = 0x891c, SIOCGIFMETRIC = 0x891d,
  SIOCSIFMETRIC = 0x891e, SIOCGIFMTU = 0x8921, SIOCSIFMTU = 0x8922, SIOCSIFNAME = 0x8923,
  SIOCSIFHWADDR = 0x8924, SIOCGIFHWADDR = 0x8927, SIOCGIFINDEX = 0x8933, SIOCDIFADDR = 0x8936,
  SIOCGIFTXQLEN = 0x8942, SIOCSIFTXQLEN = 0x8943;

// ---- struct ifreq { char ifr_name[16]; union { sockaddr; short flags; int ifindex/mtu; ... } } ----
/** sizeof(struct ifreq) on 64-bit: the union is as large as struct ifmap (24 bytes). */
export const IFREQ_SIZE = 40;
export const IFR_NAME_OFFSET = 0, IFR_UNION_OFFSET = 16;

// ---- struct rtentry (route.h), 64-bit ---------------------------------------------------------
/**
 * { unsigned long rt_pad1 @0; sockaddr rt_dst @8; sockaddr rt_gateway @24; sockaddr rt_genmask @40;
 *   unsigned short rt_flags @56; short rt_pad2 @58; unsigned long rt_pad3 @64; void *rt_pad4 @72;
 *   short rt_metric @80; char *rt_dev @88; unsigned long rt_mtu @96; rt_window @104; rt_irtt @112 }
 */
export const RTENTRY_SIZE = 120, RT_DST_OFFSET = 8, RT_GATEWAY_OFFSET = 24, RT_GENMASK_OFFSET = 40,
  RT_FLAGS_OFFSET = 56, RT_METRIC_OFFSET = 80, RT_DEV_OFFSET = 88;
export const RTF_UP = 0x1, RTF_GATEWAY = 0x2, RTF_HOST = 0x4, RTF_REINSTATE = 0x8,
  RTF_DYNAMIC = 0x10, RTF_MODIFIED = 0x20, RTF_MTU = 0x40, RTF_WINDOW = 0x80, RTF_IRTT = 0x100,
  RTF_REJECT = 0x200;

// ---- IPPROTO_IP socket options (in.h) ---------------------------------------------------------
export const IP_TOS = 1, IP_TTL = 2, IP_HDRINCL = 3, IP_OPTIONS = 4, IP_RECVOPTS = 6,
  IP_RETOPTS = 7, IP_PKTINFO = 8, IP_MTU_DISCOVER = 10, IP_RECVERR = 11, IP_RECVTTL = 12,
  IP_RECVTOS = 13, IP_MTU = 14, IP_FREEBIND = 15, IP_MULTICAST_TTL = 33;
export const IP_PMTUDISC_DONT = 0, IP_PMTUDISC_WANT = 1, IP_PMTUDISC_DO = 2, IP_PMTUDISC_PROBE = 3;
/** ICMP_FILTER, the only SOL_RAW option of raw ICMP sockets. */
export const ICMP_FILTER = 1;
