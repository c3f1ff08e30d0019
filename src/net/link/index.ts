/*
 * Link layers (rank 7): Ethernet framing for devices over backends, the loopback device, and the
 * in-process cable backend.
 */
export { ethHeaderOps, ethTypeTrans, etherSetup, ethRandomAddr, etherDevice, ETH_P_802_3, type EtherDeviceOptions } from './ethernet.js';
export { loopbackInit, LOOPBACK_MTU } from './loopback.js';
export { createCable, type Cable, type CableEnd } from './cable.js';
