/**
 * The real Lambda entry files (lambda/*.ts, found through ROUTES' `entry`), invoked as Lambda invokes
 * them: an API Gateway HTTP API payload 2.0 event and a context, configured from the environment,
 * against the run's dynalite. Every response is held to openapi.json.
 */
import {
  DeleteTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ErrorCode } from '../../lib/core/errors';
import type * as LambdaHandlerModule from '../../lib/http/lambda-handler';
import type { HttpLambdaHandler } from '../../lib/http/lambda-handler';
import { OPERATION_NAMES, type OperationName, ROUTES } from '../../lib/http/routes';
import type * as DynamoCheckpointerModule from '../../lib/store/dynamo-checkpointer';
import { apiGatewayEvent, type EventOptions, lambdaContext, routeOf } from '../support/apigw-event';
import { countingClient, createTestTable, type TestTable, testEndpoint } from '../support/dynamo';
import { documentOperations, expectMatchesOpenApi, validatorFor } from '../support/openapi';

const LEASE_DURATION_MS = 600_000;
/** Not the default (120000), so that DescribeTerms shows it states the configured value. */
const CLAIM_TIMEOUT_MS = 900_000;

let table: TestTable;
/** `operation status code` of every reply, for the coverage check at the end. */
const observed = new Set<string>();
const handlers = {} as Record<OperationName, HttpLambdaHandler>;

/**
 * Modules that make a Logger are imported only after POWERTOOLS_LOG_LEVEL is set (it is read when the
 * Logger is made), so they are loaded here rather than by static imports, which run first.
 */
function importFromRoot<T>(path: string): Promise<T> {
  return import(`../../${path}`);
}

async function importHandler(entry: string): Promise<HttpLambdaHandler> {
  return (await importFromRoot<{ handler: HttpLambdaHandler }>(`lambda/${entry}`)).handler;
}

beforeAll(async () => {
  table = await createTestTable('lambda-handlers');
  // The handlers read their configuration on first invocation; the logger reads its level at import.
  process.env.TABLE_NAME = table.tableName;
  process.env.DYNAMODB_ENDPOINT = testEndpoint();
  process.env.LEASE_DURATION_MS = String(LEASE_DURATION_MS);
  process.env.CLAIM_TIMEOUT_MS = String(CLAIM_TIMEOUT_MS);
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  for (const route of ROUTES) handlers[route.name] = await importHandler(route.entry);
});

interface Reply {
  readonly statusCode: number;
  readonly headers: Record<string, unknown>;
  readonly rawBody: string | undefined;
  // The body is whatever JSON the handler sent; each test states the shape it expects.
  // biome-ignore lint/suspicious/noExplicitAny: tests read fields of arbitrary response bodies
  readonly body: any;
  readonly requestId: string;
}

async function invokeWith(
  handler: HttpLambdaHandler,
  name: OperationName,
  options: EventOptions = {},
): Promise<Reply> {
  const event = apiGatewayEvent(name, options);
  const context = lambdaContext(`${routeOf(name).id}Function`);
  const result = await handler(event, context);
  const headers = (result.headers ?? {}) as Record<string, unknown>;
  const status = result.statusCode ?? 0;
  const body = result.body ? JSON.parse(result.body) : undefined;
  observed.add(status >= 400 ? `${name} ${status} ${body?.code}` : `${name} ${status}`);
  const contentType = headers['content-type'];
  expectMatchesOpenApi({
    method: event.requestContext.http.method,
    path: event.rawPath,
    status,
    ...(typeof contentType === 'string' && { contentType }),
    body: result.body,
  });
  return {
    statusCode: status,
    headers,
    rawBody: result.body,
    body,
    requestId: context.awsRequestId,
  };
}

const invoke = (name: OperationName, options: EventOptions = {}) => invokeWith(handlers[name], name, options);

let n = 0;
const newShard = () => `shardId-${String(++n).padStart(12, '0')}`;

async function rowOf(shardId: string, client: DynamoDBClient = table.io.client) {
  const out = await client.send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: { ShardID: { S: shardId } },
      ConsistentRead: true,
    }),
  );
  return out.Item;
}

const take = (shardId: string, workerId: string, extra: Record<string, unknown> = {}) =>
  invoke('getLease', { pathParameters: { shardId }, body: { workerId, ...extra } });

const fieldsOf = (reply: Reply): string[] => reply.body.fields.map((f: { field: string }) => f.field);

describe('the Lambda entry files', () => {
  it('export a handler for every route of ROUTES', () => {
    // Which operation each one serves shows below: every reply is checked against its route's operation.
    expect(OPERATION_NAMES.filter((name) => typeof handlers[name] !== 'function')).toEqual([]);
  });
});

describe('Init (POST /init)', () => {
  it('reports the table and its status', async () => {
    const reply = await invoke('init');
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.body).toEqual({ table: table.tableName, status: 'ACTIVE' });
  });

  it('fails with 400 naming an unknown query parameter', async () => {
    const reply = await invoke('init', { query: { create: 'true' } });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['create']);
  });
});

describe('GetLease (POST /shards/{shardId}/lease)', () => {
  it('takes a free shard: owner set, lease timeout one lease duration ahead, lease counter 1', async () => {
    const shardId = newShard();
    const before = Date.now();
    const reply = await take(shardId, 'worker-a');
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({
      shardId,
      owner: 'worker-a',
      leaseTimeout: expect.any(String),
      leaseCounter: 1,
    });
    const timeoutMs = Date.parse(reply.body.leaseTimeout);
    expect(timeoutMs).toBeGreaterThanOrEqual(before + LEASE_DURATION_MS - 1);
    expect(timeoutMs).toBeLessThanOrEqual(Date.now() + LEASE_DURATION_MS);
    expect((await rowOf(shardId))?.AssignedTo?.S).toBe('worker-a');
  });

  it('renews the caller’s own lease and keeps the lease counter', async () => {
    const shardId = newShard();
    const first = await take(shardId, 'worker-a');
    const reply = await take(shardId, 'worker-a');
    expect(reply.statusCode).toBe(200);
    expect(reply.body.leaseCounter).toBe(1);
    expect(reply.body.leaseTimeout >= first.body.leaseTimeout).toBe(true);
  });

  it('records the parent shard and an initial checkpoint, without leading zeros', async () => {
    const shardId = newShard();
    const reply = await take(shardId, 'worker-a', { parentShardId: 'shardId-parent', checkpoint: '00042' });
    expect(reply.body).toMatchObject({ parentShardId: 'shardId-parent', checkpoint: '42' });
  });

  it('reads a base64-encoded body as API Gateway passes binary media', async () => {
    const shardId = newShard();
    const reply = await invoke('getLease', {
      pathParameters: { shardId },
      body: { workerId: 'worker-é' },
      base64: true,
    });
    expect(reply.statusCode).toBe(200);
    expect(reply.body.owner).toBe('worker-é');
  });

  it('fails with LeaseNotAcquired (409) carrying the current owner, timeout and counter', async () => {
    const shardId = newShard();
    const held = await take(shardId, 'worker-a');
    const reply = await take(shardId, 'worker-b');
    expect(reply.statusCode).toBe(409);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(reply.body).toEqual({
      code: 'LeaseNotAcquired',
      message: 'lease not acquired: current lease timeout not yet expired',
      // The plain explanation names the owner and the expiry, and says what to do.
      hint: expect.stringMatching(
        /worker-a holds a live lease on this shard until .+; wait until it expires/,
      ),
      owner: 'worker-a',
      leaseTimeout: held.body.leaseTimeout,
      leaseCounter: 1,
      requestId: reply.requestId,
    });
  });

  it('fails with ShardClaimed (409) when the owner renews a shard another worker has claimed', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await invoke('claimShard', { pathParameters: { shardId }, body: { workerId: 'worker-b' } });
    const reply = await take(shardId, 'worker-a');
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'ShardClaimed', owner: 'worker-a', claimRequest: 'worker-b' });
  });

  it('accepts a body of exactly 16 KiB', async () => {
    const shardId = newShard();
    const json = JSON.stringify({ workerId: 'worker-a' });
    const reply = await invoke('getLease', {
      pathParameters: { shardId },
      body: json.padEnd(16 * 1024, ' '),
    });
    expect(reply.statusCode).toBe(200);
  });

  it('fails with PayloadTooLarge (413) for a body over 16 KiB, and changes nothing', async () => {
    const shardId = newShard();
    const json = JSON.stringify({ workerId: 'worker-a' });
    const reply = await invoke('getLease', {
      pathParameters: { shardId },
      body: json.padEnd(16 * 1024 + 1, ' '),
    });
    expect(reply.statusCode).toBe(413);
    expect(reply.body).toEqual({
      code: 'PayloadTooLarge',
      message: 'body: larger than 16384 bytes',
      field: 'body',
      limitBytes: 16384,
      requestId: reply.requestId,
    });
    expect(await rowOf(shardId)).toBeUndefined();
  });

  it('measures the limit on the decoded body when it comes base64-encoded', async () => {
    const shardId = newShard();
    const body = JSON.stringify({ workerId: 'w' }).padEnd(16 * 1024 + 1, ' ');
    const reply = await invoke('getLease', { pathParameters: { shardId }, body, base64: true });
    expect(reply.statusCode).toBe(413);
  });

  it('fails with 400 naming `body` when the body is not JSON, and changes nothing', async () => {
    const shardId = newShard();
    const reply = await invoke('getLease', { pathParameters: { shardId }, body: '{"workerId": "w"' });
    expect(reply.statusCode).toBe(400);
    expect(reply.body).toEqual({
      code: 'ValidationError',
      message: 'body: is not valid JSON',
      hint: 'nothing was changed; correct the fields named and send the request again',
      fields: [{ field: 'body', message: 'is not valid JSON' }],
      requestId: reply.requestId,
    });
    expect(await rowOf(shardId)).toBeUndefined();
  });

  it('fails with 400 naming `body` when there is no body, or it is not an object', async () => {
    const shardId = newShard();
    for (const body of [undefined, '[]', '"worker-a"', 'null']) {
      const reply = await invoke('getLease', { pathParameters: { shardId }, body });
      expect({ body, status: reply.statusCode, fields: fieldsOf(reply) }).toEqual({
        body,
        status: 400,
        fields: ['body'],
      });
    }
  });

  it('fails with 400 naming an unknown field, and changes nothing', async () => {
    const shardId = newShard();
    const reply = await take(shardId, 'worker-a', { leaseCounter: 7 });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.fields).toEqual([{ field: 'leaseCounter', message: 'is not a known field' }]);
    expect(await rowOf(shardId)).toBeUndefined();
  });

  it('fails with 400 naming every bad field at once: path, query and body', async () => {
    const reply = await invoke('getLease', {
      pathParameters: { shardId: 'not a shard' },
      query: { force: '1' },
      body: { workerId: '', checkpoint: '12x' },
    });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply).sort()).toEqual(['checkpoint', 'force', 'shardId', 'workerId']);
  });
});

describe('CheckpointSequence (PUT /shards/{shardId}/checkpoint)', () => {
  const checkpoint = (shardId: string, body: Record<string, unknown>) =>
    invoke('checkpoint', { pathParameters: { shardId }, body });

  it('records the owner’s checkpoint, fenced by the lease counter', async () => {
    const shardId = newShard();
    const lease = await take(shardId, 'worker-a');
    const reply = await checkpoint(shardId, {
      workerId: 'worker-a',
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
      leaseCounter: lease.body.leaseCounter,
    });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      shardId,
      owner: 'worker-a',
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
      checkpointedAt: expect.any(String),
    });
  });

  it('fails with LeaseLost (409) naming the owner when another worker holds the lease', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const reply = await checkpoint(shardId, { workerId: 'worker-b', checkpoint: '1' });
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'LeaseLost', owner: 'worker-a', leaseCounter: 1 });
  });

  it('fails with LeaseLost (409) when the lease counter has moved on', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await invoke('removeLeaseOwner', { pathParameters: { shardId }, query: { workerId: 'worker-a' } });
    await take(shardId, 'worker-a');
    const reply = await checkpoint(shardId, { workerId: 'worker-a', checkpoint: '1', leaseCounter: 1 });
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'LeaseLost', leaseCounter: 2 });
  });

  it('fails with CheckpointRegression (409) and changes nothing when the checkpoint goes backwards', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await checkpoint(shardId, { workerId: 'worker-a', checkpoint: '100' });
    const reply = await checkpoint(shardId, { workerId: 'worker-a', checkpoint: '99' });
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'CheckpointRegression', checkpoint: '100', requested: '99' });
    expect((await rowOf(shardId))?.Checkpoint?.S).toBe('100');
  });

  it('fails with 400 naming `checkpoint` when it is missing', async () => {
    const reply = await checkpoint(newShard(), { workerId: 'worker-a' });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['checkpoint']);
  });
});

describe('FetchCheckpoint (GET /shards/{shardId}/checkpoint)', () => {
  it('returns the lease with its checkpoint', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a', { checkpoint: '5', parentShardId: 'shardId-p' });
    const reply = await invoke('fetchCheckpoint', { pathParameters: { shardId } });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({
      shardId,
      owner: 'worker-a',
      checkpoint: '5',
      parentShardId: 'shardId-p',
      leaseCounter: 1,
    });
  });

  it('fails with SequenceIDNotFound (404) for a shard without a checkpoint, or without a row', async () => {
    const leased = newShard();
    await take(leased, 'worker-a');
    const withRow = await invoke('fetchCheckpoint', { pathParameters: { shardId: leased } });
    expect(withRow.statusCode).toBe(404);
    expect(withRow.body).toMatchObject({
      code: 'SequenceIDNotFound',
      message: 'SequenceIDNotFoundForShard',
      owner: 'worker-a',
    });
    const noRow = await invoke('fetchCheckpoint', { pathParameters: { shardId: newShard() } });
    expect(noRow.statusCode).toBe(404);
    expect(noRow.body.code).toBe('SequenceIDNotFound');
  });

  it('fails with 400 naming `shardId` for a shard id with a slash (percent-encoded in the path)', async () => {
    const reply = await invoke('fetchCheckpoint', { pathParameters: { shardId: 'a/b' } });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['shardId']);
  });
});

describe('RemoveLeaseOwner (DELETE /shards/{shardId}/lease)', () => {
  it('releases the owner’s lease with 204 and no body', async () => {
    const shardId = newShard();
    await take(shardId, 'worker a/1');
    const reply = await invoke('removeLeaseOwner', {
      pathParameters: { shardId },
      query: { workerId: 'worker a/1' },
    });
    expect(reply.statusCode).toBe(204);
    expect(reply.rawBody).toBeUndefined();
    expect((await rowOf(shardId))?.AssignedTo).toBeUndefined();
  });

  it('fails with LeaseLost (409) when the caller is not the owner, and changes nothing', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const reply = await invoke('removeLeaseOwner', {
      pathParameters: { shardId },
      query: { workerId: 'worker-b' },
    });
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'LeaseLost', owner: 'worker-a' });
    expect((await rowOf(shardId))?.AssignedTo?.S).toBe('worker-a');
  });

  it('releases only the lease with the given counter: a late release leaves the caller’s newer lease alone', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const release = (leaseCounter: string) =>
      invoke('removeLeaseOwner', {
        pathParameters: { shardId },
        query: { workerId: 'worker-a', leaseCounter },
      });
    expect((await release('1')).statusCode).toBe(204);
    const again = await take(shardId, 'worker-a');
    expect(again.body.leaseCounter).toBe(2);
    // The first lease's release, repeated late: answered 204, and the second lease stays.
    expect((await release('1')).statusCode).toBe(204);
    expect((await rowOf(shardId))?.AssignedTo?.S).toBe('worker-a');
    expect((await release('2')).statusCode).toBe(204);
    expect((await rowOf(shardId))?.AssignedTo).toBeUndefined();
  });

  it('fails with 400 naming `workerId` when the query has none', async () => {
    const reply = await invoke('removeLeaseOwner', { pathParameters: { shardId: newShard() } });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['workerId']);
  });
});

describe('GetLeaseOwner (GET /shards/{shardId}/owner)', () => {
  it('returns the owner', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const reply = await invoke('getLeaseOwner', { pathParameters: { shardId } });
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toEqual({ shardId, owner: 'worker-a' });
  });

  it('fails with NoLeaseOwner (404) for a released lease', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await invoke('removeLeaseOwner', { pathParameters: { shardId }, query: { workerId: 'worker-a' } });
    const reply = await invoke('getLeaseOwner', { pathParameters: { shardId } });
    expect(reply.statusCode).toBe(404);
    expect(reply.body).toEqual({
      code: 'NoLeaseOwner',
      // The Go library's message stays; the hint says it in plain words.
      message: 'no LeaseOwner in checkpoints table',
      hint: expect.stringMatching(/^no worker holds a lease on this shard .*any worker may take it$/),
      requestId: reply.requestId,
    });
  });
});

describe('RemoveLeaseInfo (DELETE /shards/{shardId})', () => {
  it('deletes the owner’s own row with 204, and answers 204 again when it is already gone', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const first = await invoke('removeLeaseInfo', {
      pathParameters: { shardId },
      query: { workerId: 'worker-a' },
    });
    expect(first.statusCode).toBe(204);
    expect(await rowOf(shardId)).toBeUndefined();
    const again = await invoke('removeLeaseInfo', { pathParameters: { shardId } });
    expect(again.statusCode).toBe(204);
  });

  it('fails with LeaseNotAcquired (409) naming the owner while another worker holds a live lease, and keeps the row', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const queries: Array<Record<string, string> | undefined> = [
      undefined,
      { workerId: 'worker-b' },
      { force: 'false' },
    ];
    for (const query of queries) {
      const reply = await invoke('removeLeaseInfo', { pathParameters: { shardId }, ...(query && { query }) });
      expect(reply.statusCode).toBe(409);
      expect(reply.body).toMatchObject({ code: 'LeaseNotAcquired', owner: 'worker-a' });
    }
    expect((await rowOf(shardId))?.AssignedTo?.S).toBe('worker-a');
  });

  it('deletes a live lease’s row with force=true (an admin action)', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const reply = await invoke('removeLeaseInfo', { pathParameters: { shardId }, query: { force: 'true' } });
    expect(reply.statusCode).toBe(204);
    expect(await rowOf(shardId)).toBeUndefined();
  });

  it('fails with 400 naming `force` when it is not true or false, and changes nothing', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const reply = await invoke('removeLeaseInfo', { pathParameters: { shardId }, query: { force: 'yes' } });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['force']);
    expect(await rowOf(shardId)).toBeDefined();
  });
});

describe('ClaimShard (POST /shards/{shardId}/claim)', () => {
  const claim = (shardId: string, workerId: string) =>
    invoke('claimShard', { pathParameters: { shardId }, body: { workerId } });

  it('records the claim, and claiming again as the same worker changes nothing', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    const first = await claim(shardId, 'worker-b');
    expect(first.statusCode).toBe(200);
    expect(first.body).toMatchObject({
      owner: 'worker-a',
      claimRequest: 'worker-b',
      claimedAt: expect.any(String),
    });
    const again = await claim(shardId, 'worker-b');
    expect(again.statusCode).toBe(200);
    expect(again.body.claimedAt).toBe(first.body.claimedAt);
  });

  it('fails with ShardClaimed (409) when another worker’s claim is pending', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await claim(shardId, 'worker-b');
    const reply = await claim(shardId, 'worker-c');
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'ShardClaimed', claimRequest: 'worker-b' });
  });

  it('fails with NotFound (404) for a shard with no row, and creates none', async () => {
    const shardId = newShard();
    const reply = await claim(shardId, 'worker-b');
    expect(reply.statusCode).toBe(404);
    expect(reply.body).toMatchObject({ code: 'NotFound', shardId });
    expect(await rowOf(shardId)).toBeUndefined();
  });

  it('fails with ShardEnded (409) for a shard checkpointed at SHARD_END', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await invoke('checkpoint', {
      pathParameters: { shardId },
      body: { workerId: 'worker-a', checkpoint: 'SHARD_END' },
    });
    const reply = await claim(shardId, 'worker-b');
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({ code: 'ShardEnded', shardId });
  });
});

describe('WithdrawClaim (DELETE /shards/{shardId}/claim)', () => {
  const claim = (shardId: string, workerId: string) =>
    invoke('claimShard', { pathParameters: { shardId }, body: { workerId } });
  const withdraw = (shardId: string, query?: Record<string, string>) =>
    invoke('withdrawClaim', { pathParameters: { shardId }, ...(query && { query }) });

  it('takes back the caller’s claim with 204 and no body, so that the owner renews again', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await claim(shardId, 'worker b/1');
    const reply = await withdraw(shardId, { workerId: 'worker b/1' });
    expect(reply.statusCode).toBe(204);
    expect(reply.rawBody).toBeUndefined();
    const row = await rowOf(shardId);
    expect(row?.ClaimRequest).toBeUndefined();
    expect(row?.ClaimedAt).toBeUndefined();
    expect(row?.AssignedTo?.S).toBe('worker-a');
    const renewal = await take(shardId, 'worker-a');
    expect(renewal.statusCode).toBe(200);
    expect(renewal.body.leaseCounter).toBe(1);
  });

  it('answers 204 and changes nothing for another worker’s claim, an unclaimed shard or no row', async () => {
    const [claimed, unclaimed, none] = [newShard(), newShard(), newShard()];
    await take(claimed, 'worker-a');
    await claim(claimed, 'worker-b');
    await take(unclaimed, 'worker-a');
    const before = [await rowOf(claimed), await rowOf(unclaimed)];
    for (const shardId of [claimed, unclaimed, none]) {
      expect((await withdraw(shardId, { workerId: 'worker-c' })).statusCode).toBe(204);
    }
    expect([await rowOf(claimed), await rowOf(unclaimed)]).toEqual(before);
    expect(await rowOf(none)).toBeUndefined();
  });

  it('fails with 400 naming `workerId` when the query has none or a bad one, and changes nothing', async () => {
    const shardId = newShard();
    await take(shardId, 'worker-a');
    await claim(shardId, 'worker-b');
    const before = await rowOf(shardId);
    for (const query of [undefined, { workerId: '' }, { workerId: 'w'.repeat(257) }]) {
      const reply = await withdraw(shardId, query);
      expect([query, reply.statusCode, fieldsOf(reply)]).toEqual([query, 400, ['workerId']]);
    }
    expect(await rowOf(shardId)).toEqual(before);
  });

  it('fails with 400 naming `shardId` for a bad shard id, and an unknown query parameter by name', async () => {
    const badShard = await withdraw('a b', { workerId: 'worker-b' });
    expect(badShard.statusCode).toBe(400);
    expect(fieldsOf(badShard)).toEqual(['shardId']);
    const unknown = await withdraw(newShard(), { workerId: 'worker-b', force: 'true' });
    expect(unknown.statusCode).toBe(400);
    expect(fieldsOf(unknown)).toEqual(['force']);
  });

  it('fails with 400 naming `body` for a body, saying the worker goes in the query string', async () => {
    const reply = await invoke('withdrawClaim', {
      pathParameters: { shardId: newShard() },
      body: { workerId: 'worker-b' },
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.body.fields).toEqual([
      {
        field: 'body',
        message:
          'must be empty: DELETE /shards/{shardId}/claim takes no body; send workerId in the query string (?workerId=…)',
      },
    ]);
  });
});

describe('DescribeTerms (GET /terms)', () => {
  it('states the LEASE_DURATION_MS and CLAIM_TIMEOUT_MS the function was configured with', async () => {
    const reply = await invoke('describeTerms');
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.body).toEqual({ leaseDurationMs: LEASE_DURATION_MS, claimTimeoutMs: CLAIM_TIMEOUT_MS });
  });

  it('reads nothing from the table', async () => {
    const { createHttpHandler, logger } =
      await importFromRoot<typeof LambdaHandlerModule>('lib/http/lambda-handler');
    const { DynamoCheckpointer } = await importFromRoot<typeof DynamoCheckpointerModule>(
      'lib/store/dynamo-checkpointer',
    );
    const io = countingClient();
    const checkpointer = new DynamoCheckpointer({
      client: io.client,
      tableName: table.tableName,
      leaseDurationMs: 1_234,
      claimTimeoutMs: 5_678,
    });
    const handler = createHttpHandler('describeTerms', () => ({ logger, checkpointer }));
    const reply = await invokeWith(handler, 'describeTerms');
    expect(reply.body).toEqual({ leaseDurationMs: 1_234, claimTimeoutMs: 5_678 });
    expect(io.total()).toBe(0);
    io.client.destroy();
  });

  it('fails with 400 naming an unknown query parameter, and a body', async () => {
    const query = await invoke('describeTerms', { query: { workerId: 'worker-a' } });
    expect(query.statusCode).toBe(400);
    expect(fieldsOf(query)).toEqual(['workerId']);
    const body = await invoke('describeTerms', { body: {} });
    expect(body.statusCode).toBe(400);
    expect(fieldsOf(body)).toEqual(['body']);
  });
});

describe('ListActiveWorkers (GET /workers)', () => {
  it('lists each worker’s live leases and the unassigned shards of the asked set', async () => {
    const [a1, a2, free, unknown] = [newShard(), newShard(), newShard(), newShard()];
    await take(a1, 'worker-list-a');
    await take(a2, 'worker-list-a');
    await take(free, 'worker-list-b');
    await invoke('removeLeaseOwner', {
      pathParameters: { shardId: free },
      query: { workerId: 'worker-list-b' },
    });
    const reply = await invoke('listActiveWorkers', {
      query: { shardIds: [a1, a2, free, unknown].join(',') },
    });
    expect(reply.statusCode).toBe(200);
    expect(Object.keys(reply.body.workers)).toEqual(['worker-list-a']);
    expect(reply.body.workers['worker-list-a'].map((l: { shardId: string }) => l.shardId).sort()).toEqual(
      [a1, a2].sort(),
    );
    expect(reply.body.unassigned).toEqual([free, unknown].sort());
  });

  it('fails with ShardNotAssigned (409) listing the unassigned shards when strict', async () => {
    const [held, unknown] = [newShard(), newShard()];
    await take(held, 'worker-a');
    const reply = await invoke('listActiveWorkers', {
      query: { shardIds: `${held},${unknown}`, strict: 'true' },
    });
    expect(reply.statusCode).toBe(409);
    expect(reply.body).toMatchObject({
      code: 'ShardNotAssigned',
      message: 'AssignedToNotFoundForShard',
      shardIds: [unknown],
    });
  });

  it('fails with 400 naming `strict` and `shardIds` when they are malformed', async () => {
    const reply = await invoke('listActiveWorkers', { query: { shardIds: 'a,,b', strict: 'yes' } });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply).sort()).toEqual(['shardIds.1', 'strict']);
  });
});

describe('ListShards (GET /shards)', () => {
  it('pages through every row of the table, each exactly once', async () => {
    for (let i = 0; i < 5; i++) await take(newShard(), 'worker-pages');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const reply = await invoke('listShards', { query: { limit: '3', ...(cursor && { cursor }) } });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.shards.length).toBeLessThanOrEqual(3);
      seen.push(...reply.body.shards.map((l: { shardId: string }) => l.shardId));
      cursor = reply.body.nextCursor;
    } while (cursor);
    const all = await table.checkpointer.listShards({ limit: 1000 });
    expect(seen.sort()).toEqual(all.shards.map((l) => l.shardId).sort());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('fails with 400 naming `limit` out of range and a `cursor` it never returned', async () => {
    const tooMany = await invoke('listShards', { query: { limit: '1001' } });
    expect(tooMany.statusCode).toBe(400);
    expect(fieldsOf(tooMany)).toEqual(['limit']);
    const forged = await invoke('listShards', {
      query: { cursor: Buffer.from('a b').toString('base64url') },
    });
    expect(forged.statusCode).toBe(400);
    expect(fieldsOf(forged)).toEqual(['cursor']);
  });
});

describe('Heartbeat (POST /workers/{workerId}/heartbeat)', () => {
  it('renews the held leases by their counters and answers with the worker’s plan', async () => {
    const worker = 'hb worker/1';
    const [mine, stale] = [newShard(), newShard()];
    const held = await take(mine, worker);
    await take(stale, worker);
    const reply = await invoke('heartbeat', {
      pathParameters: { workerId: worker },
      body: {
        held: [
          { shardId: mine, leaseCounter: held.body.leaseCounter },
          { shardId: stale, leaseCounter: 99 },
        ],
        capacity: 10,
      },
    });
    expect(reply.statusCode).toBe(200);
    expect(reply.body.renewed.map((l: { shardId: string }) => l.shardId)).toEqual([mine]);
    expect(reply.body.lost).toEqual([expect.objectContaining({ shardId: stale, code: 'LeaseLost' })]);
    expect(reply.body).toMatchObject({
      failed: [],
      take: expect.any(Array),
      steals: expect.any(Array),
      overdue: expect.any(Array),
    });
    expect(typeof reply.body.target).toBe('number');
    // The service states its lease terms in every answer: workers pace themselves by them.
    expect(reply.body.terms).toEqual({
      leaseDurationMs: LEASE_DURATION_MS,
      claimTimeoutMs: CLAIM_TIMEOUT_MS,
    });
  });

  it('fails with 400 naming the bad lease fields, and renews nothing', async () => {
    const reply = await invoke('heartbeat', {
      pathParameters: { workerId: 'w' },
      body: { held: [{ shardId: 'a b', leaseCounter: -1 }] },
    });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['held.0.shardId', 'held.0.leaseCounter']);
  });
});

describe('RenewLeases (POST /workers/{workerId}/renew)', () => {
  it('renews the worker’s leases and reports the others as lost, in request order', async () => {
    const worker = 'host 10.0.0.7/pid 42';
    const [mine1, theirs, mine2, none] = [newShard(), newShard(), newShard(), newShard()];
    await take(mine1, worker);
    await take(theirs, 'worker-other');
    await take(mine2, worker);
    const reply = await invoke('renewLeases', {
      pathParameters: { workerId: worker },
      body: { shardIds: [mine1, theirs, mine2, none] },
    });
    expect(reply.statusCode).toBe(200);
    expect(
      reply.body.renewed.map((l: { shardId: string; leaseCounter: number }) => [l.shardId, l.leaseCounter]),
    ).toEqual([
      [mine1, 1],
      [mine2, 1],
    ]);
    expect(reply.body.failed).toEqual([]);
    expect(reply.body.lost).toEqual([
      expect.objectContaining({ shardId: theirs, code: 'LeaseLost', owner: 'worker-other' }),
      expect.objectContaining({ shardId: none, code: 'LeaseLost' }),
    ]);
    expect(await rowOf(none)).toBeUndefined();
  });

  it('fails with 400 naming `shardIds` for more than 100 shards, and changes nothing', async () => {
    const shardIds = Array.from({ length: 101 }, () => newShard());
    const reply = await invoke('renewLeases', {
      pathParameters: { workerId: 'worker-a' },
      body: { shardIds },
    });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['shardIds']);
  });

  it('fails with 400 naming `workerId` for a worker id with a control character', async () => {
    const reply = await invoke('renewLeases', {
      pathParameters: { workerId: 'worker\u0007' },
      body: { shardIds: [newShard()] },
    });
    expect(reply.statusCode).toBe(400);
    expect(fieldsOf(reply)).toEqual(['workerId']);
  });
});

describe('faults', () => {
  /** Fresh copies of the handler modules, configured for a table that was deleted after it was made. */
  async function handlersOnDeletedTable(): Promise<Record<'getLease' | 'init', HttpLambdaHandler>> {
    const doomed = await createTestTable('lambda-deleted');
    await doomed.io.client.send(new DeleteTableCommand({ TableName: doomed.tableName }));
    await waitUntilTableNotExists(
      { client: doomed.io.client, maxWaitTime: 30, minDelay: 1 },
      { TableName: doomed.tableName },
    );
    const tableName = process.env.TABLE_NAME;
    process.env.TABLE_NAME = doomed.tableName;
    try {
      let loaded: Record<'getLease' | 'init', HttpLambdaHandler> | undefined;
      await jest.isolateModulesAsync(async () => {
        loaded = { getLease: await importHandler('get-lease'), init: await importHandler('init') };
        // Configuration is read on the first invocation: make it while TABLE_NAME names the deleted table.
        await loaded.init(apiGatewayEvent('init'), lambdaContext());
      });
      if (!loaded) throw new Error('handlers not loaded');
      return loaded;
    } finally {
      process.env.TABLE_NAME = tableName;
    }
  }

  it('answers a DynamoDB fault with 500 Internal and the request id only', async () => {
    const { getLease } = await handlersOnDeletedTable();
    const reply = await invokeWith(getLease, 'getLease', {
      pathParameters: { shardId: newShard() },
      body: { workerId: 'worker-a' },
    });
    expect(reply.statusCode).toBe(500);
    expect(reply.body).toEqual({
      code: 'Internal',
      message: 'internal error; the request id locates it in the logs',
      requestId: reply.requestId,
    });
    expect(reply.rawBody).not.toMatch(/lambda-deleted|ResourceNotFound|stack|at .*\.ts/);
  });

  it('answers Init on a missing table with 500 InvalidDynamoDBSchema naming the table', async () => {
    const { init } = await handlersOnDeletedTable();
    const reply = await invokeWith(init, 'init');
    expect(reply.statusCode).toBe(500);
    expect(reply.body).toMatchObject({
      code: 'InvalidDynamoDBSchema',
      table: expect.stringMatching(/^lambda-deleted-/),
    });
  });
});

describe('throttling', () => {
  it('answers DynamoDB throttling through all 10 attempts with 429 Throttled', async () => {
    const { createHttpHandler, logger } =
      await importFromRoot<typeof LambdaHandlerModule>('lib/http/lambda-handler');
    const { DynamoCheckpointer } = await importFromRoot<typeof DynamoCheckpointerModule>(
      'lib/store/dynamo-checkpointer',
    );
    const io = countingClient();
    // dynalite never throttles, so this fault is injected: every request gets DynamoDB's throttling error.
    io.client.middlewareStack.add(
      () => async () => {
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      },
      { step: 'finalizeRequest', name: 'throttleEverything' },
    );
    const checkpointer = new DynamoCheckpointer({
      client: io.client,
      tableName: table.tableName,
      retry: { maxAttempts: 10, baseDelayMs: 0, maxDelayMs: 0 },
    });
    const handler = createHttpHandler('getLease', () => ({ logger, checkpointer }));
    const reply = await invokeWith(handler, 'getLease', {
      pathParameters: { shardId: newShard() },
      body: { workerId: 'worker-a' },
    });
    expect(reply.statusCode).toBe(429);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.body).toEqual({
      code: 'Throttled',
      message: 'DynamoDB throttled the request through 10 attempts',
      hint: expect.stringMatching(/retry in a second or two$/),
      requestId: reply.requestId,
    });
    expect(io.total()).toBe(10);
  });
});

describe('the $default route (lambda/not-found.ts)', () => {
  it('answers what no route takes with the responses openapi.json documents for it', async () => {
    const handler = await importHandler('not-found');
    for (const [method, path, status] of [
      ['GET', '/leases', 404],
      ['PATCH', '/shards/shardId-1/lease', 405],
    ] as const) {
      const event = { ...apiGatewayEvent('init'), routeKey: '$default', rawPath: path };
      event.requestContext = {
        ...event.requestContext,
        routeKey: '$default',
        http: { ...event.requestContext.http, method, path },
      };
      const result = (await handler(event, lambdaContext())) as APIGatewayProxyStructuredResultV2;
      expect(result.statusCode).toBe(status);
      expectMatchesOpenApi({
        method,
        path,
        status,
        contentType: String(result.headers?.['content-type']),
        body: result.body,
      });
    }
  });
});

describe('coverage of openapi.json by these tests', () => {
  /** Failures every operation shares, each exercised above on at least one operation. */
  const SHARED = new Set(['ValidationError', 'PayloadTooLarge', 'Throttled', 'Internal']);

  it('has seen every operation succeed and fail with each of its own documented codes', () => {
    const expected: string[] = [];
    for (const { operation } of documentOperations()) {
      const route = ROUTES.find((r) => r.id === operation.operationId);
      if (!route) throw new Error(`no route for ${operation.operationId}`);
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status.startsWith('2')) expected.push(`${route.name} ${status}`);
        const schema = response.content?.['application/problem+json']?.schema;
        if (!schema) continue;
        const validate = validatorFor(schema);
        for (const code of Object.values(ErrorCode).filter((c) => !SHARED.has(c))) {
          if (validate({ code, message: 'm', requestId: 'r' }))
            expected.push(`${route.name} ${status} ${code}`);
        }
      }
    }
    expect(expected.filter((outcome) => !observed.has(outcome))).toEqual([]);
    for (const code of SHARED) expect([...observed].some((o) => o.endsWith(` ${code}`))).toBe(true);
  });
});
