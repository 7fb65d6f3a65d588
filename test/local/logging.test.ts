/**
 * What the local server logs: one JSON line per event, each request's lines carrying that request's
 * own id and function name even when requests overlap, and reaper passes that carry no request's
 * context, at DEBUG when they changed nothing and at INFO when they did.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ManualClock } from '../../lib/core/clock';
import { prettyLogsAsked } from '../../lib/local/log-format';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { testEndpoint, uniqueTableName } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;

let clock: ManualClock;
let server: LocalServer;
let written: string[] = [];

beforeAll(async () => {
  delete process.env.POWERTOOLS_DEV;
  clock = new ManualClock(T0);
  server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('local-logging'),
    createTable: true,
    leaseDurationMs: LEASE,
    reaperGraceMs: 1_000,
    reaperIntervalMs: 0,
    clock,
    logger: new Logger({ serviceName: 'shardlease-local', logLevel: 'DEBUG' }),
  });
});
afterAll(() => server.close());

beforeEach(() => {
  written = [];
  // Powertools writes WARN and ERROR lines to stderr, the others to stdout.
  for (const stream of [process.stdout, process.stderr]) {
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(chunk.toString());
      return true;
    });
  }
});
afterEach(() => jest.restoreAllMocks());

// biome-ignore lint/suspicious/noExplicitAny: log lines are arbitrary JSON
const lines = (): any[] =>
  written
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

describe('the local server’s logs', () => {
  it('writes one JSON line per request, with that request’s id even when 40 requests overlap', async () => {
    const requests = Array.from({ length: 40 }, (_, i) => {
      const shardId = `shardId-${String(i).padStart(12, '0')}`;
      return i % 2 === 0
        ? fetch(`${server.url}/shards/${shardId}/lease`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ workerId: `w-${i}` }),
          })
        : fetch(`${server.url}/shards/${shardId}/owner`);
    });
    const answered = await Promise.all(requests);
    const ids = answered.map((r) => r.headers.get('x-request-id'));
    const handled = lines().filter((l) => l.message === 'request handled');
    expect(written.join('').split('\n').filter(Boolean)).toHaveLength(lines().length);
    expect(handled).toHaveLength(40);
    for (const line of handled) {
      expect(line.function_request_id).toBe(line.requestId);
      expect(line.function_name).toBe(
        line.operation === 'getLease' ? 'shardlease-get-lease' : 'shardlease-get-lease-owner',
      );
    }
    expect(new Set(handled.map((l) => l.requestId))).toEqual(new Set(ids));
  });

  it('logs a reaper pass that changed nothing at DEBUG, one that did at INFO, neither with a request’s context', async () => {
    await fetch(`${server.url}/shards/shardId-reaped/lease`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workerId: 'crashed' }),
    });
    clock.advance(LEASE + 2_000);
    await server.reap();
    await server.reap();
    const passes = lines().filter((l) => l.message === 'reaper pass');
    // The first pass reclaims this lease and the earlier test's: 21 in all.
    expect(passes.map((p) => [p.level, p.leasesReclaimed])).toEqual([
      ['INFO', 21],
      ['DEBUG', 0],
    ]);
    for (const pass of passes) {
      expect(pass.function_request_id).toBeUndefined();
      expect(pass.function_name).toBeUndefined();
    }
  });
});

describe('the local server’s reaper faults', () => {
  it('logs a pass stopped by a stream that does not answer at ERROR, with the fault', async () => {
    // A stream configured, and a Kinesis endpoint where nothing listens (port 9 on loopback: discard).
    const faulty = await startLocalServer({
      port: 0,
      dynamoDbEndpoint: testEndpoint(),
      tableName: uniqueTableName('local-logging-fault'),
      createTable: true,
      leaseDurationMs: LEASE,
      reaperIntervalMs: 0,
      streamName: 'nowhere',
      kinesisEndpoint: 'http://127.0.0.1:9',
      clock,
      logger: new Logger({ serviceName: 'shardlease-local', logLevel: 'DEBUG' }),
    });
    try {
      const summary = await faulty.reap();
      expect(summary.fault).toMatch(/^listing the stream failed/);
      const passes = lines().filter((l) => l.message === 'reaper pass');
      expect(passes.map((p) => [p.level, p.complete])).toEqual([['ERROR', false]]);
      expect(passes[0].fault).toBe(summary.fault);
    } finally {
      await faulty.close();
    }
  });
});

describe('prettyLogsAsked', () => {
  it('is false by default and true with --pretty or LOG_FORMAT=pretty', () => {
    expect(prettyLogsAsked([], {})).toBe(false);
    expect(prettyLogsAsked([], { LOG_FORMAT: 'json' })).toBe(false);
    expect(prettyLogsAsked(['--pretty'], {})).toBe(true);
    expect(prettyLogsAsked([], { LOG_FORMAT: 'pretty' })).toBe(true);
  });
});
