/*
 * /proc/net/if_inet6 (if6_seq_show): one line per address — the address as 32 hex digits, then
 * ifindex, prefix length, scope (IPV6_ADDR_SCOPE_* of the kernel's addr_type: 0x10 host, 0x20
 * link, 0x40 site, 0 global) and the low byte of the flags, each as two hex digits, and the
 * device name right-aligned in 8 columns.
 */
import { a6key, a6scope, IFA_SCOPE_HOST, IFA_SCOPE_LINK, IFA_SCOPE_SITE } from './addr.js';
import type { Ipv6State } from './state.js';

const hex2 = (n: number) => (n & 0xff).toString(16).padStart(2, '0');

export function procNetIfInet6(st: Ipv6State): string {
  let s = '';
  // Linux walks its hash table; newest first per bucket. We list by device, then age, newest first.
  const list = [...st.addrs].sort((x, y) => x.dev.ifindex - y.dev.ifindex);
  for (const a of list) {
    const sc = a6scope(a.addr);
    const scope = sc === IFA_SCOPE_HOST ? 0x10 : sc === IFA_SCOPE_LINK ? 0x20 : sc === IFA_SCOPE_SITE ? 0x40 : 0;
    s += `${a6key(a.addr)} ${hex2(a.dev.ifindex)} ${hex2(a.prefixLen)} ${hex2(scope)} ${hex2(a.flags)} ${a.dev.name.padStart(8, ' ')}\n`;
  }
  return s;
}

/*
 * /proc/net files whose text comes from a higher layer (the socket layer's tcp, udp, tcp6,
 * udp6): it registers a generator per namespace, /proc asks for it by name (proc_create_net in
 * spirit). This registry belongs in src/net/core/proc.ts; it sits here until that folder's
 * index exports it.
 */
import type { NetNamespace } from '../core/index.js';

const procNetFiles = new WeakMap<NetNamespace, Map<string, () => string>>();

export function procNetRegister(net: NetNamespace, name: string, show: () => string): void {
  let m = procNetFiles.get(net);
  if (!m) { m = new Map(); procNetFiles.set(net, m); }
  m.set(name, show);
}

/** The text of a registered /proc/net file ('' when nobody registered it). */
export function procNetShow(net: NetNamespace, name: string): string { return procNetFiles.get(net)?.get(name)?.() ?? ''; }
