/*
 * Late-bound entry points into syscall files owned by other topics (locks, pipes, block devices),
 * so sys_fs.ts need not import them directly. Filled in by table.ts.
 */
import type { Task } from '../kernel/index.js';
import type { File } from '../fs/vfs/index.js';
import type { Cred } from '../kernel/index.js';

export const hooks: {
  fcntlLock?: (t: Task, fd: number, cmd: number, arg: unknown) => Promise<number>;
  pipeFcntl?: (file: File, cmd: number, arg: number, cred: Cred) => number;
  onClose?: (t: Task, file: File) => void;
  resolveBdev?: (t: Task, source: string) => Promise<unknown>;
} = {};
