#!/usr/bin/env node
/*
 * fs2tar IMAGE TARFILE: archive the filesystem in a disk image, read by the in-process kernel
 * (no root, no loop device). See src/apps/fs2tar/main.ts for the whole story; `fs2tar --help`.
 */
import { fs2tarMain } from './fs2tar/main.js';

// The process ends by itself once the kernel has halted and the archive is flushed.
process.exitCode = await fs2tarMain(process.argv.slice(2));
