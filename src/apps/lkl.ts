#!/usr/bin/env node
/*
 * `lkl`: the command-line front door of LKL.ts. One program, subcommands in the git style:
 *
 *   lkl boot [cmdline...]    boot a kernel here and run a shell as init (see boot.ts)
 *   lkl mkfs -t TYPE ...     make an ext2/3/4 or vfat filesystem on an image (see mkfs.ts)
 *   lkl net-test -b BACKEND  LKL's network test, printing TAP13 (see net_test/net_test.ts)
 *   lkl --help | --version
 *
 * Global options are parsed with node:util parseArgs up to the first word that is not an option;
 * everything after the subcommand belongs to it (kernel parameters are not options). Unknown
 * subcommands and options print the usage to stderr and exit 2, as a usage error should.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { bootMain } from './boot.js';
import { mkfsMain } from './mkfs.js';
import { netTestMain } from './net_test/net_test.js';

const USAGE = `Usage: lkl <command> [arguments...]

The Linux Kernel Library, rebuilt in TypeScript.

Commands:
  boot [cmdline...]   boot a kernel in this terminal and run a shell as init (pid 1)
  mkfs -t TYPE ...    make an ext2/ext3/ext4/vfat filesystem on an image (lkl mkfs -h)
  net-test -b TYPE    LKL's network test over loopback/tap/pipe/qemu, TAP13 (lkl net-test -h)
  help                show this help

Options:
  -h, --help          show this help
  -V, --version       print the version and exit
`;

/** The version of the package this file was built from (dist/src/apps/lkl.js -> package.json). */
function version(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lkl-ts' && pkg.version) return pkg.version;
    } catch { /* try the next location */ }
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const first = argv.findIndex((a) => !a.startsWith('-'));
  const globals = first < 0 ? argv : argv.slice(0, first);
  let values: { help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: globals,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`lkl: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) { process.stdout.write(USAGE); return 0; }
  if (values.version) { process.stdout.write(`lkl (lkl-ts) ${version()}\n`); return 0; }
  if (first < 0) { process.stderr.write(USAGE); return 2; }
  const cmd = argv[first]!;
  const rest = argv.slice(first + 1);
  switch (cmd) {
    case 'boot': return bootMain(rest);
    case 'mkfs': return mkfsMain(rest);
    case 'net-test': return netTestMain(rest);
    case 'help': process.stdout.write(USAGE); return 0;
    default:
      process.stderr.write(`lkl: '${cmd}' is not an lkl command\n${USAGE}`);
      return 2;
  }
}

// Set the status and let the event loop drain: the kernel leaves nothing behind after halt.
main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (e: unknown) => {
    process.stderr.write(`lkl: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
