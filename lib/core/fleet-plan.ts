/**
 * The service's plan for the whole fleet, as a pure function of one snapshot (the shard rows, the
 * workers heard from, the time): which shards each worker should take now and from whom it should
 * steal. Every service instance computes it from its own snapshot, so instances with the same snapshot
 * hand out the same plan; a stale plan costs a refused conditional take, never safety.
 *
 * Fairness: with E eligible shards and W live workers, every worker's target is floor(E/W) or
 * ceil(E/W) (capped by a capacity it declares), the larger targets going to the workers already
 * holding more, so that a settled fleet moves nothing. Free shards go to workers below target,
 * round-robin in worker order, a shard claimed by a live worker to its claimer first. Once no free
 * shard is left, workers below target steal, one shard per turn round-robin, each from the worker most
 * above its target, until every deficit or every surplus is gone: a newcomer gets its whole share in
 * one handover instead of one shard per period.
 */
import { eligibleShards, type ShardLineage } from './eligibility';
import type { Lease } from './lease-row';
import { leaseIsLive } from './rules';

/** A worker the service has heard from. */
export interface WorkerBeat {
  readonly workerId: string;
  /** Service time of its last heartbeat seen in the table. */
  readonly lastSeenMs: number;
  /** When it joined (or came back after being gone): it is planned for from `joinDelayMs` later on. */
  readonly firstSeenMs?: number;
  /** The most leases it wants to hold. */
  readonly capacity?: number;
}

export interface FleetSnapshot {
  /** Service time the rows were read. */
  readonly takenAtMs: number;
  /** Shard rows, with their lineage (discovery records the parents). */
  readonly leases: readonly Lease[];
  readonly workers: readonly WorkerBeat[];
}

export interface Steal {
  readonly shardId: string;
  readonly victim: string;
}

export interface FleetAssignment {
  readonly eligible: readonly string[];
  /** Live workers: heard from lately, or holding a live lease (e.g. a vmware-go-kcl-v2 worker). */
  readonly workers: readonly string[];
  readonly targets: ReadonlyMap<string, number>;
  /** Eligible shards with a live owner, by owner. */
  readonly holdings: ReadonlyMap<string, readonly string[]>;
  /** Free shards to take now, by worker. */
  readonly takes: ReadonlyMap<string, readonly string[]>;
  /** Shards to claim, for a worker below target when no free shard is left for it. */
  readonly steals: ReadonlyMap<string, readonly Steal[]>;
}

export interface AssignOptions {
  readonly nowMs: number;
  /** A worker not heard from for this long is gone. */
  readonly workerTtlMs: number;
  /**
   * A worker heard of for less than this is counted in everyone's targets but given nothing yet:
   * workers that start together are then planned together, instead of the first one heard of taking
   * the whole stream. @default 0
   */
  readonly joinDelayMs?: number;
}

const lineageOf = (lease: Lease): ShardLineage => ({
  shardId: lease.shardId,
  ...(lease.parentShardId !== undefined && { parentShardId: lease.parentShardId }),
  ...(lease.adjacentParentShardId !== undefined && { adjacentParentShardId: lease.adjacentParentShardId }),
});

export function assignFleet(snapshot: FleetSnapshot, options: AssignOptions): FleetAssignment {
  const rows = new Map(snapshot.leases.map((lease) => [lease.shardId, lease]));
  const eligible = eligibleShards(snapshot.leases.map(lineageOf), rows);
  const live = (lease: Lease | undefined) => lease?.owner !== undefined && leaseIsLive(lease, options.nowMs);

  const capacity = new Map<string, number>();
  const holdings = new Map<string, string[]>();
  const joining = new Set<string>();
  for (const beat of snapshot.workers) {
    if (beat.lastSeenMs < options.nowMs - options.workerTtlMs) continue;
    holdings.set(beat.workerId, []);
    if (beat.capacity !== undefined) capacity.set(beat.workerId, beat.capacity);
    if ((beat.firstSeenMs ?? 0) > options.nowMs - (options.joinDelayMs ?? 0)) joining.add(beat.workerId);
  }
  const free: string[] = [];
  for (const shardId of eligible) {
    const lease = rows.get(shardId);
    if (lease?.owner !== undefined && live(lease)) {
      const held = holdings.get(lease.owner) ?? [];
      held.push(shardId);
      holdings.set(lease.owner, held);
    } else {
      free.push(shardId);
    }
  }
  const workers = [...holdings.keys()].sort();
  const load = (workerId: string) => holdings.get(workerId)?.length ?? 0;
  const targets = fairTargets(eligible.length, workers, load, capacity);

  const takes = new Map<string, string[]>();
  // A joining worker counts in the targets but gets nothing until its join delay has passed.
  const deficit = new Map(workers.map((w) => [w, joining.has(w) ? 0 : (targets.get(w) ?? 0) - load(w)]));
  const give = (workerId: string, shardId: string) => {
    const list = takes.get(workerId) ?? [];
    list.push(shardId);
    takes.set(workerId, list);
    deficit.set(workerId, (deficit.get(workerId) ?? 0) - 1);
  };
  // A shard handed over to its claimer goes to the claimer; the rest round-robin.
  const unclaimed: string[] = [];
  for (const shardId of free) {
    const claimer = rows.get(shardId)?.claimRequest;
    if (claimer !== undefined && (deficit.get(claimer) ?? 0) > 0) give(claimer, shardId);
    else unclaimed.push(shardId);
  }
  const hungry = () => workers.filter((w) => (deficit.get(w) ?? 0) > 0);
  let queue = hungry();
  let turn = 0;
  for (const shardId of unclaimed) {
    if (queue.length === 0) break;
    const workerId = queue[turn % queue.length] as string;
    give(workerId, shardId);
    turn++;
    if ((deficit.get(workerId) ?? 0) <= 0) {
      queue = hungry();
      turn = 0;
    }
  }

  // No free shard left for some: they steal, one shard per turn round-robin, each from the worker most
  // above its target, of shards nobody has claimed yet. A victim gives at most its surplus.
  const steals = new Map<string, Steal[]>();
  const surplus = new Map(workers.map((w) => [w, load(w) - (targets.get(w) ?? 0)]));
  const claimed = new Set(eligible.filter((id) => rows.get(id)?.claimRequest !== undefined));
  const victims = workers.filter((w) => (surplus.get(w) ?? 0) > 0);
  let thieves = hungry();
  while (thieves.length > 0 && victims.length > 0) {
    for (const thief of thieves) {
      victims.sort((a, b) => (surplus.get(b) ?? 0) - (surplus.get(a) ?? 0) || a.localeCompare(b));
      const victim = victims.find((w) => w !== thief && (surplus.get(w) ?? 0) > 0);
      const shardId = victim && holdings.get(victim)?.find((id) => !claimed.has(id));
      if (!victim || shardId === undefined) {
        deficit.set(thief, 0);
        continue;
      }
      claimed.add(shardId);
      surplus.set(victim, (surplus.get(victim) ?? 0) - 1);
      deficit.set(thief, (deficit.get(thief) ?? 0) - 1);
      steals.set(thief, [...(steals.get(thief) ?? []), { shardId, victim }]);
    }
    thieves = hungry();
    if (!victims.some((w) => (surplus.get(w) ?? 0) > 0)) break;
  }
  return { eligible, workers, targets, holdings, takes, steals };
}

/**
 * floor(E/W) or ceil(E/W) each, capped by capacity, the larger ones to the workers holding more (then
 * by id): water-filling, so that a capped worker's remainder goes to the others.
 */
function fairTargets(
  eligible: number,
  workers: readonly string[],
  load: (workerId: string) => number,
  capacity: ReadonlyMap<string, number>,
): Map<string, number> {
  const targets = new Map<string, number>();
  let remaining = eligible;
  let open = [...workers];
  // Capped workers first take what they can; the rest share what is left.
  for (;;) {
    if (open.length === 0) break;
    const even = remaining / open.length;
    const capped = open.filter((w) => (capacity.get(w) ?? Number.POSITIVE_INFINITY) < Math.ceil(even));
    if (capped.length === 0) break;
    for (const w of capped) {
      const cap = capacity.get(w) ?? 0;
      targets.set(w, cap);
      remaining -= cap;
    }
    open = open.filter((w) => !capped.includes(w));
  }
  if (open.length === 0) return targets;
  const base = Math.floor(remaining / open.length);
  const extra = remaining - base * open.length;
  const byLoad = [...open].sort((a, b) => load(b) - load(a) || a.localeCompare(b));
  for (const [i, w] of byLoad.entries()) targets.set(w, base + (i < extra ? 1 : 0));
  return targets;
}

export interface WorkerPlan {
  /** Shards to take now (free, eligible, parents before children). */
  readonly take: readonly string[];
  /** Shards to claim from overloaded workers. */
  readonly steals: readonly Steal[];
  /** How many leases this worker should hold. */
  readonly target: number;
}

/** One worker's part of the fleet plan, leaving out what it already holds. */
export function planForWorker(
  assignment: FleetAssignment,
  workerId: string,
  held: ReadonlySet<string>,
): WorkerPlan {
  return {
    take: (assignment.takes.get(workerId) ?? []).filter((id) => !held.has(id)),
    steals: (assignment.steals.get(workerId) ?? []).filter((steal) => !held.has(steal.shardId)),
    target: assignment.targets.get(workerId) ?? 0,
  };
}
