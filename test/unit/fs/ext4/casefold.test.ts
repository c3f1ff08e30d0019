/*
 * Casefolding tests: a table of named expectations. The sweeps against independent
 * implementations (e2fsprogs' utf8-12.1 tables via `debugfs dx_hash -c`, Python's str.casefold)
 * are in test/ext4_dirs/oracle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { casefoldString, utf8Casefold, CiName } from '../../../../src/fs/ext4/casefold.js';

const enc = new TextEncoder();
const cps = (s: string) => [...s].map((c) => c.codePointAt(0)!.toString(16)).join(' ');

test('fold table', () => {
  const cases: [string, string, string][] = [
    ['ascii', 'HeLLo.TXT', 'hello.txt'],
    ['sharp s', 'Stra\u00dfe', 'strasse'],
    ['capital sharp s', '\u1e9e', 'ss'],
    ['final sigma', '\u03c2', '\u03c3'],
    ['dotted capital I', '\u0130', 'i\u0307'],
    ['dotless i stays', '\u0131', '\u0131'],
    ['kelvin', '\u212a', 'k'],
    ['angstrom decomposes', '\u212b', 'a\u030a'],
    ['precomposed e acute', '\u00c9', 'e\u0301'],
    ['cherokee small to capital', '\uab70', '\u13a0'],
    ['cherokee capital stays', '\u13a0', '\u13a0'],
    ['ligature fi', '\ufb01', 'fi'],
    ['iota subscript', '\u1f88', '\u03b1\u0313\u03b9'],
    ['hangul decomposes', '\uac00', '\u1100\u1161'],
    ['post-12.1 pair untouched', '\u2c2f', '\u2c2f'],
  ];
  for (const [what, input, want] of cases) {
    const got = casefoldString(input);
    assert.equal(got, want, `${what}: got ${cps(got)}, want ${cps(want)}`);
  }
});

test('invalid UTF-8 does not fold and matches only itself', () => {
  const bad = new Uint8Array([0x41, 0xff, 0x42]);
  assert.equal(utf8Casefold(bad), null, 'got a fold, want null');
  const n = new CiName(bad);
  assert.equal(n.matches(bad), true, 'exact bytes: got no match, want match');
  assert.equal(n.matches(new Uint8Array([0x61, 0xff, 0x62])), false, 'case variant: got match, want none');
  const good = new CiName(enc.encode('README'));
  assert.equal(good.matches(enc.encode('readme')), true, 'README vs readme');
  assert.equal(good.matches(enc.encode('readme2')), false, 'README vs readme2');
  assert.equal(good.matches(new Uint8Array([0x72, 0xff])), false, 'vs invalid');
});
