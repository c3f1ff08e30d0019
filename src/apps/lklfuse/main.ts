/*
 * lklfuse: a disk image mounted on the host through FUSE, its filesystem run by the kernel booted
 * in this process (LKL's tools/lkl/lklfuse.c, without libfuse: the protocol is spoken directly
 * over /dev/fuse, see session.ts).
 *
 * The sequence:
 *   1. parse the command line; unless -f/-d, fork a copy of ourselves in the foreground and wait
 *      until it has mounted (or failed), then exit with its verdict: libfuse's fuse_daemonize;
 *   2. lock=FILE: take an exclusive flock(2) on FILE, or exit with status 2 if someone holds it
 *      (held by a flock(1) helper whose stdin is our pipe: it lets go when we exit, however we exit);
 *   3. open the image read-write unless ro; a write-protected image falls back to read-only, saying so;
 *   4. boot with mem=<mb>M, add the image as a disk, mount it (type=, part=, opts= with its VFS
 *      flags) at /mnt/<dev> in our kernel;
 *   5. mount /dev/fuse on MOUNTPOINT on the host and serve requests until the host unmounts it
 *      (umount, fusermount3 -u) or SIGINT/SIGTERM/SIGHUP arrive (we then detach the mount ourselves);
 *   6. close what the host left open, unmount our kernel's filesystem, sync, halt, exit 0.
 * Not root, the order changes (fusermount.ts): the mount point and image are checked, then
 * fusermount3 mounts first and a python3 helper execs a new lklfuse holding the descriptor
 * (LKLFUSE_FUSE_FD), which is the daemon (or the foreground process we wait for) and does 2-6,
 * skipping mount(8) and unmounting with fusermount3; a failure before serving unmounts.
 * Kernel messages go to log=FILE when given, nowhere otherwise. Errors are one line,
 * "lklfuse: ...", exit status 1 (2 for a held lock).
 */
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { boot, type LklKernel } from '../../lkl.js';
import { createNodeHost } from '../../arch/node/index.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { strerror } from '../../uapi/errno_text.js';
import { errnoName } from '../../uapi/errno.js';
import { parseArgs, USAGE, VERSION, UsageError, type LklfuseOptions } from './cli.js';
import { FuseFs } from './ops.js';
import { FuseSession, fuseMount, fuseUnmount, run } from './session.js';
import { FUSE_FD_ENV, fusermountCommand, fusermountUnmount } from './fusermount.js';

export interface LklfuseIo { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }

class Fatal extends Error { constructor(msg: string, readonly status = 1) { super(msg); } }

const errnoByName: Record<string, number> = Object.fromEntries(Object.entries(errnoName).map(([n, name]) => [name, Number(n)]));
function why(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; errno?: unknown; message?: unknown };
    if (typeof o.code === 'string' && errnoByName[o.code] !== undefined) return strerror(errnoByName[o.code]!);
    if (typeof o.errno === 'number' && o.errno !== 0) return strerror(Math.abs(o.errno));
    if (typeof o.message === 'string') return o.message;
  }
  return String(e);
}

/** Run lklfuse; resolves to the exit status once the filesystem is unmounted (or at once in the parent of a daemon). */
export async function lklfuseMain(argv: string[], io: LklfuseIo = process): Promise<number> {
  const say = (m: string) => { io.stderr.write(`lklfuse: ${m}\n`); };
  let o: LklfuseOptions;
  try {
    const p = parseArgs(argv);
    if ('help' in p && p.help) { io.stdout.write(USAGE); return 0; }
    if ('version' in p && p.version) { io.stdout.write(`lklfuse (lkl-ts) ${VERSION}\nFUSE protocol 7.31\n`); return 0; }
    o = (p as { opts: LklfuseOptions }).opts;
  } catch (e) {
    if (e instanceof UsageError) { say(e.message); io.stderr.write("Try 'lklfuse --help' for more information.\n"); return 1; }
    throw e;
  }
  // The daemon's side channel to the parent waiting for it (see daemonize()).
  const readyFd = process.env.LKLFUSE_READY_FD ? Number(process.env.LKLFUSE_READY_FD) : null;
  delete process.env.LKLFUSE_READY_FD;
  // The /dev/fuse descriptor fusermount3 mounted for us (see fusermount.ts), already open.
  const fuseFd = process.env[FUSE_FD_ENV] ? Number(process.env[FUSE_FD_ENV]) : null;
  delete process.env[FUSE_FD_ENV];
  const unprivileged = fuseFd === null && process.getuid?.() !== 0;
  if (unprivileged) return viaFusermount(argv, o, say, readyFd);
  if (!o.foreground && readyFd === null) return daemonize(process.execPath, [ENTRY, ...argv, '-f'], say);
  const report = readyFd === null ? say : (m: string) => { try { fs.writeSync(readyFd, `lklfuse: ${m}\n`); } catch { /* parent gone */ } };
  try {
    return await serve(o, fuseFd, report, () => {
      if (readyFd !== null) { try { fs.writeSync(readyFd, 'READY\n'); fs.closeSync(readyFd); } catch { /* parent gone */ } }
    });
  } catch (e) {
    if (e instanceof Fatal) { report(e.message); return e.status; }
    report(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return 1;
  }
}

const ENTRY = fileURLToPath(new URL('../lklfuse.js', import.meta.url));

/**
 * Not root: fusermount3 mounts, and a python3 helper hands its descriptor to a new lklfuse
 * (fusermount.ts). What can be checked before mounting is checked here, so that a bad mount point
 * or image leaves nothing mounted; a write-protected image turns into `-o ro` for the new process.
 * Unless -f, the new process is the daemon and we wait for its READY as daemonize() does;
 * with -f we wait for it to end, passing signals on, and exit with its status.
 */
async function viaFusermount(argv: string[], o: LklfuseOptions, say: (m: string) => void, readyFd: number | null): Promise<number> {
  const report = readyFd === null ? say : (m: string) => { try { fs.writeSync(readyFd, `lklfuse: ${m}\n`); } catch { /* parent gone */ } };
  let readOnly = o.ro;
  try {
    checkMountpoint(o);
    readOnly = checkImage(o, report);
  } catch (e) {
    if (e instanceof Fatal) { report(e.message); return e.status; }
    throw e;
  }
  const args = [ENTRY, ...argv, ...(readOnly && !o.ro ? ['-o', 'ro'] : [])];
  const spec = {
    mountpoint: o.mountpoint, source: o.fsname ?? o.image, readOnly,
    allowOther: o.allowOther, defaultPermissions: o.defaultPermissions,
  };
  const daemon = !o.foreground && readyFd === null;
  let c: { cmd: string; args: string[] };
  try {
    c = fusermountCommand(spec, daemon || readyFd !== null ? 3 : 2, [process.execPath, ...args, ...(daemon ? ['-f'] : [])]);
  } catch (e) { report(`cannot mount on '${o.mountpoint}': ${(e as Error).message}`); return 1; }
  if (daemon) return daemonize(c.cmd, c.args, say);
  // Foreground: the helper (then lklfuse) shares our stdio, and the daemon's pipe if we have one.
  const stdio: ('inherit' | number)[] = ['inherit', 'inherit', 'inherit'];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (readyFd !== null) { stdio[3] = readyFd; env.LKLFUSE_READY_FD = '3'; }
  const child = spawn(c.cmd, c.args, { stdio, env });
  const pass = (s: NodeJS.Signals) => { child.kill(s); };
  process.on('SIGINT', pass); process.on('SIGTERM', pass); process.on('SIGHUP', pass);
  return new Promise<number>((resolve) => {
    child.on('error', (e) => { report(`cannot start ${c.cmd}: ${e.message}`); resolve(1); });
    child.on('exit', (code, sig) => {
      process.off('SIGINT', pass); process.off('SIGTERM', pass); process.off('SIGHUP', pass);
      resolve(code ?? 128 + (sig ? osSignal(sig) : 0));
    });
  });
}

function osSignal(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[s] ?? 0;
}

/** fuse_daemonize: the foreground copy runs detached; we wait for READY or its failure. */
async function daemonize(cmd: string, args: string[], say: (m: string) => void): Promise<number> {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, LKLFUSE_READY_FD: '3' },
  });
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  let text = '';
  return new Promise<number>((resolve) => {
    let settled = false;
    pipe.on('data', (d: Buffer) => {
      text += d.toString();
      if (!settled && text.includes('READY\n')) {
        settled = true;
        const msg = text.replace('READY\n', '');
        if (msg) process.stderr.write(msg);
        child.unref(); (pipe as unknown as { destroy(): void }).destroy();
        resolve(0);
      }
    });
    child.on('exit', (code, sig) => {
      if (settled) return;
      settled = true;
      if (text) process.stderr.write(text);
      else if (code !== 0) say(code === null ? `killed by ${sig}` : `exited with status ${code}`);
      resolve(code ?? 1);
    });
    child.on('error', (e) => { if (!settled) { settled = true; say(`cannot start: ${e.message}`); resolve(1); } });
  });
}

/** lock=FILE: an exclusive flock held by a flock(1) child until we exit. */
async function takeLock(file: string): Promise<ChildProcess> {
  const child = spawn('flock', ['-x', '-n', '-E', '2', file, '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise<ChildProcess>((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.on('error', (e) => reject(new Fatal(`cannot lock '${file}': ${e.message} (flock(1) from util-linux is needed)`)));
    child.on('exit', (code) => {
      if (code === 2) reject(new Fatal(`'${file}' is locked by another process`, 2));
      else reject(new Fatal(`cannot lock '${file}': ${err.trim() || `flock exited with ${code}`}`));
    });
  });
}

/** The mount point: a directory we can mount on. */
function checkMountpoint(o: LklfuseOptions): void {
  try {
    if (!fs.statSync(o.mountpoint).isDirectory()) throw new Fatal(`bad mount point '${o.mountpoint}': ${strerror(20)}`);
  } catch (e) {
    if (e instanceof Fatal) throw e;
    throw new Fatal(`bad mount point '${o.mountpoint}': ${why(e)}`);
  }
}

/** The image, read-write unless ro; write protection makes it read-only (mount(8) does the same). */
function checkImage(o: LklfuseOptions, say: (m: string) => void): boolean {
  let readOnly = o.ro;
  try {
    const st = fs.statSync(o.image);
    if (st.isDirectory()) throw new Fatal(`cannot open '${o.image}': ${strerror(21)}`);
    fs.closeSync(fs.openSync(o.image, readOnly ? 'r' : 'r+'));
  } catch (e) {
    if (e instanceof Fatal) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (!readOnly && (code === 'EACCES' || code === 'EROFS' || code === 'EPERM')) {
      say(`'${o.image}' is write-protected, mounting read-only`);
      readOnly = true;
      try { fs.closeSync(fs.openSync(o.image, 'r')); } catch (e2) { throw new Fatal(`cannot open '${o.image}': ${why(e2)}`); }
    } else throw new Fatal(`cannot open '${o.image}': ${why(e)}`);
  }
  return readOnly;
}

/**
 * Serve until unmounted. `fuseFd` is a /dev/fuse descriptor fusermount3 has mounted already
 * (unprivileged), or null to open and mount one with mount(8) (root).
 */
async function serve(o: LklfuseOptions, fuseFd: number | null, say: (m: string) => void, ready: () => void): Promise<number> {
  // With fusermount3 the host mount exists already: whatever fails before serving must remove it.
  let serving = false;
  try {
    // Not when fusermount3 has mounted already: a stat of the mount point would wait for our own answer.
    if (fuseFd === null) checkMountpoint(o);
    let lock: ChildProcess | null = null;
    if (o.lock !== null) lock = await takeLock(o.lock);
    const releaseLock = () => { if (lock) { lock.stdin!.end(); lock = null; } };
    try {
      return await serveLocked(o, fuseFd, say, ready, () => { serving = true; });
    } finally {
      releaseLock();
    }
  } finally {
    if (fuseFd !== null && !serving) {
      try { fs.closeSync(fuseFd); } catch { /* closed */ }
      await fusermountUnmount(o.mountpoint, true);
    }
  }
}

async function serveLocked(o: LklfuseOptions, fuseFd: number | null, say: (m: string) => void, ready: () => void,
  started: () => void): Promise<number> {
  let readOnly = checkImage(o, say);

  let logFd: number | null = null;
  if (o.log !== null) {
    try { logFd = fs.openSync(o.log, 'a', 0o644); } catch (e) { throw new Fatal(`cannot open log '${o.log}': ${why(e)}`); }
  }
  const print = logFd === null ? null : (t: string) => { try { fs.writeSync(logFd!, t); } catch { /* log full */ } };
  let k: LklKernel;
  try {
    // Nothing reaches the kernel's sockets through FUSE: the network stack stays out (as fs2tar).
    k = await boot({ cmdline: `mem=${o.mb}M`, net: false, host: createNodeHost({ print }) });
  } catch (e) { throw new Fatal(`cannot boot the kernel: ${why(e)}`); }

  let id = -1;
  let mnt: string | null = null;
  try {
    try { id = await k.diskAdd({ path: o.image, readOnly }); } catch (e) { throw new Fatal(`cannot open '${o.image}': ${why(e)}`); }
    const flags = o.mountFlags | (readOnly ? MS_RDONLY : 0);
    try {
      mnt = await k.mountDev(id, { part: o.part, fstype: o.fstype, flags, opts: o.mountData ?? undefined });
    } catch (e) {
      const where = o.part ? `partition ${o.part} of '${o.image}'` : `'${o.image}'`;
      const err = e as { code?: string; path?: string; errno?: number };
      if (err.code === undefined && typeof err.errno === 'number') err.code = errnoName[Math.abs(err.errno)];
      if (err.code === 'ENXIO') throw new Fatal(`no partition ${o.part} on '${o.image}'`);
      if (o.fstype !== 'auto' && err.code === 'ENODEV') throw new Fatal(`unknown filesystem type '${o.fstype}'`);
      if (o.fstype !== 'auto' && err.code === 'EINVAL') throw new Fatal(`${where} is not a valid ${o.fstype} filesystem`);
      if (o.fstype === 'auto' && err.code === 'ENODEV') {
        const tried = /\(tried ([^)]*)\)/.exec(err.path ?? '');
        throw new Fatal(`unknown filesystem on ${where}${tried ? ` (tried ${tried[1]})` : ''}`);
      }
      throw new Fatal(`cannot mount ${where}${o.fstype === 'auto' ? '' : ` as ${o.fstype}`}: ${why(e)}`);
    }
    // mountDev retries read-only on write-protected media; the host mount must say so too.
    const sf: { flags?: number } = {};
    if ((await k.sys.statfs(mnt, sf)) === 0 && ((sf.flags ?? 0) & 1 /* ST_RDONLY */) && !readOnly) {
      say(`'${o.image}' mounted read-only`);
      readOnly = true;
    }
    // Modes from the host arrive with its umask applied already.
    await k.sys.umask(0);

    const fsys = new FuseFs({ root: mnt, uid: o.uid, gid: o.gid, timeout: 1 });
    let fd: number;
    if (fuseFd !== null) fd = fuseFd;
    else {
      try {
        fd = await fuseMount({
          source: o.fsname ?? o.image, mountpoint: o.mountpoint, readOnly,
          allowOther: o.allowOther, defaultPermissions: o.defaultPermissions,
        });
      } catch (e) {
        throw new Fatal(`cannot mount on '${o.mountpoint}': ${why(e)}`);
      }
    }
    // A mount made by fusermount3 is taken down by fusermount3: umount(8) is for root only.
    const unmountHost = () => fuseFd !== null ? fusermountUnmount(o.mountpoint, true).then(() => {}) : fuseUnmount(o.mountpoint);
    const debug = o.debug ? (l: string) => { process.stderr.write(`${l}\n`); } : null;
    const session = new FuseSession(fd, fsys, () => k.task(), {
      readers: o.single ? 1 : 4, tasks: o.single ? 1 : 16, debug, onEnd: () => {},
      writebackCache: o.writebackCache && !readOnly,
    });
    let conn: number | null = null;
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      debug?.(`${sig}: unmounting ${o.mountpoint}`);
      void (async () => {
        await unmountHost();
        // A busy mount stays attached to its open files; give them a moment, then abort the connection.
        const t = setTimeout(() => { void abortConnection(conn); }, 3000);
        await session.done;
        clearTimeout(t);
      })();
    };
    const onSig = (s: NodeJS.Signals) => stop(s);
    process.on('SIGINT', onSig); process.on('SIGTERM', onSig); process.on('SIGHUP', onSig);
    session.start();
    started();
    // The FUSE connection's number (/sys/fs/fuse/connections/N) is the minor of the mount's st_dev;
    // the stat is answered by the session, which is why it comes after start().
    try { const d = (await fs.promises.stat(o.mountpoint)).dev; conn = (d & 0xff) | ((d >>> 12) & 0xfff00); } catch { /* unknown */ }
    ready();
    await session.done;
    process.off('SIGINT', onSig); process.off('SIGTERM', onSig); process.off('SIGHUP', onSig);
    await session.quiesce();
    await fsys.closeAll(k);
    await session.exitTasks();
    if (!session.fdClosed) { try { fs.closeSync(fd); } catch { /* already gone */ } }
    let status = 0;
    if (session.initError !== null) { say(session.initError); status = 1; await unmountHost(); }
    try { await k.umountDev(id, { part: o.part, timeoutMs: 2000 }); mnt = null; } catch (e) { say(`cannot unmount the image: ${why(e)}`); status = 1; }
    await k.sys.sync();
    return status;
  } finally {
    if (mnt !== null) { try { await k.umountDev(id, { part: o.part, timeoutMs: 1000 }); } catch { /* best effort */ } }
    await k.halt();
    if (logFd !== null) fs.closeSync(logFd);
  }
}

/** The last resort when a lazily unmounted filesystem stays busy: abort its FUSE connection. */
async function abortConnection(conn: number | null): Promise<void> {
  if (conn === null) return;
  const dir = '/sys/fs/fuse/connections';
  if (!fs.existsSync(`${dir}/${conn}`)) await run('mount', ['-t', 'fusectl', 'fusectl', dir]);
  try { fs.writeFileSync(`${dir}/${conn}/abort`, '1'); } catch { /* gone already, or no fusectl */ }
}
