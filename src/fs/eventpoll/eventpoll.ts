/*
 * epoll (fs/eventpoll.c, epoll(7)).
 *
 * An epoll instance is a file holding an interest list — items keyed by (fd number, File), as
 * Linux keys them, so dup'ed fds are separate items — and a ready list. Adding an item hooks a
 * callback on the target's wait queue; when the target wakes it with a key that intersects the
 * item's events (or key 0, "anything"), the item goes onto the ready list and epoll's own
 * queue is woken. epoll_wait walks the ready list, asks each target for its current mask
 * (fop.poll) and reports the ready ones:
 *   - level-triggered (default): a reported item stays on the ready list, so it is reported
 *     again for as long as it is ready;
 *   - EPOLLET: it leaves the list and comes back only with the next wake-up;
 *   - EPOLLONESHOT: after one report the item is disarmed (events cleared but the private
 *     bits) until EPOLL_CTL_MOD re-arms it.
 * EPOLLERR and EPOLLHUP are always watched. An epoll file is itself pollable (POLLIN when an
 * item is ready), so epolls nest — at most EP_MAX_NESTS deep, and never in a cycle (ELOOP).
 *
 * When a target's last reference is dropped Linux removes its items at once; here they are
 * dropped lazily, the next time the ready list meets them (release wakes the target's queue,
 * which puts them there).
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EINVAL, EPERM, EEXIST, ENOENT, ELOOP, EINTR } from '../../uapi/errno.js';
import { O_RDWR } from '../../uapi/fcntl.js';
import {
  POLLIN, POLLRDNORM, EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLET, EPOLLONESHOT,
  EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_CLOEXEC,
} from '../../uapi/misc.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { Clock } from '../../kernel/ktime/index.js';
import type { File, FileOperations, Vfs } from '../vfs/index.js';
import { anonInodeGetfile, haltableWait } from './anon_inodes.js';
import { vfsPoll } from './select.js';

/** Bits that are flags of the item, not events (EP_PRIVATE_BITS). */
export const EP_PRIVATE_BITS = (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE) >>> 0;
const EPOLLEXCLUSIVE_OK_BITS = (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE) >>> 0;
export const EP_MAX_NESTS = 4;
/** INT_MAX / sizeof(struct epoll_event) */
export const EP_MAX_EVENTS = Math.floor(0x7fffffff / 16);

/** struct epoll_event as kernel code sees it: `data` is the caller's, passed back verbatim. */
export interface EpollEvent { events: number; data: unknown }

/** struct epitem: one (fd, file) in the interest list. */
interface EpItem {
  fd: number;
  file: File;
  events: number;
  data: unknown;
  /** The target's wait queue our callback hangs on, if it has one. */
  wq: WaitQueue | undefined;
  cb: (key: number) => void;
}

/** struct eventpoll. */
export class EventPoll {
  /** Interest list by target file, then fd number. */
  readonly items = new Map<File, Map<number, EpItem>>();
  /** Ready list in arrival order (a Set keeps order and makes "already queued" O(1)). */
  readonly ready = new Set<EpItem>();
  /** Woken with POLLIN when an item becomes ready: epoll_wait sleepers and outer epolls. */
  readonly wait = new WaitQueue();
  /** Epolls that watch this one, with how many items each (ep->refs): for the nesting limit. */
  readonly watchers = new Map<EventPoll, number>();
  file!: File;
}

function epOf(file: File): EventPoll | undefined {
  return file.fop === epollFileOperations ? file.private_data as EventPoll : undefined;
}

/** Is this an epoll file? */
export function isEpoll(file: File): boolean { return file.fop === epollFileOperations; }

// ---- the item callback and ready-list scanning --------------------------------------------------

function makeCallback(ep: EventPoll, item: EpItem): (key: number) => void {
  return (key) => {
    // A disarmed ONESHOT item hears nothing; a keyed wake-up must concern one of its events.
    if (!((item.events & ~EP_PRIVATE_BITS) >>> 0)) return;
    if (key > 0 && !(key & item.events)) return;
    if (ep.ready.has(item)) return;
    ep.ready.add(item);
    ep.wait.wakeAll(POLLIN | POLLRDNORM);
  };
}

function removeItem(ep: EventPoll, item: EpItem): void {
  item.wq?.removeCallback(item.cb);
  ep.ready.delete(item);
  const byFd = ep.items.get(item.file);
  if (byFd) {
    byFd.delete(item.fd);
    if (!byFd.size) ep.items.delete(item.file);
  }
  const inner = epOf(item.file);
  if (inner) {
    const n = (inner.watchers.get(ep) ?? 0) - 1;
    if (n > 0) inner.watchers.set(ep, n); else inner.watchers.delete(ep);
  }
}

/** The item's events that are ready now. */
function itemPoll(item: EpItem): number { return vfsPoll(item.file) & item.events; }

/** ep_send_events: collect up to maxevents from the ready list. */
function sendEvents(ep: EventPoll, maxevents: number): EpollEvent[] {
  const out: EpollEvent[] = [];
  for (const item of [...ep.ready]) {
    if (out.length >= maxevents) break;
    ep.ready.delete(item);
    if (item.file.released) { removeItem(ep, item); continue; }
    const revents = itemPoll(item);
    if (!revents) continue;
    out.push({ events: revents >>> 0, data: item.data });
    if (item.events & EPOLLONESHOT) item.events = (item.events & EP_PRIVATE_BITS) >>> 0;
    else if (!(item.events & EPOLLET)) ep.ready.add(item); // level-triggered: stays listed
  }
  return out;
}

/** The epoll file's own readiness: POLLIN if some listed item really is ready. */
function epollPoll(file: File): number {
  const ep = file.private_data as EventPoll;
  for (const item of [...ep.ready]) {
    if (item.file.released) { removeItem(ep, item); continue; }
    if (itemPoll(item)) return POLLIN | POLLRDNORM;
    ep.ready.delete(item); // not ready after all: forget it until its next wake-up
  }
  return 0;
}

function epollRelease(_inode: unknown, file: File): void {
  const ep = file.private_data as EventPoll;
  for (const byFd of [...ep.items.values()]) for (const item of [...byFd.values()]) removeItem(ep, item);
  ep.wait.wakeAll(0); // sleepers in epoll_wait on this file (only at halt) leave
}

export const epollFileOperations: FileOperations = {
  poll: epollPoll,
  waitQueue: (file) => (file.private_data as EventPoll).wait,
  release: epollRelease,
};

// ---- epoll_create1 -----------------------------------------------------------------------------

/** epoll_create1's work: a new epoll file. `flags` may hold EPOLL_CLOEXEC only (else EINVAL). */
export function createEpoll(vfs: Vfs, cred: Cred, flags: number): File {
  if (flags & ~EPOLL_CLOEXEC) fail(EINVAL);
  const ep = new EventPoll();
  ep.file = anonInodeGetfile(vfs, cred, '[eventpoll]', epollFileOperations, ep, O_RDWR);
  return ep.file;
}

// ---- epoll_ctl ---------------------------------------------------------------------------------

/** How many epoll levels sit below `ep`; Infinity when `into` is among them (a loop). */
function depthBelow(ep: EventPoll, into: EventPoll, level: number): number {
  let result = 0;
  for (const byFd of ep.items.values()) {
    for (const item of byFd.values()) {
      const inner = epOf(item.file);
      if (!inner) continue;
      if (inner === into || level > EP_MAX_NESTS) return Infinity;
      result = Math.max(result, depthBelow(inner, into, level + 1) + 1);
      if (result > EP_MAX_NESTS) return result;
    }
  }
  return result;
}

/** How many epoll levels watch `ep` from above. */
function depthAbove(ep: EventPoll, level: number): number {
  if (level > EP_MAX_NESTS) return Infinity;
  let result = 0;
  for (const outer of ep.watchers.keys()) result = Math.max(result, depthAbove(outer, level + 1) + 1);
  return result;
}

/** ep_loop_check: would watching `to` from `ep` make a cycle or nest too deep? */
function loopCheck(ep: EventPoll, to: EventPoll): boolean {
  const below = depthBelow(to, ep, 0);
  if (below > EP_MAX_NESTS) return true;
  return below + 1 + depthAbove(ep, 0) > EP_MAX_NESTS;
}

/**
 * epoll_ctl on `epFile` for target `target` open as `fd`. The caller has looked both fds up
 * (EBADF). Errors as Linux, in its order: EPERM target cannot poll; EINVAL target is this epoll
 * or epFile is no epoll, EPOLLEXCLUSIVE misuse, bad op; ELOOP nesting; EEXIST / ENOENT.
 */
export function epollCtl(epFile: File, op: number, fd: number, target: File, event?: EpollEvent): void {
  if (!target.fop.poll) fail(EPERM);
  const ep = epOf(epFile);
  if (!ep || epFile === target) fail(EINVAL);
  const hasEvent = op !== EPOLL_CTL_DEL;
  let events = 0;
  if (hasEvent) {
    events = (event?.events ?? 0) >>> 0;
    if (events & EPOLLEXCLUSIVE) {
      if (op === EPOLL_CTL_MOD) fail(EINVAL);
      if (op === EPOLL_CTL_ADD && (isEpoll(target) || (events & ~EPOLLEXCLUSIVE_OK_BITS) >>> 0)) fail(EINVAL);
    }
  }
  const inner = epOf(target);
  if (op === EPOLL_CTL_ADD && inner && loopCheck(ep, inner)) fail(ELOOP);
  const existing = ep.items.get(target)?.get(fd);
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (existing) fail(EEXIST);
      const item: EpItem = {
        fd, file: target, events: (events | EPOLLERR | EPOLLHUP) >>> 0, data: event?.data,
        wq: target.fop.waitQueue?.(target), cb: () => {},
      };
      item.cb = makeCallback(ep, item);
      let byFd = ep.items.get(target);
      if (!byFd) ep.items.set(target, (byFd = new Map()));
      byFd.set(fd, item);
      item.wq?.addCallback(item.cb);
      if (inner) inner.watchers.set(ep, (inner.watchers.get(ep) ?? 0) + 1);
      if (itemPoll(item)) { ep.ready.add(item); ep.wait.wakeAll(POLLIN | POLLRDNORM); }
      return;
    }
    case EPOLL_CTL_DEL:
      if (!existing) fail(ENOENT);
      removeItem(ep, existing);
      return;
    case EPOLL_CTL_MOD:
      if (!existing) fail(ENOENT);
      // An exclusive item cannot be modified (its wake-up mode was fixed at ADD).
      if (existing.events & EPOLLEXCLUSIVE) fail(EINVAL);
      existing.events = (events | EPOLLERR | EPOLLHUP) >>> 0;
      existing.data = event?.data;
      if (itemPoll(existing) && !ep.ready.has(existing)) {
        ep.ready.add(existing);
        ep.wait.wakeAll(POLLIN | POLLRDNORM);
      }
      return;
    default:
      fail(EINVAL);
  }
}

// ---- epoll_wait --------------------------------------------------------------------------------

/**
 * epoll_wait: up to `maxevents` ready events. `timeoutNs` < 0 waits for ever, 0 does not wait,
 * otherwise it is relative. EINVAL for maxevents out of range or a non-epoll file; EINTR when
 * the kernel halts (or `abort` is woken with a negative key) while waiting.
 */
export async function epollWait(epFile: File, maxevents: number, timeoutNs: number,
  clock: Clock = epFile.inode.sb.vfs.clock, abort?: WaitQueue): Promise<EpollEvent[]> {
  if (maxevents <= 0 || maxevents > EP_MAX_EVENTS) fail(EINVAL);
  const ep = epOf(epFile) ?? fail(EINVAL);
  const deadline = timeoutNs < 0 ? Infinity : clock.monotonicNs() + timeoutNs;
  let res = sendEvents(ep, maxevents);
  if (res.length || timeoutNs === 0) return res;

  const me = new WaitQueue();
  let aborted = false;
  const wake = (): void => me.wakeAll(0);
  const onAbort = (key: number): void => { if (key < 0) { aborted = true; me.wakeAll(key); } };
  ep.wait.addCallback(wake);
  abort?.addCallback(onAbort);
  try {
    for (;;) {
      const key = await haltableWait(epFile.inode.sb.vfs, me, deadline, clock);
      if (aborted || epFile.released) fail(EINTR);
      res = sendEvents(ep, maxevents);
      if (res.length || key === -1 || clock.monotonicNs() >= deadline) return res;
    }
  } finally {
    ep.wait.removeCallback(wake);
    abort?.removeCallback(onAbort);
  }
}
