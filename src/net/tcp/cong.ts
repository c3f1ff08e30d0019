/*
 * Congestion control, pluggable as in Linux (struct tcp_congestion_ops).
 *
 * The connection owns cwnd and ssthresh, counted in segments as Linux does. A module is told
 * about acknowledged segments (congAvoid) and asked for a new ssthresh when loss is detected;
 * the connection itself does loss recovery (fast retransmit, NewReno partial ACKs, RTO).
 *
 *  - reno: RFC 5681 slow start and additive increase; halve on loss.
 *  - cubic (default, as in Linux): RFC 9438. After a loss at W_max the window follows
 *    W(t) = C (t − K)^3 + W_max with K = cbrt(W_max (1 − β) / C), C = 0.4, β = 0.7, with fast
 *    convergence and a Reno-friendly lower bound. Time is measured from the start of the epoch
 *    (first ACK after recovery). Slow start is plain (no HyStart here).
 */

export interface CongestionState {
  cwnd: number;
  ssthresh: number;
  /** Fractional additive-increase counter (snd_cwnd_cnt). */
  cwndCnt: number;
  /** Smoothed RTT in ns, 0 before the first sample. */
  srttNs: number;
  nowNs(): number;
}

export interface CongestionOps {
  readonly name: string;
  init(tp: CongestionState): void;
  /** New ssthresh on loss (fast retransmit or RTO). */
  ssthresh(tp: CongestionState): number;
  /** Grow cwnd for `acked` newly acknowledged segments (not called in recovery). */
  congAvoid(tp: CongestionState, acked: number): void;
  /** The loss state was left by an RTO: restart the epoch. */
  onLoss?(tp: CongestionState): void;
}

export function slowStart(tp: CongestionState, acked: number): number {
  const cwnd = Math.min(tp.cwnd + acked, tp.ssthresh);
  acked -= cwnd - tp.cwnd;
  tp.cwnd = cwnd;
  return acked;
}

/** Additive increase: one segment per `w` acknowledged segments. */
export function congAvoidAi(tp: CongestionState, w: number, acked: number): void {
  if (tp.cwndCnt >= w) { tp.cwndCnt = 0; tp.cwnd++; }
  tp.cwndCnt += acked;
  if (tp.cwndCnt >= w) {
    const delta = Math.floor(tp.cwndCnt / w);
    tp.cwndCnt -= delta * w;
    tp.cwnd += delta;
  }
}

export class RenoCong implements CongestionOps {
  readonly name = 'reno';
  init(_tp: CongestionState): void {}
  ssthresh(tp: CongestionState): number { return Math.max(tp.cwnd >> 1, 2); }
  congAvoid(tp: CongestionState, acked: number): void {
    if (tp.cwnd < tp.ssthresh) { acked = slowStart(tp, acked); if (!acked) return; }
    congAvoidAi(tp, tp.cwnd, acked);
  }
}

const CUBIC_C = 0.4, CUBIC_BETA = 0.7;

export class CubicCong implements CongestionOps {
  readonly name = 'cubic';
  private wMax = 0;       // window before the last reduction
  private k = 0;          // seconds to reach wMax again
  private epochNs = 0;    // start of the current avoidance epoch, 0 = none
  private originPoint = 0;
  private wEst = 0;       // Reno-friendly estimate
  private ackCnt = 0;

  init(_tp: CongestionState): void { this.reset(); }
  private reset(): void { this.wMax = 0; this.k = 0; this.epochNs = 0; this.originPoint = 0; this.wEst = 0; this.ackCnt = 0; }

  ssthresh(tp: CongestionState): number {
    this.epochNs = 0;
    // Fast convergence (RFC 9438 §4.7): release bandwidth faster when W_max keeps shrinking.
    if (tp.cwnd < this.wMax) this.wMax = tp.cwnd * (1 + CUBIC_BETA) / 2;
    else this.wMax = tp.cwnd;
    return Math.max(Math.floor(tp.cwnd * CUBIC_BETA), 2);
  }

  onLoss(_tp: CongestionState): void { this.epochNs = 0; }

  congAvoid(tp: CongestionState, acked: number): void {
    if (tp.cwnd < tp.ssthresh) { acked = slowStart(tp, acked); if (!acked) return; }
    const now = tp.nowNs();
    if (this.epochNs === 0) {
      this.epochNs = now;
      this.ackCnt = acked;
      this.wEst = tp.cwnd;
      if (this.wMax <= tp.cwnd) { this.k = 0; this.originPoint = tp.cwnd; }
      else { this.k = Math.cbrt((this.wMax - tp.cwnd) / CUBIC_C); this.originPoint = this.wMax; }
    } else {
      this.ackCnt += acked;
    }
    // Target one RTT ahead (RFC 9438 §4.2).
    const t = (now - this.epochNs + tp.srttNs) / 1e9;
    const target = this.originPoint + CUBIC_C * Math.pow(t - this.k, 3);
    // Reno-friendly region (§4.3): W_est grows by α per RTT with α = 3(1−β)/(1+β).
    const alpha = 3 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
    this.wEst += alpha * acked / tp.cwnd;
    let cnt: number; // ACKed segments needed per cwnd increment
    const goal = Math.max(target, this.wEst);
    if (goal > tp.cwnd) cnt = tp.cwnd / (goal - tp.cwnd);
    else cnt = 100 * tp.cwnd;
    congAvoidAi(tp, Math.max(1, Math.floor(cnt)), acked);
  }
}

const registry = new Map<string, () => CongestionOps>([
  ['cubic', () => new CubicCong()],
  ['reno', () => new RenoCong()],
]);

/** Register a congestion-control module by name (tcp_register_congestion_control). */
export function registerCongestion(name: string, make: () => CongestionOps): void { registry.set(name, make); }
export function makeCongestion(name: string): CongestionOps | null { return registry.get(name)?.() ?? null; }
export function availableCongestion(): string[] { return [...registry.keys()]; }
