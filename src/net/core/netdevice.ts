/*
 * Network devices (struct net_device). A device is a name, an ifindex, a link-layer type and
 * address, an MTU, IFF_* flags, counters for /proc/net/dev, and two hooks:
 *
 *   ops.xmit(skb, dev)   the driver's transmit: the skb holds a complete frame (link header
 *                        included) from data to tail; the driver owns it from then on and must
 *                        not call back into the stack synchronously except through netifRx.
 *   netifRx(dev, skb)    (netns.ts) the driver's receive: a complete frame; queued to the
 *                        namespace's backlog and processed later from the kernel worker, like
 *                        NET_RX softirq after the interrupt.
 *
 * The link layer (src/net/link) fills in headerOps (building the link header on output) and
 * typeTrans (classifying and stripping it on input) when it sets a device up as Ethernet or
 * loopback; drivers never build headers themselves.
 */
import type { SkBuff } from './skb.js';

export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_DEBUG = 0x4;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_NOTRAILERS = 0x20;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

export const IFNAMSIZ = 16;

/** The counters /proc/net/dev prints (struct rtnl_link_stats64, the part it shows). */
export class NetDevStats {
  rxPackets = 0; rxBytes = 0; rxErrors = 0; rxDropped = 0; rxFifoErrors = 0; rxFrameErrors = 0;
  rxCompressed = 0; multicast = 0;
  txPackets = 0; txBytes = 0; txErrors = 0; txDropped = 0; txFifoErrors = 0; collisions = 0;
  txCarrierErrors = 0; txCompressed = 0;
}

export interface NetDeviceOps {
  /** Transmit one complete frame; see the file comment. */
  xmit(skb: SkBuff, dev: NetDevice): void;
  /** ndo_open / ndo_stop: the device goes up / down. */
  open?(dev: NetDevice): void;
  stop?(dev: NetDevice): void;
  /** Release backend resources when the device is unregistered. */
  uninit?(dev: NetDevice): void;
}

export interface HeaderOps {
  /** Prepend the link header for `type` (EtherType) to `daddr` (null: the device's broadcast). */
  create(skb: SkBuff, dev: NetDevice, type: number, daddr: Uint8Array | null): void;
}

/**
 * A frame transport under an Ethernet device (LKL's struct lkl_netdev): the cable between two
 * kernels, a TAP bridge, a QEMU socket. send() takes a complete frame (the backend must copy it
 * if it keeps it past the call); received frames go to the receiver set with setReceiver, which
 * may keep them. A backend never polls: it calls the receiver when a frame arrives.
 */
export interface NetBackend {
  send(frame: Uint8Array): void;
  setReceiver(fn: ((frame: Uint8Array) => void) | null): void;
  close?(): void;
}

export class NetDevice {
  ifindex = 0;
  /** Name, or a template with %d ("eth%d") until registered. */
  name: string;
  /** ARPHRD_* link type. */
  type = 1;
  mac: Uint8Array = new Uint8Array(6);
  broadcast: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  addrLen = 6;
  hardHeaderLen = 14;
  mtu = 1500;
  minMtu = 68;
  maxMtu = 65535;
  flags = IFF_BROADCAST | IFF_MULTICAST;
  txQueueLen = 1000;
  /** Link state reported by the driver (netif_carrier_on/off). */
  carrier = true;
  readonly stats = new NetDevStats();
  ops: NetDeviceOps;
  headerOps: HeaderOps | null = null;
  /**
   * Input classification (eth_type_trans): sets skb.protocol, skb.pktType and macHeader and pulls
   * the link header. Returns false to drop (runt frame).
   */
  typeTrans: ((skb: SkBuff, dev: NetDevice) => boolean) | null = null;
  /** Driver-private state. */
  priv: unknown = null;

  constructor(name: string, ops: NetDeviceOps) {
    this.name = name;
    this.ops = ops;
  }

  get isUp(): boolean { return (this.flags & IFF_UP) !== 0; }
  get isLoopback(): boolean { return (this.flags & IFF_LOOPBACK) !== 0; }
  /** Up with carrier: frames may flow. */
  get running(): boolean { return (this.flags & IFF_UP) !== 0 && this.carrier; }
}
