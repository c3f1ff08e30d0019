/*
 * LKL.ts public API — the composition root.
 *
 *   const k = await boot({ cmdline: 'mem=32M loglevel=8' });
 *   await k.sys.getpid();                 // 1
 *   await k.syscall(NR.getpid);           // 1
 *   await k.fs.writeFile('/f', 'hi');     // node:fs/promises shape
 *   await k.halt();
 *
 * boot() takes a host (Node by default), registers every filesystem and driver (the initcalls),
 * and returns a handle whose three levels of API all run as a task: the init task (pid 1) for the
 * kernel handle itself, or one created with k.task().
 *
 * The network stack is optional, as Linux's CONFIG_NET: boot({ net: false }) never loads
 * src/net/ (nor /proc/net, the socket calls' code, virtio-net), which the disk tools use to keep
 * their memory small. With networking (the default) the 'net' initcall loads them by import().
 */
import type { HostOps } from './arch/host.js';
import { createNodeHost } from './arch/node/index.js';
import { Kernel, type Initcall, type Task } from './kernel/index.js';
import { syscallTable, dispatchNow, netSyscallsInit, type SyscallEntry } from './syscalls/index.js';
import { NR } from './uapi/unistd.js';
import { EEXIST, EBUSY, ENOENT, ENOSYS } from './uapi/errno.js';
import { createTmpfsType } from './fs/tmpfs/index.js';
import { procInitcall, procNetInit } from './fs/proc/index.js';
import {
  driversInitcall, blockInitcall, diskAdd, diskReady, diskRemove, getBlockDevice, loadVirtioNet,
} from './drivers/index.js';
import { ext4Initcall } from './fs/ext4/index.js';
import { fatInitcall } from './fs/fat/index.js';
import { createMemoryDisk, type BlockDevice } from './block/index.js';
import type { DiskBackend } from './arch/host.js';
import { new_encode_dev, S_IFBLK } from './uapi/stat.js';
import { MS_RDONLY } from './uapi/mount.js';
import { ENODEV, EROFS, EACCES, EINVAL, EADDRNOTAVAIL, EADDRINUSE, ETIMEDOUT } from './uapi/errno.js';
import { KernelFsError } from './api/index.js';
import { pipeInit } from './fs/pipe/index.js';
import { eventpollInit } from './fs/eventpoll/index.js';
import { LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART } from './uapi/misc.js';
import { makeSys, makeFs, type Sys, type KernelFs } from './api/index.js';
import { KernelError, isPromise, type MaybePromise } from './lib/errors.js';
import type { NetdevBackend, NetdevOptions } from './drivers/index.js';
import { AF_INET, AF_INET6, AF_NETLINK, SOCK_DGRAM, SOCK_RAW, SOCK_CLOEXEC } from './uapi/socket.js';
import {
  IFREQ_SIZE, IFR_UNION_OFFSET, IFF_UP, SIOCGIFNAME, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFMTU,
} from './uapi/if.js';
import {
  NETLINK_ROUTE, NLMSG_HDRLEN, NLMSG_ERROR, NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
  NLM_F_REPLACE, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH, IFADDRMSG_SIZE, RTMSG_SIZE, NDMSG_SIZE,
  IFA_LOCAL, IFA_ADDRESS, RTA_GATEWAY, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST,
  NDA_DST, NDA_LLADDR, NUD_PERMANENT, SOCKADDR_NL_SIZE, RTM_GETADDR, NLM_F_DUMP, NLMSG_DONE, IFA_FLAGS,
  RTA_DST, RTA_OIF,
} from './uapi/rtnetlink.js';

export { NR } from './uapi/unistd.js';
/** What syscallNow returns, and how to tell its two forms apart. */
export { isPromise, type MaybePromise } from './lib/errors.js';
export * as uapi from './uapi/index.js';
export type { HostOps } from './arch/host.js';
export type { Sys, KernelFs, KernelFileHandle, KernelStats } from './api/index.js';
export { KernelFsError } from './api/index.js';
export { createCable, type Cable, type CableEnd } from './drivers/index.js';
export type { NetBackend } from './arch/host.js';
export type { NetdevBackend, NetdevOptions } from './drivers/index.js';
/** The formatters behind `lkl mkfs`: they write through `dev.write(offset, bytes)`, no kernel needed. */
export { mkfsExt4, type Ext4MkfsOptions, type Ext4MkfsSummary } from './fs/ext4/index.js';
export { mkfsVfat, type MkfsVfatOptions, type MkfsVfatSummary } from './fs/fat/index.js';

export interface BootOptions {
  /** Kernel command line, e.g. 'mem=32M loglevel=8'. */
  cmdline?: string;
  /** Host implementation; defaults to the Node host printing to stdout. */
  host?: HostOps;
  /** Disks added before boot (lkl_disk_add before lkl_start_kernel); ids 0, 1, ... in order. */
  disks?: DiskSpec[];
  /**
   * NICs added before boot (lkl_netdev_add before lkl_start_kernel): eth<id> with ids after the
   * disks', in order. `ip=` on the command line configures them during boot (IP-Config).
   */
  netdevs?: (NetdevOptions & { backend: NetdevBackend })[];
  /**
   * Networking (default true). false boots a kernel as Linux built with CONFIG_NET=n, and the
   * network stack's code (src/net/) is never loaded, which saves its memory in programs that only
   * work on disks: socket calls fail with ENOSYS, there is no /proc/net, `ip=` is an unknown
   * parameter passed to init, and netdevAdd throws ENODEV.
   */
  net?: boolean;
}

/** The network stack's modules, loaded (import()) while a kernel with networking boots. */
interface NetModules {
  stack: Awaited<ReturnType<typeof loadNetStack>>;
  virtioNet: Awaited<ReturnType<typeof loadVirtioNet>>;
}

/**
 * The network stack's entry: the socket layer's index re-exports what the composition root needs
 * (netStackInit and friends). Nothing a kernel without networking loads imports src/net/.
 */
const loadNetStack = () => import('./net/socket/index.js');

/** What a kernel booted with net: false says when asked for networking. */
function noNet(): never {
  throw new KernelError(ENODEV, 'kernel booted without networking (boot({ net: false }), as CONFIG_NET=n)');
}

/**
 * A disk: a backend of your own (DiskBackend: capacity, read, write, flush; may be asynchronous),
 * a host image file `{ path, readOnly }`, or bytes in memory.
 */
export type DiskSpec = DiskBackend | { path: string; readOnly?: boolean } | Uint8Array;

export interface MountDevOptions {
  /** 0 = the whole disk, N = the Nth partition (Linux numbering). */
  part?: number;
  /** A registered filesystem type, or 'auto' (the default) to probe the device. */
  fstype?: string;
  /** MS_* flags. */
  flags?: number;
  /** Filesystem options (mount(2) data). */
  opts?: string;
}

/** Probe order for fstype 'auto', with the on-disk signature each is recognised by. */
const PROBES: { fstype: string; test(b: Uint8Array): boolean }[] = [
  { fstype: 'ext4', test: (b) => b[1080] === 0x53 && b[1081] === 0xef },
  {
    fstype: 'vfat',
    test: (b) => b[510] === 0x55 && b[511] === 0xaa && (b[0] === 0xeb || b[0] === 0xe9) &&
      (ascii(b, 54, 3) === 'FAT' || ascii(b, 82, 3) === 'FAT'),
  },
];
function ascii(b: Uint8Array, o: number, n: number): string { return String.fromCharCode(...b.subarray(o, o + n)); }

function toBackend(host: HostOps, spec: DiskSpec): DiskBackend {
  if (spec instanceof Uint8Array) return createMemoryDisk(spec);
  if ('path' in spec) {
    if (!host.openDisk) throw new Error(`this host (${host.name}) cannot open disk images by path`);
    return host.openDisk(spec.path, { readOnly: spec.readOnly ?? false });
  }
  return spec;
}

/**
 * The built-in registrations, in order (Linux's initcall levels collapsed into one list). With
 * networking, the 'net' initcall loads the stack and stores its modules in `net`.
 */
function initcalls(opts: BootOptions, net: { modules?: NetModules }): Initcall[] {
  const list: Initcall[] = [
    { name: 'tmpfs', fn: (k) => { k.vfs.registerFilesystem(createTmpfsType('tmpfs')); k.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    { name: 'pipe', fn: (k) => pipeInit(k.vfs, k.haltWait) },
    { name: 'eventpoll', fn: (k) => eventpollInit(k.vfs, k.haltWait) },
    procInitcall,
    ext4Initcall,
    fatInitcall,
    driversInitcall,
    blockInitcall,
  ];
  if (opts.net === false) return list;
  list.push({
    // The IPv4 and IPv6 stacks and their socket families (netStackInit), /proc/net, the socket
    // system calls, and the NICs the virtio bus found at boot: all loaded only now.
    name: 'net',
    fn: async (k) => {
      const [stack, virtioNet] = await Promise.all([loadNetStack(), loadVirtioNet()]);
      stack.netStackInit(k);
      await procNetInit(k);
      await netSyscallsInit(k);
      for (const d of opts.netdevs ?? []) virtioNet.netdevAdd(k, d.backend, d);
      net.modules = { stack, virtioNet };
    },
  });
  return list;
}

/** Runs a call; the value itself when it completed without waiting (see syscallNow). */
type Dispatcher = (t: Task, nr: number, args: unknown[]) => MaybePromise<number>;

const settle = (r: MaybePromise<number>): Promise<number> => (isPromise(r) ? r : Promise.resolve(r));

/** The syscall-facing handle of one task: raw syscall, typed sys.*, and the fs facade. */
export class KernelTask {
  readonly sys: Sys;
  readonly fs: KernelFs;
  /** @internal */ protected readonly dispatch: Dispatcher;
  /** @internal */ readonly kernelTask: Task;

  /** @internal */
  constructor(dispatch: Dispatcher, task: Task) {
    this.dispatch = dispatch;
    this.kernelTask = task;
    this.sys = makeSys((nr, args) => settle(dispatch(task, nr, args)));
    this.fs = makeFs(this.sys);
  }
  /** Raw system call by asm-generic number: >= 0, or -errno (lkl_syscall). */
  syscall(nr: number, ...args: unknown[]): Promise<number> { return settle(this.dispatch(this.kernelTask, nr, args)); }
  /**
   * @internal syscall() without the promise when the call completed at once (a cached read): for
   * this project's servers of many small calls (lklfuse), where a promise per call is measurable.
   */
  syscallNow(nr: number, ...args: unknown[]): MaybePromise<number> { return this.dispatch(this.kernelTask, nr, args); }
  get pid(): number { return this.kernelTask.tgid; }
  get tid(): number { return this.kernelTask.tid; }
  /** The task ends: its references to files and directories are dropped. */
  async exit(): Promise<void> { await this.kernelTask.kernel.exitTask(this.kernelTask); }

  /**
   * lkl_mount_fs: mount a pseudo filesystem at "/<fstype>" (created 0700).
   * Returns 0, 1 when it is already mounted there (EBUSY), or -errno.
   */
  async mountFs(fstype: string): Promise<number> {
    const dir = `/${fstype}`;
    const r = await this.sys.mkdir(dir, 0o700);
    if (r < 0 && r !== -EEXIST) return r;
    const m = await this.sys.mount(dir, dir, fstype, 0, null);
    if (m === -EBUSY) return 1;
    return m;
  }

  /** lkl_umount_timeout: umount2, retrying every 10 ms while EBUSY until timeoutMs passes. */
  async umountTimeout(path: string, flags: number, timeoutMs: number): Promise<number> {
    const deadline = this.kernelTask.kernel.clock.monotonicNs() + timeoutMs * 1e6;
    for (;;) {
      const r = await this.sys.umount2(path, flags);
      if (r !== -EBUSY || this.kernelTask.kernel.clock.monotonicNs() >= deadline) return r;
      await this.sys.nanosleep({ sec: 0, nsec: 10_000_000 }, null);
    }
  }
}

/** A booted kernel; as a KernelTask it is the init task (pid 1). */
export class LklKernel extends KernelTask {
  /** The kernel object (internal API: tests and apps reach the log buffer and clock here). */
  readonly k: Kernel;

  /** @internal The network stack's modules; undefined when booted with net: false. */
  private readonly net: NetModules | undefined;

  /** @internal */
  constructor(k: Kernel, table: SyscallEntry[], net?: NetModules) {
    super((t, nr, args) => dispatchNow(table, t, nr, args), k.init);
    this.k = k;
    this.net = net;
  }

  /** A new task: a thread of init (LKL host task) sharing its files and cwd until it calls new_thread_group_leader. */
  task(): KernelTask { return new KernelTask(this.dispatch, this.k.createThread(this.k.init)); }

  /** The kernel log as dmesg prints it. */
  dmesg(): string { return this.k.log.dmesg(); }
  get running(): boolean { return this.k.running; }

  /** lkl_disk_add: attach a disk; returns its id (shared numbering with network devices, as LKL). */
  async diskAdd(spec: DiskSpec): Promise<number> {
    const id = diskAdd(this.k, toBackend(this.k.host, spec));
    await diskReady(this.k, id);
    return id;
  }

  /** lkl_disk_remove: EBUSY while one of its filesystems is mounted. */
  async diskRemove(id: number): Promise<void> { await diskRemove(this.k, id); }

  /**
   * lkl_mount_dev: mount disk `id` (partition `part`) at /mnt/%08x named after the encoded dev_t,
   * through a /dev/%08x node, as LKL does. fstype 'auto' probes the signatures of the registered
   * filesystems. Returns the mount point; throws an error with code/errno on failure.
   */
  async mountDev(id: number, o: MountDevOptions = {}): Promise<string> {
    const bdev: BlockDevice = getBlockDevice(this.k, id, o.part ?? 0);
    const name = new_encode_dev(bdev.dev).toString(16).padStart(8, '0');
    const node = `/dev/${name}`, dir = `/mnt/${name}`;
    let fstype = o.fstype ?? 'auto';
    if (fstype === 'auto') fstype = await this.probe(bdev);
    for (const d of ['/dev', '/mnt']) {
      const r = await this.sys.mkdir(d, 0o700);
      if (r < 0 && r !== -17) throw new KernelFsError(-r, 'mkdir', d);
    }
    let r = await this.sys.mknod(node, S_IFBLK | 0o600, new_encode_dev(bdev.dev));
    if (r < 0 && r !== -17) throw new KernelFsError(-r, 'mknod', node);
    r = await this.sys.mkdir(dir, 0o700);
    if (r < 0 && r !== -17) { await this.sys.unlink(node); throw new KernelFsError(-r, 'mkdir', dir); }
    let flags = o.flags ?? 0;
    if (bdev.readOnly) flags |= MS_RDONLY;
    r = await this.sys.mount(node, dir, fstype, flags, o.opts ?? null);
    if (r === -EROFS || r === -EACCES) {
      // Write-protected media: mount read-only instead, as mount(8) and lklfuse do.
      if (!(flags & MS_RDONLY)) r = await this.sys.mount(node, dir, fstype, flags | MS_RDONLY, o.opts ?? null);
    }
    if (r < 0) {
      await this.sys.rmdir(dir); await this.sys.unlink(node);
      throw new KernelFsError(-r, 'mount', `${bdev.name} (${fstype})`);
    }
    return dir;
  }

  /** lkl_umount_dev: unmount (retrying on EBUSY up to timeoutMs), then remove node and mount point. */
  async umountDev(id: number, o: { part?: number; flags?: number; timeoutMs?: number } = {}): Promise<void> {
    const bdev = getBlockDevice(this.k, id, o.part ?? 0);
    const name = new_encode_dev(bdev.dev).toString(16).padStart(8, '0');
    const dir = `/mnt/${name}`;
    const r = await this.umountTimeout(dir, o.flags ?? 0, o.timeoutMs ?? 1000);
    if (r < 0) throw new KernelFsError(-r, 'umount', dir);
    await this.sys.rmdir(dir);
    await this.sys.unlink(`/dev/${name}`);
  }

  private async probe(bdev: BlockDevice): Promise<string> {
    if (bdev.size < 2048) throw new KernelFsError(EINVAL, 'mount', `${bdev.name}: too small to hold a filesystem`);
    const head = await bdev.readBytes(0, Math.min(bdev.size, 4096));
    const tried: string[] = [];
    for (const p of PROBES) {
      if (!this.k.vfs.fsTypes.has(p.fstype)) continue;
      tried.push(p.fstype);
      if (p.test(head)) return p.fstype;
    }
    const e = new KernelFsError(ENODEV, 'mount', `${bdev.name}: no known filesystem signature (tried ${tried.join(', ')})`);
    throw e;
  }

  // ---- network devices and configuration (LKL's lkl_netdev_* and lkl_if_* helpers) ----------
  // Configuration goes through system calls, as LKL's helpers do (ioctl and rtnetlink on
  // sockets); each returns 0 or -errno. Addresses are "a.b.c.d" or host-order numbers.

  /** lkl_netdev_add: a NIC named eth<id> over a host backend or a cable end; returns its id (shared with disks). */
  netdevAdd(backend: NetdevBackend, o: NetdevOptions = {}): number {
    return (this.net ?? noNet()).virtioNet.netdevAdd(this.k, backend, o);
  }
  /** lkl_netdev_remove */
  netdevRemove(id: number): void { (this.net ?? noNet()).virtioNet.netdevRemove(this.k, id); }
  /** lkl_netdev_get_ifindex: the ifindex of device `id`, or -ENODEV. */
  netdevGetIfindex(id: number): number {
    try { return (this.net ?? noNet()).virtioNet.netdevGetIfindex(this.k, id); } catch (e) { return -((e as { errno?: number }).errno ?? ENODEV); }
  }
  /** lkl_if_up: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP (lo gets 127.0.0.1/8). */
  ifUp(ifindex: number): Promise<number> { return netConfig(this.sys, this.net).ifUp(ifindex); }
  /** lkl_if_down */
  ifDown(ifindex: number): Promise<number> { return netConfig(this.sys, this.net).ifDown(ifindex); }
  /** lkl_if_set_mtu: SIOCSIFMTU */
  ifSetMtu(ifindex: number, mtu: number): Promise<number> { return netConfig(this.sys, this.net).ifSetMtu(ifindex, mtu); }
  /** lkl_if_set_ipv4: RTM_NEWADDR addr/prefixLen on the interface. */
  ifSetIpv4(ifindex: number, addr: string | number, prefixLen: number): Promise<number> {
    return netConfig(this.sys, this.net).ifSetIpv4(ifindex, addr, prefixLen);
  }
  /** lkl_set_ipv4_gateway: RTM_NEWROUTE default via addr. */
  setIpv4Gateway(addr: string | number): Promise<number> { return netConfig(this.sys, this.net).setIpv4Gateway(addr); }
  /**
   * lkl_if_set_ipv6, waiting for duplicate address detection: RTM_NEWADDR addr/prefixLen (as
   * `ip -6 addr add`), then RTM_GETADDR until the address is no longer tentative. Returns 0 once
   * it is usable, -EADDRINUSE when DAD found a duplicate (the address stays, flagged dadfailed, as
   * on Linux), -ETIMEDOUT if DAD has not finished after 30 s, or the request's -errno.
   */
  ifSetIpv6(ifindex: number, addr: string | Uint8Array, prefixLen: number): Promise<number> {
    if (!this.net) return Promise.resolve(-ENOSYS); // its socket() would fail so
    return netConfig(this.sys, this.net).ifSetIpv6(ifindex, addr, prefixLen);
  }
  /**
   * lkl_set_ipv6_gateway: RTM_NEWROUTE ::/0 via addr. A link-local gateway needs the interface
   * (`ifindex`), as `ip -6 route add default via fe80::1 dev eth0` does (else -EINVAL).
   */
  setIpv6Gateway(addr: string | Uint8Array, ifindex = 0): Promise<number> {
    if (!this.net) return Promise.resolve(-ENOSYS);
    return netConfig(this.sys, this.net).setIpv6Gateway(addr, ifindex);
  }
  /** lkl_add_neighbor: RTM_NEWNEIGH, a permanent entry (af: AF_INET). */
  addNeighbor(ifindex: number, af: number, ip: string | number, mac: Uint8Array | string): Promise<number> {
    return netConfig(this.sys, this.net).addNeighbor(ifindex, af, ip, mac);
  }
  /**
   * lkl_sysctl: set /proc/sys/<path> (e.g. 'net/ipv4/ip_forward', '1'). The network entries are
   * served by the socket layer's table while /proc has no net/ directory (src/net/socket/af_inet_sysctl.ts).
   * Without networking there is no /proc/sys/net: -ENOENT.
   */
  async sysctl(path: string, value: string | number): Promise<number> {
    if (!this.net) return -ENOENT;
    try { this.net.stack.netSysctlWrite(this.k, path, value); return 0; } catch (e) { return -((e as { errno?: number }).errno ?? EINVAL); }
  }

  /** lkl_sys_halt: reboot(2) with LINUX_REBOOT_CMD_RESTART, as LKL does. Returns 0. */
  async halt(): Promise<number> {
    if (!this.k.running) return 0;
    return this.syscall(NR.reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, null);
  }
}

/** Boot a kernel (lkl_init + lkl_start_kernel): returns once syscalls can be issued. */
export async function boot(opts: BootOptions = {}): Promise<LklKernel> {
  const host = opts.host ?? createNodeHost();
  const cmdline = opts.cmdline ?? '';
  if (cmdline.length >= 4096) throw new RangeError('kernel command line longer than COMMAND_LINE_SIZE (4096)');
  if (opts.net === false && opts.netdevs?.length) noNet();
  const k = new Kernel(host, cmdline);
  for (const d of opts.disks ?? []) diskAdd(k, toBackend(host, d));
  const net: { modules?: NetModules } = {};
  await k.boot(initcalls(opts, net));
  // late_initcall(ip_auto_config): here, once the worker that processes received frames runs.
  if (net.modules) {
    try { await net.modules.stack.netStackLateInit(k); } catch (e) { k.oops('ip_auto_config', e); }
  }
  return new LklKernel(k, syscallTable(), net.modules);
}

// ---- the network helpers, through system calls (LKL's tools/lkl/lib/net.c) -----------------------

function ipv4Arg(a: string | number): number {
  if (typeof a === 'number') return a >>> 0;
  const p = a.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) throw new RangeError(`bad IPv4 address ${a}`);
  return p.reduce((v, x) => v * 256 + Number(x), 0) >>> 0;
}

function ipv6Arg(net: NetModules | undefined, a: string | Uint8Array): Uint8Array {
  try { return (net ?? noNet()).stack.ipv6Parse(a); } catch { throw new RangeError(`bad IPv6 address ${String(a)}`); }
}

/** ifa_flags bits ifSetIpv6 watches (uapi linux/if_addr.h). */
const IFA_F_DADFAILED = 0x08, IFA_F_TENTATIVE = 0x40;

function macArg(m: Uint8Array | string): Uint8Array {
  if (m instanceof Uint8Array) return m;
  const p = m.split(':');
  if (p.length !== 6 || p.some((x) => !/^[0-9a-fA-F]{1,2}$/.test(x))) throw new RangeError(`bad MAC address ${m}`);
  return new Uint8Array(p.map((x) => parseInt(x, 16)));
}

/** An rtnetlink request built by hand: header, fixed part, attributes. */
function nlRequest(type: number, flags: number, fixed: Uint8Array, attrs: [number, Uint8Array][]): Uint8Array {
  const al = (n: number) => (n + 3) & ~3;
  let len = NLMSG_HDRLEN + al(fixed.length);
  for (const [, v] of attrs) len += al(4 + v.length);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true); dv.setUint16(4, type, true); dv.setUint16(6, flags, true); dv.setUint32(8, 1, true);
  b.set(fixed, NLMSG_HDRLEN);
  let o = NLMSG_HDRLEN + al(fixed.length);
  for (const [t, v] of attrs) {
    dv.setUint16(o, 4 + v.length, true); dv.setUint16(o + 2, t, true);
    b.set(v, o + 4);
    o += al(4 + v.length);
  }
  return b;
}

const be32 = (a: number): Uint8Array => new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);

/** The helpers over one task's syscalls; each returns 0 or -errno. */
function netConfig(sys: Sys, net: NetModules | undefined) {
  async function withSocket(domain: number, type: number, proto: number, fn: (fd: number) => Promise<number>): Promise<number> {
    const fd = await sys.socket(domain, type | SOCK_CLOEXEC, proto);
    if (fd < 0) return fd;
    try { return await fn(fd); } finally { await sys.close(fd); }
  }
  /** An ifreq naming the interface with this index (SIOCGIFNAME), or -errno. */
  async function ifreqFor(fd: number, ifindex: number): Promise<Uint8Array | number> {
    const ifr = new Uint8Array(IFREQ_SIZE);
    new DataView(ifr.buffer).setInt32(IFR_UNION_OFFSET, ifindex, true);
    const r = await sys.ioctl(fd, SIOCGIFNAME, ifr);
    return r < 0 ? r : ifr;
  }
  async function setFlags(ifindex: number, up: boolean): Promise<number> {
    return withSocket(AF_INET, SOCK_DGRAM, 0, async (fd) => {
      const ifr = await ifreqFor(fd, ifindex);
      if (typeof ifr === 'number') return ifr;
      let r = await sys.ioctl(fd, SIOCGIFFLAGS, ifr);
      if (r < 0) return r;
      const dv = new DataView(ifr.buffer);
      const f = dv.getUint16(IFR_UNION_OFFSET, true);
      dv.setUint16(IFR_UNION_OFFSET, up ? f | IFF_UP : f & ~IFF_UP, true);
      r = await sys.ioctl(fd, SIOCSIFFLAGS, ifr);
      return r;
    });
  }
  /** Send one rtnetlink request to the kernel and return its acknowledgement's status. */
  async function rtnl(msg: Uint8Array): Promise<number> {
    return withSocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, async (fd) => {
      const kernel = new Uint8Array(SOCKADDR_NL_SIZE);
      kernel[0] = AF_NETLINK;
      const s = await sys.sendto(fd, msg, msg.length, 0, kernel, SOCKADDR_NL_SIZE);
      if (s < 0) return s;
      const buf = new Uint8Array(8192);
      const n = await sys.recvfrom(fd, buf, buf.length, 0, null, null);
      if (n < 0) return n;
      const dv = new DataView(buf.buffer);
      if (n < NLMSG_HDRLEN + 4 || dv.getUint16(4, true) !== NLMSG_ERROR) return -EINVAL;
      return dv.getInt32(NLMSG_HDRLEN, true);
    });
  }
  /** One RTM_GETADDR dump of the IPv6 addresses: (ifindex, address bytes, IFA_FLAGS) each. */
  async function addrs6(): Promise<{ ifindex: number; addr: Uint8Array; flags: number }[] | number> {
    return withSocketV(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, async (fd) => {
      const ifa = new Uint8Array(IFADDRMSG_SIZE); ifa[0] = AF_INET6;
      const msg = nlRequest(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, ifa, []);
      const kernel = new Uint8Array(SOCKADDR_NL_SIZE); kernel[0] = AF_NETLINK;
      const s = await sys.sendto(fd, msg, msg.length, 0, kernel, SOCKADDR_NL_SIZE);
      if (s < 0) return s;
      const out: { ifindex: number; addr: Uint8Array; flags: number }[] = [];
      const buf = new Uint8Array(16384);
      for (;;) {
        const n = await sys.recvfrom(fd, buf, buf.length, 0, null, null);
        if (n < 0) return n;
        const dv = new DataView(buf.buffer);
        for (let o = 0; o + NLMSG_HDRLEN <= n;) {
          const len = dv.getUint32(o, true), type = dv.getUint16(o + 4, true);
          if (len < NLMSG_HDRLEN) return -EINVAL;
          if (type === NLMSG_DONE) return out;
          if (type === NLMSG_ERROR) return dv.getInt32(o + NLMSG_HDRLEN, true);
          if (type === RTM_NEWADDR) {
            const body = o + NLMSG_HDRLEN;
            const e = { ifindex: dv.getUint32(body + 4, true), addr: new Uint8Array(16), flags: buf[body + 2]! };
            for (let a = body + IFADDRMSG_SIZE; a + 4 <= o + len;) {
              const alen = dv.getUint16(a, true), atype = dv.getUint16(a + 2, true);
              if (alen < 4) break;
              if (atype === IFA_ADDRESS && alen >= 20) e.addr = buf.slice(a + 4, a + 20);
              if (atype === IFA_FLAGS && alen >= 8) e.flags = dv.getUint32(a + 4, true);
              a += (alen + 3) & ~3;
            }
            out.push(e);
          }
          o += (len + 3) & ~3;
        }
      }
    });
  }
  async function withSocketV<T>(domain: number, type: number, proto: number, fn: (fd: number) => Promise<T | number>): Promise<T | number> {
    const fd = await sys.socket(domain, type | SOCK_CLOEXEC, proto);
    if (fd < 0) return fd;
    try { return await fn(fd); } finally { await sys.close(fd); }
  }
  return {
    ifSetIpv6: async (ifindex: number, addr: string | Uint8Array, prefixLen: number): Promise<number> => {
      const a = ipv6Arg(net, addr);
      const ifa = new Uint8Array(IFADDRMSG_SIZE);
      ifa[0] = AF_INET6; ifa[1] = prefixLen;
      new DataView(ifa.buffer).setUint32(4, ifindex, true);
      const r = await rtnl(nlRequest(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifa, [[IFA_LOCAL, a], [IFA_ADDRESS, a]]));
      if (r < 0) return r;
      // DAD: up to 1 s of random delay, then one probe and a 1 s wait per dad_transmits.
      for (let i = 0; i < 600; i++) {
        const l = await addrs6();
        if (typeof l === 'number') return l;
        const e = l.find((x) => x.ifindex === ifindex && x.addr.every((b, j) => b === a[j]));
        if (!e) return -EADDRNOTAVAIL; // deleted meanwhile
        if (e.flags & IFA_F_DADFAILED) return -EADDRINUSE;
        if (!(e.flags & IFA_F_TENTATIVE)) return 0;
        await sys.nanosleep({ sec: 0, nsec: 50_000_000 }, null);
      }
      return -ETIMEDOUT;
    },
    setIpv6Gateway: (addr: string | Uint8Array, ifindex: number) => {
      const rtm = new Uint8Array(RTMSG_SIZE);
      rtm[0] = AF_INET6; rtm[4] = RT_TABLE_MAIN; rtm[5] = RTPROT_BOOT; rtm[6] = RT_SCOPE_UNIVERSE; rtm[7] = RTN_UNICAST;
      const attrs: [number, Uint8Array][] = [[RTA_DST, new Uint8Array(16)], [RTA_GATEWAY, ipv6Arg(net, addr)]];
      if (ifindex) { const o = new Uint8Array(4); new DataView(o.buffer).setUint32(0, ifindex, true); attrs.push([RTA_OIF, o]); }
      return rtnl(nlRequest(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, rtm, attrs));
    },
    ifUp: (ifindex: number) => setFlags(ifindex, true),
    ifDown: (ifindex: number) => setFlags(ifindex, false),
    ifSetMtu: (ifindex: number, mtu: number) => withSocket(AF_INET, SOCK_DGRAM, 0, async (fd) => {
      const ifr = await ifreqFor(fd, ifindex);
      if (typeof ifr === 'number') return ifr;
      new DataView(ifr.buffer).setInt32(IFR_UNION_OFFSET, mtu, true);
      return sys.ioctl(fd, SIOCSIFMTU, ifr);
    }),
    ifSetIpv4: (ifindex: number, addr: string | number, prefixLen: number) => {
      const a = be32(ipv4Arg(addr));
      const ifa = new Uint8Array(IFADDRMSG_SIZE);
      ifa[0] = AF_INET; ifa[1] = prefixLen;
      new DataView(ifa.buffer).setUint32(4, ifindex, true);
      return rtnl(nlRequest(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, ifa, [[IFA_LOCAL, a], [IFA_ADDRESS, a]]));
    },
    setIpv4Gateway: (addr: string | number) => {
      const rtm = new Uint8Array(RTMSG_SIZE);
      rtm[0] = AF_INET; rtm[4] = RT_TABLE_MAIN; rtm[5] = RTPROT_BOOT; rtm[6] = RT_SCOPE_UNIVERSE; rtm[7] = RTN_UNICAST;
      return rtnl(nlRequest(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, rtm, [[RTA_GATEWAY, be32(ipv4Arg(addr))]]));
    },
    addNeighbor: (ifindex: number, af: number, ip: string | number, mac: Uint8Array | string) => {
      const nd = new Uint8Array(NDMSG_SIZE);
      nd[0] = af;
      const dv = new DataView(nd.buffer);
      dv.setInt32(4, ifindex, true); dv.setUint16(8, NUD_PERMANENT, true);
      return rtnl(nlRequest(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, nd,
        [[NDA_DST, be32(ipv4Arg(ip))], [NDA_LLADDR, macArg(mac)]]));
    },
  };
}
