/*
 * System information calls: uname, sethostname/setdomainname, sysinfo, syslog, getrandom.
 *
 * The names uname reports are the kernel's Utsname record, kept as byte strings (what
 * sethostname stored, byte for byte); /proc/sys/kernel/{hostname,domainname} show the same record.
 * syslog reads the log buffer through the same helpers as /proc/kmsg (src/fs/proc/kmsg.ts).
 */
import { fail } from '../lib/errors.js';
import { bytesToByteString, byteStringToUtf8, utf8Encode } from '../lib/bytestr.js';
import { EFAULT, EINVAL, EPERM } from '../uapi/errno.js';
import {
  CAP_SYS_ADMIN, CAP_SYSLOG, GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, SYSLOG_ACTION_CLEAR,
  SYSLOG_ACTION_CLOSE, SYSLOG_ACTION_CONSOLE_LEVEL, SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON,
  SYSLOG_ACTION_OPEN, SYSLOG_ACTION_READ, SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_READ_CLEAR,
  SYSLOG_ACTION_SIZE_BUFFER, SYSLOG_ACTION_SIZE_UNREAD,
} from '../uapi/misc.js';
import type { Task, Utsname } from '../kernel/index.js';
import { PAGE_SIZE, isNull, putStruct, toInt, toInt32, toUint32, userBuf } from '../mm/index.js';
import {
  syslogRead, syslogReadAll, syslogClear, syslogUnreadBytes, syslogConsoleOff, syslogConsoleOn,
  syslogConsoleLevel, SYSLOG_BUF_LEN,
} from '../fs/proc/index.js';
import { fillRandom } from '../drivers/index.js';
import type { SyscallDef } from './types.js';

// ---- uname, sethostname, setdomainname ---------------------------------------------------------

/** __NEW_UTS_LEN: each name holds at most 64 bytes plus a NUL. */
export const NEW_UTS_LEN = 64;
export const UTSNAME_SIZE = 6 * (NEW_UTS_LEN + 1);
const UTS_FIELDS: (keyof Utsname)[] = ['sysname', 'nodename', 'release', 'version', 'machine', 'domainname'];

function encodeUtsname(u: Utsname, out: Uint8Array): void {
  if (out.length < UTSNAME_SIZE) fail(EFAULT);
  out.fill(0, 0, UTSNAME_SIZE);
  UTS_FIELDS.forEach((f, i) => {
    const s = u[f];
    const n = Math.min(s.length, NEW_UTS_LEN);
    for (let j = 0; j < n; j++) out[i * (NEW_UTS_LEN + 1) + j] = s.charCodeAt(j) & 0xff;
  });
}

function sysUname(t: Task, buf: unknown): number {
  const u = t.kernel.uts;
  const bytes = {} as Utsname;
  for (const f of UTS_FIELDS) bytes[f] = u[f].slice(0, NEW_UTS_LEN);
  if (buf instanceof Uint8Array) { encodeUtsname(bytes, buf); return 0; }
  const text = {} as Utsname;
  for (const f of UTS_FIELDS) text[f] = byteStringToUtf8(bytes[f]);
  putStruct(buf, text, encodeUtsname);
  return 0;
}

/** sethostname/setdomainname: CAP_SYS_ADMIN, then 0 <= len <= 64, then copy len bytes. */
function setUtsField(t: Task, field: 'nodename' | 'domainname', nameArg: unknown, lenArg: unknown): number {
  if (!t.cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  const len = toInt32(lenArg);
  if (len < 0 || len > NEW_UTS_LEN) fail(EINVAL);
  let bytes: Uint8Array;
  if (typeof nameArg === 'string') bytes = utf8Encode(nameArg);
  else if (nameArg instanceof Uint8Array) bytes = nameArg;
  else if (len === 0 && isNull(nameArg)) bytes = new Uint8Array(0);
  else fail(EFAULT);
  if (bytes.length < len) fail(EFAULT);
  // The stored name ends at the first NUL, as the fixed-size array it is in Linux reads.
  let name = bytesToByteString(bytes, 0, len);
  const nul = name.indexOf('\0');
  if (nul >= 0) name = name.slice(0, nul);
  t.kernel.uts[field] = name;
  return 0;
}

// ---- sysinfo -----------------------------------------------------------------------------------

export const SYSINFO_SIZE = 112;
export interface Sysinfo {
  uptime: number; loads: [number, number, number]; totalram: number; freeram: number;
  sharedram: number; bufferram: number; totalswap: number; freeswap: number; procs: number;
  totalhigh: number; freehigh: number; mem_unit: number;
}

function encodeSysinfo(s: Sysinfo, out: Uint8Array): void {
  if (out.length < SYSINFO_SIZE) fail(EFAULT);
  out.fill(0, 0, SYSINFO_SIZE);
  const v = new DataView(out.buffer, out.byteOffset, SYSINFO_SIZE);
  v.setBigInt64(0, BigInt(s.uptime), true);
  s.loads.forEach((l, i) => v.setBigUint64(8 + 8 * i, BigInt(l), true));
  v.setBigUint64(32, BigInt(s.totalram), true);
  v.setBigUint64(40, BigInt(s.freeram), true);
  v.setBigUint64(48, BigInt(s.sharedram), true);
  v.setBigUint64(56, BigInt(s.bufferram), true);
  v.setBigUint64(64, BigInt(s.totalswap), true);
  v.setBigUint64(72, BigInt(s.freeswap), true);
  v.setUint16(80, s.procs, true);
  v.setBigUint64(88, BigInt(s.totalhigh), true);
  v.setBigUint64(96, BigInt(s.freehigh), true);
  v.setUint32(104, s.mem_unit, true);
}

/** do_sysinfo: on a 64-bit kernel everything fits, so mem_unit is 1 and sizes are bytes. */
export function doSysinfo(t: Task): Sysinfo {
  const k = t.kernel;
  const up = k.clock.sinceBootNs();
  const m = k.mem;
  let procs = 0;
  for (const x of k.tasks.values()) if (!x.exited) procs++;
  return {
    uptime: Math.floor(up / 1e9) + (up % 1e9 ? 1 : 0),
    loads: [0, 0, 0],
    totalram: (m.totalPages - m.reservedPages) * PAGE_SIZE,
    freeram: Math.max(0, m.freePages) * PAGE_SIZE,
    sharedram: m.pages('shmem') * PAGE_SIZE,
    bufferram: m.pages('buffers') * PAGE_SIZE,
    totalswap: 0, freeswap: 0,
    procs: procs & 0xffff,
    totalhigh: 0, freehigh: 0,
    mem_unit: 1,
  };
}

function sysSysinfo(t: Task, info: unknown): number {
  putStruct(info, doSysinfo(t), encodeSysinfo);
  return 0;
}

// ---- syslog ------------------------------------------------------------------------------------

/** syslog_action_restricted with dmesg_restrict = 0: only READ_ALL and SIZE_BUFFER are open to all. */
function syslogRestricted(type: number): boolean {
  return type !== SYSLOG_ACTION_READ_ALL && type !== SYSLOG_ACTION_SIZE_BUFFER;
}

async function sysSyslog(t: Task, typeArg: unknown, bufArg: unknown, lenArg: unknown): Promise<number> {
  const type = toInt32(typeArg);
  const len = toInt32(lenArg);
  const k = t.kernel;
  // check_syslog_permissions: CAP_SYSLOG, or (deprecated but still honoured) CAP_SYS_ADMIN.
  if (syslogRestricted(type) && !t.cred.capable(CAP_SYSLOG) && !t.cred.capable(CAP_SYS_ADMIN)) fail(EPERM);
  const userBuffer = (): Uint8Array | null => {
    if (isNull(bufArg) || len < 0) fail(EINVAL);
    if (len === 0) return null;
    return userBuf(bufArg, len);
  };
  switch (type) {
    case SYSLOG_ACTION_CLOSE: case SYSLOG_ACTION_OPEN: return 0;
    case SYSLOG_ACTION_READ: {
      const buf = userBuffer();
      return buf ? syslogRead(k, buf, false) : 0;
    }
    case SYSLOG_ACTION_READ_ALL: case SYSLOG_ACTION_READ_CLEAR: {
      const buf = userBuffer();
      return buf ? syslogReadAll(k.log, buf, type === SYSLOG_ACTION_READ_CLEAR) : 0;
    }
    case SYSLOG_ACTION_CLEAR: syslogClear(k.log); return 0;
    case SYSLOG_ACTION_CONSOLE_OFF: syslogConsoleOff(k.log); return 0;
    case SYSLOG_ACTION_CONSOLE_ON: syslogConsoleOn(k.log); return 0;
    case SYSLOG_ACTION_CONSOLE_LEVEL:
      if (len < 1 || len > 8) fail(EINVAL);
      syslogConsoleLevel(k.log, len);
      return 0;
    case SYSLOG_ACTION_SIZE_UNREAD: return syslogUnreadBytes(k.log);
    case SYSLOG_ACTION_SIZE_BUFFER: return SYSLOG_BUF_LEN;
    default: fail(EINVAL);
  }
}

// ---- getrandom ---------------------------------------------------------------------------------

/** What one getrandom call returns at most (INT_MAX >> (ENTROPY_SHIFT + 3)). */
export const GETRANDOM_MAX = 33554431;

function sysGetrandom(t: Task, bufArg: unknown, countArg: unknown, flagsArg: unknown): number {
  const flags = toUint32(flagsArg);
  if (flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) fail(EINVAL);
  if ((flags & (GRND_INSECURE | GRND_RANDOM)) === (GRND_INSECURE | GRND_RANDOM)) fail(EINVAL);
  let count = toInt(countArg);
  if (count < 0 || count > 0x7fffffff) count = 0x7fffffff; // size_t: huge counts are clamped, as INT_MAX
  count = Math.min(count, GETRANDOM_MAX);
  if (count === 0) return 0;
  // The host's generator is always seeded, so GRND_NONBLOCK never has to say EAGAIN.
  const buf = userBuf(bufArg, count);
  fillRandom(t.kernel, buf);
  return buf.length;
}

export const infoSyscalls: SyscallDef[] = [
  { name: 'uname', handler: sysUname },
  { name: 'sethostname', handler: (t, name, len) => setUtsField(t, 'nodename', name, len) },
  { name: 'setdomainname', handler: (t, name, len) => setUtsField(t, 'domainname', name, len) },
  { name: 'sysinfo', handler: sysSysinfo, support: 'partial', note: 'load averages are 0; no swap' },
  { name: 'syslog', handler: sysSyslog },
  { name: 'getrandom', handler: sysGetrandom },
];
