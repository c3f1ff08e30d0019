/*
 * The writing side of jbd2 on an in-memory journal: handles and batching, the locked-transaction
 * wait, credits and the maximum transaction size, the commit interval on a virtual clock, the
 * order of log writes and barriers, frozen copies, log space and checkpoints, revoke pinning,
 * destroy() and aborts. What the log holds is checked by replaying it with our recovery (itself
 * checked against e2fsck in test/jbd2/); test/jbd2/write.test.ts replays our logs in e2fsck and
 * the host kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError } from '../../../../src/lib/errors.js';
import { EINVAL, EIO, ENOSPC, EROFS } from '../../../../src/uapi/errno.js';
import { Jbd2Journal, recoverJournal, type JournalDevice } from '../../../../src/fs/jbd2/index.js';
import * as L from '../../../../src/fs/jbd2/layout.js';
import { superblockCsum, commitBlockCsum, csumSeed } from '../../../../src/fs/jbd2/checksum.js';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Clock } from '../../../../src/kernel/ktime/index.js';

const V3 = L.JBD2_FEATURE_INCOMPAT_CSUM_V3, V2 = L.JBD2_FEATURE_INCOMPAT_CSUM_V2;
const B64 = L.JBD2_FEATURE_INCOMPAT_64BIT, REVOKE = L.JBD2_FEATURE_INCOMPAT_REVOKE;

type Ev = { op: 'j'; n: number; type: number } | { op: 'fs'; n: number } | { op: 'flush' } | { op: 'data' };

/** A journal of `len` blocks and a filesystem, both in memory. */
class MemDev implements JournalDevice {
  readonly blockSize: number;
  readonly nrBlocks: number;
  readonly name = 'mem-8';
  journal: Uint8Array[];
  fs = new Map<number, Uint8Array>();
  events: Ev[] = [];
  failJournalWrites = false;
  /** Make every write wait a turn of the event loop. */
  slow = false;
  constructor(o: { bs?: number; len?: number; incompat?: number; compat?: number; seq?: number; v1?: boolean } = {}) {
    this.blockSize = o.bs ?? 1024;
    this.nrBlocks = o.len ?? 1024;
    this.journal = Array.from({ length: this.nrBlocks }, () => new Uint8Array(this.blockSize));
    const sb = this.journal[0]!;
    L.putBe32(sb, L.H_MAGIC, L.JBD2_MAGIC_NUMBER);
    L.putBe32(sb, L.H_BLOCKTYPE, o.v1 ? L.JBD2_SUPERBLOCK_V1 : L.JBD2_SUPERBLOCK_V2);
    L.putBe32(sb, L.S_BLOCKSIZE, this.blockSize);
    L.putBe32(sb, L.S_MAXLEN, this.nrBlocks);
    L.putBe32(sb, L.S_FIRST, 1);
    L.putBe32(sb, L.S_SEQUENCE, o.seq ?? 1);
    L.putBe32(sb, L.S_FEATURE_INCOMPAT, o.incompat ?? 0);
    L.putBe32(sb, L.S_FEATURE_COMPAT, o.compat ?? 0);
    for (let i = 0; i < 16; i++) sb[L.S_UUID + i] = 0x40 + i;
    if ((o.incompat ?? 0) & (V2 | V3)) {
      sb[L.S_CHECKSUM_TYPE] = L.JBD2_CRC32C_CHKSUM;
      L.putBe32(sb, L.S_CHECKSUM, superblockCsum(sb));
    }
  }
  async readBlock(n: number) { return this.journal[n]!.slice(); }
  async writeJournalBlock(n: number, d: Uint8Array) {
    if (this.slow) await new Promise((r) => setImmediate(r));
    if (this.failJournalWrites) throw new Error('disk on fire');
    assert.equal(d.length, this.blockSize);
    this.events.push({ op: 'j', n, type: n === 0 ? 0 : L.be32(d, 0) === L.JBD2_MAGIC_NUMBER ? L.be32(d, 4) : -1 });
    this.journal[n] = d.slice();
  }
  async writeFsBlock(n: number, d: Uint8Array) {
    if (this.slow) await new Promise((r) => setImmediate(r));
    this.events.push({ op: 'fs', n }); this.fs.set(n, d.slice()); }
  async flush() { this.events.push({ op: 'flush' }); }
  sb(): Uint8Array { return this.journal[0]!; }
  /** A copy of the device as a crash would leave it (the home blocks and the journal). */
  crashCopy(): MemDev {
    const c = Object.create(MemDev.prototype) as MemDev;
    Object.assign(c, this, { journal: this.journal.map((b) => b.slice()), fs: new Map(this.fs), events: [], failJournalWrites: false, slow: false });
    return c;
  }
}

function block(bs: number, tag: number, magic = false): Uint8Array {
  const b = new Uint8Array(bs).map((_, i) => (tag * 13 + i) & 0xff);
  if (magic) L.putBe32(b, 0, L.JBD2_MAGIC_NUMBER);
  return b;
}

const ticks = async (n = 20): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

async function expectErrno(p: Promise<unknown> | (() => unknown), errno: number): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.ok(e instanceof KernelError, `got ${String(e)}, want KernelError ${errno}`);
    assert.equal(e.errno, errno, `errno: got ${e.errno}, want ${errno}`);
    return;
  }
  assert.fail(`got success, want errno ${errno}`);
}

async function tx(j: Jbd2Journal, blocks: [number, Uint8Array][], revokes: number[] = []): Promise<void> {
  const h = await j.start(blocks.length, revokes.length);
  for (const [nr, d] of blocks) { j.getWriteAccess(h, nr); j.dirtyMetadata(h, nr, d); }
  for (const nr of revokes) j.revoke(h, nr);
  await j.stop(h);
}

for (const [name, incompat] of [['csum v3, 64bit', V3 | B64], ['csum v2, 32bit', V2], ['no csum, 64bit', B64], ['no csum, 32bit', 0]] as const) {
  test(`commit writes what our recovery replays, revokes and escapes included (${name})`, async () => {
    const dev = new MemDev({ incompat });
    const j = await Jbd2Journal.open(dev);
    const bs = dev.blockSize;
    const b = (t: number, m = false) => block(bs, t, m);
    await tx(j, [[100, b(1)], [101, b(2, true)], [102, b(3)], [0x1_0000_0005, b(4)]].filter((x) => incompat & B64 || (x[0] as number) < 2 ** 32) as [number, Uint8Array][]);
    await j.commit();
    await tx(j, [[100, b(5)]], [102]);
    await j.commit();
    // 150 blocks: several descriptor blocks.
    await tx(j, Array.from({ length: 150 }, (_, i) => [1000 + i, b(100 + i, i % 40 === 0)] as [number, Uint8Array]));
    await j.commit();
    await tx(j, [[101, b(9)]]); // never committed
    const crashed = dev.crashCopy();
    assert.equal(crashed.fs.size, 0, 'home writes before any checkpoint: got some, want none');
    const r = await recoverJournal(crashed, () => {});
    assert.equal(r.transactions, 3, `transactions: got ${r.transactions}, want 3`);
    assert.deepEqual(crashed.fs.get(100), b(5));
    assert.deepEqual(crashed.fs.get(101), b(2, true), 'escaped block: got something else, want its magic back');
    assert.equal(crashed.fs.has(102), false, 'revoked block 102 replayed');
    for (let i = 0; i < 150; i++) assert.deepEqual(crashed.fs.get(1000 + i), b(100 + i, i % 40 === 0));
    if (incompat & B64) assert.deepEqual(crashed.fs.get(0x1_0000_0005), b(4));
    const descriptors = dev.events.filter((e) => e.op === 'j' && e.type === L.JBD2_DESCRIPTOR_BLOCK).length;
    assert.ok(descriptors >= 4, `descriptor blocks: got ${descriptors}, want at least 4`);
  });
}

test('the order of a commit: superblock, revokes, descriptor, copies, ordered data, flush, commit, flush', async () => {
  const dev = new MemDev({ incompat: V3 | B64 });
  const j = await Jbd2Journal.open(dev, { beforeCommit: async () => { dev.events.push({ op: 'data' }); } });
  await tx(j, [[7, block(1024, 1)]]);
  await j.commit();
  dev.events = [];
  const h = await j.start(2, 1);
  j.dirtyMetadata(h, 8, block(1024, 2));
  j.dirtyMetadata(h, 9, block(1024, 3));
  j.revoke(h, 7);
  j.addOrderedData(h, async () => { dev.events.push({ op: 'fs', n: 5000 }); });
  await j.stop(h);
  await j.commit();
  const seq = dev.events.map((e) => e.op === 'j' ? `j${e.type}` : e.op === 'fs' ? `fs${e.n}` : e.op).join(' ');
  // The first revoke turned the revoke feature on: the superblock carrying it goes first.
  assert.equal(seq, 'j0 fs5000 data j5 j1 j-1 j-1 flush j2 flush');
  assert.ok(L.be32(dev.sb(), L.S_FEATURE_INCOMPAT) & REVOKE, 'revoke feature not on disk');
  // The first commit of an empty journal writes the tail to the superblock first.
  const dev2 = new MemDev();
  const j2 = await Jbd2Journal.open(dev2);
  await tx(j2, [[7, block(1024, 1)]]);
  await j2.commit();
  assert.deepEqual(dev2.events.map((e) => e.op === 'j' ? `j${e.n}` : e.op), ['j0', 'j1', 'j2', 'flush', 'j3', 'flush']);
  assert.equal(L.be32(dev2.sb(), L.S_START), 1, 's_start after the first commit');
});

test('the commit block: header, time from the clock, v3 checksum with type and size 0', async () => {
  const host = new FakeHost({ autoAdvance: false, wallSec: 1_800_000_000 });
  const clock = new Clock(host);
  const dev = new MemDev({ incompat: V3 });
  const j = await Jbd2Journal.open(dev, { clock });
  host.advance(1_500_000_000);
  await tx(j, [[7, block(1024, 1)]]);
  await j.commit();
  const cb = dev.journal[3]!;
  assert.equal(L.be32(cb, L.H_BLOCKTYPE), L.JBD2_COMMIT_BLOCK);
  assert.equal(L.be32(cb, L.H_SEQUENCE), 1);
  assert.equal(L.be64(cb, L.COMMIT_SEC), 1_800_000_001);
  assert.equal(L.be32(cb, L.COMMIT_NSEC), 500_000_000);
  assert.equal(cb[L.COMMIT_CHKSUM_TYPE], 0);
  assert.equal(cb[L.COMMIT_CHKSUM_SIZE], 0);
  assert.equal(L.be32(cb, L.COMMIT_CHKSUM), commitBlockCsum(csumSeed(dev.sb()), cb));
});

test('handles are batched into one transaction; the commit interval commits it', async () => {
  const host = new FakeHost({ autoAdvance: false });
  const clock = new Clock(host);
  const dev = new MemDev();
  const j = await Jbd2Journal.open(dev, { clock });
  const h1 = await j.start(1), h2 = await j.start(1);
  assert.equal(h1.transaction, h2.transaction);
  j.dirtyMetadata(h1, 10, block(1024, 1));
  j.dirtyMetadata(h2, 11, block(1024, 2));
  await j.stop(h1); await j.stop(h2);
  host.advance(4_900_000_000);
  await ticks();
  assert.equal(j.stats().commitSequence, 0, 'committed before the interval');
  host.advance(200_000_000);
  await ticks();
  assert.equal(j.stats().commitSequence, 1, `commit sequence after 5 s: got ${j.stats().commitSequence}, want 1`);
  const commits = dev.events.filter((e) => e.op === 'j' && e.type === L.JBD2_COMMIT_BLOCK).length;
  assert.equal(commits, 1, `commit blocks: got ${commits}, want 1 for both handles`);
  // commit=1: a custom interval.
  const dev2 = new MemDev();
  const j2 = await Jbd2Journal.open(dev2, { clock, commitIntervalMs: 1000 });
  await tx(j2, [[5, block(1024, 5)]]);
  host.advance(1_000_000_000);
  await ticks();
  assert.equal(j2.stats().commitSequence, 1);
});

test('a start waits while the running transaction is locked for commit, then joins the next one', async () => {
  const dev = new MemDev();
  const j = await Jbd2Journal.open(dev);
  const h1 = await j.start(1);
  const tid = h1.transaction.tid;
  j.dirtyMetadata(h1, 10, block(1024, 1));
  const committed = j.commit();
  await ticks();
  let h2: Awaited<ReturnType<Jbd2Journal['start']>> | null = null;
  const p2 = j.start(1).then((h) => { h2 = h; });
  await ticks();
  assert.equal(h2, null, 'start() returned while the transaction was locked');
  assert.equal(j.stats().commitSequence, tid - 1, 'committed with a handle open');
  await j.stop(h1);
  await committed;
  await p2;
  assert.equal(h2!.transaction.tid, tid + 1, `new handle's tid: got ${h2!.transaction.tid}, want ${tid + 1}`);
  await j.stop(h2!);
});

test('the journal copies blocks when the commit starts (frozen data); later changes go to the next transaction', async () => {
  const dev = new MemDev();
  const j = await Jbd2Journal.open(dev);
  const buf = block(1024, 1);
  await tx(j, [[10, buf]]);
  const p = j.commit(); // the switch and the copy happen now
  buf.fill(0xee); // the fs goes on changing its cache block
  await tx(j, [[10, buf]]);
  await p;
  assert.deepEqual(dev.journal[2], block(1024, 1), 'the committed copy changed after the commit started');
  await j.commit();
  const r = dev.crashCopy();
  await recoverJournal(r, () => {});
  assert.deepEqual(r.fs.get(10), new Uint8Array(1024).fill(0xee));
});

test('credits: too many for the journal is ENOSPC; going past the handle is ENOSPC; a full transaction commits', async () => {
  const dev = new MemDev({ len: 1024 });
  const j = await Jbd2Journal.open(dev);
  assert.equal(j.stats().maxTransactionBuffers, 256);
  await expectErrno(j.start(257), ENOSPC);
  const h = await j.start(1);
  j.dirtyMetadata(h, 1, block(1024, 1));
  j.dirtyMetadata(h, 1, block(1024, 2)); // the same block again costs nothing
  await expectErrno(() => j.dirtyMetadata(h, 2, block(1024, 3)), ENOSPC);
  await expectErrno(() => j.dirtyMetadata(h, 3, new Uint8Array(512)), EINVAL);
  await j.stop(h);
  await expectErrno(j.stop(h), EINVAL);
  // Handles of 100 credits: the third would exceed 256 with the descriptor reserve: commit first.
  const tid = j.stats().running!;
  for (let k = 0; k < 3; k++) {
    const hk = await j.start(100);
    for (let i = 0; i < 100; i++) j.dirtyMetadata(hk, 1000 + k * 100 + i, block(1024, i));
    await j.stop(hk);
    if (k < 2) assert.equal(hk.transaction.tid, tid, `handle ${k} tid`);
    else assert.equal(hk.transaction.tid, tid + 1, 'third handle should be in the next transaction');
  }
  await ticks();
  assert.equal(j.stats().commitSequence, tid, 'the full transaction was not committed');
});

test('log space: many transactions on a small log checkpoint and wrap; the superblock tail follows', async () => {
  const dev = new MemDev({ len: 1024, incompat: V3 });
  const j = await Jbd2Journal.open(dev);
  const want = new Map<number, Uint8Array>();
  for (let gen = 0; gen < 60; gen++) {
    const blocks: [number, Uint8Array][] = [];
    for (let i = 0; i < 30; i++) blocks.push([(gen * 7 + i) % 200, block(1024, gen * 100 + i)]);
    await tx(j, blocks);
    await j.commit();
    for (const [nr, d] of blocks) want.set(nr, d);
    const st = j.stats();
    assert.ok(st.free >= 0 && st.free <= st.last - st.first);
  }
  const st = j.stats();
  assert.ok(dev.events.filter((e) => e.op === 'fs').length > 0, 'no checkpoint happened');
  assert.ok(st.head < st.tail || dev.events.filter((e) => e.op === 'j' && e.n === 1).length > 1, 'the log never wrapped');
  const sb = dev.sb();
  assert.equal(L.be32(sb, L.S_START), st.tail);
  assert.equal(L.be32(sb, L.S_SEQUENCE), st.tailSequence);
  assert.equal(L.be32(sb, L.S_CHECKSUM), superblockCsum(sb));
  // Every home write came after a flush that followed the commit of its transaction, and a
  // superblock tail write is preceded by a flush of the home writes.
  const evs = dev.events;
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i]!;
    if (e.op === 'j' && e.n === 0 && evs.slice(0, i).some((x) => x.op === 'fs')) {
      const lastFs = evs.slice(0, i).map((x) => x.op).lastIndexOf('fs');
      assert.ok(evs.slice(lastFs, i).some((x) => x.op === 'flush'), `superblock write at event ${i} without a flush after the home writes`);
    }
  }
  const r = dev.crashCopy();
  await recoverJournal(r, () => {});
  for (const [nr, d] of want) assert.deepEqual(r.fs.get(nr) ?? dev.fs.get(nr), d, `block ${nr} after replay`);
});

test('revoke pins the older transaction until the revoke commits; the block is never written home', async () => {
  const dev = new MemDev({ incompat: B64 });
  const j = await Jbd2Journal.open(dev);
  await tx(j, [[50, block(1024, 1)], [51, block(1024, 2)]]);
  await j.commit();
  const t1Start = L.be32(dev.sb(), L.S_START);
  const h = await j.start(0, 1);
  j.revoke(h, 50);
  await expectErrno(() => j.revoke(h, 51), EIO); // no revoke credit left
  await j.stop(h);
  assert.ok(j.stats().running !== null);
  await j.checkpoint();
  assert.deepEqual([...dev.fs.keys()], [51], `home writes: got ${[...dev.fs.keys()]}, want only 51`);
  assert.equal(L.be32(dev.sb(), L.S_START), t1Start, 'tail moved past a transaction whose revoke is uncommitted');
  const crash = dev.crashCopy();
  await recoverJournal(crash, () => {});
  assert.deepEqual(crash.fs.get(50), block(1024, 1), 'before the revoke commits, a crash still replays the old copy');
  await j.commit();
  assert.ok(L.be32(dev.sb(), L.S_FEATURE_INCOMPAT) & REVOKE, 'revoke feature not on disk after the revoke committed');
  await j.checkpoint();
  assert.equal(dev.fs.has(50), false, 'revoked block written home');
  assert.notEqual(L.be32(dev.sb(), L.S_START), t1Start, 'tail did not move after the revoke committed');
  // A block revoked and then logged again in the same transaction is replayed (cancel_revoke).
  const h2 = await j.start(1, 1);
  j.revoke(h2, 60);
  j.dirtyMetadata(h2, 60, block(1024, 6));
  await j.stop(h2);
  await j.commit();
  const c2 = dev.crashCopy();
  await recoverJournal(c2, () => {});
  assert.deepEqual(c2.fs.get(60), block(1024, 6));
});

test('destroy: commits, checkpoints, marks the journal empty one tid past the last', async () => {
  const dev = new MemDev({ incompat: V3 | B64, seq: 0xfffffffe });
  const j = await Jbd2Journal.open(dev);
  await tx(j, [[10, block(1024, 1)]]);
  await j.commit();
  await tx(j, [[11, block(1024, 2)]]); // tid 0xffffffff, committed by destroy
  await j.destroy();
  const sb = dev.sb();
  assert.equal(L.be32(sb, L.S_START), 0);
  assert.equal(L.be32(sb, L.S_SEQUENCE), 1, 'sequence wraps: 0xfffffffe, 0xffffffff used, 0 skipped, next 1');
  assert.equal(L.be32(sb, L.S_CHECKSUM), superblockCsum(sb));
  assert.deepEqual(dev.fs.get(10), block(1024, 1));
  assert.deepEqual(dev.fs.get(11), block(1024, 2));
  assert.equal(dev.events.at(-1)!.op, 'flush');
  await expectErrno(j.start(1), EROFS);
  // Opened again: nothing to replay, and the next transaction gets s_sequence.
  const j2 = await Jbd2Journal.open(dev);
  assert.equal(j2.stats().transactionSequence, 1);
  // A journal that never committed is left alone by destroy.
  const dev3 = new MemDev();
  await (await Jbd2Journal.open(dev3)).destroy();
  assert.equal(dev3.events.length, 0);
});

test('opening a dirty journal replays it first; a V1 superblock cannot be written', async () => {
  const dev = new MemDev({ incompat: V3 });
  const j = await Jbd2Journal.open(dev);
  await tx(j, [[33, block(1024, 3)]]);
  await j.commit();
  const crash = dev.crashCopy();
  const j2 = await Jbd2Journal.open(crash);
  assert.deepEqual(crash.fs.get(33), block(1024, 3));
  assert.equal(L.be32(crash.sb(), L.S_START), 0);
  // Recovery restarts the log one tid past the end of the scan, as Linux's jbd2_journal_recover.
  assert.equal(j2.stats().transactionSequence, 3);
  await expectErrno(Jbd2Journal.open(new MemDev({ v1: true })), EINVAL);
});

test('a failing journal write aborts the journal: the commit fails with EIO, new handles get EROFS', async () => {
  const messages: string[] = [];
  const dev = new MemDev();
  const j = await Jbd2Journal.open(dev, { log: (_l, m) => messages.push(m) });
  await tx(j, [[1, block(1024, 1)]]);
  dev.failJournalWrites = true;
  await expectErrno(j.commit(), EIO);
  await expectErrno(j.start(1), EROFS);
  assert.ok(messages.includes('Aborting journal on device mem-8.'), `messages: ${JSON.stringify(messages)}`);
  await expectErrno(j.destroy(), EIO);
});

test('concurrent handles, commits and checkpoints on a small log: every crash point replays a committed prefix', async () => {
  const dev = new MemDev({ len: 1024, incompat: V3 | B64 });
  // Device writes take a turn of the event loop, so commits, checkpoints and handles interleave.
  dev.slow = true;
  const j = await Jbd2Journal.open(dev);
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  /** tid -> the blocks its handles dirtied, last write winning. */
  const byTid = new Map<number, Map<number, Uint8Array>>();
  const revoked = new Map<number, Set<number>>();
  const crashes: { copy: MemDev; committed: number }[] = [];
  let serial = 0;
  const task = async (id: number): Promise<void> => {
    for (let it = 0; it < 40; it++) {
      const n = 1 + rnd(12);
      const h = await j.start(n, 1);
      const tid = h.transaction.tid;
      if (!byTid.has(tid)) byTid.set(tid, new Map());
      for (let i = 0; i < n; i++) {
        const nr = id * 1000 + rnd(40);
        const d = block(1024, ++serial, rnd(10) === 0);
        j.getWriteAccess(h, nr);
        j.dirtyMetadata(h, nr, d);
        byTid.get(tid)!.set(nr, d);
        revoked.get(tid)?.delete(nr);
      }
      await ticks(rnd(3));
      await j.stop(h);
      if (rnd(8) === 0) await j.commit();
      if (rnd(15) === 0) await j.checkpoint();
      if (rnd(6) === 0) crashes.push({ copy: dev.crashCopy(), committed: j.stats().commitSequence });
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, i) => task(i + 1)));
  await j.commit();
  crashes.push({ copy: dev.crashCopy(), committed: j.stats().commitSequence });
  assert.ok(crashes.length > 10);
  const expectUpTo = (c: number): Map<number, Uint8Array> => {
    const m = new Map<number, Uint8Array>();
    for (const tid of [...byTid.keys()].sort((a, b) => a - b)) if (tid <= c) for (const [nr, d] of byTid.get(tid)!) m.set(nr, d);
    return m;
  };
  for (const { copy, committed } of crashes) {
    await recoverJournal(copy, () => {});
    // The commit block of the next transaction may be on disk before the journal counts it.
    const ok = [committed, committed + 1].some((c) => {
      const want = expectUpTo(c);
      for (const [nr, d] of want) {
        const got = copy.fs.get(nr);
        if (!got || !Buffer.from(got).equals(Buffer.from(d))) return false;
      }
      return true;
    });
    assert.ok(ok, `crash with ${committed} committed: replayed state matches no committed prefix`);
  }
  assert.ok(dev.events.some((e) => e.op === 'fs'), 'no checkpoint during the run');
  await j.destroy();
  assert.equal(L.be32(dev.sb(), L.S_START), 0);
  const final = expectUpTo(j.stats().commitSequence);
  for (const [nr, d] of final) assert.deepEqual(dev.fs.get(nr), d, `block ${nr} home after destroy`);
});
