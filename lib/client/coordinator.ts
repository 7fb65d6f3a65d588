/**
 * The lease coordinator of one consumer (a container, or one Lambda invocation): it takes leases up to
 * a fair share, renews all of them with one RenewLeases call per period, steals from overloaded workers
 * through claims, hands shards over when claimed, keeps parents before children, and gives the
 * application a checkpointer per shard fenced by the lease counter. It works over any `Checkpointer`:
 * `DynamoCheckpointer` (library mode) or `ShardLeaseClient` (HTTP).
 *
 * It paces itself by the service's lease terms (asked for at the start, restated by every heartbeat):
 * a lease duration set here too must equal the service's.
 *
 * Its promises hold under faults because nothing it does waits without a deadline:
 * - One processor per shard. A lease is treated as lost at its local expiry (the start of the request
 *   that last took or renewed it, plus the lease duration, minus a margin for clock drift), by a timer
 *   that waits for nothing in flight; the service cannot give the shard to anyone else before the
 *   lease's timeout, which it set later than that request's start. Processing is told to stop (its
 *   signal aborts) then, and its checkpoints are refused locally from then on.
 * - No shard abandoned. A processor that returns or throws gives its lease back (after its last
 *   checkpoint), with a backoff before this worker takes that shard again; a lease whose renewals fail
 *   expires and is taken again, by a peer or by this worker. A plan answered late is still used for
 *   what the service offered beyond the plan (shards nobody took in time), never for takes or steals a
 *   fresher plan would decide, so a slow worker does not sit on shards a responsive one could process.
 * - Nothing left behind by a stop. `stop()` settles every take and claim in flight: a lease granted
 *   during the stop is given back and a claim withdrawn before it returns, and what it could not give
 *   back in time is in its result.
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Checkpointer, HeartbeatResult, LostLease, RenewResult } from '../core/checkpointer';
import { parentIds, type ShardLineage } from '../core/eligibility';
import { ErrorCode, LeaseLostError, ShardLeaseError, ValidationError } from '../core/errors';
import { checkpointRenewed, type Lease } from '../core/lease-row';
import type { LeaseTerms } from '../core/rules';
import { type Scheduler, systemScheduler, withDeadline } from '../core/scheduler';
import { normalizeCheckpoint, SHARD_END } from '../core/sequence-number';
import type { ShardSource, StreamShard } from '../store/kinesis-shard-source';
import { planBalance } from './balance';
import {
  type CoordinatorTiming,
  checkTimingOptions,
  PROVISIONAL_LEASE_MS,
  sameTerms,
  type TimingOptions,
  timingFor,
} from './coordinator-timing';
import { LeaseLedger, type StopResult } from './lease-ledger';

export type { StopResult };

/** Why a lease stopped being this worker's. */
export type LeaseLossReason =
  /** Another worker owns it now, or the row is gone (a renewal or a checkpoint was refused). */
  | 'taken'
  /** Another worker claimed it; this worker handed it over. */
  | 'claimed'
  /** No renewal succeeded before the lease's local expiry (e.g. the service was unreachable). */
  | 'expired'
  /** `stop()`. */
  | 'stopped'
  /** The processor returned without ending the shard; the lease was given back. */
  | 'finished'
  /** The processor threw or rejected; the lease was given back. */
  | 'failed';

export interface LeaseLostEvent {
  readonly shardId: string;
  readonly reason: LeaseLossReason;
  readonly owner?: string;
  /** What the processor threw, for `failed`. */
  readonly error?: unknown;
}

/** One owned shard, as the application sees it. */
export interface ShardLease {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  /** The checkpoint when the lease was taken: where processing resumes (none: from the start). */
  readonly startingCheckpoint: string | undefined;
  /** Aborts when the lease is lost, claimed, expires locally or the coordinator stops: stop processing. */
  readonly signal: AbortSignal;
  /**
   * Records a sequence number (or SHARD_END) fenced by the lease counter. It fails with LeaseLost once
   * the signal has aborted (without asking the service) or when the service refuses it, and with a
   * deadline error when no answer comes before the lease's local expiry. SHARD_END also ends the
   * lease here: it is released, never renewed.
   */
  checkpoint(sequenceNumber: string): Promise<void>;
}

export interface CoordinatorEvents {
  /**
   * Start processing the shard. A returned promise is the processing itself: it should settle once
   * `lease.signal` aborts. When it settles while the lease is still held (the processor returned or
   * threw), the lease is given back after its last checkpoint, and this worker waits a backoff before
   * taking that shard again. When the lease is claimed, the coordinator waits for it (at most the
   * lease's remaining time) before releasing, so that a last checkpoint lands first.
   */
  onLeaseGained?(lease: ShardLease): void | Promise<void>;
  onLeaseLost?(event: LeaseLostEvent): void;
  onShardEnded?(shardId: string): void;
}

export interface LeaseCoordinatorOptions extends CoordinatorEvents, TimingOptions {
  readonly checkpointer: Checkpointer;
  /**
   * Where to list the stream's shards. Without one (the usual case against the service), the
   * coordinator only heartbeats: the service discovers shards and plans the fleet, and this worker never
   * lists the table or the stream. With one, it lists both itself every rebalance period (library mode,
   * or a service without discovery).
   */
  readonly shardSource?: ShardSource;
  readonly workerId: string;
  /**
   * The service states its lease duration (`GET /terms`, and every heartbeat): leave this unset. When
   * set, it must equal the service's, or `start()` fails naming both values.
   */
  readonly leaseDurationMs?: number;
  /** Renewal (heartbeat) period. @default the service's lease duration / 3 */
  readonly renewIntervalMs?: number;
  /** Listing mode: how often shards and leases are listed to take, steal and rebalance. @default the lease duration */
  readonly rebalanceIntervalMs?: number;
  /** Give up a steal whose shard did not come over in this time. @default 2 × the lease duration */
  readonly stealTimeoutMs?: number;
  /** Hold at most this many leases; heartbeats tell the service (as `capacity`). @default unlimited */
  readonly maxLeases?: number;
  /**
   * A lease counts as lost this long before the service could let it go: room for the clock drift
   * between this process and the service's instances. @default max(100, the lease duration / 10)
   */
  readonly expiryMarginMs?: number;
  /** Wait this long before taking again a shard whose processor returned or threw; doubles on each repeat, up to 8×. @default the lease duration */
  readonly retakeBackoffMs?: number;
  /** `stop()` returns within this time, whatever is in flight. @default the lease duration */
  readonly stopTimeoutMs?: number;
  /** Clock and timers. @default the system's */
  readonly scheduler?: Scheduler;
  /** @default a Powertools Logger (service `shardlease-coordinator`) */
  readonly logger?: CoordinatorLogger;
}

/**
 * What the coordinator logs through. Powertools' Logger fits, as does any logger with these methods;
 * the option is not typed as Logger itself, whose declarations need `@types/aws-lambda`.
 */
export interface CoordinatorLogger {
  debug(message: string, ...extra: unknown[]): void;
  info(message: string, ...extra: unknown[]): void;
  warn(message: string, ...extra: unknown[]): void;
  error(message: string, ...extra: unknown[]): void;
}

interface Held {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  counter: number;
  /** Local time at which the lease counts as lost unless renewed: request start + duration − margin. */
  expiresAt: number;
  expiryTimer: unknown;
  readonly controller: AbortController;
  processing: Promise<void> | undefined;
  /** Checkpoints sent and not yet answered: a give-back waits for them (they have deadlines). */
  readonly checkpoints: Set<Promise<unknown>>;
  /**
   * Dropped, but still ours on the service until released (claimed, stopping): the processor, told to
   * stop, may still record a last checkpoint before its local expiry.
   */
  handingOver: boolean;
  /** When the last checkpoint that also renewed the lease was sent (local time). */
  checkpointRenewedAt: number | undefined;
}

interface PendingSteal {
  readonly shard: ShardLineage;
  readonly since: number;
}

/** Heartbeat takes at most this many leases a call; a worker holding more sends several. */
const HEARTBEAT_BATCH = 250;

/** RenewLeases takes at most this many shard ids a call. */
const RENEW_BATCH = 100;
/** Two: one late answer does not hold the next period back; a second late one does (no pile-up). */
const RENEWALS_IN_FLIGHT = 2;
/** Overdue shards taken on a heartbeat answered late (a prompt answer takes as many as there is room for). */
const LATE_OVERDUE_TAKES = 1;
const LIST_PAGE = 1000;
const MAX_BACKOFF_FACTOR = 8;
/** A service that did not state its terms is asked again this soon, then twice as late each time, up to a second. */
const TERMS_FIRST_RETRY_MS = 100;
const TERMS_MAX_RETRY_MS = 1_000;

const isCode = (error: unknown, ...codes: ErrorCode[]): error is ShardLeaseError =>
  error instanceof ShardLeaseError && codes.includes(error.code);

export class LeaseCoordinator {
  readonly workerId: string;
  private readonly checkpointer: Checkpointer;
  private readonly shardSource: ShardSource | undefined;
  private readonly timingOptions: TimingOptions;
  private readonly maxLeases: number;
  private readonly scheduler: Scheduler;
  private readonly logger: CoordinatorLogger;
  private readonly events: CoordinatorEvents;
  /** Derived from the service's terms once it stated them. */
  private timing: CoordinatorTiming | undefined;
  private asking: Promise<void> | undefined;
  /** Until the service states its terms, it is asked again after this long, doubling. */
  private termsRetryMs = TERMS_FIRST_RETRY_MS;

  private readonly held = new Map<string, Held>();
  /** Shards whose processor returned or threw: not taken again before `until`. */
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  /** Claims made and not yet come through, by shard id (listing mode makes one at a time). */
  private readonly steals = new Map<string, PendingSteal>();
  /** Listing mode: when this worker first saw each shard free, for shards whose row cannot tell. */
  private readonly firstSeenFree = new Map<string, number>();
  private nextRenewAt = 0;
  /** When the last periodic renewal (listing mode) went out: a checkpoint since then renewed as much. */
  private lastRenewalAt = Number.NEGATIVE_INFINITY;
  private nextRebalanceAt = 0;
  /** Renewals (heartbeats) in flight: at most RENEWALS_IN_FLIGHT, so a slow answer delays no period. */
  private readonly renewing = new Set<Promise<void>>();
  private rebalancing: Promise<void> | undefined;
  private loopTimer: unknown;
  private started = false;
  private stopped = false;
  /** `stop()` has returned: nothing more is sent, whatever still answers. */
  private finished = false;
  /** What a stop does with leases and claims that come through while it runs. */
  private releaseOnStop = true;
  /** Handovers and give-backs in progress (a processor finishing, then the release). */
  private readonly handovers = new Set<Promise<void>>();
  /** Takes and claims in flight: a stop settles them. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Shards with a take in flight. */
  private readonly taking = new Set<string>();
  private readonly ledger = new LeaseLedger();

  constructor(options: LeaseCoordinatorOptions) {
    if (!options.workerId) {
      throw new ValidationError([{ field: 'workerId', message: 'must be a non-empty string' }]);
    }
    checkTimingOptions(options);
    this.workerId = options.workerId;
    this.checkpointer = options.checkpointer;
    this.shardSource = options.shardSource;
    this.timingOptions = options;
    this.maxLeases = options.maxLeases ?? Number.POSITIVE_INFINITY;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.logger = options.logger ?? new Logger({ serviceName: 'shardlease-coordinator' });
    this.events = options;
  }

  /** The service's lease terms, once it stated them (after `start()`). */
  get leaseTerms(): LeaseTerms | undefined {
    const t = this.timing;
    return t && { leaseDurationMs: t.leaseDurationMs, claimTimeoutMs: t.claimTimeoutMs };
  }

  /** Shard ids this worker holds now. */
  heldShards(): string[] {
    return [...this.held.keys()].sort();
  }

  /** A shard this worker has claimed and waits for, if any. */
  pendingSteal(): string | undefined {
    return this.steals.keys().next().value;
  }

  /**
   * Asks the service for its lease terms, then runs a first cycle now and keeps renewing and
   * rebalancing on the scheduler's timers. Fails (and stays stopped) when `leaseDurationMs` was set
   * and differs from the service's; a service that does not answer is asked again every period.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.finished = false;
    this.releaseOnStop = true;
    this.termsRetryMs = TERMS_FIRST_RETRY_MS;
    this.ledger.reset();
    try {
      await this.askTerms();
    } catch (error) {
      this.started = false;
      this.stopped = true;
      throw error;
    }
    this.arm();
    if (this.timing) await this.tick();
  }

  /**
   * One cycle: renew what is due and, when due, list shards and leases to take, steal and follow up a
   * pending steal. Renewing never waits behind taking: each part runs on its own, and a part still in
   * flight (every call has a deadline) is not started twice.
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (!this.timing) {
      await this.askTerms().catch((error: unknown) => {
        this.logger.error('the service’s lease terms differ from this worker’s: stopping', { error });
        void this.stop();
      });
      if (!this.timing || this.stopped) return;
      // Paced by the terms from now on, not by the retries that waited for them.
      if (this.loopTimer !== undefined) this.scheduler.clearTimeout(this.loopTimer);
      this.arm();
    }
    const t = this.timing;
    const now = this.scheduler.now();
    // A renewal still in flight when the next period comes does not hold that period back: a service
    // under load answers late, and waiting for it would leave every lease one period closer to its
    // expiry at each late answer, until they all lapse together.
    if (this.renewing.size < RENEWALS_IN_FLIGHT && now + t.toleranceMs >= this.nextRenewAt) {
      this.nextRenewAt = now + t.renewIntervalMs;
      const renewal: Promise<void> = (this.shardSource ? this.renewAll() : this.heartbeatAll()).finally(() =>
        this.renewing.delete(renewal),
      );
      this.renewing.add(renewal);
    }
    if (!this.rebalancing) {
      // Listing mode rebalances from its own listing; heartbeat mode takes what each heartbeat's plan
      // says (started by the heartbeat) and in between only follows a pending steal.
      const due = this.shardSource !== undefined && now + t.toleranceMs >= this.nextRebalanceAt;
      if (due) this.nextRebalanceAt = now + t.rebalanceIntervalMs;
      const work = due ? this.rebalance() : this.steals.size > 0 ? this.followSteals() : undefined;
      this.startRebalancing(work);
    }
    await Promise.all([...this.renewing, this.rebalancing]);
    // Takes a heartbeat started after this tick began.
    await this.rebalancing;
  }

  private startRebalancing(work: Promise<void> | undefined): void {
    if (!work) return;
    this.rebalancing = work.finally(() => {
      this.rebalancing = undefined;
    });
  }

  /**
   * Stops the timers, aborts every shard's processing and waits for it, settles the takes and claims
   * in flight, then releases every lease (a take granted during the stop included) and withdraws every
   * claim, so that peers take the shards at once and no owner hands over to a worker that is gone.
   * `release: false` leaves the leases to expire, as a crash would, and waits for nothing in flight.
   * Returns within `stopTimeoutMs`, whatever is still in flight, with what was taken and given back
   * since `start()`; `leasesNotReleased` lists what the service may still count as this worker's.
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<StopResult> {
    if (this.loopTimer !== undefined) this.scheduler.clearTimeout(this.loopTimer);
    this.loopTimer = undefined;
    this.stopped = true;
    this.started = false;
    const release = options.release ?? true;
    this.releaseOnStop = release;
    const leases = [...this.held.values()];
    this.steals.clear();
    const giveBack = () =>
      Promise.all([
        ...this.ledger.uncertainTakes().map((take) => this.releaseTaken(take)),
        ...this.ledger.pendingClaims().map((shardId) => this.withdraw(shardId)),
      ]);
    const work = (async () => {
      if (!this.timing) return;
      // All at once: a held lease goes once its processing has stopped; a take or claim in flight gives
      // its lease back or withdraws itself as it answers (take, claim), however long that takes (the
      // stop's deadline bounds it); what is already known to be owed goes now.
      await Promise.all([
        ...leases.map((held) =>
          this.drop(held, { reason: 'stopped' }).then(() => (release ? this.release(held) : undefined)),
        ),
        ...(release ? [...this.inFlight, giveBack()] : []),
      ]);
      await Promise.all([...this.handovers]);
      if (release) {
        // Owed since: takes and claims that failed to answer while the stop waited for them.
        await giveBack();
        // Heartbeat mode: the plan forgets this worker at once, so its shards go to the others now.
        if (!this.shardSource) await this.leave();
      }
    })();
    const timeout =
      this.timing?.stopTimeoutMs ??
      this.timingOptions.stopTimeoutMs ??
      this.timingOptions.leaseDurationMs ??
      PROVISIONAL_LEASE_MS;
    await withDeadline(this.scheduler, work, timeout, 'stop').catch((error: unknown) =>
      this.logger.warn('stop did not finish in time', { error, shards: leases.length }),
    );
    this.finished = true;
    // A take still unanswered when the stop must return may have been granted: reported with the rest.
    const result = this.ledger.result(this.taking);
    if (result.leasesNotReleased.length > 0) {
      this.logger.warn('leases not given back at the stop: they expire', {
        shards: result.leasesNotReleased,
      });
    }
    return result;
  }

  private arm(): void {
    const t = this.timing;
    const provisional =
      this.timingOptions.renewIntervalMs ?? (this.timingOptions.leaseDurationMs ?? PROVISIONAL_LEASE_MS) / 3;
    const period = Math.max(1, t ? Math.min(t.renewIntervalMs, t.rebalanceIntervalMs) : provisional);
    this.loopTimer = this.scheduler.setTimeout(() => {
      if (this.stopped) return;
      this.arm();
      this.tick().catch((error: unknown) => this.logger.error('coordinator cycle failed', { error }));
    }, period);
  }

  // ---- the service's terms -----------------------------------------------------------------------

  /**
   * Asks the service for its lease terms once (concurrent callers share the call). A fault is logged
   * and leaves the terms unknown (the next cycle asks again); terms that contradict this worker's
   * options reject with a ValidationError naming both values.
   */
  private askTerms(): Promise<void> {
    if (this.timing) return Promise.resolve();
    this.asking ??= (async () => {
      let terms: LeaseTerms;
      try {
        terms = await withDeadline(
          this.scheduler,
          this.checkpointer.leaseTerms(),
          this.timingOptions.leaseDurationMs ?? PROVISIONAL_LEASE_MS,
          'leaseTerms',
        );
      } catch (error) {
        this.logger.warn('the service’s lease terms are unknown: asking again', {
          error,
          retryInMs: this.termsRetryMs,
        });
        this.termsRetryMs = Math.min(TERMS_MAX_RETRY_MS, 2 * this.termsRetryMs);
        return;
      }
      this.timing = timingFor(terms, this.timingOptions);
      this.logger.info('lease terms', { ...terms });
    })().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  /**
   * A heartbeat restates the terms. Changed (the service was redeployed with another lease): they are
   * followed from this answer on, since a lease is the service's to time; a lease duration this
   * worker was told to expect is then wrong, which is logged as an error, not obeyed.
   */
  private heedTerms(terms: LeaseTerms): void {
    const t = this.timing;
    if (!t || sameTerms(t, terms)) return;
    const expected = this.timingOptions.leaseDurationMs;
    if (expected !== undefined && expected !== terms.leaseDurationMs) {
      this.logger.error('the service’s lease duration changed and no longer matches leaseDurationMs', {
        leaseDurationMs: expected,
        service: terms,
      });
    } else {
      this.logger.warn('the service’s lease terms changed', { from: this.leaseTerms, to: terms });
    }
    this.timing = timingFor(terms, { ...this.timingOptions, leaseDurationMs: undefined });
  }

  private get t(): CoordinatorTiming {
    if (!this.timing) throw new Error('the coordinator has not learned the service’s lease terms yet');
    return this.timing;
  }

  // ---- renewal -----------------------------------------------------------------------------------

  /**
   * Renews, in listing mode, every lease no checkpoint renewed since the last round: a checkpoint sent
   * after that round started granted at least what it did, so the lease keeps the schedule's margin
   * until the next round without a write of its own.
   */
  private async renewAll(): Promise<void> {
    const since = this.lastRenewalAt;
    this.lastRenewalAt = this.scheduler.now();
    await this.renewInBatches(
      RENEW_BATCH,
      (batch) =>
        this.checkpointer.renewLeases(
          this.workerId,
          batch.map((held) => held.shardId),
        ),
      { due: (held) => held.checkpointRenewedAt === undefined || held.checkpointRenewedAt < since },
    );
  }

  /**
   * One heartbeat per period, whatever this worker holds (in batches of 250): it renews, and its answer
   * says what to take and whether to steal. The takes run beside the renewals, never ahead of them.
   */
  private async heartbeatAll(): Promise<void> {
    const plans: HeartbeatResult[] = [];
    const sentAt = this.scheduler.now();
    const send = (batch: readonly Held[]) =>
      this.checkpointer
        .heartbeat(this.workerId, {
          held: batch.map((held) => ({ shardId: held.shardId, leaseCounter: held.counter })),
          ...(Number.isFinite(this.maxLeases) && { capacity: this.maxLeases }),
        })
        .then((result) => {
          this.heedTerms(result.terms);
          plans.push(result);
          return result;
        });
    await this.renewInBatches(HEARTBEAT_BATCH, send, { always: true });
    // The first answer's plan; none when no heartbeat answered.
    const plan = plans[0];
    if (!plan || this.stopped || this.rebalancing) return;
    // A late answer is still used for this worker's own share: takes and claims are conditional
    // writes, so acting late is safe, and its shards are offered to others too once they stay free
    // too long. Others' overdue shards are taken freely only on a prompt answer (within a quarter of
    // a renewal period); a slower one (a slow link, a service under load) takes one, since taking
    // beyond the plan (refused takes, handovers later) adds load where it hurts.
    const answeredAfterMs = this.scheduler.now() - sentAt;
    if (answeredAfterMs > this.t.renewIntervalMs + this.t.toleranceMs) {
      this.logger.warn('heartbeat answered later than a renewal period', {
        answeredAfterMs,
        renewIntervalMs: this.t.renewIntervalMs,
      });
    }
    this.startRebalancing(this.followPlan(plan, answeredAfterMs <= this.t.renewIntervalMs / 4));
  }

  /**
   * Renews the held leases that are `due` (all by default) in batches through `call`, all batches at
   * once, each with a deadline of the expiry it would grant, and applies the outcomes to the leases
   * still held. With `always`, one call goes out even with nothing to renew (a heartbeat, whose plan may
   * come late and still be useful).
   */
  private async renewInBatches(
    size: number,
    call: (batch: readonly Held[]) => Promise<RenewResult>,
    options: { readonly always?: boolean; readonly due?: (held: Held) => boolean } = {},
  ): Promise<void> {
    const { always = false, due = () => true } = options;
    const leases = [...this.held.values()].filter(due);
    if (leases.length === 0 && !always) return;
    // Side by side, not one after another: under load, the last of a thousand leases must not wait for
    // nine answers before its own renewal leaves.
    const batches = Array.from({ length: Math.max(1, Math.ceil(leases.length / size)) }, (_, index) =>
      leases.slice(index * size, (index + 1) * size),
    );
    const started = this.scheduler.now();
    // The answer is useful until the expiry it would grant (sent now, plus a lease): a later one renews
    // nothing. Not the batch's current expiry: under load one lease near its end must not throw away
    // the answer for the others, nor a renewal still in flight the one after it (each lease ends at its
    // own expiry timer meanwhile, and is not revived by a late answer).
    const deadline = this.t.leaseDurationMs - this.t.expiryMarginMs;
    const lost: LostLease[] = [];
    const renewBatch = async (batch: readonly Held[]): Promise<void> => {
      // Stryker disable next-line StringLiteral: the label only names the deadline in a log line
      const result = await withDeadline(this.scheduler, call(batch), deadline, 'renewal');
      const carried = (shardId: string) => {
        const held = this.held.get(shardId);
        // Only the very lease this batch carried: one that expired meanwhile (or was taken anew under a
        // new counter) is not revived or changed by an answer about the old one.
        return held !== undefined && batch.includes(held) ? held : undefined;
      };
      for (const lease of result.renewed) {
        const held = carried(lease.shardId);
        if (!held) continue;
        held.counter = lease.leaseCounter;
        // The terms this answer states (a heartbeat's): a shorter lease counts from this renewal on.
        this.extend(held, started + this.t.leaseDurationMs - this.t.expiryMarginMs);
      }
      lost.push(...result.lost.filter((lease) => carried(lease.shardId) !== undefined));
      // Held as before, until their local expiry; the next period tries again.
      const { failed } = result;
      // Stryker disable next-line all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
      if (failed.length > 0) this.logger.warn('lease renewal failed for some shards', { failed });
    };
    await Promise.all(
      batches.map((batch) =>
        renewBatch(batch).catch((error: unknown) => {
          // The leases stay held until their local expiry; the next period tries again.
          // Stryker disable next-line all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
          this.logger.warn('lease renewal failed', { error, shards: batch.length });
        }),
      ),
    );
    await Promise.all(lost.map((lease) => this.onRenewalLost(lease)));
  }

  /**
   * Takes what the service's plan offers (its own share, then shards nobody took in time: all it has
   * room for on a prompt answer, one on a late one), then claims the shards it advises stealing.
   */
  private async followPlan(plan: HeartbeatResult, prompt: boolean): Promise<void> {
    const own = new Set(plan.take);
    let overdueTakes = 0;
    for (const shardId of new Set([...plan.take, ...plan.overdue])) {
      if (this.held.size >= this.maxLeases || this.stopped) break;
      if (this.held.has(shardId) || this.backingOff(shardId)) continue;
      if (!own.has(shardId) && !prompt) {
        // Late: one overdue shard per answer. When every answer is late (a service under load), the
        // fleet still takes what nobody took, without a burst of refused takes.
        if (overdueTakes >= LATE_OVERDUE_TAKES) continue;
        overdueTakes++;
      }
      await this.take({ shardId });
    }
    this.dropOverdueSteals();
    const room = Math.min(plan.target, this.maxLeases) - this.held.size - this.steals.size;
    const advised = plan.steals.filter(
      (steal) =>
        !this.steals.has(steal.shardId) && !this.held.has(steal.shardId) && !this.backingOff(steal.shardId),
    );
    for (const steal of advised.slice(0, Math.max(0, room))) {
      if (this.stopped) return;
      await this.claim({ shardId: steal.shardId }, steal.victim);
    }
  }

  /** Gives up steals that did not come through in time, and takes their claims back. */
  private dropOverdueSteals(): void {
    const now = this.scheduler.now();
    for (const [shardId, steal] of this.steals) {
      if (now - steal.since <= this.t.stealTimeoutMs) continue;
      this.steals.delete(shardId);
      this.background(this.withdraw(shardId));
    }
  }

  private onRenewalLost(lost: LostLease): Promise<void> {
    const held = this.held.get(lost.shardId);
    if (!held) return Promise.resolve();
    if (lost.code === ErrorCode.ShardClaimed) {
      // Handover: the lease is still ours until its timeout, so the processor may checkpoint once more
      // before the release lets the claimer in at once. In the background: renewals must not wait for it.
      this.background(
        this.drop(held, {
          reason: 'claimed',
          ...(lost.claimRequest && { owner: lost.claimRequest }),
        }).then(() => this.release(held)),
      );
      return Promise.resolve();
    }
    // Already someone else's (or expired there): nothing to wait for, nothing to give back.
    this.ledger.gone(held.shardId, held.counter);
    return this.drop(held, { reason: 'taken', ...(lost.owner && { owner: lost.owner }) }, false);
  }

  private isCurrent(held: Held): boolean {
    return this.held.get(held.shardId) === held;
  }

  /** Moves the local expiry later (never earlier: an older renewal may answer after a newer one). */
  private extend(held: Held, expiresAt: number): void {
    if (expiresAt <= held.expiresAt) return;
    held.expiresAt = expiresAt;
    this.scheduler.clearTimeout(held.expiryTimer);
    held.expiryTimer = this.expiryTimer(held);
  }

  /** Fires at the local expiry, whatever is in flight: the lease is lost from then on. */
  private expiryTimer(held: Held): unknown {
    return this.scheduler.setTimeout(() => {
      if (!this.isCurrent(held)) return;
      // Let go at once, so that a peer need not wait for the timeout: our processing has stopped.
      this.background(this.drop(held, { reason: 'expired' }, false).then(() => this.release(held)));
    }, held.expiresAt - this.scheduler.now());
  }

  /**
   * Forgets a lease and aborts its processing; with `wait`, waits for the processing to finish, at most
   * for the lease's remaining local time.
   */
  private async drop(held: Held, event: Omit<LeaseLostEvent, 'shardId'>, wait = true): Promise<void> {
    if (!this.isCurrent(held)) return;
    this.held.delete(held.shardId);
    this.scheduler.clearTimeout(held.expiryTimer);
    held.handingOver = event.reason === 'claimed' || event.reason === 'stopped';
    held.controller.abort(new LeaseLostError(`lease ${event.reason}`));
    // Stryker disable all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
    const log =
      event.reason === 'failed' ? this.logger.error.bind(this.logger) : this.logger.info.bind(this.logger);
    log('lease lost', {
      shardId: held.shardId,
      reason: event.reason,
      ...(event.owner && { owner: event.owner }),
      ...(event.error !== undefined && { error: event.error as Error }),
    });
    // Stryker restore all
    this.emit(() => this.events.onLeaseLost?.({ shardId: held.shardId, ...event }));
    if (wait && held.processing) {
      const remaining = held.expiresAt - this.scheduler.now();
      // Stryker disable next-line StringLiteral: the label names a deadline whose error is dropped
      await withDeadline(this.scheduler, held.processing, remaining, 'processing').catch(() => undefined);
    }
  }

  /** Releases this lease only (by its counter): a late release never frees a lease taken since. */
  private async release(held: Pick<Held, 'shardId' | 'counter'>): Promise<void> {
    const { shardId, counter } = held;
    if (this.finished) return;
    try {
      await withDeadline(
        this.scheduler,
        this.checkpointer.removeLeaseOwner(shardId, this.workerId, { leaseCounter: counter }),
        this.t.leaseDurationMs - this.t.expiryMarginMs,
        // Stryker disable next-line StringLiteral: the label only names the deadline in a log line
        'removeLeaseOwner',
      );
      this.ledger.releasedLease(shardId, counter);
    } catch (error) {
      // Someone else's already: nothing of ours to release. Otherwise the lease simply expires.
      if (isCode(error, ErrorCode.LeaseLost)) {
        this.ledger.gone(shardId, counter);
        return;
      }
      // Stryker disable next-line all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
      this.logger.warn('lease release failed', { shardId, error });
    }
  }

  /**
   * At the stop, a take that got no answer: the lease it may have granted is released, named by the
   * take's id (its counter was never learned). A lease the same worker id got otherwise (another
   * process with this id) stays.
   */
  private async releaseTaken(take: { readonly shardId: string; readonly takeId: string }): Promise<void> {
    if (this.finished) return;
    const { shardId, takeId } = take;
    try {
      await withDeadline(
        this.scheduler,
        this.checkpointer.removeLeaseOwner(shardId, this.workerId, { takeId }),
        this.t.leaseDurationMs - this.t.expiryMarginMs,
        // Stryker disable next-line StringLiteral: the label only names the deadline in a log line
        'removeLeaseOwner',
      );
      this.ledger.releasedUncertain(shardId);
    } catch (error) {
      if (isCode(error, ErrorCode.LeaseLost)) {
        this.ledger.gone(shardId);
        return;
      }
      // Stryker disable next-line all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
      this.logger.warn('lease release failed', { shardId, error });
    }
  }

  /** Takes back this worker's claim on a shard, so that its owner keeps it instead of handing it to nobody. */
  private async withdraw(shardId: string): Promise<void> {
    if (this.finished) return;
    try {
      await withDeadline(
        this.scheduler,
        this.checkpointer.withdrawClaim(shardId, this.workerId),
        this.t.leaseDurationMs - this.t.expiryMarginMs,
        'withdrawClaim',
      );
      this.ledger.claimSettled(shardId);
      this.logger.info('claim withdrawn', { shardId });
    } catch (error) {
      // The claim lapses on its own a renewal period after the claimed lease ends.
      this.logger.warn('claim withdrawal failed', { shardId, error });
    }
  }

  /** Tells the service this worker is stopping (a last heartbeat that holds nothing). */
  private async leave(): Promise<void> {
    if (this.finished) return;
    try {
      await withDeadline(
        this.scheduler,
        this.checkpointer.heartbeat(this.workerId, { held: [], leaving: true }),
        this.t.leaseDurationMs - this.t.expiryMarginMs,
        'heartbeat (leaving)',
      );
    } catch (error) {
      // It is counted gone once it has not been heard from for a while.
      this.logger.warn('leaving the fleet plan failed', { error });
    }
  }

  /** Runs a handover or give-back beside the cycles; `stop()` waits for those in progress. */
  private background(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.logger.error('lease handover failed', { error }));
    this.handovers.add(tracked);
    void tracked.finally(() => this.handovers.delete(tracked));
  }

  /**
   * Runs a take or claim so that `stop()` can settle it: registered before it starts, so that a stop
   * that comes while its first request is on the wire already waits for it.
   */
  private tracked(run: () => Promise<void>): Promise<void> {
    let done: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.inFlight.add(settled);
    run()
      .catch((error: unknown) => this.logger.error('take or claim failed', { error }))
      .finally(() => {
        this.inFlight.delete(settled);
        done();
      });
    return settled;
  }

  // ---- taking and stealing -----------------------------------------------------------------------

  /** A call made while listing or taking: it may take as long as a lease could last, no longer. */
  private bounded<T>(call: Promise<T>, what: string): Promise<T> {
    return withDeadline(this.scheduler, call, this.t.leaseDurationMs - this.t.expiryMarginMs, what);
  }

  private async rebalance(): Promise<void> {
    if (!this.shardSource) return;
    let shards: readonly StreamShard[];
    let rows: Lease[];
    try {
      [shards, rows] = await Promise.all([
        this.bounded(this.shardSource.listShards(), 'listShards (stream)'),
        this.listRows(),
      ]);
    } catch (error) {
      this.logger.warn('shard listing failed', { error });
      return;
    }
    const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
    const rowById = new Map(rows.map((row) => [row.shardId, row]));
    const now = this.scheduler.now();
    const plan = planBalance({
      workerId: this.workerId,
      shards,
      rows,
      nowMs: now,
      overdueAfterMs: this.t.rebalanceIntervalMs + this.t.toleranceMs,
      terms: { leaseDurationMs: this.t.leaseDurationMs, claimTimeoutMs: this.t.claimTimeoutMs },
      firstSeenFreeMs: this.firstSeenFree,
      held: new Set(this.held.keys()),
    });
    const free = new Set(plan.free);
    for (const shardId of this.firstSeenFree.keys())
      if (!free.has(shardId)) this.firstSeenFree.delete(shardId);
    for (const shardId of free) if (!this.firstSeenFree.has(shardId)) this.firstSeenFree.set(shardId, now);
    const share = Math.min(plan.share, this.maxLeases);
    this.logger.debug('listing plan', {
      share,
      held: this.heldShards(),
      free: plan.free,
      overdue: plan.overdue,
      ...(plan.orphans.length > 0 && { orphans: plan.orphans }),
      ...(plan.steal && { steal: plan.steal }),
    });

    this.dropOverdueSteals();
    for (const shardId of [...this.steals.keys()]) {
      if (rowById.get(shardId)?.claimRequest === this.workerId) continue;
      this.steals.delete(shardId);
      this.ledger.claimSettled(shardId);
    }
    // An earlier process with this worker id left these: ours again at once (a new lease, a new counter).
    for (const shardId of plan.orphans) {
      if (this.stopped) break;
      const shard = byId.get(shardId);
      if (shard && !this.held.has(shardId) && !this.backingOff(shardId)) await this.take(shard);
    }
    for (const shardId of plan.free) {
      if (this.held.size >= share || this.stopped) break;
      if (this.held.has(shardId) || this.backingOff(shardId)) continue;
      const shard = byId.get(shardId);
      if (shard) await this.take(shard);
    }
    // Free a whole listing period and more: the worker whose share it was did not take it.
    for (const shardId of plan.overdue) {
      if (this.held.size >= this.maxLeases || this.stopped) break;
      if (this.held.has(shardId) || this.backingOff(shardId)) continue;
      const shard = byId.get(shardId);
      if (shard) await this.take(shard);
    }
    if (this.steals.size > 0 || this.held.size >= share || !plan.steal || this.stopped) return;
    const target = byId.get(plan.steal.shardId);
    if (!target || this.backingOff(target.shardId)) return;
    await this.claim(target, plan.steal.victim);
  }

  private claim(target: ShardLineage, victim: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.tracked(() => this.claimNow(target, victim));
  }

  private async claimNow(target: ShardLineage, victim: string): Promise<void> {
    try {
      await this.bounded(this.checkpointer.claimShard(target.shardId, this.workerId), 'claimShard');
    } catch (error) {
      // Someone else claimed it first, or it ended meanwhile: the next plan decides again.
      if (isCode(error, ErrorCode.ShardClaimed, ErrorCode.ShardEnded, ErrorCode.NotFound)) return;
      // No answer: the claim may have landed. It is owed back like one that did (a stop withdraws it).
      this.ledger.claimed(target.shardId);
      this.logger.warn('shard claim failed', { shardId: target.shardId, error });
      return;
    }
    this.ledger.claimed(target.shardId);
    if (this.stopped) {
      // Claimed while stopping: the owner would hand over to a worker that is gone.
      if (this.releaseOnStop) await this.withdraw(target.shardId);
      return;
    }
    this.steals.set(target.shardId, { shard: target, since: this.scheduler.now() });
    this.logger.info('shard claimed', { shardId: target.shardId, from: victim });
  }

  private backingOff(shardId: string): boolean {
    const entry = this.backoff.get(shardId);
    return entry !== undefined && entry.until > this.scheduler.now();
  }

  /** Between plans, asks for each claimed shard directly: it comes over as soon as its owner releases it. */
  private async followSteals(): Promise<void> {
    this.dropOverdueSteals();
    for (const steal of [...this.steals.values()]) {
      if (this.stopped) return;
      await this.take(steal.shard);
    }
  }

  private take(shard: ShardLineage): Promise<void> {
    // One take of a shard at a time: a plan can offer a shard whose take is still unanswered (its lease,
    // under this worker's id, looks like an orphan to the service).
    if (this.stopped || this.taking.has(shard.shardId)) return Promise.resolve();
    this.taking.add(shard.shardId);
    return this.tracked(() => this.takeNow(shard).finally(() => this.taking.delete(shard.shardId)));
  }

  private async takeNow(shard: ShardLineage): Promise<void> {
    const listed = parentIds(shard);
    const started = this.scheduler.now();
    // 72 random bits, 12 characters: unique among this worker's takes of one shard, and short, since
    // it stays on the row (the fleet plan scans every row).
    const takeId = randomBytes(9).toString('base64url');
    let lease: Lease;
    try {
      lease = await this.bounded(
        // A new lease even if the service still counts an old one as ours: its counter fences off a
        // release or checkpoint of the old lease that is still in flight. Its id keeps a retry or a
        // late copy of this take from taking the shard again (and fencing off the lease it granted).
        this.checkpointer.getLease(shard.shardId, {
          workerId: this.workerId,
          newLease: true,
          takeId,
          ...(listed[0] !== undefined && { parentShardId: listed[0] }),
        }),
        'getLease',
      );
    } catch (error) {
      if (isCode(error, ErrorCode.ShardClaimed) && error.details.claimRequest !== this.workerId) {
        // Another worker's claim replaced ours.
        this.steals.delete(shard.shardId);
        this.ledger.claimSettled(shard.shardId);
      }
      if (!isCode(error, ErrorCode.LeaseNotAcquired, ErrorCode.ShardClaimed)) {
        // No answer: the service may have granted it. The next plan offers it back to this worker (a
        // lease under its id that it does not hold); a stop releases it, whatever its counter.
        if (!(error instanceof ShardLeaseError) || isCode(error, ErrorCode.Internal, ErrorCode.Throttled)) {
          this.ledger.takeUnanswered(shard.shardId, takeId);
        }
        this.logger.warn('lease take failed', { shardId: shard.shardId, error });
      }
      return;
    }
    this.ledger.granted(shard.shardId, lease.leaseCounter);
    const given = { shardId: shard.shardId, counter: lease.leaseCounter };
    if (this.stopped) {
      // Granted while stopping: give it back now (the stop waits for this), unless the stop leaves
      // leases to expire.
      if (this.releaseOnStop) await this.release(given);
      return;
    }
    if (this.steals.delete(shard.shardId)) {
      // A steal came through: look again at the next cycle, not a whole rebalance period later, so that
      // a newcomer reaches its share in a few renewal periods. Settled workers keep the slow pace.
      this.nextRebalanceAt = Math.min(this.nextRebalanceAt, started + this.t.renewIntervalMs);
    }
    const expiresAt = started + this.t.leaseDurationMs - this.t.expiryMarginMs;
    const current = this.held.get(shard.shardId);
    if (current) {
      // Already held (a steal followed up while the plan's take came through): the new lease replaces
      // the old one under the same processor, fenced by its new counter.
      this.ledger.gone(shard.shardId, current.counter);
      current.counter = lease.leaseCounter;
      this.extend(current, expiresAt);
      return;
    }
    if (lease.checkpoint === SHARD_END || expiresAt <= this.scheduler.now()) {
      // Ended since the listing, or answered too late to use (the service may give the shard away as
      // we start): do not hold it.
      await this.release(given);
      return;
    }
    // Listing mode knows the parents from the stream; heartbeat mode from the row discovery wrote.
    const parents = listed.length > 0 ? listed : parentIds(lease);
    const held: Held = {
      shardId: shard.shardId,
      parentShardIds: parents,
      counter: lease.leaseCounter,
      expiresAt,
      expiryTimer: undefined,
      controller: new AbortController(),
      processing: undefined,
      checkpoints: new Set(),
      handingOver: false,
      checkpointRenewedAt: undefined,
    };
    held.expiryTimer = this.expiryTimer(held);
    this.held.set(shard.shardId, held);
    this.logger.info('lease taken', { shardId: shard.shardId, leaseCounter: lease.leaseCounter });
    try {
      const result = this.events.onLeaseGained?.(this.shardLease(held, lease.checkpoint));
      if (result) {
        held.processing = result.then(
          () => this.onProcessingSettled(held, 'finished'),
          (error: unknown) => this.onProcessingSettled(held, 'failed', error),
        );
      }
    } catch (error) {
      held.processing = Promise.resolve();
      this.onProcessingSettled(held, 'failed', error);
    }
  }

  /**
   * The processor returned or threw while the lease is still held: give the lease back once its last
   * checkpoint has landed, and wait a backoff before taking the shard again (its next try may fail the
   * same way; a peer may do better meanwhile).
   */
  private onProcessingSettled(held: Held, reason: 'finished' | 'failed', error?: unknown): void {
    if (!this.isCurrent(held)) return;
    const previous = this.backoff.get(held.shardId)?.failures ?? 0;
    const failures = previous + 1;
    const delay = this.t.retakeBackoffMs * Math.min(MAX_BACKOFF_FACTOR, 2 ** previous);
    this.backoff.set(held.shardId, { until: this.scheduler.now() + delay, failures });
    this.background(
      (async () => {
        await Promise.all([...held.checkpoints].map((call) => call.catch(() => undefined)));
        await this.drop(held, { reason, ...(error !== undefined && { error }) }, false);
        await this.release(held);
      })(),
    );
  }

  private async listRows(): Promise<Lease[]> {
    const rows: Lease[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.bounded(
        this.checkpointer.listShards({
          limit: LIST_PAGE,
          ...(cursor !== undefined && { cursor }),
        }),
        'listShards (table)',
      );
      rows.push(...page.shards);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return rows;
  }

  /** An application callback that throws must not stop the coordinator. */
  private emit(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.logger.error('coordinator callback failed', { error });
    }
  }

  // ---- the application's checkpointer -----------------------------------------------------------

  private shardLease(held: Held, startingCheckpoint: string | undefined): ShardLease {
    return {
      shardId: held.shardId,
      parentShardIds: held.parentShardIds,
      startingCheckpoint,
      signal: held.controller.signal,
      checkpoint: (sequenceNumber) => this.checkpoint(held, sequenceNumber),
    };
  }

  private async checkpoint(held: Held, sequenceNumber: string): Promise<void> {
    const lastChance = held.handingOver && this.scheduler.now() < held.expiresAt;
    if (!lastChance && (!this.isCurrent(held) || held.controller.signal.aborted)) {
      throw new LeaseLostError(`shard ${held.shardId}: the lease was lost here; the processor must stop`);
    }
    const checkpoint = normalizeCheckpoint(sequenceNumber);
    const sentAt = this.scheduler.now();
    const call = withDeadline(
      this.scheduler,
      this.checkpointer.checkpointSequence(held.shardId, {
        workerId: this.workerId,
        checkpoint,
        leaseCounter: held.counter,
      }),
      held.expiresAt - this.scheduler.now(),
      'checkpoint',
    );
    held.checkpoints.add(call);
    try {
      const lease = await call;
      if (!this.isCurrent(held)) {
        // Handed over or ended meanwhile: nothing to learn from the answer.
      } else if (lease.claimRequest && lease.claimRequest !== this.workerId) {
        // Another worker claims the shard (a renewing checkpoint settles lapsed claims, so this one is
        // pending): hand over now, as a refused renewal would, rather than at the next round, which
        // skips a lease its checkpoints renewed.
        void this.onRenewalLost({
          shardId: held.shardId,
          code: ErrorCode.ShardClaimed,
          message: 'the shard is claimed',
          claimRequest: lease.claimRequest,
        });
      } else if (checkpointRenewed(lease, this.t.leaseDurationMs)) {
        // The same write renewed the lease: held longer here too, as a renewal sent then would.
        this.extend(held, sentAt + this.t.leaseDurationMs - this.t.expiryMarginMs);
        held.checkpointRenewedAt = Math.max(held.checkpointRenewedAt ?? sentAt, sentAt);
      }
    } catch (error) {
      // Refused: the lease is someone else's (or gone). Stop the processing at once.
      if (isCode(error, ErrorCode.LeaseLost)) {
        held.handingOver = false;
        this.ledger.gone(held.shardId, held.counter);
        await this.drop(
          held,
          { reason: 'taken', ...(error.details.owner ? { owner: String(error.details.owner) } : {}) },
          false,
        );
      }
      throw error;
    } finally {
      held.checkpoints.delete(call);
    }
    if (checkpoint === SHARD_END && this.isCurrent(held)) {
      this.held.delete(held.shardId);
      this.scheduler.clearTimeout(held.expiryTimer);
      this.backoff.delete(held.shardId);
      // Stryker disable next-line all: log lines (wording, level, fields) are not lease rules; mutation testing leaves them out
      this.logger.info('shard ended', { shardId: held.shardId });
      this.emit(() => this.events.onShardEnded?.(held.shardId));
      await this.release(held);
    }
  }
}
