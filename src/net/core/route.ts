/*
 * The IPv4 routing table (the FIB's main table) and route lookup.
 *
 * A route is a destination prefix, an output device, an optional gateway, a metric and a
 * preferred source. Lookup is longest-prefix match: of all routes whose prefix contains the
 * destination and whose device is up, the longest prefix wins, then the lowest metric, then the
 * oldest. A /0 route is the default gateway. Connected routes (proto kernel, scope link) are
 * added when an address is configured on a device that is up, and removed with the address or
 * when the device goes down, as Linux's fib_add_ifaddr / fib_disable_ip do.
 *
 * Local delivery (Linux's "local" table) is not stored here: netns.ts answers it from the
 * configured addresses, so /proc/net/route shows the main table only, as on Linux.
 */
import { inetMakeMask } from '../header/index.js';
import type { NetDevice } from './netdevice.js';

// rtm_protocol
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
// rtm_scope
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
// /proc/net/route flags
export const RTF_UP = 0x1;
export const RTF_GATEWAY = 0x2;
export const RTF_HOST = 0x4;

export interface Route {
  /** Network address (already masked). */
  dst: number;
  prefixLen: number;
  mask: number;
  /** Next hop, 0 when the destination is on the link. */
  gateway: number;
  dev: NetDevice;
  metric: number;
  /** Preferred source address (0: choose from the device). */
  prefsrc: number;
  protocol: number;
  scope: number;
}

export class FibTable {
  readonly routes: Route[] = [];

  /** Adds a route; false when the same (dst, prefix, metric, gateway, dev) exists (EEXIST). */
  add(r: Omit<Route, 'mask' | 'dst'> & { dst: number }): Route | null {
    const mask = inetMakeMask(r.prefixLen);
    const route: Route = { ...r, dst: (r.dst & mask) >>> 0, mask };
    for (const x of this.routes) {
      if (x.dst === route.dst && x.prefixLen === route.prefixLen && x.metric === route.metric) return null;
    }
    this.routes.push(route);
    return route;
  }

  /** Removes routes matching every given field; returns how many went. */
  remove(match: Partial<Route>): number {
    let n = 0;
    for (let i = this.routes.length - 1; i >= 0; i--) {
      const r = this.routes[i]!;
      if ((match.dst === undefined || r.dst === match.dst) &&
        (match.prefixLen === undefined || r.prefixLen === match.prefixLen) &&
        (match.gateway === undefined || r.gateway === match.gateway) &&
        (match.dev === undefined || r.dev === match.dev) &&
        (match.metric === undefined || r.metric === match.metric) &&
        (match.prefsrc === undefined || r.prefsrc === match.prefsrc) &&
        (match.protocol === undefined || r.protocol === match.protocol)) {
        this.routes.splice(i, 1); n++;
      }
    }
    return n;
  }

  /** Longest-prefix match over routes whose device is up (and is `oif` when given). */
  lookup(daddr: number, oif = 0): Route | null {
    let best: Route | null = null;
    for (const r of this.routes) {
      if (((daddr & r.mask) >>> 0) !== r.dst) continue;
      if (!r.dev.isUp) continue;
      if (oif && r.dev.ifindex !== oif) continue;
      if (!best || r.prefixLen > best.prefixLen || (r.prefixLen === best.prefixLen && r.metric < best.metric)) best = r;
    }
    return best;
  }
}
