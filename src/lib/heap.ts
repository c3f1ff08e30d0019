/* A binary min-heap keyed by a number; used for timer deadlines. */
export class MinHeap<T> {
  private items: { key: number; seq: number; value: T }[] = [];
  private seq = 0;
  get size(): number { return this.items.length; }
  push(key: number, value: T): void {
    const a = this.items;
    a.push({ key, seq: this.seq++, value });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!]; i = p;
    }
  }
  peekKey(): number | undefined { return this.items[0]?.key; }
  peek(): T | undefined { return this.items[0]?.value; }
  pop(): T | undefined {
    const a = this.items;
    if (!a.length) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!]; i = m;
      }
    }
    return top.value;
  }
  clear(): void { this.items = []; }
  /** Every value, in no particular order. */
  *values(): IterableIterator<T> { for (const it of this.items) yield it.value; }
  private less(i: number, j: number): boolean {
    const a = this.items[i]!, b = this.items[j]!;
    return a.key < b.key || (a.key === b.key && a.seq < b.seq);
  }
}
