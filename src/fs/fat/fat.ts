/*
 * The mounted FAT filesystem (Linux's msdos_sb_info) and its File Allocation Table (fatent.c).
 *
 * A FAT volume is: reserved sectors (boot sector, FSInfo on FAT32), N copies of the FAT, on
 * FAT12/16 a fixed root directory region, then the data area cut into clusters numbered from 2.
 * The FAT holds one entry per cluster: 0 free, a next-cluster number, or an end-of-chain mark
 * (values at or above the "bad" mark count as end of chain, as Linux's fat*_ent_get do). A file
 * is its first cluster (in its directory entry) plus the chain.
 *
 * This driver keeps a copy of the first FAT in memory (it is small: 1.5, 2 or 4 bytes per
 * cluster) so chain walks and allocation never wait; a changed FAT sector is written to every
 * FAT copy (mirroring) through the block cache by fatFlush() at the end of each operation.
 * The free count and the next-free hint (FSInfo on FAT32) are kept as Linux does: the count is
 * computed from the FAT at mount (fat_count_free_clusters), the hint is where the last
 * allocation ended, and both are written to FSInfo on sync and unmount.
 *
 * Corruption (a chain into a free or out-of-range cluster, a loop, a chain shorter than the
 * file) is reported with fatFsError() — "FAT-fs (vda): error, ..." — which applies errors=
 * (remount-ro by default) and returns the EIO to throw. Chain walks are bounded by the
 * cluster count, so a loop can never hang the kernel.
 */
import { KernelError } from '../../lib/errors.js';
import { EIO } from '../../uapi/errno.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import type { Timespec } from '../../uapi/stat.js';
import { SuperBlock, Inode, type FileSystemType, type SuperOperations, type Vfs } from '../vfs/index.js';
import type { BlockDevice } from '../../block/index.js';
import { KERN_ERR, KERN_EMERG } from '../../kernel/printk/index.js';

export { KERN_ERR, KERN_WARNING, KERN_INFO, KERN_EMERG } from '../../kernel/printk/index.js';

export const FAT_START_ENT = 2;
export const FAT_ENT_FREE = 0;
/** Normalised end-of-chain (what entryGet returns for any EOF or BAD value). */
export const FAT_ENT_EOF = -1;
export const MSDOS_ROOT_INO = 1;

/* Directory entry attributes. */
export const ATTR_RO = 0x01, ATTR_HIDDEN = 0x02, ATTR_SYS = 0x04, ATTR_VOLUME = 0x08, ATTR_DIR = 0x10,
  ATTR_ARCH = 0x20, ATTR_EXT = 0x0f;
/* The NT reserved byte: base / extension of the short name are lower case. */
export const CASE_LOWER_BASE = 0x08, CASE_LOWER_EXT = 0x10;
export const DELETED_FLAG = 0xe5;
export const MSDOS_DIR_BITS = 5;

/* Volume state bit of the boot sector (FAT16 offset 37, FAT32 offset 65). */
export const FAT_STATE_DIRTY = 0x01;

export interface FatOptions {
  uid: number; gid: number; fmask: number; dmask: number; allowUtime: number;
  /** shortname=: display (lower|win95|winnt) and create (win95|winnt) rules. */
  shortname: 'lower' | 'win95' | 'winnt' | 'mixed';
  utf8: boolean;
  iocharset: string;
  codepage: number;
  /** Offset of the volume's local time from UTC in minutes (tz=UTC: 0; time_offset=). */
  tzMinutes: number;
  tzSet: boolean;
  errors: 'continue' | 'remount-ro' | 'panic';
  quiet: boolean;
  showexec: boolean;
  rodir: boolean;
  numtail: boolean;
  flush: boolean;
  usefree: boolean;
  discard: boolean;
  dots: boolean;
  isvfat: boolean;
}

export class FatSb extends SuperBlock {
  readonly bdev: BlockDevice;
  opts: FatOptions;
  secSize = 512;
  secPerClus = 1;
  clusterSize = 512;
  fatStart = 0;
  fatLength = 0;
  fats = 2;
  /** FAT12/16: first sector and sector count of the fixed root directory. */
  dirStart = 0;
  dirEntries = 0;
  dataStart = 0;
  /** One past the highest valid cluster number. */
  maxCluster = 0;
  fatBits = 12;
  /** FAT32: first cluster of the root directory. */
  rootCluster = 0;
  fsinfoSector = 0;
  /** FSInfo signatures were valid (only then is it rewritten). */
  fsinfoValid = false;
  freeClusters = -1;
  prevFree = FAT_START_ENT;
  /** The volume was already marked dirty when mounted: leave the state bit alone. */
  dirtyAtMount = false;
  fat!: Uint8Array;
  /** Pages charged to the memory budget for `fat`. */
  fatPages = 0;
  readonly dirtyFat = new Set<number>();
  /** In-memory inodes by i_pos (position of their short entry), like Linux's fat inode hash. */
  readonly icache = new Map<number, Inode>();
  nextIno = 2;
  /** Numbers readdir handed out for entries not yet in memory (iunique, kept for lookup). */
  readonly inoByIpos = new Map<number, number>();
  /** Which directory's cached image holds a sector (so entry updates patch the cache). */
  readonly dirSectorOwner = new Map<number, FatInode>();

  constructor(vfs: Vfs, type: FileSystemType, flags: number, op: SuperOperations, bdev: BlockDevice, opts: FatOptions) {
    super(vfs, type, flags, op, bdev.name);
    this.bdev = bdev;
    this.dev = bdev.dev;
    this.opts = opts;
  }

  get isFat32(): boolean { return this.fatBits === 32; }

  /** First sector of cluster `c`. */
  clusterSector(c: number): number { return this.dataStart + (c - FAT_START_ENT) * this.secPerClus; }

  /** fat_ent_read: the entry of cluster `c`, FAT_ENT_EOF for end-of-chain or bad marks. */
  entryGet(c: number): number {
    const f = this.fat;
    let v: number;
    if (this.fatBits === 12) {
      const o = c + (c >> 1);
      const w = f[o]! | (f[o + 1]! << 8);
      v = c & 1 ? w >> 4 : w & 0xfff;
      return v >= 0xff7 ? FAT_ENT_EOF : v;
    }
    if (this.fatBits === 16) {
      v = f[2 * c]! | (f[2 * c + 1]! << 8);
      return v >= 0xfff7 ? FAT_ENT_EOF : v;
    }
    const o = 4 * c;
    v = (f[o]! | (f[o + 1]! << 8) | (f[o + 2]! << 16) | (f[o + 3]! << 24)) & 0x0fffffff;
    return v >= 0x0ffffff7 ? FAT_ENT_EOF : v;
  }

  /** fat_ent_write: set cluster `c`'s entry (FAT_ENT_EOF writes the end-of-chain mark). */
  entrySet(c: number, val: number): void {
    const f = this.fat;
    const mark = (o: number, n: number) => {
      for (let i = 0; i < n; i++) this.dirtyFat.add(Math.floor((o + i) / this.secSize));
    };
    if (this.fatBits === 12) {
      const v = val === FAT_ENT_EOF ? 0xfff : val & 0xfff;
      const o = c + (c >> 1);
      if (c & 1) { f[o] = (f[o]! & 0x0f) | ((v & 0x0f) << 4); f[o + 1] = v >> 4; }
      else { f[o] = v & 0xff; f[o + 1] = (f[o + 1]! & 0xf0) | (v >> 8); }
      mark(o, 2);
    } else if (this.fatBits === 16) {
      const v = val === FAT_ENT_EOF ? 0xffff : val & 0xffff;
      f[2 * c] = v & 0xff; f[2 * c + 1] = v >> 8;
      mark(2 * c, 2);
    } else {
      // The top four bits of a FAT32 entry are reserved and kept as found.
      const v = val === FAT_ENT_EOF ? 0x0fffffff : val & 0x0fffffff;
      const o = 4 * c;
      f[o] = v & 0xff; f[o + 1] = (v >> 8) & 0xff; f[o + 2] = (v >> 16) & 0xff;
      f[o + 3] = (f[o + 3]! & 0xf0) | ((v >>> 24) & 0x0f);
      mark(o, 4);
    }
  }

  /** Write changed FAT sectors to every FAT copy (through the block cache). */
  async fatFlush(): Promise<void> {
    const sectors = [...this.dirtyFat].sort((a, b) => a - b);
    this.dirtyFat.clear();
    for (const s of sectors) {
      const data = this.fat.slice(s * this.secSize, (s + 1) * this.secSize);
      for (let i = 0; i < this.fats; i++) await this.bdev.bwrite(this.fatStart + i * this.fatLength + s, this.secSize, data);
    }
  }

  /** fat_count_free_clusters */
  countFree(): number {
    let n = 0;
    for (let c = FAT_START_ENT; c < this.maxCluster; c++) if (this.entryGet(c) === FAT_ENT_FREE) n++;
    this.freeClusters = n;
    return n;
  }

  fatMsg(level: number, text: string): void { this.vfs.printk(level, `FAT-fs (${this.id}): ${text}`); }

  /**
   * __fat_fs_error: log, apply errors=, and return the error for the caller to throw.
   */
  fsError(text: string): KernelError {
    this.fatMsg(KERN_ERR, `error, ${text}`);
    if (this.opts.errors === 'panic') {
      this.vfs.panic(`FAT-fs (${this.id}): fs panic from previous error`);
    } else if (this.opts.errors === 'remount-ro' && !this.readOnly) {
      this.flags |= MS_RDONLY;
      this.fatMsg(KERN_ERR, 'Filesystem has been set read-only');
    }
    return new KernelError(EIO, text);
  }

  /**
   * The chain from `start`, checked: every link must be a valid cluster, and the walk stops
   * after maxCluster steps (a loop). `who` names the caller and `ipos` the inode in messages.
   */
  chain(start: number, who: string, ipos: number): number[] {
    const out: number[] = [];
    if (start === 0) return out;
    let c = start;
    const limit = this.maxCluster;
    for (;;) {
      if (c < FAT_START_ENT || c >= this.maxCluster) throw this.fsError(`invalid access to FAT (entry 0x${c.toString(16).padStart(8, '0')})`);
      out.push(c);
      if (out.length > limit) throw this.fsError(`${who}: detected the cluster chain loop (i_pos ${ipos})`);
      const next = this.entryGet(c);
      if (next === FAT_ENT_EOF) return out;
      if (next === FAT_ENT_FREE) throw this.fsError(`${who}: invalid cluster chain (i_pos ${ipos})`);
      c = next;
    }
  }

  /**
   * fat_alloc_clusters: `n` free clusters linked into a chain ending in EOF, searched from the
   * next-free hint so that consecutive allocations are contiguous. ENOSPC leaves nothing taken.
   */
  allocClusters(n: number): number[] | null {
    if (this.freeClusters !== -1 && this.freeClusters < n) return null;
    const got: number[] = [];
    const total = this.maxCluster - FAT_START_ENT;
    let c = this.prevFree;
    for (let scanned = 0; scanned < total && got.length < n; scanned++) {
      c++;
      if (c >= this.maxCluster) c = FAT_START_ENT;
      if (this.entryGet(c) === FAT_ENT_FREE) got.push(c);
    }
    if (got.length < n) return null;
    for (let i = 0; i < got.length; i++) this.entrySet(got[i]!, i + 1 < got.length ? got[i + 1]! : FAT_ENT_EOF);
    this.prevFree = got[got.length - 1]!;
    if (this.freeClusters !== -1) this.freeClusters -= n;
    return got;
  }

  /** fat_free_clusters: release every cluster of `list`. */
  freeList(list: number[]): void {
    for (const c of list) this.entrySet(c, FAT_ENT_FREE);
    if (this.freeClusters !== -1) this.freeClusters += list.length;
  }

  /** Read `count` sectors from `sector` as one buffer. */
  async readSectors(sector: number, count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * this.secSize);
    for (let i = 0; i < count; i++) out.set(await this.bdev.bread(sector + i, this.secSize), i * this.secSize);
    return out;
  }

  /** Overwrite `data.length` bytes at byte `off` within sector `sector` (read-modify-write). */
  async writeInSector(sector: number, off: number, data: Uint8Array): Promise<void> {
    let buf: Uint8Array;
    if (off === 0 && data.length === this.secSize) buf = data.slice();
    else {
      buf = (await this.bdev.bread(sector, this.secSize)).slice();
      buf.set(data, off);
    }
    await this.bdev.bwrite(sector, this.secSize, buf);
  }

  /* ---- time: FAT keeps local time; the offset comes from tz=UTC / time_offset= ---- */

  /** fat_time_fat2unix */
  fat2unix(time: number, date: number, cs: number): Timespec {
    const year = (date >> 9) + 1980, month = (date >> 5) & 0xf, day = date & 0x1f;
    const hour = time >> 11, min = (time >> 5) & 0x3f, sec2 = (time & 0x1f) * 2;
    let secs = Date.UTC(year, Math.max(month, 1) - 1, Math.max(day, 1), hour, min, sec2) / 1000;
    secs -= this.opts.tzMinutes * 60;
    let nsec = 0;
    if (cs) { secs += Math.floor(cs / 100); nsec = (cs % 100) * 10_000_000; }
    return { sec: secs, nsec };
  }

  /** fat_time_unix2fat, clamped to 1980-01-01 .. 2107-12-31 23:59:58 as Linux does. */
  unix2fat(ts: Timespec): { time: number; date: number; cs: number } {
    const local = ts.sec + this.opts.tzMinutes * 60;
    if (local < 315532800) return { time: 0, date: (1 << 5) | 1, cs: 0 };
    if (local >= 4354819200) return { time: (23 << 11) | (59 << 5) | 29, date: (127 << 9) | (12 << 5) | 31, cs: 199 };
    const d = new Date(local * 1000);
    const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
    const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
    const cs = (local & 1) * 100 + Math.floor(ts.nsec / 10_000_000);
    return { time, date, cs };
  }

  /**
   * The first and last instants a FAT entry can hold (s_time_min / s_time_max): 1980-01-01
   * 00:00:00 and 2107-12-31 23:59:58 local time. Times set by utimes are clamped to them.
   */
  get timeMin(): number { return this.fat2unix(0, (1 << 5) | 1, 0).sec; }
  get timeMax(): number { return this.fat2unix((23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31, 0).sec; }

  /** timestamp_truncate's range clamp for this filesystem. */
  clampTime(ts: Timespec): Timespec {
    if (ts.sec < this.timeMin) return { sec: this.timeMin, nsec: 0 };
    if (ts.sec > this.timeMax) return { sec: this.timeMax, nsec: 0 };
    return ts;
  }

  /** fat_truncate_time's atime rule: FAT keeps only the (local) date. */
  truncAtime(ts: Timespec): Timespec {
    const off = this.opts.tzMinutes * 60;
    const local = ts.sec + off;
    return { sec: local - (((local % 86400) + 86400) % 86400) - off, nsec: 0 };
  }
}

export function le16(b: Uint8Array, o: number): number { return b[o]! | (b[o + 1]! << 8); }
export function le32(b: Uint8Array, o: number): number { return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0; }
export function put16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >> 8) & 0xff; }
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; b[o + 2] = (v >>> 16) & 0xff; b[o + 3] = (v >>> 24) & 0xff;
}

/** The in-memory FAT inode (msdos_inode_info): where its entry is and where its data starts. */
export class FatInode extends Inode {
  declare sb: FatSb;

  constructor(...args: ConstructorParameters<typeof Inode>) {
    super(...args);
    // FAT stores only the access date, and every atime update goes through the filesystem
    // (fat_update_time): reads via touch_atime included. The VFS sets atime directly, so the
    // cut to the local day happens on assignment.
    let atime = this.atime;
    Object.defineProperty(this, 'atime', {
      enumerable: true, configurable: true,
      get: () => atime,
      set: (ts: Timespec) => { atime = this.sb.truncAtime(ts); },
    });
    this.atime = atime;
    this.setAtimeRaw = (ts) => { atime = ts; };
  }

  /** Set atime as given, uncut (the root's zero time, which Linux shows as is). */
  setAtimeRaw: (ts: Timespec) => void;

  /** First cluster (i_start); 0 for an empty file or the FAT12/16 root. */
  start = 0;
  /** Position of the short entry: sector * entries-per-sector + index (0: root or unlinked). */
  ipos = 0;
  /** Attribute bits kept as found (archive, system, hidden, volume) — i_attrs. */
  attrs = 0;
  /** Creation time (i_crtime), 10 ms resolution. */
  crtime: Timespec = { sec: 0, nsec: 0 };
  /** The cluster chain, computed on first use and kept in step with every change. */
  clusters: number[] | null = null;
  isRootFixed = false;
  /** Decoded entries of a directory (dir.ts dirCache), dropped on every change to it. */
  dirCache: unknown = null;

  /** The whole chain, checked (writes, directory scans, freeing). */
  getClusters(): number[] {
    if (!this.clusters) this.clusters = this.sb.chain(this.start, 'fat_get_cluster', this.ipos);
    return this.clusters;
  }

  /* The chain walked only as far as a read needs (fat_get_cluster): a bad link further on does
   * not spoil the clusters before it. */
  private prefix: number[] = [];
  private prefixStart = -1;

  /** Cluster number `idx` of the file, or FAT_ENT_EOF when the chain ends before it. */
  clusterAt(idx: number): number {
    if (this.clusters) return idx < this.clusters.length ? this.clusters[idx]! : FAT_ENT_EOF;
    const sb = this.sb;
    if (this.prefixStart !== this.start) { this.prefix = []; this.prefixStart = this.start; }
    const p = this.prefix;
    while (p.length <= idx) {
      let c: number;
      if (p.length === 0) {
        if (this.start === 0) return FAT_ENT_EOF;
        c = this.start;
      } else {
        const last = p[p.length - 1]!;
        if (p.length > sb.maxCluster) throw sb.fsError(`fat_get_cluster: detected the cluster chain loop (i_pos ${this.ipos})`);
        c = sb.entryGet(last);
        if (c === FAT_ENT_EOF) { this.clusters = p.slice(); return FAT_ENT_EOF; }
        if (c === FAT_ENT_FREE) throw sb.fsError(`fat_get_cluster: invalid cluster chain (i_pos ${this.ipos})`);
      }
      if (c < FAT_START_ENT || c >= sb.maxCluster) throw sb.fsError(`invalid access to FAT (entry 0x${c.toString(16).padStart(8, '0')})`);
      p.push(c);
    }
    return p[idx]!;
  }
}
