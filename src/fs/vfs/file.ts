/*
 * struct file: one open of an inode, shared by every fd dup'ed from it.
 *
 * FileOperations are the per-type behaviour of an open file. The VFS (src/fs/vfs/read_write.ts)
 * handles positions, O_APPEND, access modes and limits; a read or write callback only moves
 * bytes at the position it is given and returns the count. Readiness for poll/select/epoll is
 * `poll()` (a mask of POLL* bits) plus `waitQueue()` (where a change in that mask is announced).
 */
import type { MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import type { WaitQueue } from '../../lib/waitqueue.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { Inode } from './inode.js';
import type { Path } from './mount.js';
import { O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY, O_PATH } from '../../uapi/fcntl.js';

export const FMODE_READ = 0x1, FMODE_WRITE = 0x2, FMODE_LSEEK = 0x4, FMODE_PREAD = 0x8,
  FMODE_PWRITE = 0x10, FMODE_EXEC = 0x20, FMODE_ATOMIC_POS = 0x8000, FMODE_PATH = 0x4000,
  FMODE_STREAM = 0x200000, FMODE_NOWAIT = 0x8000000;

/** Directory iteration context (struct dir_context). */
export interface DirContext {
  /** Position of the next entry to emit; the filesystem advances it after each accepted entry. */
  pos: number;
  /** Offer one entry; false means the caller's buffer is full and iteration must stop. */
  emit(name: ByteString, ino: number, dtype: number): boolean;
}

export interface FileOperations {
  open?(inode: Inode, file: File): MaybePromise<void>;
  /** Last reference to the file dropped. */
  release?(inode: Inode, file: File): MaybePromise<void>;
  /** Every close(2) of an fd referring to this file (struct file_operations.flush). */
  flush?(file: File): MaybePromise<void>;
  read?(file: File, buf: Uint8Array, pos: number): MaybePromise<number>;
  write?(file: File, buf: Uint8Array, pos: number): MaybePromise<number>;
  /** Custom seek (SEEK_DATA/SEEK_HOLE, directories); default is generic_file_llseek. */
  llseek?(file: File, offset: number, whence: number): MaybePromise<number>;
  iterate?(file: File, ctx: DirContext): MaybePromise<void>;
  poll?(file: File): number;
  waitQueue?(file: File): WaitQueue;
  ioctl?(file: File, cmd: number, arg: unknown): MaybePromise<number>;
  fsync?(file: File, datasync: boolean): MaybePromise<void>;
  fallocate?(file: File, mode: number, offset: number, len: number): MaybePromise<void>;
  /** SEEK_DATA/SEEK_HOLE support for sparse files. */
  seekData?(file: File, offset: number, hole: boolean): MaybePromise<number>;
}

export class File {
  readonly path: Path;
  readonly inode: Inode;
  /** O_* status flags (F_GETFL), access mode included. */
  flags: number;
  /** FMODE_* bits. */
  mode: number;
  pos = 0;
  fop: FileOperations;
  /** Credentials at open time (f_cred). */
  readonly cred: Cred;
  /** Number of fd-table slots (and in-flight syscalls) holding this file. */
  refs = 1;
  /** Type-specific state (pipe end, eventfd counter, epoll instance, directory cursor). */
  private_data: unknown = undefined;
  /** Pipe buffer size changes, directory cursors and the like may keep data here. */
  released = false;

  constructor(path: Path, inode: Inode, flags: number, fop: FileOperations, cred: Cred) {
    this.path = path; this.inode = inode; this.flags = flags; this.fop = fop; this.cred = cred;
    this.mode = openFlagsToFmode(flags);
  }

  get readable(): boolean { return (this.mode & FMODE_READ) !== 0; }
  get writable(): boolean { return (this.mode & FMODE_WRITE) !== 0; }
}

export function openFlagsToFmode(flags: number): number {
  if (flags & O_PATH) return FMODE_PATH;
  const acc = flags & O_ACCMODE;
  let m = FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_ATOMIC_POS;
  if (acc === O_RDONLY || acc === O_RDWR) m |= FMODE_READ;
  if (acc === O_WRONLY || acc === O_RDWR) m |= FMODE_WRITE;
  return m;
}
