/*
 * Damaged ext4 images: flipped bytes in the superblock, a group descriptor, an inode, an extent
 * block, and crafted feature words. Each case must end in Linux's errno and printk, never in a
 * crash or a hang, and the image file must be byte-identical afterwards (it is attached
 * read-only, and hashed before and after).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { EIO, EBADMSG, EINVAL, EUCLEAN } from '../../src/uapi/errno.js';
import { crc32c } from '../../src/lib/crc32c.js';
import { E2FS, tmpdir, bootWithImage, mountImage, fileSha256, pattern, fileBackend } from './fixtures.js';

const skip = E2FS ? false : 'e2fsprogs (mke2fs) not installed';
const work = E2FS ? tmpdir('ext4-corrupt-') : '';
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

let seq = 0;
/** A fresh 4 KiB-block ext4 image with a few files, including a depth-2 extent tree. */
function image(extra: string[] = []): string {
  const src = path.join(work, `src${seq}`);
  if (!fs.existsSync(src)) {
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'small.txt'), 'hello\n');
    fs.writeFileSync(path.join(src, 'data'), pattern(100000, 5));
    const fd = fs.openSync(path.join(src, 'fragmented'), 'w');
    for (let i = 0; i < 2000; i++) fs.writeSync(fd, pattern(4096, i), 0, 4096, i * 8192);
    fs.closeSync(fd);
  }
  const img = path.join(work, `img${seq++}.img`);
  const r = spawnSync('mke2fs', ['-F', '-q', '-t', 'ext4', '-b', '4096', ...extra, '-d', src, img, '64M'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return img;
}

function patch(img: string, offset: number, bytes: number[] | ((b: Buffer) => void), len = 1024): void {
  const fd = fs.openSync(img, 'r+');
  const b = Buffer.alloc(len);
  fs.readSync(fd, b, 0, len, offset);
  if (typeof bytes === 'function') bytes(b); else bytes.forEach((x, i) => { b[i] = x; });
  fs.writeSync(fd, b, 0, len, offset);
  fs.closeSync(fd);
}

/** Rewrite the primary superblock through `f`, then fix its checksum. */
function patchSuper(img: string, f: (v: DataView) => void): void {
  patch(img, 1024, (b) => {
    const v = new DataView(b.buffer, b.byteOffset, 1024);
    f(v);
    v.setUint32(0x3fc, crc32c(0xffffffff, b, 0, 0x3fc), true);
  });
}

function debugfs(img: string, cmd: string): string {
  return spawnSync('debugfs', ['-R', cmd, img], { encoding: 'utf8' }).stdout;
}

/** Mount the (read-only attached) image and run `check` on the mounted kernel; image unchanged. */
async function withMount(img: string, fstype: string, flags: number, check: (r: number, b: Awaited<ReturnType<typeof bootWithImage>>) => Promise<void>, data: string | null = null) {
  const before = fileSha256(img);
  const b = await bootWithImage(img, { readOnly: true });
  try {
    const r = await mountImage(b, fstype, flags, data);
    await check(r, b);
  } finally {
    await b.halt();
  }
  assert.equal(fileSha256(img), before, 'image file modified');
}

test('superblock checksum mismatch: EBADMSG and Linux message', { skip }, async () => {
  const img = image();
  patch(img, 1024 + 0x78, [0x41]); // s_volume_name, not covered by anything else
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EBADMSG, `got ${r}, want ${-EBADMSG}`);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): VFS: Found ext4 filesystem with invalid superblock checksum\. {2}Run e2fsck\?/);
  });
});

test('bad magic: EINVAL, "Can\'t find ext4 filesystem"', { skip }, async () => {
  const img = image();
  patch(img, 1024 + 0x38, [0x00, 0x00]);
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EINVAL);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): VFS: Can't find ext4 filesystem/);
  });
});

test('unknown INCOMPAT feature: EINVAL with the feature bits', { skip }, async () => {
  const img = image();
  patchSuper(img, (v) => v.setUint32(0x60, v.getUint32(0x60, true) | 0x80000000, true));
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EINVAL);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): Couldn't mount because of unsupported optional features \(80000000\)/);
  });
});

test('unknown RO_COMPAT feature: read-only mount works, read-write request refused', { skip }, async () => {
  const img = image();
  patchSuper(img, (v) => v.setUint32(0x64, v.getUint32(0x64, true) | 0x40000000, true));
  await withMount(img, 'ext4', MS_RDONLY, async (r) => assert.equal(r, 0, `ro mount got ${r}`));
  // A writable device and no MS_RDONLY: Linux refuses the read-write mount.
  const copy = `${img}.rw`;
  fs.copyFileSync(img, copy);
  const be = fileBackend(copy, false);
  const b = await bootWithImage(be);
  try {
    const r = await mountImage(b, 'ext4', 0);
    assert.equal(r, -EINVAL, `rw mount got ${r}, want ${-EINVAL}`);
    assert.match(b.dmesg(), /couldn't mount RDWR because of unsupported optional features \(40000000\)/);
  } finally { await b.halt(); }
  assert.equal(be.writes, 0, 'a refused mount wrote to the device');
});

test('ext4 image mounted as ext2 or ext3: EINVAL, Linux message', { skip }, async () => {
  const img = image(['-O', '^has_journal']);
  await withMount(img, 'ext2', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EINVAL);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): couldn't mount as ext2 due to feature incompatibilities/);
  });
  await withMount(img, 'ext3', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EINVAL);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): couldn't mount as ext3 due to feature incompatibilities/);
  });
});

test('group descriptor checksum mismatch: warned about on a read-only mount, as Linux', { skip }, async () => {
  const img = image();
  // Group descriptors start in block 1 (4 KiB blocks): flip bg_itable_unused_lo of group 0.
  patch(img, 4096 + 0x1c, (b) => { b[0] ^= 0x01; }, 2);
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, 0, `got ${r}, want 0`);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): ext4_check_descriptors: Checksum for group 0 failed \(\d+!=\d+\)/);
  });
});

test('group descriptor naming an inode table outside the group: EUCLEAN', { skip }, async () => {
  const img = image(['-O', '^flex_bg']);
  patch(img, 4096 + 0x08, [0xff, 0xff, 0xff, 0x00]); // bg_inode_table_lo
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, -EUCLEAN, `got ${r}, want ${-EUCLEAN}`);
    assert.match(b.dmesg(), /ext4_check_descriptors: Inode table for group 0 not in group \(block 16777215\)!/);
    assert.match(b.dmesg(), /EXT4-fs \(vda\): group descriptors corrupted!/);
  });
});

function inodeLoc(img: string, p: string): number {
  const out = debugfs(img, `imap ${p}`);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  assert.ok(m, `imap ${p}: ${out}`);
  return Number(m[1]) * 4096 + parseInt(m[2]!, 16);
}

test('inode checksum mismatch: EBADMSG naming the inode; others still readable', { skip }, async () => {
  const img = image();
  const off = inodeLoc(img, '/small.txt');
  patch(img, off + 0x10, (b) => { b[0] ^= 0x5a; }, 1); // i_mtime
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, 0);
    const st = {};
    const e = await b.lkl.sys.lstat('/mnt/small.txt', st);
    assert.equal(e, -EBADMSG, `got ${e}, want ${-EBADMSG}`);
    assert.match(b.dmesg(), /EXT4-fs error \(device vda\): __ext4_iget:\d+: inode #\d+: comm \S+: iget: checksum invalid/);
    const data = await b.lkl.fs.readFile('/mnt/data') as Uint8Array;
    assert.equal(data.length, 100000, 'another file still reads');
  });
});

test('extent root with a bad magic: EUCLEAN at iget', { skip }, async () => {
  const img = image(['-O', '^metadata_csum']);
  const off = inodeLoc(img, '/data');
  patch(img, off + 0x28, [0x0b, 0xf3], 2);
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, 0);
    const e = await b.lkl.sys.open('/mnt/data', 0, 0);
    assert.equal(e, -EUCLEAN, `got ${e}, want ${-EUCLEAN}`);
    assert.match(b.dmesg(), /EXT4-fs error \(device vda\): ext4_ext_check_inode:\d+: inode #\d+: comm \S+: pblk 0 bad header\/extent: invalid magic - magic f30b, entries \d+, max 4\(4\), depth 0\(0\)/);
  });
});

function extentBlocks(img: string, p: string): { index: number; leaf: number } {
  const out = debugfs(img, `ex ${p}`);
  // Level lines: " 0/ 2   1/  1     0 - 3998  3943   3999" (an index node's block after the range).
  const lines = out.split('\n').filter((l) => /^\s*\d+\/\s*\d+/.test(l));
  const lvl1 = lines.find((l) => /^\s*1\/\s*2/.test(l))!;
  const lvl0 = lines.find((l) => /^\s*0\/\s*2/.test(l))!;
  const blockOf = (l: string) => Number(l.trim().split(/\s+/).slice(-2)[0]);
  return { index: blockOf(lvl0), leaf: blockOf(lvl1) };
}

test('extent tree block: a checksum mismatch or bad header is logged and read(2) gives EIO, no crash', { skip }, async () => {
  const img = image();
  const { index, leaf } = extentBlocks(img, '/fragmented');
  // A data pointer inside an index node (block `index` is the depth-1 node): flip it.
  patch(img, index * 4096 + 12 + 4, (b) => { b[0] ^= 0x01; }, 1);
  await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, 0);
    const fd = await b.lkl.sys.open('/mnt/fragmented', 0, 0);
    assert.ok(fd >= 0, `open got ${fd}`);
    const buf = new Uint8Array(65536);
    const n = await b.lkl.sys.pread64(fd, buf, buf.length, 0);
    // The mapping fails with EUCLEAN/EBADMSG inside; a read(2) reports it as EIO, as the host kernel does.
    assert.equal(n, -EIO, `got ${n}, want -EIO`);
    assert.match(b.dmesg(), /EXT4-fs error \(device vda\): ext4_find_extent:\d+: inode #\d+: comm \S+: pblk \d+ bad header\/extent: /);
    await b.lkl.sys.close(fd);
  });
  const img2 = image(['-O', '^metadata_csum']);
  const l2 = extentBlocks(img2, '/fragmented').leaf;
  patch(img2, l2 * 4096, [0, 0], 2); // leaf magic
  await withMount(img2, 'ext4', MS_RDONLY, async (r, b) => {
    assert.equal(r, 0);
    const fd = await b.lkl.sys.open('/mnt/fragmented', 0, 0);
    const buf = new Uint8Array(4096);
    const n = await b.lkl.sys.pread64(fd, buf, buf.length, 0);
    assert.equal(n, -EIO, `got ${n}, want ${-EIO} (read(2) reports the failed mapping as EIO)`);
    assert.match(b.dmesg(), new RegExp(`ext4_find_extent:\\d+: inode #\\d+: comm \\S+: pblk ${l2} bad header/extent: invalid magic - magic 0`));
    await b.lkl.sys.close(fd);
  });
  void leaf;
});

test('random byte flips in metadata never crash or hang the kernel', { skip }, async () => {
  const img = image();
  const clean = fs.readFileSync(img);
  let x = 12345;
  const rnd = (n: number) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
  for (let round = 0; round < 12; round++) {
    fs.writeFileSync(img, clean);
    // Somewhere in the first 2 MiB: superblock, descriptors, bitmaps, inode tables, directories.
    for (let k = 0; k < 8; k++) patch(img, rnd(2 << 20), (b) => { b[0] ^= 1 << rnd(8); }, 1);
    await withMount(img, 'ext4', MS_RDONLY, async (r, b) => {
      if (r !== 0) { assert.doesNotMatch(b.dmesg(), /BUG:|Oops/, 'a kernel bug on mount'); return; }
      for (const p of ['/mnt/small.txt', '/mnt/data', '/mnt/fragmented']) {
        const fd = await b.lkl.sys.open(p, 0, 0);
        if (fd < 0) continue;
        const buf = new Uint8Array(1 << 16);
        for (let off = 0; off < 1 << 20; off += buf.length) if (await b.lkl.sys.pread64(fd, buf, buf.length, off) <= 0) break;
        await b.lkl.sys.close(fd);
      }
      await b.lkl.fs.readdir('/mnt').catch(() => []);
      assert.doesNotMatch(b.dmesg(), /BUG:|Oops/, `round ${round}: a kernel bug\n${b.dmesg()}`);
    });
  }
});
