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
 *
 * Liveness: a plan is advice to workers that may be slow, dying or stopping, so it never waits on one.
 * - A worker whose leases lapsed unrenewed (a row still names it as the owner of an expired lease, or
 *   the view remembers one) and that has not been heard from since is held at the leases it still has:
 *   its share goes to the others, and nothing new is planned for it.
 * - A free shard that nobody took within `overdueAfterMs` of becoming free is offered, beside its
 *   plan, to more workers with room (whatever their target): a few of the least loaded at first, twice
 *   as many every further period. Takes are conditional, so the first to act gets it; the others are
 *   refused and lose nothing but the request.
 */
import { eligibleShards, type ShardLineage } from './eligibility';
import type { Lease } from './lease-row';
import { parseLeaseTime } from './lease-time';
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
  /** When it said it was stopping: gone from the plan unless heard from since. */
  readonly leftAtMs?: number;
}

export interface FleetSnapshot {
  /** Service time the rows were read. */
  readonly takenAtMs: number;
  /** Shard rows, with their lineage (discovery records the parents). */
  readonly leases: readonly Lease[];
  readonly workers: readonly WorkerBeat[];
  /**
   * When each shard without a live owner became free, where the caller knows better than the lease
   * (a row's discovery time, or when a view first saw it free). A lease's own expiry or release time
   * counts too.
   */
  readonly freeSinceMs?: ReadonlyMap<string, number>;
  /** Lapses remembered from earlier snapshots: worker id → the latest expiry of a lease it let lapse. */
  readonly lapsedAtMs?: ReadonlyMap<string, number>;
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
  /**
   * Free shards that may go untaken, by worker: each is offered to a worker, beside its plan, once it
   * has been free for `overdueAfterMs` and the worker's rank is within the period's fan-out.
   */
  readonly overdue: ReadonlyMap<string, readonly OverdueOffer[]>;
  /** Workers held at what they have: their leases lapsed and they have not been heard from since. */
  readonly lapsed: readonly string[];
  /** Workers counted in the targets but planned for nothing yet (joining). */
  readonly joining: readonly string[];
  /** The lapses seen, for the next snapshot to remember. */
  readonly lapsedAtMs: ReadonlyMap<string, number>;
}

/** A free shard this worker is offered if it stays free long enough (see planForWorker). */
export interface OverdueOffer {
  readonly shardId: string;
  /** Since when the shard has been free with some worker able to take it. */
  readonly freeSinceMs: number;
  /** This worker's place in the shard's line: 0 is offered first. */
  readonly rank: number;
}

export interface AssignOptions {
  readonly nowMs: number;
  /** A worker not heard from for this long is gone. */
  readonly workerTtlMs: number;
  /**
   * A worker first heard of after this instant is counted in everyone's targets but given nothing yet:
   * workers that start together are then planned together, instead of the first one heard of taking
   * the whole stream. @default no one is joining
   */
  readonly joiningAfterMs?: number;
  /** A worker first heard of is planned for from this long after: no shard is overdue before. @default 0 */
  readonly joinDelayMs?: number;
  /**
   * The worker a free shard is reserved for (a fresh claim: only the claimer may take it), if any.
   * Such a shard is never offered to others. @default none is reserved
   */
  readonly reservedFor?: (lease: Lease) => string | undefined;
}

/** How many workers an overdue shard is offered to in its first overdue period (twice as many in each next one). */
export const DEFAULT_OVERDUE_FANOUT = 3;
/**
 * The longest line of workers an overdue shard keeps: the fan-out doubles twice at most (3, 6, 12), so
 * that a service too slow for its workers' plans does not turn every shard into a dozen refused takes
 * and slow itself down further.
 */
const MAX_OVERDUE_RANKS = 12;

const lineageOf = (lease: Lease): ShardLineage => ({
  shardId: lease.shardId,
  ...(lease.parentShardId !== undefined && { parentShardId: lease.parentShardId }),
  ...(lease.adjacentParentShardId !== undefined && { adjacentParentShardId: lease.adjacentParentShardId }),
});

export function assignFleet(snapshot: FleetSnapshot, options: AssignOptions): FleetAssignment {
  const now = options.nowMs;
  const rows = new Map(snapshot.leases.map((lease) => [lease.shardId, lease]));
  const eligible = eligibleShards(snapshot.leases.map(lineageOf), rows);
  const live = (lease: Lease | undefined) => lease?.owner !== undefined && leaseIsLive(lease, now);
  const lapsedAtMs = lapsesOf(snapshot, now);

  const capacity = new Map<string, number>();
  const holdings = new Map<string, string[]>();
  const joining = new Set<string>();
  const lapsed = new Set<string>();
  for (const beat of snapshot.workers) {
    if (beat.lastSeenMs < now - options.workerTtlMs || hasLeft(beat)) continue;
    holdings.set(beat.workerId, []);
    if (beat.capacity !== undefined) capacity.set(beat.workerId, beat.capacity);
    if (
      (beat.firstSeenMs ?? Number.NEGATIVE_INFINITY) > (options.joiningAfterMs ?? Number.POSITIVE_INFINITY)
    ) {
      joining.add(beat.workerId);
    }
    // Heard from only before its lapse: maybe dead, maybe cut off. Back once a heartbeat lands.
    const lapse = lapsedAtMs.get(beat.workerId);
    if (lapse !== undefined && beat.lastSeenMs <= lapse) lapsed.add(beat.workerId);
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
  // A lapsed worker keeps what it still holds and no more: its share goes to the others.
  for (const w of lapsed) capacity.set(w, Math.min(capacity.get(w) ?? Number.POSITIVE_INFINITY, load(w)));
  const targets = fairTargets(eligible.length, workers, load, capacity);

  const takes = new Map<string, string[]>();
  const plannedFor = new Map<string, string>();
  // Joining and lapsed workers count in the targets but are planned for nothing.
  const idle = (w: string) => joining.has(w) || lapsed.has(w);
  const deficit = new Map(workers.map((w) => [w, idle(w) ? 0 : (targets.get(w) ?? 0) - load(w)]));
  const give = (workerId: string, shardId: string) => {
    const list = takes.get(workerId) ?? [];
    list.push(shardId);
    takes.set(workerId, list);
    plannedFor.set(shardId, workerId);
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

  const overdue = lineUpOverdue({
    free,
    rows,
    snapshot,
    options,
    candidates: workers.filter((w) => !idle(w)),
    plannedFor,
    loadOf: (w) => load(w) + (takes.get(w)?.length ?? 0),
    capacityOf: (w) => capacity.get(w) ?? Number.POSITIVE_INFINITY,
  });
  return {
    eligible,
    workers,
    targets,
    holdings,
    takes,
    steals,
    overdue,
    lapsed: [...lapsed].sort(),
    joining: [...joining].sort(),
    lapsedAtMs,
  };
}

/** The worker said it was stopping, and has not been heard from since. */
export function hasLeft(beat: WorkerBeat): boolean {
  return beat.leftAtMs !== undefined && beat.leftAtMs >= beat.lastSeenMs;
}

/** Remembered lapses, and the ones this snapshot shows: rows naming an owner whose lease expired. */
function lapsesOf(snapshot: FleetSnapshot, nowMs: number): Map<string, number> {
  const lapses = new Map(snapshot.lapsedAtMs ?? []);
  for (const lease of snapshot.leases) {
    if (lease.owner === undefined || lease.leaseTimeout === undefined) continue;
    const expiry = parseLeaseTime(lease.leaseTimeout);
    if (expiry === undefined || expiry > nowMs) continue;
    lapses.set(lease.owner, Math.max(lapses.get(lease.owner) ?? Number.NEGATIVE_INFINITY, expiry));
  }
  return lapses;
}

/**
 * When a shard without a live owner became free to take: the end of its last lease (its expiry, or
 * the release, which writes the release instant), else what the caller knows (the row's discovery, or
 * when a view first saw it free), and never before its parents ended (a child waits for them).
 */
export function freeSince(
  lease: Lease | undefined,
  known: number | undefined,
  eligibleSinceMs: number,
  nowMs: number,
): number {
  const end = lease?.leaseTimeout === undefined ? undefined : parseLeaseTime(lease.leaseTimeout);
  // A timeout still ahead on a row nobody owns (a release that left it in place): the row cannot tell.
  const fromLease = end !== undefined && end <= nowMs ? end : undefined;
  return Math.max(fromLease ?? known ?? nowMs, eligibleSinceMs);
}

/** When a shard's parents ended (SHARD_END written), as far as their rows still tell. */
export function parentsEndedAt(lineage: ShardLineage | undefined, rows: ReadonlyMap<string, Lease>): number {
  let at = Number.NEGATIVE_INFINITY;
  if (!lineage) return at;
  for (const parentId of [lineage.parentShardId, lineage.adjacentParentShardId]) {
    const parent = parentId === undefined ? undefined : rows.get(parentId);
    const ended = parent?.checkpointedAt === undefined ? undefined : parseLeaseTime(parent.checkpointedAt);
    if (ended !== undefined) at = Math.max(at, ended);
  }
  return at;
}

interface OverdueInput {
  readonly free: readonly string[];
  readonly rows: ReadonlyMap<string, Lease>;
  readonly snapshot: FleetSnapshot;
  readonly options: AssignOptions;
  /** Workers that may be offered anything (not joining, not lapsed), sorted. */
  readonly candidates: readonly string[];
  readonly plannedFor: ReadonlyMap<string, string>;
  readonly loadOf: (workerId: string) => number;
  readonly capacityOf: (workerId: string) => number;
}

/**
 * Lines up, for each free shard that nobody holds a fresh claim on, the workers it will be offered to
 * if it stays free: every worker with room but the one it is planned for (unless there is no other),
 * the least loaded first, each shard's line starting where the previous one's stopped, so that offers
 * spread over the fleet. Whether an offer is due is decided when the worker asks (planForWorker).
 */
function lineUpOverdue(input: OverdueInput): Map<string, OverdueOffer[]> {
  const { options } = input;
  const lines = new Map<string, OverdueOffer[]>();
  const withRoom = input.candidates
    .filter((w) => input.loadOf(w) < input.capacityOf(w))
    .sort((a, b) => input.loadOf(a) - input.loadOf(b) || a.localeCompare(b));
  if (withRoom.length === 0) return lines;
  // No shard is overdue before some worker could have been planned for it (the first to join).
  const beats = new Map(input.snapshot.workers.map((beat) => [beat.workerId, beat]));
  const plannable = Math.min(
    ...withRoom.map(
      (w) => (beats.get(w)?.firstSeenMs ?? Number.NEGATIVE_INFINITY) + (options.joinDelayMs ?? 0),
    ),
  );
  let next = 0;
  for (const shardId of input.free) {
    const lease = input.rows.get(shardId);
    if (lease && options.reservedFor?.(lease) !== undefined) continue;
    const since = Math.max(
      plannable,
      freeSince(
        lease,
        input.snapshot.freeSinceMs?.get(shardId),
        parentsEndedAt(lease, input.rows),
        options.nowMs,
      ),
    );
    const planned = input.plannedFor.get(shardId);
    const others = withRoom.length > 1 ? withRoom.filter((w) => w !== planned) : withRoom;
    const length = Math.min(others.length, MAX_OVERDUE_RANKS);
    for (let rank = 0; rank < length; rank++) {
      const workerId = others[(next + rank) % others.length] as string;
      const line = lines.get(workerId) ?? [];
      line.push({ shardId, freeSinceMs: since, rank });
      lines.set(workerId, line);
    }
    next = (next + DEFAULT_OVERDUE_FANOUT) % others.length;
  }
  return lines;
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
  /** Free shards nobody took in time: take them if there is room, whatever the target. */
  readonly overdue: readonly string[];
}

export interface PlanRequest {
  /** Service time of the worker's request. */
  readonly nowMs: number;
  /** A free shard untaken this long is offered beyond its plan. @default never */
  readonly overdueAfterMs?: number;
  /** Workers offered an overdue shard in its first overdue period; twice as many each next. @default 3 */
  readonly overdueFanout?: number;
}

/**
 * One worker's part of the fleet plan, leaving out what it already holds. Overdue offers are judged at
 * the request's time, not the snapshot's: a shard becomes overdue for the first few workers in its line
 * `overdueAfterMs` after it became free, for twice as many a period later, and so on.
 */
export function planForWorker(
  assignment: FleetAssignment,
  workerId: string,
  held: ReadonlySet<string>,
  request: PlanRequest = { nowMs: Number.NEGATIVE_INFINITY },
): WorkerPlan {
  const after = request.overdueAfterMs;
  const fanout = request.overdueFanout ?? DEFAULT_OVERDUE_FANOUT;
  const overdue = (assignment.overdue.get(workerId) ?? []).filter((offer) => {
    if (after === undefined || !(after > 0) || held.has(offer.shardId)) return false;
    const periods = Math.floor((request.nowMs - offer.freeSinceMs) / after);
    return periods >= 1 && offer.rank < fanout * 2 ** Math.min(periods - 1, 16);
  });
  return {
    take: (assignment.takes.get(workerId) ?? []).filter((id) => !held.has(id)),
    steals: (assignment.steals.get(workerId) ?? []).filter((steal) => !held.has(steal.shardId)),
    target: assignment.targets.get(workerId) ?? 0,
    overdue: overdue.map((offer) => offer.shardId),
  };
}
