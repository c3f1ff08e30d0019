/*
 * The kernel: tasks, fd tables, kernel threads, boot order, halt. Lower layers (clock, printk,
 * credentials) are re-exported so upper layers import the kernel through one place.
 */
export { Kernel, LINUX_VERSION, UTS_RELEASE, UTS_MACHINE, DEFAULT_MEM, PID_MAX, type Initcall, type KthreadHandle, type Utsname, type ParamHandler } from './kernel.js';
export { Task, FsStruct, defaultRlimits, RLIM_INF, type Rlimit } from './task.js';
export { FilesStruct } from './fdtable.js';
export { splitCmdline } from './params.js';
export { Cred, CAP_FULL_SET } from './auth/index.js';
export { Clock, nsToTimespec, timespecToNs, NSEC_PER_SEC, type KernelTimer } from './ktime/index.js';
export {
  LogBuffer, formatTimestamp, KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR, KERN_WARNING, KERN_NOTICE,
  KERN_INFO, KERN_DEBUG, type Printk, type LogRecord,
} from './printk/index.js';
