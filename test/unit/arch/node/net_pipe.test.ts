/*
 * The pipe backend's framing (src/arch/node/net_pipe.ts): LKL's wire format (a 12-byte
 * virtio_net_hdr_v1 before each frame, no length), the boundary recovery when one read returns
 * several writes or part of one, the header's GSO and checksum-offload fields, LKL's "rx|tx"
 * ifname syntax, and real FIFOs: the bytes on the pipe read back raw, and two backends crossed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  encodePipeFrame, statedFrameLength, PipeDeframer, parsePipeIfname, createPipeBackend, VIRTIO_NET_HDR_LEN,
} from '../../../../src/arch/node/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Ethernet header: dst, src, type. */
function eth(type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  f[12] = type >> 8; f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** An IPv4 packet of `total` bytes (header checksum not needed here). */
function ipv4(total: number, proto = 17): Uint8Array {
  const p = new Uint8Array(total);
  p[0] = 0x45; p[2] = total >> 8; p[3] = total & 0xff; p[8] = 64; p[9] = proto;
  p.set([192, 0, 2, 1], 12); p.set([192, 0, 2, 2], 16);
  for (let i = 20; i < total; i++) p[i] = i & 0xff;
  return p;
}

function ipv6(payload: number): Uint8Array {
  const p = new Uint8Array(40 + payload);
  p[0] = 0x60; p[4] = payload >> 8; p[5] = payload & 0xff; p[6] = 58; p[7] = 255;
  return p;
}

const arp = () => { const p = new Uint8Array(28); p[1] = 1; p[2] = 8; p[4] = 6; p[5] = 4; p[7] = 1; return p; };

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function collect(): { frames: Uint8Array[]; d: PipeDeframer } {
  const frames: Uint8Array[] = [];
  return { frames, d: new PipeDeframer((f) => frames.push(f)) };
}

test('encodePipeFrame: a zeroed 12-byte virtio_net_hdr_v1, then the frame', () => {
  const f = eth(0x0800, ipv4(28));
  const w = encodePipeFrame(f);
  assert.equal(VIRTIO_NET_HDR_LEN, 12);
  assert.equal(w.length, 12 + f.length, `got length ${w.length}, want ${12 + f.length}`);
  assert.equal(hex(w.subarray(0, 12)), '00'.repeat(12));
  assert.equal(hex(w.subarray(12)), hex(f));
});

test('statedFrameLength: by IPv4 total length, IPv6 payload length, ARP sizes, one VLAN tag', () => {
  const cases: [string, Uint8Array, number][] = [
    ['IPv4', eth(0x0800, ipv4(84)), 14 + 84],
    ['IPv6', eth(0x86dd, ipv6(64)), 14 + 40 + 64],
    ['ARP', eth(0x0806, arp()), 14 + 28],
    ['802.1Q + IPv4', (() => { const v = eth(0x8100, concat(Uint8Array.of(0, 5, 0x08, 0x00), ipv4(40))); return v; })(), 18 + 40],
    ['unknown type', eth(0x88b5, new Uint8Array(50)), -1],
    ['too short', new Uint8Array(10), -1],
  ];
  for (const [name, f, want] of cases) {
    // Extra bytes after the frame must not change what it states.
    const got = statedFrameLength(concat(f, new Uint8Array(7)));
    assert.equal(got, want, `${name}: got ${got}, want ${want}`);
  }
});

test('PipeDeframer: several writes returned by one read come out as separate frames', () => {
  const { frames, d } = collect();
  const f1 = eth(0x0800, ipv4(84)), f2 = eth(0x0806, arp()), f3 = eth(0x86dd, ipv6(16));
  d.push(concat(encodePipeFrame(f1), encodePipeFrame(f2), encodePipeFrame(f3)));
  assert.deepEqual(frames.map(hex), [f1, f2, f3].map(hex));
  assert.equal(d.dropped, 0);
});

test('PipeDeframer: a read that stopped inside a write waits for the rest', () => {
  const { frames, d } = collect();
  const f = eth(0x0800, ipv4(3000));
  const w = encodePipeFrame(f);
  d.push(w.subarray(0, 1000), true);
  d.push(w.subarray(1000, 1010), true);
  assert.equal(frames.length, 0, 'got a frame before all of it arrived');
  d.push(w.subarray(1010), false);
  assert.deepEqual(frames.map(hex), [hex(f)]);
});

test('PipeDeframer: a frame of unknown type takes the rest of the read, as LKL', () => {
  const { frames, d } = collect();
  const f = eth(0x88b5, new Uint8Array(46).fill(7));
  d.push(encodePipeFrame(f));
  assert.deepEqual(frames.map(hex), [hex(f)]);
});

test('PipeDeframer: trailing bytes that cannot be a frame are dropped at a write boundary', () => {
  const { frames, d } = collect();
  const f = eth(0x0806, arp());
  d.push(concat(encodePipeFrame(f), new Uint8Array(18)), false); // 18 bytes of runt padding
  assert.deepEqual(frames.map(hex), [hex(f)]);
  assert.equal(d.dropped, 1, `got ${d.dropped} dropped, want 1`);
  const g = eth(0x0800, ipv4(60));
  d.push(encodePipeFrame(g), false); // the next read starts clean
  assert.deepEqual(frames.map(hex), [hex(f), hex(g)]);
});

test('PipeDeframer: a GSO header is dropped (the NIC cannot segment)', () => {
  const { frames, d } = collect();
  const w = encodePipeFrame(eth(0x0800, ipv4(100, 6)));
  w[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
  d.push(w);
  assert.equal(frames.length, 0);
  assert.equal(d.dropped, 1);
});

test('PipeDeframer: VIRTIO_NET_HDR_F_NEEDS_CSUM gets the checksum finished, as a device would', () => {
  // A UDP datagram whose checksum field holds only the pseudo-header sum, as Linux leaves it
  // with checksum offload; the finished frame must verify (sum over pseudo-header + UDP = 0xffff).
  const ip = ipv4(20 + 8 + 13);
  const udpLen = 8 + 13;
  ip[20] = 0x30; ip[21] = 0x39; ip[22] = 0x00; ip[23] = 0x35; ip[24] = 0; ip[25] = udpLen;
  const pseudo = concat(ip.subarray(12, 20), Uint8Array.of(0, 17, 0, udpLen));
  let ps = 0;
  for (let i = 0; i < pseudo.length; i += 2) ps += (pseudo[i]! << 8) | pseudo[i + 1]!;
  while (ps > 0xffff) ps = (ps & 0xffff) + (ps >>> 16);
  ip[26] = ps >> 8; ip[27] = ps & 0xff;
  const f = eth(0x0800, ip);
  const w = encodePipeFrame(f);
  w[0] = 1; // NEEDS_CSUM
  w[6] = 34; w[7] = 0; // csum_start: the UDP header
  w[8] = 6; w[9] = 0; // csum_offset: its checksum field
  const { frames, d } = collect();
  d.push(w);
  assert.equal(frames.length, 1);
  const udp = frames[0]!.subarray(34);
  let sum = 0;
  const all = concat(pseudo, udp);
  for (let i = 0; i + 1 < all.length; i += 2) sum += (all[i]! << 8) | all[i + 1]!;
  if (all.length & 1) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(sum, 0xffff, `got checksum verification sum 0x${sum.toString(16)}, want 0xffff`);
});

test('parsePipeIfname: LKL\'s "rx|tx", exactly two names', () => {
  assert.deepEqual(parsePipeIfname('/tmp/a|/tmp/b'), { rx: '/tmp/a', tx: '/tmp/b' });
  for (const bad of ['/tmp/a', '/tmp/a|/tmp/b|/tmp/c', '|/tmp/b', '/tmp/a|']) {
    assert.throws(() => parsePipeIfname(bad), /invalid ifname format/, `"${bad}" accepted`);
  }
});

test('FIFOs: the bytes on the pipe are LKL\'s, and two crossed backends exchange frames', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lkl-pipe-unit-${process.pid}-`));
  try {
    const f1 = path.join(dir, 'f1'), f2 = path.join(dir, 'f2'), raw = path.join(dir, 'raw'), unused = path.join(dir, 'unused');
    execFileSync('mkfifo', [f1, f2, raw, unused]);
    assert.throws(() => createPipeBackend(`${path.join(dir, 'absent')}|${f2}`), /can not open rx pipe/);
    assert.throws(() => createPipeBackend(`${dir}|${f2}`), /not a FIFO/);

    // Raw bytes: a backend writing into `raw`, read back with plain read(2).
    const w = createPipeBackend(`${unused}|${raw}`);
    const frame = eth(0x0800, ipv4(64));
    const rfd = fs.openSync(raw, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      await w.tx(frame);
      await new Promise((r) => setTimeout(r, 50));
      const buf = Buffer.alloc(4096);
      const n = fs.readSync(rfd, buf, 0, buf.length, null);
      assert.equal(hex(buf.subarray(0, n)), hex(encodePipeFrame(frame)), 'bytes on the pipe: want virtio_net_hdr_v1 + frame');
    } finally {
      fs.closeSync(rfd);
      await w.close();
    }

    // Two backends crossed; frames sent back to back arrive whole and in order.
    const a = createPipeBackend(`${f1}|${f2}`), b = createPipeBackend(`${f2}|${f1}`);
    try {
      const got: Uint8Array[] = [];
      const all = new Promise<void>((resolve) => b.setReceiver((f) => { got.push(f); if (got.length === 4) resolve(); }));
      const sent = [eth(0x0800, ipv4(1500)), eth(0x0806, arp()), eth(0x86dd, ipv6(1000)), eth(0x0800, ipv4(20))];
      for (const f of sent) await a.tx(f);
      await all;
      assert.deepEqual(got.map(hex), sent.map(hex));
      const back = new Promise<Uint8Array>((resolve) => a.setReceiver(resolve));
      await b.tx(sent[1]!);
      assert.equal(hex(await back), hex(sent[1]!));
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
