/*
 * The shell's command-line grammar: just enough of sh to type commands by hand.
 *
 *   line     := list ; comments start with an unquoted '#' at the start of a word
 *   list     := command { (';' | '&&' | '||') command }
 *   command  := { word | redirect }
 *   redirect := [ '1' | '2' ] ( '>' | '>>' ) word
 *
 * Words are split on unquoted blanks. Inside '...' every character is literal; inside "..."
 * a backslash escapes only $ ` " \ and newline; outside quotes a backslash escapes any one
 * character. `$?` expands to the exit status of the previous command (outside single quotes);
 * the parser leaves a marker (STATUS_MARK) that the shell replaces right before each command runs.
 * No globbing, no variables, no pipes: the shell runs built-in commands only.
 */

export interface Redirect {
  /** 1 (stdout) or 2 (stderr). */
  fd: 1 | 2;
  path: string;
  append: boolean;
}

export interface SimpleCommand {
  argv: string[];
  redirects: Redirect[];
  /** How this command is joined to the previous one: ';' (always), '&&' or '||'. */
  join: ';' | '&&' | '||';
}

export class ParseError extends Error {}

/** Stands for `$?` in parsed words: NUL cannot occur in a real argument, so it cannot clash. */
export const STATUS_MARK = '\0?';
/** Replace the `$?` markers in a word with the status. */
export const expandStatus = (word: string, status: number) => word.split(STATUS_MARK).join(String(status));

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string };

/** Split a line into words and operators. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') { i++; continue; }
    if (c === '#') break; // comment to end of line
    if (c === ';') { out.push({ kind: 'op', text: ';' }); i++; continue; }
    if (c === '&' && line[i + 1] === '&') { out.push({ kind: 'op', text: '&&' }); i += 2; continue; }
    if (c === '|' && line[i + 1] === '|') { out.push({ kind: 'op', text: '||' }); i += 2; continue; }
    if (c === '|' || c === '&' || c === '<') throw new ParseError(`syntax error: '${c}' is not supported`);
    // A redirection operator, optionally preceded by the fd digit as its own word start.
    const m = /^([12]?)(>>?)/.exec(line.slice(i));
    if (m) { out.push({ kind: 'op', text: m[0] }); i += m[0].length; continue; }
    // A word: runs until an unquoted blank or operator character.
    let word = '';
    while (i < n) {
      const d = line[i]!;
      if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === ';' || d === '>' || d === '<' ||
        (d === '&' && line[i + 1] === '&') || d === '|') break;
      if (d === '\\') {
        if (i + 1 < n) word += line[i + 1];
        i += 2;
        continue;
      }
      if (d === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new ParseError('syntax error: unterminated quoted string');
        word += line.slice(i + 1, end);
        i = end + 1;
        continue;
      }
      if (d === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new ParseError('syntax error: unterminated quoted string');
          const e = line[i]!;
          if (e === '"') { i++; break; }
          if (e === '\\' && i + 1 < n && '$`"\\\n'.includes(line[i + 1]!)) { word += line[i + 1]; i += 2; continue; }
          if (e === '$' && line[i + 1] === '?') { word += STATUS_MARK; i += 2; continue; }
          word += e; i++;
        }
        continue;
      }
      if (d === '$' && line[i + 1] === '?') { word += STATUS_MARK; i += 2; continue; }
      word += d; i++;
    }
    out.push({ kind: 'word', text: word });
  }
  return out;
}

/** Parse a line into simple commands joined by ; && ||. Empty commands are dropped. */
export function parseLine(line: string): SimpleCommand[] {
  const toks = tokenize(line);
  const cmds: SimpleCommand[] = [];
  let cur: SimpleCommand = { argv: [], redirects: [], join: ';' };
  const finish = (op: SimpleCommand['join']) => {
    if (cur.argv.length === 0 && cur.redirects.length === 0) throw new ParseError(`syntax error near unexpected token '${op}'`);
    cmds.push(cur);
    cur = { argv: [], redirects: [], join: op };
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'word') { cur.argv.push(t.text); continue; }
    if (t.text === ';' || t.text === '&&' || t.text === '||') { finish(t.text); continue; }
    // Redirection: the next token must be a word.
    const target = toks[i + 1];
    if (!target || target.kind !== 'word') throw new ParseError(`syntax error near unexpected token '${target ? target.text : 'newline'}'`);
    i++;
    const fd = t.text.startsWith('2') ? 2 : 1;
    cur.redirects.push({ fd, path: target.text, append: t.text.endsWith('>>') });
  }
  if (cur.argv.length || cur.redirects.length) cmds.push(cur);
  else if (cmds.length && cur.join !== ';') throw new ParseError('syntax error: unexpected end of line');
  return cmds;
}

/**
 * Short options in the getopt style coreutils uses: clusters ("-la"), "--" ends options,
 * a lone "-" is an operand. `withArg` lists letters that take a value ("-m 755" or "-m755").
 * Options may follow operands (GNU permutation) unless `stopAtOperand`.
 */
export interface Opts {
  flags: Set<string>;
  values: Map<string, string>;
  operands: string[];
  /** Set when parsing failed: the message to print (without the program name). */
  error?: string;
}

export function getopts(args: string[], letters: string, withArg = '', long: Record<string, string> = {},
  stopAtOperand = false): Opts {
  const o: Opts = { flags: new Set(), values: new Map(), operands: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { o.operands.push(...args.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const [name, val] = a.slice(2).split('=', 2) as [string, string | undefined];
      const letter = long[name];
      if (letter === undefined) { o.error = `unrecognized option '${a}'`; return o; }
      if (withArg.includes(letter)) {
        const v = val ?? args[++i];
        if (v === undefined) { o.error = `option '--${name}' requires an argument`; return o; }
        o.values.set(letter, v);
      } else o.flags.add(letter);
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      o.operands.push(a);
      if (stopAtOperand) { o.operands.push(...args.slice(i + 1)); break; }
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (withArg.includes(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (v === undefined) { o.error = `option requires an argument -- '${c}'`; return o; }
        o.values.set(c, v);
        break;
      }
      if (!letters.includes(c)) { o.error = `invalid option -- '${c}'`; return o; }
      o.flags.add(c);
    }
  }
  return o;
}
