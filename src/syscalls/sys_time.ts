/*
 * Clocks and sleeping: clock_gettime/settime/getres, gettimeofday, nanosleep, clock_nanosleep.
 * Sleeps use kernel timers on the host's monotonic clock; halt interrupts them with EINTR.
 */
import { fail } from '../lib/errors.js';
import { EINVAL, EPERM, EFAULT, EINTR, EOPNOTSUPP } from '../uapi/errno.js';
import {
  CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID,
  CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
  CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI, TIMER_ABSTIME, CAP_SYS_TIME,
} from '../uapi/misc.js';
import type { Timespec } from '../uapi/stat.js';
import type { Task } from '../kernel/index.js';
import { NSEC_PER_SEC, timespecToNs, nsToTimespec } from '../kernel/index.js';
import { isNull, toInt32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';

/** struct __kernel_timespec: i64 sec, i64 nsec (16 bytes), or {sec, nsec}. */
export function readTimespec(arg: unknown): Timespec {
  if (arg instanceof Uint8Array) {
    if (arg.length < 16) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, 16);
    return { sec: Number(v.getBigInt64(0, true)), nsec: Number(v.getBigInt64(8, true)) };
  }
  if (typeof arg === 'object' && arg !== null && 'sec' in arg) {
    const t = arg as { sec: number; nsec?: number };
    return { sec: Number(t.sec), nsec: Number(t.nsec ?? 0) };
  }
  fail(EFAULT);
}
export function writeTimespec(arg: unknown, ts: Timespec): void {
  if (arg instanceof Uint8Array) {
    if (arg.length < 16) fail(EFAULT);
    const v = new DataView(arg.buffer, arg.byteOffset, 16);
    v.setBigInt64(0, BigInt(ts.sec), true); v.setBigInt64(8, BigInt(ts.nsec), true);
    return;
  }
  if (typeof arg === 'object' && arg !== null) { Object.assign(arg, { sec: ts.sec, nsec: ts.nsec }); return; }
  fail(EFAULT);
}
function validTs(ts: Timespec): boolean { return ts.sec >= 0 && ts.nsec >= 0 && ts.nsec < NSEC_PER_SEC; }

function clockRead(t: Task, id: number): Timespec {
  const c = t.kernel.clock;
  switch (id) {
    case CLOCK_REALTIME: case CLOCK_REALTIME_COARSE: case CLOCK_REALTIME_ALARM: return c.realtime();
    case CLOCK_TAI: { const r = c.realtime(); return { sec: r.sec + 37, nsec: r.nsec }; }
    case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW: case CLOCK_MONOTONIC_COARSE: return c.monotonic();
    case CLOCK_BOOTTIME: case CLOCK_BOOTTIME_ALARM: return c.monotonic();
    case CLOCK_PROCESS_CPUTIME_ID: case CLOCK_THREAD_CPUTIME_ID: return c.boottime();
    default: fail(EINVAL);
  }
}

/** Sleep until an absolute monotonic deadline; EINTR if the kernel halts first. */
async function sleepUntil(t: Task, deadlineNs: number): Promise<void> {
  const k = t.kernel;
  while (k.clock.monotonicNs() < deadlineNs) {
    const r = await k.clock.waitTimeout(k.haltWait, deadlineNs);
    if (r === -1) return;
    if (k.halting) fail(EINTR);
  }
}

async function doNanosleep(t: Task, clockId: number, flags: number, req: unknown, rem: unknown): Promise<number> {
  const ts = readTimespec(req);
  if (!validTs(ts)) fail(EINVAL);
  const c = t.kernel.clock;
  let deadline: number;
  if (flags & TIMER_ABSTIME) {
    const now = clockRead(t, clockId);
    deadline = c.monotonicNs() + (timespecToNs(ts) - timespecToNs(now));
  } else deadline = c.monotonicNs() + timespecToNs(ts);
  try { await sleepUntil(t, deadline); }
  catch (e) {
    if (!(flags & TIMER_ABSTIME) && !isNull(rem)) writeTimespec(rem, nsToTimespec(Math.max(0, deadline - c.monotonicNs())));
    throw e;
  }
  return 0;
}

export const timeSyscalls: SyscallDef[] = [
  { name: 'clock_gettime', handler: (t, id, tp) => { writeTimespec(tp, clockRead(t, toInt32(id))); return 0; } },
  {
    name: 'clock_settime', handler: (t, id, tp) => {
      const clk = toInt32(id);
      if (clk !== CLOCK_REALTIME) { clockRead(t, clk); fail(EINVAL); }
      const ts = readTimespec(tp);
      if (!validTs(ts)) fail(EINVAL);
      if (!t.cred.capable(CAP_SYS_TIME)) fail(EPERM);
      t.kernel.clock.setRealtime(ts);
      return 0;
    },
  },
  {
    name: 'clock_getres', handler: (t, id, tp) => {
      const clk = toInt32(id);
      clockRead(t, clk);
      // HZ=100 as in LKL: coarse clocks tick every 10 ms; the others are high resolution.
      const coarse = clk === CLOCK_REALTIME_COARSE || clk === CLOCK_MONOTONIC_COARSE;
      if (!isNull(tp)) writeTimespec(tp, { sec: 0, nsec: coarse ? 10_000_000 : 1 });
      return 0;
    },
  },
  {
    name: 'gettimeofday', handler: (t, tv, tz) => {
      const r = t.kernel.clock.realtime();
      if (!isNull(tv)) {
        if (tv instanceof Uint8Array) {
          const v = new DataView(tv.buffer, tv.byteOffset, 16);
          v.setBigInt64(0, BigInt(r.sec), true); v.setBigInt64(8, BigInt(Math.floor(r.nsec / 1000)), true);
        } else if (typeof tv === 'object') Object.assign(tv as object, { sec: r.sec, usec: Math.floor(r.nsec / 1000) });
        else fail(EFAULT);
      }
      if (!isNull(tz)) {
        if (tz instanceof Uint8Array) tz.fill(0, 0, 8);
        else if (typeof tz === 'object') Object.assign(tz as object, { minuteswest: 0, dsttime: 0 });
      }
      return 0;
    },
  },
  {
    name: 'settimeofday', handler: (t, tv) => {
      if (isNull(tv)) return 0;
      let sec: number, usec: number;
      if (tv instanceof Uint8Array) { const v = new DataView(tv.buffer, tv.byteOffset, 16); sec = Number(v.getBigInt64(0, true)); usec = Number(v.getBigInt64(8, true)); }
      else { const o = tv as { sec: number; usec: number }; sec = o.sec; usec = o.usec; }
      if (usec < 0 || usec >= 1e6 || sec < 0) fail(EINVAL);
      if (!t.cred.capable(CAP_SYS_TIME)) fail(EPERM);
      t.kernel.clock.setRealtime({ sec, nsec: usec * 1000 });
      return 0;
    },
  },
  { name: 'nanosleep', handler: (t, req, rem) => doNanosleep(t, CLOCK_MONOTONIC, 0, req, rem) },
  {
    name: 'clock_nanosleep', handler: (t, id, flags, req, rem) => {
      const clk = toInt32(id);
      if (clk === CLOCK_THREAD_CPUTIME_ID) fail(EINVAL);
      if (clk === CLOCK_PROCESS_CPUTIME_ID) fail(EOPNOTSUPP);
      clockRead(t, clk);
      return doNanosleep(t, clk, toInt32(flags), req, rem);
    },
  },
];
