/*
 * The tree walk: every object under a directory of the kernel's namespace, turned into tar
 * entries through system calls only (the public API of src/lkl.ts), as LKL's fs2tar does it.
 *
 * Order is pre-order in getdents64 order, the order GNU tar uses without --sort: a directory's
 * header comes before its contents (extractors set directory times after filling them).
 *
 * The walk moves the task's working directory down the tree (fchdir into a directory, chdir("..")
 * back) and names every object by its last component relative to it. So no path ever reaches
 * PATH_MAX however deep the tree, and only one directory descriptor is open at a time: a
 * directory is listed completely, then closed, before its children are visited. The lxattr calls
 * have no *at form, which is why the cwd moves rather than a descriptor per level.
 *
 * Names are bytes from end to end (getdents64 gives bytes; paths are passed as Uint8Array), so a
 * name that is not UTF-8 survives into the archive unchanged.
 *
 * Per object: newfstatat(AT_SYMLINK_NOFOLLOW); llistxattr + lgetxattr for every name (all of
 * them, not only the last one as LKL's fs2tar keeps); then by type. Regular files and directories
 * that getdents64 typed (d_type DT_REG, DT_DIR) are opened first instead, and fstat, flistxattr
 * and fgetxattr then work on the descriptor: one path lookup per object instead of three. An
 * object whose type changed since the listing goes the path way.
 *   regular file   open(O_RDONLY|O_NOFOLLOW) and read(2) in 256 KiB chunks into the entry;
 *                  a second name of an inode with nlink > 1 becomes a hard-link entry instead
 *   directory      header, then its contents
 *   symlink        readlink target
 *   char/block     header with devmajor/devminor; fifo: header only
 *   socket         skipped with a warning, as GNU tar does ("socket ignored")
 * A failure on one object (EIO, EUCLEAN from a damaged image) is reported on stderr and the walk
 * goes on, as GNU tar does; a file whose read fails is padded with zeros to its stated size so
 * the archive stays well formed. The caller turns any such failure into exit status 1.
 */
import type { KernelTask } from '../../lkl.js';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC,
} from '../../uapi/fcntl.js';
import {
  S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, MAJOR, MINOR, type Kstat,
} from '../../uapi/stat.js';
import { ERANGE, EOPNOTSUPP, ENODATA } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';
import type { TarWriter, TarEntry, TarEntryType } from './tar_writer.js';

export const READ_CHUNK = 256 * 1024;
const XATTR_LIST_MAX = 65536, XATTR_SIZE_MAX = 65536;

export interface WalkHooks {
  /** A non-fatal problem, already worded ("./a/b: socket ignored"). */
  warn?(msg: string): void;
  /** An object with security.selinux: its image path ("/etc/passwd") and the context bytes. */
  selinux?(imagePath: Uint8Array, context: Uint8Array): void;
  /** Called as work progresses: content bytes read and entries written so far. */
  progress?(bytes: number, entries: number): void;
}

export interface WalkResult {
  /** Entries written to the archive. */
  entries: number;
  /** Regular-file content bytes archived. */
  bytes: number;
  /** Objects that could not be archived completely (each reported through warn). */
  errors: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const DOT = enc.encode('.');
/** d_type values of getdents64 (DT_*). */
const DT_UNKNOWN = 0, DT_DIR = 4, DT_REG = 8;
const DOTDOT = enc.encode('..');
const SLASH = 0x2f;

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + 1 + b.length);
  out.set(a); out[a.length] = SLASH; out.set(b, a.length + 1);
  return out;
}

/** The names in the first `n` bytes of a listxattr buffer (NUL-terminated, in listing order). */
export function xattrNames(list: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n;) {
    let end = list.indexOf(0, i);
    if (end < 0 || end > n) end = n;
    if (end > i) out.push(list.slice(i, end));
    i = end + 1;
  }
  return out;
}

/** A name for messages: UTF-8 with U+FFFD for bytes that are not. */
export function shown(b: Uint8Array): string { return dec.decode(b); }

class Walker {
  private readonly links = new Map<string, Uint8Array>();
  private readonly listBuf = new Uint8Array(XATTR_LIST_MAX);
  private readonly valueBuf = new Uint8Array(XATTR_SIZE_MAX);
  private readonly dirBuf = new Uint8Array(65536);
  private readonly linkBuf = new Uint8Array(4096);
  /** File data, READ_CHUNK at a time (not zero-filled: read(2) overwrites what it returns). */
  private readonly readBuf = Buffer.allocUnsafe(READ_CHUNK);
  readonly result: WalkResult = { entries: 0, bytes: 0, errors: 0 };

  constructor(private readonly t: KernelTask, private readonly tar: TarWriter, private readonly hooks: WalkHooks) {}

  private fail(ap: Uint8Array, what: string, r: number): void {
    this.result.errors++;
    this.hooks.warn?.(`${shown(ap)}: ${what}${what ? ': ' : ''}${strerror(r)}`);
  }

  private tick(): void { this.hooks.progress?.(this.result.bytes, this.result.entries); }

  /**
   * Every extended attribute of `name` (not following a symlink), or of the open descriptor `fd`,
   * in listing order.
   */
  private async xattrs(name: Uint8Array, ap: Uint8Array, fd = -1): Promise<Array<[Uint8Array, Uint8Array]> | null> {
    const sys = this.t.sys;
    const listxattr = (b: Uint8Array | null, size: number) => (fd >= 0 ? sys.flistxattr(fd, b, size) : sys.llistxattr(name, b, size));
    let list = this.listBuf;
    let n = await listxattr(list, list.length);
    if (n === -ERANGE) {
      // Cannot happen with a 64 KiB buffer on Linux (XATTR_LIST_MAX); ask for the size anyway.
      const need = await listxattr(null, 0);
      if (need < 0) { this.fail(ap, 'llistxattr', need); return null; }
      list = new Uint8Array(need);
      n = await listxattr(list, list.length);
    }
    if (n === -EOPNOTSUPP) return [];
    if (n < 0) { this.fail(ap, 'llistxattr', n); return null; }
    if (n === 0) return [];
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const key of xattrNames(list, n)) {
      const v = fd >= 0
        ? await sys.fgetxattr(fd, key, this.valueBuf, this.valueBuf.length)
        : await sys.lgetxattr(name, key, this.valueBuf, this.valueBuf.length);
      if (v === -ENODATA) continue; // removed since the listing: nothing to keep
      if (v < 0) { this.fail(ap, `lgetxattr ${shown(key)}`, v); continue; }
      out.push([key, this.valueBuf.slice(0, v)]);
    }
    return out;
  }

  /** The entry for an object (type set later), reporting its SELinux context on the way. */
  private entry(st: Kstat, ap: Uint8Array, isRoot: boolean, xattrs: Array<[Uint8Array, Uint8Array]>): TarEntry {
    if (this.hooks.selinux) {
      const sel = xattrs.find(([k]) => dec.decode(k) === 'security.selinux');
      if (sel) {
        // "/" + path below the root, as LKL names entries; the context up to its NUL.
        const ip = isRoot ? enc.encode('/') : ap.subarray(1);
        const nul = sel[1].indexOf(0);
        this.hooks.selinux(ip, nul < 0 ? sel[1] : sel[1].subarray(0, nul));
      }
    }
    return {
      path: ap, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid,
      mtime: st.mtime, atime: st.atime, ctime: st.ctime, xattrs,
    };
  }

  /**
   * A regular file or directory as getdents64 typed it: opened first, then described through the
   * descriptor. Returns false, having archived nothing, when the object is not (or no longer) of
   * that type or cannot be opened: the caller then takes the path way, which reports errors.
   */
  private async visitOpen(name: Uint8Array, ap: Uint8Array, isRoot: boolean, dir: boolean): Promise<boolean> {
    const sys = this.t.sys;
    const fd = await sys.openat(AT_FDCWD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (dir ? O_DIRECTORY : 0), 0);
    if (fd < 0) return false;
    let closed = false;
    try {
      const st = {} as Kstat;
      if (await sys.fstat(fd, st) < 0 || (st.mode & S_IFMT) !== (dir ? S_IFDIR : S_IFREG)) return false;
      const xattrs = await this.xattrs(name, ap, fd);
      if (xattrs === null) return true;
      const e = this.entry(st, ap, isRoot, xattrs);
      if (!dir) {
        if (this.hardLink(st, ap, e)) { e.type = 'link'; await this.emit(e); return true; }
        await this.body(fd, ap, st, e);
        return true;
      }
      e.type = 'directory';
      await this.emit(e);
      closed = true;
      await this.descend(fd, ap, isRoot);
      return true;
    } finally {
      if (!closed) await sys.close(fd);
    }
  }

  /**
   * Archive one object named `name` in the working directory, as archive path `ap`; `dtype` is
   * its d_type from the listing (DT_UNKNOWN for the root).
   */
  async visit(name: Uint8Array, ap: Uint8Array, isRoot = false, dtype = DT_UNKNOWN): Promise<void> {
    if ((dtype === DT_REG || dtype === DT_DIR) && await this.visitOpen(name, ap, isRoot, dtype === DT_DIR)) return;
    const sys = this.t.sys;
    const st = {} as Kstat;
    const r = await sys.newfstatat(AT_FDCWD, name, st, AT_SYMLINK_NOFOLLOW);
    if (r < 0) { this.fail(ap, 'lstat', r); return; }
    const fmt = st.mode & S_IFMT;
    if (fmt === S_IFSOCK) {
      this.hooks.warn?.(`${shown(ap)}: socket ignored`);
      return;
    }
    const xattrs = await this.xattrs(name, ap);
    if (xattrs === null) return;
    const e = this.entry(st, ap, isRoot, xattrs);
    switch (fmt) {
      case S_IFREG: return this.regular(name, ap, st, e);
      case S_IFDIR: {
        e.type = 'directory';
        await this.emit(e);
        const fd = await sys.openat(AT_FDCWD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) { this.fail(ap, 'open directory', fd); return; }
        return this.descend(fd, ap, isRoot);
      }
      case S_IFLNK: {
        const n = await sys.readlinkat(AT_FDCWD, name, this.linkBuf, this.linkBuf.length);
        if (n < 0) { this.fail(ap, 'readlink', n); return; }
        e.type = 'symlink';
        e.linkpath = this.linkBuf.slice(0, n);
        // A hard-linked symlink is one inode too: later names become link entries.
        if (this.hardLink(st, ap, e)) e.type = 'link';
        return this.emit(e);
      }
      case S_IFCHR: case S_IFBLK:
        e.type = fmt === S_IFCHR ? 'character-device' : 'block-device';
        e.devmajor = MAJOR(st.rdev);
        e.devminor = MINOR(st.rdev);
        if (this.hardLink(st, ap, e)) e.type = 'link';
        return this.emit(e);
      case S_IFIFO:
        e.type = 'fifo';
        if (this.hardLink(st, ap, e)) e.type = 'link';
        return this.emit(e);
      default:
        this.result.errors++;
        this.hooks.warn?.(`${shown(ap)}: unknown file type 0${fmt.toString(8)}, ignored`);
    }
  }

  private async emit(e: TarEntry): Promise<void> {
    await this.tar.add(e);
    this.result.entries++;
    this.tick();
  }

  /**
   * A later name of an inode already archived: point `e` at the first name (GNU tar's rule, for
   * any non-directory with nlink > 1). Returns true when it is such a link.
   */
  private hardLink(st: Kstat, ap: Uint8Array, e: TarEntry): boolean {
    if (st.nlink <= 1) return false;
    const key = `${st.dev}:${st.ino}`;
    const first = this.links.get(key);
    if (first === undefined) { this.links.set(key, ap); return false; }
    e.linkpath = first;
    delete e.devmajor; delete e.devminor;
    return true;
  }

  private async regular(name: Uint8Array, ap: Uint8Array, st: Kstat, e: TarEntry): Promise<void> {
    const sys = this.t.sys;
    if (st.nlink > 1 && this.links.has(`${st.dev}:${st.ino}`)) {
      this.hardLink(st, ap, e);
      e.type = 'link';
      return this.emit(e);
    }
    const fd = await sys.openat(AT_FDCWD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) { this.fail(ap, 'open', fd); return; }
    try {
      this.hardLink(st, ap, e);
      await this.body(fd, ap, st, e);
    } finally {
      await sys.close(fd);
    }
  }

  /** A regular file's entry and contents, read from `fd` (the caller closes it). */
  private async body(fd: number, ap: Uint8Array, st: Kstat, e: TarEntry): Promise<void> {
    const sys = this.t.sys;
    const size = st.size;
    e.type = 'file';
    e.size = size;
    const body = (await this.tar.add(e))!;
    let done = 0;
    let failed = false;
    while (done < size) {
      const want = Math.min(READ_CHUNK, size - done);
      // One buffer for every read: the writer is done with a chunk once write() resolves.
      const buf = this.readBuf.subarray(0, want);
      let n = failed ? 0 : await sys.read(fd, buf, want);
      if (n < 0) { this.fail(ap, `read error at byte ${done}`, n); failed = true; n = 0; }
      if (n === 0) {
        // Short file or failed read: pad to the size already in the header.
        if (!failed) {
          this.result.errors++;
          this.hooks.warn?.(`${shown(ap)}: file shrank by ${size - done} bytes; padding with zeros`);
          failed = true;
        }
        buf.fill(0);
        await body.write(buf);
        done += want;
        continue;
      }
      await body.write(n === want ? buf : buf.subarray(0, n));
      done += n;
      this.result.bytes += n;
      this.tick();
    }
    await body.end();
    this.result.entries++;
    this.tick();
  }

  /** List the directory open as `fd` completely, close it, then visit each entry from inside it. */
  private async descend(fd: number, ap: Uint8Array, isRoot: boolean): Promise<void> {
    const sys = this.t.sys;
    const names: Uint8Array[] = [];
    const types: number[] = [];
    let entered = false;
    try {
      const buf = this.dirBuf;
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (;;) {
        const n = await sys.getdents64(fd, buf, buf.length);
        if (n < 0) { this.fail(ap, 'getdents64', n); break; }
        if (n === 0) break;
        for (let off = 0; off < n;) {
          const reclen = v.getUint16(off + 16, true);
          let end = buf.indexOf(0, off + 19);
          if (end < 0 || end > off + reclen) end = off + reclen;
          const nm = buf.slice(off + 19, end);
          off += reclen;
          if (eq(nm, DOT) || eq(nm, DOTDOT)) continue;
          names.push(nm);
          types.push(buf[off - reclen + 18]!);
        }
      }
      if (!isRoot) {
        const c = await sys.fchdir(fd);
        if (c < 0) { this.fail(ap, 'chdir', c); return; }
        entered = true;
      }
    } finally {
      await sys.close(fd);
    }
    try {
      for (let i = 0; i < names.length; i++) await this.visit(names[i]!, join(ap, names[i]!), false, types[i]);
    } finally {
      if (entered) {
        const c = await sys.chdir(DOTDOT);
        // Losing our place would misname everything after: stop rather than guess.
        if (c < 0) throw new Error(`cannot return from ${shown(ap)}: ${strerror(c)}`);
      }
    }
  }
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Archive the tree at `root` (a directory in t's namespace) into `tar`. Entry names are relative:
 * "./" for the root itself, then "./name", "./dir/name", as `tar -C root -cf - .` names them.
 * The task's working directory is left at `root`.
 */
export async function archiveTree(t: KernelTask, root: string | Uint8Array, tar: TarWriter, hooks: WalkHooks = {}): Promise<WalkResult> {
  const r = await t.sys.chdir(root);
  if (r < 0) throw Object.assign(new Error(`${typeof root === 'string' ? root : shown(root)}: ${strerror(r)}`), { errno: -r });
  const w = new Walker(t, tar, hooks);
  await w.visit(DOT, DOT, true);
  return w.result;
}

export type { TarEntryType };
