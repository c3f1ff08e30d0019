#!/usr/bin/env node
/*
 * LKL's boot test (tools/lkl/tests/boot.c), case for case and in order, with LKL's expectations.
 * Run as a program: prints TAP13 and exits 0 only when every case is ok (or skipped with a reason).
 *
 * Host-primitive cases (mutex, semaphore, join) test what replaces LKL's host threads here: the
 * kernel's sleeping locks and wait queues, and a task created and ended.
 */
import { boot, NR, type LklKernel } from '../../src/lkl.js';
import { Mutex, RwSem } from '../../src/lib/mutex.js';
import { WaitQueue } from '../../src/lib/waitqueue.js';
import {
  O_RDWR, O_RDONLY, O_DIRECTORY, O_NONBLOCK, SEEK_CUR, SEEK_END, SEEK_SET, F_SETPIPE_SZ, PIPE_BUF,
} from '../../src/uapi/fcntl.js';
import { ENOENT } from '../../src/uapi/errno.js';
import { S_IFREG, S_IFDIR } from '../../src/uapi/stat.js';
import { EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD } from '../../src/uapi/misc.js';
import {
  runSuite, testCall, TEST_SUCCESS, TEST_FAILURE, TEST_SKIP, TEST_BAILOUT, type TestCase,
} from '../lib/lkl_test.js';

let k: LklKernel;
const enc = new TextEncoder();
const dec = new TextDecoder();

const cases: TestCase[] = [
  { name: 'mutex', fn: async (ctx) => {
    const m = new Mutex();
    if (m.lock() !== undefined) return TEST_FAILURE; // uncontended lock must not sleep
    m.unlock();
    // The recursive case of LKL maps to a shared rwsem taken twice by readers.
    const r = new RwSem();
    if (r.readLock() !== undefined || r.readLock() !== undefined) return TEST_FAILURE;
    r.readUnlock(); r.readUnlock();
    ctx.log('mutex lock/unlock, rwsem read-lock twice/unlock twice');
    return TEST_SUCCESS;
  } },
  { name: 'semaphore', fn: async (ctx) => {
    const wq = new WaitQueue();
    const sleeping = wq.sleep();
    wq.wakeOne();
    const key = await sleeping;
    ctx.log(`wait queue: sleep, wake, woke with key ${key}`);
    return key === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'join', fn: async (ctx) => {
    // thread_create + thread_join: a concurrently started job runs to completion and is joined.
    let ran = false;
    const job = (async () => { await null; ran = true; return 0; })();
    const r = await job;
    ctx.log(`job ran: ${ran}, joined with ${r}`);
    return ran && r === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'start_kernel', fn: async (ctx) => {
    const lines: string[] = [];
    const { createNodeHost } = await import('../../src/arch/node/index.js');
    k = await boot({ cmdline: 'mem=32M loglevel=8', host: createNodeHost({ print: (t) => lines.push(t) }) });
    ctx.log(lines.join('').trimEnd());
    return k.running ? TEST_SUCCESS : TEST_BAILOUT;
  } },
  { name: 'kasan', fn: async (ctx) => { ctx.log('not a KASAN build'); return TEST_SKIP; } },
  { name: 'getpid', fn: (ctx) => testCall(ctx, 'getpid()', () => k.sys.getpid(), 1) },
  { name: 'syscall_latency', fn: async (ctx) => {
    const N = 1000;
    let min = Infinity, max = 0, sum = 0;
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint();
      await k.sys.getpid();
      const ns = Number(process.hrtime.bigint() - t0);
      min = Math.min(min, ns); max = Math.max(max, ns); sum += ns;
    }
    ctx.log(`avg/min/max lkl: ${Math.round(sum / N)}/${min}/${max} ns`);
    return TEST_SUCCESS;
  } },
  { name: 'umask', fn: (ctx) => testCall(ctx, 'umask(0777)', () => k.sys.umask(0o777), 0o022) },
  { name: 'umask2', fn: (ctx) => testCall(ctx, 'umask(0)', () => k.sys.umask(0), 0o777) },
  { name: 'creat', fn: (ctx) => testCall(ctx, 'creat("/file", 0721)', () => k.sys.creat('/file', 0o721), 0) },
  { name: 'close', fn: (ctx) => testCall(ctx, 'close(0)', () => k.sys.close(0), 0) },
  { name: 'failopen', fn: (ctx) => testCall(ctx, 'open("/file2", 0)', () => k.sys.open('/file2', 0, 0), -ENOENT) },
  { name: 'open', fn: (ctx) => testCall(ctx, 'open("/file", O_RDWR)', () => k.sys.open('/file', O_RDWR, 0), 0) },
  { name: 'write', fn: (ctx) => testCall(ctx, 'write(0, "test", 5)', () => k.sys.write(0, enc.encode('test\0'), 5), 5) },
  { name: 'lseek_cur', fn: (ctx) => testCall(ctx, 'lseek(0, 0, SEEK_CUR)', () => k.sys.lseek(0, 0, SEEK_CUR), 5) },
  { name: 'lseek_end', fn: (ctx) => testCall(ctx, 'lseek(0, 0, SEEK_END)', () => k.sys.lseek(0, 0, SEEK_END), 5) },
  { name: 'lseek_set', fn: (ctx) => testCall(ctx, 'lseek(0, 0, SEEK_SET)', () => k.sys.lseek(0, 0, SEEK_SET), 0) },
  { name: 'read', fn: async (ctx) => {
    const buf = new Uint8Array(10);
    const r = await k.sys.read(0, buf, 10);
    const s = dec.decode(buf.subarray(0, 4));
    ctx.log(`read(0, buf, 10) = ${r}, buf = "${s}"`);
    return r === 5 && s === 'test' && buf[4] === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'fstat', fn: async (ctx) => {
    const st = new Uint8Array(128);
    const r = await k.sys.fstat(0, st);
    const v = new DataView(st.buffer);
    const size = Number(v.getBigInt64(48, true)), mode = v.getUint32(16, true);
    ctx.log(`fstat(0) = ${r}, size ${size}, mode 0${mode.toString(8)}`);
    return r === 0 && size === 5 && mode === (0o721 | S_IFREG) ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'mkdir', fn: (ctx) => testCall(ctx, 'mkdir("/mnt", 0721)', () => k.sys.mkdir('/mnt', 0o721), 0) },
  { name: 'stat', fn: async (ctx) => {
    const st = new Uint8Array(128);
    const r = await k.sys.stat('/mnt', st);
    const mode = new DataView(st.buffer).getUint32(16, true);
    ctx.log(`stat("/mnt") = ${r}, mode 0${mode.toString(8)}`);
    return r === 0 && mode === (0o721 | S_IFDIR) ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'nanosleep', fn: async (ctx) => {
    const ns = 87_654_321;
    const t0 = process.hrtime.bigint();
    const r = await k.sys.nanosleep({ sec: 0, nsec: ns }, null);
    const elapsed = Number(process.hrtime.bigint() - t0);
    ctx.log(`nanosleep(${ns} ns) = ${r}, host elapsed ${elapsed} ns`);
    return r === 0 && elapsed >= ns * 0.9 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'pipe2', fn: async (ctx) => {
    const fds = new Int32Array(2);
    const msg = enc.encode('Hello world!\0');
    let r = await k.sys.pipe2(fds, O_NONBLOCK);
    if (r !== 0) { ctx.log(`pipe2 = ${r}`); return TEST_FAILURE; }
    r = await k.sys.write(fds[1]!, msg, msg.length);
    if (r !== msg.length) { ctx.log(`write = ${r}`); return TEST_FAILURE; }
    const buf = new Uint8Array(msg.length);
    r = await k.sys.read(fds[0]!, buf, buf.length);
    if (r !== msg.length || dec.decode(buf) !== dec.decode(msg)) { ctx.log(`read = ${r}`); return TEST_FAILURE; }
    ctx.log(`pipe2: wrote and read "${dec.decode(buf.subarray(0, 12))}"`);
    return (await k.sys.close(fds[0]!)) === 0 && (await k.sys.close(fds[1]!)) === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'epoll', fn: async (ctx) => {
    const fds = new Int32Array(2);
    if ((await k.sys.pipe2(fds, O_NONBLOCK)) !== 0) return TEST_FAILURE;
    const ep = await k.sys.epoll_create(1);
    if (ep < 0) { ctx.log(`epoll_create = ${ep}`); return TEST_FAILURE; }
    let r = await k.sys.epoll_ctl(ep, EPOLL_CTL_ADD, fds[0]!, { events: EPOLLIN | EPOLLOUT, data: 0 });
    if (r !== 0) { ctx.log(`epoll_ctl = ${r}`); return TEST_FAILURE; }
    const events: unknown[] = [];
    r = await k.sys.epoll_wait(ep, events, 1, 0);
    if (r !== 0) { ctx.log(`epoll_wait (empty pipe) = ${r}`); return TEST_FAILURE; }
    const msg = enc.encode('Hello world!\0');
    await k.sys.write(fds[1]!, msg, msg.length);
    r = await k.sys.epoll_wait(ep, events, 1, 0);
    ctx.log(`epoll_wait after write = ${r}`);
    for (const fd of [ep, fds[0]!, fds[1]!]) await k.sys.close(fd);
    return r === 1 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'mount_fs_proc', fn: (ctx) => testCall(ctx, 'lkl_mount_fs("proc")', () => k.mountFs('proc'), 0) },
  { name: 'chdir_proc', fn: (ctx) => testCall(ctx, 'chdir("proc")', () => k.sys.chdir('proc'), 0) },
  { name: 'open_cwd', fn: async (ctx) => {
    const fd = await k.sys.open('.', O_RDONLY | O_DIRECTORY, 0);
    ctx.log(`open(".") = ${fd}`);
    dirFd = fd;
    return fd >= 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'getdents64', fn: async (ctx) => {
    const buf = new Uint8Array(1024);
    const r = await k.sys.getdents64(dirFd, buf, buf.length);
    const v = new DataView(buf.buffer);
    const names: string[] = [];
    for (let off = 0; off < r;) {
      const reclen = v.getUint16(off + 16, true);
      let end = off + 19; while (buf[end] !== 0) end++;
      names.push(dec.decode(buf.subarray(off + 19, end)));
      off += reclen;
    }
    ctx.log(`getdents64(dirfd, buf, 1024) = ${r}: ${names.join(' ')}`);
    return r >= 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'close_dir_fd', fn: (ctx) => testCall(ctx, 'close(dirfd)', () => k.sys.close(dirFd), 0) },
  { name: 'chdir_root', fn: (ctx) => testCall(ctx, 'chdir("/")', () => k.sys.chdir('/'), 0) },
  { name: 'umount_fs_proc', fn: (ctx) => testCall(ctx, 'lkl_umount_timeout("proc", 0, 1000)', () => k.umountTimeout('proc', 0, 1000), 0) },
  { name: 'lo_ifup', fn: async (ctx) => {
    const r = await k.ifUp(1);
    ctx.log(`lkl_if_up(1) = ${r}`);
    return r === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'gettid', fn: async (ctx) => { const r = await k.sys.gettid(); ctx.log(`gettid() = ${r}`); return r > 0 ? TEST_SUCCESS : TEST_FAILURE; } },
  { name: 'syscall_thread', fn: async (ctx) => {
    const fds = new Int32Array(2);
    if ((await k.sys.pipe2(fds, 0)) !== 0) return TEST_FAILURE;
    const sz = await k.sys.fcntl(fds[1]!, F_SETPIPE_SZ, 1);
    ctx.log(`fcntl(F_SETPIPE_SZ, 1) = ${sz}`);
    if (sz < 0) return TEST_FAILURE;
    const n = PIPE_BUF + 1;
    const reader = k.task();
    const readAll = (async () => {
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const r = await reader.sys.read(fds[0]!, buf.subarray(got), n - got);
        if (r <= 0) return r;
        got += r;
      }
      return got;
    })();
    const w = await k.sys.write(fds[1]!, new Uint8Array(n).fill(0x5a), n);
    const got = await readAll;
    await reader.exit();
    ctx.log(`blocking write of ${n} bytes = ${w}; other task read ${got}`);
    await k.sys.close(fds[0]!); await k.sys.close(fds[1]!);
    return w === n && got === n ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'many_syscall_threads', fn: async (ctx) => {
    for (let i = 0; i < 64; i++) {
      const t = k.task();
      const pid = await t.sys.getpid();
      const tid = await t.sys.gettid();
      await t.exit();
      if (pid !== 1 || tid <= 1) { ctx.log(`task ${i}: getpid = ${pid}, gettid = ${tid}`); return TEST_FAILURE; }
    }
    ctx.log('64 tasks created, called getpid, exited');
    return TEST_SUCCESS;
  } },
  { name: 'new_tgid_threads', fn: async (ctx) => {
    const parent = await k.sys.getpid();
    const pids = new Set<number>();
    const tasks = Array.from({ length: 64 }, () => k.task());
    const results = await Promise.all(tasks.map(async (t) => {
      const r = await t.sys.new_thread_group_leader();
      return [r, await t.sys.getpid(), await t.sys.getppid()] as const;
    }));
    for (const [r, pid, ppid] of results) {
      if (r !== 0 || pid === parent || ppid !== parent) { ctx.log(`new_thread_group_leader = ${r}, pid ${pid}, ppid ${ppid}`); return TEST_FAILURE; }
      pids.add(pid);
    }
    for (const t of tasks) await t.exit();
    ctx.log(`64 new thread group leaders, ${pids.size} distinct pids, ppid ${parent}`);
    return pids.size === 64 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'shared_mmap', fn: async (ctx) => { ctx.log('no MMU: callers are JavaScript without an address space'); return TEST_SKIP; } },
  { name: 'private_mmap', fn: async (ctx) => { ctx.log('no MMU'); return TEST_SKIP; } },
  { name: 'stop_kernel', fn: (ctx) => testCall(ctx, 'lkl_sys_halt()', () => k.halt(), 0) },
];
let dirFd = -1;

const res = await runSuite('boot', cases, (s) => process.stdout.write(s));
process.exitCode = res.notOk ? 1 : 0;
void NR;
