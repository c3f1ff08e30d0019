/*
 * Superblocks and filesystem types.
 *
 * A FileSystemType is registered with a kernel's Vfs by name ("tmpfs", "proc", "ext4"); mount(2)
 * calls its mount() with the source, flags and option string and gets a SuperBlock whose root
 * dentry becomes the new mount's root.
 */
import type { MaybePromise } from '../../lib/errors.js';
import type { Kstatfs, Timespec } from '../../uapi/stat.js';
import type { Dentry } from './dentry.js';
import type { Inode } from './inode.js';
import type { Vfs } from './vfs.js';
import { MS_RDONLY } from '../../uapi/mount.js';

export const FS_REQUIRES_DEV = 1, FS_BINARY_MOUNTDATA = 2, FS_USERNS_MOUNT = 8;

export interface MountRequest {
  vfs: Vfs;
  /** The source argument of mount(2) ("none", "/dev/vda1"). */
  source: string;
  /** MS_* flags. */
  flags: number;
  /** Filesystem-specific option string (mount(2) data), already stripped of VFS flags. */
  data: string;
  /** Block device backing the mount, for FS_REQUIRES_DEV types (opaque to the VFS). */
  bdev?: unknown;
}

export interface FileSystemType {
  readonly name: string;
  readonly fsFlags: number;
  mount(req: MountRequest): MaybePromise<SuperBlock>;
}

export interface SuperOperations {
  statfs(sb: SuperBlock): MaybePromise<Kstatfs>;
  /** Write back everything (sync(2), syncfs(2), umount). */
  syncFs?(sb: SuperBlock, wait: boolean): MaybePromise<void>;
  /** Last mount gone: flush and release. */
  putSuper?(sb: SuperBlock): MaybePromise<void>;
  /** mount -o remount: new flags and options; throw to refuse. */
  remount?(sb: SuperBlock, flags: number, data: string): MaybePromise<void>;
  /** Options for /proc/mounts after the generic ones ("size=8192k,nr_inodes=..."). */
  showOptions?(sb: SuperBlock): string;
  /** The last reference to an unlinked inode went away: free its storage. */
  evictInode?(inode: Inode): MaybePromise<void>;
  /**
   * mark_inode_dirty for a change made outside any filesystem operation (the atime a read
   * moved): the filesystem writes the inode at its next sync point.
   */
  dirtyInode?(inode: Inode): void;
}

export class SuperBlock {
  readonly vfs: Vfs;
  readonly type: FileSystemType;
  /** st_dev of every inode here (kernel-internal dev_t, see uapi MKDEV). */
  dev: number;
  blocksize = 4096;
  magic = 0;
  /** MS_RDONLY and other sb-wide flags. */
  flags: number;
  root!: Dentry;
  op: SuperOperations;
  /** The dentry tree holds the whole namespace: a dcache miss means ENOENT. */
  dcacheAuthoritative = false;
  /**
   * The filesystem checks a cached dentry on every hit (procfs' d_revalidate): a second dentry
   * for one directory cannot go stale, so its dcache may be reclaimed even on a writable mount.
   */
  dcacheRevalidates = false;
  maxLinks = 0xffffffff;
  maxFileSize = Number.MAX_SAFE_INTEGER;
  maxNameLen = 255;
  /** Timestamp granularity in ns (1 for ext4/tmpfs, 2e9 for FAT's mtime). */
  timeGranularityNs = 1;
  /** Name used in log messages (s_id, e.g. "vda1"). */
  id: string;
  /** Number of mounts using this superblock. */
  activeMounts = 0;
  /** Cross-directory renames are serialised per filesystem (s_vfs_rename_mutex). */
  renameLock: Promise<void> = Promise.resolve();

  constructor(vfs: Vfs, type: FileSystemType, flags: number, op: SuperOperations, id: string) {
    this.vfs = vfs; this.type = type; this.flags = flags; this.op = op; this.id = id;
    this.dev = vfs.allocAnonDev();
  }

  get readOnly(): boolean { return (this.flags & MS_RDONLY) !== 0; }

  /**
   * May the dcache drop unused dentries of this filesystem under memory pressure (and rebuild
   * them by lookup)? Never where the dentries are the namespace; elsewhere only where a dentry
   * still held out of the tree (a cwd) cannot go stale: read-only mounts, revalidating procfs.
   * See src/fs/vfs/dentry.ts.
   */
  get dcacheReclaimable(): boolean {
    return !this.dcacheAuthoritative && (this.readOnly || this.dcacheRevalidates);
  }

  /**
   * The dcache dropped the last dentry of `inode` and no file has it open (iput_final of a linked
   * inode): forget it from any inode cache and free per-inode caches, so the object can go. The
   * inode must be readable again from its storage unchanged; a filesystem with state that lives
   * only in memory keeps it. Default: nothing kept, nothing to do.
   */
  dropInode(_inode: Inode): void { /* no inode cache */ }

  /** current_time() truncated to this filesystem's granularity. */
  currentTime(): Timespec {
    const t = this.vfs.clock.realtime();
    const g = this.timeGranularityNs;
    if (g === 1) return t;
    if (g >= 1e9) return { sec: t.sec - (t.sec % (g / 1e9)), nsec: 0 };
    return { sec: t.sec, nsec: t.nsec - (t.nsec % g) };
  }
}
