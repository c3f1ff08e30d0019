/*
 * A disk that loses power: a DiskBackend over an in-memory image that records every write and
 * flush, and can compute what the media holds if the power is cut at any point of that record.
 *
 * The media model is the one real disks with a volatile write cache give (and that the Linux
 * block layer's contract assumes):
 *   - a flush is a barrier: once it has completed, every write issued before it is on the media;
 *   - writes issued since the last completed flush are volatile: at the cut, any subset of them
 *     may have reached the media, in any order ('reorder'), or — for a disk without a volatile
 *     cache — all of them, in issue order ('ordered');
 *   - a sector (512 bytes) is atomic: it holds either its old or its new content, never a mix,
 *     never garbage. A multi-sector write that was in flight may be torn at sector granularity:
 *     in 'ordered' mode a prefix of its sectors persisted; in 'reorder' mode any subset did.
 *     One exception, ATOMIC_RANGES: the primary ext2/3/4 superblock (bytes 1024..2047, two
 *     sectors) is taken to be written whole. Linux writes it in place without any protection
 *     against a tear either (ext4_commit_super), and e2fsck refuses an image whose superblock
 *     checksum fails instead of falling back to a backup; tearing it would test the disk, not the
 *     filesystem. Drivers that want the strict model pass `atomic: []`.
 *
 * A cut is named by `ops`, the number of operations (writes and flushes, in issue order) that
 * completed before the power went; operation number `ops` itself (if it is a write) was in
 * flight. Everything random is drawn from a seeded generator, so (mode, ops, seed) determines the
 * cut state byte for byte; reproducer() prints that triple.
 *
 * Two ways to use it:
 *   - record once, cut many times: run a workload on a recording disk, then crashImage(cut) for
 *     as many cuts as wanted (the workload does not depend on the cut: what the kernel does before
 *     the power fails is the same whatever happens after);
 *   - live: `cutAfterWrites` / `cutAtFlush` make the disk refuse every operation from that point
 *     with EIO (the power is gone), so the kernel's own error paths run; media() is then the
 *     crash state of that cut.
 */

export const SECTOR = 512;

export type CutMode = 'ordered' | 'reorder';

export type DiskOp =
  | { kind: 'write'; off: number; data: Uint8Array }
  | { kind: 'flush' }
  | { kind: 'discard'; off: number; len: number };

/** A reproducible cut: mode, operations completed before the power failed, seed. */
export interface Cut { mode: CutMode; ops: number; seed: number }

/** Byte ranges [start, end) the disk writes all-or-nothing (see the file comment). */
export const ATOMIC_RANGES: readonly [number, number][] = [[1024, 2048]];

export function reproducer(c: Cut, extra = ''): string {
  return `CRASH_REPRO='${c.mode}:${c.ops}:${c.seed}${extra ? `:${extra}` : ''}'`;
}

export function parseReproducer(s: string): Cut & { extra: string } {
  const [mode, ops, seed, ...rest] = s.split(':');
  if (mode !== 'ordered' && mode !== 'reorder') throw new Error(`bad reproducer mode ${mode}`);
  return { mode, ops: Number(ops), seed: Number(seed), extra: rest.join(':') };
}

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class PowerCutError extends Error {
  constructor(what: string) { super(`power cut: ${what} refused`); }
}

export interface FaultyDiskOptions {
  /** Refuse (EIO) every operation after this many writes completed. */
  cutAfterWrites?: number;
  /** Refuse the Nth flush (1-based) and everything after it. */
  cutAtFlush?: number;
  /** Mode and seed of the live cut's media state (media()). */
  mode?: CutMode;
  seed?: number;
}

export class FaultyDisk {
  readonly capacity: number;
  readonly readOnly = false;
  /** The image as the disk was handed over, before any recorded operation. */
  private readonly base: Uint8Array;
  /** What reads see: everything written so far (the disk's cache and media together). */
  private readonly current: Uint8Array;
  readonly log: DiskOp[] = [];
  writes = 0;
  flushes = 0;
  /** Set once the live cut has happened: the op count at which it did. */
  cutAt: number | null = null;
  private readonly opts: FaultyDiskOptions;

  constructor(image: Uint8Array, opts: FaultyDiskOptions = {}) {
    this.base = image.slice();
    this.current = image.slice();
    this.capacity = image.length;
    this.opts = opts;
  }

  /** Operations recorded so far: a cut position. */
  get ops(): number { return this.log.length; }

  private check(len: number, off: number): void {
    if (!(off >= 0) || off + len > this.capacity) throw new RangeError(`faulty disk: access at ${off}+${len} beyond ${this.capacity}`);
  }

  private dead(what: string): void {
    if (this.cutAt === null) {
      const w = this.opts.cutAfterWrites, f = this.opts.cutAtFlush;
      if (w !== undefined && what === 'write' && this.writes >= w) this.cutAt = this.log.length;
      if (f !== undefined && what === 'flush' && this.flushes + 1 >= f) this.cutAt = this.log.length;
    }
    if (this.cutAt !== null) throw new PowerCutError(what);
  }

  read(buf: Uint8Array, off: number): void {
    this.check(buf.length, off);
    // After the power is gone nothing answers; before, reads see the cache.
    if (this.cutAt !== null) throw new PowerCutError('read');
    buf.set(this.current.subarray(off, off + buf.length));
  }

  write(buf: Uint8Array, off: number): void {
    this.check(buf.length, off);
    this.dead('write');
    this.log.push({ kind: 'write', off, data: buf.slice() });
    this.current.set(buf, off);
    this.writes++;
  }

  flush(): void {
    this.dead('flush');
    this.log.push({ kind: 'flush' });
    this.flushes++;
  }

  discard(off: number, len: number): void {
    this.check(len, off);
    this.dead('discard');
    this.log.push({ kind: 'discard', off, len });
    this.current.fill(0, off, off + len);
  }

  /** The media after a clean shutdown (everything recorded persisted). */
  image(): Uint8Array { return this.current.slice(); }

  /** The media state of the live cut (or of the end of the log when no cut happened). */
  media(): Uint8Array {
    return crashImage(this.base, this.log, { mode: this.opts.mode ?? 'reorder', ops: this.cutAt ?? this.log.length, seed: this.opts.seed ?? 0 });
  }

  /** The op index just after the nth write (n writes completed), for cuts named by writes. */
  opsAfterWrites(n: number): number {
    let w = 0;
    for (let i = 0; i < this.log.length; i++) if (this.log[i]!.kind === 'write' && ++w === n) return i + 1;
    return this.log.length;
  }

  baseImage(): Uint8Array { return this.base; }
}

/** The index just after the last flush among the first `ops` operations (0 when none). */
export function lastBarrier(log: readonly DiskOp[], ops: number): number {
  for (let i = Math.min(ops, log.length) - 1; i >= 0; i--) if (log[i]!.kind === 'flush') return i + 1;
  return 0;
}

/**
 * The media when the power fails after `cut.ops` operations of `log` completed on a disk that
 * started as `base`. Seeded: the same cut always gives the same bytes.
 */
export function crashImage(base: Uint8Array, log: readonly DiskOp[], cut: Cut, atomic: readonly [number, number][] = ATOMIC_RANGES): Uint8Array {
  const img = base.slice();
  /** A torn write's sector list, with each atomic range inside the write kept or dropped whole. */
  const whole = (op: { off: number; data: Uint8Array }, sectors: number[]): number[] => {
    const set = new Set(sectors);
    for (const [a, b] of atomic) {
      if (a < op.off || b > op.off + op.data.length) continue;
      const s0 = (a - op.off) / SECTOR, s1 = (b - op.off) / SECTOR;
      const keep = set.has(s0);
      for (let s = s0; s < s1; s++) if (keep) set.add(s); else set.delete(s);
    }
    return [...set].sort((x, y) => x - y);
  };
  const ops = Math.min(cut.ops, log.length);
  const barrier = lastBarrier(log, ops);
  const apply = (op: DiskOp, sectors?: number[]): void => {
    if (op.kind === 'write') {
      if (!sectors) { img.set(op.data, op.off); return; }
      for (const s of sectors) img.set(op.data.subarray(s * SECTOR, (s + 1) * SECTOR), op.off + s * SECTOR);
    } else if (op.kind === 'discard') {
      img.fill(0, op.off, op.off + op.len);
    }
  };
  for (let i = 0; i < barrier; i++) apply(log[i]!);
  const r = rng(cut.seed ^ Math.imul(ops, 0x9e3779b1));
  const inFlight = ops < log.length ? log[ops]! : undefined;
  if (cut.mode === 'ordered') {
    for (let i = barrier; i < ops; i++) apply(log[i]!);
    if (inFlight?.kind === 'write') {
      const n = Math.ceil(inFlight.data.length / SECTOR);
      const keep = Math.floor(r() * (n + 1));
      apply(inFlight, whole(inFlight, Array.from({ length: keep }, (_, k) => k)));
    }
    return img;
  }
  // reorder: each volatile write reached the media or not; those that did may be torn (any subset
  // of their sectors), and among them order is the issue order except where the seed swaps two.
  const chosen: { op: DiskOp; sectors?: number[] }[] = [];
  const volatile = log.slice(barrier, ops);
  if (inFlight?.kind === 'write') volatile.push(inFlight);
  for (const op of volatile) {
    if (op.kind === 'flush') continue;
    if (r() < 0.5) continue;
    if (op.kind === 'write' && op.data.length > SECTOR && r() < 0.25) {
      const n = Math.ceil(op.data.length / SECTOR);
      const sectors: number[] = [];
      for (let s = 0; s < n; s++) if (r() < 0.5) sectors.push(s);
      chosen.push({ op, sectors: whole(op, sectors) });
    } else {
      chosen.push({ op });
    }
  }
  // A later write to the same sector may land before an earlier one: a few random swaps.
  for (let k = 0; k < chosen.length >> 2; k++) {
    const a = Math.floor(r() * chosen.length), b = Math.floor(r() * chosen.length);
    [chosen[a], chosen[b]] = [chosen[b]!, chosen[a]!];
  }
  for (const c of chosen) apply(c.op, c.sectors);
  return img;
}

/** Sectors where two images differ (for reports). */
export function diffSectors(a: Uint8Array, b: Uint8Array, limit = 8): number[] {
  const out: number[] = [];
  for (let s = 0; s * SECTOR < a.length && out.length < limit; s++) {
    const o = s * SECTOR;
    for (let i = o; i < o + SECTOR; i++) if (a[i] !== b[i]) { out.push(s); break; }
  }
  return out;
}
