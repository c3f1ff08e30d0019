/*
 * The timing harness behind `npm run bench`.
 *
 * A measurement is a loop body run N times between two readings of process.hrtime.bigint().
 * Before timing, the body runs for a short warm-up, which lets V8 optimise it and also tells
 * us how long one operation takes (the fastest warm-up batch, so a batch slowed by a neighbour
 * does not shrink the rounds); N is then chosen so that one round lasts about `roundMs`
 * (never fewer than `minIters`). The loop runs `rounds` times (7 by default), each after a GC
 * when --expose-gc is on, and the result is the median round's ns/op, which ignores a round
 * hit by a stray GC or a timer tick without averaging it in.
 *
 * Asynchronous bodies are awaited one at a time, as a caller of the kernel would: the figure
 * includes the microtask hop each `await` costs, which is part of what a syscall costs here.
 */

import * as fs from 'node:fs';

export interface Measure {
  /** Median round, nanoseconds per operation. */
  nsPerOp: number;
  /** Every round, ns/op, in the order run. */
  rounds: number[];
  /** Operations per round. */
  iters: number;
}

export interface MeasureOptions {
  rounds?: number;
  /** Target duration of one round. */
  roundMs?: number;
  /** Fewest operations per round. */
  minIters?: number;
  /** Duration of the warm-up. */
  warmupMs?: number;
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function plan(perOpNs: number, o: MeasureOptions): number {
  const target = Math.round(((o.roundMs ?? 100) * 1e6) / Math.max(perOpNs, 1));
  return Math.max(o.minIters ?? 1000, target);
}

/** Time an asynchronous operation. */
export async function measureAsync(fn: () => Promise<unknown>, o: MeasureOptions = {}): Promise<Measure> {
  // Warm-up, doubling the batch until it has run for warmupMs; the last batch calibrates N.
  const warmNs = BigInt(Math.round((o.warmupMs ?? 50) * 1e6));
  const w0 = process.hrtime.bigint();
  let batch = 64, perOp = Infinity;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await fn();
    const t1 = process.hrtime.bigint();
    perOp = Math.min(perOp, Number(t1 - t0) / batch);
    if (t1 - w0 >= warmNs) break;
    batch *= 2;
  }
  const iters = plan(perOp, o);
  const rounds: number[] = [];
  for (let r = 0; r < (o.rounds ?? 7); r++) {
    gc?.();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  return { nsPerOp: median(rounds), rounds, iters };
}

/** Time a synchronous operation (the host's *Sync calls). */
export function measureSync(fn: () => unknown, o: MeasureOptions = {}): Measure {
  const warmNs = BigInt(Math.round((o.warmupMs ?? 50) * 1e6));
  const w0 = process.hrtime.bigint();
  let batch = 64, perOp = Infinity;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    const t1 = process.hrtime.bigint();
    perOp = Math.min(perOp, Number(t1 - t0) / batch);
    if (t1 - w0 >= warmNs) break;
    batch *= 2;
  }
  const iters = plan(perOp, o);
  const rounds: number[] = [];
  for (let r = 0; r < (o.rounds ?? 7); r++) {
    gc?.();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  return { nsPerOp: median(rounds), rounds, iters };
}

/** "412 ns", "3.21 µs", "12.3 ms". */
export function fmtNs(ns: number | null): string {
  if (ns === null || !Number.isFinite(ns)) return '-';
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** A plain text table, columns padded to their widest cell ('l'eft or 'r'ight), separated by " | ". */
export function table(header: string[], rows: string[][], align: ('l' | 'r')[] = []): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (c: string, i: number) => (align[i] === 'r' ? c.padStart(w[i]!) : c.padEnd(w[i]!));
  const line = (cells: string[]) => cells.map(pad).join(' | ').trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('-+-'), ...rows.map(line)].join('\n');
}

/** Read `len` bytes at `pos` of the file into buf[off..]; past the end of the file, zeros (a disk image's tail). */
export function preadFull(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, off + done, len - done, pos + done);
    if (n === 0) { buf.fill(0, off + done, off + len); break; }
    done += n;
  }
}
