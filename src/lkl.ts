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
 */
import type { HostOps } from './arch/host.js';
import { createNodeHost } from './arch/node/index.js';
import { Kernel, type Initcall, type Task } from './kernel/index.js';
import { syscallTable, dispatch, type SyscallEntry } from './syscalls/index.js';
import { NR } from './uapi/unistd.js';
import { EEXIST, EBUSY } from './uapi/errno.js';
import { createTmpfsType } from './fs/tmpfs/index.js';
import { procInitcall } from './fs/proc/index.js';
import { driversInitcall } from './drivers/index.js';
import { pipeInit } from './fs/pipe/index.js';
import { eventpollInit } from './fs/eventpoll/index.js';
import { LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART } from './uapi/misc.js';
import { makeSys, makeFs, type Sys, type KernelFs } from './api/index.js';

export { NR } from './uapi/unistd.js';
export * as uapi from './uapi/index.js';
export type { HostOps } from './arch/host.js';
export type { Sys, KernelFs, KernelFileHandle, KernelStats } from './api/index.js';
export { KernelFsError } from './api/index.js';

export interface BootOptions {
  /** Kernel command line, e.g. 'mem=32M loglevel=8'. */
  cmdline?: string;
  /** Host implementation; defaults to the Node host printing to stdout. */
  host?: HostOps;
}

/** The built-in registrations, in order (Linux's initcall levels collapsed into one list). */
function initcalls(): Initcall[] {
  return [
    { name: 'tmpfs', fn: (k) => { k.vfs.registerFilesystem(createTmpfsType('tmpfs')); k.vfs.registerFilesystem(createTmpfsType('rootfs')); } },
    { name: 'pipe', fn: (k) => pipeInit(k.vfs, k.haltWait) },
    { name: 'eventpoll', fn: (k) => eventpollInit(k.vfs, k.haltWait) },
    procInitcall,
    driversInitcall,
  ];
}

type Dispatcher = (t: Task, nr: number, args: unknown[]) => Promise<number>;

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
    this.sys = makeSys((nr, args) => dispatch(task, nr, args));
    this.fs = makeFs(this.sys);
  }
  /** Raw system call by asm-generic number: >= 0, or -errno (lkl_syscall). */
  syscall(nr: number, ...args: unknown[]): Promise<number> { return this.dispatch(this.kernelTask, nr, args); }
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

  /** @internal */
  constructor(k: Kernel, table: SyscallEntry[]) {
    super((t, nr, args) => dispatch(table, t, nr, args), k.init);
    this.k = k;
  }

  /** A new task: a thread of init (LKL host task) sharing its files and cwd until it calls new_thread_group_leader. */
  task(): KernelTask { return new KernelTask(this.dispatch, this.k.createThread(this.k.init)); }

  /** The kernel log as dmesg prints it. */
  dmesg(): string { return this.k.log.dmesg(); }
  get running(): boolean { return this.k.running; }

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
  const k = new Kernel(host, cmdline);
  await k.boot(initcalls());
  return new LklKernel(k, syscallTable());
}
