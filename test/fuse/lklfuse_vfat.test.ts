/*
 * lklfuse on a FAT volume, read-write, in the shape of LKL's tools/lkl/tests/lklfuse.sh: prepare
 * the filesystem, mount it through FUSE, touch/rm/mkdir/rmdir through the host kernel, a second
 * lklfuse on the same lock file exits with status 2, then a real tree copied in with `cp -a` and
 * compared with `diff -r` (FAT keeps no modes or owners, so only names and contents count), `tar`
 * reading the whole mount, and SIGTERM: lklfuse must unmount on the host, unmount and sync its
 * own filesystem and exit 0, leaving an image that `fsck.fat -n` finds clean and whose files mtools
 * reads back. Also: umount(8) and fusermount3 -u end it the same way, and a write-protected image
 * is mounted read-only with a message.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  skipReason, tmpdir, sh, unmount, mountEntry, startLklfuse, waitExit, teardown, pattern, LKLFUSE, type Running,
} from './helpers.js';

const SKIP = skipReason(['mount', 'umount', 'fusermount3', 'mkfs.fat', 'fsck.fat', 'mtype', 'diff', 'tar', 'flock', 'python3', 'sfdisk', 'mcopy']);
const work = SKIP ? '' : tmpdir('lklfuse-vfat-');
const img = path.join(work, 'vfat.img');
const mnt = path.join(work, 'mnt');
const lockFile = path.join(work, 'lock');
let running: Running | null = null;
const extra: { mnt: string; r: Running | null }[] = [];

after(async () => {
  if (SKIP) return;
  await teardown(mnt, running);
  for (const e of extra) await teardown(e.mnt, e.r);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A small real tree: this project's src/uapi (regular files) plus a few of our own. */
const REPO_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/uapi');

test('vfat: prepare fs', { skip: SKIP }, () => {
  fs.mkdirSync(mnt);
  fs.writeFileSync(img, Buffer.alloc(0));
  fs.truncateSync(img, 64 << 20);
  const r = sh('mkfs.fat', ['-F', '32', img]);
  assert.equal(r.status, 0, `mkfs.fat: got status ${r.status}, want 0 (${r.stderr})`);
});

test('vfat: mount', { skip: SKIP }, async () => {
  running = await startLklfuse(img, mnt, ['-o', `lock=${lockFile}`]);
  const m = mountEntry(mnt);
  assert.equal(m?.type, 'fuse.lklfuse', `mount type: got ${m?.type}, want fuse.lklfuse (stderr: ${running.stderr()})`);
  assert.ok(m!.opts.includes('rw'), `mount options: got ${m!.opts.join(',')}, want rw`);
  const st = fs.statSync(mnt);
  assert.ok(st.isDirectory(), 'root: got not a directory, want a directory');
});

test('vfat: touch files', { skip: SKIP }, () => {
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(mnt, `file${i}`), `content ${i}\n`);
  const names = fs.readdirSync(mnt).sort();
  assert.equal(names.length, 20, `entries: got ${names.length}, want 20`);
  for (let i = 0; i < 20; i++) {
    const got = fs.readFileSync(path.join(mnt, `file${i}`), 'utf8');
    assert.equal(got, `content ${i}\n`, `file${i}: got ${JSON.stringify(got)}, want its content`);
  }
});

test('vfat: rm files', { skip: SKIP }, () => {
  for (let i = 0; i < 20; i++) fs.unlinkSync(path.join(mnt, `file${i}`));
  assert.deepEqual(fs.readdirSync(mnt), [], 'after rm: got entries, want none');
  assert.throws(() => fs.statSync(path.join(mnt, 'file0')), { code: 'ENOENT' });
});

test('vfat: mkdir and rmdir', { skip: SKIP }, () => {
  for (let i = 0; i < 10; i++) fs.mkdirSync(path.join(mnt, `dir${i}`, 'sub'), { recursive: true });
  assert.equal(fs.readdirSync(mnt).length, 10);
  assert.throws(() => fs.rmdirSync(path.join(mnt, 'dir0')), { code: 'ENOTEMPTY' });
  for (let i = 0; i < 10; i++) { fs.rmdirSync(path.join(mnt, `dir${i}`, 'sub')); fs.rmdirSync(path.join(mnt, `dir${i}`)); }
  assert.deepEqual(fs.readdirSync(mnt), [], 'after rmdir: got entries, want none');
});

test('vfat: rename, truncate, utimes, statfs, large write', { skip: SKIP }, () => {
  const a = path.join(mnt, 'a.bin'), b = path.join(mnt, 'renamed.bin');
  const data = pattern(3 * 1024 * 1024 + 5, 7);
  fs.writeFileSync(a, data);
  fs.renameSync(a, b);
  assert.throws(() => fs.statSync(a), { code: 'ENOENT' });
  assert.ok(fs.readFileSync(b).equals(data), 'renamed file: got different bytes, want the written ones');
  fs.truncateSync(b, 1000);
  assert.equal(fs.statSync(b).size, 1000);
  assert.ok(fs.readFileSync(b).equals(data.subarray(0, 1000)));
  fs.utimesSync(b, 1_600_000_000, 1_600_000_000);
  assert.equal(fs.statSync(b).mtimeMs, 1_600_000_000_000, 'mtime after utimes');
  const df = sh('df', ['-B1', '--output=size', mnt]);
  const size = Number(df.stdout.split('\n')[1]);
  assert.ok(size > 60e6 && size <= 64 << 20, `df size: got ${size}, want about 64 MiB`);
  fs.unlinkSync(b);
});

test('vfat: lock conflict exits 2', { skip: SKIP }, () => {
  const other = path.join(work, 'mnt2');
  fs.mkdirSync(other);
  const r = sh(process.execPath, [LKLFUSE, img, other, '-f', '-o', `lock=${lockFile}`]);
  assert.equal(r.status, 2, `second lklfuse on a held lock: got status ${r.status}, want 2 (${r.stderr})`);
  assert.match(r.stderr, /locked/);
  assert.equal(mountEntry(other), null, 'second lklfuse: got a mount, want none');
});

test('vfat: cp -a of a real tree, diff -r', { skip: SKIP }, () => {
  const dst = path.join(mnt, 'uapi');
  const r = sh('cp', ['-r', '--preserve=timestamps', REPO_SRC, dst]);
  assert.equal(r.status, 0, `cp: got status ${r.status}, want 0 (${r.stderr})`);
  const d = sh('diff', ['-r', REPO_SRC, dst]);
  assert.equal(d.status, 0, `diff -r: got differences, want none:\n${d.stdout}${d.stderr}`);
  // cp -a too: it also tries owners and modes, which FAT keeps as mount-wide settings.
  const dst2 = path.join(mnt, 'uapi-a');
  sh('cp', ['-a', REPO_SRC, dst2]);
  const d2 = sh('diff', ['-r', REPO_SRC, dst2]);
  assert.equal(d2.status, 0, `diff -r after cp -a: got differences, want none:\n${d2.stdout}${d2.stderr}`);
});

test('vfat: concurrent readers', { skip: SKIP }, async () => {
  const files = fs.readdirSync(REPO_SRC).filter((f) => f.endsWith('.ts'));
  const got = await Promise.all(files.map((f) => fs.promises.readFile(path.join(mnt, 'uapi', f))));
  files.forEach((f, i) => assert.ok(got[i]!.equals(fs.readFileSync(path.join(REPO_SRC, f))), `${f}: got different bytes`));
});

test('vfat: tar from the mount', { skip: SKIP }, () => {
  const tarFile = path.join(work, 'm.tar'), out = path.join(work, 'untar');
  const c = sh('tar', ['-C', mnt, '-cf', tarFile, '.']);
  assert.equal(c.status, 0, `tar -c: got status ${c.status}, want 0 (${c.stderr})`);
  fs.mkdirSync(out);
  assert.equal(sh('tar', ['-C', out, '-xf', tarFile]).status, 0);
  const d = sh('diff', ['-r', REPO_SRC, path.join(out, 'uapi')]);
  assert.equal(d.status, 0, `diff -r of the extracted archive: got differences:\n${d.stdout}`);
});

test('vfat: stress: parallel cp -r, mv and rm -rf from several processes', { skip: SKIP }, async () => {
  const { spawn } = await import('node:child_process');
  const job = (cmd: string) => new Promise<number>((res) => spawn('sh', ['-c', cmd], { stdio: 'ignore' }).on('exit', (c) => res(c ?? -1)));
  const n = 6;
  const q = (p: string) => `'${p}'`;
  const codes = await Promise.all(Array.from({ length: n }, (_, i) =>
    job(`cp -r ${q(REPO_SRC)} ${q(path.join(mnt, `c${i}`))} && mv ${q(path.join(mnt, `c${i}`))} ${q(path.join(mnt, `m${i}`))}`)));
  assert.deepEqual(codes, Array(n).fill(0), `cp/mv exit statuses: got ${codes}`);
  for (let i = 0; i < n; i++) {
    const d = sh('diff', ['-r', REPO_SRC, path.join(mnt, `m${i}`)]);
    assert.equal(d.status, 0, `copy ${i}: got differences:\n${d.stdout}`);
  }
  const rm = await Promise.all(Array.from({ length: n }, (_, i) => job(`rm -rf ${q(path.join(mnt, `m${i}`))}`)));
  assert.deepEqual(rm, Array(n).fill(0), `rm -rf exit statuses: got ${rm}`);
  for (let i = 0; i < n; i++) assert.ok(!fs.existsSync(path.join(mnt, `m${i}`)), `m${i}: got still there after rm -rf`);
});

test('vfat: SIGTERM unmounts, syncs and exits 0; fsck.fat -n clean', { skip: SKIP }, async () => {
  fs.writeFileSync(path.join(mnt, 'LAST.TXT'), 'written just before SIGTERM\n');
  running!.child.kill('SIGTERM');
  const status = await waitExit(running!, 15_000);
  assert.equal(status, 0, `exit status after SIGTERM: got ${status}, want 0 (stderr: ${running!.stderr()})`);
  assert.equal(mountEntry(mnt), null, 'after SIGTERM: got still mounted, want unmounted');
  const f = sh('fsck.fat', ['-n', img]);
  assert.equal(f.status, 0, `fsck.fat -n: got status ${f.status}, want 0:\n${f.stdout}${f.stderr}`);
  const t = sh('mtype', ['-i', img, '::/LAST.TXT']);
  assert.equal(t.stdout.replace(/\r/g, ''), 'written just before SIGTERM\n', `mtype: got ${JSON.stringify(t.stdout)}`);
  const u = sh('mtype', ['-i', img, '::/uapi/errno.ts']);
  assert.equal(u.stdout, fs.readFileSync(path.join(REPO_SRC, 'errno.ts'), 'utf8'), 'mtype of a copied file: got different text');
  // and the lock is free again
  assert.equal(sh('flock', ['-n', lockFile, 'true']).status, 0, 'lock after exit: got held, want free');
});

test('vfat: umount(8) and fusermount3 -u end lklfuse with status 0', { skip: SKIP }, async () => {
  for (const how of [['umount', mnt], ['fusermount3', '-u', mnt]]) {
    const r = await startLklfuse(img, mnt);
    running = r;
    assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount before ${how[0]}: ${r.stderr()}`);
    fs.writeFileSync(path.join(mnt, `BY-${how[0]!.toUpperCase()}`), 'x');
    const u = unmount(mnt, how);
    assert.equal(u.status, 0, `${how.join(' ')}: got status ${u.status} (${u.stderr})`);
    const status = await waitExit(r, 15_000);
    assert.equal(status, 0, `exit status after ${how[0]}: got ${status}, want 0 (stderr: ${r.stderr()})`);
  }
  const f = sh('fsck.fat', ['-n', img]);
  assert.equal(f.status, 0, `fsck.fat -n: got status ${f.status}:\n${f.stdout}`);
  const dir = sh('mdir', ['-b', '-i', img, '::/']).stdout;
  assert.match(dir, /BY-UMOUNT/); assert.match(dir, /BY-FUSERMOUNT3/);
});

test('vfat: SIGINT with a file held open: the busy mount is detached, the connection aborted, exit 0', { skip: SKIP }, async () => {
  const r = await startLklfuse(img, mnt);
  running = r;
  assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  const fd = fs.openSync(path.join(mnt, 'BUSY.TXT'), 'w');
  fs.writeSync(fd, 'held open\n');
  fs.fsyncSync(fd);
  try {
    r.child.kill('SIGINT');
    const status = await waitExit(r, 15_000);
    assert.equal(status, 0, `exit status after SIGINT: got ${status}, want 0 (stderr: ${r.stderr()})`);
    assert.equal(mountEntry(mnt), null, 'after SIGINT: got still mounted, want detached');
  } finally {
    try { fs.closeSync(fd); } catch { /* the connection is gone */ }
  }
  const f = sh('fsck.fat', ['-n', img]);
  assert.equal(f.status, 0, `fsck.fat -n: got status ${f.status}:\n${f.stdout}`);
  assert.equal(sh('mtype', ['-i', img, '::/BUSY.TXT']).stdout, 'held open\n');
});

test('vfat: daemon mode returns once mounted', { skip: SKIP }, async () => {
  const lk = path.join(work, 'daemon.lock');
  const r = sh(process.execPath, [LKLFUSE, img, mnt, '-o', `lock=${lk}`]);
  extra.push({ mnt, r: null });
  assert.equal(r.status, 0, `lklfuse (daemon): got status ${r.status}, want 0 (${r.stderr})`);
  assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', 'daemon: got no mount, want fuse.lklfuse');
  assert.equal(fs.readFileSync(path.join(mnt, 'LAST.TXT'), 'utf8'), 'written just before SIGTERM\n');
  assert.equal(sh('fusermount3', ['-u', mnt]).status, 0);
  // The daemon holds the lock until it has halted its kernel and exited.
  const w = sh('flock', ['-w', '15', lk, 'true']);
  assert.equal(w.status, 0, 'daemon lock: got still held after 15 s, want released');
  assert.equal(sh('fsck.fat', ['-n', img]).status, 0, 'fsck.fat -n after the daemon');
});

test('vfat: a write-protected image is mounted read-only', { skip: SKIP }, async () => {
  // A read-only bind mount of the work directory: opening the image for writing fails with EROFS.
  const ro = path.join(work, 'ro');
  fs.mkdirSync(ro);
  assert.equal(sh('mount', ['--bind', work, ro]).status, 0);
  try {
    assert.equal(sh('mount', ['-o', 'remount,bind,ro', ro]).status, 0);
    const r = await startLklfuse(path.join(ro, 'vfat.img'), mnt);
    running = r;
    const m = mountEntry(mnt);
    assert.equal(m?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
    assert.ok(m!.opts.includes('ro'), `mount options: got ${m!.opts.join(',')}, want ro`);
    assert.match(r.stderr(), /write-protected, mounting read-only/);
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'nope'), 'x'), { code: 'EROFS' });
    assert.equal(unmount(mnt).status, 0);
    assert.equal(await waitExit(r, 15_000), 0);
  } finally {
    await teardown(mnt, running);
    unmount(ro);
  }
});

const OPS_PY = fileURLToPath(new URL('../../../test/fuse/fuse_ops.py', import.meta.url));

test('vfat: system calls reach the kernel and come back with its answers (-s -d, opts=, log=, gid=)', { skip: SKIP }, async () => {
  const img2 = path.join(work, 'ops.img'), mnt2 = path.join(work, 'mnt-ops'), log = path.join(work, 'kernel.log');
  fs.mkdirSync(mnt2);
  fs.writeFileSync(img2, Buffer.alloc(0)); fs.truncateSync(img2, 32 << 20);
  assert.equal(sh('mkfs.fat', [img2]).status, 0);
  const r = await startLklfuse(img2, mnt2, ['-s', '-d', '-o', `opts=noatime\\,uid=1234,log=${log},gid=4321`]);
  extra.push({ mnt: mnt2, r });
  assert.equal(mountEntry(mnt2)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  const py = sh('python3', [OPS_PY, mnt2]);
  assert.equal(py.status, 0, `fuse_ops.py: ${py.stderr}`);
  const got = Object.fromEntries(py.stdout.trim().split('\n').map((l) => { const [n, ...v] = l.split(' '); return [n!, v.join(' ')]; }));
  // What Linux's vfat answers (and FUSE carries back unchanged).
  const want: Record<string, string | RegExp> = {
    copy_file_range: 'ok 15000', copied_bytes: 'ok True', seek_data: 'ok 0', seek_hole: 'ok 15000',
    seek_data_past_eof: 'err ENXIO', size_after_fallocate: 'ok 100000', ftruncate: 'ok None',
    size_after_ftruncate: 'ok 50', fsync: 'ok None', fdatasync: 'ok None',
    utime_ns: 'ok 1600000002000000000', rename_noreplace: 'err EEXIST', rename_noreplace_new: 'ok False',
    symlink: 'err EPERM', link: 'err EPERM', mkfifo: 'err EPERM', setxattr: /^err E(OPNOTSUPP|NOTSUP)$/,
    listxattr: 'ok []', rmdir_file: 'err ENOTDIR', unlink_dir: 'err EISDIR', mkdir_exists: 'err EEXIST',
    open_missing: 'err ENOENT', uid: 'ok 1234', gid: 'ok 4321', access_w: 'ok True',
  };
  for (const [k, w] of Object.entries(want)) {
    if (typeof w === 'string') assert.equal(got[k], w, `${k}: got ${got[k]}, want ${w}`);
    else assert.match(got[k] ?? '', w, `${k}: got ${got[k]}, want ${w}`);
  }
  assert.equal(unmount(mnt2).status, 0);
  assert.equal(await waitExit(r, 15_000), 0, `exit status (stderr: ${r.stderr().slice(-2000)})`);
  // -d traced each request: these were served by lklfuse, not emulated by the host kernel.
  for (const op of ['COPY_FILE_RANGE', 'LSEEK', 'FALLOCATE', 'RENAME2', 'FSYNC', 'SETATTR', 'CREATE', 'MKNOD', 'SYMLINK', 'LINK', 'SETXATTR', 'LISTXATTR']) {
    assert.match(r.stderr(), new RegExp(`opcode: ${op} \\(`), `-d trace: got no ${op} request`);
  }
  assert.match(fs.readFileSync(log, 'utf8'), /Kernel command line: mem=64M/, 'log=: got no kernel messages');
  const f = sh('fsck.fat', ['-n', img2]);
  assert.equal(f.status, 0, `fsck.fat -n: got status ${f.status}:\n${f.stdout}`);
});

test('vfat: part= mounts a partition of a partitioned disk', { skip: SKIP }, async () => {
  // An MBR disk whose partition 1 (sectors 2048..) holds a FAT volume made on its own file.
  const disk = path.join(work, 'disk.img'), part = path.join(work, 'part.img'), mnt3 = path.join(work, 'mnt-part');
  fs.mkdirSync(mnt3);
  fs.writeFileSync(disk, Buffer.alloc(0)); fs.truncateSync(disk, 24 << 20);
  assert.equal(sh('sfdisk', ['-q', disk], { input: 'label: dos\nstart=2048, size=40000, type=c\n' }).status, 0);
  fs.writeFileSync(part, Buffer.alloc(0)); fs.truncateSync(part, 40000 * 512);
  assert.equal(sh('mkfs.fat', [part]).status, 0);
  fs.writeFileSync(path.join(work, 'HELLO.TXT'), 'in partition one\n');
  assert.equal(sh('mcopy', ['-i', part, path.join(work, 'HELLO.TXT'), '::/HELLO.TXT']).status, 0);
  const fd = fs.openSync(disk, 'r+');
  fs.writeSync(fd, fs.readFileSync(part), 0, 40000 * 512, 2048 * 512);
  fs.closeSync(fd);
  const r = await startLklfuse(disk, mnt3, ['-o', 'part=1']);
  extra.push({ mnt: mnt3, r });
  assert.equal(mountEntry(mnt3)?.type, 'fuse.lklfuse', `mount: ${r.stderr()}`);
  assert.equal(fs.readFileSync(path.join(mnt3, 'HELLO.TXT'), 'utf8'), 'in partition one\n');
  assert.equal(unmount(mnt3).status, 0);
  assert.equal(await waitExit(r, 15_000), 0);
  const bad = sh(process.execPath, [LKLFUSE, disk, mnt3, '-f', '-o', 'part=3']);
  assert.equal(bad.status, 1); assert.match(bad.stderr, /no partition 3/);
});
