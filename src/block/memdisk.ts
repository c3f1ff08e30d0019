/*
 * A disk in memory: the backend for a Uint8Array image (or a zeroed one of a given size). It is
 * synchronous, so reads through the cache never await. The bytes are the caller's: writes land
 * in the array passed in, which is how a test or an embedding program sees what the kernel wrote.
 */
import type { DiskBackend } from '../arch/host.js';

export function createMemoryDisk(bytes: Uint8Array | number, readOnly = false): DiskBackend {
  const image = typeof bytes === 'number' ? new Uint8Array(bytes) : bytes;
  const check = (len: number, offset: number) => {
    if (!(offset >= 0) || offset + len > image.length) {
      throw new RangeError(`memory disk: access at ${offset}+${len} beyond ${image.length} bytes`);
    }
  };
  return {
    capacity: image.length,
    readOnly,
    read(buf, offset) { check(buf.length, offset); buf.set(image.subarray(offset, offset + buf.length)); },
    write(buf, offset) {
      if (readOnly) throw new Error('memory disk is read-only');
      check(buf.length, offset);
      image.set(buf, offset);
    },
    flush() { /* nothing is volatile */ },
    discard(offset, length) { check(length, offset); image.fill(0, offset, offset + length); },
  };
}
