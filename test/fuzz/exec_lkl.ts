/*
 * Our kernel's executor of fuzz operations (the format is in ops.ts): each operation becomes the
 * same system calls host_ops.py makes, through k.sys.*, with paths below the mount point passed as
 * UTF-8 bytes. A negative return becomes its errno name; an exception escaping the kernel becomes
 * "EXCEPTION <message>", which never equals what Linux returns, so it is reported as a divergence.
 */
import type { KernelTask } from '../../src/lkl.js';
import { errnoName } from '../../src/uapi/errno.js';
import { AT_FDCWD, AT_REMOVEDIR, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC } from '../../src/uapi/fcntl.js';
import { UTIME_OMIT } from '../../src/uapi/stat.js';
import { pattern, type FuzzOp, type OpResult, type Time } from './ops.js';

const enc = new TextEncoder();

function timespecs(a: Time, m: Time): Uint8Array {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  [a, m].forEach((t, i) => {
    const [sec, nsec] = t === 'OMIT' ? [0, UTIME_OMIT] : t;
    v.setBigInt64(i * 16, BigInt(sec), true);
    v.setBigInt64(i * 16 + 8, BigInt(nsec), true);
  });
  return b;
}

const res = (r: number): OpResult => (typeof r !== 'number' ? `BADRET ${String(r)}` : r < 0 ? errnoName[-r] ?? `E${-r}` : r);

/** Run one operation as task `t`, paths below `mnt`. */
export async function stepLkl(t: KernelTask, mnt: string, op: FuzzOp): Promise<OpResult> {
  const s = t.sys;
  const P = (p: string): Uint8Array => enc.encode(`${mnt}/${p}`);
  const withFd = async (p: string, flags: number, fn: (fd: number) => Promise<number>): Promise<OpResult> => {
    const fd = await s.openat(AT_FDCWD, P(p), flags | O_CLOEXEC, 0);
    if (fd < 0) return res(fd);
    try { return res(await fn(fd)); } finally { await s.close(fd); }
  };
  try {
    switch (op[0]) {
      case 'creat': {
        const [, p, how, mode] = op;
        const fd = await s.openat(AT_FDCWD, P(p), O_WRONLY | O_CREAT | O_CLOEXEC | (how === 1 ? O_EXCL : how === 2 ? O_TRUNC : 0), mode);
        if (fd < 0) return res(fd);
        await s.close(fd);
        return 0;
      }
      case 'write': {
        const [, p, off, n, seed] = op;
        const data = pattern(seed, n);
        return await withFd(p, O_WRONLY, (fd) => s.pwrite64(fd, data, n, off));
      }
      case 'truncate': return res(await s.truncate(P(op[1]), op[2]));
      case 'fallocate': { const [, p, mode, off, n] = op; return await withFd(p, O_WRONLY, (fd) => s.fallocate(fd, mode, off, n)); }
      case 'fsync': return await withFd(op[1], O_RDONLY, (fd) => (op[2] ? s.fdatasync(fd) : s.fsync(fd)));
      case 'rename': return res(await s.renameat2(AT_FDCWD, P(op[1]), AT_FDCWD, P(op[2]), op[3]));
      case 'link': return res(await s.linkat(AT_FDCWD, P(op[1]), AT_FDCWD, P(op[2]), 0));
      case 'unlink': return res(await s.unlinkat(AT_FDCWD, P(op[1]), 0));
      case 'rmdir': return res(await s.unlinkat(AT_FDCWD, P(op[1]), AT_REMOVEDIR));
      case 'mkdir': return res(await s.mkdirat(AT_FDCWD, P(op[1]), op[2]));
      case 'symlink': return res(await s.symlinkat(enc.encode(op[1]), AT_FDCWD, P(op[2])));
      case 'chmod': return res(await s.fchmodat(AT_FDCWD, P(op[1]), op[2]));
      case 'utimens': return res(await s.utimensat(AT_FDCWD, P(op[1]), timespecs(op[2], op[3]), op[4]));
      case 'setxattr': {
        const [, p, name, n, seed, flags, nofollow] = op;
        const v = pattern(seed, n);
        return res(await (nofollow ? s.lsetxattr(P(p), enc.encode(name), v, n, flags) : s.setxattr(P(p), enc.encode(name), v, n, flags)));
      }
      case 'removexattr': {
        const [, p, name, nofollow] = op;
        return res(await (nofollow ? s.lremovexattr(P(p), enc.encode(name)) : s.removexattr(P(p), enc.encode(name))));
      }
    }
  } catch (e) {
    return `EXCEPTION ${(e as Error).message ?? String(e)}`;
  }
  return `EXCEPTION unknown op ${JSON.stringify(op)}`;
}
