/*
 * kernel.fs: a node:fs/promises-shaped facade over the kernel's system calls, so Node users
 * feel at home. Every method is made of syscalls only; a negative result becomes a thrown
 * KernelFsError carrying code ('ENOENT'), errno (negative, as Node's), syscall and path.
 */
import type { Sys } from './sys.js';
import { errnoName, ENOENT, EEXIST, EISDIR, ENOTDIR, EINVAL } from '../uapi/errno.js';
import { strerror } from '../uapi/errno_text.js';
import {
  O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_DIRECTORY, O_CLOEXEC,
  AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, SEEK_SET,
} from '../uapi/fcntl.js';
import { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, type Kstat, UTIME_OMIT } from '../uapi/stat.js';

export class KernelFsError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;
  constructor(err: number, syscall: string, path?: string, dest?: string) {
    const code = errnoName[err] ?? `E${err}`;
    let msg = `${code}: ${strerror(err).toLowerCase()}, ${syscall}`;
    if (path !== undefined) msg += ` '${path}'`;
    if (dest !== undefined) msg += ` -> '${dest}'`;
    super(msg);
    this.name = 'Error';
    this.code = code; this.errno = -err; this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

function check(r: number, syscall: string, path?: string, dest?: string): number {
  if (r < 0) throw new KernelFsError(-r, syscall, path, dest);
  return r;
}

export class KernelStats {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeMs: number; mtimeMs: number; ctimeMs: number; birthtimeMs: number;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint;
  atime: Date; mtime: Date; ctime: Date; birthtime: Date;
  constructor(s: Kstat) {
    this.dev = s.dev; this.ino = s.ino; this.mode = s.mode; this.nlink = s.nlink; this.uid = s.uid;
    this.gid = s.gid; this.rdev = s.rdev; this.size = s.size; this.blksize = s.blksize; this.blocks = s.blocks;
    const ns = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    const ms = (t: { sec: number; nsec: number }) => t.sec * 1000 + t.nsec / 1e6;
    this.atimeNs = ns(s.atime); this.mtimeNs = ns(s.mtime); this.ctimeNs = ns(s.ctime);
    this.atimeMs = ms(s.atime); this.mtimeMs = ms(s.mtime); this.ctimeMs = ms(s.ctime);
    this.birthtimeMs = s.btime ? ms(s.btime) : 0;
    this.atime = new Date(this.atimeMs); this.mtime = new Date(this.mtimeMs); this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
  }
  isFile(): boolean { return (this.mode & S_IFMT) === S_IFREG; }
  isDirectory(): boolean { return (this.mode & S_IFMT) === S_IFDIR; }
  isSymbolicLink(): boolean { return (this.mode & S_IFMT) === S_IFLNK; }
  isCharacterDevice(): boolean { return (this.mode & S_IFMT) === S_IFCHR; }
  isBlockDevice(): boolean { return (this.mode & S_IFMT) === S_IFBLK; }
  isFIFO(): boolean { return (this.mode & S_IFMT) === S_IFIFO; }
  isSocket(): boolean { return (this.mode & S_IFMT) === S_IFSOCK; }
}

export interface KernelDirent {
  name: string; parentPath: string; ino: number; type: number;
  isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
type Data = string | Uint8Array;
type Opts = { encoding?: BufferEncoding | null; flag?: string; mode?: number } | BufferEncoding | null | undefined;
type BufferEncoding = 'utf8' | 'utf-8' | 'latin1' | 'binary';

function flagsOf(flag: string | number | undefined, dflt: number): number {
  if (typeof flag === 'number') return flag;
  switch (flag ?? '') {
    case '': return dflt;
    case 'r': return O_RDONLY;
    case 'r+': return O_RDWR;
    case 'w': return O_WRONLY | O_CREAT | O_TRUNC;
    case 'wx': case 'xw': return O_WRONLY | O_CREAT | O_TRUNC | O_EXCL;
    case 'w+': return O_RDWR | O_CREAT | O_TRUNC;
    case 'wx+': case 'xw+': return O_RDWR | O_CREAT | O_TRUNC | O_EXCL;
    case 'a': return O_WRONLY | O_CREAT | O_APPEND;
    case 'ax': case 'xa': return O_WRONLY | O_CREAT | O_APPEND | O_EXCL;
    case 'a+': return O_RDWR | O_CREAT | O_APPEND;
    default: throw new TypeError(`invalid flag '${flag}'`);
  }
}
function encodingOf(o: Opts): string | null {
  if (typeof o === 'string') return o;
  return o?.encoding ?? null;
}
function toBytes(d: Data): Uint8Array { return typeof d === 'string' ? enc.encode(d) : d; }

export interface KernelFileHandle {
  readonly fd: number;
  read(buf: Uint8Array, offset?: number, length?: number, position?: number | null): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  write(data: Data, position?: number | null): Promise<{ bytesWritten: number }>;
  readFile(opts?: Opts): Promise<Uint8Array | string>;
  stat(): Promise<KernelStats>;
  truncate(len?: number): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  chmod(mode: number): Promise<void>;
  close(): Promise<void>;
}

export type KernelFs = ReturnType<typeof makeFs>;

export function makeFs(sys: Sys) {
  async function statRaw(path: string, follow: boolean, name: string): Promise<KernelStats> {
    const st = {} as Kstat;
    check(await sys.newfstatat(AT_FDCWD, path, st, follow ? 0 : AT_SYMLINK_NOFOLLOW), name, path);
    return new KernelStats(st);
  }
  async function readAll(fd: number, path: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(total < 65536 ? 65536 : Math.min(total, 1 << 24));
      const n = check(await sys.read(fd, buf, buf.length), 'read', path);
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) { out.set(c, o); o += c.length; }
    return out;
  }
  async function writeAll(fd: number, data: Uint8Array, path: string, position?: number | null): Promise<number> {
    let off = 0;
    while (off < data.length) {
      const chunk = data.subarray(off);
      const n = check(position === undefined || position === null
        ? await sys.write(fd, chunk, chunk.length)
        : await sys.pwrite64(fd, chunk, chunk.length, position + off), 'write', path);
      off += n;
    }
    return off;
  }
  async function readdirNames(path: string): Promise<{ name: string; ino: number; type: number }[]> {
    const fd = check(await sys.openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), 'scandir', path);
    const out: { name: string; ino: number; type: number }[] = [];
    try {
      const buf = new Uint8Array(32768);
      const v = new DataView(buf.buffer);
      for (;;) {
        const n = check(await sys.getdents64(fd, buf, buf.length), 'scandir', path);
        if (n === 0) break;
        for (let off = 0; off < n;) {
          const reclen = v.getUint16(off + 16, true);
          const type = v.getUint8(off + 18);
          let end = off + 19;
          while (buf[end] !== 0) end++;
          const name = dec.decode(buf.subarray(off + 19, end));
          if (name !== '.' && name !== '..') out.push({ name, ino: Number(v.getBigUint64(off, true)), type });
          off += reclen;
        }
      }
    } finally { await sys.close(fd); }
    return out;
  }

  const fs = {
    constants: { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },

    async readFile(path: string, opts?: Opts): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
      const fd = check(await sys.openat(AT_FDCWD, path, flagsOf(typeof opts === 'object' ? opts?.flag : undefined, O_RDONLY) | O_CLOEXEC, 0), 'open', path);
      try {
        const data = await readAll(fd, path);
        const e = encodingOf(opts);
        return e ? dec.decode(data) : data;
      } finally { await sys.close(fd); }
    },
    async writeFile(path: string, data: Data, opts?: Opts): Promise<void> {
      const o = typeof opts === 'object' && opts ? opts : {};
      const fd = check(await sys.openat(AT_FDCWD, path, flagsOf(o.flag, O_WRONLY | O_CREAT | O_TRUNC) | O_CLOEXEC, o.mode ?? 0o666), 'open', path);
      try { await writeAll(fd, toBytes(data), path); } finally { await sys.close(fd); }
    },
    async appendFile(path: string, data: Data, opts?: Opts): Promise<void> {
      const o = typeof opts === 'object' && opts ? opts : {};
      const fd = check(await sys.openat(AT_FDCWD, path, flagsOf(o.flag, O_WRONLY | O_CREAT | O_APPEND) | O_CLOEXEC, o.mode ?? 0o666), 'open', path);
      try { await writeAll(fd, toBytes(data), path); } finally { await sys.close(fd); }
    },
    async mkdir(path: string, opts?: { recursive?: boolean; mode?: number } | number): Promise<string | undefined> {
      const o = typeof opts === 'number' ? { mode: opts } : opts ?? {};
      const mode = o.mode ?? 0o777;
      if (!o.recursive) { check(await sys.mkdirat(AT_FDCWD, path, mode), 'mkdir', path); return undefined; }
      const parts = path.split('/').filter(Boolean);
      let cur = path.startsWith('/') ? '' : '.';
      let first: string | undefined;
      for (const p of parts) {
        cur += '/' + p;
        const r = await sys.mkdirat(AT_FDCWD, cur, mode);
        if (r === -EEXIST) {
          const st = await statRaw(cur, true, 'mkdir');
          if (!st.isDirectory()) throw new KernelFsError(ENOTDIR, 'mkdir', path);
          continue;
        }
        check(r, 'mkdir', path);
        first ??= cur;
      }
      return first;
    },
    async readdir(path: string, opts?: { withFileTypes?: boolean }): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
      const ents = await readdirNames(path);
      if (!opts?.withFileTypes) return ents.map((e) => e.name);
      return ents.map((e): KernelDirent => ({
        name: e.name, parentPath: path, ino: e.ino, type: e.type,
        isFile: () => e.type === 8, isDirectory: () => e.type === 4, isSymbolicLink: () => e.type === 10,
      }));
    },
    stat: (path: string) => statRaw(path, true, 'stat'),
    lstat: (path: string) => statRaw(path, false, 'lstat'),
    async access(path: string, mode = 0): Promise<void> { check(await sys.faccessat(AT_FDCWD, path, mode), 'access', path); },
    async unlink(path: string): Promise<void> { check(await sys.unlinkat(AT_FDCWD, path, 0), 'unlink', path); },
    async rmdir(path: string): Promise<void> { check(await sys.unlinkat(AT_FDCWD, path, AT_REMOVEDIR), 'rmdir', path); },
    async rm(path: string, opts?: { recursive?: boolean; force?: boolean }): Promise<void> {
      const st = await statRaw(path, false, 'rm').catch((e: KernelFsError) => {
        if (opts?.force && e.code === 'ENOENT') return null;
        throw e;
      });
      if (!st) return;
      if (st.isDirectory()) {
        if (!opts?.recursive) throw new KernelFsError(EISDIR, 'rm', path);
        for (const e of await readdirNames(path)) await fs.rm(`${path}/${e.name}`, opts);
        check(await sys.unlinkat(AT_FDCWD, path, AT_REMOVEDIR), 'rmdir', path);
      } else check(await sys.unlinkat(AT_FDCWD, path, 0), 'unlink', path);
    },
    async rename(from: string, to: string): Promise<void> { check(await sys.renameat(AT_FDCWD, from, AT_FDCWD, to), 'rename', from, to); },
    async link(from: string, to: string): Promise<void> { check(await sys.linkat(AT_FDCWD, from, AT_FDCWD, to, 0), 'link', from, to); },
    async symlink(target: string, path: string): Promise<void> { check(await sys.symlinkat(target, AT_FDCWD, path), 'symlink', target, path); },
    async readlink(path: string): Promise<string> {
      const buf = new Uint8Array(4096);
      const n = check(await sys.readlinkat(AT_FDCWD, path, buf, buf.length), 'readlink', path);
      return dec.decode(buf.subarray(0, n));
    },
    async chmod(path: string, mode: number): Promise<void> { check(await sys.fchmodat(AT_FDCWD, path, mode), 'chmod', path); },
    async chown(path: string, uid: number, gid: number): Promise<void> { check(await sys.fchownat(AT_FDCWD, path, uid, gid, 0), 'chown', path); },
    async lchown(path: string, uid: number, gid: number): Promise<void> { check(await sys.fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW), 'lchown', path); },
    async utimes(path: string, atime: number | Date, mtime: number | Date): Promise<void> {
      const ts = (t: number | Date) => { const s = t instanceof Date ? t.getTime() / 1000 : t; const sec = Math.floor(s); return { sec, nsec: Math.round((s - sec) * 1e9) }; };
      check(await sys.utimensat(AT_FDCWD, path, [ts(atime), ts(mtime)], 0), 'utime', path);
    },
    async truncate(path: string, len = 0): Promise<void> { check(await sys.truncate(path, len), 'open', path); },
    async realpath(path: string): Promise<string> {
      const fd = check(await sys.openat(AT_FDCWD, path, 0o10000000 /* O_PATH */ | O_CLOEXEC, 0), 'realpath', path);
      try {
        const cwdFd = check(await sys.openat(AT_FDCWD, '.', 0o10000000 | O_DIRECTORY | O_CLOEXEC, 0), 'realpath', path);
        try {
          // Resolve by chdir-ing to the object's directory when it is one; otherwise read /proc-free: walk.
          const st = await statRaw(path, true, 'realpath');
          if (st.isDirectory()) {
            check(await sys.fchdir(fd), 'realpath', path);
            const buf = new Uint8Array(4096);
            const n = check(await sys.getcwd(buf, buf.length), 'realpath', path);
            return dec.decode(buf.subarray(0, n - 1));
          }
          const slash = path.lastIndexOf('/');
          const dir = slash < 0 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
          const base = path.slice(slash + 1);
          const d = await fs.realpath(dir);
          const target = `${d === '/' ? '' : d}/${base}`;
          const lst = await statRaw(target, false, 'realpath');
          if (lst.isSymbolicLink()) {
            const link = await fs.readlink(target);
            return fs.realpath(link.startsWith('/') ? link : `${d === '/' ? '' : d}/${link}`);
          }
          return target;
        } finally { await sys.fchdir(cwdFd); await sys.close(cwdFd); }
      } finally { await sys.close(fd); }
    },
    async copyFile(src: string, dest: string): Promise<void> {
      const st = await statRaw(src, true, 'copyfile');
      await fs.writeFile(dest, await fs.readFile(src), { mode: st.mode & 0o7777 });
    },
    async open(path: string, flags: string | number = 'r', mode = 0o666): Promise<KernelFileHandle> {
      const fd = check(await sys.openat(AT_FDCWD, path, flagsOf(flags, O_RDONLY) | O_CLOEXEC, mode), 'open', path);
      let closed = false;
      const h: KernelFileHandle = {
        fd,
        async read(buf, offset = 0, length = buf.length - offset, position = null) {
          const view = buf.subarray(offset, offset + length);
          const n = check(position === null || position === undefined
            ? await sys.read(fd, view, view.length) : await sys.pread64(fd, view, view.length, position), 'read', path);
          return { bytesRead: n, buffer: buf };
        },
        async write(data, position = null) { return { bytesWritten: await writeAll(fd, toBytes(data), path, position) }; },
        async readFile(o) {
          check(await sys.lseek(fd, 0, SEEK_SET), 'read', path);
          const d = await readAll(fd, path); return encodingOf(o) ? dec.decode(d) : d;
        },
        async stat() { const st = {} as Kstat; check(await sys.fstat(fd, st), 'fstat', path); return new KernelStats(st); },
        async truncate(len = 0) { check(await sys.ftruncate(fd, len), 'ftruncate', path); },
        async sync() { check(await sys.fsync(fd), 'fsync', path); },
        async datasync() { check(await sys.fdatasync(fd), 'fdatasync', path); },
        async chmod(m) { check(await sys.fchmod(fd, m), 'fchmod', path); },
        async close() { if (closed) return; closed = true; check(await sys.close(fd), 'close', path); },
      };
      return h;
    },
    async mkdtemp(prefix: string): Promise<string> {
      for (let i = 0; ; i++) {
        const p = `${prefix}${Math.random().toString(36).slice(2, 8)}`;
        const r = await sys.mkdirat(AT_FDCWD, p, 0o700);
        if (r === -EEXIST && i < 100) continue;
        check(r, 'mkdtemp', p);
        return p;
      }
    },
  };
  void ENOENT; void EINVAL; void UTIME_OMIT;
  return fs;
}
