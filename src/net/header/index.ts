/*
 * Wire formats of the network protocols as functions over bytes (rank 2): no state, no kernel.
 */
export { csumPartial, csumFold, inetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from './checksum.js';
