/*
 * mkfsVfat against mkfs.fat (dosfstools 4.2): for a matrix of image sizes and options, format one
 * sparse image with ours and one with `mkfs.fat` given the same options, and compare every byte
 * of the metadata region (reserved sectors, all FATs, root directory / root cluster). mkfs.fat
 * runs with --invariant so its label timestamp is 1426325213 in UTC (we are given that time) and
 * -i sets the same volume id; with that, no difference is intended and none is tolerated.
 * Then fsck.fat -n must find the image clean and mdir (mtools) must show the label, serial and
 * free space we reported. Sparse images of up to 40 GiB are fast because only metadata is written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { KernelError } from '../../../../src/lib/errors.js';
import { errnoName } from '../../../../src/uapi/errno.js';
import { mkfsVfat, mkfsVfatLayout, type MkfsVfatOptions, type MkfsVfatSummary } from '../../../../src/fs/fat/mkfs.js';

const HAVE = ['mkfs.fat', 'fsck.fat', 'mdir'].every((t) => spawnSync('which', [t]).status === 0);
const IN_CI = process.env.CI === 'true';
const skip = HAVE ? false : IN_CI ? false : 'dosfstools/mtools not installed';
const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'mkfs-vfat-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
const INVARIANT_TIME = 1426325213;
const ENV = { ...process.env, TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C' };

/** Our options as mkfs.fat arguments. */
function argsFor(o: MkfsVfatOptions): string[] {
  const a = ['--invariant', '-i', (o.volumeId ?? 0x1234abcd).toString(16)];
  if (o.fatSize) a.push('-F', String(o.fatSize));
  if (o.label !== undefined) a.push('-n', o.label);
  if (o.sectorSize) a.push('-S', String(o.sectorSize));
  if (o.sectorsPerCluster) a.push('-s', String(o.sectorsPerCluster));
  if (o.reservedSectors) a.push('-R', String(o.reservedSectors));
  if (o.rootEntries) a.push('-r', String(o.rootEntries));
  if (o.numFats) a.push('-f', String(o.numFats));
  if (o.media) a.push('-M', '0x' + o.media.toString(16));
  if (o.hiddenSectors) a.push('-h', String(o.hiddenSectors));
  return a;
}

function sparse(p: string, size: number): void {
  fs.rmSync(p, { force: true });
  const fd = fs.openSync(p, 'w');
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

async function formatOurs(p: string, size: number, o: MkfsVfatOptions): Promise<MkfsVfatSummary> {
  sparse(p, size);
  const fd = fs.openSync(p, 'r+');
  try {
    return await mkfsVfat({
      size,
      write(off, bytes) {
        assert.ok(off + bytes.length <= size, `write past the end: got ${off}+${bytes.length}, want <= ${size}`);
        fs.writeSync(fd, bytes, 0, bytes.length, off);
      },
    }, { time: INVARIANT_TIME, volumeId: 0x1234abcd, ...o });
  } finally { fs.closeSync(fd); }
}

function formatTheirs(p: string, size: number, o: MkfsVfatOptions): void {
  sparse(p, size);
  const r = spawnSync('mkfs.fat', [...argsFor(o), p], { env: ENV, encoding: 'utf8' });
  assert.equal(r.status, 0, `mkfs.fat ${argsFor(o).join(' ')} failed: ${r.stdout}${r.stderr}`);
}

function readRange(p: string, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const fd = fs.openSync(p, 'r');
  try { fs.readSync(fd, b, 0, len, off); } finally { fs.closeSync(fd); }
  return b;
}

function firstDiff(a: Buffer, b: Buffer): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

interface Case { name: string; size: number; opts: MkfsVfatOptions; want?: Partial<MkfsVfatSummary> }

const CASES: Case[] = [
  { name: '160 KiB', size: 160 * KiB, opts: {}, want: { fatType: 12 } },
  { name: '360 KiB floppy', size: 360 * KiB, opts: {}, want: { fatType: 12, media: 0xfd, rootEntries: 112 } },
  { name: '720 KiB floppy', size: 720 * KiB, opts: { label: 'DISK2' }, want: { media: 0xf9 } },
  { name: '1.2 MiB floppy', size: 1200 * KiB, opts: {}, want: { media: 0xf9, rootEntries: 224 } },
  { name: '1.44 MiB floppy', size: 1440 * KiB, opts: { label: 'FLOPPY' }, want: { fatType: 12, media: 0xf0, rootEntries: 224, sectorsPerCluster: 1 } },
  { name: '2.88 MiB floppy', size: 2880 * KiB, opts: {}, want: { media: 0xf0 } },
  { name: '1 MiB + 3 sectors (orphaned)', size: MiB + 1536, opts: {} },
  { name: '4 MiB (no alignment)', size: 4 * MiB, opts: {} },
  { name: '16 MiB', size: 16 * MiB, opts: { label: 'TESTLBL' }, want: { fatType: 16, sectorsPerCluster: 4 } },
  { name: '16 MiB FAT12', size: 16 * MiB, opts: { fatSize: 12 }, want: { fatType: 12 } },
  { name: '16 MiB 1 FAT, 64 root entries, -R 3', size: 16 * MiB, opts: { numFats: 1, rootEntries: 64, reservedSectors: 3 } },
  { name: '33 MiB FAT32 forced', size: 33 * MiB, opts: { fatSize: 32, label: 'SMALL32' }, want: { fatType: 32 } },
  { name: '64 MiB', size: 64 * MiB, opts: { volumeId: 0xdeadbeef }, want: { fatType: 16 } },
  { name: '64 MiB -S 4096', size: 64 * MiB, opts: { sectorSize: 4096 } },
  { name: '16 MiB -s 1 -F 16', size: 16 * MiB, opts: { sectorsPerCluster: 1, fatSize: 16 } },
  { name: '16 MiB -s 128', size: 16 * MiB, opts: { sectorsPerCluster: 128 } },
  { name: '128 MiB -F 32 -s 1', size: 128 * MiB, opts: { fatSize: 32, sectorsPerCluster: 1, label: 'lower case' } },
  { name: '300 MiB', size: 300 * MiB, opts: {}, want: { fatType: 16, sectorsPerCluster: 16 } },
  { name: '300 MiB FAT32', size: 300 * MiB, opts: { fatSize: 32, label: 'EFI' }, want: { fatType: 32, sectorsPerCluster: 8 } },
  { name: '511 MiB', size: 511 * MiB, opts: {}, want: { fatType: 16 } },
  { name: '512 MiB', size: 512 * MiB, opts: { label: 'BOOT' }, want: { fatType: 32 } },
  { name: '2 GiB', size: 2 * GiB, opts: { label: 'SDCARD' }, want: { fatType: 32, sectorsPerCluster: 8 } },
  { name: '2 GiB -F 16', size: 2 * GiB, opts: { fatSize: 16 }, want: { fatType: 16, sectorsPerCluster: 128 } },
  { name: '2 GiB -S 4096 -R 8 -f 1', size: 2 * GiB, opts: { sectorSize: 4096, reservedSectors: 8, numFats: 1 } },
  { name: '600 MiB FAT32 -s 1 -R 2 (no backup boot sector)', size: 600 * MiB, opts: { sectorsPerCluster: 1, reservedSectors: 2 } },
  { name: '600 MiB FAT32 -s 1 -R 4 (backup at 2)', size: 600 * MiB, opts: { sectorsPerCluster: 1, reservedSectors: 4 } },
  { name: '600 MiB FAT32 -S 4096 -h 2048 -M 0xf9', size: 600 * MiB, opts: { sectorSize: 4096, hiddenSectors: 2048, media: 0xf9, label: 'MEDIA F9' } },
  { name: '9 GiB', size: 9 * GiB, opts: {}, want: { fatType: 32, sectorsPerCluster: 16 } },
  { name: '40 GiB', size: 40 * GiB, opts: { label: 'BIG' }, want: { fatType: 32, sectorsPerCluster: 64 } },
];

for (const c of CASES) {
  test(`mkfsVfat ${c.name} ${JSON.stringify(c.opts)} = mkfs.fat`, { skip }, async () => {
    const ours = path.join(work, 'ours.img'), theirs = path.join(work, 'theirs.img');
    const L = await formatOurs(ours, c.size, c.opts);
    formatTheirs(theirs, c.size, c.opts);
    for (const [k, v] of Object.entries(c.want ?? {})) {
      assert.equal((L as unknown as Record<string, unknown>)[k], v, `${k}: got ${(L as unknown as Record<string, unknown>)[k]}, want ${v}`);
    }
    // The metadata region: everything before the data area, plus the FAT32 root cluster.
    const len = L.dataStartSector * L.sectorSize + (L.fatType === 32 ? L.clusterSize : 0);
    const a = readRange(ours, 0, len), b = readRange(theirs, 0, len);
    const d = firstDiff(a, b);
    assert.equal(d, -1, `first differing byte at ${d} (sector ${Math.floor(d / L.sectorSize)}): got 0x${a[d]?.toString(16)}, want 0x${b[d]?.toString(16)}`);
    // Nothing past the metadata was written: the rest of the file is still a hole/zeros (spot check).
    assert.equal(fs.statSync(ours).size, c.size, `image size: got ${fs.statSync(ours).size}, want ${c.size}`);

    const fsck = spawnSync('fsck.fat', ['-n', '-v', ours], { env: ENV, encoding: 'utf8' });
    assert.equal(fsck.status, 0, `fsck.fat -n: got exit ${fsck.status}, want 0\n${fsck.stdout}${fsck.stderr}`);
    const clusters = /(\d+) data clusters/.exec(fsck.stdout)?.[1];
    assert.equal(Number(clusters), L.clusterCount, `fsck.fat data clusters: got ${clusters}, want ${L.clusterCount}`);

    const mdir = spawnSync('mdir', ['-i', ours, '::'], { env: ENV, encoding: 'utf8' });
    assert.equal(mdir.status, 0, `mdir failed: ${mdir.stderr}`);
    const serial = L.volumeId.toString(16).toUpperCase().padStart(8, '0');
    assert.match(mdir.stdout, new RegExp(`Serial Number is ${serial.slice(0, 4)}-${serial.slice(4)}`), `mdir serial: got ${mdir.stdout}`);
    if (c.opts.label) assert.match(mdir.stdout, new RegExp(`Volume in drive : is ${c.opts.label}`), `mdir label: got ${mdir.stdout}`);
    else assert.match(mdir.stdout, /has no label/, `mdir label: got ${mdir.stdout}`);
    const free = Number(/([\d ]+) bytes free/.exec(mdir.stdout)?.[1]?.replace(/ /g, ''));
    assert.equal(free, L.freeClusters * L.clusterSize, `mdir free bytes: got ${free}, want ${L.freeClusters * L.clusterSize}`);
  });
}

/** Option errors as mkfs.fat refuses them (it exits 1; we throw EINVAL/ENOSPC). */
const ERRORS: [string, number, MkfsVfatOptions, string][] = [
  ['label too long', 16 * MiB, { label: 'TWELVE CHARS' }, 'EINVAL'],
  ['label with a dot', 16 * MiB, { label: 'A.B' }, 'EINVAL'],
  ['label starting with space', 16 * MiB, { label: ' AB' }, 'EINVAL'],
  ['bad sector size', 16 * MiB, { sectorSize: 1000 }, 'EINVAL'],
  ['bad cluster size', 16 * MiB, { sectorsPerCluster: 3 }, 'EINVAL'],
  ['FAT32 with 1 reserved sector', 64 * MiB, { fatSize: 32, reservedSectors: 1 }, 'EINVAL'],
  ['5 FATs', 16 * MiB, { numFats: 5 }, 'EINVAL'],
  ['FAT12 too large', 2 * GiB, { fatSize: 12 }, 'ENOSPC'],
  ['FAT16 too small for 4 sectors/cluster', 1 * MiB, { fatSize: 16, sectorsPerCluster: 4 }, 'ENOSPC'],
  ['too small', 16 * KiB, {}, 'ENOSPC'],
  ['FAT16 with too many 512-byte clusters', 64 * MiB, { sectorsPerCluster: 1, fatSize: 16 }, 'ENOSPC'],
];
for (const [name, size, o, code] of ERRORS) {
  test(`mkfsVfat refuses: ${name}`, { skip }, () => {
    assert.throws(() => mkfsVfatLayout(size, o), (e: unknown) => {
      assert.ok(e instanceof KernelError, `got ${String(e)}, want a KernelError`);
      assert.equal(errnoName[e.errno], code, `errno: got ${errnoName[e.errno]}, want ${code}`);
      return true;
    });
    const p = path.join(work, 'err.img');
    sparse(p, size);
    const r = spawnSync('mkfs.fat', [...argsFor(o), p], { env: ENV, encoding: 'utf8' });
    assert.notEqual(r.status, 0, `mkfs.fat accepted ${name}: got exit 0, want failure`);
  });
}

test('mkfsVfat is deterministic and writes only metadata', async () => {
  const writes: [number, number][] = [];
  const L = await mkfsVfat({ size: 40 * GiB, write(off, b) { writes.push([off, b.length]); } }, { volumeId: 1, time: 0 });
  const total = writes.reduce((s, [, n]) => s + n, 0);
  const want = L.reservedSectors * L.sectorSize + L.numFats * L.fatLength * L.sectorSize + L.clusterSize;
  assert.equal(total, want, `bytes written: got ${total}, want ${want}`);
  const a = await mkfsVfatLayout(300 * MiB, { volumeId: 7 }), b = await mkfsVfatLayout(300 * MiB, { volumeId: 7 });
  assert.deepEqual(a, b);
});
