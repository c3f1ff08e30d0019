/*
 * The command line of cptofs and cpfromfs, LKL's options with LKL's meanings:
 *
 *   -i IMAGE   the filesystem image (required)
 *   -t TYPE    filesystem type; LKL makes it mandatory, here it is optional ('auto' probes)
 *   -P N       partition number (0, the default, is the whole disk)
 *   -p         show the kernel's messages (LKL's --enable-printk)
 *   -s CTX     security.selinux value set on every object created in the image (cptofs only,
 *              as in LKL; ignored by cpfromfs)
 *   -o UID     owner of the created files (default: the source's owner, preserved)
 *   -g GID     group of the created files (default: the source's group, preserved)
 *   -m MB      kernel memory in MiB (mem=; LKL's default is 100)
 *
 * Parsed the way argp parses: clustered short options (-pP1), attached or separate arguments,
 * long names and their unambiguous prefixes, options anywhere, "--" ends them. The operands are
 * SOURCE... DEST, at least one source. The error classes are fs2tar's, so both programs report
 * usage mistakes the same way.
 */
import { UsageError, BadArgument, argpParse } from '../fs2tar/cli.js';

export { UsageError, BadArgument };

export type Mode = 'cptofs' | 'cpfromfs';

export interface CptofsOptions {
  mode: Mode;
  printk: boolean;
  part: number;
  fstype: string;
  image: string;
  selinux: string | null;
  owner: number | null;
  group: number | null;
  mb: number;
  sources: string[];
  dest: string;
}

export type ParseResult = { help: true } | { help: false; opts: CptofsOptions };

export function usage(mode: Mode): string {
  const [doc, args] = mode === 'cptofs'
    ? ['Copy files to a filesystem image', 'path... fs_path']
    : ['Copy files from a filesystem image', 'fs_path... path'];
  return `Usage: ${mode} [OPTION...] -i fsimage ${args}
${doc}.

The last operand is the destination directory. A source that is '/' or only
dots and slashes (or ends in '/.') copies the contents of that directory;
wildcards in a source's last component match names (fnmatch). Modes, owners,
times, symlinks, hard links, xattrs, devices and fifos are preserved.

  -i, --filesystem-image=FILE  path to the filesystem image (required)
  -t, --filesystem-type=TYPE   filesystem type (default: detect it)
  -P, --partition=N            partition number (0, the default, is the whole disk)
  -p, --enable-printk          show the kernel's messages
  -s, --selinux=CONTEXT        security.selinux of every created object (cptofs)
  -o, --owner=UID              owner of the created files (default: preserved)
  -g, --group=GID              group of the created files (default: preserved)
  -m, --mb=N                   kernel memory in MiB (default 100)
  -h, --help                   show this help
`;
}

const LONG: Record<string, { short: string; arg: boolean }> = {
  'enable-printk': { short: 'p', arg: false },
  partition: { short: 'P', arg: true },
  'filesystem-type': { short: 't', arg: true },
  'filesystem-image': { short: 'i', arg: true },
  selinux: { short: 's', arg: true },
  owner: { short: 'o', arg: true },
  group: { short: 'g', arg: true },
  mb: { short: 'm', arg: true },
  help: { short: 'h', arg: false },
};
const SHORT_ARG = new Set(['P', 't', 'i', 's', 'o', 'g', 'm']);
const SHORT_FLAG = new Set(['p', 'h']);

function integer(v: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new BadArgument(`invalid ${what} '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadArgument(`invalid ${what} '${v}'`);
  return n;
}

export function parseArgs(mode: Mode, argv: string[]): ParseResult {
  const o: Omit<CptofsOptions, 'sources' | 'dest' | 'image'> & { image: string | null } = {
    mode, printk: false, part: 0, fstype: 'auto', image: null, selinux: null, owner: null, group: null, mb: 100,
  };
  const operands: string[] = [];
  let help = false;
  const apply = (c: string, v: string | undefined): void => {
    switch (c) {
      case 'p': o.printk = true; break;
      case 'h': help = true; break;
      case 'P': o.part = integer(v!, 'partition number', 0, 255); break;
      case 't':
        if (v === '') throw new BadArgument('empty filesystem type');
        o.fstype = v!;
        break;
      case 'i':
        if (v === '') throw new BadArgument('empty image path');
        o.image = v!;
        break;
      case 's': o.selinux = v!; break;
      // uid_t/gid_t: (u32)-1 means "no change" to chown(2), so it cannot be asked for.
      case 'o': o.owner = integer(v!, 'owner', 0, 0xfffffffe); break;
      case 'g': o.group = integer(v!, 'group', 0, 0xfffffffe); break;
      case 'm': o.mb = integer(v!, 'memory size (MiB)', 1, 1 << 20); break;
    }
  };
  operands.push(...argpParse(argv, { long: LONG, shortArg: SHORT_ARG, shortFlag: SHORT_FLAG }, apply));
  if (help) return { help: true };
  if (o.image === null) throw new UsageError('no filesystem image given (-i IMAGE)');
  if (operands.length === 0) throw new UsageError('missing source and destination operands');
  if (operands.length === 1) throw new UsageError(`missing destination operand after '${operands[0]}'`);
  return { help: false, opts: { ...o, image: o.image, sources: operands.slice(0, -1), dest: operands[operands.length - 1]! } };
}

/** The mode an invocation name selects: LKL's rule, "cptofs" anywhere in it means cptofs. */
export function modeOf(argv0: string): Mode {
  const base = argv0.split(/[\\/]/).pop() ?? '';
  return base.includes('cptofs') ? 'cptofs' : 'cpfromfs';
}
