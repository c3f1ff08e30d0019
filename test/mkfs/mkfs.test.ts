/*
 * mkfsExt4 against the host's mke2fs (e2fsprogs 1.47): for each case both format a sparse image
 * with the same UUID, hash seed and clock (E2FSPROGS_FAKE_TIME), and then
 *   - dumpe2fs of the two images must agree line for line (header and every group),
 *   - e2fsck -fn must find nothing wrong with ours,
 *   - for images up to 1 GiB, the two files must be byte-identical except in the superblock
 *     copies' s_kbytes_written and s_checksum (intentional: mke2fs counts the bytes its I/O layer
 *     wrote, a number of its own caching; we leave the field 0, so dumpe2fs prints no
 *     "Lifetime writes" line and those lines are dropped before comparing),
 *   - the host kernel mounts ours (root only) and our own driver does, both showing lost+found.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkfsExt4, type MkfsOptions } from '../../src/fs/ext4/mkfs/index.js';

const UUID = '11111111-2222-3333-4444-555555555555';
const SEED = '66666666-7777-8888-9999-aaaaaaaaaaaa';
const NOW = 1700000000;
const KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB, TiB = 1024 * GiB;

const haveTools = spawnSync('mke2fs', ['-V']).status === 0 && spawnSync('dumpe2fs', ['-V']).status === 0;
const isRoot = process.getuid?.() === 0;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mkfs-'));

interface Case { size: number; type: 'ext2' | 'ext3' | 'ext4'; args: string[]; opts?: Partial<MkfsOptions> }

const cases: Case[] = [
  { size: 1 * MiB, type: 'ext4', args: [] },
  { size: 8 * MiB, type: 'ext4', args: [] },
  { size: 8 * MiB, type: 'ext4', args: ['-b', '4096'], opts: { blockSize: 4096 } },
  { size: 64 * MiB, type: 'ext4', args: [] },
  { size: 64 * MiB, type: 'ext3', args: [] },
  { size: 64 * MiB, type: 'ext2', args: [] },
  { size: 64 * MiB, type: 'ext2', args: ['-b', '4096'], opts: { blockSize: 4096 } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^metadata_csum'], opts: { features: '^metadata_csum' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^64bit'], opts: { features: '^64bit' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^flex_bg'], opts: { features: '^flex_bg' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^resize_inode'], opts: { features: '^resize_inode' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^has_journal'], opts: { features: '^has_journal' } },
  { size: 64 * MiB, type: 'ext4', args: ['-N', '5000'], opts: { inodes: 5000 } },
  { size: 64 * MiB, type: 'ext4', args: ['-I', '128'], opts: { inodeSize: 128 } },
  { size: 64 * MiB, type: 'ext4', args: ['-L', 'hello', '-m', '1'], opts: { label: 'hello', reservedRatio: 1 } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', '^metadata_csum,uninit_bg'], opts: { features: '^metadata_csum,uninit_bg' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', 'metadata_csum_seed'], opts: { features: 'metadata_csum_seed' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', 'inline_data'], opts: { features: 'inline_data' } },
  { size: 64 * MiB, type: 'ext4', args: ['-O', 'orphan_file'], opts: { features: 'orphan_file' } },
  { size: 8 * MiB, type: 'ext4', args: ['-b', '4096', '-O', 'orphan_file,^metadata_csum'], opts: { blockSize: 4096, features: 'orphan_file,^metadata_csum' } },
  { size: 600 * MiB, type: 'ext4', args: ['-O', 'orphan_file'], opts: { features: 'orphan_file' } },
  { size: 64 * MiB, type: 'ext4', args: ['-b', '4096', '-O', 'inline_data,^has_journal'], opts: { blockSize: 4096, features: 'inline_data,^has_journal' } },
  { size: 64 * MiB, type: 'ext4', args: ['-E', 'root_owner=1000:1000'], opts: { extended: 'root_owner=1000:1000' } },
  { size: 64 * MiB, type: 'ext2', args: ['-E', 'stride=4'], opts: { extended: 'stride=4' } },
  { size: 100 * MiB, type: 'ext4', args: ['-b', '2048'], opts: { blockSize: 2048 } },
  { size: 64 * MiB, type: 'ext2', args: ['-O', '^sparse_super,^resize_inode'], opts: { features: '^sparse_super,^resize_inode' } },
  { size: 64 * MiB, type: 'ext4', args: ['-J', 'size=8'], opts: { journalSizeMiB: 8 } },
  { size: 200 * MiB, type: 'ext3', args: ['-b', '2048', '-I', '512'], opts: { blockSize: 2048, inodeSize: 512 } },
  { size: 300 * MiB, type: 'ext4', args: ['-G', '4'], opts: { flexBgSize: 4 } },
  { size: 600 * MiB, type: 'ext4', args: [] },
  { size: 600 * MiB, type: 'ext4', args: ['-b', '1024'], opts: { blockSize: 1024 } },
  { size: 600 * MiB, type: 'ext3', args: [] },
  { size: 5 * GiB, type: 'ext4', args: [] },
  { size: 5 * GiB, type: 'ext3', args: [] },
  { size: 1 * TiB, type: 'ext4', args: [] },
];

function sparse(p: string, size: number): void {
  fs.rmSync(p, { force: true });
  const fd = fs.openSync(p, 'w');
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

async function ours(p: string, c: Case): Promise<void> {
  sparse(p, c.size);
  const fd = fs.openSync(p, 'r+');
  try {
    await mkfsExt4({ size: c.size, write: (off, b) => { fs.writeSync(fd, b, 0, b.length, off); } },
      { type: c.type, uuid: UUID, hashSeed: SEED, now: NOW, ...c.opts });
  } finally { fs.closeSync(fd); }
}

function theirs(p: string, c: Case): void {
  sparse(p, c.size);
  // mke2fs keeps only the last -E: ours join the hash seed.
  const args = [...c.args];
  const e = args.indexOf('-E');
  const ext = e >= 0 ? `hash_seed=${SEED},${args.splice(e, 2)[1]}` : `hash_seed=${SEED}`;
  execFileSync('mke2fs', ['-F', '-q', '-t', c.type, '-U', UUID, '-E', ext, ...args, p], {
    env: { ...process.env, E2FSPROGS_FAKE_TIME: String(NOW) }, stdio: ['ignore', 'ignore', 'pipe'],
  });
}

function dump(p: string): string[] {
  const out = execFileSync('dumpe2fs', [p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * MiB });
  return out.split('\n').filter((l) => !/^(Lifetime writes|Checksum):/.test(l));
}

/** Blocks (of 1 KiB) where the files differ, ignoring the superblocks' kbytes_written and checksum. */
function differingKiB(a: string, b: string, size: number): number[] {
  const fa = fs.openSync(a, 'r'), fb = fs.openSync(b, 'r');
  const diff: number[] = [];
  const chunk = 4 * MiB, ba = Buffer.alloc(chunk), bb = Buffer.alloc(chunk);
  try {
    for (let off = 0; off < size; off += chunk) {
      fs.readSync(fa, ba, 0, chunk, off);
      fs.readSync(fb, bb, 0, chunk, off);
      if (ba.equals(bb)) continue;
      for (let k = 0; k < chunk; k += KiB) {
        const x = ba.subarray(k, k + KiB), y = bb.subarray(k, k + KiB);
        if (x.equals(y)) continue;
        // A superblock copy: same magic at 0x38 in both; mask the two fields we leave apart.
        if (x.readUInt16LE(0x38) === 0xef53 && y.readUInt16LE(0x38) === 0xef53) {
          const mx = Buffer.from(x), my = Buffer.from(y);
          for (const m of [mx, my]) { m.fill(0, 0x178, 0x180); m.fill(0, 0x3fc, 0x400); }
          if (mx.equals(my)) continue;
        }
        diff.push((off + k) / KiB);
      }
    }
  } finally { fs.closeSync(fa); fs.closeSync(fb); }
  return diff;
}

function name(c: Case): string {
  const sz = c.size >= TiB ? `${c.size / TiB}T` : c.size >= GiB ? `${c.size / GiB}G` : `${c.size / MiB}M`;
  return `${c.type} ${sz} ${c.args.join(' ')}`.trim();
}

for (const c of cases) {
  test(`mkfs ${name(c)} matches mke2fs`, { skip: haveTools ? false : 'mke2fs/dumpe2fs not installed' }, async () => {
    const a = path.join(dir, 'theirs.img'), b = path.join(dir, 'ours.img');
    theirs(a, c);
    await ours(b, c);
    const da = dump(a), db = dump(b);
    const bad = da.map((l, i) => (l === db[i] ? null : `line ${i + 1}: got ${JSON.stringify(db[i])}, want ${JSON.stringify(l)}`)).filter(Boolean);
    assert.equal(db.length, da.length, `dumpe2fs lines: got ${db.length}, want ${da.length}`);
    assert.deepEqual(bad.slice(0, 5), [], 'dumpe2fs differs');
    const fsck = spawnSync('e2fsck', ['-fn', b], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, `e2fsck -fn exit: got ${fsck.status}, want 0\n${fsck.stdout}${fsck.stderr}`);
    if (c.size <= GiB) {
      const d = differingKiB(a, b, c.size);
      assert.deepEqual(d.slice(0, 10), [], `differing 1 KiB blocks: got ${d.length} (${d.slice(0, 10).join(',')}...), want 0`);
    }
    fs.rmSync(a); fs.rmSync(b);
  });
}

test('host kernel mounts ours and shows lost+found', async (t) => {
  if (!haveTools) { t.skip('mke2fs not installed'); return; }
  if (!isRoot && !process.env.CI) { t.skip('loop mounts need root'); return; }
  for (const c of [cases[3]!, cases[5]!, cases[4]!, cases[2]!]) {
    const img = path.join(dir, 'mount.img'), mnt = path.join(dir, 'mnt');
    await ours(img, c);
    fs.mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-o', 'loop,ro', '-t', c.type, img, mnt]);
    try {
      const list = fs.readdirSync(mnt);
      assert.deepEqual(list, ['lost+found'], `${name(c)} root: got ${list.join(',')}, want lost+found`);
      assert.equal(fs.statSync(path.join(mnt, 'lost+found')).mode & 0o7777, 0o700, `${name(c)} lost+found mode`);
    } finally { execFileSync('umount', [mnt]); }
    fs.rmSync(img);
  }
});

test('our ext4 driver mounts ours', async (t) => {
  // Loaded here so the oracle tests above still run while the kernel image is being rebuilt.
  const { lklWalkImage, DISK_API_MISSING } = await import('../fixtures/lkl.js');
  for (const c of [cases[3]!, cases[5]!, cases[4]!]) {
    const img = path.join(dir, 'lkl.img');
    await ours(img, c);
    const r = await lklWalkImage({ path: img, readOnly: true }, { fstype: c.type, flags: 1 });
    if (r === null) { t.skip(DISK_API_MISSING); return; }
    assert.equal(r.mountErr, undefined, `${name(c)} mount: got ${r.mountErr} ${r.mountMessage ?? ''}, want success`);
    const lpf = r.walk!.tree.get('lost+found');
    assert.ok(lpf, `${name(c)}: got entries ${[...r.walk!.tree.keys()].join(',')}, want lost+found`);
    assert.equal(lpf.mode & 0o170777, 0o040700, `${name(c)} lost+found mode: got ${lpf.mode.toString(8)}, want 40700`);
    assert.deepEqual(r.walk!.errors, [], 'walk errors');
    fs.rmSync(img);
  }
});

test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/*
 * 16 TiB: more than a regular file on the host's ext4 may hold, so both images live on a tmpfs
 * (root only). A full dumpe2fs or e2fsck of 131072 groups takes about a minute, so this compares
 * the dumpe2fs header, every byte ours wrote against the same bytes of theirs, and the space the
 * two sparse files occupy (equal when neither wrote anything the other did not).
 */
test('mkfs ext4 16T matches mke2fs (tmpfs)', async (t) => {
  if (!haveTools) { t.skip('mke2fs not installed'); return; }
  if (!isRoot && !process.env.CI) { t.skip('a tmpfs mount needs root'); return; }
  const mnt = path.join(dir, 'big');
  fs.mkdirSync(mnt, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1G', 'tmpfs', mnt]);
  try {
    const c: Case = { size: 16 * TiB, type: 'ext4', args: [] };
    const a = path.join(mnt, 'theirs.img'), b = path.join(mnt, 'ours.img');
    theirs(a, c);
    sparse(b, c.size);
    const fd = fs.openSync(b, 'r+');
    const ranges: Array<[number, number]> = [];
    try {
      await mkfsExt4({ size: c.size, write: (off, buf) => { ranges.push([off, buf.length]); fs.writeSync(fd, buf, 0, buf.length, off); } },
        { type: 'ext4', uuid: UUID, hashSeed: SEED, now: NOW });
    } finally { fs.closeSync(fd); }
    const head = (p: string): string[] => execFileSync('dumpe2fs', ['-h', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter((l) => !/^(Lifetime writes|Checksum):/.test(l));
    assert.deepEqual(head(b), head(a), 'dumpe2fs -h differs');
    const fa = fs.openSync(a, 'r'), fb = fs.openSync(b, 'r');
    const bad: number[] = [];
    try {
      for (const [off, len] of ranges) {
        const x = Buffer.alloc(len), y = Buffer.alloc(len);
        fs.readSync(fa, x, 0, len, off); fs.readSync(fb, y, 0, len, off);
        if (x.readUInt16LE(Math.min(0x38, len - 2)) === 0xef53 && len === 1024) {
          for (const m of [x, y]) { m.fill(0, 0x178, 0x180); m.fill(0, 0x3fc, 0x400); }
        }
        if (!x.equals(y)) bad.push(off);
      }
    } finally { fs.closeSync(fa); fs.closeSync(fb); }
    assert.deepEqual(bad.slice(0, 5), [], `writes differing from mke2fs: got ${bad.length} (${bad.slice(0, 5).map((o) => o / 4096).join(",")}), want 0`);
    const sa = fs.statSync(a).blocks, sb = fs.statSync(b).blocks;
    assert.equal(sb, sa, `allocated 512-byte sectors: got ${sb}, want ${sa}`);
  } finally { execFileSync('umount', [mnt]); }
});
