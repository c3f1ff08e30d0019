/*
 * The two ends of a copy, behind one interface each, so that the tree copy (tree.ts) is written
 * once for both directions: cptofs reads the host and writes the kernel, cpfromfs the reverse.
 *
 * Every path here is a byte string: one JS char per byte (latin1), the way the kernel names
 * files internally. Host paths are turned into Buffers with that encoding and kernel paths into
 * Uint8Arrays, so names that are not UTF-8 are copied unchanged in both directions.
 *
 * A failure is thrown as an object carrying a positive errno (CopyError), whichever side it
 * comes from; tree.ts decides which ones are fatal.
 */

export interface Ts { sec: number; nsec: number }

export interface Meta {
  /** S_IFMT bits. */
  fmt: number;
  /** Permission bits, 07777. */
  perm: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** Identity of the inode on its side ("dev:ino"), for hard links. */
  key: string;
  major: number;
  minor: number;
  atime: Ts;
  mtime: Ts;
  /** Status change time: only mkfs -d's mke2fs style carries it over (see tree.ts). */
  ctime: Ts;
}

export interface Reader {
  /** Fill buf from the current position: bytes read, 0 at the end. */
  read(buf: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

export interface Writer {
  /** Write all of buf at byte offset pos. */
  pwrite(buf: Uint8Array, pos: number): Promise<void>;
  /** Set the final size (after skipped holes). */
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export interface SourceSide {
  lstat(p: string): Promise<Meta>;
  /** Names in a directory, "." and ".." left out, in listing order. */
  list(p: string): Promise<string[]>;
  readlink(p: string): Promise<string>;
  /** Every extended attribute, not following a symlink; [] when the filesystem has none. */
  xattrs(p: string): Promise<Array<[string, Uint8Array]>>;
  open(p: string): Promise<Reader>;
  /** Optional: the tree at p (a copy source) is about to be copied; fetch what can be fetched at once. */
  prepare?(p: string): Promise<void>;
  /** Optional: a directory's entries are about to be copied; fetch what can be fetched at once. */
  prefetch?(dir: string, names: string[]): Promise<void>;
}

export interface DestSide {
  /** S_IFMT of what is at p (not following a symlink), or null when nothing is. */
  typeAt(p: string): Promise<number | null>;
  /** Remove a non-directory. */
  unlink(p: string): Promise<void>;
  mkdir(p: string, perm: number): Promise<void>;
  /** Create a regular file exclusively (EEXIST when anything is at p, a symlink included). */
  create(p: string, perm: number): Promise<Writer>;
  symlink(target: string, p: string): Promise<void>;
  link(existing: string, p: string): Promise<void>;
  mknod(p: string, fmt: number, perm: number, major: number, minor: number): Promise<void>;
  lchown(p: string, uid: number, gid: number): Promise<void>;
  /** chmod of a directory or regular file (never through a symlink). */
  chmod(p: string, perm: number): Promise<void>;
  lsetxattr(p: string, name: string, value: Uint8Array): Promise<void>;
  /**
   * Access and modification times, not following a symlink. `ctime`, when given, is the status
   * change time the object should be left with; a side that cannot set it ignores it.
   */
  lutimes(p: string, atime: Ts, mtime: Ts, ctime?: Ts): Promise<void>;
}

/** A failure with its errno (positive). */
export class CopyError extends Error {
  constructor(readonly errno: number, readonly op: string) { super(`${op}: errno ${errno}`); }
}

export const toBytes = (s: string): Uint8Array => {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
};
export const fromBytes = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};
/** A byte-string path for messages: UTF-8 decoded, U+FFFD for bytes that are not. */
export const shownPath = (s: string): string => new TextDecoder().decode(toBytes(s));
/** A command-line argument (UTF-8 text) as a byte string. */
export const argBytes = (s: string): string => fromBytes(new TextEncoder().encode(s));
