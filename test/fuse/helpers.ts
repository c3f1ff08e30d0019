/*
 * Shared pieces of the lklfuse suites: whether the host can run them (root, /dev/fuse, the tools),
 * starting lklfuse in the foreground and waiting for its mount, and tearing everything down even
 * after a failure (umount, then umount -l, then SIGKILL).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const IN_CI = !!process.env.CI;
export const LKLFUSE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/apps/lklfuse.js');

const have = (t: string) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;

/** Why these suites cannot run here, or false. In CI nothing is skipped: a missing piece fails. */
export function skipReason(tools: string[]): string | false {
  let why: string | null = null;
  if (process.getuid?.() !== 0) why = 'needs root (mount of /dev/fuse)';
  else if (!fs.existsSync('/dev/fuse')) why = 'no /dev/fuse';
  else {
    const m = tools.filter((t) => !have(t));
    if (m.length) why = `not installed: ${m.join(', ')}`;
  }
  if (why === null || IN_CI) return false;
  process.stdout.write(`# skipping lklfuse tests: ${why}\n`);
  return why;
}

export function tmpdir(prefix: string): string { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** The mount entry of `mnt` in /proc/self/mounts (type and options), or null. */
export function mountEntry(mnt: string): { type: string; opts: string[] } | null {
  // Not realpath: on a mount whose daemon died, that fails with ENOTCONN, and such a mount is
  // exactly what teardown must still find.
  const real = path.resolve(mnt);
  for (const l of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = l.split(' ');
    if (f[1] === real) return { type: f[2]!, opts: f[3]!.split(',') };
  }
  return null;
}

export interface Running {
  child: ChildProcess;
  stderr(): string;
  /** Resolves to the exit status (or the signal name). */
  exited: Promise<number | string>;
}

/**
 * Start `lklfuse IMAGE MNT -f ARGS...` and wait until the host shows the mount (or it exits).
 * `as` runs it under another command (setpriv as another user), in `cwd`; `foreground: false`
 * leaves out the -f.
 */
export async function startLklfuse(image: string, mnt: string, args: string[] = [],
  o: { as?: string[]; cwd?: string; foreground?: boolean } = {}): Promise<Running> {
  // A mount left by an earlier failed test would hide ours (and fail this test for the wrong reason).
  if (mountEntry(mnt)) sh('umount', ['-l', mnt]);
  const argv = [process.execPath, LKLFUSE, image, mnt, ...(o.foreground === false ? [] : ['-f']), ...args];
  const cmd = [...(o.as ?? []), ...argv];
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.on('data', () => {});
  const exited = new Promise<number | string>((r) => child.on('exit', (code, sig) => r(code ?? sig ?? -1)));
  let done = false;
  void exited.then(() => { done = true; });
  const deadline = Date.now() + 20_000;
  while (!done && Date.now() < deadline) {
    if (mountEntry(mnt)?.type === 'fuse.lklfuse') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, stderr: () => err, exited };
}

/** Wait for a process to end, up to `ms`; null if it did not. */
export async function waitExit(r: Running, ms: number): Promise<number | string | null> {
  return Promise.race([r.exited, new Promise<null>((res) => setTimeout(() => res(null), ms).unref())]);
}

/**
 * `umount MNT` (or another unmount command), retried for a while on failure: the host kernel may
 * still be finishing the release of a file closed a moment ago. Returns the last result.
 */
export function unmount(mnt: string, cmd: string[] = ['umount', mnt]): { status: number; stdout: string; stderr: string } {
  let r = sh(cmd[0]!, cmd.slice(1));
  for (let i = 0; i < 20 && r.status !== 0 && mountEntry(mnt) !== null; i++) {
    spawnSync('sleep', ['0.1']);
    r = sh(cmd[0]!, cmd.slice(1));
  }
  return r;
}

/** Unmount and stop whatever is left, quietly: for after() hooks. */
export async function teardown(mnt: string, r: Running | null): Promise<void> {
  try {
    if (mountEntry(mnt)) {
      if (sh('umount', [mnt]).status !== 0) sh('umount', ['-l', mnt]);
    }
  } catch { /* mount point gone */ }
  if (r && r.child.exitCode === null && r.child.signalCode === null) {
    if ((await waitExit(r, 5000)) === null) { r.child.kill('SIGKILL'); await waitExit(r, 2000); }
  }
}

/** Bytes of a deterministic pattern. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
