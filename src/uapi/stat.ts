/*
 * File types, mode bits and the stat/statx/statfs layouts of the asm-generic 64-bit ABI
 * (what LKL exports as struct lkl_stat).
 */
export const S_IFMT = 0o170000, S_IFSOCK = 0o140000, S_IFLNK = 0o120000, S_IFREG = 0o100000,
  S_IFBLK = 0o060000, S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFIFO = 0o010000;
export const S_ISUID = 0o4000, S_ISGID = 0o2000, S_ISVTX = 0o1000;
export const S_IRWXU = 0o700, S_IRUSR = 0o400, S_IWUSR = 0o200, S_IXUSR = 0o100;
export const S_IRWXG = 0o070, S_IRGRP = 0o040, S_IWGRP = 0o020, S_IXGRP = 0o010;
export const S_IRWXO = 0o007, S_IROTH = 0o004, S_IWOTH = 0o002, S_IXOTH = 0o001;
export const S_IALLUGO = S_ISUID | S_ISGID | S_ISVTX | 0o777;

export const S_ISREG = (m: number) => (m & S_IFMT) === S_IFREG;
export const S_ISDIR = (m: number) => (m & S_IFMT) === S_IFDIR;
export const S_ISLNK = (m: number) => (m & S_IFMT) === S_IFLNK;
export const S_ISCHR = (m: number) => (m & S_IFMT) === S_IFCHR;
export const S_ISBLK = (m: number) => (m & S_IFMT) === S_IFBLK;
export const S_ISFIFO = (m: number) => (m & S_IFMT) === S_IFIFO;
export const S_ISSOCK = (m: number) => (m & S_IFMT) === S_IFSOCK;

/* d_type values of struct linux_dirent64 */
export const DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8,
  DT_LNK = 10, DT_SOCK = 12, DT_WHT = 14;
export const modeToDtype = (mode: number) => (mode & S_IFMT) >>> 12;

/* Device numbers, new_encode_dev()/MKDEV as the kernel exports them in st_dev/st_rdev. */
export const MINORBITS = 20;
export const MKDEV = (major: number, minor: number) => major * 2 ** MINORBITS + minor;
export const MAJOR = (dev: number) => Math.floor(dev / 2 ** MINORBITS);
export const MINOR = (dev: number) => dev % 2 ** MINORBITS;
/** Encoding used in user-visible dev_t (huge_encode_dev/new_encode_dev). */
export function new_encode_dev(dev: number): number {
  // dev_t values fit in 32 bits (12-bit major, 20-bit minor), so plain bit operations are exact.
  const major = dev >>> MINORBITS, minor = dev & 0xfffff;
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}
export function new_decode_dev(v: number): number {
  const major = (v & 0xfff00) >>> 8;
  const minor = (v & 0xff) | ((v >>> 12) & 0xfff00);
  return MKDEV(major, minor);
}


/* 64-bit fields as two 32-bit halves: exact for |n| < 2^53, and much cheaper than BigInt. */
export function setI64(v: DataView, off: number, n: number): void {
  const hi = Math.floor(n / 4294967296);
  v.setUint32(off, n - hi * 4294967296, true);
  v.setInt32(off + 4, hi, true);
}
export function getI64(v: DataView, off: number): number {
  return v.getInt32(off + 4, true) * 4294967296 + v.getUint32(off, true);
}
export function getU64(v: DataView, off: number): number {
  return v.getUint32(off + 4, true) * 4294967296 + v.getUint32(off, true);
}

export interface Timespec { sec: number; nsec: number }

/** Kernel-side stat result (struct kstat). Times are seconds + nanoseconds. */
export interface Kstat {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number;
  rdev: number; size: number; blksize: number; blocks: number;
  atime: Timespec; mtime: Timespec; ctime: Timespec; btime?: Timespec;
  /** statx attributes and mount id */
  attributes?: number; mnt_id?: number;
}

/** sizeof(struct stat) in the asm-generic 64-bit ABI. */
export const STAT_SIZE = 128;
/** Encode struct stat (asm-generic, little-endian 64-bit). */
export function encodeStat(st: Kstat, out: Uint8Array): void {
  if (out.byteLength < STAT_SIZE) throw new RangeError('stat buffer too small');
  const v = new DataView(out.buffer, out.byteOffset, STAT_SIZE);
  setI64(v, 0, new_encode_dev(st.dev));
  setI64(v, 8, st.ino);
  v.setUint32(16, st.mode, true);
  v.setUint32(20, st.nlink, true);
  v.setUint32(24, st.uid, true);
  v.setUint32(28, st.gid, true);
  setI64(v, 32, new_encode_dev(st.rdev));
  setI64(v, 40, 0);
  setI64(v, 48, st.size);
  v.setInt32(56, st.blksize, true);
  v.setInt32(60, 0, true);
  setI64(v, 64, st.blocks);
  setI64(v, 72, st.atime.sec); setI64(v, 80, st.atime.nsec);
  setI64(v, 88, st.mtime.sec); setI64(v, 96, st.mtime.nsec);
  setI64(v, 104, st.ctime.sec); setI64(v, 112, st.ctime.nsec);
  setI64(v, 120, 0);
}
export function decodeStat(buf: Uint8Array): Kstat {
  const v = new DataView(buf.buffer, buf.byteOffset, STAT_SIZE);
  const ts = (o: number): Timespec => ({ sec: Number(v.getBigInt64(o, true)), nsec: Number(v.getBigUint64(o + 8, true)) });
  return {
    dev: new_decode_dev(Number(v.getBigUint64(0, true))), ino: Number(v.getBigUint64(8, true)),
    mode: v.getUint32(16, true), nlink: v.getUint32(20, true), uid: v.getUint32(24, true),
    gid: v.getUint32(28, true), rdev: new_decode_dev(Number(v.getBigUint64(32, true))),
    size: Number(v.getBigInt64(48, true)), blksize: v.getInt32(56, true),
    blocks: Number(v.getBigInt64(64, true)), atime: ts(72), mtime: ts(88), ctime: ts(104),
  };
}

/* statx(2) */
export const STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_NLINK = 0x4, STATX_UID = 0x8,
  STATX_GID = 0x10, STATX_ATIME = 0x20, STATX_MTIME = 0x40, STATX_CTIME = 0x80, STATX_INO = 0x100,
  STATX_SIZE = 0x200, STATX_BLOCKS = 0x400, STATX_BASIC_STATS = 0x7ff, STATX_BTIME = 0x800,
  STATX_MNT_ID = 0x1000, STATX__RESERVED = 0x80000000;
export const STATX_SIZEOF = 256;
export function encodeStatx(st: Kstat, mask: number, out: Uint8Array): void {
  if (out.byteLength < STATX_SIZEOF) throw new RangeError('statx buffer too small');
  const v = new DataView(out.buffer, out.byteOffset, STATX_SIZEOF);
  out.fill(0, 0, STATX_SIZEOF);
  let got = STATX_BASIC_STATS | STATX_MNT_ID;
  if (st.btime) got |= STATX_BTIME;
  v.setUint32(0, got, true);                 // stx_mask
  v.setUint32(4, st.blksize, true);          // stx_blksize
  v.setBigUint64(8, BigInt(st.attributes ?? 0), true);
  v.setUint32(16, st.nlink, true);
  v.setUint32(20, st.uid, true);
  v.setUint32(24, st.gid, true);
  v.setUint16(28, st.mode, true);
  v.setBigUint64(32, BigInt(st.ino), true);
  v.setBigUint64(40, BigInt(st.size), true);
  v.setBigUint64(48, BigInt(st.blocks), true);
  v.setBigUint64(56, 0n, true);              // stx_attributes_mask
  const ts = (o: number, t: Timespec) => { v.setBigInt64(o, BigInt(t.sec), true); v.setUint32(o + 8, t.nsec, true); };
  ts(64, st.atime);
  if (st.btime) ts(80, st.btime);
  ts(96, st.ctime);
  ts(112, st.mtime);
  v.setUint32(128, MAJOR(st.rdev), true); v.setUint32(132, MINOR(st.rdev), true);
  v.setUint32(136, MAJOR(st.dev), true); v.setUint32(140, MINOR(st.dev), true);
  v.setBigUint64(144, BigInt(st.mnt_id ?? 0), true);
  void mask;
}

/** struct statfs (asm-generic 64-bit), 120 bytes. */
export interface Kstatfs {
  type: number; bsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; fsid: [number, number]; namelen: number; frsize: number;
  flags: number;
}
export const STATFS_SIZE = 120;
export function encodeStatfs(s: Kstatfs, out: Uint8Array): void {
  const v = new DataView(out.buffer, out.byteOffset, STATFS_SIZE);
  out.fill(0, 0, STATFS_SIZE);
  v.setBigInt64(0, BigInt(s.type), true);
  v.setBigInt64(8, BigInt(s.bsize), true);
  v.setBigUint64(16, BigInt(s.blocks), true);
  v.setBigUint64(24, BigInt(s.bfree), true);
  v.setBigUint64(32, BigInt(s.bavail), true);
  v.setBigUint64(40, BigInt(s.files), true);
  v.setBigUint64(48, BigInt(s.ffree), true);
  v.setInt32(56, s.fsid[0], true); v.setInt32(60, s.fsid[1], true);
  v.setBigInt64(64, BigInt(s.namelen), true);
  v.setBigInt64(72, BigInt(s.frsize), true);
  v.setBigInt64(80, BigInt(s.flags), true);
}

/* Filesystem magic numbers (include/uapi/linux/magic.h) */
export const TMPFS_MAGIC = 0x01021994, PROC_SUPER_MAGIC = 0x9fa0, EXT4_SUPER_MAGIC = 0xef53,
  MSDOS_SUPER_MAGIC = 0x4d44, DEVPTS_SUPER_MAGIC = 0x1cd1, SYSFS_MAGIC = 0x62656572,
  PIPEFS_MAGIC = 0x50495045, ANON_INODE_FS_MAGIC = 0x09041934;

/* st_flags for statfs f_flags (ST_*) */
export const ST_RDONLY = 0x0001, ST_NOSUID = 0x0002, ST_NODEV = 0x0004, ST_NOEXEC = 0x0008,
  ST_SYNCHRONOUS = 0x0010, ST_VALID = 0x0020, ST_MANDLOCK = 0x0040, ST_NOATIME = 0x0400,
  ST_NODIRATIME = 0x0800, ST_RELATIME = 0x1000, ST_NOSYMFOLLOW = 0x2000;

/* utimensat special nsec values */
export const UTIME_NOW = (1 << 30) - 1, UTIME_OMIT = (1 << 30) - 2;
