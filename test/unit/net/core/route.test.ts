/*
 * Routing: longest-prefix match, metrics, default gateways, connected routes following addresses
 * and link state, the errnos of "ip route add/del", and /proc/net/route and /proc/net/dev in the
 * exact layout of a Linux host's files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetDevice, procNetRoute, procNetDev, RTN_LOCAL, RTN_UNICAST, RTN_BROADCAST } from '../../../../src/net/core/index.js';
import { etherDevice } from '../../../../src/net/link/index.js';
import { createCable } from '../../../../src/lkl.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { EEXIST, ENETUNREACH, ESRCH, EINVAL, EADDRNOTAVAIL, ENODEV } from '../../../../src/uapi/errno.js';
import { bootNode, haltAll, ip } from '../helpers.js';

const errno = (fn: () => unknown): number => {
  try { fn(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
};

async function setup() {
  const n = await bootNode();
  const net = n.net;
  const c1 = createCable(), c2 = createCable();
  const e0 = etherDevice(net, c1.a, { mac: new Uint8Array([2, 0, 0, 0, 0, 1]) });
  const e1 = etherDevice(net, c2.a, { mac: new Uint8Array([2, 0, 0, 0, 0, 2]) });
  net.devOpen(net.loopback!); net.devOpen(e0); net.devOpen(e1);
  net.inetAddrAdd(e0, ip('192.168.1.10'), 24);
  net.inetAddrAdd(e1, ip('10.1.0.10'), 16);
  return { n, net, e0, e1 };
}

test('longest prefix wins, then the lowest metric; the default route catches the rest', async () => {
  const { n, net, e0, e1 } = await setup();
  assert.deepEqual([e0.name, e1.name, e0.ifindex, e1.ifindex], ['eth0', 'eth1', 2, 3]);
  net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('192.168.1.1') });
  net.routeAdd({ dst: ip('10.0.0.0'), prefixLen: 8, gateway: ip('192.168.1.254') });
  net.routeAdd({ dst: ip('10.1.2.0'), prefixLen: 24, gateway: ip('10.1.0.1'), metric: 10 });
  net.routeAdd({ dst: ip('10.1.2.0'), prefixLen: 24, gateway: ip('10.1.0.2'), metric: 5 });
  const table: [string, string, string, number][] = [
    ['8.8.8.8', 'eth0', '192.168.1.1', RTN_UNICAST],
    ['192.168.1.77', 'eth0', '192.168.1.77', RTN_UNICAST],
    ['10.200.0.1', 'eth0', '192.168.1.254', RTN_UNICAST],
    ['10.1.9.9', 'eth1', '10.1.9.9', RTN_UNICAST],
    ['10.1.2.3', 'eth1', '10.1.0.2', RTN_UNICAST],
    ['192.168.1.255', 'eth0', '192.168.1.255', RTN_BROADCAST],
    ['10.1.0.10', 'lo', '10.1.0.10', RTN_LOCAL],
  ];
  for (const [dst, dev, nh, type] of table) {
    const r = net.routeOutput(ip(dst));
    assert.deepEqual([r.dev.name, net.describe(r.nexthop), r.type], [dev, nh, type], `route to ${dst}`);
  }
  assert.equal(net.routeOutput(ip('8.8.8.8')).saddr, ip('192.168.1.10'), 'source from the output device');
  assert.equal(net.routeOutput(ip('10.1.2.3')).saddr, ip('10.1.0.10'));
  await haltAll(n);
});

test('connected routes follow addresses and link state; route errnos', async () => {
  const { n, net, e0 } = await setup();
  assert.equal(errno(() => net.routeOutput(ip('172.16.0.1'))), ENETUNREACH);
  assert.equal(errno(() => net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('172.16.0.1') })), ENETUNREACH, 'gateway off-link');
  net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('192.168.1.1') });
  assert.equal(errno(() => net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('192.168.1.1') })), EEXIST);
  assert.equal(errno(() => net.routeAdd({ dst: 0, prefixLen: 33 })), EINVAL);
  assert.equal(errno(() => net.routeDel({ dst: ip('1.2.3.0'), prefixLen: 24 })), ESRCH);
  assert.equal(errno(() => net.inetAddrAdd(e0, ip('192.168.1.10'), 24)), EEXIST);
  assert.equal(errno(() => net.inetAddrDel(e0, ip('192.168.9.9'))), EADDRNOTAVAIL);
  assert.equal(errno(() => net.routeAdd({ dst: 0, prefixLen: 0, oif: 99 })), ENODEV);
  // Down: its routes go (Linux flushes them), up again: the connected route is back, the gateway is not.
  net.devClose(e0);
  assert.equal(errno(() => net.routeOutput(ip('192.168.1.77'))), ENETUNREACH);
  net.devOpen(e0);
  assert.equal(net.routeOutput(ip('192.168.1.77')).dev, e0);
  assert.equal(errno(() => net.routeOutput(ip('8.8.8.8'))), ENETUNREACH);
  net.inetAddrDel(e0, ip('192.168.1.10'), 24);
  assert.equal(errno(() => net.routeOutput(ip('192.168.1.77'))), ENETUNREACH, 'connected route left with its address');
  await haltAll(n);
});

test('/proc/net/route and /proc/net/dev match the Linux layout', async () => {
  const { n, net } = await setup();
  net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('192.168.1.1') });
  const want =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT'.padEnd(127) + '\n' +
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0'.padEnd(127) + '\n' +
    'eth1\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0'.padEnd(127) + '\n' +
    'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0'.padEnd(127) + '\n';
  assert.equal(procNetRoute(net), want);
  const dev = procNetDev(net).split('\n');
  assert.equal(dev[0], 'Inter-|   Receive                                                |  Transmit');
  assert.equal(dev[1], ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed');
  assert.equal(dev[2], '    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0');
  assert.match(dev[3]!, /^ {2}eth0:/);
  await haltAll(n);
});

test('device names and registration', async () => {
  const n = await bootNode();
  const d = new NetDevice('bad name', { xmit() {} });
  assert.equal(errno(() => n.net.registerNetdevice(d)), EINVAL);
  const d2 = new NetDevice('lo', { xmit() {} });
  assert.equal(errno(() => n.net.registerNetdevice(d2)), EEXIST);
  await haltAll(n);
});
