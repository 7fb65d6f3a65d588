/**
 * The reaper's rules, written once as conditions: what a pass decides from the row it read, and the
 * condition under which each write may still happen. Every write is conditional on the row being as
 * the reaper read it (or, for deletes, on nobody holding a live lease at the moment of the write), so
 * a worker that renews between the read and the write keeps its lease, and two reapers running at
 * once refuse each other's second write instead of counting it twice.
 */
import { and, attr, type Condition, compare, evaluateCondition, exists, missing, not, or } from './condition';
import { Attr, type AttrName, isWorkerRow, type LeaseRow } from './lease-row';
import { formatLeaseTime } from './lease-time';
import {
  claimIsFresh,
  hasEnded,
  hasLiveOwner,
  nonEmpty,
  type RowUpdate,
  type RuleTimes,
  ruleTimes,
} from './rules';

export interface ReaperTerms {
  /** A claim older than this has lapsed and is removed. */
  readonly claimTimeoutMs: number;
  /** An owner whose lease expired longer ago than this is cleared. */
  readonly graceMs: number;
  /**
   * The service's lease duration: a claim lapses one lease period after the claimed lease ended, and
   * the reaper must judge that as the service does. @default 0 (claims lapse when the lease ends)
   */
  readonly leaseDurationMs?: number;
  /** A worker registry row not updated for this long is deleted. @default 15 minutes */
  readonly workerRetentionMs?: number;
}

export const DEFAULT_WORKER_RETENTION_MS = 15 * 60_000;

export interface ReaperTimes {
  /** The lease rules' instants at the same reading of the clock. */
  readonly rule: RuleTimes;
  /** A lease that expired before this instant is past the grace period. */
  readonly reclaimCutoff: string;
  /** A worker last seen before this instant is forgotten (its registry row deleted). */
  readonly workerCutoff: string;
}

export function reaperTimes(nowMs: number, terms: ReaperTerms): ReaperTimes {
  return {
    rule: ruleTimes(nowMs, {
      leaseDurationMs: terms.leaseDurationMs ?? 0,
      claimTimeoutMs: terms.claimTimeoutMs,
    }),
    reclaimCutoff: formatLeaseTime(nowMs - terms.graceMs),
    workerCutoff: formatLeaseTime(nowMs - (terms.workerRetentionMs ?? DEFAULT_WORKER_RETENTION_MS)),
  };
}

/** The attribute still holds the value read, or is still absent when it was absent. */
const asRead = (row: LeaseRow, name: AttrName): Condition => {
  const value = row[name];
  return value === undefined ? missing(name) : compare(attr(name), '=', value);
};

/**
 * An owner whose lease ended longer than the grace period ago. LeaseTimeout compares as a string, as
 * in every lease rule (see lease-time.ts), so the reaper and the workers agree on when a lease ended.
 * An owner with no LeaseTimeout at all holds nothing anyone must respect (hasLiveOwner is false).
 */
export const expiredBeyondGrace = (t: ReaperTimes): Condition =>
  and(
    nonEmpty(Attr.AssignedTo),
    or(missing(Attr.LeaseTimeout), compare(attr(Attr.LeaseTimeout), '<', t.reclaimCutoff)),
  );

/**
 * The lease is the one read: same owner, same expiry, same counter. A row the Go library wrote has no
 * LeaseCounter; its absence is then part of the condition, so our own take (which adds one) is seen.
 */
export const leaseAsRead = (row: LeaseRow): Condition =>
  and(asRead(row, Attr.AssignedTo), asRead(row, Attr.LeaseTimeout), asRead(row, Attr.LeaseCounter));

/** A pending claim that has lapsed (see claimIsFresh for how a Go-written claim lapses). */
export const claimLapsed = (t: ReaperTimes): Condition =>
  and(nonEmpty(Attr.ClaimRequest), not(claimIsFresh(t.rule)));

/**
 * The claim is the one read. A Go-written claim has no ClaimedAt and lapses relative to LeaseTimeout,
 * which a renewal moves, so the expiry is part of the condition then.
 */
export const claimAsRead = (row: LeaseRow): Condition => {
  const same = and(asRead(row, Attr.ClaimRequest), asRead(row, Attr.ClaimedAt));
  return row[Attr.ClaimedAt] === undefined ? and(same, asRead(row, Attr.LeaseTimeout)) : same;
};

/** One UpdateItem for a row: what it does, when it may, and what it writes. */
export interface RowWrite {
  readonly reclaim: boolean;
  readonly dropClaim: boolean;
  readonly condition: Condition;
  readonly update: RowUpdate;
}

/**
 * What the reaper writes to a row it read, or undefined when the row needs nothing. Clearing an owner
 * and dropping a claim on the same row are one write, conditional on both being as read. LeaseTimeout
 * stays, as in RemoveLeaseOwner: a Go-written claim lapses relative to it.
 */
export function planRowWrite(row: LeaseRow, t: ReaperTimes): RowWrite | undefined {
  const reclaim = evaluateCondition(expiredBeyondGrace(t), row);
  const dropClaim = evaluateCondition(claimLapsed(t), row);
  if (!reclaim && !dropClaim) return undefined;
  const terms: Condition[] = [];
  const remove: AttrName[] = [];
  if (reclaim) {
    terms.push(leaseAsRead(row));
    remove.push(Attr.AssignedTo);
  }
  if (dropClaim) {
    terms.push(claimAsRead(row));
    remove.push(Attr.ClaimRequest, Attr.ClaimedAt);
  }
  const [first, ...rest] = terms as [Condition, ...Condition[]];
  return { reclaim, dropClaim, condition: and(first, ...rest), update: { set: [], remove } };
}

/** The row after a successful write, so end-of-pass decisions see what the pass itself changed. */
export function applyRowWrite(row: LeaseRow, write: RowWrite): LeaseRow {
  const next: Record<string, LeaseRow[string]> = { ...row };
  for (const name of write.update.remove) delete next[name];
  return next;
}

// ---- deletes, decided at the end of a complete pass -----------------------------------------------

/** A shard as the stream lists it; lib/store/kinesis-shard-source.ts's StreamShard has this shape. */
export interface ListedShard {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
  readonly closed: boolean;
}

export type DeleteReason = 'ended' | 'gone' | 'worker';

export interface RowDelete {
  readonly shardId: string;
  readonly reason: DeleteReason;
  readonly condition: Condition;
}

/**
 * A delete happens only while nobody holds a live lease (a worker that takes or renews meanwhile
 * wins), the counter is as read (nobody took the lease meanwhile), the row still exists (a second
 * reaper's delete is refused, not counted), and, for an ended shard, the checkpoint is still SHARD_END.
 */
export function deleteCondition(row: LeaseRow, reason: DeleteReason, t: ReaperTimes): Condition {
  const base = and(exists(Attr.ShardId), not(hasLiveOwner(t.rule)), asRead(row, Attr.LeaseCounter));
  return reason === 'ended' ? and(base, hasEnded()) : base;
}

export interface DeleteDecisionInput {
  /** Every row the pass read (as it left them), from the start of the table to its end. */
  readonly rows: readonly LeaseRow[];
  /** The stream's complete shard list; undefined when no stream is configured. */
  readonly stream?: readonly ListedShard[];
  readonly times: ReaperTimes;
  /**
   * False turns the `ended` rule off: ended rows then go only once the stream no longer lists them.
   * For tables shared with vmware-go-kcl-v2 workers, which take and re-read from its start any shard
   * they list that has no row. @default true
   */
  readonly deleteEnded?: boolean;
}

function addChild(children: Map<string, Set<string>>, parent: string | undefined, child: string): void {
  if (parent === undefined || parent === '') return;
  let set = children.get(parent);
  if (!set) {
    set = new Set();
    children.set(parent, set);
  }
  set.add(child);
}

/**
 * Which rows a complete pass deletes:
 * - `gone`: the stream is configured and lists no shard with the row's id (never a row of a listed shard);
 * - `ended`: the checkpoint is SHARD_END and every child shard has a row. Children are the rows naming
 *   the shard as ParentShardId and, with a stream, the shards listing it as parent or adjacent parent
 *   (the stream is then authoritative: a child it lists must have a row). A shard with no known child
 *   is kept, since a shard always ends into at least one child; a shard the stream lists as open is kept.
 * Either way, a row whose lease is live at the moment of the decision is left for a later pass.
 */
export function decideDeletes(input: DeleteDecisionInput): RowDelete[] {
  const { stream, times, deleteEnded = true } = input;
  // The worker registry's rows are no shards: forgotten once stale, never judged by the stream.
  const deletes: RowDelete[] = input.rows.filter(isWorkerRow).flatMap((row) => {
    const stale = compare(attr(Attr.LastSeen), '<', times.workerCutoff);
    if (!evaluateCondition(stale, row)) return [];
    const condition = and(exists(Attr.ShardId), asRead(row, Attr.LastSeen));
    return [{ shardId: String(row[Attr.ShardId]), reason: 'worker' as const, condition }];
  });
  const rows = input.rows.filter((row) => !isWorkerRow(row));
  const rowIds = new Set(rows.map((r) => String(r[Attr.ShardId])));
  const children = new Map<string, Set<string>>();
  for (const row of rows) {
    const parent = row[Attr.ParentShardId];
    addChild(children, typeof parent === 'string' ? parent : undefined, String(row[Attr.ShardId]));
  }
  const listed = new Map<string, ListedShard>();
  for (const shard of stream ?? []) {
    listed.set(shard.shardId, shard);
    addChild(children, shard.parentShardId, shard.shardId);
    addChild(children, shard.adjacentParentShardId, shard.shardId);
  }
  for (const row of rows) {
    if (evaluateCondition(hasLiveOwner(times.rule), row)) continue;
    const shardId = String(row[Attr.ShardId]);
    let reason: DeleteReason | undefined;
    if (stream && !listed.has(shardId)) {
      reason = 'gone';
    } else if (deleteEnded && evaluateCondition(hasEnded(), row) && listed.get(shardId)?.closed !== false) {
      const kids = children.get(shardId);
      if (kids && kids.size > 0 && [...kids].every((kid) => rowIds.has(kid))) reason = 'ended';
    }
    if (reason) deletes.push({ shardId, reason, condition: deleteCondition(row, reason, times) });
  }
  return deletes;
}

/** Why a stream listing must not drive deletes, or undefined when it may. */
export function streamViewProblem(shards: readonly ListedShard[]): string | undefined {
  // A stream always has an open shard; an empty list means a wrong name or a broken listing, and
  // would otherwise make every row look gone.
  if (shards.length === 0) return 'the stream listed no shards';
  if (!shards.some((s) => !s.closed)) return 'the stream listed no open shard';
  return undefined;
}
