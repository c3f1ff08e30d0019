/*
 * mkfs for FAT: the layout mkfs.fat (dosfstools 4.2) would write on an image of the same size.
 *
 * A FAT volume is four regions laid end to end: reserved sectors (the boot sector with its BIOS
 * parameter block; on FAT32 also the FSInfo sector and a backup copy of both at sector 6), the
 * FATs (identical copies of the cluster map), on FAT12/16 a fixed root directory, and the data
 * area cut into clusters numbered from 2. Formatting only has to write the metadata: reserved
 * sectors, zeroed FATs whose first entries carry the media byte, and the root directory (the root
 * directory area, or on FAT32 cluster 2 marked end-of-chain in the FAT). The data area is never
 * touched, so formatting a sparse 40 GiB image writes a few MiB.
 *
 * The parameters follow mkfs.fat step by step, because other tools (and people) expect the same
 * image for the same size: the CHS geometry from the SD-card recommendation or LBA-assist
 * translation, the sector count trimmed to a whole number of tracks, FAT32 chosen from 512 MiB
 * up, cluster size from Microsoft's table for FAT32 and otherwise the smallest power of two from
 * 4 sectors for which the cluster count fits the FAT type, reserved sectors, FATs and root
 * directory each rounded up to a cluster so that clusters are aligned (skipped for images of 8192
 * sectors or less), and the floppy presets (media, geometry, root size) for 360K/720K/1.2M/1.44M/
 * 2.88M images. The FAT type, when not forced, is the one giving more clusters (FAT12 vs FAT16),
 * with cluster counts 4085 and 4086 avoided because Windows and Linux disagree about them.
 *
 * Intentional differences: the label's timestamp is the given time in UTC (mkfs.fat uses local
 * time, or UTC with --invariant); labels are ASCII only (mkfs.fat converts through codepage 850);
 * without a volume id or time the result is still deterministic (see MkfsVfatOptions).
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENOSPC } from '../../uapi/errno.js';

export interface MkfsVfatDevice {
  /** Bytes available for the filesystem. */
  size: number;
  write(offset: number, bytes: Uint8Array): void | Promise<void>;
}

export interface MkfsVfatOptions {
  /** -F: 12, 16 or 32; chosen as mkfs.fat does when absent. */
  fatSize?: 12 | 16 | 32;
  /** -n: volume label, up to 11 ASCII characters; absent or blank means "NO NAME". */
  label?: string;
  /** -S: logical sector size, a power of two from 512 to 32768. */
  sectorSize?: number;
  /** -s: sectors per cluster, a power of two from 1 to 128. */
  sectorsPerCluster?: number;
  /** -i: 32-bit volume id. Default: derived from `time`, or 0x1234abcd (mkfs.fat --invariant). */
  volumeId?: number;
  /** -R: reserved sectors (at least 2 on FAT32); rounded up to a cluster when aligning. */
  reservedSectors?: number;
  /** -r: root directory entries (16..32768), FAT12/16 only. */
  rootEntries?: number;
  /** -f: number of FATs, 1..4. */
  numFats?: number;
  /** -M: media byte (0xf0 or 0xf8..0xff). */
  media?: number;
  /** -h: hidden sectors (sectors before this filesystem on its disk). */
  hiddenSectors?: number;
  /** -a: no alignment of the data structures to clusters. */
  noAlign?: boolean;
  /** Creation time (seconds since the epoch, UTC) stamped on the label entry; 1980-01-01 if absent. */
  time?: number;
  /**
   * Treat the target as a fixed disk: no floppy presets. mkfs.fat applies them to image files
   * and removable media; false (the default) matches `mkfs.fat` on an image file.
   */
  fixedDisk?: boolean;
}

export interface MkfsVfatSummary {
  fatType: 12 | 16 | 32;
  sectorSize: number;
  sectorsPerCluster: number;
  /** Bytes per cluster. */
  clusterSize: number;
  clusterCount: number;
  /** Sectors per FAT. */
  fatLength: number;
  numFats: number;
  reservedSectors: number;
  /** Root directory entries (0 on FAT32). */
  rootEntries: number;
  totalSectors: number;
  /** First sector of cluster 2. */
  dataStartSector: number;
  /** Free clusters right after formatting (FAT32 root takes one). */
  freeClusters: number;
  volumeId: number;
  /** The 11-byte label field as written ("NO NAME    " when none). */
  label: string;
  media: number;
  heads: number;
  sectorsPerTrack: number;
  hiddenSectors: number;
}

const MAX_CLUST_12 = 4084;
const MIN_CLUST_16 = 4087;
const MAX_CLUST_16 = 65524;
const MIN_CLUST_32 = 65525;
const MAX_CLUST_32 = 268435446;
const NO_NAME = 'NO NAME    ';
const BOOTCODE_SIZE = 448;
const BOOTCODE_FAT32_SIZE = 420;
/** Offset of the message inside the boot code; the code's `mov si, imm16` is patched to point at it. */
const MESSAGE_OFFSET = 29;
const BOOT_CODE: number[] = [
  0x0e, 0x1f, 0xbe, 0x5b, 0x7c, 0xac, 0x22, 0xc0, 0x74, 0x0b, 0x56, 0xb4, 0x0e, 0xbb, 0x07, 0x00,
  0xcd, 0x10, 0x5e, 0xeb, 0xf0, 0x32, 0xe4, 0xcd, 0x16, 0xcd, 0x19, 0xeb, 0xfe,
  ...Array.from('This is not a bootable disk.  Please insert a bootable floppy and\r\n' +
    'press any key to try again ... \r\n', (c) => c.charCodeAt(0)),
];

/** Floppy presets by size in KiB: [sectors per track, heads, media, sectors per cluster, root entries]. */
const FLOPPIES: Record<number, [number, number, number, number, number]> = {
  360: [9, 2, 0xfd, 2, 112],
  720: [9, 2, 0xf9, 2, 112],
  1200: [15, 2, 0xf9, 1, 224],
  1440: [18, 2, 0xf0, 1, 224],
  2880: [36, 2, 0xf0, 2, 224],
};

const cdiv = (a: number, b: number) => Math.floor((a + b - 1) / b);
const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** mkfs.fat's label rules; returns the 11 bytes of the label field. */
function labelField(label: string | undefined): string {
  const l = label ?? '';
  if (l.length > 11) fail(EINVAL, 'label can be no longer than 11 characters');
  for (const ch of l) {
    const c = ch.charCodeAt(0);
    if (c > 0x7e) fail(EINVAL, 'label: only ASCII characters are supported');
    if (c < 0x20) fail(EINVAL, 'labels with characters below 0x20 are not allowed');
    if ('*?.,;:/\\|+=<>[]"'.includes(ch)) fail(EINVAL, 'labels with characters *?.,;:/\\|+=<>[]" are not allowed');
  }
  let f = l.padEnd(11, ' ');
  if (f === '           ') f = NO_NAME;
  if (f[0] === ' ') fail(EINVAL, "label can't start with a space character");
  return f;
}

/** FAT date and time (2 s resolution) of a UTC instant; 1980-01-01 00:00 outside 1980..2107. */
function fatDateTime(sec: number | undefined): { time: number; date: number } {
  if (sec === undefined) return { time: 0, date: 1 | (1 << 5) };
  const d = new Date(sec * 1000);
  const y = d.getUTCFullYear();
  if (!(y >= 1980 && y <= 2107)) return { time: 0, date: 1 | (1 << 5) };
  return {
    time: (d.getUTCSeconds() >> 1) | (d.getUTCMinutes() << 5) | (d.getUTCHours() << 11),
    date: d.getUTCDate() | ((d.getUTCMonth() + 1) << 5) | ((y - 1980) << 9),
  };
}

/** The layout mkfs.fat computes for this size and these options (no I/O). */
export function mkfsVfatLayout(size: number, opts: MkfsVfatOptions = {}): MkfsVfatSummary {
  const sectorSize = opts.sectorSize ?? 512;
  if (!isPow2(sectorSize) || sectorSize < 512 || sectorSize > 32768) fail(EINVAL, `bad logical sector size ${sectorSize}`);
  const spcOpt = opts.sectorsPerCluster ?? 0;
  if (spcOpt && (!isPow2(spcOpt) || spcOpt > 128)) fail(EINVAL, `bad number of sectors per cluster ${spcOpt}`);
  const numFats = opts.numFats ?? 2;
  if (!Number.isInteger(numFats) || numFats < 1 || numFats > 4) fail(EINVAL, `bad number of FATs ${numFats}`);
  let sizeFat: number = opts.fatSize ?? 0;
  if (sizeFat && sizeFat !== 12 && sizeFat !== 16 && sizeFat !== 32) fail(EINVAL, `bad FAT type ${sizeFat}`);
  const sizeFatByUser = !!opts.fatSize;
  if (opts.rootEntries !== undefined && (opts.rootEntries < 16 || opts.rootEntries > 32768)) {
    fail(EINVAL, `bad number of root directory entries ${opts.rootEntries}`);
  }
  let reserved = opts.reservedSectors ?? 0;
  if (opts.reservedSectors !== undefined && (reserved < 1 || reserved > 0xffff)) fail(EINVAL, `bad number of reserved sectors ${reserved}`);
  if (opts.media !== undefined && opts.media !== 0xf0 && (opts.media < 0xf8 || opts.media > 0xff)) {
    fail(EINVAL, 'media byte must be between 0xf8 and 0xff or be 0xf0');
  }
  if (!Number.isSafeInteger(size) || size <= 0) fail(EINVAL, 'bad device size');
  const label = labelField(opts.label);

  // establish_params: geometry and media defaults.
  const total = Math.floor(size / sectorSize);
  let heads: number, secsTrack: number;
  if (total <= 524288) {
    heads = total <= 32768 ? 2 : total <= 65536 ? 4 : total <= 262144 ? 8 : 16;
    secsTrack = total <= 4096 ? 16 : 32;
  } else {
    heads = total <= 16 * 63 * 1024 ? 16 : total <= 32 * 63 * 1024 ? 32 : total <= 64 * 63 * 1024 ? 64 :
      total <= 128 * 63 * 1024 ? 128 : 255;
    secsTrack = 63;
  }
  let media = 0xf8, clusterSize = 4, rootEntries = 512;
  const floppy = opts.fixedDisk ? undefined : FLOPPIES[Math.floor(size / 1024)];
  if (floppy) [secsTrack, heads, media, clusterSize, rootEntries] = floppy;
  if (!sizeFat && size >= 512 * 1024 * 1024) sizeFat = 32;
  if (sizeFat === 32) {
    const s = total;
    clusterSize = s > 32 * 1024 * 1024 * 2 ? 64 : s > 16 * 1024 * 1024 * 2 ? 32 : s > 8 * 1024 * 1024 * 2 ? 16 :
      s > 260 * 1024 * 2 ? 8 : 1;
  }
  const hidden = opts.hiddenSectors ?? 0;
  if (!Number.isInteger(hidden) || hidden < 0 || hidden > 0xffffffff) fail(EINVAL, 'bad number of hidden sectors');
  if (opts.rootEntries !== undefined) rootEntries = opts.rootEntries;
  if (opts.media !== undefined) media = opts.media;

  // setup_tables.
  if (spcOpt) clusterSize = spcOpt;
  if (sizeFat === 32) rootEntries = 0;
  if (!reserved) reserved = sizeFat === 32 ? 32 : 1;
  else if (sizeFat === 32 && reserved < 2) fail(EINVAL, 'on FAT32 at least 2 reserved sectors are needed');

  const blocks = Math.floor(size / 1024);
  const orphaned = Math.floor((size % 1024) / sectorSize);
  let numSectors = Math.floor(blocks * 1024 / sectorSize) + orphaned;
  let blocksUsed = blocks;
  if (numSectors > 0xffffffff) {
    numSectors = 0xffffffff;
    blocksUsed = Math.floor(0xffffffff * sectorSize / 1024);
  }
  let align = !opts.noAlign;
  if (align) numSectors = Math.floor(numSectors / secsTrack) * secsTrack;
  const rootDirSectors = cdiv(rootEntries * 32, sectorSize);
  if (numSectors <= 8192) align = false;
  const alignObj = (n: number, c: number) => align ? Math.ceil(n / c) * c : n;
  const maxClusterSize = spcOpt || 128;

  let clust12 = 0, clust16 = 0, clust32 = 0, fatlen12 = 0, fatlen16 = 0, fatlen32 = 0;
  for (;;) {
    const fatdata32 = numSectors - alignObj(reserved, clusterSize);
    const fatdata1216 = fatdata32 - alignObj(rootDirSectors, clusterSize);

    clust12 = Math.floor(2 * (fatdata1216 * sectorSize + numFats * 3) / (2 * clusterSize * sectorSize + numFats * 3));
    fatlen12 = alignObj(cdiv(((clust12 + 2) * 3 + 1) >> 1, sectorSize), clusterSize);
    clust12 = Math.floor((fatdata1216 - numFats * fatlen12) / clusterSize);
    const maxclust12 = Math.min(Math.floor(fatlen12 * 2 * sectorSize / 3), MAX_CLUST_12);
    if (clust12 > maxclust12 || clust12 < 0) clust12 = 0;

    clust16 = Math.floor((fatdata1216 * sectorSize + numFats * 4) / (clusterSize * sectorSize + numFats * 2));
    fatlen16 = alignObj(cdiv((clust16 + 2) * 2, sectorSize), clusterSize);
    clust16 = Math.floor((fatdata1216 - numFats * fatlen16) / clusterSize);
    const maxclust16 = Math.min(Math.floor(fatlen16 * sectorSize / 2), MAX_CLUST_16);
    if (clust16 > maxclust16 || clust16 < 0) clust16 = 0;
    if (clust16 && clust16 < MIN_CLUST_16) clust16 = 0;

    clust32 = Math.floor((fatdata32 * sectorSize + numFats * 8) / (clusterSize * sectorSize + numFats * 4));
    fatlen32 = alignObj(cdiv((clust32 + 2) * 4, sectorSize), clusterSize);
    clust32 = Math.floor((fatdata32 - numFats * fatlen32) / clusterSize);
    const maxclust32 = Math.min(Math.floor(fatlen32 * sectorSize / 4), MAX_CLUST_32);
    if (clust32 > maxclust32 || clust32 < 0) clust32 = 0;
    if (clust32 && clust32 < MIN_CLUST_32 && !(sizeFatByUser && sizeFat === 32)) clust32 = 0;

    if ((clust12 && (sizeFat === 0 || sizeFat === 12)) || (clust16 && (sizeFat === 0 || sizeFat === 16)) ||
      (clust32 && sizeFat === 32)) break;
    clusterSize <<= 1;
    // The BPB field is a byte: 128 << 1 wraps to 0 and ends the search.
    if (clusterSize > 128 || clusterSize > maxClusterSize) break;
  }
  if (!sizeFat) sizeFat = clust16 > clust12 ? 16 : 12;
  const fatType = sizeFat as 12 | 16 | 32;
  const clusterCount = fatType === 12 ? clust12 : fatType === 16 ? clust16 : clust32;
  const fatLength = fatType === 12 ? fatlen12 : fatType === 16 ? fatlen16 : fatlen32;
  if (!clusterCount || clusterSize > 128) {
    fail(ENOSPC, spcOpt ? 'not enough or too many clusters for filesystem - try less or more sectors per cluster'
      : 'attempting to create a too small or a too large filesystem');
  }
  reserved = alignObj(reserved, clusterSize);
  if (fatType === 32) rootEntries = 0;
  else if (align) rootEntries = alignObj(rootDirSectors, clusterSize) * (sectorSize >> 5);

  const dataStart = reserved + numFats * fatLength + cdiv(rootEntries * 32, sectorSize);
  const startDataBlock = Math.ceil(dataStart * (sectorSize / 512) / 2);
  if (blocksUsed < startDataBlock + 32) fail(ENOSPC, 'too few blocks for viable filesystem');

  let volumeId = opts.volumeId;
  if (volumeId === undefined) {
    // mkfs.fat mixes the clock's seconds and microseconds; with only seconds, mix those.
    volumeId = opts.time === undefined ? 0x1234abcd : (Math.imul(opts.time >>> 0, 0x9e3779b1) >>> 0);
  }
  if (!Number.isInteger(volumeId) || volumeId < 0 || volumeId > 0xffffffff) fail(EINVAL, 'volume id does not fit in 32 bits');

  return {
    fatType, sectorSize, sectorsPerCluster: clusterSize, clusterSize: clusterSize * sectorSize, clusterCount,
    fatLength, numFats, reservedSectors: reserved, rootEntries, totalSectors: numSectors,
    dataStartSector: dataStart, freeClusters: fatType === 32 ? clusterCount - 1 : clusterCount,
    volumeId, label, media, heads, sectorsPerTrack: secsTrack, hiddenSectors: hidden,
  };
}

/** The 512-byte boot sector (also the FAT32 backup). */
export function vfatBootSector(L: MkfsVfatSummary): Uint8Array {
  const bs = new Uint8Array(512);
  const v = new DataView(bs.buffer);
  const f32 = L.fatType === 32;
  const ascii = (off: number, s: string) => { for (let i = 0; i < s.length; i++) bs[off + i] = s.charCodeAt(i); };
  // Jump over the BPB to the boot code: 0x3c + 2 = 62 on FAT12/16, 0x58 + 2 = 90 on FAT32.
  bs[0] = 0xeb; bs[1] = f32 ? 0x58 : 0x3c; bs[2] = 0x90;
  ascii(3, 'mkfs.fat');
  v.setUint16(11, L.sectorSize, true);
  bs[13] = L.sectorsPerCluster;
  v.setUint16(14, L.reservedSectors, true);
  bs[16] = L.numFats;
  v.setUint16(17, L.rootEntries, true);
  if (L.totalSectors >= 65536) v.setUint32(32, L.totalSectors, true);
  else v.setUint16(19, L.totalSectors, true);
  bs[21] = L.media;
  v.setUint16(22, f32 ? 0 : L.fatLength, true);
  v.setUint16(24, L.sectorsPerTrack, true);
  v.setUint16(26, L.heads, true);
  v.setUint32(28, L.hiddenSectors, true);
  let vi = 36;
  if (f32) {
    v.setUint32(36, L.fatLength, true);
    v.setUint16(40, 0, true); // mirroring on, active FAT 0
    v.setUint16(42, 0, true); // version 0.0
    v.setUint32(44, 2, true); // root directory cluster
    v.setUint16(48, 1, true); // FSInfo sector
    v.setUint16(50, backupBootSector(L), true);
    vi = 64;
  }
  bs[vi] = L.media === 0xf8 ? 0x80 : 0x00;
  bs[vi + 2] = 0x29; // extended boot signature: id, label and type follow
  v.setUint32(vi + 3, L.volumeId, true);
  ascii(vi + 7, L.label);
  ascii(vi + 18, f32 ? 'FAT32   ' : L.fatType === 16 ? 'FAT16   ' : 'FAT12   ');
  const code = vi + 26;
  const codeLen = f32 ? BOOTCODE_FAT32_SIZE : BOOTCODE_SIZE;
  bs.set(BOOT_CODE.slice(0, codeLen - 1), code);
  const msg = code + MESSAGE_OFFSET + 0x7c00;
  bs[code + 3] = msg & 0xff; bs[code + 4] = msg >> 8;
  bs[510] = 0x55; bs[511] = 0xaa;
  return bs;
}

function backupBootSector(L: MkfsVfatSummary): number {
  const r = L.reservedSectors, info = 1;
  return r >= 7 ? 6 : r >= 3 + info && info !== r - 2 && info !== r - 1 ? r - 2 : r >= 3 && info !== r - 1 ? r - 1 : 0;
}

/** The FAT32 FSInfo sector's first 512 bytes: free count and next-free hint as after formatting. */
function fsInfoSector(L: MkfsVfatSummary): Uint8Array {
  const b = new Uint8Array(512);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x41615252, true); // "RRaA"
  v.setUint32(0x1e4, 0x61417272, true); // "rrAa"
  v.setUint32(0x1e8, L.clusterCount - 1, true);
  v.setUint32(0x1ec, 2, true);
  b[510] = 0x55; b[511] = 0xaa;
  return b;
}

/**
 * Format `dev` as mkfs.fat would (see the file comment). Writes the reserved sectors, every FAT
 * and the root directory, nothing else. Throws KernelError EINVAL for bad options and ENOSPC when
 * the size cannot hold a FAT of the requested kind.
 */
export async function mkfsVfat(dev: MkfsVfatDevice, opts: MkfsVfatOptions = {}): Promise<MkfsVfatSummary> {
  const L = mkfsVfatLayout(dev.size, opts);
  const ss = L.sectorSize;
  const boot = vfatBootSector(L);

  // Reserved area: zeroed, then boot sector (and on FAT32 FSInfo, backup boot, backup FSInfo).
  const reserved = new Uint8Array(L.reservedSectors * ss);
  reserved.set(boot, 0);
  if (L.fatType === 32) {
    const info = fsInfoSector(L);
    reserved.set(info, ss);
    const bk = backupBootSector(L);
    if (bk) {
      reserved.set(boot, bk * ss);
      if (bk + 1 < L.reservedSectors) reserved.set(info, (bk + 1) * ss);
    }
  }
  await dev.write(0, reserved);

  // FATs: entry 0 holds the media byte, entry 1 end-of-chain; on FAT32 entry 2 ends the root's chain.
  const head = new Uint8Array(Math.min(L.fatLength * ss, 1 << 20));
  if (L.fatType === 12) head.set([L.media, 0xff, 0xff]);
  else if (L.fatType === 16) head.set([L.media, 0xff, 0xff, 0xff]);
  else head.set([L.media, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 0xf8, 0xff, 0xff, 0x0f]);
  const zeros = new Uint8Array(head.length);
  for (let i = 0; i < L.numFats; i++) {
    const base = (L.reservedSectors + i * L.fatLength) * ss;
    const end = base + L.fatLength * ss;
    for (let off = base; off < end; off += zeros.length) {
      const chunk = off === base ? head : zeros;
      await dev.write(off, end - off < chunk.length ? chunk.subarray(0, end - off) : chunk);
    }
  }

  // Root directory: the fixed area on FAT12/16, cluster 2 on FAT32; the label is its first entry.
  const rootBytes = L.fatType === 32 ? L.clusterSize : L.rootEntries * 32;
  const root = new Uint8Array(rootBytes);
  if (L.label !== NO_NAME) {
    for (let i = 0; i < 11; i++) root[i] = L.label.charCodeAt(i);
    root[11] = 0x08; // ATTR_VOLUME
    const { time, date } = fatDateTime(opts.time);
    const v = new DataView(root.buffer);
    v.setUint16(14, time, true); v.setUint16(16, date, true); // creation
    v.setUint16(18, date, true); // access
    v.setUint16(22, time, true); v.setUint16(24, date, true); // modification
  }
  await dev.write((L.reservedSectors + L.numFats * L.fatLength) * ss, root);
  return L;
}
