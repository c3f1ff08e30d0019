/*
 * ext4 read-write: O_TMPFILE. One sequence of system calls runs on our kernel (an image mounted
 * through the disk API) and on the host kernel (a copy of the same image, loop-mounted, driven by
 * python3): every step must give the same result — errno names, fstat of the open tmpfile, the
 * names linkat makes, directory listings — and the two final trees must agree (path, mode, link
 * count, size, content). Our image must also pass e2fsck -fn and show our tree to the host's
 * read-only mount (tree_oracle.ts), with as many free inodes as the host's image: an unnamed
 * tmpfile closed is freed, a named one is kept.
 *
 * Variants: a plain 4 KiB journalled filesystem (the full sequence: EINVAL without write access,
 * ENOTDIR, linkat with AT_EMPTY_PATH and through /proc/self/fd with AT_SYMLINK_FOLLOW, O_EXCL
 * refusing a name with ENOENT, a named tmpfile unlinked again staying unnamed), inline_data (the
 * directory keeps its entries in the inode), casefold (a casefolded directory) and a read-only
 * mount (EROFS).
 *
 * The crash case: a written and synced tmpfile still open when the image is copied is on the orphan
 * list of the copy (e2fsck -fy names it), and both the host's mount and ours free it (e2fsck -fn
 * clean afterwards, debugfs reports the inode unused); a second one, given a name before the copy,
 * is off the list and keeps its bytes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, hostSkipReason } from '../fixtures/host.js';
import { mkfsExt4 } from '../fixtures/image.js';
import { bootForDisks, errName, type Booted } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, assertFsckClean, walkHostMount, withOurExt4, type Tree } from './tree_oracle.js';
import { AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_FOLLOW, O_CREAT, O_RDWR, O_WRONLY, O_RDONLY, O_EXCL, O_TMPFILE, O_DIRECTORY } from '../../src/uapi/fcntl.js';
import { MS_RDONLY } from '../../src/uapi/mount.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4 && command -v debugfs && command -v python3'], { allowFail: true }).code === 0;
const ROOT_SKIP = hostSkipReason();
const KEPT = Uint8Array.from({ length: 5000 }, (_, i) => 0x20 + (i * 7) % 90);
const latin1 = (b: Uint8Array): string => String.fromCharCode(...b);

/**
 * A step. Slots name open fds; paths are relative to the mount. Results: 'ok', 'fd', an errno
 * name, or a short text (fstat, listings, file contents).
 */
type Step =
  | ['open', string, string, number, number] // slot, path, flags, mode
  | ['creat', string, string] // path, contents
  | ['mkdir', string]
  | ['write', string, number, number] // slot, length, byte
  | ['fstat', string]
  | ['fsync', string]
  | ['linkat_empty', string, string] // slot, new path
  | ['linkat_proc', string, string]
  | ['unlink', string]
  | ['close', string]
  | ['list', string]
  | ['cat', string];

const TMP = O_TMPFILE;

/** The host half: the same interpreter in python3, on a loop mount. */
const HOST_PY = String.raw`
import json, os, sys, errno, hashlib, ctypes
libc = ctypes.CDLL(None, use_errno=True)
req = json.load(sys.stdin)
mnt = req['mnt']
fds = {}
out = []
P = lambda p: os.path.join(mnt, p) if p else mnt
def desc(b):
    return '%d:%s' % (len(b), hashlib.sha256(b).hexdigest()[:16])
for st in req['steps']:
    op = st[0]
    try:
        if op == 'open':
            fds[st[1]] = os.open(P(st[2]), st[3], st[4]); r = 'fd'
        elif op == 'creat':
            fd = os.open(P(st[1]), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644); os.write(fd, st[2].encode('latin1')); os.close(fd); r = 'ok'
        elif op == 'mkdir':
            os.mkdir(P(st[1]), 0o755); r = 'ok'
        elif op == 'write':
            n = os.write(fds[st[1]], bytes([st[3]]) * st[2]); r = str(n)
        elif op == 'fstat':
            s = os.fstat(fds[st[1]]); r = 'mode=%o nlink=%d size=%d' % (s.st_mode, s.st_nlink, s.st_size)
        elif op == 'fsync':
            os.fsync(fds[st[1]]); r = 'ok'
        elif op == 'linkat_empty':
            # os.link cannot pass AT_EMPTY_PATH (0x1000); AT_FDCWD is -100.
            rc = libc.linkat(fds[st[1]], b'', -100, P(st[2]).encode('latin1'), 0x1000)
            if rc < 0: raise OSError(ctypes.get_errno(), 'linkat')
            r = 'ok'
        elif op == 'linkat_proc':
            # os.link would call link(2), which does not follow the magic link (EXDEV).
            rc = libc.linkat(-100, b'/proc/self/fd/%d' % fds[st[1]], -100, P(st[2]).encode('latin1'), 0x400)
            if rc < 0: raise OSError(ctypes.get_errno(), 'linkat')
            r = 'ok'
        elif op == 'unlink':
            os.unlink(P(st[1])); r = 'ok'
        elif op == 'close':
            os.close(fds.pop(st[1])); r = 'ok'
        elif op == 'list':
            r = ' '.join(sorted(os.listdir(P(st[1]))))
        elif op == 'cat':
            with open(P(st[1]), 'rb') as f: r = desc(f.read())
        else:
            raise Exception('bad op ' + op)
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    out.append(r)
for fd in fds.values(): os.close(fd)
print(json.dumps(out))
`;

function hostRun(dir: string, mnt: string, steps: Step[]): string[] {
  const script = join(dir, 'tmpfile_host.py');
  fs.writeFileSync(script, HOST_PY);
  const r = run('python3', [script], { input: JSON.stringify({ mnt, steps }) });
  return JSON.parse(r.stdout) as string[];
}

const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

async function sha16(b: Uint8Array): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;
}

/** Our half: the same steps through our kernel's system calls. */
async function oursRun(b: Booted, mnt: string, steps: Step[]): Promise<string[]> {
  const sys = b.k.sys;
  const P = (p: string): string => (p ? `${mnt}/${p}` : mnt);
  const fds = new Map<string, number>();
  const out: string[] = [];
  // /proc/self/fd for the linkat_proc steps (the booted kernel mounts no procfs itself).
  await sys.mkdir('/proc', 0o555);
  const pr = await sys.mount('proc', '/proc', 'proc', 0, null);
  assert.ok(pr === 0 || pr === -16, `mount proc: got ${errName(pr)}, want success`);
  const fdOf = (slot: string): number => { const fd = fds.get(slot); assert.ok(fd !== undefined, `step uses slot ${slot} that was never opened`); return fd; };
  for (const st of steps) {
    let r: number | string;
    switch (st[0]) {
      case 'open': r = await sys.open(P(st[2]), st[3], st[4]); if (r >= 0) { fds.set(st[1], r); r = 'fd'; } break;
      case 'creat': {
        const fd = await sys.open(P(st[1]), O_CREAT | O_WRONLY | O_EXCL, 0o644);
        if (fd < 0) { r = fd; break; }
        const data = enc(st[2]);
        r = await sys.write(fd, data, data.length);
        await sys.close(fd);
        if (typeof r === 'number' && r >= 0) r = 'ok';
        break;
      }
      case 'mkdir': r = await sys.mkdir(P(st[1]), 0o755); if (r === 0) r = 'ok'; break;
      case 'write': { const d = new Uint8Array(st[2]).fill(st[3]); r = await sys.write(fdOf(st[1]), d, d.length); if (r >= 0) r = String(r); break; }
      case 'fstat': {
        const s = new Uint8Array(128);
        r = await sys.fstat(fdOf(st[1]), s);
        if (r === 0) {
          const v = new DataView(s.buffer);
          r = `mode=${v.getUint32(16, true).toString(8)} nlink=${v.getUint32(20, true)} size=${Number(v.getBigInt64(48, true))}`;
        }
        break;
      }
      case 'fsync': r = await sys.fsync(fdOf(st[1])); if (r === 0) r = 'ok'; break;
      case 'linkat_empty': r = await sys.linkat(fdOf(st[1]), '', AT_FDCWD, P(st[2]), AT_EMPTY_PATH); if (r === 0) r = 'ok'; break;
      case 'linkat_proc': r = await sys.linkat(AT_FDCWD, `/proc/self/fd/${fdOf(st[1])}`, AT_FDCWD, P(st[2]), AT_SYMLINK_FOLLOW); if (r === 0) r = 'ok'; break;
      case 'unlink': r = await sys.unlink(P(st[1])); if (r === 0) r = 'ok'; break;
      case 'close': r = await sys.close(fdOf(st[1])); fds.delete(st[1]); if (r === 0) r = 'ok'; break;
      case 'list': {
        const fd = await sys.open(P(st[1]), O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) { r = fd; break; }
        const names: string[] = [];
        const buf = new Uint8Array(32768);
        const v = new DataView(buf.buffer);
        for (;;) {
          const n = await sys.getdents64(fd, buf, buf.length);
          if (n <= 0) { if (n < 0) names.push(errName(n)); break; }
          for (let off = 0; off < n;) {
            const reclen = v.getUint16(off + 16, true);
            let end = off + 19; while (end < off + reclen && buf[end] !== 0) end++;
            const name = String.fromCharCode(...buf.subarray(off + 19, end));
            if (name !== '.' && name !== '..') names.push(name);
            off += reclen;
          }
        }
        await sys.close(fd);
        r = names.sort().join(' ');
        break;
      }
      case 'cat': {
        const fd = await sys.open(P(st[1]), O_RDONLY, 0);
        if (fd < 0) { r = fd; break; }
        const parts: Uint8Array[] = [];
        for (;;) { const c = new Uint8Array(65536); const n = await sys.read(fd, c, c.length); if (n <= 0) break; parts.push(c.subarray(0, n)); }
        await sys.close(fd);
        const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
        let o = 0; for (const p of parts) { all.set(p, o); o += p.length; }
        r = await sha16(all);
        break;
      }
    }
    out.push(typeof r === 'number' ? (r < 0 ? errName(r) : String(r)) : r);
  }
  for (const fd of fds.values()) await sys.close(fd);
  return out;
}

/** What both kernels must agree on for each path: everything but inode numbers and times. */
function shape(tree: Tree): string[] {
  return [...tree].map(([p, e]) => `/${p} mode=${e.mode.toString(8)} nlink=${e.nlink} size=${e.size} ${e.content ?? ''}`).sort();
}

function freeInodes(img: string): number {
  const m = /^Free inodes:\s+(\d+)/m.exec(run('dumpe2fs', ['-h', img], { allowFail: true }).stdout);
  assert.ok(m, `dumpe2fs -h ${img}: got no "Free inodes", want the count`);
  return Number(m[1]);
}

function mkfs(img: string, args: string[]): void {
  mkfsExt4(img, 16, args);
}

interface Variant {
  label: string;
  mkfs: string[];
  /** Preparation of the base image with debugfs (e.g. a casefolded directory). */
  prep?: string[];
  /** A debugfs request on the prepared image and what its output must show. */
  prepCheck?: [string, RegExp];
  /** Why the host kernel cannot mount this variant, or null. */
  hostLacks?: () => string | null;
  /** Linux's results, for when the host kernel cannot run the steps itself. */
  want?: string[];
  readOnly?: boolean;
  steps: Step[];
}

const MAIN: Step[] = [
  ['mkdir', 'd'],
  ['creat', 'plain', 'x'],
  ['open', 'ro', 'd', TMP | O_RDONLY, 0o600],
  ['open', 'nd', 'plain', TMP | O_RDWR, 0o600],
  ['open', 'ne', 'missing', TMP | O_RDWR, 0o600],
  ['open', 'nodir', 'd', (TMP & ~O_DIRECTORY) | O_RDWR, 0o600],
  // Named with AT_EMPTY_PATH: written, synced, then linked twice (the second an ordinary link).
  ['open', 'a', 'd', TMP | O_RDWR, 0o640],
  ['write', 'a', 10000, 0x61],
  ['fstat', 'a'],
  ['fsync', 'a'],
  ['list', 'd'],
  ['linkat_empty', 'a', 'd/named'],
  ['fstat', 'a'],
  ['linkat_empty', 'a', 'named2'],
  ['fstat', 'a'],
  ['write', 'a', 3000, 0x62],
  ['close', 'a'],
  ['cat', 'd/named'],
  // Named through /proc/self/fd with AT_SYMLINK_FOLLOW, write-only.
  ['open', 'b', 'd', TMP | O_WRONLY, 0o600],
  ['write', 'b', 70000, 0x63],
  ['linkat_proc', 'b', 'via_proc'],
  ['fstat', 'b'],
  ['close', 'b'],
  ['cat', 'via_proc'],
  // O_EXCL: never linkable.
  ['open', 'c', 'd', TMP | O_RDWR | O_EXCL, 0o600],
  ['write', 'c', 5000, 0x64],
  ['linkat_empty', 'c', 'd/excl'],
  ['linkat_proc', 'c', 'd/excl'],
  ['fstat', 'c'],
  ['close', 'c'],
  // Unnamed and closed: freed. Two at once, one with blocks.
  ['open', 'e', 'd', TMP | O_RDWR, 0o600],
  ['open', 'f', '', TMP | O_RDWR, 0o600],
  ['write', 'e', 200000, 0x65],
  ['close', 'f'],
  ['close', 'e'],
  // Named, then unlinked while open: no second name (I_LINKABLE is spent).
  ['open', 'g', 'd', TMP | O_RDWR, 0o600],
  ['write', 'g', 100, 0x67],
  ['linkat_empty', 'g', 'd/g'],
  ['unlink', 'd/g'],
  ['fstat', 'g'],
  ['linkat_empty', 'g', 'd/g2'],
  ['close', 'g'],
  // An existing name is EEXIST.
  ['open', 'h', 'd', TMP | O_RDWR, 0o600],
  ['linkat_empty', 'h', 'd/named'],
  ['close', 'h'],
  ['list', 'd'],
  ['list', ''],
];

const VARIANTS: Variant[] = [
  { label: '4 KiB, journal', mkfs: ['-b', '4096'], steps: MAIN },
  {
    label: '1 KiB, inline_data, no journal', mkfs: ['-b', '1024', '-O', 'inline_data,^has_journal', '-I', '256'], steps: [
      ['mkdir', 'in'],
      ['creat', 'in/small', 'hi'],
      ['open', 'a', 'in', TMP | O_RDWR, 0o644],
      ['write', 'a', 20, 0x41],
      ['fstat', 'a'],
      ['linkat_empty', 'a', 'in/named'],
      ['fstat', 'a'],
      ['close', 'a'],
      ['open', 'b', 'in', TMP | O_RDWR, 0o644],
      ['write', 'b', 3000, 0x42],
      ['close', 'b'],
      ['list', 'in'],
      ['cat', 'in/named'],
    ],
  },
  {
    label: 'casefold', mkfs: ['-b', '4096', '-O', 'casefold'],
    // EXT4_CASEFOLD_FL | EXT4_EXTENTS_FL on an empty directory.
    prep: ['mkdir cf', 'set_inode_field cf flags 0x40080000'],
    prepCheck: ['stat cf', /Flags: 0x40080000/],
    hostLacks: () => fs.existsSync('/sys/fs/ext4/features/casefold') ? null : 'the host kernel has no casefold support (CONFIG_UNICODE)',
    want: ['fd', '9000', 'mode=100600 nlink=0 size=9000', 'ok', 'ok', 'fd', '10', 'ok', '', '9000:9a29b95d0bc0bee0'],
    steps: [
      ['open', 'a', 'cf', TMP | O_RDWR, 0o600],
      ['write', 'a', 9000, 0x43],
      ['fstat', 'a'],
      ['linkat_empty', 'a', 'from_cf'],
      ['close', 'a'],
      ['open', 'b', 'cf', TMP | O_RDWR, 0o600],
      ['write', 'b', 10, 0x44],
      ['close', 'b'],
      ['list', 'cf'],
      ['cat', 'from_cf'],
    ],
  },
  {
    label: 'read-only mount', mkfs: ['-b', '4096'], readOnly: true, steps: [
      ['open', 'a', '', TMP | O_RDWR, 0o600],
      ['open', 'b', '', TMP | O_RDONLY, 0o600],
    ],
  },
];

async function hostMountSteps(dir: string, img: string, opts: string, steps: Step[]): Promise<{ res: string[]; tree: Tree }> {
  return withHostMount(img, opts, async (mnt) => {
    const res = hostRun(dir, mnt, steps);
    return { res, tree: await walkHostMount(mnt) };
  });
}

function needHost(t: TestContext): boolean {
  if (!ROOT_SKIP) return true;
  if (process.env.CI) assert.fail(ROOT_SKIP);
  t.skip(ROOT_SKIP);
  return false;
}

for (const v of VARIANTS) {
  test(`O_TMPFILE on ext4 (${v.label}): ours and the host kernel agree`, { skip: HAVE ? false : 'e2fsprogs or python3 missing', timeout: 120_000 }, async (t) => {
    if (!needHost(t)) return;
    await withTempDir('ext4tmpf', async (dir) => {
      const base = join(dir, 'base.img');
      mkfs(base, v.mkfs);
      for (const cmd of v.prep ?? []) run('debugfs', ['-w', '-R', cmd, base]);
      if (v.prep) assertFsckClean(base, 'the prepared image: ');
      if (v.prepCheck) {
        const out = run('debugfs', ['-R', v.prepCheck[0], base], { allowFail: true }).stdout;
        assert.match(out, v.prepCheck[1], `debugfs ${v.prepCheck[0]} on the prepared image: got ${out}, want ${v.prepCheck[1]}`);
      }
      const hostImg = join(dir, 'host.img'), ourImg = join(dir, 'ours.img');
      fs.copyFileSync(base, hostImg);
      fs.copyFileSync(base, ourImg);
      const lacks = v.hostLacks?.() ?? null;
      if (lacks) t.diagnostic(`host half skipped: ${lacks}; ours is compared with Linux's results written in the test`);
      const host = lacks ? null : await hostMountSteps(dir, hostImg, v.readOnly ? 'ro' : '', v.steps);
      const want = host?.res ?? v.want!;
      const b = await bootForDisks('mem=128M loglevel=8');
      if (!b) { t.skip('no disk API'); return; }
      let ours: string[] = [];
      let tree: Tree;
      try {
        const id = await b.api.diskAdd({ path: ourImg, readOnly: v.readOnly });
        const m = await b.api.mountDev(id, { fstype: 'ext4', flags: v.readOnly ? MS_RDONLY : 0 });
        ours = await oursRun(b, m, v.steps);
        tree = await ourTree(b.k, m);
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      const rows = v.steps.map((s, i) => `${JSON.stringify(s)} → ours ${ours[i]}, want ${want[i]}`);
      assert.deepEqual(ours, want, `step results: got ours, want ${host ? "the host's" : "Linux's"}:\n${rows.join('\n')}`);
      if (host) {
        assert.deepEqual(shape(tree!), shape(host.tree), 'final tree: got ours, want the host\'s');
        assert.equal(freeInodes(ourImg), freeInodes(hostImg), `free inodes after the sequence: got ${freeInodes(ourImg)}, want the host's ${freeInodes(hostImg)}`);
      } else {
        // Without the host: the named tmpfile and nothing else is new, the unnamed one was freed.
        assert.equal(freeInodes(ourImg), freeInodes(base) - 1, `free inodes after the sequence: got ${freeInodes(ourImg)}, want ${freeInodes(base) - 1}`);
      }
      if (host) await assertTreeOracle(t, tree!, ourImg, { what: v.label });
      else assertFsckClean(ourImg, `${v.label}: `);
      t.diagnostic(rows.join('\n'));
    });
  });
}

for (const [label, args] of [['4 KiB, journal', ['-b', '4096']], ['1 KiB, no journal', ['-b', '1024', '-O', '^has_journal']]] as [string, string[]][]) {
  test(`O_TMPFILE on ext4 (${label}): open at a crash, reclaimed by the next mount`, { skip: HAVE ? false : 'e2fsprogs missing', timeout: 120_000 }, async (t) => {
    await withTempDir('ext4tmpc', async (dir) => {
      const img = join(dir, 'fs.img');
      mkfs(img, args);
      const before = freeInodes(img);
      const cuts = { ours: join(dir, 'cut-ours.img'), fsck: join(dir, 'cut-fsck.img'), host: join(dir, 'cut-host.img') };
      let ino = 0, kino = 0;
      const mounted = await withOurExt4(img, async (b, m, id) => {
        const sys = b.k.sys;
        const fd = await sys.open(`${m}/`, O_TMPFILE | O_RDWR, 0o600);
        assert.ok(fd >= 0, `open O_TMPFILE: got ${errName(fd)}, want an fd`);
        const data = new Uint8Array(300_000).fill(0x71);
        const n = await sys.write(fd, data, data.length);
        assert.equal(n, data.length, `write: got ${n}, want ${data.length}`);
        const st = new Uint8Array(128);
        assert.equal(await sys.fstat(fd, st), 0);
        ino = Number(new DataView(st.buffer).getBigUint64(8, true));
        // A second one given a name and still open at the cut: off the list, kept by every mount.
        const kfd = await sys.open(`${m}/`, O_TMPFILE | O_RDWR, 0o600);
        assert.equal(await sys.write(kfd, KEPT, KEPT.length), KEPT.length);
        const lr = await sys.linkat(kfd, '', AT_FDCWD, `${m}/kept`, AT_EMPTY_PATH);
        assert.equal(lr, 0, `linkat AT_EMPTY_PATH: got ${errName(lr)}, want success`);
        assert.equal(await sys.fstat(kfd, st), 0);
        kino = Number(new DataView(st.buffer).getBigUint64(8, true));
        assert.equal(await sys.sync(), 0);
        for (const c of Object.values(cuts)) fs.copyFileSync(img, c);
        assert.equal(await sys.close(fd), 0);
        assert.equal(await sys.close(kfd), 0);
        await b.api.umountDev(id);
      });
      if (!mounted) { t.skip('no disk API'); return; }
      const unused = (im: string): void => {
        const r = run('debugfs', ['-R', `testi <${ino}>`, im], { allowFail: true });
        assert.match(r.stdout + r.stderr, new RegExp(`Inode ${ino} is not in use`), `debugfs testi <${ino}> on ${im}: got ${(r.stdout + r.stderr).trim()}, want not in use`);
        assert.equal(freeInodes(im), before - 1, `free inodes: got ${freeInodes(im)}, want ${before - 1} (one named tmpfile more than before)`);
        const kept = run('debugfs', ['-R', 'cat kept', im], { allowFail: true }).stdout;
        assert.ok(kept === latin1(KEPT), `debugfs cat kept on ${im}: got ${kept.length} bytes, want the ${KEPT.length} written`);
      };
      // Closed normally: freed, clean.
      const clean = run('e2fsck', ['-fn', img], { allowFail: true });
      assert.equal(clean.code, 0, `e2fsck -fn after a normal unmount: got exit ${clean.code}, want 0\n${clean.stdout}`);
      unused(img);
      // The cut copy holds the tmpfile on the orphan list.
      const fixed = run('e2fsck', ['-fy', cuts.fsck], { allowFail: true });
      assert.match(fixed.stdout, new RegExp(`Clearing orphaned inode ${ino} `), `e2fsck -fy of the cut image: got no "Clearing orphaned inode ${ino}", want it\n${fixed.stdout}`);
      assert.doesNotMatch(fixed.stdout, new RegExp(`orphaned inode ${kino} `), `e2fsck -fy of the cut image: got the named tmpfile ${kino} on the orphan list, want it off\n${fixed.stdout}`);
      // Our mount frees it.
      const b = await bootForDisks('mem=128M loglevel=8');
      try {
        const id = await b!.api.diskAdd({ path: cuts.ours });
        await b!.api.mountDev(id, { fstype: 'ext4' });
        const ext4Log = b!.log.filter((l) => l.includes('EXT4')).join(' | ');
        assert.ok(ext4Log.includes('1 orphan inode deleted') && !ext4Log.includes('cleaned up'), `kernel log: got ${ext4Log}, want "1 orphan inode deleted" and no truncate`);
        await b!.api.umountDev(id);
      } finally {
        await b!.k.halt();
      }
      const ours = run('e2fsck', ['-fn', cuts.ours], { allowFail: true });
      assert.equal(ours.code, 0, `e2fsck -fn after our mount reclaimed the tmpfile: got exit ${ours.code}, want 0\n${ours.stdout}`);
      unused(cuts.ours);
      // The host kernel's mount frees it too.
      if (!needHost(t)) return;
      await withHostMount(cuts.host, '', () => undefined);
      const host = run('e2fsck', ['-fn', cuts.host], { allowFail: true });
      assert.equal(host.code, 0, `e2fsck -fn after the host kernel reclaimed the tmpfile: got exit ${host.code}, want 0\n${host.stdout}`);
      unused(cuts.host);
    });
  });
}
