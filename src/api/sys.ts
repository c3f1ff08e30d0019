/*
 * kernel.sys: one wrapper per system call by its asm-generic name, plus LKL's convenience names
 * for calls the generic table lacks (open, mkdir, stat, pipe, poll, ...), mapped the way lkl.h
 * maps them. Every wrapper returns what the raw call returns: >= 0 or -errno.
 */
import { NR, type SyscallName } from '../uapi/unistd.js';
import {
  AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_WRONLY, O_TRUNC,
} from '../uapi/fcntl.js';
import { EINVAL, EBADF } from '../uapi/errno.js';

type Raw = (nr: number, args: unknown[]) => Promise<number>;
type Call = (...args: any[]) => Promise<number>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Convenience {
  open(path: string | Uint8Array, flags: number, mode?: number): Promise<number>;
  creat(path: string | Uint8Array, mode: number): Promise<number>;
  mkdir(path: string | Uint8Array, mode: number): Promise<number>;
  rmdir(path: string | Uint8Array): Promise<number>;
  unlink(path: string | Uint8Array): Promise<number>;
  link(oldpath: string | Uint8Array, newpath: string | Uint8Array): Promise<number>;
  symlink(target: string | Uint8Array, linkpath: string | Uint8Array): Promise<number>;
  readlink(path: string | Uint8Array, buf: Uint8Array, size: number): Promise<number>;
  rename(oldpath: string | Uint8Array, newpath: string | Uint8Array): Promise<number>;
  access(path: string | Uint8Array, mode: number): Promise<number>;
  chmod(path: string | Uint8Array, mode: number): Promise<number>;
  chown(path: string | Uint8Array, uid: number, gid: number): Promise<number>;
  lchown(path: string | Uint8Array, uid: number, gid: number): Promise<number>;
  mknod(path: string | Uint8Array, mode: number, dev: number): Promise<number>;
  stat(path: string | Uint8Array, out: object): Promise<number>;
  lstat(path: string | Uint8Array, out: object): Promise<number>;
  pipe(fds: Int32Array | number[]): Promise<number>;
  dup2(oldfd: number, newfd: number): Promise<number>;
  poll(fds: unknown, nfds: number, timeoutMs: number): Promise<number>;
  select(nfds: number, r: unknown, w: unknown, e: unknown, tv: { sec: number; usec: number } | null): Promise<number>;
  epoll_create(size: number): Promise<number>;
  epoll_wait(epfd: number, events: unknown, maxevents: number, timeoutMs: number): Promise<number>;
  utimes(path: string | Uint8Array, times: unknown): Promise<number>;
}

export type Sys = Record<SyscallName, Call> & Convenience;

export function makeSys(raw: Raw): Sys {
  const sys: Record<string, Call> = {};
  for (const [name, nr] of Object.entries(NR)) sys[name] = (...args: unknown[]) => raw(nr, args);
  const c: Convenience = {
    open: (p, f, m = 0) => raw(NR.openat, [AT_FDCWD, p, f, m]),
    creat: (p, m) => raw(NR.openat, [AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m]),
    mkdir: (p, m) => raw(NR.mkdirat, [AT_FDCWD, p, m]),
    rmdir: (p) => raw(NR.unlinkat, [AT_FDCWD, p, AT_REMOVEDIR]),
    unlink: (p) => raw(NR.unlinkat, [AT_FDCWD, p, 0]),
    link: (o, n) => raw(NR.linkat, [AT_FDCWD, o, AT_FDCWD, n, 0]),
    symlink: (t, l) => raw(NR.symlinkat, [t, AT_FDCWD, l]),
    readlink: (p, b, s) => raw(NR.readlinkat, [AT_FDCWD, p, b, s]),
    rename: (o, n) => raw(NR.renameat, [AT_FDCWD, o, AT_FDCWD, n]),
    access: (p, m) => raw(NR.faccessat, [AT_FDCWD, p, m]),
    chmod: (p, m) => raw(NR.fchmodat, [AT_FDCWD, p, m]),
    chown: (p, u, g) => raw(NR.fchownat, [AT_FDCWD, p, u, g, 0]),
    lchown: (p, u, g) => raw(NR.fchownat, [AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW]),
    mknod: (p, m, d) => raw(NR.mknodat, [AT_FDCWD, p, m, d]),
    stat: (p, o) => raw(NR.newfstatat, [AT_FDCWD, p, o, 0]),
    lstat: (p, o) => raw(NR.newfstatat, [AT_FDCWD, p, o, AT_SYMLINK_NOFOLLOW]),
    pipe: (fds) => raw(NR.pipe2, [fds, 0]),
    dup2: async (o, n) => {
      // dup2(fd, fd) returns fd when valid (dup3 would say EINVAL).
      if (o === n) { const r = await raw(NR.fcntl, [o, 1 /* F_GETFD */, 0]); return r < 0 ? -EBADF : n; }
      return raw(NR.dup3, [o, n, 0]);
    },
    poll: (fds, n, ms) => raw(NR.ppoll, [fds, n, ms < 0 ? null : { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }, null, 8]),
    select: (n, r, w, e, tv) => raw(NR.pselect6, [n, r, w, e, tv ? { sec: tv.sec, nsec: tv.usec * 1000 } : null, null]),
    epoll_create: async (size) => (size <= 0 ? -EINVAL : raw(NR.epoll_create1, [0])),
    epoll_wait: (ep, ev, max, ms) => raw(NR.epoll_pwait, [ep, ev, max, ms, null, 8]),
    utimes: (p, t) => raw(NR.utimensat, [AT_FDCWD, p, t, 0]),
  };
  return Object.assign(sys, c) as Sys;
}
