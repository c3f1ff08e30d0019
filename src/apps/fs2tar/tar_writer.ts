/*
 * The archive writer: a pax archive, framed here, its headers encoded by node-tar.
 *
 * Every entry is written as a pax extended header ('x') followed by its ustar header (and, for a
 * regular file, its contents padded to 512 bytes), as GNU tar --format=posix writes it. The
 * extended header always carries mtime, atime and ctime with nanoseconds and the real path, plus
 * whatever ustar cannot hold: linkpath, uid/gid over seven octal digits, sizes of 8 GiB and more,
 * and every xattr as SCHILY.xattr.NAME with its value verbatim.
 *
 * The 512-byte headers are encoded by the `tar` package (node-tar's Header, the encoder behind
 * npm's own tarballs): field layout, octal and base-256 numbers, the checksum. What is left to
 * us is the framing a tar stream is made of — header, body, zero padding to 512, two zero blocks
 * at the end — and the pax body, built as bytes in pax.ts because node-tar (like tar-stream)
 * encodes pax records as UTF-8 strings, which would alter a binary xattr value (a POSIX ACL,
 * security.capability) or a name that is not UTF-8. The ustar header gets an ASCII stand-in name
 * that fits; readers take the real name from the "path" record.
 *
 * Output: headers and small bodies are gathered in a 1 MiB buffer handed to the sink when full;
 * a file chunk of 64 KiB or more goes to the sink as it is, after what is gathered — so the file
 * data is not copied here at all. The sink is awaited for every chunk and is done with it then
 * (see ByteSink), so the gathering buffer is reused, and so may a caller reuse a chunk once its
 * write() has resolved: the archive streams through a fixed few buffers, not a fresh one per
 * chunk for the garbage collector to find.
 */
import { Header } from 'tar/header';
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

/**
 * Where the archive bytes go. The sink is done with a chunk when it returns, or when the promise
 * it returns resolves (that is also the back-pressure): the writer and its callers reuse the
 * buffer afterwards. A sink that keeps chunks must copy them.
 */
export type ByteSink = (chunk: Uint8Array) => void | Promise<void>;

/** The body of a regular-file entry: write exactly `size` bytes, then end(). */
export interface EntryBody {
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<void>;
}

const SLASH = new Uint8Array([0x2f]);
/** The largest uid, gid or device number seven octal digits hold (ustar's 8-byte fields). */
const USTAR_ID_MAX = 0o7777777;
/** ...and the largest size eleven digits hold (beyond it node-tar writes base-256). */
const USTAR_SIZE_MAX = 0o77777777777;
const BLOCK = 512;
const OUT_SIZE = 1 << 20;
/** File chunks at least this large bypass the gathering buffer. */
const DIRECT_MIN = 64 * 1024;

const roundUp512 = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
const PAX_HEADER_NAME = '././@PaxHeader';
const EPOCH = new Date(0);

/** node-tar's names of the entry types. */
const TYPE_NAMES = {
  file: 'File', directory: 'Directory', symlink: 'SymbolicLink', link: 'Link',
  'character-device': 'CharacterDevice', 'block-device': 'BlockDevice', fifo: 'FIFO',
} as const;

/** Printable-ASCII stand-in of at most `max` bytes for a ustar name field. */
function standIn(b: Uint8Array, max: number): string {
  const n = Math.min(b.length, max);
  if (n === 0) return '_';
  let plain = true;
  for (let i = 0; i < n; i++) { const c = b[i]!; if (c < 0x20 || c > 0x7e) { plain = false; break; } }
  if (plain) return String.fromCharCode.apply(null, b.subarray(0, n) as unknown as number[]);
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '_';
  }
  return s;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}

/** The date for the ustar mtime field: whole seconds, kept in the range readers expect. */
function ustarDate(t: Timespec): Date {
  return new Date(Math.min(Math.max(t.sec, 0), 0o77777777777) * 1000);
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

export class TarWriter implements EntryBody {
  private out = Buffer.allocUnsafe(OUT_SIZE);
  private pos = 0;
  private sunk = 0;
  /** The regular file whose body is being written: bytes still owed. */
  private owed = 0;
  private failure: Error | null = null;
  private finished = false;

  constructor(private readonly sink: ByteSink) {}

  /** Bytes of archive produced so far (handed to the sink or gathered for it). */
  get bytesWritten(): number { return this.sunk + this.pos; }

  private async flush(): Promise<void> {
    if (this.pos === 0) return;
    const chunk = this.out.subarray(0, this.pos);
    this.pos = 0;
    await this.give(chunk);
  }

  private async give(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    this.sunk += chunk.length;
    try {
      const r = this.sink(chunk);
      if (r) await r;
    } catch (e) {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      throw this.failure;
    }
  }

  /** Room for n bytes in the gathering buffer (n ≤ OUT_SIZE). */
  private async room(n: number): Promise<void> {
    if (this.pos + n > OUT_SIZE) await this.flush();
  }

  /** Copy bytes in, then zeros up to the next 512 boundary. */
  private async put(b: Uint8Array): Promise<void> {
    const padded = roundUp512(b.length);
    if (padded > OUT_SIZE) {
      await this.flush();
      await this.give(b);
      return this.zeros(padded - b.length);
    }
    await this.room(padded);
    this.putIn(b, padded);
  }

  /** put() when the room is known to be there. */
  private putIn(b: Uint8Array, padded: number): void {
    this.out.set(b, this.pos);
    this.out.fill(0, this.pos + b.length, this.pos + padded);
    this.pos += padded;
  }

  private async zeros(n: number): Promise<void> {
    if (n === 0) return;
    await this.room(n);
    this.out.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** One Header, refilled for every block: building a new one per entry costs more than encoding. */
  private readonly hdr = new Header();

  /** The ustar block of an entry, at pos (the caller made room). */
  private header(path: string, type: string, mode: number, uid: number, gid: number, size: number,
    mtime: Date, linkpath?: string, devmaj = 0, devmin = 0): void {
    this.out.fill(0, this.pos, this.pos + BLOCK);
    const h = this.hdr;
    h.path = path; h.type = type as Header['type']; h.mode = mode; h.uid = uid; h.gid = gid;
    h.size = size; h.mtime = mtime; h.linkpath = linkpath; h.devmaj = devmaj; h.devmin = devmin;
    h.encode(this.out, this.pos);
    this.pos += BLOCK;
  }

  /**
   * The ustar block of an extended header. Readers take only its type and size (the records carry
   * the entry's real name and times), so every one is named alike, Schily tar's "././@PaxHeader",
   * with a zero mtime: its block then depends on the body size alone, and node-tar encodes each
   * size once instead of once per entry (the encoding was a sixth of fs2tar's time).
   */
  private readonly paxBlocks = new Map<number, Uint8Array>();

  /** The extended header's ustar block, at pos (the caller made room). */
  private paxHeader(bodySize: number): void {
    let b = this.paxBlocks.get(bodySize);
    if (b === undefined) {
      b = new Uint8Array(BLOCK);
      const h = this.hdr;
      h.path = PAX_HEADER_NAME; h.type = 'ExtendedHeader'; h.mode = 0o644; h.uid = 0; h.gid = 0;
      h.size = bodySize; h.mtime = EPOCH; h.linkpath = undefined; h.devmaj = 0; h.devmin = 0;
      h.encode(Buffer.from(b.buffer, b.byteOffset, BLOCK), 0);
      if (this.paxBlocks.size < 4096) this.paxBlocks.set(bodySize, b);
    }
    this.out.set(b, this.pos);
    this.pos += BLOCK;
  }

  /** The size of the regular file whose body is being written (for messages). */
  private bodySize = 0;

  /**
   * Add an entry. Header-only entries are complete when this resolves; a regular file returns
   * its body, which must receive exactly `size` bytes before the next add(). The body is this
   * writer itself (write() and end() below): one object for every file.
   */
  async add(e: TarEntry): Promise<EntryBody | null> {
    if (this.failure) throw this.failure;
    if (this.owed !== 0) throw new Error(`previous entry is ${this.owed} bytes short`);
    const body = paxBody(e);
    const size = e.type === 'file' ? (e.size ?? 0) : 0;
    const mtime = ustarDate(e.mtime);
    // A directory's stand-in ends in '/', as tar writes directory names.
    let path = e.path;
    if (e.type === 'directory' && path.length > 1 && path[path.length - 1] === 0x2f) path = path.subarray(0, path.length - 1);
    const bare = standIn(path, e.type === 'directory' ? 99 : 100);
    const name = e.type === 'directory' ? `${bare}/` : bare;
    const padded = roundUp512(body.length);
    // Usually all three parts fit in the gathering buffer: no await, no promise per part.
    if (this.pos + padded + 2 * BLOCK <= OUT_SIZE) {
      this.paxHeader(body.length);
      this.putIn(body, padded);
    } else {
      await this.room(BLOCK);
      this.paxHeader(body.length);
      await this.put(body);
      await this.room(BLOCK);
    }
    this.header(name, TYPE_NAMES[e.type], e.mode & 0o7777, Math.min(e.uid, USTAR_ID_MAX),
      Math.min(e.gid, USTAR_ID_MAX), Math.min(size, USTAR_SIZE_MAX), mtime,
      e.linkpath !== undefined ? standIn(e.linkpath, 100) : undefined,
      Math.min(e.devmajor ?? 0, USTAR_ID_MAX), Math.min(e.devminor ?? 0, USTAR_ID_MAX));
    if (e.type !== 'file') return null;
    this.owed = size;
    this.bodySize = size;
    return this;
  }

  /** EntryBody.write: the next bytes of the current file. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (chunk.length > this.owed) throw new Error(`entry body longer than its size ${this.bodySize}`);
    this.owed -= chunk.length;
    if (chunk.length >= DIRECT_MIN) {
      await this.flush();
      await this.give(chunk);
      return;
    }
    if (this.pos + chunk.length > OUT_SIZE) await this.flush();
    this.out.set(chunk, this.pos);
    this.pos += chunk.length;
  }

  /** EntryBody.end: pad the current file to the block. */
  async end(): Promise<void> {
    if (this.owed !== 0) throw new Error(`entry body ${this.owed} bytes short of its size ${this.bodySize}`);
    const n = roundUp512(this.bodySize) - this.bodySize;
    if (n === 0) return;
    if (this.pos + n > OUT_SIZE) await this.flush();
    this.out.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** Write the end-of-archive blocks and hand everything to the sink. */
  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.finished) return;
    this.finished = true;
    await this.zeros(2 * BLOCK);
    await this.flush();
  }

  /** Abandon the archive (after an error): nothing more reaches the sink. */
  abort(err?: Error): void {
    this.failure ??= err ?? new Error('archive aborted');
  }
}
