/*
 * Device drivers presented as files. Character devices: the memory devices of major 1 (null,
 * zero, full, random, urandom) and the terminals of major 5 (tty, console).
 *
 * Network devices (virtio-net, net/virtio_net.ts) are loaded on demand, with the network stack;
 * the in-process cable (net/cable.ts) is a mere frame transport and costs nothing to load.
 *
 * driversInitcall registers the drivers; its late step (after the root filesystem is mounted, as
 * devtmpfs does) creates /dev and the nodes. populateDev is safe to call more than once.
 */
import type { Initcall, Kernel } from '../kernel/index.js';
import { S_IFCHR, MKDEV } from '../uapi/stat.js';
import { memDevices, MEM_MAJOR } from './char/mem.js';
import { ttyDevices, TTYAUX_MAJOR } from './char/console.js';

function devices(k: Kernel) {
  return [
    ...memDevices(k).map((d) => ({ ...d, major: MEM_MAJOR })),
    ...ttyDevices(k).map((d) => ({ ...d, major: TTYAUX_MAJOR })),
  ];
}

/** What populateDev creates: path, mode, major, minor. */
export const DEV_NODES: [string, number, number, number][] = [
  ['/dev/null', 0o666, 1, 3], ['/dev/zero', 0o666, 1, 5], ['/dev/full', 0o666, 1, 7],
  ['/dev/random', 0o666, 1, 8], ['/dev/urandom', 0o666, 1, 9],
  ['/dev/tty', 0o666, 5, 0], ['/dev/console', 0o600, 5, 1],
];

/** Create /dev and its character device nodes (EEXIST tolerated). */
export async function populateDev(k: Kernel): Promise<void> {
  await k.makeDir('/dev', 0o755);
  for (const [path, mode, major, minor] of DEV_NODES) await k.makeDevNode(path, S_IFCHR | mode, MKDEV(major, minor));
}

export const driversInitcall: Initcall = {
  name: 'drivers',
  fn: (k) => { for (const d of devices(k)) k.vfs.registerChrdev(d.major, d.minor, d.name, d.fop); },
  late: populateDev,
};

export { fillRandom } from './char/mem.js';
export { defaultTermios, TERMIOS_SIZE, type Termios, type Winsize } from './char/console.js';
export {
  blockInitcall, diskAdd, diskReady, diskRemove, diskIds, getBlockDevice, resolveBdev, allocVirtioIndex,
} from './block/virtio_blk.js';
// virtio-net needs the network stack, so it is loaded only for a kernel booted with networking
// (a static export here would load src/net/ into every kernel): loadVirtioNet() brings in
// netdevAdd, netdevRemove and netdevGetIfindex. Its types cost nothing.
export type { NetdevOptions, NetdevBackend } from './net/virtio_net.js';
export const loadVirtioNet = () => import('./net/virtio_net.js');
export { createCable, type Cable, type CableEnd } from './net/cable.js';
