/**
 * The reaper Lambda's environment, read once: the service's variables (loadConfig) plus the optional
 * stream whose shard list the reaper checks. Every problem, from either part, is reported at once.
 * Also the names of the metrics the reaper publishes, which the CDK construct alarms on: one place, so
 * the two cannot drift apart.
 */
import {
  type Env,
  EnvReader,
  finish,
  readService,
  readStreamName,
  type ServiceConfig,
  STREAM_NAME_PATTERN,
} from './config';

export { STREAM_NAME_PATTERN };

export interface ReaperConfig extends ServiceConfig {
  /** STREAM_NAME: the one stream of this table; unset when none is configured (no stream-based deletes). */
  readonly streamName?: string;
  /** KINESIS_ENDPOINT: kinesalite or another compatible endpoint; unset, the SDK's usual resolution. */
  readonly kinesisEndpoint?: string;
  /** DYNAMODB_ENDPOINT: dynalite or another compatible endpoint; unset, the SDK's usual resolution. */
  readonly dynamoDbEndpoint?: string;
  /** REAPER_DELETE_ENDED_ROWS (`true` | `false`, default true): see ReaperOptions.deleteEndedRows. */
  readonly deleteEndedRows: boolean;
}

export function loadReaperConfig(env: Env = process.env): ReaperConfig {
  const r = new EnvReader(env);
  const service = readService(r);
  const streamName = readStreamName(r);
  const kinesisEndpoint = r.url('KINESIS_ENDPOINT');
  const dynamoDbEndpoint = r.url('DYNAMODB_ENDPOINT');
  const deleteEndedRows = r.boolean('REAPER_DELETE_ENDED_ROWS', true);
  return finish(r, {
    ...service,
    deleteEndedRows,
    ...(streamName !== undefined && { streamName }),
    ...(kinesisEndpoint !== undefined && { kinesisEndpoint }),
    ...(dynamoDbEndpoint !== undefined && { dynamoDbEndpoint }),
  });
}

/**
 * The reaper's CloudWatch metrics (Embedded Metric Format through Powertools Metrics): one namespace,
 * and a `TableName` dimension next to Powertools' `service`, so two services in one account (two
 * streams, or a test and a production stack) never add up each other's passes.
 */
export const REAPER_METRICS = {
  namespace: 'ShardLease',
  tableDimension: 'TableName',
  /** 1 for an invocation that finished a pass over the whole table, 0 for one that did not. */
  passesCompleted: 'PassesCompleted',
  /** 1 for an invocation stopped by a fault (reported in its summary, never thrown), else 0. */
  passFaults: 'PassFaults',
  leasesReclaimed: 'LeasesReclaimed',
  claimsDropped: 'ClaimsDropped',
  rowsDeleted: 'RowsDeleted',
  shardsDiscovered: 'ShardsDiscovered',
  pagesScanned: 'PagesScanned',
  rowsScanned: 'RowsScanned',
  conflicts: 'Conflicts',
  passDuration: 'PassDuration',
} as const;
