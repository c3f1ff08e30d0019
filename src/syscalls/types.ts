/*
 * What a syscall table entry is. Handlers are thin (decode, validate, delegate, roll back): they
 * run as the calling task, throw KernelError on failure (dispatch turns it into -errno) and return
 * a non-negative number on success.
 */
import type { Task } from '../kernel/index.js';

// Arguments are JS values (numbers, strings, Uint8Array, plain objects); see src/mm/uaccess.ts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SyscallHandler = (t: Task, ...args: any[]) => number | Promise<number>;

/** full: Linux semantics; partial: works with the limits in `note`; none: -ENOSYS, `note` says why. */
export type SupportLevel = 'full' | 'partial' | 'none';

export interface SyscallDef {
  name: string;
  handler: SyscallHandler;
  support?: Exclude<SupportLevel, 'none'>;
  note?: string;
}

export interface SyscallEntry {
  nr: number;
  name: string;
  handler: SyscallHandler | null;
  support: SupportLevel;
  note: string;
}
