#!/usr/bin/env node
// Layer check for src/ (see src/README.md and docs' architecture page).
//
//   node scripts/check-layers.mjs [srcDir]      (default: the src/ next to this script)
//
// Reports "file:line: reason" and exits 1 when
//   (a) code outside src/arch/{node,browser,fake}/ and src/apps/ imports a Node builtin or
//       touches a host global (process, Buffer, window, document, setTimeout, ...);
//   (b) an import goes up the rank table, or sideways to another unit of the same rank;
//   (c) an import into another unit skips that unit's index.ts (src/uapi/*, src/lib/* and
//       src/arch/host.ts may be imported file by file).
// Unit tests beside the code (*.test.ts) may also use node:test / node:assert and import
// src/arch/fake/index.ts from any rank.
// No dependencies: a small tokenizer blanks comments, strings, template text and regex
// literals so that identifiers and import specifiers are matched in code only.

import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const srcRoot = path.resolve(process.argv[2] ?? path.join(scriptDir, '..', 'src'));

// ---------------------------------------------------------------- the rank table

const USER = 100; // src/apps: above everything, reaches the kernel only through src/lkl.ts

/** kind 'dir': everything below that folder; kind 'file': that one file. */
const UNITS = [
  ['uapi', 0],
  ['lib', 1],
  ['arch/host.ts', 2, 'file'],
  ['net/header', 2],
  ['arch/node', 2],
  ['arch/fake', 2],
  ['arch/browser', 2],
  ['mm', 3],
  ['kernel/auth', 3],
  ['kernel/ktime', 3],
  ['kernel/printk', 3],
  ['block', 4],
  ['fs/vfs', 5],
  ['net/core', 5],
  ['fs/jbd2', 6],
  ['fs/ext4', 7],
  ['fs/fat', 7],
  ['fs/tmpfs', 7],
  ['fs/pipe', 7],
  ['fs/eventpoll', 7],
  ['net/link', 7],
  ['net/arp', 7],
  ['net/ipv4', 7],
  ['net/ipv6', 7],
  ['net/icmp', 7],
  ['net/udp', 7],
  ['net/tcp', 7],
  ['kernel', 8],
  ['net/socket', 9],
  ['fs/proc', 9],
  ['drivers', 9],
  ['syscalls', 10],
  ['lkl.ts', 11, 'file'],
  ['api', 10.5],
  ['apps', USER],
].map(([name, rank, kind = 'dir']) => ({ name, rank, kind }));

/** Folders allowed to talk to the host directly. */
const HOST_UNITS = new Set(['arch/node', 'arch/browser', 'arch/fake', 'apps']);
/** Units whose files may be imported one by one. */
const OPEN_UNITS = new Set(['uapi', 'lib', 'arch/host.ts']);
/** What src/apps may import besides itself. */
const APPS_MAY_IMPORT = new Set(['lkl.ts', 'uapi', 'arch/host.ts', 'arch/node', 'arch/fake', 'arch/browser']);
const ARCH_IMPLS = new Set(['arch/node', 'arch/fake', 'arch/browser']);

/** The deepest unit holding a path relative to src/ (posix separators), or undefined. */
function unitOf(rel) {
  let best;
  for (const u of UNITS) {
    const hit = u.kind === 'file' ? rel === u.name : rel.startsWith(u.name + '/');
    if (hit && (!best || u.name.length > best.name.length)) best = u;
  }
  return best;
}

const rankText = (u) => (u.rank === USER ? 'user' : `rank ${u.rank}`);

// ---------------------------------------------------------------- host identifiers

const NODE_BUILTINS = new Set([
  ...builtinModules,
  'fs', 'path', 'os', 'net', 'dgram', 'child_process', 'worker_threads', 'crypto', 'events',
  'stream', 'util', 'tty', 'readline', 'buffer', 'timers', 'perf_hooks',
]);
const HOST_GLOBALS = [
  'process', 'Buffer', 'window', 'document', 'navigator', 'setTimeout', 'setInterval',
  'setImmediate', 'clearTimeout', 'queueMicrotask', 'performance', 'require',
];
const TEST_ONLY_BUILTINS = new Set(['node:test', 'node:assert', 'node:assert/strict', 'assert', 'assert/strict']);

function isNodeBuiltin(spec) {
  if (spec.startsWith('node:')) return true;
  return NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split('/')[0]);
}

// ---------------------------------------------------------------- tokenizer

const REGEX_AFTER_WORD = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do',
  'else', 'yield', 'await',
]);

/**
 * Same-length copy of `src` in which comments become spaces and the contents of string,
 * template and regex literals become spaces (quotes and `${ }` expressions stay), newlines kept.
 * Also returns, for every ' or " string literal, its opening offset -> its raw contents.
 */
function mask(src) {
  const out = src.split('');
  const strings = new Map();
  const blank = (from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n' && out[k] !== '\r') out[k] = ' ';
  };
  const braceStack = []; // one entry per open `${`: brace depth inside that expression
  let i = 0;
  const n = src.length;

  const lastSignificant = (pos) => {
    let k = pos - 1;
    while (k >= 0 && /\s/.test(out[k])) k--;
    if (k < 0) return { ch: '', word: '' };
    let w = k;
    while (w >= 0 && /[\w$]/.test(out[w])) w--;
    return { ch: out[k], word: out.slice(w + 1, k + 1).join('') };
  };

  // Scan a template body starting just after ` (or after the } closing a ${); stops after the
  // closing backtick or just after a `${`.
  const scanTemplate = () => {
    const start = i;
    while (i < n) {
      const c = src[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '`') { blank(start, i); i++; return; }
      if (c === '$' && src[i + 1] === '{') { blank(start, i); i += 2; braceStack.push(0); return; }
      i++;
    }
    blank(start, n);
  };

  while (i < n) {
    const c = src[i];
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      const open = i;
      i++;
      while (i < n && src[i] !== c && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
      strings.set(open, src.slice(open + 1, Math.min(i, n)));
      blank(open + 1, Math.min(i, n));
      i++;
    } else if (c === '`') {
      i++;
      scanTemplate();
    } else if (c === '{' && braceStack.length) {
      braceStack[braceStack.length - 1]++;
      i++;
    } else if (c === '}' && braceStack.length) {
      if (braceStack[braceStack.length - 1] === 0) {
        braceStack.pop();
        i++;
        scanTemplate();
      } else {
        braceStack[braceStack.length - 1]--;
        i++;
      }
    } else if (c === '/') {
      const { ch, word } = lastSignificant(i);
      const startsRegex =
        ch === '' || '(,=:[!&|?{};+-*%<>~^'.includes(ch) || (/[\w$]/.test(ch) && REGEX_AFTER_WORD.has(word));
      if (!startsRegex) { i++; continue; }
      const open = i;
      i++;
      let inClass = false;
      while (i < n && src[i] !== '\n') {
        const r = src[i];
        if (r === '\\') { i += 2; continue; }
        if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) break;
        i++;
      }
      blank(open + 1, Math.min(i, n));
      i++;
    } else {
      i++;
    }
  }
  return { code: out.join(''), strings };
}

// ---------------------------------------------------------------- per-file checks

function lineStarts(text) {
  const starts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === '\n') starts.push(k + 1);
  return starts;
}
function lineAt(starts, pos) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

const IMPORT_PATTERNS = [
  /\bimport\s+(?:type\s+)?[\w$*{}\s,]*?\bfrom\s*(["'])/g, // import ... from "x"
  /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(["'])/g, // export ... from "x"
  /\bimport\s*(["'])/g, // import "x"
  /\bimport\s*\(\s*(["'])/g, // import("x")
  /\brequire\s*\(\s*(["'])/g, // require("x"), import x = require("x")
];

function findImports(code, strings) {
  const found = new Map(); // quote offset -> specifier (patterns may overlap)
  for (const re of IMPORT_PATTERNS) {
    re.lastIndex = 0;
    for (let m; (m = re.exec(code)); ) {
      if (m.index > 0 && code[m.index - 1] === '.') continue;
      const quote = m.index + m[0].length - 1;
      const spec = strings.get(quote);
      if (spec !== undefined) found.set(quote, spec);
    }
  }
  return [...found].map(([pos, spec]) => ({ pos, spec }));
}

/** Names a file declares or imports itself; a host-global name so declared is not the global. */
function localNames(code) {
  const names = new Set();
  const decl = /\b(?:const|let|var|function\*?|class|interface|type|enum)\s+([\w$]+)/g;
  for (let m; (m = decl.exec(code)); ) names.add(m[1]);
  const imp = /\bimport\s+(?:type\s+)?([\w$*{}\s,]*?)\s*\bfrom\b/g;
  for (let m; (m = imp.exec(code)); ) {
    for (const part of m[1].replace(/[{}*]/g, ',').split(',')) {
      const bits = part.trim().split(/\s+/).filter((b) => b && b !== 'type');
      if (bits.length) names.add(bits[bits.length - 1]);
    }
  }
  return names;
}

function skipSpaceBack(code, k) {
  while (k >= 0 && /\s/.test(code[k])) k--;
  return k;
}
function skipSpace(code, k) {
  while (k < code.length && /\s/.test(code[k])) k++;
  return k;
}
function matchParen(code, open) {
  let depth = 0;
  for (let k = open; k < code.length; k++) {
    if (code[k] === '(') depth++;
    else if (code[k] === ')' && --depth === 0) return k;
  }
  return -1;
}

/** Offsets where a host global is used as a value or type (not a member, key or declaration). */
function findHostGlobals(code) {
  const hits = [];
  const declared = localNames(code);
  const re = new RegExp(`(?<![\\w$])(${HOST_GLOBALS.join('|')})(?![\\w$])`, 'g');
  for (let m; (m = re.exec(code)); ) {
    const name = m[1];
    const start = m.index;
    const end = start + name.length;
    const p = skipSpaceBack(code, start - 1);
    const prev = p >= 0 ? code[p] : '';
    const spread = prev === '.' && code[p - 1] === '.' && code[p - 2] === '.';
    if (prev === '.' && !spread) {
      // obj.process is a member; globalThis.process / globalThis?.process is the global
      let q = skipSpaceBack(code, p - 1);
      if (code[q] === '?') q = skipSpaceBack(code, q - 1);
      if (!/(?:^|[^\w$])globalThis$/.test(code.slice(Math.max(0, q - 10), q + 1))) continue;
    } else if (declared.has(name)) {
      continue;
    }
    const nx = skipSpace(code, end);
    if (code[nx] === '?' && code[skipSpace(code, nx + 1)] === ':') continue; // optional member "x?: T"
    if (code[nx] === ':' && code[nx + 1] !== ':' && prev !== '?') continue; // key or annotation
    if (code[nx] === '(' && prev !== '?') {
      const close = matchParen(code, nx);
      if (close > 0) {
        const after = code[skipSpace(code, close + 1)];
        if (after === '{' || after === ':') continue; // method declaration "setTimeout(...) {" / "(...): T"
      }
    }
    hits.push({ pos: start, name });
  }
  return hits;
}

/** Resolve a relative specifier to a path relative to src/ (posix), or null if it leaves src. */
function resolveRelative(fromRel, spec) {
  let target = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  if (target === '..' || target.startsWith('../')) return null;
  if (/\.m?js$/.test(target)) target = target.replace(/\.(m?)js$/, '.$1ts');
  else if (/\.cjs$/.test(target)) target = target.replace(/\.cjs$/, '.cts');
  else if (!/\.[cm]?tsx?$|\.json$/.test(target)) {
    const abs = path.join(srcRoot, ...target.split('/'));
    if (existsSync(abs) && statSync(abs).isDirectory()) target = `${target}/index.ts`;
    else target = `${target}.ts`;
  }
  return target;
}

function checkFile(rel, text, reportLine) {
  const found = [];
  const report = (r, line, reason) => found.push({ line, reason });
  checkFileInto(rel, text, report);
  found.sort((a, b) => a.line - b.line);
  for (const f of found) reportLine(rel, f.line, f.reason);
}

function checkFileInto(rel, text, report) {
  const { code, strings } = mask(text);
  const starts = lineStarts(text);
  const at = (pos) => lineAt(starts, pos);
  const unit = unitOf(rel);
  const isTest = /\.(test|spec)\.[cm]?tsx?$/.test(rel);
  const mayTouchHost = unit !== undefined && HOST_UNITS.has(unit.name);

  if (!unit) report(rel, 1, 'file lies in no folder of the rank table (src/README.md); add it to a unit or the table');

  for (const { pos, spec } of findImports(code, strings)) {
    const line = at(pos);
    if (isNodeBuiltin(spec)) {
      if (!mayTouchHost && !(isTest && TEST_ONLY_BUILTINS.has(spec)))
        report(rel, line, `imports Node builtin "${spec}"; only src/arch/{node,browser,fake}/ and src/apps/ may`);
      continue;
    }
    if (!spec.startsWith('./') && !spec.startsWith('../') && spec !== '.' && spec !== '..') continue; // packages
    if (!unit) continue;
    const target = resolveRelative(rel, spec);
    if (target === null) {
      report(rel, line, `import "${spec}" leaves src/`);
      continue;
    }
    const tu = unitOf(target);
    if (!tu) {
      report(rel, line, `import "${spec}" reaches src/${target}, which lies in no unit of the rank table`);
      continue;
    }
    if (tu === unit) continue;

    let allowed;
    if (unit.name === 'apps') {
      allowed = APPS_MAY_IMPORT.has(tu.name);
      if (!allowed) report(rel, line, `apps reach the kernel only through src/lkl.ts (and uapi, arch); "${spec}" goes to ${tu.name}`);
    } else if (tu.name === 'apps') {
      allowed = false;
      report(rel, line, `imports from src/apps ("${spec}"); nothing in the kernel may depend on user programs`);
    } else if (ARCH_IMPLS.has(unit.name) && tu.name === 'arch/host.ts') {
      allowed = true;
    } else if (isTest && tu.name === 'arch/fake') {
      allowed = true;
    } else if (tu.rank > unit.rank) {
      allowed = false;
      report(rel, line, `imports upward: ${unit.name} (${rankText(unit)}) -> ${tu.name} (${rankText(tu)}) via "${spec}"`);
    } else if (tu.rank === unit.rank) {
      allowed = false;
      report(rel, line, `imports sideways: ${unit.name} -> ${tu.name}, both ${rankText(unit)}, via "${spec}"`);
    } else {
      allowed = true;
    }
    if (allowed && tu.kind === 'dir' && !OPEN_UNITS.has(tu.name) && target !== `${tu.name}/index.ts`)
      report(rel, line, `import "${spec}" bypasses ${tu.name}/index.ts`);
  }

  if (!mayTouchHost) {
    for (const { pos, name } of findHostGlobals(code))
      report(rel, at(pos), `uses host global "${name}"; only src/arch/{node,browser,fake}/ and src/apps/ may`);
  }
}

// ---------------------------------------------------------------- main

function walk(dir, acc) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, acc);
    else if (/\.[cm]?tsx?$/.test(entry.name)) acc.push(full);
  }
  return acc;
}

if (!existsSync(srcRoot) || !statSync(srcRoot).isDirectory()) {
  console.error(`check-layers: no such directory ${srcRoot}`);
  process.exit(2);
}

const files = walk(srcRoot, []).sort();
let violations = 0;
const report = (rel, line, reason) => {
  violations++;
  const shown = path.relative(process.cwd(), path.join(srcRoot, ...rel.split('/'))) || rel;
  console.log(`${shown}:${line}: ${reason}`);
};
for (const abs of files) {
  const rel = path.relative(srcRoot, abs).split(path.sep).join('/');
  checkFile(rel, readFileSync(abs, 'utf8'), report);
}
console.log(`layers: ${files.length} files checked, ${violations} violations`);
process.exit(violations > 0 ? 1 : 0);
