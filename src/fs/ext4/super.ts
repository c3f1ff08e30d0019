/*
 * Mounting ext2/ext3/ext4 (fs/ext4/super.c: __ext4_fill_super and its helpers).
 *
 * The mount runs Linux's sequence, with Linux's checks and messages at each step:
 *   1. the superblock at byte 1024 (or sb=N KiB): magic 0xEF53, sane block and cluster sizes;
 *   2. metadata_csum: known checksum type, superblock crc32c, the checksum seed;
 *   3. features: unknown INCOMPAT refuses the mount; unknown RO_COMPAT refuses only a
 *      read-write request; the ext2 and ext3 types refuse what those filesystems cannot have;
 *   4. geometry: inode size, descriptor size, per-group counts, group count vs. inode count;
 *   5. group descriptors, located as meta_bg or not, each one's blocks checked to lie in its
 *      group (or anywhere with flex_bg) and its checksum verified (crc16 with gdt_csum,
 *      crc32c with metadata_csum; a mismatch only warns on a read-only mount, as in Linux);
 *   6. the journal: needs_recovery is replayed by jbd2 through a JournalDevice built on the
 *      journal inode, when the device is writable; a read-only device refuses with EROFS
 *      unless `noload`; after a replay the superblock loses needs_recovery and everything
 *      above is read again;
 *   7. the root inode (2), which must be a non-empty directory.
 * A writable request then goes to super_write.ts (ext4SetupWrite), which makes the mount
 * read-write when the writer supports the filesystem, and otherwise leaves it read-only with a
 * warning naming what it cannot write (MS_RDONLY stays set, as this driver always did).
 *
 * statfs reports Linux's numbers: f_blocks excludes the metadata overhead (superblock and
 * descriptor copies, bitmaps, inode tables, the journal), free counts come from the group
 * descriptors, f_bavail keeps back the root reserve and ext4's reserved clusters, and f_fsid
 * folds the UUID as uuid_to_fsid does.
 */
import { fail, isPromise, KernelError } from '../../lib/errors.js';
import { bytesToByteString } from '../../lib/bytestr.js';
import { crc16 } from '../../lib/crc16.js';
import { crc32c } from '../../lib/crc32c.js';
import { EINVAL, EIO, EROFS, ENOTBLK, ENXIO } from '../../uapi/errno.js';
import { MS_RDONLY, MS_POSIXACL } from '../../uapi/mount.js';
import { S_IFDIR, S_IFMT, S_IFREG, EXT4_SUPER_MAGIC as STATFS_EXT4_MAGIC, type Kstatfs } from '../../uapi/stat.js';
import { Dentry, type FileSystemType, type MountRequest, type SuperOperations, type SuperBlock } from '../vfs/index.js';
import type { BlockDevice } from '../../block/index.js';
import { recoverJournal, journalNeedsRecovery, type JournalDevice } from '../jbd2/index.js';
import {
  Ext4SuperBlockView, Ext4GroupDescView, EXT4_SUPER_BLOCK_SIZE, EXT4_S_CHECKSUM_OFFSET, EXT4_BG_CHECKSUM_OFFSET,
  EXT4_SUPER_MAGIC, EXT4_GOOD_OLD_REV, EXT4_GOOD_OLD_INODE_SIZE, EXT4_GOOD_OLD_FIRST_INO,
  EXT4_MIN_BLOCK_LOG_SIZE, EXT4_MAX_BLOCK_LOG_SIZE, EXT4_MIN_BLOCK_SIZE, EXT4_MAX_BLOCK_SIZE,
  EXT4_MIN_DESC_SIZE, EXT4_MIN_DESC_SIZE_64BIT, EXT4_MAX_DESC_SIZE, EXT4_CRC32C_CHKSUM, EXT4_ROOT_INO,
  EXT4_FEATURE_INCOMPAT_SUPP, EXT4_FEATURE_RO_COMPAT_SUPP, EXT2_FEATURE_INCOMPAT_SUPP, EXT2_FEATURE_RO_COMPAT_SUPP,
  EXT3_FEATURE_INCOMPAT_SUPP, EXT3_FEATURE_RO_COMPAT_SUPP, EXT4_FEATURE_INCOMPAT_RECOVER,
  EXT4_FEATURE_INCOMPAT_CSUM_SEED, EXT4_FEATURE_INCOMPAT_ENCRYPT, EXT4_FEATURE_RO_COMPAT_READONLY,
  EXT4_FEATURE_RO_COMPAT_QUOTA, EXT4_FEATURE_INCOMPAT_EXTENTS, EXT4_DEFM_JMODE, EXT4_DEFM_JMODE_DATA,
  EXT4_DEFM_JMODE_WBACK, EXT4_BG_INODE_ZEROED, EXT4_JOURNAL_INO,
} from './layout/index.js';
import {
  Ext4Sb, ext4Msg, KERN_ERR, KERN_INFO, KERN_WARNING, EFSCORRUPTED, EFSBADCRC, type Ext4MountOptions,
} from './ext4.js';
import { ext4Iget } from './inode.js';
import { ext4SetupWrite, ext4DataModeMount } from './super_write.js';

/** Options Linux's ext4 accepts; those that change nothing for a read-only mount are ignored. */
const FLAG_OPTIONS = new Set([
  'barrier', 'nobarrier', 'user_xattr', 'nouser_xattr', 'acl', 'noacl', 'journal_checksum',
  'nojournal_checksum', 'journal_async_commit', 'delalloc', 'nodelalloc', 'auto_da_alloc',
  'noauto_da_alloc', 'block_validity', 'noblock_validity', 'dioread_lock', 'dioread_nolock',
  'discard', 'nodiscard', 'init_itable', 'noinit_itable', 'i_version', 'nombcache', 'no_mbcache',
  'prjquota', 'usrquota', 'grpquota', 'quota', 'noquota', 'debug', 'oldalloc', 'orlov', 'bsddf',
  'minixdf', 'grpid', 'bsdgroups', 'nogrpid', 'sysvgroups', 'nouid32', 'dax', 'inlinecrypt',
  'abort', 'lazytime', 'nolazytime', 'test_dummy_encryption', 'data_err=abort', 'data_err=ignore',
  'noload', 'norecovery', 'journal_path', 'nojournal', 'warn_on_error', 'nowarn_on_error',
  'prefetch_block_bitmaps', 'no_prefetch_block_bitmaps',
]);
const VALUE_OPTIONS = new Set([
  'errors', 'data', 'sb', 'commit', 'barrier', 'resuid', 'resgid', 'stripe', 'max_batch_time',
  'min_batch_time', 'journal_ioprio', 'inode_readahead_blks', 'init_itable', 'max_dir_size_kb',
  'jqfmt', 'usrjquota', 'grpjquota', 'journal_dev', 'journal_path', 'mb_optimize_scan', 'dax',
  'test_dummy_encryption', 'fc_debug_max_replay', 'debug_want_extra_isize', 'noquota',
]);

/** Parse mount(2) data for ext4 (the fs_parameter table of fs/ext4/super.c, accepted subset). */
export function parseOptions(fsName: string, data: string, printk: (level: number, text: string) => void): Ext4MountOptions {
  const o: Ext4MountOptions = { noload: false, sbBlock: 1, errors: '', dataMode: '', minixdf: false, shown: [] };
  let dataMode = '';
  let minix = false;
  for (const opt of (data ?? '').split(',')) {
    if (!opt) continue;
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const val = eq < 0 ? null : opt.slice(eq + 1);
    const bad = (): never => {
      printk(KERN_ERR, `${fsName}: Unknown parameter '${key}'`);
      return fail(EINVAL, `unknown ext4 option ${opt}`);
    };
    if (val === null ? !FLAG_OPTIONS.has(key) : !VALUE_OPTIONS.has(key) && !FLAG_OPTIONS.has(opt)) bad();
    switch (key) {
      case 'noload': case 'norecovery': o.noload = true; break;
      case 'minixdf': minix = true; break;
      case 'bsddf': minix = false; break;
      case 'errors':
        if (val !== 'continue' && val !== 'remount-ro' && val !== 'panic') {
          printk(KERN_ERR, `${fsName}: Bad value for '${key}'`);
          fail(EINVAL);
        }
        o.errors = val;
        break;
      case 'data':
        if (val !== 'journal' && val !== 'ordered' && val !== 'writeback') {
          printk(KERN_ERR, `${fsName}: Bad value for '${key}'`);
          fail(EINVAL);
        }
        dataMode = val;
        break;
      case 'sb': {
        const n = Number(val);
        if (!/^\d+$/.test(val ?? '') || !Number.isSafeInteger(n)) {
          printk(KERN_ERR, `${fsName}: Bad value for '${key}'`);
          fail(EINVAL);
        }
        o.sbBlock = n;
        break;
      }
      default: break;
    }
  }
  // /proc/mounts shows what differs from the defaults, in Linux's order.
  if (o.sbBlock !== 1) o.shown.push(`sb=${o.sbBlock}`);
  if (minix) o.shown.push('minixdf');
  if (o.errors) o.shown.push(`errors=${o.errors}`);
  if (o.noload) o.shown.push('norecovery');
  if (dataMode && dataMode !== 'ordered') o.shown.push(`data=${dataMode}`);
  o.dataMode = dataMode;
  o.minixdf = minix;
  return o;
}

/** ext4_superblock_csum: crc32c(~0) over the superblock up to s_checksum. */
export function superblockCsum(sb: Uint8Array): number {
  return crcOf(sb, 0, EXT4_S_CHECKSUM_OFFSET);
}

// crc32c seeded with ~0, usable before the Ext4Sb is complete.
function crcOf(b: Uint8Array, start: number, end: number): number { return crc32c(0xffffffff, b, start, end); }

/** ext4_group_desc_csum: the 16-bit descriptor checksum (0 when neither csum feature is on). */
export function groupDescCsum(sbi: Ext4Sb, group: number, desc: Uint8Array): number {
  const le = new Uint8Array(4);
  new DataView(le.buffer).setUint32(0, group, true);
  const off = EXT4_BG_CHECKSUM_OFFSET;
  if (sbi.hasMetadataCsum) {
    let c = sbi.chksum(sbi.csumSeed, le);
    c = sbi.chksum(c, desc, 0, off);
    c = sbi.chksum(c, new Uint8Array(2));
    if (off + 2 < sbi.descSize) c = sbi.chksum(c, desc, off + 2, sbi.descSize);
    return c & 0xffff;
  }
  if (!sbi.hasGdtCsum) return 0;
  let c = crc16(0xffff, sbi.uuid);
  c = crc16(c, le);
  c = crc16(c, desc, 0, off);
  if (sbi.has64bit && off + 2 < sbi.descSize) c = crc16(c, desc, off + 2, sbi.descSize);
  return c;
}

/** ext4_group_desc_csum_verify */
function groupDescCsumVerify(sbi: Ext4Sb, group: number, d: Ext4GroupDescView): boolean {
  if (!sbi.hasMetadataCsum && !sbi.hasGdtCsum) return true;
  return d.bg_checksum === groupDescCsum(sbi, group, d.bytes);
}

/** %pU: the UUID as Linux prints it. */
export function formatUuid(u: Uint8Array): string {
  const h = Array.from(u, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A value of the device: bread/readBytes may answer synchronously. */
async function awaitMaybe<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

function msg(sbi: Ext4Sb, level: number, text: string): void { ext4Msg(sbi, level, text); }
function refuse(sbi: Ext4Sb, level: number, text: string, errno: number): never {
  msg(sbi, level, text);
  throw new KernelError(errno, text);
}

/** ext4_feature_set_ok: may this feature set be mounted (read-only if `readonly`)? */
function featureSetOk(sbi: Ext4Sb, readonly: boolean): boolean {
  const unknownIncompat = sbi.featureIncompat & ~EXT4_FEATURE_INCOMPAT_SUPP;
  if (unknownIncompat) {
    msg(sbi, KERN_ERR, `Couldn't mount because of unsupported optional features (${(unknownIncompat >>> 0).toString(16)})`);
    return false;
  }
  if (readonly) return true;
  if (sbi.hasRoCompat(EXT4_FEATURE_RO_COMPAT_READONLY)) {
    msg(sbi, KERN_INFO, 'filesystem is read-only');
    return true;
  }
  const unknownRo = sbi.featureRoCompat & ~EXT4_FEATURE_RO_COMPAT_SUPP;
  if (unknownRo) {
    msg(sbi, KERN_ERR, `couldn't mount RDWR because of unsupported optional features (${(unknownRo >>> 0).toString(16)})`);
    return false;
  }
  if (sbi.hasBigalloc && !sbi.hasExtents) {
    msg(sbi, KERN_ERR, "Can't support bigalloc feature without extents feature");
    return false;
  }
  return true;
}

/** ext4_check_feature_compatibility */
function checkFeatureCompatibility(sbi: Ext4Sb, readonly: boolean): void {
  const es = sbi.es;
  if (es.s_rev_level === EXT4_GOOD_OLD_REV && (sbi.featureCompat || sbi.featureRoCompat || sbi.featureIncompat)) {
    msg(sbi, KERN_WARNING, 'feature flags set on rev 0 fs, running e2fsck is recommended');
  }
  if (sbi.fsType === 'ext2') {
    const ok = !(sbi.featureIncompat & ~EXT2_FEATURE_INCOMPAT_SUPP) &&
      (readonly || !(sbi.featureRoCompat & ~EXT2_FEATURE_RO_COMPAT_SUPP));
    if (ok) msg(sbi, KERN_INFO, 'mounting ext2 file system using the ext4 subsystem');
    else refuse(sbi, KERN_ERR, "couldn't mount as ext2 due to feature incompatibilities", EINVAL);
  }
  if (sbi.fsType === 'ext3') {
    const ok = !(sbi.featureIncompat & ~EXT3_FEATURE_INCOMPAT_SUPP) && sbi.hasJournal &&
      (readonly || !(sbi.featureRoCompat & ~EXT3_FEATURE_RO_COMPAT_SUPP));
    if (ok) msg(sbi, KERN_INFO, 'mounting ext3 file system using the ext4 subsystem');
    else refuse(sbi, KERN_ERR, "couldn't mount as ext3 due to feature incompatibilities", EINVAL);
  }
  if (!featureSetOk(sbi, readonly)) throw new KernelError(EINVAL, 'unsupported ext4 features');
  if (sbi.hasIncompat(EXT4_FEATURE_INCOMPAT_ENCRYPT) && es.s_encryption_level) {
    refuse(sbi, KERN_ERR, `Unsupported encryption level ${es.s_encryption_level}`, EINVAL);
  }
}

/** Steps 1-2: read and check the superblock; fills the basic sizes. */
async function loadSuper(sbi: Ext4Sb): Promise<void> {
  const bdev = sbi.bdev;
  const off = sbi.opts.sbBlock * EXT4_MIN_BLOCK_SIZE;
  if (off + EXT4_SUPER_BLOCK_SIZE > bdev.size) refuse(sbi, KERN_ERR, 'unable to read superblock', EINVAL);
  let bytes: Uint8Array;
  try {
    bytes = (await awaitMaybe(bdev.readBytes(off, EXT4_SUPER_BLOCK_SIZE))).slice(0, EXT4_SUPER_BLOCK_SIZE);
  } catch (e) {
    msg(sbi, KERN_ERR, 'unable to read superblock');
    throw e instanceof KernelError ? e : new KernelError(EIO);
  }
  const es = new Ext4SuperBlockView(bytes);
  sbi.sbBytes = bytes;
  sbi.es = es;
  if (es.s_magic !== EXT4_SUPER_MAGIC) refuse(sbi, KERN_ERR, "VFS: Can't find ext4 filesystem", EINVAL);
  if (es.s_log_block_size > EXT4_MAX_BLOCK_LOG_SIZE - EXT4_MIN_BLOCK_LOG_SIZE) {
    refuse(sbi, KERN_ERR, `Invalid log block size: ${es.s_log_block_size}`, EINVAL);
  }
  if (es.s_log_cluster_size > 30 - EXT4_MIN_BLOCK_LOG_SIZE) {
    refuse(sbi, KERN_ERR, `Invalid log cluster size: ${es.s_log_cluster_size}`, EINVAL);
  }
  sbi.featureCompat = es.s_feature_compat;
  sbi.featureIncompat = es.s_feature_incompat;
  sbi.featureRoCompat = es.s_feature_ro_compat;
  sbi.blockBits = EXT4_MIN_BLOCK_LOG_SIZE + es.s_log_block_size;
  sbi.blockSize = 1 << sbi.blockBits;
  sbi.logicalSbBlock = Math.floor(off / sbi.blockSize);
  sbi.uuid = es.s_uuid.slice();
  const name = es.s_volume_name;
  const nul = name.indexOf(0);
  sbi.label = bytesToByteString(name, 0, nul < 0 ? 16 : nul);

  // ext4_init_metadata_csum
  if (sbi.hasMetadataCsum && sbi.hasGdtCsum) {
    sbi.vfs.printk(KERN_WARNING, `EXT4-fs warning (device ${sbi.id}): ext4_init_metadata_csum:4675: metadata_csum and uninit_bg are redundant flags; please run fsck.`);
  }
  if (sbi.hasMetadataCsum && es.s_checksum_type !== EXT4_CRC32C_CHKSUM) {
    refuse(sbi, KERN_ERR, 'VFS: Found ext4 filesystem with unknown checksum algorithm.', EINVAL);
  }
  if (sbi.hasMetadataCsum && superblockCsum(bytes) !== es.s_checksum) {
    refuse(sbi, KERN_ERR, 'VFS: Found ext4 filesystem with invalid superblock checksum.  Run e2fsck?', EFSBADCRC);
  }
  if (sbi.hasIncompat(EXT4_FEATURE_INCOMPAT_CSUM_SEED)) sbi.csumSeed = es.s_checksum_seed;
  else if (sbi.hasMetadataCsum || sbi.hasEaInode) sbi.csumSeed = crcOf(sbi.uuid, 0, 16);
  else sbi.csumSeed = 0;
}

/** Step 4: sizes and counts (ext4_inode_info_init, ext4_block_group_meta_init, ext4_geometry_check). */
function loadGeometry(sbi: Ext4Sb): void {
  const es = sbi.es;
  const bs = sbi.blockSize;
  if (bs < EXT4_MIN_BLOCK_SIZE || bs > EXT4_MAX_BLOCK_SIZE) {
    refuse(sbi, KERN_ERR, `Unsupported filesystem blocksize ${bs} (${es.s_log_block_size} log_block_size)`, EINVAL);
  }
  if (es.s_rev_level === EXT4_GOOD_OLD_REV) {
    sbi.inodeSize = EXT4_GOOD_OLD_INODE_SIZE;
    sbi.firstIno = EXT4_GOOD_OLD_FIRST_INO;
  } else {
    sbi.inodeSize = es.s_inode_size;
    sbi.firstIno = es.s_first_ino;
    if (sbi.firstIno < EXT4_GOOD_OLD_FIRST_INO) refuse(sbi, KERN_ERR, `invalid first ino: ${sbi.firstIno}`, EINVAL);
    const s = sbi.inodeSize;
    if (s < EXT4_GOOD_OLD_INODE_SIZE || (s & (s - 1)) || s > bs) refuse(sbi, KERN_ERR, `unsupported inode size: ${s}`, EINVAL);
  }
  // Clusters (bigalloc) or plain blocks.
  const clusterSize = EXT4_MIN_BLOCK_SIZE << es.s_log_cluster_size;
  sbi.blocksPerGroup = es.s_blocks_per_group;
  if (sbi.hasBigalloc) {
    if (clusterSize < bs) refuse(sbi, KERN_ERR, `cluster size (${clusterSize}) smaller than block size (${bs})`, EINVAL);
    sbi.clusterBits = es.s_log_cluster_size - es.s_log_block_size;
  } else {
    if (clusterSize !== bs) refuse(sbi, KERN_ERR, `fragment/cluster size (${clusterSize}) != block size (${bs})`, EINVAL);
    if (sbi.blocksPerGroup > bs * 8) refuse(sbi, KERN_ERR, `#blocks per group too big: ${sbi.blocksPerGroup}`, EINVAL);
    sbi.clusterBits = 0;
  }
  const clustersPerGroup = sbi.hasBigalloc ? es.s_clusters_per_group : sbi.blocksPerGroup;
  if (clustersPerGroup > bs * 8) refuse(sbi, KERN_ERR, `#clusters per group too big: ${clustersPerGroup}`, EINVAL);

  sbi.inodesPerGroup = es.s_inodes_per_group;
  if (sbi.has64bit) {
    const d = es.s_desc_size;
    if (d < EXT4_MIN_DESC_SIZE_64BIT || d > EXT4_MAX_DESC_SIZE || (d & (d - 1))) {
      refuse(sbi, KERN_ERR, `unsupported descriptor size ${d}`, EINVAL);
    }
    sbi.descSize = d;
  } else {
    sbi.descSize = EXT4_MIN_DESC_SIZE;
  }
  sbi.inodesPerBlock = Math.floor(bs / sbi.inodeSize);
  if (sbi.inodesPerBlock === 0 || sbi.blocksPerGroup === 0) refuse(sbi, KERN_ERR, "VFS: Can't find ext4 filesystem", EINVAL);
  if (sbi.inodesPerGroup < sbi.inodesPerBlock || sbi.inodesPerGroup > bs * 8) {
    refuse(sbi, KERN_ERR, `invalid inodes per group: ${sbi.inodesPerGroup}\n`, EINVAL);
  }
  sbi.itbPerGroup = Math.floor(sbi.inodesPerGroup / sbi.inodesPerBlock);
  sbi.descPerBlock = Math.floor(bs / sbi.descSize);

  sbi.blocksCount = es.blocksCount;
  sbi.firstDataBlock = es.s_first_data_block;
  sbi.inodesCount = es.s_inodes_count;
  const devBlocks = Math.floor(sbi.bdev.size / bs);
  if (devBlocks && sbi.blocksCount > devBlocks) {
    refuse(sbi, KERN_WARNING, `bad geometry: block count ${sbi.blocksCount} exceeds size of device (${devBlocks} blocks)`, EINVAL);
  }
  if (sbi.firstDataBlock >= sbi.blocksCount) {
    refuse(sbi, KERN_WARNING, `bad geometry: first data block ${sbi.firstDataBlock} is beyond end of filesystem (${sbi.blocksCount})`, EINVAL);
  }
  if (sbi.firstDataBlock === 0 && bs === 1024 && !sbi.hasBigalloc) {
    refuse(sbi, KERN_WARNING, 'bad geometry: first data block is 0 with a 1k block and cluster size', EINVAL);
  }
  const groups = Math.floor((sbi.blocksCount - sbi.firstDataBlock + sbi.blocksPerGroup - 1) / sbi.blocksPerGroup);
  if (groups > 2 ** 32 - sbi.descPerBlock) {
    refuse(sbi, KERN_WARNING, `groups count too large: ${groups} (block count ${sbi.blocksCount}, first data block ${sbi.firstDataBlock}, blocks per group ${sbi.blocksPerGroup})`, EINVAL);
  }
  sbi.groupsCount = groups;
  if (groups * sbi.inodesPerGroup !== sbi.inodesCount) {
    refuse(sbi, KERN_WARNING, `inodes count not valid: ${sbi.inodesCount} vs ${groups * sbi.inodesPerGroup}`, EINVAL);
  }
  sbi.gdbCount = Math.ceil(groups / sbi.descPerBlock);
  sbi.maxFileSize = maxFileSize(sbi.blockBits, sbi.hasHugeFile);
}

/** ext4_max_size: the largest file an extent tree (or i_blocks) can describe. */
function maxFileSize(blkbits: number, hugeFiles: boolean): number {
  let upper = Number.MAX_SAFE_INTEGER; // MAX_LFS_FILESIZE, bounded by what a JS number holds exactly
  if (!hugeFiles) upper = Math.floor((2 ** 32 - 1) / 2 ** (blkbits - 9)) * 2 ** blkbits;
  return Math.min((2 ** 32 - 1) * 2 ** blkbits, upper);
}

/** descriptor_loc: the block holding group descriptor block `nr`. */
export function descriptorLoc(sbi: Ext4Sb, nr: number): number {
  const firstMetaBg = sbi.es.s_first_meta_bg;
  if (!sbi.hasMetaBg || nr < firstMetaBg) return sbi.logicalSbBlock + nr + 1;
  const bg = sbi.descPerBlock * nr;
  let hasSuper = sbi.bgHasSuper(bg) ? 1 : 0;
  // With 1k blocks and no block 0 reserved (bigalloc), group 0's table sits one further.
  if (sbi.blockSize === 1024 && nr === 0 && sbi.firstDataBlock === 0) hasSuper++;
  return hasSuper + sbi.groupFirstBlock(bg);
}

/** Step 5: read the descriptor table (ext4_group_desc_init) and check it (ext4_check_descriptors). */
async function loadGroupDescs(sbi: Ext4Sb, readonly: boolean): Promise<void> {
  const dbCount = sbi.gdbCount;
  if (sbi.hasMetaBg && sbi.es.s_first_meta_bg > dbCount) {
    refuse(sbi, KERN_WARNING, `first meta block group too large: ${sbi.es.s_first_meta_bg} (group descriptor block count ${dbCount})`, EINVAL);
  }
  const descs: Ext4GroupDescView[] = [];
  for (let i = 0; i < dbCount; i++) {
    const block = descriptorLoc(sbi, i);
    let b: Uint8Array;
    try {
      if (block >= sbi.blocksCount) throw new KernelError(EIO);
      b = (await awaitMaybe(sbi.bread(block))).slice();
    } catch (e) {
      msg(sbi, KERN_ERR, `can't read group descriptor ${i}`);
      throw e instanceof KernelError ? e : new KernelError(EIO);
    }
    for (let j = 0; j < sbi.descPerBlock && descs.length < sbi.groupsCount; j++) {
      descs.push(new Ext4GroupDescView(b.subarray(j * sbi.descSize, (j + 1) * sbi.descSize), sbi.descSize));
    }
  }
  sbi.descs = descs;
  if (!checkDescriptors(sbi, readonly)) {
    refuse(sbi, KERN_ERR, 'group descriptors corrupted!', EFSCORRUPTED);
  }
}

/** ext4_check_descriptors: metadata blocks inside their group; checksums. */
function checkDescriptors(sbi: Ext4Sb, readonly: boolean): boolean {
  const sbBlock = sbi.logicalSbBlock;
  const lastBgBlock = sbBlock + sbi.bgNumGdb(0);
  let firstBlock = sbi.firstDataBlock;
  const flex = sbi.hasFlexBg;
  let firstNotZeroed = sbi.groupsCount;
  for (let i = 0; i < sbi.groupsCount; i++) {
    const d = sbi.descs[i]!;
    const lastBlock = i === sbi.groupsCount - 1 || flex ? sbi.blocksCount - 1 : firstBlock + sbi.blocksPerGroup - 1;
    if (firstNotZeroed === sbi.groupsCount && !(d.bg_flags & EXT4_BG_INODE_ZEROED)) firstNotZeroed = i;
    const what: [string, number, number][] = [
      ['Block bitmap', d.blockBitmap, 1], ['Inode bitmap', d.inodeBitmap, 1], ['Inode table', d.inodeTable, sbi.itbPerGroup],
    ];
    for (const [name, blk, len] of what) {
      if (blk === sbBlock) {
        msg(sbi, KERN_ERR, `ext4_check_descriptors: ${name} for group ${i} overlaps superblock`);
        if (!readonly) return false;
      }
      if (blk >= sbBlock + 1 && blk <= lastBgBlock) {
        msg(sbi, KERN_ERR, `ext4_check_descriptors: ${name} for group ${i} overlaps block group descriptors`);
        if (!readonly) return false;
      }
      if (blk < firstBlock || blk + len - 1 > lastBlock) {
        msg(sbi, KERN_ERR, `ext4_check_descriptors: ${name} for group ${i} not in group (block ${blk})!`);
        return false;
      }
    }
    if (!groupDescCsumVerify(sbi, i, d)) {
      msg(sbi, KERN_ERR, `ext4_check_descriptors: Checksum for group ${i} failed (${groupDescCsum(sbi, i, d.bytes)}!=${d.bg_checksum})`);
      if (!readonly) return false;
    }
    if (!flex) firstBlock += sbi.blocksPerGroup;
  }
  return true;
}

/** ext4_setup_system_zone: ranges holding the groups' own metadata, sorted and merged. */
function setupSystemZone(sbi: Ext4Sb): void {
  const ranges: [number, number][] = [];
  const flexSize = sbi.hasFlexBg ? 2 ** sbi.es.s_log_groups_per_flex : 1;
  for (let i = 0; i < sbi.groupsCount; i++) {
    if (sbi.bgHasSuper(i) && (i < 5 || i % flexSize === 0)) {
      const s = sbi.groupFirstBlock(i);
      ranges.push([s, s + sbi.bgNumGdb(i) + 1]);
    }
    const d = sbi.descs[i]!;
    ranges.push([d.blockBitmap, d.blockBitmap + 1]);
    ranges.push([d.inodeBitmap, d.inodeBitmap + 1]);
    ranges.push([d.inodeTable, d.inodeTable + sbi.itbPerGroup]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [s, e] of ranges) {
    const n = merged.length;
    if (n && s <= merged[n - 1]!) merged[n - 1] = Math.max(merged[n - 1]!, e);
    else merged.push(s, e);
  }
  sbi.systemZone = Float64Array.from(merged);
}

/** ext4_calculate_overhead (without bigalloc's bitmap scan) and ext4_calculate_resv_clusters. */
function calculateOverhead(sbi: Ext4Sb): void {
  let overhead = sbi.es.s_overhead_clusters;
  if (overhead > sbi.blocksCount || !sbi.hasBigalloc) overhead = 0;
  if (!overhead) {
    overhead = sbi.firstDataBlock >> sbi.clusterBits;
    for (let g = 0; g < sbi.groupsCount; g++) {
      const hasSuper = sbi.bgHasSuper(g) ? 1 : 0;
      overhead += hasSuper + sbi.bgNumGdb(g) + (hasSuper ? sbi.es.s_reserved_gdt_blocks : 0) + sbi.itbPerGroup + 2;
    }
    overhead += Math.ceil(sbi.journalBlocks / 2 ** sbi.clusterBits);
  }
  sbi.overhead = overhead;
  sbi.resvClusters = sbi.hasIncompat(EXT4_FEATURE_INCOMPAT_EXTENTS)
    ? Math.min(Math.floor(Math.floor(sbi.blocksCount / 2 ** sbi.clusterBits) / 50), 4096) : 0;
}

/** Everything up to (not including) the journal: steps 1-5 and the derived tables. */
async function loadFs(sbi: Ext4Sb, readonly: boolean): Promise<void> {
  sbi.icache.clear();
  await loadSuper(sbi);
  checkFeatureCompatibility(sbi, readonly);
  loadGeometry(sbi);
  await loadGroupDescs(sbi, readonly);
  setupSystemZone(sbi);
}

/** The journal inode as jbd2 sees it: logical blocks through our mapping, writes to the disk. */
export function journalDevice(sbi: Ext4Sb, jinode: Awaited<ReturnType<Ext4Sb['iget']>>): JournalDevice {
  const bs = sbi.blockSize;
  const map = async (n: number): Promise<number> => {
    const p = await jinode.bmap(n);
    if (!p) fail(EIO, `journal block ${n} is not mapped`);
    return p;
  };
  return {
    blockSize: bs,
    nrBlocks: Math.floor(jinode.size / bs),
    name: `${sbi.id}-${jinode.ino}`,
    async readBlock(n) { return awaitMaybe(sbi.bread(await map(n))); },
    async writeFsBlock(nr, data) {
      if (nr >= sbi.blocksCount || nr < 0) fail(EIO, `journal names block ${nr} beyond the filesystem`);
      await awaitMaybe(sbi.bdev.bwrite(nr, bs, data));
    },
    async writeJournalBlock(n, data) { await awaitMaybe(sbi.bdev.bwrite(await map(n), bs, data)); },
    async flush() { await sbi.bdev.sync(); },
  };
}

/** ext4_get_journal_inode */
async function getJournalInode(sbi: Ext4Sb, inum: number) {
  let j;
  try {
    j = await sbi.iget(inum, true);
  } catch (e) {
    msg(sbi, KERN_ERR, 'no journal found');
    throw e;
  }
  if (!j.nlink) refuse(sbi, KERN_ERR, 'journal inode is deleted', EFSCORRUPTED);
  if ((j.mode & S_IFMT) !== S_IFREG || j.encrypted) refuse(sbi, KERN_ERR, 'invalid journal inode', EFSCORRUPTED);
  return j;
}

/** Write the primary superblock back after clearing needs_recovery (ext4_commit_super). */
async function commitSuper(sbi: Ext4Sb): Promise<void> {
  const off = sbi.opts.sbBlock * EXT4_MIN_BLOCK_SIZE;
  const bs = sbi.blockSize;
  const blockNr = Math.floor(off / bs);
  const blk = (await awaitMaybe(sbi.bread(blockNr))).slice();
  const sb = blk.subarray(off % bs, off % bs + EXT4_SUPER_BLOCK_SIZE);
  const es = new Ext4SuperBlockView(sb);
  es.s_feature_incompat = es.s_feature_incompat & ~EXT4_FEATURE_INCOMPAT_RECOVER;
  if (es.s_feature_ro_compat & 0x400 /* metadata_csum */) es.s_checksum = superblockCsum(sb);
  await awaitMaybe(sbi.bdev.bwrite(blockNr, bs, blk));
  await sbi.bdev.sync();
}

/**
 * Step 6 (ext4_load_journal): replay when needed and allowed. Returns true when a replay ran
 * (the caller then reloads everything, since the log may have rewritten any metadata).
 */
async function loadJournal(sbi: Ext4Sb, readonly: boolean): Promise<boolean> {
  const es = sbi.es;
  const inum = es.s_journal_inum;
  const needsRecovery = sbi.hasIncompat(EXT4_FEATURE_INCOMPAT_RECOVER);
  if (!inum) {
    // An external journal device: not something a disk image can bring along.
    const dev = es.s_journal_dev;
    refuse(sbi, KERN_ERR, `failed to open journal device unknown-block(${dev >>> 8},${dev & 0xff}) -6`, ENXIO);
  }
  const jinode = await getJournalInode(sbi, inum);
  sbi.journalBlocks = Math.floor(jinode.size / sbi.blockSize);
  const reallyReadOnly = sbi.bdev.readOnly;
  if (needsRecovery) {
    if (readonly) {
      msg(sbi, KERN_INFO, 'INFO: recovery required on readonly filesystem');
      if (reallyReadOnly) refuse(sbi, KERN_ERR, 'write access unavailable, cannot proceed (try mounting with noload)', EROFS);
      msg(sbi, KERN_INFO, 'write access will be enabled during recovery');
    } else if (reallyReadOnly) {
      refuse(sbi, KERN_ERR, 'write access unavailable, cannot proceed (try mounting with noload)', EROFS);
    }
  }
  const dev = journalDevice(sbi, jinode);
  const log = (level: number, text: string) => sbi.vfs.printk(level, text);
  try {
    if (needsRecovery) {
      await recoverJournal(dev, log);
      await commitSuper(sbi);
      return true;
    }
    const jsb = await dev.readBlock(0);
    if (journalNeedsRecovery(jsb)) {
      // The journal holds transactions the superblock does not ask for: jbd2_journal_wipe.
      log(KERN_WARNING, 'JBD2: Ignoring recovery information on journal');
    } else {
      await recoverJournal(dev, log, { readOnlyDryRun: true });
    }
  } catch (e) {
    msg(sbi, KERN_ERR, 'error loading journal');
    throw e instanceof KernelError ? e : new KernelError(EIO);
  }
  return false;
}

function statfs(sbi: Ext4Sb): Kstatfs {
  const cb = 2 ** sbi.clusterBits;
  let freeClusters = 0, freeInodes = 0;
  for (const d of sbi.descs) { freeClusters += d.freeBlocksCount; freeInodes += d.freeInodesCount; }
  const overhead = sbi.opts.minixdf ? 0 : sbi.overhead;
  const bfree = freeClusters * cb;
  const reserve = sbi.es.rBlocksCount + sbi.resvClusters * cb;
  const u = sbi.uuid;
  const dv = new DataView(u.buffer, u.byteOffset, 16);
  // uuid_to_fsid: the two little-endian halves of the UUID xored, split into 32-bit words.
  const lo = (dv.getUint32(0, true) ^ dv.getUint32(8, true)) >>> 0;
  const hi = (dv.getUint32(4, true) ^ dv.getUint32(12, true)) >>> 0;
  return {
    type: STATFS_EXT4_MAGIC, bsize: sbi.blockSize, blocks: sbi.blocksCount - overhead * cb,
    bfree, bavail: bfree < reserve ? 0 : bfree - reserve,
    files: sbi.inodesCount, ffree: freeInodes, fsid: [lo, hi], namelen: 255, frsize: sbi.blockSize, flags: 0,
  };
}

const ext4SuperOps: SuperOperations = {
  statfs: (sb: SuperBlock) => statfs(sb as Ext4Sb),
  showOptions: (sb: SuperBlock) => (sb as Ext4Sb).opts.shown.join(','),
  remount(sb: SuperBlock, flags: number) {
    // The driver reads only: a read-write remount is refused and the mount stays as it is.
    if (!(flags & MS_RDONLY)) {
      ext4Msg(sb, KERN_ERR, 'read-write remount is not supported by this driver');
      fail(EROFS);
    }
  },
  putSuper(sb: SuperBlock) {
    const s = sb as Ext4Sb;
    s.icache.clear();
    s.bdev.invalidate();
  },
};

/** ext4_fill_super for one of the types 'ext2', 'ext3', 'ext4'. */
export async function ext4FillSuper(type: FileSystemType, req: MountRequest): Promise<Ext4Sb> {
  const bdev = req.bdev as BlockDevice | undefined;
  if (!bdev || typeof bdev.bread !== 'function') fail(ENOTBLK);
  const opts = parseOptions(type.name, req.data, req.vfs.printk);
  // mount(8) retries a write-protected device read-only; the checks below use that view.
  const readonly = (req.flags & MS_RDONLY) !== 0 || bdev.readOnly;
  // POSIX ACLs are on unless `noacl` (mke2fs sets acl in the default mount options).
  const acl = !/(^|,)noacl(,|$)/.test(req.data) ? MS_POSIXACL : 0;
  const sbi = new Ext4Sb(req.vfs, type, req.flags | MS_RDONLY | acl, ext4SuperOps, bdev, opts);
  sbi.igetFn = ext4Iget;
  sbi.magic = EXT4_SUPER_MAGIC;
  try {
    await loadFs(sbi, readonly);
    sbi.blocksize = sbi.blockSize;
    let recovered = false;
    if (sbi.hasJournal && !opts.noload) {
      recovered = await loadJournal(sbi, readonly);
      if (recovered) {
        await loadFs(sbi, readonly);
        await loadJournal(sbi, readonly);
      }
      sbi.journalLoaded = true;
    } else if (sbi.hasJournal && sbi.es.s_journal_inum) {
      // Not loaded, but its blocks still count as overhead.
      try {
        const j = await sbi.iget(sbi.es.s_journal_inum, true);
        sbi.journalBlocks = Math.floor(j.size / sbi.blockSize);
      } catch {
        msg(sbi, KERN_ERR, "can't get journal size");
      }
    }
    calculateOverhead(sbi);
    // A writable request becomes a read-write mount when the writer supports this filesystem.
    if (!readonly) await ext4SetupWrite(sbi);
    // Read-only mounts too: data= without a journal is refused, and /proc/mounts shows the mode.
    else ext4DataModeMount(sbi);
    let root;
    try {
      root = await sbi.iget(EXT4_ROOT_INO, true);
    } catch (e) {
      msg(sbi, KERN_ERR, 'get root inode failed');
      throw e;
    }
    if ((root.mode & S_IFMT) !== S_IFDIR || !root.blocks || !root.size) {
      refuse(sbi, KERN_ERR, 'corrupt root inode, run e2fsck', EFSCORRUPTED);
    }
    sbi.root = new Dentry('/', null, root);
    if (recovered) msg(sbi, KERN_INFO, 'recovery complete');
    msg(sbi, KERN_INFO, `mounted filesystem ${formatUuid(sbi.uuid)} ${sbi.readOnly ? 'ro' : 'r/w'} ${dataModeDescr(sbi)}. Quota mode: ${quotaMode(sbi)}.`);
    return sbi;
  } catch (e) {
    // A failure after the read-write setup: leave the journal and superblock clean again.
    if (!sbi.readOnly && sbi.op.putSuper) { try { await sbi.op.putSuper(sbi); } catch { /* the first error wins */ } }
    sbi.icache.clear();
    throw e;
  }
}

function dataModeDescr(sbi: Ext4Sb): string {
  if (!sbi.journalLoaded) return 'without journal';
  let mode = sbi.opts.dataMode;
  if (!mode) {
    const j = sbi.es.s_default_mount_opts & EXT4_DEFM_JMODE;
    mode = j === EXT4_DEFM_JMODE_DATA ? 'journal' : j === EXT4_DEFM_JMODE_WBACK ? 'writeback' : 'ordered';
  }
  return mode === 'journal' ? 'with journalled data mode' : mode === 'writeback' ? 'with writeback data mode' : 'with ordered data mode';
}

function quotaMode(sbi: Ext4Sb): string {
  if (!sbi.hasRoCompat(EXT4_FEATURE_RO_COMPAT_QUOTA)) return 'none';
  return sbi.journalLoaded ? 'journalled' : 'writeback';
}

export { EXT4_JOURNAL_INO };
