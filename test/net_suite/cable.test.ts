/*
 * net-test, in-process cable backend: two kernels in one process joined by a virtual cable. Ours
 * pings the peer and the peer pings us, in IPv4 and IPv6. The peer's IPv6 address is the
 * link-local one its MAC gives it (00:01:00:00:00:ac); a second run configures global IPv6
 * addresses on both ends (-I ADDR/64) and default gateways (-g) to reach the peer's addresses
 * on networks we have no route to.
 */
import { test } from 'node:test';
import { runNetTest, assertNetTestOk, linkLocalOf } from './helpers.js';

const PEER_LL = linkLocalOf('00:01:00:00:00:ac');

test('net-test -b cable: IPv4 and link-local IPv6, both ways', { timeout: 30_000 }, async () => {
  const r = await runNetTest(['-b', 'cable', '-i', '192.0.2.2/24', '-I', '192.0.2.1', '-n', '24',
    '-D', '192.0.2.2', '-D', `${PEER_LL}%eth0`]);
  assertNetTestOk(r, ['nd_create', 'nd_add', 'if_up', 'set_ipv4', 'icmp', 'icmpv6', 'peer_icmp', 'nd_remove', 'stop_kernel']);
});

test('net-test -b cable: global IPv6 addresses and default gateways, both ways', { timeout: 30_000 }, async () => {
  // The peer also owns addresses off our subnets; we reach them only through -g (the peer).
  const r = await runNetTest(['-b', 'cable', '-i', '192.0.2.2/24,203.0.113.1/24,fd00:db8::2/64,fd00:db9::2/64',
    '-I', '192.0.2.1', '-n', '24', '-I', 'fd00:db8::1/64', '-g', '192.0.2.2', '-g', 'fd00:db8::2',
    '-D', 'fd00:db8::2', '-D', '203.0.113.1', '-D', 'fd00:db9::2']);
  assertNetTestOk(r, ['nd_create', 'set_ipv4', 'set_ipv6', 'set_gateway', 'icmp', 'icmpv6', 'icmpv6', 'peer_icmp', 'stop_kernel']);
});
