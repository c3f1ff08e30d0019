/*
 * mount(2) and umount2(2) (fs/namespace.c): new mounts, bind mounts, remount, move, and
 * unmounting with Linux's EBUSY rules.
 */
import { fail } from '../../lib/errors.js';
import { EBUSY, EINVAL, ENOTDIR, EPERM, ENOTBLK, ENODEV } from '../../uapi/errno.js';
import { CAP_SYS_ADMIN } from '../../uapi/misc.js';
import {
  MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_REMOUNT,
  MS_BIND, MS_MOVE, MS_REC, MS_NOSYMFOLLOW, MS_SILENT, MS_MGC_MSK, MS_MGC_VAL, MS_SHARED, MS_PRIVATE,
  MS_SLAVE, MS_UNBINDABLE, MS_STRICTATIME, MS_LAZYTIME, MS_SYNCHRONOUS, MS_DIRSYNC, MS_MANDLOCK,
  MS_I_VERSION, MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW,
} from '../../uapi/mount.js';
import type { Cred } from '../../kernel/auth/index.js';
import { Mount, type Path, MNT_NOEXEC, MNT_READONLY, MNT_NOSUID, MNT_NODEV, MNT_NOATIME, MNT_NODIRATIME, MNT_RELATIME, MNT_NOSYMFOLLOW } from './mount.js';
import type { Vfs } from './vfs.js';
import { FS_REQUIRES_DEV } from './super.js';

function mntFlagsFrom(ms: number): number {
  let f = 0;
  if (ms & MS_RDONLY) f |= MNT_READONLY;
  if (ms & MS_NOSUID) f |= MNT_NOSUID;
  if (ms & MS_NODEV) f |= MNT_NODEV;
  if (ms & MS_NOEXEC) f |= MNT_NOEXEC;
  if (ms & MS_NOATIME) f |= MNT_NOATIME;
  if (ms & MS_NODIRATIME) f |= MNT_NODIRATIME;
  if (ms & MS_NOSYMFOLLOW) f |= MNT_NOSYMFOLLOW;
  if (!(ms & (MS_NOATIME | MS_STRICTATIME))) f |= MNT_RELATIME;
  if (ms & MS_RELATIME) f |= MNT_RELATIME;
  return f;
}

/** Attach `m` on top of `at`. */
export function attachMount(m: Mount, at: Path): void {
  m.parent = at.mnt;
  m.mountpoint = at.dentry;
  (at.dentry.mounts ??= []).push(m);
  at.mnt.children.add(m);
  at.mnt.sb.vfs.mounts.add(m);
}

function detachMount(m: Mount): void {
  const list = m.mountpoint.mounts;
  if (list) {
    const i = list.indexOf(m);
    if (i >= 0) list.splice(i, 1);
    if (!list.length) m.mountpoint.mounts = null;
  }
  m.parent.children.delete(m);
  m.sb.vfs.mounts.delete(m);
}

export interface MountArgs {
  source: string; target: Path; fstype: string | null; flags: number; data: string;
  /** Resolves a source path to a block device (for FS_REQUIRES_DEV types). */
  resolveBdev?: (source: string) => Promise<unknown>;
  /** Resolves the source of a bind/move mount. */
  resolvePath?: (source: string) => Promise<Path>;
}

/** do_mount */
export async function doMount(vfs: Vfs, cred: Cred, a: MountArgs): Promise<Mount | void> {
  if (!cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  let flags = a.flags;
  if ((flags & MS_MGC_MSK) === MS_MGC_VAL) flags &= ~MS_MGC_MSK;
  flags &= ~(MS_SILENT | MS_SYNCHRONOUS * 0);
  const target = a.target;
  if (flags & MS_REMOUNT) {
    if (target.dentry !== target.mnt.root) fail(EINVAL);
    if (flags & MS_BIND) {
      // Per-mount flags only.
      target.mnt.flags = mntFlagsFrom(flags);
      return;
    }
    const sb = target.mnt.sb;
    const wantRo = (flags & MS_RDONLY) !== 0;
    if (sb.op.remount) await sb.op.remount(sb, flags, a.data);
    sb.flags = (sb.flags & ~MS_RDONLY) | (wantRo ? MS_RDONLY : 0);
    target.mnt.flags = mntFlagsFrom(flags);
    return;
  }
  if (flags & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)) {
    // Propagation types: one namespace, no peers — accepted and recorded as private.
    return;
  }
  if (flags & MS_BIND) {
    const src = await a.resolvePath!(a.source);
    const m = vfs.newMount(src.mnt.sb, src.dentry, src.mnt.flags, src.mnt.devname);
    attachMount(m, target);
    if (flags & MS_REC) {
      // Recursive bind: replicate submounts below src.dentry.
      for (const child of [...src.mnt.children]) {
        if (!child.mountpoint.isSubdirOf(src.dentry)) continue;
        const c = vfs.newMount(child.sb, child.root, child.flags, child.devname);
        attachMount(c, { mnt: m, dentry: child.mountpoint });
      }
    }
    return m;
  }
  if (flags & MS_MOVE) {
    const src = await a.resolvePath!(a.source);
    if (src.dentry !== src.mnt.root || src.mnt.isNamespaceRoot) fail(EINVAL);
    if (target.dentry.isSubdirOf(src.mnt.root) && target.mnt === src.mnt) fail(EINVAL);
    detachMount(src.mnt);
    attachMount(src.mnt, target);
    return src.mnt;
  }
  if (!a.fstype) fail(EINVAL);
  const type = vfs.fsTypes.get(a.fstype) ?? fail(ENODEV);
  if (!target.dentry.inode!.isDir && type.name !== 'bind') fail(ENOTDIR);
  let bdev: unknown;
  if (type.fsFlags & FS_REQUIRES_DEV) {
    if (!a.resolveBdev) fail(ENOTBLK);
    bdev = await a.resolveBdev(a.source);
  }
  const sbFlags = flags & (MS_RDONLY | MS_NOATIME | MS_NODIRATIME | MS_SYNCHRONOUS | MS_DIRSYNC |
    MS_MANDLOCK | MS_I_VERSION | MS_LAZYTIME);
  const sb = await type.mount({ vfs, source: a.source, flags: sbFlags, data: a.data, bdev });
  const m = vfs.newMount(sb, sb.root, mntFlagsFrom(flags), a.source);
  attachMount(m, target);
  return m;
}

/** Is anything (open files, cwds, submounts) using the mount? Callers pass the refs they hold. */
function mountBusy(m: Mount, heldRefs: number): boolean {
  return m.refs > heldRefs || m.children.size > 0;
}

/** do_umount: `path` must be the root of a mount. */
export async function doUmount(vfs: Vfs, cred: Cred, path: Path, flags: number, heldRefs = 0): Promise<void> {
  if (!cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  if (flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW)) fail(EINVAL);
  if ((flags & MNT_EXPIRE) && (flags & (MNT_FORCE | MNT_DETACH))) fail(EINVAL);
  const m = path.mnt;
  if (path.dentry !== m.root) fail(EINVAL);
  if (m.isNamespaceRoot) fail(EINVAL);
  if (flags & MNT_EXPIRE) fail(EAGAIN_EXPIRE);
  if (!(flags & MNT_DETACH) && mountBusy(m, heldRefs)) fail(EBUSY);
  const toDrop = flags & MNT_DETACH ? collect(m) : [m];
  for (const x of toDrop.reverse()) {
    detachMount(x);
    await releaseSb(x);
  }
  void vfs;
}

const EAGAIN_EXPIRE = 11;

function collect(m: Mount): Mount[] {
  const out = [m];
  for (const c of m.children) out.push(...collect(c));
  return out;
}

async function releaseSb(m: Mount): Promise<void> {
  const sb = m.sb;
  if (--sb.activeMounts > 0) return;
  if (sb.op.syncFs) await sb.op.syncFs(sb, true);
  if (sb.op.putSuper) await sb.op.putSuper(sb);
  sb.vfs.freeAnonDev(sb.dev);
}

/** Per-mount flags in Linux's order (show_mnt_opts): "rw,nosuid,nodev,relatime". */
export function mountFlagsString(m: Mount): string {
  const o = [m.readOnly ? 'ro' : 'rw'];
  if (m.flags & MNT_NOSUID) o.push('nosuid');
  if (m.flags & MNT_NODEV) o.push('nodev');
  if (m.flags & MNT_NOEXEC) o.push('noexec');
  if (m.flags & MNT_NOATIME) o.push('noatime');
  else if (m.flags & MNT_NODIRATIME) o.push('nodiratime');
  if (!(m.flags & MNT_NOATIME) && m.flags & MNT_RELATIME) o.push('relatime');
  if (m.flags & MNT_NOSYMFOLLOW) o.push('nosymfollow');
  return o.join(',');
}

/** Options shown in /proc/mounts: the per-mount flags, then the filesystem's own. */
export function mountOptions(m: Mount): string {
  const extra = m.sb.op.showOptions?.(m.sb);
  return extra ? `${mountFlagsString(m)},${extra}` : mountFlagsString(m);
}

/** Split mount(2) data into VFS flags and the filesystem's own options (as lklfuse/mount(8) do). */
export const VFS_FLAG_OPTIONS: Record<string, [number, boolean]> = {
  ro: [MS_RDONLY, true], rw: [MS_RDONLY, false], nosuid: [MS_NOSUID, true], suid: [MS_NOSUID, false],
  nodev: [MS_NODEV, true], dev: [MS_NODEV, false], noexec: [MS_NOEXEC, true], exec: [MS_NOEXEC, false],
  sync: [MS_SYNCHRONOUS, true], async: [MS_SYNCHRONOUS, false], remount: [MS_REMOUNT, true],
  dirsync: [MS_DIRSYNC, true], noatime: [MS_NOATIME, true], atime: [MS_NOATIME, false],
  nodiratime: [MS_NODIRATIME, true], diratime: [MS_NODIRATIME, false], bind: [MS_BIND, true],
  rbind: [MS_BIND | MS_REC, true], move: [MS_MOVE, true], silent: [MS_SILENT, true], loud: [MS_SILENT, false],
  relatime: [MS_RELATIME, true], norelatime: [MS_RELATIME, false], strictatime: [MS_STRICTATIME, true],
  nostrictatime: [MS_STRICTATIME, false], lazytime: [MS_LAZYTIME, true], nolazytime: [MS_LAZYTIME, false],
  iversion: [MS_I_VERSION, true], noiversion: [MS_I_VERSION, false], nosymfollow: [MS_NOSYMFOLLOW, true],
  symfollow: [MS_NOSYMFOLLOW, false], unbindable: [MS_UNBINDABLE, true], runbindable: [MS_UNBINDABLE | MS_REC, true],
  private: [MS_PRIVATE, true], rprivate: [MS_PRIVATE | MS_REC, true], slave: [MS_SLAVE, true],
  rslave: [MS_SLAVE | MS_REC, true], shared: [MS_SHARED, true], rshared: [MS_SHARED | MS_REC, true],
};
