/*
 * The kernel's end of a copy: system calls of a task of the booted kernel, nothing else (the
 * image is only ever touched by the kernel's filesystem code). Paths are absolute in the task's
 * namespace; main.ts chroots the task into the mounted image first, so "/" is the image's root
 * and ".." can never leave it.
 *
 * No system call sets a ctime: every change stamps it with the clock. mkfs -d must leave the
 * source's ctime on each inode, as mke2fs -d does, so with `ctime` on, lutimes() sets the
 * kernel's CLOCK_REALTIME to that ctime for the utimensat (the last change made to the object)
 * and then puts the clock back where it would have been. This kernel is private to the program,
 * so nothing else sees the clock jump.
 */
import { xattrNames } from '../fs2tar/walk.js';
import type { KernelTask } from '../../lkl.js';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY,
  O_NOFOLLOW, O_CLOEXEC,
} from '../../uapi/fcntl.js';
import { S_IFMT, MAJOR, MINOR, MKDEV, new_encode_dev, type Kstat } from '../../uapi/stat.js';
import { ENOENT, ERANGE, EOPNOTSUPP, ENODATA, ENOTSUP } from '../../uapi/errno.js';
import { CLOCK_REALTIME, CLOCK_MONOTONIC } from '../../uapi/misc.js';
import {
  CopyError, toBytes, fromBytes, type SourceSide, type DestSide, type Meta, type Reader, type Writer, type Ts,
} from './sides.js';

const XATTR_MAX = 65536;

function chk(r: number, op: string): number {
  if (r < 0) throw new CopyError(-r, op);
  return r;
}

export class KernelSide implements SourceSide, DestSide {
  private readonly dirBuf = new Uint8Array(65536);
  private readonly listBuf = new Uint8Array(XATTR_MAX);
  private readonly valBuf = new Uint8Array(XATTR_MAX);
  private readonly linkBuf = new Uint8Array(4096);

  /** CLOCK_REALTIME - CLOCK_MONOTONIC in ns, read once, to restore the clock after a ctime. */
  private realOffset: bigint | null = null;

  constructor(private readonly t: KernelTask, private readonly o: { ctime?: boolean } = {}) {}

  async lstat(p: string): Promise<Meta> {
    const st = {} as Kstat;
    chk(await this.t.sys.newfstatat(AT_FDCWD, toBytes(p), st, AT_SYMLINK_NOFOLLOW), 'lstat');
    return {
      fmt: st.mode & S_IFMT, perm: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size,
      nlink: st.nlink, key: `${st.dev}:${st.ino}`, major: MAJOR(st.rdev), minor: MINOR(st.rdev),
      atime: { sec: st.atime.sec, nsec: st.atime.nsec }, mtime: { sec: st.mtime.sec, nsec: st.mtime.nsec },
      ctime: { sec: st.ctime.sec, nsec: st.ctime.nsec },
    };
  }

  async list(p: string): Promise<string[]> {
    const sys = this.t.sys;
    const fd = chk(await sys.openat(AT_FDCWD, toBytes(p), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0), 'open directory');
    const names: string[] = [];
    try {
      const buf = this.dirBuf;
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (;;) {
        const n = chk(await sys.getdents64(fd, buf, buf.length), 'getdents64');
        if (n === 0) break;
        for (let off = 0; off < n;) {
          const reclen = v.getUint16(off + 16, true);
          let end = buf.indexOf(0, off + 19);
          if (end < 0 || end > off + reclen) end = off + reclen;
          const nm = fromBytes(buf.subarray(off + 19, end));
          off += reclen;
          if (nm !== '.' && nm !== '..') names.push(nm);
        }
      }
    } finally {
      await sys.close(fd);
    }
    return names;
  }

  async readlink(p: string): Promise<string> {
    const n = chk(await this.t.sys.readlinkat(AT_FDCWD, toBytes(p), this.linkBuf, this.linkBuf.length), 'readlink');
    return fromBytes(this.linkBuf.subarray(0, n));
  }

  async xattrs(p: string): Promise<Array<[string, Uint8Array]>> {
    const sys = this.t.sys;
    const path = toBytes(p);
    let list = this.listBuf;
    let n = await sys.llistxattr(path, list, list.length);
    if (n === -ERANGE) {
      const need = chk(await sys.llistxattr(path, null, 0), 'llistxattr');
      list = new Uint8Array(need);
      n = await sys.llistxattr(path, list, list.length);
    }
    if (n === -EOPNOTSUPP || n === -ENOTSUP) return [];
    chk(n, 'llistxattr');
    const out: Array<[string, Uint8Array]> = [];
    for (const key of xattrNames(list, n)) {
      const v = await sys.lgetxattr(path, key, this.valBuf, this.valBuf.length);
      if (v === -ENODATA) continue;
      chk(v, 'lgetxattr');
      out.push([fromBytes(key), this.valBuf.slice(0, v)]);
    }
    return out;
  }

  async open(p: string): Promise<Reader> {
    const sys = this.t.sys;
    const fd = chk(await sys.openat(AT_FDCWD, toBytes(p), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0), 'open');
    return {
      read: async (buf) => chk(await sys.read(fd, buf, buf.length), 'read'),
      close: async () => { await sys.close(fd); },
    };
  }

  async typeAt(p: string): Promise<number | null> {
    const st = {} as Kstat;
    const r = await this.t.sys.newfstatat(AT_FDCWD, toBytes(p), st, AT_SYMLINK_NOFOLLOW);
    if (r === -ENOENT) return null;
    chk(r, 'lstat');
    return st.mode & S_IFMT;
  }

  async unlink(p: string): Promise<void> { chk(await this.t.sys.unlinkat(AT_FDCWD, toBytes(p), 0), 'unlink'); }

  async rmdir(p: string): Promise<void> { chk(await this.t.sys.unlinkat(AT_FDCWD, toBytes(p), AT_REMOVEDIR), 'rmdir'); }

  async mkdir(p: string, perm: number): Promise<void> { chk(await this.t.sys.mkdirat(AT_FDCWD, toBytes(p), perm), 'mkdir'); }

  async create(p: string, perm: number): Promise<Writer> {
    const sys = this.t.sys;
    const fd = chk(await sys.openat(AT_FDCWD, toBytes(p), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm), 'create');
    return {
      pwrite: async (buf, pos) => {
        for (let done = 0; done < buf.length;) {
          const n = chk(await sys.pwrite64(fd, buf.subarray(done), buf.length - done, pos + done), 'write');
          if (n === 0) throw new CopyError(5, 'write');
          done += n;
        }
      },
      truncate: async (size) => { chk(await sys.ftruncate(fd, size), 'ftruncate'); },
      close: async () => { chk(await sys.close(fd), 'close'); },
    };
  }

  async symlink(target: string, p: string): Promise<void> {
    chk(await this.t.sys.symlinkat(toBytes(target), AT_FDCWD, toBytes(p)), 'symlink');
  }

  async link(existing: string, p: string): Promise<void> {
    chk(await this.t.sys.linkat(AT_FDCWD, toBytes(existing), AT_FDCWD, toBytes(p), 0), 'link');
  }

  async mknod(p: string, fmt: number, perm: number, major: number, minor: number): Promise<void> {
    chk(await this.t.sys.mknodat(AT_FDCWD, toBytes(p), fmt | perm, new_encode_dev(MKDEV(major, minor))), 'mknod');
  }

  async lchown(p: string, uid: number, gid: number): Promise<void> {
    chk(await this.t.sys.fchownat(AT_FDCWD, toBytes(p), uid, gid, AT_SYMLINK_NOFOLLOW), 'chown');
  }

  async chmod(p: string, perm: number): Promise<void> {
    chk(await this.t.sys.fchmodat(AT_FDCWD, toBytes(p), perm), 'chmod');
  }

  async lsetxattr(p: string, name: string, value: Uint8Array): Promise<void> {
    chk(await this.t.sys.lsetxattr(toBytes(p), toBytes(name), value, value.length, 0), 'setxattr');
  }

  async lutimes(p: string, atime: Ts, mtime: Ts, ctime?: Ts): Promise<void> {
    const sys = this.t.sys;
    if (!ctime || !this.o.ctime) {
      chk(await sys.utimensat(AT_FDCWD, toBytes(p), [atime, mtime], AT_SYMLINK_NOFOLLOW), 'utimensat');
      return;
    }
    const ns = (t: Ts) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    const read = async (clk: number) => { const ts = { sec: 0, nsec: 0 }; chk(await sys.clock_gettime(clk, ts), 'clock_gettime'); return ns(ts); };
    this.realOffset ??= (await read(CLOCK_REALTIME)) - (await read(CLOCK_MONOTONIC));
    chk(await sys.clock_settime(CLOCK_REALTIME, ctime), 'clock_settime');
    try {
      chk(await sys.utimensat(AT_FDCWD, toBytes(p), [atime, mtime], AT_SYMLINK_NOFOLLOW), 'utimensat');
    } finally {
      const now = (await read(CLOCK_MONOTONIC)) + this.realOffset;
      await sys.clock_settime(CLOCK_REALTIME, { sec: Number(now / 1_000_000_000n), nsec: Number(now % 1_000_000_000n) });
    }
  }
}
