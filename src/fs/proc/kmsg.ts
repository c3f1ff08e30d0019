/*
 * Reading the kernel log the syslog(2) way, shared by /proc/kmsg and the syslog system call
 * (Linux's do_syslog in kernel/printk/printk.c serves both the same way).
 *
 * Records are rendered as "<prio>[    s.uuuuuu] text\n". SYSLOG_ACTION_READ (and read(2) of
 * /proc/kmsg) consumes: it returns whole records from the log's read cursor (readSeq) and moves
 * it, sleeping while there is nothing unread. Only when not even the first record fits does a read
 * return part of it, remembering how much was taken so the next read continues inside it.
 * READ_ALL does not consume: it returns the newest whole records that fit, starting no earlier than
 * the clear cursor (clearSeq). The partial offset and the console level saved by CONSOLE_OFF are
 * per log buffer; they live in WeakMaps keyed by it, so every kernel keeps its own.
 */
import { fail, KernelError } from '../../lib/errors.js';
import { utf8Encode } from '../../lib/bytestr.js';
import { EAGAIN, EINTR } from '../../uapi/errno.js';
import { LogBuffer, type Kernel, type LogRecord } from '../../kernel/index.js';

/** log_buf_len (SYSLOG_ACTION_SIZE_BUFFER): the LogBuffer's LOG_BUF_LEN. */
export const SYSLOG_BUF_LEN = 128 * 1024;
/** minimum_console_loglevel: what CONSOLE_OFF and CONSOLE_LEVEL may go down to. */
export const MINIMUM_CONSOLE_LOGLEVEL = 1;

const partial = new WeakMap<LogBuffer, number>();
const savedConsoleLevel = new WeakMap<LogBuffer, number>();

function recordBytes(r: LogRecord): Uint8Array { return utf8Encode(LogBuffer.syslogLine(r)); }

function unreadRecords(log: LogBuffer): LogRecord[] {
  if (log.readSeq < log.firstSeq) { log.readSeq = log.firstSeq; partial.set(log, 0); }
  return log.since(log.readSeq);
}

/** Is there anything for SYSLOG_ACTION_READ to return? */
export function syslogHasUnread(log: LogBuffer): boolean { return unreadRecords(log).length > 0; }

/** SYSLOG_ACTION_SIZE_UNREAD: bytes READ would return now. */
export function syslogUnreadBytes(log: LogBuffer): number {
  let n = 0;
  for (const r of unreadRecords(log)) n += recordBytes(r).length;
  return n - (partial.get(log) ?? 0);
}

/** syslog_print without the wait: copy unread records into buf, consuming them. */
export function syslogReadNow(log: LogBuffer, buf: Uint8Array): number {
  let len = 0;
  for (const r of unreadRecords(log)) {
    const text = recordBytes(r);
    const skip = partial.get(log) ?? 0;
    const room = buf.length - len;
    let n: number;
    if (text.length - skip <= room) {
      n = text.length - skip;
      log.readSeq = r.seq + 1;
      partial.set(log, 0);
    } else if (len === 0) {
      n = room;
      partial.set(log, skip + n);
    } else n = 0;
    if (n === 0) break;
    buf.set(text.subarray(skip, skip + n), len);
    len += n;
    if (len >= buf.length) break;
  }
  return len;
}

/** Sleep until the log changes or the kernel halts (then EINTR, the closest to a signal). */
function waitLogOrHalt(k: Kernel): Promise<void> {
  if (k.halting) fail(EINTR);
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const onHalt = () => {
      if (done) return;
      done = true;
      k.haltWait.removeCallback(onHalt);
      reject(new KernelError(EINTR));
    };
    k.haltWait.addCallback(onHalt);
    void k.log.waitq.sleep().then(() => {
      if (done) return;
      done = true;
      k.haltWait.removeCallback(onHalt);
      resolve();
    });
  });
}
/** SYSLOG_ACTION_READ and read(2) of /proc/kmsg: block for unread records unless nonblock. */
export async function syslogRead(k: Kernel, buf: Uint8Array, nonblock: boolean): Promise<number> {
  if (buf.length === 0) return 0;
  while (!syslogHasUnread(k.log)) {
    if (nonblock) fail(EAGAIN);
    await waitLogOrHalt(k);
  }
  return syslogReadNow(k.log, buf);
}

/** syslog_print_all: the newest whole records that fit in buf, from the clear cursor on. */
export function syslogReadAll(log: LogBuffer, buf: Uint8Array, clear: boolean): number {
  const recs = log.since(Math.max(log.clearSeq, log.firstSeq)).map(recordBytes);
  let total = 0;
  let first = recs.length;
  while (first > 0 && total + recs[first - 1]!.length <= buf.length) total += recs[--first]!.length;
  let off = 0;
  for (let i = first; i < recs.length; i++) { buf.set(recs[i]!, off); off += recs[i]!.length; }
  if (clear) log.clearSeq = log.lastSeq;
  return off;
}

/** SYSLOG_ACTION_CLEAR */
export function syslogClear(log: LogBuffer): void { log.clearSeq = log.lastSeq; }

/** SYSLOG_ACTION_CONSOLE_OFF: only messages below the minimum level reach the console. */
export function syslogConsoleOff(log: LogBuffer): void {
  if (!savedConsoleLevel.has(log)) savedConsoleLevel.set(log, log.consoleLoglevel);
  log.consoleLoglevel = MINIMUM_CONSOLE_LOGLEVEL;
}
/** SYSLOG_ACTION_CONSOLE_ON: back to the level CONSOLE_OFF saved. */
export function syslogConsoleOn(log: LogBuffer): void {
  const saved = savedConsoleLevel.get(log);
  if (saved !== undefined) { log.consoleLoglevel = saved; savedConsoleLevel.delete(log); }
}
/** SYSLOG_ACTION_CONSOLE_LEVEL (level already checked to be 1..8). */
export function syslogConsoleLevel(log: LogBuffer, level: number): void {
  log.consoleLoglevel = Math.max(level, MINIMUM_CONSOLE_LOGLEVEL);
  savedConsoleLevel.delete(log);
}
