/*
 * Mounting a FAT volume (fs/fat/inode.c: fat_fill_super, fat_read_bpb, parse_options).
 *
 * The boot sector's BIOS Parameter Block is checked field by field with Linux's messages
 * ("FAT-fs (vda): bogus number of reserved sectors", EINVAL). The FAT type follows Linux: a
 * zero 16-bit FAT size means FAT32; otherwise the cluster count decides FAT12 (up to 4084)
 * or FAT16. On FAT32 the FSInfo sector is read (a bad signature only warns) and rewritten on
 * sync and unmount with the free count and the next-free hint.
 *
 * The volume's dirty bit (FAT_STATE_DIRTY in the boot sector's state byte) is set when a
 * volume is mounted read-write and cleared at a clean unmount; a volume found dirty is left
 * dirty and reported ("Volume was not properly unmounted...").
 *
 * Options: uid gid umask dmask fmask allow_utime codepage(437) iocharset(utf8, iso8859-1,
 * ascii) utf8[=0|1] shortname=lower|win95|winnt|mixed tz=UTC time_offset= errors= quiet
 * showexec rodir nonumtail numtail flush usefree discard dots nodots check= debug sys_immutable
 * nfs uni_xlate. Default: iocharset=utf8 (as most distribution kernels), shortname=mixed,
 * umask 022, errors=remount-ro, time offset 0 (this kernel's sys_tz is UTC).
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENOTBLK, EIO } from '../../uapi/errno.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { MSDOS_SUPER_MAGIC, type Kstatfs } from '../../uapi/stat.js';
import { Dentry, type FileSystemType, type MountRequest, type SuperOperations, type Inode } from '../vfs/index.js';
import type { BlockDevice } from '../../block/index.js';
import {
  FatSb, FatInode, type FatOptions, FAT_START_ENT, FAT_STATE_DIRTY, KERN_ERR, KERN_WARNING, le16, le32, put32,
} from './fat.js';
import { fatReadRoot, fatEvict, fatFreeEofBlocks } from './inode.js';

const MAX_FAT12 = 0xff4, MAX_FAT16 = 0xfff4, MAX_FAT32 = 0x0ffffff6;
const FSINFO_SIG1 = 0x41615252, FSINFO_SIG2 = 0x61417272;

export function defaultOptions(isvfat: boolean): FatOptions {
  return {
    uid: 0, gid: 0, fmask: 0o022, dmask: 0o022, allowUtime: -1, shortname: 'mixed', utf8: true,
    iocharset: 'utf8', codepage: 437, tzMinutes: 0, tzSet: false, errors: 'remount-ro', quiet: false,
    showexec: false, rodir: false, numtail: true, flush: false, usefree: false, discard: false, dots: false,
    isvfat,
  };
}

function unknown(fsname: string, printk: (l: number, t: string) => void, key: string): never {
  printk(KERN_ERR, `${fsname}: Unknown parameter '${key}'`);
  fail(EINVAL);
}

/** parse_options for vfat/msdos. */
export function parseOptions(data: string, opts: FatOptions, fsname: string, printk: (l: number, t: string) => void): void {
  const num = (key: string, v: string, base = 10): number => {
    const n = base === 8 ? parseInt(v, 8) : Number(v);
    if (v === '' || !Number.isFinite(n) || (base === 8 && !/^[0-7]+$/.test(v))) {
      printk(KERN_ERR, `${fsname}: Bad value for '${key}'`);
      fail(EINVAL);
    }
    return n;
  };
  for (const opt of data.split(',')) {
    if (!opt) continue;
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const val = eq < 0 ? '' : opt.slice(eq + 1);
    switch (key) {
      case 'uid': opts.uid = num(key, val); break;
      case 'gid': opts.gid = num(key, val); break;
      case 'umask': opts.fmask = opts.dmask = num(key, val, 8) & 0o777; break;
      case 'dmask': opts.dmask = num(key, val, 8) & 0o777; break;
      case 'fmask': opts.fmask = num(key, val, 8) & 0o777; break;
      case 'allow_utime': opts.allowUtime = num(key, val, 8) & 0o022; break;
      case 'codepage':
        if (num(key, val) !== 437) { printk(KERN_ERR, `FAT-fs: codepage cp${val} not found`); fail(EINVAL); }
        break;
      case 'iocharset':
        if (val === 'utf8') { opts.utf8 = true; opts.iocharset = 'utf8'; }
        else if (val === 'iso8859-1' || val === 'ascii' || val === 'default') { opts.utf8 = false; opts.iocharset = val; }
        else { printk(KERN_ERR, `FAT-fs: IO charset ${val} not found`); fail(EINVAL); }
        break;
      case 'utf8':
        if (!opts.isvfat) unknown(fsname, printk, key);
        opts.utf8 = val === '' || val === '1' || val === 'yes' || val === 'true';
        break;
      case 'shortname':
        if (!opts.isvfat) unknown(fsname, printk, key);
        if (val !== 'lower' && val !== 'win95' && val !== 'winnt' && val !== 'mixed') {
          printk(KERN_ERR, `${fsname}: Unknown parameter '${key}'`); fail(EINVAL);
        }
        opts.shortname = val;
        break;
      case 'tz':
        if (val !== 'UTC') { printk(KERN_ERR, `${fsname}: Bad value for '${key}'`); fail(EINVAL); }
        opts.tzMinutes = 0; opts.tzSet = true;
        break;
      case 'time_offset': {
        const n = num(key, val.startsWith('-') ? val : val);
        if (n < -24 * 60 || n > 24 * 60) { printk(KERN_ERR, `${fsname}: Bad value for '${key}'`); fail(EINVAL); }
        opts.tzMinutes = n; opts.tzSet = true;
        break;
      }
      case 'errors':
        if (val !== 'continue' && val !== 'remount-ro' && val !== 'panic') unknown(fsname, printk, key);
        opts.errors = val;
        break;
      case 'quiet': opts.quiet = true; break;
      case 'showexec': opts.showexec = true; break;
      case 'rodir': opts.rodir = true; break;
      case 'nonumtail': opts.numtail = false; break;
      case 'numtail': opts.numtail = true; break;
      case 'flush': opts.flush = true; break;
      case 'usefree': opts.usefree = true; break;
      case 'discard': opts.discard = true; break;
      case 'dots': case 'dotsOK': opts.dots = true; break;
      case 'nodots': opts.dots = false; break;
      case 'check': case 'debug': case 'sys_immutable': case 'nfs': case 'uni_xlate': case 'posix':
      case 'conv': case 'cvf_format': case 'cvf_options': case 'fat': case 'blocksize': case 'nocase':
        break;
      default: unknown(fsname, printk, key);
    }
  }
  if (opts.allowUtime === -1) opts.allowUtime = ~opts.dmask & 0o022;
}

function showOptions(sb: FatSb): string {
  const o = sb.opts;
  const out: string[] = [];
  if (o.uid) out.push(`uid=${o.uid}`);
  if (o.gid) out.push(`gid=${o.gid}`);
  out.push(`fmask=${o.fmask.toString(8).padStart(4, '0')}`, `dmask=${o.dmask.toString(8).padStart(4, '0')}`);
  if (o.allowUtime) out.push(`allow_utime=${o.allowUtime.toString(8).padStart(4, '0')}`);
  out.push(`codepage=${o.codepage}`, `iocharset=${o.iocharset}`);
  if (o.isvfat) out.push(`shortname=${o.shortname}`);
  if (o.tzSet) out.push(o.tzMinutes ? `time_offset=${o.tzMinutes}` : 'tz=UTC');
  if (o.utf8 && o.iocharset !== 'utf8') out.push('utf8');
  if (o.quiet) out.push('quiet');
  if (o.showexec) out.push('showexec');
  if (o.rodir) out.push('rodir');
  if (!o.numtail) out.push('nonumtail');
  if (o.flush) out.push('flush');
  if (o.usefree) out.push('usefree');
  if (o.discard) out.push('discard');
  out.push(`errors=${o.errors}`);
  return out.join(',');
}

/** Write the free count and hint to FSInfo (fat_clusters_flush). */
async function clustersFlush(sb: FatSb): Promise<void> {
  if (!sb.isFat32 || !sb.fsinfoValid || sb.readOnly) return;
  const buf = (await sb.bdev.bread(sb.fsinfoSector, sb.secSize)).slice();
  if (le32(buf, 0) !== FSINFO_SIG1 || le32(buf, 484) !== FSINFO_SIG2) return;
  if (sb.freeClusters !== -1) put32(buf, 488, sb.freeClusters);
  put32(buf, 492, sb.prevFree);
  await sb.bdev.bwrite(sb.fsinfoSector, sb.secSize, buf);
}

/** fat_set_state: the boot sector's dirty bit. */
async function setState(sb: FatSb, dirty: boolean): Promise<void> {
  if (sb.readOnly) return;
  if (sb.dirtyAtMount) return;
  const b = (await sb.bdev.bread(0, sb.secSize)).slice();
  const off = sb.isFat32 ? 65 : 37;
  if (dirty) b[off] = b[off]! | FAT_STATE_DIRTY; else b[off] = b[off]! & ~FAT_STATE_DIRTY;
  await sb.bdev.bwrite(0, sb.secSize, b);
}

const fatSuperOps: SuperOperations = {
  statfs(s): Kstatfs {
    const sb = s as FatSb;
    if (sb.freeClusters === -1) sb.countFree();
    const blocks = sb.maxCluster - FAT_START_ENT;
    const fsid = sb.dev >>> 0;
    return {
      type: MSDOS_SUPER_MAGIC, bsize: sb.clusterSize, blocks, bfree: sb.freeClusters, bavail: sb.freeClusters,
      files: 0, ffree: 0, fsid: [fsid & 0xffffffff, 0], namelen: (sb.opts.isvfat ? 255 : 12) * 6,
      frsize: sb.clusterSize, flags: 0,
    };
  },
  async syncFs(s) {
    const sb = s as FatSb;
    await sb.fatFlush();
    await clustersFlush(sb);
    await sb.bdev.sync();
  },
  async putSuper(s) {
    const sb = s as FatSb;
    // Every inode leaves memory now: clusters preallocated past the size go back (evict).
    for (const inode of sb.icache.values()) await fatFreeEofBlocks(inode as FatInode);
    await sb.fatFlush();
    await clustersFlush(sb);
    await setState(sb, false);
    await sb.bdev.sync();
    sb.bdev.invalidate();
    sb.vfs.mem.uncharge('kernel', sb.fatPages);
    sb.fatPages = 0;
  },
  async remount(s, flags, data) {
    const sb = s as FatSb;
    const o = { ...sb.opts };
    parseOptions(data, o, sb.type.name, sb.vfs.printk);
    const wasRo = sb.readOnly;
    const toRo = (flags & MS_RDONLY) !== 0;
    if (!toRo && sb.bdev.readOnly) fail(30 /* EROFS */);
    if (wasRo !== toRo) {
      if (toRo) {
        await sb.fatFlush(); await clustersFlush(sb); await setState(sb, false); await sb.bdev.sync();
        sb.flags |= MS_RDONLY;
      } else {
        sb.flags &= ~MS_RDONLY;
        await setState(sb, true);
      }
    }
  },
  showOptions: (s) => showOptions(s as FatSb),
  evictInode: (inode: Inode) => fatEvict(inode),
};

function isPow2(n: number): boolean { return n > 0 && (n & (n - 1)) === 0; }

/** fat_valid_media */
function validMedia(m: number): boolean { return m >= 0xf8 || m === 0xf0; }

export async function fatFillSuper(type: FileSystemType, req: MountRequest, isvfat: boolean): Promise<FatSb> {
  const bdev = req.bdev as BlockDevice | undefined;
  if (!bdev || typeof bdev.bread !== 'function') fail(ENOTBLK);
  const opts = defaultOptions(isvfat);
  parseOptions(req.data, opts, type.name, req.vfs.printk);
  const ro = (req.flags & MS_RDONLY) !== 0;
  const sb = new FatSb(req.vfs, type, req.flags, fatSuperOps, bdev, opts);
  sb.magic = MSDOS_SUPER_MAGIC;
  const refuse = (msg: string): never => {
    sb.fatMsg(KERN_ERR, msg);
    fail(EINVAL);
  };
  if (bdev.size < 512) refuse("Can't find a valid FAT filesystem");
  const b = (await bdev.readBytes(0, 512)).slice();
  const reserved = le16(b, 14), fats = b[16]!, media = b[21]!, secSize = le16(b, 11), spc = b[13]!;
  const fatLen16 = le16(b, 22), fatLen32 = le32(b, 36);
  // fat_read_bpb
  if (!reserved) refuse('bogus number of reserved sectors');
  if (!fats) refuse('bogus number of FAT structure');
  if (!validMedia(media)) refuse(`invalid media value (0x${media.toString(16).padStart(2, '0')})`);
  if (!isPow2(secSize) || secSize < 512 || secSize > 4096) refuse(`bogus logical sector size ${secSize}`);
  if (!isPow2(spc)) refuse(`bogus sectors per cluster ${spc}`);
  if (!fatLen16 && !fatLen32) refuse('bogus number of FAT sectors');

  sb.secSize = secSize; sb.secPerClus = spc; sb.clusterSize = secSize * spc;
  sb.fats = fats; sb.fatStart = reserved;
  sb.fatLength = fatLen16 || fatLen32;
  if (!fatLen16 && fatLen32) {
    sb.fatBits = 32;
    sb.rootCluster = le32(b, 44);
    sb.fsinfoSector = le16(b, 48) || 0;
  }
  sb.dirStart = sb.fatStart + fats * sb.fatLength;
  sb.dirEntries = le16(b, 17);
  if (sb.dirEntries & (secSize / 32 - 1)) refuse(`bogus number of directory entries (${sb.dirEntries})`);
  const rootSectors = (sb.dirEntries * 32) / secSize;
  sb.dataStart = sb.dirStart + rootSectors;
  const totalSectors = le16(b, 19) || le32(b, 32);
  const totalClusters = Math.floor((totalSectors - sb.dataStart) / spc);
  if (sb.fatBits !== 32) sb.fatBits = totalClusters > MAX_FAT12 ? 16 : 12;
  const maxFat = sb.fatBits === 32 ? MAX_FAT32 : sb.fatBits === 16 ? MAX_FAT16 : MAX_FAT12;
  if (totalClusters > maxFat || totalSectors < sb.dataStart) refuse(`count of clusters too big (${totalClusters})`);
  const fatClusters = Math.floor((sb.fatLength * secSize * 8) / sb.fatBits);
  sb.maxCluster = Math.min(totalClusters, fatClusters - FAT_START_ENT) + FAT_START_ENT;
  if (sb.isFat32 && (sb.rootCluster < FAT_START_ENT || sb.rootCluster >= sb.maxCluster)) {
    refuse(`bogus root cluster (${sb.rootCluster})`);
  }
  if ((sb.dataStart + totalClusters * spc) * secSize > bdev.size) {
    sb.fatMsg(KERN_WARNING, 'Device size is smaller than the filesystem size');
  }
  sb.blocksize = sb.clusterSize;
  sb.timeGranularityNs = 2e9;
  sb.maxFileSize = 0xffffffff;
  sb.maxNameLen = isvfat ? 1530 : 255;
  sb.maxLinks = 0xffffffff;

  // The whole first FAT, kept in memory.
  const fatBytes = Math.ceil(((sb.maxCluster * sb.fatBits) / 8) / secSize) * secSize;
  try {
    sb.fat = await sb.readSectors(sb.fatStart, Math.min(sb.fatLength, fatBytes / secSize));
  } catch {
    sb.fatMsg(KERN_ERR, 'unable to read the FAT');
    fail(EIO);
  }
  if (sb.fat.length < fatBytes) { const f = new Uint8Array(fatBytes); f.set(sb.fat); sb.fat = f; }
  // The in-memory FAT is kernel memory under mem= (ENOMEM for a FAT larger than what is free).
  const fatPages = Math.ceil(sb.fat.length / 4096);
  sb.vfs.mem.charge('kernel', fatPages);
  sb.fatPages = fatPages;
  try {
    return await fatFillRest(sb, b, ro, opts.usefree);
  } catch (e) {
    sb.vfs.mem.uncharge('kernel', fatPages);
    throw e;
  }
}

async function fatFillRest(sb: FatSb, b: Uint8Array, ro: boolean, usefree: boolean): Promise<FatSb> {
  const bdev = sb.bdev, secSize = sb.secSize;

  if (sb.isFat32 && sb.fsinfoSector) {
    const fi = await bdev.bread(sb.fsinfoSector, secSize);
    if (le32(fi, 0) !== FSINFO_SIG1 || le32(fi, 484) !== FSINFO_SIG2) {
      sb.fatMsg(KERN_WARNING, `Invalid FSINFO signature: 0x${le32(fi, 0).toString(16).padStart(8, '0')}, 0x${le32(fi, 484).toString(16).padStart(8, '0')} (sector = ${sb.fsinfoSector})`);
    } else {
      sb.fsinfoValid = true;
      if (usefree) sb.freeClusters = le32(fi, 488);
      const hint = le32(fi, 492);
      if (hint >= FAT_START_ENT && hint < sb.maxCluster) sb.prevFree = hint;
    }
  }
  // Like fat_count_free_clusters on first use; a stale FSInfo count is corrected at sync.
  if (sb.freeClusters === -1 || sb.freeClusters > sb.maxCluster - FAT_START_ENT) sb.countFree();

  const state = b[sb.isFat32 ? 65 : 37]!;
  if (state & FAT_STATE_DIRTY) {
    sb.dirtyAtMount = true;
    if (!ro) sb.fatMsg(KERN_WARNING, 'Volume was not properly unmounted. Some data may be corrupt. Please run fsck.');
  }
  const root: FatInode = await fatReadRoot(sb);
  sb.root = new Dentry('/', null, root);
  if (!ro && !bdev.readOnly) await setState(sb, true);
  if (bdev.readOnly) sb.flags |= MS_RDONLY;
  return sb;
}
