/*
 * The kernel object: one booted instance with its own clock, log, memory, VFS, tasks and
 * kernel threads. No module-level state, so any number of kernels coexist in one process.
 *
 * Boot order (start_kernel, in the style of init/main.c) is the single commented sequence in
 * boot(); halt() undoes it.
 */
import type { HostOps } from '../arch/host.js';
import { fail, KernelError } from '../lib/errors.js';
import { WaitQueue } from '../lib/waitqueue.js';
import { ESRCH, EAGAIN, EINVAL, EBUSY, ENOENT, EEXIST } from '../uapi/errno.js';
import { MS_RDONLY } from '../uapi/mount.js';
import { S_IFDIR, S_IFCHR } from '../uapi/stat.js';
import { Cred } from './auth/index.js';
import { Clock } from './ktime/index.js';
import { LogBuffer, KERN_INFO, KERN_NOTICE, KERN_EMERG, KERN_WARNING, CONSOLE_LOGLEVEL_QUIET, type Printk } from './printk/index.js';
import { MemoryBudget, memparse, PAGE_SIZE } from '../mm/index.js';
import {
  Vfs, Dentry, type Path, type FileSystemType, type FsContext, doMount, doUmount, vfsMkdir,
  vfsMknod, type Mount, pathLookup, LOOKUP_FOLLOW,
} from '../fs/vfs/index.js';
import { Task, FsStruct, defaultRlimits } from './task.js';
import { FilesStruct } from './fdtable.js';
import { splitCmdline, paramName } from './params.js';

export const LINUX_VERSION = '6.12.0';
export const UTS_RELEASE = `${LINUX_VERSION}-lkl.ts`;
export const UTS_MACHINE = 'lkl';
export const DEFAULT_MEM = 64 * 1024 * 1024;
/** What `mem=` loses to the kernel image itself, reported as reserved in the boot log. */
export const KERNEL_RESERVED = 1536 * 1024;
export const PID_MAX = 32768;

/** A registration step run at boot, like Linux's initcalls; lkl.ts supplies the list. */
export interface Initcall {
  name: string;
  /** Registration, before the root filesystem exists (core/fs initcalls). */
  fn: (k: Kernel) => void | Promise<void>;
  /** After rootfs is mounted and init exists (late_initcall: /dev nodes and the like). */
  late?: (k: Kernel) => void | Promise<void>;
}

/** A kernel parameter handler; returns false if the value is invalid. */
export type ParamHandler = (k: Kernel, value: string | null) => boolean | void;

export interface KthreadHandle {
  task: Task;
  readonly stopping: boolean;
  /** Sleep until woken or stopped. */
  sleep(): Promise<number>;
  wake(): void;
  done: Promise<void>;
}

export interface Utsname { sysname: string; nodename: string; release: string; version: string; machine: string; domainname: string }

export class Kernel {
  readonly host: HostOps;
  readonly cmdline: string;
  readonly clock: Clock;
  readonly log: LogBuffer;
  readonly printk: Printk;
  mem!: MemoryBudget;
  vfs!: Vfs;
  init!: Task;
  readonly tasks = new Map<number, Task>();
  readonly uts: Utsname;
  /** Parameters no handler claimed: init's argv and envp. */
  readonly initArgs: string[] = [];
  readonly initEnv: string[] = [];
  running = false;
  halting = false;
  /**
   * The task whose syscall is running now (Linux's `current`). Set by dispatch before a handler
   * runs; valid until that handler's first await, which is all /proc needs (it reads it at lookup
   * and open time, synchronously).
   */
  current: Task | null = null;
  /** Extra parameter handlers registered by subsystems (initcalls run too late for early ones). */
  readonly paramHandlers = new Map<string, ParamHandler>();
  /** Callbacks run at halt, newest first (subsystems undo their registration). */
  private shutdownHooks: (() => void | Promise<void>)[] = [];
  private kthreads = new Set<KthreadHandle>();
  private nextPid = 1;
  private workQueue: (() => void | Promise<void>)[] = [];
  private worker?: KthreadHandle;
  /** Woken when the kernel halts; blocking syscalls abort with EINTR-like semantics. */
  readonly haltWait = new WaitQueue();
  private ctxCache: FsContext | undefined;

  constructor(host: HostOps, cmdline: string) {
    this.host = host;
    this.cmdline = cmdline;
    this.clock = new Clock(host);
    this.log = new LogBuffer(host, () => this.clock.sinceBootNs());
    this.printk = (level, text) => this.log.printk(level, text);
    this.uts = {
      sysname: 'Linux', nodename: '(none)', release: UTS_RELEASE,
      version: '#1 lkl.ts', machine: UTS_MACHINE,
      domainname: '(none)',
    };
  }

  /** start_kernel */
  async boot(initcalls: Initcall[]): Promise<void> {
    // 1. Early parameters: console level and memory size decide everything printed after.
    const params = splitCmdline(this.cmdline);
    let memBytes = DEFAULT_MEM;
    const unknown: string[] = [];
    for (const [rawName, value] of params) {
      const name = paramName(rawName);
      switch (name) {
        case 'mem': {
          const b = value === null ? NaN : memparse(value);
          if (Number.isFinite(b) && b > 0) memBytes = b;
          else this.printk(KERN_WARNING, `Malformed early option 'mem'`);
          break;
        }
        case 'loglevel': {
          const n = value === null ? NaN : Number(value);
          if (Number.isInteger(n)) this.log.consoleLoglevel = n;
          else this.printk(KERN_WARNING, `Malformed early option 'loglevel'`);
          break;
        }
        case 'quiet': this.log.consoleLoglevel = CONSOLE_LOGLEVEL_QUIET; break;
        case 'debug': this.log.consoleLoglevel = 10; break;
        case 'ignore_loglevel': this.log.consoleLoglevel = 15; break;
        default: break;
      }
    }
    const desc = this.host.description;
    this.printk(KERN_NOTICE, `Linux version ${UTS_RELEASE} (lkl-ts@${this.host.name}) (${desc}) ${this.uts.version}`);
    this.printk(KERN_INFO, `Kernel command line: ${this.cmdline}`);

    // 2. Memory: the budget every cache and tmpfs page is charged to.
    if (memBytes < 2 * 1024 * 1024) memBytes = 2 * 1024 * 1024;
    this.mem = new MemoryBudget(memBytes, KERNEL_RESERVED);
    const totalK = this.mem.totalPages * 4, availK = (this.mem.totalPages - this.mem.reservedPages) * 4;
    this.printk(KERN_INFO, `Memory: ${availK}K/${totalK}K available (${KERNEL_RESERVED >> 10}K kernel code, data and reserved)`);
    this.printk(KERN_INFO, `clocksource: ${this.host.name}: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns`);
    this.printk(KERN_INFO, `pid_max: default: ${PID_MAX} minimum: 301`);

    // 3. VFS and the root filesystem, then init (pid 1) with "/" as root and cwd.
    this.vfs = new Vfs({
      clock: this.clock, mem: this.mem, printk: this.printk,
      entropy: (b) => this.host.entropy(b),
      panic: (m) => this.panic(m),
    });
    for (const ic of initcalls) await ic.fn(this);
    this.printk(KERN_INFO, `VFS: registered filesystems: ${[...this.vfs.fsTypes.keys()].join(' ')}`);
    await this.mountRootfs();
    this.init = this.newTask(null, 'init', new Cred(),
      new FsStruct(this.rootPath(), this.rootPath()), new FilesStruct(), defaultRlimits(), false);
    for (const ic of initcalls) if (ic.late) await ic.late(this);

    // 4. Late parameters: subsystem handlers, then report what nobody claimed.
    for (const [rawName, value] of params) {
      const name = paramName(rawName);
      if (['mem', 'loglevel', 'quiet', 'debug', 'ignore_loglevel', 'console', 'root', 'rw', 'ro',
        'init', 'rootfstype', 'printk.time', 'panic', 'virtio_mmio.device', 'lkl_pci', 'gpt'].includes(name)) continue;
      const h = this.paramHandlers.get(name);
      if (h) { if (h(this, value) === false) this.printk(KERN_WARNING, `Malformed option '${rawName}'`); continue; }
      const word = value === null ? rawName : `${rawName}=${value}`;
      unknown.push(word);
      if (value === null) this.initArgs.push(word); else this.initEnv.push(word);
    }
    if (unknown.length) {
      this.printk(KERN_NOTICE, `Unknown kernel command line parameters "${unknown.join(' ')}", will be passed to user space.`);
    }

    // 5. Kernel threads: kthreadd parents them; a worker runs deferred work.
    this.kthreadRun('kthreadd', async (kt) => { while (!kt.stopping) await kt.sleep(); });
    this.worker = this.kthreadRun('kworker/u2:0', async (kt) => {
      while (!kt.stopping) {
        const w = this.workQueue.shift();
        if (w) {
          try { await w(); } catch (e) { this.oops('kworker', e); }
        } else await kt.sleep();
      }
    });
    this.running = true;
    this.printk(KERN_INFO, 'Run /init as init process');
  }

  private async mountRootfs(): Promise<void> {
    const type = this.vfs.getFsType('rootfs');
    const sb = await type.mount({ vfs: this.vfs, source: 'rootfs', flags: 0, data: 'mode=0755' });
    const m = this.vfs.newMount(sb, sb.root, 0x20 /* relatime */, 'rootfs');
    this.vfs.rootMount = m;
    this.vfs.mounts.add(m);
  }

  rootPath(): Path { return { mnt: this.vfs.rootMount, dentry: this.vfs.rootMount.root }; }

  // --- tasks -------------------------------------------------------------------------------

  private allocPid(): number {
    for (let tries = 0; tries < PID_MAX; tries++) {
      const pid = this.nextPid++;
      if (this.nextPid >= PID_MAX) this.nextPid = 300; // wraps above the reserved range, as Linux
      if (!this.tasks.has(pid)) return pid;
    }
    fail(EAGAIN);
  }

  newTask(parent: Task | null, comm: string, cred: Cred, fs: FsStruct, files: FilesStruct,
    rlimits = defaultRlimits(), kthread = false): Task {
    const t = new Task(this, this.allocPid(), parent, comm, cred, fs, files, rlimits, kthread);
    this.tasks.set(t.tid, t);
    return t;
  }

  /** A new thread in `parent`'s thread group (LKL host task: shares files, fs, cred). */
  createThread(parent: Task): Task {
    const t = new Task(this, this.allocPid(), parent.groupLeader, parent.comm, parent.cred,
      parent.fs, parent.files, parent.rlimits);
    t.tgid = parent.tgid;
    t.groupLeader = parent.groupLeader;
    parent.files.users++; parent.fs.users++;
    this.tasks.set(t.tid, t);
    return t;
  }

  /** LKL's new_thread_group_leader: the task becomes a process of its own. */
  newThreadGroupLeader(t: Task): void {
    if (t.groupLeader === t) return;
    const creator = t.groupLeader;
    t.groupLeader = t;
    t.parent = creator;
    t.tgid = t.tid;
    t.cred = t.cred.clone();
    const files = t.files.copy();
    t.files.users--; t.files = files;
    const fs = t.fs.copy();
    t.fs.users--; t.fs = fs;
    t.rlimits = t.rlimits.map((r) => [r[0], r[1]]);
  }

  /** Task exit: drop its fd table and fs references if it held the last ones. */
  async exitTask(t: Task): Promise<void> {
    if (t.exited) return;
    if (t === this.init && !this.halting) this.panic('Attempted to kill init! exitcode=0x00000000');
    t.exited = true;
    t.state = 'Z';
    if (--t.files.users === 0) await t.files.closeAll(t.tgid);
    if (--t.fs.users === 0) t.fs.release();
    this.tasks.delete(t.tid);
    // Orphans are re-parented to init.
    for (const c of this.tasks.values()) if (c.parent === t) c.parent = this.init;
  }

  findTask(pid: number): Task {
    return this.tasks.get(pid) ?? fail(ESRCH);
  }

  // --- kernel threads and deferred work ------------------------------------------------------

  kthreadRun(name: string, fn: (kt: KthreadHandle) => Promise<void>): KthreadHandle {
    const task = this.newTask(this.tasks.get(2) ?? null, name, new Cred(), this.init
      ? this.init.fs.copy() : new FsStruct(this.rootPath(), this.rootPath()), new FilesStruct(),
      defaultRlimits(), true);
    task.state = 'S';
    const wq = new WaitQueue();
    let stopping = false;
    const kt: KthreadHandle = {
      task,
      get stopping() { return stopping; },
      sleep: () => { task.state = 'S'; return wq.sleep().finally(() => { task.state = 'R'; }); },
      wake: () => wq.wakeAll(),
      done: Promise.resolve(),
    };
    (kt as { stop?: () => void }).stop = () => { stopping = true; wq.wakeAll(); };
    kt.done = (async () => {
      await Promise.resolve();
      try { await fn(kt); } catch (e) { this.oops(name, e); }
      task.exited = true;
      this.tasks.delete(task.tid);
    })();
    this.kthreads.add(kt);
    return kt;
  }

  /** Queue work for the kernel worker thread (schedule_work). */
  queueWork(fn: () => void | Promise<void>): void {
    this.workQueue.push(fn);
    this.worker?.wake();
  }

  onShutdown(fn: () => void | Promise<void>): void { this.shutdownHooks.push(fn); }

  /** A bug in kernel code: log it like an oops, keep running. */
  oops(where: string, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.printk(1, `BUG: unexpected error in ${where}: ${err.message}`);
    for (const line of (err.stack ?? '').split('\n').slice(1, 8)) this.printk(1, ` ${line.trim()}`);
  }

  panic(message: string): never {
    this.printk(KERN_EMERG, `Kernel panic - not syncing: ${message}`);
    return this.host.panic(message);
  }

  /**
   * The halt path of reboot(2): sync and unmount every filesystem, stop kernel threads and
   * timers, close every task's files. Afterwards nothing of this kernel is left on the host.
   */
  async shutdown(message: string): Promise<void> {
    if (this.halting) return;
    this.halting = true;
    // Wake anything blocked so pending syscalls can finish.
    this.haltWait.wakeAll(-4 /* EINTR */);
    for (const hook of this.shutdownHooks.reverse()) {
      try { await hook(); } catch (e) { this.oops('shutdown', e); }
    }
    // Unmount everything, deepest first, detaching what is busy.
    const cred = new Cred();
    const mounts = [...this.vfs.mounts].filter((m) => !m.isNamespaceRoot).sort((a, b) => depth(b) - depth(a));
    for (const m of mounts) {
      if (!this.vfs.mounts.has(m)) continue;
      try { await doUmount(this.vfs, cred, { mnt: m, dentry: m.root }, 2 /* MNT_DETACH */); }
      catch (e) { this.oops('umount at halt', e); }
    }
    const root = this.vfs.rootMount.sb;
    if (root.op.syncFs) await root.op.syncFs(root, true);
    for (const kt of this.kthreads) (kt as { stop?: () => void }).stop?.();
    await Promise.all([...this.kthreads].map((k) => k.done));
    this.kthreads.clear();
    for (const t of [...this.tasks.values()]) {
      if (!t.exited) { t.exited = true; if (--t.files.users === 0) await t.files.closeAll(); }
    }
    this.tasks.clear();
    this.printk(KERN_NOTICE, message);
    this.clock.stop();
    this.running = false;
  }

  /** mkdir + mount, for boot-time and helper mounts (lkl_mount_fs). */
  async mountAt(path: string, fstype: string, flags = 0, data = '', source = 'none'): Promise<Mount> {
    const ctx = this.init.fsContext();
    const root = this.rootPath();
    try { await vfsMkdir(ctx, root, path, 0o755); } catch (e) {
      if (!(e instanceof KernelError && e.errno === EEXIST)) throw e;
    }
    const target = await pathLookup(ctx, root, path, LOOKUP_FOLLOW);
    const m = await doMount(this.vfs, ctx.cred, { source, target, fstype, flags, data });
    return m as Mount;
  }

  /** Create a device node at boot (devtmpfs-style). */
  async makeDevNode(path: string, mode: number, rdev: number): Promise<void> {
    const ctx = { ...this.init.fsContext(), umask: 0 };
    try { await vfsMknod(ctx, this.rootPath(), path, mode, rdev); } catch (e) {
      if (!(e instanceof KernelError && e.errno === EEXIST)) throw e;
    }
  }
  async makeDir(path: string, mode: number): Promise<void> {
    const ctx = { ...this.init.fsContext(), umask: 0 };
    try { await vfsMkdir(ctx, this.rootPath(), path, mode); } catch (e) {
      if (!(e instanceof KernelError && e.errno === EEXIST)) throw e;
    }
  }
}

function depth(m: Mount): number { let d = 0; for (let x = m; !x.isNamespaceRoot; x = x.parent) d++; return d; }

