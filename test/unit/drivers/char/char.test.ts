/*
 * The character devices through the VFS: nodes made by populateDev, opened, read, written,
 * seeked, polled and ioctl'ed as the syscall layer would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { Kernel } from '../../../../src/kernel/index.js';
import { createTmpfsType } from '../../../../src/fs/tmpfs/index.js';
import { doFilpOpen, fput, vfsRead, vfsWrite, vfsLlseek, vfsGetattr, type File } from '../../../../src/fs/vfs/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { utf8Encode } from '../../../../src/lib/bytestr.js';
import { O_RDWR } from '../../../../src/uapi/fcntl.js';
import { ENOSPC, ENOTTY, ESPIPE } from '../../../../src/uapi/errno.js';
import { S_IFCHR, MKDEV } from '../../../../src/uapi/stat.js';
import { TCGETS, TIOCGWINSZ, POLLIN, POLLOUT } from '../../../../src/uapi/misc.js';
import { driversInitcall, populateDev } from '../../../../src/drivers/index.js';

async function bootDev(): Promise<{ k: Kernel; host: FakeHost }> {
  const host = new FakeHost();
  const k = new Kernel(host, 'mem=32M');
  await k.boot([
    { name: 'tmpfs', fn: (kk) => { kk.vfs.registerFilesystem(createTmpfsType('tmpfs')); kk.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    driversInitcall,
  ]);
  await populateDev(k);
  return { k, host };
}

async function open(k: Kernel, path: string): Promise<File> {
  return doFilpOpen(k.init.fsContext(), k.rootPath(), path, { flags: O_RDWR, mode: 0, resolve: 0 });
}

async function errnoOf(f: () => unknown): Promise<number> {
  try { await f(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

test('nodes exist with Linux numbers and modes', async () => {
  const { k } = await bootDev();
  const want: [string, number, number, number][] = [
    ['/dev/null', 1, 3, 0o666], ['/dev/zero', 1, 5, 0o666], ['/dev/full', 1, 7, 0o666],
    ['/dev/random', 1, 8, 0o666], ['/dev/urandom', 1, 9, 0o666], ['/dev/tty', 5, 0, 0o666], ['/dev/console', 5, 1, 0o600],
  ];
  for (const [path, major, minor, mode] of want) {
    const f = await open(k, path);
    const st = await vfsGetattr(f.path);
    assert.equal(st.mode, S_IFCHR | mode, `${path}: got mode ${st.mode.toString(8)}`);
    assert.equal(st.rdev, MKDEV(major, minor), `${path}: got rdev ${st.rdev}`);
    await fput(f);
  }
  await k.shutdown('halt');
});

test('null, zero, full', async () => {
  const { k } = await bootDev();
  const b = new Uint8Array(8).fill(7);
  const n = await open(k, '/dev/null');
  assert.equal(await vfsRead(n, b), 0);
  assert.equal(await vfsWrite(n, utf8Encode('hello')), 5);
  assert.equal(await vfsLlseek(n, 100, 0), 0);
  assert.equal(n.fop.poll!(n), POLLIN | POLLOUT | 0x40 | 0x100);
  assert.equal(await errnoOf(() => n.fop.ioctl!(n, TCGETS, null)), ENOTTY);
  const z = await open(k, '/dev/zero');
  assert.equal(await vfsRead(z, b), 8);
  assert.deepEqual([...b], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(await vfsWrite(z, b), 8);
  const f = await open(k, '/dev/full');
  b.fill(1);
  assert.equal(await vfsRead(f, b), 8);
  assert.equal(b[0], 0);
  assert.equal(await errnoOf(() => vfsWrite(f, b)), ENOSPC);
  for (const x of [n, z, f]) await fput(x);
  await k.shutdown('halt');
});

test('random and urandom read host entropy', async () => {
  const { k } = await bootDev();
  for (const path of ['/dev/random', '/dev/urandom']) {
    const f = await open(k, path);
    const b = new Uint8Array(100000);
    assert.equal(await vfsRead(f, b), b.length);
    assert.ok(b.some((x) => x !== 0), `${path}: got all zeros`);
    assert.equal(await vfsWrite(f, b.subarray(0, 10)), 10);
    await fput(f);
  }
  await k.shutdown('halt');
});

test('console writes to the host; terminal ioctls', async () => {
  const { k, host } = await bootDev();
  const c = await open(k, '/dev/console');
  const before = host.console.length;
  assert.equal(await vfsWrite(c, utf8Encode('to the console\n')), 15);
  assert.equal(host.console.slice(before), 'to the console\n');
  assert.equal(await vfsRead(c, new Uint8Array(4)), 0);
  const ws = new Uint8Array(8);
  assert.equal(await c.fop.ioctl!(c, TIOCGWINSZ, ws), 0);
  assert.deepEqual([...ws], [24, 0, 80, 0, 0, 0, 0, 0]);
  const obj: Record<string, unknown> = {};
  assert.equal(await c.fop.ioctl!(c, TIOCGWINSZ, obj), 0);
  assert.equal(obj.ws_col, 80);
  const tio = new Uint8Array(60);
  assert.equal(await c.fop.ioctl!(c, TCGETS, tio), 0);
  assert.equal(new DataView(tio.buffer).getUint32(12, true) & 0o2, 0o2, 'ICANON set');
  assert.equal(tio[17], 3, 'VINTR is ^C');
  assert.equal(await errnoOf(() => c.fop.ioctl!(c, 0x1234, null)), ENOTTY);
  assert.equal(await errnoOf(() => vfsLlseek(c, 0, 0)), ESPIPE);
  const t = await open(k, '/dev/tty');
  await vfsWrite(t, utf8Encode('tty'));
  assert.ok(host.console.endsWith('tty'));
  await fput(c); await fput(t);
  await k.shutdown('halt');
});
