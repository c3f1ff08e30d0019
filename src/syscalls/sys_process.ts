/*
 * Process identity and limits: pids, credentials (set*id with Linux's capability rules), umask,
 * rlimits, scheduling stubs, new_thread_group_leader (LKL), and reboot (the halt path).
 */
import { fail } from '../lib/errors.js';
import { EPERM, EINVAL, EFAULT, ESRCH } from '../uapi/errno.js';
import {
  CAP_SETUID, CAP_SETGID, CAP_SYS_RESOURCE, CAP_SYS_BOOT, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
  LINUX_REBOOT_MAGIC2A, LINUX_REBOOT_MAGIC2B, LINUX_REBOOT_MAGIC2C, LINUX_REBOOT_CMD_RESTART,
  LINUX_REBOOT_CMD_HALT, LINUX_REBOOT_CMD_POWER_OFF, LINUX_REBOOT_CMD_RESTART2,
  LINUX_REBOOT_CMD_CAD_ON, LINUX_REBOOT_CMD_CAD_OFF, RLIM_NLIMITS, RLIMIT_NOFILE, NR_OPEN,
  RLIM_INFINITY,
} from '../uapi/misc.js';
import type { Task } from '../kernel/index.js';
import { RLIM_INF } from '../kernel/index.js';
import { toInt, toInt32, toUint32, isNull } from '../mm/index.js';
import type { SyscallDef } from './types.js';

const NOCHANGE = 0xffffffff;

function idArg(v: unknown): number { return toUint32(v); }

/** Linux's uid change rules, then capability fixup (commoncap). */
function setuids(t: Task, r: number, e: number, s: number, fsuidFollows = true): void {
  const c = t.cred;
  const priv = c.capable(CAP_SETUID);
  const allowed = (id: number) => id === NOCHANGE || priv || id === c.uid || id === c.euid || id === c.suid;
  if (!allowed(r) || !allowed(e) || !allowed(s)) fail(EPERM);
  const old = { uid: c.uid, euid: c.euid, suid: c.suid };
  const oldFs = c.fsuid;
  const n = c.clone();
  if (r !== NOCHANGE) n.uid = r;
  if (e !== NOCHANGE) n.euid = e;
  if (s !== NOCHANGE) n.suid = s;
  if (fsuidFollows) n.fsuid = n.euid;
  n.fixupAfterSetuid(old);
  n.fixupAfterSetfsuid(oldFs);
  t.cred = n;
}
function setgids(t: Task, r: number, e: number, s: number): void {
  const c = t.cred;
  const priv = c.capable(CAP_SETGID);
  const allowed = (id: number) => id === NOCHANGE || priv || id === c.gid || id === c.egid || id === c.sgid;
  if (!allowed(r) || !allowed(e) || !allowed(s)) fail(EPERM);
  const n = c.clone();
  if (r !== NOCHANGE) n.gid = r;
  if (e !== NOCHANGE) n.egid = e;
  if (s !== NOCHANGE) n.sgid = s;
  n.fsgid = n.egid;
  t.cred = n;
}

function putIds(out: unknown[], ids: number[]): number {
  for (let i = 0; i < 3; i++) {
    const o = out[i];
    if (o instanceof Uint8Array) new DataView(o.buffer, o.byteOffset, 4).setUint32(0, ids[i]!, true);
    else if (typeof o === 'object' && o !== null) (o as { value: number }).value = ids[i]!;
    else fail(EFAULT);
  }
  return 0;
}

/** struct rlimit64: two u64 (RLIM_INFINITY = ~0). */
function readRlimit(arg: unknown): [number, number] {
  if (arg instanceof Uint8Array) {
    const v = new DataView(arg.buffer, arg.byteOffset, 16);
    const a = v.getBigUint64(0, true), b = v.getBigUint64(8, true);
    return [a === RLIM_INFINITY ? RLIM_INF : Number(a), b === RLIM_INFINITY ? RLIM_INF : Number(b)];
  }
  if (typeof arg === 'object' && arg !== null) {
    const r = arg as { cur?: number | bigint; max?: number | bigint };
    const conv = (x: number | bigint | undefined) => x === undefined || x === Infinity || x === RLIM_INFINITY ? RLIM_INF : Number(x);
    return [conv(r.cur), conv(r.max)];
  }
  fail(EFAULT);
}
function writeRlimit(arg: unknown, r: [number, number]): void {
  if (arg instanceof Uint8Array) {
    const v = new DataView(arg.buffer, arg.byteOffset, 16);
    v.setBigUint64(0, r[0] === RLIM_INF ? RLIM_INFINITY : BigInt(r[0]), true);
    v.setBigUint64(8, r[1] === RLIM_INF ? RLIM_INFINITY : BigInt(r[1]), true);
    return;
  }
  if (typeof arg === 'object' && arg !== null) { Object.assign(arg, { cur: r[0], max: r[1] }); return; }
  fail(EFAULT);
}

function doPrlimit(t: Task, pid: number, resource: number, newLim: unknown, oldLim: unknown): number {
  if (resource < 0 || resource >= RLIM_NLIMITS) fail(EINVAL);
  const target = pid === 0 ? t : t.kernel.tasks.get(pid) ?? fail(ESRCH);
  const cur = target.rlimits[resource]!;
  let next: [number, number] | undefined;
  if (!isNull(newLim)) {
    next = readRlimit(newLim);
    if (next[0] > next[1]) fail(EINVAL);
    if (resource === RLIMIT_NOFILE && next[1] > NR_OPEN) fail(EPERM);
    if (next[1] > cur[1] && !t.cred.capable(CAP_SYS_RESOURCE)) fail(EPERM);
  }
  if (!isNull(oldLim)) writeRlimit(oldLim, [cur[0], cur[1]]);
  if (next) target.rlimits[resource] = next;
  return 0;
}

export const processSyscalls: SyscallDef[] = [
  { name: 'getpid', handler: (t) => t.tgid },
  { name: 'getppid', handler: (t) => t.ppid },
  { name: 'gettid', handler: (t) => t.tid },
  { name: 'getuid', handler: (t) => t.cred.uid },
  { name: 'geteuid', handler: (t) => t.cred.euid },
  { name: 'getgid', handler: (t) => t.cred.gid },
  { name: 'getegid', handler: (t) => t.cred.egid },
  { name: 'setuid', handler: (t, uid) => {
    const u = idArg(uid);
    if (t.cred.capable(CAP_SETUID)) setuids(t, u, u, u);
    else setuids(t, NOCHANGE, u, NOCHANGE);
    return 0;
  } },
  { name: 'setgid', handler: (t, gid) => {
    const g = idArg(gid);
    if (t.cred.capable(CAP_SETGID)) setgids(t, g, g, g);
    else setgids(t, NOCHANGE, g, NOCHANGE);
    return 0;
  } },
  { name: 'setreuid', handler: (t, r, e) => {
    const ru = idArg(r), eu = idArg(e);
    const c = t.cred;
    // The saved uid follows the new euid when ruid is set or euid differs from the old ruid.
    const s = ru !== NOCHANGE || (eu !== NOCHANGE && eu !== c.uid) ? (eu !== NOCHANGE ? eu : c.euid) : NOCHANGE;
    if (!c.capable(CAP_SETUID)) {
      if (ru !== NOCHANGE && ru !== c.uid && ru !== c.euid) fail(EPERM);
      if (eu !== NOCHANGE && eu !== c.uid && eu !== c.euid && eu !== c.suid) fail(EPERM);
    }
    setuids(t, ru, eu, s === NOCHANGE ? NOCHANGE : s);
    return 0;
  } },
  { name: 'setregid', handler: (t, r, e) => {
    const rg = idArg(r), eg = idArg(e);
    const c = t.cred;
    const s = rg !== NOCHANGE || (eg !== NOCHANGE && eg !== c.gid) ? (eg !== NOCHANGE ? eg : c.egid) : NOCHANGE;
    setgids(t, rg, eg, s);
    return 0;
  } },
  { name: 'setresuid', handler: (t, r, e, s) => { setuids(t, idArg(r), idArg(e), idArg(s)); return 0; } },
  { name: 'setresgid', handler: (t, r, e, s) => { setgids(t, idArg(r), idArg(e), idArg(s)); return 0; } },
  { name: 'getresuid', handler: (t, r, e, s) => putIds([r, e, s], [t.cred.uid, t.cred.euid, t.cred.suid]) },
  { name: 'getresgid', handler: (t, r, e, s) => putIds([r, e, s], [t.cred.gid, t.cred.egid, t.cred.sgid]) },
  { name: 'setfsuid', handler: (t, uid) => {
    const c = t.cred, old = c.fsuid, u = idArg(uid);
    if (u !== NOCHANGE && (u === c.uid || u === c.euid || u === c.suid || u === c.fsuid || c.capable(CAP_SETUID))) {
      const n = c.clone(); n.fsuid = u; n.fixupAfterSetfsuid(old); t.cred = n;
    }
    return old;
  } },
  { name: 'setfsgid', handler: (t, gid) => {
    const c = t.cred, old = c.fsgid, g = idArg(gid);
    if (g !== NOCHANGE && (g === c.gid || g === c.egid || g === c.sgid || g === c.fsgid || c.capable(CAP_SETGID))) {
      const n = c.clone(); n.fsgid = g; t.cred = n;
    }
    return old;
  } },
  { name: 'getgroups', handler: (t, size, list) => {
    const n = toInt32(size);
    if (n < 0) fail(EINVAL);
    const g = t.cred.groups;
    if (n === 0) return g.length;
    if (n < g.length) fail(EINVAL);
    if (list instanceof Uint8Array) { const v = new DataView(list.buffer, list.byteOffset, list.byteLength); g.forEach((x, i) => v.setUint32(i * 4, x, true)); }
    else if (Array.isArray(list)) { list.length = 0; list.push(...g); }
    else fail(EFAULT);
    return g.length;
  } },
  { name: 'setgroups', handler: (t, size, list) => {
    const n = toInt32(size);
    if (n < 0 || n > 65536) fail(EINVAL);
    if (!t.cred.capable(CAP_SETGID)) fail(EPERM);
    let g: number[];
    if (list instanceof Uint8Array) { const v = new DataView(list.buffer, list.byteOffset, list.byteLength); g = []; for (let i = 0; i < n; i++) g.push(v.getUint32(i * 4, true)); }
    else if (Array.isArray(list)) g = list.slice(0, n).map((x) => Number(x) >>> 0);
    else if (n === 0) g = [];
    else fail(EFAULT);
    const c = t.cred.clone(); c.groups = [...new Set(g)].sort((a, b) => a - b); t.cred = c;
    return 0;
  } },
  { name: 'umask', handler: (t, mask) => { const old = t.fs.umask; t.fs.umask = toUint32(mask) & 0o777; return old; } },
  { name: 'prlimit64', handler: (t, pid, res, nl, ol) => doPrlimit(t, toInt32(pid), toInt32(res), nl, ol) },
  { name: 'getrlimit', handler: (t, res, ol) => doPrlimit(t, 0, toInt32(res), null, ol) },
  { name: 'setrlimit', handler: (t, res, nl) => doPrlimit(t, 0, toInt32(res), nl, null) },
  { name: 'sched_yield', handler: async () => { await new Promise<void>((r) => queueMicrotaskSafe(r)); return 0; } },
  { name: 'getpgid', handler: (t, pid) => { const p = toInt32(pid); if (p && !t.kernel.tasks.has(p)) fail(ESRCH); return p ? t.kernel.tasks.get(p)!.tgid : t.tgid; }, support: 'partial', note: 'process groups are the thread group' },
  { name: 'getsid', handler: (t) => t.kernel.init.tgid, support: 'partial', note: 'one session' },
  { name: 'setsid', handler: (t) => t.tgid, support: 'partial', note: 'one session' },
  { name: 'setpgid', handler: () => 0, support: 'partial', note: 'process groups are not modelled' },
  { name: 'set_tid_address', handler: (t) => t.tid },
  { name: 'new_thread_group_leader', handler: (t) => { t.kernel.newThreadGroupLeader(t); return 0; } },
  {
    name: 'reboot', handler: async (t, m1, m2, cmd) => {
      if (!t.cred.capable(CAP_SYS_BOOT)) fail(EPERM);
      const a = toUint32(m1), b = toUint32(m2), c = toUint32(cmd);
      if (a !== LINUX_REBOOT_MAGIC1 || ![LINUX_REBOOT_MAGIC2, LINUX_REBOOT_MAGIC2A, LINUX_REBOOT_MAGIC2B, LINUX_REBOOT_MAGIC2C].includes(b)) fail(EINVAL);
      switch (c) {
        case LINUX_REBOOT_CMD_CAD_ON: case LINUX_REBOOT_CMD_CAD_OFF: return 0;
        case LINUX_REBOOT_CMD_RESTART: case LINUX_REBOOT_CMD_RESTART2:
          await t.kernel.shutdown('reboot: Restarting system'); return 0;
        case LINUX_REBOOT_CMD_HALT: await t.kernel.shutdown('reboot: System halted'); return 0;
        case LINUX_REBOOT_CMD_POWER_OFF: await t.kernel.shutdown('reboot: Power down'); return 0;
        default: fail(EINVAL);
      }
    },
  },
];

/** A yield point that is not a timer: lets other tasks' ready continuations run. */
function queueMicrotaskSafe(fn: () => void): void { Promise.resolve().then(fn); }
