/*
 * Mounts and paths. A Path is (mount, dentry): the same dentry can be reached through several
 * mounts (bind mounts), and a mount's root covers its mountpoint dentry in the parent mount.
 */
import type { Dentry } from './dentry.js';
import type { SuperBlock } from './super.js';

export const MNT_NOSUID = 0x01, MNT_NODEV = 0x02, MNT_NOEXEC = 0x04, MNT_NOATIME = 0x08,
  MNT_NODIRATIME = 0x10, MNT_RELATIME = 0x20, MNT_READONLY = 0x40, MNT_NOSYMFOLLOW = 0x80;

export interface Path { mnt: Mount; dentry: Dentry }

export class Mount {
  readonly id: number;
  readonly sb: SuperBlock;
  readonly root: Dentry;
  /** Parent mount and the dentry in it we cover; the namespace root mount is its own parent. */
  parent: Mount;
  mountpoint: Dentry;
  /** MNT_* per-mount flags. */
  flags: number;
  /** Source as given to mount(2), for /proc/mounts. */
  devname: string;
  readonly children = new Set<Mount>();
  /** Open files and cwd/root references keeping this mount busy (umount gives EBUSY). */
  refs = 0;

  constructor(id: number, sb: SuperBlock, root: Dentry, flags: number, devname: string) {
    this.id = id; this.sb = sb; this.root = root; this.flags = flags; this.devname = devname;
    this.parent = this; this.mountpoint = root;
  }

  get readOnly(): boolean { return (this.flags & MNT_READONLY) !== 0 || this.sb.readOnly; }
  get isNamespaceRoot(): boolean { return this.parent === this; }
}

/** The mount covering `path`, if any (lookup_mnt): the last mounted on top wins. */
export function lookupMnt(path: Path): Mount | undefined {
  const list = path.dentry.mounts;
  if (!list) return undefined;
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.parent === path.mnt) return list[i];
  return undefined;
}

/** Descend through every mount stacked on `path` (follow_mount). */
export function followMounts(path: Path): Path {
  for (;;) {
    if (!path.dentry.mounts) return path;
    const m = lookupMnt(path);
    if (!m) return path;
    path = { mnt: m, dentry: m.root };
  }
}

export function pathEqual(a: Path, b: Path): boolean { return a.mnt === b.mnt && a.dentry === b.dentry; }
