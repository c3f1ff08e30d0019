/*
 * Kernel command line parsing (init/main.c, kernel/params.c): "mem=32M loglevel=8 quiet".
 * Words may be quoted ("a b"). What no handler claims is reported as Linux does and kept as
 * init's arguments (no '=') and environment (with '=').
 */
export interface ParsedCmdline {
  params: [string, string | null][];
}

export function splitCmdline(cmdline: string): [string, string | null][] {
  const out: [string, string | null][] = [];
  let i = 0;
  const s = cmdline;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    let word = '';
    let quoted = false;
    while (i < s.length && (quoted || !/\s/.test(s[i]!))) {
      if (s[i] === '"') { quoted = !quoted; i++; continue; }
      word += s[i++];
    }
    const eq = word.indexOf('=');
    if (eq < 0) out.push([word, null]);
    else out.push([word.slice(0, eq), word.slice(eq + 1)]);
  }
  return out;
}

/** Linux treats '-' and '_' in parameter names alike. */
export function paramName(name: string): string { return name.replace(/-/g, '_'); }
