/*
 * Network devices from frame transports (LKL's virtio-net over virtio-mmio, lkl_netdev_add).
 *
 * netdevAdd(k, backend, opts) makes an Ethernet device over a frame transport and returns its
 * id: its virtio-mmio index, shared with disks (allocVirtioIndex), as LKL numbers them. The
 * device is named eth<id>, starts down, and has no address until configured (through syscalls:
 * see LklKernel.ifUp and friends in src/lkl.ts).
 *
 * Two kinds of transport are accepted:
 *  - a host NetBackend (src/arch/host.ts: tx, setReceiver, mtu?, mac?, close?): a TAP device, a
 *    QEMU socket, anything the host offers. Its `mtu` bounds the device's MTU, its `mac` is the
 *    default station address;
 *  - an in-kernel frame transport (src/net/core's NetBackend: send, setReceiver, close?), such
 *    as an end of createCable(): two kernels in one process joined back to back. A cable carries
 *    frames of any size, so the device's MTU may be raised up to 65535.
 *
 * `offload` (LKL's virtio-net feature bits) decides TSO towards the host: a host backend that
 * can take TSO frames (txGso: the TAP fd backend opened with offload, which writes them with a
 * virtio_net_hdr asking the host for GSO_TCPV4) makes the device NETIF_F_TSO unless `offload`
 * is given without VIRTIO_NET_F_HOST_TSO4 (bit 11). TCP then sends super-segments of up to
 * 64 KiB there. Every other backend (cable, QEMU socket, socat relay, pipe) gets MSS-sized
 * frames: TCP does not batch for a device without TSO, and the link layer cuts up any
 * super-segment that reaches one. Checksums we send are always complete.
 *
 * netdevRemove brings the device down and unregisters it (routes and addresses through it go,
 * the backend is closed). Per-kernel state hangs off the Kernel in a WeakMap.
 */
import type { NetBackend as HostNetBackend } from '../../arch/host.js';
import { fail } from '../../lib/errors.js';
import { ENODEV, EINVAL } from '../../uapi/errno.js';
import { KERN_INFO, type Kernel } from '../../kernel/index.js';
import { netOf, type NetBackend, type NetDevice } from '../../net/core/index.js';
import { etherDevice, type GsoBackend, type GsoFrameInfo } from '../../net/link/index.js';
import { allocVirtioIndex } from '../block/virtio_blk.js';

export interface NetdevOptions {
  /** Station address (6 bytes); default: the host backend's suggestion, else random. */
  mac?: Uint8Array;
  /** Initial MTU (default 1500, or the host backend's mtu if smaller). */
  mtu?: number;
  /** LKL's virtio-net feature bits (see the header); only VIRTIO_NET_F_HOST_TSO4 is looked at. */
  offload?: number;
}

/** What netdevAdd takes: a host backend or an in-kernel transport such as a cable end. */
export type NetdevBackend = HostNetBackend | NetBackend;

const devices = new WeakMap<Kernel, Map<number, NetDevice>>();

function table(k: Kernel): Map<number, NetDevice> {
  let m = devices.get(k);
  if (!m) { m = new Map(); devices.set(k, m); }
  return m;
}

function isHostBackend(b: NetdevBackend): b is HostNetBackend {
  return typeof (b as HostNetBackend).tx === 'function';
}

/** VIRTIO_NET_F_HOST_TSO4: the device (the host) takes TSO frames from us. */
export const VIRTIO_NET_F_HOST_TSO4 = 11;

/** A host backend that takes TSO frames whole (TapFdBackend with offload). */
interface HostGsoBackend extends HostNetBackend {
  txGso(frame: Uint8Array, info: GsoFrameInfo): void;
}

function hostGso(b: HostNetBackend): HostGsoBackend | null {
  return typeof (b as Partial<HostGsoBackend>).txGso === 'function' ? b as HostGsoBackend : null;
}

/** Adapt a host backend (tx) to the stack's transport (send). Back-pressure promises are not awaited: a NIC drops. */
function fromHost(b: HostNetBackend): NetBackend | GsoBackend {
  const nb: NetBackend = {
    send: (frame) => {
      try {
        const r = b.tx(frame);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => { /* lost frame */ });
      } catch { /* lost frame */ }
    },
    setReceiver: (fn) => b.setReceiver(fn),
    close: () => { void b.close?.(); },
  };
  const g = hostGso(b);
  if (!g) return nb;
  const gb: GsoBackend = { ...nb, sendGso: (frame, info) => { try { g.txGso(frame, info); } catch { /* lost frame */ } } };
  return gb;
}

/** lkl_netdev_add: returns the new device's id. The network stack must be up (the 'net' initcall). */
export function netdevAdd(k: Kernel, backend: NetdevBackend, o: NetdevOptions = {}): number {
  const net = netOf(k);
  if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68)) fail(EINVAL);
  const host = isHostBackend(backend);
  const maxMtu = host ? (backend.mtu ?? 1500) : 65535;
  const mac = o.mac ?? (host ? backend.mac : undefined);
  const id = allocVirtioIndex(k);
  const opts: Parameters<typeof etherDevice>[2] = { name: `eth${id}`, maxMtu, mtu: Math.min(o.mtu ?? 1500, maxMtu) };
  if (host && hostGso(backend) && (o.offload === undefined || (o.offload & (1 << VIRTIO_NET_F_HOST_TSO4)) !== 0)) opts.tso = true;
  if (mac) opts.mac = mac;
  const dev = etherDevice(net, host ? fromHost(backend) : backend, opts);
  table(k).set(id, dev);
  const m = [...dev.mac].map((x) => x.toString(16).padStart(2, '0')).join(':');
  k.printk(KERN_INFO, `virtio_net virtio${id} ${dev.name}: registered, MAC ${m}, mtu ${dev.mtu}`);
  return id;
}

/** lkl_netdev_remove */
export function netdevRemove(k: Kernel, id: number): void {
  const dev = table(k).get(id) ?? fail(ENODEV);
  table(k).delete(id);
  netOf(k).unregisterNetdevice(dev);
}

/** lkl_netdev_get_ifindex: ENODEV for an unknown id. */
export function netdevGetIfindex(k: Kernel, id: number): number {
  return (table(k).get(id) ?? fail(ENODEV)).ifindex;
}
