/**
 * The lease coordinator of one consumer (a container, or one Lambda invocation): it takes leases up to
 * a fair share, renews all of them with one RenewLeases call per period, steals from overloaded workers
 * through claims, hands shards over when claimed, keeps parents before children, and gives the
 * application a checkpointer per shard fenced by the lease counter. It works over any `Checkpointer`:
 * `DynamoCheckpointer` (library mode) or `ShardLeaseClient` (HTTP).
 *
 * Its two promises hold under faults because nothing it does waits without a deadline:
 * - One processor per shard. A lease is treated as lost at its local expiry (the start of the request
 *   that last took or renewed it, plus the lease duration, minus a margin for clock drift), by a timer
 *   that waits for nothing in flight; the service cannot give the shard to anyone else before the
 *   lease's timeout, which it set later than that request's start. Processing is told to stop (its
 *   signal aborts) then, and its checkpoints are refused locally from then on.
 * - No shard abandoned. A processor that returns or throws gives its lease back (after its last
 *   checkpoint), with a backoff before this worker takes that shard again; a lease whose renewals fail
 *   expires and is taken again, by a peer or by this worker.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Checkpointer, HeartbeatResult, LostLease, RenewResult } from '../core/checkpointer';
import { parentIds, type ShardLineage } from '../core/eligibility';
import { ErrorCode, LeaseLostError, ShardLeaseError, ValidationError } from '../core/errors';
import type { Lease } from '../core/lease-row';
import { type Scheduler, systemScheduler, withDeadline } from '../core/scheduler';
import { normalizeCheckpoint, SHARD_END } from '../core/sequence-number';
import type { ShardSource, StreamShard } from '../store/kinesis-shard-source';
import { planBalance } from './balance';

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

export interface LeaseCoordinatorOptions extends CoordinatorEvents {
  readonly checkpointer: Checkpointer;
  /**
   * Where to list the stream's shards. Without one (the usual case against the service), the
   * coordinator only heartbeats: the service discovers shards and plans the fleet, and this worker never
   * lists the table or the stream. With one, it lists both itself every rebalance period (library mode,
   * or a service without discovery).
   */
  readonly shardSource?: ShardSource;
  readonly workerId: string;
  /** Must equal the service's (the server sets lease timeouts); renewals and expiry are paced by it. */
  readonly leaseDurationMs: number;
  /** Renewal period. @default leaseDurationMs / 3 */
  readonly renewIntervalMs?: number;
  /** How often shards and leases are listed to take, steal and rebalance. @default leaseDurationMs */
  readonly rebalanceIntervalMs?: number;
  /** Give up a steal whose shard did not come over in this time. @default 2 × leaseDurationMs */
  readonly stealTimeoutMs?: number;
  /** Hold at most this many leases; heartbeats tell the service (as `capacity`). @default unlimited */
  readonly maxLeases?: number;
  /**
   * A lease counts as lost this long before the service could let it go: room for the clock drift
   * between this process and the service's instances. @default max(100, leaseDurationMs / 10)
   */
  readonly expiryMarginMs?: number;
  /** Wait this long before taking again a shard whose processor returned or threw; doubles on each repeat, up to 8×. @default leaseDurationMs */
  readonly retakeBackoffMs?: number;
  /** `stop()` returns within this time, whatever is in flight. @default leaseDurationMs */
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
}

interface PendingSteal {
  readonly shard: ShardLineage;
  readonly since: number;
}

/** Heartbeat takes at most this many leases a call; a worker holding more sends several. */
const HEARTBEAT_BATCH = 250;

/** RenewLeases takes at most this many shard ids a call. */
const RENEW_BATCH = 100;
const LIST_PAGE = 1000;
const MAX_BACKOFF_FACTOR = 8;

const isCode = (error: unknown, ...codes: ErrorCode[]): error is ShardLeaseError =>
  error instanceof ShardLeaseError && codes.includes(error.code);

export class LeaseCoordinator {
  readonly workerId: string;
  private readonly checkpointer: Checkpointer;
  private readonly shardSource: ShardSource | undefined;
  private readonly leaseDurationMs: number;
  private readonly renewIntervalMs: number;
  private readonly rebalanceIntervalMs: number;
  private readonly stealTimeoutMs: number;
  private readonly maxLeases: number;
  private readonly expiryMarginMs: number;
  private readonly retakeBackoffMs: number;
  private readonly stopTimeoutMs: number;
  private readonly scheduler: Scheduler;
  private readonly logger: CoordinatorLogger;
  private readonly events: CoordinatorEvents;

  private readonly held = new Map<string, Held>();
  /** Shards whose processor returned or threw: not taken again before `until`. */
  private readonly backoff = new Map<string, { until: number; failures: number }>();
  /** Claims made and not yet come through, by shard id (listing mode makes one at a time). */
  private readonly steals = new Map<string, PendingSteal>();
  private nextRenewAt = 0;
  private nextRebalanceAt = 0;
  private renewing: Promise<void> | undefined;
  private rebalancing: Promise<void> | undefined;
  private loopTimer: unknown;
  private started = false;
  private stopped = false;
  /** Handovers and give-backs in progress (a processor finishing, then the release). */
  private readonly handovers = new Set<Promise<void>>();
  /** Lateness tolerated in a timer's firing, so that a timer firing a little early is not a skipped period. */
  private readonly tolerance: number;

  constructor(options: LeaseCoordinatorOptions) {
    const issues = [];
    if (!options.workerId) issues.push({ field: 'workerId', message: 'must be a non-empty string' });
    if (!(options.leaseDurationMs > 0))
      issues.push({ field: 'leaseDurationMs', message: 'must be a positive number' });
    const margin = options.expiryMarginMs ?? Math.max(100, options.leaseDurationMs / 10);
    if (options.leaseDurationMs > 0 && !(margin >= 0 && margin < options.leaseDurationMs / 2)) {
      issues.push({
        field: 'expiryMarginMs',
        message: 'must be at least 0 and below half the lease duration',
      });
    }
    if (issues.length > 0) throw new ValidationError(issues);
    this.workerId = options.workerId;
    this.checkpointer = options.checkpointer;
    this.shardSource = options.shardSource;
    this.leaseDurationMs = options.leaseDurationMs;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.floor(options.leaseDurationMs / 3);
    this.rebalanceIntervalMs = options.rebalanceIntervalMs ?? options.leaseDurationMs;
    this.stealTimeoutMs = options.stealTimeoutMs ?? 2 * options.leaseDurationMs;
    this.maxLeases = options.maxLeases ?? Number.POSITIVE_INFINITY;
    this.expiryMarginMs = margin;
    this.retakeBackoffMs = options.retakeBackoffMs ?? options.leaseDurationMs;
    this.stopTimeoutMs = options.stopTimeoutMs ?? options.leaseDurationMs;
    this.scheduler = options.scheduler ?? systemScheduler;
    this.logger = options.logger ?? new Logger({ serviceName: 'shardlease-coordinator' });
    this.events = options;
    this.tolerance = Math.floor(Math.min(this.renewIntervalMs, this.rebalanceIntervalMs) / 4);
  }

  /** Shard ids this worker holds now. */
  heldShards(): string[] {
    return [...this.held.keys()].sort();
  }

  /** A shard this worker has claimed and waits for, if any. */
  pendingSteal(): string | undefined {
    return this.steals.keys().next().value;
  }

  /** Runs a first cycle now, then keeps renewing and rebalancing on the scheduler's timers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.arm();
    await this.tick();
  }

  /**
   * One cycle: renew what is due and, when due, list shards and leases to take, steal and follow up a
   * pending steal. Renewing never waits behind taking: each part runs on its own, and a part still in
   * flight (every call has a deadline) is not started twice.
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    const now = this.scheduler.now();
    if (!this.renewing && now + this.tolerance >= this.nextRenewAt) {
      this.nextRenewAt = now + this.renewIntervalMs;
      this.renewing = (this.shardSource ? this.renewAll() : this.heartbeatAll()).finally(() => {
        this.renewing = undefined;
      });
    }
    if (!this.rebalancing) {
      // Listing mode rebalances from its own listing; heartbeat mode takes what each heartbeat's plan
      // says (started by the heartbeat) and in between only follows a pending steal.
      const due = this.shardSource !== undefined && now + this.tolerance >= this.nextRebalanceAt;
      if (due) this.nextRebalanceAt = now + this.rebalanceIntervalMs;
      const work = due ? this.rebalance() : this.steals.size > 0 ? this.followSteals() : undefined;
      this.startRebalancing(work);
    }
    await Promise.all([this.renewing, this.rebalancing]);
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
   * Stops the timers, aborts every shard's processing and waits for it, then releases the leases so
   * that peers take them at once; `release: false` leaves them to expire (as a crash would). Returns
   * within `stopTimeoutMs`, whatever is still in flight.
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<void> {
    if (this.loopTimer !== undefined) this.scheduler.clearTimeout(this.loopTimer);
    this.loopTimer = undefined;
    this.stopped = true;
    this.started = false;
    this.steals.clear();
    const release = options.release ?? true;
    const leases = [...this.held.values()];
    const work = (async () => {
      await Promise.all(leases.map((held) => this.drop(held, { reason: 'stopped' })));
      await Promise.all([...this.handovers]);
      if (release) await Promise.all(leases.map((held) => this.release(held)));
    })();
    await withDeadline(this.scheduler, work, this.stopTimeoutMs, 'stop').catch((error: unknown) =>
      this.logger.warn('stop did not finish in time', { error, shards: leases.length }),
    );
  }

  private arm(): void {
    const period = Math.max(1, Math.min(this.renewIntervalMs, this.rebalanceIntervalMs));
    this.loopTimer = this.scheduler.setTimeout(() => {
      if (this.stopped) return;
      this.arm();
      this.tick().catch((error: unknown) => this.logger.error('coordinator cycle failed', { error }));
    }, period);
  }

  // ---- renewal -----------------------------------------------------------------------------------

  private async renewAll(): Promise<void> {
    await this.renewInBatches(RENEW_BATCH, (batch) =>
      this.checkpointer.renewLeases(
        this.workerId,
        batch.map((held) => held.shardId),
      ),
    );
  }

  /**
   * One heartbeat per period, whatever this worker holds (in batches of 250): it renews, and its answer
   * says what to take and whether to steal. The takes run beside the renewals, never ahead of them.
   */
  private async heartbeatAll(): Promise<void> {
    const plans: HeartbeatResult[] = [];
    const send = (batch: readonly Held[]) =>
      this.checkpointer
        .heartbeat(this.workerId, {
          held: batch.map((held) => ({ shardId: held.shardId, leaseCounter: held.counter })),
          ...(Number.isFinite(this.maxLeases) && { capacity: this.maxLeases }),
        })
        .then((result) => {
          plans.push(result);
          return result;
        });
    const renewed = await this.renewInBatches(HEARTBEAT_BATCH, send, true);
    if (!renewed) return;
    const plan = plans[0];
    if (!plan || this.stopped || this.rebalancing) return;
    this.startRebalancing(this.followPlan(plan));
  }

  /**
   * Renews every held lease in batches through `call`, each with a deadline of the batch's earliest
   * local expiry, and applies the outcomes. With `always`, one call goes out even holding nothing (a
   * heartbeat). Returns whether any call answered.
   */
  private async renewInBatches(
    size: number,
    call: (batch: readonly Held[]) => Promise<RenewResult>,
    always = false,
  ): Promise<boolean> {
    const leases = [...this.held.values()];
    if (leases.length === 0 && !always) return false;
    const started = this.scheduler.now();
    const lost: LostLease[] = [];
    let answered = false;
    for (let i = 0; i === 0 || i < leases.length; i += size) {
      const batch = leases.slice(i, i + size).filter((held) => this.isCurrent(held));
      if (batch.length === 0 && !(always && i === 0)) continue;
      // A renewal never outlives the leases it renews: past their local expiry it is useless.
      const deadline =
        batch.length > 0
          ? Math.min(...batch.map((held) => held.expiresAt)) - this.scheduler.now()
          : this.renewIntervalMs;
      try {
        const result = await withDeadline(this.scheduler, call(batch), deadline, 'renewal');
        answered = true;
        for (const lease of result.renewed) {
          const held = this.held.get(lease.shardId);
          if (!held) continue;
          held.counter = lease.leaseCounter;
          this.extend(held, started + this.leaseDurationMs - this.expiryMarginMs);
        }
        lost.push(...result.lost);
        if (result.failed.length > 0) {
          // Held as before, until their local expiry; the next period tries again.
          this.logger.warn('lease renewal failed for some shards', { failed: result.failed });
        }
      } catch (error) {
        // The leases stay held until their local expiry; the next period tries again.
        this.logger.warn('lease renewal failed', { error, shards: batch.length });
      }
    }
    await Promise.all(lost.map((lease) => this.onRenewalLost(lease)));
    return answered;
  }

  /** Takes what the service's plan offers, then claims the shards it advises stealing. */
  private async followPlan(plan: HeartbeatResult): Promise<void> {
    for (const shardId of plan.take) {
      if (this.held.size >= this.maxLeases || this.stopped) break;
      if (this.held.has(shardId) || this.backingOff(shardId)) continue;
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

  private dropOverdueSteals(): void {
    const now = this.scheduler.now();
    for (const [shardId, steal] of this.steals) {
      if (now - steal.since > this.stealTimeoutMs) this.steals.delete(shardId);
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
    // Already someone else's: nothing to wait for.
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
    const log =
      event.reason === 'failed' ? this.logger.error.bind(this.logger) : this.logger.info.bind(this.logger);
    log('lease lost', {
      shardId: held.shardId,
      reason: event.reason,
      ...(event.owner && { owner: event.owner }),
      ...(event.error !== undefined && { error: event.error as Error }),
    });
    this.emit(() => this.events.onLeaseLost?.({ shardId: held.shardId, ...event }));
    if (wait && held.processing) {
      const remaining = held.expiresAt - this.scheduler.now();
      await withDeadline(this.scheduler, held.processing, remaining, 'processing').catch(() => undefined);
    }
  }

  /** Releases this lease only (by its counter): a late release never frees a lease taken since. */
  private async release(held: Pick<Held, 'shardId' | 'counter'>): Promise<void> {
    const { shardId } = held;
    try {
      await withDeadline(
        this.scheduler,
        this.checkpointer.removeLeaseOwner(shardId, this.workerId, { leaseCounter: held.counter }),
        this.leaseDurationMs - this.expiryMarginMs,
        'removeLeaseOwner',
      );
    } catch (error) {
      // Someone else's already: nothing of ours to release. Otherwise the lease simply expires.
      if (!isCode(error, ErrorCode.LeaseLost)) this.logger.warn('lease release failed', { shardId, error });
    }
  }

  /** Runs a handover or give-back beside the cycles; `stop()` waits for those in progress. */
  private background(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.logger.error('lease handover failed', { error }));
    this.handovers.add(tracked);
    void tracked.finally(() => this.handovers.delete(tracked));
  }

  // ---- taking and stealing -----------------------------------------------------------------------

  /** A call made while listing or taking: it may take as long as a lease could last, no longer. */
  private bounded<T>(call: Promise<T>, what: string): Promise<T> {
    return withDeadline(this.scheduler, call, this.leaseDurationMs - this.expiryMarginMs, what);
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
    const plan = planBalance({ workerId: this.workerId, shards, rows, nowMs: now });
    const share = Math.min(plan.share, this.maxLeases);

    this.dropOverdueSteals();
    for (const shardId of [...this.steals.keys()]) {
      if (rowById.get(shardId)?.claimRequest !== this.workerId) this.steals.delete(shardId);
    }
    for (const shardId of plan.free) {
      if (this.held.size >= share || this.stopped) break;
      if (this.held.has(shardId) || this.backingOff(shardId)) continue;
      const shard = byId.get(shardId);
      if (shard) await this.take(shard);
    }
    if (this.steals.size > 0 || this.held.size >= share || !plan.steal || this.stopped) return;
    const target = byId.get(plan.steal.shardId);
    if (!target || this.backingOff(target.shardId)) return;
    await this.claim(target, plan.steal.victim);
  }

  private async claim(target: ShardLineage, victim: string): Promise<void> {
    try {
      await this.bounded(this.checkpointer.claimShard(target.shardId, this.workerId), 'claimShard');
      this.steals.set(target.shardId, { shard: target, since: this.scheduler.now() });
      this.logger.info('shard claimed', { shardId: target.shardId, from: victim });
    } catch (error) {
      // Someone else claimed it first, or it ended meanwhile: the next plan decides again.
      if (!isCode(error, ErrorCode.ShardClaimed, ErrorCode.ShardEnded, ErrorCode.NotFound)) {
        this.logger.warn('shard claim failed', { shardId: target.shardId, error });
      }
    }
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

  private async take(shard: ShardLineage): Promise<void> {
    if (this.stopped) return;
    const listed = parentIds(shard);
    const started = this.scheduler.now();
    let lease: Lease;
    try {
      lease = await this.bounded(
        // A new lease even if the service still counts an old one as ours: its counter fences off a
        // release or checkpoint of the old lease that is still in flight.
        this.checkpointer.getLease(shard.shardId, {
          workerId: this.workerId,
          newLease: true,
          ...(listed[0] !== undefined && { parentShardId: listed[0] }),
        }),
        'getLease',
      );
    } catch (error) {
      if (isCode(error, ErrorCode.ShardClaimed)) this.steals.delete(shard.shardId);
      if (!isCode(error, ErrorCode.LeaseNotAcquired, ErrorCode.ShardClaimed)) {
        this.logger.warn('lease take failed', { shardId: shard.shardId, error });
      }
      return;
    }
    if (this.steals.delete(shard.shardId)) {
      // A steal came through: look again at the next cycle, not a whole rebalance period later, so that
      // a newcomer reaches its share in a few renewal periods. Settled workers keep the slow pace.
      this.nextRebalanceAt = Math.min(this.nextRebalanceAt, started + this.renewIntervalMs);
    }
    const expiresAt = started + this.leaseDurationMs - this.expiryMarginMs;
    // Already held (the take was a renewal of that very lease): nothing new to start, nothing to release.
    if (this.held.has(shard.shardId)) return;
    if (lease.checkpoint === SHARD_END || this.stopped) {
      // Ended since the listing, or nothing to start any more: do not hold it.
      await this.release({ shardId: shard.shardId, counter: lease.leaseCounter });
      return;
    }
    if (expiresAt <= this.scheduler.now()) {
      // The answer came too late to use: the service may give the shard away as we start.
      await this.release({ shardId: shard.shardId, counter: lease.leaseCounter });
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
    const delay = this.retakeBackoffMs * Math.min(MAX_BACKOFF_FACTOR, 2 ** previous);
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
      await call;
    } catch (error) {
      // Refused: the lease is someone else's (or gone). Stop the processing at once.
      if (isCode(error, ErrorCode.LeaseLost)) {
        held.handingOver = false;
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
      this.logger.info('shard ended', { shardId: held.shardId });
      this.emit(() => this.events.onShardEnded?.(held.shardId));
      await this.release(held);
    }
  }
}
