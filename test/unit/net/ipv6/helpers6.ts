/*
 * IPv6 test scaffolding: two kernels over a cable with IPv6 initialised before the links come
 * up (as the 'net' initcall will do), a lock-step virtual clock for both, and frame builders.
 */
import { bootNode, settle, type Node } from '../helpers.js';
import { ipv6Init, type Ipv6Stack } from '../../../../src/net/ipv6/index.js';
import { etherDevice } from '../../../../src/net/link/index.js';
import { createCable, type Cable } from '../../../../src/lkl.js';
import type { NetDevice } from '../../../../src/net/core/index.js';
import {
  parseIpv6, writeIpv6Header, writeEthHeader, writeIcmpv6Header, ETH_P_IPV6, NEXTHDR_ICMP,
} from '../../../../src/net/header/index.js';

export interface Node6 extends Node { v6: Ipv6Stack }

export const MAC_A = new Uint8Array([2, 0, 0, 0, 0, 1]);
export const MAC_B = new Uint8Array([2, 0, 0, 0, 0, 2]);
/** fe80:: + modified EUI-64 of 02:00:00:00:00:0x (u/l bit flipped to 0). */
export const LL_A = 'fe80::ff:fe00:1';
export const LL_B = 'fe80::ff:fe00:2';

export const a6 = (s: string): Uint8Array => {
  const r = parseIpv6(s);
  if (!r) throw new Error(`bad address ${s}`);
  return r;
};

export async function twoNodes6(o: { mtu?: number; maxMtu?: number; beforeUp?: (c: Cable) => void } = {}): Promise<{ a: Node6; b: Node6; cable: Cable; da: NetDevice; db: NetDevice; adv(s: number): Promise<void> }> {
  const a0 = await bootNode({ seed: 1, autoAdvance: false });
  const b0 = await bootNode({ seed: 2, autoAdvance: false });
  const a: Node6 = { ...a0, v6: ipv6Init(a0.net) };
  const b: Node6 = { ...b0, v6: ipv6Init(b0.net) };
  const cable = createCable();
  const opts = { mtu: o.mtu ?? 1500, ...(o.maxMtu ? { maxMtu: o.maxMtu } : {}) };
  const da = etherDevice(a.net, cable.a, { ...opts, mac: MAC_A });
  const db = etherDevice(b.net, cable.b, { ...opts, mac: MAC_B });
  o.beforeUp?.(cable);
  a.net.devOpen(a.net.loopback!); b.net.devOpen(b.net.loopback!);
  a.net.devOpen(da); b.net.devOpen(db);
  /** Advance both virtual clocks by s seconds in 100 ms steps, letting the workers run between. */
  const adv = async (s: number) => {
    const steps = Math.round(s * 10);
    for (let i = 0; i < steps; i++) { a.host.advance(1e8); b.host.advance(1e8); await settle(2); }
  };
  return { a, b, cable, da, db, adv };
}

/** An Ethernet + IPv6 frame around `payload` (next header `nh`). */
export function frame6(dstMac: Uint8Array, srcMac: Uint8Array, saddr: Uint8Array, daddr: Uint8Array, nh: number,
  payload: Uint8Array, hopLimit = 64): Uint8Array {
  const f = new Uint8Array(14 + 40 + payload.length);
  writeEthHeader(f, 0, dstMac, srcMac, ETH_P_IPV6);
  writeIpv6Header(f, 14, { payloadLen: payload.length, nextHeader: nh, hopLimit, saddr, daddr });
  f.set(payload, 54);
  return f;
}

/** An ICMPv6 message (type, code, 4 bytes of `un`, then body) with its checksum. */
export function icmp6(type: number, code: number, un: number, body: Uint8Array, saddr: Uint8Array, daddr: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + body.length);
  m.set(body, 8);
  writeIcmpv6Header(m, 0, m.length, type, code, un, saddr, daddr);
  return m;
}

/** A router advertisement from `router` with one prefix information option (L and A set). */
export function routerAdvert(o: {
  routerMac: Uint8Array; router: Uint8Array; prefix: Uint8Array; plen?: number; lifetime?: number; valid?: number;
  preferred?: number; curHop?: number; mtu?: number; flags?: number;
}): Uint8Array {
  const body = new Uint8Array(8 + 8 + 32 + (o.mtu ? 8 : 0));
  // after the 8-byte ICMP header: reachable (4), retrans (4)
  let p = 8;
  body[p] = 1; body[p + 1] = 1; body.set(o.routerMac, p + 2); p += 8;
  body[p] = 3; body[p + 1] = 4; body[p + 2] = o.plen ?? 64; body[p + 3] = o.flags ?? 0xc0;
  const dv = new DataView(body.buffer);
  dv.setUint32(p + 4, o.valid ?? 86400); dv.setUint32(p + 8, o.preferred ?? 14400);
  body.set(o.prefix.subarray(0, 16), p + 16); p += 32;
  if (o.mtu) { body[p] = 5; body[p + 1] = 1; dv.setUint32(p + 4, o.mtu); }
  const all = a6('ff02::1');
  const un = ((o.curHop ?? 64) << 24) | ((o.lifetime ?? 1800) & 0xffff);
  const m = icmp6(134, 0, un >>> 0, body, o.router, all);
  return frame6(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), o.routerMac, o.router, all, NEXTHDR_ICMP, m, 255);
}

export { settle };
