/*
 * net-test, QEMU socket backends: two net-test processes on one Ethernet segment made of QEMU's
 * socket transports on 127.0.0.1, each pinging the other in IPv4 and IPv6 (link-local). Datagram:
 * `-netdev dgram`'s wire format, one UDP datagram per frame, each side sending to the other's
 * port. Stream: `-netdev stream`'s, a TCP connection with a 4-byte length before each frame; one
 * side listens, the other connects (retrying until the listener is up).
 */
import { test } from 'node:test';
import { runPair, assertNetTestOk, linkLocalOf, freeUdpPort } from './helpers.js';
import * as net from 'node:net';

const MAC_A = '02:00:5e:00:01:0a', MAC_B = '02:00:5e:00:01:0b';
const WANT = ['nd_create', 'nd_add', 'if_up', 'set_ipv4', 'icmp', 'icmpv6', 'serve', 'nd_remove', 'stop_kernel'];

function pairArgs(specA: string, specB: string): [string[], string[]] {
  return [
    ['-b', 'qemu', '-i', specA, '-m', MAC_A, '-I', '192.0.2.1', '-n', '24',
      '-D', '192.0.2.2', '-D', `${linkLocalOf(MAC_B)}%eth0`, '-S', '30'],
    ['-b', 'qemu', '-i', specB, '-m', MAC_B, '-I', '192.0.2.2', '-n', '24',
      '-D', '192.0.2.1', '-D', `${linkLocalOf(MAC_A)}%eth0`, '-S', '30'],
  ];
}

async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('net-test -b qemu: qemu-dgram pair pings each other (IPv4, IPv6)', { timeout: 60_000 }, async () => {
  const pa = await freeUdpPort(), pb = await freeUdpPort();
  const [a, b] = await runPair(...pairArgs(
    `qemu-dgram:local=127.0.0.1:${pa},remote=127.0.0.1:${pb}`,
    `qemu-dgram:local=127.0.0.1:${pb},remote=127.0.0.1:${pa}`,
  ));
  assertNetTestOk(a, WANT, 'net-test A');
  assertNetTestOk(b, WANT, 'net-test B');
});

test('net-test -b qemu: qemu-stream listen/connect pair pings each other (IPv4, IPv6)', { timeout: 60_000 }, async () => {
  const port = await freeTcpPort();
  const [a, b] = await runPair(...pairArgs(
    `qemu-stream:listen=127.0.0.1:${port}`,
    `qemu-stream:connect=127.0.0.1:${port},reconnect-ms=100`,
  ));
  assertNetTestOk(a, WANT, 'net-test A');
  assertNetTestOk(b, WANT, 'net-test B');
});
