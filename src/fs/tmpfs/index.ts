/*
 * tmpfs: a filesystem whose whole content lives in kernel memory (mm/shmem.c).
 *
 * The dentry tree is the namespace (sb.dcacheAuthoritative), so directories need no storage of
 * their own; regular files keep their data in 4 KiB pages charged to the kernel's memory budget
 * (`mem=`) as shmem. Limits as Linux: size= (default half of RAM) gives ENOSPC, nr_inodes=
 * (default half the pages of RAM) gives ENOSPC for new inodes.
 */
import { fail } from '../../lib/errors.js';
import type { ByteString } from '../../lib/bytestr.js';
import { ENOSPC, EINVAL, EOPNOTSUPP, ENODATA } from '../../uapi/errno.js';
import {
  S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, TMPFS_MAGIC, modeToDtype, type Kstatfs,
} from '../../uapi/stat.js';
import {
  FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, SEEK_DATA, SEEK_HOLE,
} from '../../uapi/fcntl.js';
import { MS_RDONLY } from '../../uapi/mount.js';
import { PAGE_SIZE, memparse } from '../../mm/index.js';
import {
  Inode, SuperBlock, Dentry, SimpleXattrs, type InodeOperations, type FileOperations,
  type FileSystemType, type MountRequest, type InodeInit, type Iattr, type File, type DirContext,
  simpleSetattr, type Vfs,
} from '../vfs/index.js';

class TmpfsSuper extends SuperBlock {
  maxBlocks = 0;
  usedBlocks = 0;
  maxInodes = 0;
  usedInodes = 0;
  nextIno = 2;
  rootMode = S_IFDIR | 0o1777;
  rootUid = 0;
  rootGid = 0;
  sizeSpec = '';
}

export class TmpfsInode extends Inode {
  /** File data pages; undefined entries are holes. */
  pages: (Uint8Array | undefined)[] = [];
  target: ByteString = '';
  xattrs = new SimpleXattrs();
  linkable = false;
  declare sb: TmpfsSuper;
}

function tsb(i: Inode): TmpfsSuper { return i.sb as TmpfsSuper; }

function newInode(sb: TmpfsSuper, init: InodeInit): TmpfsInode {
  if (sb.maxInodes && sb.usedInodes >= sb.maxInodes) fail(ENOSPC);
  const t = init.mode & S_IFMT;
  const ops = t === S_IFDIR ? dirOps : t === S_IFLNK ? linkOps : fileInodeOps;
  const fops = t === S_IFDIR ? dirFops : t === S_IFREG ? fileFops : emptyFops;
  const inode = new TmpfsInode(sb, sb.nextIno++, init.mode, ops, fops);
  inode.uid = init.uid; inode.gid = init.gid; inode.rdev = init.rdev;
  inode.nlink = t === S_IFDIR ? 2 : 1;
  inode.generation = sb.nextIno;
  if (t === S_IFDIR) inode.size = 40; // Linux tmpfs: BOGO_DIRENT_SIZE * entries, starting at 2*20
  sb.usedInodes++;
  return inode;
}

const BOGO_DIRENT_SIZE = 20;

function freePages(inode: TmpfsInode, from: number, to = inode.pages.length): void {
  const sb = tsb(inode);
  let n = 0;
  for (let i = from; i < to && i < inode.pages.length; i++) if (inode.pages[i]) { inode.pages[i] = undefined; n++; }
  if (to >= inode.pages.length) inode.pages.length = Math.min(inode.pages.length, from);
  if (n) { sb.usedBlocks -= n; sb.vfs.mem.uncharge('shmem', n); inode.blocks -= n * 8; }
}

function getPage(inode: TmpfsInode, idx: number): Uint8Array {
  let p = inode.pages[idx];
  if (p) return p;
  const sb = tsb(inode);
  if (sb.maxBlocks && sb.usedBlocks >= sb.maxBlocks) fail(ENOSPC);
  sb.vfs.mem.charge('shmem', 1);
  sb.usedBlocks++;
  inode.blocks += 8;
  p = new Uint8Array(PAGE_SIZE);
  inode.pages[idx] = p;
  return p;
}

function truncatePages(inode: TmpfsInode, size: number): void {
  if (size < inode.size) {
    const firstWhole = Math.ceil(size / PAGE_SIZE);
    freePages(inode, firstWhole);
    const off = size % PAGE_SIZE;
    const last = inode.pages[Math.floor(size / PAGE_SIZE)];
    if (off && last) last.fill(0, off);
  }
  inode.size = size;
}

const fileInodeOps: InodeOperations = {
  setattr(inode, attr: Iattr) {
    if (attr.size !== undefined && attr.size !== inode.size) truncatePages(inode as TmpfsInode, attr.size);
    const { size: _s, ...rest } = attr;
    simpleSetattr(inode, rest);
  },
  getxattr: (i, n) => (i as TmpfsInode).xattrs.get(n),
  setxattr: (i, n, v, f) => { (i as TmpfsInode).xattrs.set(n, v, f); i.touch(false); },
  listxattr: (i) => (i as TmpfsInode).xattrs.list(),
  removexattr: (i, n) => { (i as TmpfsInode).xattrs.remove(n); i.touch(false); },
};

const linkOps: InodeOperations = {
  ...fileInodeOps,
  readlink: (i) => (i as TmpfsInode).target,
};

function addEntry(dir: Inode, inode: Inode): void {
  dir.size += BOGO_DIRENT_SIZE;
  dir.touch(true);
  void inode;
}

const dirOps: InodeOperations = {
  ...fileInodeOps,
  setattr(inode, attr) { const { size: _s, ...rest } = attr; simpleSetattr(inode, rest); },
  create(dir, _name, init) { const i = newInode(tsb(dir), init); addEntry(dir, i); return i; },
  mknod(dir, _name, init) { const i = newInode(tsb(dir), init); addEntry(dir, i); return i; },
  mkdir(dir, _name, init) {
    const i = newInode(tsb(dir), init);
    dir.nlink++;
    addEntry(dir, i);
    return i;
  },
  symlink(dir, _name, target, init) {
    const sb = tsb(dir);
    const i = newInode(sb, init);
    i.target = target;
    i.size = target.length;
    // Long targets take a page, as in Linux (inline up to the inode's own space).
    if (target.length >= 128) { try { getPage(i, 0); } catch (e) { sb.usedInodes--; throw e; } }
    addEntry(dir, i);
    return i;
  },
  link(inode, dir) { inode.nlink++; inode.touch(false); addEntry(dir, inode); },
  unlink(dir, _name, inode) {
    inode.nlink--;
    inode.touch(false);
    dir.size -= BOGO_DIRENT_SIZE;
    dir.touch(true);
  },
  rmdir(dir, _name, inode) {
    inode.nlink = 0;
    dir.nlink--;
    dir.size -= BOGO_DIRENT_SIZE;
    dir.touch(true);
  },
  rename(oldDir, _oldName, inode, newDir, _newName, target, flags) {
    const exchange = (flags & 2) !== 0;
    if (exchange) {
      if (oldDir !== newDir && inode.isDir !== target!.isDir) {
        if (inode.isDir) { oldDir.nlink--; newDir.nlink++; } else { newDir.nlink--; oldDir.nlink++; }
      }
      target!.touch(false);
    } else {
      if (target) {
        if (target.isDir) { target.nlink = 0; newDir.nlink--; } else target.nlink--;
        target.touch(false);
        newDir.size -= BOGO_DIRENT_SIZE;
      }
      if (inode.isDir && oldDir !== newDir) { oldDir.nlink--; newDir.nlink++; }
      oldDir.size -= BOGO_DIRENT_SIZE;
      newDir.size += BOGO_DIRENT_SIZE;
    }
    inode.touch(false);
    oldDir.touch(true);
    newDir.touch(true);
  },
  tmpfile(dir, init) {
    const i = newInode(tsb(dir), init);
    i.nlink = 0;
    i.linkable = true;
    return i;
  },
};

function fileRead(file: File, buf: Uint8Array, pos: number): number {
  const inode = file.inode as TmpfsInode;
  if (pos >= inode.size) return 0;
  const n = Math.min(buf.length, inode.size - pos);
  let done = 0;
  while (done < n) {
    const p = pos + done;
    const idx = Math.floor(p / PAGE_SIZE), off = p % PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - off, n - done);
    const page = inode.pages[idx];
    if (page) buf.set(page.subarray(off, off + len), done);
    else buf.fill(0, done, done + len);
    done += len;
  }
  return n;
}

function fileWrite(file: File, buf: Uint8Array, pos: number): number {
  const inode = file.inode as TmpfsInode;
  let done = 0;
  try {
    while (done < buf.length) {
      const p = pos + done;
      const idx = Math.floor(p / PAGE_SIZE), off = p % PAGE_SIZE;
      const len = Math.min(PAGE_SIZE - off, buf.length - done);
      getPage(inode, idx).set(buf.subarray(done, done + len), off);
      done += len;
    }
  } catch (e) {
    // A short write is a success for what was written (ENOSPC only when nothing was).
    if (done === 0) throw e;
  } finally {
    if (pos + done > inode.size) inode.size = pos + done;
    if (done) inode.touch(true);
  }
  return done;
}

const fileFops: FileOperations = {
  read: fileRead,
  write: fileWrite,
  fsync() { /* memory is the backing store */ },
  fallocate(file, mode, offset, len) {
    const inode = file.inode as TmpfsInode;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) fail(EOPNOTSUPP);
    const end = offset + len;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      if (!(mode & FALLOC_FL_KEEP_SIZE)) fail(EOPNOTSUPP);
      zeroRange(inode, offset, Math.min(end, inode.size), true);
      inode.touch(true);
      return;
    }
    if (mode & FALLOC_FL_ZERO_RANGE) {
      zeroRange(inode, offset, Math.min(end, Math.max(inode.size, end)), false);
    }
    const first = Math.floor(offset / PAGE_SIZE), last = Math.ceil(end / PAGE_SIZE);
    const sb = tsb(inode);
    let need = 0;
    for (let i = first; i < last; i++) if (!inode.pages[i]) need++;
    if (sb.maxBlocks && sb.usedBlocks + need > sb.maxBlocks) fail(ENOSPC);
    for (let i = first; i < last; i++) getPage(inode, i);
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > inode.size) inode.size = end;
    inode.touch(mode !== 0);
  },
  seekData(file, offset, hole) {
    const inode = file.inode as TmpfsInode;
    let p = offset;
    while (p < inode.size) {
      const present = inode.pages[Math.floor(p / PAGE_SIZE)] !== undefined;
      if (present !== hole) return p;
      p = (Math.floor(p / PAGE_SIZE) + 1) * PAGE_SIZE;
    }
    if (hole) return inode.size;
    fail(6 /* ENXIO */);
  },
};

function zeroRange(inode: TmpfsInode, from: number, to: number, punch: boolean): void {
  let p = from;
  while (p < to) {
    const idx = Math.floor(p / PAGE_SIZE), off = p % PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - off, to - p);
    if (punch && off === 0 && len === PAGE_SIZE) freePages(inode, idx, idx + 1);
    else inode.pages[idx]?.fill(0, off, off + len);
    p += len;
  }
}

const emptyFops: FileOperations = {};

/** dcache_readdir with stable offsets: ".", "..", then children in creation order. */
const dirFops: FileOperations = {
  iterate(file: File, ctx: DirContext) {
    const d = file.path.dentry;
    if (ctx.pos === 0) { if (!ctx.emit('.', file.inode.ino, 4)) return; ctx.pos = 1; }
    if (ctx.pos === 1) { if (!ctx.emit('..', d.parent.inode!.ino, 4)) return; ctx.pos = 2; }
    for (const c of d.children.values()) {
      if (!c.inode || c.offset < ctx.pos) continue;
      if (!ctx.emit(c.name, c.inode.ino, modeToDtype(c.inode.mode))) return;
      ctx.pos = c.offset + 1;
    }
    ctx.pos = Number.MAX_SAFE_INTEGER;
  },
  fsync() {},
};

function parseOptions(sb: TmpfsSuper, data: string, totalPages: number, remount: boolean): void {
  for (const opt of data.split(',')) {
    if (!opt) continue;
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const val = eq < 0 ? '' : opt.slice(eq + 1);
    switch (key) {
      case 'size': {
        let bytes: number;
        if (val.endsWith('%')) bytes = Math.floor(totalPages * PAGE_SIZE * Number(val.slice(0, -1)) / 100);
        else bytes = memparse(val);
        if (!Number.isFinite(bytes)) fail(EINVAL);
        sb.maxBlocks = Math.ceil(bytes / PAGE_SIZE);
        if (remount && sb.maxBlocks && sb.usedBlocks > sb.maxBlocks) fail(EINVAL);
        break;
      }
      case 'nr_blocks': sb.maxBlocks = memparse(val); break;
      case 'nr_inodes': {
        const n = memparse(val);
        if (!Number.isFinite(n)) fail(EINVAL);
        sb.maxInodes = n;
        break;
      }
      case 'mode': if (!remount) sb.rootMode = S_IFDIR | (parseInt(val, 8) & 0o7777); break;
      case 'uid': if (!remount) sb.rootUid = Number(val); break;
      case 'gid': if (!remount) sb.rootGid = Number(val); break;
      case 'huge': case 'mpol': case 'inode32': case 'inode64': case 'noswap': case 'quota': break;
      default:
        sb.vfs.printk(3, `tmpfs: Unknown parameter '${key}'`);
        fail(EINVAL);
    }
  }
}

export function createTmpfsType(name = 'tmpfs'): FileSystemType {
  const type: FileSystemType = {
    name,
    fsFlags: 0,
    mount(req: MountRequest) {
      const vfs: Vfs = req.vfs;
      const sb = new TmpfsSuper(vfs, type, req.flags & MS_RDONLY, {
        statfs(s): Kstatfs {
          const t = s as TmpfsSuper;
          const blocks = t.maxBlocks || vfs.mem.totalPages;
          const files = t.maxInodes || Number.MAX_SAFE_INTEGER;
          return {
            type: TMPFS_MAGIC, bsize: PAGE_SIZE, blocks, bfree: Math.max(0, blocks - t.usedBlocks),
            bavail: Math.max(0, blocks - t.usedBlocks), files, ffree: Math.max(0, files - t.usedInodes),
            fsid: [0, 0], namelen: 255, frsize: PAGE_SIZE, flags: 0,
          };
        },
        remount(s, _flags, data) { parseOptions(s as TmpfsSuper, data, vfs.mem.totalPages, true); },
        showOptions(s) {
          const t = s as TmpfsSuper;
          const o: string[] = [];
          if (t.maxBlocks) o.push(`size=${t.maxBlocks * 4}k`);
          if (t.maxInodes) o.push(`nr_inodes=${t.maxInodes}`);
          if ((t.rootMode & 0o7777) !== 0o1777) o.push(`mode=${(t.rootMode & 0o7777).toString(8).padStart(3, '0')}`);
          if (t.rootUid) o.push(`uid=${t.rootUid}`);
          if (t.rootGid) o.push(`gid=${t.rootGid}`);
          o.push('inode64');
          return o.join(',');
        },
        evictInode(inode) {
          const t = inode as TmpfsInode;
          freePages(t, 0);
          tsb(t).usedInodes--;
        },
        putSuper(s) {
          // Free every page still held by files of this instance.
          const walk = (d: Dentry) => {
            for (const c of d.children.values()) {
              if (c.inode instanceof TmpfsInode) freePages(c.inode, 0);
              walk(c);
            }
          };
          walk(s.root);
        },
      }, name);
      sb.magic = TMPFS_MAGIC;
      sb.blocksize = PAGE_SIZE;
      sb.dcacheAuthoritative = true;
      // Defaults: half of RAM for data, half the pages of RAM for inodes.
      sb.maxBlocks = Math.floor(vfs.mem.totalPages / 2);
      sb.maxInodes = Math.floor(vfs.mem.totalPages / 2);
      parseOptions(sb, req.data, vfs.mem.totalPages, false);
      const root = newInode(sb, { mode: sb.rootMode, uid: sb.rootUid, gid: sb.rootGid, rdev: 0 });
      root.ino = 1;
      sb.nextIno = 2;
      sb.root = new Dentry('/', null, root);
      return sb;
    },
  };
  return type;
}
