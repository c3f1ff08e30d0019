/*
 * pipe2(2) and eventfd2(2): make the file(s), install the fd(s), and undo everything if any step
 * fails — as Linux reserves both pipe fds before it copies them out, a failure in the second
 * install or in the copy leaves no fd behind.
 */
import { fail } from '../lib/errors.js';
import { EINVAL, EFAULT } from '../uapi/errno.js';
import { O_CLOEXEC, O_NONBLOCK, O_DIRECT, EFD_SEMAPHORE, EFD_CLOEXEC, EFD_NONBLOCK } from '../uapi/fcntl.js';
import type { Task } from '../kernel/index.js';
import { fput } from '../fs/vfs/index.js';
import { createPipe } from '../fs/pipe/index.js';
import { createEventfd } from '../fs/eventpoll/index.js';
import { toInt32, toUint32 } from '../mm/index.js';
import { installFd } from './common.js';
import type { SyscallDef } from './types.js';

/** Can `arg` take two ints (int fds[2])? */
function checkFdsArg(arg: unknown): void {
  if (Array.isArray(arg)) return;
  if (ArrayBuffer.isView(arg) && arg.byteLength >= 8) return;
  fail(EFAULT);
}

/** copy_to_user of int fds[2]: Int32Array/array elements, or two int32 LE in any other view. */
function putFds(arg: unknown, r: number, w: number): void {
  if (Array.isArray(arg) || arg instanceof Int32Array) { arg[0] = r; arg[1] = w; return; }
  if (ArrayBuffer.isView(arg)) {
    const v = new DataView(arg.buffer, arg.byteOffset, 8);
    v.setInt32(0, r, true); v.setInt32(4, w, true);
    return;
  }
  fail(EFAULT);
}

async function sysPipe2(t: Task, fdsArg: unknown, flagsArg: unknown): Promise<number> {
  const flags = toInt32(flagsArg);
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) fail(EINVAL);
  const [r, w] = createPipe(t.kernel.vfs, t.cred, flags);
  let rfd = -1;
  try {
    rfd = installFd(t, r, flags);
    const wfd = installFd(t, w, flags);
    try { checkFdsArg(fdsArg); putFds(fdsArg, rfd, wfd); } catch (e) { t.files.remove(wfd); throw e; }
    return 0;
  } catch (e) {
    if (rfd >= 0) t.files.remove(rfd);
    await fput(r);
    await fput(w);
    throw e;
  }
}

async function sysEventfd2(t: Task, initval: unknown, flagsArg: unknown): Promise<number> {
  const flags = toInt32(flagsArg);
  if (flags & ~(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK)) fail(EINVAL);
  const f = createEventfd(t.kernel.vfs, t.cred, toUint32(initval), flags);
  try { return installFd(t, f, flags); } catch (e) { await fput(f); throw e; }
}

export const pipeSyscalls: SyscallDef[] = [
  {
    name: 'pipe2', handler: sysPipe2,
    note: 'O_DIRECT packet mode supported; SIGPIPE is not delivered (EPIPE only)',
  },
  { name: 'eventfd2', handler: sysEventfd2 },
];
