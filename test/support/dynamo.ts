/** Test tables on the run's dynalite, and a client that counts the HTTP requests it sends. */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../../lib/core/clock';
import type { LeaseTerms } from '../../lib/core/rules';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';

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

/** A real client for the test dynalite, with a middleware that counts each request it puts on the wire. */
export function countingClient(): CountingClient {
  const client = createDynamoClient({ endpoint: testEndpoint() });
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
