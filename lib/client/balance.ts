/**
 * The coordinator's decisions as pure functions of one snapshot (the stream's shards, the lease rows,
 * the time): which shards may be processed, the fair share, what to take and whom to steal from. Kept
 * free of I/O so that the fairness rules are tested without a table.
 */

import { evaluateCondition } from '../core/condition';
import { eligibleShards, parentIds } from '../core/eligibility';
import { freeSince, parentsEndedAt } from '../core/fleet-plan';
import { type Lease, toRow } from '../core/lease-row';
import { claimIsFresh, type LeaseTerms, leaseIsLive, ruleTimes } from '../core/rules';
import type { StreamShard } from '../store/kinesis-shard-source';

export interface BalanceInput {
  readonly workerId: string;
  readonly shards: readonly StreamShard[];
  readonly rows: readonly Lease[];
  /** Client time; the server decides every take, so a skewed clock costs a refused request, no more. */
  readonly nowMs: number;
  /**
   * A free shard that stayed free this long is taken by whoever sees it, beyond its share: the worker
   * whose share it was has had its listing by then and did not act. @default never
   */
  readonly overdueAfterMs?: number;
  /** The service's terms, to tell a claim that still reserves a free shard for its claimer. */
  readonly terms?: LeaseTerms;
  /** When this worker first saw a shard free, for a shard whose row cannot tell (none yet, say). */
  readonly firstSeenFreeMs?: ReadonlyMap<string, number>;
  /**
   * The shards this worker holds. A live lease under its worker id that it does not hold is an orphan
   * of an earlier process with the same id (a restarted container, the next invocation of a Lambda
   * slot): it is this worker's to take again at once, without waiting for it to expire.
   */
  readonly held?: ReadonlySet<string>;
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
  /** Free shards nobody took in time and nobody's claim reserves: take them whatever the share. */
  readonly overdue: readonly string[];
  /** Live leases under this worker's id that it does not hold: an earlier process's. Take them now. */
  readonly orphans: readonly string[];
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
  const orphans: string[] = [];
  for (const shardId of eligible) {
    const row = rows.get(shardId);
    if (row?.owner === input.workerId && isLive(row, input.nowMs) && input.held && !input.held.has(shardId)) {
      orphans.push(shardId);
    }
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

  const overdue: string[] = [];
  const after = input.overdueAfterMs;
  if (after !== undefined && after > 0) {
    const t = ruleTimes(input.nowMs, input.terms ?? { leaseDurationMs: 0, claimTimeoutMs: 0 });
    for (const shardId of free) {
      const row = rows.get(shardId);
      const reserved =
        row?.claimRequest !== undefined &&
        row.claimRequest !== input.workerId &&
        input.terms !== undefined &&
        evaluateCondition(claimIsFresh(t), toRow(row));
      if (reserved) continue;
      const lineage = row ?? input.shards.find((shard) => shard.shardId === shardId);
      const parentsEnded = parentsEndedAt(lineage, rows);
      // Without a row, nobody ever took it: free since its parents ended, or since first seen.
      const known =
        !row && Number.isFinite(parentsEnded) ? parentsEnded : input.firstSeenFreeMs?.get(shardId);
      const since = freeSince(row, known, parentsEnded, input.nowMs);
      if (input.nowMs - since >= after) overdue.push(shardId);
    }
  }
  const plan = { eligible, workers, share, free, overdue, orphans };
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
