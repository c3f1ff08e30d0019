/*
 * lklfuse's command line, without mounting anything: -o lists with `\,` and `\=` escapes, opts=
 * split into VFS flags and filesystem data, the flags, operands and mistakes. Also the program's
 * own exits for --help, -V and a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseArgs, splitList, splitItem, parseKernelOpts, UsageError, type LklfuseOptions } from '../../src/apps/lklfuse/cli.js';
import { MS_RDONLY, MS_NOATIME, MS_NODIRATIME } from '../../src/uapi/mount.js';
import { LKLFUSE } from './helpers.js';

const opts = (argv: string[]): LklfuseOptions => (parseArgs(argv) as { opts: LklfuseOptions }).opts;

test('cli: -o lists split at unescaped commas, items at the first unescaped =', () => {
  assert.deepEqual(splitList('ro,type=vfat,opts=a\\,b'), ['ro', 'type=vfat', 'opts=a\\,b']);
  assert.deepEqual(splitItem('opts=a\\,b\\=c'), ['opts', 'a,b=c']);
  assert.deepEqual(splitItem('ro'), ['ro', null]);
});

test('cli: opts= VFS flags become mount flags, the rest is data', () => {
  assert.deepEqual(parseKernelOpts('noatime,uid=5,ro,nodiratime,shortname=mixed'),
    { flags: MS_NOATIME | MS_RDONLY | MS_NODIRATIME, data: 'uid=5,shortname=mixed' });
  assert.deepEqual(parseKernelOpts('ro,rw'), { flags: 0, data: null });
});

test('cli: options and operands', () => {
  const o = opts(['img', 'mnt', '-o', 'type=vfat,part=2,mb=32', '-o', 'opts=noatime\\,utf8=1,lock=/l,log=/g', '-s', '-d']);
  assert.equal(o.image, 'img'); assert.equal(o.mountpoint, 'mnt');
  assert.equal(o.fstype, 'vfat'); assert.equal(o.part, 2); assert.equal(o.mb, 32);
  assert.equal(o.mountFlags, MS_NOATIME); assert.equal(o.mountData, 'utf8=1');
  assert.equal(o.lock, '/l'); assert.equal(o.log, '/g');
  assert.ok(o.single && o.debug && o.foreground, '-s -d: got not single/debug/foreground');
  const d = opts(['-oallow_other,default_permissions,uid=1000,gid=100,ro', 'a', 'b']);
  assert.ok(d.allowOther && d.defaultPermissions && d.ro);
  assert.equal(d.uid, 1000); assert.equal(d.gid, 100); assert.equal(d.mb, 64); assert.equal(d.fstype, 'auto');
  assert.ok(d.mountFlags & MS_RDONLY, 'ro: got no MS_RDONLY');
  assert.ok(opts(['a', 'b', '-o', 'opts=ro']).ro, 'opts=ro: got read-write, want ro');
});

test('cli: mistakes are usage errors', () => {
  for (const argv of [[], ['img'], ['a', 'b', 'c'], ['a', 'b', '-o', 'bogus'], ['a', 'b', '-o', 'mb=x'], ['a', 'b', '-x'], ['a', 'b', '-o']]) {
    assert.throws(() => parseArgs(argv), UsageError, `argv ${JSON.stringify(argv)}: got accepted, want a usage error`);
  }
  assert.deepEqual(parseArgs(['-h']), { help: true });
  assert.deepEqual(parseArgs(['-V']), { version: true });
});

test('cli: the program prints help and version, and exits 1 on a usage error', () => {
  const h = spawnSync(process.execPath, [LKLFUSE, '--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0); assert.match(h.stdout, /usage: lklfuse IMAGE MOUNTPOINT/);
  const v = spawnSync(process.execPath, [LKLFUSE, '-V'], { encoding: 'utf8' });
  assert.equal(v.status, 0); assert.match(v.stdout, /lklfuse/);
  const e = spawnSync(process.execPath, [LKLFUSE, 'img'], { encoding: 'utf8' });
  assert.equal(e.status, 1, `usage error: got status ${e.status}, want 1`);
  assert.match(e.stderr, /lklfuse: missing mount point/);
  const m = spawnSync(process.execPath, [LKLFUSE, '/nonexistent.img', '/nonexistent-dir', '-f'], { encoding: 'utf8' });
  assert.equal(m.status, 1); assert.match(m.stderr, /bad mount point/);
});
