/*
 * lklfuse run by an ordinary user (uid 65534, through setpriv): the mount is made by the setuid
 * fusermount3 and its /dev/fuse descriptor reaches lklfuse through the python3 helper
 * (src/apps/lklfuse/fusermount.ts). Checked against the host: /proc/mounts shows fuse.lklfuse with
 * user_id=65534; files written by that user through the mount are read back through the mount and
 * found by debugfs in an image e2fsck -fn calls clean, after `fusermount3 -u` and after SIGTERM
 * (lklfuse exits 0 both times); a write-protected image is mounted read-only, saying so; and
 * allow_other without user_allow_other in /etc/fuse.conf is refused with a message naming it.
 *
 * fusermount3 opens /dev/fuse as the calling user, so the device must be mode 0666 (Debian's udev
 * rule); where it isn't (containers), the suite makes it so and puts the mode back afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  LKLFUSE, skipReason, tmpdir, sh, mountEntry, waitExit, pattern, startLklfuse, type Running,
} from './helpers.js';

const UID = 65534;
const AS = ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups'];
const skip = skipReason(['setpriv', 'fusermount3', 'python3', 'mkfs.ext4', 'e2fsck', 'debugfs']);

let dir = '';
let img = '';
let mnt = '';
let fuseMode: number | null = null;
let running: Running | null = null;

/** Run a command as the unprivileged user. */
function asUser(cmd: string[], input?: Buffer): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(AS[0]!, [...AS.slice(1), ...cmd], { cwd: dir, input, timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr?.toString() ?? '') + (r.error ? String(r.error) : '') };
}

/** Start lklfuse as the user (its own -f, if any, is in `args`); resolves once the host shows the mount. */
async function start(args: string[]): Promise<Running> {
  running = await startLklfuse(img, mnt, args, { as: AS, cwd: dir, foreground: false });
  return running;
}

/** The pids of lklfuse processes serving our image (the daemon is nobody's child of ours). */
function lklfusePids(): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(LKLFUSE) && cmd.includes(img)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function fsckClean(): void {
  const r = sh('e2fsck', ['-fn', img]);
  assert.equal(r.status, 0, `e2fsck -fn: got status ${r.status}, want 0\n${r.stdout}${r.stderr}`);
}

function debugfsCat(p: string): Buffer {
  const r = spawnSync('debugfs', ['-R', `cat ${p}`, img], { timeout: 30_000 });
  return r.stdout;
}

/** Leave nothing mounted or running, whatever happened. */
async function cleanup(): Promise<void> {
  if (mountEntry(mnt)) { if (sh('fusermount3', ['-u', mnt]).status !== 0) sh('umount', ['-l', mnt]); }
  if (running && running.child.exitCode === null && running.child.signalCode === null) {
    if ((await waitExit(running, 5000)) === null) running.child.kill('SIGKILL');
  }
  for (const p of lklfusePids()) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  running = null;
}

before(() => {
  if (skip) return;
  dir = tmpdir(`lklfu-${process.pid}-`);
  img = path.join(dir, 'ext4.img');
  mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const r = sh('mkfs.ext4', ['-q', '-F', img, '16M']);
  assert.equal(r.status, 0, `mkfs.ext4: ${r.stderr}`);
  for (const p of [dir, img, mnt]) fs.chownSync(p, UID, UID);
  fs.chmodSync(dir, 0o755);
  const m = fs.statSync('/dev/fuse').mode & 0o777;
  if ((m & 0o006) !== 0o006) { fuseMode = m; fs.chmodSync('/dev/fuse', 0o666); }
});

after(async () => {
  if (skip) return;
  await cleanup();
  if (fuseMode !== null) fs.chmodSync('/dev/fuse', fuseMode);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a user mounts with fusermount3, writes, and unmounts with fusermount3 -u', { skip }, async () => {
  try {
    const r = await start(['-f']);
    const e = mountEntry(mnt);
    assert.equal(e?.type, 'fuse.lklfuse', `mount type: got ${e?.type}, want fuse.lklfuse; stderr: ${r.stderr()}`);
    for (const o of [`user_id=${UID}`, `group_id=${UID}`, 'rw', 'nosuid', 'nodev']) {
      assert.ok(e!.opts.includes(o), `mount options: got ${e!.opts.join(',')}, want ${o} among them`);
    }
    const data = pattern(300_000, 7);
    const w = asUser(['sh', '-c', `cd ${mnt} && mkdir d && cat > d/big && echo hi > small`], data);
    assert.equal(w.status, 0, `writing as uid ${UID}: got status ${w.status}, want 0: ${w.stderr}`);
    const back = asUser(['cat', `${mnt}/d/big`]);
    assert.ok(back.stdout.equals(data), `d/big read back: got ${back.stdout.length} bytes (differing), want the ${data.length} written`);
    assert.equal(asUser(['cat', `${mnt}/small`]).stdout.toString(), 'hi\n', 'small read back');
    const u = asUser(['fusermount3', '-u', mnt]);
    assert.equal(u.status, 0, `fusermount3 -u: got status ${u.status}, want 0: ${u.stderr}`);
    const st = await waitExit(r, 15_000);
    assert.equal(st, 0, `lklfuse exit: got ${st}, want 0; stderr: ${r.stderr()}`);
    assert.equal(mountEntry(mnt), null, 'mount gone after fusermount3 -u');
    fsckClean();
    assert.ok(debugfsCat('/d/big').equals(data), 'debugfs cat /d/big: got other bytes, want those written');
    assert.equal(debugfsCat('/small').toString(), 'hi\n', 'debugfs cat /small');
  } finally { await cleanup(); }
});

test('SIGTERM unmounts with fusermount3, commits, exits 0', { skip }, async () => {
  try {
    const r = await start(['-f']);
    assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', `not mounted; stderr: ${r.stderr()}`);
    const w = asUser(['sh', '-c', `echo term > ${mnt}/term.txt`]);
    assert.equal(w.status, 0, `write: ${w.stderr}`);
    r.child.kill('SIGTERM');
    const st = await waitExit(r, 15_000);
    assert.equal(st, 0, `lklfuse exit after SIGTERM: got ${st}, want 0; stderr: ${r.stderr()}`);
    assert.equal(mountEntry(mnt), null, 'mount gone after SIGTERM');
    fsckClean();
    assert.equal(debugfsCat('/term.txt').toString(), 'term\n', 'debugfs cat /term.txt');
  } finally { await cleanup(); }
});

test('as a daemon (no -f): returns once mounted; fusermount3 -u ends the daemon', { skip }, async () => {
  try {
    const r = await start([]);
    const st = await waitExit(r, 15_000);
    assert.equal(st, 0, `lklfuse (daemonizing) exit: got ${st}, want 0; stderr: ${r.stderr()}`);
    assert.equal(mountEntry(mnt)?.type, 'fuse.lklfuse', 'mounted after the parent returned');
    assert.equal(lklfusePids().length, 1, `daemons: got ${lklfusePids().length}, want 1`);
    assert.equal(asUser(['sh', '-c', `echo daemon > ${mnt}/daemon.txt`]).status, 0, 'write through the daemon');
    assert.equal(asUser(['fusermount3', '-u', mnt]).status, 0, 'fusermount3 -u');
    await until('the daemon to exit', () => lklfusePids().length === 0);
    fsckClean();
    assert.equal(debugfsCat('/daemon.txt').toString(), 'daemon\n', 'debugfs cat /daemon.txt');
  } finally { await cleanup(); }
});

test('an image the user cannot write is mounted read-only, saying so', { skip }, async () => {
  fs.chmodSync(img, 0o444);
  try {
    const r = await start(['-f']);
    const e = mountEntry(mnt);
    assert.equal(e?.type, 'fuse.lklfuse', `not mounted; stderr: ${r.stderr()}`);
    assert.ok(e!.opts.includes('ro'), `mount options: got ${e!.opts.join(',')}, want ro`);
    assert.match(r.stderr(), /write-protected, mounting read-only/, 'the read-only message');
    const w = asUser(['sh', '-c', `echo x > ${mnt}/nope`]);
    assert.notEqual(w.status, 0, 'write on a read-only mount: got success, want failure');
    assert.match(w.stderr, /Read-only file system/, `write error: got ${w.stderr.trim()}, want EROFS`);
    assert.equal(asUser(['cat', `${mnt}/small`]).stdout.toString(), 'hi\n', 'reading still works');
    assert.equal(asUser(['fusermount3', '-u', mnt]).status, 0, 'fusermount3 -u');
    const st = await waitExit(r, 15_000);
    assert.equal(st, 0, `lklfuse exit: got ${st}, want 0; stderr: ${r.stderr()}`);
  } finally {
    fs.chmodSync(img, 0o644);
    await cleanup();
  }
});

test('allow_other without user_allow_other: refused, naming /etc/fuse.conf', { skip }, async (t) => {
  const conf = fs.existsSync('/etc/fuse.conf') ? fs.readFileSync('/etc/fuse.conf', 'utf8') : '';
  if (/^\s*user_allow_other\s*$/m.test(conf)) { t.skip('/etc/fuse.conf has user_allow_other here'); return; }
  try {
    const r = await start(['-f', '-o', 'allow_other']);
    const st = await waitExit(r, 15_000);
    assert.equal(st, 1, `lklfuse exit: got ${st}, want 1; stderr: ${r.stderr()}`);
    assert.match(r.stderr(), /^lklfuse: cannot mount on '.*': .*user_allow_other.*\/etc\/fuse\.conf/m, `message: got ${r.stderr()}`);
    assert.equal(mountEntry(mnt), null, 'nothing mounted');
  } finally { await cleanup(); }
});
