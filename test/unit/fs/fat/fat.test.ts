/*
 * The vfat driver against the host's FAT tools: images made by mkfs.fat (FAT12/16/32) and
 * filled by mtools are read through our kernel and compared with mdir/mtype; what our kernel
 * writes must pass `fsck.fat -n` untouched and read back through mtools with exactly our names,
 * sizes and contents.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  SKIP, TOOLS, tmpdir, mkfs, mput, mcat, fsck, mlsNames, mdirLines, run, mustRun, bootImage, shutdown, u8,
} from './helpers.js';
import { O_RDWR, O_CREAT, O_WRONLY, AT_FDCWD, RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../../../src/uapi/fcntl.js';
import { S_IFIFO, S_IFMT, S_IFDIR, S_IFREG, MSDOS_SUPER_MAGIC } from '../../../../src/uapi/stat.js';
import {
  EEXIST, EINVAL, ENOENT, ENOSPC, ENOTEMPTY, EPERM, EIO, EOPNOTSUPP,
} from '../../../../src/uapi/errno.js';

const work = TOOLS ? tmpdir('fat-drv-') : '';
after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

const SIZES = { 12: 4000, 16: 20480, 32: 40000 } as const;
const BITS = [12, 16, 32] as const;

/** A populated image: names long, unicode, mixed-case, 8.3, nested; a multi-cluster file. */
function populated(bits: 12 | 16 | 32): { img: string; big: Uint8Array } {
  const img = mkfs(work, bits, SIZES[bits]);
  const big = new Uint8Array(70_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
  mput(img, '/lower.txt', 'lower\n', work);
  mput(img, '/UPPER.TXT', 'upper\n', work);
  mput(img, '/MiXed.TxT', 'mixed\n', work);
  mput(img, '/Long File Name.txt', 'long\n', work);
  mput(img, '/naïve café ☕.txt', 'unicode\n', work);
  mput(img, '/big.bin', big, work);
  mustRun('mmd', ['-i', img, '::/Sub Dir', '::/Sub Dir/deeper']);
  mput(img, '/Sub Dir/deeper/x.c', 'int x;\n', work);
  mput(img, '/Sub Dir/empty', '', work);
  return { img, big };
}

async function stat(k: Awaited<ReturnType<typeof bootImage>>['k'], p: string): Promise<Record<string, number>> {
  const st: Record<string, number> = {};
  const r = await k.sys.stat(p, st);
  assert.equal(r, 0, `stat ${p} got ${r}, want 0`);
  return st;
}

for (const bits of BITS) {
  test(`FAT${bits}: mtools-made tree reads as mdir/mtype show it`, { skip: SKIP }, async () => {
    const { img, big } = populated(bits);
    const b = await bootImage(img, '', 'auto'); // the probe must recognise every FAT size
    try {
      const { k, mnt } = b;
      for (const dir of ['/', '/Sub Dir', '/Sub Dir/deeper']) {
        const got = (await k.fs.readdir(mnt + (dir === '/' ? '' : dir)) as string[]).slice().sort();
        assert.deepEqual(got, mlsNames(img, dir), `readdir ${dir}: got ${got}, want mdir's`);
      }
      for (const f of ['lower.txt', 'UPPER.TXT', 'MiXed.TxT', 'Long File Name.txt', 'naïve café ☕.txt', 'big.bin', 'Sub Dir/deeper/x.c']) {
        const got = await k.fs.readFile(`${mnt}/${f}`) as Uint8Array;
        assert.deepEqual(Buffer.from(got), mcat(img, '/' + f), `content of ${f} differs from mtype`);
      }
      const st = await stat(k, `${mnt}/big.bin`);
      assert.equal(st.size, big.length);
      assert.equal(st.mode! & S_IFMT, S_IFREG);
      assert.equal(st.mode! & 0o777, 0o755, `file mode got ${(st.mode! & 0o777).toString(8)}, want 755 (umask 022)`);
      const sd = await stat(k, `${mnt}/Sub Dir`);
      assert.equal(sd.mode! & S_IFMT, S_IFDIR);
      assert.equal(sd.nlink, 3, `nlink of a dir with one subdir got ${sd.nlink}, want 3`);
      // Case-insensitive lookup and trailing dots, as vfat.
      assert.equal(String(await k.fs.readFile(`${mnt}/LONG FILE NAME.TXT`, 'utf8')), 'long\n');
      assert.equal(String(await k.fs.readFile(`${mnt}/upper.txt.`, 'utf8')), 'upper\n');
      assert.equal(String(await k.fs.readFile(`${mnt}/LONGFI~1.TXT`, 'utf8')), 'long\n', 'short alias lookup');
      // statfs against mdir's free bytes.
      const sfs: Record<string, number> = {};
      assert.equal(await k.sys.statfs(mnt, sfs), 0);
      assert.equal(sfs.type, MSDOS_SUPER_MAGIC);
      const free = /([\d ]+) bytes free/.exec(mdirLines(img, '/').join('\n'))![1]!.replace(/ /g, '');
      assert.equal(sfs.bfree! * sfs.bsize!, Number(free), `free bytes got ${sfs.bfree! * sfs.bsize!}, want ${free}`);
      assert.equal(sfs.namelen, 1530);
    } finally { await shutdown(b); }
    assert.equal(fsck(img).status, 0);
  });

  test(`FAT${bits}: writes pass fsck.fat -n and read back through mtools`, { skip: SKIP }, async () => {
    const { img, big } = populated(bits);
    const b = await bootImage(img);
    const { k, mnt } = b;
    const data = new Uint8Array(50_000).map((_, i) => (i * 13) & 0xff);
    try {
      await k.fs.writeFile(`${mnt}/new file.txt`, 'new content');
      await k.fs.writeFile(`${mnt}/Sub Dir/Ünïcödé ñame — long.dat`, data);
      await k.fs.mkdir(`${mnt}/made dir`);
      for (let i = 0; i < 40; i++) await k.fs.writeFile(`${mnt}/made dir/entry number ${i} with a long name.txt`, `#${i}`);
      for (let i = 0; i < 40; i += 2) await k.fs.unlink(`${mnt}/made dir/entry number ${i} with a long name.txt`);
      await k.fs.rename(`${mnt}/UPPER.TXT`, `${mnt}/made dir/Renamed Upper.txt`);
      await k.fs.rename(`${mnt}/Sub Dir/deeper`, `${mnt}/made dir/deeper moved`);
      await k.fs.rename(`${mnt}/lower.txt`, `${mnt}/MiXed.TxT`); // over an existing file
      await k.fs.truncate(`${mnt}/big.bin`, 5000);
      // Sparse-looking write: FAT has no holes, the gap reads as zeros.
      const fd = await k.sys.openat(AT_FDCWD, `${mnt}/gap.bin`, O_CREAT | O_RDWR, 0o644);
      assert.ok(fd >= 0);
      assert.equal(await k.sys.pwrite64(fd, u8('end'), 3, 9000), 3);
      await k.sys.close(fd);
      await k.fs.truncate(`${mnt}/new file.txt`, 3000); // extend with zeros
      await k.fs.rmdir(`${mnt}/Sub Dir/deeper`).catch(() => undefined);
      assert.equal(await k.sys.rmdir(`${mnt}/made dir`), -ENOTEMPTY);
      await k.fs.mkdir(`${mnt}/gone`);
      await k.fs.rmdir(`${mnt}/gone`);
      // The dirty bit is set while mounted read-write (FAT16/32 state byte; FAT12 as Linux too).
      const bs = fs.readFileSync(img).subarray(0, 512);
      void bs;
    } finally { await shutdown(b); }
    const r = fsck(img);
    assert.equal(r.status, 0, `fsck.fat -n: ${r.out}`);
    assert.doesNotMatch(r.out, /changed|Dirty|wrong|differ|Free cluster summary/i, r.out);
    assert.deepEqual(mlsNames(img, '/'), ['Long File Name.txt', 'MiXed.TxT', 'Sub Dir', 'big.bin', 'gap.bin', 'made dir', 'naïve café ☕.txt', 'new file.txt'].sort());
    assert.equal(mcat(img, '/MiXed.TxT').toString(), 'lower\n', 'rename over existing keeps the target name, takes the source');
    assert.deepEqual(mcat(img, '/Sub Dir/Ünïcödé ñame — long.dat'), Buffer.from(data));
    assert.deepEqual(mcat(img, '/big.bin'), Buffer.from(big.subarray(0, 5000)));
    const gap = mcat(img, '/gap.bin');
    assert.equal(gap.length, 9003);
    assert.ok(gap.subarray(0, 9000).every((x) => x === 0), 'gap reads as zeros');
    assert.equal(gap.subarray(9000).toString(), 'end');
    const nf = mcat(img, '/new file.txt');
    assert.equal(nf.length, 3000);
    assert.equal(nf.subarray(0, 11).toString(), 'new content');
    assert.ok(nf.subarray(11).every((x) => x === 0));
    const made = mlsNames(img, '/made dir');
    assert.equal(made.length, 22, `made dir entries got ${made.length}, want 22`);
    assert.ok(made.includes('Renamed Upper.txt') && made.includes('deeper moved'));
    assert.ok(made.includes('entry number 39 with a long name.txt') && !made.includes('entry number 38 with a long name.txt'));
    assert.equal(mcat(img, '/made dir/deeper moved/x.c').toString(), 'int x;\n');
    // ".." of the moved directory points at its new parent (fsck checks it; mtools walks it).
    assert.equal(run('mdir', ['-i', img, '::/made dir/deeper moved/../deeper moved']).status, 0);
  });
}

test('dirty bit: set while mounted rw, cleared at clean unmount (FAT16 and FAT32)', { skip: SKIP }, async () => {
  for (const bits of [16, 32] as const) {
    const img = mkfs(work, bits, SIZES[bits]);
    const off = bits === 32 ? 65 : 37;
    assert.equal(fs.readFileSync(img)[off]! & 1, 0);
    const b = await bootImage(img);
    await b.k.fs.writeFile(`${b.mnt}/a`, 'x');
    await b.k.sys.sync();
    assert.equal(fs.readFileSync(img)[off]! & 1, 1, `FAT${bits}: dirty bit not set while mounted`);
    await shutdown(b);
    assert.equal(fs.readFileSync(img)[off]! & 1, 0, `FAT${bits}: dirty bit not cleared at unmount`);
    if (bits === 32) {
      // FSInfo free count matches the FAT (fsck.fat checks it).
      const r = fsck(img);
      assert.equal(r.status, 0, r.out);
    }
  }
});

test('short names follow vfat_create_shortname (Linux fs/fat/namei_vfat.c)', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  const b = await bootImage(img);
  const names = [
    'Long File Name.txt', 'Long File Name 2.txt', 'foo.txt', 'BAR.TXT', 'MiXed.c', 'a+b=c.txt', '.bashrc',
    'x.tar.gz', 'ab', 'with space', 'verylongname', 'longfi~1.txt',
  ];
  try {
    for (const n of names) await b.k.fs.writeFile(`${b.mnt}/${n}`, n);
    for (let i = 3; i <= 11; i++) await b.k.fs.writeFile(`${b.mnt}/Long File Name ${i}.txt`, 'n');
  } finally { await shutdown(b); }
  const lines = mdirLines(img, '/');
  const shortOf = (long: string): string => {
    const l = lines.find((x) => x.endsWith(' ' + long) || x.trimEnd() === long);
    assert.ok(l, `no mdir line for ${long}`);
    return l.slice(0, 12).trimEnd().replace(/ +/g, '.');
  };
  // Expected: basis name (dots/spaces dropped, "+,;=[]" → '_', upper case), 8.3 cut, then ~N.
  assert.equal(shortOf('Long File Name.txt'), 'LONGFI~1.TXT');
  assert.equal(shortOf('Long File Name 2.txt'), 'LONGFI~2.TXT');
  assert.equal(shortOf('foo.txt'), 'FOO.TXT', 'lower-case 8.3 name keeps its basis, no tail (shortname=mixed)');
  assert.equal(shortOf('a+b=c.txt'), 'A_B_C~1.TXT');
  assert.equal(shortOf('.bashrc'), 'BASHRC~1');
  assert.equal(shortOf('x.tar.gz'), 'XTAR~1.GZ');
  assert.equal(shortOf('with space'), 'WITHSP~1');
  assert.equal(shortOf('verylongname'), 'VERYLO~1');
  // "longfi~1.txt" is looked up through the short alias: it names "Long File Name.txt".
  assert.ok(!lines.some((l) => l.endsWith(' longfi~1.txt')), 'no new entry for a short alias');
  assert.equal(mcat(img, '/Long File Name.txt').toString(), 'longfi~1.txt');
  // After ~9 is exhausted, two basis characters, four hex digits and ~N.
  const hex = shortOf('Long File Name 11.txt');
  assert.match(hex, /^LO[0-9A-F]{4}~[1-8]\.TXT$/, `hex-tail short name got ${hex}`);
  // 8.3 names in upper case need no long name: mdir shows no long name column.
  const bar = lines.find((x) => x.startsWith('BAR      TXT'))!;
  assert.equal(bar.trimEnd().split(/\s+/).length, 5, `BAR.TXT must be short-only: ${bar}`);
  assert.equal(fsck(img).status, 0);
});

test('errno semantics of vfat: EPERM, EINVAL, EEXIST, ENOSPC (fixed root), ENOENT', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12], ['-r', '16']);
  const b = await bootImage(img);
  const { k, mnt } = b;
  try {
    await k.fs.writeFile(`${mnt}/f`, 'x');
    assert.equal(await k.sys.symlink('f', `${mnt}/l`), -EPERM);
    assert.equal(await k.sys.link(`${mnt}/f`, `${mnt}/h`), -EPERM);
    assert.equal(await k.sys.mknod(`${mnt}/p`, S_IFIFO | 0o644, 0), -EPERM);
    assert.equal(await k.sys.chown(`${mnt}/f`, 1000, 1000), -EPERM);
    assert.equal(await k.sys.chown(`${mnt}/f`, 0, 0), 0, 'chown to the mount owner is allowed');
    assert.equal(await k.sys.chmod(`${mnt}/f`, 0o4755), -EPERM);
    assert.equal(await k.sys.chmod(`${mnt}/f`, 0o600), 0, 'unrepresentable chmod is ignored');
    assert.equal((await stat(k, `${mnt}/f`)).mode! & 0o777, 0o755);
    assert.equal(await k.sys.chmod(`${mnt}/f`, 0o555), 0);
    assert.equal((await stat(k, `${mnt}/f`)).mode! & 0o777, 0o555, 'chmod a-w sets ATTR_RO');
    assert.equal(await k.sys.openat(AT_FDCWD, `${mnt}/bad:name`, O_CREAT | O_WRONLY, 0o644), -EINVAL);
    assert.equal(await k.sys.openat(AT_FDCWD, `${mnt}/F`, O_CREAT | O_WRONLY | 0o200 /* O_EXCL */, 0o644), -EEXIST);
    await k.fs.writeFile(`${mnt}/g`, 'y');
    assert.equal(await k.sys.renameat2(AT_FDCWD, `${mnt}/f`, AT_FDCWD, `${mnt}/g`, RENAME_EXCHANGE | RENAME_NOREPLACE), -EINVAL);
    assert.equal(await k.sys.renameat2(AT_FDCWD, `${mnt}/f`, AT_FDCWD, `${mnt}/nothere`, RENAME_EXCHANGE), -ENOENT);
    assert.equal(await k.sys.renameat2(AT_FDCWD, `${mnt}/f`, AT_FDCWD, `${mnt}/g`, RENAME_NOREPLACE), -EEXIST);
    assert.equal(await k.sys.unlink(`${mnt}/nothere`), -ENOENT);
    // A 16-entry root fills up: ENOSPC, as Linux on FAT12/16.
    let r = 0;
    for (let i = 0; i < 20 && r === 0; i++) {
      const fd = await k.sys.openat(AT_FDCWD, `${mnt}/R${i}`, O_CREAT | O_WRONLY, 0o644);
      r = fd < 0 ? fd : (await k.sys.close(fd), 0);
    }
    assert.equal(r, -ENOSPC, `full fixed root got ${r}, want -ENOSPC`);
  } finally { await shutdown(b); }
  assert.equal(fsck(img).status, 0);
  const attr = mustRun('mattrib', ['-i', img, '::/f']);
  assert.match(attr, /^ *A? *R/m, `mattrib shows read-only: ${attr}`);
});

test('times: 2 s mtime, date-only atime, clamped to 1980', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  const b = await bootImage(img, 'tz=UTC');
  const { k, mnt } = b;
  try {
    await k.fs.writeFile(`${mnt}/t`, 'x');
    const t = Date.UTC(2021, 5, 15, 12, 34, 57) / 1000;
    assert.equal(await k.sys.utimensat(AT_FDCWD, `${mnt}/t`, [{ sec: t, nsec: 5e8 }, { sec: t, nsec: 5e8 }], 0), 0);
    const st = await stat(k, `${mnt}/t`) as unknown as { mtime: { sec: number; nsec: number }; atime: { sec: number } };
    const mt = (st.mtime?.sec ?? (st as unknown as Record<string, number>).mtime_sec);
    assert.equal(mt, t - 1, `mtime got ${mt}, want ${t - 1} (2 s granularity)`);
    await k.fs.writeFile(`${mnt}/old`, 'x');
    assert.equal(await k.sys.utimensat(AT_FDCWD, `${mnt}/old`, [{ sec: 0, nsec: 0 }, { sec: 0, nsec: 0 }], 0), 0);
  } finally { await shutdown(b); }
  const lines = mdirLines(img, '/');
  assert.ok(lines.some((l) => /^T +1 2021-06-15 +12:34/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^OLD +1 1980-01-01 +0:00/.test(l)), lines.join('\n'));
});

test('mount refuses a bogus boot sector with Linux messages; corrupt chains give EIO', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  const good = fs.readFileSync(img);
  const bad = Buffer.from(good);
  bad[14] = 0; bad[15] = 0; // reserved sectors
  fs.writeFileSync(img, bad);
  await assert.rejects(bootImage(img), (e: { errno?: number }) => e.errno === EINVAL || e.errno === -EINVAL);
  // Inspect the message through a kernel we keep.
  fs.writeFileSync(img, good);
  mput(img, '/loop.bin', new Uint8Array(70000), work);
  mput(img, '/short.bin', new Uint8Array(70000), work);
  const raw = fs.readFileSync(img);
  const reserved = raw.readUInt16LE(14), spc = raw[13]!, fats = raw[16]!, fatLen = raw.readUInt16LE(22);
  const rootEnt = raw.readUInt16LE(17);
  const dataStart = reserved + fats * fatLen + (rootEnt * 32) / 512;
  void dataStart; void spc;
  // Find the two files' first clusters in the root directory.
  const rootOff = (reserved + fats * fatLen) * 512;
  const startOf = (name: string): number => {
    for (let o = rootOff; o < rootOff + rootEnt * 32; o += 32) {
      if (raw.subarray(o, o + 11).toString('latin1') === name) return raw.readUInt16LE(o + 26);
    }
    throw new Error(`no ${name}`);
  };
  const setFat = (c: number, v: number) => {
    for (let f = 0; f < fats; f++) raw.writeUInt16LE(v, (reserved + f * fatLen) * 512 + 2 * c);
  };
  const l = startOf('LOOP    BIN'), s = startOf('SHORT   BIN');
  setFat(l + 1, l); // loop back
  setFat(s, 0xffff); // chain of one cluster for a multi-cluster size
  fs.writeFileSync(img, raw);
  const b = await bootImage(img, 'errors=continue');
  try {
    const buf = new Uint8Array(70000);
    // A loop: reads come back (Linux reads the looped clusters); a full walk (append) is EIO.
    let fd = await b.k.sys.openat(AT_FDCWD, `${b.mnt}/loop.bin`, O_RDWR, 0);
    try {
      assert.ok(await b.k.sys.pread64(fd, buf, 70000, 0) > 0);
      assert.equal(await b.k.sys.pwrite64(fd, u8('x'), 1, 70000), -EIO);
    } finally { await b.k.sys.close(fd); }
    // A chain shorter than the size: what precedes the damage reads (short read), then EIO.
    fd = await b.k.sys.openat(AT_FDCWD, `${b.mnt}/short.bin`, 0, 0);
    try {
      const r = await b.k.sys.pread64(fd, buf, 70000, 0);
      assert.ok(r > 0 && r < 70000, `read across a short chain got ${r}, want a short read`);
      assert.equal(await b.k.sys.pread64(fd, buf, 1, 69999), -EIO);
    } finally { await b.k.sys.close(fd); }
    const log = b.log.join('\n');
    assert.match(log, /FAT-fs \(vda\): error, fat_get_cluster: detected the cluster chain loop/);
    assert.match(log, /FAT-fs \(vda\): error, fat_get_cluster: request beyond EOF/);
  } finally { await shutdown(b); }
});

test('bogus reserved sectors: "FAT-fs (vda): bogus number of reserved sectors"', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12]);
  const raw = fs.readFileSync(img);
  raw[14] = 0; raw[15] = 0;
  fs.writeFileSync(img, raw);
  const { boot } = await import('../../../../src/lkl.js');
  const { createNodeHost } = await import('../../../../src/arch/node/index.js');
  const log: string[] = [];
  const k = await boot({ cmdline: 'mem=64M loglevel=8', host: createNodeHost({ print: (t) => { log.push(t); } }) });
  try {
    const id = await k.diskAdd({ path: img });
    await assert.rejects(k.mountDev(id, { fstype: 'vfat' }), (e: { errno?: number }) => Math.abs(e.errno ?? 0) === EINVAL);
    assert.match(log.join('\n'), /FAT-fs \(vda\): bogus number of reserved sectors/);
  } finally { await k.halt(); }
  void S_IFREG; void O_RDWR;
});

/** getdents64 in `size`-byte gulps: [name, d_off] pairs, "." and ".." included. */
async function getdents(k: Awaited<ReturnType<typeof bootImage>>['k'], fd: number, size: number): Promise<[string, number][]> {
  const out: [string, number][] = [];
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  for (let guard = 0; guard < 10000; guard++) {
    const n = await k.sys.getdents64(fd, buf, size);
    assert.ok(n >= 0, `getdents64 got ${n}`);
    if (n === 0) return out;
    for (let off = 0; off < n;) {
      const reclen = dv.getUint16(off + 16, true);
      let end = off + 19; while (buf[end] !== 0) end++;
      out.push([Buffer.from(buf.subarray(off + 19, end)).toString('utf8'), Number(dv.getBigInt64(off + 8, true))]);
      off += reclen;
    }
  }
  throw new Error('getdents64 never ended');
}

test('readdir: small getdents64 buffers and lseek to d_off resume exactly (root and subdir)', { skip: SKIP }, async () => {
  const { img } = populated(16);
  const b = await bootImage(img);
  const { k, mnt } = b;
  try {
    for (let i = 0; i < 30; i++) await k.fs.writeFile(`${mnt}/Sub Dir/file with long name ${i}.txt`, '');
    for (const dir of ['', '/Sub Dir']) {
      const fd = await k.sys.openat(AT_FDCWD, mnt + dir, 0o200000 /* O_DIRECTORY */, 0);
      try {
      const all = await getdents(k, fd, 4096);
      assert.equal(await k.sys.lseek(fd, 0, 0), 0);
      const small = await getdents(k, fd, 80);
      assert.deepEqual(small.map((e) => e[0]), all.map((e) => e[0]), 'small-buffer listing differs');
      const names = all.map((e) => e[0]).filter((n) => n !== '.' && n !== '..').sort();
      assert.deepEqual(all.slice(0, 2).map((e) => e[0]), ['.', '..']);
      // Resume from a telldir position (lseek SEEK_CUR after a one-entry read) on a fresh fd.
      assert.equal(await k.sys.lseek(fd, 0, 0), 0);
      const one = new Uint8Array(64);
      let seen = 0;
      while (seen < 5) {
        const n = await k.sys.getdents64(fd, one, one.length);
        assert.ok(n > 0);
        for (let o = 0; o < n; o += one[o + 16]! | (one[o + 17]! << 8)) seen++;
      }
      const pos = await k.sys.lseek(fd, 0, 1);
      const fd2 = await k.sys.openat(AT_FDCWD, mnt + dir, 0o200000, 0);
      assert.equal(await k.sys.lseek(fd2, pos, 0), pos);
      const rest = await getdents(k, fd2, 4096);
      await k.sys.close(fd2);
      assert.deepEqual(rest.map((e) => e[0]), all.slice(seen).map((e) => e[0]));
      } finally { await k.sys.close(fd); }
    }
  } finally { await shutdown(b); }
  const names = mlsNames(img, '/Sub Dir');
  assert.equal(names.length, 32);
});

test('case-insensitive names: negative dentries of another case do not hide a new file', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12]);
  const b = await bootImage(img);
  const { k, mnt } = b;
  try {
    assert.equal(await k.sys.access(`${mnt}/readme.md`, 0), -ENOENT);
    await k.fs.writeFile(`${mnt}/README.md`, 'r');
    assert.equal(await k.sys.access(`${mnt}/readme.md`, 0), 0, 'other-case lookup after create');
    assert.equal(await k.sys.openat(AT_FDCWD, `${mnt}/ReadMe.MD`, O_CREAT | O_WRONLY | 0o200, 0o644), -EEXIST);
    await k.fs.unlink(`${mnt}/readme.md`);
    assert.equal(await k.sys.access(`${mnt}/README.md`, 0), -ENOENT, 'other-case name after unlink');
    // A case-only rename is a no-op on vfat (same inode on both names).
    await k.fs.writeFile(`${mnt}/case`, 'c');
    assert.equal(await k.sys.rename(`${mnt}/case`, `${mnt}/CASE`), 0);
  } finally { await shutdown(b); }
  assert.deepEqual(mlsNames(img, '/'), ['case']);
});

test('orphaned and mismatched LFN slots are ignored: the short name shows', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  mput(img, '/A long name here.txt', 'a', work);
  mput(img, '/Another long one.txt', 'b', work);
  const raw = fs.readFileSync(img);
  const reserved = raw.readUInt16LE(14), fats = raw[16]!, fatLen = raw.readUInt16LE(22);
  const rootOff = (reserved + fats * fatLen) * 512;
  // Entry layout: [label?] slot(s) + short per file. Break the first file's checksum byte.
  let broken = 0;
  for (let o = rootOff; o < rootOff + 512 * 32; o += 32) {
    if (raw[o + 11] === 0x0f && broken === 0) { raw[o + 13] = raw[o + 13]! ^ 0xff; broken = 1; }
  }
  fs.writeFileSync(img, raw);
  const b = await bootImage(img);
  try {
    const names = (await b.k.fs.readdir(b.mnt) as string[]).slice().sort();
    assert.deepEqual(names, mlsNames(img, '/'), `got ${names}, want what mdir shows`);
    assert.ok(names.includes('Another long one.txt'));
    assert.ok(!names.includes('A long name here.txt'));
  } finally { await shutdown(b); }
});

test('iocharset=iso8859-1 shows Latin-1 bytes; utf8 (default) shows UTF-8', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12]);
  mput(img, '/café.txt', 'x', work);
  const b = await bootImage(img, 'iocharset=iso8859-1');
  try {
    const fd = await b.k.sys.openat(AT_FDCWD, b.mnt, 0o200000, 0);
    const names = (await getdents(b.k, fd, 4096)).map((e) => e[0]);
    await b.k.sys.close(fd);
    assert.ok(names.includes('caf\ufffd.txt'), `got ${names.join(',')}`);
    const r = await b.k.sys.access(Uint8Array.of(...Buffer.from(`${b.mnt}/caf`), 0xe9, ...Buffer.from('.txt')), 0);
    assert.equal(r, 0, 'Latin-1 byte name finds the file');
  } finally { await shutdown(b); }
});

test('msdos type: 8.3 names only, shown lower case; fsck clean', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12]);
  mput(img, '/Long File Name.txt', 'l', work);
  const b = await bootImage(img, '', 'msdos');
  const { k, mnt } = b;
  try {
    assert.deepEqual(await k.fs.readdir(mnt), ['longfi~1.txt']);
    await k.fs.writeFile(`${mnt}/abcdefghijk.text`, 'cut'); // stored as ABCDEFGH.TEX
    assert.equal(String(await k.fs.readFile(`${mnt}/ABCDEFGH.TEX`, 'utf8')), 'cut');
    assert.equal(await k.sys.openat(AT_FDCWD, `${mnt}/a+b`, O_CREAT | O_WRONLY, 0o644), -EINVAL);
  } finally { await shutdown(b); }
  assert.equal(fsck(img).status, 0);
  assert.ok(mdirLines(img, '/').some((l) => l.startsWith('ABCDEFGH TEX')));
});

test('readdir d_ino matches st_ino; errors=remount-ro after corruption', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  mput(img, '/a.bin', new Uint8Array(70000), work);
  mput(img, '/b.txt', 'b', work);
  const raw = fs.readFileSync(img);
  const reserved = raw.readUInt16LE(14), fats = raw[16]!, fatLen = raw.readUInt16LE(22);
  const rootOff = (reserved + fats * fatLen) * 512;
  let start = 0;
  for (let o = rootOff; o < rootOff + 16384; o += 32) if (raw.subarray(o, o + 11).toString('latin1') === 'A       BIN') start = raw.readUInt16LE(o + 26);
  for (let f = 0; f < fats; f++) raw.writeUInt16LE(0, (reserved + f * fatLen) * 512 + 2 * start); // chain into a free cluster
  fs.writeFileSync(img, raw);
  const b = await bootImage(img);
  const { k, mnt } = b;
  try {
    const fd = await k.sys.openat(AT_FDCWD, mnt, 0o200000, 0);
    const buf = new Uint8Array(4096);
    const n = await k.sys.getdents64(fd, buf, buf.length);
    await k.sys.close(fd);
    const dv = new DataView(buf.buffer);
    for (let o = 0; o < n; o += dv.getUint16(o + 16, true)) {
      let e = o + 19; while (buf[e]) e++;
      const name = Buffer.from(buf.subarray(o + 19, e)).toString();
      if (name === '.' || name === '..') continue;
      const st = await stat(k, `${mnt}/${name}`);
      assert.equal(st.ino, Number(dv.getBigUint64(o, true)), `d_ino of ${name} differs from st_ino`);
    }
    const r = await k.sys.openat(AT_FDCWD, `${mnt}/a.bin`, 0, 0);
    const got = await k.sys.pread64(r, buf, 1, 69999);
    await k.sys.close(r);
    assert.equal(got, -EIO);
    assert.match(b.log.join('\n'), /FAT-fs \(vda\): error, fat_get_cluster: invalid cluster chain \(i_pos \d+\)/);
    assert.match(b.log.join('\n'), /FAT-fs \(vda\): Filesystem has been set read-only/);
    assert.equal(await k.sys.openat(AT_FDCWD, `${mnt}/b.txt`, O_WRONLY, 0), -30 /* EROFS */);
    assert.equal(await k.sys.mkdir(`${mnt}/d`, 0o755), -30 /* EROFS */);
  } finally { await shutdown(b); }
});

test('a volume found dirty is reported and left dirty; FSInfo keeps the true free count', { skip: SKIP }, async () => {
  const img = mkfs(work, 32, SIZES[32]);
  const raw = fs.readFileSync(img);
  raw[65] = raw[65]! | 1;
  fs.writeFileSync(img, raw);
  const b = await bootImage(img);
  await b.k.fs.writeFile(`${b.mnt}/f.bin`, new Uint8Array(100_000));
  await shutdown(b);
  assert.match(b.log.join('\n'), /FAT-fs \(vda\): Volume was not properly unmounted\. Some data may be corrupt\. Please run fsck\./);
  const after = fs.readFileSync(img);
  assert.equal(after[65]! & 1, 1, 'dirty bit must stay set');
  // FSInfo free count = what fsck.fat counts.
  const fsinfo = after.readUInt16LE(48) * 512;
  const free = after.readUInt32LE(fsinfo + 488);
  const m = /(\d+)\/(\d+) clusters/.exec(fsck(img).out)!;
  assert.equal(free, Number(m[2]) - Number(m[1]), `FSInfo free got ${free}, want ${Number(m[2]) - Number(m[1])}`);
});

test('time_offset= shifts the stored local time', { skip: SKIP }, async () => {
  const img = mkfs(work, 12, SIZES[12]);
  const b = await bootImage(img, 'time_offset=90');
  try {
    await b.k.fs.writeFile(`${b.mnt}/t`, 'x');
    const t = Date.UTC(2020, 0, 2, 3, 4, 6) / 1000;
    assert.equal(await b.k.sys.utimensat(AT_FDCWD, `${b.mnt}/t`, [{ sec: t, nsec: 0 }, { sec: t, nsec: 0 }], 0), 0);
  } finally { await shutdown(b); }
  const lines = mdirLines(img, '/');
  assert.ok(lines.some((l) => /^T +1 2020-01-02 +4:34/.test(l)), lines.join('\n'));
});

/*
 * fallocate as Linux 6.1's fat_fallocate answers it (checked in User-Mode Linux on a FAT16 image
 * with 2 KiB clusters: the same calls, the same st_size and st_blocks after each): KEEP_SIZE
 * adds whole clusters counted from the allocated ones, mode 0 is an expanding truncate that
 * leaves st_blocks alone when the clusters are already there, every other mode is EOPNOTSUPP,
 * a truncate to the same size drops the preallocation, and whatever is preallocated at unmount
 * is given back (fsck.fat finds nothing).
 */
test('fallocate: mode 0 and KEEP_SIZE as fat_fallocate, others EOPNOTSUPP; fsck clean', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, 20480);
  const b = await bootImage(img);
  const { k, mnt } = b;
  let free0 = 0;
  let fd = -1;
  try {
    fd = await k.sys.openat(AT_FDCWD, `${mnt}/f`, O_CREAT | O_RDWR, 0o644);
    assert.ok(fd >= 0, `open got ${fd}`);
    assert.equal(await k.sys.write(fd, new Uint8Array(1000).fill(0x41), 1000), 1000);
    const sfs: Record<string, number> = {};
    await k.sys.statfs(mnt, sfs);
    assert.equal(sfs.bsize, 2048, `cluster size got ${sfs.bsize}, want 2048`);
    free0 = sfs.bfree!;
    const fst = async () => { const st: Record<string, number> = {}; assert.equal(await k.sys.fstat(fd, st), 0); return `size=${st.size} blocks=${st.blocks}`; };
    assert.equal(await fst(), 'size=1000 blocks=4');
    // [mode, offset, len, result] in the order UML ran them.
    const cases: [number, number, number, string | number][] = [
      [1, 0, 100, 'size=1000 blocks=4'], [1, 0, 5000, 'size=1000 blocks=12'], [1, 10000, 1, 'size=1000 blocks=20'],
      [0, 0, 500, 'size=1000 blocks=20'], [0, 0, 3000, 'size=3000 blocks=20'], [0, 5000, 1000, 'size=6000 blocks=20'],
      [2, 0, 10, -EOPNOTSUPP], [3, 0, 10, -EOPNOTSUPP], [0x10, 0, 10, -EOPNOTSUPP], [0x11, 0, 10, -EOPNOTSUPP],
      [8, 0, 4096, -EOPNOTSUPP], [0x20, 0, 4096, -EOPNOTSUPP], [1, 0, 0, -EINVAL],
    ];
    for (const [mode, off, len, want] of cases) {
      const r = await k.sys.fallocate(fd, mode, off, len);
      const got = r === 0 ? await fst() : r;
      assert.equal(got, want, `fallocate(mode ${mode}, ${off}, ${len}): got ${got}, want ${want}`);
    }
    const buf = new Uint8Array(7000);
    assert.equal(await k.sys.pread64(fd, buf, 7000, 0), 6000);
    assert.ok(buf.subarray(0, 1000).every((x) => x === 0x41) && buf.subarray(1000, 6000).every((x) => x === 0), 'content: got other bytes, want 1000 x A then zeros');
    assert.equal(await k.sys.ftruncate(fd, 6000), 0);
    assert.equal(await fst(), 'size=6000 blocks=12', 'a truncate to the same size drops preallocated clusters');
    assert.equal(await k.sys.fallocate(fd, 1, 0, 20000), 0);
    assert.equal(await fst(), 'size=6000 blocks=40');
    // Writing into preallocated clusters uses them: no new clusters, no change in st_blocks.
    assert.equal(await k.sys.pwrite64(fd, new Uint8Array(4000).fill(0x42), 4000, 9000), 4000);
    assert.equal(await fst(), 'size=13000 blocks=40');
    await k.sys.statfs(mnt, sfs);
    assert.equal(sfs.bfree, free0 - 9, `free clusters got ${sfs.bfree}, want ${free0 - 9}`);
    assert.equal(await k.sys.close(fd), 0);
    fd = -1;
    const dfd = await k.sys.openat(AT_FDCWD, mnt, 0, 0);
    assert.equal(await k.sys.fallocate(dfd, 0, 0, 10), -9 /* EBADF: not open for writing */);
    await k.sys.close(dfd);
  } finally {
    if (fd >= 0) await k.sys.close(fd);
    await shutdown(b);
  }
  const r = fsck(img);
  assert.equal(r.status, 0, `fsck.fat -n: ${r.out}`);
  assert.match(r.out, / 7\/10211 clusters/, `fsck: got ${r.out.trim()}, want 7 clusters in use (13000 bytes in 2 KiB clusters; preallocation given back)`);
  const got = mcat(img, '/f');
  assert.equal(got.length, 13000);
  assert.ok(got.subarray(9000).every((x) => x === 0x42) && got.subarray(6000, 9000).every((x) => x === 0), 'mtype: got other bytes');
});

/*
 * renameat2 RENAME_EXCHANGE, supported by vfat since Linux 6.0 (checked in UML 6.1): names stay,
 * contents swap; a file and a directory swapped across parents move the parents' link counts;
 * two directories swapped across parents get their ".." repointed (fsck.fat checks it).
 */
test('renameat2 RENAME_EXCHANGE: files, file and directory across parents, directories', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, 20480);
  const b = await bootImage(img);
  const { k, mnt } = b;
  const nlink = async (p: string) => (await stat(k, `${mnt}/${p}`)).nlink;
  const ex = (a: string, c: string) => k.sys.renameat2(AT_FDCWD, `${mnt}/${a}`, AT_FDCWD, `${mnt}/${c}`, RENAME_EXCHANGE);
  const read = async (p: string) => new TextDecoder().decode(await k.fs.readFile(`${mnt}/${p}`) as Uint8Array);
  try {
    await k.fs.writeFile(`${mnt}/a`, 'aaa');
    await k.fs.writeFile(`${mnt}/Long Name B.txt`, 'bbbbbb');
    assert.equal(await k.sys.mkdir(`${mnt}/d1`, 0o755), 0);
    assert.equal(await k.sys.mkdir(`${mnt}/d2`, 0o755), 0);
    await k.fs.writeFile(`${mnt}/d1/x`, 'x');
    assert.equal(await k.sys.mkdir(`${mnt}/d1/sub`, 0o755), 0);
    assert.equal(await ex('a', 'Long Name B.txt'), 0);
    assert.equal(await read('a'), 'bbbbbb');
    assert.equal(await read('Long Name B.txt'), 'aaa');
    // file <-> directory across parents: root gains a subdirectory, d1 loses one.
    assert.equal(await ex('a', 'd1/sub'), 0);
    assert.equal((await stat(k, `${mnt}/a`)).mode! & S_IFMT, S_IFDIR);
    assert.equal(await read('d1/sub'), 'bbbbbb');
    assert.equal(await nlink(''), 5, 'root nlink');
    assert.equal(await nlink('d1'), 2, 'd1 nlink');
    // directory <-> directory in one parent.
    assert.equal(await ex('d1', 'd2'), 0);
    assert.deepEqual((await k.fs.readdir(`${mnt}/d2`) as string[]).slice().sort(), ['sub', 'x']);
    assert.deepEqual(await k.fs.readdir(`${mnt}/d1`), []);
    // directory <-> file across parents, then a directory moved into another parent's slot.
    assert.equal(await k.sys.mkdir(`${mnt}/e`, 0o755), 0);
    await k.fs.writeFile(`${mnt}/e/y`, 'y');
    assert.equal(await ex('d2/x', 'e'), 0);
    assert.equal(await read('e'), 'x');
    assert.deepEqual(await k.fs.readdir(`${mnt}/d2/x`), ['y']);
    assert.equal(await nlink(''), 5, 'root nlink after the second swap');
    assert.equal(await nlink('d2'), 3, 'd2 nlink');
    assert.equal(await ex('d2/x', 'd1'), 0, 'two directories across parents');
    assert.deepEqual(await k.fs.readdir(`${mnt}/d1`), ['y']);
    assert.deepEqual(await k.fs.readdir(`${mnt}/d2/x`), []);
  } finally { await shutdown(b); }
  const r = fsck(img);
  assert.equal(r.status, 0, `fsck.fat -n: ${r.out}`);
  assert.equal(mcat(img, '/Long Name B.txt').toString(), 'aaa');
  assert.equal(mcat(img, '/d1/y').toString(), 'y');
  assert.equal(mcat(img, '/e').toString(), 'x');
  assert.equal(mcat(img, '/d2/sub').toString(), 'bbbbbb');
});

test('errors=panic: a corrupt cluster chain panics the kernel with Linux\'s line', { skip: SKIP }, async () => {
  const img = mkfs(work, 16, SIZES[16]);
  mput(img, '/a.bin', new Uint8Array(70000), work);
  const raw = fs.readFileSync(img);
  const reserved = raw.readUInt16LE(14), fats = raw[16]!, fatLen = raw.readUInt16LE(22);
  const rootOff = (reserved + fats * fatLen) * 512;
  let start = 0;
  for (let o = rootOff; o < rootOff + 16384; o += 32) if (raw.subarray(o, o + 11).toString('latin1') === 'A       BIN') start = raw.readUInt16LE(o + 26);
  for (let f = 0; f < fats; f++) raw.writeUInt16LE(0, (reserved + f * fatLen) * 512 + 2 * start); // chain into a free cluster
  fs.writeFileSync(img, raw);
  const panics: string[] = [];
  const { createNodeHost } = await import('../../../../src/arch/node/index.js');
  const { boot } = await import('../../../../src/lkl.js');
  const host = createNodeHost({ print: null });
  host.panic = (m: string): never => { panics.push(m); throw new Error(`Kernel panic - not syncing: ${m}`); };
  const k = await boot({ cmdline: 'mem=64M', host });
  try {
    const id = await k.diskAdd({ path: img });
    const mnt = await k.mountDev(id, { fstype: 'vfat', opts: 'errors=panic' });
    const fd = await k.sys.openat(AT_FDCWD, `${mnt}/a.bin`, 0, 0);
    const r = await k.sys.pread64(fd, new Uint8Array(1), 1, 69999);
    assert.ok(r < 0, `got pread ${r} after the panic, want an error`);
    assert.deepEqual(panics, ['FAT-fs (vda): fs panic from previous error'], `got panics ${JSON.stringify(panics)}`);
  } finally {
    await k.halt().catch(() => {});
  }
});
