/**
 * The reaper Lambda's environment, read once: the service's variables (loadConfig) plus the optional
 * stream whose shard list the reaper checks. Every problem, from either part, is reported at once.
 * Also the names of the metrics the reaper publishes, which the CDK construct alarms on: one place, so
 * the two cannot drift apart.
 */
import { type Env, EnvReader, finish, readService, type ServiceConfig } from './config';

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

/** Kinesis stream names: 1..128 of [a-zA-Z0-9_.-]. */
export const STREAM_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;

/**
 * STREAM_NAME, one stream or none. Shard ids repeat across streams (`shardId-000000000000` is in every
 * one), so rows of two streams in one table would be the same rows: two fleets would take each other's
 * shards and overwrite each other's checkpoints. A list is refused rather than half-used.
 */
export function readStreamName(r: EnvReader): string | undefined {
  const value = r.text('STREAM_NAME');
  if (value === undefined) return undefined;
  if (value.includes(',')) {
    r.problems.push(
      `STREAM_NAME=${JSON.stringify(value)} must name one stream: one lease table serves one stream ` +
        '(shard ids repeat across streams), so give each stream its own table and service',
    );
  } else if (!STREAM_NAME_PATTERN.test(value)) {
    r.problems.push(`STREAM_NAME=${JSON.stringify(value)} must be 1..128 of [a-zA-Z0-9_.-]`);
  }
  return value;
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
  pagesScanned: 'PagesScanned',
  rowsScanned: 'RowsScanned',
  conflicts: 'Conflicts',
  passDuration: 'PassDuration',
} as const;
