/*
 * Partition scanning against real tools and the real kernel.
 *
 * Each fixture is an image built at test time by sfdisk or sgdisk (exact commands below), maybe
 * damaged afterwards. Two oracles:
 *   - userspace: `sfdisk --json` on the undamaged image gives the table as written. Linux's rules
 *     turn it into what the kernel shows: MBR extended containers are 2 sectors long (one
 *     logical block on 4K disks), a GPT with a bad primary header shows nothing unless `gpt` is
 *     forced. Our scan must produce exactly that, numbers, starts, sizes, types and ids included.
 *   - kernel: `losetup -P` and /sys/block/loopN/loopNpM/{partition,start,size}. Needs root and a
 *     host kernel built with CONFIG_MSDOS_PARTITION and CONFIG_EFI_PARTITION; it skips with the
 *     reason when either is missing (and when losetup fails outside CI). Loop devices are always
 *     detached and images removed in finally blocks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync, openSync, readSync, writeSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { scanPartitionTable, type PartitionInfo, type ScanOptions } from '../../src/block/partitions/index.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const inCI = !!process.env.CI;

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
const toolsMissing = ['sfdisk', 'sgdisk', 'truncate'].filter((c) => !have(c));

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

// ------------------------------------------------------------------ fixtures

interface Fixture {
  name: string;
  sizeMiB: number;
  sectorSize?: number;
  /** Build the table on an empty image file of the right size. */
  build(img: string): void;
  /** Damage the image after the userspace oracle has read it. */
  damage?(img: string, sectorSize: number): void;
  /** What Linux shows, given the undamaged table: all of it or nothing; and with `gpt` forced. */
  linux: 'table' | 'none';
  forced?: 'table' | 'none';
}

/**
 * sfdisk on the image. sfdisk takes the sector size from the device (2.38 has no --sector-size),
 * so 4K tables are written through a loop device with that logical block size and no part scan.
 */
const sfdisk = (script: string, sectorSize = 512) => (img: string) => {
  if (sectorSize === 512) {
    run('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', img], script);
    return;
  }
  withBlockDev(img, sectorSize, (dev) => run('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', dev], script));
};

/** Run fn on a loop device of the image with the given logical block size (no partition scan). */
function withBlockDev<T>(img: string, sectorSize: number, fn: (dev: string) => T): T {
  const dev = run('losetup', ['--find', '--show', '--sector-size', String(sectorSize), img]).trim();
  try {
    return fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev], { stdio: 'ignore' });
  }
}
const sgdisk = (...args: string[]) => (img: string) => { run('sgdisk', [...args, img]); };

/** XOR one byte of the image file. */
function flipByte(img: string, offset: number): void {
  const fd = openSync(img, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0]! ^= 0x5a;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}
const imgSize = (img: string) => { const fd = openSync(img, 'r'); try { return fstatSync(fd).size; } finally { closeSync(fd); } };

const GPT_THREE = ['-n', '1:2048:+1M', '-t', '1:ef00', '-c', '1:EFI system',
  '-n', '2:0:+2M', '-t', '2:8300', '-c', '2:root',
  '-n', '4:0:+1M', '-t', '4:8200', '-c', '4:swap'];

const FIXTURES: Fixture[] = [
  {
    name: 'MBR: primaries with an empty slot 3',
    sizeMiB: 16, linux: 'table',
    build: sfdisk('label: dos\nlabel-id: 0x12345678\n' +
      'x1 : start=2048, size=4096, type=83, bootable\nx2 : start=6144, size=2048, type=82\nx4 : start=10240, size=4096, type=c\n'),
  },
  {
    name: 'MBR: only slot 3',
    sizeMiB: 8, linux: 'table',
    build: sfdisk('label: dos\nx3 : start=4096, size=4096, type=83\n'),
  },
  {
    name: 'MBR: extended with four logicals, a primary after it',
    sizeMiB: 32, linux: 'table',
    build: sfdisk('label: dos\nlabel-id: 0xcafef00d\n' +
      'x1 : start=2048, size=4096, type=83\nx2 : start=6144, size=40960, type=f\nx3 : start=47104, size=8192, type=83\n' +
      'x5 : start=8192, size=2048, type=83\nx6 : start=12288, size=4096, type=82\n' +
      'x7 : start=18432, size=8192, type=83\nx8 : start=28672, size=1024, type=8e\n'),
  },
  {
    name: 'MBR: 4096-byte sectors with an extended partition',
    sizeMiB: 32, sectorSize: 4096, linux: 'table',
    build: sfdisk('label: dos\nx1 : start=256, size=512, type=83\nx2 : start=1024, size=4096, type=5\n' +
      'x5 : start=1280, size=512, type=83\nx6 : start=2048, size=1024, type=83\n', 4096),
  },
  {
    name: 'GPT: three partitions, entry 3 unused',
    sizeMiB: 16, linux: 'table',
    build: sgdisk(...GPT_THREE),
  },
  {
    name: 'GPT: hybrid MBR (0xEE + a copy of partition 2): GPT wins',
    sizeMiB: 16, linux: 'table',
    build: (img) => { sgdisk(...GPT_THREE)(img); sgdisk('-h', '2')(img); },
  },
  {
    name: 'GPT: corrupt primary header: nothing, or the alternate with gpt forced',
    sizeMiB: 16, linux: 'none', forced: 'table',
    build: sgdisk(...GPT_THREE),
    damage: (img, ss) => flipByte(img, ss + 40),
  },
  {
    name: 'GPT: corrupt primary entry array: nothing, or the alternate with gpt forced',
    sizeMiB: 16, linux: 'none', forced: 'table',
    build: sgdisk(...GPT_THREE),
    damage: (img, ss) => flipByte(img, 2 * ss + 20),
  },
  {
    name: 'GPT: corrupt alternate header: primary used',
    sizeMiB: 16, linux: 'table', forced: 'table',
    build: sgdisk(...GPT_THREE),
    damage: (img, ss) => flipByte(img, imgSize(img) - ss + 8),
  },
  {
    name: 'GPT: both headers corrupt: no partitions',
    sizeMiB: 16, linux: 'none', forced: 'none',
    build: sgdisk(...GPT_THREE),
    damage: (img, ss) => { flipByte(img, ss + 24); flipByte(img, imgSize(img) - ss + 24); },
  },
  {
    name: 'GPT: 4096-byte sectors (sfdisk)',
    sizeMiB: 32, sectorSize: 4096, linux: 'table',
    build: sfdisk('label: gpt\nx1 : start=256, size=1024, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"\n' +
      'x3 : start=2048, size=512, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"\n', 4096),
  },
];

// ------------------------------------------------------------------ oracles

interface SfdiskPart { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }
interface SfdiskTable { label: 'dos' | 'gpt'; id: string; sectorsize?: number; partitions?: SfdiskPart[] }

/** What Linux makes of the table sfdisk reads (512-byte units, containers shortened). */
function linuxView(t: SfdiskTable, sectorSize: number): PartitionInfo[] {
  const ss = sectorSize / 512;
  const out: PartitionInfo[] = [];
  const diskId = t.id.replace(/^0x/, '').toLowerCase();
  for (const p of t.partitions ?? []) {
    const number = Number(/(\d+)$/.exec(p.node)![1]);
    const start = p.start * ss, size = p.size * ss;
    if (t.label === 'dos') {
      const type = parseInt(p.type, 16);
      const ext = type === 0x05 || type === 0x0f || type === 0x85;
      const info: PartitionInfo = { number, startSector: start, nrSectors: ext ? Math.min(size, Math.max(ss, 2)) : size,
        type: `mbr:0x${type.toString(16).padStart(2, '0')}`, bootable: !!p.bootable };
      if (!ext) info.uuid = `${diskId}-${number.toString(16).padStart(2, '0')}`;
      out.push(info);
    } else {
      out.push({ number, startSector: start, nrSectors: size, type: `gpt:${p.type.toLowerCase()}`,
        uuid: p.uuid!.toLowerCase(), name: p.name ?? '', bootable: false });
    }
  }
  return out.sort((a, b) => a.number - b.number);
}

const brief = (ps: Array<Pick<PartitionInfo, 'number' | 'startSector' | 'nrSectors'>>) =>
  ps.map((p) => `${p.number}:${p.startSector}+${p.nrSectors}`).join(' ');

async function ourScan(img: string, sectorSize: number, opts: ScanOptions = {}) {
  const fd = openSync(img, 'r');
  const logs: string[] = [];
  try {
    const size = fstatSync(fd).size;
    const t = await scanPartitionTable((off, len) => {
      const b = Buffer.alloc(len);
      const n = readSync(fd, b, 0, len, off);
      return new Uint8Array(b.buffer, b.byteOffset, n);
    }, size, (_l, m) => logs.push(m), { sectorSize, diskName: 'vda', ...opts });
    return { ...t, logs };
  } finally {
    closeSync(fd);
  }
}

/** The host kernel's partitions of a loop device, from sysfs. */
function kernelView(loopDev: string): Array<Pick<PartitionInfo, 'number' | 'startSector' | 'nrSectors'>> {
  const name = loopDev.replace('/dev/', '');
  const dir = `/sys/block/${name}`;
  const out = [];
  for (const e of readdirSync(dir)) {
    if (!new RegExp(`^${name}p\\d+$`).test(e)) continue;
    const rd = (f: string) => Number(readFileSync(join(dir, e, f), 'utf8').trim());
    out.push({ number: rd('partition'), startSector: rd('start'), nrSectors: rd('size') });
  }
  return out.sort((a, b) => a.number - b.number);
}

/** Whether loop devices can be used here, and whether the kernel parses tables; else why not. */
let kernelOracle: { ok: true } | { ok: false; reason: string; fatal: boolean } | undefined;

function withLoop<T>(img: string, sectorSize: number, fn: (dev: string) => T): T {
  const args = ['-P', '--find', '--show', ...(sectorSize !== 512 ? ['--sector-size', String(sectorSize)] : []), img];
  const dev = run('losetup', args).trim();
  try {
    return fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev], { stdio: 'ignore' });
  }
}

function probeKernel(dir: string): NonNullable<typeof kernelOracle> {
  if (!isRoot) return { ok: false, reason: 'not root: loop devices unavailable', fatal: false };
  if (!have('losetup')) return { ok: false, reason: 'losetup not installed', fatal: inCI };
  const img = join(dir, 'probe.img');
  try {
    run('truncate', ['-s', '4M', img]);
    sfdisk('label: dos\nx1 : start=2048, size=2048, type=83\n')(img);
    const parts = withLoop(img, 512, (dev) => kernelView(dev));
    if (parts.length === 0) {
      return { ok: false, fatal: false, reason: 'the host kernel does not parse partition tables ' +
        '(losetup -P made no loopNp1; kernel built without CONFIG_MSDOS_PARTITION/CONFIG_EFI_PARTITION)' };
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `losetup failed: ${(e as Error).message.split('\n')[0]}`, fatal: inCI };
  } finally {
    rmSync(img, { force: true });
  }
}

// ------------------------------------------------------------------ the tests

const workDir = toolsMissing.length ? '' : mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'lkl-parts-'));
process.on('exit', () => { if (workDir) rmSync(workDir, { recursive: true, force: true }); });

for (const f of FIXTURES) {
  test(f.name, async (t) => {
    if (toolsMissing.length) { t.skip(`missing ${toolsMissing.join(', ')}`); return; }
    const ss = f.sectorSize ?? 512;
    if (ss !== 512 && !isRoot) { t.skip(`${ss}-byte sectors need a loop device (root) for sfdisk`); return; }
    const img = join(workDir, 'disk.img');
    try {
      run('truncate', ['-s', `${f.sizeMiB}M`, img]);
      f.build(img);
      const dump = () => ss === 512 ? run('sfdisk', ['--json', img]) : withBlockDev(img, ss, (dev) => run('sfdisk', ['--json', dev]));
      const table = (JSON.parse(dump()) as { partitiontable: SfdiskTable }).partitiontable;
      const written = linuxView(table, ss);
      assert.ok(written.length > 0, `fixture ${f.name}: sfdisk sees no partitions`);
      f.damage?.(img, ss);

      const ours = await ourScan(img, ss);
      const want = f.linux === 'table' ? written : [];
      assert.equal(brief(ours.parts), brief(want), `default scan: got "${brief(ours.parts)}", want "${brief(want)}"`);
      if (f.linux === 'table') assert.deepEqual(ours.parts, want, 'types, ids, names and boot flags as sfdisk reads them');

      if (f.forced) {
        const forced = await ourScan(img, ss, { forceGpt: true });
        const wantF = f.forced === 'table' ? written : [];
        assert.equal(brief(forced.parts), brief(wantF), `gpt forced: got "${brief(forced.parts)}", want "${brief(wantF)}"`);
        if (f.linux === 'none' && f.forced === 'table') {
          assert.ok(forced.logs.includes('Primary GPT is invalid, using alternate GPT.'), `got logs ${JSON.stringify(forced.logs)}`);
        }
      }
      if (f.name.includes('corrupt alternate')) {
        assert.ok(ours.logs.includes('Alternate GPT is invalid, using primary GPT.'), `got logs ${JSON.stringify(ours.logs)}`);
      }

      kernelOracle ??= probeKernel(workDir);
      if (!kernelOracle.ok) {
        if (kernelOracle.fatal) assert.fail(`kernel oracle unavailable in CI: ${kernelOracle.reason}`);
        t.diagnostic(`kernel comparison skipped: ${kernelOracle.reason}`);
        return;
      }
      const kernel = withLoop(img, ss, (dev) => kernelView(dev));
      assert.equal(brief(ours.parts), brief(kernel), `host kernel: ours "${brief(ours.parts)}", kernel "${brief(kernel)}"`);
    } finally {
      rmSync(img, { force: true });
    }
  });
}

test('kernel oracle availability', (t) => {
  if (toolsMissing.length) { t.skip(`missing ${toolsMissing.join(', ')}`); return; }
  kernelOracle ??= probeKernel(workDir);
  if (!kernelOracle.ok) t.skip(kernelOracle.reason);
});
