/**
 * One service instance's view of the fleet: a snapshot of the table (shard rows and worker rows),
 * read at most every `maxAgeMs` however many workers ask, and the fleet plan computed from it once.
 * Planning therefore costs one scan per instance every few seconds, not one per worker. A stale view
 * only ever costs a refused conditional take.
 */
import type { Clock } from './clock';
import { evaluateCondition } from './condition';
import { assignFleet, type FleetAssignment, type FleetSnapshot, type WorkerBeat } from './fleet-plan';
import { Attr, isWorkerRow, type Lease, type LeaseRow, toLease, WORKER_ROW_PREFIX } from './lease-row';
import { parseLeaseTime } from './lease-time';
import type { RowStore } from './row-store';
import { claimIsFresh, hasLiveOwner, type LeaseTerms, ruleTimes } from './rules';

export interface FleetViewOptions {
  /** Read the table again when the snapshot is older than this. */
  readonly maxAgeMs: number;
  /** A worker not heard from for this long is gone. */
  readonly workerTtlMs: number;
  /** A worker first heard of this recently is counted in the targets but planned for nothing yet. */
  readonly joinDelayMs: number;
  /** The service's terms: whether a claim still reserves a free shard for its claimer. */
  readonly terms: LeaseTerms;
}

export interface FleetState {
  readonly snapshot: FleetSnapshot;
  readonly assignment: FleetAssignment;
}

export function workerBeatOf(row: LeaseRow): WorkerBeat | undefined {
  const key = String(row[Attr.ShardId] ?? '');
  const seen = row[Attr.LastSeen];
  const lastSeenMs = typeof seen === 'string' ? parseLeaseTime(seen) : undefined;
  if (!key.startsWith(WORKER_ROW_PREFIX) || lastSeenMs === undefined) return undefined;
  const capacity = row[Attr.Capacity];
  const first = row[Attr.FirstSeen];
  const firstSeenMs = typeof first === 'string' ? parseLeaseTime(first) : undefined;
  const left = row[Attr.LeftAt];
  const leftAtMs = typeof left === 'string' ? parseLeaseTime(left) : undefined;
  return {
    workerId: key.slice(WORKER_ROW_PREFIX.length),
    lastSeenMs,
    ...(firstSeenMs !== undefined && { firstSeenMs }),
    ...(typeof capacity === 'number' && { capacity }),
    ...(leftAtMs !== undefined && { leftAtMs }),
  };
}

export class FleetView {
  /** Table scans made, for the scale figures. */
  refreshes = 0;
  private state: FleetState | undefined;
  private refreshing: Promise<FleetState> | undefined;
  /** Read again at the next request, whatever the snapshot's age. */
  private stale = false;
  /** The earliest timeout of a lease live in the snapshot: once past, the plan changes (a lapse). */
  private nextExpiryMs = Number.POSITIVE_INFINITY;
  /** When this view first saw each shard free, for rows that cannot tell (see rowFreeSince). */
  private readonly firstSeenFree = new Map<string, number>();
  /** Lapses seen in earlier snapshots: the rows that showed them may have been taken over since. */
  private lapsedAtMs: ReadonlyMap<string, number> = new Map();

  constructor(
    private readonly store: RowStore,
    private readonly clock: Clock,
    private readonly options: FleetViewOptions,
  ) {}

  /** The current view, read anew when too old (concurrent callers share one read). */
  async current(): Promise<FleetState> {
    const state = this.state;
    const now = this.clock.now();
    // Healthy owners renew every renewal period, so a lease the snapshot shows expiring before it is
    // replaced was not renewed for most of a lease: its owner is likely dead, and its shards wait for a
    // plan that sees that. Read at once then, rather than up to the snapshot's age later.
    if (
      state &&
      !this.stale &&
      now - state.snapshot.takenAtMs < this.options.maxAgeMs &&
      now < this.nextExpiryMs
    ) {
      return state;
    }
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** The last snapshot and its plan, as they are (no read). */
  latest(): FleetState | undefined {
    return this.state;
  }

  /** The worker as this view last saw it, if it did. */
  beat(workerId: string): WorkerBeat | undefined {
    return this.state?.snapshot.workers.find((w) => w.workerId === workerId);
  }

  /** Reads the table again at the next request: a worker left, and the plan must not wait for the age. */
  invalidate(): void {
    this.stale = true;
  }

  /** Whether this view holds the worker at what it has (its leases lapsed since it was last heard). */
  isLapsed(workerId: string): boolean {
    return this.state?.assignment.lapsed.includes(workerId) ?? false;
  }

  private async refresh(): Promise<FleetState> {
    this.stale = false;
    const takenAtMs = this.clock.now();
    const t = ruleTimes(takenAtMs, this.options.terms);
    const leases: Lease[] = [];
    const workers: WorkerBeat[] = [];
    const freeSinceMs = new Map<string, number>();
    const reserved = new Map<string, string>();
    const seen = new Set<string>();
    let nextExpiryMs = Number.POSITIVE_INFINITY;
    for await (const row of this.store.scan({ consistent: false })) {
      if (isWorkerRow(row)) {
        const beat = workerBeatOf(row);
        if (beat) workers.push(beat);
        continue;
      }
      const lease = toLease(row);
      leases.push(lease);
      seen.add(lease.shardId);
      if (evaluateCondition(hasLiveOwner(t), row)) {
        this.firstSeenFree.delete(lease.shardId);
        const expiry = lease.leaseTimeout === undefined ? undefined : parseLeaseTime(lease.leaseTimeout);
        if (expiry !== undefined) nextExpiryMs = Math.min(nextExpiryMs, expiry);
        continue;
      }
      if (!this.firstSeenFree.has(lease.shardId)) this.firstSeenFree.set(lease.shardId, takenAtMs);
      const since = rowFreeSince(row) ?? this.firstSeenFree.get(lease.shardId);
      if (since !== undefined) freeSinceMs.set(lease.shardId, since);
      if (evaluateCondition(claimIsFresh(t), row) && lease.claimRequest !== undefined) {
        reserved.set(lease.shardId, lease.claimRequest);
      }
    }
    for (const shardId of this.firstSeenFree.keys())
      if (!seen.has(shardId)) this.firstSeenFree.delete(shardId);
    this.refreshes++;
    // A lapse is forgotten once the worker was heard from after it.
    const lastSeen = new Map(workers.map((w) => [w.workerId, w.lastSeenMs]));
    const remembered = new Map(
      [...this.lapsedAtMs].filter(([w, at]) => {
        const seenMs = lastSeen.get(w);
        return seenMs !== undefined && seenMs <= at;
      }),
    );
    const snapshot: FleetSnapshot = { takenAtMs, leases, workers, freeSinceMs, lapsedAtMs: remembered };
    const assignment = assignFleet(snapshot, {
      nowMs: takenAtMs,
      workerTtlMs: this.options.workerTtlMs,
      // Judged for the snapshot's whole life: a worker that has joined by the time the snapshot is
      // replaced is planned for now, and the engine holds back its part until its own join delay ends.
      joiningAfterMs: takenAtMs + this.options.maxAgeMs - this.options.joinDelayMs,
      joinDelayMs: this.options.joinDelayMs,
      reservedFor: (lease) => reserved.get(lease.shardId),
    });
    this.lapsedAtMs = assignment.lapsedAtMs;
    this.nextExpiryMs = nextExpiryMs;
    this.state = { snapshot, assignment };
    return this.state;
  }
}

/**
 * When a row nobody holds became free, if the row itself can tell beyond its lease's end (which the
 * plan reads): when discovery created it, for a row never leased. Undefined when it cannot (a release
 * by the Go library leaves the old timeout, still ahead): the view then counts from when it first saw
 * the shard free.
 */
function rowFreeSince(row: LeaseRow): number | undefined {
  const timeout = row[Attr.LeaseTimeout];
  if (typeof timeout === 'string' && timeout !== '') return undefined;
  const discovered = row[Attr.DiscoveredAt];
  return typeof discovered === 'string' ? parseLeaseTime(discovered) : undefined;
}
