/* The Linux ABI as LKL.ts exports it: errno, syscall numbers, flags, struct layouts. */
export * from './errno.js';
export { strerror } from './errno_text.js';
export * from './unistd.js';
export * from './fcntl.js';
export * from './stat.js';
export * from './mount.js';
export * from './misc.js';
