/**
 * The reaper Lambda's environment, read once: the service's variables (loadConfig) plus the optional
 * stream(s) whose shard list the reaper checks. Every problem, from either part, is reported at once.
 */
import { type Env, EnvReader, finish, readService, type ServiceConfig } from './config';

export interface ReaperConfig extends ServiceConfig {
  /** STREAM_NAME, comma-separated; empty when no stream is configured (no stream-based deletes). */
  readonly streamNames: readonly string[];
  /** KINESIS_ENDPOINT: kinesalite or another compatible endpoint; unset, the SDK's usual resolution. */
  readonly kinesisEndpoint?: string;
  /** DYNAMODB_ENDPOINT: dynalite or another compatible endpoint; unset, the SDK's usual resolution. */
  readonly dynamoDbEndpoint?: string;
  /** REAPER_DELETE_ENDED_ROWS (`true` | `false`, default true): see ReaperOptions.deleteEndedRows. */
  readonly deleteEndedRows: boolean;
}

/** Kinesis stream names: 1..128 of [a-zA-Z0-9_.-]. */
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

export function loadReaperConfig(env: Env = process.env): ReaperConfig {
  const r = new EnvReader(env);
  const service = readService(r);
  const streamNames = r.list('STREAM_NAME', STREAM_NAME, 'stream names of 1..128 [a-zA-Z0-9_.-]');
  const kinesisEndpoint = r.url('KINESIS_ENDPOINT');
  const dynamoDbEndpoint = r.url('DYNAMODB_ENDPOINT');
  const deleteEndedRows = r.boolean('REAPER_DELETE_ENDED_ROWS', true);
  return finish(r, {
    ...service,
    streamNames,
    deleteEndedRows,
    ...(kinesisEndpoint !== undefined && { kinesisEndpoint }),
    ...(dynamoDbEndpoint !== undefined && { dynamoDbEndpoint }),
  });
}
