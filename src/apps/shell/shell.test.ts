/*
 * The shell in-process on a fake host (virtual clock, silent console): the parser, option and
 * mode parsing, the ls/stat formats, and sessions of commands checked against what coreutils,
 * util-linux and procps print.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../lkl.js';
import { FakeHost } from '../../arch/fake/index.js';
import { parseLine, tokenize, getopts, ParseError, expandStatus } from './parse.js';
import { parseMode } from './cmd_files.js';
import { modeString, lsTime, humanSize } from './format.js';
import { columns } from './cmd_ls.js';
import { decodeDirents, basename, dirname, normalize } from './context.js';
import { Shell } from './shell.js';

process.env.TZ = 'UTC'; // ls and stat show local time; make it fixed

/** A booted kernel with a shell; run(lines) returns what the commands printed. */
async function session(cmdline = '') {
  const host = new FakeHost({ wallSec: 1_700_000_000 }); // 2023-11-14 22:13:20 UTC
  const k = await boot({ cmdline, host });
  let out = '', err = '';
  const dec = new TextDecoder();
  const sh = new Shell({
    kernel: k,
    stdout: (d) => { out += typeof d === 'string' ? d : dec.decode(d); },
    stderr: (t) => { err += t; },
  });
  await sh.startup();
  return {
    k, sh, host,
    async run(...lines: string[]) {
      out = ''; err = '';
      for (const l of lines) await sh.runLine(l);
      return { out, err, status: sh.status };
    },
    async done() { await sh.halt(); },
  };
}

test('tokenize: quotes, escapes, operators, comments', () => {
  const words = (l: string) => tokenize(l).map((t) => (t.kind === 'op' ? `<${t.text}>` : t.text));
  const cases: [string, string[]][] = [
    [`echo a  b`, ['echo', 'a', 'b']],
    [`echo 'a  b' "c  d"`, ['echo', 'a  b', 'c  d']],
    [`echo a\\ b "x\\"y" 'it''s'`, ['echo', 'a b', 'x"y', 'its']],
    [`echo "\\n" '\\n' \\n`, ['echo', '\\n', '\\n', 'n']],
    [`echo hi>f`, ['echo', 'hi', '<>>', 'f']],
    [`echo hi >> f 2> e`, ['echo', 'hi', '<>>>', 'f', '<2>>', 'e']],
    [`a;b && c||d`, ['a', '<;>', 'b', '<&&>', 'c', '<||>', 'd']],
    [`echo x # comment`, ['echo', 'x']],
    [`echo a#b`, ['echo', 'a#b']],
    [`echo ">" '&&'`, ['echo', '>', '&&']],
  ];
  for (const [line, want] of cases) assert.deepEqual(words(line), want, `tokenize(${JSON.stringify(line)}): got ${JSON.stringify(words(line))}, want ${JSON.stringify(want)}`);
  for (const bad of [`echo 'x`, `echo "x`, `a | b`, `a &`, `; a`, `echo >`, `a && && b`]) {
    assert.throws(() => parseLine(bad), ParseError, `parseLine(${JSON.stringify(bad)}): got no error, want a syntax error`);
  }
});

test('parseLine: redirections and $? markers', () => {
  const [c] = parseLine(`echo "s=$?" > /f`);
  assert.deepEqual(c!.redirects, [{ fd: 1, path: '/f', append: false }], `got ${JSON.stringify(c!.redirects)}`);
  assert.equal(expandStatus(c!.argv[1]!, 3), 's=3', `got ${expandStatus(c!.argv[1]!, 3)}, want s=3`);
  assert.equal(expandStatus(parseLine(`echo '$?'`)[0]!.argv[1]!, 3), '$?', 'got expansion inside single quotes, want none');
  assert.deepEqual(parseLine('a; b;').map((x) => x.argv[0]), ['a', 'b'], 'a trailing ; is allowed');
});

test('getopts: clusters, values, --, permutation, errors', () => {
  const o = getopts(['-la', 'x', '-m', '755', '--', '-y'], 'lad', 'm');
  assert.deepEqual([...o.flags].sort(), ['a', 'l'], `got flags ${[...o.flags]}`);
  assert.equal(o.values.get('m'), '755', `got m=${o.values.get('m')}, want 755`);
  assert.deepEqual(o.operands, ['x', '-y'], `got operands ${o.operands}, want x -y`);
  assert.equal(getopts(['-z'], 'l').error, "invalid option -- 'z'", `got ${getopts(['-z'], 'l').error}`);
  assert.equal(getopts(['--nope'], 'l').error, "unrecognized option '--nope'");
  assert.deepEqual(getopts(['-'], 'l').operands, ['-'], 'a lone - is an operand');
});

test('parseMode: octal and symbolic modes as chmod(1)', () => {
  const cases: [string, number, boolean, number, number | undefined][] = [
    // spec, old mode, isDir, umask, want
    ['755', 0o100644, false, 0o022, 0o755],
    ['4755', 0o100644, false, 0o022, 0o4755],
    ['755', 0o42775, true, 0o022, 0o2755], // a directory keeps setgid with a short octal mode
    ['00755', 0o42775, true, 0o022, 0o755],
    ['u+x', 0o644, false, 0o022, 0o744],
    ['go-w', 0o666, false, 0o022, 0o644],
    ['a=r', 0o777, false, 0o022, 0o444],
    ['+x', 0o644, false, 0o022, 0o755],
    ['+w', 0o444, false, 0o022, 0o644], // umask keeps group/other write off without who
    ['u=rwx,g=rx,o=', 0o000, false, 0o022, 0o750],
    ['a+X', 0o644, false, 0o022, 0o644],
    ['a+X', 0o644, true, 0o022, 0o755],
    ['u+s,+t', 0o755, false, 0o022, 0o5755],
    ['g=u', 0o640, false, 0o022, 0o660],
    ['zz', 0o644, false, 0o022, undefined],
    ['8', 0o644, false, 0o022, undefined],
    ['u+q', 0o644, false, 0o022, undefined],
  ];
  for (const [spec, old, dir, um, want] of cases) {
    const got = parseMode(spec, old, dir, um);
    assert.equal(got, want, `parseMode(${spec}, ${old.toString(8)}): got ${got?.toString(8)}, want ${want?.toString(8)}`);
  }
});

test('modeString, lsTime, humanSize', () => {
  const modes: [number, string][] = [
    [0o100644, '-rw-r--r--'], [0o40755, 'drwxr-xr-x'], [0o120777, 'lrwxrwxrwx'],
    [0o104755, '-rwsr-xr-x'], [0o102644, '-rw-r-Sr--'], [0o41777, 'drwxrwxrwt'], [0o41776, 'drwxrwxrwT'],
    [0o20666, 'crw-rw-rw-'], [0o60660, 'brw-rw----'], [0o10644, 'prw-r--r--'], [0o140755, 'srwxr-xr-x'],
  ];
  for (const [m, want] of modes) assert.equal(modeString(m), want, `modeString(${m.toString(8)}): got ${modeString(m)}, want ${want}`);
  const now = { sec: 1_700_000_000, nsec: 0 }; // Tue Nov 14 22:13:20 2023 UTC
  assert.equal(lsTime({ sec: 1_700_000_000 - 3600, nsec: 0 }, now), 'Nov 14 21:13');
  assert.equal(lsTime({ sec: 1_699_000_000, nsec: 0 }, now), 'Nov  3 08:26', 'day of month is space-padded');
  assert.equal(lsTime({ sec: 1_600_000_000, nsec: 0 }, now), 'Sep 13  2020', 'older than six months shows the year');
  assert.equal(lsTime({ sec: 1_700_100_000, nsec: 0 }, now), 'Nov 16  2023', 'the future shows the year');
  const sizes: [number, string][] = [[0, '0'], [1023, '1023'], [1024, '1.0K'], [1536, '1.5K'], [10 * 1024, '10K'], [64 * 1024 * 1024, '64M']];
  for (const [b, want] of sizes) assert.equal(humanSize(b), want, `humanSize(${b}): got ${humanSize(b)}, want ${want}`);
});

test('columns: vertical fill as GNU ls on a terminal', () => {
  assert.equal(columns(['a', 'bb', 'ccc'], 80), 'a  bb  ccc\n');
  assert.equal(columns(['aaaa', 'b', 'c', 'd', 'e'], 10), 'aaaa  d\nb     e\nc\n');
  assert.equal(columns(['x'.repeat(100), 'y'], 80), `${'x'.repeat(100)}\ny\n`);
});

test('decodeDirents and path helpers', () => {
  const buf = new Uint8Array(48);
  const v = new DataView(buf.buffer);
  v.setBigUint64(0, 7n, true); v.setBigInt64(8, 1n, true); v.setUint16(16, 24, true); v.setUint8(18, 8);
  buf.set([0x61, 0x62, 0], 19);
  v.setBigUint64(24, 9n, true); v.setBigInt64(32, 2n, true); v.setUint16(40, 24, true); v.setUint8(42, 4);
  buf.set([0xc3, 0xa9, 0], 43);
  assert.deepEqual(decodeDirents(buf, 48), [{ ino: 7, type: 8, name: 'ab' }, { ino: 9, type: 4, name: 'é' }]);
  assert.equal(basename('/a/b/'), 'b'); assert.equal(basename('/'), '/');
  assert.equal(dirname('/a/b'), '/a'); assert.equal(dirname('a'), '.'); assert.equal(dirname('/a'), '/');
  assert.equal(normalize('/x', '../y/./z'), '/y/z');
});

test('session: ls -l, total, -a, -d, symlinks, errors', async () => {
  const s = await session();
  await s.run('mkdir /d', 'echo hello > /d/f', 'ln -s f /d/l', 'mkdir /d/sub');
  const r = await s.run('ls -l /d');
  assert.equal(r.err, '');
  assert.match(r.out, /^total \d+\n/, `got ${JSON.stringify(r.out)}, want a total line first`);
  assert.equal(r.out.replace(/^total \d+\n/, ''),
    '-rw-r--r-- 1 0 0  6 Nov 14 22:13 f\n' +
    'lrwxrwxrwx 1 0 0  1 Nov 14 22:13 l -> f\n' +
    'drwxr-xr-x 2 0 0 40 Nov 14 22:13 sub\n', `got:\n${r.out}`);
  const a = await s.run('ls -a /d');
  assert.equal(a.out, '.\n..\nf\nl\nsub\n', `got ${JSON.stringify(a.out)}`);
  const d = await s.run('ls -ld /d');
  assert.match(d.out, /^drwxr-xr-x 3 0 0 \d+ Nov 14 22:13 \/d\n$/, `got ${JSON.stringify(d.out)}`);
  const m = await s.run('ls /d/f /nope /d/sub');
  assert.equal(m.out, '/d/f\n\n/d/sub:\n', `got ${JSON.stringify(m.out)}`);
  assert.equal(m.err, "ls: cannot access '/nope': No such file or directory\n");
  assert.equal(m.status, 2, `got status ${m.status}, want 2`);
  const z = await s.run('ls -z');
  assert.equal(z.err, "ls: invalid option -- 'z'\nTry 'ls --help' for more information.\n");
  assert.equal(z.status, 2);
  await s.done();
});

test('session: owner names from /etc/passwd and /etc/group', async () => {
  const s = await session();
  await s.run('mkdir /etc', "echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd", "echo 'wheel:x:0:' > /etc/group", 'touch /f');
  const r = await s.run('ls -l /f');
  assert.match(r.out, /^-rw-r--r-- 1 root wheel 0 Nov 14 22:13 \/f\n$/, `got ${JSON.stringify(r.out)}`);
  const st = await s.run('stat /f');
  assert.match(st.out, /Uid: \( {4}0\/ {4}root\) {3}Gid: \( {4}0\/ {3}wheel\)/, `got ${JSON.stringify(st.out)}`);
  await s.done();
});

test('session: stat format', async () => {
  const s = await session();
  const r = await s.run('echo abc > /f', 'stat /f');
  const lines = r.out.split('\n');
  assert.equal(lines[0], '  File: /f');
  assert.match(lines[1]!, /^ {2}Size: 4 {9}\tBlocks: \d+ +IO Block: 4096 {3}regular file$/, `got ${JSON.stringify(lines[1])}`);
  assert.match(lines[2]!, /^Device: \d+,\d+\tInode: \d+ +Links: 1$/, `got ${JSON.stringify(lines[2])}`);
  assert.equal(lines[3], 'Access: (0644/-rw-r--r--)  Uid: (    0/ UNKNOWN)   Gid: (    0/ UNKNOWN)');
  assert.match(lines[4]!, /^Access: 2023-11-14 22:13:2\d\.\d{9} \+0000$/, `got ${JSON.stringify(lines[4])}`);
  const e = await s.run('stat /nope');
  assert.equal(e.err, "stat: cannot statx '/nope': No such file or directory\n");
  assert.equal(e.status, 1);
  await s.done();
});

test('session: rm, rmdir, mkdir -p errors and statuses', async () => {
  const s = await session();
  const cases: [string, string, string, number][] = [
    // command, stdout, stderr, status
    ['mkdir -p /a/b/c', '', '', 0],
    ['mkdir -p /a/b/c', '', '', 0],
    ['mkdir /a', '', "mkdir: cannot create directory '/a': File exists\n", 1],
    ['mkdir /q/r', '', "mkdir: cannot create directory '/q/r': No such file or directory\n", 1],
    ['rmdir /a', '', "rmdir: failed to remove '/a': Directory not empty\n", 1],
    ['rm /a', '', "rm: cannot remove '/a': Is a directory\n", 1],
    ['rm /nope', '', "rm: cannot remove '/nope': No such file or directory\n", 1],
    ['rm -f /nope', '', '', 0],
    ['rm -r /a/.', '', "rm: refusing to remove '.' or '..' directory: skipping '/a/.'\n", 1],
    ['rm -rf /', '', "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n", 1],
    ['rm -r /a', '', '', 0],
    ['ls /a', '', "ls: cannot access '/a': No such file or directory\n", 2],
    ['rm', '', "rm: missing operand\nTry 'rm --help' for more information.\n", 1],
  ];
  for (const [cmd, out, err, status] of cases) {
    const r = await s.run(cmd);
    assert.deepEqual([r.out, r.err, r.status], [out, err, status], `${cmd}: got ${JSON.stringify([r.out, r.err, r.status])}, want ${JSON.stringify([out, err, status])}`);
  }
  await s.done();
});

test('session: cp, mv, ln, touch, chmod', async () => {
  const s = await session();
  const cases: [string, string, string, number][] = [
    ['mkdir /s; echo data > /s/f; ln -s f /s/l; mkdir /s/in', '', '', 0],
    ['cp /s /t', '', "cp: -r not specified; omitting directory '/s'\n", 1],
    ['cp -r /s /t; ls /t; cat /t/l', 'f\nin\nl\ndata\n', '', 0],
    ['cp -r /s /s/in', '', "cp: cannot copy a directory, '/s', into itself, '/s/in/s'\n", 1],
    ['cp /s/f /s/f', '', "cp: '/s/f' and '/s/f' are the same file\n", 1],
    ['cp /nope /x', '', "cp: cannot stat '/nope': No such file or directory\n", 1],
    ['cp /s/f /t/f /s/in; ls /s/in', 'f\n', '', 0],
    ['mv /t/f /t/g; ls /t', 'g\nin\nl\n', '', 0],
    ['mv /nope /x', '', "mv: cannot stat '/nope': No such file or directory\n", 1],
    ['mv /t /t/in', '', "mv: cannot move '/t' to a subdirectory of itself, '/t/in/t'\n", 1],
    ['mv /t/g /t/in; ls /t/in', 'g\n', '', 0],
    ['mv /a /b /c', '', "mv: target '/c' is not a directory\n", 1],
    ['ln /s/f /s/hard; ls -l /s/hard', '', '', 0],
    ['ln -s x /s/hard', '', "ln: failed to create symbolic link '/s/hard': File exists\n", 1],
    ['ln /nope /s/h2', '', "ln: failed to access '/nope': No such file or directory\n", 1],
    ['touch /nodir/x', '', "touch: cannot touch '/nodir/x': No such file or directory\n", 1],
    ['touch -c /nope', '', '', 0],
    ['chmod 600 /s/f; chmod u+x,g+r /s/f; stat /s/f > /st', '', '', 0],
    ['chmod 999 /s/f', '', "chmod: invalid mode: '999'\nTry 'chmod --help' for more information.\n", 1],
    ['chmod 644 /nope', '', "chmod: cannot access '/nope': No such file or directory\n", 1],
  ];
  for (const [cmd, out, err, status] of cases) {
    const r = await s.run(cmd);
    if (cmd.startsWith('ln /s/f')) { assert.match(r.out, /^-rw-r--r-- 2 0 0 5 /, `${cmd}: got ${JSON.stringify(r.out)}`); continue; }
    assert.deepEqual([r.out, r.err, r.status], [out, err, status], `${cmd}: got ${JSON.stringify([r.out, r.err, r.status])}, want ${JSON.stringify([out, err, status])}`);
  }
  const st = await s.run('cat /st');
  assert.match(st.out, /Access: \(0740\/-rwxr-----\)/, `got ${JSON.stringify(st.out)}, want mode 0740 after chmod 600 then u+x,g+r`);
  await s.done();
});

test('session: echo options, redirections, lists', async () => {
  const s = await session();
  const cases: [string, string, string, number][] = [
    ['echo -n a; echo b', 'ab\n', '', 0],
    ['echo -e "x\\ty\\c"; echo', 'x\ty\n', '', 0],
    ['echo -x', '-x\n', '', 0],
    ['echo a > /f; echo b >> /f; cat /f', 'a\nb\n', '', 0],
    ['cat /nope 2> /e; cat /e', 'cat: /nope: No such file or directory\n', '', 0],
    ['echo x > /nodir/f', '', 'sh: /nodir/f: No such file or directory\n', 1],
    ['> /empty; ls -l /empty', '', '', 0],
    ['false && echo no; echo $?', '1\n', '', 0],
    ['false || echo yes', 'yes\n', '', 0],
    ['nosuch', '', 'sh: nosuch: command not found\n', 127],
    ['echo "unterminated', '', 'sh: syntax error: unterminated quoted string\n', 2],
    ['cd /nope', '', 'sh: cd: /nope: No such file or directory\n', 1],
    ['mkdir /w; cd /w; pwd; cd; pwd', '/w\n/\n', '', 0],
  ];
  for (const [cmd, out, err, status] of cases) {
    const r = await s.run(cmd);
    if (cmd.startsWith('> /empty')) { assert.match(r.out, /^-rw-r--r-- 1 0 0 0 /, `got ${JSON.stringify(r.out)}`); continue; }
    assert.deepEqual([r.out, r.err, r.status], [out, err, status], `${cmd}: got ${JSON.stringify([r.out, r.err, r.status])}, want ${JSON.stringify([out, err, status])}`);
  }
  await s.done();
});

test('session: mount, umount, uname, ps, free, dmesg', async () => {
  const s = await session('mem=16M');
  const m = await s.run('mount');
  assert.match(m.out, /^proc on \/proc type proc \(rw,nosuid,nodev,noexec,relatime\)$/m, `got ${JSON.stringify(m.out + m.err)}`);
  const t = await s.run('mkdir /mnt', 'mount -t tmpfs -o size=1M,noexec none /mnt', 'echo x > /mnt/f', 'mount -t tmpfs');
  assert.match(t.out, /^none on \/mnt type tmpfs \(rw,noexec[^)]*\)$/m, `got ${JSON.stringify(t.out + t.err)}`);
  assert.equal(t.status, 0);
  const busy = await s.run('cd /mnt', 'umount /mnt');
  assert.equal(busy.err, 'umount: /mnt: target is busy.\n');
  assert.equal(busy.status, 32);
  const ok = await s.run('cd /', 'umount /mnt', 'ls /mnt', 'umount /mnt');
  assert.equal(ok.out, '', `got ${JSON.stringify(ok.out)}, want an empty mount point after umount`);
  assert.equal(ok.err, 'umount: /mnt: not mounted.\n');
  const bad = await s.run('mount -t nosuchfs none /mnt');
  assert.equal(bad.err, "mount: /mnt: unknown filesystem type 'nosuchfs'.\n");
  assert.equal(bad.status, 32);
  const np = await s.run('mount -t tmpfs none /nope');
  assert.equal(np.err, 'mount: /nope: mount point does not exist.\n');
  const u = await s.run('uname', 'uname -r', 'uname -a');
  const [sys, rel, all] = u.out.split('\n');
  assert.equal(sys, 'Linux');
  assert.ok(all!.startsWith(`Linux (none) ${rel} `) && all!.endsWith(' Linux'), `got uname -a ${JSON.stringify(all)}`);
  const p = await s.run('ps');
  assert.match(p.out, /^ {2}PID TTY {10}TIME CMD\n {4}1 \? {8}00:00:00 \S+\n/, `got ${JSON.stringify(p.out + p.err)}`);
  const f = await s.run('free');
  const fl = f.out.split('\n');
  assert.equal(fl[0], '               total        used        free      shared  buff/cache   available');
  assert.match(fl[1]!, /^Mem: {4}( +\d+){6}$/, `got ${JSON.stringify(fl[1])}`);
  assert.equal(fl[1]!.length, 9 + 11 + 5 * 12, `got width ${fl[1]!.length}, want procps's columns`);
  const d = await s.run('dmesg');
  assert.match(d.out, /^\[ *\d+\.\d+\] Linux version/m, `got ${JSON.stringify(d.out.slice(0, 200) + d.err)}`);
  assert.doesNotMatch(d.out, /^<\d>/m, 'dmesg strips the syslog level prefix');
  await s.done();
});

test('halt and exit stop the shell and the kernel', async () => {
  const s = await session();
  await s.run('exit 5', 'echo after');
  assert.equal(s.sh.halted, true);
  assert.equal(s.sh.exitStatus, 5, `got ${s.sh.exitStatus}, want 5`);
  assert.equal(s.k.running, false, 'got a running kernel, want it halted');
  assert.equal(s.host.armedTimers, 0, 'got armed timers after halt, want none');
});
