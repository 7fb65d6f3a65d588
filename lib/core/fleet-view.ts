/**
 * One service instance's view of the fleet: a snapshot of the table (shard rows and worker rows),
 * read at most every `maxAgeMs` however many workers ask, and the fleet plan computed from it once.
 * Planning therefore costs one scan per instance every few seconds, not one per worker. A stale view
 * only ever costs a refused conditional take.
 */
import type { Clock } from './clock';
import { assignFleet, type FleetAssignment, type FleetSnapshot, type WorkerBeat } from './fleet-plan';
import { Attr, isWorkerRow, type Lease, type LeaseRow, toLease, WORKER_ROW_PREFIX } from './lease-row';
import { parseLeaseTime } from './lease-time';
import type { RowStore } from './row-store';

export interface FleetViewOptions {
  /** Read the table again when the snapshot is older than this. */
  readonly maxAgeMs: number;
  /** A worker not heard from for this long is gone. */
  readonly workerTtlMs: number;
  /** See AssignOptions.joinDelayMs. */
  readonly joinDelayMs: number;
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
  return {
    workerId: key.slice(WORKER_ROW_PREFIX.length),
    lastSeenMs,
    ...(firstSeenMs !== undefined && { firstSeenMs }),
    ...(typeof capacity === 'number' && { capacity }),
  };
}

export class FleetView {
  /** Table scans made, for the scale figures. */
  refreshes = 0;
  private state: FleetState | undefined;
  private refreshing: Promise<FleetState> | undefined;

  constructor(
    private readonly store: RowStore,
    private readonly clock: Clock,
    private readonly options: FleetViewOptions,
  ) {}

  /** The current view, read anew when too old (concurrent callers share one read). */
  async current(): Promise<FleetState> {
    const state = this.state;
    if (state && this.clock.now() - state.snapshot.takenAtMs < this.options.maxAgeMs) return state;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** The worker as this view last saw it, if it did. */
  beat(workerId: string): WorkerBeat | undefined {
    return this.state?.snapshot.workers.find((w) => w.workerId === workerId);
  }

  private async refresh(): Promise<FleetState> {
    const takenAtMs = this.clock.now();
    const leases: Lease[] = [];
    const workers: WorkerBeat[] = [];
    for await (const row of this.store.scan({ consistent: false })) {
      if (isWorkerRow(row)) {
        const beat = workerBeatOf(row);
        if (beat) workers.push(beat);
      } else {
        leases.push(toLease(row));
      }
    }
    this.refreshes++;
    const snapshot: FleetSnapshot = { takenAtMs, leases, workers };
    const assignment = assignFleet(snapshot, {
      nowMs: takenAtMs,
      workerTtlMs: this.options.workerTtlMs,
      joinDelayMs: this.options.joinDelayMs,
    });
    this.state = { snapshot, assignment };
    return this.state;
  }
}
