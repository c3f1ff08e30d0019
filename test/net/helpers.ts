/*
 * Two kernels on a cable, configured only through the public API (netdevAdd, ifUp, ifSetIpv4,
 * which themselves go through ioctl and rtnetlink), and small socket helpers over k.sys.
 */
import * as nodeNet from 'node:net';
import { boot, createCable, type LklKernel, type KernelTask } from '../../src/lkl.js';
import { FakeHost } from '../../src/arch/fake/index.js';
import { AF_INET } from '../../src/uapi/socket.js';

export interface Pair { a: LklKernel; b: LklKernel; ifA: number; ifB: number; cable: ReturnType<typeof createCable> }

export async function bootKernel(seed: number): Promise<LklKernel> {
  return boot({ cmdline: 'mem=64M quiet', host: new FakeHost({ seed, autoAdvance: true }) });
}

function check(r: number, what: string): void {
  if (r !== 0) throw new Error(`${what}: got ${r}, want 0`);
}

/** a = 10.0.0.1/24, b = 10.0.0.2/24 on eth0 of each; lo up on both. */
export async function bootPair(o: { mtu?: number } = {}): Promise<Pair> {
  const a = await bootKernel(1), b = await bootKernel(2);
  const cable = createCable();
  const idA = a.netdevAdd(cable.a, { mac: new Uint8Array([2, 0, 0, 0, 0, 1]), ...(o.mtu ? { mtu: o.mtu } : {}) });
  const idB = b.netdevAdd(cable.b, { mac: new Uint8Array([2, 0, 0, 0, 0, 2]), ...(o.mtu ? { mtu: o.mtu } : {}) });
  const ifA = a.netdevGetIfindex(idA), ifB = b.netdevGetIfindex(idB);
  for (const [k, ifi, ip] of [[a, ifA, '10.0.0.1'], [b, ifB, '10.0.0.2']] as const) {
    check(await k.ifUp(1), 'ifUp(lo)');
    check(await k.ifUp(ifi), `ifUp(${ifi})`);
    check(await k.ifSetIpv4(ifi, ip, 24), `ifSetIpv4(${ip})`);
  }
  return { a, b, ifA, ifB, cable };
}

export const sin = (addr: string, port: number) => ({ family: AF_INET, addr, port });

/** Read exactly n bytes (or until EOF); returns the bytes read. */
export async function readN(t: KernelTask, fd: number, n: number, chunk = 65536): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await t.sys.read(fd, out.subarray(got, Math.min(n, got + chunk)), Math.min(chunk, n - got));
    if (r < 0) throw new Error(`read: got ${r}`);
    if (r === 0) break;
    got += r;
  }
  return out.subarray(0, got);
}

export async function writeAll(t: KernelTask, fd: number, data: Uint8Array, chunk = 65536): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const n = Math.min(chunk, data.length - off);
    const r = await t.sys.write(fd, data.subarray(off, off + n), n);
    if (r < 0) throw new Error(`write: got ${r}`);
    off += r;
  }
}

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

/** A TCP server on the host (node:net) at addr:port: it sends `reply` to each client and keeps what the client sent once it half-closes. */
export async function listenHostTcp(addr: string, port: number, reply: Uint8Array): Promise<{ server: nodeNet.Server; received(): Buffer }> {
  let got = Buffer.alloc(0);
  const server = nodeNet.createServer((c) => {
    const chunks: Buffer[] = [];
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => { got = Buffer.concat(chunks); c.end(); });
    c.write(reply);
  });
  await new Promise<void>((res) => server.listen(port, addr, () => res()));
  return { server, received: () => got };
}
