/*
 * The network stack brought up as one piece: what Linux's inet_init, inet6_init and the
 * netlink and IP-Config registrations do at boot, done by the socket layer that sits on top of
 * every protocol unit.
 *
 * The composition root (src/lkl.ts) loads this folder only when the kernel is booted with
 * networking (boot({ net: true }), the default), through a dynamic import: a kernel booted with
 * net: false is a CONFIG_NET=n kernel, and never evaluates a module of src/net/ at all. So
 * nothing below rank 11 may import src/net/ statically outside the network stack itself; the
 * other units that serve networking (/proc/net, the socket system calls, virtio-net) are loaded
 * the same way and attached by the composition root.
 */
import type { Kernel } from '../../kernel/index.js';
import { netNsInit, type NetNamespace } from '../core/index.js';
import { loopbackInit } from '../link/index.js';
import { arpInit } from '../arp/index.js';
import { ipv4Init, ipConfigSetup, ipConfigVendorClass, ipAutoConfig } from '../ipv4/index.js';
import { icmpInit } from '../icmp/index.js';
import { udpInit } from '../udp/index.js';
import { ipv6Init } from '../ipv6/index.js';
import { registerFamily } from './socket.js';
import { inetFamily, inetInit } from './af_inet.js';
import { inet6Family, inet6Init } from './af_inet6.js';
import { netlinkFamily } from './af_netlink.js';

/**
 * The IPv4 and IPv6 stacks with lo down (LKL's lkl_start_kernel; lkl_if_up(1) raises it), the
 * socket families AF_INET, AF_INET6 and AF_NETLINK, and IP-Config's command-line parameters
 * (__setup("ip=") and friends), which must be registered before the late parameters are parsed.
 */
export function netStackInit(k: Kernel): NetNamespace {
  const net = netNsInit(k);
  loopbackInit(net); arpInit(net); ipv4Init(net); icmpInit(net); udpInit(net);
  ipv6Init(net);
  inetInit(net);
  inet6Init(net);
  registerFamily(k, inetFamily);
  registerFamily(k, inet6Family);
  registerFamily(k, netlinkFamily);
  for (const p of ['ip', 'nfsaddrs']) k.paramHandlers.set(p, (kk, v) => ipConfigSetup(net, kk.uts, v));
  k.paramHandlers.set('dhcpclass', (_kk, v) => ipConfigVendorClass(net, v));
  return net;
}

/** late_initcall(ip_auto_config): run once the kernel's worker processes received frames. */
export function netStackLateInit(k: Kernel): Promise<boolean> {
  return ipAutoConfig(netNsInit(k), k.uts);
}
