/*
 * Kernel-core acceptance: independent kernels in one process, nothing left behind after halt,
 * mem= bounding tmpfs, the boot log and command-line reporting, errors of the fs facade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { boot, NR } from '../src/lkl.js';
import { FakeHost } from '../src/arch/fake/index.js';
import { ENOSPC, ENOMEM, ESHUTDOWN } from '../src/uapi/errno.js';
import { runProgram } from './lib/tap_suite.js';

const quiet = () => new FakeHost();

test('two kernels in one process see separate trees', async () => {
  const a = await boot({ cmdline: 'mem=16M', host: quiet() });
  const b = await boot({ cmdline: 'mem=16M', host: quiet() });
  await a.fs.writeFile('/only-in-a', 'a');
  await b.fs.mkdir('/only-in-b');
  assert.deepEqual((await a.fs.readdir('/')).sort(), ['dev', 'only-in-a'], 'kernel a sees its own root only');
  assert.deepEqual((await b.fs.readdir('/')).sort(), ['dev', 'only-in-b'], 'kernel b sees its own root only');
  assert.equal(await a.halt(), 0);
  // b keeps working after a halts.
  assert.equal(await b.sys.getpid(), 1);
  assert.equal(await a.sys.getpid(), -ESHUTDOWN, 'a halted kernel refuses syscalls');
  assert.equal(await b.halt(), 0);
});

test('node exits by itself after its kernels halt (no handle left behind)', async () => {
  const lkl = new URL('../src/lkl.js', import.meta.url).href;
  const script = `
    import { boot } from ${JSON.stringify(lkl)};
    import { createNodeHost } from ${JSON.stringify(new URL('../src/arch/node/index.js', import.meta.url).href)};
    const h = () => createNodeHost({ print: null });
    const a = await boot({ cmdline: 'mem=16M', host: h() });
    const b = await boot({ cmdline: 'mem=16M', host: h() });
    await a.fs.writeFile('/x', 'x');
    const sleeper = a.sys.nanosleep({ sec: 3600, nsec: 0 }, null);  // halted mid-sleep
    await a.halt(); await b.halt();
    console.log('sleep ended with', await sleeper);
    console.log('halted');
  `;
  const t0 = Date.now();
  const r = await runProgram(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, `got exit ${r.code}, want 0; stderr: ${r.stderr}`);
  assert.match(r.stdout, /sleep ended with -4\nhalted/, 'a sleep interrupted by halt returns -EINTR');
  assert.ok(Date.now() - t0 < 30_000, 'process did not linger');
});

test('mem=16M: writing 64 MiB into tmpfs ends in ENOSPC, never a crash', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: quiet() });
  const fd = await k.sys.open('/big', 0o1 | 0o100, 0o644);
  assert.ok(fd >= 0);
  const chunk = new Uint8Array(1 << 20).fill(7);
  let written = 0, err = 0;
  for (let i = 0; i < 64; i++) {
    const r = await k.sys.write(fd, chunk, chunk.length);
    if (r < 0) { err = r; break; }
    written += r;
    if (r < chunk.length) { /* short write: next one reports the error */ }
  }
  assert.ok(err === -ENOSPC || err === -ENOMEM, `got ${err}, want -ENOSPC or -ENOMEM`);
  // tmpfs default size is half of RAM: 8 MiB of 16.
  assert.equal(written, 8 * 1024 * 1024, `got ${written} bytes written, want 8 MiB (size=50% of mem)`);
  const shmem = k.k.mem.pages('shmem') * 4;
  assert.equal(shmem, 8192, `got Shmem ${shmem} kB, want 8192 kB`);
  // Freeing the file returns the memory.
  await k.sys.close(fd);
  assert.equal(await k.sys.unlink('/big'), 0);
  assert.equal(k.k.mem.pages('shmem'), 0, 'pages freed on unlink of a closed file');
  await k.halt();
});

test('boot log: banner, command line, memory, unknown parameters as Linux reports them', async () => {
  const host = new FakeHost();
  const k = await boot({ cmdline: 'mem=32M loglevel=8 foo=bar baz', host });
  const log = host.console;
  assert.match(log, /^\[ {4}0\.\d{6}\] Linux version \d+\.\d+\.\d+/m);
  assert.match(log, /Kernel command line: mem=32M loglevel=8 foo=bar baz/);
  assert.match(log, /Memory: \d+K\/32768K available/);
  assert.match(log, /Unknown kernel command line parameters "foo=bar baz", will be passed to user space\./);
  assert.deepEqual(k.k.initEnv, ['foo=bar']);
  assert.deepEqual(k.k.initArgs, ['baz']);
  await k.halt();
});

test('loglevel and quiet decide what reaches the console; the buffer keeps everything', async () => {
  const host = new FakeHost();
  const k = await boot({ cmdline: 'quiet', host });
  assert.equal(host.console, '', `quiet boot printed: ${host.console}`);
  assert.match(k.dmesg(), /Linux version/);
  await k.halt();
});

test('fs facade throws Node-style errors', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: quiet() });
  await assert.rejects(k.fs.readFile('/missing'), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENOENT'); assert.equal(e.errno, -2); assert.equal(e.syscall, 'open'); assert.equal(e.path, '/missing');
    assert.equal(e.message, "ENOENT: no such file or directory, open '/missing'");
    return true;
  });
  await k.fs.mkdir('/a/b/c', { recursive: true });
  await k.fs.writeFile('/a/b/c/f', 'hello');
  assert.equal(await k.fs.readFile('/a/b/c/f', 'utf8'), 'hello');
  const st = await k.fs.stat('/a/b/c/f');
  assert.equal(st.size, 5); assert.ok(st.isFile());
  await k.fs.rm('/a', { recursive: true });
  assert.deepEqual(await k.fs.readdir('/'), ['dev']);
  await k.halt();
});

test('raw syscall: unknown numbers give -ENOSYS, bad pointers -EFAULT', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: quiet() });
  assert.equal(await k.syscall(9999), -38);
  assert.equal(await k.syscall(NR.clone), -38);
  assert.equal(await k.syscall(NR.openat, -100, 12345, 0, 0), -14);
  await k.halt();
});

void fileURLToPath;

test('killing init panics the kernel and reaches the host panic', async () => {
  const host = new FakeHost();
  const k = await boot({ cmdline: 'mem=16M', host });
  await assert.rejects(k.exit(), /Kernel panic - not syncing: Attempted to kill init!/);
  assert.deepEqual(host.panics, ['Attempted to kill init! exitcode=0x00000000']);
  assert.match(k.dmesg(), /Kernel panic - not syncing: Attempted to kill init!/);
});

test('stat fast path agrees with the full walk on slashes, dots, symlinks and permissions', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: quiet() });
  await k.fs.mkdir('/d/e', { recursive: true });
  await k.fs.writeFile('/d/f', 'x');
  await k.fs.symlink('f', '/d/l');
  const st = {} as { mode: number };
  const cases: [string, number][] = [
    ['/d/f', 0], ['/d/f/', -20], ['/d/f//', -20], ['/d//f', 0], ['/d/./f', 0], ['/d/e/../f', 0],
    ['/d/l', 0], ['/d/l/', -20], ['/d/nope', -2], ['d/f', 0], ['/d/e/', 0],
  ];
  for (const [p, want] of cases) assert.equal(await k.sys.stat(p, st), want, `stat ${p}: got, want ${want}`);
  // A task without search permission on /d gets EACCES even though /d/f is cached.
  await k.sys.chmod('/d', 0o700);
  const t = k.task();
  await t.sys.new_thread_group_leader();
  await t.sys.setresuid(1000, 1000, 1000);
  assert.equal(await t.sys.stat('/d/f', st), -13, 'got, want EACCES');
  await k.halt();
});

test('sys wrappers can be detached, like node:fs functions, and stay bound to their task', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: quiet() });
  const { getpid, mkdir } = k.sys;
  assert.equal(await getpid(), 1);
  assert.equal(await mkdir('/detached', 0o755), 0);
  const t = k.task();
  await t.sys.new_thread_group_leader();
  const { getpid: tgetpid } = t.sys;
  assert.equal(await tgetpid(), t.pid);
  assert.notEqual(t.pid, 1);
  await k.halt();
});
