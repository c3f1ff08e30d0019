/*
 * `lkl boot [cmdline...]`: the standalone console, UML's front door. Boots a kernel in this
 * process with the arguments as its command line (joined by spaces, verbatim; without mem= the
 * kernel takes 64M), lets it print its boot log to stdout per loglevel/quiet, and runs the
 * built-in shell as init (pid 1) on stdin:
 *  - on a terminal: prompt "# " and line editing (node:readline);
 *  - otherwise: one command per line, no prompt, nothing echoed.
 * `halt`/`exit` or the end of input halts the kernel; the process then exits by itself with the
 * status of the last command (the kernel leaves no timers or handles behind, and neither do we).
 */
import * as readline from 'node:readline';
import { boot } from '../lkl.js';
import { Shell } from './shell/shell.js';

export const BOOT_USAGE = `Usage: lkl boot [kernel parameters...]

Boot a kernel in this terminal and run a shell as init (pid 1).
The arguments form the kernel command line, e.g.:
  lkl boot mem=32M loglevel=8
  lkl boot quiet
Type 'help' at the prompt for the shell's commands; 'halt' or end of input stops the kernel.
`;

export interface BootIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
}

/** Run `lkl boot`; resolves to the exit status. */
export async function bootMain(args: string[], io: BootIo = process): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h') { io.stdout.write(BOOT_USAGE); return 0; }
  const params = args[0] === '--' ? args.slice(1) : args;
  let k;
  try {
    k = await boot({ cmdline: params.join(' ') });
  } catch (e) {
    io.stderr.write(`lkl: boot failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const interactive = !!io.stdin.isTTY;
  // A reader that went away (lkl boot | head) ends the session, as SIGPIPE ends a shell; the
  // listener stays so the kernel's last console lines cannot raise an unhandled error.
  let stdoutGone = false;
  io.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') { stdoutGone = true; return; }
    io.stderr.write(`lkl: standard output: ${e.message}\n`);
    stdoutGone = true;
  });
  const sh = new Shell({
    kernel: k,
    stdout: (d) => { if (!stdoutGone) io.stdout.write(d); },
    stderr: (t) => { io.stderr.write(t); },
    isTTY: !!io.stdout.isTTY,
    columns: io.stdout.columns || 80, // a pty without a window size says 0
  });
  await sh.startup();

  const rl = readline.createInterface({
    input: io.stdin,
    // Only a terminal gets a prompt and echo; piped input is read silently. Like sh, prompt and
    // echo go to stderr when stdout is not the terminal (lkl boot > log).
    output: interactive ? (io.stdout.isTTY ? io.stdout : io.stderr) : undefined,
    terminal: interactive,
    prompt: '# ',
    historySize: interactive ? 100 : 0,
  });
  if (interactive) {
    // ^C abandons the line being typed, as a shell does; it does not kill init.
    rl.on('SIGINT', () => {
      // Leave the typed text on screen, then empty the line buffer (^E ^U) on a fresh row.
      io.stdout.write('^C\n');
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      rl.prompt();
    });
    rl.prompt();
  }
  for await (const line of rl) {
    await sh.runLine(line);
    if (sh.halted || stdoutGone) break;
    if (interactive) rl.prompt();
  }
  rl.close();
  if (!sh.halted) {
    if (interactive && !stdoutGone) io.stdout.write('\n');
    await sh.halt(stdoutGone ? 128 + 13 /* SIGPIPE */ : sh.status);
  }
  // Input left unread after halt must not keep the process alive.
  if (io.stdin === process.stdin && !interactive) process.stdin.destroy();
  return sh.exitStatus;
}
