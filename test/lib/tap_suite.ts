/*
 * Run an LKL-style TAP suite program under node:test: spawn it, stream its TAP13, and turn each
 * case into a subtest (ok → pass, "# SKIP" → skip with the case's log as the reason, not ok → fail
 * with the log), so the suite shows in the runner's totals and its raw TAP stays visible.
 */
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';

export interface TapCase { id: number; name: string; ok: boolean; directive?: string; log: string }

export function parseTap(text: string): { plan: number; cases: TapCase[] } {
  const lines = text.split('\n');
  let plan = 0;
  const cases: TapCase[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const p = /^1\.\.(\d+)/.exec(l);
    if (p) { plan = Number(p[1]); continue; }
    const m = /^(ok|not ok) (\d+) (.*?)(?: # (SKIP|TODO).*)?$/.exec(l);
    if (!m) continue;
    const log: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j] !== ' ...'; j++) if (lines[j]!.startsWith('  ')) log.push(lines[j]!.slice(2));
    const c: TapCase = { id: Number(m[2]), name: m[3]!, ok: m[1] === 'ok', log: log.join('\n') };
    if (m[4]) c.directive = m[4];
    cases.push(c);
  }
  return { plan, cases };
}

export function runProgram(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function tapSuite(t: TestContext, program: string, args: string[] = []): Promise<void> {
  const r = await runProgram(process.execPath, [program, ...args]);
  process.stdout.write(r.stdout.split('\n').map((l) => `# ${l}`).join('\n') + '\n');
  const { plan, cases } = parseTap(r.stdout);
  if (plan === 0) throw new Error(`no TAP plan from ${program}: ${r.stderr}`);
  for (const c of cases) {
    await t.test(`${c.id} ${c.name}`, (st) => {
      if (c.directive) { st.skip(c.log.split('\n').pop() || c.directive); return; }
      if (!c.ok) throw new Error(`case ${c.name} not ok:\n${c.log}`);
    });
  }
  if (cases.length !== plan) throw new Error(`plan ${plan}, got ${cases.length} cases; stderr: ${r.stderr}`);
  if (r.code !== 0) throw new Error(`suite exited ${r.code}`);
}
