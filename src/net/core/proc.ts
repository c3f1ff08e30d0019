/*
 * Text of /proc/net/dev and /proc/net/route, byte for byte as Linux prints them (checked against
 * a host's files). The proc filesystem calls these; they only read the namespace.
 */
import type { NetNamespace } from './netns.js';
import { RTF_UP, RTF_GATEWAY, RTF_HOST } from './route.js';

/** /proc/net/dev (dev_seq_show): two header lines, then one line per device by ifindex. */
export function procNetDev(net: NetNamespace): string {
  let s = 'Inter-|   Receive                                                |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
  const devs = [...net.devices.values()].sort((a, b) => a.ifindex - b.ifindex);
  for (const d of devs) {
    const st = d.stats;
    const p = (v: number, w: number) => String(v).padStart(w, ' ');
    s += `${d.name.padStart(6, ' ')}:${p(st.rxBytes, 8)} ${p(st.rxPackets, 7)} ${p(st.rxErrors, 4)} ${p(st.rxDropped, 4)} ` +
      `${p(st.rxFifoErrors, 4)} ${p(st.rxFrameErrors, 5)} ${p(st.rxCompressed, 10)} ${p(st.multicast, 9)} ` +
      `${p(st.txBytes, 8)} ${p(st.txPackets, 7)} ${p(st.txErrors, 4)} ${p(st.txDropped, 4)} ${p(st.txFifoErrors, 4)} ` +
      `${p(st.collisions, 5)} ${p(st.txCarrierErrors, 7)} ${p(st.txCompressed, 10)}\n`;
  }
  return s;
}

/** An IPv4 address as /proc prints a __be32 with %08X on a little-endian machine. */
function hexBe32(a: number): string {
  const le = (((a & 0xff) << 24) | (((a >>> 8) & 0xff) << 16) | (((a >>> 16) & 0xff) << 8) | (a >>> 24)) >>> 0;
  return le.toString(16).toUpperCase().padStart(8, '0');
}

/** /proc/net/route (fib_route_seq_show): main table, every line padded to 127 columns. */
export function procNetRoute(net: NetNamespace): string {
  const pad = (line: string) => line.padEnd(127, ' ') + '\n';
  let s = pad('Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT');
  const routes = [...net.fib.routes].sort((a, b) => (a.dst >>> 0) - (b.dst >>> 0) || a.prefixLen - b.prefixLen);
  for (const r of routes) {
    let flags = RTF_UP;
    if (r.gateway) flags |= RTF_GATEWAY;
    if (r.prefixLen === 32) flags |= RTF_HOST;
    s += pad(`${r.dev.name}\t${hexBe32(r.dst)}\t${hexBe32(r.gateway)}\t${flags.toString(16).toUpperCase().padStart(4, '0')}\t0\t0\t${r.metric}\t${hexBe32(r.mask)}\t0\t0\t0`);
  }
  return s;
}
