/**
 * `shardlease`: every command but `reap` goes through ShardLeaseClient, against the local server or a
 * deployed API (signed); `reap` runs one reaper pass straight on the table. Errors print as
 * `code: message` on stderr, never a stack, and set a distinct exit code (see EXIT).
 */
import { ShardLeaseClient } from '../client/shard-lease-client';
import type { Checkpointer } from '../core/checkpointer';
import { DEFAULT_CLAIM_TIMEOUT_MS, DEFAULT_REAPER_GRACE_MS } from '../core/config';
import { ErrorCode, ShardLeaseError } from '../core/errors';
import type { Lease } from '../core/lease-row';
import { createLocalKinesisClient } from '../local/kinesis-local-client';
import { createDynamoClient } from '../store/dynamo-client';
import { createKinesisClient } from '../store/kinesis-client';
import { KinesisShardSource } from '../store/kinesis-shard-source';
import { Reaper } from '../store/reaper';
import { commandHelp, type Invocation, integerOption, parseCommandLine, topHelp } from './args';
import type { CommandName, OptionName } from './commands';
import { renderFields, renderLease, renderLeases, renderWorkers } from './format';
import { type CliIo, EXIT, type ExitCode, UsageError } from './io';

export const DEFAULT_URL = 'http://127.0.0.1:3000';
export const DEFAULT_TABLE = 'shardlease-local';

type Options = Readonly<Partial<Record<OptionName, string | boolean>>>;
type Run = Extract<Invocation, { kind: 'run' }>;

/** What a command prints: the value for --json, and the text for people. */
interface Output {
  readonly json: unknown;
  readonly text: string;
  /** Set when the command ran but what it found is a failure (a reaper pass stopped by a fault). */
  readonly exitCode?: ExitCode;
}

const text = (options: Options, name: OptionName): string | undefined =>
  typeof options[name] === 'string' ? (options[name] as string) : undefined;

function clientFor(run: Run, env: CliIo['env']): ShardLeaseClient {
  const region = text(run.options, 'region') ?? env.AWS_REGION;
  const maxAttempts = integerOption(run.options, 'max-attempts', run.command, 1);
  try {
    return new ShardLeaseClient({
      baseUrl: text(run.options, 'url') ?? env.SHARDLEASE_URL ?? DEFAULT_URL,
      ...(region && { region }),
      ...(maxAttempts !== undefined && { maxAttempts }),
    });
  } catch (error) {
    // A URL or region the client cannot use is a mistake on the command line: nothing was sent.
    throw new UsageError((error as Error).message, run.command);
  }
}

async function listAll(client: Checkpointer): Promise<Lease[]> {
  const shards: Lease[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listShards({ limit: 1000, ...(cursor !== undefined && { cursor }) });
    shards.push(...page.shards);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return shards.sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0));
}

async function show(client: Checkpointer, shardId: string): Promise<Output> {
  try {
    const lease = await client.fetchCheckpoint(shardId);
    return { json: lease, text: renderLease(lease) };
  } catch (error) {
    // A row without a checkpoint is still a lease worth showing; the refusal says what it has.
    if (!(error instanceof ShardLeaseError) || error.code !== ErrorCode.SequenceIDNotFound) throw error;
    const { owner, leaseCounter } = error.details as { owner?: string; leaseCounter?: number };
    if (leaseCounter === undefined) {
      throw new ShardLeaseError(ErrorCode.NotFound, `shard ${shardId} has no lease row`, { shardId });
    }
    const lease: Lease = { shardId, leaseCounter, ...(owner !== undefined && { owner }) };
    return { json: lease, text: renderLease(lease) };
  }
}

async function viaApi(run: Run, env: CliIo['env']): Promise<Output> {
  const client = clientFor(run, env);
  const shard = run.args.shard as string;
  const worker = text(run.options, 'worker') as string;
  switch (run.command) {
    case 'list': {
      const shards = await listAll(client);
      return { json: { shards }, text: renderLeases(shards) };
    }
    case 'show':
      return show(client, shard);
    case 'workers': {
      const shards = text(run.options, 'shards');
      const active = await client.listActiveWorkers({
        ...(shards !== undefined && { shardIds: shards.split(',').map((s) => s.trim()) }),
        ...(run.options.strict === true && { strict: true }),
      });
      return { json: active, text: renderWorkers(active) };
    }
    case 'release':
      await client.removeLeaseOwner(shard, worker);
      return {
        json: { shardId: shard, released: true, workerId: worker },
        text: `released ${shard} (worker ${worker})\n`,
      };
    case 'claim': {
      const lease = await client.claimShard(shard, worker);
      return { json: lease, text: renderLease(lease) };
    }
    case 'checkpoint': {
      const leaseCounter = integerOption(run.options, 'counter', run.command);
      const lease = await client.checkpointSequence(shard, {
        workerId: worker,
        checkpoint: run.args.sequence as string,
        ...(leaseCounter !== undefined && { leaseCounter }),
      });
      return { json: lease, text: renderLease(lease) };
    }
    default:
      throw new UsageError(`${run.command} does not use the API`, run.command);
  }
}

function envInteger(run: Run, env: CliIo['env'], option: OptionName, variable: string, fallback: number) {
  const raw = text(run.options, option) ?? env[variable];
  if (raw === undefined || raw === '') return fallback;
  return integerOption({ [option]: raw }, option, run.command) as number;
}

async function reap(run: Run, env: CliIo['env']): Promise<Output> {
  const endpoint = text(run.options, 'dynamodb-endpoint') ?? env.DYNAMODB_ENDPOINT;
  const region = text(run.options, 'region') ?? env.AWS_REGION;
  const tableName = text(run.options, 'table') ?? env.TABLE_NAME ?? DEFAULT_TABLE;
  const claimTimeoutMs = envInteger(
    run,
    env,
    'claim-timeout-ms',
    'CLAIM_TIMEOUT_MS',
    DEFAULT_CLAIM_TIMEOUT_MS,
  );
  const graceMs = envInteger(run, env, 'grace-ms', 'REAPER_GRACE_MS', DEFAULT_REAPER_GRACE_MS);
  if (claimTimeoutMs < 1) throw new UsageError('--claim-timeout-ms must be an integer >= 1', run.command);
  const streamName = (text(run.options, 'stream') ?? env.STREAM_NAME ?? '').trim() || undefined;
  // One table serves one stream: shard ids repeat across streams.
  if (streamName?.includes(',')) {
    throw new UsageError('--stream takes one stream: one lease table serves one stream', run.command);
  }
  const kinesisEndpoint = text(run.options, 'kinesis-endpoint') ?? env.KINESIS_ENDPOINT;
  const client = createDynamoClient({ ...(endpoint && { endpoint }), ...(region && { region }) });
  const kinesis =
    streamName === undefined
      ? undefined
      : kinesisEndpoint
        ? createLocalKinesisClient(kinesisEndpoint)
        : createKinesisClient(region ? { region } : {});
  try {
    const summary = await new Reaper({
      client,
      tableName,
      claimTimeoutMs,
      graceMs,
      ...(kinesis && { shardSource: new KinesisShardSource({ client: kinesis, streamName }) }),
    }).runPass();
    const fields = Object.entries(summary).map(([k, v]) => [k, String(v)] as const);
    return {
      json: { table: tableName, ...summary },
      text: renderFields([['table', tableName], ...fields]),
      ...(summary.fault !== undefined && { exitCode: EXIT.unavailable }),
    };
  } finally {
    client.destroy();
    kinesis?.destroy();
  }
}

function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof ShardLeaseError) {
    return error.code === ErrorCode.Internal || error.code === ErrorCode.Throttled
      ? EXIT.unavailable
      : EXIT.refused;
  }
  return EXIT.unavailable;
}

function describe(error: unknown): string {
  if (error instanceof ShardLeaseError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `Error: ${String(error)}`;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: CommandName | undefined;
  try {
    const invocation = parseCommandLine(argv);
    if (invocation.kind === 'help') {
      io.stdout.write(invocation.command ? commandHelp(invocation.command) : topHelp());
      return EXIT.ok;
    }
    command = invocation.command;
    const output = command === 'reap' ? await reap(invocation, io.env) : await viaApi(invocation, io.env);
    io.stdout.write(invocation.options.json ? `${JSON.stringify(output.json, null, 2)}\n` : output.text);
    if (output.exitCode !== undefined) {
      const fault = (output.json as { fault?: string }).fault ?? 'the command did not complete';
      io.stderr.write(`Internal: ${fault}\n`);
      return output.exitCode;
    }
    return EXIT.ok;
  } catch (error) {
    io.stderr.write(`${describe(error)}\n`);
    if (error instanceof UsageError) {
      const about = error.command ?? command;
      io.stderr.write(`Run 'shardlease ${about ? `${about} ` : ''}--help' for usage.\n`);
    }
    return exitCodeOf(error);
  }
}
