/**
 * The reaper Lambda's environment, read once: the service's variables (loadConfig) plus the optional
 * stream(s) whose shard list the reaper checks. Every problem, from either part, is reported at once.
 */
import { ConfigError, loadConfig, type ServiceConfig } from './config';

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

type Env = Readonly<Record<string, string | undefined>>;

/** Kinesis stream names: 1..128 of [a-zA-Z0-9_.-]. */
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

function readStreamNames(raw: string | undefined, problems: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const names = raw.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !STREAM_NAME.test(n));
  if (bad.length > 0) {
    problems.push(
      `STREAM_NAME=${JSON.stringify(raw)} must be comma-separated stream names of 1..128 [a-zA-Z0-9_.-] (bad: ${bad
        .map((b) => JSON.stringify(b))
        .join(', ')})`,
    );
  }
  return [...new Set(names)];
}

function readEndpoint(env: Env, name: string, problems: string[]): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    problems.push(`${name}=${JSON.stringify(raw)} must be an http(s) URL`);
  }
  return raw;
}

function readBoolean(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
  return fallback;
}

export function loadReaperConfig(env: Env = process.env): ReaperConfig {
  const problems: string[] = [];
  let service: ServiceConfig | undefined;
  try {
    service = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const streamNames = readStreamNames(env.STREAM_NAME, problems);
  const kinesisEndpoint = readEndpoint(env, 'KINESIS_ENDPOINT', problems);
  const dynamoDbEndpoint = readEndpoint(env, 'DYNAMODB_ENDPOINT', problems);
  const deleteEndedRows = readBoolean(env, 'REAPER_DELETE_ENDED_ROWS', true, problems);
  if (problems.length > 0 || !service) throw new ConfigError(problems);
  return {
    ...service,
    streamNames,
    deleteEndedRows,
    ...(kinesisEndpoint !== undefined && { kinesisEndpoint }),
    ...(dynamoDbEndpoint !== undefined && { dynamoDbEndpoint }),
  };
}
