/*
 * `lkl mkfs`: make a filesystem on an image file (or a block device), as mke2fs and mkfs.fat do.
 *
 *   lkl mkfs -t ext2|ext3|ext4 [-b size] [-L label] [-U uuid] [-O features] [-E opts] [-N inodes]
 *            [-I inode-size] [-i bytes-per-inode] [-m percent] [-J size=MiB] [-G flex] [-q]
 *            [-d root-directory] device [size]
 *   lkl mkfs -t vfat [-F 12|16|32] [-n label] [-S sector-size] [-s sectors-per-cluster]
 *            [-i volume-id] [-R reserved] [-r root-entries] [-f fats] [-M media] [-a] [-q]
 *            device [size]
 *
 * The option letters are those of the tool the type stands for (so -F is the FAT size for vfat,
 * and -i a volume id there but bytes-per-inode for ext). `size` is a byte count with an optional
 * K/M/G/T suffix (powers of 1024); given, the image file is created or resized to it (sparse), as
 * `mke2fs device size` / `mkfs.fat -C file kbytes`; absent, the file or device is used whole.
 *
 * The formatters are the kernel's own (src/fs/ext4/mkfs, src/fs/fat/mkfs.ts); this program only
 * parses options and gives them the file through positioned writes. Determinism for tests and
 * reproducible builds: E2FSPROGS_FAKE_TIME and SOURCE_DATE_EPOCH set the creation time as in
 * e2fsprogs.
 *
 * -d DIR fills the new ext2/3/4 filesystem with DIR's contents, as `mke2fs -d` does: the image is
 * formatted, then mounted read-write in a kernel booted here and the tree copied in through
 * system calls by cptofs's engine (src/apps/cptofs/populate.ts says what is kept and how it
 * matches mke2fs). DIR is checked before the image is touched.
 */
import * as fs from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { mkfsExt4, mkfsVfat, type Ext4MkfsOptions, type MkfsVfatOptions } from '../lkl.js';

const USAGE = `Usage: lkl mkfs -t TYPE [options] device [size]

TYPE is ext2, ext3, ext4 (default) or vfat (also: fat, msdos). size: bytes, or with K/M/G/T.
ext2/3/4 options (as mke2fs): -b block-size -L label -U uuid -O features -E extended-options
  -N inodes -I inode-size -i bytes-per-inode -m reserved-percent -J size=MiB -G flex-bg-size
  -F (accepted, as mke2fs's force: an image is always formatted)
  -d root-directory: copy that directory's contents into the new filesystem
vfat options (as mkfs.fat): -F 12|16|32 -n label -S sector-size -s sectors-per-cluster
  -i volume-id(hex) -R reserved-sectors -r root-entries -f fats -M media -a (no alignment)
common: -q quiet, -h help
`;

export class UsageError extends Error {}
/** A failure reported as one line, exit status 1 (no usage text). */
class RunError extends Error {}

/** "64M" → 67108864. */
export function parseSize(s: string): number {
  const m = /^(\d+)([KMGTP]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size '${s}'`);
  const mul: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };
  const v = Number(m[1]) * mul[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(v)) throw new UsageError(`size '${s}' too large`);
  return v;
}

function int(name: string, s: string | undefined, base = 10): number | undefined {
  if (s === undefined) return undefined;
  const v = base === 16 ? Number.parseInt(s.replace(/^0x/i, ''), 16) : Number(s);
  if (!Number.isInteger(v) || v < 0) throw new UsageError(`invalid ${name} '${s}'`);
  return v;
}

/** Creation time from the environment, as e2fsprogs honours it (tests, reproducible builds). */
function fixedTime(): number | undefined {
  for (const v of [process.env.E2FSPROGS_FAKE_TIME, process.env.SOURCE_DATE_EPOCH]) {
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

/** -d's directory must exist and be a directory (mke2fs finds out only after formatting). */
function checkSourceDir(dir: string): void {
  let st: fs.Stats;
  try { st = fs.statSync(dir); } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EACCES' ? 'Permission denied' : err.message;
    throw new RunError(`-d '${dir}': ${why}`);
  }
  if (!st.isDirectory()) throw new RunError(`-d '${dir}': Not a directory`);
  try { fs.accessSync(dir, fs.constants.R_OK | fs.constants.X_OK); } catch {
    throw new RunError(`-d '${dir}': Permission denied`);
  }
}

interface Target { fd: number; size: number; zeroed: boolean; close(): void }

/** Open the image (creating or resizing it when a size is given) or a block device. */
function openTarget(path: string, size: number | undefined): Target {
  let st: fs.Stats | null = null;
  try { st = fs.statSync(path); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (size === undefined) throw new UsageError(`${path}: no such file (give a size to create it)`);
  }
  if (st?.isBlockDevice()) {
    const name = fs.realpathSync(path).replace(/^\/dev\//, '');
    const sectors = Number(fs.readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim());
    const fd = fs.openSync(path, 'r+');
    return { fd, size: size ?? sectors * 512, zeroed: false, close: () => fs.closeSync(fd) };
  }
  if (st && !st.isFile()) throw new UsageError(`${path}: not a regular file or block device`);
  const fd = fs.openSync(path, st ? 'r+' : 'w+', 0o644);
  let zeroed = !st || st.size === 0;
  if (size !== undefined) {
    // A file made (or grown) here reads as zeros where it was not written: the formatter can
    // skip zeroing inode tables and FATs, and the image stays sparse.
    if (st && st.size > 0) { fs.ftruncateSync(fd, 0); }
    fs.ftruncateSync(fd, size);
    zeroed = true;
  }
  return { fd, size: size ?? st!.size, zeroed, close: () => fs.closeSync(fd) };
}

function writer(fd: number) {
  return (offset: number, bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, offset + done);
  };
}

/** The -t value, found before parsing: whether -F takes an argument depends on it. */
function peekType(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '-t' || a === '--type') && i + 1 < argv.length) return argv[i + 1]!.toLowerCase();
    if (a.startsWith('-t') && a.length > 2) return a.slice(2).toLowerCase();
    if (a.startsWith('--type=')) return a.slice(7).toLowerCase();
  }
  return 'ext4';
}

export async function mkfsMain(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  // -F is the FAT size for mkfs.fat but "force" (no argument) for mke2fs.
  const extType = ['ext2', 'ext3', 'ext4'].includes(peekType(argv));
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        type: { type: 'string', short: 't' }, quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        b: { type: 'string', short: 'b' }, L: { type: 'string', short: 'L' }, U: { type: 'string', short: 'U' },
        O: { type: 'string', short: 'O' }, E: { type: 'string', short: 'E' }, N: { type: 'string', short: 'N' },
        I: { type: 'string', short: 'I' }, i: { type: 'string', short: 'i' }, m: { type: 'string', short: 'm' },
        J: { type: 'string', short: 'J' }, G: { type: 'string', short: 'G' }, d: { type: 'string', short: 'd' },
        F: { type: extType ? 'boolean' : 'string', short: 'F' }, n: { type: 'string', short: 'n' }, S: { type: 'string', short: 'S' },
        s: { type: 'string', short: 's' }, R: { type: 'string', short: 'R' }, r: { type: 'string', short: 'r' },
        f: { type: 'string', short: 'f' }, M: { type: 'string', short: 'M' }, a: { type: 'boolean', short: 'a' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    err.write(`lkl mkfs: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) { out.write(USAGE); return 0; }
  const type = String(values.type ?? 'ext4').toLowerCase();
  let target: Target | null = null;
  try {
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected: device [size]');
    const [path, sizeArg] = positionals as [string, string | undefined];
    const size = sizeArg === undefined ? undefined : parseSize(sizeArg);
    const v = values as Record<string, string | undefined>;
    const ext = ['ext2', 'ext3', 'ext4'].includes(type);
    const fat = ['vfat', 'fat', 'msdos'].includes(type);
    if (!ext && !fat) throw new UsageError(`unknown filesystem type '${type}' (ext2, ext3, ext4, vfat)`);
    const wrong = (ext ? ['n', 'S', 's', 'R', 'r', 'f', 'M', 'a'] : ['b', 'L', 'U', 'O', 'E', 'N', 'I', 'm', 'J', 'G', 'd'])
      .filter((o) => values[o] !== undefined);
    if (wrong.length) throw new UsageError(`option -${wrong[0]} does not apply to ${type}`);
    if (v.d !== undefined) checkSourceDir(v.d);
    target = openTarget(path, size);
    const dev = { size: target.size, write: writer(target.fd), zeroed: target.zeroed };
    const fake = fixedTime();
    // mke2fs stamps the superblock and the root with the current time unless faked.
    const now = fake ?? Math.floor(Date.now() / 1000);
    if (ext) {
      const o: Ext4MkfsOptions = {
        type: type as 'ext2' | 'ext3' | 'ext4',
        blockSize: int('block size', v.b), label: v.L, uuid: v.U, features: v.O, extended: v.E,
        inodes: int('inode count', v.N), inodeSize: int('inode size', v.I), inodeRatio: int('bytes-per-inode', v.i),
        reservedRatio: v.m === undefined ? undefined : Number(v.m), flexBgSize: int('flex_bg size', v.G),
        now, random: (b) => randomFillSync(b),
      };
      if (v.J !== undefined) {
        const j = /^size=(\d+)$/.exec(v.J);
        if (!j) throw new UsageError(`invalid journal options '${v.J}' (supported: size=MiB)`);
        o.journalSizeMiB = Number(j[1]);
      }
      const r = await mkfsExt4(dev, o);
      if (!values.quiet) {
        out.write(`Creating ${r.type} filesystem with ${r.blocksCount} ${r.blockSize / 1024}k blocks and ${r.inodesCount} inodes\n` +
          `Filesystem UUID: ${r.uuid}\n` +
          (r.backups.length ? `Superblock backups stored on blocks: \n\t${r.backups.join(', ')}\n` : '') +
          (r.journalBlocks ? `Creating journal (${r.journalBlocks} blocks): done\n` : '') +
          `Features: ${r.features}\n`);
      }
      if (v.d !== undefined) {
        target.close();
        target = null;
        if (!values.quiet) out.write('Copying files into the device: ');
        // Loaded only for -d: the copy engine and the kernel boot are not needed otherwise.
        const [{ populateImage }, { Fatal }] = await Promise.all([import('./cptofs/populate.js'), import('./fs2tar/main.js')]);
        let p: Awaited<ReturnType<typeof populateImage>>;
        try {
          p = await populateImage({
            image: path, fstype: type, source: v.d, createdSec: now, fakeTime: fake,
            warn: (m) => { err.write(`lkl mkfs: ${m}\n`); },
          });
        } catch (e) {
          if (!values.quiet) out.write('failed\n');
          throw e instanceof Fatal ? new RunError(e.message) : e;
        }
        if (!values.quiet) out.write(p.status === 0 ? 'done\n' : `${p.errors} object(s) not copied\n`);
        if (p.status !== 0) return 1;
      }
    } else {
      const fs = v.F === undefined ? undefined : Number(v.F);
      if (fs !== undefined && fs !== 12 && fs !== 16 && fs !== 32) throw new UsageError(`invalid FAT size '${v.F}' (12, 16 or 32)`);
      const o: MkfsVfatOptions = {
        fatSize: fs as 12 | 16 | 32 | undefined, label: v.n, sectorSize: int('sector size', v.S),
        sectorsPerCluster: int('sectors per cluster', v.s), volumeId: int('volume id', v.i, 16),
        reservedSectors: int('reserved sectors', v.R), rootEntries: int('root entries', v.r),
        numFats: int('number of FATs', v.f), media: int('media', v.M, 16), noAlign: values.a === true,
        time: now,
      };
      if (o.volumeId === undefined && fake === undefined) o.volumeId = randomFillSync(new Uint32Array(1))[0]!;
      const r = await mkfsVfat(dev, o);
      if (!values.quiet) {
        out.write(`lkl mkfs: FAT${r.fatType}, ${r.clusterCount} clusters of ${r.clusterSize} bytes, ` +
          `${r.numFats} FATs of ${r.fatLength} sectors\n`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) { err.write(`lkl mkfs: ${e.message}\n${USAGE}`); return 2; }
    if (e instanceof RunError) { err.write(`lkl mkfs: ${e.message}\n`); return 1; }
    const code = (e as NodeJS.ErrnoException).code;
    err.write(`lkl mkfs: ${code ? `${(e as Error).message}` : e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    target?.close();
  }
}
