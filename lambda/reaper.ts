/**
 * The scheduled reaper (EventBridge). Configuration, clients and the Reaper are made on the first
 * invocation and kept for the container's life. A pass that runs short of time stops between pages
 * and leaves `resumeFrom` here, so the next invocation in this warm container continues where it
 * stopped. A cold start has no `resumeFrom` and starts again from the top of the table: safe, since
 * every write is conditional on the row as read, and ended/gone rows are only deleted at the end of a
 * pass that has seen the whole table.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { loadReaperConfig, REAPER_METRICS } from '../lib/core/reaper-config';
import { createDynamoClient } from '../lib/store/dynamo-client';
import { createKinesisClient } from '../lib/store/kinesis-client';
import { KinesisShardSource } from '../lib/store/kinesis-shard-source';
import { Reaper, type ReaperSummary, reportReaperPass } from '../lib/store/reaper';

/**
 * Left for the page in flight (up to 500 conditional writes, 16 at a time), the stream listing and the
 * deletes after the last page, so the pass ends on its own before Lambda stops it.
 */
export const SAFETY_MARGIN_MS = 15_000;

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'shardlease';
const logger = new Logger({ serviceName });
const metrics = new Metrics({ namespace: REAPER_METRICS.namespace, serviceName });

let reaper: Reaper | undefined;
/** Where the last, unfinished pass stopped; undefined after a complete pass or a cold start. */
let resumeFrom: string | undefined;

function containerReaper(): Reaper {
  if (!reaper) {
    const config = loadReaperConfig(process.env);
    // The table tells this service's passes from another's in the same account and namespace.
    metrics.setDefaultDimensions({ [REAPER_METRICS.tableDimension]: config.tableName });
    reaper = new Reaper({
      client: createDynamoClient(config.dynamoDbEndpoint ? { endpoint: config.dynamoDbEndpoint } : {}),
      tableName: config.tableName,
      claimTimeoutMs: config.claimTimeoutMs,
      graceMs: config.reaperGraceMs,
      leaseDurationMs: config.leaseDurationMs,
      deleteEndedRows: config.deleteEndedRows,
      ...(config.streamName !== undefined && {
        shardSource: new KinesisShardSource({
          client: createKinesisClient(config.kinesisEndpoint ? { endpoint: config.kinesisEndpoint } : {}),
          streamName: config.streamName,
        }),
      }),
    });
  }
  return reaper;
}

export const handler = async (
  _event: EventBridgeEvent<'Scheduled Event', unknown>,
  context: Context,
): Promise<ReaperSummary> => {
  logger.addContext(context);
  const summary = await containerReaper().runPass({
    ...(resumeFrom !== undefined && { startAfter: resumeFrom }),
    shouldStop: () => context.getRemainingTimeInMillis() < SAFETY_MARGIN_MS,
  });
  resumeFrom = summary.resumeFrom;
  reportReaperPass(summary, { logger, metrics });
  return summary;
};
