/*
 * eventfd (fs/eventfd.c, eventfd(2)): a 64-bit counter behind a file, for event notification.
 *
 * write(8 bytes) adds a u64 to the counter; read(8 bytes) returns the counter and resets it to
 * zero, or — in EFD_SEMAPHORE mode — returns 1 and decrements it. The counter never exceeds
 * 0xfffffffffffffffe: a write that would pass it blocks (or EAGAIN with O_NONBLOCK), and writing
 * 0xffffffffffffffff itself is EINVAL. A read of a zero counter blocks (or EAGAIN). Buffers
 * shorter than 8 bytes are EINVAL. poll: POLLIN while the counter is non-zero, POLLOUT while one
 * more write of 1 would fit, POLLERR if it ever sat at the maximum.
 *
 * The counter is a BigInt: JS numbers lose precision past 2^53.
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EAGAIN, EINVAL, EINTR } from '../../uapi/errno.js';
import { O_NONBLOCK, O_RDWR, EFD_SEMAPHORE } from '../../uapi/fcntl.js';
import { POLLIN, POLLOUT, POLLERR } from '../../uapi/misc.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { File, FileOperations, Vfs } from '../vfs/index.js';
import { anonInodeGetfile, haltableWait } from './anon_inodes.js';

const ULLONG_MAX = 0xffffffffffffffffn;

/** struct eventfd_ctx. */
export class EventfdCtx {
  count: bigint;
  readonly semaphore: boolean;
  readonly wait = new WaitQueue();
  constructor(count: bigint, semaphore: boolean) { this.count = count; this.semaphore = semaphore; }
}

function ctxOf(file: File): EventfdCtx { return file.private_data as EventfdCtx; }

function vfsOf(file: File): Vfs { return file.inode.sb.vfs; }

async function sleepOn(file: File, ctx: EventfdCtx): Promise<void> {
  await haltableWait(vfsOf(file), ctx.wait);
  if (file.released) fail(EINTR);
}

async function eventfdRead(file: File, buf: Uint8Array): Promise<number> {
  if (buf.length < 8) fail(EINVAL);
  const ctx = ctxOf(file);
  while (ctx.count === 0n) {
    if (file.flags & O_NONBLOCK) fail(EAGAIN);
    await sleepOn(file, ctx);
  }
  const v = ctx.semaphore ? 1n : ctx.count;
  ctx.count -= v;
  new DataView(buf.buffer, buf.byteOffset, 8).setBigUint64(0, v, true);
  ctx.wait.wakeAll(POLLOUT);
  return 8;
}

async function eventfdWrite(file: File, buf: Uint8Array): Promise<number> {
  if (buf.length < 8) fail(EINVAL);
  const v = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (v === ULLONG_MAX) fail(EINVAL);
  const ctx = ctxOf(file);
  while (ULLONG_MAX - ctx.count <= v) {
    if (file.flags & O_NONBLOCK) fail(EAGAIN);
    await sleepOn(file, ctx);
  }
  ctx.count += v;
  ctx.wait.wakeAll(POLLIN);
  return 8;
}

function eventfdPoll(file: File): number {
  const c = ctxOf(file).count;
  let mask = 0;
  if (c > 0n) mask |= POLLIN;
  if (c === ULLONG_MAX) mask |= POLLERR;
  if (ULLONG_MAX - 1n > c) mask |= POLLOUT;
  return mask;
}

export const eventfdFileOperations: FileOperations = {
  read: (file, buf) => eventfdRead(file, buf),
  write: (file, buf) => eventfdWrite(file, buf),
  poll: eventfdPoll,
  waitQueue: (file) => ctxOf(file).wait,
  // Wake sleepers so a blocked call on a file closed by a halt can leave; epoll drops the item.
  release: (_inode, file) => { ctxOf(file).wait.wakeAll(0); },
};

/**
 * eventfd2's work: a new eventfd file with counter `initval` (an unsigned int). `flags` may hold
 * EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC; the caller has rejected anything else.
 */
export function createEventfd(vfs: Vfs, cred: Cred, initval: number, flags: number): File {
  const ctx = new EventfdCtx(BigInt(initval >>> 0), (flags & EFD_SEMAPHORE) !== 0);
  return anonInodeGetfile(vfs, cred, '[eventfd]', eventfdFileOperations, ctx,
    O_RDWR | (flags & O_NONBLOCK));
}

/** Is this an eventfd file? */
export function isEventfd(file: File): boolean { return file.fop === eventfdFileOperations; }
