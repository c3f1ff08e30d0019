/*
 * The behaviour suite: every case of cases.ts must give its expected result on our kernel AND on
 * the host Linux kernel (when python3 is there), so an expectation that is wrong about Linux fails
 * on the host first. Cases whose syscalls belong to a topic file that has not landed yet (ENOSYS on
 * ours, `pendingOn`) are skipped with that reason.
 *
 *   npx tsc -p . && node --test dist/test/behaviour/behaviour.test.js
 *   BEHAVIOUR_ONLY=<substring> narrows the run to matching case names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cases as allCases, PENDING_PROBES } from './cases.js';
import { caseMatches, show, showWant, type Case, type Got } from './dsl.js';
import { runLkl, type LklResult } from './run_lkl.js';

const only = process.env['BEHAVIOUR_ONLY'];
const cases: Case[] = only ? allCases.filter((c) => c.name.includes(only)) : allCases;

/** run_host.py lives in the source tree; this file runs from dist/test/behaviour/. */
function hostScript(): string | null {
  for (const rel of ['../../../test/behaviour/run_host.py', './run_host.py']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

type HostRun = { results: Map<string, Got> } | { skip: string };

function runHost(list: Case[]): HostRun {
  const script = hostScript();
  if (!script) return { skip: 'run_host.py not found' };
  const hostCases = list.filter((c) => !c.hostSkip);
  const r = spawnSync('python3', [script], { input: JSON.stringify({ cases: hostCases }), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  if (r.error) return { skip: `python3 unavailable: ${r.error.message}` };
  if (r.status !== 0) throw new Error(`run_host.py failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { name: string; got: Got }[] | { unsupported: string };
  if (!Array.isArray(out)) return { skip: out.unsupported };
  return { results: new Map(out.map((x) => [x.name, x.got])) };
}

test('case names are unique', () => {
  const seen = new Set<string>();
  for (const c of allCases) {
    assert.ok(!seen.has(c.name), `duplicate case name: ${c.name}`);
    seen.add(c.name);
  }
});

test('syscall behaviour: ours and the host agree with the table', async (t) => {
  const host = runHost(cases);
  const ours = new Map<string, LklResult>((await runLkl(cases, PENDING_PROBES)).map((r) => [r.name, r]));
  let hostPass = 0, oursPass = 0, skipped = 0;
  for (const c of cases) {
    await t.test(c.name, (tt) => {
      const o = ours.get(c.name)!;
      const h = 'results' in host && !c.hostSkip ? host.results.get(c.name) : undefined;
      const hostNote = 'skip' in host ? `skipped: ${host.skip}` : c.hostSkip ? `skipped: ${c.hostSkip}` : show(h);
      const hostOk = h === undefined || caseMatches(c, h);
      if (hostOk && h !== undefined) hostPass++;
      if (c.pendingOn && o.enosys) {
        skipped++;
        assert.ok(hostOk, `case ${c.name}: host got ${show(h)}, want ${showWant(c)} (ours pending on ${c.pendingOn})`);
        tt.skip(`pending on ${c.pendingOn} (ENOSYS)`);
        return;
      }
      const oursOk = caseMatches(c, o.got);
      if (oursOk) oursPass++;
      assert.ok(hostOk && oursOk, `case ${c.name}: got ${show(o.got)}, want ${showWant(c)} (host: ${hostNote})`);
    });
  }
  t.diagnostic(`${cases.length} cases; host passes ${hostPass}${'skip' in host ? ` (host skipped: ${host.skip})` : ''}; ours passes ${oursPass}; ${skipped} pending`);
});
