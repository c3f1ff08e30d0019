/*
 * Syscall definitions contributed by the topic files of other units (pipes, poll, locks, xattr,
 * copy, statfs, info). Collected here so table.ts has one list.
 */
import type { SyscallDef } from './types.js';
import { infoSyscalls } from './sys_info.js';
import { pipeSyscalls } from './sys_pipe.js';
import { pollSyscalls } from './sys_poll.js';
import { hooks } from './hooks.js';
import { pipeFcntl } from '../fs/pipe/index.js';
import { lockSyscalls, fcntlLock, locksOnClose } from './sys_lock.js';
import { xattrSyscalls } from './sys_xattr.js';
import { copySyscalls } from './sys_copy.js';
import { statfsSyscalls } from './sys_statfs.js';
import { netSyscalls } from './sys_net.js';
import { resolveBdev } from '../drivers/index.js';

hooks.pipeFcntl = pipeFcntl;
hooks.fcntlLock = fcntlLock;
hooks.onClose = locksOnClose;
hooks.resolveBdev = (t, source) => resolveBdev(t.kernel, source, t);

export const extraSyscalls: SyscallDef[] = [
  ...infoSyscalls, ...pipeSyscalls, ...pollSyscalls, ...lockSyscalls, ...xattrSyscalls, ...copySyscalls,
  ...statfsSyscalls, ...netSyscalls,
];
