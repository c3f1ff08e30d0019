/*
 * A fake host for tests: a virtual monotonic clock that moves only when told (or, in auto mode,
 * jumps straight to the next armed timer once the kernel is otherwise idle), captured console
 * output, seeded entropy and a panic that records instead of aborting. Timing behaviour
 * (nanosleep, timeouts, retransmission, commit intervals) is tested on it deterministically.
 */
import type { HostOps, HostTimer } from '../host.js';

interface FakeTimer { deadline: number; fn: () => void; armed: boolean; seq: number }

export interface FakeHostOptions {
  /** Start of the virtual monotonic clock, ns. */
  startNs?: number;
  /** Virtual wall clock at startNs. */
  wallSec?: number;
  /** When true, an idle kernel jumps the clock to the next timer by itself. Default true. */
  autoAdvance?: boolean;
  seed?: number;
  /** Also forward console output here. */
  echo?: (text: string) => void;
}

export class FakeHost implements HostOps {
  readonly name = 'fake';
  readonly description = 'fake host (virtual clock)';
  now: number;
  readonly wallBase: number;
  readonly startNs: number;
  console = '';
  panics: string[] = [];
  private timers = new Set<FakeTimer>();
  private seq = 0;
  private rng: number;
  private autoAdvance: boolean;
  private pendingDefers: (() => void)[] = [];
  private idleScheduled = false;
  private echo: ((t: string) => void) | undefined;

  constructor(opts: FakeHostOptions = {}) {
    this.startNs = this.now = opts.startNs ?? 1_000_000_000;
    this.wallBase = opts.wallSec ?? 1_700_000_000;
    this.autoAdvance = opts.autoAdvance ?? true;
    this.rng = (opts.seed ?? 1) >>> 0 || 1;
    this.echo = opts.echo;
  }

  time(): number { return this.now; }
  wallClock() {
    const ns = this.now - this.startNs;
    return { sec: this.wallBase + Math.floor(ns / 1e9), nsec: ns % 1e9 };
  }
  print(text: string): void { this.console += text; this.echo?.(text); }
  panic(message: string): never {
    this.panics.push(message);
    throw new Error(`Kernel panic - not syncing: ${message}`);
  }
  entropy(buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i++) {
      // xorshift32: deterministic, seeded
      let x = this.rng; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.rng = x >>> 0;
      buf[i] = this.rng & 0xff;
    }
  }
  defer(fn: () => void): void {
    this.pendingDefers.push(fn);
    if (this.pendingDefers.length === 1) queueMicrotask(() => this.runDefers());
  }
  private runDefers(): void {
    while (this.pendingDefers.length) this.pendingDefers.shift()!();
  }

  timerAlloc(fn: () => void): HostTimer {
    const t: FakeTimer = { deadline: 0, fn, armed: false, seq: 0 };
    this.timers.add(t);
    return {
      setOneshot: (deltaNs: number) => {
        t.deadline = this.now + Math.max(0, deltaNs); t.armed = true; t.seq = ++this.seq;
        this.scheduleIdleCheck();
      },
      cancel: () => { t.armed = false; },
      free: () => { t.armed = false; this.timers.delete(t); },
    };
  }

  /** Number of armed timers (tests check halt leaves none). */
  get armedTimers(): number { let n = 0; for (const t of this.timers) if (t.armed) n++; return n; }

  /** Move the virtual clock forward, firing due timers in deadline order. */
  advance(ns: number): void {
    const target = this.now + ns;
    for (;;) {
      const next = this.nextTimer();
      if (!next || next.deadline > target) break;
      this.now = Math.max(this.now, next.deadline);
      next.armed = false;
      next.fn();
    }
    this.now = target;
  }

  private nextTimer(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (t.armed && (!best || t.deadline < best.deadline || (t.deadline === best.deadline && t.seq < best.seq))) best = t;
    }
    return best;
  }

  /**
   * Auto mode: once the event loop has drained everything the kernel could do now (a macrotask
   * later), jump to the earliest timer. Like a tickless idle CPU, but with virtual time.
   */
  private scheduleIdleCheck(): void {
    if (!this.autoAdvance || this.idleScheduled) return;
    this.idleScheduled = true;
    setTimeout(() => {
      this.idleScheduled = false;
      const next = this.nextTimer();
      if (!next) return;
      this.now = Math.max(this.now, next.deadline);
      next.armed = false;
      next.fn();
      if (this.nextTimer()) this.scheduleIdleCheck();
    }, 0);
  }
}

export function createFakeHost(opts?: FakeHostOptions): FakeHost { return new FakeHost(opts); }
