/*
 * Partition scanning: which parser wins, and what of its result becomes block devices
 * (Linux's check_partition() and blk_add_partitions() in block/partitions/core.c).
 *
 * Parsers are tried in Linux's order, GPT before MS-DOS (a GPT disk also carries an MBR). Each
 * answers 1 (this is my table), 0 (not mine) or -1 (could not read); the first 1 wins, and its
 * slots are kept even if they are all empty. When nobody claims the disk it has no partitions and,
 * as in Linux, nothing is printed unless a read failed or ran past the end ("unable to read
 * partition table").
 *
 * The winning slots are then checked against the disk size, in partition-number order, exactly as
 * Linux adds them: a partition starting at or past the end is dropped ("p5 start N is beyond EOD,
 * truncated"), one running past the end is clamped to it ("p2 size N extends beyond EOD,
 * truncated"), an empty one is skipped. Linux's message ends with "truncated" because virtual
 * disks cannot unlock a hidden native capacity.
 *
 * Use:
 *   const parts = await scanPartitions(read, sizeBytes, log, { diskName: 'vda' });
 * logs what Linux logs (with diskName, including the partition line at KERN_INFO) and returns
 * the partitions to create. scanPartitionTable() returns the same plus the table label and the
 * tokens of the line, for callers that print the line themselves with formatPartitionLine().
 * Nothing here throws: garbage, truncated tables and failing reads give clean (possibly empty)
 * results, and every loop is bounded by the partition limit.
 */
import {
  ParsedPartitions, KERN_INFO, KERN_WARNING, type PartitionInfo, type PartitionLineToken,
  type ScanOptions, type ReadFn, type LogFn,
} from './check.js';
import { efiPartition } from './efi.js';
import { msdosPartition, isExtendedPartition } from './msdos.js';

/** DISK_MAX_PARTS: partition numbers run from 1 to 255. */
export const DISK_MAX_PARTS = 256;

export type PartitionLabel = 'gpt' | 'dos';

export interface PartitionTable {
  /** The parser that claimed the disk, or null when none did (or a FAT boot sector was found). */
  label: PartitionLabel | null;
  /** Partitions to create, by number, clamped to the disk. */
  parts: PartitionInfo[];
  /** The partition line as tokens; null when Linux prints no line. */
  tokens: PartitionLineToken[] | null;
  /** Set when Linux would fail the scan with an error (EIO: I/O error; ENOSPC: table beyond EOD). */
  error?: 'EIO' | 'ENOSPC';
}

const PARSERS: Array<[PartitionLabel, (s: ParsedPartitions) => Promise<number>]> = [
  ['gpt', efiPartition],
  ['dos', msdosPartition],
];

/** The name used in the partition line: Linux writes "p1" for disks whose name ends in a digit. */
function lineName(diskName: string): string {
  return /[0-9]$/.test(diskName) ? 'p' : diskName;
}

/** Scan a disk; see the file comment. `sectorSizeOrOpts` may be the logical block size alone. */
export async function scanPartitionTable(
  read: ReadFn, sizeBytes: number, log: LogFn, sectorSizeOrOpts?: number | ScanOptions, moreOpts?: ScanOptions,
): Promise<PartitionTable> {
  const opts: ScanOptions = typeof sectorSizeOrOpts === 'number'
    ? { ...moreOpts, sectorSize: sectorSizeOrOpts } : { ...sectorSizeOrOpts, ...moreOpts };
  const lbs = opts.sectorSize ?? 512;
  const name = opts.diskName ?? 'disk';
  const limit = Math.max(1, Math.min(opts.maxParts ?? DISK_MAX_PARTS, DISK_MAX_PARTS));
  const empty: PartitionTable = { label: null, parts: [], tokens: null };
  if (!(lbs >= 512 && lbs <= 65536 && (lbs & (lbs - 1)) === 0)) {
    log(KERN_WARNING, `${name}: unsupported logical block size ${lbs}, partitions not scanned`);
    return empty;
  }
  // Linux scans only disks with a capacity; a disk smaller than a logical block has no LBA 0.
  if (!Number.isFinite(sizeBytes) || sizeBytes < lbs) return empty;

  try {
    const state = new ParsedPartitions(read, sizeBytes, log, lbs, limit, opts.forceGpt ?? false, opts.debug ?? false);
    let res = 0, err = 0;
    let label: PartitionLabel | null = null;
    for (const [l, parse] of PARSERS) {
      state.reset();
      res = await parse(state);
      if (res < 0) { err = res; res = 0; }
      if (res) { label = l; break; }
    }

    if (res <= 0) {
      if (!err && !state.accessBeyondEod) return empty;
      log(KERN_INFO, ` ${name}: unable to read partition table`);
      if (state.accessBeyondEod) {
        log(KERN_WARNING, `${name}: partition table beyond EOD, truncated`);
        return { ...empty, error: 'ENOSPC' };
      }
      return { ...empty, error: 'EIO' };
    }

    const tokens = state.tokens;
    if (opts.diskName !== undefined) log(KERN_INFO, formatPartitionLine(name, [], tokens));
    // A FAT boot sector claims the disk with no partitions: label it as nothing.
    if (state.fatBootSector) label = null;
    if (state.accessBeyondEod) log(KERN_WARNING, `${name}: partition table partially beyond EOD, truncated`);

    const parts: PartitionInfo[] = [];
    const cap = state.capacity;
    for (let p = 1; p < state.limit; p++) {
      const s = state.slots.get(p);
      if (!s || !s.size) continue;
      if (s.from >= cap) {
        log(KERN_WARNING, `${name}: p${p} start ${s.from} is beyond EOD, truncated`);
        continue;
      }
      let size = s.size;
      if (s.from + size > cap) {
        log(KERN_WARNING, `${name}: p${p} size ${size} extends beyond EOD, truncated`);
        size = cap - s.from;
      }
      const info: PartitionInfo = { number: p, startSector: s.from, nrSectors: size };
      if (s.type !== undefined) info.type = s.type;
      if (s.name !== undefined) info.name = s.name;
      if (s.uuid !== undefined) info.uuid = s.uuid;
      if (s.bootable !== undefined) info.bootable = s.bootable;
      parts.push(info);
    }
    return { label, parts, tokens };
  } catch (e) {
    // Parsers do not throw; this is a last line of defence against a bug, never a crash.
    log(KERN_WARNING, `${name}: partition scan failed: ${(e as Error)?.message ?? e}`);
    return empty;
  }
}

/**
 * The partitions Linux would create for this disk (see scanPartitionTable). The fourth argument
 * is the logical block size in bytes (default 512) or a ScanOptions object.
 */
export async function scanPartitions(
  read: ReadFn, sizeBytes: number, log: LogFn, sectorSizeOrOpts?: number | ScanOptions, moreOpts?: ScanOptions,
): Promise<PartitionInfo[]> {
  return (await scanPartitionTable(read, sizeBytes, log, sectorSizeOrOpts, moreOpts)).parts;
}

/**
 * Linux's partition line, e.g. " vda: vda1 vda2 < vda5 vda6 >" (" loop0: p1 p2" for names
 * ending in a digit). `kinds` are the tokens from scanPartitionTable(), which list every slot the
 * parser filled, in discovery order, including partitions later dropped beyond the disk end. When
 * they are not given the line is rebuilt from `parts`: primaries in order, the logicals (5 and up)
 * in brackets after the first MBR extended partition.
 */
export function formatPartitionLine(
  diskName: string, parts: PartitionInfo[], kinds?: PartitionLineToken[] | PartitionTable | null,
): string {
  let tokens: PartitionLineToken[] | null | undefined = Array.isArray(kinds) ? kinds : kinds?.tokens;
  if (!tokens) tokens = tokensFromParts(parts);
  const pn = lineName(diskName);
  let line = ` ${diskName}:`;
  for (const t of tokens) line += typeof t === 'number' ? ` ${pn}${t}` : ` ${t}`;
  return line;
}

function tokensFromParts(parts: PartitionInfo[]): PartitionLineToken[] {
  const sorted = [...parts].sort((a, b) => a.number - b.number);
  const isExt = (p: PartitionInfo) => {
    const m = /^mbr:0x([0-9a-f]{2})$/.exec(p.type ?? '');
    return !!m && isExtendedPartition(parseInt(m[1]!, 16));
  };
  const primaries = sorted.filter((p) => p.number <= 4);
  const logicals = sorted.filter((p) => p.number >= 5);
  const hasExt = primaries.some(isExt);
  // A GPT (or a table with no extended partition) lists everything in number order.
  if (!hasExt) return sorted.map((p) => p.number);
  const out: PartitionLineToken[] = [];
  let placed = false;
  for (const p of primaries) {
    out.push(p.number);
    if (isExt(p)) {
      out.push('<');
      if (!placed) { for (const l of logicals) out.push(l.number); placed = true; }
      out.push('>');
    }
  }
  return out;
}
