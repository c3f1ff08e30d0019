/*
 * File lock system calls: flock(2), and the fcntl(2) lock commands (F_GETLK, F_SETLK, F_SETLKW and
 * their F_OFD_* twins), which sys_fs.ts's fcntl hands to fcntlLock() through hooks.fcntlLock.
 * The lock algebra lives in src/fs/vfs/locks.ts; here are the fd checks in Linux's order, the
 * owner (the calling process's tgid for POSIX locks) and the interruption of a blocked wait when
 * the kernel halts.
 */
import { fail } from '../lib/errors.js';
import { EBADF, EINVAL } from '../uapi/errno.js';
import {
  F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_UNLCK,
} from '../uapi/fcntl.js';
import type { Task } from '../kernel/index.js';
import {
  type File, type LockWaitAbort, FMODE_PATH, FMODE_READ, FMODE_WRITE, fcntlGetlk, fcntlSetlk, flockFile,
  flockTranslateCmd, locksRemovePosix, readFlock, LOCK_MAND,
} from '../fs/vfs/index.js';
import { toInt32, toUint32 } from '../mm/index.js';
import type { SyscallDef } from './types.js';

/** A blocked lock wait ends with EINTR when the kernel halts (no signals reach JS callers). */
function haltAbort(t: Task): LockWaitAbort {
  const k = t.kernel;
  return { queue: k.haltWait, aborted: () => k.halting };
}

/** fd lookup as fdget(): O_PATH descriptors do not count. */
function fdgetFile(t: Task, fd: number): File {
  const f = t.files.peek(fd);
  if (!f || f.mode & FMODE_PATH) fail(EBADF);
  return f;
}

/** flock(2) */
async function sysFlock(t: Task, fdArg: unknown, cmdArg: unknown): Promise<number> {
  const fd = toInt32(fdArg), cmd = toUint32(cmdArg);
  // LOCK_MAND never worked and is ignored since Linux 5.15: success, nothing done.
  if (cmd & LOCK_MAND) return 0;
  const type = flockTranslateCmd(cmd); // EINVAL comes before EBADF
  const file = fdgetFile(t, fd);
  if (type !== F_UNLCK && !(file.mode & (FMODE_READ | FMODE_WRITE))) fail(EBADF);
  await flockFile(file, cmd, haltAbort(t));
  return 0;
}

/** fcntl(fd, F_GETLK/F_SETLK/F_SETLKW/F_OFD_*, struct flock *). */
export async function fcntlLock(t: Task, fd: number, cmd: number, arg: unknown): Promise<number> {
  const file = fdgetFile(t, fd);
  switch (cmd) {
    case F_GETLK: case F_OFD_GETLK:
      fcntlGetlk(file, cmd, arg, t.tgid);
      return 0;
    case F_SETLK: case F_SETLKW: case F_OFD_SETLK: case F_OFD_SETLKW: {
      await fcntlSetlk(file, cmd, arg, t.tgid, haltAbort(t));
      // A close() of the fd while we slept can't have dropped the lock we just got: drop it now
      // and report EBADF, as Linux's close/fcntl race recovery does.
      if (cmd === F_SETLKW && t.files.peek(fd) !== file && readFlock(arg).type !== F_UNLCK) {
        locksRemovePosix(file, t.tgid);
        fail(EBADF);
      }
      return 0;
    }
    default: fail(EINVAL);
  }
}

/** close(): every close of an fd drops the process's POSIX locks on that inode (hooks.onClose). */
export function locksOnClose(t: Task, file: File): void {
  locksRemovePosix(file, t.tgid);
}

export const lockSyscalls: SyscallDef[] = [
  { name: 'flock', handler: sysFlock },
];
