/*
 * The QEMU transports against QEMU itself. A guest-less qemu-system-x86_64 joins a stream netdev
 * and a dgram netdev to one hub, so QEMU relays every frame between the two: we send on our
 * stream backend and must receive the same bytes on our dgram backend, and the other way round.
 * Both QEMU syntaxes are covered: `-netdev stream/dgram` (QEMU as stream client of our listener)
 * and the legacy `-netdev socket,listen=/udp=` (QEMU as listener, we connect).
 *
 * Skips (even under CI: the Python reference peer in qemu_transports.test.ts covers the framing
 * there) when qemu-system-x86_64 is not installed (Debian: qemu-system-x86).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { createNetBackend, StreamBackend } from '../../src/arch/node/index.js';
import type { NetBackend } from '../../src/arch/host.js';
import { Collector, eq, haveTool, patternFrame } from './frames.js';

const QEMU = 'qemu-system-x86_64';
const skip = haveTool(QEMU) ? false : `needs ${QEMU} (Debian package qemu-system-x86)`;

const open: NetBackend[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const b of open) await b.close?.();
});
process.once('exit', () => { for (const p of procs) p.kill('SIGKILL'); });

async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

function startQemu(netdevs: string[]): ChildProcess {
  const args = ['-machine', 'none', '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'none'];
  for (const n of netdevs) args.push('-netdev', n);
  const p = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  p.once('exit', (code) => { if (code) console.error(`qemu exited ${code}: ${err}`); });
  procs.push(p);
  return p;
}

/** Frames of every interesting size through QEMU's hub both ways, compared byte for byte. */
async function relay(stream: NetBackend, dg: NetBackend): Promise<void> {
  const cs = new Collector(stream);
  const cd = new Collector(dg);
  const sizes = [64, 1514, 60, 9014, 333];
  const n = 100;
  const toD: Uint8Array[] = [];
  const toS: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const f = patternFrame(sizes[i % sizes.length]!, i);
    toD.push(f);
    await stream.tx(f);
    // UDP between QEMU and us drops bursts the receiver cannot absorb: keep a small window.
    if (i % 10 === 9) await cd.count(10).then((g) => g.forEach((x, k) => assert.ok(eq(x, toD[i - 9 + k]!),
      `stream->qemu->dgram frame ${i - 9 + k}: got ${x.length} bytes, want ${toD[i - 9 + k]!.length} intact and in order`)));
  }
  for (let i = 0; i < n; i++) {
    const f = patternFrame(sizes[i % sizes.length]!, 5000 + i);
    toS.push(f);
    await dg.tx(f);
    if (i % 10 === 9) await cs.count(10).then((g) => g.forEach((x, k) => assert.ok(eq(x, toS[i - 9 + k]!),
      `dgram->qemu->stream frame ${i - 9 + k}: got ${x.length} bytes, want ${toS[i - 9 + k]!.length} intact and in order`)));
  }
}

describe('QEMU as the oracle', { skip }, () => {
  it('-netdev stream (QEMU connects to our listener) <-> -netdev dgram', async () => {
    const srv = await createNetBackend('qemu-stream:listen=127.0.0.1:0') as StreamBackend;
    open.push(srv);
    const sport = (srv.localAddress as { port: number }).port;
    const qport = await freePort('udp');
    const ourPort = await freePort('udp');
    const dg2 = await createNetBackend(`qemu-dgram:local=127.0.0.1:${ourPort},remote=127.0.0.1:${qport}`);
    open.push(dg2);
    startQemu([
      `stream,id=s0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${sport}`,
      `dgram,id=d0,local.type=inet,local.host=127.0.0.1,local.port=${qport},remote.type=inet,remote.host=127.0.0.1,remote.port=${ourPort}`,
      'hubport,id=h0,hubid=0,netdev=s0',
      'hubport,id=h1,hubid=0,netdev=d0',
    ]);
    await srv.waitConnected();
    await relay(srv, dg2);
  });

  it('-netdev socket,listen= (we connect) <-> -netdev socket,udp=', async () => {
    const sport = await freePort('tcp');
    const qport = await freePort('udp');
    const ourPort = await freePort('udp');
    const dg = await createNetBackend(`qemu-dgram:local=127.0.0.1:${ourPort},remote=127.0.0.1:${qport}`);
    open.push(dg);
    startQemu([
      `socket,id=s0,listen=127.0.0.1:${sport}`,
      `socket,id=d0,udp=127.0.0.1:${ourPort},localaddr=127.0.0.1:${qport}`,
      'hubport,id=h0,hubid=0,netdev=s0',
      'hubport,id=h1,hubid=0,netdev=d0',
    ]);
    // QEMU needs a moment to listen: connect with retries.
    const cli = await createNetBackend(`qemu-stream:connect=127.0.0.1:${sport},reconnect-ms=50`) as StreamBackend;
    open.push(cli);
    await cli.waitConnected();
    await relay(cli, dg);
  });
});
