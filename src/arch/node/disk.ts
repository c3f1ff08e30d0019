/*
 * Disk images on the Node host: a DiskBackend over a file descriptor with positioned,
 * synchronous I/O (fs.readSync/writeSync at an offset), so the kernel's block layer serves every
 * read without awaiting. Synchronous I/O blocks the event loop for the duration of one request
 * (at most 512 KiB); for a local file that is what a kernel thread doing I/O would cost anyway.
 *
 * Capacity. For a regular file it is the file size at open. For a block device (/dev/loop0,
 * /dev/sdb) fstat reports size 0 and Node has no BLKGETSIZE64 ioctl, so the size is read from
 * sysfs (/sys/dev/block/MAJ:MIN/size, in 512-byte sectors); failing that, it is found by probing
 * reads (a binary search for the last readable byte).
 *
 * Errors. A short read (the image shrank under us) or a short write that makes no progress
 * throws; the block layer turns that into EIO. Opening read-write a file that only allows reading
 * (EACCES, EROFS, EPERM) throws an error saying so, with the system error's code kept: whether
 * to fall back to read-only is the caller's decision.
 */
import * as fs from 'node:fs';
import type { DiskBackend } from '../host.js';

export interface DiskImageOptions {
  /** Open O_RDONLY and refuse writes (default false: O_RDWR). */
  readOnly?: boolean;
}

/** Size of a block device from sysfs, or NaN. */
function sysfsSize(rdev: number): number {
  // glibc's dev_t encoding: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const major = Math.floor(rdev / 256) & 0xfff | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
  try {
    const s = fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    return Number(s.trim()) * 512;
  } catch {
    return NaN;
  }
}

/** The last readable byte + 1, by binary search over 512-byte-aligned offsets. */
function probeSize(fd: number): number {
  const one = new Uint8Array(1);
  const readable = (off: number) => { try { return fs.readSync(fd, one, 0, 1, off) === 1; } catch { return false; } };
  if (!readable(0)) return 0;
  let lo = 0, hi = 512;
  while (readable(hi) && hi < 2 ** 52) { lo = hi; hi *= 2; }
  // lo readable, hi not: narrow to the sector, then to the byte.
  while (hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (readable(mid)) lo = mid; else hi = mid; }
  return lo + 1;
}

export function openDiskImage(path: string, opts: DiskImageOptions = {}): DiskBackend {
  const readOnly = opts.readOnly ?? false;
  let fd: number;
  try {
    fd = fs.openSync(path, readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!readOnly && (err.code === 'EACCES' || err.code === 'EROFS' || err.code === 'EPERM')) {
      const w = new Error(`${path}: cannot open the disk image for writing (${err.code}); open it read-only`) as NodeJS.ErrnoException;
      if (err.code !== undefined) w.code = err.code;
      if (err.errno !== undefined) w.errno = err.errno;
      w.path = path;
      throw w;
    }
    throw e;
  }
  let capacity: number;
  try {
    const st = fs.fstatSync(fd);
    if (st.isFile()) capacity = st.size;
    else if (st.isBlockDevice()) {
      capacity = sysfsSize(st.rdev);
      if (!Number.isFinite(capacity)) capacity = probeSize(fd);
    } else throw new Error(`${path}: not a regular file or block device`);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let closed = false;
  const live = () => { if (closed) throw new Error(`${path}: disk image closed`); };
  return {
    capacity,
    readOnly,
    read(buf: Uint8Array, offset: number): void {
      live();
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
        if (n <= 0) throw new Error(`${path}: short read at byte ${offset + done} (image ends early)`);
        done += n;
      }
    },
    write(buf: Uint8Array, offset: number): void {
      live();
      if (readOnly) throw new Error(`${path}: disk image is read-only`);
      let done = 0;
      while (done < buf.length) {
        const n = fs.writeSync(fd, buf, done, buf.length - done, offset + done);
        if (n <= 0) throw new Error(`${path}: short write at byte ${offset + done}`);
        done += n;
      }
    },
    flush(): void {
      live();
      if (!readOnly) fs.fdatasyncSync(fd);
    },
    close(): void {
      if (closed) return;
      closed = true;
      fs.closeSync(fd);
    },
  };
}
