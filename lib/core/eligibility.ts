/**
 * Which shards may be processed now: not finished, and every parent done (parents before children).
 * One rule for the coordinator's own listing and for the service's fleet plan.
 */
import type { Lease } from './lease-row';
import { SHARD_END } from './sequence-number';

/** A shard and its parents, as Kinesis lists it (or as discovery recorded it in its row). */
export interface ShardLineage {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
}

export function parentIds(shard: ShardLineage): string[] {
  return [shard.parentShardId, shard.adjacentParentShardId].filter((id): id is string => !!id);
}

/**
 * A shard is finished when its row says SHARD_END, or when it has no row but a child has one: children
 * start only after their parents end, and the reaper removes an ended row only once its children have
 * rows, so a closed shard without a row but with a started child was read to its end and reaped.
 */
function finishedShards(shards: readonly ShardLineage[], rows: ReadonlyMap<string, Lease>): Set<string> {
  const finished = new Set<string>();
  for (const [shardId, row] of rows) if (row.checkpoint === SHARD_END) finished.add(shardId);
  for (const child of shards) {
    if (!rows.has(child.shardId)) continue;
    for (const parentId of parentIds(child)) if (!rows.has(parentId)) finished.add(parentId);
  }
  return finished;
}

/**
 * The shards that may be processed now, sorted: not finished, and every parent finished or no longer
 * listed (trimmed away with its data).
 */
export function eligibleShards(shards: readonly ShardLineage[], rows: ReadonlyMap<string, Lease>): string[] {
  const listed = new Set(shards.map((shard) => shard.shardId));
  const finished = finishedShards(shards, rows);
  return shards
    .filter((shard) => !finished.has(shard.shardId))
    .filter((shard) => parentIds(shard).every((parentId) => finished.has(parentId) || !listed.has(parentId)))
    .map((shard) => shard.shardId)
    .sort();
}
