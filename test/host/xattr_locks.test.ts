/*
 * xattr, flock and fcntl locks: one table of cases (xattr_locks_cases.json), two kernels.
 * The host kernel runs it through xattr_locks.py (python3 reaches xattrs and fcntl locks, Node
 * does not) in a tmpfs directory, which checks the expectations themselves; ours runs it through
 * raw syscalls with two processes (init and a task made a thread-group leader).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { boot, NR, type KernelTask } from '../../src/lkl.js';
import { FakeHost } from '../../src/arch/fake/index.js';
import { errnoName } from '../../src/uapi/errno.js';
import { O_RDONLY, O_WRONLY, O_RDWR, O_PATH, O_APPEND, O_CREAT, O_TRUNC } from '../../src/uapi/fcntl.js';
import { S_IFIFO } from '../../src/uapi/stat.js';

// dist/test/host/ -> test/host/ in the source tree, where the table and the script live.
const srcDir = fileURLToPath(new URL('../../../test/host/', import.meta.url));
const casesPath = srcDir + 'xattr_locks_cases.json';
const scriptPath = srcDir + 'xattr_locks.py';

interface Step {
  p?: number; op: string; path?: string; fd?: string; target?: string; flags?: string | number;
  name?: string; pad?: number; value?: string; valueLen?: number; size?: number; nofollow?: boolean;
  lock?: number; cmd?: string; type?: string; whence?: number; start?: number | string; len?: number | string;
  pid?: number; async?: boolean; expect?: unknown;
}
interface Case { name: string; steps: Step[] }

const cases: Case[] = JSON.parse(readFileSync(casesPath, 'utf8')).cases;
const OPEN_FLAGS: Record<string, number> = { r: O_RDONLY, w: O_WRONLY, rw: O_RDWR, path: O_PATH, append: O_WRONLY | O_APPEND };
const CMDS: Record<string, number> = { F_GETLK: 5, F_SETLK: 6, F_SETLKW: 7, F_OFD_GETLK: 36, F_OFD_SETLK: 37, F_OFD_SETLKW: 38 };
const TYPES: Record<string, number> = { F_RDLCK: 0, F_WRLCK: 1, F_UNLCK: 2, bad: 9 };
const TYPE_NAMES = ['F_RDLCK', 'F_WRLCK', 'F_UNLCK'];

function want(s: Step): unknown { return s.async ? null : (s.expect ?? 'ok'); }

function errOr(r: number, ok: unknown): unknown { return r < 0 ? (errnoName[-r] ?? r) : ok; }

/** One step on our kernel, as the table's vocabulary. */
async function runStep(s: Step, k: KernelTask, fds: Map<string, number>, pids: Map<number, string>): Promise<unknown> {
  const sys = k.sys;
  const enc = new TextEncoder();
  const name = (s.name ?? '') + 'a'.repeat(s.pad ?? 0);
  const fd = s.fd !== undefined ? fds.get(s.fd) : undefined;
  const byFd = s.fd !== undefined && s.op !== 'open' && s.op !== 'close';
  const follow = !s.nofollow;
  switch (s.op) {
    case 'create': {
      const f = await sys.open(s.path!, O_CREAT | O_WRONLY | O_TRUNC, 0o644);
      if (f < 0) return errOr(f, 0);
      return errOr(await sys.close(f), 'ok');
    }
    case 'mkdir': return errOr(await sys.mkdir(s.path!, 0o755), 'ok');
    case 'symlink': return errOr(await sys.symlink(s.target!, s.path!), 'ok');
    case 'mkfifo': return errOr(await sys.mknod(s.path!, S_IFIFO | 0o644, 0), 'ok');
    case 'open': {
      const r = await sys.open(s.path!, OPEN_FLAGS[s.flags as string]!);
      if (r >= 0) fds.set(s.fd!, r);
      return errOr(r, 'ok');
    }
    case 'close': { const r = await sys.close(fd); fds.delete(s.fd!); return errOr(r, 'ok'); }
    case 'setx': {
      const v = s.valueLen !== undefined ? new Uint8Array(s.valueLen).fill(0x78) : enc.encode(s.value ?? '');
      const flags = (s.flags as number | undefined) ?? 0;
      const r = byFd ? await sys.fsetxattr(fd, name, v, v.length, flags)
        : await (follow ? sys.setxattr : sys.lsetxattr)(s.path, name, v, v.length, flags);
      return errOr(r, 'ok');
    }
    case 'getx': {
      const size = s.size!;
      const buf = size ? new Uint8Array(size) : null;
      const r = byFd ? await sys.fgetxattr(fd, name, buf, size) : await (follow ? sys.getxattr : sys.lgetxattr)(s.path, name, buf, size);
      if (r < 0 || size === 0) return errOr(r, r);
      return { value: new TextDecoder().decode(buf!.subarray(0, r)) };
    }
    case 'listx': {
      const size = s.size ?? 65536;
      const buf = size ? new Uint8Array(size) : null;
      const r = byFd ? await sys.flistxattr(fd, buf, size) : await (follow ? sys.listxattr : sys.llistxattr)(s.path, buf, size);
      if (r < 0 || s.size === 0) return errOr(r, r);
      const names = new TextDecoder().decode(buf!.subarray(0, r)).split('\0').filter((x) => x).sort();
      return { names };
    }
    case 'rmx': {
      const r = byFd ? await sys.fremovexattr(fd, name) : await (follow ? sys.removexattr : sys.lremovexattr)(s.path, name);
      return errOr(r, 'ok');
    }
    case 'flock': return errOr(await k.syscall(NR.flock, fd, s.lock), 'ok');
    case 'lk': {
      // The byte layout of struct flock (asm-generic 64-bit) on purpose: it is what C callers pass.
      const b = new Uint8Array(32);
      const v = new DataView(b.buffer);
      v.setInt16(0, TYPES[s.type!]!, true); v.setInt16(2, s.whence ?? 0, true);
      v.setBigInt64(8, BigInt(s.start!), true); v.setBigInt64(16, BigInt(s.len!), true); v.setInt32(24, s.pid ?? 0, true);
      const cmd = CMDS[s.cmd!]!;
      const r = await sys.fcntl(fd, cmd, b);
      if (r < 0 || (cmd !== 5 && cmd !== 36)) return errOr(r, 'ok');
      const type = v.getInt16(0, true);
      if (type === 2) return { type: 'F_UNLCK' };
      const pid = v.getInt32(24, true);
      return { type: TYPE_NAMES[type], start: Number(v.getBigInt64(8, true)), len: Number(v.getBigInt64(16, true)), pid: pids.get(pid) ?? pid };
    }
    default: throw new Error(`unknown op ${s.op}`);
  }
}

async function runOurs(c: Case): Promise<unknown[]> {
  const k = await boot({ cmdline: 'mem=32M', host: new FakeHost() });
  try {
    const p1 = k.task();
    assert.equal(await p1.syscall(NR.new_thread_group_leader), 0);
    const dir = '/case';
    assert.equal(await k.sys.mkdir(dir, 0o755), 0);
    const procs = [k, p1];
    for (const p of procs) assert.equal(await p.sys.chdir(dir), 0);
    const pids = new Map([[k.pid, 'p0'], [p1.pid, 'p1']]);
    const fds = [new Map<string, number>(), new Map<string, number>()];
    const pending: (Promise<unknown> | undefined)[] = [];
    const results: unknown[] = [];
    for (const s of c.steps) {
      const p = s.p ?? 0;
      if (s.op === 'wait') { results.push(await pending[p]); pending[p] = undefined; continue; }
      const r = runStep(s, procs[p]!, fds[p]!, pids);
      if (s.async) {
        pending[p] = r;
        results.push(null);
        // Let the call run until it blocks, as the host's worker would.
        for (let i = 0; i < 50; i++) await Promise.resolve();
        continue;
      }
      results.push(await r);
    }
    return results;
  } finally { await k.halt(); }
}

for (const c of cases) {
  test(`ours: ${c.name}`, async () => {
    const got = await runOurs(c);
    c.steps.forEach((s, i) => {
      assert.deepEqual(got[i], want(s), `step ${i} (${s.op} ${s.name ?? s.cmd ?? s.path ?? ''}): got ${JSON.stringify(got[i])}, want ${JSON.stringify(want(s))}`);
    });
  });
}

function havePython(): boolean {
  try { execFileSync('python3', ['-c', 'import os; os.setxattr'], { stdio: 'ignore' }); return true; } catch { return false; }
}

test('host: the expectations hold on the host kernel', (t) => {
  if (!havePython()) { t.skip('python3 not available'); return; }
  if (!existsSync('/dev/shm')) { t.skip('no /dev/shm tmpfs'); return; }
  const out = JSON.parse(execFileSync('python3', [scriptPath, casesPath, '/dev/shm'], { encoding: 'utf8', timeout: 60_000 }));
  for (const c of cases) {
    const got = out[c.name] as unknown[];
    c.steps.forEach((s, i) => {
      assert.deepEqual(got[i], want(s), `${c.name} step ${i} (${s.op}): got ${JSON.stringify(got[i])}, want ${JSON.stringify(want(s))}`);
    });
  }
});
