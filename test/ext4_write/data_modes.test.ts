/*
 * ext4 data modes (data=ordered, the default; data=writeback; data=journal), read-write.
 *
 * For each mode one workload runs on our kernel — files written whole, appended in small pieces
 * (each append rewrites the same partial block, which under data=journal is still only in the
 * journal), overwritten in the middle, truncated down (the tail of the new last block zeroed)
 * and up, a hole punched (fallocate's partial-block zeroing), a file unlinked (its journalled data
 * blocks revoked), fsync — and the oracles are:
 *   - our own reads before unmount equal the model (under data=journal nothing has gone home
 *     yet, so this is the read path through the journal's overlay, the streaming path included);
 *   - the /proc/mounts options equal those the host kernel shows for the same mount options, and
 *     a remount asking for another data mode fails with EINVAL as on Linux;
 *   - after unmount, `e2fsck -fn` is clean and the host kernel's loop mount reads the same bytes.
 * A case runs data=journal under a tight mem= budget: the journal's copies are charged; with the
 * rest of memory held by tmpfs they overdraw the budget instead of failing the write, and the
 * next handle to start waits for a commit and checkpoint that pay the overdraft back. Another
 * checks that data= on a filesystem without a journal is refused, as the host refuses it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withTempDir, withHostMount, requireHost } from '../fixtures/host.js';
import { mkfsExt4, seededContent, EXT4_EAGER_INIT } from '../fixtures/image.js';
import { bootForDisks, errName, type Booted } from '../fixtures/lkl.js';
import { EINVAL } from '../../src/uapi/errno.js';
import { MS_REMOUNT } from '../../src/uapi/mount.js';
import { O_CREAT, O_WRONLY, O_RDWR, O_APPEND, O_TRUNC, O_RDONLY, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE } from '../../src/uapi/fcntl.js';

const HAVE_E2FSCK = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4'], { allowFail: true }).code === 0;
const skip = HAVE_E2FSCK ? false : 'e2fsck/mkfs.ext4 not installed';

/**
 * data=journal needs inode_write.ts to merge partial-block writes into the block's newest copy
 * (sbi.bread or ext4ReadDataBlock: the journal's, before the checkpoint), not the home block's
 * (bdev.bread). Where it still reads the home block the data=journal cases run as todo.
 */
const JOURNAL_READS_OK = !/bdev\.bread\((pblk|last)\b/.test(fs.readFileSync(new URL('../../src/fs/ext4/inode_write.js', import.meta.url), 'utf8'));
const journalTodo = JOURNAL_READS_OK ? false : 'inode_write.ts still merges partial-block writes with the home block (bdev.bread)';

const content = seededContent;
const mkfs = (img: string, sizeMiB: number, args: string[] = []): void => mkfsExt4(img, sizeMiB, [...EXT4_EAGER_INIT, ...args]);

function e2fsck(img: string): { code: number; out: string } {
  const r = run('e2fsck', ['-fn', img], { allowFail: true });
  return { code: r.code, out: r.stdout + r.stderr };
}

type Sys = Booted['k']['sys'];

async function must(p: Promise<number> | number, what: string): Promise<number> {
  const r = await p;
  if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`);
  return r;
}

async function pwriteAll(sys: Sys, fd: number, data: Uint8Array, pos: number): Promise<void> {
  for (let o = 0; o < data.length;) {
    const part = data.subarray(o, Math.min(data.length, o + (1 << 20)));
    o += await must(sys.pwrite64(fd, part, part.length, pos + o), 'pwrite64');
  }
}

async function readWhole(sys: Sys, path: string, size: number): Promise<Uint8Array> {
  const fd = await must(sys.open(path, O_RDONLY, 0), `open ${path}`);
  const out = new Uint8Array(size + 1);
  let o = 0;
  // One large read first: it takes the streaming path for runs of 64 KiB and more.
  for (;;) {
    const n = await must(sys.pread64(fd, out.subarray(o), out.length - o, o), `read ${path}`);
    if (n === 0) break;
    o += n;
  }
  await sys.close(fd);
  return out.subarray(0, o);
}

/** The model: path -> bytes. Each step changes our file and the model alike. */
class Model {
  files = new Map<string, Uint8Array>();
  write(p: string, pos: number, data: Uint8Array): void {
    const old = this.files.get(p) ?? new Uint8Array(0);
    const n = new Uint8Array(Math.max(old.length, pos + data.length));
    n.set(old);
    n.set(data, pos);
    this.files.set(p, n);
  }
  truncate(p: string, size: number): void {
    const old = this.files.get(p)!;
    const n = new Uint8Array(size);
    n.set(old.subarray(0, Math.min(size, old.length)));
    this.files.set(p, n);
  }
  zero(p: string, from: number, to: number): void { this.files.get(p)!.fill(0, from, Math.min(to, this.files.get(p)!.length)); }
}

/** Run the workload under `m`; returns the model. */
async function workload(sys: Sys, m: string): Promise<Model> {
  const md = new Model();
  const P = (n: string): string => `${m}/${n}`;
  const create = async (n: string, data: Uint8Array): Promise<void> => {
    const fd = await must(sys.open(P(n), O_CREAT | O_WRONLY | O_TRUNC, 0o644), `create ${n}`);
    await pwriteAll(sys, fd, data, 0);
    await sys.close(fd);
    md.write(n, 0, data);
  };
  await create('empty', new Uint8Array(0));
  await create('small', content(1, 100));
  await create('gone', content(2, 5000));
  await create('mid', content(3, 70_000));
  await create('big', content(4, 1_572_881)); // 1.5 MiB + 17: past one write chunk of 1 KiB blocks
  // Small appends: each rewrites the last, partial block (read-merge of the newest copy).
  for (let i = 0; i < 5; i++) {
    const fd = await must(sys.open(P('small'), O_WRONLY | O_APPEND, 0), 'open small');
    const d = content(10 + i, 77);
    await must(sys.write(fd, d, d.length), 'append small');
    await sys.close(fd);
    md.write('small', md.files.get('small')!.length, d);
  }
  // Overwrite in the middle, unaligned.
  let fd = await must(sys.open(P('mid'), O_RDWR, 0), 'open mid');
  await pwriteAll(sys, fd, content(20, 3000), 1234);
  md.write('mid', 1234, content(20, 3000));
  // A hole punched, unaligned at both ends: partial blocks zeroed, whole ones freed.
  await must(sys.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10_001, 20_000), 'punch mid');
  md.zero('mid', 10_001, 30_001);
  await must(sys.fsync(fd), 'fsync mid');
  await sys.close(fd);
  // Truncate down to an odd size (tail zeroed), then up (a hole), then write past it.
  await must(sys.truncate(P('big'), 700_001), 'truncate big down');
  md.truncate('big', 700_001);
  await must(sys.truncate(P('big'), 900_000), 'truncate big up');
  md.truncate('big', 900_000);
  fd = await must(sys.open(P('big'), O_RDWR, 0), 'open big');
  await pwriteAll(sys, fd, content(30, 5000), 950_000);
  md.write('big', 950_000, content(30, 5000));
  // Overwrite what was just written, partly: the newest copy of a block is the journal's.
  await pwriteAll(sys, fd, content(31, 2000), 951_000);
  md.write('big', 951_000, content(31, 2000));
  await must(sys.fsync(fd), 'fsync big');
  await sys.close(fd);
  await must(sys.unlink(P('gone')), 'unlink gone');
  md.files.delete('gone');
  // A new file reusing freed blocks after the unlink commits.
  await must(sys.sync(), 'sync');
  await create('reuse', content(40, 9000));
  return md;
}

function diffAt(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `size ${a.length}, want ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i} = ${a[i]}, want ${b[i]}`;
  return '';
}

async function checkOurs(sys: Sys, m: string, md: Model, when: string): Promise<void> {
  for (const [p, want] of md.files) {
    const got = await readWhole(sys, `${m}/${p}`, want.length);
    const d = diffAt(got, want);
    assert.equal(d, '', `${when}: ${p}: got ${d}`);
  }
}

/** The options field of `mnt`'s line in a /proc/mounts text. */
function mountOpts(text: string, mnt: string): string {
  const line = text.split('\n').find((l) => l.split(' ')[1] === mnt);
  return line?.split(' ')[3] ?? '';
}

const MODES = [
  { opt: 'data=ordered', msg: 'with ordered data mode' },
  { opt: 'data=writeback', msg: 'with writeback data mode' },
  { opt: 'data=journal', msg: 'with journalled data mode' },
  { opt: '', msg: 'with ordered data mode' },
];

for (const mode of MODES) {
  test(`${mode.opt || 'default (ordered)'}: write, overwrite, truncate, punch, fsync, unmount: our reads, e2fsck -fn and the host's reads agree`, { skip, todo: mode.opt === 'data=journal' && journalTodo, timeout: 120_000 }, async (t: TestContext) => {
    const host = requireHost(t);
    await withTempDir('dmodes', async (dir) => {
      const img = join(dir, 'fs.img');
      mkfs(img, 32);
      const b = await bootForDisks('mem=256M loglevel=8');
      if (!b) { t.skip('no disk API'); return; }
      let md: Model;
      let ourOpts = '';
      try {
        const id = await b.api.diskAdd({ path: img });
        const m = await b.api.mountDev(id, { fstype: 'ext4', opts: mode.opt });
        const mounted = b.log.filter((l) => l.includes('mounted filesystem')).pop() ?? '';
        assert.ok(mounted.includes(' r/w ') && mounted.includes(mode.msg), `mount message: got "${mounted}", want r/w ${mode.msg}`);
        await b.k.sys.mkdir('/proc', 0o555);
        await must(b.k.sys.mount('proc', '/proc', 'proc', 0, null), 'mount proc');
        ourOpts = mountOpts(await b.k.fs.readFile('/proc/mounts', 'utf8') as string, m);
        md = await workload(b.k.sys, m);
        await checkOurs(b.k.sys, m, md, 'ours, mounted');
        // The data mode cannot change on remount; asking for the same one is fine.
        const other = mode.opt === 'data=journal' ? 'data=ordered' : 'data=journal';
        const r = await b.k.sys.mount('none', m, null, MS_REMOUNT, other);
        assert.equal(r, -EINVAL, `remount with ${other}: got ${r < 0 ? errName(r) : r}, want EINVAL`);
        assert.ok(b.log.some((l) => l.includes('Cannot change data mode on remount')), 'remount message: got none, want "Cannot change data mode on remount"');
        if (mode.opt) await must(b.k.sys.mount('none', m, null, MS_REMOUNT, mode.opt), `remount with ${mode.opt}`);
        await checkOurs(b.k.sys, m, md, 'ours, after remount');
        await b.api.umountDev(id);
      } finally {
        await b.k.halt();
      }
      const f = e2fsck(img);
      assert.equal(f.code, 0, `e2fsck -fn: got exit ${f.code}, want 0\n${f.out}`);
      if (!host) return;
      // The host shows these options for the same mount (read-write, as ours).
      const scratch = join(dir, 'opts.img');
      mkfs(scratch, 8);
      const hostOpts = await withHostMount(scratch, mode.opt, (mnt) => mountOpts(fs.readFileSync('/proc/mounts', 'utf8'), mnt));
      assert.equal(ourOpts, hostOpts, `/proc/mounts options: got "${ourOpts}", want the host's "${hostOpts}"`);
      await withHostMount(img, 'ro', (mnt) => {
        const names = fs.readdirSync(mnt).filter((n) => n !== 'lost+found').sort();
        assert.deepEqual(names, [...md.files.keys()].sort(), `host: got files ${names.join(',')}, want ${[...md.files.keys()].sort().join(',')}`);
        for (const [p, want] of md.files) {
          const d = diffAt(new Uint8Array(fs.readFileSync(join(mnt, p))), want);
          assert.equal(d, '', `host read of ${p}: got ${d}`);
        }
      });
    });
  });
}

test('data=journal under a tight mem=: the journal\'s copies are charged, and long writes under a full budget commit and checkpoint instead of failing', { skip, timeout: 120_000 }, async (t: TestContext) => {
  await withTempDir('dmodes-mem', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfs(img, 64, ['-b', '4096', '-J', 'size=16']);
    const b = await bootForDisks('mem=24M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    const size = 24 * 2 ** 20;
    const data = content(99, size);
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4', opts: 'data=journal' });
      const mem = b.k.k.mem;
      const before = mem.pages('buffers');
      const fd = await must(b.k.sys.open(`${m}/f`, O_CREAT | O_WRONLY, 0o644), 'create f');
      // A small write first: its journalled block is charged while the transaction runs.
      await must(b.k.sys.write(fd, data.subarray(0, 4096), 4096), 'write 4 KiB');
      const charged = mem.pages('buffers') - before;
      assert.ok(charged >= 1, `buffers pages after a journalled 4 KiB write: got +${charged}, want at least +1`);
      let minFree = Infinity;
      for (let o = 4096; o < size; o += 1 << 20) {
        const n = Math.min(1 << 20, size - o);
        await must(b.k.sys.pwrite64(fd, data.subarray(o, o + n), n, o), `write at ${o}`);
        minFree = Math.min(minFree, mem.freePages);
      }
      await must(b.k.sys.fsync(fd), 'fsync');
      await b.k.sys.close(fd);
      t.diagnostic(`lowest free pages during the write: ${minFree}`);
      // Now with memory nobody can reclaim taken (tmpfs): the journal's copies overdraw mem=,
      // which makes it commit and checkpoint early; the writes still succeed.
      await b.k.sys.mkdir('/t', 0o755);
      await must(b.k.sys.mount('tmpfs', '/t', 'tmpfs', 0, null), 'mount tmpfs');
      const filler = await must(b.k.sys.open('/t/fill', O_CREAT | O_WRONLY, 0o644), 'create /t/fill');
      const page = new Uint8Array(4096).fill(7);
      while (mem.freePages > 64) if (await b.k.sys.write(filler, page, page.length) < 0) break;
      let overdrawn = 0;
      const fd2 = await must(b.k.sys.open(`${m}/g`, O_CREAT | O_WRONLY, 0o644), 'create g');
      for (let o = 0; o < 4 << 20; o += 256 << 10) {
        await must(b.k.sys.pwrite64(fd2, data.subarray(o, o + (256 << 10)), 256 << 10, o), `write g at ${o}`);
        overdrawn = Math.min(overdrawn, mem.freePages);
      }
      await must(b.k.sys.fsync(fd2), 'fsync g');
      await b.k.sys.close(fd2);
      // Whether the budget was overdrawn depends on the transaction size: a write reserving its
      // data blocks' credits up front commits early enough that it may never be; either way the
      // writes succeed, and any overdraft is paid back below.
      t.diagnostic(`lowest free pages with tmpfs holding the rest: ${overdrawn}`);
      // The next handle to start finds the budget overdrawn: it waits for a commit and a
      // checkpoint, which take the blocks home and give their memory back.
      const fd3 = await must(b.k.sys.open(`${m}/h`, O_CREAT | O_WRONLY, 0o644), 'create h');
      await must(b.k.sys.write(fd3, data.subarray(0, 100), 100), 'write h');
      await b.k.sys.close(fd3);
      assert.ok(mem.freePages >= 0, `free pages once the next handle started: got ${mem.freePages}, want the overdraft paid back by commit and checkpoint`);
      const g = await readWhole(b.k.sys, `${m}/g`, 4 << 20);
      assert.equal(diffAt(g, data.subarray(0, 4 << 20)), '', 'read back g under a full mem=');
      await b.k.sys.close(filler);
      await must(b.k.sys.unlink('/t/fill'), 'unlink /t/fill');
      const got = await readWhole(b.k.sys, `${m}/f`, size);
      assert.equal(diffAt(got, data), '', 'read back under mem=24M');
      await b.api.umountDev(id);
      assert.ok(mem.freePages >= 0, `free pages after unmount: got ${mem.freePages}, want no overdraft left`);
    } finally {
      await b.k.halt();
    }
    const f = e2fsck(img);
    assert.equal(f.code, 0, `e2fsck -fn: got exit ${f.code}, want 0\n${f.out}`);
    const out = join(dir, 'f.out');
    run('debugfs', ['-R', `dump /f ${out}`, img]);
    assert.equal(diffAt(new Uint8Array(fs.readFileSync(out)), data), '', 'debugfs dump of f');
  });
});

test('data= on a filesystem without a journal: the read-write mount is refused with EINVAL, as the host refuses it', { skip, timeout: 60_000 }, async (t: TestContext) => {
  const host = requireHost(t);
  await withTempDir('dmodes-nojournal', async (dir) => {
    const img = join(dir, 'fs.img');
    mkfs(img, 8, ['-O', '^has_journal']);
    const b = await bootForDisks('mem=64M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    try {
      const id = await b.api.diskAdd({ path: img });
      let errno: number | undefined;
      try { await b.api.mountDev(id, { fstype: 'ext4', opts: 'data=journal' }); } catch (e) { errno = Math.abs((e as { errno?: number }).errno ?? 0); }
      assert.equal(errno, EINVAL, `mount -o data=journal without a journal: got ${errno === undefined ? 'success' : errName(-errno)}, want EINVAL`);
      assert.ok(b.log.some((l) => l.includes("can't mount with data=, fs mounted w/o journal")), 'message: got none, want "can\'t mount with data=, fs mounted w/o journal"');
      // Without data= it mounts (and has no data mode to show).
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      assert.ok(m, 'mount without data=');
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    if (host) {
      const r = run('mount', ['-t', 'ext4', '-o', 'loop,data=journal', img, dir], { allowFail: true });
      if (r.code === 0) run('umount', [dir], { allowFail: true });
      assert.notEqual(r.code, 0, 'host mount -o data=journal without a journal: got success, want a refusal');
    }
  });
});
