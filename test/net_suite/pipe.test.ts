/*
 * net-test, pipe backend (LKL's net.sh "pipe" case): two net-test processes joined by two FIFOs,
 * crossed ("f1|f2" and "f2|f1"), each pinging the other in IPv4 and IPv6 (the other's link-local
 * address, from its MAC). Each stays up with -S until the test has seen both finish pinging.
 */
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPair, assertNetTestOk, linkLocalOf } from './helpers.js';

const MAC_A = '02:00:5e:00:00:0a', MAC_B = '02:00:5e:00:00:0b';

test('net-test -b pipe: two processes ping each other (IPv4, IPv6)', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lkl-nt-pipe-${process.pid}-`));
  try {
    const f1 = path.join(dir, 'fifo1'), f2 = path.join(dir, 'fifo2');
    execFileSync('mkfifo', [f1, f2]);
    const [a, b] = await runPair(
      ['-b', 'pipe', '-i', `${f1}|${f2}`, '-m', MAC_A, '-I', '192.0.2.1', '-n', '24',
        '-D', '192.0.2.2', '-D', `${linkLocalOf(MAC_B)}%eth0`, '-S', '30'],
      ['-b', 'pipe', '-i', `${f2}|${f1}`, '-m', MAC_B, '-I', '192.0.2.2', '-n', '24',
        '-D', '192.0.2.1', '-D', `${linkLocalOf(MAC_A)}%eth0`, '-S', '30'],
    );
    const want = ['nd_create', 'nd_add', 'if_up', 'set_ipv4', 'icmp', 'icmpv6', 'serve', 'nd_remove', 'stop_kernel'];
    assertNetTestOk(a, want, 'net-test A');
    assertNetTestOk(b, want, 'net-test B');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
