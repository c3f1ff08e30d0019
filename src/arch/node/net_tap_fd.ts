/*
 * TAP devices attached directly: our own file descriptor on /dev/net/tun, no relay process.
 *
 * TUNSETIFF binds a device to the *open file description* it is issued on, not to the number
 * that names it in one process. So we open /dev/net/tun ourselves, hand that same description to
 * a short-lived helper as its standard input, and the helper (python3, always present on a Debian
 * host; no compile step) issues the ioctls Node cannot: TUNSETIFF(IFF_TAP|IFF_NO_PI), then
 * optionally SIOCSIFADDR/SIOCSIFNETMASK and SIOCSIFFLAGS(IFF_UP), prints the device's final name
 * and exits. From then on our descriptor is the device's queue, and the helper is gone: a frame
 * costs one read() or one write() in this process and nothing else.
 *
 * Reading without polling and without the thread pool: libuv will run a pipe handle over any
 * descriptor epoll accepts, and the tun driver implements poll, so we wrap the descriptor in a
 * pipe handle (Node's pipe_wrap binding, reached through process.binding: net.Socket's own fd
 * option refuses a character device) and let a net.Socket read it. Each read() of a TAP
 * descriptor returns exactly one frame, so each 'data' chunk is one frame; the event loop sleeps
 * in epoll while the device is quiet. (fs.read would park a thread-pool thread in a blocking
 * read() per frame, and a parked read cannot be interrupted at close.)
 *
 * Writing is a synchronous write() per frame (fs.writeSync) rather than through the stream: the
 * stream would hand several queued chunks to one writev(), and tun takes one writev() as ONE
 * frame. A tun write does not block (the frame is handed straight to the host's receive path);
 * should it ever fail (EAGAIN, EIO on a vanished device), the frame is dropped, like a NIC would.
 *
 * Lifetime: closing the backend closes the descriptor (the pipe handle owns it), which detaches
 * the device; a device the ioctl created (no device of that name existed) is then destroyed, a
 * persistent one (`ip tuntap add`) stays. If this process dies, the kernel closes the descriptor
 * the same way, so nothing outlives us: there is no helper left to kill.
 *
 * Offload (TapOptions.offload, off by default): the helper also sets IFF_VNET_HDR and
 * TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6), and every frame then carries a 10-byte
 * struct virtio_net_hdr (the layout virtio-net uses). The host's TCP then builds segments of up
 * to 64 KiB (TSO) for us, however small the device's MTU, and leaves their checksums partial
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header sum, we sum from csum_start
 * and store the result). A GSO frame is handed to the stack whole, the way a NIC doing LRO would:
 * our stack takes any segment that fits its NIC's MTU, so the NIC needs a large MTU (the
 * medium's mtu is 65535 in this mode), while the host's device keeps its own. Our stack cost is
 * per segment, so this is where host → ours throughput comes from at a host MTU of 1500. We send
 * plain frames with an all-zero header (no offload asked) and complete checksums, except TCP
 * super-segments (txGso: the kernel's NIC has TSO over this backend), which go out whole with a
 * header asking for VIRTIO_NET_HDR_GSO_TCPV4 at gso_size = the MSS and a partial checksum
 * (NEEDS_CSUM, csum_start/csum_offset at the TCP checksum, which then holds the pseudo-header
 * sum for the whole length, as Linux's own TSO output leaves it): the host cuts them up.
 *
 * Requirements: python3 and the right to attach (root or CAP_NET_ADMIN, or the owner of a
 * persistent device; see net_tap.ts). Where either the binding or python3 is missing,
 * createTapBackend falls back to the socat relay.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { FrameBackend, type NetLinkOptions } from './net_qemu.js';

export interface TapFdOptions extends NetLinkOptions {
  name: string;
  up?: boolean;
  addr?: string;
  /**
   * Negotiate checksum and TSO offload with the host (IFF_VNET_HDR, TUNSETOFFLOAD): see the
   * header. The medium then carries frames of up to 64 KiB; give the NIC a large MTU to take them.
   */
  offload?: boolean;
  /** The python3 interpreter (default: /usr/bin/python3 if present, else python3 on PATH). */
  python?: string;
  timeoutMs?: number;
}

/*
 * The helper, run as `python3 -c HELPER name up addr` with the tun descriptor on fd 0. ioctl
 * numbers are the x86-64/arm64 generic encodings (_IOW('T', 202, int) and friends); the
 * socket ioctls are the classic SIOC* numbers. On success it prints "ok <name>"; on failure
 * one line naming the step and the errno text, and exits 1.
 */
const HELPER = `
import fcntl, socket, struct, sys
name, up, addr, vnet = sys.argv[1], sys.argv[2] == '1', sys.argv[3], sys.argv[4] == '1'
step = 'TUNSETIFF'
try:
    r = fcntl.ioctl(0, 0x400454ca, struct.pack('16sH22x', name.encode(), 0x0002 | 0x1000 | (0x4000 if vnet else 0)))
    name = r[:16].split(b'\\0', 1)[0].decode()
    if vnet:
        step = 'TUNSETOFFLOAD'
        fcntl.ioctl(0, 0x400454d0, 0x01 | 0x02 | 0x04)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifn = struct.pack('16s', name.encode())
    if addr:
        ip, bits = addr.split('/')
        mask = (0xffffffff << (32 - int(bits))) & 0xffffffff if int(bits) else 0
        sin = lambda a: struct.pack('HH4s8x', socket.AF_INET, 0, socket.inet_aton(a))
        step = 'SIOCSIFADDR'
        fcntl.ioctl(s, 0x8916, ifn + sin(ip))
        step = 'SIOCSIFNETMASK'
        fcntl.ioctl(s, 0x891c, ifn + sin(socket.inet_ntoa(struct.pack('!I', mask))))
    if up:
        step = 'SIOCSIFFLAGS'
        flags = struct.unpack('H', fcntl.ioctl(s, 0x8913, ifn + bytes(24))[16:18])[0]
        fcntl.ioctl(s, 0x8914, ifn + struct.pack('H22x', flags | 1))
    print('ok', name, flush=True)
except OSError as e:
    print(step + ':', e.strerror or e, flush=True)
    sys.exit(1)
`;

/** struct virtio_net_hdr without num_buffers, as tun uses it by default (TUNSETVNETHDRSZ 10). */
const VNET_HDR_LEN = 10;
const VNET_HDR_ZERO = new Uint8Array(VNET_HDR_LEN);
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** With TSO the host sends IP packets of up to 64 KiB in one frame. */
const VNET_MAX_PAYLOAD = 65535;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Unfolded Internet-checksum sum of `b` (RFC 1071), a 32-bit word at a time where aligned. */
function csumBytes(b: Uint8Array): number {
  let sum = 0, i = 0;
  const n = b.length;
  if (LITTLE_ENDIAN && (b.byteOffset & 1) === 0 && n >= 64) {
    if ((b.byteOffset & 3) !== 0) { sum += (b[0]! << 8) | b[1]!; i = 2; }
    const words = (n - i) >>> 2;
    const u32 = new Uint32Array(b.buffer, b.byteOffset + i, words);
    let le = 0;
    for (let j = 0; j < words; j++) { const w = u32[j]!; le += (w & 0xffff) + (w >>> 16); }
    while (le > 0xffff) le = (le % 0x10000) + Math.floor(le / 0x10000);
    sum += ((le & 0xff) << 8) | (le >>> 8); // little-endian words: swap once (byte-order independence)
    i += words << 2;
  }
  for (; i + 1 < n; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < n) sum += b[i]! << 8;
  return sum;
}

function csumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

interface PipeHandle { open(fd: number): number }
type PipeCtor = new (type: number) => PipeHandle;

/** Node's Pipe handle class, or null where this runtime does not expose it. */
function pipeWrap(): { Pipe: PipeCtor; SOCKET: number } | null {
  try {
    const b = (process as unknown as { binding(n: string): { Pipe: PipeCtor; constants: { SOCKET: number } } }).binding('pipe_wrap');
    return typeof b.Pipe === 'function' ? { Pipe: b.Pipe, SOCKET: b.constants.SOCKET } : null;
  } catch {
    return null;
  }
}

function findPython(): string | null {
  const dirs = ['/usr/bin', ...(process.env['PATH'] ?? '').split(':').filter((d) => d !== '')];
  for (const dir of dirs) {
    try { fs.accessSync(`${dir}/python3`, fs.constants.X_OK); return `${dir}/python3`; } catch { /* next */ }
  }
  return null;
}

/** Why the direct mode cannot run here, or null when it can. */
export function tapFdUnsupported(python?: string): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (!pipeWrap()) return 'this Node has no pipe_wrap binding';
  if (!python && !findPython()) return 'no python3';
  return null;
}

/** Segmentation parameters of a TSO frame (virtio_net_hdr's hdr_len, gso_size, csum_start/offset). */
export interface TapGsoInfo { gsoSize: number; hdrLen: number; csumStart: number; csumOffset: number }

export class TapFdBackend extends FrameBackend {
  readonly mode = 'fd' as const;
  /** No helper outlives the attach. */
  readonly helperPid = 0;
  /** Frames read from the device. */
  rxFrames = 0;
  /** Frames written to the device. */
  txFrames = 0;
  /** Frames whose checksum the host left for us to complete (offload mode). */
  rxCsumCompleted = 0;
  /** GSO frames received whole (offload mode). */
  rxGsoFrames = 0;
  /** TSO frames written for the host to segment (offload mode). */
  txGsoFrames = 0;
  private readonly stream: net.Socket;

  /** @internal Use openTapFd. */
  constructor(readonly name: string, private readonly fd: number, opts: NetLinkOptions, mtu: number | undefined,
    /** Frames carry a virtio_net_hdr (offload mode). */
    readonly offload = false) {
    super(opts);
    if (mtu !== undefined && mtu > 0) this.linkMtu = mtu;
    if (offload) this.txGso = (frame, info) => this.writeGso(frame, info);
    const pw = pipeWrap()!;
    const handle = new pw.Pipe(pw.SOCKET);
    const err = handle.open(fd);
    if (err !== 0) throw new Error(`tap: cannot watch the tun descriptor (uv error ${err})`);
    this.stream = new net.Socket({ handle, readable: true, writable: false } as unknown as net.SocketConstructorOpts);
    this.stream.on('data', (chunk: Buffer) => {
      this.rxFrames++;
      const f = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      if (!offload) { this.deliver(f); return; }
      if (f.length < VNET_HDR_LEN) return;
      const frame = f.subarray(VNET_HDR_LEN);
      if (f[1] !== 0) this.rxGsoFrames++;
      if (f[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        const start = f[6]! | (f[7]! << 8), at = start + (f[8]! | (f[9]! << 8));
        if (at + 2 > frame.length) return; // malformed: drop
        // A sum of zero goes out as 0xffff, its ones' complement twin: 0 means "no checksum" to UDP.
        const c = csumFold(csumBytes(frame.subarray(start))) || 0xffff;
        frame[at] = c >> 8; frame[at + 1] = c & 0xff;
        this.rxCsumCompleted++;
      }
      this.deliver(frame);
    });
    // A read error (the device was deleted under us) ends reception; tx then drops.
    this.stream.on('error', () => { this.closed = true; });
  }

  tx(frame: Uint8Array): void {
    if (this.closed) { this.txDropped++; return; }
    try {
      // One writev is one frame to tun: an all-zero header (no offload asked) then the frame.
      if (this.offload) fs.writevSync(this.fd, [VNET_HDR_ZERO, frame]);
      else fs.writeSync(this.fd, frame);
      this.txFrames++;
    } catch {
      this.txDropped++;
    }
  }

  /**
   * A TCP/IPv4 super-segment (Ethernet frame) for the host to segment at `info.gsoSize` payload
   * bytes. Present in offload mode only: virtio_net gives the NIC TSO only over a backend that
   * has it, so without offload the kernel sends MSS-sized frames.
   */
  readonly txGso?: (frame: Uint8Array, info: TapGsoInfo) => void;

  private writeGso(frame: Uint8Array, info: TapGsoInfo): void {
    if (this.closed) { this.txDropped++; return; }
    const ip = info.csumStart - (frame[14]! & 15) * 4;
    const at = info.csumStart + info.csumOffset;
    if (ip < 0 || at + 2 > frame.length) { this.txDropped++; return; }
    // The checksum field holds the folded, uncomplemented pseudo-header sum over the full length.
    let sum = ((frame[ip + 12]! << 8) | frame[ip + 13]!) + ((frame[ip + 14]! << 8) | frame[ip + 15]!) +
      ((frame[ip + 16]! << 8) | frame[ip + 17]!) + ((frame[ip + 18]! << 8) | frame[ip + 19]!) +
      frame[ip + 9]! + (frame.length - info.csumStart);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame[at] = sum >>> 8; frame[at + 1] = sum & 0xff;
    const h = new Uint8Array(VNET_HDR_LEN);
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM; h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    h[2] = info.hdrLen & 0xff; h[3] = info.hdrLen >>> 8;
    h[4] = info.gsoSize & 0xff; h[5] = info.gsoSize >>> 8;
    h[6] = info.csumStart & 0xff; h[7] = info.csumStart >>> 8;
    h[8] = info.csumOffset & 0xff; h[9] = info.csumOffset >>> 8;
    try {
      fs.writevSync(this.fd, [h, frame]);
      this.txFrames++; this.txGsoFrames++;
    } catch {
      this.txDropped++;
    }
  }

  async close(): Promise<void> {
    if (this.closed && this.stream.destroyed) return;
    this.closed = true;
    if (this.stream.destroyed) return;
    // Destroying the stream closes the pipe handle and with it the descriptor.
    await new Promise<void>((resolve) => { this.stream.once('close', () => resolve()); this.stream.destroy(); });
  }
}

/** Open /dev/net/tun, have the helper attach it to `opts.name`, and wrap it. */
export async function openTapFd(opts: TapFdOptions): Promise<TapFdBackend> {
  const python = opts.python ?? findPython() ?? 'python3';
  const fd = fs.openSync('/dev/net/tun', fs.constants.O_RDWR);
  let owned = true;
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(python, ['-c', HELPER, opts.name, (opts.up ?? true) ? '1' : '0', opts.addr ?? '', opts.offload ? '1' : '0'],
        { stdio: [fd, 'pipe', 'pipe'] });
      let text = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => { text += d; });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => { text += d; });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`tap: helper did not finish within ${opts.timeoutMs ?? 5000} ms`)); },
        opts.timeoutMs ?? 5000);
      child.once('error', (e) => { clearTimeout(timer); reject(new Error(`tap: cannot run ${python}: ${e.message}`)); });
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        if (code === 0 && /^ok \S+/.test(text)) resolve(text.trim().split(/\s+/)[1]!);
        else reject(new Error(`tap: attaching ${opts.name} failed (${sig ?? code}): ${text.trim()}`));
      });
    });
    let mtu = opts.mtu;
    if (mtu === undefined) {
      try { mtu = Number(fs.readFileSync(`/sys/class/net/${out}/mtu`, 'utf8').trim()); } catch { /* other netns */ }
    }
    const b = new TapFdBackend(out, fd, opts, opts.offload ? VNET_MAX_PAYLOAD : mtu, opts.offload ?? false);
    owned = false;
    return b;
  } finally {
    if (owned) fs.closeSync(fd);
  }
}
