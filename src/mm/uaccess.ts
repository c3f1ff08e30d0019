/*
 * "User memory" at the syscall boundary. A JS caller has no address space, so pointer arguments
 * arrive as JS values and these helpers are copy_from_user/copy_to_user for them:
 *   - a path: a string (UTF-8 encoded here) or a Uint8Array (bytes up to the first NUL);
 *   - a buffer: a Uint8Array the kernel reads from or writes into;
 *   - a struct: a Uint8Array holding the exact asm-generic ABI layout, or a plain object whose
 *     fields the kernel fills (typed wrappers use those).
 * Anything else is EFAULT, as a bad pointer would be.
 */
import { fail } from '../lib/errors.js';
import { EFAULT, ENAMETOOLONG } from '../uapi/errno.js';
import { toByteString, bytesToByteString, type ByteString } from '../lib/bytestr.js';

export const PATH_MAX = 4096;

/** strncpy_from_user for a path argument. */
export function getPath(arg: unknown): ByteString {
  if (typeof arg === 'string') {
    const s = toByteString(arg);
    const nul = s.indexOf('\0');
    const r = nul >= 0 ? s.slice(0, nul) : s;
    if (r.length >= PATH_MAX) fail(ENAMETOOLONG);
    return r;
  }
  if (arg instanceof Uint8Array) {
    let end = arg.indexOf(0);
    if (end < 0) end = arg.length;
    if (end >= PATH_MAX) fail(ENAMETOOLONG);
    return bytesToByteString(arg, 0, end);
  }
  fail(EFAULT);
}

/** A user buffer (read or written by the kernel). `len` limits it like the count argument. */
export function userBuf(arg: unknown, len?: number): Uint8Array {
  if (!(arg instanceof Uint8Array)) {
    if (ArrayBuffer.isView(arg)) return new Uint8Array(arg.buffer, arg.byteOffset, Math.min(arg.byteLength, len ?? arg.byteLength));
    fail(EFAULT);
  }
  if (len === undefined || len >= arg.length) return arg;
  if (len < 0) fail(EFAULT);
  return arg.subarray(0, len);
}

/** copy_to_user of a struct: bytes via `encode`, or fields into a plain object. */
export function putStruct<T extends object>(arg: unknown, value: T, encode: (v: T, out: Uint8Array) => void): void {
  if (arg instanceof Uint8Array) { encode(value, arg); return; }
  if (typeof arg === 'object' && arg !== null) { Object.assign(arg, value); return; }
  fail(EFAULT);
}

/** Is this argument a NULL pointer? */
export function isNull(arg: unknown): boolean { return arg === null || arg === undefined || arg === 0; }

/** An integer argument (longs arrive as numbers; bigint accepted for 64-bit values). */
export function toInt(arg: unknown): number {
  if (typeof arg === 'number') return Math.trunc(arg);
  if (typeof arg === 'bigint') return Number(BigInt.asIntN(64, arg));
  if (arg === undefined || arg === null) return 0;
  if (typeof arg === 'boolean') return arg ? 1 : 0;
  fail(EFAULT);
}
/** As the kernel sees an `int`: the low 32 bits, signed. */
export function toInt32(arg: unknown): number { return toInt(arg) | 0; }
/** As an `unsigned int`. */
export function toUint32(arg: unknown): number { return toInt(arg) >>> 0; }
