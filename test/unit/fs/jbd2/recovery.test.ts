/*
 * Recovery on journals built in memory, block by block: every rule of recovery.c one case at a
 * time, and corrupt journals (bad superblock, bad checksums, revoke overflow, a log that laps
 * itself) that must end with Linux's errno and message, never a hang or a foreign exception.
 * The same code is checked against e2fsck and the host kernel in test/jbd2/replay.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelError } from '../../../../src/lib/errors.js';
import { EINVAL, EBADMSG, EUCLEAN, EIO } from '../../../../src/uapi/errno.js';
import { recoverJournal, journalNeedsRecovery, type JournalDevice, type RecoveryResult } from '../../../../src/fs/jbd2/index.js';
import * as L from '../../../../src/fs/jbd2/layout.js';
import {
  superblockCsum, csumSeed, descriptorBlockCsum, commitBlockCsum, blockTagCsum, crc32Be,
} from '../../../../src/fs/jbd2/checksum.js';
import { RevokeTable } from '../../../../src/fs/jbd2/revoke.js';

const V3 = L.JBD2_FEATURE_INCOMPAT_CSUM_V3, V2 = L.JBD2_FEATURE_INCOMPAT_CSUM_V2;
const B64 = L.JBD2_FEATURE_INCOMPAT_64BIT, REVOKE = L.JBD2_FEATURE_INCOMPAT_REVOKE;
const ASYNC = L.JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT;

interface Opts { bs?: number; len?: number; incompat?: number; compat?: number; seq?: number; start?: number; fsBlocks?: number }

/** A journal in memory plus a writer that lays transactions into its log. */
class MemJournal {
  readonly bs: number;
  readonly len: number;
  readonly incompat: number;
  readonly compat: number;
  readonly blocks: Uint8Array[];
  readonly fs = new Map<number, Uint8Array>();
  readonly fsWriteOrder: number[] = [];
  readonly messages: string[] = [];
  readonly readErrors = new Set<number>();
  sbWrites = 0;
  pos: number;
  readonly seed: number;
  readonly fsBlocks: number;

  constructor(o: Opts = {}) {
    this.bs = o.bs ?? 1024;
    this.len = o.len ?? 1024;
    this.incompat = o.incompat ?? (V3 | B64 | REVOKE);
    this.compat = o.compat ?? 0;
    this.fsBlocks = o.fsBlocks ?? 100000;
    this.blocks = Array.from({ length: this.len }, () => new Uint8Array(this.bs));
    const sb = this.blocks[0]!;
    L.putBe32(sb, L.H_MAGIC, L.JBD2_MAGIC_NUMBER);
    L.putBe32(sb, L.H_BLOCKTYPE, L.JBD2_SUPERBLOCK_V2);
    L.putBe32(sb, L.S_BLOCKSIZE, this.bs);
    L.putBe32(sb, L.S_MAXLEN, this.len);
    L.putBe32(sb, L.S_FIRST, 1);
    L.putBe32(sb, L.S_SEQUENCE, o.seq ?? 7);
    L.putBe32(sb, L.S_START, o.start ?? 1);
    L.putBe32(sb, L.S_FEATURE_COMPAT, this.compat);
    L.putBe32(sb, L.S_FEATURE_INCOMPAT, this.incompat);
    for (let i = 0; i < 16; i++) sb[L.S_UUID + i] = 0x11 * (i + 1);
    L.putBe32(sb, L.S_NR_USERS, 1);
    if (this.v23) sb[L.S_CHECKSUM_TYPE] = L.JBD2_CRC32C_CHKSUM;
    this.resum();
    this.seed = csumSeed(sb);
    this.pos = o.start ?? 1;
  }

  get v23(): boolean { return (this.incompat & (V2 | V3)) !== 0; }
  get sb(): Uint8Array { return this.blocks[0]!; }

  /** Recompute the superblock checksum after editing it. */
  resum(): void {
    if (this.v23) L.putBe32(this.sb, L.S_CHECKSUM, superblockCsum(this.sb));
  }

  dev(): JournalDevice {
    return {
      blockSize: this.bs,
      nrBlocks: this.len,
      name: 'mem-8',
      readBlock: async (n) => {
        if (this.readErrors.has(n)) throw new KernelError(EIO);
        return this.blocks[n]!;
      },
      writeFsBlock: async (nr, data) => {
        if (nr >= this.fsBlocks) throw new RangeError(`block ${nr} beyond the device`);
        this.fs.set(nr, data.slice());
        this.fsWriteOrder.push(nr);
      },
      writeJournalBlock: async (n, data) => {
        this.blocks[n] = data.slice();
        this.sbWrites++;
      },
    };
  }

  recover(opts?: { readOnlyDryRun?: boolean }): Promise<RecoveryResult> {
    return recoverJournal(this.dev(), (_l, m) => this.messages.push(m), opts);
  }

  /** Put a block at the write position and advance it, wrapping like the log. */
  put(b: Uint8Array): number {
    const at = this.pos;
    this.blocks[at] = b;
    this.pos = this.pos + 1 >= this.len ? 1 : this.pos + 1;
    return at;
  }

  header(type: number, tid: number): Uint8Array {
    const b = new Uint8Array(this.bs);
    L.putBe32(b, L.H_MAGIC, L.JBD2_MAGIC_NUMBER);
    L.putBe32(b, L.H_BLOCKTYPE, type);
    L.putBe32(b, L.H_SEQUENCE, tid);
    return b;
  }

  /** A descriptor for `items` followed by their data blocks. */
  descriptor(tid: number, items: { nr: number; data: Uint8Array; badCsum?: boolean }[], o: { badDescCsum?: boolean } = {}): void {
    const d = this.header(L.JBD2_DESCRIPTOR_BLOCK, tid);
    const tagBytes = L.journalTagBytes(this.incompat);
    let p = L.JOURNAL_HEADER_SIZE;
    const datas: Uint8Array[] = [];
    items.forEach((it, i) => {
      let flags = i === 0 ? 0 : L.JBD2_FLAG_SAME_UUID;
      if (i === items.length - 1) flags |= L.JBD2_FLAG_LAST_TAG;
      let data = it.data;
      if (L.be32(data, 0) === L.JBD2_MAGIC_NUMBER) {
        data = data.slice();
        L.putBe32(data, 0, 0);
        flags |= L.JBD2_FLAG_ESCAPE;
      }
      L.putBe32(d, p + L.TAG_BLOCKNR, it.nr % 0x100000000);
      if (this.incompat & B64) L.putBe32(d, p + L.TAG_BLOCKNR_HIGH, Math.floor(it.nr / 0x100000000));
      let csum = blockTagCsum(this.seed, tid, data);
      if (it.badCsum) csum ^= 1;
      if (this.incompat & V3) {
        L.putBe32(d, p + L.TAG3_FLAGS, flags);
        L.putBe32(d, p + L.TAG3_CHECKSUM, csum);
      } else {
        L.putBe16(d, p + L.TAG_FLAGS, flags);
        if (this.incompat & V2) L.putBe16(d, p + L.TAG_CHECKSUM, csum & 0xffff);
      }
      p += tagBytes + (i === 0 ? 16 : 0);
      datas.push(data);
    });
    if (this.v23) L.putBe32(d, this.bs - 4, descriptorBlockCsum(this.seed, d) ^ (o.badDescCsum ? 1 : 0));
    this.put(d);
    for (const x of datas) this.put(x);
  }

  revoke(tid: number, nrs: number[], o: { rcount?: number; badCsum?: boolean } = {}): void {
    const r = this.header(L.JBD2_REVOKE_BLOCK, tid);
    const rl = this.incompat & B64 ? 8 : 4;
    let p = L.REVOKE_HEADER_SIZE;
    for (const nr of nrs) {
      if (rl === 8) { L.putBe32(r, p, Math.floor(nr / 0x100000000)); L.putBe32(r, p + 4, nr % 0x100000000); }
      else L.putBe32(r, p, nr);
      p += rl;
    }
    L.putBe32(r, L.REVOKE_R_COUNT, o.rcount ?? p);
    if (this.v23) L.putBe32(r, this.bs - 4, descriptorBlockCsum(this.seed, r) ^ (o.badCsum ? 1 : 0));
    this.put(r);
  }

  commit(tid: number, o: { sec?: number; badCsum?: boolean; v1sum?: number; partial?: boolean } = {}): void {
    const c = this.header(L.JBD2_COMMIT_BLOCK, tid);
    const sec = o.sec ?? 1000 + tid;
    L.putBe32(c, L.COMMIT_SEC, Math.floor(sec / 0x100000000));
    L.putBe32(c, L.COMMIT_SEC + 4, sec % 0x100000000);
    if (o.v1sum !== undefined) {
      c[L.COMMIT_CHKSUM_TYPE] = L.JBD2_CRC32_CHKSUM;
      c[L.COMMIT_CHKSUM_SIZE] = L.JBD2_CRC32_CHKSUM_SIZE;
      L.putBe32(c, L.COMMIT_CHKSUM, o.v1sum);
    } else if (this.v23) {
      L.putBe32(c, L.COMMIT_CHKSUM, commitBlockCsum(this.seed, c) ^ (o.badCsum ? 1 : 0));
      // A torn write: the header made it, the rest of the block did not.
      if (o.partial) c.fill(0xee, L.COMMIT_HEADER_SIZE);
    }
    this.put(c);
  }
}

function data(fill: number, bs = 1024): Uint8Array {
  const b = new Uint8Array(bs);
  for (let i = 0; i < bs; i++) b[i] = (fill * 31 + i) & 0xff;
  return b;
}

async function rejects(p: Promise<unknown>, errno: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KernelError, `got ${String(e)}, want a KernelError`);
    assert.equal(e.errno, errno, `errno: got ${e.errno}, want ${errno}`);
    return true;
  });
}

function hasMessage(j: MemJournal, s: string): void {
  assert.ok(j.messages.some((m) => m.includes(s)), `messages: got ${JSON.stringify(j.messages)}, want one with "${s}"`);
}

function assertClean(j: MemJournal, nextSeq: number): void {
  assert.equal(L.be32(j.sb, L.S_START), 0, `s_start: got ${L.be32(j.sb, L.S_START)}, want 0`);
  assert.equal(L.be32(j.sb, L.S_SEQUENCE), nextSeq, `s_sequence: got ${L.be32(j.sb, L.S_SEQUENCE)}, want ${nextSeq}`);
  if (j.v23) assert.equal(L.be32(j.sb, L.S_CHECKSUM), superblockCsum(j.sb), 'superblock checksum not redone');
}

function assertDirty(j: MemJournal): void {
  assert.equal(j.sbWrites, 0, `superblock writes: got ${j.sbWrites}, want 0 (journal left dirty)`);
}

// ---------------------------------------------------------------- replay rules

for (const [name, incompat] of [
  ['csum v3, 64bit', V3 | B64 | REVOKE], ['csum v3, 32-bit', V3 | REVOKE], ['csum v2, 64bit', V2 | B64 | REVOKE],
  ['csum v2, 32-bit', V2], ['no csum, 64bit', B64 | REVOKE], ['no csum, 32-bit', 0],
] as const) {
  test(`replays committed transactions in order (${name})`, async () => {
    const j = new MemJournal({ incompat });
    j.descriptor(7, [{ nr: 100, data: data(1) }, { nr: 101, data: data(2) }]);
    j.commit(7);
    j.descriptor(8, [{ nr: 101, data: data(3) }, { nr: 102, data: data(4) }]);
    j.commit(8);
    j.descriptor(9, [{ nr: 103, data: data(5) }]); // never committed
    const r = await j.recover();
    assert.deepEqual({ t: r.transactions, n: r.replayedBlocks, end: r.endTransaction }, { t: 2, n: 4, end: 9 });
    assert.deepEqual(j.fs.get(100), data(1));
    assert.deepEqual(j.fs.get(101), data(3), 'block 101: got the older copy, want the later one');
    assert.deepEqual(j.fs.get(102), data(4));
    assert.equal(j.fs.has(103), false, 'block 103 of an uncommitted transaction was written');
    assertClean(j, 10);
  });
}

test('revoke: a revoke in the same or a later transaction hides older copies, not newer ones', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 200, data: data(1) }, { nr: 201, data: data(2) }, { nr: 202, data: data(3) }]);
  j.commit(7);
  j.revoke(8, [200]); // later than 7's copy: skip it
  j.descriptor(8, [{ nr: 203, data: data(4) }]);
  j.revoke(8, [203]); // same transaction: skip that copy too
  j.commit(8);
  const r = await j.recover();
  assert.equal(r.transactions, 2);
  assert.equal(j.fs.has(200), false, 'block 200 revoked by a later transaction was replayed');
  assert.equal(j.fs.has(203), false, 'block 203 revoked in its own transaction was replayed');
  assert.deepEqual([...j.fs.keys()].sort(), [201, 202]);
  assert.equal(r.revoked, 2);
  assert.equal(r.revokeRecords, 2);
});

test('revoke: a copy logged after the revoke is replayed', async () => {
  const j = new MemJournal();
  j.revoke(7, [300]);
  j.commit(7);
  j.descriptor(8, [{ nr: 300, data: data(9) }]);
  j.commit(8);
  const r = await j.recover();
  assert.deepEqual(j.fs.get(300), data(9));
  assert.equal(r.revoked, 0);
});

test('64-bit revoke records and 64-bit tags', async () => {
  const big = 0x1_0000_0005;
  const j = new MemJournal({ fsBlocks: 2 ** 40 });
  j.descriptor(7, [{ nr: big, data: data(1) }, { nr: big + 1, data: data(2) }]);
  j.revoke(7, [big + 1]);
  j.commit(7);
  await j.recover();
  assert.deepEqual([...j.fs.keys()], [big]);
});

test('an escaped block gets its magic back', async () => {
  const j = new MemJournal();
  const d = data(5);
  L.putBe32(d, 0, L.JBD2_MAGIC_NUMBER);
  j.descriptor(7, [{ nr: 50, data: d }]);
  j.commit(7);
  assert.equal(L.be32(j.blocks[2]!, 0), 0, 'fixture: the logged copy should be escaped');
  await j.recover();
  assert.deepEqual(j.fs.get(50), d);
});

test('a log that wraps from the end of the journal back to s_first', async () => {
  const j = new MemJournal({ len: 1024, start: 1020 });
  j.descriptor(7, [{ nr: 1, data: data(1) }, { nr: 2, data: data(2) }, { nr: 3, data: data(3) }]); // 1020..1023
  j.commit(7); // wraps to 1
  j.descriptor(8, [{ nr: 4, data: data(4) }]);
  j.commit(8);
  assert.equal(j.pos, 5);
  const r = await j.recover();
  assert.equal(r.transactions, 2);
  assert.deepEqual([...j.fs.keys()].sort(), [1, 2, 3, 4]);
  assert.deepEqual(j.fs.get(3), data(3));
});

test('transaction ids wrap at 2^32', async () => {
  const j = new MemJournal({ seq: 0xfffffffe });
  for (const tid of [0xfffffffe, 0xffffffff, 0, 1]) {
    j.descriptor(tid, [{ nr: 10 + (tid & 0xf), data: data(tid & 0xff) }]);
    j.commit(tid);
  }
  const r = await j.recover();
  assert.equal(r.transactions, 4);
  assert.equal(r.endTransaction, 2);
  assertClean(j, 3);
});

test('a clean journal (s_start 0) is not touched', async () => {
  const j = new MemJournal({ start: 0 });
  assert.equal(journalNeedsRecovery(j.sb), false);
  const r = await j.recover();
  assert.equal(r.transactions, 0);
  assert.equal(j.sbWrites + j.fs.size, 0);
});

test('journalNeedsRecovery', () => {
  const j = new MemJournal();
  assert.equal(journalNeedsRecovery(j.sb), true);
  const bad = j.sb.slice();
  bad[0] ^= 1;
  assert.equal(journalNeedsRecovery(bad), false);
  assert.equal(journalNeedsRecovery(new Uint8Array(10)), false);
});

test('dry run: every pass, no write', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7);
  const r = await j.recover({ readOnlyDryRun: true });
  assert.equal(r.replayedBlocks, 1);
  assert.equal(j.fs.size + j.sbWrites, 0, 'dry run wrote');
});

test('a commit block torn after its header is accepted (NOTICE)', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7, { partial: true });
  const r = await j.recover();
  assert.equal(r.transactions, 1);
  hasMessage(j, 'JBD2: Find incomplete commit block in transaction 7 block');
});

test('v1 transaction checksums (COMPAT_CHECKSUM)', async () => {
  for (const good of [true, false]) {
    const j = new MemJournal({ incompat: 0, compat: L.JBD2_FEATURE_COMPAT_CHECKSUM });
    j.descriptor(7, [{ nr: 100, data: data(1) }]);
    let sum = crc32Be(0xffffffff, j.blocks[1]!);
    sum = crc32Be(sum, j.blocks[2]!);
    j.commit(7, { v1sum: good ? sum : sum ^ 1 });
    j.descriptor(8, [{ nr: 101, data: data(2) }]);
    j.commit(8, { v1sum: crc32Be(crc32Be(0xffffffff, j.blocks[4]!), j.blocks[5]!) });
    if (good) {
      const r = await j.recover();
      assert.equal(r.transactions, 2);
      assert.deepEqual([...j.fs.keys()].sort(), [100, 101]);
    } else {
      await rejects(j.recover(), EUCLEAN);
      hasMessage(j, 'JBD2: journal transaction 7 on mem-8 is corrupt.');
      assertDirty(j);
    }
  }
});

// ---------------------------------------------------------------- corrupt journals

test('superblock: bad magic', async () => {
  const j = new MemJournal();
  j.sb[0] ^= 0xff;
  await rejects(j.recover(), EINVAL);
  hasMessage(j, 'JBD2: no valid journal superblock found');
});

test('superblock: block size differs from the device', async () => {
  const j = new MemJournal();
  L.putBe32(j.sb, L.S_BLOCKSIZE, 4096);
  j.resum();
  await rejects(j.recover(), EINVAL);
  hasMessage(j, 'JBD2: no valid journal superblock found');
});

test('superblock: unknown format, too short, bad s_first', async () => {
  const cases: [(j: MemJournal) => void, string][] = [
    [(j) => L.putBe32(j.sb, L.H_BLOCKTYPE, 9), 'JBD2: unrecognised superblock format ID'],
    [(j) => L.putBe32(j.sb, L.S_MAXLEN, 5000), 'JBD2: journal file too short'],
    [(j) => L.putBe32(j.sb, L.S_FIRST, 0), 'JBD2: Invalid start block of journal: 0'],
    [(j) => L.putBe32(j.sb, L.S_MAXLEN, 1000), 'JBD2: journal file too short 1000,0'],
    [(j) => { j.sb[L.S_CHECKSUM_TYPE] = 1; }, 'JBD2: Unknown checksum type'],
    [(j) => L.putBe32(j.sb, L.S_FEATURE_INCOMPAT, V2 | V3), "JBD2: Can't enable checksumming v2 and v3 at the same time!"],
    [(j) => L.putBe32(j.sb, L.S_FEATURE_COMPAT, 1), "JBD2: Can't enable checksumming v1 and v2/3 at the same time!"],
  ];
  for (const [edit, msg] of cases) {
    const j = new MemJournal();
    edit(j);
    j.resum();
    await rejects(j.recover(), EINVAL);
    hasMessage(j, msg);
  }
});

test('superblock: unknown incompat feature refuses the journal', async () => {
  const j = new MemJournal();
  L.putBe32(j.sb, L.S_FEATURE_INCOMPAT, j.incompat | 0x100);
  j.resum();
  await rejects(j.recover(), EINVAL);
  hasMessage(j, 'JBD2: Unrecognised features on journal');
  assert.equal(j.fs.size + j.sbWrites, 0);
});

test('superblock: a V1 superblock ignores the feature words', async () => {
  const j = new MemJournal({ incompat: 0 });
  L.putBe32(j.sb, L.H_BLOCKTYPE, L.JBD2_SUPERBLOCK_V1);
  L.putBe32(j.sb, L.S_FEATURE_INCOMPAT, 0xffff0000);
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7);
  const r = await j.recover();
  assert.equal(r.transactions, 1);
});

test('superblock: bad s_checksum', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7);
  j.sb[L.S_CHECKSUM] ^= 0x40;
  await rejects(j.recover(), EBADMSG);
  hasMessage(j, 'JBD2: journal checksum error');
  assert.equal(j.fs.size, 0);
});

test('data block with a wrong tag checksum: skipped, the rest replayed, recovery fails', async () => {
  for (const incompat of [V3 | B64, V2]) {
    const j = new MemJournal({ incompat });
    j.descriptor(7, [{ nr: 100, data: data(1) }, { nr: 101, data: data(2), badCsum: true }, { nr: 102, data: data(3) }]);
    j.commit(7);
    await rejects(j.recover(), EBADMSG);
    hasMessage(j, 'JBD2: Invalid checksum recovering data block 101 in journal block 3');
    hasMessage(j, 'JBD2: journal recovery failed');
    assert.deepEqual([...j.fs.keys()].sort(), [100, 102]);
    assertDirty(j);
  }
});

test('commit block with a wrong checksum: earlier transactions replayed, then EUCLEAN', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7);
  j.descriptor(8, [{ nr: 101, data: data(2) }]);
  j.commit(8, { badCsum: true });
  j.descriptor(9, [{ nr: 102, data: data(3) }]);
  j.commit(9);
  await rejects(j.recover(), EUCLEAN);
  hasMessage(j, 'JBD2: journal transaction 8 on mem-8 is corrupt.');
  assert.deepEqual([...j.fs.keys()], [100]);
  assertDirty(j);
});

test('commit block with a wrong checksum, async commit: scanning goes on', async () => {
  const j = new MemJournal({ incompat: V3 | B64 | ASYNC });
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7, { badCsum: true });
  j.descriptor(8, [{ nr: 101, data: data(2) }]);
  j.commit(8);
  const r = await j.recover();
  // Linux: end_transaction stays at the failed commit, so only the transactions before it replay.
  assert.equal(r.endTransaction, 7);
  assert.equal(j.fs.size, 0);
  assertClean(j, 8);
});

test('commit block with a wrong checksum and an older time: stale log, ends quietly', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7, { sec: 5000 });
  j.descriptor(8, [{ nr: 101, data: data(2) }]);
  j.commit(8, { sec: 10, badCsum: true });
  const r = await j.recover();
  assert.equal(r.transactions, 1);
  assert.deepEqual([...j.fs.keys()], [100]);
  assertClean(j, 9);
});

test('descriptor with a wrong checksum followed by a newer commit: EBADMSG, nothing written', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7);
  j.descriptor(8, [{ nr: 101, data: data(2) }], { badDescCsum: true });
  j.commit(8);
  await rejects(j.recover(), EBADMSG);
  hasMessage(j, 'JBD2: Invalid checksum found in transaction 8');
  assert.equal(j.fs.size, 0);
  assertDirty(j);
});

test('descriptor with a wrong checksum followed by an older commit: stale, ends the log', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.commit(7, { sec: 9000 });
  j.descriptor(8, [{ nr: 101, data: data(2) }], { badDescCsum: true });
  j.commit(8, { sec: 3 });
  const r = await j.recover();
  assert.equal(r.transactions, 1);
  assert.deepEqual([...j.fs.keys()], [100]);
});

test('revoke block claiming a huge r_count: EINVAL before any replay', async () => {
  for (const incompat of [V3 | B64 | REVOKE, REVOKE]) {
    const j = new MemJournal({ incompat });
    j.descriptor(7, [{ nr: 100, data: data(1) }]);
    j.revoke(7, [5], { rcount: 0xfffffff0 });
    j.commit(7);
    await rejects(j.recover(), EINVAL);
    hasMessage(j, 'JBD2: journal recovery failed');
    assert.equal(j.fs.size, 0);
    assertDirty(j);
  }
});

test('revoke block with a wrong checksum followed by a newer commit: EBADMSG', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }]);
  j.revoke(7, [5], { badCsum: true });
  j.commit(7);
  await rejects(j.recover(), EBADMSG);
  hasMessage(j, 'JBD2: Invalid checksum found in transaction 7');
});

test('a transaction that never commits and fills the whole log: stops after one lap', async () => {
  for (const kind of ['descriptors', 'revokes']) {
    const j = new MemJournal({ len: 1024, seq: 8 });
    // Transaction 8 fills every block of the log and comes back round to itself: Linux would
    // walk it forever.
    do {
      if (kind === 'revokes' || j.pos === 1023) j.revoke(8, [9]);
      else j.descriptor(8, [{ nr: 101, data: data(2) }]);
    } while (j.pos !== 1);
    const t0 = Date.now();
    const r = await j.recover();
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(r.transactions, 0);
    assert.equal(j.fs.size, 0);
    hasMessage(j, 'JBD2: log wraps onto itself');
    assertClean(j, 9);
  }
});

test('an uncommitted transaction that jumps back into itself: the committed ones replay, then it stops', async () => {
  const j = new MemJournal({ len: 1024 });
  j.descriptor(7, [{ nr: 100, data: data(1) }]); // 1, 2
  j.commit(7); // 3
  while (j.pos !== 1022) j.revoke(8, [9]); // 4..1021
  // A descriptor at 1022 whose five data blocks (1023, 1..4) skip over transaction 7.
  const d = j.header(L.JBD2_DESCRIPTOR_BLOCK, 8);
  for (let i = 0, p = 12; i < 5; i++, p += 16) {
    L.putBe32(d, p + L.TAG_BLOCKNR, 50 + i);
    L.putBe32(d, p + L.TAG3_FLAGS, L.JBD2_FLAG_SAME_UUID | (i === 4 ? L.JBD2_FLAG_LAST_TAG : 0));
  }
  L.putBe32(d, 1020, descriptorBlockCsum(j.seed, d));
  j.blocks[1022] = d;
  const r = await j.recover();
  assert.equal(r.transactions, 1);
  assert.deepEqual([...j.fs.keys()], [100]);
  hasMessage(j, 'JBD2: log wraps onto itself at block 6 in transaction 8');
  assertClean(j, 9);
});

test('a descriptor whose data blocks run over the end of the log wraps with them', async () => {
  const j = new MemJournal({ len: 1024, start: 1022, incompat: 0 });
  // A descriptor with no LAST_TAG: every slot counts as a tag (127 with 8-byte tags + UUIDs...).
  const d = j.header(L.JBD2_DESCRIPTOR_BLOCK, 7);
  for (let p = 12; p + 8 <= 1024; p += 8) L.putBe16(d, p + L.TAG_FLAGS, L.JBD2_FLAG_SAME_UUID);
  j.blocks[1022] = d;
  L.putBe32(j.sb, L.S_MAXLEN, 1024);
  j.resum();
  const r = await j.recover();
  // Linux skips the (never committed) data blocks and finds no transaction.
  assert.equal(r.transactions, 0);
});

test('read errors in the log: EIO with the block named', async () => {
  const j = new MemJournal();
  j.descriptor(7, [{ nr: 100, data: data(1) }, { nr: 101, data: data(2) }]);
  j.commit(7);
  j.readErrors.add(3);
  await rejects(j.recover(), EIO);
  hasMessage(j, 'JBD2: IO error -5 recovering block 3 in log');
  assert.deepEqual([...j.fs.keys()], [100]);
});

test('a block number beyond the device: the write fails, recovery fails with EIO', async () => {
  const j = new MemJournal({ fsBlocks: 1000 });
  j.descriptor(7, [{ nr: 5000, data: data(1) }, { nr: 10, data: data(2) }]);
  j.commit(7);
  await rejects(j.recover(), EIO);
  assert.deepEqual([...j.fs.keys()], [10]);
  assertDirty(j);
});

test('s_start beyond the journal: EUCLEAN', async () => {
  const j = new MemJournal();
  L.putBe32(j.sb, L.S_START, 5000);
  j.resum();
  await rejects(j.recover(), EUCLEAN);
  hasMessage(j, 'JBD2: corrupted journal superblock');
});

test('random garbage in the log never throws anything but KernelError', async () => {
  let seed = 12345;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  for (let round = 0; round < 60; round++) {
    const incompat = [V3 | B64 | REVOKE, V2, 0, B64 | ASYNC][round % 4]!;
    const j = new MemJournal({ incompat, len: 1024, fsBlocks: 2 ** 40 });
    for (let t = 7; t < 12; t++) {
      j.descriptor(t, [{ nr: rnd() % 5000, data: data(t) }, { nr: rnd() % 5000, data: data(t + 1) }]);
      if (t % 2) j.revoke(t, [rnd() % 5000]);
      j.commit(t);
    }
    // Flip bytes anywhere in the log (headers included), keeping the superblock valid.
    for (let k = 0; k < 6; k++) {
      const blk = 1 + (rnd() % 20), off = rnd() % 1024;
      j.blocks[blk]![off] ^= 1 << (rnd() % 8);
    }
    try {
      await j.recover();
    } catch (e) {
      assert.ok(e instanceof KernelError, `round ${round}: got ${String(e)}, want a KernelError`);
    }
  }
});

test('RevokeTable keeps the newest revoking transaction', () => {
  const t = new RevokeTable();
  t.set(5, 10);
  t.set(5, 8);
  assert.equal(t.test(5, 10), true);
  assert.equal(t.test(5, 11), false);
  const w = new RevokeTable();
  w.set(5, 0xfffffff0);
  w.set(5, 2); // 2 comes after 0xfffffff0 once ids wrap
  assert.equal(w.test(5, 1), true, 'tid 1 copy: got replayed, want revoked by tid 2');
  assert.equal(w.test(5, 3), false, 'tid 3 copy: got revoked, want replayed');
});
