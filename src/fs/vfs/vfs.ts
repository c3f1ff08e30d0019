/*
 * One kernel's VFS state: registered filesystem types, character devices, the FIFO handler,
 * the mount tree, and the services filesystems need from the kernel (clock, log, memory).
 * Nothing here is module-level: two kernels in one process have two Vfs objects.
 */
import type { Clock } from '../../kernel/ktime/index.js';
import type { MemoryBudget } from '../../mm/index.js';
import type { Printk } from '../../kernel/printk/index.js';
import { fail } from '../../lib/errors.js';
import { ENODEV, EBUSY } from '../../uapi/errno.js';
import { MKDEV, MAJOR } from '../../uapi/stat.js';
import type { FileSystemType, SuperBlock } from './super.js';
import type { FileOperations } from './file.js';
import { Mount } from './mount.js';
import { Dcache, dget, type Dentry } from './dentry.js';

export interface VfsServices {
  clock: Clock;
  mem: MemoryBudget;
  printk: Printk;
  entropy(buf: Uint8Array): void;
  /** Stop the kernel (errors=panic of a filesystem); prints Linux's panic line. */
  panic?(message: string): never;
}

/** Block device lookup by dev_t, supplied by the block layer's owner (the kernel). */
export type BlockDeviceResolver = (dev: number) => unknown | undefined;

export class Vfs {
  readonly clock: Clock;
  readonly mem: MemoryBudget;
  readonly printk: Printk;
  readonly services: VfsServices;
  readonly fsTypes = new Map<string, FileSystemType>();
  /** Character devices by major, then minor (a minor of -1 serves the whole major). */
  readonly chrdevs = new Map<number, Map<number, { name: string; fop: FileOperations }>>();
  /** Block devices: opened through this resolver (set by the block layer owner). */
  blockDevice: BlockDeviceResolver = () => undefined;
  /** Set by the pipe implementation: how a FIFO inode is opened. */
  fifoFop: FileOperations | null = null;
  /** Set by the socket layer: how a socket inode is opened (ENXIO without it). */
  sockFop: FileOperations | null = null;
  /**
   * The task on whose behalf filesystem code is running now (Linux's `current`, as the VFS sees
   * it). Set synchronously right before every call into a filesystem that may care (lookup,
   * readlink, getLink, open), from the caller recorded in the NameiContext; /proc reads it.
   */
  caller: unknown = undefined;
  /** Next readdir position for a new dentry (tmpfs-style stable offsets; "."/".." use 0 and 1). */
  dirOffsetCounter = 2;
  /** The reclaimable dentries of every filesystem, bounded and shrunk under memory pressure. */
  readonly dcache: Dcache;
  rootMount!: Mount;
  readonly mounts = new Set<Mount>();
  private nextMountId = 1;
  private anonMinor = 0;
  private freeAnon: number[] = [];

  constructor(services: VfsServices) {
    this.services = services;
    this.clock = services.clock;
    this.mem = services.mem;
    this.printk = services.printk;
    this.dcache = new Dcache(services.mem);
  }

  /** Kernel panic on a filesystem's behalf (errors=panic); without a kernel, an exception. */
  panic(message: string): never {
    if (this.services.panic) return this.services.panic(message);
    throw new Error(`Kernel panic - not syncing: ${message}`);
  }

  registerFilesystem(fs: FileSystemType): void {
    if (this.fsTypes.has(fs.name)) fail(EBUSY, `filesystem ${fs.name} already registered`);
    this.fsTypes.set(fs.name, fs);
  }
  getFsType(name: string): FileSystemType {
    return this.fsTypes.get(name) ?? fail(ENODEV, `unknown filesystem type '${name}'`);
  }

  registerChrdev(major: number, minor: number, name: string, fop: FileOperations): void {
    let m = this.chrdevs.get(major);
    if (!m) this.chrdevs.set(major, (m = new Map()));
    m.set(minor, { name, fop });
  }
  chrdevFop(rdev: number, minor: number): FileOperations | undefined {
    const m = this.chrdevs.get(MAJOR(rdev));
    return (m?.get(minor) ?? m?.get(-1))?.fop;
  }

  /** get_anon_bdev(): st_dev for filesystems without a block device (major 0). */
  allocAnonDev(): number {
    const minor = this.freeAnon.pop() ?? ++this.anonMinor;
    return MKDEV(0, minor);
  }
  freeAnonDev(dev: number): void { if (MAJOR(dev) === 0) this.freeAnon.push(dev); }

  newMount(sb: SuperBlock, root: Dentry, flags: number, devname: string): Mount {
    const m = new Mount(this.nextMountId++, sb, root, flags, devname);
    // A mount's root stays cached for as long as the mount exists (a bind mount's root included).
    dget(root);
    sb.activeMounts++;
    return m;
  }
}
