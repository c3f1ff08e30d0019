/*
 * Helpers for the fs2tar suite: manifests of a tree as the kernel reports it (through system
 * calls) and as the host reports it (fs2tar_manifest.py, os.lstat/os.getxattr), their comparison,
 * the test tree built inside the kernel, extraction with GNU tar and bsdtar, and running the
 * built program with a watchdog.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { KernelTask } from '../../src/lkl.js';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC,
} from '../../src/uapi/fcntl.js';
import {
  S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, MAJOR, MINOR, type Kstat,
} from '../../src/uapi/stat.js';

export const FS2TAR_BIN = fileURLToPath(new URL('../../src/apps/fs2tar.js', import.meta.url));
// The .py file stays in the source tree (tsc copies only .ts): dist/test/apps -> test/apps.
export const MANIFEST_PY = fileURLToPath(new URL('../../../test/apps/fs2tar_manifest.py', import.meta.url));

export interface Rec {
  path: string; // hex of the relative path bytes; "" for the root
  type: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime_ns: string;
  atime_ns: string;
  inode: string;
  xattrs: Record<string, string>;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: [number, number];
}
export type Manifest = Map<string, Rec>;

const enc = new TextEncoder();
const dec = new TextDecoder();
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): string => dec.decode(Buffer.from(h, 'hex'));

function typeOf(mode: number): string {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'symlink';
    case S_IFCHR: return 'char';
    case S_IFBLK: return 'block';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'unknown';
  }
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const o = new Uint8Array(a.length + 1 + b.length);
  o.set(a); o[a.length] = 0x2f; o.set(b, a.length + 1);
  return o;
}

const ns = (t: { sec: number; nsec: number }) => (BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec)).toString();

/** The manifest of `root` as the kernel reports it, independently of fs2tar's own walker. */
export async function kernelManifest(t: KernelTask, root: string): Promise<Manifest> {
  const sys = t.sys;
  const out: Manifest = new Map();
  const must = (r: number, what: string) => { if (r < 0) throw new Error(`${what}: errno ${-r}`); return r; };
  async function visit(full: Uint8Array, rel: Uint8Array): Promise<void> {
    const st = {} as Kstat;
    must(await sys.newfstatat(AT_FDCWD, full, st, AT_SYMLINK_NOFOLLOW), `lstat ${dec.decode(full)}`);
    const r: Rec = {
      path: hex(rel), type: typeOf(st.mode), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, nlink: st.nlink,
      mtime_ns: ns(st.mtime), atime_ns: ns(st.atime), inode: `${st.dev}:${st.ino}`, xattrs: {},
    };
    const lb = new Uint8Array(65536);
    const n = await sys.llistxattr(full, lb, lb.length);
    for (let i = 0; i < n;) {
      const end = lb.indexOf(0, i);
      const name = lb.slice(i, end);
      i = end + 1;
      const vb = new Uint8Array(65536);
      const v = must(await sys.lgetxattr(full, name, vb, vb.length), 'lgetxattr');
      r.xattrs[dec.decode(name)] = hex(vb.subarray(0, v));
    }
    out.set(r.path, r);
    const fmt = st.mode & S_IFMT;
    if (fmt === S_IFREG) {
      r.size = st.size;
      const h = createHash('sha256');
      const fd = must(await sys.openat(AT_FDCWD, full, O_RDONLY | O_CLOEXEC, 0), 'open');
      const buf = new Uint8Array(1 << 20);
      for (;;) {
        const k = must(await sys.read(fd, buf, buf.length), 'read');
        if (k === 0) break;
        h.update(buf.subarray(0, k));
      }
      await sys.close(fd);
      r.sha256 = h.digest('hex');
    } else if (fmt === S_IFLNK) {
      const b = new Uint8Array(4096);
      const k = must(await sys.readlinkat(AT_FDCWD, full, b, b.length), 'readlink');
      r.link = hex(b.subarray(0, k));
    } else if (fmt === S_IFCHR || fmt === S_IFBLK) {
      r.rdev = [MAJOR(st.rdev), MINOR(st.rdev)];
    } else if (fmt === S_IFDIR) {
      const fd = must(await sys.openat(AT_FDCWD, full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0), 'opendir');
      const buf = new Uint8Array(32768);
      const v = new DataView(buf.buffer);
      const names: Uint8Array[] = [];
      for (;;) {
        const k = must(await sys.getdents64(fd, buf, buf.length), 'getdents64');
        if (k === 0) break;
        for (let off = 0; off < k;) {
          const reclen = v.getUint16(off + 16, true);
          const nm = buf.slice(off + 19, buf.indexOf(0, off + 19));
          off += reclen;
          const s = dec.decode(nm);
          if (s !== '.' && s !== '..') names.push(nm);
        }
      }
      await sys.close(fd);
      for (const nm of names) await visit(join(full, nm), rel.length ? join(rel, nm) : nm);
    }
  }
  await visit(enc.encode(root), new Uint8Array(0));
  return out;
}

/** The manifest of a host directory, from the host kernel. */
export function hostManifest(dir: string): Manifest {
  const r = spawnSync('python3', [MANIFEST_PY, dir], { maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fs2tar_manifest.py ${dir} failed: ${r.stderr}`);
  const list = JSON.parse(r.stdout) as Rec[];
  const m: Manifest = new Map();
  for (const rec of list) m.set(rec.path, { ...rec, mtime_ns: String(rec.mtime_ns), atime_ns: String(rec.atime_ns) });
  return m;
}

export interface CompareOptions {
  /** Fields compared for every path (besides type). */
  fields: Array<'mode' | 'uid' | 'gid' | 'size' | 'sha256' | 'link' | 'rdev' | 'mtime_ns' | 'mtime_s' | 'atime_ns' | 'nlink'>;
  /** Which xattrs take part (by name); default none. */
  xattr?: (name: string) => boolean;
  /** Paths (hex) left out of the comparison on both sides. */
  skip?: (rec: Rec) => boolean;
  /** Compare hard-link groups (paths sharing an inode on one side must share one on the other). */
  links?: boolean;
  /** Leave the root's own record out. */
  skipRoot?: boolean;
}

const show = (path: string) => JSON.stringify(path === '' ? '.' : unhex(path));

/** Differences between two manifests, each worded "path: field got X, want Y". */
export function compareManifests(got: Manifest, want: Manifest, o: CompareOptions): string[] {
  const diffs: string[] = [];
  const keep = (r: Rec) => !(o.skipRoot && r.path === '') && !(o.skip?.(r));
  for (const w of want.values()) {
    if (!keep(w)) continue;
    const g = got.get(w.path);
    if (!g) { diffs.push(`${show(w.path)}: got nothing, want a ${w.type}`); continue; }
    if (g.type !== w.type) { diffs.push(`${show(w.path)}: type got ${g.type}, want ${w.type}`); continue; }
    for (const f of o.fields) {
      if (f === 'nlink' && w.type === 'dir') continue;
      let gv: unknown, wv: unknown;
      if (f === 'mtime_s') { gv = BigInt(g.mtime_ns) / 1_000_000_000n; wv = BigInt(w.mtime_ns) / 1_000_000_000n; }
      else if (f === 'size' || f === 'sha256') { if (w.type !== 'file') continue; gv = g[f]; wv = w[f]; }
      else if (f === 'link') { if (w.type !== 'symlink') continue; gv = g.link && unhex(g.link); wv = w.link && unhex(w.link); }
      else if (f === 'rdev') { if (!w.rdev) continue; gv = g.rdev?.join(','); wv = w.rdev.join(','); }
      else { gv = g[f]; wv = w[f]; }
      if (String(gv) !== String(wv)) diffs.push(`${show(w.path)}: ${f} got ${String(gv)}, want ${String(wv)}`);
    }
    if (o.xattr) {
      const pick = (r: Rec) => Object.entries(r.xattrs).filter(([n]) => o.xattr!(n)).sort(([a], [b]) => (a < b ? -1 : 1));
      const gx = JSON.stringify(pick(g)), wx = JSON.stringify(pick(w));
      if (gx !== wx) diffs.push(`${show(w.path)}: xattrs got ${gx}, want ${wx}`);
    }
  }
  for (const g of got.values()) {
    if (keep(g) && !want.has(g.path)) diffs.push(`${show(g.path)}: got a ${g.type}, want nothing`);
  }
  if (o.links) {
    const groups = (m: Manifest) => {
      const by = new Map<string, string[]>();
      for (const r of m.values()) {
        if (r.type === 'dir' || !keep(r)) continue;
        by.set(r.inode, [...(by.get(r.inode) ?? []), r.path]);
      }
      return new Set([...by.values()].filter((l) => l.length > 1).map((l) => l.sort().map(show).join(' = ')));
    };
    const gg = groups(got), wg = groups(want);
    for (const l of wg) if (!gg.has(l)) diffs.push(`hard links: got no group ${l}, want it (got ${[...gg].join('; ') || 'none'})`);
    for (const l of gg) if (!wg.has(l)) diffs.push(`hard links: got group ${l}, want none`);
  }
  return diffs;
}

/** new_encode_dev: the dev_t a mknod caller passes. */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/**
 * The test tree, inside the kernel at `root`: unicode and non-UTF-8 names, a 240-byte name, a
 * 40-level path, hard links (three names, two directories, plus a hard-linked fifo), symlinks
 * (relative, absolute, long, unicode), a fifo, a socket, character and block devices (one with a
 * minor too large for ustar), xattrs (binary, empty, '=' and '%' in names, trusted.*,
 * security.selinux), nanosecond, pre-1970 and post-2038 mtimes, large uids and gids, setuid
 * and sticky modes, files of 0, 512 and 3 MB bytes, and a directory of 300 entries.
 */
export async function buildKernelTree(t: KernelTask, root: string): Promise<void> {
  const sys = t.sys;
  const must = async (p: Promise<number>, what: string) => { const r = await p; if (r < 0) throw new Error(`${what}: errno ${-r}`); return r; };
  const P = (s: string | Uint8Array) => (typeof s === 'string' ? enc.encode(`${root}/${s}`) : join(enc.encode(root), s));
  const write = async (name: string | Uint8Array, data: Uint8Array, mode = 0o644) => {
    const fd = await must(sys.openat(AT_FDCWD, P(name), 0o101 | O_CLOEXEC /* O_WRONLY|O_CREAT */, mode), `create ${String(name)}`);
    for (let o = 0; o < data.length;) o += await must(sys.write(fd, data.subarray(o), data.length - o), 'write');
    await sys.close(fd);
    await must(sys.fchmodat(AT_FDCWD, P(name), mode), 'chmod');
  };
  const times = (name: string | Uint8Array, sec: number, nsec: number) =>
    must(sys.utimensat(AT_FDCWD, P(name), [{ sec: 1_600_000_000, nsec: 111 }, { sec, nsec }], AT_SYMLINK_NOFOLLOW), 'utimensat');
  const xattr = (name: string | Uint8Array, key: string, value: Uint8Array) =>
    must(sys.lsetxattr(P(name), key, value, value.length, 0), `setxattr ${key}`);

  await must(sys.mkdirat(AT_FDCWD, root, 0o755), 'mkdir root');
  await write('hello', enc.encode('hello, world\n'));
  await xattr('hello', 'user.binary', new Uint8Array([0xff, 0x00, 0x01, 0x3d, 0x0a, 0x80]));
  await xattr('hello', 'user.empty', new Uint8Array(0));
  await xattr('hello', 'user.text', enc.encode('plain text value'));
  await xattr('hello', 'user.eq=sign%pct', enc.encode('odd name'));
  await xattr('hello', 'trusted.secret', enc.encode('root only'));
  await xattr('hello', 'user.big', new Uint8Array(3000).map((_, i) => (i * 13) & 0xff));
  await times('hello', 1_700_000_000, 123_456_789);
  await write('selinux', enc.encode('labelled'));
  await xattr('selinux', 'security.selinux', enc.encode('system_u:object_r:etc_t:s0\0'));
  await write('empty', new Uint8Array(0));
  await write('block512', new Uint8Array(512).fill(0x61));
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0, x = 1; i < big.length; i++) { x = (x * 1103515245 + 12345) >>> 0; big[i] = x >>> 24; }
  await write('big.bin', big);
  await times('big.bin', 1_234_567_890, 999_999_999);
  await write('setuid', enc.encode('#!/bin/sh\n'), 0o4755);
  await must(sys.mkdirat(AT_FDCWD, P('sticky'), 0o1777), 'mkdir sticky');
  await must(sys.fchmodat(AT_FDCWD, P('sticky'), 0o1777), 'chmod sticky');
  await must(sys.mkdirat(AT_FDCWD, P('private'), 0o700), 'mkdir private');
  await write('private/inside', enc.encode('x'), 0o600);
  // Mode 0000 must stay 0000 (tar-stream would turn a zero mode into 0644).
  await write('mode-none', enc.encode('locked'), 0o000);
  await must(sys.mkdirat(AT_FDCWD, P('dir-none'), 0o000), 'mkdir dir-none');
  await must(sys.fchmodat(AT_FDCWD, P('dir-none'), 0o000), 'chmod dir-none');

  // Names.
  for (const n of ['déjà vu', '日本語のファイル', 'emoji 🎉', 'space and\ttab', 'newline\nname']) await write(n, enc.encode(n));
  await write(new Uint8Array([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0xe9, 0xff]), enc.encode('not utf-8'));
  await write('L'.repeat(240), enc.encode('long name'));
  let deep = 'deep';
  await must(sys.mkdirat(AT_FDCWD, P(deep), 0o755), 'mkdir deep');
  for (let i = 0; i < 40; i++) {
    deep += `/${String(i).padStart(2, '0')}${'d'.repeat(58)}`;
    await must(sys.mkdirat(AT_FDCWD, P(deep), 0o755), 'mkdir deep/...');
  }
  await write(`${deep}/bottom`, enc.encode('at the bottom'));

  // Links.
  await must(sys.mkdirat(AT_FDCWD, P('links'), 0o755), 'mkdir links');
  await write('links/original', enc.encode('shared content'));
  await xattr('links/original', 'user.linked', enc.encode('yes'));
  await must(sys.linkat(AT_FDCWD, P('links/original'), AT_FDCWD, P('links/second'), 0), 'link');
  await must(sys.linkat(AT_FDCWD, P('links/original'), AT_FDCWD, P('third-name'), 0), 'link');
  await times('links/original', 1_500_000_000, 5);
  await must(sys.symlinkat('original', AT_FDCWD, P('links/rel')), 'symlink');
  await must(sys.symlinkat('/etc/passwd', AT_FDCWD, P('links/abs')), 'symlink');
  await must(sys.symlinkat(`${'t/'.repeat(150)}target`, AT_FDCWD, P('links/long')), 'symlink');
  await must(sys.symlinkat('déjà vu', AT_FDCWD, P('links/unicode')), 'symlink');
  // A hard link to a symlink: one inode, two names; the second must be a link entry.
  await must(sys.linkat(AT_FDCWD, P('links/rel'), AT_FDCWD, P('links/rel-hardlink'), 0), 'link symlink');
  await xattr('links/rel', 'trusted.onlink', enc.encode('symlink xattr'));
  await times('links/rel', 1_400_000_000, 400_000_000);

  // Special files.
  await must(sys.mknodat(AT_FDCWD, P('fifo'), S_IFIFO | 0o640, 0), 'mkfifo');
  await must(sys.linkat(AT_FDCWD, P('fifo'), AT_FDCWD, P('fifo-link'), 0), 'link fifo');
  await must(sys.mknodat(AT_FDCWD, P('null'), S_IFCHR | 0o666, encodeDev(1, 3)), 'mknod chr');
  await must(sys.mknodat(AT_FDCWD, P('sda1'), S_IFBLK | 0o660, encodeDev(8, 1)), 'mknod blk');
  await must(sys.mknodat(AT_FDCWD, P('bigminor'), S_IFCHR | 0o600, encodeDev(259, 300_000)), 'mknod big minor');
  await must(sys.mknodat(AT_FDCWD, P('sock'), S_IFSOCK | 0o755, 0), 'mknod sock');

  // Owners and times.
  await write('owned-big', enc.encode('big ids'));
  await must(sys.fchownat(AT_FDCWD, P('owned-big'), 3_000_000_000, 4_000_000, 0), 'chown');
  await write('owned-edge', enc.encode('ids just past 7 octal digits'));
  await must(sys.fchownat(AT_FDCWD, P('owned-edge'), 2_097_152, 262_144, 0), 'chown');
  await must(sys.fchownat(AT_FDCWD, P('links/abs'), 1234, 5678, AT_SYMLINK_NOFOLLOW), 'lchown');
  await write('old', enc.encode('before 1970'));
  await times('old', -100, 500_000_000);
  await write('future', enc.encode('after 2038'));
  await times('future', 4_102_444_800, 42);

  // Many entries in one directory.
  await must(sys.mkdirat(AT_FDCWD, P('many'), 0o755), 'mkdir many');
  for (let i = 0; i < 300; i++) await write(`many/f${i}`, enc.encode(`file ${i}\n`));
  // Directory times last: creating entries changed them.
  await times('many', 1_650_000_000, 650_000_000);
  await times('links', 1_660_000_000, 1);
  await times('private', 1_670_000_000, 2);
}

/** Extract with GNU tar (all xattrs, owners and modes) or bsdtar (-p: the same). */
export function extract(tool: 'gnu' | 'bsd', tarFile: string, dir: string): { status: number | null; stderr: string } {
  const args = tool === 'gnu'
    ? ['--xattrs', "--xattrs-include=*", '-xpf', tarFile, '-C', dir]
    : ['-xpf', tarFile, '-C', dir];
  const r = spawnSync(tool === 'gnu' ? 'tar' : 'bsdtar', args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export interface Fs2tarRun { stdout: Buffer; stderr: string; code: number | null; timedOut: boolean }

/** Run the built fs2tar; a watchdog kills it if it does not end by itself. */
export function runFs2tar(args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<Fs2tarRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FS2TAR_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    let stderr = '', timedOut = false;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ stdout: Buffer.concat(out), stderr, code, timedOut }); });
  });
}
