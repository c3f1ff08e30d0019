/*
 * The scenario language of the behaviour suite, shared by both executors.
 *
 * A case is a tiny program: `setup` steps, one `op` whose result is checked against `want`, and
 * optional `post` steps ([op, want] pairs) that observe side effects afterwards. Every step is a
 * tuple [opName, ...args] close to one system call (see OPS below for the list, which both
 * run_lkl.ts and run_host.py implement). Paths are relative: each case runs in its own scratch
 * directory (mode 0777), with umask 022, as root — until a `become` step drops to another uid/gid
 * (setgroups([]), setresgid, setresuid), after which every later step runs unprivileged.
 *
 * Results are JSON values: a number (the syscall's return), a string (data: what read/readlink/
 * getcwd/getdents return, or a field name like 'dir'), or an errno name ('ENOENT'). Data strings
 * in cases are lower case so they never look like errno names.
 *
 * A string argument '$N' is the result of setup step N ('$N.1' indexes an array result, as the
 * write end of `pipe`); '$op' is the main op's result (for post steps).
 *
 * A setup step that fails makes the whole case report `setup[N] <op>: EXXX`, so a broken
 * precondition never passes silently.
 */

export type Arg = number | string | null | Arg[];
export type Op = [string, ...Arg[]];
/** A number, an errno or data string, or a predicate. */
export type Want = number | string | { gt: number } | { ne: number | string } | 'nonneg';
export type Got = number | string | Got[];

export interface Case {
  name: string;
  setup?: Op[];
  op: Op;
  want: Want;
  post?: [Op, Want][];
  /** The host executor cannot express this case; the reason. */
  hostSkip?: string;
  /** A syscall here belongs to a topic file that may not have landed; ENOSYS on ours skips the case. */
  pendingOn?: string;
}

export interface Result { name: string; got: Got }

/**
 * The operations. Arguments in order; `=x` is a default.
 *   open path flags mode=0          openat(AT_FDCWD, ...) → fd
 *   openat dirfd path flags mode=0
 *   close fd
 *   read fd count                   → data string          pread fd count off → data string
 *   write fd data                   → count                 pwrite fd data off → count
 *   lseek fd off whence
 *   stat path field flags=0         newfstatat(AT_FDCWD); field: type|perm|mode|size|nlink|uid|gid|rdev|atime|mtime|atime_nsec|mtime_nsec|ino
 *   statat dirfd path field flags   fstat fd field
 *   statx dirfd path flags mask field   field: basic (stx_mask & 0x7ff)|type|perm|size|nlink|uid
 *   mkdir path mode                 mknod path mode dev=0
 *   unlink path                     rmdir path              unlinkat dirfd path flags
 *   linkat olddirfd old new flags   chmod2 path mode flags (fchmodat2)
 *   rename old new flags=0          renameat2(AT_FDCWD, old, AT_FDCWD, new, flags)
 *   link old new flags=0            linkat                  symlink target path
 *   readlink path size dirfd=AT_FDCWD → data string
 *   chmod path mode                 fchmod fd mode
 *   chown path uid gid flags=0      fchown fd uid gid
 *   utimens path atime mtime flags=0    times: [sec, nsec] | 'NOW' | 'OMIT'; both null → NULL times
 *   futimens fd atime mtime         utimensat(fd, NULL, ...)
 *   truncate path len               ftruncate fd len        fallocate fd mode off len
 *   access path mode                faccessat               access2 path mode flags dirfd=AT_FDCWD (faccessat2)
 *   dup fd                          dup2 old new            dup3 old new flags
 *   fcntl fd cmd arg=0
 *   chdir path   fchdir fd          getcwd size → '~' + path below the case's scratch root
 *   umask mask
 *   getdents path → sorted names joined by ' '   getdentsfd fd count → bytes returned
 *   fsync fd   fdatasync fd   sync
 *   getpid gettid getppid getuid geteuid getgid
 *   uname → sysname                 pipe flags=0 → [r, w]
 *   become uid gid
 *   writefile path data mode=0o644  (create/truncate, fchmod to exactly mode, write)   readfile path → data string
 *   same a b → 1 or 0
 *   setxattr path name value flags  getxattr path name size=256 → data   listxattr path → sorted names   removexattr path name
 *   flock fd op
 */
export const OPS = [
  'open', 'openat', 'close', 'read', 'pread', 'write', 'pwrite', 'lseek', 'stat', 'statat', 'fstat',
  'statx', 'mkdir', 'mknod', 'unlink', 'rmdir', 'unlinkat', 'rename', 'link', 'symlink', 'readlink',
  'chmod', 'fchmod', 'chown', 'fchown', 'utimens', 'futimens', 'truncate', 'ftruncate', 'fallocate',
  'access', 'access2', 'dup', 'dup2', 'dup3', 'fcntl', 'chdir', 'fchdir', 'getcwd', 'umask',
  'getdents', 'getdentsfd', 'fsync', 'fdatasync', 'sync', 'getpid', 'gettid', 'getppid', 'getuid',
  'geteuid', 'getgid', 'uname', 'pipe', 'become', 'writefile', 'readfile', 'same', 'setxattr',
  'getxattr', 'listxattr', 'removexattr', 'flock', 'linkat', 'chmod2',
] as const;

const ERRNO_RE = /^E[A-Z0-9]+$/;
export function isErrno(g: unknown): g is string { return typeof g === 'string' && ERRNO_RE.test(g); }

/** Does one result satisfy one expectation? */
export function matches(got: Got, want: Want): boolean {
  if (want === 'nonneg') return typeof got === 'number' && got >= 0;
  if (typeof want === 'object') {
    if ('gt' in want) return typeof got === 'number' && got > want.gt;
    return !isErrno(got) && got !== want.ne;
  }
  return got === want;
}

/** The expectation list of a case: main op, then each post step. */
export function wantsOf(c: Case): Want[] { return [c.want, ...(c.post ?? []).map((p) => p[1])]; }

/** Does an executor's result satisfy the whole case? */
export function caseMatches(c: Case, got: Got): boolean {
  const wants = wantsOf(c);
  if (!c.post?.length) return matches(got, c.want);
  if (!Array.isArray(got) || got.length !== wants.length) return false;
  return wants.every((w, i) => matches(got[i]!, w));
}

export function show(v: unknown): string { return typeof v === 'string' ? v : JSON.stringify(v); }
export function showWant(c: Case): string { return c.post?.length ? JSON.stringify(wantsOf(c)) : show(c.want); }
