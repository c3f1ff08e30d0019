#!/usr/bin/env -S node --max-semi-space-size=2
/*
 * fs2tar IMAGE TARFILE: archive the filesystem in a disk image, read by the in-process kernel
 * (no root, no loop device). See src/apps/fs2tar/main.ts for the whole story; `fs2tar --help`.
 *
 * The V8 flag on the first line keeps the young generation small (2 MiB semi-spaces instead of
 * 16): the walk allocates many short-lived objects, and with the default the nursery alone adds
 * ~45 MiB to the peak RSS (measured: 180 -> 134 MiB on a 1 GiB image at mem=10M, same CPU time).
 * V8 only takes it at startup, hence the shebang (env -S) rather than v8.setFlagsFromString.
 */
import { fs2tarMain } from './fs2tar/main.js';

// The process ends by itself once the kernel has halted and the archive is flushed.
process.exitCode = await fs2tarMain(process.argv.slice(2));
