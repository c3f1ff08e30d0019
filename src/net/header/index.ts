/*
 * Wire formats of the network protocols as functions over bytes (rank 2): no state, no kernel.
 */
export { csumPartial, csumFold, inetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './udp.js';
export * from './ipv6.js';
export * from './icmpv6.js';
