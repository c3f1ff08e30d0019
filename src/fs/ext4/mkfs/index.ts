/*
 * mkfs for ext2, ext3 and ext4: what mke2fs (e2fsprogs 1.47) lays down for the same parameters.
 *
 * A new filesystem is: the superblock and group descriptor table (with backups in the sparse
 * groups), per-group block and inode bitmaps and inode tables (packed at the start of each flex
 * group under flex_bg), the resize inode (7) whose double-indirect block maps the reserved GDT
 * blocks, the root directory (2) holding lost+found (11), and with has_journal a journal inode (8)
 * near the middle of the disk starting with an empty jbd2 superblock. Every allocation is made in
 * mke2fs's order with libext2fs's goals (geometry.ts), so block numbers agree with the host tool.
 *
 * Only metadata is written. The target must read as zeros elsewhere (a new sparse file, a
 * discarded device): then a 16 TiB filesystem takes a few megabytes of writes. Pass
 * dev.zeroed = false to have inode tables zeroed too (mke2fs without lazy_itable_init).
 * Groups are flagged ITABLE_ZEROED accordingly; bitmaps of uninitialised groups stay unwritten,
 * as mke2fs leaves them.
 */
import { crc32c } from '../../../lib/crc32c.js';
import { crc16 } from '../../../lib/crc16.js';
import { fail } from '../../../lib/errors.js';
import { EINVAL } from '../../../uapi/errno.js';
import { Geometry, BG_INODE_ZEROED } from './geometry.js';
import { settleParams, hasFeature, type MkfsOptions, type FsParams } from './params.js';

export type { MkfsOptions } from './params.js';
export { defaultJournalBlocks } from './params.js';

export interface MkfsDevice {
  /** Bytes available. */
  size: number;
  write(offset: number, bytes: Uint8Array): void | Promise<void>;
  /** True (default) when every byte not written reads as zero. */
  zeroed?: boolean;
}

export interface MkfsSummary {
  type: string;
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  groups: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  journalBlocks: number;
  freeBlocks: number;
  freeInodes: number;
  uuid: string;
  features: string;
  /** Where the superblock backups are (block numbers). */
  backups: number[];
}

const S_IFDIR = 0o040000, S_IFREG = 0o100000;
const EXT4_EXTENTS_FL = 0x80000;

function le16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function le32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; b[o + 2] = (v >>> 16) & 0xff; b[o + 3] = (v >>> 24) & 0xff;
}
function lo32(v: number): number { return v % 2 ** 32; }
function hi32(v: number): number { return Math.floor(v / 2 ** 32); }
function be32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}
function u32le(v: number): Uint8Array { const b = new Uint8Array(4); le32(b, 0, v); return b; }

function uuidString(u: Uint8Array): string {
  const h = Array.from(u, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

class Builder {
  readonly p: FsParams;
  readonly g: Geometry;
  readonly bs: number;
  readonly csumSeed: number;
  /** Blocks to write (block number -> contents). */
  readonly blocks = new Map<number, Uint8Array>();
  readonly inodes = new Map<number, Uint8Array>();
  journalBlocksUsed = 0;
  overhead = 0;

  constructor(p: FsParams) {
    this.p = p;
    this.g = new Geometry(p);
    this.bs = p.blockSize;
    this.csumSeed = crc32c(0xffffffff, p.uuid);
  }

  get extents(): boolean { return hasFeature(this.p.features, 'extent'); }

  /** A fresh inode as ext2fs_write_new_inode leaves it (times, extra isize). */
  newInode(ino: number, mode: number, links: number): Uint8Array {
    const raw = new Uint8Array(this.p.inodeSize);
    const now = this.p.now;
    le16(raw, 0x00, mode);
    le32(raw, 0x08, now); le32(raw, 0x0c, now); le32(raw, 0x10, now);
    le16(raw, 0x1a, links);
    if (this.p.inodeSize > 128) {
      le16(raw, 0x80, 32);
      le32(raw, 0x90, now);
    }
    this.inodes.set(ino, raw);
    return raw;
  }

  setSize(raw: Uint8Array, size: number): void { le32(raw, 0x04, lo32(size)); le32(raw, 0x6c, hi32(size)); }
  setBlocks(raw: Uint8Array, fsBlocks: number): void {
    const sectors = fsBlocks * (this.bs / 512);
    le32(raw, 0x1c, lo32(sectors)); le16(raw, 0x74, hi32(sectors));
  }

  /** The extent root (depth 0, up to 4 extents) or, for more, one leaf block. */
  setExtents(raw: Uint8Array, ino: number, exts: Array<[number, number, number]>, leafBlock = 0): void {
    le32(raw, 0x20, EXT4_EXTENTS_FL);
    const put = (b: Uint8Array, o: number, e: [number, number, number]): void => {
      le32(b, o, e[0]); le16(b, o + 4, e[1]); le16(b, o + 6, hi32(e[2])); le32(b, o + 8, lo32(e[2]));
    };
    const hdr = (b: Uint8Array, o: number, n: number, max: number, depth: number): void => {
      le16(b, o, 0xf30a); le16(b, o + 2, n); le16(b, o + 4, max); le16(b, o + 6, depth);
    };
    if (exts.length <= 4) {
      hdr(raw, 0x28, exts.length, 4, 0);
      exts.forEach((e, i) => put(raw, 0x28 + 12 + 12 * i, e));
      return;
    }
    const leaf = new Uint8Array(this.bs);
    const max = Math.floor((this.bs - 12) / 12);
    hdr(leaf, 0, exts.length, max, 0);
    exts.forEach((e, i) => put(leaf, 12 + 12 * i, e));
    if (hasFeature(this.p.features, 'metadata_csum')) {
      const tail = 12 + 12 * max;
      le32(leaf, tail, crc32c(this.inodeSeed(ino, raw), leaf, 0, tail));
    }
    this.blocks.set(leafBlock, leaf);
    // libext2fs grows the tree by moving the full root into the new leaf without clearing it:
    // extents 1..3 stay behind in i_block (and in s_jnl_blocks), harmless past eh_entries.
    for (let i = 1; i < 4; i++) put(raw, 0x28 + 12 + 12 * i, exts[i]!);
    hdr(raw, 0x28, 1, 4, 1);
    le32(raw, 0x28 + 12, 0); le32(raw, 0x28 + 16, lo32(leafBlock)); le16(raw, 0x28 + 20, hi32(leafBlock));
  }

  inodeSeed(ino: number, raw: Uint8Array): number {
    const gen = raw[0x64]! | (raw[0x65]! << 8) | (raw[0x66]! << 16) | (raw[0x67]! << 24);
    return crc32c(crc32c(this.csumSeed, u32le(ino)), u32le(gen >>> 0));
  }

  /** A directory block: entries as [ino, name, type], the last one taking the rest. */
  dirBlock(ino: number, raw: Uint8Array, entries: Array<[number, string, number]>): Uint8Array {
    const b = new Uint8Array(this.bs);
    const csum = hasFeature(this.p.features, 'metadata_csum');
    const ft = hasFeature(this.p.features, 'filetype');
    const end = csum ? this.bs - 12 : this.bs;
    let o = 0;
    entries.forEach(([eino, name, type], i) => {
      const recLen = i === entries.length - 1 ? end - o : (8 + name.length + 3) & ~3;
      le32(b, o, eino); le16(b, o + 4, recLen); b[o + 6] = name.length; b[o + 7] = ft ? type : 0;
      for (let k = 0; k < name.length; k++) b[o + 8 + k] = name.charCodeAt(k);
      o += recLen;
    });
    if (entries.length === 0) le16(b, 4, end);
    if (csum) {
      le16(b, end + 4, 12); b[end + 7] = 0xde;
      le32(b, end + 8, crc32c(this.inodeSeed(ino, raw), b, 0, end));
    }
    return b;
  }

  /** ext2fs_find_inode_goal() for an inode with no blocks yet. */
  inodeGoal(ino: number): number {
    let grp = Math.floor((ino - 1) / this.g.ipg);
    if (this.p.logGroupsPerFlex) grp &= ~((1 << this.p.logGroupsPerFlex) - 1);
    return this.g.groupFirst(grp);
  }

  alloc(goal: number): number {
    const b = this.g.newBlock(goal);
    this.g.allocStats(b);
    return b;
  }

  /** A directory of nblocks contiguous-as-allocated blocks. */
  mkdir(ino: number, mode: number, links: number, firstEntries: Array<[number, string, number]>, nblocks: number): void {
    const raw = this.newInode(ino, S_IFDIR | mode, links);
    if (ino === 2) { le16(raw, 0x02, this.p.rootUid & 0xffff); le16(raw, 0x18, this.p.rootGid & 0xffff); le16(raw, 0x78, this.p.rootUid >>> 16); le16(raw, 0x7a, this.p.rootGid >>> 16); }
    const blks: number[] = [];
    let goal = this.inodeGoal(ino);
    for (let i = 0; i < nblocks; i++) {
      const b = this.alloc(goal);
      blks.push(b);
      goal = b + 1;
    }
    this.g.inodeAllocStats(ino, true);
    this.setSize(raw, nblocks * this.bs);
    this.setBlocks(raw, nblocks);
    if (this.extents) {
      const exts: Array<[number, number, number]> = [];
      blks.forEach((b, i) => {
        const last = exts[exts.length - 1];
        if (last && last[2] + last[1] === b) last[1]++;
        else exts.push([i, 1, b]);
      });
      this.setExtents(raw, ino, exts);
    } else blks.forEach((b, i) => le32(raw, 0x28 + 4 * i, b));
    blks.forEach((b, i) => this.blocks.set(b, this.dirBlock(ino, raw, i === 0 ? firstEntries : [])));
  }

  build(): void {
    const g = this.g;
    g.initGroups();
    this.overhead = g.countUsed() + g.firstDataBlock;
    for (let i = 0; i < g.groups; i++) g.flags[i]! |= BG_INODE_ZEROED;

    // Root first (its block is the first free one of group 0), then lost+found.
    const lpfBlocks = (() => {
      let size = 0, n = 1;
      for (let i = 1; i < 12; i++) {
        size += this.bs;
        if (size >= 16 * 1024 && size >= 2 * this.bs) break;
        n++;
      }
      return n;
    })();
    this.mkdir(2, 0o755, 3, [[2, '.', 2], [2, '..', 2], [11, 'lost+found', 2]], 1);
    if (hasFeature(this.p.features, 'inline_data')) {
      // mke2fs makes lost+found inline, and its first expansion only moves it into one block
      // (".", ".." and an empty entry), leaving one block fewer and an empty in-inode xattr area.
      this.mkdir(11, 0o700, 2, [[11, '.', 2], [2, '..', 2], [0, '', 0]], Math.max(1, lpfBlocks - 1));
      le32(this.inodes.get(11)!, 128 + 32, 0xea020000);
    } else this.mkdir(11, 0o700, 2, [[11, '.', 2], [2, '..', 2]], lpfBlocks);
    // The other reserved inodes are written zeroed (with their checksums).
    for (let i = 3; i < 11; i++) g.inodeAllocStats(i, false);
    g.inodeAllocStats(1, false);
    for (const ino of [3, 4, 5, 6, 7, 8, 9, 10]) if (!this.inodes.has(ino)) this.inodes.set(ino, new Uint8Array(this.p.inodeSize));
    const bad = new Uint8Array(this.p.inodeSize);
    le32(bad, 0x08, this.p.now); le32(bad, 0x0c, this.p.now); le32(bad, 0x10, this.p.now);
    this.inodes.set(1, bad);
    if (hasFeature(this.p.features, 'resize_inode')) this.resizeInode();
    if (this.p.journalBlocks) this.journal();
    if (hasFeature(this.p.features, 'orphan_file')) this.orphanFile();
  }

  /** ext2fs_default_orphan_file_blocks() */
  private orphanBlocks(): number {
    const n = this.g.blocksCount;
    if (n < 128 * 1024) return 32;
    if (n < 2 * 1024 * 1024) return Math.floor(n / 4096);
    return 512;
  }

  /**
   * The orphan file (inode 12): empty blocks, each ending in { magic, crc32c } where the checksum
   * is seeded with the inode's seed and the block's physical number (as a little-endian u64).
   */
  private orphanFile(): void {
    const g = this.g, bs = this.bs, n = this.orphanBlocks();
    const raw = this.newInode(12, S_IFREG | 0o600, 1);
    g.inodeAllocStats(12, false);
    const runs: Array<[number, number, number]> = [];
    let b = this.inodeGoal(12);
    for (let l = 0; l < n; l++) {
      b = this.alloc(b);
      const last = runs[runs.length - 1];
      if (last && last[2] + last[1] === b) last[1]++;
      else runs.push([l, 1, b]);
      const blk = new Uint8Array(bs);
      le32(blk, bs - 8, 0x0b10ca04);
      if (hasFeature(this.p.features, 'metadata_csum')) {
        const pb = new Uint8Array(8); le32(pb, 0, lo32(b)); le32(pb, 4, hi32(b));
        le32(blk, bs - 4, crc32c(crc32c(this.inodeSeed(12, raw), pb), blk, 0, bs - 8));
      }
      this.blocks.set(b, blk);
    }
    if (runs.length > 4) fail(EINVAL, 'mkfs: fragmented orphan file');
    this.setExtents(raw, 12, runs);
    this.setSize(raw, n * bs);
    this.setBlocks(raw, n);
  }

  /** ext2fs_create_resize_inode(): a double-indirect map of the reserved GDT blocks. */
  private resizeInode(): void {
    const g = this.g, bs = this.bs, apb = bs / 4;
    const sbBlk = g.firstDataBlock;
    const goal = sbBlk + g.descBlocks + g.rsvGdt + 2 + g.inodeBlocksPerGroup;
    const dind = this.alloc(goal);
    const dindBuf = new Uint8Array(bs);
    this.blocks.set(dind, dindBuf);
    const raw = this.newInode(7, S_IFREG | 0o600, 1);
    le32(raw, 0x28 + 13 * 4, dind);
    let nblocks = 1;
    const backups: number[] = [];
    for (let grp = 1; grp < g.groups; grp++) if (g.hasSuper(grp)) backups.push(grp);
    for (let i = 0; i < g.rsvGdt; i++) {
      const gdtBlk = sbBlk + 1 + g.descBlocks + i;
      le32(dindBuf, 4 * ((g.descBlocks + i) % apb), gdtBlk);
      const ind = new Uint8Array(bs);
      backups.forEach((grp, j) => le32(ind, 4 * j, gdtBlk + grp * g.bpg));
      this.blocks.set(gdtBlk, ind);
      nblocks += 1 + backups.length;
    }
    this.setBlocks(raw, nblocks);
    this.setSize(raw, (apb * apb + apb + 12) * bs);
  }

  /** get_midpoint_journal_block() */
  private journalGoal(): number {
    const g = this.g;
    let group = g.groupOf(Math.floor((g.blocksCount - g.firstDataBlock) / 2));
    const logFlex = 1 << this.p.logGroupsPerFlex;
    let start: number;
    if (this.p.logGroupsPerFlex && group > logFlex) {
      group &= ~(logFlex - 1);
      while (group < g.groups && g.freeBlocks[group] === 0) group++;
      if (group === g.groups) group = 0;
      start = group;
    } else start = group > 0 ? group - 1 : group;
    const end = group + 1 < g.groups ? group + 1 : group;
    group = start;
    for (let i = start + 1; i <= end; i++) if (g.freeBlocks[i]! > g.freeBlocks[group]!) group = i;
    return g.groupFirst(group);
  }

  private journal(): void {
    const g = this.g, bs = this.bs, n = this.p.journalBlocks;
    const raw = this.newInode(8, S_IFREG | 0o600, 1);
    let first = 0;
    let meta = 0;
    if (this.extents) {
      const goal = this.journalGoal();
      // Runs of free blocks from the goal, at most 32768 blocks per extent.
      const runs: Array<[number, number, number]> = [];
      const needLeaf = n > 4 * 32768;
      const leaf = needLeaf ? this.alloc(goal - 1) : 0;
      let lblk = 0, b = goal;
      while (lblk < n) {
        b = g.newBlock(b);
        let len = 1;
        while (lblk + len < n && len < 32768 && b + len < g.blocksCount && !g.isUsed(b + len)) len++;
        for (let k = 0; k < len; k++) g.allocStats(b + k);
        const last = runs[runs.length - 1];
        if (last && last[2] + last[1] === b && last[1] + len <= 32768) last[1] += len;
        else runs.push([lblk, len, b]);
        lblk += len; b += len;
      }
      if (runs.length > 4 && !needLeaf) fail(EINVAL, 'mkfs: fragmented journal');
      first = runs[0]![2];
      this.setExtents(raw, 8, runs, leaf);
      meta = needLeaf ? 1 : 0;
    } else {
      // Block-mapped: each block (and indirect block) goes to the next free one, as bmap does.
      const apb = bs / 4;
      let cursor = this.inodeGoal(8);
      const next = (): number => { const b = this.alloc(cursor); cursor = b; return b; };
      const map: number[] = [];
      let ind: Uint8Array | null = null, dind: Uint8Array | null = null, tind: Uint8Array | null = null;
      let dindIdx = -1, tindIdx = -1;
      for (let l = 0; l < n; l++) {
        if (l < 12) { const b = next(); le32(raw, 0x28 + 4 * l, b); map.push(b); continue; }
        let r = l - 12;
        if (r < apb) {
          if (r === 0) { const ib = next(); meta++; ind = new Uint8Array(bs); this.blocks.set(ib, ind); le32(raw, 0x28 + 48, ib); }
          le32(ind!, 4 * r, next());
          continue;
        }
        r -= apb;
        if (r < apb * apb) {
          if (r === 0) { const db = next(); meta++; dind = new Uint8Array(bs); this.blocks.set(db, dind); le32(raw, 0x28 + 52, db); }
          const di = Math.floor(r / apb);
          if (di !== dindIdx) { dindIdx = di; const ib = next(); meta++; ind = new Uint8Array(bs); this.blocks.set(ib, ind); le32(dind!, 4 * di, ib); }
          le32(ind!, 4 * (r % apb), next());
          continue;
        }
        r -= apb * apb;
        if (r === 0) { const tb = next(); meta++; tind = new Uint8Array(bs); this.blocks.set(tb, tind); le32(raw, 0x28 + 56, tb); }
        const ti = Math.floor(r / (apb * apb));
        if (ti !== tindIdx) { tindIdx = ti; dindIdx = -1; const db = next(); meta++; dind = new Uint8Array(bs); this.blocks.set(db, dind); le32(tind!, 4 * ti, db); }
        const di = Math.floor((r % (apb * apb)) / apb);
        if (di !== dindIdx) { dindIdx = di; const ib = next(); meta++; ind = new Uint8Array(bs); this.blocks.set(ib, ind); le32(dind!, 4 * di, ib); }
        le32(ind!, 4 * (r % apb), next());
      }
      first = map[0]!;
    }
    this.journalBlocksUsed = n + meta;
    this.setSize(raw, n * bs);
    this.setBlocks(raw, n + meta);
    // The jbd2 superblock (v2, no features: the kernel adds csum v3 and 64bit at mount).
    const jsb = new Uint8Array(bs);
    be32(jsb, 0x00, 0xc03b3998); be32(jsb, 0x04, 4); be32(jsb, 0x0c, bs); be32(jsb, 0x10, n);
    be32(jsb, 0x14, 1); be32(jsb, 0x18, 1); be32(jsb, 0x1c, 0);
    jsb.set(this.p.uuid, 0x30);
    be32(jsb, 0x40, 1);
    this.blocks.set(first, jsb);
  }

  inodeCsum(ino: number, raw: Uint8Array): void {
    if (!hasFeature(this.p.features, 'metadata_csum')) return;
    const isize = this.p.inodeSize;
    const extra = isize > 128 ? raw[0x80]! | (raw[0x81]! << 8) : 0;
    const hasHi = isize > 128 && extra >= 4;
    raw[0x7c] = raw[0x7d] = 0;
    if (hasHi) raw[0x82] = raw[0x83] = 0;
    const c = crc32c(this.inodeSeed(ino, raw), raw, 0, isize);
    le16(raw, 0x7c, c & 0xffff);
    if (hasHi) le16(raw, 0x82, c >>> 16);
  }

  superblock(group: number, free: number, freeInodes: number): Uint8Array {
    const p = this.p, g = this.g, sb = new Uint8Array(1024), f = p.features;
    le32(sb, 0x00, g.inodesCount);
    le32(sb, 0x04, lo32(g.blocksCount)); le32(sb, 0x150, hi32(g.blocksCount));
    le32(sb, 0x08, lo32(g.rBlocksCount)); le32(sb, 0x154, hi32(g.rBlocksCount));
    le32(sb, 0x0c, lo32(free)); le32(sb, 0x158, hi32(free));
    le32(sb, 0x10, freeInodes);
    le32(sb, 0x14, g.firstDataBlock);
    le32(sb, 0x18, p.logBlockSize); le32(sb, 0x1c, p.logBlockSize);
    le32(sb, 0x20, g.bpg); le32(sb, 0x24, g.bpg); le32(sb, 0x28, g.ipg);
    le32(sb, 0x30, p.now);
    le16(sb, 0x36, 0xffff);
    // mke2fs writes the backups before it marks the filesystem valid: only the primary says clean.
    le16(sb, 0x38, 0xef53); le16(sb, 0x3a, group === 0 ? 1 : 0); le16(sb, 0x3c, 1);
    le32(sb, 0x40, p.now);
    le32(sb, 0x4c, 1);
    le32(sb, 0x54, 11); le16(sb, 0x58, p.inodeSize); le16(sb, 0x5a, Math.min(group, 0xffff)); // a u16: later groups saturate, as in libext2fs
    le32(sb, 0x5c, f.compat); le32(sb, 0x60, f.incompat); le32(sb, 0x64, f.ro);
    sb.set(p.uuid, 0x68);
    sb.set(p.label, 0x78);
    le16(sb, 0xce, g.rsvGdt);
    if (p.journalBlocks) le32(sb, 0xe0, 8);
    sb.set(p.hashSeed, 0xec);
    sb[0xfc] = 1; // half_md4
    if (p.journalBlocks) sb[0xfd] = 1; // EXT3_JNL_BACKUP_BLOCKS
    le16(sb, 0xfe, hasFeature(f, '64bit') ? 64 : 0);
    le32(sb, 0x100, 0x000c); // user_xattr,acl
    le32(sb, 0x108, p.now);
    if (p.journalBlocks) {
      const j = this.inodes.get(8)!;
      for (let i = 0; i < 15; i++) sb.set(j.subarray(0x28 + 4 * i, 0x2c + 4 * i), 0x10c + 4 * i);
      sb.set(j.subarray(0x6c, 0x70), 0x10c + 60);
      sb.set(j.subarray(0x04, 0x08), 0x10c + 64);
    }
    if (p.inodeSize >= 160) { le16(sb, 0x15c, 32); le16(sb, 0x15e, 32); }
    le32(sb, 0x160, 1); // signed directory hash
    le16(sb, 0x164, p.stride); le32(sb, 0x170, p.stripeWidth);
    sb[0x174] = p.logGroupsPerFlex;
    if (hasFeature(f, 'metadata_csum')) sb[0x175] = 1;
    le32(sb, 0x178, 0);
    le32(sb, 0x248, this.overhead);
    if (hasFeature(f, 'metadata_csum_seed')) le32(sb, 0x270, this.csumSeed);
    if (hasFeature(f, 'orphan_file')) le32(sb, 0x280, 12);
    if (hasFeature(f, 'metadata_csum')) le32(sb, 0x3fc, crc32c(0xffffffff, sb, 0, 0x3fc));
    return sb;
  }

  descriptors(): Uint8Array {
    const g = this.g, ds = g.descSize, out = new Uint8Array(g.descBlocks * this.bs);
    for (let i = 0; i < g.groups; i++) {
      const d = out.subarray(i * ds, (i + 1) * ds);
      const w32 = (lo: number, hi: number, v: number): void => { le32(d, lo, lo32(v)); if (ds >= 64) le32(d, hi, hi32(v)); };
      const w16 = (lo: number, hi: number, v: number): void => { le16(d, lo, v & 0xffff); if (ds >= 64) le16(d, hi, v >>> 16); };
      w32(0x00, 0x20, g.blockBitmap[i]!);
      w32(0x04, 0x24, g.inodeBitmap[i]!);
      w32(0x08, 0x28, g.inodeTable[i]!);
      w16(0x0c, 0x2c, g.freeBlocks[i]!);
      w16(0x0e, 0x2e, g.freeInodes[i]!);
      w16(0x10, 0x30, g.usedDirs[i]!);
      le16(d, 0x12, g.flags[i]!);
      if (g.csum) w16(0x1c, 0x32, g.itableUnused[i]!);
      const bbc = this.bitmapCsums.get(i);
      if (bbc) { w16(0x18, 0x38, bbc[0]); w16(0x1a, 0x3a, bbc[1]); }
      if (g.metaCsum) {
        let c = crc32c(this.csumSeed, u32le(i));
        c = crc32c(c, d, 0, 0x1e);
        c = crc32c(c, new Uint8Array(2));
        c = crc32c(c, d, 0x20, ds);
        le16(d, 0x1e, c & 0xffff);
      } else if (g.csum) {
        let c = crc16(0xffff, this.p.uuid);
        c = crc16(c, u32le(i));
        c = crc16(c, d, 0, 0x1e);
        if (ds > 32) c = crc16(c, d, 0x20, ds);
        le16(d, 0x1e, c);
      }
    }
    return out;
  }

  readonly bitmapCsums = new Map<number, [number, number]>();

  /** Bitmaps of the groups that have them on disk; their checksums go in the descriptors. */
  bitmaps(): void {
    const g = this.g, bs = this.bs;
    for (let i = 0; i < g.groups; i++) {
      let bcs = 0, ics = 0;
      if (!(g.csum && g.flags[i]! & 2)) {
        const b = new Uint8Array(bs);
        const m = g.groupBitmap(i);
        if (m) b.set(m.subarray(0, Math.ceil(g.bpg / 8)));
        const n = g.groupBlocks(i);
        for (let k = n; k < bs * 8; k++) b[k >> 3]! |= 1 << (k & 7);
        this.blocks.set(g.blockBitmap[i]!, b);
        if (g.metaCsum) bcs = crc32c(this.csumSeed, b, 0, g.bpg / 8);
      }
      if (!(g.csum && g.flags[i]! & 1)) {
        const b = new Uint8Array(bs);
        for (let ino = i * g.ipg + 1; ino <= (i + 1) * g.ipg && ino <= 12; ino++) {
          if (g.inodeBitmapSet.has(ino)) { const k = ino - 1 - i * g.ipg; b[k >> 3]! |= 1 << (k & 7); }
        }
        for (let k = g.ipg; k < bs * 8; k++) b[k >> 3]! |= 1 << (k & 7);
        this.blocks.set(g.inodeBitmap[i]!, b);
        if (g.metaCsum) ics = crc32c(this.csumSeed, b, 0, g.ipg / 8);
      }
      if (g.metaCsum && (bcs || ics)) this.bitmapCsums.set(i, [bcs >>> 0, ics >>> 0]);
    }
  }
}

/** Format dev as ext2, ext3 or ext4, as `mke2fs -t TYPE` would. */
export async function mkfsExt4(dev: MkfsDevice, opts: MkfsOptions): Promise<MkfsSummary> {
  const p = settleParams(dev.size, opts);
  const b = new Builder(p);
  b.build();
  const g = b.g, bs = b.bs;
  b.overhead += b.journalBlocksUsed > 0 ? p.journalBlocks : 0;
  b.bitmaps();

  // Inodes into the tables (group 0 holds every inode mkfs makes).
  const writes: Array<[number, Uint8Array]> = [];
  const zeroed = dev.zeroed !== false;
  const itBytes = g.ipg * p.inodeSize;
  const table0 = new Uint8Array(zeroed ? Math.ceil((12 * p.inodeSize) / bs) * bs : itBytes);
  for (const [ino, raw] of b.inodes) {
    b.inodeCsum(ino, raw);
    table0.set(raw, (ino - 1) * p.inodeSize);
  }
  writes.push([g.inodeTable[0]! * bs, table0]);
  if (!zeroed) {
    const z = new Uint8Array(itBytes);
    for (let i = 1; i < g.groups; i++) writes.push([g.inodeTable[i]! * bs, z]);
  }
  for (const [blk, data] of b.blocks) writes.push([blk * bs, data]);

  // Superblocks and descriptor tables, primary and backups.
  const gdt = b.descriptors();
  const backups: number[] = [];
  for (let i = 0; i < g.groups; i++) {
    if (!g.hasSuper(i)) continue;
    const sb = b.superblock(i, g.freeBlocksTotal, g.freeInodesTotal);
    const first = g.groupFirst(i);
    if (i === 0) writes.push([1024, sb]);
    else { writes.push([first * bs, sb]); backups.push(first); }
    writes.push([(first + 1) * bs, gdt]);
  }
  writes.sort((x, y) => x[0] - y[0]);
  for (const [off, data] of writes) {
    if (off + data.length > dev.size) fail(EINVAL, 'mkfs: write past the end of the device');
    const r = dev.write(off, data);
    if (r) await r;
  }
  const names = ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'extent', '64bit', 'flex_bg',
    'orphan_file', 'inline_data', 'sparse_super', 'large_file', 'huge_file', 'uninit_bg', 'dir_nlink', 'extra_isize', 'metadata_csum'];
  return {
    type: opts.type, blockSize: bs, blocksCount: g.blocksCount, inodesCount: g.inodesCount, groups: g.groups,
    blocksPerGroup: g.bpg, inodesPerGroup: g.ipg, journalBlocks: p.journalBlocks,
    freeBlocks: g.freeBlocksTotal, freeInodes: g.freeInodesTotal, uuid: uuidString(p.uuid),
    features: names.filter((n) => hasFeature(p.features, n)).join(' '), backups,
  };
}
