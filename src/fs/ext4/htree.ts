/*
 * Directory blocks on disk (fs/ext4/namei.c): linear entries, their checksum tail, and the
 * dir_index hash tree laid over them.
 *
 * A directory's data is a sequence of blocks, each filled exactly by variable-length entries
 * (ext4_dir_entry_2): inode (le32, 0 = unused), rec_len (le16, the distance to the next entry,
 * so the last one spans to the block's end), name_len (u8) and file_type (u8, with the filetype
 * feature; without it name_len is a le16), then the name, padded to 4 bytes. Blocks of 64 KiB
 * encode rec_len 65536 as 0 or 65535 and keep two more bits in the low bits (rec_len_from_disk).
 * With metadata_csum each leaf block ends in a fake 12-byte entry (inode 0, rec_len 12,
 * name_len 0, file_type 0xDE) whose last word is crc32c(inode seed, block up to the tail).
 *
 * An indexed (EXT4_INDEX_FL) directory keeps an htree over those blocks. Block 0 is the dx_root:
 * "." and ".." entries, the second spanning the block so old kernels see an ordinary directory,
 * then dx_root_info (hash version, info length 8, indirect levels) and an array of dx_entry
 * (hash, block) whose first slot holds (limit, count) instead of a hash. Interior dx_node blocks
 * are one empty entry spanning the block followed by the same array. Entries are sorted by hash;
 * entry i covers hashes from its own to the next one's. Leaves are ordinary linear blocks. Depth
 * is 2 levels (indirect_levels 0..1), or 3 with large_dir. With metadata_csum, index blocks keep
 * a dx_tail (reserved, crc32c) right after `limit` entries.
 *
 * Everything read here is checked before use (ext4_check_dir_entry, dx_probe's limits) and a
 * lookup that finds the index corrupt reports ERR_BAD_DX_DIR so the caller falls back to a
 * linear scan, as Linux does.
 */
import { isPromise, type KernelError } from '../../lib/errors.js';
import {
  type Ext4Inode, ext4Error, currentComm, EFSCORRUPTED, EFSBADCRC,
} from './ext4.js';
import { ext4WarningInode } from './xattr.js';
import { dirhash, DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA, DX_HASH_SIPHASH, type DxHash } from './hash.js';
import { utf8Casefold, type CiName } from './casefold.js';
import { EXT2_FLAGS_UNSIGNED_HASH } from './layout/index.js';

/** Bytes of an entry header (inode, rec_len, name_len, file_type). */
export const EXT4_DIR_ENTRY_HDR = 8;
export const EXT4_NAME_LEN = 255;
/** file_type of the checksum tail entry. */
export const EXT4_FT_DIR_CSUM = 0xde;
export const EXT4_DIR_TAIL_SIZE = 12;
/** Depth limits of the htree without and with large_dir (ext4_dir_htree_level). */
export const EXT4_HTREE_LEVEL_COMPAT = 2, EXT4_HTREE_LEVEL = 3;

/** ext4_dir_rec_len: the smallest record for a name of `nameLen` bytes. */
export const dirRecLen = (nameLen: number) => (nameLen + EXT4_DIR_ENTRY_HDR + 3) & ~3;

export const le16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
export const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** ext4_rec_len_from_disk */
export function recLenFromDisk(dlen: number, blocksize: number): number {
  if (blocksize < 65536) return dlen;
  if (dlen === 65535 || dlen === 0) return blocksize;
  return (dlen & 65532) | ((dlen & 3) << 16);
}

/**
 * An entry's name_len. Linux reads the u8 even on filesystems without the filetype feature (the
 * old le16 name_len's high byte is always 0 for names of at most 255 bytes).
 */
export function entryNameLen(b: Uint8Array, off: number): number { return b[off + 6]!; }

/**
 * __ext4_check_dir_entry: is the entry at `off` of `buf[0, size)` sound? Logs and returns false
 * when not. `pos` is the entry's position in the directory (reported as "offset"), `block` the
 * physical block for the message (0 for inline data), `file` tells which message form Linux
 * would use (readdir's ext4_error_file or lookup's ext4_error_inode).
 */
export function checkDirEntry(dir: Ext4Inode, file: boolean, buf: Uint8Array, off: number, size: number,
  pos: number, block: number, func: string): boolean {
  const sbi = dir.sbi;
  // The header itself must be inside the buffer before any field is read.
  if (off + EXT4_DIR_ENTRY_HDR > size) {
    reportBadEntry(dir, file, 'directory entry overrun', pos, 0, 0, 0, size, block, func);
    return false;
  }
  const rlen = recLenFromDisk(le16(buf, off + 4), sbi.blockSize);
  const nameLen = entryNameLen(buf, off);
  const next = off + rlen;
  const ino = le32(buf, off);
  let err: string | null = null;
  if (rlen < dirRecLen(1)) err = 'rec_len is smaller than minimal';
  else if (rlen % 4 !== 0) err = 'rec_len % 4 != 0';
  else if (rlen < dirRecLen(nameLen)) err = 'rec_len is too small for name_len';
  else if (next > size) err = 'directory entry overrun';
  else if (next > size - dirRecLen(1) && next !== size) err = 'directory entry too close to block end';
  else if (ino > sbi.inodesCount) err = 'inode out of bounds';
  if (!err) return true;
  reportBadEntry(dir, file, err, pos, ino, rlen, nameLen, size, block, func);
  return false;
}

function reportBadEntry(dir: Ext4Inode, file: boolean, err: string, pos: number, ino: number, rlen: number,
  nameLen: number, size: number, block: number, func: string): void {
  const msg = file
    ? `bad entry in directory: ${err} - offset=${pos}, inode=${ino}, rec_len=${rlen}, size=${size} fake=0`
    : `bad entry in directory: ${err} - offset=${pos}, inode=${ino}, rec_len=${rlen}, name_len=${nameLen}, size=${size}`;
  ext4Error(dir.sbi, func, dir, msg, { block });
}

/** A name being looked up: its bytes and, in a casefolded directory, its folded form. */
export interface LookupName {
  bytes: Uint8Array;
  ci: CiName | null;
}

/** ext4_match: does the live entry at `off` carry this name? */
export function entryMatches(fname: LookupName, b: Uint8Array, off: number, nameLen: number): boolean {
  if (le32(b, off) === 0) return false;
  const n = off + EXT4_DIR_ENTRY_HDR;
  if (fname.ci) return fname.ci.matches(b, n, n + nameLen);
  const want = fname.bytes;
  if (nameLen !== want.length) return false;
  for (let i = 0; i < nameLen; i++) if (b[n + i] !== want[i]) return false;
  return true;
}

/** A found entry: its inode number, file_type and offset in the searched buffer. */
export interface FoundEntry { ino: number; fileType: number; off: number }

/**
 * ext4_search_dir: look for `fname` among the entries of `buf` (one block, or one part of an
 * inline directory). Only a match is fully checked; the walk itself guards against a zero
 * rec_len so a corrupt block cannot loop. Returns the entry, null if absent, or 'bad' when the
 * matching entry is corrupt or the chain is broken (already reported).
 */
export function searchDir(dir: Ext4Inode, buf: Uint8Array, fname: LookupName, pos: number, block: number,
  func = 'ext4_search_dir'): FoundEntry | null | 'bad' {
  const size = buf.length;
  const bs = dir.sbi.blockSize;
  let off = 0;
  while (off < size - EXT4_DIR_ENTRY_HDR) {
    const nameLen = entryNameLen(buf, off);
    if (off + EXT4_DIR_ENTRY_HDR + nameLen <= size && entryMatches(fname, buf, off, nameLen)) {
      if (!checkDirEntry(dir, false, buf, off, size, pos, block, func)) return 'bad';
      return { ino: le32(buf, off), fileType: buf[off + 7]!, off };
    }
    const rlen = recLenFromDisk(le16(buf, off + 4), bs);
    if (rlen <= 0) return 'bad';
    off += rlen;
    pos += rlen;
  }
  return null;
}

/* ---- checksums ------------------------------------------------------------------------------ */

/** get_dirent_tail: offset of a well-formed checksum tail entry, or -1. */
export function direntTailOffset(dir: Ext4Inode, b: Uint8Array): number {
  const bs = dir.sbi.blockSize;
  const t = bs - EXT4_DIR_TAIL_SIZE;
  if (le32(b, t) !== 0 || recLenFromDisk(le16(b, t + 4), bs) !== EXT4_DIR_TAIL_SIZE ||
    b[t + 6] !== 0 || b[t + 7] !== EXT4_FT_DIR_CSUM) return -1;
  return t;
}

export function warnNoSpaceForCsum(dir: Ext4Inode): void {
  ext4WarningInode(dir, dir.sbi, 'warn_no_space_for_csum', 'No space for directory leaf checksum. Please run e2fsck -D.');
}

/** ext4_dirblock_csum_verify: true when the leaf's tail checksum matches (or there is none to check). */
export function dirblockCsumVerify(dir: Ext4Inode, b: Uint8Array): boolean {
  const sbi = dir.sbi;
  if (!sbi.hasMetadataCsum) return true;
  const t = direntTailOffset(dir, b);
  if (t < 0) { warnNoSpaceForCsum(dir); return false; }
  return le32(b, t + 8) === sbi.chksum(dir.csumSeed, b, 0, t);
}

/** get_dx_countlimit: the offset of (limit, count) in a root or node block, or -1. */
export function dxCountOffset(dir: Ext4Inode, b: Uint8Array): number {
  const bs = dir.sbi.blockSize;
  const rlen = recLenFromDisk(le16(b, 4), bs);
  if (rlen === bs) return 8;
  if (rlen !== 12) return -1;
  if (recLenFromDisk(le16(b, 12 + 4), bs) !== bs - 12) return -1;
  if (le32(b, 24) !== 0 || b[24 + 5] !== 8) return -1;
  return 32;
}

/** ext4_dx_csum_verify */
export function dxCsumVerify(dir: Ext4Inode, b: Uint8Array): boolean {
  const sbi = dir.sbi;
  if (!sbi.hasMetadataCsum) return true;
  const c = dxCountOffset(dir, b);
  if (c < 0) {
    ext4Error(sbi, 'ext4_dx_csum_verify', dir, 'dir seems corrupt?  Run e2fsck -D.');
    return false;
  }
  const limit = le16(b, c), count = le16(b, c + 2);
  if (c + limit * 8 > sbi.blockSize - 8) { warnNoSpaceForCsum(dir); return false; }
  if (count > limit) return false;
  const t = c + limit * 8;
  let crc = sbi.chksum(dir.csumSeed, b, 0, c + count * 8);
  crc = sbi.chksum(crc, b, t, t + 4);
  crc = sbi.chksumU32(crc, 0);
  return le32(b, t + 4) === crc;
}

/* ---- reading directory blocks ---------------------------------------------------------------- */

export const enum DirblockType { DIRENT, INDEX, DIRENT_HTREE }

/** Blocks already verified (buffer_verified). Keyed by the cache's buffer object. */
const verifiedBlocks = new WeakSet<Uint8Array>();

export function markVerified(b: Uint8Array): void { verifiedBlocks.add(b); }
export function isVerified(b: Uint8Array): boolean { return verifiedBlocks.has(b); }

/** is_dx: the directory has an htree (dir_index feature and EXT4_INDEX_FL). */
export function isDx(dir: Ext4Inode): boolean { return dir.sbi.hasDirIndex && dir.indexed; }

/** is_dx_internal_node: an index block, whose checksum is the dx tail's. */
export function isDxInternalNode(dir: Ext4Inode, lblk: number, b: Uint8Array): boolean {
  if (!isDx(dir)) return false;
  if (lblk === 0) return true;
  return le32(b, 0) === 0 && recLenFromDisk(le16(b, 4), dir.sbi.blockSize) === dir.sbi.blockSize;
}

/** A directory block as read: its bytes and physical block number (for messages). */
export interface DirBlock { b: Uint8Array; pblk: number }

/**
 * Read logical block `lblk` of a directory (ext4_bread); null for a hole. An unwritten extent
 * (never seen in directories Linux writes) reads as a hole too.
 */
export async function dirBread(dir: Ext4Inode, lblk: number): Promise<DirBlock | null> {
  const m = await dir.mapBlocks(lblk, 1);
  if (!m.pblk || m.unwritten) return null;
  const r = dir.sbi.bread(m.pblk);
  return { b: isPromise(r) ? await r : r, pblk: m.pblk };
}

/**
 * __ext4_read_dirblock: one directory block, checked as `type` asks. Throws EUCLEAN for a block
 * past i_size, a hole in an htree, a leaf where an index was expected; EBADMSG for a checksum
 * mismatch. Returns null only for a hole in a linear directory.
 */
export async function readDirblock(dir: Ext4Inode, lblk: number, type: DirblockType, func = '__ext4_read_dirblock'): Promise<Uint8Array | null> {
  const r = await readDirblockP(dir, lblk, type, func);
  return r ? r.b : null;
}

/** readDirblock with the physical block number. */
export async function readDirblockP(dir: Ext4Inode, lblk: number, type: DirblockType, func = '__ext4_read_dirblock'): Promise<DirBlock | null> {
  const sbi = dir.sbi;
  if (lblk >= Math.floor(dir.size / sbi.blockSize)) {
    throw ext4Error(sbi, func, dir, `Attempting to read directory block (${lblk}) that is past i_size (${dir.size})`, { block: lblk });
  }
  let db: DirBlock | null;
  try {
    db = await dirBread(dir, lblk);
  } catch (e) {
    const errno = (e as KernelError).errno ?? 5;
    ext4WarningInode(null, sbi, func, `inode #${dir.ino}: lblock ${lblk}: comm ${currentComm(dir.sbi)}: error ${-errno} reading directory block`);
    throw e;
  }
  if (!db) {
    if (type === DirblockType.INDEX || type === DirblockType.DIRENT_HTREE) {
      throw ext4Error(sbi, func, dir, `Directory hole found for htree ${type === DirblockType.INDEX ? 'index' : 'leaf'} block`, { block: lblk });
    }
    return null;
  }
  const b = db.b;
  let isDxBlock = false;
  if (isDx(dir)) {
    if (lblk === 0) isDxBlock = true;
    else if (recLenFromDisk(le16(b, 4), sbi.blockSize) === sbi.blockSize) isDxBlock = true;
  }
  if (!isDxBlock && type === DirblockType.INDEX) {
    throw ext4Error(sbi, func, dir, 'directory leaf block found instead of index block', { block: lblk });
  }
  if (!sbi.hasMetadataCsum || verifiedBlocks.has(b)) return db;
  // An empty leaf looks like an index block, so the index checksum is only checked when the
  // caller knows it wants one.
  if (isDxBlock && type === DirblockType.INDEX) {
    if (!dxCsumVerify(dir, b)) {
      throw ext4Error(sbi, func, dir, 'Directory index failed checksum', { block: lblk, errno: EFSBADCRC });
    }
    verifiedBlocks.add(b);
  }
  if (!isDxBlock) {
    if (!dirblockCsumVerify(dir, b)) {
      throw ext4Error(sbi, func, dir, 'Directory block failed checksum', { block: lblk, errno: EFSBADCRC });
    }
    verifiedBlocks.add(b);
  }
  return db;
}


/* ---- the hash of a name in a directory ------------------------------------------------------- */

/** s_hash_unsigned: 3 when the filesystem was made with unsigned-char hashing, else 0 (x86). */
export function hashUnsigned(dir: Ext4Inode): number {
  return dir.sbi.es.s_flags & EXT2_FLAGS_UNSIGNED_HASH ? 3 : 0;
}

/** IS_CASEFOLDED: a +F directory on a filesystem with an encoding. */
export function isCasefolded(dir: Ext4Inode): boolean { return dir.casefolded && dir.sbi.hasCasefold; }

/**
 * ext4fs_dirhash: hash `name` as directory `dir` does with dx_root hash `version` (before the
 * unsigned adjustment). Casefolded directories hash the folded name when it is valid UTF-8.
 * null for a version the kernel cannot compute (a warning is logged).
 */
export function dirNameHash(dir: Ext4Inode, name: Uint8Array, version: number): DxHash | null {
  let v = version;
  if (v <= DX_HASH_TEA) v += hashUnsigned(dir);
  let input = name;
  if (name.length && isCasefolded(dir)) input = utf8Casefold(name) ?? name;
  const h = dirhash(input, v, dir.sbi.es.s_hash_seed);
  if (!h) ext4WarningInode(null, dir.sbi, '__ext4fs_dirhash', `invalid/unsupported hash tree version ${v}`);
  return h;
}

/* ---- dx_probe ------------------------------------------------------------------------------- */

/** Thrown (as a value) when the index is unusable and a linear scan should be tried instead. */
export const ERR_BAD_DX_DIR = Symbol('ERR_BAD_DX_DIR');

/** One level of the path from the root to a leaf: its block, entries and the chosen slot. */
export interface DxFrame {
  block: Uint8Array;
  /** Offset of the entry array (where (limit, count) sit). */
  entries: number;
  count: number;
  /** Index of the chosen entry in the array. */
  at: number;
}

export const dxHashAt = (f: DxFrame, i: number) => le32(f.block, f.entries + 8 * i) ;
export const dxBlockAt = (f: DxFrame, i: number) => le32(f.block, f.entries + 8 * i + 4) & 0x0fffffff;

/** dx_root_limit / dx_node_limit: entries that fit, less one for the dx_tail with metadata_csum. */
export function dxRootLimit(dir: Ext4Inode, infoLen: number): number {
  let n = dir.sbi.blockSize - dirRecLen(1) - dirRecLen(2) - infoLen;
  if (dir.sbi.hasMetadataCsum) n -= 8;
  return Math.floor(n / 8);
}
export function dxNodeLimit(dir: Ext4Inode): number {
  let n = dir.sbi.blockSize - EXT4_DIR_ENTRY_HDR;
  if (dir.sbi.hasMetadataCsum) n -= 8;
  return Math.floor(n / 8);
}

export interface DxProbe { frames: DxFrame[]; hash: DxHash; version: number }

/**
 * dx_probe: walk from the root to the leaf whose hash range holds `name`'s hash (or `hash` when
 * given). Returns the frames, or ERR_BAD_DX_DIR after logging why the index cannot be used.
 * I/O and checksum errors of the blocks themselves propagate.
 */
export async function dxProbe(dir: Ext4Inode, name: Uint8Array | null, hash?: DxHash): Promise<DxProbe | typeof ERR_BAD_DX_DIR> {
  const sbi = dir.sbi;
  const warn = (m: string) => ext4WarningInode(dir, sbi, 'dx_probe', m);
  const bad = (): typeof ERR_BAD_DX_DIR => {
    warn('Corrupt directory, running e2fsck is recommended');
    return ERR_BAD_DX_DIR;
  };
  const root = (await readDirblock(dir, 0, DirblockType.INDEX, 'dx_probe'))!;
  const version = root[24 + 4]!;
  if (version !== DX_HASH_TEA && version !== DX_HASH_HALF_MD4 && version !== DX_HASH_LEGACY && version !== DX_HASH_SIPHASH) {
    warn(`Unrecognised inode hash code ${version}`);
    return bad();
  }
  if (version === DX_HASH_SIPHASH) {
    warn('Hash code is SIPHASH, but hash not in dirent');
    return bad();
  }
  let h = hash ?? null;
  if (!h) {
    h = name ? dirNameHash(dir, name, version) : { hash: 0, minor: 0 };
    if (!h) return bad();
  }
  const flags = root[24 + 7]!;
  if (flags & 1) {
    warn(`Unimplemented hash flags: ${'0x' + flags.toString(16).padStart(4, '0')}`);
    return bad();
  }
  const indirect = root[24 + 6]!;
  const maxLevels = sbi.hasLargedir ? EXT4_HTREE_LEVEL : EXT4_HTREE_LEVEL_COMPAT;
  if (indirect >= maxLevels) {
    ext4WarningInode(null, sbi, 'dx_probe', `Directory (ino: ${dir.ino}) htree depth ${'0x' + indirect.toString(16).padStart(4, '0')} exceedsupported value`);
    if (maxLevels < EXT4_HTREE_LEVEL) ext4WarningInode(null, sbi, 'dx_probe', 'Enable large directory feature to access it');
    return bad();
  }
  const infoLen = root[24 + 5]!;
  let frame: DxFrame = { block: root, entries: 24 + infoLen, count: 0, at: 0 };
  if (frame.entries + 8 > sbi.blockSize || le16(root, frame.entries) !== dxRootLimit(dir, infoLen)) {
    warn(`dx entry: limit ${frame.entries + 2 <= sbi.blockSize ? le16(root, frame.entries) : 0} != root limit ${dxRootLimit(dir, infoLen)}`);
    return bad();
  }
  const frames: DxFrame[] = [];
  const seen: number[] = [0];
  for (let level = 0; ; level++) {
    const limit = le16(frame.block, frame.entries);
    const count = le16(frame.block, frame.entries + 2);
    if (!count || count > limit) {
      warn(`dx entry: count ${count} beyond limit ${limit}`);
      return bad();
    }
    frame.count = count;
    // Binary search for the last entry whose hash is <= ours (entry 0 has no hash: it covers 0..).
    let p = 1, q = count - 1;
    while (p <= q) {
      const m = p + ((q - p) >> 1);
      if (dxHashAt(frame, m) > h.hash) q = m - 1; else p = m + 1;
    }
    frame.at = p - 1;
    frames.push(frame);
    const blk = dxBlockAt(frame, frame.at);
    if (seen.includes(blk)) {
      warn(`dx entry: tree cycle block ${seen[level]} points back to block ${blk}`);
      return bad();
    }
    if (level + 1 > indirect) return { frames, hash: h, version };
    seen.push(blk);
    const nb = (await readDirblock(dir, blk, DirblockType.INDEX, 'dx_probe'))!;
    frame = { block: nb, entries: 8, count: 0, at: 0 };
    if (le16(nb, 8) !== dxNodeLimit(dir)) {
      warn(`dx entry: limit ${le16(nb, 8)} != node limit ${dxNodeLimit(dir)}`);
      return bad();
    }
  }
}

/**
 * ext4_htree_next_block: advance the path to the next leaf in hash order. Returns false when
 * the walk is over: the tree is exhausted, or (for a lookup, `hash` even) the next leaf starts a
 * different hash, so the name cannot continue there. Reads the index blocks the new path needs.
 */
export async function htreeNextBlock(dir: Ext4Inode, hash: number, frames: DxFrame[]): Promise<{ more: boolean; startHash: number }> {
  let i = frames.length - 1;
  let reread = 0;
  for (;;) {
    const f = frames[i]!;
    if (++f.at < f.count) break;
    if (i === 0) return { more: false, startHash: 0 };
    reread++;
    i--;
  }
  const bhash = dxHashAt(frames[i]!, frames[i]!.at);
  if ((hash & 1) === 0 && (bhash & ~1) >>> 0 !== hash) return { more: false, startHash: bhash };
  while (reread--) {
    const blk = dxBlockAt(frames[i]!, frames[i]!.at);
    const nb = (await readDirblock(dir, blk, DirblockType.INDEX, 'ext4_htree_next_block'))!;
    i++;
    const count = le16(nb, 10), limit = le16(nb, 8);
    if (!count || count > limit || limit !== dxNodeLimit(dir)) {
      throw ext4Error(dir.sbi, 'ext4_htree_next_block', dir, `dx entry: count ${count} beyond limit ${limit}`, { block: blk });
    }
    frames[i] = { block: nb, entries: 8, count, at: 0 };
  }
  return { more: true, startHash: bhash };
}

export { EFSCORRUPTED };
