/*
 * Short names as Linux makes and shows them, judged by mdir (mtools lists each entry's 8.3 name
 * and, when there is one, its long name). Creation follows the shortname= mode: the default
 * "mixed" (and "win95", "lower") store an 8.3 name alone only when it is all upper case and
 * otherwise add a long name; "winnt" stores lower-case base/extension with the NT case bits and
 * no long name. Lossy names get Linux's numeric tail (first 6 characters, ~1, ~2, ...), with
 * characters invalid in 8.3 names replaced by '_'. Display: a short name with case bits shows
 * lower case under mixed/winnt/lower, upper case under win95; "lower" lowers every short name.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SKIP, tmpdir, run, mkfsImage, fsckProblems, mcopyIn, mountVfat, probeVfat } from './fixtures.js';

const caps = await probeVfat();
const work = tmpdir('vfat-names-');
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** mdir's root listing as "SFN|long name" (SFN as mdir prints it: base, space, extension). */
function mdirEntries(img: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of run('mdir', ['-i', img, '::/']).stdout.split('\n')) {
    const m = /^(\S+)\s+(\S*)\s+(?:<DIR>|\d+)\s+\d{4}-\d\d-\d\d\s+\d+:\d\d\s*(.*)$/.exec(line);
    if (m) out.set(`${m[1]}${m[2] ? ' ' + m[2] : ''}`, m[3]!.trim());
  }
  return out;
}

const CREATE: { mode: string; names: string[]; want: Record<string, string> }[] = [
  {
    mode: 'mixed (default)',
    names: ['lower.txt', 'UPPER.TXT', 'Mixed.Txt', 'Long File Name 1.txt', 'Long File Name 2.txt', 'Long File Name 3.txt',
      'Long File Name 4.txt', 'a+b.txt', 'archive.tar.gz', 'NOEXT', 'lower.TXT2'],
    want: {
      'LOWER TXT': 'lower.txt', 'UPPER TXT': '', 'MIXED TXT': 'Mixed.Txt', 'LONGFI~1 TXT': 'Long File Name 1.txt',
      'LONGFI~2 TXT': 'Long File Name 2.txt', 'LONGFI~3 TXT': 'Long File Name 3.txt', 'LONGFI~4 TXT': 'Long File Name 4.txt',
      'A_B~1 TXT': 'a+b.txt', 'ARCHIV~1 GZ': 'archive.tar.gz', NOEXT: '', 'LOWER~1 TXT': 'lower.TXT2',
    },
  },
  {
    mode: 'winnt',
    names: ['lower.txt', 'lower.TXT2', 'UPPER.TXT', 'Mixed.Txt', 'UP.low'],
    want: { 'lower txt': '', 'LOWER~1 TXT': 'lower.TXT2', 'UPPER TXT': '', 'MIXED TXT': 'Mixed.Txt', 'UP low': '' },
  },
];

for (const c of CREATE) {
  test(`8.3 names created under shortname=${c.mode}`, { skip: SKIP, todo: caps.write || undefined }, async () => {
    const img = mkfsImage(path.join(work, `create-${c.mode.replace(/\W+/g, '_')}.img`), 8 << 20, ['-i', '83']);
    const opt = c.mode.startsWith('mixed') ? 'tz=UTC' : `tz=UTC,shortname=${c.mode}`;
    const m = await mountVfat(img, { opts: opt });
    let listed: string[];
    try {
      for (const n of c.names) await m.k.fs.writeFile(`${m.mnt}/${n}`, 'x');
      listed = ((await m.k.fs.readdir(m.mnt)) as string[]).sort();
    } finally { await m.done(); }
    assert.deepEqual(listed, [...c.names].sort(), 'readdir after create shows the names as given');
    assert.equal(fsckProblems(img), null);
    const got = Object.fromEntries(mdirEntries(img));
    assert.deepEqual(got, c.want, `short/long names (mdir): got ${JSON.stringify(got)}, want ${JSON.stringify(c.want)}`);
  });
}

const DISPLAY: [string, string[]][] = [
  ['mixed', ['lower.txt', 'UPPER.TXT', 'Mixed.Txt']],
  ['winnt', ['lower.txt', 'UPPER.TXT', 'Mixed.Txt']],
  ['win95', ['LOWER.TXT', 'UPPER.TXT', 'Mixed.Txt']],
  ['lower', ['lower.txt', 'upper.txt', 'Mixed.Txt']],
];

const dispImg = path.join(work, 'display.img');
if (!SKIP) {
  mkfsImage(dispImg, 8 << 20, ['-i', 'd15']);
  for (const n of ['lower.txt', 'UPPER.TXT', 'Mixed.Txt']) {
    fs.writeFileSync(path.join(work, n), n);
    mcopyIn(dispImg, [path.join(work, n)], '::/');
  }
}

for (const [mode, want] of DISPLAY) {
  test(`short names displayed under shortname=${mode}`, { skip: SKIP, todo: caps.read || undefined }, async () => {
    // mtools stored lower.txt as an 8.3 name with the NT lower-case bits, UPPER.TXT as a plain 8.3 name.
    const sfn = mdirEntries(dispImg);
    assert.equal(sfn.get('lower txt'), '', `mtools should store lower.txt without a long name: ${JSON.stringify([...sfn])}`);
    const m = await mountVfat(dispImg, { readOnly: true, opts: `tz=UTC,shortname=${mode}` });
    try {
      const got = ((await m.k.fs.readdir(m.mnt)) as string[]).sort();
      assert.deepEqual(got, [...want].sort(), `readdir under shortname=${mode}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      // Whatever the display, lookups ignore case.
      for (const n of want) assert.ok((await m.k.fs.stat(`${m.mnt}/${n.toUpperCase()}`)).isFile(), `stat ${n.toUpperCase()}`);
    } finally { await m.done(); }
  });
}
