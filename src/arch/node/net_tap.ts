/*
 * TAP devices on the Node host. A TAP device is the host kernel's end of a virtual Ethernet
 * cable: frames the host routes or bridges to it can be read from /dev/net/tun, frames written
 * there appear to the host as received on the device. Attaching a file descriptor to a device
 * takes the TUNSETIFF ioctl, and Node has no ioctl. There are two ways round that, chosen by
 * TapOptions.mode:
 *
 *  - 'fd' (the default where python3 is installed): we open /dev/net/tun ourselves and a helper
 *    that exits right away issues the ioctl on our open file, after which frames move by one
 *    read() or write() on our own descriptor. net_tap_fd.ts tells how; it is faster than the
 *    relay below, loses no frames in bursts, and leaves no process behind. With `offload` it
 *    also takes the host's TSO frames (virtio_net_hdr on each frame), see there.
 *  - 'socat': the relay this file implements, the fallback where the direct mode cannot run
 *    (no python3, a Node without the pipe binding) and the mode used when `socat` is given.
 *
 * 'auto' (the default) picks 'fd' when it can and 'socat' otherwise; failing to attach in
 * 'fd' mode is reported, not retried through socat (the reason would be the same).
 *
 * The socat relay. A small helper attaches for us: socat opens
 * the device (creating it if no device of that name exists) and relays each frame it reads as
 * one UDP datagram to a socket of ours on 127.0.0.1, and each datagram from that socket back to
 * the device as one frame. That is exactly the datagram transport of net_qemu.ts, so the TAP
 * backend is a DgramBackend that also owns the socat process.
 *
 * Requirements: socat on PATH (Debian: `apt-get install socat`), and the right to attach:
 * root or CAP_NET_ADMIN, or for a persistent device made with `ip tuntap add dev tap0 mode tap
 * user <you>` just being that user (then pass up=0: bringing the link up needs CAP_NET_ADMIN,
 * so bring it up beforehand with `ip link set tap0 up`). A device socat creates itself is not
 * persistent: it disappears when the backend closes.
 *
 * Lifetime: socat is killed on close(), when this process exits normally, and (through setpriv's
 * parent-death signal, when setpriv is present) even when this process is killed outright, so a
 * crashed test does not leave a device attached. Nothing polls: socat sleeps in select() and we
 * sleep in the event loop while the cable is quiet.
 *
 * socat's UDP socket is connected to ours (socat's UDP: address; its sourceport= and range=
 * filters misbehave in socat 1.7.4), so the host kernel delivers it only datagrams from our port;
 * and we accept only datagrams from socat's port. Nothing else on the machine can inject frames.
 * Our socket is bound before socat starts and closed after socat is gone, so socat never sees a
 * port-unreachable error on its connected socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { bindUdpSocket, DgramBackend, type DgramOptions, type NetLinkOptions } from './net_qemu.js';
import { openTapFd, TapFdBackend, tapFdUnsupported } from './net_tap_fd.js';

export interface TapOptions extends NetLinkOptions {
  /** Interface name (at most 15 bytes): an existing TAP device, or the name of a new one. */
  name: string;
  /** Set IFF_UP on the device (default true; needs CAP_NET_ADMIN). */
  up?: boolean;
  /** An IPv4 address with prefix length ("10.0.0.1/24") socat assigns to the device. */
  addr?: string;
  /** The socat binary (default "socat" from PATH). */
  socat?: string;
  /** How long to wait for the helper to attach, in milliseconds (default 5000). */
  timeoutMs?: number;
  /** How to attach: 'fd' (own descriptor), 'socat' (relay), 'auto' (fd where possible; default). */
  mode?: 'auto' | 'fd' | 'socat';
  /**
   * fd mode only: take checksum/TSO offload from the host (IFF_VNET_HDR; see net_tap_fd.ts).
   * The medium's mtu becomes 65535; give the NIC a large MTU to receive the host's 64 KiB frames.
   */
  offload?: boolean;
}

/** What createTapBackend returns: the relay or the direct descriptor (see `mode`). */
export type TapBackend = TapSocatBackend | TapFdBackend;
export { TapFdBackend };

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of children) { try { c.kill('SIGTERM'); } catch { /* gone */ } }
  });
}

function hasSetpriv(): boolean {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    try { fs.accessSync(`${dir}/setpriv`, fs.constants.X_OK); return true; } catch { /* next */ }
  }
  return false;
}

/** A free UDP port on 127.0.0.1 at this moment (socat binds it right after). */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, '127.0.0.1', () => resolve()); });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export class TapSocatBackend extends DgramBackend {
  readonly mode = 'socat' as const;
  /** The interface name. */
  name = '';
  /** The socat process's pid. */
  helperPid = 0;
  private child: ChildProcess | null = null;

  /** The datagram side: bound to 127.0.0.1, talking only to socat's port. */
  static async openRelay(opts: TapOptions, socatPort: number): Promise<TapSocatBackend> {
    const peer = { host: '127.0.0.1', port: socatPort };
    const d: DgramOptions = { local: { host: '127.0.0.1', port: 0 }, remote: peer, filterSource: peer };
    if (opts.mac) d.mac = opts.mac;
    if (opts.mtu !== undefined) d.mtu = opts.mtu;
    return new TapSocatBackend(await bindUdpSocket(d), d);
  }

  /** @internal */
  adopt(name: string, child: ChildProcess, mtu: number | undefined): void {
    this.name = name;
    this.child = child;
    this.helperPid = child.pid ?? 0;
    if (mtu !== undefined && mtu > 0) this.linkMtu = mtu;
  }

  override async close(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c) {
      if (c.exitCode === null && c.signalCode === null) {
        await new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGTERM'); });
      }
      children.delete(c);
    }
    await super.close();
  }
}

/** Start socat; resolve once it reports its transfer loop running, reject with its error text. */
function startSocat(args: string[], socat: string, timeoutMs: number): Promise<ChildProcess> {
  const usePdeath = hasSetpriv();
  const cmd = usePdeath ? 'setpriv' : socat;
  const argv = usePdeath ? ['--pdeathsig', 'SIGTERM', '--', socat, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    installExitHook();
    let log = '';
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGTERM');
      children.delete(child);
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`socat did not attach within ${timeoutMs} ms: ${log.trim()}`), timeoutMs);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (settled) return; // keep draining so socat never blocks on a full pipe
      log += d;
      if (log.includes('starting data transfer loop')) {
        settled = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (e) => fail(`cannot run ${cmd}: ${e.message}`));
    child.once('exit', (code, sig) => {
      children.delete(child);
      fail(`socat exited (${sig ?? code}): ${log.trim()}`);
    });
  });
}

/** Attach to (or create) TAP device `opts.name`, directly or through socat (see `mode`). */
export async function createTapBackend(opts: TapOptions): Promise<TapBackend> {
  const name = opts.name;
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(name)) throw new Error(`tap: bad interface name "${name}"`);
  if (opts.addr !== undefined && !/^\d+\.\d+\.\d+\.\d+\/(\d|[12]\d|3[0-2])$/.test(opts.addr)) {
    throw new Error(`tap: addr must be IPv4/prefix, got "${opts.addr}"`);
  }
  const mode = opts.mode ?? (opts.socat !== undefined ? 'socat' : 'auto');
  if (opts.offload && mode === 'socat') throw new Error('tap: offload needs mode fd');
  if (mode === 'fd' || (mode === 'auto' && tapFdUnsupported() === null)) {
    const why = tapFdUnsupported();
    if (why !== null) throw new Error(`tap: mode fd unavailable: ${why}`);
    return openTapFd(opts);
  }
  return createSocatBackend(opts);
}

async function createSocatBackend(opts: TapOptions): Promise<TapSocatBackend> {
  const name = opts.name;
  let mtu = opts.mtu;
  // The socat port is picked before socat binds it; retry in the unlikely case someone took it.
  for (let attempt = 0; ; attempt++) {
    const socatPort = await freeUdpPort();
    const b = await TapSocatBackend.openRelay(opts, socatPort);
    const ourPort = b.localAddress.port;
    const tun = [`TUN${opts.addr ? ':' + opts.addr : ''}`, 'tun-type=tap', `tun-name=${name}`, 'iff-no-pi'];
    if (opts.up ?? true) tun.push('iff-up');
    const args = ['-d', '-d', '-b', '65536', tun.join(','),
      `UDP:127.0.0.1:${ourPort},bind=127.0.0.1:${socatPort}`];
    try {
      const child = await startSocat(args, opts.socat ?? 'socat', opts.timeoutMs ?? 5000);
      child.once('exit', () => children.delete(child));
      if (mtu === undefined) {
        try { mtu = Number(fs.readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim()); } catch { /* other netns */ }
      }
      b.adopt(name, child, mtu);
      return b;
    } catch (e) {
      await b.close();
      if (attempt < 3 && /Address already in use/.test((e as Error).message)) continue;
      throw e;
    }
  }
}
