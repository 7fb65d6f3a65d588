/**
 * The lease engine on DynamoDB: each state change is one conditional UpdateItem whose condition and
 * update come from the core's rules. When DynamoDB refuses, the row as it stood comes back with the
 * refusal (ReturnValuesOnConditionCheckFailure) or, where the server omits it (dynalite), from one
 * consistent read, and the core explains the refusal as a typed error.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type {
  ActiveWorkers,
  Checkpointer,
  FailedRenewal,
  InitResult,
  ListActiveWorkersOptions,
  ListShardsOptions,
  LostLease,
  RenewResult,
  ShardPage,
} from '../core/checkpointer';
import { type Clock, systemClock } from '../core/clock';
import { encodeCursor } from '../core/cursor';
import {
  ErrorCode,
  InvalidDynamoDbSchemaError,
  NoLeaseOwnerError,
  SequenceIdNotFoundError,
  ShardLeaseError,
  ShardNotAssignedError,
  ThrottledError,
} from '../core/errors';
import {
  checkpointBodySchema,
  claimBodySchema,
  listShardsSchema,
  parseFields,
  removeRowSchema,
  renewBodySchema,
  shardIdSchema,
  shardIdSetSchema,
  takeBodySchema,
  workerIdSchema,
} from '../core/inputs';
import { Attr, type Lease, type LeaseRow, toLease } from '../core/lease-row';
import {
  answerShowsUpdate,
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
} from '../core/rules';
import { compileExpressions } from './expressions';
import { fromItem, keyOf } from './item';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from './retry';
import { createTableInput, schemaProblem } from './table-schema';
import { UnprovenAnswerError } from './unproven-answer';

export interface DynamoCheckpointerOptions extends Partial<LeaseTerms> {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly clock?: Clock;
  readonly retry?: RetryPolicy;
  /** RenewLeases writes at most this many leases at once. */
  readonly renewConcurrency?: number;
  /** Init creates a missing table (on-demand), as the local server wants. */
  readonly createTableIfMissing?: boolean;
}

export const DEFAULT_RENEW_CONCURRENCY = 16;

/** A chain of writes is short: a take that turns out a renewal, a checkpoint over a Go-written value. */
const MAX_WRITES_PER_OPERATION = 3;

function isConditionFailure(
  error: unknown,
): error is { name: string; Item?: Record<string, AttributeValue> } {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

export class DynamoCheckpointer implements Checkpointer {
  readonly tableName: string;
  readonly terms: LeaseTerms;
  private readonly client: DynamoDBClient;
  private readonly clock: Clock;
  private readonly retry: RetryPolicy;
  private readonly renewConcurrency: number;
  private readonly createTableIfMissing: boolean;

  constructor(options: DynamoCheckpointerOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.terms = {
      leaseDurationMs: options.leaseDurationMs ?? 10_000,
      claimTimeoutMs: options.claimTimeoutMs ?? 120_000,
    };
    this.clock = options.clock ?? systemClock;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.renewConcurrency = options.renewConcurrency ?? DEFAULT_RENEW_CONCURRENCY;
    this.createTableIfMissing = options.createTableIfMissing ?? false;
  }

  async init(): Promise<InitResult> {
    let table: Awaited<ReturnType<typeof this.describeTable>>;
    try {
      table = await this.describeTable();
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
      if (!this.createTableIfMissing) {
        throw new InvalidDynamoDbSchemaError(this.tableName, 'the table does not exist');
      }
      await this.send(() => this.client.send(new CreateTableCommand(createTableInput(this.tableName))));
      await waitUntilTableExists(
        { client: this.client, maxWaitTime: 60, minDelay: 1 },
        { TableName: this.tableName },
      );
      return { table: this.tableName, status: 'CREATED' };
    }
    const problem = table ? schemaProblem(table) : 'the table has no description';
    if (problem) throw new InvalidDynamoDbSchemaError(this.tableName, problem);
    return { table: this.tableName, status: table?.TableStatus ?? 'UNKNOWN' };
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
    const row = await this.read(input.shardId);
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
    try {
      await this.send(() => {
        const condition = removeRowCondition(input.body, this.times());
        return this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: keyOf(input.shardId),
            ...compileExpressions(condition ? { condition } : {}),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw explainRemoveRowRefusal(error.Item ? fromItem(error.Item) : await this.read(input.shardId));
    }
  }

  async removeLeaseOwner(shardId: string, workerId: string): Promise<void> {
    const input = parseFields({ shardId: shardIdSchema, workerId: workerIdSchema }, { shardId, workerId });
    await this.apply(input.shardId, releasePlan(input.workerId));
  }

  async getLeaseOwner(shardId: string): Promise<string> {
    const input = parseFields({ shardId: shardIdSchema }, { shardId });
    const row = await this.read(input.shardId, [Attr.ShardId, Attr.AssignedTo]);
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
    for await (const row of this.scanAll()) {
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
    const response = await this.send(() =>
      this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          Limit: input.limit ?? 100,
          ...(input.cursor !== undefined && { ExclusiveStartKey: keyOf(input.cursor) }),
        }),
      ),
    );
    // Scan order is the cursor's order, so a page is not re-sorted.
    const shards = (response.Items ?? []).map((item) => toLease(fromItem(item) as LeaseRow));
    const last = response.LastEvaluatedKey?.[Attr.ShardId]?.S;
    return { shards, ...(last !== undefined && { nextCursor: encodeCursor(last) }) };
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  private times(): RuleTimes {
    return ruleTimes(this.clock.now(), this.terms);
  }

  private send<T>(call: () => Promise<T>): Promise<T> {
    return withRetries(call, this.retry);
  }

  private async describeTable() {
    const out = await this.send(() =>
      this.client.send(new DescribeTableCommand({ TableName: this.tableName })),
    );
    return out.Table;
  }

  /**
   * Runs a plan: one conditional UpdateItem, built afresh (with a new clock reading) at every attempt;
   * when refused, the plan decides from the row as it stood (sent with the refusal, or read once where
   * the server omits it) whether that is an error, the answer already, or another write. Returns the row
   * that proves the outcome: DynamoDB's ALL_NEW answer, checked to show the write, or the row as read.
   */
  private async apply(shardId: string, plan: WritePlan): Promise<LeaseRow> {
    let current = plan;
    for (let writes = 1; ; writes++) {
      const outcome = await this.conditionalUpdate(shardId, current);
      if ('written' in outcome) return outcome.written;
      const decision = outcome.write.onRefusal(outcome.row);
      if (decision.kind === 'fail') throw decision.error;
      if (decision.kind === 'done') return outcome.row ?? { [Attr.ShardId]: shardId };
      if (writes >= MAX_WRITES_PER_OPERATION) {
        throw new Error(`shard ${shardId}: the row kept changing through ${writes} conditional writes`);
      }
      current = decision.plan;
    }
  }

  private async conditionalUpdate(
    shardId: string,
    plan: WritePlan,
  ): Promise<{ written: LeaseRow } | { write: RowWrite; row: LeaseRow | undefined }> {
    let write: RowWrite | undefined;
    try {
      const written = await this.send(async () => {
        write = plan(this.times());
        const out = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: keyOf(shardId),
            ...compileExpressions({ condition: write.condition, update: write.update }),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        const row = fromItem(out.Attributes);
        if (!answerShowsUpdate(row, shardId, write.update))
          throw new UnprovenAnswerError('UpdateItem', shardId);
        return row as LeaseRow;
      });
      return { written };
    } catch (error) {
      if (!isConditionFailure(error) || !write) throw error;
      const row = error.Item ? fromItem(error.Item) : await this.read(shardId);
      return { write, row };
    }
  }

  private async read(shardId: string, attributes?: readonly string[]): Promise<LeaseRow | undefined> {
    const projection = attributes
      ? {
          ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a])),
        }
      : {};
    const out = await this.send(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: keyOf(shardId),
          ConsistentRead: true,
          ...projection,
        }),
      ),
    );
    const row = fromItem(out.Item);
    // A row under another key (or without one) is a broken answer, not a missing row.
    if (row && row[Attr.ShardId] !== shardId) throw new UnprovenAnswerError('GetItem', shardId);
    return row;
  }

  /** Every row, page by page (a scan page holds at most 1 MB). */
  private async *scanAll(): AsyncGenerator<LeaseRow> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            ...(start !== undefined && { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of out.Items ?? []) yield fromItem(item) as LeaseRow;
      start = out.LastEvaluatedKey;
    } while (start);
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
