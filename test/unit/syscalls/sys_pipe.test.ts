/*
 * pipe2, eventfd2, ppoll, pselect6 and epoll through the syscall dispatcher, on a kernel booted
 * here with tmpfs, pipes and eventpoll registered (what src/lkl.ts does, minus the public API),
 * on a fake host whose virtual clock jumps ahead when the kernel idles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../src/arch/fake/index.js';
import { Kernel, type Task } from '../../../src/kernel/index.js';
import { createTmpfsType } from '../../../src/fs/tmpfs/index.js';
import { pipeInit, pipeFcntl } from '../../../src/fs/pipe/index.js';
import { eventpollInit } from '../../../src/fs/eventpoll/index.js';
import { NR } from '../../../src/uapi/unistd.js';
import {
  EAGAIN, EPIPE, EINVAL, EBADF, EFAULT, EMFILE, EEXIST, ENOENT, EPERM, ESPIPE, ENXIO, EINTR,
} from '../../../src/uapi/errno.js';
import {
  O_NONBLOCK, O_CLOEXEC, O_RDONLY, O_WRONLY, O_CREAT, AT_FDCWD, F_SETPIPE_SZ, F_GETPIPE_SZ,
  F_GETFD, PIPE_BUF, EFD_SEMAPHORE, EFD_NONBLOCK,
} from '../../../src/uapi/fcntl.js';
import {
  POLLIN, POLLOUT, POLLNVAL, POLLHUP, EPOLLIN, EPOLLOUT, EPOLLET, EPOLLONESHOT, EPOLL_CTL_ADD,
  EPOLL_CTL_MOD, EPOLL_CTL_DEL, FIONREAD, RLIMIT_NOFILE,
} from '../../../src/uapi/misc.js';
import { S_IFIFO } from '../../../src/uapi/stat.js';
import { ALL_SYSCALLS, buildTable, dispatch } from '../../../src/syscalls/table.js';
import { hooks } from '../../../src/syscalls/hooks.js';
import { pipeSyscalls } from '../../../src/syscalls/sys_pipe.js';
import { pollSyscalls } from '../../../src/syscalls/sys_poll.js';
import type { SyscallDef } from '../../../src/syscalls/types.js';

async function bootKernel() {
  const host = new FakeHost();
  const k = new Kernel(host, 'mem=32M');
  await k.boot([
    { name: 'tmpfs', fn: (k) => { k.vfs.registerFilesystem(createTmpfsType('tmpfs')); k.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    { name: 'pipe', fn: (k) => pipeInit(k.vfs, k.haltWait) },
    { name: 'eventpoll', fn: (k) => eventpollInit(k.vfs, k.haltWait) },
  ]);
  // The lead's table may already list these; ours win so the test runs this code.
  const mine = new Set([...pipeSyscalls, ...pollSyscalls].map((d) => d.name));
  const defs: SyscallDef[] = [...ALL_SYSCALLS.filter((d) => !mine.has(d.name)), ...pipeSyscalls, ...pollSyscalls];
  hooks.pipeFcntl ??= pipeFcntl;
  const table = buildTable(defs);
  const call = (t: Task) => (nr: number, ...args: unknown[]) => dispatch(table, t, nr, args);
  const sys = call(k.init);
  const settle = () => k.clock.sleepUntil(k.clock.monotonicNs() + 1);
  return { host, k, sys, call, settle };
}

const enc = (s: string) => new TextEncoder().encode(s);

test('LKL boot test: pipe2 O_NONBLOCK, write and read 13 bytes', async () => {
  const { k, sys } = await bootKernel();
  const fds = new Int32Array(2);
  assert.equal(await sys(NR.pipe2, fds, O_NONBLOCK), 0);
  const msg = enc('Hello world!\0');
  assert.equal(await sys(NR.write, fds[1], msg, msg.length), 13);
  const out = new Uint8Array(13);
  assert.equal(await sys(NR.read, fds[0], out, out.length), 13);
  assert.deepEqual(out, msg);
  assert.equal(await sys(NR.read, fds[0], out, out.length), -EAGAIN);
  assert.equal(await sys(NR.lseek, fds[0], 0, 0), -ESPIPE);
  assert.equal(await sys(NR.pread64, fds[0], out, 1, 0), -ESPIPE);
  await k.shutdown('halt');
});

test('LKL boot test: epoll on a pipe', async () => {
  const { k, sys } = await bootKernel();
  const fds = [0, 0];
  assert.equal(await sys(NR.pipe2, fds, O_NONBLOCK), 0);
  const ep = await sys(NR.epoll_create1, 0);
  assert.ok(ep >= 0, `epoll_create1 got ${ep}`);
  const ev = new Uint8Array(16);
  new DataView(ev.buffer).setUint32(0, POLLIN | POLLOUT, true);
  new DataView(ev.buffer).setBigUint64(8, 0x1122334455667788n, true);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, fds[0], ev), 0);
  const out = new Uint8Array(16 * 4);
  assert.equal(await sys(NR.epoll_pwait, ep, out, 4, 0, null, 8), 0);
  const msg = enc('Hello world!\0');
  assert.equal(await sys(NR.write, fds[1], msg, msg.length), 13);
  assert.equal(await sys(NR.epoll_pwait, ep, out, 4, 0, null, 8), 1);
  const v = new DataView(out.buffer);
  assert.equal(v.getUint32(0, true), EPOLLIN);
  assert.equal(v.getBigUint64(8, true), 0x1122334455667788n);
  await k.shutdown('halt');
});

test('pipe2: flags, fds argument shapes, cloexec, EMFILE rollback', async () => {
  const { k, sys } = await bootKernel();
  assert.equal(await sys(NR.pipe2, new Int32Array(2), 0o1), -EINVAL);
  assert.equal(await sys(NR.pipe2, null, 0), -EFAULT);
  assert.equal(await sys(NR.pipe2, new Uint8Array(4), 0), -EFAULT);
  const before = k.init.files.count;
  assert.equal(k.init.files.count, before, 'EFAULT left no fds behind');
  const b = new Uint8Array(8);
  assert.equal(await sys(NR.pipe2, b, O_CLOEXEC), 0);
  const dv = new DataView(b.buffer);
  const r = dv.getInt32(0, true), w = dv.getInt32(4, true);
  assert.equal(await sys(NR.fcntl, r, F_GETFD, 0), 1);
  assert.equal(await sys(NR.fcntl, w, F_GETFD, 0), 1);
  // Room for exactly one more fd: the read end is installed, the write end is not; both go.
  const limit = k.init.files.size + 1;
  k.init.rlimits[RLIMIT_NOFILE] = [limit, limit];
  const countBefore = k.init.files.count;
  assert.equal(await sys(NR.pipe2, new Int32Array(2), 0), -EMFILE);
  assert.equal(k.init.files.count, countBefore, 'first fd rolled back');
  assert.equal(k.vfs.mem.pages('pipe'), 0);
  await k.shutdown('halt');
});

test('pipe: EOF, EPIPE, FIONREAD through ioctl, F_SETPIPE_SZ via fcntl', async () => {
  const { k, sys } = await bootKernel();
  const fds = new Int32Array(2);
  await sys(NR.pipe2, fds, 0);
  await sys(NR.write, fds[1], enc('abc'), 3);
  const n = { value: 0 };
  assert.equal(await sys(NR.ioctl, fds[0], FIONREAD, n), 0);
  assert.equal(n.value, 3);
  assert.equal(await sys(NR.fcntl, fds[0], F_GETPIPE_SZ, 0), 65536);
  assert.equal(await sys(NR.fcntl, fds[1], F_SETPIPE_SZ, 100000), 131072);
  assert.equal(await sys(NR.close, fds[1]), 0);
  const out = new Uint8Array(10);
  assert.equal(await sys(NR.read, fds[0], out, 10), 3);
  assert.equal(await sys(NR.read, fds[0], out, 10), 0, 'EOF');
  const fds2 = new Int32Array(2);
  await sys(NR.pipe2, fds2, 0);
  await sys(NR.close, fds2[0]);
  assert.equal(await sys(NR.write, fds2[1], enc('x'), 1), -EPIPE);
  const fd = await sys(NR.openat, AT_FDCWD, '/reg', O_CREAT | O_WRONLY, 0o644);
  assert.equal(await sys(NR.fcntl, fd, F_GETPIPE_SZ, 0), -EBADF);
  await k.shutdown('halt');
});

test('pipe: a blocking PIPE_BUF+1 write after F_SETPIPE_SZ(1) completes once another task reads', async () => {
  const { k, sys, call, settle } = await bootKernel();
  const fds = new Int32Array(2);
  await sys(NR.pipe2, fds, 0);
  assert.equal(await sys(NR.fcntl, fds[1], F_SETPIPE_SZ, 1), 4096);
  let wrote: number | null = null;
  const pw = sys(NR.write, fds[1], new Uint8Array(PIPE_BUF + 1).fill(5), PIPE_BUF + 1).then((r) => { wrote = r; });
  await settle();
  assert.equal(wrote, null, 'writer blocked');
  const reader = call(k.createThread(k.init));
  const out = new Uint8Array(PIPE_BUF * 2);
  assert.equal(await reader(NR.read, fds[0], out, out.length), PIPE_BUF);
  await pw;
  assert.equal(wrote, PIPE_BUF + 1);
  assert.equal(await reader(NR.read, fds[0], out, out.length), 1);
  await k.shutdown('halt');
});

test('FIFO through mknodat/openat: ENXIO, then data', async () => {
  const { k, sys } = await bootKernel();
  assert.equal(await sys(NR.mknodat, AT_FDCWD, '/fifo', S_IFIFO | 0o644, 0), 0);
  assert.equal(await sys(NR.openat, AT_FDCWD, '/fifo', O_WRONLY | O_NONBLOCK, 0), -ENXIO);
  const r = await sys(NR.openat, AT_FDCWD, '/fifo', O_RDONLY | O_NONBLOCK, 0);
  const w = await sys(NR.openat, AT_FDCWD, '/fifo', O_WRONLY, 0);
  assert.ok(r >= 0 && w >= 0);
  assert.equal(await sys(NR.write, w, enc('fifo'), 4), 4);
  const out = new Uint8Array(8);
  assert.equal(await sys(NR.read, r, out, 8), 4);
  await k.shutdown('halt');
});

test('eventfd2: flags, semaphore mode', async () => {
  const { k, sys } = await bootKernel();
  assert.equal(await sys(NR.eventfd2, 0, 0x100), -EINVAL);
  const fd = await sys(NR.eventfd2, 3, EFD_SEMAPHORE | EFD_NONBLOCK);
  assert.ok(fd >= 0);
  const b = new Uint8Array(8);
  for (let i = 0; i < 3; i++) {
    assert.equal(await sys(NR.read, fd, b, 8), 8);
    assert.equal(new DataView(b.buffer).getBigUint64(0, true), 1n);
  }
  assert.equal(await sys(NR.read, fd, b, 8), -EAGAIN);
  assert.equal(await sys(NR.read, fd, b, 4), -EINVAL);
  await k.shutdown('halt');
});

test('epoll: ctl errors, LT vs ET, ONESHOT, object events', async () => {
  const { k, sys } = await bootKernel();
  assert.equal(await sys(NR.epoll_create1, 1), -EINVAL);
  const ep = await sys(NR.epoll_create1, 0);
  const fds = [0, 0];
  await sys(NR.pipe2, fds, O_NONBLOCK);
  const [r, w] = fds as [number, number];
  const reg = await sys(NR.openat, AT_FDCWD, '/reg', O_CREAT | O_WRONLY, 0o644);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, reg, { events: EPOLLIN, data: 0 }), -EPERM);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, 99, { events: EPOLLIN, data: 0 }), -EBADF);
  assert.equal(await sys(NR.epoll_ctl, r, EPOLL_CTL_ADD, w, { events: EPOLLIN, data: 0 }), -EINVAL);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, ep, { events: EPOLLIN, data: 0 }), -EINVAL);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, r, null), -EFAULT);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_MOD, r, { events: EPOLLIN, data: 0 }), -ENOENT);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, r, { events: EPOLLIN | EPOLLET, data: 'read end' }), 0);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, r, { events: EPOLLIN, data: 0 }), -EEXIST);
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, w, { events: EPOLLOUT | EPOLLONESHOT, data: 'write end' }), 0);
  assert.equal(await sys(NR.epoll_pwait, ep, [], 0, 0, null, 8), -EINVAL);
  assert.equal(await sys(NR.epoll_pwait, r, [], 1, 0, null, 8), -EINVAL);
  const evs: { events: number; data: unknown }[] = [];
  assert.equal(await sys(NR.epoll_pwait, ep, evs, 8, 0, null, 8), 1);
  assert.deepEqual(evs, [{ events: EPOLLOUT, data: 'write end' }]);
  assert.equal(await sys(NR.epoll_pwait, ep, evs, 8, 0, null, 8), 0, 'ONESHOT disarmed');
  await sys(NR.write, w, enc('a'), 1);
  const evs2: unknown[] = [];
  assert.equal(await sys(NR.epoll_pwait, ep, evs2, 8, 0, null, 8), 1);
  assert.deepEqual(evs2, [{ events: EPOLLIN, data: 'read end' }]);
  assert.equal(await sys(NR.epoll_pwait, ep, evs2, 8, 0, null, 8), 0, 'ET: reported once');
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_MOD, r, { events: EPOLLIN, data: 'lt' }), 0);
  for (let i = 0; i < 2; i++) {
    const e: unknown[] = [];
    assert.equal(await sys(NR.epoll_pwait, ep, e, 8, 0, null, 8), 1, `LT round ${i}`);
  }
  assert.equal(await sys(NR.epoll_ctl, ep, EPOLL_CTL_DEL, r, null), 0);
  assert.equal(await sys(NR.epoll_pwait, ep, [], 8, 0, null, 8), 0);
  // epoll_pwait2 with a timespec: waits on the virtual clock.
  const t0 = k.clock.monotonicNs();
  assert.equal(await sys(NR.epoll_pwait2, ep, [], 8, { sec: 2, nsec: 0 }, null, 8), 0);
  assert.ok(k.clock.monotonicNs() - t0 >= 2e9, 'waited the 2 s timeout');
  assert.equal(await sys(NR.epoll_pwait2, ep, [], 8, { sec: 0, nsec: 1e9 }, null, 8), -EINVAL);
  await k.shutdown('halt');
});

test('epoll_pwait blocks until another task writes', async () => {
  const { k, sys, call, settle } = await bootKernel();
  const ep = await sys(NR.epoll_create1, 0);
  const fds = [0, 0];
  await sys(NR.pipe2, fds, 0);
  await sys(NR.epoll_ctl, ep, EPOLL_CTL_ADD, fds[0], { events: EPOLLIN, data: 42 });
  const out = new Uint8Array(16);
  let got: number | null = null;
  const p = sys(NR.epoll_pwait, ep, out, 1, -1, null, 8).then((r) => { got = r; });
  await settle();
  assert.equal(got, null);
  await call(k.createThread(k.init))(NR.write, fds[1], enc('z'), 1);
  await p;
  assert.equal(got, 1);
  assert.equal(new DataView(out.buffer).getBigUint64(8, true), 42n);
  await k.shutdown('halt');
});

test('ppoll: revents, POLLNVAL, negative fds, timeout on the fake clock, time left', async () => {
  const { k, sys } = await bootKernel();
  const fds = [0, 0];
  await sys(NR.pipe2, fds, 0);
  const [r, w] = fds as [number, number];
  const pfds = [
    { fd: r, events: POLLIN, revents: -1 },
    { fd: w, events: POLLOUT, revents: -1 },
    { fd: -1, events: POLLIN, revents: -1 },
    { fd: 77, events: POLLIN, revents: -1 },
  ];
  assert.equal(await sys(NR.ppoll, pfds, 4, { sec: 0, nsec: 0 }, null, 8), 2);
  assert.deepEqual(pfds.map((p) => p.revents), [0, POLLOUT, 0, POLLNVAL]);
  // Byte layout, read end only: times out after 1.5 s of virtual time.
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setInt32(0, r, true); v.setInt16(4, POLLIN, true);
  const ts = { sec: 1, nsec: 500_000_000 };
  const t0 = k.clock.monotonicNs();
  assert.equal(await sys(NR.ppoll, b, 1, ts, null, 8), 0);
  assert.ok(k.clock.monotonicNs() - t0 >= 1.5e9, 'slept the whole timeout');
  assert.deepEqual(ts, { sec: 0, nsec: 0 }, 'no time left');
  await sys(NR.close, w);
  assert.equal(await sys(NR.ppoll, b, 1, null, null, 8), 1);
  assert.equal(v.getInt16(6, true), POLLHUP);
  assert.equal(await sys(NR.ppoll, b, 1, { sec: -1, nsec: 0 }, null, 8), -EINVAL);
  assert.equal(await sys(NR.ppoll, b, 1, null, new Uint8Array(8), 4), -EINVAL);
  assert.equal(await sys(NR.ppoll, b, 100000, null, null, 8), -EINVAL, 'nfds > RLIMIT_NOFILE');
  assert.equal(await sys(NR.ppoll, new Uint8Array(4), 1, null, null, 8), -EFAULT);
  await k.shutdown('halt');
});

test('pselect6: bitmaps in/out, EBADF, timeout', async () => {
  const { k, sys } = await bootKernel();
  const fds = [0, 0];
  await sys(NR.pipe2, fds, 0);
  const [r, w] = fds as [number, number];
  const n = Math.max(r, w) + 1;
  const set = (...f: number[]) => { const s = new Uint8Array(8); for (const x of f) s[x >> 3]! |= 1 << (x & 7); return s; };
  const isSet = (s: Uint8Array, x: number) => (s[x >> 3]! & (1 << (x & 7))) !== 0;
  let rs = set(r), ws = set(w);
  assert.equal(await sys(NR.pselect6, n, rs, ws, null, { sec: 0, nsec: 0 }, null), 1);
  assert.equal(isSet(rs, r), false);
  assert.equal(isSet(ws, w), true);
  await sys(NR.write, w, enc('q'), 1);
  rs = set(r); ws = set(w);
  assert.equal(await sys(NR.pselect6, n, rs, ws, null, null, null), 2);
  assert.ok(isSet(rs, r) && isSet(ws, w));
  assert.equal(await sys(NR.pselect6, 64, set(40), null, null, null, null), -EBADF);
  assert.equal(await sys(NR.pselect6, -1, null, null, null, null, null), -EINVAL);
  // Empty pipe, readfds only: times out.
  await sys(NR.read, r, new Uint8Array(1), 1);
  rs = set(r);
  const t0 = k.clock.monotonicNs();
  assert.equal(await sys(NR.pselect6, n, rs, null, null, { sec: 0, nsec: 300_000_000 }, null), 0);
  assert.ok(k.clock.monotonicNs() - t0 >= 3e8);
  assert.equal(isSet(rs, r), false, 'set cleared');
  await k.shutdown('halt');
});

test('halt interrupts blocked pipe reads, ppoll and epoll_pwait with EINTR', async () => {
  const { k, sys, call, settle } = await bootKernel();
  const fds = [0, 0];
  await sys(NR.pipe2, fds, 0);
  const ep = await sys(NR.epoll_create1, 0);
  const t2 = call(k.createThread(k.init));
  const t3 = call(k.createThread(k.init));
  const pr = t2(NR.read, fds[0], new Uint8Array(4), 4);
  const pp = t3(NR.ppoll, [], 0, null, null, 8);
  const pe = sys(NR.epoll_pwait, ep, [], 1, -1, null, 8);
  await settle();
  await k.shutdown('halt');
  assert.equal(await pr, -EINTR);
  assert.equal(await pp, -EINTR);
  assert.equal(await pe, -EINTR);
});
