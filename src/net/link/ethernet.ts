/*
 * Ethernet as a link layer (net/ethernet/eth.c): ether_setup gives a device Ethernet's
 * parameters and its two hooks — header creation on output and eth_type_trans on input, which
 * strips the 14-byte header, records the EtherType and classifies the frame as for this host,
 * broadcast, multicast or another host.
 *
 * etherDevice() makes a registered Ethernet device from a NetBackend: transmitted frames go to
 * backend.send, received ones to netifRx (queued, processed later by the kernel worker).
 */
import {
  ETH_HLEN, ETH_DATA_LEN, ETH_ALEN, writeEthHeader, parseEthHeader, isBroadcastMac, isMulticastMac,
  macEqual, ARPHRD_ETHER, isValidEtherAddr,
} from '../header/index.js';
import {
  NetDevice, PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST, IFF_BROADCAST,
  IFF_MULTICAST, IFF_LOOPBACK, SkBuff, type NetBackend, type NetNamespace, type HeaderOps,
} from '../core/index.js';

/** ETH_P_802_3: frames whose type field is a length (802.3 with LLC), which we do not speak. */
export const ETH_P_802_3 = 0x0001;

export const ethHeaderOps: HeaderOps = {
  create(skb: SkBuff, dev: NetDevice, type: number, daddr: Uint8Array | null): void {
    const off = skb.push(ETH_HLEN);
    writeEthHeader(skb.buf, off, daddr ?? dev.broadcast, dev.mac, type);
    skb.macHeader = off;
  },
};

/** eth_type_trans: classify, strip the header, set skb.protocol. False for a runt frame. */
export function ethTypeTrans(skb: SkBuff, dev: NetDevice): boolean {
  const h = parseEthHeader(skb.buf.subarray(0, skb.tail), skb.data);
  if (!h) return false;
  skb.macHeader = skb.data;
  skb.pull(ETH_HLEN);
  if (isMulticastMac(h.dst)) skb.pktType = isBroadcastMac(h.dst) ? PACKET_BROADCAST : PACKET_MULTICAST;
  else if (dev.flags & IFF_LOOPBACK || macEqual(h.dst, dev.mac)) skb.pktType = PACKET_HOST;
  else skb.pktType = PACKET_OTHERHOST;
  skb.protocol = h.type >= 0x600 ? h.type : ETH_P_802_3;
  return true;
}

/** ether_setup */
export function etherSetup(dev: NetDevice): void {
  dev.type = ARPHRD_ETHER;
  dev.hardHeaderLen = ETH_HLEN;
  dev.mtu = ETH_DATA_LEN;
  dev.minMtu = 68;
  dev.maxMtu = ETH_DATA_LEN;
  dev.addrLen = ETH_ALEN;
  dev.flags = IFF_BROADCAST | IFF_MULTICAST;
  dev.broadcast = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  dev.headerOps = ethHeaderOps;
  dev.typeTrans = ethTypeTrans;
}

/** eth_random_addr: a locally administered unicast address. */
export function ethRandomAddr(net: NetNamespace): Uint8Array {
  const m = new Uint8Array(6);
  net.k.host.entropy(m);
  m[0] = (m[0]! & 0xfe) | 0x02;
  return m;
}

export interface EtherDeviceOptions {
  /** Station address; random (locally administered) when absent or invalid. */
  mac?: Uint8Array;
  mtu?: number;
  /** Largest MTU the backend carries (default 1500; a cable or TAP can do 65535). */
  maxMtu?: number;
  /** Name or template, default "eth%d". */
  name?: string;
}

/**
 * A registered Ethernet device over `backend` (down until devOpen). Frames that arrive while the
 * device is down, or larger than the MTU allows, are dropped and counted.
 */
export function etherDevice(net: NetNamespace, backend: NetBackend, o: EtherDeviceOptions = {}): NetDevice {
  const dev = new NetDevice(o.name ?? 'eth%d', {
    xmit: (skb) => { backend.send(skb.bytes()); },
    uninit: () => { backend.setReceiver(null); backend.close?.(); },
  });
  etherSetup(dev);
  if (o.maxMtu) dev.maxMtu = o.maxMtu;
  if (o.mtu) dev.mtu = Math.min(Math.max(o.mtu, dev.minMtu), dev.maxMtu);
  dev.mac = o.mac && isValidEtherAddr(o.mac) ? o.mac.slice(0, 6) : ethRandomAddr(net);
  dev.priv = backend;
  net.registerNetdevice(dev);
  backend.setReceiver((frame) => {
    // Oversize frames are length errors at the NIC (4 bytes of slack for a VLAN tag).
    if (frame.length > dev.mtu + ETH_HLEN + 4 || frame.length < ETH_HLEN) {
      dev.stats.rxErrors++; dev.stats.rxFrameErrors++;
      return;
    }
    net.netifRx(dev, SkBuff.fromBytes(frame));
  });
  return dev;
}
