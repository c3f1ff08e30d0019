/*
 * lklfuse on ext4, read-only: an image made by mke2fs from a source directory (`mkfs.ext4 -d`),
 * mounted with `-o ro`, must show that directory through the host kernel exactly: `diff -r`
 * against the source, `ls -lR` listing every name, `stat` giving the same type, size, mode,
 * link count and mtime, `readlink` the same targets, `getfattr -d` the same user xattrs, and
 * `tar` archiving it. Writing fails with EROFS, and umount(8) ends lklfuse with status 0.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  skipReason, tmpdir, sh, unmount, mountEntry, startLklfuse, waitExit, teardown, pattern, type Running,
} from './helpers.js';

const SKIP = skipReason(['mount', 'umount', 'mkfs.ext4', 'getfattr', 'setfattr', 'diff', 'tar', 'stat', 'e2fsck', 'setpriv', 'debugfs', 'mkfifo']);
const work = SKIP ? '' : tmpdir('lklfuse-ext4-');
const src = path.join(work, 'src');
const img = path.join(work, 'ext4.img');
const mnt = path.join(work, 'mnt');
let running: Running | null = null;
let xattrs = false;

after(async () => {
  if (SKIP) return;
  await teardown(mnt, running);
  fs.rmSync(work, { recursive: true, force: true });
});

test('ext4: prepare fs from a source tree', { skip: SKIP }, () => {
  fs.mkdirSync(path.join(src, 'sub/deep'), { recursive: true });
  fs.mkdirSync(path.join(src, 'empty'));
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello, world\n');
  fs.writeFileSync(path.join(src, 'sub/big.bin'), pattern(1_500_000, 3));
  fs.writeFileSync(path.join(src, 'sub/sparse'), Buffer.alloc(0));
  fs.truncateSync(path.join(src, 'sub/sparse'), 5 << 20);
  for (let i = 0; i < 150; i++) fs.writeFileSync(path.join(src, 'sub/deep', `f${i}`), `${i}\n`);
  fs.symlinkSync('hello.txt', path.join(src, 'link'));
  fs.symlinkSync('/nowhere/at/all', path.join(src, 'dangling'));
  fs.linkSync(path.join(src, 'hello.txt'), path.join(src, 'hard'));
  fs.chmodSync(path.join(src, 'sub/big.bin'), 0o640);
  fs.utimesSync(path.join(src, 'hello.txt'), 1_500_000_000, 1_500_000_000);
  xattrs = sh('setfattr', ['-n', 'user.color', '-v', 'blue', path.join(src, 'hello.txt')]).status === 0;
  if (xattrs) sh('setfattr', ['-n', 'user.empty', path.join(src, 'sub/big.bin')]);
  fs.mkdirSync(mnt);
  const r = sh('mkfs.ext4', ['-q', '-F', '-d', src, img, '32M']);
  assert.equal(r.status, 0, `mkfs.ext4 -d: got status ${r.status}, want 0 (${r.stderr})`);
});

test('ext4: mount -o ro', { skip: SKIP }, async () => {
  running = await startLklfuse(img, mnt, ['-o', 'ro']);
  const m = mountEntry(mnt);
  assert.equal(m?.type, 'fuse.lklfuse', `mount: got ${m?.type}, want fuse.lklfuse (stderr: ${running.stderr()})`);
  assert.ok(m!.opts.includes('ro'), `mount options: got ${m!.opts.join(',')}, want ro`);
});

test('ext4: diff -r against the source', { skip: SKIP }, () => {
  const d = sh('diff', ['-r', '--no-dereference', '-x', 'lost+found', src, mnt]);
  assert.equal(d.status, 0, `diff -r: got differences, want none:\n${d.stdout}${d.stderr}`);
});

test('ext4: ls -lR lists every name', { skip: SKIP }, () => {
  const r = sh('ls', ['-lR', mnt]);
  assert.equal(r.status, 0, `ls -lR: got status ${r.status} (${r.stderr})`);
  for (const n of ['hello.txt', 'link -> hello.txt', 'dangling -> /nowhere/at/all', 'lost+found', 'f149', 'big.bin']) {
    assert.ok(r.stdout.includes(n), `ls -lR: got no '${n}'`);
  }
});

test('ext4: stat and readlink match the source', { skip: SKIP }, () => {
  const fmt = '%F %s %a %h %Y';
  for (const p of ['hello.txt', 'hard', 'link', 'dangling', 'sub', 'sub/big.bin', 'sub/sparse', 'empty', 'sub/deep/f7']) {
    const want = sh('stat', ['-c', fmt, path.join(src, p)]).stdout;
    const got = sh('stat', ['-c', fmt, path.join(mnt, p)]).stdout;
    // Directory sizes are the filesystem's own (block multiples), so they are left out.
    const cut = (s: string) => (s.startsWith('directory') ? s.split(' ').filter((_, i) => i !== 1).join(' ') : s);
    assert.equal(cut(got), cut(want), `stat ${p}: got ${got.trim()}, want ${want.trim()}`);
  }
  assert.equal(fs.readlinkSync(path.join(mnt, 'link')), 'hello.txt');
  assert.equal(fs.readlinkSync(path.join(mnt, 'dangling')), '/nowhere/at/all');
  const a = fs.statSync(path.join(mnt, 'hello.txt')), b = fs.statSync(path.join(mnt, 'hard'));
  assert.equal(a.nlink, 2, `hard link count: got ${a.nlink}, want 2`);
  assert.equal(a.ino, b.ino, `hard link inode numbers: got ${a.ino} and ${b.ino}, want equal`);
  assert.equal(fs.readFileSync(path.join(mnt, 'sub/sparse')).length, 5 << 20);
});

test('ext4: cat', { skip: SKIP }, () => {
  assert.equal(sh('cat', [path.join(mnt, 'hello.txt')]).stdout, 'hello, world\n');
  assert.ok(fs.readFileSync(path.join(mnt, 'sub/big.bin')).equals(pattern(1_500_000, 3)), 'big.bin: got different bytes');
});

test('ext4: getfattr -d matches the source', { skip: SKIP }, () => {
  // One block per file; getdents order differs between the two filesystems, so blocks are sorted.
  const dump = (root: string) => sh('getfattr', ['-R', '-d', '--absolute-names', '-m', '-', '.'], { cwd: root }).stdout
    .split('\n\n').filter((x) => x.trim()).sort().join('\n\n');
  const want = dump(src), got = dump(mnt);
  assert.equal(got, want, `getfattr -d: got\n${got}\nwant\n${want}`);
  if (xattrs) assert.match(got, /user\.color="blue"/);
  const none = sh('getfattr', ['-n', 'user.missing', path.join(mnt, 'hello.txt')]);
  assert.notEqual(none.status, 0, 'getfattr of a missing name: got success, want failure');
  assert.match(none.stderr, /No such attribute/);
});

test('ext4: tar from the mount', { skip: SKIP }, () => {
  const tarFile = path.join(work, 'e.tar'), out = path.join(work, 'untar');
  assert.equal(sh('tar', ['-C', mnt, '--exclude=./lost+found', '-cf', tarFile, '.']).status, 0);
  fs.mkdirSync(out);
  assert.equal(sh('tar', ['-C', out, '-xf', tarFile]).status, 0);
  const d = sh('diff', ['-r', '--no-dereference', src, out]);
  assert.equal(d.status, 0, `diff -r of the extracted archive: got differences:\n${d.stdout}`);
});

test('ext4: writes fail with EROFS; umount ends lklfuse with 0', { skip: SKIP }, async () => {
  assert.throws(() => fs.writeFileSync(path.join(mnt, 'new'), 'x'), { code: 'EROFS' });
  assert.throws(() => fs.mkdirSync(path.join(mnt, 'newdir')), { code: 'EROFS' });
  assert.throws(() => fs.statSync(path.join(mnt, 'not-there')), { code: 'ENOENT' });
  assert.equal(unmount(mnt).status, 0);
  const st = await waitExit(running!, 15_000);
  assert.equal(st, 0, `exit status: got ${st}, want 0 (${running!.stderr()})`);
  const f = sh('e2fsck', ['-fn', img]);
  assert.equal(f.status, 0, `e2fsck -fn: got status ${f.status}:\n${f.stdout}`);
});

test('ext4: allow_other lets other users in, default_permissions applies the modes shown', { skip: SKIP }, async () => {
  fs.chmodSync(work, 0o755); // mkdtemp's 0700 would stop another user before FUSE is asked
  const asNobody = (...cmd: string[]) => sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd]);
  // Without allow_other, FUSE admits only the mounter.
  let r = await startLklfuse(img, mnt, ['-o', 'ro']);
  running = r;
  assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  assert.notEqual(asNobody('ls', mnt).status, 0, 'another user without allow_other: got access, want refused');
  assert.equal(unmount(mnt).status, 0);
  assert.equal(await waitExit(r, 15_000), 0);
  r = await startLklfuse(img, mnt, ['-o', 'ro,allow_other,default_permissions']);
  running = r;
  const m = mountEntry(mnt);
  assert.ok(m?.opts.includes('allow_other') && m.opts.includes('default_permissions'), `mount options: got ${m?.opts.join(',')}`);
  const ls = asNobody('ls', mnt);
  assert.equal(ls.status, 0, `another user with allow_other: got status ${ls.status} (${ls.stderr})`);
  assert.match(ls.stdout, /hello\.txt/);
  // lost+found is 0700 root: the host kernel refuses, from the mode we report.
  assert.notEqual(asNobody('ls', path.join(mnt, 'lost+found')).status, 0, 'lost+found for nobody: got listed, want EACCES');
  assert.equal(asNobody('cat', path.join(mnt, 'hello.txt')).stdout, 'hello, world\n');
  assert.equal(unmount(mnt).status, 0);
  assert.equal(await waitExit(r, 15_000), 0);
});

test('ext4 read-write: create, symlink, link, mknod, chmod/chown/utimes, truncate, unlink, rmdir; e2fsck and debugfs agree', { skip: SKIP }, async () => {
  const rw = path.join(work, 'rw.img');
  fs.copyFileSync(img, rw);
  const r = await startLklfuse(rw, mnt);
  running = r;
  assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  assert.ok(mountEntry(mnt)!.opts.includes('rw'));
  const at = (p: string) => path.join(mnt, p);
  fs.mkdirSync(at('newdir/inner'), { recursive: true });
  fs.writeFileSync(at('newdir/data.bin'), pattern(200_000, 9));
  fs.symlinkSync('data.bin', at('newdir/sym'));
  fs.linkSync(at('newdir/data.bin'), at('newdir/hardlink'));
  assert.equal(sh('mkfifo', [at('newdir/fifo')]).status, 0);
  fs.writeFileSync(at('newdir/inner/x'), 'x\n');
  fs.chmodSync(at('newdir/data.bin'), 0o600);
  fs.chownSync(at('newdir/data.bin'), 1234, 5678);
  fs.utimesSync(at('newdir/data.bin'), 1_234_567_890, 1_234_567_890);
  fs.unlinkSync(at('hello.txt'));
  fs.rmdirSync(at('empty'));
  fs.truncateSync(at('sub/big.bin'), 1000);
  const st = fs.statSync(at('newdir/data.bin'));
  assert.equal(st.nlink, 2, `nlink after link: got ${st.nlink}, want 2`);
  assert.equal(unmount(mnt).status, 0);
  assert.equal(await waitExit(r, 15_000), 0, `exit status (stderr: ${r.stderr()})`);

  const f = sh('e2fsck', ['-fn', rw]);
  assert.equal(f.status, 0, `e2fsck -fn: got status ${f.status}:\n${f.stdout}`);
  const dbg = (req: string) => sh('debugfs', ['-R', req, rw]).stdout;
  const ls = dbg('ls -l /newdir');
  for (const n of ['data.bin', 'sym', 'hardlink', 'fifo', 'inner']) assert.match(ls, new RegExp(` ${n}\\s*$`, 'm'), `debugfs ls /newdir: got no ${n}\n${ls}`);
  assert.equal(dbg('cat /newdir/inner/x'), 'x\n');
  assert.doesNotMatch(dbg('ls -l /'), / hello\.txt\s*$/m, 'debugfs: got the unlinked file');
  const stat = dbg('stat /newdir/data.bin');
  assert.match(stat, /Mode:\s+0600/, `debugfs stat mode:\n${stat}`);
  assert.match(stat, /User:\s+1234\s+Group:\s+5678/, `debugfs stat owner:\n${stat}`);
  assert.match(stat, /Links: 2/, `debugfs stat links:\n${stat}`);
  assert.match(dbg('stat /newdir/sym'), /Fast link dest: "data\.bin"/);
  assert.match(dbg('stat /newdir/fifo'), /Type: FIFO/);
  const out = path.join(work, 'dumped.bin');
  dbg(`dump /newdir/data.bin ${out}`);
  assert.ok(fs.readFileSync(out).equals(pattern(200_000, 9)), 'debugfs dump of data.bin: got different bytes');
  assert.match(dbg('stat /sub/big.bin'), /Size: 1000\b/);
});

test('ext4 read-write: rename of a file and of a directory', { skip: SKIP }, async (t) => {
  const rw = path.join(work, 'rename.img');
  fs.copyFileSync(img, rw);
  const r = await startLklfuse(rw, mnt);
  running = r;
  assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  let unsupported = false;
  try {
    fs.renameSync(path.join(mnt, 'sub'), path.join(mnt, 'sub2'));
    fs.renameSync(path.join(mnt, 'sub2/big.bin'), path.join(mnt, 'moved.bin'));
    assert.ok(fs.readFileSync(path.join(mnt, 'moved.bin')).equals(pattern(1_500_000, 3)));
    assert.equal(fs.readFileSync(path.join(mnt, 'sub2/deep/f7'), 'utf8'), '7\n');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTSUP' && (e as NodeJS.ErrnoException).code !== 'EOPNOTSUPP') throw e;
    unsupported = true;
  }
  assert.equal(unmount(mnt).status, 0);
  assert.equal(await waitExit(r, 15_000), 0);
  // The kernel's ext4 rename is still being written; lklfuse passes its EOPNOTSUPP on unchanged.
  if (unsupported) { t.todo('ext4 rename returns EOPNOTSUPP in this build of the kernel'); return; }
  assert.equal(sh('e2fsck', ['-fn', rw]).status, 0, 'e2fsck -fn after renames');
  const ls = sh('debugfs', ['-R', 'ls -l /', rw]).stdout;
  assert.match(ls, / sub2\s*$/m); assert.match(ls, / moved\.bin\s*$/m); assert.doesNotMatch(ls, / sub\s*$/m);
});

test('ext4 read-write under the writeback cache: O_APPEND, write-only partial pages, mtime; no_writeback_cache too', { skip: SKIP }, async () => {
  // With FUSE_WRITEBACK_CACHE the host kernel keeps written pages and applies O_APPEND itself;
  // lklfuse must open write-only files readable (partial pages are read back) and never append
  // a second time. The image afterwards must hold exactly what was written, whichever mode.
  for (const opt of [[], ['-o', 'no_writeback_cache']]) {
    const rw = path.join(work, 'wb.img');
    fs.copyFileSync(img, rw);
    const r = await startLklfuse(rw, mnt, opt);
    running = r;
    try {
      const f = path.join(mnt, 'appended.txt');
      for (let i = 0; i < 3; i++) fs.appendFileSync(f, `line ${i}\n`);
      const fd = fs.openSync(f, 'a');
      fs.writeSync(fd, 'tail\n');
      fs.closeSync(fd);
      // Write-only, unaligned, inside an existing page: the kernel must read the page around it.
      const g = path.join(mnt, 'partial.bin');
      fs.writeFileSync(g, pattern(10_000, 3));
      const wfd = fs.openSync(g, fs.constants.O_WRONLY);
      fs.writeSync(wfd, Buffer.from('XYZ'), 0, 3, 4097);
      fs.closeSync(wfd);
      const when = new Date(1_500_000_000_000);
      fs.utimesSync(g, when, when);
      const want = Buffer.from(pattern(10_000, 3)); want.write('XYZ', 4097, 'latin1');
      assert.equal(fs.readFileSync(f, 'utf8'), 'line 0\nline 1\nline 2\ntail\n', `${opt.join(' ') || 'writeback'}: appended file`);
      assert.ok(fs.readFileSync(g).equals(want), `${opt.join(' ') || 'writeback'}: partial write read back differs`);
    } finally {
      assert.equal(unmount(mnt).status, 0);
      assert.equal(await waitExit(r, 15_000), 0, `exit status (stderr: ${r.stderr()})`);
    }
    const fsck = sh('e2fsck', ['-fn', rw]);
    assert.equal(fsck.status, 0, `e2fsck -fn: got status ${fsck.status}:\n${fsck.stdout}`);
    const dbg = (req: string) => sh('debugfs', ['-R', req, rw]).stdout;
    assert.equal(dbg('cat /appended.txt'), 'line 0\nline 1\nline 2\ntail\n', 'debugfs cat /appended.txt');
    const out = path.join(work, 'partial.out');
    dbg(`dump /partial.bin ${out}`);
    const want = Buffer.from(pattern(10_000, 3)); want.write('XYZ', 4097, 'latin1');
    assert.ok(fs.readFileSync(out).equals(want), 'debugfs dump /partial.bin: got different bytes');
    assert.match(dbg('stat /partial.bin'), /mtime: 0x59682f00/, 'mtime set by utimes reached the image');
  }
});
