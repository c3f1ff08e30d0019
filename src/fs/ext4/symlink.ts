/*
 * Symbolic links (fs/ext4/symlink.c and the fast-link case of ext4_iget).
 *
 * A link target lives in one of three places:
 *   - fast: in i_block[] itself (up to 59 bytes plus a NUL), when the inode has no data blocks
 *     (i_blocks, less an xattr block's share, is zero: ext4_inode_is_fast_symlink);
 *   - slow: in logical block 0 of the link's data (extent-mapped or block-mapped);
 *   - inline: with inline_data, in i_block + system.data like a small file (older kernels
 *     created these; Linux still reads them).
 * The target is i_size bytes, cut at the buffer's capacity (59 for fast links, blocksize - 1 for
 * slow ones, as nd_terminate_link does) and at the first NUL, since readlink copies a C string.
 * A slow link without a block is corruption ("bad symlink.").
 */
import { bytesToByteString, type ByteString } from '../../lib/bytestr.js';
import type { InodeOperations } from '../vfs/index.js';
import { type Ext4Inode, ext4Error } from './ext4.js';
import { ext4Getxattr, ext4Listxattr } from './xattr.js';
import { readInlineData } from './inline.js';
import { dirBread } from './htree.js';
import { I_BLOCK } from './layout/index.js';

/** Bytes up to `max` and the first NUL. */
function cString(b: Uint8Array, start: number, max: number): ByteString {
  let end = start;
  const lim = start + max;
  while (end < lim && b[end] !== 0) end++;
  return bytesToByteString(b, start, end);
}

/** ext4_get_link / the fast-link i_link: the link's target. */
export async function ext4Readlink(inode: Ext4Inode): Promise<ByteString> {
  if (inode.hasInlineData) {
    const d = await readInlineData(inode);
    return cString(d, 0, d.length);
  }
  if (inode.isFastSymlink()) {
    return cString(inode.raw, I_BLOCK, Math.min(inode.size, 59));
  }
  const db = await dirBread(inode, 0);
  if (!db) throw ext4Error(inode.sbi, 'ext4_get_link', inode, 'bad symlink.');
  return cString(db.b, 0, Math.min(inode.size, inode.sbi.blockSize - 1));
}

export const ext4SymlinkInodeOps: InodeOperations = {
  readlink: (inode) => ext4Readlink(inode as Ext4Inode),
  getxattr: (inode, name) => ext4Getxattr(inode as Ext4Inode, name),
  listxattr: (inode) => ext4Listxattr(inode as Ext4Inode),
};
