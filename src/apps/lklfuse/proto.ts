/*
 * The FUSE wire protocol (include/uapi/linux/fuse.h), as much of it as lklfuse speaks.
 *
 * The host kernel writes one request per read(2) of /dev/fuse: a 40-byte fuse_in_header (length,
 * opcode, unique id, node id, the caller's uid/gid/pid) followed by an opcode-specific struct and,
 * for names, NUL-terminated strings. The daemon answers with one write(2): a 16-byte
 * fuse_out_header (length, -errno or 0, the same unique id) and, on success, the reply struct.
 * FORGET, BATCH_FORGET and INTERRUPT get no reply at all. Everything is little-endian here
 * (the structs are native-endian; every host lklfuse runs on is little-endian).
 *
 * Struct sizes are those of protocol 7.31 and later, which is what FUSE_INIT negotiates: a kernel
 * older than 7.31 is refused. Only the fields we use are named below; offsets are from fuse.h.
 */

export const FUSE_KERNEL_VERSION = 7;
/** The minor we speak: 7.31 brought max_pages with the sizes below all settled. */
export const FUSE_KERNEL_MINOR_VERSION = 31;
export const FUSE_ROOT_ID = 1;

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 128;
export const ATTR_OUT_SIZE = 104;
export const OPEN_OUT_SIZE = 16;
/* fuse_open_out.open_flags */
export const FOPEN_KEEP_CACHE = 1 << 1;
export const INIT_OUT_SIZE = 64;
export const KSTATFS_SIZE = 80;
export const DIRENT_HEADER_SIZE = 24;

/** Opcodes (enum fuse_opcode). */
export const enum Op {
  LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, READLINK = 5, SYMLINK = 6, MKNOD = 8,
  MKDIR = 9, UNLINK = 10, RMDIR = 11, RENAME = 12, LINK = 13, OPEN = 14, READ = 15, WRITE = 16,
  STATFS = 17, RELEASE = 18, FSYNC = 20, SETXATTR = 21, GETXATTR = 22, LISTXATTR = 23,
  REMOVEXATTR = 24, FLUSH = 25, INIT = 26, OPENDIR = 27, READDIR = 28, RELEASEDIR = 29,
  FSYNCDIR = 30, GETLK = 31, SETLK = 32, SETLKW = 33, ACCESS = 34, CREATE = 35, INTERRUPT = 36,
  BMAP = 37, DESTROY = 38, IOCTL = 39, POLL = 40, NOTIFY_REPLY = 41, BATCH_FORGET = 42,
  FALLOCATE = 43, READDIRPLUS = 44, RENAME2 = 45, LSEEK = 46, COPY_FILE_RANGE = 47, SYNCFS = 50,
}

export const OP_NAMES: Record<number, string> = {
  1: 'LOOKUP', 2: 'FORGET', 3: 'GETATTR', 4: 'SETATTR', 5: 'READLINK', 6: 'SYMLINK', 8: 'MKNOD',
  9: 'MKDIR', 10: 'UNLINK', 11: 'RMDIR', 12: 'RENAME', 13: 'LINK', 14: 'OPEN', 15: 'READ',
  16: 'WRITE', 17: 'STATFS', 18: 'RELEASE', 20: 'FSYNC', 21: 'SETXATTR', 22: 'GETXATTR',
  23: 'LISTXATTR', 24: 'REMOVEXATTR', 25: 'FLUSH', 26: 'INIT', 27: 'OPENDIR', 28: 'READDIR',
  29: 'RELEASEDIR', 30: 'FSYNCDIR', 31: 'GETLK', 32: 'SETLK', 33: 'SETLKW', 34: 'ACCESS',
  35: 'CREATE', 36: 'INTERRUPT', 37: 'BMAP', 38: 'DESTROY', 39: 'IOCTL', 40: 'POLL',
  41: 'NOTIFY_REPLY', 42: 'BATCH_FORGET', 43: 'FALLOCATE', 44: 'READDIRPLUS', 45: 'RENAME2',
  46: 'LSEEK', 47: 'COPY_FILE_RANGE', 48: 'SETUPMAPPING', 49: 'REMOVEMAPPING', 50: 'SYNCFS',
  51: 'TMPFILE', 52: 'STATX', 53: 'COPY_FILE_RANGE_64',
};

/* FUSE_INIT flags (the first 32 bits). */
export const FUSE_ASYNC_READ = 1 << 0, FUSE_ATOMIC_O_TRUNC = 1 << 3, FUSE_BIG_WRITES = 1 << 5,
  FUSE_AUTO_INVAL_DATA = 1 << 12, FUSE_DO_READDIRPLUS = 1 << 13, FUSE_READDIRPLUS_AUTO = 1 << 14,
  FUSE_ASYNC_DIO = 1 << 15, FUSE_PARALLEL_DIROPS = 1 << 18, FUSE_MAX_PAGES = 1 << 22,
  FUSE_CACHE_SYMLINKS = 1 << 23, FUSE_WRITEBACK_CACHE = 1 << 16;

/* fuse_setattr_in.valid */
export const FATTR_MODE = 1 << 0, FATTR_UID = 1 << 1, FATTR_GID = 1 << 2, FATTR_SIZE = 1 << 3,
  FATTR_ATIME = 1 << 4, FATTR_MTIME = 1 << 5, FATTR_FH = 1 << 6, FATTR_ATIME_NOW = 1 << 7,
  FATTR_MTIME_NOW = 1 << 8, FATTR_CTIME = 1 << 10;

export const FUSE_GETATTR_FH = 1;
export const FUSE_FSYNC_FDATASYNC = 1;

/**
 * The fixed header of every request. The unique id is kept as its two 32-bit halves: it is only
 * ever echoed back, and a BigInt per request cost more than the rest of the header.
 */
export interface InHeader {
  len: number; opcode: number; uniqueLo: number; uniqueHi: number; nodeid: number; uid: number; gid: number; pid: number;
}

export function parseInHeader(v: DataView): InHeader {
  return {
    len: v.getUint32(0, true), opcode: v.getUint32(4, true),
    uniqueLo: v.getUint32(8, true), uniqueHi: v.getUint32(12, true),
    nodeid: u64(v, 16), uid: v.getUint32(24, true), gid: v.getUint32(28, true),
    pid: v.getUint32(32, true),
  };
}

/** The unique id for -d output. */
export function uniqueOf(h: InHeader): bigint { return (BigInt(h.uniqueHi) << 32n) | BigInt(h.uniqueLo); }

export function view(b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength); }

const TWO32 = 4294967296;
/**
 * A u64 field as a JS number (offsets and sizes stay below 2^53 in practice; above, the nearest
 * double, as Number(bigint) gives). Two 32-bit reads: no BigInt on the hot path.
 */
export function u64(v: DataView, o: number): number { return v.getUint32(o + 4, true) * TWO32 + v.getUint32(o, true); }
/** A u64 field from a number (negative -> 0; modulo 2^64 like the BigInt store was). */
export function setU64(v: DataView, o: number, n: number | bigint): void {
  if (typeof n === 'bigint') { v.setBigUint64(o, n, true); return; }
  const x = n > 0 ? Math.trunc(n) : 0;
  v.setUint32(o, x % TWO32, true); v.setUint32(o + 4, Math.floor(x / TWO32) % TWO32, true);
}
/** An s64 field (two's complement) from an integral number. */
export function setS64(v: DataView, o: number, n: number): void {
  const hi = Math.floor(n / TWO32);
  v.setUint32(o, n - hi * TWO32, true); v.setInt32(o + 4, hi | 0, true);
}

/*
 * Replies are built as whole messages: the reply struct starts at OUT_HEADER_SIZE of a buffer whose
 * first 16 bytes the session fills in (putOutHeader) just before writing it, so the body is never
 * copied into a second buffer. Byte stores, not a DataView: one object less per reply.
 */
export function putOutHeader(b: Uint8Array, len: number, error: number, uniqueLo: number, uniqueHi: number): void {
  b[0] = len; b[1] = len >>> 8; b[2] = len >>> 16; b[3] = len >>> 24;
  b[4] = error; b[5] = error >> 8; b[6] = error >> 16; b[7] = error >> 24;
  b[8] = uniqueLo; b[9] = uniqueLo >>> 8; b[10] = uniqueLo >>> 16; b[11] = uniqueLo >>> 24;
  b[12] = uniqueHi; b[13] = uniqueHi >>> 8; b[14] = uniqueHi >>> 16; b[15] = uniqueHi >>> 24;
}

/**
 * A zeroed reply buffer for a `size`-byte body (at OUT_HEADER_SIZE). Small ones (entries,
 * attributes, open and write replies) come from a pool that the session refills once each reply is
 * written (recycleFrame): clearing 256 bytes costs less than a new ArrayBuffer and its collection.
 */
export function frame(size: number): Uint8Array {
  const n = OUT_HEADER_SIZE + size;
  if (n > SMALL_FRAME) return new Uint8Array(n);
  const ab = smallFrames.pop();
  if (ab === undefined) return new Uint8Array(new ArrayBuffer(SMALL_FRAME), 0, n);
  const out = new Uint8Array(ab, 0, n);
  out.fill(0);
  return out;
}
const SMALL_FRAME = 256;
const SMALL_FRAMES_MAX = 16;
const smallFrames: ArrayBuffer[] = [];
/** A reply has been written and nothing refers to `out` any more: a small frame goes back to the pool. */
export function recycleFrame(out: Uint8Array): void {
  const ab = out.buffer as ArrayBuffer;
  if (ab.byteLength === SMALL_FRAME && smallFrames.length < SMALL_FRAMES_MAX) smallFrames.push(ab);
}

/** Node attributes as fuse_attr carries them (dev numbers already in new_encode_dev form). */
export interface FuseAttr {
  ino: number; size: number; blocks: number;
  atime: { sec: number; nsec: number }; mtime: { sec: number; nsec: number }; ctime: { sec: number; nsec: number };
  mode: number; nlink: number; uid: number; gid: number; rdev: number; blksize: number;
}

export function putAttr(v: DataView, o: number, a: FuseAttr): void {
  setU64(v, o, a.ino); setU64(v, o + 8, a.size); setU64(v, o + 16, a.blocks);
  setS64(v, o + 24, a.atime.sec); setS64(v, o + 32, a.mtime.sec); setS64(v, o + 40, a.ctime.sec);
  v.setUint32(o + 48, a.atime.nsec, true); v.setUint32(o + 52, a.mtime.nsec, true); v.setUint32(o + 56, a.ctime.nsec, true);
  v.setUint32(o + 60, a.mode, true); v.setUint32(o + 64, a.nlink, true);
  v.setUint32(o + 68, a.uid, true); v.setUint32(o + 72, a.gid, true);
  v.setUint32(o + 76, a.rdev, true); v.setUint32(o + 80, a.blksize, true); v.setUint32(o + 84, 0, true);
}

/** fuse_entry_out at `o` of `v`: node id, generation, validity (seconds), attributes. */
export function putEntry(v: DataView, o: number, nodeid: number, generation: number, validSec: number, a: FuseAttr | null): void {
  setU64(v, o, nodeid); setU64(v, o + 8, generation);
  setU64(v, o + 16, validSec); setU64(v, o + 24, validSec);
  v.setUint32(o + 32, 0, true); v.setUint32(o + 36, 0, true);
  if (a) putAttr(v, o + 40, a);
}

/** The NUL-terminated strings after the fixed part of a request. */
export function cstrings(b: Uint8Array, from: number, count: number): Uint8Array[] {
  const r: Uint8Array[] = [];
  let o = from;
  for (let i = 0; i < count; i++) {
    let e = b.indexOf(0, o);
    if (e < 0) e = b.length;
    r.push(b.subarray(o, e));
    o = e + 1;
  }
  return r;
}
