/*
 * TCP over IPv6 through the glue (tcp6Attach / tcp6Output / route6Info): two kernels, one
 * TcpEngine each plugged into IPv6 the way the socket layer will, a connection between global
 * addresses, 100 KB each way (segments sized from the IPv6 MTU: MSS 1500 - 40 - 20 = 1440).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpEngine, TCP_ESTABLISHED, type TcpSock } from '../../../../src/net/tcp/index.js';
import { tcp6Attach, tcp6Output, route6Info } from '../../../../src/net/ipv6/index.js';
import type { NetNamespace } from '../../../../src/net/core/index.js';
import { parseIpv6Header } from '../../../../src/net/header/index.js';
import { haltAll } from '../helpers.js';
import { twoNodes6, a6 } from './helpers6.js';

function engineFor(net: NetNamespace): TcpEngine {
  const clock = net.k.clock;
  const e = new TcpEngine({
    clock: {
      nowNs: () => clock.monotonicNs(),
      setTimer: (t, fn) => { const x = clock.addTimer(t, () => net.k.queueWork(fn), true); return () => x.cancel(); },
    },
    output: (src, dst, seg) => { try { tcp6Output(net, src, dst, seg); } catch { /* lost, as on a wire */ } },
    random32: () => net.random32(),
    mtu: (_l, r) => route6Info(net, r)?.mtu ?? 1280,
    selectSource: (r) => route6Info(net, r)?.saddr ?? null,
  });
  tcp6Attach(net, e);
  return e;
}

test('TCP over IPv6 between two kernels', async () => {
  const { a, b, da, db, adv, cable } = await twoNodes6();
  await adv(2.5);
  a.v6.st.addrAdd(da, a6('2001:db8::1'), 64);
  b.v6.st.addrAdd(db, a6('2001:db8::2'), 64);
  await adv(2.5);
  const ea = engineFor(a.net), eb = engineFor(b.net);
  let maxIp6 = 0, tcpFrames = 0;
  cable.filter = (f) => {
    if (f[12] === 0x86 && f[13] === 0xdd) {
      const h = parseIpv6Header(f, 14)!;
      if (h.nextHeader === 6) { tcpFrames++; maxIp6 = Math.max(maxIp6, 40 + h.payloadLen); }
    }
    return false;
  };
  const l = eb.socket();
  l.bind(new Uint8Array(16), 8080);
  l.listen(8);
  const c = ea.socket();
  c.connect(a6('2001:db8::2'), 8080);
  await adv(0.5);
  assert.equal(c.state, TCP_ESTABLISHED, `got state ${c.state}, want ESTABLISHED`);
  const s = l.accept() as TcpSock;
  const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  const pump = async (from: TcpSock, to: TcpSock) => {
    let sent = 0; const got: number[] = [];
    for (let i = 0; i < 400 && got.length < data.length; i++) {
      if (sent < data.length) { try { sent += from.send(data.subarray(sent)); } catch { /* EAGAIN */ } }
      await adv(0.1);
      for (;;) { try { const r = to.recv(65536); if (!r.length) break; got.push(...r); } catch { break; } }
    }
    return Uint8Array.from(got);
  };
  const ab = await pump(c, s);
  assert.equal(ab.length, data.length, `got ${ab.length} bytes a->b, want ${data.length}`);
  assert.deepEqual(ab, data);
  const ba = await pump(s, c);
  assert.deepEqual(ba, data, 'b->a');
  assert.ok(tcpFrames > 100);
  assert.ok(maxIp6 <= 1500 && maxIp6 > 1400, `got a ${maxIp6}-byte IPv6 packet, want segments within the MTU (no fragmentation)`);
  assert.deepEqual([...c.remoteAddr!], [...a6('2001:db8::2')]);
  await haltAll(a, b);
});
