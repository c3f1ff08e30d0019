/*
 * Changing directories (fs/ext4/namei.c: ext4_add_entry, ext4_delete_entry, ext4_create,
 * ext4_mkdir, ext4_link, ext4_unlink, ext4_rmdir, ext4_empty_dir, ext4_rename, ext4_tmpfile).
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
 * goes into the leaf dx_probe picks for the name's hash, splitting it when full and growing the
 * index as needed (see "htree growth" below). As in Linux, a one-block linear directory whose
 * block is full becomes indexed (makeIndexedDir); longer linear directories (made elsewhere)
 * grow by appended blocks. Casefolded and encrypted directories are refused.
 *
 * Inline directories (inline_write.ts) keep their entries in the inode: a name found there is
 * addressed by the block number INLINE (-1) instead of a physical block, and its changes go to
 * inode.raw, which the caller's writeInode of the directory stores. Adding to a full inline
 * directory converts it to a one-block directory inside the same handle first (the plan INLINE
 * becomes the converted block). On an inline_data filesystem mkdir makes the new directory inline
 * when its inode has room, as ext4_init_new_dir does.
 *
 * A create whose entry cannot be added after its inode was allocated (ENOSPC for a new directory
 * block) gives the inode back, as iput of a failed create does in Linux.
 */
import { fail, isPromise } from '../../lib/errors.js';
import { byteStringToBytes, type ByteString } from '../../lib/bytestr.js';
import { EOPNOTSUPP, ENOENT, EMLINK, ENAMETOOLONG, ENOSPC } from '../../uapi/errno.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, MAJOR, MINOR } from '../../uapi/stat.js';
import type { Inode, InodeInit, InodeOperations } from '../vfs/index.js';
import { EXT4_EXTENTS_FL, EXT4_EXT_MAGIC, EXT4_INDEX_FL } from './layout/index.js';
import { Ext4Inode, EFSCORRUPTED } from './ext4.js';
import { EXT4_NAME_LEN, ERR_BAD_DX_DIR, EXT4_HTREE_LEVEL, EXT4_HTREE_LEVEL_COMPAT, dirNameHash, dxNodeLimit, dxRootLimit, dirRecLen, dxCountOffset, dxBlockAt, dxProbe, htreeNextBlock, isDx, le16, le32, recLenFromDisk } from './htree.js';
import { allocInode } from './balloc.js';
import { writeInode, initNewInode, checkWritableInode, mapWriteRange, ext4EvictInode } from './inode_write.js';
import { withHandle, writeState, type Ext4Handle } from './jbd.js';
import { attachRwOps } from './super_write.js';
import { orphanAdd, orphanDel } from './orphan.js';
import { ext4DirInodeOps, ext4DirFileOps } from './dir.js';
import { ext4FileOps } from './file.js';
import { ext4XattrInodeOps, ext4WarningInode } from './xattr.js';
import { ext4SymlinkInodeOps } from './symlink.js';
import {
  setMayInlineData, tryCreateInlineDir, tryAddInlineEntry, findInlineEntryW, deleteInlineEntry, setInlineEntry,
  setInlineParent, emptyInlineDir,
} from './inline_write.js';
import { ext4ConvertInlineDataHandle } from './inode_write.js';

/** The "block" of an entry inside an inline directory's inode. */
const INLINE = -1;
/** planInsert: the name goes into an inline directory (converted first if full). */
const PLAN_INLINE = -3;

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
  if (dir.encrypted || (dir.casefolded && dir.sbi.hasCasefold)) fail(EOPNOTSUPP);
  checkWritableInode(dir, true);
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
  if (dir.hasInlineData) return PLAN_INLINE;
  if (isDx(dir)) {
    const p = await dxProbe(dir, name);
    if (p === ERR_BAD_DX_DIR) fail(EFSCORRUPTED);
    const leaf = p.frames[p.frames.length - 1]!;
    const m = await dir.mapBlocks(dxBlockAt(leaf, leaf.at), 1);
    if (!m.pblk || m.unwritten) fail(EFSCORRUPTED);
    if (slotIn(dir, await aw(sbi.bread(m.pblk)), need) >= 0) return m.pblk;
    return -1; // the leaf splits (dxSplitInsert)
  }
  const blocks = await dirBlocks(dir);
  for (const [, pblk] of blocks) {
    if (slotIn(dir, await aw(sbi.bread(pblk)), need) >= 0) return pblk;
  }
  // A full one-block directory is indexed (make_indexed_dir), as Linux does with dir_index.
  if (sbi.hasDirIndex && blocks.length === 1 && dir.size === sbi.blockSize && !dir.casefolded) return -2;
  return 0;
}

/**
 * ext4_add_entry at the planned place. Returns the physical block of a leaf a split created (its
 * entries came from the planned leaf), else 0.
 */
async function addEntry(h: Ext4Handle, dir: Ext4Inode, plan: number, name: Uint8Array, ino: number, mode: number): Promise<number[]> {
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const ft = fileType(dir, mode);
  let converted: number[] = [];
  if (plan === PLAN_INLINE) {
    if (!dir.hasInlineData) fail(EFSCORRUPTED);
    if (tryAddInlineEntry(dir, name, ino, ft)) return [];
    // ext4_convert_inline_data_nolock: the entries move to block 0, the name goes there.
    plan = await ext4ConvertInlineDataHandle(h, dir);
    converted = [plan];
  }
  if (plan === -2) return makeIndexedDir(h, dir, name, ino, mode);
  if (plan < 0) return [await dxSplitInsert(h, dir, name, ino, mode)];
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
    return converted;
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
  return [];
}

/** Where `name` is: block and offsets of it and of the entry before it. */
async function findEntry(dir: Ext4Inode, name: Uint8Array): Promise<{ pblk: number; off: number; prev: number; ino: number } | null> {
  if (dir.hasInlineData) {
    const e = findInlineEntryW(dir, name);
    return e ? { pblk: INLINE, off: e.off, prev: e.prev, ino: e.ino } : null;
  }
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const scan = (b: Uint8Array, pblk: number): { pblk: number; off: number; prev: number; ino: number } | null => {
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
    return null;
  };
  // Indexed: only the leaf (and hash-collision successors) the name's hash points at, as
  // ext4_find_entry does through dx_find_entry; a scan of every block made each unlink in a
  // large directory cost the whole directory. A damaged index falls back to the scan.
  if (isDx(dir)) {
    const p = await dxProbe(dir, name);
    if (p !== ERR_BAD_DX_DIR) {
      for (;;) {
        const leaf = p.frames[p.frames.length - 1]!;
        const m = await dir.mapBlocks(dxBlockAt(leaf, leaf.at), 1);
        if (m.pblk && !m.unwritten) {
          const r = scan(await aw(sbi.bread(m.pblk)), m.pblk);
          if (r) return r;
        }
        const next = await htreeNextBlock(dir, p.hash.hash, p.frames);
        if (!next.more) return null;
      }
    }
  }
  for (const [, pblk] of await dirBlocks(dir)) {
    const r = scan(await aw(sbi.bread(pblk)), pblk);
    if (r) return r;
  }
  return null;
}

/** ext4_delete_entry */
async function deleteEntry(h: Ext4Handle, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  const e = await findEntry(dir, name);
  if (!e) fail(ENOENT);
  if (e.pblk === INLINE) return deleteInlineEntry(dir, name);
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
  if (dir.hasInlineData) return emptyInlineDir(dir);
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
  // EXT4_STATE_MAY_INLINE_DATA: a file's first small write, or mkdir, may keep the data inline.
  if (sbi.hasInlineData) setMayInlineData(inode, true);
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

/**
 * ext4_tmpfile (O_TMPFILE): a regular inode that never had a name. It is allocated with one link,
 * which d_tmpfile takes away at once, so it starts at nlink 0; in the same handle it joins the
 * orphan list, so a crash while it is open leaves it for the next mount to free, and the last
 * close frees it like any unlinked file. The directory is not changed (no entry, no new mtime),
 * which is why an inline or casefolded directory is no obstacle. linkat may later give it a name
 * (ext4Link takes it off the list); the VFS decides whether it may (I_LINKABLE).
 */
export async function ext4Tmpfile(dirV: Inode, init: InodeInit): Promise<Inode> {
  const dir = dirV as Ext4Inode;
  if (dir.encrypted) fail(EOPNOTSUPP);
  let made: Ext4Inode | null = null;
  try {
    return await withHandle(dir.sbi, NS_CREDITS, async (h) => {
      const inode = made = await newInode(h, dir, init);
      inode.nlink = 0;
      await orphanAdd(h, inode); // writes the inode as well
      made = null;
      return inode;
    });
  } catch (e) {
    if (made) await discardNew(made);
    throw e;
  }
}


export async function ext4Mkdir(dirV: Inode, name: ByteString, init: InodeInit): Promise<Inode> {
  const dir = dirV as Ext4Inode;
  const sbi = dir.sbi;
  const n = nameBytes(name);
  checkInsert(dir);
  if (dirLinkMax(dir)) fail(EMLINK);
  const plan = await planInsert(dir, n);
  let made: Ext4Inode | null = null;
  try {
  return await withHandle(sbi, NS_CREDITS + 8, async (h) => {
    const inode = made = await newInode(h, dir, init);
    // ext4_init_new_dir: inline when the inode has room, else the first block: "." and "..".
    if (!tryCreateInlineDir(inode, dir.ino)) {
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
    }
    await writeInode(h, inode);
    await addEntry(h, dir, plan, n, inode.ino, inode.mode);
    made = null;
    incCount(dir);
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
    // Only an O_TMPFILE inode gets from no links to one here: its first name ends its time on the
    // orphan list, in the handle that adds the name.
    if (inode.nlink === 1) await orphanDel(h, inode);
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
    // The last name: on the orphan list until the last user lets go (or the mount after a crash).
    if (inode.nlink === 0) await orphanAdd(h, inode);
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
    await orphanAdd(h, inode);
    // ext4_dec_count on the parent: a "many" (1) count stays.
    if (dir.nlink > 2) dir.nlink--;
    dir.touch(true);
    await writeInode(h, dir);
  });
}

/* ---- rename ------------------------------------------------------------------------------------
 * ext4_rename / ext4_cross_rename. Everything is looked up and planned before the handle starts
 * (where the new name goes, which block holds the old name, the moved directory's first block), so
 * the refusals (EOPNOTSUPP for a full htree leaf, EMLINK) change nothing. Inside one handle, as in
 * Linux: the new name is added (or the existing entry re-pointed), then the old one deleted, then
 * a moved directory's ".." rewritten and the link counts fixed. With no journal a handle works on
 * private copies of blocks, so the steps after the first find their entries in the handle's copy
 * of the block they located beforehand, never through a fresh read.
 */

/** RENAME_NOREPLACE / RENAME_EXCHANGE (uapi/linux/fs.h) */
const RENAME_EXCHANGE = 2;

/** The block of `dir` holding `name` (physical number), or ENOENT. */
async function locateEntry(dir: Ext4Inode, name: Uint8Array): Promise<number> {
  const e = await findEntry(dir, name);
  if (!e) fail(ENOENT);
  return e.pblk;
}

/** Offsets of `name` and of the entry before it in block `b`, or null. */
function entryInBlock(dir: Ext4Inode, b: Uint8Array, name: Uint8Array): { off: number; prev: number } | null {
  const bs = dir.sbi.blockSize;
  let off = 0, prev = -1;
  while (off < bs - 8) {
    const rl = recLenFromDisk(le16(b, off + 4), bs);
    if (rl < 12 || off + rl > bs) break;
    if (le32(b, off) && b[off + 6] === name.length) {
      let eq = true;
      for (let i = 0; i < name.length; i++) if (b[off + 8 + i] !== name[i]) { eq = false; break; }
      if (eq) return { off, prev };
    }
    prev = off;
    off += rl;
  }
  return null;
}

/** ext4_setent: point the entry `name` in block `pblk` at another inode. */
async function setEntryAt(h: Ext4Handle, dir: Ext4Inode, pblk: number, name: Uint8Array, ino: number, mode: number): Promise<void> {
  if (pblk === INLINE) { setInlineEntry(dir, name, ino, fileType(dir, mode)); return; }
  const b = await h.getBlock(pblk);
  const e = entryInBlock(dir, b, name);
  if (!e) fail(EFSCORRUPTED);
  p32(b, e.off, ino);
  b[e.off + 7] = fileType(dir, mode);
  setDirentCsum(dir, b);
  h.dirty(pblk);
}

/** ext4_delete_entry on a block located beforehand. */
async function deleteEntryAt(h: Ext4Handle, dir: Ext4Inode, pblk: number, name: Uint8Array): Promise<void> {
  if (pblk === INLINE) { deleteInlineEntry(dir, name); return; }
  const bs = dir.sbi.blockSize;
  const b = await h.getBlock(pblk);
  const e = entryInBlock(dir, b, name);
  if (!e) fail(EFSCORRUPTED);
  const rl = recLenFromDisk(le16(b, e.off + 4), bs);
  if (e.prev >= 0) {
    p16(b, e.prev + 4, recLenToDisk(recLenFromDisk(le16(b, e.prev + 4), bs) + rl));
    b.fill(0, e.off, e.off + Math.min(rl, 8 + name.length));
  } else {
    p32(b, e.off, 0);
  }
  setDirentCsum(dir, b);
  h.dirty(pblk);
}

/** ext4_dx_csum_set for a root or node block. */
function setDxCsum(dir: Ext4Inode, b: Uint8Array): void {
  const sbi = dir.sbi;
  if (!sbi.hasMetadataCsum) return;
  const c = dxCountOffset(dir, b);
  if (c < 0) fail(EFSCORRUPTED);
  const limit = le16(b, c), count = le16(b, c + 2);
  const t = c + limit * 8;
  if (t + 8 > sbi.blockSize) fail(EFSCORRUPTED);
  let crc = sbi.chksum(dir.csumSeed, b, 0, c + count * 8);
  crc = sbi.chksum(crc, b, t, t + 4);
  crc = sbi.chksumU32(crc, 0);
  p32(b, t + 4, crc >>> 0);
}

/** ext4_rename_dir_prepare: the physical block holding a directory's ".." (its first block). */
async function dotdotBlock(d: Ext4Inode): Promise<number> {
  checkWritableDir(d);
  if (d.hasInlineData) return INLINE; // the parent number at the start of i_block
  const m = await d.mapBlocks(0, 1);
  if (!m.pblk || m.unwritten) fail(EFSCORRUPTED);
  const b = await aw(d.sbi.bread(m.pblk));
  const bs = d.sbi.blockSize;
  // "." first (rec_len 12), ".." right after it.
  if (recLenFromDisk(le16(b, 4), bs) !== 12 || b[12 + 6] !== 2 || b[20] !== 0x2e || b[21] !== 0x2e) fail(EFSCORRUPTED);
  return m.pblk;
}

/** ext4_rename_dir_finish: ".." of `d` (first block `pblk`) now names `parent`. */
async function setDotdot(h: Ext4Handle, d: Ext4Inode, pblk: number, parent: number): Promise<void> {
  if (pblk === INLINE) { setInlineParent(d, parent); return; }
  const b = await h.getBlock(pblk);
  p32(b, 12, parent);
  if (isDx(d)) setDxCsum(d, b); else setDirentCsum(d, b);
  h.dirty(pblk);
}

/** EXT4_DIR_LINK_MAX: no room for another subdirectory's "..". */
function dirLinkMax(dir: Ext4Inode): boolean {
  return dir.nlink >= EXT4_LINK_MAX && !(dir.sbi.hasDirNlink && isDx(dir));
}
/** ext4_inc_count: an indexed directory past the limit (or at 2 from 1) goes to the "many" 1. */
function incCount(dir: Ext4Inode): void {
  dir.nlink++;
  if (isDx(dir) && (dir.nlink > EXT4_LINK_MAX || dir.nlink === 2)) dir.nlink = 1;
}
/** ext4_dec_count: a directory with the "many" count (1) or only its own links keeps it. */
function decCount(inode: Ext4Inode): void {
  if ((inode.mode & S_IFMT) !== S_IFDIR || inode.nlink > 2) inode.nlink--;
}

export async function ext4Rename(oldDirV: Inode, oldName: ByteString, inodeV: Inode, newDirV: Inode, newName: ByteString,
  targetV: Inode | null, flags: number): Promise<void> {
  const oldDir = oldDirV as Ext4Inode, newDir = newDirV as Ext4Inode;
  const src = inodeV as Ext4Inode, tgt = targetV as Ext4Inode | null;
  const on = nameBytes(oldName), nn = nameBytes(newName);
  checkWritableDir(oldDir);
  checkWritableDir(newDir);
  const cross = oldDir !== newDir;
  const srcIsDir = (src.mode & S_IFMT) === S_IFDIR;
  const tgtIsDir = tgt !== null && (tgt.mode & S_IFMT) === S_IFDIR;
  const sbi = oldDir.sbi;
  const oldPblk = await locateEntry(oldDir, on);

  if (flags & RENAME_EXCHANGE) {
    if (!tgt) fail(ENOENT);
    const newPblk = await locateEntry(newDir, nn);
    const srcDot = cross && srcIsDir ? await dotdotBlock(src) : 0;
    const tgtDot = cross && tgtIsDir ? await dotdotBlock(tgt) : 0;
    if (cross && srcIsDir !== tgtIsDir) {
      // The directory among the two moves: its new parent gains a link.
      if (srcIsDir && dirLinkMax(newDir)) fail(EMLINK);
      if (tgtIsDir && dirLinkMax(oldDir)) fail(EMLINK);
    }
    await withHandle(sbi, NS_CREDITS + 8, async (h) => {
      await setEntryAt(h, oldDir, oldPblk, on, tgt.ino, tgt.mode);
      await setEntryAt(h, newDir, newPblk, nn, src.ino, src.mode);
      if (srcDot) await setDotdot(h, src, srcDot, newDir.ino);
      if (tgtDot) await setDotdot(h, tgt, tgtDot, oldDir.ino);
      if (cross && srcIsDir !== tgtIsDir) {
        if (srcIsDir) { decCount(oldDir); incCount(newDir); } else { decCount(newDir); incCount(oldDir); }
      }
      src.touch(false);
      tgt.touch(false);
      await writeInode(h, src);
      await writeInode(h, tgt);
      oldDir.touch(true);
      await writeInode(h, oldDir);
      if (cross) { newDir.touch(true); await writeInode(h, newDir); }
    });
    return;
  }

  // A plain move, maybe over an existing name.
  if (tgt && tgtIsDir) checkWritableDir(tgt);
  const newPblk = tgt ? await locateEntry(newDir, nn) : 0;
  const plan = tgt ? 0 : await planInsert(newDir, nn);
  const srcDot = cross && srcIsDir ? await dotdotBlock(src) : 0;
  if (cross && srcIsDir && !tgt && dirLinkMax(newDir)) fail(EMLINK);
  try {
    await withHandle(sbi, NS_CREDITS + 8, async (h) => {
      let added: number[] = [];
      if (tgt) await setEntryAt(h, newDir, newPblk, nn, src.ino, src.mode);
      else added = await addEntry(h, newDir, plan, nn, src.ino, src.mode);
      // A leaf split (or the indexing, or the conversion of an inline directory) may have moved
      // the old name.
      let where = oldPblk;
      if (added.length && !cross && (oldPblk === INLINE ? !oldDir.hasInlineData : !entryInBlock(oldDir, await h.getBlock(oldPblk), on))) {
        for (const p of added) if (entryInBlock(oldDir, await h.getBlock(p), on)) { where = p; break; }
      }
      await deleteEntryAt(h, oldDir, where, on);
      if (tgt) {
        // A replaced directory was empty: it loses both its names ("." and the entry).
        if (tgtIsDir) tgt.nlink = 0; else if (tgt.nlink > 0) tgt.nlink--;
        tgt.touch(false);
        await writeInode(h, tgt);
        if (tgt.nlink === 0) await orphanAdd(h, tgt);
      }
      if (srcIsDir) {
        if (srcDot) await setDotdot(h, src, srcDot, newDir.ino);
        // The moved directory's ".." leaves oldDir and, unless it takes the place of a directory
        // whose ".." leaves at the same time, counts in newDir.
        decCount(oldDir);
        if (!tgt) incCount(newDir);
      }
      src.touch(false);
      await writeInode(h, src);
      oldDir.touch(true);
      await writeInode(h, oldDir);
      if (cross) { newDir.touch(true); await writeInode(h, newDir); }
    });
  } finally {
    newDir.extentCache = null;
  }
}

/* ---- htree growth ------------------------------------------------------------------------------
 * ext4_dx_add_entry / do_split / dx_insert_block. A full leaf is split: its live entries sorted
 * by hash, the upper half (by bytes) moved to a new block appended to the directory, and an index
 * entry (the first moved hash, with the low "continued" bit set when the hash also occurs below
 * the cut, so lookups go on into the new leaf) inserted after the old leaf's. A full index node is
 * split the same way (the upper half of its entries into a new node, whose first hash goes into
 * the parent); a full root grows the tree by one level (its entries move into a new node, the
 * root keeps a single entry pointing there). indirect_levels stays below 2 (3 with large_dir);
 * a directory whose whole index is full gets ENOSPC, as Linux's "Directory index full!". Every new block is allocated before any existing
 * block is changed, so an ENOSPC leaves the tree as it was.
 */

/** A dx array being edited: its block, where the array starts, and the slot on the path. */
interface DxWFrame { pblk: number; b: Uint8Array; entries: number; at: number }

const dxCount = (f: DxWFrame) => le16(f.b, f.entries + 2);
const dxLimit = (f: DxWFrame) => le16(f.b, f.entries);

function dxSetCsum(dir: Ext4Inode, f: DxWFrame, h: Ext4Handle): void {
  setDxCsum(dir, f.b);
  h.dirty(f.pblk);
}

/** dx_insert_block: (hash, lblk) into slot `pos` of a frame with room. */
function dxInsertAt(f: DxWFrame, pos: number, hash: number, lblk: number): void {
  const c = dxCount(f);
  f.b.copyWithin(f.entries + 8 * (pos + 1), f.entries + 8 * pos, f.entries + 8 * c);
  p32(f.b, f.entries + 8 * pos, hash);
  p32(f.b, f.entries + 8 * pos + 4, lblk);
  p16(f.b, f.entries + 2, c + 1);
}

/** A fresh dx node block holding `n` entries copied from `src` (slot 0 then carries limit/count). */
function initDxNode(dir: Ext4Inode, b: Uint8Array, src: Uint8Array, from: number, n: number): void {
  const bs = dir.sbi.blockSize;
  b.fill(0);
  p32(b, 0, 0);
  p16(b, 4, recLenToDisk(bs));
  b.set(src.subarray(from, from + 8 * n), 8);
  p16(b, 8, dxNodeLimit(dir));
  p16(b, 10, n);
}

interface DxSplitCtx { dir: Ext4Inode; h: Ext4Handle; frames: DxWFrame[]; spare: [number, number][]; levels: number; rootInfo: number }

/** Insert (hash, lblk) after the path's slot at frames[li], splitting or growing as needed. */
async function dxAddIndex(c: DxSplitCtx, f: DxWFrame, hash: number, lblk: number): Promise<void> {
  const { dir, h, frames } = c;
  if (dxCount(f) < dxLimit(f)) {
    dxInsertAt(f, f.at + 1, hash, lblk);
    dxSetCsum(dir, f, h);
    return;
  }
  const [nl, np] = c.spare.shift()!;
  const nb = await h.getBlock(np, true);
  const li = frames.indexOf(f);
  if (li === 0) {
    // The root is full: its entries move down into a new node; one more level.
    initDxNode(dir, nb, f.b, f.entries, dxCount(f));
    const nf: DxWFrame = { pblk: np, b: nb, entries: 8, at: f.at };
    p16(f.b, f.entries + 2, 1);
    p32(f.b, f.entries + 4, nl);
    f.b[c.rootInfo + 6] = f.b[c.rootInfo + 6]! + 1;
    f.at = 0;
    dxSetCsum(dir, f, h);
    frames.splice(1, 0, nf);
    dxInsertAt(nf, nf.at + 1, hash, lblk);
    dxSetCsum(dir, nf, h);
    return;
  }
  // Split the node: the upper half of its entries into the new one.
  const cnt = dxCount(f), i1 = cnt >> 1;
  const hash2 = le32(f.b, f.entries + 8 * i1);
  initDxNode(dir, nb, f.b, f.entries + 8 * i1, cnt - i1);
  p16(f.b, f.entries + 2, i1);
  const nf: DxWFrame = { pblk: np, b: nb, entries: 8, at: f.at - i1 };
  await dxAddIndex(c, frames[frames.indexOf(f) - 1]!, hash2, nl);
  const where = f.at >= i1 ? nf : f;
  dxInsertAt(where, where.at + 1, hash, lblk);
  frames[frames.indexOf(f)] = where;
  dxSetCsum(dir, f, h);
  dxSetCsum(dir, nf, h);
}

/** Live entries of a leaf with their hashes. */
function leafEntries(dir: Ext4Inode, b: Uint8Array, version: number): { ino: number; ft: number; name: Uint8Array; hash: number; minor: number }[] {
  const bs = dir.sbi.blockSize;
  const limit = csumLimit(dir);
  const out: { ino: number; ft: number; name: Uint8Array; hash: number; minor: number }[] = [];
  for (let off = 0; off < limit;) {
    const rl = recLenFromDisk(le16(b, off + 4), bs);
    if (rl < 12 || off + rl > bs) fail(EFSCORRUPTED);
    const ino = le32(b, off);
    if (ino) {
      const name = b.slice(off + 8, off + 8 + b[off + 6]!);
      const hh = dirNameHash(dir, name, version);
      if (!hh) fail(EFSCORRUPTED);
      out.push({ ino, ft: b[off + 7]!, name, hash: hh.hash, minor: hh.minor });
    }
    off += rl;
  }
  return out;
}

/** Rewrite a leaf with `ents` packed from the start, the last spanning to the tail. */
function fillLeaf(dir: Ext4Inode, b: Uint8Array, ents: { ino: number; ft: number; name: Uint8Array }[]): void {
  b.fill(0);
  const limit = csumLimit(dir);
  let off = 0;
  if (!ents.length) { p16(b, 4, recLenToDisk(limit)); }
  ents.forEach((e, i) => {
    const rl = i === ents.length - 1 ? limit - off : dirRecLen(e.name.length);
    putEntry(b, off, e.ino, rl, e.name, e.ft);
    off += rl;
  });
  initTail(dir, b);
  setDirentCsum(dir, b);
}

/** ext4_dx_add_entry for a name whose leaf is full. Returns the physical block of the new leaf. */
async function dxSplitInsert(h: Ext4Handle, dir: Ext4Inode, name: Uint8Array, ino: number, mode: number): Promise<number> {
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const p = await dxProbe(dir, name);
  if (p === ERR_BAD_DX_DIR) fail(EFSCORRUPTED);
  // The path as physical blocks, the root first.
  const lblks = [0, ...p.frames.map((f) => dxBlockAt(f, f.at))];
  const pblks: number[] = [];
  for (const l of lblks) {
    const m = await dir.mapBlocks(l, 1);
    if (!m.pblk || m.unwritten) fail(EFSCORRUPTED);
    pblks.push(m.pblk);
  }
  // How many new blocks: the leaf, and one per full index level from the bottom up.
  let need = 1;
  const maxLevels = sbi.hasLargedir ? EXT4_HTREE_LEVEL : EXT4_HTREE_LEVEL_COMPAT;
  const rootInfo = 24;
  for (let i = p.frames.length - 1; i >= 0; i--) {
    const f = p.frames[i]!;
    if (le16(f.block, f.entries + 2) < le16(f.block, f.entries)) break;
    need++;
    if (i === 0 && p.frames.length >= maxLevels) {
      ext4WarningInode(dir, sbi, 'ext4_dx_add_entry', `Directory (ino: ${dir.ino}) index full, reach max htree level :${p.frames.length}`);
      fail(ENOSPC);
    }
  }
  // Allocate every new block first (each a valid empty leaf until used).
  const spare: [number, number][] = [];
  const first = Math.floor(dir.size / bs);
  await mapWriteRange(h, dir, first, need, async (l, pb) => {
    const b = await h.getBlock(pb, true);
    fillLeaf(dir, b, []);
    h.dirty(pb);
    spare.push([l, pb]);
    dir.size = Math.max(dir.size, (l + 1) * bs);
  });
  dir.extentCache = null;
  const frames: DxWFrame[] = [];
  for (let i = 0; i < p.frames.length; i++) {
    frames.push({ pblk: pblks[i]!, b: await h.getBlock(pblks[i]!), entries: p.frames[i]!.entries, at: p.frames[i]!.at });
  }
  // do_split
  const leafP = pblks[pblks.length - 1]!;
  const lb = await h.getBlock(leafP);
  const ents = leafEntries(dir, lb, p.version).sort((a, b) => (a.hash - b.hash) || (a.minor - b.minor));
  let size = 0, move = 0, i = ents.length - 1;
  for (; i >= 0; i--) {
    const s = dirRecLen(ents[i]!.name.length);
    if (size + s / 2 > bs / 2) break;
    size += s;
    move++;
  }
  const split = i > 0 ? ents.length - move : ents.length >> 1;
  const hash2 = ents[split]!.hash;
  const continued = split > 0 && ents[split - 1]!.hash === hash2 ? 1 : 0;
  const [newL, newP] = spare.shift()!;
  const nb = await h.getBlock(newP);
  const newHash = p.hash.hash;
  const toNew = newHash >= hash2;
  const lower = ents.slice(0, split), upper = ents.slice(split);
  const ft = fileType(dir, mode);
  (toNew ? upper : lower).push({ ino, ft, name, hash: newHash, minor: p.hash.minor });
  fillLeaf(dir, lb, lower);
  fillLeaf(dir, nb, upper);
  h.dirty(leafP);
  h.dirty(newP);
  const c: DxSplitCtx = { dir, h, frames, spare, levels: p.frames.length, rootInfo };
  await dxAddIndex(c, frames[frames.length - 1]!, (hash2 | continued) >>> 0, newL);
  return newP;
}

/**
 * make_indexed_dir: a one-block linear directory whose block is full becomes an htree, as Linux
 * does: block 0 keeps "." and ".." and becomes the dx root, the other entries move to a new
 * block, which is split at once into two leaves (the new name goes to the half its hash
 * belongs to). Returns the physical blocks the old entries went to.
 */
async function makeIndexedDir(h: Ext4Handle, dir: Ext4Inode, name: Uint8Array, ino: number, mode: number): Promise<number[]> {
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const m = await dir.mapBlocks(0, 1);
  if (!m.pblk || m.unwritten) fail(EFSCORRUPTED);
  const rootP = m.pblk;
  const rb = await h.getBlock(rootP);
  if (recLenFromDisk(le16(rb, 4), bs) !== 12 || rb[12 + 6] !== 2) fail(EFSCORRUPTED);
  const version = sbi.es.s_def_hash_version;
  // The entries after "." and "..", with their hashes.
  const ents: { ino: number; ft: number; name: Uint8Array; hash: number; minor: number }[] = [];
  const limit = csumLimit(dir);
  for (let off = 12 + recLenFromDisk(le16(rb, 16), bs); off < limit;) {
    const rl = recLenFromDisk(le16(rb, off + 4), bs);
    if (rl < 12 || off + rl > bs) fail(EFSCORRUPTED);
    if (le32(rb, off)) {
      const nm = rb.slice(off + 8, off + 8 + rb[off + 6]!);
      const hh = dirNameHash(dir, nm, version);
      if (!hh) fail(EFSCORRUPTED);
      ents.push({ ino: le32(rb, off), ft: rb[off + 7]!, name: nm, hash: hh.hash, minor: hh.minor });
    }
    off += rl;
  }
  const nh = dirNameHash(dir, name, version);
  if (!nh) fail(EFSCORRUPTED);
  // Two new leaves (blocks 1 and 2), allocated before anything changes.
  const got: [number, number][] = [];
  await mapWriteRange(h, dir, 1, 2, async (l, pb) => {
    const b = await h.getBlock(pb, true);
    fillLeaf(dir, b, []);
    h.dirty(pb);
    got.push([l, pb]);
    dir.size = Math.max(dir.size, (l + 1) * bs);
  });
  dir.extentCache = null;
  if (got.length !== 2) fail(EFSCORRUPTED);
  // do_split of the moved entries, as in dxSplitInsert.
  ents.sort((a, b) => (a.hash - b.hash) || (a.minor - b.minor));
  let size = 0, move = 0, i = ents.length - 1;
  for (; i >= 0; i--) {
    const s = dirRecLen(ents[i]!.name.length);
    if (size + s / 2 > bs / 2) break;
    size += s;
    move++;
  }
  const split = i > 0 ? ents.length - move : ents.length >> 1;
  const hash2 = ents.length ? ents[Math.min(split, ents.length - 1)]!.hash : 0;
  const continued = split > 0 && split < ents.length && ents[split - 1]!.hash === hash2 ? 1 : 0;
  const lower = ents.slice(0, split), upper = ents.slice(split);
  (nh.hash >= hash2 ? upper : lower).push({ ino, ft: fileType(dir, mode), name, hash: nh.hash, minor: nh.minor });
  const [l1, p1] = got[0]!, [l2, p2] = got[1]!;
  fillLeaf(dir, await h.getBlock(p1), lower);
  fillLeaf(dir, await h.getBlock(p2), upper);
  h.dirty(p1);
  h.dirty(p2);
  // The root: "." as it was, ".." spanning the block, dx_root_info, two index entries.
  rb.fill(0, 24);
  p16(rb, 16, recLenToDisk(bs - 12));
  rb[24 + 4] = version;
  rb[24 + 5] = 8;
  const ent = 32;
  p16(rb, ent, dxRootLimit(dir, 8));
  p16(rb, ent + 2, 2);
  p32(rb, ent + 4, l1);
  p32(rb, ent + 8, (hash2 | continued) >>> 0);
  p32(rb, ent + 12, l2);
  dir.i_flags |= EXT4_INDEX_FL;
  setDxCsum(dir, rb);
  h.dirty(rootP);
  return [p1, p2];
}
