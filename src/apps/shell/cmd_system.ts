/*
 * The system commands: mount and umount (util-linux), dmesg, ps and free (procps), uname, and the
 * shell's halt/exit/sync/sleep/true/false/help.
 *
 * They look at the kernel the way the real tools do: mount tables and process lists from /proc
 * (the shell mounts it at start-up), the kernel log from syslog(2), memory from /proc/meminfo or
 * sysinfo(2), names from uname(2) — raw structs decoded here, so these commands exercise the
 * same ABI a C program would.
 */
import { EBUSY, EINVAL, ENOENT, ENOTDIR, ENODEV, ENOTBLK, EPERM, EROFS, EACCES, ENXIO, EINTR } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';
import {
  MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC,
  MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC, MS_SILENT, MS_RELATIME, MS_STRICTATIME,
  MS_LAZYTIME, MS_NOSYMFOLLOW, MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE, MNT_FORCE, MNT_DETACH,
} from '../../uapi/mount.js';
import {
  SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR, SYSLOG_ACTION_CLEAR, SYSLOG_ACTION_SIZE_BUFFER,
  SYSLOG_ACTION_CONSOLE_LEVEL,
} from '../../uapi/misc.js';
import { S_ISDIR } from '../../uapi/stat.js';
import { getopts } from './parse.js';
import { type Ctx, type Command, q, warn, statPath, readDir, readTextFile, fromUtf8 } from './context.js';
import { humanSize } from './format.js';

/* ----------------------------------------------------------------------------------- mount */

/** mount(8)'s -o words that are flags rather than filesystem data: [set, clear]. */
const MOUNT_FLAGS: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0], rw: [0, MS_RDONLY], nosuid: [MS_NOSUID, 0], suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0], dev: [0, MS_NODEV], noexec: [MS_NOEXEC, 0], exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0], async: [0, MS_SYNCHRONOUS], remount: [MS_REMOUNT, 0],
  mand: [MS_MANDLOCK, 0], nomand: [0, MS_MANDLOCK], dirsync: [MS_DIRSYNC, 0],
  noatime: [MS_NOATIME, 0], atime: [0, MS_NOATIME], nodiratime: [MS_NODIRATIME, 0],
  diratime: [0, MS_NODIRATIME], bind: [MS_BIND, 0], rbind: [MS_BIND | MS_REC, 0], move: [MS_MOVE, 0],
  relatime: [MS_RELATIME, 0], norelatime: [0, MS_RELATIME], strictatime: [MS_STRICTATIME, 0],
  lazytime: [MS_LAZYTIME, 0], nolazytime: [0, MS_LAZYTIME], silent: [MS_SILENT, 0], loud: [0, MS_SILENT],
  nosymfollow: [MS_NOSYMFOLLOW, 0], symfollow: [0, MS_NOSYMFOLLOW], private: [MS_PRIVATE, 0],
  rprivate: [MS_PRIVATE | MS_REC, 0], shared: [MS_SHARED, 0], rshared: [MS_SHARED | MS_REC, 0],
  slave: [MS_SLAVE, 0], rslave: [MS_SLAVE | MS_REC, 0], unbindable: [MS_UNBINDABLE, 0],
  runbindable: [MS_UNBINDABLE | MS_REC, 0], defaults: [0, 0],
};

/** Split "-o" options into mount(2) flags and the data string the filesystem parses. */
export function parseMountOptions(opts: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const w of opts.split(',')) {
    if (!w) continue;
    const f = MOUNT_FLAGS[w];
    if (f) { flags = (flags | f[0]) & ~f[1]; continue; }
    data.push(w);
  }
  return { flags, data: data.join(',') };
}

/** /proc/mounts escapes space, tab, newline and backslash as \ooo. */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export const mount: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'rwvanB', 'to', { types: 't', options: 'o', 'read-only': 'r', rw: 'w', bind: 'B' });
  if (o.error) { await warn(ctx, 'mount', o.error); return 1; }
  if (o.operands.length === 0) {
    // Bare mount: the mount table, as "source on target type fstype (options)".
    const text = await readTextFile(ctx.sys, '/proc/self/mounts');
    if (typeof text === 'number') { await warn(ctx, 'mount', 'failed to read mount table /proc/self/mounts', text); return 32; }
    const only = o.values.get('t');
    let out = '';
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f.length < 4) continue;
      if (only && f[2] !== only) continue;
      out += `${unescapeMount(f[0]!)} on ${unescapeMount(f[1]!)} type ${f[2]} (${f[3]})\n`;
    }
    await ctx.out.write(out);
    return 0;
  }
  if (o.operands.length === 1) { await warn(ctx, 'mount', `${o.operands[0]}: can't find in /etc/fstab.`); return 1; }
  if (o.operands.length > 2) { await warn(ctx, 'mount', 'bad usage'); await ctx.err.write("Try 'mount --help' for more information.\n"); return 1; }
  const [source, target] = o.operands as [string, string];
  let { flags, data } = parseMountOptions(o.values.get('o') ?? '');
  if (o.flags.has('r')) flags |= MS_RDONLY;
  if (o.flags.has('w')) flags &= ~MS_RDONLY;
  if (o.flags.has('B')) flags |= MS_BIND;
  let type = o.values.get('t') ?? null;
  let r: number;
  if (type === null && !(flags & (MS_BIND | MS_MOVE | MS_REMOUNT))) {
    // No -t: try each filesystem that needs a device (the ones /proc/filesystems lists without
    // "nodev"), as mount(8) falls back to when probing finds nothing.
    const list = await readTextFile(ctx.sys, '/proc/filesystems');
    const cands = typeof list === 'number' ? [] : list.split('\n').filter((l) => l && !l.startsWith('nodev')).map((l) => l.trim());
    r = -ENOENT;
    for (const c of cands) {
      r = await ctx.sys.mount(source, target, c, flags, data || null);
      if (r === 0) { type = c; break; }
      if (r !== -EINVAL && r !== -ENODEV && r !== -ENOTBLK) break;
    }
    if (r < 0 && (r === -EINVAL || r === -ENODEV || r === -ENOTBLK || !cands.length)) {
      const st = await statPath(ctx.sys, source);
      if (typeof st === 'number') r = -ENOENT;
      else { await warn(ctx, 'mount', `${target}: wrong fs type, bad option, bad superblock on ${source}, missing codepage or helper program, or other error.`); return 32; }
    }
  } else {
    r = await ctx.sys.mount(source, target, type, flags, data || null);
  }
  if (r === 0) return 0;
  await ctx.err.write(`mount: ${await mountError(ctx, r, source, target, type, flags)}\n`);
  return 32;
};

async function mountError(ctx: Ctx, r: number, source: string, target: string, type: string | null, flags: number): Promise<string> {
  switch (-r) {
    case EPERM: return `${target}: must be superuser to use mount.`;
    case EBUSY: return `${target}: ${source} already mounted or mount point busy.`;
    case ENOENT: {
      const t = await statPath(ctx.sys, target);
      return typeof t === 'number' ? `${target}: mount point does not exist.` : `${target}: special device ${source} does not exist.`;
    }
    case ENOTDIR: {
      const t = await statPath(ctx.sys, target);
      return typeof t !== 'number' && !S_ISDIR(t.mode) ? `${target}: mount point is not a directory.`
        : `${target}: special device ${source} does not exist (a path prefix is not a directory).`;
    }
    case EINVAL: return flags & MS_REMOUNT ? `${target}: mount point not mounted or bad option.`
      : `${target}: wrong fs type, bad option, bad superblock on ${source}, missing codepage or helper program, or other error.`;
    case ENODEV: return `${target}: unknown filesystem type '${type ?? ''}'.`;
    case ENOTBLK: return `${target}: ${source} is not a block device.`;
    case ENXIO: return `${target}: ${source} is not a valid block device.`;
    case EROFS: return `${target}: cannot mount ${source} read-only.`;
    case EACCES: return `${target}: permission denied.`;
    default: return `${target}: mount(2) system call failed: ${strerror(-r)}.`;
  }
}

export const umount: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'lfnv', '', { lazy: 'l', force: 'f' });
  if (o.error) { await warn(ctx, 'umount', o.error); return 1; }
  if (!o.operands.length) { await warn(ctx, 'umount', 'bad usage'); await ctx.err.write("Try 'umount --help' for more information.\n"); return 1; }
  const flags = (o.flags.has('l') ? MNT_DETACH : 0) | (o.flags.has('f') ? MNT_FORCE : 0);
  let status = 0;
  for (const t of o.operands) {
    const r = await ctx.sys.umount2(t, flags);
    if (r === 0) continue;
    status = 32;
    const msg = r === -EINVAL ? 'not mounted.' : r === -EBUSY ? 'target is busy.' : r === -ENOENT ? 'no mount point specified.'
      : r === -EPERM ? 'must be superuser to unmount.' : `umount failed: ${strerror(-r)}.`;
    await ctx.err.write(`umount: ${t}: ${msg}\n`);
  }
  return status;
};

/* ----------------------------------------------------------------------------------- dmesg */

export const dmesg: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'cCr', 'n', { 'read-clear': 'c', clear: 'C', raw: 'r', 'console-level': 'n' });
  if (o.error) { await warn(ctx, 'dmesg', o.error); return 1; }
  const sys = ctx.sys;
  const lvl = o.values.get('n');
  if (lvl !== undefined) {
    const n = Number(lvl);
    if (!Number.isInteger(n)) { await warn(ctx, 'dmesg', `unknown level '${lvl}'`); return 1; }
    const r = await sys.syslog(SYSLOG_ACTION_CONSOLE_LEVEL, null, n);
    if (r < 0) { await warn(ctx, 'dmesg', 'klogctl failed', r); return 1; }
    return 0;
  }
  if (o.flags.has('C')) {
    const r = await sys.syslog(SYSLOG_ACTION_CLEAR, null, 0);
    if (r < 0) { await warn(ctx, 'dmesg', 'klogctl failed', r); return 1; }
    return 0;
  }
  let size = await sys.syslog(SYSLOG_ACTION_SIZE_BUFFER, null, 0);
  if (size <= 0) size = 1 << 20;
  const buf = new Uint8Array(size);
  const n = await sys.syslog(o.flags.has('c') ? SYSLOG_ACTION_READ_CLEAR : SYSLOG_ACTION_READ_ALL, buf, size);
  if (n < 0) { await warn(ctx, 'dmesg', 'read kernel buffer failed', n); return 1; }
  let text = fromUtf8(buf.subarray(0, n));
  // syslog(2) records start with "<level>"; dmesg shows them only with -r.
  if (!o.flags.has('r')) text = text.replace(/^<\d+>/gm, '');
  if (text && !text.endsWith('\n')) text += '\n';
  await ctx.out.write(text);
  return 0;
};

/* -------------------------------------------------------------------------------------- ps */

export const ps: Command = async (ctx, argv) => {
  // Every process is shown (we have no terminals to select by); -e/-A/a/x are accepted for habit.
  void argv;
  const ents = await readDir(ctx.sys, '/proc');
  const pids = typeof ents === 'number' ? [] : ents.filter((e) => /^\d+$/.test(e.name)).map((e) => Number(e.name)).sort((a, b) => a - b);
  if (!pids.length) { await ctx.err.write('Error, do this: mount -t proc proc /proc\n'); return 1; }
  let out = '  PID TTY          TIME CMD\n';
  for (const pid of pids) {
    const stat = await readTextFile(ctx.sys, `/proc/${pid}/stat`);
    if (typeof stat === 'number') continue; // exited meanwhile
    const open = stat.indexOf('('), close = stat.lastIndexOf(')');
    const comm = stat.slice(open + 1, close);
    const f = stat.slice(close + 2).split(' ');
    // After "pid (comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
    const ticks = Number(f[11] ?? 0) + Number(f[12] ?? 0);
    const secs = Math.floor(ticks / 100);
    const time = `${String(Math.floor(secs / 3600)).padStart(2, '0')}:${String(Math.floor(secs / 60) % 60).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    out += `${String(pid).padStart(5)} ?        ${time} ${comm}\n`;
  }
  await ctx.out.write(out);
  return 0;
};

/* ------------------------------------------------------------------------------------ free */

interface Mem { total: number; used: number; free: number; shared: number; buffcache: number; available: number; swapTotal: number; swapFree: number }

/** Memory figures in bytes, from /proc/meminfo (as procps computes them) or else sysinfo(2). */
async function readMem(ctx: Ctx): Promise<Mem | number> {
  const text = await readTextFile(ctx.sys, '/proc/meminfo');
  if (typeof text === 'string') {
    const kv = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
      if (m) kv.set(m[1]!, Number(m[2]) * 1024);
    }
    if (kv.has('MemTotal')) {
      const g = (k: string) => kv.get(k) ?? 0;
      const total = g('MemTotal'), free = g('MemFree');
      const buffcache = g('Buffers') + g('Cached') + g('SReclaimable');
      let used = total - free - buffcache;
      if (used < 0) used = total - free;
      return {
        total, used, free, shared: g('Shmem'), buffcache, available: kv.get('MemAvailable') ?? free,
        swapTotal: g('SwapTotal'), swapFree: g('SwapFree'),
      };
    }
  }
  // struct sysinfo (64-bit): uptime, loads[3], totalram, freeram, sharedram, bufferram,
  // totalswap, freeswap, u16 procs, pad, totalhigh, freehigh, u32 mem_unit.
  const b = new Uint8Array(112);
  const r = await ctx.sys.sysinfo(b);
  if (r < 0) return r;
  const v = new DataView(b.buffer);
  const unit = v.getUint32(104, true) || 1;
  const u = (off: number) => Number(v.getBigUint64(off, true)) * unit;
  const total = u(32), free = u(40), shared = u(48), buffers = u(56);
  return {
    total, used: total - free - buffers, free, shared, buffcache: buffers, available: free + buffers,
    swapTotal: u(64), swapFree: u(72),
  };
}

/** procps's -h: "23Gi", "8.6Mi", "0B". */
function freeHuman(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  return `${humanSize(bytes)}i`;
}

export const free: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'bkmgh', '', { bytes: 'b', kibi: 'k', mebi: 'm', gibi: 'g', human: 'h' });
  if (o.error) { await warn(ctx, 'free', o.error); return 1; }
  const m = await readMem(ctx);
  if (typeof m === 'number') { await warn(ctx, 'free', 'cannot read memory information', m); return 1; }
  const f = o.flags;
  const shift = f.has('b') ? 0 : f.has('m') ? 20 : f.has('g') ? 30 : 10;
  const fmt = (n: number) => (f.has('h') ? freeHuman(n) : String(Math.floor(n / 2 ** shift)));
  const row = (label: string, vals: number[]) =>
    label.padEnd(9) + vals.map((x, i) => (i === 0 ? fmt(x).padStart(11) : ' ' + fmt(x).padStart(11))).join('') + '\n';
  await ctx.out.write(
    '               total        used        free      shared  buff/cache   available\n' +
    row('Mem:', [m.total, m.used, m.free, m.shared, m.buffcache, m.available]) +
    row('Swap:', [m.swapTotal, m.swapTotal - m.swapFree, m.swapFree]),
  );
  return 0;
};

/* ----------------------------------------------------------------------------------- uname */

/** uname(2) into the raw struct new_utsname: six fields of 65 bytes each. */
export async function unameFields(ctx: Ctx): Promise<string[] | number> {
  const b = new Uint8Array(6 * 65);
  const r = await ctx.sys.uname(b);
  if (r < 0) return r;
  const fields: string[] = [];
  for (let i = 0; i < 6; i++) {
    const f = b.subarray(i * 65, (i + 1) * 65);
    const end = f.indexOf(0);
    fields.push(fromUtf8(f.subarray(0, end < 0 ? 65 : end)));
  }
  return fields;
}

export const uname: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'asnrvmpio', '', {
    all: 'a', 'kernel-name': 's', nodename: 'n', 'kernel-release': 'r', 'kernel-version': 'v',
    machine: 'm', processor: 'p', 'hardware-platform': 'i', 'operating-system': 'o',
  });
  if (o.error) { await warn(ctx, 'uname', o.error); await ctx.err.write("Try 'uname --help' for more information.\n"); return 1; }
  if (o.operands.length) { await warn(ctx, 'uname', `extra operand ${q(o.operands[0]!)}`); await ctx.err.write("Try 'uname --help' for more information.\n"); return 1; }
  const u = await unameFields(ctx);
  if (typeof u === 'number') { await warn(ctx, 'uname', 'cannot get system name', u); return 1; }
  const [sysname, nodename, release, version, machine] = u as [string, string, string, string, string];
  const f = o.flags;
  const all = f.has('a');
  const words: string[] = [];
  if (all || f.has('s') || f.size === 0) words.push(sysname);
  if (all || f.has('n')) words.push(nodename);
  if (all || f.has('r')) words.push(release);
  if (all || f.has('v')) words.push(version);
  if (all || f.has('m')) words.push(machine);
  // -p and -i are "unknown" on Linux; -a leaves unknown fields out, as coreutils does.
  if (!all && f.has('p')) words.push('unknown');
  if (!all && f.has('i')) words.push('unknown');
  if (all || f.has('o')) words.push('Linux');
  await ctx.out.write(words.join(' ') + '\n');
  return 0;
};

/* --------------------------------------------------------------------------- shell builtins */

export const halt: Command = async (ctx) => { await ctx.shell.halt(0); return 0; };

export const exit: Command = async (ctx, argv) => {
  const n = argv[1] === undefined ? ctx.shell.lastStatus : Number(argv[1]);
  if (!Number.isInteger(n)) { await ctx.err.write(`sh: exit: ${argv[1]}: numeric argument required\n`); await ctx.shell.halt(2); return 2; }
  await ctx.shell.halt(n & 0xff);
  return n & 0xff;
};

export const sync: Command = async (ctx) => { await ctx.sys.sync(); return 0; };
export const true_: Command = async () => 0;
export const false_: Command = async () => 1;

export const sleep: Command = async (ctx, argv) => {
  if (argv.length < 2) { await warn(ctx, 'sleep', 'missing operand'); return 1; }
  let total = 0;
  for (const a of argv.slice(1)) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(a);
    if (!m) { await warn(ctx, 'sleep', `invalid time interval ${q(a)}`); return 1; }
    total += Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
  }
  const sec = Math.floor(total);
  const r = await ctx.sys.nanosleep({ sec, nsec: Math.round((total - sec) * 1e9) }, null);
  return r < 0 && r !== -EINTR ? 1 : 0;
};
