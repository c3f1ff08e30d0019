/*
 * Block and inode allocation (fs/ext4/balloc.c, ialloc.c, the simple parts of mballoc.c).
 *
 * Each block group has a block bitmap (one bit per cluster) and an inode bitmap, and its group
 * descriptor counts free blocks, free inodes and directories. Every change updates, inside the
 * caller's handle: the bitmap block (with its crc32c in the descriptor under metadata_csum), the
 * descriptor (with its crc16/crc32c checksum) and, at the next sync, the superblock totals
 * (Linux keeps those in percpu counters and writes them in ext4_commit_super too).
 *
 * Lazily initialised groups: mke2fs leaves BLOCK_UNINIT groups without a written block bitmap and
 * INODE_UNINIT groups without an inode bitmap. The first allocation in such a group builds the
 * bitmap (ext4_init_block_bitmap: the group's own superblock and descriptor copies, reserved GDT
 * blocks, and any bitmaps or inode tables lying inside the group; bits past the group's end set)
 * and clears the flag. bg_itable_unused shrinks to leave every used inode below the unused tail.
 *
 * Policy: blocks are taken from a goal (the block after the file's last one, or the start of the
 * inode's group), first fit onward through the groups, as long a run as asked for; a new
 * directory at the top level goes to the group with the most free blocks among those with at
 * least average free inodes (Orlov-lite), anything else into its parent's group, then onward.
 * Blocks freed by the running transaction are not handed out again until it commits.
 */
import { fail } from '../../lib/errors.js';
import { ENOSPC } from '../../uapi/errno.js';
import { EXT4_BG_CHECKSUM_OFFSET } from './layout/index.js';
import type { Ext4Sb } from './ext4.js';
import { groupDescCsum, descriptorLoc } from './super.js';
import { writeState, markFreed, isPendingFree, type Ext4Handle } from './jbd.js';

export const EXT4_BG_INODE_UNINIT = 0x1, EXT4_BG_BLOCK_UNINIT = 0x2, EXT4_BG_INODE_ZEROED = 0x4;

/* ---- group descriptors ---- */

function gdv(sbi: Ext4Sb, g: number): DataView {
  const d = sbi.descs[g]!;
  return new DataView(d.bytes.buffer, d.bytes.byteOffset, sbi.descSize);
}
function wide(sbi: Ext4Sb): boolean { return sbi.descSize >= 64; }
function get32split(sbi: Ext4Sb, g: number, lo: number, hi: number): number {
  const v = gdv(sbi, g);
  return v.getUint16(lo, true) + (wide(sbi) ? v.getUint16(hi, true) * 65536 : 0);
}
function set32split(sbi: Ext4Sb, g: number, lo: number, hi: number, x: number): void {
  const v = gdv(sbi, g);
  v.setUint16(lo, x & 0xffff, true);
  if (wide(sbi)) v.setUint16(hi, Math.floor(x / 65536) & 0xffff, true);
}
export const gdFreeBlocks = (s: Ext4Sb, g: number) => get32split(s, g, 0x0c, 0x2c);
export const gdFreeInodes = (s: Ext4Sb, g: number) => get32split(s, g, 0x0e, 0x2e);
export const gdUsedDirs = (s: Ext4Sb, g: number) => get32split(s, g, 0x10, 0x30);
export const gdItableUnused = (s: Ext4Sb, g: number) => get32split(s, g, 0x1c, 0x32);
export const gdFlags = (s: Ext4Sb, g: number) => gdv(s, g).getUint16(0x12, true);
function setGdFlags(s: Ext4Sb, g: number, f: number): void { gdv(s, g).setUint16(0x12, f, true); }


/** Bring group `g`'s descriptor block into the handle (the in-memory table is its authoritative copy). */
function gdAccess(h: Ext4Handle, g: number): number {
  const sbi = h.sbi;
  const nr = Math.floor(g / sbi.descPerBlock);
  const blk = descriptorLoc(sbi, nr);
  if (!h.blocks.has(blk)) {
    const d = sbi.descs[g]!;
    const start = d.bytes.byteOffset - (g % sbi.descPerBlock) * sbi.descSize;
    h.adopt(blk, new Uint8Array(d.bytes.buffer, start, sbi.blockSize));
  }
  return blk;
}

/** ext4_group_desc_csum_set and dirty the descriptor block. */
function gdDirty(h: Ext4Handle, g: number, blk: number): void {
  const sbi = h.sbi;
  const d = sbi.descs[g]!;
  if (sbi.hasMetadataCsum || sbi.hasGdtCsum) gdv(sbi, g).setUint16(EXT4_BG_CHECKSUM_OFFSET, groupDescCsum(sbi, g, d.bytes), true);
  h.dirty(blk);
  writeState(sbi).sbDirty = true;
}

/* ---- bitmaps ---- */

const testBit = (b: Uint8Array, i: number) => (b[i >> 3]! >> (i & 7)) & 1;
const setBit = (b: Uint8Array, i: number) => { b[i >> 3] = b[i >> 3]! | (1 << (i & 7)); };
const clearBit = (b: Uint8Array, i: number) => { b[i >> 3] = b[i >> 3]! & ~(1 << (i & 7)); };

function blocksInGroup(sbi: Ext4Sb, g: number): number {
  return g === sbi.groupsCount - 1 ? sbi.blocksCount - sbi.groupFirstBlock(g) : sbi.blocksPerGroup;
}

function setBlockBitmapCsum(sbi: Ext4Sb, g: number, b: Uint8Array): void {
  if (!sbi.hasMetadataCsum) return;
  const c = sbi.chksum(sbi.csumSeed, b, 0, sbi.blocksPerGroup >> (3 + sbi.clusterBits)) >>> 0;
  const v = gdv(sbi, g);
  v.setUint16(0x18, c & 0xffff, true);
  if (sbi.descSize >= 0x3c) v.setUint16(0x38, c >>> 16, true);
}
function setInodeBitmapCsum(sbi: Ext4Sb, g: number, b: Uint8Array): void {
  if (!sbi.hasMetadataCsum) return;
  const c = sbi.chksum(sbi.csumSeed, b, 0, sbi.inodesPerGroup >> 3) >>> 0;
  const v = gdv(sbi, g);
  v.setUint16(0x1a, c & 0xffff, true);
  if (sbi.descSize >= 0x3c) v.setUint16(0x3a, c >>> 16, true);
}

/** ext4_init_block_bitmap into `b` for a BLOCK_UNINIT group. */
function initBlockBitmap(sbi: Ext4Sb, g: number, b: Uint8Array): void {
  b.fill(0);
  const first = sbi.groupFirstBlock(g);
  const n = blocksInGroup(sbi, g);
  const mark = (blk: number) => { if (blk >= first && blk < first + n) setBit(b, blk - first); };
  if (sbi.bgHasSuper(g)) {
    let meta = 1 + sbi.bgNumGdb(g);
    if (!sbi.hasMetaBg || Math.floor(g / sbi.descPerBlock) < sbi.es.s_first_meta_bg) meta += sbi.es.s_reserved_gdt_blocks;
    // With 1 KiB blocks group 0 starts at block 1; the superblock is its first block.
    for (let i = 0; i < meta; i++) mark(first + i);
  }
  for (let i = 0; i < sbi.groupsCount; i++) {
    const d = sbi.descs[i]!;
    mark(d.blockBitmap); mark(d.inodeBitmap);
    for (let t = 0; t < sbi.itbPerGroup; t++) mark(d.inodeTable + t);
  }
  // Bits beyond the group's blocks, to the end of the bitmap block, are set.
  for (let i = n; i < sbi.blockSize * 8; i++) setBit(b, i);
}

async function blockBitmap(h: Ext4Handle, g: number): Promise<Uint8Array> {
  const sbi = h.sbi;
  const nr = sbi.descs[g]!.blockBitmap;
  const flags = gdFlags(sbi, g);
  if (flags & EXT4_BG_BLOCK_UNINIT) {
    const b = await h.getBlock(nr, true);
    initBlockBitmap(sbi, g, b);
    const gblk = gdAccess(h, g);
    setGdFlags(sbi, g, flags & ~EXT4_BG_BLOCK_UNINIT);
    setBlockBitmapCsum(sbi, g, b);
    gdDirty(h, g, gblk);
    h.dirty(nr);
    return b;
  }
  return h.getBlock(nr);
}

async function inodeBitmap(h: Ext4Handle, g: number): Promise<Uint8Array> {
  const sbi = h.sbi;
  const nr = sbi.descs[g]!.inodeBitmap;
  const flags = gdFlags(sbi, g);
  if (flags & EXT4_BG_INODE_UNINIT) {
    const b = await h.getBlock(nr, true);
    b.fill(0);
    for (let i = sbi.inodesPerGroup; i < sbi.blockSize * 8; i++) setBit(b, i);
    const gblk = gdAccess(h, g);
    setGdFlags(sbi, g, flags & ~EXT4_BG_INODE_UNINIT);
    setInodeBitmapCsum(sbi, g, b);
    gdDirty(h, g, gblk);
    h.dirty(nr);
    return b;
  }
  return h.getBlock(nr);
}

/* ---- blocks ---- */

/** Blocks a handle may dirty to allocate or free a run: bitmap + descriptor per group touched. */
export const ALLOC_CREDITS = 4;

/**
 * ext4_mb_new_blocks, first fit from `goal`: up to `maxLen` contiguous free blocks. Returns the
 * first block and the run length (>= 1); ENOSPC when the filesystem is full.
 */
export async function allocBlocks(h: Ext4Handle, goal: number, maxLen: number): Promise<{ pblk: number; len: number }> {
  const sbi = h.sbi;
  maxLen = Math.min(maxLen, claimableClusters(sbi));
  if (maxLen <= 0) fail(ENOSPC);
  if (goal < sbi.firstDataBlock || goal >= sbi.blocksCount) goal = sbi.firstDataBlock;
  const g0 = Math.floor((goal - sbi.firstDataBlock) / sbi.blocksPerGroup);
  for (let k = 0; k <= sbi.groupsCount; k++) {
    const g = (g0 + k) % sbi.groupsCount;
    if (gdFreeBlocks(sbi, g) === 0) continue;
    const first = sbi.groupFirstBlock(g);
    const n = blocksInGroup(sbi, g);
    const bm = await blockBitmap(h, g);
    let i = k === 0 ? goal - first : 0;
    while (i < n) {
      if (bm[i >> 3] === 0xff && (i & 7) === 0) { i += 8; continue; }
      if (testBit(bm, i) || isPendingFree(sbi, first + i)) { i++; continue; }
      let len = 1;
      while (len < maxLen && i + len < n && !testBit(bm, i + len) && !isPendingFree(sbi, first + i + len)) len++;
      for (let j = 0; j < len; j++) setBit(bm, i + j);
      const gblk = gdAccess(h, g);
      setBlockBitmapCsum(sbi, g, bm);
      set32split(sbi, g, 0x0c, 0x2c, gdFreeBlocks(sbi, g) - len);
      gdDirty(h, g, gblk);
      h.dirty(sbi.descs[g]!.blockBitmap);
      return { pblk: first + i, len };
    }
  }
  // k === groupsCount revisits the goal's group from its start.
  fail(ENOSPC);
}

const CAP_SYS_RESOURCE = 24;

/**
 * ext4_has_free_clusters: how many clusters the caller may take. Everyone leaves ext4's reserved
 * pool (s_resv_clusters, kept for metadata of extent splits); the root reserve (s_r_blocks_count)
 * is open only to s_resuid, members of s_resgid and CAP_SYS_RESOURCE.
 */
function claimableClusters(sbi: Ext4Sb): number {
  let free = 0;
  for (let g = 0; g < sbi.groupsCount; g++) free += gdFreeBlocks(sbi, g);
  const rootRes = Math.floor(sbi.es.rBlocksCount / 2 ** sbi.clusterBits);
  const cred = (sbi.vfs.caller as { cred?: { fsuid: number; inGroup(g: number): boolean; capable(c: number): boolean } } | undefined)?.cred;
  const es = sbi.es;
  const privileged = !cred || cred.fsuid === es.s_def_resuid || (es.s_def_resgid !== 0 && cred.inGroup(es.s_def_resgid)) ||
    cred.capable(CAP_SYS_RESOURCE);
  return free - sbi.resvClusters - (privileged ? 0 : rootRes);
}

/** ext4_free_blocks: return [pblk, pblk+count) to the bitmaps (may span groups). */
export async function freeBlocks(h: Ext4Handle, pblk: number, count: number): Promise<void> {
  const sbi = h.sbi;
  while (count > 0) {
    const g = Math.floor((pblk - sbi.firstDataBlock) / sbi.blocksPerGroup);
    const first = sbi.groupFirstBlock(g);
    const n = Math.min(count, first + blocksInGroup(sbi, g) - pblk);
    const bm = await blockBitmap(h, g);
    for (let j = 0; j < n; j++) {
      clearBit(bm, pblk - first + j);
      markFreed(h, pblk + j);
    }
    const gblk = gdAccess(h, g);
    setBlockBitmapCsum(sbi, g, bm);
    set32split(sbi, g, 0x0c, 0x2c, gdFreeBlocks(sbi, g) + n);
    gdDirty(h, g, gblk);
    h.dirty(sbi.descs[g]!.blockBitmap);
    pblk += n; count -= n;
  }
}

/* ---- inodes ---- */

/** find_group_orlov (simplified) / find_group_other: the group to search first. */
function findGroup(sbi: Ext4Sb, parentIno: number, isDir: boolean): number {
  const pg = Math.floor((parentIno - 1) / sbi.inodesPerGroup);
  if (isDir && parentIno === 2 /* EXT4_ROOT_INO */) {
    let totalFree = 0;
    for (let g = 0; g < sbi.groupsCount; g++) totalFree += gdFreeInodes(sbi, g);
    const avg = totalFree / sbi.groupsCount;
    let best = -1, bestBlocks = -1;
    for (let g = 0; g < sbi.groupsCount; g++) {
      const fi = gdFreeInodes(sbi, g);
      if (fi === 0 || fi < avg) continue;
      const fb = gdFreeBlocks(sbi, g);
      if (fb > bestBlocks) { best = g; bestBlocks = fb; }
    }
    if (best >= 0) return best;
  }
  return pg;
}

/** __ext4_new_inode's bitmap part: a free inode number near the parent. */
export async function allocInode(h: Ext4Handle, parentIno: number, isDir: boolean): Promise<number> {
  const sbi = h.sbi;
  const g0 = findGroup(sbi, parentIno, isDir);
  for (let k = 0; k < sbi.groupsCount; k++) {
    const g = (g0 + k) % sbi.groupsCount;
    if (gdFreeInodes(sbi, g) === 0) continue;
    const bm = await inodeBitmap(h, g);
    // Reserved inodes (below s_first_ino) are never handed out.
    const start = g === 0 ? sbi.firstIno - 1 : 0;
    let i = start;
    // find_next_zero_bit: whole bytes of used inodes are skipped at once.
    while (i < sbi.inodesPerGroup && (i & 7) && testBit(bm, i)) i++;
    while (i + 8 <= sbi.inodesPerGroup && bm[i >>> 3] === 0xff) i += 8;
    while (i < sbi.inodesPerGroup && testBit(bm, i)) i++;
    if (i >= sbi.inodesPerGroup) continue;
    setBit(bm, i);
    const gblk = gdAccess(h, g);
    setInodeBitmapCsum(sbi, g, bm);
    set32split(sbi, g, 0x0e, 0x2e, gdFreeInodes(sbi, g) - 1);
    if (isDir) set32split(sbi, g, 0x10, 0x30, gdUsedDirs(sbi, g) + 1);
    if (sbi.hasGdtCsum || sbi.hasMetadataCsum) {
      const unused = gdItableUnused(sbi, g);
      if (i >= sbi.inodesPerGroup - unused) set32split(sbi, g, 0x1c, 0x32, sbi.inodesPerGroup - i - 1);
    }
    gdDirty(h, g, gblk);
    h.dirty(sbi.descs[g]!.inodeBitmap);
    return g * sbi.inodesPerGroup + i + 1;
  }
  fail(ENOSPC);
}

/** ext4_free_inode's bitmap part. */
export async function freeInode(h: Ext4Handle, ino: number, isDir: boolean): Promise<void> {
  const sbi = h.sbi;
  const g = Math.floor((ino - 1) / sbi.inodesPerGroup);
  const i = (ino - 1) % sbi.inodesPerGroup;
  const bm = await inodeBitmap(h, g);
  clearBit(bm, i);
  const gblk = gdAccess(h, g);
  setInodeBitmapCsum(sbi, g, bm);
  set32split(sbi, g, 0x0e, 0x2e, gdFreeInodes(sbi, g) + 1);
  if (isDir) set32split(sbi, g, 0x10, 0x30, gdUsedDirs(sbi, g) - 1);
  gdDirty(h, g, gblk);
  h.dirty(sbi.descs[g]!.inodeBitmap);
}

/** The inode table holds slot `ino` zeroed? (ITABLE_ZEROED or inside the used part.) */
export function groupOfInode(sbi: Ext4Sb, ino: number): number { return Math.floor((ino - 1) / sbi.inodesPerGroup); }
