/*
 * The two objects every part of the ext4 driver shares: the mounted filesystem (Ext4Sb, Linux's
 * super_block + ext4_sb_info in one) and the in-memory inode (Ext4Inode, Linux's ext4_inode_info).
 *
 * Ext4Sb holds the geometry decoded once at mount (block size, group counts, descriptor table,
 * feature words, checksum seed) and the block device; everything else is read on demand through
 * the device's block cache. super.ts fills it in; inode.ts supplies iget; extents.ts and
 * indirect.ts map logical blocks for Ext4Inode.
 *
 * Errors follow Linux's split. ext4Msg() is ext4_msg ("EXT4-fs (vda1): ..."), for mount-time
 * news. ext4Error() is ext4_error_inode ("EXT4-fs error (device vda1): func:line: inode #N: ...")
 * for corruption found while reading: it logs at KERN_CRIT and returns the KernelError to throw,
 * EUCLEAN (EFSCORRUPTED) or EBADMSG (EFSBADCRC) for a checksum mismatch. The filesystem is
 * mounted read-only, so errors=remount-ro has nothing further to do.
 *
 * This file imports no sibling module that imports it back at load time: directory, symlink and
 * xattr code (ext4-dirs' files) import these classes, and inode.ts wires the operations.
 */
import { KernelError, isPromise, type MaybePromise } from '../../lib/errors.js';
import { crc32c, crc32cU32 } from '../../lib/crc32c.js';
import { EUCLEAN, EBADMSG } from '../../uapi/errno.js';
import { Inode, SuperBlock, type InodeOperations, type FileOperations, type FileSystemType, type Vfs } from '../vfs/index.js';
import type { BlockDevice } from '../../block/index.js';
import { KERN_CRIT } from '../../kernel/printk/index.js';
import {
  Ext4SuperBlockView, Ext4GroupDescView,
  EXT4_FEATURE_INCOMPAT_64BIT, EXT4_FEATURE_INCOMPAT_META_BG, EXT4_FEATURE_INCOMPAT_FLEX_BG,
  EXT4_FEATURE_INCOMPAT_EXTENTS, EXT4_FEATURE_INCOMPAT_INLINE_DATA, EXT4_FEATURE_INCOMPAT_CASEFOLD,
  EXT4_FEATURE_INCOMPAT_ENCRYPT, EXT4_FEATURE_INCOMPAT_LARGEDIR, EXT4_FEATURE_INCOMPAT_FILETYPE,
  EXT4_FEATURE_INCOMPAT_EA_INODE,
  EXT4_FEATURE_RO_COMPAT_METADATA_CSUM, EXT4_FEATURE_RO_COMPAT_GDT_CSUM, EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER,
  EXT4_FEATURE_RO_COMPAT_HUGE_FILE, EXT4_FEATURE_RO_COMPAT_BIGALLOC, EXT4_FEATURE_RO_COMPAT_DIR_NLINK,
  EXT4_FEATURE_COMPAT_SPARSE_SUPER2, EXT4_FEATURE_COMPAT_HAS_JOURNAL, EXT4_FEATURE_COMPAT_DIR_INDEX,
  EXT4_FEATURE_COMPAT_EXT_ATTR,
  EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL, EXT4_ENCRYPT_FL, EXT4_EA_INODE_FL, EXT4_INDEX_FL, EXT4_CASEFOLD_FL,
  EXT4_N_BLOCKS,
} from './layout/index.js';
import { ext4ExtMap } from './extents.js';
import { ext4IndMap } from './indirect.js';

export { KERN_CRIT, KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_INFO } from '../../kernel/printk/index.js';

export { ENOKEY } from '../../uapi/errno.js';

/** Linux's EFSCORRUPTED and EFSBADCRC. */
export const EFSCORRUPTED = EUCLEAN, EFSBADCRC = EBADMSG;

/** Mount options the read-only driver honours (see super.ts parseOptions). */
export interface Ext4MountOptions {
  /** noload / norecovery: do not load the journal. */
  noload: boolean;
  /** sb=N: superblock at N * 1 KiB (default 1). */
  sbBlock: number;
  /** errors=continue|remount-ro|panic as given ('' = filesystem default). */
  errors: string;
  /** data=journal|ordered|writeback as given ('' = the superblock's default). */
  dataMode: string;
  /** minixdf: statfs counts metadata blocks as used instead of subtracting them. */
  minixdf: boolean;
  /** Options shown in /proc/mounts after the generic ones, in the order Linux prints them. */
  shown: string[];
}

/**
 * One mapping answer: `len` (>= 1) logical blocks starting at the asked block map to physical
 * blocks from `pblk` on; pblk 0 is a hole of `len` blocks (up to the next mapped block).
 * Unwritten extents keep their pblk but read as zeros.
 */
export interface BlockMapping { pblk: number; len: number; unwritten: boolean }

/** A sorted list of [start, end) physical ranges the filesystem's own metadata occupies. */
export type SystemZone = Float64Array;

/** Inodes the inode cache keeps at least before pruning unused ones. */
const ICACHE_MIN = 1024;

/** How inode.ts builds inodes; installed by super.ts so this file needs no import of it. */
export type IgetFn = (sbi: Ext4Sb, ino: number, special: boolean) => MaybePromise<Ext4Inode>;

export class Ext4Sb extends SuperBlock {
  readonly bdev: BlockDevice;
  /** Mount type the user asked for: 'ext2', 'ext3' or 'ext4'. */
  readonly fsType: string;
  /** The primary superblock bytes (a private copy; `es` views them). */
  sbBytes!: Uint8Array;
  es!: Ext4SuperBlockView;
  blockSize = 1024;
  blockBits = 10;
  clusterBits = 0;
  blocksCount = 0;
  firstDataBlock = 0;
  blocksPerGroup = 0;
  inodesPerGroup = 0;
  inodesCount = 0;
  inodeSize = 128;
  inodesPerBlock = 0;
  /** Inode table blocks per group (s_itb_per_group). */
  itbPerGroup = 0;
  descSize = 32;
  descPerBlock = 0;
  groupsCount = 0;
  /** Group descriptor blocks (s_gdb_count). */
  gdbCount = 0;
  /** The superblock's block number in filesystem blocks (logical_sb_block). */
  logicalSbBlock = 0;
  descs: Ext4GroupDescView[] = [];
  featureCompat = 0;
  featureIncompat = 0;
  featureRoCompat = 0;
  /** s_csum_seed: crc32c(~0, uuid) or s_checksum_seed (csum_seed feature). */
  csumSeed = 0;
  uuid = new Uint8Array(16);
  label = '';
  firstIno = 11;
  /** Filesystem overhead in blocks (s_overhead), for statfs. */
  overhead = 0;
  /** Reserved clusters (s_resv_clusters) kept back from bavail. */
  resvClusters = 0;
  /** Journal loaded (a has_journal filesystem mounted without noload). */
  journalLoaded = false;
  /** Internal journal length in blocks, counted in the overhead. */
  journalBlocks = 0;
  opts: Ext4MountOptions;
  systemZone: SystemZone = new Float64Array(0);
  /**
   * Inode cache, least recently used first: every inode a dentry or an open file holds (one
   * object per inode number, so hard links share it), plus a few that nothing holds. The dcache
   * bounds the first kind and hands each one back through dropInode; the second kind is pruned
   * beyond icacheMax.
   */
  readonly icache = new Map<number, Ext4Inode>();
  icacheMax = ICACHE_MIN;
  igetFn: IgetFn | null = null;

  constructor(vfs: Vfs, type: FileSystemType, flags: number, op: SuperBlock['op'], bdev: BlockDevice, opts: Ext4MountOptions) {
    super(vfs, type, flags, op, bdev.name);
    this.bdev = bdev;
    this.fsType = type.name;
    this.opts = opts;
    // st_dev of a disk filesystem is its block device, not an anonymous number.
    vfs.freeAnonDev(this.dev);
    this.dev = bdev.dev;
  }

  hasCompat(f: number): boolean { return (this.featureCompat & f) !== 0; }
  hasIncompat(f: number): boolean { return (this.featureIncompat & f) !== 0; }
  hasRoCompat(f: number): boolean { return (this.featureRoCompat & f) !== 0; }
  get hasMetadataCsum(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_METADATA_CSUM); }
  get hasGdtCsum(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_GDT_CSUM); }
  get has64bit(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_64BIT); }
  get hasMetaBg(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_META_BG); }
  get hasFlexBg(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_FLEX_BG); }
  get hasExtents(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_EXTENTS); }
  get hasInlineData(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_INLINE_DATA); }
  get hasCasefold(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_CASEFOLD); }
  get hasEncrypt(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_ENCRYPT); }
  get hasLargedir(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_LARGEDIR); }
  get hasFiletype(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_FILETYPE); }
  get hasEaInode(): boolean { return this.hasIncompat(EXT4_FEATURE_INCOMPAT_EA_INODE); }
  get hasSparseSuper(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER); }
  get hasSparseSuper2(): boolean { return this.hasCompat(EXT4_FEATURE_COMPAT_SPARSE_SUPER2); }
  get hasHugeFile(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_HUGE_FILE); }
  get hasBigalloc(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_BIGALLOC); }
  get hasDirNlink(): boolean { return this.hasRoCompat(EXT4_FEATURE_RO_COMPAT_DIR_NLINK); }
  get hasJournal(): boolean { return this.hasCompat(EXT4_FEATURE_COMPAT_HAS_JOURNAL); }
  get hasDirIndex(): boolean { return this.hasCompat(EXT4_FEATURE_COMPAT_DIR_INDEX); }
  get hasXattr(): boolean { return this.hasCompat(EXT4_FEATURE_COMPAT_EXT_ATTR); }
  /** Cluster size in bytes (EXT4_CLUSTER_SIZE). */
  get clusterSize(): number { return this.blockSize << this.clusterBits; }

  /**
   * Block `nr` of the filesystem, newest copy, through the device cache (sb_bread).
   * `deviceReadahead` false for a file's data blocks, whose readahead is the file's own (file.ts),
   * not the device's.
   */
  bread(nr: number, deviceReadahead = true): MaybePromise<Uint8Array> {
    // A read-write mount keeps changed metadata here until the journal writes it home (jbd.ts).
    const o = this.metaOverlay.get(nr);
    return o ?? this.bdev.bread(nr, this.blockSize, deviceReadahead);
  }
  /** Metadata blocks changed but not yet home (read-write mounts with a journal; see jbd.ts). */
  readonly metaOverlay = new Map<number, Uint8Array>();

  /** ext4_group_first_block_no */
  groupFirstBlock(group: number): number { return group * this.blocksPerGroup + this.firstDataBlock; }

  /** ext4_bg_has_super: does `group` carry a superblock (primary or backup)? */
  bgHasSuper(group: number): boolean {
    if (group === 0) return true;
    if (this.hasSparseSuper2) {
      const [a, b] = this.es.s_backup_bgs;
      return group === a || group === b;
    }
    if (group <= 1 || !this.hasSparseSuper) return true;
    if (!(group & 1)) return false;
    return isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
  }

  /** ext4_bg_num_gdb: group descriptor blocks stored in `group` (backup copies included). */
  bgNumGdb(group: number): number {
    const firstMetaBg = this.es.s_first_meta_bg;
    const metagroup = Math.floor(group / this.descPerBlock);
    if (!this.hasMetaBg || metagroup < firstMetaBg) {
      if (!this.bgHasSuper(group)) return 0;
      return this.hasMetaBg ? firstMetaBg : this.gdbCount;
    }
    const first = metagroup * this.descPerBlock;
    return group === first || group === first + 1 || group === first + this.descPerBlock - 1 ? 1 : 0;
  }

  /**
   * ext4_sb_block_valid without an owner: is [start, start+count) inside the filesystem's data
   * area and clear of the groups' own metadata (the system zone of block_validity)?
   * `owner` inodes (the journal) may point into the zone they own; we keep none there.
   */
  blockValid(start: number, count: number): boolean {
    if (start <= this.firstDataBlock || count < 0 || start + count > this.blocksCount) return false;
    const z = this.systemZone;
    // Binary search for the last zone starting before start+count.
    let lo = 0, hi = z.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (z[2 * mid]! < start + count) lo = mid + 1; else hi = mid;
    }
    return lo === 0 || z[2 * (lo - 1) + 1]! <= start;
  }

  /** iget with the inode cache in front (ext4_iget). */
  iget(ino: number, special = false): MaybePromise<Ext4Inode> {
    const hit = this.icache.get(ino);
    if (hit) {
      this.icache.delete(ino);
      this.icache.set(ino, hit);
      return hit;
    }
    // Read without a promise when the inode table block is cached (ext4Iget).
    const r = this.igetFn!(this, ino, special);
    return isPromise(r) ? r.then((inode) => this.icacheInsert(ino, inode)) : this.icacheInsert(ino, r);
  }

  private icacheInsert(ino: number, inode: Ext4Inode): Ext4Inode {
    // Another lookup may have raced us across an await: keep one object per inode number.
    const again = this.icache.get(ino);
    if (again) return again;
    this.icache.set(ino, inode);
    if (this.icache.size > this.icacheMax) this.pruneIcache();
    return inode;
  }

  /** The dcache let go of `inode` and no file has it open: forget it (evict of a linked inode). */
  override dropInode(inode: Inode): void {
    // A dirty inode stays cached until written: a new object read from disk would lose the change.
    if ((inode as Ext4Inode).dirtyAtime) return;
    if (this.icache.get(inode.ino) === inode) this.icache.delete(inode.ino);
    (inode as Ext4Inode).extentCache = null;
  }

  /**
   * prune_icache_sb: drop the oldest inodes nothing holds (read by iget, then never bound to a
   * dentry: EA inodes, a lookup that lost a race). Held ones stay whatever their number; the
   * limit follows them so a large in-use set is not rescanned on every insertion.
   */
  private pruneIcache(): void {
    let unused = 0;
    for (const i of this.icache.values()) if (i.dentryRefs === 0 && i.openCount === 0) unused++;
    let drop = unused - (ICACHE_MIN >> 1);
    for (const [ino, i] of this.icache) {
      if (drop <= 0) break;
      if (i.dentryRefs !== 0 || i.openCount !== 0 || i.dirtyAtime || i.ino === 2 /* EXT4_ROOT_INO */) continue;
      this.icache.delete(ino);
      i.extentCache = null;
      drop--;
    }
    this.icacheMax = Math.max(ICACHE_MIN, 2 * this.icache.size);
  }

  /** crc32c over `data` seeded as ext4 does (ext4_chksum). */
  chksum(seed: number, data: Uint8Array, start = 0, end = data.length): number {
    return crc32c(seed, data, start, end);
  }
  chksumU32(seed: number, v: number): number { return crc32cU32(seed, v); }
}

function isPowerOf(n: number, base: number): boolean {
  let x = base;
  while (x < n) x *= base;
  return x === n;
}

/** ext4_msg: "EXT4-fs (vda1): text" at `level`. */
export function ext4Msg(sb: { vfs: Vfs; id: string }, level: number, text: string): void {
  sb.vfs.printk(level, `EXT4-fs (${sb.id}): ${text}`);
}

/** The command name of the task on whose behalf we run (current->comm), for error messages. */
export function currentComm(sb: SuperBlock): string {
  const c = sb.vfs.caller as { comm?: unknown } | undefined;
  return typeof c?.comm === 'string' ? c.comm : 'lkl';
}

/**
 * ext4_error_inode / __ext4_error: log a corruption and return the error to throw.
 *   ext4Error(sb, 'ext4_ext_check_inode', inode, 'pblk 0 bad header/extent: ...')
 * prints "EXT4-fs error (device vda1): ext4_ext_check_inode:<line>: inode #12: comm cat: pblk ..."
 * `inode` may be a number, an inode, or null for filesystem-wide errors; `block` adds
 * Linux's "block N: " part. The errno is EUCLEAN unless given (EBADMSG for checksums).
 */
export function ext4Error(sb: SuperBlock, func: string, inode: Inode | number | null, msg: string,
  opts: { block?: number; errno?: number; line?: number } = {}): KernelError {
  const line = opts.line ?? FUNC_LINES[func] ?? 0;
  const ino = inode === null ? null : typeof inode === 'number' ? inode : inode.ino;
  const where = ino === null ? '' : `inode #${ino}: `;
  const blk = opts.block ? `block ${opts.block}: ` : '';
  sb.vfs.printk(KERN_CRIT, `EXT4-fs error (device ${sb.id}): ${func}:${line}: ${where}${blk}comm ${currentComm(sb)}: ${msg}`);
  const errno = opts.errno ?? EFSCORRUPTED;
  return new KernelError(errno, `${func}: ${msg}`);
}

/** Linux 6.12 source lines of the functions we name in error messages (cosmetic only). */
const FUNC_LINES: Record<string, number> = {
  __ext4_iget: 5054, ext4_ext_check_inode: 525, __ext4_ext_check: 525, ext4_find_extent: 908,
  ext4_ind_map_blocks: 541, ext4_get_branch: 164, __ext4_get_inode_loc: 4565, ext4_map_blocks: 613,
};

/** Inode of the ext4 driver (ext4_inode_info): the raw on-disk bytes plus decoded fields. */
export class Ext4Inode extends Inode {
  declare readonly sb: Ext4Sb;
  readonly sbi: Ext4Sb;
  /** The whole on-disk inode, s_inode_size bytes (a private copy). */
  raw: Uint8Array;
  /** ext4 i_flags as on disk (EXT4_*_FL). */
  i_flags = 0;
  /** Extended attribute block (48 bits with 64bit), 0 for none. */
  i_file_acl = 0;
  /** Validated i_extra_isize (0 for 128-byte inodes). */
  extraIsize = 0;
  /** Per-inode checksum seed: crc32c(crc32c(s_csum_seed, ino), generation). */
  csumSeed = 0;
  /** i_dtime (for orphan/deleted diagnostics). */
  dtime = 0;
  /** Project id (0 without the field). */
  projid = 0;
  /** The last extent leaf looked up, for sequential mapping without re-walking the tree. */
  extentCache: unknown = null;
  /** Changed outside any handle (a relatime update) and not yet written: kept in the icache until it is. */
  dirtyAtime = false;

  constructor(sbi: Ext4Sb, ino: number, mode: number, raw: Uint8Array, op: InodeOperations, fop: FileOperations) {
    super(sbi, ino, mode, op, fop);
    this.sbi = sbi;
    this.raw = raw;
  }

  get usesExtents(): boolean { return (this.i_flags & EXT4_EXTENTS_FL) !== 0; }
  get hasInlineData(): boolean { return (this.i_flags & EXT4_INLINE_DATA_FL) !== 0; }
  get encrypted(): boolean { return (this.i_flags & EXT4_ENCRYPT_FL) !== 0; }
  get indexed(): boolean { return (this.i_flags & EXT4_INDEX_FL) !== 0; }
  get casefolded(): boolean { return (this.i_flags & EXT4_CASEFOLD_FL) !== 0; }
  /** i_block[] as bytes (60): extent root, block map, fast symlink target or inline data. */
  get iBlock(): Uint8Array { return this.raw.subarray(0x28, 0x28 + 4 * EXT4_N_BLOCKS); }

  /** ext4_inode_is_fast_symlink: the target lives in i_block[] rather than in a data block. */
  isFastSymlink(): boolean {
    if (!this.isLnk) return false;
    if (this.i_flags & EXT4_EA_INODE_FL) return this.size > 0 && this.size < EXT4_N_BLOCKS * 4;
    if (this.hasInlineData) return false;
    const eaBlocks = this.i_file_acl ? this.sbi.clusterSize >> 9 : 0;
    return this.blocks - eaBlocks === 0;
  }

  /** Map `lblk` to a run of physical blocks (see BlockMapping); `maxLen` bounds the answer. */
  mapBlocks(lblk: number, maxLen = 0xffffffff): MaybePromise<BlockMapping> {
    return this.usesExtents ? ext4ExtMap(this, lblk, maxLen) : ext4IndMap(this, lblk, maxLen);
  }

  /** Physical block of `lblk`, 0 for a hole or an unwritten extent (as bmap(2) answers). */
  async bmap(lblk: number): Promise<number> {
    const m = await this.mapBlocks(lblk, 1);
    return m.unwritten ? 0 : m.pblk;
  }

  /** One whole filesystem block of the file; null for a hole or an unwritten extent (zeros). */
  async readLogicalBlock(lblk: number): Promise<Uint8Array | null> {
    const m = await this.mapBlocks(lblk, 1);
    if (!m.pblk || m.unwritten) return null;
    const b = this.sbi.bread(m.pblk);
    return isPromise(b) ? await b : b;
  }
}
