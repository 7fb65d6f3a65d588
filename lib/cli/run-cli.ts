/**
 * `shardlease`: every command but `reap` goes through ShardLeaseClient, against the local server or a
 * deployed API (signed); `reap` runs one reaper pass straight on the table. Errors print as
 * `code: message` on stderr, then the error's hint (what it means, what to do), never a stack, and set
 * a distinct exit code (see EXIT). With --json, stdout carries one JSON document whatever happens.
 */
import { connect } from 'node:net';
import { ShardLeaseClient } from '../client/shard-lease-client';
import type { Checkpointer } from '../core/checkpointer';
import { DEFAULT_CLAIM_TIMEOUT_MS, DEFAULT_REAPER_GRACE_MS } from '../core/config';
import { ErrorCode, ShardLeaseError, ShardNotFoundError, ValidationError } from '../core/errors';
import type { Lease } from '../core/lease-row';
import { createLocalKinesisClient } from '../local/kinesis-local-client';
import { createDynamoClient } from '../store/dynamo-client';
import { createKinesisClient } from '../store/kinesis-client';
import { KinesisShardSource } from '../store/kinesis-shard-source';
import { Reaper } from '../store/reaper';
import { commandHelp, type Invocation, integerOption, parseCommandLine, topHelp } from './args';
import type { CommandName, OptionName } from './commands';
import { serveDashboard } from './dashboard';
import {
  humanDuration,
  relativeExpiry,
  renderFields,
  renderLease,
  renderLeases,
  renderWorkers,
} from './format';
import { type CliIo, EXIT, type ExitCode, NotConfirmedError, UnreachableError, UsageError } from './io';
import { packageInfo } from './version';

export const DEFAULT_URL = 'http://127.0.0.1:3000';
export const DEFAULT_TABLE = 'shardlease-local';
/** How long the CLI waits for a TCP connection to the service before saying it cannot reach it. */
export const CONNECT_TIMEOUT_MS = 1500;
/** The worker id `reset` takes and releases the fresh row's lease as. */
export const RESET_WORKER = 'shardlease-cli';

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

const serviceUrl = (run: Run, env: CliIo['env']): string =>
  text(run.options, 'url') ?? env.SHARDLEASE_URL ?? DEFAULT_URL;

const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'the connection closed without an answer',
  TimeoutError: 'no answer in time',
};

function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function unreachable(url: string, reason: string, cause?: unknown): UnreachableError {
  const local = URL.canParse(url) && isLoopback(new URL(url));
  return new UnreachableError(
    `cannot reach the service at ${url} (${reason})${local ? ': is `npm start` running?' : ''}`,
    local
      ? 'start the local service with `npm start`, or point --url (or SHARDLEASE_URL) at the service'
      : 'check --url (or SHARDLEASE_URL) and the network; the URL is the API base URL the stack outputs',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Opens (and closes) one TCP connection to the service, so that "nothing is listening" is reported in
 * a second or two instead of after the client's retries, which are there for throttling and faults of
 * a service that does answer and would take several seconds to give up on a refused connection.
 */
async function probe(url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const target = new URL(url);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(unreachable(url, `no connection within ${timeoutMs / 1000} s`));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      const code = error.code ?? error.name;
      reject(unreachable(url, NETWORK_REASONS[code] ?? code, error));
    });
  });
}

/**
 * Why a client call got no response, when it is a network failure (fetch's TypeError carrying the
 * socket's code, or a timeout); undefined for anything else, e.g. a request that could not be signed.
 */
function noResponseReason(error: unknown): string | undefined {
  if (!(error instanceof ShardLeaseError) || error.code !== ErrorCode.Internal) return undefined;
  if (error.details.status !== 0) return undefined;
  const cause = error.cause as { name?: string; cause?: { code?: string } } | undefined;
  if (cause?.name === 'TimeoutError' || cause?.name === 'AbortError') return 'no answer in time';
  if (cause?.name !== 'TypeError') return undefined;
  const code = cause.cause?.code;
  return code === undefined ? 'no response' : (NETWORK_REASONS[code] ?? code);
}

function clientFor(run: Run, env: CliIo['env']): ShardLeaseClient {
  const region = text(run.options, 'region') ?? env.AWS_REGION;
  const maxAttempts = integerOption(run.options, 'max-attempts', run.command, 1);
  try {
    return new ShardLeaseClient({
      baseUrl: serviceUrl(run, env),
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

/** The shard's row as a lease; ShardNotFoundError when it has none. */
async function readRow(client: Checkpointer, shardId: string): Promise<Lease> {
  try {
    return await client.fetchCheckpoint(shardId);
  } catch (error) {
    // A row without a checkpoint is still a lease worth showing; the refusal says what it has.
    if (!(error instanceof ShardLeaseError) || error.code !== ErrorCode.SequenceIDNotFound) throw error;
    const { owner, leaseCounter, leaseTimeout, claimRequest } = error.details as Partial<
      Record<'owner' | 'leaseTimeout' | 'claimRequest', string>
    > & { leaseCounter?: number };
    if (leaseCounter === undefined) throw new ShardNotFoundError(shardId);
    return {
      shardId,
      leaseCounter,
      ...(owner !== undefined && { owner }),
      ...(leaseTimeout !== undefined && { leaseTimeout }),
      ...(claimRequest !== undefined && { claimRequest }),
    };
  }
}

async function show(client: Checkpointer, shardId: string, now: number): Promise<Output> {
  const lease = await readRow(client, shardId);
  return { json: lease, text: renderLease(lease, now) };
}

/** One line of what a row holds, for the confirmation question. */
function rowSummary(lease: Lease, now: number): string {
  const owner =
    lease.owner === undefined
      ? 'no owner'
      : `owner ${lease.owner} (lease ${relativeExpiry(lease.leaseTimeout, now)})`;
  return [
    owner,
    `checkpoint ${lease.checkpoint ?? 'none'}`,
    `lease counter ${lease.leaseCounter}`,
    ...(lease.parentShardId ? [`parent ${lease.parentShardId}`] : []),
    ...(lease.claimRequest ? [`claim by ${lease.claimRequest}`] : []),
  ].join(', ');
}

async function confirm(run: Run, io: CliIo, what: string, question: string): Promise<void> {
  if (run.options.yes === true) return;
  if (!io.prompt) {
    throw new NotConfirmedError(
      `refusing to ${what} without confirmation: stdin is not a terminal`,
      'pass --yes to confirm; nothing was changed',
    );
  }
  const answer = await io.prompt(`${question} [y/N] `);
  if (!/^\s*y(es)?\s*$/i.test(answer)) {
    throw new NotConfirmedError(`not confirmed: did not ${what}`, 'nothing was changed');
  }
}

/**
 * delete: the row goes, checkpoint and all. reset: the row goes and comes back empty with its parent,
 * by a take and an immediate release as RESET_WORKER, so planning still sees the shard.
 */
async function removeRow(run: Run, io: CliIo, client: ShardLeaseClient, now: number): Promise<Output> {
  const shardId = run.args.shard as string;
  const reset = run.command === 'reset';
  const workerId = text(run.options, 'worker');
  const force = run.options.force === true;
  let lease: Lease;
  try {
    lease = await readRow(client, shardId);
    // A row without a checkpoint does not say its parent; the listing does (reset writes it back).
    if (reset && lease.checkpoint === undefined) {
      lease = (await listAll(client)).find((l) => l.shardId === shardId) ?? lease;
    }
  } catch (error) {
    if (!(error instanceof ShardLeaseError) || error.code !== ErrorCode.NotFound) throw error;
    return {
      json: { shardId, deleted: false, reset: false, reason: 'the shard has no row' },
      text: `shard ${shardId} has no row: nothing to ${run.command}\n`,
    };
  }
  const what = reset ? `reset shard ${shardId}` : `delete the row of shard ${shardId}`;
  const consequence = reset
    ? 'Its checkpoint, owner and claim are forgotten; the row is written back empty with its parent, and the next worker to take the shard starts it from its initial position.'
    : 'Its checkpoint, owner, parent and claim are forgotten; if the shard still exists, the next worker to take it starts it from its initial position.';
  await confirm(
    run,
    io,
    what,
    `Shard ${shardId}: ${rowSummary(lease, now)}.\n${consequence}\n${reset ? 'Reset it?' : 'Delete it?'}`,
  );
  try {
    await client.removeLeaseInfo(shardId, {
      ...(workerId !== undefined && { workerId }),
      ...(force && { force: true }),
    });
  } catch (error) {
    if (error instanceof ShardLeaseError && error.code === ErrorCode.LeaseNotAcquired) {
      const owner = (error.details.owner as string | undefined) ?? 'another worker';
      const until = error.details.leaseTimeout as string | undefined;
      Object.assign(error, {
        hint: `${owner} holds a live lease on ${shardId}${until ? ` (${relativeExpiry(until, now)})` : ''}, and ${reset ? 'resetting' : 'deleting'} the row now would pull the shard from under it; nothing was changed. Release it first (shardlease release ${shardId} --worker ${owner}), wait until the lease expires, or pass --force.`,
      });
    }
    throw error;
  }
  if (!reset) {
    return {
      json: { shardId, deleted: true, previous: lease },
      text: `deleted the row of shard ${shardId}${lease.checkpoint ? ` (checkpoint ${lease.checkpoint} forgotten)` : ''}\n`,
    };
  }
  let rewritten = true;
  try {
    await client.getLease(shardId, {
      workerId: RESET_WORKER,
      ...(lease.parentShardId !== undefined && { parentShardId: lease.parentShardId }),
    });
  } catch (error) {
    // A worker took the shard in between: it has started afresh already.
    if (!(error instanceof ShardLeaseError) || error.code !== ErrorCode.LeaseNotAcquired) throw error;
    rewritten = false;
  }
  if (rewritten) await client.removeLeaseOwner(shardId, RESET_WORKER);
  return {
    json: { shardId, deleted: true, reset: true, rewritten, previous: lease },
    text: `reset shard ${shardId}: ${lease.checkpoint ? `checkpoint ${lease.checkpoint} forgotten; ` : ''}the next worker to take it starts it from its initial position\n`,
  };
}

async function viaApi(run: Run, io: CliIo): Promise<Output> {
  const client = clientFor(run, io.env);
  const url = serviceUrl(run, io.env);
  await probe(url);
  try {
    return await apiCommand(run, io, client);
  } catch (error) {
    const reason = noResponseReason(error);
    if (reason !== undefined) throw unreachable(url, reason, error);
    throw error;
  }
}

async function apiCommand(run: Run, io: CliIo, client: ShardLeaseClient): Promise<Output> {
  const shard = run.args.shard as string;
  const worker = text(run.options, 'worker') as string;
  const now = (io.now ?? Date.now)();
  switch (run.command) {
    case 'list': {
      const shards = await listAll(client);
      return { json: { shards }, text: renderLeases(shards, now) };
    }
    case 'show':
      return show(client, shard, now);
    case 'delete':
    case 'reset':
      return removeRow(run, io, client, now);
    case 'workers': {
      const shards = text(run.options, 'shards');
      const active = await client.listActiveWorkers({
        ...(shards !== undefined && { shardIds: shards.split(',').map((s) => s.trim()) }),
        ...(run.options.strict === true && { strict: true }),
      });
      return { json: active, text: renderWorkers(active) };
    }
    case 'dashboard': {
      const port = integerOption(run.options, 'port', run.command) ?? 8080;
      const expected = expectedLeaseMs(run, io.env);
      const label = serviceUrl(run, io.env);
      const { leaseDurationMs } = await client.leaseTerms();
      if (expected !== undefined && expected.ms !== leaseDurationMs) {
        throw new UsageError(
          `${expected.from} is ${expected.ms} ms, but the service at ${label} states a lease duration of ` +
            `${leaseDurationMs} ms: leave ${expected.from} out (the service's is used), or set it to ${leaseDurationMs}`,
          run.command,
        );
      }
      let url = '';
      await serveDashboard({
        checkpointer: client,
        label,
        port,
        leaseDurationMs,
        now: io.now ?? Date.now,
        signal: io.signal ?? new AbortController().signal,
        onListening: (listening) => {
          url = listening;
          io.stderr.write(`the shards of ${label}: ${listening} (Ctrl-C stops)\n`);
        },
      });
      return { json: { url, stopped: true }, text: 'dashboard stopped\n' };
    }
    case 'terms': {
      const terms = await client.leaseTerms();
      return {
        json: terms,
        text: renderFields([
          ['lease duration', durationText(terms.leaseDurationMs)],
          ['claim timeout', durationText(terms.claimTimeoutMs)],
        ]),
      };
    }
    case 'release':
      await client.removeLeaseOwner(shard, worker);
      return {
        json: { shardId: shard, released: true, workerId: worker },
        text: `released ${shard} (worker ${worker})\n`,
      };
    case 'claim': {
      const lease = await client.claimShard(shard, worker);
      return { json: lease, text: renderLease(lease, now) };
    }
    case 'checkpoint': {
      const leaseCounter = integerOption(run.options, 'counter', run.command);
      const lease = await client.checkpointSequence(shard, {
        workerId: worker,
        checkpoint: run.args.sequence as string,
        ...(leaseCounter !== undefined && { leaseCounter }),
      });
      return { json: lease, text: renderLease(lease, now) };
    }
    default:
      throw new UsageError(`${run.command} does not use the API`, run.command);
  }
}

/** `10000 ms (10s)`; the words only when they are exact. */
function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms} ms (${humanDuration(ms)})` : `${ms} ms`;
}

/**
 * The lease duration the caller expects (--lease-ms, else LEASE_DURATION_MS), checked as a number
 * before anything is sent; the service's own stays the one used.
 */
function expectedLeaseMs(run: Run, env: CliIo['env']): { ms: number; from: string } | undefined {
  const option = text(run.options, 'lease-ms');
  const raw = option ?? env.LEASE_DURATION_MS;
  if (raw === undefined || raw === '') return undefined;
  const from = option !== undefined ? '--lease-ms' : 'LEASE_DURATION_MS';
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) {
    throw new UsageError(`${from} must be an integer >= 1, got '${raw}'`, run.command);
  }
  return { ms: Number(raw), from };
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
      ...(summary.fault !== undefined && { exitCode: EXIT.failed }),
    };
  } finally {
    client.destroy();
    kinesis?.destroy();
  }
}

function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof UnreachableError) return EXIT.unreachable;
  if (error instanceof NotConfirmedError) return EXIT.notConfirmed;
  if (error instanceof ShardLeaseError) {
    return error.code === ErrorCode.Internal ||
      error.code === ErrorCode.Throttled ||
      error.code === ErrorCode.InvalidDynamoDBSchema
      ? EXIT.failed
      : EXIT.refused;
  }
  return EXIT.failed;
}

function codeOf(error: unknown): string {
  if (error instanceof ShardLeaseError) return error.code;
  if (error instanceof Error) return error.name;
  return 'Error';
}

function hintOf(error: unknown): string | undefined {
  if (error instanceof ShardLeaseError || error instanceof UnreachableError) return error.hint;
  if (error instanceof NotConfirmedError) return error.hint;
  return undefined;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const requestId =
    error instanceof ShardLeaseError && error.code === ErrorCode.Internal
      ? error.details.requestId
      : undefined;
  const hint = hintOf(error);
  return [
    `${codeOf(error)}: ${message}${typeof requestId === 'string' ? ` (request id ${requestId})` : ''}`,
    ...(hint ? [`  ${hint}`] : []),
  ].join('\n');
}

/** The error as the one JSON document of a failed --json run. */
function errorJson(error: unknown): unknown {
  const hint = hintOf(error);
  return {
    error: {
      code: codeOf(error),
      message: error instanceof Error ? error.message : String(error),
      ...(hint !== undefined && { hint }),
      ...(error instanceof ShardLeaseError && error.details),
      ...(error instanceof ValidationError && { fields: error.issues }),
    },
  };
}

const writeJson = (io: CliIo, value: unknown) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: CommandName | undefined;
  // Known before parsing, so that even a usage error answers in JSON.
  const json = argv.includes('--json');
  try {
    const invocation = parseCommandLine(argv);
    if (invocation.kind === 'help') {
      io.stdout.write(invocation.command ? commandHelp(invocation.command) : topHelp());
      return EXIT.ok;
    }
    if (invocation.kind === 'version') {
      const { name, version } = packageInfo();
      io.stdout.write(invocation.json ? `${JSON.stringify({ name, version })}\n` : `${name} ${version}\n`);
      return EXIT.ok;
    }
    command = invocation.command;
    const output = command === 'reap' ? await reap(invocation, io.env) : await viaApi(invocation, io);
    if (json) writeJson(io, output.json);
    else io.stdout.write(output.text);
    if (output.exitCode !== undefined) {
      const fault = (output.json as { fault?: string }).fault ?? 'the command did not complete';
      io.stderr.write(`Internal: ${fault}\n`);
      return output.exitCode;
    }
    return EXIT.ok;
  } catch (error) {
    if (json) writeJson(io, errorJson(error));
    io.stderr.write(`${describe(error)}\n`);
    if (error instanceof UsageError) {
      const about = error.command ?? command;
      io.stderr.write(`Run 'shardlease ${about ? `${about} ` : ''}--help' for usage.\n`);
    }
    return exitCodeOf(error);
  }
}
