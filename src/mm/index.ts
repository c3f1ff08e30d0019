/*
 * Memory accounting for `mem=`. There is no real physical memory to manage in JS; what `mem=`
 * bounds is what the kernel keeps on behalf of its users: tmpfs pages, page and buffer cache,
 * pipe buffers, socket buffers and kernel objects. Every such allocation is charged here first,
 * so a full kernel fails with ENOMEM/ENOSPC instead of growing the host process without limit.
 * /proc/meminfo reports these counters.
 *
 * Shrinkers give memory back when a charge finds none free (mm/vmscan.c's shrink_node). Two
 * kinds register: a plain function (the page cache: "free up to n pages, say how many") and a
 * Shrinker object for caches of kernel objects (the dcache), which also says how many pages it
 * could give back. Reclaim asks every object cache for its share of the request, in proportion to
 * its size against the page cache's, carrying the fractions over between calls as Linux's
 * nr_deferred does: many one-page requests add up to a steady pressure on every cache, so none
 * of them takes the whole of mem= from the others. The page cache gives the rest, and whatever is
 * still missing is asked of the object caches again.
 */
import { ENOMEM } from '../uapi/errno.js';
import { fail } from '../lib/errors.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

export type MemKind = 'shmem' | 'cached' | 'buffers' | 'slab' | 'pipe' | 'sock' | 'kernel';

/** Parse Linux memparse syntax: "32M", "1G", "4096", "512k". Returns bytes or NaN. */
export function memparse(s: string): number {
  const m = /^(0x[0-9a-fA-F]+|\d+)([kKmMgGtTpPeE]?)$/.exec(s.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 }[m[2]!.toLowerCase()] ?? 0;
  return n * 2 ** shift;
}

/** A cache of kernel objects that can give memory back (struct shrinker). */
export interface Shrinker {
  readonly name: string;
  /** The kind its pages are charged as (for /proc/meminfo's reclaimable figures). */
  readonly kind: MemKind;
  /** Pages that scanning could free at most (count_objects). */
  countPages(): number;
  /** Free about `pages` pages (scan_objects); returns the pages actually given back. */
  scan(pages: number): number;
}

export class MemoryBudget {
  readonly totalPages: number;
  /** Pages the kernel image itself holds (code, data, early allocations). */
  readonly reservedPages: number;
  private used: Record<MemKind, number> = { shmem: 0, cached: 0, buffers: 0, slab: 0, pipe: 0, sock: 0, kernel: 0 };
  private usedTotal = 0;
  /** Called when memory is short, to shrink caches (page cache LRU). Returns pages freed. */
  private shrinkers: ((pages: number) => number)[] = [];
  /** Object caches, each with the pressure carried over from earlier reclaims (nr_deferred). */
  private objShrinkers: { s: Shrinker; deferred: number }[] = [];

  constructor(totalBytes: number, reservedBytes: number) {
    this.totalPages = Math.floor(totalBytes / PAGE_SIZE);
    this.reservedPages = Math.min(this.totalPages, Math.ceil(reservedBytes / PAGE_SIZE));
  }

  get freePages(): number { return this.totalPages - this.reservedPages - this.usedTotal; }
  pages(kind: MemKind): number { return this.used[kind]; }

  /** Charge n pages of `kind`; reclaims from shrinkers first, fails with ENOMEM when it can't. */
  charge(kind: MemKind, n: number): void {
    if (n > this.freePages) this.reclaim(n - this.freePages);
    if (n > this.freePages) fail(ENOMEM, `out of memory: ${kind} wants ${n} pages, ${this.freePages} free`);
    this.used[kind] += n; this.usedTotal += n;
  }
  /** Charge if possible, without reclaim or error. */
  tryCharge(kind: MemKind, n: number): boolean {
    if (n > this.freePages) return false;
    this.used[kind] += n; this.usedTotal += n;
    return true;
  }
  uncharge(kind: MemKind, n: number): void {
    this.used[kind] -= n; this.usedTotal -= n;
  }
  /** Charge with reclaim like charge(), but answer false instead of failing with ENOMEM. */
  tryChargeReclaim(kind: MemKind, n: number): boolean {
    if (n > this.freePages) this.reclaim(n - this.freePages);
    return this.tryCharge(kind, n);
  }
  registerShrinker(fn: ((pages: number) => number) | Shrinker): void {
    if (typeof fn === 'function') this.shrinkers.push(fn);
    else this.objShrinkers.push({ s: fn, deferred: 0 });
  }
  unregisterShrinker(s: Shrinker): void {
    this.objShrinkers = this.objShrinkers.filter((o) => o.s !== s);
  }
  /** Pages of `kind` that shrinkers could give back (SReclaimable for 'slab'). */
  reclaimable(kind: MemKind): number {
    let n = 0;
    for (const o of this.objShrinkers) if (o.s.kind === kind) n += o.s.countPages();
    return Math.min(n, this.used[kind]);
  }
  private reclaimDepth = 0;
  private reclaim(want: number): void {
    // A shrinker that charges while it frees must not recurse into reclaim.
    if (this.reclaimDepth > 0) return;
    this.reclaimDepth++;
    try {
      const objs = this.objShrinkers;
      if (objs.length) {
        let total = this.used.cached + this.used.buffers;
        const counts = objs.map((o) => o.s.countPages());
        for (const c of counts) total += c;
        for (let i = 0; i < objs.length && want > 0 && total > 0; i++) {
          const o = objs[i]!;
          o.deferred = Math.min(o.deferred + (want * counts[i]!) / total, counts[i]!);
          const n = Math.floor(o.deferred);
          if (n > 0) { o.deferred -= n; want -= o.s.scan(n); }
        }
      }
      for (const s of this.shrinkers) { if (want <= 0) return; want -= s(want); }
      for (const o of objs) { if (want <= 0) return; want -= o.s.scan(want); }
    } finally { this.reclaimDepth--; }
  }
}

export { getPath, userBuf, putStruct, isNull, toInt, toInt32, toUint32 } from './uaccess.js';
