/*
 * Handles that grow (jbd2_journal_extend) and the journal's memory under mem=.
 *
 * ext4's data=journal logs every file data block a write touches, more than the handle asked for
 * at start: extend() lets the running transaction grow past the soft maximum (a quarter of the
 * log) while the log can still hold it, checkpointing committed transactions to make room, and
 * says no when even an empty log could not. The frozen copies a commit makes are charged to the
 * MemoryBudget; when that overdraws it, the commit thread checkpoints at once and the charge goes
 * back to zero. The real thing checks the log: e2fsck replays the oversized transaction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Jbd2Journal, jbd2Layout as L, type JournalDevice } from '../../src/fs/jbd2/index.js';
import { MemoryBudget } from '../../src/mm/index.js';
import { have, run, runStatus, dumpe2fsHeader, imageJournal } from './image.js';

const tools = ['mkfs.ext4', 'debugfs', 'e2fsck', 'dumpe2fs'].every(have);
const SKIP = tools ? false : 'e2fsprogs (mkfs.ext4, debugfs, e2fsck, dumpe2fs) not installed';
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

async function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(base, 'jbd2x-'));
  try { return await f(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** mkfs.ext4 -b 1024 -J size=1 (a 1024-block log, soft maximum 256) and a file of `n` blocks. */
function makeImage(dir: string, n: number): { img: string; bs: number; blocks: number[]; features: string } {
  const img = join(dir, 'fs.img');
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-J', 'size=1', img, '16M']);
  const hdr = dumpe2fsHeader(img);
  const bs = Number(hdr.get('Block size'));
  const payload = join(dir, 'payload');
  writeFileSync(payload, new Uint8Array(n * bs).fill(0x5a));
  run('debugfs', ['-w', '-R', `write ${payload} f`, img]);
  const blocks = run('debugfs', ['-R', 'blocks f', img]).trim().split(/\s+/).map(Number);
  assert.equal(blocks.length, n, `fixture: file blocks: got ${blocks.length}, want ${n}`);
  return { img, bs, blocks, features: hdr.get('Filesystem features') ?? '' };
}

async function open(dev: JournalDevice, features: string, mem?: MemoryBudget): Promise<Jbd2Journal> {
  const j = await Jbd2Journal.open(dev, mem ? { mem } : {});
  if (/\b64bit\b/.test(features)) j.setFeatures(0, 0, L.JBD2_FEATURE_INCOMPAT_64BIT);
  if (/metadata_csum/.test(features)) j.setFeatures(0, 0, L.JBD2_FEATURE_INCOMPAT_CSUM_V3);
  return j;
}

function pattern(bs: number, gen: number, nr: number): Uint8Array {
  const b = new Uint8Array(bs);
  for (let i = 0; i < bs; i++) b[i] = (gen * 37 + nr * 11 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

function readBlock(img: string, bs: number, nr: number): Uint8Array {
  const fd = openSync(img, 'r');
  try { const b = new Uint8Array(bs); readSync(fd, b, 0, bs, nr * bs); return b; } finally { closeSync(fd); }
}

/** Dirty `blocks` in one handle started with `credits`, extending by 16 whenever it runs dry. */
async function growingHandle(j: Jbd2Journal, credits: number, blocks: [number, Uint8Array][]): Promise<number> {
  const h = await j.start(credits);
  let extends_ = 0;
  for (const [nr, d] of blocks) {
    if (h.credits <= 0) { assert.ok(await j.extend(h, 16), `extend at block ${nr}: got refused, want room`); extends_++; }
    j.getWriteAccess(h, nr);
    j.dirtyMetadata(h, nr, d);
  }
  await j.stop(h);
  return extends_;
}

test('extend: one handle grows to 600 blocks past a 256-block maximum, commits, and e2fsck replays all of it', { skip: SKIP }, () => withDir(async (dir) => {
  const im = makeImage(dir, 600);
  const dev = imageJournal(im.img);
  const j = await open(dev, im.features);
  assert.equal(j.maxTransactionBuffers, 256, `max transaction: got ${j.maxTransactionBuffers}, want 256`);
  // More than even an empty log could hold: refused, and the handle stays usable.
  const h = await j.start(1);
  assert.equal(await j.extend(h, 5000), false, 'extend by 5000 blocks on a 1024-block log: got true, want false');
  j.getWriteAccess(h, im.blocks[0]!);
  j.dirtyMetadata(h, im.blocks[0]!, pattern(im.bs, 0, im.blocks[0]!));
  await j.stop(h);
  const want = im.blocks.map((nr): [number, Uint8Array] => [nr, pattern(im.bs, 1, nr)]);
  const n = await growingHandle(j, 10, want);
  assert.ok(n > 30, `extensions: got ${n}, want the handle to have grown many times`);
  await j.commit();
  assert.equal(j.stats().running, null, 'a transaction is still running after the commit');
  // Crash here: the transaction is only in the log (nothing was checkpointed).
  assert.equal(dev.fsWrites.size, 0, `home writes before any checkpoint: got ${dev.fsWrites.size}, want 0`);
  dev.close();
  run('debugfs', ['-w', '-R', 'feature needs_recovery', im.img]);
  const copy = join(dir, 'fsck.img');
  copyFileSync(im.img, copy);
  const fix = runStatus('e2fsck', ['-fy', copy]);
  assert.ok(fix.status === 0 || fix.status === 1, `e2fsck -fy: got exit ${fix.status}, want 0 or 1\n${fix.out}`);
  const bad = want.filter(([nr, d]) => !Buffer.from(readBlock(copy, im.bs, nr)).equals(Buffer.from(d))).map(([nr]) => nr);
  assert.deepEqual(bad, [], `blocks e2fsck's replay left without the committed pattern: got ${bad.length}, want none`);
  const again = runStatus('e2fsck', ['-fn', copy]);
  assert.equal(again.status, 0, `e2fsck -fn after replay: got exit ${again.status}, want 0\n${again.out}`);
}));

test('extend makes room by checkpointing committed transactions', { skip: SKIP }, () => withDir(async (dir) => {
  const im = makeImage(dir, 900);
  const dev = imageJournal(im.img);
  const j = await open(dev, im.features);
  // Three committed transactions of 200 blocks leave about 350 log blocks free.
  for (let t = 0; t < 3; t++) {
    await growingHandle(j, 200, im.blocks.slice(t * 200, t * 200 + 200).map((nr) => [nr, pattern(im.bs, 2, nr)]));
    await j.commit();
  }
  const before = j.stats();
  assert.ok(before.checkpointTransactions >= 1, `committed transactions waiting for a checkpoint: got ${before.checkpointTransactions}, want some`);
  // A handle that then needs 600 blocks: only a checkpoint can give the log that much.
  await growingHandle(j, 10, im.blocks.slice(300, 900).map((nr) => [nr, pattern(im.bs, 3, nr)]));
  const after = j.stats();
  assert.notEqual(after.tail, before.tail, `log tail: got ${after.tail}, want it moved from ${before.tail} by a checkpoint`);
  assert.ok(dev.fsWrites.size > 0, 'checkpoint wrote nothing home');
  await j.destroy();
  dev.close();
  const bad: number[] = [];
  for (const [i, nr] of im.blocks.entries()) {
    const d = pattern(im.bs, i >= 300 ? 3 : 2, nr);
    if (!Buffer.from(readBlock(im.img, im.bs, nr)).equals(Buffer.from(d))) bad.push(nr);
  }
  assert.deepEqual(bad, [], `blocks not home with their last content after destroy: got ${bad.length}, want none`);
}));

test('mem=: frozen copies are charged; an overdrawn budget makes the commit checkpoint at once', { skip: SKIP }, () => withDir(async (dir) => {
  const im = makeImage(dir, 200);
  // Plenty of memory: the copies stay charged until the checkpoint.
  const roomy = new MemoryBudget(64 << 20, 0);
  let dev = imageJournal(im.img);
  let j = await open(dev, im.features, roomy);
  await growingHandle(j, 100, im.blocks.slice(0, 100).map((nr) => [nr, pattern(im.bs, 4, nr)]));
  await j.commit();
  assert.equal(roomy.pages('buffers'), 25, `buffers after committing 100 1 KiB blocks: got ${roomy.pages('buffers')} pages, want 25`);
  assert.equal(dev.fsWrites.size, 0, 'a roomy budget checkpointed early');
  await j.checkpoint();
  assert.equal(roomy.pages('buffers'), 0, `buffers after the checkpoint: got ${roomy.pages('buffers')}, want 0`);
  await j.destroy();
  dev.close();
  // 16 pages of budget: committing 200 blocks (50 pages) overdraws it; the commit thread
  // checkpoints right away and the charge returns.
  const tight = new MemoryBudget(16 * 4096, 0);
  dev = imageJournal(im.img);
  j = await open(dev, im.features, tight);
  await growingHandle(j, 200, im.blocks.map((nr) => [nr, pattern(im.bs, 5, nr)]));
  await j.commit();
  for (let i = 0; i < 1000 && tight.pages('buffers') > 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(tight.pages('buffers'), 0, `buffers after an overdrawing commit: got ${tight.pages('buffers')} pages, want 0 (checkpointed)`);
  assert.ok(tight.freePages >= 0, `free pages: got ${tight.freePages}, want no overdraft`);
  assert.equal(dev.fsWrites.size, 200, `blocks checkpointed home without being asked: got ${dev.fsWrites.size}, want 200`);
  await j.destroy();
  dev.close();
}));
