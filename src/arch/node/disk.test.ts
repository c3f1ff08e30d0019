/*
 * Disk images on the Node host: positioned reads and writes against what node:fs sees, capacity,
 * read-only images, short reads past the end, write-protected files, and the host's openDisk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDiskImage } from './disk.js';
import { createNodeHost } from './host.js';

function tmpImage(size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lkl-disk-'));
  const p = path.join(dir, 'disk.img');
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 9)) & 255;
  fs.writeFileSync(p, b);
  return p;
}

function cleanup(p: string): void { fs.rmSync(path.dirname(p), { recursive: true, force: true }); }

test('openDiskImage: capacity, positioned reads and writes, flush, close', () => {
  const p = tmpImage(3 * 1024 * 1024 + 512);
  try {
    const d = openDiskImage(p, { readOnly: false });
    assert.equal(d.capacity, 3 * 1024 * 1024 + 512);
    assert.equal(d.readOnly, false);
    const buf = new Uint8Array(100000);
    d.read(buf, 1234567);
    const want = fs.readFileSync(p).subarray(1234567, 1234567 + 100000);
    assert.ok(Buffer.from(buf).equals(want), 'read bytes differ from node:fs');
    const w = new Uint8Array(8192).fill(0x42);
    d.write(w, 4096);
    d.flush();
    const after = fs.readFileSync(p);
    assert.ok(after.subarray(4096, 4096 + 8192).every((b) => b === 0x42), 'write not in the file');
    assert.equal(after.length, 3 * 1024 * 1024 + 512, 'the file changed size');
    // Past the end: a short read is an error, never zeros.
    assert.throws(() => d.read(new Uint8Array(1024), d.capacity - 512), /short read/);
    d.close?.();
    d.close?.(); // idempotent
    assert.throws(() => d.read(new Uint8Array(1), 0), /closed/);
  } finally { cleanup(p); }
});

test('openDiskImage read-only: O_RDONLY, writes refused, the file is untouched', () => {
  const p = tmpImage(65536);
  try {
    const before = fs.readFileSync(p);
    const d = openDiskImage(p, { readOnly: true });
    assert.equal(d.readOnly, true);
    assert.throws(() => d.write(new Uint8Array(512), 0), /read-only/);
    d.flush();
    d.close?.();
    assert.ok(fs.readFileSync(p).equals(before));
  } finally { cleanup(p); }
});

test('openDiskImage: a missing file, a directory, a write-protected file', (t) => {
  assert.throws(() => openDiskImage('/nonexistent/disk.img', { readOnly: true }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  assert.throws(() => openDiskImage(os.tmpdir(), { readOnly: true }), /not a regular file or block device|EISDIR/);
  const p = tmpImage(4096);
  try {
    fs.chmodSync(p, 0o444);
    if (process.getuid?.() === 0) {
      t.diagnostic('running as root: permission bits do not stop O_RDWR; EACCES path not exercised');
      return;
    }
    assert.throws(() => openDiskImage(p, { readOnly: false }),
      (e: NodeJS.ErrnoException) => e.code === 'EACCES' && /open it read-only/.test(e.message));
    openDiskImage(p, { readOnly: true }).close?.();
  } finally { cleanup(p); }
});

test('the Node host opens disk images', () => {
  const p = tmpImage(8192);
  try {
    const host = createNodeHost({ print: null });
    const d = host.openDisk!(p, { readOnly: true });
    assert.equal(d.capacity, 8192);
    d.close?.();
  } finally { cleanup(p); }
});
