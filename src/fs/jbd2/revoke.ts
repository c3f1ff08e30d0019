/*
 * The recovery revoke table (the recovery half of fs/jbd2/revoke.c).
 *
 * A transaction that frees a metadata block writes a revoke record for it, so that an older copy
 * of the block still sitting in the log is not replayed over whatever the block holds now. The
 * REVOKE pass collects every record of every committed transaction, remembering for each block
 * the newest transaction that revoked it; the REPLAY pass then skips a logged copy of a block
 * when the revoke comes from the same or a later transaction than the copy.
 *
 * Transaction ids wrap at 2^32, so they are compared as Linux's tid_gt()/tid_geq() do: by the
 * sign of the 32-bit difference.
 */

/** tid_gt(x, y): x is later than y. */
export function tidGt(x: number, y: number): boolean {
  return ((x - y) | 0) > 0;
}

/** tid_geq(x, y): x is y or later. */
export function tidGeq(x: number, y: number): boolean {
  return ((x - y) | 0) >= 0;
}

export class RevokeTable {
  /** Filesystem block number -> newest revoking tid. */
  private readonly records = new Map<number, number>();

  /** jbd2_journal_set_revoke(): record (or move forward) the revoke of `blocknr` by `tid`. */
  set(blocknr: number, tid: number): void {
    const old = this.records.get(blocknr);
    if (old === undefined || tidGt(tid, old)) this.records.set(blocknr, tid);
  }

  /** jbd2_journal_test_revoke(): is the copy of `blocknr` logged by transaction `tid` revoked? */
  test(blocknr: number, tid: number): boolean {
    const rec = this.records.get(blocknr);
    return rec !== undefined && !tidGt(tid, rec);
  }

  get size(): number {
    return this.records.size;
  }

  clear(): void {
    this.records.clear();
  }
}
