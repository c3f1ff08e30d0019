/*
 * The memory devices of major 1 (drivers/char/mem.c): /dev/null, /dev/zero, /dev/full, and the
 * random devices /dev/random and /dev/urandom (drivers/char/random.c).
 *
 *   null     reads end of file, writes vanish
 *   zero     reads zeros, writes vanish
 *   full     reads zeros, writes fail with ENOSPC (a disk that is always full)
 *   random,  read random bytes from the host's entropy source; writes are accepted (Linux mixes
 *   urandom  them into the pool without crediting entropy — we have no pool, so they are dropped)
 *
 * All are always ready for poll, and seeking them succeeds: null, zero and full return 0 as
 * Linux's null_lseek does, the random devices leave the position where it is (noop_llseek).
 * ioctl on any of them is ENOTTY.
 */
import { fail } from '../../lib/errors.js';
import { ENOSPC, ENOTTY } from '../../uapi/errno.js';
import { POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM } from '../../uapi/misc.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import type { Kernel } from '../../kernel/index.js';
import type { FileOperations, File } from '../../fs/vfs/index.js';

export const MEM_MAJOR = 1;
export const NULL_MINOR = 3, ZERO_MINOR = 5, FULL_MINOR = 7, RANDOM_MINOR = 8, URANDOM_MINOR = 9;

/** Mask of a device that never blocks (DEFAULT_POLLMASK). */
export const ALWAYS_READY = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/** Host entropy in pieces a browser's getRandomValues accepts (64 KiB at a time). */
export function fillRandom(k: Kernel, buf: Uint8Array): void {
  for (let off = 0; off < buf.length; off += 65536) k.host.entropy(buf.subarray(off, Math.min(buf.length, off + 65536)));
}

/** The operations every memory device shares; `quiet` is a queue nobody ever wakes. */
function base(quiet: WaitQueue): FileOperations {
  return {
    poll: () => ALWAYS_READY,
    waitQueue: () => quiet,
    ioctl: () => fail(ENOTTY),
  };
}

const nullLseek = (file: File): number => { file.pos = 0; return 0; };
const noopLseek = (file: File): number => file.pos;

export function memDevices(k: Kernel): { minor: number; name: string; mode: number; fop: FileOperations }[] {
  const quiet = new WaitQueue();
  const zeroRead = (_f: File, buf: Uint8Array) => { buf.fill(0); return buf.length; };
  const swallow = (_f: File, buf: Uint8Array) => buf.length;
  const randomRead = (_f: File, buf: Uint8Array) => { fillRandom(k, buf); return buf.length; };
  return [
    { minor: NULL_MINOR, name: 'null', mode: 0o666, fop: { ...base(quiet), read: () => 0, write: swallow, llseek: nullLseek } },
    { minor: ZERO_MINOR, name: 'zero', mode: 0o666, fop: { ...base(quiet), read: zeroRead, write: swallow, llseek: nullLseek } },
    { minor: FULL_MINOR, name: 'full', mode: 0o666, fop: { ...base(quiet), read: zeroRead, write: () => fail(ENOSPC), llseek: nullLseek } },
    { minor: RANDOM_MINOR, name: 'random', mode: 0o666, fop: { ...base(quiet), read: randomRead, write: swallow, llseek: noopLseek } },
    { minor: URANDOM_MINOR, name: 'urandom', mode: 0o666, fop: { ...base(quiet), read: randomRead, write: swallow, llseek: noopLseek } },
  ];
}
