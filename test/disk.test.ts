/*
 * LKL's disk suite (test/suites/disk.ts) for ext2, ext3, ext4 and vfat, on images made as LKL's disk.sh
 * makes them: a zero-filled file and `yes | mkfs.<fs> -q file` (32 MiB here; LKL uses 100 MiB).
 * Needs only mkfs, not root: without mkfs.<fs> the case is skipped with that reason (as disk.sh
 * prints "no mkfs.<fs> command"), except under CI=true where it fails.
 */
import { test } from 'node:test';
import { execSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tapSuite } from './lib/tap_suite.js';
import { bootForDisks, DISK_API_MISSING } from './fixtures/lkl.js';

/** Until the block layer lands the suite cannot run at all: skip with the reason, not fail. */
async function diskApiPresent(): Promise<boolean> {
  const b = await bootForDisks('mem=32M');
  if (!b) return false;
  await b.k.halt();
  return true;
}

const program = fileURLToPath(new URL('./suites/disk.js', import.meta.url));

for (const fstype of ['ext2', 'ext3', 'ext4', 'vfat']) {
  test(`LKL disk suite: ${fstype}`, { timeout: 120_000 }, async (t) => {
    if (spawnSync('sh', ['-c', `command -v mkfs.${fstype}`]).status !== 0) {
      if (process.env.CI === 'true') throw new Error(`CI=true but mkfs.${fstype} is not installed`);
      t.skip(`no mkfs.${fstype} command`);
      return;
    }
    if (!(await diskApiPresent())) { t.skip(DISK_API_MISSING); return; }
    const dir = fs.mkdtempSync(join(tmpdir(), `lkl-disk-${fstype}-`));
    const file = join(dir, 'disk.img');
    try {
      execSync(`dd if=/dev/zero of=${file} bs=1024 count=32768 status=none && yes | mkfs.${fstype} ${fstype === 'vfat' ? '' : '-q'} ${file} >/dev/null`, { stdio: 'pipe', shell: '/bin/bash' });
      await tapSuite(t, program, ['-d', file, '-t', fstype]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
