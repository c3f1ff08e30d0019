/*
 * Test harness for the ext4 directory, name, link and attribute code: images made by mke2fs at
 * test time (`mkfs.ext4 -F -q -d srcdir`), mounted directly through ext4FillSuper on a Vfs over a
 * fake host, with a read-only in-memory block device over the image bytes. No kernel boot, no
 * syscalls: the functions of dir.ts, symlink.ts and xattr.ts are called as the VFS would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeHost } from '../../src/arch/fake/index.js';
import { Clock } from '../../src/kernel/ktime/index.js';
import { MemoryBudget } from '../../src/mm/index.js';
import { fail } from '../../src/lib/errors.js';
import { EIO, EROFS } from '../../src/uapi/errno.js';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { Vfs, type DirContext, type File } from '../../src/fs/vfs/index.js';
import type { BlockDevice } from '../../src/block/index.js';
import { createExt4Type, type Ext4Sb, type Ext4Inode } from '../../src/fs/ext4/index.js';
import { ext4Readdir, ext4Lookup } from '../../src/fs/ext4/dir.js';

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'latin1', stdio: ['pipe', 'pipe', 'pipe'], input, maxBuffer: 256 << 20 });
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env.LKL_TMP ?? os.tmpdir(), prefix));
}

/** A read-only BlockDevice over image bytes; a block is one stable object (like the cache). */
export class ImageBdev implements BlockDevice {
  readonly dev = (254 << 20) | 0;
  readonly name = 'vda';
  readonly readOnly = true;
  readonly sectorSize = 512;
  readonly size: number;
  reads = 0;
  private cache = new Map<string, Uint8Array>();
  constructor(public bytes: Uint8Array) { this.size = bytes.length; }
  bread(nr: number, bs: number): Uint8Array {
    const key = `${bs}:${nr}`;
    let b = this.cache.get(key);
    if (b) return b;
    if ((nr + 1) * bs > this.size || nr < 0) fail(EIO, `read past end: block ${nr}`);
    this.reads++;
    b = this.bytes.slice(nr * bs, (nr + 1) * bs);
    this.cache.set(key, b);
    return b;
  }
  readStream(nr: number, bs: number, dst: Uint8Array): void {
    if (nr < 0 || nr * bs + dst.length > this.size) fail(EIO, `read past end: block ${nr}`);
    this.reads++;
    dst.set(this.bytes.subarray(nr * bs, nr * bs + dst.length));
  }
  readCached(offset: number, dst: Uint8Array): void {
    if (offset < 0 || offset + dst.length > this.size) fail(EIO, `read past end: byte ${offset}`);
    this.reads++;
    dst.set(this.bytes.subarray(offset, offset + dst.length));
  }
  readahead(): void {}
  bwrite(): void { fail(EROFS); }
  readBytes(offset: number, length: number): Uint8Array {
    if (offset + length > this.size) fail(EIO);
    return this.bytes.slice(offset, offset + length);
  }
  async sync(): Promise<void> {}
  invalidate(): void { this.cache.clear(); }
}

export interface Mounted { sbi: Ext4Sb; root: Ext4Inode; log: string[]; bdev: ImageBdev }

export async function mountImage(img: string | Uint8Array, fstype: 'ext2' | 'ext3' | 'ext4' = 'ext4'): Promise<Mounted> {
  const host = new FakeHost();
  const clock = new Clock(host);
  const mem = new MemoryBudget(256 * 1024 * 1024, 0);
  const log: string[] = [];
  const vfs = new Vfs({ clock, mem, printk: (_l, t) => { log.push(t); }, entropy: (b) => host.entropy(b) });
  const bytes = typeof img === 'string' ? new Uint8Array(fs.readFileSync(img)) : img;
  const bdev = new ImageBdev(bytes);
  const type = createExt4Type(fstype);
  const sbi = (await type.mount({ vfs, source: '/dev/vda', flags: MS_RDONLY, data: '', bdev })) as Ext4Sb;
  return { sbi, root: sbi.root.inode as Ext4Inode, log, bdev };
}

export interface Dirent { name: string; ino: number; dtype: number; pos: number }

/** Every entry of a directory, in one or several iterate() calls of at most `batch` entries. */
export async function readdirAll(dir: Ext4Inode, batch = Infinity): Promise<Dirent[]> {
  const out: Dirent[] = [];
  const file = { inode: dir, path: { dentry: { name: 'd', parent: null } } } as unknown as File;
  let pos = 0;
  for (let calls = 0; calls < 1e6; calls++) {
    let n = 0;
    const ctx: DirContext = {
      pos,
      emit(name, ino, dtype) {
        if (n >= batch) return false;
        n++;
        out.push({ name, ino, dtype, pos: ctx.pos });
        return true;
      },
    };
    await ext4Readdir(file, ctx);
    if (ctx.pos === pos && n === 0) break;
    pos = ctx.pos;
    if (n < batch) break;
  }
  return out;
}

/** Resolve a slash-separated path of byte-string names from the root. */
export async function walk(m: Mounted, p: string): Promise<Ext4Inode | null> {
  let cur: Ext4Inode | null = m.root;
  for (const part of p.split('/').filter(Boolean)) {
    if (!cur) return null;
    cur = await ext4Lookup(cur, part);
  }
  return cur;
}

/** UTF-8 JS string to byte string. */
export function bs(s: string): string { return Buffer.from(s, 'utf8').toString('latin1'); }
/** Byte string to JS string. */
export function unbs(s: string): string { return Buffer.from(s, 'latin1').toString('utf8'); }

/** `debugfs -R 'ls -l path'` style listing: name -> inode number. */
export function debugfsLs(img: string, dir: string): Map<string, number> {
  const out = sh('debugfs', ['-R', `ls -p "${dir}"`, img]);
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    // /ino/mode/uid/gid/name/size/
    const f = line.split('/');
    if (f.length < 7) continue;
    const name = f.slice(5, f.length - 2).join('/');
    m.set(name, Number(f[1]));
  }
  return m;
}
