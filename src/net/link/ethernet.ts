/*
 * Ethernet as a link layer (net/ethernet/eth.c): ether_setup gives a device Ethernet's
 * parameters and its two hooks — header creation on output and eth_type_trans on input, which
 * strips the 14-byte header, records the EtherType and classifies the frame as for this host,
 * broadcast, multicast or another host.
 *
 * etherDevice() makes a registered Ethernet device from a NetBackend: transmitted frames go to
 * backend.send, received ones to netifRx (queued, processed later by the kernel worker).
 *
 * TSO (NETIF_F_TSO): a device made with `tso` over a backend that has sendGso takes TCP/IPv4
 * super-segments, one frame carrying several MSS-sized segments' payload behind one header
 * (the skb's gsoSize says how much payload each segment gets). The backend hands it on whole
 * with its segmentation parameters (a TAP with a virtio_net_hdr: the host cuts it up). On any
 * other device such an skb is cut up here in software (skb_gso_segment): each piece gets a copy
 * of the headers with its own IP length, id and checksum and its own TCP sequence number and
 * checksum, PSH and FIN on the last piece only, CWR on the first only, so the wire never sees a
 * frame larger than the MTU.
 */
import {
  ETH_HLEN, ETH_DATA_LEN, ETH_ALEN, writeEthHeader, parseEthHeader, isBroadcastMac, isMulticastMac,
  macEqual, ARPHRD_ETHER, isValidEtherAddr,
  csumPartial, csumFold, pseudoHeaderSum4, ipv4SendCheck, ETH_P_IP,
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

/** The segmentation parameters of a TSO frame, as a virtio_net_hdr carries them. */
export interface GsoFrameInfo {
  /** Payload bytes per segment (the MSS). */
  gsoSize: number;
  /** Link + network + transport header bytes at the frame's start. */
  hdrLen: number;
  /** Where the TCP checksum's coverage starts, and the checksum field's offset from there. */
  csumStart: number;
  csumOffset: number;
}

/** A backend that takes TSO frames whole (see the header). */
export interface GsoBackend extends NetBackend {
  sendGso(frame: Uint8Array, info: GsoFrameInfo): void;
}

/**
 * An skb may carry `gsoSize` (skb_shinfo's gso_size; set by TCP's output for a super-segment,
 * read by IPv4 output, which does not fragment it, and by the device's xmit).
 */
export type GsoSkb = SkBuff & { gsoSize?: number };

/** The largest IPv4 datagram (64 KiB - 1) less the IP header and the longest TCP header. */
const GSO_MAX_TCP_PAYLOAD = 65535 - 20 - 60;

/** Devices with NETIF_F_TSO (a GSO-capable backend and the option). */
const tsoDevices = new WeakSet<NetDevice>();

/** The largest TCP payload a super-segment through `dev` may carry; 0 when it has no TSO. */
export function netifGsoMaxSize(dev: NetDevice): number { return tsoDevices.has(dev) ? GSO_MAX_TCP_PAYLOAD : 0; }

/**
 * skb_gso_segment for TCP/IPv4 in an Ethernet frame: the MSS-sized frames `frame` stands for.
 * Anything that is not TCP over IPv4 comes back as is.
 */
export function gsoSegmentFrame(frame: Uint8Array, gsoSize: number): Uint8Array[] {
  if (frame.length < ETH_HLEN + 20 || ((frame[12]! << 8) | frame[13]!) !== ETH_P_IP || frame[ETH_HLEN + 9] !== 6) return [frame];
  const ip = ETH_HLEN, ihl = (frame[ip]! & 15) * 4, tcp = ip + ihl;
  const thl = (frame[tcp + 12]! >> 4) * 4;
  const hdr = tcp + thl;
  const payload = frame.length - hdr;
  if (gsoSize <= 0 || payload <= gsoSize) return [frame];
  const seq0 = ((frame[tcp + 4]! << 24) | (frame[tcp + 5]! << 16) | (frame[tcp + 6]! << 8) | frame[tcp + 7]!) >>> 0;
  const id0 = (frame[ip + 4]! << 8) | frame[ip + 5]!;
  const flags0 = frame[tcp + 13]!;
  const src = frame.subarray(ip + 12, ip + 16), dst = frame.subarray(ip + 16, ip + 20);
  const out: Uint8Array[] = [];
  for (let pos = 0, i = 0; pos < payload; pos += gsoSize, i++) {
    const len = Math.min(gsoSize, payload - pos);
    const f = new Uint8Array(hdr + len);
    f.set(frame.subarray(0, hdr));
    f.set(frame.subarray(hdr + pos, hdr + pos + len), hdr);
    const tot = ihl + thl + len;
    f[ip + 2] = tot >>> 8; f[ip + 3] = tot & 0xff;
    const id = (id0 + i) & 0xffff;
    f[ip + 4] = id >>> 8; f[ip + 5] = id & 0xff;
    f[ip + 10] = 0; f[ip + 11] = 0;
    ipv4SendCheck(f, ip);
    const seq = (seq0 + pos) >>> 0;
    f[tcp + 4] = seq >>> 24; f[tcp + 5] = (seq >>> 16) & 0xff; f[tcp + 6] = (seq >>> 8) & 0xff; f[tcp + 7] = seq & 0xff;
    const lastPiece = pos + len >= payload;
    // PSH (0x08) and FIN (0x01) belong to the last piece, CWR (0x80) to the first.
    f[tcp + 13] = flags0 & ~(lastPiece ? 0 : 0x09) & ~(i === 0 ? 0 : 0x80);
    f[tcp + 16] = 0; f[tcp + 17] = 0;
    const c = csumFold(csumPartial(f, tcp, f.length, pseudoHeaderSum4(src, dst, 6, thl + len)));
    f[tcp + 16] = c >>> 8; f[tcp + 17] = c & 0xff;
    out.push(f);
  }
  return out;
}

export interface EtherDeviceOptions {
  /** Station address; random (locally administered) when absent or invalid. */
  mac?: Uint8Array;
  mtu?: number;
  /** Largest MTU the backend carries (default 1500; a cable or TAP can do 65535). */
  maxMtu?: number;
  /** Name or template, default "eth%d". */
  name?: string;
  /** NETIF_F_TSO: take TCP super-segments (only with a backend that has sendGso). */
  tso?: boolean;
}

/**
 * A registered Ethernet device over `backend` (down until devOpen). Frames that arrive while the
 * device is down, or larger than the MTU allows, are dropped and counted.
 */
export function etherDevice(net: NetNamespace, backend: NetBackend, o: EtherDeviceOptions = {}): NetDevice {
  const gsoBackend = o.tso && typeof (backend as Partial<GsoBackend>).sendGso === 'function' ? backend as GsoBackend : null;
  const dev = new NetDevice(o.name ?? 'eth%d', {
    xmit: (skb) => {
      const g = (skb as GsoSkb).gsoSize;
      if (!g) { backend.send(skb.bytes()); return; }
      const frame = skb.bytes();
      if (gsoBackend) {
        const ihl = (frame[ETH_HLEN]! & 15) * 4;
        const thl = (frame[ETH_HLEN + ihl + 12]! >> 4) * 4;
        gsoBackend.sendGso(frame, { gsoSize: g, hdrLen: ETH_HLEN + ihl + thl, csumStart: ETH_HLEN + ihl, csumOffset: 16 });
        return;
      }
      for (const f of gsoSegmentFrame(frame, g)) backend.send(f);
    },
    uninit: () => { backend.setReceiver(null); backend.close?.(); },
  });
  etherSetup(dev);
  if (gsoBackend) tsoDevices.add(dev);
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
