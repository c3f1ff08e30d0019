export { buildTable, syscallTable, dispatch, dispatchNow, ALL_SYSCALLS } from './table.js';
export type { SyscallDef, SyscallEntry, SyscallHandler, SupportLevel } from './types.js';
export { hooks } from './hooks.js';
export { netSyscallsInit } from './sys_net.js';
