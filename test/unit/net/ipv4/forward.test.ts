/*
 * Three kernels a - r - c with r forwarding (ip_forward = 1): a pings c through its default
 * gateway, the TTL drops by one per hop, TTL 1 gets ICMP time exceeded from r, and with
 * ip_forward = 0 r silently drops transit traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ping } from '../../../../src/net/icmp/index.js';
import { etherDevice } from '../../../../src/net/link/index.js';
import { createCable } from '../../../../src/lkl.js';
import { ICMP_ECHOREPLY, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL } from '../../../../src/net/header/index.js';
import { bootNode, haltAll, ip } from '../helpers.js';

test('forwarding through a router: TTL, time exceeded, ip_forward off', async () => {
  const [a, r, c] = [await bootNode({ seed: 3 }), await bootNode({ seed: 4 }), await bootNode({ seed: 5 })];
  const c1 = createCable(), c2 = createCable();
  const ea = etherDevice(a.net, c1.a), r0 = etherDevice(r.net, c1.b), r1 = etherDevice(r.net, c2.a), ec = etherDevice(c.net, c2.b);
  for (const [n, d, addr] of [[a, ea, '10.1.0.2'], [r, r0, '10.1.0.1'], [r, r1, '10.2.0.1'], [c, ec, '10.2.0.2']] as const) {
    n.net.devOpen(n.net.loopback!); n.net.devOpen(d); n.net.inetAddrAdd(d, ip(addr), 24);
  }
  a.net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('10.1.0.1') });
  c.net.routeAdd({ dst: 0, prefixLen: 0, gateway: ip('10.2.0.1') });
  r.net.sysctl.ip_forward = 1;
  const ok = await ping(a.net, ip('10.2.0.2'), { timeoutNs: 2e9 });
  assert.ok(ok && ok.type === ICMP_ECHOREPLY, `got ${JSON.stringify(ok)}, want an echo reply through r`);
  assert.equal(ok.ttl, 63, `got reply ttl ${ok.ttl}, want 63 after one hop`);
  const big = await ping(a.net, ip('10.2.0.2'), { size: 3000, seq: 2, timeoutNs: 2e9 });
  assert.ok(big && big.intact, 'fragments are forwarded and reassembled at c');
  const ttl1 = await ping(a.net, ip('10.2.0.2'), { ttl: 1, seq: 3, timeoutNs: 2e9 });
  assert.ok(ttl1, 'got timeout, want time exceeded');
  assert.deepEqual([ttl1.type, ttl1.code, ttl1.from], [ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, ip('10.1.0.1')]);
  r.net.sysctl.ip_forward = 0;
  assert.equal(await ping(a.net, ip('10.2.0.2'), { seq: 4, timeoutNs: 1e9 }), null, 'no forwarding, no reply');
  await haltAll(a, r, c);
});
