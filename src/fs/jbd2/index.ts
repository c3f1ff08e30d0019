/*
 * jbd2: the journaling layer, as far as a read-mostly kernel needs it: recovery (replay) of a
 * journal left dirty by a crash. It knows nothing of ext4; the filesystem reaches it through a
 * JournalDevice it builds over its journal inode (or external journal) and its block device.
 *
 * Use (ext4's glue, at mount, when the ext4 superblock has needs_recovery):
 *   const jsb = await dev.readBlock(0);
 *   if (journalNeedsRecovery(jsb)) await recoverJournal(dev, printk);   // then clear needs_recovery
 * recoverJournal() also validates the journal superblock when there is nothing to replay; it
 * throws KernelError with Linux's errno and printk message on any failure (see recovery.ts).
 * For a read-only device (or to replay into an overlay), either pass { readOnlyDryRun: true }
 * (every check, no write), or a JournalDevice whose writes land in memory.
 */
export { recoverJournal, type RecoveryResult, type RecoveryOptions } from './recovery.js';
export { journalNeedsRecovery, type JournalDevice, type JournalLog } from './journal.js';
export { RevokeTable, tidGt, tidGeq } from './revoke.js';
export * as jbd2Layout from './layout.js';
export {
  superblockCsum as jbd2SuperblockCsum, csumSeed as jbd2CsumSeed, descriptorBlockCsum as jbd2DescriptorBlockCsum,
  commitBlockCsum as jbd2CommitBlockCsum, blockTagCsum as jbd2BlockTagCsum,
} from './checksum.js';
/*
 * Writing (transaction.ts, commit.ts, checkpoint.ts): Jbd2Journal.open(dev, { clock, beforeCommit })
 * replays a dirty log and resets it; then per operation
 *   const h = await j.start(credits); j.getWriteAccess(h, nr); j.dirtyMetadata(h, nr, block);
 *   j.revoke(h, nr) (with revoke credits); await j.stop(h);
 * and j.commit() for fsync, j.checkpoint(), and j.destroy() at unmount (leaves s_start = 0).
 * A handle that needs more room than it asked for: await j.extend(h, credits, revokes) (false:
 * the log cannot hold it). Pass { mem } to charge the frozen copies to mem=.
 */
export {
  Jbd2Journal, Jbd2Handle, Transaction as Jbd2Transaction, chargeNoFail as jbd2ChargeNoFail, type JournalOptions, type JournalClock,
  type JournalStats, type TransactionState,
} from './transaction.js';
export {
  buildRevokeBlocks as jbd2BuildRevokeBlocks, buildDescriptorBlocks as jbd2BuildDescriptorBlocks,
  buildCommitBlock as jbd2BuildCommitBlock, type LogFormat as Jbd2LogFormat, type LogBuffer as Jbd2LogBuffer,
} from './commit.js';
