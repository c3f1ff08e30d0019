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

/**
 * One prototype per process holding a getter for every syscall name: creating a task's `sys` is
 * one small object, and each wrapper is bound to its task the first time it is used, so it can be
 * detached (`const { getpid } = k.sys`) like node:fs functions.
 */
class SysBase { constructor(readonly raw: Raw) {} }
const proto = SysBase.prototype as unknown as object;
function defineLazy(name: string, make: (self: SysBase) => Call): void {
  Object.defineProperty(proto, name, {
    configurable: true,
    get(this: SysBase) {
      const f = make(this);
      Object.defineProperty(this, name, { value: f, enumerable: true });
      return f;
    },
  });
}
for (const [name, nr] of Object.entries(NR)) defineLazy(name, (self) => (...args: unknown[]) => self.raw(nr, args));
const convenience: Record<keyof Convenience, (this: SysBase, ...a: any[]) => Promise<number>> = { // eslint-disable-line @typescript-eslint/no-explicit-any
  open(p, f, m = 0) { return this.raw(NR.openat, [AT_FDCWD, p, f, m]); },
  creat(p, m) { return this.raw(NR.openat, [AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m]); },
  mkdir(p, m) { return this.raw(NR.mkdirat, [AT_FDCWD, p, m]); },
  rmdir(p) { return this.raw(NR.unlinkat, [AT_FDCWD, p, AT_REMOVEDIR]); },
  unlink(p) { return this.raw(NR.unlinkat, [AT_FDCWD, p, 0]); },
  link(o, n) { return this.raw(NR.linkat, [AT_FDCWD, o, AT_FDCWD, n, 0]); },
  symlink(t, l) { return this.raw(NR.symlinkat, [t, AT_FDCWD, l]); },
  readlink(p, b, s) { return this.raw(NR.readlinkat, [AT_FDCWD, p, b, s]); },
  rename(o, n) { return this.raw(NR.renameat, [AT_FDCWD, o, AT_FDCWD, n]); },
  access(p, m) { return this.raw(NR.faccessat, [AT_FDCWD, p, m]); },
  chmod(p, m) { return this.raw(NR.fchmodat, [AT_FDCWD, p, m]); },
  chown(p, u, g) { return this.raw(NR.fchownat, [AT_FDCWD, p, u, g, 0]); },
  lchown(p, u, g) { return this.raw(NR.fchownat, [AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW]); },
  mknod(p, m, d) { return this.raw(NR.mknodat, [AT_FDCWD, p, m, d]); },
  stat(p, o) { return this.raw(NR.newfstatat, [AT_FDCWD, p, o, 0]); },
  lstat(p, o) { return this.raw(NR.newfstatat, [AT_FDCWD, p, o, AT_SYMLINK_NOFOLLOW]); },
  pipe(fds) { return this.raw(NR.pipe2, [fds, 0]); },
  async dup2(o, n) {
    // dup2(fd, fd) returns fd when valid (dup3 would say EINVAL).
    if (o === n) { const r = await this.raw(NR.fcntl, [o, 1 /* F_GETFD */, 0]); return r < 0 ? -EBADF : n; }
    return this.raw(NR.dup3, [o, n, 0]);
  },
  poll(fds, n, ms) { return this.raw(NR.ppoll, [fds, n, ms < 0 ? null : { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }, null, 8]); },
  select(n, r, w, e, tv) { return this.raw(NR.pselect6, [n, r, w, e, tv ? { sec: tv.sec, nsec: tv.usec * 1000 } : null, null]); },
  async epoll_create(size) { return size <= 0 ? -EINVAL : this.raw(NR.epoll_create1, [0]); },
  epoll_wait(ep, ev, max, ms) { return this.raw(NR.epoll_pwait, [ep, ev, max, ms, null, 8]); },
  utimes(p, t) { return this.raw(NR.utimensat, [AT_FDCWD, p, t, 0]); },
};
for (const [name, fn] of Object.entries(convenience)) defineLazy(name, (self) => fn.bind(self));

export function makeSys(raw: Raw): Sys {
  return new SysBase(raw) as unknown as Sys;
}
