/*
 * File descriptor tables (struct files_struct): fd -> File plus the close-on-exec bit.
 * Lowest free fd first, bounded by RLIMIT_NOFILE (EMFILE). Shared between tasks of a thread
 * group; copied by new_thread_group_leader.
 */
import { fail } from '../lib/errors.js';
import { EBADF, EMFILE, EINVAL } from '../uapi/errno.js';
import { type File, fput, locksRemovePosix } from '../fs/vfs/index.js';

export class FilesStruct {
  private fds: (File | undefined)[] = [];
  private cloexec: boolean[] = [];
  /** Where to start searching for a free fd (everything below is in use). */
  private nextFd = 0;
  users = 1;

  get(fd: number): File {
    const f = fd >= 0 ? this.fds[fd] : undefined;
    if (!f) fail(EBADF);
    return f;
  }
  peek(fd: number): File | undefined { return fd >= 0 ? this.fds[fd] : undefined; }
  isCloexec(fd: number): boolean { return this.cloexec[fd] === true; }
  setCloexec(fd: number, on: boolean): void { this.get(fd); this.cloexec[fd] = on; }

  /** Install `file` at the lowest free fd >= minFd; takes over the caller's reference. */
  install(file: File, cloexec: boolean, limit: number, minFd = 0): number {
    if (minFd >= limit) fail(minFd >= 0 ? EINVAL : EINVAL);
    let fd = Math.max(minFd, minFd === 0 ? this.nextFd : minFd);
    while (this.fds[fd]) fd++;
    if (fd >= limit) fail(EMFILE);
    this.fds[fd] = file;
    this.cloexec[fd] = cloexec;
    if (minFd <= this.nextFd) this.nextFd = fd + 1;
    return fd;
  }

  /** dup2/dup3: put `file` at exactly `fd`, returning what was there (the caller closes it). */
  replace(fd: number, file: File, cloexec: boolean): File | undefined {
    const old = this.fds[fd];
    this.fds[fd] = file;
    this.cloexec[fd] = cloexec;
    return old;
  }

  /** Remove fd from the table; the caller drops the File reference (and runs flush). */
  remove(fd: number): File {
    const f = this.get(fd);
    this.fds[fd] = undefined;
    this.cloexec[fd] = false;
    if (fd < this.nextFd) this.nextFd = fd;
    while (this.fds.length && this.fds[this.fds.length - 1] === undefined) this.fds.pop();
    return f;
  }

  /** Highest fd in use + 1. */
  get size(): number { return this.fds.length; }
  /** Entries in use, in fd order. */
  *entries(): Generator<[number, File]> {
    for (let i = 0; i < this.fds.length; i++) { const f = this.fds[i]; if (f) yield [i, f]; }
  }
  get count(): number { let n = 0; for (const f of this.fds) if (f) n++; return n; }

  copy(): FilesStruct {
    const c = new FilesStruct();
    c.fds = [...this.fds];
    c.cloexec = [...this.cloexec];
    c.nextFd = this.nextFd;
    for (const f of c.fds) if (f) f.refs++;
    return c;
  }

  /** Drop every file (task exit or halt); `owner`'s POSIX locks go with them, as on close. */
  async closeAll(owner?: number): Promise<void> {
    const files = this.fds;
    this.fds = []; this.cloexec = []; this.nextFd = 0;
    for (const f of files) {
      if (!f) continue;
      if (owner !== undefined) locksRemovePosix(f, owner);
      await fput(f);
    }
  }
}
