/**
 * An example Kinesis consumer on shardlease: a lease coordinator takes its fair share of the stream's
 * shards, and each owned shard is read from its checkpoint and checkpointed after every batch.
 *
 *   SHARDLEASE_URL=http://127.0.0.1:3000 STREAM_NAME=orders KINESIS_ENDPOINT=http://127.0.0.1:4567 \
 *   WORKER_ID=worker-1 npx tsx examples/consumer.ts
 *
 * SHARDLEASE_URL and STREAM_NAME are required. KINESIS_ENDPOINT (unset: AWS Kinesis) and WORKER_ID
 * (unset: host name and process id) are optional. The lease duration comes from the service; a
 * LEASE_DURATION_MS that is set must equal it, or the consumer stops at once naming both values. Stop
 * with Ctrl-C: the leases are released so that other workers take the shards at once.
 */
import { hostname } from 'node:os';
import { Logger } from '@aws-lambda-powertools/logger';
import type { _Record } from '@aws-sdk/client-kinesis';
import { LeaseCoordinator, type ShardLease } from '../lib/client/coordinator';
import { ShardLeaseClient } from '../lib/client/shard-lease-client';
import { processShard } from '../lib/client/shard-processor';
import { createLocalKinesisClient } from '../lib/local/kinesis-local-client';
import { createKinesisClient } from '../lib/store/kinesis-client';

interface ConsumerConfig {
  readonly shardLeaseUrl: string;
  readonly streamName: string;
  readonly kinesisEndpoint: string | undefined;
  readonly workerId: string;
  /** Only to check against the service's: the coordinator takes the service's terms. */
  readonly leaseDurationMs: number | undefined;
}

/** Reads the environment once; throws naming every missing or invalid variable. */
export function consumerConfig(env: NodeJS.ProcessEnv): ConsumerConfig {
  const problems: string[] = [];
  if (!env.SHARDLEASE_URL) problems.push('SHARDLEASE_URL: required (e.g. http://127.0.0.1:3000)');
  if (!env.STREAM_NAME) problems.push('STREAM_NAME: required');
  const leaseDurationMs = env.LEASE_DURATION_MS ? Number(env.LEASE_DURATION_MS) : undefined;
  if (leaseDurationMs !== undefined && (!Number.isInteger(leaseDurationMs) || leaseDurationMs <= 0)) {
    problems.push(`LEASE_DURATION_MS: must be a positive integer, got ${env.LEASE_DURATION_MS}`);
  }
  if (problems.length > 0) throw new Error(`invalid configuration: ${problems.join('; ')}`);
  return {
    shardLeaseUrl: env.SHARDLEASE_URL as string,
    streamName: env.STREAM_NAME as string,
    kinesisEndpoint: env.KINESIS_ENDPOINT || undefined,
    workerId: env.WORKER_ID || `${hostname()}-${process.pid}`,
    leaseDurationMs,
  };
}

async function main(): Promise<void> {
  const logger = new Logger({ serviceName: 'shardlease-consumer' });
  const config = consumerConfig(process.env);
  // A local endpoint is kinesalite, which speaks only HTTP/1.1.
  const kinesis = config.kinesisEndpoint
    ? createLocalKinesisClient(config.kinesisEndpoint)
    : createKinesisClient();
  logger.appendKeys({ workerId: config.workerId });

  // The application's work: here, a log line per batch.
  const handleRecords = (records: readonly _Record[], lease: ShardLease) => {
    logger.info('records processed', {
      shardId: lease.shardId,
      count: records.length,
      lastSequenceNumber: records.at(-1)?.SequenceNumber,
    });
  };

  const coordinator = new LeaseCoordinator({
    // Heartbeat mode: the service discovers the stream's shards and plans the fleet (the local server
    // does when started with STREAM_NAME and KINESIS_ENDPOINT, as `npm run demo` does).
    checkpointer: new ShardLeaseClient({ baseUrl: config.shardLeaseUrl }),
    workerId: config.workerId,
    ...(config.leaseDurationMs !== undefined && { leaseDurationMs: config.leaseDurationMs }),
    logger,
    onLeaseGained: async (lease) => {
      const outcome = await processShard(lease, { kinesis, streamName: config.streamName, handleRecords });
      logger.info('shard processing finished', { shardId: lease.shardId, outcome });
    },
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    coordinator
      .stop()
      .catch((error: unknown) => logger.error('stop failed', { error }))
      .finally(() => kinesis.destroy());
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  await coordinator.start();
  logger.info('consumer started', { streamName: config.streamName, shards: coordinator.heldShards() });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    new Logger({ serviceName: 'shardlease-consumer' }).error('consumer failed', { error });
    process.exitCode = 1;
  });
}
