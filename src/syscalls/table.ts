/*
 * The system call table: every asm-generic number with its name, handler, support level and a
 * note — the compatibility document too (docs/syscalls.md is generated from it). Numbers without
 * a handler return -ENOSYS, and their note says why.
 */
import { KernelError, isPromise, type MaybePromise } from '../lib/errors.js';
import { ENOSYS, EFAULT, EIO, ESHUTDOWN } from '../uapi/errno.js';
import { NR, syscallNames } from '../uapi/unistd.js';
import type { Task } from '../kernel/index.js';
import type { SyscallDef, SyscallEntry } from './types.js';
import { fsSyscalls } from './sys_fs.js';
import { processSyscalls } from './sys_process.js';
import { timeSyscalls } from './sys_time.js';
import { extraSyscalls } from './extra.js';

/** Why what is missing is missing, by family. */
function missingNote(name: string): string {
  if (/^(mmap|munmap|mremap|mprotect|madvise|msync|mlock|munlock|mlockall|munlockall|mincore|brk|remap_file_pages|mbind|get_mempolicy|set_mempolicy|migrate_pages|move_pages|process_madvise|process_mrelease|memfd_secret|pkey_|map_shadow_stack|mseal|set_mempolicy_home_node|cachestat)/.test(name))
    return 'no user address space: the caller is JavaScript (LKL without MMU)';
  if (/^(clone|clone3|execve|execveat|wait4|waitid|exit|exit_group|unshare|setns|vhangup|personality|ptrace|process_vm_)/.test(name))
    return 'no user processes; tasks are created with new_thread_group_leader';
  if (/^(rt_sig|sigaltstack|kill|tkill|tgkill|pidfd_send_signal|signalfd4|restart_syscall)/.test(name))
    return 'signals are not delivered to JavaScript callers';
  if (/^(socket|socketpair|bind|listen|accept|accept4|connect|getsockname|getpeername|sendto|recvfrom|setsockopt|getsockopt|shutdown|sendmsg|recvmsg|sendmmsg|recvmmsg)$/.test(name))
    return 'networking arrives with the network issue';
  if (/^(io_setup|io_destroy|io_submit|io_cancel|io_getevents|io_pgetevents|io_uring_)/.test(name)) return 'asynchronous I/O interfaces not implemented';
  if (/^(bpf|perf_event_open|kexec_|init_module|finit_module|delete_module|quotactl|quotactl_fd|acct|swapon|swapoff|syslog_|lookup_dcookie|nfsservctl|seccomp|landlock_|lsm_|uretprobe)/.test(name))
    return 'kernel facility not present in this kernel';
  if (/^(fanotify_|inotify_)/.test(name)) return 'file change notification not implemented';
  if (/^(timer_|timerfd_|setitimer|getitimer|adjtimex|clock_adjtime|times|getrusage)/.test(name)) return 'timers and accounting not implemented yet';
  if (/^(msg|sem|shm|mq_)/.test(name)) return 'System V and POSIX IPC not implemented';
  if (/^(sched_)/.test(name)) return 'one cooperative CPU: scheduling policy calls not implemented';
  if (/^(open_tree|move_mount|fsopen|fsconfig|fsmount|fspick|mount_setattr|statmount|listmount|open_tree_attr)/.test(name)) return 'new mount API not implemented; use mount(2)';
  return 'not implemented';
}

export const ALL_SYSCALLS: SyscallDef[] = [...fsSyscalls, ...processSyscalls, ...timeSyscalls, ...extraSyscalls];

/** Build the per-number table from every topic file's definitions. */
let builtTable: SyscallEntry[] | undefined;

/**
 * The table for every kernel: built once per process from immutable definitions (entries are
 * never modified after this), so booting another kernel costs nothing here.
 */
export function syscallTable(): SyscallEntry[] { return (builtTable ??= buildTable()); }

export function buildTable(defs: SyscallDef[] = ALL_SYSCALLS): SyscallEntry[] {
  const byName = new Map<string, SyscallDef>();
  for (const d of defs) {
    if (!(d.name in NR)) throw new Error(`syscall table: unknown syscall name '${d.name}'`);
    if (byName.has(d.name)) throw new Error(`syscall table: '${d.name}' defined twice`);
    byName.set(d.name, d);
  }
  const table: SyscallEntry[] = [];
  syscallNames.forEach((name, nr) => {
    if (!name) return;
    const d = byName.get(name);
    table[nr] = d
      ? { nr, name, handler: d.handler, support: d.support ?? 'full', note: d.note ?? '' }
      : { nr, name, handler: null, support: 'none', note: missingNote(name) };
  });
  return table;
}

/**
 * Run one system call as task `t`: -errno on failure, as lkl_syscall. A JS exception that is not a
 * KernelError is a kernel bug: it is logged like an oops and the call fails with EFAULT (a bad
 * argument type from the caller) or EIO.
 */
export function dispatch(table: SyscallEntry[], t: Task, nr: number, args: unknown[]): Promise<number> {
  const r = dispatchNow(table, t, nr, args);
  return isPromise(r) ? r : Promise.resolve(r);
}

/**
 * dispatch() for callers inside this project that serve many small calls (lklfuse): the result
 * itself when the handler completed without waiting, a promise only when it had to wait.
 */
export function dispatchNow(table: SyscallEntry[], t: Task, nr: number, args: unknown[]): MaybePromise<number> {
  const e = table[nr];
  const k = t.kernel;
  if (!k.running) return -ESHUTDOWN;
  if (!e || !e.handler) return -ENOSYS;
  k.current = t;
  k.vfs.caller = t;
  t.inSyscall++;
  t.state = 'R';
  let r: number | Promise<number>;
  try {
    r = e.handler(t, ...args);
  } catch (err) {
    done(t);
    return toErrno(t, e.name, err);
  }
  if (!isPromise(r)) { done(t); return r; }
  return r.then((v) => { done(t); return v; }, (err) => { done(t); return toErrno(t, e.name, err); });
}

function done(t: Task): void {
  if (--t.inSyscall === 0) t.state = 'S';
  if (t.kernel.current === t) t.kernel.current = null;
}

function toErrno(t: Task, name: string, err: unknown): number {
  if (err instanceof KernelError) return -err.errno;
  t.kernel.oops(`syscall ${name} (task ${t.tid})`, err);
  return err instanceof TypeError || err instanceof RangeError ? -EFAULT : -EIO;
}
