/*
 * Readiness syscalls: ppoll, pselect6, epoll_create1, epoll_ctl, epoll_pwait, epoll_pwait2.
 * (The generic table has no poll, select, epoll_create or epoll_wait; the public API maps those
 * names onto these, as LKL does.)
 *
 * Argument shapes (see src/mm/uaccess.ts):
 *   struct pollfd      8 bytes {int fd; short events; short revents} in a Uint8Array, or an
 *                      array of {fd, events, revents} objects whose revents we fill;
 *   fd_set             a Uint8Array bitmap (little-endian longs, so bit fd of byte fd>>3);
 *   struct timespec    16 bytes {i64 sec; i64 nsec} or {sec, nsec}; ppoll and pselect6 write
 *                      the time left back into it, as Linux does;
 *   struct epoll_event 16 bytes {u32 events; u32 pad; u64 data} — LKL is not x86_64, so the
 *                      struct is not packed — or {events, data} objects with data kept verbatim.
 * Signal masks are accepted and ignored: signals are not delivered to JavaScript callers.
 */
import { fail, KernelError } from '../lib/errors.js';
import { EINVAL, EFAULT, EBADF, EINTR } from '../uapi/errno.js';
import {
  POLLIN, POLLOUT, POLLERR, POLLHUP, POLLPRI, POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND,
  EPOLL_CTL_DEL,
} from '../uapi/misc.js';
import type { Task } from '../kernel/index.js';
import { NSEC_PER_SEC, timespecToNs, nsToTimespec } from '../kernel/index.js';
import { fput, type File } from '../fs/vfs/index.js';
import { doPoll, createEpoll, epollCtl, epollWait, type EpollEvent } from '../fs/eventpoll/index.js';
import { isNull, toInt32, toUint32 } from '../mm/index.js';
import { installFd } from './common.js';
import { readTimespec, writeTimespec } from './sys_time.js';
import type { SyscallDef } from './types.js';

/** sizeof(sigset_t) on LKL. */
const SIGSET_SIZE = 8;
const POLLIN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
const POLLOUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
const POLLEX_SET = POLLPRI;

// ---- timeouts ----------------------------------------------------------------------------------

/**
 * A relative timespec argument as an absolute deadline: null = Infinity (no timeout). Negative
 * fields or nsec >= 1e9 are EINVAL (poll_select_set_timeout).
 */
function deadlineFrom(t: Task, tsp: unknown): number {
  if (isNull(tsp)) return Infinity;
  const ts = readTimespec(tsp);
  if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= NSEC_PER_SEC) fail(EINVAL);
  if (ts.sec === 0 && ts.nsec === 0) return 0;
  return t.kernel.clock.monotonicNs() + timespecToNs(ts);
}

/** poll_select_finish: write the time left back (not for a zero timeout). */
function putTimeLeft(t: Task, tsp: unknown, deadline: number): void {
  if (isNull(tsp) || deadline === Infinity || deadline === 0) return;
  writeTimespec(tsp, nsToTimespec(Math.max(0, deadline - t.kernel.clock.monotonicNs())));
}

/** Run a wait, writing the time left back both on success and on EINTR. */
async function timed<T>(t: Task, tsp: unknown, deadline: number, fn: () => Promise<T>): Promise<T> {
  try {
    const r = await fn();
    putTimeLeft(t, tsp, deadline);
    return r;
  } catch (e) {
    if (e instanceof KernelError && e.errno === EINTR) putTimeLeft(t, tsp, deadline);
    throw e;
  }
}

function pollOpts(t: Task) { return { abort: t.kernel.haltWait, vfs: t.kernel.vfs }; }

// ---- ppoll -------------------------------------------------------------------------------------

interface PollfdObj { fd: number; events: number; revents?: number }

async function sysPpoll(t: Task, fdsArg: unknown, nfdsArg: unknown, tsp: unknown, sigmask: unknown,
  sigsetsize: unknown): Promise<number> {
  const nfds = toUint32(nfdsArg);
  const deadline = deadlineFrom(t, tsp);
  checkSigmask(sigmask, sigsetsize);
  if (nfds > t.nofile) fail(EINVAL);
  // Decode struct pollfd[nfds].
  const fds: number[] = [], events: number[] = [];
  let view: DataView | undefined;
  if (nfds > 0) {
    if (fdsArg instanceof Uint8Array) {
      if (fdsArg.length < nfds * 8) fail(EFAULT);
      view = new DataView(fdsArg.buffer, fdsArg.byteOffset, nfds * 8);
      for (let i = 0; i < nfds; i++) { fds.push(view.getInt32(i * 8, true)); events.push(view.getUint16(i * 8 + 4, true)); }
    } else if (Array.isArray(fdsArg) && fdsArg.length >= nfds) {
      for (let i = 0; i < nfds; i++) {
        const p = fdsArg[i] as PollfdObj | undefined;
        if (typeof p !== 'object' || p === null) fail(EFAULT);
        fds.push(toInt32(p.fd)); events.push(toUint32(p.events) & 0xffff);
      }
    } else fail(EFAULT);
  }
  // Negative fds are skipped; closed ones report POLLNVAL.
  const idx: number[] = [], files: (File | undefined)[] = [], ev: number[] = [];
  for (let i = 0; i < nfds; i++) {
    if (fds[i]! < 0) continue;
    idx.push(i); files.push(t.files.peek(fds[i]!)); ev.push(events[i]!);
  }
  const got = await timed(t, tsp, deadline, () => doPoll(files, ev, deadline, t.kernel.clock, pollOpts(t)));
  const revents = new Array<number>(nfds).fill(0);
  idx.forEach((i, k) => { revents[i] = got[k]!; });
  let count = 0;
  for (let i = 0; i < nfds; i++) {
    if (revents[i]) count++;
    if (view) view.setUint16(i * 8 + 6, revents[i]!, true);
    else (fdsArg as PollfdObj[])[i]!.revents = revents[i]!;
  }
  return count;
}

// ---- pselect6 ----------------------------------------------------------------------------------

/** Linux's fd table capacity for a table whose highest fd is size-1 (fdtable max_fds). */
function maxFds(size: number): number {
  if (size <= 64) return 64;
  let n = 1;
  const want = Math.floor((size - 1) / 128) + 1;
  while (n < want) n *= 2;
  return n * 128;
}

function fdSet(arg: unknown, n: number): Uint8Array | null {
  if (isNull(arg)) return null;
  if (!ArrayBuffer.isView(arg)) fail(EFAULT);
  const b = new Uint8Array(arg.buffer, arg.byteOffset, arg.byteLength);
  if (b.length * 8 < n) fail(EFAULT);
  return b;
}
const bit = (s: Uint8Array | null, fd: number): boolean => s !== null && (s[fd >> 3]! & (1 << (fd & 7))) !== 0;

async function sysPselect6(t: Task, nArg: unknown, inp: unknown, outp: unknown, exp: unknown,
  tsp: unknown, _sig: unknown): Promise<number> {
  let n = toInt32(nArg);
  const deadline = deadlineFrom(t, tsp);
  if (n < 0) fail(EINVAL);
  n = Math.min(n, maxFds(t.files.size));
  const sets = [fdSet(inp, n), fdSet(outp, n), fdSet(exp, n)] as const;
  const fds: number[] = [], files: File[] = [], events: number[] = [];
  for (let fd = 0; fd < n; fd++) {
    const want = (bit(sets[0], fd) ? POLLIN_SET : 0) | (bit(sets[1], fd) ? POLLOUT_SET : 0) |
      (bit(sets[2], fd) ? POLLEX_SET : 0);
    if (!want) continue;
    const f = t.files.peek(fd);
    if (!f) fail(EBADF);
    fds.push(fd); files.push(f); events.push(want);
  }
  const got = await timed(t, tsp, deadline,
    () => doPoll(files, events, deadline, t.kernel.clock, { ...pollOpts(t), implicit: 0 }));
  // Results replace the inputs: clear each given set's bits below n, then mark the ready ones.
  const res = sets.map((s) => (s ? new Uint8Array(s.length) : null));
  let count = 0;
  fds.forEach((fd, k) => {
    const m = got[k]!;
    const mark = (which: number, mask: number): void => {
      const s = sets[which], r = res[which];
      if (s && r && bit(s, fd) && (m & mask)) { r[fd >> 3] = r[fd >> 3]! | (1 << (fd & 7)); count++; }
    };
    mark(0, POLLIN_SET); mark(1, POLLOUT_SET); mark(2, POLLEX_SET);
  });
  sets.forEach((s, i) => {
    if (!s) return;
    const bytes = Math.min(s.length, Math.ceil(n / 64) * 8);
    s.set(res[i]!.subarray(0, bytes), 0);
  });
  return count;
}

// ---- epoll -------------------------------------------------------------------------------------

const EPOLL_EVENT_SIZE = 16;

function readEpollEvent(arg: unknown): EpollEvent {
  if (arg instanceof Uint8Array) {
    if (arg.length < EPOLL_EVENT_SIZE) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, EPOLL_EVENT_SIZE);
    return { events: v.getUint32(0, true), data: v.getBigUint64(8, true) };
  }
  if (typeof arg === 'object' && arg !== null && 'events' in arg) {
    const e = arg as { events: unknown; data?: unknown };
    return { events: toUint32(e.events), data: e.data };
  }
  fail(EFAULT);
}

/** epoll_data as a u64 for the byte layout. */
function dataU64(d: unknown): bigint {
  if (typeof d === 'bigint') return BigInt.asUintN(64, d);
  if (typeof d === 'number' && Number.isFinite(d)) return BigInt.asUintN(64, BigInt(Math.trunc(d)));
  return 0n;
}

async function sysEpollCreate1(t: Task, flagsArg: unknown): Promise<number> {
  const flags = toInt32(flagsArg);
  const f = createEpoll(t.kernel.vfs, t.cred, flags);
  try { return installFd(t, f, flags); } catch (e) { await fput(f); throw e; }
}

function sysEpollCtl(t: Task, epfdArg: unknown, opArg: unknown, fdArg: unknown, event: unknown): number {
  const op = toInt32(opArg), fd = toInt32(fdArg);
  const ev = op !== EPOLL_CTL_DEL ? readEpollEvent(event) : undefined;
  const ep = t.files.get(toInt32(epfdArg));
  const target = t.files.get(fd);
  epollCtl(ep, op, fd, target, ev);
  return 0;
}

/** How many events the output argument can take (EFAULT when none). */
function eventsRoom(out: unknown, maxevents: number): number {
  if (out instanceof Uint8Array) {
    const room = Math.floor(out.length / EPOLL_EVENT_SIZE);
    if (room === 0) fail(EFAULT);
    return Math.min(room, maxevents);
  }
  if (Array.isArray(out)) return maxevents;
  fail(EFAULT);
}

function putEvents(out: unknown, evs: EpollEvent[]): void {
  if (out instanceof Uint8Array) {
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    evs.forEach((e, i) => {
      const o = i * EPOLL_EVENT_SIZE;
      v.setUint32(o, e.events >>> 0, true);
      v.setUint32(o + 4, 0, true);
      v.setBigUint64(o + 8, dataU64(e.data), true);
    });
    return;
  }
  // An array: fill given objects in place, otherwise store fresh ones.
  const arr = out as unknown[];
  evs.forEach((e, i) => {
    const slot = arr[i];
    if (typeof slot === 'object' && slot !== null) Object.assign(slot, { events: e.events, data: e.data });
    else arr[i] = { events: e.events, data: e.data };
  });
}

async function doEpollWait(t: Task, epfdArg: unknown, out: unknown, maxArg: unknown, timeoutNs: number): Promise<number> {
  const maxevents = toInt32(maxArg);
  if (maxevents <= 0) fail(EINVAL);
  const room = eventsRoom(out, maxevents);
  const ep = t.files.get(toInt32(epfdArg));
  const evs = await epollWait(ep, room, timeoutNs, t.kernel.clock, t.kernel.haltWait);
  putEvents(out, evs);
  return evs.length;
}

function checkSigmask(sigmask: unknown, sigsetsize: unknown): void {
  if (!isNull(sigmask) && toInt32(sigsetsize) !== SIGSET_SIZE) fail(EINVAL);
}

async function sysEpollPwait(t: Task, epfd: unknown, events: unknown, maxevents: unknown, timeoutArg: unknown,
  sigmask: unknown, sigsetsize: unknown): Promise<number> {
  checkSigmask(sigmask, sigsetsize);
  const ms = toInt32(timeoutArg);
  return doEpollWait(t, epfd, events, maxevents, ms < 0 ? -1 : ms * 1e6);
}

async function sysEpollPwait2(t: Task, epfd: unknown, events: unknown, maxevents: unknown, tsp: unknown,
  sigmask: unknown, sigsetsize: unknown): Promise<number> {
  let ns = -1;
  if (!isNull(tsp)) {
    const ts = readTimespec(tsp);
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= NSEC_PER_SEC) fail(EINVAL);
    ns = timespecToNs(ts);
  }
  checkSigmask(sigmask, sigsetsize);
  return doEpollWait(t, epfd, events, maxevents, ns);
}

export const pollSyscalls: SyscallDef[] = [
  { name: 'ppoll', handler: sysPpoll, support: 'partial', note: 'signal mask ignored (no signal delivery)' },
  { name: 'pselect6', handler: sysPselect6, support: 'partial', note: 'signal mask ignored (no signal delivery)' },
  { name: 'epoll_create1', handler: sysEpollCreate1 },
  { name: 'epoll_ctl', handler: sysEpollCtl, note: 'struct epoll_event is 16 bytes (not packed: LKL is not x86_64)' },
  { name: 'epoll_pwait', handler: sysEpollPwait, support: 'partial', note: 'signal mask ignored (no signal delivery)' },
  { name: 'epoll_pwait2', handler: sysEpollPwait2, support: 'partial', note: 'signal mask ignored (no signal delivery)' },
];
