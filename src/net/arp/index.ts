/*
 * ARP and the IPv4 neighbour cache (rank 7).
 */
export {
  arpInit, arpTable, procNetArp, ArpTable, NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE,
  NUD_FAILED, NUD_NOARP, NUD_PERMANENT, NUD_VALID, NUD_CONNECTED, ATF_COM, ATF_PERM, type Neighbour,
} from './arp.js';
