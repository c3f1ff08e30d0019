/*
 * IPv4 reassembly (net/ipv4/ip_fragment.c) with Linux's defences against memory abuse.
 *
 * Fragments are grouped by (source, destination, identification, protocol). Each queue holds its
 * fragments sorted by offset; the datagram is rebuilt once the last fragment (MF clear) has given
 * the total length and the fragments cover [0, length) without a gap.
 *
 * Limits, as Linux: all queues of a namespace together may hold ipfrag_high_thresh bytes (4 MiB);
 * past it no new queue is created (its fragments are dropped). A queue lives ipfrag_time (30 s)
 * from its first fragment; on expiry it is dropped, with ICMP time exceeded (fragment reassembly
 * time exceeded) when the first fragment had arrived. A fragment that overlaps one already queued
 * kills the whole datagram (RFC 5722's rule, which Linux applies to IPv4 since 4.19); an exact
 * duplicate (inside one queued fragment) is just ignored. A reassembled datagram longer than
 * 65535 bytes, or fragments disagreeing about the end, kill the queue.
 */
import {
  IP_MF, IP_OFFSET, IP_MAXPACKET, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, ipv4SendCheck, type Ipv4Header,
} from '../header/index.js';
import { SkBuff, MAX_HEADER, type NetNamespace } from '../core/index.js';
import type { KernelTimer } from '../../kernel/ktime/index.js';

/** Per-queue bookkeeping charged on top of the data, like an skb's truesize overhead. */
const FRAG_OVERHEAD = 256;

interface Frag { offset: number; end: number; data: Uint8Array }

interface FragQueue {
  key: string;
  frags: Frag[];
  /** Total payload length once the last fragment is known, else 0. */
  len: number;
  lastIn: boolean;
  meat: number;
  mem: number;
  /** The offset-0 fragment's IP header (for the rebuilt datagram and ICMP errors). */
  firstHdr: Uint8Array | null;
  firstSkb: SkBuff | null;
  timer: KernelTimer | null;
}

export class FragTable {
  readonly net: NetNamespace;
  readonly queues = new Map<string, FragQueue>();
  /** Bytes held by all queues (frag_mem_limit). */
  mem = 0;

  constructor(net: NetNamespace) { this.net = net; }

  /**
   * ip_defrag: adds one fragment (skb.data at its IP header, trimmed to its total length).
   * Returns the reassembled datagram as a new skb when complete, else null.
   */
  add(skb: SkBuff, iph: Ipv4Header): SkBuff | null {
    const net = this.net;
    net.count('IpReasmReqds');
    const ihl = iph.ihl * 4;
    const offset = (iph.fragOff & IP_OFFSET) * 8;
    let end = offset + iph.totLen - ihl;
    const key = `${iph.saddr}/${iph.daddr}/${iph.id}/${iph.protocol}`;
    let q = this.queues.get(key);
    if (!q) {
      if (this.mem > net.sysctl.ipfrag_high_thresh || !net.sysctl.ipfrag_high_thresh) { net.count('IpReasmFails'); return null; }
      q = { key, frags: [], len: 0, lastIn: false, meat: 0, mem: FRAG_OVERHEAD, firstHdr: null, firstSkb: null, timer: null };
      this.queues.set(key, q);
      this.mem += FRAG_OVERHEAD;
      const qq = q;
      q.timer = net.k.clock.addTimer(net.now() + net.sysctl.ipfrag_time * 1e9, () => {
        net.k.queueWork(() => this.expire(qq));
      }, true);
    }
    if (!(iph.fragOff & IP_MF)) {
      // The last fragment: the end must agree with what is queued.
      if (end < q.len || (q.lastIn && end !== q.len)) { this.kill(q); net.count('IpReasmFails'); return null; }
      q.lastIn = true;
      q.len = end;
    } else {
      // Fragments other than the last carry multiples of 8 bytes.
      end &= ~7;
      if (end > q.len) {
        if (q.lastIn) { this.kill(q); net.count('IpReasmFails'); return null; }
        q.len = end;
      }
    }
    if (end === offset) return null; // nothing in it
    if (end > IP_MAXPACKET - ihl) { this.kill(q); net.count('IpReasmFails'); return null; }

    // Insert sorted; refuse overlaps.
    let i = 0;
    while (i < q.frags.length && q.frags[i]!.offset < offset) i++;
    for (const f of q.frags) {
      if (offset < f.end && end > f.offset) {
        if (offset >= f.offset && end <= f.end) return null; // duplicate
        this.kill(q);
        net.count('IpReasmOverlaps');
        net.count('IpReasmFails');
        return null;
      }
    }
    if (!net.memCharge(end - offset + (offset === 0 ? ihl : 0))) { net.count('IpReasmFails'); return null; }
    const data = skb.buf.slice(skb.data + ihl, skb.data + ihl + (end - offset));
    q.frags.splice(i, 0, { offset, end, data });
    q.meat += end - offset;
    q.mem += data.length;
    this.mem += data.length;
    if (offset === 0) {
      q.firstHdr = skb.buf.slice(skb.data, skb.data + ihl);
      q.firstSkb = skb;
      q.mem += ihl; this.mem += ihl;
    }
    if (q.lastIn && q.meat === q.len && q.firstHdr) return this.reasm(q);
    return null;
  }

  private reasm(q: FragQueue): SkBuff | null {
    const hdr = q.firstHdr!;
    const total = hdr.length + q.len;
    this.kill(q);
    if (total > IP_MAXPACKET) { this.net.count('IpReasmFails'); return null; }
    const skb = SkBuff.alloc(total, MAX_HEADER);
    const off = skb.put(total);
    skb.buf.set(hdr, off);
    for (const f of q.frags) skb.buf.set(f.data, off + hdr.length + f.offset);
    skb.buf[off + 2] = total >>> 8; skb.buf[off + 3] = total & 0xff;
    skb.buf[off + 6] = 0; skb.buf[off + 7] = 0;
    ipv4SendCheck(skb.buf, off);
    if (q.firstSkb) { skb.dev = q.firstSkb.dev; skb.pktType = q.firstSkb.pktType; skb.tstamp = q.firstSkb.tstamp; }
    skb.networkHeader = off;
    this.net.count('IpReasmOKs');
    return skb;
  }

  private kill(q: FragQueue): void {
    if (this.queues.get(q.key) !== q) return;
    this.queues.delete(q.key);
    q.timer?.cancel(); q.timer = null;
    this.mem -= q.mem;
    this.net.memUncharge(q.mem - FRAG_OVERHEAD);
  }

  /** ip_expire */
  private expire(q: FragQueue): void {
    if (this.queues.get(q.key) !== q) return;
    q.timer = null;
    this.kill(q);
    this.net.count('IpReasmTimeout');
    this.net.count('IpReasmFails');
    if (q.firstSkb && !this.net.halted) {
      // The ICMP error quotes the first fragment's header and data.
      const skb = q.firstSkb;
      skb.data = skb.networkHeader;
      this.net.icmpSend(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0);
    }
  }

  /** Drops every queue (halt). */
  clear(): void { for (const q of [...this.queues.values()]) this.kill(q); }
}
