/*
 * `lkl` as a user runs it: the built program in a child process, commands piped on stdin.
 * Checks the acceptance line of the issue (mkdir, echo > file, cat, ls -l, halt -> "hi", a GNU
 * ls -l line, exit 0), coreutils-style errors and exit statuses, the boot log per loglevel, and
 * the global options. Every run must end by itself (runLkl kills a hung child and we fail it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runLkl, type LklRun } from './run_lkl.js';

function exited(r: LklRun, want: number): void {
  assert.equal(r.timedOut, false, `got a process still running after the watchdog, want it to exit by itself\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(r.code, want, `got exit status ${r.code}, want ${want}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

test('acceptance: mkdir, echo > file, cat, ls -l, halt', async () => {
  const r = await runLkl(['boot'], 'mkdir /x\necho hi > /x/f\ncat /x/f\nls -l /x\nhalt\n');
  exited(r, 0);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('hi'), `got stdout without a line "hi", want cat to print it:\n${r.stdout}`);
  // GNU ls -l: mode, links, owner, group, size, "Mon DD HH:MM", name.
  const ls = lines.find((l) => / f$/.test(l));
  assert.match(ls ?? '', /^-rw-r--r-- 1 (0|root) (0|root) 3 [A-Z][a-z]{2} [ \d]\d \d\d:\d\d f$/,
    `got ls -l line ${JSON.stringify(ls)}, want like "-rw-r--r-- 1 0 0 3 Nov 24 00:10 f"`);
  assert.ok(lines.includes('total 4') || lines.some((l) => /^total \d+$/.test(l)), `got no "total N" line, want one before the listing:\n${r.stdout}`);
  assert.equal(r.stderr.includes('Error'), false, `got stderr ${JSON.stringify(r.stderr)}, want no errors`);
});

test('the boot log shows at the default loglevel', async () => {
  const r = await runLkl(['boot', 'mem=32M'], 'halt\n');
  exited(r, 0);
  assert.match(r.stdout, /^\[ *\d+\.\d{6}\] Linux version /m, `got stdout without the banner, want "Linux version" in the boot log:\n${r.stdout}`);
  assert.match(r.stdout, /Kernel command line: mem=32M$/m, `got no command line in the log, want "Kernel command line: mem=32M":\n${r.stdout}`);
  assert.match(r.stdout, /Memory: \d+K\/32768K available/, `got no 32M memory line, want mem=32M honoured:\n${r.stdout}`);
});

test('lkl boot quiet suppresses the info-level boot log', async () => {
  const r = await runLkl(['boot', 'quiet'], 'echo ready\nhalt\n');
  exited(r, 0);
  assert.equal(r.stdout, 'ready\n', `got stdout ${JSON.stringify(r.stdout)}, want only the command output with loglevel 4`);
  const dm = await runLkl(['boot', 'quiet'], 'dmesg\n');
  exited(dm, 0);
  assert.match(dm.stdout, /Kernel command line: quiet/, `got dmesg ${JSON.stringify(dm.stdout)}, want the log still recorded in the ring buffer`);
});

test('cat of a missing file: coreutils message, non-zero status when last', async () => {
  const r = await runLkl(['boot', 'quiet'], 'echo a\ncat /nope\n');
  exited(r, 1);
  assert.equal(r.stdout, 'a\n', `got stdout ${JSON.stringify(r.stdout)}, want "a\\n"`);
  assert.match(r.stderr, /^cat: \/nope: No such file or directory$/m, `got stderr ${JSON.stringify(r.stderr)}, want the coreutils message`);
});

test('a failure followed by a success exits 0; halt exits 0', async () => {
  const r = await runLkl(['boot', 'quiet'], 'cat /nope\ntrue\n');
  exited(r, 0);
  const h = await runLkl(['boot', 'quiet'], 'cat /nope\nhalt\necho never\n');
  exited(h, 0);
  assert.equal(h.stdout, '', `got stdout ${JSON.stringify(h.stdout)}, want nothing run after halt`);
});

test('ls of a missing path prints GNU\'s message and exits 2', async () => {
  const r = await runLkl(['boot', 'quiet'], 'ls /nope\n');
  exited(r, 2);
  assert.match(r.stderr, /^ls: cannot access '\/nope': No such file or directory$/m, `got stderr ${JSON.stringify(r.stderr)}, want GNU ls's message`);
});

test('unknown command is 127; exit n sets the status; $? expands', async () => {
  const r = await runLkl(['boot', 'quiet'], 'frobnicate\necho $?\nexit 7\n');
  exited(r, 7);
  assert.equal(r.stdout, '127\n', `got stdout ${JSON.stringify(r.stdout)}, want "127\\n"`);
  assert.match(r.stderr, /sh: frobnicate: command not found/, `got stderr ${JSON.stringify(r.stderr)}, want "command not found"`);
});

test('a session of file commands', async () => {
  const script = [
    'mkdir -p /a/b', 'cd /a', 'pwd', 'echo one > f', 'echo two >> f', 'cat f', 'cp f g', 'mv g h',
    'ln -s h l', 'ls', 'rm -r b', 'ls -a', 'cat l', 'rmdir /a',
  ].join('\n') + '\n';
  const r = await runLkl(['boot', 'quiet'], script);
  exited(r, 1);
  assert.equal(r.stdout, '/a\none\ntwo\nb\nf\nh\nl\n.\n..\nf\nh\nl\none\ntwo\n', `got stdout ${JSON.stringify(r.stdout)}`);
  assert.match(r.stderr, /^rmdir: failed to remove '\/a': Directory not empty$/m, `got stderr ${JSON.stringify(r.stderr)}, want rmdir's ENOTEMPTY message`);
});

test('lkl --version, --help, unknown subcommand', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const v = await runLkl(['--version']);
  exited(v, 0);
  assert.equal(v.stdout, `lkl (lkl-ts) ${pkg.version}\n`, `got ${JSON.stringify(v.stdout)}, want the package.json version ${pkg.version}`);
  const h = await runLkl(['--help']);
  exited(h, 0);
  assert.match(h.stdout, /^Usage: lkl <command>/, `got ${JSON.stringify(h.stdout)}, want the usage on stdout`);
  const u = await runLkl(['frob']);
  exited(u, 2);
  assert.equal(u.stdout, '', `got stdout ${JSON.stringify(u.stdout)}, want nothing on stdout`);
  assert.match(u.stderr, /Usage: lkl <command>/, `got stderr ${JSON.stringify(u.stderr)}, want the usage on stderr`);
  const o = await runLkl(['--frob']);
  exited(o, 2);
  const none = await runLkl([]);
  exited(none, 2);
});
