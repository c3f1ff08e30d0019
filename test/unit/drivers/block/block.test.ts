/*
 * The virtio-blk driver on a kernel booted here (tmpfs root, /dev): disks added before and after
 * boot, their /dev nodes and /proc/partitions text, the raw device file (read, write, lseek,
 * ioctl, fsync through the VFS, as the syscalls call it) compared byte for byte with the image,
 * mount by device path, and diskRemove's rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Kernel, Cred } from '../../../../src/kernel/index.js';
import { createTmpfsType } from '../../../../src/fs/tmpfs/index.js';
import {
  FS_REQUIRES_DEV, doFilpOpen, doMount, doUmount, fput, vfsRead, vfsWrite, vfsLlseek, vfsGetattr,
  vfsMkdir, vfsMknod, pathLookup, LOOKUP_FOLLOW, type File, type FileSystemType, type SuperBlock,
} from '../../../../src/fs/vfs/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { createMemoryDisk, blockLayerOf, type BlockDev } from '../../../../src/block/index.js';
import {
  EBUSY, EINVAL, ENOSPC, ENOTBLK, ENXIO, EPERM, ENOTTY, ENOENT,
} from '../../../../src/uapi/errno.js';
import { O_RDONLY, O_RDWR } from '../../../../src/uapi/fcntl.js';
import { BLKGETSIZE64, BLKSSZGET, BLKGETSIZE } from '../../../../src/uapi/misc.js';
import { S_IFBLK, MKDEV } from '../../../../src/uapi/stat.js';
import { MS_RDONLY } from '../../../../src/uapi/mount.js';
import { driversInitcall } from '../../../../src/drivers/index.js';
import {
  blockInitcall, diskAdd, diskReady, diskRemove, getBlockDevice, resolveBdev, allocVirtioIndex,
} from '../../../../src/drivers/block/virtio_blk.js';

const MiB = 1024 * 1024;
const SEEK_SET = 0, SEEK_END = 2, SEEK_HOLE = 4;

/** A disk image with an MBR: vda1 at 1 MiB (4 MiB long), vda2 at 8 MiB (8 MiB long); random bytes. */
function mbrImage(size = 32 * MiB, seed = 7): Uint8Array {
  const img = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    img[i] = x & 255; img[i + 1] = (x >>> 8) & 255; img[i + 2] = (x >>> 16) & 255; img[i + 3] = x >>> 24;
  }
  img.fill(0, 0, 512);
  const v = new DataView(img.buffer);
  const ent = (i: number, start: number, n: number) => {
    const o = 446 + 16 * i;
    img[o + 4] = 0x83;
    v.setUint32(o + 8, start, true); v.setUint32(o + 12, n, true);
  };
  ent(0, 2048, 8192); ent(1, 16384, 16384);
  img[510] = 0x55; img[511] = 0xaa;
  return img;
}

/** A filesystem that needs a device: tmpfs underneath, st_dev from the device (as ext4 sets it). */
function blkfsType(): FileSystemType {
  const tmp = createTmpfsType('blkfs-inner');
  const type: FileSystemType = {
    name: 'blkfs',
    fsFlags: FS_REQUIRES_DEV,
    async mount(req) {
      const sb: SuperBlock = await tmp.mount({ ...req, data: '' });
      sb.dev = (req.bdev as BlockDev).dev;
      return sb;
    },
  };
  return type;
}

async function bootKernel(before: Uint8Array[] = []) {
  const host = new FakeHost();
  const k = new Kernel(host, 'mem=32M');
  const ids = before.map((img) => diskAdd(k, createMemoryDisk(img)));
  await k.boot([
    { name: 'tmpfs', fn: (k) => { k.vfs.registerFilesystem(createTmpfsType('tmpfs')); k.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    { name: 'blkfs', fn: (k) => { k.vfs.registerFilesystem(blkfsType()); } },
    driversInitcall,
    blockInitcall,
  ]);
  return { host, k, ids };
}

async function open(k: Kernel, path: string, flags = O_RDWR): Promise<File> {
  return doFilpOpen(k.init.fsContext(), k.rootPath(), path, { flags, mode: 0, resolve: 0 });
}

async function errnoOf(f: () => unknown): Promise<number> {
  try { await f(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

async function mountDev(k: Kernel, source: string, target: string, fstype: string, flags = 0) {
  const ctx = k.init.fsContext();
  const tgt = await pathLookup(ctx, k.rootPath(), target, LOOKUP_FOLLOW);
  return doMount(k.vfs, ctx.cred, {
    source, target: tgt, fstype, flags, data: '', resolveBdev: (s) => resolveBdev(k, s, k.init),
  });
}

test('disks added before and after boot: ids, names, /dev nodes, partitions', async () => {
  const img0 = mbrImage(), img1 = new Uint8Array(4 * MiB);
  const { k, ids } = await bootKernel([img0]);
  assert.deepEqual(ids, [0]);
  assert.equal(allocVirtioIndex(k), 1, 'a network device takes the next virtio index');
  const id = diskAdd(k, createMemoryDisk(img1, true));
  assert.equal(id, 2, `got id ${id}, want 2 (shared numbering)`);
  await diskReady(k, id);
  const dmesg = k.log.dmesg();
  assert.match(dmesg, /virtio_blk virtio0: \[vda\] 65536 512-byte logical blocks \(33\.5 MB\/32\.0 MiB\)/);
  assert.match(dmesg, / vda: vda1 vda2\n/);
  for (const [path, dev] of [['/dev/vda', MKDEV(254, 0)], ['/dev/vda1', MKDEV(254, 1)], ['/dev/vda2', MKDEV(254, 2)], ['/dev/vdb', MKDEV(254, 16)]] as const) {
    const p = await pathLookup(k.init.fsContext(), k.rootPath(), path, 0);
    const st = await vfsGetattr(p);
    assert.equal(st.mode, S_IFBLK | 0o660, `${path} mode: got ${st.mode.toString(8)}`);
    assert.equal(st.rdev, dev, `${path} rdev: got ${st.rdev}, want ${dev}`);
  }
  assert.equal(blockLayerOf(k)!.partitionsText(),
    'major minor  #blocks  name\n\n' +
    ' 254        0      32768 vda\n' +
    ' 254        1       4096 vda1\n' +
    ' 254        2       8192 vda2\n' +
    ' 254       16       4096 vdb\n');
  assert.equal(getBlockDevice(k, 0, 2).name, 'vda2');
  assert.throws(() => getBlockDevice(k, 0, 3), (e: { errno?: number }) => e.errno === ENXIO);
  assert.throws(() => getBlockDevice(k, 1), (e: { errno?: number }) => e.errno === ENXIO);
  await k.shutdown('halt');
});

test('raw device file: read, lseek, ioctl and write match the image', async () => {
  const img = mbrImage();
  const { k } = await bootKernel([img]);
  const f = await open(k, '/dev/vda1');
  const size = 8192 * 512;
  const base = 2048 * 512;
  // Odd-sized sequential reads cover the whole partition.
  const out = new Uint8Array(size);
  let pos = 0;
  for (;;) {
    const n = await vfsRead(f, out.subarray(pos, Math.min(size, pos + 12345)));
    if (n === 0) break;
    pos += n;
  }
  assert.equal(pos, size);
  assert.ok(out.every((b, i) => b === img[base + i]), 'partition bytes differ from the image');
  assert.equal(await vfsRead(f, new Uint8Array(10)), 0, 'read at the end is EOF');
  // Sizes.
  const sz = new Uint8Array(8);
  assert.equal(await f.fop.ioctl!(f, BLKGETSIZE64, sz), 0);
  assert.equal(Number(new DataView(sz.buffer).getBigUint64(0, true)), size);
  const ss = { value: 0 };
  assert.equal(await f.fop.ioctl!(f, BLKSSZGET, ss), 0); assert.equal(ss.value, 512);
  assert.equal(await f.fop.ioctl!(f, BLKGETSIZE, ss), 0); assert.equal(ss.value, 8192);
  assert.equal(await errnoOf(() => f.fop.ioctl!(f, 0x5401, ss)), ENOTTY);
  // lseek.
  assert.equal(await vfsLlseek(f, 0, SEEK_END), size);
  assert.equal(await errnoOf(() => vfsLlseek(f, 1, SEEK_END)), EINVAL);
  assert.equal(await vfsLlseek(f, 100, SEEK_HOLE), size);
  assert.equal(await vfsLlseek(f, size - 3, SEEK_SET), size - 3);
  // Writes: cut at the end, ENOSPC past it, seen through the whole disk, on the image after fsync.
  const w = new Uint8Array(10).fill(0xcd);
  assert.equal(await vfsWrite(f, w), 3);
  assert.equal(await errnoOf(() => vfsWrite(f, w)), ENOSPC);
  assert.equal(await vfsWrite(f, w, 4000), 10);
  const whole = await open(k, '/dev/vda', O_RDONLY);
  const chk = new Uint8Array(10);
  assert.equal(await vfsRead(whole, chk, base + 4000), 10);
  assert.ok(chk.every((b) => b === 0xcd), 'write through vda1 not seen through vda');
  assert.notEqual(img[base + 4000], 0xcd, 'written to the image before fsync');
  await f.fop.fsync!(f, false);
  assert.equal(img[base + 4000], 0xcd, 'fsync did not write back');
  assert.equal(img[base + size - 1], 0xcd);
  assert.equal(img[base + size], mbrImage()[base + size], 'wrote past the partition');
  // The last close writes back too.
  assert.equal(await vfsWrite(f, w, 0), 10);
  await fput(whole);
  await fput(f);
  assert.equal(img[base], 0xcd, 'last close did not write back');
  await k.shutdown('halt');
});

test('read-only disk: write(2) on the node is EPERM', async () => {
  const img = new Uint8Array(MiB).fill(1);
  const { k } = await bootKernel();
  diskAdd(k, createMemoryDisk(img, true));
  await diskReady(k, 0);
  const f = await open(k, '/dev/vda');
  assert.equal(await errnoOf(() => vfsWrite(f, new Uint8Array(4))), EPERM);
  await fput(f);
  assert.ok(img.every((b) => b === 1));
  await k.shutdown('halt');
});

test('mount by device path; ENOTBLK, ENXIO; diskRemove is EBUSY while mounted', async () => {
  const { k } = await bootKernel([mbrImage()]);
  const ctx = { ...k.init.fsContext(), umask: 0 };
  await vfsMkdir(ctx, k.rootPath(), '/mnt', 0o755);
  const m = await mountDev(k, '/dev/vda1', '/mnt', 'blkfs', MS_RDONLY);
  assert.ok(m);
  const st = await vfsGetattr(await pathLookup(ctx, k.rootPath(), '/mnt', LOOKUP_FOLLOW));
  assert.equal(st.dev, MKDEV(254, 1), `st_dev of the mount: got ${st.dev}`);
  await vfsMkdir(ctx, k.rootPath(), '/mnt2', 0o755);
  assert.equal(await errnoOf(() => mountDev(k, '/dev/null', '/mnt2', 'blkfs')), ENOTBLK);
  assert.equal(await errnoOf(() => mountDev(k, '/dev', '/mnt2', 'blkfs')), ENOTBLK);
  assert.equal(await errnoOf(() => mountDev(k, '/dev/nothing', '/mnt2', 'blkfs')), ENOENT);
  await vfsMknod(ctx, k.rootPath(), '/dev/vdz', S_IFBLK | 0o600, MKDEV(254, 400));
  assert.equal(await errnoOf(() => mountDev(k, '/dev/vdz', '/mnt2', 'blkfs')), ENXIO);
  assert.equal(await errnoOf(() => open(k, '/dev/vdz')), ENXIO, 'open of a node without a disk');
  assert.equal(await errnoOf(() => diskRemove(k, 0)), EBUSY);
  await doUmount(k.vfs, new Cred(), { mnt: m!, dentry: m!.root }, 0);
  await diskRemove(k, 0);
  assert.equal(await errnoOf(() => pathLookup(ctx, k.rootPath(), '/dev/vda1', 0)), ENOENT, '/dev/vda1 left after removal');
  assert.equal(blockLayerOf(k)!.partitionsText(), 'major minor  #blocks  name\n\n');
  // The index is free again: the next disk is vda.
  const id = diskAdd(k, createMemoryDisk(MiB));
  await diskReady(k, id);
  assert.equal(id, 1);
  assert.equal(getBlockDevice(k, id).name, 'vda');
  await k.shutdown('halt');
});
