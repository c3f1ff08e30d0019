/*
 * Differential fuzzing of our ext4 against the host kernel's.
 *
 * One run takes a sequence of operations (ops.ts) and an mkfs profile. mkfs.ext4 makes one image
 * (fixed UUID and hash seed), copied sparse into a twin. The host kernel loop-mounts the twin and
 * host_ops.py runs the sequence there; our kernel adds the other image as a disk, mounts it
 * read-write and runs the same sequence through k.sys.*. Then:
 *   - every operation's result must be equal (return value or errno name);
 *   - the final trees, walked on both mounts with the ground-truth walkers of test/fixtures, must
 *     be equal in names, types, modes, sizes, nlink, owners, content hashes, xattrs and symlink
 *     targets (inode numbers, block counts and ctime are allocation or clock facts and left out);
 *     times are compared only where the sequence set them explicitly (see checkTimes);
 *   - `e2fsck -fn` must find both images clean after unmount.
 *
 * A failing run is shrunk by delta debugging (ddmin over the operation list, keeping a candidate
 * while its first divergence has the same signature) and reported as a reproducer: the seed, the
 * minimal operations as JSON and a command that reruns them.
 *
 * Before fuzzing, probe() runs one operation of each variant on both kernels: a variant Linux
 * supports but ours answers with EOPNOTSUPP, ENOSYS or EROFS (read-write ext4 not there yet) is
 * left out of generation and reported, never counted as a pass.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, withHostMount, withTempDir, walkHost } from '../fixtures/host.js';
import { bootForDisks, walkLkl } from '../fixtures/lkl.js';
import { compareTrees, latin1ToDisplay, type Tree } from '../fixtures/walk.js';
import { stepLkl } from './exec_lkl.js';
import { EXPLICIT_TIME_LIMIT, variantOf, type FuzzOp, type OpResult } from './ops.js';

/** dist/test/fuzz/ → test/fuzz/ in the source tree, where the Python executor lives. */
const HOST_OPS = fileURLToPath(new URL('../../../test/fuzz/host_ops.py', import.meta.url));
/** The system interpreter when there is one: version-manager shims (pyenv) cost ~0.3 s a start. */
const PYTHON = process.env.LKL_FUZZ_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
// walkHost (test/fixtures) runs `python3` from PATH once per walk: put the same interpreter first.
if (PYTHON.startsWith('/')) {
  const bin = dirname(PYTHON);
  if (!(process.env.PATH ?? '').startsWith(`${bin}:`)) process.env.PATH = `${bin}:${process.env.PATH ?? ''}`;
}

export interface Profile { name: string; mkfs: string[] }
export const PROFILES: Profile[] = [
  { name: 'ext4-4k', mkfs: ['-t', 'ext4', '-b', '4096'] },
  { name: 'ext4-1k', mkfs: ['-t', 'ext4', '-b', '1024'] },
  { name: 'ext4-4k-inline', mkfs: ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'] },
];
export function profileNamed(name: string): Profile {
  const p = PROFILES.find((x) => x.name === name);
  if (!p) throw new Error(`unknown profile ${name} (have ${PROFILES.map((x) => x.name).join(', ')})`);
  return p;
}
export const profileForSeed = (seed: number): Profile => PROFILES[seed % PROFILES.length]!;

const IMAGE_BYTES = 64 * 2 ** 20;
const OP_TIMEOUT_MS = 20_000;

export type DivergenceKind = 'op' | 'tree' | 'fsck-ours' | 'fsck-linux' | 'crash';
export interface Divergence {
  kind: DivergenceKind;
  /** For 'op': the index of the operation. */
  index?: number;
  /** Stable across shrinking: what the shrinker keeps while dropping operations. */
  signature: string;
  detail: string;
}

export interface RunOptions {
  /** Walk and compare the final trees (default true). */
  trees?: boolean;
  /** e2fsck -fn both images (default true). */
  fsck?: boolean;
}

export interface RunResult {
  ours: OpResult[];
  linux: OpResult[];
  divergences: Divergence[];
  /** Where the time went, ms. */
  ms: { mkfs: number; linux: number; ours: number; fsck: number };
}

const show = (v: unknown): string => JSON.stringify(v);

/** Mount-relative display of an op, short: long names are abbreviated. */
export function showOp(op: FuzzOp): string {
  return JSON.stringify(op).replace(/([A-Za-zü日])\1{19,}/gu, (m, c: string) => `${c}×${[...m].length}`);
}

/** Run `ops` on both kernels over twin images; every difference comes back as a Divergence. */
export async function runCase(ops: FuzzOp[], profile: Profile, o: RunOptions = {}): Promise<RunResult> {
  const trees = o.trees ?? true, fsck = o.fsck ?? true;
  return withTempDir('fuzz', async (dir) => {
    const ms = { mkfs: 0, linux: 0, ours: 0, fsck: 0 };
    let t0 = Date.now();
    const img = join(dir, 'ours.img'), twin = join(dir, 'linux.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, IMAGE_BYTES);
    run('mkfs.ext4', ['-q', '-F', '-U', '6b1c1a6e-3f5e-4a2b-9c1d-0123456789ab', '-E', 'hash_seed=1e2d3c4b-5a69-4788-96a5-b4c3d2e1f001',
      ...profile.mkfs, img]);
    run('cp', ['--sparse=always', img, twin]);
    ms.mkfs = Date.now() - t0;

    // The host kernel first: it is the oracle, and its results never depend on ours.
    t0 = Date.now();
    let linuxTree: Tree | undefined;
    const linux = await withHostMount(twin, '', async (mnt) => {
      const r = spawnSync(PYTHON, [HOST_OPS], { input: JSON.stringify({ root: mnt, ops }), encoding: 'utf8', maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`host_ops.py exited ${r.status}: ${r.stderr}${r.error ?? ''}`);
      const out = JSON.parse(r.stdout) as OpResult[] | { unsupported: string };
      if (!Array.isArray(out)) throw new Error(`host executor: ${out.unsupported}`);
      if (trees) linuxTree = await walkHost(mnt);
      return out;
    });
    ms.linux = Date.now() - t0;

    t0 = Date.now();
    const divergences: Divergence[] = [];
    const ours: OpResult[] = [];
    let ourTree: Tree | undefined;
    const b = await bootForDisks('mem=192M loglevel=4');
    if (!b) throw new Error('k.diskAdd/mountDev missing');
    let crashed = false;
    try {
      const id = await b.api.diskAdd({ path: img });
      const mnt = await b.api.mountDev(id, { fstype: 'ext4' });
      await b.k.sys.umask(0);
      for (const [i, op] of ops.entries()) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<OpResult>((res) => { timer = setTimeout(() => res('TIMEOUT'), OP_TIMEOUT_MS); });
        const r = await Promise.race([stepLkl(b.k, mnt, op), timeout]);
        clearTimeout(timer);
        ours.push(r);
        if (r === 'TIMEOUT' || (typeof r === 'string' && r.startsWith('EXCEPTION'))) {
          divergences.push({ kind: 'crash', index: i, signature: `crash ${variantOf(op)}`, detail: `op ${i} ${showOp(op)}: ours ${r}, Linux ${show(linux[i])}` });
          crashed = true;
          break;
        }
      }
      if (!crashed && trees) ourTree = (await walkLkl(b.k, mnt)).tree;
      if (!crashed) await b.api.umountDev(id);
    } catch (e) {
      divergences.push({ kind: 'crash', signature: 'crash harness', detail: `our kernel threw: ${(e as Error).stack ?? e}` });
      crashed = true;
    } finally {
      await b.k.halt().catch(() => 0);
    }
    ms.ours = Date.now() - t0;

    for (let i = 0; i < ours.length; i++) {
      if (ours[i] === linux[i]) continue;
      if (divergences.some((d) => d.kind === 'crash' && d.index === i)) continue;
      const op = ops[i]!;
      divergences.push({
        kind: 'op', index: i, signature: `op ${variantOf(op)} ours=${show(ours[i])} linux=${show(linux[i])}`,
        detail: `op ${i} ${showOp(op)}: ours ${show(ours[i])}, Linux ${show(linux[i])}`,
      });
    }
    if (ourTree && linuxTree) {
      const diffs = [...compareTrees(ourTree, linuxTree, ['ino', 'blocks', 'atime', 'mtime', 'ctime']), ...checkTimes(ourTree, linuxTree)];
      for (const d of diffs) {
        const field = / (\w+) got /.exec(d)?.[1] ?? (d.includes('missing') ? 'missing' : d.includes('unexpected') ? 'unexpected' : 'other');
        const type = /\((file|dir|symlink|other)\)$/.exec(d)?.[1];
        divergences.push({ kind: 'tree', signature: `tree ${field}${type ? ` ${type}` : ''}`, detail: `tree ${d} (got = ours, want = Linux)` });
      }
    }
    if (fsck && !crashed) {
      t0 = Date.now();
      for (const [which, path] of [['ours', img], ['linux', twin]] as const) {
        const f = run('e2fsck', ['-fn', path], { allowFail: true });
        if (f.code !== 0) {
          const lines = `${f.stdout}${f.stderr}`.split('\n').filter((l) => l && !/^(Pass \d|e2fsck \d)/.test(l));
          divergences.push({ kind: which === 'ours' ? 'fsck-ours' : 'fsck-linux', signature: `fsck-${which}`, detail: `e2fsck -fn on ${which === 'ours' ? 'our' : "Linux's"} image: exit ${f.code}\n    ${lines.slice(0, 12).join('\n    ')}` });
        }
      }
      ms.fsck = Date.now() - t0;
    }
    // LKL_FUZZ_KEEP=<dir>: keep both images of the run there (for debugfs and friends).
    const keep = process.env.LKL_FUZZ_KEEP;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      for (const f of [img, twin]) run('cp', ['--sparse=always', f, join(keep, f.slice(dir.length + 1))]);
    }
    return { ours, linux, divergences, ms };
  });
}

/**
 * Times: an explicitly set time (before EXPLICIT_TIME_LIMIT on Linux) must be equal to the
 * nanosecond; a time Linux took from its clock only has to come from ours too (not be an old
 * explicit value that should have been replaced). atime is left out for regular files with more
 * than one name: the walk reads one name's data before stat'ing the next, and relatime then moves
 * an old atime on either kernel.
 */
function checkTimes(ours: Tree, linux: Tree): string[] {
  const out: string[] = [];
  const limit = BigInt(EXPLICIT_TIME_LIMIT) * 1_000_000_000n;
  for (const [p, w] of linux) {
    const g = ours.get(p);
    if (!g) continue;
    for (const f of ['mtime', 'atime'] as const) {
      if (f === 'atime' && (w.mode & 0o170000) === 0o100000 && w.nlink > 1) continue;
      const want = BigInt(w[f]), got = BigInt(g[f]);
      const bad = want < limit ? got !== want : got < limit;
      const type = { 0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink' }[w.mode & 0o170000] ?? 'other';
      if (bad) out.push(`/${latin1ToDisplay(p)}: ${f} got ${got < limit ? g[f] : 'clock'}, want ${want < limit ? w[f] : 'clock'} (${type})`);
    }
  }
  return out;
}

const SEVERITY: Record<DivergenceKind, number> = { crash: 0, 'fsck-ours': 1, op: 2, tree: 3, 'fsck-linux': 4 };

/** One divergence per signature, the most severe first: what is worth a shrink of its own. */
export function shrinkTargets(ds: Divergence[]): Divergence[] {
  const seen = new Set<string>();
  return [...ds].sort((a, b) => SEVERITY[a.kind] - SEVERITY[b.kind]).filter((d) => !seen.has(d.signature) && seen.add(d.signature));
}

/**
 * ddmin: the smallest sub-list of `ops` (1-minimal within the budget) whose run still shows a
 * divergence with `signature`. Op divergences are cut right after the diverging op first, and
 * skip the tree walk and fsck while shrinking.
 */
export async function shrink(ops: FuzzOp[], profile: Profile, first: Divergence,
  o: { maxRuns?: number; deadline?: number; log?: (s: string) => void } = {}): Promise<{ ops: FuzzOp[]; runs: number; last?: RunResult }> {
  const maxRuns = o.maxRuns ?? 300;
  const deadline = o.deadline ?? Infinity;
  const sig = first.signature;
  const opOnly = first.kind === 'op' || first.kind === 'crash';
  let runs = 0;
  let last: RunResult | undefined;
  const fails = async (cand: FuzzOp[]): Promise<boolean> => {
    runs++;
    const r = await runCase(cand, profile, opOnly ? { trees: false, fsck: false } : {});
    const hit = r.divergences.some((d) => d.signature === sig);
    if (hit) last = r;
    return hit;
  };
  const budget = (): boolean => runs < maxRuns && Date.now() < deadline;
  let cur = ops;
  if (first.index !== undefined && first.index + 1 < cur.length && await fails(cur.slice(0, first.index + 1))) cur = cur.slice(0, first.index + 1);
  // The shortest failing prefix by bisection (a final-state divergence usually needs only the
  // operations up to some point): a few runs that often halve the work of ddmin.
  if (first.index === undefined) {
    let lo = 0, hi = cur.length; // prefix `hi` fails; find the least such
    while (hi - lo > 1 && budget()) {
      const mid = (lo + hi) >> 1;
      if (await fails(cur.slice(0, mid))) hi = mid; else lo = mid;
    }
    cur = cur.slice(0, hi);
    o.log?.(`  shrink: prefix of ${cur.length} ops after ${runs} runs`);
  }
  let n = 2;
  while (cur.length >= 2 && budget()) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i * chunk < cur.length && budget(); i++) {
      const cand = [...cur.slice(0, i * chunk), ...cur.slice((i + 1) * chunk)];
      if (await fails(cand)) { cur = cand; n = Math.max(n - 1, 2); reduced = true; break; }
    }
    if (!reduced) {
      if (chunk === 1) break;
      n = Math.min(cur.length, n * 2);
    }
    o.log?.(`  shrink: ${cur.length} ops after ${runs} runs`);
  }
  return { ops: cur, runs, ...(last ? { last } : {}) };
}

/** One operation of each variant, in an order where Linux succeeds at every one. */
export const PROBE_OPS: FuzzOp[] = [
  ['mkdir', 'd0', 0o755], ['creat', 'f0', 1, 0o644], ['write', 'f0', 0, 10_000, 1], ['truncate', 'f0', 5000],
  ['fallocate', 'f0', 0, 0, 8192], ['fallocate', 'f0', 1, 8192, 8192], ['fallocate', 'f0', 3, 0, 4096],
  ['fallocate', 'f0', 0x10, 0, 4096], ['fallocate', 'f0', 0x11, 4096, 16384], ['fsync', 'f0', 0],
  ['setxattr', 'f0', 'user.a', 10, 1, 0, 0], ['removexattr', 'f0', 'user.a', 0], ['link', 'f0', 'd0/f1'],
  ['symlink', 'f0', 's'], ['rename', 'd0/f1', 'f2', 0], ['rename', 'f2', 'f3', 1], ['rename', 'f3', 'f0', 2],
  ['chmod', 'f0', 0o600], ['utimens', 'f0', [1, 2], [3, 4], 0], ['unlink', 'f3'], ['mkdir', 'd1', 0o755], ['rmdir', 'd1'],
];
const UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOSYS', 'EROFS', 'ENOTTY']);

export interface ProbeResult {
  /** Variants left out of generation, with why. */
  disabled: Map<string, string>;
  /** Divergences of the probe itself that are not "unsupported" (reported, not disabled). */
  divergences: Divergence[];
}

/** Which variants does our kernel not support yet? */
export async function probe(profile: Profile): Promise<ProbeResult> {
  const r = await runCase(PROBE_OPS, profile, { trees: false, fsck: false });
  const disabled = new Map<string, string>();
  for (const [i, op] of PROBE_OPS.entries()) {
    const a = r.ours[i], w = r.linux[i];
    if (typeof w === 'number' && typeof a === 'string' && (UNSUPPORTED.has(a) || a.startsWith('EXCEPTION') || a === 'TIMEOUT')) {
      disabled.set(variantOf(op), `${showOp(op)}: ours ${a}, Linux ${w}`);
    }
  }
  if (r.ours.length < PROBE_OPS.length) {
    for (const op of PROBE_OPS.slice(r.ours.length)) if (!disabled.has(variantOf(op))) disabled.set(variantOf(op), 'not reached: the probe crashed earlier');
  }
  return { disabled, divergences: r.divergences.filter((d) => d.kind === 'op' && !disabled.has(variantOf(PROBE_OPS[d.index!]!))) };
}

export interface Reproducer { seed: number; profile: string; opsCount: number; ops: FuzzOp[]; divergences: string[] }

/** The text printed for a failure: seed, minimal ops as JSON, what differed, how to rerun. */
export function formatReproducer(r: Reproducer, file?: string): string {
  return [
    `seed ${r.seed} (profile ${r.profile}, ${r.opsCount} generated ops) diverges; minimal sequence (${r.ops.length} ops):`,
    JSON.stringify(r.ops),
    ...r.divergences.map((d) => `  ${d}`),
    `rerun the seed: node dist/test/fuzz/run.js --seed ${r.seed} --seeds 1 --ops ${r.opsCount} --profile ${r.profile}`,
    ...(file ? [`rerun the minimal ops: node dist/test/fuzz/run.js --replay ${file}`] : []),
  ].join('\n');
}
