/*
 * The IPPROTO_IP socket options every AF_INET kind keeps (do_ip_setsockopt / do_ip_getsockopt):
 * IP_TTL (-1: net.ipv4.ip_default_ttl), IP_TOS, IP_RECVERR, IP_MTU_DISCOVER, and how they shape
 * the parameters of ipQueueXmit. Other names are the caller's to refuse (ENOPROTOOPT).
 */
import { fail } from '../../lib/errors.js';
import { EINVAL } from '../../uapi/errno.js';
import { IP_TTL, IP_TOS, IP_RECVERR, IP_MTU_DISCOVER, IP_PMTUDISC_DO } from '../../uapi/if.js';
import type { NetNamespace } from '../core/index.js';
import { intBytes } from './socket.js';

/** Options of SOL_IP every datagram kind shares (IP_TTL, IP_TOS, IP_RECVERR, IP_MTU_DISCOVER). */
export interface IpOpts { ttl: number; tos: number; recverr: number; pmtudisc: number }

export function newIpOpts(): IpOpts { return { ttl: -1, tos: 0, recverr: 0, pmtudisc: 1 }; }

function intArg(v: Uint8Array): number {
  if (v.length >= 4) return new DataView(v.buffer, v.byteOffset, 4).getInt32(0, true);
  if (v.length >= 1) return v[0]!;
  fail(EINVAL);
}

/** do_ip_setsockopt for the options we keep; false when the name is not one of them. */
export function ipSetsockopt(o: IpOpts, name: number, v: Uint8Array): boolean {
  switch (name) {
    case IP_TTL: {
      const x = intArg(v);
      if (x !== -1 && (x < 1 || x > 255)) fail(EINVAL);
      o.ttl = x; return true;
    }
    case IP_TOS: o.tos = intArg(v) & 0xff; return true;
    case IP_RECVERR: o.recverr = intArg(v) ? 1 : 0; return true;
    case IP_MTU_DISCOVER: {
      const x = intArg(v);
      if (x < 0 || x > 5) fail(EINVAL);
      o.pmtudisc = x; return true;
    }
  }
  return false;
}

export function ipGetsockopt(net: NetNamespace, o: IpOpts, name: number): Uint8Array | null {
  switch (name) {
    case IP_TTL: return intBytes(o.ttl === -1 ? net.sysctl.ip_default_ttl : o.ttl);
    case IP_TOS: return intBytes(o.tos);
    case IP_RECVERR: return intBytes(o.recverr);
    case IP_MTU_DISCOVER: return intBytes(o.pmtudisc);
  }
  return null;
}

export function sendParams(o: IpOpts, daddr: number, saddr: number, protocol: number) {
  const p: Parameters<NetNamespace['ipQueueXmit']>[1] = { daddr, saddr, protocol };
  if (o.ttl !== -1) p.ttl = o.ttl;
  if (o.tos) p.tos = o.tos;
  if (o.pmtudisc === IP_PMTUDISC_DO) p.df = true;
  return p;
}
