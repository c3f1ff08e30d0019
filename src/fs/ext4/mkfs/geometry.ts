/*
 * The block-group geometry of a new filesystem and the block allocator mkfs places metadata with.
 *
 * Geometry follows e2fsprogs' ext2fs_initialize(): blocks per group (8 x block size bits),
 * inodes per group rounded so the inode table fills whole blocks and is a multiple of 8, reserved
 * GDT blocks for 1024x online growth (at most one indirect block's worth), and a last group too
 * small for its own metadata dropped (with 50 blocks of slack) before anything is placed.
 *
 * The allocator keeps one bitmap per block group, made only when something in that group is
 * used, so a sparse 16 TiB filesystem costs a few megabytes. Its searches follow libext2fs
 * (first free at or after a goal, wrapping to the first data block), since where mke2fs puts
 * each table, directory and journal block is decided by exactly these searches.
 */
import { fail } from '../../../lib/errors.js';
import { EINVAL, ENOSPC } from '../../../uapi/errno.js';
import { hasFeature, type FsParams } from './params.js';

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, x) => { let c = 0; for (; x; x &= x - 1) c++; return c; });

export const BG_INODE_UNINIT = 1;
export const BG_BLOCK_UNINIT = 2;
export const BG_INODE_ZEROED = 4;

export class Geometry {
  readonly p: FsParams;
  readonly bs: number;
  blocksCount: number;
  rBlocksCount: number;
  readonly firstDataBlock: number;
  bpg: number;
  groups = 0;
  descSize: number;
  descBlocks = 0;
  ipg = 0;
  inodesCount = 0;
  inodeBlocksPerGroup = 0;
  rsvGdt = 0;
  readonly csum: boolean;
  readonly metaCsum: boolean;
  readonly sparse: boolean;
  readonly flexSize: number;

  /* Per-group descriptor fields. */
  blockBitmap!: Float64Array;
  inodeBitmap!: Float64Array;
  inodeTable!: Float64Array;
  freeBlocks!: Float64Array;
  freeInodes!: Float64Array;
  usedDirs!: Float64Array;
  flags!: Uint16Array;
  itableUnused!: Float64Array;
  freeBlocksTotal = 0;
  freeInodesTotal = 0;
  private maps = new Map<number, Uint8Array>();

  constructor(p: FsParams) {
    this.p = p;
    this.bs = p.blockSize;
    this.firstDataBlock = p.blockSize === 1024 ? 1 : 0;
    this.bpg = Math.min(p.blockSize * 8, 65528);
    this.blocksCount = p.blocksCount;
    this.rBlocksCount = p.rBlocksCount;
    this.descSize = hasFeature(p.features, '64bit') ? 64 : 32;
    this.metaCsum = hasFeature(p.features, 'metadata_csum');
    this.csum = this.metaCsum || hasFeature(p.features, 'uninit_bg');
    this.sparse = hasFeature(p.features, 'sparse_super');
    this.flexSize = p.logGroupsPerFlex ? 1 << p.logGroupsPerFlex : 0;
    this.computeGeometry();
  }

  private computeGeometry(): void {
    const p = this.p, bs = this.bs;
    const isize = p.inodeSize;
    const descPerBlock = bs / this.descSize;
    for (;;) {
      this.groups = Math.ceil((this.blocksCount - this.firstDataBlock) / this.bpg);
      if (this.groups === 0) fail(EINVAL, 'mkfs: filesystem too small');
      this.descBlocks = Math.ceil(this.groups / descPerBlock);
      let inodes = p.inodesCount;
      if (inodes < 12) inodes = 12;
      let ipg = Math.ceil(inodes / this.groups);
      if (ipg > bs * 8) {
        if (this.bpg >= 256) {
          this.bpg -= 8;
          this.blocksCount = p.blocksCount;
          continue;
        }
        fail(EINVAL, 'mkfs: too many inodes');
      }
      const maxIpg = 65536 - bs / isize;
      if (ipg > maxIpg) ipg = maxIpg;
      for (;;) {
        let ibpg = Math.ceil((ipg * isize) / bs);
        let real = Math.floor((ibpg * bs) / isize);
        if (real < 8) real = 8;
        real &= ~7;
        ibpg = Math.ceil((real * isize) / bs);
        if (real * this.groups > 0xffffffff) { ipg--; continue; }
        this.ipg = real;
        this.inodeBlocksPerGroup = ibpg;
        break;
      }
      this.inodesCount = this.ipg * this.groups;
      // Rounding down to a multiple of 8 can leave fewer inodes than the reserved ones (mke2fs
      // then dies writing them: "Illegal inode number").
      if (this.inodesCount < 12) fail(EINVAL, 'mkfs: too few inodes for the reserved ones');
      this.rsvGdt = hasFeature(p.features, 'resize_inode') ? this.calcReservedGdt() : 0;
      if (this.rsvGdt + this.descBlocks > Math.floor((this.bpg * 3) / 4)) fail(EINVAL, 'mkfs: meta_bg layouts are not supported');
      let overhead = 3 + this.inodeBlocksPerGroup + this.rsvGdt + this.descBlocks;
      if (overhead > this.bpg) fail(EINVAL, 'mkfs: too many inodes');
      overhead = 2 + this.inodeBlocksPerGroup;
      if (this.hasSuper(this.groups - 1)) overhead += 1 + this.descBlocks + this.rsvGdt;
      const rem = (this.blocksCount - this.firstDataBlock) % this.bpg;
      if (this.groups === 1 && rem && rem < overhead) fail(EINVAL, 'mkfs: filesystem too small');
      if (rem && rem < overhead + 50) {
        const ratio = (100 * this.rBlocksCount) / this.blocksCount;
        this.blocksCount -= rem;
        this.rBlocksCount = Math.floor((ratio * this.blocksCount) / 100);
        continue;
      }
      break;
    }
  }

  /** calc_reserved_gdt_blocks(): room for 1024x growth, capped at 2^32 blocks. */
  private calcReservedGdt(): number {
    const descPerBlock = this.bs / this.descSize;
    let maxBlocks = 0xffffffff;
    if (this.blocksCount < Math.floor(maxBlocks / 1024)) maxBlocks = this.blocksCount * 1024;
    const rsvGroups = Math.ceil((maxBlocks - this.firstDataBlock) / this.bpg);
    let rsv = Math.ceil(rsvGroups / descPerBlock) - this.descBlocks;
    if (rsv > this.bs / 4) rsv = this.bs / 4;
    return Math.max(rsv, 0);
  }

  /** ext2fs_bg_has_super(): groups 0, 1 and powers of 3, 5 and 7 under sparse_super. */
  hasSuper(g: number): boolean {
    if (g === 0 || !this.sparse || g === 1) return true;
    if (!(g & 1)) return false;
    for (const base of [3, 5, 7]) {
      let n = base;
      while (n < g) n *= base;
      if (n === g) return true;
    }
    return false;
  }

  groupFirst(g: number): number { return this.firstDataBlock + g * this.bpg; }
  groupLast(g: number): number { return g === this.groups - 1 ? this.blocksCount - 1 : this.groupFirst(g) + this.bpg - 1; }
  groupBlocks(g: number): number { return this.groupLast(g) - this.groupFirst(g) + 1; }
  groupOf(b: number): number { return Math.floor((b - this.firstDataBlock) / this.bpg); }

  /** Blocks the superblock copy, descriptors and reserved GDT take at the start of group g. */
  superBlocks(g: number): number { return this.hasSuper(g) ? 1 + this.descBlocks + this.rsvGdt : 0; }

  /* ---- the block bitmap ---- */

  private map(g: number, create: boolean): Uint8Array | undefined {
    let m = this.maps.get(g);
    if (!m && create) { m = new Uint8Array(Math.ceil(this.bpg / 8)); this.maps.set(g, m); }
    return m;
  }

  groupBitmap(g: number): Uint8Array | undefined { return this.maps.get(g); }

  isUsed(b: number): boolean {
    if (b < this.firstDataBlock) return true;
    const g = this.groupOf(b), m = this.maps.get(g);
    if (!m) return false;
    const i = b - this.groupFirst(g);
    return (m[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  mark(b: number, n = 1): void {
    for (let k = 0; k < n; k++) {
      const x = b + k;
      const g = this.groupOf(x), m = this.map(g, true)!;
      const i = x - this.groupFirst(g);
      m[i >> 3]! |= 1 << (i & 7);
    }
  }

  /** The first used block in [b, b+n), or -1. */
  firstUsed(b: number, n: number): number {
    const end = b + n;
    let x = b;
    while (x < end) {
      if (x < this.firstDataBlock) return x;
      const g = this.groupOf(x);
      const gEnd = Math.min(end, this.groupFirst(g) + this.bpg);
      const m = this.maps.get(g);
      if (m) {
        const base = this.groupFirst(g);
        for (let y = x; y < gEnd; y++) {
          const i = y - base;
          if (m[i >> 3]! & (1 << (i & 7))) return y;
        }
      }
      x = gEnd;
    }
    return -1;
  }

  /** ext2fs_get_free_blocks2(): n free blocks from start, wrapping, stopping at finish. */
  getFreeBlocks(start: number, finish: number, n: number): number {
    let b = start || this.firstDataBlock;
    if (!finish) finish = start;
    for (let guard = 0; guard < 4; ) {
      if (b + n - 1 >= this.blocksCount) {
        if (finish > start) return -1;
        b = this.firstDataBlock;
        guard++;
      }
      const u = this.firstUsed(b, n);
      if (u < 0) return b;
      const next = u + 1;
      if (b < finish && finish <= next) return -1;
      b = next;
    }
    return -1;
  }

  /** ext2fs_new_block2(): the first free block at or after goal, else from the start. */
  newBlock(goal: number): number {
    if (!goal || goal >= this.blocksCount) goal = this.firstDataBlock;
    let b = this.getFreeBlocks(goal, this.blocksCount - 1 > goal ? this.blocksCount - 1 : 0, 1);
    if (b < 0 && goal !== this.firstDataBlock) b = this.getFreeBlocks(this.firstDataBlock, goal - 1 || 0, 1);
    if (b < 0 || this.isUsed(b)) fail(ENOSPC, 'mkfs: no free block');
    return b;
  }

  /** ext2fs_block_alloc_stats2(+1) */
  allocStats(b: number): void {
    this.mark(b);
    const g = this.groupOf(b);
    this.freeBlocks[g]!--;
    this.flags[g]! &= ~BG_BLOCK_UNINIT;
    this.freeBlocksTotal--;
  }

  /** ext2fs_inode_alloc_stats2(+1) */
  inodeAllocStats(ino: number, isDir: boolean): void {
    const g = Math.floor((ino - 1) / this.ipg);
    this.inodeBitmapSet.add(ino);
    this.freeInodes[g]!--;
    if (isDir) this.usedDirs[g]!++;
    this.flags[g]! &= ~BG_INODE_UNINIT;
    if (this.csum) {
      const firstUnused = this.ipg - this.itableUnused[g]! + g * this.ipg + 1;
      if (ino >= firstUnused) this.itableUnused[g] = g * this.ipg + this.ipg - ino;
    }
    this.freeInodesTotal--;
  }
  readonly inodeBitmapSet = new Set<number>();

  /* ---- placing the tables ---- */

  /** The group descriptors as ext2fs_initialize leaves them, then ext2fs_allocate_tables(). */
  initGroups(): void {
    const n = this.groups;
    this.blockBitmap = new Float64Array(n);
    this.inodeBitmap = new Float64Array(n);
    this.inodeTable = new Float64Array(n);
    this.freeBlocks = new Float64Array(n);
    this.freeInodes = new Float64Array(n);
    this.usedDirs = new Float64Array(n);
    this.flags = new Uint16Array(n);
    this.itableUnused = new Float64Array(n);
    let reservedInos = 11;
    this.freeBlocksTotal = 0;
    for (let g = 0; g < n; g++) {
      if (this.csum) {
        if (g !== n - 1) this.flags[g]! |= BG_BLOCK_UNINIT;
        this.flags[g]! |= BG_INODE_UNINIT;
        let unused = this.ipg;
        if (reservedInos) {
          if (unused > reservedInos) { unused -= reservedInos; reservedInos = 0; } else { reservedInos -= unused; unused = 0; }
        }
        this.itableUnused[g] = unused;
      }
      const sb = this.superBlocks(g);
      if (sb) this.mark(this.groupFirst(g), Math.min(sb, this.blocksCount - this.groupFirst(g)));
      let free = this.groupBlocks(g) - (2 + this.inodeBlocksPerGroup + sb);
      if (this.flexSize) free += 2 + this.inodeBlocksPerGroup;
      this.freeBlocks[g] = free;
      this.freeBlocksTotal += free;
      this.freeInodes[g] = this.ipg;
    }
    this.freeInodesTotal = this.inodesCount;
    for (let g = 0; g < n; g++) this.allocateGroupTable(g);
  }

  private flexbgOffset(group: number, startBlk: number, remGrp: number, elemSize: number): number {
    const flex = this.flexSize;
    const flexbg = Math.floor(group / flex);
    let size = remGrp * elemSize;
    if (size > Math.floor(this.bpg / 4)) size = Math.floor(this.bpg / 4);
    if (startBlk && startBlk < this.blocksCount) {
      const r = this.getFreeBlocks(startBlk, startBlk + size, elemSize);
      if (r >= 0) return r;
    }
    startBlk = this.groupFirst(flex * flexbg);
    let lastGrp = group | (flex - 1);
    if (lastGrp > this.groups - 1) lastGrp = this.groups - 1;
    const lastBlk = this.groupLast(lastGrp);
    let r = this.getFreeBlocks(startBlk, lastBlk, size);
    if (r >= 0) return r;
    r = this.getFreeBlocks(startBlk, lastBlk, elemSize);
    if (r >= 0) return r;
    r = this.getFreeBlocks(0, lastBlk, elemSize);
    return r >= 0 ? r : 0;
  }

  /** Charge n table blocks from b on to the groups they lie in (flex_bg only). */
  private chargeFlex(b: number, n: number): void {
    while (n > 0) {
      const g = this.groupOf(b);
      const m = Math.min(n, this.groupLast(g) - b + 1);
      this.freeBlocks[g]! -= m;
      this.flags[g]! &= ~BG_BLOCK_UNINIT;
      this.freeBlocksTotal -= m;
      b += m; n -= m;
    }
  }

  private allocateGroupTable(group: number): void {
    let groupBlk = this.groupFirst(group);
    let lastBlk = this.groupLast(group);
    const flex = this.flexSize;
    let lastGrp = 0, remGrps = 0, tableOffset = 0;
    if (flex) {
      lastGrp = group | (flex - 1);
      if (lastGrp > this.groups - 1) lastGrp = this.groups - 1;
      remGrps = lastGrp - group + 1;
    }
    let startBlk: number;
    if (this.p.stride && !flex) {
      startBlk = this.getFreeBlocks(groupBlk, lastBlk, 1);
      if (startBlk < 0) fail(ENOSPC, 'mkfs: no room for the group tables');
      startBlk += this.inodeBlocksPerGroup;
      startBlk += (this.p.stride * group) % (lastBlk - startBlk + 1);
      if (startBlk >= lastBlk) startBlk = groupBlk;
    } else startBlk = groupBlk;

    if (flex) {
      let prev = 0;
      tableOffset = flex;
      if (group % flex) prev = this.blockBitmap[group - 1]! + 1;
      else if (lastGrp === this.groups - 1) {
        // The last flex group keeps its tables contiguous.
        tableOffset = lastGrp & (flex - 1);
        tableOffset = tableOffset === 0 ? flex : tableOffset + 1;
      }
      startBlk = this.flexbgOffset(group, prev, remGrps, 1);
      lastBlk = this.groupLast(lastGrp);
    }
    const one = (start: number): number => {
      let b = this.getFreeBlocks(start, lastBlk, 1);
      if (b < 0) b = this.getFreeBlocks(groupBlk, lastBlk, 1);
      if (b < 0) fail(ENOSPC, 'mkfs: no room for a bitmap');
      this.mark(b);
      if (flex) this.chargeFlex(b, 1);
      return b;
    };
    this.blockBitmap[group] = one(startBlk);

    if (flex) {
      const prev = group % flex ? this.inodeBitmap[group - 1]! + 1 : this.blockBitmap[group]! + tableOffset;
      startBlk = this.flexbgOffset(group, prev, remGrps, 1);
      lastBlk = this.groupLast(lastGrp);
    }
    this.inodeBitmap[group] = one(startBlk);

    const ibpg = this.inodeBlocksPerGroup;
    if (flex) {
      const prev = group % flex ? this.inodeTable[group - 1]! + ibpg : this.inodeBitmap[group]! + tableOffset;
      groupBlk = this.flexbgOffset(group, prev, remGrps, ibpg);
      lastBlk = this.groupLast(lastGrp);
    }
    const t = this.getFreeBlocks(groupBlk, lastBlk, ibpg);
    if (t < 0) fail(ENOSPC, 'mkfs: no room for an inode table');
    this.mark(t, ibpg);
    if (flex) this.chargeFlex(t, ibpg);
    this.inodeTable[group] = t;
  }

  /** Used blocks in [first data block, end): what s_overhead_clusters counts after the tables. */
  countUsed(): number {
    let n = 0;
    for (const [g, m] of this.maps) {
      const len = this.groupBlocks(g);
      const whole = len >> 3;
      for (let i = 0; i < whole; i++) { const x = m[i]!; if (x) n += POPCOUNT[x]!; }
      for (let i = whole * 8; i < len; i++) if (m[i >> 3]! & (1 << (i & 7))) n++;
    }
    return n;
  }
}
