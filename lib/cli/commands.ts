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
  | 'kinesis-endpoint'
  | 'force'
  | 'yes'
  | 'port'
  | 'lease-ms';

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
  json: {
    type: 'boolean',
    description: 'print JSON on stdout (on failure: {"error": {code, message, hint, …}})',
  },
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
    value: 'NAME',
    description: 'the one stream whose shard list decides which rows are gone (env STREAM_NAME)',
  },
  'kinesis-endpoint': {
    type: 'string',
    value: 'URL',
    description: 'Kinesis-compatible endpoint, e.g. a local kinesalite (env KINESIS_ENDPOINT)',
  },
  force: {
    type: 'boolean',
    description:
      'delete even while another worker holds a live lease: stop that worker first, or it may take the shard again and carry on',
  },
  yes: {
    type: 'boolean',
    short: 'y',
    description: 'do not ask for confirmation (needed when stdin is not a terminal)',
  },
  port: {
    type: 'string',
    value: 'PORT',
    description: 'local port for the page (default 8080; 0 takes any free one)',
  },
  'lease-ms': {
    type: 'string',
    value: 'MS',
    description:
      'the lease duration you expect (env LEASE_DURATION_MS; default: the one the service states); exits 2 if the service states another',
  },
};

export type CommandName =
  | 'list'
  | 'show'
  | 'workers'
  | 'release'
  | 'claim'
  | 'checkpoint'
  | 'delete'
  | 'reset'
  | 'reap'
  | 'dashboard'
  | 'terms';

export interface CommandSpec {
  readonly name: CommandName;
  readonly args: readonly string[];
  readonly options: readonly OptionName[];
  readonly required: readonly OptionName[];
  readonly summary: string;
  /** More lines for `<command> --help`. */
  readonly details?: readonly string[];
}

const API: readonly OptionName[] = ['url', 'region', 'max-attempts'];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'list',
    args: [],
    options: API,
    required: [],
    summary: 'list every shard: owner, lease expiry (relative), checkpoint, claim',
    details: [
      'EXPIRES is relative to this machine’s clock ("in 8s", "expired 3m ago"); --json and `show`',
      'give the absolute lease timeout the service wrote.',
    ],
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
    name: 'delete',
    args: ['shard'],
    options: [...API, 'worker', 'force', 'yes'],
    required: [],
    summary: 'delete a shard’s row (lease, checkpoint, parent, claim), after confirmation',
    details: [
      'For a shard the stream no longer has (the reaper also does this by itself). The row and its',
      'checkpoint are gone: if the shard still exists, the next worker to take it starts it from its',
      'initial position, and until then only shard discovery (when the service knows the stream)',
      'brings its row back. To reprocess a live shard, use `reset`, which keeps the row.',
      '',
      'Refused (LeaseNotAcquired, exit 1) while another worker holds a live lease, unless --force;',
      'with --worker ID, the row may be deleted while ID itself holds the lease.',
      'Asks for confirmation on a terminal; without a terminal it needs --yes (else exit 4).',
    ],
  },
  {
    name: 'reset',
    args: ['shard'],
    options: [...API, 'worker', 'force', 'yes'],
    required: [],
    summary: 'forget a shard’s checkpoint and lease so it is processed afresh, after confirmation',
    details: [
      'Deletes the shard’s row, then writes it back empty: the same shard id and parent shard, no',
      'owner, no checkpoint, no claim. The next worker to take the shard starts it from its initial',
      'position (TRIM_HORIZON or LATEST, as the consumer is configured), in parent-before-child',
      'order, whether or not shard discovery is configured. The row is written back by taking the',
      `lease as worker ${'`shardlease-cli`'} and releasing it at once; if a worker takes the shard in`,
      'between, the shard has already started afresh and that step is skipped.',
      '',
      'Refused (LeaseNotAcquired, exit 1) while another worker holds a live lease, unless --force;',
      'that worker would otherwise keep processing from where it was.',
      'Asks for confirmation on a terminal; without a terminal it needs --yes (else exit 4).',
    ],
  },
  {
    name: 'dashboard',
    args: [],
    options: [...API, 'port', 'lease-ms'],
    required: [],
    summary: 'serve the shard page of `npm start` on this machine, for any service (a deployed one too)',
    details: [
      'Serves http://127.0.0.1:PORT/ (and /dashboard.json) from the API at --url, signed for a',
      'deployed one, until Ctrl-C. The page is the one `npm start` serves at /: lineage, states,',
      'workers, checkpoints, live updates.',
      '',
      'A lease is shown as expiring in the last half of the lease duration the service states',
      '(GET /terms). --lease-ms (or LEASE_DURATION_MS) only checks that it is the one you expect:',
      'a different value exits 2, naming both.',
    ],
  },
  {
    name: 'terms',
    args: [],
    options: API,
    required: [],
    summary: 'show the lease terms the service runs with: lease duration and claim timeout',
    details: [
      'As the service states them (GET /terms), from its LEASE_DURATION_MS and CLAIM_TIMEOUT_MS.',
      'Workers pace their renewals and their local lease expiry by them.',
    ],
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
