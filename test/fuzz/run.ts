/*
 * The long run of the differential fuzzer (harness.ts), as root on a host with loop devices:
 *
 *   node dist/test/fuzz/run.js [--seeds N] [--ops M] [--seed FIRST] [--profile NAME] [--no-shrink] [--new-only]
 *   node dist/test/fuzz/run.js --replay FILE      (a reproducer written by an earlier failure)
 *
 * Seeds FIRST..FIRST+N-1 each generate M operations; the mkfs profile goes round-robin by seed
 * unless --profile fixes it. Every failing seed is shrunk and its reproducer printed and written to
 * $TMPDIR/lkl-fuzz-<seed>.json; --new-only shrinks only divergences known.ts does not explain.
 * Exit status 1 when any seed diverged.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostSkipReason } from '../fixtures/host.js';
import { generate, type FuzzOp } from './ops.js';
import { explain, unexplained } from './known.js';
import { formatReproducer, probe, profileForSeed, profileNamed, runCase, shrink, shrinkTargets, type Profile, type Reproducer } from './harness.js';

function args(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
    else { out[a.slice(2)] = next; i++; }
  }
  return out;
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  if (a.help) { process.stdout.write('usage: run.js [--seeds N] [--ops M] [--seed FIRST] [--profile NAME] [--no-shrink] [--new-only] | --replay FILE\n'); return 0; }
  const why = hostSkipReason();
  if (why) { process.stderr.write(`fuzz: the host oracle is unavailable: ${why}\n`); return 2; }

  if (typeof a.replay === 'string') {
    const rep = JSON.parse(fs.readFileSync(a.replay, 'utf8')) as Reproducer;
    const r = await runCase(rep.ops, profileNamed(rep.profile));
    for (const [i, op] of rep.ops.entries()) process.stdout.write(`${String(i).padStart(3)} ${JSON.stringify(op)} -> ours ${JSON.stringify(r.ours[i])}, Linux ${JSON.stringify(r.linux[i])}\n`);
    for (const d of r.divergences) process.stdout.write(`DIVERGENCE ${d.detail}\n`);
    process.stdout.write(r.divergences.length ? 'still diverges\n' : 'no divergence\n');
    return r.divergences.length ? 1 : 0;
  }

  const seeds = Number(a.seeds ?? 50), opsN = Number(a.ops ?? 200), first = Number(a.seed ?? 1);
  const fixed: Profile | undefined = typeof a.profile === 'string' ? profileNamed(a.profile) : undefined;
  const probes = new Map<string, Set<string>>();
  const disabledFor = async (p: Profile): Promise<Set<string>> => {
    let d = probes.get(p.name);
    if (!d) {
      const pr = await probe(p);
      d = new Set(pr.disabled.keys());
      probes.set(p.name, d);
      for (const [v, why] of pr.disabled) process.stdout.write(`[${p.name}] unsupported by ours, left out: ${v} (${why})\n`);
    }
    return d;
  };
  let failed = 0;
  const t0 = Date.now();
  for (let seed = first; seed < first + seeds; seed++) {
    const profile = fixed ?? profileForSeed(seed);
    const ops: FuzzOp[] = generate(seed, opsN, { disabled: await disabledFor(profile) });
    const r = await runCase(ops, profile);
    const okOps = r.linux.filter((x) => typeof x === 'number').length;
    if (r.divergences.length === 0) {
      process.stdout.write(`seed ${seed} [${profile.name}] ok (${okOps}/${ops.length} ops succeed on Linux; ${r.ms.ours} ms ours, ${r.ms.linux} ms Linux)\n`);
      continue;
    }
    failed++;
    const fresh = unexplained(r.divergences);
    const known = explain(r.divergences.filter((d) => !fresh.includes(d))) ?? [];
    process.stdout.write(`seed ${seed} [${profile.name}] DIVERGES: ${r.divergences.length} difference(s)`
      + `${known.length ? ` (known: ${known.map((k) => k.id).join(', ')})` : ''}${fresh.length ? `, ${fresh.length} NEW, first: ${fresh[0]!.detail}` : ''}\n`);
    // --new-only: known divergences (known.ts) already have their minimal reproducer.
    const targets = shrinkTargets(a['new-only'] ? fresh : r.divergences);
    const covered = new Set<string>();
    for (const [k, target] of targets.entries()) {
      if (covered.has(target.signature)) continue;
      let min = ops, last = r;
      if (!a['no-shrink']) {
        process.stdout.write(`  shrinking for: ${target.signature}\n`);
        const s = await shrink(ops, profile, target, { log: (l) => process.stdout.write(`${l}\n`) });
        min = s.ops;
        // The minimal sequence's full picture (trees and fsck included).
        last = await runCase(min, profile);
      }
      for (const d of last.divergences) covered.add(d.signature);
      const rep: Reproducer = { seed, profile: profile.name, opsCount: opsN, ops: min, divergences: last.divergences.map((d) => d.detail) };
      const file = join(tmpdir(), `lkl-fuzz-${seed}${k ? `-${k}` : ''}.json`);
      fs.writeFileSync(file, JSON.stringify(rep, null, 1));
      process.stdout.write(`${formatReproducer(rep, file)}\n`);
      if (a['no-shrink']) break;
    }
  }
  process.stdout.write(`${seeds - failed}/${seeds} seeds agree with Linux (${opsN} ops each, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return failed ? 1 : 0;
}

main().then((c) => { process.exitCode = c; }, (e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 2; });
