/*
 * The block layer on memory disks and instrumented fake backends: cache coherence across block
 * sizes and partitions, LRU eviction within mem=, request merging, readahead, an asynchronous
 * backend (one read for concurrent readers, several requests in flight), I/O errors, read-only
 * devices, write-back order, and partitions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, PAGE_SIZE } from '../../../src/mm/index.js';
import { KernelError, isPromise } from '../../../src/lib/errors.js';
import { EIO, EROFS, EINVAL } from '../../../src/uapi/errno.js';
import { MKDEV } from '../../../src/uapi/stat.js';
import type { DiskBackend } from '../../../src/arch/host.js';
import {
  BlockLayer, createMemoryDisk, RA_MAX, MAX_REQUEST_PAGES, type BlockDev, type Gendisk,
} from '../../../src/block/index.js';

const MiB = 1024 * 1024;

function layer(memBytes = 64 * MiB) {
  const log: string[] = [];
  const mem = new MemoryBudget(memBytes, 1536 * 1024);
  const l = new BlockLayer(mem, (_lvl, text) => { log.push(text); });
  return { mem, l, log };
}

/** Deterministic bytes: every 4-byte word holds its own offset / 4. */
function pattern(size: number): Uint8Array {
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  for (let o = 0; o + 4 <= size; o += 4) v.setUint32(o, o / 4, true);
  return b;
}

interface Call { op: 'read' | 'write' | 'flush'; offset: number; length: number }

/** A synchronous backend over `image` recording every call. */
function counting(image: Uint8Array, opts: { readOnly?: boolean; failAt?: number } = {}) {
  const calls: Call[] = [];
  const backend: DiskBackend = {
    capacity: image.length,
    readOnly: opts.readOnly ?? false,
    read(buf, offset) {
      calls.push({ op: 'read', offset, length: buf.length });
      if (opts.failAt !== undefined && opts.failAt >= offset && opts.failAt < offset + buf.length) throw new Error('medium error');
      buf.set(image.subarray(offset, offset + buf.length));
    },
    write(buf, offset) { calls.push({ op: 'write', offset, length: buf.length }); image.set(buf, offset); },
    flush() { calls.push({ op: 'flush', offset: 0, length: 0 }); },
  };
  return { backend, calls, reads: () => calls.filter((c) => c.op === 'read') };
}

/** An asynchronous backend answering each read after `delay` microtask hops; tracks concurrency. */
function delayed(image: Uint8Array, delay = 3) {
  const calls: Call[] = [];
  let active = 0, maxActive = 0;
  const hop = async (n: number) => { for (let i = 0; i < n; i++) await Promise.resolve(); };
  const backend: DiskBackend = {
    capacity: image.length,
    readOnly: false,
    async read(buf, offset) {
      calls.push({ op: 'read', offset, length: buf.length });
      active++; maxActive = Math.max(maxActive, active);
      await hop(delay);
      active--;
      buf.set(image.subarray(offset, offset + buf.length));
    },
    async write(buf, offset) { calls.push({ op: 'write', offset, length: buf.length }); await hop(delay); image.set(buf, offset); },
    async flush() { calls.push({ op: 'flush', offset: 0, length: 0 }); await hop(delay); },
  };
  return { backend, calls, maxActive: () => maxActive };
}

async function get(v: Uint8Array | Promise<Uint8Array>): Promise<Uint8Array> { return v; }

function expectErrno(fn: () => unknown, errno: number, what: string): void {
  try { fn(); } catch (e) {
    assert.ok(e instanceof KernelError, `${what}: got ${e}, want KernelError`);
    assert.equal(e.errno, errno, `${what}: got errno ${e.errno}, want ${errno}`);
    return;
  }
  assert.fail(`${what}: got success, want errno ${errno}`);
}

test('names, numbers and sizes follow virtio-blk', () => {
  const { l } = layer();
  const a = l.addDisk(createMemoryDisk(8 * MiB + 100));
  const b = l.addDisk(createMemoryDisk(MiB));
  assert.equal(a.name, 'vda'); assert.equal(b.name, 'vdb');
  assert.equal(a.dev, MKDEV(254, 0)); assert.equal(b.dev, MKDEV(254, 16));
  assert.equal(a.capacity, 8 * MiB, 'a partial last sector is not addressable');
  assert.equal(a.whole.sectorSize, 512);
  l.removeDisk(a);
  const c = l.addDisk(createMemoryDisk(MiB));
  assert.equal(c.name, 'vda', `got ${c.name}, want the lowest free index reused`);
  for (let i = 0; i < 28; i++) l.addDisk(createMemoryDisk(4096));
  assert.ok(l.disks.some((d) => d?.name === 'vdaa'), 'want vdaa after vdz');
});

test('cache coherence: blocks of every size and a misaligned partition see the same bytes', async () => {
  const { l } = layer();
  const img = pattern(4 * MiB);
  const d = l.addDisk(createMemoryDisk(img));
  const bd = d.whole;
  // Read a 4K block, then overwrite one 1K block inside it: the 4K view and a 64K block agree.
  const b4 = await get(bd.bread(3, 4096));
  assert.deepEqual(b4, img.subarray(3 * 4096, 4 * 4096));
  const k1 = new Uint8Array(1024).fill(0xab);
  bd.bwrite(13, 1024, k1); // bytes 13312..14335, inside block 3 of 4K
  const again = await get(bd.bread(3, 4096));
  assert.equal(again[13312 - 12288], 0xab, 'a 1K write shows in the 4K block');
  const big = await get(bd.bread(0, 65536));
  assert.equal(big[13312], 0xab, 'and in the 64K block');
  assert.equal(big[13311], img[13311]);
  // A 64K write, then small reads of its middle.
  const w = new Uint8Array(65536).fill(0x5a);
  bd.bwrite(2, 65536, w);
  assert.equal((await get(bd.bread(2 * 128 + 7, 512)))[0], 0x5a, '512-byte block inside the 64K write');
  // A partition at sector 63 (old MBR alignment): its 4K blocks straddle disk pages.
  const { BlockDev } = await import('../../../src/block/bdev.js');
  const part: BlockDev = new BlockDev(d, 1, 'vda1', d.dev + 1, 63 * 512, 2048 * 512);
  const pb = await get(part.bread(100, 4096));
  assert.deepEqual(pb, img.subarray(63 * 512 + 100 * 4096, 63 * 512 + 101 * 4096));
  const stamp = new Uint8Array(4096).fill(0x77);
  part.bwrite(1, 4096, stamp);
  const viaDisk = await get(bd.readBytes(63 * 512 + 4096, 4096));
  assert.deepEqual(viaDisk, stamp, 'partition write seen through the whole disk');
  // Cached hits are plain arrays: nothing awaits.
  assert.ok(!isPromise(bd.bread(3, 4096)), 'a cached bread must not return a promise');
});

test('a synchronous backend serves misses synchronously too', () => {
  const { l } = layer();
  const d = l.addDisk(createMemoryDisk(pattern(MiB)));
  const r = d.whole.bread(77, 1024);
  assert.ok(!isPromise(r), 'miss on a memory disk returned a promise');
  assert.equal(new DataView(r.buffer, r.byteOffset).getUint32(0, true), 77 * 1024 / 4);
});

test('LRU eviction keeps the cache within mem= (mem=4M, 64 MiB disk)', async () => {
  const { l, mem } = layer(4 * MiB);
  const img = createMemoryDisk(64 * MiB);
  const d = l.addDisk(img);
  const avail = mem.totalPages - mem.reservedPages;
  let peak = 0;
  for (let nr = 0; nr < 64 * MiB / 4096; nr++) {
    const b = await get(d.whole.bread(nr, 4096));
    assert.equal(b.length, 4096);
    peak = Math.max(peak, mem.pages('buffers'));
    assert.ok(mem.freePages >= 0, `free pages went negative: ${mem.freePages}`);
  }
  assert.ok(peak <= avail, `buffers peaked at ${peak} pages, budget ${avail}`);
  assert.ok(peak > avail / 2, `the cache should use the free memory: peak ${peak} of ${avail}`);
  assert.ok(mem.pages('buffers') >= d.pages.size, 'every cached page is charged');
  // Something else needing memory gets it back from the cache.
  mem.charge('shmem', Math.floor(avail * 0.9));
  assert.ok(mem.pages('buffers') <= avail - Math.floor(avail * 0.9), 'shrinker gave memory back');
  assert.ok(mem.pages('buffers') >= d.pages.size);
  d.whole.invalidate();
  assert.equal(mem.pages('buffers'), 0, 'invalidate releases every slab');
});

test('second chance: a page read again survives eviction of colder ones', () => {
  const { l, mem } = layer(4 * MiB);
  const d = l.addDisk(createMemoryDisk(16 * MiB));
  const bd = d.whole;
  bd.bread(0, 4096);
  const avail = mem.totalPages - mem.reservedPages;
  for (let nr = 1000; nr < 1000 + avail * 3; nr += 2) { bd.bread(0, 4096); bd.bread(nr, 4096); }
  assert.ok(d.pages.has(0), 'the hot page 0 was evicted');
});

test('a hot page does not keep its whole readahead buffer alive', () => {
  const { l, mem } = layer(4 * MiB);
  const d = l.addDisk(createMemoryDisk(pattern(32 * MiB)));
  for (let nr = 0; nr < 256; nr++) d.whole.bread(nr, 4096); // sequential: slabs of up to 128 pages
  const hot = d.pages.get(100)!;
  assert.ok(hot.slab.count > 1, `want page 100 in a multi-page slab, got ${hot.slab.count}`);
  const avail = mem.totalPages - mem.reservedPages;
  for (let i = 0; i < avail * 3; i++) { d.whole.bread(100, 4096); d.whole.bread(1000 + ((i * 37) % 6000), 4096); }
  const pg = d.pages.get(100)!;
  assert.ok(pg, 'hot page evicted');
  assert.equal(pg.slab.count, 1, 'the hot page was not copied out of its mostly-empty slab');
  assert.equal((d.whole.bread(100, 4096) as Uint8Array)[0], pattern(4096 * 101)[4096 * 100]);
  assert.ok(mem.pages('buffers') <= avail);
});

test('random 4 KiB reads straddling pages keep the cache full (two-page slabs are compacted)', () => {
  // A file page of a 1 KiB-block filesystem that starts 1 KiB into a disk page spans two pages,
  // and a miss reads both as one two-page slab. Once one of them is evicted the other must not
  // keep the pair charged: the cache would shrink pass after pass.
  const { l, mem } = layer(8 * MiB);
  const img = pattern(16 * MiB);
  const d = l.addDisk(createMemoryDisk(img));
  const avail = mem.totalPages - mem.reservedPages;
  // A working set a little larger than the cache: most reads hit, so survivors get second chances.
  const n = Math.floor(avail * 1.05);
  const dst = new Uint8Array(4096);
  let seed = 7;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 8; };
  for (let pass = 0; pass < 6; pass++) {
    for (let k = 0; k < n; k++) {
      const off = 1024 + (rand() % n) * 4096;
      const r = d.whole.readCached(off, dst);
      assert.ok(!isPromise(r));
      if (k % 97 === 0) assert.deepEqual(dst, img.subarray(off, off + 4096), `bytes at ${off}`);
    }
  }
  const wasted = mem.pages('buffers') - d.pages.size;
  assert.ok(wasted <= avail / 20, `${wasted} of ${avail} charged pages hold no cached page`);
  assert.ok(d.pages.size >= avail * 0.9, `cache holds ${d.pages.size} of ${avail} pages`);
});

test('page pool: evicted buffers are reused, never under a view a caller holds', async () => {
  const { l, mem } = layer(4 * MiB);
  const img = pattern(32 * MiB);
  const d = l.addDisk(createMemoryDisk(img));
  const bd = d.whole;
  const avail = mem.totalPages - mem.reservedPages;
  // Views handed out by bread, kept across everything below: some of pages first read by a copy
  // (a cache hit then hands out the view), some read by bread itself, none with device readahead.
  const scratch = new Uint8Array(4096);
  for (const nr of [5, 700, 1234]) bd.readCached(nr * 4096, scratch);
  const held = [5, 6, 700, 701, 1234].map((nr) => ({ nr, view: bd.bread(nr, 4096, false) as Uint8Array }));
  for (const h of held) assert.equal(d.pages.get(h.nr)?.slab.count, 1);
  // Copies through readCached (pages nobody holds) over far more pages than fit, in a random order.
  const seen = new Set<ArrayBufferLike>();
  let reused = 0;
  const dst = new Uint8Array(4096);
  let seed = 11;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 8; };
  for (let k = 0; k < avail * 6; k++) {
    const page = 2000 + (rand() % 6000);
    bd.readCached(page * 4096, dst);
    assert.deepEqual(dst, img.subarray(page * 4096, page * 4096 + 4096), `page ${page}`);
    const buf = d.pages.get(page)?.data.buffer;
    if (buf) { if (seen.has(buf)) reused++; seen.add(buf); }
    if (k % 50 === 49) await Promise.resolve(); // the pool takes freed buffers between tasks
  }
  assert.ok(reused > avail * 2, `only ${reused} of ${avail * 6} reads reused an evicted buffer`);
  for (const h of held) assert.deepEqual(h.view, img.subarray(h.nr * 4096, h.nr * 4096 + 4096), `held view of block ${h.nr} changed`);
  // Writes of new pages take pooled buffers too: what the write does not cover reads as the disk.
  await Promise.resolve();
  const w = new Uint8Array(512).fill(0xee);
  bd.bwrite(1500 * 8 + 3, 512, w);
  const got = bd.bread(1500, 4096) as Uint8Array;
  const want = img.slice(1500 * 4096, 1501 * 4096); want.fill(0xee, 1536, 2048);
  assert.deepEqual(got, want);
});

test('page pool: a read that evicts its own pages while assembling them still returns the disk', () => {
  // Four pages of cache, three of them taken; one read of nine pages misses five runs of one page.
  // Each run's pages push out the previous run's before the read has copied them: their buffers
  // must not be handed to the next run of the same read.
  const mem = new MemoryBudget(1536 * 1024 + 4 * 4096, 1536 * 1024);
  const l = new BlockLayer(mem, () => {});
  const img = pattern(MiB);
  const d = l.addDisk(createMemoryDisk(img));
  const one = new Uint8Array(4096);
  for (const p of [1, 3, 5]) d.whole.readCached(p * 4096, one);
  const dst = new Uint8Array(9 * 4096);
  d.whole.readCached(0, dst);
  assert.deepEqual(dst, img.subarray(0, 9 * 4096));
});

test('merging: one request per readahead run, adjacent plugged requests merge', async () => {
  const { l } = layer();
  const img = pattern(8 * MiB);
  const c = counting(img);
  const d = l.addDisk(c.backend);
  d.whole.readahead(0, 64, 4096);
  assert.equal(c.reads().length, 1, `readahead(64 blocks): got ${c.reads().length} backend reads, want 1`);
  d.whole.readahead(0, 1024, 4096); // 4 MiB: 64 cached + 960 pages = 8 requests of 128 pages at most
  const want = 1 + Math.ceil((1024 - 64) / MAX_REQUEST_PAGES);
  assert.equal(c.reads().length, want, `got ${c.reads().length} backend reads, want ${want}`);

  // Asynchronous backend: reads made in the same tick for adjacent pages merge into one.
  const a = delayed(pattern(8 * MiB));
  const da = l.addDisk(a.backend);
  await get(da.whole.readBytes(0, 512)); // teaches the queue the backend is asynchronous
  const before = a.calls.length;
  const ps = [];
  for (let i = 10; i < 18; i++) ps.push(get(da.whole.readBytes(i * 4096, 4096)));
  const got = await Promise.all(ps);
  assert.equal(a.calls.length - before, 1, `8 adjacent reads: got ${a.calls.length - before} backend reads, want 1`);
  assert.equal(a.calls[before]!.length, 8 * 4096);
  for (let i = 0; i < 8; i++) assert.equal(new DataView(got[i]!.buffer, got[i]!.byteOffset).getUint32(0, true), (10 + i) * 1024);
});

test('sequential readahead grows to RA_MAX and stays one window ahead', () => {
  const { l } = layer();
  const c = counting(pattern(16 * MiB));
  const d = l.addDisk(c.backend);
  const blocks = 8 * MiB / 4096;
  for (let nr = 0; nr < blocks; nr++) {
    const r = d.whole.bread(nr, 4096);
    assert.ok(!isPromise(r));
  }
  const reads = c.reads();
  const pages = reads.reduce((s, r) => s + r.length / PAGE_SIZE, 0);
  assert.ok(reads.length <= blocks / RA_MAX + 4, `got ${reads.length} backend reads for ${blocks} sequential blocks`);
  assert.ok(pages <= blocks + 2 * RA_MAX, `read ${pages} pages for ${blocks} wanted: readahead overshoots`);
  assert.equal(Math.max(...reads.map((r) => r.length)), RA_MAX * PAGE_SIZE, 'window grows to RA_MAX');
  // Random reads get no readahead.
  const c2 = counting(pattern(16 * MiB));
  const d2 = l.addDisk(c2.backend);
  for (const nr of [100, 7, 3000, 50, 1200]) d2.whole.bread(nr, 4096);
  assert.ok(c2.reads().every((r) => r.length === 4096), `random reads: got lengths ${c2.reads().map((r) => r.length)}`);
});

test('asynchronous backend: one read for concurrent readers; several requests in flight', async () => {
  const { l } = layer();
  const a = delayed(pattern(8 * MiB), 5);
  const d = l.addDisk(a.backend);
  const p1 = d.whole.bread(5, 4096), p2 = d.whole.bread(5, 4096), p3 = d.whole.bread(20, 1024);
  assert.ok(isPromise(p1) && isPromise(p2));
  const [b1, b2] = await Promise.all([p1, p2, p3]);
  assert.deepEqual(b1, b2);
  const at5 = a.calls.filter((c) => c.offset <= 5 * 4096 && c.offset + c.length > 5 * 4096);
  assert.equal(at5.length, 1, `concurrent readers of one block: got ${at5.length} backend reads, want 1`);
  // Non-adjacent reads in one tick go out together.
  await Promise.all([100, 200, 300, 400, 500].map((n) => d.whole.bread(n, 4096)));
  assert.ok(a.maxActive() >= 4, `got at most ${a.maxActive()} requests in flight, want several`);
  // Once cached, the same reads are synchronous.
  assert.ok(!isPromise(d.whole.bread(300, 4096)));
  // Sequential async reading with readahead returns right data.
  for (let nr = 1000; nr < 1100; nr++) {
    const b = await get(d.whole.bread(nr, 4096));
    assert.equal(new DataView(b.buffer, b.byteOffset).getUint32(0, true), nr * 1024, `block ${nr}`);
  }
});

test('EIO past the end and on backend failure, logged like blk_print_req_error', async () => {
  const { l, log } = layer();
  const c = counting(pattern(MiB), { failAt: 8 * 512 + 3 });
  const d = l.addDisk(c.backend);
  expectErrno(() => d.whole.bread(256, 4096), EIO, 'bread past the end');
  expectErrno(() => d.whole.readBytes(MiB - 10, 11), EIO, 'readBytes past the end');
  expectErrno(() => d.whole.bread(-1, 4096), EIO, 'negative block');
  expectErrno(() => d.whole.bread(0, 3000), EINVAL, 'bad block size');
  assert.ok(log.some((s) => s.includes('attempt to access beyond end of device')), `log: ${log.join('|')}`);
  expectErrno(() => d.whole.bread(1, 4096), EIO, 'bread of a failing sector');
  const errs = log.filter((s) => s.startsWith('I/O error'));
  assert.deepEqual(errs, ['I/O error, dev vda, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0']);
  // The neighbours still read.
  assert.equal((await get(d.whole.bread(0, 4096))).length, 4096);
  // Readahead that runs into the bad page must not fail the block asked for.
  const c2 = counting(pattern(MiB), { failAt: 20 * 4096 });
  const d2 = l.addDisk(c2.backend);
  d2.whole.bread(2, 4096); d2.whole.bread(3, 4096); // sequential: window covers page 20
  assert.equal((await get(d2.whole.bread(4, 4096))).length, 4096);
  // Asynchronous failure: all waiters get EIO.
  const a = delayed(pattern(MiB));
  a.backend.read = async () => { await Promise.resolve(); throw new Error('gone'); };
  const d3 = l.addDisk(a.backend);
  const r = await Promise.allSettled([d3.whole.bread(1, 4096), d3.whole.bread(1, 4096)]);
  for (const x of r) {
    assert.equal(x.status, 'rejected');
    assert.equal(((x as PromiseRejectedResult).reason as KernelError).errno, EIO);
  }
  assert.equal(log.filter((s) => s.startsWith('I/O error, dev vdc')).length, 1, 'one message per request');
});

test('read-only device: bwrite is EROFS and the image is untouched', () => {
  const { l } = layer();
  const img = pattern(MiB);
  const copy = img.slice();
  const d = l.addDisk(createMemoryDisk(img, true));
  assert.equal(d.whole.readOnly, true);
  expectErrno(() => d.whole.bwrite(0, 4096, new Uint8Array(4096)), EROFS, 'bwrite on read-only');
  assert.deepEqual(img, copy);
});

test('sync writes dirty blocks in sector order, merged, then flushes', async () => {
  const { l, mem } = layer();
  const img = new Uint8Array(MiB);
  const c = counting(img);
  const d = l.addDisk(c.backend);
  const blk = (v: number) => new Uint8Array(4096).fill(v);
  for (const nr of [10, 2, 5, 3]) d.whole.bwrite(nr, 4096, blk(nr));
  d.whole.bwrite(7, 1024, new Uint8Array(1024).fill(0xee)); // partial page: read first
  assert.equal(c.calls.filter((x) => x.op === 'write').length, 0, 'nothing written before sync');
  assert.equal(img[2 * 4096], 0);
  await d.whole.sync();
  const order = c.calls.filter((x) => x.op !== 'read').map((x) => `${x.op}@${x.offset / 4096}+${x.length / 4096}`);
  // Pages 1 (the 1K block at 7168), 2 and 3 are adjacent: one request.
  assert.deepEqual(order, ['write@1+3', 'write@5+1', 'write@10+1', 'flush@0+0']);
  assert.equal(img[2 * 4096], 2); assert.equal(img[10 * 4096], 10); assert.equal(img[7 * 1024], 0xee);
  assert.equal(d.dirty.size, 0);
  assert.equal(mem.pages('buffers'), d.pages.size, 'write pages are one page each');
  // A second sync has nothing to write but still flushes.
  c.calls.length = 0;
  await d.whole.sync();
  assert.deepEqual(c.calls.map((x) => x.op), ['flush']);
});

test('invalidate drops clean pages so the next read goes to the backend', () => {
  const { l, mem } = layer();
  const c = counting(pattern(MiB));
  const d = l.addDisk(c.backend);
  d.whole.bread(0, 4096);
  const n = c.reads().length;
  d.whole.invalidate();
  assert.equal(mem.pages('buffers'), 0);
  d.whole.bread(0, 4096);
  assert.equal(c.reads().length, n + 1);
});

test('partitions: MBR scan creates vda1.. with offsets; /proc/partitions text', async () => {
  const { l, log } = layer();
  const img = pattern(64 * MiB);
  img.fill(0, 0, 512);
  // Two primaries: 2048+8192 sectors, 10240+20480 sectors (type 0x83).
  const v = new DataView(img.buffer);
  const ent = (i: number, start: number, n: number) => {
    const o = 446 + 16 * i;
    img[o + 4] = 0x83;
    v.setUint32(o + 8, start, true); v.setUint32(o + 12, n, true);
  };
  ent(0, 2048, 8192); ent(1, 10240, 20480);
  img[510] = 0x55; img[511] = 0xaa;
  const d: Gendisk = l.addDisk(createMemoryDisk(img));
  await d.scanPartitions();
  const p1 = d.parts[1] as BlockDev, p2 = d.parts[2] as BlockDev;
  assert.equal(p1.name, 'vda1'); assert.equal(p1.dev, MKDEV(254, 1));
  assert.equal(p1.start, 2048 * 512); assert.equal(p1.size, 8192 * 512);
  assert.deepEqual(await get(p2.bread(1, 4096)), img.subarray(10240 * 512 + 4096, 10240 * 512 + 8192));
  expectErrno(() => p1.bread(8192 * 512 / 4096, 4096), EIO, 'read past the partition end');
  assert.ok(log.includes(' vda: vda1 vda2'), `partition line missing: ${JSON.stringify(log)}`);
  assert.equal(l.partitionsText(),
    'major minor  #blocks  name\n\n' +
    ' 254        0      65536 vda\n' +
    ' 254        1       4096 vda1\n' +
    ' 254        2      10240 vda2\n');
  assert.equal(l.findByDev(MKDEV(254, 2)), p2);
});
