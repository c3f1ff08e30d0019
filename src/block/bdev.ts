/*
 * struct block_device: the whole disk or one partition, as filesystems and /dev/vdX see it.
 *
 * A BlockDev is a window [start, start+size) onto its disk; every address it takes is relative
 * to its own start and checked against its size before it reaches the disk's cache. An access
 * past the end is EIO, logged as Linux's bio_check_eod does ("attempt to access beyond end of
 * device"). Each BlockDev keeps its own readahead state, so a sequential reader of vda1 is not
 * confused by a random reader of vda2.
 */
import { fail, isPromise, type MaybePromise } from '../lib/errors.js';
import { EINVAL, EIO, EROFS } from '../uapi/errno.js';
import { MKDEV } from '../uapi/stat.js';
import { PAGE_SIZE } from '../mm/index.js';
import { KERN_INFO } from '../kernel/printk/index.js';
import type { BlockDevice } from './types.js';
import type { Gendisk, RaState } from './gendisk.js';

const BLOCK_EXT_MAJOR = 259;
/** Beyond-end messages printed per device (printk_ratelimited). */
const EOD_MESSAGES = 10;

export class BlockDev implements BlockDevice {
  readonly disk: Gendisk;
  /** 0 for the whole disk. */
  readonly partno: number;
  readonly name: string;
  readonly dev: number;
  /** Byte offset of this device on its disk. */
  readonly start: number;
  readonly size: number;
  readonly sectorSize = 512;
  /** Minor of the extended major (259) this partition holds, or -1. */
  readonly extMinor: number;
  /** Files open on /dev/<name> (the last close writes back, as blkdev_put does). */
  openers = 0;
  readonly ra: RaState;
  private eodMessages = 0;

  constructor(disk: Gendisk, partno: number, name: string, dev: number, start: number, size: number) {
    this.disk = disk; this.partno = partno; this.name = name; this.dev = dev;
    this.start = start; this.size = size;
    this.extMinor = Math.floor(dev / 2 ** 20) === BLOCK_EXT_MAJOR ? dev % 2 ** 20 : -1;
    this.ra = { prev: -2, prevOff: -1, size: 0, end: 0, mark: -1, limit: Math.ceil((start + size) / PAGE_SIZE) };
  }

  static extDev(minor: number): number { return MKDEV(BLOCK_EXT_MAJOR, minor); }

  get readOnly(): boolean { return this.disk.readOnly; }
  /** Size in 512-byte sectors. */
  get nrSectors(): number { return this.size / 512; }
  /** The disk is gone (removed): every access fails. */
  get dead(): boolean { return this.disk.dead; }

  private checkBlockSize(blockSize: number): void {
    if (!(blockSize >= 512 && blockSize <= 65536 && (blockSize & (blockSize - 1)) === 0)) {
      fail(EINVAL, `${this.name}: bad block size ${blockSize}`);
    }
  }

  /** bio_check_eod: [off, off+len) must lie inside the device. */
  private checkRange(off: number, len: number, write: boolean): void {
    if (Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= this.size) return;
    if (this.eodMessages < EOD_MESSAGES) {
      this.eodMessages++;
      this.disk.layer.printk(KERN_INFO, `attempt to access beyond end of device\n${this.name}: rw=${write ? 1 : 0}, ` +
        `sector=${Math.floor(off / 512)}, nr_sectors = ${Math.ceil(len / 512)} limit=${this.nrSectors}`);
    }
    fail(EIO, `${this.name}: access beyond end of device`);
  }

  bread(nr: number, blockSize: number, deviceReadahead = true): MaybePromise<Uint8Array> {
    this.checkBlockSize(blockSize);
    const off = nr * blockSize;
    this.checkRange(off, blockSize, false);
    return this.disk.read(this.start + off, blockSize, deviceReadahead ? this.ra : null);
  }

  readCached(offset: number, dst: Uint8Array): MaybePromise<void> {
    this.checkRange(offset, dst.length, false);
    if (dst.length === 0) return;
    const r = this.disk.read(this.start + offset, dst.length, null, dst);
    if (isPromise(r)) return r.then(() => undefined);
  }

  readStream(nr: number, blockSize: number, dst: Uint8Array): MaybePromise<void> {
    this.checkBlockSize(blockSize);
    const off = nr * blockSize;
    this.checkRange(off, dst.length, false);
    if (dst.length === 0) return;
    return this.disk.readStream(this.start + off, dst);
  }

  readahead(nr: number, count: number, blockSize: number): void {
    this.checkBlockSize(blockSize);
    const off = nr * blockSize;
    if (!(off >= 0) || off >= this.size || !(count > 0)) return;
    this.disk.readahead(this.start + off, Math.min(count * blockSize, this.size - off));
  }

  bwrite(nr: number, blockSize: number, data: Uint8Array): MaybePromise<void> {
    this.checkBlockSize(blockSize);
    if (data.length !== blockSize) fail(EINVAL, `${this.name}: bwrite of ${data.length} bytes as a ${blockSize}-byte block`);
    if (this.readOnly) fail(EROFS);
    const off = nr * blockSize;
    this.checkRange(off, blockSize, true);
    return this.disk.write(this.start + off, data);
  }

  readBytes(offset: number, length: number): MaybePromise<Uint8Array> {
    this.checkRange(offset, length, false);
    if (length === 0) return new Uint8Array(0);
    return this.disk.read(this.start + offset, length, null);
  }

  /**
   * Read into `dst` from byte `offset`, with readahead for sequential callers (read(2) on the
   * device node). The range must lie inside the device.
   */
  readInto(offset: number, dst: Uint8Array): MaybePromise<Uint8Array> {
    this.checkRange(offset, dst.length, false);
    if (dst.length === 0) return dst;
    return this.disk.read(this.start + offset, dst.length, this.ra, dst);
  }

  /** Arbitrary bytes at `offset` (write(2) on the device node); partial pages are read first. */
  writeBytes(offset: number, data: Uint8Array): MaybePromise<void> {
    if (this.readOnly) fail(EROFS);
    this.checkRange(offset, data.length, true);
    return this.disk.write(this.start + offset, data);
  }

  async sync(): Promise<void> {
    if (this.disk.dead) fail(EIO, `${this.name}: disk removed`);
    await this.disk.sync(this.start, this.start + this.size);
  }

  invalidate(): void {
    if (!this.disk.dead) this.disk.invalidate(this.start, this.start + this.size);
  }
}
