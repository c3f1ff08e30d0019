/*
 * Helpers every handler shares: resolving dirfd + path to a starting point (the *at rule), fd
 * lookups, installing new files, and path lookups with the task's context.
 */
import { fail } from '../lib/errors.js';
import type { ByteString } from '../lib/bytestr.js';
import { EBADF, ENOTDIR, ENOENT } from '../uapi/errno.js';
import { AT_FDCWD, O_CLOEXEC } from '../uapi/fcntl.js';
import type { Task } from '../kernel/index.js';
import { type File, type Path, pathLookup, LOOKUP_FOLLOW, LOOKUP_EMPTY } from '../fs/vfs/index.js';
import { getPath, toInt32 } from '../mm/index.js';

/** The file behind `fd` (EBADF when none). */
export function fdFile(t: Task, fd: unknown): File { return t.files.get(toInt32(fd)); }

/** Starting directory for a *at call: cwd for AT_FDCWD, else the directory open as `dfd`. */
export function dirfdPath(t: Task, dfd: unknown, path: ByteString): Path {
  if (path.length && path.charCodeAt(0) === 47) return t.fs.root;
  const fd = toInt32(dfd);
  if (fd === AT_FDCWD) return t.fs.pwd;
  const f = t.files.peek(fd);
  if (!f) fail(EBADF);
  if (path.length && !f.inode.isDir) fail(ENOTDIR);
  return f.path;
}

/** user_path_at: resolve dfd + path with LOOKUP_* flags; "" allowed only with LOOKUP_EMPTY. */
export async function userPathAt(t: Task, dfd: unknown, pathArg: unknown, flags: number): Promise<Path> {
  const path = getPath(pathArg);
  if (path.length === 0) {
    if (!(flags & LOOKUP_EMPTY)) fail(ENOENT);
    const fd = toInt32(dfd);
    if (fd === AT_FDCWD) return t.fs.pwd;
    return t.files.get(fd).path;
  }
  return pathLookup(t.fsContext(), dirfdPath(t, dfd, path), path, flags);
}

/** fd_install with the task's RLIMIT_NOFILE; the file's reference moves into the table. */
export function installFd(t: Task, file: File, flags: number): number {
  return t.files.install(file, (flags & O_CLOEXEC) !== 0, t.nofile);
}

export { LOOKUP_FOLLOW, LOOKUP_EMPTY };
