/* sendfile, copy_file_range and statfs/fstatfs at the syscall level, on a booted kernel. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../src/arch/fake/index.js';
import { Kernel } from '../../../src/kernel/index.js';
import { createTmpfsType } from '../../../src/fs/tmpfs/index.js';
import { NR } from '../../../src/uapi/unistd.js';
import {
  EBADF, EINVAL, EISDIR, EXDEV, EOVERFLOW, EFAULT, ESPIPE, ENOENT,
} from '../../../src/uapi/errno.js';
import { AT_FDCWD, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_PATH, O_DIRECTORY } from '../../../src/uapi/fcntl.js';
import { STATFS_SIZE, TMPFS_MAGIC, ST_VALID, ST_RDONLY, ST_NOSUID, ST_RELATIME, new_encode_dev } from '../../../src/uapi/stat.js';
import { MS_RDONLY, MS_NOSUID } from '../../../src/uapi/mount.js';
import { buildTable, dispatch } from '../../../src/syscalls/table.js';
import { fsSyscalls } from '../../../src/syscalls/sys_fs.js';
import { processSyscalls } from '../../../src/syscalls/sys_process.js';
import { copySyscalls } from '../../../src/syscalls/sys_copy.js';
import { statfsSyscalls } from '../../../src/syscalls/sys_statfs.js';

async function bootKernel() {
  const k = new Kernel(new FakeHost(), 'mem=32M');
  await k.boot([{ name: 'tmpfs', fn: (kk) => { kk.vfs.registerFilesystem(createTmpfsType('tmpfs')); kk.vfs.registerFilesystem(createTmpfsType('rootfs')); } }]);
  const table = buildTable([...fsSyscalls, ...processSyscalls, ...copySyscalls, ...statfsSyscalls]);
  const sys = (nr: number, ...args: unknown[]) => dispatch(table, k.init, nr, args);
  const open = (p: string, f: number, m = 0o644) => sys(NR.openat, AT_FDCWD, p, f, m);
  const write = async (p: string, data: string) => {
    const fd = await open(p, O_CREAT | O_WRONLY);
    await sys(NR.write, fd, new TextEncoder().encode(data), data.length);
    await sys(NR.close, fd);
  };
  const read = async (fd: number, n: number, pos: number) => {
    const b = new Uint8Array(n);
    const r = await sys(NR.pread64, fd, b, n, pos);
    return new TextDecoder().decode(b.subarray(0, r));
  };
  return { k, sys, open, write, read, halt: () => k.shutdown('test') };
}

const off = (v: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, BigInt(v), true); return b; };
const offVal = (b: Uint8Array) => Number(new DataView(b.buffer).getBigInt64(0, true));

test('sendfile: offsets, positions and errnos', async () => {
  const { sys, open, write, read, halt } = await bootKernel();
  try {
    await write('/src', 'hello world');
    const i = await open('/src', O_RDONLY), o = await open('/dst', O_CREAT | O_RDWR);
    // With an offset: the input position stays, the offset variable advances.
    const ofs = off(6);
    assert.equal(await sys(NR.sendfile, o, i, ofs, 100), 5, 'sendfile with offset');
    assert.equal(offVal(ofs), 11, `offset after: got ${offVal(ofs)}, want 11`);
    assert.equal(await sys(NR.lseek, i, 0, 1), 0, 'input position untouched');
    assert.equal(await sys(NR.lseek, o, 0, 1), 5, 'output position advanced');
    // Without: the input position advances; {value} form works as well.
    assert.equal(await sys(NR.sendfile, o, i, null, 5), 5);
    assert.equal(await sys(NR.lseek, i, 0, 1), 5);
    const ov = { value: 0 };
    assert.equal(await sys(NR.sendfile, o, i, ov, 0), 0, 'count 0');
    assert.equal(await read(o, 20, 0), 'worldhello');
    const a = await open('/dst', O_WRONLY | O_APPEND), d = await open('/', O_RDONLY | O_DIRECTORY), p = await open('/src', O_PATH);
    const cases: [string, Promise<number>, number][] = [
      ['append output', sys(NR.sendfile, a, i, null, 1), -EINVAL],
      ['directory input', sys(NR.sendfile, o, d, null, 1), -EINVAL],
      ['write-only input', sys(NR.sendfile, o, a, null, 1), -EBADF],
      ['read-only output', sys(NR.sendfile, i, i, null, 1), -EBADF],
      ['O_PATH input', sys(NR.sendfile, o, p, null, 1), -EBADF],
      ['negative offset', sys(NR.sendfile, o, i, off(-1), 1), -EINVAL],
      ['bad fd', sys(NR.sendfile, o, 99, null, 1), -EBADF],
      ['short offset buffer', sys(NR.sendfile, o, i, new Uint8Array(4), 1), -EFAULT],
    ];
    for (const [name, pr, want] of cases) assert.equal(await pr, want, `${name}: got ${await pr}, want ${want}`);
    // A pipe input with an offset is ESPIPE (no FMODE_PREAD).
    const fds = new Int32Array(2);
    if (await sys(NR.pipe2, fds, 0) === 0) {
      assert.equal(await sys(NR.sendfile, o, fds[0], off(0), 1), -ESPIPE, 'pipe input with offset');
      // To a pipe output, any seekable input works.
      assert.equal(await sys(NR.sendfile, fds[1], i, off(0), 5), 5, 'file to pipe');
      const b = new Uint8Array(5);
      assert.equal(await sys(NR.read, fds[0], b, 5), 5);
      assert.equal(new TextDecoder().decode(b), 'hello');
    }
  } finally { await halt(); }
});

test('copy_file_range: Linux checks and the copy', async () => {
  const { sys, open, write, read, halt } = await bootKernel();
  try {
    await write('/src', '0123456789');
    const i = await open('/src', O_RDWR), o = await open('/dst', O_CREAT | O_RDWR);
    const oi = off(2), oo = off(0);
    assert.equal(await sys(NR.copy_file_range, i, oi, o, oo, 100, 0), 8, 'copies to EOF');
    assert.equal(offVal(oi), 10); assert.equal(offVal(oo), 8);
    assert.equal(await sys(NR.lseek, i, 0, 1), 0, 'positions untouched when offsets given');
    assert.equal(await read(o, 20, 0), '23456789');
    assert.equal(await sys(NR.copy_file_range, i, null, o, null, 3, 0), 3, 'at the file positions');
    assert.equal(await sys(NR.lseek, i, 0, 1), 3); assert.equal(await sys(NR.lseek, o, 0, 1), 3);
    assert.equal(await read(o, 20, 0), '01256789');
    assert.equal(await sys(NR.copy_file_range, i, off(50), o, null, 3, 0), 0, 'past EOF copies nothing');
    assert.equal(await sys(NR.mkdirat, AT_FDCWD, '/m', 0o755), 0);
    assert.equal(await sys(NR.mount, 'none', '/m', 'tmpfs', 0, null), 0);
    await write('/m/x', 'abc');
    const x = await open('/m/x', O_RDWR);
    const a = await open('/dst', O_WRONLY | O_APPEND), d = await open('/', O_RDONLY | O_DIRECTORY), ro = await open('/src', O_RDONLY);
    const cases: [string, Promise<number>, number][] = [
      ['flags', sys(NR.copy_file_range, i, null, o, null, 1, 1), -EINVAL],
      ['directory', sys(NR.copy_file_range, d, null, o, null, 1, 0), -EISDIR],
      ['append output', sys(NR.copy_file_range, i, null, a, null, 1, 0), -EBADF],
      ['read-only output', sys(NR.copy_file_range, i, null, ro, null, 1, 0), -EBADF],
      ['across filesystems', sys(NR.copy_file_range, i, null, x, null, 1, 0), -EXDEV],
      ['overlap in one file', sys(NR.copy_file_range, i, off(0), i, off(1), 3, 0), -EINVAL],
      ['negative offset', sys(NR.copy_file_range, i, off(-1), o, null, 5, 0), -EOVERFLOW],
      ['negative offset, len 0', sys(NR.copy_file_range, i, off(-1), o, null, 0, 0), -EINVAL],
      ['bad fd', sys(NR.copy_file_range, 99, null, o, null, 1, 0), -EBADF],
    ];
    for (const [name, pr, want] of cases) assert.equal(await pr, want, `${name}: got ${await pr}, want ${want}`);
    assert.equal(await sys(NR.copy_file_range, i, off(0), i, off(5), 5, 0), 5, 'non-overlapping ranges of one file');
    assert.equal(await read(i, 20, 0), '0123401234');
  } finally { await halt(); }
});

test('statfs/fstatfs: filesystem numbers, mount flags and fsid', async () => {
  const { k, sys, open, halt } = await bootKernel();
  try {
    const buf = new Uint8Array(STATFS_SIZE);
    assert.equal(await sys(NR.statfs, '/', buf), 0);
    const v = new DataView(buf.buffer);
    assert.equal(Number(v.getBigInt64(0, true)), TMPFS_MAGIC, 'f_type');
    assert.equal(Number(v.getBigInt64(8, true)), 4096, 'f_bsize');
    // relatime is the default mount option, as on Linux.
    assert.equal(Number(v.getBigInt64(80, true)) & ~ST_RELATIME, ST_VALID, `f_flags: got ${v.getBigInt64(80, true)}, want ST_VALID`);
    assert.equal(v.getInt32(56, true), new_encode_dev(k.rootPath().mnt.sb.dev), 'f_fsid from the device');
    assert.equal(await sys(NR.mkdirat, AT_FDCWD, '/ro', 0o755), 0);
    assert.equal(await sys(NR.mount, 'none', '/ro', 'tmpfs', MS_RDONLY | MS_NOSUID, null), 0);
    const o: Record<string, unknown> = {};
    assert.equal(await sys(NR.statfs, '/ro', o), 0, 'object form');
    assert.equal((o.flags as number) & ~ST_RELATIME, ST_VALID | ST_RDONLY | ST_NOSUID, `f_flags: got ${o.flags}, want ${ST_VALID | ST_RDONLY | ST_NOSUID}`);
    assert.equal(o.frsize, 4096, 'f_frsize');
    const p = await open('/ro', O_PATH);
    const o2: Record<string, unknown> = {};
    assert.equal(await sys(NR.fstatfs, p, o2), 0, 'fstatfs takes O_PATH');
    assert.equal(o2.type, TMPFS_MAGIC);
    assert.equal(await sys(NR.fstatfs, 99, o2), -EBADF);
    assert.equal(await sys(NR.statfs, '/nope', o2), -ENOENT);
    assert.equal(await sys(NR.statfs, '/', new Uint8Array(8)), -EFAULT, 'short buffer');
  } finally { await halt(); }
});
