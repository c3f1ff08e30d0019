#!/usr/bin/env node
/*
 * cptofs / cpfromfs [-t fstype] -i IMAGE [-P part] [-p] [-s ctx] [-o uid] [-g gid] [-m mb]
 * SOURCE... DEST: copy files into (cptofs) or out of (cpfromfs) a filesystem image through the
 * in-process kernel. One program, as LKL's: the name it is invoked under picks the direction
 * (package.json installs it as both). See src/apps/cptofs/main.ts; `cptofs --help`.
 */
import { cptofsMain } from './cptofs/main.js';
import { modeOf } from './cptofs/cli.js';

// The process ends by itself once the kernel has halted.
process.exitCode = await cptofsMain(modeOf(process.argv[1] ?? 'cptofs'), process.argv.slice(2));
