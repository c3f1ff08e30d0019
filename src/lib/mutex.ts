/*
 * A sleeping lock held across awaits (Linux's mutex / rw_semaphore). Code between two awaits is
 * already atomic on the one kernel thread, so these are needed only where a critical section
 * itself waits (disk I/O under a directory lock, a journal handle). Each user states what it guards.
 */
export class Mutex {
  private locked = false;
  private waiters: (() => void)[] = [];

  /** Uncontended acquisition does not await. */
  tryLock(): boolean {
    if (this.locked) return false;
    this.locked = true;
    return true;
  }

  lock(): Promise<void> | void {
    if (!this.locked) { this.locked = true; return; }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next) next(); // ownership passes directly to the next waiter
    else this.locked = false;
  }

  get isLocked(): boolean { return this.locked; }
}

/** Readers share, a writer excludes (i_rwsem). Writers are not starved: a waiting writer blocks new readers. */
export class RwSem {
  private readers = 0;
  private writer = false;
  private queue: { write: boolean; resolve: () => void }[] = [];

  readLock(): Promise<void> | void {
    if (!this.writer && this.queue.length === 0) { this.readers++; return; }
    return new Promise<void>((resolve) => this.queue.push({ write: false, resolve }));
  }
  writeLock(): Promise<void> | void {
    if (!this.writer && this.readers === 0) { this.writer = true; return; }
    return new Promise<void>((resolve) => this.queue.push({ write: true, resolve }));
  }
  readUnlock(): void { this.readers--; this.dispatch(); }
  writeUnlock(): void { this.writer = false; this.dispatch(); }

  private dispatch(): void {
    while (this.queue.length && !this.writer) {
      const head = this.queue[0]!;
      if (head.write) {
        if (this.readers > 0) return;
        this.queue.shift(); this.writer = true; head.resolve(); return;
      }
      this.queue.shift(); this.readers++; head.resolve();
    }
  }
}
