/*
 * procfs behaviour, driven through the VFS as the syscall layer drives it (the syscall-level
 * suite is src/syscalls/sys_info.test.ts). Formats are checked against Linux's shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Kernel, Cred, type Task } from '../../../../src/kernel/index.js';
import { createTmpfsType } from '../../../../src/fs/tmpfs/index.js';
import {
  doFilpOpen, openPath, fput, vfsRead, vfsWrite, iterateDir, pathLookup, vfsGetattr, LOOKUP_FOLLOW,
  type File,
} from '../../../../src/fs/vfs/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { utf8Decode, utf8Encode } from '../../../../src/lib/bytestr.js';
import { O_RDONLY, O_WRONLY, O_NONBLOCK, O_DIRECTORY } from '../../../../src/uapi/fcntl.js';
import { ENOENT, EACCES, EAGAIN, EINVAL } from '../../../../src/uapi/errno.js';
import { PROC_SUPER_MAGIC, S_IFMT, S_IFLNK, S_IFDIR } from '../../../../src/uapi/stat.js';
import { procInitcall } from '../../../../src/fs/proc/index.js';

async function bootProc(): Promise<Kernel> {
  const k = new Kernel(new FakeHost(), 'mem=32M foo');
  await k.boot([
    { name: 'tmpfs', fn: (kk) => { kk.vfs.registerFilesystem(createTmpfsType('tmpfs')); kk.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    procInitcall,
  ]);
  await k.mountAt('/proc', 'proc');
  k.current = k.init;
  return k;
}

/** As dispatch does: the caller is current and running. */
function enter(k: Kernel, t: Task): void { k.current = t; k.vfs.caller = t; t.state = 'R'; }

async function open(k: Kernel, path: string, flags = O_RDONLY, t: Task = k.init): Promise<File> {
  enter(k, t);
  return doFilpOpen(t.fsContext(), t.fs.pwd, path, { flags, mode: 0, resolve: 0 });
}

async function readAll(k: Kernel, path: string, t: Task = k.init): Promise<string> {
  const f = await open(k, path, O_RDONLY, t);
  try {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const b = new Uint8Array(100); // small reads: positional within one snapshot
      const n = await vfsRead(f, b);
      if (n === 0) break;
      chunks.push(b.subarray(0, n));
    }
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    return utf8Decode(all);
  } finally { await fput(f); }
}

async function readlink(k: Kernel, path: string, t: Task = k.init): Promise<string> {
  enter(k, t);
  const p = await pathLookup(t.fsContext(), t.fs.pwd, path, 0);
  const i = p.dentry.inode!;
  assert.ok(i.isLnk, `${path}: got mode ${i.mode.toString(8)}, want a symlink`);
  return i.op.readlink!(i) as string;
}

async function readdir(k: Kernel, path: string): Promise<string[]> {
  const f = await open(k, path, O_RDONLY | O_DIRECTORY);
  const names: string[] = [];
  try { await iterateDir(f, (name) => { names.push(name); return true; }); } finally { await fput(f); }
  return names;
}

async function errnoOf(p: Promise<unknown>): Promise<number> {
  try { await p; } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

/** A new process (thread group leader) the way new_thread_group_leader makes one. */
function newProcess(k: Kernel): Task {
  const t = k.createThread(k.init);
  k.newThreadGroupLeader(t);
  return t;
}

test('self and thread-self name the calling task', async () => {
  const k = await bootProc();
  assert.equal(await readlink(k, '/proc/self'), '1');
  assert.equal(await readlink(k, '/proc/thread-self'), '1/task/1');
  const th = k.createThread(k.init);
  assert.equal(await readlink(k, '/proc/self', th), '1');
  assert.equal(await readlink(k, '/proc/thread-self', th), `1/task/${th.tid}`);
  assert.equal(await readlink(k, '/proc/mounts'), 'self/mounts');
  const st = await readAll(k, '/proc/thread-self/status', th);
  assert.match(st, new RegExp(`^Pid:\\t${th.tid}$`, 'm'));
  await k.shutdown('halt');
});

test('status has Linux fields, tab separated, in order', async () => {
  const k = await bootProc();
  const s = await readAll(k, '/proc/self/status');
  const keys = s.trimEnd().split('\n').map((l) => l.split(':\t')[0]);
  const want = ['Name', 'Umask', 'State', 'Tgid', 'Ngid', 'Pid', 'PPid', 'TracerPid', 'Uid', 'Gid', 'FDSize', 'Groups'];
  assert.deepEqual(keys.slice(0, want.length), want);
  for (const l of s.trimEnd().split('\n')) assert.match(l, /^[A-Za-z_]+:\t/, `got line ${JSON.stringify(l)}`);
  assert.match(s, /^Name:\tinit$/m);
  assert.match(s, /^Umask:\t0022$/m);
  assert.match(s, /^State:\tR \(running\)$/m);
  assert.match(s, /^PPid:\t0$/m);
  assert.match(s, /^Uid:\t0\t0\t0\t0$/m);
  assert.match(s, /^Groups:\t $/m);
  assert.match(s, /^Threads:\t1$/m);
  assert.match(s, /^CapEff:\t000001ffffffffff$/m);
  // A kernel thread is idle and says so.
  const kt = await readAll(k, '/proc/2/status');
  assert.match(kt, /^Name:\tkthreadd$/m);
  assert.match(kt, /^State:\tI \(idle\)$/m);
  assert.match(kt, /^Kthread:\t1$/m);
  await k.shutdown('halt');
});

test('stat has 52 fields', async () => {
  const k = await bootProc();
  const s = await readAll(k, '/proc/1/stat');
  const fields = s.trimEnd().split(' ');
  assert.equal(fields.length, 52, `got ${fields.length} fields, want 52: ${s}`);
  assert.deepEqual(fields.slice(0, 4), ['1', '(init)', 'R', '0']);
  assert.equal(await readAll(k, '/proc/1/comm'), 'init\n');
  assert.equal(await readAll(k, '/proc/1/cmdline'), 'init\0foo\0');
  assert.equal(await readAll(k, '/proc/2/cmdline'), '');
  await k.shutdown('halt');
});

test('readdir lists static entries and processes, not threads', async () => {
  const k = await bootProc();
  const th = k.createThread(k.init);
  const names = await readdir(k, '/proc');
  for (const n of ['.', '..', 'self', 'thread-self', 'meminfo', 'uptime', 'version', 'sys', '1', '2']) {
    assert.ok(names.includes(n), `got ${names.join(',')}, want ${n} among them`);
  }
  assert.ok(!names.includes(String(th.tid)), `thread ${th.tid} listed`);
  // Threads are found by lookup all the same, and under task/.
  assert.match(await readAll(k, `/proc/${th.tid}/status`), new RegExp(`^Pid:\\t${th.tid}$`, 'm'));
  assert.deepEqual((await readdir(k, '/proc/1/task')).slice(2), ['1', String(th.tid)]);
  const pid = await readdir(k, '/proc/1');
  for (const n of ['task', 'fd', 'fdinfo', 'status', 'stat', 'cmdline', 'comm', 'cwd', 'root', 'mounts', 'mountinfo']) {
    assert.ok(pid.includes(n), `got ${pid.join(',')}, want ${n}`);
  }
  await k.shutdown('halt');
});

test('pids come and go: no stale or negative dentries', async () => {
  const k = await bootProc();
  const t = newProcess(k);
  const next = t.tid + 1;
  assert.equal(await errnoOf(readAll(k, `/proc/${next}/status`)), ENOENT);
  const t2 = newProcess(k);
  assert.equal(t2.tid, next);
  assert.match(await readAll(k, `/proc/${next}/status`), new RegExp(`^Tgid:\\t${next}$`, 'm'));
  assert.match(await readAll(k, `/proc/${t.tid}/status`), /^PPid:\t1$/m);
  // A held directory of a dead task: its entries are gone.
  const dir = await open(k, `/proc/${t.tid}`, O_RDONLY | O_DIRECTORY);
  await k.exitTask(t);
  assert.equal(await errnoOf(readAll(k, `/proc/${t.tid}/status`)), ENOENT);
  assert.equal(await errnoOf(iterateDir(dir, () => true)), ENOENT);
  await fput(dir);
  assert.ok(!(await readdir(k, '/proc')).includes(String(t.tid)));
  await k.shutdown('halt');
});

test('fd links read as paths and lead to the file', async () => {
  const k = await bootProc();
  const ctx = k.init.fsContext();
  const root = k.rootPath();
  const f = await doFilpOpen(ctx, root, '/hello', { flags: 0o102 /* O_CREAT|O_RDWR */, mode: 0o644, resolve: 0 });
  await vfsWrite(f, utf8Encode('hi there'));
  const fd = k.init.files.install(f, true, 1024);
  assert.ok((await readdir(k, '/proc/self/fd')).includes(String(fd)));
  assert.equal(await readlink(k, `/proc/self/fd/${fd}`), '/hello');
  const p = await pathLookup(ctx, root, `/proc/self/fd/${fd}`, 0);
  assert.equal(p.dentry.inode!.mode & 0o777, 0o700, 'lrwx------ for O_RDWR');
  // Opening through the magic link reaches the file even after it loses its name.
  assert.equal(await readAll(k, `/proc/self/fd/${fd}`), 'hi there');
  const info = await readAll(k, `/proc/self/fdinfo/${fd}`);
  assert.match(info, /^pos:\t8\nflags:\t02000002\nmnt_id:\t\d+\nino:\t\d+\n$/, `got ${JSON.stringify(info)}`);
  assert.equal(await readlink(k, '/proc/self/cwd'), '/');
  assert.equal(await readlink(k, '/proc/1/root'), '/');
  const proc = await pathLookup(ctx, root, '/proc/self/cwd', LOOKUP_FOLLOW);
  assert.equal(proc.dentry, root.dentry);
  // Closed: the entry is gone.
  await fput(k.init.files.remove(fd));
  assert.equal(await errnoOf(readlink(k, `/proc/self/fd/${fd}`)), ENOENT);
  await k.shutdown('halt');
});

test('mounts, mountinfo and filesystems', async () => {
  const k = await bootProc();
  const m = await readAll(k, '/proc/mounts');
  assert.match(m, /^rootfs \/ rootfs rw[^ ]* 0 0$/m);
  assert.match(m, /^none \/proc proc rw,relatime 0 0$/m);
  const mi = await readAll(k, '/proc/self/mountinfo');
  assert.match(mi, /^\d+ \d+ 0:\d+ \/ \/proc rw,relatime - proc none rw$/m, `got ${mi}`);
  const fs = await readAll(k, '/proc/filesystems');
  assert.match(fs, /^nodev\ttmpfs$/m);
  assert.match(fs, /^nodev\tproc$/m);
  await k.shutdown('halt');
});

test('meminfo, uptime, version, cmdline, loadavg, stat', async () => {
  const k = await bootProc();
  const mi = await readAll(k, '/proc/meminfo');
  for (const l of mi.trimEnd().split('\n')) assert.match(l, /^[A-Za-z_()]+: +\d{8,} kB$|^.{16}[ \d]{8} kB$/, `got ${JSON.stringify(l)}`);
  const total = Number(/^MemTotal: +(\d+) kB$/m.exec(mi)![1]);
  assert.equal(total, (k.mem.totalPages - k.mem.reservedPages) * 4);
  assert.ok(mi.startsWith('MemTotal:       '), `got ${mi.slice(0, 30)}`);
  for (const key of ['MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SwapCached', 'Active', 'Inactive', 'Shmem', 'Slab']) {
    assert.match(mi, new RegExp(`^${key.replace(/[()]/g, '\\$&')}: +\\d+ kB$`, 'm'));
  }
  assert.match(await readAll(k, '/proc/uptime'), /^\d+\.\d\d \d+\.\d\d\n$/);
  assert.equal(await readAll(k, '/proc/version'), `Linux version 6.12.0-lkl.ts (lkl-ts@fake) (fake host (virtual clock)) #1 lkl.ts\n`);
  assert.ok(k.log.dmesg().includes((await readAll(k, '/proc/version')).trimEnd()), 'boot banner matches /proc/version');
  assert.equal(await readAll(k, '/proc/cmdline'), 'mem=32M foo\n');
  assert.match(await readAll(k, '/proc/loadavg'), /^0\.00 0\.00 0\.00 \d+\/\d+ \d+\n$/);
  const st = await readAll(k, '/proc/stat');
  assert.match(st, /^cpu  \d+ \d+ \d+ \d+/);
  assert.match(st, /^btime \d+$/m);
  await k.shutdown('halt');
});

test('sysctls: hostname writable by root only, others read-only', async () => {
  const k = await bootProc();
  assert.equal(await readAll(k, '/proc/sys/kernel/ostype'), 'Linux\n');
  assert.equal(await readAll(k, '/proc/sys/kernel/osrelease'), '6.12.0-lkl.ts\n');
  const w = await open(k, '/proc/sys/kernel/hostname', O_WRONLY);
  await vfsWrite(w, utf8Encode('box\n'));
  await fput(w);
  assert.equal(k.uts.nodename, 'box');
  assert.equal(await readAll(k, '/proc/sys/kernel/hostname'), 'box\n');
  assert.equal(await errnoOf(open(k, '/proc/sys/kernel/ostype', O_WRONLY)), EACCES);
  assert.equal(await errnoOf(open(k, '/proc/meminfo', O_WRONLY)), EACCES);
  // An unprivileged process may not open it for writing.
  const u = newProcess(k);
  u.cred = new Cred();
  Object.assign(u.cred, { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, capPermitted: 0n, capEffective: 0n });
  assert.equal(await errnoOf(open(k, '/proc/sys/kernel/hostname', O_WRONLY, u)), EACCES);
  assert.match(await readAll(k, '/proc/sys/kernel/printk'), /^7\t4\t1\t7\n$/);
  await k.shutdown('halt');
});

test('kmsg reads and consumes records; O_NONBLOCK says EAGAIN', async () => {
  const k = await bootProc();
  const f = await open(k, '/proc/kmsg', O_RDONLY | O_NONBLOCK);
  const b = new Uint8Array(65536);
  const n = await vfsRead(f, b);
  const text = utf8Decode(b.subarray(0, n));
  assert.match(text, /^<5>\[ +\d+\.\d{6}\] Linux version /);
  assert.equal(await errnoOf(vfsRead(f, b)), EAGAIN);
  await fput(f);
  // Blocking: a new message wakes the reader.
  const g = await open(k, '/proc/kmsg', O_RDONLY);
  const pending = vfsRead(g, b);
  k.printk(3, 'hello kmsg');
  const m = await pending;
  assert.match(utf8Decode(b.subarray(0, m)), /^<3>\[ +\d+\.\d{6}\] hello kmsg\n$/);
  await fput(g);
  await k.shutdown('halt');
});

test('statfs, modes and seeks', async () => {
  const k = await bootProc();
  const ctx = k.init.fsContext();
  const p = await pathLookup(ctx, k.rootPath(), '/proc', LOOKUP_FOLLOW);
  const sf = await p.mnt.sb.op.statfs(p.mnt.sb);
  assert.equal(sf.type, PROC_SUPER_MAGIC);
  const st = await vfsGetattr(p);
  assert.equal(st.mode, S_IFDIR | 0o555);
  assert.equal(st.ino, 1);
  const fdDir = await vfsGetattr(await pathLookup(ctx, k.rootPath(), '/proc/1/fd', 0));
  assert.equal(fdDir.mode, S_IFDIR | 0o500);
  const self = await vfsGetattr(await pathLookup(ctx, k.rootPath(), '/proc/self', 0));
  assert.equal(self.mode & S_IFMT, S_IFLNK);
  const f = await open(k, '/proc/version');
  assert.equal(await f.fop.llseek!(f, 6, 0), 6);
  assert.equal(await errnoOf(Promise.resolve().then(() => f.fop.llseek!(f, 0, 2))), EINVAL);
  const b = new Uint8Array(7);
  await vfsRead(f, b);
  assert.equal(utf8Decode(b), 'version');
  await fput(f);
  // getdents d_ino agrees with stat.
  const dir = await openPath(ctx, p, O_RDONLY);
  let dino = 0;
  await iterateDir(dir, (name, ino) => { if (name === 'meminfo') dino = ino; return true; });
  await fput(dir);
  const mst = await vfsGetattr(await pathLookup(ctx, k.rootPath(), '/proc/meminfo', 0));
  assert.equal(dino, mst.ino);
  await k.shutdown('halt');
});
