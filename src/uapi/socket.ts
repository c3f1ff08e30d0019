/*
 * The socket ABI (include/linux/socket.h, include/uapi/linux/{in,in6,un,tcp}.h, asm-generic
 * socket.h): address families, socket types, option levels and names, message flags, and the
 * byte layouts of the structures that cross the syscall boundary on a 64-bit little-endian
 * machine. Layout constants are offsets in bytes; encode/decode helpers live in src/net/socket.
 */

// ---- address / protocol families ----------------------------------------------------------------
export const AF_UNSPEC = 0, AF_UNIX = 1, AF_LOCAL = 1, AF_INET = 2, AF_AX25 = 3, AF_IPX = 4,
  AF_APPLETALK = 5, AF_NETROM = 6, AF_BRIDGE = 7, AF_ATMPVC = 8, AF_X25 = 9, AF_INET6 = 10,
  AF_ROSE = 11, AF_DECnet = 12, AF_NETBEUI = 13, AF_SECURITY = 14, AF_KEY = 15, AF_NETLINK = 16,
  AF_ROUTE = 16, AF_PACKET = 17, AF_ASH = 18, AF_ECONET = 19, AF_ATMSVC = 20, AF_RDS = 21,
  AF_SNA = 22, AF_IRDA = 23, AF_PPPOX = 24, AF_WANPIPE = 25, AF_LLC = 26, AF_IB = 27, AF_MPLS = 28,
  AF_CAN = 29, AF_TIPC = 30, AF_BLUETOOTH = 31, AF_IUCV = 32, AF_RXRPC = 33, AF_ISDN = 34,
  AF_PHONET = 35, AF_IEEE802154 = 36, AF_CAIF = 37, AF_ALG = 38, AF_NFC = 39, AF_VSOCK = 40,
  AF_KCM = 41, AF_QIPCRTR = 42, AF_SMC = 43, AF_XDP = 44, AF_MCTP = 45, AF_MAX = 46;
export const PF_UNSPEC = AF_UNSPEC, PF_UNIX = AF_UNIX, PF_LOCAL = AF_LOCAL, PF_INET = AF_INET,
  PF_INET6 = AF_INET6, PF_NETLINK = AF_NETLINK, PF_PACKET = AF_PACKET, PF_MAX = AF_MAX;

// ---- socket types (the low nibble of socket(2)'s type) and creation flags ---------------------
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_RDM = 4, SOCK_SEQPACKET = 5,
  SOCK_DCCP = 6, SOCK_PACKET = 10, SOCK_MAX = 11, SOCK_TYPE_MASK = 0xf;
/** Same bits as O_NONBLOCK / O_CLOEXEC. */
export const SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;

// ---- option levels ------------------------------------------------------------------------------
export const SOL_IP = 0, SOL_SOCKET = 1, SOL_TCP = 6, SOL_UDP = 17, SOL_IPV6 = 41, SOL_ICMPV6 = 58,
  SOL_RAW = 255, SOL_PACKET = 263, SOL_NETLINK = 270, SOL_UNIX = 1;

// ---- SOL_SOCKET options (asm-generic/socket.h, 64-bit: the *_OLD time variants) ----------------
export const SO_DEBUG = 1, SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_DONTROUTE = 5,
  SO_BROADCAST = 6, SO_SNDBUF = 7, SO_RCVBUF = 8, SO_KEEPALIVE = 9, SO_OOBINLINE = 10,
  SO_NO_CHECK = 11, SO_PRIORITY = 12, SO_LINGER = 13, SO_BSDCOMPAT = 14, SO_REUSEPORT = 15,
  SO_PASSCRED = 16, SO_PEERCRED = 17, SO_RCVLOWAT = 18, SO_SNDLOWAT = 19, SO_RCVTIMEO = 20,
  SO_SNDTIMEO = 21, SO_BINDTODEVICE = 25, SO_ATTACH_FILTER = 26, SO_DETACH_FILTER = 27,
  SO_PEERNAME = 28, SO_TIMESTAMP = 29, SO_ACCEPTCONN = 30, SO_PEERSEC = 31, SO_SNDBUFFORCE = 32,
  SO_RCVBUFFORCE = 33, SO_PASSSEC = 34, SO_TIMESTAMPNS = 35, SO_MARK = 36, SO_TIMESTAMPING = 37,
  SO_PROTOCOL = 38, SO_DOMAIN = 39, SO_RXQ_OVFL = 40, SO_WIFI_STATUS = 41, SO_PEEK_OFF = 42,
  SO_NOFCS = 43, SO_LOCK_FILTER = 44, SO_SELECT_ERR_QUEUE = 45, SO_BUSY_POLL = 46,
  SO_MAX_PACING_RATE = 47, SO_BPF_EXTENSIONS = 48, SO_INCOMING_CPU = 49, SO_ATTACH_BPF = 50,
  SO_COOKIE = 57, SO_PEERGROUPS = 59, SO_ZEROCOPY = 60, SO_TXTIME = 61, SO_BINDTOIFINDEX = 62,
  SO_PASSPIDFD = 76, SO_PEERPIDFD = 77;

// ---- message flags ------------------------------------------------------------------------------
export const MSG_OOB = 1, MSG_PEEK = 2, MSG_DONTROUTE = 4, MSG_TRYHARD = 4, MSG_CTRUNC = 8,
  MSG_PROBE = 0x10, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_EOR = 0x80, MSG_WAITALL = 0x100,
  MSG_FIN = 0x200, MSG_SYN = 0x400, MSG_CONFIRM = 0x800, MSG_RST = 0x1000, MSG_ERRQUEUE = 0x2000,
  MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000, MSG_WAITFORONE = 0x10000, MSG_BATCH = 0x40000,
  MSG_ZEROCOPY = 0x4000000, MSG_FASTOPEN = 0x20000000, MSG_CMSG_CLOEXEC = 0x40000000;

// ---- shutdown(2) --------------------------------------------------------------------------------
export const SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;

// ---- ancillary data -----------------------------------------------------------------------------
export const SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, SCM_SECURITY = 3, SCM_PIDFD = 4;
/** At most this many fds in one SCM_RIGHTS message (SCM_MAX_FD). */
export const SCM_MAX_FD = 253;

// ---- IP protocols -------------------------------------------------------------------------------
export const IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_IGMP = 2, IPPROTO_IPIP = 4, IPPROTO_TCP = 6,
  IPPROTO_EGP = 8, IPPROTO_PUP = 12, IPPROTO_UDP = 17, IPPROTO_IDP = 22, IPPROTO_TP = 29,
  IPPROTO_DCCP = 33, IPPROTO_IPV6 = 41, IPPROTO_RSVP = 46, IPPROTO_GRE = 47, IPPROTO_ESP = 50,
  IPPROTO_AH = 51, IPPROTO_ICMPV6 = 58, IPPROTO_NONE = 59, IPPROTO_DSTOPTS = 60, IPPROTO_MTP = 92,
  IPPROTO_BEETPH = 94, IPPROTO_ENCAP = 98, IPPROTO_PIM = 103, IPPROTO_COMP = 108, IPPROTO_L2TP = 115,
  IPPROTO_SCTP = 132, IPPROTO_UDPLITE = 136, IPPROTO_MPLS = 137, IPPROTO_ETHERNET = 143,
  IPPROTO_RAW = 255, IPPROTO_MPTCP = 262;

// ---- IPPROTO_TCP options (include/uapi/linux/tcp.h) ---------------------------------------------
export const TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5,
  TCP_KEEPCNT = 6, TCP_SYNCNT = 7, TCP_LINGER2 = 8, TCP_DEFER_ACCEPT = 9, TCP_WINDOW_CLAMP = 10,
  TCP_INFO = 11, TCP_QUICKACK = 12, TCP_CONGESTION = 13, TCP_MD5SIG = 14, TCP_THIN_LINEAR_TIMEOUTS = 16,
  TCP_THIN_DUPACK = 17, TCP_USER_TIMEOUT = 18, TCP_REPAIR = 19, TCP_REPAIR_QUEUE = 20,
  TCP_QUEUE_SEQ = 21, TCP_REPAIR_OPTIONS = 22, TCP_FASTOPEN = 23, TCP_TIMESTAMP = 24,
  TCP_NOTSENT_LOWAT = 25, TCP_CC_INFO = 26, TCP_SAVE_SYN = 27, TCP_SAVED_SYN = 28,
  TCP_REPAIR_WINDOW = 29, TCP_FASTOPEN_CONNECT = 30, TCP_ULP = 31, TCP_MD5SIG_EXT = 32,
  TCP_FASTOPEN_KEY = 33, TCP_FASTOPEN_NO_COOKIE = 34, TCP_ZEROCOPY_RECEIVE = 35, TCP_INQ = 36;

// ---- special IPv4 addresses (host order) ---------------------------------------------------------
export const INADDR_ANY = 0, INADDR_BROADCAST = 0xffffffff, INADDR_NONE = 0xffffffff,
  INADDR_LOOPBACK = 0x7f000001;

// ---- listen(2) ----------------------------------------------------------------------------------
/** net.core.somaxconn default: listen backlogs are capped here. */
export const SOMAXCONN = 4096;

// ---- struct layouts (bytes, x86_64 / asm-generic 64-bit) ------------------------------------------
/** sa_family_t: an unsigned short at offset 0 of every sockaddr. */
export const SA_FAMILY_SIZE = 2;
/** struct sockaddr_storage: the largest address the kernel accepts (move_addr_to_kernel). */
export const SOCKADDR_STORAGE_SIZE = 128;
/** struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; } */
export const SOCKADDR_UN_SIZE = 110, UNIX_PATH_MAX = 108, SUN_PATH_OFFSET = 2;
/** struct sockaddr_in { family; __be16 sin_port @2; __be32 sin_addr @4; zero[8] @8 } */
export const SOCKADDR_IN_SIZE = 16, SIN_PORT_OFFSET = 2, SIN_ADDR_OFFSET = 4;
/** struct sockaddr_in6 { family; __be16 port @2; __be32 flowinfo @4; in6_addr @8; u32 scope_id @24 } */
export const SOCKADDR_IN6_SIZE = 28, SIN6_PORT_OFFSET = 2, SIN6_FLOWINFO_OFFSET = 4,
  SIN6_ADDR_OFFSET = 8, SIN6_SCOPE_ID_OFFSET = 24;
/** struct iovec { void *iov_base; size_t iov_len; } */
export const IOVEC_SIZE = 16;
/**
 * struct msghdr (user_msghdr) { void *msg_name @0; int msg_namelen @8; struct iovec *msg_iov @16;
 * size_t msg_iovlen @24; void *msg_control @32; size_t msg_controllen @40; unsigned msg_flags @48 }
 */
export const MSGHDR_SIZE = 56, MSG_NAMELEN_OFFSET = 8, MSG_IOVLEN_OFFSET = 24,
  MSG_CONTROLLEN_OFFSET = 40, MSG_FLAGS_OFFSET = 48;
/** struct mmsghdr { struct msghdr msg_hdr; unsigned msg_len @56; } (padded to 64) */
export const MMSGHDR_SIZE = 64, MMSG_LEN_OFFSET = 56;
/** struct cmsghdr { size_t cmsg_len @0; int cmsg_level @8; int cmsg_type @12; data @16 } */
export const CMSGHDR_SIZE = 16, CMSG_ALIGNTO = 8;
/** CMSG_ALIGN / CMSG_LEN / CMSG_SPACE. */
export const CMSG_ALIGN = (n: number): number => (n + CMSG_ALIGNTO - 1) & ~(CMSG_ALIGNTO - 1);
export const CMSG_LEN = (n: number): number => CMSGHDR_SIZE + n;
export const CMSG_SPACE = (n: number): number => CMSGHDR_SIZE + CMSG_ALIGN(n);
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
export const UCRED_SIZE = 12;
/** struct linger { int l_onoff; int l_linger; } */
export const LINGER_SIZE = 8;
/** struct timeval (64-bit): { long tv_sec; long tv_usec; } */
export const TIMEVAL_SIZE = 16;
/** The limit on iovecs per call (UIO_MAXIOV). */
export const UIO_MAXIOV = 1024;

// ---- ioctls that sockets answer ----------------------------------------------------------------
export const SIOCINQ = 0x541b, SIOCOUTQ = 0x5411, SIOCATMARK = 0x8905, SIOCGSTAMP = 0x8906;

/** Socket states (SS_*), the generic struct socket's view of a connection. */
export const SS_FREE = 0, SS_UNCONNECTED = 1, SS_CONNECTING = 2, SS_CONNECTED = 3, SS_DISCONNECTING = 4;
