/*
 * The orphan list (fs/ext4/orphan.c: ext4_orphan_add, ext4_orphan_del, ext4_orphan_cleanup).
 *
 * An inode whose last name is gone may still be open; its blocks must be freed when the last
 * user lets go, and also after a crash before that. So when a link count drops to zero the inode
 * joins a list kept on disk: the superblock's s_last_orphan names the first member and each
 * member's i_dtime (unused while the inode lives) names the next. The superblock block is changed
 * in the same handle as the inode, so the journal makes both visible together. Eviction takes the
 * inode off the list in the handle that frees it (the list head moves on, or the member before it
 * skips it), and the mount after a crash walks whatever list it finds: inodes without links are
 * freed, inodes with links (a truncate in flight, in Linux) are cut to their size.
 *
 * An O_TMPFILE inode is born on the list (it never had a link); if linkat gives it a name it
 * leaves the list in the handle that adds the name.
 *
 * The members of a mounted filesystem are remembered in memory (Linux's s_orphan list) so the
 * predecessor of an inode is found without reading the list from disk.
 */
import { isPromise } from '../../lib/errors.js';
import { EXT4_S_CHECKSUM_OFFSET, EXT4_MIN_BLOCK_SIZE } from './layout/index.js';
import { ext4Msg, KERN_INFO, type Ext4Inode, type Ext4Sb } from './ext4.js';
import { superblockCsum } from './super.js';
import type { Ext4Handle } from './jbd.js';
import { writeInode } from './inode_write.js';
import { orphanCleanup } from './inode.js';

const S_LAST_ORPHAN = 0xe8;

/** Members of each mounted filesystem's list, by inode number. */
const members = new WeakMap<Ext4Sb, Map<number, Ext4Inode>>();
function listOf(sbi: Ext4Sb): Map<number, Ext4Inode> {
  let m = members.get(sbi);
  if (!m) members.set(sbi, m = new Map());
  return m;
}

function head(sbi: Ext4Sb): number {
  return new DataView(sbi.sbBytes.buffer, sbi.sbBytes.byteOffset, 1024).getUint32(S_LAST_ORPHAN, true);
}

/** s_last_orphan = ino, journalled: the superblock's block goes through the handle. */
async function setHead(h: Ext4Handle, sbi: Ext4Sb, ino: number): Promise<void> {
  const v = new DataView(sbi.sbBytes.buffer, sbi.sbBytes.byteOffset, 1024);
  v.setUint32(S_LAST_ORPHAN, ino >>> 0, true);
  if (sbi.hasMetadataCsum) v.setUint32(EXT4_S_CHECKSUM_OFFSET, superblockCsum(sbi.sbBytes), true);
  const off = sbi.opts.sbBlock * EXT4_MIN_BLOCK_SIZE;
  const nr = Math.floor(off / sbi.blockSize);
  const b = await h.getBlock(nr);
  b.set(sbi.sbBytes.subarray(0, 1024), off % sbi.blockSize);
  h.dirty(nr);
}

export function isOrphan(inode: Ext4Inode): boolean { return listOf(inode.sbi).get(inode.ino) === inode; }

/** ext4_orphan_add: `inode` (its links gone) heads the list. The caller writes the inode too. */
export async function orphanAdd(h: Ext4Handle, inode: Ext4Inode): Promise<void> {
  const sbi = inode.sbi;
  const list = listOf(sbi);
  if (list.has(inode.ino)) return;
  inode.dtime = head(sbi);
  await setHead(h, sbi, inode.ino);
  await writeInode(h, inode);
  list.set(inode.ino, inode);
}

/** ext4_orphan_del: unlink `inode` from the list (head or predecessor skips it). */
export async function orphanDel(h: Ext4Handle, inode: Ext4Inode): Promise<void> {
  const sbi = inode.sbi;
  const list = listOf(sbi);
  if (list.get(inode.ino) !== inode) return;
  const next = inode.dtime;
  if (head(sbi) === inode.ino) await setHead(h, sbi, next);
  else {
    for (const p of list.values()) {
      if (p !== inode && p.dtime === inode.ino) { p.dtime = next; await writeInode(h, p); break; }
    }
  }
  list.delete(inode.ino);
  inode.dtime = 0;
  await writeInode(h, inode);
}

/**
 * ext4_orphan_cleanup, at a read-write mount: walk the list left by a crash. Every member is
 * read first (the chain lives in their i_dtime), then each is freed (no links) or truncated to
 * its size; each step takes the member off the list in its own handle.
 */
export async function orphanCleanupAtMount(sbi: Ext4Sb, evict: (i: Ext4Inode) => Promise<void>,
  truncate: (i: Ext4Inode) => Promise<void>): Promise<void> {
  if (!head(sbi)) return;
  const list = listOf(sbi);
  const chain: Ext4Inode[] = [];
  orphanCleanup.add(sbi);
  try {
    const seen = new Set<number>();
    for (let ino = head(sbi); ino && !seen.has(ino); ) {
      seen.add(ino);
      if (ino < sbi.firstIno || ino > sbi.inodesCount) break; // e2fsck's bound for a sane list
      const r = sbi.iget(ino);
      const inode = isPromise(r) ? await r : r;
      chain.push(inode);
      list.set(ino, inode);
      ino = inode.dtime;
    }
  } finally {
    orphanCleanup.delete(sbi);
  }
  let deleted = 0, truncated = 0;
  for (const inode of chain) {
    if (inode.nlink === 0) { await evict(inode); deleted++; } else { await truncate(inode); truncated++; }
  }
  if (deleted) ext4Msg(sbi, KERN_INFO, `${deleted} orphan inode${deleted === 1 ? '' : 's'} deleted`);
  if (truncated) ext4Msg(sbi, KERN_INFO, `${truncated} truncate${truncated === 1 ? '' : 's'} cleaned up`);
}
