/**
 * The lease coordinator of one consumer (a container, or one Lambda invocation): it discovers the
 * stream's shards, takes leases up to a fair share, renews all of them with one RenewLeases call per
 * period, steals from overloaded workers through claims, hands shards over when claimed, keeps parents
 * before children, and gives the application a checkpointer per shard fenced by the lease counter.
 * It works over any `Checkpointer`: `DynamoCheckpointer` (library mode) or `ShardLeaseClient` (HTTP).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Checkpointer, LostLease } from '../core/checkpointer';
import { type Clock, systemClock } from '../core/clock';
import { ErrorCode, ShardLeaseError, ValidationError } from '../core/errors';
import type { Lease } from '../core/lease-row';
import { normalizeCheckpoint, SHARD_END } from '../core/sequence-number';
import type { ShardSource, StreamShard } from '../store/kinesis-shard-source';
import { parentIds, planBalance } from './balance';

/** setInterval/clearInterval, injectable so that tests drive `tick()` themselves. */
export interface Timer {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemTimer: Timer = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** Why a lease stopped being this worker's. */
export type LeaseLossReason =
  /** Another worker owns it now, or the row is gone. */
  | 'taken'
  /** Another worker claimed it; this worker released it. */
  | 'claimed'
  /** No renewal succeeded within the lease duration (e.g. the service was unreachable). */
  | 'expired'
  /** `stop()`. */
  | 'stopped';

export interface LeaseLostEvent {
  readonly shardId: string;
  readonly reason: LeaseLossReason;
  readonly owner?: string;
}

/** One owned shard, as the application sees it. */
export interface ShardLease {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  /** The checkpoint when the lease was taken: where processing resumes (none: from the start). */
  readonly startingCheckpoint: string | undefined;
  /** Aborts when the lease is lost, claimed or the coordinator stops: stop processing the shard. */
  readonly signal: AbortSignal;
  /**
   * Records a sequence number (or SHARD_END) fenced by the lease counter: it fails with LeaseLost once
   * another worker took the shard. SHARD_END also ends the lease here: it is released, never renewed.
   */
  checkpoint(sequenceNumber: string): Promise<void>;
}

export interface CoordinatorEvents {
  /**
   * Start processing the shard. A returned promise is the processing itself: it should settle once
   * `lease.signal` aborts; the coordinator waits for it (at most the lease's remaining time) before
   * releasing a claimed shard, so that a last checkpoint lands first.
   */
  onLeaseGained?(lease: ShardLease): void | Promise<void>;
  onLeaseLost?(event: LeaseLostEvent): void;
  onShardEnded?(shardId: string): void;
}

export interface LeaseCoordinatorOptions extends CoordinatorEvents {
  readonly checkpointer: Checkpointer;
  readonly shardSource: ShardSource;
  readonly workerId: string;
  /** Must equal the service's (the server sets lease timeouts); renewals are paced by it. */
  readonly leaseDurationMs: number;
  /** Renewal period. @default leaseDurationMs / 3 */
  readonly renewIntervalMs?: number;
  /** How often shards and leases are listed to take, steal and rebalance. @default leaseDurationMs */
  readonly rebalanceIntervalMs?: number;
  /** Give up a steal whose shard did not come over in this time. @default 2 × leaseDurationMs */
  readonly stealTimeoutMs?: number;
  /** Hold at most this many leases. @default unlimited */
  readonly maxLeases?: number;
  readonly clock?: Clock;
  readonly timer?: Timer;
  readonly logger?: Logger;
}

interface Held {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  counter: number;
  /** Client time by which the lease has surely expired unless renewed: request start + duration. */
  expiresAt: number;
  readonly controller: AbortController;
  processing: Promise<void> | undefined;
}

interface PendingSteal {
  readonly shard: StreamShard;
  readonly since: number;
}

/** RenewLeases takes at most this many shard ids a call. */
const RENEW_BATCH = 100;
const LIST_PAGE = 1000;
/** A checkpoint races our own renewal (which bumps the counter) at most this many times in a row. */
const CHECKPOINT_ATTEMPTS = 3;

const isCode = (error: unknown, ...codes: ErrorCode[]): error is ShardLeaseError =>
  error instanceof ShardLeaseError && codes.includes(error.code);

export class LeaseCoordinator {
  readonly workerId: string;
  private readonly checkpointer: Checkpointer;
  private readonly shardSource: ShardSource;
  private readonly leaseDurationMs: number;
  private readonly renewIntervalMs: number;
  private readonly rebalanceIntervalMs: number;
  private readonly stealTimeoutMs: number;
  private readonly maxLeases: number;
  private readonly clock: Clock;
  private readonly timer: Timer;
  private readonly logger: Logger | undefined;
  private readonly events: CoordinatorEvents;

  private readonly held = new Map<string, Held>();
  private steal: PendingSteal | undefined;
  private nextRenewAt = 0;
  private nextRebalanceAt = 0;
  private running: Promise<void> | undefined;
  private timerHandle: unknown;
  private stopped = false;
  private renewal: Promise<void> | undefined;
  /** Handovers in progress (a processor finishing, then the release): never awaited by a cycle. */
  private readonly handovers = new Set<Promise<void>>();
  /** Lateness tolerated in a timer's firing, so that a timer firing a little early is not a skipped period. */
  private readonly tolerance: number;

  constructor(options: LeaseCoordinatorOptions) {
    const issues = [];
    if (!options.workerId) issues.push({ field: 'workerId', message: 'must be a non-empty string' });
    if (!(options.leaseDurationMs > 0))
      issues.push({ field: 'leaseDurationMs', message: 'must be a positive number' });
    if (issues.length > 0) throw new ValidationError(issues);
    this.workerId = options.workerId;
    this.checkpointer = options.checkpointer;
    this.shardSource = options.shardSource;
    this.leaseDurationMs = options.leaseDurationMs;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.floor(options.leaseDurationMs / 3);
    this.rebalanceIntervalMs = options.rebalanceIntervalMs ?? options.leaseDurationMs;
    this.stealTimeoutMs = options.stealTimeoutMs ?? 2 * options.leaseDurationMs;
    this.maxLeases = options.maxLeases ?? Number.POSITIVE_INFINITY;
    this.clock = options.clock ?? systemClock;
    this.timer = options.timer ?? systemTimer;
    this.logger = options.logger;
    this.events = options;
    this.tolerance = Math.floor(Math.min(this.renewIntervalMs, this.rebalanceIntervalMs) / 4);
  }

  /** Shard ids this worker holds now. */
  heldShards(): string[] {
    return [...this.held.keys()].sort();
  }

  /** The shard this worker has claimed and waits for, if any. */
  pendingSteal(): string | undefined {
    return this.steal?.shard.shardId;
  }

  /** Runs a first cycle now, then one every `min(renew, rebalance)` interval. */
  async start(): Promise<void> {
    if (this.timerHandle !== undefined) return;
    this.stopped = false;
    await this.tick();
    // stop() may have come during the first cycle.
    if (this.stopped || this.timerHandle !== undefined) return;
    const period = Math.max(1, Math.min(this.renewIntervalMs, this.rebalanceIntervalMs));
    this.timerHandle = this.timer.setInterval(() => {
      this.tick().catch((error: unknown) => this.logger?.error('coordinator cycle failed', { error }));
    }, period);
  }

  /**
   * One cycle: renew what is due, drop what expired, and when due list shards and leases to take,
   * steal and follow up a pending steal. A cycle already running is joined, never overlapped.
   */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.cycle().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Stops the timer, aborts every shard's processing and waits for it, then releases the leases so
   * peers take them at once. `release: false` leaves them to expire (as a crash would).
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<void> {
    if (this.timerHandle !== undefined) this.timer.clearInterval(this.timerHandle);
    this.timerHandle = undefined;
    this.stopped = true;
    await this.running?.catch(() => undefined);
    await Promise.all(this.handovers);
    const release = options.release ?? true;
    await Promise.all(
      [...this.held.values()].map(async (held) => {
        await this.drop(held, { reason: 'stopped' });
        if (release) await this.release(held.shardId);
      }),
    );
    this.steal = undefined;
  }

  private async cycle(): Promise<void> {
    const now = this.clock.now();
    this.expireOverdue(now);
    if (now + this.tolerance >= this.nextRenewAt) {
      this.nextRenewAt = now + this.renewIntervalMs;
      await this.renewAll();
    }
    if (now + this.tolerance >= this.nextRebalanceAt) {
      this.nextRebalanceAt = now + this.rebalanceIntervalMs;
      await this.rebalance();
    } else if (this.steal) {
      // Between rebalances, ask for the claimed shard directly: it comes over as soon as the owner
      // releases it, without waiting for the next listing.
      await this.followSteal(this.steal);
    }
  }

  // ---- renewal -----------------------------------------------------------------------------------

  private expireOverdue(now: number): void {
    for (const held of [...this.held.values()]) {
      if (held.expiresAt <= now) void this.drop(held, { reason: 'expired' }, false);
    }
  }

  private async renewAll(): Promise<void> {
    const shardIds = this.heldShards();
    if (shardIds.length === 0) return;
    const started = this.clock.now();
    const lost: LostLease[] = [];
    const work = (async () => {
      for (let i = 0; i < shardIds.length; i += RENEW_BATCH) {
        const result = await this.checkpointer.renewLeases(this.workerId, shardIds.slice(i, i + RENEW_BATCH));
        for (const lease of result.renewed) {
          const held = this.held.get(lease.shardId);
          if (!held) continue;
          held.counter = lease.leaseCounter;
          held.expiresAt = started + this.leaseDurationMs;
        }
        lost.push(...result.lost);
      }
    })();
    this.renewal = work;
    try {
      await work;
    } catch (error) {
      // The leases stay held until their local expiry; the next period tries again.
      this.logger?.warn('lease renewal failed', { error, shards: shardIds.length });
    } finally {
      this.renewal = undefined;
    }
    // Only now: a processor told to stop may checkpoint once more, and that waits for the renewal.
    await Promise.all(lost.map((lease) => this.onRenewalLost(lease)));
  }

  private async onRenewalLost(lost: LostLease): Promise<void> {
    const held = this.held.get(lost.shardId);
    if (!held) return;
    if (lost.code === ErrorCode.ShardClaimed) {
      // Handover: the lease is still ours until its timeout, so the processor may checkpoint once more
      // before the release lets the claimer in at once. In the background: the other leases' renewals
      // must not wait for it.
      const handover = this.drop(held, {
        reason: 'claimed',
        ...(lost.claimRequest && { owner: lost.claimRequest }),
      }).then(() => this.release(held.shardId));
      this.handovers.add(handover);
      void handover.finally(() => this.handovers.delete(handover));
      return;
    }
    // Already someone else's: nothing to wait for.
    await this.drop(held, { reason: 'taken', ...(lost.owner && { owner: lost.owner }) }, false);
  }

  /**
   * Forgets a lease and aborts its processing; with `wait`, waits for the processing to finish, at most
   * for the lease's remaining time.
   */
  private async drop(held: Held, event: Omit<LeaseLostEvent, 'shardId'>, wait = true): Promise<void> {
    if (this.held.get(held.shardId) !== held) return;
    this.held.delete(held.shardId);
    held.controller.abort(new Error(`lease ${event.reason}`));
    this.logger?.info('lease lost', { shardId: held.shardId, reason: event.reason });
    this.emit(() => this.events.onLeaseLost?.({ shardId: held.shardId, ...event }));
    if (wait && held.processing) {
      const remaining = Math.max(0, held.expiresAt - this.clock.now());
      await settleWithin(held.processing, remaining);
    }
  }

  private async release(shardId: string): Promise<void> {
    try {
      await this.checkpointer.removeLeaseOwner(shardId, this.workerId);
    } catch (error) {
      // Already someone else's (or gone): nothing of ours to release.
      if (!isCode(error, ErrorCode.LeaseLost)) this.logger?.warn('lease release failed', { shardId, error });
    }
  }

  // ---- taking and stealing -----------------------------------------------------------------------

  private async rebalance(): Promise<void> {
    let shards: readonly StreamShard[];
    let rows: Lease[];
    try {
      [shards, rows] = await Promise.all([this.shardSource.listShards(), this.listRows()]);
    } catch (error) {
      this.logger?.warn('shard listing failed', { error });
      return;
    }
    const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
    const rowById = new Map(rows.map((row) => [row.shardId, row]));
    const plan = planBalance({ workerId: this.workerId, shards, rows, nowMs: this.clock.now() });
    const share = Math.min(plan.share, this.maxLeases);

    if (this.steal) {
      const row = rowById.get(this.steal.shard.shardId);
      const overdue = this.clock.now() - this.steal.since > this.stealTimeoutMs;
      if (overdue || !row || row.claimRequest !== this.workerId) this.steal = undefined;
    }
    for (const shardId of plan.free) {
      if (this.held.size >= share || this.stopped) break;
      if (this.held.has(shardId)) continue;
      const shard = byId.get(shardId);
      if (shard) await this.take(shard);
    }
    if (this.steal || this.held.size >= share || !plan.steal || this.stopped) return;
    const target = byId.get(plan.steal.shardId);
    if (!target) return;
    try {
      await this.checkpointer.claimShard(target.shardId, this.workerId);
      this.steal = { shard: target, since: this.clock.now() };
      this.logger?.info('shard claimed', { shardId: plan.steal.shardId, from: plan.steal.victim, share });
    } catch (error) {
      // Someone else claimed it first, or it ended meanwhile: the next listing decides again.
      if (!isCode(error, ErrorCode.ShardClaimed, ErrorCode.ShardEnded, ErrorCode.NotFound)) {
        this.logger?.warn('shard claim failed', { shardId: target.shardId, error });
      }
    }
  }

  private async followSteal(steal: PendingSteal): Promise<void> {
    if (this.clock.now() - steal.since > this.stealTimeoutMs) {
      this.steal = undefined;
      return;
    }
    await this.take(steal.shard);
  }

  private async take(shard: StreamShard): Promise<void> {
    const parents = parentIds(shard);
    const started = this.clock.now();
    let lease: Lease;
    try {
      lease = await this.checkpointer.getLease(shard.shardId, {
        workerId: this.workerId,
        ...(parents[0] !== undefined && { parentShardId: parents[0] }),
      });
    } catch (error) {
      if (isCode(error, ErrorCode.ShardClaimed) && this.steal?.shard.shardId === shard.shardId) {
        this.steal = undefined;
      }
      if (!isCode(error, ErrorCode.LeaseNotAcquired, ErrorCode.ShardClaimed)) {
        this.logger?.warn('lease take failed', { shardId: shard.shardId, error });
      }
      return;
    }
    if (this.steal?.shard.shardId === shard.shardId) {
      this.steal = undefined;
      // A steal came through: look again at the next cycle, not a whole rebalance period later, so that
      // a newcomer reaches its share in a few renewal periods. Settled workers keep the slow pace.
      this.nextRebalanceAt = Math.min(this.nextRebalanceAt, started + this.renewIntervalMs);
    }
    if (lease.checkpoint === SHARD_END) {
      // Ended since the listing: nothing to process, so do not hold it.
      await this.release(shard.shardId);
      return;
    }
    const held: Held = {
      shardId: shard.shardId,
      parentShardIds: parents,
      counter: lease.leaseCounter,
      expiresAt: started + this.leaseDurationMs,
      controller: new AbortController(),
      processing: undefined,
    };
    this.held.set(shard.shardId, held);
    this.logger?.info('lease taken', { shardId: shard.shardId, leaseCounter: lease.leaseCounter });
    const onFailure = (error: unknown) =>
      this.logger?.error('shard processing failed', { shardId: held.shardId, error });
    try {
      const result = this.events.onLeaseGained?.(this.shardLease(held, lease.checkpoint));
      if (result) held.processing = result.catch(onFailure);
    } catch (error) {
      onFailure(error);
    }
  }

  private async listRows(): Promise<Lease[]> {
    const rows: Lease[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.checkpointer.listShards({
        limit: LIST_PAGE,
        ...(cursor !== undefined && { cursor }),
      });
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
      this.logger?.error('coordinator callback failed', { error });
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
    const checkpoint = normalizeCheckpoint(sequenceNumber);
    for (let attempt = 1; ; attempt++) {
      // A renewal in flight bumps the counter: wait for it rather than race it.
      await this.renewal?.catch(() => undefined);
      const counter = held.counter;
      try {
        await this.checkpointer.checkpointSequence(held.shardId, {
          workerId: this.workerId,
          checkpoint,
          leaseCounter: counter,
        });
        break;
      } catch (error) {
        // Our own renewal moved the counter between the read and the write: try with the new one.
        const ownRenewal = held.counter !== counter && this.held.get(held.shardId) === held;
        if (!ownRenewal || attempt >= CHECKPOINT_ATTEMPTS || !isCode(error, ErrorCode.LeaseLost)) throw error;
      }
    }
    if (checkpoint === SHARD_END && this.held.get(held.shardId) === held) {
      this.held.delete(held.shardId);
      this.logger?.info('shard ended', { shardId: held.shardId });
      this.emit(() => this.events.onShardEnded?.(held.shardId));
      await this.release(held.shardId);
    }
  }
}

/** Waits for `promise`, but no longer than `ms`. */
async function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let handle: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    handle = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(handle);
  }
}
