/*
 * fs2tar, checked against the tools that will read its archives.
 *
 *  - the pieces: pax records, time decimals, xattr keywords, the command line;
 *  - walker + writer on a tree built inside the kernel's tmpfs (every entry type, unicode and
 *    non-UTF-8 names, deep paths, hard links, xattrs, ns times, large ids), extracted by GNU tar
 *    and by bsdtar into a host directory and compared, object by object, with what the kernel
 *    reports: type, mode, owner, size, mtime in ns, link target, device numbers, xattrs, content
 *    hash and hard-link identity (as root; without root, ownership and devices are left out);
 *  - the program: its one-line errors and exit statuses;
 *  - with the disk API of issue 3 (skipped with a reason until src/lkl.ts has k.diskAdd): images
 *    made by `mkfs.ext4 -d`, archived by the program and compared with the source tree, and as
 *    root with CI=true with the host kernel's own read-only loop mount of the same image.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { boot, LklKernel } from '../../src/lkl.js';
import { createNodeHost } from '../../src/arch/node/index.js';
import { MS_NOATIME } from '../../src/uapi/mount.js';
import { PaxRecords, paxTime, xattrKeyword } from '../../src/apps/fs2tar/pax.js';
import { parseArgs, UsageError, BadArgument } from '../../src/apps/fs2tar/cli.js';
import { TarWriter, paxBody, type TarEntry } from '../../src/apps/fs2tar/tar_writer.js';
import { archiveTree } from '../../src/apps/fs2tar/walk.js';
import { fs2tarMain, type Fs2tarIo } from '../../src/apps/fs2tar/main.js';
import { makeProgress } from '../../src/apps/fs2tar/progress.js';
import {
  kernelManifest, hostManifest, compareManifests, buildKernelTree, extract, have, runFs2tar,
  hex, unhex, type Manifest,
} from './fs2tar_helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const isRoot = process.getuid?.() === 0;

function noDiffs(diffs: string[], what: string): void {
  assert.deepEqual(diffs.slice(0, 40), [], `${what}: ${diffs.length} differences (got extracted, want kernel):\n${diffs.slice(0, 40).join('\n')}`);
}

describe('pax records', () => {
  test('record length counts its own digits, across digit boundaries', () => {
    for (let n = 0; n < 1200; n++) {
      const b = new PaxRecords().add('k', 'v'.repeat(n)).bytes();
      const s = dec.decode(b);
      const len = Number(s.slice(0, s.indexOf(' ')));
      assert.equal(len, b.length, `got length field ${len} for a ${b.length}-byte record (value ${n} bytes), want equal`);
      assert.equal(s.endsWith('\n'), true, `got record ${JSON.stringify(s.slice(-10))}, want a trailing newline`);
    }
  });
  test('values are kept as raw bytes', () => {
    const v = new Uint8Array([0xff, 0x00, 0x0a, 0x3d, 0x80]);
    const b = new PaxRecords().add(xattrKeyword(enc.encode('user.x')), v).bytes();
    const want = Buffer.concat([Buffer.from('29 SCHILY.xattr.user.x='), Buffer.from(v), Buffer.from('\n')]);
    assert.equal(hex(b), hex(want), `got ${hex(b)}, want ${hex(want)}`);
  });
  test('times: nanoseconds without trailing zeros, negative times as decimals', () => {
    const cases: Array<[number, number, string]> = [
      [1700000000, 123456789, '1700000000.123456789'], [1700000000, 500000000, '1700000000.5'],
      [5, 0, '5'], [0, 1, '0.000000001'], [-100, 500000000, '-99.5'], [-2, 0, '-2'], [4102444800, 42, '4102444800.000000042'],
    ];
    for (const [s, n, want] of cases) assert.equal(paxTime(s, n), want, `got ${paxTime(s, n)} for ${s}s ${n}ns, want ${want}`);
  });
  test("xattr keywords escape '%' and '=' as GNU tar does", () => {
    assert.equal(dec.decode(xattrKeyword(enc.encode('user.a=b%c'))), 'SCHILY.xattr.user.a%3Db%25c');
  });
});

describe('command line', () => {
  const ok = (argv: string[]) => { const r = parseArgs(argv); assert.equal(r.help, false); return (r as { opts: ReturnType<typeof Object> }).opts as Record<string, unknown>; };
  test('LKL options, clustered and attached forms, options after operands', () => {
    const o = ok(['-pP1', '-t', 'ext4', '-s', 'ctx', 'img', 'out.tar']);
    assert.deepEqual(o, { printk: true, part: 1, fstype: 'ext4', selinux: 'ctx', mb: 10, image: 'img', output: 'out.tar' });
    const l = ok(['img', '--partition=2', '--filesystem-type', 'ext2', '--enable-printk', '-', '--selinux-contexts=c', '--mb', '64']);
    assert.deepEqual(l, { printk: true, part: 2, fstype: 'ext2', selinux: 'c', mb: 64, image: 'img', output: '-' });
    assert.equal(ok(['a', 'b']).fstype, 'auto', 'got a default fstype other than auto, want auto (-t optional)');
    assert.deepEqual(ok(['--', '-p', 'x']), { printk: false, part: 0, fstype: 'auto', selinux: null, mb: 10, image: '-p', output: 'x' });
    assert.deepEqual(parseArgs(['--help']), { help: true });
  });
  test('mistakes', () => {
    assert.throws(() => parseArgs(['img']), UsageError);
    assert.throws(() => parseArgs(['a', 'b', 'c']), UsageError);
    assert.throws(() => parseArgs(['-x', 'a', 'b']), UsageError);
    assert.throws(() => parseArgs(['--bogus', 'a', 'b']), UsageError);
    assert.throws(() => parseArgs(['a', 'b', '-P']), UsageError);
    assert.throws(() => parseArgs(['-P', 'abc', 'a', 'b']), (e: Error) => e instanceof BadArgument && e.message === "invalid partition number 'abc'");
    assert.throws(() => parseArgs(['-P', '-1', 'a', 'b']), BadArgument);
    assert.throws(() => parseArgs(['-P', '256', 'a', 'b']), BadArgument);
    assert.throws(() => parseArgs(['-m', '0', 'a', 'b']), BadArgument);
  });
});

describe('walker and writer on a kernel tmpfs tree', () => {
  let tmp: string;
  let tarFile: string;
  let want: Manifest;
  let initial: Manifest;
  let warnings: string[] = [];
  let contexts: string[] = [];
  let stats: { entries: number; bytes: number; errors: number };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fs2tar-'));
    tarFile = path.join(tmp, 'out.tar');
    const k = await boot({ cmdline: 'mem=64M', host: createNodeHost({ print: null }) });
    try {
      // noatime: the manifest and the walk read every file, which must not move the atimes
      // between the two (an image is mounted read-only, where atimes never move).
      assert.equal(await k.sys.mkdir('/t', 0o755), 0);
      assert.equal(await k.sys.mount('tmpfs', '/t', 'tmpfs', MS_NOATIME, null), 0);
      await buildKernelTree(k, '/t/tree');
      initial = await kernelManifest(k, '/t/tree');
      const fd = fs.openSync(tarFile, 'w');
      // An asynchronous, slow-ish sink: the writer must wait for it, not pile up.
      let calls = 0;
      const tw = new TarWriter(async (c) => { fs.writeSync(fd, c); if (++calls % 3 === 0) await new Promise((r) => setImmediate(r)); });
      stats = await archiveTree(k, '/t/tree', tw, {
        warn: (m) => warnings.push(m),
        selinux: (p, c) => contexts.push(`${dec.decode(p)} ${dec.decode(c)}`),
      });
      await tw.finish();
      fs.closeSync(fd);
      want = await kernelManifest(k, '/t/tree');
      const moved = compareManifests(want, initial, { fields: ['mtime_ns', 'atime_ns'] });
      assert.deepEqual(moved, [], 'got times changed by the walk, want none');
    } finally {
      await k.halt();
    }
  });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  test('the walk reports only the socket', () => {
    assert.deepEqual(warnings, ['./sock: socket ignored'], `got warnings ${JSON.stringify(warnings)}, want only the socket`);
    assert.equal(stats.errors, 0, `got ${stats.errors} errors, want 0`);
    const objects = [...want.values()].filter((r) => r.type !== 'socket').length;
    assert.equal(stats.entries, objects, `got ${stats.entries} entries, want one per object but the socket (${objects})`);
  });

  test('-s: a "path context" line for security.selinux, context without its NUL', () => {
    assert.deepEqual(contexts, ['/selinux system_u:object_r:etc_t:s0'], `got ${JSON.stringify(contexts)}`);
  });

  test('names: relative "./" names in pre-order, as GNU tar and bsdtar list them', { skip: !have('bsdtar') && 'bsdtar missing' }, () => {
    const gnu = spawnSync('tar', ['-tf', tarFile]);
    assert.equal(gnu.status, 0, `got tar -t status ${gnu.status}: ${gnu.stderr}`);
    const names = gnu.stdout.toString('latin1').split('\n').filter(Boolean);
    assert.equal(names[0], './', `got first entry ${names[0]}, want ./`);
    const bsd = spawnSync('bsdtar', ['-tf', tarFile]);
    assert.equal(bsd.status, 0, `got bsdtar -t status ${bsd.status}: ${bsd.stderr}`);
    const bnames = bsd.stdout.toString('latin1').split('\n').filter(Boolean);
    assert.equal(bnames.length, names.length, `got ${bnames.length} bsdtar names, want ${names.length} as GNU tar`);
    // Every kernel path but the socket is there, with its "./" prefix, directories with '/'.
    const expected = new Set([...want.values()].filter((r) => r.type !== 'socket')
      .map((r) => (r.path === '' ? './' : `./${Buffer.from(r.path, 'hex').toString('latin1')}${r.type === 'dir' ? '/' : ''}`)));
    // GNU tar escapes control characters in listings; compare those by count only.
    const plain = names.filter((n) => !n.includes('\\'));
    for (const n of plain) assert.ok(expected.has(n), `got entry ${JSON.stringify(n)}, want only kernel paths`);
    assert.equal(names.length, expected.size, `got ${names.length} entries, want ${expected.size}`);
    // Pre-order: a directory before everything inside it.
    const seen = new Set<string>();
    for (const n of plain) {
      const parent = n.replace(/[^/]+\/?$/, '');
      assert.ok(parent === '' || seen.has(parent), `got ${JSON.stringify(n)} before its directory ${JSON.stringify(parent)}`);
      seen.add(n);
    }
  });

  test('GNU tar --xattrs -xpf restores the tree the kernel reports', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'gnu-'));
    const r = extract('gnu', tarFile, dir);
    // GNU tar 1.34 warns once per non-UTF-8 name that it ignores hdrcharset; nothing else.
    // It also remarks on the times of ./old (before 1970) and ./future (2100), which are meant.
    const other = r.stderr.split('\n').filter((l) => l && !l.includes("unknown extended header keyword 'hdrcharset'") &&
      !/^tar: \.\/old: implausibly old time stamp|^tar: \.\/future: time stamp .* in the future/.test(l));
    assert.equal(r.status, 0, `got tar status ${r.status}, want 0: ${r.stderr}`);
    assert.deepEqual(other, [], `got tar messages ${JSON.stringify(other)}, want none`);
    const got = hostManifest(dir);
    noDiffs(compareManifests(got, want, {
      fields: isRoot ? ['mode', 'uid', 'gid', 'size', 'sha256', 'link', 'rdev', 'mtime_ns', 'nlink'] : ['size', 'sha256', 'link', 'mtime_ns'],
      // user.* always; trusted.* needs root. security.* depends on the host's LSM: left out.
      xattr: (n) => n.startsWith('user.') || (isRoot && n.startsWith('trusted.')),
      skip: (rec) => rec.type === 'socket' || (!isRoot && ['char', 'block'].includes(rec.type)),
      links: true,
      skipRoot: !isRoot,
    }), 'GNU tar');
  });

  test('bsdtar -xpf restores the same tree, atimes included', { skip: !have('bsdtar') && 'bsdtar missing' }, () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'bsd-'));
    const r = extract('bsd', tarFile, dir);
    assert.equal(r.status, 0, `got bsdtar status ${r.status}, want 0: ${r.stderr}`);
    const got = hostManifest(dir);
    noDiffs(compareManifests(got, want, {
      fields: isRoot ? ['mode', 'uid', 'gid', 'size', 'sha256', 'link', 'rdev', 'mtime_ns', 'atime_ns', 'nlink'] : ['size', 'sha256', 'link', 'mtime_ns'],
      // bsdtar does not undo GNU tar's '%'/'=' escaping of xattr names: leave that one out.
      xattr: (n) => (n.startsWith('user.') || (isRoot && n.startsWith('trusted.'))) && !/[=%]/.test(n),
      // libarchive 3.6 reads the pax time "-99.5" as -99 + 0.5, and after hard-linking a symlink it
      // leaves that inode's atime at "now"; GNU tar (above) checks both paths fully.
      skip: (rec) => rec.type === 'socket' || (!isRoot && ['char', 'block'].includes(rec.type)) ||
        ['old', 'links/rel', 'links/rel-hardlink'].includes(unhex(rec.path)),
      links: true,
      // bsdtar leaves the extraction directory's own mode and times alone.
      skipRoot: true,
    }), 'bsdtar');
  });

  test('binary xattr values survive GNU tar byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'xa-'));
    extract('gnu', tarFile, dir);
    const r = spawnSync('getfattr', ['-h', '-e', 'hex', '-n', 'user.binary', path.join(dir, 'hello')], { encoding: 'utf8' });
    if (r.error) return; // getfattr missing: the manifest comparison covered it through python
    assert.match(r.stdout, /user\.binary=0xff00013d0a80/, `got ${r.stdout}, want the value ff 00 01 3d 0a 80`);
  });
});

describe('progress', () => {
  const stream = (tty: boolean) => {
    const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
    let out = '';
    s.on('data', (d: Buffer) => { out += d.toString(); });
    if (tty) { s.isTTY = true; s.columns = 100; }
    return { s: s as unknown as NodeJS.WriteStream, out: () => out };
  };
  test('a bar on a terminal, cleared at the end', async () => {
    const t = stream(true);
    const p = makeProgress(t.s, 10 << 20);
    await new Promise((r) => setTimeout(r, 150));
    p.update(5 << 20, 42);
    await new Promise((r) => setTimeout(r, 250));
    p.stop();
    assert.match(t.out(), /fs2tar \[[^\]]*\] 50% \| 5\.0 MiB of ~10\.0 MiB \| 42 entries/, `got ${JSON.stringify(t.out())}`);
    assert.ok(t.out().endsWith('\x1b[2K'), 'got a bar left on screen, want it cleared');
  });
  test('nothing at all when stderr is not a terminal', () => {
    const t = stream(false);
    const p = makeProgress(t.s, 100);
    p.update(50, 1); p.clear(); p.stop();
    assert.equal(t.out(), '');
  });
});

describe('the program', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fs2tar-cli-')); });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  const oneLine = (stderr: string, want: string | RegExp) => {
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `got stderr ${JSON.stringify(stderr)}, want exactly one line`);
    if (typeof want === 'string') assert.equal(lines[0], want, `got ${JSON.stringify(lines[0])}, want ${JSON.stringify(want)}`);
    else assert.match(lines[0]!, want);
  };

  test('missing image: one line, exit 1, no archive left behind', async () => {
    const out = path.join(tmp, 'a.tar');
    const r = await runFs2tar([path.join(tmp, 'x.img'), out]);
    assert.equal(r.code, 1, `got exit ${r.code}, want 1`);
    oneLine(r.stderr, `fs2tar: cannot open '${path.join(tmp, 'x.img')}': No such file or directory`);
    assert.equal(fs.existsSync(out), false, 'got an archive file, want none');
  });

  test('a directory as image', async () => {
    const r = await runFs2tar([tmp, path.join(tmp, 'b.tar')]);
    assert.equal(r.code, 1);
    oneLine(r.stderr, `fs2tar: cannot open '${tmp}': Is a directory`);
  });

  test('bad partition numbers', async () => {
    for (const p of ['abc', '-3', '1.5', '999']) {
      const r = await runFs2tar(['-P', p, 'img', 'out.tar']);
      assert.equal(r.code, 1, `got exit ${r.code} for -P ${p}, want 1`);
      oneLine(r.stderr, `fs2tar: invalid partition number '${p}'`);
    }
  });

  test('usage mistakes get the --help hint; --help exits 0', async () => {
    const r = await runFs2tar(['only-one']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "fs2tar: missing archive operand after 'only-one'\nTry 'fs2tar --help' for more information.\n");
    const h = await runFs2tar(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout.toString(), /^Usage: fs2tar \[OPTION\.\.\.\] IMAGE TARFILE/);
  });

  test('the archive may not overwrite the image', async () => {
    const img = path.join(tmp, 'same.img');
    fs.writeFileSync(img, Buffer.alloc(4096, 7));
    const before = createHash('sha256').update(fs.readFileSync(img)).digest('hex');
    const r = await runFs2tar([img, img]);
    assert.equal(r.code, 1);
    oneLine(r.stderr, `fs2tar: refusing to write the archive over the image '${img}'`);
    const afterHash = createHash('sha256').update(fs.readFileSync(img)).digest('hex');
    assert.equal(afterHash, before, 'got a changed image, want it untouched');
  });

  test('no stack traces: every failure is "fs2tar: ..." lines only', async () => {
    const img = path.join(tmp, 'zero.img');
    fs.writeFileSync(img, Buffer.alloc(1 << 20));
    const r = await runFs2tar([img, path.join(tmp, 'z.tar')]);
    assert.equal(r.code, 1, `got exit ${r.code}, want 1`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `got a stack trace:\n${r.stderr}`);
    assert.ok(r.stderr.split('\n').filter(Boolean).every((l) => l.startsWith('fs2tar: ')), `got ${JSON.stringify(r.stderr)}`);
  });
});

/* ---- with the disk API (issue 3): real images ---- */

async function diskApiPresent(): Promise<boolean> {
  const k = await boot({ cmdline: 'mem=16M', host: createNodeHost({ print: null }) });
  const present = typeof (k as unknown as { diskAdd?: unknown }).diskAdd === 'function';
  await k.halt();
  return present;
}
const DISK = await diskApiPresent();
const MKFS = have('mkfs.ext4');
const diskSkip = !DISK ? 'k.diskAdd is not in src/lkl.ts yet' : !MKFS ? 'mkfs.ext4 missing' : false;

/*
 * Until src/lkl.ts has the disk API, the program's own sequence (arguments, boot, mount, walk,
 * the '-' output, -p routing, -s, unmount, halt, exit status) runs in-process over a stand-in:
 * "mounting" the disk makes a tmpfs with the test tree at /mnt/0000fe00.
 */
describe('fs2tarMain over a stand-in disk API', { skip: DISK && 'the real disk API is present (tested below)' }, () => {
  let tmp: string, img: string;
  const proto = LklKernel.prototype as unknown as Record<string, unknown>;
  const calls: string[] = [];
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fs2tar-main-'));
    img = path.join(tmp, 'fake.img');
    fs.writeFileSync(img, 'not really a disk');
    proto.diskAdd = async function (spec: { path: string; readOnly?: boolean }) {
      calls.push(`diskAdd ${spec.path} ro=${spec.readOnly}`);
      return 0;
    };
    proto.mountDev = async function (this: LklKernel, id: number, o: { part?: number; fstype?: string; flags?: number }) {
      calls.push(`mountDev ${id} part=${o.part} fstype=${o.fstype} flags=${o.flags}`);
      if ((o.part ?? 0) > 0) throw Object.assign(new Error('no such partition'), { code: 'ENXIO' });
      if (o.fstype === 'auto' && fs.readFileSync(img, 'utf8') === 'zeros') throw Object.assign(new Error('bad'), { code: 'EINVAL' });
      if (o.fstype !== 'auto' && o.fstype !== 'ext4') throw Object.assign(new Error('no type'), { code: 'ENODEV' });
      await this.sys.mkdir('/mnt', 0o755);
      await this.sys.mkdir('/mnt/0000fe00', 0o700);
      assert.equal(await this.sys.mount('tmpfs', '/mnt/0000fe00', 'tmpfs', 0, null), 0);
      await buildKernelTree(this, '/mnt/0000fe00/t');
      return '/mnt/0000fe00';
    };
    proto.umountDev = async function (this: LklKernel, id: number, o: { part?: number; timeoutMs?: number }) {
      calls.push(`umountDev ${id} part=${o.part} timeout=${o.timeoutMs}`);
      return this.umountTimeout('/mnt/0000fe00', 0, o.timeoutMs ?? 0);
    };
  });
  after(() => {
    delete proto.diskAdd; delete proto.mountDev; delete proto.umountDev;
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function fakeIo() {
    const out: Buffer[] = [];
    let err = '';
    const stdout = new PassThrough();
    stdout.on('data', (d: Buffer) => out.push(Buffer.from(d))); // the writer reuses its buffers
    const stderr = new PassThrough();
    stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const io = { stdout, stderr } as unknown as Fs2tarIo;
    return { io, stdout: () => Buffer.concat(out), stderr: () => err };
  }

  test("-p -s ctx image -: archive on stdout, kernel log on stderr, contexts, unmount, halt", async () => {
    calls.length = 0;
    const ctx = path.join(tmp, 'ctx');
    const f = fakeIo();
    const code = await fs2tarMain(['-p', '-s', ctx, img, '-'], f.io);
    assert.equal(code, 0, `got exit ${code}, want 0; stderr:\n${f.stderr()}`);
    assert.deepEqual(calls, [`diskAdd ${img} ro=true`, 'mountDev 0 part=0 fstype=auto flags=1', 'umountDev 0 part=0 timeout=1000']);
    assert.match(f.stderr(), /Linux version/, 'got no kernel log on stderr with -p and TARFILE -');
    assert.match(f.stderr(), /^fs2tar: \.\/t\/sock: socket ignored$/m);
    assert.equal(fs.readFileSync(ctx, 'utf8'), '/t/selinux system_u:object_r:etc_t:s0\n');
    const tarFile = path.join(tmp, 'stdout.tar');
    fs.writeFileSync(tarFile, f.stdout());
    const list = spawnSync('tar', ['-tf', tarFile], { encoding: 'latin1' });
    assert.equal(list.status, 0, list.stderr);
    const names = list.stdout.split('\n');
    for (const n of ['./', './t/', './t/hello', './t/links/second', './t/null']) assert.ok(names.includes(n), `got no ${n} in the archive`);
  });

  test('without -p the kernel is silent; a file TARFILE; a socket makes no error status', async () => {
    const f = fakeIo();
    const out = path.join(tmp, 'quiet.tar');
    const code = await fs2tarMain([img, out], f.io);
    assert.equal(code, 0);
    assert.equal(f.stdout().length, 0, 'got bytes on stdout, want none without -p');
    assert.equal(f.stderr(), 'fs2tar: ./t/sock: socket ignored\n');
    const dir = fs.mkdtempSync(path.join(tmp, 'x-'));
    const x = extract('gnu', out, dir);
    assert.equal(x.status, 0, x.stderr);
    assert.equal(fs.readFileSync(path.join(dir, 't/hello'), 'utf8'), 'hello, world\n');
  });

  test('a reader that goes away (fs2tar img - | head): one line, exit 1, no hang', async () => {
    const f = fakeIo();
    let seen = 0;
    const stdout = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > 64 * 1024) cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        else setImmediate(cb);
      },
    });
    const io = { stdout, stderr: (f.io as unknown as { stderr: NodeJS.WriteStream }).stderr } as unknown as Fs2tarIo;
    const code = await fs2tarMain([img, '-'], io);
    assert.equal(code, 1);
    assert.match(f.stderr(), /^fs2tar: standard output: Broken pipe$/m, `got ${JSON.stringify(f.stderr())}`);
  });

  test('mount failures: bad partition, unknown filesystem, unknown type', async () => {
    let f = fakeIo();
    assert.equal(await fs2tarMain(['-P', '2', img, path.join(tmp, 'p.tar')], f.io), 1);
    assert.equal(f.stderr(), `fs2tar: no partition 2 on '${img}'\n`);
    f = fakeIo();
    assert.equal(await fs2tarMain(['-t', 'xfs', img, path.join(tmp, 't.tar')], f.io), 1);
    assert.equal(f.stderr(), "fs2tar: unknown filesystem type 'xfs'\n");
    fs.writeFileSync(img, 'zeros');
    try {
      f = fakeIo();
      assert.equal(await fs2tarMain([img, path.join(tmp, 'u.tar')], f.io), 1);
      assert.match(f.stderr(), new RegExp(`^fs2tar: unknown filesystem on '${img.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'( \\(tried [^)]*\\))?\\n$`), `got ${JSON.stringify(f.stderr())}`);
    } finally {
      fs.writeFileSync(img, 'not really a disk');
    }
    assert.equal(fs.existsSync(path.join(tmp, 'u.tar')), false, 'got an archive file after a failed mount, want none');
  });
});

/** A host source tree for mkfs -d: the same kinds of objects as the kernel tree, made by the host. */
function buildHostTree(dir: string): void {
  const w = (p: string, d: string | Buffer, mode = 0o644) => { fs.writeFileSync(path.join(dir, p), d); fs.chmodSync(path.join(dir, p), mode); };
  fs.mkdirSync(dir, { recursive: true });
  w('hello', 'hello, world\n');
  w('déjà vu', 'unicode');
  w('L'.repeat(240), 'long name');
  w('setuid', '#!/bin/sh\n', 0o4755);
  const big = Buffer.alloc(5 * 1024 * 1024 + 3);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 27;
  w('big.bin', big);
  let deep = 'deep';
  for (let i = 0; i < 30; i++) deep += `/${String(i).padStart(2, '0')}${'d'.repeat(50)}`;
  fs.mkdirSync(path.join(dir, deep), { recursive: true });
  w(`${deep}/bottom`, 'bottom');
  fs.mkdirSync(path.join(dir, 'links'));
  w('links/original', 'shared');
  fs.linkSync(path.join(dir, 'links/original'), path.join(dir, 'links/second'));
  fs.linkSync(path.join(dir, 'links/original'), path.join(dir, 'third-name'));
  fs.symlinkSync('original', path.join(dir, 'links/rel'));
  fs.symlinkSync(`${'t/'.repeat(150)}target`, path.join(dir, 'links/long'));
  fs.mkdirSync(path.join(dir, 'many'));
  for (let i = 0; i < 200; i++) w(`many/f${i}`, `file ${i}\n`);
  spawnSync('mkfifo', [path.join(dir, 'fifo')]);
  spawnSync('setfattr', ['-n', 'user.binary', '-v', '0xff00013d0a80', path.join(dir, 'hello')]);
  spawnSync('setfattr', ['-n', 'user.text', '-v', 'value', path.join(dir, 'hello')]);
  if (isRoot) {
    spawnSync('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
    spawnSync('mknod', [path.join(dir, 'sda1'), 'b', '8', '1']);
    fs.writeFileSync(path.join(dir, 'owned'), 'big ids');
    fs.chownSync(path.join(dir, 'owned'), 3_000_000_000, 4_000_000);
    spawnSync('setfattr', ['-n', 'trusted.secret', '-v', 'root only', path.join(dir, 'hello')]);
  }
  fs.utimesSync(path.join(dir, 'hello'), new Date(1_600_000_000_000), new Date(1_700_000_000_123));
}

describe('fs2tar on ext4 images made by mkfs.ext4 -d', { skip: diskSkip }, () => {
  let tmp: string, src: string, img: string, imgHash: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fs2tar-img-'));
    src = path.join(tmp, 'src');
    img = path.join(tmp, 'fs.img');
    buildHostTree(src);
    const mk = spawnSync('mkfs.ext4', ['-F', '-q', '-d', src, img, '64M'], { encoding: 'utf8' });
    assert.equal(mk.status, 0, `mkfs.ext4 failed: ${mk.stderr}`);
    imgHash = createHash('sha256').update(fs.readFileSync(img)).digest('hex');
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const fields = (ns: boolean) => (isRoot
    ? ['mode', 'uid', 'gid', 'size', 'sha256', 'link', 'rdev', ns ? 'mtime_ns' : 'mtime_s', 'nlink'] as const
    : ['mode', 'size', 'sha256', 'link', ns ? 'mtime_ns' : 'mtime_s'] as const);

  test('fs2tar img out.tar, extracted, equals the source tree; the image is unchanged', async () => {
    const out = path.join(tmp, 'out.tar');
    const r = await runFs2tar([img, out]);
    assert.equal(r.timedOut, false, 'got a hung fs2tar, want it to exit by itself');
    assert.equal(r.code, 0, `got exit ${r.code}, want 0: ${r.stderr}`);
    assert.equal(r.stderr, '', `got stderr ${JSON.stringify(r.stderr)}, want quiet (not a TTY)`);
    for (const tool of ['gnu', 'bsd'] as const) {
      if (tool === 'bsd' && !have('bsdtar')) continue;
      const dir = fs.mkdtempSync(path.join(tmp, `${tool}-`));
      const x = extract(tool, out, dir);
      assert.equal(x.status, 0, `got ${tool} extraction status ${x.status}: ${x.stderr}`);
      noDiffs(compareManifests(hostManifest(dir), hostManifest(src), {
        fields: [...fields(false)],
        xattr: (n) => n.startsWith('user.') || (isRoot && n.startsWith('trusted.')),
        // mkfs adds lost+found; the roots differ in owner and times.
        skip: (rec) => Buffer.from(rec.path, 'hex').toString().startsWith('lost+found'),
        links: true,
        skipRoot: true,
      }), `${tool} extraction vs source`);
    }
    const after = createHash('sha256').update(fs.readFileSync(img)).digest('hex');
    assert.equal(after, imgHash, 'got a modified image, want it never written');
  });

  test("TARFILE '-' writes the same archive to stdout, printk to stderr with -p", async () => {
    const out = path.join(tmp, 'file.tar');
    const a = await runFs2tar([img, out]);
    assert.equal(a.code, 0, a.stderr);
    const b = await runFs2tar(['-p', img, '-']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(hex(createHash('sha256').update(b.stdout).digest()), hex(createHash('sha256').update(fs.readFileSync(out)).digest()),
      'got a different archive on stdout, want the same bytes as the file');
    assert.match(b.stderr, /Linux version/, 'got no kernel messages on stderr with -p, want the boot log there');
  });

  test('-s writes the context list; -t ext4 and -t auto agree', async () => {
    const a = path.join(tmp, 'a.tar'), b = path.join(tmp, 'b.tar'), ctx = path.join(tmp, 'ctx');
    assert.equal((await runFs2tar(['-t', 'ext4', '-s', ctx, img, a])).code, 0);
    assert.equal((await runFs2tar([img, b])).code, 0);
    assert.equal(fs.readFileSync(ctx, 'utf8'), '', 'got context lines, want none (no security.selinux in the image)');
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'got different archives for -t ext4 and auto');
  });

  test('errors: unknown filesystem, unknown type, missing partition', async () => {
    const zero = path.join(tmp, 'zero.img');
    fs.writeFileSync(zero, Buffer.alloc(4 << 20));
    const u = await runFs2tar([zero, path.join(tmp, 'u.tar')]);
    assert.equal(u.code, 1);
    assert.match(u.stderr, new RegExp(`^fs2tar: unknown filesystem on '${zero.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' \\(tried [a-z0-9, ]*ext4[a-z0-9, ]*\\)\\n$`),
      `got ${JSON.stringify(u.stderr)}`);
    const t = await runFs2tar(['-t', 'nosuchfs', img, path.join(tmp, 't.tar')]);
    assert.equal(t.code, 1);
    assert.equal(t.stderr, "fs2tar: unknown filesystem type 'nosuchfs'\n");
    const p = await runFs2tar(['-P', '3', img, path.join(tmp, 'p.tar')]);
    assert.equal(p.code, 1);
    assert.equal(p.stderr, `fs2tar: no partition 3 on '${img}'\n`);
  });

  test('partition -P 1 of an MBR disk', { skip: !have('sfdisk') && 'sfdisk missing' }, async () => {
    const disk = path.join(tmp, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(0));
    fs.truncateSync(disk, 80 << 20);
    const sf = spawnSync('sfdisk', ['-q', disk], { input: 'start=2048, size=73728, type=83\n', encoding: 'utf8' });
    assert.equal(sf.status, 0, sf.stderr);
    const mk = spawnSync('mkfs.ext4', ['-F', '-q', '-d', src, '-E', `offset=${2048 * 512}`, disk, '36M'], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const out = path.join(tmp, 'part.tar');
    const r = await runFs2tar(['-P', '1', disk, out]);
    assert.equal(r.code, 0, r.stderr);
    const dir = fs.mkdtempSync(path.join(tmp, 'part-'));
    assert.equal(extract('gnu', out, dir).status, 0);
    assert.equal(fs.readFileSync(path.join(dir, 'hello'), 'utf8'), 'hello, world\n');
  });

  test('as root (CI=true): the extraction equals the host kernel\'s loop mount, ns times included',
    { skip: !(isRoot && process.env.CI === 'true') && 'needs root and CI=true (loop mount)' }, async () => {
      const out = path.join(tmp, 'loop.tar');
      const r = await runFs2tar([img, out]);
      assert.equal(r.code, 0, r.stderr);
      const dir = fs.mkdtempSync(path.join(tmp, 'x-'));
      assert.equal(extract('gnu', out, dir).status, 0);
      const mnt = fs.mkdtempSync(path.join(tmp, 'mnt-'));
      const m = spawnSync('mount', ['-o', 'loop,ro', img, mnt], { encoding: 'utf8' });
      assert.equal(m.status, 0, `mount failed: ${m.stderr}`);
      try {
        noDiffs(compareManifests(hostManifest(dir), hostManifest(mnt), {
          fields: [...fields(true)],
          xattr: (n) => n.startsWith('user.') || n.startsWith('trusted.'),
          links: true,
        }), 'extraction vs loop mount');
      } finally {
        spawnSync('umount', [mnt]);
      }
    });
});

test('tar writer: every entry is framed in 512-byte blocks and the sink gets exactly the archive', async () => {
  // Regression (tar-stream era): an estimate of header sizes drifted over thousands of entries and
  // stalled the writer. Now the framing is ours: check its size arithmetic over many entries.
  let bytes = 0;
  let want = 1024; // the end marker
  const tw = new TarWriter(async (c) => { bytes += c.length; });
  const enc = new TextEncoder();
  for (let i = 0; i < 30000; i++) {
    const e = { path: enc.encode(`e${i}`), mode: 0o644, uid: 0, gid: 0, mtime: { sec: 1000 + i, nsec: i * 7919 }, atime: { sec: 5, nsec: 123456789 } };
    let t: TarEntry;
    if (i % 3 === 0) await tw.add(t = { ...e, type: 'directory' });
    else if (i % 3 === 1) { const b = (await tw.add(t = { ...e, type: 'file', size: i % 1000 }))!; await b.write(new Uint8Array(i % 1000)); await b.end(); }
    else await tw.add(t = { ...e, type: 'symlink', linkpath: enc.encode('target') });
    want += 512 + 512 + Math.ceil(paxBody(t).length / 512) * 512 + Math.ceil((t.size ?? 0) / 512) * 512;
  }
  await tw.finish();
  assert.equal(bytes, want, `got ${bytes} bytes at the sink, want ${want}`);
  assert.equal(tw.bytesWritten, want, `got bytesWritten ${tw.bytesWritten}, want ${want}`);
});
