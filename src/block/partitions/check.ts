/*
 * The state one partition-table scan shares between the table parsers (Linux's check.h).
 *
 * A scan reads the disk through a caller-supplied function and fills a table of slots indexed by
 * partition number: slot n is partition n (vda<n>), 1 <= n < limit. Parsers record a partition
 * with put(); empty slots simply stay empty, which is how "vda3 without vda1 and vda2" happens.
 * Alongside the slots the scan keeps the tokens of the line Linux prints ("vda1 vda2 < vda5 >"):
 * a slot is listed there even when the block layer later drops it for lying beyond the disk end.
 *
 * Every address here is in 512-byte units, whatever the disk's logical block size: Linux's
 * sector_t. Parsers that think in logical blocks (GPT LBAs, MBR entries on a 4K disk) scale by
 * `ss` (logical block size / 512) before calling put().
 *
 * Reading never throws: readSector() returns null for a sector past the end (and remembers that
 * it was asked, like Linux's access_beyond_eod) or for an I/O error of the backend, and the
 * parsers treat null as "no table here". Sectors are cached for the scan's lifetime, so a looping
 * EBR chain costs memory lookups, not I/O.
 */

export interface PartitionInfo {
  /** Linux's partition number: vda<number>. */
  number: number;
  /** First sector, in 512-byte sectors from the disk start. */
  startSector: number;
  /** Length in 512-byte sectors (already clamped to the disk end, as Linux does). */
  nrSectors: number;
  /** 'mbr:0x83', 'gpt:0fc63daf-8483-4772-8e79-3d69d8477de4' (lowercase GUID). */
  type?: string;
  /** GPT: the entry's name as Linux keeps it (PARTNAME): 7-bit, non-printable as '!'. */
  name?: string;
  /** PARTUUID: GPT unique partition GUID; MBR "<disk signature %08x>-<number %02x>". */
  uuid?: string;
  /** MBR boot indicator 0x80; GPT attribute bit 2 (legacy BIOS bootable). */
  bootable?: boolean;
}

/** A token of Linux's partition line: a partition number, or the brackets around logicals. */
export type PartitionLineToken = number | '<' | '>';

export interface ScanOptions {
  /** Logical block size of the disk in bytes: 512 (default) or 4096 (a power of two >= 512). */
  sectorSize?: number;
  /** Disk name for messages and the partition line ("vda"); default "disk". */
  diskName?: string;
  /**
   * Linux's `gpt` kernel parameter (force_gpt): skip the protective-MBR check and, when the
   * primary GPT is bad, try the alternate header at the last LBA. Default false, as in Linux.
   */
  forceGpt?: boolean;
  /** Highest partition number + 1 (Linux's state->limit, DISK_MAX_PARTS = 256). */
  maxParts?: number;
  /**
   * Also log Linux's pr_debug messages ("GUID Partition Table Header CRC is wrong: ...") and read
   * errors, at KERN_DEBUG. Off by default: Linux compiles them out, so dmesg matches without.
   */
  debug?: boolean;
}

/** printk levels used here (same values as src/kernel/printk). */
export const KERN_WARNING = 4, KERN_INFO = 6, KERN_DEBUG = 7;

export type ReadFn = (offset: number, length: number) => Uint8Array | Promise<Uint8Array>;
export type LogFn = (level: number, msg: string) => void;

/** What a parser records for one slot before the block layer clamps it to the disk. */
export interface Slot {
  from: number;
  size: number;
  type?: string;
  name?: string;
  uuid?: string;
  bootable?: boolean;
}

/** Bound on cached sectors: a worst-case EBR chain touches ~25k sectors; keep the first ones. */
const CACHE_MAX = 4096;

export class ParsedPartitions {
  /** Disk size in 512-byte sectors (get_capacity). */
  readonly capacity: number;
  /** Logical block size in 512-byte units (1 or 8). */
  readonly ss: number;
  /** Logical block size in bytes. */
  readonly lbs: number;
  readonly limit: number;
  readonly slots = new Map<number, Slot>();
  tokens: PartitionLineToken[] = [];
  /** Next logical partition number (msdos). */
  next = 0;
  accessBeyondEod = false;
  ioError = false;
  /** msdos found a FAT boot sector, not a table: the disk is claimed with no partitions. */
  fatBootSector = false;
  private cache = new Map<number, Uint8Array | null>();

  constructor(
    private readonly readFn: ReadFn,
    readonly sizeBytes: number,
    readonly log: LogFn,
    lbs: number,
    limit: number,
    readonly forceGpt: boolean,
    private readonly debugOn = false,
  ) {
    this.capacity = Math.floor(sizeBytes / 512);
    this.lbs = lbs;
    this.ss = lbs / 512;
    this.limit = limit;
  }

  /** Linux's pr_debug(): only with ScanOptions.debug. */
  debug(msg: string): void {
    if (this.debugOn) this.log(KERN_DEBUG, msg);
  }

  /** Forget what a failed parser recorded (Linux clears parts[] before each parser). */
  reset(): void {
    this.slots.clear();
    this.tokens = [];
    this.next = 0;
    this.fatBootSector = false;
  }

  /** Record partition n (put_partition): ignored when n is out of range. */
  put(n: number, from: number, size: number, info: Omit<Slot, 'from' | 'size'> = {}): void {
    if (n < this.limit) {
      this.slots.set(n, { from, size, ...info });
      this.tokens.push(n);
    }
  }

  /** 512 bytes of sector n (512-byte units), or null past the end or on an I/O error. */
  async readSector(n: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.capacity) {
      this.accessBeyondEod = true;
      return null;
    }
    const hit = this.cache.get(n);
    if (hit !== undefined) return hit;
    const data = await this.readBytes(n * 512, 512);
    if (this.cache.size < CACHE_MAX) this.cache.set(n, data);
    return data;
  }

  /**
   * `count` bytes from sector n on (Linux's read_lba loop), or null when any of it lies past the
   * end or cannot be read. Large reads (GPT entry arrays) go to the backend in one request.
   */
  async readRun(n: number, count: number): Promise<Uint8Array | null> {
    if (count <= 512) {
      const s = await this.readSector(n);
      return s && (count === 512 ? s : s.subarray(0, count));
    }
    const sectors = Math.ceil(count / 512);
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.capacity) {
      this.accessBeyondEod = true;
      return null;
    }
    if (n + sectors > this.capacity) {
      // Linux reads up to the end, then read_part_sector refuses the next sector.
      this.accessBeyondEod = true;
      return null;
    }
    return this.readBytes(n * 512, count);
  }

  private async readBytes(offset: number, length: number): Promise<Uint8Array | null> {
    try {
      const data = await this.readFn(offset, length);
      if (!(data instanceof Uint8Array) || data.length < length) {
        this.ioError = true;
        this.debug(`partitions: short read at byte ${offset} (${data?.length ?? 0} of ${length})`);
        return null;
      }
      return data.length === length ? data : data.subarray(0, length);
    } catch (e) {
      this.ioError = true;
      this.debug(`partitions: read error at byte ${offset}: ${(e as Error)?.message ?? e}`);
      return null;
    }
  }
}

/** Little-endian readers over a byte array (unaligned, as on-disk tables are). */
export function le16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
export function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
export function le64(b: Uint8Array, o: number): bigint {
  return (BigInt(le32(b, o + 4)) << 32n) | BigInt(le32(b, o));
}

export function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
