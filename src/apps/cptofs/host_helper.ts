/*
 * What Node's fs module cannot do on the host, done by a small Python co-process.
 *
 * node:fs has no extended attributes, no mknod, and sets times through a double of seconds
 * (libuv's uv_fs_lutime), which loses the nanoseconds of any current date. Python's os module
 * has all three with exact semantics (os.listxattr/getxattr/setxattr with follow_symlinks=False,
 * os.mknod, os.utime(ns=..., follow_symlinks=False)). One python3 process is started per run and
 * driven over pipes, one JSON line per request and per reply, paths and values in hex so that
 * any bytes pass.
 *
 * Without python3 the copy still runs: times are set with microsecond precision through node:fs,
 * and extended attributes, devices and fifos are reported as not copied (hostHelper() returns
 * null and the caller warns once).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

const SCRIPT = String.raw`
import os, sys, json
os.umask(0)
def h(s): return bytes.fromhex(s)
def xattrs(p):
    out = []
    for n in os.listxattr(p, follow_symlinks=False):
        try:
            v = os.getxattr(p, n, follow_symlinks=False)
        except OSError as e:
            if e.errno == 61: continue
            raise
        out.append([os.fsencode(n).hex(), v.hex()])
    return out
if os.environ.get("CPTOFS_HELPER_READY"):
    os.setxattr; os.mknod
    sys.stdout.write("ready\n"); sys.stdout.flush()
for line in sys.stdin:
    r = json.loads(line)
    op = r["op"]
    try:
        p = h(r.get("p", ""))
        out = None
        if op == "lutime":
            os.utime(p, ns=(r["a"], r["m"]), follow_symlinks=False)
        elif op == "mknod":
            os.mknod(p, r["mode"], os.makedev(r["maj"], r["min"]))
        elif op == "setxattr":
            os.setxattr(p, h(r["n"]), h(r["v"]), 0, follow_symlinks=False)
        elif op == "xattrs":
            out = xattrs(p)
        elif op == "xattrs_tree":
            out = []
            def one(q):
                try:
                    x = xattrs(q)
                    if x: out.append([q.hex(), x])
                except OSError as e:
                    out.append([q.hex(), e.errno or 5])
            one(p)
            if os.path.isdir(p) and not os.path.islink(p):
                for dp, dns, fns in os.walk(p, onerror=lambda e: None):
                    for n in dns + fns: one(os.path.join(dp, n))
        elif op == "xattrs_many":
            out = []
            for q in r["ps"]:
                try:
                    out.append(xattrs(h(q)))
                except OSError as e:
                    out.append(e.errno or 5)
        sys.stdout.write(json.dumps({"ok": out}) + "\n")
    except OSError as e:
        sys.stdout.write(json.dumps({"errno": e.errno or 5}) + "\n")
    sys.stdout.flush()
`;

export interface HostHelper {
  lutime(p: Uint8Array, atimeNs: bigint, mtimeNs: bigint): Promise<void>;
  mknod(p: Uint8Array, mode: number, major: number, minor: number): Promise<void>;
  lsetxattr(p: Uint8Array, name: Uint8Array, value: Uint8Array): Promise<void>;
  xattrs(p: Uint8Array): Promise<Array<[Uint8Array, Uint8Array]>>;
  /**
   * Every object under p (p included, symlinks not followed) that has extended attributes or
   * whose attributes could not be read, with its list or errno; one round trip for a tree.
   */
  xattrsTree(p: Uint8Array): Promise<Array<[Uint8Array, Array<[Uint8Array, Uint8Array]> | number]>>;
  /** xattrs() of many paths in one round trip: each a list, or the errno of its failure. */
  xattrsMany(ps: Uint8Array[]): Promise<Array<Array<[Uint8Array, Uint8Array]> | number>>;
  /** Send whatever is queued (lutime requests wait for company otherwise). */
  flush(): void;
  close(): Promise<void>;
}

export class HelperError extends Error {
  constructor(readonly errno: number, op: string) { super(`${op}: errno ${errno}`); }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Start the helper, or null when there is no usable python3 on this host. */
export function hostHelper(): HostHelper | null {
  const probe = spawnSync('python3', ['-c', 'import os; os.setxattr; os.mknod'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) return null;
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-u', '-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  return drive(child, createInterface({ input: child.stdout }));
}

/**
 * hostHelper() without blocking: the helper itself says "ready" once it has checked what it
 * needs, so python's start-up (a few hundred ms) overlaps whatever the caller does meanwhile
 * (main.ts boots the kernel). Resolves to null when there is no usable python3.
 */
export function hostHelperAsync(): Promise<HostHelper | null> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn('python3', ['-u', '-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CPTOFS_HELPER_READY: '1' } });
    } catch { resolve(null); return; }
    const rl = createInterface({ input: child.stdout });
    let settled = false;
    const fail = () => { if (!settled) { settled = true; rl.close(); resolve(null); } };
    child.on('error', fail);
    child.on('close', fail);
    child.stdin.on('error', () => {});
    rl.once('line', (l) => {
      if (settled) return;
      settled = true;
      if (l !== 'ready') { child.kill(); resolve(null); return; }
      child.removeListener('error', fail);
      child.removeListener('close', fail);
      resolve(drive(child, rl));
    });
  });
}

function drive(child: ChildProcessWithoutNullStreams, rl: ReturnType<typeof createInterface>): HostHelper {
  const waiting: Array<(r: { ok?: unknown; errno?: number }) => void> = [];
  let dead: Error | null = null;
  rl.on('line', (l) => { waiting.shift()?.(JSON.parse(l) as { ok?: unknown; errno?: number }); });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.on('error', (e) => { dead = e; });
  child.on('close', () => {
    dead ??= new Error(`host helper exited${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`);
    for (const w of waiting.splice(0)) w({ errno: 5 });
  });
  child.stdin.on('error', () => {});
  // Each write to the pipe costs a context switch into Python, so requests are sent in batches:
  // those whose answer is awaited go at the end of the event-loop turn, together with everything
  // queued before them; "lazy" ones (times, whose failures are collected later) wait for the
  // next batch or until 256 are queued.
  const outbox: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (outbox.length && !dead) child.stdin.write(`${outbox.splice(0).join('\n')}\n`);
  };
  const call = (req: Record<string, unknown>, lazy = false): Promise<unknown> => {
    if (dead) return Promise.reject(dead);
    return new Promise((resolve, reject) => {
      waiting.push((r) => (r.errno !== undefined ? reject(new HelperError(r.errno, String(req.op))) : resolve(r.ok)));
      outbox.push(requestLine(req));
      if (outbox.length >= 256) flush();
      else if (!lazy && !scheduled) { scheduled = true; setImmediate(flush); }
    });
  };
  return {
    async lutime(p, a, m) { await call({ op: 'lutime', p: hex(p), a, m }, true); },
    flush() { flush(); },
    async mknod(p, mode, maj, min) { await call({ op: 'mknod', p: hex(p), mode, maj, min }); },
    async lsetxattr(p, n, v) { await call({ op: 'setxattr', p: hex(p), n: hex(n), v: hex(v) }); },
    async xattrs(p) {
      const r = (await call({ op: 'xattrs', p: hex(p) })) as Array<[string, string]>;
      return r.map(([n, v]) => [Buffer.from(n, 'hex'), Buffer.from(v, 'hex')]);
    },
    async xattrsTree(p) {
      const r = (await call({ op: 'xattrs_tree', p: hex(p) })) as Array<[string, Array<[string, string]> | number]>;
      return r.map(([q, x]) => [Buffer.from(q, 'hex'), typeof x === 'number' ? x : x.map(([n, v]) => [Buffer.from(n, 'hex'), Buffer.from(v, 'hex')] as [Uint8Array, Uint8Array])]);
    },
    async xattrsMany(ps) {
      const r = (await call({ op: 'xattrs_many', ps: ps.map(hex) })) as Array<Array<[string, string]> | number>;
      return r.map((x) => (typeof x === 'number' ? x : x.map(([n, v]) => [Buffer.from(n, 'hex'), Buffer.from(v, 'hex')] as [Uint8Array, Uint8Array])));
    },
    close() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || dead) { resolve(); return; }
        child.once('close', () => resolve());
        flush();
        child.stdin.end();
      });
    },
  };
}

/*
 * Nanosecond times since 1970 exceed 2^53, so they travel as bigints: written as bare JSON
 * integers, which Python's json reads exactly.
 */
function requestLine(req: Record<string, unknown>): string {
  return JSON.stringify(req, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}` : v))
    .replace(/"\\u0000(-?\d+)"/g, '$1');
}
