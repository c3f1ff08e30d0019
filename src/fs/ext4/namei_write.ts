/*
 * Changing directories (fs/ext4/namei.c: ext4_add_entry, ext4_delete_entry, ext4_create,
 * ext4_mkdir, ext4_link, ext4_unlink, ext4_rmdir, ext4_empty_dir).
 *
 * A directory block is a chain of entries (inode, rec_len, name_len, file_type, name) whose
 * rec_lens add up to the block; with metadata_csum the last 12 bytes are a fake entry holding
 * the block's crc32c. Insertion looks, block by block, for an unused entry big enough or a live
 * entry whose rec_len exceeds its own size by enough, splitting it; failing that it appends a new
 * block (one empty entry spanning it, and the tail). Deletion folds the entry into the one before
 * it in its block, or clears its inode number when it is the first. Every changed block gets its
 * checksum again.
 *
 * Indexed (htree) directories: deletion works as above (a leaf stays a valid leaf); insertion
 * goes into the leaf dx_probe picks for the name's hash when it has room. A full leaf would need
 * a split (not done yet): the operation fails with EOPNOTSUPP, checked before anything changes
 * (planInsert), so nothing is half-written. Linux also converts a linear directory to an htree
 * when its first block fills; we keep appending linear blocks, which e2fsck and Linux accept
 * (e2fsck -D would index it). Inline-data, casefolded and encrypted directories are refused.
 *
 * A create whose entry cannot be added after its inode was allocated (ENOSPC for a new directory
 * block) gives the inode back, as iput of a failed create does in Linux.
 */
import { fail, isPromise } from '../../lib/errors.js';
import { byteStringToBytes, type ByteString } from '../../lib/bytestr.js';
import { EOPNOTSUPP, ENOENT, EMLINK, ENAMETOOLONG } from '../../uapi/errno.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, MAJOR, MINOR } from '../../uapi/stat.js';
import type { Inode, InodeInit, InodeOperations } from '../vfs/index.js';
import { EXT4_EXTENTS_FL, EXT4_EXT_MAGIC } from './layout/index.js';
import { Ext4Inode, EFSCORRUPTED } from './ext4.js';
import { EXT4_NAME_LEN, ERR_BAD_DX_DIR, dirRecLen, dxBlockAt, dxProbe, isDx, le16, le32, recLenFromDisk } from './htree.js';
import { allocInode } from './balloc.js';
import { writeInode, initNewInode, checkWritableInode, mapWriteRange, ext4EvictInode } from './inode_write.js';
import { withHandle, writeState, type Ext4Handle } from './jbd.js';
import { attachRwOps } from './super_write.js';
import { ext4DirInodeOps, ext4DirFileOps } from './dir.js';
import { ext4FileOps } from './file.js';
import { ext4XattrInodeOps } from './xattr.js';
import { ext4SymlinkInodeOps } from './symlink.js';

/** Read-side operations of regular files (inode.ts builds the same table for inodes it reads). */
let fileOpsBase: InodeOperations | null = null;
const fileInodeOpsGet = (): InodeOperations => (fileOpsBase ??= { ...ext4XattrInodeOps });

const EXT4_LINK_MAX = 65000;
const TAIL = 12;

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

function p16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function p32(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true); }
function recLenToDisk(len: number): number { return len === 65536 ? 65535 : len; }

/** EXT4_FT_* for a mode. */
function fileType(dir: Ext4Inode, mode: number): number {
  if (!dir.sbi.hasFiletype) return 0;
  switch (mode & S_IFMT) {
    case S_IFREG: return 1; case S_IFDIR: return 2; case S_IFCHR: return 3; case S_IFBLK: return 4;
    case S_IFIFO: return 5; case S_IFSOCK: return 6; case S_IFLNK: return 7; default: return 0;
  }
}

function csumLimit(dir: Ext4Inode): number { return dir.sbi.blockSize - (dir.sbi.hasMetadataCsum ? TAIL : 0); }

/** ext4_dirblock_csum_set */
function setDirentCsum(dir: Ext4Inode, b: Uint8Array): void {
  const sbi = dir.sbi;
  if (!sbi.hasMetadataCsum) return;
  const t = sbi.blockSize - TAIL;
  p32(b, t + 8, sbi.chksum(dir.csumSeed, b, 0, t) >>> 0);
}
function initTail(dir: Ext4Inode, b: Uint8Array): void {
  if (!dir.sbi.hasMetadataCsum) return;
  const t = dir.sbi.blockSize - TAIL;
  b.fill(0, t);
  p16(b, t + 4, TAIL);
  b[t + 7] = 0xde;
}

function putEntry(b: Uint8Array, off: number, ino: number, recLen: number, name: Uint8Array, ft: number): void {
  p32(b, off, ino);
  p16(b, off + 4, recLenToDisk(recLen));
  b[off + 6] = name.length;
  b[off + 7] = ft;
  b.set(name, off + 8);
}

/** The directory's blocks as (lblk, pblk), holes skipped. */
async function dirBlocks(dir: Ext4Inode): Promise<[number, number][]> {
  const out: [number, number][] = [];
  const n = Math.floor(dir.size / dir.sbi.blockSize);
  for (let l = 0; l < n;) {
    const m = await dir.mapBlocks(l, n - l);
    if (m.pblk && !m.unwritten) for (let i = 0; i < m.len && l + i < n; i++) out.push([l + i, m.pblk + i]);
    l += m.len;
  }
  return out;
}

function checkWritableDir(dir: Ext4Inode): void {
  if (dir.hasInlineData || dir.encrypted || (dir.casefolded && dir.sbi.hasCasefold)) fail(EOPNOTSUPP);
  checkWritableInode(dir);
}

/** Offset of an entry in `b` with room for `need` more bytes (unused, or live with slack), or -1. */
function slotIn(dir: Ext4Inode, b: Uint8Array, need: number): number {
  const bs = dir.sbi.blockSize;
  const limit = csumLimit(dir);
  let off = 0;
  while (off < limit) {
    const rl = recLenFromDisk(le16(b, off + 4), bs);
    if (rl < 12 || off + rl > bs) return -1; // corrupt: leave this block alone
    const used = le32(b, off) ? dirRecLen(b[off + 6]!) : 0;
    if (off + rl <= limit && rl - used >= need) return off;
    off += rl;
  }
  return -1;
}

/**
 * Where a new entry for `name` will go: a directory block with room, or 0 for a new block at the
 * end. Runs before anything changes, so what cannot be done fails cleanly: an indexed directory
 * whose leaf for this hash is full (the split is not implemented) gives EOPNOTSUPP.
 */
async function planInsert(dir: Ext4Inode, name: Uint8Array): Promise<number> {
  const sbi = dir.sbi;
  const need = dirRecLen(name.length);
  if (isDx(dir)) {
    const p = await dxProbe(dir, name);
    if (p === ERR_BAD_DX_DIR) fail(EFSCORRUPTED);
    const leaf = p.frames[p.frames.length - 1]!;
    const m = await dir.mapBlocks(dxBlockAt(leaf, leaf.at), 1);
    if (!m.pblk || m.unwritten) fail(EFSCORRUPTED);
    if (slotIn(dir, await aw(sbi.bread(m.pblk)), need) >= 0) return m.pblk;
    fail(EOPNOTSUPP, 'ext4: htree leaf full; leaf splits are not supported yet');
  }
  for (const [, pblk] of await dirBlocks(dir)) {
    if (slotIn(dir, await aw(sbi.bread(pblk)), need) >= 0) return pblk;
  }
  return 0;
}

/** ext4_add_entry at the planned place. */
async function addEntry(h: Ext4Handle, dir: Ext4Inode, plan: number, name: Uint8Array, ino: number, mode: number): Promise<void> {
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const ft = fileType(dir, mode);
  if (plan) {
    const b = await h.getBlock(plan);
    const off = slotIn(dir, b, dirRecLen(name.length));
    if (off < 0) fail(EFSCORRUPTED);
    const rl = recLenFromDisk(le16(b, off + 4), bs);
    const used = le32(b, off) ? dirRecLen(b[off + 6]!) : 0;
    if (used) {
      p16(b, off + 4, used);
      putEntry(b, off + used, ino, rl - used, name, ft);
    } else {
      putEntry(b, off, ino, rl, name, ft);
    }
    setDirentCsum(dir, b);
    h.dirty(plan);
    return;
  }
  // No room: a new block at the end.
  const lblk = Math.floor(dir.size / bs);
  let pblk = 0;
  await mapWriteRange(h, dir, lblk, 1, async (_l, p) => { pblk = p; });
  const b = await h.getBlock(pblk, true);
  b.fill(0);
  putEntry(b, 0, ino, csumLimit(dir), name, ft);
  initTail(dir, b);
  setDirentCsum(dir, b);
  h.dirty(pblk);
  dir.size += bs;
}

/** Where `name` is: block and offsets of it and of the entry before it. */
async function findEntry(dir: Ext4Inode, name: Uint8Array): Promise<{ pblk: number; off: number; prev: number; ino: number } | null> {
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  for (const [, pblk] of await dirBlocks(dir)) {
    const b = await aw(sbi.bread(pblk));
    let off = 0, prev = -1;
    while (off < bs - 8) {
      const rl = recLenFromDisk(le16(b, off + 4), bs);
      if (rl < 12 || off + rl > bs) break;
      const ino = le32(b, off);
      if (ino && b[off + 6] === name.length) {
        let eq = true;
        for (let i = 0; i < name.length; i++) if (b[off + 8 + i] !== name[i]) { eq = false; break; }
        if (eq) return { pblk, off, prev, ino };
      }
      prev = off;
      off += rl;
    }
  }
  return null;
}

/** ext4_delete_entry */
async function deleteEntry(h: Ext4Handle, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  const e = await findEntry(dir, name);
  if (!e) fail(ENOENT);
  const bs = dir.sbi.blockSize;
  const b = await h.getBlock(e.pblk);
  const rl = recLenFromDisk(le16(b, e.off + 4), bs);
  if (e.prev >= 0) {
    p16(b, e.prev + 4, recLenToDisk(recLenFromDisk(le16(b, e.prev + 4), bs) + rl));
    b.fill(0, e.off, e.off + Math.min(rl, 8 + name.length));
  } else {
    p32(b, e.off, 0);
  }
  setDirentCsum(dir, b);
  h.dirty(e.pblk);
  return e.ino;
}

/** ext4_empty_dir: only "." and ".." live. */
export async function ext4EmptyDir(inodeV: Inode): Promise<boolean> {
  const dir = inodeV as Ext4Inode;
  if (dir.hasInlineData) fail(EOPNOTSUPP);
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  for (const [, pblk] of await dirBlocks(dir)) {
    const b = await aw(sbi.bread(pblk));
    let off = 0;
    while (off < bs - 8) {
      const rl = recLenFromDisk(le16(b, off + 4), bs);
      if (rl < 12 || off + rl > bs) break;
      if (le32(b, off)) {
        const nl = b[off + 6]!;
        const dot = nl === 1 && b[off + 8] === 0x2e;
        const dotdot = nl === 2 && b[off + 8] === 0x2e && b[off + 9] === 0x2e;
        if (!dot && !dotdot) return false;
      }
      off += rl;
    }
  }
  return true;
}

/** __ext4_new_inode: allocate and initialise an inode for `dir`'s child. */
async function newInode(h: Ext4Handle, dir: Ext4Inode, init: InodeInit): Promise<Ext4Inode> {
  const sbi = dir.sbi;
  const isDir = (init.mode & S_IFMT) === S_IFDIR;
  const ino = await allocInode(h, dir.ino, isDir);
  const ws = writeState(sbi);
  const gen = ws.nextGeneration = (ws.nextGeneration + 0x9e3779b1) >>> 0;
  const raw = initNewInode(sbi, ino, init.mode, init.uid, init.gid, gen);
  const t = init.mode & S_IFMT;
  const inode = t === S_IFDIR ? new Ext4Inode(sbi, ino, init.mode, raw, ext4DirInodeOps, ext4DirFileOps)
    : t === S_IFLNK ? new Ext4Inode(sbi, ino, init.mode, raw, ext4SymlinkInodeOps, {})
      : new Ext4Inode(sbi, ino, init.mode, raw, fileInodeOpsGet(), t === S_IFREG ? ext4FileOps : {});
  inode.extraIsize = sbi.inodeSize > 128 ? (raw[0x80]! | (raw[0x81]! << 8)) : 0;
  inode.generation = gen;
  if (sbi.hasMetadataCsum) inode.csumSeed = sbi.chksumU32(sbi.chksumU32(sbi.csumSeed, ino), gen);
  inode.uid = init.uid >>> 0;
  inode.gid = init.gid >>> 0;
  inode.rdev = init.rdev;
  inode.nlink = isDir ? 2 : 1;
  inode.size = 0;
  inode.blocks = 0;
  const now = sbi.currentTime();
  inode.atime = now; inode.mtime = now; inode.ctime = now; inode.btime = now;
  const type = init.mode & S_IFMT;
  if (sbi.hasExtents && (type === S_IFREG || type === S_IFDIR || type === S_IFLNK)) {
    inode.i_flags = EXT4_EXTENTS_FL;
    const root = inode.iBlock;
    p16(root, 0, EXT4_EXT_MAGIC); p16(root, 2, 0); p16(root, 4, 4); p16(root, 6, 0);
  }
  attachRwOps(inode);
  sbi.icache.set(ino, inode);
  return inode;
}

/** Credits of a namespace operation (ext4's EXT4_DATA_TRANS_BLOCKS + index/bitmap blocks, roughly). */
const NS_CREDITS = 32; // 4 allocations (ALLOC_CREDITS each) + inodes, directory and extent blocks

function nameBytes(name: ByteString): Uint8Array {
  if (name.length > EXT4_NAME_LEN) fail(ENAMETOOLONG);
  return byteStringToBytes(name);
}

function checkInsert(dir: Ext4Inode): void {
  checkWritableDir(dir);
}

/** A new inode whose name could not be added: give back what it took (iput of a failed create). */
async function discardNew(inode: Ext4Inode): Promise<void> {
  inode.nlink = 0;
  try { await ext4EvictInode(inode); } catch { /* the original error matters more */ }
}

export async function ext4Create(dirV: Inode, name: ByteString, init: InodeInit): Promise<Inode> {
  return createCommon(dirV as Ext4Inode, name, init, NS_CREDITS, async () => { /* an empty file */ });
}

/** Create `name` in `dir` for an inode `fill` completes (shared by create, mknod, symlink). */
async function createCommon(dir: Ext4Inode, name: ByteString, init: InodeInit, credits: number,
  fill: (h: Ext4Handle, inode: Ext4Inode) => Promise<void>): Promise<Inode> {
  const n = nameBytes(name);
  checkInsert(dir);
  const plan = await planInsert(dir, n);
  let made: Ext4Inode | null = null;
  try {
    return await withHandle(dir.sbi, credits, async (h) => {
      const inode = made = await newInode(h, dir, init);
      await fill(h, inode);
      await writeInode(h, inode);
      await addEntry(h, dir, plan, n, inode.ino, inode.mode);
      made = null;
      dir.touch(true);
      await writeInode(h, dir);
      return inode;
    });
  } catch (e) {
    if (made) await discardNew(made);
    throw e;
  } finally {
    dir.extentCache = null;
  }
}

/** ext4_mknod: devices keep their number in i_block[] (old 16-bit or new 32-bit encoding). */
export async function ext4Mknod(dirV: Inode, name: ByteString, init: InodeInit): Promise<Inode> {
  return createCommon(dirV as Ext4Inode, name, init, NS_CREDITS, async (_h, inode) => {
    const t = init.mode & S_IFMT;
    if (t !== S_IFCHR && t !== S_IFBLK) return;
    const ma = MAJOR(init.rdev), mi = MINOR(init.rdev);
    const b = inode.iBlock;
    if (ma < 256 && mi < 256) p32(b, 0, (ma << 8) | mi);
    else p32(b, 4, ((mi & 0xff) | (ma << 8) | ((mi & ~0xff) << 12)) >>> 0);
  });
}

/**
 * ext4_symlink: a target shorter than i_block[] (60 bytes) lives there (fast symlink, no extent
 * flag); a longer one gets a data block of its own. i_size is the target's length, the stored
 * bytes end with a NUL.
 */
export async function ext4Symlink(dirV: Inode, name: ByteString, target: ByteString, init: InodeInit): Promise<Inode> {
  const dir = dirV as Ext4Inode;
  const t = byteStringToBytes(target);
  if (t.length + 1 > dir.sbi.blockSize) fail(ENAMETOOLONG);
  return createCommon(dir, name, init, NS_CREDITS, async (h, inode) => {
    if (t.length < 60) {
      inode.i_flags &= ~EXT4_EXTENTS_FL;
      const b = inode.iBlock;
      b.fill(0);
      b.set(t, 0);
    } else {
      let pblk = 0;
      await mapWriteRange(h, inode, 0, 1, async (_l, p) => { pblk = p; });
      const data = new Uint8Array(inode.sbi.blockSize);
      data.set(t, 0);
      const w = inode.sbi.bdev.bwrite(pblk, inode.sbi.blockSize, data);
      if (isPromise(w)) await w;
    }
    inode.size = t.length;
  });
}

/** Operations this writer does not do yet: refused before any change. */
export function ext4NotYet(): never { fail(EOPNOTSUPP); }

export async function ext4Mkdir(dirV: Inode, name: ByteString, init: InodeInit): Promise<Inode> {
  const dir = dirV as Ext4Inode;
  const sbi = dir.sbi;
  const n = nameBytes(name);
  checkInsert(dir);
  // EXT4_DIR_LINK_MAX for a linear directory (indexed ones are refused above).
  if (dir.nlink >= EXT4_LINK_MAX) fail(EMLINK);
  const plan = await planInsert(dir, n);
  let made: Ext4Inode | null = null;
  try {
  return await withHandle(sbi, NS_CREDITS + 8, async (h) => {
    const inode = made = await newInode(h, dir, init);
    // The first block: "." and "..".
    const bs = sbi.blockSize;
    let pblk = 0;
    await mapWriteRange(h, inode, 0, 1, async (_l, p) => { pblk = p; });
    inode.size = bs;
    const b = await h.getBlock(pblk, true);
    b.fill(0);
    const ft = fileType(dir, S_IFDIR);
    putEntry(b, 0, inode.ino, 12, new Uint8Array([0x2e]), ft);
    putEntry(b, 12, dir.ino, csumLimit(inode) - 12, new Uint8Array([0x2e, 0x2e]), ft);
    initTail(inode, b);
    setDirentCsum(inode, b);
    h.dirty(pblk);
    await writeInode(h, inode);
    await addEntry(h, dir, plan, n, inode.ino, inode.mode);
    made = null;
    // ext4_inc_count: only indexed directories fall back to the "many" count of 1.
    dir.nlink++;
    dir.touch(true);
    await writeInode(h, dir);
    return inode;
  });
  } catch (e) {
    if (made) await discardNew(made);
    throw e;
  } finally {
    dir.extentCache = null;
  }
}

export async function ext4Link(inodeV: Inode, dirV: Inode, name: ByteString): Promise<void> {
  const inode = inodeV as Ext4Inode, dir = dirV as Ext4Inode;
  const n = nameBytes(name);
  checkInsert(dir);
  if (inode.nlink >= EXT4_LINK_MAX) fail(EMLINK);
  const plan = await planInsert(dir, n);
  await withHandle(dir.sbi, NS_CREDITS, async (h) => {
    await addEntry(h, dir, plan, n, inode.ino, inode.mode);
    inode.nlink++;
    inode.touch(false);
    await writeInode(h, inode);
    dir.touch(true);
    await writeInode(h, dir);
  });
}

export async function ext4Unlink(dirV: Inode, name: ByteString, inodeV: Inode): Promise<void> {
  const dir = dirV as Ext4Inode, inode = inodeV as Ext4Inode;
  const n = nameBytes(name);
  checkWritableDir(dir);
  await withHandle(dir.sbi, NS_CREDITS, async (h) => {
    await deleteEntry(h, dir, n);
    dir.touch(true);
    await writeInode(h, dir);
    if (inode.nlink > 0) inode.nlink--;
    inode.touch(false);
    await writeInode(h, inode);
  });
}

export async function ext4Rmdir(dirV: Inode, name: ByteString, inodeV: Inode): Promise<void> {
  const dir = dirV as Ext4Inode, inode = inodeV as Ext4Inode;
  const n = nameBytes(name);
  checkWritableDir(dir);
  checkWritableDir(inode);
  await withHandle(dir.sbi, NS_CREDITS, async (h) => {
    await deleteEntry(h, dir, n);
    inode.nlink = 0;
    inode.touch(false);
    await writeInode(h, inode);
    // ext4_dec_count on the parent: a "many" (1) count stays.
    if (dir.nlink > 2) dir.nlink--;
    dir.touch(true);
    await writeInode(h, dir);
  });
}
