/*
 * Credentials (struct cred) and capability checks. uid 0 holds every capability, as on Linux;
 * changing ids away from 0 drops them by Linux's rules (setuid(2), "capabilities(7)").
 */
export const CAP_FULL_SET = (1n << 41n) - 1n;

export class Cred {
  uid = 0; gid = 0; suid = 0; sgid = 0; euid = 0; egid = 0; fsuid = 0; fsgid = 0;
  groups: number[] = [];
  capInheritable = 0n;
  capPermitted = CAP_FULL_SET;
  capEffective = CAP_FULL_SET;

  clone(): Cred {
    const c = new Cred();
    Object.assign(c, this);
    c.groups = [...this.groups];
    return c;
  }

  capable(cap: number): boolean { return ((this.capEffective >> BigInt(cap)) & 1n) === 1n; }

  /** in_group_p(): fsgid or a supplementary group. */
  inGroup(gid: number): boolean { return gid === this.fsgid || this.groups.includes(gid); }

  /**
   * Recompute capabilities after a uid change (cap_emulate_setxuid): leaving uid 0 for all of
   * ruid/euid/suid clears permitted and effective; euid leaving 0 clears effective; euid becoming
   * 0 restores effective from permitted. fsuid changes move the fs-related caps.
   */
  fixupAfterSetuid(old: { uid: number; euid: number; suid: number }): void {
    const wasRoot = old.uid === 0 || old.euid === 0 || old.suid === 0;
    const isRoot = this.uid === 0 || this.euid === 0 || this.suid === 0;
    if (wasRoot && !isRoot) { this.capPermitted = 0n; this.capEffective = 0n; }
    if (old.euid === 0 && this.euid !== 0) this.capEffective = 0n;
    if (old.euid !== 0 && this.euid === 0) this.capEffective = this.capPermitted;
  }

  /** fsuid leaving 0 drops the filesystem capabilities from the effective set (CAP_FS_MASK). */
  fixupAfterSetfsuid(oldFsuid: number): void {
    const FS_MASK = (1n << 0n) | (1n << 1n) | (1n << 2n) | (1n << 3n) | (1n << 4n) | (1n << 9n) | (1n << 27n);
    if (oldFsuid === 0 && this.fsuid !== 0) this.capEffective &= ~FS_MASK;
    if (oldFsuid !== 0 && this.fsuid === 0) this.capEffective |= this.capPermitted & FS_MASK;
  }
}
