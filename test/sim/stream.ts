/**
 * A simulated Kinesis stream on virtual time: open shards grow by a record every `growthMs`, closed
 * shards hold a fixed number of records, and children list their parents as ListShards does (a split:
 * two children with the same ParentShardId; a merge: one child with ParentShardId and
 * AdjacentParentShardId). Sequence numbers grow in length along a shard (past 2^53, up to ~40 digits),
 * so anything comparing them as plain numbers or strings shows up.
 */
import type { Clock } from '../../lib/core/clock';
import type { ShardSource, StreamShard } from '../../lib/store/kinesis-shard-source';

export interface SimShardSpec {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
  readonly closed: boolean;
  /** Records at time 0 (all of them, for a closed shard). */
  readonly records: number;
}

export interface RecordBatch {
  /** Index of the first record of the batch; `to` is one past the last. */
  readonly from: number;
  readonly to: number;
  /** The sequence number of the last record, when the batch is not empty. */
  readonly lastSequenceNumber?: string;
}

/** The sequence number of record `index` (0-based): strictly increasing, and longer every 8 records. */
export function sequenceNumber(index: number): string {
  return (BigInt(index + 1) * 10n ** BigInt(Math.floor(index / 8))).toString();
}

/** How many records have a sequence number at or below `checkpoint` (none: 0). */
export function recordsThrough(checkpoint: string | undefined): number {
  if (checkpoint === undefined) return 0;
  const limit = BigInt(checkpoint);
  let lo = 0;
  let hi = 1;
  while (BigInt(sequenceNumber(hi - 1)) <= limit) hi *= 2;
  // Invariant: records [0, lo) are at or below the checkpoint; records from hi on are above it.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (BigInt(sequenceNumber(mid)) <= limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SimStream {
  private readonly specs: ReadonlyMap<string, SimShardSpec>;

  constructor(
    specs: readonly SimShardSpec[],
    private readonly clock: Clock,
    private readonly growthMs: number,
  ) {
    this.specs = new Map(specs.map((spec) => [spec.shardId, spec]));
  }

  shardIds(): string[] {
    return [...this.specs.keys()];
  }

  shards(): StreamShard[] {
    return [...this.specs.values()].map((spec) => ({
      shardId: spec.shardId,
      ...(spec.parentShardId !== undefined && { parentShardId: spec.parentShardId }),
      ...(spec.adjacentParentShardId !== undefined && { adjacentParentShardId: spec.adjacentParentShardId }),
      closed: spec.closed,
    }));
  }

  parentsOf(shardId: string): string[] {
    const spec = this.spec(shardId);
    return [spec.parentShardId, spec.adjacentParentShardId].filter((id): id is string => id !== undefined);
  }

  isClosed(shardId: string): boolean {
    return this.spec(shardId).closed;
  }

  /** Records readable now. */
  recordCount(shardId: string): number {
    const spec = this.spec(shardId);
    return spec.closed ? spec.records : spec.records + Math.floor(this.clock.now() / this.growthMs);
  }

  /** Up to `max` records from index `from`. */
  read(shardId: string, from: number, max: number): RecordBatch {
    const to = Math.min(this.recordCount(shardId), from + max);
    if (to <= from) return { from, to: from };
    return { from, to, lastSequenceNumber: sequenceNumber(to - 1) };
  }

  private spec(shardId: string): SimShardSpec {
    const spec = this.specs.get(shardId);
    if (!spec) throw new Error(`the simulated stream has no shard ${shardId}`);
    return spec;
  }
}

/** ListShards over the simulated stream (faults, when wanted, come from the caller's network). */
export class SimShardSource implements ShardSource {
  constructor(private readonly stream: SimStream) {}

  async listShards(): Promise<readonly StreamShard[]> {
    return this.stream.shards();
  }
}
