#!/usr/bin/env python3
"""
Executor for the host Linux kernel: the same scenario language as run_lkl.ts (see dsl.ts),
executed with raw system calls through libc's syscall(), so glibc adds no behaviour of its own.

Input (stdin): JSON {"cases": [...]}. Output (stdout): JSON [{"name", "got"}, ...].
Every case runs in a forked child, in its own scratch directory (mode 0777) under a fresh
temporary directory in /tmp, with umask 022; a 'become' step drops the child to another uid/gid.
The child reports its result through a pipe; a child that hangs is killed after 5 seconds.

Only x86_64 is supported (syscall numbers, struct stat layout); elsewhere the output is
{"unsupported": "<why>"} and the test skips the host half.
"""
import ctypes
import errno
import json
import os
import platform
import shutil
import signal
import sys
import tempfile

NR = {
    'read': 0, 'write': 1, 'close': 3, 'fstat': 5, 'lseek': 8, 'pread64': 17, 'pwrite64': 18,
    'dup': 32, 'dup2': 33, 'getpid': 39, 'uname': 63, 'fcntl': 72, 'flock': 73, 'fsync': 74,
    'fdatasync': 75, 'truncate': 76, 'ftruncate': 77, 'getcwd': 79, 'chdir': 80, 'fchdir': 81,
    'fchmod': 91, 'fchown': 93, 'umask': 95, 'getuid': 102, 'getgid': 104, 'geteuid': 107,
    'getppid': 110, 'setgroups': 116, 'setresuid': 117, 'setresgid': 119, 'sync': 162,
    'gettid': 186, 'setxattr': 188, 'getxattr': 191, 'listxattr': 194, 'removexattr': 197,
    'getdents64': 217, 'openat': 257, 'mkdirat': 258, 'mknodat': 259, 'fchownat': 260,
    'newfstatat': 262, 'unlinkat': 263, 'linkat': 265, 'symlinkat': 266, 'readlinkat': 267,
    'fchmodat': 268, 'faccessat': 269, 'utimensat': 280, 'fallocate': 285, 'dup3': 292,
    'pipe2': 293, 'renameat2': 316, 'statx': 332, 'faccessat2': 439, 'fchmodat2': 452,
}
AT_FDCWD = -100
AT_REMOVEDIR = 0x200
O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_DIRECTORY, O_CLOEXEC = 0, 1, 0o100, 0o1000, 0o200000, 0o2000000
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
TYPES = {0o140000: 'sock', 0o120000: 'lnk', 0o100000: 'reg', 0o060000: 'blk', 0o040000: 'dir',
         0o020000: 'chr', 0o010000: 'fifo'}
ALIASES = {'ENOTSUP': 'EOPNOTSUPP', 'EWOULDBLOCK': 'EAGAIN', 'EDEADLOCK': 'EDEADLK'}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class CaseError(Exception):
    pass


def arg(x):
    """A syscall argument: ints as longs, str as a NUL-terminated byte path, None as NULL."""
    if x is None:
        return ctypes.c_void_p(0)
    if isinstance(x, int):
        return ctypes.c_long(x)
    if isinstance(x, str):
        return ctypes.c_char_p(x.encode('latin1'))
    return x  # a ctypes buffer


def sc(name, *args):
    """Raw syscall: result >= 0, or -errno."""
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[arg(a) for a in args])
    if r == -1:
        return -ctypes.get_errno()
    return r


def ename(e):
    n = errno.errorcode.get(e, 'E%d' % e)
    return ALIASES.get(n, n)


def bstr(b):
    return bytes(b).decode('latin1')


def cstr(raw, off=0):
    end = raw.find(b'\0', off)
    return raw[off:end if end >= 0 else len(raw)].decode('latin1')


def u32(raw, o): return int.from_bytes(raw[o:o + 4], 'little')
def u16(raw, o): return int.from_bytes(raw[o:o + 2], 'little')
def u64(raw, o): return int.from_bytes(raw[o:o + 8], 'little')
def i64(raw, o): return int.from_bytes(raw[o:o + 8], 'little', signed=True)


def stat_field(raw, field):
    """struct stat, x86_64 layout."""
    mode = u32(raw, 24)
    f = {
        'type': lambda: TYPES.get(mode & 0o170000, 'type%d' % (mode & 0o170000)),
        'perm': lambda: mode & 0o7777, 'mode': lambda: mode, 'ino': lambda: u64(raw, 8),
        'nlink': lambda: u64(raw, 16), 'uid': lambda: u32(raw, 28), 'gid': lambda: u32(raw, 32),
        'rdev': lambda: u64(raw, 40), 'size': lambda: i64(raw, 48), 'atime': lambda: i64(raw, 72),
        'atime_nsec': lambda: u64(raw, 80), 'mtime': lambda: i64(raw, 88), 'mtime_nsec': lambda: u64(raw, 96),
    }.get(field)
    if f is None:
        raise CaseError('unknown stat field ' + field)
    return f()


def statx_field(raw, field):
    mode = u16(raw, 28)
    f = {
        'basic': lambda: u32(raw, 0) & 0x7ff,
        'type': lambda: TYPES.get(mode & 0o170000, 'type%d' % (mode & 0o170000)),
        'perm': lambda: mode & 0o7777, 'nlink': lambda: u32(raw, 16), 'uid': lambda: u32(raw, 20),
        'size': lambda: u64(raw, 40),
    }.get(field)
    if f is None:
        raise CaseError('unknown statx field ' + field)
    return f()


def timespecs(a, m):
    if a is None and m is None:
        return None
    b = ctypes.create_string_buffer(32)
    out = b''
    for t in (a, m):
        if t == 'NOW':
            sec, nsec = 0, UTIME_NOW
        elif t == 'OMIT':
            sec, nsec = 0, UTIME_OMIT
        else:
            sec, nsec = t
        out += sec.to_bytes(8, 'little', signed=True) + nsec.to_bytes(8, 'little', signed=True)
    ctypes.memmove(b, out, 32)
    return b


def dirent_names(raw, n, out):
    off = 0
    while off < n:
        reclen = u16(raw, off + 16)
        out.append(cstr(raw, off + 19))
        off += reclen


def step(op, root):
    name, a = op[0], op[1:]

    def n(i, d=None):
        if i >= len(a) and d is not None:
            return d
        x = a[i]
        if not isinstance(x, int) or isinstance(x, bool):
            raise CaseError('%s: argument %d is not a number: %r' % (name, i, x))
        return x

    def p(i):
        return a[i]

    def r(x, ok=lambda v: v):
        return ename(-x) if x < 0 else ok(x)

    def buf(size):
        return ctypes.create_string_buffer(max(size, 1))

    if name == 'open':
        return r(sc('openat', AT_FDCWD, p(0), n(1), n(2, 0)))
    if name == 'openat':
        return r(sc('openat', n(0), p(1), n(2), n(3, 0)))
    if name == 'close':
        return r(sc('close', n(0)))
    if name in ('read', 'pread'):
        b = buf(n(1))
        x = sc('read', n(0), b, n(1)) if name == 'read' else sc('pread64', n(0), b, n(1), n(2))
        return r(x, lambda k: bstr(b.raw[:k]))
    if name == 'write':
        d = p(1).encode('latin1')
        return r(sc('write', n(0), ctypes.c_char_p(d), len(d)))
    if name == 'pwrite':
        d = p(1).encode('latin1')
        return r(sc('pwrite64', n(0), ctypes.c_char_p(d), len(d), n(2)))
    if name == 'lseek':
        return r(sc('lseek', n(0), n(1), n(2)))
    if name == 'stat':
        b = buf(144)
        return r(sc('newfstatat', AT_FDCWD, p(0), b, n(2, 0)), lambda _: stat_field(b.raw, p(1)))
    if name == 'statat':
        b = buf(144)
        return r(sc('newfstatat', n(0), p(1), b, n(3)), lambda _: stat_field(b.raw, p(2)))
    if name == 'fstat':
        b = buf(144)
        return r(sc('fstat', n(0), b), lambda _: stat_field(b.raw, p(1)))
    if name == 'statx':
        b = buf(256)
        return r(sc('statx', n(0), p(1), n(2), n(3), b), lambda _: statx_field(b.raw, p(4)))
    if name == 'mkdir':
        return r(sc('mkdirat', AT_FDCWD, p(0), n(1)))
    if name == 'mknod':
        return r(sc('mknodat', AT_FDCWD, p(0), n(1), n(2, 0)))
    if name == 'unlink':
        return r(sc('unlinkat', AT_FDCWD, p(0), 0))
    if name == 'rmdir':
        return r(sc('unlinkat', AT_FDCWD, p(0), AT_REMOVEDIR))
    if name == 'unlinkat':
        return r(sc('unlinkat', n(0), p(1), n(2)))
    if name == 'rename':
        return r(sc('renameat2', AT_FDCWD, p(0), AT_FDCWD, p(1), n(2, 0)))
    if name == 'link':
        return r(sc('linkat', AT_FDCWD, p(0), AT_FDCWD, p(1), n(2, 0)))
    if name == 'linkat':
        return r(sc('linkat', n(0), p(1), AT_FDCWD, p(2), n(3)))
    if name == 'chmod2':
        return r(sc('fchmodat2', AT_FDCWD, p(0), n(1), n(2)))
    if name == 'symlink':
        return r(sc('symlinkat', p(0), AT_FDCWD, p(1)))
    if name == 'readlink':
        b = buf(n(1))
        return r(sc('readlinkat', n(2, AT_FDCWD), p(0), b, n(1)), lambda k: bstr(b.raw[:k]))
    if name == 'chmod':
        return r(sc('fchmodat', AT_FDCWD, p(0), n(1)))
    if name == 'fchmod':
        return r(sc('fchmod', n(0), n(1)))
    if name == 'chown':
        return r(sc('fchownat', AT_FDCWD, p(0), n(1), n(2), n(3, 0)))
    if name == 'fchown':
        return r(sc('fchown', n(0), n(1), n(2)))
    if name == 'utimens':
        return r(sc('utimensat', AT_FDCWD, p(0), timespecs(a[1], a[2]), n(3, 0)))
    if name == 'futimens':
        return r(sc('utimensat', n(0), None, timespecs(a[1], a[2]), 0))
    if name == 'truncate':
        return r(sc('truncate', p(0), n(1)))
    if name == 'ftruncate':
        return r(sc('ftruncate', n(0), n(1)))
    if name == 'fallocate':
        return r(sc('fallocate', n(0), n(1), n(2), n(3)))
    if name == 'access':
        return r(sc('faccessat', AT_FDCWD, p(0), n(1)))
    if name == 'access2':
        return r(sc('faccessat2', n(3, AT_FDCWD), p(0), n(1), n(2)))
    if name == 'dup':
        return r(sc('dup', n(0)))
    if name == 'dup2':
        return r(sc('dup2', n(0), n(1)))
    if name == 'dup3':
        return r(sc('dup3', n(0), n(1), n(2)))
    if name == 'fcntl':
        return r(sc('fcntl', n(0), n(1), n(2, 0)))
    if name == 'chdir':
        return r(sc('chdir', p(0)))
    if name == 'fchdir':
        return r(sc('fchdir', n(0)))
    if name == 'getcwd':
        b = buf(n(0))
        x = sc('getcwd', b, n(0))

        def rel(_):
            cwd = cstr(b.raw)
            if cwd == root:
                return '~'
            return '~' + cwd[len(root):] if cwd.startswith(root + '/') else cwd
        return r(x, rel)
    if name == 'umask':
        return r(sc('umask', n(0)))
    if name == 'getdents':
        fd = sc('openat', AT_FDCWD, p(0), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if fd < 0:
            return r(fd)
        out = []
        b = buf(4096)
        try:
            while True:
                k = sc('getdents64', fd, b, 4096)
                if k < 0:
                    return r(k)
                if k == 0:
                    break
                dirent_names(b.raw, k, out)
        finally:
            sc('close', fd)
        return ' '.join(sorted(out))
    if name == 'getdentsfd':
        b = buf(n(1))
        return r(sc('getdents64', n(0), b, n(1)))
    if name in ('fsync', 'fdatasync'):
        return r(sc(name, n(0)))
    if name == 'sync':
        return r(sc('sync'))
    if name in ('getpid', 'gettid', 'getppid', 'getuid', 'geteuid', 'getgid'):
        return r(sc(name))
    if name == 'uname':
        b = buf(390)
        return r(sc('uname', b), lambda _: cstr(b.raw))
    if name == 'pipe':
        b = buf(8)
        return r(sc('pipe2', b, n(0, 0)), lambda _: [int.from_bytes(b.raw[0:4], 'little', signed=True),
                                                     int.from_bytes(b.raw[4:8], 'little', signed=True)])
    if name == 'become':
        uid, gid = n(0), n(1)
        for x in (sc('setgroups', 0, None), sc('setresgid', gid, gid, gid), sc('setresuid', uid, uid, uid)):
            if x < 0:
                return r(x)
        return 0
    if name == 'writefile':
        fd = sc('openat', AT_FDCWD, p(0), O_WRONLY | O_CREAT | O_TRUNC, n(2, 0o644))
        if fd < 0:
            return r(fd)
        m = sc('fchmod', fd, n(2, 0o644))  # the exact mode, whatever the umask
        if m < 0:
            sc('close', fd)
            return r(m)
        d = p(1).encode('latin1')
        w = sc('write', fd, ctypes.c_char_p(d), len(d))
        sc('close', fd)
        return r(w) if w < 0 else (0 if w == len(d) else 'ESHORTWRITE')
    if name == 'readfile':
        fd = sc('openat', AT_FDCWD, p(0), O_RDONLY, 0)
        if fd < 0:
            return r(fd)
        out = b''
        b = buf(65536)
        try:
            while True:
                k = sc('read', fd, b, 65536)
                if k < 0:
                    return r(k)
                if k == 0:
                    break
                out += b.raw[:k]
        finally:
            sc('close', fd)
        return bstr(out)
    if name == 'same':
        return 1 if a[0] == a[1] else 0
    if name == 'setxattr':
        v = p(2).encode('latin1')
        return r(sc('setxattr', p(0), p(1), ctypes.c_char_p(v), len(v), n(3, 0)))
    if name == 'getxattr':
        size = n(2, 256)
        b = buf(size)
        return r(sc('getxattr', p(0), p(1), b, size), lambda k: bstr(b.raw[:k]))
    if name == 'listxattr':
        b = buf(4096)
        return r(sc('listxattr', p(0), b, 4096),
                 lambda k: ' '.join(sorted(x for x in bstr(b.raw[:k]).split('\0') if x)))
    if name == 'removexattr':
        return r(sc('removexattr', p(0), p(1)))
    if name == 'flock':
        return r(sc('flock', n(0), n(1)))
    raise CaseError('unknown op ' + name)


REF_PREFIX = '$'


def resolve(x, res, op_res):
    if isinstance(x, list):
        return [resolve(y, res, op_res) for y in x]
    if not isinstance(x, str) or not x.startswith(REF_PREFIX) or len(x) < 2:
        return x
    head, _, idx = x[1:].partition('.')
    if head == 'op':
        v = op_res
    elif head.isdigit() and int(head) < len(res):
        v = res[int(head)]
    else:
        return x
    if idx:
        v = v[int(idx)] if isinstance(v, list) else None
    if v is None:
        raise CaseError('unresolved reference ' + x)
    return v


def is_err(v):
    return isinstance(v, str) and len(v) > 1 and v[0] == 'E' and v[1:].replace('_', '').isalnum() and v.isupper()


def run_case(c, root):
    res = []
    for j, st in enumerate(c.get('setup') or []):
        v = step(resolve(st, res, None), root)
        if is_err(v):
            return 'setup[%d] %s: %s' % (j, st[0], v)
        res.append(v)
    main = step(resolve(c['op'], res, None), root)
    post = c.get('post') or []
    if not post:
        return main
    return [main] + [step(resolve(p[0], res, main), root) for p in post]


def run_in_child(c, root):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            signal.alarm(5)
            os.chdir(root)
            os.umask(0o022)
            try:
                got = run_case(c, root)
            except CaseError as e:
                got = 'ERROR ' + str(e)
            data = json.dumps(got).encode()
        except BaseException as e:  # noqa: BLE001 - everything must reach the parent
            data = json.dumps('EXCEPTION %r' % (e,)).encode()
        os.write(wfd, data)
        os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        d = os.read(rfd, 65536)
        if not d:
            break
        chunks.append(d)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return 'TIMEOUT' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM else 'CHILD DIED %d' % status
    return json.loads(b''.join(chunks))


def main():
    if platform.machine() != 'x86_64' or not sys.platform.startswith('linux'):
        print(json.dumps({'unsupported': 'host executor supports x86_64 Linux only, not %s %s' % (sys.platform, platform.machine())}))
        return
    if os.geteuid() != 0:
        print(json.dumps({'unsupported': 'host executor needs root (cases chown, mknod devices and drop to uid 1000)'}))
        return
    cases = json.load(sys.stdin)['cases']
    base = tempfile.mkdtemp(prefix='lkl-behaviour-', dir='/tmp')
    os.chmod(base, 0o755)
    out = []
    try:
        for i, c in enumerate(cases):
            root = os.path.join(base, str(i))
            os.mkdir(root)
            os.chmod(root, 0o777)
            out.append({'name': c['name'], 'got': run_in_child(c, root)})
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
