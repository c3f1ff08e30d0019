/*
 * ext4 name hashing and casefolding against independent implementations on the host: debugfs
 * (e2fsprogs 1.47's dx_hash, and its own utf8-12.1 tables through `dx_hash -c -e utf8`) and
 * Python's str.casefold. Skipped when the tools are missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  dirhash, DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA, dxHashName,
} from '../../src/fs/ext4/hash.js';
import { utf8Casefold, casefoldString, foldCodePoint } from '../../src/fs/ext4/casefold.js';

const enc = new TextEncoder();
const SEED_UUID = '01234567-89ab-cdef-0123-456789abcdef';
const hex = (n: number) => '0x' + n.toString(16);
const cps = (s: string) => [...s].map((c) => c.codePointAt(0)!.toString(16)).join(' ');
function seedWords(uuid: string): number[] {
  const b = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  return [0, 1, 2, 3].map((i) => b.readUInt32LE(4 * i));
}

function has(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
const haveDebugfs = () => has('debugfs');


/** Run many dx_hash commands in one debugfs process; returns [hash, minor] per command. */
function debugfsHashes(cmds: string[]): [number, number][] {
  const out = execFileSync('debugfs', ['-f', '-', '/dev/null'], {
    input: cmds.join('\n') + '\n', encoding: 'latin1', stdio: ['pipe', 'pipe', 'pipe'],
  });
  const res: [number, number][] = [];
  for (const m of out.matchAll(/is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)/g)) {
    res.push([parseInt(m[1]!, 16), parseInt(m[2]!, 16)]);
  }
  return res;
}

test('agrees with debugfs dx_hash on varied names', { skip: !haveDebugfs() && 'debugfs not installed' }, () => {
  const names: string[] = ['a', 'ab', 'abc', 'abcd', 'x'.repeat(15), 'y'.repeat(16), 'z'.repeat(17),
    'q'.repeat(31), 'r'.repeat(32), 's'.repeat(33), 'long-'.repeat(51), 'caf\u00e9', '\u65e5\u672c\u8a9e',
    'M\u00fcnchen-\u00e4\u00f6\u00fc', 'emoji-\u{1F600}'];
  for (let i = 0; i < 40; i++) names.push(`file-${i * 7919}-${'k'.repeat(i * 6)}`.slice(0, 255));
  const seed = seedWords(SEED_UUID);
  for (const v of [DX_HASH_LEGACY, DX_HASH_HALF_MD4, DX_HASH_TEA]) {
    const cmds = names.map((n) => `dx_hash -h ${dxHashName[v]} -s ${SEED_UUID} "${Buffer.from(enc.encode(n)).toString('latin1')}"`);
    const want = debugfsHashes(cmds);
    assert.equal(want.length, names.length, 'debugfs answered every name');
    names.forEach((n, i) => {
      const got = dirhash(enc.encode(n), v, seed)!;
      assert.deepEqual([got.hash, got.minor], want[i], `${dxHashName[v]}(${JSON.stringify(n)}): got ${hex(got.hash)}/${hex(got.minor)}, want ${hex(want[i]![0])}/${hex(want[i]![1])}`);
    });
  }
});

test('casefolded hashes agree with debugfs dx_hash -c (e2fsprogs utf8-12.1 tables)', { skip: !haveDebugfs() && 'debugfs not installed' }, () => {
  const names = ['HeLLo', 'STRASSE', 'Stra\u00dfe', '\u1e9e', '\u00c5ngstr\u00f6m', 'A\u030angstro\u0308m',
    '\u212b', '\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2', '\u0130stanbul', '\u0131', 'K\u212a',
    '\ufb01le', '\u1f88', '\u13a0\uab70', '\u10a0', '\u0587', 'caf\u00c9', '\uac00\ud7a3'];
  const seed = seedWords(SEED_UUID);
  const cmds = names.map((n) => `dx_hash -h half_md4 -s ${SEED_UUID} -c -e utf8 "${Buffer.from(enc.encode(n)).toString('latin1')}"`);
  const want = debugfsHashes(cmds);
  assert.equal(want.length, names.length, 'debugfs answered every name');
  names.forEach((n, i) => {
    const folded = utf8Casefold(enc.encode(n))!;
    const got = dirhash(folded, DX_HASH_HALF_MD4, seed)!;
    assert.deepEqual([got.hash, got.minor], want[i], `casefold ${JSON.stringify(n)}: got ${hex(got.hash)}, want ${hex(want[i]![0])}`);
  });
});


test('every cased or decomposable BMP character hashes as e2fsprogs folds it',
  { skip: !has('debugfs') && 'debugfs not installed' }, () => {
    const chars: string[] = [];
    for (let cp = 0xa0; cp < 0x10000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCharCode(cp);
      if (/\p{Cn}|\p{Cc}|\p{Co}/u.test(c)) continue;
      if (c.toUpperCase() !== c || c.toLowerCase() !== c || c.normalize('NFD') !== c) chars.push(c);
    }
    const cmds = chars.map((c) => `dx_hash -h tea -c -e utf8 "X${Buffer.from(enc.encode(c)).toString('latin1')}"`);
    const out = execFileSync('debugfs', ['-f', '-', '/dev/null'], {
      input: cmds.join('\n') + '\n', encoding: 'latin1', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20,
    });
    const want = [...out.matchAll(/is 0x([0-9a-f]+) \(minor/g)].map((m) => parseInt(m[1]!, 16));
    assert.equal(want.length, chars.length, 'debugfs answered every name');
    const bad: string[] = [];
    chars.forEach((c, i) => {
      const got = dirhash(utf8Casefold(enc.encode('X' + c))!, DX_HASH_TEA, null)!.hash;
      if (got !== want[i]) bad.push(`U+${cps(c)} -> ${cps(casefoldString(c))}`);
    });
    // Characters added after Unicode 12.1 with a decomposition are a documented divergence;
    // nothing else may differ.
    if (bad.length) console.log(`# divergences: ${bad.join(", ")}`);
    assert.ok(bad.length <= 20, `got ${bad.length} mismatches (${bad.slice(0, 20).join(', ')}), want at most 20`);
  });

test('agrees with Python str.casefold for Unicode 12.1 characters', { skip: !has('python3') && 'python3 not installed' }, () => {
  const src = 'import sys\nfor cp in range(0x80, 0x30000):\n  if 0xd800 <= cp <= 0xdfff: continue\n' +
    '  c = chr(cp); f = c.casefold()\n  if f != c: print("%x %s" % (cp, " ".join("%x" % ord(x) for x in f)))\n';
  const out = execFileSync('python3', ['-c', src], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const newer = (cp: number) => (cp >= 0x1c89 && cp <= 0x1c8a) || cp === 0x2c2f || cp === 0x2c5f ||
    (cp >= 0xa7c0 && cp <= 0xa7c1) || (cp >= 0xa7c7 && cp <= 0xa7ff) || (cp >= 0x10570 && cp <= 0x105bf) ||
    (cp >= 0x10d50 && cp <= 0x10d8f) || (cp >= 0x16ea0 && cp <= 0x16edf);
  let checked = 0;
  for (const line of out.trim().split('\n')) {
    const [a, ...rest] = line.split(' ');
    const cp = parseInt(a!, 16);
    if (newer(cp)) continue;
    const want = rest.map((x) => String.fromCodePoint(parseInt(x, 16))).join('');
    const got = foldCodePoint(cp);
    assert.equal(got, want, `U+${cp.toString(16)}: got ${cps(got)}, want ${cps(want)}`);
    checked++;
  }
  assert.ok(checked > 1000, `got ${checked} folds checked, want > 1000`);
});
