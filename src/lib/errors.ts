/*
 * The kernel's one error type. Kernel code throws KernelError(errno) on failure; the syscall
 * layer is the single place that turns it into a negative return value (see src/kernel/README.md).
 */
import { errnoName } from '../uapi/errno.js';

export class KernelError extends Error {
  readonly errno: number;
  constructor(errno: number, detail?: string) {
    super(detail ? `${errnoName[errno] ?? `errno ${errno}`}: ${detail}` : (errnoName[errno] ?? `errno ${errno}`));
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
