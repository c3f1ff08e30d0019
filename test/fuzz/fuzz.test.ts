/*
 * The CI run of the differential fuzzer (harness.ts): LKL_FUZZ_SEEDS seeds (default 20) of
 * LKL_FUZZ_OPS operations (default 60) from LKL_FUZZ_SEED (default 1), each on our kernel and on
 * the host kernel over twin ext4 images, the mkfs profile going round-robin by seed.
 *
 * Needs root and loop devices (the host kernel is the oracle): without them the test skips with
 * the reason, except when CI is set, where it fails. Variants the probe finds unsupported by our
 * kernel are left out of generation and each reported as a TODO test; a seed whose divergences
 * are all documented in known.ts is a TODO too; any other divergence fails with a shrunk
 * reproducer (seed, ops as JSON, the command to rerun it). The long run is run.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostSkipReason } from '../fixtures/host.js';
import { generate } from './ops.js';
import { formatReproducer, probe, profileForSeed, PROFILES, runCase, shrink, shrinkTargets, type Reproducer } from './harness.js';
import { explain, unexplained } from './known.js';

const SEEDS = Number(process.env.LKL_FUZZ_SEEDS ?? 20);
const OPS = Number(process.env.LKL_FUZZ_OPS ?? 60);
const FIRST = Number(process.env.LKL_FUZZ_SEED ?? 1);
/** Time the whole test may spend shrinking failures; past it reproducers stay unshrunk. */
const SHRINK_BUDGET_MS = 30_000;

test('differential fuzz: ext4 on our kernel against the host kernel', { timeout: 600_000 }, async (t) => {
  const why = hostSkipReason();
  if (why) {
    if (process.env.CI) assert.fail(`CI is set but the host kernel oracle is unavailable: ${why}`);
    process.stdout.write(`# skipping: ${why}\n`);
    t.skip(why);
    return;
  }

  const disabled = new Map<string, Set<string>>();
  const unsupported = new Map<string, string[]>();
  const used = new Set(Array.from({ length: SEEDS }, (_, i) => profileForSeed(FIRST + i).name));
  for (const p of PROFILES.filter((x) => used.has(x.name))) {
    const r = await probe(p);
    disabled.set(p.name, new Set(r.disabled.keys()));
    for (const [v, reason] of r.disabled) unsupported.set(v, [...(unsupported.get(v) ?? []), `[${p.name}] ${reason}`]);
  }
  for (const [v, reasons] of unsupported) {
    await t.test(`operation ${v}`, { todo: `unsupported by our kernel, left out of the fuzz run: ${reasons[0]}` }, () => {
      assert.fail(`got unsupported, want the same result as Linux:\n${reasons.join('\n')}`);
    });
  }

  let shrinkSpent = 0;
  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    const profile = profileForSeed(seed);
    await t.test(`seed ${seed} [${profile.name}], ${OPS} ops`, async (st) => {
      const ops = generate(seed, OPS, { disabled: disabled.get(profile.name)! });
      const r = await runCase(ops, profile);
      if (r.divergences.length === 0) {
        assert.deepEqual(r.ours, r.linux, 'results: got ours, want Linux\'s');
        return;
      }
      const known = explain(r.divergences);
      // Shrink for the worst divergence nobody has explained yet, so the reproducer shows a new bug.
      const fresh = unexplained(r.divergences);
      const target = shrinkTargets(fresh.length ? fresh : r.divergences)[0]!;
      let min = ops, divs = r.divergences.map((d) => d.detail);
      // Known divergences have their minimal reproducer in known.ts: spend the budget on new ones.
      if (!known && shrinkSpent < SHRINK_BUDGET_MS) {
        const t0 = Date.now();
        const s = await shrink(ops, profile, target, { deadline: t0 + SHRINK_BUDGET_MS - shrinkSpent, maxRuns: 80 });
        if (s.ops.length < ops.length) {
          min = s.ops;
          divs = (await runCase(min, profile)).divergences.map((d) => d.detail);
        }
        shrinkSpent += Date.now() - t0;
      }
      const rep: Reproducer = { seed, profile: profile.name, opsCount: OPS, ops: min, divergences: divs };
      const file = join(tmpdir(), `lkl-fuzz-${seed}.json`);
      fs.writeFileSync(file, JSON.stringify(rep, null, 1));
      if (known) st.todo(`known divergence: ${known.map((k) => `${k.id}: ${k.why}`).join('; ')}`);
      const all = r.divergences.length > 1 ? `\nall ${r.divergences.length} divergences of the full sequence:\n${r.divergences.slice(0, 8).map((d) => `  ${d.detail}`).join('\n')}` : '';
      assert.fail(`${formatReproducer(rep, file)}${all}\n(got = our kernel, want = Linux)`);
    });
  }
});
