/*
 * Tasks (struct task_struct). Every system call runs on behalf of a task: its credentials, its
 * filesystem context (root, cwd, umask: struct fs_struct), its fd table and its limits. The
 * embedding program starts as init, pid 1. Further tasks are threads of init (LKL's host tasks)
 * or, after new_thread_group_leader, processes of their own with copied fd table and fs context.
 *
 * Fields of `fs` and `files` may be shared between tasks of one thread group; a task changes them
 * only inside a syscall, and code between awaits is atomic, so no lock guards them.
 */
import type { Cred } from './auth/index.js';
import { type Path, type FsContext, type Mount } from '../fs/vfs/index.js';
import { FilesStruct } from './fdtable.js';
import { RLIMIT_NOFILE, RLIM_NLIMITS, RLIMIT_STACK, RLIMIT_NPROC, RLIMIT_CORE, RLIMIT_MEMLOCK, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE } from '../uapi/misc.js';
import type { Kernel } from './kernel.js';

export class FsStruct {
  root: Path;
  pwd: Path;
  umask = 0o022;
  users = 1;
  constructor(root: Path, pwd: Path) {
    this.root = root; this.pwd = pwd;
    root.mnt.refs++; pwd.mnt.refs++;
  }
  setRoot(p: Path): void { p.mnt.refs++; this.root.mnt.refs--; this.root = p; }
  setPwd(p: Path): void { p.mnt.refs++; this.pwd.mnt.refs--; this.pwd = p; }
  copy(): FsStruct { const c = new FsStruct(this.root, this.pwd); c.umask = this.umask; return c; }
  release(): void { this.root.mnt.refs--; this.pwd.mnt.refs--; }
}

export type Rlimit = [soft: number, hard: number];
export const RLIM_INF = Infinity;

export function defaultRlimits(): Rlimit[] {
  const r: Rlimit[] = [];
  for (let i = 0; i < RLIM_NLIMITS; i++) r.push([RLIM_INF, RLIM_INF]);
  r[RLIMIT_NOFILE] = [1024, 4096];
  r[RLIMIT_STACK] = [8 * 1024 * 1024, RLIM_INF];
  r[RLIMIT_CORE] = [0, RLIM_INF];
  r[RLIMIT_NPROC] = [RLIM_INF, RLIM_INF];
  r[RLIMIT_MEMLOCK] = [8 * 1024 * 1024, 8 * 1024 * 1024];
  r[RLIMIT_SIGPENDING] = [1024, 1024];
  r[RLIMIT_MSGQUEUE] = [819200, 819200];
  return r;
}

export type TaskState = 'R' | 'S' | 'D' | 'Z' | 'I';

export class Task {
  readonly kernel: Kernel;
  /** Thread id (what Linux calls pid inside the kernel). */
  readonly tid: number;
  /** Thread group id: getpid(). */
  tgid: number;
  parent: Task;
  comm: string;
  cred: Cred;
  fs: FsStruct;
  files: FilesStruct;
  rlimits: Rlimit[];
  /** Kernel threads (kthreadd children) have no user context. */
  readonly kthread: boolean;
  state: TaskState = 'S';
  exited = false;
  readonly startNs: number;
  /** Syscalls in flight on this task (for /proc state and exit). */
  inSyscall = 0;
  /** Set by the kernel for the task group leader; threads point to it. */
  groupLeader: Task;

  constructor(kernel: Kernel, tid: number, parent: Task | null, comm: string, cred: Cred,
    fs: FsStruct, files: FilesStruct, rlimits: Rlimit[], kthread = false) {
    this.kernel = kernel; this.tid = tid; this.tgid = tid; this.parent = parent ?? this;
    this.comm = comm; this.cred = cred; this.fs = fs; this.files = files; this.rlimits = rlimits;
    this.kthread = kthread; this.groupLeader = this;
    this.startNs = kernel.clock.sinceBootNs();
  }

  get pid(): number { return this.tgid; }
  get ppid(): number { return this.groupLeader.parent.tgid; }
  get nofile(): number { return this.rlimits[RLIMIT_NOFILE]![0]; }

  /** The filesystem context path walk and namespace operations need. */
  fsContext(): FsContext { return { root: this.fs.root, cred: this.cred, umask: this.fs.umask, caller: this }; }

  get rootMount(): Mount { return this.fs.root.mnt; }
}
