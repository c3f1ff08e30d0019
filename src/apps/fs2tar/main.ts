/*
 * fs2tar: a filesystem image to a pax archive, through a kernel booted in this process.
 *
 * The sequence is LKL's tools/lkl/fs2tar.c: add the image as a read-only disk, boot with a small
 * mem=, mount the filesystem read-only (its type detected unless -t names it), walk it through
 * system calls into the archive, unmount with a one-second EBUSY retry, halt. The host kernel is
 * never involved: no root, loop device or FUSE.
 *
 * Where we differ from LKL, on purpose:
 *  - entry names are relative, "./" for the filesystem root and "./etc/passwd" below it (LKL
 *    writes "/etc/passwd"), the way `tar -C mnt -cf - .` names them. Extractors then print no
 *    "Removing leading '/'" warning, and the root directory's own mode, owner, times and xattrs
 *    are carried (LKL has no entry for it). The -s context list keeps LKL's "/etc/passwd" form,
 *    the form file_contexts uses;
 *  - every xattr of an object is kept (LKL clears the list before adding each one, keeping the
 *    last), with binary values verbatim, and times keep their nanoseconds;
 *  - hard links are link entries, sockets are skipped with a warning (GNU tar's behaviour);
 *  - -t is optional ('auto' probes), -m sets mem=, TARFILE may be '-';
 *  - user errors are one line on stderr and exit status 1, never a stack trace; objects that
 *    cannot be read are reported and skipped, and the exit status is then 1 too.
 * The image file is only ever opened read-only, and TARFILE may not be the image itself.
 */
import * as nodeFs from 'node:fs';
import { boot, type LklKernel } from '../../lkl.js';
import { createNodeHost } from '../../arch/node/index.js';
import { errnoName, EINVAL, ENODEV, ENXIO, ENOENT, EISDIR, ENOTBLK } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { parseArgs, USAGE, UsageError, BadArgument, type Fs2tarOptions } from './cli.js';
import { TarWriter, type ByteSink } from './tar_writer.js';
import { archiveTree } from './walk.js';
import { makeProgress } from './progress.js';

export interface Fs2tarIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** A user-facing failure: printed as "fs2tar: <message>", exit status 1. */
export class Fatal extends Error {}

/**
 * The disk API that src/lkl.ts gains with the block layer (issue 3), declared here so that this
 * program builds before it lands; see diskApi().
 */
interface DiskApi {
  diskAdd(spec: { path: string; readOnly?: boolean }): Promise<number>;
  mountDev(id: number, o: { part?: number; fstype?: string; flags?: number; opts?: string }): Promise<string>;
  umountDev(id: number, o?: { part?: number; flags?: number; timeoutMs?: number }): Promise<unknown>;
}

function diskApi(k: LklKernel): DiskApi {
  const d = k as unknown as Partial<DiskApi>;
  if (typeof d.diskAdd !== 'function' || typeof d.mountDev !== 'function' || typeof d.umountDev !== 'function') {
    throw new Fatal('this build of lkl-ts has no disk support (diskAdd/mountDev missing)');
  }
  return d as DiskApi;
}

const errnoByName: Record<string, number> = Object.fromEntries(
  Object.entries(errnoName).map(([n, name]) => [name, Number(n)]),
);

/** The errno (positive) carried by a failure from the kernel API or from node:fs, if any. */
export function errnoOf(e: unknown): number | undefined {
  if (typeof e === 'number') return e < 0 ? -e : e;
  if (e && typeof e === 'object') {
    const o = e as { errno?: unknown; code?: unknown };
    if (typeof o.code === 'string' && errnoByName[o.code] !== undefined) return errnoByName[o.code];
    if (typeof o.errno === 'number' && o.errno !== 0) return Math.abs(o.errno);
  }
  return undefined;
}

function why(e: unknown): string {
  const n = errnoOf(e);
  if (n !== undefined) return strerror(n);
  return e instanceof Error ? e.message : String(e);
}

/**
 * Byte sink over a Node writable stream. Each chunk's promise resolves when the stream has taken
 * it (its write callback), so the writer may reuse the buffer then: true of file descriptors,
 * pipes and TTYs, whose write callback comes after the bytes reached the OS.
 */
function streamSink(s: NodeJS.WritableStream, name: string): { sink: ByteSink; end(): Promise<void> } {
  let failure: Error | null = null;
  const onError = (e: Error) => { failure ??= new Fatal(`${name}: ${why(e)}`); };
  s.on('error', onError);
  const sink: ByteSink = (chunk) => new Promise<void>((resolve, reject) => {
    if (failure) { reject(failure); return; }
    s.write(chunk, (e?: Error | null) => {
      if (e) onError(e);
      if (failure) reject(failure); else resolve();
    });
  });
  return {
    sink,
    end: () => new Promise<void>((resolve, reject) => {
      if (failure) { reject(failure); return; }
      // stdout is never ended (it stays open for the process); its last write's callback says
      // the bytes reached the OS.
      if (s === process.stdout) { s.write(new Uint8Array(0), () => (failure ? reject(failure) : resolve())); return; }
      s.end(() => (failure ? reject(failure) : resolve()));
    }),
  };
}

/** Byte sink writing straight to a file descriptor: done with each chunk when it returns. */
function fdSink(fd: number, name: string): { sink: ByteSink; end(): Promise<void> } {
  const sink: ByteSink = (chunk) => {
    try {
      for (let done = 0; done < chunk.length;) done += nodeFs.writeSync(fd, chunk, done, chunk.length - done);
    } catch (e) {
      throw new Fatal(`${name}: ${why(e)}`);
    }
  };
  return { sink, end: async () => {} };
}

/** Lines of /proc/<file> of the booted kernel, mounting proc first if need be. */
async function procLines(k: LklKernel, file: string): Promise<string[] | null> {
  const read = async () => (await k.fs.readFile(`/proc/${file}`, 'utf8') as string).split('\n');
  try { return await read(); } catch { /* not mounted yet */ }
  if ((await k.mountFs('proc')) < 0) return null;
  try { return await read(); } catch { return null; }
}

/** Block-device filesystems the kernel knows, in registration order: what 'auto' tries. */
async function blockFilesystems(k: LklKernel): Promise<string[]> {
  const lines = await procLines(k, 'filesystems');
  if (!lines) return [];
  return lines.filter((l) => l && !l.startsWith('nodev')).map((l) => l.trim());
}

/** Mount, turning each failure into the message a user can act on. */
async function mountImage(k: LklKernel, d: DiskApi, id: number, o: Fs2tarOptions): Promise<string> {
  if (o.part > 0) {
    // /proc/partitions names our only disk vda; no vdaN line means no such partition.
    const lines = await procLines(k, 'partitions');
    if (lines && lines.some((l) => / vda$/.test(l)) && !lines.some((l) => new RegExp(` vda${o.part}$`).test(l))) {
      throw new Fatal(`no partition ${o.part} on '${o.image}'`);
    }
  }
  try {
    const mnt: unknown = await d.mountDev(id, { part: o.part, fstype: o.fstype, flags: MS_RDONLY });
    if (typeof mnt !== 'string') throw mnt; // a -errno, if the API reports failures that way
    return mnt;
  } catch (e) {
    const n = errnoOf(e);
    const where = o.part > 0 ? `partition ${o.part} of '${o.image}'` : `'${o.image}'`;
    if (n === ENXIO || (n === ENOENT && o.part > 0)) throw new Fatal(`no partition ${o.part} on '${o.image}'`);
    if (o.fstype === 'auto' && (n === EINVAL || n === ENODEV)) {
      const tried = await blockFilesystems(k);
      throw new Fatal(`unknown filesystem on ${where}${tried.length ? ` (tried ${tried.join(', ')})` : ''}`);
    }
    if (o.fstype !== 'auto' && n === ENODEV) throw new Fatal(`unknown filesystem type '${o.fstype}'`);
    if (o.fstype !== 'auto' && n === EINVAL) throw new Fatal(`${where} is not a valid ${o.fstype} filesystem (${strerror(EINVAL)})`);
    throw new Fatal(`cannot mount ${where}${o.fstype === 'auto' ? '' : ` as ${o.fstype}`}: ${why(e)}`);
  }
}

/** Run fs2tar; resolves to the exit status. Never throws for user errors. */
export async function fs2tarMain(argv: string[], io: Fs2tarIo = process): Promise<number> {
  const say = (m: string) => { io.stderr.write(`fs2tar: ${m}\n`); };
  let opts: Fs2tarOptions;
  try {
    const p = parseArgs(argv);
    if (p.help) { io.stdout.write(USAGE); return 0; }
    opts = p.opts;
  } catch (e) {
    if (e instanceof UsageError) { say(e.message); io.stderr.write("Try 'fs2tar --help' for more information.\n"); return 1; }
    if (e instanceof BadArgument) { say(e.message); return 1; }
    throw e;
  }
  try {
    return await run(opts, io, say);
  } catch (e) {
    if (e instanceof Fatal) { say(e.message); return 1; }
    say(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.FS2TAR_DEBUG && e instanceof Error) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

async function run(o: Fs2tarOptions, io: Fs2tarIo, say: (m: string) => void): Promise<number> {
  // The image: readable, a file or a block device. Checked here so the message names it plainly.
  let img: nodeFs.Stats;
  try {
    const fd = nodeFs.openSync(o.image, 'r');
    try { img = nodeFs.fstatSync(fd); } finally { nodeFs.closeSync(fd); }
  } catch (e) {
    throw new Fatal(`cannot open '${o.image}': ${why(e)}`);
  }
  if (img.isDirectory()) throw new Fatal(`cannot open '${o.image}': ${strerror(EISDIR)}`);
  if (!img.isFile() && !img.isBlockDevice()) throw new Fatal(`cannot open '${o.image}': ${strerror(ENOTBLK)}`);
  const toStdout = o.output === '-';
  if (toStdout && io.stdout.isTTY) throw new Fatal('refusing to write archive contents to terminal');
  for (const [path, what] of [[toStdout ? null : o.output, 'archive'], [o.selinux, 'context list']] as const) {
    if (path === null) continue;
    try {
      const st = nodeFs.statSync(path);
      if (st.dev === img.dev && st.ino === img.ino) throw new Fatal(`refusing to write the ${what} over the image '${o.image}'`);
    } catch (e) { if (e instanceof Fatal) throw e; }
  }

  // Kernel messages: stdout as LKL prints them, unless the archive itself goes there.
  const printkTo = toStdout ? io.stderr : io.stdout;
  let k: LklKernel;
  try {
    k = await boot({ cmdline: `mem=${o.mb}M`, host: createNodeHost({ print: o.printk ? (t) => { printkTo.write(t); } : null }), net: false });
  } catch (e) {
    throw new Fatal(`cannot boot the kernel: ${why(e)}`);
  }
  let status = 0;
  try {
    const d = diskApi(k);
    let id: number;
    try {
      id = await d.diskAdd({ path: o.image, readOnly: true });
      if (typeof id === 'number' && id < 0) throw id;
    } catch (e) {
      throw new Fatal(`cannot open '${o.image}': ${why(e)}`);
    }
    const mnt = await mountImage(k, d, id, o);
    try {
      status = await archive(k, mnt, o, io, say);
    } finally {
      // The walk left the working directory inside the mount, which would keep it busy.
      await k.sys.chdir('/');
      try {
        const r = await d.umountDev(id, { part: o.part, timeoutMs: 1000 });
        if (typeof r === 'number' && r < 0) say(`warning: cannot unmount ${mnt}: ${strerror(r)}`);
      } catch (e) { say(`warning: cannot unmount ${mnt}: ${why(e)}`); }
    }
  } finally {
    await k.halt();
  }
  return status;
}

async function archive(k: LklKernel, mnt: string, o: Fs2tarOptions, io: Fs2tarIo, say: (m: string) => void): Promise<number> {
  const toStdout = o.output === '-';
  let outFd = -1;
  if (!toStdout) {
    try { outFd = nodeFs.openSync(o.output, 'w', 0o666); } catch (e) { throw new Fatal(`cannot create '${o.output}': ${why(e)}`); }
  }
  let ctx: number | null = null;
  if (o.selinux !== null) {
    try { ctx = nodeFs.openSync(o.selinux, 'w', 0o666); } catch (e) { throw new Fatal(`cannot create '${o.selinux}': ${why(e)}`); }
  }
  const ctxLines: Uint8Array[] = [];
  let ctxBytes = 0;
  const flushCtx = () => {
    if (ctx === null || ctxLines.length === 0) return;
    nodeFs.writeSync(ctx, Buffer.concat(ctxLines));
    ctxLines.length = 0; ctxBytes = 0;
  };

  const st: { blocks?: number; bfree?: number; bsize?: number } = {};
  const used = (await k.sys.statfs(mnt, st)) === 0 ? ((st.blocks ?? 0) - (st.bfree ?? 0)) * (st.bsize ?? 0) : 0;
  const progress = makeProgress(io.stderr, used);
  const { sink, end } = toStdout ? streamSink(io.stdout, 'standard output') : fdSink(outFd, `'${o.output}'`);
  const tar = new TarWriter(sink);
  const sp = Buffer.from(' '), nl = Buffer.from('\n');
  try {
    const r = await archiveTree(k, mnt, tar, {
      warn: (m) => { progress.clear(); say(m); },
      progress: (bytes, entries) => progress.update(bytes, entries),
      selinux: ctx === null ? undefined : (path, context) => {
        ctxLines.push(path, sp, context, nl);
        ctxBytes += path.length + context.length + 2;
        if (ctxBytes > 65536) flushCtx();
      },
    });
    await tar.finish();
    await end();
    flushCtx();
    progress.stop();
    return r.errors > 0 ? 1 : 0;
  } catch (e) {
    progress.stop();
    // A write failure of the archive arrives here as the Fatal made by streamSink.
    tar.abort(e instanceof Error ? e : undefined);
    throw e;
  } finally {
    if (ctx !== null) { try { flushCtx(); } finally { nodeFs.closeSync(ctx); } }
    if (outFd >= 0) nodeFs.closeSync(outFd);
  }
}
