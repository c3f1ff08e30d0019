/*
 * /proc/net/tcp, tcp6, udp and udp6 (tcp4_seq_show, tcp6_seq_show, udp4_seq_show,
 * udp6_seq_show): one line per socket in Linux's columns and widths, checked against a host's
 * files for listening, established and datagram sockets.
 *
 * Addresses are printed as Linux prints a __be32 with %08X on a little-endian machine (127.0.0.1
 * is 0100007F; an IPv6 address is four such words), ports as %04X, the state as the TCP state
 * number (UDP: 01 connected, 07 not). tcp lines are padded to 149 columns and udp lines to 127
 * (seq_pad); the IPv6 files are not padded. The first column is a running index, where Linux
 * prints the hash bucket; the "pointer" column is a per-socket token in %pK's hashed form.
 * Timer columns stay 00:00000000 (the engine's timers are its own) except TIME-WAIT, which is
 * printed in Linux's short timewait form. Queue columns: tcp tx = unacknowledged + unsent bytes,
 * rx = unread bytes (a listener: its accept queue); udp counts payload bytes (Linux counts
 * buffer truesize).
 *
 * A dual-stack AF_INET6 socket shows up once, in the *6 file, even where it holds an IPv4
 * endpoint too; one bound or connected to a v4-mapped address shows that address mapped.
 */
import { AF_INET6 } from '../../uapi/socket.js';
import type { NetNamespace } from '../core/index.js';
import { udpState, type UdpSock } from '../udp/index.js';
import { ipv6Stack, type Udp6Sock } from '../ipv6/index.js';
import { TCP_LISTEN, TCP_CLOSE, TCP_TIME_WAIT, type TcpSock } from '../tcp/index.js';
import { tcpAttach } from './af_inet_tcp.js';
import { sockOfEndpoint, tcpAttached } from './af_inet_reg.js';
import { toMapped } from './af_inet6_addr.js';
import type { Socket } from './socket.js';

const hex = (v: number, w: number) => (v >>> 0).toString(16).toUpperCase().padStart(w, '0');

/** Four bytes as a little-endian u32 in %08X. */
function word(b: Uint8Array, o: number): string {
  return hex((b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0, 8);
}
function addrHex(a: Uint8Array | null, len: 4 | 16): string {
  const b = a && a.length === len ? a : new Uint8Array(len);
  let s = '';
  for (let o = 0; o < len; o += 4) s += word(b, o);
  return s;
}
const v4bytes = (a: number) => Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);

/** %pK as a kernel with kptr_restrict prints it: a hashed value, the same for one socket. */
function token(sock: Socket | undefined, fallback: number): string {
  const n = sock ? sock.inode.ino : fallback;
  return (hex(0, 8) + hex(Math.imul(n ^ 0x5bd1e995, 2654435761) >>> 0, 8)).toLowerCase();
}

const clockT = (ns: number) => Math.round(ns / 1e7); // USER_HZ = 100

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const UDP_HEADER = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';
const UDP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

/** The sockets of the engine in Linux's order: listeners first, then the connections. */
function tcpSockets(net: NetNamespace): TcpSock[] {
  const engine = tcpAttach(net);
  const listeners = [...(tcpAttached.get(engine) ?? [])].map((x) => x as TcpSock)
    .filter((c) => c.state === TCP_LISTEN).sort((a, b) => a.localPort - b.localPort);
  const seen = new Set<TcpSock>(listeners);
  const rest = engine.connections().filter((c) => !seen.has(c) && c.state !== TCP_CLOSE && c.state !== TCP_LISTEN);
  return [...listeners, ...rest];
}

/** /proc/net/tcp (v6 = false) or /proc/net/tcp6. */
export function procNetTcp(net: NetNamespace, v6: boolean): string {
  const len = v6 ? 16 : 4;
  let s = v6 ? `${TCP6_HEADER}\n` : `${TCP_HEADER.padEnd(149)}\n`;
  let i = 0;
  for (const c of tcpSockets(net)) {
    if ((c.localAddr?.length ?? (c.remoteAddr?.length ?? 4)) !== len) continue;
    const sock = sockOfEndpoint.get(c);
    const head = `${String(i).padStart(4)}: ${addrHex(c.localAddr, len)}:${hex(c.localPort, 4)} ` +
      `${addrHex(c.remoteAddr, len)}:${hex(c.remotePort, 4)} ${hex(c.state, 2)} `;
    let line: string;
    if (c.state === TCP_TIME_WAIT) {
      line = `${head}${hex(0, 8)}:${hex(0, 8)} 03:${hex(0, 8)} ${hex(0, 8)} ${'0'.padStart(5)} ${'0'.padStart(8)} 0 3 ${token(undefined, i + 1)}`;
    } else {
      const listen = c.state === TCP_LISTEN;
      const tx = listen ? 0 : c.bytesUnsent + ((c.sndNxt - c.sndUna) >>> 0);
      const rx = listen ? (c.engine.listenerFor(c)?.acceptQueue.length ?? 0) : c.bytesReadable;
      const uid = sock ? sock.inode.uid : 0;
      const ino = sock ? sock.inode.ino : 0;
      const tail = listen
        ? `${clockT(c.rtoNs)} 0 0 ${c.cwnd} 0`
        : `${clockT(c.rtoNs)} 4 0 ${c.cwnd} ${c.ssthresh >= 0x7fffffff ? -1 : c.ssthresh}`;
      line = `${head}${hex(tx, 8)}:${hex(rx, 8)} 00:${hex(0, 8)} ${hex(c.retransmits, 8)} ${String(uid).padStart(5)} ` +
        `${String(c.probesOut).padStart(8)} ${ino} ${sock ? 1 : 2} ${token(sock, i + 1)} ${tail}`;
    }
    s += (v6 ? line : line.padEnd(149)) + '\n';
    i++;
  }
  return s;
}

interface UdpRow { laddr: Uint8Array; lport: number; raddr: Uint8Array; rport: number; rx: number; drops: number; sock: Socket | undefined }

/** /proc/net/udp (v6 = false) or /proc/net/udp6. */
export function procNetUdp(net: NetNamespace, v6: boolean): string {
  const rows: UdpRow[] = [];
  const fromV4 = (u: UdpSock, mapped: boolean): UdpRow => {
    const conv = mapped ? toMapped : v4bytes;
    return {
      laddr: conv(u.localAddr), lport: u.localPort, raddr: u.remotePort ? conv(u.remoteAddr) : conv(0).fill(0),
      rport: u.remotePort, rx: u.rxBytes, drops: u.drops, sock: sockOfEndpoint.get(u),
    };
  };
  for (const list of udpState(net).ports.values()) {
    for (const u of list) {
      const sock = sockOfEndpoint.get(u);
      const ofV6 = sock?.family === AF_INET6;
      if (!v6 && !ofV6) rows.push(fromV4(u, false));
      // The IPv4 half of an AF_INET6 socket shows only when its IPv6 half holds nothing.
      if (v6 && ofV6 && !(sock!.sk as { u6: Udp6Sock }).u6.localPort) rows.push(fromV4(u, true));
    }
  }
  if (v6) {
    let st;
    try { st = ipv6Stack(net).udp; } catch { st = null; }
    for (const list of st?.ports.values() ?? []) {
      for (const u of list) {
        rows.push({
          laddr: u.localAddr, lport: u.localPort, raddr: u.remoteAddr, rport: u.remotePort, rx: u.rxBytes,
          drops: u.drops, sock: sockOfEndpoint.get(u),
        });
      }
    }
  }
  rows.sort((a, b) => a.lport - b.lport);
  const len = v6 ? 16 : 4;
  let s = v6 ? `${UDP6_HEADER}\n` : `${UDP_HEADER.padEnd(127)}\n`;
  rows.forEach((r, i) => {
    const line = `${String(i).padStart(5)}: ${addrHex(r.laddr, len)}:${hex(r.lport, 4)} ${addrHex(r.raddr, len)}:${hex(r.rport, 4)} ` +
      `${r.rport ? '01' : '07'} ${hex(0, 8)}:${hex(r.rx, 8)} 00:${hex(0, 8)} ${hex(0, 8)} ${String(r.sock?.inode.uid ?? 0).padStart(5)} ` +
      `${'0'.padStart(8)} ${r.sock?.inode.ino ?? 0} 2 ${token(r.sock, i + 1)} ${r.drops}`;
    s += (v6 ? line : line.padEnd(127)) + '\n';
  });
  return s;
}
