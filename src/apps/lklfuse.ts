#!/usr/bin/env node
/*
 * lklfuse IMAGE MOUNTPOINT [-o opts]: mount a disk image on the host through FUSE, its filesystem
 * served by the kernel booted in this process. See src/apps/lklfuse/main.ts; `lklfuse --help`.
 *
 * Every outstanding read of /dev/fuse holds a libuv threadpool thread (src/apps/lklfuse/session.ts),
 * so the pool is enlarged here, before anything can start it: libuv reads UV_THREADPOOL_SIZE once,
 * when the first piece of work is queued. The program proper is imported only afterwards.
 */
const want = 16;
if (!(Number(process.env.UV_THREADPOOL_SIZE) >= want)) process.env.UV_THREADPOOL_SIZE = String(want);

const { lklfuseMain } = await import('./lklfuse/main.js');
process.exitCode = await lklfuseMain(process.argv.slice(2));
// Threadpool reads of /dev/fuse can outlive the session (a connection torn down under them):
// nothing is left to do, so leave now rather than wait for them.
process.exit();
