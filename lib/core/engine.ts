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
import {
  checkpointBodySchema,
  claimBodySchema,
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
import { Attr, type Lease, type LeaseRow, toLease } from './lease-row';
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
} from './rules';

export interface LeaseEngineOptions extends Partial<LeaseTerms> {
  readonly store: RowStore;
  readonly clock?: Clock;
  /** RenewLeases writes at most this many leases at once. */
  readonly renewConcurrency?: number;
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

  constructor(options: LeaseEngineOptions) {
    this.store = options.store;
    this.terms = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_LEASE_TERMS.leaseDurationMs,
      claimTimeoutMs: options.claimTimeoutMs ?? DEFAULT_LEASE_TERMS.claimTimeoutMs,
    };
    this.clock = options.clock ?? systemClock;
    this.renewConcurrency = options.renewConcurrency ?? DEFAULT_RENEW_CONCURRENCY;
  }

  init(): Promise<InitResult> {
    return this.store.init();
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
    await this.apply(input.shardId, releasePlan(input.workerId, input.body.leaseCounter));
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
    const renewed: Lease[] = [];
    const lost: LostLease[] = [];
    const failed: FailedRenewal[] = [];
    // Each shard is its own outcome: a fault on one (after its retries) never fails the others.
    await forEachBounded(unique, this.renewConcurrency, async (shardId) => {
      try {
        renewed.push(toLease(await this.apply(shardId, renewPlan(input.workerId))));
      } catch (error) {
        if (error instanceof ShardLeaseError && !isFault(error)) lost.push(lostLease(shardId, error));
        else failed.push({ shardId, code: faultCode(error) });
      }
    });
    const order = new Map(unique.map((id, i) => [id, i]));
    const byRequestOrder = (a: { shardId: string }, b: { shardId: string }) =>
      (order.get(a.shardId) ?? 0) - (order.get(b.shardId) ?? 0);
    return {
      renewed: renewed.sort(byRequestOrder),
      lost: lost.sort(byRequestOrder),
      failed: failed.sort(byRequestOrder),
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

  async listShards(options: ListShardsOptions = {}): Promise<ShardPage> {
    const input = parseFields({ body: listShardsSchema }, { body: options }).body;
    const page = await this.store.page(input.limit ?? 100, input.cursor);
    // Key order is the cursor's order, so a page is not re-sorted.
    return {
      shards: page.rows.map(toLease),
      ...(page.lastShardId !== undefined && { nextCursor: encodeCursor(page.lastShardId) }),
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
