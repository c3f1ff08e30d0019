/*
 * How a source operand names what to copy, LKL's rules:
 *
 *  - a source made only of dots and slashes with no ".." in it ("/", ".", "./", "/./") names the
 *    contents of that directory: every entry is copied into the destination;
 *  - otherwise the source is split like dirname(3)/basename(3), and the basename is an fnmatch(3)
 *    pattern (flags 0: '*' and '?' match a leading dot too) against the entries of the dirname.
 *    A name without wildcards is just matched exactly.
 *
 * Names are byte strings (one char per byte, as the kernel's byte-string paths), so a pattern
 * matches bytes, as fnmatch does in the C locale.
 */

/** LKL's match_root: only '.' and '/' characters, and never two dots in a row. */
export function isRootSource(src: string): boolean {
  if (src === '') return false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '.') { if (i > 0 && src[i - 1] === '.') return false; }
    else if (c !== '/') return false;
  }
  return true;
}

/** dirname(3) and basename(3) of a path: trailing slashes ignored, "/" for the root. */
export function splitPath(p: string): { dir: string; base: string } {
  let end = p.length;
  while (end > 1 && p[end - 1] === '/') end--;
  const q = p.slice(0, end);
  if (q === '/') return { dir: '/', base: '/' };
  const at = q.lastIndexOf('/');
  if (at < 0) return { dir: '.', base: q };
  let d = q.slice(0, at);
  while (d.length > 1 && d.endsWith('/')) d = d.slice(0, -1);
  return { dir: d === '' ? '/' : d, base: q.slice(at + 1) };
}

/** Whether the pattern uses any fnmatch wildcard (otherwise it is one exact name). */
export function hasWildcards(pat: string): boolean {
  return /[*?[\\]/.test(pat);
}

/**
 * fnmatch(pattern, name, 0): '*' any run, '?' one character, [set] with ranges and '!' or '^'
 * negation, '\' quotes the next character. A '[' without its ']' matches itself.
 */
export function fnmatch(pat: string, name: string): boolean {
  // Iterative with one backtrack point for the last '*': linear in practice, no recursion.
  let p = 0, n = 0, starP = -1, starN = 0;
  while (n < name.length) {
    if (p < pat.length) {
      const c = pat[p]!;
      if (c === '*') { starP = ++p; starN = n; continue; }
      if (c === '?') { p++; n++; continue; }
      if (c === '[') {
        const r = matchSet(pat, p, name[n]!);
        if (r !== null) {
          if (r.ok) { p = r.next; n++; continue; }
        } else if (name[n] === '[') { p++; n++; continue; }
      } else if (c === '\\' && p + 1 < pat.length) {
        if (pat[p + 1] === name[n]) { p += 2; n++; continue; }
      } else if (c === name[n]) { p++; n++; continue; }
    }
    if (starP < 0) return false;
    p = starP; n = ++starN;
  }
  while (p < pat.length && pat[p] === '*') p++;
  return p === pat.length;
}

/** A bracket expression at pat[at] against ch: null when it is not closed (then '[' is literal). */
function matchSet(pat: string, at: number, ch: string): { ok: boolean; next: number } | null {
  let i = at + 1;
  let negate = false;
  if (pat[i] === '!' || pat[i] === '^') { negate = true; i++; }
  let ok = false;
  let first = true;
  while (i < pat.length) {
    let c = pat[i]!;
    if (c === ']' && !first) return { ok: ok !== negate, next: i + 1 };
    first = false;
    if (c === '\\' && i + 1 < pat.length) c = pat[++i]!;
    if (pat[i + 1] === '-' && i + 2 < pat.length && pat[i + 2] !== ']') {
      let hi = pat[i + 2]!;
      let skip = 3;
      if (hi === '\\' && i + 3 < pat.length) { hi = pat[i + 3]!; skip = 4; }
      if (c <= ch && ch <= hi) ok = true;
      i += skip;
      continue;
    }
    if (c === ch) ok = true;
    i++;
  }
  return null;
}
