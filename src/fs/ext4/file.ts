/*
 * Regular files (fs/ext4/file.c, read side): read, SEEK_DATA/SEEK_HOLE, open.
 *
 * A read maps the range run by run (an extent, a stretch of a block map, or a hole), copies
 * data blocks from the device cache and fills holes and unwritten extents with zeros; bytes past
 * i_size are never returned. Files with inline data (EXT4_INLINE_DATA_FL) keep their bytes in
 * the inode and its system.data xattr; inline.ts reads them.
 *
 * Sequential readers get readahead: when a read starts where the previous one on the same open
 * file ended, the rest of the current physical run (bounded by a window) is handed to the
 * device's readahead, so its blocks are on their way before they are asked for.
 *
 * Journalled data (data=journal, or a chattr +j file under nodelalloc: see jbd.ts) may not be home
 * yet: its newest copy sits in the superblock's overlay until the journal's checkpoint. sbi.bread
 * looks there first; the streaming path, which reads the disk directly, is taken for such a file
 * only when no block of the run is in the overlay. Other files keep the plain fast path.
 *
 * Encrypted files without their key cannot be opened: ENOKEY, as fscrypt_file_open answers.
 * Writes are inode_write.ts's (on a read-write mount).
 */
import { fail, isPromise, KernelError } from '../../lib/errors.js';
import { ENXIO, EIO } from '../../uapi/errno.js';
import type { File, FileOperations, Inode } from '../vfs/index.js';
import { ENOKEY, type Ext4Inode } from './ext4.js';
import { readInlineData } from './inline.js';
import { ext4ShouldJournalData } from './jbd.js';

/** Does any of blocks [pblk, pblk+count) have a journalled copy not yet home? */
function overlayHolds(sbi: Ext4Inode['sbi'], pblk: number, count: number): boolean {
  const o = sbi.metaOverlay;
  if (o.size === 0) return false;
  if (count > o.size) { for (const nr of o.keys()) if (nr >= pblk && nr < pblk + count) return true; return false; }
  for (let i = 0; i < count; i++) if (o.has(pblk + i)) return true;
  return false;
}

/** Readahead window in bytes for sequential reads (Linux's default read_ahead_kb is 128). */
const READAHEAD_BYTES = 128 * 1024;

/**
 * Reads taking at least this many bytes of one physical run go straight from the disk into the
 * caller's buffer when none of it is cached (BlockDevice.readStream): large file data read once
 * does not churn the cache that the metadata lives in.
 */
const STREAM_MIN_BYTES = 64 * 1024;

/** Per-open-file state: where the last read ended (f_ra's prev_pos). */
interface RaState { prevEnd: number; raEnd: number }

function raState(file: File): RaState {
  let s = file.private_data as RaState | undefined;
  if (!s || typeof s !== 'object' || !('prevEnd' in s)) {
    s = { prevEnd: -1, raEnd: 0 };
    file.private_data = s;
  }
  return s;
}

/** Read up to buf.length bytes at `pos` (ext4_file_read_iter for buffered reads). */
export async function ext4FileRead(file: File, buf: Uint8Array, pos: number): Promise<number> {
  const inode = file.inode as Ext4Inode;
  const size = inode.size;
  if (pos >= size || buf.length === 0) return 0;
  const n = Math.min(buf.length, size - pos);
  if (inode.hasInlineData) {
    const data = await readInlineData(inode);
    const avail = Math.max(0, Math.min(n, data.length - pos));
    if (avail > 0) buf.set(data.subarray(pos, pos + avail), 0);
    if (avail < n) buf.fill(0, Math.max(avail, 0), n);
    return n;
  }
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  const bits = sbi.blockBits;
  const ra = raState(file);
  const sequential = pos === ra.prevEnd || pos === 0;
  const journalled = ext4ShouldJournalData(inode);
  let done = 0;
  while (done < n) {
    const p = pos + done;
    const lblk = Math.floor(p / bs);
    const off = p - lblk * bs;
    const wantBlocks = Math.ceil((off + n - done) / bs);
    let m: Awaited<ReturnType<typeof inode.mapBlocks>>;
    try { m = await inode.mapBlocks(lblk, Math.max(wantBlocks, 1)); }
    catch (e) {
      // The page cache reports a failed mapping as an I/O error on the read (already logged).
      if (e instanceof KernelError) { if (done > 0) return done; fail(EIO); }
      throw e;
    }
    const runBytes = Math.min(m.len * bs - off, n - done);
    if (!m.pblk || m.unwritten) {
      buf.fill(0, done, done + runBytes);
      done += runBytes;
      continue;
    }
    // A read of a whole file in one call (an archiver, cp, cat of a small file) streams too: one
    // disk read straight into the caller's buffer, exactly the file's bytes, so small files read
    // once do not cycle through the cache the metadata lives in.
    const whole = pos === 0 && n === size && done + runBytes === n;
    if (off === 0 && (runBytes >= STREAM_MIN_BYTES || whole) &&
        !(journalled && overlayHolds(sbi, m.pblk, Math.ceil(runBytes / bs)))) {
      const bytes = whole ? runBytes : runBytes - (runBytes % bs);
      try {
        const r = sbi.bdev.readStream(m.pblk, bs, buf.subarray(done, done + bytes));
        if (isPromise(r)) await r;
      } catch (e) {
        if (e instanceof KernelError && done > 0) return done;
        throw e;
      }
      done += bytes;
      continue;
    }
    // Ask for the rest of this physical run ahead of time on sequential access.
    if (sequential) {
      const runEndBlk = m.pblk + m.len;
      const raFrom = Math.max(m.pblk + Math.ceil((off + runBytes) / bs), ra.raEnd);
      const raTo = Math.min(runEndBlk, raFrom + Math.max(1, READAHEAD_BYTES >> bits));
      if (raTo > raFrom) { sbi.bdev.readahead(raFrom, raTo - raFrom, bs); ra.raEnd = raTo; }
    }
    let copied = 0;
    let blk = m.pblk;
    let boff = off;
    while (copied < runBytes) {
      const r = sbi.bread(blk);
      const data = isPromise(r) ? await r : r;
      const len = Math.min(bs - boff, runBytes - copied);
      buf.set(data.subarray(boff, boff + len), done + copied);
      copied += len;
      boff = 0;
      blk++;
    }
    done += runBytes;
  }
  ra.prevEnd = pos + n;
  return n;
}

/**
 * SEEK_DATA / SEEK_HOLE (ext4_llseek via iomap): the next offset >= `offset` that is data
 * (or hole). Holes and unwritten extents are holes; the end of file is a hole; no data left is
 * ENXIO. The VFS has already refused offsets at or past i_size.
 */
export async function ext4SeekData(file: File, offset: number, hole: boolean): Promise<number> {
  const inode = file.inode as Ext4Inode;
  const size = inode.size;
  if (inode.hasInlineData) return hole ? size : offset;
  const bs = inode.sbi.blockSize;
  let lblk = Math.floor(offset / bs);
  const lastBlk = Math.ceil(size / bs);
  while (lblk < lastBlk) {
    const m = await inode.mapBlocks(lblk, lastBlk - lblk);
    const isData = m.pblk !== 0 && !m.unwritten;
    if (isData !== hole) return Math.min(Math.max(offset, lblk * bs), size);
    lblk += m.len;
  }
  return hole ? size : fail(ENXIO);
}

export const ext4FileOps: FileOperations = {
  open(inode: Inode) {
    if ((inode as Ext4Inode).encrypted) fail(ENOKEY);
  },
  read: ext4FileRead,
  seekData: ext4SeekData,
  // Nothing is ever dirty on a read-only mount; fsync succeeds as Linux's does there.
  fsync() {},
};
