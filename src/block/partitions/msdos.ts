/*
 * The PC (MS-DOS) partition table: the MBR and its chain of extended boot records.
 *
 * Sector 0 ends in 0x55 0xAA and holds four 16-byte entries at 0x1BE: boot indicator, CHS start,
 * type, CHS end, then the two numbers that matter, the first sector and the length (32-bit, in
 * logical blocks). Entry i is partition i+1 whatever the others hold, so empty slots leave gaps.
 *
 * An entry of type 0x05, 0x0F or 0x85 is an extended partition: a container whose first sector is
 * an EBR, laid out like an MBR. In each EBR the non-extended entries are logical partitions (their
 * start is relative to that EBR) and the first extended entry links to the next EBR (its start is
 * relative to the container). Logical partitions are numbered from 5 in chain order. Linux also
 * exposes the container itself, but only its first 2 sectors (one logical block on 4K disks), so
 * that nobody runs mkfs over the logicals while boot loaders can still reach the EBR.
 *
 * What this follows from Linux (block/partitions/msdos.c), including its tolerance:
 *   - no 0x55AA: not ours. A boot indicator other than 0x00/0x80 means this is not a partition
 *     table: either a FAT boot sector (claimed with no partitions, which stops the probe) or junk.
 *   - any 0xEE entry: a GPT disk; efi.ts had its chance first, so this parser declines.
 *   - an AIX label (EBCDIC "IBMA" with LVM data at sector 7) is declined: AIX tables are not built.
 *   - in an EBR, entries 3 and 4 must lie inside both the link's size and the container, since
 *     they are often garbage; entries 1 and 2 are trusted.
 *   - the chain is bounded: more than 100 links without a new logical partition ends it, and it
 *     ends when partition numbers run out (state.limit). A chain that loops through data
 *     partitions therefore yields duplicates until the limit, exactly like Linux.
 * Not done: BSD/Solaris/Minix/UnixWare sub-labels inside primaries (their partitions would be
 * numbered after the logicals) and Windows LDM; LKL's kernel config leaves them to userspace too.
 */
import { ParsedPartitions, le16, le32, hex, type Slot } from './check.js';

const DOS_EXTENDED_PARTITION = 0x05;
const WIN98_EXTENDED_PARTITION = 0x0f;
const LINUX_EXTENDED_PARTITION = 0x85;
const EFI_PMBR_OSTYPE_EFI_GPT = 0xee;
const SOLARIS_X86_PARTITION = 0x82;
const LINUX_DATA_PARTITION = 0x83;
const LINUX_LVM_PARTITION = 0x8e;
const LINUX_RAID_PARTITION = 0xfd;

const PART_TABLE = 0x1be;
const ENTRY_SIZE = 16;
/** Links followed without finding a data partition before the chain is declared a loop. */
const MAX_EMPTY_LINKS = 100;

/** One 16-byte entry of an MBR or EBR. */
export interface MsdosEntry {
  bootInd: number;
  sysInd: number;
  /** Start and length in logical blocks, as stored. */
  startSect: number;
  nrSects: number;
}

export function msdosEntry(sector: Uint8Array, i: number): MsdosEntry {
  const o = PART_TABLE + i * ENTRY_SIZE;
  return { bootInd: sector[o]!, sysInd: sector[o + 4]!, startSect: le32(sector, o + 8), nrSects: le32(sector, o + 12) };
}

export function msdosMagicPresent(sector: Uint8Array): boolean {
  return sector[510] === 0x55 && sector[511] === 0xaa;
}

export function isExtendedPartition(sysInd: number): boolean {
  return sysInd === DOS_EXTENDED_PARTITION || sysInd === WIN98_EXTENDED_PARTITION || sysInd === LINUX_EXTENDED_PARTITION;
}

function info(e: MsdosEntry, disksig: number, n: number): Omit<Slot, 'from' | 'size'> {
  return { type: `mbr:0x${hex(e.sysInd, 2)}`, uuid: `${hex(disksig, 8)}-${hex(n, 2)}`, bootable: e.bootInd === 0x80 };
}

/** A FAT boot sector's media byte is 0xF0 or 0xF8..0xFF. */
function fatValidMedia(media: number): boolean {
  return media >= 0xf8 || media === 0xf0;
}

/** AIX disks may lack 0x55AA; Linux looks for them first and (without AIX support) declines. */
async function aixMagicPresent(state: ParsedPartitions, data: Uint8Array): Promise<boolean> {
  if (!(data[0] === 0xc9 && data[1] === 0xc2 && data[2] === 0xd4 && data[3] === 0xc1)) return false;
  for (let i = 0; i < 4; i++) {
    const t = msdosEntry(data, i).sysInd;
    if (t === SOLARIS_X86_PARTITION || t === LINUX_RAID_PARTITION || t === LINUX_DATA_PARTITION ||
        t === LINUX_LVM_PARTITION || isExtendedPartition(t)) return false;
  }
  const d = await state.readSector(7);
  return !!d && d[0] === 0x5f && d[1] === 0x4c && d[2] === 0x56 && d[3] === 0x4d; // "_LVM"
}

/**
 * Walk the EBR chain of the container at [firstSector, firstSector + firstSize) (512-byte units),
 * numbering logical partitions from state.next.
 */
async function parseExtended(state: ParsedPartitions, firstSector: number, firstSize: number, disksig: number): Promise<void> {
  const ss = state.ss;
  let thisSector = firstSector;
  let thisSize = firstSize;
  let loopct = 0;
  for (;;) {
    if (++loopct > MAX_EMPTY_LINKS) return;
    if (state.next === state.limit) return;
    const data = await state.readSector(thisSector);
    if (!data || !msdosMagicPresent(data)) return;

    // Data partitions first: usually only entry 1, but DR-DOS and OS/2 use other slots.
    for (let i = 0; i < 4; i++) {
      const e = msdosEntry(data, i);
      if (!e.nrSects || isExtendedPartition(e.sysInd)) continue;
      const offs = e.startSect * ss;
      const size = e.nrSects * ss;
      const next = thisSector + offs;
      if (i >= 2) {
        if (offs + size > thisSize) continue;
        if (next < firstSector) continue;
        if (next + size > firstSector + firstSize) continue;
      }
      state.put(state.next, next, size, info(e, disksig, state.next));
      loopct = 0;
      if (++state.next === state.limit) return;
    }
    // Then the first link to the next EBR, relative to the container's start.
    let link: MsdosEntry | undefined;
    for (let i = 0; i < 4; i++) {
      const e = msdosEntry(data, i);
      if (e.nrSects && isExtendedPartition(e.sysInd)) { link = e; break; }
    }
    if (!link) return;
    thisSector = firstSector + link.startSect * ss;
    thisSize = link.nrSects * ss;
  }
}

/** Linux's msdos_partition(): -1 if sector 0 is unreadable, 0 if not ours, 1 if parsed. */
export async function msdosPartition(state: ParsedPartitions): Promise<number> {
  const ss = state.ss;
  const data = await state.readSector(0);
  if (!data) return -1;

  if (await aixMagicPresent(state, data)) return 0;
  if (!msdosMagicPresent(data)) return 0;

  // With 0x55AA present this is a partition table or a FAT boot sector. A bad boot indicator
  // rules out a partition table.
  for (let slot = 1; slot <= 4; slot++) {
    const e = msdosEntry(data, slot - 1);
    if (e.bootInd !== 0 && e.bootInd !== 0x80) {
      const reserved = le16(data, 14), fats = data[16]!, media = data[21]!;
      if (slot === 1 && reserved && fats && fatValidMedia(media)) {
        state.fatBootSector = true;
        return 1;
      }
      return 0;
    }
  }

  for (let i = 0; i < 4; i++) {
    if (msdosEntry(data, i).sysInd === EFI_PMBR_OSTYPE_EFI_GPT) return 0;
  }

  const disksig = le32(data, 0x1b8);
  state.next = 5;
  for (let slot = 1; slot <= 4; slot++) {
    const e = msdosEntry(data, slot - 1);
    const start = e.startSect * ss;
    const size = e.nrSects * ss;
    if (!size) continue;
    if (isExtendedPartition(e.sysInd)) {
      // The container: only room for the EBR (and LILO), never the logicals.
      const n = Math.min(size, Math.max(ss, 2));
      state.put(slot, start, n, { type: `mbr:0x${hex(e.sysInd, 2)}`, bootable: e.bootInd === 0x80 });
      state.tokens.push('<');
      await parseExtended(state, start, size, disksig);
      state.tokens.push('>');
      continue;
    }
    state.put(slot, start, size, info(e, disksig, slot));
  }
  return 1;
}
