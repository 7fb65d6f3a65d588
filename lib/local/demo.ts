/**
 * `npm run demo`: the whole thing in one process. An embedded kinesalite with a stream, the local
 * service on an embedded dynalite (its reaper discovers the stream's shards), a producer writing records,
 * and three consumers (lease coordinators in heartbeat mode, each reading its shards with
 * `processShard` and checkpointing after every batch). Consumers can be killed (they stop renewing
 * without releasing, as a crashed process would) and started again, and a shard can be split, so the
 * page at `/` shows failover and parents-before-children. A dev tool: kinesalite is a dev dependency.
 */
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type Shard,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { LeaseCoordinator, type ShardLease } from '../client/coordinator';
import { ShardLeaseClient } from '../client/shard-lease-client';
import { processShard } from '../client/shard-processor';
import { createLocalKinesisClient } from './kinesis-local-client';
import { type LocalServer, startLocalServer } from './server';

export interface DemoOptions {
  /** The service's port. @default 3000; 0 picks a free one */
  readonly port?: number;
  /** kinesalite's port (KINESIS_PORT in `npm run demo`). @default 0 (a free one) */
  readonly kinesisPort?: number;
  readonly streamName?: string;
  /** @default 4 */
  readonly shardCount?: number;
  /** @default 3 */
  readonly consumers?: number;
  /** Short, so that failover shows within seconds. @default 6000 */
  readonly leaseDurationMs?: number;
  /** Records the producer writes every half second. @default 10 */
  readonly recordsPerTick?: number;
  /** Narration: one line per thing that happened. */
  readonly say: (line: string) => void;
  /** The service's and the consumers' logger. @default a Powertools Logger at WARN */
  readonly logger?: Logger;
}

export interface Demo {
  readonly server: LocalServer;
  readonly kinesisEndpoint: string;
  readonly streamName: string;
  readonly leaseDurationMs: number;
  /** consumer-1 … consumer-N */
  readonly consumerIds: readonly string[];
  /** Stops consumer N (1-based) without releasing its leases, as a crash would. */
  kill(n: number): Promise<void>;
  /** Starts consumer N again (a fresh process with the same worker id). */
  restart(n: number): Promise<void>;
  /** Splits `shardId` (default: the open shard with the lowest id) in the middle of its hash range. */
  split(shardId?: string): Promise<string>;
  /** Records each consumer processed so far. */
  processed(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

interface KinesaliteServer {
  listen(port: number, host: string, callback: (error?: Error) => void): void;
  address(): AddressInfo;
  close(callback: (error?: Error) => void): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startKinesalite(port: number): Promise<{ endpoint: string; close(): Promise<void> }> {
  // kinesalite ships no types; its factory returns a node:http server.
  const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => KinesaliteServer;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve, reject) =>
    server.listen(port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
  );
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function openShards(kinesis: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards.filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined);
}

async function waitActive(kinesis: KinesisClient, streamName: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(100);
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { say } = options;
  const started = Date.now();
  const streamName = options.streamName ?? 'demo';
  const leaseDurationMs = options.leaseDurationMs ?? 6_000;
  const logger = options.logger ?? new Logger({ serviceName: 'shardlease-demo', logLevel: 'WARN' });

  const kinesalite = await startKinesalite(options.kinesisPort ?? 0);
  const kinesis = createLocalKinesisClient(kinesalite.endpoint);
  let server: LocalServer | undefined;
  try {
    await kinesis.send(
      new CreateStreamCommand({ StreamName: streamName, ShardCount: options.shardCount ?? 4 }),
    );
    await waitActive(kinesis, streamName);
    server = await startLocalServer({
      port: options.port ?? 3000,
      leaseDurationMs,
      reaperIntervalMs: 1_000,
      reaperGraceMs: leaseDurationMs,
      streamName,
      kinesisEndpoint: kinesalite.endpoint,
      logger,
    });
  } catch (error) {
    kinesis.destroy();
    await kinesalite.close();
    throw error;
  }
  const service = server;

  // The producer: a few records every half second, spread over the open shards by random keys.
  let produced = 0;
  let producing = true;
  const producer = (async () => {
    while (producing) {
      const records = Array.from({ length: options.recordsPerTick ?? 10 }, () => ({
        PartitionKey: `key-${Math.random().toString(36).slice(2)}`,
        Data: Buffer.from(JSON.stringify({ n: ++produced, at: new Date().toISOString() })),
      }));
      await kinesis
        .send(new PutRecordsCommand({ StreamName: streamName, Records: records }))
        .catch((error: unknown) =>
          say(`producer: ${error instanceof Error ? error.message : String(error)}`),
        );
      await sleep(500);
    }
  })();

  const counts: Record<string, number> = {};
  /** The worker that last held each shard, to name failovers. */
  const lastHolder = new Map<string, string>();
  let firstCheckpoint = true;

  const consumerIds = Array.from({ length: options.consumers ?? 3 }, (_, i) => `consumer-${i + 1}`);
  const makeConsumer = (workerId: string) =>
    new LeaseCoordinator({
      // The lease duration comes from the service.
      checkpointer: new ShardLeaseClient({ baseUrl: service.url }),
      workerId,
      logger,
      onLeaseGained: (lease: ShardLease) => {
        const before = lastHolder.get(lease.shardId);
        const parents = lease.parentShardIds.length ? ` (child of ${lease.parentShardIds.join(' + ')})` : '';
        say(
          before && before !== workerId
            ? `${workerId} took ${lease.shardId} over from ${before}${parents}`
            : `${workerId} took ${lease.shardId}${parents}`,
        );
        lastHolder.set(lease.shardId, workerId);
        const tracked: ShardLease = {
          shardId: lease.shardId,
          parentShardIds: lease.parentShardIds,
          startingCheckpoint: lease.startingCheckpoint,
          signal: lease.signal,
          checkpoint: async (sequenceNumber) => {
            await lease.checkpoint(sequenceNumber);
            if (firstCheckpoint) {
              firstCheckpoint = false;
              say(
                `first checkpoint: ${workerId} on ${lease.shardId}, ${Date.now() - started} ms after start`,
              );
            }
          },
        };
        return processShard(tracked, {
          kinesis,
          streamName,
          idleDelayMs: 500,
          handleRecords: (records) => {
            counts[workerId] = (counts[workerId] ?? 0) + records.length;
          },
        }).then((outcome) => {
          if (outcome === 'ended') say(`${workerId} read ${lease.shardId} to its end (SHARD_END)`);
        });
      },
      onLeaseLost: (event) => {
        if (event.reason !== 'stopped' && event.reason !== 'finished')
          say(
            `${workerId} lost ${event.shardId}: ${event.reason}${event.owner ? ` (now ${event.owner})` : ''}`,
          );
      },
    });
  const consumers = new Map(consumerIds.map((id) => [id, makeConsumer(id)]));
  await Promise.all([...consumers.values()].map((c) => c.start()));

  const consumerAt = (n: number): string => {
    const id = consumerIds[n - 1];
    if (id === undefined) throw new Error(`no consumer ${n}: 1 to ${consumerIds.length}`);
    return id;
  };
  const killed = new Set<string>();

  return {
    server: service,
    kinesisEndpoint: kinesalite.endpoint,
    streamName,
    leaseDurationMs,
    consumerIds,
    kill: async (n) => {
      const id = consumerAt(n);
      if (killed.has(id)) return;
      killed.add(id);
      await consumers.get(id)?.stop({ release: false });
      say(`killed ${id}: its leases expire in ${leaseDurationMs / 1000} s, then the others take them`);
    },
    restart: async (n) => {
      const id = consumerAt(n);
      if (!killed.has(id)) return;
      killed.delete(id);
      const fresh = makeConsumer(id);
      consumers.set(id, fresh);
      await fresh.start();
      say(`started ${id} again`);
    },
    split: async (shardId) => {
      const open = (await openShards(kinesis, streamName)).sort((a, b) =>
        (a.ShardId ?? '').localeCompare(b.ShardId ?? ''),
      );
      const shard = shardId ? open.find((s) => s.ShardId === shardId) : open[0];
      if (!shard?.ShardId || !shard.HashKeyRange?.StartingHashKey || !shard.HashKeyRange.EndingHashKey) {
        throw new Error(`no open shard ${shardId ?? ''} to split`);
      }
      const low = BigInt(shard.HashKeyRange.StartingHashKey);
      const high = BigInt(shard.HashKeyRange.EndingHashKey);
      await kinesis.send(
        new SplitShardCommand({
          StreamName: streamName,
          ShardToSplit: shard.ShardId,
          NewStartingHashKey: ((low + high) / 2n + 1n).toString(),
        }),
      );
      say(`split ${shard.ShardId}: its children start once a consumer has read it to the end`);
      await waitActive(kinesis, streamName);
      return shard.ShardId;
    },
    processed: () => ({ ...counts }),
    close: async () => {
      producing = false;
      await producer;
      await Promise.all([...consumers.values()].map((c) => c.stop()));
      await service.close();
      kinesis.destroy();
      await kinesalite.close();
    },
  };
}
