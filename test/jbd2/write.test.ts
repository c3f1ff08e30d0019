/*
 * Journals we write, replayed by the real thing.
 *
 * mkfs.ext4 makes an image and debugfs places a file in it; its data blocks are blocks no metadata
 * points into, so the journal may rewrite them with known patterns. A Jbd2Journal opened on the
 * image's journal inode (mapped with debugfs, test/jbd2/image.ts) runs transactions over them,
 * features set as ext4 sets them at mount (64bit, csum v3 with metadata_csum). Then either:
 *   - a crash: the journal object is dropped with committed but unchecked-pointed transactions in
 *     the log and one uncommitted, and the test sets needs_recovery as ext4 would have. e2fsck
 *     (-fy, and -E journal_only) replays it, our recoverJournal replays a copy (byte-identical to
 *     e2fsck's), the host kernel replays a third copy on a loop mount (root only), and every file
 *     block must hold the last committed pattern; `debugfs -R logdump` must walk every transaction;
 *   - a clean shutdown (destroy): the journal reads empty, e2fsck -fn is clean with no recovery.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, copyFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  Jbd2Journal, recoverJournal, jbd2Layout as L, type JournalDevice, type JournalClock,
} from '../../src/fs/jbd2/index.js';
import { have, run, runStatus, dumpe2fsHeader, imageJournal } from './image.js';
import { requireHost, withHostMount } from '../fixtures/host.js';

const tools = ['mkfs.ext4', 'debugfs', 'e2fsck', 'dumpe2fs'].every(have);
const SKIP = tools ? false : 'e2fsprogs (mkfs.ext4, debugfs, e2fsck, dumpe2fs) not installed';
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(base, 'jbd2w-'));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** A wall clock for commit times; no interval timer (these tests commit explicitly). */
const wallClock: JournalClock = {
  monotonicNs: () => Number(process.hrtime.bigint()),
  realtime: () => { const ms = Date.now(); return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }; },
  addTimer: (expires) => ({ expires, cancel() {}, pending: false }),
};

interface Image { img: string; bs: number; fileBlocks: number[]; features: string }

/** mkfs.ext4 + a file of `nblocks` random blocks placed by debugfs. */
function makeImage(dir: string, mkfs: string[], size: string, nblocks: number): Image {
  const img = join(dir, 'fs.img');
  run('mkfs.ext4', ['-F', '-q', ...mkfs, img, size]);
  const hdr = dumpe2fsHeader(img);
  const bs = Number(hdr.get('Block size'));
  const host = join(dir, 'payload');
  writeFileSync(host, randomBytes(nblocks * bs));
  run('debugfs', ['-w', '-R', `write ${host} f`, img]);
  const fileBlocks = run('debugfs', ['-R', 'blocks f', img]).trim().split(/\s+/).map(Number);
  assert.equal(fileBlocks.length, nblocks, `fixture: file blocks: got ${fileBlocks.length}, want ${nblocks}`);
  return { img, bs, fileBlocks, features: hdr.get('Filesystem features') ?? '' };
}

/** Open the journal as ext4's mount would: 64bit tags on a 64bit fs, csum v3 with metadata_csum. */
async function openJournal(dev: JournalDevice, features: string): Promise<Jbd2Journal> {
  const j = await Jbd2Journal.open(dev, { clock: wallClock });
  if (/\b64bit\b/.test(features)) j.setFeatures(0, 0, L.JBD2_FEATURE_INCOMPAT_64BIT);
  if (/metadata_csum/.test(features)) j.setFeatures(0, 0, L.JBD2_FEATURE_INCOMPAT_CSUM_V3);
  return j;
}

/** A recognisable block: pattern `gen` for block `nr`; `magic` makes it start with the jbd2 magic. */
function pattern(bs: number, gen: number, nr: number, magic = false): Uint8Array {
  const b = new Uint8Array(bs);
  for (let i = 0; i < bs; i++) b[i] = (gen * 37 + nr * 11 + i * 7 + (i >> 8)) & 0xff;
  if (magic) L.putBe32(b, 0, L.JBD2_MAGIC_NUMBER);
  return b;
}

function readBlock(img: string, bs: number, nr: number): Uint8Array {
  const fd = openSync(img, 'r');
  try {
    const b = new Uint8Array(bs);
    readSync(fd, b, 0, bs, nr * bs);
    return b;
  } finally { closeSync(fd); }
}

/** One transaction: blocks and their contents, revokes; committed unless `commit` is false. */
async function transaction(j: Jbd2Journal, blocks: [number, Uint8Array][], revokes: number[] = [], commit = true): Promise<void> {
  const h = await j.start(blocks.length, revokes.length);
  for (const [nr, data] of blocks) {
    j.getWriteAccess(h, nr);
    j.dirtyMetadata(h, nr, data);
  }
  for (const nr of revokes) j.revoke(h, nr);
  await j.stop(h);
  if (commit) await j.commit();
}

function setNeedsRecovery(img: string): void {
  run('debugfs', ['-w', '-R', 'feature needs_recovery', img]);
}

/** The blocks that differ between two images, but for the ext4 superblock (bytes 1024..2047). */
function differingBlocks(a: string, b: string, bs: number): number[] {
  const x = readFileSync(a), y = readFileSync(b);
  assert.equal(x.length, y.length);
  const out: number[] = [];
  for (let off = 0; off < x.length; off += bs) {
    for (let i = 0; i < bs; i++) {
      const abs = off + i;
      if (abs >= 1024 && abs < 2048) continue;
      if (x[abs] !== y[abs]) { out.push(off / bs); break; }
    }
  }
  return out;
}

function checkBlocks(img: string, bs: number, want: Map<number, Uint8Array>, who: string): void {
  const bad: number[] = [];
  for (const [nr, data] of want) if (!Buffer.from(readBlock(img, bs, nr)).equals(Buffer.from(data))) bad.push(nr);
  assert.deepEqual(bad, [], `${who}: blocks not holding their last committed content: got ${bad.length} (${bad.slice(0, 8).join(',')}), want none`);
}

function fsckClean(img: string, who: string): void {
  const r = runStatus('e2fsck', ['-fn', img]);
  assert.equal(r.status, 0, `${who}: e2fsck -fn exit: got ${r.status}, want 0\n${r.out}`);
}

/** debugfs logdump: per tid, the block types found, e.g. { 1: [1, 2], 2: [5, 2] }. */
function logdump(img: string): Map<number, number[]> {
  const out = run('debugfs', ['-R', 'logdump', img]);
  const m = new Map<number, number[]>();
  for (const x of out.matchAll(/Found expected sequence (\d+), type (\d+)/g)) {
    const tid = Number(x[1]);
    if (!m.has(tid)) m.set(tid, []);
    m.get(tid)!.push(Number(x[2]));
  }
  return m;
}

/**
 * Replay a crashed image four ways and check each: e2fsck -fy, e2fsck -E journal_only (against
 * which ours must be byte-identical), ours, and the host kernel (root).
 */
async function replayEverywhere(t: TestContext, dir: string, im: Image, want: Map<number, Uint8Array>): Promise<void> {
  const { img, bs } = im;
  setNeedsRecovery(img);
  const fy = join(dir, 'fy.img'), jo = join(dir, 'jo.img'), ours = join(dir, 'ours.img');
  copyFileSync(img, fy); copyFileSync(img, jo); copyFileSync(img, ours);

  const r1 = runStatus('e2fsck', ['-fy', fy]);
  assert.ok(r1.status === 0 || r1.status === 1, `e2fsck -fy exit: got ${r1.status}, want 0 or 1\n${r1.out}`);
  assert.doesNotMatch(r1.out, /Fix\? yes|Clear\? yes|checksum/i, `e2fsck -fy had to repair something:\n${r1.out}`);
  checkBlocks(fy, bs, want, 'e2fsck -fy');
  fsckClean(fy, 'after e2fsck -fy');

  const r2 = runStatus('e2fsck', ['-y', '-E', 'journal_only', jo]);
  assert.ok(r2.status === 0 || r2.status === 1, `e2fsck -E journal_only exit: got ${r2.status}\n${r2.out}`);
  checkBlocks(jo, bs, want, 'e2fsck -E journal_only');

  const dev = imageJournal(ours);
  try {
    await recoverJournal(dev, () => {});
  } finally { dev.close(); }
  assert.deepEqual(differingBlocks(ours, jo, bs), [], 'our replay vs e2fsck: differing blocks');
  checkBlocks(ours, bs, want, 'our recoverJournal');

  await t.test('host kernel replays it on a loop mount', async (st) => {
    if (!requireHost(st)) return;
    const host = join(dir, 'host.img');
    copyFileSync(img, host);
    await withHostMount(host, '', () => undefined);
    checkBlocks(host, bs, want, 'host kernel');
    fsckClean(host, 'after the host replay');
    rmSync(host, { force: true });
  });
  for (const f of [fy, jo, ours]) rmSync(f, { force: true });
}

const variants: { name: string; mkfs: string[]; size: string; spans: boolean }[] = [
  { name: '1k blocks, 64bit, metadata_csum (csum v3)', mkfs: ['-b', '1024'], size: '16M', spans: true },
  { name: '1k blocks, ^64bit', mkfs: ['-b', '1024', '-O', '^64bit'], size: '16M', spans: true },
  { name: '4k blocks, ^metadata_csum', mkfs: ['-b', '4096', '-O', '^metadata_csum'], size: '32M', spans: false },
  { name: '2k blocks, ^64bit,^metadata_csum', mkfs: ['-b', '2048', '-O', '^64bit,^metadata_csum'], size: '16M', spans: false },
];

for (const v of variants) {
  test(`crash after commits replays in e2fsck, ours and the host: ${v.name}`, { skip: SKIP }, (t) => withDir(async (dir) => {
    const N = 200;
    const im = makeImage(dir, v.mkfs, v.size, N);
    const f = im.fileBlocks, bs = im.bs;
    const want = new Map<number, Uint8Array>();
    for (const nr of f) want.set(nr, readBlock(im.img, bs, nr));
    const dev = imageJournal(im.img);
    const j = await openJournal(dev, im.features);

    // T1: ten blocks, one of which starts with the magic (escaped in the log).
    const t1 = f.slice(0, 10).map((nr, i) => [nr, pattern(bs, 1, nr, i === 3)] as [number, Uint8Array]);
    await transaction(j, t1);
    const tid1 = j.stats().commitSequence;
    // T2: rewrites five of them and revokes f[5], logged in T1: f[5] must keep its old content.
    const t2 = f.slice(0, 5).map((nr) => [nr, pattern(bs, 2, nr)] as [number, Uint8Array]);
    await transaction(j, t2, [f[5]!]);
    // T3: many blocks, several descriptor blocks with 1k/2k blocks.
    const t3 = f.slice(10, 190).map((nr, i) => [nr, pattern(bs, 3, nr, i % 50 === 7)] as [number, Uint8Array]);
    await transaction(j, t3);
    // T4: handles batched into one transaction, never committed: not replayed.
    const h1 = await j.start(2), h2 = await j.start(2);
    j.dirtyMetadata(h1, f[6]!, pattern(bs, 4, f[6]!));
    j.dirtyMetadata(h2, f[195]!, pattern(bs, 4, f[195]!));
    await j.stop(h1); await j.stop(h2);
    assert.equal(j.stats().running, (tid1 + 3) >>> 0, 'both handles in one running transaction');
    dev.close(); // crash: nothing checkpointed, nothing more written

    for (const [nr, d] of [...t1, ...t2, ...t3]) want.set(nr, d);
    want.set(f[5]!, readBlock(im.img, bs, f[5]!)); // revoked: the home copy, never overwritten
    assert.ok(!Buffer.from(want.get(f[5]!)!).equals(Buffer.from(t1[5]![1])));

    const tids = logdump(im.img);
    assert.deepEqual([...tids.keys()], [tid1, tid1 + 1, tid1 + 2], `logdump transactions: got ${[...tids.keys()]}`);
    assert.deepEqual(tids.get(tid1), [1, 2], `T1 blocks: got ${tids.get(tid1)}, want descriptor, commit`);
    assert.deepEqual(tids.get(tid1 + 1), [5, 1, 2], `T2 blocks: got ${tids.get(tid1 + 1)}, want revoke, descriptor, commit`);
    const t3types = tids.get(tid1 + 2)!;
    assert.equal(t3types.at(-1), 2);
    if (v.spans) assert.ok(t3types.filter((x) => x === 1).length >= 2, `T3 descriptors: got ${t3types}, want several`);
    assert.match(run('debugfs', ['-R', 'logdump -a', im.img]), new RegExp(`FS block ${f[3]} logged at journal block \\d+ \\(flags 0x(9|b|1|3)\\)`));

    await replayEverywhere(t, dir, im, want);
  }));
}

test('wrap-around: many transactions on a 1024-block journal, checkpoints, revokes, crash', { skip: SKIP }, (t) => withDir(async (dir) => {
  const N = 200;
  const im = makeImage(dir, ['-b', '1024', '-J', 'size=1'], '16M', N);
  const f = im.fileBlocks, bs = im.bs;
  const want = new Map<number, Uint8Array>();
  for (const nr of f) want.set(nr, readBlock(im.img, bs, nr));
  const dev = imageJournal(im.img);
  const journalWrites: number[] = [];
  const wj = dev.writeJournalBlock.bind(dev);
  dev.writeJournalBlock = async (n, d) => { journalWrites.push(n); return wj(n, d); };
  const j = await openJournal(dev, im.features);
  const { first, last, maxTransactionBuffers } = j.stats();
  assert.equal(maxTransactionBuffers, 256);
  let seed = 1;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let gen = 1; gen <= 45; gen++) {
    const blocks = new Map<number, Uint8Array>();
    const start = rnd(N - 40);
    for (let i = 0; i < 30; i++) {
      const nr = f[start + i]!;
      blocks.set(nr, pattern(bs, gen, nr, rnd(20) === 0));
    }
    // Now and then revoke a block that is not part of this transaction.
    const revokes: number[] = [];
    if (gen % 4 === 0) {
      const r = f[(start + 35) % N]!;
      if (!blocks.has(r)) revokes.push(r);
    }
    for (const r of revokes) want.set(r, readBlock(im.img, bs, r)); // the home copy stays (see checkpoint.ts)
    await transaction(j, [...blocks], revokes);
    for (const [nr, d] of blocks) want.set(nr, d);
  }
  // One more, uncommitted.
  await transaction(j, [[f[0]!, pattern(bs, 99, f[0]!)]], [], false);
  const st = j.stats();
  dev.close();
  const wrapped = journalWrites.filter((n) => n !== 0);
  assert.ok(wrapped.length > last - first, `log blocks written: got ${wrapped.length}, want more than the log (${last - first})`);
  assert.ok(new Set(wrapped).size < wrapped.length, 'no journal block reused: the log did not wrap');
  assert.ok(dev.fsWrites.size > 0, 'checkpoint wrote nothing home');
  assert.notEqual(st.tail, first, 'tail never moved');
  // The transactions left to replay run from near the end of the journal round to its start.
  assert.ok(st.head < st.tail, `live log: got tail ${st.tail}, head ${st.head}, want it to wrap (head < tail)`);
  const tids = logdump(im.img);
  assert.ok(tids.size >= 2, `logdump: got ${tids.size} transactions in the log, want several`);
  await replayEverywhere(t, dir, im, want);
}));

test('clean destroy: checkpointed home, journal empty, e2fsck -fn clean, nothing to replay', { skip: SKIP }, (t) => withDir(async (dir) => {
  const im = makeImage(dir, ['-b', '1024'], '16M', 100);
  const f = im.fileBlocks, bs = im.bs;
  const seqBefore = Number(dumpe2fsHeader(im.img).get('Journal sequence'));
  const dev = imageJournal(im.img);
  const j = await openJournal(dev, im.features);
  const want = new Map<number, Uint8Array>();
  for (let gen = 1; gen <= 3; gen++) {
    const blocks = f.slice(gen * 10, gen * 10 + 40).map((nr) => [nr, pattern(bs, gen, nr, nr % 9 === 0)] as [number, Uint8Array]);
    await transaction(j, blocks, [], gen !== 3); // the last one is committed by destroy()
    for (const [nr, d] of blocks) want.set(nr, d);
  }
  await j.destroy();
  dev.close();
  const hdr = dumpe2fsHeader(im.img);
  assert.equal(hdr.get('Journal start'), '0', `journal start: got ${hdr.get('Journal start')}, want 0`);
  // Three transactions used, and destroy() skips one more tid, as Linux does.
  assert.equal(Number(hdr.get('Journal sequence')), seqBefore + 4, `journal sequence: got ${hdr.get('Journal sequence')}, want ${seqBefore + 4}`);
  assert.match(hdr.get('Journal features') ?? '', /journal_64bit/);
  assert.match(hdr.get('Journal features') ?? '', /journal_checksum_v3/);
  assert.doesNotMatch(hdr.get('Filesystem features') ?? '', /needs_recovery/);
  checkBlocks(im.img, bs, want, 'after destroy');
  fsckClean(im.img, 'after destroy');
  const again = imageJournal(im.img);
  try {
    const r = await recoverJournal(again, () => {});
    assert.equal(r.transactions, 0, `our recovery after destroy: got ${r.transactions} transactions, want 0`);
  } finally { again.close(); }
  await t.test('host kernel mounts it without a replay', async (st) => {
    if (!requireHost(st)) return;
    const host = join(dir, 'host.img');
    copyFileSync(im.img, host);
    await withHostMount(host, '', () => undefined);
    checkBlocks(host, bs, want, 'host kernel');
    fsckClean(host, 'after a host mount');
  });
}));
