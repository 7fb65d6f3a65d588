/**
 * On a refused write, real DynamoDB returns the row as it stood (ReturnValuesOnConditionCheckFailure:
 * ALL_OLD) and the checkpointer then needs no read. dynalite ignores that option, so a middleware adds
 * the row to dynalite's ConditionalCheckFailedException the way DynamoDB would: a stand-in for a
 * server behaviour dynalite cannot produce, nothing else.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  GetItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import { LeaseLostError, LeaseNotAcquiredError } from '../../lib/core/errors';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { countingClient, createTestTable, type TestTable, testEndpoint } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;

let table: TestTable;
let clock: ManualClock;
let withItem: DynamoCheckpointer;
const io = countingClient();
const reader = createDynamoClient({ endpoint: testEndpoint() });
const asked: (string | undefined)[] = [];

beforeAll(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('refusal-item', { clock, leaseDurationMs: LEASE });
  io.client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as UpdateItemCommandInput;
      asked.push(input.ReturnValuesOnConditionCheckFailure);
      try {
        return await next(args);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || !input.Key) throw error;
        const { Item } = await reader.send(
          new GetItemCommand({ TableName: input.TableName, Key: input.Key, ConsistentRead: true }),
        );
        (error as { Item?: Record<string, AttributeValue> }).Item = Item;
        throw error;
      }
    },
    { step: 'initialize', name: 'returnItemLikeDynamoDb' },
  );
  withItem = new DynamoCheckpointer({
    client: io.client,
    tableName: table.tableName,
    clock,
    leaseDurationMs: LEASE,
  });
});

afterAll(() => {
  io.client.destroy();
  reader.destroy();
  table.io.client.destroy();
});

describe('a refusal that carries the row, as DynamoDB sends it', () => {
  it('asks DynamoDB for the row with every conditional write', async () => {
    await withItem.getLease('shard-ask', { workerId: 'w1' });
    expect(asked.at(-1)).toBe('ALL_OLD');
  });

  it('explains a refused take from the returned row, with no read of its own', async () => {
    await table.checkpointer.getLease('shard-a', { workerId: 'w1' });
    io.reset();
    const error = await withItem.getLease('shard-a', { workerId: 'w2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseNotAcquiredError);
    expect((error as LeaseNotAcquiredError).details).toMatchObject({
      owner: 'w1',
      leaseTimeout: formatLeaseTime(T0 + LEASE),
    });
    expect(Object.fromEntries(io.counts)).toEqual({ UpdateItem: 1 });
  });

  it('explains a refused checkpoint from the returned row, with no read of its own', async () => {
    await table.checkpointer.getLease('shard-b', { workerId: 'w1' });
    io.reset();
    const error = await withItem
      .checkpointSequence('shard-b', { workerId: 'w2', checkpoint: '5' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseLostError).details).toMatchObject({ owner: 'w1' });
    expect(Object.fromEntries(io.counts)).toEqual({ UpdateItem: 1 });
  });
});
