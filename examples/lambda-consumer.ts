/**
 * An example Lambda consumer on shardlease: each invocation joins the fleet as the worker of its slot,
 * reads its share of the stream's shards from their checkpoints, checkpoints after every batch, stops
 * a safety margin before its time runs out, and returns with every lease released.
 *
 * Deploy it with `ShardLeaseConsumer` (shardlease/cdk), which sets SHARDLEASE_URL and STREAM_NAME and
 * invokes it as N slots on a schedule (the lease duration comes from the service itself):
 *
 *   new ShardLeaseConsumer(stack, 'OrdersConsumer', {
 *     shardLease: leases, entry: 'examples/lambda-consumer.ts', concurrency: 3,
 *   });
 *
 * Locally (`npm start` with STREAM_NAME and KINESIS_ENDPOINT set, so the service discovers the shards),
 * one invocation of slot 0 with a 30 s budget:
 *
 *   SHARDLEASE_URL=http://127.0.0.1:3000 STREAM_NAME=orders KINESIS_ENDPOINT=http://127.0.0.1:4567 \
 *   npx tsx examples/lambda-consumer.ts
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { _Record } from '@aws-sdk/client-kinesis';
import type { ShardLease } from '../lib/client/coordinator';
import { createShardConsumerHandler, type LambdaContextLike } from '../lib/client/lambda-consumer';
import { ShardLeaseClient } from '../lib/client/shard-lease-client';
import { createKinesisClient } from '../lib/store/kinesis-client';

const logger = new Logger({ serviceName: 'orders-consumer' });

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required (ShardLeaseConsumer sets it)`);
  return value;
}

// Clients and configuration at module scope: built once per execution environment.
const streamName = required('STREAM_NAME');
const kinesis = process.env.KINESIS_ENDPOINT
  ? // kinesalite speaks HTTP/1.1 only (a local run); in Lambda, the SDK's default handler.
    (
      require('../lib/local/kinesis-local-client') as typeof import('../lib/local/kinesis-local-client')
    ).createLocalKinesisClient(process.env.KINESIS_ENDPOINT)
  : createKinesisClient();

/** The application's work: here, a log line per batch. Throwing fails the invocation (after the release). */
async function handleRecords(records: readonly _Record[], lease: ShardLease): Promise<void> {
  logger.info('records processed', {
    shardId: lease.shardId,
    count: records.length,
    lastSequenceNumber: records.at(-1)?.SequenceNumber,
  });
}

export const handler = createShardConsumerHandler({
  checkpointer: new ShardLeaseClient({ baseUrl: required('SHARDLEASE_URL') }),
  kinesis,
  streamName,
  handleRecords,
  logger,
});

if (require.main === module) {
  const budgetMs = 30_000;
  const deadline = Date.now() + budgetMs;
  const context: LambdaContextLike = {
    functionName: 'orders-consumer-local',
    awsRequestId: `local-${Date.now()}`,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  handler({ slot: 0, slots: 1 }, context)
    .then((summary) => logger.info('summary', { summary }))
    .catch((error: unknown) => {
      logger.error('invocation failed', { error });
      process.exitCode = 1;
    })
    .finally(() => kinesis.destroy());
}
