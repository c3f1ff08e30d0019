/*
 * The archive writer: tar-stream frames a pax archive; we give it entries and byte bodies.
 *
 * Every entry is written as a pax extended header ('x') followed by its ustar header (and, for a
 * regular file, its contents padded to 512 bytes), as GNU tar --format=posix writes it. The
 * extended header always carries mtime, atime and ctime with nanoseconds and the real path, plus
 * whatever ustar cannot hold: linkpath, uid/gid over tar-stream's six octal digits, sizes of 8 GiB
 * and more, and every xattr as SCHILY.xattr.NAME with its value verbatim.
 *
 * Why tar-stream's own pax support is not used: it builds the extended header body as a string and
 * encodes it as UTF-8 (tar-stream 3.x, headers.encodePax), so a binary xattr value (a POSIX ACL,
 * security.capability) or a non-UTF-8 file name would be altered. We therefore build the body as
 * bytes (pax.ts) and, through one hook on the Pack instance, have tar-stream emit it: the hook
 * wraps Pack#_encode, the method each entry calls to write its header, to first write our 'x'
 * header (encoded by tar-stream itself, typeflag 'pax-header'), the body and its padding. The
 * ustar header that follows gets an ASCII stand-in name that fits, so tar-stream never adds a pax
 * header of its own; readers take the real name from our "path" record. The hook is checked when
 * a writer is made, so an incompatible tar-stream fails loudly rather than writing bad archives.
 *
 * Device numbers have no pax keyword GNU tar reads (1.34 ignores SCHILY.devminor), and tar-stream
 * writes them with six octal digits (at most 262143) where ustar has room for seven. Linux minors
 * go up to 1048575, so for such a device the hook rewrites the two fields of the header tar-stream
 * made, with seven digits, and its checksum; nothing else of a header is ever written here.
 *
 * Flow control: the Pack is read by one pump loop that coalesces tar-stream's many small pushes
 * into large writes to the sink. File bodies wait on the entry stream's 'drain' as usual; headers
 * are pushed by tar-stream without back-pressure, so add() also waits while more than a few
 * megabytes are produced but not yet written.
 */
import * as tarStream from 'tar-stream';
import { PaxRecords, xattrKeyword, paxTime, isUtf8 } from './pax.js';

export interface Timespec { sec: number; nsec: number }

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarEntry {
  /** Archive name as bytes, without a trailing '/' (except the root "./"). */
  path: Uint8Array;
  type: TarEntryType;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content length (regular files only). */
  size?: number;
  mtime: Timespec;
  atime?: Timespec;
  ctime?: Timespec;
  /** Symlink target, or for a hard link the archive name of the first occurrence. */
  linkpath?: Uint8Array;
  devmajor?: number;
  devminor?: number;
  /** Every extended attribute, in listing order: [name, value]. */
  xattrs?: Array<[Uint8Array, Uint8Array]>;
}

/** Where the archive bytes go; may return a promise to apply back-pressure. */
export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;

/** The body of a regular-file entry: write exactly `size` bytes, then end(). */
export interface EntryBody {
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<void>;
}

const SLASH = new Uint8Array([0x2f]);
const PAX_BODY = Symbol('fs2tar.paxBody');
const WIDE_DEV = Symbol('fs2tar.wideDev');
/** tar-stream writes uid, gid and device numbers as six octal digits. */
const USTAR_ID_MAX = 0o777777;
/** ...and sizes as eleven (beyond that it switches to base-256, which some readers lack). */
const USTAR_SIZE_MAX = 0o77777777777;
const HIGH_WATER = 8 << 20, LOW_WATER = 2 << 20;

const roundUp512 = (n: number) => Math.ceil(n / 512) * 512;
const STAGE_SIZE = 1 << 20;

interface StreamHeader {
  name: string; type: string; mode: number; uid: number; gid: number; size: number; mtime: Date;
  linkname?: string; devmajor?: number; devminor?: number;
  [PAX_BODY]?: Uint8Array;
  /** Device numbers past tar-stream's six digits: [major, minor], patched into the header. */
  [WIDE_DEV]?: [number, number];
}
interface PackInternals {
  entry(h: StreamHeader, cb: (err?: Error | null) => void): EntrySink;
  finalize(): void;
  destroy(err?: Error): void;
  push(chunk: Uint8Array): boolean;
  _encode(h: StreamHeader): void;
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
}
interface EntrySink {
  write(chunk: Uint8Array): boolean;
  end(): void;
  once(ev: 'drain', fn: () => void): void;
}

/** Printable-ASCII stand-in of at most `max` bytes for a ustar name field. */
function standIn(b: Uint8Array, max: number): string {
  let s = '';
  for (let i = 0; i < b.length && s.length < max; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '_';
  }
  return s || '_';
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}

/** The date given to tar-stream for the ustar mtime field (it truncates with |0): kept in range. */
function ustarDate(t: Timespec): Date {
  return new Date(Math.min(Math.max(t.sec, 0), 0x7fffffff) * 1000);
}

/** Seven-digit octal device fields (ustar devmajor at 329, devminor at 337) and a new checksum. */
function widenDevice(hdr: Uint8Array, major: number, minor: number): void {
  const put = (off: number, v: number) => {
    const digits = v.toString(8).padStart(7, '0');
    if (digits.length > 7) throw new RangeError(`device number ${v} does not fit a tar header`);
    for (let i = 0; i < 7; i++) hdr[off + i] = digits.charCodeAt(i);
    hdr[off + 7] = 0;
  };
  put(329, major);
  put(337, minor);
  // The checksum counts its own field as eight spaces; stored as six digits, NUL, space.
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : hdr[i]!;
  const c = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) hdr[148 + i] = c.charCodeAt(i);
  hdr[154] = 0;
  hdr[155] = 0x20;
}

/** Build the pax body of one entry. */
export function paxBody(e: TarEntry): Uint8Array {
  const r = new PaxRecords();
  let path = e.path;
  if (e.type === 'directory' && path[path.length - 1] !== 0x2f) path = concat(path, SLASH);
  // A name that is not UTF-8 goes in raw, flagged as POSIX says (libarchive writes the same; it
  // fails the extraction without it). GNU tar 1.34 warns that it ignores the keyword, then
  // restores the raw bytes all the same.
  if (!isUtf8(path) || (e.linkpath !== undefined && !isUtf8(e.linkpath))) r.add('hdrcharset', 'BINARY');
  r.add('path', path);
  if (e.linkpath !== undefined) r.add('linkpath', e.linkpath);
  if (e.uid > USTAR_ID_MAX) r.add('uid', String(e.uid));
  if (e.gid > USTAR_ID_MAX) r.add('gid', String(e.gid));
  if ((e.size ?? 0) > USTAR_SIZE_MAX) r.add('size', String(e.size));
  r.add('mtime', paxTime(e.mtime.sec, e.mtime.nsec));
  if (e.atime) r.add('atime', paxTime(e.atime.sec, e.atime.nsec));
  if (e.ctime) r.add('ctime', paxTime(e.ctime.sec, e.ctime.nsec));
  for (const [name, value] of e.xattrs ?? []) r.add(xattrKeyword(name), value);
  return r.bytes();
}

export class TarWriter {
  private readonly pack: PackInternals;
  private readonly pump: Promise<void>;
  /** The pump is waiting for tar-stream to produce more (nothing is buffered). */
  private starved = false;
  private produced = 0;
  private consumed = 0;
  private waiters: Array<() => void> = [];
  private failure: Error | null = null;
  private stage = new Uint8Array(STAGE_SIZE);
  private staged = 0;
  /** Bytes handed to the sink so far. */
  get bytesWritten(): number { return this.consumed; }

  constructor(private readonly sink: ByteSink) {
    const p = tarStream.pack() as unknown as PackInternals;
    const base = p._encode;
    if (typeof base !== 'function' || typeof p.push !== 'function') {
      throw new Error('tar-stream has changed: Pack#_encode/push not found (fs2tar needs tar-stream 3.x)');
    }
    p._encode = function (this: PackInternals, h: StreamHeader): void {
      const body = h[PAX_BODY];
      if (body) {
        base.call(this, {
          // Like GNU tar's dir/PaxHeaders/name, without the dir; h.name is already plain ASCII.
          name: `PaxHeaders/${h.name.replace(/\/$/, '').replace(/^.*\//, '').slice(0, 88)}`,
          type: 'pax-header', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime,
        });
        this.push(body);
        const pad = (512 - (body.length % 512)) % 512;
        if (pad) this.push(new Uint8Array(pad));
      }
      const wide = h[WIDE_DEV];
      if (!wide) { base.call(this, h); return; }
      const push = this.push;
      let header: Uint8Array | null = null;
      this.push = (b: Uint8Array) => { header = b; return true; };
      try { base.call(this, h); } finally { this.push = push; }
      if (!header) throw new Error('tar-stream has changed: no header pushed for a device entry');
      widenDevice(header, wide[0], wide[1]);
      this.push(header);
    };
    this.pack = p;
    this.pump = this.runPump();
    this.pump.catch(() => {}); // surfaced through add()/finish()
  }

  private async runPump(): Promise<void> {
    try {
      const it = (this.pack as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      for (;;) {
        // Waiting for input means tar-stream holds nothing unread: whatever `produced` estimates,
        // there is nothing to throttle for, so writers held in throttle() may go on.
        this.starved = true;
        this.wake();
        const next = await it.next();
        this.starved = false;
        if (next.done) break;
        const c = next.value;
        if (c.length >= 65536) {
          await this.flushStage();
          await this.sink(c);
        } else {
          if (this.staged + c.length > STAGE_SIZE) await this.flushStage();
          this.stage.set(c, this.staged);
          this.staged += c.length;
        }
        this.consumed += c.length;
        if (this.produced - this.consumed <= LOW_WATER) this.wake();
      }
      await this.flushStage();
    } catch (e) {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      this.wake();
      throw this.failure;
    }
  }

  private async flushStage(): Promise<void> {
    if (this.staged === 0) return;
    const out = this.stage.slice(0, this.staged);
    this.staged = 0;
    await this.sink(out);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async throttle(): Promise<void> {
    while (!this.failure && !this.starved && this.produced - this.consumed > HIGH_WATER) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure) throw this.failure;
  }

  /**
   * Add an entry. Header-only entries are complete when this resolves; a regular file returns
   * its body, which must receive exactly `size` bytes.
   */
  async add(e: TarEntry): Promise<EntryBody | null> {
    await this.throttle();
    const body = paxBody(e);
    const size = e.type === 'file' ? (e.size ?? 0) : 0;
    const h: StreamHeader = {
      // A directory name gets its '/' from tar-stream: leave room for it.
      name: standIn(e.path, 99),
      type: e.type,
      // tar-stream turns a zero mode into 0644/0755; a non-zero value with empty low 12 bits
      // survives its masking as a true 0000.
      mode: (e.mode & 0o7777) || 0o10000,
      uid: e.uid > USTAR_ID_MAX ? USTAR_ID_MAX : e.uid,
      gid: e.gid > USTAR_ID_MAX ? USTAR_ID_MAX : e.gid,
      size,
      mtime: ustarDate(e.mtime),
      [PAX_BODY]: body,
    };
    if (e.linkpath !== undefined) h.linkname = standIn(e.linkpath, 100);
    if (e.devmajor !== undefined) h.devmajor = Math.min(e.devmajor, USTAR_ID_MAX);
    if (e.devminor !== undefined) h.devminor = Math.min(e.devminor, USTAR_ID_MAX);
    if ((e.devmajor ?? 0) > USTAR_ID_MAX || (e.devminor ?? 0) > USTAR_ID_MAX) h[WIDE_DEV] = [e.devmajor ?? 0, e.devminor ?? 0];
    // Exactly what the archive gets for this entry before its body: the ustar header, and the pax
    // header and body rounded to 512 when there are records; the body's own padding is added at
    // end(). An estimate here drifts over thousands of entries and can stall throttle().
    this.produced += 512 + (body ? 512 + roundUp512(body.length) : 0);

    let settle!: (err?: Error | null) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    done.catch(() => {});
    const sink = this.pack.entry(h, (err) => settle(err));
    if (e.type !== 'file') {
      await this.race(done);
      return null;
    }
    let written = 0;
    return {
      write: async (chunk: Uint8Array) => {
        if (this.failure) throw this.failure;
        if (written + chunk.length > size) throw new Error(`entry body longer than its size ${size}`);
        written += chunk.length;
        this.produced += chunk.length;
        if (!sink.write(chunk)) await this.race(new Promise<void>((r) => sink.once('drain', r)));
        await this.throttle();
      },
      end: async () => {
        this.produced += roundUp512(size) - size;
        sink.end();
        await this.race(done);
      },
    };
  }

  /** Wait for p, but give up as soon as the sink has failed. */
  private async race(p: Promise<void>): Promise<void> {
    if (this.failure) throw this.failure;
    await Promise.race([p, this.pump.then(() => p)]);
    if (this.failure) throw this.failure;
  }

  /** Write the end-of-archive blocks and wait until everything reached the sink. */
  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    this.pack.finalize();
    await this.pump;
  }

  /** Abandon the archive (after an error). */
  abort(err?: Error): void {
    this.failure ??= err ?? new Error('archive aborted');
    this.pack.destroy(this.failure);
    this.wake();
  }
}

