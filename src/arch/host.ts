/*
 * HostOps: the whole contract between the kernel and the world it runs in, in the spirit of
 * LKL's struct lkl_host_operations. Only src/arch/<host>/ implements it and only those folders
 * (and src/apps/) may touch Node or browser APIs.
 *
 * Threads, semaphores, TLS and jmp_bufs of LKL's table have no counterpart: the kernel runs on
 * the host's one JS thread and tasks are async functions (see architecture.md, Concurrency).
 */

/** A one-shot timer (LKL timer_alloc/timer_set_oneshot/timer_free). */
export interface HostTimer {
  /** Arm (or re-arm) to fire once after deltaNs nanoseconds. */
  setOneshot(deltaNs: number): void;
  /** Disarm without freeing. */
  cancel(): void;
  /** Disarm and release; the timer must not be used again. */
  free(): void;
}

export interface HostTimerOptions {
  /**
   * A background timer (periodic writeback, a journal commit interval) must not by itself keep the
   * host process alive; a foreground one (a sleeping syscall) must.
   */
  background?: boolean;
}

/**
 * A disk as the host provides it (LKL's lkl_dev_blk_ops): byte-addressed, capacity fixed when the
 * disk is added. Synchronous where the host can be (file images via positioned I/O, memory), a
 * promise where it cannot (HTTP ranges, browser files). A failed or short transfer throws.
 */
export interface DiskBackend {
  /** Size in bytes. */
  readonly capacity: number;
  /** Writes are refused (the image was opened read-only or is write-protected). */
  readonly readOnly: boolean;
  /** Fill `buf` from byte `offset`. */
  read(buf: Uint8Array, offset: number): void | Promise<void>;
  /** Store `buf` at byte `offset`. */
  write(buf: Uint8Array, offset: number): void | Promise<void>;
  /** Make everything written so far durable (fdatasync; a barrier). */
  flush(): void | Promise<void>;
  /** The range is no longer used (TRIM); optional. */
  discard?(offset: number, length: number): void | Promise<void>;
  /** Release the backend (close the file). */
  close?(): void | Promise<void>;
}

export interface HostOps {
  /** Short name shown in the boot log ("node", "fake", "browser"). */
  readonly name: string;
  /** Monotonic clock in nanoseconds (LKL's time()); never goes backwards. */
  time(): number;
  /** Wall clock at this moment: seconds and nanoseconds since the Unix epoch. */
  wallClock(): { sec: number; nsec: number };
  /** Allocate a one-shot timer calling fn on expiry. fn runs as an interrupt: it must only queue work. */
  timerAlloc(fn: () => void, opts?: HostTimerOptions): HostTimer;
  /** Console output (printk). Optional: absent means a silent kernel. */
  print?(text: string): void;
  /** Kernel panic. Must not return. */
  panic(message: string): never;
  /** Fill buf with cryptographically strong random bytes. */
  entropy(buf: Uint8Array): void;
  /** Run fn soon, after the current call stack unwinds (how interrupts reach the kernel). */
  defer(fn: () => void): void;
  /** Free-form description for /proc/version and uname (host runtime and version). */
  readonly description: string;
  /** Open a disk image by host path (Node: a file; absent where the host has no files). */
  openDisk?(path: string, opts: { readOnly: boolean }): DiskBackend;
}
