/*
 * Partition scanning on images built in memory: a table of named MBR and GPT cases, each with the
 * partitions, messages and line Linux produces for it (msdos.c/efi.c/core.c rules), then damaged
 * and random images that must give clean results. Real-disk comparisons with sfdisk/sgdisk and the
 * host kernel live in test/partitions/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from '../../../../src/lib/crc32.js';
import {
  scanPartitions, scanPartitionTable, formatPartitionLine, type PartitionInfo, type ScanOptions,
} from '../../../../src/block/partitions/index.js';

// ------------------------------------------------------------------ image builders

const MiB = 1024 * 1024;

function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; b[o + 2] = (v >>> 16) & 0xff; b[o + 3] = (v >>> 24) & 0xff;
}
function putLe64(b: Uint8Array, o: number, v: bigint | number): void {
  const x = BigInt(v);
  putLe32(b, o, Number(x & 0xffffffffn));
  putLe32(b, o + 4, Number((x >> 32n) & 0xffffffffn));
}

interface MbrEntry { slot: number; type: number; start: number; size: number; boot?: boolean }

/** Write a 4-entry table (MBR or EBR) into the 512 bytes at `sector` (512-byte units). */
function writeTable(img: Uint8Array, sector: number, entries: MbrEntry[], disksig = 0): void {
  const s = img.subarray(sector * 512, sector * 512 + 512);
  for (const e of entries) {
    const o = 0x1be + (e.slot - 1) * 16;
    s[o] = e.boot ? 0x80 : 0;
    s[o + 4] = e.type;
    putLe32(s, o + 8, e.start);
    putLe32(s, o + 12, e.size);
  }
  if (disksig) putLe32(s, 0x1b8, disksig);
  s[510] = 0x55; s[511] = 0xaa;
}

function guidBytes(g: string): Uint8Array {
  const h = g.replace(/-/g, '');
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  // First three fields are little-endian on disk.
  b.subarray(0, 4).reverse(); b.subarray(4, 6).reverse(); b.subarray(6, 8).reverse();
  return b;
}

const LINUX_FS = '0fc63daf-8483-4772-8e79-3d69d8477de4';
const EFI_SYS = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const DISK_GUID = '11111111-2222-3333-4444-555555555555';

interface GptEntry { index: number; type: string; uuid: string; first: number; last: number; name?: string; attrs?: bigint }
interface GptSpec {
  sizeBytes: number; lbs?: number; entries: GptEntry[]; numEntries?: number;
  mbr?: MbrEntry[] | null; // default: protective
}

/** A GPT disk: protective MBR, primary header + array at LBA 1/2, backup array + header at the end. */
function makeGpt(spec: GptSpec): Uint8Array {
  const lbs = spec.lbs ?? 512;
  const img = new Uint8Array(spec.sizeBytes);
  const lastLba = spec.sizeBytes / lbs - 1;
  const num = spec.numEntries ?? 128;
  const arrayBytes = num * 128;
  const arrayLbas = Math.ceil(arrayBytes / lbs);
  const arr = new Uint8Array(arrayBytes);
  for (const e of spec.entries) {
    const o = e.index * 128;
    arr.set(guidBytes(e.type), o);
    arr.set(guidBytes(e.uuid), o + 16);
    putLe64(arr, o + 32, e.first);
    putLe64(arr, o + 40, e.last);
    putLe64(arr, o + 48, e.attrs ?? 0n);
    const name = e.name ?? '';
    for (let i = 0; i < name.length && i < 36; i++) { arr[o + 56 + 2 * i] = name.charCodeAt(i) & 0xff; arr[o + 57 + 2 * i] = name.charCodeAt(i) >> 8; }
  }
  const arrCrc = crc32(arr);
  const firstUsable = 2 + arrayLbas, lastUsable = lastLba - 1 - arrayLbas;
  const header = (my: number, alt: number, entryLba: number) => {
    const h = new Uint8Array(lbs);
    h.set(new TextEncoder().encode('EFI PART'), 0);
    putLe32(h, 8, 0x00010000);
    putLe32(h, 12, 92);
    putLe64(h, 24, my); putLe64(h, 32, alt);
    putLe64(h, 40, firstUsable); putLe64(h, 48, lastUsable);
    h.set(guidBytes(DISK_GUID), 56);
    putLe64(h, 72, entryLba);
    putLe32(h, 80, num); putLe32(h, 84, 128); putLe32(h, 88, arrCrc);
    putLe32(h, 16, crc32(h, 0, 92));
    return h;
  };
  img.set(header(1, lastLba, 2), lbs);
  img.set(arr, 2 * lbs);
  img.set(arr, (lastLba - arrayLbas) * lbs);
  img.set(header(lastLba, 1, lastLba - arrayLbas), lastLba * lbs);
  const mbr = spec.mbr === undefined
    ? [{ slot: 1, type: 0xee, start: 1, size: Math.min(lastLba, 0xffffffff) }]
    : spec.mbr;
  if (mbr) writeTable(img, 0, mbr);
  return img;
}

/** Re-seal a header after editing it (recompute its CRC over 92 bytes). */
function resealHeader(img: Uint8Array, lba: number, lbs = 512): void {
  const h = img.subarray(lba * lbs, lba * lbs + 92);
  putLe32(h, 16, 0);
  putLe32(h, 16, crc32(h));
}

// ------------------------------------------------------------------ running a scan

interface Run { parts: PartitionInfo[]; logs: string[]; line: string; label: string | null; error?: string }

async function scan(img: Uint8Array, opts: ScanOptions = {}): Promise<Run> {
  const logs: string[] = [];
  const read = (off: number, len: number) => {
    if (off < 0 || off + len > img.length) throw new Error(`read past end: ${off}+${len}`);
    return img.subarray(off, off + len);
  };
  const t = await scanPartitionTable(read, img.length, (lvl, m) => { if (lvl <= 6) logs.push(m); }, { diskName: 'vda', ...opts });
  return { parts: t.parts, logs, line: formatPartitionLine('vda', t.parts, t.tokens), label: t.label, error: t.error };
}

const brief = (ps: PartitionInfo[]) => ps.map((p) => `${p.number}:${p.startSector}+${p.nrSectors}`).join(' ');

function expectParts(r: Run, want: string, what: string): void {
  assert.equal(brief(r.parts), want, `${what}: got partitions "${brief(r.parts)}", want "${want}"`);
}
function expectLog(r: Run, want: string, what: string): void {
  assert.ok(r.logs.includes(want), `${what}: got logs ${JSON.stringify(r.logs)}, want a line "${want}"`);
}

// ------------------------------------------------------------------ MBR cases

interface Case { name: string; run: () => Promise<void> }

const MBR_CASES: Case[] = [
  {
    name: 'primaries keep their slot numbers (slot 3 empty)',
    run: async () => {
      const img = new Uint8Array(4 * MiB);
      writeTable(img, 0, [
        { slot: 1, type: 0x83, start: 2048, size: 2048, boot: true },
        { slot: 2, type: 0x82, start: 4096, size: 1024 },
        { slot: 4, type: 0x0c, start: 6144, size: 1024 },
      ], 0xdeadbeef);
      const r = await scan(img);
      expectParts(r, '1:2048+2048 2:4096+1024 4:6144+1024', 'primaries');
      assert.equal(r.line, ' vda: vda1 vda2 vda4', `got line "${r.line}", want " vda: vda1 vda2 vda4"`);
      assert.deepEqual(r.parts[0], { number: 1, startSector: 2048, nrSectors: 2048, type: 'mbr:0x83', uuid: 'deadbeef-01', bootable: true });
      assert.equal(r.parts[2]!.uuid, 'deadbeef-04', `got uuid ${r.parts[2]!.uuid}, want deadbeef-04`);
      assert.equal(r.label, 'dos', `got label ${r.label}, want dos`);
    },
  },
  {
    name: 'a disk with only slot 3 used has vda3',
    run: async () => {
      const img = new Uint8Array(2 * MiB);
      writeTable(img, 0, [{ slot: 3, type: 0x83, start: 100, size: 200 }]);
      expectParts(await scan(img), '3:100+200', 'slot 3');
    },
  },
  {
    name: 'extended partition: container of 2 sectors, logicals from 5 in chain order',
    run: async () => {
      const img = new Uint8Array(16 * MiB);
      // Extended in slot 2 covering 4096..16383; three EBRs, the chain out of disk order.
      writeTable(img, 0, [
        { slot: 1, type: 0x83, start: 2048, size: 2048 },
        { slot: 2, type: 0x05, start: 4096, size: 12288 },
        { slot: 3, type: 0x83, start: 16384, size: 100 },
      ]);
      // EBR at 4096: logical at +2048, next EBR at container+8192.
      writeTable(img, 4096, [{ slot: 1, type: 0x83, start: 2048, size: 1000 }, { slot: 2, type: 0x05, start: 8192, size: 4096 }]);
      writeTable(img, 4096 + 8192, [{ slot: 1, type: 0x82, start: 2048, size: 500 }, { slot: 2, type: 0x0f, start: 4096, size: 4096 }]);
      writeTable(img, 4096 + 4096, [{ slot: 1, type: 0x83, start: 10, size: 20 }]);
      const r = await scan(img);
      expectParts(r, '1:2048+2048 2:4096+2 3:16384+100 5:6144+1000 6:14336+500 7:8202+20', 'extended');
      assert.equal(r.line, ' vda: vda1 vda2 < vda5 vda6 vda7 > vda3', `got line "${r.line}"`);
      assert.equal(r.parts[1]!.uuid, undefined, 'the container has no PARTUUID in Linux');
      assert.equal(formatPartitionLine('vda', r.parts), ' vda: vda1 vda2 < vda5 vda6 vda7 > vda3', 'line rebuilt from parts');
      assert.equal(formatPartitionLine('loop0', r.parts), ' loop0: p1 p2 < p5 p6 p7 > p3');
    },
  },
  {
    name: 'extended container of 1 sector is exposed as 1 sector',
    run: async () => {
      const img = new Uint8Array(MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x85, start: 100, size: 1 }]);
      expectParts(await scan(img), '1:100+1', 'tiny extended');
    },
  },
  {
    name: 'EBR entries 3 and 4 outside the container are ignored; 1 and 2 are trusted',
    run: async () => {
      const img = new Uint8Array(4 * MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x05, start: 1000, size: 1000 }]);
      writeTable(img, 1000, [
        { slot: 1, type: 0x83, start: 10, size: 3000 }, // past the container: kept (slot 1)
        { slot: 3, type: 0x83, start: 10, size: 5000 }, // garbage in slot 3: dropped
        { slot: 4, type: 0x83, start: 20, size: 30 }, // plausible slot 4: kept
      ]);
      expectParts(await scan(img), '1:1000+2 5:1010+3000 6:1020+30', 'EBR slots');
    },
  },
  {
    name: 'EBR chain looping through a data partition stops at the partition limit',
    run: async () => {
      const img = new Uint8Array(MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x05, start: 100, size: 1000 }]);
      writeTable(img, 100, [{ slot: 1, type: 0x83, start: 1, size: 10 }, { slot: 2, type: 0x05, start: 0, size: 1000 }]);
      const r = await scan(img);
      assert.equal(r.parts.length, 1 + 251, `got ${r.parts.length} partitions, want 252 (1 and 5..255)`);
      assert.equal(r.parts.at(-1)!.number, 255, `got last ${r.parts.at(-1)!.number}, want 255`);
      const r16 = await scan(img, { maxParts: 16 });
      expectParts(r16, '1:100+2 ' + Array.from({ length: 11 }, (_, i) => `${i + 5}:101+10`).join(' '), 'maxParts 16');
    },
  },
  {
    name: 'EBR chain looping without data partitions ends after 100 links',
    run: async () => {
      const img = new Uint8Array(MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x05, start: 100, size: 1000 }]);
      writeTable(img, 100, [{ slot: 1, type: 0x05, start: 200, size: 10 }]);
      writeTable(img, 300, [{ slot: 1, type: 0x05, start: 0, size: 10 }]);
      let reads = 0;
      const parts = await scanPartitions((o, l) => { reads++; return img.subarray(o, o + l); }, img.length, () => {});
      expectParts({ parts, logs: [], line: '', label: null }, '1:100+2', 'empty loop');
      assert.ok(reads < 20, `got ${reads} backend reads, want the chain served from the sector cache`);
    },
  },
  {
    name: 'partitions beyond the disk end are dropped or clamped, with Linux messages',
    run: async () => {
      const img = new Uint8Array(MiB); // 2048 sectors
      writeTable(img, 0, [
        { slot: 1, type: 0x83, start: 100, size: 100 },
        { slot: 2, type: 0x83, start: 1000, size: 5000 },
        { slot: 3, type: 0x83, start: 4096, size: 10 },
      ]);
      const r = await scan(img);
      expectParts(r, '1:100+100 2:1000+1048', 'EOD');
      expectLog(r, 'vda: p2 size 5000 extends beyond EOD, truncated', 'clamp');
      expectLog(r, 'vda: p3 start 4096 is beyond EOD, truncated', 'drop');
      assert.equal(r.line, ' vda: vda1 vda2 vda3', `the line still lists p3: got "${r.line}"`);
    },
  },
  {
    name: 'an EBR beyond the disk end: partially beyond EOD',
    run: async () => {
      const img = new Uint8Array(MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x05, start: 100, size: 100000 }]);
      writeTable(img, 100, [{ slot: 1, type: 0x83, start: 1, size: 10 }, { slot: 2, type: 0x05, start: 50000, size: 10 }]);
      const r = await scan(img);
      expectParts(r, '1:100+2 5:101+10', 'EBR past end');
      expectLog(r, 'vda: partition table partially beyond EOD, truncated', 'EBR past end');
    },
  },
  {
    name: 'no 0x55AA, bad boot indicator, FAT boot sector: no partitions',
    run: async () => {
      const none = new Uint8Array(MiB);
      const r0 = await scan(none);
      expectParts(r0, '', 'blank');
      assert.deepEqual(r0.logs, [], `got logs ${JSON.stringify(r0.logs)} for a blank disk, want none (Linux prints nothing)`);

      const bad = new Uint8Array(MiB);
      writeTable(bad, 0, [{ slot: 1, type: 0x83, start: 100, size: 100 }]);
      bad[0x1be + 16] = 0x12; // slot 2 boot indicator
      expectParts(await scan(bad), '', 'bad boot indicator');

      const fat = new Uint8Array(MiB);
      fat[0x1be] = 0x29; // a FAT boot sector's code where slot 1 would be
      fat[14] = 1; fat[16] = 2; fat[21] = 0xf8; fat[510] = 0x55; fat[511] = 0xaa;
      const rf = await scan(fat);
      expectParts(rf, '', 'FAT');
      assert.equal(rf.line, ' vda:', `got line "${rf.line}", want " vda:"`);
      assert.equal(rf.label, null, `got label ${rf.label}, want null`);
    },
  },
  {
    name: '4096-byte logical blocks: MBR entries scaled by 8, container is one block',
    run: async () => {
      const img = new Uint8Array(8 * MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x83, start: 256, size: 256 }, { slot: 2, type: 0x05, start: 512, size: 1024 }]);
      writeTable(img, 512 * 8, [{ slot: 1, type: 0x83, start: 1, size: 100 }]);
      expectParts(await scan(img, { sectorSize: 4096 }), '1:2048+2048 2:4096+8 5:4104+800', '4K MBR');
    },
  },
  {
    name: 'a read error on sector 0: "unable to read partition table", no throw',
    run: async () => {
      const logs: string[] = [];
      const t = await scanPartitionTable(() => { throw new Error('EIO'); }, MiB, (_l, m) => logs.push(m), { diskName: 'vdb' });
      assert.deepEqual(t.parts, [], 'got partitions on a failing disk');
      assert.equal(t.error, 'EIO', `got error ${t.error}, want EIO`);
      assert.ok(logs.includes(' vdb: unable to read partition table'), `got logs ${JSON.stringify(logs)}`);
      const short = await scanPartitions(() => new Uint8Array(3), MiB, () => {});
      assert.deepEqual(short, [], 'short reads give no partitions');
    },
  },
];

// ------------------------------------------------------------------ GPT cases

const STD_ENTRIES: GptEntry[] = [
  { index: 0, type: EFI_SYS, uuid: 'aaaaaaaa-0000-4000-8000-000000000001', first: 2048, last: 4095, name: 'EFI system' },
  { index: 1, type: LINUX_FS, uuid: 'aaaaaaaa-0000-4000-8000-000000000002', first: 4096, last: 8191, name: 'root', attrs: 4n },
  { index: 3, type: LINUX_FS, uuid: 'aaaaaaaa-0000-4000-8000-000000000004', first: 8192, last: 10239, name: 'héllo\u0001' },
];
const STD_PARTS = '1:2048+2048 2:4096+4096 4:8192+2048';

const GPT_CASES: Case[] = [
  {
    name: 'valid GPT: numbered by entry index, empty entries keep their number',
    run: async () => {
      const r = await scan(makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES }));
      expectParts(r, STD_PARTS, 'GPT');
      assert.equal(r.line, ' vda: vda1 vda2 vda4', `got line "${r.line}"`);
      assert.equal(r.label, 'gpt', `got label ${r.label}, want gpt`);
      assert.deepEqual(r.parts[1], {
        number: 2, startSector: 4096, nrSectors: 4096, type: `gpt:${LINUX_FS}`,
        uuid: 'aaaaaaaa-0000-4000-8000-000000000002', name: 'root', bootable: true,
      });
      // Linux keeps 7 bits of each UTF-16 unit: é (0xe9) becomes 'i', \u0001 becomes '!'.
      assert.equal(r.parts[2]!.name, 'hillo!', `got name ${r.parts[2]!.name}, want hillo!`);
      assert.deepEqual(r.logs, [' vda: vda1 vda2 vda4'], `got logs ${JSON.stringify(r.logs)}`);
    },
  },
  {
    name: 'hybrid MBR: the GPT is used, the MBR partitions are not',
    run: async () => {
      const img = makeGpt({
        sizeBytes: 8 * MiB, entries: STD_ENTRIES,
        mbr: [{ slot: 1, type: 0xee, start: 1, size: 2047 }, { slot: 2, type: 0x83, start: 4096, size: 4096, boot: true }],
      });
      expectParts(await scan(img), STD_PARTS, 'hybrid');
    },
  },
  {
    name: 'no protective MBR: GPT ignored (an MBR with 0x83 only is read as MBR)',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES, mbr: [{ slot: 1, type: 0x83, start: 2048, size: 100 }] });
      expectParts(await scan(img), '1:2048+100', 'MBR over GPT');
      const noMbr = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES, mbr: null });
      expectParts(await scan(noMbr), '', 'no MBR');
      expectParts(await scan(noMbr, { forceGpt: true }), STD_PARTS, 'no MBR, gpt forced');
    },
  },
  {
    name: '0xEE entry not starting at LBA 1: neither GPT nor MBR',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES, mbr: [{ slot: 1, type: 0xee, start: 2, size: 100 }] });
      expectParts(await scan(img), '', 'bad pMBR');
    },
  },
  {
    name: 'bad primary header: no partitions unless gpt is forced, then the alternate',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      img[512 + 40] ^= 1; // first_usable_lba, CRC now wrong
      const r = await scan(img);
      expectParts(r, '', 'primary bad');
      assert.equal(r.error, undefined, `got error ${r.error}`);
      const f = await scan(img, { forceGpt: true });
      expectParts(f, STD_PARTS, 'primary bad, forced');
      expectLog(f, 'Primary GPT is invalid, using alternate GPT.', 'forced');
    },
  },
  {
    name: 'bad primary entry array CRC: treated as a bad primary',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      img[2 * 512 + 32] ^= 0xff;
      expectParts(await scan(img), '', 'array bad');
      expectParts(await scan(img, { forceGpt: true }), STD_PARTS, 'array bad, forced');
    },
  },
  {
    name: 'bad alternate: primary used with a warning',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      img[img.length - 512] ^= 1; // signature of the backup header
      const r = await scan(img);
      expectParts(r, STD_PARTS, 'alternate bad');
      expectLog(r, 'Alternate GPT is invalid, using primary GPT.', 'alternate bad');
    },
  },
  {
    name: 'both headers bad: no partitions, even forced',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      img[512] ^= 1; img[img.length - 512] ^= 1;
      expectParts(await scan(img), '', 'both bad');
      expectParts(await scan(img, { forceGpt: true }), '', 'both bad, forced');
    },
  },
  {
    name: 'headers that disagree: compare_gpts warnings, primary used',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      const last = img.length / 512 - 1;
      img[last * 512 + 56] ^= 0xff; // backup disk GUID
      resealHeader(img, last);
      const r = await scan(img);
      expectParts(r, STD_PARTS, 'disagree');
      expectLog(r, "GPT:disk_guids don't match.", 'disagree');
      expectLog(r, 'GPT: Use GNU Parted to correct GPT errors.', 'disagree');
    },
  },
  {
    name: 'image grown after partitioning: alternate not at the end, still used',
    run: async () => {
      const small = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      const img = new Uint8Array(16 * MiB);
      img.set(small);
      const r = await scan(img);
      expectParts(r, STD_PARTS, 'grown');
      expectLog(r, 'GPT:Primary header thinks Alt. header is not at the end of the disk.', 'grown');
      expectLog(r, `GPT:${8 * 2048 - 1} != ${16 * 2048 - 1}`, 'grown');
    },
  },
  {
    name: 'entries past the last LBA are skipped; past LastUsableLBA are kept (as Linux)',
    run: async () => {
      const img = makeGpt({
        sizeBytes: 8 * MiB, entries: [
          { index: 0, type: LINUX_FS, uuid: DISK_GUID, first: 16000, last: 16383 }, // beyond last usable, within disk
          { index: 1, type: LINUX_FS, uuid: DISK_GUID, first: 16000, last: 20000 }, // beyond the disk
          { index: 2, type: LINUX_FS, uuid: DISK_GUID, first: 3000, last: 2999 }, // empty
          { index: 4, type: LINUX_FS, uuid: DISK_GUID, first: 3000, last: 2000 }, // inverted
        ],
      });
      const r = await scan(img);
      expectParts(r, '1:16000+384', 'bounds');
      assert.equal(r.line, ' vda: vda1 vda3', `got line "${r.line}", want " vda: vda1 vda3"`);
    },
  },
  {
    name: 'entry count that would overflow or exceed 4 MiB: invalid, no huge read',
    run: async () => {
      for (const num of [0xffffffff, 0x8001, 0]) {
        const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
        for (const lba of [1, img.length / 512 - 1]) {
          putLe32(img, lba * 512 + 80, num);
          resealHeader(img, lba);
        }
        let biggest = 0;
        const parts = await scanPartitions((o, l) => { biggest = Math.max(biggest, l); return img.subarray(o, o + l); },
          img.length, () => {}, { forceGpt: true });
        assert.deepEqual(parts, [], `num_partition_entries 0x${num.toString(16)}: got ${brief(parts)}, want none`);
        assert.ok(biggest <= 4 * MiB, `got a read of ${biggest} bytes`);
      }
    },
  },
  {
    name: 'entry array running past the disk end: beyond EOD error',
    run: async () => {
      const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
      putLe64(img, 512 + 72, img.length / 512 - 4); // array starts 4 sectors before the end
      resealHeader(img, 1);
      const r = await scan(img);
      expectParts(r, '', 'array past end');
      assert.equal(r.error, 'ENOSPC', `got error ${r.error}, want ENOSPC`);
      expectLog(r, ' vda: unable to read partition table', 'array past end');
      expectLog(r, 'vda: partition table beyond EOD, truncated', 'array past end');
    },
  },
  {
    name: '4096-byte logical blocks: LBAs scaled by 8',
    run: async () => {
      const entries = [{ index: 0, type: LINUX_FS, uuid: DISK_GUID, first: 256, last: 511 }, { index: 2, type: LINUX_FS, uuid: DISK_GUID, first: 512, last: 1023 }];
      const img = makeGpt({ sizeBytes: 8 * MiB, lbs: 4096, entries });
      expectParts(await scan(img, { sectorSize: 4096 }), '1:2048+2048 3:4096+4096', '4K GPT');
      // Read as 512-byte sectors there is no header at LBA 1 (it is at byte 4096).
      expectParts(await scan(img), '', '4K GPT read as 512');
    },
  },
  {
    name: 'more than 255 entries: only the first 255 are looked at',
    run: async () => {
      const entries = Array.from({ length: 300 }, (_, i) => ({ index: i, type: LINUX_FS, uuid: DISK_GUID, first: 2048 + i * 8, last: 2048 + i * 8 + 7 }));
      const r = await scan(makeGpt({ sizeBytes: 8 * MiB, entries, numEntries: 512 }));
      assert.equal(r.parts.length, 255, `got ${r.parts.length} partitions, want 255`);
    },
  },
];

for (const c of [...MBR_CASES, ...GPT_CASES]) test(c.name, c.run);

// ------------------------------------------------------------------ robustness

/** A small deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('random garbage and mutated tables never throw and stay bounded', async () => {
  const next = rng(0x5eed);
  const bases: Array<() => Uint8Array> = [
    () => makeGpt({ sizeBytes: MiB, entries: STD_ENTRIES.map((e) => ({ ...e, first: e.first / 8, last: (e.last + 1) / 8 - 1 })) }),
    () => {
      const img = new Uint8Array(MiB);
      writeTable(img, 0, [{ slot: 1, type: 0x83, start: 64, size: 64 }, { slot: 2, type: 0x05, start: 200, size: 1000 }]);
      writeTable(img, 200, [{ slot: 1, type: 0x83, start: 1, size: 10 }, { slot: 2, type: 0x05, start: 100, size: 100 }]);
      writeTable(img, 300, [{ slot: 1, type: 0x83, start: 1, size: 10 }]);
      return img;
    },
  ];
  for (let iter = 0; iter < 400; iter++) {
    const img = bases[iter % bases.length]!();
    const flips = 1 + (next() % 24);
    for (let f = 0; f < flips; f++) {
      // Aim mostly at the tables: sector 0, the GPT header and entries, the EBRs.
      const region = [0x1be, 512, 1024, 200 * 512 + 0x1be, 300 * 512 + 0x1be][next() % 5]!;
      img[region + (next() % 128)] = next() & 0xff;
    }
    if (iter % 50 === 0) for (let i = 0; i < 4096; i++) img[i] = next() & 0xff;
    let reads = 0;
    const parts = await scanPartitions((o, l) => { reads++; return img.subarray(o, o + l); }, img.length, () => {},
      { forceGpt: iter % 3 === 0, sectorSize: iter % 7 === 0 ? 4096 : 512 });
    for (const p of parts) {
      assert.ok(p.number >= 1 && p.number < 256, `iteration ${iter}: got partition number ${p.number}`);
      assert.ok(p.startSector >= 0 && p.nrSectors > 0 && p.startSector + p.nrSectors <= img.length / 512,
        `iteration ${iter}: got ${p.number}:${p.startSector}+${p.nrSectors} outside a ${img.length / 512}-sector disk`);
    }
    assert.ok(reads < 30000, `iteration ${iter}: got ${reads} reads`);
  }
});

test('tiny and odd disk sizes', async () => {
  for (const size of [0, 100, 511, 512, 513, 1024, 4095]) {
    const img = new Uint8Array(size);
    if (size >= 512) writeTable(img, 0, [{ slot: 1, type: 0x83, start: 0, size: 100 }]);
    const parts = await scanPartitions((o, l) => {
      if (o + l > size) throw new Error('read past end');
      return img.subarray(o, o + l);
    }, size, () => {});
    const want = size >= 512 ? `1:0+${Math.floor(size / 512)}` : '';
    assert.equal(brief(parts), want, `size ${size}: got "${brief(parts)}", want "${want}"`);
  }
});

test('asynchronous reads give the same result', async () => {
  const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
  const parts = await scanPartitions(async (o, l) => { await Promise.resolve(); return img.subarray(o, o + l); },
    img.length, () => {}, 512);
  assert.equal(brief(parts), STD_PARTS, `got "${brief(parts)}", want "${STD_PARTS}"`);
});

test('pr_debug messages only with the debug option', async () => {
  const img = makeGpt({ sizeBytes: 8 * MiB, entries: STD_ENTRIES });
  img[512 + 40] ^= 1;
  for (const debug of [false, true]) {
    const logs: Array<[number, string]> = [];
    await scanPartitions((o, l) => img.subarray(o, o + l), img.length, (lvl, m) => logs.push([lvl, m]), { debug });
    const hit = logs.find(([lvl, m]) => lvl === 7 && m.startsWith('GUID Partition Table Header CRC is wrong: '));
    assert.equal(!!hit, debug, `debug ${debug}: got logs ${JSON.stringify(logs)}`);
  }
});
