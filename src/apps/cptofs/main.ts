/*
 * cptofs / cpfromfs: copy files into or out of a filesystem image through a kernel booted in
 * this process, LKL's tools/lkl/cptofs.c (one program; the name it runs under picks the way).
 *
 * The sequence is LKL's: open the image (read-write for cptofs, read-only for cpfromfs), add it
 * as a disk, boot with mem=<-m>M, mount it (type detected unless -t), umask 0, copy every source
 * into the destination, unmount (which leaves the filesystem and its journal clean), halt.
 * Only system calls touch the image; no root, loop device or FUSE.
 *
 * The task is chrooted into the mounted filesystem for the copy, so image paths are absolute
 * from the image's root and neither ".." nor a symlink in the image leads out of it; the real
 * root is kept open and restored before unmounting.
 *
 * Where we differ from LKL, on purpose:
 *  - owners (unless -o/-g), modes, nanosecond times, symlinks, hard links and xattrs are all
 *    preserved, and devices and fifos are recreated (LKL skips them);
 *  - sparse files stay sparse;
 *  - one failed object is reported and the copy goes on (exit status 1), as cp does; only no
 *    space, a read-only or failing destination stop it;
 *  - a source that matches nothing is an error (LKL copies nothing, silently), and "dir/."
 *    copies the contents of dir (for LKL it matches nothing);
 *  - with one source and a destination that does not exist (but its parent does), the source is
 *    copied under that name, as cp does (LKL requires an existing directory);
 *  - -t is optional; errors are one line on stderr and exit status 1, never a stack trace.
 * cpfromfs never creates anything outside its destination: see tree.ts and host_side.ts.
 */
import * as nodeFs from 'node:fs';
import { boot, type LklKernel } from '../../lkl.js';
import { createNodeHost } from '../../arch/node/index.js';
import { EINVAL, ENODEV, ENXIO, ENOENT, EISDIR, ENOTBLK, EROFS, EACCES, EPERM, ENOTDIR, ENOSPC } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { O_RDONLY, O_DIRECTORY, O_CLOEXEC } from '../../uapi/fcntl.js';
import { S_IFDIR, ST_RDONLY } from '../../uapi/stat.js';
import { errnoOf, Fatal } from '../fs2tar/main.js';
import { makeProgress } from '../fs2tar/progress.js';
import { parseArgs, usage, UsageError, BadArgument, type CptofsOptions, type Mode } from './cli.js';
import { isRootSource, splitPath, hasWildcards, fnmatch } from './match.js';
import { TreeCopier, CopyAborted, join } from './tree.js';
import { KernelSide } from './kernel_side.js';
import { HostSide } from './host_side.js';
import { hostHelperAsync, type HostHelper } from './host_helper.js';
import { CopyError, argBytes, shownPath, type SourceSide, type DestSide } from './sides.js';

export interface CptofsIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

function why(e: unknown): string {
  const n = e instanceof CopyError ? e.errno : errnoOf(e);
  if (n !== undefined) return strerror(n);
  return e instanceof Error ? e.message : String(e);
}

/** Run cptofs or cpfromfs; resolves to the exit status. Never throws for user errors. */
export async function cptofsMain(mode: Mode, argv: string[], io: CptofsIo = process): Promise<number> {
  const say = (m: string) => { io.stderr.write(`${mode}: ${m}\n`); };
  let opts: CptofsOptions;
  try {
    const p = parseArgs(mode, argv);
    if (p.help) { io.stdout.write(usage(mode)); return 0; }
    opts = p.opts;
  } catch (e) {
    if (e instanceof UsageError) { say(e.message); io.stderr.write(`Try '${mode} --help' for more information.\n`); return 1; }
    if (e instanceof BadArgument) { say(e.message); return 1; }
    throw e;
  }
  try {
    return await run(opts, io, say);
  } catch (e) {
    if (e instanceof Fatal || e instanceof CopyAborted) { say(e.message); return 1; }
    say(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.CPTOFS_DEBUG && e instanceof Error) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

/** The image must exist, be a file or block device, and be writable for cptofs. */
function checkImage(o: CptofsOptions): void {
  let st: nodeFs.Stats;
  const write = o.mode === 'cptofs';
  try {
    const fd = nodeFs.openSync(o.image, write ? 'r+' : 'r');
    try { st = nodeFs.fstatSync(fd); } finally { nodeFs.closeSync(fd); }
  } catch (e) {
    const n = errnoOf(e);
    if (write && (n === EACCES || n === EROFS || n === EPERM)) {
      let exists = true;
      try { nodeFs.statSync(o.image); } catch { exists = false; }
      if (exists) throw new Fatal(`cannot open '${o.image}' for writing: ${why(e)} (the image is read-only)`);
    }
    if (n === EISDIR) throw new Fatal(`cannot open '${o.image}': ${strerror(EISDIR)}`);
    throw new Fatal(`cannot open '${o.image}': ${why(e)}`);
  }
  if (st.isDirectory()) throw new Fatal(`cannot open '${o.image}': ${strerror(EISDIR)}`);
  if (!st.isFile() && !st.isBlockDevice()) throw new Fatal(`cannot open '${o.image}': ${strerror(ENOTBLK)}`);
}

const FS_NAMES: Record<number, string> = { 0xef53: 'ext2/3/4', 0x4d44: 'vfat', 0x01021994: 'tmpfs' };

async function mountImage(k: LklKernel, id: number, o: ImageSpec): Promise<string> {
  const where = o.part > 0 ? `partition ${o.part} of '${o.image}'` : `'${o.image}'`;
  let mnt: string;
  try {
    mnt = await k.mountDev(id, { part: o.part, fstype: o.fstype, flags: o.mode === 'cpfromfs' ? MS_RDONLY : 0 });
  } catch (e) {
    const n = errnoOf(e);
    if (n === ENXIO || (n === ENOENT && o.part > 0)) throw new Fatal(`no partition ${o.part} on '${o.image}'`);
    if (o.fstype === 'auto' && (n === EINVAL || n === ENODEV)) throw new Fatal(`unknown filesystem on ${where}`);
    if (o.fstype !== 'auto' && n === ENODEV) throw new Fatal(`unknown filesystem type '${o.fstype}'`);
    if (o.fstype !== 'auto' && n === EINVAL) throw new Fatal(`${where} is not a valid ${o.fstype} filesystem (${strerror(EINVAL)})`);
    throw new Fatal(`cannot mount ${where}${o.fstype === 'auto' ? '' : ` as ${o.fstype}`}: ${why(e)}`);
  }
  if (o.mode === 'cptofs') {
    // k.mountDev falls back to a read-only mount when the filesystem refuses read-write; a copy
    // into it would fail on the first object, so say why now.
    const st: { flags?: number; type?: number } = {};
    if ((await k.sys.statfs(mnt, st)) === 0 && ((st.flags ?? 0) & ST_RDONLY)) {
      try { await k.umountDev(id, { part: o.part }); } catch { /* halting anyway */ }
      const name = FS_NAMES[st.type ?? 0] ?? (o.fstype === 'auto' ? 'the filesystem' : o.fstype);
      throw new Fatal(`${where}: ${name} could only be mounted read-only (${strerror(EROFS)}); nothing copied`);
    }
  }
  return mnt;
}

async function run(o: CptofsOptions, io: CptofsIo, say: (m: string) => void): Promise<number> {
  checkImage(o);
  return withMountedImage(o, io, say, async (k, helper) => {
    const kernel = new KernelSide(k);
    const host = new HostSide(helper);
    const [src, dst]: [SourceSide, DestSide] = o.mode === 'cptofs' ? [host, kernel] : [kernel, host];
    if (!helper) say('warning: no python3 on this host: extended attributes, devices and fifos on the host side are not copied, times to the microsecond');
    let status = await copyAll(k, o, src, dst, io, say);
    for (const [p, n] of await host.settle()) { say(`${shownPath(p)}: utimensat: ${strerror(n)}`); status = 1; }
    return status;
  });
}

/** What withMountedImage needs to know: the image, how to mount it, the kernel's memory. */
export type ImageSpec = Pick<CptofsOptions, 'mode' | 'image' | 'part' | 'fstype' | 'mb' | 'printk'>;

/**
 * LKL's sequence around a copy, shared by cptofs/cpfromfs and `lkl mkfs -d`: boot, add the image
 * as a disk, mount it (read-write for cptofs), umask 0, chroot the init task into the mount
 * (image paths are absolute from its root), run `body` with the host helper (null without
 * python3), then leave the chroot, unmount and halt, whatever happened. Resolves to body's
 * status, or 1 when the unmount failed; throws Fatal with a one-line message when the image
 * cannot be opened or mounted.
 */
export async function withMountedImage(o: ImageSpec, io: Pick<CptofsIo, 'stdout'>, say: (m: string) => void,
  body: (k: LklKernel, helper: HostHelper | null) => Promise<number>, onBoot?: (k: LklKernel) => Promise<void>): Promise<number> {
  // Python starts while the kernel boots.
  const starting = hostHelperAsync();
  let k: LklKernel;
  try {
    k = await boot({ cmdline: `mem=${o.mb}M`, host: createNodeHost({ print: o.printk ? (t) => { io.stdout.write(t); } : null }), net: false });
  } catch (e) {
    await (await starting)?.close();
    throw new Fatal(`cannot boot the kernel: ${why(e)}`);
  }
  let helper: HostHelper | null = null;
  let status = 0;
  try {
    helper = await starting;
    await onBoot?.(k);
    let id: number;
    try {
      id = await k.diskAdd({ path: o.image, readOnly: o.mode === 'cpfromfs' });
    } catch (e) {
      throw new Fatal(`cannot open '${o.image}': ${why(e)}`);
    }
    const mnt = await mountImage(k, id, o);
    let rootFd = -1;
    try {
      await k.sys.umask(0);
      rootFd = await k.sys.openat(-100, '/', O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      if (rootFd < 0 || (await k.sys.chroot(mnt)) < 0 || (await k.sys.chdir('/')) < 0) {
        throw new Fatal(`cannot enter the mounted image: ${strerror(rootFd < 0 ? rootFd : EINVAL)}`);
      }
      status = await body(k, helper);
    } finally {
      if (rootFd >= 0) {
        // Back to the real root, so that the mount point can be named and unmounted.
        await k.sys.fchdir(rootFd);
        await k.sys.chroot('.');
        await k.sys.chdir('/');
        await k.sys.close(rootFd);
      }
      try {
        await k.umountDev(id, { part: o.part, timeoutMs: 1000 });
      } catch (e) {
        say(`cannot unmount ${mnt}: ${why(e)}`);
        status = 1;
      }
    }
  } finally {
    await (helper ?? await starting)?.close();
    await k.halt();
  }
  return status;
}

/** Source bytes to copy, for the progress bar's total (cptofs reads the host tree once more for it). */
async function estimate(k: LklKernel, o: CptofsOptions): Promise<number> {
  if (o.mode === 'cpfromfs') {
    const st: { blocks?: number; bfree?: number; bsize?: number } = {};
    return (await k.sys.statfs('/', st)) === 0 ? ((st.blocks ?? 0) - (st.bfree ?? 0)) * (st.bsize ?? 0) : 0;
  }
  let total = 0;
  const walk = (p: string, depth: number) => {
    let st: nodeFs.Stats;
    try { st = nodeFs.lstatSync(p); } catch { return; }
    if (st.isFile()) total += st.size;
    else if (st.isDirectory() && depth < 64) {
      let names: string[] = [];
      try { names = nodeFs.readdirSync(p); } catch { /* reported by the copy */ }
      for (const n of names) walk(`${p}/${n}`, depth + 1);
    }
  };
  for (const s of o.sources) walk(s, 0);
  return total;
}

/**
 * fs2tar's progress bar names fs2tar in its format; this stream view puts our name there. (A
 * label parameter of makeProgress would make it unnecessary.)
 */
function relabel(stream: NodeJS.WriteStream, name: string): NodeJS.WriteStream {
  return new Proxy(stream, {
    get(target, key) {
      if (key === 'write') {
        return (chunk: unknown, ...rest: unknown[]) =>
          (target.write as (...a: unknown[]) => boolean)(typeof chunk === 'string' ? chunk.replace(/^((?:\x1b\[[0-9;?]*[A-Za-z])*)fs2tar \[/, `$1${name} [`) : chunk, ...rest);
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function copyAll(k: LklKernel, o: CptofsOptions, src: SourceSide, dst: DestSide, io: CptofsIo, say: (m: string) => void): Promise<number> {
  const progress = makeProgress(relabel(io.stderr, o.mode), io.stderr.isTTY ? await estimate(k, o) : 0);
  const copier = new TreeCopier(src, dst, {
    owner: o.owner, group: o.group,
    selinux: o.mode === 'cptofs' ? o.selinux : null,
    warn: (m) => { progress.clear(); say(m); },
    progress: (b, e) => progress.update(b, e),
  });
  // Image paths are absolute in the chrooted task; host paths stay as given.
  const imagePath = (p: string) => (p.startsWith('/') ? p : `/${p}`);
  const dest = o.mode === 'cptofs' ? imagePath(argBytes(o.dest)) : argBytes(o.dest);
  const shownDest = o.mode === 'cptofs' ? `${o.dest} (in the image)` : o.dest;
  let failed = 0;
  try {
    // The destination: an existing directory (symlinks the user named are followed), or, for a
    // single plain source, a new name in an existing directory.
    const destType = await dst.typeAt(join(dest, '.')).catch(() => null);
    let rename: string | null = null;
    if (destType !== S_IFDIR) {
      const single = o.sources.length === 1 && !isRootSource(o.sources[0]!) && !hasWildcards(splitPath(o.sources[0]!).base);
      const parentType = await dst.typeAt(join(splitPath(dest).dir, '.')).catch(() => null);
      const selfType = await dst.typeAt(dest).catch(() => null);
      if (!single || parentType !== S_IFDIR) {
        throw new Fatal(`destination '${shownDest}': ${strerror(selfType === null ? ENOENT : ENOTDIR)}`);
      }
      rename = dest;
    }
    for (const s0 of o.sources) {
      const s = o.mode === 'cptofs' ? argBytes(s0) : imagePath(argBytes(s0));
      if (isRootSource(s0)) { await src.prepare?.(s); await copier.copyEntries(s, dest); continue; }
      const { dir, base } = splitPath(s);
      // "dir/." names the contents of dir, as LKL's all-dots sources and GNU cp do.
      if (base === '.') { await src.prepare?.(s); await copier.copyEntries(s, dest); continue; }
      if (base === '..' || base === '/') {
        say(`cannot copy '${s0}': name the directory itself, or its contents with '${s0}/.'`);
        failed++;
        continue;
      }
      if (!hasWildcards(base)) {
        try { await src.lstat(s); } catch (e) {
          say(`cannot stat '${s0}'${o.mode === 'cpfromfs' ? ' in the image' : ''}: ${why(e)}`);
          failed++;
          continue;
        }
        await src.prepare?.(s);
        await copier.copy(s, rename ?? join(dest, base));
        continue;
      }
      const n = await copier.copyEntries(dir, dest, (name) => fnmatch(base, name));
      if (n === 0) { say(`'${s0}': no match${o.mode === 'cpfromfs' ? ' in the image' : ''}`); failed++; }
    }
  } catch (e) {
    progress.stop();
    if (e instanceof CopyAborted && e.errno === ENOSPC && o.mode === 'cptofs') {
      throw new Fatal(`'${o.image}': no space left on the image (while copying ${shownPath(e.path)})`);
    }
    throw e;
  }
  progress.stop();
  return failed > 0 || copier.stats.errors > 0 ? 1 : 0;
}
