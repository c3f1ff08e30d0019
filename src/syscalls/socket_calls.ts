/*
 * The socket system calls (net/socket.c's __sys_*), loaded with the network stack (sys_net.ts
 * holds their table entries and calls through to here): decode the arguments, find the socket behind
 * the fd (EBADF, then ENOTSOCK), delegate to the protocol's ProtoOps, copy results out, and undo
 * what was made when a later step fails.
 *
 * Argument shapes (see src/mm/uaccess.ts and src/net/socket/sockaddr.ts):
 *   - a sockaddr is its ABI bytes (Uint8Array with addrlen) or an object {family, path|port,addr};
 *   - a socklen_t * or int * is an Int32Array, 4+ bytes, or {value};
 *   - a msghdr is an object { msg_name, msg_namelen, msg_iov: Uint8Array[] | {iov_base, iov_len}[],
 *     msg_control: Uint8Array (cmsgs in ABI layout), msg_controllen, msg_flags }; recvmsg writes
 *     msg_namelen, msg_controllen and msg_flags back (and msg_name when it is an object);
 *   - an mmsghdr array is an array of { msg_hdr, msg_len }.
 * SCM_RIGHTS travels as in Linux: sendmsg takes references on the files named by the fds,
 * recvmsg installs them in the receiver's table (MSG_CMSG_CLOEXEC honoured) and truncates with
 * MSG_CTRUNC when the control buffer is too small.
 */
import { fail, KernelError } from '../lib/errors.js';
import {
  EBADF, ENOTSOCK, EINVAL, EFAULT, EOPNOTSUPP, EPERM, ECONNABORTED, EMSGSIZE, EAGAIN,
} from '../uapi/errno.js';
import { O_NONBLOCK, O_CLOEXEC } from '../uapi/fcntl.js';
import { CAP_SETUID, CAP_SETGID } from '../uapi/misc.js';
import {
  SOCK_TYPE_MASK, SOCK_NONBLOCK, SOCK_CLOEXEC, SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS,
  SCM_MAX_FD, MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_WAITFORONE, AF_UNIX, UIO_MAXIOV,
  CMSGHDR_SIZE, CMSG_SPACE, CMSG_ALIGN, UCRED_SIZE, TIMEVAL_SIZE,
} from '../uapi/socket.js';
import type { Task } from '../kernel/index.js';
import { fput, type File } from '../fs/vfs/index.js';
import { netOf } from '../net/core/index.js';
import {
  type Socket, type MsgHdr, type ScmCookie, sockCreate, sockAlloc, sockAllocFile, sockFromFile,
  sockRelease, sockSetsockopt, sockGetsockopt, addrFromUser, addrToUser, getIntPtr, putIntPtr,
} from '../net/socket/index.js';
import { isNull, toInt32, toUint32, userBuf } from '../mm/index.js';
import { installFd } from './common.js';
import type { SyscallHandler } from './types.js';

/** sockfd_lookup: EBADF for a bad fd, ENOTSOCK for any other file. */
function sockfd(t: Task, fdArg: unknown): Socket {
  const f = t.files.peek(toInt32(fdArg));
  if (!f) fail(EBADF);
  return sockFromFile(f) ?? fail(ENOTSOCK);
}

function fileFlags(sock: Socket): number { return sock.file?.flags ?? 0; }

/** Split socket(2)'s type into the type and SOCK_NONBLOCK/SOCK_CLOEXEC (EINVAL for other bits). */
function splitType(typeArg: unknown): { type: number; flags: number } {
  const raw = toInt32(typeArg);
  const flags = raw & ~SOCK_TYPE_MASK;
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) fail(EINVAL);
  return { type: raw & SOCK_TYPE_MASK, flags };
}

async function sysSocket(t: Task, family: unknown, typeArg: unknown, protocol: unknown): Promise<number> {
  const { type, flags } = splitType(typeArg);
  const sock = await sockCreate(t, toInt32(family), type, toInt32(protocol));
  const f = sockAllocFile(sock, flags & SOCK_NONBLOCK ? O_NONBLOCK : 0, t.cred);
  try { return installFd(t, f, flags & SOCK_CLOEXEC ? O_CLOEXEC : 0); } catch (e) { await fput(f); throw e; }
}

async function sysSocketpair(t: Task, family: unknown, typeArg: unknown, protocol: unknown, sv: unknown): Promise<number> {
  const { type, flags } = splitType(typeArg);
  const fam = toInt32(family), proto = toInt32(protocol);
  const a = await sockCreate(t, fam, type, proto);
  let b: Socket | null = null;
  const files: File[] = [];
  const fds: number[] = [];
  try {
    b = await sockCreate(t, fam, type, proto);
    if (!a.ops.socketpair) fail(EOPNOTSUPP);
    a.ops.socketpair(a, b, t);
    const nb = flags & SOCK_NONBLOCK ? O_NONBLOCK : 0, ce = flags & SOCK_CLOEXEC ? O_CLOEXEC : 0;
    files.push(sockAllocFile(a, nb, t.cred), sockAllocFile(b, nb, t.cred));
    fds.push(installFd(t, files[0]!, ce));
    fds.push(installFd(t, files[1]!, ce));
    putFds(sv, fds[0]!, fds[1]!);
    return 0;
  } catch (e) {
    for (const fd of fds) t.files.remove(fd);
    if (files.length) { for (const f of files) await fput(f); }
    else { await sockRelease(a); if (b) await sockRelease(b); }
    throw e;
  }
}

function putFds(arg: unknown, x: number, y: number): void {
  if (Array.isArray(arg) || arg instanceof Int32Array) { arg[0] = x; arg[1] = y; return; }
  if (ArrayBuffer.isView(arg) && arg.byteLength >= 8) {
    const v = new DataView(arg.buffer, arg.byteOffset, 8);
    v.setInt32(0, x, true); v.setInt32(4, y, true);
    return;
  }
  fail(EFAULT);
}

async function sysBind(t: Task, fd: unknown, addr: unknown, addrlen: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  const a = addrFromUser(addr, addrlen);
  await sock.ops.bind(sock, a, t);
  return 0;
}

async function sysListen(t: Task, fd: unknown, backlogArg: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  let backlog = toInt32(backlogArg);
  // Compared unsigned, so a negative backlog means "as many as allowed" (net.core.somaxconn).
  const max = netOf(sock.kernel).sysctl.somaxconn;
  if ((backlog >>> 0) > max) backlog = max;
  await sock.ops.listen(sock, backlog);
  return 0;
}

async function doAccept(t: Task, fd: unknown, addr: unknown, addrlen: unknown, flagsArg: unknown): Promise<number> {
  const flags = toInt32(flagsArg);
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) fail(EINVAL);
  const sock = sockfd(t, fd);
  const newsock = sockAlloc(t.kernel, t.cred, sock.family, sock.type);
  newsock.ops = sock.ops;
  try {
    await sock.ops.accept(sock, newsock, fileFlags(sock), t);
  } catch (e) { newsock.ops = undefined as never; await sockRelease(newsock); throw e; }
  const f = sockAllocFile(newsock, flags & SOCK_NONBLOCK ? O_NONBLOCK : 0, t.cred);
  try {
    if (!isNull(addr)) {
      let name: Uint8Array;
      try { name = newsock.ops.getname(newsock, true); } catch { fail(ECONNABORTED); }
      addrToUser(name, addr, addrlen);
    }
    return installFd(t, f, flags & SOCK_CLOEXEC ? O_CLOEXEC : 0);
  } catch (e) { await fput(f); throw e; }
}

async function sysAccept4(t: Task, fd: unknown, addr: unknown, addrlen: unknown, flags: unknown): Promise<number> {
  return doAccept(t, fd, addr, addrlen, flags);
}
async function sysAccept(t: Task, fd: unknown, addr: unknown, addrlen: unknown): Promise<number> {
  return doAccept(t, fd, addr, addrlen, 0);
}

async function sysConnect(t: Task, fd: unknown, addr: unknown, addrlen: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  const a = addrFromUser(addr, addrlen);
  await sock.ops.connect(sock, a, fileFlags(sock), t);
  return 0;
}

function sysGetname(peer: boolean) {
  return (t: Task, fd: unknown, addr: unknown, addrlen: unknown): number => {
    const sock = sockfd(t, fd);
    // The length is read (and checked) before the protocol is asked, as __sys_getsockname does.
    if (!(typeof addr === 'object' && addr !== null && !ArrayBuffer.isView(addr))) {
      if (getIntPtr(addrlen) < 0) fail(EINVAL);
    }
    const name = sock.ops.getname(sock, peer);
    addrToUser(name, addr, addrlen);
    return 0;
  };
}

function newMsg(iov: Uint8Array[], name: Uint8Array | null): MsgHdr {
  return { name, iov, flags: 0, scm: null, controlLen: 0 };
}

async function sysSendto(t: Task, fd: unknown, buf: unknown, len: unknown, flagsArg: unknown, addr: unknown, addrlen: unknown): Promise<number> {
  const n = toInt(len);
  const b = n === 0 && isNull(buf) ? new Uint8Array(0) : userBuf(buf, n);
  const sock = sockfd(t, fd);
  const msg = newMsg([b], null);
  if (!isNull(addr)) msg.name = addrFromUser(addr, addrlen);
  return sock.ops.sendmsg(sock, msg, sendFlags(sock, toInt32(flagsArg)), t);
}

async function sysRecvfrom(t: Task, fd: unknown, buf: unknown, len: unknown, flagsArg: unknown, addr: unknown, addrlen: unknown): Promise<number> {
  const n = toInt(len);
  const b = n === 0 && isNull(buf) ? new Uint8Array(0) : userBuf(buf, n);
  const sock = sockfd(t, fd);
  const msg = newMsg([b], null);
  const r = await sock.ops.recvmsg(sock, msg, sendFlags(sock, toInt32(flagsArg)), t);
  await dropScmFiles(msg.scm);
  if (!isNull(addr)) addrToUser(msg.name ?? new Uint8Array(0), addr, addrlen);
  return r;
}

function toInt(v: unknown): number {
  const n = typeof v === 'bigint' ? Number(v) : Number(v ?? 0);
  if (!Number.isFinite(n) || n < 0) fail(EFAULT);
  return Math.trunc(n);
}

/** A socket file opened O_NONBLOCK makes every call MSG_DONTWAIT (as __sys_sendto does). */
function sendFlags(sock: Socket, flags: number): number {
  return fileFlags(sock) & O_NONBLOCK ? flags | MSG_DONTWAIT : flags;
}

async function sysSetsockopt(t: Task, fd: unknown, levelArg: unknown, optnameArg: unknown, optval: unknown, optlenArg: unknown): Promise<number> {
  const optlen = toInt32(optlenArg);
  if (optlen < 0) fail(EINVAL);
  const sock = sockfd(t, fd);
  let v: Uint8Array;
  if (typeof optval === 'number' && optlen >= 0) {
    // Convenience: an int value passed directly.
    v = new Uint8Array(4); new DataView(v.buffer).setInt32(0, optval | 0, true);
    if (optlen < 4) v = v.subarray(0, optlen);
  } else if (isNull(optval)) {
    if (optlen) fail(EFAULT);
    v = new Uint8Array(0);
  } else v = userBuf(optval, optlen).slice();
  if (v.length < optlen) fail(EFAULT);
  const level = toInt32(levelArg), optname = toInt32(optnameArg);
  if (level === SOL_SOCKET && sockSetsockopt(t, sock, optname, v)) return 0;
  await sock.ops.setsockopt(sock, level, optname, v, t);
  return 0;
}

async function sysGetsockopt(t: Task, fd: unknown, levelArg: unknown, optnameArg: unknown, optval: unknown, optlenPtr: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  const len = getIntPtr(optlenPtr);
  if (len < 0) fail(EINVAL);
  const level = toInt32(levelArg), optname = toInt32(optnameArg);
  let v = level === SOL_SOCKET ? sockGetsockopt(sock, optname) : null;
  if (!v) v = await sock.ops.getsockopt(sock, level, optname, len, t);
  const n = Math.min(len, v.length);
  if (n) {
    if (optval instanceof Uint8Array) { if (optval.length < n) fail(EFAULT); optval.set(v.subarray(0, n)); }
    else if (typeof optval === 'object' && optval !== null) (optval as { value: number }).value = n >= 4 ? new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true) : v[0]!;
    else fail(EFAULT);
  }
  putIntPtr(optlenPtr, n);
  return 0;
}

async function sysShutdown(t: Task, fd: unknown, how: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  await sock.ops.shutdown(sock, toInt32(how));
  return 0;
}

// ---- msghdr and control messages -----------------------------------------------------------------

interface UserMsghdr {
  msg_name?: unknown; msg_namelen?: number; msg_iov?: unknown[]; msg_iovlen?: number;
  msg_control?: unknown; msg_controllen?: number; msg_flags?: number;
}

function userMsg(arg: unknown): UserMsghdr {
  if (typeof arg !== 'object' || arg === null || ArrayBuffer.isView(arg)) fail(EFAULT);
  return arg as UserMsghdr;
}

/** copy_msghdr_from_user + import_iovec. */
function msgIov(m: UserMsghdr): Uint8Array[] {
  const iov = m.msg_iov ?? [];
  if (!Array.isArray(iov)) fail(EFAULT);
  const n = m.msg_iovlen ?? iov.length;
  if (n > UIO_MAXIOV) fail(EMSGSIZE);
  if (n > iov.length) fail(EFAULT);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = iov[i];
    if (v instanceof Uint8Array) out.push(v);
    else if (typeof v === 'object' && v !== null && 'iov_base' in v) {
      const base = (v as { iov_base: unknown; iov_len?: number }).iov_base;
      const len = (v as { iov_len?: number }).iov_len;
      if (isNull(base) && !len) { out.push(new Uint8Array(0)); continue; }
      out.push(userBuf(base, len));
    } else fail(EFAULT);
  }
  return out;
}

function controlBuf(m: UserMsghdr): Uint8Array | null {
  if (isNull(m.msg_control)) return null;
  if (!(m.msg_control instanceof Uint8Array)) fail(EFAULT);
  const len = m.msg_controllen ?? m.msg_control.length;
  if (len > m.msg_control.length) fail(EFAULT);
  return m.msg_control.subarray(0, len);
}

/** __scm_send: SCM_RIGHTS (references on the named files) and SCM_CREDENTIALS. */
function scmSend(t: Task, sock: Socket, ctl: Uint8Array | null): ScmCookie | null {
  if (!ctl || ctl.length < CMSGHDR_SIZE) return null;
  const scm: ScmCookie = { fds: [], creds: null };
  const dv = new DataView(ctl.buffer, ctl.byteOffset, ctl.byteLength);
  try {
    for (let off = 0; off + CMSGHDR_SIZE <= ctl.length;) {
      const clen = Number(dv.getBigUint64(off, true));
      if (clen < CMSGHDR_SIZE || clen > ctl.length - off) fail(EINVAL);
      const level = dv.getInt32(off + 8, true), type = dv.getInt32(off + 12, true);
      if (level === SOL_SOCKET) {
        if (sock.family !== AF_UNIX) fail(EINVAL);
        const dlen = clen - CMSGHDR_SIZE;
        if (type === SCM_RIGHTS) {
          const num = Math.floor(dlen / 4);
          if (num > 0) {
            if (scm.fds.length + num > SCM_MAX_FD) fail(EINVAL);
            for (let i = 0; i < num; i++) {
              const f = t.files.peek(dv.getInt32(off + CMSGHDR_SIZE + 4 * i, true)) ?? fail(EBADF);
              f.refs++;
              scm.fds.push(f);
            }
          }
        } else if (type === SCM_CREDENTIALS) {
          if (dlen !== UCRED_SIZE) fail(EINVAL);
          const pid = dv.getInt32(off + 16, true), uid = dv.getUint32(off + 20, true), gid = dv.getUint32(off + 24, true);
          const c = t.cred;
          if (pid !== t.tgid && !c.capable(21 /* CAP_SYS_ADMIN */)) fail(EPERM);
          if (uid !== c.uid && uid !== c.euid && uid !== c.suid && !c.capable(CAP_SETUID)) fail(EPERM);
          if (gid !== c.gid && gid !== c.egid && gid !== c.sgid && !c.capable(CAP_SETGID)) fail(EPERM);
          scm.creds = { pid, uid, gid };
        } else fail(EINVAL);
      }
      off += CMSG_ALIGN(clen);
    }
  } catch (e) {
    for (const f of scm.fds) f.refs--;
    throw e;
  }
  return scm.fds.length || scm.creds ? scm : null;
}

async function dropScmFiles(scm: ScmCookie | null): Promise<void> {
  if (scm) for (const f of scm.fds) await fput(f);
}

/** put_cmsg into the control buffer at `off`; returns the new offset, or -1 when it did not fit. */
function putCmsg(ctl: Uint8Array, off: number, level: number, type: number, data: Uint8Array): number {
  const need = CMSGHDR_SIZE + data.length;
  if (ctl.length - off < need) return -1;
  const dv = new DataView(ctl.buffer, ctl.byteOffset, ctl.byteLength);
  dv.setBigUint64(off, BigInt(need), true);
  dv.setInt32(off + 8, level, true);
  dv.setInt32(off + 12, type, true);
  ctl.set(data, off + CMSGHDR_SIZE);
  return Math.min(ctl.length, off + CMSG_SPACE(data.length));
}

/** scm_recv: credentials (SO_PASSCRED) and passed files into cmsgs; returns the bytes used. */
async function scmRecv(t: Task, sock: Socket, msg: MsgHdr, ctl: Uint8Array | null, flags: number): Promise<number> {
  const scm = msg.scm;
  let off = 0;
  if (!scm) return 0;
  if (sock.passcred && scm.creds) {
    const d = new Uint8Array(UCRED_SIZE);
    const v = new DataView(d.buffer);
    v.setInt32(0, scm.creds.pid, true); v.setUint32(4, scm.creds.uid >>> 0, true); v.setUint32(8, scm.creds.gid >>> 0, true);
    const r = ctl ? putCmsg(ctl, off, SOL_SOCKET, SCM_CREDENTIALS, d) : -1;
    if (r < 0) msg.flags |= MSG_CTRUNC; else off = r;
  }
  if (scm.fds.length) {
    const room = ctl ? Math.max(0, Math.floor((ctl.length - off - CMSGHDR_SIZE) / 4)) : 0;
    const n = Math.min(room, scm.fds.length);
    const fds: number[] = [];
    let i = 0;
    for (; i < n; i++) {
      try { fds.push(installFd(t, scm.fds[i]!, flags & MSG_CMSG_CLOEXEC ? O_CLOEXEC : 0)); }
      catch (e) { if (e instanceof KernelError) break; throw e; }
    }
    if (i < scm.fds.length) msg.flags |= MSG_CTRUNC;
    for (let j = i; j < scm.fds.length; j++) await fput(scm.fds[j]!);
    if (fds.length && ctl) {
      const d = new Uint8Array(4 * fds.length);
      const v = new DataView(d.buffer);
      fds.forEach((fd, k) => v.setInt32(4 * k, fd, true));
      off = putCmsg(ctl, off, SOL_SOCKET, SCM_RIGHTS, d);
    }
    scm.fds = [];
  }
  // Protocol-level ancillary data (IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS, ...), in order.
  for (const c of scm.cmsgs ?? []) {
    const r = ctl ? putCmsg(ctl, off, c.level, c.type, c.data) : -1;
    if (r < 0) { msg.flags |= MSG_CTRUNC; break; }
    off = r;
  }
  return off;
}

async function doSendmsg(t: Task, sock: Socket, m: UserMsghdr, flags: number): Promise<number> {
  const iov = msgIov(m);
  let name: Uint8Array | null = null;
  if (!isNull(m.msg_name)) name = addrFromUser(m.msg_name, m.msg_namelen ?? 0);
  const scm = scmSend(t, sock, controlBuf(m));
  const msg = newMsg(iov, name && name.length ? name : null);
  msg.scm = scm;
  return sock.ops.sendmsg(sock, msg, sendFlags(sock, flags & ~MSG_CMSG_CLOEXEC), t);
}

async function doRecvmsg(t: Task, sock: Socket, m: UserMsghdr, flags: number): Promise<number> {
  const iov = msgIov(m);
  const ctl = controlBuf(m);
  const msg = newMsg(iov, null);
  msg.controlLen = ctl?.length ?? 0;
  const r = await sock.ops.recvmsg(sock, msg, sendFlags(sock, flags & ~MSG_CMSG_CLOEXEC), t);
  const used = await scmRecv(t, sock, msg, ctl, flags);
  if (!isNull(m.msg_name)) {
    const nm = msg.name ?? new Uint8Array(0);
    if (m.msg_name instanceof Uint8Array) {
      const n = Math.min(nm.length, m.msg_namelen ?? m.msg_name.length, m.msg_name.length);
      m.msg_name.set(nm.subarray(0, n));
      m.msg_namelen = nm.length;
    } else {
      const box = { value: 0 };
      addrToUser(nm, m.msg_name, box);
      m.msg_namelen = nm.length;
    }
  } else m.msg_namelen = 0;
  m.msg_controllen = used;
  m.msg_flags = msg.flags;
  return r;
}

async function sysSendmsg(t: Task, fd: unknown, msgArg: unknown, flags: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  return doSendmsg(t, sock, userMsg(msgArg), toInt32(flags));
}

async function sysRecvmsg(t: Task, fd: unknown, msgArg: unknown, flags: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  return doRecvmsg(t, sock, userMsg(msgArg), toInt32(flags));
}

interface UserMmsghdr { msg_hdr: UserMsghdr; msg_len?: number }

function mmsgVec(vec: unknown, vlen: number): UserMmsghdr[] {
  if (!Array.isArray(vec) || vec.length < vlen) fail(EFAULT);
  return vec as UserMmsghdr[];
}

async function sysSendmmsg(t: Task, fd: unknown, vecArg: unknown, vlenArg: unknown, flagsArg: unknown): Promise<number> {
  const sock = sockfd(t, fd);
  const vlen = Math.min(toUint32(vlenArg), UIO_MAXIOV);
  const flags = toInt32(flagsArg);
  const vec = mmsgVec(vecArg, vlen);
  let n = 0;
  for (; n < vlen; n++) {
    try {
      const e = vec[n]!;
      e.msg_len = await doSendmsg(t, sock, userMsg(e.msg_hdr), flags);
    } catch (e) { if (n) break; throw e; }
  }
  return n;
}

/** The timeout of recvmmsg: a struct timespec (16 bytes) or {sec, nsec}; null: none. */
function timeoutNs(arg: unknown): number {
  if (isNull(arg)) return Infinity;
  let sec: number, nsec: number;
  if (arg instanceof Uint8Array) {
    if (arg.length < TIMEVAL_SIZE) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, 16);
    sec = Number(v.getBigInt64(0, true)); nsec = Number(v.getBigInt64(8, true));
  } else if (typeof arg === 'object' && arg !== null) {
    sec = Number((arg as { sec?: number; tv_sec?: number }).sec ?? (arg as { tv_sec?: number }).tv_sec ?? 0);
    nsec = Number((arg as { nsec?: number; tv_nsec?: number }).nsec ?? (arg as { tv_nsec?: number }).tv_nsec ?? 0);
  } else fail(EFAULT);
  if (sec < 0 || nsec < 0 || nsec >= 1e9) fail(EINVAL);
  return sec * 1e9 + nsec;
}

async function sysRecvmmsg(t: Task, fd: unknown, vecArg: unknown, vlenArg: unknown, flagsArg: unknown, timeout: unknown): Promise<number> {
  const to = timeoutNs(timeout);
  const sock = sockfd(t, fd);
  const vlen = Math.min(toUint32(vlenArg), UIO_MAXIOV);
  let flags = toInt32(flagsArg);
  const vec = mmsgVec(vecArg, vlen);
  const end = to === Infinity ? Infinity : t.kernel.clock.monotonicNs() + to;
  let n = 0;
  for (; n < vlen; n++) {
    try {
      const e = vec[n]!;
      e.msg_len = await doRecvmsg(t, sock, userMsg(e.msg_hdr), flags);
    } catch (e) {
      if (n && e instanceof KernelError && e.errno === EAGAIN) break;
      if (n) { sock.err = (e as KernelError).errno ?? 0; break; }
      throw e;
    }
    if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
    if (t.kernel.clock.monotonicNs() >= end) { n++; break; }
  }
  return n;
}

/** The handlers by syscall name; sys_net.ts's table entries call through this once it is loaded. */
export const socketHandlers: Record<string, SyscallHandler> = {
  socket: sysSocket,
  socketpair: sysSocketpair,
  bind: sysBind,
  listen: sysListen,
  accept: sysAccept,
  accept4: sysAccept4,
  connect: sysConnect,
  getsockname: sysGetname(false),
  getpeername: sysGetname(true),
  sendto: sysSendto,
  recvfrom: sysRecvfrom,
  setsockopt: sysSetsockopt,
  getsockopt: sysGetsockopt,
  shutdown: sysShutdown,
  sendmsg: sysSendmsg,
  recvmsg: sysRecvmsg,
  sendmmsg: sysSendmmsg,
  recvmmsg: sysRecvmmsg,
};
