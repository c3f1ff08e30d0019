/*
 * The loopback device (drivers/net/loopback.c): ifindex 1, "lo", MTU 65536, no ARP. What it
 * transmits it receives: the frame (with an all-zero Ethernet header, as Linux keeps one) goes
 * straight back into the namespace's receive backlog, so loopback traffic takes the same
 * asynchronous path as a real NIC's and a reply is never processed inside its request's call.
 * It comes up without an address; bringing it up adds 127.0.0.1/8 (see NetNamespace.devOpen).
 */
import { ETH_HLEN, ARPHRD_LOOPBACK } from '../header/index.js';
import { NetDevice, IFF_LOOPBACK, IFF_NOARP, type NetNamespace } from '../core/index.js';
import { ethHeaderOps, ethTypeTrans } from './ethernet.js';

export const LOOPBACK_MTU = 65536;

/** Creates and registers "lo"; must run before any other device so it gets ifindex 1. */
export function loopbackInit(net: NetNamespace): NetDevice {
  const existing = net.devGetByName('lo');
  if (existing) return existing;
  const dev = new NetDevice('lo', {
    xmit: (skb, d) => {
      skb.pktType = 0;
      net.netifRx(d, skb);
    },
  });
  dev.type = ARPHRD_LOOPBACK;
  dev.hardHeaderLen = ETH_HLEN;
  dev.mtu = LOOPBACK_MTU;
  dev.minMtu = 0;
  dev.maxMtu = 0x7fffffff;
  dev.flags = IFF_LOOPBACK | IFF_NOARP;
  dev.mac = new Uint8Array(6);
  dev.broadcast = new Uint8Array(6);
  dev.headerOps = ethHeaderOps;
  dev.typeTrans = ethTypeTrans;
  net.registerNetdevice(dev);
  return dev;
}
