/*
 * The progress bar: only when stderr is a terminal (cli-progress redraws one line there), nothing
 * at all otherwise, so logs and pipes stay clean.
 *
 * The total is an estimate taken before the walk: the bytes in use on the mounted filesystem
 * (statfs: (f_blocks - f_bfree) * f_bsize), which counts metadata and leaves out holes of sparse
 * files. The bar is therefore clamped below 100% until the walk really ends.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(bytes: number, entries: number): void;
  /** Make room for a message line: the bar is erased and redrawn at the next update. */
  clear(): void;
  stop(): void;
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${u === 0 ? n : n.toFixed(1)} ${units[u]}`;
}

const quiet: Progress = { update() {}, clear() {}, stop() {} };

export function makeProgress(stream: NodeJS.WriteStream, totalBytes: number): Progress {
  if (!stream.isTTY) return quiet;
  const total = Math.max(totalBytes, 1);
  const started = Date.now();
  const bar = new cliProgress.SingleBar({
    stream,
    format: 'fs2tar [{bar}] {percentage}% | {done} of ~{all} | {entries} entries | {rate}',
    barsize: 30,
    hideCursor: true,
    clearOnComplete: true,
    fps: 5,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { done: human(0), all: human(total), entries: 0, rate: '' });
  let last = 0;
  return {
    update(bytes, entries) {
      const now = Date.now();
      if (now - last < 100) return; // cli-progress throttles drawing; this spares the formatting
      last = now;
      const secs = (now - started) / 1000;
      bar.update(Math.min(bytes, total * 0.99), {
        done: human(bytes), entries, rate: secs > 0.5 ? `${human(bytes / secs)}/s` : '',
      });
    },
    clear() {
      stream.write('\x1b[1G\x1b[2K');
      last = 0; // the next update redraws it (its text changes with every entry)
    },
    stop() { bar.update(total); bar.stop(); },
  };
}
