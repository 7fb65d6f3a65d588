/** Test tables on the run's dynalite, and a client that counts the HTTP requests it sends. */
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../lib/core/clock';
import type { LeaseRow } from '../../lib/core/lease-row';
import type { LeaseTerms } from '../../lib/core/rules';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { keyOf, toItem } from '../../lib/store/item';

export function testEndpoint(): string {
  const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  if (!endpoint)
    throw new Error(
      'TEST_DYNAMODB_ENDPOINT is unset: run the tests through jest (global setup starts dynalite)',
    );
  return endpoint;
}

export interface CountingClient {
  readonly client: DynamoDBClient;
  /** Requests sent per DynamoDB operation name, since the last reset. */
  readonly counts: Map<string, number>;
  total(): number;
  reset(): void;
}

/** A real client (for the test dynalite by default), with a middleware that counts each request it puts on the wire. */
export function countingClient(endpoint: string = testEndpoint()): CountingClient {
  const client = createDynamoClient({ endpoint });
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'countRequests' },
  );
  return {
    client,
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
  };
}

export function uniqueTableName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface TestTable {
  readonly tableName: string;
  readonly checkpointer: DynamoCheckpointer;
  readonly io: CountingClient;
  /** Another checkpointer on the same table, e.g. with its own clock. */
  checkpointerWith(options: { clock?: Clock } & Partial<LeaseTerms>): DynamoCheckpointer;
}

export async function createTestTable(
  prefix: string,
  options: { clock?: Clock } & Partial<LeaseTerms> = {},
): Promise<TestTable> {
  const io = countingClient();
  const tableName = uniqueTableName(prefix);
  const make = (extra: { clock?: Clock } & Partial<LeaseTerms>) =>
    new DynamoCheckpointer({
      client: io.client,
      tableName,
      createTableIfMissing: true,
      ...options,
      ...extra,
    });
  const checkpointer = make({});
  await checkpointer.init();
  io.reset();
  return { tableName, checkpointer, io, checkpointerWith: make };
}

/** Writes rows as they are (no rule applied), 25 per BatchWriteItem, 16 batches in flight, until none is left unprocessed. */
export async function putRows(
  client: DynamoDBClient,
  tableName: string,
  rows: readonly LeaseRow[],
): Promise<void> {
  const batches: WriteRequest[][] = [];
  for (let i = 0; i < rows.length; i += 25) {
    batches.push(rows.slice(i, i + 25).map((row) => ({ PutRequest: { Item: toItem(row) } })));
  }
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      let pending = batches[next++] as WriteRequest[];
      while (pending.length > 0) {
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }));
        pending = out.UnprocessedItems?.[tableName] ?? [];
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
}

/** The row exactly as stored, read consistently. */
export async function rawItem(
  client: DynamoDBClient,
  tableName: string,
  shardId: string,
): Promise<Record<string, AttributeValue> | undefined> {
  const out = await client.send(
    new GetItemCommand({ TableName: tableName, Key: keyOf(shardId), ConsistentRead: true }),
  );
  return out.Item;
}
