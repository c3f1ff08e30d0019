/*
 * net-test, TAP backend, against the host's Linux stack (LKL's net.sh "tap" case). The test makes
 * a network namespace with a TAP device in it, gives the device 198.51.100.1/24 and fe80::1, and
 * runs net-test inside the namespace attached to that device: our stack pings the host's stack
 * (IPv4, and IPv6 link-local), then, while net-test stays up (-S), the host pings us with ping(8),
 * 65 fast echoes in each family (`ping -c 65 -i 0.002`), all of which must come back. The
 * namespace (and the device with it) is removed in finally. Needs root, socat, ping and ip;
 * skips with a reason elsewhere, never under CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startNetTest, assertNetTestOk, linkLocalOf } from './helpers.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canRun = process.getuid?.() === 0 && have('socat') && have('ping') && have('ip');
const skip = !canRun && !process.env.CI ? 'needs root, socat, ping and ip (netns + TAP device)' : false;

const HOST = '198.51.100.1', OURS = '198.51.100.2', HOST_LL = 'fe80::1';
const OUR_MAC = '00:01:00:00:00:ab'; // LKL's net-test default
const execFileP = promisify(execFile);

/** ping(8) inside the namespace; resolves with its output whether it succeeded or not. */
async function nsPing(ns: string, args: string[]): Promise<string> {
  try {
    const r = await execFileP('ip', ['netns', 'exec', ns, 'ping', ...args], { encoding: 'utf8', timeout: 30_000 });
    return r.stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    return `ping failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`;
  }
}

test('net-test -b tap: our stack and the host stack ping each other (IPv4, IPv6)', { skip, timeout: 90_000 }, async () => {
  const id = process.pid % 100000;
  const ns = `lklnt${id}`, tap = `lkltap${id}`;
  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('ip', ['netns', 'add', ns]);
  let run: ReturnType<typeof startNetTest> | null = null;
  try {
    ip('link', 'set', 'lo', 'up'); // socat relays frames to net-test over 127.0.0.1 in the namespace
    ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
    ip('addr', 'add', `${HOST}/24`, 'dev', tap);
    ip('-6', 'addr', 'add', `${HOST_LL}/64`, 'dev', tap, 'nodad');
    ip('link', 'set', tap, 'up');

    run = startNetTest(['-b', 'tap', '-i', tap, '-I', OURS, '-n', '24',
      '-D', HOST, '-D', `${HOST_LL}%eth0`, '-S', '60'], ['ip', 'netns', 'exec', ns]);
    await run.waitFor(/^\* \d+ serve$/m, 40_000);

    // Our pings are done and we are serving: the host pings us, 65 fast echoes per family.
    const p4 = await nsPing(ns, ['-q', '-c', '65', '-i', '0.002', '-W', '2', OURS]);
    const p6 = await nsPing(ns, ['-6', '-q', '-c', '65', '-i', '0.002', '-W', '2', `${linkLocalOf(OUR_MAC)}%${tap}`]);
    run.child.kill('SIGTERM');
    const r = await run.done;
    assertNetTestOk(r, ['nd_create', 'nd_add', 'nd_ifindex', 'if_up', 'set_ipv4', 'icmp', 'icmpv6', 'serve', 'nd_remove', 'stop_kernel']);
    assert.match(p4, /65 packets transmitted, 65 received/, `host ping of ${OURS}: got\n${p4}\nwant 65 of 65 received`);
    assert.match(p6, /65 packets transmitted, 65 received/, `host ping -6 of our link-local: got\n${p6}\nwant 65 of 65 received`);
  } finally {
    run?.kill();
    if (run) await run.done;
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
    try { execFileSync('ip', ['link', 'del', tap], { stdio: 'ignore' }); } catch { /* went with the namespace */ }
  }
});
