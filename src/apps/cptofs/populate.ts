/*
 * `lkl mkfs -d DIR`: fill a freshly made filesystem from a host directory, as `mke2fs -d` does,
 * with cptofs's engine: the image is mounted read-write in a kernel booted in this process and
 * the tree goes in through system calls (main.ts's withMountedImage, tree.ts's TreeCopier in its
 * 'mke2fs' style), so the filesystem code that writes it is the kernel's own, journal and all.
 *
 * What e2fsprogs 1.47's mke2fs -d does, and so what this does (tree.ts lists the per-object
 * rules):
 *  - DIR's entries become the root's; DIR's own mode, owner and times are not used (the root
 *    keeps mkfs's 0755 and its creation time), but DIR's extended attributes are copied onto
 *    the root;
 *  - a lost+found in DIR is filled into the one mkfs made;
 *  - the root's times, which the copy moves, are put back to the creation time.
 * Where it differs: crtime is the time of the copy to the nanosecond (mke2fs: whole seconds),
 * and with E2FSPROGS_FAKE_TIME it starts at the fake time and runs on during the copy (mke2fs's
 * stays put).
 */
import { argBytes, shownPath, CopyError } from './sides.js';
import { TreeCopier, CopyAborted } from './tree.js';
import { KernelSide } from './kernel_side.js';
import { HostSide } from './host_side.js';
import { withMountedImage } from './main.js';
import { Fatal } from '../fs2tar/main.js';
import { strerror } from '../../uapi/errno_text.js';
import { ENOSPC } from '../../uapi/errno.js';
import { CLOCK_REALTIME } from '../../uapi/misc.js';

export interface PopulateOptions {
  /** The image (or block device) just formatted. */
  image: string;
  /** ext2, ext3 or ext4: the mount type. */
  fstype: string;
  /** The host directory whose contents go in. */
  source: string;
  /** The filesystem's creation time (seconds): the root's times are left at it. */
  createdSec: number;
  /** E2FSPROGS_FAKE_TIME / SOURCE_DATE_EPOCH: the kernel's clock starts there (crtimes). */
  fakeTime?: number;
  /** Kernel memory, MiB. */
  mb?: number;
  warn(msg: string): void;
}

export interface PopulateResult { status: number; entries: number; bytes: number; errors: number }

/** Copy `source`'s contents into the image's root. Throws Fatal with a one-line message. */
export async function populateImage(o: PopulateOptions): Promise<PopulateResult> {
  const stats = { entries: 0, bytes: 0, errors: 0 };
  const spec = { mode: 'cptofs' as const, image: o.image, part: 0, fstype: o.fstype, mb: o.mb ?? 100, printk: false };
  const status = await withMountedImage(spec, process, o.warn, async (k, helper) => {
    if (!helper) o.warn('warning: no python3 on this host: extended attributes, devices, fifos and sockets are not copied');
    const host = new HostSide(helper);
    const kernel = new KernelSide(k, { ctime: true });
    const copier = new TreeCopier(host, kernel, { owner: null, group: null, selinux: null, style: 'mke2fs', warn: o.warn });
    const src = argBytes(o.source);
    try {
      await host.prepare(src);
      // The root's extended attributes are DIR's, as mke2fs copies them.
      for (const [name, value] of await host.xattrs(src)) {
        try { await kernel.lsetxattr('/', name, value); } catch (e) {
          stats.errors++;
          o.warn(`${shownPath(src)}: setxattr ${shownPath(name)}: ${strerror(e instanceof CopyError ? e.errno : 5)}`);
        }
      }
      await copier.copyEntries(src, '/');
    } catch (e) {
      if (e instanceof CopyAborted && e.errno === ENOSPC) {
        throw new Fatal(`'${o.image}': no space left on the image (while copying ${shownPath(e.path)}); give a larger size`);
      }
      if (e instanceof CopyError) throw new Fatal(`${shownPath(src)}: ${e.op}: ${strerror(e.errno)}`);
      throw e;
    }
    const t = { sec: o.createdSec, nsec: 0 };
    await kernel.lutimes('/', t, t, t);
    let status = 0;
    for (const [p, n] of await host.settle()) { o.warn(`${shownPath(p)}: utimensat: ${strerror(n)}`); status = 1; }
    stats.entries = copier.stats.entries;
    stats.bytes = copier.stats.bytes;
    stats.errors += copier.stats.errors;
    return stats.errors > 0 ? 1 : status;
  }, async (k) => {
    if (o.fakeTime !== undefined) await k.sys.clock_settime(CLOCK_REALTIME, { sec: o.fakeTime, nsec: 0 });
  });
  return { status, ...stats };
}
