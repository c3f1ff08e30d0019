/*
 * FIFOs: named pipes (fifo_open in fs/pipe.c, fifo(7)).
 *
 * A FIFO is an S_IFIFO inode on an ordinary filesystem. The VFS opens it with vfs.fifoFop, set
 * by pipeInit() at boot; from then on its files behave exactly as pipe ends (pipe.ts), with the
 * pipe state hung on the inode while any of them is open and dropped (data included) when the
 * last one closes.
 *
 * What open does depends on the access mode:
 *   O_RDONLY  waits until a writer opens — unless O_NONBLOCK, which succeeds at once (and
 *             suppresses POLLHUP until a writer has been seen);
 *   O_WRONLY  waits until a reader opens; with O_NONBLOCK and no reader: ENXIO;
 *   O_RDWR    never waits (Linux-specific, but relied upon).
 * "Waits until a partner opens" means: until the partner's open counter moves, so a reader that
 * comes and goes while we sleep still lets us through, as in Linux.
 */
import { fail } from '../../lib/errors.js';
import type { WaitQueue } from '../../lib/waitqueue.js';
import { ENXIO, EINVAL, EINTR } from '../../uapi/errno.js';
import { O_NONBLOCK } from '../../uapi/fcntl.js';
import { FMODE_READ, FMODE_WRITE, type File, type FileOperations, type Inode, type Vfs } from '../vfs/index.js';
import {
  PipeInodeInfo, pipeFileOperations, fifoOpsRef, streamOpen, putPipeInfo, pipeWait, pipeHalt,
  type PipeFile,
} from './pipe.js';

/** wait_for_partner: sleep until `counter()` moves; EINTR when the kernel halts. */
async function waitForPartner(pipe: PipeInodeInfo, file: File, counter: () => number): Promise<void> {
  const cur = counter();
  while (counter() === cur) await pipeWait(pipe, file);
}

async function fifoOpen(inode: Inode, file: File): Promise<void> {
  let pipe = inode.pipe as PipeInodeInfo | undefined;
  if (!pipe) { pipe = new PipeInodeInfo(inode.sb.vfs); inode.pipe = pipe; }
  pipe.files++;
  const pf: PipeFile = { pipe, version: 0 };
  file.private_data = pf;
  streamOpen(file);
  const p = pipe;
  // Which counters this open has raised, to undo on failure.
  let asReader = false, asWriter = false;
  try {
    switch (file.mode & (FMODE_READ | FMODE_WRITE)) {
      case FMODE_READ:
        p.rCounter++;
        asReader = true;
        if (p.readers++ === 0) p.wake(0);
        if (!p.writers) {
          if (file.flags & O_NONBLOCK) pf.version = p.wCounter;
          else await waitForPartner(p, file, () => p.wCounter);
        }
        break;
      case FMODE_WRITE:
        if ((file.flags & O_NONBLOCK) && !p.readers) fail(ENXIO);
        p.wCounter++;
        asWriter = true;
        if (p.writers++ === 0) p.wake(0);
        if (!p.readers) await waitForPartner(p, file, () => p.rCounter);
        break;
      case FMODE_READ | FMODE_WRITE:
        p.readers++; p.writers++; p.rCounter++; p.wCounter++;
        asReader = asWriter = true;
        if (p.readers === 1 || p.writers === 1) p.wake(0);
        break;
      default:
        fail(EINVAL);
    }
  } catch (e) {
    if (asReader && --p.readers === 0) p.wake(0);
    if (asWriter && --p.writers === 0) p.wake(0);
    putPipeInfo(inode, p);
    throw e;
  }
}

/** The file operations of an opened FIFO: pipe semantics after fifo_open. */
export const fifoFileOperations: FileOperations = {
  ...pipeFileOperations,
  open: fifoOpen,
};
fifoOpsRef.fop = fifoFileOperations;

/**
 * Initcall: FIFOs open through this unit from now on. Pass the kernel's halt wait queue so that
 * sleepers in pipe reads, writes and FIFO opens give up with EINTR when the kernel halts.
 */
export function pipeInit(vfs: Vfs, haltWait?: WaitQueue): void {
  vfs.fifoFop = fifoFileOperations;
  if (haltWait) {
    const onHalt = (key: number): void => {
      // Timers share the halt queue (Clock.waitTimeout wakes it with key 0); a halt uses -EINTR.
      if (key !== -EINTR) return;
      haltWait.removeCallback(onHalt);
      pipeHalt(vfs);
    };
    haltWait.addCallback(onHalt);
  }
}
