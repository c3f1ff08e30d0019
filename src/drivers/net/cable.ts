/*
 * The cable: two frame transports joined back to back, in one process (LKL's pipe backend,
 * without the pipe). A frame sent on one end is copied and delivered to the other end's receiver
 * on a later microtask, so the sender's call never re-enters the receiver; the ends may belong to
 * two kernels or to one. Nothing runs while no frame is in flight.
 *
 * It is a backend for netdevAdd (virtio_net.ts), like a host's TAP device, and imports nothing
 * at run time: the public API offers it (createCable) without loading the network stack, which
 * a kernel booted without networking never does.
 *
 * For tests the cable can be cut (frames vanish, as with a pulled plug) and given a filter that
 * drops chosen frames.
 */
import type { NetBackend } from '../../net/core/index.js';

export interface CableEnd extends NetBackend {
  /** Frames this end has sent and the other end has been handed. */
  readonly sent: number;
}

export interface Cable {
  a: CableEnd;
  b: CableEnd;
  /** false: frames in both directions are lost. */
  connected: boolean;
  /** Return true to drop a frame (from: 'a' or 'b'). */
  filter: ((frame: Uint8Array, from: 'a' | 'b') => boolean) | null;
}

export function createCable(): Cable {
  const rx: { a: ((f: Uint8Array) => void) | null; b: ((f: Uint8Array) => void) | null } = { a: null, b: null };
  const closed = { a: false, b: false };
  const counts = { a: 0, b: 0 };
  const cable: Cable = { connected: true, filter: null } as Cable;
  const end = (me: 'a' | 'b', peer: 'a' | 'b'): CableEnd => ({
    get sent() { return counts[me]; },
    send(frame: Uint8Array): void {
      if (closed[me] || !cable.connected) return;
      if (cable.filter && cable.filter(frame, me)) return;
      const copy = frame.slice();
      void Promise.resolve().then(() => {
        const r = rx[peer];
        if (!r || closed[peer] || !cable.connected) return;
        counts[me]++;
        r(copy);
      });
    },
    setReceiver(fn) { rx[me] = fn; },
    close() { closed[me] = true; rx[me] = null; },
  });
  cable.a = end('a', 'b');
  cable.b = end('b', 'a');
  return cable;
}
