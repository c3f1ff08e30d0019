/*
 * Crash safety of ext4/ext3 read-write (issue 4, "Crash safety"): power cuts at hundreds of
 * seeded points of scripted workloads, each recovered three ways — our kernel's replay, e2fsck,
 * the host kernel's replay — and checked with e2fsck -fn and against the workload's model
 * (fsync'd files intact, no garbage anywhere). See harness.ts for the recoverers, model.ts for
 * what a crash may leave, faulty_disk.ts for the media model.
 *
 * A failing cut prints a reproducer line, CRASH_REPRO='mode:ops:seed:variant:wSEED'; running this
 * file with that variable set checks exactly that cut (with the host oracle when root).
 *
 * Knobs (the long run, `npm run crash`, raises them): CRASH_WORKLOADS workloads per variant
 * (default 2), CRASH_CUTS cuts per workload (65), CRASH_STEPS steps per workload (40; 300+
 * wraps the 1 MiB journal of the small images), CRASH_HOST_EVERY check every Nth cut through a
 * host loop mount too (8; 1 = all). The default, 4 variants x 2 workloads x 65 cuts = 520 cuts,
 * takes about 90 s on two cores.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  FaultyDisk, PowerCutError, crashImage, lastBarrier, parseReproducer, reproducer, SECTOR, type DiskOp, type Cut,
} from './faulty_disk.js';
import { genWorkload, applyStep, altStates, stepText, type ModelState, type RunRecord } from './model.js';
import {
  VARIANTS, openCutBench, mkfsImage, recordRun, checkOneCut, chooseCuts, Pool, tmpDir, reproLine, runStep, StepFailed,
  type Variant, type Recorded, type CheckOptions,
} from './harness.js';
import { run, hostSkipReason } from '../fixtures/host.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { EOPNOTSUPP, EIO } from '../../src/uapi/errno.js';

const HAVE_E2FSCK = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4'], { allowFail: true }).code === 0;
const skip = HAVE_E2FSCK ? false : 'e2fsck/mkfs.ext4 not installed';
const num = (name: string, dflt: number): number => { const v = Number(process.env[name]); return Number.isFinite(v) && v > 0 ? v : dflt; };
const WORKLOADS = num('CRASH_WORKLOADS', 2);
const CUTS = num('CRASH_CUTS', 65);
const STEPS = num('CRASH_STEPS', 40);
const HOST_EVERY = num('CRASH_HOST_EVERY', 8);
const REPRO = process.env.CRASH_REPRO ? parseReproducer(process.env.CRASH_REPRO) : null;
/** The long run (any knob raised) has no time limit; CI's default run must stay within 15 min. */
const TIMEOUT = ['CRASH_WORKLOADS', 'CRASH_CUTS', 'CRASH_STEPS'].some((k) => process.env[k]) ? Infinity : 900_000;

/** Whether the host oracle (c) runs; under CI its absence is a failure, not a skip. */
function hostAvailable(t: TestContext): boolean {
  const why = hostSkipReason();
  if (why === null) return true;
  if (process.env.CI) assert.fail(`the host kernel's replay (c) needs root in CI: ${why}`);
  t.diagnostic(`host replay (c) skipped: ${why}`);
  return false;
}

// ---- the media model, on synthetic logs ------------------------------------------------------------

function w(off: number, sectors: number, fill: number): DiskOp {
  return { kind: 'write', off, data: new Uint8Array(sectors * SECTOR).fill(fill) };
}

test('faulty disk: flushes are barriers, volatile writes persist by seed, tears are sector-granular', () => {
  const base = new Uint8Array(64 * SECTOR);
  const log: DiskOp[] = [w(0, 4, 1), { kind: 'flush' }, w(8 * SECTOR, 8, 2), w(24 * SECTOR, 2, 3), { kind: 'flush' }, w(40 * SECTOR, 8, 4)];
  assert.equal(lastBarrier(log, 4), 2, `barrier before op 4: got ${lastBarrier(log, 4)}, want 2`);
  for (let seed = 0; seed < 200; seed++) {
    for (const mode of ['ordered', 'reorder'] as const) {
      for (let ops = 0; ops <= log.length; ops++) {
        const c: Cut = { mode, ops, seed };
        const img = crashImage(base, log, c);
        assert.deepEqual(img, crashImage(base, log, c), `${reproducer(c)}: got two different images, want one per seed`);
        // Everything before a completed flush is there.
        if (ops >= 2) assert.ok(img.subarray(0, 4 * SECTOR).every((b) => b === 1), `${reproducer(c)}: flushed write lost`);
        if (ops >= 5) assert.ok(img.subarray(8 * SECTOR, 16 * SECTOR).every((b) => b === 2), `${reproducer(c)}: flushed write lost`);
        // Nothing issued after the cut (beyond the one in flight) is there.
        if (ops < 2) assert.ok(img.subarray(8 * SECTOR).every((b) => b === 0), `${reproducer(c)}: a write after the cut reached the media`);
        // Sector atomicity: every sector is all old or all new.
        for (let s = 0; s < 64; s++) {
          const sec = img.subarray(s * SECTOR, (s + 1) * SECTOR);
          assert.ok(sec.every((b) => b === sec[0]), `${reproducer(c)}: sector ${s} torn inside`);
        }
        if (mode === 'ordered' && ops >= 3 && ops < 5) {
          // No reordering: the volatile writes are all there.
          assert.ok(img.subarray(8 * SECTOR, 16 * SECTOR).every((b) => b === 2), `${reproducer(c)}: ordered mode dropped a completed write`);
        }
        if (mode === 'ordered' && ops === 2) {
          // In flight: a prefix of its sectors.
          const got = [...Array(8).keys()].map((s) => img[(8 + s) * SECTOR]);
          const k = got.indexOf(0);
          assert.ok(k === -1 || got.slice(k).every((b) => b === 0), `${reproducer(c)}: got sectors ${got.join(',')}, want a prefix`);
        }
      }
    }
  }
  // Reordering does happen: some seed drops the first volatile write but keeps the second.
  const seen = [...Array(200).keys()].some((seed) => {
    const img = crashImage(base, log, { mode: 'reorder', ops: 4, seed });
    return img[8 * SECTOR] === 0 && img[24 * SECTOR] === 3;
  });
  assert.ok(seen, 'reorder mode: got no seed dropping an earlier write while keeping a later one, want some');
  // The primary superblock is written whole.
  const sb: DiskOp[] = [w(0, 8, 9)];
  for (let seed = 0; seed < 300; seed++) {
    for (const mode of ['ordered', 'reorder'] as const) {
      const img = crashImage(base, sb, { mode, ops: 0, seed });
      assert.equal(img[1024], img[1536], `${mode} seed ${seed}: got the superblock torn, want it whole`);
    }
  }
  assert.deepEqual(parseReproducer(reproducer({ mode: 'reorder', ops: 17, seed: 99 }, 'ext4:w3').slice(13, -1)),
    { mode: 'reorder', ops: 17, seed: 99, extra: 'ext4:w3' }, 'reproducer round trip');
});

test('faulty disk: a live power cut refuses every later operation and leaves the seeded media', () => {
  const base = new Uint8Array(32 * SECTOR);
  const d = new FaultyDisk(base, { cutAfterWrites: 2, mode: 'reorder', seed: 5 });
  d.write(new Uint8Array(SECTOR).fill(1), 0);
  d.flush();
  d.write(new Uint8Array(SECTOR).fill(2), SECTOR);
  assert.throws(() => d.write(new Uint8Array(SECTOR).fill(3), 2 * SECTOR), PowerCutError, 'write after the cut: got accepted, want refused');
  assert.throws(() => d.flush(), PowerCutError, 'flush after the cut: got accepted, want refused');
  assert.throws(() => d.read(new Uint8Array(SECTOR), 0), PowerCutError, 'read after the cut: got data, want refused');
  assert.equal(d.cutAt, 3, `cut position: got ${d.cutAt}, want 3 operations`);
  const m = d.media();
  assert.equal(m[0], 1, 'flushed sector: got lost, want kept');
  assert.equal(m[2 * SECTOR], 0, 'refused write: got on the media, want absent');
  assert.deepEqual(m, crashImage(d.baseImage(), d.log, { mode: 'reorder', ops: 3, seed: 5 }), 'media(): got a different image than crashImage for the same cut');
  const f = new FaultyDisk(base, { cutAtFlush: 2 });
  f.write(new Uint8Array(SECTOR).fill(1), 0);
  f.flush();
  f.write(new Uint8Array(SECTOR).fill(2), SECTOR);
  assert.throws(() => f.flush(), PowerCutError, 'the 2nd flush: got completed, want refused');
  assert.equal(f.cutAt, 3, `cut at flush: got ${f.cutAt}, want 3`);
});

// ---- workloads on our kernel -----------------------------------------------------------------------

interface Outcome { cuts: number; bad: string[]; host: number; replayed: number }

async function runVariant(t: TestContext, v: Variant, seeds: number[], cutsEach: number, repro: (Cut & { extra: string }) | null): Promise<Outcome> {
  const out: Outcome = { cuts: 0, bad: [], host: 0, replayed: 0 };
  const host = hostAvailable(t);
  const bench = await openCutBench(t, `crash-${v.name.replace(/\W/g, '_')}`);
  if (!bench) return out;
  const { dir, pool, b } = bench;
  try {
    const image = mkfsImage(v, dir);
    for (const seed of seeds) {
      const label = `w${seed}`;
      const steps = genWorkload(seed, STEPS, { rename: true });
      let rec: Recorded;
      const t0 = performance.now();
      try {
        rec = await recordRun(image, v, steps);
      } catch (e) {
        if (e instanceof StepFailed && e.step.op === 'rename' && e.err === -EOPNOTSUPP) {
          t.todo(`ext4 rw: rename gives EOPNOTSUPP (${e.message}); workload ${label} skipped`);
          continue;
        }
        throw e;
      }
      const o: CheckOptions = { host: false, variant: v, label, dir };
      const cuts = repro ? [{ mode: repro.mode, ops: repro.ops, seed: repro.seed }] : chooseCuts(rec, cutsEach, seed * 7919 + 1);
      // Our kernel checks one cut at a time; e2fsck for the previous cuts runs meanwhile.
      const inFlight: Promise<void>[] = [];
      for (const [i, c] of cuts.entries()) {
        const withHost = host && (repro !== null || i % HOST_EVERY === 0);
        if (withHost) out.host++;
        const p = checkOneCut(b, rec, c, pool, { ...o, host: withHost }).then((r) => {
          out.cuts++;
          if (r.replayed) out.replayed++;
          if (r.problems.length > 0) {
            const ctx = steps.map((s, j) => `${j}[${rec.rec.steps[j]!.startOp}-${rec.rec.steps[j]!.endOp}] ${stepText(s)}`).join('; ');
            out.bad.push(`${reproLine(o, c, STEPS)} (of ${rec.disk.ops} ops)\n  ${r.problems.join('\n  ')}\n  workload: ${ctx}`);
          }
        });
        inFlight.push(p);
        // Keep at most a few cuts' e2fsck runs queued behind our kernel.
        if (inFlight.length >= pool.size * 4) await inFlight.shift();
      }
      await Promise.all(inFlight);
      t.diagnostic(`${v.name} ${label}: ${rec.disk.ops} disk operations recorded, ${cuts.length} cuts in ${Math.round(performance.now() - t0)} ms`);
    }
  } finally {
    await bench.close();
  }
  return out;
}

function report(t: TestContext, v: Variant, o: Outcome): void {
  t.diagnostic(`${v.name}: ${o.cuts} cuts checked (${o.host} also through the host kernel; ${o.replayed} needed a journal replay), ${o.bad.length} failed`);
  // Cuts that leave nothing to replay test little: most must fall inside a transaction's life.
  if (o.cuts >= 20) assert.ok(o.replayed >= o.cuts / 4, `${v.name}: got ${o.replayed} of ${o.cuts} cuts needing a replay, want at least a quarter`);
  assert.equal(o.bad.length, 0, `${v.name}: got ${o.bad.length} failing cuts of ${o.cuts}, want none:\n${o.bad.slice(0, 5).join('\n\n')}`);
}

for (const v of VARIANTS) {
  const only = REPRO ? REPRO.extra.split(':') : null;
  const mine = only === null || only[0] === v.name;
  test(`power cuts on ${v.name} (mkfs ${v.mkfs.join(' ')}, ${v.sizeMiB} MiB): our replay, e2fsck and the host's replay all recover a clean filesystem holding every fsync'd file`,
    { skip: skip || (mine ? false : 'CRASH_REPRO names another variant'), timeout: TIMEOUT }, async (t) => {
      const seeds = only ? [Number(only[1]?.replace(/^w/, ''))] : [...Array(WORKLOADS).keys()].map((i) => 1 + i * 101 + VARIANTS.indexOf(v) * 17);
      const o = await runVariant(t, v, seeds, CUTS, REPRO);
      if (!REPRO) assert.ok(o.cuts >= Math.min(CUTS, 10), `${v.name}: got ${o.cuts} cuts checked, want ${CUTS} per workload`);
      report(t, v, o);
    });
}

// ---- a live cut: the kernel runs into the dead disk ---------------------------------------------

test('live power cut: I/O errors reach the workload (fsync never succeeds after the cut), and the media left behind recover cleanly', { skip: skip || (REPRO ? 'CRASH_REPRO set' : false), timeout: 300_000 }, async (t) => {
  const v = VARIANTS[0]!;
  const bench = await openCutBench(t, 'crash-live');
  if (!bench) return;
  const { dir, pool, b: checker } = bench;
  const bad: string[] = [];
  let cuts = 0, eioSeen = 0;
  try {
    const image = mkfsImage(v, dir);
    const steps = genWorkload(4242, 30, { rename: true });
    for (const after of [3, 8, 15, 22, 30, 41]) {
      const seed = after * 31;
      const disk = new FaultyDisk(image, { cutAfterWrites: after, mode: 'reorder', seed });
      const b = await bootForDisks('mem=256M loglevel=8');
      if (!b) break;
      const initial: ModelState = { files: new Map(), dirs: new Set(['lost+found']) };
      const rec: RunRecord = { initial, steps: [], fsyncs: [] };
      const blockSize = 1024 << new DataView(image.buffer, image.byteOffset).getUint32(1024 + 24, true);
      let id = 1, state = initial, fsyncAfterCut = 0;
      try {
        const did = await b.api.diskAdd(disk);
        const m = await b.api.mountDev(did, { fstype: v.fstype });
        for (const [j, st] of steps.entries()) {
          const startOp = disk.ops;
          let failed = 0;
          try { await runStep(b, m, st); } catch (e) {
            if (!(e instanceof StepFailed)) throw e;
            failed = e.err;
          }
          if (failed === -EIO) eioSeen++;
          // A failed step's effects are uncertain: the model takes it as done (more permissive).
          const alt = altStates(state, st, blockSize);
          if (failed === 0 || failed === -EIO) state = applyStep(state, st, () => id++);
          else break; // an error the model does not follow (e.g. EROFS after the journal aborted)
          rec.steps.push({ step: st, startOp, endOp: disk.ops, state, ...(alt ? { alt } : {}) });
          if (st.op === 'fsync' && failed === 0) {
            rec.fsyncs.push({ step: j, path: st.path, endOp: disk.ops });
            if (disk.cutAt !== null) fsyncAfterCut++;
          }
        }
        try { await b.api.umountDev(did); } catch (e) { if (typeof (e as { errno?: unknown }).errno !== 'number') throw e; }
      } finally {
        await b.k.halt();
      }
      if (disk.cutAt === null) continue;
      if (fsyncAfterCut > 0) bad.push(`cut after ${after} writes: ${fsyncAfterCut} fsync(s) returned 0 after the disk died, want EIO`);
      const c: Cut = { mode: 'reorder', ops: disk.cutAt, seed };
      const r = await checkOneCut(checker, { disk, rec, log: b.log, umountOp: disk.ops }, c, pool, { host: hostAvailable(t), variant: v, label: `live${after}`, dir });
      cuts++;
      if (r.problems.length) bad.push(`${reproLine({ host: false, variant: v, label: `live${after}`, dir }, c)}\n  ${r.problems.join('\n  ')}`);
    }
  } finally {
    await bench.close();
  }
  t.diagnostic(`${cuts} live cuts, ${eioSeen} steps saw EIO`);
  assert.ok(cuts >= 4, `live cuts that happened: got ${cuts}, want at least 4`);
  assert.ok(eioSeen > 0, `steps failing with EIO after the cut: got ${eioSeen}, want some (${errName(-EIO)} reaches the caller)`);
  assert.equal(bad.length, 0, `live cuts: got ${bad.length} problems, want none:\n${bad.join('\n\n')}`);
});
