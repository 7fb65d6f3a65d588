/**
 * A Kinesis consumer that runs as Lambda invocations instead of a long-lived process. Each invocation
 * joins the fleet as one worker (heartbeats through the lease service), reads its share of the shards
 * from their checkpoints, hands each batch to the application and checkpoints after it, stops a safety
 * margin before its time runs out, and releases every lease before it returns a summary.
 *
 * - Worker ids are stable per concurrent slot (`<functionName>-<slot>`, the slot coming from the
 *   scheduled event): the next invocation of a slot is the same worker to the service, so it is not
 *   "joining" again (no join delay) and its share stays reserved for it between invocations; a random id
 *   per invocation would leave each finished invocation counted as a live worker for 1.5 lease periods,
 *   halving everyone's share. Two invocations of one slot must never overlap: the construct keeps the
 *   function timeout below the schedule period and turns off asynchronous retries.
 * - A crashed or timed-out invocation leaves its leases to expire: its shards are taken again within
 *   one lease period of their expiry by another slot that is running.
 * - The lease terms come from the service: the handler needs no lease duration of its own.
 * - Reading honours the per-shard GetRecords limit (5 calls/s), backs off on throttling and resumes
 *   from the last checkpoint when its iterator expires.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import {
  type _Record,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Checkpointer } from '../core/checkpointer';
import { ErrorCode, ShardLeaseError } from '../core/errors';
import { SHARD_END } from '../core/sequence-number';
import { type CoordinatorLogger, LeaseCoordinator, type ShardLease, type StopResult } from './coordinator';
import { pause } from './shard-processor';

/** The part of the Lambda context the handler uses (no `@types/aws-lambda` needed). */
export interface LambdaContextLike {
  readonly functionName: string;
  readonly awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

/** What the schedule sends each concurrent invocation (the construct's rule targets). */
export interface ShardConsumerEvent {
  /** Which of the concurrent invocations this is: part of the worker id. @default 0 */
  readonly slot?: number | string;
  /** How many run concurrently (informational). */
  readonly slots?: number;
}

/** Where a shard without a checkpoint is read from. LATEST is left out on purpose: see the README. */
export type InitialPosition = 'TRIM_HORIZON' | { readonly timestamp: Date };

export interface ShardReaderOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  /** Called with each non-empty batch, in order; the batch is checkpointed once this resolves. */
  readonly handleRecords: (records: readonly _Record[], lease: ShardLease) => Promise<void> | void;
  /** For a shard without a checkpoint. @default 'TRIM_HORIZON' */
  readonly initialPosition?: InitialPosition;
  /** GetRecords Limit (at most 10000). @default 1000 */
  readonly batchSize?: number;
  /** Pause when a read finds nothing new. @default 1000 */
  readonly idleDelayMs?: number;
  /** At least this long between two GetRecords on one shard: Kinesis allows 5 a second per shard. @default 200 */
  readonly minReadIntervalMs?: number;
  /** First wait after a throttled read, doubling (with jitter) up to `maxThrottleBackoffMs`. @default 250 */
  readonly throttleBackoffMs?: number;
  /** @default 5000 */
  readonly maxThrottleBackoffMs?: number;
}

/** How reading one shard ended: `ended` at SHARD_END; `stopped` told to; `lost` the lease went or a checkpoint failed. */
export type ShardReadOutcome = 'ended' | 'stopped' | 'lost';

/** Per-shard counts of one invocation. */
export interface ShardReadStats {
  records: number;
  batches: number;
  checkpoints: number;
  failedCheckpoints: number;
  processingErrors: number;
  throttled: number;
  expiredIterators: number;
  outcome?: ShardReadOutcome | 'failed';
}

const newStats = (): ShardReadStats => ({
  records: 0,
  batches: 0,
  checkpoints: 0,
  failedCheckpoints: 0,
  processingErrors: 0,
  throttled: 0,
  expiredIterators: 0,
});

const errorName = (error: unknown): string | undefined => (error instanceof Error ? error.name : undefined);

const THROTTLES = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
]);

/**
 * Reads one leased shard from its checkpoint until the shard ends (checkpointing SHARD_END so that its
 * children follow), the lease's signal aborts, or a checkpoint fails. Each batch is handed to the
 * application, then checkpointed; a batch read after the signal aborted is never handed over. The
 * application's error propagates (the coordinator then gives the lease back).
 */
export async function readShard(
  lease: ShardLease,
  options: ShardReaderOptions,
  stats: ShardReadStats = newStats(),
  onFirstRecord?: () => void,
): Promise<ShardReadOutcome> {
  const { kinesis, streamName, handleRecords } = options;
  const signal = lease.signal;
  if (lease.startingCheckpoint === SHARD_END) return 'ended';
  const minInterval = options.minReadIntervalMs ?? 200;
  const baseBackoff = options.throttleBackoffMs ?? 250;
  const maxBackoff = options.maxThrottleBackoffMs ?? 5000;
  /** The last checkpoint this reader knows of: where a new iterator starts. */
  let position = lease.startingCheckpoint;
  let throttles = 0;
  let lastReadAt = Number.NEGATIVE_INFINITY;

  const throttled = async () => {
    stats.throttled++;
    const ceiling = Math.min(maxBackoff, baseBackoff * 2 ** throttles++);
    await pause(ceiling / 2 + Math.random() * (ceiling / 2), signal);
  };

  const iteratorFrom = async (): Promise<string | undefined> => {
    const input = { StreamName: streamName, ShardId: lease.shardId };
    const initial = options.initialPosition ?? 'TRIM_HORIZON';
    const request: GetShardIteratorCommandInput =
      position !== undefined
        ? { ...input, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: position }
        : initial === 'TRIM_HORIZON'
          ? { ...input, ShardIteratorType: 'TRIM_HORIZON' }
          : { ...input, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: initial.timestamp };
    for (;;) {
      try {
        const out = await kinesis.send(new GetShardIteratorCommand(request), { abortSignal: signal });
        throttles = 0;
        return out.ShardIterator;
      } catch (error) {
        if (signal.aborted) return undefined;
        if (!THROTTLES.has(errorName(error) ?? '')) throw error;
        await throttled();
      }
    }
  };

  const checkpoint = async (sequenceNumber: string): Promise<boolean> => {
    try {
      await lease.checkpoint(sequenceNumber);
      stats.checkpoints++;
      position = sequenceNumber;
      return true;
    } catch {
      // Refused (the lease went) or unanswered: stop reading; the next reader resumes from the last
      // checkpoint that landed, so the batch is handed over again (the one case of a repeat).
      stats.failedCheckpoints++;
      return false;
    }
  };

  try {
    let iterator = await iteratorFrom();
    while (iterator !== undefined) {
      if (signal.aborted) return 'stopped';
      await pause(lastReadAt + minInterval - Date.now(), signal);
      if (signal.aborted) return 'stopped';
      lastReadAt = Date.now();
      let page: GetRecordsCommandOutput;
      try {
        page = await kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: options.batchSize ?? 1000 }),
          { abortSignal: signal },
        );
        throttles = 0;
      } catch (error) {
        if (signal.aborted) return 'stopped';
        const name = errorName(error) ?? '';
        if (THROTTLES.has(name)) {
          await throttled();
          continue;
        }
        if (name === 'ExpiredIteratorException') {
          stats.expiredIterators++;
          iterator = await iteratorFrom();
          continue;
        }
        throw error;
      }
      // Told to stop while the read was in flight: hand nothing over that cannot be checkpointed.
      if (signal.aborted) return 'stopped';
      const records = page.Records ?? [];
      const last = records.at(-1)?.SequenceNumber;
      if (last !== undefined) {
        if (stats.records === 0) onFirstRecord?.();
        stats.records += records.length;
        stats.batches++;
        try {
          await handleRecords(records, lease);
        } catch (error) {
          stats.processingErrors++;
          throw error;
        }
        if (!(await checkpoint(last))) return 'lost';
      }
      iterator = page.NextShardIterator ?? undefined;
      if (records.length === 0 && iterator !== undefined) {
        await pause(options.idleDelayMs ?? 1000, signal);
      }
    }
    if (signal.aborted) return 'stopped';
    // No next iterator: the shard is closed and every record has been read.
    return (await checkpoint(SHARD_END)) ? 'ended' : 'lost';
  } catch (error) {
    if (error instanceof ShardLeaseError && error.code === ErrorCode.LeaseLost) return 'lost';
    throw error;
  }
}

export interface ShardConsumerHandlerOptions extends ShardReaderOptions {
  /** The lease service: a `ShardLeaseClient` on the stack's `ApiUrl`. */
  readonly checkpointer: Checkpointer;
  /**
   * The service states its lease duration: leave this unset. When set, it must equal the service's
   * LEASE_DURATION_MS, or the invocation fails at its start naming both values. An invocation should
   * run for several lease periods.
   */
  readonly leaseDurationMs?: number;
  /** @default `${context.functionName}-${event.slot ?? 0}` (stable per concurrent slot) */
  readonly workerId?: (event: ShardConsumerEvent, context: LambdaContextLike) => string;
  /**
   * Stop reading this long before the invocation's time runs out: room for the batch in flight, its
   * checkpoint and the releases. The coordinator's stop is bounded by it (less 1 s, at least three quarters of it).
   * @default 5000
   */
  readonly safetyMarginMs?: number;
  /** Hold at most this many leases per invocation. @default unlimited (the fair share) */
  readonly maxLeases?: number;
  /** Throw (after releasing everything) when the application failed on a batch, so Lambda counts an error. @default true */
  readonly failOnProcessingError?: boolean;
  /** @default a Powertools Logger (service `shardlease-consumer`) */
  readonly logger?: CoordinatorLogger;
}

/** What one invocation did. */
export interface ShardConsumerSummary {
  readonly workerId: string;
  /** Per shard read in this invocation. */
  readonly shards: Readonly<Record<string, ShardReadStats>>;
  readonly records: number;
  readonly checkpoints: number;
  readonly failedCheckpoints: number;
  readonly processingErrors: number;
  /** Leases the service granted this invocation (one granted while it stopped included). */
  readonly leasesTaken: number;
  /** Leases given back to the service (at the end, at SHARD_END, after a failure). */
  readonly leasesReleased: number;
  /**
   * Shards whose lease this invocation took and neither released nor saw taken by another worker: they
   * expire within a lease period. Empty unless the stop ran out of time or the service did not answer.
   */
  readonly leasesNotReleased: readonly string[];
  /** From the handler's start to the first record handed to the application. */
  readonly firstRecordAfterMs?: number;
  readonly durationMs: number;
}

export type ShardConsumerHandler = (
  event: ShardConsumerEvent | undefined,
  context: LambdaContextLike,
) => Promise<ShardConsumerSummary>;

/** Thrown by the handler, after every lease was released, when the application failed on a batch. */
export class ShardConsumerError extends Error {
  readonly summary: ShardConsumerSummary;
  constructor(summary: ShardConsumerSummary) {
    super(`the application failed on ${summary.processingErrors} batch(es); the leases were released`);
    this.name = 'ShardConsumerError';
    this.summary = summary;
  }
}

const SLOT = /^[a-zA-Z0-9_.-]{1,64}$/;

function defaultWorkerId(event: ShardConsumerEvent, context: LambdaContextLike): string {
  const slot = String(event.slot ?? 0);
  if (!SLOT.test(slot)) throw new Error(`event.slot must match ${SLOT}, got ${JSON.stringify(event.slot)}`);
  return `${context.functionName}-${slot}`;
}

/**
 * A Lambda handler that, within one invocation, consumes its share of the stream through the lease
 * service and returns with no lease held. Run several concurrently (one `slot` each) on a schedule:
 * `ShardLeaseConsumer` in `shardlease/cdk` does that.
 */
export function createShardConsumerHandler(options: ShardConsumerHandlerOptions): ShardConsumerHandler {
  const margin = options.safetyMarginMs ?? 5000;
  if (!(margin > 0)) throw new Error(`safetyMarginMs must be positive, got ${margin}`);
  if (options.leaseDurationMs !== undefined && !(options.leaseDurationMs > 0))
    throw new Error(`leaseDurationMs must be positive, got ${options.leaseDurationMs}`);
  const logger = options.logger ?? new Logger({ serviceName: 'shardlease-consumer' });
  const workerIdOf = options.workerId ?? defaultWorkerId;

  return async (event, context) => {
    const started = Date.now();
    const runMs = context.getRemainingTimeInMillis() - margin;
    const workerId = workerIdOf(event ?? {}, context);
    const shards: Record<string, ShardReadStats> = {};
    let firstRecordAfterMs: number | undefined;

    const coordinator = new LeaseCoordinator({
      checkpointer: options.checkpointer,
      workerId,
      ...(options.leaseDurationMs !== undefined && { leaseDurationMs: options.leaseDurationMs }),
      stopTimeoutMs: Math.max(0.75 * margin, margin - 1000),
      logger,
      ...(options.maxLeases !== undefined && { maxLeases: options.maxLeases }),
      onLeaseGained: async (lease) => {
        shards[lease.shardId] ??= newStats();
        const stats = shards[lease.shardId] as ShardReadStats;
        try {
          stats.outcome = await readShard(lease, options, stats, () => {
            firstRecordAfterMs ??= Date.now() - started;
          });
        } catch (error) {
          stats.outcome = 'failed';
          logger.error('shard reading failed', { workerId, shardId: lease.shardId, error });
          throw error;
        }
      },
    });

    let stop: StopResult | undefined;
    try {
      if (runMs > 0) {
        await coordinator.start();
        const leaseDurationMs = coordinator.leaseTerms?.leaseDurationMs;
        // Joining costs a renewal period, planning another: less than a lease reads little or nothing.
        if (leaseDurationMs !== undefined && runMs < leaseDurationMs) {
          logger.warn('invocation budget is short for the lease duration', {
            workerId,
            runMs,
            leaseDurationMs,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + runMs - Date.now())));
      }
    } finally {
      // The coordinator knows what it took and gave back, a lease granted while stopping included.
      stop = await coordinator.stop({ release: true });
    }
    const all = Object.values(shards);
    const sum = (key: 'records' | 'checkpoints' | 'failedCheckpoints' | 'processingErrors') =>
      all.reduce((total, stats) => total + stats[key], 0);
    const summary: ShardConsumerSummary = {
      workerId,
      shards,
      records: sum('records'),
      checkpoints: sum('checkpoints'),
      failedCheckpoints: sum('failedCheckpoints'),
      processingErrors: sum('processingErrors'),
      leasesTaken: stop.leasesTaken,
      leasesReleased: stop.leasesReleased,
      leasesNotReleased: stop.leasesNotReleased,
      ...(firstRecordAfterMs !== undefined && { firstRecordAfterMs }),
      durationMs: Date.now() - started,
    };
    logger.info('invocation finished', { requestId: context.awsRequestId, ...summary });
    if (summary.processingErrors > 0 && (options.failOnProcessingError ?? true)) {
      throw new ShardConsumerError(summary);
    }
    return summary;
  };
}
