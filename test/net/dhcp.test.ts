/*
 * Ground truth for IP-Config's DHCP client: a real DHCP server, dnsmasq, in a network namespace
 * on the host side of a TAP device, and our kernel booted with ip=dhcp and the TAP device as a
 * boot-time NIC (boot({ netdevs })). What we configured is compared with what dnsmasq says it
 * leased (its lease file) and with the options it was told to hand out; the host then pings the
 * leased address. Second, `lkl net-test -b tap -d` runs inside the namespace against its own
 * dnsmasq and pings the host.
 *
 * The TAP device is opened by this process in the root namespace and then moved into the test's
 * namespace (a TAP device keeps its open file across the move), so dnsmasq and ping see only
 * that namespace's link. Needs root, dnsmasq (Debian: dnsmasq-base), ping and ip; skips with a
 * reason elsewhere, never under CI. Addresses are TEST-NET-3 (203.0.113.0/24), inside the namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { boot, type LklKernel } from '../../src/lkl.js';
import { createNodeHost, createTapBackend } from '../../src/arch/node/index.js';
import { netOf } from '../../src/net/core/index.js';
import { procNetPnp } from '../../src/net/ipv4/index.js';
import { AF_INET, SOCK_DGRAM } from '../../src/uapi/socket.js';
import { IFREQ_SIZE, IFR_UNION_OFFSET, SIOCGIFADDR, SIOCGIFNETMASK } from '../../src/uapi/if.js';
import { startNetTest, assertNetTestOk, caseLog } from '../net_suite/helpers.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canRun = process.getuid?.() === 0 && have('dnsmasq') && have('ping') && have('ip');
const skip = !canRun && !process.env.CI ? 'needs root, dnsmasq (dnsmasq-base), ping and ip (netns + TAP device)' : false;

const HOST = '203.0.113.1';
const RANGE = ['203.0.113.50', '203.0.113.60'];
const DNS = ['203.0.113.53', '203.0.113.54'];
const DOMAIN = 'lkl.test';
const MAC = '00:01:00:00:00:ab';
const execFileP = promisify(execFile);

interface Dnsmasq { proc: ChildProcess; log: () => string; leases: () => string; stop: () => Promise<void> }

/** dnsmasq as a DHCP server only (no DNS), in the namespace, on one interface; resolves once it serves. */
async function startDnsmasq(ns: string, iface: string, leaseFile: string): Promise<Dnsmasq> {
  fs.writeFileSync(leaseFile, '');
  const proc = spawn('ip', ['netns', 'exec', ns, 'dnsmasq', '--keep-in-foreground', '--log-facility=-', '--conf-file=/dev/null',
    `--interface=${iface}`, '--bind-interfaces', '--port=0', '--no-resolv', '--no-hosts', '--user=root', '--no-ping',
    '--log-dhcp', `--dhcp-leasefile=${leaseFile}`, '--pid-file=', `--dhcp-range=${RANGE[0]},${RANGE[1]},255.255.255.0,1h`,
    `--dhcp-option=option:router,${HOST}`, `--dhcp-option=option:dns-server,${DNS.join(',')}`,
    `--dhcp-option=option:domain-name,${DOMAIN}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dnsmasq did not start:\n${log}`)), 10_000);
    const on = (d: Buffer) => { log += d.toString(); if (/DHCP, IP range/.test(log)) { clearTimeout(timer); resolve(); } };
    proc.stdout!.on('data', on); proc.stderr!.on('data', on);
    proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`dnsmasq exited (${c}):\n${log}`)); });
  });
  await ready;
  return {
    proc,
    log: () => log,
    leases: () => fs.readFileSync(leaseFile, 'utf8'),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    },
  };
}

/** The address dnsmasq leased to `mac` ("expiry mac ip name clientid" lines). */
async function leasedTo(d: Dnsmasq, mac: string): Promise<string | null> {
  for (let i = 0; i < 50; i++) {
    const line = d.leases().split('\n').find((l) => l.split(' ')[1] === mac);
    if (line) return line.split(' ')[2]!;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function ifaddr(k: LklKernel, cmd: number): Promise<string> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(new TextEncoder().encode('eth0'));
  const r = await k.sys.ioctl(fd, cmd, ifr);
  await k.sys.close(fd);
  return r < 0 ? `errno ${-r}` : [...ifr.subarray(IFR_UNION_OFFSET + 4, IFR_UNION_OFFSET + 8)].join('.');
}

/** Little-endian hex of /proc/net/route. */
const routeHex = (a: string) => a.split('.').reverse().map((x) => Number(x).toString(16).padStart(2, '0')).join('').toUpperCase();

async function nsExec(ns: string, cmd: string[]): Promise<string> {
  try {
    return (await execFileP('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 20_000 })).stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    return `failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`;
  }
}

function withNamespace(tag: string) {
  const id = process.pid % 100000;
  const ns = `lkl${tag}${id}`, tap = `lkl${tag}${id}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const leaseFile = path.join(os.tmpdir(), `lkl-dhcp-${tag}-${id}.leases`);
  const cleanup = () => {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
    try { execFileSync('ip', ['link', 'del', tap], { stdio: 'ignore' }); } catch { /* went with the namespace */ }
    fs.rmSync(leaseFile, { force: true });
  };
  return { ns, tap, ip, leaseFile, cleanup };
}

test('ip=dhcp against dnsmasq over TAP: the leased address, mask, gateway and DNS; the host pings us', { skip, timeout: 60_000 }, async () => {
  const { ns, tap, ip, leaseFile, cleanup } = withNamespace('dh');
  execFileSync('ip', ['netns', 'add', ns]);
  let dm: Dnsmasq | null = null;
  let k: LklKernel | null = null;
  let nd: Awaited<ReturnType<typeof createTapBackend>> | null = null;
  const console: string[] = [];
  try {
    nd = await createTapBackend({ name: tap });
    execFileSync('ip', ['link', 'set', tap, 'netns', ns]);
    ip('link', 'set', 'lo', 'up');
    ip('addr', 'add', `${HOST}/24`, 'dev', tap);
    ip('link', 'set', tap, 'up');
    dm = await startDnsmasq(ns, tap, leaseFile);

    k = await boot({
      cmdline: 'mem=32M ip=dhcp', host: createNodeHost({ print: (s) => { console.push(s); } }),
      netdevs: [{ backend: nd, mac: Uint8Array.from(MAC.split(':'), (h) => parseInt(h, 16)) }],
    });
    const log = k.dmesg();
    const leased = await leasedTo(dm, MAC);
    assert.ok(leased, `dnsmasq leased nothing to ${MAC}; its log:\n${dm.log()}\nour log:\n${log}`);
    assert.match(log, /Sending DHCP requests \.+(,\.*)*, OK/);
    assert.ok(log.includes(`IP-Config: Got DHCP answer from ${HOST}, my address is ${leased}`), `want the answer line for ${leased}:\n${log}`);
    assert.ok(log.includes(`     device=eth0, hwaddr=${MAC}, ipaddr=${leased}, mask=255.255.255.0, gw=${HOST}`), log);
    assert.ok(log.includes(`     host=${leased}, domain=${DOMAIN}, nis-domain=(none)`), log);
    assert.ok(log.includes(`     nameserver0=${DNS[0]}, nameserver1=${DNS[1]}`), log);
    assert.ok(console.some((l) => l.includes('IP-Config: Complete:')), 'the Complete block reaches the console');

    assert.equal(await ifaddr(k, SIOCGIFADDR), leased);
    assert.equal(await ifaddr(k, SIOCGIFNETMASK), '255.255.255.0');
    await k.mountFs('proc');
    const route = new TextDecoder().decode(await k.fs.readFile('/proc/net/route'));
    assert.match(route, new RegExp(`^eth0\\t00000000\\t${routeHex(HOST)}\\t0003\\t`, 'm'), `want default via ${HOST}:\n${route}`);
    assert.match(route, new RegExp(`^eth0\\t${routeHex('203.0.113.0')}\\t00000000\\t0001\\t.*\\t${routeHex('255.255.255.0')}\\t`, 'm'), route);
    const pnp = procNetPnp(netOf(k.k));
    assert.match(pnp, new RegExp(`^#PROTO: DHCP\\ndomain ${DOMAIN}\\nnameserver ${DNS[0]}\\nnameserver ${DNS[1]}\\n`), pnp);

    // The host reaches the leased address (ping runs asynchronously: our kernel answers meanwhile).
    const p = await nsExec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', leased]);
    assert.match(p, /3 packets transmitted, 3 received/, `host ping of ${leased}: got\n${p}`);
    // And dnsmasq saw the whole exchange from our MAC.
    for (const m of ['DHCPDISCOVER', 'DHCPOFFER', 'DHCPREQUEST', 'DHCPACK']) {
      assert.match(dm.log(), new RegExp(`${m}\\(${tap}\\) .*${MAC}`), `dnsmasq log lacks ${m}:\n${dm.log()}`);
    }
  } finally {
    if (k) await k.halt(); else await nd?.close?.();
    await dm?.stop();
    cleanup();
  }
});

test('net-test -b tap -d: boots with ip=dhcp, skips the static cases, pings the host', { skip, timeout: 60_000 }, async () => {
  const { ns, tap, ip, leaseFile, cleanup } = withNamespace('dn');
  execFileSync('ip', ['netns', 'add', ns]);
  let dm: Dnsmasq | null = null;
  let run: ReturnType<typeof startNetTest> | null = null;
  try {
    ip('link', 'set', 'lo', 'up');
    ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
    ip('addr', 'add', `${HOST}/24`, 'dev', tap);
    ip('link', 'set', tap, 'up');
    dm = await startDnsmasq(ns, tap, leaseFile);
    run = startNetTest(['-b', 'tap', '-i', tap, '-d', '-D', HOST], ['ip', 'netns', 'exec', ns]);
    const timer = setTimeout(() => run?.kill(), 50_000);
    const r = await run.done;
    clearTimeout(timer);
    assertNetTestOk(r, ['nd_create', 'start_kernel', 'nd_add', 'nd_ifindex', 'if_up', 'icmp', 'nd_remove', 'stop_kernel']);
    assert.match(r.stdout, /^ok \d+ set_ipv4 # SKIP/m, `want set_ipv4 skipped under -d:\n${r.stdout}`);
    const leased = await leasedTo(dm, MAC);
    assert.ok(leased, `dnsmasq leased nothing:\n${dm.log()}`);
    assert.ok(caseLog(r.stdout, 'start_kernel').includes(`my address is ${leased}`), `start_kernel log:\n${caseLog(r.stdout, 'start_kernel')}`);
  } finally {
    run?.kill();
    if (run) await run.done;
    await dm?.stop();
    cleanup();
  }
});
