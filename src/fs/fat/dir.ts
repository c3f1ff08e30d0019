/*
 * FAT directories (fs/fat/dir.c): an array of 32-byte entries in the fixed root region
 * (FAT12/16) or in a cluster chain. An entry whose first byte is 0 ends the directory, 0xE5
 * marks a free slot; long-name slots (attribute 0x0F) precede the short entry they name.
 *
 * fatScan() decodes a whole directory into FatDirent records the way fat_search_long and
 * fat_readdir parse it: a long name counts only when its slots run from the 0x40-marked last
 * ordinal down to 1 with one checksum that matches the short entry that follows; any other
 * long-name slot is an orphan and is skipped. Volume labels are skipped.
 *
 * fatAddEntries() finds room for a run of slots (reusing free ones, growing a cluster-chain
 * directory by a zeroed cluster, ENOSPC when the fixed root is full); fatRemoveEntries()
 * marks a name's slots free.
 */
import { fail } from '../../lib/errors.js';
import { ENOSPC } from '../../uapi/errno.js';
import type { ByteString } from '../../lib/bytestr.js';
import {
  FatInode, type FatSb, ATTR_EXT, ATTR_VOLUME, DELETED_FLAG, le16, le32, put16, put32,
} from './fat.js';
import { lfnChecksum, uniToIo, shortToDisplay, foldName } from './names.js';

export const DIR_ENTRY_SIZE = 32;
export const FAT_MAX_DIR_SIZE = 65536 * DIR_ENTRY_SIZE;

export interface FatDirent {
  /** Name as shown: the long name when valid, else the short name with its case rules. */
  name: ByteString;
  hasLong: boolean;
  shortName: ByteString;
  n11: Uint8Array;
  /** Byte offset of the short entry in the directory, and of its first slot. */
  off: number;
  slotOff: number;
  /** i_pos of the short entry. */
  ipos: number;
  raw: Uint8Array;
  attr: number;
  start: number;
  size: number;
}

/** The sectors of a directory, in order. */
export function dirSectors(dir: FatInode): number[] {
  const sb = dir.sb;
  const out: number[] = [];
  if (dir.isRootFixed) {
    const n = (sb.dirEntries * DIR_ENTRY_SIZE) / sb.secSize;
    for (let i = 0; i < n; i++) out.push(sb.dirStart + i);
    return out;
  }
  for (const c of dir.getClusters()) {
    const s = sb.clusterSector(c);
    for (let i = 0; i < sb.secPerClus; i++) out.push(s + i);
  }
  return out;
}

export interface DirImage { buf: Uint8Array; sectors: number[] }

export async function readDirImage(dir: FatInode): Promise<DirImage> {
  const sb = dir.sb;
  const sectors = dirSectors(dir);
  const buf = new Uint8Array(sectors.length * sb.secSize);
  for (let i = 0; i < sectors.length; i++) buf.set(await sb.bdev.bread(sectors[i]!, sb.secSize), i * sb.secSize);
  return { buf, sectors };
}

export function iposOf(sb: FatSb, img: DirImage, off: number): number {
  const eps = sb.secSize / DIR_ENTRY_SIZE;
  const idx = Math.floor(off / sb.secSize);
  return img.sectors[idx]! * eps + (off % sb.secSize) / DIR_ENTRY_SIZE;
}

/** Every live entry of the directory, in on-disk order. */
export function fatScan(dir: FatInode, img: DirImage, from = 0): FatDirent[] {
  const sb = dir.sb;
  const b = img.buf;
  const out: FatDirent[] = [];
  let units: number[] | null = null, expect = 0, alias = 0, slotOff = -1;
  for (let off = from; off + DIR_ENTRY_SIZE <= b.length; off += DIR_ENTRY_SIZE) {
    const first = b[off]!;
    if (first === 0) break;
    if (first === DELETED_FLAG) { units = null; continue; }
    const attr = b[off + 11]!;
    if (attr === ATTR_EXT) {
      if (!sb.opts.isvfat) continue;
      const id = first;
      if (id & 0x40) {
        const slots = id & 0x3f;
        if (slots === 0 || slots > 20) { units = null; continue; }
        units = new Array<number>(slots * 13).fill(0xffff);
        expect = slots; alias = b[off + 13]!; slotOff = off;
      } else if (!units || (id & 0x3f) !== expect || b[off + 13] !== alias) { units = null; continue; }
      const base = (expect - 1) * 13;
      const pos = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
      for (let k = 0; k < 13; k++) units[base + k] = le16(b, off + pos[k]!);
      expect--;
      continue;
    }
    if (attr & ATTR_VOLUME) { units = null; continue; }
    const n11 = b.slice(off, off + 11);
    let longName: number[] | null = null;
    if (units && expect === 0 && alias === lfnChecksum(n11)) {
      const end = units.indexOf(0);
      longName = end < 0 ? units : units.slice(0, end);
      if (longName.length === 0) longName = null;
    }
    const lcase = b[off + 12]!;
    const shortName = shortToDisplay(n11, lcase, sb.opts);
    const raw = b.slice(off, off + DIR_ENTRY_SIZE);
    let start = le16(raw, 26);
    if (sb.isFat32) start |= le16(raw, 20) << 16;
    out.push({
      name: longName ? uniToIo(longName, sb.opts) : shortName, hasLong: longName !== null, shortName, n11,
      off, slotOff: longName ? slotOff : off, ipos: iposOf(sb, img, off), raw, attr, start, size: le32(raw, 28),
    });
    units = null;
  }
  return out;
}

/** Write `bytes` at directory byte offset `off` (may span sectors). */
export async function writeDirBytes(dir: FatInode, img: DirImage, off: number, bytes: Uint8Array): Promise<void> {
  const sb = dir.sb;
  dir.dirCache = null;
  img.buf.set(bytes, off);
  const first = Math.floor(off / sb.secSize), last = Math.floor((off + bytes.length - 1) / sb.secSize);
  for (let i = first; i <= last; i++) {
    await sb.bdev.bwrite(img.sectors[i]!, sb.secSize, img.buf.slice(i * sb.secSize, (i + 1) * sb.secSize));
  }
}

/** Build the long-name slots (in disk order) for `uname` naming short entry `n11`. */
export function buildSlots(uname: number[], n11: Uint8Array): Uint8Array[] {
  const nslots = Math.ceil(uname.length / 13);
  const sum = lfnChecksum(n11);
  const padded = uname.slice();
  if (padded.length % 13) { padded.push(0); while (padded.length % 13) padded.push(0xffff); }
  const pos = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
  const out: Uint8Array[] = [];
  for (let ord = nslots; ord >= 1; ord--) {
    const e = new Uint8Array(DIR_ENTRY_SIZE);
    e[0] = ord | (ord === nslots ? 0x40 : 0);
    e[11] = ATTR_EXT;
    e[13] = sum;
    for (let k = 0; k < 13; k++) put16(e, pos[k]!, padded[(ord - 1) * 13 + k]!);
    out.push(e);
  }
  return out;
}

/** A short entry with the given fields. */
export function buildShort(n11: Uint8Array, lcase: number, attr: number, start: number, size: number,
  t: { time: number; date: number; cs: number }, adate: number, mt: { time: number; date: number }): Uint8Array {
  const e = new Uint8Array(DIR_ENTRY_SIZE);
  e.set(n11, 0);
  e[11] = attr; e[12] = lcase; e[13] = t.cs;
  put16(e, 14, t.time); put16(e, 16, t.date); put16(e, 18, adate);
  put16(e, 20, start >>> 16); put16(e, 22, mt.time); put16(e, 24, mt.date); put16(e, 26, start & 0xffff);
  put32(e, 28, size);
  return e;
}

/**
 * fat_add_entries: place `slots` (long-name slots then the short entry) in a run of free
 * entries, growing the directory when it has none. Returns the short entry's offset and i_pos.
 */
export async function fatAddEntries(dir: FatInode, slots: Uint8Array[]): Promise<{ off: number; ipos: number }> {
  const sb = dir.sb;
  const cache = dir.dirCache as DirCache | null;
  let img = cache ? cache.img : await readDirImage(dir);
  const n = slots.length;
  const b = img.buf;
  let run = 0, runStart = -1, found = -1;
  for (let off = 0; off + DIR_ENTRY_SIZE <= b.length; off += DIR_ENTRY_SIZE) {
    const f = b[off]!;
    if (f === 0 || f === DELETED_FLAG) {
      if (run === 0) runStart = off;
      if (++run === n) { found = runStart; break; }
    } else run = 0;
  }
  if (found < 0) {
    if (dir.isRootFixed) fail(ENOSPC);
    // FAT_MAX_DIR_SIZE: a directory holds at most 65536 entries.
    if (b.length + n * DIR_ENTRY_SIZE > FAT_MAX_DIR_SIZE) fail(ENOSPC);
    // Grow by enough zeroed clusters for the rest of the run.
    const have = run;
    const needBytes = (n - have) * DIR_ENTRY_SIZE;
    const ncl = Math.ceil(needBytes / sb.clusterSize);
    const got = sb.allocClusters(ncl);
    if (!got) fail(ENOSPC);
    const chain = dir.getClusters();
    if (chain.length) sb.entrySet(chain[chain.length - 1]!, got[0]!);
    else dir.start = got[0]!;
    const zero = new Uint8Array(sb.secSize);
    for (const c of got) {
      const s = sb.clusterSector(c);
      for (let i = 0; i < sb.secPerClus; i++) await sb.bdev.bwrite(s + i, sb.secSize, zero);
    }
    chain.push(...got);
    dir.size = chain.length * sb.clusterSize;
    dir.blocks = dir.size >> 9;
    await sb.fatFlush();
    dir.dirCache = null;
    found = have ? runStart : b.length;
    img = await readDirImage(dir);
  }
  const all = new Uint8Array(n * DIR_ENTRY_SIZE);
  slots.forEach((s, i) => all.set(s, i * DIR_ENTRY_SIZE));
  await writeDirBytes(dir, img, found, all);
  const off = found + (n - 1) * DIR_ENTRY_SIZE;
  if (cache && cache.img === img) {
    // The cache saw the same bytes change: add the new entry to it instead of rescanning.
    const de = fatScan(dir, img, found).find((e) => e.off === off);
    if (de) { cacheInsert(cache, de, !sb.opts.utf8); dir.dirCache = cache; }
  }
  return { off, ipos: iposOf(sb, img, off) };
}

/** fat_remove_entries: free the short entry and its long-name slots. */
export async function fatRemoveEntries(dir: FatInode, img: DirImage, de: FatDirent): Promise<void> {
  for (let off = de.slotOff; off <= de.off; off += DIR_ENTRY_SIZE) {
    await writeDirBytes(dir, img, off, Uint8Array.of(DELETED_FLAG));
  }
}

/**
 * A directory's decoded entries with lookup indexes, kept until the directory changes: lookups
 * and creations in a big directory then cost a map probe instead of a scan.
 */
export interface DirCache {
  img: DirImage;
  ents: FatDirent[];
  /** First entry (disk order) by case-folded long or short name. */
  byFold: Map<string, FatDirent>;
  byOff: Map<number, FatDirent>;
  secIdx: Map<number, number>;
  /** Short names in use (11 bytes as a string). */
  shorts: Set<string>;
}

function cacheInsert(c: DirCache, e: FatDirent, latin1: boolean): void {
  let lo = 0, hi = c.ents.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (c.ents[mid]!.off < e.off) lo = mid + 1; else hi = mid; }
  c.ents.splice(lo, 0, e);
  c.byOff.set(e.off, e);
  c.shorts.add(String.fromCharCode(...e.n11));
  if (isDotEntry(e)) return;
  for (const k of [foldName(e.name, latin1), foldName(e.shortName, latin1)]) {
    const cur = c.byFold.get(k);
    if (!cur || cur.off > e.off) c.byFold.set(k, e);
  }
}

export function isDotEntry(e: FatDirent): boolean {
  return e.n11[0] === 0x2e && (e.n11[1] === 0x20 || (e.n11[1] === 0x2e && e.n11[2] === 0x20));
}

export async function dirCache(dir: FatInode): Promise<DirCache> {
  const cached = dir.dirCache as DirCache | null;
  if (cached) return cached;
  const sb = dir.sb;
  const img = await readDirImage(dir);
  const ents = fatScan(dir, img);
  const latin1 = !sb.opts.utf8;
  const c: DirCache = { img, ents, byFold: new Map(), byOff: new Map(), secIdx: new Map(), shorts: new Set() };
  for (const e of ents) {
    c.byOff.set(e.off, e);
    c.shorts.add(String.fromCharCode(...e.n11));
    if (isDotEntry(e)) continue;
    for (const k of [foldName(e.name, latin1), foldName(e.shortName, latin1)]) if (!c.byFold.has(k)) c.byFold.set(k, e);
  }
  img.sectors.forEach((s, i) => { c.secIdx.set(s, i); sb.dirSectorOwner.set(s, dir); });
  dir.dirCache = c;
  return c;
}

/** Keep a cached directory image in step with an entry rewritten in place (fat_write_inode). */
export function patchDirCache(sb: FatSb, sector: number, offInSector: number, e: Uint8Array): void {
  const owner = sb.dirSectorOwner.get(sector);
  const c = owner?.dirCache as DirCache | null | undefined;
  if (!c) return;
  const idx = c.secIdx.get(sector);
  if (idx === undefined) return;
  const off = idx * sb.secSize + offInSector;
  c.img.buf.set(e, off);
  const ent = c.byOff.get(off);
  if (!ent) { owner!.dirCache = null; return; }
  ent.raw = e.slice();
  ent.attr = e[11]!;
  ent.start = le16(e, 26) | (sb.isFat32 ? le16(e, 20) << 16 : 0);
  ent.size = le32(e, 28);
}
