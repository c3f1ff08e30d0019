/*
 * struct dentry: a name in the directory tree, bound to an inode (positive) or to nothing
 * (negative: a cached "does not exist"). Dentries form the dcache; path walk answers a cached
 * path from here alone, without calling into the filesystem and without awaiting.
 *
 * In filesystems whose sb.dcacheAuthoritative is set (tmpfs, procfs' static part) the dentry tree
 * is the directory content itself; elsewhere it is a cache filled by InodeOperations.lookup.
 */
import type { ByteString } from '../../lib/bytestr.js';
import type { Inode } from './inode.js';
import type { Mount } from './mount.js';

export class Dentry {
  name: ByteString;
  parent: Dentry;
  inode: Inode | null;
  /** Cached children by name (positive and negative). */
  readonly children = new Map<ByteString, Dentry>();
  /** Mounts whose mountpoint is this dentry (any parent mount). */
  mounts: Mount[] | null = null;
  /** Stable position for readdir (tmpfs-style offset maps). */
  offset = 0;
  /** Set once unlinked or rmdir'ed: d_path shows " (deleted)". */
  deleted = false;

  constructor(name: ByteString, parent: Dentry | null, inode: Inode | null) {
    this.name = name;
    this.parent = parent ?? this;
    this.inode = inode;
    if (inode && !inode.alias) inode.alias = this;
  }

  get isRoot(): boolean { return this.parent === this; }
  get positive(): boolean { return this.inode !== null; }

  /** Is `this` equal to or below `other` in the dentry tree? */
  isSubdirOf(other: Dentry): boolean {
    for (let d: Dentry = this; ; d = d.parent) {
      if (d === other) return true;
      if (d.isRoot) return false;
    }
  }
}
