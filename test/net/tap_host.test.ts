/*
 * Ground truth: our stack talks to the host's Linux stack over a TAP device (the Node host's TAP
 * backend, attached directly by default). The host pings us with ping(8), we ping the host through a ping
 * socket, TCP both ways against node:net (the host kernel's TCP) with 1 MiB each way, UDP echo
 * against node:dgram. Needs root (and python3, or socat); skips with a reason elsewhere (never on CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import * as nodeNet from 'node:net';
import * as dgram from 'node:dgram';
import { boot } from '../../src/lkl.js';
import { createNodeHost, createTapBackend } from '../../src/arch/node/index.js';
import { AF_INET, SOCK_STREAM, SOCK_DGRAM, IPPROTO_ICMP } from '../../src/uapi/socket.js';
import { sin, readN, writeAll, pattern, listenHostTcp } from './helpers.js';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canRun = process.getuid?.() === 0 && have('socat') && have('ping');
const skip = !canRun && !process.env.CI ? 'needs root, socat and ping (TAP device)' : false;

const HOST = '10.213.77.1', OURS = '10.213.77.2';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('TAP: ping, TCP and UDP with the host kernel', { skip, timeout: 60_000 }, async () => {
  const name = `lkt${process.pid % 100000}`;
  const tap = await createTapBackend({ name, addr: `${HOST}/24` });
  const k = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
  try {
    const ifi = k.netdevGetIfindex(k.netdevAdd(tap));
    assert.equal(await k.ifUp(1), 0);
    assert.equal(await k.ifUp(ifi), 0);
    assert.equal(await k.ifSetIpv4(ifi, OURS, 24), 0);

    // The host pings us.
    // (asynchronously: our kernel runs on this process's event loop and must answer meanwhile)
    const p = await promisify(execFile)('ping', ['-c', '2', '-W', '2', '-I', name, OURS], { encoding: 'utf8' })
      .catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `FAILED ${e.stdout}${e.stderr}` }));
    assert.match(p.stdout, /2 received/, `host ping: ${p.stdout}`);

    // We ping the host.
    const pfd = await k.sys.socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    const req = new Uint8Array(64); req[0] = 8; req[7] = 1;
    assert.equal(await k.sys.sendto(pfd, req, 64, 0, sin(HOST, 0), 16), 64);
    const rep = new Uint8Array(128);
    assert.equal(await k.sys.recvfrom(pfd, rep, 128, 0, null, null), 64);
    assert.equal(rep[0], 0, 'want an echo reply from the host');

    // TCP: we connect to the host's server, 1 MiB each way.
    const up = pattern(1 << 20, 21), down = pattern(1 << 20, 22);
    const { server, received } = await listenHostTcp(HOST, 5555, down);
    const cfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.connect(cfd, sin(HOST, 5555), 16), 0);
    const [got] = await Promise.all([readN(k.task(), cfd, down.length), (async () => {
      await writeAll(k, cfd, up);
      assert.equal(await k.sys.shutdown(cfd, 1), 0);
    })()]);
    assert.equal(sha(got), sha(down), 'bytes from the host TCP');
    assert.equal(await k.sys.read(cfd, new Uint8Array(1), 1), 0, 'want EOF after the host closed');
    await k.sys.close(cfd);
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sha(received()), sha(up), 'bytes the host TCP received');

    // TCP: the host connects to our server.
    const lfd = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    assert.equal(await k.sys.bind(lfd, sin(OURS, 6666), 16), 0);
    assert.equal(await k.sys.listen(lfd, 8), 0);
    const acc = k.task().sys.accept4(lfd, null, null, 0);
    const client = nodeNet.connect(6666, OURS);
    const hostChunks: Buffer[] = [];
    client.on('data', (d) => hostChunks.push(d));
    const closed = new Promise<void>((r) => client.on('end', () => r()));
    client.write(up);
    const sfd = await acc;
    assert.ok(sfd >= 0);
    const got2 = await readN(k, sfd, up.length);
    assert.equal(sha(got2), sha(up));
    await writeAll(k, sfd, down);
    await k.sys.close(sfd);
    await closed;
    client.destroy();
    assert.equal(sha(Buffer.concat(hostChunks)), sha(down));

    // UDP echo from the host.
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.bind(0, HOST, () => r()));
    u.on('message', (m, ri) => u.send(m, ri.port, ri.address));
    const ufd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    const msg = new TextEncoder().encode('udp to the host');
    assert.equal(await k.sys.sendto(ufd, msg, msg.length, 0, sin(HOST, u.address().port), 16), msg.length);
    const ub = new Uint8Array(100);
    const n = await k.sys.recvfrom(ufd, ub, 100, 0, null, null);
    assert.equal(new TextDecoder().decode(ub.subarray(0, n)), 'udp to the host');
    u.close();
  } finally {
    await k.halt();
    await tap.close?.();
    try { execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
});
