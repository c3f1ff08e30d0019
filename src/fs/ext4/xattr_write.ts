/*
 * Extended attributes, write side (fs/ext4/xattr.c: ext4_xattr_set_handle, ext4_xattr_ibody_set,
 * ext4_xattr_block_set; fs/ext4/acl.c: ext4_set_acl).
 *
 * xattr.ts describes the two places an inode's attributes live: the in-inode area after
 * i_extra_isize, and one external block that inodes with identical attribute sets may share
 * (h_refcount counts them). Setting follows Linux's choice of place: a value goes into the inode
 * when it fits there (leaving the block if it was there before); when it does not, into the block
 * (leaving the inode). Removing takes it from wherever it is.
 *
 * Rather than shifting entries and values about in place, each change rebuilds the area it
 * touches from the list of (entry, value) pairs: entries from the start (sorted by index, name
 * length and name in a block, where lookups rely on the order; in order of arrival in the inode),
 * values packed from the end, each entry's e_hash over its name and value words, the block's
 * h_hash over the entry hashes and, with metadata_csum, the block checksum. A shared block is
 * never written: the inode gets a fresh block of its own with the new set and the old block's
 * h_refcount drops (copy on write, as ext4_xattr_block_set). Linux would also look for an
 * identical block to share through its mbcache; we do not, which costs a block, not correctness.
 *
 * Refused with EOPNOTSUPP before anything changes: attributes whose value lives in an EA inode
 * (ea_inode) and encrypted inodes. On an inline-data inode system.data is one more in-inode entry
 * that the rebuild keeps; inline_write.ts changes it through ext4XattrIbodySet. A value that
 * fits neither area is ENOSPC, as in Linux without ea_inode.
 *
 * POSIX ACLs arrive in the generic xattr form (version 2, 8-byte entries) and are stored in ext4's
 * compact form (version 1; 4-byte entries for the owner, group, mask and other). An access ACL
 * also sets the group/owner/other mode bits, and is not stored at all when the mode says it all
 * (posix_acl_update_mode).
 */
import { fail } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { EOPNOTSUPP, EEXIST, ENODATA, ENOSPC, EINVAL, EACCES } from '../../uapi/errno.js';
import { XATTR_CREATE, XATTR_REPLACE } from '../../uapi/fcntl.js';
import { S_IFMT, S_IFDIR } from '../../uapi/stat.js';
import type { Inode } from '../vfs/index.js';
import { EXT4_GOOD_OLD_INODE_SIZE } from './layout/index.js';
import type { Ext4Inode } from './ext4.js';
import {
  EXT4_XATTR_MAGIC, XATTR_BLOCK_HEADER_SIZE, XATTR_ENTRY_SIZE, EXT4_XATTR_INDEX_POSIX_ACL_ACCESS,
  EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT, xattrHashEntry, xattrBlockCsum, xattrResolveName, ext4XattrLoad,
} from './xattr.js';
import { writeInode, checkWritableInode } from './inode_write.js';
import { withHandle, type Ext4Handle } from './jbd.js';
import { allocBlocks, freeBlocks, ALLOC_CREDITS } from './balloc.js';

/** One attribute to be written: index, name suffix, value (or an EA inode reference kept as is). */
interface Attr { index: number; name: Uint8Array; value: Uint8Array; inum: number; size: number; hash: number }

const pad4 = (n: number) => (n + 3) & ~3;
const entryLen = (nameLen: number) => (XATTR_ENTRY_SIZE + nameLen + 3) & ~3;

function p16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function p32(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true); }
const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function strBytes(s: ByteString): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** ext4_xattr_hash_entry over the name and the value's little-endian words (padded with zeros). */
function entryHash(name: Uint8Array, value: Uint8Array): number {
  const p = new Uint8Array(pad4(value.length));
  p.set(value);
  const words = new Array<number>(p.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = le32(p, 4 * i);
  return xattrHashEntry(name, words);
}

function sameName(a: Attr, index: number, name: Uint8Array): boolean {
  if (a.index !== index || a.name.length !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (a.name[i] !== name[i]) return false;
  return true;
}

/** The sort order of entries in a block (xattr_find_entry with sorted lookups). */
function cmpAttr(a: Attr, b: Attr): number {
  if (a.index !== b.index) return a.index - b.index;
  if (a.name.length !== b.name.length) return a.name.length - b.name.length;
  for (let i = 0; i < a.name.length; i++) if (a.name[i] !== b.name[i]) return a.name[i]! - b.name[i]!;
  return 0;
}

/** Bytes an attribute list takes: entries, the terminating zero word, padded values. */
function spaceOf(list: Attr[]): number {
  let n = 4;
  for (const a of list) n += entryLen(a.name.length) + (a.inum ? 0 : pad4(a.size));
  return n;
}

/**
 * Lay `list` out in buf[first, end): entries from `first`, values packed down from `end`, value
 * offsets relative to `valueBase`.
 */
function layOut(buf: Uint8Array, first: number, end: number, valueBase: number, list: Attr[]): void {
  buf.fill(0, first, end);
  let e = first, v = end;
  for (const a of list) {
    let offs = 0;
    if (!a.inum && a.size) {
      v -= pad4(a.size);
      buf.set(a.value, v);
      offs = v - valueBase;
    }
    buf[e] = a.name.length;
    buf[e + 1] = a.index;
    p16(buf, e + 2, offs);
    p32(buf, e + 4, a.inum);
    p32(buf, e + 8, a.size);
    p32(buf, e + 12, a.hash);
    buf.set(a.name, e + XATTR_ENTRY_SIZE);
    e += entryLen(a.name.length);
  }
}

/** ext4_xattr_rehash: the block hash folds the entry hashes (0 if any entry has none). */
function blockHash(list: Attr[]): number {
  let h = 0;
  for (const a of list) {
    if (!a.hash) return 0;
    h = (((h << 16) | (h >>> 16)) ^ a.hash) >>> 0;
  }
  return h;
}

function buildBlock(inode: Ext4Inode, nr: number, b: Uint8Array, list: Attr[], refcount: number): void {
  const sbi = inode.sbi;
  b.fill(0, 0, XATTR_BLOCK_HEADER_SIZE);
  p32(b, 0, EXT4_XATTR_MAGIC);
  p32(b, 4, refcount);
  p32(b, 8, 1);
  layOut(b, XATTR_BLOCK_HEADER_SIZE, b.length, 0, list);
  p32(b, 12, blockHash(list));
  if (sbi.hasMetadataCsum) p32(b, 16, xattrBlockCsum(sbi, nr, b));
}

/** The in-inode area's bounds, or null when the inode has no room for one. */
function ibodyBounds(inode: Ext4Inode): { hdr: number; first: number; end: number } | null {
  const raw = inode.raw;
  const hdr = EXT4_GOOD_OLD_INODE_SIZE + inode.extraIsize;
  if (raw.length <= EXT4_GOOD_OLD_INODE_SIZE || hdr + 8 > raw.length) return null;
  return { hdr, first: hdr + 4, end: raw.length };
}

function toAttrs(listed: { entry: { index: number; name: ByteString; valueInum: number; valueSize: number; hash: number }; value: Uint8Array | null }[] | null): Attr[] {
  return (listed ?? []).map(({ entry: e, value }) => ({
    index: e.index, name: strBytes(e.name), value: value ?? new Uint8Array(0), inum: e.valueInum, size: e.valueSize, hash: e.hash,
  }));
}

/**
 * ext4_xattr_set_handle: set (value) or remove (null) attribute (index, name). `flags` are
 * XATTR_CREATE / XATTR_REPLACE. `extra` runs inside the same handle (an ACL's mode change).
 */
export async function ext4XattrSet(inode: Ext4Inode, index: number, nameS: ByteString, value: Uint8Array | null,
  flags: number, extra?: () => void): Promise<void> {
  checkWritableInode(inode, true); // inline data: system.data is kept in the inode with the rest
  const sbi = inode.sbi;
  const name = strBytes(nameS);
  const cur = await ext4XattrLoad(inode);
  const ib = toAttrs(cur.ibody), blk = toAttrs(cur.block);
  const inIb = ib.findIndex((a) => sameName(a, index, name));
  const inBlk = blk.findIndex((a) => sameName(a, index, name));
  const found = inIb >= 0 || inBlk >= 0;
  if (!found) {
    if (flags & XATTR_REPLACE) fail(ENODATA);
    if (!value) { if (extra) await commit(inode, null, null, extra); return; }
  } else if (flags & XATTR_CREATE) fail(EEXIST);
  const old = inIb >= 0 ? ib[inIb]! : inBlk >= 0 ? blk[inBlk]! : null;
  if (old?.inum) fail(EOPNOTSUPP, 'ext4: attributes in EA inodes are not writable yet');

  let newIb: Attr[] | null = null, newBlk: Attr[] | null = null;
  const bounds = ibodyBounds(inode);
  const ibRoom = bounds ? bounds.end - bounds.first : 0;
  if (!value) {
    if (inIb >= 0) newIb = ib.filter((_, i) => i !== inIb);
    else newBlk = blk.filter((_, i) => i !== inBlk);
  } else {
    if (old && old.size === value.length && old.value.every((x, i) => x === value[i])) {
      if (extra) await commit(inode, null, null, extra);
      return; // nothing changes (Linux bails out before touching anything)
    }
    const a: Attr = { index, name, value: value.slice(), inum: 0, size: value.length, hash: entryHash(name, value) };
    const withIb = inIb >= 0 ? ib.map((x, i) => (i === inIb ? a : x)) : [...ib, a];
    if (bounds && spaceOf(withIb) <= ibRoom) {
      newIb = withIb;
      if (inBlk >= 0) newBlk = blk.filter((_, i) => i !== inBlk);
    } else {
      const withBlk = (inBlk >= 0 ? blk.map((x, i) => (i === inBlk ? a : x)) : [...blk, a]).sort(cmpAttr);
      if (spaceOf(withBlk) > sbi.blockSize - XATTR_BLOCK_HEADER_SIZE) fail(ENOSPC);
      if (withBlk.some((x) => x.inum) && cur.blockBuf && le32(cur.blockBuf, 4) > 1) fail(EOPNOTSUPP);
      newBlk = withBlk;
      if (inIb >= 0) newIb = ib.filter((_, i) => i !== inIb);
    }
  }
  await commit(inode, newIb, newBlk, extra);
}

async function commit(inode: Ext4Inode, newIb: Attr[] | null, newBlk: Attr[] | null, extra?: () => void): Promise<void> {
  const sbi = inode.sbi;
  await withHandle(sbi, 3 * ALLOC_CREDITS + 8, async (h) => {
    if (newIb) {
      const bd = ibodyBounds(inode)!;
      const raw = inode.raw;
      raw.fill(0, bd.hdr, bd.end);
      if (newIb.length) {
        p32(raw, bd.hdr, EXT4_XATTR_MAGIC);
        layOut(raw, bd.first, bd.end, bd.first, newIb);
      }
    }
    if (newBlk) await setBlock(h, inode, newBlk);
    extra?.();
    inode.touch(false);
    await writeInode(h, inode);
  }, 1); // one revoke record: a freed block's journalled copy must not come back at replay
}

/** ext4_xattr_block_set with the new attribute list of the inode's block. */
async function setBlock(h: Ext4Handle, inode: Ext4Inode, list: Attr[]): Promise<void> {
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  const oldNr = inode.i_file_acl;
  let oldRef = 0;
  if (oldNr) {
    const ob = await h.getBlock(oldNr);
    oldRef = le32(ob, 4);
    if (oldRef <= 1 && list.length) {
      // Ours alone: rewrite in place.
      buildBlock(inode, oldNr, ob, list, 1);
      h.dirty(oldNr);
      return;
    }
    if (oldRef <= 1) {
      h.forget(oldNr);
      await freeBlocks(h, oldNr, 1);
    } else {
      // Shared: the others keep it, one reference fewer.
      p32(ob, 4, oldRef - 1);
      if (sbi.hasMetadataCsum) p32(ob, 16, xattrBlockCsum(sbi, oldNr, ob));
      h.dirty(oldNr);
    }
    inode.i_file_acl = 0;
    inode.blocks = Math.max(0, inode.blocks - (bs >> 9));
  }
  if (!list.length) return;
  const group = Math.floor((inode.ino - 1) / sbi.inodesPerGroup);
  const { pblk } = await allocBlocks(h, sbi.groupFirstBlock(group), 1);
  const b = await h.getBlock(pblk, true);
  b.fill(0);
  buildBlock(inode, pblk, b, list, 1);
  h.dirty(pblk);
  inode.i_file_acl = pblk;
  inode.blocks += bs >> 9;
}

/* ---- POSIX ACLs -------------------------------------------------------------------------------- */

const ACL_USER_OBJ = 0x01, ACL_USER = 0x02, ACL_GROUP_OBJ = 0x04, ACL_GROUP = 0x08, ACL_MASK = 0x10, ACL_OTHER = 0x20;
const POSIX_ACL_XATTR_VERSION = 0x0002, EXT4_ACL_VERSION = 0x0001;

interface AclEntry { tag: number; perm: number; id: number }

/** posix_acl_from_xattr: null for an empty value (no ACL). */
function aclFromXattr(v: Uint8Array): AclEntry[] | null {
  if (v.length === 0) return null;
  if (v.length < 4) fail(EINVAL);
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  if (dv.getUint32(0, true) !== POSIX_ACL_XATTR_VERSION) fail(EOPNOTSUPP);
  if ((v.length - 4) % 8) fail(EINVAL);
  const n = (v.length - 4) / 8;
  if (n === 0) return null;
  const out: AclEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 4 + 8 * i;
    const tag = dv.getUint16(o, true), perm = dv.getUint16(o + 2, true);
    let id = dv.getUint32(o + 4, true);
    switch (tag) {
      case ACL_USER_OBJ: case ACL_GROUP_OBJ: case ACL_MASK: case ACL_OTHER: id = 0xffffffff; break;
      case ACL_USER: case ACL_GROUP: break;
      default: fail(EINVAL);
    }
    out.push({ tag, perm, id });
  }
  return out;
}

/** posix_acl_valid: one of each object entry, in tag order, ids ascending, a mask with named entries. */
function aclValid(acl: AclEntry[]): void {
  let state = ACL_USER_OBJ, needsMask = false, prevId = -1;
  for (const e of acl) {
    if (e.perm & ~7) fail(EINVAL);
    switch (e.tag) {
      case ACL_USER_OBJ:
        if (state !== ACL_USER_OBJ) fail(EINVAL);
        state = ACL_USER; prevId = -1; break;
      case ACL_USER:
        if (state !== ACL_USER) fail(EINVAL);
        if (e.id <= prevId) fail(EINVAL);
        prevId = e.id; needsMask = true; break;
      case ACL_GROUP_OBJ:
        if (state !== ACL_USER) fail(EINVAL);
        state = ACL_GROUP; prevId = -1; break;
      case ACL_GROUP:
        if (state !== ACL_GROUP) fail(EINVAL);
        if (e.id <= prevId) fail(EINVAL);
        prevId = e.id; needsMask = true; break;
      case ACL_MASK:
        if (state !== ACL_GROUP) fail(EINVAL);
        state = ACL_OTHER; break;
      case ACL_OTHER:
        if (state === ACL_OTHER || (state === ACL_GROUP && !needsMask)) { state = 0; break; }
        fail(EINVAL);
        break;
      default: fail(EINVAL);
    }
  }
  if (state !== 0) fail(EINVAL);
}

/** posix_acl_equiv_mode: the mode bits it implies, and whether the mode alone says it all. */
function aclEquivMode(acl: AclEntry[]): { mode: number; equiv: boolean } {
  let mode = 0, mask = -1, equiv = true;
  for (const e of acl) {
    switch (e.tag) {
      case ACL_USER_OBJ: mode |= (e.perm & 7) << 6; break;
      case ACL_GROUP_OBJ: mode |= (e.perm & 7) << 3; break;
      case ACL_OTHER: mode |= e.perm & 7; break;
      case ACL_MASK: mask = e.perm; equiv = false; break;
      default: equiv = false;
    }
  }
  if (mask >= 0) mode = (mode & ~0o070) | ((mask & 7) << 3);
  return { mode, equiv };
}

/** ext4_acl_to_disk */
function aclToDisk(acl: AclEntry[]): Uint8Array {
  let n = 4;
  for (const e of acl) n += e.tag === ACL_USER || e.tag === ACL_GROUP ? 8 : 4;
  const out = new Uint8Array(n);
  p32(out, 0, EXT4_ACL_VERSION);
  let o = 4;
  for (const e of acl) {
    p16(out, o, e.tag); p16(out, o + 2, e.perm);
    if (e.tag === ACL_USER || e.tag === ACL_GROUP) { p32(out, o + 4, e.id); o += 8; } else o += 4;
  }
  return out;
}

/**
 * ext4_set_acl (through the posix_acl xattr handler): flags do not apply; an access ACL updates
 * the mode and is dropped when the mode expresses it; a default ACL only exists on directories.
 */
async function setAcl(inode: Ext4Inode, index: number, value: Uint8Array | null): Promise<void> {
  let acl = value ? aclFromXattr(value) : null;
  if (acl) aclValid(acl);
  const isDir = (inode.mode & S_IFMT) === S_IFDIR;
  if (index === EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT && !isDir) {
    if (acl) fail(EACCES);
    return;
  }
  let extra: (() => void) | undefined;
  if (index === EXT4_XATTR_INDEX_POSIX_ACL_ACCESS && acl) {
    const { mode, equiv } = aclEquivMode(acl);
    if (equiv) acl = null;
    const newMode = (inode.mode & ~0o777) | mode;
    if (newMode !== inode.mode) extra = () => { inode.mode = newMode; };
  }
  await ext4XattrSet(inode, index, '', acl ? aclToDisk(acl) : null, 0, extra);
}

export async function ext4Setxattr(inodeV: Inode, name: ByteString, value: Uint8Array, flags: number): Promise<void> {
  const inode = inodeV as Ext4Inode;
  const [index, suffix] = xattrResolveName(name);
  if (index === EXT4_XATTR_INDEX_POSIX_ACL_ACCESS || index === EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT) {
    await setAcl(inode, index, value);
    return;
  }
  await ext4XattrSet(inode, index, suffix, value, flags);
}

export async function ext4Removexattr(inodeV: Inode, name: ByteString): Promise<void> {
  const inode = inodeV as Ext4Inode;
  const [index, suffix] = xattrResolveName(name);
  if (index === EXT4_XATTR_INDEX_POSIX_ACL_ACCESS || index === EXT4_XATTR_INDEX_POSIX_ACL_DEFAULT) {
    await setAcl(inode, index, null);
    return;
  }
  await ext4XattrSet(inode, index, suffix, null, XATTR_REPLACE);
}

/* ---- the in-inode area alone, for inline data (inline_write.ts) ---------------------------------
 * system.data must stay in the inode (never a block or an EA inode), and inline data changes it
 * inside a handle the caller already holds, together with other inode fields: these work on
 * inode.raw only, synchronously, and the caller writes the inode afterwards.
 */

/** One in-inode entry as found: index, name, value offset (from the first entry), size, EA inode. */
export interface IbodyAttr { index: number; name: Uint8Array; offs: number; size: number; inum: number }

/** The in-inode entries, in their order (none without the area's magic). */
export function ext4XattrIbodyAttrs(inode: Ext4Inode): IbodyAttr[] {
  const bd = ibodyBounds(inode);
  const raw = inode.raw;
  if (!bd || le32(raw, bd.hdr) !== EXT4_XATTR_MAGIC) return [];
  const out: IbodyAttr[] = [];
  for (let o = bd.first; o + 4 <= bd.end && le32(raw, o) !== 0; o += entryLen(raw[o]!)) {
    if (o + XATTR_ENTRY_SIZE + raw[o]! > bd.end) break;
    out.push({
      index: raw[o + 1]!, name: raw.slice(o + XATTR_ENTRY_SIZE, o + XATTR_ENTRY_SIZE + raw[o]!),
      offs: raw[o + 2]! | (raw[o + 3]! << 8), inum: le32(raw, o + 4), size: le32(raw, o + 8),
    });
  }
  return out;
}

/**
 * ext4_xattr_ibody_set: set (value) or remove (null) attribute (index, name) in the inode's own
 * area, in inode.raw. ENOSPC when the area cannot hold the new set; nothing changes then.
 */
export function ext4XattrIbodySet(inode: Ext4Inode, index: number, nameS: ByteString, value: Uint8Array | null): void {
  const bd = ibodyBounds(inode);
  if (!bd) fail(ENOSPC);
  const raw = inode.raw;
  const name = strBytes(nameS);
  const cur: Attr[] = ext4XattrIbodyAttrs(inode).map((a) => {
    const v = a.inum ? new Uint8Array(0) : raw.slice(bd.first + a.offs, bd.first + a.offs + a.size);
    return { index: a.index, name: a.name, value: v, inum: a.inum, size: a.size, hash: 0 };
  });
  // Keep each entry's stored hash (layOut writes a.hash).
  for (let o = bd.first, i = 0; i < cur.length; o += entryLen(raw[o]!), i++) cur[i]!.hash = le32(raw, o + 12);
  const at = cur.findIndex((a) => sameName(a, index, name));
  let next: Attr[];
  if (!value) next = cur.filter((_, i) => i !== at);
  else {
    // In-inode entries carry no hash in Linux (e_hash 0: only block entries are hashed), and
    // inline data rewrites the value in place afterwards, which would stale one.
    const a: Attr = { index, name, value: value.slice(), inum: 0, size: value.length, hash: 0 };
    next = at >= 0 ? cur.map((x, i) => (i === at ? a : x)) : [...cur, a];
  }
  if (spaceOf(next) > bd.end - bd.first) fail(ENOSPC);
  raw.fill(0, bd.hdr, bd.end);
  if (next.length) {
    p32(raw, bd.hdr, EXT4_XATTR_MAGIC);
    layOut(raw, bd.first, bd.end, bd.first, next);
  }
}
