/*
 * The network sysctls (/proc/sys/net/...), as a table of names over the namespace's settings.
 *
 * /proc has no net/ directory of its own yet, so LKL's lkl_sysctl(path, value) — which writes
 * the value to /proc/sys/<path> — is served by netSysctlWrite here (the public API's
 * k.sysctl). Values are parsed as proc_dointvec does: whitespace-separated decimal integers;
 * anything else is EINVAL. Paths use '/' or '.' separators ("net/ipv4/ip_forward" or
 * "net.ipv4.ip_forward"); an unknown one is ENOENT, as a missing /proc file would be.
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENOENT } from '../../uapi/errno.js';
import { netOf, type NetNamespace } from '../core/index.js';
import { inetNetState } from './af_inet.js';
import { bindv6only, setBindv6only } from './af_inet6_opts.js';
import { ipv6State } from '../ipv6/index.js';
import { tcpAttach } from './af_inet_tcp.js';

interface SysctlEntry {
  read(net: NetNamespace): string;
  write(net: NetNamespace, v: number[]): void;
  /** How many integers the file holds. */
  count: number;
}

const GID_MAX = 0x7fffffff;

function intEntry(get: (n: NetNamespace) => number, set: (n: NetNamespace, v: number) => void, min = -0x80000000, max = 0x7fffffff): SysctlEntry {
  return {
    count: 1,
    read: (n) => `${get(n)}\n`,
    write: (n, v) => { const x = v[0]!; if (x < min || x > max) fail(EINVAL); set(n, x); },
  };
}

const table: Record<string, SysctlEntry> = {
  'net/ipv4/ip_forward': intEntry((n) => n.sysctl.ip_forward, (n, v) => { n.sysctl.ip_forward = v ? 1 : 0; }),
  'net/ipv4/ip_default_ttl': intEntry((n) => n.sysctl.ip_default_ttl, (n, v) => { n.sysctl.ip_default_ttl = v; }, 1, 255),
  'net/ipv4/icmp_echo_ignore_all': intEntry((n) => n.sysctl.icmp_echo_ignore_all, (n, v) => { n.sysctl.icmp_echo_ignore_all = v; }, 0, 2),
  'net/ipv4/icmp_echo_ignore_broadcasts': intEntry((n) => n.sysctl.icmp_echo_ignore_broadcasts, (n, v) => { n.sysctl.icmp_echo_ignore_broadcasts = v; }, 0, 1),
  'net/ipv4/icmp_ratelimit': intEntry((n) => n.sysctl.icmp_ratelimit, (n, v) => { n.sysctl.icmp_ratelimit = v; }, 0),
  'net/core/netdev_max_backlog': intEntry((n) => n.sysctl.netdev_max_backlog, (n, v) => { n.sysctl.netdev_max_backlog = v; }, 0),
  // listen(2) clamps to it; the TCP engine keeps its own copy for the accept queue.
  'net/core/somaxconn': intEntry((n) => n.sysctl.somaxconn, (n, v) => { n.sysctl.somaxconn = v; tcpAttach(n).sysctl.somaxconn = v; }, 0),
  // IPv6: the default of IPV6_V6ONLY for new AF_INET6 sockets, and the unicast hop limit.
  'net/ipv6/bindv6only': intEntry((n) => bindv6only(n), (n, v) => setBindv6only(n, v)),
  'net/ipv6/conf/all/hop_limit': intEntry((n) => ipv6State(n).sysctl.hop_limit, (n, v) => { ipv6State(n).sysctl.hop_limit = v; }, 1, 255),
  'net/ipv4/ip_local_port_range': {
    count: 2,
    read: (n) => `${n.sysctl.ip_local_port_range[0]}\t${n.sysctl.ip_local_port_range[1]}\n`,
    write: (n, v) => {
      // ipv4_local_port_range: 1..65535 and low <= high (parity rules aside).
      const [lo, hi] = v as [number, number];
      if (lo < 1 || hi > 65535 || lo > hi) fail(EINVAL);
      n.sysctl.ip_local_port_range = [lo, hi];
    },
  },
  'net/ipv4/ping_group_range': {
    count: 2,
    read: (n) => { const [lo, hi] = inetNetState(n).pingGroupRange; return `${lo}\t${hi}\n`; },
    write: (n, v) => {
      let [lo, hi] = v as [number, number];
      if (lo < 0 || lo > GID_MAX || hi < 0 || hi > GID_MAX) fail(EINVAL);
      // ipv4_ping_group_range: an empty range is stored as Linux's "1 0".
      if (hi < lo) { lo = 1; hi = 0; }
      inetNetState(n).pingGroupRange = [lo, hi];
    },
  },
};

function entry(path: string): SysctlEntry {
  const p = path.replace(/^\/?(proc\/sys\/)?/, '').replace(/\./g, '/');
  return table[p] ?? fail(ENOENT);
}

/** Write a sysctl of kernel k's network namespace (what writing /proc/sys/<path> does). */
export function netSysctlWrite(k: object, path: string, value: string | number): void {
  const e = entry(path);
  const text = String(value).trim();
  const parts = text === '' ? [] : text.split(/\s+/);
  if (parts.length < 1 || parts.length > e.count) fail(EINVAL);
  const nums = parts.map((s) => { if (!/^[-+]?\d+$/.test(s)) fail(EINVAL); return Number(s); });
  if (e.count === 2 && nums.length !== 2) fail(EINVAL);
  e.write(netOf(k), nums);
}

/** Read a sysctl as its /proc/sys file reads. */
export function netSysctlRead(k: object, path: string): string { return entry(path).read(netOf(k)); }

/** The names served (for a future /proc/sys/net directory). */
export function netSysctlNames(): string[] { return Object.keys(table); }
