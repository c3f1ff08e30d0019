/*
 * Path walk (fs/namei.c): turn a byte-string path into a Path.
 *
 * Each component is searched in the dcache first; only a miss calls the filesystem's lookup.
 * Rules kept from Linux: search (x) permission on every directory walked, "." and "..", ".." at a
 * mount root climbs to the mountpoint and never above the task's root, mounts are crossed on the
 * way down, symlinks are followed in the middle always and at the end when asked (at most 40 in
 * one walk: ELOOP), components over NAME_MAX give ENAMETOOLONG, a trailing slash demands a
 * directory, and an empty path is ENOENT unless the caller allows it.
 */
import { fail, type MaybePromise } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EXDEV, EACCES } from '../../uapi/errno.js';
import type { Cred } from '../../kernel/auth/index.js';
import { Dentry, DCACHE_REFERENCED, DCACHE_PINNED, dget } from './dentry.js';
import type { Inode } from './inode.js';
import { type Path, followMounts } from './mount.js';
import { permissionErrno, MAY_EXEC } from './permission.js';

export const LOOKUP_FOLLOW = 0x1, LOOKUP_DIRECTORY = 0x2, LOOKUP_EMPTY = 0x4,
  LOOKUP_NO_SYMLINKS = 0x10, LOOKUP_NO_MAGICLINKS = 0x20, LOOKUP_NO_XDEV = 0x40,
  LOOKUP_BENEATH = 0x80, LOOKUP_IN_ROOT = 0x100;
export const MAXSYMLINKS = 40;
export const PATH_MAX = 4096;
export const NAME_MAX = 255;

export const LAST_NORM = 0, LAST_ROOT = 1, LAST_DOT = 2, LAST_DOTDOT = 3;

export interface NameiContext {
  /** The task's root (chroot) — ".." never climbs above it, "/" restarts there. */
  root: Path;
  cred: Cred;
  /** The calling task, opaque to the VFS; handed to filesystems as vfs.caller. */
  caller?: unknown;
}

export interface ParentLookup {
  parent: Path;
  last: ByteString;
  lastType: number;
  trailingSlash: boolean;
}

interface WalkState { links: number; flags: number; root: Path; anchor: Path; cred: Cred; caller: unknown }

function isPath(v: unknown): v is Path {
  return typeof v === 'object' && v !== null && 'mnt' in v && 'dentry' in v;
}

/** Find `name` in the directory at `dir` (no permission check): dcache, else the filesystem. */
export async function lookupChild(dir: Path, name: ByteString, caller?: unknown): Promise<Dentry> {
  const d = dir.dentry;
  const hit = d.children.get(name);
  if (hit) { hit.dflags |= DCACHE_REFERENCED; return hit; }
  const inode = d.inode!;
  const sb = inode.sb;
  // The filesystem's lookup refuses a name it could never hold (simple_lookup, ext4_lookup).
  if (name.length > sb.maxNameLen) fail(ENAMETOOLONG);
  if (sb.dcacheAuthoritative || !inode.op.lookup) return new Dentry(name, d, null);
  if (caller !== undefined) sb.vfs.caller = caller;
  // The directory must stay in the tree while the filesystem reads it (d_count of the walk).
  d.refcount++;
  let found: Inode | null;
  try {
    found = await inode.op.lookup(inode, name);
  } finally { d.refcount--; }
  // Another task may have filled the slot while we waited.
  const again = d.children.get(name);
  if (again) return again;
  // A directory the dcache dropped and rebuilt: this dentry (a cwd, say) names it again.
  if (!inode.alias) inode.alias = d;
  const child = new Dentry(name, d, found);
  d.children.set(name, child);
  // procfs' map refuses negative dentries: only what went in is cached (and accounted).
  if (sb.dcacheReclaimable && d.children.get(name) === child) sb.vfs.dcache.add(child);
  return child;
}

/** Synchronous dcache-only lookup; undefined when the filesystem would have to be asked. */
function lookupCached(dir: Path, name: ByteString): Dentry | undefined {
  const d = dir.dentry;
  const hit = d.children.get(name);
  if (hit) { hit.dflags |= DCACHE_REFERENCED; return hit; }
  if (d.inode!.sb.dcacheAuthoritative) return NEGATIVE;
  return undefined;
}
const NEGATIVE = new Dentry('', null, null);

function mayLookup(cred: Cred, inode: Inode): void {
  // Fast path: owner with x, or root (CAP_DAC_READ_SEARCH covers search on directories).
  if (cred.fsuid === inode.uid ? inode.mode & 0o100 : inode.mode & 0o001) return;
  const e = permissionErrno(cred, inode, MAY_EXEC);
  if (e) fail(e);
}

function stepDotDot(st: WalkState, cur: Path): Path {
  for (;;) {
    if (cur.mnt === st.root.mnt && cur.dentry === st.root.dentry) return cur;
    if (cur.dentry !== cur.mnt.root) break;
    if (cur.mnt.isNamespaceRoot) return cur;
    if (st.flags & LOOKUP_NO_XDEV) fail(EXDEV);
    cur = { mnt: cur.mnt.parent, dentry: cur.mnt.mountpoint };
  }
  if ((st.flags & LOOKUP_BENEATH) && cur.mnt === st.anchor.mnt && cur.dentry === st.anchor.dentry) fail(EXDEV);
  return followMounts({ mnt: cur.mnt, dentry: cur.dentry.parent });
}

/**
 * Walk every component of `name` from `start`. When `stopAtLast`, the final component is not
 * looked up and is returned for the caller (create, unlink, rename).
 */
async function walk(st: WalkState, start: Path, name: ByteString, stopAtLast: boolean,
  followLast: boolean): Promise<{ path: Path; last?: ParentLookup }> {
  if (name.length === 0) fail(ENOENT);
  if (name.length >= PATH_MAX) fail(ENAMETOOLONG);
  let cur: Path;
  let i = 0;
  const n = name.length;
  if (name.charCodeAt(0) === 47 /* / */) {
    if (st.flags & LOOKUP_BENEATH) fail(EXDEV);
    cur = st.root;
    while (i < n && name.charCodeAt(i) === 47) i++;
  } else cur = start;

  for (;;) {
    // Next component [i, j)
    let j = i;
    while (j < n && name.charCodeAt(j) !== 47) j++;
    let k = j;
    while (k < n && name.charCodeAt(k) === 47) k++;
    const isLast = k >= n;
    const trailingSlash = isLast && j < n;

    if (i === j) {
      // Path was "/" (or "//"): the root itself.
      if (stopAtLast) return { path: cur, last: { parent: cur, last: '', lastType: LAST_ROOT, trailingSlash: false } };
      return { path: cur };
    }
    const inode = cur.dentry.inode!;
    if (!inode.isDir) fail(ENOTDIR);
    mayLookup(st.cred, inode);

    const comp = j - i === n ? name : name.slice(i, j);
    if (isLast && stopAtLast) {
      const lastType = comp === '.' ? LAST_DOT : comp === '..' ? LAST_DOTDOT : LAST_NORM;
      // No length check on the last component here: as filename_parentat, the caller looks it
      // up (ENAMETOOLONG from the lookup) after resolving every parent it needs (rename: both).
      return { path: cur, last: { parent: cur, last: comp, lastType, trailingSlash } };
    }
    if (comp === '.') {
      // stay
    } else if (comp === '..') {
      cur = stepDotDot(st, cur);
    } else {
      if (comp.length > NAME_MAX) fail(ENAMETOOLONG);
      const child = lookupCached(cur, comp) ?? await lookupChild(cur, comp, st.caller);
      if (!child.inode) fail(ENOENT);
      let next: Path = { mnt: cur.mnt, dentry: child };
      if (child.mounts) {
        const down = followMounts(next);
        if (down.mnt !== next.mnt && (st.flags & LOOKUP_NO_XDEV)) fail(EXDEV);
        next = down;
      }
      const ci = next.dentry.inode!;
      if (ci.isLnk && (!isLast || followLast || trailingSlash)) {
        if (st.flags & LOOKUP_NO_SYMLINKS) fail(ELOOP);
        if (++st.links > MAXSYMLINKS) fail(ELOOP);
        ci.sb.vfs.caller = st.caller;
        if (ci.op.getLink) {
          if (st.flags & LOOKUP_NO_MAGICLINKS) fail(ELOOP);
          const target = await ci.op.getLink(ci);
          if (isPath(target)) next = target;
          else next = (await walk(st, cur, target as ByteString, false, true)).path;
        } else {
          const target = await ci.op.readlink!(ci);
          if (target.length === 0) fail(ENOENT);
          next = (await walk(st, cur, target, false, true)).path;
        }
      }
      cur = next;
    }
    if (isLast) {
      if (trailingSlash && !cur.dentry.inode!.isDir) fail(ENOTDIR);
      return { path: cur };
    }
    i = k;
  }
}

function state(ctx: NameiContext, start: Path, flags: number): WalkState {
  const root = flags & LOOKUP_IN_ROOT ? start : ctx.root;
  // A task root below a mount root (chroot) must stay the one object ".." stops at: keep it
  // cached for good (FsStruct holds no dcache reference of its own).
  if (root.dentry !== root.mnt.root && !(root.dentry.dflags & DCACHE_PINNED)) {
    root.dentry.dflags |= DCACHE_PINNED;
    dget(root.dentry);
  }
  return { links: 0, flags, root, anchor: start, cred: ctx.cred, caller: ctx.caller };
}

/**
 * Resolve `name` relative to `start` to an existing object. LOOKUP_FOLLOW follows a final
 * symlink; LOOKUP_DIRECTORY requires a directory; LOOKUP_EMPTY lets "" mean `start` itself.
 */
export async function pathLookup(ctx: NameiContext, start: Path, name: ByteString, flags: number): Promise<Path> {
  if (name.length === 0 && (flags & LOOKUP_EMPTY)) return start;
  const st = state(ctx, start, flags);
  const { path } = await walk(st, start, name, false, (flags & LOOKUP_FOLLOW) !== 0);
  if ((flags & LOOKUP_DIRECTORY) && !path.dentry.inode!.isDir) fail(ENOTDIR);
  return path;
}

/**
 * The dcache-only walk (RCU-walk's spirit): resolves `name` without awaiting when every component
 * is a cached positive dentry, reached without "..", symlinks (a final one is fine when not
 * followed) or a permission question. Returns undefined otherwise; the caller then takes the full
 * walk, which also produces the right errno.
 */
export function pathLookupCached(ctx: NameiContext, start: Path, name: ByteString, flags: number): Path | undefined {
  return lookupFast(ctx, start, name, flags, false) as Path | undefined;
}

/**
 * pathLookup, without a promise when the dcache holds the whole path, and with only the
 * filesystem's lookup to wait for when just the last component is missing from it (an archiver
 * or a copy looking up each name of a directory it listed). Anything else takes the full walk.
 */
export function pathLookupMaybe(ctx: NameiContext, start: Path, name: ByteString, flags: number): MaybePromise<Path> {
  return lookupFast(ctx, start, name, flags, true) ?? pathLookup(ctx, start, name, flags);
}

function lookupFast(ctx: NameiContext, start: Path, name: ByteString, flags: number, lastMiss: boolean): MaybePromise<Path> | undefined {
  const n = name.length;
  if (n === 0 || n >= PATH_MAX || (flags & ~(LOOKUP_FOLLOW | LOOKUP_DIRECTORY))) return undefined;
  let cur: Path;
  let i = 0;
  if (name.charCodeAt(0) === 47) { cur = ctx.root; while (i < n && name.charCodeAt(i) === 47) i++; }
  else cur = start;
  const cred = ctx.cred;
  while (i < n) {
    let j = i;
    while (j < n && name.charCodeAt(j) !== 47) j++;
    let k = j;
    while (k < n && name.charCodeAt(k) === 47) k++;
    if (j < n && k >= n) return undefined; // trailing slash(es): leave it to the full walk
    const inode = cur.dentry.inode!;
    if (!inode.isDir) return undefined;
    if (!(cred.fsuid === inode.uid ? inode.mode & 0o100 : inode.mode & 0o001) && permissionErrno(cred, inode, MAY_EXEC)) return undefined;
    const comp = j - i === n ? name : name.slice(i, j);
    if (comp !== '.') {
      if (comp === '..') return undefined;
      const child = cur.dentry.children.get(comp);
      if (!child && lastMiss && k >= n && comp.length <= NAME_MAX) return lookupLast(ctx, start, name, flags, cur, comp);
      if (!child || !child.inode) return undefined;
      child.dflags |= DCACHE_REFERENCED;
      cur = child.mounts ? followMounts({ mnt: cur.mnt, dentry: child }) : { mnt: cur.mnt, dentry: child };
      const ci = cur.dentry.inode!;
      if (ci.isLnk && (j < n || (flags & LOOKUP_FOLLOW))) return undefined;
    }
    i = k;
  }
  if ((flags & LOOKUP_DIRECTORY) && !cur.dentry.inode!.isDir) return undefined;
  return cur;
}

/** The last component of a lookupFast, from the filesystem; the full walk's checks after it. */
function lookupLast(ctx: NameiContext, start: Path, name: ByteString, flags: number, dir: Path, comp: ByteString): Promise<Path> {
  return lookupChild(dir, comp, ctx.caller).then((child) => {
    if (!child.inode) fail(ENOENT);
    const next: Path = child.mounts ? followMounts({ mnt: dir.mnt, dentry: child }) : { mnt: dir.mnt, dentry: child };
    // A symlink to follow: the full walk does that (the dentry is cached now).
    if (next.dentry.inode!.isLnk && (flags & LOOKUP_FOLLOW)) return pathLookup(ctx, start, name, flags);
    if ((flags & LOOKUP_DIRECTORY) && !next.dentry.inode!.isDir) fail(ENOTDIR);
    return next;
  });
}

/** Resolve all but the last component (for create/unlink/rename/link). */
export async function pathParent(ctx: NameiContext, start: Path, name: ByteString, flags = 0): Promise<ParentLookup> {
  const st = state(ctx, start, flags);
  const r = await walk(st, start, name, true, false);
  return r.last!;
}

/** Path of `p` as seen from `root` (d_path). Unreachable paths get Linux's "(unreachable)" prefix. */
export function dPath(p: Path, root: Path): ByteString {
  const parts: ByteString[] = [];
  let cur = p;
  let reachable = true;
  for (;;) {
    if (cur.mnt === root.mnt && cur.dentry === root.dentry) break;
    if (cur.dentry === cur.mnt.root) {
      if (cur.mnt.isNamespaceRoot) { reachable = false; break; }
      cur = { mnt: cur.mnt.parent, dentry: cur.mnt.mountpoint };
      continue;
    }
    parts.push(cur.dentry.name);
    cur = { mnt: cur.mnt, dentry: cur.dentry.parent };
  }
  const s = '/' + parts.reverse().join('/');
  return reachable ? s : '(unreachable)' + s;
}
