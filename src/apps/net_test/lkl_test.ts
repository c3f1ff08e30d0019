/*
 * LKL's test harness (tools/lkl/tests/test.c) in TypeScript: a suite is an ordered table of named
 * cases whose state carries over; the output is TAP13 as LKL prints it — a plan `1..N # suite`,
 * `* i name` before each case, `ok i name` / `ok i name # SKIP` / `not ok i name`, then a YAML
 * block with time_us and the case's captured log.
 *
 * It lives under src/apps because programs shipped in the package print TAP with it (`lkl
 * net-test`); the behaviour suites under test/ print through the same code.
 */
export const TEST_SUCCESS = 0, TEST_FAILURE = 1, TEST_SKIP = 2, TEST_TODO = 3, TEST_BAILOUT = 4;

export interface TestContext {
  log(text: string): void;
}

export interface TestCase {
  name: string;
  fn: (ctx: TestContext) => Promise<number> | number;
}

/** LKL_TEST_CALL: pass iff the call returns `expected`; logs "fn(args) = ret". */
export async function testCall(ctx: TestContext, what: string, call: () => Promise<number>, expected: number): Promise<number> {
  const r = await call();
  ctx.log(`${what} = ${r}${r < 0 ? ` (${r})` : ''}`);
  return r === expected ? TEST_SUCCESS : TEST_FAILURE;
}

export interface SuiteResult { ok: number; notOk: number; skipped: number; bailedOut: boolean }

export async function runSuite(name: string, cases: TestCase[], out: (s: string) => void): Promise<SuiteResult> {
  const res: SuiteResult = { ok: 0, notOk: 0, skipped: 0, bailedOut: false };
  out(`1..${cases.length} # ${name}\n`);
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    const logs: string[] = [];
    const ctx: TestContext = { log: (t) => { logs.push(...t.split('\n')); } };
    out(`* ${i + 1} ${c.name}\n`);
    const t0 = process.hrtime.bigint();
    let r: number;
    try { r = await c.fn(ctx); } catch (e) { logs.push(`exception: ${(e as Error).stack ?? e}`); r = TEST_FAILURE; }
    const us = Number((process.hrtime.bigint() - t0) / 1000n);
    let line: string;
    switch (r) {
      case TEST_SUCCESS: line = `ok ${i + 1} ${c.name}`; res.ok++; break;
      case TEST_SKIP: line = `ok ${i + 1} ${c.name} # SKIP`; res.skipped++; break;
      case TEST_TODO: line = `ok ${i + 1} ${c.name} # TODO`; res.skipped++; break;
      case TEST_BAILOUT: line = `not ok ${i + 1} ${c.name}`; res.notOk++; res.bailedOut = true; break;
      default: line = `not ok ${i + 1} ${c.name}`; res.notOk++; break;
    }
    out(`${line}\n ---\n time_us: ${us}\n log: |\n${logs.map((l) => `  ${l}`).join('\n')}${logs.length ? '\n' : ''} ...\n`);
    if (res.bailedOut) { out('Bail out!\n'); break; }
  }
  return res;
}
