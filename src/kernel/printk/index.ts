/*
 * printk: the kernel log buffer and the console.
 *
 * Every message is stored as a record (sequence number, level, timestamp since boot, text) in a
 * ring bounded by log_buf_len bytes; records at a level below console_loglevel are also printed
 * to the host console as "[    1.234567] text". syslog(2), /proc/kmsg and dmesg read the ring.
 * Levels: 0 KERN_EMERG .. 7 KERN_DEBUG; default message level 4, default console level 7,
 * `loglevel=N` and `quiet` (= 4) on the command line set the console level.
 */
import type { HostOps } from '../../arch/host.js';
import { WaitQueue } from '../../lib/waitqueue.js';

export const KERN_EMERG = 0, KERN_ALERT = 1, KERN_CRIT = 2, KERN_ERR = 3, KERN_WARNING = 4,
  KERN_NOTICE = 5, KERN_INFO = 6, KERN_DEBUG = 7;
export const MESSAGE_LOGLEVEL_DEFAULT = 4;
export const CONSOLE_LOGLEVEL_DEFAULT = 7;
export const CONSOLE_LOGLEVEL_QUIET = 4;
export const LOG_BUF_LEN = 128 * 1024;

export interface LogRecord { seq: number; level: number; facility: number; tsNs: number; text: string }

/** The printk interface lower layers receive (they cannot import the kernel). */
export type Printk = (level: number, text: string) => void;

export function formatTimestamp(tsNs: number): string {
  const us = Math.floor(tsNs / 1000);
  const sec = Math.floor(us / 1e6);
  return `[${String(sec).padStart(5, ' ')}.${String(us % 1e6).padStart(6, '0')}]`;
}

export class LogBuffer {
  consoleLoglevel = CONSOLE_LOGLEVEL_DEFAULT;
  consoleEnabled = true;
  readonly waitq = new WaitQueue();
  private records: LogRecord[] = [];
  private bytes = 0;
  private nextSeq = 0;
  /** Sequence number of the next record syslog(READ) / /proc/kmsg will return. */
  readSeq = 0;
  /** Sequence number from which READ_ALL starts (moved by SYSLOG_ACTION_CLEAR). */
  clearSeq = 0;

  constructor(private host: HostOps, private nowNs: () => number) {}

  /** printk(level, text). Text may contain several lines; each becomes its own record. */
  printk(level: number, text: string, facility = 0): void {
    const ts = this.nowNs();
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    for (const line of lines) {
      const rec: LogRecord = { seq: this.nextSeq++, level, facility, tsNs: ts, text: line };
      this.records.push(rec);
      this.bytes += line.length + 32;
      while (this.bytes > LOG_BUF_LEN && this.records.length > 1) {
        const old = this.records.shift()!;
        this.bytes -= old.text.length + 32;
      }
      if (this.consoleEnabled && level < this.consoleLoglevel && this.host.print) {
        this.host.print(`${formatTimestamp(ts)} ${line}\n`);
      }
    }
    this.waitq.wakeAll();
  }

  get firstSeq(): number { return this.records.length ? this.records[0]!.seq : this.nextSeq; }
  get lastSeq(): number { return this.nextSeq; }

  /** Records with seq >= from. */
  since(from: number): LogRecord[] {
    const first = this.firstSeq;
    return this.records.slice(Math.max(0, from - first));
  }

  /** The syslog(2) text form of one record: "<level>[timestamp] text\n". */
  static syslogLine(r: LogRecord): string {
    return `<${(r.facility << 3) | r.level}>${formatTimestamp(r.tsNs)} ${r.text}\n`;
  }

  /** Plain text of the whole buffer, as dmesg prints it. */
  dmesg(): string {
    return this.records.map((r) => `${formatTimestamp(r.tsNs)} ${r.text}\n`).join('');
  }

  /** Unread bytes for SYSLOG_ACTION_SIZE_UNREAD. */
  unreadBytes(): number {
    let n = 0;
    for (const r of this.since(Math.max(this.readSeq, this.firstSeq))) n += LogBuffer.syslogLine(r).length;
    return n;
  }
}
