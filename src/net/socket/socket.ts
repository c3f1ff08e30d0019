/*
 * Sockets as files (net/socket.c).
 *
 * A Socket is struct socket and the protocol-independent half of struct sock in one object: its
 * type and state, the protocol's operations (ProtoOps) and private state (`sk`), the generic
 * SOL_SOCKET settings every protocol shares (buffer sizes, timeouts, pending error, peer
 * credentials), and one WaitQueue on which readers, writers, connectors, acceptors, poll, select
 * and epoll all wait. The key of a wake-up is the poll bits that may have become true (0: any).
 *
 * Every socket has an inode on the kernel's internal "sockfs" (S_IFSOCK, mode 0777, owned by the
 * creator; /proc/<pid>/fd reads it as "socket:[ino]") and, once socket(2) installs it, one File
 * whose FileOperations turn read/write into recvmsg/sendmsg without flags, poll into the
 * protocol's poll, and release into the protocol's release.
 *
 * Address families register a NetProtoFamily per kernel (registerFamily); socket(2) asks the
 * registry, and a family that is absent is EAFNOSUPPORT. AF_UNIX (af_unix.ts) is always there.
 * The contract a family implements is written in README.md beside this file.
 *
 * Blocking: a protocol sleeps with sockWait(), which honours the kernel halt (EINTR) and the
 * socket's timeout (SO_RCVTIMEO / SO_SNDTIMEO: EAGAIN once it has passed).
 */
import { fail, type MaybePromise } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import {
  EAFNOSUPPORT, EINVAL, ENODEV, ENOPROTOOPT, EPERM, EAGAIN, EDOM, ENOTTY,
} from '../../uapi/errno.js';
import { O_RDWR, O_NONBLOCK } from '../../uapi/fcntl.js';
import { S_IFSOCK, S_IFDIR, type Kstatfs } from '../../uapi/stat.js';
import { CAP_NET_ADMIN } from '../../uapi/misc.js';
import {
  AF_MAX, SOCK_MAX, SS_UNCONNECTED, SO_TYPE, SO_PROTOCOL, SO_DOMAIN,
  SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_REUSEADDR, SO_REUSEPORT,
  SO_KEEPALIVE, SO_BROADCAST, SO_DEBUG, SO_DONTROUTE, SO_OOBINLINE, SO_PRIORITY, SO_PASSCRED,
  SO_PEERCRED, SO_ACCEPTCONN, SO_RCVLOWAT, SO_SNDLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER,
  SO_MARK, SO_TIMESTAMP, SO_TIMESTAMPNS, SO_PEEK_OFF, SO_BSDCOMPAT, SO_NO_CHECK, SO_PASSSEC,
  SO_COOKIE,
  TIMEVAL_SIZE, LINGER_SIZE, UCRED_SIZE,
} from '../../uapi/socket.js';
import { PAGE_SIZE } from '../../mm/index.js';
import type { Kernel, Task, Cred } from '../../kernel/index.js';
import {
  Inode, SuperBlock, Dentry, File, FMODE_READ, FMODE_WRITE, FMODE_STREAM, type Vfs, type Mount,
  type FileOperations, type FileSystemType,
} from '../../fs/vfs/index.js';
import { haltableWait } from '../../fs/eventpoll/index.js';

export const SOCKFS_MAGIC = 0x534f434b;

/** net.core.{w,r}mem_default and _max: 212992 bytes on a stock kernel. */
export const SYSCTL_WMEM_DEFAULT = 212992, SYSCTL_RMEM_DEFAULT = 212992;
export const SYSCTL_WMEM_MAX = 212992, SYSCTL_RMEM_MAX = 212992;
/** The floors setsockopt applies after doubling (SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF). */
export const SOCK_MIN_SNDBUF = 4608, SOCK_MIN_RCVBUF = 2304;

/** struct ucred as the kernel keeps it: pid 0 and ids -1 when there is no peer. */
export interface Ucred { pid: number; uid: number; gid: number }

/** Ancillary data travelling with a message (struct scm_cookie). */
export interface ScmCookie {
  /** SCM_RIGHTS: files the sender passes; each holds one reference owned by the message. */
  fds: File[];
  /** SCM_CREDENTIALS (or implicit, for SO_PASSCRED receivers). */
  creds: Ucred | null;
  /**
   * Protocol control messages for recvmsg (IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS...), each
   * put_cmsg'd as (level, type, data) in order by the syscall layer.
   */
  cmsgs?: { level: number; type: number; data: Uint8Array }[];
}

/**
 * The kernel-side msghdr (struct msghdr after copy_msghdr_from_user). For sendmsg `iov` is the
 * data and `name` the destination (null: none); for recvmsg `iov` is where data goes and the
 * protocol fills `name` (the source, exact length), `flags` (MSG_TRUNC, MSG_CTRUNC, MSG_EOR) and
 * `scm` (ancillary data for the syscall layer to turn into cmsgs).
 */
export interface MsgHdr {
  name: Uint8Array | null;
  iov: Uint8Array[];
  flags: number;
  scm: ScmCookie | null;
  /** recvmsg: room the caller gave for control data (decides MSG_CTRUNC); sendmsg: unused. */
  controlLen: number;
}

/** Total bytes an iovec array covers. */
export function iovLen(iov: Uint8Array[]): number { let n = 0; for (const v of iov) n += v.length; return n; }

/** Operations of one protocol family and type (struct proto_ops); see README.md for the contract. */
export interface ProtoOps {
  readonly family: number;
  release(sock: Socket): MaybePromise<void>;
  bind(sock: Socket, addr: Uint8Array, t: Task): MaybePromise<void>;
  connect(sock: Socket, addr: Uint8Array, flags: number, t: Task): MaybePromise<void>;
  /** socketpair(2): join two fresh sockets of this type; absent means EOPNOTSUPP. */
  socketpair?(a: Socket, b: Socket, t: Task): void;
  /** Take one connection off a listening socket into `newsock` (fresh, same type and ops). */
  accept(sock: Socket, newsock: Socket, flags: number, t: Task): MaybePromise<void>;
  /** The local (peer=false) or remote address, exactly the bytes getsockname/getpeername return. */
  getname(sock: Socket, peer: boolean): Uint8Array;
  poll(sock: Socket, file: File): number;
  ioctl?(sock: Socket, cmd: number, arg: unknown): MaybePromise<number>;
  listen(sock: Socket, backlog: number): MaybePromise<void>;
  shutdown(sock: Socket, how: number): MaybePromise<void>;
  /** Options of levels other than SOL_SOCKET (and SOL_SOCKET ones the generic code does not know). */
  setsockopt(sock: Socket, level: number, optname: number, optval: Uint8Array, t: Task): MaybePromise<void>;
  /** Returns the option's bytes; the caller truncates to the user's optlen. */
  getsockopt(sock: Socket, level: number, optname: number, optlen: number, t: Task): MaybePromise<Uint8Array>;
  /** `t` is null for read(2)/write(2), which reach the protocol without a calling task. */
  sendmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): MaybePromise<number>;
  recvmsg(sock: Socket, msg: MsgHdr, flags: number, t: Task | null): MaybePromise<number>;
}

/** struct net_proto_family: makes the protocol half of a new socket (sets sock.ops, sock.sk). */
export interface NetProtoFamily {
  readonly family: number;
  create(t: Task, sock: Socket, protocol: number, kern: boolean): MaybePromise<void>;
}

/** struct socket + the generic fields of struct sock. */
export class Socket {
  readonly kernel: Kernel;
  readonly family: number;
  /** SOCK_STREAM, SOCK_DGRAM, ... (a family may rewrite it in create, as AF_UNIX does SOCK_RAW). */
  type: number;
  protocol = 0;
  /** SS_* for the generic code; protocols keep their finer state in `sk`. */
  state = SS_UNCONNECTED;
  ops!: ProtoOps;
  /** The protocol's own state (struct sock's protocol part). */
  sk: unknown = undefined;
  readonly inode: Inode;
  file: File | null = null;
  /** Everyone who waits on this socket, and poll/epoll callbacks (sk_wq). */
  readonly wq = new WaitQueue();

  // ---- generic struct sock fields (SOL_SOCKET) ----
  sndbuf = SYSCTL_WMEM_DEFAULT;
  rcvbuf = SYSCTL_RMEM_DEFAULT;
  /** Pending asynchronous error (sk_err), read and cleared by SO_ERROR or the next call. */
  err = 0;
  /** Timeouts in ns; Infinity: none. */
  rcvtimeo = Infinity;
  sndtimeo = Infinity;
  rcvlowat = 1;
  /** Boolean and integer options stored for getsockopt (SO_REUSEADDR, SO_KEEPALIVE, ...). */
  readonly opts = new Map<number, number>();
  linger: { onoff: number; linger: number } = { onoff: 0, linger: 0 };
  passcred = false;
  peekOff = -1;
  /** Credentials of the peer at connect time (sk_peer_cred, sk_peer_pid). */
  peerCred: Ucred = { pid: 0, uid: -1, gid: -1 };
  /** Is it listening (sk_state == TCP_LISTEN), for SO_ACCEPTCONN and poll. */
  listening = false;
  /** Set once released. */
  dead = false;

  constructor(kernel: Kernel, family: number, type: number, inode: Inode) {
    this.kernel = kernel; this.family = family; this.type = type; this.inode = inode;
  }

  get vfs(): Vfs { return this.kernel.vfs; }

  /** Wake sleepers and poll callbacks; `key` is the poll bits that may have become true. */
  wake(key = 0): void { this.wq.wakeAll(key); }

  /** sock_error: take the pending error (0 if none). */
  takeError(): number { const e = this.err; this.err = 0; return e; }
}

/** Sleep on the socket until woken, the absolute monotonic `deadline` passes (EAGAIN), or halt (EINTR). */
export async function sockWait(sock: Socket, deadline: number): Promise<void> {
  if (deadline !== Infinity && sock.kernel.clock.monotonicNs() >= deadline) fail(EAGAIN);
  const key = await haltableWait(sock.vfs, sock.wq, deadline);
  if (key === -1 && deadline !== Infinity) fail(EAGAIN);
}

/** sock_rcvtimeo / sock_sndtimeo as an absolute deadline; 0 when the call must not block. */
export function sockTimeo(sock: Socket, nonblock: boolean, send: boolean): number {
  if (nonblock) return 0;
  const t = send ? sock.sndtimeo : sock.rcvtimeo;
  return t === Infinity ? Infinity : sock.kernel.clock.monotonicNs() + t;
}

/** Has a blocking wait with this deadline nowhere to go (non-blocking call)? */
export function noWait(deadline: number): boolean { return deadline === 0; }

// ---- the family registry ------------------------------------------------------------------------

interface NetState { families: Map<number, NetProtoFamily>; sockfs: Sockfs | null }
const netByKernel = new WeakMap<Kernel, NetState>();
/** Families every kernel gets without registration (AF_UNIX), filled in by af_unix.ts. */
export const builtinFamilies: NetProtoFamily[] = [];

function netState(k: Kernel): NetState {
  let s = netByKernel.get(k);
  if (!s) {
    s = { families: new Map(), sockfs: null };
    for (const f of builtinFamilies) s.families.set(f.family, f);
    netByKernel.set(k, s);
  }
  return s;
}

/** sock_register: make `fam` available to socket(2) on kernel `k` (replaces an earlier one). */
export function registerFamily(k: Kernel, fam: NetProtoFamily): void {
  if (fam.family <= 0 || fam.family >= AF_MAX) throw new Error(`registerFamily: bad family ${fam.family}`);
  netState(k).families.set(fam.family, fam);
}

export function unregisterFamily(k: Kernel, family: number): void { netState(k).families.delete(family); }

export function familyRegistered(k: Kernel, family: number): boolean { return netState(k).families.has(family); }

// ---- sockfs -------------------------------------------------------------------------------------

interface Sockfs { sb: SuperBlock; mnt: Mount; nextIno: number }
const sockfsType: FileSystemType = { name: 'sockfs', fsFlags: 0, mount: () => fail(ENODEV) };

function sockfs(k: Kernel): Sockfs {
  const st = netState(k);
  if (st.sockfs) return st.sockfs;
  const vfs = k.vfs;
  const sb = new SuperBlock(vfs, sockfsType, 0, {
    statfs: (): Kstatfs => ({
      type: SOCKFS_MAGIC, bsize: PAGE_SIZE, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0,
      fsid: [0, 0], namelen: 255, frsize: PAGE_SIZE, flags: 0,
    }),
  }, 'sockfs');
  sb.magic = SOCKFS_MAGIC;
  sb.blocksize = PAGE_SIZE;
  sb.root = new Dentry('/', null, new Inode(sb, 1, S_IFDIR | 0o555, {}, {}));
  const mnt = vfs.newMount(sb, sb.root, 0, 'sockfs');
  st.sockfs = { sb, mnt, nextIno: 2 };
  return st.sockfs;
}

/** The sockfs superblock of a kernel. */
export function sockfsSuper(k: Kernel): SuperBlock { return sockfs(k).sb; }

/** Which socket an inode belongs to (SOCKET_I). */
const socketOfInode = new WeakMap<Inode, Socket>();

/** sock_alloc: a socket with its sockfs inode, no protocol yet. */
export function sockAlloc(k: Kernel, cred: Cred, family: number, type: number): Socket {
  const fs = sockfs(k);
  const inode = new Inode(fs.sb, fs.nextIno++, S_IFSOCK | 0o777, {}, socketFileOps);
  inode.uid = cred.fsuid;
  inode.gid = cred.fsgid;
  const sock = new Socket(k, family, type, inode);
  socketOfInode.set(inode, sock);
  return sock;
}

/**
 * __sock_create: check the type, find the family, let it build the protocol half.
 * EAFNOSUPPORT for unknown families, EINVAL for a type out of range.
 */
export async function sockCreate(t: Task, family: number, type: number, protocol: number, kern = false): Promise<Socket> {
  if (family < 0 || family >= AF_MAX) fail(EAFNOSUPPORT);
  if (type < 0 || type >= SOCK_MAX) fail(EINVAL);
  const fam = netState(t.kernel).families.get(family) ?? fail(EAFNOSUPPORT);
  const sock = sockAlloc(t.kernel, t.cred, family, type);
  sock.protocol = protocol;
  await fam.create(t, sock, protocol, kern);
  return sock;
}

/** sock_alloc_file: the File of a socket; flags may carry O_NONBLOCK. */
export function sockAllocFile(sock: Socket, flags: number, cred: Cred): File {
  const fs = sockfs(sock.kernel);
  const dentry = new Dentry(`socket:[${sock.inode.ino}]`, fs.sb.root, sock.inode);
  const f = new File({ mnt: fs.mnt, dentry }, sock.inode, O_RDWR | (flags & O_NONBLOCK), socketFileOps, cred);
  f.mode = (f.mode & (FMODE_READ | FMODE_WRITE)) | FMODE_STREAM;
  f.private_data = sock;
  sock.file = f;
  sock.inode.openCount++;
  fs.mnt.refs++;
  return f;
}

/** sock_from_file: the socket behind a file, or undefined (the caller says ENOTSOCK). */
export function sockFromFile(file: File): Socket | undefined {
  if (file.fop !== socketFileOps) return undefined;
  return file.private_data as Socket;
}

/** The socket bound to an inode (for AF_UNIX's pathname lookups: the sockfs inode, not the fs node). */
export function socketOfSockInode(inode: Inode): Socket | undefined { return socketOfInode.get(inode); }

/** Release a socket that never got a file (failed accept, failed socketpair). */
export async function sockRelease(sock: Socket): Promise<void> {
  if (sock.dead) return;
  sock.dead = true;
  if (sock.ops) await sock.ops.release(sock);
  sock.wake(0);
}

// ---- file operations -----------------------------------------------------------------------------

function fileSock(file: File): Socket { return file.private_data as Socket; }

export const socketFileOps: FileOperations = {
  read: (file, buf) => {
    // A zero-length read never reaches the protocol (sock_read_iter).
    if (buf.length === 0) return 0;
    const sock = fileSock(file);
    const msg: MsgHdr = { name: null, iov: [buf], flags: 0, scm: null, controlLen: 0 };
    return sock.ops.recvmsg(sock, msg, file.flags & O_NONBLOCK ? 0x40 /* MSG_DONTWAIT */ : 0, null);
  },
  write: (file, buf) => {
    const sock = fileSock(file);
    const msg: MsgHdr = { name: null, iov: [buf], flags: 0, scm: null, controlLen: 0 };
    return sock.ops.sendmsg(sock, msg, file.flags & O_NONBLOCK ? 0x40 : 0, null);
  },
  poll: (file) => fileSock(file).ops.poll(fileSock(file), file),
  waitQueue: (file) => fileSock(file).wq,
  ioctl: (file, cmd, arg) => {
    const sock = fileSock(file);
    if (sock.ops.ioctl) return sock.ops.ioctl(sock, cmd, arg);
    fail(ENOTTY);
  },
  release: async (_inode, file) => {
    const sock = fileSock(file);
    sock.file = null;
    await sockRelease(sock);
  },
};

// ---- SOL_SOCKET options (sock_setsockopt / sock_getsockopt) --------------------------------------

function intOpt(v: Uint8Array): number {
  if (v.length < 4) fail(EINVAL);
  return new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
}

export function intBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

const STORED_BOOL = new Set([SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_DEBUG,
  SO_DONTROUTE, SO_OOBINLINE, SO_TIMESTAMP, SO_TIMESTAMPNS, SO_NO_CHECK, SO_PASSSEC]);

/** Timeout from a struct timeval (sock_set_timeout). */
function timeoutFromTimeval(v: Uint8Array): number {
  if (v.length < TIMEVAL_SIZE) fail(EINVAL);
  const dv = new DataView(v.buffer, v.byteOffset, TIMEVAL_SIZE);
  const sec = Number(dv.getBigInt64(0, true)), usec = Number(dv.getBigInt64(8, true));
  if (usec < 0 || usec >= 1000000) fail(EDOM);
  if (sec < 0) return 0; // Linux turns a negative timeout into "do not wait"
  if (sec === 0 && usec === 0) return Infinity;
  return sec * 1e9 + usec * 1e3;
}

function timevalBytes(ns: number): Uint8Array {
  const b = new Uint8Array(TIMEVAL_SIZE);
  if (ns !== Infinity) {
    const dv = new DataView(b.buffer);
    dv.setBigInt64(0, BigInt(Math.floor(ns / 1e9)), true);
    dv.setBigInt64(8, BigInt(Math.floor((ns % 1e9) / 1e3)), true);
  }
  return b;
}

/** setsockopt(SOL_SOCKET, ...): false when the option is not a generic one. */
export function sockSetsockopt(t: Task, sock: Socket, optname: number, v: Uint8Array): boolean {
  if (optname === SO_RCVTIMEO || optname === SO_SNDTIMEO) {
    const ns = timeoutFromTimeval(v);
    if (optname === SO_RCVTIMEO) sock.rcvtimeo = ns; else sock.sndtimeo = ns;
    return true;
  }
  if (optname === SO_LINGER) {
    if (v.length < LINGER_SIZE) fail(EINVAL);
    const dv = new DataView(v.buffer, v.byteOffset, LINGER_SIZE);
    sock.linger = { onoff: dv.getInt32(0, true) ? 1 : 0, linger: dv.getInt32(4, true) };
    return true;
  }
  if (optname === SO_BSDCOMPAT) return true;
  const val = intOpt(v);
  const on = val !== 0 ? 1 : 0;
  switch (optname) {
    case SO_SNDBUF: case SO_SNDBUFFORCE: {
      if (optname === SO_SNDBUFFORCE && !t.cred.capable(CAP_NET_ADMIN)) fail(EPERM);
      // An unsigned clamp: a negative size asks for the maximum.
      const u = val >>> 0;
      const capped = optname === SO_SNDBUF ? Math.min(u, SYSCTL_WMEM_MAX) : Math.min(u, 0x7fffffff / 2);
      sock.sndbuf = Math.max(capped * 2, SOCK_MIN_SNDBUF);
      sock.wake(0);
      return true;
    }
    case SO_RCVBUF: case SO_RCVBUFFORCE: {
      if (optname === SO_RCVBUFFORCE && !t.cred.capable(CAP_NET_ADMIN)) fail(EPERM);
      const u = val >>> 0;
      const capped = optname === SO_RCVBUF ? Math.min(u, SYSCTL_RMEM_MAX) : Math.min(u, 0x7fffffff / 2);
      sock.rcvbuf = Math.max(capped * 2, SOCK_MIN_RCVBUF);
      return true;
    }
    case SO_PRIORITY:
      if ((val < 0 || val > 6) && !t.cred.capable(CAP_NET_ADMIN)) fail(EPERM);
      sock.opts.set(SO_PRIORITY, val);
      return true;
    case SO_MARK:
      if (!t.cred.capable(CAP_NET_ADMIN)) fail(EPERM);
      sock.opts.set(SO_MARK, val >>> 0);
      return true;
    case SO_PASSCRED: sock.passcred = on === 1; return true;
    case SO_RCVLOWAT: sock.rcvlowat = val < 0 ? 0x7fffffff : Math.max(val, 1); return true;
    case SO_SNDLOWAT: fail(ENOPROTOOPT);
    case SO_PEEK_OFF: return false; // protocol's (unix supports it)
    case SO_TYPE: case SO_PROTOCOL: case SO_DOMAIN: case SO_ERROR: case SO_PEERCRED:
    case SO_ACCEPTCONN: case SO_COOKIE:
      fail(ENOPROTOOPT);
  }
  if (STORED_BOOL.has(optname)) { sock.opts.set(optname, on); return true; }
  return false;
}

/** getsockopt(SOL_SOCKET, ...): the value's bytes, or null when not a generic option. */
export function sockGetsockopt(sock: Socket, optname: number): Uint8Array | null {
  switch (optname) {
    case SO_TYPE: return intBytes(sock.type);
    case SO_PROTOCOL: return intBytes(sock.protocol);
    case SO_DOMAIN: return intBytes(sock.family);
    case SO_ERROR: return intBytes(sock.takeError());
    case SO_SNDBUF: return intBytes(sock.sndbuf);
    case SO_RCVBUF: return intBytes(sock.rcvbuf);
    case SO_PASSCRED: return intBytes(sock.passcred ? 1 : 0);
    case SO_ACCEPTCONN: return intBytes(sock.listening ? 1 : 0);
    case SO_RCVLOWAT: return intBytes(sock.rcvlowat);
    case SO_SNDLOWAT: return intBytes(1);
    case SO_RCVTIMEO: return timevalBytes(sock.rcvtimeo);
    case SO_SNDTIMEO: return timevalBytes(sock.sndtimeo);
    case SO_PRIORITY: case SO_MARK: return intBytes(sock.opts.get(optname) ?? 0);
    case SO_BSDCOMPAT: return intBytes(0);
    case SO_PEEK_OFF: return intBytes(sock.peekOff);
    case SO_LINGER: {
      const b = new Uint8Array(LINGER_SIZE);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, sock.linger.onoff, true); dv.setInt32(4, sock.linger.linger, true);
      return b;
    }
    case SO_PEERCRED: {
      const b = new Uint8Array(UCRED_SIZE);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, sock.peerCred.pid, true);
      dv.setInt32(4, sock.peerCred.uid, true);
      dv.setInt32(8, sock.peerCred.gid, true);
      return b;
    }
  }
  if (STORED_BOOL.has(optname)) return intBytes(sock.opts.get(optname) ?? 0);
  return null;
}

