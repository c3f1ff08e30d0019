/*
 * procfs and /dev through the public API: /proc/self per task under concurrency, meminfo
 * accounting of tmpfs pages, kmsg, and the device nodes devtmpfs-style boot creates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../src/lkl.js';
import { FakeHost } from '../src/arch/fake/index.js';

const meminfoKb = (text: string, key: string): number => {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  assert.ok(m, `no ${key} line in meminfo`);
  return Number(m[1]);
};

test('/proc/self names each calling task, even when their walks interleave', async () => {
  const k = await boot({ cmdline: 'mem=32M', host: new FakeHost() });
  assert.equal(await k.mountFs('proc'), 0);
  const tasks = Array.from({ length: 8 }, () => k.task());
  await Promise.all(tasks.map((t) => t.sys.new_thread_group_leader()));
  const got = await Promise.all(tasks.map((t) => t.fs.readlink('/proc/self')));
  assert.deepEqual(got, tasks.map((t) => String(t.pid)), 'each task reads its own pid');
  const status = await Promise.all(tasks.map((t) => t.fs.readFile('/proc/self/status', 'utf8') as Promise<string>));
  status.forEach((s, i) => assert.match(s, new RegExp(`^Pid:\\t${tasks[i]!.pid}$`, 'm')));
  await k.halt();
});

test('mem=16M: /proc/meminfo accounts tmpfs pages as Shmem and the rest as free', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: new FakeHost() });
  await k.mountFs('proc');
  const before = await k.fs.readFile('/proc/meminfo', 'utf8') as string;
  // As on Linux, MemTotal is what the boot log calls available: mem= less the kernel's reserved pages.
  const avail = Number(/Memory: (\d+)K\/16384K available/.exec(k.dmesg())![1]);
  assert.equal(meminfoKb(before, 'MemTotal'), avail);
  const fd = await k.sys.open('/big', 0o101, 0o644);
  const mib = new Uint8Array(1 << 20);
  let err = 0;
  for (let i = 0; i < 64 && !err; i++) { const r = await k.sys.write(fd, mib, mib.length); if (r < 0) err = r; }
  assert.equal(err, -28, `got ${err}, want -ENOSPC`);
  const after = await k.fs.readFile('/proc/meminfo', 'utf8') as string;
  assert.equal(meminfoKb(after, 'Shmem'), 8192, 'the 8 MiB tmpfs holds are Shmem');
  assert.equal(meminfoKb(before, 'MemFree') - meminfoKb(after, 'MemFree'), 8192, 'MemFree went down by what tmpfs holds');
  await k.halt();
});

test('/dev nodes exist at boot with Linux numbers and behave', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: new FakeHost() });
  const want: [string, number, number, number][] = [
    ['null', 0o666, 1, 3], ['zero', 0o666, 1, 5], ['full', 0o666, 1, 7], ['random', 0o666, 1, 8],
    ['urandom', 0o666, 1, 9], ['tty', 0o666, 5, 0], ['console', 0o600, 5, 1],
  ];
  for (const [name, mode, major, minor] of want) {
    const st = await k.fs.stat(`/dev/${name}`);
    assert.ok(st.isCharacterDevice(), `/dev/${name} is a character device`);
    assert.equal(st.mode & 0o777, mode, `/dev/${name} mode`);
    assert.equal(st.rdev, major * 2 ** 20 + minor, `/dev/${name} rdev`);
  }
  const full = await k.sys.open('/dev/full', 1, 0);
  assert.equal(await k.sys.write(full, new Uint8Array(4), 4), -28, 'write to /dev/full gives ENOSPC');
  const zero = await k.sys.open('/dev/zero', 0, 0);
  const buf = new Uint8Array(16).fill(9);
  assert.equal(await k.sys.read(zero, buf, 16), 16);
  assert.ok(buf.every((b) => b === 0));
  const nul = await k.sys.open('/dev/null', 2, 0);
  assert.equal(await k.sys.write(nul, buf, 16), 16);
  assert.equal(await k.sys.read(nul, buf, 16), 0);
  await k.halt();
});

test('dmesg through syslog(2) and /proc/kmsg reads the boot log', async () => {
  const k = await boot({ cmdline: 'mem=16M', host: new FakeHost() });
  const buf = new Uint8Array(65536);
  const n = await k.sys.syslog(3 /* READ_ALL */, buf, buf.length);
  assert.ok(n > 0);
  const text = new TextDecoder().decode(buf.subarray(0, n));
  assert.match(text, /^<5>\[ {4}0\.\d{6}\] Linux version /m);
  await k.mountFs('proc');
  const fd = await k.sys.open('/proc/kmsg', 0o4000 /* O_NONBLOCK */, 0);
  assert.ok(fd >= 0);
  const r = await k.sys.read(fd, buf, buf.length);
  assert.ok(r > 0, `kmsg read gave ${r}`);
  assert.equal(await k.sys.read(fd, buf, buf.length), -11, 'then EAGAIN: everything consumed');
  await k.halt();
});

test('/proc/net: dev, route, arp and if_inet6 in Linux\'s formats, following the stack', async () => {
  const k = await boot({ cmdline: 'mem=32M', host: new FakeHost() });
  try {
    assert.equal(await k.mountFs('proc'), 0);
    assert.equal(await k.ifUp(1), 0);
    const read = async (f: string) => (await k.fs.readFile(`/proc/net/${f}`, 'utf8')) as string;
    const dev = (await read('dev')).split('\n');
    assert.equal(dev[0], 'Inter-|   Receive                                                |  Transmit');
    assert.match(dev[2]!, /^ {4}lo: +\d+ +\d+/, `got ${dev[2]}, want the lo line`);
    // As this host's own /proc/net/if_inet6 shows ::1 on lo.
    assert.equal((await read('if_inet6')).trim(), '00000000000000000000000000000001 01 80 10 80       lo');
    assert.match(await read('route'), /^Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT/);
    assert.match(await read('arp'), /^IP address {7}HW type {5}Flags {7}HW address {12}Mask {5}Device\n$/);
  } finally {
    await k.halt();
  }
});
