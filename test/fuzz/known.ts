/*
 * Divergences from Linux the fuzzer has found and that are not fixed yet. The CI run reports a
 * seed whose every divergence matches an entry here as TODO (a failing TODO test: visible in the
 * output, not counted as a failure) instead of failing the build; any other divergence fails.
 * Each entry names a minimal reproducer (run.js --replay on the ops, or the seed) and what differs.
 * Remove an entry when its fix lands: the TODO then turns into a plain pass.
 */
import type { Divergence } from './harness.js';

export interface Known { id: string; match: (d: Divergence) => boolean; why: string }

export const KNOWN: Known[] = [
  {
    id: 'symlink-atime-on-follow',
    match: (d) => d.kind === 'tree' && d.signature === 'tree atime symlink' && / atime got -?\d+, want clock /.test(d.detail),
    why: 'following a symlink in a path walk updates its atime on Linux (relatime: the old explicit atime is before mtime); ours leaves it. '
      + 'Minimal: [["creat","f1",1,420],["symlink","f1","s"],["utimens","s",[990211867,0],[1181973129,0],256],["utimens","s","OMIT",[1279100720,0],0]]',
  },
];

/** The divergences no entry explains. */
export function unexplained(ds: Divergence[]): Divergence[] { return ds.filter((d) => !KNOWN.some((k) => k.match(d))); }

/** The entries that explain every divergence of a run, or null when one of them is new. */
export function explain(ds: Divergence[]): Known[] | null {
  const out = new Set<Known>();
  for (const d of ds) {
    const k = KNOWN.find((x) => x.match(d));
    if (!k) return null;
    out.add(k);
  }
  return [...out];
}
