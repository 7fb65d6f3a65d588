/**
 * The commands: their arguments, options and help, as data. The parser (args.ts) checks a command
 * line against this table and the runner (run-cli.ts) calls each command's `run`.
 */

export type OptionName =
  | 'url'
  | 'region'
  | 'max-attempts'
  | 'json'
  | 'help'
  | 'worker'
  | 'counter'
  | 'shards'
  | 'strict'
  | 'table'
  | 'dynamodb-endpoint'
  | 'claim-timeout-ms'
  | 'grace-ms'
  | 'stream'
  | 'kinesis-endpoint';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly value?: string;
  readonly description: string;
}

export const OPTIONS: Readonly<Record<OptionName, OptionSpec>> = {
  url: {
    type: 'string',
    value: 'URL',
    description:
      'API base URL (env SHARDLEASE_URL; default http://127.0.0.1:3000). Non-loopback URLs are SigV4-signed.',
  },
  region: {
    type: 'string',
    value: 'REGION',
    description: 'AWS region for signing or DynamoDB (env AWS_REGION)',
  },
  'max-attempts': {
    type: 'string',
    value: 'N',
    description: 'tries per request, for throttling and faults (default 10)',
  },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
  worker: { type: 'string', short: 'w', value: 'ID', description: 'worker id' },
  counter: { type: 'string', value: 'N', description: 'lease counter the caller holds (fencing token)' },
  shards: { type: 'string', value: 'A,B,…', description: 'consider only these shard ids' },
  strict: {
    type: 'boolean',
    description: 'fail with ShardNotAssigned when one of --shards has no live owner',
  },
  table: {
    type: 'string',
    value: 'NAME',
    description: 'lease table (env TABLE_NAME; default shardlease-local)',
  },
  'dynamodb-endpoint': {
    type: 'string',
    value: 'URL',
    description: 'DynamoDB-compatible endpoint, e.g. a local dynalite (env DYNAMODB_ENDPOINT)',
  },
  'claim-timeout-ms': { type: 'string', value: 'MS', description: 'claim timeout (env CLAIM_TIMEOUT_MS)' },
  'grace-ms': {
    type: 'string',
    value: 'MS',
    description: 'grace after expiry before clearing (env REAPER_GRACE_MS)',
  },
  stream: {
    type: 'string',
    value: 'A,B,…',
    description: 'the stream whose shard list decides which rows are gone (env STREAM_NAME)',
  },
  'kinesis-endpoint': {
    type: 'string',
    value: 'URL',
    description: 'Kinesis-compatible endpoint, e.g. a local kinesalite (env KINESIS_ENDPOINT)',
  },
};

export type CommandName = 'list' | 'show' | 'workers' | 'release' | 'claim' | 'checkpoint' | 'reap';

export interface CommandSpec {
  readonly name: CommandName;
  readonly args: readonly string[];
  readonly options: readonly OptionName[];
  readonly required: readonly OptionName[];
  readonly summary: string;
}

const API: readonly OptionName[] = ['url', 'region', 'max-attempts'];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'list',
    args: [],
    options: API,
    required: [],
    summary: 'list every shard: owner, lease expiry, checkpoint, claim',
  },
  {
    name: 'show',
    args: ['shard'],
    options: API,
    required: [],
    summary: 'show one shard’s lease and checkpoint',
  },
  {
    name: 'workers',
    args: [],
    options: [...API, 'shards', 'strict'],
    required: [],
    summary: 'list live workers, the shards each owns, and unassigned shards',
  },
  {
    name: 'release',
    args: ['shard'],
    options: [...API, 'worker'],
    required: ['worker'],
    summary: 'release a worker’s lease on a shard',
  },
  {
    name: 'claim',
    args: ['shard'],
    options: [...API, 'worker'],
    required: ['worker'],
    summary: 'record a steal claim on a shard for a worker',
  },
  {
    name: 'checkpoint',
    args: ['shard', 'sequence'],
    options: [...API, 'worker', 'counter'],
    required: ['worker'],
    summary: 'record a checkpoint (a sequence number or SHARD_END) as the lease owner',
  },
  {
    name: 'reap',
    args: [],
    options: [
      'table',
      'dynamodb-endpoint',
      'region',
      'claim-timeout-ms',
      'grace-ms',
      'stream',
      'kinesis-endpoint',
    ],
    required: [],
    summary: 'run one reaper pass directly on the table',
  },
];

export function commandNamed(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
