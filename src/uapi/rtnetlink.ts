/*
 * Netlink and rtnetlink ABI (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr,neighbour}.h):
 * message and attribute headers, message types, flags, and the fixed headers of link, address,
 * route and neighbour messages. All little-endian (host order) on our ABI; sizes in bytes.
 */

export const NETLINK_ROUTE = 0, NETLINK_UNUSED = 1, NETLINK_USERSOCK = 2, NETLINK_FIREWALL = 3,
  NETLINK_SOCK_DIAG = 4, NETLINK_NFLOG = 5, NETLINK_XFRM = 6, NETLINK_SELINUX = 7,
  NETLINK_ISCSI = 8, NETLINK_AUDIT = 9, NETLINK_FIB_LOOKUP = 10, NETLINK_CONNECTOR = 11,
  NETLINK_NETFILTER = 12, NETLINK_IP6_FW = 13, NETLINK_DNRTMSG = 14, NETLINK_KOBJECT_UEVENT = 15,
  NETLINK_GENERIC = 16, MAX_LINKS = 32;

/** struct sockaddr_nl { sa_family_t nl_family; u16 nl_pad; u32 nl_pid @4; u32 nl_groups @8 } */
export const SOCKADDR_NL_SIZE = 12;

/** struct nlmsghdr { u32 nlmsg_len; u16 nlmsg_type @4; u16 nlmsg_flags @6; u32 nlmsg_seq @8; u32 nlmsg_pid @12 } */
export const NLMSG_HDRLEN = 16, NLMSG_ALIGNTO = 4;
export const NLMSG_ALIGN = (n: number): number => (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
export const NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3, NLMSG_OVERRUN = 4, NLMSG_MIN_TYPE = 0x10;

export const NLM_F_REQUEST = 0x1, NLM_F_MULTI = 0x2, NLM_F_ACK = 0x4, NLM_F_ECHO = 0x8,
  NLM_F_DUMP_INTR = 0x10, NLM_F_DUMP_FILTERED = 0x20;
/** GET modifiers. */
export const NLM_F_ROOT = 0x100, NLM_F_MATCH = 0x200, NLM_F_ATOMIC = 0x400, NLM_F_DUMP = 0x300;
/** NEW modifiers. */
export const NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
/** Flags of an NLMSG_ERROR acknowledgement. */
export const NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200;

/** SOL_NETLINK options. */
export const NETLINK_ADD_MEMBERSHIP = 1, NETLINK_DROP_MEMBERSHIP = 2, NETLINK_PKTINFO = 3,
  NETLINK_BROADCAST_ERROR = 4, NETLINK_NO_ENOBUFS = 5, NETLINK_LISTEN_ALL_NSID = 8,
  NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11, NETLINK_GET_STRICT_CHK = 12;

/** struct nlattr / struct rtattr { u16 len; u16 type } */
export const NLA_HDRLEN = 4, RTA_ALIGNTO = 4;
export const RTA_ALIGN = (n: number): number => (n + RTA_ALIGNTO - 1) & ~(RTA_ALIGNTO - 1);
export const NLA_F_NESTED = 0x8000, NLA_F_NET_BYTEORDER = 0x4000, NLA_TYPE_MASK = 0x3fff;

// ---- rtnetlink message types ------------------------------------------------------------------
export const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_SETLINK = 19,
  RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22,
  RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26,
  RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;

/** struct ifinfomsg { u8 family; u8 pad; u16 type @2; i32 index @4; u32 flags @8; u32 change @12 } */
export const IFINFOMSG_SIZE = 16;
export const IFLA_UNSPEC = 0, IFLA_ADDRESS = 1, IFLA_BROADCAST = 2, IFLA_IFNAME = 3, IFLA_MTU = 4,
  IFLA_LINK = 5, IFLA_QDISC = 6, IFLA_STATS = 7, IFLA_TXQLEN = 13, IFLA_OPERSTATE = 16,
  IFLA_LINKMODE = 17, IFLA_STATS64 = 23, IFLA_GROUP = 27, IFLA_PROMISCUITY = 30,
  IFLA_NUM_TX_QUEUES = 31, IFLA_NUM_RX_QUEUES = 32, IFLA_CARRIER = 33, IFLA_MIN_MTU = 50,
  IFLA_MAX_MTU = 51;
/** RFC 2863 operational states (IFLA_OPERSTATE). */
export const IF_OPER_UNKNOWN = 0, IF_OPER_NOTPRESENT = 1, IF_OPER_DOWN = 2,
  IF_OPER_LOWERLAYERDOWN = 3, IF_OPER_TESTING = 4, IF_OPER_DORMANT = 5, IF_OPER_UP = 6;

/** struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index @4 } */
export const IFADDRMSG_SIZE = 8;
export const IFA_UNSPEC = 0, IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3, IFA_BROADCAST = 4,
  IFA_ANYCAST = 5, IFA_CACHEINFO = 6, IFA_MULTICAST = 7, IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01, IFA_F_NODAD = 0x02, IFA_F_PERMANENT = 0x80;

/**
 * struct rtmsg { u8 family; u8 dst_len; u8 src_len; u8 tos; u8 table @4; u8 protocol @5;
 * u8 scope @6; u8 type @7; u32 flags @8 }
 */
export const RTMSG_SIZE = 12;
export const RTA_UNSPEC = 0, RTA_DST = 1, RTA_SRC = 2, RTA_IIF = 3, RTA_OIF = 4, RTA_GATEWAY = 5,
  RTA_PRIORITY = 6, RTA_PREFSRC = 7, RTA_METRICS = 8, RTA_TABLE = 15;
export const RT_TABLE_UNSPEC = 0, RT_TABLE_DEFAULT = 253, RT_TABLE_MAIN = 254, RT_TABLE_LOCAL = 255;
export const RTN_UNSPEC = 0, RTN_UNICAST = 1, RTN_LOCAL = 2, RTN_BROADCAST = 3, RTN_ANYCAST = 4,
  RTN_MULTICAST = 5, RTN_BLACKHOLE = 6, RTN_UNREACHABLE = 7, RTN_PROHIBIT = 8;
export const RTPROT_UNSPEC = 0, RTPROT_REDIRECT = 1, RTPROT_KERNEL = 2, RTPROT_BOOT = 3,
  RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_SITE = 200, RT_SCOPE_LINK = 253, RT_SCOPE_HOST = 254,
  RT_SCOPE_NOWHERE = 255;

/** struct ndmsg { u8 family; u8 pad1; u16 pad2; i32 ifindex @4; u16 state @8; u8 flags @10; u8 type @11 } */
export const NDMSG_SIZE = 12;
export const NDA_UNSPEC = 0, NDA_DST = 1, NDA_LLADDR = 2, NDA_CACHEINFO = 3, NDA_PROBES = 4;
export const NUD_INCOMPLETE = 0x01, NUD_REACHABLE = 0x02, NUD_STALE = 0x04, NUD_DELAY = 0x08,
  NUD_PROBE = 0x10, NUD_FAILED = 0x20, NUD_NOARP = 0x40, NUD_PERMANENT = 0x80, NUD_NONE = 0x00;
