/*
 * Shared fixtures of the FAT driver tests: images built by mkfs.fat and populated with mtools
 * (the oracles), and a kernel of ours with the image as disk vda.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { boot, type LklKernel } from '../../../../src/lkl.js';
import { createNodeHost } from '../../../../src/arch/node/index.js';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
export const TOOLS = has('mkfs.fat') && has('mcopy') && has('fsck.fat');
export const SKIP = TOOLS ? false : 'dosfstools/mtools not installed (apt-get install dosfstools mtools)';

const ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LC_ALL: 'C.UTF-8' };

export function tmpdir(prefix: string): string { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

export function run(cmd: string, args: string[], input?: string | Uint8Array): { status: number; out: string; err: string; raw: Buffer } {
  const r = spawnSync(cmd, args, { env: ENV, input, maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8'), raw: r.stdout };
}

export function mustRun(cmd: string, args: string[], input?: string | Uint8Array): string {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.out}\n${r.err}`);
  return r.out;
}

/** mkfs.fat -F bits -C img sizeKiB (extra args before the image). */
export function mkfs(dir: string, bits: 12 | 16 | 32, sizeKiB: number, extra: string[] = []): string {
  const img = path.join(dir, `fat${bits}-${Math.random().toString(36).slice(2)}.img`);
  mustRun('mkfs.fat', ['-F', String(bits), ...extra, '-C', img, String(sizeKiB)]);
  return img;
}

/** Put `content` at ::/dst in the image with mcopy. */
export function mput(img: string, dst: string, content: string | Uint8Array, dir: string): void {
  const f = path.join(dir, 'mput.tmp');
  fs.writeFileSync(f, content);
  mustRun('mcopy', ['-i', img, '-o', f, `::${dst}`]);
}

export function mcat(img: string, p: string): Buffer { const r = run('mtype', ['-i', img, `::${p}`]); return r.raw; }

/** fsck.fat -n: exit status and output. */
export function fsck(img: string): { status: number; out: string } {
  const r = run('fsck.fat', ['-n', img]);
  return { status: r.status, out: r.out + r.err };
}

/** Names mtools lists in `dir` (long names when present), sorted, without "." and "..". */
export function mlsNames(img: string, dir: string): string[] {
  const out = mustRun('mdir', ['-i', img, '-a', '-b', `::${dir}`]);
  const pre = `::${dir === '/' ? '/' : dir + '/'}`;
  return out.split('\n').filter((l) => l).map((l) => {
    let s = l.startsWith(pre) ? l.slice(pre.length) : l.replace(/^::\/?/, '');
    if (s.endsWith('/')) s = s.slice(0, -1);
    return s;
  }).filter((n) => n !== '.' && n !== '..').sort();
}

/** mdir's full listing line for a name: "SHORT EXT size date time longname". */
export function mdirLines(img: string, dir: string): string[] {
  return mustRun('mdir', ['-i', img, '-a', `::${dir}`]).split('\n');
}

export interface Booted { k: LklKernel; id: number; mnt: string; log: string[] }

export async function bootImage(img: string, opts = '', fstype = 'vfat', flags = 0): Promise<Booted> {
  const log: string[] = [];
  const k = await boot({ cmdline: 'mem=64M loglevel=8', host: createNodeHost({ print: (t) => { log.push(t); } }) });
  const id = await k.diskAdd({ path: img });
  const mnt = await k.mountDev(id, { fstype, opts, flags });
  return { k, id, mnt, log };
}

export async function shutdown(b: Booted): Promise<void> {
  await b.k.umountDev(b.id);
  await b.k.halt();
}

export const u8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
