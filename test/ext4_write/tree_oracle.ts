/*
 * The ext4 write suites' closing oracle: after a test has changed an image through our kernel,
 * two independent kernels must agree on what the image holds, and e2fsck must find it clean.
 *
 *   1. ourTree(k, mnt), while our kernel still has the filesystem mounted: the tree as our kernel
 *      shows it, walked through its system calls only (getdents64, newfstatat, readlinkat, openat
 *      + pread64 for a sha256 of the content, llistxattr/lgetxattr; test/fixtures/lkl.ts's walker),
 *      then a second newfstatat pass for the final access times (see "atime" below).
 *   2. The test unmounts; or, to go on using the mount, copies the image with snapshotImage()
 *      (sync, then copy). A copy with a journal still to replay (needs_recovery) is first replayed
 *      by the host kernel on a further copy (a read-write loop mount), which must be clean too.
 *   3. assertTreeOracle(t, ours, img): `e2fsck -fn img` must exit 0; then the host kernel mounts
 *      the image read-only (`mount -o loop,ro`, which also makes the loop device read-only, so
 *      the host cannot replay a journal or process an orphan list into the image) on a fresh
 *      directory, walks it with node:fs (lstat with nanosecond times, readdir file types,
 *      readlink, content sha256) plus one `getfattr -R -P -d -m - -e hex` run for every
 *      attribute (user.*, trusted.*, security.*, system.posix_acl_*), and every field of every
 *      path must be equal: names, d_type, mode, uid/gid, size, st_blocks, nlink, rdev, symlink
 *      target, content hash, xattrs, mtime/ctime to the nanosecond (atime: below), inode number. Each
 *      difference reads "/path: field got X, want Y" (got = our kernel, want = the host kernel).
 *
 * atime is compared too. Our walk reads every file and lists every directory, and under relatime
 * that moves the atime of anything whose atime was not newer than its mtime/ctime — after the walk
 * has stat'ed it, so the second stat pass in ourTree() takes the times our kernel then writes (as
 * Linux does: touch_atime → mark_inode_dirty → ext4_dirty_inode; ours: the superblock's
 * dirtyInode, written at sync and unmount). ATIME_SKIP remains for a test whose snapshot is taken
 * before our walk.
 *
 * The host half needs root, loop devices and getfattr: without them it is skipped with a printed
 * reason, except under CI, where a missing oracle fails the test. e2fsck runs either way. Mount
 * points are fresh directories (lkl-oracle-<pid>-*), unmounted and their loop devices detached in
 * a finally.
 *
 * Use, at the end of a test:
 *     ours = await ourTree(b.k, m);          // still mounted
 *     await b.api.umountDev(id); ... halt
 *     await assertTreeOracle(t, ours, img);  // e2fsck -fn + host tree; returns the host's Tree
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { run, hostSkipReason, umountAndDetach } from '../fixtures/host.js';
import { bootForDisks, walkLkl, errName, bytes, type Booted } from '../fixtures/lkl.js';
import { compareTrees, hashContent, type Tree, type WalkEntry } from '../fixtures/walk.js';
import type { LklKernel } from '../../src/lkl.js';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CREAT, O_RDWR } from '../../src/uapi/fcntl.js';

export type { Tree } from '../fixtures/walk.js';

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;

/**
 * Our kernel's view of everything below `mnt` (call it while mounted, with no file of the test
 * still open for writing). A failed call during the walk fails the test.
 */
export async function ourTree(k: LklKernel, mnt: string): Promise<Tree> {
  const { tree, errors } = await walkLkl(k, mnt);
  assert.equal(errors.length, 0, `walk of our mount: got errors, want none:\n${errors.slice(0, 20).join('\n')}`);
  // Final access times, after the walk's own reads (see the essay).
  const st = new Uint8Array(128);
  const sv = new DataView(st.buffer);
  for (const [rel, e] of tree) {
    const r = await k.sys.newfstatat(AT_FDCWD, bytes(rel === '' ? mnt : `${mnt}/${rel}`), st, AT_SYMLINK_NOFOLLOW);
    assert.ok(r >= 0, `newfstatat /${rel} after the walk: got ${errName(r)}, want success`);
    e.atime = (sv.getBigInt64(72, true) * 1_000_000_000n + sv.getBigUint64(80, true)).toString();
  }
  return tree;
}

/**
 * A copy of the image as the disk holds it now, for a test that goes on using its mount: sync
 * through our kernel, then copy. A journalled filesystem still mounted read-write leaves
 * needs_recovery set in the copy (as Linux does); assertTreeOracle() then has the host replay the
 * journal on a second copy before it compares.
 */
export async function snapshotImage(k: LklKernel, img: string, dst: string): Promise<string> {
  const r = await k.sys.sync();
  assert.ok(r >= 0, `sync before the snapshot: got ${errName(r)}, want success`);
  fs.copyFileSync(img, dst);
  return dst;
}

/** `e2fsck -fn img` must exit 0. */
export function assertFsckClean(img: string, what = ''): void {
  const r = run('e2fsck', ['-fn', img], { allowFail: true });
  assert.equal(r.code, 0, `${what}e2fsck -fn ${img}: got exit ${r.code}, want 0\n${r.stdout}${r.stderr}`);
}

/** getfattr prints a file name's bytes raw, except for \ooo (octal) escapes: undo those. */
function unescapeGetfattr(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every xattr below `root` as the host kernel lists them: relative byte-string path → name → hex. */
export function hostXattrs(root: string): Map<string, Record<string, string>> {
  // -P: do not follow symlinks while recursing; -h: symlinks' own attributes; -m -: every name.
  // Output read as latin1 (one char per byte, like our byte strings); LC_ALL=C for plain escapes.
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root],
    { encoding: 'latin1', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `getfattr -R on the host mount: got exit ${r.status}, want 0\n${r.stderr}${r.error ?? ''}`);
  const out = new Map<string, Record<string, string>>();
  let cur: Record<string, string> | undefined;
  const rootL = Buffer.from(root).toString('latin1');
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeGetfattr(line.slice(8));
      const rel = abs === rootL ? '' : abs.startsWith(`${rootL}/`) ? abs.slice(rootL.length + 1) : abs;
      cur = {};
      out.set(rel, cur);
      continue;
    }
    if (line === '' || !cur) continue;
    const eq = line.indexOf('=');
    // An empty value prints as "name=0x" or (older getfattr) as a bare "name".
    const name = unescapeGetfattr(eq < 0 ? line : line.slice(0, eq));
    const v = eq < 0 ? '' : line.slice(eq + 1);
    assert.ok(v === '' || v.startsWith('0x'), `getfattr value for ${name}: got ${v}, want hex`);
    cur[name] = v.slice(2);
  }
  return out;
}

/** The host kernel's view of a mounted tree: node:fs for everything but xattrs, getfattr for those. */
export async function walkHostMount(root: string): Promise<Tree> {
  const tree: Tree = new Map();
  const rootB = Buffer.from(root);
  const visit = async (rel: string, dtype: number): Promise<void> => {
    const abs = rel === '' ? rootB : Buffer.concat([rootB, Buffer.from('/'), Buffer.from(rel, 'latin1')]);
    const st = fs.lstatSync(abs, { bigint: true });
    const rdev = Number(st.rdev);
    const e: WalkEntry = {
      ino: Number(st.ino), dtype, mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid),
      rdev: `${(rdev >>> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >>> 12) & 0xfff00)}`,
      size: Number(st.size), blocks: Number(st.blocks),
      atime: st.atimeNs.toString(), mtime: st.mtimeNs.toString(), ctime: st.ctimeNs.toString(), xattrs: {},
    };
    tree.set(rel, e);
    const type = e.mode & S_IFMT;
    if (type === S_IFLNK) e.target = (fs.readlinkSync(abs, { encoding: 'buffer' }) as Buffer).toString('latin1');
    if (type === S_IFREG) {
      const fd = fs.openSync(abs, 'r');
      try {
        e.content = await hashContent(e.size, (buf, off) => fs.readSync(fd, buf, 0, buf.length, off));
      } finally {
        fs.closeSync(fd);
      }
    }
    if (type === S_IFDIR) {
      for (const d of fs.readdirSync(abs, { encoding: 'buffer', withFileTypes: true })) {
        const name = (d.name as unknown as Buffer).toString('latin1');
        const t = d.isFile() ? 8 : d.isDirectory() ? 4 : d.isSymbolicLink() ? 10 : d.isBlockDevice() ? 6 : d.isCharacterDevice() ? 2 : d.isFIFO() ? 1 : d.isSocket() ? 12 : 0;
        await visit(rel === '' ? name : `${rel}/${name}`, t);
      }
    }
  };
  await visit('', 4);
  for (const [rel, x] of hostXattrs(root)) {
    const e = tree.get(rel);
    assert.ok(e, `getfattr listed ${rel}: got a path the walk did not see, want only walked paths`);
    e.xattrs = Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return tree;
}

/** Loop-mount `img` on the host with `-o loop,<opts>` on a fresh directory for fn; always cleans up. */
async function withOracleMount<T>(img: string, opts: string, fn: (mnt: string) => Promise<T> | T): Promise<T> {
  const mnt = fs.mkdtempSync(join(tmpdir(), `lkl-oracle-${process.pid}-`));
  let mounted = false;
  try {
    const r = run('mount', ['-o', `loop,${opts}`, img, mnt], { allowFail: true });
    assert.equal(r.code, 0, `host mount -o loop,${opts} ${img}: got exit ${r.code}, want 0\n${r.stderr}`);
    mounted = true;
    return await fn(mnt);
  } finally {
    umountAndDetach(mounted ? mnt : null, img);
    fs.rmdirSync(mnt);
  }
}

/** Mount `img` read-only on the host (a read-only loop device too) for the duration of fn. */
export function withHostRoMount<T>(img: string, fn: (mnt: string) => Promise<T> | T): Promise<T> {
  return withOracleMount(img, 'ro', fn);
}

/** Why atime is not compared (see the essay). */
export const ATIME_SKIP = { field: 'atime' as const, why: "the image was copied before our walk moved atimes (relatime), so the host cannot see them" };

/** Why the host half cannot run here (loop mounts, or getfattr from Debian's "attr"), or null. */
export function hostOracleSkipReason(): string | null {
  const why = hostSkipReason();
  if (why !== null) return why;
  if (run('sh', ['-c', 'command -v getfattr'], { allowFail: true }).code !== 0) return 'getfattr not installed (Debian package attr)';
  return null;
}

export interface OracleOptions {
  /** Prefix for failure messages (e.g. the seed of a random test). */
  what?: string;
  /** Fields left out of the comparison, each with the reason printed as a diagnostic (default: atime). */
  skip?: { field: keyof WalkEntry; why: string }[];
  /** Extra checks while the host mount is up (e.g. file bytes against a model). */
  onHost?: (mnt: string, host: Tree) => Promise<void> | void;
}

/**
 * e2fsck -fn must be clean, and the host kernel's read-only loop mount of `img` must show exactly
 * `ours`. Returns the host's tree, or null when the host half was skipped (not root, outside CI).
 */
export async function assertTreeOracle(t: TestContext, ours: Tree, img: string, o: OracleOptions = {}): Promise<Tree | null> {
  const what = o.what ? `${o.what}: ` : '';
  const t0 = performance.now();
  assertFsckClean(img, what);
  const why = hostOracleSkipReason();
  if (why !== null) {
    if (process.env.CI) assert.fail(`${what}host comparison is required under CI: ${why}`);
    t.diagnostic(`host tree comparison skipped: ${why}`);
    return null;
  }
  const skip = o.skip ?? [];
  for (const s of skip) t.diagnostic(`tree oracle: ${s.field} not compared: ${s.why}`);
  // A snapshot of a journalled filesystem still mounted read-write has needs_recovery set (as on
  // Linux). The host's read-only loop device cannot replay it, so the host replays a copy with a
  // read-write mount first — what Linux would show after a power cut at the snapshot — and that
  // copy must be e2fsck-clean too.
  let view = img;
  let replay: string | null = null;
  if (/^Filesystem features:.*\bneeds_recovery\b/m.test(run('dumpe2fs', ['-h', img], { allowFail: true }).stdout)) {
    replay = `${img}.oracle-replay-${process.pid}`;
    fs.copyFileSync(img, replay);
    await withOracleMount(replay, 'rw', () => undefined);
    assertFsckClean(replay, `${what}after the host replayed the journal: `);
    t.diagnostic('tree oracle: the image needs journal recovery; compared after the host replayed it on a copy');
    view = replay;
  }
  try {
    return await withHostRoMount(view, async (mnt) => {
      const host = await walkHostMount(mnt);
      const diffs = compareTrees(ours, host, skip.map((s) => s.field));
      assert.equal(diffs.length, 0, `${what}our kernel's tree (got) vs the host kernel's (want), ${diffs.length} differences:\n${diffs.slice(0, 40).join('\n')}`);
      t.diagnostic(`tree oracle: ${host.size} paths equal, e2fsck -fn clean (${Math.round(performance.now() - t0)} ms wall)`);
      if (o.onHost) await o.onHost(mnt, host);
      return host;
    });
  } finally {
    if (replay !== null) fs.rmSync(replay, { force: true });
  }
}

// ---- file models: what a test expects each file to hold ---------------------------------------

/** Deterministic bytes from a seeded LCG, never zero (so a hole read back as data shows). */
export function lcgBytes(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = (x >>> 24) | 1; }
  return b;
}

/** A file's expected bytes (a growable buffer: some tests make files with tens of thousands of writes). */
export class FileModel {
  private buf = new Uint8Array(0);
  private size = 0;
  get data(): Uint8Array { return this.buf.subarray(0, this.size); }
  write(off: number, d: Uint8Array): void { this.grow(off + d.length); this.buf.set(d, off); }
  grow(n: number): void {
    if (n <= this.size) return;
    if (n > this.buf.length) {
      const b = new Uint8Array(Math.max(n, 2 * this.buf.length));
      b.set(this.buf.subarray(0, this.size));
      this.buf = b;
    } else this.buf.fill(0, this.size, n);
    this.size = n;
  }
  zero(off: number, len: number): void { this.data.fill(0, Math.min(off, this.size), Math.min(off + len, this.size)); }
  truncate(n: number): void { if (n < this.size) this.size = n; else this.grow(n); }
  sha(): string { return createHash('sha256').update(this.data).digest('hex'); }
}

/**
 * The fds of a test's files below `mnt` in our kernel: `open(name)` opens (O_CREAT|O_RDWR) on
 * first use, and gives the file a model in `models` if it has none.
 */
export function modelledFiles(sys: LklKernel['sys'], mnt: string, models: Map<string, FileModel>): { fds: Map<string, number>; open(name: string): Promise<number> } {
  const fds = new Map<string, number>();
  return {
    fds,
    open: async (name) => {
      let fd = fds.get(name);
      if (fd === undefined) {
        fd = await sys.open(`${mnt}/${name}`, O_CREAT | O_RDWR, 0o644);
        if (fd < 0) assert.fail(`open ${name}: got ${errName(fd)}, want success`);
        fds.set(name, fd);
        if (!models.has(name)) models.set(name, new FileModel());
      }
      return fd;
    },
  };
}

/** What our kernel reads from `fd` (pread64 from 0 to EOF) equals the model's bytes. */
export async function assertReadsModel(sys: LklKernel['sys'], fd: number, name: string, md: FileModel): Promise<void> {
  const buf = new Uint8Array(md.data.length + 10);
  let got = 0;
  for (;;) {
    const n = await sys.pread64(fd, buf.subarray(got), buf.length - got, got);
    if (n <= 0) break;
    got += n;
  }
  assert.equal(got, md.data.length, `${name} size read back by us: got ${got}, want ${md.data.length}`);
  assert.ok(Buffer.from(buf.subarray(0, got)).equals(Buffer.from(md.data)), `${name}: our kernel reads different bytes, want the model`);
}

/**
 * Boot our kernel, mount `img` as ext4 and run `fn` on it; the kernel halts afterwards whatever
 * happens (fn unmounts where the test wants a clean unmount). False, fn not run: no disk API.
 */
export async function withOurExt4(img: string, fn: (b: Booted, mnt: string, id: number) => Promise<void>): Promise<boolean> {
  const b = await bootForDisks('mem=128M loglevel=8');
  if (!b) return false;
  try {
    const id = await b.api.diskAdd({ path: img });
    await fn(b, await b.api.mountDev(id, { fstype: 'ext4' }), id);
  } finally {
    await b.k.halt();
  }
  return true;
}
