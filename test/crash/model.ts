/*
 * Workloads and the model they are checked against.
 *
 * A workload is a list of steps (create, append, overwrite, truncate, fsync, rename, unlink,
 * mkdir) drawn from a seed. It runs on our kernel over a recording FaultyDisk; around each
 * step we note the disk's operation count before and after, and the model (which path holds which
 * file, which file holds which bytes) after it. A cut after `p` disk operations can then only show
 * model states of steps that had started by then.
 *
 * What a crash may and may not do to a file, in the terms of the checks below:
 *   - durability: a file whose fsync returned before the cut holds the content it had at that
 *     fsync, or that of a later step that had started before the cut (or a prefix of one at least
 *     as long as the fsync'd content: an append in progress), or is gone if a later unlink/rename
 *     had started;
 *   - no garbage: every regular file found after the crash is at a path some model state had,
 *     and every byte of it equals the byte at that offset in one of the states the path held
 *     (zeros only where a state had a hole or zeros); it is no longer than the longest state.
 * The generator keeps fsync'd files away from in-place overwrites, whose partial write-back after
 * a crash is a legitimate sector mix that the durability rule would not accept.
 */
import { Buffer } from 'node:buffer';
import { rng } from './faulty_disk.js';

export type Step =
  | { op: 'mkdir'; path: string }
  | { op: 'create'; path: string; len: number; seed: number }
  | { op: 'append'; path: string; len: number; seed: number }
  | { op: 'overwrite'; path: string; off: number; len: number; seed: number }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'fsync'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  /** `count` small files in `dir` (the directory grows past its first blocks). */
  | { op: 'many'; dir: string; count: number; seed: number };

export function manyNames(st: { dir: string; count: number; seed: number }): [string, Uint8Array][] {
  return Array.from({ length: st.count }, (_, i) => [`${st.dir ? `${st.dir}/` : ''}m${st.seed}-entry-with-a-long-name-${i}`, pattern(st.seed * 97 + i, 50 + i * 13)]);
}

export function stepText(s: Step): string {
  switch (s.op) {
    case 'create': case 'append': return `${s.op} ${s.path} ${s.len}`;
    case 'overwrite': return `overwrite ${s.path} @${s.off} ${s.len}`;
    case 'truncate': return `truncate ${s.path} ${s.size}`;
    case 'rename': return `rename ${s.from} ${s.to}`;
    case 'many': return `many ${s.dir || '.'} ${s.count}`;
    default: return `${s.op} ${s.path}`;
  }
}

/** Deterministic bytes: `len` bytes of stream `seed`. */
export function pattern(seed: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = (Math.imul(seed, 2654435761) ^ 0x5bd1e995) >>> 0;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    // Never 0: a zero byte in a file then always means a hole or a missing write.
    b[i] = (x & 0xff) || 1;
  }
  return b;
}

export interface FileState { id: number; data: Uint8Array }
export interface ModelState { files: Map<string, FileState>; dirs: Set<string> }

export function cloneState(s: ModelState): ModelState {
  return { files: new Map(s.files), dirs: new Set(s.dirs) };
}

/** Apply a step to the model (a pure function of the previous state). */
export function applyStep(s0: ModelState, st: Step, nextId: () => number): ModelState {
  const s = cloneState(s0);
  const setData = (p: string, f: (d: Uint8Array) => Uint8Array): void => {
    const cur = s.files.get(p);
    if (!cur) throw new Error(`model: ${p} missing for ${stepText(st)}`);
    s.files.set(p, { id: cur.id, data: f(cur.data) });
  };
  switch (st.op) {
    case 'mkdir': s.dirs.add(st.path); break;
    case 'create': {
      const old = s.files.get(st.path);
      s.files.set(st.path, { id: old?.id ?? nextId(), data: pattern(st.seed, st.len) });
      break;
    }
    case 'append': setData(st.path, (d) => { const n = new Uint8Array(d.length + st.len); n.set(d); n.set(pattern(st.seed, st.len), d.length); return n; }); break;
    case 'overwrite': setData(st.path, (d) => {
      const n = new Uint8Array(Math.max(d.length, st.off + st.len)); n.set(d); n.set(pattern(st.seed, st.len), st.off); return n;
    }); break;
    case 'truncate': setData(st.path, (d) => { const n = new Uint8Array(st.size); n.set(d.subarray(0, Math.min(d.length, st.size))); return n; }); break;
    case 'fsync': break;
    case 'rename': {
      const f = s.files.get(st.from);
      if (!f) throw new Error(`model: rename of missing ${st.from}`);
      s.files.delete(st.from);
      s.files.set(st.to, f);
      break;
    }
    case 'unlink': s.files.delete(st.path); break;
    case 'many': for (const [p, d] of manyNames(st)) s.files.set(p, { id: nextId(), data: d }); break;
  }
  return s;
}

/**
 * A random workload of `n` steps from `seed`. Sizes straddle block boundaries (1 KiB and 4 KiB
 * blocks) and reach a few hundred KiB so extents and indirect blocks grow; fsyncs are frequent so
 * many cuts fall after some fsync.
 */
export function genWorkload(seed: number, n: number, opts: { rename: boolean }): Step[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const size = (): number => pick([0, 1, 511, 1024, 1500, 4095, 4096, 4097, 8192, 12_000, 40_000, 70_000, 150_000, 300_000]);
  const dirs = ['', 'd0'];
  const files = new Map<string, boolean>(); // path -> fsync'd ("sealed": no in-place overwrite)
  const out: Step[] = [{ op: 'mkdir', path: 'd0' }];
  let uniq = 0, s = seed * 1000;
  const newPath = (): string => { const d = pick(dirs); return `${d ? `${d}/` : ''}f${uniq++}`; };
  while (out.length < n) {
    const roll = r();
    const list = [...files.keys()];
    if (roll < 0.2 || list.length < 2) {
      const p = newPath();
      out.push({ op: 'create', path: p, len: size(), seed: ++s });
      files.set(p, false);
    } else if (roll < 0.45) {
      const p = pick(list);
      out.push({ op: 'fsync', path: p });
      files.set(p, true);
    } else if (roll < 0.57) {
      out.push({ op: 'append', path: pick(list), len: size() || 100, seed: ++s });
    } else if (roll < 0.65) {
      const p = pick(list.filter((x) => !files.get(x)));
      if (p) out.push({ op: 'overwrite', path: p, off: Math.floor(r() * 20_000), len: size() || 10, seed: ++s });
    } else if (roll < 0.72) {
      out.push({ op: 'truncate', path: pick(list), size: pick([0, 1, 1000, 4096, 5000, 100_000]) });
    } else if (roll < 0.82 && opts.rename) {
      const from = pick(list);
      // Half the time over an existing file (the atomic-replace idiom), else to a new name.
      const others = list.filter((x) => x !== from);
      const to = r() < 0.5 && others.length > 0 ? pick(others) : newPath();
      out.push({ op: 'rename', from, to });
      const sealed = files.get(from)!;
      files.delete(from);
      files.set(to, sealed);
    } else if (roll < 0.9) {
      const p = pick(list);
      out.push({ op: 'unlink', path: p });
      files.delete(p);
    } else if (roll < 0.95) {
      const st = { op: 'many' as const, dir: pick(dirs), count: 20 + Math.floor(r() * 40), seed: ++s };
      out.push(st);
      for (const [p] of manyNames(st)) files.set(p, false);
    } else if (roll < 0.97 && dirs.length < 4) {
      const d = `d${dirs.length}`;
      out.push({ op: 'mkdir', path: d });
      dirs.push(d);
    } else {
      const p = pick(list);
      out.push({ op: 'fsync', path: p });
      files.set(p, true);
    }
  }
  return out;
}

/**
 * One step as it ran: disk operations before and after, the model after it, and `alt`: contents
 * a path may show on the media from this step on without being a model state. A truncate down
 * zeroes the tail of the new last block in the cache; the data write-back that precedes a commit
 * can put that block on the media while the size change stays in the uncommitted transaction, so
 * the old size with a zeroed block tail is a state Linux (data=ordered) also leaves behind.
 */
export interface StepRecord { step: Step; startOp: number; endOp: number; state: ModelState; alt?: Map<string, Uint8Array> }

/** The alternative contents a step makes possible (see StepRecord.alt). */
export function altStates(before: ModelState, st: Step, blockSize: number): Map<string, Uint8Array> | undefined {
  if (st.op !== 'truncate') return undefined;
  const old = before.files.get(st.path)?.data;
  if (!old || st.size >= old.length) return undefined;
  const end = Math.min(old.length, Math.ceil(st.size / blockSize) * blockSize);
  if (end <= st.size) return undefined;
  const d = old.slice();
  d.fill(0, st.size, end);
  return new Map([[st.path, d]]);
}

/** What a run of a workload leaves for the checks. */
export interface RunRecord {
  /** states[0] is the empty filesystem (before step 0); states[j + 1] is after steps[j]. */
  initial: ModelState;
  steps: StepRecord[];
  /** fsyncs that returned: the step index, the path and the file it named then. */
  fsyncs: { step: number; path: string; endOp: number }[];
}

/** What was found on the crashed-and-recovered filesystem. */
export interface FoundTree { files: Map<string, Uint8Array>; dirs: Set<string>; other: string[] }

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function isPrefix(a: Uint8Array, of: Uint8Array): boolean {
  return a.length <= of.length && Buffer.compare(a, of.subarray(0, a.length)) === 0;
}

/**
 * The media are sector-atomic, not write-atomic: a block rewritten in place (the zeroed tail of a
 * truncate, an append into the last partial block) may reach the media torn, each sector old or
 * new. `got` passes when its size is that of an allowed content (or, an append in progress, at
 * least the fsync'd size and within one) and every sector of it equals that sector of some
 * allowed content.
 */
function sectorMix(got: Uint8Array, allowed: Uint8Array[], fsyncLen: number): boolean {
  const sizeOk = allowed.some((a) => a.length === got.length) || (got.length >= fsyncLen && allowed.some((a) => a.length >= got.length));
  if (!sizeOk) return false;
  for (let o = 0; o < got.length; o += 512) {
    const e = Math.min(got.length, o + 512);
    const hit = allowed.some((a) => {
      if (a.length < e) return false;
      for (let i = o; i < e; i++) if (a[i] !== got[i]) return false;
      return true;
    });
    if (!hit) return false;
  }
  return true;
}

/** Check a found tree against the run, for a cut after `p` disk operations. Returns problems. */
export function checkCut(rec: RunRecord, p: number, found: FoundTree): string[] {
  const problems: string[] = [];
  // Steps that may have reached the media: those that had started by the cut.
  let J = -1;
  for (let j = 0; j < rec.steps.length; j++) if (rec.steps[j]!.startOp <= p) J = j;
  const stateAt = (j: number): ModelState => (j < 0 ? rec.initial : rec.steps[j]!.state);
  /** Every content `path` may show from states jFrom..J: model states and the alternatives. */
  const contents = (path: string, jFrom: number): (Uint8Array | null)[] => {
    const out: (Uint8Array | null)[] = [];
    for (let j = jFrom; j <= J; j++) {
      out.push(stateAt(j).files.get(path)?.data ?? null);
      // Alternatives of steps after jFrom (the fsync'd state itself is what jFrom left).
      const alt = j > jFrom && j >= 0 ? rec.steps[j]!.alt?.get(path) : undefined;
      if (alt) out.push(alt);
    }
    return out;
  };

  // Durability of every file whose fsync returned before the cut (the latest such fsync).
  const lastFsync = new Map<string, number>();
  for (const f of rec.fsyncs) if (f.endOp <= p) lastFsync.set(f.path, f.step);
  for (const [path, jf] of lastFsync) {
    const allowed = contents(path, jf);
    const got = found.files.get(path);
    const fsyncLen = stateAt(jf).files.get(path)!.data.length;
    if (got === undefined) {
      if (!allowed.includes(null)) problems.push(`fsync'd ${path} (step ${jf}, ${fsyncLen} bytes): got missing, want present`);
      continue;
    }
    const ok = allowed.some((a) => a !== null && (eq(got, a) || (got.length >= fsyncLen && isPrefix(got, a))))
      || sectorMix(got, allowed.filter((a): a is Uint8Array => a !== null), fsyncLen);
    if (!ok) {
      const want = stateAt(jf).files.get(path)!.data;
      let at = 0;
      while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
      problems.push(`fsync'd ${path} (step ${jf}): got ${got.length} bytes, want ${want.length} bytes as fsync'd (or a later state); first difference from the fsync'd content at byte ${at}`);
    }
  }

  // No garbage, no phantoms.
  for (const [path, got] of found.files) {
    const states = contents(path, -1).filter((x): x is Uint8Array => x !== null);
    if (states.length === 0) { problems.push(`${path}: got a file, want none (no state up to step ${J} had it)`); continue; }
    const maxLen = Math.max(...states.map((s) => s.length));
    if (got.length > maxLen) { problems.push(`${path}: got ${got.length} bytes, want at most ${maxLen}`); continue; }
    // Most files equal a state, or a prefix of one: skip the byte-by-byte search then.
    if (states.some((a) => isPrefix(got, a))) continue;
    let bad = -1, badCount = 0;
    for (let i = 0; i < got.length; i++) {
      const b = got[i]!;
      if (!states.some((s) => i < s.length && s[i] === b)) { if (bad < 0) bad = i; badCount++; }
    }
    if (bad >= 0) problems.push(`${path}: ${badCount} bytes no state had (first at byte ${bad}: got 0x${got[bad]!.toString(16)}), size ${got.length}`);
  }
  for (const d of found.dirs) {
    let seen = false;
    for (let j = -1; j <= J && !seen; j++) seen = stateAt(j).dirs.has(d);
    if (!seen) problems.push(`${d}/: got a directory, want none`);
  }
  for (const o of found.other) if (o !== 'lost+found') problems.push(`${o}: got an unexpected entry`);
  return problems;
}
