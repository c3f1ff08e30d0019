/*
 * `lkl mkfs` as a program: images it makes pass the e2fsprogs/dosfstools checkers and mount in our
 * kernel; usage errors exit 2 with a message; -d's own errors (source missing, image too small)
 * are one line with exit 1 (the -d copy itself is compared with mke2fs -d in
 * mkfs_populate.test.ts). The formatters themselves are compared field by
 * field with mke2fs and mkfs.fat in test/unit/fs/ext4/mkfs and test/unit/fs/fat/mkfs.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { runLkl } from './run_lkl.js';
import { boot } from '../../src/lkl.js';
import { createNodeHost } from '../../src/arch/node/index.js';

let tmp = '';
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lkl-mkfs-')); });
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

async function mountsInOurKernel(img: string, fstype: string): Promise<string[]> {
  const k = await boot({ cmdline: 'mem=32M', host: createNodeHost({ print: null }) });
  try {
    const id = await k.diskAdd({ path: img, readOnly: true });
    const mnt = await k.mountDev(id, { fstype, flags: 1 });
    const names = (await k.fs.readdir(mnt)) as string[];
    await k.umountDev(id);
    return names;
  } finally {
    await k.halt();
  }
}

for (const type of ['ext2', 'ext3', 'ext4'] as const) {
  test(`lkl mkfs -t ${type}: e2fsck -fn clean, label and uuid as asked, mounts in our kernel`, async (t) => {
    if (!have('e2fsck')) { if (process.env.CI) assert.fail('e2fsck missing in CI'); t.skip('e2fsck not installed'); return; }
    const img = path.join(tmp, `${type}.img`);
    const uuid = '0b9c3a5e-6f31-4c57-9a3c-1d2e3f405162';
    const r = await runLkl(['mkfs', '-t', type, '-q', '-L', 'lbl', '-U', uuid, img, '32M']);
    assert.equal(r.code, 0, `got exit ${r.code}, want 0; stderr: ${r.stderr}`);
    assert.equal(fs.statSync(img).size, 32 << 20, 'got a wrong image size, want 32 MiB');
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, `got e2fsck exit ${fsck.status}, want 0:\n${fsck.stdout}${fsck.stderr}`);
    const dump = spawnSync('dumpe2fs', ['-h', img], { encoding: 'utf8' }).stdout;
    assert.match(dump, /Filesystem volume name:\s+lbl\n/, 'got no label lbl in dumpe2fs -h');
    assert.match(dump, new RegExp(`Filesystem UUID:\\s+${uuid}`), 'got another UUID in dumpe2fs -h');
    assert.equal(/has_journal/.test(dump), type !== 'ext2', `got has_journal ${/has_journal/.test(dump)} for ${type}`);
    assert.deepEqual(await mountsInOurKernel(img, type), ['lost+found'], 'got other root entries, want lost+found only');
  });
}

test('lkl mkfs -t vfat: fsck.fat -n clean, the label in mdir, mounts in our kernel', async (t) => {
  if (!have('fsck.fat') || !have('mdir')) { if (process.env.CI) assert.fail('dosfstools/mtools missing in CI'); t.skip('dosfstools or mtools not installed'); return; }
  for (const [fat, size] of [['12', '4M'], ['16', '64M'], ['32', '300M']] as const) {
    const img = path.join(tmp, `fat${fat}.img`);
    const r = await runLkl(['mkfs', '-t', 'vfat', '-F', fat, '-n', 'MYVOL', '-i', '1234abcd', img, size]);
    assert.equal(r.code, 0, `got exit ${r.code}, want 0; stderr: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`FAT${fat},`), `got '${r.stdout.trim()}', want FAT${fat}`);
    const fsck = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
    assert.equal(fsck.status, 0, `got fsck.fat exit ${fsck.status}, want 0:\n${fsck.stdout}${fsck.stderr}`);
    const mdir = spawnSync('mdir', ['-i', img, '::/'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    assert.match(mdir.stdout, /Volume in drive : is MYVOL/, `got mdir:\n${mdir.stdout}${mdir.stderr}`);
    assert.match(mdir.stdout, /Serial Number is 1234-ABCD/, `got mdir:\n${mdir.stdout}`);
    assert.deepEqual(await mountsInOurKernel(img, 'vfat'), [], `FAT${fat}: got root entries, want none`);
  }
});

test('lkl mkfs: usage errors exit 2 with a message, a missing image without size is an error', async () => {
  const img = path.join(tmp, 'none.img');
  let r = await runLkl(['mkfs', '-t', 'xfs', img, '1M']);
  assert.equal(r.code, 2, `got exit ${r.code} for an unknown type, want 2`);
  assert.match(r.stderr, /unknown filesystem type 'xfs'/, `got stderr ${r.stderr}`);
  r = await runLkl(['mkfs', '-t', 'vfat', '-N', '5', img, '1M']);
  assert.equal(r.code, 2, `got exit ${r.code} for -N with vfat, want 2`);
  assert.match(r.stderr, /option -N does not apply to vfat/, `got stderr ${r.stderr}`);
  r = await runLkl(['mkfs', '-t', 'ext4', img]);
  assert.equal(r.code, 2, `got exit ${r.code} for a missing image without size, want 2`);
  assert.match(r.stderr, /no such file/, `got stderr ${r.stderr}`);
  assert.equal(fs.existsSync(img), false, 'got an image created by a failed command');
  r = await runLkl(['mkfs', '-t', 'ext4', img, '12Q']);
  assert.equal(r.code, 2, `got exit ${r.code} for a bad size, want 2`);
});

test('lkl mkfs -d: a missing or non-directory source is one line, exit 1, before the image is made', async () => {
  const img = path.join(tmp, 'd-none.img');
  const missing = path.join(tmp, 'no-such-dir');
  let r = await runLkl(['mkfs', '-t', 'ext4', '-d', missing, img, '8M']);
  assert.equal(r.code, 1, `got exit ${r.code} for a missing -d directory, want 1`);
  assert.equal(r.stderr, `lkl mkfs: -d '${missing}': No such file or directory\n`, `got stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(fs.existsSync(img), false, 'got an image created although -d names nothing');
  const file = path.join(tmp, 'plain-file');
  fs.writeFileSync(file, 'x');
  r = await runLkl(['mkfs', '-t', 'ext4', '-d', file, img, '8M']);
  assert.equal(r.code, 1, `got exit ${r.code} for a -d file, want 1`);
  assert.equal(r.stderr, `lkl mkfs: -d '${file}': Not a directory\n`, `got stderr ${JSON.stringify(r.stderr)}`);
  r = await runLkl(['mkfs', '-t', 'vfat', '-d', tmp, img, '8M']);
  assert.equal(r.code, 2, `got exit ${r.code} for -d with vfat, want 2`);
  assert.match(r.stderr, /option -d does not apply to vfat/, `got stderr ${r.stderr}`);
  r = await runLkl(['mkfs', '-t', 'ext4', img, '8M', '-d']);
  assert.equal(r.code, 2, `got exit ${r.code} for -d without its argument, want 2`);
  assert.match(r.stderr, /argument missing/, `got stderr ${r.stderr}`);
});

test('lkl mkfs -d: a tree larger than the image is one line, exit 1, and the image stays clean', async (t) => {
  if (!have('e2fsck')) { if (process.env.CI) assert.fail('e2fsck missing in CI'); t.skip('e2fsck not installed'); return; }
  const src = path.join(tmp, 'too-big');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'small'), 'fits\n');
  fs.writeFileSync(path.join(src, 'sub', 'large'), randomBytes(6 << 20));
  const img = path.join(tmp, 'd-full.img');
  const r = await runLkl(['mkfs', '-q', '-t', 'ext4', '-d', src, img, '4M'], '', 60_000);
  assert.equal(r.code, 1, `got exit ${r.code}, want 1; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^lkl mkfs: '.*d-full\.img': no space left on the image \(while copying .*large\); give a larger size\n$/, `got stderr ${JSON.stringify(r.stderr)}`);
  const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  assert.equal(fsck.status, 0, `got e2fsck exit ${fsck.status}, want 0 (unmounted cleanly):\n${fsck.stdout}${fsck.stderr}`);
});
