/*
 * Network media on the Node host, chosen by a one-line spec in the spirit of LKL's
 * LKL_HIJACK_NET_IFTYPE/IFPARAMS pair: "<type>:<params>", params being a comma-separated list.
 *
 *   tap:<ifname>[,up=0|1][,addr=<ipv4>/<bits>]
 *       A host TAP device, attached directly (our own /dev/net/tun descriptor, attached by a
 *       python3 helper that exits at once), or through socat where python3 is absent (see
 *       net_tap.ts for what each needs). An existing device of that name is attached; otherwise
 *       a transient one is created.
 *       up=0 leaves IFF_UP alone; addr= has socat give the device an IPv4 address.
 *   qemu-dgram:[local=<addr>][,remote=<addr>]
 *       QEMU's `-netdev dgram` / `-netdev socket,udp=<remote>,localaddr=<local>`: one UDP datagram
 *       per frame. (udp= and localaddr= are accepted as QEMU's old names for remote and local.)
 *   qemu-stream:connect=<addr>|unix:<path>[,reconnect=<seconds>|reconnect-ms=<ms>]
 *   qemu-stream:listen=<addr>|unix:<path>
 *       QEMU's `-netdev stream` / `-netdev socket,connect=|listen=`: TCP or unix stream, each frame
 *       after a 4-byte big-endian length.
 *
 * Every type also takes mac=<xx:xx:xx:xx:xx:xx> (the MAC suggested for the kernel's NIC) and
 * mtu=<bytes>. <addr> is host:port, [ipv6]:port, or :port (any address; listen and local only).
 * Values cannot contain commas.
 */
import type { NetBackend } from '../host.js';
import {
  createDgramBackend, createStreamBackend, type DgramOptions, type InetAddress, type NetLinkOptions,
  type StreamAddress, type StreamOptions,
} from './net_qemu.js';
import { createTapBackend, type TapOptions } from './net_tap.js';

export type NetSpec =
  | ({ type: 'tap' } & TapOptions)
  | ({ type: 'qemu-dgram' } & DgramOptions)
  | ({ type: 'qemu-stream' } & StreamOptions);

function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  if (!m) throw new Error(`bad MAC address "${s}"`);
  return Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

function parsePort(s: string, whole: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 65535) throw new Error(`bad port in "${whole}"`);
  return Number(s);
}

/** host:port, [v6]:port or :port ('' host: any address). */
export function parseInetAddress(s: string): InetAddress {
  const v6 = /^\[([^\]]*)\]:([^:]*)$/.exec(s);
  if (v6) return { host: v6[1]!, port: parsePort(v6[2]!, s) };
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`address "${s}" needs host:port`);
  return { host: s.slice(0, i), port: parsePort(s.slice(i + 1), s) };
}

function parseStreamAddress(s: string): StreamAddress {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') throw new Error('unix: needs a path');
    return { path };
  }
  return parseInetAddress(s);
}

/** Parse a spec string into options; throws Error with a readable message on a bad spec. */
export function parseNetSpec(spec: string): NetSpec {
  const colon = spec.indexOf(':');
  const type = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  const params = new Map<string, string>();
  const bare: string[] = [];
  for (const part of rest === '' ? [] : rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) bare.push(part);
    else params.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const take = (k: string): string | undefined => { const v = params.get(k); params.delete(k); return v; };
  const link: NetLinkOptions = {};
  const mac = take('mac');
  if (mac !== undefined) link.mac = parseMac(mac);
  const mtu = take('mtu');
  if (mtu !== undefined) {
    if (!/^\d+$/.test(mtu) || Number(mtu) < 68 || Number(mtu) > 65535) throw new Error(`bad mtu "${mtu}"`);
    link.mtu = Number(mtu);
  }
  let out: NetSpec;
  switch (type) {
    case 'tap': {
      const name = take('name') ?? bare.shift();
      if (name === undefined) throw new Error('tap: needs an interface name (tap:tap0)');
      const o: NetSpec = { type, name, ...link };
      const up = take('up');
      if (up !== undefined) {
        if (up !== '0' && up !== '1') throw new Error(`tap: up must be 0 or 1, got "${up}"`);
        o.up = up === '1';
      }
      const addr = take('addr');
      if (addr !== undefined) o.addr = addr;
      out = o;
      break;
    }
    case 'qemu-dgram': {
      const o: NetSpec = { type, ...link };
      const local = take('local') ?? take('localaddr');
      const remote = take('remote') ?? take('udp');
      if (local !== undefined) o.local = parseInetAddress(local);
      if (remote !== undefined) {
        o.remote = parseInetAddress(remote);
        if (o.remote.host === '' || o.remote.port === 0) throw new Error(`qemu-dgram: remote needs host and port, got "${remote}"`);
      }
      if (!o.local && !o.remote) throw new Error('qemu-dgram: give local= and/or remote=');
      out = o;
      break;
    }
    case 'qemu-stream': {
      const o: NetSpec = { type, ...link };
      const connect = take('connect');
      const listen = take('listen');
      if ((connect === undefined) === (listen === undefined)) throw new Error('qemu-stream: give exactly one of connect= and listen=');
      if (connect !== undefined) {
        o.connect = parseStreamAddress(connect);
        if ('host' in o.connect && o.connect.host === '') throw new Error(`qemu-stream: connect needs a host, got "${connect}"`);
      }
      if (listen !== undefined) o.listen = parseStreamAddress(listen);
      const rs = take('reconnect');
      const rms = take('reconnect-ms');
      if (rs !== undefined) {
        if (!/^\d+$/.test(rs)) throw new Error(`qemu-stream: bad reconnect "${rs}"`);
        o.reconnectMs = Number(rs) * 1000;
      }
      if (rms !== undefined) {
        if (!/^\d+$/.test(rms)) throw new Error(`qemu-stream: bad reconnect-ms "${rms}"`);
        o.reconnectMs = Number(rms);
      }
      if (o.reconnectMs && !o.connect) throw new Error('qemu-stream: reconnect applies to connect= only');
      out = o;
      break;
    }
    default:
      throw new Error(`unknown network backend type "${type}" (want tap, qemu-dgram or qemu-stream)`);
  }
  if (bare.length > 0 || params.size > 0) {
    throw new Error(`${type}: unknown parameter(s) ${[...bare, ...params.keys()].join(', ')}`);
  }
  return out;
}

/** Open the network medium a spec names (see the top of this file for the syntax). */
export async function createNetBackend(spec: string | NetSpec): Promise<NetBackend> {
  const s = typeof spec === 'string' ? parseNetSpec(spec) : spec;
  switch (s.type) {
    case 'tap': return createTapBackend(s);
    case 'qemu-dgram': return createDgramBackend(s);
    case 'qemu-stream': return createStreamBackend(s);
  }
}
