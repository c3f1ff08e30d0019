/*
 * The public network API (LKL's helpers) end to end: a router kernel between two others
 * (setIpv4Gateway, sysctl ip_forward), static neighbours with ARP cut off (addNeighbor), MTU
 * changes (ifSetMtu), ifDown, netdevRemove. Everything is configured through k.* only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootKernel, sin } from './helpers.js';
import { createCable, type LklKernel } from '../../src/lkl.js';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, IPPROTO_ICMP, SOL_IP } from '../../src/uapi/socket.js';
import { IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_TTL, SIOCGIFMTU, IFREQ_SIZE } from '../../src/uapi/if.js';
import { ENETUNREACH, EHOSTUNREACH, EMSGSIZE, ENODEV, EINVAL, EEXIST } from '../../src/uapi/errno.js';

async function ping(k: LklKernel, dst: string, o: { size?: number } = {}): Promise<{ n: number; from?: string }> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  try {
    const req = new Uint8Array(8 + (o.size ?? 56)); req[0] = 8; req[7] = 1;
    const s = await k.sys.sendto(fd, req, req.length, 0, sin(dst, 0), 16);
    if (s < 0) return { n: s };
    const from: { addr?: string } = {};
    const n = await k.sys.recvfrom(fd, new Uint8Array(65536), 65536, 0, from, { value: 16 });
    return from.addr ? { n, from: from.addr } : { n };
  } finally { await k.sys.close(fd); }
}

async function node(seed: number, links: { cable: ReturnType<typeof createCable>; end: 'a' | 'b'; ip: string }[]): Promise<{ k: LklKernel; ifs: number[] }> {
  const k = await bootKernel(seed);
  assert.equal(await k.ifUp(1), 0);
  const ifs: number[] = [];
  for (const l of links) {
    const ifi = k.netdevGetIfindex(k.netdevAdd(l.cable[l.end]));
    assert.equal(await k.ifUp(ifi), 0);
    assert.equal(await k.ifSetIpv4(ifi, l.ip, 24), 0);
    ifs.push(ifi);
  }
  return { k, ifs };
}

test('a router between two kernels: gateways, ip_forward, TTL', async () => {
  const left = createCable(), right = createCable();
  const a = await node(1, [{ cable: left, end: 'a', ip: '10.0.0.1' }]);
  const r = await node(2, [{ cable: left, end: 'b', ip: '10.0.0.2' }, { cable: right, end: 'a', ip: '10.0.1.1' }]);
  const c = await node(3, [{ cable: right, end: 'b', ip: '10.0.1.2' }]);
  try {
    assert.equal((await ping(a.k, '10.0.1.2')).n, -ENETUNREACH, 'no route before the gateway is set');
    assert.equal(await a.k.setIpv4Gateway('10.0.0.2'), 0);
    // c's default route the old way: SIOCADDRT with a struct rtentry (route(8)).
    const rt = new Uint8Array(120);
    const put = (off: number, ip: number[]) => { rt[off] = AF_INET; rt.set(ip, off + 4); };
    put(8, [0, 0, 0, 0]); put(24, [10, 0, 1, 1]); put(40, [0, 0, 0, 0]);
    new DataView(rt.buffer).setUint16(56, 0x3 /* RTF_UP | RTF_GATEWAY */, true);
    const cs = await c.k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await c.k.sys.ioctl(cs, 0x890b /* SIOCADDRT */, rt), 0);
    assert.equal(await c.k.sys.ioctl(cs, 0x890b, rt), -EEXIST);
    await c.k.sys.close(cs);
    assert.equal(await a.k.setIpv4Gateway('10.0.0.2'), -EEXIST);
    assert.equal(await a.k.setIpv4Gateway('192.168.5.1'), -ENETUNREACH);
    // Forwarding is off by default: the router drops what is not for it. Turn it on.
    assert.equal(await r.k.sysctl('net/ipv4/ip_forward', '1'), 0);
    const p = await ping(a.k, '10.0.1.2');
    assert.equal(p.n, 64, `got ${p.n}, want a 64-byte echo reply`);
    assert.equal(p.from, '10.0.1.2');
    // A SYN to a host the router cannot resolve: ARP fails there, ICMP host unreachable comes
    // back, and the connect ends with EHOSTUNREACH ("No route to host") rather than a timeout.
    const t = await a.k.sys.socket(AF_INET, SOCK_STREAM, 0);
    const cr = await a.k.sys.connect(t, sin('10.0.1.99', 80), 16);
    assert.equal(cr, -EHOSTUNREACH, `got ${cr}, want -EHOSTUNREACH from the router's ICMP`);
    await a.k.sys.close(t);
    // IP_TTL on a UDP socket: stored, read back, range-checked.
    const fd = await a.k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    assert.equal(await a.k.sys.setsockopt(fd, SOL_IP, IP_TTL, new Uint8Array(new Int32Array([1]).buffer), 4), 0);
    const v = { value: 0 };
    assert.equal(await a.k.sys.getsockopt(fd, SOL_IP, IP_TTL, v, { value: 4 }), 0);
    assert.equal(v.value, 1);
    assert.equal(await a.k.sys.setsockopt(fd, SOL_IP, IP_TTL, new Uint8Array(new Int32Array([0]).buffer), 4), -EINVAL);
    assert.equal(await a.k.sysctl('net/ipv4/no_such_thing', '1'), -2);
  } finally { await a.k.halt(); await r.k.halt(); await c.k.halt(); }
});

test('static neighbours carry traffic with ARP cut; MTU, ifDown, netdevRemove', async () => {
  const cable = createCable();
  const a = await node(4, [{ cable, end: 'a', ip: '10.0.0.1' }]);
  const b = await node(5, [{ cable, end: 'b', ip: '10.0.0.2' }]);
  try {
    const macA = new Uint8Array(6), macB = new Uint8Array(6);
    // The MACs, as SIOCGIFHWADDR reports them.
    for (const [k, ifi, mac] of [[a.k, a.ifs[0]!, macA], [b.k, b.ifs[0]!, macB]] as const) {
      const s = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
      const ifr = new Uint8Array(IFREQ_SIZE); ifr.set(new TextEncoder().encode(`eth${ifi - 2}`));
      const nm = new Uint8Array(IFREQ_SIZE); new DataView(nm.buffer).setInt32(16, ifi, true);
      assert.equal(await k.sys.ioctl(s, 0x8910 /* SIOCGIFNAME */, nm), 0);
      assert.equal(await k.sys.ioctl(s, 0x8927 /* SIOCGIFHWADDR */, nm), 0);
      mac.set(nm.subarray(18, 24));
      await k.sys.close(s);
    }
    cable.filter = (f) => f[12] === 0x08 && f[13] === 0x06; // drop every ARP frame
    assert.equal(await a.k.addNeighbor(a.ifs[0]!, AF_INET, '10.0.0.2', macB), 0);
    assert.equal(await b.k.addNeighbor(b.ifs[0]!, AF_INET, '10.0.0.1', macA), 0);
    assert.equal((await ping(a.k, '10.0.0.2')).n, 64, 'ping with static neighbours and no ARP');
    cable.filter = null;
    // MTU: a DF datagram of 3000 bytes needs a bigger MTU on both ends.
    const big = async () => {
      const fd = await a.k.sys.socket(AF_INET, SOCK_DGRAM, 0);
      await a.k.sys.setsockopt(fd, SOL_IP, IP_MTU_DISCOVER, new Uint8Array(new Int32Array([IP_PMTUDISC_DO]).buffer), 4);
      const r = await a.k.sys.sendto(fd, new Uint8Array(3000), 3000, 0, sin('10.0.0.2', 9), 16);
      await a.k.sys.close(fd);
      return r;
    };
    assert.equal(await big(), -EMSGSIZE);
    assert.equal(await a.k.ifSetMtu(a.ifs[0]!, 9000), 0);
    assert.equal(await b.k.ifSetMtu(b.ifs[0]!, 9000), 0);
    assert.equal(await a.k.ifSetMtu(a.ifs[0]!, 10), -EINVAL);
    assert.equal(await big(), 3000);
    assert.equal((await ping(a.k, '10.0.0.2', { size: 8000 })).n, 8008, 'an 8 KB echo fits the jumbo MTU');
    const s = await a.k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    const ifr = new Uint8Array(IFREQ_SIZE); ifr.set(new TextEncoder().encode(`eth0`));
    assert.equal(await a.k.sys.ioctl(s, SIOCGIFMTU, ifr), 0);
    assert.equal(new DataView(ifr.buffer).getInt32(16, true), 9000);
    // Down: nothing routes; up again needs the address back only on Linux's rules (kept here).
    assert.equal(await a.k.ifDown(a.ifs[0]!), 0);
    assert.equal((await ping(a.k, '10.0.0.2')).n, -ENETUNREACH);
    assert.equal(await a.k.ifUp(a.ifs[0]!), 0);
    assert.equal((await ping(a.k, '10.0.0.2')).n, 64);
    a.k.netdevRemove(0);
    assert.equal(a.k.netdevGetIfindex(0), -ENODEV);
    assert.equal(await a.k.ifUp(a.ifs[0]!), -ENODEV);
    assert.equal((await ping(a.k, '10.0.0.2')).n, -ENETUNREACH);
  } finally { await a.k.halt(); await b.k.halt(); }
});

// ---- IPv6: ifSetIpv6 (waits for DAD) and setIpv6Gateway ------------------------------------------

const sin6 = (addr: string, port: number, scope_id = 0) => ({ family: 10 /* AF_INET6 */, addr, port, scope_id });

async function ping6(k: LklKernel, dst: string): Promise<number> {
  const fd = await k.sys.socket(10, SOCK_DGRAM, 58 /* IPPROTO_ICMPV6 */);
  try {
    const req = new Uint8Array(16); req[0] = 128;
    const s = await k.sys.sendto(fd, req, req.length, 0, sin6(dst, 0), 28);
    if (s < 0) return s;
    return await k.sys.recvfrom(fd, new Uint8Array(100), 100, 0, null, null);
  } finally { await k.sys.close(fd); }
}

test('ifSetIpv6 returns once DAD is over; a duplicate fails; setIpv6Gateway', async () => {
  const cable = createCable();
  const a = await node(11, [{ cable, end: 'a', ip: '10.0.0.1' }]);
  const b = await node(12, [{ cable, end: 'b', ip: '10.0.0.2' }]);
  try {
    const now = async () => { const ts = { sec: 0, nsec: 0 }; await a.k.sys.clock_gettime(1, ts); return ts.sec * 1e9 + ts.nsec; };
    const t0 = await now();
    assert.equal(await a.k.ifSetIpv6(a.ifs[0]!, '2001:db8::1', 64), 0);
    const waited = (await now()) - t0;
    assert.ok(waited >= 1e9, `got ${waited / 1e6} ms of DAD, want at least the 1 s retransmit timer`);
    // Usable at once: b answers a ping to it, and bind() accepts it (a tentative one is EADDRNOTAVAIL).
    assert.equal(await b.k.ifSetIpv6(b.ifs[0]!, '2001:db8::2', 64), 0);
    assert.equal(await ping6(b.k, '2001:db8::1'), 16);
    // The same address on b: DAD sees a's answer.
    assert.equal(await b.k.ifSetIpv6(b.ifs[0]!, '2001:db8::1', 64), -98 /* EADDRINUSE */);
    assert.equal(await a.k.ifSetIpv6(a.ifs[0]!, '2001:db8::1', 64), -EEXIST);
    assert.equal(await a.k.ifSetIpv6(99, '2001:db8::7', 64), -ENODEV);
    assert.equal(await a.k.ifSetIpv6(a.ifs[0]!, '2001:db8::7', 129), -EINVAL);
    // Gateways: "ip -6 route" answers (checked on Linux): no connected prefix → EHOSTUNREACH,
    // a link-local gateway without a device → EINVAL, twice → EEXIST.
    assert.equal(await a.k.setIpv6Gateway('2001:db8:9::1'), -EHOSTUNREACH);
    assert.equal(await a.k.setIpv6Gateway('fe80::1'), -EINVAL);
    assert.equal(await a.k.setIpv6Gateway('2001:db8::2'), 0);
    assert.equal(await a.k.setIpv6Gateway('2001:db8::2'), -EEXIST);
    // An off-link destination now leaves through the gateway: the frame goes to b's MAC.
    let toB = 0, macB = '';
    const mac = (f: Uint8Array, o: number) => [...f.subarray(o, o + 6)].join(':');
    cable.filter = (f, from) => {
      if (from === 'b') macB = mac(f, 6);
      else if (f[12] === 0x86 && f[13] === 0xdd && f[43] === 5 && f[53] === 9 && mac(f, 0) === macB) toB++;
      return false;
    };
    assert.equal(await ping6(a.k, '2001:db8::2'), 16); // b speaks: its MAC is known
    const u = await a.k.sys.socket(10, SOCK_DGRAM, 0);
    assert.equal(await a.k.sys.sendto(u, new Uint8Array(4), 4, 0, sin6('2001:db8:5::9', 9), 28), 4);
    await a.k.sys.nanosleep({ sec: 0, nsec: 100_000_000 }, null);
    assert.equal(toB, 1, `got ${toB} frames to the gateway's MAC, want 1`);
    await a.k.sys.close(u);
  } finally { cable.filter = null; await a.k.halt(); await b.k.halt(); }
});
