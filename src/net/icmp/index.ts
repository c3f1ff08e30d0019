/*
 * ICMP for IPv4 (rank 7): echo, errors, and the in-kernel ping.
 */
export { icmpInit, ping, IcmpState, ICMP_ERR_MAX, type PingReply, type PingOptions } from './icmp.js';
