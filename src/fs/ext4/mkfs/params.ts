/*
 * mkfs parameters: from the caller's options to the numbers the layout is built from.
 *
 * mke2fs reads /etc/mke2fs.conf and picks a "size type" from the device size (floppy under
 * 3 MiB, small under 512 MiB, default, big from 4 TiB, huge from 16 TiB); each type and each
 * filesystem type (ext2/ext3/ext4) may set the block size, the bytes-per-inode ratio and the
 * feature list. The table here is the Debian 1.47 configuration file, which is what the host's
 * mke2fs (our test oracle) reads. Feature edits (-O) and extended options (-E) are applied on top
 * in the same order mke2fs applies them.
 */
import { fail } from '../../../lib/errors.js';
import { utf8Encode } from '../../../lib/bytestr.js';
import { EINVAL } from '../../../uapi/errno.js';
import {
  EXT4_FEATURE_COMPAT_DIR_PREALLOC, EXT4_FEATURE_COMPAT_HAS_JOURNAL, EXT4_FEATURE_COMPAT_EXT_ATTR,
  EXT4_FEATURE_COMPAT_RESIZE_INODE, EXT4_FEATURE_COMPAT_DIR_INDEX, EXT4_FEATURE_COMPAT_STABLE_INODES,
  EXT4_FEATURE_COMPAT_ORPHAN_FILE,
  EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER, EXT4_FEATURE_RO_COMPAT_LARGE_FILE, EXT4_FEATURE_RO_COMPAT_HUGE_FILE,
  EXT4_FEATURE_RO_COMPAT_GDT_CSUM, EXT4_FEATURE_RO_COMPAT_DIR_NLINK, EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE,
  EXT4_FEATURE_RO_COMPAT_METADATA_CSUM, EXT4_FEATURE_INCOMPAT_FILETYPE, EXT4_FEATURE_INCOMPAT_EXTENTS,
  EXT4_FEATURE_INCOMPAT_64BIT, EXT4_FEATURE_INCOMPAT_FLEX_BG, EXT4_FEATURE_INCOMPAT_CSUM_SEED,
  EXT4_FEATURE_INCOMPAT_LARGEDIR, EXT4_FEATURE_INCOMPAT_ENCRYPT, EXT4_FEATURE_INCOMPAT_INLINE_DATA,
} from '../layout/index.js';

export type FsKind = 'ext2' | 'ext3' | 'ext4';

export interface MkfsOptions {
  type: FsKind;
  /** -b: 1024, 2048, 4096 (or up to 65536). */
  blockSize?: number;
  /** -L */
  label?: string;
  /** -U, as 16 bytes or "xxxxxxxx-xxxx-..." */
  uuid?: string | Uint8Array;
  /** -E hash_seed= */
  hashSeed?: string | Uint8Array;
  /** -O: comma-separated feature names, "^name" removes. */
  features?: string;
  /** -E: comma-separated extended options. */
  extended?: string;
  /** -N */
  inodes?: number;
  /** -I */
  inodeSize?: number;
  /** -i bytes-per-inode */
  inodeRatio?: number;
  /** -m, percent (default 5) */
  reservedRatio?: number;
  /** -J size= in MiB (0 or absent: the default size) */
  journalSizeMiB?: number;
  /** -G */
  flexBgSize?: number;
  /** Creation time in seconds since the epoch (E2FSPROGS_FAKE_TIME for determinism). */
  now?: number;
  /** Source of randomness for the UUIDs not given (the kernel has no host RNG here). */
  random?: (buf: Uint8Array) => void;
}

type Word = 'compat' | 'incompat' | 'ro';
const FEATURES: Record<string, [Word, number]> = {
  dir_prealloc: ['compat', EXT4_FEATURE_COMPAT_DIR_PREALLOC],
  has_journal: ['compat', EXT4_FEATURE_COMPAT_HAS_JOURNAL],
  ext_attr: ['compat', EXT4_FEATURE_COMPAT_EXT_ATTR],
  resize_inode: ['compat', EXT4_FEATURE_COMPAT_RESIZE_INODE],
  dir_index: ['compat', EXT4_FEATURE_COMPAT_DIR_INDEX],
  stable_inodes: ['compat', EXT4_FEATURE_COMPAT_STABLE_INODES],
  orphan_file: ['compat', EXT4_FEATURE_COMPAT_ORPHAN_FILE],
  sparse_super: ['ro', EXT4_FEATURE_RO_COMPAT_SPARSE_SUPER],
  large_file: ['ro', EXT4_FEATURE_RO_COMPAT_LARGE_FILE],
  huge_file: ['ro', EXT4_FEATURE_RO_COMPAT_HUGE_FILE],
  uninit_bg: ['ro', EXT4_FEATURE_RO_COMPAT_GDT_CSUM],
  uninit_groups: ['ro', EXT4_FEATURE_RO_COMPAT_GDT_CSUM],
  gdt_csum: ['ro', EXT4_FEATURE_RO_COMPAT_GDT_CSUM],
  dir_nlink: ['ro', EXT4_FEATURE_RO_COMPAT_DIR_NLINK],
  extra_isize: ['ro', EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE],
  metadata_csum: ['ro', EXT4_FEATURE_RO_COMPAT_METADATA_CSUM],
  filetype: ['incompat', EXT4_FEATURE_INCOMPAT_FILETYPE],
  extent: ['incompat', EXT4_FEATURE_INCOMPAT_EXTENTS],
  extents: ['incompat', EXT4_FEATURE_INCOMPAT_EXTENTS],
  '64bit': ['incompat', EXT4_FEATURE_INCOMPAT_64BIT],
  flex_bg: ['incompat', EXT4_FEATURE_INCOMPAT_FLEX_BG],
  metadata_csum_seed: ['incompat', EXT4_FEATURE_INCOMPAT_CSUM_SEED],
  large_dir: ['incompat', EXT4_FEATURE_INCOMPAT_LARGEDIR],
  encrypt: ['incompat', EXT4_FEATURE_INCOMPAT_ENCRYPT],
  inline_data: ['incompat', EXT4_FEATURE_INCOMPAT_INLINE_DATA],
};

/** The mke2fs.conf this formatter follows (Debian's e2fsprogs 1.47). */
const BASE_FEATURES = 'sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr';
const TYPE_FEATURES: Record<FsKind, string> = {
  ext2: '',
  ext3: 'has_journal',
  ext4: 'has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize',
};
const SIZE_TYPES: Record<string, { blocksize?: number; inodeRatio?: number }> = {
  floppy: { blocksize: 1024, inodeRatio: 8192 },
  small: { blocksize: 1024, inodeRatio: 4096 },
  default: {},
  big: { inodeRatio: 32768 },
  huge: { inodeRatio: 65536 },
};

export interface Features { compat: number; incompat: number; ro: number }

export function hasFeature(f: Features, name: string): boolean {
  const d = FEATURES[name];
  return d !== undefined && (f[d[0]] & d[1]) !== 0;
}

export function setFeature(f: Features, name: string, on: boolean): void {
  const d = FEATURES[name];
  if (!d) fail(EINVAL, `mkfs: invalid filesystem option set: ${name}`);
  f[d[0]] = on ? (f[d[0]] | d[1]) >>> 0 : (f[d[0]] & ~d[1]) >>> 0;
}

export function editFeatures(f: Features, list: string): void {
  for (const raw of list.split(/[\s,]+/)) {
    if (!raw || raw === 'none' || raw === 'clear') continue;
    const off = raw.startsWith('^') || raw.startsWith('-');
    const name = off || raw.startsWith('+') ? raw.slice(1) : raw;
    setFeature(f, name, !off);
  }
}

export function parseUuid(u: string | Uint8Array): Uint8Array {
  if (u instanceof Uint8Array) {
    if (u.length !== 16) fail(EINVAL, 'mkfs: a UUID has 16 bytes');
    return u;
  }
  const hex = u.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) fail(EINVAL, `mkfs: invalid UUID ${u}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A random (version 4) UUID from the caller's randomness. */
function randomUuid(random: ((b: Uint8Array) => void) | undefined): Uint8Array {
  if (!random) fail(EINVAL, 'mkfs: no UUID given and no source of randomness');
  const u = new Uint8Array(16);
  random(u);
  u[6] = (u[6]! & 0x0f) | 0x40;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

/** Everything the layout needs, settled. */
export interface FsParams {
  blockSize: number;
  logBlockSize: number;
  blocksCount: number;
  rBlocksCount: number;
  /** Reserved percentage, kept to recompute r_blocks if the last group is dropped. */
  reservedRatio: number;
  inodesCount: number;
  inodeSize: number;
  features: Features;
  logGroupsPerFlex: number;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  label: Uint8Array;
  now: number;
  rootUid: number;
  rootGid: number;
  stride: number;
  stripeWidth: number;
  /** Journal size in blocks (0: no journal). */
  journalBlocks: number;
}

/** ext2fs_default_journal_size() */
export function defaultJournalBlocks(blocks: number): number {
  if (blocks < 2048) return -1;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}

export function settleParams(size: number, o: MkfsOptions): FsParams {
  if (o.type !== 'ext2' && o.type !== 'ext3' && o.type !== 'ext4') fail(EINVAL, 'mkfs: type must be ext2, ext3 or ext4');
  // The size type is chosen on the byte size (mke2fs measures in blocks of the tentative size).
  const MiB = 1024 * 1024;
  const sizeType = size < 3 * MiB ? 'floppy' : size < 512 * MiB ? 'small'
    : size < 4 * 1024 * 1024 * MiB ? 'default' : size < 16 * 1024 * 1024 * MiB ? 'big' : 'huge';
  const st = SIZE_TYPES[sizeType]!;
  let blockSize = o.blockSize ?? st.blocksize ?? 4096;
  if (![1024, 2048, 4096, 8192, 16384, 32768, 65536].includes(blockSize)) fail(EINVAL, `mkfs: invalid block size ${blockSize}`);
  const logBlockSize = Math.log2(blockSize) - 10;
  const blocksCount = Math.floor(size / blockSize);

  const features: Features = { compat: 0, incompat: 0, ro: 0 };
  editFeatures(features, BASE_FEATURES);
  editFeatures(features, TYPE_FEATURES[o.type]);
  if (o.features) editFeatures(features, o.features);
  if (hasFeature(features, 'metadata_csum')) setFeature(features, 'uninit_bg', false);
  if (hasFeature(features, '64bit') && !hasFeature(features, 'extent')) fail(EINVAL, 'mkfs: Extents MUST be enabled for a 64-bit filesystem');
  if (hasFeature(features, 'resize_inode') && !hasFeature(features, 'sparse_super')) {
    fail(EINVAL, 'mkfs: reserved online resize blocks not supported on non-sparse filesystem');
  }
  if (blocksCount > 0xffffffff) {
    if (!hasFeature(features, '64bit')) fail(EINVAL, 'mkfs: size too big to be expressed in 32 bits without the 64bit feature');
    setFeature(features, 'resize_inode', false);
  }
  if (blocksCount < 60) fail(EINVAL, 'mkfs: device too small');

  let inodeRatio = o.inodeRatio ?? st.inodeRatio ?? 16384;
  if (inodeRatio < blockSize) inodeRatio = blockSize;
  const inodeSize = o.inodeSize ?? 256;
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1))) fail(EINVAL, `mkfs: invalid inode size ${inodeSize}`);

  if (hasFeature(features, 'orphan_file') && !hasFeature(features, 'extent')) fail(EINVAL, 'mkfs: orphan_file is supported here only with extents');
  // Inline data lives in the in-inode xattr area, which 128-byte inodes lack.
  if (hasFeature(features, 'inline_data') && inodeSize < 256) fail(EINVAL, `mkfs: ${inodeSize} byte inodes are too small for inline data`);
  let inodesCount = o.inodes ?? 0;
  if (!inodesCount) {
    const n = Math.floor((blocksCount * blockSize) / inodeRatio);
    inodesCount = n > 0xffffffff ? 0xffffffff : n;
  }
  const reservedRatio = o.reservedRatio ?? 5;
  if (reservedRatio < 0 || reservedRatio > 50) fail(EINVAL, 'mkfs: invalid reserved blocks percent');

  let flex = o.flexBgSize ?? 16;
  if (flex & (flex - 1)) fail(EINVAL, 'mkfs: flex_bg size must be a power of 2');
  const logGroupsPerFlex = hasFeature(features, 'flex_bg') ? Math.log2(flex) : 0;

  let rootUid = 0, rootGid = 0, stride = 0, stripeWidth = 0;
  let hashSeed = o.hashSeed !== undefined ? parseUuid(o.hashSeed) : undefined;
  for (const opt of (o.extended ?? '').split(',')) {
    if (!opt) continue;
    const [k, v] = opt.split('=', 2) as [string, string | undefined];
    switch (k) {
      case 'root_owner': {
        const m = /^(\d+):(\d+)$/.exec(v ?? '');
        if (!m) fail(EINVAL, 'mkfs: root_owner takes uid:gid');
        rootUid = Number(m[1]); rootGid = Number(m[2]);
        break;
      }
      case 'stride': stride = Number(v); break;
      case 'stripe-width': case 'stripe_width': stripeWidth = Number(v); break;
      case 'hash_seed': hashSeed = parseUuid(v ?? ''); break;
      // We write on a target that reads as zeros or zero what matters: these change nothing.
      case 'lazy_itable_init': case 'lazy_journal_init': case 'discard': case 'nodiscard':
      case 'packed_meta_blocks': case 'assume_storage_prezeroed':
        break;
      default: fail(EINVAL, `mkfs: bad extended option ${k}`);
    }
    if (!Number.isInteger(stride) || !Number.isInteger(stripeWidth)) fail(EINVAL, 'mkfs: bad stride');
  }

  let journalBlocks = 0;
  if (hasFeature(features, 'has_journal')) {
    journalBlocks = o.journalSizeMiB ? Math.floor((o.journalSizeMiB * MiB) / blockSize) : defaultJournalBlocks(blocksCount);
    if (journalBlocks < 0) {
      // "Filesystem too small for a journal": mke2fs goes on without one.
      journalBlocks = 0;
      setFeature(features, 'has_journal', false);
    }
  }
  const label = utf8Encode(o.label ?? '');
  if (label.length > 16) fail(EINVAL, 'mkfs: label longer than 16 bytes');
  return {
    blockSize, logBlockSize, blocksCount,
    rBlocksCount: Math.floor((reservedRatio * blocksCount) / 100), reservedRatio,
    inodesCount, inodeSize, features, logGroupsPerFlex,
    uuid: o.uuid !== undefined ? parseUuid(o.uuid) : randomUuid(o.random),
    hashSeed: hashSeed ?? randomUuid(o.random),
    label, now: o.now ?? 0, rootUid, rootGid, stride, stripeWidth, journalBlocks,
  };
}
