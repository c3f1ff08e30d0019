/*
 * The TAP backend against the host kernel, in both of its modes: 'fd' (our own descriptor on
 * /dev/net/tun, attached by a python3 helper that exits) and 'socat' (the relay). For each, we
 * make a persistent TAP device, attach our backend to it, move the device into a fresh network namespace and give it 10.213.x.1/24
 * there. Then we play a made-up host 10.213.x.2 with a made-up MAC on the other end of the cable,
 * building every frame by hand, and the host kernel is the oracle:
 *   - an ARP request for .1 must draw an ARP reply from the device's MAC, addressed to our MAC;
 *   - an ICMP echo request to .1 must draw an echo reply with our id, sequence and data, and
 *     valid IPv4 and ICMP checksums;
 *   - `ping` run in the namespace must reach us (our tiny responder answers ARP and echo), which
 *     checks the host-to-us direction with the kernel's own tool judging the replies;
 *   - with offload (fd mode): our kernel's TCP and the host's exchange 2 MiB and 1 MiB intact,
 *     the host handing us TSO frames with checksums left for the backend to complete;
 *   - a burst of echo requests sent back to back (300; 60 through socat, which drops frames in
 *     longer bursts) must draw as many intact replies (frame
 *     boundaries survive both ways: no two frames merged into one write or one read).
 *
 * Needs root (or CAP_NET_ADMIN), ip (iproute2), socat, python3 and ping; skips with a reason otherwise,
 * except under CI where it must run. Namespaces, devices and socat are cleaned up by after() and,
 * should the process die early, by an exit handler.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createNetBackend, createTapBackend, type TapBackend } from '../../src/arch/node/index.js';
import type { TapFdBackend } from '../../src/arch/node/net_tap.js';
import { inetChecksum } from '../../src/net/header/checksum.js';
import {
  arp, BROADCAST, Collector, eq, ethernet, etherType, hex, icmp, ip4, ipv4, mac, parseArp, parseIpv4, skipReason,
} from './frames.js';

const execFileAsync = promisify(execFile);
const skip = skipReason(['ip', 'socat', 'ping', 'python3'], true);
if (skip) console.log(`tap.test: skipped: ${skip}`);

const tag = process.pid % 100000;
const NS0 = `lklnb${tag}`;
const DEV0 = `lkltap${tag}`;
const SUBNET = `10.213.${tag % 250}`;
const HOST_IP = `${SUBNET}.1`;
const OUR_IP = `${SUBNET}.2`;
const OUR_MAC = mac('02:6c:6b:6c:00:02');

function sh(...args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function quiet(...args: string[]): void {
  try { execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' }); } catch { /* already gone */ }
}

for (const mode of ['fd', 'socat'] as const) describe(`TAP backend (${mode}) with the host kernel as oracle`, { skip: skip ?? false }, () => {
  const NS = `${NS0}${mode[0]}`;
  const DEV = `${DEV0}${mode[0]}`;
  const cleanup = () => { quiet('ip', 'netns', 'del', NS); quiet('ip', 'link', 'del', DEV); };
  let tap: TapBackend;
  let col: Collector;
  let devMac: Uint8Array;
  let answering = false;

  /** While `answering`, act as host OUR_IP: answer ARP for it and echo requests to it. */
  function responder(f: Uint8Array): void {
    if (!answering || !tap) return;
    const a = parseArp(f);
    if (a && a.op === 1 && eq(a.tpa, ip4(OUR_IP))) {
      tap.tx(ethernet(a.sha, OUR_MAC, 0x0806, arp(2, OUR_MAC, ip4(OUR_IP), a.sha, a.spa)));
      return;
    }
    const p = parseIpv4(f);
    if (p && p.proto === 1 && eq(p.dst, ip4(OUR_IP)) && p.payload[0] === 8) {
      const req = p.payload;
      const rest = new DataView(req.buffer, req.byteOffset).getUint32(4);
      const reply = icmp(0, 0, rest, req.subarray(8));
      tap.tx(ethernet(f.subarray(6, 12), OUR_MAC, 0x0800, ipv4(ip4(OUR_IP), p.src, 1, reply, 0x4321)));
    }
  }

  before(async () => {
    cleanup();
    process.once('exit', cleanup);
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'tuntap', 'add', 'dev', DEV, 'mode', 'tap');
    tap = await createTapBackend({ name: DEV, mode });
    assert.equal(tap.mode, mode);
    col = new Collector(tap, responder);
    // The attached file keeps working after the device changes namespace.
    sh('ip', 'link', 'set', DEV, 'netns', NS);
    sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.${DEV}.disable_ipv6=1`);
    sh('ip', '-n', NS, 'addr', 'add', `${HOST_IP}/24`, 'dev', DEV);
    sh('ip', '-n', NS, 'link', 'set', DEV, 'up');
    const link = JSON.parse(sh('ip', '-j', '-n', NS, 'link', 'show', DEV)) as { address: string; flags: string[] }[];
    devMac = mac(link[0]!.address);
    assert.ok(link[0]!.flags.includes('LOWER_UP'), `device flags: got ${link[0]!.flags.join(',')}, want LOWER_UP (carrier: a reader attached)`);
  });

  after(async () => {
    await tap?.close();
    cleanup();
  });

  it('reports the device MTU and (socat only) a live helper', () => {
    assert.equal(tap.mtu, 1500);
    if (mode === 'socat') assert.ok(tap.helperPid > 0, `socat pid: got ${tap.helperPid}, want > 0`);
    else assert.equal(tap.helperPid, 0, `helper pid in fd mode: got ${tap.helperPid}, want 0 (no process left)`);
  });

  it('the host kernel answers our ARP request', async () => {
    tap.tx(ethernet(BROADCAST, OUR_MAC, 0x0806, arp(1, OUR_MAC, ip4(OUR_IP), new Uint8Array(6), ip4(HOST_IP))));
    const f = await col.next((x) => parseArp(x)?.op === 2, 5000, 'an ARP reply');
    const a = parseArp(f)!;
    assert.ok(eq(f.subarray(0, 6), OUR_MAC), `reply Ethernet dst: got ${hex(f.subarray(0, 6))}, want ${hex(OUR_MAC)}`);
    assert.ok(eq(f.subarray(6, 12), devMac), `reply Ethernet src: got ${hex(f.subarray(6, 12))}, want ${hex(devMac)}`);
    assert.ok(eq(a.sha, devMac), `ARP sender MAC: got ${hex(a.sha)}, want ${hex(devMac)}`);
    assert.deepEqual([Array.from(a.spa).join('.'), Array.from(a.tpa).join('.'), hex(a.tha)], [HOST_IP, OUR_IP, hex(OUR_MAC)]);
  });

  it('the host kernel answers our ICMP echo request', async () => {
    answering = true; // the kernel may ask who has OUR_IP before replying
    const data = Uint8Array.from({ length: 56 }, (_, i) => (i * 3 + 1) & 0xff);
    const rest = (0xbeef << 16) | 7; // identifier, sequence
    const req = icmp(8, 0, rest, data);
    tap.tx(ethernet(devMac, OUR_MAC, 0x0800, ipv4(ip4(OUR_IP), ip4(HOST_IP), 1, req)));
    const f = await col.next((x) => { const p = parseIpv4(x); return !!p && p.proto === 1 && p.payload[0] === 0; }, 5000, 'an ICMP echo reply');
    const p = parseIpv4(f)!;
    assert.equal(etherType(f), 0x0800);
    assert.ok(eq(f.subarray(0, 6), OUR_MAC), `reply Ethernet dst: got ${hex(f.subarray(0, 6))}, want ${hex(OUR_MAC)}`);
    assert.deepEqual([Array.from(p.src).join('.'), Array.from(p.dst).join('.')], [HOST_IP, OUR_IP]);
    assert.equal(inetChecksum(p.header), 0, 'IPv4 header checksum: got invalid, want valid');
    assert.equal(inetChecksum(p.payload), 0, 'ICMP checksum: got invalid, want valid');
    const v = new DataView(p.payload.buffer, p.payload.byteOffset);
    assert.deepEqual([p.payload[0], p.payload[1], v.getUint16(4), v.getUint16(6)], [0, 0, 0xbeef, 7]);
    assert.ok(eq(p.payload.subarray(8), data), 'echo reply data: got different bytes, want ours echoed');
  });

  it('ping in the namespace reaches us through the backend', async () => {
    answering = true;
    // Asynchronously: our responder runs on this event loop while ping waits.
    const { stdout: out } = await execFileAsync('ip', ['netns', 'exec', NS, 'ping', '-c', '3', '-i', '0.2', '-W', '2', OUR_IP], { encoding: 'utf8' });
    assert.match(out, /3 received/, `ping: got ${out.trim().split('\n').pop()}, want 3 received`);
  });

  it('a burst of back-to-back frames keeps its boundaries both ways', async () => {
    answering = true;
    col.frames.length = 0;
    // The relay loses frames in a 300-frame burst (UDP socket buffers on the way); a short burst
    // still checks its boundaries.
    const N = mode === 'fd' ? 300 : 60;
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    for (let seq = 0; seq < N; seq++) {
      tap.tx(ethernet(devMac, OUR_MAC, 0x0800, ipv4(ip4(OUR_IP), ip4(HOST_IP), 1, icmp(8, 0, (0x7a7a << 16) | seq, data), seq)));
    }
    const seen = new Set<number>();
    const deadline = Date.now() + 5000;
    while (seen.size < N && Date.now() < deadline) {
      const f = await col.next((x) => { const p = parseIpv4(x); return !!p && p.proto === 1 && p.payload[0] === 0; }, 5000, `echo reply ${seen.size + 1} of ${N}`);
      const p = parseIpv4(f)!;
      assert.equal(f.length, 14 + 20 + 8 + data.length, `reply frame length: got ${f.length}, want ${14 + 20 + 8 + data.length} (one frame per read)`);
      assert.equal(inetChecksum(p.payload), 0, 'ICMP checksum of a burst reply: got invalid, want valid');
      assert.ok(eq(p.payload.subarray(8), data), 'burst reply data: got different bytes, want ours echoed');
      seen.add(new DataView(p.payload.buffer, p.payload.byteOffset).getUint16(6));
    }
    assert.equal(seen.size, N, `distinct echo replies: got ${seen.size}, want ${N}`);
  });

  it('uses no CPU while the cable is idle', async () => {
    answering = false;
    await new Promise((r) => setTimeout(r, 100));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms < 100, `CPU over 1 s idle: got ${ms.toFixed(1)} ms, want well under 100 ms`);
    if (mode !== 'socat') return;
    // socat too: its CPU time (utime+stime in clock ticks) should not grow while idle.
    const ticks = () => { const f = sh('cat', `/proc/${tap.helperPid}/stat`).split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); };
    const t0 = ticks();
    await new Promise((r) => setTimeout(r, 1000));
    const dt = ticks() - t0;
    assert.ok(dt <= 5, `socat CPU over 1 s idle: got ${dt} ticks, want about 0`);
  });

  it('close() detaches (and stops socat), leaving the persistent device in place', async () => {
    const pid = tap.helperPid;
    await tap.close();
    if (mode === 'socat') {
      let alive = true;
      try { process.kill(pid, 0); } catch { alive = false; }
      assert.equal(alive, false, `socat ${pid}: got still running, want gone`);
    }
    const link = JSON.parse(sh('ip', '-j', '-n', NS, 'link', 'show', DEV)) as { flags: string[] }[];
    assert.ok(!link[0]!.flags.includes('LOWER_UP'), `device flags: got ${link[0]!.flags.join(',')}, want no LOWER_UP after close`);
  });
});

describe('TAP backend lifetime', { skip: skip ?? false }, () => {
  const NEW = `lkltapn${tag}`;
  const KIL = `lkltapk${tag}`;
  after(() => { for (const m of 'fs') { quiet('ip', 'link', 'del', NEW + m); quiet('ip', 'link', 'del', KIL + m); } });
  const exists = (dev: string) => { try { sh('ip', 'link', 'show', dev); return true; } catch { return false; } };

  for (const mode of ['fd', 'socat'] as const) {
    it(`${mode}: creates a transient device when none exists, gone after close`, async () => {
      const dev = NEW + mode[0];
      const t = await createTapBackend({ name: dev, up: false, mode });
      try {
        const link = JSON.parse(sh('ip', '-j', 'link', 'show', dev)) as { flags: string[] }[];
        assert.ok(!link[0]!.flags.includes('UP'), `flags with up=0: got ${link[0]!.flags.join(',')}, want no UP`);
      } finally {
        await t.close();
      }
      assert.equal(exists(dev), false, `device ${dev}: got present after close, want gone`);
    });

    it(`${mode}: rejects with the reason when the device cannot be attached`, async () => {
      const want = mode === 'socat' ? /socat exited/ : /attaching lo failed .*TUNSETIFF/;
      await assert.rejects(createTapBackend({ name: 'lo', mode }), (e: Error) => want.test(e.message),
        `attaching to lo: got success, want a failure matching ${want}`);
    });
  }

  it('the spec string picks fd mode by default; addr= and up give the new device its address', async () => {
    const ns2 = `lklnb2${tag}`;
    quiet('ip', 'netns', 'del', ns2);
    process.once('exit', () => quiet('ip', 'netns', 'del', ns2));
    sh('ip', 'netns', 'add', ns2);
    try {
      sh('ip', '-n', ns2, 'link', 'set', 'lo', 'up'); // the socat relay would run over this loopback
      const url = new URL('../../src/arch/node/index.js', import.meta.url).href;
      const code = `const { createNetBackend } = await import(${JSON.stringify(url)});
        const { execFileSync } = await import('node:child_process');
        const t = await createNetBackend('tap:atap0,addr=10.9.9.1/24');
        console.log(JSON.stringify({ mode: t.mode, ip: JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'atap0'], { encoding: 'utf8' })) }));
        await t.close();`;
      const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns2, process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
      const out = JSON.parse(stdout) as { mode: string; ip: { flags: string[]; addr_info: { family: string; local: string; prefixlen: number }[] }[] };
      assert.equal(out.mode, 'fd', `default mode: got ${out.mode}, want fd`);
      const v4 = out.ip[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      assert.deepEqual(v4, ['10.9.9.1/24'], `addresses: got ${v4.join(' ')}, want 10.9.9.1/24`);
      assert.ok(out.ip[0]!.flags.includes('UP'), `flags: got ${out.ip[0]!.flags.join(',')}, want UP`);
    } finally {
      quiet('ip', 'netns', 'del', ns2);
    }
  });

  /** Start a child that attaches `dev` in `mode`, SIGKILL it, and return what was left running. */
  async function killParent(mode: 'fd' | 'socat', dev: string): Promise<number> {
    const url = new URL('../../src/arch/node/index.js', import.meta.url).href;
    const code = `const { createTapBackend } = await import(${JSON.stringify(url)});
      const t = await createTapBackend({ name: '${dev}', up: false, mode: '${mode}' }); console.log(t.helperPid); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('exit', (c) => reject(new Error(`helper script exited ${c}`)));
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    assert.ok(exists(dev), `device ${dev} while attached: got absent, want present`);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    return pid;
  }

  it('socat: socat dies with its parent even when the parent is killed outright', async () => {
    const pid = await killParent('socat', KIL + 's');
    assert.ok(pid > 0);
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try { process.kill(pid, 0); } catch { alive = false; }
    }
    assert.equal(alive, false, `socat ${pid} after its parent was SIGKILLed: got still running, want gone`);
  });

  it('fd: a transient device vanishes when its process is killed outright', async () => {
    const dev = KIL + 'f';
    const pid = await killParent('fd', dev);
    assert.equal(pid, 0, `helper pid in fd mode: got ${pid}, want 0`);
    let present = true;
    for (let i = 0; i < 50 && present; i++) {
      await new Promise((r) => setTimeout(r, 50));
      present = exists(dev);
    }
    assert.equal(present, false, `device ${dev} after its owner was SIGKILLed: got present, want gone`);
  });
});

describe('TAP backend (fd + offload) carrying our kernel\'s TCP', { skip: skip ?? false }, () => {
  // The host's device stays at MTU 1500 with TSO and checksum offload; our NIC takes the 64 KiB
  // frames TSO makes. The host kernel's TCP is the oracle: the bytes must arrive intact both
  // ways, and at least some frames must have come as GSO frames with checksums left to us.
  const NS = `${NS0}o`, DEV = `${DEV0}o`;
  const HOST = '10.214.0.1', OURS = '10.214.0.2';
  const cleanup = () => { quiet('ip', 'netns', 'del', NS); quiet('ip', 'link', 'del', DEV); };
  after(cleanup);

  it('2 MiB host → ours and 1 MiB ours → host, byte for byte', { timeout: 60_000 }, async () => {
    cleanup();
    process.once('exit', cleanup);
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'tuntap', 'add', 'dev', DEV, 'mode', 'tap');
    const tap = await createTapBackend({ name: DEV, mode: 'fd', offload: true });
    const { boot } = await import('../../src/lkl.js');
    const { createNodeHost } = await import('../../src/arch/node/index.js');
    const { createHash } = await import('node:crypto');
    const k = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    try {
      assert.equal(tap.mtu, 65535, `offload medium mtu: got ${tap.mtu}, want 65535`);
      sh('ip', 'link', 'set', DEV, 'netns', NS);
      sh('ip', '-n', NS, 'addr', 'add', `${HOST}/24`, 'dev', DEV);
      sh('ip', '-n', NS, 'link', 'set', DEV, 'up');
      const ifi = k.netdevGetIfindex(k.netdevAdd(tap, { mtu: 65535 }));
      assert.equal(await k.ifUp(ifi), 0);
      assert.equal(await k.ifSetIpv4(ifi, OURS, 24), 0);
      const sin = (addr: string, port: number) => ({ family: 2, addr, port });
      const lfd = await k.sys.socket(2, 1, 0);
      assert.equal(await k.sys.bind(lfd, sin(OURS, 7001), 16), 0);
      assert.equal(await k.sys.listen(lfd, 4), 0);
      // The host side: send 2 MiB of a pattern, then read 1 MiB back and print its sha256.
      const py = `import hashlib, socket
c = socket.create_connection(('${OURS}', 7001))
c.sendall(bytes((i * 7 + (i >> 11)) & 255 for i in range(2 << 20)))
c.shutdown(socket.SHUT_WR)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())`;
      const host = execFileAsync('ip', ['netns', 'exec', NS, 'python3', '-c', py], { encoding: 'utf8' });
      const c = await k.sys.accept4(lfd, null, null, 0);
      assert.ok(c >= 0, `accept: got ${c}, want a descriptor`);
      const got = new Uint8Array(2 << 20);
      let n = 0;
      while (n < got.length) {
        const r = await k.sys.read(c, got.subarray(n), got.length - n);
        assert.ok(r >= 0, `read: got ${r}, want >= 0`);
        if (r === 0) break;
        n += r;
      }
      const want = Uint8Array.from({ length: 2 << 20 }, (_, i) => (i * 7 + (i >> 11)) & 255);
      assert.equal(n, want.length, `bytes from the host: got ${n}, want ${want.length}`);
      assert.equal(sha(got), sha(want), 'bytes from the host: got different content, want the pattern');
      const back = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 13) & 255);
      for (let off = 0; off < back.length;) {
        const w = await k.sys.write(c, back.subarray(off), back.length - off);
        assert.ok(w > 0, `write: got ${w}, want > 0`);
        off += w;
      }
      assert.equal(await k.sys.close(c), 0);
      const out = (await host).stdout.trim().split(' ');
      assert.deepEqual(out, [String(back.length), sha(back)], `host received: got ${out.join(' ')}, want ${back.length} ${sha(back)}`);
      const fdTap = tap as TapFdBackend;
      assert.ok(fdTap.rxGsoFrames > 0, `GSO frames from the host: got ${fdTap.rxGsoFrames}, want > 0`);
      assert.ok(fdTap.rxCsumCompleted > 0, `checksums completed: got ${fdTap.rxCsumCompleted}, want > 0`);
    } finally {
      await k.halt();
      await tap.close();
      cleanup();
    }
  });
});
