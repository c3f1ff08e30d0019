/*
 * The socket system calls' table entries. Their code (socket_calls.ts) needs the network stack,
 * which a kernel booted with net: false (Linux's CONFIG_NET=n) never loads, so these entries only
 * call through to it:
 *
 *   - netSyscallsInit(k), run by the composition root while a kernel with networking boots,
 *     imports socket_calls.ts (and with it src/net/) once per process and enables the calls for
 *     that kernel;
 *   - on any other kernel every socket call fails with ENOSYS, as on Linux without CONFIG_NET:
 *     net/socket.c is not built there and its syscalls fall back to sys_ni_syscall
 *     (COND_SYSCALL in kernel/sys_ni.c). Even AF_UNIX needs CONFIG_NET.
 */
import { fail } from '../lib/errors.js';
import { ENOSYS } from '../uapi/errno.js';
import type { Kernel, Task } from '../kernel/index.js';
import type { SyscallDef, SyscallHandler } from './types.js';

/** socket_calls.ts's handlers, once some kernel with networking has loaded them. */
let handlers: Record<string, SyscallHandler> | undefined;
/** Kernels booted with networking. */
const netKernels = new WeakSet<object>();

/** Enable the socket calls for kernel k, loading their code on first use in this process. */
export async function netSyscallsInit(k: Kernel): Promise<void> {
  handlers ??= (await import('./socket_calls.js')).socketHandlers;
  netKernels.add(k);
}

function entry(name: string): SyscallHandler {
  return (t: Task, ...args: unknown[]) => {
    if (!handlers || !netKernels.has(t.kernel)) fail(ENOSYS, 'kernel booted without networking');
    return handlers[name]!(t, ...args);
  };
}

export const netSyscalls: SyscallDef[] = [
  { name: 'socket', handler: entry('socket'), support: 'partial', note: 'AF_UNIX built in; other families when registered (else EAFNOSUPPORT)' },
  { name: 'socketpair', handler: entry('socketpair') },
  { name: 'bind', handler: entry('bind') },
  { name: 'listen', handler: entry('listen') },
  { name: 'accept', handler: entry('accept') },
  { name: 'accept4', handler: entry('accept4') },
  { name: 'connect', handler: entry('connect') },
  { name: 'getsockname', handler: entry('getsockname') },
  { name: 'getpeername', handler: entry('getpeername') },
  { name: 'sendto', handler: entry('sendto'), note: 'SIGPIPE is not delivered (EPIPE only)' },
  { name: 'recvfrom', handler: entry('recvfrom') },
  { name: 'setsockopt', handler: entry('setsockopt'), support: 'partial', note: 'generic SOL_SOCKET options; protocol levels as each family implements' },
  { name: 'getsockopt', handler: entry('getsockopt'), support: 'partial', note: 'generic SOL_SOCKET options; protocol levels as each family implements' },
  { name: 'shutdown', handler: entry('shutdown') },
  { name: 'sendmsg', handler: entry('sendmsg'), note: 'msghdr as an object; SCM_RIGHTS and SCM_CREDENTIALS on AF_UNIX' },
  { name: 'recvmsg', handler: entry('recvmsg'), note: 'msghdr as an object; SCM_RIGHTS and SCM_CREDENTIALS on AF_UNIX' },
  { name: 'sendmmsg', handler: entry('sendmmsg') },
  { name: 'recvmmsg', handler: entry('recvmmsg'), support: 'partial', note: 'the timeout is checked between messages, as Linux does' },
];
