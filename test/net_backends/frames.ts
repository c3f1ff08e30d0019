/*
 * Helpers for the network backend suites: hand-built Ethernet/ARP/IPv4/ICMP frames, a frame
 * collector with timeouts, and root/tool checks.
 */
import { execFileSync } from 'node:child_process';
import { inetChecksum } from '../../src/net/header/checksum.js';
import type { NetBackend } from '../../src/arch/host.js';

export const BROADCAST = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}
export function ip4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
export function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Ethernet header + payload, padded to the 60-byte minimum (FCS excluded). */
export function ethernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(Math.max(60, 14 + payload.length));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export function etherType(f: Uint8Array): number {
  return (f[12]! << 8) | f[13]!;
}

/** An Ethernet/IPv4 ARP packet (op 1 request, 2 reply). */
export function arp(op: number, sha: Uint8Array, spa: Uint8Array, tha: Uint8Array, tpa: Uint8Array): Uint8Array {
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  v.setUint16(0, 1); // Ethernet
  v.setUint16(2, 0x0800); // IPv4
  p[4] = 6;
  p[5] = 4;
  v.setUint16(6, op);
  p.set(sha, 8);
  p.set(spa, 14);
  p.set(tha, 18);
  p.set(tpa, 24);
  return p;
}

export interface ArpFields { op: number; sha: Uint8Array; spa: Uint8Array; tha: Uint8Array; tpa: Uint8Array }

export function parseArp(f: Uint8Array): ArpFields | null {
  if (f.length < 42 || etherType(f) !== 0x0806) return null;
  const p = f.subarray(14);
  return { op: (p[6]! << 8) | p[7]!, sha: p.slice(8, 14), spa: p.slice(14, 18), tha: p.slice(18, 24), tpa: p.slice(24, 28) };
}

/** An IPv4 packet with a correct header checksum. */
export function ipv4(src: Uint8Array, dst: Uint8Array, proto: number, payload: Uint8Array, id = 0x1234): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(4, id);
  v.setUint16(6, 0x4000); // DF
  p[8] = 64;
  p[9] = proto;
  p.set(src, 12);
  p.set(dst, 16);
  v.setUint16(10, inetChecksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

/** An ICMP message (type, code, 4 bytes rest-of-header, data) with its checksum. */
export function icmp(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  const v = new DataView(p.buffer);
  p[0] = type;
  p[1] = code;
  v.setUint32(4, rest);
  p.set(data, 8);
  v.setUint16(2, inetChecksum(p));
  return p;
}

export interface Ipv4Fields { src: Uint8Array; dst: Uint8Array; proto: number; header: Uint8Array; payload: Uint8Array }

export function parseIpv4(f: Uint8Array): Ipv4Fields | null {
  if (f.length < 34 || etherType(f) !== 0x0800) return null;
  const p = f.subarray(14);
  if (p[0]! >> 4 !== 4) return null;
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  return { src: p.slice(12, 16), dst: p.slice(16, 20), proto: p[9]!, header: p.slice(0, ihl), payload: p.slice(ihl, total) };
}

/**
 * Queues every frame a backend receives; `next(pred, ms)` resolves with the first (queued or
 * future) frame matching pred, or rejects after ms.
 */
export class Collector {
  readonly frames: Uint8Array[] = [];
  private waiters: { pred: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }[] = [];

  constructor(backend: NetBackend, private readonly onFrame?: (f: Uint8Array) => void) {
    backend.setReceiver((f) => this.push(f));
  }

  private push(f: Uint8Array): void {
    this.onFrame?.(f);
    const i = this.waiters.findIndex((w) => w.pred(f));
    if (i >= 0) { const [w] = this.waiters.splice(i, 1); w!.resolve(f); return; }
    this.frames.push(f);
    this.onQueue?.();
  }

  next(pred: (f: Uint8Array) => boolean = () => true, ms = 5000, what = 'a frame'): Promise<Uint8Array> {
    const i = this.frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (f: Uint8Array) => { clearTimeout(t); resolve(f); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}: got nothing matching, want it`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Wait until `n` frames are queued (any content), then take them. */
  async count(n: number, ms = 10000): Promise<Uint8Array[]> {
    if (this.frames.length < n) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => { this.onQueue = null; reject(new Error(`got ${this.frames.length} frames within ${ms} ms, want ${n}`)); }, ms);
        this.onQueue = () => { if (this.frames.length >= n) { clearTimeout(t); this.onQueue = null; resolve(); } };
      });
    }
    return this.frames.splice(0, n);
  }
  private onQueue: (() => void) | null = null;
}

export function haveTool(name: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Why a root-facility suite cannot run here, or null if it can. Under CI nothing skips: a missing
 * facility must fail the run, so null is returned and the test fails on its own.
 */
export function skipReason(tools: string[], needRoot: boolean): string | null {
  if (process.env['CI']) return null;
  if (needRoot && !isRoot()) return 'needs root (network namespaces, TAP devices)';
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length) return `needs ${missing.join(', ')} on PATH`;
  return null;
}

/** Deterministic pseudo-random frame of `len` bytes tagged with `seq` in its first 4 bytes. */
export function patternFrame(len: number, seq: number): Uint8Array {
  const f = new Uint8Array(len);
  let x = (seq * 2654435761 + len) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    f[i] = x & 0xff;
  }
  if (len >= 4) new DataView(f.buffer).setUint32(0, seq);
  return f;
}
