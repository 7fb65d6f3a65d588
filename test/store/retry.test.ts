/**
 * Retries of throttling and transient faults on the real client. dynalite never throttles and never
 * fails with a 500, so a middleware on the SDK client injects those faults: THIS IS A MOCK of the
 * failure only. Requests it lets through go to the real dynalite, and non-retryable errors below are
 * real ones from dynalite.
 */
import {
  type DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { ThrottledError } from '../../lib/core/errors';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../lib/store/retry';
import { createTestTable, type TestTable, testEndpoint } from '../support/dynamo';

let table: TestTable;
beforeAll(async () => {
  table = await createTestTable('retry');
});

let n = 0;
const shard = () => `shardId-${String(++n).padStart(12, '0')}`;

const throttle = () =>
  new ProvisionedThroughputExceededException({
    message: 'Rate of requests exceeds the allowed throughput',
    $metadata: { httpStatusCode: 400 },
  });
const serverFault = () =>
  new InternalServerError({ message: 'Internal server error', $metadata: { httpStatusCode: 500 } });

/** A real client whose first `failures` attempts fail with `fault()` before reaching dynalite. */
function faultyClient(
  failures: number,
  fault: () => Error,
): { client: DynamoDBClient; attempts: () => number } {
  const client = createDynamoClient({ endpoint: testEndpoint() });
  let attempts = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      attempts++;
      if (attempts <= failures) throw fault();
      return next(args);
    },
    { step: 'finalizeRequest', name: 'injectFault' },
  );
  return { client, attempts: () => attempts };
}

/** The contract's policy, with its sleeps recorded instead of slept and the jitter at its top. */
function recordingPolicy(): { policy: RetryPolicy; sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    policy: {
      ...DEFAULT_RETRY_POLICY,
      random: () => 0.999_999,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  };
}

function checkpointerOn(client: DynamoDBClient, policy: RetryPolicy, tableName = table.tableName) {
  return new DynamoCheckpointer({ client, tableName, retry: policy });
}

describe('retries', () => {
  it('succeeds after three throttled attempts, having backed off three times', async () => {
    const { client, attempts } = faultyClient(3, throttle);
    const { policy, sleeps } = recordingPolicy();
    const id = shard();
    await expect(checkpointerOn(client, policy).getLease(id, { workerId: 'w1' })).resolves.toMatchObject({
      owner: 'w1',
      leaseCounter: 1,
    });
    expect(attempts()).toBe(4);
    expect(sleeps).toHaveLength(3);
    await expect(table.checkpointer.getLeaseOwner(id)).resolves.toBe('w1');
  });

  it('succeeds after transient 500s', async () => {
    const { client, attempts } = faultyClient(2, serverFault);
    const { policy } = recordingPolicy();
    const id = shard();
    await checkpointerOn(client, policy).getLease(id, { workerId: 'w1' });
    await expect(checkpointerOn(client, policy).fetchCheckpoint(id)).rejects.toMatchObject({
      code: 'SequenceIDNotFound',
    });
    expect(attempts()).toBe(4);
  });

  it('gives up with ThrottledError after 10 attempts in all (NumMaxRetries), writing nothing', async () => {
    const { client, attempts } = faultyClient(Number.POSITIVE_INFINITY, throttle);
    const { policy, sleeps } = recordingPolicy();
    const id = shard();
    const error = await checkpointerOn(client, policy)
      .getLease(id, { workerId: 'w1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({
      code: 'Throttled',
      message: 'DynamoDB throttled the request through 10 attempts',
    });
    expect((error as Error).cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    // The SDK's own retries are off: ten attempts, not ten of the SDK's three.
    expect(attempts()).toBe(10);
    expect(sleeps).toHaveLength(9);
    await expect(table.checkpointer.getLeaseOwner(id)).rejects.toMatchObject({ code: 'NoLeaseOwner' });
  });

  it('rethrows a fault that persists through 10 attempts as it is, not as throttling', async () => {
    const { client, attempts } = faultyClient(Number.POSITIVE_INFINITY, serverFault);
    const { policy } = recordingPolicy();
    await expect(checkpointerOn(client, policy).getLeaseOwner(shard())).rejects.toBeInstanceOf(
      InternalServerError,
    );
    expect(attempts()).toBe(10);
  });

  it('does not retry a real non-retryable error from dynalite', async () => {
    const { client, attempts } = faultyClient(0, throttle);
    const { policy, sleeps } = recordingPolicy();
    await expect(
      checkpointerOn(client, policy, 'no-such-table').getLease(shard(), { workerId: 'w1' }),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    expect(attempts()).toBe(1);
    await expect(checkpointerOn(client, policy, 'ab').getLeaseOwner(shard())).rejects.toMatchObject({
      name: 'ValidationException',
    });
    expect(attempts()).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('does not retry a refused conditional write: the refusal is an answer', async () => {
    const { client, attempts } = faultyClient(0, throttle);
    const { policy, sleeps } = recordingPolicy();
    const id = shard();
    await table.checkpointer.getLease(id, { workerId: 'w1' });
    await expect(checkpointerOn(client, policy).getLease(id, { workerId: 'w2' })).rejects.toMatchObject({
      code: 'LeaseNotAcquired',
    });
    // One UpdateItem, refused, and the one read of the row dynalite does not return.
    expect(attempts()).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('backs off exponentially with full jitter, capped at maxDelayMs', async () => {
    const { client } = faultyClient(Number.POSITIVE_INFINITY, throttle);
    const top = recordingPolicy();
    await checkpointerOn(client, top.policy)
      .getLeaseOwner(shard())
      .catch(() => undefined);
    const { baseDelayMs, maxDelayMs } = DEFAULT_RETRY_POLICY;
    expect(top.sleeps).toEqual(
      Array.from({ length: 9 }, (_, i) =>
        Math.floor(0.999_999 * Math.min(maxDelayMs, baseDelayMs * 2 ** (i + 1))),
      ),
    );
    expect(Math.max(...top.sleeps)).toBeLessThan(maxDelayMs);
    expect(top.sleeps.slice(-3)).toEqual([maxDelayMs - 1, maxDelayMs - 1, maxDelayMs - 1]);

    const bottom = { ...recordingPolicy() };
    const zero: RetryPolicy = { ...bottom.policy, random: () => 0 };
    await checkpointerOn(faultyClient(Number.POSITIVE_INFINITY, throttle).client, zero)
      .getLeaseOwner(shard())
      .catch(() => undefined);
    expect(bottom.sleeps).toEqual(Array(9).fill(0));
  });
});
