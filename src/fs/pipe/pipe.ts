/*
 * Pipes (fs/pipe.c, pipe(7)).
 *
 * A pipe is a bounded queue of bytes between the files open on its two ends. Its storage is a
 * ring of page-sized buffers ("slots"); the ring holds 16 slots (65536 bytes) by default and
 * F_SETPIPE_SZ changes the number of slots. A write takes whole slots: a write of at most
 * PIPE_BUF (= one page) either lands in one free slot or, when small enough, is appended to
 * the last partly filled one — so it is never split, which is the PIPE_BUF atomicity promise.
 * Bigger writes fill one slot after another and may block part way.
 *
 * Rules (all checked against fs/pipe.c):
 *   - read returns what is there (at least one byte), else 0 once no writer is left, else
 *     EAGAIN (O_NONBLOCK) or sleeps;
 *   - write with no reader is EPIPE (SIGPIPE is not modelled); with no free slot it is EAGAIN
 *     for O_NONBLOCK (after a partial write: the count so far), else it sleeps;
 *   - O_DIRECT on the write end makes "packet mode": each write is one buffer that is never
 *     merged, and each read consumes one whole packet (discarding what does not fit).
 *
 * State is a PipeInodeInfo hung on the inode (inode.pipe) while any end is open, so anonymous
 * pipes (inodes of an internal "pipefs") and FIFOs (inodes of a real filesystem, see fifo.ts)
 * share everything here. Every change in readiness wakes the pipe's one WaitQueue; the key is
 * the poll bits that may have become true (0: anything may have changed), which is what epoll
 * filters on. Buffers are charged to the kernel's memory budget as 'pipe' pages.
 *
 * Concurrency: the kernel is one JS thread, so each operation runs atomically between awaits;
 * blocking is a loop that re-checks its condition after every wake-up (wait_event style).
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { EAGAIN, EPIPE, EINTR, EBADF, EINVAL, EPERM, EBUSY, ENOTTY, ENODEV, EFAULT } from '../../uapi/errno.js';
import { O_NONBLOCK, O_DIRECT, O_RDONLY, O_WRONLY, F_GETPIPE_SZ, F_SETPIPE_SZ } from '../../uapi/fcntl.js';
import { S_IFIFO, S_IFDIR, PIPEFS_MAGIC, type Kstatfs } from '../../uapi/stat.js';
import {
  POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLHUP, POLLERR, FIONREAD, CAP_SYS_RESOURCE,
} from '../../uapi/misc.js';
import { PAGE_SIZE } from '../../mm/index.js';
import type { Cred } from '../../kernel/auth/index.js';
import {
  Inode, SuperBlock, Dentry, File, touchAtime, FMODE_READ, FMODE_WRITE, FMODE_LSEEK, FMODE_PREAD,
  FMODE_PWRITE, FMODE_ATOMIC_POS, FMODE_STREAM, type Vfs, type Mount, type FileOperations,
  type FileSystemType,
} from '../vfs/index.js';

/** Slots of a new pipe (PIPE_DEF_BUFFERS). */
export const PIPE_DEF_BUFFERS = 16;
/** /proc/sys/fs/pipe-max-size default: what an unprivileged F_SETPIPE_SZ may ask for. */
export const PIPE_MAX_SIZE_DEFAULT = 1048576;

/** One slot: a page and the live bytes in it. */
interface PipeBuffer { page: Uint8Array; offset: number; len: number; packet: boolean }

/** Per-Vfs pipe settings (the /proc/sys/fs/pipe-* knobs) and halt state. */
export interface PipeSysctl {
  /** /proc/sys/fs/pipe-max-size. */
  maxSize: number;
  /** Set once the kernel halts: every sleeper gives up with EINTR. */
  halted: boolean;
  /** Live pipes, so a halt can wake their sleepers. */
  readonly live: Set<PipeInodeInfo>;
}

const sysctls = new WeakMap<Vfs, PipeSysctl>();

/** The pipe settings of one kernel (created on first use). */
export function pipeSysctl(vfs: Vfs): PipeSysctl {
  let s = sysctls.get(vfs);
  if (!s) sysctls.set(vfs, (s = { maxSize: PIPE_MAX_SIZE_DEFAULT, halted: false, live: new Set() }));
  return s;
}

/** Kernel halt: wake every sleeper on every pipe of this Vfs; they and later sleeps fail EINTR. */
export function pipeHalt(vfs: Vfs): void {
  const s = pipeSysctl(vfs);
  s.halted = true;
  for (const p of [...s.live]) p.wait.wakeAll(-EINTR);
}

/** struct pipe_inode_info. */
export class PipeInodeInfo {
  readonly vfs: Vfs;
  /** Queued buffers, oldest first (the ring from tail to head). */
  readonly bufs: PipeBuffer[] = [];
  /** Slots the ring may hold (pipe->max_usage). */
  maxUsage = PIPE_DEF_BUFFERS;
  readers = 0;
  writers = 0;
  /** Files open on the pipe (both ends, every FIFO open); the state is freed at zero. */
  files = 0;
  /** Opens for reading / writing so far: FIFO opens wait for the partner's counter to move. */
  rCounter = 1;
  wCounter = 1;
  /** Readers, writers, FIFO openers and poll/epoll all wait here. */
  readonly wait = new WaitQueue();

  constructor(vfs: Vfs) {
    this.vfs = vfs;
    pipeSysctl(vfs).live.add(this);
  }

  get empty(): boolean { return this.bufs.length === 0; }
  get full(): boolean { return this.bufs.length >= this.maxUsage; }
  /** Bytes queued (FIONREAD). */
  get bytes(): number { let n = 0; for (const b of this.bufs) n += b.len; return n; }

  /** Tell sleepers and poll callbacks; `key` is the poll bits that may now be set (0: any). */
  wake(key: number): void { this.wait.wakeAll(key); }

  /** A fresh page for a new slot, charged to the memory budget (ENOMEM when out). */
  allocBuffer(packet: boolean): PipeBuffer {
    this.vfs.mem.charge('pipe', 1);
    return { page: new Uint8Array(PAGE_SIZE), offset: 0, len: 0, packet };
  }

  /** Drop the oldest buffer (fully consumed). */
  popBuffer(): void {
    this.bufs.shift();
    this.vfs.mem.uncharge('pipe', 1);
  }

  /** Last file closed: drop the data (free_pipe_info). */
  free(): void {
    if (this.bufs.length) this.vfs.mem.uncharge('pipe', this.bufs.length);
    this.bufs.length = 0;
    pipeSysctl(this.vfs).live.delete(this);
  }
}

/** What an open pipe file keeps in file.private_data. */
export interface PipeFile {
  pipe: PipeInodeInfo;
  /** pipe->w_counter when opened (f_pipe): POLLHUP only after a writer has come and gone since. */
  version: number;
}

function pipeFileOf(file: File): PipeFile { return file.private_data as PipeFile; }

/** Does this file sit on a pipe or FIFO (get_pipe_info)? */
export function getPipeInfo(file: File): PipeInodeInfo | undefined {
  const pf = file.private_data as PipeFile | undefined;
  if (!pf || !(pf.pipe instanceof PipeInodeInfo)) return undefined;
  if (file.fop !== pipeFileOperations && file.fop !== fifoOpsRef.fop) return undefined;
  return pf.pipe;
}
/** fifo.ts registers its operations here so getPipeInfo recognises FIFO files. */
export const fifoOpsRef: { fop: FileOperations | null } = { fop: null };

/** stream_open(): pipes have no position; lseek and pread/pwrite are ESPIPE. */
export function streamOpen(file: File): void {
  file.mode = (file.mode & ~(FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_ATOMIC_POS)) | FMODE_STREAM;
}

/**
 * Sleep until the pipe is woken. Fails with EINTR when the kernel halts or when the file the
 * caller is blocked on has been released under it (only a halt closes files under a sleeper).
 */
export async function pipeWait(pipe: PipeInodeInfo, file: File): Promise<void> {
  const s = pipeSysctl(pipe.vfs);
  if (s.halted) fail(EINTR);
  await pipe.wait.sleep();
  if (s.halted || file.released) fail(EINTR);
}

// ---- read / write ------------------------------------------------------------------------------

async function pipeRead(file: File, buf: Uint8Array): Promise<number> {
  const pipe = pipeFileOf(file).pipe;
  let total = buf.length;
  if (total === 0) return 0;
  let ret = 0;
  for (;;) {
    const wasFull = pipe.full;
    let freed = false;
    while (!pipe.empty && total > 0) {
      const b = pipe.bufs[0]!;
      const chars = Math.min(b.len, total);
      buf.set(b.page.subarray(b.offset, b.offset + chars), ret);
      ret += chars;
      b.offset += chars;
      b.len -= chars;
      total -= chars;
      // A packet is consumed whole; whatever did not fit in the reader's buffer is lost.
      if (b.packet) { b.len = 0; total = 0; }
      if (b.len === 0) { pipe.popBuffer(); freed = true; }
    }
    // Writers care only when a full ring gets a free slot (as Linux wakes wr_wait).
    if (freed && wasFull) pipe.wake(POLLOUT | POLLWRNORM);
    if (ret > 0) break;
    if (!pipe.writers) break;
    if (file.flags & O_NONBLOCK) fail(EAGAIN);
    await pipeWait(pipe, file);
  }
  if (ret > 0) touchAtime(file);
  return ret;
}

async function pipeWrite(file: File, buf: Uint8Array): Promise<number> {
  const pipe = pipeFileOf(file).pipe;
  const total = buf.length;
  if (total === 0) return 0;
  if (!pipe.readers) fail(EPIPE);
  const packet = (file.flags & O_DIRECT) !== 0;
  let ret = 0;
  // The part of the write beyond whole pages may join the last buffer when it fits there;
  // what remains is then page-aligned, one page per slot.
  const chars = total & (PAGE_SIZE - 1);
  if (chars && !pipe.empty) {
    const last = pipe.bufs[pipe.bufs.length - 1]!;
    const at = last.offset + last.len;
    // Mergeability is the last buffer's own (a packet never grows), as PIPE_BUF_FLAG_CAN_MERGE.
    if (!last.packet && at + chars <= PAGE_SIZE) {
      last.page.set(buf.subarray(0, chars), at);
      last.len += chars;
      ret = chars;
    }
  }
  try {
    while (ret < total) {
      if (!pipe.readers) { if (!ret) fail(EPIPE); break; }
      if (!pipe.full) {
        let b: PipeBuffer;
        try { b = pipe.allocBuffer(packet); } catch (e) { if (ret) break; throw e; }
        const n = Math.min(PAGE_SIZE, total - ret);
        b.page.set(buf.subarray(ret, ret + n), 0);
        b.len = n;
        pipe.bufs.push(b);
        ret += n;
        continue;
      }
      if (file.flags & O_NONBLOCK) { if (!ret) fail(EAGAIN); break; }
      // Let readers drain what is already there before we sleep for room.
      if (ret) pipe.wake(POLLIN | POLLRDNORM);
      await pipeWait(pipe, file);
    }
  } finally {
    if (ret) pipe.wake(POLLIN | POLLRDNORM);
  }
  file.inode.touch(true);
  return ret;
}

// ---- poll, ioctl, release ----------------------------------------------------------------------

function pipePoll(file: File): number {
  const pf = pipeFileOf(file);
  const pipe = pf.pipe;
  let mask = 0;
  if (file.mode & FMODE_READ) {
    if (!pipe.empty) mask |= POLLIN | POLLRDNORM;
    if (!pipe.writers && pf.version !== pipe.wCounter) mask |= POLLHUP;
  }
  if (file.mode & FMODE_WRITE) {
    if (!pipe.full) mask |= POLLOUT | POLLWRNORM;
    if (!pipe.readers) mask |= POLLERR;
  }
  return mask;
}

/** Store an int for an ioctl: int32 LE into a Uint8Array, or {value} into an object. */
function putIntArg(arg: unknown, v: number): void {
  if (arg instanceof Uint8Array) {
    if (arg.length < 4) fail(EFAULT);
    new DataView(arg.buffer, arg.byteOffset, 4).setInt32(0, v, true);
    return;
  }
  if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return; }
  fail(EFAULT);
}

function pipeIoctl(file: File, cmd: number, arg: unknown): number {
  if (cmd === FIONREAD) { putIntArg(arg, pipeFileOf(file).pipe.bytes); return 0; }
  fail(ENOTTY);
}

/** Drop one file's hold on the pipe state; the last one frees it (put_pipe_info). */
export function putPipeInfo(inode: Inode, pipe: PipeInodeInfo): void {
  if (--pipe.files > 0) return;
  if (inode.pipe === pipe) inode.pipe = undefined;
  pipe.free();
}

function pipeRelease(inode: Inode, file: File): void {
  const pipe = pipeFileOf(file).pipe;
  if (file.mode & FMODE_READ) pipe.readers--;
  if (file.mode & FMODE_WRITE) pipe.writers--;
  // Linux wakes only when one side just vanished; we always wake so that a sleeper on this very
  // file (possible only at halt, which closes files under blocked calls) notices and leaves.
  pipe.wake(0);
  putPipeInfo(inode, pipe);
}

/** pipefifo_fops: the operations of both ends of a pipe and of an open FIFO. */
export const pipeFileOperations: FileOperations = {
  read: (file, buf) => pipeRead(file, buf),
  write: (file, buf) => pipeWrite(file, buf),
  poll: pipePoll,
  waitQueue: (file) => pipeFileOf(file).pipe.wait,
  ioctl: pipeIoctl,
  release: pipeRelease,
};

// ---- F_SETPIPE_SZ / F_GETPIPE_SZ ----------------------------------------------------------------

/** round_pipe_size: a power-of-two number of pages, at least one; 0 when absurdly large. */
export function roundPipeSize(size: number): number {
  if (size > 2 ** 31) return 0;
  let s = Math.max(size, PAGE_SIZE);
  let p = PAGE_SIZE;
  while (p < s) p *= 2;
  s = p;
  return s;
}

function pipeSetSize(pipe: PipeInodeInfo, arg: number, cred: Cred): number {
  const size = roundPipeSize(arg);
  const slots = size / PAGE_SIZE;
  if (!slots) fail(EINVAL);
  if (slots > pipe.maxUsage && size > pipeSysctl(pipe.vfs).maxSize && !cred.capable(CAP_SYS_RESOURCE)) fail(EPERM);
  // Shrinking below what is queued would lose data.
  if (slots < pipe.bufs.length) fail(EBUSY);
  const grew = slots > pipe.maxUsage;
  pipe.maxUsage = slots;
  if (grew) pipe.wake(POLLOUT | POLLWRNORM);
  return pipe.maxUsage * PAGE_SIZE;
}

/** fcntl(F_GETPIPE_SZ / F_SETPIPE_SZ) on any file: EBADF unless it is a pipe or FIFO. */
export function pipeFcntl(file: File, cmd: number, arg: number, cred: Cred): number {
  const pipe = getPipeInfo(file) ?? fail(EBADF);
  switch (cmd) {
    case F_GETPIPE_SZ: return pipe.maxUsage * PAGE_SIZE;
    case F_SETPIPE_SZ: return pipeSetSize(pipe, arg >>> 0, cred);
    default: fail(EINVAL);
  }
}

// ---- pipefs and pipe(2) -------------------------------------------------------------------------

/** The internal filesystem anonymous pipes live on: never mountable, one per kernel. */
interface Pipefs { sb: SuperBlock; mnt: Mount; nextIno: number }

const pipefsType: FileSystemType = {
  name: 'pipefs',
  fsFlags: 0,
  mount: () => fail(ENODEV),
};

const pipefsByVfs = new WeakMap<Vfs, Pipefs>();

function pipefs(vfs: Vfs): Pipefs {
  let p = pipefsByVfs.get(vfs);
  if (p) return p;
  const sb = new SuperBlock(vfs, pipefsType, 0, {
    statfs: (): Kstatfs => ({
      type: PIPEFS_MAGIC, bsize: PAGE_SIZE, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0,
      fsid: [0, 0], namelen: 255, frsize: PAGE_SIZE, flags: 0,
    }),
  }, 'pipefs');
  sb.magic = PIPEFS_MAGIC;
  sb.blocksize = PAGE_SIZE;
  const rootInode = new Inode(sb, 1, S_IFDIR | 0o700, {}, {});
  sb.root = new Dentry('/', null, rootInode);
  const mnt = vfs.newMount(sb, sb.root, 0, 'pipefs');
  p = { sb, mnt, nextIno: 2 };
  pipefsByVfs.set(vfs, p);
  return p;
}

/** The pipefs superblock of a kernel (for stat's st_dev and /proc). */
export function pipefsSuper(vfs: Vfs): SuperBlock { return pipefs(vfs).sb; }

function pipeFileOn(fs: Pipefs, dentry: Dentry, inode: Inode, flags: number, cred: Cred, pipe: PipeInodeInfo): File {
  const f = new File({ mnt: fs.mnt, dentry }, inode, flags, pipeFileOperations, cred);
  streamOpen(f);
  f.private_data = { pipe, version: 0 } satisfies PipeFile;
  inode.openCount++;
  fs.mnt.refs++;
  return f;
}

/**
 * create_pipe_files: a new pipe and its two ends [read, write]. `flags` may hold O_NONBLOCK
 * (both ends) and O_DIRECT (packet mode, write end); O_CLOEXEC is the fd table's business.
 */
export function createPipe(vfs: Vfs, cred: Cred, flags: number): [File, File] {
  const fs = pipefs(vfs);
  const inode = new Inode(fs.sb, fs.nextIno++, S_IFIFO | 0o600, {}, pipeFileOperations);
  inode.uid = cred.fsuid;
  inode.gid = cred.fsgid;
  inode.nlink = 1;
  const pipe = new PipeInodeInfo(vfs);
  pipe.readers = pipe.writers = 1;
  pipe.files = 2;
  inode.pipe = pipe;
  // Named for /proc/<pid>/fd readlink; not entered in the root's children (no path reaches it).
  const dentry = new Dentry(`pipe:[${inode.ino}]`, fs.sb.root, inode);
  const w = pipeFileOn(fs, dentry, inode, O_WRONLY | (flags & (O_NONBLOCK | O_DIRECT)), cred, pipe);
  const r = pipeFileOn(fs, dentry, inode, O_RDONLY | (flags & O_NONBLOCK), cred, pipe);
  return [r, w];
}

