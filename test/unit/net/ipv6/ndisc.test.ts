/*
 * Neighbor Discovery states on the virtual clock (RFC 4861 7.3.2, Linux's timers):
 * INCOMPLETE -> REACHABLE on a solicited advertisement, STALE after the randomised reachable
 * time, DELAY on use, a unicast probe answered back to REACHABLE, PROBE -> FAILED when the peer
 * is gone (the waiting ping hears address unreachable), and unsolicited advertisements
 * updating an entry only as the override flag allows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ping6, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_FAILED, NUD_INCOMPLETE,
} from '../../../../src/net/ipv6/index.js';
import { SkBuff } from '../../../../src/net/core/index.js';
import { macToString } from '../../../../src/net/header/index.js';
import { haltAll } from '../helpers.js';
import { twoNodes6, a6, LL_A, LL_B, MAC_A, MAC_B, frame6, icmp6, settle } from './helpers6.js';

const NAMES: Record<number, string> = { 1: 'INCOMPLETE', 2: 'REACHABLE', 4: 'STALE', 8: 'DELAY', 16: 'PROBE', 32: 'FAILED', 128: 'PERMANENT' };
void NUD_REACHABLE; void NUD_STALE; void NUD_DELAY; void NUD_PROBE; void NUD_FAILED; void NUD_INCOMPLETE;

test('neighbour states: REACHABLE, STALE, DELAY, PROBE, REACHABLE, then FAILED with address unreachable', async () => {
  const { a, b, da, db, adv, cable } = await twoNodes6();
  await adv(2.5);
  const sb = a6(LL_B);
  const state = () => NAMES[a.v6.nd.lookup(da, sb)?.nudState ?? 0] ?? 'none';
  const ns: { from: string; dst: string }[] = [];
  cable.filter = (f, from) => {
    if (f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 && f[54] === 135) ns.push({ from, dst: macToString(f.subarray(0, 6)) });
    return false;
  };
  const p = ping6(a.net, sb, { oif: da.ifindex });
  assert.equal(state(), 'INCOMPLETE');
  assert.ok(await p);
  assert.equal(state(), 'REACHABLE', `got ${state()} after a solicited NA, want REACHABLE`);
  assert.equal(NAMES[b.v6.nd.lookup(db, a6(LL_A))!.nudState], 'DELAY', 'b learned a from the NS (STALE), then used it');
  await adv(14);
  assert.equal(state(), 'REACHABLE', 'still within base_reachable_time/2');
  await adv(32);
  assert.equal(state(), 'STALE');
  ns.length = 0;
  assert.ok(await ping6(a.net, sb, { oif: da.ifindex, seq: 2 }), 'a STALE entry is still used');
  assert.equal(state(), 'DELAY');
  assert.equal(ns.filter((x) => x.from === 'a').length, 0, 'no NS before delay_first_probe_time');
  await adv(5.2);
  assert.equal(state(), 'REACHABLE', `got ${state()}, want the unicast probe answered`);
  assert.deepEqual(ns.filter((x) => x.from === 'a'), [{ from: 'a', dst: '02:00:00:00:00:02' }], 'one unicast probe');
  await adv(46);
  assert.equal(state(), 'STALE');
  cable.connected = false;
  const lost = ping6(a.net, sb, { oif: da.ifindex, seq: 3, timeoutNs: 20e9 });
  await settle();
  assert.equal(state(), 'DELAY');
  await adv(5.05);
  assert.equal(state(), 'PROBE');
  await adv(2);
  assert.equal(state(), 'PROBE');
  await adv(1.1);
  assert.equal(state(), 'FAILED', `got ${state()} after 3 unanswered probes, want FAILED`);
  // The echo request itself went out in DELAY (into the cut cable): it just times out.
  cable.connected = true;
  const r = ping6(a.net, sb, { oif: da.ifindex, seq: 4, timeoutNs: 5e9 });
  assert.equal(state(), 'INCOMPLETE', 'a FAILED entry that is used again starts over');
  assert.ok(await r, 'resolves again once the peer is back');
  void lost;
  await haltAll(a, b);
});

test('unresolvable neighbour: 3 multicast solicitations 1 s apart, then ICMPv6 address unreachable to the waiting ping', async () => {
  const { a, b, da, adv, cable } = await twoNodes6();
  await adv(2.5);
  const ns: number[] = [];
  cable.filter = (f, from) => { if (from === 'a' && f[54] === 135 && f[20] === 58) ns.push(a.host.time()); return false; };
  const ghost = a6('fe80::dead');
  const p = ping6(a.net, ghost, { oif: da.ifindex, timeoutNs: 10e9 });
  await settle();
  await adv(3.2);
  const r = await p;
  assert.equal(ns.length, 3, `got ${ns.length} solicitations, want mcast_solicit = 3`);
  assert.ok(r && r.type === 1 && r.code === 3, `got ${JSON.stringify(r)}, want destination unreachable / address unreachable`);
  await haltAll(a, b);
});

test('unsolicited NA: override replaces the address, no override only makes a REACHABLE entry STALE', async () => {
  const { a, b, da, adv } = await twoNodes6();
  await adv(2.5);
  const sb = a6(LL_B), sa = a6(LL_A);
  assert.ok(await ping6(a.net, sb, { oif: da.ifindex }));
  const n = a.v6.nd.lookup(da, sb)!;
  const na = (flags: number, mac: Uint8Array) => {
    const body = new Uint8Array(16 + 8); body.set(sb, 0); body[16] = 2; body[17] = 1; body.set(mac, 18);
    const m = icmp6(136, 0, (flags << 24) >>> 0, body, sb, a6('ff02::1'));
    return SkBuff.fromBytes(frame6(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), MAC_B, sb, a6('ff02::1'), 58, m, 255));
  };
  const other = Uint8Array.of(2, 0, 0, 0, 0, 0x77);
  a.net.netifRx(da, na(0x00, other));
  await settle();
  assert.equal(NAMES[n.nudState], 'STALE', 'no override: REACHABLE -> STALE');
  assert.equal(macToString(n.mac), macToString(MAC_B), 'address kept');
  a.net.netifRx(da, na(0x20, other));
  await settle();
  assert.equal(macToString(n.mac), '02:00:00:00:00:77', 'override replaces it');
  assert.equal(NAMES[n.nudState], 'STALE');
  // A hop limit other than 255 is ignored (RFC 4861 7.1.2).
  const m = icmp6(136, 0, 0x20000000, (() => { const x = new Uint8Array(24); x.set(sb); x[16] = 2; x[17] = 1; x.set(MAC_B, 18); return x; })(), sb, sa);
  a.net.netifRx(da, SkBuff.fromBytes(frame6(MAC_A, MAC_B, sb, sa, 58, m, 254)));
  await settle();
  assert.equal(macToString(n.mac), '02:00:00:00:00:77', 'hop limit 254: ignored');
  await haltAll(a, b);
});
