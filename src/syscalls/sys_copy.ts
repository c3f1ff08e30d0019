/*
 * In-kernel copies between files: sendfile(2) and copy_file_range(2) (fs/read_write.c,
 * fs/splice.c).
 *
 * Linux moves the bytes through a pipe between the two files (do_splice_direct); we move them
 * through a 64 KiB bounce buffer with vfsRead/vfsWrite, which gives the same results: bytes are
 * read at the input offset and written at the output offset, a short write ends the copy, and the
 * count returned is what reached the output. The offsets advance only on success (count > 0):
 * either the caller's offset variable or the file positions.
 *
 * The two calls differ in what they accept, and the errnos are Linux's:
 *   sendfile: input any seekable file that is regular or a block device (anything readable when
 *     the output is a pipe); output any writable file but O_APPEND (EINVAL).
 *   copy_file_range: both regular files (EISDIR / EINVAL), output not O_APPEND (EBADF), both on
 *     one superblock (EXDEV: Linux refuses cross-filesystem copies unless the filesystem brings
 *     its own copy_file_range, which none here does), flags 0, and no overlap within one file.
 * Offset arguments (loff_t *) are null, an 8-byte Uint8Array (little-endian i64) or {value}.
 */
import { fail, KernelError } from '../lib/errors.js';
import {
  EBADF, EINVAL, EISDIR, EXDEV, EPERM, EOVERFLOW, ESPIPE, EFAULT, EFBIG,
} from '../uapi/errno.js';
import { O_APPEND } from '../uapi/fcntl.js';
import { S_IFMT, S_IFREG, S_IFBLK, S_IFIFO } from '../uapi/stat.js';
import { RLIMIT_FSIZE } from '../uapi/misc.js';
import type { Task } from '../kernel/index.js';
import {
  type File, FMODE_PATH, FMODE_READ, FMODE_WRITE, FMODE_PREAD, FMODE_STREAM, FS_IMMUTABLE_FL,
  vfsRead, vfsWrite, MAX_RW_COUNT,
} from '../fs/vfs/index.js';
import { isNull, toInt, toInt32, toUint32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';

const CHUNK = 64 * 1024;
const LLONG_MAX = (1n << 63n) - 1n;
const U64 = 1n << 64n;

/** fdget(): O_PATH descriptors are EBADF. */
function fdgetFile(t: Task, fd: unknown): File {
  const f = t.files.peek(toInt32(fd));
  if (!f || f.mode & FMODE_PATH) fail(EBADF);
  return f;
}

/** copy_from_user of a loff_t. */
function getOffset(arg: unknown): bigint {
  if (arg instanceof Uint8Array) {
    if (arg.byteLength < 8) fail(EFAULT);
    return new DataView(arg.buffer, arg.byteOffset, 8).getBigInt64(0, true);
  }
  if (typeof arg === 'object' && arg !== null && 'value' in arg) {
    const v = (arg as { value: unknown }).value;
    if (typeof v === 'bigint') return BigInt.asIntN(64, v);
    if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  }
  fail(EFAULT);
}

/** put_user of a loff_t. */
function putOffset(arg: unknown, v: number): void {
  if (arg instanceof Uint8Array) new DataView(arg.buffer, arg.byteOffset, 8).setBigInt64(0, BigInt(v), true);
  else (arg as { value: unknown }).value = v;
}

/** A size_t count as the kernel sees it. */
function sizeT(arg: unknown): bigint {
  if (typeof arg === 'bigint') return BigInt.asUintN(64, arg);
  return BigInt.asUintN(64, BigInt(toInt(arg)));
}

/** rw_verify_area: negative sizes and offsets (or their sum overflowing) are EINVAL. */
function rwVerifyArea(pos: bigint, count: bigint): void {
  if (count > LLONG_MAX) fail(EINVAL);
  if (pos < 0n) fail(EINVAL);
  if (pos + count > LLONG_MAX) fail(EINVAL);
}

/**
 * The copy loop of do_splice_direct: up to `count` bytes from `inF` at `inPos` to `outF` at
 * `outPos` (or at its stream end when outPos is undefined). Stops at end of input or on a short
 * write; an error after some bytes moved ends the copy with what was done.
 */
async function spliceDirect(inF: File, inPos: number, outF: File, outPos: number | undefined, count: number):
  Promise<{ done: number; inPos: number; outPos: number | undefined }> {
  let done = 0;
  const buf = new Uint8Array(Math.min(CHUNK, Math.max(count, 1)));
  while (done < count) {
    const want = Math.min(buf.length, count - done);
    let n: number, w: number;
    try {
      n = await vfsRead(inF, buf.subarray(0, want), inPos);
      if (n <= 0) break;
      w = await vfsWrite(outF, buf.subarray(0, n), outPos);
    } catch (e) {
      if (done > 0 && e instanceof KernelError) break;
      throw e;
    }
    if (w <= 0) break;
    done += w; inPos += w;
    if (outPos !== undefined) outPos += w;
    if (w < n) break;
  }
  return { done, inPos, outPos };
}

// ---- sendfile --------------------------------------------------------------------------------

/** do_sendfile (sendfile64 in the asm-generic table, named "sendfile"). */
async function sysSendfile(t: Task, outFd: unknown, inFd: unknown, offset: unknown, countArg: unknown): Promise<number> {
  const useOff = !isNull(offset);
  const inF = fdgetFile(t, inFd);
  if (!(inF.mode & FMODE_READ)) fail(EBADF);
  let pos: bigint;
  if (useOff) {
    pos = getOffset(offset);
    if (!(inF.mode & FMODE_PREAD)) fail(ESPIPE);
  } else pos = BigInt(inF.pos);
  let count = sizeT(countArg);
  rwVerifyArea(pos, count);
  if (count > BigInt(MAX_RW_COUNT)) count = BigInt(MAX_RW_COUNT);

  const outF = fdgetFile(t, outFd);
  if (!(outF.mode & FMODE_WRITE)) fail(EBADF);
  const max = BigInt(Math.min(inF.inode.sb.maxFileSize, outF.inode.sb.maxFileSize));
  if (pos + count > max) {
    if (pos >= max) fail(EOVERFLOW);
    count = max - pos;
  }
  const outIsPipe = (outF.inode.mode & S_IFMT) === S_IFIFO;
  let outPos: number | undefined = outF.mode & FMODE_STREAM ? undefined : outF.pos;
  if (outIsPipe) {
    // splice_file_to_pipe: any input that can be read at an offset.
    if (inF.mode & FMODE_STREAM) fail(EINVAL);
    outPos = undefined;
  } else {
    rwVerifyArea(BigInt(outF.pos), count);
    if (outF.flags & O_APPEND) fail(EINVAL);
    const it = inF.inode.mode & S_IFMT;
    if (it !== S_IFREG && it !== S_IFBLK) fail(EINVAL);
  }
  if (count === 0n) return 0;
  const r = await spliceDirect(inF, Number(pos), outF, outPos, Number(count));
  if (r.done > 0) {
    if (r.outPos !== undefined) outF.pos = r.outPos;
    if (useOff) putOffset(offset, r.inPos); else inF.pos = r.inPos;
  } else if (useOff) putOffset(offset, Number(pos));
  return r.done;
}

// ---- copy_file_range -------------------------------------------------------------------------

/** generic_file_rw_checks */
function fileRwChecks(inF: File, outF: File): void {
  const it = inF.inode.mode & S_IFMT, ot = outF.inode.mode & S_IFMT;
  if (inF.inode.isDir || outF.inode.isDir) fail(EISDIR);
  if (it !== S_IFREG || ot !== S_IFREG) fail(EINVAL);
  if (!(inF.mode & FMODE_READ) || !(outF.mode & FMODE_WRITE) || outF.flags & O_APPEND) fail(EBADF);
}

async function sysCopyFileRange(t: Task, fdIn: unknown, offIn: unknown, fdOut: unknown, offOut: unknown,
  lenArg: unknown, flagsArg: unknown): Promise<number> {
  const inF = fdgetFile(t, fdIn);
  const outF = fdgetFile(t, fdOut);
  const useIn = !isNull(offIn), useOut = !isNull(offOut);
  const posIn = useIn ? getOffset(offIn) : BigInt(inF.pos);
  const posOut = useOut ? getOffset(offOut) : BigInt(outF.pos);
  if (toUint32(flagsArg) !== 0) fail(EINVAL);
  const len = sizeT(lenArg);

  // generic_copy_file_checks
  fileRwChecks(inF, outF);
  const inode = inF.inode, onode = outF.inode;
  if (inode.sb !== onode.sb) fail(EXDEV);
  if (onode.flags & FS_IMMUTABLE_FL) fail(EPERM);
  if (BigInt.asUintN(64, posIn) + len >= U64 || BigInt.asUintN(64, posOut) + len >= U64) fail(EOVERFLOW);
  let count = len;
  const sizeIn = BigInt(inode.size);
  if (posIn >= sizeIn) count = 0n;
  else if (sizeIn - posIn < count) count = sizeIn - posIn;
  // generic_write_check_limits: RLIMIT_FSIZE and the filesystem's largest file.
  const fsize = t.rlimits[RLIMIT_FSIZE]![0];
  if (Number.isFinite(fsize)) {
    if (posOut >= BigInt(fsize)) fail(EFBIG);
    if (BigInt(fsize) - posOut < count) count = BigInt(fsize) - posOut;
  }
  const maxSize = BigInt(onode.sb.maxFileSize);
  if (posOut >= maxSize) fail(EFBIG);
  if (maxSize - posOut < count) count = maxSize - posOut;
  if (inode === onode && posOut + count > posIn && posOut < posIn + count) fail(EINVAL);

  rwVerifyArea(posIn, count);
  rwVerifyArea(posOut, count);
  if (count === 0n) return 0;
  if (count > BigInt(MAX_RW_COUNT)) count = BigInt(MAX_RW_COUNT);

  const r = await spliceDirect(inF, Number(posIn), outF, Number(posOut), Number(count));
  if (r.done > 0) {
    if (useIn) putOffset(offIn, r.inPos); else inF.pos = r.inPos;
    if (useOut) putOffset(offOut, r.outPos!); else outF.pos = r.outPos!;
  }
  return r.done;
}

export const copySyscalls: SyscallDef[] = [
  { name: 'sendfile', handler: sysSendfile, support: 'partial', note: 'copies through a bounce buffer; socket input not supported' },
  { name: 'copy_file_range', handler: sysCopyFileRange, support: 'partial', note: 'always a kernel copy (no reflink); EXDEV across filesystems as Linux without a copy_file_range method' },
];
