/**
 * The local server through real HTTP: every route of the contract served by the Lambda handlers over
 * a real dynalite table, bad inputs refused without a trace in the table, the race for one shard won
 * exactly once, and every response held to openapi.json.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { testEndpoint, uniqueTableName } from '../support/dynamo';
import { expectMatchesOpenApi } from '../support/openapi';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;
const CLAIM = 60_000;
const GRACE = 5_000;

let clock: ManualClock;
let server: LocalServer;
const client = createDynamoClient({ endpoint: testEndpoint() });

beforeAll(async () => {
  clock = new ManualClock(T0);
  server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('local-server'),
    createTable: true,
    leaseDurationMs: LEASE,
    claimTimeoutMs: CLAIM,
    reaperGraceMs: GRACE,
    reaperIntervalMs: 0,
    clock,
    logger: new Logger({ logLevel: 'SILENT' }),
  });
});

afterAll(async () => {
  await server.close();
  client.destroy();
});

interface Reply {
  readonly status: number;
  readonly contentType: string | null;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON fields
  readonly body: any;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  options: { raw?: string; headers?: Record<string, string>; skipOpenApi?: boolean } = {},
): Promise<Reply> {
  const text = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(text !== undefined && { body: text }),
  });
  const raw = await response.text();
  const contentType = response.headers.get('content-type');
  const reply = {
    status: response.status,
    contentType,
    headers: response.headers,
    body: raw === '' ? undefined : contentType?.includes('json') ? JSON.parse(raw) : raw,
  };
  if (!options.skipOpenApi) {
    expectMatchesOpenApi({
      method,
      path: new URL(path, 'http://x').pathname,
      status: reply.status,
      contentType: contentType ?? undefined,
      body: reply.body,
    });
  }
  return reply;
}

let n = 0;
const shard = () => `shardId-${String(++n).padStart(12, '0')}`;

async function scanTable() {
  const out = await client.send(new ScanCommand({ TableName: server.tableName, ConsistentRead: true }));
  return (out.Items ?? []).sort((a, b) => String(a.ShardID?.S).localeCompare(String(b.ShardID?.S)));
}

describe('POST /init', () => {
  it('reports the table', async () => {
    const reply = await call('POST', '/init');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ table: server.tableName, status: 'ACTIVE' });
  });
});

describe('POST /shards/{shardId}/lease', () => {
  it('takes a free shard and returns the lease with the server-clock timeout', async () => {
    const id = shard();
    const reply = await call('POST', `/shards/${id}/lease`, { workerId: 'w1', parentShardId: 'parent-1' });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe('application/json');
    expect(reply.body).toEqual({
      shardId: id,
      owner: 'w1',
      leaseTimeout: new Date(T0 + LEASE).toISOString(),
      leaseCounter: 1,
      parentShardId: 'parent-1',
    });
    expect(reply.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 409 LeaseNotAcquired with the current owner while another worker holds it', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    const reply = await call('POST', `/shards/${id}/lease`, { workerId: 'w2' });
    expect(reply.status).toBe(409);
    expect(reply.contentType).toBe('application/problem+json');
    expect(reply.body).toMatchObject({
      code: 'LeaseNotAcquired',
      owner: 'w1',
      leaseTimeout: new Date(T0 + LEASE).toISOString(),
    });
    expect(typeof reply.body.requestId).toBe('string');
  });

  it('gives one shard to exactly one of 30 concurrent takers', async () => {
    const id = shard();
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call('POST', `/shards/${id}/lease`, { workerId: `racer-${i}` })),
    );
    const winners = replies.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(replies.filter((r) => r.status === 409).every((r) => r.body.code === 'LeaseNotAcquired')).toBe(
      true,
    );
    expect(replies.filter((r) => r.status !== 200 && r.status !== 409)).toEqual([]);
    const owner = await call('GET', `/shards/${id}/owner`);
    expect(owner.body.owner).toBe(winners[0]?.body.owner);
  });

  it('refuses the owner’s renewal with 409 ShardClaimed while a claim is pending', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    expect((await call('POST', `/shards/${id}/claim`, { workerId: 'w2' })).status).toBe(200);
    const reply = await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'ShardClaimed', owner: 'w1', claimRequest: 'w2' });
  });
});

describe('PUT /shards/{shardId}/checkpoint and GET /shards/{shardId}/checkpoint', () => {
  it('records a checkpoint for the owner and returns it', async () => {
    const id = shard();
    const lease = await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    const put = await call('PUT', `/shards/${id}/checkpoint`, {
      workerId: 'w1',
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
      leaseCounter: lease.body.leaseCounter,
    });
    expect(put.status).toBe(200);
    expect(put.body.checkpoint).toBe('49590338271490256608559692538361571095921575989136588898');
    const get = await call('GET', `/shards/${id}/checkpoint`);
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({
      shardId: id,
      owner: 'w1',
      checkpoint: put.body.checkpoint,
      leaseCounter: 1,
    });
  });

  it('answers 409 CheckpointRegression for a smaller sequence number', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    await call('PUT', `/shards/${id}/checkpoint`, { workerId: 'w1', checkpoint: '1000' });
    const reply = await call('PUT', `/shards/${id}/checkpoint`, { workerId: 'w1', checkpoint: '999' });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'CheckpointRegression', checkpoint: '1000' });
  });

  it('answers 409 LeaseLost to a zombie whose lease was taken over', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    clock.advance(LEASE + 1);
    await call('POST', `/shards/${id}/lease`, { workerId: 'w2' });
    const reply = await call('PUT', `/shards/${id}/checkpoint`, { workerId: 'w1', checkpoint: '5' });
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'LeaseLost', owner: 'w2' });
  });

  it('answers 404 SequenceIDNotFound for a shard without a checkpoint', async () => {
    const reply = await call('GET', `/shards/${shard()}/checkpoint`);
    expect(reply.status).toBe(404);
    expect(reply.body.code).toBe('SequenceIDNotFound');
    expect(reply.body.message).toMatch(/SequenceIDNotFoundForShard/);
  });
});

describe('DELETE /shards/{shardId}/lease', () => {
  it('releases the owner’s lease with 204 and lets another worker take it at once', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    const reply = await call('DELETE', `/shards/${id}/lease?workerId=w1`);
    expect(reply.status).toBe(204);
    expect(reply.body).toBeUndefined();
    expect((await call('POST', `/shards/${id}/lease`, { workerId: 'w2' })).status).toBe(200);
  });

  it('answers 409 LeaseLost when the caller is not the owner', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    const reply = await call('DELETE', `/shards/${id}/lease?workerId=w9`);
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ code: 'LeaseLost', owner: 'w1' });
  });
});

describe('GET /shards/{shardId}/owner and DELETE /shards/{shardId}', () => {
  it('names the owner, removes the row with 204 (twice is fine), then answers 404 NoLeaseOwner', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    expect((await call('GET', `/shards/${id}/owner`)).body).toEqual({ shardId: id, owner: 'w1' });
    expect((await call('DELETE', `/shards/${id}`)).status).toBe(204);
    expect((await call('DELETE', `/shards/${id}`)).status).toBe(204);
    const reply = await call('GET', `/shards/${id}/owner`);
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({
      code: 'NoLeaseOwner',
      message: expect.stringMatching(/no LeaseOwner/),
    });
  });
});

describe('POST /shards/{shardId}/claim', () => {
  it('records a claim, and answers 404 NotFound for an unknown shard and 409 ShardEnded for an ended one', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w1' });
    const claimed = await call('POST', `/shards/${id}/claim`, { workerId: 'w2' });
    expect(claimed.status).toBe(200);
    expect(claimed.body).toMatchObject({ shardId: id, owner: 'w1', claimRequest: 'w2' });
    expect((await call('POST', `/shards/${id}/claim`, { workerId: 'w3' })).body.code).toBe('ShardClaimed');
    expect((await call('POST', `/shards/${shard()}/claim`, { workerId: 'w2' })).status).toBe(404);

    const ended = shard();
    await call('POST', `/shards/${ended}/lease`, { workerId: 'w1' });
    await call('PUT', `/shards/${ended}/checkpoint`, { workerId: 'w1', checkpoint: 'SHARD_END' });
    const reply = await call('POST', `/shards/${ended}/claim`, { workerId: 'w2' });
    expect(reply.status).toBe(409);
    expect(reply.body.code).toBe('ShardEnded');
  });
});

describe('POST /workers/{workerId}/renew', () => {
  it('renews the worker’s leases and reports the others as lost, per shard', async () => {
    const [mine, theirs] = [shard(), shard()];
    await call('POST', `/shards/${mine}/lease`, { workerId: 'renewer/1' });
    await call('POST', `/shards/${theirs}/lease`, { workerId: 'other' });
    // A worker id with a slash travels percent-encoded in the path, and arrives decoded.
    const reply = await call('POST', `/workers/${encodeURIComponent('renewer/1')}/renew`, {
      shardIds: [mine, theirs],
    });
    expect(reply.status).toBe(200);
    expect(reply.body.renewed.map((l: { shardId: string }) => l.shardId)).toEqual([mine]);
    expect(reply.body.renewed[0]).toMatchObject({ owner: 'renewer/1', leaseCounter: 2 });
    expect(reply.body.lost).toEqual([
      expect.objectContaining({ shardId: theirs, code: 'LeaseLost', owner: 'other' }),
    ]);
  });
});

describe('GET /workers', () => {
  it('groups live leases by worker and, with strict=true, answers 409 ShardNotAssigned', async () => {
    const [a, b] = [shard(), shard()];
    await call('POST', `/shards/${a}/lease`, { workerId: 'lister' });
    const loose = await call('GET', `/workers?shardIds=${a},${b}`);
    expect(loose.status).toBe(200);
    expect(loose.body.workers.lister.map((l: { shardId: string }) => l.shardId)).toContain(a);
    expect(loose.body.unassigned).toEqual([b]);
    const strict = await call('GET', `/workers?shardIds=${a},${b}&strict=true`);
    expect(strict.status).toBe(409);
    expect(strict.body.code).toBe('ShardNotAssigned');
  });
});

describe('GET /shards', () => {
  it('pages through every row exactly once with limit and cursor', async () => {
    for (let i = 0; i < 12; i++) await call('POST', `/shards/${shard()}/lease`, { workerId: 'pager' });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query = `limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const reply = await call('GET', `/shards?${query}`);
      expect(reply.status).toBe(200);
      expect(reply.body.shards.length).toBeLessThanOrEqual(5);
      seen.push(...reply.body.shards.map((l: { shardId: string }) => l.shardId));
      cursor = reply.body.nextCursor;
      pages++;
    } while (cursor);
    const rows = await scanTable();
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(rows.length / 5));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(rows.map((r) => r.ShardID?.S).sort());
  });

  it('refuses a cursor it did not issue with 400 naming the field', async () => {
    const reply = await call('GET', '/shards?cursor=not-a-cursor');
    expect(reply.status).toBe(400);
    expect(reply.body.fields).toEqual([expect.objectContaining({ field: 'cursor' })]);
  });
});

describe('bad input', () => {
  const big = 'x'.repeat(17 * 1024);
  const cases: {
    name: string;
    method: string;
    path: string;
    body?: unknown;
    raw?: string;
    status: number;
    field?: string;
  }[] = [
    {
      name: 'a shard id with a forbidden character',
      method: 'POST',
      path: '/shards/bad%21id/lease',
      body: { workerId: 'w' },
      status: 400,
      field: 'shardId',
    },
    {
      name: 'a shard id longer than 128',
      method: 'POST',
      path: `/shards/${'a'.repeat(129)}/lease`,
      body: { workerId: 'w' },
      status: 400,
      field: 'shardId',
    },
    { name: 'no body', method: 'POST', path: '/shards/s-1/lease', status: 400, field: 'body' },
    {
      name: 'an empty JSON object',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: {},
      status: 400,
      field: 'workerId',
    },
    {
      name: 'a body that is not JSON',
      method: 'POST',
      path: '/shards/s-1/lease',
      raw: '{"workerId":',
      status: 400,
      field: 'body',
    },
    {
      name: 'a JSON array body',
      method: 'POST',
      path: '/shards/s-1/lease',
      raw: '[1,2]',
      status: 400,
      field: 'body',
    },
    {
      name: 'a body over 16 KiB',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: 'w', pad: big },
      status: 413,
    },
    {
      name: 'an unknown field',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: 'w', color: 'red' },
      status: 400,
      field: 'color',
    },
    {
      name: 'a worker id of the wrong type',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: 42 },
      status: 400,
      field: 'workerId',
    },
    {
      name: 'an empty worker id',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: '' },
      status: 400,
      field: 'workerId',
    },
    {
      name: 'a worker id with a control character',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: 'a\u0007b' },
      status: 400,
      field: 'workerId',
    },
    {
      name: 'a worker id longer than 256',
      method: 'POST',
      path: '/shards/s-1/claim',
      body: { workerId: 'w'.repeat(257) },
      status: 400,
      field: 'workerId',
    },
    {
      name: 'a sequence number with letters',
      method: 'PUT',
      path: '/shards/s-1/checkpoint',
      body: { workerId: 'w', checkpoint: '12ab' },
      status: 400,
      field: 'checkpoint',
    },
    {
      name: 'a sequence number of 129 digits',
      method: 'PUT',
      path: '/shards/s-1/checkpoint',
      body: { workerId: 'w', checkpoint: '9'.repeat(129) },
      status: 400,
      field: 'checkpoint',
    },
    {
      name: 'a negative lease counter',
      method: 'PUT',
      path: '/shards/s-1/checkpoint',
      body: { workerId: 'w', checkpoint: '1', leaseCounter: -1 },
      status: 400,
      field: 'leaseCounter',
    },
    {
      name: 'an initial checkpoint that is not a sequence number',
      method: 'POST',
      path: '/shards/s-1/lease',
      body: { workerId: 'w', checkpoint: 'LATEST' },
      status: 400,
      field: 'checkpoint',
    },
    {
      name: 'a release without workerId',
      method: 'DELETE',
      path: '/shards/s-1/lease',
      status: 400,
      field: 'workerId',
    },
    {
      name: 'an unknown query parameter',
      method: 'GET',
      path: '/shards/s-1/owner?verbose=1',
      status: 400,
      field: 'verbose',
    },
    {
      name: 'an empty renewal list',
      method: 'POST',
      path: '/workers/w/renew',
      body: { shardIds: [] },
      status: 400,
      field: 'shardIds',
    },
    {
      name: 'a renewal of 101 shards',
      method: 'POST',
      path: '/workers/w/renew',
      body: { shardIds: Array.from({ length: 101 }, (_, i) => `s-${i}`) },
      status: 400,
      field: 'shardIds',
    },
    {
      name: 'a body on an operation that takes none',
      method: 'DELETE',
      path: '/shards/s-1',
      body: { force: true },
      status: 400,
      field: 'body',
    },
    {
      name: 'a body on init',
      method: 'POST',
      path: '/init',
      raw: 'x',
      status: 400,
      field: 'body',
    },
    { name: 'a page limit of 0', method: 'GET', path: '/shards?limit=0', status: 400, field: 'limit' },
    {
      name: 'strict that is not a boolean',
      method: 'GET',
      path: '/workers?strict=yes',
      status: 400,
      field: 'strict',
    },
  ];

  it.each(cases)('refuses $name with $status and changes nothing', async (c) => {
    // s-1 exists with a lease and a checkpoint, so that a wrongly accepted write would show.
    await call('POST', '/shards/s-1/lease', { workerId: 'w' });
    await call('PUT', '/shards/s-1/checkpoint', { workerId: 'w', checkpoint: '100' });
    const before = await scanTable();
    const reply = await call(c.method, c.path, c.body, c.raw !== undefined ? { raw: c.raw } : {});
    expect(reply.status).toBe(c.status);
    expect(reply.contentType).toBe('application/problem+json');
    expect(reply.body.code).toBe(c.status === 413 ? 'PayloadTooLarge' : 'ValidationError');
    if (c.field) {
      expect(reply.body.fields.map((f: { field: string }) => f.field)).toContain(c.field);
      expect(reply.body.message).toContain(c.field);
    }
    expect(JSON.stringify(reply.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(await scanTable()).toEqual(before);
  });
});

describe('routing', () => {
  it('answers an unknown route with 404 NotFound', async () => {
    const reply = await call('GET', '/nowhere', undefined, { skipOpenApi: true });
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ code: 'NotFound' });
  });

  it('answers a wrong method with 405 and the allowed ones', async () => {
    const reply = await call('PATCH', '/shards/s-1/lease', undefined, { skipOpenApi: true });
    expect(reply.status).toBe(405);
    expect(reply.body.code).toBe('MethodNotAllowed');
    expect(reply.headers.get('allow')).toBe('POST, DELETE');
  });

  it('serves a page listing shards, owners and checkpoints at /', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'w<script>' });
    const reply = await call('GET', '/', undefined, { skipOpenApi: true });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^text\/html/);
    expect(reply.body).toContain(id);
    expect(reply.body).toContain('w&#60;script&#62;');
    expect(reply.body).not.toContain('w<script>');
  });
});

describe('the reaper on the local server', () => {
  it('clears the owner of a lease expired longer than the grace period', async () => {
    const id = shard();
    await call('POST', `/shards/${id}/lease`, { workerId: 'crashed' });
    clock.advance(LEASE + GRACE + 1);
    await server.reap();
    const reply = await call('GET', `/shards/${id}/owner`);
    expect(reply.status).toBe(404);
    expect(reply.body.code).toBe('NoLeaseOwner');
  });
});
