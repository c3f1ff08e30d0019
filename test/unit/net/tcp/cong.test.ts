import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CubicCong, RenoCong, makeCongestion, type CongestionState } from '../../../../src/net/tcp/index.js';

function state(cwnd: number, ssthresh: number): CongestionState & { t: number } {
  const s = { cwnd, ssthresh, cwndCnt: 0, srttNs: 0, t: 0, nowNs: () => s.t };
  return s;
}

test('reno: slow start doubles per window, avoidance adds one per window, loss halves', () => {
  const cc = new RenoCong(); const s = state(10, 20); cc.init(s);
  cc.congAvoid(s, 10);
  assert.equal(s.cwnd, 20, `got ${s.cwnd}, want 20`);
  cc.congAvoid(s, 20);
  assert.equal(s.cwnd, 21, `got ${s.cwnd}, want 21`);
  assert.equal(cc.ssthresh(s), 10);
});

test('cubic: β = 0.7 and the window returns to W_max after K = cbrt(W_max(1−β)/C) seconds', () => {
  const cc = new CubicCong(); const s = state(100, 1e9); cc.init(s);
  s.ssthresh = cc.ssthresh(s);
  assert.equal(s.ssthresh, 70, `got ssthresh ${s.ssthresh}, want 70`);
  s.cwnd = s.ssthresh;
  s.srttNs = 0;
  const K = Math.cbrt(100 * 0.3 / 0.4); // 4.217 s
  // Feed ACKs, one window per 100 ms RTT, until t = K. (With a short RTT the Reno-friendly
  // estimate, +0.53 segment per RTT, would dominate instead: RFC 9438 §4.3.)
  for (s.t = 1; s.t <= K * 1e9; s.t += 100e6) cc.congAvoid(s, s.cwnd);
  assert.ok(Math.abs(s.cwnd - 100) <= 2, `got cwnd ${s.cwnd} at t=K, want ≈ 100`);
  // Concave then convex: growth near W_max is slow, then accelerates.
  const at = s.cwnd;
  for (let i = 0; i < 10; i++) { s.t += 100e6; cc.congAvoid(s, s.cwnd); }
  assert.ok(s.cwnd > at && s.cwnd < at + 10, `got ${s.cwnd} one second after K, want a small rise`);
});

test('cubic fast convergence lowers W_max when losses come below the previous maximum', () => {
  const cc = new CubicCong(); const s = state(100, 1e9); cc.init(s);
  cc.ssthresh(s);
  s.cwnd = 80;
  assert.equal(cc.ssthresh(s), 56);
});

test('registry knows cubic and reno', () => {
  assert.equal(makeCongestion('cubic')!.name, 'cubic');
  assert.equal(makeCongestion('reno')!.name, 'reno');
  assert.equal(makeCongestion('bbr'), null);
});
