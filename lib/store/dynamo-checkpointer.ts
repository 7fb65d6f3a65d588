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
  InitResult,
  ListActiveWorkersOptions,
  ListShardsOptions,
  LostLease,
  RenewResult,
  ShardPage,
} from '../core/checkpointer';
import { type Clock, systemClock } from '../core/clock';
import type { Condition } from '../core/condition';
import { encodeCursor } from '../core/cursor';
import {
  InvalidDynamoDbSchemaError,
  NoLeaseOwnerError,
  SequenceIdNotFoundError,
  type ShardLeaseError,
  ShardNotAssignedError,
} from '../core/errors';
import {
  checkpointBodySchema,
  claimBodySchema,
  listShardsSchema,
  parseFields,
  renewBodySchema,
  shardIdSchema,
  shardIdSetSchema,
  takeBodySchema,
  workerIdSchema,
} from '../core/inputs';
import { Attr, type Lease, type LeaseRow, toLease } from '../core/lease-row';
import {
  type CheckpointRequest,
  checkpointCondition,
  checkpointUpdate,
  claimCondition,
  claimUpdate,
  explainCheckpointRefusal,
  explainClaimRefusal,
  explainReleaseRefusal,
  explainRenewRefusal,
  explainTakeRefusal,
  isEnded,
  isLiveLease,
  type LeaseTerms,
  type RowUpdate,
  type RuleTimes,
  releaseCondition,
  releaseUpdate,
  renewCondition,
  ruleTimes,
  type TakeRequest,
  takeCondition,
  takeUpdate,
} from '../core/rules';
import { compileExpressions } from './expressions';
import { fromItem, keyOf } from './item';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from './retry';
import { createTableInput, schemaProblem } from './table-schema';

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

interface Refusal {
  readonly refused: true;
  readonly row: LeaseRow | undefined;
}

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
    const t = this.times();
    const { workerId } = input.body;
    const outcome = await this.conditionalUpdate(
      input.shardId,
      takeCondition(workerId, t),
      takeUpdate(input.body, t),
    );
    if ('refused' in outcome) throw explainTakeRefusal(outcome.row, workerId, t);
    return outcome;
  }

  async checkpointSequence(shardId: string, request: CheckpointRequest): Promise<Lease> {
    const input = parseFields(
      { shardId: shardIdSchema, body: checkpointBodySchema },
      { shardId, body: request },
    );
    const t = this.times();
    const outcome = await this.conditionalUpdate(
      input.shardId,
      checkpointCondition(input.body, t),
      checkpointUpdate(input.body, t),
    );
    if ('refused' in outcome) throw explainCheckpointRefusal(outcome.row, input.body, t);
    return outcome;
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

  async removeLeaseInfo(shardId: string): Promise<void> {
    const input = parseFields({ shardId: shardIdSchema }, { shardId });
    await this.send(() =>
      this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: keyOf(input.shardId) })),
    );
  }

  async removeLeaseOwner(shardId: string, workerId: string): Promise<void> {
    const input = parseFields({ shardId: shardIdSchema, workerId: workerIdSchema }, { shardId, workerId });
    const outcome = await this.conditionalUpdate(
      input.shardId,
      releaseCondition(input.workerId),
      releaseUpdate(),
    );
    if ('refused' in outcome) throw explainReleaseRefusal(outcome.row, input.workerId);
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
    const t = this.times();
    const unique = [...new Set(input.body.shardIds)];
    const renewed: Lease[] = [];
    const lost: LostLease[] = [];
    await forEachBounded(unique, this.renewConcurrency, async (shardId) => {
      const outcome = await this.conditionalUpdate(
        shardId,
        renewCondition(input.workerId, t),
        takeUpdate({ workerId: input.workerId }, t),
      );
      if (!('refused' in outcome)) {
        renewed.push(outcome);
        return;
      }
      const refusal = explainRenewRefusal(outcome.row, input.workerId, t);
      lost.push(lostLease(shardId, refusal));
    });
    const order = new Map(unique.map((id, i) => [id, i]));
    const byRequestOrder = (a: { shardId: string }, b: { shardId: string }) =>
      (order.get(a.shardId) ?? 0) - (order.get(b.shardId) ?? 0);
    return { renewed: renewed.sort(byRequestOrder), lost: lost.sort(byRequestOrder) };
  }

  async claimShard(shardId: string, claimerId: string): Promise<Lease> {
    const input = parseFields(
      { shardId: shardIdSchema, body: claimBodySchema },
      { shardId, body: { workerId: claimerId } },
    );
    const t = this.times();
    const claimer = input.body.workerId;
    const outcome = await this.conditionalUpdate(input.shardId, claimCondition(t), claimUpdate(claimer, t));
    if (!('refused' in outcome)) return outcome;
    const refusal = explainClaimRefusal(outcome.row, input.shardId, claimer, t);
    if (refusal) throw refusal;
    // The caller's own claim is already pending: claiming again changes nothing.
    return toLease(outcome.row as LeaseRow);
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

  /** One conditional UpdateItem; on refusal, the row as it stood (one extra read if DynamoDB omits it). */
  private async conditionalUpdate(
    shardId: string,
    condition: Condition,
    update: RowUpdate,
  ): Promise<Lease | Refusal> {
    try {
      const out = await this.send(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: keyOf(shardId),
            ...compileExpressions({ condition, update }),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return toLease(fromItem(out.Attributes) ?? { [Attr.ShardId]: shardId });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const row = error.Item ? fromItem(error.Item) : await this.read(shardId);
      return { refused: true, row };
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
    return fromItem(out.Item);
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
