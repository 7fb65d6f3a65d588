/**
 * A fleet over real HTTP: 50 coordinators in heartbeat mode in this process, against the local server
 * (the very handlers, the reaper's discovery on a timer) on dynalite, and a kinesalite stream of 500
 * shards. No worker lists the stream or the table. Asserts full assignment, fairness, and recovery after
 * 10 workers crash; the times it prints are measurements, not the test (`npm run bench` has the figures).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { LeaseCoordinator } from '../../lib/client/coordinator';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { testEndpoint, uniqueTableName } from '../support/dynamo';
import { startKinesalite, type TestKinesis } from '../support/kinesalite';

// 50 workers × 10 leases renewed every third of a lease: 100 conditional writes a second at 15 s leases.
// One process running the server and the 50 workers, beside dynalite, on 2 cores: at 10 s the service
// answered heartbeats in 2–6 s during the cold start, and since the liveness work (overdue offers, takes
// beyond a worker's share) such an overloaded fleet can shed leases faster than it takes them (issue
// filed); at 3 s it could not keep up at all. npm test runs this file on its own, after the other suites.
const LEASE_MS = 15_000;
const SHARDS = 500;
const WORKERS = 50;
const STREAM = 'fleet';
const silent = new Logger({ logLevel: 'SILENT' });

let kinesis: TestKinesis;
let server: LocalServer;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the last check saw, for the message of a timeout. */
let lastSeen: unknown;

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  lastSeen = undefined;
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting until ${what} (last seen: ${JSON.stringify(lastSeen)})`,
      );
    await sleep(1_000);
  }
  return Date.now() - start;
}

beforeAll(async () => {
  kinesis = await startKinesalite({ shardLimit: SHARDS });
  await kinesis.client.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: SHARDS }));
  await until(
    'the stream is active',
    async () =>
      (await kinesis.client.send(new DescribeStreamSummaryCommand({ StreamName: STREAM })))
        .StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    30_000,
  );
  server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('fleet'),
    createTable: true,
    leaseDurationMs: LEASE_MS,
    claimTimeoutMs: 40 * LEASE_MS,
    reaperIntervalMs: 500,
    streamName: STREAM,
    kinesisEndpoint: kinesis.endpoint,
    logger: silent,
  });
});
afterAll(async () => {
  await server?.close();
  await kinesis?.close();
});

describe('a fleet of 50 coordinators on 500 shards over the local server', () => {
  it('assigns every shard fairly, and takes the shards of 10 crashed workers over, never listing', async () => {
    const client = new ShardLeaseClient({ baseUrl: server.url });
    /** Shards with a live owner among `alive`, and the least and most any of them holds. */
    const loads = async (alive: readonly LeaseCoordinator[]) => {
      const { workers } = await client.listActiveWorkers();
      const counts = alive.map((c) => workers[c.workerId]?.length ?? 0);
      lastSeen = {
        owned: counts.reduce((a, b) => a + b, 0),
        min: Math.min(...counts),
        max: Math.max(...counts),
      };
      return lastSeen as { owned: number; min: number; max: number };
    };
    // Discovery: the reaper's pass creates the rows of the stream's shards.
    const discoveredMs = await until(
      'discovery created every row',
      async () => (await client.listActiveWorkers()).unassigned.length === SHARDS,
      60_000,
    );

    let requests = 0;
    const coordinators = Array.from(
      { length: WORKERS },
      (_, i) =>
        new LeaseCoordinator({
          checkpointer: new ShardLeaseClient({ baseUrl: server.url, onRequest: () => requests++ }),
          workerId: `worker-${String(i).padStart(2, '0')}`,
          leaseDurationMs: LEASE_MS,
          logger: silent,
        }),
    );
    try {
      await Promise.all(coordinators.map((c) => c.start()));
      const assignedMs = await until(
        'every shard has a live owner',
        async () => (await loads(coordinators)).owned === SHARDS,
        12 * LEASE_MS,
      );
      // The loads are asserted as the condition saw them: a reading taken after it may catch a claim
      // from before the balance still handing a shard over (owned for a moment by nobody).
      let seen = await loads(coordinators);
      const balancedMs = await until(
        'loads differ by at most one',
        async () => {
          seen = await loads(coordinators);
          return seen.owned === SHARDS && seen.max - seen.min <= 1;
        },
        12 * LEASE_MS,
      );
      expect(seen).toEqual({ owned: SHARDS, min: 10, max: 10 });

      const crashed = coordinators.slice(0, 10);
      const alive = coordinators.slice(10);
      await Promise.all(crashed.map((c) => c.stop({ release: false })));
      const crashAt = Date.now();
      const recoveredMs = await until(
        'the survivors own every shard again, fairly',
        async () => {
          seen = await loads(alive);
          return seen.owned === SHARDS && seen.max - seen.min <= 1;
        },
        12 * LEASE_MS,
      );
      expect(seen).toEqual({ owned: SHARDS, min: 12, max: 13 });
      const afterExpiryMs = Date.now() - crashAt - LEASE_MS;
      process.stderr.write(
        `fleet (lease ${LEASE_MS} ms): discovery ${discoveredMs} ms, assigned ${assignedMs} ms, balanced ${balancedMs} ms; ` +
          `10 of 50 crashed: owned and balanced again ${afterExpiryMs} ms after their leases expired (${recoveredMs} ms after the crash); ` +
          `${requests} HTTP requests from the workers\n`,
      );
    } finally {
      await Promise.all(coordinators.map((c) => c.stop()));
    }
  }, 300_000);
});
