/*
 * FAT inodes, files and the vfat namespace operations (fs/fat/inode.c, file.c, namei_vfat.c).
 *
 * FAT has no inodes: a file is its directory entry. fatBuild() makes (or finds, by i_pos) the
 * in-memory inode for an entry; fatWriteInode() writes attributes, first cluster, size and
 * times back into that entry. Inode numbers are handed out as Linux's iunique() does (the root
 * is 1); they are stable while the inode is cached, which here is for the life of the mount.
 *
 * Mode bits are not stored: they come from uid=/gid=/umask=/fmask=/dmask=, minus the write
 * bits when ATTR_RO is set. chmod may only move the write bits (ATTR_RO); other changes are
 * silently ignored, as fat_setattr does, and bits outside rwx give EPERM (0 with `quiet`);
 * chown to anything but the mount's uid/gid is EPERM. FAT has no holes, so writing or
 * truncating past the end fills with zeroed clusters.
 *
 * Names are case-insensitive (ASCII) and trailing dots do not count. The VFS dcache is keyed
 * by exact names, so after a change this file drops other-case dentries of the name (what
 * vfat_revalidate does for Linux).
 */
import { fail, isPromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { EPERM, EINVAL, ENOSPC, EROFS, ENOTEMPTY, EEXIST, EOPNOTSUPP } from '../../uapi/errno.js';
import { S_IFDIR, S_IFREG, S_IFMT, type Timespec } from '../../uapi/stat.js';
import { RENAME_NOREPLACE, RENAME_EXCHANGE, FALLOC_FL_KEEP_SIZE } from '../../uapi/fcntl.js';
import type { InodeOperations, FileOperations, File, DirContext, Iattr, InodeInit, Inode } from '../vfs/index.js';
import {
  FatInode, type FatSb, ATTR_DIR, ATTR_RO, ATTR_ARCH, ATTR_HIDDEN, ATTR_SYS, ATTR_VOLUME, MSDOS_ROOT_INO,
  le16, put16, put32, FAT_ENT_EOF,
} from './fat.js';
import {
  readDirImage, fatScan, fatAddEntries, fatRemoveEntries, buildSlots, buildShort, writeDirBytes,
  DIR_ENTRY_SIZE, type FatDirent, type DirImage, dirCache, patchDirCache, isDotEntry, type DirCache,
} from './dir.js';
import { toLongName, createShortname, foldName, stripTail, msdosFormatName } from './names.js';

const S_IRWXUGO = 0o777, S_IWUGO = 0o222, S_IRUGO = 0o444, S_IXUGO = 0o111;
const ATTR_UNUSED = ATTR_VOLUME | ATTR_ARCH | ATTR_SYS | ATTR_HIDDEN;

/** fat_make_mode */
export function fatMakeMode(sb: FatSb, attr: number, mode: number): number {
  if ((attr & ATTR_RO) && !((attr & ATTR_DIR) && !sb.opts.rodir)) mode &= ~S_IWUGO;
  if (attr & ATTR_DIR) return (mode & ~sb.opts.dmask) | S_IFDIR;
  return (mode & ~sb.opts.fmask) | S_IFREG;
}

function isExec(n11: Uint8Array): boolean {
  const ext = String.fromCharCode(n11[8]!, n11[9]!, n11[10]!);
  return ext === 'EXE' || ext === 'COM' || ext === 'BAT';
}

/** i_blocks: every allocated cluster, preallocated ones past the size (fallocate) included. */
function setBlocks(sb: FatSb, inode: FatInode): void {
  const n = Math.max(Math.ceil(inode.size / sb.clusterSize), inode.clusters?.length ?? 0);
  inode.blocks = n * sb.clusterSize / 512;
}

/** Count subdirectory entries (fat_subdirs), "." and ".." included. */
function countSubdirs(ents: FatDirent[]): number {
  let n = 0;
  for (const e of ents) if (e.attr & ATTR_DIR) n++;
  return n;
}

/** fat_build_inode: the inode of entry `de` of `dir`. */
export async function fatBuild(dir: FatInode, de: FatDirent): Promise<FatInode> {
  const sb = dir.sb;
  const cached = sb.icache.get(de.ipos) as FatInode | undefined;
  if (cached) return cached;
  const isDir = (de.attr & ATTR_DIR) !== 0;
  // The number readdir already reported for this entry, if any, so d_ino matches st_ino.
  const ino = sb.inoByIpos.get(de.ipos) ?? sb.nextIno++;
  sb.inoByIpos.delete(de.ipos);
  const inode = new FatInode(sb, ino, 0, isDir ? dirIops : fileIops, isDir ? dirFops : fileFops);
  inode.ipos = de.ipos;
  inode.start = de.start;
  inode.attrs = de.attr & ATTR_UNUSED;
  inode.uid = sb.opts.uid; inode.gid = sb.opts.gid;
  const raw = de.raw;
  inode.mtime = sb.fat2unix(le16(raw, 22), le16(raw, 24), 0);
  inode.ctime = inode.mtime;
  if (sb.opts.isvfat) {
    inode.crtime = sb.fat2unix(le16(raw, 14), le16(raw, 16), raw[13]!);
    inode.atime = sb.fat2unix(0, le16(raw, 18), 0);
  } else { inode.crtime = inode.mtime; inode.atime = inode.mtime; }
  inode.btime = inode.crtime;
  if (isDir) {
    inode.mode = fatMakeMode(sb, de.attr, S_IRWXUGO);
    inode.size = inode.getClusters().length * sb.clusterSize;
    inode.nlink = countSubdirs((await dirCache(inode)).ents);
    if (inode.nlink < 2) inode.nlink = 2;
  } else {
    const base = sb.opts.showexec && !isExec(de.n11) ? S_IRUGO | S_IWUGO : S_IRWXUGO;
    inode.mode = fatMakeMode(sb, de.attr, base);
    inode.size = de.size;
    inode.nlink = 1;
  }
  setBlocks(sb, inode);
  sb.icache.set(de.ipos, inode);
  return inode;
}

/** The root directory (fat_read_root): times are zero, as Linux shows them. */
export async function fatReadRoot(sb: FatSb): Promise<FatInode> {
  const root = new FatInode(sb, MSDOS_ROOT_INO, 0, dirIops, dirFops);
  root.uid = sb.opts.uid; root.gid = sb.opts.gid;
  root.mode = fatMakeMode(sb, ATTR_DIR, S_IRWXUGO);
  const zero: Timespec = { sec: 0, nsec: 0 };
  root.setAtimeRaw(zero); root.mtime = { ...zero }; root.ctime = { ...zero }; root.btime = { ...zero };
  if (sb.isFat32) {
    root.start = sb.rootCluster;
    root.size = root.getClusters().length * sb.clusterSize;
  } else {
    root.isRootFixed = true;
    root.size = sb.dirEntries * DIR_ENTRY_SIZE;
  }
  setBlocks(sb, root);
  root.nlink = countSubdirs((await dirCache(root)).ents) + 2;
  return root;
}

/** fat_write_inode: attributes, start, size and times into the short entry. */
export async function fatWriteInode(inode: FatInode): Promise<void> {
  const sb = inode.sb;
  if (!inode.ipos) return;
  const eps = sb.secSize / DIR_ENTRY_SIZE;
  const sector = Math.floor(inode.ipos / eps), off = (inode.ipos % eps) * DIR_ENTRY_SIZE;
  const e = (await sb.bdev.bread(sector, sb.secSize)).slice(off, off + DIR_ENTRY_SIZE);
  let attr = inode.attrs | (inode.isDir ? ATTR_DIR : 0);
  if (!(inode.mode & S_IWUGO) && !(inode.isDir && !sb.opts.rodir)) attr |= ATTR_RO;
  e[11] = attr;
  put16(e, 20, inode.start >>> 16); put16(e, 26, inode.start & 0xffff);
  put32(e, 28, inode.isDir ? 0 : inode.size);
  const m = sb.unix2fat(inode.mtime);
  put16(e, 22, m.time); put16(e, 24, m.date);
  if (sb.opts.isvfat) {
    put16(e, 18, sb.unix2fat(inode.atime).date);
    const c = sb.unix2fat(inode.crtime);
    put16(e, 14, c.time); put16(e, 16, c.date); e[13] = c.cs;
  }
  await sb.writeInSector(sector, off, e);
  patchDirCache(sb, sector, off, e);
}

function checkWritable(sb: FatSb): void { if (sb.readOnly) fail(EROFS); }

/* ---------------- regular files ---------------- */

function mapPos(inode: FatInode, pos: number): number {
  const sb = inode.sb;
  const idx = Math.floor(pos / sb.clusterSize);
  const c = inode.clusterAt(idx);
  if (c === FAT_ENT_EOF) throw sb.fsError(`fat_get_cluster: request beyond EOF (i_pos ${inode.ipos})`);
  return sb.clusterSector(c) + Math.floor((pos % sb.clusterSize) / sb.secSize);
}

/** Largest run handed to the block layer in one streaming read. */
const STREAM_MAX_BYTES = 1 << 20;

/**
 * Whole sectors of file data at `p` (sector-aligned) that lie in physically consecutive
 * clusters: the first sector and the byte count, at most `max`.
 */
function contiguousRun(inode: FatInode, p: number, max: number): { sector: number; bytes: number } {
  const sb = inode.sb, cs = sb.clusterSize;
  let idx = Math.floor(p / cs);
  let c = inode.clusterAt(idx);
  if (c === FAT_ENT_EOF) throw sb.fsError(`fat_get_cluster: request beyond EOF (i_pos ${inode.ipos})`);
  const sector = sb.clusterSector(c) + Math.floor((p % cs) / sb.secSize);
  let bytes = cs - (p % cs);
  // Peek at the FAT first, so a damaged link ends the run here quietly and is reported when
  // the read reaches it.
  while (bytes < max && c + 1 < sb.maxCluster && sb.entryGet(c) === c + 1) {
    if (inode.clusterAt(++idx) !== c + 1) break;
    c++;
    bytes += cs;
  }
  return { sector, bytes: Math.min(bytes, max) };
}

/*
 * Reads go sector by sector through the buffer cache where a sector is only partly wanted;
 * whole sectors in consecutive clusters are streamed straight into the caller's buffer
 * (BlockDevice.readStream), which is what makes archiving a volume fast: FAT files are
 * mostly contiguous.
 */
async function fileRead(file: File, buf: Uint8Array, pos: number): Promise<number> {
  const inode = file.inode as FatInode;
  const sb = inode.sb;
  if (pos >= inode.size) return 0;
  const n = Math.min(buf.length, inode.size - pos);
  const ss = sb.secSize;
  let done = 0;
  while (done < n) {
    const p = pos + done;
    const o = p % ss;
    try {
      if (o === 0 && n - done >= ss) {
        const run = contiguousRun(inode, p, Math.min(n - done, STREAM_MAX_BYTES));
        const bytes = run.bytes - (run.bytes % ss);
        const r = sb.bdev.readStream(run.sector, ss, buf.subarray(done, done + bytes));
        if (isPromise(r)) await r;
        done += bytes;
        continue;
      }
      const data = await sb.bdev.bread(mapPos(inode, p), ss);
      const len = Math.min(ss - o, n - done);
      buf.set(data.subarray(o, o + len), done);
      done += len;
    } catch (e) {
      // What was read before the damage is returned (a short read), as the page cache does.
      if (done > 0) return done;
      throw e;
    }
  }
  return n;
}

/** Make the chain at least `bytes` long; returns how many bytes are now backed. */
function growChain(inode: FatInode, bytes: number): number {
  const sb = inode.sb;
  const chain = inode.getClusters();
  const need = Math.ceil(bytes / sb.clusterSize) - chain.length;
  if (need <= 0) return bytes;
  if (sb.freeClusters === -1) sb.countFree();
  const take = Math.min(need, sb.freeClusters);
  if (take <= 0) return chain.length * sb.clusterSize;
  const got = sb.allocClusters(take)!;
  if (chain.length) sb.entrySet(chain[chain.length - 1]!, got[0]!);
  else inode.start = got[0]!;
  chain.push(...got);
  return chain.length * sb.clusterSize;
}

/** Write zeros over [from, to) of the file's clusters (which must exist). */
async function zeroRange(inode: FatInode, from: number, to: number): Promise<void> {
  const sb = inode.sb;
  let p = from;
  while (p < to) {
    const sec = mapPos(inode, p);
    const o = p % sb.secSize;
    const len = Math.min(sb.secSize - o, to - p);
    await sb.writeInSector(sec, o, new Uint8Array(len));
    p += len;
  }
}

async function fileWrite(file: File, buf: Uint8Array, pos: number): Promise<number> {
  const inode = file.inode as FatInode;
  const sb = inode.sb;
  checkWritable(sb);
  if (buf.length === 0) return 0;
  const end = pos + buf.length;
  if (end > 0xffffffff) fail(27 /* EFBIG */);
  const backed = growChain(inode, end);
  let n = Math.min(buf.length, Math.max(0, backed - pos));
  if (n === 0) { await sb.fatFlush(); fail(ENOSPC); }
  // FAT has no holes: the gap between the old end and the write is zero-filled.
  if (pos > inode.size) await zeroRange(inode, inode.size, pos);
  let done = 0;
  while (done < n) {
    const p = pos + done;
    const sec = mapPos(inode, p);
    const o = p % sb.secSize;
    const len = Math.min(sb.secSize - o, n - done);
    await sb.writeInSector(sec, o, buf.subarray(done, done + len));
    done += len;
  }
  n = done;
  if (pos + n > inode.size) inode.size = pos + n;
  setBlocks(sb, inode);
  inode.touch(true);
  inode.attrs |= ATTR_ARCH;
  await sb.fatFlush();
  await fatWriteInode(inode);
  return n;
}

/** Cut or extend the file to `size` (fat_truncate_blocks / fat_cont_expand). */
async function fatTruncate(inode: FatInode, size: number): Promise<void> {
  const sb = inode.sb;
  if (size > inode.size) {
    const backed = growChain(inode, size);
    if (backed < size) {
      // Give the clusters back: an expansion that cannot complete changes nothing.
      const keep = Math.ceil(inode.size / sb.clusterSize);
      const chain = inode.getClusters();
      const extra = chain.splice(keep);
      sb.freeList(extra);
      if (keep) sb.entrySet(chain[keep - 1]!, FAT_ENT_EOF); else inode.start = 0;
      await sb.fatFlush();
      fail(ENOSPC);
    }
    await zeroRange(inode, inode.size, size);
  } else {
    const keep = Math.ceil(size / sb.clusterSize);
    const chain = inode.getClusters();
    if (chain.length > keep) {
      const extra = chain.splice(keep);
      sb.freeList(extra);
      if (keep) sb.entrySet(chain[keep - 1]!, FAT_ENT_EOF); else inode.start = 0;
    }
  }
  inode.size = size;
  setBlocks(sb, inode);
  await sb.fatFlush();
}

async function fatFsync(file: File): Promise<void> {
  const sb = (file.inode as FatInode).sb;
  await sb.fatFlush();
  await sb.bdev.sync();
}

/*
 * fallocate (fat_fallocate). FAT has no holes and no unwritten extents, so it offers only two
 * modes. Mode 0 is an expanding truncate: the file grows to offset+len, zero-filled, and stays
 * as it is when already that long. FALLOC_FL_KEEP_SIZE appends clusters to the chain without
 * touching the size or zeroing them, enough to cover offset+len counted from the clusters
 * already allocated; a later write or truncate uses them. Those clusters past the size are
 * given back when the inode leaves memory (fatFreeEofBlocks at unmount, all of them at the
 * final unlink), as Linux does at eviction, so fsck.fat never sees a chain longer than the
 * size. Everything else (punch hole, zero range, collapse, insert) is EOPNOTSUPP.
 */
async function fatFallocate(file: File, mode: number, offset: number, len: number): Promise<void> {
  if (mode & ~FALLOC_FL_KEEP_SIZE) fail(EOPNOTSUPP);
  const inode = file.inode as FatInode;
  if (!inode.isReg) fail(EOPNOTSUPP);
  const sb = inode.sb;
  checkWritable(sb);
  const end = offset + len;
  if (mode & FALLOC_FL_KEEP_SIZE) {
    const chain = inode.getClusters();
    const onDisk = chain.length * sb.clusterSize;
    if (end <= onDisk) return;
    const want = onDisk + Math.ceil((end - onDisk) / sb.clusterSize) * sb.clusterSize;
    const backed = growChain(inode, want);
    // Clusters added before running out stay allocated, as fat_add_cluster leaves them.
    setBlocks(sb, inode);
    await sb.fatFlush();
    await fatWriteInode(inode);
    if (backed < want) fail(ENOSPC);
    return;
  }
  if (end <= inode.size) return;
  await fatTruncate(inode, end);
  inode.touch(true);
  await fatWriteInode(inode);
}

/**
 * fat_free_eofblocks: give back clusters past the last one the size needs (left there by
 * fallocate KEEP_SIZE). Called for every cached inode when the filesystem is unmounted.
 */
export async function fatFreeEofBlocks(inode: FatInode): Promise<void> {
  const sb = inode.sb;
  if (inode.isDir || !inode.clusters || inode.nlink === 0 || sb.readOnly) return;
  const keep = Math.ceil(inode.size / sb.clusterSize);
  const chain = inode.clusters;
  if (chain.length <= keep) return;
  sb.freeList(chain.splice(keep));
  if (keep) sb.entrySet(chain[keep - 1]!, FAT_ENT_EOF); else inode.start = 0;
  setBlocks(sb, inode);
  await fatWriteInode(inode);
}

const fileFops: FileOperations = { read: fileRead, write: fileWrite, fsync: fatFsync, fallocate: fatFallocate };

/* ---------------- setattr (fat_setattr) ---------------- */

async function fatSetattr(inode: Inode, attr: Iattr): Promise<void> {
  const fi = inode as FatInode;
  const sb = fi.sb;
  checkWritable(sb);
  const quiet = sb.opts.quiet;
  const VALID = S_IFREG | S_IFDIR | S_IRWXUGO;
  if ((attr.uid !== undefined && attr.uid !== sb.opts.uid) || (attr.gid !== undefined && attr.gid !== sb.opts.gid) ||
    (attr.mode !== undefined && (attr.mode & ~VALID))) {
    if (quiet) return;
    fail(EPERM);
  }
  if (attr.size !== undefined && attr.size !== fi.size) {
    if (fi.isDir) fail(EPERM);
    await fatTruncate(fi, attr.size);
    fi.touch(true);
  } else if (attr.size !== undefined && fi.isReg && (fi.clusters?.length ?? 0) > Math.ceil(fi.size / sb.clusterSize)) {
    // A truncate to the current size still cuts the chain there (fat_truncate_blocks), which
    // drops clusters preallocated with FALLOC_FL_KEEP_SIZE.
    await fatTruncate(fi, fi.size);
  }
  if (attr.mode !== undefined) {
    const mode = sanitizeMode(fi, attr.mode);
    if (mode !== null) fi.mode = (fi.mode & S_IFMT) | mode;
  }
  // notify_change clamps given times to what the entry can hold (s_time_min/max) first.
  if (attr.atime) fi.atime = sb.clampTime(attr.atime);
  if (attr.mtime) {
    const m = sb.clampTime(attr.mtime);
    fi.mtime = { sec: m.sec - (m.sec & 1), nsec: 0 };
  }
  // FAT has no ctime: it follows mtime (Linux 6.x).
  if (attr.mtime || attr.size !== undefined) fi.ctime = { ...fi.mtime };
  if (fi.ipos) await fatWriteInode(fi);
}

/** fat_sanitize_mode: null when the change is not representable (then silently ignored). */
function sanitizeMode(inode: FatInode, mode: number): number | null {
  const sb = inode.sb;
  const mask = inode.isReg ? sb.opts.fmask : sb.opts.dmask;
  const perm = mode & ~(S_IFMT | mask) & 0o7777;
  if ((perm & (S_IRUGO | S_IXUGO)) !== (inode.mode & (S_IRUGO | S_IXUGO))) return null;
  const canHoldRo = inode.isDir ? sb.opts.rodir && (~sb.opts.dmask & S_IWUGO) !== 0 : (~sb.opts.fmask & S_IWUGO) !== 0;
  if (canHoldRo) { if ((perm & S_IWUGO) && (perm & S_IWUGO) !== (S_IWUGO & ~mask)) return null; }
  else if ((perm & S_IWUGO) !== (S_IWUGO & ~mask)) return null;
  return perm;
}

const fileIops: InodeOperations = { setattr: fatSetattr };

/* ---------------- directories ---------------- */

function findEntry(ents: FatDirent[], name: ByteString, latin1 = false, msdos = false): FatDirent | undefined {
  if (msdos) {
    // msdos compares the 8.3 form (msdos_find); a name with no 8.3 form matches nothing.
    let n11: Uint8Array;
    try { n11 = msdosFormatName(name); } catch { return undefined; }
    const key = String.fromCharCode(...n11);
    return ents.find((e) => !(e.n11[0] === 0x2e && (e.attr & ATTR_DIR)) && String.fromCharCode(...e.n11) === key);
  }
  const want = foldName(name, latin1);
  for (const e of ents) {
    if (e.n11[0] === 0x2e && (e.attr & ATTR_DIR)) continue; // "." and ".."
    if (foldName(e.name, latin1) === want || foldName(e.shortName, latin1) === want) return e;
  }
  return undefined;
}

function lookupIn(c: DirCache, sb: FatSb, name: ByteString): FatDirent | undefined {
  if (!sb.opts.isvfat) return findEntry(c.ents, name, false, true);
  return c.byFold.get(foldName(name, !sb.opts.utf8));
}

async function fatLookup(dir: Inode, name: ByteString): Promise<Inode | null> {
  const d = dir as FatInode;
  if (stripTail(name).length === 0) return null;
  const de = lookupIn(await dirCache(d), d.sb, name);
  return de ? fatBuild(d, de) : null;
}

/** Drop cached dentries of `dir` that name the same entry as `name` in another case. */
function dropAliases(dir: Inode, name: ByteString, keepInode: Inode | null): void {
  const dd = dir.alias;
  if (!dd) return;
  const l1 = !(dir as FatInode).sb.opts.utf8;
  const f = foldName(name, l1);
  for (const [k, c] of dd.children) {
    if (k === name || foldName(k, l1) !== f) continue;
    if (c.inode && c.inode === keepInode) continue;
    if (c.inode && c.inode.isDir && c.children.size) continue;
    dd.children.delete(k);
  }
}

/** vfat_add_entry: long-name slots + short entry for a new name. */
async function vfatAddEntry(dir: FatInode, name: ByteString, isDir: boolean, start: number, ts: Timespec,
  taken: Set<string>): Promise<{ ipos: number }> {
  const sb = dir.sb;
  if (!sb.opts.isvfat) {
    const n11 = msdosFormatName(name);
    const key = String.fromCharCode(...n11);
    if (taken.has(key)) fail(EEXIST);
    const t = sb.unix2fat(ts);
    return fatAddEntries(dir, [buildShort(n11, 0, isDir ? ATTR_DIR : ATTR_ARCH, start, 0, t, t.date, t)]);
  }
  const uname = toLongName(name, sb.opts);
  const entropy = Math.floor(sb.vfs.clock.monotonicNs() / 1e6);
  const { n11, lcase, shortOnly } = createShortname(uname, sb.opts, (n) => taken.has(String.fromCharCode(...n)), entropy);
  const t = sb.unix2fat(ts);
  const short = buildShort(n11, lcase, isDir ? ATTR_DIR : ATTR_ARCH, start, 0, t, t.date, t);
  const slots = shortOnly ? [short] : [...buildSlots(uname, n11), short];
  return fatAddEntries(dir, slots);
}

async function vfatCreate(dir: Inode, name: ByteString, init: InodeInit, isDir: boolean): Promise<FatInode> {
  const d = dir as FatInode;
  const sb = d.sb;
  checkWritable(sb);
  const c = await dirCache(d);
  if (lookupIn(c, sb, name)) fail(EEXIST);
  const ents = c.shorts;
  const now = sb.vfs.clock.realtime();
  let start = 0;
  if (isDir) {
    // fat_alloc_new_dir: one zeroed cluster holding "." and "..".
    const got = sb.allocClusters(1);
    if (!got) fail(ENOSPC);
    start = got[0]!;
    await sb.fatFlush();
    const t = sb.unix2fat(now);
    const blk = new Uint8Array(sb.clusterSize);
    const dot = new Uint8Array(11).fill(0x20); dot[0] = 0x2e;
    const dotdot = dot.slice(); dotdot[1] = 0x2e;
    blk.set(buildShort(dot, 0, ATTR_DIR, start, 0, t, t.date, t), 0);
    const parentStart = d.isRootFixed || d.ino === MSDOS_ROOT_INO ? 0 : d.start;
    blk.set(buildShort(dotdot, 0, ATTR_DIR, parentStart, 0, t, t.date, t), DIR_ENTRY_SIZE);
    const s0 = sb.clusterSector(start);
    for (let i = 0; i < sb.secPerClus; i++) await sb.bdev.bwrite(s0 + i, sb.secSize, blk.slice(i * sb.secSize, (i + 1) * sb.secSize));
  }
  let r: { ipos: number };
  try {
    r = await vfatAddEntry(d, name, isDir, start, now, ents);
  } catch (e) {
    if (start) { sb.freeList([start]); await sb.fatFlush(); }
    throw e;
  }
  const de = (await dirCache(d)).ents.find((e) => e.ipos === r.ipos)!;
  const inode = await fatBuild(d, de);
  if (isDir) d.nlink++;
  d.mtime = sb.currentTime(); d.ctime = { ...d.mtime };
  if (d.ipos) await fatWriteInode(d);
  dropAliases(d, name, null);
  void init;
  return inode;
}

async function removeName(dir: FatInode, name: ByteString, inode: FatInode): Promise<void> {
  const img = await readDirImage(dir);
  const de = fatScan(dir, img).find((e) => e.ipos === inode.ipos) ?? findEntry(fatScan(dir, img), name);
  if (!de) throw dir.sb.fsError(`vfat: entry for ${name} vanished (i_pos ${inode.ipos})`);
  await fatRemoveEntries(dir, img, de);
}

function detach(inode: FatInode): void {
  inode.sb.icache.delete(inode.ipos);
  inode.sb.inoByIpos.delete(inode.ipos);
  inode.ipos = 0;
}

async function vfatUnlink(dir: Inode, name: ByteString, inode: Inode): Promise<void> {
  const d = dir as FatInode, fi = inode as FatInode;
  checkWritable(d.sb);
  await removeName(d, name, fi);
  detach(fi);
  fi.nlink = 0;
  d.mtime = d.sb.currentTime(); d.ctime = { ...d.mtime };
  if (d.ipos) await fatWriteInode(d);
  dropAliases(d, name, null);
}

async function fatDirEmpty(inode: Inode): Promise<boolean> {
  const d = inode as FatInode;
  for (const e of (await dirCache(d)).ents) if (!isDotEntry(e)) return false;
  return true;
}

async function vfatRmdir(dir: Inode, name: ByteString, inode: Inode): Promise<void> {
  const d = dir as FatInode, fi = inode as FatInode;
  checkWritable(d.sb);
  if (!(await fatDirEmpty(fi))) fail(ENOTEMPTY);
  await removeName(d, name, fi);
  detach(fi);
  fi.nlink = 0;
  d.nlink--;
  d.mtime = d.sb.currentTime(); d.ctime = { ...d.mtime };
  if (d.ipos) await fatWriteInode(d);
  dropAliases(d, name, null);
}

/** Point a moved directory's ".." at its new parent. */
async function setDotdot(inode: FatInode, parent: FatInode): Promise<void> {
  const img: DirImage = await readDirImage(inode);
  const dd = fatScan(inode, img).find((e) => e.n11[0] === 0x2e && e.n11[1] === 0x2e);
  if (!dd) return;
  const raw = dd.raw.slice();
  const ps = parent.ino === MSDOS_ROOT_INO ? 0 : parent.start;
  put16(raw, 20, ps >>> 16); put16(raw, 26, ps & 0xffff);
  await writeDirBytes(inode, img, dd.off, raw);
}

async function vfatRename(oldDir: Inode, oldName: ByteString, inode: Inode, newDir: Inode, newName: ByteString,
  target: Inode | null, flags: number): Promise<void> {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail(EINVAL);
  const od = oldDir as FatInode, nd = newDir as FatInode, fi = inode as FatInode;
  const sb = od.sb;
  checkWritable(sb);
  if (flags & RENAME_EXCHANGE) {
    await vfatRenameExchange(od, oldName, fi, nd, newName, target as FatInode);
    return;
  }
  const oldImg = await readDirImage(od);
  const oldDe = fatScan(od, oldImg).find((e) => e.ipos === fi.ipos);
  if (!oldDe) throw sb.fsError(`vfat_rename: entry vanished (i_pos ${fi.ipos})`);
  let newIpos: number;
  if (target) {
    // The target's slot is reused: its name stays, our inode takes the entry (vfat_rename).
    const t = target as FatInode;
    if (t.isDir && !(await fatDirEmpty(t))) fail(ENOTEMPTY);
    newIpos = t.ipos;
    detach(t);
    t.nlink = 0;
    if (t.isDir) nd.nlink--;
  } else {
    const r = await vfatAddEntry(nd, newName, fi.isDir, fi.start, fi.crtime, (await dirCache(nd)).shorts);
    newIpos = r.ipos;
  }
  // Remove the old name (re-read: adding may have rewritten the same directory).
  const img2 = await readDirImage(od);
  const de2 = fatScan(od, img2).find((e) => e.ipos === fi.ipos) ?? oldDe;
  await fatRemoveEntries(od, img2, de2);
  sb.icache.delete(fi.ipos);
  fi.ipos = newIpos;
  sb.icache.set(newIpos, fi);
  fi.ctime = sb.currentTime();
  await fatWriteInode(fi);
  if (fi.isDir && od !== nd) {
    await setDotdot(fi, nd);
    od.nlink--;
    nd.nlink++;
  }
  const now = sb.currentTime();
  for (const d of od === nd ? [od] : [od, nd]) { d.mtime = now; d.ctime = { ...now }; if (d.ipos) await fatWriteInode(d); }
  dropAliases(od, oldName, null);
  dropAliases(nd, newName, null);
}

/*
 * RENAME_EXCHANGE (vfat_rename_exchange, Linux 6.0 and later). The names stay in their slots;
 * the two inodes trade directory entries (i_pos), and each entry is rewritten with the
 * attributes, first cluster, size and times of the inode that now owns it. A directory that
 * changes parent gets its ".." repointed, and when only one of the two is a directory the
 * parents' link counts move with it. Both parents' mtime and ctime are set; the inodes' own
 * times are left alone.
 */
async function vfatRenameExchange(od: FatInode, oldName: ByteString, a: FatInode, nd: FatInode, newName: ByteString,
  b: FatInode): Promise<void> {
  const sb = od.sb;
  const pa = a.ipos, pb = b.ipos;
  sb.icache.delete(pa); sb.icache.delete(pb);
  a.ipos = pb; b.ipos = pa;
  sb.icache.set(pb, a); sb.icache.set(pa, b);
  await fatWriteInode(a);
  await fatWriteInode(b);
  if (od !== nd) {
    if (a.isDir) await setDotdot(a, nd);
    if (b.isDir) await setDotdot(b, od);
    if (a.isDir && !b.isDir) { od.nlink--; nd.nlink++; }
    if (b.isDir && !a.isDir) { nd.nlink--; od.nlink++; }
  }
  const now = sb.currentTime();
  for (const d of od === nd ? [od] : [od, nd]) { d.mtime = now; d.ctime = { ...now }; if (d.ipos) await fatWriteInode(d); }
  dropAliases(od, oldName, null);
  dropAliases(nd, newName, null);
}

/** fat_readdir with its positions: byte offset of the next entry; the root fakes "." and "..". */
async function fatReaddir(file: File, ctx: DirContext): Promise<void> {
  const d = file.inode as FatInode;
  const sb = d.sb;
  const parentIno = file.path.dentry.parent.inode?.ino ?? d.ino;
  const isRoot = d.ino === MSDOS_ROOT_INO;
  if (isRoot) {
    if (ctx.pos === 0) { if (!ctx.emit('.', d.ino, 4)) return; ctx.pos = 1; }
    if (ctx.pos === 1) { if (!ctx.emit('..', parentIno, 4)) return; ctx.pos = 2; }
  }
  const from = isRoot && ctx.pos === 2 ? 0 : ctx.pos;
  const { img, ents } = await dirCache(d);
  for (const e of ents) {
    if (e.slotOff < from && e.off < from) continue;
    let ino: number;
    if (e.n11[0] === 0x2e && e.name === '.') ino = d.ino;
    else if (e.n11[0] === 0x2e && e.name === '..') ino = parentIno;
    else {
      ino = sb.icache.get(e.ipos)?.ino ?? sb.inoByIpos.get(e.ipos) ?? 0;
      if (!ino) { ino = sb.nextIno++; sb.inoByIpos.set(e.ipos, ino); }
    }
    if (!ctx.emit(e.name, ino, e.attr & ATTR_DIR ? 4 : 8)) return;
    ctx.pos = e.off + DIR_ENTRY_SIZE;
  }
  ctx.pos = Math.max(ctx.pos, img.buf.length + (isRoot && img.buf.length < 2 ? 2 : 0));
}

const dirFops: FileOperations = { iterate: fatReaddir, fsync: fatFsync };

const dirIops: InodeOperations = {
  lookup: fatLookup,
  create: (dir, name, init) => vfatCreate(dir, name, init, false),
  mkdir: (dir, name, init) => vfatCreate(dir, name, init, true),
  unlink: vfatUnlink,
  rmdir: vfatRmdir,
  rename: vfatRename,
  setattr: fatSetattr,
  isEmptyDir: fatDirEmpty,
};

/** The last reference to an unlinked inode went away: free its clusters (fat_evict_inode). */
export async function fatEvict(inode: Inode): Promise<void> {
  const fi = inode as FatInode;
  const sb = fi.sb;
  if (fi.nlink !== 0 || sb.readOnly) return;
  let chain: number[];
  try { chain = fi.getClusters(); } catch { return; }
  sb.freeList(chain);
  fi.dirCache = null;
  fi.clusters = [];
  fi.start = 0;
  await sb.fatFlush();
}

