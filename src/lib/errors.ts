/*
 * The kernel's one error type. Kernel code throws KernelError(errno) on failure; the syscall
 * layer is the single place that turns it into a negative return value (see src/kernel/README.md).
 */
import { errnoName } from '../uapi/errno.js';

/**
 * Errors the kernel returns as -errno are ordinary results (ENOENT from a lookup, EAGAIN from a
 * non-blocking read), not bugs: they are made without a stack trace, which cost more than the
 * work of the call that failed. `KernelError.traces = true` brings the traces back for debugging.
 */
export class KernelError extends Error {
  static traces = false;
  readonly errno: number;
  constructor(errno: number, detail?: string) {
    const E = Error as { stackTraceLimit?: number };
    const limit = E.stackTraceLimit;
    if (!KernelError.traces) E.stackTraceLimit = 0;
    try {
      super(detail ? `${errnoName[errno] ?? `errno ${errno}`}: ${detail}` : (errnoName[errno] ?? `errno ${errno}`));
    } finally {
      E.stackTraceLimit = limit;
    }
    this.errno = errno;
  }
}

/** Throw KernelError(errno). Typed `never` so it can end an expression. */
export function fail(errno: number, detail?: string): never {
  throw new KernelError(errno, detail);
}

export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<T>).then === 'function';
}
