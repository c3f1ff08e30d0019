/*
 * The block device as filesystems see it (struct block_device + the buffer cache's bread/bwrite).
 *
 * A BlockDevice is a whole disk ("vda") or one partition of it ("vda1"); both address bytes from
 * their own start. Filesystems read and write in blocks of their own size (a power of two from 512
 * to 65536) through the disk's cache, which is charged to the kernel's memory budget and evicted
 * LRU; a cached block is returned without awaiting. Contract:
 *   - bread() returns the block's current bytes. The caller must not modify them; to change a
 *     block, build the new content and bwrite() it (or modify the bytes of getblk() and mark it).
 *   - Reads past the device end throw KernelError(EIO); I/O errors of the backend are EIO too,
 *     logged once with the sector like Linux's "I/O error, dev vda, sector N".
 *   - On a read-only device bwrite() throws EROFS.
 *   - sync() writes back every dirty block in sector order and issues a flush (barrier).
 */
export interface BlockDevice {
  /** Kernel dev_t (MKDEV(254, minor)): virtio-blk numbering, 16 minors per disk. */
  readonly dev: number;
  /** "vda", "vda1", ... */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Bytes per logical sector (512). */
  readonly sectorSize: number;
  /**
   * Block `nr` of `blockSize` bytes, through the cache. A miss also feeds the device's sequential
   * readahead, as reads of the block device itself do; `deviceReadahead` false leaves it out, for
   * file data whose filesystem runs the file's own readahead (Linux reads file data through the
   * file's page cache and file_ra_state, never the device's): random 4 KiB reads of 1 KiB blocks
   * otherwise looked sequential to the device four blocks at a time and pulled 128 KiB windows.
   */
  bread(nr: number, blockSize: number, deviceReadahead?: boolean): Uint8Array | Promise<Uint8Array>;
  /**
   * Fill `dst` with blocks [nr, nr + dst.length / blockSize): a streaming read of file data. Where
   * none of the range is cached it goes straight from the backend into `dst` and caches nothing
   * (see Gendisk.readStream); otherwise it reads through the cache like bread.
   */
  readStream(nr: number, blockSize: number, dst: Uint8Array): void | Promise<void>;
  /**
   * Bytes [offset, offset + dst.length) through the cache into `dst`, a page at a time, without
   * the device's readahead: file data spanning several small blocks in one call (bread would make
   * a view per block).
   */
  readCached(offset: number, dst: Uint8Array): void | Promise<void>;
  /** Start reading `count` blocks from `nr` into the cache; does not wait. */
  readahead(nr: number, count: number, blockSize: number): void;
  /** Replace block `nr` with `data` (data.length === blockSize); written back later or by sync(). */
  bwrite(nr: number, blockSize: number, data: Uint8Array): void | Promise<void>;
  /** Arbitrary bytes from a byte offset (e.g. the ext4 superblock at 1024), through the cache. */
  readBytes(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /** Write back dirty blocks and flush the backend. */
  sync(): Promise<void>;
  /** Drop clean cached blocks of this device (after umount), so the next mount rereads. */
  invalidate(): void;
}
