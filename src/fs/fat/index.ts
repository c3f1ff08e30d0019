/*
 * vfat (and msdos, the same driver without long names): FAT12/16/32, read-write.
 *
 * fatInitcall registers both types; each needs a block device, handed to fatFillSuper
 * (super.ts). Map of the driver (Linux's file names): fat.ts (FatSb, FatInode, the FAT table,
 * time conversion, error reporting), names.ts (namei_vfat.c's name rules), dir.ts (directory
 * entries), inode.ts (inodes, file I/O, namespace operations), super.ts (mount, options,
 * statfs, FSInfo and the dirty bit). mkfs.ts (mkfs.vfat) lives here too but is its own tool.
 */
import { FS_REQUIRES_DEV, type FileSystemType, type MountRequest, type Vfs } from '../vfs/index.js';
import { fatFillSuper } from './super.js';

export { FatSb, FatInode, type FatOptions } from './fat.js';
export { parseOptions as fatParseOptions, defaultOptions as fatDefaultOptions } from './super.js';
export { mkfsVfat, mkfsVfatLayout, type MkfsVfatOptions, type MkfsVfatSummary, type MkfsVfatDevice } from './mkfs.js';
export { createShortname, lfnChecksum, shortToDisplay, toLongName } from './names.js';

export function createVfatType(name: 'vfat' | 'msdos' = 'vfat'): FileSystemType {
  const type: FileSystemType = {
    name,
    fsFlags: FS_REQUIRES_DEV,
    mount: (req: MountRequest) => fatFillSuper(type, req, name === 'vfat'),
  };
  return type;
}

export function fatInit(vfs: Vfs): void {
  vfs.registerFilesystem(createVfatType('vfat'));
  vfs.registerFilesystem(createVfatType('msdos'));
}

/** The initcall src/lkl.ts lists. */
export const fatInitcall = {
  name: 'fat',
  fn: (k: { vfs: Vfs }): void => fatInit(k.vfs),
};
