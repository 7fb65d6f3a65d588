/**
 * What must hold in every simulated run, checked as it happens (at every lease gained or lost, every
 * side effect, every write the table applies, and on a timer after the heal), never only at the end:
 *
 * (a) no two processors of one shard active at the same virtual instant; a processor is active from
 *     onLeaseGained until its signal aborts, its promise settles or its process dies, whichever comes
 *     first, and it makes side effects only inside that window;
 * (b) no checkpoint regression in the table: every applied Checkpoint is at or above the previous one
 *     (as big integers), and SHARD_END is final;
 * (c) after the heal instant H, every shard that is not finished (and whose parents are) is processed
 *     (a side effect, or its SHARD_END applied) within three lease periods, and again at least every
 *     three lease periods after that;
 * (d) parents before children: a shard's first side effect comes after every parent's SHARD_END was
 *     applied;
 * (e) liveness, during faults as well as after: a shard that needs processing (eligible, not finished)
 *     and has no active processor is idle while it is free to take (no live lease) or while a healthy
 *     worker holds it (which must then process it); a live lease held by a worker that is not healthy
 *     (dead, stopping, cut off, slow, meeting faults) makes it not free, and the count starts again
 *     when that lease ends. Idle time counts only while some healthy worker could take the shard
 *     (running, reachable, answering promptly, not backing off that shard), and never exceeds one lease
 *     period;
 * (f) a stopped coordinator leaves no live lease and no fresh claim in the table under its worker id
 *     that its stop result does not report;
 * and, from the writes the table applies: a lease never changes hands while it is live, and a
 * checkpoint is only ever written under a live lease; and a checkpoint the coordinator reports as
 * recorded is in the table.
 */
import type { Clock } from '../../lib/core/clock';
import { Attr, type LeaseRow } from '../../lib/core/lease-row';
import { parseLeaseTime } from '../../lib/core/lease-time';
import { SHARD_END } from '../../lib/core/sequence-number';
import type { AppliedWrite } from './memory-row-store';
import type { RecordBatch } from './stream';
import type { Trace } from './trace';

export const VIOLATION_KINDS = [
  'twoProcessors',
  'sideEffectOutsideLease',
  'checkpointRegression',
  'notRecovered',
  'childBeforeParent',
  'liveLeaseChangedHands',
  'checkpointWithoutLease',
  'phantomCheckpoint',
  'callAfterStop',
  'stopUnbounded',
  'shardIdle',
  'leftBehindByStop',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly atMs: number;
  readonly kind: ViolationKind;
  readonly message: string;
  /** Its line in the trace. */
  readonly traceLine: number;
}

/** One call of onLeaseGained: one processor of one shard in one process. */
export interface ProcessorRecord {
  readonly pid: number;
  readonly shardId: string;
  /** `w2#1`: worker w2, its first process. */
  readonly process: string;
  readonly gainedAtMs: number;
  /** When it stopped being active, and why. */
  endedAtMs?: number;
  endedBy?: 'aborted' | 'settled' | 'dead';
  sideEffects: number;
}

export interface InvariantOptions {
  readonly clock: Clock;
  readonly trace: Trace;
  readonly leaseDurationMs: number;
  readonly shardIds: readonly string[];
  readonly parentsOf: (shardId: string) => readonly string[];
  /** How long a worker backs off a shard whose processor returned or threw, at most. */
  readonly retakeBackoffMs?: number;
}

interface ShardState {
  readonly active: Set<ProcessorRecord>;
  /** The latest processor gained. */
  last?: ProcessorRecord;
  /** The last Checkpoint the table held (kept across a deleted row). */
  checkpoint?: string;
  finishedAtMs?: number;
  lastProgressAtMs?: number;
  /** First progress at or after max(heal, eligibility). */
  recoveredAtMs?: number;
  reportedStuck: boolean;
  /** The idle stretch in progress (e): when it began, and the unhealthy time counted by then. */
  idle?: {
    readonly fromMs: number;
    excludedMs: number;
    reported: boolean;
    /** The latest processor when the stretch began: a later one that came and went restarts it. */
    readonly afterPid: number | undefined;
  };
  /** Processes whose processor of this shard settled (returned or threw), and when: they back off it. */
  readonly settled: Map<string, number>;
}

/** What the world tells the liveness check at each sample. */
export interface LivenessSample {
  /** Processes that could take a shard now: running, reachable, answering promptly. */
  readonly healthy: readonly string[];
  /** Whether the worker holding a live lease is healthy (then it must process the shard). */
  readonly holderHealthy: (workerId: string) => boolean;
  /** The table's row of a shard. */
  readonly rowOf: (shardId: string) => LeaseRow | undefined;
  /**
   * Whether the fleet can know of the shard yet: in heartbeat mode only once discovery wrote its row
   * (the service plans from the table); in listing mode always (every worker lists the stream).
   */
  readonly known: (shardId: string) => boolean;
}

const liveAt = (row: LeaseRow | undefined, atMs: number): boolean => {
  const owner = row?.[Attr.AssignedTo];
  const timeout = row?.[Attr.LeaseTimeout];
  if (typeof owner !== 'string' || owner === '' || typeof timeout !== 'string') return false;
  return expiryOf(timeout) > atMs;
};

/**
 * When the row's last lease ended, if it has: the release instant (a release writes it as the timeout)
 * or the expiry. Undefined for a live lease or a row never leased.
 */
function freedAtMs(row: LeaseRow | undefined, atMs: number): number | undefined {
  const timeout = row?.[Attr.LeaseTimeout];
  if (typeof timeout !== 'string') return undefined;
  const end = expiryOf(timeout);
  return end <= atMs ? end : undefined;
}

/** parseLeaseTime, remembered: the same few timeouts are read again at every write of a row. */
const expiries = new Map<string, number>();
function expiryOf(timeout: string): number {
  let ms = expiries.get(timeout);
  if (ms === undefined) {
    if (expiries.size > 10_000) expiries.clear();
    ms = parseLeaseTime(timeout) ?? Number.NEGATIVE_INFINITY;
    expiries.set(timeout, ms);
  }
  return ms;
}

export class Invariants {
  readonly violations: Violation[] = [];
  readonly processors: ProcessorRecord[] = [];
  sideEffects = 0;
  /** Worst time, after the heal, from a shard being due (heal or eligibility) to its first progress. */
  worstRecoveryMs = 0;
  /** Longest time after the heal that a due shard went without progress. */
  worstGapMs = 0;
  /**
   * Shortest time from one process's processor of a shard ending (abort, settle, death) to another
   * process's gaining it: how close the run came to two processors at once.
   */
  closestHandoverMs = Number.POSITIVE_INFINITY;
  /** Gains of a shard last processed by another process. */
  handovers = 0;
  /** Longest idle time (e) of any shard, counted while a healthy worker could take it. */
  worstIdleMs = 0;
  /** Where the worst idle stretch was: the shard, when it began and when it was measured. */
  worstIdle: { shardId: string; fromMs: number; atMs: number } | undefined;
  private lastSampleMs: number | undefined;
  private readonly shards = new Map<string, ShardState>();
  private healMs = Number.POSITIVE_INFINITY;
  private readonly maxGapMs: number;

  constructor(private readonly options: InvariantOptions) {
    for (const shardId of options.shardIds)
      this.shards.set(shardId, { active: new Set(), reportedStuck: false, settled: new Map() });
    this.maxGapMs = 3 * options.leaseDurationMs;
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  violation(kind: ViolationKind, message: string): void {
    const atMs = this.options.clock.now();
    this.violations.push({ atMs, kind, message, traceLine: this.options.trace.lines.length });
    this.options.trace.add('CHECK', `VIOLATION ${kind}: ${message}`);
  }

  // ---- processors ---------------------------------------------------------------------------------

  gained(shardId: string, process: string): ProcessorRecord {
    const now = this.options.clock.now();
    const record: ProcessorRecord = {
      pid: this.processors.length + 1,
      shardId,
      process,
      gainedAtMs: now,
      sideEffects: 0,
    };
    this.processors.push(record);
    const state = this.state(shardId);
    for (const other of state.active) {
      this.violation(
        'twoProcessors',
        `${process} gained ${shardId} while p${other.pid} of ${other.process} (gained at ${other.gainedAtMs}) is still active`,
      );
    }
    const previous = state.last;
    if (previous && previous.process !== process && previous.endedAtMs !== undefined) {
      this.handovers++;
      this.closestHandoverMs = Math.min(this.closestHandoverMs, now - previous.endedAtMs);
    }
    state.active.add(record);
    state.last = record;
    return record;
  }

  /** The processor stops being active (the first of abort, settle, death counts). */
  ended(record: ProcessorRecord, by: NonNullable<ProcessorRecord['endedBy']>): void {
    if (record.endedAtMs !== undefined) return;
    record.endedAtMs = this.options.clock.now();
    record.endedBy = by;
    const state = this.state(record.shardId);
    state.active.delete(record);
    if (by === 'settled') state.settled.set(record.process, record.endedAtMs);
  }

  sideEffect(record: ProcessorRecord, batch: RecordBatch): void {
    const now = this.options.clock.now();
    const state = this.state(record.shardId);
    this.sideEffects++;
    record.sideEffects++;
    this.options.trace.add(
      record.process,
      `side effect p${record.pid} ${record.shardId} records ${batch.from}..${batch.to - 1}`,
    );
    if (record.endedAtMs !== undefined) {
      this.violation(
        'sideEffectOutsideLease',
        `p${record.pid} of ${record.process} processed ${record.shardId} after it ${record.endedBy} at ${record.endedAtMs}`,
      );
    }
    for (const other of state.active) {
      if (other !== record) {
        this.violation(
          'twoProcessors',
          `p${record.pid} of ${record.process} processed ${record.shardId} while p${other.pid} of ${other.process} is active`,
        );
      }
    }
    for (const parentId of this.options.parentsOf(record.shardId)) {
      const parent = this.state(parentId);
      if (parent.finishedAtMs === undefined || parent.finishedAtMs > now) {
        this.violation(
          'childBeforeParent',
          `p${record.pid} of ${record.process} processed ${record.shardId} before its parent ${parentId} ended`,
        );
      }
    }
    this.progress(record.shardId, state, now);
  }

  // ---- the table ----------------------------------------------------------------------------------

  applied(write: AppliedWrite): void {
    const { before, after, shardId, atMs } = write;
    const state = this.shards.get(shardId);
    if (!state) return;
    const previous = state.checkpoint;
    const next = after?.[Attr.Checkpoint];
    if (after && next === undefined && previous !== undefined) {
      this.violation('checkpointRegression', `${shardId}: checkpoint ${previous} was removed`);
    }
    if (typeof next === 'string' && next !== previous) {
      if (previous === SHARD_END) {
        this.violation('checkpointRegression', `${shardId}: checkpoint ${next} written after SHARD_END`);
      } else if (next !== SHARD_END && previous !== undefined && BigInt(next) < BigInt(previous)) {
        this.violation(
          'checkpointRegression',
          `${shardId}: checkpoint moved back from ${previous} to ${next}`,
        );
      }
      if (!liveAt(after, atMs)) {
        this.violation(
          'checkpointWithoutLease',
          `${shardId}: checkpoint ${next} written without a live lease`,
        );
      }
      state.checkpoint = next;
      if (next === SHARD_END) {
        state.finishedAtMs = atMs;
        this.options.trace.add('TABLE', `${shardId} ended (SHARD_END applied)`);
        this.progress(shardId, state, atMs);
      }
    }
    const from = before?.[Attr.AssignedTo];
    const to = after?.[Attr.AssignedTo];
    if (typeof from === 'string' && from !== '' && typeof to === 'string' && to !== '' && from !== to) {
      if (liveAt(before, atMs)) {
        this.violation('liveLeaseChangedHands', `${shardId}: taken by ${to} while ${from}'s lease was live`);
      }
    }
  }

  /**
   * The coordinator told a processor its checkpoint was recorded: the table must hold it (or a later
   * one, as checkpoints only move forward). A success for a write that did not happen is a violation.
   */
  checkpointConfirmed(record: ProcessorRecord, sequenceNumber: string): void {
    const stored = this.state(record.shardId).checkpoint;
    const holds =
      stored !== undefined &&
      (stored === SHARD_END || (sequenceNumber !== SHARD_END && BigInt(stored) >= BigInt(sequenceNumber)));
    if (!holds) {
      this.violation(
        'phantomCheckpoint',
        `p${record.pid} of ${record.process} was told ${record.shardId} checkpointed at ${sequenceNumber}, but the table holds ${stored ?? 'none'}`,
      );
    }
  }

  // ---- liveness (e) ------------------------------------------------------------------------------

  /**
   * One sample of (e), taken every few milliseconds of virtual time: a stretch that begins at this
   * sample is counted from the previous one (so a measured idle time is at most one sample long too).
   */
  checkLiveness(sample: LivenessSample): void {
    const now = this.options.clock.now();
    const previous = this.lastSampleMs ?? now;
    this.lastSampleMs = now;
    const backoff = this.options.retakeBackoffMs ?? 8 * this.options.leaseDurationMs;
    for (const [shardId, state] of this.shards) {
      if (!this.isIdle(shardId, state, sample, now)) {
        state.idle = undefined;
        continue;
      }
      // A processor that came and went since the stretch began (between two samples): given back by its
      // processor, the shard is free from then on.
      const last = state.last;
      if (state.idle && last?.endedAtMs !== undefined && last.pid !== state.idle.afterPid) {
        state.idle = { fromMs: last.endedAtMs, excludedMs: 0, reported: false, afterPid: last.pid };
      }
      state.idle ??= { fromMs: previous, excludedMs: 0, reported: false, afterPid: last?.pid };
      // Freed again since (a release, or an expiry, after a take nobody processed under): the shard is
      // free to take from that instant, and the count starts there.
      const freedAt = freedAtMs(sample.rowOf(shardId), now);
      if (freedAt !== undefined && freedAt > state.idle.fromMs) {
        state.idle = { fromMs: freedAt, excludedMs: 0, reported: false, afterPid: last?.pid };
      }
      // Time in which no healthy worker could take it (none at all, or only ones backing off this
      // shard after its processor failed there) does not count.
      const able = sample.healthy.some((name) => !((state.settled.get(name) ?? -Infinity) > now - backoff));
      if (!able) state.idle.excludedMs += now - previous;
      const idleMs = now - state.idle.fromMs - state.idle.excludedMs;
      if (idleMs > this.worstIdleMs) {
        this.worstIdleMs = idleMs;
        this.worstIdle = { shardId, fromMs: state.idle.fromMs, atMs: now };
      }
      if (idleMs > this.options.leaseDurationMs && !state.idle.reported) {
        state.idle.reported = true;
        this.violation(
          'shardIdle',
          `${shardId} idle for ${idleMs} ms (since ${state.idle.fromMs}, ${state.idle.excludedMs} ms of it without a healthy worker not counted), more than a lease period`,
        );
      }
    }
  }

  private isIdle(shardId: string, state: ShardState, sample: LivenessSample, now: number): boolean {
    if (state.finishedAtMs !== undefined || state.active.size > 0 || !sample.known(shardId)) return false;
    for (const parentId of this.options.parentsOf(shardId)) {
      if (this.state(parentId).finishedAtMs === undefined) return false;
    }
    const row = sample.rowOf(shardId);
    const owner = row?.[Attr.AssignedTo];
    // Not free: nobody else may take it before that lease ends, and its holder cannot be counted on.
    if (typeof owner === 'string' && owner !== '' && liveAt(row, now) && !sample.holderHealthy(owner)) {
      return false;
    }
    return true;
  }

  /** (f) After a stop: what the table still holds under the worker's id must be in the stop's report. */
  checkStopped(
    process: string,
    workerId: string,
    reported: { readonly leases: readonly string[]; readonly claims: readonly string[] },
    rowOf: (shardId: string) => LeaseRow | undefined,
  ): void {
    const now = this.options.clock.now();
    for (const shardId of this.shards.keys()) {
      const row = rowOf(shardId);
      if (row?.[Attr.AssignedTo] === workerId && liveAt(row, now) && !reported.leases.includes(shardId)) {
        this.violation(
          'leftBehindByStop',
          `${process}: stop() returned, but ${workerId} still holds a live lease on ${shardId} it did not report`,
        );
      }
      const claimedAt = row?.[Attr.ClaimedAt];
      if (
        row?.[Attr.ClaimRequest] === workerId &&
        typeof claimedAt === 'string' &&
        expiryOf(claimedAt) > now - 2 * this.options.leaseDurationMs &&
        !reported.claims.includes(shardId)
      ) {
        this.violation(
          'leftBehindByStop',
          `${process}: stop() returned, but ${workerId}'s claim on ${shardId} is still pending and was not reported`,
        );
      }
    }
  }

  // ---- recovery after the heal --------------------------------------------------------------------

  /** From now on, (c) is checked: at every progress, and by `checkRecovery` on a timer. */
  healed(): void {
    this.healMs = this.options.clock.now();
    this.options.trace.add('CHECK', 'faults healed: every shard must be processed within 3 lease periods');
  }

  /** When a shard became due after the heal: undefined while a parent has not ended. */
  private dueSinceMs(shardId: string): number | undefined {
    let since = this.healMs;
    for (const parentId of this.options.parentsOf(shardId)) {
      const parentEnd = this.state(parentId).finishedAtMs;
      if (parentEnd === undefined) return undefined;
      since = Math.max(since, parentEnd);
    }
    return since;
  }

  /** Shards that are due and have gone without progress for longer than three lease periods. */
  checkRecovery(): void {
    const now = this.options.clock.now();
    if (now < this.healMs) return;
    for (const [shardId, state] of this.shards) {
      if (state.finishedAtMs !== undefined) continue;
      const due = this.dueSinceMs(shardId);
      if (due === undefined) continue;
      const since = Math.max(due, state.lastProgressAtMs ?? Number.NEGATIVE_INFINITY);
      this.worstGapMs = Math.max(this.worstGapMs, now - since);
      if (now - since > this.maxGapMs && !state.reportedStuck) {
        state.reportedStuck = true;
        this.violation(
          'notRecovered',
          `${shardId} not processed for ${now - since} ms (since ${since}; heal at ${this.healMs}), more than 3 lease periods`,
        );
      }
    }
  }

  /**
   * Shards due after the heal that wait for their first progress while their three lease periods have
   * not run out: the run must go on until none is left (before the heal: every shard).
   */
  undecided(): string[] {
    const now = this.options.clock.now();
    const waiting: string[] = [];
    for (const [shardId, state] of this.shards) {
      if (state.finishedAtMs !== undefined || state.recoveredAtMs !== undefined) continue;
      const due = now < this.healMs ? now : this.dueSinceMs(shardId);
      if (due !== undefined && now <= due + this.maxGapMs) waiting.push(shardId);
    }
    return waiting;
  }

  private progress(shardId: string, state: ShardState, now: number): void {
    if (now >= this.healMs) {
      const due = this.dueSinceMs(shardId);
      if (due !== undefined) {
        const since = Math.max(due, state.lastProgressAtMs ?? Number.NEGATIVE_INFINITY);
        this.worstGapMs = Math.max(this.worstGapMs, now - since);
        if (now - since > this.maxGapMs && !state.reportedStuck) {
          state.reportedStuck = true;
          this.violation(
            'notRecovered',
            `${shardId} processed only after ${now - since} ms (since ${since}; heal at ${this.healMs}), more than 3 lease periods`,
          );
        }
        if (state.recoveredAtMs === undefined) {
          state.recoveredAtMs = now;
          this.worstRecoveryMs = Math.max(this.worstRecoveryMs, now - due);
        }
      }
    }
    state.lastProgressAtMs = now;
  }

  private state(shardId: string): ShardState {
    const state = this.shards.get(shardId);
    if (!state) throw new Error(`no shard ${shardId} in the simulation`);
    return state;
  }
}
