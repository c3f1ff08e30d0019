/*
 * struct inode and its operations.
 *
 * An Inode is the in-memory object for one file; a filesystem subclasses it (TmpfsInode,
 * Ext4Inode) and supplies InodeOperations for namespace work and FileOperations for open files.
 * Operations may return a value or a promise: an in-memory or cached answer must not await.
 *
 * Contracts (errno in which case) are the caller's (src/fs/vfs/ops.ts) for everything generic:
 * the VFS has already checked permission, existence, type and read-only state before an
 * operation is called. A filesystem raises only what it alone knows: ENOSPC, EIO, EUCLEAN,
 * EMLINK, ENAMETOOLONG beyond its own limit, EFBIG, EOPNOTSUPP for unsupported xattr namespaces.
 */
import type { MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { RwSem } from '../../lib/mutex.js';
import type { Kstat, Timespec } from '../../uapi/stat.js';
import { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } from '../../uapi/stat.js';
import type { SuperBlock } from './super.js';
import type { FileOperations } from './file.js';
import type { Dentry } from './dentry.js';

/** Owner and mode a new inode gets, computed by the VFS (inode_init_owner + umask). */
export interface InodeInit { mode: number; uid: number; gid: number; rdev: number }

/** Attribute changes for setattr(); a present field is to be set (iattr.ia_valid). */
export interface Iattr {
  mode?: number; uid?: number; gid?: number; size?: number;
  atime?: Timespec; mtime?: Timespec; ctime?: Timespec;
}

export interface InodeOperations {
  /** Find `name` in directory `dir`; null if absent. Not called when the sb's dcache is authoritative. */
  lookup?(dir: Inode, name: ByteString): MaybePromise<Inode | null>;
  create?(dir: Inode, name: ByteString, init: InodeInit): MaybePromise<Inode>;
  mknod?(dir: Inode, name: ByteString, init: InodeInit): MaybePromise<Inode>;
  mkdir?(dir: Inode, name: ByteString, init: InodeInit): MaybePromise<Inode>;
  symlink?(dir: Inode, name: ByteString, target: ByteString, init: InodeInit): MaybePromise<Inode>;
  /** Add a new name for `inode` in `dir`; the fs bumps nlink and ctime. */
  link?(inode: Inode, dir: Inode, name: ByteString): MaybePromise<void>;
  /** Remove the name; the fs drops nlink (the inode lives on while files hold it). */
  unlink?(dir: Inode, name: ByteString, inode: Inode): MaybePromise<void>;
  /** Remove an empty directory (the VFS has checked emptiness where the dcache is authoritative). */
  rmdir?(dir: Inode, name: ByteString, inode: Inode): MaybePromise<void>;
  /**
   * Move oldDir/oldName to newDir/newName. `target` is the inode currently at the new name (to be
   * replaced, or swapped with RENAME_EXCHANGE). The VFS has done every generic check.
   */
  rename?(oldDir: Inode, oldName: ByteString, inode: Inode, newDir: Inode, newName: ByteString,
    target: Inode | null, flags: number): MaybePromise<void>;
  readlink?(inode: Inode): MaybePromise<ByteString>;
  /**
   * Magic links (/proc/self/fd/N, /proc/self/cwd) resolve to a place, not a string. When present,
   * path walk follows the returned object instead of reading the link text.
   */
  getLink?(inode: Inode): MaybePromise<unknown>;
  setattr?(inode: Inode, attr: Iattr): MaybePromise<void>;
  /** Refresh attributes before stat (network or generated filesystems). */
  getattr?(inode: Inode): MaybePromise<void>;
  /** Whether a directory is empty (for filesystems whose dcache is not authoritative). */
  isEmptyDir?(inode: Inode): MaybePromise<boolean>;
  getxattr?(inode: Inode, name: ByteString): MaybePromise<Uint8Array | null>;
  setxattr?(inode: Inode, name: ByteString, value: Uint8Array, flags: number): MaybePromise<void>;
  listxattr?(inode: Inode): MaybePromise<ByteString[]>;
  removexattr?(inode: Inode, name: ByteString): MaybePromise<void>;
  /** O_TMPFILE: an unnamed inode in `dir`'s filesystem with nlink 0. */
  tmpfile?(dir: Inode, init: InodeInit): MaybePromise<Inode>;
}

export class Inode {
  ino: number;
  mode: number;
  uid = 0;
  gid = 0;
  nlink = 1;
  size = 0;
  /** 512-byte blocks allocated. */
  blocks = 0;
  rdev = 0;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  btime: Timespec;
  generation = 0;
  /** S_APPEND / S_IMMUTABLE style inode flags (FS_*_FL). */
  flags = 0;
  readonly sb: SuperBlock;
  op: InodeOperations;
  fop: FileOperations;
  /** i_rwsem: serialises namespace changes in a directory and writes/truncates of a file. */
  readonly lock = new RwSem();
  /** Number of open files on this inode (i_count beyond the dentry's own reference). */
  openCount = 0;
  /** Pipe state of an opened FIFO, attached by the fifo open code. */
  pipe: unknown = undefined;
  /** POSIX/OFD/flock lock state, owned by src/fs/vfs/locks.ts. */
  flock: unknown = undefined;
  /** A dentry this inode is reachable through (for d_path of an inode-only reference). */
  alias: Dentry | null = null;
  /**
   * Dentries bound to this inode (i_count's dcache part). When the dcache lets go of the last one
   * and openCount is 0, SuperBlock.dropInode lets the filesystem forget the inode.
   */
  dentryRefs = 0;

  constructor(sb: SuperBlock, ino: number, mode: number, op: InodeOperations, fop: FileOperations) {
    this.sb = sb; this.ino = ino; this.mode = mode; this.op = op; this.fop = fop;
    const now = sb.currentTime();
    this.atime = now; this.mtime = now; this.ctime = now; this.btime = now;
  }

  get type(): number { return this.mode & S_IFMT; }
  get isDir(): boolean { return (this.mode & S_IFMT) === S_IFDIR; }
  get isReg(): boolean { return (this.mode & S_IFMT) === S_IFREG; }
  get isLnk(): boolean { return (this.mode & S_IFMT) === S_IFLNK; }

  /** Mark changed now: ctime (and mtime when `data`). */
  touch(data: boolean): void {
    const now = this.sb.currentTime();
    this.ctime = now;
    if (data) this.mtime = now;
  }

  /** generic_fillattr */
  stat(): Kstat {
    return {
      dev: this.sb.dev, ino: this.ino, mode: this.mode, nlink: this.nlink, uid: this.uid,
      gid: this.gid, rdev: this.rdev, size: this.size, blksize: this.sb.blocksize,
      blocks: this.blocks,
      // Copies: a caller may keep or modify the result without touching the inode.
      atime: { sec: this.atime.sec, nsec: this.atime.nsec },
      mtime: { sec: this.mtime.sec, nsec: this.mtime.nsec },
      ctime: { sec: this.ctime.sec, nsec: this.ctime.nsec },
      btime: { sec: this.btime.sec, nsec: this.btime.nsec },
    };
  }
}
