/*
 * Checkpointing (fs/jbd2/checkpoint.c) and the superblock's view of the log (journal.c).
 *
 * A committed transaction's blocks live twice: in the log and, not yet, at home. Checkpointing
 * writes them home; once that is durable (a flush), the log space they held can be reused, and the
 * journal superblock's tail (s_start, with s_sequence the tid found there) moves past them. The
 * superblock is what recovery starts from, so it is written only after the home writes are flushed,
 * and itself with FUA (a write followed by a flush). s_start = 0 means "nothing to replay": the
 * journal is marked so at a clean shutdown, with s_sequence one past the last tid used.
 *
 * Checkpoint order: transactions oldest first; a block that several of them logged is written once,
 * in its newest committed version. A block revoked (freed) by a later transaction is not written at
 * all, but the transaction that logged it stays in the log until the revoking transaction has
 * committed: before that, a crash must still replay the old copy (Linux's BJ_Forget list).
 */
import type { Jbd2Journal, Transaction } from './transaction.js';

/** jbd2_journal_get_log_tail(): the oldest transaction still needed in the log, and where it starts. */
export function getLogTail(j: Jbd2Journal): { tid: number; block: number } {
  const cp = j.checkpointList[0];
  if (cp) return { tid: cp.tid, block: cp.logStart };
  if (j.committing) return { tid: j.committing.tid, block: j.committing.logStart };
  if (j.running) return { tid: j.running.tid, block: j.head };
  return { tid: j.transactionSequence, block: j.head };
}

/**
 * Write home every block of the committed transactions (each block once, its newest committed
 * copy), then drop from the checkpoint list the oldest ones that nothing pins any more (a
 * transaction pinned by an uncommitted revoke stays, and so do those after it: the tail cannot
 * pass it). Returns how many transactions were released.
 */
export async function logDoCheckpoint(j: Jbd2Journal): Promise<number> {
  const list = [...j.checkpointList];
  const newest = new Map<number, Uint8Array>();
  for (const t of list) for (const [nr, data] of t.frozen) newest.set(nr, data);
  for (const [nr, data] of newest) {
    // A revoke while we were writing dropped it: the block is being freed, leave it alone.
    if (!list.some((t) => t.frozen.get(nr) === data)) continue;
    await j.devCall(() => j.dev.writeFsBlock(nr, data));
  }
  for (const t of list) for (const nr of newest.keys()) if (t.frozen.get(nr) !== undefined) t.frozen.delete(nr);
  j.rechargeFrozen();
  let n = 0;
  while (n < list.length && ![...list[n]!.pinnedBy].some((p) => p.state !== 'finished')) n++;
  const release = new Set(list.slice(0, n));
  j.checkpointList = j.checkpointList.filter((t) => !release.has(t));
  return n;
}

/**
 * jbd2_cleanup_journal_tail(): move the superblock's tail to the oldest transaction still needed.
 * The home writes of everything before it must be durable first, hence the flush.
 */
export async function cleanupJournalTail(j: Jbd2Journal): Promise<boolean> {
  const { tid, block } = getLogTail(j);
  if (tid === j.tailSequence && block === j.tail) return false;
  await j.flushDevice();
  await updateLogTail(j, tid, block);
  return true;
}

/** __jbd2_update_log_tail(): write the new tail, then account the freed log space. */
export async function updateLogTail(j: Jbd2Journal, tid: number, block: number): Promise<void> {
  await j.writeSbLogTail(tid, block, true);
  let freed = block - j.tail;
  if (block < j.tail) freed += j.last - j.first;
  j.free += freed;
  j.tailSequence = tid;
  j.tail = block;
}

/** Checkpoint everything committed and move the tail as far as it goes (jbd2_journal_flush's core). */
export async function checkpointAll(j: Jbd2Journal): Promise<void> {
  await j.checkpointMutex.lock();
  try {
    while (await logDoCheckpoint(j) > 0) { /* until nothing more can be released */ }
    await cleanupJournalTail(j);
  } finally {
    j.checkpointMutex.unlock();
  }
}
