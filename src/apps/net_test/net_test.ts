/*
 * `lkl net-test`: LKL's network test (tools/lkl/tests/net-test.c) as a program. It boots a
 * kernel, adds a NIC over the chosen backend, brings it up, gives it addresses and a gateway,
 * sleeps so a peer can come up, pings the destinations, removes the NIC and halts, printing TAP13
 * as LKL does; it exits 0 only when every case is ok (a skipped case is ok).
 *
 * Options keep LKL's letters and meanings:
 *   -b, --backend     loopback (default: no NIC, lo only), tap, pipe, qemu; and cable (below)
 *   -i, --ifname      tap: an existing host TAP device; pipe: "rx_fifo|tx_fifo";
 *                     qemu: a QEMU socket spec (qemu-dgram:... or qemu-stream:..., see
 *                     src/arch/node/net.ts); cable: the peer's addresses (below)
 *   -d, --dhcp        add the NIC before boot and boot with ip=dhcp: the kernel's IP-Config
 *                     (src/net/ipv4/ipconfig.ts) gets the IPv4 address, netmask and gateway by
 *                     DHCP, and the static IPv4 cases (set_ipv4, IPv4 set_gateway) are skipped
 *   -I, --ip          IPv4 address for the NIC (with -n)
 *   -n, --netmask-len its prefix length
 *   -g, --gateway     IPv4 default gateway
 *   -D, --dst         address to ping (10 echoes, one second each)
 *   -s, --sleep       seconds to sleep before pinging (the kernel keeps answering meanwhile)
 * and extend them where LKL's test has no word for what this project tests:
 *   -I and -D take IPv6 addresses too (-I ADDR[/PLEN], default /64; -D fe80::1%eth0 names
 *     the interface of a link-local address: lo, our NIC's name eth<N>, or an ifindex); -I, -D
 *     and -g may be repeated;
 *   -m, --mac         the NIC's MAC (LKL's test always uses 00:01:00:00:00:ab);
 *   -S, --serve       after pinging, keep the kernel up for the peer for at most this many
 *                     seconds, ending early (and successfully) on SIGTERM or SIGINT, even one
 *                     that came earlier (a second one exits at once): two processes that ping
 *                     each other must both stay up until both are done;
 *   -b cable          a second kernel in this process on a virtual cable; -i lists its
 *                     addresses ("192.0.2.2/24,fd00::2/64"), and once we have pinged it, it
 *                     pings each of our -I addresses (case peer_icmp).
 *
 * The cases are LKL's, in LKL's order but for one thing: LKL adds the NIC before starting the
 * kernel (lkl_netdev_add queues a virtio device for boot), while our netdevAdd needs a running
 * kernel, so nd_add follows start_kernel — except with -d, where the NIC goes to boot({ netdevs })
 * as in LKL and nd_add only reports it. Cases LKL lacks are added where they belong: set_ipv6
 * beside set_ipv4, one icmp (IPv4) or icmpv6 case per destination, peer_icmp and serve.
 * The kernel's console goes into the log of the case running at the time, as LKL's
 * lkl_host_ops.print = lkl_test_log does.
 */
import { parseArgs } from 'node:util';
import * as nodeNet from 'node:net';
import { performance } from 'node:perf_hooks';
import { boot, createCable, type LklKernel, type NetBackend, type CableEnd } from '../../lkl.js';
import { createNodeHost, createTapBackend, createNetBackend, parseNetSpec, createPipeBackend } from '../../arch/node/index.js';
import { AF_INET, AF_INET6 } from '../../uapi/socket.js';
import { strerror } from '../../uapi/errno_text.js';
import {
  runSuite, TEST_SUCCESS, TEST_FAILURE, TEST_SKIP, TEST_BAILOUT, type TestCase, type TestContext,
} from './lkl_test.js';
import { pingTest, type PingTarget } from './ping.js';

export const NET_TEST_USAGE = `Usage: lkl net-test [options]

LKL's network test: boot, add a NIC over a backend, configure it, ping, print TAP13.
Exits 0 only if every case is ok.

  -b, --backend TYPE     loopback (default), tap, pipe, qemu, cable
  -i, --ifname NAME      tap: host TAP device; pipe: "rx_fifo|tx_fifo";
                         qemu: qemu-dgram:local=H:P,remote=H:P | qemu-stream:connect=|listen=...;
                         cable: the in-process peer's addresses, e.g. 192.0.2.2/24,fd00::2/64
  -I, --ip ADDR          address for the NIC: IPv4 (with -n), or IPv6[/PLEN] (default /64); repeatable
  -n, --netmask-len N    IPv4 prefix length
  -g, --gateway ADDR     default gateway (IPv4 or IPv6); repeatable
  -D, --dst ADDR         ping ADDR 10 times (IPv6 link-local: ADDR%IFNAME); repeatable
  -s, --sleep SECONDS    sleep before pinging, so a peer can come up
  -S, --serve SECONDS    after pinging, stay up for the peer at most SECONDS (ends on SIGTERM/SIGINT)
  -m, --mac MAC          the NIC's MAC address (default 00:01:00:00:00:ab, as LKL)
  -d, --dhcp             boot with ip=dhcp (the NIC is added before boot); skips static IPv4
  -h, --help             show this help
`;

/** ICMP echoes per destination (LKL's NUM_ICMP). */
export const NUM_ICMP = 10;
/** How long the first echo may be resent while a peer comes up. */
const FIRST_ECHO_GRACE_MS = 5000;
const BACKENDS = ['loopback', 'tap', 'pipe', 'qemu', 'cable'] as const;
type Backend = (typeof BACKENDS)[number];
/** LKL's other backends: named so the refusal says why. */
const FOREIGN_BACKENDS = ['macvtap', 'raw', 'dpdk', 'wintap'];

export interface IfAddr { family: typeof AF_INET | typeof AF_INET6; addr: string; plen: number }
export interface DstAddr { family: typeof AF_INET | typeof AF_INET6; addr: string; scope: string }

export interface NetTestArgs {
  backend: Backend;
  ifname: string | undefined;
  ips: IfAddr[];
  nmlen: number | undefined;
  gateways: DstAddr[];
  dsts: DstAddr[];
  sleep: number;
  serve: number;
  mac: Uint8Array;
  /** -d: boot with ip=dhcp, the NIC added before boot. */
  dhcp: boolean;
}

function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2})$/i.exec(s);
  if (!m) throw new Error(`bad MAC address "${s}"`);
  return Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

function parseSeconds(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new Error(`${what}: want whole seconds, got "${s}"`);
  return Number(s);
}

/** An address with an optional %scope (destinations) — family from its syntax. */
function parseDst(s: string, what: string): DstAddr {
  const pct = s.indexOf('%');
  const addr = pct < 0 ? s : s.slice(0, pct);
  const scope = pct < 0 ? '' : s.slice(pct + 1);
  if (nodeNet.isIPv4(addr) && scope === '') return { family: AF_INET, addr, scope };
  if (nodeNet.isIPv6(addr)) return { family: AF_INET6, addr, scope };
  throw new Error(`${what}: bad address "${s}"`);
}

/** An interface address: IPv4 (prefix from -n) or IPv6[/PLEN]. */
function parseIfAddr(s: string, nmlen: number | undefined, what: string): IfAddr {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const plenText = slash < 0 ? undefined : s.slice(slash + 1);
  if (plenText !== undefined && !/^\d+$/.test(plenText)) throw new Error(`${what}: bad prefix length in "${s}"`);
  if (nodeNet.isIPv4(addr)) {
    const plen = plenText !== undefined ? Number(plenText) : nmlen;
    if (plen === undefined) throw new Error(`${what}: ${addr} needs a netmask length (-n)`);
    if (plen < 0 || plen > 32) throw new Error(`invalid netmask length ${plen}`);
    return { family: AF_INET, addr, plen };
  }
  if (nodeNet.isIPv6(addr)) {
    const plen = plenText !== undefined ? Number(plenText) : 64;
    if (plen > 128) throw new Error(`invalid IPv6 prefix length ${plen}`);
    return { family: AF_INET6, addr, plen };
  }
  throw new Error(`${what}: bad address "${s}"`);
}

/** Parse the command line; throws Error with a message meant for the user. */
export function parseNetTestArgs(argv: string[]): NetTestArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string', short: 'b' },
      ifname: { type: 'string', short: 'i' },
      dhcp: { type: 'boolean', short: 'd' },
      ip: { type: 'string', short: 'I', multiple: true },
      'netmask-len': { type: 'string', short: 'n' },
      gateway: { type: 'string', short: 'g', multiple: true },
      dst: { type: 'string', short: 'D', multiple: true },
      sleep: { type: 'string', short: 's' },
      serve: { type: 'string', short: 'S' },
      mac: { type: 'string', short: 'm' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  const b = values.backend ?? 'loopback';
  if (FOREIGN_BACKENDS.includes(b)) throw new Error(`backend "${b}" is not available on this host (want ${BACKENDS.join(', ')})`);
  if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`unknown backend "${b}" (want ${BACKENDS.join(', ')})`);
  const backend = b as Backend;
  if (values.dhcp && backend === 'loopback') throw new Error('-d: DHCP needs a NIC (-b tap, pipe or qemu)');
  if (values.dhcp && backend === 'cable') throw new Error('-d: the cable peer runs no DHCP server');
  if (backend !== 'loopback' && !values.ifname) throw new Error(`backend ${backend} needs -i`);
  let nmlen: number | undefined;
  if (values['netmask-len'] !== undefined) {
    if (!/^\d+$/.test(values['netmask-len'])) throw new Error(`invalid netmask length ${values['netmask-len']}`);
    nmlen = Number(values['netmask-len']);
    if (nmlen > 32) throw new Error(`invalid netmask length ${nmlen}`);
  }
  const ips = (values.ip ?? []).map((s) => parseIfAddr(s, nmlen, '-I'));
  const gateways = (values.gateway ?? []).map((s) => parseDst(s, '-g'));
  if (gateways.some((g) => g.scope !== '')) throw new Error('-g: a gateway takes no %scope');
  return {
    backend,
    ifname: values.ifname,
    ips,
    nmlen,
    gateways,
    dsts: (values.dst ?? []).map((s) => parseDst(s, '-D')),
    sleep: values.sleep === undefined ? 0 : parseSeconds(values.sleep, '-s'),
    serve: values.serve === undefined ? 0 : parseSeconds(values.serve, '-S'),
    mac: values.mac === undefined ? Uint8Array.of(0, 0x01, 0, 0, 0, 0xab) : parseMac(values.mac),
    dhcp: values.dhcp === true,
  };
}

/** Set one address through the public API (lkl_if_set_ipv4 / lkl_if_set_ipv6); returns 0 or -errno. */
async function setAddr(k: LklKernel, ifindex: number, a: IfAddr): Promise<number> {
  return a.family === AF_INET ? k.ifSetIpv4(ifindex, a.addr, a.plen) : k.ifSetIpv6(ifindex, a.addr, a.plen);
}

const describe = (r: number) => `${r} (${strerror(r)})`;

/** Run `lkl net-test`; resolves to the exit status. */
export async function netTestMain(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  let cla: NetTestArgs;
  try {
    const r = parseNetTestArgs(argv);
    if (r === 'help') { io.stdout.write(NET_TEST_USAGE); return 0; }
    cla = r;
  } catch (e) {
    io.stderr.write(`lkl net-test: ${(e as Error).message}\n${NET_TEST_USAGE}`);
    return 2;
  }

  // The case running now receives the kernel's console (lkl_test_log).
  let current: TestContext | null = null;
  const pending: string[] = [];
  const print = (text: string) => {
    const t = text.endsWith('\n') ? text.slice(0, -1) : text;
    if (current) current.log(t); else pending.push(t);
  };

  let k: LklKernel | null = null;
  let nd: NetBackend | CableEnd | null = null;
  let peer: { k: LklKernel; ifindex: number; addrs: IfAddr[] } | null = null;
  let ndId = -1;
  let ndIfindex = -1;
  const none = cla.backend === 'loopback';

  /** Resolve a destination's %scope in our kernel: lo, our NIC's name, or a number. */
  const scopeOf = (d: DstAddr): number | string => {
    if (d.scope === '') return 0;
    if (/^\d+$/.test(d.scope)) return Number(d.scope);
    if (d.scope === 'lo') return 1;
    if (!none && d.scope === `eth${ndId}` && ndIfindex > 0) return ndIfindex;
    return `unknown interface "${d.scope}" (have lo${none ? '' : `, eth${ndId}`})`;
  };

  const ping = async (ctx: TestContext, from: LklKernel, d: DstAddr, scope: number | string): Promise<number> => {
    if (typeof scope === 'string') { ctx.log(scope); return TEST_FAILURE; }
    const target: PingTarget = { family: d.family, addr: d.addr, scopeId: scope };
    const r = await pingTest(from, target, NUM_ICMP, (s) => ctx.log(s), FIRST_ECHO_GRACE_MS);
    return r.ok ? TEST_SUCCESS : TEST_FAILURE;
  };

  const cases: TestCase[] = [
    { name: 'nd_create', fn: async (ctx) => {
      try {
        switch (cla.backend) {
          case 'loopback': return TEST_SKIP;
          case 'tap': nd = await createTapBackend({ name: cla.ifname! }); break;
          case 'pipe': nd = createPipeBackend(cla.ifname!); break;
          case 'qemu': {
            const spec = parseNetSpec(cla.ifname!);
            if (spec.type !== 'qemu-dgram' && spec.type !== 'qemu-stream') throw new Error(`-i: want a qemu-dgram: or qemu-stream: spec, got ${spec.type}`);
            nd = await createNetBackend(spec);
            break;
          }
          case 'cable': {
            const addrs = cla.ifname!.split(',').map((s) => parseIfAddr(s, undefined, 'cable peer'));
            const cable = createCable();
            const pk = await boot({ cmdline: 'mem=16M quiet', host: createNodeHost({ print: null }) });
            const pid = pk.netdevAdd(cable.b, { mac: Uint8Array.of(0, 0x01, 0, 0, 0, 0xac) });
            const pif = pk.netdevGetIfindex(pid);
            peer = { k: pk, ifindex: pif, addrs }; // from here on, a bail-out halts it
            for (const [what, r] of [['lo up', await pk.ifUp(1)], ['up', await pk.ifUp(pif)]] as const) {
              if (r < 0) throw new Error(`peer ${what}: ${describe(r)}`);
            }
            for (const a of addrs) {
              const r = await setAddr(pk, pif, a);
              if (r !== 0) throw new Error(`peer address ${a.addr}/${a.plen}: ${describe(r)}`);
            }
            nd = cable.a;
            ctx.log(`peer kernel on a cable: ${addrs.map((a) => `${a.addr}/${a.plen}`).join(', ')}`);
            break;
          }
        }
      } catch (e) {
        ctx.log(`failed to create netdev: ${(e as Error).message}`);
        return TEST_BAILOUT;
      }
      return TEST_SUCCESS;
    } },
    { name: 'start_kernel', fn: async (ctx) => {
      if (pending.length) ctx.log(pending.splice(0).join('\n'));
      try {
        // -d: as LKL, the NIC is there before start_kernel and ip=dhcp configures it during boot.
        // With no disks it gets id 0 (boot-time NICs are numbered after the disks, in order).
        k = cla.dhcp
          ? await boot({ cmdline: 'mem=16M loglevel=8 ip=dhcp', host: createNodeHost({ print }), netdevs: [{ backend: nd!, mac: cla.mac }] })
          : await boot({ cmdline: 'mem=16M loglevel=8', host: createNodeHost({ print }) });
        if (cla.dhcp) ndId = 0;
      } catch (e) {
        ctx.log(`can't start kernel: ${(e as Error).message}`);
        return TEST_BAILOUT;
      }
      return TEST_SUCCESS;
    } },
    { name: 'nd_add', fn: (ctx) => {
      if (none) return TEST_SKIP;
      if (cla.dhcp) { ctx.log(`eth${ndId}: added before boot (ip=dhcp)`); return TEST_SUCCESS; }
      try {
        ndId = k!.netdevAdd(nd!, { mac: cla.mac });
      } catch (e) {
        const errno = (e as { errno?: number }).errno;
        ctx.log(`failed to add netdev: ${errno ? strerror(errno) : (e as Error).message}`);
        return TEST_BAILOUT;
      }
      return TEST_SUCCESS;
    } },
    { name: 'nd_ifindex', fn: (ctx) => {
      if (none) return TEST_SKIP;
      ndIfindex = k!.netdevGetIfindex(ndId);
      if (ndIfindex < 0) {
        ctx.log(`failed to get ifindex for netdev id ${ndId}: ${strerror(ndIfindex)}`);
        return TEST_BAILOUT;
      }
      ctx.log(`eth${ndId}: ifindex ${ndIfindex}`);
      return TEST_SUCCESS;
    } },
    { name: 'if_up', fn: async (ctx) => {
      const ifindex = none ? 1 : ndIfindex;
      const r = await k!.ifUp(ifindex);
      ctx.log(`lkl_if_up(${ifindex}) = ${r}`);
      return r === 0 ? TEST_SUCCESS : TEST_FAILURE;
    } },
    { name: 'set_ipv4', fn: async (ctx) => {
      const v4 = cla.ips.filter((a) => a.family === AF_INET);
      if (cla.dhcp) { ctx.log('configured by DHCP at boot (ip=dhcp)'); return TEST_SKIP; }
      if (none || v4.length === 0) return TEST_SKIP;
      for (const a of v4) {
        const r = await setAddr(k!, ndIfindex, a);
        if (r !== 0) { ctx.log(`failed to set IPv4 address ${a.addr}/${a.plen}: ${describe(r)}`); return TEST_BAILOUT; }
        ctx.log(`${a.addr}/${a.plen}`);
      }
      return TEST_SUCCESS;
    } },
    { name: 'set_ipv6', fn: async (ctx) => {
      const v6 = cla.ips.filter((a) => a.family === AF_INET6);
      if (none || v6.length === 0) return TEST_SKIP;
      for (const a of v6) {
        const r = await setAddr(k!, ndIfindex, a);
        if (r !== 0) { ctx.log(`failed to set IPv6 address ${a.addr}/${a.plen}: ${describe(r)}`); return TEST_BAILOUT; }
        ctx.log(`${a.addr}/${a.plen}`);
      }
      return TEST_SUCCESS;
    } },
    { name: 'set_gateway', fn: async (ctx) => {
      const gws = cla.dhcp ? cla.gateways.filter((g) => g.family !== AF_INET) : cla.gateways;
      if (none || gws.length === 0) return TEST_SKIP;
      for (const g of gws) {
        // A link-local IPv6 gateway is reached through our NIC (as `ip -6 route add ... dev eth0`).
        const r = g.family === AF_INET ? await k!.setIpv4Gateway(g.addr) : await k!.setIpv6Gateway(g.addr, ndIfindex);
        if (r !== 0) { ctx.log(`failed to set ${g.family === AF_INET ? 'IPv4' : 'IPv6'} gateway ${g.addr}: ${describe(r)}`); return TEST_BAILOUT; }
        ctx.log(`default via ${g.addr}`);
      }
      return TEST_SUCCESS;
    } },
    { name: 'sleep', fn: async (ctx) => {
      const r = await k!.sys.nanosleep({ sec: cla.sleep, nsec: 0 }, null);
      if (r < 0) { ctx.log(`nanosleep error: ${strerror(r)}`); return TEST_FAILURE; }
      return TEST_SUCCESS;
    } },
    ...(cla.dsts.length === 0
      ? [{ name: 'icmp', fn: () => TEST_SKIP }]
      : cla.dsts.map((d): TestCase => ({
        name: d.family === AF_INET ? 'icmp' : 'icmpv6',
        fn: (ctx) => ping(ctx, k!, d, scopeOf(d)),
      }))),
    { name: 'peer_icmp', fn: async (ctx) => {
      const p = peer as { k: LklKernel; ifindex: number } | null;
      if (!p || cla.ips.length === 0) return TEST_SKIP;
      let result = TEST_SUCCESS;
      for (const a of cla.ips) {
        ctx.log(`peer -> ${a.addr}`);
        const link = a.family === AF_INET6 && a.addr.toLowerCase().startsWith('fe80:') ? p.ifindex : 0;
        const r = await ping(ctx, p.k, { family: a.family, addr: a.addr, scope: '' }, link);
        if (r !== TEST_SUCCESS) result = r;
      }
      return result;
    } },
    { name: 'serve', fn: async (ctx) => {
      if (cla.serve === 0) return TEST_SKIP;
      const t0 = performance.now();
      const why = stopSignal ?? await new Promise<string>((resolve) => {
        const timer = setTimeout(() => { onStop = null; resolve('timeout'); }, cla.serve * 1000);
        onStop = (sig) => { clearTimeout(timer); onStop = null; resolve(sig); };
      });
      ctx.log(`served the peer for ${((performance.now() - t0) / 1000).toFixed(1)} s, ended by ${why}`);
      return TEST_SUCCESS;
    } },
    { name: 'nd_remove', fn: async () => {
      if (none) return TEST_SKIP;
      k!.netdevRemove(ndId); // brings eth down and closes the backend
      const pk = (peer as { k: LklKernel } | null)?.k;
      if (pk) await pk.halt();
      return TEST_SUCCESS;
    } },
    { name: 'stop_kernel', fn: async (ctx) => {
      const r = await k!.halt();
      ctx.log(`lkl_sys_halt() = ${r}`);
      return r === 0 ? TEST_SUCCESS : TEST_FAILURE;
    } },
  ];

  // With -S, SIGTERM and SIGINT end the serve case (at once if they come before it): the handler
  // is in place from the start, so a peer that signals as soon as it reads "* N serve" cannot
  // catch the process between printing that line and waiting. A second signal exits at once.
  let stopSignal: string | null = null;
  let onStop: ((sig: string) => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopSignal !== null) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    stopSignal = sig;
    onStop?.(sig);
  };
  if (cla.serve > 0) { process.on('SIGTERM', onSignal); process.on('SIGINT', onSignal); }

  // Each case's log gets the console lines printed while it runs.
  const wrapped = cases.map((c): TestCase => ({
    name: c.name,
    fn: async (ctx) => {
      current = ctx;
      try { return await c.fn(ctx); } finally { current = null; }
    },
  }));
  const res = await runSuite(`net ${cla.backend}`, wrapped, (s) => io.stdout.write(s));
  process.off('SIGTERM', onSignal); process.off('SIGINT', onSignal);
  // A bail-out leaves things set up: tear them down so the process can exit.
  if (res.bailedOut) {
    const kk = k as LklKernel | null;
    if (kk && ndId >= 0) { try { kk.netdevRemove(ndId); } catch { /* gone */ } }
    else await (nd as { close?: () => unknown } | null)?.close?.();
    const pk = (peer as { k: LklKernel } | null)?.k;
    if (pk) await pk.halt();
    if (kk) await kk.halt();
  }
  return res.notOk === 0 ? 0 : 1;
}
