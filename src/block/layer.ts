/*
 * The block layer of one kernel: its disks, their device numbers and names, and the one LRU list
 * every disk's cached pages sit on (Linux's file LRU, as far as the buffer cache is concerned).
 *
 * Memory. Cached pages are charged to the kernel's MemoryBudget as 'buffers' (by slab: see
 * gendisk.ts, so evicting a page frees memory once its slab's last page goes). When something
 * (a new cache page, tmpfs, a pipe) needs memory that is not free, the budget calls our shrinker,
 * which evicts clean pages from the cold end of the LRU. Eviction is second-chance: a page read
 * since it was last looked at has its `ref` bit set and is moved to the hot end instead (cheaper
 * on every cache hit than reordering a list). Dirty pages are not on the list at all: they cannot
 * be dropped until sync() has written them, after which they rejoin it at the hot end.
 *
 * Page pool. A page read into the cache needs memory, and a fresh ArrayBuffer per miss (with its
 * garbage once evicted) was most of a miss's cost under random reads at a full mem= (malloc, page
 * faults, and the collector chasing external memory). Evicted buffers of one or two pages therefore
 * go to a small pool the next reads take from — only those nobody else can still refer to: never
 * a page whose memory a caller was given a view of (bread), and never before the code running now
 * has finished (a freed buffer waits for the next microtask, so a read that evicted pages while
 * assembling its result cannot see them reused under it).
 *
 * Naming and numbers, as virtio-blk: disk index i is "vd" + letters (vda .. vdz, vdaa ..), the
 * lowest index not in use; major 254, 16 minors per disk (the disk itself, then partitions 1-15);
 * partitions beyond 15 get numbers of the extended major 259, as Linux's ext_devt.
 *
 * One BlockLayer per kernel, found through the kernel object (blockLayerOf) so /proc and the
 * drivers share it without module-level per-kernel state.
 */
import type { DiskBackend } from '../arch/host.js';
import { PAGE_SIZE, type MemoryBudget } from '../mm/index.js';
import type { Printk } from '../kernel/printk/index.js';
import { MKDEV } from '../uapi/stat.js';
import { Gendisk, type CachePage } from './gendisk.js';
import type { BlockDev } from './bdev.js';

export const VIRTBLK_MAJOR = 254;
/** Buffers kept per size (one and two pages) in the page pool. */
const POOL_MAX = 64;
export const BLOCK_EXT_MAJOR = 259;
export const PART_BITS = 4;
export const DISK_MINORS = 1 << PART_BITS;

/** virtblk_name_format: 0 -> "vda", 25 -> "vdz", 26 -> "vdaa". */
export function diskName(prefix: string, index: number): string {
  let s = '';
  let i = index;
  do { s = String.fromCharCode(97 + (i % 26)) + s; i = Math.floor(i / 26) - 1; } while (i >= 0);
  return prefix + s;
}

export class BlockLayer {
  readonly mem: MemoryBudget;
  readonly printk: Printk;
  /** Disks by their index (the letters of the name). */
  readonly disks: (Gendisk | undefined)[] = [];
  /** Cold end (evicted first) and hot end of the clean-page LRU. */
  private lruHead: CachePage | null = null;
  private lruTail: CachePage | null = null;
  lruCount = 0;
  /** The `gpt` boot parameter: use the alternate GPT when the primary is invalid (efi.c force_gpt). */
  forceGpt = false;
  private nextExtMinor = 0;
  private freeExtMinors: number[] = [];

  /** The page pool: free buffers of one and of two pages, and those freed since the last microtask. */
  private readonly pool: [Uint8Array[], Uint8Array[], Uint8Array[]] = [[], [], []];
  private freed: Uint8Array[] = [];
  private freedFlush = false;

  constructor(mem: MemoryBudget, printk: Printk) {
    this.mem = mem;
    this.printk = printk;
    mem.registerShrinker((want) => this.shrink(want));
  }

  /** Register a disk under the lowest free index; partitions are read by Gendisk.scanPartitions. */
  addDisk(backend: DiskBackend): Gendisk {
    let index = 0;
    while (this.disks[index]) index++;
    const d = new Gendisk(this, backend, index, diskName('vd', index), MKDEV(VIRTBLK_MAJOR, index * DISK_MINORS));
    this.disks[index] = d;
    return d;
  }

  /** Forget a disk: its pages are dropped (dirty ones too; sync first) and its index is reusable. */
  removeDisk(d: Gendisk): void {
    d.kill();
    if (this.disks[d.index] === d) this.disks[d.index] = undefined;
  }

  /** The BlockDevice (disk or partition) with this dev_t. */
  findByDev(dev: number): BlockDev | undefined {
    for (const d of this.disks) {
      if (!d) continue;
      for (const p of d.parts) if (p && p.dev === dev) return p;
    }
    return undefined;
  }

  allocExtMinor(): number { return this.freeExtMinors.pop() ?? this.nextExtMinor++; }
  freeExtMinor(minor: number): void { this.freeExtMinors.push(minor); }

  /** /proc/partitions: every disk and partition with its size in 1 KiB blocks. */
  partitionsText(): string {
    let s = 'major minor  #blocks  name\n\n';
    for (const d of this.disks) {
      if (!d || d.capacity === 0) continue;
      for (const p of d.parts) {
        if (!p) continue;
        const major = Math.floor(p.dev / 2 ** 20), minor = p.dev % 2 ** 20;
        s += `${String(major).padStart(4)}  ${String(minor).padStart(7)} ${String(Math.floor(p.size / 1024)).padStart(10)} ${p.name}\n`;
      }
    }
    return s;
  }

  // --- the page pool ----------------------------------------------------------------------------

  /** Memory for `pages` pages: a pooled buffer for one or two, else a new one. Contents undefined. */
  allocPages(pages: number): Uint8Array {
    return (pages <= 2 ? this.pool[pages]!.pop() : undefined) ?? new Uint8Array(pages * PAGE_SIZE);
  }

  /** A buffer of one or two whole pages that nothing refers to any more (see the page pool above). */
  releasePages(buf: Uint8Array): void {
    if (this.freed.length >= POOL_MAX * 2) return; // a mass eviction: the rest is garbage
    this.freed.push(buf);
    if (this.freedFlush) return;
    this.freedFlush = true;
    void Promise.resolve().then(() => {
      this.freedFlush = false;
      for (const b of this.freed) {
        const list = this.pool[b.length / PAGE_SIZE]!;
        if (list.length < POOL_MAX) list.push(b);
      }
      this.freed.length = 0;
    });
  }

  // --- the LRU ----------------------------------------------------------------------------------

  lruAdd(p: CachePage): void {
    p.prev = this.lruTail; p.next = null;
    if (this.lruTail) this.lruTail.next = p; else this.lruHead = p;
    this.lruTail = p;
    p.onLru = true;
    this.lruCount++;
  }

  lruDel(p: CachePage): void {
    if (!p.onLru) return;
    if (p.prev) p.prev.next = p.next; else this.lruHead = p.next;
    if (p.next) p.next.prev = p.prev; else this.lruTail = p.prev;
    p.prev = p.next = null;
    p.onLru = false;
    this.lruCount--;
  }

  /** Evict up to `want` clean pages, coldest first; returns how many were freed. */
  shrink(want: number): number {
    let freed = 0;
    // Each page is looked at at most twice (once to clear its ref bit, once to evict it).
    // Evicting a page frees memory only with the last page of its slab; the budget bounds the work.
    let budget = this.lruCount * 2;
    while (freed < want && this.lruHead && budget-- > 0) {
      const p = this.lruHead;
      if (p.ref) {
        p.ref = false;
        if (Gendisk.sparse(p.slab)) freed += p.disk.compact(p.slab);
        this.lruDel(p);
        this.lruAdd(p);
        continue;
      }
      freed += p.disk.evict(p);
    }
    return freed;
  }
}

const layers = new WeakMap<object, BlockLayer>();

/** The block layer attached to a kernel object (created by the block driver's initcall). */
export function blockLayerOf(owner: object): BlockLayer | undefined { return layers.get(owner); }
export function attachBlockLayer(owner: object, layer: BlockLayer): void { layers.set(owner, layer); }
