/*
 * Ground truth: our IPv6 stack on the same Ethernet as the host's Linux kernel.
 *
 * A TAP device lives in a fresh network namespace; a small Python helper opens it (IFF_TAP |
 * IFF_NO_PI) and relays whole Ethernet frames over its stdin/stdout with a 2-byte length
 * prefix, which is our kernel's NetBackend. Our kernel runs on the real clock. Linux is the
 * oracle both ways:
 *   - its frames (DAD probes, router solicitations, MLD reports with hop-by-hop options,
 *     neighbor solicitations and advertisements, echo requests and replies, fragments of a
 *     4000-byte ping) pass our validation and are answered or parsed;
 *   - it accepts ours: its ping6 to our global and link-local addresses succeeds (so it took
 *     our NA and our echo replies, fragmented ones included), its neighbour table holds our MAC,
 *     and when it tries to take our address its DAD fails on our NA ("dadfailed"), while our
 *     DAD fails on its NA when we try to take its address.
 * Needs root, /dev/net/tun and ip(8); skips otherwise (never under CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync, existsSync, unlinkSync } from 'node:fs';
import { boot } from '../../../../src/lkl.js';
import { createNodeHost } from '../../../../src/arch/node/index.js';
import { etherDevice } from '../../../../src/net/link/index.js';
import type { NetBackend } from '../../../../src/net/core/index.js';
import { ipv6Init, ping6, procNetIfInet6, IFA_F_TENTATIVE, IFA_F_DADFAILED } from '../../../../src/net/ipv6/index.js';
import { parseIpv6Header, ipv6ToString } from '../../../../src/net/header/index.js';
import { netInit } from '../helpers.js';
import { a6 } from './helpers6.js';

function haveIp(): boolean { try { execFileSync('ip', ['-V'], { stdio: 'ignore' }); return true; } catch { return false; } }
const canRun = process.getuid?.() === 0 && existsSync('/dev/net/tun') && haveIp();
const skip = !canRun && !process.env.CI ? 'needs root, /dev/net/tun and ip(8)' : false;

const HELPER = `
import os, sys, fcntl, struct, threading, ctypes
ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL
TUNSETIFF = 0x400454ca
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', sys.argv[1].encode(), 0x0002 | 0x1000))
sys.stdout.buffer.write(b'RDY\\n'); sys.stdout.buffer.flush()
def up():
    while True:
        p = os.read(fd, 65536)
        sys.stdout.buffer.write(struct.pack('>H', len(p)) + p); sys.stdout.buffer.flush()
threading.Thread(target=up, daemon=True).start()
inp = sys.stdin.buffer
while True:
    h = inp.read(2)
    if len(h) < 2: break
    n = struct.unpack('>H', h)[0]
    os.write(fd, inp.read(n))
`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(50); }
  return pred();
}

interface Seen { icmpType: number; nh: number; src: string; dst: string; raw: Uint8Array }

test('IPv6 against the host Linux kernel over a TAP device', { skip, timeout: 60000 }, async () => {
  const ns = `lkl6o${process.pid % 10000}`;
  const tap = 'lkl6tap';
  const path = `/tmp/lkl_ipv6_tap_${process.pid}.py`;
  const inNs = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  // Anything that needs our kernel to answer must not block the event loop our kernel runs on.
  const inNsAsync = async (...args: string[]) => {
    try { return (await promisify(execFile)('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' })).stdout; }
    catch (e) { return String((e as { stdout?: string }).stdout ?? e); }
  };
  try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* none */ }
  execFileSync('ip', ['netns', 'add', ns]);
  writeFileSync(path, HELPER);
  const py: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'python3', path, tap], { stdio: ['pipe', 'pipe', 'inherit'] });
  let stopped = false;
  const seen: Seen[] = [];
  let receiver: ((f: Uint8Array) => void) | null = null;
  let buf = Buffer.alloc(0);
  let started = false;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  py.stdout!.on('data', (d: Buffer) => {
    if (stopped) return;
    buf = Buffer.concat([buf, d]);
    if (!started) {
      const i = buf.indexOf(10);
      if (i < 0) return;
      buf = buf.subarray(i + 1); started = true; ready();
    }
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (buf.length < 2 + len) break;
      const f = new Uint8Array(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (f.length >= 54 && f[12] === 0x86 && f[13] === 0xdd) {
        const h = parseIpv6Header(f, 14)!;
        let nh = h.nextHeader, pos = 54;
        if (nh === 0 && f.length >= 62) { nh = f[54]!; pos += (f[55]! + 1) * 8; }
        seen.push({ icmpType: nh === 58 ? f[pos] ?? -1 : -1, nh: h.nextHeader, src: ipv6ToString(h.saddr), dst: ipv6ToString(h.daddr), raw: f });
      }
      receiver?.(f);
    }
  });
  const sent: Uint8Array[] = [];
  const backend: NetBackend = {
    send(frame) { sent.push(frame.slice()); if (!stopped) py.stdin!.write(Buffer.concat([Buffer.from([frame.length >> 8, frame.length & 0xff]), Buffer.from(frame)])); },
    setReceiver(fn) { receiver = fn; },
  };
  const lkl = await boot({ cmdline: 'mem=32M quiet', host: createNodeHost({ print: null }) });
  try {
    await readyP;
    inNs('ip', 'link', 'set', 'lo', 'up');
    inNs('ip', 'link', 'set', tap, 'address', '02:00:00:00:00:aa');
    inNs('ip', 'link', 'set', tap, 'up');
    inNs('ip', '-6', 'addr', 'add', '2001:db8:99::1/64', 'dev', tap);
    const net = netInit(lkl.k);
    const v6 = ipv6Init(net);
    const dev = etherDevice(net, backend, { mac: new Uint8Array([2, 0, 0, 0, 0, 0xbb]) });
    net.devOpen(net.loopback!);
    net.devOpen(dev);
    v6.st.addrAdd(dev, a6('2001:db8:99::2'), 64);
    const ours = () => v6.st.addrsOf(dev).every((x) => !(x.flags & IFA_F_TENTATIVE));
    assert.ok(await until(ours, 5000), 'our DAD completes next to a real Linux');
    const hostReady = () => !/tentative/.test(inNs('ip', '-6', 'addr', 'show', 'dev', tap));
    assert.ok(await until(hostReady, 8000), `host addresses stay tentative: ${inNs('ip', '-6', 'addr', 'show', 'dev', tap)}`);

    // /proc/net/if_inet6: lo's line is identical; the link-local and global lines agree once
    // address, ifindex and name are masked.
    const theirs = inNs('cat', '/proc/net/if_inet6').split('\n').filter(Boolean);
    const mine = procNetIfInet6(net).split('\n').filter(Boolean);
    const lo = (l: string[]) => l.find((x) => x.startsWith('00000000000000000000000000000001'));
    assert.equal(lo(mine), lo(theirs), 'the ::1 line');
    const mask = (x: string | undefined) => (x ?? '').replace(/^\S{32} \S\S (\S\S \S\S \S\S) +\S+$/, '$1');
    assert.equal(mask(mine.find((x) => x.startsWith('fe80'))), mask(theirs.find((x) => x.startsWith('fe80'))), 'link-local: plen, scope, flags');
    assert.equal(mask(mine.find((x) => x.startsWith('20010db8'))), mask(theirs.find((x) => x.startsWith('20010db8'))), 'manual global: plen, scope, flags');
    assert.match(mine.find((x) => x.startsWith('fe80'))!, /^fe80000000000000000000fffe0000bb 02 40 20 80     eth0$/);

    // Linux's own frames went through our input: its DAD probes and MLD reports at least.
    assert.ok(seen.some((s) => s.icmpType === 135 && s.src === '::'), 'saw Linux DAD probes');

    // MLDv2: our join reports have Linux's shape — 33:33:00:00:00:16, hop limit 1, the same
    // hop-by-hop header (router alert + PadN), and a "change to exclude" record for the
    // solicited-node group, as Linux's own report for its solicited-node group has.
    const records = (f: Uint8Array) => {
      const out: string[] = [];
      const n = (f[62 + 6]! << 8) | f[62 + 7]!;
      for (let i = 0, r = 62 + 8; i < n && r + 20 <= f.length; i++) { out.push(`${f[r]}:${ipv6ToString(f.subarray(r + 4, r + 20))}`); r += 20 + 16 * ((f[r + 2]! << 8) | f[r + 3]!) + 4 * f[r + 1]!; }
      return out;
    };
    const theirMld = seen.filter((x) => x.icmpType === 143).map((x) => x.raw);
    const ourMld = sent.filter((f) => f[12] === 0x86 && f[13] === 0xdd && f[20] === 0 && f[62] === 143);
    assert.ok(theirMld.length && ourMld.length, `got ${theirMld.length} Linux and ${ourMld.length} of our MLD reports`);
    const hdr = (f: Uint8Array) => Buffer.from(f.subarray(0, 6)).toString('hex') + '/' + f[21] + '/' + Buffer.from(f.subarray(54, 62)).toString('hex');
    assert.equal(hdr(ourMld[0]!), hdr(theirMld[0]!), 'destination MAC / hop limit / hop-by-hop header');
    assert.ok(theirMld.some((f) => records(f).includes('4:ff02::1:ff00:aa')), `Linux reports ${theirMld.map(records).join(' | ')}`);
    assert.ok(ourMld.some((f) => records(f).includes('4:ff02::1:ff00:bb')), `we report ${ourMld.map(records).join(' | ')}`);

    // Host -> us: global, link-local, and a fragmented 4000-byte ping.
    const p1 = await inNsAsync('ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '2001:db8:99::2');
    assert.match(p1, /2 received/, `host ping6 to our global address: ${p1}`);
    const p2 = await inNsAsync('ping', '-6', '-c', '1', '-W', '2', `fe80::ff:fe00:bb%${tap}`);
    assert.match(p2, /1 received/, `host ping6 to our link-local address: ${p2}`);
    const p3 = await inNsAsync('ping', '-6', '-c', '1', '-W', '2', '-s', '4000', '2001:db8:99::2');
    assert.match(p3, /1 received/, `host 4000-byte ping6 (fragmented both ways): ${p3}`);
    assert.ok((net.mib.get('Ip6ReasmOKs') ?? 0) >= 1, 'we reassembled Linux fragments');
    const neigh = inNs('ip', '-6', 'neigh', 'show', 'dev', tap);
    assert.match(neigh, /2001:db8:99::2 lladdr 02:00:00:00:00:bb/, `host neighbour table: ${neigh}`);

    // Us -> host.
    const r1 = await ping6(net, a6('2001:db8:99::1'), { timeoutNs: 3e9 });
    assert.ok(r1 && r1.type === 129 && r1.intact, `got ${JSON.stringify(r1)}, want Linux's echo reply`);
    const r2 = await ping6(net, a6('fe80::ff:fe00:aa'), { oif: dev.ifindex, timeoutNs: 3e9, seq: 2 });
    assert.ok(r2 && r2.intact, 'link-local echo from Linux');
    const r3 = await ping6(net, a6('2001:db8:99::1'), { size: 4000, timeoutNs: 3e9, seq: 3 });
    assert.ok(r3 && r3.intact && r3.bytes === 4008, 'Linux reassembled our fragments and its fragmented reply reassembled here');
    assert.equal(r1.hopLimit, 64, 'Linux replies with hop limit 64');

    // Linux tries to take our address: our NA makes its DAD fail.
    inNs('ip', '-6', 'addr', 'add', '2001:db8:99::2/64', 'dev', tap);
    // "inet6 2001:db8:99::2/64 scope global tentative dadfailed" in ip(8)'s words.
    const hostFlags = () => inNs('ip', '-6', 'addr', 'show', 'dev', tap).split('inet6').find((x) => x.includes('2001:db8:99::2/64')) ?? '';
    assert.ok(await until(() => hostFlags().includes('dadfailed'), 5000), `got "${hostFlags().trim()}", want Linux's DAD to fail on our NA`);
    // We try to take Linux's address: its NA makes ours fail.
    const dup = v6.st.addrAdd(dev, a6('2001:db8:99::1'), 64);
    assert.ok(await until(() => (dup.flags & IFA_F_DADFAILED) !== 0, 5000), 'our DAD failed on Linux\'s NA');
    assert.match(lkl.dmesg(), /IPv6 duplicate address 2001:db8:99::1 used by 02:00:00:00:00:aa detected!/);
  } finally {
    stopped = true;
    py.kill();
    try { unlinkSync(path); } catch { /* gone */ }
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
    await lkl.halt();
  }
});
