#!/usr/bin/env python3
# System calls through an lklfuse mount, one line per call: "name ok <value>" or "name err <ERRNO>".
# Used by test/fuse/lklfuse_vfat.test.ts, which knows what Linux's vfat answers to each.
import ctypes, errno, os, sys

m = sys.argv[1]
p = lambda n: os.path.join(m, n)
libc = ctypes.CDLL(None, use_errno=True)


def res(name, f):
    try:
        print(name, 'ok', f())
    except OSError as e:
        print(name, 'err', errno.errorcode.get(e.errno, e.errno))


def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return 0


with open(p('src'), 'wb') as f:
    f.write(b'A' * 10000 + b'B' * 10000)
fi = os.open(p('src'), os.O_RDONLY)
fo = os.open(p('dst'), os.O_RDWR | os.O_CREAT, 0o644)
res('copy_file_range', lambda: os.copy_file_range(fi, fo, 15000, 2000, 0))
res('copied_bytes', lambda: os.pread(fo, 20000, 0) == b'A' * 8000 + b'B' * 7000)
res('seek_data', lambda: os.lseek(fo, 0, os.SEEK_DATA))
res('seek_hole', lambda: os.lseek(fo, 0, os.SEEK_HOLE))
res('seek_data_past_eof', lambda: os.lseek(fo, 20000, os.SEEK_DATA))
res('fallocate', lambda: os.posix_fallocate(fo, 0, 100000))
res('size_after_fallocate', lambda: os.fstat(fo).st_size)
res('ftruncate', lambda: os.ftruncate(fo, 50))
res('size_after_ftruncate', lambda: os.fstat(fo).st_size)
res('fsync', lambda: os.fsync(fo))
res('fdatasync', lambda: os.fdatasync(fo))
os.close(fi)
os.close(fo)
res('utime_ns', lambda: (os.utime(p('dst'), ns=(1600000000_000000000, 1600000002_000000000)), os.stat(p('dst')).st_mtime_ns)[1])
res('rename_noreplace', lambda: renameat2(p('src'), p('dst'), 1))
res('rename_noreplace_new', lambda: (renameat2(p('src'), p('moved'), 1), os.path.exists(p('src')))[1])
res('symlink', lambda: os.symlink('x', p('sl')))
res('link', lambda: os.link(p('moved'), p('hl')))
res('mkfifo', lambda: os.mkfifo(p('ff')))
res('setxattr', lambda: os.setxattr(p('moved'), 'user.a', b'1'))
res('listxattr', lambda: os.listxattr(p('moved')))
res('getxattr', lambda: os.getxattr(p('moved'), 'user.a'))
res('rmdir_file', lambda: os.rmdir(p('moved')))
res('unlink_dir', lambda: (os.mkdir(p('d')), os.unlink(p('d')))[1])
res('mkdir_exists', lambda: os.mkdir(p('d')))
res('open_missing', lambda: os.open(p('missing'), os.O_RDONLY))
res('uid', lambda: os.stat(p('moved')).st_uid)
res('gid', lambda: os.stat(p('moved')).st_gid)
res('statvfs_bsize', lambda: os.statvfs(m).f_bsize)
res('access_w', lambda: os.access(p('moved'), os.W_OK))
