/*
 * The behaviour table: what Linux does, case by case, for the file and process system calls.
 *
 * Every expectation here was first run against the host Linux kernel (run_host.py, raw syscalls
 * through libc's syscall()) — a wrong expectation fails there before it can mislead our kernel.
 * The language is described in dsl.ts. Cases are grouped by system call; names say the situation
 * and the expected outcome, so a failure reads like a sentence.
 */
import type { Case, Op } from './dsl.js';
import {
  O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW,
  O_CLOEXEC, O_PATH, O_TMPFILE, O_NONBLOCK, O_LARGEFILE, AT_FDCWD, AT_SYMLINK_NOFOLLOW,
  AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH, AT_EACCESS, SEEK_SET, SEEK_CUR, SEEK_END,
  SEEK_DATA, SEEK_HOLE, RENAME_NOREPLACE, RENAME_EXCHANGE, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD,
  F_SETFD, F_GETFL, F_SETFL, F_GETPIPE_SZ, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
  F_OK, R_OK, W_OK, X_OK, XATTR_CREATE, XATTR_REPLACE, LOCK_EX, LOCK_SH, LOCK_NB, LOCK_UN,
} from '../../src/uapi/fcntl.js';
import { S_IFIFO, S_IFREG, S_IFDIR, S_IFCHR, S_IFSOCK, S_IFLNK, S_IFMT } from '../../src/uapi/stat.js';

const U: Op = ['become', 1000, 1000];
const wf = (path: string, data: string, mode = 0o644): Op => ['writefile', path, data, mode];
const CREAT = O_WRONLY | O_CREAT;
const LONG = 'n'.repeat(256);
const MAX = 'n'.repeat(255);
const MKDEV = (ma: number, mi: number) => (ma << 8) | mi; // new_encode_dev for small numbers
const PIPE = 'the pipe topic file (pipe2)';
const XATTR = 'sys_xattr.ts';
const LOCKS = 'sys_lock.ts';
const INFO = 'sys_info.ts';

/**
 * One call per pending topic: when it answers ENOSYS on our kernel, every case marked with that
 * topic is skipped (a fifo open, say, fails with ENXIO rather than ENOSYS until pipes land).
 */
export const PENDING_PROBES: Record<string, Op> = {
  [PIPE]: ['pipe'],
  [XATTR]: ['listxattr', '.'],
  [LOCKS]: ['flock', -1, LOCK_UN],
  [INFO]: ['uname'],
};

const open: Case[] = [
  { name: 'open O_CREAT|O_EXCL new file → fd', op: ['open', 'f', CREAT | O_EXCL, 0o644], want: 'nonneg' },
  { name: 'open O_CREAT|O_EXCL existing → EEXIST', setup: [wf('f', 'x')], op: ['open', 'f', CREAT | O_EXCL, 0o644], want: 'EEXIST' },
  { name: 'open O_CREAT|O_EXCL on a dangling symlink → EEXIST', setup: [['symlink', 'nowhere', 'l']], op: ['open', 'l', CREAT | O_EXCL, 0o644], want: 'EEXIST' },
  { name: 'open O_CREAT on a dangling symlink creates its target', setup: [['symlink', 'target', 'l']], op: ['open', 'l', CREAT, 0o644], want: 'nonneg', post: [[['stat', 'target', 'type'], 'reg']] },
  { name: 'open O_CREAT on existing file → fd, contents kept', setup: [wf('f', 'abc')], op: ['open', 'f', O_RDWR | O_CREAT, 0o600], want: 'nonneg', post: [[['readfile', 'f'], 'abc']] },
  { name: 'open O_DIRECTORY on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['open', 'f', O_RDONLY | O_DIRECTORY], want: 'ENOTDIR' },
  { name: 'open O_DIRECTORY on a dir → fd', setup: [['mkdir', 'd', 0o755]], op: ['open', 'd', O_RDONLY | O_DIRECTORY], want: 'nonneg' },
  { name: 'open O_NOFOLLOW on a symlink → ELOOP', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['open', 'l', O_RDONLY | O_NOFOLLOW], want: 'ELOOP' },
  { name: 'open O_NOFOLLOW follows symlinks before the last component', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x'), ['symlink', 'd', 'l']], op: ['open', 'l/f', O_RDONLY | O_NOFOLLOW], want: 'nonneg' },
  { name: 'open O_NOFOLLOW|O_PATH on a symlink → fd', setup: [['symlink', 'f', 'l']], op: ['open', 'l', O_PATH | O_NOFOLLOW], want: 'nonneg' },
  { name: 'open O_TRUNC empties the file', setup: [wf('f', 'hello'), ['open', 'f', O_WRONLY | O_TRUNC]], op: ['stat', 'f', 'size'], want: 0 },
  { name: 'open O_RDONLY|O_TRUNC truncates too', setup: [wf('f', 'hello'), ['open', 'f', O_RDONLY | O_TRUNC]], op: ['stat', 'f', 'size'], want: 0 },
  { name: 'open O_APPEND: writes go to the end', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY | O_APPEND]], op: ['write', '$1', 'de'], want: 2, post: [[['readfile', 'f'], 'abcde']] },
  { name: 'open O_APPEND: pwrite appends regardless of offset', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY | O_APPEND]], op: ['pwrite', '$1', 'x', 0], want: 1, post: [[['readfile', 'f'], 'abcx']] },
  { name: 'open "f/" on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['open', 'f/', O_RDONLY], want: 'ENOTDIR' },
  { name: 'open "new/" with O_CREAT → EISDIR', op: ['open', 'new/', CREAT, 0o644], want: 'EISDIR' },
  { name: 'open "d/" on a dir → fd', setup: [['mkdir', 'd', 0o755]], op: ['open', 'd/', O_RDONLY], want: 'nonneg' },
  { name: 'open "f/." on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['open', 'f/.', O_RDONLY], want: 'ENOTDIR' },
  { name: 'open a dir O_WRONLY → EISDIR', setup: [['mkdir', 'd', 0o755]], op: ['open', 'd', O_WRONLY], want: 'EISDIR' },
  { name: 'open a dir O_RDWR → EISDIR', setup: [['mkdir', 'd', 0o755]], op: ['open', 'd', O_RDWR], want: 'EISDIR' },
  { name: 'open a dir O_CREAT → EISDIR', setup: [['mkdir', 'd', 0o755]], op: ['open', 'd', O_RDONLY | O_CREAT, 0o644], want: 'EISDIR' },
  { name: 'open missing file → ENOENT', op: ['open', 'missing', O_RDONLY], want: 'ENOENT' },
  { name: 'open O_CREAT in a missing dir → ENOENT', op: ['open', 'nodir/f', CREAT, 0o644], want: 'ENOENT' },
  { name: 'open "" → ENOENT', op: ['open', '', O_RDONLY], want: 'ENOENT' },
  { name: 'open through a file "f/x" → ENOTDIR', setup: [wf('f', 'x')], op: ['open', 'f/x', O_RDONLY], want: 'ENOTDIR' },
  { name: 'open a 256-byte name → ENAMETOOLONG', op: ['open', LONG, O_RDONLY], want: 'ENAMETOOLONG' },
  { name: 'open O_CREAT a 256-byte name → ENAMETOOLONG', op: ['open', LONG, CREAT, 0o644], want: 'ENAMETOOLONG' },
  { name: 'open O_CREAT a 255-byte name → fd', op: ['open', MAX, CREAT, 0o644], want: 'nonneg' },
  { name: 'open a path longer than PATH_MAX → ENAMETOOLONG', op: ['open', 'a/'.repeat(2100), O_RDONLY], want: 'ENAMETOOLONG' },
  { name: 'open a symlink loop → ELOOP', setup: [['symlink', 'b', 'a'], ['symlink', 'a', 'b']], op: ['open', 'a', O_RDONLY], want: 'ELOOP' },
  { name: 'open a self-referencing symlink → ELOOP', setup: [['symlink', 's', 's']], op: ['open', 's', O_RDONLY], want: 'ELOOP' },
  { name: 'open O_CREAT honours umask (0666 & ~022)', setup: [['open', 'f', CREAT, 0o666]], op: ['stat', 'f', 'perm'], want: 0o644 },
  { name: 'open O_CREAT honours umask 077', setup: [['umask', 0o077], ['open', 'f', CREAT, 0o666]], op: ['stat', 'f', 'perm'], want: 0o600 },
  { name: 'open O_CREAT keeps setuid/sticky bits of the mode', setup: [['open', 'f', CREAT, 0o4755]], op: ['stat', 'f', 'perm'], want: 0o4755 },
  { name: 'open O_TMPFILE in a dir → fd', op: ['open', '.', O_TMPFILE | O_RDWR, 0o600], want: 'nonneg' },
  { name: 'open O_TMPFILE leaves no name behind', setup: [['open', '.', O_TMPFILE | O_RDWR, 0o600]], op: ['getdents', '.'], want: '. ..' },
  { name: 'open O_TMPFILE without write access → EINVAL', op: ['open', '.', O_TMPFILE | O_RDONLY, 0o600], want: 'EINVAL' },
  { name: 'open with access mode 3: read → EBADF', setup: [wf('f', 'abc'), ['open', 'f', 3]], op: ['read', '$1', 3], want: 'EBADF' },
  { name: 'root opens a mode-0000 file O_RDWR', setup: [wf('f', 'x', 0o000)], op: ['open', 'f', O_RDWR], want: 'nonneg' },
  { name: 'user opens root 0600 file for reading → EACCES', setup: [wf('f', 'x', 0o600), U], op: ['open', 'f', O_RDONLY], want: 'EACCES' },
  { name: 'user opens root 0644 file for writing → EACCES', setup: [wf('f', 'x', 0o644), U], op: ['open', 'f', O_WRONLY], want: 'EACCES' },
  { name: 'user opens root 0644 file for reading', setup: [wf('f', 'x', 0o644), U], op: ['open', 'f', O_RDONLY], want: 'nonneg' },
  { name: 'user opens a file in a dir without search permission → EACCES', setup: [['mkdir', 'd', 0o700], wf('d/f', 'x', 0o644), U], op: ['open', 'd/f', O_RDONLY], want: 'EACCES' },
  { name: 'user O_CREAT in a dir without write permission → EACCES', setup: [['mkdir', 'd', 0o755], U], op: ['open', 'd/f', CREAT, 0o644], want: 'EACCES' },
  { name: 'user O_CREAT of an existing writable file in a read-only dir → fd', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x', 0o666), U], op: ['open', 'd/f', CREAT, 0o644], want: 'nonneg' },
  { name: 'user O_TRUNC of a file without write permission → EACCES', setup: [wf('f', 'x', 0o644), U], op: ['open', 'f', O_RDONLY | O_TRUNC], want: 'EACCES' },
  { name: 'file created by user is owned by that user', setup: [U, ['open', 'f', CREAT, 0o644]], op: ['stat', 'f', 'uid'], want: 1000 },
  { name: 'openat relative to a dir fd', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x'), ['open', 'd', O_RDONLY | O_DIRECTORY]], op: ['openat', '$2', 'f', O_RDONLY], want: 'nonneg' },
  { name: 'openat relative to a file fd → ENOTDIR', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['openat', '$1', 'x', O_RDONLY], want: 'ENOTDIR' },
  { name: 'openat with a bad dirfd → EBADF', op: ['openat', 999, 'x', O_RDONLY], want: 'EBADF' },
  { name: 'openat with an absolute path ignores a bad dirfd', op: ['openat', 999, '/', O_RDONLY], want: 'nonneg' },
];

const close: Case[] = [
  { name: 'close an open fd → 0', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['close', '$1'], want: 0 },
  { name: 'close twice → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['close', '$1']], op: ['close', '$1'], want: 'EBADF' },
  { name: 'close(-1) → EBADF', op: ['close', -1], want: 'EBADF' },
  { name: 'close(999) → EBADF', op: ['close', 999], want: 'EBADF' },
];

const rw: Case[] = [
  { name: 'read returns the data', setup: [wf('f', 'hello'), ['open', 'f', O_RDONLY]], op: ['read', '$1', 100], want: 'hello' },
  { name: 'read at EOF returns nothing', setup: [wf('f', 'hi'), ['open', 'f', O_RDONLY], ['read', '$1', 100]], op: ['read', '$1', 100], want: '' },
  { name: 'read advances the offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['read', '$1', 2]], op: ['read', '$1', 2], want: 'cd' },
  { name: 'read on an O_WRONLY fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY]], op: ['read', '$1', 1], want: 'EBADF' },
  { name: 'write on an O_RDONLY fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['write', '$1', 'y'], want: 'EBADF' },
  { name: 'read of a directory fd → EISDIR', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY]], op: ['read', '$1', 10], want: 'EISDIR' },
  { name: 'read on a bad fd → EBADF', op: ['read', 999, 1], want: 'EBADF' },
  { name: 'write on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['write', '$1', 'y'], want: 'EBADF' },
  { name: 'read on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['read', '$1', 1], want: 'EBADF' },
  { name: 'write of zero bytes → 0', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY]], op: ['write', '$1', ''], want: 0 },
  { name: 'write after seeking past EOF leaves a zero-filled gap', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644], ['lseek', '$0', 3, SEEK_SET], ['write', '$0', 'x']], op: ['readfile', 'f'], want: '\0\0\0x' },
  { name: 'pread at an offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY]], op: ['pread', '$1', 3, 2], want: 'cde' },
  { name: 'pread does not move the file offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['pread', '$1', 3, 2]], op: ['read', '$1', 2], want: 'ab' },
  { name: 'pread past EOF returns nothing', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['pread', '$1', 3, 100], want: '' },
  { name: 'pread with a negative offset → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['pread', '$1', 1, -1], want: 'EINVAL' },
  { name: 'pwrite with a negative offset → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY]], op: ['pwrite', '$1', 'x', -1], want: 'EINVAL' },
  { name: 'pwrite on an O_RDONLY fd → EBADF', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['pwrite', '$1', 'x', 0], want: 'EBADF' },
  { name: 'pwrite extends the file', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY], ['pwrite', '$1', 'z', 5]], op: ['stat', 'f', 'size'], want: 6 },
  { name: 'pread of a directory fd → EISDIR', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY]], op: ['pread', '$1', 1, 0], want: 'EISDIR' },
  { name: 'pread on a pipe → ESPIPE', setup: [['pipe']], op: ['pread', '$0.0', 1, 0], want: 'ESPIPE', pendingOn: PIPE },
  { name: 'pwrite on a pipe → ESPIPE', setup: [['pipe']], op: ['pwrite', '$0.1', 'x', 0], want: 'ESPIPE', pendingOn: PIPE },
  { name: 'pipe: data written is read back', setup: [['pipe'], ['write', '$0.1', 'ping']], op: ['read', '$0.0', 10], want: 'ping', pendingOn: PIPE },
  { name: 'pipe: write with the read end closed → EPIPE', setup: [['pipe'], ['close', '$0.0']], op: ['write', '$0.1', 'x'], want: 'EPIPE', pendingOn: PIPE },
  { name: 'pipe: O_NONBLOCK read of an empty pipe → EAGAIN', setup: [['pipe', O_NONBLOCK]], op: ['read', '$0.0', 1], want: 'EAGAIN', pendingOn: PIPE },
  { name: 'pipe: read on the write end → EBADF', setup: [['pipe']], op: ['read', '$0.1', 1], want: 'EBADF', pendingOn: PIPE },
  { name: 'pipe: fstat says fifo', setup: [['pipe']], op: ['fstat', '$0.0', 'type'], want: 'fifo', pendingOn: PIPE },
  { name: 'pipe: F_GETPIPE_SZ is 65536', setup: [['pipe']], op: ['fcntl', '$0.0', F_GETPIPE_SZ], want: 65536, pendingOn: PIPE },
];

const seek: Case[] = [
  { name: 'lseek SEEK_SET to -1 → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', -1, SEEK_SET], want: 'EINVAL' },
  { name: 'lseek SEEK_CUR before 0 → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', -5, SEEK_CUR], want: 'EINVAL' },
  { name: 'lseek SEEK_END returns the size', setup: [wf('f', 'abcde'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', 0, SEEK_END], want: 5 },
  { name: 'lseek SEEK_END -2', setup: [wf('f', 'abcde'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', -2, SEEK_END], want: 3 },
  { name: 'lseek past EOF is allowed', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', 1000, SEEK_SET], want: 1000 },
  { name: 'lseek with a bad whence → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', 0, 7], want: 'EINVAL' },
  { name: 'lseek on a bad fd → EBADF', op: ['lseek', 999, 0, SEEK_SET], want: 'EBADF' },
  { name: 'lseek on a pipe → ESPIPE', setup: [['pipe']], op: ['lseek', '$0.0', 0, SEEK_CUR], want: 'ESPIPE', pendingOn: PIPE },
  { name: 'lseek then read continues from the new offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['lseek', '$1', 4, SEEK_SET]], op: ['read', '$1', 10], want: 'ef' },
  // A 1 MiB file whose only data is one byte at 64 KiB: holes elsewhere (page and block aligned).
  ...((): Case[] => {
    const sparse: Op[] = [['open', 'f', O_RDWR | O_CREAT, 0o644], ['ftruncate', '$0', 1 << 20], ['pwrite', '$0', 'x', 65536]];
    return [
      { name: 'SEEK_DATA from 0 in a sparse file → the data', setup: sparse, op: ['lseek', '$0', 0, SEEK_DATA], want: 65536 },
      { name: 'SEEK_HOLE from 0 in a sparse file → 0', setup: sparse, op: ['lseek', '$0', 0, SEEK_HOLE], want: 0 },
      { name: 'SEEK_HOLE from the data → end of that page', setup: sparse, op: ['lseek', '$0', 65536, SEEK_HOLE], want: 65536 + 4096 },
      { name: 'SEEK_DATA in the trailing hole → ENXIO', setup: sparse, op: ['lseek', '$0', 131072, SEEK_DATA], want: 'ENXIO' },
      { name: 'SEEK_HOLE in the trailing hole → that offset', setup: sparse, op: ['lseek', '$0', 131072, SEEK_HOLE], want: 131072 },
      { name: 'SEEK_DATA at EOF → ENXIO', setup: sparse, op: ['lseek', '$0', 1 << 20, SEEK_DATA], want: 'ENXIO' },
      { name: 'SEEK_HOLE past EOF → ENXIO', setup: sparse, op: ['lseek', '$0', (1 << 20) + 1, SEEK_HOLE], want: 'ENXIO' },
      { name: 'SEEK_DATA with a negative offset → ENXIO', setup: sparse, op: ['lseek', '$0', -1, SEEK_DATA], want: 'ENXIO' },
      { name: 'SEEK_HOLE in a dense file → EOF', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY]], op: ['lseek', '$1', 0, SEEK_HOLE], want: 6 },
    ];
  })(),
];

const stat: Case[] = [
  { name: 'stat mode of a new 0644 file', setup: [wf('f', 'x')], op: ['stat', 'f', 'mode'], want: S_IFREG | 0o644 },
  { name: 'stat size after writing', setup: [wf('f', 'hello')], op: ['stat', 'f', 'size'], want: 5 },
  { name: 'stat nlink of a file is 1', setup: [wf('f', 'x')], op: ['stat', 'f', 'nlink'], want: 1 },
  { name: 'stat nlink of an empty dir is 2', setup: [['mkdir', 'd', 0o755]], op: ['stat', 'd', 'nlink'], want: 2 },
  { name: 'stat nlink of a dir counts subdirs', setup: [['mkdir', 'd', 0o755], ['mkdir', 'd/a', 0o755], ['mkdir', 'd/b', 0o755], wf('d/f', 'x')], op: ['stat', 'd', 'nlink'], want: 4 },
  { name: 'stat mode of a new dir', setup: [['mkdir', 'd', 0o777]], op: ['stat', 'd', 'mode'], want: S_IFDIR | 0o755 },
  { name: 'stat follows a symlink', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['stat', 'l', 'type'], want: 'reg' },
  { name: 'stat AT_SYMLINK_NOFOLLOW sees the link', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['stat', 'l', 'type', AT_SYMLINK_NOFOLLOW], want: 'lnk' },
  { name: 'lstat size of a symlink is its target length', setup: [['symlink', 'abcdefg', 'l']], op: ['stat', 'l', 'size', AT_SYMLINK_NOFOLLOW], want: 7 },
  { name: 'lstat mode of a symlink is 0777', setup: [['symlink', 'abc', 'l']], op: ['stat', 'l', 'mode', AT_SYMLINK_NOFOLLOW], want: S_IFLNK | 0o777 },
  { name: 'stat of a dangling symlink → ENOENT', setup: [['symlink', 'nowhere', 'l']], op: ['stat', 'l', 'type'], want: 'ENOENT' },
  { name: 'stat of a missing file → ENOENT', op: ['stat', 'missing', 'type'], want: 'ENOENT' },
  { name: 'stat through a file "f/x" → ENOTDIR', setup: [wf('f', 'x')], op: ['stat', 'f/x', 'type'], want: 'ENOTDIR' },
  { name: 'stat "f/" on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['stat', 'f/', 'type'], want: 'ENOTDIR' },
  { name: 'stat "" → ENOENT', op: ['stat', '', 'type'], want: 'ENOENT' },
  { name: 'newfstatat AT_EMPTY_PATH on a file fd', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['statat', '$1', '', 'size', AT_EMPTY_PATH], want: 3 },
  { name: 'newfstatat AT_EMPTY_PATH on an O_PATH fd', setup: [wf('f', 'abcd'), ['open', 'f', O_PATH]], op: ['statat', '$1', '', 'size', AT_EMPTY_PATH], want: 4 },
  { name: 'newfstatat with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['stat', 'f', 'type', 0x1], want: 'EINVAL' },
  { name: 'fstat size', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY]], op: ['fstat', '$1', 'size'], want: 6 },
  { name: 'fstat on a bad fd → EBADF', op: ['fstat', 999, 'size'], want: 'EBADF' },
  { name: 'fstat on an O_PATH fd works', setup: [wf('f', 'abc'), ['open', 'f', O_PATH]], op: ['fstat', '$1', 'type'], want: 'reg' },
  { name: 'stat uid/gid of a root-created file are 0', setup: [wf('f', 'x')], op: ['stat', 'f', 'gid'], want: 0 },
  { name: 'a new dir in a setgid dir takes its group and setgid bit', setup: [['mkdir', 'd', 0o755], ['chown', 'd', 0, 1000], ['chmod', 'd', 0o2775], ['mkdir', 'd/s', 0o755]], op: ['stat', 'd/s', 'mode'], want: S_IFDIR | 0o2755, post: [[['stat', 'd/s', 'gid'], 1000]] },
  { name: 'a new file in a setgid dir takes its group', setup: [['mkdir', 'd', 0o755], ['chown', 'd', 0, 1000], ['chmod', 'd', 0o2775], wf('d/f', 'x')], op: ['stat', 'd/f', 'gid'], want: 1000 },
  { name: 'statx returns the basic stats', setup: [wf('f', 'x')], op: ['statx', AT_FDCWD, 'f', 0, 0x7ff, 'basic'], want: 0x7ff },
  { name: 'statx size and mode', setup: [wf('f', 'abc')], op: ['statx', AT_FDCWD, 'f', 0, 0x7ff, 'size'], want: 3, post: [[['statx', AT_FDCWD, 'f', 0, 0x7ff, 'perm'], 0o644]] },
  { name: 'statx with the reserved mask bit → EINVAL', setup: [wf('f', 'x')], op: ['statx', AT_FDCWD, 'f', 0, 0x80000000, 'size'], want: 'EINVAL' },
  { name: 'statx with both sync flags → EINVAL', setup: [wf('f', 'x')], op: ['statx', AT_FDCWD, 'f', 0x6000, 0x7ff, 'size'], want: 'EINVAL' },
  { name: 'statx AT_EMPTY_PATH on an fd', setup: [wf('f', 'abcd'), ['open', 'f', O_RDONLY]], op: ['statx', '$1', '', AT_EMPTY_PATH, 0x7ff, 'size'], want: 4 },
  { name: 'statx AT_SYMLINK_NOFOLLOW sees the link', setup: [['symlink', 'x', 'l']], op: ['statx', AT_FDCWD, 'l', AT_SYMLINK_NOFOLLOW, 0x7ff, 'type'], want: 'lnk' },
  { name: 'statx of a missing file → ENOENT', op: ['statx', AT_FDCWD, 'missing', 0, 0x7ff, 'size'], want: 'ENOENT' },
];

const mkdir: Case[] = [
  { name: 'mkdir existing dir → EEXIST', setup: [['mkdir', 'd', 0o755]], op: ['mkdir', 'd', 0o755], want: 'EEXIST' },
  { name: 'mkdir over a file → EEXIST', setup: [wf('f', 'x')], op: ['mkdir', 'f', 0o755], want: 'EEXIST' },
  { name: 'mkdir over a dangling symlink → EEXIST', setup: [['symlink', 'nowhere', 'l']], op: ['mkdir', 'l', 0o755], want: 'EEXIST' },
  { name: 'mkdir with a missing parent → ENOENT', op: ['mkdir', 'a/b', 0o755], want: 'ENOENT' },
  { name: 'mkdir under a file → ENOTDIR', setup: [wf('f', 'x')], op: ['mkdir', 'f/d', 0o755], want: 'ENOTDIR' },
  { name: 'mkdir "d/" with a trailing slash → 0', op: ['mkdir', 'd/', 0o755], want: 0, post: [[['stat', 'd', 'type'], 'dir']] },
  { name: 'mkdir "." → EEXIST', op: ['mkdir', '.', 0o755], want: 'EEXIST' },
  { name: 'mkdir ".." → EEXIST', op: ['mkdir', '..', 0o755], want: 'EEXIST' },
  { name: 'mkdir "" → ENOENT', op: ['mkdir', '', 0o755], want: 'ENOENT' },
  { name: 'mkdir a 256-byte name → ENAMETOOLONG', op: ['mkdir', LONG, 0o755], want: 'ENAMETOOLONG' },
  { name: 'mkdir mode is masked by umask', setup: [['mkdir', 'd', 0o777]], op: ['stat', 'd', 'perm'], want: 0o755 },
  { name: 'mkdir keeps the sticky bit', setup: [['mkdir', 'd', 0o1777]], op: ['stat', 'd', 'perm'], want: 0o1755 },
  { name: 'mkdir drops setgid from the mode argument', setup: [['mkdir', 'd', 0o2777]], op: ['stat', 'd', 'perm'], want: 0o755 },
  { name: 'user mkdir in a dir without write permission → EACCES', setup: [['mkdir', 'd', 0o755], U], op: ['mkdir', 'd/x', 0o755], want: 'EACCES' },
  { name: 'user mkdir in a writable dir → 0', setup: [U], op: ['mkdir', 'd', 0o755], want: 0 },
];

const mknod: Case[] = [
  { name: 'mknod a fifo → 0', op: ['mknod', 'p', S_IFIFO | 0o644], want: 0, post: [[['stat', 'p', 'type'], 'fifo']] },
  { name: 'mknod a regular file → 0', op: ['mknod', 'r', S_IFREG | 0o644], want: 0, post: [[['stat', 'r', 'type'], 'reg']] },
  { name: 'mknod with type 0 makes a regular file', op: ['mknod', 'r', 0o644], want: 0, post: [[['stat', 'r', 'type'], 'reg']] },
  { name: 'mknod a socket node → 0', op: ['mknod', 's', S_IFSOCK | 0o644], want: 0, post: [[['stat', 's', 'type'], 'sock']] },
  { name: 'mknod S_IFDIR → EPERM', op: ['mknod', 'd', S_IFDIR | 0o755], want: 'EPERM' },
  { name: 'mknod S_IFLNK → EINVAL', op: ['mknod', 'l', S_IFLNK | 0o777], want: 'EINVAL' },
  { name: 'mknod a bad type → EINVAL', op: ['mknod', 'x', S_IFMT | 0o644], want: 'EINVAL' },
  { name: 'mknod over an existing name → EEXIST', setup: [wf('f', 'x')], op: ['mknod', 'f', S_IFIFO | 0o644], want: 'EEXIST' },
  { name: 'root mknod a char device → 0', op: ['mknod', 'null', S_IFCHR | 0o666, MKDEV(1, 3)], want: 0, post: [[['stat', 'null', 'rdev'], MKDEV(1, 3)]] },
  { name: 'user mknod a char device → EPERM', setup: [U], op: ['mknod', 'null', S_IFCHR | 0o666, MKDEV(1, 3)], want: 'EPERM' },
  { name: 'user mknod a fifo → 0', setup: [U], op: ['mknod', 'p', S_IFIFO | 0o644], want: 0 },
  { name: 'mknod "p/" with a trailing slash → ENOENT', op: ['mknod', 'p/', S_IFIFO | 0o644], want: 'ENOENT' },
];

const unlink: Case[] = [
  { name: 'unlink a file → 0', setup: [wf('f', 'x')], op: ['unlink', 'f'], want: 0, post: [[['stat', 'f', 'type'], 'ENOENT']] },
  { name: 'unlink a dir → EISDIR', setup: [['mkdir', 'd', 0o755]], op: ['unlink', 'd'], want: 'EISDIR' },
  { name: 'unlink "f/" on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['unlink', 'f/'], want: 'ENOTDIR' },
  { name: 'unlink a missing name → ENOENT', op: ['unlink', 'missing'], want: 'ENOENT' },
  { name: 'unlink a symlink removes only the link', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['unlink', 'l'], want: 0, post: [[['readfile', 'f'], 'x']] },
  { name: 'unlink an open file: the fd still reads', setup: [wf('f', 'data'), ['open', 'f', O_RDONLY], ['unlink', 'f']], op: ['read', '$1', 10], want: 'data' },
  { name: 'unlink an open file: fstat nlink 0', setup: [wf('f', 'data'), ['open', 'f', O_RDONLY], ['unlink', 'f']], op: ['fstat', '$1', 'nlink'], want: 0 },
  { name: 'rmdir on a file (AT_REMOVEDIR) → ENOTDIR', setup: [wf('f', 'x')], op: ['rmdir', 'f'], want: 'ENOTDIR' },
  { name: 'rmdir a non-empty dir → ENOTEMPTY', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x')], op: ['rmdir', 'd'], want: 'ENOTEMPTY' },
  { name: 'rmdir an empty dir → 0', setup: [['mkdir', 'd', 0o755]], op: ['rmdir', 'd'], want: 0 },
  { name: 'rmdir "d/" with a trailing slash → 0', setup: [['mkdir', 'd', 0o755]], op: ['rmdir', 'd/'], want: 0 },
  { name: 'rmdir "." → EINVAL', op: ['rmdir', '.'], want: 'EINVAL' },
  { name: 'rmdir "d/." → EINVAL', setup: [['mkdir', 'd', 0o755]], op: ['rmdir', 'd/.'], want: 'EINVAL' },
  { name: 'rmdir ".." → ENOTEMPTY', op: ['rmdir', '..'], want: 'ENOTEMPTY' },
  { name: 'rmdir "/" → EBUSY', op: ['rmdir', '/'], want: 'EBUSY' },
  { name: 'rmdir a symlink to a dir → ENOTDIR', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l']], op: ['rmdir', 'l'], want: 'ENOTDIR' },
  { name: 'rmdir a missing dir → ENOENT', op: ['rmdir', 'missing'], want: 'ENOENT' },
  { name: 'unlinkat with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['unlinkat', AT_FDCWD, 'f', 0x1], want: 'EINVAL' },
  { name: 'unlinkat relative to a dir fd', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x'), ['open', 'd', O_RDONLY | O_DIRECTORY]], op: ['unlinkat', '$2', 'f', 0], want: 0 },
  { name: 'user unlink in a dir without write permission → EACCES', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x', 0o666), U], op: ['unlink', 'd/f'], want: 'EACCES' },
  { name: 'sticky dir: user unlinks a root file → EPERM', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], wf('s/f', 'x', 0o666), U], op: ['unlink', 's/f'], want: 'EPERM' },
  { name: 'sticky dir: user unlinks own file → 0', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], U, wf('s/f', 'x')], op: ['unlink', 's/f'], want: 0 },
  { name: 'sticky dir owned by user: user unlinks a root file → 0', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], ['chown', 's', 1000, 1000], wf('s/f', 'x', 0o644), U], op: ['unlink', 's/f'], want: 0 },
];

const rename: Case[] = [
  { name: 'rename a file → 0, old name gone', setup: [wf('a', 'x')], op: ['rename', 'a', 'b'], want: 0, post: [[['stat', 'a', 'type'], 'ENOENT'], [['readfile', 'b'], 'x']] },
  { name: 'rename over an existing file replaces it', setup: [wf('a', 'new'), wf('b', 'old')], op: ['rename', 'a', 'b'], want: 0, post: [[['readfile', 'b'], 'new']] },
  { name: 'rename dir over a non-empty dir → ENOTEMPTY', setup: [['mkdir', 'a', 0o755], ['mkdir', 'b', 0o755], wf('b/f', 'x')], op: ['rename', 'a', 'b'], want: 'ENOTEMPTY' },
  { name: 'rename dir over an empty dir → 0', setup: [['mkdir', 'a', 0o755], ['mkdir', 'b', 0o755], wf('a/f', 'x')], op: ['rename', 'a', 'b'], want: 0, post: [[['readfile', 'b/f'], 'x']] },
  { name: 'rename file over a dir → EISDIR', setup: [wf('f', 'x'), ['mkdir', 'd', 0o755]], op: ['rename', 'f', 'd'], want: 'EISDIR' },
  { name: 'rename dir over a file → ENOTDIR', setup: [wf('f', 'x'), ['mkdir', 'd', 0o755]], op: ['rename', 'd', 'f'], want: 'ENOTDIR' },
  { name: 'rename a dir into its own subdir → EINVAL', setup: [['mkdir', 'd', 0o755], ['mkdir', 'd/s', 0o755]], op: ['rename', 'd', 'd/s/x'], want: 'EINVAL' },
  { name: 'rename a dir onto itself → 0', setup: [['mkdir', 'd', 0o755]], op: ['rename', 'd', 'd'], want: 0 },
  { name: 'rename a missing name → ENOENT', op: ['rename', 'missing', 'x'], want: 'ENOENT' },
  { name: 'rename into a missing dir → ENOENT', setup: [wf('f', 'x')], op: ['rename', 'f', 'nodir/f'], want: 'ENOENT' },
  { name: 'rename under a file → ENOTDIR', setup: [wf('f', 'x'), wf('g', 'y')], op: ['rename', 'f', 'g/x'], want: 'ENOTDIR' },
  { name: 'rename a file to "g/" → ENOTDIR', setup: [wf('f', 'x')], op: ['rename', 'f', 'g/'], want: 'ENOTDIR' },
  { name: 'rename "f/" on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['rename', 'f/', 'g'], want: 'ENOTDIR' },
  { name: 'rename "d/" to "e/" for a dir → 0', setup: [['mkdir', 'd', 0o755]], op: ['rename', 'd/', 'e/'], want: 0 },
  { name: 'rename "." → EBUSY', setup: [['mkdir', 'd', 0o755]], op: ['rename', 'd/.', 'x'], want: 'EBUSY' },
  { name: 'rename onto "." → EBUSY', setup: [wf('f', 'x')], op: ['rename', 'f', '.'], want: 'EBUSY' },
  { name: 'rename onto "." with RENAME_NOREPLACE → EEXIST', setup: [wf('f', 'x')], op: ['rename', 'f', '.', RENAME_NOREPLACE], want: 'EEXIST' },
  { name: 'rename hard links of one inode → 0, both remain', setup: [wf('a', 'x'), ['link', 'a', 'b']], op: ['rename', 'a', 'b'], want: 0, post: [[['stat', 'a', 'nlink'], 2], [['stat', 'b', 'nlink'], 2]] },
  { name: 'rename over a symlink replaces the link, not its target', setup: [wf('f', 'new'), wf('t', 'old'), ['symlink', 't', 'l']], op: ['rename', 'f', 'l'], want: 0, post: [[['readfile', 't'], 'old'], [['stat', 'l', 'type', AT_SYMLINK_NOFOLLOW], 'reg']] },
  { name: 'RENAME_NOREPLACE over an existing name → EEXIST', setup: [wf('a', 'x'), wf('b', 'y')], op: ['rename', 'a', 'b', RENAME_NOREPLACE], want: 'EEXIST' },
  { name: 'RENAME_NOREPLACE to a new name → 0', setup: [wf('a', 'x')], op: ['rename', 'a', 'b', RENAME_NOREPLACE], want: 0 },
  { name: 'RENAME_EXCHANGE with a missing target → ENOENT', setup: [wf('a', 'x')], op: ['rename', 'a', 'b', RENAME_EXCHANGE], want: 'ENOENT' },
  { name: 'RENAME_EXCHANGE swaps two files', setup: [wf('a', 'one'), wf('b', 'two')], op: ['rename', 'a', 'b', RENAME_EXCHANGE], want: 0, post: [[['readfile', 'a'], 'two'], [['readfile', 'b'], 'one']] },
  { name: 'RENAME_EXCHANGE a file and a dir', setup: [wf('a', 'x'), ['mkdir', 'b', 0o755]], op: ['rename', 'a', 'b', RENAME_EXCHANGE], want: 0, post: [[['stat', 'a', 'type'], 'dir']] },
  { name: 'RENAME_EXCHANGE|RENAME_NOREPLACE → EINVAL', setup: [wf('a', 'x'), wf('b', 'y')], op: ['rename', 'a', 'b', RENAME_EXCHANGE | RENAME_NOREPLACE], want: 'EINVAL' },
  { name: 'renameat2 with an unknown flag → EINVAL', setup: [wf('a', 'x')], op: ['rename', 'a', 'b', 0x10], want: 'EINVAL' },
  { name: 'sticky dir: user renames a root file → EPERM', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], wf('s/f', 'x', 0o666), U], op: ['rename', 's/f', 's/g'], want: 'EPERM' },
  { name: 'user rename out of a read-only dir → EACCES', setup: [['mkdir', 'd', 0o755], wf('d/f', 'x', 0o666), U], op: ['rename', 'd/f', 'g'], want: 'EACCES' },
  { name: 'rename a dir moves ".." (parent nlink)', setup: [['mkdir', 'a', 0o755], ['mkdir', 'b', 0o755], ['mkdir', 'a/s', 0o755], ['rename', 'a/s', 'b/s']], op: ['stat', 'a', 'nlink'], want: 2, post: [[['stat', 'b', 'nlink'], 3]] },
];

const link: Case[] = [
  { name: 'link a file → 0, nlink 2', setup: [wf('f', 'x')], op: ['link', 'f', 'g'], want: 0, post: [[['stat', 'f', 'nlink'], 2]] },
  { name: 'link a dir → EPERM', setup: [['mkdir', 'd', 0o755]], op: ['link', 'd', 'e'], want: 'EPERM' },
  { name: 'link to an existing name → EEXIST', setup: [wf('f', 'x'), wf('g', 'y')], op: ['link', 'f', 'g'], want: 'EEXIST' },
  { name: 'link a missing file → ENOENT', op: ['link', 'missing', 'g'], want: 'ENOENT' },
  { name: 'link to "g/" → ENOENT', setup: [wf('f', 'x')], op: ['link', 'f', 'g/'], want: 'ENOENT' },
  { name: 'link "f/" on a file → ENOTDIR', setup: [wf('f', 'x')], op: ['link', 'f/', 'g'], want: 'ENOTDIR' },
  { name: 'link a symlink without AT_SYMLINK_FOLLOW links the symlink', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['link', 'l', 'g'], want: 0, post: [[['stat', 'g', 'type', AT_SYMLINK_NOFOLLOW], 'lnk']] },
  { name: 'link a symlink with AT_SYMLINK_FOLLOW links the target', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['link', 'l', 'g', AT_SYMLINK_FOLLOW], want: 0, post: [[['stat', 'g', 'type', AT_SYMLINK_NOFOLLOW], 'reg'], [['stat', 'f', 'nlink'], 2]] },
  { name: 'link a dangling symlink with AT_SYMLINK_FOLLOW → ENOENT', setup: [['symlink', 'nowhere', 'l']], op: ['link', 'l', 'g', AT_SYMLINK_FOLLOW], want: 'ENOENT' },
  { name: 'linkat with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['link', 'f', 'g', 0x1], want: 'EINVAL' },
  { name: 'link into a missing dir → ENOENT', setup: [wf('f', 'x')], op: ['link', 'f', 'nodir/g'], want: 'ENOENT' },
  { name: 'user link in a dir without write permission → EACCES', setup: [['mkdir', 'd', 0o755], U, wf('f', 'x')], op: ['link', 'f', 'd/g'], want: 'EACCES' },
];

const symlink: Case[] = [
  { name: 'symlink then readlink → the target', setup: [['symlink', 'some/where', 'l']], op: ['readlink', 'l', 100], want: 'some/where' },
  { name: 'symlink over an existing name → EEXIST', setup: [wf('f', 'x')], op: ['symlink', 'x', 'f'], want: 'EEXIST' },
  { name: 'symlink with an empty target → ENOENT', op: ['symlink', '', 'l'], want: 'ENOENT' },
  { name: 'symlink into a missing dir → ENOENT', op: ['symlink', 'x', 'nodir/l'], want: 'ENOENT' },
  { name: 'symlink "l/" with a trailing slash → ENOENT', op: ['symlink', 'x', 'l/'], want: 'ENOENT' },
  { name: 'symlink with a 4096-byte target → ENAMETOOLONG', op: ['symlink', 't'.repeat(4096), 'l'], want: 'ENAMETOOLONG' },
  { name: 'symlink with a 4095-byte target → 0', op: ['symlink', 't'.repeat(4095), 'l'], want: 0, post: [[['stat', 'l', 'size', AT_SYMLINK_NOFOLLOW], 4095]] },
  { name: 'readlink of a regular file → EINVAL', setup: [wf('f', 'x')], op: ['readlink', 'f', 100], want: 'EINVAL' },
  { name: 'readlink of a dir → EINVAL', setup: [['mkdir', 'd', 0o755]], op: ['readlink', 'd', 100], want: 'EINVAL' },
  { name: 'readlink truncates to the buffer size', setup: [['symlink', 'abcdef', 'l']], op: ['readlink', 'l', 3], want: 'abc' },
  { name: 'readlink with size 0 → EINVAL', setup: [['symlink', 'abcdef', 'l']], op: ['readlink', 'l', 0], want: 'EINVAL' },
  { name: 'readlink of a missing name → ENOENT', op: ['readlink', 'missing', 10], want: 'ENOENT' },
  { name: 'readlink "l/" follows the link → EINVAL', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l']], op: ['readlink', 'l/', 10], want: 'EINVAL' },
  { name: 'readlinkat with "" on an O_PATH|O_NOFOLLOW fd of a link', setup: [['symlink', 'target', 'l'], ['open', 'l', O_PATH | O_NOFOLLOW]], op: ['readlink', '', 100, '$1'], want: 'target' },
  { name: 'readlinkat with "" relative to the cwd → ENOENT', op: ['readlink', '', 100], want: 'ENOENT' },
  { name: 'readlinkat with "" on a regular file fd → ENOENT', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['readlink', '', 100, '$1'], want: 'ENOENT' },
];

const chmod: Case[] = [
  { name: 'chmod sets the permission bits', setup: [wf('f', 'x')], op: ['chmod', 'f', 0o600], want: 0, post: [[['stat', 'f', 'perm'], 0o600]] },
  { name: 'chmod keeps the file type', setup: [['mkdir', 'd', 0o755]], op: ['chmod', 'd', 0o700], want: 0, post: [[['stat', 'd', 'mode'], S_IFDIR | 0o700]] },
  { name: 'chmod a missing file → ENOENT', op: ['chmod', 'missing', 0o600], want: 'ENOENT' },
  { name: 'chmod follows a symlink', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['chmod', 'l', 0o600], want: 0, post: [[['stat', 'f', 'perm'], 0o600]] },
  { name: 'user chmod of a root file → EPERM', setup: [wf('f', 'x', 0o666), U], op: ['chmod', 'f', 0o777], want: 'EPERM' },
  { name: 'user chmod of own file → 0', setup: [U, wf('f', 'x')], op: ['chmod', 'f', 0o600], want: 0 },
  { name: 'user chmod setgid on own file of a foreign group drops setgid', setup: [wf('f', 'x'), ['chown', 'f', 1000, 0], U], op: ['chmod', 'f', 0o2755], want: 0, post: [[['stat', 'f', 'perm'], 0o755]] },
  { name: 'user chmod setgid on own file of own group keeps it', setup: [wf('f', 'x'), ['chown', 'f', 1000, 1000], U], op: ['chmod', 'f', 0o2755], want: 0, post: [[['stat', 'f', 'perm'], 0o2755]] },
  { name: 'root chmod setgid on a file of a foreign group keeps it', setup: [wf('f', 'x'), ['chown', 'f', 1000, 1000]], op: ['chmod', 'f', 0o2755], want: 0, post: [[['stat', 'f', 'perm'], 0o2755]] },
  { name: 'chmod ignores bits above 07777', setup: [wf('f', 'x')], op: ['chmod', 'f', 0o170644], want: 0, post: [[['stat', 'f', 'mode'], S_IFREG | 0o644]] },
  { name: 'fchmod on an fd', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fchmod', '$1', 0o640], want: 0, post: [[['stat', 'f', 'perm'], 0o640]] },
  { name: 'fchmod on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['fchmod', '$1', 0o640], want: 'EBADF' },
  { name: 'fchmod on a bad fd → EBADF', op: ['fchmod', 999, 0o640], want: 'EBADF' },
];

const chown: Case[] = [
  { name: 'chown -1 -1 changes nothing', setup: [wf('f', 'x'), ['chown', 'f', 1000, 1000]], op: ['chown', 'f', -1, -1], want: 0, post: [[['stat', 'f', 'uid'], 1000]] },
  { name: 'chown uid -1 keeps the owner, sets the group', setup: [wf('f', 'x'), ['chown', 'f', 1000, 1000]], op: ['chown', 'f', -1, 2000], want: 0, post: [[['stat', 'f', 'uid'], 1000], [['stat', 'f', 'gid'], 2000]] },
  { name: 'chown clears setuid (even by root)', setup: [wf('f', 'x'), ['chmod', 'f', 0o4755]], op: ['chown', 'f', 1000, 1000], want: 0, post: [[['stat', 'f', 'perm'], 0o755]] },
  { name: 'chown clears setgid when group-executable', setup: [wf('f', 'x'), ['chmod', 'f', 0o6755]], op: ['chown', 'f', 1000, 1000], want: 0, post: [[['stat', 'f', 'perm'], 0o755]] },
  { name: 'chown keeps setgid without group-exec', setup: [wf('f', 'x'), ['chmod', 'f', 0o2745]], op: ['chown', 'f', 1000, 1000], want: 0, post: [[['stat', 'f', 'perm'], 0o2745]] },
  { name: 'chown of a dir keeps setgid', setup: [['mkdir', 'd', 0o755], ['chmod', 'd', 0o2755]], op: ['chown', 'd', 1000, 1000], want: 0, post: [[['stat', 'd', 'perm'], 0o2755]] },
  { name: 'chown a missing file → ENOENT', op: ['chown', 'missing', 0, 0], want: 'ENOENT' },
  { name: 'user chown own file to another uid → EPERM', setup: [U, wf('f', 'x')], op: ['chown', 'f', 2000, -1], want: 'EPERM' },
  { name: 'user chown own file to a foreign group → EPERM', setup: [U, wf('f', 'x')], op: ['chown', 'f', -1, 2000], want: 'EPERM' },
  { name: 'user chown own file to own ids → 0', setup: [U, wf('f', 'x')], op: ['chown', 'f', 1000, 1000], want: 0 },
  { name: 'user chown of a root file → EPERM', setup: [wf('f', 'x'), U], op: ['chown', 'f', 1000, -1], want: 'EPERM' },
  { name: 'chown AT_SYMLINK_NOFOLLOW changes the link itself', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['chown', 'l', 1000, 1000, AT_SYMLINK_NOFOLLOW], want: 0, post: [[['stat', 'l', 'uid', AT_SYMLINK_NOFOLLOW], 1000], [['stat', 'f', 'uid'], 0]] },
  { name: 'chown follows a symlink by default', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['chown', 'l', 1000, 1000], want: 0, post: [[['stat', 'f', 'uid'], 1000]] },
  { name: 'fchownat with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['chown', 'f', 0, 0, 0x1], want: 'EINVAL' },
  { name: 'fchown on an fd', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fchown', '$1', 1000, 1000], want: 0, post: [[['stat', 'f', 'gid'], 1000]] },
  { name: 'fchown on a bad fd → EBADF', op: ['fchown', 999, 0, 0], want: 'EBADF' },
];

const utimens: Case[] = [
  { name: 'utimensat sets explicit times', setup: [wf('f', 'x')], op: ['utimens', 'f', [1000, 5], [2000, 7]], want: 0, post: [[['stat', 'f', 'atime'], 1000], [['stat', 'f', 'mtime'], 2000], [['stat', 'f', 'mtime_nsec'], 7]] },
  { name: 'utimensat UTIME_OMIT keeps mtime', setup: [wf('f', 'x'), ['utimens', 'f', [1000, 0], [2000, 0]]], op: ['utimens', 'f', [3000, 0], 'OMIT'], want: 0, post: [[['stat', 'f', 'mtime'], 2000], [['stat', 'f', 'atime'], 3000]] },
  { name: 'utimensat UTIME_NOW sets mtime to now', setup: [wf('f', 'x'), ['utimens', 'f', [1000, 0], [2000, 0]]], op: ['utimens', 'f', 'OMIT', 'NOW'], want: 0, post: [[['stat', 'f', 'mtime'], { gt: 1_000_000_000 }], [['stat', 'f', 'atime'], 1000]] },
  { name: 'utimensat NULL times sets both to now', setup: [wf('f', 'x'), ['utimens', 'f', [1000, 0], [2000, 0]]], op: ['utimens', 'f', null, null], want: 0, post: [[['stat', 'f', 'atime'], { gt: 1_000_000_000 }]] },
  { name: 'utimensat both UTIME_OMIT on a missing path → 0 (the path is never looked at)', setup: [], op: ['utimens', 'nope/x', 'OMIT', 'OMIT'], want: 0 },
  { name: 'utimensat both UTIME_OMIT → 0, nothing changes', setup: [wf('f', 'x'), ['utimens', 'f', [1000, 0], [2000, 0]]], op: ['utimens', 'f', 'OMIT', 'OMIT'], want: 0, post: [[['stat', 'f', 'mtime'], 2000]] },
  { name: 'utimensat nsec 1e9 → EINVAL', setup: [wf('f', 'x')], op: ['utimens', 'f', [1000, 1_000_000_000], [1000, 0]], want: 'EINVAL' },
  { name: 'utimensat negative nsec → EINVAL', setup: [wf('f', 'x')], op: ['utimens', 'f', [1000, 0], [1000, -1]], want: 'EINVAL' },
  { name: 'utimensat on a missing file → ENOENT', op: ['utimens', 'missing', [1, 0], [1, 0]], want: 'ENOENT' },
  { name: 'utimensat with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['utimens', 'f', [1, 0], [1, 0], 0x1], want: 'EINVAL' },
  { name: 'utimensat AT_SYMLINK_NOFOLLOW sets the link times', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['utimens', 'l', [1000, 0], [2000, 0], AT_SYMLINK_NOFOLLOW], want: 0, post: [[['stat', 'l', 'mtime', AT_SYMLINK_NOFOLLOW], 2000], [['stat', 'f', 'mtime'], { ne: 2000 }]] },
  { name: 'futimens on an fd', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['futimens', '$1', [1000, 0], [2000, 0]], want: 0, post: [[['stat', 'f', 'mtime'], 2000]] },
  { name: 'user UTIME_NOW on a writable root file → 0', setup: [wf('f', 'x', 0o666), U], op: ['utimens', 'f', null, null], want: 0 },
  { name: 'user UTIME_NOW on a read-only root file → EACCES', setup: [wf('f', 'x', 0o644), U], op: ['utimens', 'f', null, null], want: 'EACCES' },
  { name: 'user explicit times on a writable root file → EPERM', setup: [wf('f', 'x', 0o666), U], op: ['utimens', 'f', [1, 0], [1, 0]], want: 'EPERM' },
  { name: 'user explicit times on own file → 0', setup: [U, wf('f', 'x')], op: ['utimens', 'f', [1, 0], [1, 0]], want: 0 },
];

const truncate: Case[] = [
  { name: 'truncate extends with zeros', setup: [wf('f', 'ab'), ['truncate', 'f', 4]], op: ['readfile', 'f'], want: 'ab\0\0' },
  { name: 'truncate shrinks', setup: [wf('f', 'abcdef'), ['truncate', 'f', 2]], op: ['readfile', 'f'], want: 'ab' },
  { name: 'truncate to a negative length → EINVAL', setup: [wf('f', 'x')], op: ['truncate', 'f', -1], want: 'EINVAL' },
  { name: 'truncate a dir → EISDIR', setup: [['mkdir', 'd', 0o755]], op: ['truncate', 'd', 0], want: 'EISDIR' },
  { name: 'truncate a fifo → EINVAL', setup: [['mknod', 'p', S_IFIFO | 0o644]], op: ['truncate', 'p', 0], want: 'EINVAL' },
  { name: 'truncate a missing file → ENOENT', op: ['truncate', 'missing', 0], want: 'ENOENT' },
  { name: 'truncate follows a symlink', setup: [wf('f', 'abc'), ['symlink', 'f', 'l']], op: ['truncate', 'l', 1], want: 0, post: [[['stat', 'f', 'size'], 1]] },
  { name: 'user truncate of a read-only root file → EACCES', setup: [wf('f', 'abc', 0o644), U], op: ['truncate', 'f', 0], want: 'EACCES' },
  { name: 'ftruncate on an O_RDONLY fd → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_RDONLY]], op: ['ftruncate', '$1', 0], want: 'EINVAL' },
  { name: 'ftruncate to a negative length → EINVAL', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY]], op: ['ftruncate', '$1', -1], want: 'EINVAL' },
  { name: 'ftruncate on a bad fd → EBADF', op: ['ftruncate', 999, 0], want: 'EBADF' },
  { name: 'ftruncate on a dir fd → EINVAL', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY]], op: ['ftruncate', '$1', 0], want: 'EINVAL' },
  { name: 'ftruncate does not move the offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDWR], ['read', '$1', 2], ['ftruncate', '$1', 1]], op: ['lseek', '$1', 0, SEEK_CUR], want: 2 },
  { name: 'ftruncate on an O_PATH fd → EBADF', setup: [wf('f', 'abc'), ['open', 'f', O_PATH]], op: ['ftruncate', '$1', 0], want: 'EBADF' },
];

const fallocate: Case[] = [
  { name: 'fallocate mode 0 extends the size', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', 0, 0, 8192], want: 0, post: [[['stat', 'f', 'size'], 8192]] },
  { name: 'fallocate KEEP_SIZE keeps the size', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', FALLOC_FL_KEEP_SIZE, 0, 8192], want: 0, post: [[['stat', 'f', 'size'], 0]] },
  { name: 'fallocate PUNCH_HOLE without KEEP_SIZE → EOPNOTSUPP', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', FALLOC_FL_PUNCH_HOLE, 0, 4096], want: 'EOPNOTSUPP' },
  { name: 'fallocate PUNCH_HOLE|KEEP_SIZE zeroes the range', setup: [wf('f', 'x'.repeat(8192)), ['open', 'f', O_RDWR]], op: ['fallocate', '$1', FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096], want: 0, post: [[['pread', '$1', 2, 4094], '\0\0'], [['pread', '$1', 1, 4096], 'x'], [['stat', 'f', 'size'], 8192]] },
  { name: 'fallocate with length 0 → EINVAL', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', 0, 0, 0], want: 'EINVAL' },
  { name: 'fallocate with a negative offset → EINVAL', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', 0, -1, 10], want: 'EINVAL' },
  { name: 'fallocate on an O_RDONLY fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fallocate', '$1', 0, 0, 10], want: 'EBADF' },
  { name: 'fallocate on a dir fd → EBADF', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY]], op: ['fallocate', '$1', 0, 0, 10], want: 'EBADF' },
  { name: 'fallocate with an unknown mode bit → EOPNOTSUPP', setup: [['open', 'f', O_RDWR | O_CREAT, 0o644]], op: ['fallocate', '$0', 0x100, 0, 10], want: 'EOPNOTSUPP' },
  { name: 'fallocate on a pipe → ESPIPE', setup: [['pipe']], op: ['fallocate', '$0.1', 0, 0, 10], want: 'ESPIPE', pendingOn: PIPE },
];

const access: Case[] = [
  { name: 'access F_OK on an existing file → 0', setup: [wf('f', 'x')], op: ['access', 'f', F_OK], want: 0 },
  { name: 'access of a missing file → ENOENT', op: ['access', 'missing', F_OK], want: 'ENOENT' },
  { name: 'access with a bad mode → EINVAL', setup: [wf('f', 'x')], op: ['access', 'f', 8], want: 'EINVAL' },
  { name: 'access through a file → ENOTDIR', setup: [wf('f', 'x')], op: ['access', 'f/x', F_OK], want: 'ENOTDIR' },
  { name: 'root: R_OK|W_OK on a mode-0000 file → 0', setup: [wf('f', 'x', 0o000)], op: ['access', 'f', R_OK | W_OK], want: 0 },
  { name: 'root: X_OK on a non-executable file → EACCES', setup: [wf('f', 'x', 0o644)], op: ['access', 'f', X_OK], want: 'EACCES' },
  { name: 'root: X_OK on a file executable by anyone → 0', setup: [wf('f', 'x', 0o001)], op: ['access', 'f', X_OK], want: 0 },
  { name: 'root: X_OK on a mode-0000 dir → 0', setup: [['mkdir', 'd', 0o000]], op: ['access', 'd', X_OK], want: 0 },
  { name: 'user: R_OK on a root 0600 file → EACCES', setup: [wf('f', 'x', 0o600), U], op: ['access', 'f', R_OK], want: 'EACCES' },
  { name: 'user: W_OK on a root 0644 file → EACCES', setup: [wf('f', 'x', 0o644), U], op: ['access', 'f', W_OK], want: 'EACCES' },
  { name: 'user: R_OK on a root 0644 file → 0', setup: [wf('f', 'x', 0o644), U], op: ['access', 'f', R_OK], want: 0 },
  { name: 'user: F_OK below a dir without search permission → EACCES', setup: [['mkdir', 'd', 0o700], wf('d/f', 'x'), U], op: ['access', 'd/f', F_OK], want: 'EACCES' },
  { name: 'user: owner bits apply even when others are wider', setup: [U, wf('f', 'x', 0o644), ['chmod', 'f', 0o066]], op: ['access', 'f', R_OK], want: 'EACCES' },
  { name: 'faccessat2 with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['access2', 'f', F_OK, 0x1], want: 'EINVAL' },
  { name: 'faccessat2 AT_SYMLINK_NOFOLLOW on a dangling link → 0', setup: [['symlink', 'nowhere', 'l']], op: ['access2', 'l', F_OK, AT_SYMLINK_NOFOLLOW], want: 0 },
  { name: 'faccessat2 following a dangling link → ENOENT', setup: [['symlink', 'nowhere', 'l']], op: ['access2', 'l', F_OK, 0], want: 'ENOENT' },
  { name: 'faccessat2 AT_EACCESS as user → EACCES', setup: [wf('f', 'x', 0o600), U], op: ['access2', 'f', R_OK, AT_EACCESS], want: 'EACCES' },
  { name: 'faccessat2 AT_EMPTY_PATH on an fd', setup: [wf('f', 'x', 0o644), ['open', 'f', O_RDONLY]], op: ['access2', '', R_OK, AT_EMPTY_PATH, '$1'], want: 0 },
];

const dup: Case[] = [
  { name: 'dup returns a new fd', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup', '$1'], want: 'nonneg', post: [[['same', '$op', '$1'], 0]] },
  { name: 'dup of a bad fd → EBADF', op: ['dup', 999], want: 'EBADF' },
  { name: 'dup shares the file offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['dup', '$1'], ['read', '$2', 2]], op: ['read', '$1', 2], want: 'cd' },
  { name: 'dup clears FD_CLOEXEC on the copy', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY | O_CLOEXEC], ['dup', '$1']], op: ['fcntl', '$2', F_GETFD], want: 0 },
  { name: 'dup3 with oldfd == newfd → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup3', '$1', '$1', 0], want: 'EINVAL' },
  { name: 'dup3 with a bad flag → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup3', '$1', 100, 0x1], want: 'EINVAL' },
  { name: 'dup3 of a bad fd → EBADF', op: ['dup3', 999, 100, 0], want: 'EBADF' },
  { name: 'dup3 to a huge fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup3', '$1', 0x7fffffff, 0], want: 'EBADF' },
  { name: 'dup3 to fd 100 returns 100', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup3', '$1', 100, 0], want: 100 },
  { name: 'dup3 O_CLOEXEC sets FD_CLOEXEC', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['dup3', '$1', 100, O_CLOEXEC]], op: ['fcntl', 100, F_GETFD], want: 1 },
  { name: 'dup3 over an open fd closes it silently', setup: [wf('f', 'abc'), wf('g', 'xyz'), ['open', 'f', O_RDONLY], ['open', 'g', O_RDONLY], ['dup3', '$2', '$3', 0]], op: ['read', '$3', 3], want: 'abc' },
  { name: 'dup2 with oldfd == newfd returns the fd', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['dup2', '$1', '$1'], want: 'nonneg', post: [[['same', '$op', '$1'], 1]] },
  { name: 'dup2 of a bad fd onto itself → EBADF', op: ['dup2', 999, 999], want: 'EBADF' },
];

const fcntl: Case[] = [
  { name: 'F_GETFL of O_RDWR includes O_LARGEFILE', setup: [wf('f', 'x'), ['open', 'f', O_RDWR]], op: ['fcntl', '$1', F_GETFL], want: O_RDWR | O_LARGEFILE },
  { name: 'F_GETFL of O_WRONLY|O_APPEND', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY | O_APPEND]], op: ['fcntl', '$1', F_GETFL], want: O_WRONLY | O_APPEND | O_LARGEFILE },
  { name: 'F_GETFL hides O_CREAT|O_EXCL|O_TRUNC', op: ['fcntl', '$0', F_GETFL], setup: [['open', 'f', O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o644]], want: O_WRONLY | O_LARGEFILE },
  { name: 'F_GETFL hides O_CLOEXEC', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY | O_CLOEXEC]], op: ['fcntl', '$1', F_GETFL], want: O_LARGEFILE },
  { name: 'F_GETFL of an O_PATH fd', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['fcntl', '$1', F_GETFL], want: O_PATH },
  { name: 'F_GETFL of a directory fd keeps O_DIRECTORY', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY]], op: ['fcntl', '$1', F_GETFL], want: O_DIRECTORY | O_LARGEFILE },
  { name: 'F_SETFL ignores the access mode bits', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['fcntl', '$1', F_SETFL, O_RDWR | O_APPEND]], op: ['fcntl', '$1', F_GETFL], want: O_RDONLY | O_APPEND | O_LARGEFILE },
  { name: 'F_SETFL sets O_NONBLOCK', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['fcntl', '$1', F_SETFL, O_NONBLOCK]], op: ['fcntl', '$1', F_GETFL], want: O_NONBLOCK | O_LARGEFILE },
  { name: 'F_SETFL clears O_APPEND', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY | O_APPEND], ['fcntl', '$1', F_SETFL, 0]], op: ['fcntl', '$1', F_GETFL], want: O_WRONLY | O_LARGEFILE },
  { name: 'F_SETFL on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['fcntl', '$1', F_SETFL, O_NONBLOCK], want: 'EBADF' },
  { name: 'F_GETFD is 0 by default', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fcntl', '$1', F_GETFD], want: 0 },
  { name: 'F_GETFD after O_CLOEXEC is FD_CLOEXEC', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY | O_CLOEXEC]], op: ['fcntl', '$1', F_GETFD], want: 1 },
  { name: 'F_SETFD keeps only FD_CLOEXEC', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['fcntl', '$1', F_SETFD, 3]], op: ['fcntl', '$1', F_GETFD], want: 1 },
  { name: 'F_DUPFD returns the lowest fd >= min', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fcntl', '$1', F_DUPFD, 100], want: 100 },
  { name: 'F_DUPFD skips taken fds', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['fcntl', '$1', F_DUPFD, 100]], op: ['fcntl', '$1', F_DUPFD, 100], want: 101 },
  { name: 'F_DUPFD_CLOEXEC sets FD_CLOEXEC', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['fcntl', '$1', F_DUPFD_CLOEXEC, 100]], op: ['fcntl', 100, F_GETFD], want: 1 },
  { name: 'F_DUPFD with min beyond RLIMIT_NOFILE → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fcntl', '$1', F_DUPFD, 1 << 30], want: 'EINVAL' },
  { name: 'F_DUPFD with a negative min → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fcntl', '$1', F_DUPFD, -1], want: 'EINVAL' },
  { name: 'fcntl with an unknown command → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fcntl', '$1', 9999], want: 'EINVAL' },
  { name: 'fcntl on a bad fd → EBADF', op: ['fcntl', 999, F_GETFD], want: 'EBADF' },
];

const cwd: Case[] = [
  { name: 'getcwd is the scratch root', op: ['getcwd', 4096], want: '~' },
  { name: 'chdir then getcwd', setup: [['mkdir', 'd', 0o755], ['chdir', 'd']], op: ['getcwd', 4096], want: '~/d' },
  { name: 'chdir ".." then getcwd', setup: [['mkdir', 'd', 0o755], ['chdir', 'd'], ['chdir', '..']], op: ['getcwd', 4096], want: '~' },
  { name: 'chdir through a symlink: getcwd shows the real dir', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l'], ['chdir', 'l']], op: ['getcwd', 4096], want: '~/d' },
  { name: 'chdir to a file → ENOTDIR', setup: [wf('f', 'x')], op: ['chdir', 'f'], want: 'ENOTDIR' },
  { name: 'chdir to a missing dir → ENOENT', op: ['chdir', 'missing'], want: 'ENOENT' },
  { name: 'user chdir into a 0700 root dir → EACCES', setup: [['mkdir', 'd', 0o700], U], op: ['chdir', 'd'], want: 'EACCES' },
  { name: 'fchdir to a dir fd', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY], ['fchdir', '$1']], op: ['getcwd', 4096], want: '~/d' },
  { name: 'fchdir to a file fd → ENOTDIR', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fchdir', '$1'], want: 'ENOTDIR' },
  { name: 'fchdir on a bad fd → EBADF', op: ['fchdir', 999], want: 'EBADF' },
  { name: 'getcwd with a 1-byte buffer → ERANGE', op: ['getcwd', 1], want: 'ERANGE' },
  { name: 'getcwd with size 0 → ERANGE', op: ['getcwd', 0], want: 'ERANGE' },
  { name: 'getcwd after rmdir of the cwd → ENOENT', setup: [['mkdir', 'd', 0o755], ['chdir', 'd'], ['rmdir', '../d']], op: ['getcwd', 4096], want: 'ENOENT' },
  { name: 'creating in a removed cwd → ENOENT', setup: [['mkdir', 'd', 0o755], ['chdir', 'd'], ['rmdir', '../d']], op: ['open', 'f', CREAT, 0o644], want: 'ENOENT' },
];

const umask: Case[] = [
  { name: 'umask returns the previous mask', op: ['umask', 0o027], want: 0o022 },
  { name: 'umask returns what the last call set', setup: [['umask', 0o027]], op: ['umask', 0o022], want: 0o027 },
  { name: 'umask keeps only the 0777 bits', setup: [['umask', 0o7777]], op: ['umask', 0o022], want: 0o777 },
  { name: 'umask 0 lets mode bits through', setup: [['umask', 0], ['mkdir', 'd', 0o777]], op: ['stat', 'd', 'perm'], want: 0o777 },
];

const getdents: Case[] = [
  { name: 'getdents of an empty dir is . and ..', setup: [['mkdir', 'd', 0o755]], op: ['getdents', 'd'], want: '. ..' },
  { name: 'getdents lists every entry', setup: [['mkdir', 'd', 0o755], wf('d/a', 'x'), ['mkdir', 'd/b', 0o755], ['symlink', 'x', 'd/c'], ['mknod', 'd/p', S_IFIFO | 0o644]], op: ['getdents', 'd'], want: '. .. a b c p' },
  { name: 'getdents after unlink omits the name', setup: [['mkdir', 'd', 0o755], wf('d/a', 'x'), wf('d/b', 'x'), ['unlink', 'd/a']], op: ['getdents', 'd'], want: '. .. b' },
  { name: 'getdents after rename shows the new name', setup: [['mkdir', 'd', 0o755], wf('d/a', 'x'), ['rename', 'd/a', 'd/z']], op: ['getdents', 'd'], want: '. .. z' },
  { name: 'getdents of many entries', setup: [['mkdir', 'd', 0o755], ...Array.from({ length: 60 }, (_, i): Op => wf(`d/file${String(i).padStart(2, '0')}`, 'x'))], op: ['getdents', 'd'], want: ['.', '..', ...Array.from({ length: 60 }, (_, i) => `file${String(i).padStart(2, '0')}`)].sort().join(' ') },
  { name: 'getdents64 on a file fd → ENOTDIR', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['getdentsfd', '$1', 4096], want: 'ENOTDIR' },
  { name: 'getdents64 on a bad fd → EBADF', op: ['getdentsfd', 999, 4096], want: 'EBADF' },
  { name: 'getdents64 with a too-small buffer → EINVAL', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY]], op: ['getdentsfd', '$1', 10], want: 'EINVAL' },
  { name: 'getdents64 at the end returns 0', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY], ['getdentsfd', '$1', 4096]], op: ['getdentsfd', '$1', 4096], want: 0 },
  { name: 'getdents64 of a removed dir → ENOENT', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY], ['rmdir', 'd']], op: ['getdentsfd', '$1', 4096], want: 'ENOENT' },
];

const sync: Case[] = [
  { name: 'fsync a file fd → 0', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY]], op: ['fsync', '$1'], want: 0 },
  { name: 'fsync an O_RDONLY fd → 0', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['fsync', '$1'], want: 0 },
  { name: 'fsync a dir fd → 0', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY]], op: ['fsync', '$1'], want: 0 },
  { name: 'fdatasync a file fd → 0', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY]], op: ['fdatasync', '$1'], want: 0 },
  { name: 'fsync a bad fd → EBADF', op: ['fsync', 999], want: 'EBADF' },
  { name: 'fsync an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['fsync', '$1'], want: 'EBADF' },
  { name: 'fsync a pipe → EINVAL', setup: [['pipe']], op: ['fsync', '$0.1'], want: 'EINVAL', pendingOn: PIPE },
  { name: 'sync → 0', op: ['sync'], want: 0 },
];

const ids: Case[] = [
  { name: 'getpid is a positive number', op: ['getpid'], want: { gt: 0 } },
  { name: 'gettid of a single-threaded process is its pid', setup: [['getpid']], op: ['gettid'], want: 'nonneg', post: [[['same', '$op', '$0'], 1]] },
  { name: 'getppid is non-negative', op: ['getppid'], want: 'nonneg' },
  { name: 'getuid of root is 0', op: ['getuid'], want: 0 },
  { name: 'after become: getuid and geteuid', setup: [U], op: ['getuid'], want: 1000, post: [[['geteuid'], 1000], [['getgid'], 1000]] },
  { name: 'uname sysname is Linux', op: ['uname'], want: 'Linux', pendingOn: INFO },
];

const xattr: Case[] = [
  { name: 'getxattr of a missing attribute → ENODATA', setup: [wf('f', 'x')], op: ['getxattr', 'f', 'user.none'], want: 'ENODATA', pendingOn: XATTR },
  { name: 'setxattr then getxattr', setup: [wf('f', 'x'), ['setxattr', 'f', 'user.k', 'val', 0]], op: ['getxattr', 'f', 'user.k'], want: 'val', pendingOn: XATTR },
  { name: 'setxattr XATTR_CREATE over an existing one → EEXIST', setup: [wf('f', 'x'), ['setxattr', 'f', 'user.k', 'a', 0]], op: ['setxattr', 'f', 'user.k', 'b', XATTR_CREATE], want: 'EEXIST', pendingOn: XATTR },
  { name: 'setxattr XATTR_REPLACE of a missing one → ENODATA', setup: [wf('f', 'x')], op: ['setxattr', 'f', 'user.k', 'b', XATTR_REPLACE], want: 'ENODATA', pendingOn: XATTR },
  { name: 'setxattr in an unknown namespace → EOPNOTSUPP', setup: [wf('f', 'x')], op: ['setxattr', 'f', 'bogus.k', 'b', 0], want: 'EOPNOTSUPP', pendingOn: XATTR },
  { name: 'removexattr of a missing one → ENODATA', setup: [wf('f', 'x')], op: ['removexattr', 'f', 'user.k'], want: 'ENODATA', pendingOn: XATTR },
  { name: 'getxattr with a too-small buffer → ERANGE', setup: [wf('f', 'x'), ['setxattr', 'f', 'user.k', 'value', 0]], op: ['getxattr', 'f', 'user.k', 2], want: 'ERANGE', pendingOn: XATTR },
  { name: 'listxattr lists user attributes', setup: [wf('f', 'x'), ['setxattr', 'f', 'user.b', '1', 0], ['setxattr', 'f', 'user.a', '2', 0]], op: ['listxattr', 'f'], want: 'user.a user.b', pendingOn: XATTR },
];

const locks: Case[] = [
  { name: 'flock LOCK_EX → 0', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['flock', '$1', LOCK_EX], want: 0, pendingOn: LOCKS },
  { name: 'flock conflicting LOCK_EX|LOCK_NB on another open → EAGAIN', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['open', 'f', O_RDONLY], ['flock', '$1', LOCK_SH]], op: ['flock', '$2', LOCK_EX | LOCK_NB], want: 'EAGAIN', pendingOn: LOCKS },
  { name: 'flock with a bad operation → EINVAL', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['flock', '$1', 0], want: 'EINVAL', pendingOn: LOCKS },
  { name: 'flock LOCK_UN without a lock → 0', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['flock', '$1', LOCK_UN], want: 0, pendingOn: LOCKS },
];

/** Path-walk corners, '.' and '..' as last components, symlink limits, trailing slashes. */
const paths: Case[] = [
  { name: 'open O_EXCL without O_CREAT on an existing file → fd', setup: [wf('f', 'x')], op: ['open', 'f', O_RDONLY | O_EXCL], want: 'nonneg' },
  { name: 'open O_CREAT|O_DIRECTORY of a new name → EINVAL', op: ['open', 'n', O_RDONLY | O_CREAT | O_DIRECTORY, 0o755], want: 'EINVAL' },
  { name: 'open O_CREAT|O_NOFOLLOW on a dangling symlink → ELOOP', setup: [['symlink', 'target', 'l']], op: ['open', 'l', CREAT | O_NOFOLLOW, 0o644], want: 'ELOOP' },
  { name: 'open O_CREAT of "." → EISDIR', op: ['open', '.', CREAT, 0o644], want: 'EISDIR' },
  { name: 'open O_CREAT below a dangling dir symlink → ENOENT', setup: [['symlink', 'nodir', 'l']], op: ['open', 'l/f', CREAT, 0o644], want: 'ENOENT' },
  { name: 'open "l/" where l links to a dir → fd', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l']], op: ['open', 'l/', O_RDONLY], want: 'nonneg' },
  { name: 'open "l/" where l links to a file → ENOTDIR', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['open', 'l/', O_RDONLY], want: 'ENOTDIR' },
  { name: 'open "d/.." resolves to the parent', setup: [['mkdir', 'd', 0o755], ['open', 'd/..', O_RDONLY | O_DIRECTORY]], op: ['fchdir', '$1'], want: 0, post: [[['getcwd', 4096], '~']] },
  { name: '"/.." is the root', setup: [['stat', '/', 'ino'], ['stat', '/..', 'ino']], op: ['same', '$0', '$1'], want: 1 },
  { name: 'a chain of 40 symlinks resolves', setup: [wf('f', 'x'), ['symlink', 'f', 's1'], ...Array.from({ length: 39 }, (_, i): Op => ['symlink', `s${i + 1}`, `s${i + 2}`])], op: ['readfile', 's40'], want: 'x' },
  { name: 'a chain of 41 symlinks → ELOOP', setup: [wf('f', 'x'), ['symlink', 'f', 's1'], ...Array.from({ length: 40 }, (_, i): Op => ['symlink', `s${i + 1}`, `s${i + 2}`])], op: ['open', 's41', O_RDONLY], want: 'ELOOP' },
  { name: 'unlink "." → EISDIR', op: ['unlink', '.'], want: 'EISDIR' },
  { name: 'unlink ".." → EISDIR', op: ['unlink', '..'], want: 'EISDIR' },
  { name: 'unlink "l/" where l links to a dir → ENOTDIR', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l']], op: ['unlink', 'l/'], want: 'ENOTDIR' },
  { name: 'rmdir "l/" where l links to a dir → ENOTDIR', setup: [['mkdir', 'd', 0o755], ['symlink', 'd', 'l']], op: ['rmdir', 'l/'], want: 'ENOTDIR' },
  { name: 'mkdir "l/" over a dangling symlink → EEXIST', setup: [['symlink', 'nowhere', 'l']], op: ['mkdir', 'l/', 0o755], want: 'EEXIST' },
  { name: 'link onto "." → EEXIST', setup: [wf('f', 'x')], op: ['link', 'f', '.'], want: 'EEXIST' },
  { name: 'symlink onto "." → EEXIST', op: ['symlink', 'x', '.'], want: 'EEXIST' },
  { name: 'mknod "." → EEXIST', op: ['mknod', '.', S_IFIFO | 0o644], want: 'EEXIST' },
  { name: 'rename a dir onto its own ancestor → ENOTEMPTY', setup: [['mkdir', 'a', 0o755], ['mkdir', 'a/b', 0o755]], op: ['rename', 'a/b', 'a'], want: 'ENOTEMPTY' },
  { name: 'RENAME_EXCHANGE a dir with its own subdir → EINVAL', setup: [['mkdir', 'a', 0o755], ['mkdir', 'a/b', 0o755]], op: ['rename', 'a', 'a/b', RENAME_EXCHANGE], want: 'EINVAL' },
  { name: 'rename a file onto itself → 0', setup: [wf('f', 'x')], op: ['rename', 'f', 'f'], want: 0, post: [[['readfile', 'f'], 'x']] },
  { name: 'hard links share the inode number', setup: [wf('f', 'x'), ['link', 'f', 'g'], ['stat', 'f', 'ino'], ['stat', 'g', 'ino']], op: ['same', '$2', '$3'], want: 1 },
  { name: 'linkat AT_EMPTY_PATH as root links an open file', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY]], op: ['linkat', '$1', '', 'g', AT_EMPTY_PATH], want: 0, post: [[['stat', 'f', 'nlink'], 2]] },
  { name: 'linkat AT_EMPTY_PATH gives an O_TMPFILE a name', setup: [['open', '.', O_TMPFILE | O_RDWR, 0o600], ['write', '$0', 'tmp']], op: ['linkat', '$0', '', 'named', AT_EMPTY_PATH], want: 0, post: [[['readfile', 'named'], 'tmp']] },
  { name: 'linkat AT_EMPTY_PATH of an unlinked file → ENOENT', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['unlink', 'f']], op: ['linkat', '$1', '', 'g', AT_EMPTY_PATH], want: 'ENOENT' },
  { name: 'fchmodat2 AT_SYMLINK_NOFOLLOW on a symlink → EOPNOTSUPP', setup: [wf('f', 'x'), ['symlink', 'f', 'l']], op: ['chmod2', 'l', 0o600, AT_SYMLINK_NOFOLLOW], want: 'EOPNOTSUPP' },
  { name: 'fchmodat2 AT_SYMLINK_NOFOLLOW on a file → 0', setup: [wf('f', 'x')], op: ['chmod2', 'f', 0o600, AT_SYMLINK_NOFOLLOW], want: 0, post: [[['stat', 'f', 'perm'], 0o600]] },
  { name: 'fchmodat2 with a bad flag → EINVAL', setup: [wf('f', 'x')], op: ['chmod2', 'f', 0o600, 0x1], want: 'EINVAL' },
  { name: 'chdir "" → ENOENT', op: ['chdir', ''], want: 'ENOENT' },
  { name: 'fchdir to an O_PATH dir fd', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_PATH | O_DIRECTORY], ['fchdir', '$1']], op: ['getcwd', 4096], want: '~/d' },
  { name: 'truncate to 1 TiB makes a sparse file', setup: [wf('f', 'x'), ['truncate', 'f', 2 ** 40]], op: ['stat', 'f', 'size'], want: 2 ** 40 },
];

/** Shared open file descriptions, offsets and append mode. */
const ofd: Case[] = [
  { name: 'F_SETFL through a dup is seen by the original', setup: [wf('f', 'x'), ['open', 'f', O_WRONLY], ['dup', '$1'], ['fcntl', '$2', F_SETFL, O_APPEND]], op: ['fcntl', '$1', F_GETFL], want: O_WRONLY | O_APPEND | O_LARGEFILE },
  { name: 'F_SETFD on a dup leaves the original alone', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['dup', '$1'], ['fcntl', '$2', F_SETFD, 1]], op: ['fcntl', '$1', F_GETFD], want: 0 },
  { name: 'two opens have separate offsets', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['open', 'f', O_RDONLY], ['read', '$1', 3]], op: ['read', '$2', 3], want: 'abc' },
  { name: 'O_APPEND write moves the offset to the end', setup: [wf('f', 'abc'), ['open', 'f', O_RDWR | O_APPEND], ['write', '$1', 'de']], op: ['lseek', '$1', 0, SEEK_CUR], want: 5 },
  { name: 'O_APPEND reads from the current offset', setup: [wf('f', 'abc'), ['open', 'f', O_RDWR | O_APPEND]], op: ['read', '$1', 2], want: 'ab' },
  { name: 'read on a closed fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_RDONLY], ['close', '$1']], op: ['read', '$1', 1], want: 'EBADF' },
  { name: 'lseek SEEK_CUR returns the new offset', setup: [wf('f', 'abcdef'), ['open', 'f', O_RDONLY], ['read', '$1', 2]], op: ['lseek', '$1', 3, SEEK_CUR], want: 5 },
  { name: 'lseek on a directory to 0 → 0', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY]], op: ['lseek', '$1', 0, SEEK_SET], want: 0 },
  { name: 'getdents again after rewinding with lseek', setup: [['mkdir', 'd', 0o755], ['open', 'd', O_RDONLY | O_DIRECTORY], ['getdentsfd', '$1', 4096], ['lseek', '$1', 0, SEEK_SET]], op: ['getdentsfd', '$1', 4096], want: { gt: 0 } },
  { name: 'ftruncate on an O_APPEND fd → 0', setup: [wf('f', 'abc'), ['open', 'f', O_WRONLY | O_APPEND]], op: ['ftruncate', '$1', 1], want: 0 },
  { name: 'write on an O_WRONLY fd after the file was chmod 0 → still writes', setup: [wf('f', ''), ['open', 'f', O_WRONLY], ['chmod', 'f', 0]], op: ['write', '$1', 'ok'], want: 2 },
  { name: 'fchown on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['fchown', '$1', 0, 0], want: 'EBADF' },
  { name: 'futimens on an O_PATH fd → EBADF', setup: [wf('f', 'x'), ['open', 'f', O_PATH]], op: ['futimens', '$1', [1, 0], [1, 0]], want: 'EBADF' },
];

/** Unprivileged users: DAC, sticky and setgid directories, privilege bits cleared on write. */
const users: Case[] = [
  { name: 'user: owner bits only — own 0200 file not readable', setup: [U, wf('f', 'x', 0o200)], op: ['open', 'f', O_RDONLY], want: 'EACCES' },
  { name: 'user: group bits grant read', setup: [wf('f', 'x', 0o640), ['chown', 'f', 0, 1000], U], op: ['readfile', 'f'], want: 'x' },
  { name: 'user: read-only dir can be listed', setup: [['mkdir', 'd', 0o744], wf('d/f', 'x'), U], op: ['getdents', 'd'], want: '. .. f' },
  { name: 'user: read-only dir cannot be searched', setup: [['mkdir', 'd', 0o744], wf('d/f', 'x'), U], op: ['stat', 'd/f', 'size'], want: 'EACCES' },
  { name: 'user: search-only dir cannot be listed', setup: [['mkdir', 'd', 0o711], U], op: ['getdents', 'd'], want: 'EACCES' },
  { name: 'user: search-only dir gives access to known names', setup: [['mkdir', 'd', 0o711], wf('d/f', 'x', 0o644), U], op: ['readfile', 'd/f'], want: 'x' },
  { name: 'user: X_OK on a 0755 root file → 0', setup: [wf('f', 'x', 0o755), U], op: ['access', 'f', X_OK], want: 0 },
  { name: 'user: O_CREAT|O_EXCL over a root file in a sticky dir → EEXIST', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], wf('s/f', 'x'), U], op: ['open', 's/f', CREAT | O_EXCL, 0o644], want: 'EEXIST' },
  { name: 'user: rmdir an empty root dir in a world-writable dir → 0', setup: [['mkdir', 'd', 0o755], U], op: ['rmdir', 'd'], want: 0 },
  { name: 'user: rmdir an empty root dir in a sticky dir → EPERM', setup: [['mkdir', 's', 0o777], ['chmod', 's', 0o1777], ['mkdir', 's/d', 0o755], U], op: ['rmdir', 's/d'], want: 'EPERM' },
  { name: 'user: moving a root dir to another parent needs write on it → EACCES', setup: [['mkdir', 'x', 0o755], ['mkdir', 'y', 0o777], ['chmod', 'y', 0o777], U], op: ['rename', 'x', 'y/x'], want: 'EACCES' },
  { name: 'user: renaming a root dir within one parent → 0', setup: [['mkdir', 'x', 0o755], U], op: ['rename', 'x', 'z'], want: 0 },
  { name: 'user: chown -1 -1 on a root file → 0', setup: [wf('f', 'x'), U], op: ['chown', 'f', -1, -1], want: 0 },
  { name: 'user: utimensat both UTIME_OMIT on a root file → 0', setup: [wf('f', 'x'), U], op: ['utimens', 'f', 'OMIT', 'OMIT'], want: 0 },
  { name: 'user: a file made in a foreign setgid dir takes its group', setup: [['mkdir', 'd', 0o777], ['chown', 'd', 0, 2000], ['chmod', 'd', 0o2777], U, wf('d/f', 'x')], op: ['stat', 'd/f', 'gid'], want: 2000 },
  { name: 'user: chmod g+s on that file is dropped', setup: [['mkdir', 'd', 0o777], ['chown', 'd', 0, 2000], ['chmod', 'd', 0o2777], U, wf('d/f', 'x'), ['chmod', 'd/f', 0o2755]], op: ['stat', 'd/f', 'perm'], want: 0o755 },
  { name: 'user: a dir made in a foreign setgid dir inherits setgid', setup: [['mkdir', 'd', 0o777], ['chown', 'd', 0, 2000], ['chmod', 'd', 0o2777], U, ['mkdir', 'd/s', 0o755]], op: ['stat', 'd/s', 'perm'], want: 0o2755 },
  { name: 'user: write to own setuid file clears setuid', setup: [U, wf('f', 'x', 0o4755), ['open', 'f', O_WRONLY], ['write', '$2', 'y']], op: ['stat', 'f', 'perm'], want: 0o755 },
  { name: 'user: write to own setgid group-exec file clears setgid', setup: [U, wf('f', 'x', 0o2755), ['open', 'f', O_WRONLY], ['write', '$2', 'y']], op: ['stat', 'f', 'perm'], want: 0o755 },
  { name: 'user: ftruncate of own setuid file clears setuid', setup: [U, wf('f', 'x', 0o4755), ['open', 'f', O_WRONLY], ['ftruncate', '$2', 0]], op: ['stat', 'f', 'perm'], want: 0o755 },
  { name: 'root: write to a setuid file keeps setuid', setup: [wf('f', 'x', 0o4755), ['open', 'f', O_WRONLY], ['write', '$1', 'y']], op: ['stat', 'f', 'perm'], want: 0o4755 },
  { name: 'user: getuid after become of uid only keeps the group', setup: [['become', 1000, 0]], op: ['getgid'], want: 0 },
];

const fifo: Case[] = [
  { name: 'fifo: open O_RDONLY|O_NONBLOCK without writers → fd', setup: [['mknod', 'p', S_IFIFO | 0o644]], op: ['open', 'p', O_RDONLY | O_NONBLOCK], want: 'nonneg', pendingOn: PIPE },
  { name: 'fifo: open O_WRONLY|O_NONBLOCK without readers → ENXIO', setup: [['mknod', 'p', S_IFIFO | 0o644]], op: ['open', 'p', O_WRONLY | O_NONBLOCK], want: 'ENXIO', pendingOn: PIPE },
  { name: 'fifo: open O_RDWR → fd, data passes through', setup: [['mknod', 'p', S_IFIFO | 0o644], ['open', 'p', O_RDWR], ['write', '$1', 'via']], op: ['read', '$1', 10], want: 'via', pendingOn: PIPE },
];

export const cases: Case[] = [
  ...open, ...close, ...rw, ...seek, ...stat, ...mkdir, ...mknod, ...unlink, ...rename, ...link,
  ...symlink, ...chmod, ...chown, ...utimens, ...truncate, ...fallocate, ...access, ...dup, ...fcntl,
  ...cwd, ...umask, ...getdents, ...sync, ...ids, ...xattr, ...locks, ...paths, ...ofd, ...users, ...fifo,
];
