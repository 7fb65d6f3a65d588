/**
 * The lease table on DynamoDB: each write is one conditional UpdateItem or DeleteItem compiled from the
 * core's conditions, retried with backoff on throttling and transient faults. When DynamoDB refuses,
 * the row as it stood comes back with the refusal (ReturnValuesOnConditionCheckFailure) or, where the
 * server omits it (dynalite), from one consistent read. An answer that does not show the write is
 * never reported as written (unproven-answer.ts).
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
import type { InitResult } from '../core/checkpointer';
import type { Condition } from '../core/condition';
import { InvalidDynamoDbSchemaError } from '../core/errors';
import { Attr, type LeaseRow } from '../core/lease-row';
import type { ConditionalWrite, DeleteOutcome, RowPage, RowStore, UpdateOutcome } from '../core/row-store';
import { answerShowsUpdate, isWellFormed } from '../core/rules';
import { compileExpressions } from './expressions';
import { fromItem, keyOf } from './item';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from './retry';
import { createTableInput, schemaProblem } from './table-schema';
import { UnprovenAnswerError } from './unproven-answer';

export interface DynamoRowStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly retry?: RetryPolicy;
  /** Init creates a missing table (on-demand), as the local server wants. */
  readonly createTableIfMissing?: boolean;
}

function isConditionFailure(
  error: unknown,
): error is { name: string; Item?: Record<string, AttributeValue> } {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

export class DynamoRowStore implements RowStore {
  readonly tableName: string;
  private readonly client: DynamoDBClient;
  private readonly retry: RetryPolicy;
  private readonly createTableIfMissing: boolean;

  constructor(options: DynamoRowStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
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

  async update(shardId: string, build: () => ConditionalWrite): Promise<UpdateOutcome> {
    try {
      const written = await this.send(async () => {
        const write = build();
        const out = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: keyOf(shardId),
            ...compileExpressions(write),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        const row = fromItem(out.Attributes);
        if (!answerShowsUpdate(row, shardId, write.update)) {
          throw new UnprovenAnswerError('UpdateItem', shardId);
        }
        return row as LeaseRow;
      });
      return { written };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { refused: error.Item ? fromItem(error.Item) : await this.read(shardId) };
    }
  }

  async delete(shardId: string, build: () => Condition | undefined): Promise<DeleteOutcome> {
    try {
      await this.send(() => {
        const condition = build();
        return this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: keyOf(shardId),
            ...compileExpressions(condition ? { condition } : {}),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      });
      return { deleted: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { refused: error.Item ? fromItem(error.Item) : await this.read(shardId) };
    }
  }

  async read(shardId: string, attributes?: readonly string[]): Promise<LeaseRow | undefined> {
    const projection = attributes
      ? {
          ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a])),
        }
      : {};
    // A row under another key (or without one), or with a value of the wrong type, is a broken answer:
    // retried like a transient fault, as a write's unproven answer is.
    return this.send(async () => {
      const out = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: keyOf(shardId),
          ConsistentRead: true,
          ...projection,
        }),
      );
      const row = fromItem(out.Item);
      if (row && (row[Attr.ShardId] !== shardId || !isWellFormed(row))) {
        throw new UnprovenAnswerError('GetItem', shardId);
      }
      return row;
    });
  }

  async page(limit: number, afterShardId?: string): Promise<RowPage> {
    const out = await this.send(() =>
      this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          Limit: limit,
          ...(afterShardId !== undefined && { ExclusiveStartKey: keyOf(afterShardId) }),
        }),
      ),
    );
    const last = out.LastEvaluatedKey?.[Attr.ShardId]?.S;
    return {
      rows: (out.Items ?? []).map((item) => fromItem(item) as LeaseRow),
      ...(last !== undefined && { lastShardId: last }),
    };
  }

  /** Every row, page by page (a scan page holds at most 1 MB). */
  async *scan(options: { readonly consistent?: boolean } = {}): AsyncGenerator<LeaseRow> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: options.consistent ?? true,
            ...(start !== undefined && { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of out.Items ?? []) yield fromItem(item) as LeaseRow;
      start = out.LastEvaluatedKey;
    } while (start);
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
}
