/*
 * IP-Config and its DHCP messages. The encoder and parser are checked against the RFC 2131
 * layout byte by byte (offsets written out here, not read back through our own code); ip= is
 * parsed as Linux's ip_auto_config_setup does; and the client is driven at frame level over a
 * cable on the fake host (virtual time): the DISCOVER's headers, the REQUEST that follows an
 * OFFER (same xid, options 50 and 54), a NAK sending it back to DISCOVER, the configured result,
 * a static ip=, and the whole retry schedule when nobody answers (Linux's timings, about 2.5
 * minutes of virtual time) after which the boot goes on. The real server (dnsmasq over TAP) is in
 * test/net/dhcp.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, createCable, type LklKernel, type Cable } from '../../../../src/lkl.js';
import { FakeHost } from '../../../../src/arch/fake/index.js';
import { netOf } from '../../../../src/net/core/index.js';
import { dhcp, ipConfigState, procNetPnp } from '../../../../src/net/ipv4/index.js';
import { requestOptions, IpConfigState, IC_BOOTP, IC_USE_DHCP } from '../../../../src/net/ipv4/ipconfig.js';
import {
  parseEthHeader, parseIpv4Header, inetChecksum, ETH_P_IP, writeEthHeader, writeIpv4Header, IPPROTO_UDP, IP_DF,
} from '../../../../src/net/header/index.js';
import { AF_INET, SOCK_DGRAM } from '../../../../src/uapi/socket.js';
import { IFREQ_SIZE, IFR_UNION_OFFSET, SIOCGIFADDR, SIOCGIFNETMASK } from '../../../../src/uapi/if.js';

const {
  encodeBootp, parseBootp, dhcpMessageType, dhcpOption, optionAddrs, addrOption, BOOTP_REQUEST, BOOTP_REPLY,
  DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK, DHCPNAK,
} = dhcp;

const ip = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0) >>> 0;
const dotted = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
const MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);

test('encodeBootp: RFC 2131 fixed fields, cookie, options, 548 bytes', () => {
  const b = encodeBootp({
    op: BOOTP_REQUEST, htype: 1, xid: 0xdeadbeef, secs: 3, flags: 0x8000, chaddr: MAC,
    options: [{ code: 53, data: Uint8Array.of(1) }, { code: 55, data: Uint8Array.of(1, 3, 6) }],
  });
  assert.equal(b.length, 548, `got length ${b.length}, want 548 (236 + 312)`);
  assert.deepEqual([...b.subarray(0, 4)], [1, 1, 6, 0], 'op htype hlen hops');
  assert.deepEqual([...b.subarray(4, 8)], [0xde, 0xad, 0xbe, 0xef], 'xid big-endian at 4');
  assert.deepEqual([...b.subarray(8, 12)], [0, 3, 0x80, 0], 'secs at 8, flags at 10');
  assert.deepEqual([...b.subarray(12, 28)], new Array(16).fill(0), 'ciaddr yiaddr siaddr giaddr zero');
  assert.deepEqual([...b.subarray(28, 34)], [...MAC], 'chaddr at 28');
  assert.deepEqual([...b.subarray(34, 236)], new Array(202).fill(0), 'chaddr padding, sname, file zero');
  assert.deepEqual([...b.subarray(236, 240)], [99, 130, 83, 99], 'magic cookie at 236');
  assert.deepEqual([...b.subarray(240, 251)], [53, 1, 1, 55, 3, 1, 3, 6, 255, 0, 0], 'options, end mark, padding');
});

test('parseBootp: a hand-made OFFER with pads, and a truncated option', () => {
  const b = new Uint8Array(300);
  b[0] = 2; b[1] = 1; b[2] = 6; b.set([0x12, 0x34, 0x56, 0x78], 4);
  b.set([192, 0, 2, 77], 16); b.set([192, 0, 2, 1], 20); b.set(MAC, 28);
  b.set([...'srv'].map((c) => c.charCodeAt(0)), 44);
  let o = 236;
  for (const x of [99, 130, 83, 99, 0, 0, 53, 1, 2, 54, 4, 192, 0, 2, 1, 0, 1, 4, 255, 255, 255, 0,
    6, 8, 192, 0, 2, 53, 192, 0, 2, 54, 3, 4, 192, 0, 2, 1, 255, 12, 5, 120]) b[o++] = x;
  const m = parseBootp(b)!;
  assert.equal(m.op, BOOTP_REPLY);
  assert.equal(m.xid, 0x12345678);
  assert.equal(dotted(m.yiaddr), '192.0.2.77');
  assert.equal(dotted(m.siaddr), '192.0.2.1');
  assert.deepEqual([...m.chaddr], [...MAC]);
  assert.equal(m.sname, 'srv');
  assert.equal(m.cookie, true);
  assert.equal(dhcpMessageType(m), DHCPOFFER);
  assert.deepEqual(optionAddrs(dhcpOption(m, 54)).map(dotted), ['192.0.2.1']);
  assert.deepEqual(optionAddrs(dhcpOption(m, 1)).map(dotted), ['255.255.255.0']);
  assert.deepEqual(optionAddrs(dhcpOption(m, 6)).map(dotted), ['192.0.2.53', '192.0.2.54']);
  assert.equal(dhcpOption(m, 12), undefined, 'nothing after the end mark');
  // An option running past the end is dropped, the ones before it kept.
  const cut = b.slice(0, 236 + 4 + 2 + 3 + 6 + 2);
  const mc = parseBootp(cut)!;
  assert.deepEqual(mc.options.map((x) => x.code), [53, 54], `got ${mc.options.map((x) => x.code)}, want [53, 54]`);
  assert.equal(parseBootp(b.subarray(0, 235)), null, 'shorter than the fixed part');
  const noCookie = parseBootp(b.subarray(0, 236))!;
  assert.equal(noCookie.cookie, false);
  assert.equal(dhcpMessageType(noCookie), 0);
});

test('ip= parsing follows ip_auto_config_setup', async () => {
  const k = await boot({ cmdline: 'mem=16M quiet ip=10.9.8.7:10.9.8.1:10.9.8.254:255.255.0.0:box.nisdom:eth3:off:10.9.0.53:10.9.0.54:10.9.0.123 dhcpclass=lkl', host: new FakeHost() });
  try {
    const st = ipConfigState(netOf(k.k));
    assert.equal(dotted(st.myaddr), '10.9.8.7');
    assert.equal(dotted(st.servaddr), '10.9.8.1');
    assert.equal(dotted(st.gateway), '10.9.8.254');
    assert.equal(dotted(st.netmask), '255.255.0.0');
    assert.equal(k.k.uts.nodename, 'box');
    assert.equal(k.k.uts.domainname, 'nisdom');
    assert.equal(st.userDevName, 'eth3');
    assert.deepEqual(st.nameservers.slice(0, 2).map(dotted), ['10.9.0.53', '10.9.0.54']);
    assert.equal(dotted(st.ntpServers[0]!), '10.9.0.123');
    assert.equal(st.vendorClass, 'lkl');
    assert.equal(st.enable, true, 'off with an address given: still configured (statically)');
    assert.ok(!k.k.initEnv.some((e) => e.startsWith('ip=')), `ip= went to init: ${k.k.initEnv}`);
    // eth3 does not exist: Linux waits 12 s for it, then goes on silently.
    assert.match(k.dmesg(), /Run \/init as init process/);
    assert.doesNotMatch(k.dmesg(), /IP-Config: Complete/);
  } finally { await k.halt(); }
  for (const [arg, want] of [['dhcp', IC_BOOTP | IC_USE_DHCP], ['bootp', IC_BOOTP], ['on', IC_BOOTP | IC_USE_DHCP], ['both', IC_BOOTP]] as const) {
    const kk = await boot({ cmdline: `mem=16M quiet ip=${arg}`, host: new FakeHost() });
    const st = ipConfigState(netOf(kk.k));
    assert.equal(st.protoEnabled, want, `ip=${arg}: got protocols ${st.protoEnabled}, want ${want}`);
    assert.equal(st.enable, true);
    await kk.halt();
  }
  for (const arg of ['off', 'none', '']) {
    const kk = await boot({ cmdline: `mem=16M quiet ip=${arg}`, host: new FakeHost() });
    assert.equal(ipConfigState(netOf(kk.k)).enable, false, `ip=${arg}: want disabled`);
    await kk.halt();
  }
  const kc = await boot({ cmdline: 'mem=16M quiet ip=dhcp,0,myclient', host: new FakeHost() });
  assert.deepEqual([...ipConfigState(netOf(kc.k)).clientId!], [0, ...[...'myclient'].map((c) => c.charCodeAt(0))]);
  await kc.halt();
});

test('requestOptions: DISCOVER, then REQUEST naming server and address', () => {
  const st = new IpConfigState();
  const uts = { nodename: 'h', domainname: '(none)' };
  const disc = requestOptions(st, uts);
  assert.deepEqual(disc.map((o) => o.code), [53, 55]);
  assert.deepEqual([...disc[0]!.data], [DHCPDISCOVER]);
  st.servaddr = ip('192.0.2.1'); st.myaddr = ip('192.0.2.77'); st.hostNameSet = true;
  const req = requestOptions(st, uts);
  assert.deepEqual(req.map((o) => o.code), [53, 54, 50, 55, 12]);
  assert.deepEqual([...req[0]!.data], [DHCPREQUEST]);
  assert.deepEqual([...req[1]!.data], [192, 0, 2, 1]);
  assert.deepEqual([...req[2]!.data], [192, 0, 2, 77]);
  assert.deepEqual([...req[4]!.data], [104]);
  st.protoEnabled = IC_BOOTP; // BOOTP: RFC 1048 request fields instead of DHCP options
  assert.deepEqual(requestOptions(st, uts).map((o) => [o.code, o.data.length]), [[1, 4], [3, 4], [5, 8], [12, 32], [40, 32], [17, 40], [57, 2]]);
});

/** ifreq ioctl on eth0: the address or netmask as a dotted string. */
async function ifaddr(k: LklKernel, cmd: number, name = 'eth0'): Promise<string> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const ifr = new Uint8Array(IFREQ_SIZE);
  for (let i = 0; i < name.length; i++) ifr[i] = name.charCodeAt(i);
  const r = await k.sys.ioctl(fd, cmd, ifr);
  await k.sys.close(fd);
  if (r < 0) return `errno ${-r}`;
  return [...ifr.subarray(IFR_UNION_OFFSET + 4, IFR_UNION_OFFSET + 8)].join('.');
}

async function procRoute(k: LklKernel): Promise<string> {
  await k.mountFs('proc');
  return new TextDecoder().decode(await k.fs.readFile('/proc/net/route'));
}

interface Server { seen: { type: number; xid: number; msg: dhcp.BootpMessage; frame: Uint8Array }[] }

/**
 * A frame-level DHCP responder on the far end of the cable: `script` says what to answer to the
 * n-th client message (null: stay silent). Replies go to the client's MAC and the offered address,
 * without the broadcast flag, as a server does for a client that did not ask for broadcast.
 */
function responder(cable: Cable, script: (n: number, type: number) => number | null): Server {
  const srvMac = Uint8Array.of(2, 0, 0, 0, 0, 0x99);
  const seen: Server['seen'] = [];
  cable.b.setReceiver((f) => {
    const eth = parseEthHeader(f);
    if (!eth || eth.type !== ETH_P_IP || f[14 + 9] !== IPPROTO_UDP || ((f[36]! << 8) | f[37]!) !== 67) return;
    const msg = parseBootp(f.subarray(42))!;
    const type = dhcpMessageType(msg);
    const n = seen.push({ type, xid: msg.xid, msg, frame: f.slice() }) - 1;
    const reply = script(n, type);
    if (reply === null) return;
    const body = encodeBootp({
      op: BOOTP_REPLY, xid: msg.xid, chaddr: msg.chaddr, yiaddr: reply === DHCPNAK ? 0 : ip('192.0.2.77'), siaddr: ip('192.0.2.1'),
      options: [
        { code: 53, data: Uint8Array.of(reply) }, addrOption(54, ip('192.0.2.1')),
        ...(reply === DHCPNAK ? [] : [
          addrOption(1, ip('255.255.255.0')), addrOption(3, ip('192.0.2.1')),
          { code: 6, data: Uint8Array.of(192, 0, 2, 53, 192, 0, 2, 54) },
          { code: 15, data: new TextEncoder().encode('example.test') }, { code: 12, data: new TextEncoder().encode('lklbox') },
          { code: 51, data: Uint8Array.of(0, 0, 0x0e, 0x10) },
        ]),
      ],
    });
    const out = new Uint8Array(42 + body.length);
    writeEthHeader(out, 0, msg.chaddr.subarray(0, 6), srvMac, ETH_P_IP);
    writeIpv4Header(out, 14, { totLen: 28 + body.length, id: 1, ttl: 64, protocol: IPPROTO_UDP, saddr: ip('192.0.2.1'), daddr: reply === DHCPNAK ? 0xffffffff : ip('192.0.2.77') });
    const dv = new DataView(out.buffer);
    dv.setUint16(34, 67); dv.setUint16(36, 68); dv.setUint16(38, 8 + body.length);
    out.set(body, 42);
    cable.b.send(out);
  });
  return { seen };
}

test('DHCP over a cable: DISCOVER headers, OFFER, REQUEST, ACK, configured', async () => {
  const cable = createCable();
  const srv = responder(cable, (_n, type) => (type === DHCPDISCOVER ? DHCPOFFER : DHCPACK));
  const k = await boot({ cmdline: 'mem=16M quiet ip=dhcp', host: new FakeHost({ seed: 7 }), netdevs: [{ backend: cable.a, mac: MAC }] });
  try {
    assert.deepEqual(srv.seen.map((s) => s.type), [DHCPDISCOVER, DHCPREQUEST]);
    const d = srv.seen[0]!;
    // Ethernet broadcast from our MAC; IPv4 0.0.0.0 -> 255.255.255.255, DF, TTL 64; UDP 68 -> 67.
    const eth = parseEthHeader(d.frame)!;
    assert.deepEqual([...eth.dst], [255, 255, 255, 255, 255, 255]);
    assert.deepEqual([...eth.src], [...MAC]);
    const iph = parseIpv4Header(d.frame, 14)!;
    assert.equal(iph.saddr, 0); assert.equal(iph.daddr, 0xffffffff);
    assert.equal(iph.fragOff, IP_DF); assert.equal(iph.ttl, 64); assert.equal(iph.totLen, 576);
    assert.equal(inetChecksum(d.frame, 14, 34), 0, 'IP header checksum');
    assert.deepEqual([...d.frame.subarray(34, 38)], [0, 68, 0, 67]);
    assert.equal(d.msg.op, BOOTP_REQUEST); assert.deepEqual([...d.msg.chaddr], [...MAC]);
    assert.equal(d.msg.ciaddr, 0); assert.equal(d.msg.flags, 0);
    assert.deepEqual([...dhcpOption(d.msg, 55)!], [1, 3, 6, 12, 15, 17, 26, 40, 42]);
    assert.equal(dhcpOption(d.msg, 50), undefined, 'a DISCOVER requests no address');
    const r = srv.seen[1]!;
    assert.equal(r.xid, d.xid, 'the REQUEST keeps the xid');
    assert.deepEqual(optionAddrs(dhcpOption(r.msg, 54)).map(dotted), ['192.0.2.1'], 'server identifier');
    assert.deepEqual(optionAddrs(dhcpOption(r.msg, 50)).map(dotted), ['192.0.2.77'], 'requested address');

    const log = k.dmesg();
    for (const want of [
      'Sending DHCP requests ., OK',
      'IP-Config: Got DHCP answer from 192.0.2.1, my address is 192.0.2.77',
      'IP-Config: Complete:',
      '     device=eth0, hwaddr=02:00:5e:10:20:30, ipaddr=192.0.2.77, mask=255.255.255.0, gw=192.0.2.1',
      '     host=lklbox, domain=example.test, nis-domain=(none)',
      '     bootserver=192.0.2.1, rootserver=192.0.2.1, rootpath=',
      '     nameserver0=192.0.2.53, nameserver1=192.0.2.54',
    ]) assert.ok(log.includes(want), `dmesg lacks "${want}":\n${log}`);
    assert.equal(await ifaddr(k, SIOCGIFADDR), '192.0.2.77');
    assert.equal(await ifaddr(k, SIOCGIFNETMASK), '255.255.255.0');
    const route = await procRoute(k);
    assert.match(route, /^eth0\t00000000\t010200C0\t0003\t/m, `want a default route via 192.0.2.1:\n${route}`);
    assert.equal(k.k.uts.nodename, 'lklbox');
    assert.equal(procNetPnp(netOf(k.k)), '#PROTO: DHCP\ndomain example.test\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nbootserver 192.0.2.1\n');
  } finally { await k.halt(); }
});

test('DHCP: a NAK sends the client back to DISCOVER', async () => {
  const cable = createCable();
  const srv = responder(cable, (n, type) => (type === DHCPDISCOVER ? DHCPOFFER : n === 1 ? DHCPNAK : DHCPACK));
  const k = await boot({ cmdline: 'mem=16M quiet ip=dhcp', host: new FakeHost({ seed: 3 }), netdevs: [{ backend: cable.a, mac: MAC }] });
  try {
    assert.deepEqual(srv.seen.map((s) => s.type), [DHCPDISCOVER, DHCPREQUEST, DHCPDISCOVER, DHCPREQUEST]);
    assert.match(k.dmesg(), /Sending DHCP requests \.,\., OK/);
    assert.equal(await ifaddr(k, SIOCGIFADDR), '192.0.2.77');
  } finally { await k.halt(); }
});

test('DHCP with no server: Linux retry schedule, then the boot goes on unconfigured', async () => {
  const cable = createCable();
  const srv = responder(cable, () => null);
  const host = new FakeHost({ seed: 5 });
  const k = await boot({ cmdline: 'mem=16M quiet ip=dhcp', host, netdevs: [{ backend: cable.a, mac: MAC }] });
  try {
    const log = k.dmesg();
    assert.equal(log.match(/Sending DHCP requests \.{6} timed out!/g)?.length, 2, `want two openings of six rounds:\n${log}`);
    assert.match(log, /IP-Config: Reopening network devices\.\.\.\n[^]*IP-Config: Auto-configuration of network failed/);
    assert.equal(srv.seen.length, 12, `got ${srv.seen.length} DISCOVERs, want 12`);
    assert.ok(srv.seen.every((s) => s.type === DHCPDISCOVER));
    assert.notEqual(srv.seen[0]!.xid, srv.seen[6]!.xid, 'a reopened device gets a new xid');
    // Waits of 2-3 s growing by 7/4 up to 30 s: 71-90 s per opening.
    const secs = k.k.clock.monotonicNs() / 1e9;
    assert.ok(secs > 140 && secs < 190, `got ${secs.toFixed(1)} s of virtual time, want 140..190`);
    // Unconfigured and down again (ic_close_devs), but running.
    assert.equal(await ifaddr(k, SIOCGIFADDR), `errno 99`);
    assert.equal(k.running, true);
    assert.equal(await k.sys.getpid(), 1);
  } finally { await k.halt(); }
});

test('static ip=: address, netmask, gateway without DHCP; /proc/net/pnp says #MANUAL', async () => {
  const cable = createCable();
  const srv = responder(cable, () => null);
  const k = await boot({
    cmdline: 'mem=16M quiet ip=198.51.100.9::198.51.100.1:255.255.255.0::eth0:off:198.51.100.53',
    host: new FakeHost(), netdevs: [{ backend: cable.a, mac: MAC }],
  });
  try {
    assert.equal(srv.seen.length, 0, 'no DHCP traffic');
    const log = k.dmesg();
    assert.ok(log.includes('     device=eth0, hwaddr=02:00:5e:10:20:30, ipaddr=198.51.100.9, mask=255.255.255.0, gw=198.51.100.1'), log);
    assert.ok(log.includes('     host=198.51.100.9, domain=, nis-domain=(none)'), log);
    assert.ok(log.includes('     nameserver0=198.51.100.53'), log);
    assert.equal(await ifaddr(k, SIOCGIFADDR), '198.51.100.9');
    assert.match(await procRoute(k), /^eth0\t00000000\t016433C6\t0003\t/m);
    assert.equal(procNetPnp(netOf(k.k)), '#MANUAL\nnameserver 198.51.100.53\n');
    assert.equal(k.k.uts.nodename, '198.51.100.9', 'no hostname: the address (ic_defaults)');
  } finally { await k.halt(); }
});

test('static ip= without a netmask guesses it by class', async () => {
  const cable = createCable();
  const k = await boot({ cmdline: 'mem=16M quiet ip=172.20.1.2', host: new FakeHost(), netdevs: [{ backend: cable.a }] });
  try {
    assert.match(k.dmesg(), /IP-Config: Guessing netmask 255\.255\.0\.0/);
    assert.equal(await ifaddr(k, SIOCGIFNETMASK), '255.255.0.0');
  } finally { await k.halt(); }
});

