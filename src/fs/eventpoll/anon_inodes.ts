/*
 * Anonymous inodes (fs/anon_inodes.c) and this unit's halt bookkeeping.
 *
 * eventfd and epoll files belong to no directory. Linux gives them all one shared inode on an
 * internal, unmountable "anon_inodefs": st_mode 0600 without a file type, owned by root, one
 * st_ino for every such file. Each file gets its own dentry whose name /proc/<pid>/fd shows
 * ("anon_inode:[eventfd]"). Such files have no position: lseek and pread are ESPIPE.
 *
 * Halt: sleepers in eventfd reads and writes, epoll_wait and poll register the queue they sleep
 * on here; eventpollInit(vfs, haltWait) makes a kernel halt wake them all with EINTR.
 */
import { fail } from '../../lib/errors.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import { ENODEV, EINTR } from '../../uapi/errno.js';
import { O_ACCMODE, O_NONBLOCK } from '../../uapi/fcntl.js';
import { S_IFDIR, ANON_INODE_FS_MAGIC, type Kstatfs } from '../../uapi/stat.js';
import { PAGE_SIZE } from '../../mm/index.js';
import type { Cred } from '../../kernel/auth/index.js';
import type { Clock } from '../../kernel/ktime/index.js';
import {
  Inode, SuperBlock, Dentry, File, FMODE_READ, FMODE_WRITE, FMODE_STREAM, type Vfs, type Mount,
  type FileOperations, type FileSystemType,
} from '../vfs/index.js';

interface AnonFs { sb: SuperBlock; mnt: Mount; inode: Inode }

const anonType: FileSystemType = { name: 'anon_inodefs', fsFlags: 0, mount: () => fail(ENODEV) };
const anonByVfs = new WeakMap<Vfs, AnonFs>();

function anonFs(vfs: Vfs): AnonFs {
  let a = anonByVfs.get(vfs);
  if (a) return a;
  const sb = new SuperBlock(vfs, anonType, 0, {
    statfs: (): Kstatfs => ({
      type: ANON_INODE_FS_MAGIC, bsize: PAGE_SIZE, blocks: 0, bfree: 0, bavail: 0, files: 0,
      ffree: 0, fsid: [0, 0], namelen: 255, frsize: PAGE_SIZE, flags: 0,
    }),
  }, 'anon_inodefs');
  sb.magic = ANON_INODE_FS_MAGIC;
  sb.blocksize = PAGE_SIZE;
  sb.root = new Dentry('/', null, new Inode(sb, 1, S_IFDIR | 0o700, {}, {}));
  const mnt = vfs.newMount(sb, sb.root, 0, 'anon_inodefs');
  // The one inode every anonymous file shares (anon_inode_inode): no type bits, 0600, root.
  const inode = new Inode(sb, 2, 0o600, {}, {});
  inode.nlink = 1;
  inode.alias = null;
  a = { sb, mnt, inode };
  anonByVfs.set(vfs, a);
  return a;
}

/** The anon_inodefs superblock of a kernel. */
export function anonInodeSuper(vfs: Vfs): SuperBlock { return anonFs(vfs).sb; }

/**
 * anon_inode_getfile: a new file on the shared anonymous inode. `name` is the bracketed kind
 * ("[eventfd]"); flags carry the access mode and O_NONBLOCK.
 */
export function anonInodeGetfile(vfs: Vfs, cred: Cred, name: string, fop: FileOperations,
  priv: unknown, flags: number): File {
  const a = anonFs(vfs);
  const dentry = new Dentry(`anon_inode:${name}`, a.sb.root, a.inode);
  // Only the access mode and O_NONBLOCK reach f_flags (O_CLOEXEC belongs to the fd table).
  const f = new File({ mnt: a.mnt, dentry }, a.inode, flags & (O_ACCMODE | O_NONBLOCK), fop, cred);
  f.mode = (f.mode & (FMODE_READ | FMODE_WRITE)) | FMODE_STREAM;
  f.private_data = priv;
  a.inode.openCount++;
  a.mnt.refs++;
  return f;
}

// ---- halt ---------------------------------------------------------------------------------------

/** Queues someone sleeps on now, with how many sleep there. */
interface HaltState { halted: boolean; readonly sleeping: Map<WaitQueue, number> }
const haltByVfs = new WeakMap<Vfs, HaltState>();

function haltState(vfs: Vfs): HaltState {
  let h = haltByVfs.get(vfs);
  if (!h) haltByVfs.set(vfs, (h = { halted: false, sleeping: new Map() }));
  return h;
}

/** Kernel halt: wake every sleeper of this unit; they, and later sleeps, fail with EINTR. */
export function eventpollHalt(vfs: Vfs): void {
  const h = haltState(vfs);
  h.halted = true;
  for (const wq of [...h.sleeping.keys()]) wq.wakeAll(-EINTR);
}

/** Initcall: hook the kernel's halt queue (woken with -EINTR at halt). */
export function eventpollInit(vfs: Vfs, haltWait?: WaitQueue): void {
  haltState(vfs);
  if (!haltWait) return;
  const onHalt = (key: number): void => {
    if (key !== -EINTR) return; // timers wake the same queue with 0
    haltWait.removeCallback(onHalt);
    eventpollHalt(vfs);
  };
  haltWait.addCallback(onHalt);
}

export function isHalted(vfs: Vfs): boolean { return haltState(vfs).halted; }

/**
 * Sleep on `wq` until woken or until the absolute monotonic `deadline` (Infinity: none).
 * Returns the wake key, -1 on timeout; EINTR once the kernel halts.
 */
export async function haltableWait(vfs: Vfs, wq: WaitQueue, deadline = Infinity, clock: Clock = vfs.clock): Promise<number> {
  const h = haltState(vfs);
  if (h.halted) fail(EINTR);
  h.sleeping.set(wq, (h.sleeping.get(wq) ?? 0) + 1);
  let key: number;
  try { key = await clock.waitTimeout(wq, deadline); }
  finally {
    const n = h.sleeping.get(wq)! - 1;
    if (n) h.sleeping.set(wq, n); else h.sleeping.delete(wq);
  }
  if (h.halted) fail(EINTR);
  return key;
}
