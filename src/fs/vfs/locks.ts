/*
 * Advisory file locks (fs/locks.c): POSIX record locks, OFD locks and flock(2).
 *
 * Three kinds of lock live side by side on an inode, in `inode.flock` (a FileLockContext made on
 * first use):
 *   - POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK) cover a byte range [start, end] and
 *     belong to a process (its tgid here; Linux keys them by files_struct, which the tasks of one
 *     thread group share). A process never conflicts with itself: a new lock of the same owner
 *     replaces, splits or merges with the owner's existing locks, so an owner's locks are always
 *     disjoint, sorted, and adjacent locks of one type are merged into one. Closing ANY fd of the
 *     file drops all the process's locks on it (locksRemovePosix, called from close()).
 *   - OFD locks (F_OFD_*) are the same byte-range locks owned by the open file description
 *     instead: every dup of the fd shares them, and they go when the File is released
 *     (locksRemoveFile, from the last fput). They conflict with POSIX locks of any process,
 *     including the one holding them, since the owners differ.
 *   - flock(2) locks cover the whole file and belong to the File. Converting one (SH <-> EX) is
 *     not atomic: the old lock is dropped before the new one is sought, as Linux does.
 * flock and byte-range locks never see each other.
 *
 * Conflict rule for all kinds: two locks of different owners conflict when they overlap and at
 * least one of them is a write (exclusive) lock.
 *
 * Waiting: F_SETLKW and blocking flock sleep on the context's wait queue; every change that can
 * free a range (unlock, downgrade, close) wakes all sleepers, who simply retry. A POSIX waiter is
 * also recorded in a per-kernel table (owner -> lock it waits for) so a new POSIX waiter can see
 * whether waiting would close a cycle of owners (EDEADLK), following at most MAX_DEADLK_ITERATIONS
 * links like Linux. OFD waiters take no part in deadlock detection (Linux can't attribute them to
 * a process either).
 *
 * Ranges are bigints: l_start and l_len are 64-bit, and OFFSET_MAX (2^63-1) means "to EOF".
 * Code between awaits is atomic, so no spinlock guards the lists.
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EAGAIN, EBADF, EDEADLK, EINTR, EINVAL, EOVERFLOW, EFAULT } from '../../uapi/errno.js';
import {
  F_RDLCK, F_WRLCK, F_UNLCK, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
  LOCK_SH, LOCK_EX, LOCK_UN, LOCK_NB, SEEK_SET, SEEK_CUR, SEEK_END,
} from '../../uapi/fcntl.js';
import { type File, FMODE_READ, FMODE_WRITE } from './file.js';
import type { Inode } from './inode.js';

export const OFFSET_MAX = (1n << 63n) - 1n;
/** LOCK_MAND: ignored by flock(2) since Linux 5.15 (the call succeeds and does nothing). */
export const LOCK_MAND = 32;
/** struct flock in the asm-generic 64-bit ABI. */
export const FLOCK_SIZE = 32;
const MAX_DEADLK_ITERATIONS = 10;

/** A POSIX lock is owned by a process (tgid); an OFD lock by its File. */
export type LockOwner = number | File;

/** One byte-range lock (struct file_lock with FL_POSIX, maybe FL_OFDLCK). */
export interface PosixLock {
  readonly type: number;          // F_RDLCK or F_WRLCK
  readonly start: bigint;
  readonly end: bigint;           // inclusive; OFFSET_MAX = to end of file, however it grows
  readonly owner: LockOwner;
  readonly ofd: boolean;
  /** Process that set it (reported by F_GETLK; -1 for OFD locks). */
  readonly pid: number;
  /** The open file it was set through. */
  readonly file: File;
}

/** A whole-file flock(2) lock. */
export interface FlockLock { readonly type: number; readonly file: File }

/** struct flock as JS values; start/len may be bigints for values beyond 2^53. */
export interface Flock { type: number; whence: number; start: number | bigint; len: number | bigint; pid: number }

/** Lets a blocked lock request be interrupted (the kernel's halt queue, as for other sleeps). */
export interface LockWaitAbort { queue: WaitQueue; aborted(): boolean }

/** Per-inode lock state (struct file_lock_context). */
export class FileLockContext {
  /** Byte-range locks, grouped by owner in order of the owner's first lock, each group sorted by start. */
  posix: PosixLock[] = [];
  flock: FlockLock[] = [];
  /** Sleepers waiting for any lock on this inode to change. */
  readonly wait = new WaitQueue();
}

function lockContext(inode: Inode, create: true): FileLockContext;
function lockContext(inode: Inode, create: boolean): FileLockContext | undefined;
function lockContext(inode: Inode, create: boolean): FileLockContext | undefined {
  let ctx = inode.flock as FileLockContext | undefined;
  if (!ctx && create) { ctx = new FileLockContext(); inode.flock = ctx; }
  return ctx;
}

/** Forget an idle context so an inode without locks carries nothing. */
function maybeFreeContext(inode: Inode, ctx: FileLockContext): void {
  if (!ctx.posix.length && !ctx.flock.length && ctx.wait.sleeping === 0 && inode.flock === ctx) inode.flock = undefined;
}

/** The locks on an inode, for /proc/locks and tests. */
export function inodeLocks(inode: Inode): { posix: readonly PosixLock[]; flock: readonly FlockLock[] } {
  const ctx = lockContext(inode, false);
  return { posix: ctx?.posix ?? [], flock: ctx?.flock ?? [] };
}

// ---- deadlock detection (the blocked_hash of Linux, one per kernel) --------------------------

interface Waiter { owner: LockOwner; blocker: PosixLock; ctx: FileLockContext }

/** Keyed by the kernel's Vfs so kernels stay independent; holds only POSIX (non-OFD) waiters. */
const blockedByVfs = new WeakMap<object, Set<Waiter>>();

function blockedSet(inode: Inode): Set<Waiter> {
  const key = inode.sb.vfs as object;
  let s = blockedByVfs.get(key);
  if (!s) { s = new Set(); blockedByVfs.set(key, s); }
  return s;
}

/** Would `owner` waiting on `blocker` close a cycle of waiting owners? */
function posixLocksDeadlock(inode: Inode, owner: LockOwner, blocker: PosixLock): boolean {
  const waiters = blockedSet(inode);
  let cur: PosixLock | undefined = blocker;
  for (let i = 0; ; i++) {
    let next: PosixLock | undefined;
    for (const w of waiters) if (w.owner === cur.owner) { next = w.blocker; break; }
    if (!next) return false;
    if (i > MAX_DEADLK_ITERATIONS) return false;
    if (next.owner === owner) return true;
    cur = next;
  }
}

/** Wake everyone sleeping on this inode's locks; woken POSIX waiters leave the blocked table. */
function wakeWaiters(inode: Inode, ctx: FileLockContext): void {
  if (ctx.wait.sleeping === 0) return;
  const waiters = blockedSet(inode);
  for (const w of waiters) if (w.ctx === ctx) waiters.delete(w);
  ctx.wait.wakeAll();
}

async function sleepOn(ctx: FileLockContext, abort?: LockWaitAbort): Promise<void> {
  if (abort?.aborted()) fail(EINTR);
  const cb = (): void => ctx.wait.wakeAll();
  abort?.queue.addCallback(cb);
  try { await ctx.wait.sleep(); } finally { abort?.queue.removeCallback(cb); }
  if (abort?.aborted()) fail(EINTR);
}

// ---- the range algebra -----------------------------------------------------------------------

function overlap(a: { start: bigint; end: bigint }, b: { start: bigint; end: bigint }): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** locks_conflict for two byte-range locks of different owners. */
function posixConflict(req: { type: number; start: bigint; end: bigint; owner: LockOwner }, l: PosixLock): boolean {
  if (req.owner === l.owner) return false;
  if (!overlap(req, l)) return false;
  return req.type === F_WRLCK || l.type === F_WRLCK;
}

/**
 * The owner's locks after applying a request of `type` (F_UNLCK removes) over [start, end]:
 * pieces outside the range survive, the request is added, and touching or overlapping locks of
 * the same type merge. Input and output are sorted and disjoint.
 */
export function applyRange<L extends { type: number; start: bigint; end: bigint }>(
  own: readonly L[], type: number, start: bigint, end: bigint, make: (type: number, start: bigint, end: bigint, like?: L) => L,
): L[] {
  const out: L[] = [];
  for (const l of own) {
    if (!overlap(l, { start, end })) { out.push(l); continue; }
    if (l.start < start) out.push(make(l.type, l.start, start - 1n, l));
    if (l.end > end) out.push(make(l.type, end + 1n, l.end, l));
  }
  if (type !== F_UNLCK) out.push(make(type, start, end));
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: L[] = [];
  for (const l of out) {
    const prev = merged[merged.length - 1];
    if (prev && prev.type === l.type && prev.end + 1n >= l.start) {
      if (l.end > prev.end) merged[merged.length - 1] = make(prev.type, prev.start, l.end, prev);
    } else merged.push(l);
  }
  return merged;
}

/** Replace `owner`'s locks in the list, keeping its place among the owners. */
function replaceOwnerLocks(ctx: FileLockContext, owner: LockOwner, mine: PosixLock[]): void {
  const first = ctx.posix.findIndex((l) => l.owner === owner);
  const others = ctx.posix.filter((l) => l.owner !== owner);
  if (first < 0) { others.push(...mine); ctx.posix = others; return; }
  // Everything before the owner's first lock belongs to other owners and stays in front.
  others.splice(first, 0, ...mine);
  ctx.posix = others;
}

// ---- struct flock ----------------------------------------------------------------------------

function toBig(v: unknown): bigint {
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (v === undefined || v === null) return 0n;
  fail(EFAULT);
}

/** copy_from_user of struct flock: a 32-byte Uint8Array or an object {type, whence, start, len, pid}. */
export function readFlock(arg: unknown): { type: number; whence: number; start: bigint; len: bigint; pid: number } {
  if (arg instanceof Uint8Array) {
    if (arg.byteLength < FLOCK_SIZE) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, FLOCK_SIZE);
    return {
      type: v.getInt16(0, true), whence: v.getInt16(2, true), start: v.getBigInt64(8, true),
      len: v.getBigInt64(16, true), pid: v.getInt32(24, true),
    };
  }
  if (typeof arg === 'object' && arg !== null) {
    const o = arg as Partial<Flock>;
    return {
      type: (Number(o.type ?? 0) << 16) >> 16, whence: (Number(o.whence ?? 0) << 16) >> 16,
      start: toBig(o.start), len: toBig(o.len), pid: Number(o.pid ?? 0) | 0,
    };
  }
  fail(EFAULT);
}

function bigOut(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** copy_to_user of struct flock; only the fields given are written. */
export function writeFlock(arg: unknown, f: Partial<{ type: number; whence: number; start: bigint; len: bigint; pid: number }>): void {
  if (arg instanceof Uint8Array) {
    const v = new DataView(arg.buffer, arg.byteOffset, FLOCK_SIZE);
    if (f.type !== undefined) v.setInt16(0, f.type, true);
    if (f.whence !== undefined) v.setInt16(2, f.whence, true);
    if (f.start !== undefined) v.setBigInt64(8, f.start, true);
    if (f.len !== undefined) v.setBigInt64(16, f.len, true);
    if (f.pid !== undefined) v.setInt32(24, f.pid, true);
    return;
  }
  const o = arg as Record<string, unknown>;
  if (f.type !== undefined) o.type = f.type;
  if (f.whence !== undefined) o.whence = f.whence;
  if (f.start !== undefined) o.start = bigOut(f.start);
  if (f.len !== undefined) o.len = bigOut(f.len);
  if (f.pid !== undefined) o.pid = f.pid;
}

/** flock_to_posix_lock: the absolute inclusive range a struct flock names, with Linux's errnos. */
export function flockRange(file: File, whence: number, lstart: bigint, llen: bigint): { start: bigint; end: bigint } {
  let base: bigint;
  switch (whence) {
    case SEEK_SET: base = 0n; break;
    case SEEK_CUR: base = BigInt(file.pos); break;
    case SEEK_END: base = BigInt(file.inode.size); break;
    default: fail(EINVAL);
  }
  if (lstart > OFFSET_MAX - base) fail(EOVERFLOW);
  let start = base + lstart;
  if (start < 0n) fail(EINVAL);
  let end: bigint;
  if (llen > 0n) {
    if (llen - 1n > OFFSET_MAX - start) fail(EOVERFLOW);
    end = start + llen - 1n;
  } else if (llen < 0n) {
    // POSIX.1-2001: a negative length covers the bytes before start.
    if (start + llen < 0n) fail(EINVAL);
    end = start - 1n;
    start += llen;
  } else end = OFFSET_MAX;
  return { start, end };
}

function checkType(type: number): void {
  if (type !== F_RDLCK && type !== F_WRLCK && type !== F_UNLCK) fail(EINVAL);
}

// ---- fcntl byte-range locks ------------------------------------------------------------------

/** fcntl_getlk: F_GETLK / F_OFD_GETLK. Rewrites `arg` with the first conflicting lock, or l_type = F_UNLCK. */
export function fcntlGetlk(file: File, cmd: number, arg: unknown, ownerTgid: number): void {
  const fl = readFlock(arg);
  if (cmd !== F_OFD_GETLK && fl.type !== F_RDLCK && fl.type !== F_WRLCK) fail(EINVAL);
  if (cmd !== F_GETLK && cmd !== F_OFD_GETLK) fail(EINVAL);
  const { start, end } = flockRange(file, fl.whence, fl.start, fl.len);
  checkType(fl.type);
  let owner: LockOwner = ownerTgid;
  if (cmd === F_OFD_GETLK) {
    if (fl.pid !== 0) fail(EINVAL);
    owner = file;
  }
  const req = { type: fl.type, start, end, owner };
  const ctx = lockContext(file.inode, false);
  let found: PosixLock | undefined;
  for (const l of ctx?.posix ?? []) {
    // F_OFD_GETLK with F_UNLCK asks for a lock held through this very description.
    const hit = fl.type === F_UNLCK ? l.owner === owner && overlap(req, l) : posixConflict(req, l);
    if (hit) { found = l; break; }
  }
  if (!found) { writeFlock(arg, { type: F_UNLCK }); return; }
  writeFlock(arg, {
    type: found.type, whence: SEEK_SET, start: found.start,
    len: found.end === OFFSET_MAX ? 0n : found.end - found.start + 1n, pid: found.ofd ? -1 : found.pid,
  });
}

/**
 * fcntl_setlk: F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW. POSIX locks are owned by
 * `ownerTgid`; OFD locks by `file`. A conflict is EAGAIN without waiting, EDEADLK when waiting
 * would deadlock, EINTR when `abort` fires while waiting.
 */
export async function fcntlSetlk(file: File, cmd: number, arg: unknown, ownerTgid: number, abort?: LockWaitAbort): Promise<void> {
  const fl = readFlock(arg);
  const { start, end } = flockRange(file, fl.whence, fl.start, fl.len);
  checkType(fl.type);
  // check_fmode_for_setlk: the lock's kind must match how the file was opened.
  if (fl.type === F_RDLCK && !(file.mode & FMODE_READ)) fail(EBADF);
  if (fl.type === F_WRLCK && !(file.mode & FMODE_WRITE)) fail(EBADF);
  let ofd = false, wait = false;
  switch (cmd) {
    case F_OFD_SETLK: case F_OFD_SETLKW:
      if (fl.pid !== 0) fail(EINVAL);
      ofd = true; wait = cmd === F_OFD_SETLKW; break;
    case F_SETLK: break;
    case F_SETLKW: wait = true; break;
    default: fail(EINVAL);
  }
  const owner: LockOwner = ofd ? file : ownerTgid;
  await posixLock(file, { type: fl.type, start, end, owner, ofd, pid: ofd ? -1 : ownerTgid }, wait, abort);
}

interface PosixRequest { type: number; start: bigint; end: bigint; owner: LockOwner; ofd: boolean; pid: number }

/** posix_lock_inode + the wait loop of do_lock_file_wait. */
export async function posixLock(file: File, req: PosixRequest, wait: boolean, abort?: LockWaitAbort): Promise<void> {
  const inode = file.inode;
  for (;;) {
    const ctx = lockContext(inode, req.type !== F_UNLCK);
    if (!ctx) return; // unlocking where nothing was ever locked
    if (req.type !== F_UNLCK) {
      const blocker = ctx.posix.find((l) => posixConflict(req, l));
      if (blocker) {
        if (!wait) fail(EAGAIN);
        if (!req.ofd && posixLocksDeadlock(inode, req.owner, blocker)) fail(EDEADLK);
        const w: Waiter | undefined = req.ofd ? undefined : { owner: req.owner, blocker, ctx };
        const waiters = blockedSet(inode);
        if (w) waiters.add(w);
        try { await sleepOn(ctx, abort); } finally {
          if (w) waiters.delete(w);
          maybeFreeContext(inode, ctx);
        }
        continue;
      }
    }
    const mine = ctx.posix.filter((l) => l.owner === req.owner);
    const make = (type: number, start: bigint, end: bigint, like?: PosixLock): PosixLock => ({
      type, start, end, owner: req.owner, ofd: req.ofd, pid: like?.pid ?? req.pid, file: like?.file ?? file,
    });
    const next = applyRange(mine, req.type, req.start, req.end, make);
    replaceOwnerLocks(ctx, req.owner, next);
    // Anything but a pure addition may have freed bytes some sleeper wants.
    wakeWaiters(inode, ctx);
    maybeFreeContext(inode, ctx);
    return;
  }
}

/** locks_remove_posix: close() of any fd of `file` drops the process's POSIX locks on the inode. */
export function locksRemovePosix(file: File, owner: number): void {
  const inode = file.inode;
  const ctx = lockContext(inode, false);
  if (!ctx || !ctx.posix.some((l) => l.owner === owner)) return;
  ctx.posix = ctx.posix.filter((l) => l.owner !== owner);
  wakeWaiters(inode, ctx);
  maybeFreeContext(inode, ctx);
}

/** locks_remove_file: the last reference to `file` went away: its OFD and flock locks go too. */
export function locksRemoveFile(file: File): void {
  const inode = file.inode;
  const ctx = lockContext(inode, false);
  if (!ctx) return;
  const before = ctx.posix.length + ctx.flock.length;
  ctx.posix = ctx.posix.filter((l) => l.owner !== file);
  ctx.flock = ctx.flock.filter((l) => l.file !== file);
  if (ctx.posix.length + ctx.flock.length !== before) wakeWaiters(inode, ctx);
  maybeFreeContext(inode, ctx);
}

// ---- flock(2) --------------------------------------------------------------------------------

/** flock_translate_cmd: LOCK_SH/EX/UN (LOCK_NB stripped) to F_RDLCK/F_WRLCK/F_UNLCK, else EINVAL. */
export function flockTranslateCmd(op: number): number {
  switch (op & ~LOCK_NB) {
    case LOCK_SH: return F_RDLCK;
    case LOCK_EX: return F_WRLCK;
    case LOCK_UN: return F_UNLCK;
    default: fail(EINVAL);
  }
}

/**
 * flock_lock_inode with its wait loop. `op` is the flock(2) operation; the caller has checked the
 * fd (EBADF) and LOCK_MAND. Holding the requested type already is a no-op; a different type held
 * through this file is dropped first, so a failed LOCK_NB conversion leaves no lock at all.
 */
export async function flockFile(file: File, op: number, abort?: LockWaitAbort): Promise<void> {
  const type = flockTranslateCmd(op);
  const inode = file.inode;
  let ctx = lockContext(inode, type !== F_UNLCK);
  if (!ctx) return;
  const held = ctx.flock.findIndex((l) => l.file === file);
  if (held >= 0) {
    if (ctx.flock[held]!.type === type) return;
    ctx.flock.splice(held, 1);
    wakeWaiters(inode, ctx);
  }
  if (type === F_UNLCK) { maybeFreeContext(inode, ctx); return; }
  for (;;) {
    ctx = lockContext(inode, true);
    const conflict = ctx.flock.some((l) => l.file !== file && (type === F_WRLCK || l.type === F_WRLCK));
    if (!conflict) { ctx.flock.push({ type, file }); return; }
    if (op & LOCK_NB) { maybeFreeContext(inode, ctx); fail(EAGAIN); }
    try { await sleepOn(ctx, abort); } finally { maybeFreeContext(inode, ctx); }
  }
}

export { F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW };
