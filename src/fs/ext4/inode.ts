/*
 * Reading inodes (fs/ext4/inode.c: __ext4_get_inode_loc, __ext4_iget).
 *
 * Inode N lives in block group (N-1) / s_inodes_per_group, at index (N-1) % s_inodes_per_group
 * of that group's inode table, s_inode_size bytes per slot. iget reads the slot, checks it the
 * way Linux does and builds an Ext4Inode:
 *   - inode number in range (EUCLEAN "iget: illegal inode #"), inode table inside the disk;
 *   - i_extra_isize within the slot and a multiple of 4 (EUCLEAN "iget: bad extra_isize");
 *   - with metadata_csum, crc32c(seed(ino, generation), inode with checksum fields zeroed)
 *     equals i_checksum_lo|hi (EBADMSG "iget: checksum invalid");
 *   - a free inode (links 0) is ESTALE for a name pointing at it, EUCLEAN for a special inode;
 *   - the block map or extent root is checked before use (EUCLEAN, see extents.ts/indirect.ts).
 * Decoding follows Linux exactly: 32-bit ids from lo|hi halves, 64-bit size (upper half only
 * for regular files unless large_dir), i_blocks in 512-byte units or in filesystem blocks with
 * huge_file's EXT4_HUGE_FILE_FL, and timestamps with their _extra words (ext4_decode_extra_time:
 * two epoch bits extend the signed 32-bit seconds beyond 2038, 30 bits of nanoseconds).
 */
import { fail } from '../../lib/errors.js';
import { ESTALE, EIO } from '../../uapi/errno.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, MKDEV } from '../../uapi/stat.js';
import type { Timespec } from '../../uapi/stat.js';
import { isPromise, type MaybePromise } from '../../lib/errors.js';
import type { InodeOperations, FileOperations } from '../vfs/index.js';
import {
  Ext4InodeView, EXT4_GOOD_OLD_INODE_SIZE, EXT4_ROOT_INO, EXT4_BOOT_LOADER_INO,
  EXT4_HUGE_FILE_FL, EXT4_FL_USER_VISIBLE, I_CHECKSUM_LO, I_CHECKSUM_HI, I_CTIME_EXTRA, I_MTIME_EXTRA,
  I_ATIME_EXTRA, I_CRTIME, I_CRTIME_EXTRA, I_PROJID,
} from './layout/index.js';
import { Ext4Inode, ext4Error, EFSBADCRC, type Ext4Sb } from './ext4.js';
import { ext4ExtCheckInode } from './extents.js';
import { ext4IndCheckInode } from './indirect.js';
import { ext4FileOps } from './file.js';
import { ext4DirInodeOps, ext4DirFileOps } from './dir.js';
import { ext4SymlinkInodeOps } from './symlink.js';
import { ext4XattrInodeOps } from './xattr.js';

/* EXT4_EPOCH_BITS: the low two bits of an _extra word extend the seconds. */
const EXT4_EPOCH_MASK = 3;

/** ext4_decode_extra_time: seconds (signed 32-bit base + epoch << 32) and nanoseconds. */
export function ext4DecodeExtraTime(base: number, extra: number): Timespec {
  let sec = base | 0; // signed
  const epoch = extra & EXT4_EPOCH_MASK;
  if (epoch) sec += epoch * 2 ** 32;
  return { sec, nsec: extra >>> 2 };
}

/** The operations of non-directory, non-symlink inodes: files and special files. */
let fileInodeOps: InodeOperations | null = null;
let specialInodeOps: InodeOperations | null = null;
// Built on first use: the xattr module may still be loading when this module is evaluated.
function getFileInodeOps(): InodeOperations { return (fileInodeOps ??= { ...ext4XattrInodeOps }); }
function getSpecialInodeOps(): InodeOperations { return (specialInodeOps ??= { ...ext4XattrInodeOps }); }
const noFileOps: FileOperations = {};

/** Where inode `ino` is: (block, byte offset in block) (__ext4_get_inode_loc). */
export function inodeLocation(sbi: Ext4Sb, ino: number): { block: number; offset: number; group: number } {
  const group = Math.floor((ino - 1) / sbi.inodesPerGroup);
  const index = (ino - 1) % sbi.inodesPerGroup;
  const desc = sbi.descs[group];
  if (!desc) throw ext4Error(sbi, '__ext4_get_inode_loc', ino, `bad inode number: ${ino}`);
  const table = desc.inodeTable;
  if (table <= sbi.firstDataBlock || table >= sbi.blocksCount) {
    throw ext4Error(sbi, '__ext4_get_inode_loc', null, `Invalid inode table block ${table} in block_group ${group}`);
  }
  const byteOff = index * sbi.inodeSize;
  return { block: table + Math.floor(byteOff / sbi.blockSize), offset: byteOff % sbi.blockSize, group };
}

/** ext4_inode_csum: crc32c over the inode with both checksum fields taken as zero. */
const ZERO2 = new Uint8Array(2);
export function ext4InodeCsum(sbi: Ext4Sb, raw: Uint8Array, seed: number, extraIsize: number): number {
  const zero = ZERO2;
  let c = sbi.chksum(seed, raw, 0, I_CHECKSUM_LO);
  c = sbi.chksum(c, zero);
  c = sbi.chksum(c, raw, I_CHECKSUM_LO + 2, EXT4_GOOD_OLD_INODE_SIZE);
  if (sbi.inodeSize > EXT4_GOOD_OLD_INODE_SIZE) {
    c = sbi.chksum(c, raw, EXT4_GOOD_OLD_INODE_SIZE, I_CHECKSUM_HI);
    let off = I_CHECKSUM_HI;
    if (Ext4InodeView.fits(extraIsize, I_CHECKSUM_HI, 2)) {
      c = sbi.chksum(c, zero);
      off += 2;
    }
    c = sbi.chksum(c, raw, off, sbi.inodeSize);
  }
  return c >>> 0;
}

/** ext4_inode_csum_verify */
function inodeCsumVerify(sbi: Ext4Sb, v: Ext4InodeView, raw: Uint8Array, seed: number, extraIsize: number): boolean {
  let provided = v.l_i_checksum_lo;
  let calculated = ext4InodeCsum(sbi, raw, seed, extraIsize);
  if (sbi.inodeSize > EXT4_GOOD_OLD_INODE_SIZE && extraIsize >= I_CHECKSUM_HI + 2 - EXT4_GOOD_OLD_INODE_SIZE) {
    provided |= v.i_checksum_hi << 16;
  } else {
    calculated &= 0xffff;
  }
  return (provided >>> 0) === (calculated >>> 0);
}

/** ext4_inode_blocks: i_blocks in 512-byte units. */
function inodeBlocks(sbi: Ext4Sb, v: Ext4InodeView, flags: number): number {
  let b = v.i_blocks_lo;
  if (!sbi.hasHugeFile) return b;
  b += v.l_i_blocks_high * 2 ** 32;
  if (flags & EXT4_HUGE_FILE_FL) return b * 2 ** (sbi.blockBits - 9);
  return b;
}

/** old_decode_dev / new_decode_dev of a device number kept in i_block[0] or [1]. */
function decodeDev(v: Ext4InodeView): number {
  const old = v.i_block(0);
  if (old) return MKDEV((old >>> 8) & 0xff, old & 0xff);
  const n = v.i_block(1);
  return MKDEV((n & 0xfff00) >>> 8, (n & 0xff) | ((n >>> 12) & 0xfff00));
}

/** Mounts processing their orphan list (EXT4_ORPHAN_FS): inodes without links may be read. */
export const orphanCleanup = new WeakSet<Ext4Sb>();

/** __ext4_iget: read, verify and decode inode `ino`. `special` allows reserved inodes (journal). */
export function ext4Iget(sbi: Ext4Sb, ino: number, special: boolean): MaybePromise<Ext4Inode> {
  if ((!special && ino < sbi.firstIno && ino !== EXT4_ROOT_INO) || ino < EXT4_ROOT_INO || ino > sbi.inodesCount) {
    throw ext4Error(sbi, '__ext4_iget', ino, 'iget: illegal inode #', { line: 4979 });
  }
  const loc = inodeLocation(sbi, ino);
  const unreadable = (): never => {
    throw ext4Error(sbi, '__ext4_get_inode_loc', ino, `unable to read itable block`, { block: loc.block, errno: EIO });
  };
  // The inode table block is usually cached: the inode is then decoded without a promise.
  let b: MaybePromise<Uint8Array>;
  try { b = sbi.bread(loc.block); } catch { return unreadable(); }
  if (isPromise(b)) return b.then((blk) => decodeInode(sbi, ino, special, loc, blk), unreadable);
  return decodeInode(sbi, ino, special, loc, b);
}

/** The rest of __ext4_iget once the inode table block is in: verify and decode. */
function decodeInode(sbi: Ext4Sb, ino: number, special: boolean, loc: ReturnType<typeof inodeLocation>, blk: Uint8Array): Ext4Inode {
  const raw = blk.slice(loc.offset, loc.offset + sbi.inodeSize);
  const v = new Ext4InodeView(raw);
  const mode = v.i_mode;
  const tmpOps = getSpecialInodeOps();
  const inode = new Ext4Inode(sbi, ino, mode, raw, tmpOps, noFileOps);

  // i_extra_isize must leave the slot intact and keep 4-byte alignment.
  if (sbi.inodeSize > EXT4_GOOD_OLD_INODE_SIZE) {
    const extra = v.i_extra_isize;
    if (EXT4_GOOD_OLD_INODE_SIZE + extra > sbi.inodeSize || (extra & 3)) {
      throw ext4Error(sbi, '__ext4_iget', ino, `iget: bad extra_isize ${extra} (inode size ${sbi.inodeSize})`, { line: 4999 });
    }
    inode.extraIsize = extra;
  }

  if (sbi.hasMetadataCsum) {
    inode.csumSeed = sbi.chksumU32(sbi.chksumU32(sbi.csumSeed, ino), v.i_generation);
    if (!inodeCsumVerify(sbi, v, raw, inode.csumSeed, inode.extraIsize)) {
      throw ext4Error(sbi, '__ext4_iget', ino, 'iget: checksum invalid', { errno: EFSBADCRC, line: 5016 });
    }
  }

  inode.uid = v.i_uid | (v.l_i_uid_high << 16);
  inode.gid = v.i_gid | (v.l_i_gid_high << 16);
  inode.uid >>>= 0; inode.gid >>>= 0;
  inode.nlink = v.i_links_count;
  inode.i_flags = v.i_flags;
  inode.flags = v.i_flags & EXT4_FL_USER_VISIBLE;
  inode.generation = v.i_generation;
  inode.dtime = v.i_dtime;

  // A free slot: a directory entry naming it is stale; reserved inodes must exist.
  if (inode.nlink === 0 && ino !== EXT4_BOOT_LOADER_INO && !orphanCleanup.has(sbi)) {
    if (special) throw ext4Error(sbi, '__ext4_iget', ino, 'iget: special inode unallocated', { line: 5037 });
    fail(ESTALE);
  }

  inode.blocks = inodeBlocks(sbi, v, inode.i_flags);
  inode.i_file_acl = v.i_file_acl_lo + (sbi.has64bit ? v.l_i_file_acl_high * 2 ** 32 : 0);
  const fullSize = sbi.hasLargedir || (mode & S_IFMT) === S_IFREG;
  if (fullSize && v.i_size_high >= 0x80000000) {
    throw ext4Error(sbi, '__ext4_iget', ino, `iget: bad i_size value: ${BigInt.asIntN(64, (BigInt(v.i_size_high) << 32n) | BigInt(v.i_size_lo))}`, { line: 5062 });
  }
  inode.size = v.i_size_lo + (fullSize ? v.i_size_high * 2 ** 32 : 0);

  const xi = inode.extraIsize;
  const xtime = (base: number, extraOff: number): Timespec =>
    Ext4InodeView.fits(xi, extraOff, 4)
      ? ext4DecodeExtraTime(base, (raw[extraOff]! | (raw[extraOff + 1]! << 8) | (raw[extraOff + 2]! << 16) | (raw[extraOff + 3]! << 24)) >>> 0)
      : { sec: base | 0, nsec: 0 };
  inode.atime = xtime(v.i_atime, I_ATIME_EXTRA);
  inode.mtime = xtime(v.i_mtime, I_MTIME_EXTRA);
  inode.ctime = xtime(v.i_ctime, I_CTIME_EXTRA);
  inode.btime = Ext4InodeView.fits(xi, I_CRTIME, 4) ? xtime(v.i_crtime, I_CRTIME_EXTRA) : { sec: 0, nsec: 0 };
  inode.projid = Ext4InodeView.fits(xi, I_PROJID, 4) ? v.i_projid : 0;

  if (inode.i_file_acl && !sbi.blockValid(inode.i_file_acl, 1)) {
    throw ext4Error(sbi, '__ext4_iget', ino, `iget: bad extended attribute block ${inode.i_file_acl}`, { line: 5092 });
  }
  const type = mode & S_IFMT;
  if (!inode.hasInlineData && (type === S_IFREG || type === S_IFDIR || (type === S_IFLNK && !inode.isFastSymlink()))) {
    if (inode.usesExtents) ext4ExtCheckInode(inode);
    else ext4IndCheckInode(inode);
  }

  switch (type) {
    case S_IFREG:
      inode.op = getFileInodeOps();
      inode.fop = ext4FileOps;
      // ext4_file_getattr: inline data counts as the sectors it would fill, so tools do not
      // take the file for entirely sparse. Nothing changes on a read-only mount: add it once.
      if (inode.hasInlineData) inode.blocks += Math.floor((inode.size + 511) / 512);
      break;
    case S_IFDIR: inode.op = ext4DirInodeOps; inode.fop = ext4DirFileOps; break;
    case S_IFLNK: inode.op = ext4SymlinkInodeOps; inode.fop = noFileOps; break;
    case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
      inode.op = getSpecialInodeOps();
      inode.fop = noFileOps;
      if (type === S_IFCHR || type === S_IFBLK) inode.rdev = decodeDev(v);
      break;
    default:
      throw ext4Error(sbi, '__ext4_iget', ino, `iget: bogus i_mode (${mode.toString(8)})`, { line: 5136 });
  }
  return inode;
}
