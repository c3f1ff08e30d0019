/*
 * IPv4 (rank 7): input validation and local delivery, forwarding when enabled, output with
 * fragmentation, reassembly with Linux's limits.
 */
export { ipv4Init, ipv4State, Ipv4State } from './state.js';
export { FragTable } from './ip_fragment.js';
export { ipFragment } from './ip_output.js';
