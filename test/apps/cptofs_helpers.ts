/*
 * Helpers for the cptofs/cpfromfs suites: running the built program under either name (as LKL's
 * test does, through a symlink called cpfromfs), building a host tree with every kind of object,
 * and small host-tool wrappers.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CPTOFS_JS = fileURLToPath(new URL('../../src/apps/cptofs.js', import.meta.url));
export const isRoot = process.getuid?.() === 0;

export interface Run { stdout: string; stderr: string; code: number | null; timedOut: boolean }

/** Links named cptofs and cpfromfs to the built program, in dir. */
export function installNames(dir: string): { cptofs: string; cpfromfs: string } {
  const out = { cptofs: path.join(dir, 'cptofs'), cpfromfs: path.join(dir, 'cpfromfs') };
  for (const p of Object.values(out)) { try { fs.unlinkSync(p); } catch { /* absent */ } fs.symlinkSync(CPTOFS_JS, p); }
  return out;
}

/** Run node on `prog` (a link whose name picks the mode), with a watchdog. */
export function run(prog: string, args: string[], o: { uid?: number; gid?: number; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [prog, ...args], { stdio: ['ignore', 'pipe', 'pipe'], uid: o.uid, gid: o.gid, cwd: o.cwd });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs ?? 60_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ stdout, stderr, code, timedOut }); });
  });
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function sh(cmd: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/**
 * A tree with every kind of object mkfs.ext4 -d can carry: files (empty, small, 1 MiB + 1 of
 * random bytes, sparse with a hole in the middle), nested directories with odd modes, setuid and
 * sticky bits, fast and slow symlinks (one dangling, one absolute), hard links (also across
 * directories), user.* xattrs (binary values, on files and a directory), a non-UTF-8 name,
 * nanosecond times (atimes in the future, see below); as root also a fifo, char and block devices, other owners.
 */
export function buildTree(dir: string): void {
  const py = String.raw`
import os, sys
root = sys.argv[1]
devs = sys.argv[2] == '1'
def p(*a): return os.path.join(root.encode(), *[x.encode() if isinstance(x, str) else x for x in a])
os.makedirs(p('dir/sub/deeper'))
os.makedirs(p('odd'))
with open(p('empty'), 'wb'): pass
with open(p('small.txt'), 'wb') as f: f.write(b'hello, image\n')
with open(p('dir/big.bin'), 'wb') as f: f.write(os.urandom(1024 * 1024 + 1))
with open(p('dir/sub/deeper/leaf'), 'wb') as f: f.write(b'leaf\n' * 100)
with open(p('sparse'), 'wb') as f:
    f.write(b'head'); f.seek(3 * 1024 * 1024); f.write(b'tail')
with open(p(b'name-\xff\xfe-latin'), 'wb') as f: f.write(b'bytes\n')
with open(p('suid'), 'wb') as f: f.write(b'#!/bin/sh\n')
os.chmod(p('suid'), 0o4755)
os.chmod(p('odd'), 0o1777)
with open(p('odd/ro'), 'wb') as f: f.write(b'read only\n')
os.chmod(p('odd/ro'), 0o444)
os.symlink('small.txt', p('fast-link'))
os.symlink('x' * 200 + '/target', p('slow-link'))
os.symlink('/etc/hostname', p('abs-link'))
os.symlink('nowhere', p('dir/dangling'))
os.link(p('small.txt'), p('hard1'))
os.link(p('small.txt'), p('dir/hard2'))
os.setxattr(p('small.txt'), 'user.comment', b'a comment')
os.setxattr(p('dir/big.bin'), 'user.bin', bytes(range(256)))
os.setxattr(p('dir'), 'user.dirattr', b'on a directory')
if devs:
    os.mkfifo(p('fifo'), 0o640)
    os.mknod(p('dir/null'), 0o20666, os.makedev(1, 3))
    os.mknod(p('dir/loop9'), 0o60660, os.makedev(7, 9))
    os.chown(p('dir/sub'), 1234, 5678)
    os.chown(p('odd/ro'), 4321, 8765)
    os.lchown(p('fast-link'), 99, 98)
${pyStampTimes('root.encode()')}
`;
  const r = spawnSync('python3', ['-c', py, dir, isRoot ? '1' : '0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the tree failed: ${r.stderr}`);
}

/** A quiet sparse image file of `mb` MiB. */
export function blankImage(p: string, mb: number): void {
  fs.writeFileSync(p, Buffer.alloc(0));
  fs.truncateSync(p, mb << 20);
}

/**
 * Python lines that stamp every object below `root` (a Python expression for the path) with a
 * distinct mtime in the past and an atime two days ahead, so that relatime never moves an atime
 * when the tests (or mke2fs) read the source: it only updates one older than the mtime or a day.
 */
export function pyStampTimes(root: string): string {
  return String.raw`import time
t = 1600000000
a = int(time.time()) + 2 * 86400
for i, (dp, dns, fns) in enumerate(sorted(os.walk(${root}, topdown=False))):
    for j, n in enumerate(sorted(fns) + sorted(dns)):
        q = os.path.join(dp, n)
        os.utime(q, ns=((a + i * 1000 + j) * 10**9 + 123456789, (t + i * 1000 + j) * 10**9 + 987654321 - j), follow_symlinks=False)
os.utime(${root}, ns=(a * 10**9 + 1, t * 10**9 + 2))`;
}
