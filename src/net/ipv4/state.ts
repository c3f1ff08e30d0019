/*
 * Per-namespace IPv4 state and the ipv4 unit's registration.
 */
import { ETH_P_IP } from '../header/index.js';
import type { NetNamespace, RtResult, SkBuff } from '../core/index.js';
import { FragTable } from './ip_fragment.js';
import { ipRcv } from './ip_input.js';
import { ipQueueXmit, ipOutput } from './ip_output.js';

export class Ipv4State {
  readonly net: NetNamespace;
  readonly frags: FragTable;
  /** Next IP identification (Linux hashes per destination; a counter from a random start will do). */
  ipId: number;

  constructor(net: NetNamespace) {
    this.net = net;
    this.frags = new FragTable(net);
    this.ipId = net.random32() & 0xffff;
  }

  nextId(): number { const id = this.ipId; this.ipId = (this.ipId + 1) & 0xffff; return id; }
  output(skb: SkBuff, rt: RtResult, totLen: number): void { ipOutput(this, skb, rt, totLen); }
}

const states = new WeakMap<NetNamespace, Ipv4State>();

/** ip_init: registers ETH_P_IP input and the IPv4 output path. */
export function ipv4Init(net: NetNamespace): Ipv4State {
  let st = states.get(net);
  if (st) return st;
  const s = new Ipv4State(net);
  states.set(net, s);
  net.devAddPack(ETH_P_IP, (skb, dev) => ipRcv(s, skb, dev));
  net.ipv4 = { queueXmit: (skb, p) => ipQueueXmit(s, skb, p) };
  net.k.onShutdown(() => s.frags.clear());
  return s;
}

export function ipv4State(net: NetNamespace): Ipv4State | undefined { return states.get(net); }
