/*
 * ext4 inline_data, written: the same phases of operations run in our kernel on one image and in
 * the host kernel (loop mount) on its twin, both made by `mkfs.ext4 -O inline_data`. Files grow
 * across 60 bytes (i_block), the inline maximum (128 with 256-byte inodes) and into blocks, and
 * are truncated down and up; directories are made inline, filled until they take system.data and
 * then a block, renamed within and across, emptied and removed. Each phase is its own mount on
 * both sides (the "may be inline" state of a new empty file does not survive it, on Linux or
 * ours). After every phase `e2fsck -fn` must find both images clean; at the end the host's view
 * of our image must equal its view of its own (names, sizes, modes, link counts, st_blocks,
 * content hashes), debugfs must show the same inline flags and inline sizes on both, and our
 * kernel must read our image as the host does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, walkHost, hostSkipReason } from '../fixtures/host.js';
import { bootForDisks, walkLkl, errName, type Booted } from '../fixtures/lkl.js';
import { compareTrees } from '../fixtures/walk.js';
import { AT_FDCWD, O_CREAT, O_WRONLY } from '../../src/uapi/fcntl.js';

const HAVE_TOOLS = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4 && command -v debugfs'], { allowFail: true }).code === 0;
const ROOT_SKIP = hostSkipReason();

type Op =
  | ['write', string, number, number]   // path, position, length (content from the path and position)
  | ['trunc', string, number]
  | ['creat', string]
  | ['mkdir', string]
  | ['unlink', string]
  | ['rmdir', string]
  | ['rename', string, string]
  | ['link', string, string];

function content(path: string, pos: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = pos >>> 0;
  for (let i = 0; i < path.length; i++) x = (x * 31 + path.charCodeAt(i)) >>> 0;
  for (let i = 0; i < len; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = 0x21 + ((x >>> 24) % 90); }
  return b;
}

const name16 = (i: number) => `entry-${String(i).padStart(2, '0')}-abcdefg`; // 20 bytes: rec_len 28

const PHASES: { name: string; ops: Op[] }[] = [
  {
    name: 'small files',
    ops: [
      ['creat', 'empty'],
      ['write', 'f10', 0, 10], ['write', 'f60', 0, 60], ['write', 'f61', 0, 61], ['write', 'f128', 0, 128], ['write', 'f129', 0, 129],
      ['write', 'grow', 0, 10], ['write', 'grow', 10, 50], ['write', 'grow', 60, 40], ['write', 'grow', 100, 28], ['write', 'grow', 128, 1],
      ['write', 'hole', 0, 10], ['write', 'hole', 5000, 3],
      ['write', 'gap', 0, 5], ['write', 'gap', 100, 7],
      ['write', 'tr', 0, 100], ['trunc', 'tr', 30],
      ['write', 'tr-up', 0, 100], ['trunc', 'tr-up', 120],
      ['write', 'tr-same', 0, 50], ['trunc', 'tr-same', 60],
      ['write', 'tr0', 0, 100], ['trunc', 'tr0', 0],
      ['creat', 'late'], ['trunc', 'late', 100], ['write', 'late', 0, 2],
      ['write', 'mid', 0, 90], ['write', 'mid', 20, 10],
    ],
  },
  {
    name: 'files again (read back from disk)',
    ops: [
      ['write', 'f10', 10, 10], ['write', 'tr0', 0, 70], ['write', 'empty', 0, 5], ['trunc', 'f128', 10], ['write', 'f61', 61, 80],
      ['trunc', 'tr-same', 61], ['write', 'gap', 107, 21], ['trunc', 'late', 1], ['unlink', 'f60'], ['link', 'f10', 'f10-link'],
    ],
  },
  {
    name: 'inline directories',
    ops: [
      ['mkdir', 'd'], ['creat', 'd/a'], ['creat', 'd/b'], ['mkdir', 'd/sub'], ['write', 'd/a', 0, 33],
      ['mkdir', 'e'], ['creat', 'e/one'],
      ['mkdir', 'x'], ['creat', `x/${name16(0)}`], ['creat', `x/${name16(1)}`], ['creat', `x/${name16(2)}`], ['creat', `x/${name16(3)}`],
      ['mkdir', 'big'], ...Array.from({ length: 12 }, (_, i): Op => ['creat', `big/${name16(i)}`]),
      ['mkdir', 'empty-dir'], ['mkdir', 'd/sub/deep'],
    ],
  },
  {
    name: 'renames, unlinks, rmdir',
    ops: [
      ['rename', 'd/a', 'd/a-renamed'], ['rename', 'd/b', 'e/b-moved'], ['rename', 'e/one', 'd/one'],
      ['rename', 'd/sub', 'e/sub-moved'], ['rename', 'e/sub-moved/deep', 'deep-up'],
      ['unlink', `x/${name16(1)}`], ['rename', `x/${name16(0)}`, `x/${name16(3)}`],
      ['creat', 'y-file'], ['rename', 'y-file', `x/${'z'.repeat(40)}`],
      ['rmdir', 'empty-dir'], ['mkdir', 'gone'], ['creat', 'gone/f'], ['unlink', 'gone/f'], ['rmdir', 'gone'],
      ['mkdir', 'r'], ['creat', 'r/p'], ['creat', 'r/q'], ['creat', 'r/s'], ['creat', 'r/t'],
      ['rename', 'r/p', `r/${'long'.repeat(16)}`],
      ['unlink', `big/${name16(0)}`], ['rename', `big/${name16(1)}`, 'e/from-big'],
      ['rename', 'deep-up', 'e/sub-moved/deep-back'],
    ],
  },
];

interface Side {
  write(p: string, pos: number, data: Uint8Array): Promise<void>;
  trunc(p: string, size: number): Promise<void>;
  creat(p: string): Promise<void>;
  mkdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
  rename(a: string, b: string): Promise<void>;
  link(a: string, b: string): Promise<void>;
}

async function apply(side: Side, ops: Op[]): Promise<void> {
  for (const op of ops) {
    switch (op[0]) {
      case 'write': await side.write(op[1], op[2], content(op[1], op[2], op[3])); break;
      case 'trunc': await side.trunc(op[1], op[2]); break;
      case 'creat': await side.creat(op[1]); break;
      case 'mkdir': await side.mkdir(op[1]); break;
      case 'unlink': await side.unlink(op[1]); break;
      case 'rmdir': await side.rmdir(op[1]); break;
      case 'rename': await side.rename(op[1], op[2]); break;
      case 'link': await side.link(op[1], op[2]); break;
    }
  }
}

function hostSide(m: string): Side {
  const p = (x: string) => join(m, x);
  return {
    async write(x, pos, data) {
      const fd = fs.openSync(p(x), fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
      try { fs.writeSync(fd, data, 0, data.length, pos); } finally { fs.closeSync(fd); }
    },
    async trunc(x, size) { fs.truncateSync(p(x), size); },
    async creat(x) { fs.closeSync(fs.openSync(p(x), fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644)); },
    async mkdir(x) { fs.mkdirSync(p(x), 0o755); },
    async unlink(x) { fs.unlinkSync(p(x)); },
    async rmdir(x) { fs.rmdirSync(p(x)); },
    async rename(a, b) { fs.renameSync(p(a), p(b)); },
    async link(a, b) { fs.linkSync(p(a), p(b)); },
  };
}

function lklSide(b: Booted, m: string): Side {
  const sys = b.k.sys;
  const must = async (r: Promise<number> | number, what: string): Promise<number> => {
    const v = await r;
    if (v < 0) assert.fail(`${what}: got ${errName(v)}, want success`);
    return v;
  };
  const p = (x: string) => `${m}/${x}`;
  return {
    async write(x, pos, data) {
      const fd = await must(sys.open(p(x), O_CREAT | O_WRONLY, 0o644), `open ${x}`);
      const n = await must(sys.pwrite64(fd, data, data.length, pos), `pwrite ${x} @${pos}+${data.length}`);
      assert.equal(n, data.length, `pwrite ${x}: got ${n} bytes, want ${data.length}`);
      await must(sys.close(fd), 'close');
    },
    async trunc(x, size) { await must(sys.truncate(p(x), size), `truncate ${x} ${size}`); },
    async creat(x) { await must(sys.close(await must(sys.open(p(x), O_CREAT | O_WRONLY, 0o644), `creat ${x}`)), 'close'); },
    async mkdir(x) { await must(sys.mkdir(p(x), 0o755), `mkdir ${x}`); },
    async unlink(x) { await must(sys.unlink(p(x)), `unlink ${x}`); },
    async rmdir(x) { await must(sys.rmdir(p(x)), `rmdir ${x}`); },
    async rename(a, c) { await must(sys.renameat2(AT_FDCWD, p(a), AT_FDCWD, p(c), 0), `rename ${a} ${c}`); },
    async link(a, c) { await must(sys.linkat(AT_FDCWD, p(a), AT_FDCWD, p(c), 0), `link ${a} ${c}`); },
  };
}

function fsck(img: string): { code: number; out: string } {
  const r = run('e2fsck', ['-fn', img], { allowFail: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** The inline-relevant lines of `debugfs stat`: flags, size, inline size, system.data length. */
function inlineFacts(img: string, path: string): string {
  const out = run('debugfs', ['-R', `stat /${path}`, img], { allowFail: true }).stdout;
  const flags = /Flags: (0x[0-9a-f]+)/.exec(out)?.[1] ?? 'none';
  const size = /\bSize: (\d+)/.exec(out)?.[1] ?? 'none';
  const inl = /Size of inline data: (\d+)/.exec(out)?.[1] ?? 'none';
  const sd = /system\.data \((\d+)\)/.exec(out)?.[1] ?? 'none';
  return `flags ${flags} size ${size} inline ${inl} system.data ${sd}`;
}

const FACT_PATHS = ['f10', 'f61', 'f128', 'f129', 'grow', 'hole', 'gap', 'tr', 'tr-up', 'tr-same', 'tr0', 'late', 'empty', 'mid',
  'd', 'e', 'x', 'big', 'r', 'd/a-renamed', 'e/sub-moved', 'e/sub-moved/deep-back'];

/** What debugfs must show on the 4 KiB / 256-byte-inode image whatever the host does. */
function checkMainFacts(facts: string[]): void {
  const f = (p: string) => facts.find((l) => l.startsWith(`${p}: `))!;
  assert.match(f('d'), /flags 0x10000000 size 60 inline 60/, 'an inline directory: got other debugfs facts, want inline, 60 bytes');
  assert.match(f('f10'), /flags 0x10000000 size 20 inline 60 system.data 0/, 'f10: got other debugfs facts, want inline');
  assert.match(f('x'), /flags 0x10000000 size 128 inline 128 system.data 68/, 'x (4 entries): got other debugfs facts, want inline over system.data, 128 bytes');
  assert.match(f('big'), /flags 0x80000 size 4096 inline none/, 'big (12 entries): got other debugfs facts, want converted to an extent-mapped block');
  assert.match(f('f129'), /flags 0x80000 size 129 inline none/, 'f129: got other debugfs facts, want extent-mapped (past the 128-byte maximum)');
}

const skip = !HAVE_TOOLS ? 'e2fsck/mkfs.ext4/debugfs not installed' : false;

const PROFILES: { label: string; mkfs: string[]; main?: boolean }[] = [
  { label: '4 KiB blocks, 256-byte inodes, metadata_csum', mkfs: ['-b', '4096'], main: true },
  { label: '1 KiB blocks, 512-byte inodes, no metadata_csum, no journal', mkfs: ['-b', '1024', '-I', '512', '-O', '^metadata_csum,^has_journal'] },
];

for (const prof of PROFILES) test(`ext4 -O inline_data (${prof.label}): inline files and directories, their growth and conversion, as the host kernel does them`, { skip, timeout: 120_000 }, async (t) => {
  await withTempDir('ext4il', async (dir) => {
    const ours = join(dir, 'ours.img'), host = join(dir, 'host.img');
    fs.writeFileSync(ours, '');
    fs.truncateSync(ours, 32 * 2 ** 20);
    run('mkfs.ext4', ['-q', '-F', ...prof.mkfs, '-O', 'inline_data', ours]);
    fs.copyFileSync(ours, host);
    const withHost = !ROOT_SKIP;
    if (!withHost) {
      if (process.env.CI) assert.fail(`host kernel comparison needs root in CI: ${ROOT_SKIP}`);
      t.diagnostic(`host kernel side skipped: ${ROOT_SKIP}`);
    }
    const b = await bootForDisks('mem=128M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    try {
      const id = await b.api.diskAdd({ path: ours });
      for (const ph of PHASES) {
        const m = await b.api.mountDev(id, { fstype: 'ext4' });
        await apply(lklSide(b, m), ph.ops);
        await b.api.umountDev(id);
        const f = fsck(ours);
        assert.equal(f.code, 0, `e2fsck -fn of our image after "${ph.name}": got exit ${f.code}, want 0\n${f.out}`);
        if (withHost) {
          await withHostMount(host, '', (hm) => apply(hostSide(hm), ph.ops));
          const g = fsck(host);
          assert.equal(g.code, 0, `e2fsck -fn of the host's image after "${ph.name}": got exit ${g.code}, want 0\n${g.out}`);
        }
      }
      // Our kernel reads back what it wrote (after a fresh mount) as the host reads it.
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      const oursByUs = (await walkLkl(b.k, m)).tree;
      await b.api.umountDev(id);
      const factsOurs = FACT_PATHS.map((p) => `${p}: ${inlineFacts(ours, p)}`);
      if (prof.main) checkMainFacts(factsOurs);
      for (const l of factsOurs) t.diagnostic(l);
      t.diagnostic(`${oursByUs.size} entries`);
      if (!withHost) return;
      const factsHost = FACT_PATHS.map((p) => `${p}: ${inlineFacts(host, p)}`);
      const diffFacts = factsOurs.filter((l, i) => l !== factsHost[i]).map((l) => `${l}\n  host: ${factsHost[FACT_PATHS.indexOf(l.split(':')[0]!)]}`);
      assert.equal(diffFacts.length, 0, `debugfs stat, ours (got) vs host (want):\n${diffFacts.join('\n')}`);
      const oursByHost = await withHostMount(ours, 'ro', walkHost);
      const hostByHost = await withHostMount(host, 'ro', walkHost);
      const d1 = compareTrees(oursByHost, hostByHost, ['ino', 'atime', 'ctime', 'mtime']);
      assert.equal(d1.length, 0, `our image (got) vs the host's (want), both read by the host:\n${d1.slice(0, 40).join('\n')}`);
      const d2 = compareTrees(oursByUs, oursByHost, ['atime', 'ctime']);
      assert.equal(d2.length, 0, `our image read by us (got) vs by the host (want):\n${d2.slice(0, 40).join('\n')}`);
    } finally {
      await b.k.halt();
    }
  });
});
