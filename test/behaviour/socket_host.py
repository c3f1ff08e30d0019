#!/usr/bin/env python3
"""
Host executor for the socket cases (socket_cases.ts): run_host.py's machinery with the socket
operations added. Raw system calls through libc's syscall(), x86_64 numbers; same JSON in and out.
"""
import ctypes
import os
import signal
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_host  # noqa: E402

run_host.NR.update({
    'socket': 41, 'connect': 42, 'sendto': 44, 'recvfrom': 45, 'sendmsg': 46, 'recvmsg': 47,
    'shutdown': 48, 'bind': 49, 'listen': 50, 'getsockname': 51, 'getpeername': 52,
    'socketpair': 53, 'setsockopt': 54, 'getsockopt': 55, 'accept4': 288, 'poll': 7, 'ioctl': 16,
})
sc = run_host.sc
base_step = run_host.step
SOL_SOCKET, SCM_RIGHTS, SO_PEERCRED = 1, 1, 17


def sockaddr(name):
    """'' → family only (autobind); '@x' → abstract; else a pathname with its NUL."""
    if name == '':
        raw = struct.pack('<H', 1)
    elif name.startswith('@'):
        raw = struct.pack('<H', 1) + b'\0' + name[1:].encode('latin1')
    else:
        raw = struct.pack('<H', 1) + name.encode('latin1') + b'\0'
    return ctypes.create_string_buffer(raw, len(raw)), len(raw)


class Iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_int), ('iov', ctypes.POINTER(Iovec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                ('flags', ctypes.c_int)]


def step(op, root):
    name, a = op[0], op[1:]

    def r(x, ok=lambda v: v):
        return run_host.ename(-x) if x < 0 else ok(x)

    if name == 'socket':
        return r(sc('socket', a[0], a[1], a[2] if len(a) > 2 else 0))
    if name == 'socketpair':
        sv = (ctypes.c_int * 2)()
        return r(sc('socketpair', a[0], a[1], 0, sv), lambda _: [sv[0], sv[1]])
    if name in ('bind', 'connect'):
        b, n = sockaddr(a[1])
        return r(sc(name, a[0], b, n))
    if name == 'listen':
        return r(sc('listen', a[0], a[1]))
    if name == 'accept':
        return r(sc('accept4', a[0], None, None, a[1] if len(a) > 1 else 0))
    if name == 'send':
        d = a[1].encode('latin1')
        return r(sc('sendto', a[0], ctypes.c_char_p(d), len(d), a[2] if len(a) > 2 else 0, None, 0))
    if name == 'sendto':
        d = a[1].encode('latin1')
        b, n = sockaddr(a[2])
        return r(sc('sendto', a[0], ctypes.c_char_p(d), len(d), a[3] if len(a) > 3 else 0, b, n))
    if name in ('recv', 'recvlen'):
        b = ctypes.create_string_buffer(max(a[1], 1))
        k = sc('recvfrom', a[0], b, a[1], a[2] if len(a) > 2 else 0, None, None)
        return r(k, (lambda v: b.raw[:min(v, a[1])].decode('latin1')) if name == 'recv' else (lambda v: v))
    if name == 'recvfromlen':
        b = ctypes.create_string_buffer(max(a[1], 1))
        sa = ctypes.create_string_buffer(128)
        ln = ctypes.c_int(128)
        return r(sc('recvfrom', a[0], b, a[1], a[2] if len(a) > 2 else 0, sa, ctypes.byref(ln)), lambda _: ln.value)
    if name == 'shutdown':
        return r(sc('shutdown', a[0], a[1]))
    if name in ('socknamelen', 'peernamelen', 'sockname'):
        sa = ctypes.create_string_buffer(128)
        ln = ctypes.c_int(128)
        k = sc('getpeername' if name == 'peernamelen' else 'getsockname', a[0], sa, ctypes.byref(ln))
        if name == 'sockname':
            return r(k, lambda _: sa.raw[2:ln.value].split(b'\0')[0].decode('latin1'))
        return r(k, lambda _: ln.value)
    if name == 'getsockopt':
        v = ctypes.c_int(0)
        ln = ctypes.c_int(4)
        return r(sc('getsockopt', a[0], a[1], a[2], ctypes.byref(v), ctypes.byref(ln)), lambda _: v.value)
    if name == 'setsockopt':
        v = ctypes.c_int(a[3])
        return r(sc('setsockopt', a[0], a[1], a[2], ctypes.byref(v), 4))
    if name == 'sendcred':
        data = ctypes.create_string_buffer(b'c', 1)
        iov = Iovec(ctypes.cast(data, ctypes.c_void_p), 1)
        ctl = ctypes.create_string_buffer(struct.pack('<QiiiII', 28, SOL_SOCKET, 2, a[1], a[2], a[3]) + b'\0' * 4, 32)
        m = Msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.cast(ctl, ctypes.c_void_p), 32, 0)
        return r(sc('sendmsg', a[0], ctypes.byref(m), 0))
    if name == 'sendbytes':
        d = ctypes.create_string_buffer(a[1])
        return r(sc('sendto', a[0], d, a[1], 0, None, 0))
    if name == 'acceptlen':
        sa = ctypes.create_string_buffer(128)
        ln = ctypes.c_int(128)
        return r(sc('accept4', a[0], sa, ctypes.byref(ln), 0), lambda _: ln.value)
    if name == 'setsockoptlen':
        v = ctypes.c_int(a[3])
        return r(sc('setsockopt', a[0], a[1], a[2], ctypes.byref(v), a[4]))
    if name == 'getsockoptlen':
        v = ctypes.c_int(0)
        ln = ctypes.c_int(a[3])
        return r(sc('getsockopt', a[0], a[1], a[2], ctypes.byref(v), ctypes.byref(ln)), lambda _: ln.value)
    if name == 'recvcred':
        data = ctypes.create_string_buffer(16)
        iov = Iovec(ctypes.cast(data, ctypes.c_void_p), 16)
        ctl = ctypes.create_string_buffer(64)
        m = Msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.cast(ctl, ctypes.c_void_p), 64, 0)
        k = sc('recvmsg', a[0], ctypes.byref(m), 0)
        def cred(_):
            if m.controllen < 28:
                return 'ENOCRED'
            ln, lvl, typ = struct.unpack('<Qii', ctl.raw[:16])
            if lvl != SOL_SOCKET or typ != 2:
                return 'ENOCRED'
            return struct.unpack('<iii', ctl.raw[16:28])[['pid', 'uid', 'gid'].index(a[1])]
        return r(k, cred)
    if name == 'peercred':
        v = (ctypes.c_int * 3)()
        ln = ctypes.c_int(12)
        return r(sc('getsockopt', a[0], SOL_SOCKET, SO_PEERCRED, v, ctypes.byref(ln)),
                 lambda _: v[['pid', 'uid', 'gid'].index(a[1])])
    if name == 'poll':
        pfd = struct.pack('<ihh', a[0], a[1], 0)
        b = ctypes.create_string_buffer(pfd, 8)
        return r(sc('poll', b, 1, 0), lambda _: struct.unpack('<ihh', b.raw[:8])[2])
    if name == 'fionread':
        v = ctypes.c_int(0)
        return r(sc('ioctl', a[0], 0x541b, ctypes.byref(v)), lambda _: v.value)
    if name in ('sendfd', 'sendfdempty', 'recvfd', 'recvmsgflags'):
        data = ctypes.create_string_buffer(b'f', 1)
        iov = Iovec(ctypes.cast(data, ctypes.c_void_p), 0 if name == 'sendfdempty' else 1)
        if name in ('sendfd', 'sendfdempty'):
            ctl = ctypes.create_string_buffer(struct.pack('<QiiiI', 20, SOL_SOCKET, SCM_RIGHTS, a[1], 0), 24)
            m = Msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.cast(ctl, ctypes.c_void_p), 20, 0)
            return r(sc('sendmsg', a[0], ctypes.byref(m), 0))
        size = a[1] if len(a) > 1 else 24
        ctl = ctypes.create_string_buffer(max(size, 1))
        m = Msghdr(None, 0, ctypes.pointer(iov), 1, ctypes.cast(ctl, ctypes.c_void_p), size, 0)
        k = sc('recvmsg', a[0], ctypes.byref(m), 0)
        if name == 'recvmsgflags':
            return r(k, lambda _: m.flags)
        return r(k, lambda _: struct.unpack('<i', ctl.raw[16:20])[0] if m.controllen >= 20 else 'ENOFD')
    return base_step(op, root)


run_host.step = step

if __name__ == '__main__':
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    run_host.main()
