/*
 * ext4 read-write: setxattr/removexattr. Attributes go into the inode while they fit there and
 * into the external block otherwise; blocks the host kernel shared between inodes (h_refcount > 1)
 * are copied on write. Oracles: `e2fsck -fn` (entry hashes, value bounds, block checksums and
 * refcounts), debugfs for which block each inode points at, and (as root) the host kernel's view
 * of every attribute after unmount, ACLs included (an access ACL also sets the mode bits), and the
 * whole tree compared with the host's by tree_oracle.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { run, withHostMount, withTempDir, hostSkipReason } from '../fixtures/host.js';
import { bootForDisks, errName } from '../fixtures/lkl.js';
import { ourTree, assertTreeOracle, type Tree } from './tree_oracle.js';
import { EEXIST, ENODATA, ENOSPC, EPERM, EACCES, EINVAL } from '../../src/uapi/errno.js';
import { O_CREAT, O_WRONLY, XATTR_CREATE, XATTR_REPLACE } from '../../src/uapi/fcntl.js';

const HAVE = run('sh', ['-c', 'command -v e2fsck && command -v mkfs.ext4 && command -v debugfs'], { allowFail: true }).code === 0;
const ROOT_SKIP = hostSkipReason();

function bytes(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = 0x20 + ((x >>> 24) % 90); }
  return b;
}
const str = (s: string) => new TextEncoder().encode(s);

/** A POSIX ACL in the xattr form: [tag, perm, id] entries (id ignored for the object entries). */
function acl(ents: [number, number, number][]): Uint8Array {
  const b = new Uint8Array(4 + 8 * ents.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 2, true);
  ents.forEach(([t, p, id], i) => { dv.setUint16(4 + 8 * i, t, true); dv.setUint16(6 + 8 * i, p, true); dv.setUint32(8 + 8 * i, id, true); });
  return b;
}
const U_OBJ = 1, USER = 2, G_OBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20;

/** debugfs's "File ACL:" block of an inode (0 when none). */
function fileAcl(img: string, path: string): number {
  const out = run('debugfs', ['-R', `stat ${path}`, img]).stdout;
  const m = /File ACL: (\d+)/.exec(out);
  return m ? Number(m[1]) : 0;
}

async function body(t: TestContext, mkfsArgs: string[], sizeMiB: number): Promise<void> {
  await withTempDir('ext4x', async (dir) => {
    const img = join(dir, 'fs.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, sizeMiB * 2 ** 20);
    run('mkfs.ext4', ['-q', '-F', ...mkfsArgs, img]);
    const bs = Number(/Block size:\s+(\d+)/.exec(run('dumpe2fs', ['-h', img]).stdout)![1]);
    // The host kernel shares one xattr block between inodes with identical attribute sets.
    let shared = false;
    if (!ROOT_SKIP) {
      await withHostMount(img, '', (mnt) => {
        const script = `import os,sys\nfor i in range(4):\n  p=sys.argv[1]+'/shared%d'%i\n  open(p,'w').write('s%d'%i)\n  os.setxattr(p,'user.big',b'B'*${Math.floor(bs / 2)})\n  os.setxattr(p,'user.other',b'same')\n`;
        run('python3', ['-c', script, mnt]);
      });
      const blocks = [0, 1, 2, 3].map((i) => fileAcl(img, `/shared${i}`));
      shared = blocks[0] !== 0 && blocks.every((b) => b === blocks[0]);
      assert.ok(shared, `host-made files: got File ACL blocks ${blocks.join(',')}, want one block shared by all four`);
    } else if (process.env.CI) assert.fail(`shared xattr blocks need a host mount in CI: ${ROOT_SKIP}`);

    const b = await bootForDisks('mem=192M loglevel=8');
    if (!b) { t.skip('no disk API'); return; }
    let ours: Tree;
    try {
      const id = await b.api.diskAdd({ path: img });
      const m = await b.api.mountDev(id, { fstype: 'ext4' });
      const sys = b.k.sys;
      const must = async (p: Promise<number> | number, what: string): Promise<number> => {
        const r = await p;
        if (r < 0) assert.fail(`${what}: got ${errName(r)}, want success`);
        return r;
      };
      const set = (p: string, n: string, v: Uint8Array, flags = 0) => sys.lsetxattr(`${m}/${p}`, n, v, v.length, flags);
      const expectErr = async (p: Promise<number> | number, want: number, what: string): Promise<void> => {
        const r = await p;
        assert.equal(r, -want, `${what}: got ${r < 0 ? errName(r) : r}, want ${errName(-want)}`);
      };
      const mk = async (p: string): Promise<void> => {
        const fd = await must(sys.open(`${m}/${p}`, O_CREAT | O_WRONLY, 0o644), `create ${p}`);
        await must(sys.write(fd, str(p), p.length), 'write');
        await must(sys.close(fd), 'close');
      };
      await mk('f');
      // Small ones (in the inode when it has room), then ones only the block can hold.
      await must(set('f', 'user.a', str('hello')), 'set user.a');
      await must(set('f', 'user.b', bytes(1, 20)), 'set user.b');
      await must(set('f', 'trusted.t', bytes(2, 7)), 'set trusted.t');
      await must(set('f', 'security.s', str('label')), 'set security.s');
      await must(set('f', 'user.empty', new Uint8Array(0)), 'set an empty value');
      await must(set('f', 'user.big1', bytes(3, Math.floor(bs / 4))), 'set user.big1');
      // A value moving from the inode to the block and back; a value changing size in the block.
      await must(set('f', 'user.a', bytes(4, Math.floor(bs / 3))), 'grow user.a');
      await must(set('f', 'user.a', str('small again')), 'shrink user.a');
      await must(set('f', 'user.big1', bytes(5, Math.floor(bs / 5))), 'resize user.big1');
      // Linux's errnos.
      await expectErr(set('f', 'user.b', str('x'), XATTR_CREATE), EEXIST, 'XATTR_CREATE on an existing name');
      await expectErr(set('f', 'user.nope', str('x'), XATTR_REPLACE), ENODATA, 'XATTR_REPLACE on a missing name');
      await expectErr(sys.lremovexattr(`${m}/f`, 'user.nope'), ENODATA, 'removexattr of a missing name');
      await expectErr(set('f', 'user.huge', bytes(6, bs + 100)), ENOSPC, 'a value larger than a block');
      await must(set('f', 'user.b', str('replaced'), XATTR_REPLACE), 'XATTR_REPLACE');
      await must(sys.lremovexattr(`${m}/f`, 'trusted.t'), 'remove trusted.t');
      // Fill the block until ENOSPC; the attributes that made it stay readable.
      await mk('full');
      let n = 0;
      for (; n < 400; n++) {
        const r = await set('full', `user.fill-${n}`, bytes(100 + n, 40));
        if (r === -ENOSPC) break;
        await must(r, `fill ${n}`);
      }
      assert.ok(n > 3 && n < 400, `attributes until the block is full: got ${n}, want ENOSPC after a few`);
      for (let i = 0; i < n; i += 3) await must(sys.lremovexattr(`${m}/full`, `user.fill-${i}`), 'remove fill');
      // A block emptied by removals is freed.
      await mk('drop');
      await must(set('drop', 'user.x', bytes(7, Math.floor(bs / 2))), 'set on drop');
      await must(sys.lremovexattr(`${m}/drop`, 'user.x'), 'remove the only block attribute');
      // Files with attributes that go away: the block goes with the inode.
      await mk('gone');
      await must(set('gone', 'user.x', bytes(8, Math.floor(bs / 2))), 'set on gone');
      await must(sys.unlink(`${m}/gone`), 'unlink gone');
      // Directories take user.*, symlinks do not (the VFS's EPERM).
      await must(sys.mkdir(`${m}/d`, 0o755), 'mkdir');
      await must(set('d', 'user.dir', str('on a directory')), 'set on a directory');
      await must(sys.symlinkat('f', -100, `${m}/ln`), 'symlink');
      await expectErr(set('ln', 'user.x', str('x')), EPERM, 'user.* on a symlink');
      await must(set('ln', 'trusted.on-link', str('ok')), 'trusted.* on a symlink');
      // POSIX ACLs: a named user entry (stored, sets the mode's group bits from the mask), one the
      // mode says all (not stored, only the mode), a default ACL on a directory, and refusals.
      await mk('acl1');
      await must(set('acl1', 'system.posix_acl_access', acl([[U_OBJ, 6, 0], [USER, 4, 1234], [G_OBJ, 4, 0], [MASK, 5, 0], [OTHER, 0, 0]])), 'access ACL');
      await mk('acl2');
      await must(set('acl2', 'system.posix_acl_access', acl([[U_OBJ, 7, 0], [G_OBJ, 5, 0], [OTHER, 1, 0]])), 'access ACL equal to a mode');
      await must(set('d', 'system.posix_acl_default', acl([[U_OBJ, 7, 0], [G_OBJ, 5, 0], [GROUP, 7, 99], [MASK, 7, 0], [OTHER, 5, 0]])), 'default ACL');
      await expectErr(set('acl1', 'system.posix_acl_default', acl([[U_OBJ, 7, 0], [G_OBJ, 5, 0], [OTHER, 1, 0]])), EACCES, 'a default ACL on a file');
      await expectErr(set('acl1', 'system.posix_acl_access', acl([[U_OBJ, 7, 0], [OTHER, 1, 0]])), EINVAL, 'an ACL without a group entry');
      // Copy on write of the host's shared block: one inode adds, one removes everything from
      // the block, one changes a value; the fourth keeps the original.
      if (shared) {
        await must(set('shared0', 'user.extra', bytes(9, Math.floor(bs / 4))), 'add to a shared set');
        await must(sys.lremovexattr(`${m}/shared1`, 'user.big'), 'remove from a shared set');
        await must(sys.lremovexattr(`${m}/shared1`, 'user.other'), 'remove from a shared set');
        await must(set('shared2', 'user.big', bytes(10, Math.floor(bs / 2))), 'change a shared value');
      }
      ours = await ourTree(b.k, m);
      await b.api.umountDev(id);
    } finally {
      await b.k.halt();
    }
    const host = await assertTreeOracle(t, ours, img);
    assert.equal(fileAcl(img, '/drop'), 0, `File ACL of a file whose block attributes were all removed: got ${fileAcl(img, '/drop')}, want 0`);
    if (shared) {
      const blocks = [0, 1, 2, 3].map((i) => fileAcl(img, `/shared${i}`));
      assert.equal(blocks[1], 0, `shared1 after removing everything: got block ${blocks[1]}, want none`);
      assert.ok(blocks[0] !== blocks[3] && blocks[2] !== blocks[3] && blocks[0] !== blocks[2],
        `blocks after copy on write: got ${blocks.join(',')}, want shared0, shared2, shared3 on blocks of their own`);
    }
    if (!host) return;
    assert.equal((host.get('acl1')?.mode ?? 0) & 0o777, 0o650, `acl1 mode on the host: got ${((host.get('acl1')?.mode ?? 0) & 0o777).toString(8)}, want 650`);
    assert.equal((host.get('acl2')?.mode ?? 0) & 0o777, 0o751, `acl2 mode on the host: got ${((host.get('acl2')?.mode ?? 0) & 0o777).toString(8)}, want 751`);
    assert.equal(host.get('acl2')?.xattrs['system.posix_acl_access'], undefined, 'acl2: got a stored ACL, want only the mode');
    assert.ok(host.get('acl1')?.xattrs['system.posix_acl_access'] !== undefined, 'acl1: got no stored ACL on the host, want the named-user ACL');
    assert.ok(host.get('d')?.xattrs['system.posix_acl_default'] !== undefined, 'd: got no default ACL on the host, want the one set');
  });
}

const skip = HAVE ? false : 'e2fsprogs missing';
test('xattrs on ext4 (4 KiB, 256-byte inodes, metadata_csum): in-inode and block, shared blocks copied on write', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-b', '4096'], 32);
});
test('xattrs on ext4 with 128-byte inodes (block only) and 1 KiB blocks without metadata_csum', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-b', '1024', '-I', '128', '-O', '^metadata_csum'], 32);
});
test('xattrs on ext2 (1 KiB blocks, no journal)', { skip, timeout: 120_000 }, async (t) => {
  await body(t, ['-t', 'ext2', '-b', '1024'], 32);
});
