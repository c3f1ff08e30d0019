/*
 * The request queue (block/blk-mq.c, reduced to what one host disk needs).
 *
 * A read that misses the cache becomes a ReadRequest for a run of whole cache pages. Requests go
 * to the backend in one of two ways, learned from the backend itself:
 *   - synchronous backends (file images, memory) answer read() without a promise. A request is
 *     dispatched the moment it is made, so a miss is served before bread() returns and nothing
 *     on the read path awaits;
 *   - asynchronous backends (HTTP ranges, browser files) return a promise. Requests are then
 *     "plugged": held until the current run of synchronous code ends, so that requests made in
 *     the same tick for adjacent pages merge into one (a back or front merge, up to
 *     MAX_REQUEST_PAGES), and then dispatched with at most MAX_IN_FLIGHT outstanding.
 * The first request of a backend of unknown kind is dispatched at once; its answer tells which
 * kind it is.
 *
 * A request completes exactly once: the disk inserts its pages into the cache (or reports the
 * error, once, in blk_print_req_error's words), then its waiters resume. Everyone who needs a
 * page that is already being read waits on the request reading it, so no page is read twice.
 */
import { isPromise } from '../lib/errors.js';
import { PAGE_SIZE } from '../mm/index.js';

/** Largest request, in cache pages: 512 KiB (virtio-blk's max_sectors_kb is of this order). */
export const MAX_REQUEST_PAGES = 128;
/** Requests outstanding at once on an asynchronous backend. */
export const MAX_IN_FLIGHT = 8;

export const REQ_OP_READ = 0, REQ_OP_WRITE = 1, REQ_OP_FLUSH = 2;
export const REQ_OP_NAMES: Record<number, string> = { 0: 'READ', 1: 'WRITE', 2: 'FLUSH', 3: 'DISCARD' };

export class ReadRequest {
  /** First disk page and number of pages (merging may move either while plugged). */
  first: number;
  count: number;
  /** The data, count pages long, once the backend answered. */
  buf: Uint8Array | null = null;
  /** Set when the backend failed: the error the waiters see. */
  error: Error | null = null;
  done = false;
  /**
   * Completed inside submitRead, before anyone could wait for it: its buffer is referred to only
   * by the code that asked, synchronously, so its pages may later go back to the page pool.
   */
  settledAtOnce = false;
  dispatched = false;
  private resolvers: (() => void)[] | null = null;
  private promise: Promise<void> | null = null;

  constructor(first: number, count: number) { this.first = first; this.count = count; }

  /** Resolves (never rejects) when the request completed; check `error` afterwards. */
  wait(): Promise<void> {
    if (this.done) return Promise.resolve();
    if (!this.promise) {
      this.resolvers = [];
      this.promise = new Promise<void>((r) => this.resolvers!.push(r));
    }
    return this.promise;
  }

  /** The bytes of disk page `index`, which this request read. */
  pageData(index: number): Uint8Array {
    const o = (index - this.first) * PAGE_SIZE;
    return this.buf!.subarray(o, o + PAGE_SIZE);
  }

  /** @internal */
  finish(): void {
    this.done = true;
    if (this.resolvers) for (const r of this.resolvers) r();
    this.resolvers = null;
  }
}

/** What the queue needs from its disk. */
export interface QueueOwner {
  /** Bytes the disk has (the last page may be partial). */
  readonly capacity: number;
  /** Start the backend read; a thrown error or a rejected promise fails the request. */
  backendRead(buf: Uint8Array, offset: number): void | Promise<void>;
  /** Memory for a request of `pages` pages (zero-filled or not: the backend overwrites it). */
  allocPages(pages: number): Uint8Array;
  /** Called once per request, before its waiters resume. */
  readDone(r: ReadRequest, err: unknown): void;
}

export class RequestQueue {
  /** Unknown until the backend answered once; then whether it answers with promises. */
  async: boolean | undefined = undefined;
  /** Requests made but not dispatched (plugged, or waiting for a free slot). */
  private pending: ReadRequest[] = [];
  private active = 0;
  private unplugScheduled = false;
  /** Backend calls made, by operation (for tests and statistics). */
  readonly stats = { reads: 0, merges: 0, readPages: 0 };

  constructor(private owner: QueueOwner) {}

  get inFlight(): number { return this.active; }

  /**
   * A read of pages [first, first+count). Returns the request that will read them: a new one, or
   * a plugged one it was merged into. On a synchronous backend it has completed on return.
   */
  submitRead(first: number, count: number): ReadRequest {
    for (const r of this.pending) {
      if (r.count + count > MAX_REQUEST_PAGES) continue;
      if (r.first + r.count === first) { r.count += count; this.stats.merges++; return r; }
      if (first + count === r.first) { r.first = first; r.count += count; this.stats.merges++; return r; }
    }
    const r = new ReadRequest(first, count);
    if (this.async !== true && this.active === 0) {
      r.settledAtOnce = true;
      this.dispatch(r);
      if (!r.done) r.settledAtOnce = false;
      return r;
    }
    this.pending.push(r);
    this.scheduleUnplug();
    return r;
  }

  private scheduleUnplug(): void {
    if (this.unplugScheduled) return;
    this.unplugScheduled = true;
    // A microtask: runs when the code that made the requests yields, so it gets to add more.
    void Promise.resolve().then(() => { this.unplugScheduled = false; this.run(); });
  }

  private run(): void {
    while (this.active < (this.async === false ? 1 : MAX_IN_FLIGHT) && this.pending.length) {
      this.dispatch(this.pending.shift()!);
    }
  }

  private dispatch(r: ReadRequest): void {
    r.dispatched = true;
    this.active++;
    this.stats.reads++;
    this.stats.readPages += r.count;
    const offset = r.first * PAGE_SIZE;
    const bytes = Math.min(r.count * PAGE_SIZE, this.owner.capacity - offset);
    const buf = this.owner.allocPages(r.count);
    let res: void | Promise<void>;
    try {
      res = this.owner.backendRead(buf.subarray(0, bytes), offset);
    } catch (e) {
      this.complete(r, null, e);
      return;
    }
    if (isPromise(res)) {
      this.async = true;
      res.then(() => this.complete(r, buf, null), (e: unknown) => this.complete(r, null, e ?? new Error('I/O error')));
    } else {
      if (this.async === undefined) this.async = false;
      this.complete(r, buf, null);
    }
  }

  private complete(r: ReadRequest, buf: Uint8Array | null, err: unknown): void {
    this.active--;
    r.buf = buf;
    this.owner.readDone(r, err);
    r.finish();
    if (this.pending.length) {
      if (this.async) this.run();
      else this.scheduleUnplug();
    }
  }
}
