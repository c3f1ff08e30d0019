/*
 * statfs(2) and fstatfs(2) (fs/statfs.c): filesystem-wide numbers from the superblock's statfs
 * operation, plus what only the VFS knows: f_flags from the mount's and the superblock's flags
 * (always with ST_VALID), f_frsize defaulting to f_bsize, and an f_fsid derived from the device
 * number when the filesystem gives none (as block filesystems do with huge_encode_dev).
 * fstatfs accepts O_PATH descriptors (fdget_raw).
 */
import { fail } from '../lib/errors.js';
import { EFAULT, ENOSYS } from '../uapi/errno.js';
import { AT_FDCWD } from '../uapi/fcntl.js';
import { MS_RDONLY, MS_SYNCHRONOUS, MS_MANDLOCK } from '../uapi/mount.js';
import {
  encodeStatfs, new_encode_dev, STATFS_SIZE, type Kstatfs, ST_VALID, ST_RDONLY, ST_NOSUID, ST_NODEV,
  ST_NOEXEC, ST_NOATIME, ST_NODIRATIME, ST_RELATIME, ST_NOSYMFOLLOW, ST_SYNCHRONOUS, ST_MANDLOCK,
} from '../uapi/stat.js';
import type { Task } from '../kernel/index.js';
import {
  type Path, MNT_READONLY, MNT_NOSUID, MNT_NODEV, MNT_NOEXEC, MNT_NOATIME, MNT_NODIRATIME,
  MNT_RELATIME, MNT_NOSYMFOLLOW,
} from '../fs/vfs/index.js';
import { putStruct, toInt32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';
import { userPathAt, LOOKUP_FOLLOW } from './common.js';

/** flags_by_mnt | flags_by_sb, with ST_VALID: the f_flags of statfs. */
export function statfsFlags(path: Path): number {
  const m = path.mnt.flags, s = path.mnt.sb.flags;
  let f = ST_VALID;
  if (m & MNT_READONLY) f |= ST_RDONLY;
  if (m & MNT_NOSUID) f |= ST_NOSUID;
  if (m & MNT_NODEV) f |= ST_NODEV;
  if (m & MNT_NOEXEC) f |= ST_NOEXEC;
  if (m & MNT_NOATIME) f |= ST_NOATIME;
  if (m & MNT_NODIRATIME) f |= ST_NODIRATIME;
  if (m & MNT_RELATIME) f |= ST_RELATIME;
  if (m & MNT_NOSYMFOLLOW) f |= ST_NOSYMFOLLOW;
  if (s & MS_SYNCHRONOUS) f |= ST_SYNCHRONOUS;
  if (s & MS_MANDLOCK) f |= ST_MANDLOCK;
  if (s & MS_RDONLY) f |= ST_RDONLY;
  return f;
}

/** vfs_statfs */
export async function vfsStatfs(path: Path): Promise<Kstatfs> {
  const sb = path.dentry.inode!.sb;
  if (!sb.op.statfs) fail(ENOSYS);
  const st = { ...(await sb.op.statfs(sb)) };
  if (st.frsize === 0) st.frsize = st.bsize;
  if (st.fsid[0] === 0 && st.fsid[1] === 0) {
    // u64_to_fsid(huge_encode_dev(dev)): low word, high word.
    const id = new_encode_dev(sb.dev);
    st.fsid = [id | 0, Math.floor(id / 2 ** 32) | 0];
  }
  st.flags = statfsFlags(path);
  return st;
}

function copyOut(buf: unknown, st: Kstatfs): number {
  if (buf instanceof Uint8Array && buf.byteLength < STATFS_SIZE) fail(EFAULT);
  putStruct(buf, st, encodeStatfs);
  return 0;
}

async function sysStatfs(t: Task, pathArg: unknown, buf: unknown): Promise<number> {
  const path = await userPathAt(t, AT_FDCWD, pathArg, LOOKUP_FOLLOW);
  return copyOut(buf, await vfsStatfs(path));
}

async function sysFstatfs(t: Task, fd: unknown, buf: unknown): Promise<number> {
  const file = t.files.get(toInt32(fd));
  return copyOut(buf, await vfsStatfs(file.path));
}

export const statfsSyscalls: SyscallDef[] = [
  { name: 'statfs', handler: sysStatfs },
  { name: 'fstatfs', handler: sysFstatfs },
];
