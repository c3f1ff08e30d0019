/*
 * The apps on vfat, judged by mtools: fs2tar archives a FAT volume it detects by itself, and what
 * GNU tar extracts from that archive must be the tree mtools extracts from the same image (names,
 * sizes, contents, mtimes), which in turn is the source tree with mtimes cut to FAT's 2 s.
 *
 * fs2tar mounts with no options, as LKL's does. FAT keeps local time; with no tz= the driver,
 * like Linux, uses the kernel's timezone, which is UTC in our kernel (nobody sets sys_tz), so the
 * archive holds the same instants as mtools reads with TZ=UTC.
 *
 * The SD-card layout is what single-board computers boot from: a partition table with a FAT32
 * boot partition 1 and an ext4 root partition 2. The FAT partition is formatted on its own file
 * and copied in, then filled by mtools through `-i disk@@offset`; the ext4 one is made by
 * `mkfs.ext4 -d` on its own file and copied in (no root needed). `fs2tar -P 1` and `-P 2` with
 * type detection must archive each one: FAT against mtools and the source, ext4 against its source.
 * Both MBR (sfdisk) and GPT (sgdisk) tables.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  SKIP, IN_CI, tmpdir, pattern, run, mkfsImage, mcopyIn, mtoolsExtract, hostTree, diffTrees, fsckProblems, type Entry,
} from './fixtures.js';
import { runFs2tar, extract } from '../apps/fs2tar_helpers.js';

const work = tmpdir('vfat-apps-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const have = (t: string) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
const missing = (tools: string[]): string | false => {
  const m = tools.filter((t) => !have(t));
  return m.length && !IN_CI ? `not installed: ${m.join(', ')}` : false;
};
const TAR_SKIP = SKIP || missing(['tar']);
const MBR_SKIP = TAR_SKIP || missing(['sfdisk', 'mkfs.ext4']);
const GPT_SKIP = TAR_SKIP || missing(['sgdisk', 'mkfs.ext4']);

const T0 = 1_700_000_001; // odd on purpose: FAT stores even seconds

/**
 * A source tree that covers what a FAT volume holds: 8.3 and long names, mixed case, Latin-1 and
 * CJK names, nested directories, an empty file and directory, a directory spanning several
 * clusters, files around cluster boundaries and one of a few MiB; mtimes odd and even.
 */
function makeSource(dir: string, clusterBytes: number): void {
  fs.rmSync(dir, { recursive: true, force: true });
  const files: [string, Buffer][] = [
    ['README.TXT', Buffer.from('read me\n')],
    ['lower.txt', Buffer.from('lower\n')],
    ['Mixed Case Name.Data', pattern(1000, 1)],
    ['héllo wörld.txt', Buffer.from('latin\n')],
    ['日本語のファイル.txt', Buffer.from('cjk\n')],
    ['empty', Buffer.alloc(0)],
    ['one cluster.bin', pattern(clusterBytes, 2)],
    ['cluster plus one.bin', pattern(clusterBytes + 1, 3)],
    ['big.bin', pattern(3 * 1024 * 1024 + 17, 4)],
    ['boot/config.txt', Buffer.from('arm_64bit=1\nenable_uart=1\n')],
    ['boot/overlays/README', Buffer.from('overlays\n')],
    ['deep/a/b/c/d/e/leaf.txt', Buffer.from('leaf\n')],
  ];
  for (let i = 0; i < 150; i++) files.push([`many/entry number ${String(i).padStart(3, '0')} with a long name.dat`, pattern(i * 7, 100 + i)]);
  for (const [p, data] of files) {
    fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), data);
  }
  fs.mkdirSync(path.join(dir, 'empty dir'));
  let i = 0;
  for (const e of hostTree(dir)) {
    if (e.type === 'f') { const t = T0 + 3 * i++; fs.utimesSync(path.join(dir, e.path), t, t); }
  }
}

/** The source as FAT keeps it: mtimes cut to 2 s (mtools, TZ=UTC, stores UTC). */
function asFat(tree: Entry[]): Entry[] {
  return tree.map((e) => ({ ...e, mtimeMs: Math.floor(e.mtimeMs / 2000) * 2000 }));
}

/** fs2tar ARGS..., then GNU tar -xpf into `out`; returns the extracted tree. */
async function fs2tarExtract(args: string[], out: string): Promise<Entry[]> {
  const tarFile = `${out}.tar`;
  const r = await runFs2tar([...args, tarFile]);
  assert.equal(r.timedOut, false, 'fs2tar hung');
  assert.equal(r.code, 0, `fs2tar ${args.join(' ')}: got exit ${r.code}, want 0; stderr:\n${r.stderr}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const x = extract('gnu', tarFile, out);
  assert.equal(x.status, 0, `tar -xpf: got exit ${x.status}, want 0: ${x.stderr}`);
  return hostTree(out);
}

function expectSame(got: Entry[], want: Entry[], what: string): void {
  const d = diffTrees(got, want);
  assert.deepEqual(d, [], `${what}:\n${d.slice(0, 30).join('\n')}`);
}

test('fs2tar on a FAT16 and a FAT32 image (type detected) = mtools extraction = the source', { skip: TAR_SKIP, timeout: 180_000 }, async () => {
  for (const [name, size, args, cluster] of [
    ['fat16', 32 << 20, ['-F', '16', '-s', '4'], 2048],
    ['fat32', 64 << 20, ['-F', '32', '-s', '1'], 512],
  ] as const) {
    const src = path.join(work, `${name}-src`);
    makeSource(src, cluster);
    const img = mkfsImage(path.join(work, `${name}.img`), size, [...args, '-n', 'APPSTEST', '-i', '1234abcd']);
    mcopyIn(img, fs.readdirSync(src).map((n) => path.join(src, n)), '::/');
    assert.equal(fsckProblems(img), null);
    const mt = path.join(work, `${name}-mtools`);
    mtoolsExtract(img, mt);
    const want = hostTree(mt);
    expectSame(want, asFat(hostTree(src)), `${name}: mtools extraction differs from the source (oracle broken)`);
    const got = await fs2tarExtract([img], path.join(work, `${name}-fs2tar`));
    expectSame(got, want, `${name}: fs2tar + tar -xpf differs from mcopy -s`);
  }
});

interface Layout { disk: string; fatOff: number; extOff: number; src: string; extSrc: string }

/** A disk with partition 1 FAT32 (40 MiB) and partition 2 ext4 (16 MiB), 1 MiB aligned. */
function sdCard(kind: 'mbr' | 'gpt'): Layout {
  const dir = path.join(work, `sd-${kind}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const MiB = 1 << 20, fatStart = 2048, fatSecs = 40 * 2048, extStart = fatStart + fatSecs, extSecs = 16 * 2048;
  const disk = path.join(dir, 'disk.img');
  fs.closeSync(fs.openSync(disk, 'w'));
  fs.truncateSync(disk, (extStart + extSecs) * 512 + 2 * MiB);
  if (kind === 'mbr') {
    const r = spawnSync('sfdisk', ['--no-reread', '--no-tell-kernel', disk], {
      input: `label: dos\n${fatStart},${fatSecs},c\n${extStart},${extSecs},83\n`, encoding: 'utf8',
    });
    assert.equal(r.status, 0, `sfdisk: ${r.stderr}`);
  } else {
    run('sgdisk', ['-n', `1:${fatStart}:${fatStart + fatSecs - 1}`, '-t', '1:0700', '-c', '1:boot',
      '-n', `2:${extStart}:${extStart + extSecs - 1}`, '-t', '2:8300', '-c', '2:rootfs', disk]);
  }
  // FAT32 on its own file, with the partition's start as hidden sectors, then copied in.
  const fat = mkfsImage(path.join(dir, 'p1.img'), fatSecs * 512, ['-F', '32', '-s', '1', '-h', String(fatStart), '-n', 'BOOT', '-i', 'b007']);
  const dd = (from: string, seek: number) => run('dd', [`if=${from}`, `of=${disk}`, 'bs=512', `seek=${seek}`, 'conv=notrunc,sparse', 'status=none']);
  dd(fat, fatStart);
  const src = path.join(dir, 'boot-src');
  makeSource(src, 512);
  const fatOff = fatStart * 512;
  mcopyIn(`${disk}@@${fatOff}`, fs.readdirSync(src).map((n) => path.join(src, n)), '::/');
  // ext4 root: made from a directory by mke2fs itself.
  const extSrc = path.join(dir, 'root-src');
  for (const [p, data] of [['etc/hostname', 'sdcard\n'], ['etc/fstab', '/dev/mmcblk0p2 / ext4 defaults 0 1\n'],
    ['usr/bin/tool', pattern(200_000, 9)], ['home/pi/notes.txt', 'notes\n']] as const) {
    fs.mkdirSync(path.join(extSrc, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(extSrc, p), data);
    fs.utimesSync(path.join(extSrc, p), 1_650_000_000, 1_650_000_000);
  }
  const ext = path.join(dir, 'p2.img');
  fs.closeSync(fs.openSync(ext, 'w'));
  fs.truncateSync(ext, extSecs * 512);
  run('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', extSrc, ext]);
  dd(ext, extStart);
  return { disk, fatOff, extOff: extStart * 512, src, extSrc };
}

async function checkSdCard(kind: 'mbr' | 'gpt'): Promise<void> {
  const L = sdCard(kind);
  const mt = path.join(work, `sd-${kind}-mtools`);
  mtoolsExtract(`${L.disk}@@${L.fatOff}`, mt);
  const want = hostTree(mt);
  expectSame(want, asFat(hostTree(L.src)), `${kind} partition 1: mtools extraction differs from the source (oracle broken)`);
  const p1 = await fs2tarExtract(['-P', '1', L.disk], path.join(work, `sd-${kind}-p1`));
  expectSame(p1, want, `${kind}: fs2tar -P 1 differs from mcopy -s of partition 1`);
  const p2 = (await fs2tarExtract(['-P', '2', L.disk], path.join(work, `sd-${kind}-p2`))).filter((e) => !e.path.startsWith('lost+found'));
  expectSame(p2, hostTree(L.extSrc), `${kind}: fs2tar -P 2 differs from the ext4 partition's source`);
}

test('SD-card layout, MBR (sfdisk): fs2tar -P 1 archives the FAT32 boot partition, -P 2 the ext4 root', { skip: MBR_SKIP, timeout: 180_000 }, async () => {
  await checkSdCard('mbr');
});

test('SD-card layout, GPT (sgdisk): fs2tar -P 1 archives the FAT32 boot partition, -P 2 the ext4 root', { skip: GPT_SKIP, timeout: 180_000 }, async () => {
  await checkSdCard('gpt');
});
