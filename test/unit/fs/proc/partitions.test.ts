/*
 * /proc/partitions: the header alone without a block layer or disks; with disks, one line per
 * disk and partition in Linux's format (sizes in 1 KiB blocks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Kernel } from '../../../../src/kernel/index.js';
import { createTmpfsType } from '../../../../src/fs/tmpfs/index.js';
import { doFilpOpen, fput, vfsRead } from '../../../../src/fs/vfs/index.js';
import { utf8Decode } from '../../../../src/lib/bytestr.js';
import { O_RDONLY } from '../../../../src/uapi/fcntl.js';
import { BlockLayer, attachBlockLayer, createMemoryDisk } from '../../../../src/block/index.js';
import { procInitcall } from '../../../../src/fs/proc/index.js';

async function boot(): Promise<Kernel> {
  const k = new Kernel(new FakeHost(), 'mem=32M');
  await k.boot([
    { name: 'tmpfs', fn: (kk) => { kk.vfs.registerFilesystem(createTmpfsType('tmpfs')); kk.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    procInitcall,
  ]);
  await k.mountAt('/proc', 'proc');
  return k;
}

async function readPartitions(k: Kernel): Promise<string> {
  const f = await doFilpOpen(k.init.fsContext(), k.rootPath(), '/proc/partitions', { flags: O_RDONLY, mode: 0, resolve: 0 });
  const buf = new Uint8Array(8192);
  let s = '';
  for (;;) {
    const n = await vfsRead(f, buf);
    if (n <= 0) break;
    s += utf8Decode(buf.subarray(0, n));
  }
  await fput(f);
  return s;
}

test('/proc/partitions without disks is the header', async () => {
  const k = await boot();
  assert.equal(await readPartitions(k), 'major minor  #blocks  name\n\n');
  await k.shutdown('halt');
});

test('/proc/partitions lists disks and partitions', async () => {
  const k = await boot();
  const layer = new BlockLayer(k.mem, k.printk);
  attachBlockLayer(k, layer);
  const img = new Uint8Array(16 * 1024 * 1024);
  const v = new DataView(img.buffer);
  img[446 + 4] = 0x83; v.setUint32(446 + 8, 2048, true); v.setUint32(446 + 12, 4096, true);
  img[510] = 0x55; img[511] = 0xaa;
  const d = layer.addDisk(createMemoryDisk(img));
  await d.scanPartitions();
  layer.addDisk(createMemoryDisk(1024 * 1024 + 1536));
  assert.equal(await readPartitions(k),
    'major minor  #blocks  name\n\n' +
    ' 254        0      16384 vda\n' +
    ' 254        1       2048 vda1\n' +
    ' 254       16       1025 vdb\n');
  await k.shutdown('halt');
});
