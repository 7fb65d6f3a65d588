/**
 * The coordinator's decisions as pure functions of one snapshot (the stream's shards, the lease rows,
 * the time): which shards may be processed, the fair share, what to take and whom to steal from. Kept
 * free of I/O so that the fairness rules are tested without a table.
 */
import type { Lease } from '../core/lease-row';
import { leaseIsLive } from '../core/rules';
import { SHARD_END } from '../core/sequence-number';
import type { StreamShard } from '../store/kinesis-shard-source';

export interface BalanceInput {
  readonly workerId: string;
  readonly shards: readonly StreamShard[];
  readonly rows: readonly Lease[];
  /** Client time; the server decides every take, so a skewed clock costs a refused request, no more. */
  readonly nowMs: number;
}

export interface BalancePlan {
  /** Shards that may be processed now: not ended, and every parent done. */
  readonly eligible: readonly string[];
  /** Live workers (owners of unexpired leases on eligible shards) and this worker. */
  readonly workers: ReadonlyMap<string, readonly string[]>;
  /** ceil(eligible ÷ live workers). */
  readonly share: number;
  /** Eligible shards without a live owner, those this worker claimed first, then by shard id. */
  readonly free: readonly string[];
  /** A shard to claim from the most loaded worker, when this worker is below its share. */
  readonly steal?: { readonly shardId: string; readonly victim: string };
}

export function parentIds(shard: StreamShard): string[] {
  return [shard.parentShardId, shard.adjacentParentShardId].filter((id): id is string => !!id);
}

export function isLive(row: Lease | undefined, nowMs: number): boolean {
  return row !== undefined && leaseIsLive(row, nowMs);
}

/**
 * A shard is finished when its row says SHARD_END, or when it has no row but a child has one: children
 * start only after their parents end, and the reaper removes an ended row only once its children have
 * rows, so a closed shard without a row but with a started child was read to its end and reaped.
 */
function finishedShards(shards: readonly StreamShard[], rows: ReadonlyMap<string, Lease>): Set<string> {
  const finished = new Set<string>();
  for (const [shardId, row] of rows) if (row.checkpoint === SHARD_END) finished.add(shardId);
  for (const child of shards) {
    if (!rows.has(child.shardId)) continue;
    for (const parentId of parentIds(child)) if (!rows.has(parentId)) finished.add(parentId);
  }
  return finished;
}

/** A parent is done when finished, or when Kinesis no longer lists it (trimmed away with its data). */
const parentsDone = (shard: StreamShard, finished: ReadonlySet<string>, listed: ReadonlySet<string>) =>
  parentIds(shard).every((parentId) => finished.has(parentId) || !listed.has(parentId));

export function planBalance(input: BalanceInput): BalancePlan {
  const rows = new Map(input.rows.map((row) => [row.shardId, row]));
  const listed = new Set(input.shards.map((shard) => shard.shardId));
  const finished = finishedShards(input.shards, rows);
  const eligible = input.shards
    .filter((shard) => !finished.has(shard.shardId))
    .filter((shard) => parentsDone(shard, finished, listed))
    .map((shard) => shard.shardId)
    .sort();

  const workers = new Map<string, string[]>([[input.workerId, []]]);
  const free: string[] = [];
  for (const shardId of eligible) {
    const row = rows.get(shardId);
    if (row?.owner && isLive(row, input.nowMs)) {
      const held = workers.get(row.owner) ?? [];
      held.push(shardId);
      workers.set(row.owner, held);
    } else {
      free.push(shardId);
    }
  }
  const share = Math.ceil(eligible.length / workers.size);
  const claimedByMe = (id: string) => rows.get(id)?.claimRequest === input.workerId;
  // Mine first (they were handed over to this worker); then shards nobody has claimed.
  const claimRank = (id: string) => (claimedByMe(id) ? 0 : rows.get(id)?.claimRequest ? 2 : 1);
  free.sort((a, b) => claimRank(a) - claimRank(b) || a.localeCompare(b));

  const plan = { eligible, workers, share, free };
  // Free shards come first: steal only when they cannot fill the share.
  const mine = (workers.get(input.workerId)?.length ?? 0) + free.length;
  if (mine >= share) return plan;
  // Steal only from a worker holding at least two more than this one will: afterwards the victim still
  // holds at least as many as the thief, so no two workers trade a shard back and forth, and each steal
  // lowers the sum of squared loads, so stealing stops (at loads that differ by at most one).
  const victims = [...workers.entries()]
    .filter(([id, held]) => id !== input.workerId && held.length >= mine + 2)
    .sort(([a, x], [b, y]) => y.length - x.length || a.localeCompare(b));
  for (const [victim, held] of victims) {
    const shardId = held.find((id) => !rows.get(id)?.claimRequest);
    if (shardId) return { ...plan, steal: { shardId, victim } };
  }
  return plan;
}
