/*
 * ARP (RFC 826) and the IPv4 neighbour cache, with Linux's state machine (net/core/neighbour.c,
 * net/ipv4/arp.c) reduced to what a host needs:
 *
 *   (none) --output--> INCOMPLETE: broadcast a request every retrans_time (1 s), up to
 *                      mcast_solicit (3); packets wait in the entry's queue, bounded by
 *                      unres_qlen_bytes (oldest dropped first). No answer: FAILED, queued
 *                      packets get ICMP host unreachable.
 *   reply --> REACHABLE for a random time in [base/2, 3*base/2] (base_reachable_time 30 s),
 *             then STALE (the address is still used, but unconfirmed).
 *   STALE --output--> DELAY: sends at once, waits delay_first_probe_time (5 s) for a
 *             confirmation, then PROBE: unicast requests every retrans_time, ucast_solicit (3)
 *             times, then FAILED. A FAILED entry that is used again starts over.
 *   PERMANENT: added by hand (addNeighbor); never changes.
 *
 * Incoming packets: a request for one of our addresses is answered and creates or refreshes the
 * sender's entry as STALE (neigh_event_ns). Anything else — replies, requests for others,
 * gratuitous ARP (sender = target) — only updates an entry that already exists, to REACHABLE for
 * a unicast reply to us and STALE otherwise; it never creates one (arp_accept = 0). A request
 * from 0.0.0.0 (duplicate address detection probe) for our address is answered without learning.
 *
 * Timers are interrupts: they only queue work for the kernel worker, which runs the state
 * machine.
 */
import {
  ARP_HLEN, ARPOP_REPLY, ARPOP_REQUEST, ETH_P_ARP, ETH_P_IP, MAC_ZERO, macToString, parseArp, writeArp,
  ipv4IsLoopback, ipv4IsMulticast, ipv4ToString, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, ipv4FromBytes,
  isValidEtherAddr, macEqual,
} from '../header/index.js';
import {
  SkBuff, PACKET_HOST, IFF_NOARP, IFF_LOOPBACK, type NetDevice, type NetNamespace,
} from '../core/index.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';
import { fail } from '../../lib/errors.js';
import { EINVAL, ENODEV } from '../../uapi/errno.js';

export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY;
export const NUD_CONNECTED = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE;

// /proc/net/arp flags
export const ATF_COM = 0x02;
export const ATF_PERM = 0x04;

const NS_PER_MS = 1_000_000;

export interface Neighbour {
  ip: number;
  dev: NetDevice;
  mac: Uint8Array;
  nudState: number;
  probes: number;
  /** Last time reachability was confirmed (ns). */
  confirmed: number;
  updated: number;
  used: number;
  reachableTimeNs: number;
  timer: KernelTimer | null;
  queue: SkBuff[];
  queueBytes: number;
}

export class ArpTable {
  readonly net: NetNamespace;
  /** Keyed by `${ifindex}/${ip}`. */
  readonly entries = new Map<string, Neighbour>();
  /** Counters (ndisc-style statistics). */
  unresDiscards = 0;

  constructor(net: NetNamespace) { this.net = net; }

  private key(dev: NetDevice, ip: number): string { return `${dev.ifindex}/${ip >>> 0}`; }
  lookup(dev: NetDevice, ip: number): Neighbour | undefined { return this.entries.get(this.key(dev, ip)); }

  private create(dev: NetDevice, ip: number, state: number): Neighbour {
    const now = this.net.now();
    const n: Neighbour = {
      ip: ip >>> 0, dev, mac: new Uint8Array(6), nudState: state, probes: 0, confirmed: now - 1e12, updated: now,
      used: now, reachableTimeNs: this.randomReachableTime(), timer: null, queue: [], queueBytes: 0,
    };
    this.entries.set(this.key(dev, ip), n);
    return n;
  }

  /** neigh_rand_reach_time: uniform in [base/2, 3*base/2). */
  private randomReachableTime(): number {
    const base = this.net.sysctl.base_reachable_time_ms * NS_PER_MS;
    return base / 2 + (this.net.random32() % base);
  }

  private arm(n: Neighbour, delayNs: number): void {
    n.timer?.cancel();
    n.timer = this.net.k.clock.addTimer(this.net.now() + delayNs, () => {
      n.timer = null;
      this.net.k.queueWork(() => this.timerHandler(n));
    }, true);
  }

  private destroy(n: Neighbour): void {
    n.timer?.cancel(); n.timer = null;
    if (this.entries.get(this.key(n.dev, n.ip)) === n) this.entries.delete(this.key(n.dev, n.ip));
  }

  // --- output ---------------------------------------------------------------------------------

  /** neigh_resolve_output: skb holds an IPv4 packet (data at its header). */
  output(skb: SkBuff, dev: NetDevice, nexthop: number): void {
    const net = this.net;
    if (net.isBroadcastOn(nexthop, dev)) { this.xmit(skb, dev, dev.broadcast); return; }
    if (ipv4IsMulticast(nexthop)) {
      // RFC 1112 6.4: 01:00:5e + low 23 bits of the group.
      const m = new Uint8Array([0x01, 0x00, 0x5e, (nexthop >>> 16) & 0x7f, (nexthop >>> 8) & 0xff, nexthop & 0xff]);
      this.xmit(skb, dev, m);
      return;
    }
    let n = this.lookup(dev, nexthop);
    const now = net.now();
    if (!n) n = this.create(dev, nexthop, 0);
    n.used = now;
    switch (n.nudState) {
      case NUD_PERMANENT: case NUD_NOARP: case NUD_REACHABLE: case NUD_DELAY: case NUD_PROBE:
        this.xmit(skb, dev, n.mac);
        return;
      case NUD_STALE:
        // Use it, and ask for confirmation in delay_first_probe_time.
        n.nudState = NUD_DELAY;
        n.updated = now;
        this.arm(n, net.sysctl.delay_first_probe_time * 1e9);
        this.xmit(skb, dev, n.mac);
        return;
      case NUD_INCOMPLETE:
        this.enqueue(n, skb);
        return;
      default: // new or FAILED: start resolving
        n.nudState = NUD_INCOMPLETE;
        n.probes = 0;
        n.updated = now;
        this.enqueue(n, skb);
        this.solicit(n, skb);
        n.probes++;
        this.arm(n, net.sysctl.retrans_time_ms * NS_PER_MS);
    }
  }

  private enqueue(n: Neighbour, skb: SkBuff): void {
    const limit = this.net.sysctl.unres_qlen_bytes;
    const size = skb.buf.length;
    while (n.queue.length && n.queueBytes + size > limit) {
      const old = n.queue.shift()!;
      n.queueBytes -= old.buf.length;
      this.unresDiscards++;
    }
    if (size > limit) { this.unresDiscards++; return; }
    n.queue.push(skb);
    n.queueBytes += size;
  }

  private xmit(skb: SkBuff, dev: NetDevice, mac: Uint8Array): void {
    dev.headerOps?.create(skb, dev, ETH_P_IP, mac);
    this.net.devQueueXmit(skb);
  }

  /** arp_solicit: request for n.ip, broadcast while INCOMPLETE, unicast when probing. */
  private solicit(n: Neighbour, skb: SkBuff | null): void {
    let saddr = 0;
    // The packet's own source, when it is ours on this device (arp_announce 0).
    if (skb && skb.len >= 20) {
      const s = ipv4FromBytes(skb.buf, skb.data + 12);
      if (this.net.addrsOf(n.dev).some((a) => a.local === s)) saddr = s;
    }
    if (!saddr) saddr = this.net.inetSelectAddr(n.dev, n.ip);
    const dst = n.nudState & (NUD_PROBE) ? n.mac : null;
    this.send(ARPOP_REQUEST, n.dev, n.ip, saddr, dst, null);
  }

  /** arp_send: build and transmit one ARP packet. */
  send(op: number, dev: NetDevice, tip: number, sip: number, destHw: Uint8Array | null, targetHw: Uint8Array | null): void {
    if (dev.flags & IFF_NOARP) return;
    const skb = SkBuff.alloc(ARP_HLEN);
    const off = skb.put(ARP_HLEN);
    writeArp(skb.buf, off, op, dev.mac, sip, targetHw ?? MAC_ZERO, tip);
    skb.dev = dev;
    dev.headerOps?.create(skb, dev, ETH_P_ARP, destHw ?? dev.broadcast);
    this.net.devQueueXmit(skb);
  }

  // --- timers ---------------------------------------------------------------------------------

  /** neigh_timer_handler */
  private timerHandler(n: Neighbour): void {
    if (this.entries.get(this.key(n.dev, n.ip)) !== n || this.net.halted) return;
    const s = this.net.sysctl;
    const now = this.net.now();
    switch (n.nudState) {
      case NUD_REACHABLE:
        if (now >= n.confirmed + n.reachableTimeNs) {
          n.nudState = NUD_STALE; n.updated = now;
          // A stale entry nobody uses is collected after gc_stale_time.
          this.arm(n, s.gc_stale_time * 1e9);
        } else this.arm(n, n.confirmed + n.reachableTimeNs - now);
        return;
      case NUD_STALE:
        if (now - n.used >= s.gc_stale_time * 1e9) this.destroy(n);
        else this.arm(n, n.used + s.gc_stale_time * 1e9 - now);
        return;
      case NUD_DELAY:
        if (now < n.confirmed + n.reachableTimeNs) {
          n.nudState = NUD_REACHABLE; n.updated = now;
          this.arm(n, n.confirmed + n.reachableTimeNs - now);
          return;
        }
        n.nudState = NUD_PROBE; n.updated = now; n.probes = 0;
        break;
      case NUD_INCOMPLETE: case NUD_PROBE:
        break;
      default:
        return;
    }
    // INCOMPLETE or PROBE: another request, or give up.
    const max = n.nudState === NUD_INCOMPLETE ? s.mcast_solicit + s.app_solicit : s.ucast_solicit + s.app_solicit;
    if (n.probes >= max) {
      n.nudState = NUD_FAILED; n.updated = now;
      this.failQueue(n);
      return;
    }
    this.solicit(n, n.queue[n.queue.length - 1] ?? null);
    n.probes++;
    this.arm(n, s.retrans_time_ms * NS_PER_MS);
  }

  /** arp_error_report: every packet that waited gets ICMP host unreachable. */
  private failQueue(n: Neighbour): void {
    const q = n.queue;
    n.queue = []; n.queueBytes = 0;
    for (const skb of q) {
      skb.networkHeader = skb.data;
      this.net.icmpSend(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
    }
  }

  /** neigh_update: a link address learned for n; sends what was waiting when it becomes valid. */
  private update(n: Neighbour, mac: Uint8Array, state: number): void {
    const now = this.net.now();
    if (n.nudState & (NUD_PERMANENT | NUD_NOARP)) return;
    const changed = !macEqual(n.mac, mac);
    if (state === NUD_STALE && !changed && n.nudState & NUD_VALID) {
      // Same address, unconfirmed news: keep the current state (neigh_update without OVERRIDE).
      return;
    }
    n.mac = mac.slice(0, 6);
    n.nudState = state;
    n.updated = now;
    if (state === NUD_REACHABLE) {
      n.confirmed = now;
      n.reachableTimeNs = this.randomReachableTime();
      this.arm(n, n.reachableTimeNs);
    } else {
      this.arm(n, this.net.sysctl.gc_stale_time * 1e9);
    }
    if (n.queue.length) {
      const q = n.queue;
      n.queue = []; n.queueBytes = 0;
      for (const skb of q) this.xmit(skb, n.dev, n.mac);
    }
  }

  // --- input ----------------------------------------------------------------------------------

  /** arp_rcv + arp_process. Never throws on bad input. */
  receive(skb: SkBuff, dev: NetDevice): void {
    if (dev.flags & (IFF_NOARP | IFF_LOOPBACK)) return;
    const p = parseArp(skb.buf.subarray(0, skb.tail), skb.data);
    if (!p) return;
    if (p.op !== ARPOP_REQUEST && p.op !== ARPOP_REPLY) return;
    const { sip, tip } = { sip: p.spa, tip: p.tpa };
    if (ipv4IsMulticast(tip) || ipv4IsLoopback(tip) || ipv4IsMulticast(sip) || ipv4IsLoopback(sip)) return;
    // A sender claiming a multicast or our own link address is bogus.
    if (!isValidEtherAddr(p.sha) && p.op === ARPOP_REPLY) return;
    if (macEqual(p.sha, dev.mac)) return;
    const net = this.net;
    const tipLocal = net.isLocalAddr(tip);

    if (sip === 0) {
      if (p.op === ARPOP_REQUEST && tipLocal) this.send(ARPOP_REPLY, dev, sip, tip, p.sha, p.sha);
      return;
    }
    if (p.op === ARPOP_REQUEST && tipLocal) {
      let n = this.lookup(dev, sip);
      if (!n) n = this.create(dev, sip, 0);
      this.update(n, p.sha, NUD_STALE);
      this.send(ARPOP_REPLY, dev, sip, tip, p.sha, p.sha);
      return;
    }
    // Replies and other people's requests (gratuitous included) refresh what we know.
    const n = this.lookup(dev, sip);
    if (!n) return;
    const state = p.op === ARPOP_REPLY && skb.pktType === PACKET_HOST ? NUD_REACHABLE : NUD_STALE;
    this.update(n, p.sha, state);
  }

  // --- administration -------------------------------------------------------------------------

  /** "ip neigh replace ip lladdr mac nud permanent dev X". */
  addPermanent(dev: NetDevice, ip: number, mac: Uint8Array): void {
    if (!isValidEtherAddr(mac) && !(mac[0]! & 1)) fail(EINVAL);
    let n = this.lookup(dev, ip);
    if (!n) n = this.create(dev, ip, NUD_PERMANENT);
    n.timer?.cancel(); n.timer = null;
    n.mac = mac.slice(0, 6);
    n.nudState = NUD_PERMANENT;
    if (n.queue.length) {
      const q = n.queue; n.queue = []; n.queueBytes = 0;
      for (const skb of q) this.xmit(skb, dev, n.mac);
    }
  }

  delete(dev: NetDevice, ip: number): boolean {
    const n = this.lookup(dev, ip);
    if (!n) return false;
    n.queue = [];
    this.destroy(n);
    return true;
  }

  flushDev(dev: NetDevice): void {
    for (const n of [...this.entries.values()]) if (n.dev === dev) { n.queue = []; this.destroy(n); }
  }

  /** /proc/net/arp (arp_seq_show). */
  procNetArp(): string {
    let s = 'IP address       HW type     Flags       HW address            Mask     Device\n';
    for (const n of this.entries.values()) {
      if (n.nudState & NUD_NOARP) continue;
      let flags = n.nudState & NUD_VALID ? ATF_COM : 0;
      if (n.nudState & NUD_PERMANENT) flags |= ATF_PERM;
      const hw = n.nudState & NUD_VALID ? macToString(n.mac) : '00:00:00:00:00:00';
      s += `${ipv4ToString(n.ip).padEnd(16, ' ')} 0x${n.dev.type.toString(16).padEnd(10, ' ')}0x${flags.toString(16).padEnd(10, ' ')}` +
        `${hw.padEnd(17, ' ')}     *        ${n.dev.name}\n`;
    }
    return s;
  }
}

const tables = new WeakMap<NetNamespace, ArpTable>();

/** arp_init: registers ETH_P_ARP input and the IPv4 neighbour layer. */
export function arpInit(net: NetNamespace): ArpTable {
  let t = tables.get(net);
  if (t) return t;
  const tbl = new ArpTable(net);
  tables.set(net, tbl);
  net.devAddPack(ETH_P_ARP, (skb, dev) => tbl.receive(skb, dev));
  net.neighRegister(ETH_P_IP, { output: (skb, dev, nh) => tbl.output(skb, dev, nh), flushDev: (dev) => tbl.flushDev(dev) });
  return tbl;
}

export function arpTable(net: NetNamespace): ArpTable {
  return tables.get(net) ?? fail(ENODEV, 'ARP not initialised');
}

/** /proc/net/arp of a namespace. */
export function procNetArp(net: NetNamespace): string {
  return arpTable(net).procNetArp();
}
