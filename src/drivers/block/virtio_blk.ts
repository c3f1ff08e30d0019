/*
 * Host disks as block devices (LKL's virtio-blk over virtio-mmio, drivers/block/virtio_blk.c).
 *
 * diskAdd(k, backend) registers a disk and returns its id: the disk's virtio-mmio index, which
 * LKL shares between disks and network devices (allocVirtioIndex), so ids follow registration
 * order across both. The disk's *name* is separate: vda, vdb, ... by the lowest free disk index.
 *
 * A disk added before boot waits: the initcall creates the block layer once the memory budget
 * exists, probes the waiting disks (capacity line, partition scan), and its late step creates
 * /dev/vda, /dev/vda1, ... . A disk added after boot is probed at once; diskReady() resolves when
 * its partitions are scanned and its nodes exist. diskRemove refuses a disk with a mounted
 * filesystem (EBUSY), writes back what was cached, removes the nodes and closes the backend.
 *
 * The per-kernel state hangs off the Kernel object in a WeakMap, so kernels stay independent.
 */
import type { DiskBackend } from '../../arch/host.js';
import { fail, KernelError } from '../../lib/errors.js';
import { EACCES, EBUSY, ENOENT, ENOTBLK, ENXIO } from '../../uapi/errno.js';
import { S_IFBLK, S_ISBLK } from '../../uapi/stat.js';
import { KERN_INFO, KERN_NOTICE, type Initcall, type Kernel, type Task } from '../../kernel/index.js';
import {
  BlockLayer, attachBlockLayer, blockLayerOf, SECTOR_SIZE, type BlockDev, type Gendisk,
} from '../../block/index.js';
import { pathLookup, vfsUnlink, LOOKUP_FOLLOW, MNT_NODEV } from '../../fs/vfs/index.js';
import { blkdevFops } from './blkdev.js';

interface DiskEntry {
  id: number;
  backend: DiskBackend;
  disk?: Gendisk;
  /** Probe (partition scan, nodes) of a disk added after boot. */
  ready: Promise<void>;
  /** Device node paths created for it. */
  nodes: string[];
}

interface DriverState {
  nextVirtio: number;
  disks: Map<number, DiskEntry>;
  /** The initcall ran: new disks are probed at once. */
  probing: boolean;
  /** The late initcall ran (/dev exists): new disks get their nodes at once. */
  nodes: boolean;
}

const states = new WeakMap<Kernel, DriverState>();

function stateOf(k: Kernel): DriverState {
  let s = states.get(k);
  if (!s) { s = { nextVirtio: 0, disks: new Map(), probing: false, nodes: false }; states.set(k, s); }
  return s;
}

/** The next virtio-mmio device index (disks and network devices count together, as in LKL). */
export function allocVirtioIndex(k: Kernel): number { return stateOf(k).nextVirtio++; }

/** string_get_size(): "1.07 GB/1.00 GiB" with three significant digits. */
export function sizeString(bytes: number): string {
  const fmt = (v: number, base: number, units: string[]) => {
    let i = 0;
    while (v >= base && i < units.length - 1) { v /= base; i++; }
    const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
    return `${(Math.floor(v * 10 ** digits) / 10 ** digits).toFixed(digits)} ${units[i]}`;
  };
  return `${fmt(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'])}/${fmt(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'])}`;
}

/** Register the disk with the block layer and read its partition table. */
async function probe(k: Kernel, layer: BlockLayer, e: DiskEntry): Promise<void> {
  const d = layer.addDisk(e.backend);
  e.disk = d;
  k.printk(KERN_NOTICE, `virtio_blk virtio${e.id}: [${d.name}] ${d.nrSectors} ${SECTOR_SIZE}-byte logical blocks (${sizeString(d.capacity)})`);
  if (d.readOnly) k.printk(KERN_INFO, `virtio_blk virtio${e.id}: [${d.name}] read-only`);
  await d.scanPartitions();
}

async function makeNodes(k: Kernel, e: DiskEntry): Promise<void> {
  const d = e.disk;
  if (!d || d.dead) return;
  await k.makeDir('/dev', 0o755);
  for (const p of d.parts) {
    if (!p) continue;
    const path = `/dev/${p.name}`;
    await k.makeDevNode(path, S_IFBLK | 0o660, p.dev);
    e.nodes.push(path);
  }
}

/**
 * Add a disk; returns its id (virtio index). Before boot it is probed by the initcall; after,
 * at once (await diskReady(k, id) for its partitions and /dev nodes).
 */
export function diskAdd(k: Kernel, backend: DiskBackend): number {
  const s = stateOf(k);
  const e: DiskEntry = { id: allocVirtioIndex(k), backend, ready: Promise.resolve(), nodes: [] };
  s.disks.set(e.id, e);
  if (s.probing) {
    const layer = blockLayerOf(k)!;
    e.ready = (async () => {
      await probe(k, layer, e);
      if (s.nodes) await makeNodes(k, e);
    })();
    e.ready.catch(() => { /* seen by diskReady's callers */ });
  }
  return e.id;
}

/** Resolves when disk `id` is probed and its nodes exist (rejects if probing failed). */
export async function diskReady(k: Kernel, id: number): Promise<void> {
  const e = stateOf(k).disks.get(id) ?? fail(ENXIO);
  await e.ready;
}

/** Is a filesystem mounted from this disk (its st_dev, or its bdev, is one of the disk's devices)? */
function diskMounted(k: Kernel, d: Gendisk): boolean {
  const devs = new Set(d.parts.filter((p): p is BlockDev => p !== undefined));
  for (const m of k.vfs.mounts) {
    const sb = m.sb as unknown as { dev: number; bdev?: unknown };
    if ((sb.bdev && devs.has(sb.bdev as BlockDev)) || [...devs].some((p) => p.dev === sb.dev)) return true;
  }
  return false;
}

/** lkl_disk_remove: EBUSY while a filesystem of the disk is mounted. */
export async function diskRemove(k: Kernel, id: number): Promise<void> {
  const s = stateOf(k);
  const e = s.disks.get(id) ?? fail(ENXIO, `no disk ${id}`);
  try { await e.ready; } catch { /* a failed probe still leaves a disk to remove */ }
  const d = e.disk;
  if (d) {
    if (diskMounted(k, d)) fail(EBUSY);
    if (!d.readOnly && d.dirty.size) {
      try { await d.sync(); } catch { /* logged; the data is lost with the disk, as on a hot unplug */ }
    }
    if (k.init) {
      const ctx = { ...k.init.fsContext(), umask: 0 };
      for (const path of e.nodes.reverse()) {
        try { await vfsUnlink(ctx, k.rootPath(), path); } catch (err) {
          if (!(err instanceof KernelError && err.errno === ENOENT)) throw err;
        }
      }
    }
    blockLayerOf(k)?.removeDisk(d);
  }
  s.disks.delete(id);
  try { await e.backend.close?.(); } catch { /* the backend is gone either way */ }
}

/** The BlockDevice of disk `id`: part 0 is the whole disk, n is partition n. ENXIO if absent. */
export function getBlockDevice(k: Kernel, id: number, part = 0): BlockDev {
  const e = stateOf(k).disks.get(id) ?? fail(ENXIO, `no disk ${id}`);
  const p = e.disk?.parts[part];
  if (!p || p.dead) fail(ENXIO, `no partition ${part} on disk ${id}`);
  return p;
}

/** Disk ids in registration order. */
export function diskIds(k: Kernel): number[] { return [...stateOf(k).disks.keys()]; }

/**
 * lookup_bdev for mount(2): the path must name a block device node (ENOTBLK) on a mount that
 * allows devices (EACCES), of a disk that exists (ENXIO).
 */
export async function resolveBdev(k: Kernel, path: string, task: Task): Promise<BlockDev> {
  if (!path) fail(ENOENT);
  const ctx = task.fsContext();
  const p = await pathLookup(ctx, task.fs.pwd, path, LOOKUP_FOLLOW);
  const inode = p.dentry.inode!;
  if (!S_ISBLK(inode.mode)) fail(ENOTBLK);
  if (p.mnt.flags & MNT_NODEV) fail(EACCES);
  const b = blockLayerOf(k)?.findByDev(inode.rdev);
  if (!b || b.dead) fail(ENXIO);
  return b;
}

/** Linux's `gpt` kernel parameter (a bare word on the command line). */
function gptRequested(k: Kernel): boolean { return /(^|\s)gpt(\s|$)/.test(k.cmdline); }

export const blockInitcall: Initcall = {
  name: 'virtio_blk',
  fn: async (k) => {
    const layer = new BlockLayer(k.mem, k.printk);
    layer.forceGpt = gptRequested(k);
    attachBlockLayer(k, layer);
    const fops = blkdevFops((dev) => layer.findByDev(dev));
    k.vfs.blockDevice = (dev) => (layer.findByDev(dev) ? fops : undefined);
    const s = stateOf(k);
    s.probing = true;
    for (const e of s.disks.values()) {
      e.ready = probe(k, layer, e);
      try { await e.ready; } catch (err) { k.oops(`virtio_blk probe of disk ${e.id}`, err); }
    }
  },
  late: async (k) => {
    const s = stateOf(k);
    s.nodes = true;
    for (const e of s.disks.values()) {
      try { await e.ready; } catch { continue; }
      await makeNodes(k, e);
    }
  },
};
