/*
 * Corrupt images: bytes flipped (seeded) in the superblock, a group descriptor, inodes, an extent
 * tree block and directory blocks of a fresh populated ext4 image (metadata_csum: every flip is in
 * checksummed metadata, so Linux would notice each one). Our kernel mounts it read-only and walks
 * everything; the outcome must be errors — a failed mount or negative errnos during the walk —
 * never an exception escaping the kernel, a crash or a hang, and the image must be byte-for-byte
 * what it was (sha256), since it was opened read-only.
 *
 * Each walk runs in a worker thread under a timeout, so even a synchronous endless loop in the
 * kernel fails the case instead of hanging the suite. A control case walks the uncorrupted image
 * first: it must read without a single error, or errors below would prove nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { MS_RDONLY } from '../src/uapi/mount.js';
import { requireHost, withTempDir, sha256File, withHostMount, walkHost } from './fixtures/host.js';
import { makeEmptyImage, populate, debugfs, copySparse, type Recipe } from './fixtures/image.js';
import { SMALL_TREE, rng } from './fixtures/tree.js';
import { DISK_API_MISSING, errName } from './fixtures/lkl.js';
import type { WalkWorkerResult } from './fixtures/walk_worker.js';

const WALK_TIMEOUT_MS = 30_000;
const BASE: Recipe = {
  name: 'corrupt-base', fstype: 'ext4', sizeMiB: 64, mkfs: ['mkfs.ext4', '-q', '-F', '-b', '4096'],
  tree: { kind: 'generated', opts: SMALL_TREE },
};
const BS = 4096;

/** Walk `img` (read-only disk) in a worker; rejects on an exception in the kernel or on timeout. */
function walkInWorker(img: string): Promise<WalkWorkerResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/walk_worker.js', import.meta.url), {
      workerData: { disk: { path: img, readOnly: true }, mount: { fstype: 'ext4', flags: MS_RDONLY } },
    });
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void w.terminate();
      reject(new Error(`walk did not finish in ${WALK_TIMEOUT_MS} ms: got a hang, want errors`));
    }, WALK_TIMEOUT_MS);
    w.on('message', (m: WalkWorkerResult) => { if (!done) { done = true; clearTimeout(timer); resolve(m); } });
    w.on('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(new Error(`exception escaped the kernel: ${e.stack ?? e}`)); } });
    w.on('exit', (code) => { if (!done) { done = true; clearTimeout(timer); reject(new Error(`walk worker exited ${code} without a result`)); } });
  });
}

interface Region { name: string; ranges: [number, number][] }

/** Where the metadata of the base image lives, found with debugfs. */
function locate(img: string): Region[] {
  const fd = fs.openSync(img, 'r');
  const read = (off: number, n: number): Buffer => { const b = Buffer.alloc(n); fs.readSync(fd, b, 0, n, off); return b; };
  try {
    const inodeAt = (spec: string): [number, number] => {
      const out = debugfs(img, [`imap ${spec}`]);
      const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(out);
      if (!m) throw new Error(`debugfs imap ${spec}: ${out}`);
      const off = Number(m[1]) * BS + Number(m[2]);
      return [off, off + 160]; // the 128-byte base inode and the first extra fields (checksummed)
    };
    const firstBlocks = (p: string): number[] => {
      const out = debugfs(img, [`blocks ${p}`]);
      const line = out.split('\n').find((l) => /^\d+( \d+)*\s*$/.test(l.trim()));
      if (!line) throw new Error(`debugfs blocks ${p}: ${out}`);
      return line.trim().split(/\s+/).map(Number);
    };
    const stat = debugfs(img, ['stat /frag/many']);
    const etb = /\(ETB0\):\s*(\d+)/.exec(stat);
    if (!etb) throw new Error(`no extent index block for /frag/many: ${stat}`);
    const eb = Number(etb[1]) * BS;
    const entries = read(eb + 2, 2).readUInt16LE(0); // eh_entries
    const bigDir = firstBlocks('/big');
    const caseDir = firstBlocks('/case');
    const descSize = read(1024 + 0xfe, 2).readUInt16LE(0) || 32;
    return [
      { name: 'superblock', ranges: [[1024, 1024 + 1024]] },
      { name: 'group descriptor', ranges: [[BS, BS + descSize]] },
      { name: 'root inode', ranges: [inodeAt('<2>')] },
      { name: 'file inode', ranges: [inodeAt('/files/small10')] },
      { name: 'directory inode', ranges: [inodeAt('/deep')] },
      { name: 'extent index block', ranges: [[eb, eb + 12 + 12 * entries]] },
      { name: 'htree root block', ranges: [[bigDir[0]! * BS, bigDir[0]! * BS + 64]] },
      { name: 'htree leaf block', ranges: [[bigDir[1]! * BS, bigDir[1]! * BS + BS]] },
      { name: 'linear directory block', ranges: [[caseDir[0]! * BS, caseDir[0]! * BS + 256]] },
    ];
  } finally {
    fs.closeSync(fd);
  }
}

/** XOR `count` seeded bytes of the region with non-zero values; returns the offsets. */
function flip(img: string, region: Region, seed: number, count: number): number[] {
  const r = rng(seed);
  const fd = fs.openSync(img, 'r+');
  const offs: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const [lo, hi] = region.ranges[Math.floor(r() * region.ranges.length)]!;
      const off = lo + Math.floor(r() * (hi - lo));
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, off);
      b[0] = b[0]! ^ (1 + Math.floor(r() * 255));
      fs.writeSync(fd, b, 0, 1, off);
      offs.push(off);
    }
  } finally {
    fs.closeSync(fd);
  }
  return offs;
}

test('corrupt images give errors, never crashes or hangs, and stay unmodified', { timeout: 600_000 }, async (t) => {
  if (!requireHost(t)) return;
  await withTempDir('corrupt', async (dir) => {
    const base = join(dir, 'base.img');
    makeEmptyImage(BASE, base);
    await populate(BASE, base, dir);
    const regions = locate(base);

    let missing = false;
    await t.test('control: the intact image walks without errors', async (st) => {
      const sum = sha256File(base);
      const r = await walkInWorker(base);
      if (r.missingApi) { missing = true; st.skip(DISK_API_MISSING); return; }
      assert.equal(r.mountErr, undefined, `mountDev: got ${errName(r.mountErr ?? 0)} ${r.mountMessage}, want a mount\n${r.log.slice(-2000)}`);
      assert.equal(r.errorCount, 0, `walk errors: got ${r.errorCount}, want 0:\n${r.errors.join('\n')}`);
      assert.equal(sha256File(base), sum, 'image sha256: got modified, want unchanged');
      st.diagnostic(`${r.entries} entries`);
    });

    for (const region of regions) {
      for (const [seed, count] of [[1, 1], [2, 3], [3, 8]] as const) {
        await t.test(`${region.name}: ${count} byte(s) flipped (seed ${seed})`, async (st) => {
          const img = join(dir, 'case.img');
          copySparse(base, img);
          try {
            const offs = flip(img, region, seed * 7919 + region.name.length, count);
            const sum = sha256File(img);
            // The host kernel on a copy says whether Linux notices this corruption at all (for
            // example, a bad group descriptor checksum is only a warning on a read-only mount).
            const hostCopy = join(dir, 'host.img');
            copySparse(img, hostCopy);
            let hostSays = 'reads cleanly';
            let hostMountFailed = false;
            const hostErrnos = new Map<string, string[]>();
            try {
              const tree = await withHostMount(hostCopy, 'ro', (mnt) => walkHost(mnt, { collectErrors: true }));
              for (const [p, e] of tree) if (e.errors?.length) hostErrnos.set(p, e.errors.map((m) => m.slice(m.lastIndexOf(': ') + 2)));
              if (hostErrnos.size) hostSays = [...hostErrnos].slice(0, 3).map(([p, e]) => `/${p}: ${e.join(',')}`).join('; ');
            } catch (e) {
              hostMountFailed = true;
              hostSays = (e as Error).message.split('\n')[0]!;
            } finally {
              fs.rmSync(hostCopy, { force: true });
            }
            if (missing) { st.diagnostic(`host: ${hostSays}`); st.skip(DISK_API_MISSING); return; }
            const r = await walkInWorker(img);
            const ext4Log = r.log.split('\n').filter((l) => /EXT4|JBD2|I\/O error|ext4/i.test(l)).slice(0, 5).join('\n');
            st.diagnostic(`flipped at ${offs.map((o) => `0x${o.toString(16)}`).join(', ')}; ${r.mountErr !== undefined ? `mount: ${errName(r.mountErr)}` : `walk: ${r.entries} entries, ${r.errorCount} errors ${r.errors.slice(0, 3).join('; ')}`}${ext4Log ? `\n${ext4Log}` : ''}`);
            st.diagnostic(`host: ${hostSays}`);
            // Linux is the oracle: a mount it refuses we refuse; a path where its walk failed fails
            // for us too, with the same errno.
            if (hostMountFailed) {
              assert.ok(r.mountErr !== undefined, `mount: got a mount (walk: ${r.entries} entries, ${r.errorCount} errors), want a failure as the host (${hostSays})`);
            } else if (r.mountErr === undefined) {
              const ours = new Map(r.errnos);
              const missed: string[] = [];
              for (const [p, want] of hostErrnos) {
                const got = ours.get(p) ?? [];
                if (!want.every((w) => got.includes(w))) missed.push(`/${p}: errors got [${got.join(',')}], want [${want.join(',')}]`);
              }
              assert.equal(missed.length, 0, `errors where the host kernel has them:\n${missed.join('\n')}`);
            } else {
              assert.fail(`mount: got ${errName(r.mountErr)}, want a mount as the host (which then saw: ${hostSays})`);
            }
            if (r.mountErr !== undefined) assert.ok(r.mountErr < 0, `mount error: got ${r.mountErr}, want a negative errno`);
            assert.equal(sha256File(img), sum, 'image sha256: got modified, want unchanged (opened read-only)');
          } finally {
            fs.rmSync(img, { force: true });
          }
        });
      }
    }
  });
});
