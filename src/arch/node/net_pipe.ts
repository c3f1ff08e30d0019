/*
 * A network cable made of two named pipes (LKL's pipe backend, tools/lkl/lib/virtio_net_pipe.c):
 * `rx|tx` names two FIFOs; we read frames from the first and write frames to the second. Two
 * processes given the same pair crossed ("a|b" and "b|a") share an Ethernet segment, with no
 * privileges and no sockets. Create the FIFOs beforehand with mkfifo(1).
 *
 * The wire format is LKL's, so a kernel here can face a C LKL over the same pipes: every frame is
 * one write(2) of a 12-byte struct virtio_net_hdr_v1 followed by the Ethernet frame. There is no
 * length prefix: LKL relies on one read(2) returning one write(2). A pipe does not keep that
 * promise (two queued writes come back from one read), so our reader recovers the boundaries
 * itself. libuv reads up to 64 KiB at a time, all a default pipe holds, so a read that is not
 * full ends on a write boundary; the reader splits it by the lengths the frames carry: IPv4's
 * total length, IPv6's payload length, ARP's address sizes (behind at most one 802.1Q tag). A
 * frame of another type takes the rest of the read, which is what LKL would have done; a frame
 * whose length runs past a full read waits for the next one. Dropped: a GSO header (we cannot
 * segment); at a write boundary, bytes too short to be a frame or a frame claiming more than
 * arrived. (A sender that pads runts to 60 bytes confuses the split when two frames share a read;
 * Linux's virtio-net and ours do not pad.)
 *
 * The virtio header we write is all zeros (no offloads: our frames carry full checksums). One we
 * read may say VIRTIO_NET_HDR_F_NEEDS_CSUM, as a Linux sender with checksum offload writes it: we
 * finish that checksum (fold the ones' complement sum from csum_start to the end into the field
 * at csum_start + csum_offset), as a virtio device would.
 *
 * Both FIFOs are opened O_RDWR | O_NONBLOCK, as LKL does: the open does not wait for the other
 * process, and the reader never sees end-of-file when the other side goes away and comes back.
 * Frames written while nobody reads fill the pipe (64 KiB by default), then queue here up to
 * 1 MiB, then are dropped, as a full NIC ring drops; the kernel's retransmissions recover.
 * Nothing polls: libuv sleeps in epoll until a pipe is readable.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { FrameBackend, writeOrDrain, type NetLinkOptions } from './net_qemu.js';

/** sizeof(struct virtio_net_hdr_v1): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const VIRTIO_NET_HDR_LEN = 12;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
const ETH_HLEN = 14;
const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86dd, ETH_P_8021Q = 0x8100;
/** Bytes queued on the tx pipe beyond which tx drops instead of queueing. */
const PIPE_QUEUE_LIMIT = 1 << 20;
/** What libuv asks read(2) for on a stream: a read this long may have stopped inside a write. */
const STREAM_READ_SIZE = 65536;

/** One frame as LKL writes it to a pipe: a zeroed virtio_net_hdr_v1, then the frame. */
export function encodePipeFrame(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(VIRTIO_NET_HDR_LEN + frame.length);
  out.set(frame, VIRTIO_NET_HDR_LEN);
  return out;
}

/**
 * The length of the Ethernet frame at `f` as its own headers state it, or -1 when its type does
 * not say (or not enough of it is here to tell).
 */
export function statedFrameLength(f: Uint8Array): number {
  if (f.length < ETH_HLEN) return -1;
  let off = 12;
  let type = (f[off]! << 8) | f[off + 1]!;
  if (type === ETH_P_8021Q) {
    if (f.length < ETH_HLEN + 4) return -1;
    off += 4;
    type = (f[off]! << 8) | f[off + 1]!;
  }
  const l3 = off + 2;
  switch (type) {
    case ETH_P_IP:
      if (f.length < l3 + 4) return -1;
      return l3 + ((f[l3 + 2]! << 8) | f[l3 + 3]!);
    case ETH_P_IPV6:
      if (f.length < l3 + 6) return -1;
      return l3 + 40 + ((f[l3 + 4]! << 8) | f[l3 + 5]!);
    case ETH_P_ARP:
      if (f.length < l3 + 6) return -1;
      return l3 + 8 + 2 * f[l3 + 4]! + 2 * f[l3 + 5]!;
    default:
      return -1;
  }
}

/** Complete a checksum a sender left to the device (VIRTIO_NET_HDR_F_NEEDS_CSUM); false if out of range. */
function finishChecksum(frame: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (start >= frame.length || at + 2 > frame.length) return false;
  // The field holds the pseudo-header sum; sum it in with the rest, as the device would.
  let sum = 0;
  for (let i = start; i + 1 < frame.length; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
  if ((frame.length - start) & 1) sum += frame[frame.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  frame[at] = c >> 8; frame[at + 1] = c & 0xff;
  return true;
}

/**
 * Splits what reads from the pipe return into frames (see the top of the file). push() takes one
 * read's bytes and calls `deliver` for every whole frame; a frame still incomplete (a read that
 * ended inside a write longer than PIPE_BUF) waits for the next push.
 */
export class PipeDeframer {
  private buf: Uint8Array = new Uint8Array(0);
  /** Frames dropped: GSO, runts or lying lengths at a write boundary, bad checksum offsets. */
  dropped = 0;

  constructor(private readonly deliver: (frame: Uint8Array) => void) {}

  /**
   * Take one read's bytes. `mayContinue` says the read filled the buffer, so it may have ended
   * inside a write (default: a chunk of libuv's full read size); otherwise it ended on a write
   * boundary and whatever cannot be a whole frame is dropped rather than kept.
   */
  push(chunk: Uint8Array, mayContinue = chunk.length >= STREAM_READ_SIZE): void {
    let data = chunk;
    if (this.buf.length > 0) {
      data = new Uint8Array(this.buf.length + chunk.length);
      data.set(this.buf); data.set(chunk, this.buf.length);
      this.buf = new Uint8Array(0);
    }
    let pos = 0;
    while (pos < data.length) {
      const rest = data.length - pos;
      const body = data.subarray(pos + VIRTIO_NET_HDR_LEN);
      let len = rest < VIRTIO_NET_HDR_LEN + ETH_HLEN ? -2 : statedFrameLength(body);
      if (len === -2 || len > body.length) {
        // Too short for a frame, or a frame longer than what arrived: the rest of a write is
        // still to come if the read was cut short; otherwise it is padding or a lie.
        if (mayContinue) this.buf = data.slice(pos);
        else this.dropped++;
        return;
      }
      if (len < ETH_HLEN) len = body.length; // type unknown: the rest of the read, as LKL
      this.frame(data.subarray(pos, pos + VIRTIO_NET_HDR_LEN), body.slice(0, len));
      pos += VIRTIO_NET_HDR_LEN + len;
    }
  }

  private frame(hdr: Uint8Array, frame: Uint8Array): void {
    const flags = hdr[0]!, gso = hdr[1]!;
    if (gso !== VIRTIO_NET_HDR_GSO_NONE) { this.dropped++; return; }
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = hdr[6]! | (hdr[7]! << 8), offset = hdr[8]! | (hdr[9]! << 8);
      if (!finishChecksum(frame, start, offset)) { this.dropped++; return; }
    }
    this.deliver(frame);
  }
}

export interface PipeOptions extends NetLinkOptions {
  /** FIFO frames are read from. */
  rx: string;
  /** FIFO frames are written to. */
  tx: string;
}

/** LKL's ifname syntax for the pipe backend: "rx_fifo|tx_fifo", exactly two names. */
export function parsePipeIfname(ifname: string): { rx: string; tx: string } {
  const parts = ifname.split('|');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new Error(`invalid ifname format: ${ifname} (want "rx_fifo|tx_fifo")`);
  }
  return { rx: parts[0]!, tx: parts[1]! };
}

/** Open a FIFO as LKL does (O_RDWR | O_NONBLOCK); refuse anything that is not one. */
function openFifo(path: string, what: string): number {
  let st: fs.Stats;
  try { st = fs.statSync(path); } catch (e) { throw new Error(`can not open ${what} pipe ${path}: ${(e as Error).message}`); }
  if (!st.isFIFO()) throw new Error(`${what} ${path} is not a FIFO (make one with mkfifo)`);
  return fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
}

export class PipeBackend extends FrameBackend {
  private readonly deframer = new PipeDeframer((f) => this.deliver(f));

  private constructor(private readonly rxSock: net.Socket, private readonly txSock: net.Socket, opts: NetLinkOptions) {
    super(opts);
    rxSock.on('data', (chunk: Buffer) => this.deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
    rxSock.on('error', () => { /* the pipe went bad: the cable is cut */ });
    txSock.on('error', () => { /* likewise */ });
  }

  static open(opts: PipeOptions): PipeBackend {
    const rxFd = openFifo(opts.rx, 'rx');
    let txFd: number;
    try { txFd = openFifo(opts.tx, 'tx'); } catch (e) { fs.closeSync(rxFd); throw e; }
    // libuv streams over the pipe fds: reads wake us through epoll, writes keep frame order.
    const rxSock = new net.Socket({ fd: rxFd, readable: true, writable: false });
    const txSock = new net.Socket({ fd: txFd, readable: false, writable: true });
    return new PipeBackend(rxSock, txSock, opts);
  }

  /** Frames the deframer refused (GSO, runts, bad checksum offsets). */
  get rxInvalid(): number {
    return this.deframer.dropped;
  }

  tx(frame: Uint8Array): void | Promise<void> {
    const s = this.txSock;
    if (this.closed || s.destroyed || s.writableLength > PIPE_QUEUE_LIMIT) { this.txDropped++; return; }
    // One write per frame (atomic up to PIPE_BUF), never split by another writer.
    return writeOrDrain(s, encodePipeFrame(frame));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ends = [this.rxSock, this.txSock].map((s) => new Promise<void>((resolve) => {
      if (s.destroyed) { resolve(); return; }
      s.once('close', () => resolve());
      s.destroy();
    }));
    await Promise.all(ends);
  }
}

/** Attach to the FIFO pair `opts.rx` / `opts.tx` (see the top of the file). */
export function createPipeBackend(opts: PipeOptions | string): PipeBackend {
  return PipeBackend.open(typeof opts === 'string' ? parsePipeIfname(opts) : opts);
}
