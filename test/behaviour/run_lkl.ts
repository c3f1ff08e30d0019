/*
 * Executor for our kernel: boots one kernel on the fake host and runs every case as its own task
 * (new_thread_group_leader: private cwd, umask, fd table and credentials) in its own scratch
 * directory /bt/<index>, mode 0777. Each step of the scenario language (dsl.ts) becomes one call
 * of k.sys.* with buffers laid out as the asm-generic ABI says; -errno becomes its name.
 */
import { boot, type KernelTask } from '../../src/lkl.js';
import { FakeHost } from '../../src/arch/fake/index.js';
import { errnoName, ENOSYS } from '../../src/uapi/errno.js';
import { AT_FDCWD, AT_REMOVEDIR, O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_DIRECTORY, O_CLOEXEC } from '../../src/uapi/fcntl.js';
import { UTIME_NOW, UTIME_OMIT, S_IFMT } from '../../src/uapi/stat.js';
import type { Arg, Case, Got, Op, Result } from './dsl.js';

/** Result of one kernel call, or an error name. */
type Val = Got;

class CaseError extends Error {}

const TYPES: Record<number, string> = {
  0o140000: 'sock', 0o120000: 'lnk', 0o100000: 'reg', 0o060000: 'blk', 0o040000: 'dir', 0o020000: 'chr', 0o010000: 'fifo',
};

function bytes(s: string): Uint8Array { return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff); }
function str(b: Uint8Array): string { let s = ''; for (const x of b) s += String.fromCharCode(x); return s; }
function cstr(b: Uint8Array, off = 0): string { let e = off; while (e < b.length && b[e] !== 0) e++; return str(b.subarray(off, e)); }

/** Fields of struct stat (asm-generic 64-bit) by name. */
function statField(b: Uint8Array, field: string): Val {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const mode = v.getUint32(16, true);
  switch (field) {
    case 'type': return TYPES[mode & S_IFMT] ?? `type${mode & S_IFMT}`;
    case 'perm': return mode & 0o7777;
    case 'mode': return mode;
    case 'ino': return Number(v.getBigUint64(8, true));
    case 'nlink': return v.getUint32(20, true);
    case 'uid': return v.getUint32(24, true);
    case 'gid': return v.getUint32(28, true);
    case 'rdev': return Number(v.getBigUint64(32, true));
    case 'size': return Number(v.getBigInt64(48, true));
    case 'atime': return Number(v.getBigInt64(72, true));
    case 'atime_nsec': return Number(v.getBigUint64(80, true));
    case 'mtime': return Number(v.getBigInt64(88, true));
    case 'mtime_nsec': return Number(v.getBigUint64(96, true));
    default: throw new CaseError(`unknown stat field ${field}`);
  }
}

/** Fields of struct statx by name. */
function statxField(b: Uint8Array, field: string): Val {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const mode = v.getUint16(28, true);
  switch (field) {
    case 'basic': return v.getUint32(0, true) & 0x7ff;
    case 'type': return TYPES[mode & S_IFMT] ?? `type${mode & S_IFMT}`;
    case 'perm': return mode & 0o7777;
    case 'nlink': return v.getUint32(16, true);
    case 'uid': return v.getUint32(20, true);
    case 'size': return Number(v.getBigUint64(40, true));
    default: throw new CaseError(`unknown statx field ${field}`);
  }
}

function timespecs(a: Arg, m: Arg): Uint8Array | null {
  if (a === null && m === null) return null;
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  [a, m].forEach((t, i) => {
    let sec = 0, nsec: number;
    if (t === 'NOW') nsec = UTIME_NOW;
    else if (t === 'OMIT') nsec = UTIME_OMIT;
    else { const p = t as number[]; sec = p[0]!; nsec = p[1]!; }
    v.setBigInt64(i * 16, BigInt(sec), true);
    v.setBigInt64(i * 16 + 8, BigInt(nsec), true);
  });
  return b;
}

function names(buf: Uint8Array, n: number, out: string[]): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off < n;) {
    const reclen = v.getUint16(off + 16, true);
    out.push(cstr(buf, off + 19));
    off += reclen;
  }
}

/** Run one step as task `t`; `root` is the case's scratch path (for getcwd). */
async function step(t: KernelTask, op: Op, root: string): Promise<Val> {
  const s = t.sys;
  const [name, ...a] = op;
  const n = (i: number, d?: number): number => {
    const x = a[i];
    if (x === undefined && d !== undefined) return d;
    if (typeof x !== 'number') throw new CaseError(`${name}: argument ${i} is not a number: ${JSON.stringify(x)}`);
    return x;
  };
  const p = (i: number): string => a[i] as string;
  const r = (x: number, ok: (x: number) => Val | Promise<Val> = (v) => v): Val | Promise<Val> => {
    if (typeof x !== 'number') return 'BADRET';
    return x < 0 ? errnoName[-x] ?? `E${-x}` : ok(x);
  };
  switch (name) {
    case 'open': return r(await s.openat(AT_FDCWD, p(0), n(1), n(2, 0)));
    case 'openat': return r(await s.openat(n(0), p(1), n(2), n(3, 0)));
    case 'close': return r(await s.close(n(0)));
    case 'read': { const b = new Uint8Array(n(1)); return r(await s.read(n(0), b, b.length), (k) => str(b.subarray(0, k))); }
    case 'pread': { const b = new Uint8Array(n(1)); return r(await s.pread64(n(0), b, b.length, n(2)), (k) => str(b.subarray(0, k))); }
    case 'write': { const b = bytes(p(1)); return r(await s.write(n(0), b, b.length)); }
    case 'pwrite': { const b = bytes(p(1)); return r(await s.pwrite64(n(0), b, b.length, n(2))); }
    case 'lseek': return r(await s.lseek(n(0), n(1), n(2)));
    case 'stat': { const b = new Uint8Array(128); return r(await s.newfstatat(AT_FDCWD, p(0), b, n(2, 0)), () => statField(b, p(1))); }
    case 'statat': { const b = new Uint8Array(128); return r(await s.newfstatat(n(0), p(1), b, n(3)), () => statField(b, p(2))); }
    case 'fstat': { const b = new Uint8Array(128); return r(await s.fstat(n(0), b), () => statField(b, p(1))); }
    case 'statx': { const b = new Uint8Array(256); return r(await s.statx(n(0), p(1), n(2), n(3), b), () => statxField(b, p(4))); }
    case 'mkdir': return r(await s.mkdirat(AT_FDCWD, p(0), n(1)));
    case 'mknod': return r(await s.mknodat(AT_FDCWD, p(0), n(1), n(2, 0)));
    case 'unlink': return r(await s.unlinkat(AT_FDCWD, p(0), 0));
    case 'rmdir': return r(await s.unlinkat(AT_FDCWD, p(0), AT_REMOVEDIR));
    case 'unlinkat': return r(await s.unlinkat(n(0), p(1), n(2)));
    case 'rename': return r(await s.renameat2(AT_FDCWD, p(0), AT_FDCWD, p(1), n(2, 0)));
    case 'link': return r(await s.linkat(AT_FDCWD, p(0), AT_FDCWD, p(1), n(2, 0)));
    case 'linkat': return r(await s.linkat(n(0), p(1), AT_FDCWD, p(2), n(3)));
    case 'chmod2': return r(await s.fchmodat2(AT_FDCWD, p(0), n(1), n(2)));
    case 'symlink': return r(await s.symlinkat(p(0), AT_FDCWD, p(1)));
    case 'readlink': { const b = new Uint8Array(Math.max(0, n(1))); return r(await s.readlinkat(n(2, AT_FDCWD), p(0), b, n(1)), (k) => str(b.subarray(0, k))); }
    case 'chmod': return r(await s.fchmodat(AT_FDCWD, p(0), n(1)));
    case 'fchmod': return r(await s.fchmod(n(0), n(1)));
    case 'chown': return r(await s.fchownat(AT_FDCWD, p(0), n(1), n(2), n(3, 0)));
    case 'fchown': return r(await s.fchown(n(0), n(1), n(2)));
    case 'utimens': return r(await s.utimensat(AT_FDCWD, p(0), timespecs(a[1]!, a[2]!), n(3, 0)));
    case 'futimens': return r(await s.utimensat(n(0), null, timespecs(a[1]!, a[2]!), 0));
    case 'truncate': return r(await s.truncate(p(0), n(1)));
    case 'ftruncate': return r(await s.ftruncate(n(0), n(1)));
    case 'fallocate': return r(await s.fallocate(n(0), n(1), n(2), n(3)));
    case 'access': return r(await s.faccessat(AT_FDCWD, p(0), n(1)));
    case 'access2': return r(await s.faccessat2(n(3, AT_FDCWD), p(0), n(1), n(2)));
    case 'dup': return r(await s.dup(n(0)));
    case 'dup2': return r(await s.dup2(n(0), n(1)));
    case 'dup3': return r(await s.dup3(n(0), n(1), n(2)));
    case 'fcntl': return r(await s.fcntl(n(0), n(1), n(2, 0)));
    case 'chdir': return r(await s.chdir(p(0)));
    case 'fchdir': return r(await s.fchdir(n(0)));
    case 'getcwd': {
      const b = new Uint8Array(n(0));
      return r(await s.getcwd(b, n(0)), () => {
        const cwd = cstr(b);
        return cwd === root ? '~' : cwd.startsWith(root + '/') ? '~' + cwd.slice(root.length) : cwd;
      });
    }
    case 'umask': return r(await s.umask(n(0)));
    case 'getdents': {
      const fd = await s.openat(AT_FDCWD, p(0), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      if (fd < 0) return r(fd);
      const out: string[] = [];
      const b = new Uint8Array(4096);
      try {
        for (;;) {
          const k = await s.getdents64(fd, b, b.length);
          if (k < 0) return r(k);
          if (k === 0) break;
          names(b, k, out);
        }
      } finally { await s.close(fd); }
      return out.sort().join(' ');
    }
    case 'getdentsfd': { const b = new Uint8Array(n(1)); return r(await s.getdents64(n(0), b, b.length)); }
    case 'fsync': return r(await s.fsync(n(0)));
    case 'fdatasync': return r(await s.fdatasync(n(0)));
    case 'sync': return r(await s.sync());
    case 'getpid': case 'gettid': case 'getppid': case 'getuid': case 'geteuid': case 'getgid':
      return r(await s[name]());
    case 'uname': { const b = new Uint8Array(390); return r(await s.uname(b), () => cstr(b, 0)); }
    case 'pipe': {
      const b = new Uint8Array(8);
      return r(await s.pipe2(b, n(0, 0)), () => { const v = new DataView(b.buffer); return [v.getInt32(0, true), v.getInt32(4, true)]; });
    }
    case 'become': {
      const [uid, gid] = [n(0), n(1)];
      for (const x of [await s.setgroups(0, null), await s.setresgid(gid, gid, gid), await s.setresuid(uid, uid, uid)]) if (x < 0) return r(x);
      return 0;
    }
    case 'writefile': {
      const fd = await s.openat(AT_FDCWD, p(0), O_WRONLY | O_CREAT | O_TRUNC, n(2, 0o644));
      if (fd < 0) return r(fd);
      const m = await s.fchmod(fd, n(2, 0o644)); // the exact mode, whatever the umask
      if (m < 0) { await s.close(fd); return r(m); }
      const b = bytes(p(1));
      const w = await s.write(fd, b, b.length);
      await s.close(fd);
      return w < 0 ? r(w) : w === b.length ? 0 : 'ESHORTWRITE';
    }
    case 'readfile': {
      const fd = await s.openat(AT_FDCWD, p(0), O_RDONLY, 0);
      if (fd < 0) return r(fd);
      let out = '';
      const b = new Uint8Array(65536);
      try {
        for (;;) {
          const k = await s.read(fd, b, b.length);
          if (k < 0) return r(k);
          if (k === 0) break;
          out += str(b.subarray(0, k));
        }
      } finally { await s.close(fd); }
      return out;
    }
    case 'same': return a[0] === a[1] ? 1 : 0;
    case 'setxattr': { const v = bytes(p(2)); return r(await s.setxattr(p(0), p(1), v, v.length, n(3, 0))); }
    case 'getxattr': { const b = new Uint8Array(n(2, 256)); return r(await s.getxattr(p(0), p(1), b, b.length), (k) => str(b.subarray(0, k))); }
    case 'listxattr': {
      const b = new Uint8Array(4096);
      return r(await s.listxattr(p(0), b, b.length), (k) => str(b.subarray(0, k)).split('\0').filter(Boolean).sort().join(' '));
    }
    case 'removexattr': return r(await s.removexattr(p(0), p(1)));
    case 'flock': return r(await s.flock(n(0), n(1)));
    default: throw new CaseError(`unknown op ${name}`);
  }
}

/** '$N', '$N.i', '$op' → the earlier result; anything else as is. */
function resolve(arg: Arg, res: Val[], opRes: Val | undefined): Arg {
  if (Array.isArray(arg)) return arg.map((x) => resolve(x, res, opRes));
  if (typeof arg !== 'string' || !/^\$(\d+|op)(\.\d+)?$/.test(arg)) return arg;
  const [head, idx] = arg.slice(1).split('.');
  let v: Val | undefined = head === 'op' ? opRes : res[Number(head)];
  if (idx !== undefined) v = Array.isArray(v) ? v[Number(idx)] : undefined;
  if (v === undefined) throw new CaseError(`unresolved reference ${arg}`);
  return v as Arg;
}

function errOf(v: Val): boolean { return typeof v === 'string' && /^E[A-Z0-9]+$/.test(v); }

const STEP_TIMEOUT_MS = 5000;
async function timed(p: Promise<Val>): Promise<Val> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const to = new Promise<Val>((res) => { timer = setTimeout(() => res('TIMEOUT'), STEP_TIMEOUT_MS); });
  try { return await Promise.race([p, to]); } finally { clearTimeout(timer); }
}

export interface LklResult extends Result { enosys?: boolean }

/**
 * Run every case on a freshly booted kernel; one result per case, in order. `probes` maps a
 * pending topic to one call: a topic whose probe says ENOSYS marks its cases `enosys`.
 */
export async function runLkl(cases: Case[], probes: Record<string, Op> = {}): Promise<LklResult[]> {
  const k = await boot({ cmdline: 'mem=64M', host: new FakeHost() });
  const out: LklResult[] = [];
  try {
    await k.sys.mkdir('/bt', 0o777);
    await k.sys.chmod('/bt', 0o777);
    const missing = new Set<string>();
    for (const [topic, probe] of Object.entries(probes)) {
      const t = k.task();
      await t.sys.new_thread_group_leader();
      await t.sys.chdir('/bt');
      if (await step(t, probe, '/bt').catch(() => 'ENOSYS') === 'ENOSYS') missing.add(topic);
      await t.exit().catch(() => {});
    }
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const root = `/bt/${i}`;
      let enosys = c.pendingOn !== undefined && missing.has(c.pendingOn);
      const track = (v: Val): Val => { if (v === 'ENOSYS') enosys = true; return v; };
      let got: Got;
      const t = k.task();
      try {
        for (const x of [await k.sys.mkdir(root, 0o777), await k.sys.chmod(root, 0o777),
          await t.sys.new_thread_group_leader(), await t.sys.chdir(root)]) {
          if (x < 0) throw new CaseError(`scratch setup failed: ${errnoName[-x]}`);
        }
        await t.sys.umask(0o022);
        const res: Val[] = [];
        got = await (async (): Promise<Got> => {
          for (const [j, st] of (c.setup ?? []).entries()) {
            const v = track(await timed(step(t, resolve(st, res, undefined) as Op, root)));
            if (errOf(v) || v === 'TIMEOUT') return `setup[${j}] ${st[0]}: ${v}`;
            res.push(v);
          }
          const main = track(await timed(step(t, resolve(c.op, res, undefined) as Op, root)));
          if (!c.post?.length) return main;
          const all: Got[] = [main];
          for (const [pop] of c.post) all.push(track(await timed(step(t, resolve(pop, res, main) as Op, root))));
          return all;
        })();
      } catch (e) {
        got = e instanceof CaseError ? `ERROR ${e.message}` : `EXCEPTION ${(e as Error).stack ?? e}`;
      }
      await t.exit().catch(() => {});
      out.push(enosys ? { name: c.name, got, enosys } : { name: c.name, got });
    }
  } finally {
    await k.halt();
  }
  return out;
}

export { ENOSYS };
