/*
 * /proc/net (fs/proc/proc_net.c and the seq files the protocols register there): the network
 * stack's view of devices, routes, neighbours, addresses and sockets.
 *
 * This file is the only part of /proc that knows the network stack, and it is loaded only for a
 * kernel booted with networking (procNetInit in index.ts imports it on demand), so a kernel
 * booted with net: false never evaluates src/net/ and has no /proc/net, as Linux built with
 * CONFIG_NET=n.
 */
import type { Kernel } from '../../kernel/index.js';
import { netOf, procNetDev, procNetRoute } from '../../net/core/index.js';
import { arpTable } from '../../net/arp/index.js';
import { procNetPnp } from '../../net/ipv4/index.js';
import { procNetIfInet6, procNetShow } from '../../net/ipv6/index.js';
import { procNetRegister } from './root.js';

/** Register kernel k's /proc/net files; its network namespace must exist (netStackInit). */
export function procNetAttach(k: Kernel): void {
  const net = netOf(k);
  procNetRegister(k, [
    { name: 'arp', show: () => arpTable(net).procNetArp() },
    { name: 'dev', show: () => procNetDev(net) },
    { name: 'if_inet6', show: () => procNetIfInet6(net) },
    // Written by IP-Config (ip= on the command line): the nameservers and domain it learnt.
    { name: 'pnp', show: () => procNetPnp(net) },
    { name: 'route', show: () => procNetRoute(net) },
    // Sockets: the socket layer registers these texts (src/net/socket/af_inet_proc.ts).
    { name: 'tcp', show: () => procNetShow(net, 'tcp') },
    { name: 'tcp6', show: () => procNetShow(net, 'tcp6') },
    { name: 'udp', show: () => procNetShow(net, 'udp') },
    { name: 'udp6', show: () => procNetShow(net, 'udp6') },
  ]);
}
