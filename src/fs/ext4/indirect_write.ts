/*
 * Changing block maps (the writing half of fs/ext4/indirect.c), for ext2/ext3 files and any
 * inode without EXT4_EXTENTS_FL.
 *
 * i_block[0..11] name the first twelve blocks; i_block[12] an indirect block of blocksize/4
 * pointers, [13] a double and [14] a triple indirect block. Writing a hole allocates the missing
 * indirect blocks on the way down (zeroed, metadata in the handle, counted in i_blocks) and then
 * the data block, each near the previous one so a file streams contiguously with its indirect
 * blocks in line, as ext2's allocator places them. Truncation walks the tree from the top and
 * frees every data block at or past the cut, and every indirect block left without pointers
 * (revoked in the journal, so a replay cannot write an old copy over its next use).
 */
import { isPromise } from '../../lib/errors.js';
import type { Ext4Inode } from './ext4.js';
import { allocBlocks, freeBlocks } from './balloc.js';
import type { Ext4Handle } from './jbd.js';

const N_DIR = 12;

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }
const rd32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
function wr32(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true); }

/** The path to `lblk`: which i_block slot, then the index in each indirect level. */
function pathOf(inode: Ext4Inode, lblk: number): { slot: number; idx: number[] } {
  const per = inode.sbi.blockSize / 4;
  if (lblk < N_DIR) return { slot: lblk, idx: [] };
  lblk -= N_DIR;
  if (lblk < per) return { slot: 12, idx: [lblk] };
  lblk -= per;
  if (lblk < per * per) return { slot: 13, idx: [Math.floor(lblk / per), lblk % per] };
  lblk -= per * per;
  return { slot: 14, idx: [Math.floor(lblk / (per * per)), Math.floor(lblk / per) % per, lblk % per] };
}

/** Largest logical block a block map can address, plus one. */
export function indMaxBlocks(inode: Ext4Inode): number {
  const per = inode.sbi.blockSize / 4;
  return N_DIR + per + per * per + per * per * per;
}

/**
 * Map [lblk, lblk+count) for writing, allocating holes; `each` gets every block's physical
 * number and whether it is new (to be zero-filled around the written bytes).
 */
export async function indMapForWrite(h: Ext4Handle, inode: Ext4Inode, lblk: number, count: number,
  each: (lblk: number, pblk: number, fresh: boolean) => Promise<void>): Promise<void> {
  const sbi = inode.sbi;
  const spb = sbi.blockSize >> 9;
  const root = inode.iBlock;
  let goal = 0;
  for (let l = lblk; l < lblk + count; l++) {
    const { slot, idx } = pathOf(inode, l);
    // Walk down, creating missing indirect blocks.
    let holder: Uint8Array = root, holderNr = -1, off = slot * 4;
    let ptr = rd32(root, off);
    if (!goal) goal = ptr || sbi.groupFirstBlock(Math.floor((inode.ino - 1) / sbi.inodesPerGroup));
    for (let d = 0; d <= idx.length; d++) {
      let fresh = false;
      if (!ptr) {
        const got = await allocBlocks(h, goal, 1);
        ptr = got.pblk;
        goal = ptr + 1;
        inode.blocks += spb;
        fresh = true;
        if (holderNr >= 0) { const hb = await h.getBlock(holderNr); wr32(hb, off, ptr); h.dirty(holderNr); }
        else wr32(holder, off, ptr);
        inode.extentCache = null;
        if (d < idx.length) {
          const nb = await h.getBlock(ptr, true);
          nb.fill(0);
          h.dirty(ptr);
        }
      }
      if (d === idx.length) { await each(l, ptr, fresh); goal = ptr + 1; break; }
      holderNr = ptr;
      holder = h.blocks.get(ptr) ?? await aw(sbi.bread(ptr));
      off = idx[d]! * 4;
      ptr = rd32(holder, off);
    }
  }
}

/**
 * Free everything at or past logical block `keep` below pointer `nr` of `level` (0 = data),
 * covering logical blocks from `base`. Returns true when the block itself was freed.
 */
async function freeBranch(h: Ext4Handle, inode: Ext4Inode, nr: number, level: number, base: number, keep: number,
  stop = Infinity): Promise<boolean> {
  const sbi = inode.sbi;
  const per = sbi.blockSize / 4;
  const spb = sbi.blockSize >> 9;
  if (level === 0) {
    if (base < keep || base >= stop) return false;
    if (inode.isDir) h.forget(nr); // directory blocks are journalled metadata
    await freeBlocks(h, nr, 1);
    inode.blocks -= spb;
    return true;
  }
  const span = per ** (level - 1);
  if (base + per * span <= keep || base >= stop) return false;
  const b = h.blocks.get(nr) ?? await aw(sbi.bread(nr));
  let any = false;
  const changes: number[] = [];
  for (let i = 0; i < per; i++) {
    const p = rd32(b, 4 * i);
    if (!p) continue;
    const childBase = base + i * span;
    if (await freeBranch(h, inode, p, level - 1, childBase, keep, stop)) changes.push(i);
    else any = true;
  }
  if (!any) {
    h.forget(nr);
    await freeBlocks(h, nr, 1);
    inode.blocks -= spb;
    return true;
  }
  if (changes.length) {
    const wb = await h.getBlock(nr);
    for (const i of changes) wr32(wb, 4 * i, 0);
    h.dirty(nr);
  }
  return false;
}

/**
 * Free the blocks at or past logical block `keep` (ext4_ind_truncate), or with `stop` only those
 * before it (ext4_ind_remove_space, punching a hole); indirect blocks left empty go too.
 */
export async function indTruncate(h: Ext4Handle, inode: Ext4Inode, keep: number, stop = Infinity): Promise<void> {
  const per = inode.sbi.blockSize / 4;
  const root = inode.iBlock;
  const bases = [0, N_DIR, N_DIR + per, N_DIR + per + per * per];
  for (let slot = 0; slot < 15; slot++) {
    const p = rd32(root, slot * 4);
    if (!p) continue;
    const level = slot < N_DIR ? 0 : slot - 11;
    const base = slot < N_DIR ? slot : bases[slot - 11]!;
    if (await freeBranch(h, inode, p, level, base, keep, stop)) wr32(root, slot * 4, 0);
  }
  inode.extentCache = null;
}
