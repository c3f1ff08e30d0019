/*
 * The host's end of a copy: node:fs, plus the Python helper for what node:fs lacks (xattrs,
 * mknod, nanosecond times; see host_helper.ts).
 *
 * As a destination (cpfromfs) it is where an untrusted image meets the host, so it never follows
 * a symlink it did not get from the user: tree.ts only hands it names checked to be single
 * components, creates each directory before entering it and checks it is a real directory
 * (typeAt, lstat semantics), and every call here acts on the last component itself:
 * files are opened O_NOFOLLOW (a symlink in the way gives ELOOP rather than a write through it),
 * directories are opened O_DIRECTORY|O_NOFOLLOW for fchmod, owners change through lchown, times
 * and xattrs through their no-follow forms, and link(2) does not follow its source.
 */
import * as fs from 'node:fs';
import { constants as C } from 'node:fs';
import { S_IFMT, S_IFREG, S_IFDIR } from '../../uapi/stat.js';
import { ENOENT, EOPNOTSUPP, ELOOP } from '../../uapi/errno.js';
import { errnoOf } from '../fs2tar/main.js';
import {
  CopyError, type SourceSide, type DestSide, type Meta, type Reader, type Writer, type Ts,
} from './sides.js';
import type { HostHelper } from './host_helper.js';

const P = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Run a node:fs call, rethrowing its failure as a CopyError with the errno. */
function io<T>(op: string, f: () => T): T {
  try { return f(); } catch (e) { throw new CopyError(errnoOf(e) ?? 5, op); }
}
async function helperCall<T>(op: string, f: () => Promise<T>): Promise<T> {
  try { return await f(); } catch (e) { throw new CopyError((e as { errno?: number }).errno ?? 5, op); }
}

// glibc's dev_t layout (the host's): 12-bit major and 20-bit minor, split.
function devMajor(d: bigint): number { return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)); }
function devMinor(d: bigint): number { return Number((d & 0xffn) | ((d >> 12n) & ~0xffn)); }
const ts = (ns: bigint): Ts => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
const toNs = (t: Ts): bigint => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);

export class HostSide implements SourceSide, DestSide {
  private pending: Array<Promise<[string, number] | null>> = [];
  private failed: Array<[string, number]> = [];
  private readonly cache = new Map<string, Array<[string, Uint8Array]>>();
  /** From prepare(): the objects under `scanned` roots that have xattrs (or failed to list them). */
  private readonly treeXattrs = new Map<string, Array<[string, Uint8Array]> | number>();
  private readonly scanned: string[] = [];

  constructor(private readonly helper: HostHelper | null) {}

  private async settleSome(): Promise<void> {
    this.helper?.flush();
    const batch = this.pending.splice(0);
    for (const r of await Promise.all(batch)) if (r) this.failed.push(r);
  }

  /** Wait for the times still being set; the paths whose times could not be set, with errno. */
  async settle(): Promise<Array<[string, number]>> {
    await this.settleSome();
    return this.failed.splice(0);
  }

  async lstat(p: string): Promise<Meta> {
    const st = io('lstat', () => fs.lstatSync(P(p), { bigint: true }));
    const mode = Number(st.mode);
    return {
      fmt: mode & S_IFMT, perm: mode & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size),
      nlink: Number(st.nlink), key: `${st.dev}:${st.ino}`, major: devMajor(st.rdev), minor: devMinor(st.rdev),
      atime: ts(st.atimeNs), mtime: ts(st.mtimeNs), ctime: ts(st.ctimeNs),
    };
  }

  async list(p: string): Promise<string[]> {
    return io('open directory', () => fs.readdirSync(P(p), { encoding: 'buffer' })).map((b) => b.toString('latin1'));
  }

  async readlink(p: string): Promise<string> {
    return io('readlink', () => fs.readlinkSync(P(p), { encoding: 'buffer' })).toString('latin1');
  }

  /**
   * A copy of the tree at p is about to start: read the xattrs of everything under it in one
   * round trip to the helper (a walk in Python), keeping only the objects that have some. Then
   * no directory waits for a round trip of its own, which under load costs far more than the
   * walk. What appears under p after this is taken to have no xattrs.
   */
  async prepare(p: string): Promise<void> {
    if (!this.helper || this.scanned.some((r) => this.covers(r, p))) return;
    let got: Awaited<ReturnType<HostHelper['xattrsTree']>>;
    try { got = await this.helper.xattrsTree(P(p)); } catch { return; }
    for (const [q, x] of got) {
      this.treeXattrs.set(Buffer.from(q).toString('latin1'), typeof x === 'number' ? x : x.map(([n, v]) => [Buffer.from(n).toString('latin1'), v]));
    }
    this.scanned.push(p);
  }

  private covers(root: string, p: string): boolean {
    return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
  }

  /** Ask for the xattrs of a directory's entries at once: one round trip instead of one each. */
  async prefetch(dir: string, names: string[]): Promise<void> {
    if (!this.helper || this.scanned.some((r) => this.covers(r, dir))) return;
    if (names.length === 0) return;
    const all = names.map((n) => dir.endsWith('/') ? dir + n : `${dir}/${n}`);
    let got: Awaited<ReturnType<HostHelper['xattrsMany']>>;
    try { got = await this.helper.xattrsMany(all.map(P)); } catch { return; }
    // A failure is left uncached: xattrs() asks again and reports it.
    got.forEach((r, i) => { if (typeof r !== 'number') this.cache.set(all[i]!, r.map(([n, v]) => [Buffer.from(n).toString('latin1'), v])); });
  }

  async xattrs(p: string): Promise<Array<[string, Uint8Array]>> {
    if (!this.helper) return [];
    const hit = this.cache.get(p);
    if (hit) { this.cache.delete(p); return hit; }
    const t = this.treeXattrs.get(p);
    if (t !== undefined && typeof t !== 'number') return t;
    // A failure during the walk is asked again below, so that it is reported with its errno.
    if (t === undefined && this.scanned.some((r) => this.covers(r, p))) return [];
    try {
      const r = await this.helper.xattrs(P(p));
      return r.map(([n, v]) => [Buffer.from(n).toString('latin1'), v]);
    } catch (e) {
      const n = (e as { errno?: number }).errno;
      if (n === EOPNOTSUPP) return [];
      throw new CopyError(n ?? 5, 'llistxattr');
    }
  }

  async open(p: string): Promise<Reader> {
    const fd = io('open', () => fs.openSync(P(p), C.O_RDONLY | C.O_NOFOLLOW));
    return {
      read: async (buf) => io('read', () => fs.readSync(fd, buf, 0, buf.length, null)),
      close: async () => { fs.closeSync(fd); },
    };
  }

  async typeAt(p: string): Promise<number | null> {
    try {
      return Number(fs.lstatSync(P(p)).mode) & S_IFMT;
    } catch (e) {
      if (errnoOf(e) === ENOENT) return null;
      throw new CopyError(errnoOf(e) ?? 5, 'lstat');
    }
  }

  async unlink(p: string): Promise<void> { io('unlink', () => fs.unlinkSync(P(p))); }

  async mkdir(p: string, perm: number): Promise<void> { io('mkdir', () => fs.mkdirSync(P(p), { mode: perm })); }

  async create(p: string, perm: number): Promise<Writer> {
    const fd = io('create', () => fs.openSync(P(p), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, perm));
    return {
      pwrite: async (buf, pos) => {
        for (let done = 0; done < buf.length;) {
          done += io('write', () => fs.writeSync(fd, buf, done, buf.length - done, pos + done));
        }
      },
      truncate: async (size) => { io('ftruncate', () => fs.ftruncateSync(fd, size)); },
      close: async () => { io('close', () => fs.closeSync(fd)); },
    };
  }

  async symlink(target: string, p: string): Promise<void> { io('symlink', () => fs.symlinkSync(P(target), P(p))); }

  async link(existing: string, p: string): Promise<void> { io('link', () => fs.linkSync(P(existing), P(p))); }

  async mknod(p: string, fmt: number, perm: number, major: number, minor: number): Promise<void> {
    if (!this.helper) throw new CopyError(EOPNOTSUPP, 'mknod (no python3 on this host)');
    await helperCall('mknod', () => this.helper!.mknod(P(p), fmt | perm, major, minor));
  }

  async lchown(p: string, uid: number, gid: number): Promise<void> { io('chown', () => fs.lchownSync(P(p), uid, gid)); }

  async chmod(p: string, perm: number): Promise<void> {
    // Only ever asked for a regular file or directory this run just created under a checked
    // directory; the lstat makes sure no symlink has taken its place (chmod(2) would follow it).
    const t = await this.typeAt(p);
    if (t !== S_IFREG && t !== S_IFDIR) throw new CopyError(ELOOP, 'chmod');
    io('chmod', () => fs.chmodSync(P(p), perm));
  }

  async lsetxattr(p: string, name: string, value: Uint8Array): Promise<void> {
    if (!this.helper) throw new CopyError(EOPNOTSUPP, 'setxattr (no python3 on this host)');
    await helperCall('setxattr', () => this.helper!.lsetxattr(P(p), P(name), value));
  }

  async lutimes(p: string, atime: Ts, mtime: Ts): Promise<void> {
    if (this.helper) {
      // Not awaited: times are set last, and the helper works through its requests in order, so
      // a directory's times are still set after everything made in it. Failures are collected
      // and reported by settle(), so a round trip per object is not waited for.
      const sent = this.helper.lutime(P(p), toNs(atime), toNs(mtime));
      this.pending.push(sent.then(() => null, (e: unknown) => [p, (e as { errno?: number }).errno ?? 5] as [string, number]));
      if (this.pending.length >= 1024) await this.settleSome();
      return;
    }
    io('utimensat', () => fs.lutimesSync(P(p), atime.sec + atime.nsec / 1e9, mtime.sec + mtime.nsec / 1e9));
  }
}
