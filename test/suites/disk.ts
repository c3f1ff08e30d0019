#!/usr/bin/env node
/*
 * LKL's disk test (tools/lkl/tests/disk.c), case for case and in order, with LKL's expectations:
 * disk_add, start_kernel, mount_dev, chdir_mnt_point, opendir, readdir, closedir, umount_dev,
 * stop_kernel, disk_remove. Run as a program: `disk -d FILE -t FSTYPE [-P PART]`; prints TAP13 and
 * exits 0 only when every case is ok.
 *
 * Two places where our API shapes the steps:
 *  - LKL adds the disk before the kernel starts. Our handle exists only after boot(), so disk_add
 *    opens the image read-write as LKL does (open(disk, O_RDWR)) and start_kernel registers it with
 *    k.diskAdd() right after boot, logging the disk id as LKL's disk_add does.
 *  - mount_dev passes flags 0 like LKL. A driver that only mounts read-only answers EROFS; then, as
 *    mount(8) does for write-protected media, the mount is retried with MS_RDONLY and the log says so.
 * opendir/readdir/closedir are LKL's lkl_opendir helpers: open(O_DIRECTORY) and getdents64.
 */
import * as fs from 'node:fs';
import { boot, type LklKernel } from '../../src/lkl.js';
import { O_RDONLY, O_DIRECTORY } from '../../src/uapi/fcntl.js';
import { EROFS } from '../../src/uapi/errno.js';
import { MS_RDONLY } from '../../src/uapi/mount.js';
import { runSuite, testCall, TEST_SUCCESS, TEST_FAILURE, TEST_BAILOUT, type TestCase } from '../lib/lkl_test.js';
import { diskApi, settle, errName, DISK_API_MISSING, type DiskApi } from '../fixtures/lkl.js';

function parseArgs(argv: string[]): { disk?: string; type?: string; partition: number } {
  const o: { disk?: string; type?: string; partition: number } = { partition: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const val = (): string => inline ?? argv[++i] ?? '';
    if (flag === '-d' || flag === '--disk') o.disk = val();
    else if (flag === '-t' || flag === '--type') o.type = val();
    else if (flag === '-P' || flag === '--partition') o.partition = Number(val());
    else { process.stderr.write(`unknown argument ${a}\n`); process.exit(2); }
  }
  return o;
}

const cla = parseArgs(process.argv.slice(2));
if (!cla.disk || !cla.type) {
  process.stderr.write('disk and type parameters required.\n');
  process.exit(255);
}

let k: LklKernel;
let api: DiskApi | null = null;
let diskFd = -1;
let diskId = -1;
let mntPoint = '';
let dirFd = -1;
const lines: string[] = [];
const dec = new TextDecoder();

const cases: TestCase[] = [
  { name: 'disk_add', fn: async (ctx) => {
    try { diskFd = fs.openSync(cla.disk!, 'r+'); } catch (e) { ctx.log(`open(${cla.disk}, O_RDWR): ${(e as Error).message}`); return TEST_FAILURE; }
    ctx.log(`disk fd ${diskFd} (registered with k.diskAdd once the kernel runs)`);
    return TEST_SUCCESS;
  } },
  { name: 'start_kernel', fn: async (ctx) => {
    const { createNodeHost } = await import('../../src/arch/node/index.js');
    k = await boot({ cmdline: 'mem=32M loglevel=8', host: createNodeHost({ print: (t) => lines.push(t) }) });
    ctx.log(lines.join('').trimEnd());
    if (!k.running) return TEST_BAILOUT;
    api = diskApi(k);
    if (!api) { ctx.log(DISK_API_MISSING); return TEST_BAILOUT; }
    const r = await settle(api.diskAdd({ path: cla.disk!, readOnly: false }));
    diskId = r.value ?? -1;
    ctx.log(`disk fd/handle ${diskFd.toString(16)} disk_id ${r.err ?? diskId}`);
    return diskId >= 0 ? TEST_SUCCESS : TEST_BAILOUT;
  } },
  { name: 'mount_dev', fn: async (ctx) => {
    let r = await settle(api!.mountDev(diskId, { part: cla.partition, fstype: cla.type!, flags: 0 }));
    ctx.log(`lkl_mount_dev(${diskId}, ${cla.partition}, "${cla.type}", 0) = ${r.err !== undefined ? `${r.err} ${errName(r.err)}` : `0 at ${r.value}`}`);
    if (r.err === -EROFS) {
      r = await settle(api!.mountDev(diskId, { part: cla.partition, fstype: cla.type!, flags: MS_RDONLY }));
      ctx.log(`write-protected: retried with MS_RDONLY = ${r.err !== undefined ? `${r.err} ${errName(r.err)}` : `0 at ${r.value}`}`);
    }
    if (r.err !== undefined || typeof r.value !== 'string') { ctx.log(k.dmesg().split('\n').slice(-10).join('\n')); return TEST_FAILURE; }
    mntPoint = r.value;
    return TEST_SUCCESS;
  } },
  { name: 'chdir_mnt_point', fn: (ctx) => testCall(ctx, `chdir("${mntPoint}")`, () => k.sys.chdir(mntPoint), 0) },
  { name: 'opendir', fn: async (ctx) => {
    dirFd = await k.sys.open(mntPoint, O_RDONLY | O_DIRECTORY, 0);
    ctx.log(`lkl_opendir(${mntPoint}) = ${dirFd < 0 ? `${dirFd} ${errName(dirFd)}` : '0 Success'}`);
    return dirFd >= 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'readdir', fn: async (ctx) => {
    // Like LKL: log names until about 70 characters were written, then stop.
    const buf = new Uint8Array(4096);
    const v = new DataView(buf.buffer);
    let wr = 0;
    let text = '';
    const names: string[] = [];
    outer: for (;;) {
      const n = await k.sys.getdents64(dirFd, buf, buf.length);
      if (n < 0) { ctx.log(`${text}\ngetdents64 = ${n} ${errName(n)}`); return TEST_FAILURE; }
      if (n === 0) break;
      for (let off = 0; off < n;) {
        const reclen = v.getUint16(off + 16, true);
        let end = off + 19; while (buf[end] !== 0) end++;
        const name = dec.decode(buf.subarray(off + 19, end));
        names.push(name);
        text += `${name} `; wr += name.length + 1;
        off += reclen;
        if (wr >= 70) break outer;
      }
    }
    ctx.log(text);
    // Every mkfs'd ext filesystem has these in its root; a fresh FAT root has only . and ..
    const ext = cla.type!.startsWith('ext');
    return names.includes('.') && names.includes('..') && (!ext || wr >= 70 || names.includes('lost+found')) ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'closedir', fn: (ctx) => testCall(ctx, 'lkl_closedir(dir)', () => k.sys.close(dirFd), 0) },
  { name: 'umount_dev', fn: async (ctx) => {
    const ret = await k.sys.chdir('/');
    const r2 = await settle(api!.umountDev(diskId, { part: cla.partition, flags: 0, timeoutMs: 1000 }));
    const ret2 = r2.err ?? (typeof r2.value === 'number' ? r2.value : 0);
    ctx.log(`${ret} ${ret2}`);
    return ret === 0 && ret2 === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
  { name: 'stop_kernel', fn: (ctx) => testCall(ctx, 'lkl_sys_halt()', () => k.halt(), 0) },
  { name: 'disk_remove', fn: async (ctx) => {
    const r = await settle(api!.diskRemove(diskId));
    const ret = r.err ?? (typeof r.value === 'number' ? r.value : 0);
    fs.closeSync(diskFd);
    ctx.log(`lkl_disk_remove(${diskId}) = ${ret}`);
    return ret === 0 ? TEST_SUCCESS : TEST_FAILURE;
  } },
];

const res = await runSuite(`disk ${cla.type}`, cases, (s) => process.stdout.write(s));
process.exitCode = res.notOk ? 1 : 0;
