/*
 * The differential fuzzer's operations and their seeded generator.
 *
 * An operation is a JSON tuple close to one system call, run the same way on both kernels: by our
 * executor (exec_lkl.ts, through k.sys.*) and by the host one (host_ops.py, through libc's raw
 * syscall()). Operations that need a file descriptor (write, fallocate, fsync) open the path,
 * make the one call and close it again, so a sequence carries no fd state and any sub-list of it
 * is still a valid sequence — which is what lets the shrinker drop operations freely.
 *
 *   ['creat', path, how, mode]          openat(O_WRONLY|O_CREAT [|O_EXCL if how=1 |O_TRUNC if how=2]) + close → 0
 *   ['write', path, off, len, seed]     open O_WRONLY, pwrite64(pattern(seed, len), off)
 *   ['truncate', path, len]             truncate(2)
 *   ['fallocate', path, mode, off, len] open O_WRONLY, fallocate
 *   ['fsync', path, dataOnly]           open O_RDONLY, fsync or fdatasync
 *   ['rename', from, to, flags]         renameat2 (RENAME_NOREPLACE=1, RENAME_EXCHANGE=2)
 *   ['link', from, to]  ['unlink', p]  ['rmdir', p]  ['mkdir', p, mode]  ['symlink', target, p]
 *   ['chmod', p, mode]                  fchmodat
 *   ['utimens', p, atime, mtime, flags] utimensat with explicit [sec, nsec] times (or 'OMIT')
 *   ['setxattr', p, name, len, seed, flags, nofollow]   setxattr / lsetxattr
 *   ['removexattr', p, name, nofollow]                  removexattr / lremovexattr
 *
 * Paths are relative to the mount point and Unicode in JSON; both executors hand the kernel their
 * UTF-8 bytes. Symlink targets are relative and never contain "..", so following one never leaves
 * the image — on the host a write through an escaping link would land on the real filesystem.
 *
 * The generator keeps a rough model of the tree (which paths exist, and as what) only to aim most
 * operations at names that exist; the model is never an oracle — Linux is. Explicit times are all
 * before 2020 (EXPLICIT_TIME_LIMIT), so a time at or after it in the final tree came from the clock.
 */

export type Time = [number, number] | 'OMIT';
export type FuzzOp =
  | ['creat', string, number, number]
  | ['write', string, number, number, number]
  | ['truncate', string, number]
  | ['fallocate', string, number, number, number]
  | ['fsync', string, number]
  | ['rename', string, string, number]
  | ['link', string, string]
  | ['unlink', string]
  | ['rmdir', string]
  | ['mkdir', string, number]
  | ['symlink', string, string]
  | ['chmod', string, number]
  | ['utimens', string, Time, Time, number]
  | ['setxattr', string, string, number, number, number, number]
  | ['removexattr', string, string, number];
export type OpKind = FuzzOp[0];
export type OpResult = number | string;

export const OP_KINDS: OpKind[] = [
  'creat', 'write', 'truncate', 'fallocate', 'fsync', 'rename', 'link', 'unlink', 'rmdir', 'mkdir',
  'symlink', 'chmod', 'utimens', 'setxattr', 'removexattr',
];

/** Explicit times are before this (2020-09-13); times at or after it came from the clock. */
export const EXPLICIT_TIME_LIMIT = 1_600_000_000;

export const FALLOC_MODES: number[] = [0, 0x01, 0x03, 0x10, 0x11]; // 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE(|KEEP_SIZE)
export const AT_SYMLINK_NOFOLLOW = 0x100;

/**
 * The variant of an operation a probe can find unsupported: fallocate and rename per mode/flags
 * (a kernel may do plain rename but not RENAME_EXCHANGE), the rest per kind.
 */
export function variantOf(op: FuzzOp): string {
  if (op[0] === 'fallocate') return `fallocate:${op[2]}`;
  if (op[0] === 'rename') return `rename:${op[3]}`;
  return op[0];
}

/** The bytes a write or an xattr value carries (host_ops.py computes the same). */
export function pattern(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let j = 0; j < n; j++) b[j] = (seed + j * 31 + (j >> 9) * 7) & 0xff;
  return b;
}

/** xorshift32: small, seedable, the same on every platform. */
export function rng(seed: number): () => number {
  let x = (seed >>> 0) ^ 0x9e3779b9 || 1;
  const next = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
  for (let i = 0; i < 8; i++) next();
  return next;
}

/**
 * The namespace: about twenty names, some at the 255-byte limit (ASCII and multi-byte UTF-8), one
 * over it, some non-ASCII, and lost+found itself.
 */
export const NAMES: string[] = [
  'f0', 'f1', 'f2', 'f3', 'f4', 'd0', 'd1', 'd2', 'x', 'a b', '.hidden', 'lost+found',
  'é', '日本語', '🙂', 'L'.repeat(255), 'ü'.repeat(127), '日'.repeat(85), 'N'.repeat(256),
];

/** Symlink targets: names, paths below, a slow-symlink length, a too-long component, dangling ones. */
const TARGETS: string[] = [
  'f0', 'f1', 'd0', 'd0/f1', 'd1/d2/f0', 'x', 'é', 'nowhere', `t${'y'.repeat(70)}`, 'z'.repeat(300), 'q/'.repeat(700) + 'q', '.',
];

// A non-ASCII name ('user.é') belongs here too, but test/fixtures/lkl.ts's walker passes xattr names
// to lgetxattr as latin1 strings (which the kernel re-encodes as UTF-8), so it cannot read one back.
const XATTR_NAMES = ['user.a', 'user.b', 'user.c', `user.${'n'.repeat(200)}`, 'user.x_y', 'trusted.t'];

type Kind = 'f' | 'd' | 'l';

const WEIGHTS: [OpKind, number][] = [
  ['creat', 10], ['write', 15], ['truncate', 6], ['fallocate', 8], ['fsync', 3], ['rename', 11],
  ['link', 4], ['unlink', 6], ['mkdir', 7], ['rmdir', 3], ['symlink', 4], ['chmod', 4],
  ['utimens', 5], ['setxattr', 8], ['removexattr', 3],
];

export interface GenOptions {
  /** Variants (see variantOf) to leave out: the probe found them unsupported. */
  disabled?: Set<string>;
}

/** A reproducible sequence of `count` operations for `seed`. */
export function generate(seed: number, count: number, o: GenOptions = {}): FuzzOp[] {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const chance = (p: number): boolean => r() < p;
  const disabled = o.disabled ?? new Set<string>();
  const model = new Map<string, Kind>([['lost+found', 'd']]);
  const join = (d: string, n: string): string => (d === '' ? n : `${d}/${n}`);
  const parentOf = (p: string): string => { const i = p.lastIndexOf('/'); return i < 0 ? '' : p.slice(0, i); };
  const isDir = (p: string): boolean => p === '' || model.get(p) === 'd';
  const dirs = (): string[] => ['', ...[...model].filter(([, k]) => k === 'd').map(([p]) => p)];
  const existing = (want?: Kind): string[] => [...model].filter(([, k]) => !want || k === want).map(([p]) => p);
  const fresh = (): string => join(chance(0.93) ? pick(dirs()) : pick(['nodir', 'f0', 'd9/d8']), pick(NAMES));
  const path = (want?: Kind, p = 0.7): string => {
    const e = existing(want);
    return e.length > 0 && chance(p) ? pick(e) : fresh();
  };
  const offset = (): number => {
    const k = r();
    if (k < 0.35) return int(9000);
    if (k < 0.65) return int(80) * 4096 + (chance(0.5) ? 0 : int(4096));
    if (k < 0.85) return int(400_000);
    if (k < 0.99) return int(2 ** 32);
    // Rare: a 16 TiB sparse file costs the walkers a GiB of hashed zeros (a window per GiB).
    return 2 ** 44 - 4096 * int(3) - int(8192); // around ext4's 16 TiB limit: EFBIG and short writes
  };
  const length = (): number => {
    const k = r();
    if (k < 0.3) return int(100);
    if (k < 0.8) return int(20_000);
    return int(120_000);
  };
  const mode = (): number => (chance(0.15) ? int(0o10000) : pick([0o644, 0o600, 0o755, 0o700, 0o444, 0o1777, 0o2755, 0o4755]));
  const time = (): Time => (chance(0.1) ? 'OMIT' : [chance(0.1) ? -int(2 ** 31) : int(EXPLICIT_TIME_LIMIT), int(1e9)]);
  const rm = (p: string): void => { for (const q of [...model.keys()]) if (q === p || q.startsWith(`${p}/`)) model.delete(q); };
  const move = (from: string, to: string): void => {
    const moved = [...model].filter(([q]) => q === from || q.startsWith(`${from}/`));
    rm(from);
    for (const [q, k] of moved) model.set(to + q.slice(from.length), k);
  };
  const addable = (p: string): boolean => !model.has(p) && isDir(parentOf(p));

  const weights = WEIGHTS.filter(([k]) => k === 'fallocate' || k === 'rename' || !disabled.has(k));
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const ops: FuzzOp[] = [];
  while (ops.length < count) {
    let x = r() * total, kind: OpKind = weights[0]![0];
    for (const [k, w] of weights) { if ((x -= w) < 0) { kind = k; break; } }
    let op: FuzzOp;
    switch (kind) {
      case 'creat': {
        const p = path('f', 0.2);
        op = ['creat', p, int(3), mode()];
        if (addable(p)) model.set(p, 'f');
        break;
      }
      case 'write': op = ['write', path('f', 0.9), offset(), length(), int(256)]; break;
      case 'truncate': op = ['truncate', path('f', 0.9), chance(0.05) ? 2 ** 44 + int(2) : chance(0.5) ? int(20_000) : offset()]; break;
      case 'fallocate': {
        const m = pick(FALLOC_MODES.filter((v) => !disabled.has(`fallocate:${v}`)).concat(chance(0.05) ? [0x02] : []));
        if (m === undefined) continue;
        op = ['fallocate', path('f', 0.9), m, offset(), chance(0.03) ? 0 : length() + 1];
        break;
      }
      case 'fsync': op = ['fsync', path(undefined, 0.9), int(2)]; break;
      case 'rename': {
        const flags = pick([0, 0, 0, 1, 2].filter((v) => !disabled.has(`rename:${v}`)).concat(chance(0.03) ? [3] : []));
        if (flags === undefined) continue;
        const from = path(undefined, 0.85);
        const to = chance(0.5) ? path(chance(0.5) ? model.get(from) : undefined, 0.8) : fresh();
        op = ['rename', from, to, flags];
        if (model.has(from) && from !== to && !to.startsWith(`${from}/`)) {
          if (flags === 2) {
            if (model.has(to)) { const tmp = '\0tmp'; move(from, tmp); move(to, from); move(tmp, to); }
          } else if (isDir(parentOf(to)) && !(flags === 1 && model.has(to))) { rm(to); move(from, to); }
        }
        break;
      }
      case 'link': {
        const from = path('f', 0.9), to = fresh();
        op = ['link', from, to];
        if (model.get(from) === 'f' && addable(to)) model.set(to, 'f');
        break;
      }
      case 'unlink': { const p = path(chance(0.8) ? 'f' : undefined, 0.85); op = ['unlink', p]; if (model.get(p) === 'f' || model.get(p) === 'l') model.delete(p); break; }
      case 'rmdir': {
        const p = path('d', 0.85);
        op = ['rmdir', p];
        if (isDir(p) && p !== '' && ![...model.keys()].some((q) => q.startsWith(`${p}/`))) model.delete(p);
        break;
      }
      case 'mkdir': { const p = path('d', 0.15); op = ['mkdir', p, mode()]; if (addable(p)) model.set(p, 'd'); break; }
      case 'symlink': { const p = fresh(); op = ['symlink', pick(TARGETS), p]; if (addable(p)) model.set(p, 'l'); break; }
      case 'chmod': op = ['chmod', path(undefined, 0.9), mode()]; break;
      case 'utimens': op = ['utimens', path(undefined, 0.9), time(), time(), chance(0.25) ? AT_SYMLINK_NOFOLLOW : 0]; break;
      case 'setxattr': {
        const n = chance(0.15) ? 1000 + int(3500) : int(200);
        op = ['setxattr', path(undefined, 0.9), pick(XATTR_NAMES), n, int(256), pick([0, 0, 1, 2]), int(2)];
        break;
      }
      case 'removexattr': op = ['removexattr', path(undefined, 0.9), pick(XATTR_NAMES), int(2)]; break;
    }
    if (disabled.has(variantOf(op))) continue;
    ops.push(op);
  }
  return ops;
}
