/**
 * Configuration from the environment, read and checked once (at cold start). The same names serve
 * Lambda and the local server; every problem is reported at once, so a broken deployment says all
 * that is wrong with it in one log line.
 */
import type { LeaseTerms } from './rules';

export interface ServiceConfig extends LeaseTerms {
  readonly tableName: string;
  /** An owner expired longer than this is cleared by the reaper. */
  readonly reaperGraceMs: number;
}

export interface LocalConfig extends ServiceConfig {
  readonly port: number;
  /** REAPER_INTERVAL_MS: milliseconds between the local reaper's passes; 0 switches the reaper off. */
  readonly reaperIntervalMs: number;
  /** REAPER_DELETE_ENDED_ROWS (`true` | `false`, default true), read as the deployed reaper reads it. */
  readonly reaperDeletesEndedRows: boolean;
  /** Unset: dynalite in memory. */
  readonly dataDir?: string;
  /** Unset: the embedded dynalite. */
  readonly dynamoDbEndpoint?: string;
  readonly streamName?: string;
  readonly kinesisEndpoint?: string;
}

export const DEFAULT_LEASE_DURATION_MS = 10_000;
export const DEFAULT_CLAIM_TIMEOUT_MS = 120_000;
export const DEFAULT_REAPER_GRACE_MS = 10_000;
export const DEFAULT_PORT = 3000;
export const DEFAULT_REAPER_INTERVAL_MS = 5_000;
/** The longest period setInterval keeps (2^31 - 1 ms); a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2_147_483_647;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads variables and collects every problem, so one error can list them all. */
export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  text(name: string, fallback?: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  }

  required(name: string, check?: (v: string) => string | undefined): string {
    const value = this.text(name);
    if (value === undefined) {
      this.problems.push(`${name} is required`);
      return '';
    }
    const problem = check?.(value);
    if (problem) this.problems.push(`${name}=${JSON.stringify(value)} ${problem}`);
    return value;
  }

  /** An http(s) URL, such as a local DynamoDB or Kinesis endpoint. */
  url(name: string): string | undefined {
    const value = this.text(name);
    if (value === undefined) return undefined;
    const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
    if (protocol !== 'http:' && protocol !== 'https:') {
      this.problems.push(`${name}=${JSON.stringify(value)} must be an http(s) URL`);
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.text(name);
    if (value === undefined) return fallback;
    if (value === 'true' || value === 'false') return value === 'true';
    this.problems.push(`${name}=${JSON.stringify(value)} must be true or false`);
    return fallback;
  }

  /** A comma-separated list, each item matching `pattern`; duplicates dropped. */
  list(name: string, pattern: RegExp, rule: string): string[] {
    const value = this.text(name);
    if (value === undefined) return [];
    const items = value.split(',').map((item) => item.trim());
    const bad = items.filter((item) => !pattern.test(item));
    if (bad.length > 0) {
      this.problems.push(
        `${name}=${JSON.stringify(value)} must be comma-separated ${rule} (bad: ${bad.map((b) => JSON.stringify(b)).join(', ')})`,
      );
    }
    return [...new Set(items)];
  }

  /** One of `allowed`, in any letter case; the value as `allowed` spells it. */
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.text(name);
    if (value === undefined) return undefined;
    const match = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
    if (match === undefined) {
      this.problems.push(`${name}=${JSON.stringify(value)} must be one of ${allowed.join(', ')}`);
    }
    return match;
  }

  /** An integer in min..max. */
  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    return this.whole(name, fallback, (v) => v >= min && v <= max, `an integer in ${min}..${max}`);
  }

  /** 0 (for off) or an integer in min..max, such as a timer's period. */
  integerOrOff(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    return this.whole(
      name,
      fallback,
      (v) => v === 0 || (v >= min && v <= max),
      `0 (off) or an integer in ${min}..${max}`,
    );
  }

  private whole(name: string, fallback: number, accept: (value: number) => boolean, rule: string): number {
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !accept(value)) {
      this.problems.push(`${name}=${JSON.stringify(raw)} must be ${rule}`);
      return fallback;
    }
    return value;
  }
}

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

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

/** The levels Powertools Logger knows; it would ignore any other value without a word. */
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

export function readService(r: EnvReader): ServiceConfig {
  r.oneOf('POWERTOOLS_LOG_LEVEL', LOG_LEVELS);
  return {
    tableName: r.required('TABLE_NAME', (v) =>
      TABLE_NAME.test(v) ? undefined : 'must be 3..255 of [a-zA-Z0-9_.-]',
    ),
    leaseDurationMs: r.integer('LEASE_DURATION_MS', DEFAULT_LEASE_DURATION_MS, 100, 86_400_000),
    claimTimeoutMs: r.integer('CLAIM_TIMEOUT_MS', DEFAULT_CLAIM_TIMEOUT_MS, 100, 86_400_000),
    reaperGraceMs: r.integer('REAPER_GRACE_MS', DEFAULT_REAPER_GRACE_MS, 0, 86_400_000),
  };
}

export function finish<T>(r: EnvReader, config: T): T {
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

export function loadConfig(env: Env = process.env): ServiceConfig {
  const r = new EnvReader(env);
  return finish(r, readService(r));
}

export function loadLocalConfig(env: Env = process.env): LocalConfig {
  const r = new EnvReader({ ...env, TABLE_NAME: env.TABLE_NAME || 'shardlease-local' });
  const optional = (name: string) => r.text(name);
  const config: LocalConfig = {
    ...readService(r),
    port: r.integer('PORT', DEFAULT_PORT, 0, 65_535),
    reaperIntervalMs: r.integerOrOff('REAPER_INTERVAL_MS', DEFAULT_REAPER_INTERVAL_MS, 100, MAX_TIMER_MS),
    reaperDeletesEndedRows: r.boolean('REAPER_DELETE_ENDED_ROWS', true),
    dataDir: optional('DATA_DIR'),
    dynamoDbEndpoint: r.url('DYNAMODB_ENDPOINT'),
    streamName: readStreamName(r),
    kinesisEndpoint: r.url('KINESIS_ENDPOINT'),
  };
  // Read by bin/local.ts before anything logs (lib/local/log-format.ts); checked here with the rest.
  r.oneOf('LOG_FORMAT', ['json', 'pretty']);
  return finish(r, config);
}
