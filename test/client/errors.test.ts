import { errorFromResponse } from '../../lib/client/errors';
import {
  CheckpointRegressionError,
  type ErrorCode,
  InvalidDynamoDbSchemaError,
  LeaseLostError,
  LeaseNotAcquiredError,
  NoLeaseOwnerError,
  PayloadTooLargeError,
  SequenceIdNotFoundError,
  ShardClaimedError,
  ShardEndedError,
  ShardLeaseError,
  ShardNotAssignedError,
  ShardNotFoundError,
  ThrottledError,
  ValidationError,
} from '../../lib/core/errors';
import { problemFor } from '../../lib/http/problem';

const conflict = {
  owner: 'w1',
  leaseTimeout: '2026-11-24T19:10:41.123Z',
  claimRequest: 'w2',
  leaseCounter: 3,
};

/** One error of every code, as the core raises them. */
const EXAMPLES: Readonly<Record<ErrorCode, ShardLeaseError>> = {
  ValidationError: new ValidationError([
    { field: 'workerId', message: 'is required' },
    { field: 'shardIds.2', message: 'must be 1..128 of [a-zA-Z0-9_.-]' },
  ]),
  PayloadTooLarge: new PayloadTooLargeError(16384),
  NotFound: new ShardNotFoundError('shardId-1'),
  MethodNotAllowed: new ShardLeaseError('MethodNotAllowed', 'PATCH is not allowed on /shards/{shardId}'),
  LeaseNotAcquired: new LeaseNotAcquiredError('current lease timeout not yet expired', conflict),
  ShardClaimed: new ShardClaimedError(conflict),
  LeaseLost: new LeaseLostError('the shard is owned by w1', conflict),
  CheckpointRegression: new CheckpointRegressionError('99', { ...conflict, checkpoint: '100' }),
  SequenceIDNotFound: new SequenceIdNotFoundError({ owner: 'w1', leaseCounter: 1 }),
  NoLeaseOwner: new NoLeaseOwnerError(),
  ShardNotAssigned: new ShardNotAssignedError(['shardId-1', 'shardId-2']),
  ShardEnded: new ShardEndedError('shardId-1'),
  InvalidDynamoDBSchema: new InvalidDynamoDbSchemaError('leases', 'the table does not exist'),
  Throttled: new ThrottledError(10),
  Internal: new ShardLeaseError('Internal', 'internal error; the request id locates it in the logs'),
};

describe('errorFromResponse', () => {
  it.each(Object.keys(EXAMPLES) as ErrorCode[])(
    'rebuilds %s from its problem body as the same class, message and details',
    (code) => {
      const original = EXAMPLES[code];
      const { status, body } = problemFor(original, 'req-42');
      const rebuilt = errorFromResponse({ status, body, text: JSON.stringify(body), requestId: 'req-42' });
      expect(rebuilt.constructor).toBe(original.constructor);
      expect(rebuilt.code).toBe(code);
      expect(rebuilt.name).toBe(original.name);
      expect(rebuilt.message).toBe(original.message);
      expect(rebuilt.hint).toBe(original.hint);
      expect(rebuilt.details).toEqual({ ...original.details, status, requestId: 'req-42' });
      if (original instanceof ValidationError) {
        expect((rebuilt as ValidationError).issues).toEqual(original.issues);
      }
    },
  );

  it("keeps the server's hint, which may depend on the caller (an expired lease that still names it)", () => {
    const original = new LeaseLostError('the lease expired at 2026-11-24T19:10:41.123Z', conflict, 'expired');
    const { status, body } = problemFor(original, 'req-43');
    const rebuilt = errorFromResponse({ status, body, text: JSON.stringify(body), requestId: 'req-43' });
    expect(rebuilt.hint).toBe(original.hint);
    expect(rebuilt.hint).not.toContain('worker w1 does');
  });

  it('makes a 429 without a code Throttled, and anything else without one Internal', () => {
    const throttled = errorFromResponse({
      status: 429,
      body: { message: 'Too Many Requests' },
      text: '{"message":"Too Many Requests"}',
      requestId: 'gw-1',
    });
    expect(throttled).toMatchObject({ code: 'Throttled', message: 'HTTP 429: Too Many Requests' });
    expect(throttled.details).toEqual({ status: 429, requestId: 'gw-1' });
    const empty = errorFromResponse({ status: 503, body: undefined, text: '', requestId: undefined });
    expect(empty).toMatchObject({ code: 'Internal', message: 'HTTP 503' });
    expect(empty.details).toEqual({ status: 503 });
  });
});
