/*
 * The largest FAT file, 4 GiB − 1 bytes, without writing 4 GiB: on a sparse 4.5 GiB FAT32 image
 * mtools stores a one-cluster file, then the test extends its chain over 2^20 contiguous clusters
 * in both FATs, sets its size to 0xffffffff, puts data in the last cluster and fixes the FSInfo
 * free count; fsck.fat -n must find that image clean (so it is a valid FAT volume, the oracle for
 * what follows; dosfstools 4.2 counts the chain length in 32 bits, so for exactly 2^32 bytes of
 * chain it reports "cluster chain length is 0 bytes": that one complaint is its overflow and is
 * the only one tolerated). We read the start, a hole in the middle, the last bytes and past the end; then a
 * write of the very last byte succeeds and one byte further is EFBIG (Linux: s_maxbytes is
 * 0xffffffff on FAT), and the image is still clean.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SKIP, tmpdir, pattern, run, mkfsImage, fsckProblems, mcopyIn, mountVfat, probeVfat, FatImage, chainOf, settle } from './fixtures.js';

const caps = await probeVfat();
const work = tmpdir('vfat-huge-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const SIZE = 0xffffffff;

/** fsck.fat -n problems other than its 32-bit chain-length overflow on HUGE.BIN. */
function fsckOtherProblems(img: string): string | null {
  const p = fsckProblems(img);
  if (!p) return null;
  const rest = p.split('\n').filter((l) => l && !/^fsck\.fat -n exit 1:|^fsck\.fat 4|^\/HUGE\.BIN$|File size is 4294967295 bytes, cluster chain length is 0 bytes|Truncating file to 0 bytes|Leaving filesystem unchanged|: \d+ files, \d+\/\d+ clusters$/.test(l.trim()));
  return rest.length ? p : null;
}

function buildHuge(): { img: string; fi: FatImage; first: Buffer; last: Buffer; lastOff: number } {
  const img = mkfsImage(path.join(work, 'huge.img'), 4.5 * 2 ** 30, ['-i', '4e9']);
  const fi = new FatImage(img);
  const C = fi.clusterBytes;
  const first = pattern(C, 1);
  fs.writeFileSync(path.join(work, 'HUGE.BIN'), first);
  mcopyIn(img, [path.join(work, 'HUGE.BIN')], '::/');
  const [c0] = chainOf(img, 'HUGE.BIN');
  const n = Math.ceil(SIZE / C);
  assert.ok(c0! + n - 1 < fi.clusterCount + 2, 'image too small for the chain');
  // Chain c0 -> c0+1 -> ... -> c0+n-1 (end of chain), in every FAT.
  const ents = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) ents.writeUInt32LE(i === n - 1 ? 0x0fffffff : c0! + i + 1, i * 4);
  for (let f = 0; f < fi.numFats; f++) fi.poke((fi.reserved + f * fi.fatSz) * fi.bytesPerSec + c0! * 4, ents);
  // Size in the directory entry (root directory = cluster 2).
  const root = Buffer.alloc(C);
  const fd = fs.openSync(img, 'r'); fs.readSync(fd, root, 0, C, fi.clusterOffset(2)); fs.closeSync(fd);
  const at = root.indexOf('HUGE    BIN');
  assert.ok(at >= 0 && at % 32 === 0, 'HUGE.BIN entry not found');
  const sz = Buffer.alloc(4); sz.writeUInt32LE(SIZE); fi.poke(fi.clusterOffset(2) + at + 28, sz);
  // Data in the last cluster: the file's last SIZE - (n-1)*C bytes.
  const lastOff = (n - 1) * C;
  const last = pattern(SIZE - lastOff, 2);
  fi.poke(fi.clusterOffset(c0! + n - 1), last);
  // FSInfo: free count as it now is (total minus the root cluster and the file).
  const info = Buffer.alloc(8); info.writeUInt32LE(fi.clusterCount - 1 - n, 0); info.writeUInt32LE(c0! + n - 1, 4);
  fi.poke(fi.bytesPerSec + 0x1e8, info);
  return { img, fi, first, last, lastOff };
}

test('a 4 GiB − 1 file: size, first/middle/last bytes, EFBIG one past the end', { skip: SKIP, todo: caps.write || undefined, timeout: 120_000 }, async () => {
  const { img, fi, first, last, lastOff } = buildHuge();
  assert.equal(fsckOtherProblems(img), null, 'the crafted image is not clean');
  assert.match(run('mdir', ['-i', img, '::/HUGE.BIN']).stdout, /4 294 967 295/, 'mdir size of HUGE.BIN');

  const m = await mountVfat(img);
  const got: Record<string, unknown> = {};
  try {
    const p = `${m.mnt}/HUGE.BIN`;
    got.size = (await m.k.fs.stat(p)).size;
    const fh = await m.k.fs.open(p, 'r+');
    try {
      const at = async (off: number, len: number) => {
        const b = new Uint8Array(len);
        const r = await settle(fh.read(b, 0, len, off), 60_000, `pread at ${off}`);
        return r.ok ? Buffer.from(b.subarray(0, r.value.bytesRead)) : r.code;
      };
      const a = await at(0, fi.clusterBytes);
      got.first = Buffer.isBuffer(a) && a.equals(first) ? 'ok' : a;
      const mid = await at(2 ** 31, 8192);
      got.middle = Buffer.isBuffer(mid) && mid.length === 8192 && mid.every((x) => x === 0) ? 'zeros' : mid;
      const z = await at(lastOff, fi.clusterBytes);
      got.last = Buffer.isBuffer(z) && z.equals(last) ? 'ok' : Buffer.isBuffer(z) ? `${z.length} bytes, differ` : z;
      const past = await at(SIZE, 16);
      got.pastEnd = Buffer.isBuffer(past) ? past.length : past;
      const w1 = await settle(fh.write(Uint8Array.of(0xab), SIZE - 1), 60_000, 'write last byte');
      got.writeLastByte = w1.ok ? w1.value.bytesWritten : w1.code;
      const w2 = await settle(fh.write(Uint8Array.of(0xcd), SIZE), 60_000, 'write past 4 GiB - 1');
      got.writePastMax = w2.ok ? w2.value.bytesWritten : w2.code;
    } finally { await fh.close(); }
  } finally { await m.done(); }
  assert.deepEqual(got, { size: SIZE, first: 'ok', middle: 'zeros', last: 'ok', pastEnd: 0, writeLastByte: 1, writePastMax: 'EFBIG' });
  assert.equal(fsckOtherProblems(img), null);
  const b = Buffer.alloc(1);
  const fd = fs.openSync(img, 'r');
  fs.readSync(fd, b, 0, 1, fi.clusterOffset(chainOf(img, 'HUGE.BIN').at(-1)!) + last.length - 1);
  fs.closeSync(fd);
  assert.equal(b[0], 0xab, `last byte on disk: got 0x${b[0]!.toString(16)}, want 0xab`);
});
