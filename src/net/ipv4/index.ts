/*
 * IPv4 (rank 7): input validation and local delivery, forwarding when enabled, output with
 * fragmentation, reassembly with Linux's limits.
 */
export { ipv4Init, ipv4State, Ipv4State } from './state.js';
export { FragTable } from './ip_fragment.js';
export { ipFragment } from './ip_output.js';
export {
  ipConfigSetup, ipConfigVendorClass, ipAutoConfig, ipConfigState, procNetPnp, IpConfigState, IPCONFIG_TIMINGS,
  type IpConfigTimings, type IpConfigUts,
} from './ipconfig.js';
export * as dhcp from './dhcp.js';
