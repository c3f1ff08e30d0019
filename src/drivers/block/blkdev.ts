/*
 * The block device node as a file (block/fops.c): open("/dev/vda") reads and writes the disk's
 * bytes through the buffer cache.
 *
 *   read     at or past the end of the device: 0 (end of file); otherwise up to the end
 *   write    read-only device: EPERM; at or past the end: ENOSPC; otherwise up to the end.
 *            Data goes to the cache and reaches the disk on fsync, BLKFLSBUF or the last close
 *   llseek   SEEK_END counts from the device size; positions outside [0, size] are EINVAL;
 *            SEEK_DATA/SEEK_HOLE see one extent of data (fixed_size_llseek)
 *   ioctl    BLKGETSIZE64, BLKGETSIZE, BLKSSZGET, BLKPBSZGET, BLKBSZGET, BLKIOMIN, BLKIOOPT,
 *            BLKROGET, BLKFLSBUF (CAP_SYS_ADMIN), BLKRRPART (EBUSY); anything else ENOTTY
 */
import { fail, isPromise } from '../../lib/errors.js';
import { EBADF, EFAULT, EINVAL, ENOSPC, ENOTTY, ENXIO, EPERM, EACCES, EBUSY } from '../../uapi/errno.js';
import { SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE } from '../../uapi/fcntl.js';
import { BLKGETSIZE64, BLKSSZGET, BLKGETSIZE, CAP_SYS_ADMIN } from '../../uapi/misc.js';
import type { File, FileOperations } from '../../fs/vfs/index.js';
import type { BlockDev } from '../../block/index.js';

export const BLKROGET = 0x125e, BLKRRPART = 0x125f, BLKFLSBUF = 0x1261, BLKIOMIN = 0x1278,
  BLKIOOPT = 0x1279, BLKPBSZGET = 0x127b, BLKBSZGET = 0x80081270;

function bdevOf(file: File): BlockDev {
  return (file.private_data as BlockDev | undefined) ?? fail(EBADF);
}

/** Store an integer result of `bytes` bytes: into a Uint8Array (little-endian) or { value }. */
function putInt(arg: unknown, v: number, bytes: 4 | 8): void {
  if (arg instanceof Uint8Array) {
    if (arg.length < bytes) fail(EFAULT);
    const dv = new DataView(arg.buffer, arg.byteOffset, bytes);
    if (bytes === 8) dv.setBigUint64(0, BigInt(v), true); else dv.setUint32(0, v >>> 0, true);
    return;
  }
  if (ArrayBuffer.isView(arg)) { putInt(new Uint8Array(arg.buffer, arg.byteOffset, arg.byteLength), v, bytes); return; }
  if (typeof arg === 'object' && arg !== null) { (arg as { value: number }).value = v; return; }
  fail(EFAULT);
}

/** The soft block size of a device node: the largest power of two up to 4 KiB dividing its size. */
function softBlockSize(size: number): number {
  let bs = 4096;
  while (bs > 512 && size % bs !== 0) bs >>= 1;
  return bs;
}

/** FileOperations of every block device node; `find` maps the inode's rdev to its device. */
export function blkdevFops(find: (dev: number) => BlockDev | undefined): FileOperations {
  return {
    open(inode, file) {
      const b = find(inode.rdev);
      if (!b || b.dead) fail(ENXIO);
      file.private_data = b;
      b.openers++;
    },
    async release(_inode, file) {
      const b = file.private_data as BlockDev | undefined;
      if (!b) return;
      // The last close writes back what was written through this node (blkdev_put).
      if (--b.openers === 0 && !b.dead && !b.readOnly) {
        try { await b.sync(); } catch { /* reported by the block layer */ }
      }
    },
    read(file, buf, pos) {
      const b = bdevOf(file);
      if (pos >= b.size || buf.length === 0) return 0;
      const n = Math.min(buf.length, b.size - pos);
      const r = b.readInto(pos, buf.subarray(0, n));
      return isPromise(r) ? r.then(() => n) : n;
    },
    write(file, buf, pos) {
      const b = bdevOf(file);
      if (b.readOnly) fail(EPERM);
      if (pos >= b.size) fail(ENOSPC);
      if (buf.length === 0) return 0;
      const n = Math.min(buf.length, b.size - pos);
      const r = b.writeBytes(pos, buf.subarray(0, n));
      return isPromise(r) ? r.then(() => n) : n;
    },
    llseek(file, offset, whence) {
      const size = bdevOf(file).size;
      let pos: number;
      switch (whence) {
        case SEEK_SET: pos = offset; break;
        case SEEK_CUR: if (offset === 0) return file.pos; pos = file.pos + offset; break;
        case SEEK_END: pos = size + offset; break;
        case SEEK_DATA: if (offset < 0 || offset >= size) fail(ENXIO); pos = offset; break;
        case SEEK_HOLE: if (offset < 0 || offset >= size) fail(ENXIO); pos = size; break;
        default: fail(EINVAL);
      }
      if (pos < 0 || pos > size) fail(EINVAL);
      file.pos = pos;
      return pos;
    },
    async fsync(file) { await bdevOf(file).sync(); },
    async ioctl(file, cmd, arg) {
      const b = bdevOf(file);
      switch (cmd >>> 0) {
        case BLKGETSIZE64: putInt(arg, b.size, 8); return 0;
        case BLKGETSIZE: putInt(arg, b.nrSectors, 8); return 0;
        case BLKSSZGET: putInt(arg, b.sectorSize, 4); return 0;
        case BLKPBSZGET: putInt(arg, b.sectorSize, 4); return 0;
        case BLKIOMIN: putInt(arg, b.sectorSize, 4); return 0;
        case BLKIOOPT: putInt(arg, 0, 4); return 0;
        case BLKBSZGET: putInt(arg, softBlockSize(b.size), 4); return 0;
        case BLKROGET: putInt(arg, b.readOnly ? 1 : 0, 4); return 0;
        case BLKFLSBUF:
          if (!file.cred.capable(CAP_SYS_ADMIN)) fail(EACCES);
          if (!b.readOnly) await b.sync();
          b.invalidate();
          return 0;
        // Re-reading the table under a live kernel is not supported: answer as Linux does while partitions are in use.
        case BLKRRPART: fail(b.partno ? EINVAL : EBUSY);
        default: fail(ENOTTY);
      }
    },
  };
}
