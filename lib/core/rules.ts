/**
 * The lease protocol, written once. Each operation is a plan: a function of the clock reading that
 * gives one conditional write (when it may happen, what it writes) and what a refusal means, decided
 * by evaluating the parts of the condition on the row as it then stands: a typed error, the row as it
 * stands being the answer already (the request's effect is there), or one more write that the row
 * calls for. The store compiles conditions and updates to DynamoDB and reads the clock afresh for
 * every attempt; nothing else decides who may own a shard.
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
import {
  Attr,
  type AttrName,
  type AttrValue,
  type Lease,
  type LeaseRow,
  NUMBER_ATTRS,
  toLease,
  toRow,
} from './lease-row';
import { formatLeaseTime } from './lease-time';
import { compareSequenceNumbers, isSequenceNumber, normalizeCheckpoint, SHARD_END } from './sequence-number';

export interface LeaseTerms {
  /** How long a take or renewal keeps the lease. */
  readonly leaseDurationMs: number;
  /** How long a claim blocks everyone but the claimer. */
  readonly claimTimeoutMs: number;
}

/**
 * The instants a rule compares with, all derived from one reading of the server clock. The store takes
 * a new reading for every attempt, so a retry never writes a time read before an earlier attempt.
 */
export interface RuleTimes {
  readonly nowMs: number;
  readonly now: string;
  /** A claim made (or, for a Go-written claim, a lease expiring) before this has lapsed. */
  readonly claimCutoff: string;
  /**
   * A claim of ours on a lease that ended before this has lapsed: the claimer had a renewal period (a
   * third of the lease) to take it, and a claimer that crashed or left keeps nobody waiting longer.
   */
  readonly handoverCutoff: string;
  /** The LeaseTimeout a take or renewal writes. */
  readonly newLeaseTimeout: string;
}

/**
 * How long a handed-over shard waits for its claimer once the claimed lease ended: half a lease. A live
 * claimer asks for its claimed shards every renewal period (a third of a lease), so one of its asks
 * always falls inside the window, with a sixth of a lease to spare for a late timer. (A window of
 * exactly one renewal period, rounded down, was shorter than the claimer's period: a claimer in phase
 * with the release missed it every time, and the owner took the shard back.) A claim that outlives the
 * window lapses, so a claimer that crashed or went away delays the shard by no more.
 */
export function handoverWindowMs(terms: Pick<LeaseTerms, 'leaseDurationMs'>): number {
  return Math.ceil(terms.leaseDurationMs / 2);
}

export function ruleTimes(nowMs: number, terms: LeaseTerms): RuleTimes {
  return {
    nowMs,
    now: formatLeaseTime(nowMs),
    claimCutoff: formatLeaseTime(nowMs - terms.claimTimeoutMs),
    handoverCutoff: formatLeaseTime(nowMs - handoverWindowMs(terms)),
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

/**
 * The row DynamoDB answered with (ALL_NEW) shows `update` applied to shard `shardId`: every value set is
 * there as written, every counter is a number, every removed attribute is gone. An answer that does not
 * show it (none at all, another key, a value of the wrong type) does not prove the write happened, and
 * the store treats it as a fault, never as a success.
 */
export function answerShowsUpdate(row: LeaseRow | undefined, shardId: string, update: RowUpdate): boolean {
  if (!row || row[Attr.ShardId] !== shardId || !isWellFormed(row)) return false;
  for (const [name, value] of update.set) {
    const stored = row[name];
    if (value.kind === 'set' && stored !== value.value) return false;
    if (value.kind === 'setIfMissing' && typeof stored !== typeof value.value) return false;
    if (value.kind === 'increment' && (typeof stored !== 'number' || !Number.isInteger(stored))) return false;
  }
  return update.remove.every((name) => row[name] === undefined);
}

/** Every attribute of ours or the Go library's has its type: a row that breaks this is a broken answer. */
export function isWellFormed(row: LeaseRow): boolean {
  for (const name of Object.values(Attr)) {
    const value = row[name];
    if (value === undefined) continue;
    if (typeof value !== (NUMBER_ATTRS.has(name) ? 'number' : 'string')) return false;
  }
  return true;
}

// ---- the parts -----------------------------------------------------------------------------------

/** Set and not the empty string, which the Go library treats as absent. */
export const nonEmpty = (name: AttrName): Condition => and(exists(name), compare(attr(name), '<>', ''));

export const ownedBy = (workerId: string): Condition => compare(attr(Attr.AssignedTo), '=', workerId);

/** Someone holds a lease that has not expired. */
export const hasLiveOwner = (t: RuleTimes): Condition =>
  and(nonEmpty(Attr.AssignedTo), compare(attr(Attr.LeaseTimeout), '>', t.now));

/**
 * A pending claim still counts. Our claims carry ClaimedAt and lapse a claim timeout after it, or one
 * handover window after the claimed lease ended (released or expired), whichever comes first: the owner
 * hands over by releasing, and a claimer that crashed meanwhile must not keep the shard from everyone
 * for the whole claim timeout. A claim the Go library wrote has no ClaimedAt and lapses, as there, a
 * claim timeout after the lease it targets expired.
 */
export const claimIsFresh = (t: RuleTimes): Condition =>
  and(
    nonEmpty(Attr.ClaimRequest),
    or(
      and(
        compare(attr(Attr.ClaimedAt), '>', t.claimCutoff),
        compare(attr(Attr.LeaseTimeout), '>', t.handoverCutoff),
      ),
      and(missing(Attr.ClaimedAt), compare(attr(Attr.LeaseTimeout), '>', t.claimCutoff)),
    ),
  );

/** A fresh claim by somebody other than `workerId`: only the claimer may take the shard. */
export const claimBlocks = (workerId: string, t: RuleTimes): Condition =>
  and(claimIsFresh(t), compare(attr(Attr.ClaimRequest), '<>', workerId));

export const hasEnded = (): Condition => compare(attr(Attr.Checkpoint), '=', SHARD_END);

/**
 * The fencing token matches. A row the Go library rewrote (its ClaimShard and checkpoints are whole-item
 * PutItems) has no counter; the Go library only ever writes back the owner and expiry it read, so a row
 * that lost its counter but still names the caller as the owner of a live lease (checked beside this)
 * is still the caller's lease, and its fenced checkpoint passes.
 */
export const counterIs = (leaseCounter: number): Condition =>
  or(missing(Attr.LeaseCounter), compare(attr(Attr.LeaseCounter), '=', leaseCounter));

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

// ---- plans --------------------------------------------------------------------------------------

/** One conditional write and what its refusal means. */
export interface RowWrite {
  readonly condition: Condition;
  readonly update: RowUpdate;
  /** Decides, from the row as it stood when DynamoDB refused (undefined: no row), what happens next. */
  readonly onRefusal: (row: LeaseRow | undefined) => Refusal;
}

/** A write as a function of the clock: the store calls it again, with a new reading, at every attempt. */
export type WritePlan = (t: RuleTimes) => RowWrite;

export type Refusal =
  | { readonly kind: 'fail'; readonly error: ShardLeaseError }
  /** The row as it stands already has the request's effect: it is the answer, and nothing is written. */
  | { readonly kind: 'done' }
  /** The row calls for another write (a renewal rather than a take, say). */
  | { readonly kind: 'next'; readonly plan: WritePlan };

const fail = (error: ShardLeaseError): Refusal => ({ kind: 'fail', error });
const DONE: Refusal = { kind: 'done' };
const next = (plan: WritePlan): Refusal => ({ kind: 'next', plan });

// ---- GetLease and RenewLeases -------------------------------------------------------------------

export interface TakeRequest {
  readonly workerId: string;
  /** Recorded only when the row has none. */
  readonly parentShardId?: string;
  /** Initial checkpoint, recorded only when the row has none (a take never moves a checkpoint). */
  readonly checkpoint?: string;
  /**
   * Take a new lease even when the caller already holds a live one: the counter moves, so anything
   * still in flight for the lease the caller gave up (a release, a checkpoint) is fenced off. The
   * coordinator takes this way, since it only takes shards it no longer counts as its own.
   */
  readonly newLease?: boolean;
  /**
   * Names this take across the client's retries and the network's duplicates: a take whose id the row
   * records for the caller already happened, and is answered with the row (never taken again).
   */
  readonly takeId?: string;
}

const leaseIsUnexpired = (t: RuleTimes): Condition => compare(attr(Attr.LeaseTimeout), '>', t.now);

/** The caller holds a live lease that no other worker's fresh claim contests: a renewal's ground. */
const holdsLiveUncontested = (workerId: string, t: RuleTimes): Condition =>
  and(ownedBy(workerId), leaseIsUnexpired(t), not(claimBlocks(workerId, t)));

/**
 * A take: the lease changes hands. No other worker's fresh claim, and nobody (the caller included)
 * holds a live lease; the caller's own live lease is renewed instead (renewCondition).
 */
export const takeCondition = (workerId: string, t: RuleTimes): Condition =>
  and(not(claimBlocks(workerId, t)), not(hasLiveOwner(t)));

/**
 * A renewal: the caller holds a live, uncontested lease, and the new timeout is not earlier than the one
 * it holds, so a delayed older renewal that lands after a newer one can never shorten the lease.
 */
export const renewCondition = (workerId: string, t: RuleTimes): Condition =>
  and(holdsLiveUncontested(workerId, t), compare(attr(Attr.LeaseTimeout), '<=', t.newLeaseTimeout));

/** The lease counter moves by one: the fencing token of a lease that changed hands. */
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
  if (request.takeId !== undefined) set.push([Attr.TakeId, { kind: 'set', value: request.takeId }]);
  // The condition admits only the claimer or a lapsed claim, so whatever claim is left is settled.
  const remove: AttrName[] = [Attr.ClaimRequest, Attr.ClaimedAt];
  // Another take's id must not outlive its lease: its late copy would pass for this one.
  if (request.takeId === undefined) remove.push(Attr.TakeId);
  return { set, remove };
}

/** The row records this take (by this worker) already: a retry or a late copy of it. */
const tookAlready = (request: TakeRequest): Condition | undefined =>
  request.takeId === undefined
    ? undefined
    : and(ownedBy(request.workerId), compare(attr(Attr.TakeId), '=', request.takeId));

/**
 * A renewal moves the timeout only: the counter stays, so checkpoints fenced by it keep passing. A
 * GetLease that turns out to be a renewal still records a parent the row lacks.
 */
export function renewUpdate(
  workerId: string,
  t: RuleTimes,
  request?: Pick<TakeRequest, 'parentShardId'>,
): RowUpdate {
  // The owner is written again (the same value, as the condition requires) so that the answer proves it.
  const set: Array<readonly [AttrName, UpdateValue]> = [
    [Attr.AssignedTo, { kind: 'set', value: workerId }],
    [Attr.LeaseTimeout, { kind: 'set', value: t.newLeaseTimeout }],
  ];
  if (request?.parentShardId !== undefined) {
    set.push([Attr.ParentShardId, { kind: 'setIfMissing', value: request.parentShardId }]);
  }
  return { set, remove: [Attr.ClaimRequest, Attr.ClaimedAt] };
}

/**
 * The Go library's claim can write `Checkpoint: ""`, which it treats as no checkpoint, and so do we: a
 * take with an initial checkpoint writes it over the empty string (if_not_exists would keep "").
 */
const emptyCheckpoint = (): Condition => compare(attr(Attr.Checkpoint), '=', '');

function takeOverEmptyCheckpoint(
  request: TakeRequest & { checkpoint: string },
  condition: (t: RuleTimes) => Condition,
): WritePlan {
  return (t) => {
    const base = takeUpdate(request, t);
    return {
      condition: and(condition(t), emptyCheckpoint()),
      update: {
        set: base.set.map(([name, value]) =>
          name === Attr.Checkpoint ? [name, { kind: 'set', value: request.checkpoint }] : [name, value],
        ),
        remove: base.remove,
      },
      onRefusal: (row) => fail(explainTakeRefusal(row, request.workerId, t)),
    };
  };
}

/**
 * GetLease: a take when the lease changes hands, or, when the row shows the caller already holds it, a
 * renewal. One write in the common case; a renewal through GetLease costs a refused take first.
 */
export function takePlan(request: TakeRequest): WritePlan {
  const again = tookAlready(request);
  const base = (t: RuleTimes) =>
    request.newLease
      ? and(not(claimBlocks(request.workerId, t)), or(not(hasLiveOwner(t)), ownedBy(request.workerId)))
      : takeCondition(request.workerId, t);
  const condition = (t: RuleTimes) => (again ? and(base(t), not(again)) : base(t));
  return (t) => ({
    condition: request.checkpoint === undefined ? condition(t) : and(condition(t), not(emptyCheckpoint())),
    update: takeUpdate(request, t),
    onRefusal: (row) => {
      // This very take happened already (the answer was lost, or this is a copy): the row is the answer.
      if (again && holds(again, row)) return DONE;
      if (!request.newLease && holds(holdsLiveUncontested(request.workerId, t), row)) {
        // Should the lease expire before the renewal lands, GetLease takes it again, as it would any other.
        return next(renewPlan(request.workerId, { ...request, otherwise: () => next(takePlan(request)) }));
      }
      const { checkpoint } = request;
      if (checkpoint !== undefined && holds(and(condition(t), emptyCheckpoint()), row)) {
        return next(takeOverEmptyCheckpoint({ ...request, checkpoint }, condition));
      }
      return fail(explainTakeRefusal(row, request.workerId, t));
    },
  });
}

export interface RenewOptions extends Pick<TakeRequest, 'parentShardId'> {
  /** Renew only the lease with this counter (a heartbeat names the leases it holds). */
  readonly leaseCounter?: number;
  /** Decides a refusal that is not the lease being longer already (by default: the lease is lost). */
  readonly otherwise?: (row: LeaseRow | undefined) => Refusal;
}

/** RenewLeases, heartbeats, and GetLease by the holder: never takes a shard the caller does not hold. */
export function renewPlan(workerId: string, options: RenewOptions = {}): WritePlan {
  const { leaseCounter, otherwise } = options;
  const fenced = (c: Condition) => (leaseCounter === undefined ? c : and(c, counterIs(leaseCounter)));
  return (t) => ({
    condition: fenced(renewCondition(workerId, t)),
    update: renewUpdate(workerId, t, options),
    onRefusal: (row) => {
      // Refused for the timeout only: a newer renewal already extends the lease further; that is the answer.
      if (holds(fenced(holdsLiveUncontested(workerId, t)), row)) return DONE;
      if (otherwise) return otherwise(row);
      if (leaseCounter !== undefined && holds(holdsLiveUncontested(workerId, t), row)) {
        // The caller's, but a newer lease than the one named: that one is gone.
        const details = conflictDetails(row);
        return fail(
          new LeaseLostError(
            `the lease was taken again (lease counter ${details.leaseCounter ?? 0}, not ${leaseCounter})`,
            details,
            'retaken',
          ),
        );
      }
      return fail(explainRenewRefusal(row, workerId, t));
    },
  });
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
  if (!holds(leaseIsUnexpired(t), row)) {
    return new LeaseLostError(
      `the lease expired at ${details.leaseTimeout ?? 'an unknown time'}`,
      details,
      'expired',
    );
  }
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
  const owned = and(ownedBy(request.workerId), leaseIsUnexpired(t));
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

/**
 * A stored checkpoint that is not in normal form, when its value is not ahead of the requested one;
 * undefined otherwise. The Go library stores whatever it was given (`0005`), and its claim can write
 * `""`, which means none (and which dynalite's size() does not measure as 0). DynamoDB cannot normalize
 * inside a condition, so such a row is written over on the exact value read.
 */
function unnormalizedCheckpointBehind(row: LeaseRow | undefined, requested: string): string | undefined {
  const stored = row?.[Attr.Checkpoint];
  if (stored === '') return stored;
  if (typeof stored !== 'string' || !isSequenceNumber(stored) || requested === SHARD_END) return undefined;
  const normal = normalizeCheckpoint(stored);
  if (normal === stored) return undefined;
  return compareSequenceNumbers(normal, requested) <= 0 ? stored : undefined;
}

/**
 * A checkpoint by the live owner renews its lease in the same write: LeaseTimeout moves to a lease from
 * now, so a shard checkpointed within a renewal period needs no renewal write of its own. Not while a
 * claim is pending (the lease must end on time for the handover), and never shorter than it was (a Go
 * worker's longer lease, or a later renewal that landed first): then the checkpoint alone is written.
 */
export const checkpointRenewsCondition = (request: CheckpointRequest, t: RuleTimes): Condition =>
  and(
    checkpointCondition(request, t),
    not(claimIsFresh(t)),
    compare(attr(Attr.LeaseTimeout), '<=', t.newLeaseTimeout),
  );

/** As a renewal does, it settles a lapsed claim (the condition admits no fresh one). */
export function checkpointRenewsUpdate(request: CheckpointRequest, t: RuleTimes): RowUpdate {
  const { set, remove } = checkpointUpdate(request, t);
  return {
    set: [...set, [Attr.LeaseTimeout, { kind: 'set', value: t.newLeaseTimeout }]],
    remove: [...remove, Attr.ClaimRequest, Attr.ClaimedAt],
  };
}

/** CheckpointSequence: the checkpoint and a renewal in one write, or the checkpoint alone when it cannot renew. */
export function checkpointPlan(request: CheckpointRequest): WritePlan {
  return (t) => ({
    condition: checkpointRenewsCondition(request, t),
    update: checkpointRenewsUpdate(request, t),
    onRefusal: (row) =>
      holds(checkpointCondition(request, t), row)
        ? next(checkpointOnlyPlan(request))
        : checkpointRefusal(row, request, t),
  });
}

function checkpointOnlyPlan(request: CheckpointRequest): WritePlan {
  return (t) => ({
    condition: checkpointCondition(request, t),
    update: checkpointUpdate(request, t),
    onRefusal: (row) => checkpointRefusal(row, request, t),
  });
}

function checkpointRefusal(row: LeaseRow | undefined, request: CheckpointRequest, t: RuleTimes): Refusal {
  const stored = unnormalizedCheckpointBehind(row, request.checkpoint);
  if (stored !== undefined && holds(checkpointerHoldsLease(request, t), row)) {
    return next((t2) => ({
      condition: and(checkpointerHoldsLease(request, t2), compare(attr(Attr.Checkpoint), '=', stored)),
      update: checkpointUpdate(request, t2),
      onRefusal: (again) => fail(explainCheckpointRefusal(again, request, t2)),
    }));
  }
  return fail(explainCheckpointRefusal(row, request, t));
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
  if (!holds(leaseIsUnexpired(t), row)) {
    return new LeaseLostError(
      `the lease expired at ${details.leaseTimeout ?? 'an unknown time'}`,
      details,
      'expired',
    );
  }
  if (request.leaseCounter !== undefined && !holds(counterIs(request.leaseCounter), row)) {
    return new LeaseLostError(
      `the lease was taken again (lease counter ${details.leaseCounter ?? 0}, not ${request.leaseCounter})`,
      details,
      'retaken',
    );
  }
  const advances = checkpointAdvances(request.checkpoint);
  if (advances && !holds(advances, row)) return new CheckpointRegressionError(request.checkpoint, details);
  return new LeaseLostError('the lease changed concurrently', details);
}

// ---- RemoveLeaseOwner ----------------------------------------------------------------------------

/**
 * The caller owns the row (with the given lease counter, when one is given). A release by anyone else
 * writes nothing: releasing is idempotent (a retry whose first try released the lease finds the row
 * unowned and is done), and an unowned row is left exactly as it is.
 */
export const releaseCondition = (workerId: string, leaseCounter?: number, takeId?: string): Condition => {
  const owned =
    leaseCounter === undefined ? ownedBy(workerId) : and(ownedBy(workerId), counterIs(leaseCounter));
  return takeId === undefined ? owned : and(owned, compare(attr(Attr.TakeId), '=', takeId));
};

/**
 * The owner goes and LeaseTimeout becomes the release instant: the row then tells when the shard became
 * free (the fleet plan offers a shard nobody took in time to more workers), and a pending claim's
 * handover window runs from the release, not from a timeout the released lease never reached. The Go
 * library's claim conditions on the exact timeout it read, and reads this one like any other.
 */
export const releaseUpdate = (t: RuleTimes): RowUpdate => ({
  set: [[Attr.LeaseTimeout, { kind: 'set', value: t.now }]],
  remove: [Attr.AssignedTo],
});

/**
 * RemoveLeaseOwner. With `leaseCounter`, only that lease is released: a release that lands late, after
 * the same worker took the shard again (a new lease, a new counter), leaves the new lease alone. With
 * `takeId`, only the lease that take granted: the caller of a take that got no answer never learned
 * its counter.
 */
export function releasePlan(workerId: string, leaseCounter?: number, takeId?: string): WritePlan {
  return (t) => ({
    condition: releaseCondition(workerId, leaseCounter, takeId),
    update: releaseUpdate(t),
    onRefusal: (row) => {
      // No row, nobody's, or the caller's newer lease: the lease asked about is not held, which is what
      // releasing asks for.
      if (!row || !holds(nonEmpty(Attr.AssignedTo), row) || holds(ownedBy(workerId), row)) return DONE;
      return fail(explainReleaseRefusal(row, workerId));
    },
  });
}

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

export function claimPlan(shardId: string, claimerId: string): WritePlan {
  return (t) => ({
    condition: claimCondition(t),
    update: claimUpdate(claimerId, t),
    onRefusal: (row) => {
      const error = explainClaimRefusal(row, shardId, claimerId, t);
      return error ? fail(error) : DONE;
    },
  });
}

/** WithdrawClaim: the caller's own pending claim, and nobody else's. */
export const withdrawCondition = (claimerId: string): Condition =>
  compare(attr(Attr.ClaimRequest), '=', claimerId);

/**
 * WithdrawClaim: a claimer that goes away (a stopping coordinator) takes its claim back, so that the
 * owner keeps the shard instead of handing it over to nobody. Idempotent: a shard without the caller's
 * claim (never claimed, claimed by another, taken, gone) is already what withdrawing asks for.
 */
export function withdrawPlan(claimerId: string): WritePlan {
  return () => ({
    condition: withdrawCondition(claimerId),
    update: { set: [], remove: [Attr.ClaimRequest, Attr.ClaimedAt] },
    onRefusal: () => DONE,
  });
}

// ---- RemoveLeaseInfo -----------------------------------------------------------------------------

export interface RemoveRowRequest {
  /** The caller: it may delete the row of a lease it holds. */
  readonly workerId?: string;
  /** An admin action: delete whoever holds the lease. */
  readonly force?: boolean;
}

/**
 * Deleting a row is refused while another worker holds a live lease on it: the owner would go on
 * processing while the shard is taken afresh and its progress restarts from nothing. Undefined when
 * nothing guards the delete (forced).
 */
export function removeRowCondition(request: RemoveRowRequest, t: RuleTimes): Condition | undefined {
  if (request.force) return undefined;
  const free = not(hasLiveOwner(t));
  return request.workerId === undefined ? free : or(free, ownedBy(request.workerId));
}

export function explainRemoveRowRefusal(row: LeaseRow | undefined): ShardLeaseError {
  const details = conflictDetails(row);
  return new LeaseNotAcquiredError(
    `${details.owner ?? 'another worker'} holds a live lease on the shard (force=true deletes it anyway)`,
    details,
  );
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
