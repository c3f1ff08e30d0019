/*
 * struct dentry: a name in the directory tree, bound to an inode (positive) or to nothing
 * (negative: a cached "does not exist"). Dentries form the dcache; path walk answers a cached
 * path from here alone, without calling into the filesystem and without awaiting.
 *
 * In filesystems whose sb.dcacheAuthoritative is set (tmpfs, procfs' static part) the dentry tree
 * is the directory content itself; elsewhere it is a cache filled by InodeOperations.lookup.
 *
 * The cache is bounded (fs/dcache.c's LRU and prune_dcache_sb). Every dentry that lookup adds on a
 * superblock whose dcache may be rebuilt (SuperBlock.dcacheReclaimable) joins the Dcache below:
 * one list per kernel, oldest first, charged to `mem=` as slab and registered with the memory
 * budget as a shrinker, so the page cache and the dcache give way to each other under pressure.
 * Reclaim takes the oldest dentries that nothing uses, with a second chance for those hit since
 * the last scan (DCACHE_REFERENCED). "Uses" are, as Linux's d_count > 0 would say:
 *   - explicit references (dget/dput): mount roots, the root of a walk that is not a mount root
 *     (a chroot), the directory a lookup is waiting on;
 *   - cached children (a dentry is reclaimed leaf first, its parent later, as Linux's children
 *     each hold a reference to their parent);
 *   - something mounted on it;
 *   - an open file on its inode (File holds a Path; O_PATH files and pipes included).
 * Dropping a dentry unhooks it from its parent and drops its reference on the inode; the last such
 * reference of an inode nobody has open goes to SuperBlock.dropInode (iput_final + evict of a
 * linked inode), where the filesystem forgets it from its inode cache. A later lookup of the name
 * reads it back from disk: the same inode number and attributes, a fresh object.
 *
 * Holders the dcache cannot see (a task's cwd held by FsStruct, a Path in flight across an await)
 * keep the object alive in JS, detached from the tree; a new lookup then builds a second dentry
 * for the same name. That is harmless only where the directory cannot change behind the old
 * one's back, which is why reclaim is limited to read-only mounts and filesystems that
 * revalidate every hit (procfs).
 */
import type { ByteString } from '../../lib/bytestr.js';
import { PAGE_SIZE, type MemoryBudget, type Shrinker } from '../../mm/index.js';
import type { Inode } from './inode.js';
import type { Mount } from './mount.js';
import type { SuperBlock } from './super.js';

/** d_flags bits kept by the dcache. */
export const DCACHE_ON_LRU = 0x1, DCACHE_REFERENCED = 0x2;
/** Held for good by one dget: the root of a chrooted task's walks. */
export const DCACHE_PINNED = 0x4;

/**
 * What one cached dentry is charged: the dentry with its name and children map plus its share of
 * the inode behind it (an ext4 inode keeps its raw on-disk bytes and decoded fields), about what
 * V8 holds for the pair (~1.5 KiB measured on an ext4 tree walk).
 */
export const DENTRY_CHARGE = 1536;

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
  /** d_lockref: explicit references (dget/dput); a referenced dentry is never reclaimed. */
  refcount = 0;
  /** DCACHE_* bits. */
  dflags = 0;
  /** This dentry holds one of inode.dentryRefs (dropped when the dcache lets it go). */
  private holdsInode: boolean;

  constructor(name: ByteString, parent: Dentry | null, inode: Inode | null) {
    this.name = name;
    this.parent = parent ?? this;
    this.inode = inode;
    this.holdsInode = inode !== null;
    if (inode) {
      inode.dentryRefs++;
      if (!inode.alias) inode.alias = this;
    }
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

  /**
   * Give up this dentry's reference on its inode (dentry_unlink_inode + iput). The inode field
   * stays set for whoever still holds the detached dentry; the inode cache forgets the inode when
   * this was the last dcache reference and no file has it open.
   */
  releaseInode(): void {
    const inode = this.inode;
    if (!this.holdsInode || !inode) return;
    this.holdsInode = false;
    if (inode.alias === this) inode.alias = null;
    if (--inode.dentryRefs <= 0) {
      inode.dentryRefs = 0;
      if (inode.openCount === 0) inode.sb.dropInode(inode);
    }
  }
}

/** dget: keep `d` in the dcache until the matching dput. */
export function dget(d: Dentry): Dentry { d.refcount++; return d; }
/** dput: drop a dget reference (the dentry becomes reclaimable again when nothing else uses it). */
export function dput(d: Dentry): void { if (d.refcount > 0) d.refcount--; }

// Map.prototype's own get/delete: procfs' ProcChildren.get() has side effects we must not trigger.
const mapGet = Map.prototype.get as (this: Map<ByteString, Dentry>, k: ByteString) => Dentry | undefined;
const mapDelete = Map.prototype.delete as (this: Map<ByteString, Dentry>, k: ByteString) => boolean;

/** Is `d` still the dentry its parent lists under its name? */
export function dHashed(d: Dentry): boolean {
  return !d.isRoot && mapGet.call(d.parent.children, d.name) === d;
}

/**
 * The reclaimable part of one kernel's dcache: an LRU of every dentry lookup added on a
 * reclaimable superblock, charged to the memory budget as slab, shrunk by memory pressure and
 * kept under a hard bound of its own (`max` dentries, an eighth of mem= at DENTRY_CHARGE each).
 */
export class Dcache implements Shrinker {
  readonly name = 'dcache';
  readonly kind = 'slab' as const;
  /** Least recently added (or rotated) first. */
  private readonly lru = new Set<Dentry>();
  /** Pages charged to the budget for the dentries on the list. */
  private charged = 0;
  /** Most dentries kept, whatever the budget says. */
  max: number;
  /** Dentries reclaimed since boot (for tests and diagnostics). */
  pruned = 0;
  private readonly mem: MemoryBudget;

  constructor(mem: MemoryBudget) {
    this.mem = mem;
    this.max = Math.max(256, Math.floor((mem.totalPages * PAGE_SIZE) / 8 / DENTRY_CHARGE));
    mem.registerShrinker(this);
  }

  /** Dentries on the list (in use or not). */
  get count(): number { return this.lru.size; }
  /** Pages charged (the Shrinker contract: what scanning could give back at most). */
  countPages(): number { return this.charged; }

  /** d_lru_add: a dentry lookup just put in its parent's children. */
  add(d: Dentry): void {
    if (d.dflags & DCACHE_ON_LRU) return;
    const want = Math.ceil(((this.lru.size + 1) * DENTRY_CHARGE) / PAGE_SIZE);
    if (want > this.charged) {
      // May reclaim (from us too): `d` is not on the list yet, its parent has a child now.
      if (this.mem.tryChargeReclaim('slab', want - this.charged)) this.charged = want;
      else this.prune(Math.max(1, this.lru.size - Math.floor((this.charged * PAGE_SIZE) / DENTRY_CHARGE) + 1));
    }
    d.dflags |= DCACHE_ON_LRU;
    this.lru.add(d);
    if (this.lru.size > this.max) this.prune(this.lru.size - this.max);
  }

  /** Shrinker.scan: free about `pages` pages of dentries; returns the pages uncharged. */
  scan(pages: number): number {
    const before = this.charged;
    this.prune(Math.ceil((pages * PAGE_SIZE) / DENTRY_CHARGE));
    return before - this.charged;
  }

  /**
   * prune_dcache_sb over all superblocks: reclaim up to `n` unused dentries, oldest first. Busy
   * and recently referenced ones move to the young end (a referenced one loses its bit). One call
   * looks at a bounded number of dentries (each at most twice): with many busy ones the next call
   * goes on where this one stopped. Returns the number reclaimed.
   */
  prune(n: number): number {
    let freed = 0;
    let budget = Math.min(2 * this.lru.size, 16 * n + 64);
    for (const d of this.lru) {
      if (freed >= n || budget-- <= 0) break;
      if (busy(d)) { this.rotate(d); continue; }
      if (this.keep(d)) continue;
      if (d.dflags & DCACHE_REFERENCED) {
        d.dflags &= ~DCACHE_REFERENCED;
        this.rotate(d);
        continue;
      }
      this.kill(d);
      freed++;
    }
    this.pruned += freed;
    this.uncharge();
    return freed;
  }

  /** Drop every unused dentry of `sb` (shrink_dcache_sb, for umount and drop_caches). */
  shrinkSb(sb: SuperBlock | null): number {
    let freed = 0;
    // Leaves first, then the parents they left childless: repeat until a pass frees nothing.
    for (let again = true; again;) {
      again = false;
      for (const d of [...this.lru]) {
        if (sb !== null && d.parent.inode?.sb !== sb && d.inode?.sb !== sb) continue;
        if (busy(d) || this.keep(d)) continue;
        this.kill(d); freed++; again = true;
      }
    }
    this.pruned += freed;
    this.uncharge();
    return freed;
  }

  private rotate(d: Dentry): void { this.lru.delete(d); this.lru.add(d); }

  /**
   * A dentry of a mounted filesystem remounted read-write since it was cached: no longer safe to
   * drop (see the essay), it leaves the list and stays as an ordinary cache entry.
   */
  private keep(d: Dentry): boolean {
    const sb = d.parent.inode?.sb;
    if (sb === undefined || sb.activeMounts === 0 || sb.dcacheReclaimable) return false;
    this.unlist(d);
    return true;
  }

  private unlist(d: Dentry): void {
    this.lru.delete(d);
    d.dflags &= ~(DCACHE_ON_LRU | DCACHE_REFERENCED);
  }

  /** __dentry_kill for a cached, unused dentry: unhash it, leave the list, let go of the inode. */
  private kill(d: Dentry): void {
    this.unlist(d);
    if (dHashed(d)) mapDelete.call(d.parent.children, d.name);
    d.releaseInode();
  }

  /** Give back the pages the list no longer needs. */
  private uncharge(): void {
    const want = Math.ceil((this.lru.size * DENTRY_CHARGE) / PAGE_SIZE);
    if (want < this.charged) { this.mem.uncharge('slab', this.charged - want); this.charged = want; }
  }
}

/** In use, as d_count > 0 would say (see the essay). */
function busy(d: Dentry): boolean {
  return d.refcount > 0 || d.children.size > 0 || (d.mounts !== null && d.mounts.length > 0) ||
    (d.inode !== null && d.inode.openCount > 0);
}
