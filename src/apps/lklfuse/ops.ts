/*
 * The FUSE operations, each mapped onto our kernel's system calls.
 *
 * Node ids. FUSE names every object by a 64-bit node id that the daemon hands out in LOOKUP (and
 * CREATE, MKNOD, MKDIR, SYMLINK, LINK, READDIRPLUS) and takes back in FORGET once the host kernel
 * has dropped as many references as it was given. lklfuse keys nodes by their path inside our
 * kernel's mount ("/mnt/0000fe00/a/b", bytes one char each): every change to the namespace comes
 * through us, so a RENAME moves the node (and everything below it) to the new path, and an
 * UNLINK/RMDIR detaches it. Ids are never reused, so the generation number can stay 0. Paths, not
 * inode numbers, because a FAT inode number is only stable while the inode is cached.
 *
 * File handles are our kernel's descriptors (the request tasks share init's descriptor table), so
 * READ and WRITE are pread64/pwrite64 on `fh` and the path never matters for open files. A
 * directory handle also caches the directory's entries, read with getdents64 when READDIR asks
 * for offset 0; the offset handed back with each entry is its index + 1.
 *
 * Everything runs as root in our kernel, as LKL's lklfuse does: permission checks are the host
 * kernel's business (default_permissions) or the mount's (only the mounter, unless allow_other).
 * Errors are Linux errnos from our kernel, passed through unchanged as -errno.
 */
import { isPromise, type KernelTask, type MaybePromise } from '../../lkl.js';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, O_RDONLY, O_DIRECTORY, O_CREAT, O_EXCL, O_NOCTTY, O_ACCMODE, O_WRONLY, O_RDWR, O_APPEND, SEEK_SET,
} from '../../uapi/fcntl.js';
import { S_IFMT, new_encode_dev, UTIME_NOW, UTIME_OMIT, type Kstat } from '../../uapi/stat.js';
import { ENOENT, ENOSYS, ERANGE, EBADF, EIO, ESTALE } from '../../uapi/errno.js';
import { NR } from '../../uapi/unistd.js';
import {
  Op, type InHeader, type FuseAttr, view, u64, setU64, putEntry, putAttr, cstrings, frame, recycleFrame,
  IN_HEADER_SIZE, OUT_HEADER_SIZE, ENTRY_OUT_SIZE, ATTR_OUT_SIZE, OPEN_OUT_SIZE, KSTATFS_SIZE, DIRENT_HEADER_SIZE,
  FUSE_ROOT_ID, FATTR_MODE, FATTR_UID, FATTR_GID, FATTR_SIZE, FATTR_ATIME, FATTR_MTIME, FATTR_FH,
  FATTR_ATIME_NOW, FATTR_MTIME_NOW, FUSE_GETATTR_FH, FUSE_FSYNC_FDATASYNC, FOPEN_KEEP_CACHE,
} from './proto.js';

/** A failed request: its errno goes back in the out header. */
/**
 * An error reply. Made without a stack trace: most are ordinary answers (ENOENT for a lookup,
 * ENODATA for the security.capability the host asks about before every write), and capturing a
 * trace cost more than answering.
 */
export class FuseError extends Error {
  constructor(readonly errno: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try { super(`errno ${errno}`); } finally { Error.stackTraceLimit = limit; }
  }
}

/**
 * What one request produces: a whole reply message (the body at OUT_HEADER_SIZE, the header left
 * for the session to fill), 0 for a reply without body, -errno, or NOREPLY (FORGET...).
 */
export type OpResult = Uint8Array | number;
export const NOREPLY = 1;

/** Replies to READ up to this size come from a small pool of buffers (see FuseFs.recycle). */
const READ_POOL_DATA = 256 * 1024;
const READ_POOL_BYTES = OUT_HEADER_SIZE + READ_POOL_DATA;
const READ_POOL_MAX = 8;
/** Shorthand: where a reply body starts. */
const H = OUT_HEADER_SIZE;

interface Node { id: number; path: string | null; nlookup: number; }

interface DirHandle { entries: { ino: number; type: number; name: Uint8Array }[] | null; }

export interface FsOptions {
  /** Our kernel's mount point of the image ("/mnt/0000fe00"). */
  root: string;
  uid: number | null;
  gid: number | null;
  /** Entry and attribute validity, seconds. */
  timeout: number;
}

const latin1 = (b: Uint8Array): string => { let s = ''; for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!); return s; };
const bytes = (s: string): Uint8Array => { const b = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i); return b; };
/**
 * A path (byte string) as a syscall argument. An ASCII string goes as it is, which the kernel takes
 * unchanged; other bytes would be read as UTF-16 and re-encoded there, so those go as bytes.
 */
const kpath = (s: string): string | Uint8Array => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return bytes(s);
  return s;
};

/** A syscall's result: the value, or a FuseError for -errno. */
function ok(r: number): number { if (r < 0) throw new FuseError(-r); return r; }

export class FuseFs {
  private readonly nodes = new Map<number, Node>();
  private readonly byPath = new Map<string, Node>();
  private nextId = FUSE_ROOT_ID + 1;
  private readonly dirs = new Map<number, DirHandle>();
  /**
   * FUSE_WRITEBACK_CACHE was granted: the host kernel writes back cached pages of files opened
   * write-only (so those must be readable too) and applies O_APPEND itself, from its own idea of
   * the size (so our descriptors must not append again).
   */
  writebackCache = false;
  /** Counts of nodes and handles, for tests and -d. */
  get nodeCount(): number { return this.nodes.size; }

  constructor(private readonly o: FsOptions) {
    const root: Node = { id: FUSE_ROOT_ID, path: o.root, nlookup: 1 };
    this.nodes.set(root.id, root); this.byPath.set(o.root, root);
  }

  /** Open flags as our descriptor needs them under the writeback cache (see writebackCache). */
  private cacheFlags(flags: number): number {
    if (!this.writebackCache) return flags;
    if ((flags & O_ACCMODE) === O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    return flags & ~O_APPEND;
  }

  /** Descriptors still open (file and directory handles), closed at shutdown. */
  readonly open = new Set<number>();

  private pathOf(nodeid: number): string {
    const n = this.nodes.get(nodeid);
    if (!n) throw new FuseError(ESTALE);
    if (n.path === null) throw new FuseError(ENOENT);
    return n.path;
  }
  private child(nodeid: number, name: Uint8Array): string {
    const p = this.pathOf(nodeid);
    const s = latin1(name);
    if (s === '.' ) return p;
    if (s === '..') return nodeid === FUSE_ROOT_ID ? p : p.slice(0, p.lastIndexOf('/'));
    return `${p}/${s}`;
  }
  /** The node for a path, one more lookup reference on it. */
  private ref(path: string): Node {
    let n = this.byPath.get(path);
    if (!n) {
      n = { id: this.nextId++, path, nlookup: 0 };
      this.nodes.set(n.id, n); this.byPath.set(path, n);
    }
    n.nlookup++;
    return n;
  }
  private detach(path: string): void {
    const n = this.byPath.get(path);
    if (n && n.id !== FUSE_ROOT_ID) { this.byPath.delete(path); n.path = null; }
  }
  private forget(nodeid: number, count: number): void {
    const n = this.nodes.get(nodeid);
    if (!n || n.id === FUSE_ROOT_ID) return;
    n.nlookup -= count;
    if (n.nlookup <= 0) {
      this.nodes.delete(nodeid);
      if (n.path !== null && this.byPath.get(n.path) === n) this.byPath.delete(n.path);
    }
  }
  /** A rename moved `from` to `to`: every node at or below `from` follows. */
  private moved(from: string, to: string): void {
    const pre = `${from}/`;
    const hits: Node[] = [];
    for (const [p, n] of this.byPath) if (p === from || p.startsWith(pre)) hits.push(n);
    for (const n of hits) this.byPath.delete(n.path!);
    for (const n of hits) { n.path = to + n.path!.slice(from.length); this.byPath.set(n.path, n); }
  }

  private attr(st: Kstat): FuseAttr {
    return {
      ino: st.ino, size: st.size, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime,
      mode: st.mode, nlink: st.nlink, uid: this.o.uid ?? st.uid, gid: this.o.gid ?? st.gid,
      rdev: new_encode_dev(st.rdev), blksize: st.blksize,
    };
  }
  /**
   * fuse_entry_out for `path` (one more lookup reference on its node) in a reply with `extra`
   * bytes after it, or -errno when it cannot be stat'ed.
   */
  private async entry(t: KernelTask, path: string, extra = 0): Promise<Uint8Array | number> {
    const st = {} as Kstat;
    const r = await t.sys.newfstatat(AT_FDCWD, kpath(path), st, AT_SYMLINK_NOFOLLOW);
    if (r < 0) return r;
    const n = this.ref(path);
    const out = frame(ENTRY_OUT_SIZE + extra);
    putEntry(view(out), H, n.id, 0, this.o.timeout, this.attr(st));
    return out;
  }
  private attrOut(st: Kstat): Uint8Array {
    const out = frame(ATTR_OUT_SIZE);
    const v = view(out);
    setU64(v, H, this.o.timeout);
    putAttr(v, H + 16, this.attr(st));
    return out;
  }

  private readonly readPool: ArrayBuffer[] = [];
  /**
   * A reply has been written (or a READ's was never sent): its buffer may serve another. Only
   * pool-sized buffers come back; several requests can be in flight, each holding its own.
   */
  recycle(out: Uint8Array): void {
    const ab = out.buffer;
    if (ab.byteLength === READ_POOL_BYTES) { if (this.readPool.length < READ_POOL_MAX) this.readPool.push(ab as ArrayBuffer); }
    else recycleFrame(out);
  }

  /**
   * READ and WRITE without a promise when our kernel completes them at once (cached data, a
   * synchronous disk): the session answers those before returning, a few microseconds per request
   * less than through handle()'s awaits. Null for the other operations.
   */
  handleNow(t: KernelTask, h: InHeader, b: Uint8Array, v: DataView): MaybePromise<OpResult> | null {
    const A = IN_HEADER_SIZE;
    if (h.opcode === Op.READ) {
      // Read straight into the reply, after its header; a pooled buffer when the size allows.
      const fh = u64(v, A), off = u64(v, A + 8), size = v.getUint32(A + 16, true);
      const ab = size <= READ_POOL_DATA ? (this.readPool.pop() ?? new ArrayBuffer(READ_POOL_BYTES)) : new ArrayBuffer(H + size);
      const n = t.syscallNow(NR.pread64, fh, new Uint8Array(ab, H, size), size, off);
      return isPromise(n) ? n.then((m) => this.readReply(ab, m)) : this.readReply(ab, n);
    }
    if (h.opcode === Op.WRITE) {
      const fh = u64(v, A), off = u64(v, A + 8), size = v.getUint32(A + 16, true);
      return this.writeFrom(t, fh, b.subarray(A + 40, A + 40 + size), off, 0);
    }
    return null;
  }
  private readReply(ab: ArrayBuffer, n: number): OpResult {
    const out = new Uint8Array(ab, 0, H + (n < 0 ? 0 : n));
    if (n < 0) { this.recycle(out); return n; }
    return out;
  }
  /** pwrite64 until all of `data` is written (a short write continues where it stopped). */
  private writeFrom(t: KernelTask, fh: number, data: Uint8Array, off: number, done: number): MaybePromise<OpResult> {
    while (done < data.length) {
      const n = t.syscallNow(NR.pwrite64, fh, done === 0 ? data : data.subarray(done), data.length - done, off + done);
      if (isPromise(n)) {
        const at = done;
        return n.then((m) => (m < 0 ? m : m === 0 ? writeOut(at) : this.writeFrom(t, fh, data, off, at + m)));
      }
      if (n < 0) return n;
      if (n === 0) break;
      done += n;
    }
    return writeOut(done);
  }

  /** Serve one request (header parsed, `b` the whole request, `v` a view of it). */
  async handle(t: KernelTask, h: InHeader, b: Uint8Array, v: DataView): Promise<OpResult> {
    const A = IN_HEADER_SIZE; // the op's struct starts here
    const sys = t.sys;
    switch (h.opcode) {
      case Op.LOOKUP: {
        const [name] = cstrings(b, A, 1);
        return this.entry(t, this.child(h.nodeid, name!));
      }
      case Op.FORGET: this.forget(h.nodeid, u64(v, A)); return NOREPLY;
      case Op.BATCH_FORGET: {
        const count = v.getUint32(A, true);
        for (let i = 0; i < count; i++) this.forget(u64(v, A + 8 + i * 16), u64(v, A + 16 + i * 16));
        return NOREPLY;
      }
      case Op.GETATTR: {
        const flags = v.getUint32(A, true);
        const st = {} as Kstat;
        const r = flags & FUSE_GETATTR_FH ? await sys.fstat(u64(v, A + 8), st)
          : await sys.newfstatat(AT_FDCWD, kpath(this.pathOf(h.nodeid)), st, AT_SYMLINK_NOFOLLOW);
        return r < 0 ? r : this.attrOut(st);
      }
      case Op.SETATTR: return this.setattr(t, h, v);
      case Op.READLINK: {
        const out = frame(4096);
        const n = ok(await sys.readlinkat(AT_FDCWD, kpath(this.pathOf(h.nodeid)), out.subarray(H), 4096));
        return out.subarray(0, H + n);
      }
      case Op.SYMLINK: {
        const [name, target] = cstrings(b, A, 2);
        const p = this.child(h.nodeid, name!);
        ok(await sys.symlinkat(target!, AT_FDCWD, kpath(p)));
        return this.entry(t, p);
      }
      case Op.MKNOD: {
        const mode = v.getUint32(A, true), rdev = v.getUint32(A + 4, true);
        const [name] = cstrings(b, A + 16, 1);
        const p = this.child(h.nodeid, name!);
        ok(await sys.mknodat(AT_FDCWD, kpath(p), mode, rdev));
        return this.entry(t, p);
      }
      case Op.MKDIR: {
        const mode = v.getUint32(A, true);
        const [name] = cstrings(b, A + 8, 1);
        const p = this.child(h.nodeid, name!);
        ok(await sys.mkdirat(AT_FDCWD, kpath(p), mode));
        return this.entry(t, p);
      }
      case Op.UNLINK: case Op.RMDIR: {
        const [name] = cstrings(b, A, 1);
        const p = this.child(h.nodeid, name!);
        const r = await sys.unlinkat(AT_FDCWD, kpath(p), h.opcode === Op.RMDIR ? AT_REMOVEDIR : 0);
        if (r < 0) return r;
        this.detach(p);
        return 0;
      }
      case Op.RENAME: case Op.RENAME2: {
        const newdir = u64(v, A);
        const flags = h.opcode === Op.RENAME2 ? v.getUint32(A + 8, true) : 0;
        const [oldname, newname] = cstrings(b, A + (h.opcode === Op.RENAME2 ? 16 : 8), 2);
        const from = this.child(h.nodeid, oldname!), to = this.child(newdir, newname!);
        ok(await sys.renameat2(AT_FDCWD, kpath(from), AT_FDCWD, kpath(to), flags));
        if (flags & 2 /* RENAME_EXCHANGE */) {
          const tmp = `\0exchange${this.nextId}`;
          this.moved(to, tmp); this.moved(from, to); this.moved(tmp, from);
        } else if (from !== to) {
          // Renaming one hard link onto another of the same inode changes nothing (POSIX): `from`
          // is still there, and both nodes keep their paths.
          const st = {} as Kstat;
          if ((await sys.newfstatat(AT_FDCWD, kpath(from), st, AT_SYMLINK_NOFOLLOW)) < 0) {
            this.detachTree(to); this.moved(from, to);
          }
        }
        return 0;
      }
      case Op.LINK: {
        const old = this.pathOf(u64(v, A));
        const [name] = cstrings(b, A + 8, 1);
        const p = this.child(h.nodeid, name!);
        ok(await sys.linkat(AT_FDCWD, kpath(old), AT_FDCWD, kpath(p), 0));
        return this.entry(t, p);
      }
      case Op.OPEN: {
        const flags = this.cacheFlags(v.getUint32(A, true) & ~(O_CREAT | O_EXCL | O_NOCTTY));
        const fd = ok(await sys.openat(AT_FDCWD, kpath(this.pathOf(h.nodeid)), flags, 0));
        this.open.add(fd);
        return openOut(fd, FOPEN_KEEP_CACHE);
      }
      case Op.CREATE: {
        const flags = v.getUint32(A, true), mode = v.getUint32(A + 4, true);
        const [name] = cstrings(b, A + 16, 1);
        const p = this.child(h.nodeid, name!);
        const fd = await sys.openat(AT_FDCWD, kpath(p), this.cacheFlags((flags | O_CREAT) & ~O_NOCTTY), mode);
        if (fd < 0) return fd;
        this.open.add(fd);
        let out: Uint8Array | number;
        try { out = await this.entry(t, p, OPEN_OUT_SIZE); } catch (err) { this.open.delete(fd); await sys.close(fd); throw err; }
        if (typeof out === 'number') { this.open.delete(fd); await sys.close(fd); return out; }
        putOpenOut(view(out), H + ENTRY_OUT_SIZE, fd, FOPEN_KEEP_CACHE);
        return out;
      }
      case Op.READ: case Op.WRITE: return this.handleNow(t, h, b, v)!;
      case Op.STATFS: {
        const st: { blocks?: number; bfree?: number; bavail?: number; files?: number; ffree?: number; bsize?: number; namelen?: number; frsize?: number } = {};
        ok(await sys.statfs(kpath(this.pathOf(h.nodeid)), st));
        const out = frame(KSTATFS_SIZE);
        const w = view(out);
        setU64(w, H, st.blocks ?? 0); setU64(w, H + 8, st.bfree ?? 0); setU64(w, H + 16, st.bavail ?? 0);
        setU64(w, H + 24, st.files ?? 0); setU64(w, H + 32, st.ffree ?? 0);
        w.setUint32(H + 40, st.bsize ?? 4096, true); w.setUint32(H + 44, st.namelen ?? 255, true);
        w.setUint32(H + 48, st.frsize ?? st.bsize ?? 4096, true);
        return out;
      }
      case Op.RELEASE: case Op.RELEASEDIR: {
        const fh = u64(v, A);
        this.dirs.delete(fh);
        if (this.open.delete(fh)) ok(await sys.close(fh));
        return 0;
      }
      case Op.FLUSH: return 0;
      case Op.FSYNC: case Op.FSYNCDIR: {
        const fh = u64(v, A), flags = v.getUint32(A + 8, true);
        if (!this.open.has(fh)) throw new FuseError(EBADF);
        ok(await (flags & FUSE_FSYNC_FDATASYNC ? sys.fdatasync(fh) : sys.fsync(fh)));
        return 0;
      }
      case Op.SETXATTR: {
        const size = v.getUint32(A, true), flags = v.getUint32(A + 4, true);
        const [name] = cstrings(b, A + 8, 1);
        const value = b.subarray(A + 8 + name!.length + 1, A + 8 + name!.length + 1 + size);
        ok(await sys.lsetxattr(kpath(this.pathOf(h.nodeid)), name!, value, size, flags));
        return 0;
      }
      case Op.GETXATTR: case Op.LISTXATTR: {
        const size = v.getUint32(A, true);
        // The host asks for security.capability before every write: ENODATA is the usual answer,
        // so errors are returned, not thrown.
        const p = kpath(this.pathOf(h.nodeid));
        const name = h.opcode === Op.GETXATTR ? cstrings(b, A + 8, 1)[0]! : null;
        const out = frame(size === 0 ? 8 : size);
        const buf = size === 0 ? null : out.subarray(H);
        const n = await (name !== null ? sys.lgetxattr(p, name, buf, size) : sys.llistxattr(p, buf, size));
        if (n < 0) return n;
        if (size === 0) { out[H] = n; out[H + 1] = n >>> 8; out[H + 2] = n >>> 16; out[H + 3] = n >>> 24; return out; }
        if (n > size) return -ERANGE;
        return out.subarray(0, H + n);
      }
      case Op.REMOVEXATTR: {
        const [name] = cstrings(b, A, 1);
        ok(await sys.lremovexattr(kpath(this.pathOf(h.nodeid)), name!));
        return 0;
      }
      case Op.ACCESS: {
        ok(await sys.faccessat(AT_FDCWD, kpath(this.pathOf(h.nodeid)), v.getUint32(A, true)));
        return 0;
      }
      case Op.OPENDIR: {
        const fd = ok(await sys.openat(AT_FDCWD, kpath(this.pathOf(h.nodeid)), O_RDONLY | O_DIRECTORY, 0));
        this.open.add(fd);
        this.dirs.set(fd, { entries: null });
        return openOut(fd);
      }
      case Op.READDIR: case Op.READDIRPLUS: return this.readdir(t, h, v);
      case Op.FALLOCATE: {
        ok(await sys.fallocate(u64(v, A), v.getUint32(A + 24, true), u64(v, A + 8), u64(v, A + 16)));
        return 0;
      }
      case Op.LSEEK: {
        const r = ok(await sys.lseek(u64(v, A), u64(v, A + 8), v.getUint32(A + 16, true)));
        const out = frame(8);
        setU64(view(out), H, r);
        return out;
      }
      case Op.COPY_FILE_RANGE: {
        const offIn = { value: v.getBigUint64(A + 8, true) }, offOut = { value: v.getBigUint64(A + 32, true) };
        const n = ok(await sys.copy_file_range(u64(v, A), offIn, u64(v, A + 24), offOut, u64(v, A + 40), u64(v, A + 48)));
        return writeOut(n);
      }
      case Op.SYNCFS: {
        // syncfs(2) on the host: our kernel writes back everything it holds (one filesystem).
        ok(await sys.sync());
        return 0;
      }
      case Op.INTERRUPT:
        // Our kernel's calls run to completion quickly; the interrupted request simply answers.
        return NOREPLY;
      default:
        throw new FuseError(ENOSYS);
    }
  }

  /** A replaced rename target: it and anything below it lose their path. */
  private detachTree(path: string): void {
    const pre = `${path}/`;
    for (const [p] of [...this.byPath]) if (p === path || p.startsWith(pre)) this.detach(p);
  }

  private async setattr(t: KernelTask, h: InHeader, v: DataView): Promise<Uint8Array | number> {
    const A = IN_HEADER_SIZE;
    const valid = v.getUint32(A, true);
    const fh = valid & FATTR_FH ? u64(v, A + 8) : -1;
    const useFh = fh >= 0 && this.open.has(fh);
    const node = this.nodes.get(h.nodeid);
    const path = node?.path ?? null;
    // The host sets times on a node it has just unlinked: ENOENT, returned rather than thrown.
    if (!useFh && path === null) return node ? -ENOENT : -ESTALE;
    const p = path === null ? null : kpath(path);
    const sys = t.sys;
    if (valid & FATTR_MODE) {
      const mode = v.getUint32(A + 68, true) & 0o7777;
      ok(await (p ? sys.fchmodat(AT_FDCWD, p, mode) : sys.fchmod(fh, mode)));
    }
    if (valid & (FATTR_UID | FATTR_GID)) {
      const uid = valid & FATTR_UID ? v.getUint32(A + 76, true) : -1;
      const gid = valid & FATTR_GID ? v.getUint32(A + 80, true) : -1;
      ok(await (p ? sys.fchownat(AT_FDCWD, p, uid, gid, AT_SYMLINK_NOFOLLOW) : sys.fchown(fh, uid, gid)));
    }
    if (valid & FATTR_SIZE) {
      const size = u64(v, A + 16);
      ok(await (useFh ? sys.ftruncate(fh, size) : sys.truncate(p!, size)));
    }
    if (valid & (FATTR_ATIME | FATTR_MTIME)) {
      const ts = (set: number, now: number, so: number, no: number) =>
        !(valid & set) ? { sec: 0, nsec: UTIME_OMIT }
          : valid & now ? { sec: 0, nsec: UTIME_NOW }
            : { sec: Number(v.getBigInt64(A + so, true)), nsec: v.getUint32(A + no, true) };
      const times = [ts(FATTR_ATIME, FATTR_ATIME_NOW, 32, 56), ts(FATTR_MTIME, FATTR_MTIME_NOW, 40, 60)];
      ok(await (p ? sys.utimensat(AT_FDCWD, p, times, AT_SYMLINK_NOFOLLOW) : sys.utimensat(fh, null, times, 0)));
    }
    const st = {} as Kstat;
    ok(await (useFh ? sys.fstat(fh, st) : sys.newfstatat(AT_FDCWD, p!, st, AT_SYMLINK_NOFOLLOW)));
    return this.attrOut(st);
  }

  private async readdir(t: KernelTask, h: InHeader, v: DataView): Promise<Uint8Array> {
    const A = IN_HEADER_SIZE;
    const fh = u64(v, A), off = u64(v, A + 8), size = v.getUint32(A + 16, true);
    const d = this.dirs.get(fh);
    if (!d) throw new FuseError(EBADF);
    if (off === 0 || d.entries === null) d.entries = await this.list(t, fh);
    const plus = h.opcode === Op.READDIRPLUS;
    const dirPath = this.nodes.get(h.nodeid)?.path ?? null;
    const out = frame(size);
    const w = view(out);
    let o = H;
    const end = H + size;
    for (let i = off; i < d.entries.length; i++) {
      const e = d.entries[i]!;
      const rec = (DIRENT_HEADER_SIZE + e.name.length + 7) & ~7;
      const need = rec + (plus ? ENTRY_OUT_SIZE : 0);
      if (o + need > end) break;
      let ino = e.ino, type = e.type;
      if (plus) {
        const s = latin1(e.name);
        let filled = false;
        if (s !== '.' && s !== '..' && dirPath !== null) {
          const p = `${dirPath}/${s}`;
          const st = {} as Kstat;
          if ((await t.sys.newfstatat(AT_FDCWD, kpath(p), st, AT_SYMLINK_NOFOLLOW)) >= 0) {
            const n = this.ref(p);
            putEntry(w, o, n.id, 0, this.o.timeout, this.attr(st));
            ino = st.ino; type = (st.mode & S_IFMT) >>> 12;
            filled = true;
          } // else gone meanwhile: a plain entry without attributes
        }
        if (!filled) out.fill(0, o, o + ENTRY_OUT_SIZE);
        o += ENTRY_OUT_SIZE;
      }
      setU64(w, o, ino); setU64(w, o + 8, i + 1);
      w.setUint32(o + 16, e.name.length, true); w.setUint32(o + 20, type, true);
      out.set(e.name, o + DIRENT_HEADER_SIZE);
      out.fill(0, o + DIRENT_HEADER_SIZE + e.name.length, o + rec);
      o += rec;
    }
    return out.subarray(0, o);
  }

  /** All entries of an open directory, from its start (getdents64 records). */
  private async list(t: KernelTask, fd: number): Promise<{ ino: number; type: number; name: Uint8Array }[]> {
    ok(await t.sys.lseek(fd, 0, SEEK_SET));
    const buf = new Uint8Array(65536);
    const v = view(buf);
    const r: { ino: number; type: number; name: Uint8Array }[] = [];
    for (;;) {
      const n = ok(await t.sys.getdents64(fd, buf, buf.length));
      if (n === 0) break;
      for (let o = 0; o < n;) {
        const reclen = v.getUint16(o + 16, true);
        if (reclen === 0) throw new FuseError(EIO);
        const type = buf[o + 18]!;
        let end = buf.indexOf(0, o + 19);
        if (end < 0 || end > o + reclen) end = o + reclen;
        r.push({ ino: u64(v, o), type, name: buf.slice(o + 19, end) });
        o += reclen;
      }
    }
    return r;
  }

  /** Close every descriptor still open (shutdown, before unmounting our kernel's filesystem). */
  async closeAll(t: KernelTask): Promise<void> {
    for (const fd of this.open) await t.sys.close(fd);
    this.open.clear(); this.dirs.clear();
  }
}

/**
 * fuse_open_out. FOPEN_KEEP_CACHE for files: the image changes only through this mount, so the
 * host's page cache stays valid across opens (a change of mtime or size still drops it, through
 * FUSE_AUTO_INVAL_DATA).
 */
function openOut(fh: number, openFlags = 0): Uint8Array {
  const out = frame(OPEN_OUT_SIZE);
  putOpenOut(view(out), H, fh, openFlags);
  return out;
}
function putOpenOut(v: DataView, o: number, fh: number, openFlags: number): void {
  setU64(v, o, fh);
  v.setUint32(o + 8, openFlags, true);
  v.setUint32(o + 12, 0, true);
}

/** fuse_write_out: the count, then padding. */
function writeOut(n: number): Uint8Array {
  const out = frame(8);
  out[H] = n; out[H + 1] = n >>> 8; out[H + 2] = n >>> 16; out[H + 3] = n >>> 24;
  return out;
}

