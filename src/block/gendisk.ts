/*
 * A disk (struct gendisk) and its buffer cache.
 *
 * The cache holds the disk in 4 KiB pages aligned to the disk's start: page i is bytes
 * [i*4096, (i+1)*4096) of the disk, whichever BlockDevice (the disk, a partition) asked for them.
 * Blocks of any size are served from these pages, so a 1 KiB block, the 4 KiB block around it
 * and the 64 KiB block around that always agree — they are the same bytes. A request that lies
 * inside one page (every block of 4 KiB or less on a partition aligned to 4 KiB, which is every
 * partition tool's default) is returned as a view of the page without copying; a block spanning
 * pages (larger blocks, or a partition starting at an odd sector such as the old MBR default 63)
 * is assembled into a fresh buffer.
 *
 * Memory: the buffer a read request filled becomes the pages it read (no copy per page), so the
 * cache's memory comes in slabs, charged whole to the 'buffers' budget until the last of their
 * pages is evicted. A hot page in a mostly dead slab is copied out with the other survivors
 * (compact) when the shrinker passes it, so they do not pin the rest.
 *
 * Reads. A hit returns at once. A miss asks the request queue for the missing pages (see
 * queue.ts): on a synchronous backend they are read before read() returns, so the result is
 * still a plain Uint8Array; on an asynchronous one it is a promise. Sequential readers get
 * readahead (mm/readahead.c's on-demand scheme, per BlockDevice): a sequential miss reads a
 * window of RA_INIT pages and puts a mark on the first page past what was asked; reaching the
 * mark starts the next window, twice as large up to RA_MAX, without waiting for it.
 *
 * Writes. bwrite() copies into the cache pages and marks them dirty (reading first the pages it
 * covers only partly). sync() writes dirty pages in sector order, runs of adjacent pages as one
 * request, then flushes the backend. A page rewritten while its write was in flight stays dirty
 * (each change bumps its generation). If memory for new pages cannot be had, the write goes
 * straight to the backend instead.
 *
 * Errors: a failed backend call fails the request with EIO and is logged once, as Linux's
 * blk_print_req_error does: "I/O error, dev vda, sector 2048 op 0x0:(READ) flags 0x0 ...".
 */
import type { DiskBackend } from '../arch/host.js';
import { fail, isPromise, KernelError, type MaybePromise } from '../lib/errors.js';
import { Mutex } from '../lib/mutex.js';
import { EIO } from '../uapi/errno.js';
import { PAGE_SIZE } from '../mm/index.js';
import { KERN_ERR } from '../kernel/printk/index.js';
import {
  RequestQueue, ReadRequest, MAX_REQUEST_PAGES, REQ_OP_READ, REQ_OP_WRITE, REQ_OP_FLUSH,
  REQ_OP_NAMES, type QueueOwner,
} from './queue.js';
import { BlockDev } from './bdev.js';
import type { BlockLayer } from './layer.js';
import { scanPartitionTable } from './partitions/index.js';

export const SECTOR_SIZE = 512;
/** First readahead window and the largest one, in pages (128 KiB and 512 KiB). */
export const RA_INIT = 32;
export const RA_MAX = 128;

/**
 * The memory behind cached pages. A read request's buffer becomes the pages it read, without a
 * copy per page; the buffer stays allocated (and charged) until its last page leaves the cache.
 * Pages made by writes have a slab of their own.
 */
export interface Slab {
  /** Disk page its first page of memory holds. */
  readonly first: number;
  /** Pages of memory it holds (what is charged). */
  readonly count: number;
  /** Its pages still in the cache. */
  live: number;
  /**
   * The whole buffer, while it may go back to the page pool once its last page is evicted (see
   * layer.ts); null once a caller has been given a view of it (or it is not a pool size).
   */
  mem: Uint8Array | null;
}

/**
 * When a slab's live pages drop to this fraction, the survivors are copied out and it is freed.
 * A readahead window's slab is compacted late (1/8 alive): its pages are mostly read once, and
 * copying survivors that are about to go cost an archiver 3-5% of its CPU at half. A two-page
 * slab goes at half: 4 KiB reads of a 1 KiB-block filesystem make them (a file page not aligned to
 * a disk page spans two), and each one otherwise pinned a dead page until its second page went —
 * under random reads, a third of mem= within minutes.
 */
const SLAB_COMPACT_DIVISOR = 8;
const SMALL_SLAB_COMPACT_DIVISOR = 2;

/** One cached 4 KiB page of a disk. */
export interface CachePage {
  readonly index: number;
  data: Uint8Array;
  slab: Slab;
  readonly disk: Gendisk;
  dirty: boolean;
  /** Read since the shrinker last looked (second chance). */
  ref: boolean;
  /** Bumped on every change, so a write-back that raced with a change leaves the page dirty. */
  gen: number;
  onLru: boolean;
  prev: CachePage | null;
  next: CachePage | null;
}

/** Readahead state of one reader (a BlockDevice): file_ra_state, in pages. */
export interface RaState {
  /** Last page of the previous read; -2 before the first. */
  prev: number;
  /** Byte offset of the previous read (a re-read of the same bytes is not sequential). */
  prevOff: number;
  /** Size of the current window (0: not sequential). */
  size: number;
  /** End of the current window (exclusive). */
  end: number;
  /** Reaching this page starts the next window (-1: none). */
  mark: number;
  /** No readahead at or past this page (the reader's device end). */
  limit: number;
}

export class Gendisk implements QueueOwner {
  readonly layer: BlockLayer;
  readonly backend: DiskBackend;
  /** Index among the kernel's disks: the letters of the name and the first minor / 16. */
  readonly index: number;
  readonly name: string;
  /** dev_t of the whole disk. */
  readonly dev: number;
  /** Bytes, a whole number of 512-byte sectors (a partial last sector is not addressable). */
  readonly capacity: number;
  readonly readOnly: boolean;
  /** parts[0] is the whole disk, parts[n] partition n. */
  parts: (BlockDev | undefined)[] = [];
  readonly queue: RequestQueue;
  /** Cached pages by index. */
  readonly pages = new Map<number, CachePage>();
  readonly dirty = new Set<CachePage>();
  /** Pages being read, and the request reading each. */
  readonly inflight = new Map<number, ReadRequest>();
  /** One sync() at a time, so two never write the same pages concurrently. */
  private readonly syncLock = new Mutex();
  /** I/O error messages printed (one per failed request). */
  ioErrors = 0;
  dead = false;

  constructor(layer: BlockLayer, backend: DiskBackend, index: number, name: string, dev: number) {
    this.layer = layer;
    this.backend = backend;
    this.index = index;
    this.name = name;
    this.dev = dev;
    this.capacity = Math.floor(backend.capacity / SECTOR_SIZE) * SECTOR_SIZE;
    this.readOnly = backend.readOnly;
    this.queue = new RequestQueue(this);
    this.parts[0] = new BlockDev(this, 0, name, dev, 0, this.capacity);
  }

  get whole(): BlockDev { return this.parts[0]!; }
  /** Size in 512-byte sectors (get_capacity). */
  get nrSectors(): number { return this.capacity / SECTOR_SIZE; }

  // --- partitions --------------------------------------------------------------------------------

  /**
   * Read the partition table and create a BlockDevice per partition (replacing earlier ones).
   * The partition code logs Linux's line (" vda: vda1 vda2 < vda5 >").
   */
  async scanPartitions(): Promise<void> {
    const whole = this.whole;
    const table = await scanPartitionTable(
      (o, l) => whole.readBytes(o, l), this.capacity, (lvl, msg) => this.layer.printk(lvl, msg),
      { diskName: this.name, forceGpt: this.layer.forceGpt },
    );
    this.dropPartitions();
    const sep = /[0-9]$/.test(this.name) ? 'p' : '';
    for (const p of table.parts) {
      if (p.nrSectors <= 0) continue;
      const minor = p.number < 16 ? this.dev + p.number : -1;
      const dev = minor >= 0 ? minor : BlockDev.extDev(this.layer.allocExtMinor());
      this.parts[p.number] = new BlockDev(this, p.number, `${this.name}${sep}${p.number}`, dev,
        p.startSector * SECTOR_SIZE, p.nrSectors * SECTOR_SIZE);
    }
  }

  private dropPartitions(): void {
    for (let n = 1; n < this.parts.length; n++) {
      const p = this.parts[n];
      if (p && p.extMinor >= 0) this.layer.freeExtMinor(p.extMinor);
    }
    this.parts.length = 1;
  }

  // --- reads ---------------------------------------------------------------------------------------

  /** Bytes the page holds (the last page of an odd-sized disk is short). */
  private pageBytes(i: number): number { return Math.min(PAGE_SIZE, this.capacity - i * PAGE_SIZE); }

  /**
   * Bytes [off, off+len) of the disk (the caller checked the bounds). Synchronous on a hit or a
   * synchronous backend. Without `dst`, a range inside one page is a view of the cached page.
   */
  read(off: number, len: number, ra: RaState | null, dst?: Uint8Array): MaybePromise<Uint8Array> {
    if (this.dead) fail(EIO, `${this.name}: disk removed`);
    const p0 = Math.floor(off / PAGE_SIZE);
    if (dst === undefined && off + len <= (p0 + 1) * PAGE_SIZE) {
      const pg = this.pages.get(p0);
      if (pg !== undefined) {
        pg.ref = true;
        if (ra !== null) {
          if (ra.mark === p0) this.raNext(ra);
          ra.prev = p0; ra.prevOff = off;
        }
        const s = off - p0 * PAGE_SIZE;
        pg.slab.mem = null; // the caller may keep this view: its memory never goes to the pool
        return s === 0 && len === PAGE_SIZE ? pg.data : pg.data.subarray(s, s + len);
      }
    } else if (dst !== undefined && ra === null && this.copyCached(off, len, p0, dst)) {
      return dst;
    }
    return this.readSlow(off, len, ra, dst, p0, Math.floor((off + len - 1) / PAGE_SIZE), true);
  }

  /**
   * Copy bytes [off, off+len) into dst straight from the cached pages; false (dst partly written)
   * at the first page that is not cached, for readSlow to do the whole read.
   */
  private copyCached(off: number, len: number, p0: number, dst: Uint8Array): boolean {
    const end = off + len;
    for (let i = p0, o = 0; o < len; i++) {
      const pg = this.pages.get(i);
      if (pg === undefined) return false;
      pg.ref = true;
      const pageStart = i * PAGE_SIZE;
      const s = Math.max(off, pageStart) - pageStart, e = Math.min(end - pageStart, PAGE_SIZE);
      dst.set(s === 0 && e === PAGE_SIZE ? pg.data : pg.data.subarray(s, e), o);
      o += e - s;
    }
    return true;
  }

  /**
   * A read that missed (or copies into dst). `expose`: a view of a single page returned to the
   * caller keeps that page's memory out of the pool; write() reads the pages it completes with
   * false, as it copies from them at once.
   */
  private readSlow(off: number, len: number, ra: RaState | null, dst: Uint8Array | undefined,
    p0: number, p1: number, retry: boolean, expose = true): MaybePromise<Uint8Array> {
    const got: (Uint8Array | undefined)[] = new Array(p1 - p0 + 1);
    let missing = false;
    for (let i = p0; i <= p1; i++) {
      const pg = this.pages.get(i);
      if (pg) { pg.ref = true; got[i - p0] = pg.data; } else missing = true;
    }
    let end = p1 + 1;
    if (ra !== null) {
      if (ra.mark >= p0 && ra.mark <= p1) this.raNext(ra);
      else if (missing) end = this.raOnMiss(ra, off, p0, p1);
      ra.prev = p1; ra.prevOff = off;
    }
    const waits: ReadRequest[] = [];
    if (missing) this.submitRange(p0, end, p0, p1, waits);
    const extended = end > p1 + 1;
    let pending = false;
    for (const r of waits) if (!r.done) { pending = true; break; }
    if (pending) {
      // The cached pages collected above are used after the wait: keep them out of the pool.
      for (let i = p0; i <= p1; i++) if (got[i - p0] !== undefined) this.pages.get(i)!.slab.mem = null;
    }
    const finish = (): MaybePromise<Uint8Array> => {
      for (const r of waits) {
        if (!r.error) continue;
        // A failure may lie in the readahead part only: try once more for just what was asked.
        if (retry && extended) return this.readSlow(off, len, null, dst, p0, p1, false, expose);
        throw new KernelError(EIO, `${this.name}: read error at byte ${off}`);
      }
      for (const r of waits) {
        const a = Math.max(p0, r.first), b = Math.min(p1, r.first + r.count - 1);
        for (let i = a; i <= b; i++) if (got[i - p0] === undefined) got[i - p0] = r.pageData(i);
      }
      if (dst === undefined && p0 === p1 && expose) {
        const pg = this.pages.get(p0);
        if (pg !== undefined) pg.slab.mem = null; // a view of it goes to the caller
      }
      return this.assemble(off, len, p0, got, dst);
    };
    if (!pending) return finish();
    return (async () => {
      for (const r of waits) if (!r.done) await r.wait();
      return finish();
    })();
  }

  private assemble(off: number, len: number, p0: number, got: (Uint8Array | undefined)[], dst?: Uint8Array): Uint8Array {
    if (dst === undefined && got.length === 1) {
      const s = off - p0 * PAGE_SIZE;
      return got[0]!.subarray(s, s + len);
    }
    const out = dst ?? new Uint8Array(len);
    let o = 0;
    for (let j = 0; j < got.length; j++) {
      const pageStart = (p0 + j) * PAGE_SIZE;
      const s = Math.max(off, pageStart) - pageStart;
      const e = Math.min(off + len, pageStart + PAGE_SIZE) - pageStart;
      out.set(got[j]!.subarray(s, e), o);
      o += e - s;
    }
    return out;
  }

  /**
   * Make sure pages [from, to) are cached or being read: missing runs become requests. Requests
   * covering pages d0..d1 (the caller's demand) are added to `waits`.
   */
  private submitRange(from: number, to: number, d0: number, d1: number, waits: ReadRequest[] | null): void {
    let runStart = -1;
    const flush = (runEnd: number) => {
      if (runStart < 0) return;
      const r = this.queue.submitRead(runStart, runEnd - runStart);
      if (!r.done) for (let i = runStart; i < runEnd; i++) this.inflight.set(i, r);
      if (waits && runStart <= d1 && runEnd > d0 && !waits.includes(r)) waits.push(r);
      runStart = -1;
    };
    for (let i = from; i < to; i++) {
      if (this.pages.has(i)) { flush(i); continue; }
      const r = this.inflight.get(i);
      if (r !== undefined) {
        flush(i);
        if (waits && i >= d0 && i <= d1 && !waits.includes(r)) waits.push(r);
        continue;
      }
      if (runStart < 0) runStart = i;
      else if (i - runStart >= MAX_REQUEST_PAGES) { flush(i); runStart = i; }
    }
    flush(to);
  }

  /** A read that missed: sequential readers get a window, random ones just what they asked. */
  private raOnMiss(ra: RaState, off: number, p0: number, p1: number): number {
    if (p0 !== ra.prev + 1 && !(p0 === ra.prev && off > ra.prevOff)) {
      ra.size = 0; ra.mark = -1; ra.end = p1 + 1;
      return p1 + 1;
    }
    const size = ra.size ? Math.min(ra.size * 2, RA_MAX) : RA_INIT;
    const end = Math.max(p1 + 1, Math.min(p0 + size, ra.limit));
    ra.size = size; ra.end = end;
    ra.mark = end > p1 + 1 ? p1 + 1 : -1;
    return end;
  }

  /** The reader reached the mark: start the next window and do not wait for it. */
  private raNext(ra: RaState): void {
    const size = Math.min(ra.size ? ra.size * 2 : RA_INIT, RA_MAX);
    const start = ra.end, end = Math.min(start + size, ra.limit);
    ra.mark = -1;
    if (start >= end) return;
    ra.size = size; ra.end = end; ra.mark = start;
    this.submitRange(start, end, 0, -1, null);
  }

  /**
   * Bytes [off, off + dst.length) into dst, for large sequential reads of file data. When no page
   * of the range is cached or being read, the backend fills dst directly and nothing is cached:
   * data streamed through once (an archive of a whole image) would otherwise be allocated as
   * pages, charged, and evicted again by the shrinker, pushing out the metadata that is reused —
   * the cost fadvise(POSIX_FADV_NOREUSE) exists to avoid on Linux. Any cached page in the range
   * (possibly dirty, hence newer than the disk) sends the read through the cache instead.
   */
  readStream(off: number, dst: Uint8Array): MaybePromise<void> {
    if (this.dead) fail(EIO, `${this.name}: disk removed`);
    const len = dst.length;
    const p0 = Math.floor(off / PAGE_SIZE), p1 = Math.floor((off + len - 1) / PAGE_SIZE);
    for (let i = p0; i <= p1; i++) {
      if (this.pages.has(i) || this.inflight.has(i)) {
        const r = this.read(off, len, null, dst);
        return isPromise(r) ? r.then(() => undefined) : undefined;
      }
    }
    const onErr = (e: unknown): never => {
      this.ioError(REQ_OP_READ, off, p1 - p0 + 1);
      throw new KernelError(EIO, `${this.name}: ${(e as Error)?.message ?? e}`);
    };
    let r: void | Promise<void>;
    try { r = this.backend.read(dst, off); } catch (e) { return onErr(e); }
    if (isPromise(r)) return r.then(() => undefined, onErr);
  }

  /** Start reading [off, off+len) into the cache; nobody waits. */
  readahead(off: number, len: number): void {
    if (this.dead || len <= 0) return;
    this.submitRange(Math.floor(off / PAGE_SIZE), Math.floor((off + len - 1) / PAGE_SIZE) + 1, 0, -1, null);
  }

  backendRead(buf: Uint8Array, offset: number): void | Promise<void> { return this.backend.read(buf, offset); }
  allocPages(pages: number): Uint8Array { return this.layer.allocPages(pages); }

  /** A read request finished: cache its pages, or report its failure. */
  readDone(r: ReadRequest, err: unknown): void {
    const end = r.first + r.count;
    for (let i = r.first; i < end; i++) if (this.inflight.get(i) === r) this.inflight.delete(i);
    if (err !== null && err !== undefined) {
      r.error = new KernelError(EIO, `${this.name}: ${(err as Error)?.message ?? err}`);
      this.ioError(REQ_OP_READ, r.first * PAGE_SIZE, r.count);
      return;
    }
    if (this.dead) return;
    let fresh = 0;
    for (let i = r.first; i < end; i++) if (!this.pages.has(i)) fresh++;
    if (fresh === 0) return;
    // The request's buffer becomes the pages: charged whole, as it is kept whole.
    const slab: Slab = { first: r.first, count: r.count, live: 0, mem: r.settledAtOnce && r.count <= 2 ? r.buf : null };
    // No memory to keep them: the waiters still get the data from the request. (Not charge():
    // building an ENOMEM error per request cost more than the I/O when memory stays full.)
    if (!this.layer.mem.tryChargeReclaim('buffers', slab.count)) return;
    const buf = r.buf!;
    for (let i = r.first; i < end; i++) {
      if (this.pages.has(i)) continue;
      const o = (i - r.first) * PAGE_SIZE;
      const pg = this.newPage(i, buf.subarray(o, o + PAGE_SIZE), slab);
      this.layer.lruAdd(pg);
    }
    if (slab.live === 0) this.layer.mem.uncharge('buffers', slab.count);
  }

  private newPage(index: number, data: Uint8Array, slab: Slab): CachePage {
    const pg: CachePage = { index, data, slab, disk: this, dirty: false, ref: false, gen: 0, onLru: false, prev: null, next: null };
    slab.live++;
    this.pages.set(index, pg);
    return pg;
  }

  /**
   * Drop a clean page (the shrinker, invalidate). Returns the pages of memory freed: its slab's,
   * if it was the slab's last page.
   */
  evict(pg: CachePage): number {
    this.layer.lruDel(pg);
    if (this.pages.get(pg.index) === pg) this.pages.delete(pg.index);
    const slab = pg.slab;
    if (--slab.live === 0) {
      this.layer.mem.uncharge('buffers', slab.count);
      if (slab.mem !== null) { this.layer.releasePages(slab.mem); slab.mem = null; }
      return slab.count;
    }
    return 0;
  }

  /** Is this page keeping a mostly dead slab alive (see SLAB_COMPACT_DIVISOR, compact)? */
  static sparse(slab: Slab): boolean {
    return slab.count > 1 && slab.live * (slab.count === 2 ? SMALL_SLAB_COMPACT_DIVISOR : SLAB_COMPACT_DIVISOR) <= slab.count;
  }

  /**
   * Copy the surviving pages of a mostly dead slab into pages of their own and free the slab, so
   * one hot page does not keep a whole readahead buffer alive. The shrinker calls it for a page
   * that earns a second chance. Returns the pages of memory freed.
   */
  compact(slab: Slab): number {
    const survivors: CachePage[] = [];
    for (let i = 0; i < slab.count && survivors.length < slab.live; i++) {
      const p = this.pages.get(slab.first + i);
      if (p !== undefined && p.slab === slab) survivors.push(p);
    }
    // The survivors stay charged, one page each; the rest of the slab is released.
    for (const p of survivors) {
      const copy = this.layer.allocPages(1);
      copy.set(p.data);
      p.data = copy;
      p.slab = { first: p.index, count: 1, live: 1, mem: copy };
    }
    const kept = survivors.length;
    this.layer.mem.uncharge('buffers', slab.count - kept);
    slab.live = 0;
    if (slab.mem !== null) { this.layer.releasePages(slab.mem); slab.mem = null; }
    return slab.count - kept;
  }

  // --- writes --------------------------------------------------------------------------------------

  /** Store `data` at byte `off` of the disk (bounds and read-only already checked). */
  write(off: number, data: Uint8Array): MaybePromise<void> {
    if (this.dead) fail(EIO, `${this.name}: disk removed`);
    const len = data.length;
    if (len === 0) return;
    const p0 = Math.floor(off / PAGE_SIZE), p1 = Math.floor((off + len - 1) / PAGE_SIZE);
    const need: number[] = [];
    for (const i of p0 === p1 ? [p0] : [p0, p1]) {
      const start = i * PAGE_SIZE;
      const full = off <= start && off + len >= start + this.pageBytes(i);
      if (!full && !this.pages.has(i)) need.push(i);
    }
    if (need.length === 0) return this.writeApply(off, data, p0, p1, null);
    const fetched = new Map<number, Uint8Array>();
    const waits: Promise<unknown>[] = [];
    for (const i of need) {
      // Not cached (need): a miss, read without exposing the page (its bytes are copied below).
      const r = this.readSlow(i * PAGE_SIZE, this.pageBytes(i), null, undefined, i, i, true, false);
      if (isPromise(r)) waits.push(r.then((d) => fetched.set(i, d)));
      else fetched.set(i, r);
    }
    if (waits.length === 0) return this.writeApply(off, data, p0, p1, fetched);
    return Promise.all(waits).then(() => this.writeApply(off, data, p0, p1, fetched));
  }

  private writeApply(off: number, data: Uint8Array, p0: number, p1: number,
    fetched: Map<number, Uint8Array> | null): MaybePromise<void> {
    // Dirty pages are off the LRU, so charging below cannot evict the pages we are changing.
    let fresh = 0;
    for (let i = p0; i <= p1; i++) {
      const pg = this.pages.get(i);
      if (pg) this.markDirty(pg); else fresh++;
    }
    if (fresh && !this.layer.mem.tryChargeReclaim('buffers', fresh)) {
      // Memory full of dirty pages: write them back so they become reclaimable, then retry.
      if (!(this.writebackForMemory() && this.layer.mem.tryChargeReclaim('buffers', fresh))) {
        return this.writeThrough(off, data, p0, p1);
      }
    }
    for (let i = p0; i <= p1; i++) {
      let pg = this.pages.get(i);
      const pageStart = i * PAGE_SIZE;
      const s = Math.max(off, pageStart), e = Math.min(off + data.length, pageStart + PAGE_SIZE);
      if (!pg) {
        // A pooled buffer holds old bytes: what neither the disk's copy nor the write covers is zeroed.
        const page = this.layer.allocPages(1);
        const old = fetched?.get(i);
        if (old) page.set(old);
        const have = old ? old.length : 0;
        if (have < PAGE_SIZE && !(s === pageStart && e === pageStart + PAGE_SIZE)) page.fill(0, have);
        pg = this.newPage(i, page, { first: i, count: 1, live: 0, mem: page });
        this.markDirty(pg);
      }
      pg.data.set(data.subarray(s - off, e - off), s - pageStart);
    }
  }

  /**
   * balance_dirty_pages, simplified: the budget is exhausted and dirty pages cannot be reclaimed,
   * so write every dirty page back (sector order, adjacent pages as one request, no flush — the
   * flusher's writeback, not a barrier) and let reclaim take them once clean. Only on a backend
   * that completes synchronously; an asynchronous one gets the writes started and the caller
   * writes through this time. Returns true when pages became clean.
   */
  private writebackForMemory(): boolean {
    if (this.dirty.size === 0 || this.dead) return false;
    let cleaned = false;
    for (const run of this.dirtyRuns(0, this.capacity)) {
      const w = this.writeRun(run);
      if (isPromise(w.result)) { w.result.then((v) => { if (v !== false) w.clean(); }, () => {}); continue; }
      if (w.result === false) return cleaned; // the error is logged; the pages stay dirty for sync()
      cleaned = w.clean() || cleaned;
    }
    return cleaned;
  }

  /** Dirty pages of bytes [start, end) in sector order, cut into runs of adjacent pages. */
  private dirtyRuns(start: number, end: number): CachePage[][] {
    const first = Math.floor(start / PAGE_SIZE), last = Math.ceil(end / PAGE_SIZE);
    const list = [...this.dirty].filter((p) => p.index >= first && p.index < last).sort((a, b) => a.index - b.index);
    const runs: CachePage[][] = [];
    for (let i = 0; i < list.length;) {
      let j = i + 1;
      while (j < list.length && list[j]!.index === list[j - 1]!.index + 1 && j - i < MAX_REQUEST_PAGES) j++;
      runs.push(list.slice(i, j));
      i = j;
    }
    return runs;
  }

  /**
   * Start writing a run of dirty pages as one request. `clean()` marks clean those not changed
   * since (their generation moved on otherwise) and says whether any was.
   */
  private writeRun(run: CachePage[]): { result: MaybePromise<void | false>; clean(): boolean } {
    const off = run[0]!.index * PAGE_SIZE;
    const bytes = Math.min(run.length * PAGE_SIZE, this.capacity - off);
    const buf = new Uint8Array(run.length * PAGE_SIZE);
    const gens = run.map((p, k) => { buf.set(p.data, k * PAGE_SIZE); return p.gen; });
    return {
      result: this.backendCall(REQ_OP_WRITE, buf.subarray(0, bytes), off, run.length, false),
      clean: () => {
        let any = false;
        run.forEach((p, k) => {
          if (p.dirty && p.gen === gens[k] && this.pages.get(p.index) === p) { this.markClean(p); any = true; }
        });
        return any;
      },
    };
  }

  /** No memory for new pages: update the cached ones and write to the backend at once. */
  private writeThrough(off: number, data: Uint8Array, p0: number, p1: number): MaybePromise<void> {
    for (let i = p0; i <= p1; i++) {
      const pg = this.pages.get(i);
      if (!pg) continue;
      const pageStart = i * PAGE_SIZE;
      const s = Math.max(off, pageStart), e = Math.min(off + data.length, pageStart + PAGE_SIZE);
      pg.data.set(data.subarray(s - off, e - off), s - pageStart);
    }
    return this.backendCall(REQ_OP_WRITE, data, off, p1 - p0 + 1, true);
  }

  private markDirty(pg: CachePage): void {
    if (!pg.dirty) {
      pg.dirty = true;
      this.layer.lruDel(pg);
      this.dirty.add(pg);
    }
    pg.gen++;
  }

  /**
   * Write back dirty pages of bytes [start, end) in sector order, adjacent pages as one request,
   * then flush the backend. EIO if any write or the flush failed (the pages stay dirty).
   */
  async sync(start = 0, end = this.capacity): Promise<void> {
    const l = this.syncLock.lock();
    if (l) await l;
    try {
      let ok = true;
      for (const run of this.dirtyRuns(start, end)) {
        const w = this.writeRun(run);
        const done = isPromise(w.result) ? await w.result.then((v) => v !== false, () => false) : w.result === undefined;
        if (!done) { ok = false; continue; }
        w.clean();
      }
      const f = this.backendCall(REQ_OP_FLUSH, null, 0, 0, false);
      if (isPromise(f) ? !(await f.then(() => true, () => false)) : f !== undefined) ok = false;
      if (!ok) fail(EIO, `${this.name}: write-back failed`);
    } finally {
      this.syncLock.unlock();
    }
  }

  private markClean(pg: CachePage): void {
    pg.dirty = false;
    this.dirty.delete(pg);
    if (!this.dead) this.layer.lruAdd(pg);
  }

  /**
   * A write or flush on the backend. With `throwErr`, failures throw EIO (rejects, if async);
   * without, a failed synchronous call returns false and an asynchronous one rejects.
   */
  private backendCall(op: number, buf: Uint8Array | null, off: number, segs: number, throwErr: true): MaybePromise<void>;
  private backendCall(op: number, buf: Uint8Array | null, off: number, segs: number, throwErr: false): MaybePromise<void | false>;
  private backendCall(op: number, buf: Uint8Array | null, off: number, segs: number, throwErr: boolean): MaybePromise<void | false> {
    const onErr = (e: unknown): false => {
      this.ioError(op, off, segs);
      if (throwErr) throw new KernelError(EIO, `${this.name}: ${(e as Error)?.message ?? e}`);
      return false;
    };
    let r: void | Promise<void>;
    try {
      r = op === REQ_OP_FLUSH ? this.backend.flush() : this.backend.write(buf!, off);
    } catch (e) {
      return onErr(e);
    }
    if (isPromise(r)) {
      return r.then(() => undefined, (e: unknown) => {
        onErr(e);
        throw new KernelError(EIO, `${this.name}: ${(e as Error)?.message ?? e}`);
      });
    }
    return undefined;
  }

  /** blk_print_req_error, once per failed request. */
  ioError(op: number, off: number, segs: number): void {
    this.ioErrors++;
    this.layer.printk(KERN_ERR, `I/O error, dev ${this.name}, sector ${Math.floor(off / SECTOR_SIZE)} op 0x${op.toString(16)}:(${REQ_OP_NAMES[op]}) flags 0x0 phys_seg ${segs} prio class 0`);
  }

  // --- invalidation and removal ----------------------------------------------------------------------

  /** Drop clean cached pages of bytes [start, end), so the next read goes to the backend. */
  invalidate(start = 0, end = this.capacity): void {
    const first = Math.floor(start / PAGE_SIZE), last = Math.ceil(end / PAGE_SIZE);
    for (const pg of [...this.pages.values()]) {
      if (!pg.dirty && pg.index >= first && pg.index < last) this.evict(pg);
    }
  }

  /** The disk is going away: release every page (dirty ones are lost) and refuse further I/O. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    const slabs = new Set<Slab>();
    for (const pg of this.pages.values()) { this.layer.lruDel(pg); slabs.add(pg.slab); }
    let n = 0;
    for (const sl of slabs) { n += sl.count; sl.live = 0; }
    this.pages.clear();
    this.dirty.clear();
    this.layer.mem.uncharge('buffers', n);
    this.dropPartitions();
  }
}
