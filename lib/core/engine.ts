/**
 * The lease engine: every operation of the Checkpointer interface, over any RowStore. It validates
 * input, runs the rules' write plans (a fresh clock reading for every attempt, the plan deciding what
 * a refusal means), and shapes the answers. DynamoCheckpointer is this engine over DynamoDB; the
 * coordinator simulation runs it over a table in memory, so both follow one protocol.
 */
import type {
  ActiveWorkers,
  Checkpointer,
  FailedRenewal,
  HeartbeatRequest,
  HeartbeatResult,
  InitResult,
  ListActiveWorkersOptions,
  ListShardsOptions,
  LostLease,
  ReleaseRequest,
  RenewResult,
  ShardPage,
} from './checkpointer';
import { type Clock, systemClock } from './clock';
import { encodeCursor } from './cursor';
import {
  ErrorCode,
  NoLeaseOwnerError,
  SequenceIdNotFoundError,
  ShardLeaseError,
  ShardNotAssignedError,
  ThrottledError,
} from './errors';
import { hasLeft, planForWorker } from './fleet-plan';
import { FleetView } from './fleet-view';
import {
  checkpointBodySchema,
  claimBodySchema,
  heartbeatBodySchema,
  listShardsSchema,
  parseFields,
  releaseSchema,
  removeRowSchema,
  renewBodySchema,
  shardIdSchema,
  shardIdSetSchema,
  takeBodySchema,
  workerIdSchema,
} from './inputs';
import { Attr, isWorkerRow, type Lease, type LeaseRow, toLease, workerRowKey } from './lease-row';
import { formatLeaseTime } from './lease-time';
import type { RowStore } from './row-store';
import {
  type CheckpointRequest,
  checkpointPlan,
  claimPlan,
  explainRemoveRowRefusal,
  isEnded,
  isLiveLease,
  type LeaseTerms,
  type RemoveRowRequest,
  type RowWrite,
  type RuleTimes,
  releasePlan,
  removeRowCondition,
  renewPlan,
  ruleTimes,
  type TakeRequest,
  takePlan,
  type WritePlan,
  withdrawPlan,
} from './rules';

export interface FleetTerms {
  /** Each service instance reads the table for its fleet plan at most this often. @default min(2 s, lease / 5) */
  readonly snapshotMaxAgeMs?: number;
  /** A worker not heard from for this long is gone from the plan. @default 1.5 × lease */
  readonly workerTtlMs?: number;
  /** A worker's heartbeat is recorded in the table at most this often. @default lease / 2 */
  readonly registerEveryMs?: number;
  /**
   * A newly heard-of worker is given shards from this long after its first heartbeat on, so that
   * workers starting together are planned together. Half a renewal period: a worker's second heartbeat
   * (one renewal period after its first, give or take its timer's slack) always comes later.
   * @default lease / 6
   */
  readonly joinDelayMs?: number;
  /**
   * A free shard nobody took this long after it became free is offered to more workers with room.
   * @default the snapshot's maximum age + lease / 3 (the most a planned worker takes to act)
   */
  readonly overdueAfterMs?: number;
}

export interface LeaseEngineOptions extends Partial<LeaseTerms> {
  readonly store: RowStore;
  readonly clock?: Clock;
  /** RenewLeases writes at most this many leases at once. */
  readonly renewConcurrency?: number;
  readonly fleet?: FleetTerms;
}

export const DEFAULT_LEASE_TERMS: LeaseTerms = { leaseDurationMs: 10_000, claimTimeoutMs: 120_000 };
export const DEFAULT_RENEW_CONCURRENCY = 16;

/** A chain of writes is short: a take that turns out a renewal, a checkpoint over a Go-written value. */
const MAX_WRITES_PER_OPERATION = 3;

export class LeaseEngine implements Checkpointer {
  readonly terms: LeaseTerms;
  protected readonly store: RowStore;
  private readonly clock: Clock;
  private readonly renewConcurrency: number;
  readonly fleet: FleetView;
  private readonly registerEveryMs: number;
  private readonly workerTtlMs: number;
  private readonly joinDelayMs: number;
  private readonly overdueAfterMs: number;
  /** When this instance last recorded each worker's heartbeat (the snapshot may not show it yet). */
  private readonly registered = new Map<string, number>();

  constructor(options: LeaseEngineOptions) {
    this.store = options.store;
    this.terms = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_LEASE_TERMS.leaseDurationMs,
      claimTimeoutMs: options.claimTimeoutMs ?? DEFAULT_LEASE_TERMS.claimTimeoutMs,
    };
    this.clock = options.clock ?? systemClock;
    this.renewConcurrency = options.renewConcurrency ?? DEFAULT_RENEW_CONCURRENCY;
    const lease = this.terms.leaseDurationMs;
    this.registerEveryMs = options.fleet?.registerEveryMs ?? lease / 2;
    this.workerTtlMs = options.fleet?.workerTtlMs ?? 1.5 * lease;
    this.joinDelayMs = options.fleet?.joinDelayMs ?? lease / 6;
    const snapshotMaxAgeMs = options.fleet?.snapshotMaxAgeMs ?? Math.min(2_000, lease / 5);
    // The planned worker has had its chance by then: the snapshot that shows the shard free is at most
    // this old, and the worker heartbeats once per renewal period. Offered to others from then on, it is
    // taken within another renewal period: within 0.87 lease periods in all at the defaults.
    this.overdueAfterMs = options.fleet?.overdueAfterMs ?? snapshotMaxAgeMs + lease / 3;
    this.fleet = new FleetView(this.store, this.clock, {
      maxAgeMs: snapshotMaxAgeMs,
      workerTtlMs: this.workerTtlMs,
      joinDelayMs: this.joinDelayMs,
      terms: this.terms,
    });
  }

  init(): Promise<InitResult> {
    return this.store.init();
  }

  async leaseTerms(): Promise<LeaseTerms> {
    return { ...this.terms };
  }

  async getLease(shardId: string, request: TakeRequest): Promise<Lease> {
    const input = parseFields({ shardId: shardIdSchema, body: takeBodySchema }, { shardId, body: request });
    return toLease(await this.apply(input.shardId, takePlan(input.body)));
  }

  async checkpointSequence(shardId: string, request: CheckpointRequest): Promise<Lease> {
    const input = parseFields(
      { shardId: shardIdSchema, body: checkpointBodySchema },
      { shardId, body: request },
    );
    return toLease(await this.apply(input.shardId, checkpointPlan(input.body)));
  }

  async fetchCheckpoint(shardId: string): Promise<Lease> {
    const input = parseFields({ shardId: shardIdSchema }, { shardId });
    const row = await this.store.read(input.shardId);
    const lease = row ? toLease(row) : undefined;
    if (!lease?.checkpoint) {
      // The rest of the lease still tells the caller who holds the shard that has no checkpoint yet.
      throw new SequenceIdNotFoundError(
        lease
          ? {
              ...(lease.owner && { owner: lease.owner }),
              ...(lease.leaseTimeout && { leaseTimeout: lease.leaseTimeout }),
              ...(lease.claimRequest && { claimRequest: lease.claimRequest }),
              leaseCounter: lease.leaseCounter,
            }
          : {},
      );
    }
    return lease;
  }

  async removeLeaseInfo(shardId: string, request: RemoveRowRequest = {}): Promise<void> {
    const input = parseFields({ shardId: shardIdSchema, body: removeRowSchema }, { shardId, body: request });
    const outcome = await this.store.delete(input.shardId, () =>
      removeRowCondition(input.body, this.times()),
    );
    if ('refused' in outcome) throw explainRemoveRowRefusal(outcome.refused);
  }

  async removeLeaseOwner(shardId: string, workerId: string, request: ReleaseRequest = {}): Promise<void> {
    const input = parseFields(
      { shardId: shardIdSchema, workerId: workerIdSchema, body: releaseSchema },
      { shardId, workerId, body: request },
    );
    await this.apply(input.shardId, releasePlan(input.workerId, input.body.leaseCounter, input.body.takeId));
  }

  async getLeaseOwner(shardId: string): Promise<string> {
    const input = parseFields({ shardId: shardIdSchema }, { shardId });
    const row = await this.store.read(input.shardId, [Attr.ShardId, Attr.AssignedTo]);
    const owner = row ? toLease(row).owner : undefined;
    if (!owner) throw new NoLeaseOwnerError();
    return owner;
  }

  async listActiveWorkers(options: ListActiveWorkersOptions = {}): Promise<ActiveWorkers> {
    const wanted = options.shardIds
      ? new Set(parseFields({ shardIds: shardIdSetSchema }, { shardIds: options.shardIds }).shardIds)
      : undefined;
    const t = this.times();
    const workers: Record<string, Lease[]> = {};
    const unassigned: string[] = [];
    const seen = new Set<string>();
    for await (const row of this.store.scan()) {
      if (isWorkerRow(row)) continue;
      const lease = toLease(row);
      if (wanted && !wanted.has(lease.shardId)) continue;
      seen.add(lease.shardId);
      if (isEnded(row)) continue;
      if (isLiveLease(row, t) && lease.owner) {
        workers[lease.owner] ??= [];
        workers[lease.owner]?.push(lease);
      } else {
        unassigned.push(lease.shardId);
      }
    }
    for (const shardId of wanted ?? []) if (!seen.has(shardId)) unassigned.push(shardId);
    unassigned.sort();
    if (options.strict && unassigned.length > 0) throw new ShardNotAssignedError(unassigned);
    return { workers, unassigned };
  }

  async renewLeases(workerId: string, shardIds: readonly string[]): Promise<RenewResult> {
    const input = parseFields(
      { workerId: workerIdSchema, body: renewBodySchema },
      { workerId, body: { shardIds } },
    );
    const unique = [...new Set(input.body.shardIds)];
    return this.renewEach(
      unique.map((shardId) => ({ shardId })),
      () => renewPlan(input.workerId),
    );
  }

  async heartbeat(workerId: string, request: HeartbeatRequest): Promise<HeartbeatResult> {
    const input = parseFields(
      { workerId: workerIdSchema, body: heartbeatBodySchema },
      { workerId, body: request },
    );
    const worker = input.workerId;
    if (input.body.leaving) return this.leave(worker);
    const held = [...new Map(input.body.held.map((lease) => [lease.shardId, lease])).values()];
    const [renewal] = await Promise.all([
      this.renewEach(held, (lease) => renewPlan(worker, { leaseCounter: lease.leaseCounter })),
      this.register(worker, input.body.capacity),
    ]);
    const { assignment } = await this.fleet.current();
    // Still held: renewed, or unknown after a fault (held until its own expiry).
    const holding = new Set([...renewal.renewed, ...renewal.failed].map((lease) => lease.shardId));
    const lost = new Set(renewal.lost.map((lease) => lease.shardId));
    const now = this.clock.now();
    const plan = planForWorker(assignment, worker, holding, {
      nowMs: now,
      overdueAfterMs: this.overdueAfterMs,
    });
    // The snapshot planned for the worker if it joins before the snapshot is replaced; until its own
    // join delay has passed, it gets nothing.
    const firstSeen = this.fleet.beat(worker)?.firstSeenMs;
    const joining = firstSeen !== undefined && now < firstSeen + this.joinDelayMs;
    const notLost = (shardId: string) => !joining && !lost.has(shardId);
    // Live leases under this worker's id that it did not list: an earlier process with the same id
    // (a restarted container, the next invocation of a Lambda slot) left them. Taken again at once with
    // a new counter, they need not expire first; the earlier process, were it still running, is fenced.
    const listed = new Set(held.map((lease) => lease.shardId));
    const orphans = (assignment.holdings.get(worker) ?? []).filter((shardId) => !listed.has(shardId));
    return {
      ...renewal,
      take: [...orphans, ...plan.take.filter(notLost)],
      steals: plan.steals.filter((steal) => notLost(steal.shardId)),
      overdue: plan.overdue.filter(notLost),
      target: plan.target,
      terms: { ...this.terms },
    };
  }

  async claimShard(shardId: string, claimerId: string): Promise<Lease> {
    const input = parseFields(
      { shardId: shardIdSchema, body: claimBodySchema },
      { shardId, body: { workerId: claimerId } },
    );
    // A claim that is the caller's own, already pending, answers with the row as it stands.
    return toLease(await this.apply(input.shardId, claimPlan(input.shardId, input.body.workerId)));
  }

  async withdrawClaim(shardId: string, claimerId: string): Promise<void> {
    const input = parseFields(
      { shardId: shardIdSchema, body: claimBodySchema },
      { shardId, body: { workerId: claimerId } },
    );
    await this.apply(input.shardId, withdrawPlan(input.body.workerId));
  }

  async listShards(options: ListShardsOptions = {}): Promise<ShardPage> {
    const input = parseFields({ body: listShardsSchema }, { body: options }).body;
    const page = await this.store.page(input.limit ?? 100, input.cursor);
    // Key order is the cursor's order, so a page is not re-sorted.
    return {
      // The worker registry's rows share the table; a page may therefore hold fewer shards than asked.
      shards: page.rows.filter((row) => !isWorkerRow(row)).map(toLease),
      ...(page.lastShardId !== undefined && { nextCursor: encodeCursor(page.lastShardId) }),
    };
  }

  /**
   * A stopping worker's last heartbeat: its registry row says it left, and this instance plans anew at
   * the next heartbeat, so that what the worker gave back goes to the others at once (other instances
   * see it at their next snapshot). Its next heartbeat, if it comes back, records it again.
   */
  private async leave(workerId: string): Promise<HeartbeatResult> {
    await this.store.update(workerRowKey(workerId), () => ({
      update: { set: [[Attr.LeftAt, { kind: 'set', value: formatLeaseTime(this.clock.now()) }]], remove: [] },
    }));
    this.registered.delete(workerId);
    this.fleet.invalidate();
    return {
      renewed: [],
      lost: [],
      failed: [],
      take: [],
      steals: [],
      overdue: [],
      target: 0,
      terms: { ...this.terms },
    };
  }

  /**
   * Records the worker's heartbeat in its registry row, at most every `registerEveryMs`: the fleet
   * plan counts it from the next snapshot on.
   */
  private async register(workerId: string, capacity: number | undefined): Promise<void> {
    const now = this.clock.now();
    const beat = this.fleet.beat(workerId);
    const seen = beat && !hasLeft(beat) ? beat.lastSeenMs : undefined;
    const last = Math.max(this.registered.get(workerId) ?? -Infinity, seen ?? -Infinity);
    // A worker the plan holds back after a lapse is recorded at once: it is back from its next plan on.
    if (now - last < this.registerEveryMs && !this.fleet.isLapsed(workerId)) return;
    // Joining, or back after being gone: it joins the plan anew (FirstSeen), else FirstSeen stays.
    const joining = now - last >= this.workerTtlMs;
    await this.store.update(workerRowKey(workerId), () => {
      const at = formatLeaseTime(this.clock.now());
      return {
        update: {
          set: [
            [Attr.LastSeen, { kind: 'set', value: at }],
            [Attr.FirstSeen, { kind: joining ? 'set' : 'setIfMissing', value: at }],
            ...(capacity !== undefined ? [[Attr.Capacity, { kind: 'set', value: capacity }] as const] : []),
          ],
          remove: capacity === undefined ? [Attr.Capacity] : [],
        },
      };
    });
    this.registered.set(workerId, now);
  }

  /** Renews each lease on its own: a fault on one (after its retries) never fails the others. */
  private async renewEach<T extends { readonly shardId: string }>(
    leases: readonly T[],
    plan: (lease: T) => WritePlan,
  ): Promise<RenewResult> {
    const renewed: Lease[] = [];
    const lost: LostLease[] = [];
    const failed: FailedRenewal[] = [];
    await forEachBounded(leases, this.renewConcurrency, async (lease) => {
      try {
        renewed.push(toLease(await this.apply(lease.shardId, plan(lease))));
      } catch (error) {
        if (error instanceof ShardLeaseError && !isFault(error)) lost.push(lostLease(lease.shardId, error));
        else failed.push({ shardId: lease.shardId, code: faultCode(error) });
      }
    });
    const order = new Map(leases.map((lease, i) => [lease.shardId, i]));
    const byRequestOrder = (a: { shardId: string }, b: { shardId: string }) =>
      (order.get(a.shardId) ?? 0) - (order.get(b.shardId) ?? 0);
    return {
      renewed: renewed.sort(byRequestOrder),
      lost: lost.sort(byRequestOrder),
      failed: failed.sort(byRequestOrder),
    };
  }

  protected times(): RuleTimes {
    return ruleTimes(this.clock.now(), this.terms);
  }

  /**
   * Runs a plan: one conditional update, built afresh (with a new clock reading) at every attempt;
   * when refused, the plan decides from the row as it stood whether that is an error, the answer
   * already, or another write. Returns the row that proves the outcome.
   */
  private async apply(shardId: string, plan: WritePlan): Promise<LeaseRow> {
    let current = plan;
    for (let writes = 1; ; writes++) {
      let write: RowWrite | undefined;
      const outcome = await this.store.update(shardId, () => {
        write = current(this.times());
        return write;
      });
      if ('written' in outcome) return outcome.written;
      const decision = (write as RowWrite).onRefusal(outcome.refused);
      if (decision.kind === 'fail') throw decision.error;
      if (decision.kind === 'done') return outcome.refused ?? { [Attr.ShardId]: shardId };
      if (writes >= MAX_WRITES_PER_OPERATION) {
        throw new Error(`shard ${shardId}: the row kept changing through ${writes} conditional writes`);
      }
      current = decision.plan;
    }
  }
}

/** A typed error that is a fault of the store, not an answer about the lease. */
function isFault(error: ShardLeaseError): boolean {
  return error.code === ErrorCode.Throttled || error.code === ErrorCode.Internal;
}

function faultCode(error: unknown): FailedRenewal['code'] {
  return error instanceof ThrottledError ? ErrorCode.Throttled : ErrorCode.Internal;
}

function lostLease(shardId: string, refusal: ShardLeaseError): LostLease {
  const { owner, claimRequest } = refusal.details as { owner?: string; claimRequest?: string };
  return {
    shardId,
    code: refusal.code === 'ShardClaimed' ? 'ShardClaimed' : 'LeaseLost',
    message: refusal.message,
    ...(owner !== undefined && { owner }),
    ...(claimRequest !== undefined && { claimRequest }),
  };
}

/**
 * Runs `task` over `items` with at most `limit` in flight. After a failure no new item starts, the
 * ones in flight finish, and then the first failure is thrown.
 */
async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.error;
}
