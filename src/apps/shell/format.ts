/*
 * How coreutils shows file metadata: the ten-character mode string (filemode.c), ls's two
 * timestamp styles, stat's full timestamps, and owner names.
 *
 * Owner names come from /etc/passwd and /etc/group inside the kernel's own filesystem, read with
 * system calls like getpwuid(3) would; with no such files (a bare rootfs) numbers are shown, as
 * GNU ls does for ids without an entry. Times are shown in the host's local time zone, the way a
 * C library reads TZ.
 */
import type { Sys } from '../../lkl.js';
import {
  S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_ISUID, S_ISGID, S_ISVTX,
  type Timespec,
} from '../../uapi/stat.js';
import { readTextFile } from './context.js';

export function fileTypeChar(mode: number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return '-';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    case S_IFSOCK: return 's';
    default: return '?';
  }
}

/** "drwxr-xr-x", with s/S and t/T for the set-id and sticky bits. */
export function modeString(mode: number): string {
  const rwx = (r: number, w: number, x: number, special: number, on: string) => {
    const xs = mode & x ? (mode & special ? on : 'x') : (mode & special ? on.toUpperCase() : '-');
    return (mode & r ? 'r' : '-') + (mode & w ? 'w' : '-') + xs;
  };
  return fileTypeChar(mode) +
    rwx(0o400, 0o200, 0o100, S_ISUID, 's') +
    rwx(0o040, 0o020, 0o010, S_ISGID, 's') +
    rwx(0o004, 0o002, 0o001, S_ISVTX, 't');
}

/** stat's %F. */
export function fileTypeName(mode: number, size: number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return size === 0 ? 'regular empty file' : 'regular file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symbolic link';
    case S_IFCHR: return 'character special file';
    case S_IFBLK: return 'block special file';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'weird file';
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2, c = '0') => String(n).padStart(w, c);

/** Half of a Gregorian year in seconds: GNU ls's line between "recent" and "old". */
const SIX_MONTHS = Math.floor((365.2425 * 24 * 60 * 60) / 2);

/**
 * ls -l's time column: "Nov 24 00:10" for times in the last six months (and not in the future),
 * "Nov 24  2023" otherwise.
 */
export function lsTime(t: Timespec, now: Timespec): string {
  const d = new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6));
  const head = `${MONTHS[d.getMonth()]} ${pad(d.getDate(), 2, ' ')}`;
  const recent = t.sec > now.sec - SIX_MONTHS && (t.sec < now.sec || (t.sec === now.sec && t.nsec <= now.nsec));
  return recent ? `${head} ${pad(d.getHours())}:${pad(d.getMinutes())}` : `${head}  ${d.getFullYear()}`;
}

/** stat's "2024-11-24 00:10:00.123456789 +0000". */
export function statTime(t: Timespec): string {
  const d = new Date(t.sec * 1000);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(t.nsec, 9)} ` +
    `${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
}

/** uid/gid -> name from the kernel's /etc/passwd and /etc/group, read once per command. */
export class Names {
  private users?: Map<number, string>;
  private groups?: Map<number, string>;
  constructor(private readonly sys: Sys) {}

  private static async load(sys: Sys, path: string): Promise<Map<number, string>> {
    const m = new Map<number, string>();
    const text = await readTextFile(sys, path);
    if (typeof text === 'number') return m;
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length < 3) continue;
      const id = Number(f[2]);
      if (Number.isInteger(id) && !m.has(id)) m.set(id, f[0]!);
    }
    return m;
  }
  async user(uid: number): Promise<string | undefined> {
    this.users ??= await Names.load(this.sys, '/etc/passwd');
    return this.users.get(uid);
  }
  async group(gid: number): Promise<string | undefined> {
    this.groups ??= await Names.load(this.sys, '/etc/group');
    return this.groups.get(gid);
  }
}

/** Human-readable sizes as ls -h / free -h print them: 1023, 1.0K, 4.5M, 12G. */
export function humanSize(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  if (u === 0) return String(bytes);
  // GNU rounds up, and shows one decimal below 10.
  if (v < 10) { const r = Math.ceil(v * 10) / 10; return r >= 10 ? `${Math.ceil(r)}${units[u]}` : `${r.toFixed(1)}${units[u]}`; }
  return `${Math.ceil(v)}${units[u]}`;
}
