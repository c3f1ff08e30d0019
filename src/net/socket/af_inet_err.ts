/*
 * ICMP errors as errnos (net/ipv4/icmp.c's icmp_err_convert): what a socket reports when ICMP
 * says a datagram or segment it sent could not be delivered, and whether the error is "hard"
 * (fatal: reported at once to a connected socket, kills a connection being set up) or "soft".
 */
import {
  ENETUNREACH, EHOSTUNREACH, ENOPROTOOPT, ECONNREFUSED, EMSGSIZE, EOPNOTSUPP, EHOSTDOWN, EPROTO,
} from '../../uapi/errno.js';
import { ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB } from '../header/index.js';

/** ENONET (machine is not on the network), missing from uapi/errno.ts. */
const ENONET = 64;

/** Errno and "hard" (fatal) of each ICMP_DEST_UNREACH code (icmp_err_convert). */
export const ICMP_ERR_CONVERT: [number, boolean][] = [
  [ENETUNREACH, false], [EHOSTUNREACH, false], [ENOPROTOOPT, true], [ECONNREFUSED, true],
  [EMSGSIZE, false], [EOPNOTSUPP, false], [ENETUNREACH, true], [EHOSTDOWN, true],
  [ENONET, true], [ENETUNREACH, true], [EHOSTUNREACH, true], [ENETUNREACH, false],
  [EHOSTUNREACH, false], [EHOSTUNREACH, true], [EHOSTUNREACH, true], [EHOSTUNREACH, true],
];

/** The errno and hardness of an ICMP error (icmp_err_convert plus the other types); null: ignore. */
export function icmpErrno(type: number, code: number): { errno: number; hard: boolean } | null {
  if (type === ICMP_DEST_UNREACH) {
    const c = ICMP_ERR_CONVERT[code];
    return c ? { errno: c[0], hard: c[1] } : null; // codes past NR_ICMP_UNREACH are ignored
  }
  if (type === ICMP_TIME_EXCEEDED) return { errno: EHOSTUNREACH, hard: false };
  if (type === ICMP_PARAMETERPROB) return { errno: EPROTO, hard: true };
  return null;
}
