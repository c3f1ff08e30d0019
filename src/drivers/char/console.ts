/*
 * The terminal devices of major 5 (drivers/tty/tty_io.c): /dev/tty (5,0), the controlling
 * terminal, and /dev/console (5,1), the system console. Our tasks have no terminal of their own,
 * so both are the host console: writes go to HostOps.print, reads see end of file.
 *
 * They answer the terminal ioctls programs probe with — TCGETS (a cooked 38400-baud 8-bit line,
 * Linux's tty_std_termios), the TCSETS family (accepted), TIOCGWINSZ/TIOCSWINSZ (80x24 unless
 * set) — and ENOTTY for the rest. A terminal is not seekable (ESPIPE) and always ready for poll.
 */
import { fail } from '../../lib/errors.js';
import { utf8Decode } from '../../lib/bytestr.js';
import { EFAULT, ENOTTY, ESPIPE } from '../../uapi/errno.js';
import { TCGETS, TCSETS, TIOCGWINSZ } from '../../uapi/misc.js';
import { WaitQueue } from '../../lib/waitqueue.js';
import type { Kernel } from '../../kernel/index.js';
import type { FileOperations, File } from '../../fs/vfs/index.js';
import { ALWAYS_READY } from './mem.js';

export const TTYAUX_MAJOR = 5;
export const TTY_MINOR = 0, CONSOLE_MINOR = 1;

const TCSETSW = 0x5403, TCSETSF = 0x5404, TIOCSWINSZ = 0x5414;

/** struct termios of the asm-generic ABI: 4 u32 flags, c_line, c_cc[19]. */
export const TERMIOS_SIZE = 36;
export interface Termios { c_iflag: number; c_oflag: number; c_cflag: number; c_lflag: number; c_line: number; c_cc: number[] }
export interface Winsize { ws_row: number; ws_col: number; ws_xpixel: number; ws_ypixel: number }

/** tty_std_termios: ICRNL|IXON, OPOST|ONLCR, B38400|CS8|CREAD|HUPCL, ISIG|ICANON|ECHO... */
export function defaultTermios(): Termios {
  return {
    c_iflag: 0o2400, c_oflag: 0o5, c_cflag: 0o2277, c_lflag: 0o105073, c_line: 0,
    // INIT_C_CC: ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, VSWTC 0, ^Q ^S ^Z, VEOL 0, ^R ^O ^W ^V, VEOL2 0
    c_cc: [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0],
  };
}

function encodeTermios(t: Termios, out: Uint8Array): void {
  if (out.length < TERMIOS_SIZE) fail(EFAULT);
  const v = new DataView(out.buffer, out.byteOffset, TERMIOS_SIZE);
  v.setUint32(0, t.c_iflag, true); v.setUint32(4, t.c_oflag, true);
  v.setUint32(8, t.c_cflag, true); v.setUint32(12, t.c_lflag, true);
  out[16] = t.c_line;
  for (let i = 0; i < 19; i++) out[17 + i] = t.c_cc[i] ?? 0;
}

function ttyFops(k: Kernel, winsize: Winsize, quiet: WaitQueue): FileOperations {
  return {
    read: () => 0,
    write(_f: File, buf: Uint8Array) { k.host.print?.(utf8Decode(buf)); return buf.length; },
    llseek: () => fail(ESPIPE),
    poll: () => ALWAYS_READY,
    waitQueue: () => quiet,
    ioctl(_f: File, cmd: number, arg: unknown) {
      switch (cmd >>> 0) {
        case TCGETS: {
          const t = defaultTermios();
          if (arg instanceof Uint8Array) encodeTermios(t, arg);
          else if (typeof arg === 'object' && arg !== null) Object.assign(arg, t);
          else fail(EFAULT);
          return 0;
        }
        case TCSETS: case TCSETSW: case TCSETSF:
          if (arg === null || arg === undefined || arg === 0) fail(EFAULT);
          return 0;
        case TIOCGWINSZ: {
          if (arg instanceof Uint8Array) {
            if (arg.length < 8) fail(EFAULT);
            const v = new DataView(arg.buffer, arg.byteOffset, 8);
            v.setUint16(0, winsize.ws_row, true); v.setUint16(2, winsize.ws_col, true);
            v.setUint16(4, winsize.ws_xpixel, true); v.setUint16(6, winsize.ws_ypixel, true);
          } else if (typeof arg === 'object' && arg !== null) Object.assign(arg, winsize);
          else fail(EFAULT);
          return 0;
        }
        case TIOCSWINSZ: {
          if (arg instanceof Uint8Array && arg.length >= 8) {
            const v = new DataView(arg.buffer, arg.byteOffset, 8);
            winsize.ws_row = v.getUint16(0, true); winsize.ws_col = v.getUint16(2, true);
            winsize.ws_xpixel = v.getUint16(4, true); winsize.ws_ypixel = v.getUint16(6, true);
          } else if (typeof arg === 'object' && arg !== null) Object.assign(winsize, arg);
          else fail(EFAULT);
          return 0;
        }
        default: fail(ENOTTY);
      }
    },
  };
}

export function ttyDevices(k: Kernel): { minor: number; name: string; mode: number; fop: FileOperations }[] {
  // One window size for the one console, shared by both names.
  const winsize: Winsize = { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
  const fop = ttyFops(k, winsize, new WaitQueue());
  return [
    { minor: TTY_MINOR, name: 'tty', mode: 0o666, fop },
    { minor: CONSOLE_MINOR, name: 'console', mode: 0o600, fop },
  ];
}
