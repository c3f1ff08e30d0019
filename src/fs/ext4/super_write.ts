/*
 * Read-write mounts (fs/ext4/super.c: ext4_setup_super, ext4_commit_super, ext4_sync_fs,
 * ext4_put_super, the journal setup of ext4_load_journal for writing).
 *
 * super.ts mounts everything as the read-only driver did; when the caller asked for a writable
 * mount, ext4SetupWrite() decides whether this writer can keep the filesystem consistent. What it
 * cannot yet change correctly (bigalloc, quota files, MMP, an orphan file (orphan_file),
 * a journal skipped with noload) makes the mount fall back to read-only
 * with a warning naming the reason, as the read-only driver always did, never a half-supported
 * writable mount. Unknown RO_COMPAT features were already refused by super.ts with EINVAL as
 * Linux does.
 *
 * A writable mount: opens the journal for writing (jbd2 replays and resets it; csum v3 and 64bit
 * block tags as the filesystem's features ask), hooks the checkpoint so the metadata overlay (see
 * jbd.ts) lets go of blocks once home, gives every inode the writing operations, and marks the
 * superblock in use as Linux's ext4_setup_super does: s_mnt_count + 1, s_mtime, needs_recovery
 * with a journal, EXT4_VALID_FS cleared without one. Unmount commits and checkpoints everything,
 * empties the journal, restores the state and clears needs_recovery, with the free block and
 * inode totals recomputed from the group descriptors (ext4_commit_super). An orphan list left by
 * a crash is finished right after setup (orphan.ts), as ext4_orphan_cleanup does.
 *
 * Data modes (jbd.ts has the mechanics): data=ordered, writeback and journal all mount
 * read-write. The mode is fixed for the life of the mount: a remount asking for another one fails
 * with EINVAL ("Cannot change data mode on remount"), as Linux. /proc/mounts shows data=<mode>
 * whenever the mode was asked for and differs from the superblock's default (an explicit
 * data=ordered shows too), and data=journal, which turns delayed allocation and
 * dioread_nolock off, shows "nodioread_nolock,nodelalloc" before errors= as Linux does.
 */
import { isPromise, fail } from '../../lib/errors.js';
import { Mutex } from '../../lib/mutex.js';
import { EROFS, EINVAL } from '../../uapi/errno.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { S_IFMT, S_IFREG, S_IFDIR } from '../../uapi/stat.js';
import type { FileOperations, InodeOperations, SuperBlock, SuperOperations, File } from '../vfs/index.js';
import { Jbd2Journal, jbd2Layout } from '../jbd2/index.js';
import {
  EXT4_FEATURE_INCOMPAT_MMP, EXT4_FEATURE_RO_COMPAT_QUOTA, EXT4_FEATURE_RO_COMPAT_ORPHAN_PRESENT,
  EXT4_FEATURE_INCOMPAT_RECOVER, EXT4_MIN_BLOCK_SIZE, EXT4_S_CHECKSUM_OFFSET, EXT4_DEFM_JMODE,
} from './layout/index.js';
import { ext4Msg, KERN_WARNING, KERN_ERR, type Ext4Sb, type Ext4Inode } from './ext4.js';
import { journalDevice, superblockCsum } from './super.js';
import {
  setWriteState, writeState, isWritable, homeWritten, withHandle, overlayUncharge, ext4DataMode, defaultDataMode,
  ext4NoDelalloc, type Ext4WriteState,
} from './jbd.js';
import { orphanCleanupAtMount, orphanDel } from './orphan.js';
import { gdFreeBlocks, gdFreeInodes } from './balloc.js';
import { ext4FileWrite, ext4Setattr, ext4EvictInode, ext4ForceCommit, ext4Truncate, ext4DirtyInode, ext4WriteDirtyInodes } from './inode_write.js';
import { ext4Setxattr, ext4Removexattr } from './xattr_write.js';
import { ext4Fallocate } from './fallocate.js';
import { ext4Create, ext4Mkdir, ext4Unlink, ext4Rmdir, ext4Link, ext4EmptyDir, ext4Mknod, ext4Symlink, ext4Rename, ext4Tmpfile } from './namei_write.js';

const EXT4_VALID_FS = 1;

async function aw<T>(v: T | Promise<T>): Promise<T> { return isPromise(v) ? await v : v; }

/* ---- operations ---- */

const opCache = new WeakMap<object, InodeOperations>();
const fopCache = new WeakMap<object, FileOperations>();

function fsyncFile(file: File): Promise<void> { return ext4ForceCommit((file.inode as Ext4Inode).sbi); }

/** Give `inode` the operations of a writable mount (built once per read-only operations table). */
export function attachRwOps(inode: Ext4Inode): void {
  const type = inode.mode & S_IFMT;
  const op = inode.op, fop = inode.fop;
  let nop = opCache.get(op);
  if (!nop) {
    nop = type === S_IFDIR
      ? { ...op, create: ext4Create, mkdir: ext4Mkdir, unlink: ext4Unlink, rmdir: ext4Rmdir, link: ext4Link, setattr: ext4Setattr,
        isEmptyDir: ext4EmptyDir, mknod: ext4Mknod, symlink: ext4Symlink, rename: ext4Rename, tmpfile: ext4Tmpfile,
        setxattr: ext4Setxattr, removexattr: ext4Removexattr }
      : { ...op, setattr: ext4Setattr, setxattr: ext4Setxattr, removexattr: ext4Removexattr };
    opCache.set(op, nop);
    opCache.set(nop, nop);
  }
  let nfop = fopCache.get(fop);
  if (!nfop) {
    nfop = type === S_IFREG ? { ...fop, write: ext4FileWrite, fsync: fsyncFile, fallocate: ext4Fallocate }
      : type === S_IFDIR ? { ...fop, fsync: fsyncFile } : fop;
    fopCache.set(fop, nfop);
    fopCache.set(nfop, nfop);
  }
  inode.op = nop;
  inode.fop = nfop;
}

/* ---- superblock ---- */

function sbView(sbi: Ext4Sb): DataView { return new DataView(sbi.sbBytes.buffer, sbi.sbBytes.byteOffset, 1024); }

/** ext4_commit_super: totals from the descriptors, the checksum, and the write (not journalled). */
export async function commitSuperRw(sbi: Ext4Sb): Promise<void> {
  const v = sbView(sbi);
  let freeBlocks = 0, freeInodes = 0;
  for (let g = 0; g < sbi.groupsCount; g++) { freeBlocks += gdFreeBlocks(sbi, g); freeInodes += gdFreeInodes(sbi, g); }
  freeBlocks *= 2 ** sbi.clusterBits;
  v.setUint32(0x0c, freeBlocks % 2 ** 32, true);
  if (sbi.has64bit) v.setUint32(0x158, Math.floor(freeBlocks / 2 ** 32), true);
  v.setUint32(0x10, freeInodes, true);
  const now = sbi.vfs.clock.realtime().sec;
  v.setUint32(0x30, now % 2 ** 32, true); // s_wtime
  if (sbi.hasMetadataCsum) v.setUint32(EXT4_S_CHECKSUM_OFFSET, superblockCsum(sbi.sbBytes), true);
  const off = sbi.opts.sbBlock * EXT4_MIN_BLOCK_SIZE;
  const bs = sbi.blockSize;
  const nr = Math.floor(off / bs);
  const blk = (await aw(sbi.bdev.bread(nr, bs))).slice();
  blk.set(sbi.sbBytes.subarray(0, 1024), off % bs);
  await aw(sbi.bdev.bwrite(nr, bs, blk));
  // The journal may hold the superblock's block too (the orphan list head): keep its copy current
  // so a later checkpoint does not take an older superblock home.
  sbi.metaOverlay.get(nr)?.set(sbi.sbBytes.subarray(0, 1024), off % bs);
  writeState(sbi).sbDirty = false;
}

async function syncFs(sb: SuperBlock): Promise<void> {
  const sbi = sb as Ext4Sb;
  if (!isWritable(sbi)) return;
  await ext4ForceCommit(sbi);
  await commitSuperRw(sbi);
  await sbi.bdev.sync();
}

/** Finish writing: journal emptied, overlay home, superblock clean. */
async function shutdownWrite(sbi: Ext4Sb, mountState: number): Promise<void> {
  await ext4WriteDirtyInodes(sbi);
  const ws = writeState(sbi);
  if (ws.journal) await ws.journal.destroy();
  // Anything the checkpoint did not take home (it should have taken all of it).
  for (const [nr, b] of sbi.metaOverlay) await aw(sbi.bdev.bwrite(nr, sbi.blockSize, b.slice()));
  sbi.metaOverlay.clear();
  overlayUncharge(sbi);
  const v = sbView(sbi);
  v.setUint32(0x60, v.getUint32(0x60, true) & ~EXT4_FEATURE_INCOMPAT_RECOVER, true);
  v.setUint16(0x3a, mountState, true);
  await commitSuperRw(sbi);
  await sbi.bdev.sync();
  setWriteState(sbi, null);
}

/** Why this writer must not change the filesystem ('' when it may). */
function unsupportedForWrite(sbi: Ext4Sb): string {
  const r: string[] = [];
  if (sbi.hasBigalloc) r.push('bigalloc');
  if (sbi.hasIncompat(EXT4_FEATURE_INCOMPAT_MMP)) r.push('mmp');
  if (sbi.hasRoCompat(EXT4_FEATURE_RO_COMPAT_QUOTA)) r.push('quota');
  if (sbi.hasRoCompat(EXT4_FEATURE_RO_COMPAT_ORPHAN_PRESENT)) r.push('orphan file processing');
  if (sbi.hasJournal && (sbi.opts.noload || !sbi.journalLoaded)) r.push('noload');
  return r.join(', ');
}

/**
 * Called by ext4FillSuper for a mount that may write, after the journal was replayed and before
 * the root inode is read. Returns false (the mount stays read-only) when writing is unsupported.
 */
export async function ext4SetupWrite(sbi: Ext4Sb): Promise<boolean> {
  ext4DataModeMount(sbi);
  const why = unsupportedForWrite(sbi);
  if (why) {
    ext4Msg(sbi, KERN_WARNING, `write support for ${why} is not implemented; mounting read-only`);
    return false;
  }
  const ws: Ext4WriteState = {
    journal: null, pendingFree: new Map(), nextGeneration: (sbi.vfs.clock.realtime().nsec ^ 0x5bd1e995) >>> 0,
    sbDirty: false, noJournalLock: new Mutex(), dataMode: ext4DataMode(sbi), overlayPages: 0,
  };
  if (sbi.hasJournal) {
    const jinode = await sbi.iget(sbi.es.s_journal_inum, true);
    const base = journalDevice(sbi, jinode);
    const dev = {
      ...base,
      async writeFsBlock(nr: number, data: Uint8Array) { await base.writeFsBlock(nr, data); homeWritten(sbi, nr, data); },
    };
    const commitMs = commitInterval(sbi);
    const j = await Jbd2Journal.open(dev, {
      clock: sbi.vfs.clock, commitIntervalMs: commitMs, mem: sbi.vfs.mem,
      log: (level, text) => sbi.vfs.printk(level, text),
    });
    const L = jbd2Layout;
    let incompat = 0;
    if (sbi.hasMetadataCsum) incompat |= L.JBD2_FEATURE_INCOMPAT_CSUM_V3;
    if (sbi.has64bit) incompat |= L.JBD2_FEATURE_INCOMPAT_64BIT;
    if (incompat) j.setFeatures(0, 0, incompat);
    ws.journal = j;
  }
  setWriteState(sbi, ws);
  // s_time_gran: nanoseconds need the _extra words of large inodes.
  if (sbi.inodeSize <= 128) sbi.timeGranularityNs = 1e9;
  sbi.maxLinks = 65000; // EXT4_LINK_MAX
  const orig = sbi.igetFn!;
  sbi.igetFn = (s, ino, special) => {
    const attach = (i: Ext4Inode): Ext4Inode => { if (isWritable(s)) attachRwOps(i); return i; };
    const r = orig(s, ino, special);
    return isPromise(r) ? r.then(attach) : attach(r);
  };
  const mountState = sbView(sbi).getUint16(0x3a, true);
  const ro = sbi.op;
  const op: SuperOperations = {
    ...ro,
    syncFs: (sb) => syncFs(sb),
    evictInode: (inode) => (isWritable(sbi) ? ext4EvictInode(inode) : undefined),
    dirtyInode: (inode) => { if (isWritable(sbi)) ext4DirtyInode(inode as Ext4Inode); },
    async putSuper(sb) {
      if (isWritable(sbi)) await shutdownWrite(sbi, mountState);
      if (ro.putSuper) await ro.putSuper(sb);
    },
    async remount(sb, flags, data) {
      // Checked before anything changes, as ext4's option parsing does.
      const want = /(?:^|,)data=([^,]*)/.exec(data ?? '')?.[1];
      if (want !== undefined && sbi.hasJournal && want !== ext4DataMode(sbi)) {
        sbi.vfs.printk(KERN_ERR, 'EXT4-fs: Cannot change data mode on remount');
        fail(EINVAL);
      }
      if (flags & MS_RDONLY) {
        if (isWritable(sbi)) await shutdownWrite(sbi, mountState);
        return;
      }
      if (!isWritable(sbi)) {
        ext4Msg(sb, KERN_WARNING, 'read-write remount of a read-only mount is not supported by this driver');
        fail(EROFS);
      }
      void data;
    },
  };
  sbi.op = op;
  // ext4_setup_super
  const v = sbView(sbi);
  if (!sbi.hasJournal) v.setUint16(0x3a, mountState & ~EXT4_VALID_FS, true);
  if (v.getInt16(0x36, true) === 0) v.setInt16(0x36, 20, true); // EXT4_DFL_MAX_MNT_COUNT
  v.setUint16(0x34, (v.getUint16(0x34, true) + 1) & 0xffff, true);
  v.setUint32(0x2c, sbi.vfs.clock.realtime().sec % 2 ** 32, true); // s_mtime
  if (sbi.hasJournal) v.setUint32(0x60, v.getUint32(0x60, true) | EXT4_FEATURE_INCOMPAT_RECOVER, true);
  await commitSuperRw(sbi);
  await sbi.bdev.sync();
  // ext4_orphan_cleanup: what a crash left on the orphan list is finished now.
  await orphanCleanupAtMount(sbi, ext4EvictInode, async (i) => {
    await ext4Truncate(i, i.size, true);
    await withHandle(sbi, 8, (h) => orphanDel(h, i));
  });
  sbi.flags &= ~MS_RDONLY;
  return true;
}

/**
 * The data mode at mount, for every mount (super.ts should call this for read-only mounts too,
 * once the journal is loaded; ext4SetupWrite does for writable ones):
 *   - without a journal any data= that is not the superblock's default is refused, as Linux:
 *     "can't mount with data=, fs mounted w/o journal" (EINVAL), read-only mounts included;
 *   - the /proc/mounts options get _ext4_show_options' data-mode part (see the essay above).
 * Idempotent.
 */
export function ext4DataModeMount(sbi: Ext4Sb): void {
  const asked = sbi.opts.dataMode;
  if (!sbi.hasJournal && asked && ((sbi.es.s_default_mount_opts & EXT4_DEFM_JMODE) === 0 || asked !== defaultDataMode(sbi))) {
    ext4Msg(sbi, KERN_ERR, "can't mount with data=, fs mounted w/o journal");
    fail(EINVAL);
  }
  showDataMode(sbi);
}

/** The data-mode part of _ext4_show_options (what /proc/mounts lists after the other options). */
function showDataMode(sbi: Ext4Sb): void {
  const mode = ext4DataMode(sbi);
  if (!mode) return;
  const shown = sbi.opts.shown.filter((o) => !o.startsWith('data=') && o !== 'nodioread_nolock' && o !== 'nodelalloc');
  const extra: string[] = [];
  if (mode === 'journal') extra.push('nodioread_nolock');
  if (ext4NoDelalloc(sbi)) extra.push('nodelalloc');
  let at = shown.findIndex((o) => o.startsWith('errors=') || o === 'norecovery');
  if (at < 0) at = shown.length;
  shown.splice(at, 0, ...extra);
  // Shown when asked for and not the superblock's default (Linux's s_def_mount_opt); with no
  // default in the superblock, any explicit mode counts, data=ordered included.
  const asked = sbi.opts.dataMode;
  const sbHasDefault = (sbi.es.s_default_mount_opts & EXT4_DEFM_JMODE) !== 0;
  if (asked && (!sbHasDefault || asked !== defaultDataMode(sbi))) shown.push(`data=${asked}`);
  sbi.opts.shown = shown;
}

function commitInterval(sbi: Ext4Sb): number {
  const m = /(?:^|,)commit=(\d+)/.exec(sbi.opts.shown.join(','));
  const s = m ? Number(m[1]) : 5;
  return (s || 5) * 1000;
}

export { S_IFREG };
