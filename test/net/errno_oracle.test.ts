/*
 * Socket call errnos against the host kernel: one script of AF_INET calls (UDP, TCP, ping)
 * runs on our kernel through syscalls and on Linux in a fresh network namespace with lo up
 * (`unshare -n` + Python), and every result must agree. Needs root; skips elsewhere (not on CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { boot, type LklKernel } from '../../src/lkl.js';
import { createNodeHost } from '../../src/arch/node/index.js';
import { AF_INET } from '../../src/uapi/socket.js';

const root = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;
const skip = !root && !process.env.CI ? 'needs root for unshare -n (host oracle)' : false;

/**
 * Steps: [op, ...args]; a socket made by step i is referred to as i. Addresses are
 * [family, ip, port, len]. Results are numbers (>= 0, or -errno) or, for name queries, "ip:port".
 */
type Step = (string | number)[];
const S: Step[] = [
  /* 0 */ ['socket', 2, 2, 0],
  /* 1 */ ['socket', 2, 1, 0],
  /* 2 */ ['socket', 2, 1, 17],
  /* 3 */ ['socket', 2, 5, 0],
  /* 4 */ ['socket', 2, 2, 6],
  /* 5 */ ['bind', 0, 2, '127.0.0.1', 4000, 8],
  /* 6 */ ['bind', 0, 1, '127.0.0.1', 4000, 16],
  /* 7 */ ['bind', 0, 2, '10.9.9.9', 4000, 16],
  /* 8 */ ['bind', 0, 2, '127.0.0.1', 4000, 16],
  /* 9 */ ['bind', 0, 2, '127.0.0.1', 4001, 16],
  /* 10 */ ['getsockname', 0],
  /* 11 */ ['getpeername', 0],
  /* 12 */ ['listen', 0, 5],
  /* 13 */ ['accept', 0],
  /* 14 */ ['shutdown', 0, 1],
  /* 15 */ ['shutdown', 0, 5],
  /* 16 */ ['sendto', 0, 4, 2, '127.0.0.1', 0, 16],
  /* 17 */ ['send', 0, 4],
  /* 18 */ ['getsockopt', 0, 0, 2],
  /* 19 */ ['setsockopt', 0, 0, 2, 256],
  /* 20 */ ['setsockopt', 0, 17, 999, 1],
  /* 21 */ ['getsockopt', 0, 1, 8],
  /* 22 */ ['getsockopt', 0, 1, 4],
  /* 23 */ ['getsockopt', 0, 1, 3],
  /* 24 */ ['connect', 0, 2, '127.0.0.1', 4000, 16],
  /* 25 */ ['getpeername', 0],
  /* 26 */ ['connect', 0, 0, '0.0.0.0', 0, 16],
  /* 27 */ ['getpeername', 0],
  /* 28 */ ['socket', 2, 2, 0],
  /* 29 */ ['connect', 28, 2, '127.0.0.1', 4999, 16],
  /* 30 */ ['send', 28, 4],
  /* 31 */ ['sleep'],
  /* 32 */ ['recv', 28, 16],
  /* 33 */ ['getsockopt', 28, 1, 4],
  // TCP
  /* 34 */ ['read', 1, 4],
  /* 35 */ ['write', 1, 4],
  /* 36 */ ['shutdown', 1, 2],
  /* 37 */ ['accept', 1],
  /* 38 */ ['getpeername', 1],
  /* 39 */ ['setsockopt2', 1, 6, 1],
  /* 40 */ ['getsockopt', 1, 6, 2],
  /* 41 */ ['getsockopt', 1, 1, 7],
  /* 42 */ ['getsockopt', 1, 1, 8],
  /* 43 */ ['getsockopt', 1, 6, 1],
  /* 44 */ ['connect', 1, 2, '127.0.0.1', 4999, 8],
  /* 45 */ ['connect', 1, 1, '127.0.0.1', 4999, 16],
  /* 46 */ ['connect', 1, 2, '127.0.0.1', 4999, 16],
  /* 47 */ ['getsockopt', 1, 1, 4],
  /* 48 */ ['read', 1, 4],
  /* 49 */ ['socket', 2, 1, 0],
  /* 50 */ ['listen', 49, 5],
  /* 51 */ ['getsockname_port_nonzero', 49],
  /* 52 */ ['socket', 2, 1, 0],
  /* 53 */ ['bind', 52, 2, '127.0.0.1', 4100, 16],
  /* 54 */ ['socket', 2, 1, 0],
  /* 55 */ ['bind', 54, 2, '127.0.0.1', 4100, 16],
  /* 56 */ ['listen', 52, 5],
  /* 57 */ ['socket', 2, 1, 0],
  /* 58 */ ['connect', 57, 2, '127.0.0.1', 4100, 16],
  /* 59 */ ['connect', 57, 2, '127.0.0.1', 4100, 16],
  /* 60 */ ['listen', 57, 5],
  /* 61 */ ['getsockopt', 57, 6, 2],
  /* 62 */ ['shutdown', 52, 1],
  /* 63 */ ['socket', 2, 2, 1],
  /* 64 */ ['sendto', 63, 4, 2, '127.0.0.1', 0, 16],
  /* 65 */ ['sendto', 63, 8, 2, '127.0.0.1', 0, 16],
  /* 66 */ ['sleep'], // our loopback delivers from the kernel worker, not inside sendto
  /* 67 */ ['recv', 63, 64],
  /* 68 */ ['listen', 63, 1],
  /* 69 */ ['getsockname_port_nonzero', 63],
  /* 70 */ ['connect', 0, 2, '127.0.0.1', 4000, 16],
  /* 71 */ ['sendto', 0, 4, 2, '127.0.0.1', 4000, 16],
  /* 72 */ ['sleep'],
  /* 73 */ ['recv', 0, 2],
  /* 74 */ ['getsockopt', 0, 1, 4],
  // SO_REUSEADDR against a TIME-WAIT connection left by an active close on the server side.
  /* 75 */ ['socket', 2, 1, 0],
  /* 76 */ ['setsockopt', 75, 1, 2, 1],
  /* 77 */ ['bind', 75, 2, '127.0.0.1', 4200, 16],
  /* 78 */ ['listen', 75, 5],
  /* 79 */ ['socket', 2, 1, 0],
  /* 80 */ ['connect', 79, 2, '127.0.0.1', 4200, 16],
  /* 81 */ ['sleep'],
  /* 82 */ ['accept', 75],
  /* 83 */ ['close', 82],
  /* 84 */ ['sleep'],
  /* 85 */ ['close', 79],
  /* 86 */ ['sleep'],
  /* 87 */ ['close', 75],
  /* 88 */ ['socket', 2, 1, 0],
  /* 89 */ ['bind', 88, 2, '127.0.0.1', 4200, 16],
  /* 90 */ ['setsockopt', 88, 1, 2, 1],
  /* 91 */ ['bind', 88, 2, '127.0.0.1', 4200, 16],
  /* 92 */ ['listen', 88, 5],
];

/**
 * Known deviations, step → [our answer, why]. TCP_MAXSEG: Linux bounds the MSS by half the
 * largest window the peer offered (tcp_bound_to_half_wnd: 32741 on lo); src/net/tcp does not yet.
 */
const KNOWN: Record<number, [unknown, string]> = {
  61: [65483, 'tcp_bound_to_half_wnd missing in src/net/tcp'],
};

const HELPER = `
import socket, json, sys, struct, os, time
socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
os.system('ip link set lo up')
# Our default ping_group_range is "0 0" (see af_inet.ts); give the host namespace the same.
open('/proc/sys/net/ipv4/ping_group_range', 'w').write('0 0')
steps = json.load(sys.stdin)
socks = {}
out = []
def addr(fam, ip, port, ln):
    b = struct.pack('<H', fam) + struct.pack('>H', port) + socket.inet_aton(ip) + bytes(8)
    return b[:ln]
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw(fn, *a):
    r = fn(*a)
    return -ctypes.get_errno() if r < 0 else r
def sa(fam, ip, port, ln):
    b = addr(fam, ip, port, ln)
    return ctypes.create_string_buffer(b, len(b)), len(b)
for i, st in enumerate(steps):
    op = st[0]
    try:
        if op == 'socket':
            r = raw(libc.socket, st[1], st[2], st[3])
            if r >= 0: socks[i] = r
            out.append(r if r < 0 else 0); continue
        if op == 'sleep': time.sleep(0.05); out.append(0); continue
        fd = socks.get(st[1], -1)
        if op in ('bind', 'connect'):
            b, ln = sa(st[2], st[3], st[4], st[5])
            r = raw(libc.bind if op == 'bind' else libc.connect, fd, b, st[5])
        elif op in ('getsockname', 'getpeername', 'getsockname_port_nonzero'):
            b = ctypes.create_string_buffer(16); ln = ctypes.c_int(16)
            r = raw(libc.getpeername if op == 'getpeername' else libc.getsockname, fd, b, ctypes.byref(ln))
            if r == 0:
                port = struct.unpack('>H', b.raw[2:4])[0]
                r = (port != 0) if op == 'getsockname_port_nonzero' else socket.inet_ntoa(b.raw[4:8]) + ':' + str(port)
        elif op == 'listen': r = raw(libc.listen, fd, st[2])
        elif op == 'accept':
            r = raw(libc.accept4, fd, None, None, 0o4000)
            if r >= 0: socks[i] = r; r = 0
        elif op == 'close': r = raw(libc.close, fd)
        elif op == 'shutdown': r = raw(libc.shutdown, fd, st[2])
        elif op == 'sendto':
            data = bytearray(st[2]); data[0] = 8
            b, ln = sa(st[3], st[4], st[5], st[6])
            r = raw(libc.sendto, fd, bytes(data), st[2], 0, b, st[6])
        elif op == 'send': r = raw(libc.send, fd, bytes(st[2]), st[2], 0)
        elif op == 'recv':
            b = ctypes.create_string_buffer(st[2]); r = raw(libc.recv, fd, b, st[2], 0x40)
        elif op == 'read':
            b = ctypes.create_string_buffer(st[2]); r = raw(libc.read, fd, b, st[2])
        elif op == 'write': r = raw(libc.write, fd, bytes(st[2]), st[2])
        elif op == 'getsockopt':
            v = ctypes.c_int(0); ln = ctypes.c_int(4)
            r = raw(libc.getsockopt, fd, st[2], st[3], ctypes.byref(v), ctypes.byref(ln))
            if r == 0: r = v.value
        elif op == 'setsockopt':
            v = ctypes.c_int(st[4]); r = raw(libc.setsockopt, fd, st[2], st[3], ctypes.byref(v), 4)
        elif op == 'setsockopt2':
            v = ctypes.c_int(1); r = raw(libc.setsockopt, fd, st[2], st[3], ctypes.byref(v), 2)
        out.append(r)
    except Exception as e:
        out.append('py:' + str(e))
print(json.dumps(out))
`;

function hostRun(): unknown[] {
  const r = spawnSync('unshare', ['-n', 'python3', '-c', HELPER], { input: JSON.stringify(S), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`host helper failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

function addr(fam: number, ip: string, port: number, len: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = fam & 0xff; b[1] = fam >> 8; b[2] = port >> 8; b[3] = port & 0xff;
  b.set(ip.split('.').map(Number), 4);
  return b.slice(0, len);
}

async function oursRun(k: LklKernel): Promise<unknown[]> {
  const socks = new Map<number, number>();
  const out: unknown[] = [];
  for (let i = 0; i < S.length; i++) {
    const st = S[i]!;
    const op = st[0] as string, n = (j: number) => st[j] as number, s = (j: number) => st[j] as string;
    if (op === 'socket') { const r = await k.sys.socket(n(1), n(2), n(3)); if (r >= 0) socks.set(i, r); out.push(r < 0 ? r : 0); continue; }
    if (op === 'sleep') { await new Promise((r) => setTimeout(r, 50)); out.push(0); continue; }
    const fd = socks.get(n(1)) ?? -1;
    let r: unknown;
    switch (op) {
      case 'bind': r = await k.sys.bind(fd, addr(n(2), s(3), n(4), n(5)), n(5)); break;
      case 'connect': r = await k.sys.connect(fd, addr(n(2), s(3), n(4), n(5)), n(5)); break;
      case 'getsockname': case 'getpeername': case 'getsockname_port_nonzero': {
        const b = new Uint8Array(16), len = new Int32Array([16]);
        r = await (op === 'getpeername' ? k.sys.getpeername(fd, b, len) : k.sys.getsockname(fd, b, len));
        if (r === 0) {
          const port = (b[2]! << 8) | b[3]!;
          r = op === 'getsockname_port_nonzero' ? port !== 0 : `${[...b.subarray(4, 8)].join('.')}:${port}`;
        }
        break;
      }
      case 'listen': r = await k.sys.listen(fd, n(2)); break;
      case 'accept': r = await k.sys.accept4(fd, null, null, 0o4000); if ((r as number) >= 0) { socks.set(i, r as number); r = 0; } break;
      case 'close': r = await k.sys.close(fd); break;
      case 'shutdown': r = await k.sys.shutdown(fd, n(2)); break;
      case 'sendto': { const d = new Uint8Array(n(2)); d[0] = 8; r = await k.sys.sendto(fd, d, n(2), 0, addr(n(3), s(4), n(5), n(6)), n(6)); break; }
      case 'send': r = await k.sys.sendto(fd, new Uint8Array(n(2)), n(2), 0, null, 0); break;
      case 'recv': r = await k.sys.recvfrom(fd, new Uint8Array(n(2)), n(2), 0x40, null, null); break;
      case 'read': r = await k.sys.read(fd, new Uint8Array(n(2)), n(2)); break;
      case 'write': r = await k.sys.write(fd, new Uint8Array(n(2)), n(2)); break;
      case 'getsockopt': {
        const v = new Uint8Array(4), len = new Int32Array([4]);
        r = await k.sys.getsockopt(fd, n(2), n(3), v, len);
        if (r === 0) r = new DataView(v.buffer).getInt32(0, true);
        break;
      }
      case 'setsockopt': r = await k.sys.setsockopt(fd, n(2), n(3), new Uint8Array(new Int32Array([n(4)]).buffer), 4); break;
      case 'setsockopt2': r = await k.sys.setsockopt(fd, n(2), n(3), new Uint8Array([1, 0]), 2); break;
    }
    out.push(r);
  }
  return out;
}

test('AF_INET socket calls: the same results as the host kernel', { skip }, async () => {
  const host = hostRun();
  // Real time, like the host's: TIME-WAIT must last across the script's short sleeps.
  const k = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
  try {
    assert.equal(await k.ifUp(1), 0);
    const ours = await oursRun(k);
    const diffs: string[] = [];
    for (let i = 0; i < S.length; i++) {
      if (KNOWN[i] !== undefined && JSON.stringify(ours[i]) === JSON.stringify(KNOWN[i]![0])) continue;
      if (JSON.stringify(ours[i]) !== JSON.stringify(host[i])) diffs.push(`step ${i} ${JSON.stringify(S[i])}: got ${JSON.stringify(ours[i])}, want ${JSON.stringify(host[i])}`);
    }
    assert.deepEqual(diffs, [], diffs.join('\n'));
    void AF_INET;
  } finally { await k.halt(); }
});
