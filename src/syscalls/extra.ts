/*
 * Syscall definitions contributed by the topic files of other units (pipes, poll, locks, xattr,
 * copy, statfs, info). Collected here so table.ts has one list.
 */
import type { SyscallDef } from './types.js';
import { infoSyscalls } from './sys_info.js';

export const extraSyscalls: SyscallDef[] = [...infoSyscalls];
