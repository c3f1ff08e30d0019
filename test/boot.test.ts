/* LKL's boot suite (test/suites/boot.ts), run as a program printing TAP13. */
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tapSuite } from './lib/tap_suite.js';

test('LKL boot suite', async (t) => {
  await tapSuite(t, fileURLToPath(new URL('./suites/boot.js', import.meta.url)));
});
