/**
 * Consumers end to end: coordinators over HTTP (ShardLeaseClient → the local server → dynalite) reading
 * a kinesalite stream with the example consumer's shard processor, in real time with short leases.
 * Asserts on owners and on records seen; the timings it prints are measurements, not the test.
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { LeaseCoordinator } from '../../lib/client/coordinator';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { processShard } from '../../lib/client/shard-processor';
import { SHARD_END } from '../../lib/core/sequence-number';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { KinesisShardSource } from '../../lib/store/kinesis-shard-source';
import { testEndpoint, uniqueTableName } from '../support/dynamo';
import { startKinesalite, type TestKinesis } from '../support/kinesalite';

const LEASE_MS = 1500;

let kinesis: TestKinesis;
let server: LocalServer;

/** A local server on the run's dynalite with a table of its own (shard ids repeat across streams). */
const startServer = () =>
  startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('e2e'),
    createTable: true,
    leaseDurationMs: LEASE_MS,
    claimTimeoutMs: 10 * LEASE_MS,
    reaperIntervalMs: 0,
    logger: new Logger({ logLevel: 'SILENT' }),
  });

beforeAll(async () => {
  kinesis = await startKinesalite();
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
  await kinesis?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(25);
  }
  return Date.now() - start;
}

async function untilActive(client: KinesisClient, streamName: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(10);
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

async function createStream(streamName: string, shardCount: number): Promise<void> {
  await kinesis.client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await untilActive(kinesis.client, streamName);
}

/** A random 128-bit hash key: records spread over every open shard, and follow a split to its children. */
const randomHashKey = () => BigInt(`0x${randomBytes(16).toString('hex')}`).toString();

/** Puts batches of records until stopped; remembers every record put, by shard and sequence number. */
function startProducer(streamName: string) {
  const put = new Set<string>();
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const entries = Array.from({ length: 10 }, () => ({
        Data: Buffer.from(`record-${n++}`),
        PartitionKey: 'k',
        ExplicitHashKey: randomHashKey(),
      }));
      // A refused batch (e.g. while a split settles) is simply not counted as put.
      const out = await kinesis.client
        .send(new PutRecordsCommand({ StreamName: streamName, Records: entries }))
        .catch(() => undefined);
      for (const record of out?.Records ?? []) {
        if (record.ShardId && record.SequenceNumber) put.add(`${record.ShardId}/${record.SequenceNumber}`);
      }
      await sleep(50);
    }
  })();
  return {
    put,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

interface Consumer {
  readonly id: string;
  readonly coordinator: LeaseCoordinator;
}

describe('consumers end to end over the local server', () => {
  it('balance, fail over, follow a split and rebalance after a restart, without skipping a record', async () => {
    const streamName = 'e2e-orders';
    await createStream(streamName, 6);
    const shardSource = new KinesisShardSource({ client: kinesis.client, streamName });
    const seen = new Set<string>();
    const firstSeenAt = new Map<string, number>();
    const requests = new Map<string, number>();
    const gains: Array<{ worker: string; shardId: string; startingCheckpoint: string | undefined }> = [];

    const consumer = (id: string): Consumer => {
      const client = new ShardLeaseClient({
        baseUrl: server.url,
        onRequest: (info) => requests.set(info.operation, (requests.get(info.operation) ?? 0) + 1),
      });
      const coordinator = new LeaseCoordinator({
        checkpointer: client,
        shardSource,
        workerId: id,
        leaseDurationMs: LEASE_MS,
        onLeaseGained: async (lease) => {
          gains.push({ worker: id, shardId: lease.shardId, startingCheckpoint: lease.startingCheckpoint });
          await processShard(lease, {
            kinesis: kinesis.client,
            streamName,
            idleDelayMs: 100,
            handleRecords: (records) => {
              if (!firstSeenAt.has(lease.shardId)) firstSeenAt.set(lease.shardId, Date.now());
              for (const r of records) seen.add(`${lease.shardId}/${r.SequenceNumber}`);
            },
          });
        },
      });
      return { id, coordinator };
    };
    const held = (c: Consumer) => c.coordinator.heldShards();

    const producer = startProducer(streamName);
    let [a, b, c] = ['a', 'b', 'c'].map(consumer) as [Consumer, Consumer, Consumer];
    try {
      // 1. Three workers on six shards settle at two each.
      await Promise.all([a, b, c].map((w) => w.coordinator.start()));
      const convergedMs = await until(
        'each worker holds two shards',
        () => [a, b, c].every((w) => held(w).length === 2),
        10 * LEASE_MS,
      );
      expect(new Set([a, b, c].flatMap(held)).size).toBe(6);

      // 2. C dies without releasing: A and B take its shards once they expire.
      const orphans = held(c);
      await c.coordinator.stop({ release: false });
      const reader = new ShardLeaseClient({ baseUrl: server.url });
      const lastCheckpoints = await Promise.all(
        orphans.map(async (s) => (await reader.fetchCheckpoint(s)).checkpoint),
      );
      const gainsBeforeKill = gains.length;
      const failoverMs = await until(
        "A and B hold C's shards",
        () => orphans.every((s) => [...held(a), ...held(b)].includes(s)),
        3 * LEASE_MS + 1000,
      );
      expect(held(a).length + held(b).length).toBe(6);
      // The new owners resume exactly where C last checkpointed.
      const takeovers = gains.slice(gainsBeforeKill).filter((g) => orphans.includes(g.shardId));
      expect(takeovers.map((g) => [g.shardId, g.startingCheckpoint]).sort()).toEqual(
        orphans.map((s, i) => [s, lastCheckpoints[i]]).sort(),
      );
      expect(takeovers.every((g) => g.worker !== 'c')).toBe(true);

      // 3. Split a shard: its children are read only after the parent has been read to its end.
      const parent = 'shardId-000000000000';
      await kinesis.client.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: parent,
          NewStartingHashKey: (2n ** 128n / 12n).toString(), // the middle of shard 0 of 6
        }),
      );
      await untilActive(kinesis.client, streamName);
      const children = ['shardId-000000000006', 'shardId-000000000007'];
      const splitMs = await until(
        'both children have records processed',
        () => children.every((s) => firstSeenAt.has(s)),
        8 * LEASE_MS,
      );
      // The server stamps CheckpointedAt with its clock, the same machine's as firstSeenAt's.
      const parentRow = await reader.fetchCheckpoint(parent);
      expect(parentRow.checkpoint).toBe(SHARD_END);
      for (const child of children) {
        expect(firstSeenAt.get(child)).toBeGreaterThanOrEqual(Date.parse(parentRow.checkpointedAt as string));
      }

      // 4. C comes back: claims move shards to it until loads differ by at most one (7 shards: 3/2/2).
      const claimsBefore = requests.get('claimShard') ?? 0;
      c = consumer('c');
      await c.coordinator.start();
      const rebalanceMs = await until(
        'the seven open shards are spread 3/2/2',
        () =>
          [a, b, c]
            .map((w) => held(w).length)
            .sort()
            .join() === '2,2,3',
        10 * LEASE_MS,
      );
      expect(requests.get('claimShard') ?? 0).toBeGreaterThan(claimsBefore);

      // 5. Every record put was seen by some processor.
      await producer.stop();
      const drainMs = await until(
        'every record put has been seen',
        () => [...producer.put].every((r) => seen.has(r)),
        6 * LEASE_MS,
      );
      const missing = [...producer.put].filter((r) => !seen.has(r));
      expect(missing).toEqual([]);
      process.stderr.write(
        `e2e (lease ${LEASE_MS} ms): converged in ${convergedMs} ms, failover in ${failoverMs} ms, ` +
          `children processed ${splitMs} ms after the split, rebalanced after restart in ${rebalanceMs} ms, ` +
          `drained in ${drainMs} ms; ${producer.put.size} records put, ${seen.size} seen; ` +
          `requests ${JSON.stringify(Object.fromEntries(requests))}\n`,
      );
    } finally {
      await producer.stop();
      await Promise.all([a, b, c].map((w) => w.coordinator.stop()));
    }
  });
});
