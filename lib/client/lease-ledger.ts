/**
 * What a coordinator owes back: every lease the service granted it, until it is released or seen in
 * another worker's hands, and every claim it made, until the shard came over, the claim was withdrawn
 * or replaced. What is left when `stop()` returns is what the service may still count as this worker's
 * (the stop ran out of time, or it was told not to release): leases expire, claims lapse.
 */
export interface StopResult {
  /** Leases the service granted this worker since `start()`. */
  readonly leasesTaken: number;
  /** Of those, leases given back (at the stop, at SHARD_END, after a processor finished or failed). */
  readonly leasesReleased: number;
  /**
   * Shards whose lease this worker took (or asked for and got no answer) and neither released nor saw
   * taken by another worker: they expire within a lease period. Empty unless the stop ran out of time
   * or did not release.
   */
  readonly leasesNotReleased: readonly string[];
  /** Shards this worker claimed whose claim may still be pending: it lapses on its own. */
  readonly claimsNotWithdrawn: readonly string[];
}

export class LeaseLedger {
  private taken = 0;
  private released = 0;
  /** Shard id → the counter of the lease owed back. */
  private readonly owed = new Map<string, number>();
  private readonly claims = new Set<string>();
  /** Takes that got no answer, by shard, with their take id: the service may have granted them. */
  private readonly uncertain = new Map<string, string>();

  reset(): void {
    this.taken = 0;
    this.released = 0;
    this.owed.clear();
    this.claims.clear();
    this.uncertain.clear();
  }

  /** A take got no answer (a deadline, a lost answer): the lease it may have granted is owed back. */
  takeUnanswered(shardId: string, takeId: string): void {
    if (!this.owed.has(shardId)) this.uncertain.set(shardId, takeId);
  }

  /** Takes that got no answer and are not settled since: a stop releases what each may have granted. */
  uncertainTakes(): Array<{ readonly shardId: string; readonly takeId: string }> {
    return [...this.uncertain].map(([shardId, takeId]) => ({ shardId, takeId }));
  }

  /** Claims that may still be pending. */
  pendingClaims(): string[] {
    return [...this.claims];
  }

  /** The service recorded this worker's claim on the shard. */
  claimed(shardId: string): void {
    this.claims.add(shardId);
  }

  /** The claim is settled: withdrawn, fulfilled by a take, or replaced by another worker's. */
  claimSettled(shardId: string): void {
    this.claims.delete(shardId);
  }

  /** The service granted this lease. */
  granted(shardId: string, counter: number): void {
    this.taken++;
    this.owed.set(shardId, counter);
    this.claims.delete(shardId);
    this.uncertain.delete(shardId);
  }

  /** The lease with this counter (or any, without one) is given back. */
  releasedLease(shardId: string, counter?: number): void {
    if (!this.settle(shardId, counter)) return;
    this.released++;
  }

  /** Another worker holds the shard now (or its row is gone): nothing of ours is left to give back. */
  gone(shardId: string, counter?: number): void {
    this.settle(shardId, counter);
    if (counter === undefined) this.uncertain.delete(shardId);
  }

  /** The lease a take that got no answer may have granted is released (or was never granted). */
  releasedUncertain(shardId: string): void {
    this.uncertain.delete(shardId);
  }

  /** `unanswered`: shards whose take is still unanswered (the service may have granted it). */
  result(unanswered: Iterable<string> = []): StopResult {
    return {
      leasesTaken: this.taken,
      leasesReleased: this.released,
      leasesNotReleased: [...new Set([...this.owed.keys(), ...this.uncertain.keys(), ...unanswered])].sort(),
      claimsNotWithdrawn: [...this.claims].sort(),
    };
  }

  private settle(shardId: string, counter: number | undefined): boolean {
    const owed = this.owed.get(shardId);
    if (owed === undefined || (counter !== undefined && owed !== counter)) return false;
    this.owed.delete(shardId);
    return true;
  }
}
