/*
 * What every shell command works with: the kernel task it runs as, its standard output and
 * error, and small helpers over raw system calls — the user-space "libc" of this shell.
 *
 * Commands reach the kernel only through `ctx.sys` (typed wrappers returning >= 0 or -errno),
 * exactly as a C program reaches it through libc's thin syscall wrappers: directories are read
 * with getdents64 and decoded here, files with open/read/write/close, metadata with newfstatat.
 * Messages follow coreutils: "prog: what: strerror(errno)", file names quoted as GNU quotes them.
 */
import type { Sys } from '../../lkl.js';
import { strerror } from '../../uapi/errno_text.js';
import { EINTR, EAGAIN, EIO } from '../../uapi/errno.js';
import { O_RDONLY, O_DIRECTORY, O_CLOEXEC } from '../../uapi/fcntl.js';
import type { Kstat } from '../../uapi/stat.js';

/** A sink for a command's standard output or error. */
export interface Writer {
  write(data: string | Uint8Array): Promise<void>;
}

/** The part of the shell a command may steer (cd has no state of its own: the kernel keeps cwd). */
export interface ShellControl {
  /** Halt the kernel and stop reading input. */
  halt(status?: number): Promise<void>;
  readonly lastStatus: number;
}

export interface Ctx {
  sys: Sys;
  out: Writer;
  err: Writer;
  /** Standard output is a terminal: ls prints columns. */
  isTTY: boolean;
  /** Terminal width for ls columns. */
  columns: number;
  shell: ShellControl;
}

/** A command: argv[0] is its name; resolves to the exit status. */
export type Command = (ctx: Ctx, argv: string[]) => Promise<number>;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8');
export const utf8 = (s: string): Uint8Array => enc.encode(s);
export const fromUtf8 = (b: Uint8Array): string => dec.decode(b);

/** GNU's quoteaf: the name in single quotes, embedded quotes escaped the shell way. */
export function q(name: string): string {
  return `'${name.replace(/'/g, "'\\''")}'`;
}

/** GNU's quotef: quoted only when the name holds characters a shell would treat specially. */
export function qf(name: string): string {
  return /^[A-Za-z0-9_./@%+=:,~^-]+$/.test(name) ? name : q(name);
}

/** Print "prog: msg[: strerror(-ret)]" to standard error. */
export async function warn(ctx: Ctx, prog: string, msg: string, ret?: number): Promise<void> {
  await ctx.err.write(ret === undefined ? `${prog}: ${msg}\n` : `${prog}: ${msg}: ${strerror(-ret)}\n`);
}

/** stat(2) into a Kstat; the negative errno on failure. */
export async function statPath(sys: Sys, path: string, follow = true): Promise<Kstat | number> {
  const st = {} as Kstat;
  const r = follow ? await sys.stat(path, st) : await sys.lstat(path, st);
  return r < 0 ? r : st;
}

/** fstat(2) into a Kstat; the negative errno on failure. */
export async function fstatFd(sys: Sys, fd: number): Promise<Kstat | number> {
  const st = {} as Kstat;
  const r = await sys.fstat(fd, st);
  return r < 0 ? r : st;
}

export interface Dirent { ino: number; type: number; name: string }

/** Decode a buffer of struct linux_dirent64 records (u64 ino, s64 off, u16 reclen, u8 type, name\0). */
export function decodeDirents(buf: Uint8Array, len: number): Dirent[] {
  const v = new DataView(buf.buffer, buf.byteOffset, len);
  const out: Dirent[] = [];
  for (let off = 0; off + 19 <= len;) {
    const ino = Number(v.getBigUint64(off, true));
    const reclen = v.getUint16(off + 16, true);
    const type = v.getUint8(off + 18);
    if (reclen < 20 || off + reclen > len) break; // malformed: stop rather than loop
    let end = off + 19;
    while (end < off + reclen && buf[end] !== 0) end++;
    out.push({ ino, type, name: fromUtf8(buf.subarray(off + 19, end)) });
    off += reclen;
  }
  return out;
}

/** Every entry of an open directory, read with getdents64; the negative errno on failure. */
export async function readDirFd(sys: Sys, fd: number): Promise<Dirent[] | number> {
  const buf = new Uint8Array(32768);
  const all: Dirent[] = [];
  for (;;) {
    const n = await sys.getdents64(fd, buf, buf.length);
    if (n < 0) return n;
    if (n === 0) return all;
    all.push(...decodeDirents(buf, n));
  }
}

/** Every entry of the directory at path (including . and ..); the negative errno on failure. */
export async function readDir(sys: Sys, path: string): Promise<Dirent[] | number> {
  const fd = await sys.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  try { return await readDirFd(sys, fd); } finally { await sys.close(fd); }
}

/** Write all of data to fd, looping over short writes; 0 or the negative errno. */
export async function writeAll(sys: Sys, fd: number, data: Uint8Array): Promise<number> {
  let off = 0;
  while (off < data.length) {
    const chunk = off === 0 ? data : data.subarray(off);
    const n = await sys.write(fd, chunk, chunk.length);
    if (n === -EINTR || n === -EAGAIN) continue;
    if (n < 0) return n;
    if (n === 0) return -EIO; // a write that makes no progress
    off += n;
  }
  return 0;
}

/** The whole content of a file (for /proc and /etc files); the negative errno on failure. */
export async function readFile(sys: Sys, path: string): Promise<Uint8Array | number> {
  const fd = await sys.open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  try {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(65536);
      const n = await sys.read(fd, buf, buf.length);
      if (n === -EINTR) continue;
      if (n < 0) return n;
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      total += n;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  } finally { await sys.close(fd); }
}

export async function readTextFile(sys: Sys, path: string): Promise<string | number> {
  const b = await readFile(sys, path);
  return typeof b === 'number' ? b : fromUtf8(b);
}

/** getcwd(2) as a string; the negative errno on failure. */
export async function getcwd(sys: Sys): Promise<string | number> {
  const buf = new Uint8Array(4096);
  const n = await sys.getcwd(buf, buf.length);
  if (n < 0) return n;
  return fromUtf8(buf.subarray(0, n - 1));
}

/** readlink(2) as a string; the negative errno on failure. */
export async function readlink(sys: Sys, path: string): Promise<string | number> {
  const buf = new Uint8Array(4096);
  const n = await sys.readlink(path, buf, buf.length);
  return n < 0 ? n : fromUtf8(buf.subarray(0, n));
}

/** "dir" + "name" with one slash between. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** The last component, trailing slashes ignored (basename(1)). */
export function basename(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return p.startsWith('/') ? '/' : '';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** Everything before the last component (dirname(1)). */
export function dirname(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return p.startsWith('/') ? '/' : '.';
  const i = t.lastIndexOf('/');
  if (i < 0) return '.';
  const d = t.slice(0, i).replace(/\/+$/, '');
  return d === '' ? '/' : d;
}

/** A lexical absolute path: cwd joined, "." and ".." folded (for cp's into-itself check). */
export function normalize(cwd: string, p: string): string {
  const parts: string[] = [];
  for (const c of (p.startsWith('/') ? p : `${cwd}/${p}`).split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop(); else parts.push(c);
  }
  return '/' + parts.join('/');
}
