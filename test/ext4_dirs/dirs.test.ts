/*
 * ext4 directories, names, links and attributes against images built by recipe at test time.
 * Each fixture states its exact commands. Oracles: debugfs (inode numbers, htree shape), the
 * source tree the image was made from (names, link targets, xattrs), and, as root, the host
 * kernel through a loop mount (20k-entry and 3-level large_dir directories are populated by the
 * host kernel itself, which builds their htrees).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { KernelError } from '../../src/lib/errors.js';
import { EBADMSG, EUCLEAN, ENAMETOOLONG, EOPNOTSUPP } from '../../src/uapi/errno.js';
import type { Ext4Inode } from '../../src/fs/ext4/index.js';
import { ext4Lookup } from '../../src/fs/ext4/dir.js';
import { ext4Readlink } from '../../src/fs/ext4/symlink.js';
import { ext4Getxattr, ext4Listxattr } from '../../src/fs/ext4/xattr.js';
import { readInlineData } from '../../src/fs/ext4/inline.js';
import { isDx } from '../../src/fs/ext4/htree.js';
import { have, sh, tmpDir, mountImage, readdirAll, walk, bs, unbs, debugfsLs } from './harness.js';

const NO_TOOLS = !have('mkfs.ext4') || !have('debugfs') ? 'e2fsprogs not installed' : false;
const isRoot = process.getuid?.() === 0;
const loopOk = isRoot && have('losetup') ? false : 'needs root for a loop mount';
const work = tmpDir('ext4dirs-');
after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  fs.rmSync(work, { recursive: true, force: true });
});
const mounts: string[] = [];

function mkimg(name: string, sizeMiB: number, mkfsArgs: string[], src?: string): string {
  const img = path.join(work, name + '.img');
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB << 20);
  sh('mkfs.ext4', ['-F', '-q', ...mkfsArgs, ...(src ? ['-d', src] : []), img]);
  return img;
}

async function withLoop<T>(img: string, fn: (mnt: string) => Promise<T> | T): Promise<T> {
  const mnt = fs.mkdtempSync(path.join(work, 'mnt-'));
  sh('mount', ['-o', 'loop', img, mnt]);
  mounts.push(mnt);
  try { return await fn(mnt); } finally {
    // A busy umount (EBUSY for a moment on a loaded machine) would leave the image with its
    // journal unwritten, and the checks below would read a stale image: retry, then fail loudly.
    let st = spawnSync('umount', [mnt]).status;
    for (let i = 0; st !== 0 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = spawnSync('umount', [mnt]).status;
    }
    if (st !== 0) throw new Error(`umount ${mnt}: still mounted after retries`);
    mounts.splice(mounts.indexOf(mnt), 1);
  }
}

async function errnoOf(p: Promise<unknown>): Promise<number> {
  try { await p; } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

function setx(file: string, name: string, value: string): boolean {
  return spawnSync('setfattr', ['-h', '-n', name, '-v', value, file]).status === 0;
}

/** getfattr -d -m- -e hex on one file: name -> hex value. */
function getx(file: string): Map<string, string> {
  const r = spawnSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', file], { encoding: 'latin1' });
  const m = new Map<string, string>();
  for (const line of (r.stdout ?? '').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1).replace(/^0x/, ''));
  }
  return m;
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/* ---- fixture 1: a varied small tree made with mkfs -d (no root needed) -------------------- */

const UNI = 'caf\u00e9-\u65e5\u672c\u8a9e-\u00c5ngstr\u00f6m';
const LONG255 = 'n'.repeat(255);
const LONG_UNI = '\u00e9'.repeat(127); // 254 bytes of UTF-8
const T59 = 't'.repeat(59), T60 = 'u'.repeat(60), T4000 = 'v/'.repeat(2000);

function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
  fs.writeFileSync(path.join(root, 'plain'), 'plain\n');
  fs.writeFileSync(path.join(root, UNI), 'unicode\n');
  fs.writeFileSync(path.join(root, LONG255), '');
  fs.writeFileSync(path.join(root, LONG_UNI), '');
  fs.writeFileSync(path.join(root, 'sub', 'inner'), 'x');
  fs.linkSync(path.join(root, 'plain'), path.join(root, 'sub', 'hardlink'));
  fs.symlinkSync(T59, path.join(root, 's59'));
  fs.symlinkSync(T60, path.join(root, 's60'));
  fs.symlinkSync(T4000, path.join(root, 's4000'));
  spawnSync('mkfifo', [path.join(root, 'fifo')]);
  const x = path.join(root, 'xattrs');
  fs.writeFileSync(x, 'has xattrs');
  setx(x, 'user.small', 'hello');
  setx(x, 'user.big', '0x' + 'ab'.repeat(3000));
  setx(x, 'trusted.t', 'trusted-value');
  setx(x, 'security.s', 'sec');
  setx(path.join(root, 'sub'), 'user.ondir', 'dirvalue');
  // A POSIX ACL (tmpfs validates it; mke2fs stores it in ext4's compact form).
  setx(x, 'system.posix_acl_access', '0x02000000010006000000000002000400e803000004000400ffffffff10000600ffffffff20000400ffffffff');
}

let small: { img: string; src: string } | null = null;
function smallFixture(): { img: string; src: string } {
  if (small) return small;
  const src = path.join(work, 'src-small');
  fs.mkdirSync(src);
  makeTree(src);
  // mkfs.ext4 -F -q -b 4096 -I 256 -d src img (16 MiB)
  small = { img: mkimg('small', 16, ['-b', '4096', '-I', '256'], src), src };
  return small;
}

async function compareDir(m: Awaited<ReturnType<typeof mountImage>>, img: string, dir: string): Promise<void> {
  const node = await walk(m, bs(dir));
  assert.ok(node, `lookup ${dir}: got null, want a directory`);
  const ents = await readdirAll(node!);
  const want = debugfsLs(img, dir);
  const got = new Map(ents.map((e) => [e.name, e.ino]));
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `names of ${dir}`);
  for (const [n, ino] of want) assert.equal(got.get(n), ino, `${dir}/${unbs(n)}: got ino ${got.get(n)}, want ${ino}`);
  for (const e of ents) {
    if (e.name === '.' || e.name === '..') continue;
    const child = await ext4Lookup(node!, e.name);
    assert.equal(child?.ino, e.ino, `lookup ${dir}/${unbs(e.name)}: got ${child?.ino}, want ${e.ino}`);
    assert.equal(e.dtype, child!.mode >>> 12, `dtype of ${unbs(e.name)}: got ${e.dtype}, want ${child!.mode >>> 12}`);
  }
}

test('mkfs -d tree: readdir and lookup match debugfs, unicode and 255-byte names', { skip: NO_TOOLS }, async () => {
  const { img } = smallFixture();
  const m = await mountImage(img);
  await compareDir(m, img, '/');
  await compareDir(m, img, '/sub');
  assert.equal(await ext4Lookup(m.root, 'missing'), null, 'missing name: got an inode, want null');
  assert.equal(await errnoOf(ext4Lookup(m.root, 'z'.repeat(256))), ENAMETOOLONG, '256-byte name');
  const ents = await readdirAll(m.root);
  assert.deepEqual(ents.slice(0, 2).map((e) => e.name), ['.', '..'], 'dot entries first');
});

test('readdir resumes from any position, one entry per call', { skip: NO_TOOLS }, async () => {
  const { img } = smallFixture();
  const m = await mountImage(img);
  const all = await readdirAll(m.root);
  const oneByOne = await readdirAll(m.root, 1);
  assert.deepEqual(oneByOne, all, 'batches of one give the same entries and positions');
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.pos > all[i - 1]!.pos, 'positions increase');
  assert.ok(m.log.every((l) => !l.includes('error')), `no errors logged: ${m.log.join('; ')}`);
});

test('fast, slow symlinks (59, 60, 4000 bytes)', { skip: NO_TOOLS }, async () => {
  const { img } = smallFixture();
  const m = await mountImage(img);
  for (const [name, target, fast] of [['s59', T59, true], ['s60', T60, false], ['s4000', T4000, false]] as const) {
    const l = await walk(m, name);
    assert.equal(l!.isFastSymlink(), fast, `${name} fast: got ${l!.isFastSymlink()}, want ${fast}`);
    const got = await ext4Readlink(l!);
    assert.equal(got, target, `${name}: got ${got.length} bytes, want ${target.length}`);
  }
  void img;
});

test('xattrs: in-inode and block values, list order and namespaces, POSIX ACL', { skip: NO_TOOLS || (!have('setfattr') && 'attr tools missing') }, async () => {
  const { img, src } = smallFixture();
  const m = await mountImage(img);
  const x = (await walk(m, 'xattrs'))!;
  const want = getx(path.join(src, 'xattrs'));
  assert.ok(want.has('user.big'), 'source tree has user.big (tmpfs xattrs)');
  const names = await ext4Listxattr(x);
  assert.deepEqual([...names].sort(), [...want.keys()].sort(), 'listxattr names');
  for (const [n, v] of want) {
    const got = await ext4Getxattr(x, n);
    assert.equal(got && hex(got), v, `${n}: got ${got && hex(got).slice(0, 40)}, want ${v.slice(0, 40)}`);
  }
  assert.ok(x.i_file_acl > 0, 'user.big forced an external xattr block');
  // ibody entries come first in the list: user.small is in the inode, user.big in the block.
  assert.ok(names.indexOf('user.small') < names.indexOf('user.big'), `order: ${names.join(',')}`);
  assert.equal(await ext4Getxattr(x, 'user.none'), null, 'absent attribute');
  assert.equal(await errnoOf(ext4Getxattr(x, 'system.data')), EOPNOTSUPP, 'system.data is not reachable');
  const d = (await walk(m, 'sub'))!;
  assert.equal(hex((await ext4Getxattr(d, 'user.ondir'))!), hex(Buffer.from('dirvalue')), 'xattr on a directory');
  void img;
});

/* ---- fixture 2: a 2-level htree built by e2fsck -D on 1 KiB blocks, incl. unsigned hash ---- */

test('htree (e2fsck -fyD, 1k blocks, indirect levels 1), signed and unsigned hash', { skip: NO_TOOLS }, async () => {
  const src = path.join(work, 'src-htree');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < 2500; i++) names.push(`entry-${i}-` + 'q'.repeat(80) + (i % 7 === 0 ? '\u00fc\u00df' : ''));
  for (const n of names) fs.writeFileSync(path.join(src, 'd', n), '');
  for (const unsigned of [false, true]) {
    // mkfs.ext4 -F -q -b 1024 -N 4000 -d src img; [debugfs -w -R 'ssv flags 2']; e2fsck -fyD img
    const img = mkimg(unsigned ? 'htree-u' : 'htree-s', 24, ['-b', '1024', '-N', '4000'], src);
    if (unsigned) sh('debugfs', ['-w', '-R', 'ssv flags 2', img]);
    spawnSync('e2fsck', ['-fyD', img]);
    const ht = sh('debugfs', ['-R', 'htree /d', img]);
    assert.match(ht, /Indirect levels: 1/, 'e2fsck built a two-level htree');
    const m = await mountImage(img);
    const d = (await walk(m, 'd'))!;
    assert.ok(isDx(d), 'directory is indexed');
    const want = debugfsLs(img, '/d');
    for (const n of names) {
      const b = bs(n);
      const got = await ext4Lookup(d, b);
      assert.equal(got?.ino, want.get(b), `${unsigned ? 'unsigned' : 'signed'} lookup ${n.slice(0, 20)}: got ${got?.ino}, want ${want.get(b)}`);
    }
    const ents = await readdirAll(d);
    assert.equal(ents.length, names.length + 2, 'readdir count');
    assert.ok(!m.log.some((l) => /error|warning/.test(l)), `nothing logged: ${m.log.slice(0, 3).join('; ')}`);
  }
});

/* ---- fixture 3 and 4: populated by the host kernel (root) ----------------------------------- */

test('20,000-entry directory populated by the host kernel', { skip: NO_TOOLS || loopOk }, async () => {
  // mkfs.ext4 -F -q -N 25000 img (64 MiB); mount -o loop; 20000 files + unicode + 255-byte names
  const img = mkimg('big', 64, ['-N', '25000']);
  const hostView = await withLoop(img, (mnt) => {
    const d = path.join(mnt, 'd');
    fs.mkdirSync(d);
    for (let i = 0; i < 20000; i++) fs.writeFileSync(path.join(d, `f${i}`), '');
    fs.writeFileSync(path.join(d, LONG255), '');
    fs.writeFileSync(path.join(d, UNI), '');
    const m = new Map<string, number>();
    for (const n of fs.readdirSync(d, { encoding: 'buffer' })) {
      m.set(n.toString('latin1'), Number(fs.lstatSync(Buffer.concat([Buffer.from(d + '/'), n])).ino));
    }
    return m;
  });
  const m = await mountImage(img);
  const d = (await walk(m, 'd'))!;
  assert.ok(isDx(d), 'the host kernel indexed the directory');
  const ents = await readdirAll(d, 500);
  const got = new Map(ents.filter((e) => e.name !== '.' && e.name !== '..').map((e) => [e.name, e.ino]));
  assert.equal(got.size, hostView.size, `entries: got ${got.size}, want ${hostView.size}`);
  for (const [n, ino] of hostView) {
    assert.equal(got.get(n), ino, `readdir ${unbs(n)}`);
    const l = await ext4Lookup(d, n);
    assert.equal(l?.ino, ino, `lookup ${unbs(n)}: got ${l?.ino}, want ${ino}`);
  }
});

test('large_dir: a 3-level htree (60,000 255-byte names, 1k blocks)', { skip: NO_TOOLS || loopOk }, async () => {
  // mkfs.ext4 -F -q -b 1024 -O large_dir -N 2000 img (96 MiB); 60000 hard links with 255-byte names
  const img = mkimg('largedir', 96, ['-b', '1024', '-O', 'large_dir', '-N', '2000']);
  const names: string[] = [];
  for (let i = 0; i < 60000; i++) names.push(String(i).padStart(6, '0') + 'y'.repeat(249));
  await withLoop(img, (mnt) => {
    fs.mkdirSync(path.join(mnt, 'd'));
    fs.writeFileSync(path.join(mnt, 'target'), 't');
    for (const n of names) fs.linkSync(path.join(mnt, 'target'), path.join(mnt, 'd', n));
  });
  assert.match(sh('debugfs', ['-R', 'htree /d', img]), /Indirect levels: 2/, 'three levels');
  const m = await mountImage(img);
  const target = (await walk(m, 'target'))!;
  const d = (await walk(m, 'd'))!;
  for (let i = 0; i < names.length; i += 7) {
    const l = await ext4Lookup(d, names[i]!);
    assert.equal(l?.ino, target.ino, `lookup #${i}: got ${l?.ino}, want ${target.ino}`);
  }
  assert.equal(await ext4Lookup(d, '999999' + 'y'.repeat(249)), null, 'absent name');
  const ents = await readdirAll(d, 4096);
  assert.equal(ents.length, names.length + 2, `readdir count: got ${ents.length}`);
});

/* ---- fixture 5: inline_data ----------------------------------------------------------------- */

test('inline_data: small files, directories and symlinks', { skip: NO_TOOLS }, async () => {
  const src = path.join(work, 'src-inline');
  fs.mkdirSync(path.join(src, 'idir'), { recursive: true });
  fs.mkdirSync(path.join(src, 'idir2'));
  fs.writeFileSync(path.join(src, 'tiny'), 'tiny file\n');
  fs.writeFileSync(path.join(src, 'mid'), 'm'.repeat(100)); // past i_block: continues in system.data
  fs.symlinkSync('inline-target', path.join(src, 'ilink'));
  fs.writeFileSync(path.join(src, 'idir', 'a'), '');
  for (const n of ['one', 'two', 'three', 'four', 'five', 'six', 'seven']) fs.writeFileSync(path.join(src, 'idir2', n), '');
  // mkfs.ext4 -F -q -O inline_data -I 512 -d src img
  const img = mkimg('inline', 16, ['-O', 'inline_data', '-I', '512'], src);
  const m = await mountImage(img);
  for (const f of ['tiny', 'mid']) {
    const i = (await walk(m, f))!;
    assert.ok(i.hasInlineData, `${f} is inline`);
    const got = Buffer.from(await readInlineData(i)).toString();
    assert.equal(got, fs.readFileSync(path.join(src, f), 'utf8'), `${f} content`);
  }
  assert.equal(await ext4Readlink((await walk(m, 'ilink'))!), 'inline-target', 'symlink target');
  // mke2fs keeps only a directory fitting i_block inline; the host kernel also grows one into
  // system.data, so as root a third directory is made through a loop mount.
  const dirs = ['idir', 'idir2'];
  let mm = m;
  if (!loopOk) {
    await withLoop(img, (mnt) => {
      fs.mkdirSync(path.join(mnt, 'kdir'));
      for (const n of ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta']) fs.writeFileSync(path.join(mnt, 'kdir', n), '');
    });
    assert.match(sh('debugfs', ['-R', 'stat /kdir', img]), /Size of inline data: (?!60\b)\d+/, 'kdir spills into system.data');
    dirs.push('kdir');
    mm = await mountImage(img);
  }
  for (const dn of dirs) {
    const dir = (await walk(mm, dn))!;
    if (dn !== 'idir2') assert.ok(dir.hasInlineData, `${dn} is inline`);
    const ents = await readdirAll(dir);
    const want = debugfsLs(img, '/' + dn);
    assert.deepEqual(ents.map((e) => e.name).sort(), [...want.keys()].sort(), `${dn} names`);
    for (const e of ents) assert.equal(e.ino, want.get(e.name), `${dn}/${e.name} ino`);
    const one = await readdirAll(dir, 1);
    assert.deepEqual(one, ents, `${dn}: one at a time`);
    for (const e of ents.slice(2)) assert.equal((await ext4Lookup(dir, e.name))?.ino, e.ino, `lookup ${dn}/${e.name}`);
  }
});

/* ---- fixture 6: ea_inode ------------------------------------------------------------------ */

test('ea_inode: a value stored in its own inode', { skip: NO_TOOLS || (!have('setfattr') && 'attr tools missing') }, async () => {
  const src = path.join(work, 'src-ea');
  fs.mkdirSync(src);
  const f = path.join(src, 'f');
  fs.writeFileSync(f, '');
  const val = Buffer.alloc(20000);
  for (let i = 0; i < val.length; i++) val[i] = (i * 7 + 3) & 0xff;
  if (!setx(f, 'user.huge', '0x' + val.toString('hex'))) return;
  // mkfs.ext4 -F -q -O ea_inode -d src img
  const img = mkimg('ea', 16, ['-O', 'ea_inode'], src);
  const m = await mountImage(img);
  const i = (await walk(m, 'f'))!;
  const got = await ext4Getxattr(i, 'user.huge');
  assert.ok(got && Buffer.from(got).equals(val), `user.huge: got ${got?.length} bytes, want ${val.length}`);
});

/* ---- fixture 7: casefold (debugfs sets +F; the host kernel may lack CONFIG_UNICODE) --------- */

test('casefold: case-insensitive lookups, linear and htree', { skip: NO_TOOLS }, async () => {
  // mkfs.ext4 -F -q -O casefold -b 1024 img; debugfs -w: mkdir ci, +F (flags 0x40080000), files
  const img = mkimg('casefold', 16, ['-O', 'casefold', '-b', '1024']);
  const cmds = ['mkdir ci', 'set_inode_field ci flags 0x40080000', 'mkdir big', 'set_inode_field big flags 0x40080000',
    'write /dev/null ci/Hello.TXT', `write /dev/null ci/${bs('Stra\u00dfe')}`, `write /dev/null ci/${bs('Caf\u00e9')}`];
  for (let i = 0; i < 600; i++) cmds.push(`write /dev/null big/File-${i}-${'K'.repeat(40)}`);
  sh('debugfs', ['-w', '-f', '-', img], cmds.join('\n') + '\n');
  spawnSync('e2fsck', ['-fyD', img]);
  const m = await mountImage(img);
  const ci = (await walk(m, 'ci'))!;
  const want = debugfsLs(img, '/ci');
  for (const [ask, real] of [['hello.txt', 'Hello.TXT'], ['HELLO.TXT', 'Hello.TXT'], ['STRASSE', 'Stra\u00dfe'],
    ['strasse', 'Stra\u00dfe'], ['CAFE\u0301', 'Caf\u00e9'], ['caf\u00e9', 'Caf\u00e9']] as const) {
    const got = await ext4Lookup(ci, bs(ask));
    assert.equal(got?.ino, want.get(bs(real)), `${ask}: got ${got?.ino}, want ${want.get(bs(real))}`);
  }
  assert.equal(await ext4Lookup(ci, 'hello.tx'), null, 'prefix does not match');
  const big = (await walk(m, 'big'))!;
  assert.ok(isDx(big), 'casefolded htree');
  const bw = debugfsLs(img, '/big');
  for (let i = 0; i < 600; i += 3) {
    const got = await ext4Lookup(big, `file-${i}-${'k'.repeat(40)}`);
    assert.equal(got?.ino, bw.get(`File-${i}-${'K'.repeat(40)}`), `big #${i}`);
  }
});

/* ---- corruption: never a crash or a hang; EUCLEAN/EBADMSG and a printk ------------------- */

function debugfsNum(img: string, cmd: string, re: RegExp): number {
  const mm = re.exec(sh('debugfs', ['-R', cmd, img]));
  assert.ok(mm, `debugfs ${cmd} answered`);
  return Number(mm![1]);
}

test('corrupt directory entries: bad rec_len and name_len', { skip: NO_TOOLS }, async () => {
  const src = path.join(work, 'src-corrupt');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, 'd', `name${i}`), '');
  // mkfs.ext4 -F -q -b 4096 -O ^metadata_csum,^dir_index -d src img
  const img = mkimg('corrupt', 8, ['-b', '4096', '-O', '^metadata_csum,^dir_index'], src);
  const pblk = debugfsNum(img, 'bmap /d 0', /^(\d+)/m);
  const orig = new Uint8Array(fs.readFileSync(img));
  const cases: [string, (b: DataView, o: number) => void][] = [
    ['rec_len 0 on "."', (v, o) => v.setUint16(o + 4, 0, true)],
    ['rec_len not a multiple of 4', (v, o) => v.setUint16(o + 12 + 4, 13, true)],
    ['rec_len past the block', (v, o) => v.setUint16(o + 24 + 4, 8000, true)],
    ['name_len beyond rec_len', (v, o) => v.setUint8(o + 24 + 6, 200)],
  ];
  for (const [what, poke] of cases) {
    const bytes = orig.slice();
    poke(new DataView(bytes.buffer), pblk * 4096);
    const m = await mountImage(bytes);
    const d = (await walk(m, 'd'))!;
    const ents = await readdirAll(d);
    assert.ok(ents.length < 22, `${what}: readdir stopped at the bad entry (got ${ents.length})`);
    assert.ok(m.log.some((l) => l.includes('bad entry in directory')), `${what}: printk (${m.log.join('; ')})`);
    for (let i = 0; i < 20; i++) await ext4Lookup(d, `name${i}`); // must terminate
  }
  assert.deepEqual(new Uint8Array(fs.readFileSync(img)), orig, 'the image file is untouched');
});

test('dx root with bad levels or limit falls back to a linear scan; checksums give EBADMSG', { skip: NO_TOOLS }, async () => {
  const src = path.join(work, 'src-dx');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(src, 'd', `some-longer-name-${i}-${'p'.repeat(30)}`), '');
  // mkfs.ext4 -F -q -b 1024 -d src img; e2fsck -fyD img
  const img = mkimg('dx', 8, ['-b', '1024'], src);
  spawnSync('e2fsck', ['-fyD', img]);
  const root0 = debugfsNum(img, 'bmap /d 0', /^(\d+)/m);
  const leaf = debugfsNum(img, 'bmap /d 1', /^(\d+)/m);
  const orig = new Uint8Array(fs.readFileSync(img));
  const name = `some-longer-name-7-${'p'.repeat(30)}`;
  const base = await mountImage(orig.slice());
  const want = (await ext4Lookup((await walk(base, 'd'))!, name))!.ino;

  // With metadata_csum, damage to the dx root is first seen by its checksum: EBADMSG.
  for (const [what, off, val, errno] of [
    ['indirect levels', 24 + 6, 5, EBADMSG], ['limit', 32, 7, EBADMSG],
  ] as const) {
    const bytes = orig.slice();
    bytes[root0 * 1024 + off] = val;
    const m = await mountImage(bytes);
    const d = (await walk(m, 'd'))!;
    assert.equal(await errnoOf(ext4Lookup(d, name)), errno, `${what}: checksummed index`);
    assert.ok(m.log.some((l) => l.includes('Directory index failed checksum')), `${what}: printk`);
  }
  // A leaf block checksum: lookup fails with EBADMSG and names the inode.
  {
    const bytes = orig.slice();
    bytes[leaf * 1024 + 30] ^= 0xff;
    const m = await mountImage(bytes);
    const d = (await walk(m, 'd'))!;
    const errs = new Set<number>();
    for (let i = 0; i < 400; i++) errs.add(await errnoOf(ext4Lookup(d, `some-longer-name-${i}-${'p'.repeat(30)}`)));
    assert.ok(errs.has(EBADMSG), 'some lookup hits the bad leaf');
    assert.ok(m.log.some((l) => /EXT4-fs error .*inode #\d+.*checksum/.test(l)), `printk: ${m.log.slice(-2).join('; ')}`);
    // An indexed directory is read through the htree path: a failing block fails readdir (host-checked).
    assert.equal(await errnoOf(readdirAll(d)), EBADMSG, 'readdir of an indexed dir with a bad leaf');
  }
  // Without metadata_csum the same damage is caught by dx_probe and the scan takes over.
  const img2 = mkimg('dx-nocsum', 8, ['-b', '1024', '-O', '^metadata_csum'], src);
  spawnSync('e2fsck', ['-fyD', img2]);
  const r2 = debugfsNum(img2, 'bmap /d 0', /^(\d+)/m);
  const orig2 = new Uint8Array(fs.readFileSync(img2));
  for (const [what, off, val] of [['indirect levels', 24 + 6, 5], ['limit', 32, 7], ['count', 34, 0]] as const) {
    const bytes = orig2.slice();
    bytes[r2 * 1024 + off] = val;
    const m = await mountImage(bytes);
    const d = (await walk(m, 'd'))!;
    const got = await ext4Lookup(d, name);
    assert.ok(got, `${what}: found by the linear fallback`);
    assert.ok(m.log.some((l) => l.includes('Corrupt directory, running e2fsck is recommended')), `${what}: warning`);
  }
  void want;
});

test('corrupt xattr block: entry outside the block, bad checksum', { skip: NO_TOOLS || (!have('setfattr') && 'attr tools missing') }, async () => {
  const { img } = smallFixture();
  const acl = debugfsNum(img, 'stat /xattrs', /File ACL: (\d+)/);
  const orig = new Uint8Array(fs.readFileSync(img));
  // Checksum: flip a value byte.
  {
    const bytes = orig.slice();
    bytes[acl * 4096 + 4000] ^= 1;
    const m = await mountImage(bytes);
    const x = (await walk(m, 'xattrs'))!;
    assert.equal(await errnoOf(ext4Getxattr(x, 'user.big')), EBADMSG, 'checksum mismatch');
    assert.ok(m.log.some((l) => l.includes(`corrupted xattr block ${acl}: invalid checksum`)), `printk: ${m.log.join('; ')}`);
  }
  // Structure (checked on a copy whose checksum we fix up): value offset beyond the block.
  {
    const bytes = orig.slice();
    const blk = bytes.subarray(acl * 4096, acl * 4096 + 4096);
    new DataView(blk.buffer, blk.byteOffset).setUint16(32 + 2, 0xfff0, true);
    const m = await mountImage(bytes);
    const x = (await walk(m, 'xattrs'))!;
    const { xattrBlockCsum } = await import('../../src/fs/ext4/xattr.js');
    new DataView(blk.buffer, blk.byteOffset).setUint32(16, xattrBlockCsum(m.sbi, acl, m.bdev.bread(acl, 4096)), true);
    m.bdev.invalidate(); // the device rereads the fixed-up bytes
    const e1 = await errnoOf(Promise.resolve().then(() => ext4Listxattr(x)));
    assert.ok(e1 === EUCLEAN || e1 === EBADMSG, `got ${e1}, want EUCLEAN (or EBADMSG before the fix-up)`);
    assert.ok(m.log.some((l) => l.includes('corrupted xattr block')), `printk: ${m.log.join('; ')}`);
  }
});
