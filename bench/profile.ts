/*
 * Profile one hot loop of the bench and print where the time goes.
 *
 *   node dist/bench/profile.js stat [seconds] [--out file.cpuprofile]
 *
 * Loops: getpid, stat (sys.stat into an object), statbuf (into a Uint8Array), open (open+close),
 * pread (4 KiB), boot (boot, first getpid, halt). The V8 sampling profiler runs in-process through node:inspector (the same
 * profile `node --cpu-prof` writes); the summary lists functions by self time and by inclusive
 * time within the loop, with file:line so each line points at the code to look at. The raw
 * profile can be written with --out and opened in Chrome DevTools.
 */
import * as inspector from 'node:inspector';
import * as fs from 'node:fs';
import { findSourceMap } from 'node:module';

// Source maps must be on before the kernel's modules load, so they are imported dynamically
// below; profile locations are then reported as src/*.ts lines rather than dist/*.js ones.
process.setSourceMapsEnabled(true);
const { boot, uapi } = await import('../src/lkl.js');
const { createNodeHost } = await import('../src/arch/node/index.js');

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile { nodes: Node[]; samples?: number[]; timeDeltas?: number[] }

function post<T>(s: inspector.Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => s.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r as T))));
}

function where(n: Node): string {
  const f = n.callFrame;
  let url = f.url, line = f.lineNumber + 1;
  if (url.startsWith('file:')) {
    const e = findSourceMap(url)?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (e?.originalSource) { url = e.originalSource; line = (e.originalLine ?? 0) + 1; }
    url = url.replace(/^file:\/\/.*?\/(src|bench|dist)\//, '$1/');
  }
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${line}` : ''}`.trim();
}

function summarise(p: Profile, top: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const total = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const self = new Map<string, number>();
  for (const n of p.nodes) self.set(where(n), (self.get(where(n)) ?? 0) + (n.hitCount ?? 0));
  // Inclusive: each function's hits plus its subtree, counted once per key on each stack.
  const incl = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id)!;
    let sum = n.hitCount ?? 0;
    const k = where(n);
    const fresh = !onStack.has(k);
    if (fresh) onStack.add(k);
    for (const c of n.children ?? []) sum += walk(c, onStack);
    if (fresh) { onStack.delete(k); incl.set(k, (incl.get(k) ?? 0) + sum); }
    return sum;
  };
  walk(p.nodes[0]!.id, new Set());
  const pct = (h: number) => `${((100 * h) / total).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, h]) => `  ${pct(h)}  ${k}`).join('\n');
  return `samples: ${total}\n\nself time:\n${list(self)}\n\ninclusive time:\n${list(incl)}\n`;
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'stat';
  const seconds = Number(process.argv[3] ?? 3) || 3;
  const outIdx = process.argv.indexOf('--out');
  const k = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
  for (const d of ['/a', '/a/b', '/a/b/c']) await k.sys.mkdir(d, 0o755);
  const wfd = await k.sys.open('/a/b/c/file', uapi.O_CREAT | uapi.O_WRONLY, 0o644);
  await k.sys.write(wfd, new Uint8Array(8192), 8192);
  await k.sys.close(wfd);
  const rfd = await k.sys.open('/a/b/c/file', uapi.O_RDONLY, 0);
  const obj = {}, u8 = new Uint8Array(128), buf = new Uint8Array(4096);
  const loops: Record<string, () => Promise<unknown>> = {
    getpid: () => k.sys.getpid(),
    stat: () => k.sys.stat('/a/b/c/file', obj),
    statbuf: () => k.sys.stat('/a/b/c/file', u8),
    open: async () => { await k.sys.close(await k.sys.open('/a/b/c/file', uapi.O_RDONLY, 0)); },
    pread: () => k.sys.pread64(rfd, buf, 4096, 0),
    boot: async () => {
      const b = await boot({ cmdline: 'mem=64M quiet', host: createNodeHost({ print: null }) });
      await b.sys.getpid();
      await b.halt();
    },
  };
  const fn = loops[which];
  if (!fn) throw new Error(`unknown loop '${which}': one of ${Object.keys(loops).join(', ')}`);
  for (let i = 0; i < (which === 'boot' ? 50 : 20000); i++) await fn(); // warm-up: profile optimised code

  const s = new inspector.Session();
  s.connect();
  await post(s, 'Profiler.enable');
  await post(s, 'Profiler.setSamplingInterval', { interval: 50 });
  await post(s, 'Profiler.start');
  const end = process.hrtime.bigint() + BigInt(seconds * 1e9);
  let n = 0;
  const batch = which === 'boot' ? 10 : 1000;
  while (process.hrtime.bigint() < end) { for (let i = 0; i < batch; i++) await fn(); n += batch; }
  const { profile } = await post<{ profile: Profile }>(s, 'Profiler.stop');
  s.disconnect();
  await k.sys.close(rfd);
  await k.halt();
  if (outIdx > 0 && process.argv[outIdx + 1]) fs.writeFileSync(process.argv[outIdx + 1]!, JSON.stringify(profile));
  process.stdout.write(`loop '${which}': ${n} iterations in ${seconds} s (${((seconds * 1e9) / n).toFixed(0)} ns/op under the profiler)\n`);
  process.stdout.write(summarise(profile, Number(process.env.TOP ?? 25)));
}

main().catch((e) => { process.stderr.write(`profile: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; });
