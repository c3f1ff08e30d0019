/*
 * eventfd, epoll and the poll core at the VFS level (no syscalls): a Vfs on a fake host; the
 * targets are eventfds and hand-made files whose readiness the test sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Clock } from '../../../../src/kernel/ktime/index.js';
import { Cred } from '../../../../src/kernel/auth/index.js';
import { MemoryBudget } from '../../../../src/mm/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { WaitQueue } from '../../../../src/lib/waitqueue.js';
import { Vfs, File, Inode, SuperBlock, Dentry, vfsRead, vfsWrite, vfsLlseek, fput, type FileOperations } from '../../../../src/fs/vfs/index.js';
import { EAGAIN, EINVAL, EPERM, EEXIST, ENOENT, ELOOP, ESPIPE, EINTR } from '../../../../src/uapi/errno.js';
import { O_NONBLOCK, O_RDWR, EFD_SEMAPHORE, O_CLOEXEC } from '../../../../src/uapi/fcntl.js';
import {
  POLLIN, POLLOUT, POLLNVAL, POLLHUP, POLLRDNORM, EPOLLIN, EPOLLOUT, EPOLLET, EPOLLONESHOT,
  EPOLLEXCLUSIVE, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_CLOEXEC,
} from '../../../../src/uapi/misc.js';
import { S_IFDIR } from '../../../../src/uapi/stat.js';
import {
  createEventfd, createEpoll, epollCtl, epollWait, doPoll, eventpollInit, DEFAULT_POLLMASK,
} from '../../../../src/fs/eventpoll/index.js';

function setup() {
  const host = new FakeHost();
  const clock = new Clock(host);
  const mem = new MemoryBudget(32 * 1024 * 1024, 0);
  const vfs = new Vfs({ clock, mem, printk: () => {}, entropy: (b) => host.entropy(b) });
  const halt = new WaitQueue();
  eventpollInit(vfs, halt);
  const cred = new Cred();
  const sb: SuperBlock = new SuperBlock(vfs, { name: 't', fsFlags: 0, mount: (): SuperBlock => sb }, 0, {
    statfs: () => { throw new Error('unused'); },
  }, 't');
  sb.root = new Dentry('/', null, new Inode(sb, 1, S_IFDIR | 0o755, {}, {}));
  const mnt = vfs.newMount(sb, sb.root, 0, 't');
  /** A file whose readiness is `state.mask`; `state.set(m)` changes it and wakes with key m. */
  const toy = (withPoll = true) => {
    const state = { mask: 0, wq: new WaitQueue(), set(m: number) { this.mask = m; this.wq.wakeAll(m); } };
    const fop: FileOperations = withPoll ? { poll: () => state.mask, waitQueue: () => state.wq } : {};
    const f = new File({ mnt, dentry: sb.root }, sb.root.inode!, O_RDWR, fop, cred);
    return { f, state };
  };
  const settle = () => clock.sleepUntil(clock.monotonicNs() + 1);
  return { host, clock, vfs, cred, halt, toy, settle };
}

async function errno(p: Promise<unknown> | (() => unknown)): Promise<number> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
}

const u64 = (v: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return b; };
const getU64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);

// ---- eventfd ----------------------------------------------------------------------------------

test('eventfd: counter read resets, EAGAIN at zero, short buffers EINVAL', async () => {
  const { vfs, cred } = setup();
  const f = createEventfd(vfs, cred, 3, O_NONBLOCK);
  assert.equal(f.path.dentry.name, 'anon_inode:[eventfd]');
  assert.equal(f.inode.mode, 0o600);
  assert.equal(f.flags, O_RDWR | O_NONBLOCK);
  const b = new Uint8Array(8);
  assert.equal(await vfsRead(f, b), 8);
  assert.equal(getU64(b), 3n);
  assert.equal(await errno(vfsRead(f, b)), EAGAIN);
  assert.equal(await errno(vfsRead(f, new Uint8Array(7))), EINVAL);
  assert.equal(await errno(vfsWrite(f, new Uint8Array(4))), EINVAL);
  assert.equal(await vfsWrite(f, u64(5n)), 8);
  assert.equal(await vfsWrite(f, u64(7n)), 8);
  assert.equal(await vfsRead(f, b), 8);
  assert.equal(getU64(b), 12n);
  assert.equal(await errno(vfsLlseek(f, 0, 0)), ESPIPE);
  await fput(f);
});

test('eventfd: semaphore mode, overflow, poll bits', async () => {
  const { vfs, cred } = setup();
  const f = createEventfd(vfs, cred, 2, EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC);
  const b = new Uint8Array(8);
  assert.equal(f.fop.poll!(f), POLLIN | POLLOUT);
  await vfsRead(f, b); assert.equal(getU64(b), 1n);
  await vfsRead(f, b); assert.equal(getU64(b), 1n);
  assert.equal(await errno(vfsRead(f, b)), EAGAIN);
  assert.equal(f.fop.poll!(f), POLLOUT);
  assert.equal(await errno(vfsWrite(f, u64(0xffffffffffffffffn))), EINVAL);
  assert.equal(await vfsWrite(f, u64(0xfffffffffffffffen)), 8);
  assert.equal(f.fop.poll!(f), POLLIN, 'full: no POLLOUT');
  assert.equal(await errno(vfsWrite(f, u64(1n))), EAGAIN);
  assert.equal(await vfsWrite(f, u64(0n)), 8, 'adding 0 always fits');
  await fput(f);
});

test('eventfd: blocking read woken by a write; blocking write woken by a read', async () => {
  const { vfs, cred, settle } = setup();
  const f = createEventfd(vfs, cred, 0, 0);
  const b = new Uint8Array(8);
  let done = false;
  const p = vfsRead(f, b).then((n) => { done = true; return n; });
  await settle();
  assert.equal(done, false);
  await vfsWrite(f, u64(42n));
  assert.equal(await p, 8);
  assert.equal(getU64(b), 42n);
  await vfsWrite(f, u64(0xfffffffffffffffen));
  done = false;
  const pw = vfsWrite(f, u64(1n)).then((n) => { done = true; return n; });
  await settle();
  assert.equal(done, false, 'write would overflow: blocked');
  await vfsRead(f, b);
  assert.equal(await pw, 8);
  await fput(f);
});

// ---- epoll ------------------------------------------------------------------------------------

test('epoll_ctl errors', async () => {
  const { vfs, cred, toy } = setup();
  assert.equal(await errno(() => createEpoll(vfs, cred, 1)), EINVAL);
  const ep = createEpoll(vfs, cred, EPOLL_CLOEXEC);
  assert.equal(ep.path.dentry.name, 'anon_inode:[eventpoll]');
  const efd = createEventfd(vfs, cred, 0, O_NONBLOCK);
  const plain = toy(false).f;
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_ADD, 5, plain, { events: EPOLLIN, data: 0 })), EPERM);
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_ADD, 3, ep, { events: EPOLLIN, data: 0 })), EINVAL);
  assert.equal(await errno(() => epollCtl(efd, EPOLL_CTL_ADD, 3, ep, { events: EPOLLIN, data: 0 })), EINVAL, 'epfd not an epoll');
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_MOD, 4, efd, { events: EPOLLIN, data: 0 })), ENOENT);
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_DEL, 4, efd)), ENOENT);
  epollCtl(ep, EPOLL_CTL_ADD, 4, efd, { events: EPOLLIN, data: 1 });
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_ADD, 4, efd, { events: EPOLLIN, data: 1 })), EEXIST);
  epollCtl(ep, EPOLL_CTL_ADD, 9, efd, { events: EPOLLIN, data: 2 }); // same file, other fd: distinct item
  assert.equal(await errno(() => epollCtl(ep, 99, 4, efd, { events: EPOLLIN, data: 1 })), EINVAL);
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_MOD, 4, efd, { events: EPOLLIN | EPOLLEXCLUSIVE, data: 1 })), EINVAL);
  epollCtl(ep, EPOLL_CTL_DEL, 4, efd);
  const ex = createEventfd(vfs, cred, 0, 0);
  epollCtl(ep, EPOLL_CTL_ADD, 6, ex, { events: EPOLLIN | EPOLLEXCLUSIVE, data: 0 });
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_MOD, 6, ex, { events: EPOLLIN, data: 0 })), EINVAL, 'exclusive item cannot be modified');
  assert.equal(await errno(epollWait(ep, 0, 0)), EINVAL);
  assert.equal(await errno(epollWait(efd, 1, 0)), EINVAL);
  await fput(ep); await fput(efd); await fput(ex);
});

test('epoll: level-triggered reports while ready, data verbatim', async () => {
  const { vfs, cred } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const efd = createEventfd(vfs, cred, 0, O_NONBLOCK);
  const data = { tag: 'mine' };
  epollCtl(ep, EPOLL_CTL_ADD, 3, efd, { events: EPOLLIN, data });
  assert.deepEqual(await epollWait(ep, 8, 0), []);
  await vfsWrite(efd, u64(1n));
  for (let i = 0; i < 2; i++) {
    const ev = await epollWait(ep, 8, 0);
    assert.equal(ev.length, 1, `round ${i}: got ${ev.length} events, want 1`);
    assert.equal(ev[0]!.events, EPOLLIN);
    assert.equal(ev[0]!.data, data, 'data passed back verbatim');
  }
  await vfsRead(efd, new Uint8Array(8));
  assert.deepEqual(await epollWait(ep, 8, 0), [], 'not ready any more');
  epollCtl(ep, EPOLL_CTL_MOD, 3, efd, { events: EPOLLOUT, data: 7n });
  assert.deepEqual(await epollWait(ep, 8, 0), [{ events: EPOLLOUT, data: 7n }]);
  await fput(ep); await fput(efd);
});

test('epoll: edge-triggered reports once per wake-up; ONESHOT disarms until MOD', async () => {
  const { vfs, cred } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const a = createEventfd(vfs, cred, 0, O_NONBLOCK);
  const b = createEventfd(vfs, cred, 0, O_NONBLOCK);
  epollCtl(ep, EPOLL_CTL_ADD, 3, a, { events: EPOLLIN | EPOLLET, data: 'a' });
  epollCtl(ep, EPOLL_CTL_ADD, 4, b, { events: EPOLLIN | EPOLLONESHOT, data: 'b' });
  await vfsWrite(a, u64(1n));
  await vfsWrite(b, u64(1n));
  const first = await epollWait(ep, 8, 0);
  assert.deepEqual(first.map((e) => e.data).sort(), ['a', 'b']);
  assert.deepEqual(await epollWait(ep, 8, 0), [], 'ET: nothing new; ONESHOT: disarmed');
  await vfsWrite(a, u64(1n));
  await vfsWrite(b, u64(1n));
  assert.deepEqual((await epollWait(ep, 8, 0)).map((e) => e.data), ['a'], 'ET item back after a new write');
  epollCtl(ep, EPOLL_CTL_MOD, 4, b, { events: EPOLLIN | EPOLLONESHOT, data: 'b2' });
  assert.deepEqual((await epollWait(ep, 8, 0)).map((e) => e.data), ['b2'], 'MOD re-arms');
  await fput(ep); await fput(a); await fput(b);
});

test('epoll: maxevents bounds one call; the rest come next', async () => {
  const { vfs, cred } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const fs = [0, 1, 2].map(() => createEventfd(vfs, cred, 1, O_NONBLOCK));
  fs.forEach((f, i) => epollCtl(ep, EPOLL_CTL_ADD, 10 + i, f, { events: EPOLLIN | EPOLLET, data: i }));
  assert.deepEqual((await epollWait(ep, 2, 0)).map((e) => e.data), [0, 1]);
  assert.deepEqual((await epollWait(ep, 2, 0)).map((e) => e.data), [2]);
  await fput(ep);
  for (const f of fs) await fput(f);
});

test('epoll_wait: blocks until ready; timeout on the virtual clock', async () => {
  const { vfs, cred, clock, toy, settle } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const t = toy();
  epollCtl(ep, EPOLL_CTL_ADD, 3, t.f, { events: EPOLLIN, data: 1 });
  const t0 = clock.monotonicNs();
  assert.deepEqual(await epollWait(ep, 4, 250_000_000), []);
  const waited = clock.monotonicNs() - t0;
  assert.ok(waited >= 250_000_000, `waited ${waited} ns, want >= 250 ms`);
  let got: unknown = null;
  const p = epollWait(ep, 4, -1).then((ev) => { got = ev; });
  await settle();
  assert.equal(got, null);
  t.state.set(POLLOUT); // a wake-up for an event the item does not watch
  await settle();
  assert.equal(got, null, 'key filtered out');
  t.state.set(POLLIN);
  await p;
  assert.deepEqual(got, [{ events: EPOLLIN, data: 1 }]);
  await fput(ep);
});

test('epoll: nested epolls, ELOOP on cycles and depth', async () => {
  const { vfs, cred } = setup();
  const outer = createEpoll(vfs, cred, 0);
  const inner = createEpoll(vfs, cred, 0);
  const efd = createEventfd(vfs, cred, 0, O_NONBLOCK);
  epollCtl(inner, EPOLL_CTL_ADD, 5, efd, { events: EPOLLIN, data: 'e' });
  epollCtl(outer, EPOLL_CTL_ADD, 4, inner, { events: EPOLLIN, data: 'inner' });
  assert.equal(inner.fop.poll!(inner), 0);
  assert.deepEqual(await epollWait(outer, 4, 0), []);
  await vfsWrite(efd, u64(1n));
  assert.equal(inner.fop.poll!(inner), POLLIN | POLLRDNORM);
  assert.deepEqual(await epollWait(outer, 4, 0), [{ events: EPOLLIN, data: 'inner' }]);
  assert.equal(await errno(() => epollCtl(inner, EPOLL_CTL_ADD, 3, outer, { events: EPOLLIN, data: 0 })), ELOOP);
  // A chain of 5 epolls is the most allowed (EP_MAX_NESTS = 4 levels of nesting).
  const chain = [createEpoll(vfs, cred, 0)];
  for (let i = 1; i < 5; i++) {
    const e = createEpoll(vfs, cred, 0);
    epollCtl(e, EPOLL_CTL_ADD, i, chain[i - 1]!, { events: EPOLLIN, data: i });
    chain.push(e);
  }
  const top = createEpoll(vfs, cred, 0);
  assert.equal(await errno(() => epollCtl(top, EPOLL_CTL_ADD, 9, chain[4]!, { events: EPOLLIN, data: 0 })), ELOOP);
  for (const f of [outer, inner, efd, top, ...chain]) await fput(f);
});

test('epoll: a closed target is dropped', async () => {
  const { vfs, cred } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const efd = createEventfd(vfs, cred, 1, O_NONBLOCK);
  epollCtl(ep, EPOLL_CTL_ADD, 3, efd, { events: EPOLLIN, data: 0 });
  await fput(efd);
  assert.deepEqual(await epollWait(ep, 4, 0), []);
  assert.equal(await errno(() => epollCtl(ep, EPOLL_CTL_DEL, 3, efd)), ENOENT);
  await fput(ep);
});

// ---- poll core --------------------------------------------------------------------------------

test('doPoll: masks, POLLNVAL, default mask, sleeping and timeout', async () => {
  const { vfs, cred, clock, toy, settle } = setup();
  const plain = toy(false).f;
  const t = toy();
  const efd = createEventfd(vfs, cred, 0, 0);
  assert.deepEqual(await doPoll([plain, undefined, efd], [POLLIN | POLLOUT, POLLIN, POLLIN], 0, clock),
    [POLLIN | POLLOUT, POLLNVAL, 0]);
  assert.equal(DEFAULT_POLLMASK & POLLIN, POLLIN);
  const t0 = clock.monotonicNs();
  assert.deepEqual(await doPoll([t.f], [POLLIN], t0 + 1_000_000_000, clock), [0]);
  assert.ok(clock.monotonicNs() >= t0 + 1_000_000_000, 'slept to the deadline');
  let res: number[] | null = null;
  const p = doPoll([t.f, efd], [POLLIN, POLLIN], Infinity, clock).then((r) => { res = r; });
  await settle();
  assert.equal(res, null);
  t.state.set(POLLHUP); // not asked for, but poll always reports HUP
  await p;
  assert.deepEqual(res, [POLLHUP, 0]);
  assert.deepEqual(await doPoll([t.f], [POLLIN], 0, clock, { implicit: 0 }), [0], 'select-style: no implicit HUP');
  await fput(efd);
});

test('halt wakes epoll_wait, poll and eventfd sleepers with EINTR', async () => {
  const { vfs, cred, clock, halt, settle } = setup();
  const ep = createEpoll(vfs, cred, 0);
  const efd = createEventfd(vfs, cred, 0, 0);
  const w = epollWait(ep, 1, -1);
  const p = doPoll([efd], [POLLIN], Infinity, clock);
  const r = vfsRead(efd, new Uint8Array(8));
  await settle();
  halt.wakeAll(-EINTR);
  assert.equal(await errno(w), EINTR);
  assert.equal(await errno(p), EINTR);
  assert.equal(await errno(r), EINTR);
  await fput(ep); await fput(efd);
});
