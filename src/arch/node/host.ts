/*
 * The Node.js host: process.hrtime for the clock, setTimeout timers (unref'd when background),
 * stdout for the console, node:crypto for entropy, file descriptors for disk images (disk.ts),
 * TAP and QEMU socket transports for network devices (net.ts).
 */
import { randomFillSync } from 'node:crypto';
import type { HostOps, HostTimer, HostTimerOptions } from '../host.js';
import { openDiskImage } from './disk.js';
import { createNetBackend } from './net.js';

export interface NodeHostOptions {
  /** Where console output goes; default process.stdout. null silences the kernel. */
  print?: ((text: string) => void) | null;
}

export function createNodeHost(opts: NodeHostOptions = {}): HostOps {
  const print = opts.print === undefined ? (t: string) => { process.stdout.write(t); } : opts.print;
  const host: HostOps = {
    name: 'node',
    description: `Node.js ${process.version} ${process.platform}/${process.arch}`,
    time: () => Number(process.hrtime.bigint()),
    wallClock: () => {
      // Date has only milliseconds; sharpen with hrtime so consecutive readings advance.
      const ms = Date.now();
      return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 + Number(process.hrtime.bigint() % 1000000n) };
    },
    timerAlloc(fn: () => void, o?: HostTimerOptions): HostTimer {
      let handle: NodeJS.Timeout | undefined;
      let freed = false;
      return {
        setOneshot(deltaNs: number) {
          if (freed) throw new Error('timer used after free');
          if (handle) clearTimeout(handle);
          // setTimeout takes ms and clamps below 1 ms; round up so we never fire early.
          handle = setTimeout(() => { handle = undefined; fn(); }, Math.max(0, Math.ceil(deltaNs / 1e6)));
          if (o?.background) handle.unref();
        },
        cancel() { if (handle) { clearTimeout(handle); handle = undefined; } },
        free() { if (handle) clearTimeout(handle); handle = undefined; freed = true; },
      };
    },
    panic(message: string): never {
      process.stderr.write(`Kernel panic - not syncing: ${message}\n`);
      throw new Error(`Kernel panic - not syncing: ${message}`);
    },
    entropy: (buf: Uint8Array) => { randomFillSync(buf); },
    defer: (fn: () => void) => { setImmediate(fn); },
    openDisk: (path: string, o: { readOnly: boolean }) => openDiskImage(path, o),
    openNet: (spec: string) => createNetBackend(spec),
  };
  if (print) host.print = print;
  return host;
}
