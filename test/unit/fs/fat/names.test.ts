/*
 * FAT name rules as a table (fat_test.c style). Expectations follow Linux's
 * fs/fat/namei_vfat.c (vfat_create_shortname, vfat_striptail_len, vfat_bad_char) and the
 * Microsoft FAT specification's checksum; the checksum is cross-checked against an mtools-made
 * entry in fat.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createShortname, lfnChecksum, shortToDisplay, toLongName, fatDefaultOptions } from '../../../../src/fs/fat/index.js';
import { EINVAL, ENAMETOOLONG, EEXIST } from '../../../../src/uapi/errno.js';

const opts = fatDefaultOptions(true);
const uni = (s: string): number[] => [...s].flatMap((c) => { const u: number[] = []; for (let i = 0; i < c.length; i++) u.push(c.charCodeAt(i)); return u; });
const n11s = (b: Uint8Array): string => String.fromCharCode(...b);
const io = (s: string): string => String.fromCharCode(...new TextEncoder().encode(s));

function short(name: string, taken: string[] = [], o = opts): { n: string; lcase: number; only: boolean } {
  const set = new Set(taken.map((t) => t.padEnd(11)));
  const r = createShortname(uni(name), o, (n) => set.has(n11s(n)), 0x12345);
  return { n: n11s(r.n11), lcase: r.lcase, only: r.shortOnly };
}

const TABLE: [string, string, boolean][] = [
  // long name, 11-byte short name, short entry alone suffices (shortname=mixed)
  ['FOO.TXT', 'FOO     TXT', true],
  ['foo.txt', 'FOO     TXT', false],
  ['Foo.Txt', 'FOO     TXT', false],
  ['Long File Name.txt', 'LONGFI~1TXT', false],
  ['a+b=c.txt', 'A_B_C~1 TXT', false],
  ['.bashrc', 'BASHRC~1   ', false],
  ['x.tar.gz', 'XTAR~1  GZ ', false],
  ['README', 'README     ', true],
  ['abcdefgh.html', 'ABCDEF~1HTM', false],
  ['naïve', 'NA\x8bVE      ', false],
  ['日本語.txt', '___~1   TXT', false],
];

for (const [name, want, only] of TABLE) {
  test(`short name of ${JSON.stringify(name)} is ${JSON.stringify(want)}`, () => {
    const r = short(name);
    assert.equal(r.n, want, `got ${JSON.stringify(r.n)}, want ${JSON.stringify(want)}`);
    assert.equal(r.only, only, `short-only got ${r.only}, want ${only}`);
  });
}

test('numeric tail counts up past taken names, then turns into a hex tail', () => {
  assert.equal(short('Long File Name.txt', ['LONGFI~1TXT']).n, 'LONGFI~2TXT');
  const all = Array.from({ length: 9 }, (_, i) => `LONGFI~${i + 1}TXT`);
  const r = short('Long File Name.txt', all).n;
  assert.match(r, /^LO[0-9A-F]{4}~[1-8]TXT$/, `got ${r}`);
  assert.throws(() => short('FOO.TXT', ['FOO     TXT']), (e: { errno: number }) => e.errno === EEXIST);
});

test('shortname=winnt stores all-lower 8.3 names short with the NT case flags', () => {
  const nt = { ...opts, shortname: 'winnt' as const };
  assert.deepEqual(short('foo.txt', [], nt), { n: 'FOO     TXT', lcase: 0x18, only: true });
  assert.deepEqual(short('Foo.txt', [], nt), { n: 'FOO     TXT', lcase: 0, only: false });
  assert.deepEqual(short('FOO.txt', [], nt), { n: 'FOO     TXT', lcase: 0x10, only: true });
});

test('display of short names follows the NT case flags and shortname=', () => {
  const n = new TextEncoder().encode('FOO     TXT');
  assert.equal(shortToDisplay(n, 0x18, opts), 'foo.txt');
  assert.equal(shortToDisplay(n, 0x08, opts), 'foo.TXT');
  assert.equal(shortToDisplay(n, 0, opts), 'FOO.TXT');
  assert.equal(shortToDisplay(n, 0, { ...opts, shortname: 'lower' }), 'foo.txt');
  assert.equal(shortToDisplay(n, 0x18, { ...opts, shortname: 'win95' }), 'FOO.TXT');
  const e5 = Uint8Array.of(0x05, ...new TextEncoder().encode('ABC    TXT'));
  assert.equal(shortToDisplay(e5, 0, opts), io('σABC.TXT'), '0x05 stands for 0xE5 (cp437 σ)');
});

test('long names: trailing dots dropped, bad characters EINVAL, 255 units max', () => {
  assert.deepEqual(toLongName('abc...', opts), uni('abc'));
  for (const bad of ['a:b', 'a*', 'a?b', 'a<b', 'a>b', 'a|b', 'a"b', 'a\\b', 'a\x01b']) {
    assert.throws(() => toLongName(bad, opts), (e: { errno: number }) => e.errno === EINVAL, `${JSON.stringify(bad)} must be EINVAL`);
  }
  assert.equal(toLongName('x'.repeat(255), opts).length, 255);
  assert.throws(() => toLongName('x'.repeat(256), opts), (e: { errno: number }) => e.errno === ENAMETOOLONG);
  assert.deepEqual(toLongName(io('☕'), opts), [0x2615]);
  assert.throws(() => toLongName('\xff', opts), (e: { errno: number }) => e.errno === EINVAL, 'invalid UTF-8');
});

test('LFN checksum (rotate right, add) of known entries', () => {
  // "FOO     TXT": computed by hand with the FAT specification's ChkSum.
  let s = 0;
  for (const c of new TextEncoder().encode('FOO     TXT')) s = (((s & 1) << 7) + (s >> 1) + c) & 0xff;
  assert.equal(lfnChecksum(new TextEncoder().encode('FOO     TXT')), s);
});
