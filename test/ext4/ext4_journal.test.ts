/*
 * Journal replay at mount, with Linux's rules: a filesystem marked needs_recovery is replayed
 * when the device is writable (even for a read-only mount), refused with EROFS on a read-only
 * device, and mounted without its journal with `noload`. The dirty journal is crafted with
 * debugfs (journal_open / journal_write / journal_close): one transaction logging block 3000.
 * After our replay the image must pass e2fsck and hold the logged block; as root, the same
 * image replayed by the host kernel's loop mount must agree on that block.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { EROFS } from '../../src/uapi/errno.js';
import { E2FS, IS_ROOT, IN_CI, tmpdir, bootWithImage, mountImage, fileSha256, fileBackend } from './fixtures.js';

const skip = E2FS ? false : 'e2fsprogs (mke2fs, debugfs) not installed';
const work = E2FS ? tmpdir('ext4-journal-') : '';
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

const LOGGED = 3000;

function dirtyImage(name: string, extra: string[] = []): string {
  const img = path.join(work, `${name}.img`);
  let r = spawnSync('mke2fs', ['-F', '-q', '-t', 'ext4', '-b', '4096', ...extra, img, '32M'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  fs.writeFileSync(path.join(work, 'blk'), Buffer.alloc(4096, 0x5a));
  r = spawnSync('debugfs', ['-w', '-f', '-', img], { input: `jo\njw -b ${LOGGED} ${path.join(work, 'blk')}\njc\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(features(img), /needs_recovery/, 'debugfs left the journal dirty');
  return img;
}

function features(img: string): string {
  return spawnSync('dumpe2fs', ['-h', img], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.startsWith('Filesystem features')) ?? '';
}

function blockOf(img: string, n: number): Buffer {
  const b = Buffer.alloc(4096);
  const fd = fs.openSync(img, 'r');
  fs.readSync(fd, b, 0, 4096, n * 4096);
  fs.closeSync(fd);
  return b;
}

test('needs_recovery on a read-only device: EROFS with Linux messages; image untouched', { skip }, async () => {
  const img = dirtyImage('ro');
  const before = fileSha256(img);
  const b = await bootWithImage(img, { readOnly: true });
  try {
    const r = await mountImage(b, 'ext4', MS_RDONLY);
    assert.equal(r, -EROFS, `got ${r}, want ${-EROFS}`);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): INFO: recovery required on readonly filesystem\n.*EXT4-fs \(vda\): write access unavailable, cannot proceed \(try mounting with noload\)/);
    assert.equal(await mountImage(b, 'ext4', MS_RDONLY, 'noload', '/mnt2'), 0, 'noload mounts');
    assert.match(b.dmesg(), /mounted filesystem \S+ ro without journal/);
    const opts = await b.lkl.fs.readFile('/proc/mounts', 'utf8').catch(() => '');
    if (opts) assert.match(String(opts), /\/mnt2 ext4 ro,\S*norecovery/);
  } finally { await b.halt(); }
  assert.equal(fileSha256(img), before, 'image file modified');
});

test('needs_recovery on a writable device: replayed, flag cleared, fsck clean', { skip }, async () => {
  const img = dirtyImage('rw');
  assert.notDeepEqual(blockOf(img, LOGGED), Buffer.alloc(4096, 0x5a));
  const be = fileBackend(img, false);
  const b = await bootWithImage(be);
  try {
    const r = await mountImage(b, 'ext4', MS_RDONLY);
    assert.equal(r, 0, `got ${r}\n${b.dmesg()}`);
    const dm = b.dmesg();
    assert.match(dm, /EXT4-fs \(vda\): INFO: recovery required on readonly filesystem/);
    assert.match(dm, /EXT4-fs \(vda\): write access will be enabled during recovery/);
    assert.match(dm, /EXT4-fs \(vda\): recovery complete/);
    assert.match(dm, /mounted filesystem \S+ ro with ordered data mode/);
    assert.equal(await b.lkl.sys.umount2('/mnt', 0), 0);
  } finally { await b.halt(); }
  assert.deepEqual(blockOf(img, LOGGED), Buffer.alloc(4096, 0x5a), 'logged block replayed');
  assert.doesNotMatch(features(img), /needs_recovery/, 'needs_recovery cleared');
  const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  assert.equal(fsck.status, 0, `e2fsck after replay:\n${fsck.stdout}${fsck.stderr}`);
});

test('replay agrees with the host kernel (loop mount)', { skip: skip || (!IS_ROOT && !IN_CI ? 'needs root for a loop mount' : false) }, async () => {
  const img = dirtyImage('host');
  const hostCopy = `${img}.host`;
  fs.copyFileSync(img, hostCopy);
  const mnt = fs.mkdtempSync(path.join(work, 'mnt-'));
  const m = spawnSync('mount', ['-t', 'ext4', '-o', 'loop', hostCopy, mnt], { encoding: 'utf8' });
  if (m.status !== 0) {
    if (IN_CI) assert.fail(`loop mount failed: ${m.stderr}`);
    return;
  }
  spawnSync('umount', [mnt]);
  const be = fileBackend(img, false);
  const b = await bootWithImage(be);
  try { assert.equal(await mountImage(b, 'ext4', MS_RDONLY), 0); } finally { await b.halt(); }
  assert.deepEqual(blockOf(img, LOGGED), blockOf(hostCopy, LOGGED), 'replayed block as the host kernel replays it');
  assert.doesNotMatch(features(hostCopy), /needs_recovery/);
});
