/*
 * Helpers for the fs2tar ground-truth test: an extraction target that behaves like the source
 * (a scratch ext4 loop mount, so every xattr namespace, large values and POSIX ACL xattrs are
 * stored as on the image, whatever /tmp is), GNU tar extraction with its expected chatter
 * filtered, `diff -r` with the lines it always prints for special files filtered, and the
 * path-by-path comparison of two host walks (test/fixtures/host.ts walkHost) plus hard-link groups.
 *
 * got = the extracted archive, want = the host kernel's read-only loop mount of the image.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { run, umountAndDetach } from '../fixtures/host.js';
import { compareTrees, latin1ToDisplay, type Tree, type WalkEntry } from '../fixtures/walk.js';

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFSOCK = 0o140000;

/** A fresh ext4 (sparse image `img`, `sizeMiB`) mounted rw at a new directory for fn; always cleaned up. */
export async function withScratchExt4<T>(img: string, sizeMiB: number, fn: (mnt: string) => Promise<T>): Promise<T> {
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 2 ** 20);
  // The inode count must hold the 20k-entry directory and more: -N leaves room.
  run('mkfs.ext4', ['-q', '-F', '-N', '200000', img]);
  const mnt = `${img}.mnt`;
  fs.mkdirSync(mnt);
  let mounted = false;
  try {
    run('mount', ['-o', 'loop', img, mnt]);
    mounted = true;
    return await fn(mnt);
  } finally {
    umountAndDetach(mounted ? mnt : null, img);
    fs.rmdirSync(mnt);
    fs.rmSync(img, { force: true });
  }
}

/** GNU tar's remarks that are expected and harmless for these trees. */
const TAR_EXPECTED = [
  // pax hdrcharset=BINARY on names that are not UTF-8: GNU tar 1.34 does not know the keyword.
  /Ignoring unknown extended header keyword 'hdrcharset'/,
  // The generated tree has mtimes up to 2106 and before 1970 on purpose.
  /: time stamp .* in the future$/,
  /: implausibly old time stamp/,
];

/**
 * Extract `tarFile` into `dir` as the issue says: GNU tar as root with -p (modes incl.
 * setuid/sticky, owners), --numeric-owner, all xattr namespaces. No --acls: GNU tar --acls reads
 * SCHILY.acl.* records and then drops SCHILY.xattr.system.posix_acl_* (see the test's report);
 * without it the ACL xattrs are restored byte for byte like any other xattr.
 */
export function gnuExtract(tarFile: string, dir: string, extra: string[] = []): { status: number | null; unexpected: string[] } {
  const r = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', ...extra, '-xpf', tarFile, '-C', dir], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const unexpected = (r.stderr ?? '').split('\n').filter((l) => l && !TAR_EXPECTED.some((re) => re.test(l)));
  return { status: r.status, unexpected };
}

/**
 * `diff -r --no-dereference want got`; returns the lines that signal a difference. diff cannot
 * compare special files and says so for every pair ("File A is a fifo while file B is a fifo"):
 * a pair of the same kind is not a difference (the metadata pass compares their type and rdev).
 * A socket only on the mount is expected (fs2tar skips sockets, as GNU tar does): listed in
 * `sockets` as "Only in DIR: NAME" lines, returned apart.
 */
export function diffR(want: string, got: string): { status: number | null; lines: string[]; socketsOnlyInWant: string[] } {
  const r = spawnSync('diff', ['-r', '--no-dereference', want, got], { maxBuffer: 1 << 28 });
  const out = (r.stdout ?? Buffer.alloc(0)).toString('latin1') + (r.stderr ?? Buffer.alloc(0)).toString('latin1');
  const lines: string[] = [];
  const socketsOnlyInWant: string[] = [];
  for (const l of out.split('\n')) {
    if (!l) continue;
    const same = /^File (.*) is a (.*) while file (.*) is a (.*)$/.exec(l);
    if (same && same[2] === same[4] && same[2] !== 'regular file' && same[2] !== 'directory') continue;
    const only = /^Only in (.*): (.*)$/.exec(l);
    if (only && only[1]!.startsWith(want)) {
      const p = join(only[1]!, only[2]!);
      try { if (fs.lstatSync(Buffer.from(p, 'latin1')).isSocket()) { socketsOnlyInWant.push(p); continue; } } catch { /* reported below */ }
    }
    lines.push(latin1ToDisplay(l));
  }
  return { status: r.status, lines, socketsOnlyInWant };
}

/** The sockets of a walk (paths), which fs2tar leaves out of the archive. */
export function socketsOf(t: Tree): string[] {
  return [...t].filter(([, e]) => (e.mode & S_IFMT) === S_IFSOCK).map(([p]) => p);
}

/** Hard-link groups: for each non-directory inode with several names, its sorted names. */
export function linkGroups(t: Tree): Map<string, string[]> {
  const byIno = new Map<number, string[]>();
  for (const [p, e] of t) {
    if ((e.mode & S_IFMT) === S_IFDIR) continue;
    byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), p]);
  }
  const out = new Map<string, string[]>();
  for (const names of byIno.values()) {
    names.sort();
    for (const n of names) out.set(n, names);
  }
  return out;
}

const show = (names: string[]): string => `[${names.map((n) => `/${latin1ToDisplay(n)}`).join(' ')}]`;

/**
 * Every difference between the extracted tree (got) and the loop mount (want), worded
 * "path: field got X, want Y". Compared: d_type, type and mode (incl. setuid/setgid/sticky), uid,
 * gid, size, nlink, mtime in ns, rdev, symlink target, content hash, every xattr; and per path the
 * set of names sharing its inode. Not compared: inode numbers themselves, blocks (tar writes holes
 * as data), atime and ctime (tar cannot restore them), the size of directories (the blocks the
 * filesystem gave the directory: lost+found is made with 16 KiB by mke2fs, 4 KiB by mkdir; a
 * directory filled in another order has other sizes; no archive carries it). Sockets are expected
 * to be absent.
 */
export function compareExtraction(got: Tree, want: Tree): string[] {
  const wantNoSock: Tree = new Map(want);
  const diffs: string[] = [];
  for (const p of socketsOf(want)) {
    wantNoSock.delete(p);
    if (got.has(p)) diffs.push(`/${latin1ToDisplay(p)}: presence got a socket, want none (fs2tar skips sockets)`);
  }
  const skip: (keyof WalkEntry)[] = ['ino', 'blocks', 'atime', 'ctime'];
  diffs.push(...compareTrees(dirSizeless(got), dirSizeless(wantNoSock), skip));
  const gl = linkGroups(got), wl = linkGroups(wantNoSock);
  for (const [p, w] of wl) {
    const g = gl.get(p);
    if (!g) continue; // missing: already reported
    if (g.join('\0') !== w.join('\0')) diffs.push(`/${latin1ToDisplay(p)}: hard-link group got ${show(g)}, want ${show(w)}`);
  }
  return diffs;
}

/** The tree with directory sizes zeroed (layout, not content: see compareExtraction). */
function dirSizeless(t: Tree): Tree {
  return new Map([...t].map(([p, e]) => [p, (e.mode & S_IFMT) === S_IFDIR ? { ...e, size: 0 } : e]));
}

/** Number of hard-link groups (inodes with more than one name) in a tree. */
export function countLinkGroups(t: Tree): number {
  return new Set([...linkGroups(t).values()].filter((g) => g.length > 1)).size;
}
