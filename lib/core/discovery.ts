/**
 * Shard discovery, server-side: the scheduled pass lists the stream and creates the row of every shard
 * that has none, with its parents, so that workers never call ListShards and the fleet plan sees the
 * whole lineage. A row is only ever created, never overwritten: the condition is that it does not
 * exist, so a take racing discovery wins and discovery's write is a no-op.
 */
import { missing } from './condition';
import { parentIds, type ShardLineage } from './eligibility';
import { Attr, type AttrName } from './lease-row';
import type { RowWrite, RuleTimes, UpdateValue } from './rules';

/**
 * The listed shards that need a row: those without one, except a parent one of whose children has a
 * row. Such a parent was read to its end and its row retired (the reaper deletes an ended row only once
 * its children have rows); creating it again would have it read again from the start.
 */
export function shardsToDiscover<T extends ShardLineage>(
  listed: readonly T[],
  rowIds: ReadonlySet<string>,
): T[] {
  const retired = new Set<string>();
  for (const shard of listed) {
    if (!rowIds.has(shard.shardId)) continue;
    for (const parentId of parentIds(shard)) retired.add(parentId);
  }
  return listed.filter((shard) => !rowIds.has(shard.shardId) && !retired.has(shard.shardId));
}

/** Creates the shard's row, with its parents and the discovery time; nothing when the row exists. */
export function discoveryWrite(shard: ShardLineage, t: RuleTimes): Pick<RowWrite, 'condition' | 'update'> {
  const set: Array<readonly [AttrName, UpdateValue]> = [[Attr.DiscoveredAt, { kind: 'set', value: t.now }]];
  if (shard.parentShardId) set.push([Attr.ParentShardId, { kind: 'set', value: shard.parentShardId }]);
  if (shard.adjacentParentShardId) {
    set.push([Attr.AdjacentParentShardId, { kind: 'set', value: shard.adjacentParentShardId }]);
  }
  return { condition: missing(Attr.ShardId), update: { set, remove: [] } };
}
