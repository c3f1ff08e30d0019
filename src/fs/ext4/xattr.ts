/*
 * Extended attributes, read side (fs/ext4/xattr.c).
 *
 * An inode's attributes live in up to two places, searched in this order:
 *   1. the in-inode area ("ibody"): the bytes after the 128-byte base inode and its
 *      i_extra_isize extension, up to s_inode_size. It starts with the magic 0xEA020000; entries
 *      follow at once and values are addressed relative to the first entry;
 *   2. one external block (i_file_acl), shared between inodes with identical attribute sets: a
 *      32-byte header (magic, h_refcount, h_blocks = 1, h_hash, h_checksum), entries from byte
 *      32 sorted by (index, name length, name), values addressed from the block start, packed at
 *      the block's end. With metadata_csum the header carries crc32c(fs seed, le64 block number,
 *      block with h_checksum taken as 0): a shared block is checksummed without any inode seed.
 * An entry is 16 bytes (name length, name index, value offset, value inode, value size, hash)
 * plus the name without its namespace prefix, padded to 4 bytes; a zero word ends the list.
 * The name index encodes the prefix: 1 "user.", 2 "system.posix_acl_access", 3
 * "system.posix_acl_default", 4 "trusted.", 6 "security.", 7 "system." (ext4 keeps its own
 * system.data there: the tail of inline data), 8 "system.richacl" (never merged upstream).
 * With the ea_inode feature a large value lives in the data blocks of its own inode
 * (e_value_inum, flagged EXT4_EA_INODE_FL); that inode's i_atime holds crc32c(fs seed, value)
 * and the entry's e_hash covers the name and that crc.
 *
 * What userspace sees is what Linux's xattr handlers allow: getxattr maps a full name to (index,
 * suffix); system.* names other than the two POSIX ACLs have no handler (EOPNOTSUPP), so
 * system.data stays private to inline.ts, and listxattr shows only indexes with a handler
 * (user, ACLs, trusted, security), ibody first then block, in on-disk order. POSIX ACLs are
 * stored in ext4's compact format and converted to the xattr format (version 2) on the way out.
 *
 * Corruption (names running past the area, values overlapping names or leaving the block, bad
 * magic, bad checksum, an ea_inode whose size or hash disagrees) is EUCLEAN (EBADMSG for the
 * checksum) with Linux's "corrupted xattr block N: reason" message; nothing is trusted before it
 * has been bounds-checked.
 */
import { fail, isPromise, type KernelError, type MaybePromise } from '../../lib/errors.js';
import { bytesToByteString, type ByteString } from '../../lib/bytestr.js';
import { EOPNOTSUPP, ERANGE, EINVAL, ENODATA } from '../../uapi/errno.js';
import type { InodeOperations } from '../vfs/index.js';
import {
  type Ext4Inode, type Ext4Sb, ext4Error, currentComm, EFSCORRUPTED, EFSBADCRC, KERN_WARNING,
} from './ext4.js';
import { EXT4_GOOD_OLD_INODE_SIZE, EXT4_EA_INODE_FL, EXT4_ROOT_INO } from './layout/index.js';

export const EXT4_XATTR_MAGIC = 0xea020000;
export const EXT4_XATTR_INDEX_USER = 1, EXT4_XATTR_INDEX_POSIX_ACL_ACCESS = 2,
  EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT = 3, EXT4_XATTR_INDEX_TRUSTED = 4, EXT4_XATTR_INDEX_LUSTRE = 5,
  EXT4_XATTR_INDEX_SECURITY = 6, EXT4_XATTR_INDEX_SYSTEM = 7, EXT4_XATTR_INDEX_RICHACL = 8,
  EXT4_XATTR_INDEX_ENCRYPTION = 9, EXT4_XATTR_INDEX_HURD = 10;
/** sizeof(struct ext4_xattr_header) and of an entry without its name. */
export const XATTR_BLOCK_HEADER_SIZE = 32, XATTR_ENTRY_SIZE = 16;
/** Largest value ext4 accepts (EXT4_XATTR_SIZE_MAX). */
export const EXT4_XATTR_SIZE_MAX = 1 << 24;

const PREFIXES: Record<number, ByteString> = {
  [EXT4_XATTR_INDEX_USER]: 'user.',
  [EXT4_XATTR_INDEX_POSIX_ACL_ACCESS]: 'system.posix_acl_access',
  [EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT]: 'system.posix_acl_default',
  [EXT4_XATTR_INDEX_TRUSTED]: 'trusted.',
  [EXT4_XATTR_INDEX_SECURITY]: 'security.',
  [EXT4_XATTR_INDEX_SYSTEM]: 'system.',
  [EXT4_XATTR_INDEX_RICHACL]: 'system.richacl',
};
/** Indexes with a Linux xattr handler, i.e. the ones listxattr shows. */
const LISTED = new Set([EXT4_XATTR_INDEX_USER, EXT4_XATTR_INDEX_POSIX_ACL_ACCESS,
  EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT, EXT4_XATTR_INDEX_TRUSTED, EXT4_XATTR_INDEX_SECURITY]);

/** The prefix of a name index, or null for an index without one (lustre, encryption, ...). */
export function xattrPrefix(index: number): ByteString | null { return PREFIXES[index] ?? null; }

/** ext4_warning_inode: "EXT4-fs warning (device vda1): func:0: inode #N: comm C: msg". */
export function ext4WarningInode(inode: Ext4Inode | null, sb: Ext4Sb, func: string, msg: string): void {
  const where = inode ? `inode #${inode.ino}: comm ${currentComm(sb)}: ` : '';
  sb.vfs.printk(KERN_WARNING, `EXT4-fs warning (device ${sb.id}): ${func}:0: ${where}${msg}`);
}

const le16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/** One decoded entry; `off` is its offset in the area's buffer. */
export interface XattrEntry {
  off: number;
  nameLen: number;
  index: number;
  valueOffs: number;
  valueInum: number;
  valueSize: number;
  hash: number;
  name: ByteString;
}

function entryAt(buf: Uint8Array, off: number): XattrEntry {
  const nameLen = buf[off]!;
  return {
    off, nameLen, index: buf[off + 1]!, valueOffs: le16(buf, off + 2), valueInum: le32(buf, off + 4),
    valueSize: le32(buf, off + 8), hash: le32(buf, off + 12),
    name: bytesToByteString(buf, off + XATTR_ENTRY_SIZE, off + XATTR_ENTRY_SIZE + nameLen),
  };
}
const entryLen = (nameLen: number) => (XATTR_ENTRY_SIZE + nameLen + 3) & ~3;
/** IS_LAST_ENTRY: a zero 32-bit word (only safe to call when 4 bytes remain). */
const isLast = (buf: Uint8Array, off: number) => le32(buf, off) === 0;

/**
 * An attribute area: entries from `first`, values addressed from `valueStart`, nothing beyond
 * `end`. For the ibody, buf is the raw inode; for a block, the block.
 */
interface Area { buf: Uint8Array; first: number; valueStart: number; end: number; block: number }

/** ext4_xattr_hash_entry: rotate-xor over the name bytes (as unsigned or signed char) and value words. */
export function xattrHashEntry(name: Uint8Array, valueWords: ArrayLike<number>, signed = false): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) {
    let c = name[i]!;
    if (signed && c >= 0x80) c -= 0x100;
    h = (((h << 5) | (h >>> 27)) ^ c) >>> 0;
  }
  for (let i = 0; i < valueWords.length; i++) h = (((h << 16) | (h >>> 16)) ^ valueWords[i]!) >>> 0;
  return h >>> 0;
}

/** ext4_valid_inum */
export function validInum(sbi: Ext4Sb, ino: number): boolean {
  return ino === EXT4_ROOT_INO || (ino >= sbi.firstIno && ino <= sbi.inodesCount);
}

/**
 * check_xattrs: validate every entry of an area before anything is read from it. Throws the
 * EUCLEAN/EBADMSG KernelError after logging, as __ext4_error_inode does.
 */
function checkArea(inode: Ext4Inode, a: Area, func: string): void {
  const sbi = inode.sbi;
  const bad = (why: string, errno = EFSCORRUPTED): KernelError => ext4Error(sbi, func, inode,
    a.block ? `corrupted xattr block ${a.block}: ${why}` : `corrupted in-inode xattr: ${why}`, { errno });
  const { buf, end } = a;
  let e = a.first;
  // The names: each entry must end before `end` and the list must be terminated.
  for (;;) {
    if (e + 4 > end) throw bad('e_name out of bounds');
    if (isLast(buf, e)) break;
    const next = e + entryLen(buf[e]!);
    if (next >= end) throw bad('e_name out of bounds');
    for (let i = 0; i < buf[e]!; i++) if (buf[e + XATTR_ENTRY_SIZE + i] === 0) throw bad('bad e_name length');
    e = next;
  }
  const namesEnd = e;
  // The values: inside the area, after the names, padded size too.
  for (let o = a.first; o < namesEnd; o += entryLen(buf[o]!)) {
    const x = entryAt(buf, o);
    if (x.valueInum && !sbi.hasEaInode) throw bad('ea_inode specified without ea_inode feature enabled');
    if (x.valueInum && (x.valueInum === EXT4_ROOT_INO || !validInum(sbi, x.valueInum))) throw bad('invalid ea_ino');
    if (x.valueSize > EXT4_XATTR_SIZE_MAX) throw bad('e_value size too large');
    if (x.valueSize !== 0 && x.valueInum === 0) {
      if (x.valueOffs > end - a.valueStart) throw bad('e_value out of bounds');
      const v = a.valueStart + x.valueOffs;
      if (v < namesEnd + 4 || x.valueSize > end - v || ((x.valueSize + 3) & ~3) > end - v) {
        throw bad('overlapping e_value ');
      }
    }
  }
}

/** Buffers already checked (buffer_verified): a cached block is validated once. */
const verified = new WeakSet<Uint8Array>();

/** The in-inode area, or null when the inode has none (no room or no magic: EXT4_STATE_XATTR). */
export function ibodyArea(inode: Ext4Inode): Area | null {
  const raw = inode.raw;
  const hdr = EXT4_GOOD_OLD_INODE_SIZE + inode.extraIsize;
  if (raw.length <= EXT4_GOOD_OLD_INODE_SIZE || hdr + 4 > raw.length) return null;
  if (le32(raw, hdr) !== EXT4_XATTR_MAGIC) return null;
  return { buf: raw, first: hdr + 4, valueStart: hdr + 4, end: raw.length, block: 0 };
}

/**
 * xattr_check_inode: validate the in-inode area. Linux does this in iget (a corrupt area makes
 * the inode unreadable); we also run it before the first use of the area.
 */
export function ext4XattrCheckIbody(inode: Ext4Inode): void {
  const a = ibodyArea(inode);
  if (!a || verified.has(a.buf)) return;
  checkArea(inode, a, '__ext4_iget');
  verified.add(a.buf);
}

function ibody(inode: Ext4Inode, func: string): Area | null {
  const a = ibodyArea(inode);
  if (a && !verified.has(a.buf)) { checkArea(inode, a, func); verified.add(a.buf); }
  return a;
}

/** ext4_xattr_block_csum */
export function xattrBlockCsum(sbi: Ext4Sb, blockNr: number, block: Uint8Array): number {
  const nr = new Uint8Array(8);
  new DataView(nr.buffer).setBigUint64(0, BigInt(blockNr), true);
  let c = sbi.chksum(sbi.csumSeed, nr);
  c = sbi.chksum(c, block, 0, 16);
  c = sbi.chksumU32(c, 0);
  return sbi.chksum(c, block, 20, sbi.blockSize);
}

/** The external block's area, read and checked (ext4_xattr_check_block), or null if none. */
function blockArea(inode: Ext4Inode, func: string): MaybePromise<Area | null> {
  const nr = inode.i_file_acl;
  if (!nr) return null;
  const sbi = inode.sbi;
  if (nr >= sbi.blocksCount) {
    throw ext4Error(sbi, func, inode, `corrupted xattr block ${nr}: invalid block number`);
  }
  const r = sbi.bread(nr);
  return isPromise(r) ? r.then((buf) => checkBlockArea(inode, func, nr, buf)) : checkBlockArea(inode, func, nr, r);
}

/** The xattr block's area, its header, checksum and entries checked once per buffer. */
function checkBlockArea(inode: Ext4Inode, func: string, nr: number, buf: Uint8Array): Area {
  const sbi = inode.sbi;
  const a: Area = { buf, first: XATTR_BLOCK_HEADER_SIZE, valueStart: 0, end: buf.length, block: nr };
  if (verified.has(buf)) return a;
  if (le32(buf, 0) !== EXT4_XATTR_MAGIC || le32(buf, 8) !== 1) {
    throw ext4Error(sbi, func, inode, `corrupted xattr block ${nr}: invalid header`);
  }
  if (sbi.hasMetadataCsum && le32(buf, 16) !== xattrBlockCsum(sbi, nr, buf)) {
    throw ext4Error(sbi, func, inode, `corrupted xattr block ${nr}: invalid checksum`, { errno: EFSBADCRC });
  }
  checkArea(inode, a, func);
  verified.add(buf);
  return a;
}

/**
 * xattr_find_entry: the entry (index, name) in an area, or null. In a block, entries are sorted
 * and the search stops at the first entry that sorts after the name, as Linux's does.
 */
function findEntry(a: Area, index: number, name: Uint8Array, sorted: boolean): XattrEntry | null {
  const { buf } = a;
  for (let o = a.first; !isLast(buf, o); o += entryLen(buf[o]!)) {
    let cmp = index - buf[o + 1]!;
    if (!cmp) cmp = name.length - buf[o]!;
    if (!cmp) {
      for (let i = 0; i < name.length && !cmp; i++) cmp = name[i]! - buf[o + XATTR_ENTRY_SIZE + i]!;
    }
    if (cmp === 0) return entryAt(buf, o);
    if (cmp < 0 && sorted) return null;
  }
  return null;
}

/**
 * ext4_xattr_inode_get: a value stored in an EA inode. The inode must carry EXT4_EA_INODE_FL,
 * be exactly as long as the entry says, have no holes, and (unless it is an old Lustre-style EA
 * inode pointing back at its parent) its data must hash to the stored crc and the entry hash.
 */
async function eaInodeValue(parent: Ext4Inode, e: XattrEntry): Promise<Uint8Array> {
  const sbi = parent.sbi;
  if (e.valueInum === parent.ino) {
    throw ext4Error(sbi, 'ext4_xattr_inode_iget', null, `Parent and EA inode have the same ino ${e.valueInum}`);
  }
  let ea: Ext4Inode;
  try {
    ea = await sbi.iget(e.valueInum);
  } catch (err) {
    const errno = (err as KernelError).errno ?? EFSCORRUPTED;
    ext4Error(sbi, 'ext4_xattr_inode_iget', null, `error while reading EA inode ${e.valueInum} err=${-errno}`);
    throw err;
  }
  if (!(ea.i_flags & EXT4_EA_INODE_FL)) {
    throw ext4Error(sbi, '__ext4_iget', ea, 'iget: missing EA_INODE flag');
  }
  const storedHash = le32(ea.raw, 0x08); // i_atime doubles as the value's crc32c
  const lustre = e.hash !== storedHash && le32(ea.raw, 0x10) === parent.ino && ea.generation === parent.generation;
  if (ea.size !== e.valueSize) {
    ext4WarningInode(ea, sbi, 'ext4_xattr_inode_get', `ea_inode file size=${ea.size} entry size=${e.valueSize}`);
    fail(EFSCORRUPTED);
  }
  const out = new Uint8Array(e.valueSize);
  const bs = sbi.blockSize;
  for (let lblk = 0; lblk * bs < out.length; lblk++) {
    const b = await ea.readLogicalBlock(lblk);
    if (!b) fail(EFSCORRUPTED); // there are no holes in an EA inode
    out.set(b.subarray(0, Math.min(bs, out.length - lblk * bs)), lblk * bs);
  }
  if (!lustre) {
    const crc = sbi.chksum(sbi.csumSeed, out);
    let ok = crc === storedHash;
    if (ok) {
      const name = nameBytes(e.name);
      ok = xattrHashEntry(name, [crc]) === e.hash || xattrHashEntry(name, [crc], true) === e.hash;
    }
    if (!ok) {
      ext4WarningInode(ea, sbi, 'ext4_xattr_inode_get', 'EA inode hash validation failed');
      fail(EFSCORRUPTED);
    }
  }
  return out;
}

function nameBytes(s: ByteString): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

async function valueOf(inode: Ext4Inode, a: Area, e: XattrEntry): Promise<Uint8Array> {
  if (e.valueSize > EXT4_XATTR_SIZE_MAX) fail(ERANGE);
  if (e.valueInum) return eaInodeValue(inode, e);
  const start = a.valueStart + e.valueOffs;
  if (start + e.valueSize > a.end) fail(ERANGE);
  return a.buf.slice(start, start + e.valueSize);
}

/**
 * ext4_xattr_get by raw (index, name): in-inode first, then the block. null = no such attribute.
 * This is also how inline.ts reads system.data (index 7, name "data").
 */
export async function ext4XattrGetIndexed(inode: Ext4Inode, index: number, name: ByteString): Promise<Uint8Array | null> {
  if (name.length > 255) fail(ERANGE);
  const nb = nameBytes(name);
  const ib = ibody(inode, 'ext4_xattr_ibody_get');
  if (ib) {
    const e = findEntry(ib, index, nb, false);
    if (e) return valueOf(inode, ib, e);
  }
  const blk = await blockArea(inode, 'ext4_xattr_block_get');
  if (blk) {
    const e = findEntry(blk, index, nb, true);
    if (e) return valueOf(inode, blk, e);
  }
  return null;
}

/** The in-inode entry (index, name), for inline.ts (ext4_find_inline_data_nolock). */
export function ext4XattrIbodyFind(inode: Ext4Inode, index: number, name: ByteString): { area: Area; entry: XattrEntry } | null {
  const ib = ibody(inode, 'ext4_xattr_ibody_find');
  if (!ib) return null;
  const e = findEntry(ib, index, nameBytes(name), false);
  return e ? { area: ib, entry: e } : null;
}

/** Every entry of both areas, in Linux's listing order (for listxattr and tests). */
export function ext4XattrEntries(inode: Ext4Inode): MaybePromise<{ where: 'ibody' | 'block'; entry: XattrEntry }[]> {
  const out: { where: 'ibody' | 'block'; entry: XattrEntry }[] = [];
  const ib = ibody(inode, 'ext4_xattr_ibody_list');
  if (ib) for (let o = ib.first; !isLast(ib.buf, o); o += entryLen(ib.buf[o]!)) out.push({ where: 'ibody', entry: entryAt(ib.buf, o) });
  const blockEntries = (blk: Area | null) => {
    if (blk) for (let o = blk.first; !isLast(blk.buf, o); o += entryLen(blk.buf[o]!)) out.push({ where: 'block', entry: entryAt(blk.buf, o) });
    return out;
  };
  // Without an xattr block (most inodes) the listing needs no read: no promise then.
  const blk = blockArea(inode, 'ext4_xattr_block_list');
  return isPromise(blk) ? blk.then(blockEntries) : blockEntries(blk);
}

/** Map a full attribute name to (index, suffix) the way Linux's handlers do; EOPNOTSUPP if none. */
export function xattrResolveName(name: ByteString): [number, ByteString] {
  if (name === 'system.posix_acl_access') return [EXT4_XATTR_INDEX_POSIX_ACL_ACCESS, ''];
  if (name === 'system.posix_acl_default') return [EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT, ''];
  for (const idx of [EXT4_XATTR_INDEX_USER, EXT4_XATTR_INDEX_TRUSTED, EXT4_XATTR_INDEX_SECURITY]) {
    const p = PREFIXES[idx]!;
    if (name.startsWith(p)) {
      if (name.length === p.length) fail(EINVAL);
      return [idx, name.slice(p.length)];
    }
  }
  fail(EOPNOTSUPP);
}

/* POSIX ACLs: ext4's compact on-disk form to the generic xattr form. */
const ACL_USER_OBJ = 0x01, ACL_USER = 0x02, ACL_GROUP_OBJ = 0x04, ACL_GROUP = 0x08, ACL_MASK = 0x10,
  ACL_OTHER = 0x20, ACL_UNDEFINED_ID = 0xffffffff;
const EXT4_ACL_VERSION = 0x0001, POSIX_ACL_XATTR_VERSION = 0x0002;

/** ext4_acl_from_disk + posix_acl_to_xattr. Malformed ACLs are EINVAL, as in Linux. */
export function ext4AclToXattr(v: Uint8Array): Uint8Array {
  if (v.length < 4 || le32(v, 0) !== EXT4_ACL_VERSION) fail(EINVAL);
  // ext4_acl_count: four short entries (USER_OBJ, GROUP_OBJ, MASK, OTHER), the rest full ones.
  const size = v.length - 4;
  let count: number;
  if (size < 16) { if (size % 4) fail(EINVAL); count = size / 4; } else {
    if ((size - 16) % 8) fail(EINVAL);
    count = (size - 16) / 8 + 4;
  }
  const ents: [number, number, number][] = [];
  let o = 4;
  for (let n = 0; n < count; n++) {
    if (o + 4 > v.length) fail(EINVAL);
    const tag = le16(v, o), perm = le16(v, o + 2);
    switch (tag) {
      case ACL_USER_OBJ: case ACL_GROUP_OBJ: case ACL_MASK: case ACL_OTHER:
        ents.push([tag, perm, ACL_UNDEFINED_ID]); o += 4; break;
      case ACL_USER: case ACL_GROUP:
        if (o + 8 > v.length) fail(EINVAL);
        ents.push([tag, perm, le32(v, o + 4)]); o += 8; break;
      default: fail(EINVAL);
    }
  }
  if (o !== v.length) fail(EINVAL);
  if (ents.length === 0) return new Uint8Array(0); // an empty ACL reads as none
  const out = new Uint8Array(4 + 8 * ents.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, POSIX_ACL_XATTR_VERSION, true);
  ents.forEach(([t, p, id], i) => {
    dv.setUint16(4 + 8 * i, t, true); dv.setUint16(6 + 8 * i, p, true); dv.setUint32(8 + 8 * i, id, true);
  });
  return out;
}

/** getxattr(2) on an ext4 inode: the value, or null for ENODATA. */
export async function ext4Getxattr(inode: Ext4Inode, name: ByteString): Promise<Uint8Array | null> {
  const [index, suffix] = xattrResolveName(name);
  const v = await ext4XattrGetIndexed(inode, index, suffix);
  if (v && (index === EXT4_XATTR_INDEX_POSIX_ACL_ACCESS || index === EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT)) {
    const x = ext4AclToXattr(v);
    return x.length ? x : null;
  }
  return v;
}

/** listxattr(2): full names, ibody then block, only namespaces with a handler. */
export function ext4Listxattr(inode: Ext4Inode): MaybePromise<ByteString[]> {
  const entries = ext4XattrEntries(inode);
  return isPromise(entries) ? entries.then(listedNames) : listedNames(entries);
}

function listedNames(entries: { entry: XattrEntry }[]): ByteString[] {
  const names: ByteString[] = [];
  for (const { entry } of entries) {
    if (!LISTED.has(entry.index)) continue;
    names.push(PREFIXES[entry.index]! + entry.name);
  }
  return names;
}

/** Attribute operations shared by every ext4 inode type (regular files, devices, fifos...). */
export const ext4XattrInodeOps: InodeOperations = {
  getxattr: (inode, name) => ext4Getxattr(inode as Ext4Inode, name),
  listxattr: (inode) => ext4Listxattr(inode as Ext4Inode),
};

export { ENODATA };

/** Both areas, validated, with their entries as (entry, value) pairs: what xattr_write.ts rewrites. */
export interface XattrListed { entry: XattrEntry; value: Uint8Array | null }
export async function ext4XattrLoad(inode: Ext4Inode): Promise<{ ibody: XattrListed[] | null; block: XattrListed[] | null; blockBuf: Uint8Array | null }> {
  const list = (a: Area | null): XattrListed[] | null => {
    if (!a) return null;
    const out: XattrListed[] = [];
    for (let o = a.first; !isLast(a.buf, o); o += entryLen(a.buf[o]!)) {
      const e = entryAt(a.buf, o);
      const s = a.valueStart + e.valueOffs;
      out.push({ entry: e, value: e.valueInum ? null : a.buf.slice(s, s + e.valueSize) });
    }
    return out;
  };
  const ib = ibody(inode, 'ext4_xattr_ibody_find');
  const blk = await blockArea(inode, 'ext4_xattr_block_find');
  return { ibody: list(ib), block: list(blk), blockBuf: blk ? blk.buf : null };
}
