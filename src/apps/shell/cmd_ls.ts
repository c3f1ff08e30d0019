/*
 * ls and stat: listing directories and showing metadata the way GNU coreutils does.
 *
 * ls reads each directory with getdents64 (decoded in context.ts) and lstats every entry for
 * the long format. Its rules, kept from GNU:
 *  - operands that are not directories are listed first, together; then each directory, with a
 *    "name:" header when more than one operand was given;
 *  - a symbolic link on the command line is followed unless -l or -d asks for the link itself;
 *  - names sort in byte order (the C locale); entries starting with '.' are hidden without -a/-A;
 *  - long lines align their columns, "total N" counts 1K blocks (st_blocks is in 512-byte units);
 *  - exit status 2 when a command-line operand cannot be accessed, 1 for lesser trouble.
 */
import { MAJOR, MINOR, S_ISDIR, S_ISLNK, S_ISCHR, S_ISBLK, type Kstat, type Timespec } from '../../uapi/stat.js';
import { CLOCK_REALTIME } from '../../uapi/misc.js';
import { getopts } from './parse.js';
import { type Ctx, type Command, q, qf, warn, statPath, readDir, readlink, joinPath, type Dirent } from './context.js';
import { modeString, lsTime, statTime, fileTypeName, Names, humanSize } from './format.js';

interface Entry { name: string; path: string; st: Kstat; target?: string; operand?: boolean }

interface LsOpts {
  long: boolean; all: boolean; almostAll: boolean; dirSelf: boolean; one: boolean;
  inode: boolean; human: boolean; recursive: boolean;
}

async function now(ctx: Ctx): Promise<Timespec> {
  const ts = { sec: 0, nsec: 0 };
  await ctx.sys.clock_gettime(CLOCK_REALTIME, ts);
  return ts;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export const ls: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'laAd1ihR', '', { all: 'a', 'almost-all': 'A', directory: 'd', inode: 'i', 'human-readable': 'h', recursive: 'R' });
  if (o.error) { await warn(ctx, 'ls', o.error); await ctx.err.write("Try 'ls --help' for more information.\n"); return 2; }
  const f = o.flags;
  const opts: LsOpts = {
    long: f.has('l'), all: f.has('a'), almostAll: f.has('A'), dirSelf: f.has('d'), one: f.has('1'),
    inode: f.has('i'), human: f.has('h'), recursive: f.has('R'),
  };
  const operands = o.operands.length ? o.operands : ['.'];
  let status = 0;
  const files: Entry[] = [];
  const dirs: Entry[] = [];
  for (const name of operands) {
    // Follow command-line links to directories unless the link itself is wanted.
    const nofollow = opts.long || opts.dirSelf;
    let st = await statPath(ctx.sys, name, !nofollow);
    if (typeof st === 'number' && !nofollow) st = await statPath(ctx.sys, name, false); // dangling link
    if (typeof st === 'number') { await warn(ctx, 'ls', `cannot access ${q(name)}`, st); status = 2; continue; }
    const e: Entry = { name, path: name, st, operand: true };
    if (S_ISDIR(st.mode) && !opts.dirSelf) dirs.push(e); else files.push(e);
  }
  files.sort(byName);
  dirs.sort(byName);
  const names = new Names(ctx.sys);
  const t = await now(ctx);
  let printed = false;
  if (files.length) {
    await fillLinks(ctx, files, opts);
    await printEntries(ctx, files, opts, names, t);
    printed = true;
  }
  const header = operands.length > 1 || opts.recursive;
  const queue = [...dirs];
  while (queue.length) {
    const d = queue.shift()!;
    if (printed) await ctx.out.write('\n');
    if (header) await ctx.out.write(`${qf(d.name)}:\n`);
    printed = true;
    const r = await listDir(ctx, d.path, opts, names, t);
    if (typeof r === 'number') {
      await warn(ctx, 'ls', `cannot open directory ${q(d.path)}`, r);
      status = Math.max(status, d.operand ? 2 : 1);
      continue;
    }
    status = Math.max(status, r.status);
    if (opts.recursive) {
      const subs = r.entries.filter((e) => S_ISDIR(e.st.mode) && e.name !== '.' && e.name !== '..')
        .map((e) => ({ ...e, name: e.path, operand: false }));
      queue.unshift(...subs);
    }
  }
  return status;
};

async function fillLinks(ctx: Ctx, entries: Entry[], opts: LsOpts): Promise<void> {
  if (!opts.long) return;
  for (const e of entries) {
    if (!S_ISLNK(e.st.mode)) continue;
    const t = await readlink(ctx.sys, e.path);
    if (typeof t === 'string') e.target = t;
  }
}

/** One directory's listing; the negative errno when it cannot be read at all. */
async function listDir(ctx: Ctx, path: string, opts: LsOpts, names: Names, t: Timespec):
  Promise<{ status: number; entries: Entry[] } | number> {
  const ents = await readDir(ctx.sys, path);
  if (typeof ents === 'number') return ents;
  let status = 0;
  const shown = ents.filter((d: Dirent) => !d.name.startsWith('.') || opts.all ||
    (opts.almostAll && d.name !== '.' && d.name !== '..'));
  shown.sort(byName);
  const entries: Entry[] = [];
  for (const d of shown) {
    const p = joinPath(path, d.name);
    // Only the long format (and -R, -i) needs metadata; plain ls needs only names.
    if (opts.long || opts.recursive || opts.inode) {
      const st = await statPath(ctx.sys, p, false);
      if (typeof st === 'number') { await warn(ctx, 'ls', `cannot access ${q(p)}`, st); status = 1; continue; }
      entries.push({ name: d.name, path: p, st });
    } else {
      entries.push({ name: d.name, path: p, st: { ino: d.ino, mode: d.type << 12 } as Kstat });
    }
  }
  if (opts.long) {
    const blocks = entries.reduce((s, e) => s + e.st.blocks, 0);
    const kb = Math.ceil((blocks * 512) / 1024);
    await ctx.out.write(`total ${opts.human ? humanSize(kb * 1024) : kb}\n`);
  }
  await fillLinks(ctx, entries, opts);
  await printEntries(ctx, entries, opts, names, t);
  return { status, entries };
}

async function printEntries(ctx: Ctx, entries: Entry[], opts: LsOpts, names: Names, t: Timespec): Promise<void> {
  if (entries.length === 0) return;
  const ino = (e: Entry) => (opts.inode ? String(e.st.ino) : '');
  const inoW = Math.max(...entries.map((e) => ino(e).length));
  const inoCol = (e: Entry) => (opts.inode ? `${ino(e).padStart(inoW)} ` : '');
  if (!opts.long) {
    const cells = entries.map((e) => inoCol(e) + e.name);
    await ctx.out.write(ctx.isTTY && !opts.one ? columns(cells, ctx.columns) : cells.map((c) => c + '\n').join(''));
    return;
  }
  // Device numbers print as "major, minor", each part aligned across the listing.
  const isDev = (st: Kstat) => S_ISCHR(st.mode) || S_ISBLK(st.mode);
  const devs = entries.filter((e) => isDev(e.st));
  const majW = Math.max(0, ...devs.map((e) => String(MAJOR(e.st.rdev)).length));
  const minW = Math.max(0, ...devs.map((e) => String(MINOR(e.st.rdev)).length));
  const rows: string[][] = [];
  for (const e of entries) {
    const st = e.st;
    const owner = (await names.user(st.uid)) ?? String(st.uid);
    const group = (await names.group(st.gid)) ?? String(st.gid);
    const size = isDev(st) ? `${String(MAJOR(st.rdev)).padStart(majW)}, ${String(MINOR(st.rdev)).padStart(minW)}`
      : opts.human ? humanSize(st.size) : String(st.size);
    let name = e.name;
    if (e.target !== undefined) name += ` -> ${e.target}`;
    rows.push([inoCol(e) + modeString(st.mode), String(st.nlink), owner, group, size, lsTime(st.mtime, t), name]);
  }
  const w = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  let text = '';
  for (const r of rows) {
    text += `${r[0]!.padEnd(w[0]!)} ${r[1]!.padStart(w[1]!)} ${r[2]!.padEnd(w[2]!)} ${r[3]!.padEnd(w[3]!)} ` +
      `${r[4]!.padStart(w[4]!)} ${r[5]} ${r[6]}\n`;
  }
  await ctx.out.write(text);
}

/** GNU ls's vertical columns: as many columns as fit in the width, filled top to bottom. */
export function columns(cells: string[], width: number): string {
  const n = cells.length;
  let best = 1;
  for (let cols = Math.min(n, Math.max(1, Math.floor(width / 3))); cols > 1; cols--) {
    const rows = Math.ceil(n / cols);
    if (Math.ceil(n / rows) !== cols) continue; // this many columns would leave one empty
    let total = 0;
    for (let c = 0; c < cols; c++) {
      const col = cells.slice(c * rows, (c + 1) * rows);
      total += Math.max(...col.map((s) => s.length)) + (c < cols - 1 ? 2 : 0);
    }
    if (total < width) { best = cols; break; }
  }
  const rows = Math.ceil(n / best);
  const widths: number[] = [];
  for (let c = 0; c < best; c++) widths.push(Math.max(...cells.slice(c * rows, (c + 1) * rows).map((s) => s.length)));
  let out = '';
  for (let r = 0; r < rows; r++) {
    const line: string[] = [];
    for (let c = 0; c < best; c++) {
      const i = c * rows + r;
      if (i >= n) break;
      const last = c === best - 1 || (c + 1) * rows + r >= n;
      line.push(last ? cells[i]! : cells[i]!.padEnd(widths[c]! + 2));
    }
    out += line.join('') + '\n';
  }
  return out;
}

/* ------------------------------------------------------------------------------------ stat */

export const stat: Command = async (ctx, argv) => {
  const o = getopts(argv.slice(1), 'L', '', { dereference: 'L' });
  if (o.error) { await warn(ctx, 'stat', o.error); return 1; }
  if (!o.operands.length) { await warn(ctx, 'stat', 'missing operand'); await ctx.err.write("Try 'stat --help' for more information.\n"); return 1; }
  const names = new Names(ctx.sys);
  let status = 0;
  for (const p of o.operands) {
    const st = await statPath(ctx.sys, p, o.flags.has('L'));
    if (typeof st === 'number') { await warn(ctx, 'stat', `cannot statx ${q(p)}`, st); status = 1; continue; }
    let file = qf(p);
    if (S_ISLNK(st.mode)) {
      const t = await readlink(ctx.sys, p);
      if (typeof t === 'string') file += ` -> ${qf(t)}`;
    }
    const dev = S_ISCHR(st.mode) || S_ISBLK(st.mode);
    const user = (await names.user(st.uid)) ?? 'UNKNOWN';
    const group = (await names.group(st.gid)) ?? 'UNKNOWN';
    const perm = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const btime = st.btime ? statTime(st.btime) : '-';
    await ctx.out.write(
      `  File: ${file}\n` +
      `  Size: ${String(st.size).padEnd(10)}\tBlocks: ${String(st.blocks).padEnd(10)} IO Block: ${String(st.blksize).padEnd(6)} ${fileTypeName(st.mode, st.size)}\n` +
      `Device: ${MAJOR(st.dev)},${MINOR(st.dev)}\tInode: ${String(st.ino).padEnd(11)} Links: ` +
      (dev ? `${String(st.nlink).padEnd(5)} Device type: ${MAJOR(st.rdev)},${MINOR(st.rdev)}\n` : `${st.nlink}\n`) +
      `Access: (${perm}/${modeString(st.mode)})  Uid: (${String(st.uid).padStart(5)}/${user.padStart(8)})   Gid: (${String(st.gid).padStart(5)}/${group.padStart(8)})\n` +
      `Access: ${statTime(st.atime)}\n` +
      `Modify: ${statTime(st.mtime)}\n` +
      `Change: ${statTime(st.ctime)}\n` +
      ` Birth: ${btime}\n`,
    );
  }
  return status;
};
