/*
 * Directories, read side: lookup (fs/ext4/namei.c ext4_lookup/__ext4_find_entry) and readdir
 * (fs/ext4/dir.c ext4_readdir).
 *
 * Lookup tries, in order:
 *   1. inline directories: the entries inside the inode (inline.ts);
 *   2. "." and "..": only block 0 (the VFS answers them itself; kept for completeness);
 *   3. indexed directories: dx_probe down the htree to the leaf for the name's hash, search it,
 *      and continue into following leaves while they start with the same hash (collisions). A
 *      corrupt index (bad limit, depth, count, cycle, or a corrupt entry in a leaf) is logged
 *      and the search falls back to 4, as Linux does;
 *   4. a linear scan of every block, each verified against its checksum tail.
 * Casefolded (+F) directories compare names through casefold.ts and hash the folded name.
 *
 * readdir walks the blocks linearly, for indexed directories too. Linux returns an indexed
 * directory in hash order with positions that encode (major hash >> 1) << 32 | minor hash; that
 * needs 63-bit positions JavaScript numbers cannot carry exactly and a per-file tree of entries.
 * Every entry lives in a leaf block, so the linear walk returns the same set; only the order and
 * the telldir() cookies differ (documented divergence). Positions are byte offsets in the
 * directory (lblk * blocksize + offset), "." and ".." are the real entries at offsets 0 and 12
 * (they also exist in a dx_root), index blocks contribute nothing (their single entry is empty),
 * and the end position is i_size. As Linux's linear readdir does, a block failing its checksum is
 * logged and skipped, and a corrupt entry ends its block; neither fails the call.
 * Inline directories use the inline position scheme (inline.ts).
 */
import { fail } from '../../lib/errors.js';
import { bytesToByteString, byteStringToBytes, type ByteString } from '../../lib/bytestr.js';
import { ENAMETOOLONG, ESTALE } from '../../uapi/errno.js';
import type { InodeOperations, FileOperations, File, DirContext, Inode } from '../vfs/index.js';
import { type Ext4Inode, ext4Error, EFSCORRUPTED, EFSBADCRC } from './ext4.js';
import { ext4Getxattr, ext4Listxattr, ext4WarningInode, validInum } from './xattr.js';
import { CiName } from './casefold.js';
import {
  EXT4_NAME_LEN, EXT4_DIR_ENTRY_HDR, ERR_BAD_DX_DIR, DirblockType, checkDirEntry, dirBread, dirblockCsumVerify, dxCsumVerify,
  dxBlockAt, dxProbe, entryNameLen, htreeNextBlock, isCasefolded, isDx, isDxInternalNode, isVerified, le16, le32,
  markVerified, readDirblockP, recLenFromDisk, dirRecLen, searchDir, type FoundEntry, type LookupName,
} from './htree.js';
import { findInlineEntry, readInlineDir, fileTypeToDtype } from './inline.js';

/** ext4_fname_prepare_lookup: the name's bytes and, for +F directories, its folded form. */
export function prepareLookupName(dir: Ext4Inode, name: ByteString): LookupName {
  const bytes = byteStringToBytes(name);
  return { bytes, ci: isCasefolded(dir) ? new CiName(bytes) : null };
}

/**
 * ext4_dx_find_entry: the htree search. Returns the entry, null when absent, or ERR_BAD_DX_DIR
 * when the index cannot be trusted and the caller should scan linearly.
 */
async function dxFindEntry(dir: Ext4Inode, fname: LookupName): Promise<FoundEntry | null | typeof ERR_BAD_DX_DIR> {
  const p = await dxProbe(dir, fname.bytes);
  if (p === ERR_BAD_DX_DIR) return p;
  const bs = dir.sbi.blockSize;
  for (;;) {
    const leaf = p.frames[p.frames.length - 1]!;
    const lblk = dxBlockAt(leaf, leaf.at);
    const db = (await readDirblockP(dir, lblk, DirblockType.DIRENT_HTREE, 'ext4_dx_find_entry'))!;
    const r = searchDir(dir, db.b, fname, lblk * bs, db.pblk, 'ext4_dx_find_entry');
    if (r === 'bad') return ERR_BAD_DX_DIR;
    if (r) return r;
    let next: { more: boolean };
    try {
      next = await htreeNextBlock(dir, p.hash.hash, p.frames);
    } catch (e) {
      ext4WarningInode(dir, dir.sbi, 'ext4_dx_find_entry', `error ${-((e as { errno?: number }).errno ?? 5)} reading directory index block`);
      throw e;
    }
    if (!next.more) return null;
  }
}

/** __ext4_find_entry */
export async function ext4FindEntry(dir: Ext4Inode, fname: LookupName): Promise<FoundEntry | null> {
  if (fname.bytes.length > EXT4_NAME_LEN) return null;
  if (dir.hasInlineData) return findInlineEntry(dir, fname);
  const sbi = dir.sbi;
  const bs = sbi.blockSize;
  const n = fname.bytes;
  let nblocks: number;
  if (n.length <= 2 && n[0] === 0x2e && (n.length === 1 || n[1] === 0x2e)) {
    nblocks = 1; // "." and ".." live in the first block only
  } else {
    if (isDx(dir)) {
      const r = await dxFindEntry(dir, fname);
      if (r !== ERR_BAD_DX_DIR) return r;
    }
    nblocks = Math.floor(dir.size / bs);
  }
  for (let lblk = 0; lblk < nblocks; lblk++) {
    const db = await dirBread(dir, lblk);
    if (!db) continue;
    if (!isVerified(db.b) && !isDxInternalNode(dir, lblk, db.b)) {
      if (!dirblockCsumVerify(dir, db.b)) {
        throw ext4Error(sbi, '__ext4_find_entry', dir, `checksumming directory block ${lblk}`, { errno: EFSBADCRC });
      }
      markVerified(db.b);
    }
    const r = searchDir(dir, db.b, fname, lblk * bs, db.pblk, '__ext4_find_entry');
    if (r === 'bad') return null; // Linux ends the search here: the name is reported absent
    if (r) return r;
  }
  return null;
}

/** ext4_lookup */
export async function ext4Lookup(dirI: Inode, name: ByteString): Promise<Ext4Inode | null> {
  const dir = dirI as Ext4Inode;
  if (name.length > EXT4_NAME_LEN) fail(ENAMETOOLONG);
  const de = await ext4FindEntry(dir, prepareLookupName(dir, name));
  if (!de) return null;
  const sbi = dir.sbi;
  const ino = de.ino;
  if (!validInum(sbi, ino)) throw ext4Error(sbi, 'ext4_lookup', dir, `bad inode number: ${ino}`);
  if (ino === dir.ino) throw ext4Error(sbi, 'ext4_lookup', dir, `'${name}' linked to parent dir`);
  try {
    return await sbi.iget(ino);
  } catch (e) {
    if ((e as { errno?: number }).errno === ESTALE) {
      throw ext4Error(sbi, 'ext4_lookup', dir, `deleted inode referenced: ${ino}`);
    }
    throw e;
  }
}

/** The directory's path for ext4_error_file messages ("path %pD"). */
function filePath(file: File): string {
  const parts: string[] = [];
  for (let d = file.path.dentry; d.parent && d.parent !== d; d = d.parent) parts.push(d.name);
  return parts.reverse().join('/') || '/';
}

/** ext4_readdir, linear form (see the opening comment for indexed directories). */
export async function ext4Readdir(file: File, ctx: DirContext): Promise<void> {
  const inode = file.inode as Ext4Inode;
  const sbi = inode.sbi;
  if (inode.hasInlineData) { readInlineDir(inode, ctx); return; }
  const bs = sbi.blockSize;
  // Linux reads these through the htree path (is_dx_dir: dir_index and an index, or one block),
  // where a block failing its checksum fails the whole readdir instead of being skipped.
  const dxPath = sbi.hasDirIndex && (inode.indexed || Math.floor(inode.size / bs) === 1);
  let first = true;
  while (ctx.pos < inode.size) {
    let offset = ctx.pos % bs;
    const lblk = Math.floor(ctx.pos / bs);
    const db = await dirBread(inode, lblk);
    if (!db) {
      ctx.pos += bs; // a hole: nothing to list in this block
      continue;
    }
    const b = db.b;
    if (!isVerified(b)) {
      // Index blocks carry a dx_tail, not a dirent tail; they hold no entries to emit, but the
      // htree readdir starts at dx_probe, which refuses an index block failing its checksum.
      if (dxPath && isDxInternalNode(inode, lblk, b) && !dxCsumVerify(inode, b)) {
        ext4Error(sbi, 'dx_probe', inode, 'Directory index failed checksum', { block: lblk });
        fail(EFSBADCRC);
      }
      if (!isDxInternalNode(inode, lblk, b) && !dirblockCsumVerify(inode, b)) {
        if (dxPath) {
          ext4Error(sbi, '__ext4_read_dirblock', inode, `Directory block failed checksum`, { block: lblk });
          fail(EFSBADCRC);
        }
        ext4Error(sbi, 'ext4_readdir', inode, `path ${filePath(file)}: directory fails checksum at offset ${ctx.pos}`);
        ctx.pos += bs - offset;
        continue;
      }
      if (!isDxInternalNode(inode, lblk, b)) markVerified(b);
    }
    if (first && offset) {
      // The position may point into the middle of an entry (seekdir to a stale cookie): move
      // to the first entry boundary at or after it by walking the block from its start.
      let i = 0;
      while (i < bs && i < offset) {
        const rl = recLenFromDisk(le16(b, i + 4), bs);
        if (rl < dirRecLen(1)) break;
        i += rl;
      }
      offset = i;
      ctx.pos = lblk * bs + offset;
    }
    first = false;
    while (ctx.pos < inode.size && offset < bs) {
      if (!checkDirEntry(inode, true, b, offset, bs, ctx.pos, db.pblk, 'ext4_readdir')) {
        ctx.pos = (lblk + 1) * bs; // skip the rest of a corrupt block
        break;
      }
      const rl = recLenFromDisk(le16(b, offset + 4), bs);
      const ino = le32(b, offset);
      if (ino) {
        const nl = entryNameLen(b, offset);
        const name = bytesToByteString(b, offset + EXT4_DIR_ENTRY_HDR, offset + EXT4_DIR_ENTRY_HDR + nl);
        if (!ctx.emit(name, ino, fileTypeToDtype(inode, b[offset + 7]!))) return;
      }
      offset += rl;
      ctx.pos += rl;
    }
  }
}

export const ext4DirInodeOps: InodeOperations = {
  lookup: ext4Lookup,
  getxattr: (inode, name) => ext4Getxattr(inode as Ext4Inode, name),
  listxattr: (inode) => ext4Listxattr(inode as Ext4Inode),
};

export const ext4DirFileOps: FileOperations = {
  iterate: ext4Readdir,
  fsync() { /* read-only: nothing to write back */ },
};

export { EFSCORRUPTED };
