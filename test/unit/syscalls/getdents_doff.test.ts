/*
 * getdents64's d_off: each record carries the position the listing resumes from after it
 * (filldir stores ctx->pos, already advanced past the entry). lseek to a record's d_off on a
 * fresh descriptor must therefore list the entries after that record, in the same order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boot } from '../../../src/lkl.js';
import { createFakeHost } from '../../../src/arch/fake/index.js';
import { O_RDONLY, O_DIRECTORY, SEEK_SET } from '../../../src/uapi/fcntl.js';

function records(buf: Uint8Array, n: number): Array<{ name: string; off: bigint }> {
  const v = new DataView(buf.buffer, buf.byteOffset, n);
  const out: Array<{ name: string; off: bigint }> = [];
  for (let o = 0; o < n;) {
    const reclen = v.getUint16(o + 16, true);
    let end = o + 19;
    while (buf[end] !== 0) end++;
    out.push({ name: new TextDecoder().decode(buf.subarray(o + 19, end)), off: v.getBigInt64(o + 8, true) });
    o += reclen;
  }
  return out;
}

test('getdents64: every d_off resumes the listing right after its record (tmpfs)', async () => {
  const k = await boot({ cmdline: 'mem=32M', host: createFakeHost() });
  try {
    assert.equal(await k.sys.mkdir('/d', 0o755), 0);
    for (let i = 0; i < 20; i++) await k.fs.writeFile(`/d/f${i}`, 'x');
    const fd = await k.sys.openat(-100, '/d', O_RDONLY | O_DIRECTORY, 0);
    const big = new Uint8Array(1 << 16);
    const all = records(big, await k.sys.getdents64(fd, big, big.length));
    await k.sys.close(fd);
    assert.equal(all.length, 22, `got ${all.length} entries, want 22`);
    for (let i = 0; i < all.length - 1; i++) {
      const f = await k.sys.openat(-100, '/d', O_RDONLY | O_DIRECTORY, 0);
      assert.equal(await k.sys.lseek(f, Number(all[i]!.off), SEEK_SET), Number(all[i]!.off));
      const buf = new Uint8Array(1 << 16);
      const rest = records(buf, await k.sys.getdents64(f, buf, buf.length)).map((r) => r.name);
      await k.sys.close(f);
      const want = all.slice(i + 1).map((r) => r.name);
      assert.deepEqual(rest, want, `after record ${i} (${all[i]!.name}, d_off ${all[i]!.off}): got ${rest.join(' ')}, want ${want.join(' ')}`);
    }
  } finally {
    await k.halt();
  }
});
