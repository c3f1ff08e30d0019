/*
 * The sockaddr codec at the syscall boundary. Oracle for the IPv6 text forms: the host's
 * inet_pton/inet_ntop through python3 (skipped with a reason when python3 is missing, except in CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  encodeSockaddr, decodeSockaddr, addrFromUser, addrToUser, ipv6Parse, ipv6Format,
} from '../../../../src/net/socket/index.js';
import { KernelError } from '../../../../src/lib/errors.js';
import { EINVAL, EFAULT } from '../../../../src/uapi/errno.js';
import { AF_UNIX, AF_INET, AF_INET6, SOCKADDR_IN_SIZE, SOCKADDR_IN6_SIZE } from '../../../../src/uapi/socket.js';

function errno(fn: () => unknown): number {
  try { fn(); } catch (e) { if (e instanceof KernelError) return e.errno; throw e; }
  return 0;
}

test('sockaddr_un encodings: pathname counts the NUL, abstract does not', () => {
  const cases: [string, number][] = [['/tmp/x', 2 + 6 + 1], ['\0abc', 2 + 4], ['', 2]];
  for (const [path, len] of cases) {
    const b = encodeSockaddr({ family: AF_UNIX, path });
    assert.equal(b.length, len, `len of ${JSON.stringify(path)}: got ${b.length}, want ${len}`);
    assert.equal(b[0], AF_UNIX);
    assert.deepEqual(decodeSockaddr(b), { family: AF_UNIX, path });
  }
  assert.equal(errno(() => encodeSockaddr({ family: AF_UNIX, path: 'x'.repeat(109) })), EINVAL);
});

test('sockaddr_in: network byte order port and address', () => {
  const b = encodeSockaddr({ family: AF_INET, port: 0x1234, addr: '10.1.2.3' });
  assert.equal(b.length, SOCKADDR_IN_SIZE);
  assert.deepEqual([...b.subarray(0, 8)], [2, 0, 0x12, 0x34, 10, 1, 2, 3]);
  assert.deepEqual(decodeSockaddr(b), { family: AF_INET, port: 0x1234, addr: '10.1.2.3' });
  assert.equal(errno(() => encodeSockaddr({ family: AF_INET, addr: '1.2.3' })), EINVAL);
  assert.equal(errno(() => encodeSockaddr({ family: AF_INET, addr: '1.2.3.256' })), EINVAL);
});

test('sockaddr_in6 layout', () => {
  const b = encodeSockaddr({ family: AF_INET6, port: 80, addr: '::1', flowinfo: 7, scope_id: 3 });
  assert.equal(b.length, SOCKADDR_IN6_SIZE);
  const v = new DataView(b.buffer);
  assert.equal(v.getUint16(0, true), AF_INET6);
  assert.equal(v.getUint16(2, false), 80);
  assert.equal(v.getUint32(4, false), 7);
  assert.equal(b[23], 1);
  assert.equal(v.getUint32(24, true), 3);
});

test('IPv6 text forms agree with the host inet_pton/inet_ntop', (t) => {
  const addrs = ['::', '::1', 'fe80::1', '2001:db8::ff00:42:8329', '1:0:0:1:0:0:0:1', '1:2:3:4:5:6:7:8',
    '::ffff:192.0.2.1', '2001:db8:0:0:1::1', '0:0:1::'];
  const py = 'import socket,sys,json\nout=[]\nfor a in json.load(sys.stdin):\n b=socket.inet_pton(socket.AF_INET6,a)\n out.append([list(b), socket.inet_ntop(socket.AF_INET6,b)])\nprint(json.dumps(out))';
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(addrs), encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    if (process.env['CI']) throw new Error(`python3 failed: ${r.error?.message ?? r.stderr}`);
    t.skip('python3 not available');
    return;
  }
  const host = JSON.parse(r.stdout) as [number[], string][];
  addrs.forEach((a, i) => {
    const [bytes, text] = host[i]!;
    assert.deepEqual([...ipv6Parse(a)], bytes, `parse ${a}: got ${[...ipv6Parse(a)]}, want ${bytes}`);
    // inet_ntop prints mapped addresses with a dotted tail; compare those through bytes only.
    if (!text.includes('.')) assert.equal(ipv6Format(Uint8Array.from(bytes)), text, `format ${a}: got ${ipv6Format(Uint8Array.from(bytes))}, want ${text}`);
  });
});

test('move_addr_to_kernel: length limits', () => {
  assert.equal(errno(() => addrFromUser(new Uint8Array(200), 129)), EINVAL);
  assert.equal(errno(() => addrFromUser(new Uint8Array(200), -1)), EINVAL);
  assert.equal(errno(() => addrFromUser(new Uint8Array(4), 16)), EFAULT);
  assert.equal(errno(() => addrFromUser('nope', 4)), EFAULT);
  assert.equal(addrFromUser(null, 0).length, 0);
  assert.equal(addrFromUser(new Uint8Array(128), 128).length, 128);
});

test('move_addr_to_user: truncates to *addrlen and reports the full length', () => {
  const k = encodeSockaddr({ family: AF_UNIX, path: '/abc' });
  const out = new Uint8Array(4);
  const len = new Int32Array([4]);
  addrToUser(k, out, len);
  assert.equal(len[0], k.length, `addrlen: got ${len[0]}, want ${k.length}`);
  assert.deepEqual([...out], [...k.subarray(0, 4)]);
  assert.equal(errno(() => addrToUser(k, out, new Int32Array([-1]))), EINVAL);
  assert.equal(errno(() => addrToUser(k, out, null)), EFAULT);
  const obj: Record<string, unknown> = { family: 0 };
  const box = { value: 0 };
  addrToUser(k, obj, box);
  assert.deepEqual(obj, { family: AF_UNIX, path: '/abc' });
  assert.equal(box.value, 2 + 4 + 1, `addrlen: got ${box.value}, want 7`);
});
