/*
 * A kernel booted without networking: boot({ net: false }) is Linux built with CONFIG_NET=n.
 *
 * What Linux does then, and what is checked here:
 *  - net/socket.c is not built, so every socket system call is sys_ni_syscall (COND_SYSCALL in
 *    kernel/sys_ni.c): -ENOSYS whatever the arguments, AF_UNIX included;
 *  - fs/proc/proc_net.c is not built: no /proc/net;
 *  - IP-Config (net/ipv4/ipconfig.c) is not built, so nothing claims `ip=`: init/main.c reports it
 *    among the unknown parameters and passes it to init's environment.
 * And what is ours: the network stack's modules (dist/src/net/) are never loaded, which is the
 * point (the disk tools save their memory), and the LKL network helpers fail clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boot, createCable, NR } from '../src/lkl.js';
import { FakeHost } from '../src/arch/fake/index.js';
import { ENOSYS, ENODEV, ENOENT, EBADF } from '../src/uapi/errno.js';
import { AF_INET, AF_UNIX, SOCK_DGRAM, SOCK_STREAM } from '../src/uapi/socket.js';

/** Every socket system call of the asm-generic table (kernel/sys_ni.c's COND_SYSCALLs). */
const SOCKET_CALLS = [
  'socket', 'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname',
  'getpeername', 'sendto', 'recvfrom', 'setsockopt', 'getsockopt', 'shutdown', 'sendmsg',
  'recvmsg', 'sendmmsg', 'recvmmsg',
] as const;

test('net: false: every socket call is ENOSYS, /proc/net is absent, ip= goes to init', async () => {
  const k = await boot({ cmdline: 'mem=16M ip=dhcp', host: new FakeHost(), net: false });
  try {
    for (const name of SOCKET_CALLS) {
      const r = await k.syscall(NR[name], 3, 0, 0, null, null, 0);
      assert.equal(r, -ENOSYS, `${name}: got ${r}, want -ENOSYS`);
    }
    let r = await k.sys.socket(AF_UNIX, SOCK_STREAM, 0);
    assert.equal(r, -ENOSYS, `socket(AF_UNIX): got ${r}, want -ENOSYS`);
    r = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(r, -ENOSYS, `socket(AF_INET): got ${r}, want -ENOSYS`);

    assert.equal(await k.mountFs('proc'), 0);
    const names = await k.fs.readdir('/proc') as string[];
    assert.ok(names.includes('meminfo') && names.includes('self'), `got /proc = ${names.join(' ')}, want meminfo and self in it`);
    assert.ok(!names.includes('net'), `got net in /proc (${names.join(' ')}), want no /proc/net`);
    r = await k.sys.stat('/proc/net', {});
    assert.equal(r, -ENOENT, `stat /proc/net: got ${r}, want -ENOENT`);

    // Nothing claims ip=: reported as unknown and handed to init's environment (init/main.c).
    assert.match(k.dmesg(), /Unknown kernel command line parameters "ip=dhcp", will be passed to user space\./);
    assert.deepEqual(k.k.initEnv, ['ip=dhcp'], `got init env ${JSON.stringify(k.k.initEnv)}, want ["ip=dhcp"]`);
  } finally {
    await k.halt();
  }
});

test('net: false: the LKL network helpers fail clearly', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: new FakeHost(), net: false });
  try {
    const cable = createCable(); // a frame transport only: available without the stack
    assert.throws(() => k.netdevAdd(cable.a), (e: Error & { errno?: number }) => {
      assert.equal(e.errno, ENODEV, `netdevAdd: got errno ${e.errno}, want ENODEV`);
      assert.match(e.message, /without networking/);
      return true;
    });
    assert.throws(() => k.netdevRemove(0), (e: { errno?: number }) => e.errno === ENODEV);
    assert.equal(k.netdevGetIfindex(0), -ENODEV);
    // LKL's helpers open a socket first: on this kernel that is ENOSYS.
    assert.equal(await k.ifUp(1), -ENOSYS);
    assert.equal(await k.ifSetIpv4(1, '10.0.0.1', 24), -ENOSYS);
    assert.equal(await k.ifSetIpv6(1, 'fd00::1', 64), -ENOSYS);
    assert.equal(await k.setIpv6Gateway('fd00::2'), -ENOSYS);
    // No /proc/sys/net without the stack.
    assert.equal(await k.sysctl('net/ipv4/ip_forward', 1), -ENOENT);
  } finally {
    await k.halt();
  }
  await assert.rejects(
    boot({ cmdline: 'mem=16M', host: new FakeHost(), net: false, netdevs: [{ backend: createCable().a }] }),
    (e: { errno?: number }) => e.errno === ENODEV,
    'boot with netdevs and net: false: want ENODEV',
  );
});

test('net: false and net: true kernels side by side: each keeps its own behaviour', async () => {
  const off = await boot({ cmdline: 'mem=16M', host: new FakeHost(), net: false });
  const on = await boot({ cmdline: 'mem=16M', host: new FakeHost() });
  try {
    const fd = await on.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.ok(fd >= 0, `socket(AF_INET) with networking: got ${fd}, want an fd`);
    assert.equal(await on.syscall(NR.bind, 99, null, 0), -EBADF, 'bind on a closed fd with networking: want -EBADF');
    assert.equal(await on.mountFs('proc'), 0);
    assert.match(await on.fs.readFile('/proc/net/dev', 'utf8') as string, /^\s*lo:/m);
    // The socket code is loaded in this process now; the kernel without networking still has none.
    const r = await off.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(r, -ENOSYS, `socket on the net: false kernel: got ${r}, want -ENOSYS`);
  } finally {
    await off.halt();
    await on.halt();
  }
});

// ---- which modules a process loads ----------------------------------------------------------------

const dist = fileURLToPath(new URL('../src/', import.meta.url)); // dist/src/
const netDir = new URL('../src/net/', import.meta.url).href;

/**
 * Run a fresh node that records, through a module resolve hook (node:module register), every URL
 * it resolves, then imports fs2tar's main module and boots a kernel as fs2tar does; returns the URLs.
 */
function loadedUrls(net: boolean): string[] {
  const dir = mkdtempSync(join(tmpdir(), `lkl-nonet-${process.pid}-`));
  const log = join(dir, 'urls');
  const hook = [
    "import { appendFileSync } from 'node:fs';",
    'let log;',
    'export function initialize(d) { log = d.log; }',
    "export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(log, r.url + '\\n'); return r; }",
  ].join('\n');
  const script = [
    "import { register } from 'node:module';",
    `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), import.meta.url, { data: { log: ${JSON.stringify(log)} } });`,
    `await import(${JSON.stringify(join(dist, 'apps/fs2tar/main.js'))});`,
    `const { boot } = await import(${JSON.stringify(join(dist, 'lkl.js'))});`,
    `const { createNodeHost } = await import(${JSON.stringify(join(dist, 'arch/node/index.js'))});`,
    `const k = await boot({ cmdline: 'mem=16M', host: createNodeHost({ print: null }), net: ${net} });`,
    'const fd = await k.sys.open("/", 0, 0);',
    'if (fd < 0) throw new Error("open / failed: " + fd);',
    'await k.halt();',
  ].join('\n');
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `child exited with ${r.status}: ${r.stderr}`);
    return readFileSync(log, 'utf8').split('\n').filter((x) => x);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('net: false loads no module of src/net/; net: true does', () => {
  const off = loadedUrls(false);
  const lkl = new URL('../src/lkl.js', import.meta.url).href;
  assert.ok(off.includes(lkl), `got ${off.length} URLs without ${lkl}: the hook recorded nothing useful`);
  assert.ok(off.some((u) => u.includes('/src/fs/ext4/')), 'want ext4 among the loaded modules');
  const leaked = off.filter((u) => u.startsWith(netDir));
  assert.deepEqual(leaked, [], `got ${leaked.length} network modules loaded with net: false, want none`);

  const on = loadedUrls(true);
  for (const want of ['core/index.js', 'socket/index.js', 'ipv4/index.js', 'ipv6/index.js']) {
    assert.ok(on.includes(netDir + want), `net: true: want ${netDir + want} loaded`);
  }
});
