import { Logger } from '@aws-lambda-powertools/logger';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { startLocalServer } from '../../lib/local/server';
import { testEndpoint, uniqueTableName } from '../support/dynamo';
import { BEHAVIOUR_TERMS, describeCheckpointerBehaviour, newBehaviourClock } from './checkpointer-behaviour';

describeCheckpointerBehaviour('ShardLeaseClient', async () => {
  const clock = newBehaviourClock();
  const server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('behaviour-http'),
    createTable: true,
    reaperIntervalMs: 0,
    clock,
    logger: new Logger({ logLevel: 'SILENT' }),
    ...BEHAVIOUR_TERMS,
  });
  // No retries: every case is deterministic, so a retry could only hide a fault.
  const checkpointer = new ShardLeaseClient({ baseUrl: server.url, maxAttempts: 1 });
  return { checkpointer, clock, tableName: server.tableName, close: () => server.close() };
});
