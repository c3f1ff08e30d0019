/*
 * Socket behaviour cases (socket_cases.ts) on our kernel and on the host Linux (socket_host.py,
 * which extends run_host.py with the socket operations). Each case must give its expected result
 * on both, so an expectation that is wrong about Linux fails on the host first.
 *
 *   npx tsc -p . && node --test dist/test/behaviour/socket.test.js
 *   BEHAVIOUR_ONLY=<substring> narrows the run to matching case names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { boot, type KernelTask } from '../../src/lkl.js';
import { FakeHost } from '../../src/arch/fake/index.js';
import { errnoName } from '../../src/uapi/errno.js';
import { AT_FDCWD, O_WRONLY, O_CREAT, O_TRUNC } from '../../src/uapi/fcntl.js';
import { S_IFMT } from '../../src/uapi/stat.js';
import { socketCases } from './socket_cases.js';
import { caseMatches, show, showWant, type Arg, type Case, type Got, type Op } from './dsl.js';

const only = process.env['BEHAVIOUR_ONLY'];
const cases: Case[] = only ? socketCases.filter((c) => c.name.includes(only)) : socketCases;

function bytes(s: string): Uint8Array { return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff); }
function str(b: Uint8Array): string { let s = ''; for (const x of b) s += String.fromCharCode(x); return s; }

/** The ABI bytes of a sockaddr_un for a case's name ('' autobind, '@x' abstract, else a path + NUL). */
function sockaddr(name: string): Uint8Array {
  const body = name === '' ? '' : name.startsWith('@') ? '\0' + name.slice(1) : name + '\0';
  const b = new Uint8Array(2 + body.length);
  b[0] = 1;
  b.set(bytes(body), 2);
  return b;
}

class CaseError extends Error {}
const TYPES: Record<number, string> = { 0o140000: 'sock', 0o100000: 'reg', 0o040000: 'dir', 0o010000: 'fifo' };

async function step(t: KernelTask, op: Op): Promise<Got> {
  const s = t.sys;
  const [name, ...a] = op;
  const n = (i: number, d?: number): number => {
    const x = a[i];
    if (x === undefined && d !== undefined) return d;
    if (typeof x !== 'number') throw new CaseError(`${name}: argument ${i} is not a number: ${JSON.stringify(x)}`);
    return x;
  };
  const p = (i: number): string => a[i] as string;
  const r = (x: number, ok: (x: number) => Got = (v) => v): Got => (x < 0 ? errnoName[-x] ?? `E${-x}` : ok(x));
  switch (name) {
    case 'socket': return r(await s.socket(n(0), n(1), n(2, 0)));
    case 'socketpair': { const sv = new Int32Array(2); return r(await s.socketpair(n(0), n(1), 0, sv), () => [sv[0]!, sv[1]!]); }
    case 'bind': { const b = sockaddr(p(1)); return r(await s.bind(n(0), b, b.length)); }
    case 'connect': { const b = sockaddr(p(1)); return r(await s.connect(n(0), b, b.length)); }
    case 'listen': return r(await s.listen(n(0), n(1)));
    case 'accept': return r(await s.accept4(n(0), null, null, n(1, 0)));
    case 'send': { const d = bytes(p(1)); return r(await s.sendto(n(0), d, d.length, n(2, 0), null, 0)); }
    case 'sendto': { const d = bytes(p(1)); const b = sockaddr(p(2)); return r(await s.sendto(n(0), d, d.length, n(3, 0), b, b.length)); }
    case 'recv': case 'recvlen': {
      const b = new Uint8Array(n(1));
      return r(await s.recvfrom(n(0), b, b.length, n(2, 0), null, null), (k) => (name === 'recv' ? str(b.subarray(0, Math.min(k, b.length))) : k));
    }
    case 'recvfromlen': {
      const b = new Uint8Array(n(1)), sa = new Uint8Array(128), ln = new Int32Array([128]);
      return r(await s.recvfrom(n(0), b, b.length, n(2, 0), sa, ln), () => ln[0]!);
    }
    case 'shutdown': return r(await s.shutdown(n(0), n(1)));
    case 'socknamelen': case 'peernamelen': case 'sockname': {
      const sa = new Uint8Array(128), ln = new Int32Array([128]);
      const k = name === 'peernamelen' ? await s.getpeername(n(0), sa, ln) : await s.getsockname(n(0), sa, ln);
      if (name === 'sockname') return r(k, () => { const body = sa.subarray(2, ln[0]); const z = body.indexOf(0); return str(z < 0 ? body : body.subarray(0, z)); });
      return r(k, () => ln[0]!);
    }
    case 'getsockopt': {
      const v = new Uint8Array(4), ln = new Int32Array([4]);
      return r(await s.getsockopt(n(0), n(1), n(2), v, ln), () => new DataView(v.buffer).getInt32(0, true));
    }
    case 'setsockopt': {
      const v = new Uint8Array(4); new DataView(v.buffer).setInt32(0, n(3), true);
      return r(await s.setsockopt(n(0), n(1), n(2), v, 4));
    }
    case 'setsockoptlen': {
      const v = new Uint8Array(4); new DataView(v.buffer).setInt32(0, n(3), true);
      return r(await s.setsockopt(n(0), n(1), n(2), v, n(4)));
    }
    case 'getsockoptlen': {
      const v = new Uint8Array(4), ln = new Int32Array([n(3)]);
      return r(await s.getsockopt(n(0), n(1), n(2), v, ln), () => ln[0]!);
    }
    case 'recvcred': {
      const ctl = new Uint8Array(64);
      const m: Record<string, unknown> = { msg_iov: [new Uint8Array(16)], msg_control: ctl, msg_controllen: 64 };
      return r(await s.recvmsg(n(0), m, 0), () => {
        const dv = new DataView(ctl.buffer);
        if ((m['msg_controllen'] as number) < 28 || dv.getInt32(8, true) !== 1 || dv.getInt32(12, true) !== 2) return 'ENOCRED';
        return dv.getInt32(16 + 4 * ['pid', 'uid', 'gid'].indexOf(p(1)), true);
      });
    }
    case 'peercred': {
      const v = new Uint8Array(12), ln = new Int32Array([12]);
      return r(await s.getsockopt(n(0), 1, 17, v, ln), () => new DataView(v.buffer).getInt32(4 * ['pid', 'uid', 'gid'].indexOf(p(1)), true));
    }
    case 'poll': {
      const pfd = new Uint8Array(8); const dv = new DataView(pfd.buffer);
      dv.setInt32(0, n(0), true); dv.setInt16(4, n(1), true);
      return r(await s.ppoll(pfd, 1, new Uint8Array(16), null, 8), () => dv.getInt16(6, true));
    }
    case 'fionread': { const v = new Uint8Array(4); return r(await s.ioctl(n(0), 0x541b, v), () => new DataView(v.buffer).getInt32(0, true)); }
    case 'sendcred': {
      const ctl = new Uint8Array(32); const dv = new DataView(ctl.buffer);
      dv.setBigUint64(0, 28n, true); dv.setInt32(8, 1, true); dv.setInt32(12, 2, true);
      dv.setInt32(16, n(1), true); dv.setUint32(20, n(2), true); dv.setUint32(24, n(3), true);
      return r(await s.sendmsg(n(0), { msg_iov: [bytes('c')], msg_control: ctl, msg_controllen: 32 }, 0));
    }
    case 'sendbytes': { const d = new Uint8Array(n(1)); return r(await s.sendto(n(0), d, d.length, 0, null, 0)); }
    case 'acceptlen': { const sa = new Uint8Array(128), ln = new Int32Array([128]); return r(await s.accept4(n(0), sa, ln, 0), () => ln[0]!); }
    case 'sendfd': case 'sendfdempty': {
      const ctl = new Uint8Array(24); const dv = new DataView(ctl.buffer);
      dv.setBigUint64(0, 20n, true); dv.setInt32(8, 1, true); dv.setInt32(12, 1, true); dv.setInt32(16, n(1), true);
      const iov = name === 'sendfd' ? [bytes('f')] : [];
      return r(await s.sendmsg(n(0), { msg_iov: iov, msg_control: ctl, msg_controllen: 20 }, 0));
    }
    case 'recvfd': case 'recvmsgflags': {
      const size = n(1, 24);
      const ctl = new Uint8Array(size);
      const m: Record<string, unknown> = { msg_iov: [new Uint8Array(1)], msg_control: ctl, msg_controllen: size };
      const k = await s.recvmsg(n(0), m, 0);
      if (name === 'recvmsgflags') return r(k, () => m['msg_flags'] as number);
      return r(k, () => ((m['msg_controllen'] as number) >= 20 ? new DataView(ctl.buffer).getInt32(16, true) : 'ENOFD'));
    }
    case 'close': return r(await s.close(n(0)));
    case 'read': { const b = new Uint8Array(n(1)); return r(await s.read(n(0), b, b.length), (k) => str(b.subarray(0, k))); }
    case 'write': { const b = bytes(p(1)); return r(await s.write(n(0), b, b.length)); }
    case 'open': return r(await s.openat(AT_FDCWD, p(0), n(1), n(2, 0)));
    case 'fcntl': return r(await s.fcntl(n(0), n(1), n(2, 0)));
    case 'unlink': return r(await s.unlinkat(AT_FDCWD, p(0), 0));
    case 'fstat': case 'stat': {
      const b = new Uint8Array(128);
      const k = name === 'fstat' ? await s.fstat(n(0), b) : await s.newfstatat(AT_FDCWD, p(0), b, 0);
      const mode = new DataView(b.buffer).getUint32(16, true);
      return r(k, () => (p(1) === 'type' ? TYPES[mode & S_IFMT] ?? 'other' : mode & 0o7777));
    }
    case 'writefile': {
      const fd = await s.openat(AT_FDCWD, p(0), O_WRONLY | O_CREAT | O_TRUNC, 0o644);
      if (fd < 0) return r(fd);
      const b = bytes(p(1)); const w = await s.write(fd, b, b.length); await s.close(fd);
      return r(w, () => 0);
    }
    case 'pipe': { const b = new Int32Array(2); return r(await s.pipe2(b, n(0, 0)), () => [b[0]!, b[1]!]); }
    case 'getpid': return r(await s.getpid());
    case 'symlink': return r(await s.symlinkat(p(0), AT_FDCWD, p(1)));
    case 'mkdir': return r(await s.mkdirat(AT_FDCWD, p(0), n(1)));
    case 'become': {
      for (const x of [await s.setgroups(0, null), await s.setresgid(n(1), n(1), n(1)), await s.setresuid(n(0), n(0), n(0))]) if (x < 0) return r(x);
      return 0;
    }
    case 'same': return a[0] === a[1] ? 1 : 0;
    default: throw new CaseError(`unknown op ${name}`);
  }
}

function resolve(arg: Arg, res: Got[], opRes: Got | undefined): Arg {
  if (Array.isArray(arg)) return arg.map((x) => resolve(x, res, opRes));
  if (typeof arg !== 'string' || !/^\$(\d+|op)(\.\d+)?$/.test(arg)) return arg;
  const [head, idx] = arg.slice(1).split('.');
  let v: Got | undefined = head === 'op' ? opRes : res[Number(head)];
  if (idx !== undefined) v = Array.isArray(v) ? v[Number(idx)] : undefined;
  if (v === undefined) throw new CaseError(`unresolved reference ${arg}`);
  return v as Arg;
}
const isErr = (v: Got): boolean => typeof v === 'string' && /^E[A-Z0-9]+$/.test(v);

async function timed(p: Promise<Got>): Promise<Got> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const to = new Promise<Got>((res) => { timer = setTimeout(() => res('TIMEOUT'), 5000); });
  try { return await Promise.race([p, to]); } finally { clearTimeout(timer); }
}

async function runLkl(list: Case[]): Promise<Map<string, Got>> {
  const k = await boot({ cmdline: 'mem=64M', host: new FakeHost() });
  const out = new Map<string, Got>();
  try {
    await k.sys.mkdir('/st', 0o777);
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      const root = `/st/${i}`;
      const t = k.task();
      let got: Got;
      try {
        await k.sys.mkdir(root, 0o777);
        await k.sys.chmod(root, 0o777);
        await t.sys.new_thread_group_leader();
        await t.sys.chdir(root);
        await t.sys.umask(0o022);
        const res: Got[] = [];
        got = await (async (): Promise<Got> => {
          for (const [j, st] of (c.setup ?? []).entries()) {
            const v = await timed(step(t, resolve(st, res, undefined) as Op));
            if (isErr(v) || v === 'TIMEOUT') return `setup[${j}] ${st[0]}: ${show(v)}`;
            res.push(v);
          }
          const main = await timed(step(t, resolve(c.op, res, undefined) as Op));
          if (!c.post?.length) return main;
          const all: Got[] = [main];
          for (const [pop] of c.post) all.push(await timed(step(t, resolve(pop, res, main) as Op)));
          return all;
        })();
      } catch (e) {
        got = e instanceof CaseError ? `ERROR ${e.message}` : `EXCEPTION ${(e as Error).stack ?? e}`;
      }
      await t.exit().catch(() => {});
      out.set(c.name, got);
    }
  } finally { await k.halt(); }
  return out;
}

function hostScript(): string | null {
  for (const rel of ['../../../test/behaviour/socket_host.py', './socket_host.py']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

function runHost(list: Case[]): { results: Map<string, Got> } | { skip: string } {
  const script = hostScript();
  if (!script) return { skip: 'socket_host.py not found' };
  const r = spawnSync('python3', [script], { input: JSON.stringify({ cases: list.filter((c) => !c.hostSkip) }), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000 });
  if (r.error) return { skip: `python3 unavailable: ${r.error.message}` };
  if (r.status !== 0) throw new Error(`socket_host.py failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { name: string; got: Got }[] | { unsupported: string };
  if (!Array.isArray(out)) return { skip: out.unsupported };
  return { results: new Map(out.map((x) => [x.name, x.got])) };
}

test('socket case names are unique', () => {
  const seen = new Set<string>();
  for (const c of socketCases) { assert.ok(!seen.has(c.name), `duplicate case name: ${c.name}`); seen.add(c.name); }
});

test('socket behaviour: ours and the host agree with the table', async (t) => {
  const host = runHost(cases);
  if ('skip' in host) t.diagnostic(`host half skipped: ${host.skip}`);
  const ours = await runLkl(cases);
  for (const c of cases) {
    await t.test(c.name, () => {
      const o = ours.get(c.name)!;
      const h = 'results' in host && !c.hostSkip ? host.results.get(c.name) : undefined;
      const hostOk = h === undefined || caseMatches(c, h);
      const oursOk = caseMatches(c, o);
      assert.ok(hostOk && oursOk, `case ${c.name}: got ${show(o)}, want ${showWant(c)} (host: ${h === undefined ? 'skipped' : show(h)})`);
    });
  }
});
