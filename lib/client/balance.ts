/**
 * The coordinator's decisions as pure functions of one snapshot (the stream's shards, the lease rows,
 * the time): which shards may be processed, the fair share, what to take and whom to steal from. Kept
 * free of I/O so that the fairness rules are tested without a table.
 */

import { eligibleShards, parentIds } from '../core/eligibility';
import type { Lease } from '../core/lease-row';
import { leaseIsLive } from '../core/rules';
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

export { parentIds };

export function isLive(row: Lease | undefined, nowMs: number): boolean {
  return row !== undefined && leaseIsLive(row, nowMs);
}

export function planBalance(input: BalanceInput): BalancePlan {
  const rows = new Map(input.rows.map((row) => [row.shardId, row]));
  const eligible = eligibleShards(input.shards, rows);

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
