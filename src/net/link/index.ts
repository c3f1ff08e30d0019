/*
 * Link layers (rank 7): Ethernet framing for devices over backends and the loopback device. (The
 * in-process cable backend is src/drivers/net/cable.ts: the public API offers it without loading
 * the network stack.)
 */
export {
  ethHeaderOps, ethTypeTrans, etherSetup, ethRandomAddr, etherDevice, ETH_P_802_3, netifGsoMaxSize, gsoSegmentFrame,
  type EtherDeviceOptions, type GsoBackend, type GsoFrameInfo, type GsoSkb,
} from './ethernet.js';
export { loopbackInit, LOOPBACK_MTU } from './loopback.js';
