/*
 * The poll/select core (fs/select.c).
 *
 * Readiness of a file is its fop.poll() mask; a file without poll is always readable and
 * writable (DEFAULT_POLLMASK), as regular files are in Linux. doPoll asks every file, and if
 * nothing is ready it hooks a callback on each file's wait queue (the poll table), sleeps until
 * one fires or the deadline passes, and asks again — then unhooks everything. poll(2) always
 * reports POLLERR and POLLHUP, asked for or not; select passes `implicit: 0` and its own masks.
 * A missing file (closed fd) is POLLNVAL.
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EINTR } from '../../uapi/errno.js';
import { POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLERR, POLLHUP, POLLNVAL } from '../../uapi/misc.js';
import type { Clock } from '../../kernel/ktime/index.js';
import type { File, Vfs } from '../vfs/index.js';
import { haltableWait } from './anon_inodes.js';

export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/** vfs_poll: the file's readiness now. */
export function vfsPoll(file: File): number {
  return file.fop.poll ? file.fop.poll(file) : DEFAULT_POLLMASK;
}

export interface PollOptions {
  /** Bits reported even when not asked for; poll(2) uses POLLERR|POLLHUP (the default). */
  implicit?: number;
  /** A queue whose wake-up with a negative key aborts the wait with EINTR (the kernel's halt queue). */
  abort?: WaitQueue;
  /** The kernel's Vfs, for halt handling when no file is given. */
  vfs?: Vfs;
}

/**
 * Poll `files` for `events` until something is ready or `deadline` (absolute CLOCK_MONOTONIC
 * ns; Infinity waits for ever, a past deadline does not wait) passes. Returns the revents per
 * entry: masked by events + implicit bits, POLLNVAL for a missing file.
 */
export async function doPoll(files: (File | undefined)[], events: number[], deadline: number,
  clock: Clock, opts: PollOptions = {}): Promise<number[]> {
  const implicit = opts.implicit ?? (POLLERR | POLLHUP);
  const scan = (): { revents: number[]; count: number } => {
    const revents: number[] = [];
    let count = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      const r = f ? vfsPoll(f) & ((events[i] ?? 0) | implicit) : POLLNVAL;
      if (r) count++;
      revents.push(r);
    }
    return { revents, count };
  };
  let res = scan();
  if (res.count || deadline <= clock.monotonicNs()) return res.revents;

  // The poll table: one callback per distinct wait queue, all waking our private queue.
  const me = new WaitQueue();
  let aborted = false;
  const wake = (): void => me.wakeAll(0);
  const onAbort = (key: number): void => { if (key < 0) { aborted = true; me.wakeAll(key); } };
  const hooked = new Set<WaitQueue>();
  for (const f of files) {
    const wq = f?.fop.waitQueue?.(f);
    if (wq && !hooked.has(wq)) { hooked.add(wq); wq.addCallback(wake); }
  }
  opts.abort?.addCallback(onAbort);
  const vfs: Vfs | undefined = opts.vfs ?? files.find((f) => f)?.inode.sb.vfs;
  try {
    for (;;) {
      const key = vfs ? await haltableWait(vfs, me, deadline, clock) : await clock.waitTimeout(me, deadline);
      if (aborted) fail(EINTR);
      res = scan();
      if (res.count || key === -1 || deadline <= clock.monotonicNs()) return res.revents;
    }
  } finally {
    for (const wq of hooked) wq.removeCallback(wake);
    opts.abort?.removeCallback(onAbort);
  }
}
