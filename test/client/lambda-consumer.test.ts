/**
 * The Lambda consumer handler: its shard reader against a scripted Kinesis (throttling, expired
 * iterators, pacing), then the handler invoked as Lambda would, with a fake context and a budget of a few
 * seconds, by 3 concurrent "invocations" against the local server and kinesalite, through a split.
 * Asserts on records seen and leases held; the figures it prints are measurements, not the test.
 */
import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  type _Record,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import type { ShardLease } from '../../lib/client/coordinator';
import {
  createShardConsumerHandler,
  type LambdaContextLike,
  readShard,
  ShardConsumerError,
  type ShardConsumerSummary,
} from '../../lib/client/lambda-consumer';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import type { Checkpointer } from '../../lib/core/checkpointer';
import { LeaseLostError } from '../../lib/core/errors';
import type { TakeRequest } from '../../lib/core/rules';
import { SHARD_END } from '../../lib/core/sequence-number';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { testEndpoint, uniqueTableName } from '../support/dynamo';
import { startKinesalite, type TestKinesis } from '../support/kinesalite';

const silent = new Logger({ logLevel: 'SILENT' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the shard reader, on a scripted Kinesis --------------------------------------------------------

type Step = { records: string[]; next?: boolean } | { error: string };

/** A Kinesis that answers GetRecords from a script and records every call. */
function scriptedKinesis(steps: Step[]) {
  const calls: { name: string; at: number; input: Record<string, unknown> }[] = [];
  let iterator = 0;
  const client = {
    send: async (command: unknown) => {
      if (command instanceof GetShardIteratorCommand) {
        calls.push({ name: 'GetShardIterator', at: Date.now(), input: { ...command.input } });
        return { ShardIterator: `it-${++iterator}` };
      }
      if (command instanceof GetRecordsCommand) {
        calls.push({ name: 'GetRecords', at: Date.now(), input: { ...command.input } });
        const step = steps.shift() ?? { records: [], next: false };
        if ('error' in step) throw Object.assign(new Error(step.error), { name: step.error });
        return {
          Records: step.records.map((seq) => ({ SequenceNumber: seq, Data: new Uint8Array() })),
          ...(step.next !== false && { NextShardIterator: `it-${++iterator}` }),
        };
      }
      throw new Error('unexpected command');
    },
  };
  return { client: client as unknown as KinesisClient, calls };
}

function fakeLease(startingCheckpoint?: string) {
  const controller = new AbortController();
  const checkpoints: string[] = [];
  const lease: ShardLease = {
    shardId: 'shardId-000000000000',
    parentShardIds: [],
    startingCheckpoint,
    signal: controller.signal,
    checkpoint: async (sequenceNumber) => {
      checkpoints.push(sequenceNumber);
    },
  };
  return { lease, controller, checkpoints };
}

describe('readShard', () => {
  it('backs off on throttling, resumes after an expired iterator from the last checkpoint, and ends with SHARD_END', async () => {
    const { client, calls } = scriptedKinesis([
      { records: ['1', '2'] },
      { error: 'ProvisionedThroughputExceededException' },
      { records: ['3'] },
      { error: 'ExpiredIteratorException' },
      { records: ['4'] },
      { records: [], next: false },
    ]);
    const { lease, checkpoints } = fakeLease('0');
    const handed: string[] = [];
    const outcome = await readShard(lease, {
      kinesis: client,
      streamName: 's',
      handleRecords: (records) => {
        handed.push(...records.map((r) => r.SequenceNumber as string));
      },
      minReadIntervalMs: 50,
      throttleBackoffMs: 100,
    });
    expect(outcome).toBe('ended');
    expect(handed).toEqual(['1', '2', '3', '4']);
    expect(checkpoints).toEqual(['2', '3', '4', SHARD_END]);
    const iterators = calls.filter((c) => c.name === 'GetShardIterator').map((c) => c.input);
    expect(iterators).toEqual([
      expect.objectContaining({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '0' }),
      expect.objectContaining({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: '3' }),
    ]);
    const reads = calls.filter((c) => c.name === 'GetRecords').map((c) => c.at);
    const gaps = reads.slice(1).map((at, i) => at - (reads[i] as number));
    // Never faster than the per-shard pace; the read after the throttle waited for the backoff.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(45);
    expect(gaps[1]).toBeGreaterThanOrEqual(50 - 5);
  });

  it('stops without handing over a batch read after the signal aborted', async () => {
    const { client } = scriptedKinesis([{ records: ['1'] }, { records: ['2'] }]);
    const { lease, controller, checkpoints } = fakeLease(undefined);
    const handed: string[] = [];
    const outcome = await readShard(lease, {
      kinesis: client,
      streamName: 's',
      minReadIntervalMs: 0,
      handleRecords: (records) => {
        handed.push(...records.map((r) => r.SequenceNumber as string));
        controller.abort();
      },
    });
    expect(outcome).toBe('stopped');
    expect(handed).toEqual(['1']);
    expect(checkpoints).toEqual(['1']);
  });

  it('stops with lost when a checkpoint is refused, and lets an application error through', async () => {
    const { client } = scriptedKinesis([{ records: ['1'] }]);
    const { lease } = fakeLease('0');
    const refusing = { ...lease, checkpoint: () => Promise.reject(new LeaseLostError('taken')) };
    await expect(
      readShard(refusing, { kinesis: client, streamName: 's', handleRecords: () => undefined }),
    ).resolves.toBe('lost');
    const failing = scriptedKinesis([{ records: ['1'] }]);
    await expect(
      readShard(lease, {
        kinesis: failing.client,
        streamName: 's',
        handleRecords: () => Promise.reject(new Error('boom')),
      }),
    ).rejects.toThrow('boom');
  });
});

// ---- the handler, invoked as Lambda would, against the local server and kinesalite --------------------

const LEASE_MS = 1500;
const BUDGET_MS = 3000;
const MARGIN_MS = 1000;

let kinesis: TestKinesis;

beforeAll(async () => {
  kinesis = await startKinesalite();
});
afterAll(async () => {
  await kinesis?.close();
});

const startServer = (streamName: string): Promise<LocalServer> =>
  startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('lambda'),
    createTable: true,
    leaseDurationMs: LEASE_MS,
    claimTimeoutMs: 10 * LEASE_MS,
    reaperIntervalMs: 250,
    streamName,
    kinesisEndpoint: kinesis.endpoint,
    logger: silent,
  });

async function createStream(streamName: string, shardCount: number): Promise<void> {
  await kinesis.client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await untilActive(streamName);
}

async function untilActive(streamName: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const out = await kinesis.client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(10);
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number) {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(50);
  }
}

const randomHashKey = () => BigInt(`0x${randomBytes(16).toString('hex')}`).toString();

async function putRecords(streamName: string, count: number, put: Set<string>, start = 0): Promise<void> {
  const entries = Array.from({ length: count }, (_, i) => ({
    Data: Buffer.from(`record-${start + i}`),
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
}

/** A fake Lambda context: the budget counts down from the invocation's start. */
function fakeContext(functionName: string, budgetMs: number, requestId: string): LambdaContextLike {
  const deadline = Date.now() + budgetMs;
  return {
    functionName,
    awsRequestId: requestId,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
}

async function shardRows(client: ShardLeaseClient) {
  const page = await client.listShards({ limit: 1000 });
  return page.shards;
}

describe('createShardConsumerHandler', () => {
  it('3 concurrent invocations, run again and again, read every record through a split, children after parents, and return holding no lease', async () => {
    const streamName = 'lambda-orders';
    await createStream(streamName, 2);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered both shards',
        async () => (await shardRows(service)).length === 2,
        10_000,
      );

      // Every record handed to the application: by whom, and in which order overall.
      const deliveries = new Map<string, string[]>();
      const firstAt = new Map<string, number>();
      const lastAt = new Map<string, number>();
      const reading = new Map<string, string>();
      const overlaps: string[] = [];
      let order = 0;
      let invocationSeq = 0;
      const handleRecords = async (records: readonly _Record[], lease: ShardLease, me: string) => {
        const current = reading.get(lease.shardId);
        if (current !== undefined && current !== me) overlaps.push(`${lease.shardId}: ${current} and ${me}`);
        reading.set(lease.shardId, me);
        for (const record of records) {
          const key = `${lease.shardId}/${record.SequenceNumber}`;
          deliveries.set(key, [...(deliveries.get(key) ?? []), me]);
          order++;
          if (!firstAt.has(lease.shardId)) firstAt.set(lease.shardId, order);
          lastAt.set(lease.shardId, order);
        }
        await sleep(5);
        reading.delete(lease.shardId);
      };

      const handlerFor = (requestId: string) =>
        createShardConsumerHandler({
          checkpointer: service,
          kinesis: kinesis.client,
          streamName,
          leaseDurationMs: LEASE_MS,
          safetyMarginMs: MARGIN_MS,
          idleDelayMs: 100,
          logger: silent,
          handleRecords: (records, lease) => handleRecords(records, lease, requestId),
        });

      const put = new Set<string>();
      const summaries: ShardConsumerSummary[] = [];
      const heldAfterReturn: string[] = [];
      let running = true;
      const slot = async (n: number) => {
        while (running) {
          const requestId = `req-${++invocationSeq}`;
          const handler = handlerFor(requestId);
          const summary = await handler({ slot: n, slots: 3 }, fakeContext('consumer', BUDGET_MS, requestId));
          summaries.push(summary);
          const now = Date.now();
          for (const row of await shardRows(service)) {
            if (row.owner === summary.workerId && row.leaseTimeout && Date.parse(row.leaseTimeout) > now) {
              heldAfterReturn.push(`${row.shardId} by ${summary.workerId}`);
            }
          }
        }
      };
      const started = Date.now();
      const slots = [0, 1, 2].map((n) => slot(n));

      // Produce for a while, split shard 0 in the middle, produce on the children, then stop.
      let n = 0;
      for (let i = 0; i < 50; i++) {
        await putRecords(streamName, 20, put, n);
        n += 20;
        await sleep(50);
      }
      const parent = 'shardId-000000000000';
      await kinesis.client.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: parent,
          NewStartingHashKey: (2n ** 126n).toString(), // the middle of shard 0 of 2
        }),
      );
      await untilActive(streamName);
      for (let i = 0; i < 50; i++) {
        await putRecords(streamName, 20, put, n);
        n += 20;
        await sleep(50);
      }
      const children = ['shardId-000000000002', 'shardId-000000000003'];
      expect([...put].some((key) => children.some((c) => key.startsWith(c)))).toBe(true);
      expect([...put].some((key) => key.startsWith(parent))).toBe(true);

      try {
        await until(
          'every record put was handed over',
          () => [...put].every((k) => deliveries.has(k)),
          40_000,
        );
      } finally {
        running = false;
        await Promise.all(slots);
      }
      const elapsed = Date.now() - started;

      expect(overlaps).toEqual([]);
      expect(heldAfterReturn).toEqual([]);
      for (const summary of summaries) expect(summary.leasesNotReleased).toEqual([]);
      // None twice, except on a shard where some checkpoint failed.
      const failedOn = new Set(
        summaries.flatMap((s) =>
          Object.entries(s.shards)
            .filter(([, st]) => st.failedCheckpoints > 0)
            .map(([id]) => id),
        ),
      );
      const repeats = [...deliveries].filter(
        ([key, by]) => by.length > 1 && !failedOn.has(key.split('/')[0] ?? ''),
      );
      expect(repeats).toEqual([]);
      // Children after their parent: the parent was read to its end first.
      expect(children.some((child) => firstAt.has(child))).toBe(true);
      for (const child of children) {
        if (!firstAt.has(child)) continue;
        expect(firstAt.get(child)).toBeGreaterThan(lastAt.get(parent) ?? 0);
      }
      const parentRow = (await shardRows(service)).find((row) => row.shardId === parent);
      expect(parentRow === undefined || parentRow.checkpoint === SHARD_END).toBe(true);

      const firsts = summaries
        .map((s) => s.firstRecordAfterMs)
        .filter((ms): ms is number => ms !== undefined);
      console.log(
        `lambda consumer: ${summaries.length} invocations of ${BUDGET_MS} ms (3 slots) read ${put.size} records ` +
          `through a split in ${elapsed} ms; ${summaries.reduce((t, s) => t + s.records, 0)} handed over, ` +
          `${summaries.reduce((t, s) => t + s.failedCheckpoints, 0)} failed checkpoints; first record after ` +
          `[${firsts.sort((a, b) => a - b).join(', ')}] ms into an invocation`,
      );
    } finally {
      await server.close();
    }
  });

  it('fails the invocation when the application throws, after releasing its leases and without checkpointing the batch', async () => {
    const streamName = 'lambda-failing';
    await createStream(streamName, 1);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered the shard',
        async () => (await shardRows(service)).length === 1,
        10_000,
      );
      await putRecords(streamName, 10, new Set());
      const handler = createShardConsumerHandler({
        checkpointer: service,
        kinesis: kinesis.client,
        streamName,
        leaseDurationMs: LEASE_MS,
        safetyMarginMs: MARGIN_MS,
        logger: silent,
        handleRecords: () => Promise.reject(new Error('poison record')),
      });
      const error = await handler({ slot: 0 }, fakeContext('failing', 4000, 'fails')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ShardConsumerError);
      const summary = (error as ShardConsumerError).summary;
      expect(summary.processingErrors).toBeGreaterThanOrEqual(1);
      expect(summary.checkpoints).toBe(0);
      expect(summary.leasesNotReleased).toEqual([]);
      const [row] = await shardRows(service);
      expect(row?.checkpoint).toBeUndefined();
      expect(row?.owner === undefined || Date.parse(row.leaseTimeout ?? '') <= Date.now()).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('gives back a lease the service grants while the invocation stops, before returning, and counts it', async () => {
    const streamName = 'lambda-stopping';
    await createStream(streamName, 1);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered the shard',
        async () => (await shardRows(service)).length === 1,
        10_000,
      );
      // The take lands at once, but its answer is held until just after the invocation began stopping
      // (the handler stops at the budget less the margin), within the take's deadline.
      const budgetMs = 2_400;
      const margin = 1_000;
      let stopsAt = Number.POSITIVE_INFINITY;
      const takes: Array<{ sentAt: number; answeredAt?: number }> = [];
      const slowTakes: Checkpointer = Object.assign(Object.create(service) as Checkpointer, {
        getLease: async (shardId: string, request: TakeRequest) => {
          const take: { sentAt: number; answeredAt?: number } = { sentAt: Date.now() };
          takes.push(take);
          const lease = await service.getLease(shardId, request);
          await sleep(Math.max(0, stopsAt + 150 - Date.now()));
          take.answeredAt = Date.now();
          return lease;
        },
      });
      const handler = createShardConsumerHandler({
        checkpointer: slowTakes,
        kinesis: kinesis.client,
        streamName,
        safetyMarginMs: margin,
        logger: silent,
        handleRecords: () => undefined,
      });
      stopsAt = Date.now() + budgetMs - margin;
      const summary = await handler({ slot: 0 }, fakeContext('stopping', budgetMs, 'stop-mid-take'));
      const returnedAt = Date.now();
      // The take was in flight when the stop began, and answered during it.
      expect(takes).toHaveLength(1);
      expect(takes[0]?.sentAt).toBeLessThan(stopsAt);
      expect(takes[0]?.answeredAt).toBeGreaterThanOrEqual(stopsAt);
      expect(summary).toMatchObject({ leasesTaken: 1, leasesReleased: 1, leasesNotReleased: [] });
      expect(summary.shards).toEqual({});
      // Nothing held once the invocation returned: the shard is free for the next one at once.
      const [row] = await shardRows(service);
      expect(row?.owner).toBeUndefined();
      expect(Date.parse(row?.leaseTimeout ?? '')).toBeLessThanOrEqual(returnedAt);
    } finally {
      await server.close();
    }
  });

  it('gives back, as it stops, a lease whose take got no answer at all', async () => {
    const streamName = 'lambda-unanswered';
    await createStream(streamName, 1);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered the shard',
        async () => (await shardRows(service)).length === 1,
        10_000,
      );
      // The service grants the take, and the answer never comes (a lost answer): the worker cannot know
      // the lease is its own, nor its counter.
      const unanswered: Checkpointer = Object.assign(Object.create(service) as Checkpointer, {
        getLease: async (shardId: string, request: TakeRequest) => {
          await service.getLease(shardId, request);
          return new Promise<never>(() => undefined);
        },
      });
      const handler = createShardConsumerHandler({
        checkpointer: unanswered,
        kinesis: kinesis.client,
        streamName,
        safetyMarginMs: MARGIN_MS,
        logger: silent,
        handleRecords: () => undefined,
      });
      const summary = await handler({ slot: 0 }, fakeContext('unanswered', 4_000, 'no-answer'));
      const returnedAt = Date.now();
      expect(summary.leasesTaken).toBe(0);
      // The lease the unanswered take got was given back by the take's id at the stop; only a take that
      // was still unanswered when the stop had to return may have left one, and it is reported.
      const [row] = await shardRows(service);
      const held = row?.owner === summary.workerId && Date.parse(row.leaseTimeout ?? '') > returnedAt;
      expect(held ? [row.shardId] : []).toEqual(summary.leasesNotReleased);
    } finally {
      await server.close();
    }
  });

  it("takes a crashed invocation's shard again once its lease expires, from its last checkpoint", async () => {
    const streamName = 'lambda-crash';
    await createStream(streamName, 1);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered the shard',
        async () => (await shardRows(service)).length === 1,
        10_000,
      );
      const put = new Set<string>();
      await putRecords(streamName, 50, put);
      // The crashing invocation: once it holds its first batch, the process "freezes": its calls to the
      // service and its processing never answer, so nothing is renewed, checkpointed or released.
      let frozen = false;
      let crashedAt = 0;
      const hang = () => new Promise<never>(() => undefined);
      const freezing = new Proxy(service, {
        get(target, property) {
          const value = Reflect.get(target, property, target) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => (frozen ? hang() : value.apply(target, args));
        },
      });
      const crashing = createShardConsumerHandler({
        checkpointer: freezing,
        kinesis: kinesis.client,
        streamName,
        leaseDurationMs: LEASE_MS,
        safetyMarginMs: MARGIN_MS,
        batchSize: 10,
        logger: silent,
        handleRecords: () => {
          frozen = true;
          crashedAt = Date.now();
          return hang();
        },
      });
      const crashedRun = crashing({ slot: 0 }, fakeContext('crash', BUDGET_MS, 'crashes'));
      await until('the crashing invocation holds a batch', () => frozen, 10_000);

      const seen = new Map<string, number>();
      let firstAfterCrashMs: number | undefined;
      const survivor = createShardConsumerHandler({
        checkpointer: service,
        kinesis: kinesis.client,
        streamName,
        leaseDurationMs: LEASE_MS,
        safetyMarginMs: MARGIN_MS,
        idleDelayMs: 100,
        logger: silent,
        handleRecords: (records, lease) => {
          firstAfterCrashMs ??= Date.now() - crashedAt;
          for (const r of records) {
            const key = `${lease.shardId}/${r.SequenceNumber}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
          }
        },
      });
      const deadline = Date.now() + 20_000;
      let invocations = 0;
      while (![...put].every((key) => seen.has(key)) && Date.now() < deadline) {
        await survivor({ slot: 1 }, fakeContext('crash', BUDGET_MS, `survivor-${++invocations}`));
      }
      const crashed = await crashedRun;
      expect(crashed.leasesNotReleased).toEqual(['shardId-000000000000']);
      expect([...put].filter((key) => !seen.has(key))).toEqual([]);
      // Read from the checkpoint: the crashed batch was never checkpointed, so it comes again, once.
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
      console.log(
        `lambda consumer crash: the shard of a frozen invocation was read again ${firstAfterCrashMs} ms after ` +
          `the crash, by another slot started then (lease ${LEASE_MS} ms; join delay ${LEASE_MS / 3} ms), ` +
          `in ${invocations} invocation(s)`,
      );
    } finally {
      await server.close();
    }
  });

  it('one invocation reads a backlog (records per second, time to the first record)', async () => {
    const streamName = 'lambda-backlog';
    await createStream(streamName, 1);
    const server = await startServer(streamName);
    const service = new ShardLeaseClient({ baseUrl: server.url });
    try {
      await until(
        'the service discovered the shard',
        async () => (await shardRows(service)).length === 1,
        10_000,
      );
      const put = new Set<string>();
      for (let i = 0; i < 60; i++) await putRecords(streamName, 500, put, i * 500);
      let lastHandedAt = 0;
      const handler = createShardConsumerHandler({
        checkpointer: service,
        kinesis: kinesis.client,
        streamName,
        leaseDurationMs: LEASE_MS,
        safetyMarginMs: MARGIN_MS,
        batchSize: 10_000,
        idleDelayMs: 100,
        logger: silent,
        handleRecords: () => {
          lastHandedAt = Date.now();
        },
      });
      // A first, short invocation joins the fleet; the measured one is a warm slot, as on a schedule.
      const warm = await handler({ slot: 0 }, fakeContext('backlog', 1200, 'warm-up'));
      const start = Date.now();
      const summary = await handler({ slot: 0 }, fakeContext('backlog', 8000, 'measured'));
      expect(warm.leasesNotReleased).toEqual([]);
      expect(summary.leasesNotReleased).toEqual([]);
      expect(warm.records + summary.records).toBeGreaterThanOrEqual(put.size);
      const first = summary.firstRecordAfterMs ?? 0;
      const readMs = lastHandedAt - start - first;
      console.log(
        `lambda consumer backlog: ${summary.records} records through one invocation, the last ` +
          `${lastHandedAt - start} ms after its start (${Math.round((summary.records * 1000) / Math.max(1, lastHandedAt - start))} records/s ` +
          `start to last record; ${readMs > 0 ? Math.round((summary.records * 1000) / readMs) : 'n/a'} records/s first to last batch); ` +
          `first record ${summary.firstRecordAfterMs ?? 'n/a'} ms after the start; warm-up read ${warm.records}`,
      );
    } finally {
      await server.close();
    }
  });
});
