/*
 * Link layers (rank 7): Ethernet framing for devices over backends, the loopback device, and the
 * in-process cable backend.
 */
export {
  ethHeaderOps, ethTypeTrans, etherSetup, ethRandomAddr, etherDevice, ETH_P_802_3, netifGsoMaxSize, gsoSegmentFrame,
  type EtherDeviceOptions, type GsoBackend, type GsoFrameInfo, type GsoSkb,
} from './ethernet.js';
export { loopbackInit, LOOPBACK_MTU } from './loopback.js';
export { createCable, type Cable, type CableEnd } from './cable.js';
