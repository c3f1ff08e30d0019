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

/**
 * A network medium as the host provides it (LKL's struct lkl_netdev: a TAP device, a QEMU socket
 * transport, a cable to another kernel). It moves whole Ethernet frames: destination MAC, source
 * MAC, EtherType, payload, without preamble or FCS; 14 to 14 + mtu bytes (+4 with an 802.1Q tag).
 *
 * Receiving is push, not poll: the backend calls the receiver once per frame from a host event
 * (an interrupt, like a timer callback: it must only queue work) and does nothing at all while
 * the medium is idle. With no receiver set, arriving frames are dropped, as by a NIC that is down.
 * The receiver owns the frame it is given.
 *
 * Sending is tx(frame). Like a NIC the backend may drop a frame (no peer connected, medium
 * congested, frame too large for the medium); that is not an error. A returned promise is
 * back-pressure: the frame was taken, but the caller should not send more until it settles. tx
 * does not keep a reference to frame after it returns (or after its promise settles).
 */
export interface NetBackend {
  /** Largest payload after the Ethernet header the medium carries (default 1500). */
  readonly mtu?: number;
  /** A MAC address the host suggests for the kernel's NIC (6 bytes); absent means pick one. */
  readonly mac?: Uint8Array;
  /** Put one frame on the medium. */
  tx(frame: Uint8Array): void | Promise<void>;
  /** Install (or with null, remove) the function called once per received frame. */
  setReceiver(rx: ((frame: Uint8Array) => void) | null): void;
  /** Release the medium (close sockets, stop helper processes); the backend is dead afterwards. */
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
  /**
   * Open a network medium from a textual spec ("tap:tap0", "qemu-stream:connect=127.0.0.1:5555";
   * the syntax is the host's). Absent where the host has no network access.
   */
  openNet?(spec: string): Promise<NetBackend>;
}
