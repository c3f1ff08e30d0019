/*
 * ext4 read-write: the orphan list. Files unlinked (or replaced by rename) while open, and a
 * directory removed while open, go on the superblock's orphan list; a power cut while they are
 * still open leaves the list on disk. Oracles: dumpe2fs shows the list head in the cut image,
 * e2fsck -fy recognises the members ("Clearing orphaned inode"), the host kernel's mount
 * processes the list to an e2fsck-clean image, and so does our own mount (read-write, not the
 * read-only fallback), with Linux's "orphan inodes deleted" message. The image unmounted
 * normally has no list left. Both images our kernel unmounted go through tree_oracle.ts (e2fsck
 * -fn, and the host's read-only mount shows the tree ours showed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, hostSkipReason } from '../fixtures/host.js';
import { mkfsExt4 } from '../fixtures/image.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, withOurExt4, type Tree } from './tree_oracle.js';
import { AT_FDCWD, O_CREAT, O_RDWR, O_RDONLY, O_DIRECTORY } from '../../src/uapi/fcntl.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4 && command -v dumpe2fs'], { allowFail: true }).code === 0;
const ROOT_SKIP = hostSkipReason();

function fsck(img: string, flag: string): { code: number; out: string } {
  const r = run('e2fsck', [flag, img], { allowFail: true });
  return { code: r.code, out: r.stdout + r.stderr };
}
const firstOrphan = (img: string): number => {
  const m = /First orphan inode:\s+(\d+)/.exec(run('dumpe2fs', ['-h', img], { allowFail: true }).stdout);
  return m ? Number(m[1]) : 0;
};

for (const [label, args] of [['4 KiB, journal', ['-b', '4096']], ['1 KiB, no journal', ['-b', '1024', '-O', '^has_journal']]] as [string, string[]][]) {
  test(`orphan list (${label}): open unlinked files survive a cut as orphans and are reclaimed at mount`, { skip: HAVE ? false : 'e2fsprogs missing', timeout: 180_000 }, async (t) => {
    await withTempDir('ext4o', async (dir) => {
      const img = join(dir, 'fs.img');
      mkfsExt4(img, 32, args);
      const cuts = [join(dir, 'cut-ours.img'), join(dir, 'cut-fsck.img'), join(dir, 'cut-host.img')];
      const inos: number[] = [];
      let ours: Tree | undefined, oursAfterCut: Tree | undefined;
      const mounted = await withOurExt4(img, async (b, m, id) => {
        const sys = b.k.sys;
        const must = async (p: Promise<number> | number, what: string): Promise<number> => {
          const r = await p;
          if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`);
          return r;
        };
        const data = new Uint8Array(300_000).fill(0x5a);
        const ino = async (p: string): Promise<number> => {
          const st = { ino: 0 } as Record<string, number>;
          await must(sys.newfstatat(AT_FDCWD, p, st, 0), `stat ${p}`);
          return st.ino!;
        };
        const fds: number[] = [];
        // Unlinked while open.
        let fd = await must(sys.open(`${m}/held`, O_CREAT | O_RDWR, 0o644), 'open held');
        await must(sys.write(fd, data, data.length), 'write');
        inos.push(await ino(`${m}/held`));
        await must(sys.unlink(`${m}/held`), 'unlink held');
        fds.push(fd);
        // Replaced by a rename while open.
        fd = await must(sys.open(`${m}/victim`, O_CREAT | O_RDWR, 0o644), 'open victim');
        await must(sys.write(fd, data, 5000), 'write');
        inos.push(await ino(`${m}/victim`));
        await must(sys.open(`${m}/winner`, O_CREAT | O_RDWR, 0o644).then((f) => sys.close(f)), 'create winner');
        await must(sys.renameat2(AT_FDCWD, `${m}/winner`, AT_FDCWD, `${m}/victim`, 0), 'rename over victim');
        fds.push(fd);
        // A directory removed while open.
        await must(sys.mkdir(`${m}/gone`, 0o755), 'mkdir');
        fd = await must(sys.open(`${m}/gone`, O_RDONLY | O_DIRECTORY, 0), 'open dir');
        inos.push(await ino(`${m}/gone`));
        await must(sys.rmdir(`${m}/gone`), 'rmdir');
        fds.push(fd);
        // One that is closed normally: on and off the list again.
        fd = await must(sys.open(`${m}/brief`, O_CREAT | O_RDWR, 0o644), 'open brief');
        await must(sys.unlink(`${m}/brief`), 'unlink brief');
        await must(sys.close(fd), 'close brief');
        await must(sys.sync(), 'sync');
        for (const c of cuts) fs.copyFileSync(img, c);
        for (const f of fds) await must(sys.close(f), 'close');
        ours = await ourTree(b.k, m);
        await b.api.umountDev(id);
      });
      if (!mounted) { t.skip('no disk API'); return; }
      // After a normal unmount: e2fsck-clean, and the host shows the tree ours showed.
      await assertTreeOracle(t, ours!, img, { what: 'after a normal unmount' });
      assert.equal(firstOrphan(img), 0, `orphan list after unmount: got head ${firstOrphan(img)}, want none`);
      // The cut image holds the list (for the journalled case once the journal is replayed: the
      // superblock on disk may still have the older head, e2fsck sees the replayed one).
      const fixed = fsck(cuts[1]!, '-fy');
      assert.ok(fixed.code === 0 || fixed.code === 1, `e2fsck -fy of the cut image: got exit ${fixed.code}, want 0 or 1\n${fixed.out}`);
      for (const i of inos) assert.match(fixed.out, new RegExp(`Clearing orphaned inode ${i} `), `e2fsck -fy: got no "Clearing orphaned inode ${i}", want every open unlinked inode on the list\n${fixed.out}`);
      const again = fsck(cuts[1]!, '-fn');
      assert.equal(again.code, 0, `e2fsck -fn after e2fsck -fy: got exit ${again.code}, want 0\n${again.out}`);
      // Our mount finishes the list itself.
      const b = await bootForDisks('mem=128M loglevel=8');
      try {
        const id = await b!.api.diskAdd({ path: cuts[0]! });
        const m = await b!.api.mountDev(id, { fstype: 'ext4' });
        assert.ok(b!.log.some((l) => l.includes(`${inos.length} orphan inodes deleted`)), `kernel log: got ${b!.log.filter((l) => l.includes('EXT4')).join(' | ')}, want "${inos.length} orphan inodes deleted"`);
        assert.ok(!b!.log.some((l) => l.includes('mounting read-only')), 'mount: got the read-only fallback, want a read-write mount');
        oursAfterCut = await ourTree(b!.k, m);
        await b!.api.umountDev(id);
      } finally {
        await b!.k.halt();
      }
      await assertTreeOracle(t, oursAfterCut!, cuts[0]!, { what: 'after our mount processed the list' });
      assert.equal(firstOrphan(cuts[0]!), 0, `orphan list after our mount: got head ${firstOrphan(cuts[0]!)}, want none`);
      if (ROOT_SKIP) { if (process.env.CI) assert.fail(ROOT_SKIP); t.diagnostic(`host mount skipped: ${ROOT_SKIP}`); return; }
      await withHostMount(cuts[2]!, '', () => undefined);
      const host = fsck(cuts[2]!, '-fn');
      assert.equal(host.code, 0, `e2fsck -fn after the host kernel processed the list: got exit ${host.code}, want 0\n${host.out}`);
    });
  });
}
