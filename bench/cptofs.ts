/*
 * The cptofs bench: fill a fresh ext4 image with a ~1 GiB, ~30k-file corpus, seven ways.
 *
 * Putting a host tree into a filesystem image is the job of cptofs and of `lkl mkfs -d`; it is
 * judged by how fast the image fills and how much memory the filler holds. Ours boot a kernel in
 * their process and write through the syscall API, ext4, jbd2 and the block layer; the peers:
 *
 *   cptofs       ours: `cptofs -i img -t ext4 tree/. /` into a `mke2fs` image (mem=100M)
 *   lkl-mkfs-d   ours: `lkl mkfs -t ext4 -d tree img SIZE` (format + fill)
 *   mke2fs-d     e2fsprogs in C: `mke2fs -t ext4 -d tree img SIZE` (format + fill)
 *   host-cp      the host kernel: `mount -o loop`, `cp -a tree/. mnt/`, `umount` (the umount
 *                writes everything back), all timed
 *   ext2fs       the `ext2fs` npm package (libext2fs in WebAssembly) driven through its
 *                fs.promises API from a walk of the tree (this file, --ext2fs-worker): mkdir,
 *                open/write/close, symlink, link, chown; the package has no utimes and no xattrs,
 *                so times and xattrs are not kept (it does less work than the others)
 *   untar-ours   a tar of the corpus extracted into a `mke2fs` image by our kernel: the `tar`
 *                package's parser feeding cptofs's KernelSide (this file, --untar-worker)
 *   untar-host   the same tar extracted by GNU tar into a host loop mount, umount timed
 *
 * Every method runs as a child under /usr/bin/time (%e %U %S %M): wall seconds (read around the
 * child here), CPU seconds (user + system of the child and its children; for host-cp and
 * untar-host the host kernel's writeback threads and loop device are not counted, so their CPU
 * is understated), and peak RSS (the largest process of the tree). MB/s is the corpus's file
 * content (10^6 bytes) over wall seconds. Images are made by an untimed `mke2fs -t ext4` of the
 * same size where the method needs one ready. After each run the image is checked with
 * `e2fsck -fn` and its used inode count shown; as root the page cache is dropped before every
 * run. The tree, the tar and the images live on /dev/shm when it has room: the medium is RAM.
 *
 * The corpus is fs2tar's (bench/fs2tar.ts pickFiles: an even sample of /usr/include, /usr/share
 * and /usr/lib), staged once as a host directory plus a tar of it and reused while unchanged;
 * `--size MB` takes an even sample of that (for development), `--runs N` (default 1) repeats
 * each method, methods interleaved. Targets are printed, never asserted.
 *
 *   node dist/bench/cptofs.js [--size MB] [--runs N] [--json]
 *   CPTOFS_BENCH_METHODS=cptofs,mke2fs-d node dist/bench/cptofs.js     only those methods
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, table, preadFull } from './harness.js';
import { pickFiles } from './fs2tar.js';

const RECIPE = 'v1 cptofs bench: fs2tar pickFiles, stride sample to --size, GNU tar copy; tar --format=posix';
const HERE = path.dirname(fileURLToPath(import.meta.url));        // dist/bench
const ROOT = path.resolve(HERE, '../..');
const CPTOFS = path.join(ROOT, 'dist/src/apps/cptofs.js');
const LKL = path.join(ROOT, 'dist/src/apps/lkl.js');
const SELF = path.join(HERE, 'cptofs.js');
const TIME = '/usr/bin/time';
const isRoot = process.getuid?.() === 0;

function log(msg: string): void { process.stderr.write(`${msg}\n`); }
function sh(cmd: string): string { return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }); }
function has(cmd: string): boolean { return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0; }
function q(s: string): string { return `'${s.replace(/'/g, `'\\''`)}'`; }

// ---------------------------------------------------------------------------------- corpus

interface Corpus { dir: string; tree: string; tar: string; files: number; dirs: number; symlinks: number; bytes: number; imageMiB: number; key: string; built: boolean }

function workDir(need: number): string {
  try {
    const st = fs.statfsSync('/dev/shm');
    if (st.bavail * st.bsize > need + (2 << 30)) return '/dev/shm';
  } catch { /* no /dev/shm */ }
  return os.tmpdir();
}

/** fs2tar's corpus as a host tree (and a tar of it); `sizeMB` samples it evenly down to that. */
export function stageCorpus(sizeMB: number | null): Corpus {
  const pick = pickFiles();
  const entries = pick.list.map((p) => { const st = fs.lstatSync(p); return { p, st }; });
  let leaves = entries.filter((e) => !e.st.isDirectory());
  const total = leaves.reduce((a, e) => a + (e.st.isFile() ? e.st.size : 0), 0);
  if (sizeMB !== null && sizeMB * 1e6 < total) {
    const step = total / (sizeMB * 1e6);
    let acc = 0;
    leaves = leaves.filter((_, i) => { if (i + 1 >= acc) { acc += step; return true; } return false; });
  }
  const dirs = new Set<string>();
  for (const l of leaves) for (let d = path.dirname(l.p); d !== '/' && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
  const list = [...[...dirs].sort(), ...leaves.map((l) => l.p)];
  const h = crypto.createHash('sha256').update(RECIPE);
  for (const l of leaves) h.update(`${l.p}\0${l.st.size}\0${l.st.mtimeMs}\0`);
  const key = h.digest('hex').slice(0, 16);
  const seen = new Set<string>();
  let bytes = 0, files = 0, symlinks = 0;
  for (const l of leaves) {
    if (l.st.isSymbolicLink()) { symlinks++; continue; }
    files++;
    const id = `${l.st.dev}:${l.st.ino}`;
    if (!seen.has(id)) { seen.add(id); bytes += l.st.size; }
  }
  const imageMiB = Math.ceil((bytes * 1.25 + files * 8192 + (384 << 20)) / (1 << 20));
  const base = workDir(bytes * 2 + imageMiB * 2 ** 20);
  const dir = path.join(base, `lkl-bench-cptofs-${key}`);
  const tree = path.join(dir, 'tree'), tar = path.join(dir, 'corpus.tar');
  const info = { dir, tree, tar, files, dirs: dirs.size, symlinks, bytes, imageMiB, key };
  if (fs.existsSync(path.join(dir, 'ready'))) return { ...info, built: false };
  // A stale corpus of another key is a GiB of tmpfs: remove it.
  for (const n of fs.readdirSync(base)) if (/^lkl-bench-cptofs-[0-9a-f]{16}$/.test(n)) fs.rmSync(path.join(base, n), { recursive: true, force: true });
  log(`cptofs bench: staging corpus ${dir} (${files} files, ${(bytes / 1e6).toFixed(0)} MB)…`);
  fs.mkdirSync(tree, { recursive: true });
  const listFile = path.join(dir, 'list');
  fs.writeFileSync(listFile, list.map((p) => `${p}\0`).join(''));
  sh(`tar -cf - --no-recursion --null -T ${q(listFile)} --xattrs --xattrs-include='*' 2>/dev/null | tar -xpf - --xattrs --xattrs-include='*' -C ${q(tree)}`);
  sh(`tar --format=posix -cf ${q(tar)} -C ${q(tree)} .`);
  fs.writeFileSync(path.join(dir, 'ready'), '');
  return { ...info, built: true };
}

// --------------------------------------------------------------------------------- methods

interface Run { wall: number; cpu: number; rssKiB: number; fsck: string; inodes: number }
interface Method { id: string; label: string; fresh: boolean; cmd: (img: string, mnt: string) => string }

function methods(c: Corpus): Method[] {
  const node = q(process.execPath);
  const size = `${c.imageMiB}M`;
  const list: Method[] = [
    { id: 'cptofs', label: 'cptofs (ours, mem=100M)', fresh: true, cmd: (img) => `${node} ${q(CPTOFS)} -t ext4 -i ${q(img)} ${q(`${c.tree}/.`)} /` },
    { id: 'lkl-mkfs-d', label: 'lkl mkfs -d (ours, format + fill)', fresh: false, cmd: (img) => `${node} ${q(LKL)} mkfs -q -t ext4 -d ${q(c.tree)} ${q(img)} ${size}` },
    { id: 'mke2fs-d', label: 'mke2fs -d (format + fill)', fresh: false, cmd: (img) => `mke2fs -q -F -t ext4 -d ${q(c.tree)} ${q(img)} ${size}` },
  ];
  if (isRoot) list.push({ id: 'host-cp', label: 'host: loop mount + cp -a + umount', fresh: true, cmd: (img, mnt) => `mount -o loop ${q(img)} ${q(mnt)} && cp -a ${q(`${c.tree}/.`)} ${q(mnt)}/ && umount ${q(mnt)}` });
  if (fs.existsSync(path.join(ROOT, 'node_modules/ext2fs'))) {
    list.push({ id: 'ext2fs', label: 'ext2fs npm (libext2fs WASM)', fresh: true, cmd: (img) => `${node} ${q(SELF)} --ext2fs-worker ${q(img)} ${q(c.tree)}` });
  }
  list.push({ id: 'untar-ours', label: 'untar: tar parser + our kernel', fresh: true, cmd: (img) => `${node} ${q(SELF)} --untar-worker ${q(img)} ${q(c.tar)}` });
  if (isRoot) list.push({ id: 'untar-host', label: 'untar: loop mount + GNU tar -xf + umount', fresh: true, cmd: (img, mnt) => `mount -o loop ${q(img)} ${q(mnt)} && tar -xf ${q(c.tar)} -C ${q(mnt)} && umount ${q(mnt)}` });
  return list;
}

function runOnce(m: Method, c: Corpus, work: string): Run {
  const img = path.join(work, 'img');
  const mnt = path.join(work, 'mnt');
  fs.mkdirSync(mnt, { recursive: true });
  fs.rmSync(img, { force: true });
  if (m.fresh) {
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, c.imageMiB * 2 ** 20);
    sh(`mke2fs -q -F -t ext4 ${q(img)}`);
  }
  if (isRoot) { try { sh('sync; echo 3 > /proc/sys/vm/drop_caches'); } catch { /* a container may refuse */ } }
  const tfile = path.join(work, 'time');
  fs.rmSync(tfile, { force: true });
  const cmd = m.cmd(img, mnt);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%e %U %S %M', '-o', tfile, 'bash', '-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  try {
    if (r.status !== 0) throw new Error(`${m.id}: exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
    const [, u, s, rss] = fs.readFileSync(tfile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    const f = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    const used = /: (\d+)\/\d+ files/.exec(f.stdout);
    return { wall, cpu: u! + s!, rssKiB: rss!, fsck: f.status === 0 ? 'clean' : `exit ${f.status}`, inodes: used ? Number(used[1]) : 0 };
  } finally {
    if (isRoot) spawnSync('bash', ['-c', `mountpoint -q ${q(mnt)} && umount ${q(mnt)}`]);
    fs.rmSync(img, { force: true });
  }
}

// ----------------------------------------------------------------------------------- bench

export interface CptofsBenchResult {
  corpus: Corpus;
  load: number[];
  rows: { id: string; label: string; runs: Run[]; wall: number; cpu: number; mbps: number; rssMiB: number; fsck: string; inodes: number }[];
  failed: Record<string, string>;
}

export async function benchCptofs(o: { json?: boolean; sizeMB?: number | null; runs?: number } = {}): Promise<CptofsBenchResult> {
  for (const f of [CPTOFS, LKL]) if (!fs.existsSync(f)) throw new Error(`${f} missing: run npm run build`);
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} missing (Debian package time)`);
  const corpus = stageCorpus(o.sizeMB ?? null);
  log(`cptofs bench: corpus ${corpus.dir}: ${corpus.files} files, ${corpus.dirs} dirs, ${corpus.symlinks} symlinks, ${(corpus.bytes / 1e6).toFixed(0)} MB${corpus.built ? '' : ' (cached)'}; images ${corpus.imageMiB} MiB`);
  const work = fs.mkdtempSync(path.join(path.dirname(corpus.dir), `lkl-bench-cptofs-work-${process.pid}-`));
  const only = process.env.CPTOFS_BENCH_METHODS?.split(',').filter(Boolean);
  const ms = methods(corpus).filter((m) => !only || only.includes(m.id));
  const runs = new Map<string, Run[]>(ms.map((m) => [m.id, []]));
  const failed: Record<string, string> = {};
  const load = os.loadavg();
  try {
    for (let r = 0; r < (o.runs ?? 1); r++) {
      for (const m of ms) {
        if (failed[m.id]) continue;
        try {
          const x = runOnce(m, corpus, work);
          runs.get(m.id)!.push(x);
          log(`cptofs bench: round ${r + 1} ${m.id}: ${x.wall.toFixed(2)} s wall, ${x.cpu.toFixed(2)} s CPU, ${(x.rssKiB / 1024).toFixed(0)} MiB, e2fsck ${x.fsck}, ${x.inodes} inodes`);
        } catch (e) {
          failed[m.id] = e instanceof Error ? e.message : String(e);
          log(`cptofs bench: ${m.id} failed: ${failed[m.id]}`);
        }
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const rows = ms.filter((m) => runs.get(m.id)!.length > 0).map((m) => {
    const rs = runs.get(m.id)!;
    const wall = median(rs.map((x) => x.wall));
    return {
      id: m.id, label: m.label, runs: rs, wall, cpu: median(rs.map((x) => x.cpu)), mbps: corpus.bytes / 1e6 / wall,
      rssMiB: median(rs.map((x) => x.rssKiB)) / 1024, fsck: rs.map((x) => x.fsck).join(','), inodes: rs[rs.length - 1]!.inodes,
    };
  });
  const res: CptofsBenchResult = { corpus, load, rows, failed };
  if (!o.json) process.stdout.write(report(res));
  return res;
}

function report(res: CptofsBenchResult): string {
  const by = (id: string) => res.rows.find((r) => r.id === id);
  const ratio = (ours: string, peer: { wall: number }) => { const a = by(ours); return a ? `${(peer.wall / a.wall).toFixed(2)}x` : '-'; };
  const lines = res.rows.map((r) => [
    r.label, r.wall.toFixed(2), r.cpu.toFixed(2), r.mbps.toFixed(1), r.rssMiB.toFixed(0), r.fsck, String(r.inodes),
    r.id === 'cptofs' ? '' : ratio('cptofs', r),
    r.id === 'lkl-mkfs-d' ? '' : ratio('lkl-mkfs-d', r),
    r.id.startsWith('untar') ? (r.id === 'untar-ours' ? '' : ratio('untar-ours', r)) : '',
  ]);
  const c = res.corpus;
  const tgt: string[] = [];
  const ours = by('cptofs'), d = by('lkl-mkfs-d'), mk = by('mke2fs-d'), host = by('host-cp'), e2 = by('ext2fs');
  if (ours && e2) tgt.push(`  cptofs speed ≥ ext2fs: ${(e2.wall / ours.wall).toFixed(2)}x ${ours.wall <= e2.wall ? 'met' : 'MISSED'}`);
  if (ours && host) tgt.push(`  cptofs within 2x of host loop mount + cp -a: ${(host.wall / ours.wall).toFixed(2)}x ${ours.wall <= 2 * host.wall ? 'met' : 'MISSED'}`);
  if (d && mk) tgt.push(`  lkl mkfs -d within 3x of mke2fs -d: ${(mk.wall / d.wall).toFixed(2)}x ${d.wall <= 3 * mk.wall ? 'met' : 'MISSED'}`);
  for (const r of [ours, d, by('untar-ours')]) if (r) tgt.push(`  ${r.id}: peak RSS < 100 + 100 MB: ${r.rssMiB.toFixed(0)} MiB ${r.rssMiB * 1.048576 < 200 ? 'met' : 'MISSED'}`);
  return [
    `cptofs bench — ${os.cpus()[0]?.model ?? 'cpu'} (${os.cpus().length} cpus), Node ${process.version}; load average at start ${res.load.map((x) => x.toFixed(2)).join(' ')}${res.load[0]! > os.cpus().length / 2 ? ' — busy machine: wall figures are noisy, CPU figures less so' : ''}`,
    `corpus: ${c.dir}: ${c.files} files, ${c.dirs} dirs, ${c.symlinks} symlinks, ${(c.bytes / 1e6).toFixed(0)} MB of file content; ext4 images of ${c.imageMiB} MiB`,
    `median of ${res.rows[0]?.runs.length ?? 0} run(s); page cache ${isRoot ? 'dropped before every run' : 'NOT dropped (not root)'}; CPU = user + system of the process tree (host kernel threads not counted)`,
    '',
    table(['method', 'wall s', 'CPU s', 'MB/s', 'RSS MiB', 'e2fsck -fn', 'inodes', 'vs cptofs', 'vs mkfs -d', 'vs untar-ours'], lines, ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r']),
    '',
    'ratios: peer wall / ours wall (>1: ours faster).',
    ...Object.entries(res.failed).map(([id, e]) => `${id}: FAILED: ${e}`),
    'targets (reported, not asserted):',
    ...tgt,
    '',
  ].join('\n');
}

// --------------------------------------------------------------------------- ext2fs worker

interface E2Handle { fd: number; write(buf: Buffer, off: undefined, len: number, pos: number): Promise<{ bytesWritten: number }> }
interface E2Promises {
  mkdir(p: string, mode: number): Promise<void>;
  open(p: string, flags: string, mode: number): Promise<E2Handle>;
  close(fd: number): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  link(existing: string, p: string): Promise<void>;
  chown(p: string, uid: number, gid: number): Promise<void>;
  unlink(p: string): Promise<void>;
}

/** file-disk's shape, over the image file. */
class FileDisk {
  constructor(private fd: number) {}
  async read(buf: Uint8Array, off: number, len: number, pos: number): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    preadFull(this.fd, buf, off, len, pos);
    return { bytesRead: len, buffer: buf };
  }
  async write(buf: Uint8Array, off: number, len: number, pos: number): Promise<{ bytesWritten: number; buffer: Uint8Array }> {
    for (let done = 0; done < len;) done += fs.writeSync(this.fd, buf, off + done, len - done, pos + done);
    return { bytesWritten: len, buffer: buf };
  }
  async discard(): Promise<void> {}
  async flush(): Promise<void> { fs.fsyncSync(this.fd); }
}

/**
 * Fill the image through the ext2fs package: a depth-first walk of the host tree. Hard links are
 * made with link(); owners with chown (not on symlinks: the package's lchown opens the path
 * O_NOFOLLOW and fails on them); modes through mkdir/open. No times (utimes is unimplemented in
 * the package) and no xattrs (no API).
 */
async function ext2fsWorker(img: string, tree: string): Promise<void> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  interface Mounted { promises: E2Promises }
  const ext2fs = require('ext2fs') as { mount(d: unknown, off: number): Promise<Mounted>; umount(f: Mounted): Promise<void> };
  const fd = fs.openSync(img, 'r+');
  const mounted = await ext2fs.mount(new FileDisk(fd), 0);
  const e = mounted.promises;
  // The WASM heap is a fixed 16 MiB: write in modest chunks.
  const CHUNK = 64 << 10;
  const buf = Buffer.alloc(CHUNK);
  const links = new Map<string, string>();
  let expansions = 0;
  // The package's mkdir does not grow a full parent directory (libext2fs's EXT2_ET_DIR_NO_SPACE,
  // 2133571366, where mke2fs calls ext2fs_expand_dir and retries); creating a file there does.
  // So on that error: create and unlink a file of the same name length, then mkdir again.
  const mkdir = async (p: string, mode: number): Promise<void> => {
    try { await e.mkdir(p, mode); return; } catch (err) {
      if (!String((err as Error).message).includes('2133571366')) throw err;
    }
    expansions++;
    const tmp = `${p}~`;
    await e.close((await e.open(tmp, 'w', 0o600)).fd);
    await e.unlink(tmp);
    await e.mkdir(p, mode);
  };
  const walk = async (host: string, img: string): Promise<void> => {
    for (const n of fs.readdirSync(host)) {
      const hp = `${host}/${n}`, ip = img === '/' ? `/${n}` : `${img}/${n}`;
      const st = fs.lstatSync(hp);
      if (st.isDirectory()) {
        await mkdir(ip, st.mode & 0o7777);
        await walk(hp, ip);
        await e.chown(ip, st.uid, st.gid);
      } else if (st.isSymbolicLink()) {
        await e.symlink(fs.readlinkSync(hp), ip);
      } else if (st.isFile()) {
        const id = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && links.has(id)) { await e.link(links.get(id)!, ip); continue; }
        if (st.nlink > 1) links.set(id, ip);
        const h = await e.open(ip, 'w', st.mode & 0o7777);
        const src = fs.openSync(hp, 'r');
        try {
          for (let pos = 0; ;) {
            const got = fs.readSync(src, buf, 0, CHUNK, null);
            if (got === 0) break;
            const chunk = got === CHUNK ? buf : buf.subarray(0, got);
            for (let done = 0; done < got;) {
              const { bytesWritten } = await h.write(done === 0 ? chunk : chunk.subarray(done), undefined, got - done, pos + done);
              if (bytesWritten <= 0) throw new Error(`${ip}: short write`);
              done += bytesWritten;
            }
            pos += got;
          }
        } finally {
          fs.closeSync(src);
          await e.close(h.fd);
        }
        await e.chown(ip, st.uid, st.gid);
      }
    }
  };
  try { await walk(tree, '/'); } finally { await ext2fs.umount(mounted); fs.closeSync(fd); }
  if (process.env.EXT2FS_WORKER_DEBUG) log(`ext2fs worker: ${expansions} directory expansions by a temporary file`);
}

// ---------------------------------------------------------------------------- untar worker

/**
 * Extract a tar into the image with our kernel: withMountedImage (cptofs's boot, mount, chroot)
 * and KernelSide's calls, fed by the `tar` package's parser. The parser is given 1 MiB at a
 * time; what it emits (entry starts, data chunks, entry ends) is queued and carried out before
 * the next MiB, so memory stays bounded. Directory modes and times are set last, deepest first,
 * as GNU tar does, since filling a directory moves its mtime.
 */
async function untarWorker(img: string, tarFile: string): Promise<void> {
  const { withMountedImage } = await import('../src/apps/cptofs/main.js');
  const { KernelSide } = await import('../src/apps/cptofs/kernel_side.js');
  const { argBytes } = await import('../src/apps/cptofs/sides.js');
  const { Parser } = await import('tar');
  const spec = { mode: 'cptofs' as const, image: img, part: 0, fstype: 'ext4', mb: 100, printk: false };
  const status = await withMountedImage(spec, process, (m) => log(`untar: ${m}`), async (k) => {
    const dst = new KernelSide(k);
    const ops: Array<() => Promise<void>> = [];
    const dirs: Array<{ p: string; mode: number; t: { sec: number; nsec: number } }> = [];
    const ts = (d: Date | undefined) => { const ms = d ? d.getTime() : 0; return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }; };
    const name = (p: string) => { const s = argBytes(p.replace(/^(\.\/)+/, '').replace(/\/+$/, '')); return s === '' || s === '.' ? '/' : `/${s}`; };
    const parser = new Parser();
    parser.on('entry', (e) => {
      const p = name(e.path);
      const h = e.header;
      const mode = (h.mode ?? 0o644) & 0o7777, uid = h.uid ?? 0, gid = h.gid ?? 0, t = ts(h.mtime);
      if (e.type === 'Directory') {
        ops.push(async () => { if (p !== '/' && (await dst.typeAt(p)) === null) await dst.mkdir(p, 0o700); await dst.lchown(p, uid, gid); });
        dirs.push({ p, mode, t });
        e.resume();
      } else if (e.type === 'SymbolicLink') {
        const target = argBytes(e.linkpath ?? '');
        ops.push(async () => { await dst.symlink(target, p); await dst.lchown(p, uid, gid); await dst.lutimes(p, t, t); });
        e.resume();
      } else if (e.type === 'Link') {
        const existing = name(e.linkpath ?? '');
        ops.push(async () => { await dst.link(existing, p); });
        e.resume();
      } else if (e.type === 'File' || e.type === 'OldFile' || e.type === 'ContiguousFile') {
        let w: Awaited<ReturnType<typeof dst.create>> | null = null;
        let pos = 0;
        ops.push(async () => { w = await dst.create(p, mode & 0o700); });
        e.on('data', (c: Buffer) => {
          const copy = new Uint8Array(c);
          const at = pos;
          pos += copy.length;
          ops.push(async () => { await w!.pwrite(copy, at); });
        });
        e.on('end', () => {
          ops.push(async () => { await w!.close(); await dst.lchown(p, uid, gid); await dst.chmod(p, mode); await dst.lutimes(p, t, t); });
        });
      } else {
        e.resume();
      }
    });
    const drain = async () => { while (ops.length) await ops.shift()!(); };
    const fd = fs.openSync(tarFile, 'r');
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        // The parser may keep a reference to what it is given: hand it its own copy.
        parser.write(Buffer.from(chunk.subarray(0, n)));
        await drain();
      }
    } finally { fs.closeSync(fd); }
    await new Promise<void>((resolve) => { parser.on('end', () => resolve()); parser.end(); });
    await drain();
    for (const d of dirs.reverse()) { await dst.chmod(d.p, d.mode); await dst.lutimes(d.p, d.t, d.t); }
    return 0;
  });
  if (status !== 0) throw new Error(`untar worker: exit status ${status}`);
}

// ------------------------------------------------------------------------------------ main

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const argv = process.argv.slice(2);
  const opt = (n: string) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : undefined; };
  const job = argv[0] === '--ext2fs-worker' ? ext2fsWorker(argv[1]!, argv[2]!)
    : argv[0] === '--untar-worker' ? untarWorker(argv[1]!, argv[2]!)
    : benchCptofs({ json: argv.includes('--json'), sizeMB: opt('--size') ? Number(opt('--size')) : null, runs: Number(opt('--runs') ?? 1) })
      .then((r) => { if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`); });
  job.catch((e) => { process.stderr.write(`cptofs bench: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; });
}
