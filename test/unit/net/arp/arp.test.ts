/*
 * ARP on the fake host's virtual clock: resolution, REACHABLE -> STALE after the randomised
 * reachable time, DELAY -> PROBE -> REACHABLE on use, PROBE -> FAILED when the peer vanishes,
 * gratuitous ARP updating but not creating entries, the bounded queue of unresolved packets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpTable, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_FAILED, NUD_INCOMPLETE } from '../../../../src/net/arp/index.js';
import { ping } from '../../../../src/net/icmp/index.js';
import { udpSocket } from '../../../../src/net/udp/index.js';
import { SkBuff } from '../../../../src/net/core/index.js';
import { writeArp, writeEthHeader, ARPOP_REQUEST, ETH_P_ARP, MAC_BROADCAST, MAC_ZERO, macToString } from '../../../../src/net/header/index.js';
import { twoNodes, settle, haltAll, ip } from '../helpers.js';

const NAMES: Record<number, string> = { 1: 'INCOMPLETE', 2: 'REACHABLE', 4: 'STALE', 8: 'DELAY', 16: 'PROBE', 32: 'FAILED', 128: 'PERMANENT' };

test('neighbour states over time: REACHABLE, STALE, DELAY, PROBE, REACHABLE, then FAILED', async () => {
  const { a, b, cable, da, db } = await twoNodes({ autoAdvance: false });
  const tbl = arpTable(a.net);
  const state = () => NAMES[tbl.lookup(da, ip('10.0.0.2'))?.nudState ?? 0] ?? 'none';
  const arpFrames: { from: string; dst: string }[] = [];
  cable.filter = (f, from) => {
    if (f[12] === 0x08 && f[13] === 0x06) arpFrames.push({ from, dst: macToString(f.subarray(0, 6)) });
    return false;
  };
  assert.ok(await ping(a.net, ip('10.0.0.2')));
  assert.equal(state(), 'REACHABLE', `got ${state()} after a reply, want REACHABLE`);
  assert.equal(NAMES[arpTable(b.net).lookup(db, ip('10.0.0.1'))!.nudState], 'DELAY', 'b learned a from its request (STALE), then used it');
  const adv = async (s: number) => { a.host.advance(s * 1e9); await settle(); };
  await adv(14);
  assert.equal(state(), 'REACHABLE', 'still within base_reachable_time/2');
  await adv(32); // past 3/2 * 30 s in any case
  assert.equal(state(), 'STALE');
  arpFrames.length = 0;
  assert.ok(await ping(a.net, ip('10.0.0.2'), { seq: 2 }), 'a STALE entry is still used');
  assert.equal(state(), 'DELAY');
  assert.equal(arpFrames.length, 0, 'no ARP sent before delay_first_probe_time');
  await adv(5);
  assert.equal(state(), 'REACHABLE', `got ${state()}, want a unicast probe answered`);
  assert.deepEqual(arpFrames.filter((f) => f.from === 'a'), [{ from: 'a', dst: '02:00:00:00:00:02' }], 'one unicast probe');
  // The peer goes away: the next confirmation never comes.
  await adv(46);
  assert.equal(state(), 'STALE');
  cable.connected = false;
  arpFrames.length = 0;
  const lost = ping(a.net, ip('10.0.0.2'), { seq: 3, timeoutNs: 1e9 });
  assert.equal(state(), 'DELAY');
  await adv(5);
  assert.equal(state(), 'PROBE');
  await adv(1); await adv(1);
  assert.equal(state(), 'PROBE');
  await adv(1);
  assert.equal(state(), 'FAILED', `got ${state()} after 3 unanswered probes, want FAILED`);
  assert.equal(await lost, null, 'the echo sent into the void times out');
  assert.equal(arpFrames.filter((f) => f.from === 'a').length, 0, 'a cut cable carries nothing');
  // A FAILED entry that is used again starts over.
  cable.connected = true;
  const r = ping(a.net, ip('10.0.0.2'), { seq: 4, timeoutNs: 5e9 });
  assert.equal(state(), 'INCOMPLETE');
  assert.ok(await r, 'resolves again once the peer is back');
  assert.equal(state(), 'REACHABLE');
  await haltAll(a, b);
});

test('gratuitous ARP refreshes an existing entry and creates none', async () => {
  const { a, b, da } = await twoNodes({ autoAdvance: false });
  assert.ok(await ping(a.net, ip('10.0.0.2')));
  const garp = (sip: string, mac: Uint8Array) => {
    const skb = SkBuff.alloc(42, 0);
    const off = skb.put(42);
    writeEthHeader(skb.buf, off, MAC_BROADCAST, mac, ETH_P_ARP);
    writeArp(skb.buf, off + 14, ARPOP_REQUEST, mac, ip(sip), MAC_ZERO, ip(sip));
    a.net.netifRx(da, skb);
  };
  const moved = new Uint8Array([2, 0, 0, 0, 0, 0x22]);
  garp('10.0.0.2', moved);
  garp('10.0.0.77', new Uint8Array([2, 0, 0, 0, 0, 0x77]));
  await settle();
  const n = arpTable(a.net).lookup(da, ip('10.0.0.2'))!;
  assert.equal(macToString(n.mac), '02:00:00:00:00:22', 'existing entry takes the announced address');
  assert.equal(n.nudState, NUD_STALE);
  assert.equal(arpTable(a.net).lookup(da, ip('10.0.0.77')), undefined, 'arp_accept=0: no entry from gratuitous ARP');
  await haltAll(a, b);
});

test('packets waiting for resolution are bounded by unres_qlen_bytes, oldest dropped', async () => {
  const { a, b } = await twoNodes({ autoAdvance: false });
  const s = udpSocket(a.net);
  const one = a.net.allocSkb(8 + 100).buf.length + 20;
  a.net.sysctl.unres_qlen_bytes = 3 * one;
  for (let i = 0; i < 10; i++) s.sendto(new Uint8Array(100), ip('10.0.0.99'), 9);
  const tbl = arpTable(a.net);
  const n = tbl.entries.get(`2/${ip('10.0.0.99')}`)!;
  assert.equal(n.nudState, NUD_INCOMPLETE);
  assert.equal(n.queue.length, 3, `got ${n.queue.length} queued, want 3`);
  assert.equal(tbl.unresDiscards, 7);
  void NUD_REACHABLE; void NUD_DELAY; void NUD_PROBE; void NUD_FAILED;
  await haltAll(a, b);
});
