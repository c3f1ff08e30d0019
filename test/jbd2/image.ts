/*
 * Test helpers: ext4 images made by e2fsprogs, and a JournalDevice over an image file whose
 * journal inode (8) is mapped with `debugfs -R 'blocks <8>'` — jbd2 knows nothing of ext4, and
 * neither does this helper beyond asking debugfs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { openSync, readSync, writeSync, closeSync, fstatSync } from 'node:fs';
import type { JournalDevice } from '../../src/fs/jbd2/index.js';

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
}

/** Run and return status + both outputs (e2fsck exits non-zero on purpose). */
export function runStatus(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** `dumpe2fs -h` as a map of "Field name" -> value. */
export function dumpe2fsHeader(img: string): Map<string, string> {
  const out = runStatus('dumpe2fs', ['-h', img]).out;
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** Physical blocks of the journal inode, in logical order. */
export function journalBlocks(img: string): number[] {
  const out = run('debugfs', ['-R', 'blocks <8>', img]);
  return out.trim().split(/\s+/).filter((s) => s !== '').map(Number);
}

export interface ImageJournal extends JournalDevice {
  close(): void;
  fsWrites: Map<number, Uint8Array>;
  journalWrites: Map<number, Uint8Array>;
}

/** A JournalDevice over an image file (writes go to the file unless readOnly). */
export function imageJournal(img: string, opts: { readOnly?: boolean } = {}): ImageJournal {
  const hdr = dumpe2fsHeader(img);
  const blockSize = Number(hdr.get('Block size'));
  const blocks = journalBlocks(img);
  const fd = openSync(img, opts.readOnly ? 'r' : 'r+');
  const size = fstatSync(fd).size;
  const fsWrites = new Map<number, Uint8Array>();
  const journalWrites = new Map<number, Uint8Array>();
  const readPhys = (p: number): Uint8Array => {
    const b = new Uint8Array(blockSize);
    readSync(fd, b, 0, blockSize, p * blockSize);
    return b;
  };
  const writePhys = (p: number, data: Uint8Array): void => {
    if (opts.readOnly) return;
    writeSync(fd, data, 0, blockSize, p * blockSize);
  };
  return {
    blockSize,
    nrBlocks: blocks.length,
    name: 'test-8',
    async readBlock(n) {
      const p = blocks[n];
      if (p === undefined) throw new Error(`journal block ${n} not mapped`);
      return readPhys(p);
    },
    async writeFsBlock(nr, data) {
      if (!Number.isSafeInteger(nr) || (nr + 1) * blockSize > size) throw new Error(`fs block ${nr} beyond the image`);
      fsWrites.set(nr, data.slice());
      writePhys(nr, data);
    },
    async writeJournalBlock(n, data) {
      const p = blocks[n];
      if (p === undefined) throw new Error(`journal block ${n} not mapped`);
      journalWrites.set(n, data.slice());
      writePhys(p, data);
    },
    fsWrites,
    journalWrites,
    close() { closeSync(fd); },
  };
}
