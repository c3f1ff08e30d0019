/*
 * lklfuse's command line: `lklfuse IMAGE MOUNTPOINT [-o opt,...] [-f] [-d] [-s] [-h] [-V]`, the
 * shape of LKL's tools/lkl/lklfuse.c (a libfuse program). -o may repeat; its list is split at
 * commas, and a comma or '=' inside a value is written `\,` or `\=` (so `opts=` can carry the
 * kernel's own comma-separated options). Options of the image go to our kernel (type, part, ro,
 * mb, opts, lock, log); options of the mount go to the host kernel's FUSE mount (allow_other,
 * default_permissions) or shape the attributes shown (uid, gid).
 */
import {
  MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME,
  MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME, MS_MANDLOCK,
} from '../../uapi/mount.js';

export const VERSION = '0.1.0';

export const USAGE = `usage: lklfuse IMAGE MOUNTPOINT [options]

Mount the filesystem in IMAGE (a disk image file) on MOUNTPOINT through FUSE, served by a
Linux kernel running inside this process.

general options:
    -o opt,[opt...]        mount options
    -h   --help            print help
    -V   --version         print version
    -f                     foreground operation
    -d   -o debug          enable debug output (implies -f)
    -s                     serve one request at a time

lklfuse options:
    -o type=fstype         filesystem type (default: detect it)
    -o part=N              partition number (0, the default, is the whole disk)
    -o ro                  open the image and mount the filesystem read-only
    -o mb=N                kernel memory in MiB (default 64)
    -o opts=options        the filesystem's mount options (escape commas and '=' as \\, and \\=);
                           ro, noatime, nodiratime, relatime, strictatime, lazytime, sync,
                           dirsync, nosuid, nodev, noexec become mount flags
    -o lock=FILE           hold an exclusive lock on FILE while mounted (exit status 2 if it is held)
    -o log=FILE            append the kernel's messages to FILE

FUSE options:
    -o allow_other         let other users than the mounter access the files
    -o default_permissions let the host kernel check permissions from the modes shown
    -o uid=N               show every file as owned by user N
    -o gid=N               show every file as owned by group N
    -o fsname=NAME         the source shown in /proc/mounts (default: IMAGE)
    -o writeback_cache     (default on read-write mounts) the host kernel keeps written data
                           in its page cache and sends it in large writes; fsync, close and
                           unmount still reach the image. -o no_writeback_cache turns it off

As root, lklfuse mounts /dev/fuse with mount(8); as any other user, through the setuid
fusermount3 (fuse3), with python3 passing on the descriptor. Unmount with umount MOUNTPOINT
(root), fusermount3 -u MOUNTPOINT, or by sending lklfuse SIGINT or SIGTERM.
`;

export interface LklfuseOptions {
  image: string;
  mountpoint: string;
  foreground: boolean;
  debug: boolean;
  single: boolean;
  fstype: string;
  part: number;
  ro: boolean;
  mb: number;
  /** MS_* flags drawn from opts= */
  mountFlags: number;
  /** what is left of opts= for the filesystem (mount(2) data), or null */
  mountData: string | null;
  lock: string | null;
  log: string | null;
  allowOther: boolean;
  defaultPermissions: boolean;
  uid: number | null;
  gid: number | null;
  fsname: string | null;
  /** Ask the host kernel for FUSE_WRITEBACK_CACHE (read-write mounts only). */
  writebackCache: boolean;
}

export type ParseResult = { help: true } | { version: true } | { help?: false; version?: false; opts: LklfuseOptions };

export class UsageError extends Error {}

/** Split an -o list at commas not preceded by a backslash; escapes are kept for splitItem. */
export function splitList(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) { cur += c + s[i + 1]!; i++; continue; }
    if (c === ',') { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out.filter((x) => x !== '');
}

/** key=value at the first unescaped '=', both unescaped (`\,` `\=` `\\`). */
export function splitItem(s: string): [string, string | null] {
  let key = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) { key += s[i + 1]!; i++; continue; }
    if (c === '=') return [key, unescape(s.slice(i + 1))];
    key += c;
  }
  return [key, null];
}

function unescape(s: string): string { return s.replace(/\\(.)/g, '$1'); }

/** VFS flags that mount(8) takes among the options; the rest is the filesystem's own. */
const VFS_FLAGS: Record<string, [set: number, clear: number]> = {
  ro: [MS_RDONLY, 0], rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0], suid: [0, MS_NOSUID], nodev: [MS_NODEV, 0], dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0], exec: [0, MS_NOEXEC], sync: [MS_SYNCHRONOUS, 0], async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0], noatime: [MS_NOATIME, 0], atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0], diratime: [0, MS_NODIRATIME], relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME], strictatime: [MS_STRICTATIME, 0], lazytime: [MS_LAZYTIME, 0],
  nolazytime: [0, MS_LAZYTIME], mand: [MS_MANDLOCK, 0], nomand: [0, MS_MANDLOCK],
};

/** The kernel mount options of opts=: flags for mount(2)'s flags, the rest joined as its data. */
export function parseKernelOpts(s: string): { flags: number; data: string | null } {
  let flags = 0;
  const rest: string[] = [];
  for (const o of s.split(',')) {
    if (o === '') continue;
    const f = VFS_FLAGS[o];
    if (f) { flags = (flags | f[0]) & ~f[1]; continue; }
    rest.push(o);
  }
  return { flags, data: rest.length ? rest.join(',') : null };
}

function int(v: string | null, what: string, min: number, max: number): number {
  if (v === null || !/^\d+$/.test(v)) throw new UsageError(`invalid ${what} '${v ?? ''}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`invalid ${what} '${v}'`);
  return n;
}

export function parseArgs(argv: string[]): ParseResult {
  const o: Omit<LklfuseOptions, 'image' | 'mountpoint'> = {
    foreground: false, debug: false, single: false, fstype: 'auto', part: 0, ro: false, mb: 64,
    mountFlags: 0, mountData: null, lock: null, log: null, allowOther: false, defaultPermissions: false, writebackCache: true,
    uid: null, gid: null, fsname: null,
  };
  const operands: string[] = [];
  let help = false, version = false;
  const option = (item: string): void => {
    const [k, v] = splitItem(item);
    const need = (): string => { if (v === null) throw new UsageError(`option '${k}' needs a value`); return v; };
    switch (k) {
      case 'type': o.fstype = need() || 'auto'; break;
      case 'part': o.part = int(v, 'partition number', 0, 255); break;
      case 'ro': o.ro = true; break;
      case 'rw': o.ro = false; break;
      case 'mb': o.mb = int(v, 'memory size (MiB)', 1, 1 << 20); break;
      case 'opts': {
        const p = parseKernelOpts(need());
        o.mountFlags |= p.flags; o.mountData = p.data;
        break;
      }
      case 'lock': o.lock = need(); break;
      case 'log': o.log = need(); break;
      case 'allow_other': o.allowOther = true; break;
      case 'default_permissions': o.defaultPermissions = true; break;
      case 'uid': o.uid = int(v, 'uid', 0, 0xfffffffe); break;
      case 'gid': o.gid = int(v, 'gid', 0, 0xfffffffe); break;
      case 'fsname': o.fsname = need(); break;
      case 'writeback_cache': o.writebackCache = true; break;
      case 'no_writeback_cache': o.writebackCache = false; break;
      case 'debug': o.debug = true; o.foreground = true; break;
      default: throw new UsageError(`unknown option '${k}'`);
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { operands.push(...argv.slice(i + 1)); break; }
    if (a === '--help') { help = true; continue; }
    if (a === '--version') { version = true; continue; }
    if (a.startsWith('-o') ) {
      let v = a.slice(2);
      if (v === '') {
        if (i + 1 >= argv.length) throw new UsageError("missing argument after '-o'");
        v = argv[++i]!;
      }
      for (const item of splitList(v)) option(item);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (const c of a.slice(1)) {
        switch (c) {
          case 'f': o.foreground = true; break;
          case 'd': o.debug = true; o.foreground = true; break;
          case 's': o.single = true; break;
          case 'h': help = true; break;
          case 'V': version = true; break;
          default: throw new UsageError(`invalid option -- '${c}'`);
        }
      }
      continue;
    }
    operands.push(a);
  }
  if (help) return { help: true };
  if (version) return { version: true };
  if (operands.length === 0) throw new UsageError('missing image and mount point');
  if (operands.length === 1) throw new UsageError('missing mount point');
  if (operands.length > 2) throw new UsageError(`extra operand '${operands[2]}'`);
  if (o.ro) o.mountFlags |= MS_RDONLY;
  if (o.mountFlags & MS_RDONLY) o.ro = true;
  return { opts: { ...o, image: operands[0]!, mountpoint: operands[1]! } };
}
