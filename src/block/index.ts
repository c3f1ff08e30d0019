/*
 * The block layer: disks (Gendisk) with their buffer cache and request queue, block devices for
 * whole disks and partitions (BlockDev, implementing the BlockDevice contract of types.ts), the
 * per-kernel registry with naming and /proc/partitions (BlockLayer), and a memory-disk backend.
 * Partition tables are read by ./partitions.
 */
export type { BlockDevice } from './types.js';
export {
  BlockLayer, blockLayerOf, attachBlockLayer, diskName, VIRTBLK_MAJOR, BLOCK_EXT_MAJOR, DISK_MINORS,
} from './layer.js';
export { Gendisk, SECTOR_SIZE, RA_INIT, RA_MAX, type CachePage, type RaState } from './gendisk.js';
export { BlockDev } from './bdev.js';
export { RequestQueue, ReadRequest, MAX_REQUEST_PAGES, MAX_IN_FLIGHT } from './queue.js';
export { createMemoryDisk } from './memdisk.js';
