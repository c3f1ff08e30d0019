/*
 * Memory accounting for `mem=`. There is no real physical memory to manage in JS; what `mem=`
 * bounds is what the kernel keeps on behalf of its users: tmpfs pages, page and buffer cache,
 * pipe buffers, socket buffers and kernel objects. Every such allocation is charged here first,
 * so a full kernel fails with ENOMEM/ENOSPC instead of growing the host process without limit.
 * /proc/meminfo reports these counters.
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

export class MemoryBudget {
  readonly totalPages: number;
  /** Pages the kernel image itself holds (code, data, early allocations). */
  readonly reservedPages: number;
  private used: Record<MemKind, number> = { shmem: 0, cached: 0, buffers: 0, slab: 0, pipe: 0, sock: 0, kernel: 0 };
  private usedTotal = 0;
  /** Called when memory is short, to shrink caches (page cache LRU). Returns pages freed. */
  private shrinkers: ((pages: number) => number)[] = [];

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
  registerShrinker(fn: (pages: number) => number): void { this.shrinkers.push(fn); }
  private reclaim(want: number): void {
    for (const s of this.shrinkers) { want -= s(want); if (want <= 0) return; }
  }
}

export { getPath, userBuf, putStruct, isNull, toInt, toInt32, toUint32 } from './uaccess.js';
