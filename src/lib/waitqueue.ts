/*
 * Wait queues: where a task sleeps until something changes.
 *
 * The kernel runs on one JS thread, so "sleeping" is awaiting a promise that a waker resolves.
 * A waiter re-checks its condition after every wake-up (wakeups may be spurious), exactly as with
 * Linux's wait_event(). Besides sleepers, a queue holds persistent callbacks: poll tables and
 * epoll register those to learn of readiness changes without sleeping themselves.
 */
export type WakeCallback = (key: number) => void;

interface Sleeper { resolve: (reason: number) => void }

export class WaitQueue {
  private sleepers: Sleeper[] = [];
  private callbacks = new Set<WakeCallback>();

  /** Sleep until the next wake-up. Resolves with the wake key (0 = normal; an errno to abort). */
  sleep(): Promise<number> {
    return new Promise<number>((resolve) => { this.sleepers.push({ resolve }); });
  }

  /** Wake every sleeper and tell every callback. `key` carries poll bits or an abort errno. */
  wakeAll(key = 0): void {
    if (this.sleepers.length) {
      const s = this.sleepers;
      this.sleepers = [];
      for (const w of s) w.resolve(key);
    }
    if (this.callbacks.size) for (const cb of [...this.callbacks]) cb(key);
  }

  /** Wake the oldest sleeper only (exclusive wait, as for accept or a mutex). */
  wakeOne(key = 0): boolean {
    const w = this.sleepers.shift();
    if (w) w.resolve(key);
    if (this.callbacks.size) for (const cb of [...this.callbacks]) cb(key);
    return w !== undefined;
  }

  addCallback(cb: WakeCallback): void { this.callbacks.add(cb); }
  removeCallback(cb: WakeCallback): void { this.callbacks.delete(cb); }
  get active(): boolean { return this.sleepers.length > 0 || this.callbacks.size > 0; }
  get sleeping(): number { return this.sleepers.length; }
}
