import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopbackHttp, regionOfUrl, ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { LeaseLostError, ShardLeaseError, ValidationError } from '../../lib/core/errors';
import { startVerifyingServer, type VerifyingServer } from './sigv4-verifier';

const CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' };
const FAST = { baseDelayMs: 1, maxDelayMs: 2 };

interface Scripted {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Never answer: the client's timeout must end the try. */
  readonly hang?: boolean;
}

/**
 * A server that answers from a script. It stands in for what the real server cannot be made to do on
 * demand (throttle, fail with 5xx, answer with an HTML error page, hang), to test the client's retries
 * and error mapping.
 */
async function startScriptedServer(script: Scripted[]) {
  const seen: Array<{ method: string; url: string }> = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '' });
      const step = script[Math.min(seen.length - 1, script.length - 1)] as Scripted;
      if (step.hang) return;
      res.writeHead(step.status, step.headers ?? { 'content-type': 'application/problem+json' });
      res.end(step.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const problem = (code: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ code, message: `${code} happened`, requestId: 'req-1', ...extra });
const lease = JSON.stringify({ shardId: 'shardId-1', owner: 'w1', leaseCounter: 1 });

async function failure(promise: Promise<unknown>): Promise<ShardLeaseError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ShardLeaseError);
  return error as ShardLeaseError;
}

describe('ShardLeaseClient options', () => {
  it('reads the region from an execute-api URL and knows a loopback http URL', () => {
    expect(regionOfUrl(new URL('https://a1b2c3.execute-api.eu-central-1.amazonaws.com/prod'))).toBe(
      'eu-central-1',
    );
    expect(regionOfUrl(new URL('https://vpce-0a1b.execute-api.us-east-2.vpce.amazonaws.com/'))).toBe(
      'us-east-2',
    );
    expect(regionOfUrl(new URL('https://x1.execute-api.cn-north-1.amazonaws.com.cn'))).toBe('cn-north-1');
    expect(regionOfUrl(new URL('https://leases.example.com'))).toBeUndefined();
    expect(isLoopbackHttp(new URL('http://127.0.0.1:3000'))).toBe(true);
    expect(isLoopbackHttp(new URL('http://localhost:3000'))).toBe(true);
    expect(isLoopbackHttp(new URL('https://127.0.0.1:3000'))).toBe(false);
    expect(isLoopbackHttp(new URL('http://10.0.0.5:3000'))).toBe(false);
  });

  it('fails with ValidationError naming region when a signed URL has none and AWS_REGION is unset', () => {
    const saved = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      const make = () =>
        new ShardLeaseClient({ baseUrl: 'https://leases.example.com', credentials: CREDENTIALS });
      expect(make).toThrow(ValidationError);
      expect(make).toThrow(/^region: /);
    } finally {
      if (saved !== undefined) process.env.AWS_REGION = saved;
    }
  });

  it('fails with ValidationError naming baseUrl for something that is not an http(s) URL', () => {
    expect(() => new ShardLeaseClient({ baseUrl: 'not a url' })).toThrow(/^baseUrl: /);
    expect(() => new ShardLeaseClient({ baseUrl: 'ftp://example.com' })).toThrow(/^baseUrl: /);
  });

  it('refuses a path id that URL normalisation would fold away, sending nothing', async () => {
    const server = await startScriptedServer([{ status: 200, body: lease }]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url });
      for (const id of ['', '.', '..']) {
        const error = await failure(client.getLease(id, { workerId: 'w1' }));
        expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['shardId']);
      }
      await expect(client.renewLeases('..', ['s'])).rejects.toThrow(/^workerId: /);
      expect(server.seen).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe('ShardLeaseClient signing', () => {
  let verifier: VerifyingServer;
  beforeAll(async () => {
    verifier = await startVerifyingServer({ [CREDENTIALS.accessKeyId]: CREDENTIALS.secretAccessKey });
  });
  afterAll(async () => {
    await verifier.close();
  });
  beforeEach(() => {
    verifier.received.length = 0;
  });

  it('signs every operation so that an independent SigV4 check accepts it, odd characters included', async () => {
    const client = new ShardLeaseClient({
      baseUrl: `${verifier.url}/prod/`,
      sign: true,
      region: 'eu-west-1',
      credentials: async () => CREDENTIALS,
    });
    await client.init();
    await client.getLease('shardId-000000000001', { workerId: 'worker (1) ✓' });
    await client.checkpointSequence('shardId-1', { workerId: 'w1', checkpoint: '5', leaseCounter: 3 });
    await client.fetchCheckpoint('a b/c');
    await client.removeLeaseOwner('shardId-1', "worker 1 + 2 = 3 & it's *fine*!");
    await client.removeLeaseInfo('shardId-1');
    await client.listActiveWorkers({ shardIds: ['s1', 's2'], strict: true });
    await client.listShards({ limit: 2, cursor: 'c2hhcmQ' });
    await client.renewLeases('host/pid 42 ✓', ['s1']);
    await client.claimShard('shardId-1', 'w2');
    await client.withdrawClaim('shardId-1', 'worker 2/b');
    // The verifier answers `{ ok, path }`, which states no lease terms: the call fails after it was signed.
    await expect(client.leaseTerms()).rejects.toMatchObject({ code: 'Internal' });
    expect(verifier.received.map((r) => r.verdict.reason)).toEqual(Array(12).fill(undefined));
    expect(verifier.received.every((r) => r.verdict.valid && r.verdict.service === 'execute-api')).toBe(true);
    expect(verifier.received.map((r) => `${r.method} ${r.target}`)).toEqual([
      'POST /prod/init',
      'POST /prod/shards/shardId-000000000001/lease',
      'PUT /prod/shards/shardId-1/checkpoint',
      'GET /prod/shards/a%20b%2Fc/checkpoint',
      'DELETE /prod/shards/shardId-1/lease?workerId=worker%201%20%2B%202%20%3D%203%20%26%20it%27s%20%2Afine%2A%21',
      'DELETE /prod/shards/shardId-1',
      'GET /prod/workers?shardIds=s1%2Cs2&strict=true',
      'GET /prod/shards?limit=2&cursor=c2hhcmQ',
      'POST /prod/workers/host%2Fpid%2042%20%E2%9C%93/renew',
      'POST /prod/shards/shardId-1/claim',
      'DELETE /prod/shards/shardId-1/claim?workerId=worker%202%2Fb',
      'GET /prod/terms',
    ]);
    expect(JSON.parse(verifier.received[2]?.body ?? '')).toEqual({
      workerId: 'w1',
      checkpoint: '5',
      leaseCounter: 3,
    });
  });

  it('fails with Internal carrying the 403 status and request id when the signature is refused, without retrying', async () => {
    const client = new ShardLeaseClient({
      baseUrl: verifier.url,
      sign: true,
      region: 'eu-west-1',
      credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' },
    });
    const error = await failure(client.getLeaseOwner('shardId-1'));
    expect(error.code).toBe('Internal');
    expect(error.message).toBe('HTTP 403: Forbidden');
    expect(error.details).toMatchObject({ status: 403, requestId: 'verifier-403' });
    expect(verifier.received).toHaveLength(1);
  });

  it('signs with the default credential chain when given no credentials (here, the environment)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
    try {
      await new ShardLeaseClient({ baseUrl: verifier.url, sign: true, region: 'ap-south-1' }).init();
      expect(verifier.received[0]?.verdict).toMatchObject({
        valid: true,
        accessKeyId: CREDENTIALS.accessKeyId,
        region: 'ap-south-1',
      });
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('fails at once, sending nothing, when there are no credentials to sign with', async () => {
    const client = new ShardLeaseClient({
      baseUrl: verifier.url,
      sign: true,
      region: 'eu-west-1',
      credentials: async () => {
        throw new Error('Could not load credentials from any providers');
      },
    });
    const error = await failure(client.init());
    expect(error.code).toBe('Internal');
    expect(error.message).toBe(
      'init: cannot sign the request: Could not load credentials from any providers',
    );
    expect(verifier.received).toEqual([]);
  });

  it('sends no signature to a loopback http URL unless told to', async () => {
    // The verifier refuses an unsigned request; what matters is that the request went out unsigned.
    await new ShardLeaseClient({ baseUrl: verifier.url }).init().catch(() => undefined);
    expect(verifier.received).toHaveLength(1);
    expect(verifier.received[0]?.headers).not.toHaveProperty('authorization');
    expect(verifier.received[0]?.headers).not.toHaveProperty('x-amz-date');
  });
});

describe('ShardLeaseClient retries and errors', () => {
  it('sends a call whose deadline is shorter than the per-try timeout (the try gets what is left)', async () => {
    // What is left of the deadline is a fraction of a millisecond past a whole one; the try's abort
    // timer once got it as it was, AbortSignal.timeout threw, and every try failed as "no response".
    const server = await startScriptedServer([
      { status: 200, body: lease, headers: { 'content-type': 'application/json' } },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, timeoutMs: 5_000, deadlineMs: 1_000 });
      await expect(client.getLease('shardId-1', { workerId: 'w1' })).resolves.toMatchObject({
        shardId: 'shardId-1',
      });
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('retries 503 and 429 with backoff and reports every try', async () => {
    const server = await startScriptedServer([
      { status: 503, body: problem('Internal') },
      { status: 429, body: problem('Throttled') },
      { status: 200, body: lease, headers: { 'content-type': 'application/json' } },
    ]);
    try {
      const tries: Array<{ status: number; attempt: number }> = [];
      const client = new ShardLeaseClient({
        baseUrl: server.url,
        backoff: FAST,
        onRequest: ({ operation, status, attempt, durationMs }) => {
          expect(operation).toBe('getLease');
          expect(durationMs).toBeGreaterThanOrEqual(0);
          tries.push({ status, attempt });
        },
      });
      await expect(client.getLease('shardId-1', { workerId: 'w1' })).resolves.toEqual(JSON.parse(lease));
      expect(tries).toEqual([
        { status: 503, attempt: 1 },
        { status: 429, attempt: 2 },
        { status: 200, attempt: 3 },
      ]);
    } finally {
      await server.close();
    }
  });

  it('gives up after maxAttempts tries with the last error, Throttled for a 429', async () => {
    const server = await startScriptedServer([{ status: 429, body: problem('Throttled') }]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST, maxAttempts: 4 });
      const error = await failure(client.fetchCheckpoint('shardId-1'));
      expect(error.code).toBe('Throttled');
      expect(server.seen).toHaveLength(4);
    } finally {
      await server.close();
    }
  });

  it('tries 10 times by default', async () => {
    const server = await startScriptedServer([{ status: 500, body: 'oops', headers: {} }]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      await expect(client.init()).rejects.toThrow('HTTP 500: oops');
      expect(server.seen).toHaveLength(10);
    } finally {
      await server.close();
    }
  });

  it('does not retry a conflict, and rebuilds it as the typed error with its details', async () => {
    const server = await startScriptedServer([
      {
        status: 409,
        body: problem('LeaseLost', {
          owner: 'w2',
          leaseTimeout: '2026-11-24T19:10:41.123Z',
          leaseCounter: 4,
        }),
      },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      const error = await failure(
        client.checkpointSequence('shardId-1', { workerId: 'w1', checkpoint: '9' }),
      );
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error.message).toBe('LeaseLost happened');
      expect(error.details).toEqual({
        owner: 'w2',
        leaseTimeout: '2026-11-24T19:10:41.123Z',
        leaseCounter: 4,
        requestId: 'req-1',
        status: 409,
      });
      expect(server.seen).toEqual([{ method: 'PUT', url: '/shards/shardId-1/checkpoint' }]);
    } finally {
      await server.close();
    }
  });

  it('retries a release answered 502 (its answer lost at the gateway) and resolves on the retry’s 204', async () => {
    const server = await startScriptedServer([
      { status: 502, body: 'bad gateway', headers: { 'content-type': 'text/plain' } },
      { status: 204, body: '' },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      await expect(client.removeLeaseOwner('shardId-1', 'w1')).resolves.toBeUndefined();
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('still fails a retried release with LeaseLost when another worker owns the shard', async () => {
    const server = await startScriptedServer([
      { status: 503, body: problem('Internal') },
      { status: 409, body: problem('LeaseLost', { owner: 'w2' }) },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      const error = await failure(client.removeLeaseOwner('shardId-1', 'w1'));
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error.details.owner).toBe('w2');
    } finally {
      await server.close();
    }
  });

  it('does not retry a permanent fault (the table has the wrong schema)', async () => {
    const server = await startScriptedServer([{ status: 500, body: problem('InvalidDynamoDBSchema') }]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      const error = await failure(client.init());
      expect(error.code).toBe('InvalidDynamoDBSchema');
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('turns an unknown code or a non-JSON 5xx into Internal with the status and request id', async () => {
    const server = await startScriptedServer([
      { status: 418, body: JSON.stringify({ code: 'Teapot', message: 'short and stout' }) },
      { status: 502, body: '<html>Bad Gateway</html>', headers: { 'apigw-requestid': 'gw-7' } },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST, maxAttempts: 1 });
      const teapot = await failure(client.getLeaseOwner('shardId-1'));
      expect(teapot).toMatchObject({ code: 'Internal', message: 'HTTP 418: short and stout' });
      expect(teapot.details).toEqual({ status: 418 });
      const gateway = await failure(client.getLeaseOwner('shardId-1'));
      expect(gateway).toMatchObject({ code: 'Internal', message: 'HTTP 502: <html>Bad Gateway</html>' });
      expect(gateway.details).toEqual({ status: 502, requestId: 'gw-7' });
    } finally {
      await server.close();
    }
  });

  it('fails with Internal when a success carries a body that is not JSON', async () => {
    const server = await startScriptedServer([
      { status: 200, body: '<html>captive portal</html>', headers: {} },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url });
      const error = await failure(client.fetchCheckpoint('shardId-1'));
      expect(error).toMatchObject({
        code: 'Internal',
        message: 'fetchCheckpoint: HTTP 200 with a body that is not JSON',
      });
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('retries a try that timed out and then fails with Internal, status 0', async () => {
    const server = await startScriptedServer([{ status: 200, hang: true }]);
    try {
      const statuses: number[] = [];
      const client = new ShardLeaseClient({
        baseUrl: server.url,
        backoff: FAST,
        maxAttempts: 2,
        timeoutMs: 50,
        onRequest: ({ status }) => statuses.push(status),
      });
      const error = await failure(client.fetchCheckpoint('shardId-1'));
      expect(error.code).toBe('Internal');
      expect(error.message).toMatch(/^fetchCheckpoint: no response after 2 attempts/);
      expect(error.details).toEqual({ status: 0 });
      expect(statuses).toEqual([0, 0]);
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('never waits past its deadline, whatever the tries left: by default a hung service costs 30 s, not forever', async () => {
    const server = await startScriptedServer([{ status: 200, hang: true }]);
    try {
      const client = new ShardLeaseClient({
        baseUrl: server.url,
        backoff: FAST,
        timeoutMs: 60,
        deadlineMs: 150,
      });
      const error = await failure(client.fetchCheckpoint('shardId-1'));
      expect(error.code).toBe('Internal');
      // Tries of 60 ms within a 150 ms deadline: at most three, where maxAttempts alone would allow ten.
      expect(server.seen.length).toBeGreaterThanOrEqual(2);
      expect(server.seen.length).toBeLessThanOrEqual(3);
      expect(new ShardLeaseClient({ baseUrl: server.url })).toMatchObject({
        timeoutMs: 5_000,
        deadlineMs: 30_000,
      });
    } finally {
      await server.close();
    }
  });

  it('retries when nothing listens, then fails with Internal naming the network error', async () => {
    const server = await startScriptedServer([{ status: 200, body: lease }]);
    const { url } = server;
    await server.close();
    const client = new ShardLeaseClient({ baseUrl: url, backoff: FAST, maxAttempts: 3 });
    await expect(client.fetchCheckpoint('shardId-1')).rejects.toThrow(
      /^fetchCheckpoint: no response after 3 attempts \(ECONNREFUSED\)$/,
    );
  });
});

describe('ShardLeaseClient lease terms, heartbeat and claim withdrawal', () => {
  const JSON_HEADERS = { 'content-type': 'application/json' };
  const TERMS = { leaseDurationMs: 10_000, claimTimeoutMs: 120_000 };
  const plan = { renewed: [], lost: [], failed: [], take: ['shardId-2'], steals: [], target: 2 };

  it('passes the heartbeat’s overdue shards and lease terms on', async () => {
    const server = await startScriptedServer([
      {
        status: 200,
        body: JSON.stringify({ ...plan, overdue: ['shardId-3'], terms: TERMS }),
        headers: JSON_HEADERS,
      },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url });
      await expect(client.heartbeat('w1', { held: [] })).resolves.toEqual({
        ...plan,
        overdue: ['shardId-3'],
        terms: TERMS,
      });
    } finally {
      await server.close();
    }
  });

  it('reads a heartbeat answer without `overdue` as none overdue', async () => {
    const server = await startScriptedServer([
      { status: 200, body: JSON.stringify({ ...plan, terms: TERMS }), headers: JSON_HEADERS },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url });
      await expect(client.heartbeat('w1', { held: [] })).resolves.toMatchObject({
        overdue: [],
        terms: TERMS,
      });
    } finally {
      await server.close();
    }
  });

  it.each<[string, unknown]>([
    ['no terms', undefined],
    ['terms without the claim timeout', { leaseDurationMs: 10_000 }],
    ['a lease duration of 0', { ...TERMS, leaseDurationMs: 0 }],
    ['a lease duration in a string', { ...TERMS, leaseDurationMs: '10000' }],
    ['terms that are not an object', 'PT10S'],
  ])('fails a heartbeat with Internal, without retrying, when the answer has %s', async (_, terms) => {
    const server = await startScriptedServer([
      { status: 200, body: JSON.stringify({ ...plan, overdue: [], terms }), headers: JSON_HEADERS },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      const error = await failure(client.heartbeat('w1', { held: [] }));
      expect(error.code).toBe('Internal');
      expect(error.message).toMatch(/^heartbeat: the service did not state its lease terms/);
      expect(error.hint).toEqual(expect.any(String));
      expect(server.seen).toEqual([{ method: 'POST', url: '/workers/w1/heartbeat' }]);
    } finally {
      await server.close();
    }
  });

  it('reads the lease terms from GET /terms, exactly the two of them', async () => {
    const server = await startScriptedServer([
      { status: 200, body: JSON.stringify({ ...TERMS, reaperGraceMs: 5 }), headers: JSON_HEADERS },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url });
      await expect(client.leaseTerms()).resolves.toEqual(TERMS);
      expect(server.seen).toEqual([{ method: 'GET', url: '/terms' }]);
    } finally {
      await server.close();
    }
  });

  it('fails leaseTerms with Internal when the answer does not state both terms as positive numbers', async () => {
    const server = await startScriptedServer([
      {
        status: 200,
        body: JSON.stringify({ leaseDurationMs: 10_000, claimTimeoutMs: -1 }),
        headers: JSON_HEADERS,
      },
      { status: 204, body: '' },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      const negative = await failure(client.leaseTerms());
      expect(negative).toMatchObject({
        code: 'Internal',
        message:
          'describeTerms: the service did not state its lease terms (leaseDurationMs and claimTimeoutMs, ' +
          'positive numbers); got {"leaseDurationMs":10000,"claimTimeoutMs":-1}',
      });
      const empty = await failure(client.leaseTerms());
      expect(empty.message).toMatch(/got nothing$/);
    } finally {
      await server.close();
    }
  });

  it('retries a claim withdrawal whose answer was lost; the retry is answered 204 (withdrawing is idempotent)', async () => {
    const server = await startScriptedServer([
      { status: 503, body: problem('Internal') },
      { status: 204, body: '' },
    ]);
    try {
      const client = new ShardLeaseClient({ baseUrl: server.url, backoff: FAST });
      await expect(client.withdrawClaim('shardId-1', 'w 2')).resolves.toBeUndefined();
      expect(server.seen).toEqual([
        { method: 'DELETE', url: '/shards/shardId-1/claim?workerId=w%202' },
        { method: 'DELETE', url: '/shards/shardId-1/claim?workerId=w%202' },
      ]);
    } finally {
      await server.close();
    }
  });
});
