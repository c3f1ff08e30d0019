/*
 * Pipe and FIFO semantics at the VFS level: a Vfs with tmpfs on a fake host, no syscalls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Clock } from '../../../../src/kernel/ktime/index.js';
import { Cred } from '../../../../src/kernel/auth/index.js';
import { MemoryBudget } from '../../../../src/mm/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { WaitQueue } from '../../../../src/lib/waitqueue.js';
import {
  Vfs, Inode, SuperBlock, Dentry, vfsRead, vfsWrite, vfsLlseek, fput, openPath, type Path,
} from '../../../../src/fs/vfs/index.js';
import {
  EAGAIN, EPIPE, ESPIPE, EBADF, EINVAL, EPERM, EBUSY, ENXIO, EINTR, ENOTTY,
} from '../../../../src/uapi/errno.js';
import {
  O_NONBLOCK, O_DIRECT, O_RDONLY, O_WRONLY, O_RDWR, F_GETPIPE_SZ, F_SETPIPE_SZ, PIPE_BUF,
} from '../../../../src/uapi/fcntl.js';
import { S_IFIFO, S_IFDIR, S_IFREG } from '../../../../src/uapi/stat.js';
import {
  POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLHUP, POLLERR, FIONREAD,
} from '../../../../src/uapi/misc.js';
import { createPipe, pipeFcntl, pipeInit, getPipeInfo, pipeHalt } from '../../../../src/fs/pipe/index.js';

/** A Vfs on a fake host with a tiny hand-built filesystem: / holding FIFO "f" and file "reg". */
async function setup() {
  const host = new FakeHost();
  const clock = new Clock(host);
  const mem = new MemoryBudget(32 * 1024 * 1024, 0);
  const vfs = new Vfs({ clock, mem, printk: () => {}, entropy: (b) => host.entropy(b) });
  settle = () => clock.sleepUntil(clock.monotonicNs() + 1);
  const sb: SuperBlock = new SuperBlock(vfs, { name: 'testfs', fsFlags: 0, mount: (): SuperBlock => sb }, 0, {
    statfs: () => { throw new Error('unused'); },
  }, 'testfs');
  sb.root = new Dentry('/', null, new Inode(sb, 1, S_IFDIR | 0o755, {}, {}));
  const m = vfs.newMount(sb, sb.root, 0, 'none');
  vfs.rootMount = m;
  const fifo = new Dentry('f', sb.root, new Inode(sb, 2, S_IFIFO | 0o644, {}, {}));
  const reg = new Dentry('reg', sb.root, new Inode(sb, 3, S_IFREG | 0o644, {}, {}));
  const halt = new WaitQueue();
  pipeInit(vfs, halt);
  const cred = new Cred();
  const ctx = { root: { mnt: m, dentry: sb.root } as Path, cred, umask: 0o022 };
  const open = (d: Dentry, flags: number) => openPath(ctx, { mnt: m, dentry: d }, flags);
  return {
    host, clock, mem, vfs, cred, halt, ctx,
    openFifo: (flags: number) => open(fifo, flags),
    openReg: (flags: number) => open(reg, flags),
  };
}

async function errno(p: Promise<unknown> | (() => unknown)): Promise<number> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
}

const bytes = (s: string) => new TextEncoder().encode(s);
/** Let everything runnable run: a virtual 1 ns sleep ends only after the host's idle check (a macrotask). */
let settle: () => Promise<void>;

test('pipe: write then read, FIONREAD, stat shape', async () => {
  const { vfs, cred, mem } = await setup();
  const [r, w] = createPipe(vfs, cred, 0);
  assert.equal(r.inode.mode, S_IFIFO | 0o600);
  assert.equal(r.path.dentry.name, `pipe:[${r.inode.ino}]`);
  const msg = bytes('Hello world!\0');
  assert.equal(await vfsWrite(w, msg), 13);
  assert.equal(mem.pages('pipe'), 1, 'one page charged');
  const n = { value: -1 };
  assert.equal(await r.fop.ioctl!(r, FIONREAD, n), 0);
  assert.equal(n.value, 13, `FIONREAD got ${n.value}, want 13`);
  const b = new Uint8Array(4);
  assert.equal(await r.fop.ioctl!(r, FIONREAD, b), 0);
  assert.equal(new DataView(b.buffer).getInt32(0, true), 13);
  assert.equal(await errno(async () => r.fop.ioctl!(r, 0x1234, 0)), ENOTTY);
  const out = new Uint8Array(64);
  assert.equal(await vfsRead(r, out), 13);
  assert.deepEqual(out.subarray(0, 13), msg);
  assert.equal(mem.pages('pipe'), 0, 'page freed once consumed');
  assert.equal(await errno(vfsLlseek(r, 0, 0)), ESPIPE);
  assert.equal(await errno(vfsRead(r, out, 0)), ESPIPE);
  assert.equal(await errno(vfsRead(w, out)), EBADF);
  await fput(r); await fput(w);
});

test('pipe: O_NONBLOCK EAGAIN, EOF, EPIPE', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, O_NONBLOCK);
  const buf = new Uint8Array(10);
  assert.equal(await errno(vfsRead(r, buf)), EAGAIN);
  await fput(w);
  assert.equal(await vfsRead(r, buf), 0, 'EOF once no writers');
  const [r2, w2] = createPipe(vfs, cred, 0);
  await fput(r2);
  assert.equal(await errno(vfsWrite(w2, bytes('x'))), EPIPE);
  assert.equal(await vfsWrite(w2, new Uint8Array(0)), 0, 'empty write succeeds before the EPIPE check');
  await fput(w2); await fput(r);
});

test('pipe: capacity 64 KiB, PIPE_BUF atomicity for non-blocking writes', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, O_NONBLOCK);
  const big = new Uint8Array(100000).fill(1);
  assert.equal(await vfsWrite(w, big), 65536, 'partial write fills the pipe');
  assert.equal(await errno(vfsWrite(w, bytes('x'))), EAGAIN);
  // Free one slot: read one page.
  assert.equal(await vfsRead(r, new Uint8Array(4096)), 4096);
  assert.equal(await vfsWrite(w, new Uint8Array(PIPE_BUF)), PIPE_BUF);
  assert.equal(await errno(vfsWrite(w, bytes('y'))), EAGAIN);
  await fput(r); await fput(w);

  // 4000-byte writes each take a slot: 16 fit, the 17th is refused whole (not split).
  const [r2, w2] = createPipe(vfs, cred, O_NONBLOCK);
  for (let i = 0; i < 16; i++) assert.equal(await vfsWrite(w2, new Uint8Array(4000)), 4000);
  assert.equal(await errno(vfsWrite(w2, new Uint8Array(4000))), EAGAIN);
  // Small writes merge into the last slot when they fit.
  assert.equal(await vfsWrite(w2, new Uint8Array(96)), 96);
  assert.equal(await errno(vfsWrite(w2, new Uint8Array(1))), EAGAIN);
  await fput(r2); await fput(w2);
});

test('pipe: blocking read waits for a writer', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, 0);
  const out = new Uint8Array(8);
  let done = false;
  const p = vfsRead(r, out).then((n) => { done = true; return n; });
  await settle();
  assert.equal(done, false, 'read is blocked');
  await vfsWrite(w, bytes('abc'));
  assert.equal(await p, 3);
  // Blocked reader sees EOF when the last writer goes.
  const p2 = vfsRead(r, out);
  await settle();
  await fput(w);
  assert.equal(await p2, 0);
  await fput(r);
});

test('pipe: F_SETPIPE_SZ then a blocking PIPE_BUF+1 write completes once read', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, 0);
  assert.equal(pipeFcntl(w, F_GETPIPE_SZ, 0, cred), 65536);
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 1, cred), 4096);
  assert.equal(pipeFcntl(r, F_GETPIPE_SZ, 0, cred), 4096);
  let done = false;
  const p = vfsWrite(w, new Uint8Array(PIPE_BUF + 1).fill(9)).then((n) => { done = true; return n; });
  await settle();
  assert.equal(done, false, 'writer blocked with one byte left');
  const got = new Uint8Array(8192);
  assert.equal(await vfsRead(r, got), 4096);
  assert.equal(await p, PIPE_BUF + 1);
  assert.equal(await vfsRead(r, got), 1);
  await fput(r); await fput(w);
});

test('pipe: F_SETPIPE_SZ rounding, limits and errors', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, O_NONBLOCK);
  const user = new Cred(); user.uid = user.euid = user.fsuid = 1000; user.capEffective = 0n;
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 5000, cred), 8192);
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 0, cred), 4096);
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 1048576, user), 1048576);
  assert.equal(await errno(() => pipeFcntl(w, F_SETPIPE_SZ, 1048577, user)), EPERM);
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 2 * 1048576, cred), 2 * 1048576, 'CAP_SYS_RESOURCE passes the limit');
  assert.equal(await errno(() => pipeFcntl(w, F_SETPIPE_SZ, -1, cred)), EINVAL);
  pipeFcntl(w, F_SETPIPE_SZ, 65536, cred);
  await vfsWrite(w, new Uint8Array(3 * 4096));
  assert.equal(await errno(() => pipeFcntl(w, F_SETPIPE_SZ, 8192, cred)), EBUSY);
  assert.equal(pipeFcntl(w, F_SETPIPE_SZ, 16384, cred), 16384);
  assert.equal(await errno(() => pipeFcntl(w, 999, 0, cred)), EINVAL);
  await fput(r); await fput(w);
});

test('pipe: poll masks and wake keys', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, O_NONBLOCK);
  assert.equal(r.fop.poll!(r), 0);
  assert.equal(w.fop.poll!(w), POLLOUT | POLLWRNORM);
  const keys: number[] = [];
  r.fop.waitQueue!(r).addCallback((k) => keys.push(k));
  await vfsWrite(w, bytes('x'));
  assert.deepEqual(keys, [POLLIN | POLLRDNORM]);
  assert.equal(r.fop.poll!(r), POLLIN | POLLRDNORM);
  await fput(w);
  assert.equal(r.fop.poll!(r), POLLIN | POLLRDNORM | POLLHUP);
  const [r2, w2] = createPipe(vfs, cred, 0);
  await fput(r2);
  assert.equal(w2.fop.poll!(w2), POLLOUT | POLLWRNORM | POLLERR);
  await fput(w2); await fput(r);
});

test('pipe: packet mode (O_DIRECT) keeps write boundaries', async () => {
  const { vfs, cred } = await setup();
  const [r, w] = createPipe(vfs, cred, O_DIRECT | O_NONBLOCK);
  await vfsWrite(w, bytes('abc'));
  await vfsWrite(w, bytes('defgh'));
  const b = new Uint8Array(100);
  assert.equal(await vfsRead(r, b), 3);
  assert.equal(await vfsRead(r, b.subarray(0, 2)), 2, 'short read takes part of the packet');
  assert.equal(await errno(vfsRead(r, b)), EAGAIN, 'the rest of the packet was dropped');
  await fput(r); await fput(w);
});

test('pipe: non-pipe file gives EBADF to pipeFcntl', async () => {
  const { vfs, cred, openReg } = await setup();
  const f = await openReg(O_RDWR);
  assert.equal(await errno(() => pipeFcntl(f, F_GETPIPE_SZ, 0, cred)), EBADF);
  assert.equal(getPipeInfo(f), undefined);
  await fput(f);
  void vfs;
});

test('fifo: open rules, data flow, state dropped at last close', async () => {
  const { openFifo: open } = await setup();
  assert.equal(await errno(open(O_WRONLY | O_NONBLOCK)), ENXIO);
  const rn = await open(O_RDONLY | O_NONBLOCK);
  assert.equal(rn.fop.poll!(rn), 0, 'no POLLHUP before any writer');
  assert.equal(await vfsRead(rn, new Uint8Array(4)), 0, 'no writer: EOF');
  const w = await open(O_WRONLY | O_NONBLOCK);
  await vfsWrite(w, bytes('hey'));
  await fput(w);
  assert.equal(rn.fop.poll!(rn), POLLIN | POLLRDNORM | POLLHUP);
  const b = new Uint8Array(8);
  assert.equal(await vfsRead(rn, b), 3);
  assert.equal(await errno(vfsLlseek(rn, 0, 0)), ESPIPE);
  const inode = rn.inode;
  await fput(rn);
  assert.equal(inode.pipe, undefined, 'pipe state freed with the last file');

  // Blocking O_RDONLY waits for a writer; O_RDWR never waits.
  let opened = false;
  const pr = open(O_RDONLY).then((f) => { opened = true; return f; });
  await settle();
  assert.equal(opened, false, 'reader waits for a writer');
  const rw = await open(O_RDWR);
  const rf = await pr;
  assert.equal(opened, true);
  // Blocking O_WRONLY with a reader present opens at once.
  const wf = await open(O_WRONLY);
  await vfsWrite(wf, bytes('zz'));
  assert.equal(await vfsRead(rf, b), 2);
  await fput(rf); await fput(rw); await fput(wf);
});

test('halt wakes blocked FIFO opens and pipe reads with EINTR', async () => {
  const { vfs, cred, halt, openFifo } = await setup();
  const po = openFifo(O_WRONLY);
  const [r, w] = createPipe(vfs, cred, 0);
  const pr = vfsRead(r, new Uint8Array(4));
  await settle();
  halt.wakeAll(0); // a timer's wake-up is not a halt
  await settle();
  halt.wakeAll(-EINTR);
  assert.equal(await errno(po), EINTR);
  assert.equal(await errno(pr), EINTR);
  await fput(r); await fput(w);
  void pipeHalt;
});
