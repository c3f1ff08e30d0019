/*
 * Test scaffolding: boot a kernel on a fake host and attach the IP stack to it the way the
 * composition root will (netNsInit, then every protocol unit registering upward).
 */
import { boot, type LklKernel } from '../../../src/lkl.js';
import { FakeHost, type FakeHostOptions } from '../../../src/arch/fake/index.js';
import { netNsInit, type NetNamespace, type NetDevice } from '../../../src/net/core/index.js';
import { loopbackInit, etherDevice } from '../../../src/net/link/index.js';
import { createCable, type Cable } from '../../../src/lkl.js';
import { arpInit } from '../../../src/net/arp/index.js';
import { ipv4Init } from '../../../src/net/ipv4/index.js';
import { icmpInit } from '../../../src/net/icmp/index.js';
import { udpInit } from '../../../src/net/udp/index.js';
import { parseIpv4 } from '../../../src/net/header/index.js';

/** What src/lkl.ts's 'net' initcall is to do. */
export function netInit(k: Parameters<typeof netNsInit>[0]): NetNamespace {
  const net = netNsInit(k);
  loopbackInit(net);
  arpInit(net);
  ipv4Init(net);
  icmpInit(net);
  udpInit(net);
  return net;
}

export interface Node { lkl: LklKernel; host: FakeHost; net: NetNamespace }

export async function bootNode(opts: FakeHostOptions = {}): Promise<Node> {
  const host = new FakeHost(opts);
  const lkl = await boot({ cmdline: 'mem=16M quiet', host });
  const net = netInit(lkl.k);
  return { lkl, host, net };
}

export const ip = (s: string): number => {
  const a = parseIpv4(s);
  if (a === null) throw new Error(`bad address ${s}`);
  return a;
};

/** Two kernels joined by a cable: a = 10.0.0.1/24 on eth0, b = 10.0.0.2/24 on eth0, both up. */
export async function twoNodes(o: { mtu?: number; autoAdvance?: boolean } = {}): Promise<{ a: Node; b: Node; cable: Cable; da: NetDevice; db: NetDevice }> {
  const a = await bootNode({ seed: 1, autoAdvance: o.autoAdvance ?? true });
  const b = await bootNode({ seed: 2, autoAdvance: o.autoAdvance ?? true });
  const cable = createCable();
  const da = etherDevice(a.net, cable.a, { mtu: o.mtu ?? 1500, mac: new Uint8Array([2, 0, 0, 0, 0, 1]) });
  const db = etherDevice(b.net, cable.b, { mtu: o.mtu ?? 1500, mac: new Uint8Array([2, 0, 0, 0, 0, 2]) });
  a.net.devOpen(a.net.loopback!); b.net.devOpen(b.net.loopback!);
  a.net.devOpen(da); b.net.devOpen(db);
  a.net.inetAddrAdd(da, ip('10.0.0.1'), 24);
  b.net.inetAddrAdd(db, ip('10.0.0.2'), 24);
  return { a, b, cable, da, db };
}

/** Let queued microtasks and the kernel workers run (a few macrotask turns). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

export async function haltAll(...nodes: Node[]): Promise<void> {
  for (const n of nodes) await n.lkl.halt();
}
