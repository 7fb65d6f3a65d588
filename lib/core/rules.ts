/**
 * The lease protocol, written once. Each operation is a condition (when the write may happen), an
 * update (what it writes) and an explanation (which typed error a refusal means, found by evaluating
 * the parts of the condition on the row as it now stands). The store compiles conditions and updates
 * to DynamoDB; nothing else decides who may own a shard.
 */
import {
  and,
  attr,
  type Condition,
  compare,
  evaluateCondition,
  exists,
  missing,
  not,
  or,
  size,
} from './condition';
import {
  CheckpointRegressionError,
  type LeaseConflictDetails,
  LeaseLostError,
  LeaseNotAcquiredError,
  ShardClaimedError,
  ShardEndedError,
  type ShardLeaseError,
  ShardNotFoundError,
} from './errors';
import { Attr, type AttrName, type AttrValue, type Lease, type LeaseRow, toLease, toRow } from './lease-row';
import { formatLeaseTime } from './lease-time';
import { SHARD_END } from './sequence-number';

export interface LeaseTerms {
  /** How long a take or renewal keeps the lease. */
  readonly leaseDurationMs: number;
  /** How long a claim blocks everyone but the claimer. */
  readonly claimTimeoutMs: number;
}

/** The instants a rule compares with, all derived from one reading of the server clock. */
export interface RuleTimes {
  readonly nowMs: number;
  readonly now: string;
  /** A claim made (or, for a Go-written claim, a lease expiring) before this has lapsed. */
  readonly claimCutoff: string;
  /** The LeaseTimeout a take or renewal writes. */
  readonly newLeaseTimeout: string;
}

export function ruleTimes(nowMs: number, terms: LeaseTerms): RuleTimes {
  return {
    nowMs,
    now: formatLeaseTime(nowMs),
    claimCutoff: formatLeaseTime(nowMs - terms.claimTimeoutMs),
    newLeaseTimeout: formatLeaseTime(nowMs + terms.leaseDurationMs),
  };
}

/** A value to write: a constant, a constant only if the attribute is absent, or a counter step. */
export type UpdateValue =
  | { readonly kind: 'set'; readonly value: AttrValue }
  | { readonly kind: 'setIfMissing'; readonly value: AttrValue }
  | { readonly kind: 'increment'; readonly by: number };

export interface RowUpdate {
  readonly set: ReadonlyArray<readonly [AttrName, UpdateValue]>;
  readonly remove: readonly AttrName[];
}

// ---- the parts -----------------------------------------------------------------------------------

/** Set and not the empty string, which the Go library treats as absent. */
export const nonEmpty = (name: AttrName): Condition => and(exists(name), compare(attr(name), '<>', ''));

export const ownedBy = (workerId: string): Condition => compare(attr(Attr.AssignedTo), '=', workerId);

/** Someone holds a lease that has not expired. */
export const hasLiveOwner = (t: RuleTimes): Condition =>
  and(nonEmpty(Attr.AssignedTo), compare(attr(Attr.LeaseTimeout), '>', t.now));

/**
 * A pending claim still counts. Our claims carry ClaimedAt; a claim the Go library wrote has none, and
 * lapses, as there, a claim timeout after the lease it targets expired.
 */
export const claimIsFresh = (t: RuleTimes): Condition =>
  and(
    nonEmpty(Attr.ClaimRequest),
    or(
      compare(attr(Attr.ClaimedAt), '>', t.claimCutoff),
      and(missing(Attr.ClaimedAt), compare(attr(Attr.LeaseTimeout), '>', t.claimCutoff)),
    ),
  );

/** A fresh claim by somebody other than `workerId`: only the claimer may take the shard. */
export const claimBlocks = (workerId: string, t: RuleTimes): Condition =>
  and(claimIsFresh(t), compare(attr(Attr.ClaimRequest), '<>', workerId));

export const hasEnded = (): Condition => compare(attr(Attr.Checkpoint), '=', SHARD_END);

/** The fencing token matches; a row the Go library rewrote has no counter, which counts as 0. */
export const counterIs = (leaseCounter: number): Condition =>
  leaseCounter === 0
    ? or(missing(Attr.LeaseCounter), compare(attr(Attr.LeaseCounter), '=', 0))
    : compare(attr(Attr.LeaseCounter), '=', leaseCounter);

/**
 * Writing `checkpoint` does not move the recorded one backwards. Normalized sequence numbers compare
 * by length, then as strings; SHARD_END is final and may only be written again.
 */
export const checkpointAdvances = (checkpoint: string): Condition | undefined => {
  if (checkpoint === SHARD_END) return undefined;
  const digits = checkpoint.length;
  return or(
    missing(Attr.Checkpoint),
    and(
      not(hasEnded()),
      or(
        compare(size(Attr.Checkpoint), '<', digits),
        and(compare(size(Attr.Checkpoint), '=', digits), compare(attr(Attr.Checkpoint), '<=', checkpoint)),
      ),
    ),
  );
};

const holds = (condition: Condition, row: LeaseRow | undefined): boolean => evaluateCondition(condition, row);

function conflictDetails(row: LeaseRow | undefined): LeaseConflictDetails {
  if (!row) return {};
  const lease = toLease(row);
  return {
    ...(lease.owner !== undefined && { owner: lease.owner }),
    ...(lease.leaseTimeout !== undefined && { leaseTimeout: lease.leaseTimeout }),
    ...(lease.claimRequest !== undefined && { claimRequest: lease.claimRequest }),
    ...(lease.checkpoint !== undefined && { checkpoint: lease.checkpoint }),
    leaseCounter: lease.leaseCounter,
  };
}

// ---- GetLease and RenewLeases -------------------------------------------------------------------

export interface TakeRequest {
  readonly workerId: string;
  /** Recorded only when the row has none. */
  readonly parentShardId?: string;
  /** Initial checkpoint, recorded only when the row has none (a take never moves a checkpoint). */
  readonly checkpoint?: string;
}

/** GetLease: no other worker's fresh claim, and the shard is free, expired, or already the caller's. */
export const takeCondition = (workerId: string, t: RuleTimes): Condition =>
  and(not(claimBlocks(workerId, t)), or(not(hasLiveOwner(t)), ownedBy(workerId)));

/** RenewLeases: GetLease for a shard the caller holds, and never a take of one it does not. */
export const renewCondition = (workerId: string, t: RuleTimes): Condition =>
  and(ownedBy(workerId), takeCondition(workerId, t));

export function takeUpdate(request: TakeRequest, t: RuleTimes): RowUpdate {
  const set: Array<readonly [AttrName, UpdateValue]> = [
    [Attr.AssignedTo, { kind: 'set', value: request.workerId }],
    [Attr.LeaseTimeout, { kind: 'set', value: t.newLeaseTimeout }],
    [Attr.LeaseCounter, { kind: 'increment', by: 1 }],
  ];
  if (request.parentShardId !== undefined) {
    set.push([Attr.ParentShardId, { kind: 'setIfMissing', value: request.parentShardId }]);
  }
  if (request.checkpoint !== undefined) {
    set.push([Attr.Checkpoint, { kind: 'setIfMissing', value: request.checkpoint }]);
  }
  // The condition admits only the claimer or a lapsed claim, so whatever claim is left is settled.
  return { set, remove: [Attr.ClaimRequest, Attr.ClaimedAt] };
}

export function explainTakeRefusal(
  row: LeaseRow | undefined,
  workerId: string,
  t: RuleTimes,
): ShardLeaseError {
  const details = conflictDetails(row);
  if (holds(claimBlocks(workerId, t), row)) return new ShardClaimedError(details);
  if (holds(hasLiveOwner(t), row) && !holds(ownedBy(workerId), row)) {
    return new LeaseNotAcquiredError('current lease timeout not yet expired', details);
  }
  return new LeaseNotAcquiredError('the lease changed concurrently', details);
}

export function explainRenewRefusal(
  row: LeaseRow | undefined,
  workerId: string,
  t: RuleTimes,
): ShardLeaseError {
  const details = conflictDetails(row);
  if (!row) return new LeaseLostError('the shard has no lease row', details);
  if (!holds(ownedBy(workerId), row)) {
    return new LeaseLostError(
      details.owner ? `the shard is owned by ${details.owner}` : 'the shard has no owner',
      details,
    );
  }
  if (holds(claimBlocks(workerId, t), row)) return new ShardClaimedError(details);
  return new LeaseLostError('the lease changed concurrently', details);
}

// ---- CheckpointSequence --------------------------------------------------------------------------

export interface CheckpointRequest {
  readonly workerId: string;
  /** Normalized: see normalizeCheckpoint. */
  readonly checkpoint: string;
  /** When given, the lease must still be the one the caller took (its fencing token). */
  readonly leaseCounter?: number;
  readonly parentShardId?: string;
}

const checkpointerHoldsLease = (request: CheckpointRequest, t: RuleTimes): Condition => {
  const owned = and(ownedBy(request.workerId), compare(attr(Attr.LeaseTimeout), '>', t.now));
  return request.leaseCounter === undefined ? owned : and(owned, counterIs(request.leaseCounter));
};

export const checkpointCondition = (request: CheckpointRequest, t: RuleTimes): Condition => {
  const advances = checkpointAdvances(request.checkpoint);
  const holdsLease = checkpointerHoldsLease(request, t);
  return advances ? and(holdsLease, advances) : holdsLease;
};

export function checkpointUpdate(request: CheckpointRequest, t: RuleTimes): RowUpdate {
  const set: Array<readonly [AttrName, UpdateValue]> = [
    [Attr.Checkpoint, { kind: 'set', value: request.checkpoint }],
    [Attr.CheckpointedAt, { kind: 'set', value: t.now }],
  ];
  if (request.parentShardId !== undefined) {
    set.push([Attr.ParentShardId, { kind: 'setIfMissing', value: request.parentShardId }]);
  }
  return { set, remove: [] };
}

export function explainCheckpointRefusal(
  row: LeaseRow | undefined,
  request: CheckpointRequest,
  t: RuleTimes,
): ShardLeaseError {
  const details = conflictDetails(row);
  if (!row) return new LeaseLostError('the shard has no lease row', details);
  if (!holds(ownedBy(request.workerId), row)) {
    return new LeaseLostError(
      details.owner ? `the shard is owned by ${details.owner}` : 'the shard has no owner',
      details,
    );
  }
  if (!holds(compare(attr(Attr.LeaseTimeout), '>', t.now), row)) {
    return new LeaseLostError(`the lease expired at ${details.leaseTimeout ?? 'an unknown time'}`, details);
  }
  if (request.leaseCounter !== undefined && !holds(counterIs(request.leaseCounter), row)) {
    return new LeaseLostError(
      `the lease was taken again (lease counter ${details.leaseCounter ?? 0}, not ${request.leaseCounter})`,
      details,
    );
  }
  const advances = checkpointAdvances(request.checkpoint);
  if (advances && !holds(advances, row)) return new CheckpointRegressionError(request.checkpoint, details);
  return new LeaseLostError('the lease changed concurrently', details);
}

// ---- RemoveLeaseOwner ----------------------------------------------------------------------------

export const releaseCondition = (workerId: string): Condition => ownedBy(workerId);

/** LeaseTimeout stays: a Go-written claim lapses relative to it. */
export const releaseUpdate = (): RowUpdate => ({ set: [], remove: [Attr.AssignedTo] });

export function explainReleaseRefusal(row: LeaseRow | undefined, workerId: string): ShardLeaseError {
  const details = conflictDetails(row);
  if (!row) return new LeaseLostError('the shard has no lease row', details);
  return new LeaseLostError(
    details.owner ? `the shard is owned by ${details.owner}, not ${workerId}` : 'the shard has no owner',
    details,
  );
}

// ---- ClaimShard ----------------------------------------------------------------------------------

/** The row exists, the shard has not ended, and no claim is pending (a lapsed claim is replaced). */
export const claimCondition = (t: RuleTimes): Condition =>
  and(exists(Attr.ShardId), not(hasEnded()), not(claimIsFresh(t)));

export const claimUpdate = (claimerId: string, t: RuleTimes): RowUpdate => ({
  set: [
    [Attr.ClaimRequest, { kind: 'set', value: claimerId }],
    [Attr.ClaimedAt, { kind: 'set', value: t.now }],
  ],
  remove: [],
});

/**
 * `undefined` when the refusal is the caller's own fresh claim: claiming again is a no-op that keeps
 * the original claim time, so repeating a claim cannot extend it.
 */
export function explainClaimRefusal(
  row: LeaseRow | undefined,
  shardId: string,
  claimerId: string,
  t: RuleTimes,
): ShardLeaseError | undefined {
  if (!row) return new ShardNotFoundError(shardId);
  if (holds(hasEnded(), row)) return new ShardEndedError(shardId);
  if (holds(claimBlocks(claimerId, t), row)) return new ShardClaimedError(conflictDetails(row));
  if (holds(claimIsFresh(t), row)) return undefined;
  return new ShardClaimedError(conflictDetails(row));
}

// ---- Reading -------------------------------------------------------------------------------------

/** A lease that counts for ListActiveWorkers: an owner whose lease has not expired. */
export const isLiveLease = (row: LeaseRow, t: RuleTimes): boolean => holds(hasLiveOwner(t), row);
export const isEnded = (row: LeaseRow): boolean => holds(hasEnded(), row);

/**
 * The live-owner rule for a lease as the API returns it, at a given instant: what the coordinator and
 * the local page use to tell live workers from gone ones, judged exactly as the table's writes judge it.
 */
export function leaseIsLive(lease: Lease, nowMs: number): boolean {
  return holds(hasLiveOwner(ruleTimes(nowMs, { leaseDurationMs: 0, claimTimeoutMs: 0 })), toRow(lease));
}
