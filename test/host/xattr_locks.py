#!/usr/bin/env python3
"""Run test/host/xattr_locks_cases.json on the host kernel and print what it answered.

usage: xattr_locks.py CASES.json [BASEDIR]

Each case runs in a fresh directory under BASEDIR (default /dev/shm: tmpfs, like our root).
Two worker processes (p0, p1) are forked per case and obey one command per step over pipes, so
that POSIX locks have two real owners and a blocking F_SETLKW can wait while the other acts.
Output: one JSON object {case name: [result per step]}; results use the table's vocabulary
("ok", errno names, numbers, {value}, {names}, struct flock with pid as "p0"/"p1"/-1).
"""
import errno
import fcntl
import json
import os
import shutil
import struct
import sys
import tempfile

FLOCK = 'hhxxxxqqixxxx'  # struct flock, asm-generic 64-bit: 32 bytes
CMDS = {'F_GETLK': 5, 'F_SETLK': 6, 'F_SETLKW': 7, 'F_OFD_GETLK': 36, 'F_OFD_SETLK': 37, 'F_OFD_SETLKW': 38}
TYPES = {'F_RDLCK': 0, 'F_WRLCK': 1, 'F_UNLCK': 2, 'bad': 9}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
FLAGS = {'r': os.O_RDONLY, 'w': os.O_WRONLY, 'rw': os.O_RDWR, 'path': os.O_PATH,
         'append': os.O_WRONLY | os.O_APPEND}


def name_of(step):
    return step['name'] + 'a' * step.get('pad', 0)


def target(step, fds):
    return fds[step['fd']] if 'fd' in step else step['path']


def run(step, fds, pids):
    op = step['op']
    follow = not step.get('nofollow', False)
    if op == 'create':
        with open(step['path'], 'w') as f:
            f.write(step.get('data', ''))
        return 'ok'
    if op == 'mkdir':
        os.mkdir(step['path']); return 'ok'
    if op == 'symlink':
        os.symlink(step['target'], step['path']); return 'ok'
    if op == 'mkfifo':
        os.mkfifo(step['path']); return 'ok'
    if op == 'open':
        fds[step['fd']] = os.open(step['path'], FLAGS[step['flags']]); return 'ok'
    if op == 'close':
        os.close(fds.pop(step['fd'])); return 'ok'
    if op == 'setx':
        value = b'x' * step['valueLen'] if 'valueLen' in step else step['value'].encode()
        t = target(step, fds)
        kw = {} if isinstance(t, int) else {'follow_symlinks': follow}
        os.setxattr(t, name_of(step), value, step.get('flags', 0), **kw)
        return 'ok'
    if op == 'getx':
        # os.getxattr sizes the buffer itself; go through libc for the size argument.
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        size = step['size']
        buf = ctypes.create_string_buffer(max(size, 1))
        t = target(step, fds)
        n = name_of(step).encode()
        if isinstance(t, int):
            r = libc.fgetxattr(t, n, buf if size else None, ctypes.c_size_t(size))
        else:
            fn = libc.getxattr if follow else libc.lgetxattr
            r = fn(t.encode(), n, buf if size else None, ctypes.c_size_t(size))
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r if size == 0 else {'value': buf.raw[:r].decode()}
    if op == 'listx':
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        size = step.get('size', 65536)
        buf = ctypes.create_string_buffer(max(size, 1))
        t = target(step, fds)
        if isinstance(t, int):
            r = libc.flistxattr(t, buf if size else None, ctypes.c_size_t(size))
        else:
            fn = libc.listxattr if follow else libc.llistxattr
            r = fn(t.encode(), buf if size else None, ctypes.c_size_t(size))
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        if 'size' in step and size == 0:
            return r
        return {'names': sorted(x.decode() for x in buf.raw[:r].split(b'\0') if x)}
    if op == 'rmx':
        t = target(step, fds)
        kw = {} if isinstance(t, int) else {'follow_symlinks': follow}
        os.removexattr(t, name_of(step), **kw)
        return 'ok'
    if op == 'flock':
        # fcntl.flock() would do; call libc so LOCK_MAND and odd values reach the kernel as given.
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.flock(fds[step['fd']], step['lock']) < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return 'ok'
    if op == 'lk':
        arg = struct.pack(FLOCK, TYPES[step['type']], step.get('whence', 0), int(step['start']), int(step['len']), step.get('pid', 0))
        cmd = CMDS[step['cmd']]
        out = fcntl.fcntl(fds[step['fd']], cmd, arg)
        if cmd in (5, 36):
            ty, _wh, start, ln, pid = struct.unpack(FLOCK, out)
            if ty == TYPES['F_UNLCK']:
                return {'type': 'F_UNLCK'}
            return {'type': TYPE_NAMES[ty], 'start': start, 'len': ln, 'pid': pids.get(pid, pid)}
        return 'ok'
    raise ValueError('unknown op ' + op)


def worker(rd, wr):
    """A process obeying JSON commands, one per line; replies one JSON result per command."""
    fds = {}
    rf = os.fdopen(rd, 'r')
    wf = os.fdopen(wr, 'w')
    pids = json.loads(rf.readline())
    pids = {int(k): v for k, v in pids.items()}
    for line in rf:
        step = json.loads(line)
        try:
            res = run(step, fds, pids)
        except OSError as e:
            res = errno.errorcode.get(e.errno, str(e.errno))
            if res == 'ENOTSUP':
                res = 'EOPNOTSUPP'
            if res == 'EWOULDBLOCK':
                res = 'EAGAIN'
            if res == 'EDEADLOCK':
                res = 'EDEADLK'
        wf.write(json.dumps(res) + '\n')
        wf.flush()
    os._exit(0)


def wait_blocked(pid, timeout=5.0):
    """Return once `pid` sleeps on a lock: /proc/locks lists waiters as '-> ... <pid> ...'."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open('/proc/locks') as f:
            for line in f:
                if '->' in line and line.split('->', 1)[1].split()[3] == str(pid):
                    return
        time.sleep(0.005)


def run_case(case, base):
    d = tempfile.mkdtemp(prefix='xattr_locks_', dir=base)
    os.chdir(d)
    procs = []
    for _ in range(2):
        c_rd, p_wr = os.pipe()
        p_rd, c_wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(p_wr); os.close(p_rd)
            for _, w, r in procs:  # the other worker's pipes: keep its EOF reachable
                w.close(); r.close()
            worker(c_rd, c_wr)
        os.close(c_rd); os.close(c_wr)
        procs.append((pid, os.fdopen(p_wr, 'w'), os.fdopen(p_rd, 'r')))
    pidmap = {procs[0][0]: 'p0', procs[1][0]: 'p1'}
    for _, w, _ in procs:
        w.write(json.dumps(pidmap) + '\n'); w.flush()
    results = []
    pending = {}
    for step in case['steps']:
        p = step.get('p', 0)
        _, w, r = procs[p]
        if step['op'] == 'wait':
            results.append(json.loads(r.readline()))
            pending.pop(p, None)
            continue
        w.write(json.dumps(step) + '\n'); w.flush()
        if step.get('async'):
            pending[p] = True
            results.append(None)
            wait_blocked(procs[p][0])
            continue
        results.append(json.loads(r.readline()))
    for pid, w, r in procs:
        w.close()
        r.close()
        os.waitpid(pid, 0)
    os.chdir('/')
    shutil.rmtree(d, ignore_errors=True)
    return results


def main():
    cases = json.load(open(sys.argv[1]))['cases']
    base = sys.argv[2] if len(sys.argv) > 2 else '/dev/shm'
    out = {}
    for case in cases:
        out[case['name']] = run_case(case, base)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
