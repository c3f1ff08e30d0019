/*
 * net-test, loopback backend (LKL's `net-test --dst 127.0.0.1`): no NIC, lo brought up, ten echoes
 * to 127.0.0.1 through a raw ICMP socket and ten to ::1 through an ICMPv6 ping socket.
 */
import { test } from 'node:test';
import { runNetTest, assertNetTestOk } from './helpers.js';

test('net-test -b loopback pings 127.0.0.1 and ::1', { timeout: 30_000 }, async () => {
  const r = await runNetTest(['-b', 'loopback', '-D', '127.0.0.1', '-D', '::1']);
  assertNetTestOk(r, ['start_kernel', 'if_up', 'sleep', 'icmp', 'icmpv6', 'stop_kernel']);
});
