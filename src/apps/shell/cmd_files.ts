/*
 * The file commands of coreutils, each a short program over system calls: cat, echo, mkdir,
 * rmdir, rm, mv, cp, ln, touch, chmod, and the shell builtins cd and pwd.
 *
 * They keep coreutils' contract where a script would notice it: the same option letters, the
 * same "prog: cannot X 'name': strerror" messages, exit status 1 on any failure while the other
 * operands are still processed, "Try 'prog --help'" after a usage error.
 */
import { EEXIST, ENOENT, EXDEV, EINVAL, EISDIR } from '../../uapi/errno.js';
import {
  O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_NONBLOCK, O_NOCTTY, O_CLOEXEC, AT_FDCWD,
} from '../../uapi/fcntl.js';
import { S_ISDIR, S_ISLNK, S_ISCHR, S_ISBLK, S_ISFIFO, S_ISSOCK, type Kstat } from '../../uapi/stat.js';
import { getopts } from './parse.js';
import {
  type Ctx, type Command, q, qf, warn, statPath, readDir, readlink, writeAll, getcwd, joinPath,
  basename, dirname, normalize, utf8,
} from './context.js';

async function usage(ctx: Ctx, prog: string, msg: string): Promise<number> {
  await warn(ctx, prog, msg);
  await ctx.err.write(`Try '${prog} --help' for more information.\n`);
  return 1;
}

/* ------------------------------------------------------------------------------------- cat */

export const cat: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'u');
  if (o.error) return usage(ctx, 'cat', o.error);
  if (!o.operands.length) { await warn(ctx, 'cat', '-: standard input is the shell\'s command input'); return 1; }
  let status = 0;
  const buf = new Uint8Array(65536);
  for (const p of o.operands) {
    const fd = await ctx.sys.open(p, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) { await warn(ctx, 'cat', qf(p), fd); status = 1; continue; }
    for (;;) {
      const n = await ctx.sys.read(fd, buf, buf.length);
      if (n < 0) { await warn(ctx, 'cat', qf(p), n); status = 1; break; }
      if (n === 0) break;
      await ctx.out.write(buf.slice(0, n));
    }
    await ctx.sys.close(fd);
  }
  return status;
};

/* ------------------------------------------------------------------------------------ echo */

/** echo [-neE] args: options only while every letter is one of n, e, E (bash's rule). */
export const echo: Command = async (ctx, argv) => {
  let i = 1, newline = true, escapes = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!/^-[neE]+$/.test(a)) break;
    for (const c of a.slice(1)) { if (c === 'n') newline = false; else escapes = c === 'e'; }
  }
  let text = argv.slice(i).join(' ');
  if (escapes) {
    const r = expandEscapes(text);
    text = r.text;
    if (r.stop) newline = false;
  }
  await ctx.out.write(newline ? text + '\n' : text);
  return 0;
};

function expandEscapes(s: string): { text: string; stop: boolean } {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) { out += c; continue; }
    const d = s[++i]!;
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b', '\\': '\\' };
    if (d in simple) { out += simple[d]; continue; }
    if (d === 'c') return { text: out, stop: true };
    if (d === '0') { const m = /^[0-7]{0,3}/.exec(s.slice(i + 1))![0]; out += String.fromCharCode(parseInt(m || '0', 8) & 0xff); i += m.length; continue; }
    if (d === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1));
      if (m) { out += String.fromCharCode(parseInt(m[0], 16)); i += m[0].length; continue; }
    }
    out += '\\' + d;
  }
  return { text: out, stop: false };
}

/* --------------------------------------------------------------------------- mkdir, rmdir */

export const mkdir: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'pv', 'm', { parents: 'p', verbose: 'v', mode: 'm' });
  if (o.error) return usage(ctx, 'mkdir', o.error);
  if (!o.operands.length) return usage(ctx, 'mkdir', 'missing operand');
  let mode: number | undefined;
  const m = o.values.get('m');
  if (m !== undefined) {
    const um = await currentUmask(ctx);
    mode = parseMode(m, 0o777, true, um);
    if (mode === undefined) { await warn(ctx, 'mkdir', `invalid mode ${q(m)}`); return 1; }
  }
  let status = 0;
  for (const p of o.operands) {
    if (o.flags.has('p')) {
      // Each ancestor first; one that exists already (EEXIST) is fine.
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) {
        const anc = parts.slice(0, i).join('/');
        if (anc === '' || anc === '.' || anc === '..') continue;
        const r = await ctx.sys.mkdir(anc, 0o777);
        if (r === 0 && o.flags.has('v')) await ctx.out.write(`mkdir: created directory ${q(anc)}\n`);
      }
    }
    const r = await ctx.sys.mkdir(p, mode ?? 0o777);
    if (r < 0) {
      if (r === -EEXIST && o.flags.has('p')) {
        const st = await statPath(ctx.sys, p);
        if (typeof st !== 'number' && S_ISDIR(st.mode)) continue;
      }
      await warn(ctx, 'mkdir', `cannot create directory ${q(p)}`, r);
      status = 1;
      continue;
    }
    // An explicit -m is not subject to the umask.
    if (mode !== undefined) await ctx.sys.chmod(p, mode);
    if (o.flags.has('v')) await ctx.out.write(`mkdir: created directory ${q(p)}\n`);
  }
  return status;
};

export const rmdir: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'pv', '', { parents: 'p', verbose: 'v' });
  if (o.error) return usage(ctx, 'rmdir', o.error);
  if (!o.operands.length) return usage(ctx, 'rmdir', 'missing operand');
  let status = 0;
  for (const p of o.operands) {
    let cur = p;
    for (;;) {
      const r = await ctx.sys.rmdir(cur);
      if (r < 0) { await warn(ctx, 'rmdir', `failed to remove ${q(cur)}`, r); status = 1; break; }
      if (o.flags.has('v')) await ctx.out.write(`rmdir: removing directory, ${q(cur)}\n`);
      if (!o.flags.has('p')) break;
      const up = dirname(cur);
      if (up === cur || up === '.' || up === '/') break;
      cur = up;
    }
  }
  return status;
};

/* -------------------------------------------------------------------------------------- rm */

export const rm: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'rRfdv', '', { recursive: 'r', force: 'f', dir: 'd', verbose: 'v', 'no-preserve-root': 'P' });
  if (o.error) return usage(ctx, 'rm', o.error);
  const force = o.flags.has('f');
  const recursive = o.flags.has('r') || o.flags.has('R');
  if (!o.operands.length) return force ? 0 : usage(ctx, 'rm', 'missing operand');
  let status = 0;
  for (const p of o.operands) {
    const base = basename(p);
    if (base === '.' || base === '..') {
      await warn(ctx, 'rm', `refusing to remove '.' or '..' directory: skipping ${q(p)}`);
      status = 1; continue;
    }
    if (recursive && normalize('/', p) === '/' && p.startsWith('/') && !o.flags.has('P')) {
      await warn(ctx, 'rm', `it is dangerous to operate recursively on ${q(p)}`);
      await warn(ctx, 'rm', 'use --no-preserve-root to override this failsafe');
      status = 1; continue;
    }
    if (!(await removePath(ctx, p, recursive, force, o.flags.has('d'), o.flags.has('v')))) status = 1;
  }
  return status;
};

/** Remove one operand (a tree with -r); false if anything could not be removed. */
async function removePath(ctx: Ctx, p: string, recursive: boolean, force: boolean, emptyDirs: boolean,
  verbose: boolean): Promise<boolean> {
  const st = await statPath(ctx.sys, p, false);
  if (typeof st === 'number') {
    if (force && st === -ENOENT) return true;
    await warn(ctx, 'rm', `cannot remove ${q(p)}`, st);
    return false;
  }
  if (S_ISDIR(st.mode)) {
    if (!recursive) {
      if (emptyDirs) return rmdirVerbose(ctx, p, verbose);
      await warn(ctx, 'rm', `cannot remove ${q(p)}: Is a directory`);
      return false;
    }
    const ents = await readDir(ctx.sys, p);
    if (typeof ents === 'number') {
      // An unreadable directory may still be empty enough to remove.
      const r = await ctx.sys.rmdir(p);
      if (r === 0) return true;
      await warn(ctx, 'rm', `cannot remove ${q(p)}`, ents);
      return false;
    }
    let ok = true;
    for (const e of ents) {
      if (e.name === '.' || e.name === '..') continue;
      if (!(await removePath(ctx, joinPath(p, e.name), true, force, emptyDirs, verbose))) ok = false;
    }
    if (!ok) return false;
    return rmdirVerbose(ctx, p, verbose);
  }
  const r = await ctx.sys.unlink(p);
  if (r < 0) {
    if (force && r === -ENOENT) return true;
    await warn(ctx, 'rm', `cannot remove ${q(p)}`, r);
    return false;
  }
  if (verbose) await ctx.out.write(`removed ${q(p)}\n`);
  return true;
}

async function rmdirVerbose(ctx: Ctx, p: string, verbose: boolean): Promise<boolean> {
  const r = await ctx.sys.rmdir(p);
  if (r < 0) { await warn(ctx, 'rm', `cannot remove ${q(p)}`, r); return false; }
  if (verbose) await ctx.out.write(`removed directory ${q(p)}\n`);
  return true;
}

/* ---------------------------------------------------------------------------------- mv, cp */

/**
 * Where each source goes: "a b" -> b, or, when the last operand is a directory (or -t), into it.
 * Returns null after printing the error when the operands do not make sense.
 */
async function targets(ctx: Ctx, prog: string, operands: string[], noTargetDir: boolean):
  Promise<[string, string][] | null> {
  if (operands.length === 0) { await usage(ctx, prog, 'missing file operand'); return null; }
  if (operands.length === 1) { await usage(ctx, prog, `missing destination file operand after ${q(operands[0]!)}`); return null; }
  const dest = operands[operands.length - 1]!;
  const srcs = operands.slice(0, -1);
  const st = noTargetDir ? -ENOENT : await statPath(ctx.sys, dest);
  const isDir = typeof st !== 'number' && S_ISDIR(st.mode);
  if (!isDir) {
    if (srcs.length > 1) { await warn(ctx, prog, `target ${q(dest)} is not a directory`); return null; }
    return [[srcs[0]!, dest]];
  }
  return srcs.map((s) => [s, joinPath(dest, basename(s))]);
}

export const mv: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'fnvT', '', { force: 'f', 'no-clobber': 'n', verbose: 'v', 'no-target-directory': 'T' });
  if (o.error) return usage(ctx, 'mv', o.error);
  const pairs = await targets(ctx, 'mv', o.operands, o.flags.has('T'));
  if (!pairs) return 1;
  let status = 0;
  for (const [src, dst] of pairs) {
    const st = await statPath(ctx.sys, src, false);
    if (typeof st === 'number') { await warn(ctx, 'mv', `cannot stat ${q(src)}`, st); status = 1; continue; }
    if (o.flags.has('n') && typeof (await statPath(ctx.sys, dst, false)) !== 'number') continue;
    let r = await ctx.sys.rename(src, dst);
    if (r === -EXDEV) {
      // Across filesystems: copy everything, then remove the original (what mv(1) does).
      if (!(await copyPath(ctx, 'mv', src, dst, st, true, true))) { status = 1; continue; }
      r = (await removePath(ctx, src, true, false, false, false)) ? 0 : -1;
      if (r < 0) { status = 1; continue; }
    }
    if (r === -EINVAL && S_ISDIR(st.mode)) {
      await warn(ctx, 'mv', `cannot move ${q(src)} to a subdirectory of itself, ${q(dst)}`); status = 1; continue;
    }
    if (r < 0) { await warn(ctx, 'mv', `cannot move ${q(src)} to ${q(dst)}`, r); status = 1; continue; }
    if (o.flags.has('v')) await ctx.out.write(`renamed ${q(src)} -> ${q(dst)}\n`);
  }
  return status;
};

export const cp: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'rRafvnT', '', { recursive: 'r', archive: 'a', force: 'f', verbose: 'v', 'no-clobber': 'n', 'no-target-directory': 'T' });
  if (o.error) return usage(ctx, 'cp', o.error);
  const recursive = o.flags.has('r') || o.flags.has('R') || o.flags.has('a');
  const pairs = await targets(ctx, 'cp', o.operands, o.flags.has('T'));
  if (!pairs) return 1;
  const cwd = await getcwd(ctx.sys);
  let status = 0;
  for (const [src, dst] of pairs) {
    // Command-line links are followed unless copying recursively (cp -R implies -P).
    const st = await statPath(ctx.sys, src, !recursive);
    if (typeof st === 'number') { await warn(ctx, 'cp', `cannot stat ${q(src)}`, st); status = 1; continue; }
    if (S_ISDIR(st.mode)) {
      if (!recursive) { await warn(ctx, 'cp', `-r not specified; omitting directory ${q(src)}`); status = 1; continue; }
      const c = typeof cwd === 'string' ? cwd : '/';
      const a = normalize(c, src), b = normalize(c, dst);
      if (b === a || b.startsWith(a === '/' ? '/' : a + '/')) {
        await warn(ctx, 'cp', `cannot copy a directory, ${q(src)}, into itself, ${q(dst)}`); status = 1; continue;
      }
    }
    if (o.flags.has('n') && typeof (await statPath(ctx.sys, dst, false)) !== 'number') continue;
    if (!(await copyPath(ctx, 'cp', src, dst, st, recursive, o.flags.has('a')))) status = 1;
    else if (o.flags.has('v')) await ctx.out.write(`${q(src)} -> ${q(dst)}\n`);
  }
  return status;
};

/** Copy one file or tree src -> dst; false after printing an error. */
async function copyPath(ctx: Ctx, prog: string, src: string, dst: string, st: Kstat, recursive: boolean,
  preserve: boolean): Promise<boolean> {
  const sys = ctx.sys;
  if (S_ISDIR(st.mode)) {
    let r = await sys.mkdir(dst, (st.mode & 0o777) | 0o700);
    if (r === -EEXIST) {
      const d = await statPath(sys, dst);
      if (typeof d !== 'number' && S_ISDIR(d.mode)) r = 0;
      else { await warn(ctx, prog, `cannot overwrite non-directory ${q(dst)} with directory ${q(src)}`); return false; }
    }
    if (r < 0) { await warn(ctx, prog, `cannot create directory ${q(dst)}`, r); return false; }
    const ents = await readDir(sys, src);
    if (typeof ents === 'number') { await warn(ctx, prog, `cannot access ${q(src)}`, ents); return false; }
    let ok = true;
    for (const e of ents) {
      if (e.name === '.' || e.name === '..') continue;
      const s = joinPath(src, e.name);
      const est = await statPath(sys, s, false);
      if (typeof est === 'number') { await warn(ctx, prog, `cannot stat ${q(s)}`, est); ok = false; continue; }
      if (!(await copyPath(ctx, prog, s, joinPath(dst, e.name), est, recursive, preserve))) ok = false;
    }
    await sys.chmod(dst, st.mode & 0o7777);
    if (preserve) await preserveAttrs(ctx, dst, st);
    return ok;
  }
  if (S_ISLNK(st.mode)) {
    const t = await readlink(sys, src);
    if (typeof t === 'number') { await warn(ctx, prog, `cannot read symbolic link ${q(src)}`, t); return false; }
    let r = await sys.symlink(t, dst);
    if (r === -EEXIST) { await sys.unlink(dst); r = await sys.symlink(t, dst); }
    if (r < 0) { await warn(ctx, prog, `cannot create symbolic link ${q(dst)}`, r); return false; }
    return true;
  }
  if (S_ISCHR(st.mode) || S_ISBLK(st.mode) || S_ISFIFO(st.mode) || S_ISSOCK(st.mode)) {
    if (recursive) {
      const r = await sys.mknod(dst, st.mode, st.rdev);
      if (r < 0) { await warn(ctx, prog, `cannot create special file ${q(dst)}`, r); return false; }
      return true;
    }
  }
  return copyFile(ctx, prog, src, dst, st, preserve);
}

async function copyFile(ctx: Ctx, prog: string, src: string, dst: string, st: Kstat, preserve: boolean): Promise<boolean> {
  const sys = ctx.sys;
  const d = await statPath(sys, dst);
  if (typeof d !== 'number') {
    if (d.dev === st.dev && d.ino === st.ino) { await warn(ctx, prog, `${q(src)} and ${q(dst)} are the same file`); return false; }
    if (S_ISDIR(d.mode)) { await warn(ctx, prog, `cannot overwrite directory ${q(dst)} with non-directory`); return false; }
  }
  const in_ = await sys.open(src, O_RDONLY | O_CLOEXEC, 0);
  if (in_ < 0) { await warn(ctx, prog, `cannot open ${q(src)} for reading`, in_); return false; }
  try {
    const out = await sys.open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.mode & 0o777);
    if (out < 0) { await warn(ctx, prog, `cannot create regular file ${q(dst)}`, out); return false; }
    try {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await sys.read(in_, buf, buf.length);
        if (n < 0) { await warn(ctx, prog, `error reading ${q(src)}`, n); return false; }
        if (n === 0) break;
        const w = await writeAll(sys, out, buf.subarray(0, n));
        if (w < 0) { await warn(ctx, prog, `error writing ${q(dst)}`, w); return false; }
      }
    } finally { await sys.close(out); }
    if (preserve) await preserveAttrs(ctx, dst, st);
    return true;
  } finally { await sys.close(in_); }
}

/** cp -a: mode, owner and times of the source. */
async function preserveAttrs(ctx: Ctx, dst: string, st: Kstat): Promise<void> {
  await ctx.sys.lchown(dst, st.uid, st.gid);
  await ctx.sys.chmod(dst, st.mode & 0o7777);
  await ctx.sys.utimensat(AT_FDCWD, dst, [st.atime, st.mtime], 0);
}

/* -------------------------------------------------------------------------------------- ln */

export const ln: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'sfnvT', '', { symbolic: 's', force: 'f', 'no-dereference': 'n', verbose: 'v', 'no-target-directory': 'T' });
  if (o.error) return usage(ctx, 'ln', o.error);
  const ops = o.operands;
  if (!ops.length) return usage(ctx, 'ln', 'missing file operand');
  let pairs: [string, string][];
  if (ops.length === 1) pairs = [[ops[0]!, basename(ops[0]!)]];
  else {
    const dest = ops[ops.length - 1]!;
    // -n: a link to a directory named as the destination is replaced, not entered.
    const st = o.flags.has('T') ? -ENOENT : await statPath(ctx.sys, dest, !o.flags.has('n'));
    const isDir = typeof st !== 'number' && S_ISDIR(st.mode);
    if (!isDir) {
      if (ops.length > 2) { await warn(ctx, 'ln', `target ${q(dest)} is not a directory`); return 1; }
      pairs = [[ops[0]!, dest]];
    } else pairs = ops.slice(0, -1).map((s) => [s, joinPath(dest, basename(s))]);
  }
  const sym = o.flags.has('s');
  let status = 0;
  for (const [target, link] of pairs) {
    let r = sym ? await ctx.sys.symlink(target, link) : await ctx.sys.link(target, link);
    if (r === -EEXIST && o.flags.has('f')) {
      await ctx.sys.unlink(link);
      r = sym ? await ctx.sys.symlink(target, link) : await ctx.sys.link(target, link);
    }
    if (r < 0) {
      if (sym) await warn(ctx, 'ln', `failed to create symbolic link ${q(link)}`, r);
      else if (r === -ENOENT && typeof (await statPath(ctx.sys, target, false)) === 'number') {
        await warn(ctx, 'ln', `failed to access ${q(target)}`, r);
      } else await warn(ctx, 'ln', `failed to create hard link ${q(link)} => ${q(target)}`, r);
      status = 1;
      continue;
    }
    if (o.flags.has('v')) await ctx.out.write(`${q(link)} ${sym ? '->' : '=>'} ${q(target)}\n`);
  }
  return status;
};

/* ----------------------------------------------------------------------------------- touch */

export const touch: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'c', '', { 'no-create': 'c' });
  if (o.error) return usage(ctx, 'touch', o.error);
  if (!o.operands.length) return usage(ctx, 'touch', 'missing file operand');
  let status = 0;
  for (const p of o.operands) {
    let openErr = 0;
    if (!o.flags.has('c')) {
      const fd = await ctx.sys.open(p, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0o666);
      if (fd >= 0) await ctx.sys.close(fd); else openErr = fd;
    }
    const r = await ctx.sys.utimensat(AT_FDCWD, p, null, 0);
    if (r < 0) {
      if (o.flags.has('c') && r === -ENOENT) continue;
      // The open error explains more than the utimensat one (EISDIR is expected for directories).
      if (openErr && openErr !== -EISDIR) await warn(ctx, 'touch', `cannot touch ${q(p)}`, openErr);
      else await warn(ctx, 'touch', `setting times of ${q(p)}`, r);
      status = 1;
    }
  }
  return status;
};

/* ----------------------------------------------------------------------------------- chmod */

async function currentUmask(ctx: Ctx): Promise<number> {
  const old = await ctx.sys.umask(0);
  await ctx.sys.umask(old);
  return old;
}

/**
 * A chmod mode, octal ("755") or symbolic ("u+x,go-w", "a=rX", "+t"), applied to `old`.
 * Without a who-letter, bits set in the umask are left alone (as chmod(1) does).
 * Returns undefined when the mode does not parse.
 */
export function parseMode(spec: string, old: number, isDir: boolean, umask: number): number | undefined {
  if (/^[0-7]+$/.test(spec)) {
    const v = parseInt(spec, 8);
    if (v > 0o7777) return undefined;
    // Like GNU, a short octal mode on a directory keeps its set-id bits.
    // Directories keep their set-id bits unless a fifth digit says otherwise (GNU).
    return spec.length < 5 && isDir ? v | (old & 0o6000) : v;
  }
  let mode = old & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(clause);
    if (!m) return undefined;
    let who = 0;
    for (const c of m[1]!) who |= c === 'u' ? 0o4700 : c === 'g' ? 0o2070 : c === 'o' ? 0o1007 : 0o7777;
    const implicit = who === 0;
    if (implicit) who = 0o7777;
    for (const act of m[2]!.match(/[-+=][rwxXstugo]*/g)!) {
      const op = act[0]!;
      let bits = 0;
      for (const c of act.slice(1)) {
        switch (c) {
          case 'r': bits |= 0o444; break;
          case 'w': bits |= 0o222; break;
          case 'x': bits |= 0o111; break;
          case 'X': if (isDir || (old & 0o111)) bits |= 0o111; break;
          case 's': bits |= 0o6000; break;
          case 't': bits |= 0o1000; break;
          default: {
            // Copy another class's bits: "g=u".
            const shift = c === 'u' ? 6 : c === 'g' ? 3 : 0;
            const v = (mode >> shift) & 7;
            bits |= (v << 6) | (v << 3) | v;
          }
        }
      }
      let v = bits & who;
      if (implicit) v &= ~umask;
      if (op === '+') mode |= v;
      else if (op === '-') mode &= ~v;
      else mode = (mode & ~(implicit ? 0o777 & ~umask : who & ~(isDir ? 0o6000 : 0))) | v;
    }
  }
  return mode;
}

export const chmod: Command = async (ctx, argv) => {
  // A mode like "-w" looks like an option: take the first operand-or-mode word by hand.
  const args = argv.slice(1);
  let recursive = false, verbose = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { i++; break; }
    if (a === '-R' || a === '--recursive') recursive = true;
    else if (a === '-v' || a === '--verbose') verbose = true;
    else break;
  }
  const rest = args.slice(i);
  if (!rest.length) return usage(ctx, 'chmod', 'missing operand');
  const spec = rest[0]!;
  if (rest.length === 1) return usage(ctx, 'chmod', `missing operand after ${q(spec)}`);
  const umask = await currentUmask(ctx);
  if (parseMode(spec, 0, false, umask) === undefined) return usage(ctx, 'chmod', `invalid mode: ${q(spec)}`);
  let status = 0;
  const apply = async (p: string, follow: boolean): Promise<void> => {
    const st = await statPath(ctx.sys, p, follow);
    if (typeof st === 'number') { await warn(ctx, 'chmod', `cannot access ${q(p)}`, st); status = 1; return; }
    // Symbolic links met during -R are skipped: their mode means nothing.
    if (S_ISLNK(st.mode)) return;
    const mode = parseMode(spec, st.mode, S_ISDIR(st.mode), umask)!;
    const r = await ctx.sys.chmod(p, mode);
    if (r < 0) { await warn(ctx, 'chmod', `changing permissions of ${q(p)}`, r); status = 1; return; }
    if (verbose) await ctx.out.write(`mode of ${q(p)} changed from ${oct(st.mode)} to ${oct(mode)}\n`);
    if (recursive && S_ISDIR(st.mode)) {
      const ents = await readDir(ctx.sys, p);
      if (typeof ents === 'number') { await warn(ctx, 'chmod', `cannot read directory ${q(p)}`, ents); status = 1; return; }
      for (const e of ents) if (e.name !== '.' && e.name !== '..') await apply(joinPath(p, e.name), false);
    }
  };
  for (const p of rest.slice(1)) await apply(p, true);
  return status;
};

const oct = (m: number) => `${(m & 0o7777).toString(8).padStart(4, '0')} (${modeStr(m)})`;
function modeStr(m: number): string {
  let s = '';
  for (const sh of [6, 3, 0]) s += (m >> sh & 4 ? 'r' : '-') + (m >> sh & 2 ? 'w' : '-') + (m >> sh & 1 ? 'x' : '-');
  return s;
}

/* ----------------------------------------------------------------------------- cd and pwd */

export const cd: Command = async (ctx, argv) => {
  if (argv.length > 2) { await ctx.err.write('sh: cd: too many arguments\n'); return 1; }
  const dir = argv[1] ?? '/';
  const r = await ctx.sys.chdir(dir);
  if (r < 0) { await warn(ctx, 'sh: cd', dir, r); return 1; }
  return 0;
};

export const pwd: Command = async (ctx) => {
  const cwd = await getcwd(ctx.sys);
  if (typeof cwd === 'number') { await warn(ctx, 'pwd', 'error retrieving current directory: getcwd', cwd); return 1; }
  await ctx.out.write(cwd + '\n');
  return 0;
};

/* -------------------------------------------------------------------------- redirections */

/**
 * Open the target of "> file" or ">> file" as sh does: O_CREAT with mode 0666 (less the umask),
 * truncating or appending. Returns the fd or -errno.
 */
export async function openRedirect(ctx: Pick<Ctx, 'sys'>, path: string, append: boolean): Promise<number> {
  const flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  return ctx.sys.open(path, flags, 0o666);
}

/** Write a string to an fd (redirected output). */
export async function writeString(ctx: Pick<Ctx, 'sys'>, fd: number, s: string | Uint8Array): Promise<number> {
  return writeAll(ctx.sys, fd, typeof s === 'string' ? utf8(s) : s);
}
