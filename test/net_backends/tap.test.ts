/*
 * The TAP backend against the host kernel. We make a persistent TAP device, attach our backend
 * to it (socat relay), move the device into a fresh network namespace and give it 10.213.x.1/24
 * there. Then we play a made-up host 10.213.x.2 with a made-up MAC on the other end of the cable,
 * building every frame by hand, and the host kernel is the oracle:
 *   - an ARP request for .1 must draw an ARP reply from the device's MAC, addressed to our MAC;
 *   - an ICMP echo request to .1 must draw an echo reply with our id, sequence and data, and
 *     valid IPv4 and ICMP checksums;
 *   - `ping` run in the namespace must reach us (our tiny responder answers ARP and echo), which
 *     checks the host-to-us direction with the kernel's own tool judging the replies.
 *
 * Needs root (or CAP_NET_ADMIN), ip (iproute2), socat and ping; skips with a reason otherwise,
 * except under CI where it must run. Namespaces, devices and socat are cleaned up by after() and,
 * should the process die early, by an exit handler.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createNetBackend, TapBackend } from '../../src/arch/node/index.js';
import { inetChecksum } from '../../src/net/header/checksum.js';
import {
  arp, BROADCAST, Collector, eq, ethernet, etherType, hex, icmp, ip4, ipv4, mac, parseArp, parseIpv4, skipReason,
} from './frames.js';

const execFileAsync = promisify(execFile);
const skip = skipReason(['ip', 'socat', 'ping'], true);
if (skip) console.log(`tap.test: skipped: ${skip}`);

const tag = process.pid % 100000;
const NS = `lklnb${tag}`;
const DEV = `lkltap${tag}`;
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
function cleanup(): void {
  quiet('ip', 'netns', 'del', NS); // destroys the device too once it lives there
  quiet('ip', 'link', 'del', DEV);
}

describe('TAP backend with the host kernel as oracle', { skip: skip ?? false }, () => {
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
    tap = await createNetBackend(`tap:${DEV}`) as TapBackend;
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

  it('reports the device MTU and a live helper', () => {
    assert.equal(tap.mtu, 1500);
    assert.ok(tap.helperPid > 0, `socat pid: got ${tap.helperPid}, want > 0`);
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

  it('uses no CPU while the cable is idle', async () => {
    answering = false;
    await new Promise((r) => setTimeout(r, 100));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 1000));
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    assert.ok(ms < 100, `CPU over 1 s idle: got ${ms.toFixed(1)} ms, want well under 100 ms`);
    // socat too: its CPU time (utime+stime in clock ticks) should not grow while idle.
    const ticks = () => { const f = sh('cat', `/proc/${tap.helperPid}/stat`).split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); };
    const t0 = ticks();
    await new Promise((r) => setTimeout(r, 1000));
    const dt = ticks() - t0;
    assert.ok(dt <= 5, `socat CPU over 1 s idle: got ${dt} ticks, want about 0`);
  });

  it('close() stops socat and leaves the persistent device in place', async () => {
    const pid = tap.helperPid;
    await tap.close();
    let alive = true;
    try { process.kill(pid, 0); } catch { alive = false; }
    assert.equal(alive, false, `socat ${pid}: got still running, want gone`);
    const link = JSON.parse(sh('ip', '-j', '-n', NS, 'link', 'show', DEV)) as { flags: string[] }[];
    assert.ok(!link[0]!.flags.includes('LOWER_UP'), `device flags: got ${link[0]!.flags.join(',')}, want no LOWER_UP after close`);
  });
});

describe('TAP backend lifetime', { skip: skip ?? false }, () => {
  const NEW = `lkltapn${tag}`;
  after(() => { quiet('ip', 'link', 'del', NEW); quiet('ip', 'link', 'del', `lkltapk${tag}`); });

  it('creates a transient device when none exists, gone after close', async () => {
    const t = await createNetBackend(`tap:${NEW},up=0`) as TapBackend;
    try {
      const link = JSON.parse(sh('ip', '-j', 'link', 'show', NEW)) as { flags: string[] }[];
      assert.ok(!link[0]!.flags.includes('UP'), `flags with up=0: got ${link[0]!.flags.join(',')}, want no UP`);
    } finally {
      await t.close();
    }
    let exists = true;
    try { sh('ip', 'link', 'show', NEW); } catch { exists = false; }
    assert.equal(exists, false, `device ${NEW}: got present after close, want gone`);
  });

  it('addr= gives a new device its address (run inside a scratch namespace)', async () => {
    const ns2 = `lklnb2${tag}`;
    quiet('ip', 'netns', 'del', ns2);
    process.once('exit', () => quiet('ip', 'netns', 'del', ns2));
    sh('ip', 'netns', 'add', ns2);
    try {
      sh('ip', '-n', ns2, 'link', 'set', 'lo', 'up'); // the socat relay runs over this loopback
      const url = new URL('../../src/arch/node/index.js', import.meta.url).href;
      const code = `const { createNetBackend } = await import(${JSON.stringify(url)});
        const { execFileSync } = await import('node:child_process');
        const t = await createNetBackend('tap:atap0,addr=10.9.9.1/24');
        console.log(execFileSync('ip', ['-j', 'addr', 'show', 'atap0'], { encoding: 'utf8' }));
        await t.close();`;
      const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns2, process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
      const info = JSON.parse(stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[];
      const v4 = info[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      assert.deepEqual(v4, ['10.9.9.1/24'], `addresses: got ${v4.join(' ')}, want 10.9.9.1/24`);
    } finally {
      quiet('ip', 'netns', 'del', ns2);
    }
  });

  it('rejects with the reason when the device cannot be attached', async () => {
    await assert.rejects(createNetBackend('tap:lo'), (e: Error) => /socat exited/.test(e.message),
      'attaching to lo: got success, want socat failure');
  });

  it('socat dies with its parent even when the parent is killed outright', async () => {
    const dev = `lkltapk${tag}`;
    const url = new URL('../../src/arch/node/index.js', import.meta.url).href;
    const code = `const { createNetBackend } = await import(${JSON.stringify(url)});
      const t = await createNetBackend('tap:${dev},up=0'); console.log(t.helperPid); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('exit', (c) => reject(new Error(`helper script exited ${c}`)));
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    assert.ok(pid > 0);
    child.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try { process.kill(pid, 0); } catch { alive = false; }
    }
    assert.equal(alive, false, `socat ${pid} after its parent was SIGKILLed: got still running, want gone`);
  });
});
