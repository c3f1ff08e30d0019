/*
 * The GUID Partition Table (UEFI spec, chapter 5), read the way Linux reads it (block/partitions/efi.c).
 *
 * Layout, in logical blocks (LBAs) of the disk's logical block size:
 *   LBA 0    a protective MBR: one entry of type 0xEE starting at LBA 1, so MBR-only tools keep
 *            off. A "hybrid" MBR has the 0xEE entry plus up to three real MBR partitions that
 *            mirror GPT ones; Linux accepts both and then uses the GPT alone.
 *   LBA 1    the primary header: "EFI PART", HeaderSize, a CRC32 of the header (computed with
 *            the CRC field zeroed, over HeaderSize bytes), MyLBA, AlternateLBA, First/LastUsable,
 *            the disk GUID, and where the entry array is (PartitionEntryLBA, count, entry size,
 *            CRC32 of the array).
 *   last LBA the alternate (backup) header, its entry array just before it.
 * Entry i (128 bytes: type GUID, unique GUID, first and last LBA, attributes, UTF-16LE name) is
 * partition i+1; an entry with the zero type GUID is unused and leaves a gap in the numbering.
 *
 * Linux's rules, which decide what a damaged disk shows:
 *   - the protective MBR must be valid (0x55AA and an 0xEE entry whose start is LBA 1), unless
 *     forced with the `gpt` kernel parameter (ScanOptions.forceGpt);
 *   - a header is valid when its signature, size (92 .. logical block size), CRC, MyLBA, usable
 *     range (within the disk, last >= first), entry size (128), array size (<= 4 MiB, kmalloc's
 *     limit) and array CRC all check out;
 *   - the alternate header is read at the primary's AlternateLBA, and only when the primary is
 *     valid. If the primary is bad Linux does NOT look for the backup unless forced: the disk then
 *     shows no partitions at all (the 0xEE entry also keeps the MBR parser away). With force, the
 *     backup is read at the last LBA and used with "Primary GPT is invalid, using alternate GPT.";
 *   - both valid: the primary wins, and any disagreement is reported (compare_gpts);
 *   - entries are only checked against the disk's last LBA, not against First/LastUsableLBA;
 *   - at most limit-1 entries are looked at, so partition numbers stay below the limit.
 */
import { crc32 } from '../../lib/crc32.js';
import { ParsedPartitions, le32, le64, KERN_WARNING } from './check.js';
import { msdosEntry, msdosMagicPresent } from './msdos.js';

const GPT_HEADER_SIGNATURE = 0x5452415020494645n; // "EFI PART" little-endian
const GPT_PRIMARY_PARTITION_TABLE_LBA = 1n;
const EFI_PMBR_OSTYPE_EFI_GPT = 0xee;
const GPT_MBR_PROTECTIVE = 1, GPT_MBR_HYBRID = 2;
/** sizeof(gpt_header) and sizeof(gpt_entry) in Linux. */
const GPT_HEADER_SIZE = 92, GPT_ENTRY_SIZE = 128;
/** KMALLOC_MAX_SIZE on x86-64: Linux cannot allocate a larger entry array. */
const KMALLOC_MAX_SIZE = 4 * 1024 * 1024;
/** partition_meta_info.volname holds 63 characters; a GPT name has 36. */
const GPT_NAME_CHARS = 36;
const LEGACY_BIOS_BOOTABLE = 1n << 2n;

/** The fields of a GPT header (gpt_header), 64-bit ones as bigint. */
export interface GptHeader {
  signature: bigint;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  myLba: bigint;
  alternateLba: bigint;
  firstUsableLba: bigint;
  lastUsableLba: bigint;
  diskGuid: string;
  partitionEntryLba: bigint;
  numPartitionEntries: number;
  sizeofPartitionEntry: number;
  partitionEntryArrayCrc32: number;
}

export function parseGptHeader(b: Uint8Array): GptHeader {
  return {
    signature: le64(b, 0),
    revision: le32(b, 8),
    headerSize: le32(b, 12),
    headerCrc32: le32(b, 16),
    myLba: le64(b, 24),
    alternateLba: le64(b, 32),
    firstUsableLba: le64(b, 40),
    lastUsableLba: le64(b, 48),
    diskGuid: guidToString(b, 56),
    partitionEntryLba: le64(b, 72),
    numPartitionEntries: le32(b, 80),
    sizeofPartitionEntry: le32(b, 84),
    partitionEntryArrayCrc32: le32(b, 88),
  };
}

/** An EFI GUID as Linux prints it (%pUl): first three fields little-endian, lowercase. */
export function guidToString(b: Uint8Array, o: number): string {
  const h = (i: number) => b[o + i]!.toString(16).padStart(2, '0');
  return `${h(3)}${h(2)}${h(1)}${h(0)}-${h(5)}${h(4)}-${h(7)}${h(6)}-${h(8)}${h(9)}-` +
    `${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}

function isNullGuid(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (b[o + i]) return false;
  return true;
}

/** Linux prints these u64 fields with %lld. */
const lld = (v: bigint) => BigInt.asIntN(64, v).toString();

/** The disk's last logical block (last_lba()). */
function lastLba(state: ParsedPartitions): bigint {
  return BigInt(Math.floor(state.sizeBytes / state.lbs)) - 1n;
}

/** `count` bytes from logical block `lba` (read_lba), or null. */
async function readLba(state: ParsedPartitions, lba: bigint, count: number): Promise<Uint8Array | null> {
  if (lba > lastLba(state) || lba < 0n) return null;
  return state.readRun(Number(lba) * state.ss, count);
}

function pmbrPartValid(mbr: Uint8Array, i: number): boolean {
  const e = msdosEntry(mbr, i);
  return e.sysInd === EFI_PMBR_OSTYPE_EFI_GPT && e.startSect === 1;
}

/** 0 (no protective MBR), GPT_MBR_PROTECTIVE or GPT_MBR_HYBRID (is_pmbr_valid). */
function isPmbrValid(state: ParsedPartitions, mbr: Uint8Array | null): number {
  if (!mbr || !msdosMagicPresent(mbr)) return 0;
  let part = -1;
  for (let i = 0; i < 4; i++) if (pmbrPartValid(mbr, i)) { part = i; break; }
  if (part < 0) return 0;
  let ret = GPT_MBR_PROTECTIVE;
  for (let i = 0; i < 4; i++) {
    const t = msdosEntry(mbr, i).sysInd;
    if (t !== EFI_PMBR_OSTYPE_EFI_GPT && t !== 0) ret = GPT_MBR_HYBRID;
  }
  if (ret === GPT_MBR_PROTECTIVE) {
    // Only a hint: a dd'ed image on a bigger disk keeps the old size.
    const sz = msdosEntry(mbr, part).nrSects;
    const total = state.capacity;
    if (sz !== ((total - 1) >>> 0) && sz !== 0xffffffff) {
      state.debug(`GPT: mbr size in lba (${sz}) different than whole disk (${Math.min(total - 1, 0xffffffff)}).`);
    }
  }
  return ret;
}

interface ValidGpt { header: GptHeader; ptes: Uint8Array }

/** One header and its entry array, fully checked (is_gpt_valid); null if anything is off. */
async function isGptValid(state: ParsedPartitions, lba: bigint): Promise<ValidGpt | null> {
  const raw = await readLba(state, lba, state.lbs);
  if (!raw) return null;
  const gpt = parseGptHeader(raw);
  const dbg = (m: string) => { state.debug(m); return null; };

  if (gpt.signature !== GPT_HEADER_SIGNATURE) {
    return dbg(`GUID Partition Table Header signature is wrong:${lld(gpt.signature)} != ${lld(GPT_HEADER_SIGNATURE)}`);
  }
  if (gpt.headerSize > state.lbs) {
    return dbg(`GUID Partition Table Header size is too large: ${gpt.headerSize} > ${state.lbs}`);
  }
  if (gpt.headerSize < GPT_HEADER_SIZE) {
    return dbg(`GUID Partition Table Header size is too small: ${gpt.headerSize} < ${GPT_HEADER_SIZE}`);
  }
  const copy = raw.slice(0, gpt.headerSize);
  copy[16] = copy[17] = copy[18] = copy[19] = 0;
  const crc = crc32(copy);
  if (crc !== gpt.headerCrc32) {
    return dbg(`GUID Partition Table Header CRC is wrong: ${crc.toString(16)} != ${gpt.headerCrc32.toString(16)}`);
  }
  if (gpt.myLba !== lba) return dbg(`GPT my_lba incorrect: ${lld(gpt.myLba)} != ${lld(lba)}`);

  const lastlba = lastLba(state);
  if (gpt.firstUsableLba > lastlba) {
    return dbg(`GPT: first_usable_lba incorrect: ${lld(gpt.firstUsableLba)} > ${lld(lastlba)}`);
  }
  if (gpt.lastUsableLba > lastlba) {
    return dbg(`GPT: last_usable_lba incorrect: ${lld(gpt.lastUsableLba)} > ${lld(lastlba)}`);
  }
  if (gpt.lastUsableLba < gpt.firstUsableLba) {
    return dbg(`GPT: last_usable_lba incorrect: ${lld(gpt.lastUsableLba)} > ${lld(gpt.firstUsableLba)}`);
  }
  if (gpt.sizeofPartitionEntry !== GPT_ENTRY_SIZE) return dbg('GUID Partition Entry Size check failed.');

  const ptSize = gpt.numPartitionEntries * gpt.sizeofPartitionEntry;
  if (ptSize > KMALLOC_MAX_SIZE) {
    return dbg(`GUID Partition Table is too large: ${ptSize} > ${KMALLOC_MAX_SIZE} bytes`);
  }
  if (!ptSize) return null; // kmalloc(0) is refused: no array, no GPT
  const ptes = await readLba(state, gpt.partitionEntryLba, ptSize);
  if (!ptes) return null;
  if (crc32(ptes) !== gpt.partitionEntryArrayCrc32) return dbg('GUID Partition Entry Array CRC check failed.');
  return { header: gpt, ptes };
}

/** Warn about every field on which two valid headers disagree (compare_gpts). */
function compareGpts(state: ParsedPartitions, p: GptHeader, a: GptHeader, lastlba: bigint): void {
  let errors = 0;
  const warn = (m: string) => state.log(KERN_WARNING, m);
  const pair = (what: string, x: bigint, y: bigint) => {
    warn(what);
    warn(`GPT:${lld(x)} != ${lld(y)}`);
    errors++;
  };
  if (p.myLba !== a.alternateLba) pair('GPT:Primary header LBA != Alt. header alternate_lba', p.myLba, a.alternateLba);
  if (p.alternateLba !== a.myLba) pair('GPT:Primary header alternate_lba != Alt. header my_lba', p.alternateLba, a.myLba);
  if (p.firstUsableLba !== a.firstUsableLba) pair("GPT:first_usable_lbas don't match.", p.firstUsableLba, a.firstUsableLba);
  if (p.lastUsableLba !== a.lastUsableLba) pair("GPT:last_usable_lbas don't match.", p.lastUsableLba, a.lastUsableLba);
  if (p.diskGuid !== a.diskGuid) { warn("GPT:disk_guids don't match."); errors++; }
  if (p.numPartitionEntries !== a.numPartitionEntries) {
    warn(`GPT:num_partition_entries don't match: 0x${p.numPartitionEntries.toString(16)} != 0x${a.numPartitionEntries.toString(16)}`);
    errors++;
  }
  if (p.sizeofPartitionEntry !== a.sizeofPartitionEntry) {
    warn(`GPT:sizeof_partition_entry values don't match: 0x${p.sizeofPartitionEntry.toString(16)} != 0x${a.sizeofPartitionEntry.toString(16)}`);
    errors++;
  }
  if (p.partitionEntryArrayCrc32 !== a.partitionEntryArrayCrc32) {
    warn(`GPT:partition_entry_array_crc32 values don't match: 0x${p.partitionEntryArrayCrc32.toString(16)} != 0x${a.partitionEntryArrayCrc32.toString(16)}`);
    errors++;
  }
  if (p.alternateLba !== lastlba) pair('GPT:Primary header thinks Alt. header is not at the end of the disk.', p.alternateLba, lastlba);
  if (a.myLba !== lastlba) pair('GPT:Alternate GPT header not at the end of the disk.', a.myLba, lastlba);
  if (errors) warn('GPT: Use GNU Parted to correct GPT errors.');
}

/** The GPT Linux would use, or null (find_valid_gpt). */
async function findValidGpt(state: ParsedPartitions): Promise<ValidGpt | null> {
  const lastlba = lastLba(state);
  if (!state.forceGpt) {
    const mbr = await readLba(state, 0n, 512);
    const good = isPmbrValid(state, mbr);
    if (!good) return null;
    state.debug(`Device has a ${good === GPT_MBR_PROTECTIVE ? 'protective' : 'hybrid'} MBR`);
  }
  const pgpt = await isGptValid(state, GPT_PRIMARY_PARTITION_TABLE_LBA);
  let agpt: ValidGpt | null = null;
  if (pgpt) agpt = await isGptValid(state, pgpt.header.alternateLba);
  if (!agpt && state.forceGpt) agpt = await isGptValid(state, lastlba);
  if (!pgpt && !agpt) return null;
  if (pgpt && agpt) compareGpts(state, pgpt.header, agpt.header, lastlba);
  if (pgpt) {
    if (!agpt) state.log(KERN_WARNING, 'Alternate GPT is invalid, using primary GPT.');
    return pgpt;
  }
  state.log(KERN_WARNING, 'Primary GPT is invalid, using alternate GPT.');
  return agpt;
}

/** A GPT name as Linux stores it for PARTNAME: low 7 bits, non-printable as '!', up to NUL. */
function gptName(ptes: Uint8Array, o: number): string {
  let s = '';
  for (let i = 0; i < GPT_NAME_CHARS; i++) {
    const c = ptes[o + 2 * i]! & 0x7f;
    if (!c) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '!';
  }
  return s;
}

/** Linux's efi_partition(): 0 if there is no usable GPT, 1 if parsed. */
export async function efiPartition(state: ParsedPartitions): Promise<number> {
  const gpt = await findValidGpt(state);
  if (!gpt) return 0;
  const { header, ptes } = gpt;
  const lastlba = lastLba(state);
  const ss = BigInt(state.ss);
  for (let i = 0; i < header.numPartitionEntries && i < state.limit - 1; i++) {
    const o = i * GPT_ENTRY_SIZE;
    if (isNullGuid(ptes, o)) continue;
    const first = le64(ptes, o + 32), last = le64(ptes, o + 40);
    if (first > lastlba || last > lastlba) continue;
    if (last < first) {
      // Linux computes the size modulo 2^64: zero for last = first - 1 (a listed but empty
      // slot), an absurd length otherwise. We keep the slot empty in both cases.
      if (last + 1n === first) state.put(i + 1, Number(first * ss), 0);
      else state.log(KERN_WARNING, `GPT: partition ${i + 1} ends (${last}) before it starts (${first}), ignored`);
      continue;
    }
    const attrs = le64(ptes, o + 48);
    state.put(i + 1, Number(first * ss), Number((last - first + 1n) * ss), {
      type: `gpt:${guidToString(ptes, o)}`,
      uuid: guidToString(ptes, o + 16),
      name: gptName(ptes, o + 56),
      bootable: (attrs & LEGACY_BIOS_BOOTABLE) !== 0n,
    });
  }
  return 1;
}
