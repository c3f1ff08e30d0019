/*
 * Block maps of ext2/ext3 inodes (fs/ext4/indirect.c, read side).
 *
 * i_block[0..11] name the first twelve data blocks directly; i_block[12] names a block of
 * block numbers (single indirect), i_block[13] a block of such blocks (double), i_block[14] one
 * more level (triple). With b = blocksize / 4 entries per block, logical block n is found by
 * ext4_block_to_path's offsets; a zero anywhere on the path is a hole. Numbers are 32 bits.
 *
 * Like Linux's ext4_check_blockref, every block number in i_block[] (at iget) and in an
 * indirect block (when it is first used) must lie inside the filesystem's data area, else
 *   EXT4-fs error (device vda1): ext4_get_branch:N: inode #12: block 999999: comm cat: invalid block
 * and EUCLEAN. Checked indirect blocks are kept per inode (a few, most recent) so a sequential
 * read does not re-check the same 1024 entries for every block.
 */
import { isPromise } from '../../lib/errors.js';
import { EIO } from '../../uapi/errno.js';
import { KERN_WARNING } from '../../kernel/printk/index.js';
import { EXT4_NDIR_BLOCKS, EXT4_IND_BLOCK, EXT4_DIND_BLOCK, EXT4_TIND_BLOCK, EXT4_N_BLOCKS } from './layout/index.js';
import { ext4Error, type Ext4Inode, type BlockMapping } from './ext4.js';

/** Per-inode cache of checked indirect blocks: block number -> entries. */
interface IndCache { blocks: Map<number, Uint32Array> }
const IND_CACHE_MAX = 8;

function iblock(inode: Ext4Inode, i: number): number {
  const r = inode.raw;
  const o = 0x28 + 4 * i;
  return (r[o]! | (r[o + 1]! << 8) | (r[o + 2]! << 16) | (r[o + 3]! << 24)) >>> 0;
}

function isJournalInode(inode: Ext4Inode): boolean {
  return inode.sbi.hasJournal && inode.ino === inode.sbi.es.s_journal_inum;
}

/** ext4_ind_check_inode: the fifteen i_block[] entries, checked at iget. */
export function ext4IndCheckInode(inode: Ext4Inode): void {
  if (isJournalInode(inode)) return;
  for (let i = 0; i < EXT4_N_BLOCKS; i++) {
    const b = iblock(inode, i);
    if (b && !inode.sbi.blockValid(b, 1)) {
      throw ext4Error(inode.sbi, '__ext4_iget', inode, 'invalid block', { block: b, line: 5103 });
    }
  }
}

/** An indirect block's entries, read and checked once (ext4_get_branch + ext4_check_indirect_blockref). */
async function readIndirect(inode: Ext4Inode, nr: number): Promise<Uint32Array> {
  let cache = inode.extentCache as IndCache | null;
  if (!cache) inode.extentCache = cache = { blocks: new Map() };
  const hit = cache.blocks.get(nr);
  if (hit) return hit;
  const sbi = inode.sbi;
  let b: Uint8Array;
  try {
    const r = sbi.bread(nr);
    b = isPromise(r) ? await r : r;
  } catch {
    throw ext4Error(sbi, 'ext4_get_branch', inode, 'unable to read indirect block', { block: nr, errno: EIO, line: 164 });
  }
  const n = sbi.blockSize / 4;
  const entries = new Uint32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const journal = isJournalInode(inode);
  for (let i = 0; i < n; i++) {
    const x = dv.getUint32(4 * i, true);
    if (x && !journal && !sbi.blockValid(x, 1)) {
      throw ext4Error(sbi, 'ext4_get_branch', inode, 'invalid block', { block: x, line: 164 });
    }
    entries[i] = x;
  }
  if (cache.blocks.size >= IND_CACHE_MAX) cache.blocks.delete(cache.blocks.keys().next().value as number);
  cache.blocks.set(nr, entries);
  return entries;
}

/** ext4_block_to_path: offsets from i_block[] down to the data block pointer, or null if too far. */
export function blockToPath(lblk: number, apb: number): number[] | null {
  if (lblk < EXT4_NDIR_BLOCKS) return [lblk];
  let n = lblk - EXT4_NDIR_BLOCKS;
  if (n < apb) return [EXT4_IND_BLOCK, n];
  n -= apb;
  if (n < apb * apb) return [EXT4_DIND_BLOCK, Math.floor(n / apb), n % apb];
  n -= apb * apb;
  if (n < apb * apb * apb) return [EXT4_TIND_BLOCK, Math.floor(n / (apb * apb)), Math.floor(n / apb) % apb, n % apb];
  return null;
}

/** Count a run of consecutive blocks (or of zeros) in `arr` from index `i`, at most `max`. */
function runIn(arr: ArrayLike<number>, i: number, end: number, max: number): number {
  const first = arr[i]!;
  let n = 1;
  if (first === 0) { while (i + n < end && n < max && arr[i + n] === 0) n++; }
  else { while (i + n < end && n < max && arr[i + n] === first + n) n++; }
  return n;
}

/** Map `lblk` of a block-mapped inode (ext4_ind_map_blocks without allocation). */
export async function ext4IndMap(inode: Ext4Inode, lblk: number, maxLen: number): Promise<BlockMapping> {
  const sbi = inode.sbi;
  const apb = sbi.blockSize / 4;
  const path = blockToPath(lblk, apb);
  if (!path) {
    sbi.vfs.printk(KERN_WARNING, `EXT4-fs warning (device ${sbi.id}): ext4_block_to_path:105: block ${lblk} > max in inode ${inode.ino}`);
    throw ext4Error(sbi, 'ext4_ind_map_blocks', inode, `logical block ${lblk} beyond the block map`, { errno: EIO });
  }
  maxLen = Math.max(1, maxLen);
  if (path.length === 1) {
    const direct = Array.from({ length: EXT4_NDIR_BLOCKS }, (_, i) => iblock(inode, i));
    const p = direct[lblk]!;
    const n = runIn(direct, lblk, EXT4_NDIR_BLOCKS, maxLen);
    return { pblk: p, len: n, unwritten: false };
  }
  let ptr = iblock(inode, path[0]!);
  const depth = path.length - 1; // levels of indirect blocks
  for (let level = 1; level <= depth; level++) {
    // Blocks under one entry at this level, and our offset inside the current subtree.
    if (ptr === 0) {
      let within = 0;
      for (let k = level; k <= depth; k++) within = within * apb + path[k]!;
      const span = apb ** (depth - level + 1);
      return { pblk: 0, len: Math.max(1, Math.min(span - within, maxLen)), unwritten: false };
    }
    const entries = await readIndirect(inode, ptr);
    const off = path[level]!;
    if (level === depth) {
      return { pblk: entries[off]!, len: runIn(entries, off, apb, maxLen), unwritten: false };
    }
    ptr = entries[off]!;
  }
  return { pblk: 0, len: 1, unwritten: false };
}
