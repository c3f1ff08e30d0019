/* Lock algebra: ranges, split/merge, conflict tables, waiting, deadlock, flock conversion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError } from '../../../../src/lib/errors.js';
import { WaitQueue } from '../../../../src/lib/waitqueue.js';
import { EAGAIN, EBADF, EDEADLK, EINTR, EINVAL, EOVERFLOW } from '../../../../src/uapi/errno.js';
import {
  F_RDLCK, F_WRLCK, F_UNLCK, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
  LOCK_SH, LOCK_EX, LOCK_UN, LOCK_NB, SEEK_SET, SEEK_CUR, SEEK_END,
} from '../../../../src/uapi/fcntl.js';
import { FMODE_READ, FMODE_WRITE, type File } from '../../../../src/fs/vfs/file.js';
import {
  applyRange, flockRange, fcntlGetlk, fcntlSetlk, flockFile, locksRemovePosix, locksRemoveFile,
  inodeLocks, OFFSET_MAX, FLOCK_SIZE, type Flock,
} from '../../../../src/fs/vfs/locks.js';

const RW = FMODE_READ | FMODE_WRITE;

/** Let woken waiters run (promise jobs only; no host timers in kernel-side tests). */
async function tick(): Promise<void> { for (let i = 0; i < 20; i++) await Promise.resolve(); }

/** A stand-in inode and files on it: the lock code touches only size, sb.vfs and flock. */
function fakeInode(size = 1000) { return { size, flock: undefined as unknown, sb: { vfs: {} } }; }
function fakeFile(inode: ReturnType<typeof fakeInode>, mode = RW, pos = 0): File {
  return { inode, mode, pos } as unknown as File;
}

async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<number> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

function fl(type: number, start: number, len: number, whence = SEEK_SET): Flock {
  return { type, whence, start, len, pid: 0 };
}

type R = { type: number; start: bigint; end: bigint };
const mk = (type: number, start: bigint, end: bigint): R => ({ type, start, end });
const show = (rs: R[]) => rs.map((r) => `${r.type === F_RDLCK ? 'R' : 'W'}[${r.start},${r.end === OFFSET_MAX ? 'MAX' : r.end}]`).join(' ');

test('applyRange: split, merge and replace an owner\'s locks', () => {
  const W = F_WRLCK, Rd = F_RDLCK, U = F_UNLCK;
  const cases: { name: string; own: R[]; req: [number, bigint, bigint]; want: string }[] = [
    { name: 'add to nothing', own: [], req: [W, 0n, 9n], want: 'W[0,9]' },
    { name: 'adjacent same type merges', own: [mk(W, 0n, 9n)], req: [W, 10n, 19n], want: 'W[0,19]' },
    { name: 'adjacent other type stays apart', own: [mk(W, 0n, 9n)], req: [Rd, 10n, 19n], want: 'W[0,9] R[10,19]' },
    { name: 'overlap same type merges', own: [mk(Rd, 0n, 9n)], req: [Rd, 5n, 14n], want: 'R[0,14]' },
    { name: 'downgrade the middle splits', own: [mk(W, 0n, 19n)], req: [Rd, 5n, 9n], want: 'W[0,4] R[5,9] W[10,19]' },
    { name: 'unlock the middle splits', own: [mk(W, 0n, 19n)], req: [U, 5n, 9n], want: 'W[0,4] W[10,19]' },
    { name: 'unlock everything', own: [mk(W, 0n, 4n), mk(Rd, 10n, 19n)], req: [U, 0n, OFFSET_MAX], want: '' },
    { name: 'relock the gap rejoins', own: [mk(W, 0n, 4n), mk(Rd, 5n, 9n), mk(W, 10n, 19n)], req: [W, 5n, 9n], want: 'W[0,19]' },
    { name: 'to EOF swallows later locks', own: [mk(Rd, 0n, 4n), mk(W, 10n, 19n)], req: [Rd, 3n, OFFSET_MAX], want: 'R[0,MAX]' },
    { name: 'already covered is unchanged', own: [mk(Rd, 0n, 99n)], req: [Rd, 10n, 19n], want: 'R[0,99]' },
    { name: 'unlock beyond locks is a no-op', own: [mk(W, 0n, 9n)], req: [U, 50n, 60n], want: 'W[0,9]' },
  ];
  for (const c of cases) {
    const got = show(applyRange(c.own, c.req[0], c.req[1], c.req[2], (ty, s, e) => mk(ty, s, e)));
    assert.equal(got, c.want, `${c.name}: got ${got}, want ${c.want}`);
  }
});

test('flockRange: whence, negative lengths and Linux\'s errnos', async () => {
  const inode = fakeInode(100);
  const f = fakeFile(inode, RW, 40);
  const ok: [number, bigint, bigint, bigint, bigint][] = [
    [SEEK_SET, 10n, 5n, 10n, 14n],
    [SEEK_SET, 10n, 0n, 10n, OFFSET_MAX],
    [SEEK_SET, 10n, -5n, 5n, 9n],
    [SEEK_CUR, -10n, 10n, 30n, 39n],
    [SEEK_END, 0n, 0n, 100n, OFFSET_MAX],
    [SEEK_END, -1n, 1n, 99n, 99n],
    [SEEK_SET, OFFSET_MAX, 1n, OFFSET_MAX, OFFSET_MAX],
  ];
  for (const [w, s, l, ws, we] of ok) {
    const r = flockRange(f, w, s, l);
    assert.deepEqual([r.start, r.end], [ws, we], `whence ${w} start ${s} len ${l}: got ${r.start}..${r.end}, want ${ws}..${we}`);
  }
  const bad: [number, bigint, bigint, number][] = [
    [3, 0n, 0n, EINVAL], [SEEK_SET, -1n, 1n, EINVAL], [SEEK_SET, 5n, -6n, EINVAL],
    [SEEK_END, OFFSET_MAX, 0n, EOVERFLOW], [SEEK_SET, OFFSET_MAX, 2n, EOVERFLOW], [SEEK_CUR, -41n, 1n, EINVAL],
  ];
  for (const [w, s, l, want] of bad) {
    const got = await errnoOf(() => flockRange(f, w, s, l));
    assert.equal(got, want, `whence ${w} start ${s} len ${l}: got ${got}, want ${want}`);
  }
});

test('POSIX conflict table: who blocks whom', async () => {
  // [held type, held owner is other process?, held is OFD?, request type, request OFD?, conflict?]
  const rows: [number, boolean, boolean, number, boolean, boolean][] = [
    [F_RDLCK, true, false, F_RDLCK, false, false],
    [F_RDLCK, true, false, F_WRLCK, false, true],
    [F_WRLCK, true, false, F_RDLCK, false, true],
    [F_WRLCK, false, false, F_WRLCK, false, false], // same process: replaces its own lock
    [F_WRLCK, false, true, F_WRLCK, false, true],  // own OFD lock vs own POSIX lock
    [F_RDLCK, false, true, F_WRLCK, true, true],   // another description, same process
    [F_RDLCK, false, true, F_RDLCK, true, false],
  ];
  for (const [ht, otherProc, hofd, rt, rofd, want] of rows) {
    const inode = fakeInode();
    const a = fakeFile(inode), b = fakeFile(inode);
    await fcntlSetlk(a, hofd ? F_OFD_SETLK : F_SETLK, fl(ht, 0, 10), otherProc ? 200 : 100);
    const got = await errnoOf(fcntlSetlk(b, rofd ? F_OFD_SETLK : F_SETLK, fl(rt, 5, 10), 100));
    assert.equal(got, want ? EAGAIN : 0, `held ${ht} other=${otherProc} ofd=${hofd}, req ${rt} ofd=${rofd}: got ${got}, want ${want ? EAGAIN : 0}`);
    // F_GETLK agrees with F_SETLK.
    const q = fl(rt, 5, 10);
    fcntlGetlk(b, rofd ? F_OFD_GETLK : F_GETLK, q, 100);
    if (!want) assert.equal(q.type, F_UNLCK, `getlk type: got ${q.type}, want F_UNLCK`);
  }
});

test('F_GETLK reports the first conflicting lock in SEEK_SET form', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode), c = fakeFile(inode);
  await fcntlSetlk(a, F_SETLK, fl(F_RDLCK, 100, 0), 7);            // [100, EOF) read, pid 7
  await fcntlSetlk(c, F_OFD_SETLK, fl(F_WRLCK, 10, 5), 9);         // OFD write [10,14]
  const q = fl(F_WRLCK, 0, 0);
  fcntlGetlk(b, F_GETLK, q, 8);
  assert.deepEqual(q, { type: F_RDLCK, whence: SEEK_SET, start: 100, len: 0, pid: 7 }, `got ${JSON.stringify(q)}`);
  const q2 = fl(F_RDLCK, 12, 1);
  fcntlGetlk(b, F_GETLK, q2, 8);
  assert.deepEqual(q2, { type: F_WRLCK, whence: SEEK_SET, start: 10, len: 5, pid: -1 }, `got ${JSON.stringify(q2)}`);
  // Byte form: the 32-byte struct flock is rewritten in place.
  const buf = new Uint8Array(FLOCK_SIZE);
  const v = new DataView(buf.buffer);
  v.setInt16(0, F_WRLCK, true); v.setInt16(2, SEEK_SET, true); v.setBigInt64(8, 0n, true); v.setBigInt64(16, 0n, true);
  fcntlGetlk(b, F_GETLK, buf, 8);
  assert.equal(v.getInt16(0, true), F_RDLCK, `byte getlk type: got ${v.getInt16(0, true)}, want F_RDLCK`);
  assert.equal(v.getBigInt64(8, true), 100n, `byte getlk start: got ${v.getBigInt64(8, true)}, want 100`);
  assert.equal(v.getInt32(24, true), 7, `byte getlk pid: got ${v.getInt32(24, true)}, want 7`);
});

test('fcntl lock argument checks', async () => {
  const inode = fakeInode();
  const ro = fakeFile(inode, FMODE_READ), wo = fakeFile(inode, FMODE_WRITE), rw = fakeFile(inode);
  const cases: [string, () => unknown, number][] = [
    ['F_WRLCK on O_RDONLY', () => fcntlSetlk(ro, F_SETLK, fl(F_WRLCK, 0, 1), 1), EBADF],
    ['F_RDLCK on O_WRONLY', () => fcntlSetlk(wo, F_SETLK, fl(F_RDLCK, 0, 1), 1), EBADF],
    ['F_UNLCK on O_RDONLY', () => fcntlSetlk(ro, F_SETLK, fl(F_UNLCK, 0, 1), 1), 0],
    ['bad type', () => fcntlSetlk(rw, F_SETLK, fl(7, 0, 1), 1), EINVAL],
    ['OFD with l_pid', () => fcntlSetlk(rw, F_OFD_SETLK, { ...fl(F_RDLCK, 0, 1), pid: 5 }, 1), EINVAL],
    ['F_GETLK with F_UNLCK', () => fcntlGetlk(rw, F_GETLK, fl(F_UNLCK, 0, 1), 1), EINVAL],
    ['F_OFD_GETLK with l_pid', () => fcntlGetlk(rw, F_OFD_GETLK, { ...fl(F_RDLCK, 0, 1), pid: 5 }, 1), EINVAL],
    ['bad whence', () => fcntlSetlk(rw, F_SETLK, fl(F_RDLCK, 0, 1, 9), 1), EINVAL],
  ];
  for (const [name, fn, want] of cases) {
    const got = await errnoOf(fn);
    assert.equal(got, want, `${name}: got ${got}, want ${want}`);
  }
});

test('F_OFD_GETLK with F_UNLCK finds a lock held through the same description', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode);
  await fcntlSetlk(a, F_OFD_SETLK, fl(F_WRLCK, 0, 10), 1);
  const q = fl(F_UNLCK, 0, 0);
  fcntlGetlk(a, F_OFD_GETLK, q, 1);
  assert.equal(q.type, F_WRLCK, `own description: got type ${q.type}, want F_WRLCK`);
  const q2 = fl(F_UNLCK, 0, 0);
  fcntlGetlk(b, F_OFD_GETLK, q2, 1);
  assert.equal(q2.type, F_UNLCK, `other description: got type ${q2.type}, want F_UNLCK`);
});

test('close drops POSIX locks of that process only; release drops OFD and flock locks', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode), c = fakeFile(inode);
  await fcntlSetlk(a, F_SETLK, fl(F_RDLCK, 0, 10), 1);
  await fcntlSetlk(b, F_SETLK, fl(F_RDLCK, 20, 10), 2);
  await fcntlSetlk(c, F_OFD_SETLK, fl(F_RDLCK, 40, 10), 1);
  await flockFile(c, LOCK_SH);
  // Closing any fd of the inode (here: b's fd, as process 1) drops process 1's POSIX locks.
  locksRemovePosix(b, 1);
  let l = inodeLocks(inode as never);
  assert.deepEqual(l.posix.map((x) => Number(x.start)), [20, 40], `after close: got ${l.posix.map((x) => x.start)}, want 20,40`);
  locksRemoveFile(c);
  l = inodeLocks(inode as never);
  assert.deepEqual(l.posix.map((x) => Number(x.start)), [20], 'OFD lock gone with its file');
  assert.equal(l.flock.length, 0, `flock locks: got ${l.flock.length}, want 0`);
  locksRemovePosix(b, 2);
  assert.equal(inode.flock, undefined, 'an inode without locks keeps no context');
});

test('F_SETLKW waits until the range is free', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode);
  await fcntlSetlk(a, F_SETLK, fl(F_WRLCK, 0, 10), 1);
  let got = false;
  const p = fcntlSetlk(b, F_SETLKW, fl(F_WRLCK, 5, 1), 2).then(() => { got = true; });
  await tick();
  assert.equal(got, false, 'still blocked while the range is held');
  await fcntlSetlk(a, F_SETLK, fl(F_UNLCK, 0, 5), 1);       // frees [0,4]: not enough
  await tick();
  assert.equal(got, false, 'still blocked while byte 5 is held');
  await fcntlSetlk(a, F_SETLK, fl(F_RDLCK, 5, 5), 1);       // downgrade: still conflicts with a write
  await tick();
  assert.equal(got, false, 'a read lock still blocks a write');
  await fcntlSetlk(a, F_SETLK, fl(F_UNLCK, 0, 0), 1);
  await p;
  assert.equal(got, true);
});

test('F_SETLKW detects the two-process deadlock, not for OFD locks', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode);
  await fcntlSetlk(a, F_SETLK, fl(F_WRLCK, 0, 1), 1);
  await fcntlSetlk(b, F_SETLK, fl(F_WRLCK, 1, 1), 2);
  const p1 = fcntlSetlk(a, F_SETLKW, fl(F_WRLCK, 1, 1), 1);  // 1 waits for 2
  await tick();
  const got = await errnoOf(fcntlSetlk(b, F_SETLKW, fl(F_WRLCK, 0, 1), 2));
  assert.equal(got, EDEADLK, `closing the cycle: got ${got}, want EDEADLK`);
  await fcntlSetlk(b, F_SETLK, fl(F_UNLCK, 0, 0), 2);
  await p1;
  // OFD waits are not attributed to processes: no EDEADLK, they simply wait.
  const inode2 = fakeInode();
  const c = fakeFile(inode2), d = fakeFile(inode2);
  await fcntlSetlk(c, F_OFD_SETLK, fl(F_WRLCK, 0, 1), 0);
  await fcntlSetlk(d, F_OFD_SETLK, fl(F_WRLCK, 1, 1), 0);
  let done = 0;
  const w1 = fcntlSetlk(c, F_OFD_SETLKW, fl(F_WRLCK, 1, 1), 0).then(() => done++);
  const w2 = fcntlSetlk(d, F_OFD_SETLKW, fl(F_WRLCK, 0, 1), 0).then(() => done++);
  await tick();
  assert.equal(done, 0, 'both OFD waiters sleep');
  locksRemoveFile(d);   // d's release breaks the wait of c
  await w1;
  void w2.catch(() => 0);
});

test('a blocked wait is interrupted by its abort queue', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode), b = fakeFile(inode);
  await fcntlSetlk(a, F_SETLK, fl(F_WRLCK, 0, 0), 1);
  const q = new WaitQueue();
  let aborted = false;
  const p = errnoOf(fcntlSetlk(b, F_SETLKW, fl(F_RDLCK, 0, 0), 2, { queue: q, aborted: () => aborted }));
  await tick();
  aborted = true; q.wakeAll(-EINTR);
  assert.equal(await p, EINTR);
  const pf = errnoOf(flockFile(a, LOCK_EX, { queue: q, aborted: () => true }));
  assert.equal(await pf, 0, 'an uncontended flock needs no wait');
});

test('flock: shared, exclusive, non-atomic conversion', async () => {
  const inode = fakeInode();
  const a = fakeFile(inode, FMODE_READ), b = fakeFile(inode, FMODE_READ);
  await flockFile(a, LOCK_SH);
  await flockFile(b, LOCK_SH);
  assert.equal(await errnoOf(flockFile(b, LOCK_EX | LOCK_NB)), EAGAIN, 'EX while another holds SH');
  // The failed conversion dropped b's shared lock: a can now upgrade.
  assert.equal(inodeLocks(inode as never).flock.length, 1, 'failed conversion lost the old lock');
  await flockFile(a, LOCK_EX | LOCK_NB);
  assert.equal(await errnoOf(flockFile(b, LOCK_SH | LOCK_NB)), EAGAIN, 'SH while another holds EX');
  let got = false;
  const p = flockFile(b, LOCK_EX).then(() => { got = true; });
  await tick();
  assert.equal(got, false, 'blocking flock waits');
  await flockFile(a, LOCK_UN);
  await p;
  assert.equal(got, true);
  assert.equal(await errnoOf(flockFile(b, LOCK_EX | LOCK_SH)), EINVAL, 'LOCK_SH|LOCK_EX');
  assert.equal(await errnoOf(flockFile(b, 0)), EINVAL, 'no operation');
  // flock and POSIX locks do not see each other.
  await fcntlSetlk(fakeFile(inode), F_SETLK, fl(F_WRLCK, 0, 0), 5);
  await flockFile(b, LOCK_UN);
  await flockFile(a, LOCK_EX | LOCK_NB);
});
