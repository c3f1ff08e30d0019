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

hooks.pipeFcntl = pipeFcntl;

export const extraSyscalls: SyscallDef[] = [...infoSyscalls, ...pipeSyscalls, ...pollSyscalls];
