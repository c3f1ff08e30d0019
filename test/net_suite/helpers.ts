/*
 * Running `lkl net-test` as a child process and reading its TAP13: the per-backend suite under
 * test/net_suite/ runs the program a user runs (node dist/src/apps/lkl.js net-test ...), the way
 * LKL's tools/lkl/tests/net.sh runs net-test per backend, and asserts its exit status and the
 * "ok" lines of the cases that matter for that backend.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as dgram from 'node:dgram';
import assert from 'node:assert/strict';
import { parseTap } from '../lib/tap_suite.js';

/** dist/test/net_suite/helpers.js -> dist/src/apps/lkl.js */
export const LKL = fileURLToPath(new URL('../../src/apps/lkl.js', import.meta.url));

export interface NetTestRun {
  child: ChildProcess;
  /** Everything printed on stdout so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout matches `re`; rejects after `ms` or if the process ends first. */
  waitFor(re: RegExp, ms: number): Promise<void>;
  /** Resolves with the exit status when the process ends. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** SIGKILL if still running (for finally blocks). */
  kill(): void;
}

/**
 * Start `lkl net-test args...`; `wrap` runs it under another command (["ip", "netns", "exec", ns]).
 */
export function startNetTest(args: string[], wrap: string[] = []): NetTestRun {
  const argv = [...wrap, process.execPath, LKL, 'net-test', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  let ended = false;
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => { out += d; for (const l of [...listeners]) l(); });
  child.stderr!.on('data', (d: string) => { err += d; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      for (const l of [...listeners]) l();
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return {
    child,
    get stdout() { return out; },
    get stderr() { return err; },
    done,
    waitFor(re, ms) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(out)) { finish(); resolve(); return; }
          if (ended) { finish(); reject(new Error(`net-test ended before printing ${re}; got:\n${out}\nstderr:\n${err}`)); }
        };
        const timer = setTimeout(() => { finish(); reject(new Error(`net-test did not print ${re} within ${ms} ms; got:\n${out}\nstderr:\n${err}`)); }, ms);
        const finish = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        check();
      });
    },
    kill() { if (!ended) child.kill('SIGKILL'); },
  };
}

/** Run net-test to completion (killed after `ms`). */
export async function runNetTest(args: string[], ms = 30_000, wrap: string[] = []) {
  const r = startNetTest(args, wrap);
  const timer = setTimeout(() => r.kill(), ms);
  try { return await r.done; } finally { clearTimeout(timer); }
}

/**
 * Assert a finished run: exit status 0, a full plan, no "not ok", and each of `wantOk` present as
 * a plain "ok" (not skipped). Cases named twice (icmp for two destinations) are wanted as often
 * as they appear in `wantOk`.
 */
export function assertNetTestOk(r: { code: number | null; signal?: NodeJS.Signals | null; stdout: string; stderr: string }, wantOk: string[], who = 'net-test'): void {
  const { plan, cases } = parseTap(r.stdout);
  const bad = cases.filter((c) => !c.ok).map((c) => `not ok ${c.id} ${c.name}:\n${c.log}`);
  assert.equal(bad.length, 0, `${who}: failed cases:\n${bad.join('\n')}`);
  assert.ok(plan > 0 && cases.length === plan, `${who}: got ${cases.length} cases of plan ${plan}, want all (exit ${r.code}, signal ${r.signal ?? 'none'}); stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const oks = cases.filter((c) => c.ok && !c.directive).map((c) => c.name);
  for (const name of new Set(wantOk)) {
    const want = wantOk.filter((n) => n === name).length;
    const got = oks.filter((n) => n === name).length;
    assert.ok(got >= want, `${who}: got ${got} plain "ok ... ${name}" lines, want ${want}; stdout:\n${r.stdout}`);
  }
  assert.equal(r.code, 0, `${who}: exit status: got ${r.code} (signal ${r.signal ?? 'none'}), want 0; stderr:\n${r.stderr}`);
}

/** The log of case `name` (the first one) in a run's TAP, for messages and extra checks. */
export function caseLog(stdout: string, name: string): string {
  return parseTap(stdout).cases.find((c) => c.name === name)?.log ?? '';
}

/** The IPv6 link-local address a MAC gets (modified EUI-64, RFC 4291 appendix A). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const e = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const words = [0, 2, 4, 6].map((i) => ((e[i]! << 8) | e[i + 1]!).toString(16));
  return `fe80::${words.join(':')}`;
}

/** A UDP port on 127.0.0.1 free at this moment. */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, '127.0.0.1', () => resolve()); });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Two net-test processes that ping each other: start both (each with -S, so it stays up for the
 * other), wait until both have printed their serve case (so every ping case of both is done),
 * then SIGTERM both, which ends serve successfully, and collect both runs.
 */
export async function runPair(argsA: string[], argsB: string[], ms = 40_000) {
  const a = startNetTest(argsA), b = startNetTest(argsB);
  try {
    await Promise.all([a.waitFor(/^\* \d+ serve$/m, ms), b.waitFor(/^\* \d+ serve$/m, ms)])
      .catch((e: Error) => { throw new Error(`${e.message}\n--- other side:\nA:\n${a.stdout}\nB:\n${b.stdout}`); });
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    const timer = setTimeout(() => { a.kill(); b.kill(); }, 15_000);
    try { return await Promise.all([a.done, b.done]); } finally { clearTimeout(timer); }
  } finally {
    a.kill(); b.kill();
  }
}
