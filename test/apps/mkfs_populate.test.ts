/*
 * `lkl mkfs -d DIR` against e2fsprogs' `mke2fs -d DIR`, the tool it imitates.
 *
 * One source tree holds every kind of object (cptofs_helpers.ts's buildTree, plus a 30-deep
 * directory chain, a directory of 400 entries, odd and 255-byte names, a socket, a symlink and a
 * fifo with two names each, several xattrs, a few MiB of data), with mtimes in the past and
 * atimes in the future (so that nothing reading it moves them). Each filesystem type gets two
 * images of the same size from it, one by mke2fs -d and one by ours; ours must pass e2fsck -fn,
 * and, loop-mounted read-only by the host kernel beside mke2fs's, show the same tree: names,
 * types, modes, owners, sizes, content hashes, link counts and hard-link groups, symlink
 * targets, device numbers, xattrs, atimes and mtimes (whole seconds, as mke2fs keeps them),
 * ctimes to the second (the source's), and a sparse file about as sparse. The root keeps mkfs's
 * mode and creation time and gets the source root's xattrs, in both.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runLkl } from './run_lkl.js';
import { buildTree, have, isRoot, pyStampTimes } from './cptofs_helpers.js';

const CI = !!process.env.CI;
let tmp = '';
let src = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), `lkl-mkfs-d-${process.pid}-`));
  src = path.join(tmp, 'src');
  if (have('python3')) { buildTree(src); extendTree(src); }
});
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

/** What buildTree lacks for this comparison; then every time reset (mtime past, atime future). */
function extendTree(dir: string): void {
  const py = String.raw`
import os, socket, sys, time
root = sys.argv[1].encode()
devs = sys.argv[2] == '1'
def p(*a): return os.path.join(root, *[x.encode() if isinstance(x, str) else x for x in a])
d = p('deep')
for i in range(30): d = os.path.join(d, b'level%02d' % i)
os.makedirs(d)
with open(os.path.join(d, b'bottom'), 'wb') as f: f.write(b'at the bottom\n')
os.makedirs(p('many'))
for i in range(400):
    with open(p('many', 'entry-with-a-longish-name-%04d' % i), 'wb') as f: f.write(b'%d\n' % i)
os.makedirs(p('names'))
for n in ['with space', 'new\nline', 'tab\tname', 'ünïcödé', '-dash', '.hidden', 'quote\'"', '*glob?[x]', 'n' * 255]:
    with open(p('names', n), 'wb') as f: f.write(n.encode())
os.makedirs(p('emptydir'))
with open(p('three-mib'), 'wb') as f: f.write(os.urandom(3 * 1024 * 1024 + 77))
os.symlink('three-mib', p('sym-a'))
os.link(p('sym-a'), p('sym-b'), follow_symlinks=False)
os.mkfifo(p('fifo-a'), 0o600)
os.link(p('fifo-a'), p('fifo-b'))
cwd = os.getcwd(); os.chdir(root)
s = socket.socket(socket.AF_UNIX); s.bind('sock'); s.close()
os.chdir(cwd)
os.chmod(p('sock'), 0o751)
with open(p('attrs'), 'wb') as f: f.write(b'x')
for i in range(6): os.setxattr(p('attrs'), 'user.k%d' % i, os.urandom(20 + i * 20))
os.setxattr(root, 'user.rootattr', b'on the root')
if devs:
    os.setxattr(p('attrs'), 'trusted.t', b'trusted value')
    os.chown(p('names'), 2000, 3000)
    os.lchown(p('sym-b'), 7, 8)
${pyStampTimes('root')}
`;
  const r = spawnSync('python3', ['-c', py, dir, isRoot ? '1' : '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`extending the tree failed: ${r.stderr}`);
}

/** Every object under a directory, as the host kernel reports it (names hex, times in ns). */
interface Rec {
  type: string; mode: number; uid: number; gid: number; nlink: number; size: number; blocks: number;
  atime: string; mtime: string; ctime: string; ino: number; xattrs: Record<string, string>;
  sha?: string; link?: string; rdev?: number;
}
function manifest(dir: string): Map<string, Rec> {
  const py = String.raw`
import os, sys, json, stat, hashlib
root = sys.argv[1].encode()
out = {}
for dp, dns, fns in os.walk(root):
    for n in [None] + dns + fns:
        q = dp if n is None else os.path.join(dp, n)
        if n is None and dp != root: continue
        st = os.lstat(q)
        m = st.st_mode
        t = 'file' if stat.S_ISREG(m) else 'dir' if stat.S_ISDIR(m) else 'symlink' if stat.S_ISLNK(m) else 'char' if stat.S_ISCHR(m) else 'block' if stat.S_ISBLK(m) else 'fifo' if stat.S_ISFIFO(m) else 'socket'
        r = dict(type=t, mode=stat.S_IMODE(m), uid=st.st_uid, gid=st.st_gid, nlink=st.st_nlink, size=st.st_size, blocks=st.st_blocks,
                 atime=str(st.st_atime_ns), mtime=str(st.st_mtime_ns), ctime=str(st.st_ctime_ns), ino=st.st_ino, xattrs={})
        for x in os.listxattr(q, follow_symlinks=False):
            r['xattrs'][x] = os.getxattr(q, x, follow_symlinks=False).hex()
        if t == 'file':
            with open(q, 'rb') as f: r['sha'] = hashlib.sha256(f.read()).hexdigest()
        if t == 'symlink': r['link'] = os.readlink(q).hex()
        if t in ('char', 'block'): r['rdev'] = st.st_rdev
        out[os.path.relpath(q, root).hex()] = r
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', py, dir], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`manifest of ${dir} failed: ${r.stderr}`);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, Rec>));
}
const show = (hexPath: string) => JSON.stringify(Buffer.from(hexPath, 'hex').toString('utf8'));
const sec = (ns: string) => BigInt(ns) / 1_000_000_000n;

/** Differences of ours from mke2fs's, each "path: field got X, want Y". */
function compare(got: Map<string, Rec>, want: Map<string, Rec>): string[] {
  const diffs: string[] = [];
  const root = Buffer.from('.').toString('hex');
  const lf = Buffer.from('lost+found').toString('hex');
  for (const [p, w] of want) {
    const g = got.get(p);
    if (!g) { diffs.push(`${show(p)}: got nothing, want a ${w.type}`); continue; }
    const fields: (keyof Rec)[] = ['type', 'mode', 'uid', 'gid', 'nlink', 'sha', 'link', 'rdev'];
    if (w.type !== 'dir') fields.push('size');
    // The root and lost+found carry each mkfs run's own creation time.
    if (p !== root && p !== lf) fields.push('atime', 'mtime');
    for (const f of fields) {
      if (JSON.stringify(g[f]) !== JSON.stringify(w[f])) diffs.push(`${show(p)}: ${f} got ${String(g[f])}, want ${String(w[f])}`);
    }
    if (p !== root && p !== lf && sec(g.ctime) !== sec(w.ctime)) diffs.push(`${show(p)}: ctime (s) got ${sec(g.ctime)}, want ${sec(w.ctime)}`);
    const gx = JSON.stringify(Object.entries(g.xattrs).sort()), wx = JSON.stringify(Object.entries(w.xattrs).sort());
    if (gx !== wx) diffs.push(`${show(p)}: xattrs got ${gx}, want ${wx}`);
  }
  for (const [p, g] of got) if (!want.has(p)) diffs.push(`${show(p)}: got a ${g.type}, want nothing`);
  // Hard-link groups: names sharing an inode in one image share one in the other.
  const groups = (m: Map<string, Rec>) => {
    const by = new Map<number, string[]>();
    for (const [p, r] of m) if (r.type !== 'dir') by.set(r.ino, [...(by.get(r.ino) ?? []), p]);
    return new Set([...by.values()].filter((l) => l.length > 1).map((l) => l.sort().map(show).join(' = ')));
  };
  const gg = groups(got), wg = groups(want);
  for (const l of wg) if (!gg.has(l)) diffs.push(`hard links: got no group ${l}, want it`);
  for (const l of gg) if (!wg.has(l)) diffs.push(`hard links: got group ${l}, want none`);
  return diffs;
}

function withLoopMounts<T>(imgs: string[], fn: (dirs: string[]) => T): T {
  const dirs: string[] = [];
  try {
    for (const img of imgs) {
      const d = fs.mkdtempSync(path.join(tmp, 'mnt-'));
      const r = spawnSync('mount', ['-o', 'loop,ro', img, d], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mount ${img}: ${r.stderr}`);
      dirs.push(d);
    }
    return fn(dirs);
  } finally {
    for (const d of dirs) spawnSync('umount', [d]);
  }
}

function fsck(img: string): void {
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  assert.equal(r.status, 0, `e2fsck -fn ${path.basename(img)}: got exit ${r.status}, want 0:\n${r.stdout}${r.stderr}`);
}

function prerequisites(t: { skip(m: string): void }): boolean {
  const missing = ['mke2fs', 'e2fsck', 'debugfs', 'python3'].filter((c) => !have(c));
  if (missing.length) {
    if (CI) assert.fail(`${missing.join(', ')} missing in CI`);
    t.skip(`${missing.join(', ')} not installed`);
    return false;
  }
  return true;
}

for (const type of ['ext4', 'ext3', 'ext2'] as const) {
  test(`lkl mkfs -t ${type} -d: e2fsck -fn clean, the same tree as mke2fs -t ${type} -d`, async (t) => {
    if (!prerequisites(t)) return;
    const theirs = path.join(tmp, `${type}-mke2fs.img`), ours = path.join(tmp, `${type}-ours.img`);
    const r0 = spawnSync('mke2fs', ['-q', '-F', '-t', type, '-d', src, theirs, '48M'], { encoding: 'utf8' });
    assert.equal(r0.status, 0, `mke2fs -d: got exit ${r0.status}: ${r0.stderr}`);
    const t0 = Math.floor(Date.now() / 1000);
    const r = await runLkl(['mkfs', '-t', type, '-d', src, ours, '48M'], '', 120_000);
    const t1 = Math.ceil(Date.now() / 1000);
    assert.equal(r.timedOut, false, 'got a hung lkl mkfs, want it to exit');
    assert.equal(r.code, 0, `got exit ${r.code}, want 0; stderr: ${r.stderr}`);
    assert.match(r.stdout, /Copying files into the device: done\n/, `got stdout ${r.stdout}`);
    assert.equal(r.stderr, '', 'got warnings, want a clean copy');
    fsck(ours);
    fsck(theirs);

    // The root: mkfs's mode and creation time (not the source's), the source's xattrs.
    const stat = spawnSync('debugfs', ['-R', 'stat /', ours], { encoding: 'utf8' }).stdout;
    const m = /^ mtime: 0x([0-9a-f]+)/m.exec(stat);
    assert.ok(m && Number.parseInt(m[1]!, 16) >= t0 && Number.parseInt(m[1]!, 16) <= t1, `root mtime: got ${m?.[1]}, want between ${t0} and ${t1}`);
    const crt = /^crtime: 0x([0-9a-f]+)/m.exec(spawnSync('debugfs', ['-R', 'stat /three-mib', ours], { encoding: 'utf8' }).stdout);
    assert.ok(crt && Number.parseInt(crt[1]!, 16) >= t0 && Number.parseInt(crt[1]!, 16) <= t1, `crtime: got ${crt?.[1]}, want the time of the copy`);

    if (!isRoot) {
      if (CI) assert.fail('CI runs as root: the loop-mount comparison must run');
      t.diagnostic('not root: the loop-mount comparison with mke2fs -d is skipped');
      return;
    }
    const [got, want] = withLoopMounts([ours, theirs], (d) => [manifest(d[0]!), manifest(d[1]!)]);
    assert.ok(want.size > 450, `got ${want.size} objects in mke2fs's image, want the whole tree`);
    const diffs = compare(got, want);
    assert.deepEqual(diffs.slice(0, 40), [], `${diffs.length} differences from mke2fs -d:\n${diffs.slice(0, 40).join('\n')}`);

    // ctime is the source's (to the second), as mke2fs -d leaves it.
    const source = manifest(src);
    for (const name of ['three-mib', 'fifo-b', 'sym-b', 'dir']) {
      const k = Buffer.from(name).toString('hex');
      assert.equal(sec(got.get(k)!.ctime), sec(source.get(k)!.ctime), `${name}: ctime got ${got.get(k)!.ctime}, want the source's ${source.get(k)!.ctime}`);
    }
    // Sparse stays sparse: about mke2fs's block count, far below the file's 3 MiB.
    const sp = Buffer.from('sparse').toString('hex');
    const gb = got.get(sp)!.blocks, wb = want.get(sp)!.blocks;
    assert.ok(gb <= wb + 16 && gb < 64, `sparse: got ${gb} blocks, want about ${wb} (mke2fs)`);
  });
}
