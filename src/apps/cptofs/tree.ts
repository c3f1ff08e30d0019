/*
 * The copy itself, one algorithm for both directions (sides.ts gives the two ends).
 *
 * Per object, as `cp -a` does it and LKL's do_entry in spirit:
 *   regular file   created O_NOFOLLOW|O_TRUNC and filled in 256 KiB chunks; blocks of zeros are
 *                  skipped and the size set at the end, so holes stay holes (sparse files);
 *                  a second name of an inode already copied becomes a hard link (when the
 *                  destination refuses links, e.g. vfat, a copy, with a warning)
 *   directory      created (or reused when a real directory is already there), filled, and only
 *                  then given its mode, owner, xattrs and times (filling it changes its mtime)
 *   symlink        target copied verbatim (never followed)
 *   char, block,   recreated with mknod (LKL skips them)
 *   fifo
 *   socket         skipped with a warning, as tar and cp do
 * then owner (the source's, or -o/-g), mode, every xattr, and atime/mtime to the nanosecond.
 * ctime cannot be set by anyone, so it is not.
 *
 * An existing non-directory at a destination name is removed first rather than written through:
 * this is what keeps a symlink already in the destination from redirecting the copy. (Creation is
 * tried first, exclusively, and only an EEXIST leads to the removal: see made().)
 *
 * Names from a directory listing must be single components: a name that is empty, "." or "..",
 * or holds a '/' (which no sane filesystem returns, but a crafted image can) is refused and
 * reported, never joined into a path. Together with the destination side's no-follow calls this
 * is what guarantees cpfromfs creates nothing outside its destination.
 *
 * Failures on one object are reported and the copy goes on (the exit status is then 1), except
 * ENOSPC, EDQUOT, EROFS and EIO on the destination, which end the copy: nothing after them
 * could succeed.
 *
 * `style: 'mke2fs'` (lkl mkfs -d) makes the result what e2fsprogs 1.47's `mke2fs -d` makes
 * (misc/create_inode.c), checked against it by test/apps/mkfs_populate.test.ts:
 *  - times in whole seconds: atime and mtime the source's with the nanoseconds dropped, and
 *    ctime the source's ctime (also whole seconds; the destination sets it, see kernel_side.ts),
 *    set again after a hard link is added (linking stamps ctime, mke2fs's linking does not);
 *  - a symlink's second name is a symlink of its own, never a hard link (mke2fs links every
 *    other type: files, devices, fifos, sockets);
 *  - sockets are made (mknod S_IFSOCK), not skipped.
 */
import { S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK } from '../../uapi/stat.js';
import { EEXIST, EPERM, EOPNOTSUPP, ENOTSUP, EINVAL, ENOSPC, EDQUOT, EROFS, EIO, ENOENT, EXDEV, EMLINK } from '../../uapi/errno.js';
import { strerror } from '../../uapi/errno_text.js';
import { READ_CHUNK } from '../fs2tar/walk.js';
import { CopyError, shownPath, type SourceSide, type DestSide, type Meta } from './sides.js';

export interface CopyOptions {
  /** -o/-g: owner and group for every created object instead of the source's. */
  owner: number | null;
  group: number | null;
  /** -s: security.selinux for every created object (in addition to the source's xattrs). */
  selinux: string | null;
  warn(msg: string): void;
  progress?(bytes: number, entries: number): void;
  /** 'cp' (cptofs, the default): cp -a's rules; 'mke2fs' (mkfs -d): mke2fs -d's, see above. */
  style?: 'cp' | 'mke2fs';
}

/** A failure that ends the whole copy (no space, read-only, I/O error on the destination). */
export class CopyAborted extends Error {
  constructor(msg: string, readonly errno: number, readonly path: string) { super(msg); }
}

const FATAL = new Set([ENOSPC, EDQUOT, EROFS, EIO]);
// Reading operations: an EIO there (a damaged image, a failing source disk) spoils one object
// and the copy goes on, as tar and cp do.
const SOURCE_OPS = new Set(['lstat', 'open', 'read', 'getdents64', 'readlink', 'llistxattr', 'lgetxattr', 'open directory']);
const BLOCK = 4096;

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

export class TreeCopier {
  readonly stats = { entries: 0, bytes: 0, errors: 0 };
  private readonly links = new Map<string, string>();
  // One buffer for every file: each chunk is written out before the next read.
  private readonly buf = new Uint8Array(READ_CHUNK);
  private readonly warnedOnce = new Set<string>();
  private readonly mke2fs: boolean;

  constructor(private readonly src: SourceSide, private readonly dst: DestSide, private readonly o: CopyOptions) {
    this.mke2fs = o.style === 'mke2fs';
  }

  private once(kind: string, msg: string): void {
    if (this.warnedOnce.has(kind)) return;
    this.warnedOnce.add(kind);
    this.o.warn(msg);
  }

  private error(path: string, e: unknown): void {
    const n = e instanceof CopyError ? e.errno : undefined;
    if (n !== undefined && FATAL.has(n) && e instanceof CopyError && !SOURCE_OPS.has(e.op)) {
      throw new CopyAborted(`${shownPath(path)}: ${e.op}: ${strerror(n)}`, n, path);
    }
    if (e instanceof CopyAborted) throw e;
    this.stats.errors++;
    if (e instanceof CopyError) this.o.warn(`${shownPath(path)}: ${e.op}: ${strerror(e.errno)}`);
    else this.o.warn(`${shownPath(path)}: ${e instanceof Error ? e.message : String(e)}`);
  }

  private tick(): void { this.o.progress?.(this.stats.bytes, this.stats.entries); }

  /** A listing name that is safe to use as one path component. */
  static validName(n: string): boolean {
    return n !== '' && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0');
  }

  /**
   * The entries of directory `srcDir` whose names `accept` takes, each copied to dstDir/name.
   * Returns how many names were accepted.
   */
  async copyEntries(srcDir: string, dstDir: string, accept: (name: string) => boolean = () => true): Promise<number> {
    let names: string[];
    try { names = await this.src.list(srcDir); } catch (e) { this.error(srcDir, e); return 0; }
    let n = 0;
    await this.src.prefetch?.(srcDir, names.filter((nm) => TreeCopier.validName(nm) && accept(nm)));
    for (const name of names) {
      if (!TreeCopier.validName(name)) {
        this.stats.errors++;
        this.o.warn(`${shownPath(srcDir)}: refusing unsafe name ${JSON.stringify(shownPath(name))}`);
        continue;
      }
      if (!accept(name)) continue;
      n++;
      await this.copy(join(srcDir, name), join(dstDir, name));
    }
    return n;
  }

  /** Copy one object (and, for a directory, everything under it). */
  async copy(srcPath: string, dstPath: string): Promise<void> {
    let m: Meta;
    try { m = await this.src.lstat(srcPath); } catch (e) { this.error(srcPath, e); return; }
    try {
      switch (m.fmt) {
        case S_IFREG: await this.regular(srcPath, dstPath, m); break;
        case S_IFDIR: await this.directory(srcPath, dstPath, m); return;
        case S_IFLNK: {
          const target = await this.src.readlink(srcPath);
          if (!this.mke2fs && this.hardLinked(m, dstPath) && await this.tryLink(m, dstPath)) break;
          await this.made(dstPath, () => this.dst.symlink(target, dstPath));
          await this.attrs(srcPath, dstPath, m);
          break;
        }
        case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
          if (m.fmt === S_IFSOCK && !this.mke2fs) {
            this.o.warn(`${shownPath(srcPath)}: socket ignored`);
            return;
          }
          if (this.hardLinked(m, dstPath) && await this.tryLink(m, dstPath)) break;
          await this.made(dstPath, () => this.dst.mknod(dstPath, m.fmt, m.perm, m.major, m.minor));
          await this.attrs(srcPath, dstPath, m);
          break;
        default:
          throw new Error(`unknown file type 0${m.fmt.toString(8)}`);
      }
      this.stats.entries++;
      this.tick();
    } catch (e) {
      this.error(srcPath, e);
    }
  }

  /** Whether an earlier name of this inode was copied (and remember this one if not). */
  private hardLinked(m: Meta, dstPath: string): boolean {
    if (m.nlink <= 1) return false;
    if (this.links.has(m.key)) return true;
    this.links.set(m.key, dstPath);
    return false;
  }

  private async tryLink(m: Meta, dstPath: string): Promise<boolean> {
    try {
      await this.made(dstPath, () => this.dst.link(this.links.get(m.key)!, dstPath));
      if (this.mke2fs) await this.times(dstPath, m);
      return true;
    } catch (e) {
      const n = e instanceof CopyError ? e.errno : 0;
      if (n === EPERM || n === EOPNOTSUPP || n === EXDEV || n === EMLINK || n === ENOENT) {
        this.once('link', `warning: the destination cannot hold hard links (${strerror(n)}); copying each name separately`);
        return false;
      }
      throw e;
    }
  }

  /**
   * Create a non-directory with `make`, which fails with EEXIST when something is already at
   * dstPath (none of them writes through what is there: O_CREAT|O_EXCL, symlink, mknod, link);
   * then clear the way and make it again. Trying first saves a lookup per object, nearly always
   * a miss.
   */
  private async made<T>(dstPath: string, make: () => Promise<T>): Promise<T> {
    try {
      return await make();
    } catch (e) {
      if (!(e instanceof CopyError) || e.errno !== EEXIST) throw e;
    }
    await this.clear(dstPath);
    return make();
  }

  /** Make room for a non-directory: remove what is there unless it is a directory. */
  private async clear(dstPath: string): Promise<void> {
    const t = await this.dst.typeAt(dstPath);
    if (t === null) return;
    if (t === S_IFDIR) throw new CopyError(EEXIST, 'cannot overwrite a directory');
    await this.dst.unlink(dstPath);
  }

  private async regular(srcPath: string, dstPath: string, m: Meta): Promise<void> {
    if (this.hardLinked(m, dstPath) && await this.tryLink(m, dstPath)) return;
    const r = await this.src.open(srcPath);
    try {
      // Owner-only until the attributes are set: a setuid file is never briefly setuid for others.
      const w = await this.made(dstPath, () => this.dst.create(dstPath, m.perm & 0o700));
      try {
        let pos = 0;
        const buf = this.buf;
        for (;;) {
          const n = await r.read(buf);
          if (n === 0) break;
          // Write the runs of non-zero blocks; all-zero blocks become holes.
          for (let b = 0; b < n;) {
            const e = Math.min(b + BLOCK, n);
            if (isZero(buf, b, e)) { b = e; continue; }
            let end = e;
            while (end < n && !isZero(buf, end, Math.min(end + BLOCK, n))) end = Math.min(end + BLOCK, n);
            await w.pwrite(buf.subarray(b, end), pos + b);
            b = end;
          }
          pos += n;
          this.stats.bytes += n;
          this.tick();
        }
        await w.truncate(pos);
      } finally {
        await w.close();
      }
    } finally {
      await r.close();
    }
    await this.attrs(srcPath, dstPath, m);
  }

  private async directory(srcPath: string, dstPath: string, m: Meta): Promise<void> {
    // mkdir first: the name is nearly always free, and an EEXIST says when it is not.
    let t: number | null = null;
    try { await this.dst.mkdir(dstPath, 0o700); } catch (e) {
      if (!(e instanceof CopyError) || e.errno !== EEXIST) throw e;
      t = await this.dst.typeAt(dstPath);
      if (t === null) await this.dst.mkdir(dstPath, 0o700);
    }
    if (t !== null && t !== S_IFDIR) {
      // A symlink (or anything else) where the directory goes: replace it, never enter it.
      await this.dst.unlink(dstPath);
      await this.dst.mkdir(dstPath, 0o700);
    }
    // Re-check: what we are about to enter must be a real directory.
    if ((await this.dst.typeAt(dstPath)) !== S_IFDIR) throw new CopyError(EEXIST, 'not a directory after mkdir');
    this.stats.entries++;
    this.tick();
    await this.copyEntries(srcPath, dstPath);
    try { await this.attrs(srcPath, dstPath, m); } catch (e) { this.error(srcPath, e); }
  }

  /** Owner, mode, xattrs, then times (last: the others change ctime only, but xattrs may touch mtime on some filesystems). */
  private async attrs(srcPath: string, dstPath: string, m: Meta): Promise<void> {
    const uid = this.o.owner ?? m.uid, gid = this.o.group ?? m.gid;
    try {
      await this.dst.lchown(dstPath, uid, gid);
    } catch (e) {
      const n = e instanceof CopyError ? e.errno : 0;
      if (n !== EPERM && n !== EINVAL) throw e;
      // Not root on the host (cp -a is silent there too), or a filesystem with one owner for
      // everything, set at mount time (vfat): said only when -o/-g asked for owners.
      if (this.o.owner !== null || this.o.group !== null) {
        this.once('chown', `warning: cannot set owners on the destination (${strerror(n)}); ownership not preserved`);
      }
    }
    if (m.fmt === S_IFREG || m.fmt === S_IFDIR) {
      try {
        await this.dst.chmod(dstPath, m.perm);
      } catch (e) {
        const n = e instanceof CopyError ? e.errno : 0;
        if (n !== EPERM) throw e;
        this.once('chmod', `warning: the destination cannot store all mode bits (${strerror(n)}); modes not fully preserved`);
      }
    }
    const xs = await this.src.xattrs(srcPath);
    if (this.o.selinux !== null) {
      const i = xs.findIndex(([k]) => k === 'security.selinux');
      const v: [string, Uint8Array] = ['security.selinux', new TextEncoder().encode(this.o.selinux)];
      if (i >= 0) xs[i] = v; else xs.push(v);
    }
    for (const [k, v] of xs) {
      try {
        await this.dst.lsetxattr(dstPath, k, v);
      } catch (e) {
        const n = e instanceof CopyError ? e.errno : 0;
        if (n === EOPNOTSUPP || n === ENOTSUP) {
          this.once(`xattr:${k.split('.')[0]}`, `warning: the destination does not support ${k.split('.')[0]}.* extended attributes; not copied`);
          continue;
        }
        if (n === EPERM && m.fmt === S_IFLNK && k.startsWith('user.')) continue; // Linux allows no user.* on symlinks
        if (n === EPERM && !k.startsWith('user.')) {
          // trusted.* and security.* need privilege on the host (cpfromfs not run as root).
          this.once(`xattr-perm:${k.split('.')[0]}`, `warning: not permitted to set ${k.split('.')[0]}.* extended attributes; not copied`);
          continue;
        }
        this.stats.errors++;
        this.o.warn(`${shownPath(srcPath)}: setxattr ${shownPath(k)}: ${strerror(n || EIO)}`);
      }
    }
    await this.times(dstPath, m);
  }

  private async times(dstPath: string, m: Meta): Promise<void> {
    if (!this.mke2fs) { await this.dst.lutimes(dstPath, m.atime, m.mtime); return; }
    const sec = (t: { sec: number }) => ({ sec: t.sec, nsec: 0 });
    await this.dst.lutimes(dstPath, sec(m.atime), sec(m.mtime), sec(m.ctime));
  }
}

export function join(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
