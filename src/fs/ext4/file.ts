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
import { fail, isPromise, KernelError, type MaybePromise } from '../../lib/errors.js';
import { ENXIO, EIO } from '../../uapi/errno.js';
import type { File, FileOperations, Inode } from '../vfs/index.js';
import { ENOKEY, type Ext4Inode, type BlockMapping } from './ext4.js';
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

/** One read in progress: what ext4FileRead's steps share. */
interface ReadOp {
  inode: Ext4Inode;
  buf: Uint8Array;
  pos: number;
  /** Bytes the read returns (buf.length bounded by i_size). */
  n: number;
  done: number;
  ra: RaState;
  sequential: boolean;
  journalled: boolean;
}

/** A step ended the read early (an error after some bytes were copied): return `done`. */
const PARTIAL = -1;

/**
 * Read up to buf.length bytes at `pos` (ext4_file_read_iter for buffered reads). The read goes run
 * by run; it stays synchronous while every run is (extents known, blocks cached or the disk
 * synchronous), which is most reads: no promise per read then.
 */
export function ext4FileRead(file: File, buf: Uint8Array, pos: number): MaybePromise<number> {
  const inode = file.inode as Ext4Inode;
  const size = inode.size;
  if (pos >= size || buf.length === 0) return 0;
  const n = Math.min(buf.length, size - pos);
  if (inode.hasInlineData) return readInline(inode, buf, pos, n);
  const ra = raState(file);
  const op: ReadOp = {
    inode, buf, pos, n, done: 0, ra,
    sequential: pos === ra.prevEnd || pos === 0,
    journalled: ext4ShouldJournalData(inode),
  };
  return readRuns(op);
}

async function readInline(inode: Ext4Inode, buf: Uint8Array, pos: number, n: number): Promise<number> {
  const data = await readInlineData(inode);
  const avail = Math.max(0, Math.min(n, data.length - pos));
  if (avail > 0) buf.set(data.subarray(pos, pos + avail), 0);
  if (avail < n) buf.fill(0, Math.max(avail, 0), n);
  return n;
}

/** Run the steps until the read is complete; continues asynchronously once a step must wait. */
function readRuns(op: ReadOp): MaybePromise<number> {
  while (op.done < op.n) {
    const r = readStep(op);
    if (r === PARTIAL) return op.done;
    if (isPromise(r)) return r.then((v) => (v === PARTIAL ? op.done : readRuns(op)));
  }
  op.ra.prevEnd = op.pos + op.n;
  return op.n;
}

/** Map the next run of the read and copy it in; PARTIAL ends the read with what it has. */
function readStep(op: ReadOp): MaybePromise<number> {
  const bs = op.inode.sbi.blockSize;
  const lblk = Math.floor((op.pos + op.done) / bs);
  const off = op.pos + op.done - lblk * bs;
  const wantBlocks = Math.ceil((off + op.n - op.done) / bs);
  // The page cache reports a failed mapping as an I/O error on the read (already logged).
  const mapFailed = (e: unknown): number => {
    if (e instanceof KernelError) { if (op.done > 0) return PARTIAL; fail(EIO); }
    throw e;
  };
  let m: MaybePromise<BlockMapping>;
  try { m = op.inode.mapBlocks(lblk, Math.max(wantBlocks, 1)); } catch (e) { return mapFailed(e); }
  if (isPromise(m)) return m.then((mm) => copyRun(op, mm, off), mapFailed);
  return copyRun(op, m, off);
}

/** Copy one mapped run (hole, streamed extent or cached blocks) into the caller's buffer. */
function copyRun(op: ReadOp, m: BlockMapping, off: number): MaybePromise<number> {
  const { inode, buf, n, ra } = op;
  const sbi = inode.sbi;
  const bs = sbi.blockSize;
  const done = op.done;
  const runBytes = Math.min(m.len * bs - off, n - done);
  if (!m.pblk || m.unwritten) {
    buf.fill(0, done, done + runBytes);
    op.done += runBytes;
    return 0;
  }
  // A read of a whole file in one call (an archiver, cp, cat of a small file) streams too: one
  // disk read straight into the caller's buffer, exactly the file's bytes, so small files read
  // once do not cycle through the cache the metadata lives in.
  const whole = op.pos === 0 && n === inode.size && done + runBytes === n;
  if (off === 0 && (runBytes >= STREAM_MIN_BYTES || whole) &&
      !(op.journalled && overlayHolds(sbi, m.pblk, Math.ceil(runBytes / bs)))) {
    const bytes = whole ? runBytes : runBytes - (runBytes % bs);
    const streamFailed = (e: unknown): number => {
      if (e instanceof KernelError && op.done > 0) return PARTIAL;
      throw e;
    };
    let r: void | Promise<void>;
    try { r = sbi.bdev.readStream(m.pblk, bs, buf.subarray(done, done + bytes)); } catch (e) { return streamFailed(e); }
    if (isPromise(r)) return r.then(() => { op.done += bytes; return 0; }, streamFailed);
    op.done += bytes;
    return 0;
  }
  // Ask for the rest of this physical run ahead of time on sequential access.
  if (op.sequential) {
    const runEndBlk = m.pblk + m.len;
    const raFrom = Math.max(m.pblk + Math.ceil((off + runBytes) / bs), ra.raEnd);
    const raTo = Math.min(runEndBlk, raFrom + Math.max(1, READAHEAD_BYTES >> sbi.blockBits));
    if (raTo > raFrom) { sbi.bdev.readahead(raFrom, raTo - raFrom, bs); ra.raEnd = raTo; }
  }
  // The whole run through the cache in one call, a page at a time; block by block (bread) only
  // where a journalled copy may be newer than the disk's.
  if (overlayHolds(sbi, m.pblk, Math.ceil((off + runBytes) / bs))) return copyBlocks(op, m.pblk, off, runBytes, 0);
  const r = sbi.bdev.readCached(m.pblk * bs + off, buf.subarray(done, done + runBytes));
  if (isPromise(r)) return r.then(() => { op.done += runBytes; return 0; });
  op.done += runBytes;
  return 0;
}

/** Copy `runBytes` from block `blk` on (the first at offset `boff`), `copied` of them already. */
function copyBlocks(op: ReadOp, blk: number, boff: number, runBytes: number, copied: number): MaybePromise<number> {
  const sbi = op.inode.sbi;
  const bs = sbi.blockSize;
  while (copied < runBytes) {
    const r = sbi.bread(blk, false);
    if (isPromise(r)) {
      const at = copied, b = blk, o = boff;
      return r.then((data) => {
        const len = Math.min(bs - o, runBytes - at);
        op.buf.set(data.subarray(o, o + len), op.done + at);
        return copyBlocks(op, b + 1, 0, runBytes, at + len);
      });
    }
    const len = Math.min(bs - boff, runBytes - copied);
    op.buf.set(r.subarray(boff, boff + len), op.done + copied);
    copied += len;
    boff = 0;
    blk++;
  }
  op.done += runBytes;
  return 0;
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
