/*
 * The built-in shell that `lkl boot` runs as init (pid 1): it reads command lines, parses them
 * (parse.ts), sets up "> file" redirections with open(2), and runs built-in commands that are
 * small programs over system calls (cmd_*.ts). There is no exec: every command is a function in
 * this process issuing syscalls as the init task, the way LKL's own test programs drive a kernel.
 *
 * Rules of use:
 *  - create one Shell per kernel; call startup() once (it mounts /proc as an init script would);
 *  - feed lines to runLine(); it returns the exit status, also kept as `status` (`$?`);
 *  - `halt` or `exit` halts the kernel: `halted` turns true and no further line runs.
 * Output goes through the two sinks given at construction, so the shell runs the same in a
 * terminal and in tests.
 */
import type { Sys } from '../../lkl.js';
import { EEXIST } from '../../uapi/errno.js';
import { MS_NOSUID, MS_NODEV, MS_NOEXEC } from '../../uapi/mount.js';
import { strerror } from '../../uapi/errno_text.js';
import { parseLine, ParseError, expandStatus, type SimpleCommand } from './parse.js';
import { type Ctx, type Command, type Writer, type ShellControl, statPath } from './context.js';
import { ls, stat } from './cmd_ls.js';
import { cat, echo, mkdir, rmdir, rm, mv, cp, ln, touch, chmod, cd, pwd, openRedirect, writeString } from './cmd_files.js';
import { mount, umount, dmesg, ps, free, uname, halt, exit, sync, true_, false_, sleep } from './cmd_system.js';

/** What the shell needs of a kernel: a task's system calls and the halt path. */
export interface ShellKernel {
  sys: Sys;
  halt(): Promise<number>;
}

export interface ShellOptions {
  kernel: ShellKernel;
  /** Standard output of commands (bytes or text). */
  stdout: (data: string | Uint8Array) => void | Promise<void>;
  /** Standard error of commands. */
  stderr: (text: string) => void | Promise<void>;
  /** Output is a terminal (ls prints columns). */
  isTTY?: boolean;
  columns?: number;
}

const HELP = `Built-in commands (each one a small program over Linux system calls):
  cd [dir]            pwd                  ls [-laAd1ihR] [path...]
  cat file...         echo [-neE] text     mkdir [-p] [-m mode] dir...
  rmdir [-p] dir...   rm [-rfdv] path...   mv [-fnv] src... dst
  cp [-rafnv] src... dst                   ln [-sfnv] target [link]
  stat [-L] path...   touch [-c] file...   chmod [-Rv] mode path...
  mount [-t type] [-o opts] [source target]                umount [-lf] target...
  dmesg [-crC] [-n level]                  ps    free [-bkmgh]    uname [-asnrvmo]
  sync    sleep secs    true    false    help    exit [n]    halt (also poweroff, reboot)
Redirection: cmd > file, cmd >> file, cmd 2> file; lists: a ; b, a && b, a || b; $? is the last status.
`;

export class Shell implements ShellControl {
  /** Exit status of the last command ($?). */
  status = 0;
  /** The kernel has been halted: stop reading input. */
  halted = false;
  /** Status to exit with once halted (exit n), else the last command's. */
  exitStatus = 0;
  readonly commands = new Map<string, Command>();
  private readonly opts: ShellOptions;

  constructor(opts: ShellOptions) {
    this.opts = opts;
    const table: Record<string, Command> = {
      ls, stat, cat, echo, mkdir, rmdir, rm, mv, cp, ln, touch, chmod, cd, pwd,
      mount, umount, dmesg, ps, free, uname, halt, poweroff: halt, reboot: halt, exit, sync,
      true: true_, false: false_, sleep,
      help: async (ctx) => { await ctx.out.write(HELP); return 0; },
    };
    for (const [name, fn] of Object.entries(table)) this.commands.set(name, fn);
  }

  get lastStatus(): number { return this.status; }
  get sys(): Sys { return this.opts.kernel.sys; }

  /**
   * What /etc/init.d/rcS would do: make /proc and mount procfs there unless something is already
   * mounted (our kernel, like LKL, leaves that to user space). Failure is reported, not fatal.
   */
  async startup(): Promise<void> {
    const sys = this.sys;
    const r = await sys.mkdir('/proc', 0o555);
    if (r < 0 && r !== -EEXIST) { await this.opts.stderr(`sh: cannot create /proc: ${strerror(-r)}\n`); return; }
    const root = await statPath(sys, '/');
    const proc = await statPath(sys, '/proc');
    if (typeof root !== 'number' && typeof proc !== 'number' && root.dev !== proc.dev) return; // already mounted
    const m = await sys.mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
    if (m < 0) await this.opts.stderr(`sh: cannot mount proc on /proc: ${strerror(-m)}\n`);
  }

  async halt(status = this.status): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    this.exitStatus = status;
    await this.opts.kernel.halt();
  }

  /** Run one command line; returns its exit status. */
  async runLine(line: string): Promise<number> {
    if (this.halted) return this.status;
    let cmds: SimpleCommand[];
    try {
      cmds = parseLine(line);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      await this.opts.stderr(`sh: ${e.message}\n`);
      this.status = 2;
      return 2;
    }
    for (const c of cmds) {
      if (this.halted) break;
      if (c.join === '&&' && this.status !== 0) continue;
      if (c.join === '||' && this.status === 0) continue;
      const st = this.status;
      this.status = await this.runCommand({
        ...c,
        argv: c.argv.map((w) => expandStatus(w, st)),
        redirects: c.redirects.map((r) => ({ ...r, path: expandStatus(r.path, st) })),
      });
    }
    return this.status;
  }

  private async runCommand(c: SimpleCommand): Promise<number> {
    const sys = this.sys;
    const opened: number[] = [];
    let failed = false;
    const fdWriter = (fd: number, name: string): Writer => ({
      write: async (data) => {
        if (failed) return;
        const r = await writeString({ sys }, fd, data);
        if (r < 0) { failed = true; await this.opts.stderr(`${name}: write error: ${strerror(-r)}\n`); }
      },
    });
    const name = c.argv[0] ?? 'sh';
    let out: Writer = { write: async (d) => { await this.opts.stdout(d); } };
    let err: Writer = { write: async (d) => { await this.opts.stderr(typeof d === 'string' ? d : new TextDecoder().decode(d)); } };
    try {
      // Redirections are set up left to right before the command runs, as sh does.
      for (const r of c.redirects) {
        const fd = await openRedirect({ sys }, r.path, r.append);
        if (fd < 0) { await this.opts.stderr(`sh: ${r.path}: ${strerror(-fd)}\n`); return 1; }
        opened.push(fd);
        if (r.fd === 1) out = fdWriter(fd, name); else err = fdWriter(fd, name);
      }
      if (!c.argv.length) return 0; // "> file" alone creates or truncates the file
      const cmd = this.commands.get(name);
      if (!cmd) { await err.write(`sh: ${name}: command not found\n`); return 127; }
      const ctx: Ctx = {
        sys, out, err, shell: this,
        isTTY: !!this.opts.isTTY && !c.redirects.some((r) => r.fd === 1),
        columns: this.opts.columns ?? 80,
      };
      let status: number;
      try {
        status = await cmd(ctx, c.argv);
      } catch (e) {
        // A bug in a command must not take init down with it.
        await this.opts.stderr(`sh: ${name}: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
        status = 1;
      }
      return failed && status === 0 ? 1 : status;
    } finally {
      if (!this.halted) for (const fd of opened) await sys.close(fd);
    }
  }
}
