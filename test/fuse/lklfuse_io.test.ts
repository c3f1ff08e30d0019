/*
 * lklfuse's request fast paths, checked from outside: READ replies are read into pooled buffers
 * (up to 256 KiB; larger ones get their own), requests are copied into pooled buffers, small replies
 * come from a pool, errors are returned rather than thrown, and the busy-poll reads /dev/fuse
 * through WASI. None of that may show: concurrent O_DIRECT reads of every size class through the
 * mount must return the bytes written, and debugfs must find in the image what was written through
 * the mount (a non-ASCII name included, which takes the byte-path route into our kernel).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { skipReason, tmpdir, sh, startLklfuse, unmount, teardown, pattern, waitExit, type Running } from './helpers.js';

const SKIP = skipReason(['mkfs.ext4', 'debugfs', 'e2fsck', 'dd']);
const dir = SKIP ? '' : tmpdir('lklfuse-io-');
const img = path.join(dir, 'img');
const mnt = path.join(dir, 'mnt');
let lkl: Running | null = null;
const DATA = pattern(3 << 20, 7);
// "café" in UTF-8, as the host hands it over: bytes, not a JS string.
const NAME = Buffer.from('caf\u00e9', 'utf8');

after(async () => {
  if (SKIP) return;
  await teardown(mnt, lkl);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `dd` with O_DIRECT: `count` blocks of `bs` at block `skip`; the bytes it printed. */
function ddDirect(file: string, bs: number, skip: number, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = spawn('dd', [`if=${file}`, `bs=${bs}`, `skip=${skip}`, `count=${count}`, 'iflag=direct', 'status=none'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`dd: status ${code}: ${err}`)));
  });
}

test('lklfuse I/O: writes land in the image, concurrent direct reads of every size return them', { skip: SKIP }, async () => {
  fs.mkdirSync(mnt);
  assert.equal(sh('truncate', ['-s', '64M', img]).status, 0);
  const mk = sh('mkfs.ext4', ['-q', '-F', img]);
  assert.equal(mk.status, 0, `mkfs.ext4: got status ${mk.status}, want 0: ${mk.stderr}`);
  lkl = await startLklfuse(img, mnt);
  assert.equal(lkl.child.exitCode, null, `lklfuse exited: ${lkl.stderr()}`);

  const file = path.join(mnt, 'data');
  fs.writeFileSync(file, DATA);
  fs.writeFileSync(Buffer.concat([Buffer.from(mnt + '/'), NAME]), 'x');
  // Ordinary errors come back as errnos (LOOKUP of a missing name, GETXATTR of a missing attribute).
  assert.throws(() => fs.statSync(path.join(mnt, 'missing')), { code: 'ENOENT' });
  const gx = sh('getfattr', ['-n', 'user.none', file]);
  if (gx.status !== -1) assert.match(gx.stderr, /No such attribute/, `getfattr: got ${gx.stderr}, want "No such attribute"`); // -1: not installed

  // 4 KiB to 1 MiB: below, at and above the 256 KiB pooled READ buffer; all at once.
  const jobs: [number, number, number][] = [];
  for (let i = 0; i < 8; i++) jobs.push([4096, (i * 97) % 700, 16]);
  jobs.push([128 << 10, 3, 4], [128 << 10, 10, 3], [256 << 10, 1, 5], [1 << 20, 0, 3], [1 << 20, 2, 1], [64 << 10, 5, 9]);
  const got = await Promise.all(jobs.map(([bs, skip, count]) => ddDirect(file, bs, skip, count)));
  jobs.forEach(([bs, skip, count], i) => {
    const want = DATA.subarray(bs * skip, Math.min(DATA.length, bs * (skip + count)));
    assert.ok(got[i]!.equals(want), `dd bs=${bs} skip=${skip} count=${count}: got ${got[i]!.length} bytes differing from the ${want.length} written`);
  });

  const u = unmount(mnt);
  assert.equal(u.status, 0, `umount: got status ${u.status}, want 0: ${u.stderr}`);
  assert.equal(await waitExit(lkl, 20_000), 0, `lklfuse exit status: ${lkl.stderr()}`);
  // The busy-poll's WASI reader must not announce itself on stderr.
  assert.doesNotMatch(lkl.stderr(), /Warning/, `lklfuse stderr: got ${lkl.stderr()}`);

  const fsck = sh('e2fsck', ['-fn', img]);
  assert.equal(fsck.status, 0, `e2fsck -fn: got status ${fsck.status}, want 0: ${fsck.stdout}${fsck.stderr}`);
  const out = path.join(dir, 'dumped');
  sh('debugfs', ['-R', `dump /data ${out}`, img]);
  assert.ok(fs.readFileSync(out).equals(DATA), 'debugfs dump /data: got other bytes than were written');
  const ls = sh('debugfs', ['-R', 'ls -l /', img]);
  // debugfs prints bytes above 0x7f escaped: the name must be exactly the UTF-8 bytes written.
  assert.ok(ls.stdout.includes('caf\\xc3\\xa9'), `debugfs ls: got ${ls.stdout}, want an entry caf\\xc3\\xa9`);
});
