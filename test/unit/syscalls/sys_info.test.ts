/*
 * uname, sethostname, sysinfo, syslog, getrandom — and /proc and /dev end to end — through the
 * syscall dispatcher, as a JS caller of lkl_syscall sees them (return value or -errno).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../src/arch/fake/index.js';
import { Kernel, Cred, type Task } from '../../../src/kernel/index.js';
import { createTmpfsType } from '../../../src/fs/tmpfs/index.js';
import { procInitcall } from '../../../src/fs/proc/index.js';
import { driversInitcall, populateDev } from '../../../src/drivers/index.js';
import { NR } from '../../../src/uapi/unistd.js';
import { EINVAL, EPERM, ENOSPC, ENOTTY, EAGAIN } from '../../../src/uapi/errno.js';
import { AT_FDCWD, O_RDONLY, O_RDWR, O_NONBLOCK } from '../../../src/uapi/fcntl.js';
import {
  SYSLOG_ACTION_READ, SYSLOG_ACTION_READ_ALL, SYSLOG_ACTION_SIZE_BUFFER, SYSLOG_ACTION_SIZE_UNREAD,
  SYSLOG_ACTION_CONSOLE_LEVEL, SYSLOG_ACTION_CONSOLE_OFF, SYSLOG_ACTION_CONSOLE_ON, SYSLOG_ACTION_CLEAR,
  SYSLOG_ACTION_READ_CLEAR, GRND_RANDOM, GRND_INSECURE, GRND_NONBLOCK, TIOCGWINSZ,
} from '../../../src/uapi/misc.js';
import { ALL_SYSCALLS, buildTable, dispatch } from '../../../src/syscalls/table.js';
import { infoSyscalls } from '../../../src/syscalls/sys_info.js';

const dec = new TextDecoder();

async function bootAll() {
  const k = new Kernel(new FakeHost(), 'mem=32M');
  await k.boot([
    { name: 'tmpfs', fn: (kk) => { kk.vfs.registerFilesystem(createTmpfsType('tmpfs')); kk.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    procInitcall, driversInitcall,
  ]);
  await populateDev(k);
  const names = new Set(infoSyscalls.map((d) => d.name));
  const table = buildTable([...ALL_SYSCALLS.filter((d) => !names.has(d.name)), ...infoSyscalls]);
  const sys = (t: Task, nr: number, ...args: unknown[]) => dispatch(table, t, nr, args);
  const init = (nr: number, ...args: unknown[]) => sys(k.init, nr, ...args);
  return { k, sys, init };
}

function unprivileged(k: Kernel): Task {
  const t = k.createThread(k.init);
  k.newThreadGroupLeader(t);
  t.cred = new Cred();
  Object.assign(t.cred, { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000, capPermitted: 0n, capEffective: 0n });
  return t;
}

function cstr(b: Uint8Array, off: number): string { const e = b.indexOf(0, off); return dec.decode(b.subarray(off, e)); }

test('uname fills struct new_utsname (bytes or object)', async () => {
  const { k, init } = await bootAll();
  const b = new Uint8Array(390);
  assert.equal(await init(NR.uname, b), 0);
  assert.equal(cstr(b, 0), 'Linux');
  assert.equal(cstr(b, 65), '(none)');
  assert.equal(cstr(b, 130), '6.12.0-lkl.ts');
  assert.equal(cstr(b, 260), 'lkl');
  const o: Record<string, string> = {};
  assert.equal(await init(NR.uname, o), 0);
  assert.equal(o.sysname, 'Linux');
  assert.equal(o.machine, 'lkl');
  await k.shutdown('halt');
});

test('sethostname and setdomainname', async () => {
  const { k, init, sys } = await bootAll();
  assert.equal(await init(NR.sethostname, 'box.example', 3), 0);
  const o: Record<string, string> = {};
  await init(NR.uname, o);
  assert.equal(o.nodename, 'box');
  assert.equal(await init(NR.sethostname, 'x'.repeat(65), 65), -EINVAL);
  assert.equal(await init(NR.sethostname, 'x', -1), -EINVAL);
  assert.equal(await init(NR.setdomainname, new TextEncoder().encode('dom'), 3), 0);
  assert.equal(k.uts.domainname, 'dom');
  const u = unprivileged(k);
  assert.equal(await sys(u, NR.sethostname, 'nope', 4), -EPERM);
  assert.equal(await sys(u, NR.sethostname, 'x'.repeat(65), 65), -EPERM, 'EPERM is checked before EINVAL');
  await k.shutdown('halt');
});

test('sysinfo: 112 bytes, mem_unit 1', async () => {
  const { k, init } = await bootAll();
  const b = new Uint8Array(112);
  assert.equal(await init(NR.sysinfo, b), 0);
  const v = new DataView(b.buffer);
  const total = Number(v.getBigUint64(32, true));
  assert.equal(total, (k.mem.totalPages - k.mem.reservedPages) * 4096);
  assert.ok(Number(v.getBigUint64(40, true)) <= total);
  assert.equal(v.getUint16(80, true), k.tasks.size);
  assert.equal(v.getUint32(104, true), 1);
  const o: Record<string, unknown> = {};
  assert.equal(await init(NR.sysinfo, o), 0);
  assert.equal(o.mem_unit, 1);
  await k.shutdown('halt');
});

test('syslog actions, permissions and errors', async () => {
  const { k, init, sys } = await bootAll();
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_SIZE_BUFFER, null, 0), 131072);
  const b = new Uint8Array(200);
  const n = await init(NR.syslog, SYSLOG_ACTION_READ_ALL, b, 200);
  assert.ok(n > 0 && n <= 200, `got ${n}`);
  const text = dec.decode(b.subarray(0, n));
  assert.match(text, /^(<\d+>\[ *\d+\.\d{6}\] [^\n]*\n)+$/, `got ${JSON.stringify(text)}`);
  assert.ok(k.log.dmesg().trimEnd().endsWith(text.trimEnd().split('\n').pop()!.replace(/^<\d+>/, '')), 'READ_ALL ends with the newest record');
  assert.equal(await init(NR.syslog, 11, null, 0), -EINVAL);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ, null, 10), -EINVAL);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ_ALL, b, -1), -EINVAL);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CONSOLE_LEVEL, null, 9), -EINVAL);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CONSOLE_LEVEL, null, 0), -EINVAL);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CONSOLE_LEVEL, null, 3), 0);
  assert.equal(k.log.consoleLoglevel, 3);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CONSOLE_OFF, null, 0), 0);
  assert.equal(k.log.consoleLoglevel, 1);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CONSOLE_ON, null, 0), 0);
  assert.equal(k.log.consoleLoglevel, 3);
  // READ consumes; SIZE_UNREAD follows it.
  const unread = await init(NR.syslog, SYSLOG_ACTION_SIZE_UNREAD, null, 0);
  assert.ok(unread > 0);
  const big = new Uint8Array(unread);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ, big, unread), unread);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_SIZE_UNREAD, null, 0), 0);
  const pending = init(NR.syslog, SYSLOG_ACTION_READ, b, 200);
  k.printk(6, 'wake up');
  assert.match(dec.decode(b.subarray(0, await pending)), /^<6>\[ *\d+\.\d{6}\] wake up\n$/);
  // CLEAR moves where READ_ALL starts; READ_CLEAR reads then clears.
  k.printk(6, 'after');
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_CLEAR, null, 0), 0);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ_ALL, b, 200), 0);
  k.printk(6, 'again');
  assert.ok(await init(NR.syslog, SYSLOG_ACTION_READ_CLEAR, b, 200) > 0);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ_ALL, b, 200), 0);
  const u = unprivileged(k);
  assert.equal(await sys(u, NR.syslog, SYSLOG_ACTION_READ, b, 10), -EPERM);
  assert.equal(await sys(u, NR.syslog, SYSLOG_ACTION_CLEAR, null, 0), -EPERM);
  assert.equal(await sys(u, NR.syslog, SYSLOG_ACTION_READ_ALL, b, 10), 0);
  assert.equal(await sys(u, NR.syslog, SYSLOG_ACTION_SIZE_BUFFER, null, 0), 131072);
  // A blocked READ is released by halt.
  const left = await init(NR.syslog, SYSLOG_ACTION_SIZE_UNREAD, null, 0);
  assert.equal(await init(NR.syslog, SYSLOG_ACTION_READ, new Uint8Array(left), left), left);
  const blocked = init(NR.syslog, SYSLOG_ACTION_READ, b, 200);
  await k.shutdown('halt');
  assert.equal(await blocked, -4);
});

test('getrandom flags and counts', async () => {
  const { k, init } = await bootAll();
  const b = new Uint8Array(64);
  assert.equal(await init(NR.getrandom, b, 64, 0), 64);
  assert.ok(b.some((x) => x !== 0));
  assert.equal(await init(NR.getrandom, b, 16, GRND_NONBLOCK), 16);
  assert.equal(await init(NR.getrandom, b, 16, GRND_RANDOM), 16);
  assert.equal(await init(NR.getrandom, b, 16, GRND_INSECURE), 16);
  assert.equal(await init(NR.getrandom, b, 16, GRND_RANDOM | GRND_INSECURE), -EINVAL);
  assert.equal(await init(NR.getrandom, b, 16, 8), -EINVAL);
  assert.equal(await init(NR.getrandom, b, 0, 0), 0);
  await k.shutdown('halt');
});

test('/proc and /dev through system calls', async () => {
  const { k, init } = await bootAll();
  assert.equal(await init(NR.mkdirat, AT_FDCWD, '/proc', 0o555), 0);
  assert.equal(await init(NR.mount, 'none', '/proc', 'proc', 0, null), 0);
  const lb = new Uint8Array(64);
  const n = await init(NR.readlinkat, AT_FDCWD, '/proc/self', lb, 64);
  assert.equal(dec.decode(lb.subarray(0, n)), '1');
  const fd = await init(NR.openat, AT_FDCWD, '/proc/self/status', O_RDONLY, 0);
  assert.ok(fd >= 0, `got ${fd}`);
  const sb = new Uint8Array(4096);
  const m = await init(NR.read, fd, sb, 4096);
  assert.match(dec.decode(sb.subarray(0, m)), /^Name:\tinit\nUmask:\t0022\nState:\tR \(running\)\n/);
  const fdinfo = await init(NR.openat, AT_FDCWD, `/proc/self/fdinfo/${fd}`, O_RDONLY, 0);
  const k2 = await init(NR.read, fdinfo, sb, 4096);
  assert.match(dec.decode(sb.subarray(0, k2)), /^pos:\t\d+\nflags:\t0100000\nmnt_id:\t\d+\nino:\t\d+\n$/);
  const n2 = await init(NR.readlinkat, AT_FDCWD, `/proc/self/fd/${fd}`, lb, 64);
  assert.equal(dec.decode(lb.subarray(0, n2)), `/proc/1/status`);
  // /proc/kmsg non-blocking drain.
  const km = await init(NR.openat, AT_FDCWD, '/proc/kmsg', O_RDONLY | O_NONBLOCK, 0);
  while (await init(NR.read, km, sb, 4096) > 0) { /* drain */ }
  assert.equal(await init(NR.read, km, sb, 4096), -EAGAIN);
  // Devices.
  const nul = await init(NR.openat, AT_FDCWD, '/dev/null', O_RDWR, 0);
  assert.equal(await init(NR.read, nul, sb, 10), 0);
  assert.equal(await init(NR.write, nul, sb, 10), 10);
  assert.equal(await init(NR.lseek, nul, 5, 0), 0);
  assert.equal(await init(NR.ioctl, nul, TIOCGWINSZ, new Uint8Array(8)), -ENOTTY);
  const full = await init(NR.openat, AT_FDCWD, '/dev/full', O_RDWR, 0);
  assert.equal(await init(NR.write, full, sb, 1), -ENOSPC);
  const con = await init(NR.openat, AT_FDCWD, '/dev/console', O_RDWR, 0);
  const ws: Record<string, number> = {};
  assert.equal(await init(NR.ioctl, con, TIOCGWINSZ, ws), 0);
  assert.equal(ws.ws_row, 24);
  const ur = await init(NR.openat, AT_FDCWD, '/dev/urandom', O_RDONLY, 0);
  assert.equal(await init(NR.read, ur, sb, 32), 32);
  await k.shutdown('halt');
});
