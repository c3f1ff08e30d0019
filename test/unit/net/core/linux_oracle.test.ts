/*
 * Our stack answers the frames Linux sent with the frames Linux answered: the UDP datagram to a
 * closed port gets the same ICMP port unreachable, the echo request the same echo reply (all
 * bytes equal but the IP identification and header checksum, which are per-host counters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkBuff } from '../../../../src/net/core/index.js';
import { inetChecksum } from '../../../../src/net/header/index.js';
import { UDP_TO_9999, ICMP_PORT_UNREACH, ECHO_REQUEST, ECHO_REPLY } from '../frames.js';
import { bootNode, settle, haltAll } from '../helpers.js';

async function answer(frame: Uint8Array): Promise<Uint8Array[]> {
  const n = await bootNode();
  const lo = n.net.loopback!;
  n.net.devOpen(lo);
  const sent: Uint8Array[] = [];
  const xmit = lo.ops.xmit;
  lo.ops = { ...lo.ops, xmit: (skb, d) => { sent.push(skb.bytes().slice()); xmit(skb, d); } };
  n.net.netifRx(lo, SkBuff.fromBytes(frame));
  await settle();
  await haltAll(n);
  return sent;
}

/** Over lo Linux leaves UDP checksums partial; a zero (no checksum) is what we can accept. */
function noUdpCsum(f: Uint8Array, at: number): Uint8Array { const c = f.slice(); c[at] = 0; c[at + 1] = 0; return c; }

function sameButIdAndCsum(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: got ${got.length} bytes, want ${want.length}`);
  const g = got.slice(), w = want.slice();
  for (const x of [g, w]) { x.fill(0, 18, 20); x.fill(0, 24, 26); }
  assert.deepEqual(Buffer.from(g).toString('hex'), Buffer.from(w).toString('hex'), what);
}

test('UDP to a closed port: same ICMP port unreachable as Linux', async () => {
  const sent = await answer(noUdpCsum(UDP_TO_9999, 40));
  assert.equal(sent.length, 1, `got ${sent.length} frames, want 1`);
  assert.equal(inetChecksum(sent[0]!, 34), 0, 'ICMP checksum must verify');
  const got = sent[0]!.slice(); got[36] = 0; got[37] = 0;
  const want = noUdpCsum(ICMP_PORT_UNREACH, 68); want[36] = 0; want[37] = 0;
  sameButIdAndCsum(got, want, 'port unreachable');
});

test('echo request: same echo reply as Linux', async () => {
  const sent = await answer(ECHO_REQUEST);
  assert.equal(sent.length, 1, `got ${sent.length} frames, want 1`);
  sameButIdAndCsum(sent[0]!, ECHO_REPLY, 'echo reply');
});
