/*
 * Journal replay against the real thing: e2fsck (and the host kernel) are the oracle.
 *
 * Recipes: mkfs.ext4 makes a small image; debugfs writes journal transactions into it
 * (journal_open / journal_write / journal_close), or the host kernel leaves a dirty journal behind
 * (loop mount, write, sync, copy the image while still mounted; root only). Each dirty image is
 * copied twice: our recoverJournal() replays one through a JournalDevice mapped with
 * `debugfs -R 'blocks <8>'`, e2fsck replays the other (`e2fsck -y -E journal_only`: the replay
 * without the repairs a full check would add, e.g. free counts the kernel had not yet written).
 * Both images must then be byte-identical everywhere but the ext4 superblock (e2fsck also clears
 * needs_recovery there; that is ext4's part, not jbd2's), the journal must read clean at the same
 * sequence, and a full `e2fsck -fn` on ours (with needs_recovery cleared as ext4 would) must
 * find nothing wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, copyFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { recoverJournal, jbd2Layout as L, jbd2SuperblockCsum } from '../../src/fs/jbd2/index.js';
import { KernelError } from '../../src/lib/errors.js';
import { EBADMSG } from '../../src/uapi/errno.js';
import { have, run, runStatus, dumpe2fsHeader, imageJournal, journalBlocks } from './image.js';

const tools = ['mkfs.ext4', 'debugfs', 'e2fsck', 'dumpe2fs'].every(have);
const SKIP = tools ? false : 'e2fsprogs (mkfs.ext4, debugfs, e2fsck, dumpe2fs) not installed';

const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(base, 'jbd2-'));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function mkfs(img: string, args: string[], size: string): void {
  run('mkfs.ext4', ['-F', '-q', ...args, img, size]);
}

/** Run debugfs commands in one session (journal_open ... journal_close must share one). */
function debugfsScript(dir: string, img: string, cmds: string[]): void {
  const f = join(dir, 'cmds');
  writeFileSync(f, cmds.join('\n') + '\n');
  const r = runStatus('debugfs', ['-w', '-f', f, img]);
  assert.equal(r.status, 0, `debugfs failed: ${r.out}`);
}

function dataFile(dir: string, name: string, bytes: number, first4?: number[]): string {
  const b = randomBytes(bytes);
  if (first4) for (let i = 0; i < 4; i++) b[i] = first4[i]!;
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
}

interface Outcome { ours: Awaited<ReturnType<typeof recoverJournal>>; messages: string[]; written: number[] }

/**
 * Replay `img` both ways and compare. Returns what ours did. With `expectErrno`, our recovery must
 * fail with it (Linux then leaves the journal dirty, while e2fsck resets it: the journal
 * superblock is left out of the comparison).
 */
async function replayBothWays(dir: string, img: string, expectErrno?: number): Promise<Outcome> {
  const ours = join(dir, 'ours.img'), theirs = join(dir, 'e2fsck.img');
  copyFileSync(img, ours);
  copyFileSync(img, theirs);
  const hdrBefore = dumpe2fsHeader(img);
  assert.notEqual(hdrBefore.get('Journal start'), '0', 'fixture: want a dirty journal, got Journal start 0');

  const dev = imageJournal(ours);
  const messages: string[] = [];
  let res: Awaited<ReturnType<typeof recoverJournal>> | undefined;
  try {
    res = await recoverJournal(dev, (_l, m) => messages.push(m));
  } catch (e) {
    if (expectErrno === undefined) throw e;
    assert.ok(e instanceof KernelError && e.errno === expectErrno, `got ${String(e)}, want errno ${expectErrno}`);
  } finally {
    dev.close();
  }
  if (expectErrno !== undefined) assert.equal(res, undefined, `recovery: got success, want errno ${expectErrno}`);
  const jsbBlock = journalBlocks(ours)[0]!;
  const fsck = runStatus('e2fsck', ['-y', '-E', 'journal_only', theirs]);
  assert.ok(fsck.status === 0 || fsck.status === 1, `e2fsck -fy exit ${fsck.status}: ${fsck.out}`);

  // Byte-identical but for the ext4 superblock (bytes 1024..2047).
  const a = readFileSync(ours), b = readFileSync(theirs);
  assert.equal(a.length, b.length);
  const bs = dev.blockSize;
  const differ: number[] = [];
  for (let off = 0; off < a.length; off += bs) {
    const x = a.subarray(off, off + bs), y = b.subarray(off, off + bs);
    if (x.equals(y)) continue;
    // The ext4 superblock lives at byte 1024 whatever the block size.
    let same = true;
    for (let i = 0; i < bs; i++) {
      const abs = off + i;
      if (abs >= 1024 && abs < 2048) continue;
      if (x[i] !== y[i]) { same = false; break; }
    }
    if (!same && !(expectErrno !== undefined && off / bs === jsbBlock)) differ.push(off / bs);
  }
  assert.deepEqual(differ, [], `blocks differing from e2fsck's replay: got ${differ.join(',')}, want none`);

  const written = [...dev.fsWrites.keys()].sort((x, y) => x - y);
  if (expectErrno !== undefined) return { ours: res!, messages, written };

  // The journal ends clean, at the same sequence as e2fsck leaves it.
  const hOurs = dumpe2fsHeader(ours), hTheirs = dumpe2fsHeader(theirs);
  assert.equal(hOurs.get('Journal start'), '0', `journal start: got ${hOurs.get('Journal start')}, want 0`);
  assert.equal(hOurs.get('Journal sequence'), hTheirs.get('Journal sequence'),
    `journal sequence: got ${hOurs.get('Journal sequence')}, want ${hTheirs.get('Journal sequence')}`);

  // e2fsck -fn on ours once needs_recovery is cleared (ext4's job after a successful replay).
  run('debugfs', ['-w', '-R', 'feature ^needs_recovery', ours]);
  const check = runStatus('e2fsck', ['-fn', ours]);
  assert.equal(check.status, 0, `e2fsck -fn on our replay: got exit ${check.status}, want 0\n${check.out}`);
  return { ours: res!, messages, written };
}

/**
 * Move the whole circular log area forward by `shift` blocks (mod its length) and move s_start
 * with it, so a log written at the start of the journal now wraps from the end to s_first.
 */
async function rotateLog(img: string, shift: number): Promise<void> {
  const dev = imageJournal(img);
  try {
    const sb = await dev.readBlock(0);
    const first = L.be32(sb, L.S_FIRST), maxlen = L.be32(sb, L.S_MAXLEN), start = L.be32(sb, L.S_START);
    const len = maxlen - first;
    const old: Uint8Array[] = [];
    for (let i = first; i < maxlen; i++) old.push(await dev.readBlock(i));
    for (let i = 0; i < len; i++) await dev.writeJournalBlock(first + ((i + shift) % len), old[i]!);
    const nsb = sb.slice();
    L.putBe32(nsb, L.S_START, first + ((start - first + shift) % len));
    if (L.be32(nsb, L.S_FEATURE_INCOMPAT) & (L.JBD2_FEATURE_INCOMPAT_CSUM_V2 | L.JBD2_FEATURE_INCOMPAT_CSUM_V3))
      L.putBe32(nsb, L.S_CHECKSUM, jbd2SuperblockCsum(nsb));
    await dev.writeJournalBlock(0, nsb);
  } finally {
    dev.close();
  }
}

/** The debugfs transaction script most cases use: two writes, a revoke, a rewrite, an uncommitted tail. */
function standardScript(dir: string, openArgs: string, blocks: number[]): string[] {
  const [b0, b1, b2, b3] = blocks;
  const d2 = dataFile(dir, 'd2', 8 * 65536);
  const d1 = dataFile(dir, 'd1', 8 * 65536);
  return [
    `jo ${openArgs}`,
    `jw -b ${b0},${b1} ${d1}`, // transaction 1
    `jw -r ${b0}`, // transaction 2 revokes b0: its copy in 1 is not replayed
    `jw -b ${b2} ${d2}`, // 3
    `jw -b ${b1} ${d2}`, // 4 rewrites b1: the later copy wins
    `jw -b ${b3} -c ${d1}`, // 5, never committed: not replayed
    'jc',
  ];
}

const cases: { name: string; mkfs: string[]; size: string; open: string; blocks: number[]; features: RegExp }[] = [
  { name: 'csum v3, 64bit, 1k blocks', mkfs: ['-b', '1024'], size: '8M', open: '-c', blocks: [7000, 7001, 7002, 7003],
    features: /journal_checksum_v3/ },
  { name: 'no checksums, 4k blocks (^metadata_csum)', mkfs: ['-O', '^metadata_csum', '-b', '4096'], size: '32M', open: '',
    blocks: [7000, 7001, 7002, 7003], features: /^(?!.*checksum).*$/ },
  { name: 'csum v3, 32-bit tags (^64bit)', mkfs: ['-O', '^64bit', '-b', '1024'], size: '8M', open: '-c',
    blocks: [7100, 7101, 7102, 7103], features: /journal_checksum_v3/ },
  { name: 'csum v2', mkfs: ['-b', '2048'], size: '8M', open: '-c -v 2', blocks: [3500, 3501, 3502, 3503],
    features: /journal_checksum_v2/ },
];

for (const c of cases) {
  test(`debugfs transactions replay like e2fsck: ${c.name}`, { skip: SKIP }, () => withDir(async (dir) => {
    const img = join(dir, 'src.img');
    mkfs(img, c.mkfs, c.size);
    debugfsScript(dir, img, standardScript(dir, c.open, c.blocks));
    const feat = dumpe2fsHeader(img).get('Journal features') ?? '';
    assert.match(feat, c.features, `journal features: got "${feat}"`);
    const out = await replayBothWays(dir, img);
    const [b0, b1, b2] = c.blocks;
    assert.equal(out.ours.transactions, 4, `transactions: got ${out.ours.transactions}, want 4`);
    assert.equal(out.ours.revoked, 1, `revoked: got ${out.ours.revoked}, want 1`);
    assert.deepEqual(out.written, [b1, b2], `blocks written: got ${out.written}, want ${[b1, b2]}`);
    assert.ok(!out.written.includes(b0!));
  }));
}

test('an escaped block (data starting with the jbd2 magic) gets its magic back', { skip: SKIP }, () => withDir(async (dir) => {
  const img = join(dir, 'src.img');
  mkfs(img, ['-b', '1024'], '8M');
  const esc = dataFile(dir, 'esc', 1024, [0xc0, 0x3b, 0x39, 0x98]);
  debugfsScript(dir, img, ['jo -c', `jw -b 7400 ${esc}`, 'jc']);
  assert.match(run('debugfs', ['-R', 'logdump -a', img]), /FS block 7400 logged at journal block \d+ \(flags 0x9\)/);
  const out = await replayBothWays(dir, img);
  assert.deepEqual(out.written, [7400]);
  const got = readFileSync(join(dir, 'ours.img')).subarray(7400 * 1024, 7400 * 1024 + 1024);
  assert.ok(got.equals(readFileSync(esc)), 'block 7400: got something else, want the escaped data with its magic');
}));

for (const open of ['-c', '']) {
  test(`a log that wraps from the end of the journal to s_first (${open ? 'csum v3' : 'no csum'})`, { skip: SKIP }, () => withDir(async (dir) => {
    const img = join(dir, 'src.img');
    mkfs(img, ['-b', '1024', ...(open ? [] : ['-O', '^metadata_csum'])], '8M');
    debugfsScript(dir, img, standardScript(dir, open, [7000, 7001, 7002, 7003]));
    const sb = readJournalSb(img);
    const len = L.be32(sb, L.S_MAXLEN) - L.be32(sb, L.S_FIRST);
    await rotateLog(img, len - 3); // the log now starts 3 blocks before the end
    assert.match(run('debugfs', ['-R', 'logdump', img]), /Journal starts at block \d{3,}/);
    const out = await replayBothWays(dir, img);
    assert.equal(out.ours.transactions, 4);
    assert.deepEqual(out.written, [7001, 7002]);
  }));
}

test('a logged block with a bad checksum: skipped by both, the others replayed, ours fails', { skip: SKIP }, () => withDir(async (dir) => {
  const img = join(dir, 'src.img');
  mkfs(img, ['-b', '1024'], '8M');
  debugfsScript(dir, img, ['jo -c', `jw -b 7000,7001,7002 ${dataFile(dir, 'd', 3072)}`, 'jc']);
  // Journal block 3 holds the copy of 7001 (descriptor at 1): flip one byte of it.
  const phys = journalBlocks(img)[3]!;
  const buf = readFileSync(img);
  buf[phys * 1024 + 100]! ^= 0x55;
  writeFileSync(img, buf);
  const out = await replayBothWays(dir, img, EBADMSG);
  assert.deepEqual(out.written, [7000, 7002]);
  assert.ok(out.messages.includes('JBD2: Invalid checksum recovering data block 7001 in journal block 3'),
    `messages: got ${JSON.stringify(out.messages)}`);
  assert.notEqual(dumpe2fsHeader(join(dir, 'ours.img')).get('Journal start'), '0', 'journal start: got 0, want it left dirty');
}));

function readJournalSb(img: string): Uint8Array {
  const hdr = dumpe2fsHeader(img);
  const bs = Number(hdr.get('Block size'));
  const first = Number(run('debugfs', ['-R', 'bmap <8> 0', img]).trim());
  return readFileSync(img).subarray(first * bs, first * bs + bs);
}

test('a clean journal is left alone', { skip: SKIP }, () => withDir(async (dir) => {
  const img = join(dir, 'src.img');
  mkfs(img, ['-b', '1024'], '8M');
  const before = readFileSync(img);
  const dev = imageJournal(img);
  try {
    const r = await recoverJournal(dev, () => {});
    assert.equal(r.transactions, 0);
    assert.equal(dev.fsWrites.size + dev.journalWrites.size, 0, 'writes on a clean journal: got some, want none');
  } finally {
    dev.close();
  }
  assert.ok(readFileSync(img).equals(before));
}));

// ---------------------------------------------------------------- the host kernel's own journal

const isRoot = process.getuid?.() === 0;
const ci = process.env.CI === 'true';
// In CI (as root) these must run: without root the mount fails and so does the test.
const kernelSkip = SKIP || (!isRoot && !ci ? 'needs root for a loop mount (runs in CI as root)' : false);

const kernelVariants: { mkfs: string[]; mount: string }[] = [
  { mkfs: [], mount: 'loop' },
  { mkfs: ['-O', '^metadata_csum,^64bit', '-b', '1024'], mount: 'loop' },
  { mkfs: ['-b', '2048'], mount: 'loop,data=journal' },
];

for (const v of kernelVariants) {
  const label = `mkfs ${v.mkfs.join(' ') || '(defaults)'}, mount -o ${v.mount}`;
  test(`a dirty journal left by the host kernel replays like e2fsck: ${label}`, { skip: kernelSkip }, (t) => withDir(async (dir) => {
    const img = join(dir, 'k.img');
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt, { recursive: true });
    mkfs(img, v.mkfs, '32M');
    let mounted = false;
    try {
      const m = runStatus('mount', ['-o', v.mount, img, mnt]);
      if (m.status !== 0) {
        if (ci) assert.fail(`loop mount failed in CI: ${m.out}`);
        t.skip(`loop mount unavailable: ${m.out.trim()}`);
        return;
      }
      mounted = true;
      // Several transactions: each sync commits one; freeing directory and extent blocks
      // logs revoke records.
      for (let i = 1; i <= 40; i++) writeFileSync(join(mnt, `f${i}`), randomBytes(i * 2500));
      mkdirSync(join(mnt, 'd'));
      for (let i = 0; i < 300; i++) writeFileSync(join(mnt, 'd', `entry-with-a-longer-name-${i}`), '');
      run('sync', []);
      rmSync(join(mnt, 'd'), { recursive: true });
      rmSync(join(mnt, 'f3'));
      rmSync(join(mnt, 'f7'));
      mkdirSync(join(mnt, 'e'));
      for (let i = 0; i < 50; i++) writeFileSync(join(mnt, 'e', `g${i}`), randomBytes(100));
      run('sync', []);
      writeFileSync(join(mnt, 'f1'), randomBytes(5000));
      run('sync', []);
      run('cp', ['--sparse=always', img, join(dir, 'dirty.img')]);
    } finally {
      if (mounted) {
        const u = runStatus('umount', [mnt]);
        if (u.status !== 0) runStatus('umount', ['-l', mnt]);
      }
    }
    const hdr = dumpe2fsHeader(join(dir, 'dirty.img'));
    if (hdr.get('Journal start') === '0') {
      t.skip('the host kernel checkpointed the journal before the copy: nothing to replay');
      return;
    }
    const out = await replayBothWays(dir, join(dir, 'dirty.img'));
    t.diagnostic(`${out.ours.transactions} transactions, ${out.written.length} blocks replayed, ` +
      `${out.ours.revoked}/${out.ours.revokeRecords} revoked`);
    assert.ok(out.ours.transactions >= 1, `transactions: got ${out.ours.transactions}, want >= 1`);
    assert.ok(out.written.length > 0);
  }));
}
