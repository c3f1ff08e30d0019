/*
 * Kernel time: the clocks (CLOCK_MONOTONIC from the host's monotonic clock, CLOCK_REALTIME as an
 * offset on top of it, CLOCK_BOOTTIME = monotonic since boot here) and kernel timers.
 *
 * All kernel timers share one host one-shot timer programmed for the earliest deadline, as a
 * tickless kernel programs its clockevent device. halt() cancels everything, so a halted kernel
 * leaves no timer keeping the host process alive.
 */
import type { HostOps, HostTimer } from '../../arch/host.js';
import type { Timespec } from '../../uapi/stat.js';
import { MinHeap } from '../../lib/heap.js';
import { WaitQueue } from '../../lib/waitqueue.js';

export const NSEC_PER_SEC = 1_000_000_000;

export interface KernelTimer {
  /** Absolute CLOCK_MONOTONIC deadline, ns (host time base). */
  readonly expires: number;
  cancel(): void;
  readonly pending: boolean;
}

interface TimerEntry { expires: number; fn: () => void; live: boolean; background: boolean }

export class Clock {
  readonly host: HostOps;
  /** Host monotonic ns at boot. */
  readonly bootNs: number;
  /** realtime = monotonic + realtimeOffsetNs, kept as sec + nsec offset to stay exact. */
  private offSec: number;
  private offNsec: number;
  private heap = new MinHeap<TimerEntry>();
  private hostTimerFg: HostTimer;
  private hostTimerBg: HostTimer;
  private programmedFg = Infinity;
  private programmedBg = Infinity;
  private stopped = false;
  private fgCount = 0;

  constructor(host: HostOps) {
    this.host = host;
    this.bootNs = host.time();
    const wall = host.wallClock();
    const mono = this.bootNs;
    // offset = wall - mono, normalised
    let sec = wall.sec - Math.floor(mono / NSEC_PER_SEC);
    let nsec = wall.nsec - (mono % NSEC_PER_SEC);
    if (nsec < 0) { nsec += NSEC_PER_SEC; sec -= 1; }
    this.offSec = sec; this.offNsec = nsec;
    // Two host timers: one that keeps the host alive (a sleeping task) and one that does not
    // (background housekeeping), so a kernel with only background work never pins the process.
    this.hostTimerFg = host.timerAlloc(() => this.expire(false));
    this.hostTimerBg = host.timerAlloc(() => this.expire(true), { background: true });
  }

  /** CLOCK_MONOTONIC, ns. Host based, so it matches the host's own monotonic clock like LKL's. */
  monotonicNs(): number { return this.host.time(); }
  /** ns since boot (CLOCK_BOOTTIME, printk timestamps, /proc/uptime). */
  sinceBootNs(): number { return this.host.time() - this.bootNs; }

  monotonic(): Timespec { return nsToTimespec(this.host.time()); }
  boottime(): Timespec { return nsToTimespec(this.sinceBootNs()); }
  realtime(): Timespec {
    const mono = this.host.time();
    let sec = Math.floor(mono / NSEC_PER_SEC) + this.offSec;
    let nsec = (mono % NSEC_PER_SEC) + this.offNsec;
    if (nsec >= NSEC_PER_SEC) { nsec -= NSEC_PER_SEC; sec += 1; }
    return { sec, nsec };
  }
  /** clock_settime(CLOCK_REALTIME). */
  setRealtime(ts: Timespec): void {
    const mono = this.host.time();
    let sec = ts.sec - Math.floor(mono / NSEC_PER_SEC);
    let nsec = ts.nsec - (mono % NSEC_PER_SEC);
    if (nsec < 0) { nsec += NSEC_PER_SEC; sec -= 1; }
    this.offSec = sec; this.offNsec = nsec;
  }

  /** Run fn at absolute monotonic time `expires` (ns). Background timers do not keep the host alive. */
  addTimer(expires: number, fn: () => void, background = false): KernelTimer {
    const e: TimerEntry = { expires, fn, live: !this.stopped, background };
    if (!e.live) return { expires, cancel() {}, get pending() { return false; } };
    this.heap.push(expires, e);
    if (!background) this.fgCount++;
    this.program();
    const self = this;
    return {
      expires,
      cancel() { if (e.live) { e.live = false; if (!e.background) self.fgCount--; self.program(); } },
      get pending() { return e.live; },
    };
  }

  /** Sleep until absolute monotonic time; resolves early with the key if `wq` is woken. */
  sleepUntil(expires: number): Promise<void> {
    return new Promise((resolve) => { this.addTimer(expires, resolve); });
  }

  /**
   * Wait on `wq` until woken or until `expires` (absolute monotonic ns; Infinity = no timeout).
   * Returns the wake key, or -1 on timeout.
   */
  waitTimeout(wq: WaitQueue, expires: number): Promise<number> {
    if (expires === Infinity) return wq.sleep();
    if (expires <= this.monotonicNs()) return Promise.resolve(-1);
    // The timeout wakes only this waiter, never the others sleeping on the same queue.
    return new Promise<number>((resolve) => {
      let settled = false;
      const onWake = (key: number) => {
        if (settled) return;
        settled = true; timer.cancel(); wq.removeCallback(onWake); resolve(key);
      };
      const timer = this.addTimer(expires, () => {
        if (settled) return;
        settled = true; wq.removeCallback(onWake); resolve(-1);
      });
      wq.addCallback(onWake);
    });
  }

  /** Stop all timers (halt). Pending sleepers are not resolved; the caller wakes them. */
  stop(): void {
    this.stopped = true;
    this.heap.clear();
    this.fgCount = 0;
    this.hostTimerFg.free();
    this.hostTimerBg.free();
  }

  get pendingTimers(): number { return this.heap.size; }

  private expire(_bg: boolean): void {
    if (this.stopped) return;
    this.programmedFg = this.programmedBg = Infinity;
    const now = this.host.time();
    for (;;) {
      const k = this.heap.peekKey();
      if (k === undefined || k > now) break;
      const e = this.heap.pop()!;
      if (!e.live) continue;
      e.live = false;
      if (!e.background) this.fgCount--;
      e.fn();
    }
    this.program();
  }

  /** Reprogram the host timers for the earliest live foreground and background deadlines. */
  private program(): void {
    if (this.stopped) return;
    // Drop cancelled entries at the top.
    while (this.heap.size && !this.heap.peek()!.live) this.heap.pop();
    let fg = Infinity, bg = Infinity;
    const top = this.heap.peek();
    if (top) {
      if (top.background) bg = top.expires; else fg = top.expires;
      // A background timer at the top must not hide a later foreground one: the host process
      // must stay alive for it. Find the earliest foreground deadline when there is one.
      if (top.background && this.fgCount > 0) fg = this.earliestForeground();
    }
    const now = this.host.time();
    if (fg !== this.programmedFg) {
      this.programmedFg = fg;
      if (fg === Infinity) this.hostTimerFg.cancel(); else this.hostTimerFg.setOneshot(Math.max(0, fg - now));
    }
    if (bg !== this.programmedBg) {
      this.programmedBg = bg;
      if (bg === Infinity) this.hostTimerBg.cancel(); else this.hostTimerBg.setOneshot(Math.max(0, bg - now));
    }
  }

  private earliestForeground(): number {
    let best = Infinity;
    for (const e of this.heap.values()) {
      if (e.live && !e.background && e.expires < best) best = e.expires;
    }
    return best;
  }
}

export function nsToTimespec(ns: number): Timespec {
  const sec = Math.floor(ns / NSEC_PER_SEC);
  return { sec, nsec: ns - sec * NSEC_PER_SEC };
}
export function timespecToNs(ts: Timespec): number { return ts.sec * NSEC_PER_SEC + ts.nsec; }
