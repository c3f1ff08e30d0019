/*
 * The packet buffer (Linux's sk_buff, reduced): one Uint8Array holding the packet, with offsets
 *
 *     0 ........ data ............ tail ........ buf.length
 *     |headroom  |  the packet      | tailroom    |
 *
 * A sender allocates with headroom for every header below it (MAX_HEADER), writes its payload
 * with put(), and each layer going down prepends its header with push() — no copying. A receiver
 * gets the whole frame and each layer going up strips its header with pull(), remembering where
 * it began (macHeader, networkHeader, transportHeader are absolute offsets into buf).
 *
 * Rules: offsets returned by put/push/pull are absolute indexes into `buf`; a layer that needs
 * more headroom than there is calls push() anyway and the buffer is reallocated (skb_cow_head).
 * An skb belongs to whoever holds it: passing it down or up hands it over; keep a copy() to
 * retain the bytes.
 */

/** Room reserved in front of outgoing data: link header (16) + IPv6 (40) + TCP with options (60) + slack. */
export const MAX_HEADER = 128;

// Packet types as eth_type_trans classifies them (uapi linux/if_packet.h).
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;
export const PACKET_LOOPBACK = 5;

/** A device as the skb sees it (the NetDevice type lives in netdevice.ts; this avoids a cycle). */
export interface SkbDevice { readonly ifindex: number; readonly name: string }

export class SkBuff {
  buf: Uint8Array;
  data: number;
  tail: number;
  /** Device received on, or to send through. */
  dev: SkbDevice | null = null;
  /** EtherType of the network-layer payload (ETH_P_IP...), set by the link layer on input. */
  protocol = 0;
  pktType = PACKET_HOST;
  macHeader = -1;
  networkHeader = -1;
  transportHeader = -1;
  /** Monotonic ns when received (or queued), for sockets' timestamps and reassembly. */
  tstamp = 0;

  constructor(buf: Uint8Array, data: number, tail: number) {
    this.buf = buf; this.data = data; this.tail = tail;
  }

  /** An empty skb able to hold `size` bytes of payload after `headroom` bytes of header room. */
  static alloc(size: number, headroom = MAX_HEADER): SkBuff {
    return new SkBuff(new Uint8Array(headroom + size), headroom, headroom);
  }

  /** A received frame, copied (the driver's buffer stays the driver's). */
  static fromBytes(frame: Uint8Array, headroom = 0): SkBuff {
    const b = new Uint8Array(headroom + frame.length);
    b.set(frame, headroom);
    return new SkBuff(b, headroom, headroom + frame.length);
  }

  get len(): number { return this.tail - this.data; }
  get headroom(): number { return this.data; }
  get tailroom(): number { return this.buf.length - this.tail; }

  /** The packet bytes from data to tail (a view). */
  bytes(): Uint8Array { return this.buf.subarray(this.data, this.tail); }

  /** Appends n bytes at the tail, growing the buffer if needed; returns their offset. */
  put(n: number): number {
    if (this.tailroom < n) this.realloc(this.data, n - this.tailroom);
    const at = this.tail;
    this.tail += n;
    return at;
  }

  /** Appends bytes at the tail. */
  putBytes(src: Uint8Array): number {
    const at = this.put(src.length);
    this.buf.set(src, at);
    return at;
  }

  /** Prepends n bytes (a header) in the headroom, reallocating when short; returns the new data offset. */
  push(n: number): number {
    if (this.data < n) this.realloc(n - this.data + MAX_HEADER, 0);
    this.data -= n;
    return this.data;
  }

  /** Strips n bytes from the front; false (and nothing changes) when fewer than n remain. */
  pull(n: number): boolean {
    if (n > this.len || n < 0) return false;
    this.data += n;
    return true;
  }

  /** Cuts the packet to `len` bytes (drops link padding beyond the IP total length). */
  trim(len: number): void { if (len < this.len) this.tail = this.data + len; }

  /** A deep copy (same offsets). */
  copy(): SkBuff {
    const c = new SkBuff(this.buf.slice(), this.data, this.tail);
    c.dev = this.dev; c.protocol = this.protocol; c.pktType = this.pktType;
    c.macHeader = this.macHeader; c.networkHeader = this.networkHeader;
    c.transportHeader = this.transportHeader; c.tstamp = this.tstamp;
    return c;
  }

  private realloc(extraHead: number, extraTail: number): void {
    const nb = new Uint8Array(this.buf.length + extraHead + extraTail);
    nb.set(this.buf, extraHead);
    this.buf = nb;
    this.data += extraHead; this.tail += extraHead;
    if (this.macHeader >= 0) this.macHeader += extraHead;
    if (this.networkHeader >= 0) this.networkHeader += extraHead;
    if (this.transportHeader >= 0) this.transportHeader += extraHead;
  }
}
