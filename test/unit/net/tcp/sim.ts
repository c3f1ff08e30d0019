/*
 * Test harness: two TCP engines joined by a simulated link, all driven by a virtual clock.
 *
 * The link delays every segment (one-way `delayNs`) and, per direction and from a seeded PRNG,
 * can drop, duplicate or reorder (extra delay) segments. Everything that happens is a timer on
 * the virtual clock, so a run is deterministic and takes no wall time.
 */
import { TcpEngine, parseTcp, type TcpClock, type TcpSegment, type TcpSysctl } from '../../../../src/net/tcp/index.js';

interface Ev { at: number; seq: number; fn: () => void; live: boolean }

export class VirtualClock implements TcpClock {
  now = 1_000_000_000;
  private evs: Ev[] = [];
  private n = 0;
  nowNs(): number { return this.now; }
  setTimer(at: number, fn: () => void): () => void {
    const e: Ev = { at: Math.max(at, this.now), seq: this.n++, fn, live: true };
    // Binary insertion keeps the list sorted by (at, seq).
    let lo = 0, hi = this.evs.length;
    while (lo < hi) { const m = (lo + hi) >> 1; const x = this.evs[m]!; if (x.at < e.at || (x.at === e.at && x.seq < e.seq)) lo = m + 1; else hi = m; }
    this.evs.splice(lo, 0, e);
    return () => { e.live = false; };
  }
  /** Run events until `pred` holds or time passes `untilNs`. Returns whether pred held. */
  run(untilNs: number, pred: () => boolean = () => false, tick?: () => void): boolean {
    for (;;) {
      tick?.();
      if (pred()) return true;
      while (this.evs.length && !this.evs[0]!.live) this.evs.shift();
      const e = this.evs[0];
      if (!e || e.at > untilNs) { this.now = Math.max(this.now, untilNs); tick?.(); return pred(); }
      this.evs.shift();
      this.now = e.at;
      e.live = false;
      e.fn();
    }
  }
  advance(ns: number, pred?: () => boolean, tick?: () => void): boolean { return this.run(this.now + ns, pred, tick); }
  get pending(): number { return this.evs.filter((e) => e.live).length; }
}

export interface LinkDir {
  loss: number;
  dup: number;
  reorder: number;
  /** Extra delay for reordered segments. */
  reorderDelayNs: number;
  /** Drop segments for which this returns true (deterministic scenarios). */
  dropIf?: (seg: TcpSegment, n: number) => boolean;
  /** Stop delivering anything (a dead peer / cable pulled). */
  down: boolean;
}

export interface SentRecord { at: number; from: 'a' | 'b'; seg: TcpSegment; dropped: boolean }

export const ADDR_A = new Uint8Array([10, 0, 0, 1]);
export const ADDR_B = new Uint8Array([10, 0, 0, 2]);

export class Pair {
  clock = new VirtualClock();
  a: TcpEngine;
  b: TcpEngine;
  delayNs: number;
  ab: LinkDir = { loss: 0, dup: 0, reorder: 0, reorderDelayNs: 3e6, down: false };
  ba: LinkDir = { loss: 0, dup: 0, reorder: 0, reorderDelayNs: 3e6, down: false };
  log: SentRecord[] = [];
  keepLog = true;
  private rng: number;
  private counts = { a: 0, b: 0 };

  constructor(opts: { delayNs?: number; seed?: number; sysctlA?: Partial<TcpSysctl>; sysctlB?: Partial<TcpSysctl>; addrA?: Uint8Array; addrB?: Uint8Array } = {}) {
    this.delayNs = opts.delayNs ?? 5e6;
    this.rng = opts.seed ?? 12345;
    const addrA = opts.addrA ?? ADDR_A, addrB = opts.addrB ?? ADDR_B;
    let ra = 1, rb = 7;
    this.a = new TcpEngine({
      clock: this.clock, output: (s, d, bytes) => this.carry('a', s, d, bytes),
      random32: () => { ra = (Math.imul(ra, 1103515245) + 12345) >>> 0; return ra; },
      selectSource: () => addrA, sysctl: opts.sysctlA,
    });
    this.b = new TcpEngine({
      clock: this.clock, output: (s, d, bytes) => this.carry('b', s, d, bytes),
      random32: () => { rb = (Math.imul(rb, 22695477) + 1) >>> 0; return rb; },
      selectSource: () => addrB, sysctl: opts.sysctlB,
    });
  }

  rand(): number {
    let x = this.rng; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.rng = x >>> 0;
    return this.rng / 0x100000000;
  }

  private carry(from: 'a' | 'b', src: Uint8Array, dst: Uint8Array, bytes: Uint8Array): void {
    const dir = from === 'a' ? this.ab : this.ba;
    const to = from === 'a' ? this.b : this.a;
    const seg = parseTcp(bytes)!;
    const n = this.counts[from]++;
    const dropped = dir.down || (dir.dropIf?.(seg, n) ?? false) || (dir.loss > 0 && this.rand() < dir.loss);
    if (this.keepLog) this.log.push({ at: this.clock.now, from, seg, dropped });
    if (dropped) return;
    let delay = this.delayNs;
    if (dir.reorder > 0 && this.rand() < dir.reorder) delay += dir.reorderDelayNs;
    const copy = bytes.slice();
    this.clock.setTimer(this.clock.now + delay, () => to.input(dst, src, copy));
    if (dir.dup > 0 && this.rand() < dir.dup) this.clock.setTimer(this.clock.now + delay + 1e5, () => to.input(dst, src, copy));
  }

  sent(from: 'a' | 'b'): TcpSegment[] { return this.log.filter((r) => r.from === from).map((r) => r.seg); }
}

/** Deterministic test data. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
