/*
 * QEMU's socket network transports on the Node host: the wire formats QEMU uses to connect a
 * guest NIC to another QEMU (or to anything that speaks them: another lkl-ts kernel, a test
 * harness, passt in stream mode), so a kernel here can share an Ethernet segment with them.
 *
 * Datagram (`-netdev dgram`, `-netdev socket,udp=...,localaddr=...`): one UDP datagram carries
 * exactly one frame, nothing else. The socket is bound to the local address and sends to the
 * remote one. Like QEMU we accept a datagram from any source. If no remote is given (an
 * extension; QEMU requires one) the backend answers whoever sent the last datagram, which lets it
 * play the passive side of a pair.
 *
 * Stream (`-netdev stream`, `-netdev socket,connect=|listen=`): a TCP or unix-domain byte stream
 * where each frame is preceded by its length as a 4-byte big-endian unsigned integer. QEMU refuses
 * a length larger than its receive buffer (NET_BUFSIZE, 4096 + 65536 bytes) and drops the
 * connection; so do we. A listener serves one peer at a time: QEMU stops accepting while a client
 * is attached and accepts the next one when it leaves; here later connections wait, paused, until
 * the current one closes. A client may reconnect after a delay when the connection fails or ends
 * (QEMU's reconnect=seconds / reconnect-ms=).
 *
 * Neither transport polls: Node wakes us only when the socket has data. A frame sent with no peer
 * attached is dropped, like a frame sent on an unplugged cable; a stream whose socket buffer is
 * full returns a promise (back-pressure) and beyond a hard limit drops, as a congested NIC does.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { NetBackend } from '../host.js';

/** QEMU's NET_BUFSIZE: the largest frame its stream reader accepts. */
export const QEMU_NET_BUFSIZE = 4096 + 65536;

/** Bytes queued in a stream socket beyond which tx drops instead of queueing. */
const STREAM_QUEUE_LIMIT = 4 << 20;
/** Datagrams handed to libuv but not yet sent beyond which tx drops. */
const DGRAM_INFLIGHT_LIMIT = 512;

export interface InetAddress {
  host: string;
  port: number;
}

/** A stream endpoint: TCP host:port or a unix socket path. */
export type StreamAddress = InetAddress | { path: string };

/** Options common to every backend: what the NIC on top should look like. */
export interface NetLinkOptions {
  mtu?: number;
  mac?: Uint8Array;
}

/** Common receive side: who gets frames, and dropping them while nobody does. */
export abstract class FrameBackend implements NetBackend {
  protected linkMtu: number;
  readonly mac?: Uint8Array;
  private receiver: ((frame: Uint8Array) => void) | null = null;
  protected closed = false;
  /** Frames received with no receiver installed. */
  rxDropped = 0;
  /** Frames tx discarded (no peer, congestion, closed). */
  txDropped = 0;

  constructor(opts: NetLinkOptions) {
    this.linkMtu = opts.mtu ?? 1500;
    if (opts.mac) this.mac = opts.mac;
  }

  get mtu(): number {
    return this.linkMtu;
  }

  setReceiver(rx: ((frame: Uint8Array) => void) | null): void {
    this.receiver = rx;
  }

  protected deliver(frame: Uint8Array): void {
    const rx = this.receiver;
    if (rx === null || this.closed || frame.length === 0) { this.rxDropped++; return; }
    rx(frame);
  }

  abstract tx(frame: Uint8Array): void | Promise<void>;
  abstract close(): Promise<void>;
}

/** A Node Buffer as a plain Uint8Array view of the same bytes (no copy). */
function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

// ---------------------------------------------------------------------------------------------
// Datagram

export interface DgramOptions extends NetLinkOptions {
  /** Address to bind; default any address, a free port. */
  local?: InetAddress;
  /** Where frames are sent; default the source of the last datagram received. */
  remote?: InetAddress;
  /** Accept datagrams only from this address (the remote); default accept from anyone, as QEMU. */
  filterSource?: InetAddress;
}

/** A UDP socket bound as `opts` ask, of the family their addresses imply. */
export async function bindUdpSocket(opts: DgramOptions): Promise<dgram.Socket> {
  const v6 = [opts.local?.host, opts.remote?.host].some((h) => h !== undefined && net.isIPv6(h));
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.local?.port ?? 0, opts.local?.host, () => { sock.off('error', reject); resolve(); });
  });
  // A roomier receive buffer absorbs bursts (a TCP window's worth of frames) without loss.
  try { sock.setRecvBufferSize(1 << 20); } catch { /* capped by net.core.rmem_max: fine */ }
  return sock;
}

export class DgramBackend extends FrameBackend {
  private inflight = 0;
  private peer: InetAddress | null;

  protected constructor(private readonly sock: dgram.Socket, private readonly opts: DgramOptions) {
    super(opts);
    this.peer = opts.remote ?? null;
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    // Asynchronous errors (ICMP port unreachable on some systems) must not kill the process.
    sock.on('error', () => {});
  }

  static async open(opts: DgramOptions): Promise<DgramBackend> {
    return new DgramBackend(await bindUdpSocket(opts), opts);
  }

  /** The bound address (useful after binding port 0). */
  get localAddress(): InetAddress {
    const a = this.sock.address();
    return { host: a.address, port: a.port };
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const f = this.opts.filterSource;
    if (f && (rinfo.port !== f.port || rinfo.address !== f.host)) return;
    if (!this.opts.remote) this.peer = { host: rinfo.address, port: rinfo.port };
    this.deliver(asBytes(msg));
  }

  tx(frame: Uint8Array): void {
    const peer = this.peer;
    if (this.closed || peer === null || this.inflight >= DGRAM_INFLIGHT_LIMIT) { this.txDropped++; return; }
    this.inflight++;
    // Node holds the buffer until the datagram is sent; copy so the caller may reuse frame.
    this.sock.send(Buffer.from(frame), peer.port, peer.host, () => { this.inflight--; });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
  }
}

export function createDgramBackend(opts: DgramOptions): Promise<DgramBackend> {
  return DgramBackend.open(opts);
}

// ---------------------------------------------------------------------------------------------
// Stream

/**
 * Splits a byte stream into length-prefixed frames. Feed it chunks as they arrive; it calls
 * onFrame with a fresh array per frame and returns false on a length QEMU would refuse.
 */
export class StreamDeframer {
  private header = new Uint8Array(4);
  private headerFill = 0;
  private frame: Uint8Array | null = null;
  private frameFill = 0;

  constructor(private readonly onFrame: (frame: Uint8Array) => void, private readonly maxLen = QEMU_NET_BUFSIZE) {}

  push(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.frame === null) {
        const n = Math.min(4 - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        if (this.headerFill < 4) break;
        const h = this.header;
        const len = ((h[0]! << 24) >>> 0) + (h[1]! << 16) + (h[2]! << 8) + h[3]!;
        this.headerFill = 0;
        if (len > this.maxLen) return false;
        this.frame = new Uint8Array(len);
        this.frameFill = 0;
      }
      const f = this.frame;
      const n = Math.min(f.length - this.frameFill, chunk.length - i);
      f.set(chunk.subarray(i, i + n), this.frameFill);
      this.frameFill += n;
      i += n;
      if (this.frameFill === f.length) {
        this.frame = null;
        this.onFrame(f);
      }
    }
    return true;
  }
}

/** One frame as it goes on a QEMU stream: 4-byte big-endian length, then the bytes. */
export function encodeStreamFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  return out;
}

/**
 * Queue one frame on a stream socket; when the socket's buffer is past its
 * high-water mark, the returned promise holds the sender back until it drains
 * (or the socket closes, so a dead peer never wedges the caller).
 */
export function writeOrDrain(s: net.Socket, buf: Uint8Array): void | Promise<void> {
  if (s.write(buf)) return;
  return new Promise<void>((resolve) => {
    const done = () => { s.off('drain', done); s.off('close', done); resolve(); };
    s.on('drain', done);
    s.on('close', done);
  });
}

export interface StreamOptions extends NetLinkOptions {
  /** Connect to this address (client mode). Exactly one of connect/listen. */
  connect?: StreamAddress;
  /** Listen on this address and serve one peer at a time (server mode). */
  listen?: StreamAddress;
  /** Client: retry this many milliseconds after a failed or closed connection (0: never). */
  reconnectMs?: number;
}

export class StreamBackend extends FrameBackend {
  private sock: net.Socket | null = null;
  private server: net.Server | null = null;
  private readonly pending: net.Socket[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectWaiters: (() => void)[] = [];

  private constructor(private readonly opts: StreamOptions) {
    super(opts);
  }

  static async open(opts: StreamOptions): Promise<StreamBackend> {
    if ((opts.connect === undefined) === (opts.listen === undefined)) {
      throw new Error('qemu-stream: give exactly one of connect= and listen=');
    }
    const b = new StreamBackend(opts);
    if (opts.listen) await b.startListening(opts.listen);
    else await b.startConnecting(opts.connect!, !opts.reconnectMs);
    return b;
  }

  /** True while a peer is attached. */
  get connected(): boolean {
    return this.sock !== null;
  }

  /** Resolves once a peer is attached (immediately if one is). */
  waitConnected(): Promise<void> {
    if (this.sock) return Promise.resolve();
    return new Promise((resolve) => this.connectWaiters.push(resolve));
  }

  /** The listening address (server mode), useful after listening on port 0. */
  get localAddress(): StreamAddress | null {
    const a: net.AddressInfo | string | null | undefined = this.server ? this.server.address() : (this.sock?.address() as net.AddressInfo | undefined);
    if (a === null || a === undefined) return null;
    if (typeof a === 'string') return { path: a };
    if (typeof a.port === 'number') return { host: a.address, port: a.port };
    return null;
  }

  private async startListening(addr: StreamAddress): Promise<void> {
    if ('path' in addr) {
      // As QEMU does, take over a stale socket left by a previous run (only a socket).
      try { if (fs.lstatSync(addr.path).isSocket()) fs.unlinkSync(addr.path); } catch { /* absent */ }
    }
    const server = net.createServer({ pauseOnConnect: true }, (s) => this.onAccept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => { server.off('error', reject); resolve(); };
      if ('path' in addr) server.listen(addr.path, done);
      else server.listen(addr.port, addr.host === '' ? undefined : addr.host, done);
    });
    server.on('error', () => {});
  }

  private onAccept(s: net.Socket): void {
    s.on('error', () => {});
    if (this.closed) { s.destroy(); return; }
    if (this.sock) { this.pending.push(s); s.once('close', () => this.dropPending(s)); return; }
    this.attach(s);
  }

  private dropPending(s: net.Socket): void {
    const i = this.pending.indexOf(s);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /** Client mode: connect; with `mustSucceed` a failure rejects instead of scheduling a retry. */
  private startConnecting(addr: StreamAddress, mustSucceed: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s = 'path' in addr ? net.connect({ path: addr.path }) : net.connect({ host: addr.host, port: addr.port });
      const onError = (err: Error) => {
        s.destroy();
        if (mustSucceed) reject(err);
        else { this.scheduleReconnect(); resolve(); }
      };
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        s.on('error', () => {});
        this.attach(s);
        resolve();
      });
    });
  }

  private scheduleReconnect(): void {
    const ms = this.opts.reconnectMs ?? 0;
    if (this.closed || ms <= 0 || this.reconnectTimer || !this.opts.connect) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closed) void this.startConnecting(this.opts.connect!, false);
    }, ms);
  }

  private attach(s: net.Socket): void {
    this.sock = s;
    if (s.remoteFamily !== undefined) s.setNoDelay(true);
    const deframer = new StreamDeframer((f) => this.deliver(f));
    s.on('data', (chunk: Buffer) => {
      if (this.sock !== s) return;
      // A length QEMU would refuse means the peer is not speaking this protocol: hang up.
      if (!deframer.push(asBytes(chunk))) s.destroy();
    });
    s.once('close', () => this.detach(s));
    s.resume();
    const w = this.connectWaiters;
    this.connectWaiters = [];
    for (const fn of w) fn();
  }

  private detach(s: net.Socket): void {
    if (this.sock !== s) return;
    this.sock = null;
    if (this.closed) return;
    const next = this.pending.shift();
    if (next) this.attach(next);
    else this.scheduleReconnect();
  }

  tx(frame: Uint8Array): void | Promise<void> {
    const s = this.sock;
    if (this.closed || s === null || s.writableLength > STREAM_QUEUE_LIMIT || frame.length > QEMU_NET_BUFSIZE) {
      this.txDropped++;
      return;
    }
    return writeOrDrain(s, encodeStreamFrame(frame));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) { clearTimeout(this.reconnectTimer); this.reconnectTimer = null; }
    for (const p of this.pending.splice(0)) p.destroy();
    const s = this.sock;
    this.sock = null;
    if (s) {
      await new Promise<void>((resolve) => { s.once('close', () => resolve()); s.end(); setTimeout(() => s.destroy(), 1000).unref(); });
    }
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export function createStreamBackend(opts: StreamOptions): Promise<StreamBackend> {
  return StreamBackend.open(opts);
}
