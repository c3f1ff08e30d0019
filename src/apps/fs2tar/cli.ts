/*
 * fs2tar's command line, parsed the way LKL's argp parser takes it: short options may be
 * clustered (-pP1), an option's argument may be attached (-P1, --partition=1) or the next word,
 * options may follow the operands, "--" ends options, and a lone "-" is an operand (stdout).
 */

export const USAGE = `Usage: fs2tar [OPTION...] IMAGE TARFILE
Write the filesystem in IMAGE (a disk image file, opened read-only) to TARFILE as a pax
archive; TARFILE '-' is standard output.

  -p, --enable-printk            show the kernel's messages (on stderr when TARFILE is -)
  -P, --partition=N              partition number (0, the default, is the whole disk)
  -t, --filesystem-type=TYPE     filesystem type (default: detect it)
  -s, --selinux-contexts=FILE    write "path context" lines for objects with security.selinux
  -m, --mb=N                     kernel memory in MiB (mem=, default 10)
  -h, --help                     show this help

Extract with: tar --xattrs --xattrs-include='*' -xpf TARFILE
`;

export interface Fs2tarOptions {
  printk: boolean;
  part: number;
  fstype: string;
  selinux: string | null;
  mb: number;
  image: string;
  output: string;
}

export type ParseResult = { help: true } | { help: false; opts: Fs2tarOptions };

/** A usage mistake: printed as "fs2tar: <message>" plus the --help hint. */
export class UsageError extends Error {}

/** An option or operand that is well formed but wrong: printed as one line, no hint. */
export class BadArgument extends Error {}

const LONG: Record<string, { short: string; arg: boolean }> = {
  'enable-printk': { short: 'p', arg: false },
  partition: { short: 'P', arg: true },
  'filesystem-type': { short: 't', arg: true },
  'selinux-contexts': { short: 's', arg: true },
  mb: { short: 'm', arg: true },
  help: { short: 'h', arg: false },
};
const SHORT_ARG = new Set(['P', 't', 's', 'm']);
const SHORT_FLAG = new Set(['p', 'h']);

function parseInteger(v: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new BadArgument(`invalid ${what} '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadArgument(`invalid ${what} '${v}'`);
  return n;
}

/** The option table of an argp-style command line: long names, and short letters with or without a value. */
export interface ArgpSpec {
  long: Record<string, { short: string; arg: boolean }>;
  shortArg: Set<string>;
  shortFlag: Set<string>;
}

/**
 * Parse argv the way glibc's argp does for LKL's tools (fs2tar, cptofs): `--name[=value]` with
 * unambiguous prefixes, bundled short flags, `-Xvalue` or `-X value`, `--` ending options, and
 * argp's messages. Each option goes to `apply(shortLetter, value)`; the operands are returned.
 */
export function argpParse(argv: string[], spec: ArgpSpec, apply: (c: string, v: string | undefined) => void): string[] {
  const { long: LONG, shortArg: SHORT_ARG, shortFlag: SHORT_FLAG } = spec;
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { operands.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eqAt = a.indexOf('=');
      const name = a.slice(2, eqAt < 0 ? undefined : eqAt);
      // Unambiguous prefixes are accepted, as argp does (--part=1).
      const matches = Object.keys(LONG).filter((k) => k.startsWith(name));
      const exact = LONG[name] ? name : matches.length === 1 ? matches[0]! : undefined;
      if (!exact) throw new UsageError(matches.length > 1 ? `option '--${name}' is ambiguous` : `unrecognized option '--${name}'`);
      const spec = LONG[exact]!;
      let v: string | undefined;
      if (spec.arg) {
        if (eqAt >= 0) v = a.slice(eqAt + 1);
        else if (i + 1 < argv.length) v = argv[++i];
        else throw new UsageError(`option '--${exact}' requires an argument`);
      } else if (eqAt >= 0) throw new UsageError(`option '--${exact}' doesn't allow an argument`);
      apply(spec.short, v);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        if (SHORT_FLAG.has(c)) { apply(c, undefined); continue; }
        if (SHORT_ARG.has(c)) {
          let v = a.slice(j + 1);
          if (v === '') {
            if (i + 1 >= argv.length) throw new UsageError(`option requires an argument -- '${c}'`);
            v = argv[++i]!;
          }
          apply(c, v);
          break;
        }
        throw new UsageError(`invalid option -- '${c}'`);
      }
      continue;
    }
    operands.push(a);
  }
  return operands;
}

export function parseArgs(argv: string[]): ParseResult {
  const opts: Omit<Fs2tarOptions, 'image' | 'output'> = { printk: false, part: 0, fstype: 'auto', selinux: null, mb: 10 };
  const operands: string[] = [];
  let help = false;
  const apply = (c: string, v: string | undefined): void => {
    switch (c) {
      case 'p': opts.printk = true; break;
      case 'h': help = true; break;
      // Partition numbers as Linux gives them: 1..255 for a partition, 0 for the whole disk.
      case 'P': opts.part = parseInteger(v!, 'partition number', 0, 255); break;
      case 't':
        if (v === '') throw new BadArgument('empty filesystem type');
        opts.fstype = v!;
        break;
      case 's': opts.selinux = v!; break;
      case 'm': opts.mb = parseInteger(v!, 'memory size (MiB)', 1, 1 << 20); break;
    }
  };
  operands.push(...argpParse(argv, { long: LONG, shortArg: SHORT_ARG, shortFlag: SHORT_FLAG }, apply));
  if (help) return { help: true };
  if (operands.length < 2) throw new UsageError(operands.length === 0 ? 'missing image and archive operands' : `missing archive operand after '${operands[0]}'`);
  if (operands.length > 2) throw new UsageError(`extra operand '${operands[2]}'`);
  return { help: false, opts: { ...opts, image: operands[0]!, output: operands[1]! } };
}
