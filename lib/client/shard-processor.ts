/**
 * Reads one leased shard from its checkpoint to its end (or until the lease goes), hands each batch to
 * the application and checkpoints after it; at the end of a closed shard it checkpoints SHARD_END, which
 * lets the children start. The example consumer and the end-to-end test run this same loop.
 */
import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { ErrorCode, ShardLeaseError } from '../core/errors';
import { SHARD_END } from '../core/sequence-number';
import type { ShardLease } from './coordinator';

export interface ShardProcessorOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  /** Called with each non-empty batch, in order; the batch is checkpointed once this resolves. */
  readonly handleRecords: (records: readonly _Record[], lease: ShardLease) => Promise<void> | void;
  /** GetRecords Limit. @default 1000 */
  readonly batchSize?: number;
  /** Pause when a read finds nothing new (GetRecords allows 5 calls/s per shard). @default 1000 */
  readonly idleDelayMs?: number;
}

export type ShardOutcome = 'ended' | 'stopped' | 'lost';

/** Processes `lease` until the shard ends (`ended`), the lease's signal aborts (`stopped`), or a checkpoint is refused (`lost`). */
export async function processShard(lease: ShardLease, options: ShardProcessorOptions): Promise<ShardOutcome> {
  const { kinesis, streamName } = options;
  const start: GetShardIteratorCommandInput = lease.startingCheckpoint
    ? {
        StreamName: streamName,
        ShardId: lease.shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: lease.startingCheckpoint,
      }
    : { StreamName: streamName, ShardId: lease.shardId, ShardIteratorType: 'TRIM_HORIZON' };
  if (lease.startingCheckpoint === SHARD_END) return 'ended';
  let iterator = (await kinesis.send(new GetShardIteratorCommand(start))).ShardIterator;
  try {
    while (iterator !== undefined) {
      if (lease.signal.aborted) return 'stopped';
      const page = await kinesis.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: options.batchSize ?? 1000 }),
      );
      const records = page.Records ?? [];
      const last = records.at(-1)?.SequenceNumber;
      if (last !== undefined) {
        await options.handleRecords(records, lease);
        await lease.checkpoint(last);
      }
      iterator = page.NextShardIterator ?? undefined;
      if (records.length === 0 && iterator !== undefined) {
        await pause(options.idleDelayMs ?? 1000, lease.signal);
      }
    }
    // No next iterator: the shard is closed and every record has been read.
    await lease.checkpoint(SHARD_END);
    return 'ended';
  } catch (error) {
    if (error instanceof ShardLeaseError && error.code === ErrorCode.LeaseLost) return 'lost';
    throw error;
  }
}

/** Waits `ms` (nothing when not positive), or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(handle);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const handle = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
