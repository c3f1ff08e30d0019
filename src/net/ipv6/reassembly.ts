/*
 * IPv6 reassembly (net/ipv6/reassembly.c). Fragments of one packet share source, destination
 * and the 32-bit identification of their fragment header. Each queue keeps the unfragmentable
 * part (the IPv6 header and any extension headers before the fragment header) of the first
 * fragment and the data pieces by offset; when the last fragment has fixed the total length
 * and the pieces cover it without a hole, the packet is rebuilt: unfragmentable part, then the
 * data, with the header that pointed at the fragment header now naming what followed it.
 *
 * Limits as Linux's: a queue lives ip6frag_time (60 s), after which the source hears ICMPv6
 * time exceeded (fragment reassembly time exceeded) if the first fragment had arrived; while
 * queued fragments hold more than ip6frag_high_thresh (4 MiB) new fragments are dropped.
 * Overlapping fragments discard the whole packet (RFC 5722); an exact duplicate is ignored.
 * Held bytes are charged to the kernel's memory budget.
 */
import { IPV6_HLEN, ICMPV6_TIME_EXCEED } from '../header/index.js';
import { SkBuff } from '../core/index.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';
import { a6key, a6isLinkLocal, a6isMulticast } from './addr.js';
import type { Ipv6State } from './state.js';

export const ICMPV6_EXC_HOPLIMIT = 0;
export const ICMPV6_EXC_FRAGTIME = 1;

interface Piece { offset: number; data: Uint8Array }
interface FragQueue {
  key: string;
  pieces: Piece[];
  /** Total data length once the last fragment is in, else -1. */
  total: number;
  meat: number;
  bytes: number;
  /** The first fragment: unfragmentable part and where its next-header byte sits in it. */
  unfrag: Uint8Array | null;
  nhoffRel: number;
  nexthdr: number;
  firstSkb: SkBuff | null;
  timer: KernelTimer | null;
}

export interface FragResult { skb: SkBuff; nextOff: number; nexthdr: number; nhoff: number }

export class Frag6Table {
  readonly st: Ipv6State;
  readonly queues = new Map<string, FragQueue>();
  memBytes = 0;

  constructor(st: Ipv6State) { this.st = st; }

  /**
   * Adds the fragment whose fragment header is at absolute offset `fh` of skb (network header
   * at skb.networkHeader, `nhoff` the byte naming the fragment header). Returns the rebuilt
   * packet (with the offsets of the header after the fragment header) or null while incomplete.
   * The caller has checked the length and offset rules.
   */
  add(skb: SkBuff, fh: number, nhoff: number): FragResult | null {
    const st = this.st, net = st.net;
    const b = skb.buf, nh = skb.networkHeader;
    net.count('Ip6ReasmReqds');
    const saddr = b.subarray(nh + 8, nh + 24), daddr = b.subarray(nh + 24, nh + 40);
    const id = ((b[fh + 4]! << 24) | (b[fh + 5]! << 16) | (b[fh + 6]! << 8) | b[fh + 7]!) >>> 0;
    const offw = (b[fh + 2]! << 8) | b[fh + 3]!;
    const offset = offw & 0xfff8, more = (offw & 1) === 1;
    const dataStart = fh + 8, end = skb.tail;
    const len = end - dataStart;
    const iif = a6isLinkLocal(saddr) || a6isLinkLocal(daddr) || a6isMulticast(daddr) ? (skb.dev?.ifindex ?? 0) : 0;
    const key = `${a6key(saddr)}/${a6key(daddr)}/${id}/${iif}`;
    let q = this.queues.get(key);
    if (!q) {
      if (this.memBytes > st.sysctl.ip6frag_high_thresh) { net.count('Ip6ReasmFails'); return null; }
      q = { key, pieces: [], total: -1, meat: 0, bytes: 0, unfrag: null, nhoffRel: 0, nexthdr: 0, firstSkb: null, timer: null };
      this.queues.set(key, q);
      const qq = q;
      q.timer = net.k.clock.addTimer(net.now() + st.sysctl.ip6frag_time * 1e9, () => {
        net.k.queueWork(() => this.expire(qq));
      }, true);
    }
    const fend = offset + len;
    if (!more) {
      if (fend < q.meat || (q.total >= 0 && q.total !== fend) || q.pieces.some((p) => p.offset + p.data.length > fend)) {
        this.kill(q); net.count('Ip6ReasmFails'); return null;
      }
      q.total = fend;
    } else if (q.total >= 0 && fend > q.total) { this.kill(q); net.count('Ip6ReasmFails'); return null; }
    for (const p of q.pieces) {
      const pend = p.offset + p.data.length;
      if (p.offset === offset && pend === fend) return null; // duplicate
      if (offset < pend && p.offset < fend) { this.kill(q); net.count('Ip6ReasmFails'); return null; }
    }
    if (len > 0) {
      if (!net.memCharge(len)) { net.count('Ip6ReasmFails'); return null; }
      q.bytes += len; this.memBytes += len;
      q.pieces.push({ offset, data: b.slice(dataStart, end) });
      q.pieces.sort((x, y) => x.offset - y.offset);
      q.meat += len;
    }
    if (offset === 0) {
      q.unfrag = b.slice(nh, fh);
      q.nhoffRel = nhoff - nh;
      q.nexthdr = b[fh]!;
      q.firstSkb = skb.copy();
      q.firstSkb.networkHeader = nh;
    }
    if (q.total < 0 || !q.unfrag || q.meat !== q.total) return null;
    // Complete: rebuild.
    const unfrag = q.unfrag;
    const plen = unfrag.length - IPV6_HLEN + q.total;
    this.kill(q);
    if (plen > 0xffff) { net.count('Ip6ReasmFails'); return null; }
    const whole = SkBuff.alloc(unfrag.length + q.total);
    const o = whole.put(unfrag.length + q.total);
    whole.buf.set(unfrag, o);
    for (const p of q.pieces) whole.buf.set(p.data, o + unfrag.length + p.offset);
    whole.buf[o + 4] = plen >>> 8; whole.buf[o + 5] = plen & 0xff;
    whole.buf[o + q.nhoffRel] = q.nexthdr;
    whole.networkHeader = o;
    whole.dev = skb.dev; whole.pktType = skb.pktType; whole.protocol = skb.protocol; whole.tstamp = skb.tstamp;
    net.count('Ip6ReasmOKs');
    return { skb: whole, nextOff: o + unfrag.length, nexthdr: q.nexthdr, nhoff: o + q.nhoffRel };
  }

  private kill(q: FragQueue): void {
    q.timer?.cancel(); q.timer = null;
    if (this.queues.get(q.key) === q) this.queues.delete(q.key);
    this.st.net.memUncharge(q.bytes);
    this.memBytes -= q.bytes;
    q.bytes = 0;
  }

  /** ip6_frag_expire */
  private expire(q: FragQueue): void {
    if (this.queues.get(q.key) !== q) return;
    const net = this.st.net;
    this.kill(q);
    net.count('Ip6ReasmTimeout');
    net.count('Ip6ReasmFails');
    if (q.firstSkb && !net.halted) icmp6SendHook(this.st)?.(q.firstSkb, ICMPV6_TIME_EXCEED, ICMPV6_EXC_FRAGTIME, 0);
  }

  clear(): void { for (const q of [...this.queues.values()]) this.kill(q); }
}

/** The ICMPv6 error sender, set by the icmpv6 unit (reassembly must not import it: a cycle). */
const senders = new WeakMap<Ipv6State, (skb: SkBuff, type: number, code: number, info: number) => void>();
export function setIcmp6SendHook(st: Ipv6State, fn: (skb: SkBuff, type: number, code: number, info: number) => void): void { senders.set(st, fn); }
export function icmp6SendHook(st: Ipv6State): ((skb: SkBuff, type: number, code: number, info: number) => void) | undefined { return senders.get(st); }
