/*
 * A byte FIFO for the send and receive queues: append at the tail, read or drop at the head,
 * peek anywhere. Storage grows by doubling and is compacted when the consumed head gets large,
 * so a long bulk transfer costs amortised O(1) per byte. The capacity limit (SO_SNDBUF /
 * SO_RCVBUF) is enforced by the connection, not here.
 */
export class ByteQueue {
  private buf = new Uint8Array(4096);
  private head = 0;
  private tail = 0;

  get length(): number { return this.tail - this.head; }

  push(data: Uint8Array): void {
    if (this.tail + data.length > this.buf.length) {
      const len = this.length;
      if (len + data.length <= this.buf.length >> 1) {
        this.buf.copyWithin(0, this.head, this.tail);
      } else {
        let cap = this.buf.length;
        while (cap < (len + data.length) * 2) cap *= 2;
        const nb = new Uint8Array(cap);
        nb.set(this.buf.subarray(this.head, this.tail));
        this.buf = nb;
      }
      this.head = 0; this.tail = len;
    }
    this.buf.set(data, this.tail);
    this.tail += data.length;
  }

  /** A copy of bytes [off, off+len) counted from the head. */
  peek(off: number, len: number): Uint8Array {
    const s = this.head + off;
    return this.buf.slice(s, Math.min(s + len, this.tail));
  }

  /**
   * Bytes [off, off+len) counted from the head, without copying: valid only until the next push,
   * drop or read (segment building copies them straight into the segment).
   */
  view(off: number, len: number): Uint8Array {
    const s = this.head + off;
    return this.buf.subarray(s, Math.min(s + len, this.tail));
  }

  /**
   * Copy up to `n` bytes starting `off` bytes from the head into `dst` at `at`, with no
   * intermediate array; nothing is removed (drop() does that). Returns the count copied.
   */
  copyOut(dst: Uint8Array, at: number, off: number, n: number): number {
    const s = this.head + off;
    const len = Math.min(n, this.tail - s, dst.length - at);
    if (len <= 0) return 0;
    if (len === 1) dst[at] = this.buf[s]!;
    else dst.set(this.buf.subarray(s, s + len), at);
    return len;
  }

  /** Remove and return up to n bytes from the head. */
  read(n: number): Uint8Array {
    const out = this.peek(0, n);
    this.drop(out.length);
    return out;
  }

  drop(n: number): void {
    this.head += Math.min(n, this.length);
    if (this.head === this.tail) { this.head = this.tail = 0; }
  }

  clear(): void { this.head = this.tail = 0; }
}
