/*
 * The FUSE session: /dev/fuse opened, mounted on the host, and read until the host unmounts it.
 *
 * Mounting. The host kernel's FUSE mount needs an open /dev/fuse descriptor named in its options:
 *   mount("lklfuse", MOUNTPOINT, "fuse.lklfuse", flags, "fd=N,rootmode=40000,user_id=U,group_id=G")
 * Node has no mount(2), so the descriptor is handed to mount(8) as its fd 3 (spawn's stdio array)
 * and mount(8) makes the call: `mount -i -t fuse.lklfuse -o fd=3,... lklfuse MOUNTPOINT`. That takes
 * CAP_SYS_ADMIN (root). Other users mount through fusermount3, which opens /dev/fuse itself and
 * passes the descriptor back over a unix socket with SCM_RIGHTS; Node cannot receive that, so a
 * python3 helper does and execs lklfuse with it (fusermount.ts); the session below is the same.
 * Unmounting works both ways (`umount MOUNTPOINT` as root, `fusermount3 -u MOUNTPOINT`).
 *
 * Reading. A read of /dev/fuse blocks until a request arrives, and fs.read runs it on a libuv
 * threadpool thread, so each outstanding read holds one thread: lklfuse keeps `readers` reads in
 * flight (4, or 1 with -s) and raises UV_THREADPOOL_SIZE before the pool starts (src/apps/lklfuse.ts)
 * so disk and file I/O elsewhere never starve. Each request is served in a kernel task of its own
 * (a small pool of k.task() threads) and its reply written synchronously (a write to /dev/fuse never
 * blocks). ENODEV from a read means the host unmounted us: the session ends. EINTR and EAGAIN are
 * retried; ENOENT means the request was aborted before we read it.
 *
 * Buffers. A small synchronous read or write costs lklfuse a few microseconds of its own, so the
 * hot path allocates little: a request is copied out of the read buffer into a pooled buffer (given
 * back once the request is answered), a reply is built in place behind room for its header
 * (proto.ts frame()) and READ data lands there straight from pread64, and those buffers are pooled
 * too. A buffer goes back to its pool only after the writeSync of its reply has returned, so
 * requests in flight at the same time never share one.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import {
  parseInHeader, putOutHeader, uniqueOf, frame, view, Op, OP_NAMES, IN_HEADER_SIZE, OUT_HEADER_SIZE, INIT_OUT_SIZE,
  FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, FUSE_ASYNC_READ, FUSE_ATOMIC_O_TRUNC,
  FUSE_BIG_WRITES, FUSE_AUTO_INVAL_DATA, FUSE_DO_READDIRPLUS, FUSE_READDIRPLUS_AUTO,
  FUSE_ASYNC_DIO, FUSE_PARALLEL_DIROPS, FUSE_MAX_PAGES, FUSE_CACHE_SYMLINKS, FUSE_WRITEBACK_CACHE, type InHeader,
} from './proto.js';
import { FuseError, NOREPLY, type FuseFs, type OpResult } from './ops.js';
import { isPromise, type KernelTask, type MaybePromise } from '../../lkl.js';

/** Largest WRITE payload we accept: 1 MiB (256 pages). */
export const MAX_WRITE = 1 << 20;
const MAX_PAGES = MAX_WRITE / 4096;
/** A read buffer holds the largest request: header, fuse_write_in and MAX_WRITE bytes. */
const BUFSIZE = MAX_WRITE + 4096;

/**
 * Busy-poll window after the last reply (µs; LKLFUSE_SPIN_US overrides, 0 turns it off). A program
 * doing synchronous I/O sends its next request a few microseconds after our reply wakes it; caught
 * by polling, that request costs no epoll sleep and cross-CPU wake-up, which on a VM was half of a
 * 4 KiB read's round trip (fio randread 8.4k -> 17k IOPS, randwrite 9k -> 11.7k, on 2 vCPUs).
 */
const SPIN_MS = Number(process.env.LKLFUSE_SPIN_US ?? 100) / 1000;
/** Requests served back to back by polling before the event loop gets a turn (timers, signals). */
const SPIN_CHAIN_MS = 2;
/**
 * Requests are copied out of the read buffer into buffers of this size, kept in a small pool (a
 * fresh ArrayBuffer per request was mostly garbage-collector work); larger requests (big WRITEs)
 * go into buffers of BUFSIZE, of which a couple are kept.
 */
const REQ_POOL_BYTES = 64 * 1024 + 4096;
const REQ_POOL_MAX = 8;
const BIG_REQ_POOL_MAX = 2;
const ENODEV_CODES = new Set(['ENODEV']);
const RETRY_CODES = new Set(['EINTR', 'EAGAIN', 'ENOENT']);

export interface MountSpec {
  source: string;
  mountpoint: string;
  readOnly: boolean;
  allowOther: boolean;
  defaultPermissions: boolean;
}

/** Run a host program; resolves to its exit status and what it printed on stderr. */
export function run(cmd: string, args: string[], stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe']): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { stdio: stdio as ('ignore' | 'pipe' | number)[] });
    } catch (e) { resolve({ status: 127, stderr: String(e) }); return; }
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', (e) => resolve({ status: 127, stderr: `${cmd}: ${e.message}` }));
    child.on('close', (code) => resolve({ status: code ?? 1, stderr: err.trim() }));
  });
}

/** Open /dev/fuse and mount it on the host; returns the descriptor. */
export async function fuseMount(m: MountSpec): Promise<number> {
  const fd = fs.openSync('/dev/fuse', fs.constants.O_RDWR);
  const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
  const o = [`fd=3`, `rootmode=40000`, `user_id=${uid}`, `group_id=${gid}`];
  if (m.allowOther) o.push('allow_other');
  if (m.defaultPermissions) o.push('default_permissions');
  // nosuid,nodev: what fusermount3 imposes, and what a disk image from elsewhere deserves.
  const flags = ['nosuid', 'nodev', m.readOnly ? 'ro' : 'rw'];
  const src = m.source.replace(/[,\s]/g, '_');
  const r = await run('mount', ['-i', '-t', 'fuse.lklfuse', '-o', [...flags, ...o].join(','), src, m.mountpoint],
    ['ignore', 'ignore', 'pipe', fd]);
  if (r.status !== 0) {
    fs.closeSync(fd);
    throw new Error(r.stderr || `mount exited with status ${r.status}`);
  }
  return fd;
}

/** The host side of shutting down: detach the mount (lazily, as libfuse does on a signal). */
export async function fuseUnmount(mountpoint: string): Promise<void> {
  await run('umount', ['-l', mountpoint]);
}

export interface SessionOptions {
  readers: number;
  tasks: number;
  debug: ((line: string) => void) | null;
  /** Ask for FUSE_WRITEBACK_CACHE (read-write mounts). */
  writebackCache?: boolean;
  /** Called once, after DESTROY or ENODEV. */
  onEnd(): void;
}

/** Serve requests from `fd` until the host unmounts; resolves then. */
export class FuseSession {
  private ended = false;
  private idle: KernelTask[] = [];
  private waiting: ((t: KernelTask) => void)[] = [];
  private created = 0;
  private inflight = 0;
  private readonly drained: (() => void)[] = [];
  private endResolve!: () => void;
  readonly done = new Promise<void>((r) => { this.endResolve = r; });
  proto = { major: 0, minor: 0 };
  /** Why FUSE_INIT was refused, if it was. */
  initError: string | null = null;

  constructor(private readonly fd: number, private readonly fsys: FuseFs,
    private readonly newTask: () => KernelTask, private readonly o: SessionOptions) {}

  /** The event-loop reader (pollReader), when in use. */
  private pollSock: net.Socket | null = null;
  /** The session closed the /dev/fuse descriptor itself (the owner must not close it again). */
  fdClosed = false;

  start(): void {
    if (this.pollReader()) return;
    for (let i = 0; i < this.o.readers; i++) this.readLoop();
  }

  /**
   * Requests read in the event loop itself: the descriptor is watched by epoll through Node's pipe
   * handle (net.Socket refuses a character device; the pipe_wrap binding takes any pollable fd),
   * and each readable event reads one request into a buffer of max_write and then some, as
   * /dev/fuse requires. A request then costs no thread-pool round trip, which was most of a small
   * read's latency. Returns false where the binding is missing (the thread-pool readers are used).
   */
  private pollReader(): boolean {
    let b: { Pipe: new (type: number) => { open(fd: number): number }; constants: { SOCKET: number } };
    try {
      b = (process as unknown as { binding(n: string): typeof b }).binding('pipe_wrap');
      if (typeof b.Pipe !== 'function') return false;
    } catch { return false; }
    const handle = new b.Pipe(b.constants.SOCKET);
    if (handle.open(this.fd) !== 0) return false;
    const buf = Buffer.allocUnsafe(BUFSIZE);
    const sock = new net.Socket({
      handle, readable: true, writable: false,
      onread: {
        buffer: buf,
        callback: (n: number) => {
          // Copied out: the buffer takes the next request as soon as this returns.
          this.dispatch(this.copyIn(buf, n));
          return true;
        },
      },
    } as unknown as net.SocketConstructorOpts);
    const stop = (e?: NodeJS.ErrnoException): void => {
      // ENODEV: unmounted; anything else ends the session too (after saying so with -d).
      if (e && !ENODEV_CODES.has(e.code ?? '')) this.o.debug?.(`read /dev/fuse: ${e.message}`);
      this.end();
    };
    sock.on('error', stop);
    sock.on('end', () => stop());
    this.pollSock = sock;
    return true;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    // The pipe handle owns the descriptor: closing it closes the fd (see fdClosed).
    if (this.pollSock) { this.pollSock.destroy(); this.fdClosed = true; }
    this.o.onEnd();
    this.endResolve();
  }

  /** Requests still being served have answered (before shutdown touches the filesystem). */
  async quiesce(): Promise<void> {
    if (this.inflight === 0) return;
    await new Promise<void>((r) => this.drained.push(r));
  }

  /** Every task of the pool exits. */
  async exitTasks(): Promise<void> {
    for (const t of this.idle) await t.exit();
    this.idle = [];
  }

  private readLoop(): void {
    const buf = Buffer.allocUnsafe(BUFSIZE);
    const again = (): void => {
      if (this.ended) return;
      fs.read(this.fd, buf, 0, BUFSIZE, null, (err, n) => {
        if (err) {
          if (ENODEV_CODES.has(err.code ?? '')) { this.end(); return; }
          if (RETRY_CODES.has(err.code ?? '')) { again(); return; }
          this.o.debug?.(`read /dev/fuse: ${err.message}`);
          this.end();
          return;
        }
        if (n === 0) { this.end(); return; }
        // The request is copied out so that this buffer can take the next one at once.
        const req = this.copyIn(buf, n);
        again();
        this.dispatch(req);
      });
    };
    again();
  }

  private readonly reqPool: ArrayBuffer[] = [];
  private readonly bigReqPool: ArrayBuffer[] = [];
  /** The first `n` bytes of `buf` in a request buffer of their own (see REQ_POOL_BYTES). */
  private copyIn(buf: Uint8Array, n: number): Uint8Array {
    const ab = n <= REQ_POOL_BYTES ? (this.reqPool.pop() ?? new ArrayBuffer(REQ_POOL_BYTES))
      : n <= BUFSIZE ? (this.bigReqPool.pop() ?? new ArrayBuffer(BUFSIZE)) : new ArrayBuffer(n);
    const req = new Uint8Array(ab, 0, n);
    req.set(n === buf.length ? buf : new Uint8Array(buf.buffer, buf.byteOffset, n));
    return req;
  }
  /** A request has been answered: nothing refers to its buffer any more. */
  private recycleReq(req: Uint8Array): void {
    const ab = req.buffer as ArrayBuffer;
    if (ab.byteLength === REQ_POOL_BYTES) { if (this.reqPool.length < REQ_POOL_MAX) this.reqPool.push(ab); }
    else if (ab.byteLength === BUFSIZE && this.bigReqPool.length < BIG_REQ_POOL_MAX) this.bigReqPool.push(ab);
  }

  /** A task from the pool, when one has to be waited for (serve takes an idle one directly). */
  private async task(): Promise<KernelTask> {
    const t = this.idle.pop();
    if (t) return t;
    if (this.created < this.o.tasks) { this.created++; return this.newTask(); }
    return new Promise((r) => this.waiting.push(r));
  }
  private release(t: KernelTask): void {
    const w = this.waiting.shift();
    if (w) w(t); else this.idle.push(t);
  }

  /** The header-only replies (errors, and successes without a body) are built here and sent at once. */
  private readonly hdr = new Uint8Array(OUT_HEADER_SIZE);

  /** A reply without body: `error` 0 or -errno. */
  private sendHeader(h: InHeader, error: number): void {
    putOutHeader(this.hdr, OUT_HEADER_SIZE, error, h.uniqueLo, h.uniqueHi);
    this.send(this.hdr);
  }
  /** A whole reply message (body at OUT_HEADER_SIZE): its header filled in, then written. */
  private sendFrame(h: InHeader, out: Uint8Array): void {
    putOutHeader(out, out.length, 0, h.uniqueLo, h.uniqueHi);
    this.send(out);
  }

  /** One write per reply; writeSync has copied it into the host kernel when it returns. */
  private send(b: Uint8Array): void {
    try { fs.writeSync(this.fd, b); } catch (e) {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted meanwhile.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV') this.o.debug?.(`write /dev/fuse: ${(e as Error).message}`);
    }
  }

  private spinReader: NonBlockingReader | null | undefined;
  private spinChainStart = 0;
  private spinChain = 0;
  /** spin() is on the stack: a request it answered synchronously must not start another. */
  private spinning = false;

  /**
   * After the last outstanding reply, poll /dev/fuse (non-blocking: the pipe handle set O_NONBLOCK)
   * for SPIN_MS before going back to epoll. A request answered synchronously (a cached READ) is
   * answered inside this loop, which then polls on; one that has to wait returns to the event loop,
   * and its reply calls spin() again. A chain of requests caught this way yields to the event loop
   * after SPIN_CHAIN_MS (timers, signals, the kernel's deferred work). The reads go through
   * nonBlockingReader (an empty poll returns EAGAIN there, where readSync would throw).
   */
  private spin(): void {
    if (!this.pollSock || this.ended || this.inflight !== 0) return;
    let now = performance.now();
    if (this.spinChain === 0) this.spinChainStart = now;
    else if (now - this.spinChainStart > SPIN_CHAIN_MS) { this.spinChain = 0; return; }
    if (this.spinReader === undefined) this.spinReader = nonBlockingReader(this.fd);
    const r = this.spinReader;
    let until = now + SPIN_MS;
    this.spinning = true;
    try {
      // The clock is read every 8th poll only: a WASI poll costs about as much as reading it.
      for (let i = 1; ; i++) {
        const n = r ? r.read() : readSyncNonBlocking(this.fd, (this.spinBuf ??= Buffer.allocUnsafe(BUFSIZE)));
        if (n > 0) {
          this.spinChain++;
          this.dispatch(this.copyIn(r ? r.buf : this.spinBuf!, n));
          if (this.inflight !== 0 || this.ended) return;
          now = performance.now();
          if (now - this.spinChainStart > SPIN_CHAIN_MS) { this.spinChain = 0; return; }
          until = now + SPIN_MS;
          i = 0;
          continue;
        }
        if (n === 0 || ((i & 7) === 0 || !r) && performance.now() > until) break;
      }
      this.spinChain = 0;
    } finally {
      this.spinning = false;
    }
  }
  private spinBuf: Buffer | null = null;

  private dispatch(req: Uint8Array): void {
    if (req.length < IN_HEADER_SIZE) return;
    const v = view(req);
    const h = parseInHeader(v);
    if (h.opcode === Op.INIT) { this.init(h, req); return; }
    if (h.opcode === Op.DESTROY) { this.sendHeader(h, 0); this.end(); return; }
    this.inflight++;
    const t = this.idle.pop();
    if (t !== undefined) {
      // READ and WRITE are answered before this returns when our kernel completes them at once.
      let r: MaybePromise<OpResult> | null;
      try { r = this.fsys.handleNow(t, h, req, v); } catch (e) { r = this.opError(h, e); }
      if (r === null) void this.serve(h, req, v, t);
      else if (isPromise(r)) r.then((x) => this.finish(h, req, t, x), (e: unknown) => this.finish(h, req, t, this.opError(h, e)));
      else this.finish(h, req, t, r);
      return;
    }
    void this.serve(h, req, v);
  }

  /** One request through handle(), in task `task` or one of the pool (waiting if all are busy). */
  private async serve(h: InHeader, req: Uint8Array, v: DataView, task?: KernelTask): Promise<void> {
    const t = task ?? await this.task();
    let r: OpResult;
    try {
      r = await this.fsys.handle(t, h, req, v);
    } catch (e) {
      r = this.opError(h, e);
    }
    this.finish(h, req, t, r);
  }

  private opError(h: InHeader, e: unknown): number {
    if (e instanceof FuseError) return -e.errno;
    this.o.debug?.(`${OP_NAMES[h.opcode]}: internal error: ${(e as Error).stack ?? String(e)}`);
    return -5;
  }

  /**
   * A request has its result: the task goes back to the pool, the reply is written, and when it
   * was the last one outstanding the session polls for the next (spin).
   */
  private finish(h: InHeader, req: Uint8Array, t: KernelTask, r: OpResult): void {
    try {
      this.release(t);
      this.recycleReq(req);
      if (this.o.debug) {
        this.o.debug(`unique: ${uniqueOf(h)}, opcode: ${OP_NAMES[h.opcode] ?? h.opcode} (${h.opcode}), nodeid: ${h.nodeid}, ` +
          `insize: ${h.len} -> ${r === NOREPLY ? 'no reply' : typeof r === 'number' && r < 0 ? `error: ${r}` : `outsize: ${typeof r === 'number' ? OUT_HEADER_SIZE : r.length}`}`);
      }
      if (typeof r === 'number') {
        if (r !== NOREPLY) this.sendHeader(h, r);
      } else {
        this.sendFrame(h, r);
        this.fsys.recycle(r);
      }
    } finally {
      if (--this.inflight === 0) {
        if (this.drained.length !== 0) for (const d of this.drained.splice(0)) d();
        if (SPIN_MS > 0 && !this.spinning) this.spin();
      }
    }
  }

  private init(h: InHeader, req: Uint8Array): void {
    const v = view(req);
    const major = v.getUint32(IN_HEADER_SIZE, true), minor = v.getUint32(IN_HEADER_SIZE + 4, true);
    const readahead = v.getUint32(IN_HEADER_SIZE + 8, true), flags = v.getUint32(IN_HEADER_SIZE + 12, true);
    this.o.debug?.(`INIT: ${major}.${minor} flags=0x${flags.toString(16)} max_readahead=${readahead}`);
    if (major > FUSE_KERNEL_VERSION) {
      // A newer major: answer with ours only, and the kernel sends INIT again in our version.
      const out = frame(8);
      const w = view(out);
      w.setUint32(OUT_HEADER_SIZE, FUSE_KERNEL_VERSION, true); w.setUint32(OUT_HEADER_SIZE + 4, FUSE_KERNEL_MINOR_VERSION, true);
      this.sendFrame(h, out);
      return;
    }
    if (major < FUSE_KERNEL_VERSION || minor < FUSE_KERNEL_MINOR_VERSION) {
      // The host kernel then fails every request; we leave, and the caller unmounts.
      this.initError = `the host kernel speaks FUSE ${major}.${minor}; lklfuse needs ${FUSE_KERNEL_VERSION}.${FUSE_KERNEL_MINOR_VERSION} or later`;
      this.sendHeader(h, -71 /* EPROTO */);
      this.end();
      return;
    }
    const want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_AUTO_INVAL_DATA |
      FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS |
      FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | (this.o.writebackCache ? FUSE_WRITEBACK_CACHE : 0);
    this.fsys.writebackCache = (flags & want & FUSE_WRITEBACK_CACHE) !== 0;
    const out = frame(INIT_OUT_SIZE);
    const w = new DataView(out.buffer, OUT_HEADER_SIZE, INIT_OUT_SIZE);
    w.setUint32(0, FUSE_KERNEL_VERSION, true);
    w.setUint32(4, FUSE_KERNEL_MINOR_VERSION, true);
    w.setUint32(8, readahead, true);
    w.setUint32(12, (flags & want) >>> 0, true);
    w.setUint16(16, 16, true); // max_background
    w.setUint16(18, 12, true); // congestion_threshold
    w.setUint32(20, MAX_WRITE, true);
    w.setUint32(24, 1, true); // time_gran: nanoseconds
    w.setUint16(28, MAX_PAGES, true);
    this.proto = { major, minor };
    this.sendFrame(h, out);
  }
}

/** The little of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: { memory?: { buffer: ArrayBuffer } } };
}

/** One read of a non-blocking descriptor: bytes read, 0 at end of file, -1 for nothing (or an error). */
interface NonBlockingReader { read(): number; readonly buf: Uint8Array }

/**
 * readSync on a descriptor with nothing to read throws EAGAIN, and the error object cost five
 * times the read(2) itself (and garbage to collect): with the spin loop polling every few
 * microseconds that was most of its time. Node's WASI (uvwasi) calls read(2) and returns the
 * errno as a number: the descriptor is handed to it as the WASI program's stdin, and its fd_read is
 * called directly, with the iovec and the buffer in the memory of an empty WebAssembly module.
 * WASI is experimental in Node 20 and says so on stderr when constructed; that one notice is
 * silenced. Null where WASI is missing (readSyncNonBlocking then).
 */
function nonBlockingReader(fd: number): NonBlockingReader | null {
  try {
    // (module (memory (export "memory") 18) (func (export "_initialize"))): 18 pages > BUFSIZE + 64.
    const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 3, 1, 0, 18,
      7, 24, 2, 6, 109, 101, 109, 111, 114, 121, 2, 0, 11, 95, 105, 110, 105, 116, 105, 97, 108, 105, 122, 101, 0, 0,
      10, 4, 1, 2, 0, 11]);
    // Loaded here, not imported: the module announces itself when first loaded.
    const emit = process.emitWarning;
    let wasi: import('node:wasi').WASI;
    process.emitWarning = () => {};
    try {
      const { WASI } = createRequire(import.meta.url)('node:wasi') as typeof import('node:wasi');
      wasi = new WASI({ version: 'preview1', stdin: fd, returnOnExit: true });
    } finally { process.emitWarning = emit; }
    const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const inst = new WA.Instance(new WA.Module(wasm), {});
    wasi.initialize(inst);
    const mem = inst.exports.memory!;
    if (mem.buffer.byteLength < 64 + BUFSIZE) return null;
    const iov = new DataView(mem.buffer, 0, 16);
    iov.setUint32(0, 64, true); iov.setUint32(4, BUFSIZE, true); // one iovec: the buffer at 64
    const fdRead = (wasi.wasiImport as Record<string, (...a: number[]) => number>).fd_read!;
    const buf = new Uint8Array(mem.buffer, 64, BUFSIZE);
    // Keep the WASI object alive with the reader (its fd table refers to `fd`).
    const keep = wasi;
    return {
      buf,
      read(): number {
        void keep;
        // fd 0 (stdin = our descriptor), iovec at 0, one of them, count stored at 8.
        return fdRead(0, 0, 1, 8) === 0 ? iov.getUint32(8, true) : -1;
      },
    };
  } catch { return null; }
}

/** The fallback: readSync, its EAGAIN error made without a stack trace. */
function readSyncNonBlocking(fd: number, buf: Buffer): number {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try { return fs.readSync(fd, buf, 0, BUFSIZE, null); } catch { return -1; } finally { Error.stackTraceLimit = limit; }
}
