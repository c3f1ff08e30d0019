#!/usr/bin/env python3
"""
Host executor of the differential fuzzer: runs a list of fuzz operations (see ops.ts for the
format) on the host kernel, below a loop-mounted ext4 image, with raw system calls through libc's
syscall() so glibc adds no behaviour of its own and errnos come back exactly as the kernel set them.

stdin: JSON {"root": "<mount point>", "ops": [[name, ...args], ...]}
stdout: JSON list, one result per op: a number (the syscall's return, fds normalised to 0) or an
errno name.

Paths are relative to the root (the process chdirs there); names are Unicode in JSON and reach the
kernel as their UTF-8 bytes, as our executor passes them. Only x86_64 syscall numbers are known;
elsewhere the output is {"unsupported": "<why>"}.
"""
import ctypes
import errno
import json
import os
import platform
import sys

NR = {
    'close': 3, 'pwrite64': 18, 'fsync': 74, 'fdatasync': 75, 'truncate': 76, 'umask': 95,
    'setxattr': 188, 'lsetxattr': 189, 'removexattr': 197, 'lremovexattr': 198, 'openat': 257,
    'mkdirat': 258, 'unlinkat': 263, 'linkat': 265, 'symlinkat': 266, 'fchmodat': 268,
    'utimensat': 280, 'fallocate': 285, 'renameat2': 316,
}
AT_FDCWD = -100
AT_REMOVEDIR = 0x200
O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_TRUNC, O_CLOEXEC = 0, 1, 0o100, 0o200, 0o1000, 0o2000000
UTIME_OMIT = (1 << 30) - 2
ALIASES = {'ENOTSUP': 'EOPNOTSUPP', 'EWOULDBLOCK': 'EAGAIN', 'EDEADLOCK': 'EDEADLK'}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def arg(x):
    if x is None:
        return ctypes.c_void_p(0)
    if isinstance(x, int):
        return ctypes.c_long(x)
    if isinstance(x, str):
        return ctypes.c_char_p(x.encode('utf-8'))
    if isinstance(x, bytes):
        return ctypes.c_char_p(x)
    return x


def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[arg(a) for a in args])
    return -ctypes.get_errno() if r == -1 else r


def res(r):
    if r < 0:
        n = errno.errorcode.get(-r, 'E%d' % -r)
        return ALIASES.get(n, n)
    return r


def pattern(seed, n):
    """The bytes a write or xattr value carries; ops.ts pattern() computes the same."""
    return bytes(((seed + j * 31 + (j >> 9) * 7) & 0xff) for j in range(n))


def with_fd(path, flags, fn):
    fd = sc('openat', AT_FDCWD, path, flags | O_CLOEXEC, 0)
    if fd < 0:
        return res(fd)
    try:
        return res(fn(fd))
    finally:
        sc('close', fd)


def timespecs(a, m):
    out = b''
    for t in (a, m):
        sec, nsec = (0, UTIME_OMIT) if t == 'OMIT' else t
        out += sec.to_bytes(8, 'little', signed=True) + nsec.to_bytes(8, 'little', signed=True)
    b = ctypes.create_string_buffer(32)
    ctypes.memmove(b, out, 32)
    return b


def step(op):
    name, a = op[0], op[1:]
    if name == 'creat':
        path, how, mode = a
        flags = O_WRONLY | O_CREAT | (O_EXCL if how == 1 else O_TRUNC if how == 2 else 0)
        fd = sc('openat', AT_FDCWD, path, flags | O_CLOEXEC, mode)
        if fd < 0:
            return res(fd)
        sc('close', fd)
        return 0
    if name == 'write':
        path, off, n, seed = a
        data = pattern(seed, n)
        return with_fd(path, O_WRONLY, lambda fd: sc('pwrite64', fd, data, n, off))
    if name == 'truncate':
        return res(sc('truncate', a[0], a[1]))
    if name == 'fallocate':
        path, mode, off, n = a
        return with_fd(path, O_WRONLY, lambda fd: sc('fallocate', fd, mode, off, n))
    if name == 'fsync':
        path, data_only = a
        return with_fd(path, O_RDONLY, lambda fd: sc('fdatasync' if data_only else 'fsync', fd))
    if name == 'rename':
        return res(sc('renameat2', AT_FDCWD, a[0], AT_FDCWD, a[1], a[2]))
    if name == 'link':
        return res(sc('linkat', AT_FDCWD, a[0], AT_FDCWD, a[1], 0))
    if name == 'unlink':
        return res(sc('unlinkat', AT_FDCWD, a[0], 0))
    if name == 'rmdir':
        return res(sc('unlinkat', AT_FDCWD, a[0], AT_REMOVEDIR))
    if name == 'mkdir':
        return res(sc('mkdirat', AT_FDCWD, a[0], a[1]))
    if name == 'symlink':
        return res(sc('symlinkat', a[0], AT_FDCWD, a[1]))
    if name == 'chmod':
        return res(sc('fchmodat', AT_FDCWD, a[0], a[1]))
    if name == 'utimens':
        path, at, mt, flags = a
        return res(sc('utimensat', AT_FDCWD, path, timespecs(at, mt), flags))
    if name == 'setxattr':
        path, xname, n, seed, flags, nofollow = a
        v = pattern(seed, n)
        return res(sc('lsetxattr' if nofollow else 'setxattr', path, xname, v, n, flags))
    if name == 'removexattr':
        path, xname, nofollow = a
        return res(sc('lremovexattr' if nofollow else 'removexattr', path, xname))
    raise ValueError('unknown op ' + name)


def main():
    if platform.machine() != 'x86_64':
        json.dump({'unsupported': 'host executor knows x86_64 syscall numbers only, not ' + platform.machine()}, sys.stdout)
        return
    req = json.load(sys.stdin)
    os.chdir(req['root'])
    sc('umask', 0)
    json.dump([step(op) for op in req['ops']], sys.stdout)


main()
