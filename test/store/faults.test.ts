/**
 * The service under faults, on the real dynalite: a bounded, seeded, concurrent workload of workers
 * taking, renewing, checkpointing, releasing and claiming leases, each worker with its own
 * DynamoCheckpointer over its own client, and each client behind the fault layer
 * (test/support/fault-layer.ts), which injects only what the real server cannot produce (delays,
 * lost requests and answers, empty, malformed and truncated answers, throttling, resets) and keeps a
 * ledger of the writes the server really applied. Some workers go through the Lambda handlers (API
 * Gateway events), the others call the core directly. Afterwards the outcomes the workers were told
 * about are held against the ledger and against each other (see INVARIANTS).
 *
 * A seed fixes each worker's schedule (which operation, which shard, which sequence number, pauses),
 * its backoff jitter and the faults of its n-th request about each shard; the interleaving of the
 * workers on the real server is the OS's, so a seed reproduces the schedules, not the exact race.
 * Rerun one seed with FAULT_SEED=N npx jest test/store/faults.test.ts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createHttpHandler } from '../../lib/http/lambda-handler';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { fromItem } from '../../lib/store/item';
import { apiGatewayEvent, lambdaContext } from '../support/apigw-event';
import { rawItem, testEndpoint, uniqueTableName } from '../support/dynamo';
import {
  type CallContext,
  FAULT_KINDS,
  type FaultKind,
  type FaultLayer,
  type RequestRecord,
  traceLine,
  withFaults,
} from '../support/fault-layer';
import { type LedgerEntry, type Row, WriteLedger } from '../support/fault-ledger';
import { pick, type Random, randomInt, seededRandom, weighted } from '../support/seeded-random';

// ---- the workload ----------------------------------------------------------------------------------

function seedsToRun(): readonly number[] {
  const only = process.env.FAULT_SEED;
  if (only === undefined || only === '') return [11, 23, 37, 41, 59];
  if (!/^\d+$/.test(only)) throw new Error(`FAULT_SEED must be a non-negative integer, not ${only}`);
  return [Number(only)];
}

const SEEDS = seedsToRun();
const ACTORS = 6;
/** These go through the Lambda handler (API Gateway v2 events); the others call the core directly. */
const HTTP_ACTORS: ReadonlySet<number> = new Set([4, 5]);
const SHARD_IDS = Array.from({ length: 8 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
/** Short, so that leases expire and change hands while the run lasts. */
const LEASE_MS = 400;
const CLAIM_TIMEOUT_MS = 1_000;
const OPS_PER_ACTOR = 60;
const RUN_BOUND_MS = 6_000;
const RETRY = { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 50 };
const HTTP_RETRY = { ...RETRY, maxAttempts: 3 };
/** Per request; about 40 % of requests meet a fault. */
const FAULTS: Readonly<Partial<Record<FaultKind, number>>> = {
  delay: 0.1,
  dropRequest: 0.04,
  dropAnswer: 0.06,
  emptyAnswer: 0.05,
  garbleAnswer: 0.04,
  truncateAnswer: 0.04,
  throttle: 0.04,
  reset: 0.04,
};
/** A quarter of throttles start a storm that outlasts the retries: Throttled reaches the caller. */
const THROTTLE_STORM_PROBABILITY = 0.25;
const OP_WEIGHTS = { getLease: 30, renew: 20, checkpoint: 30, release: 8, claim: 7 } as const;
/** A worker stalls now and then (GC pause, slow processing) for about one to two lease periods. */
const PAUSE_PROBABILITY = 0.03;
/**
 * For (f) only: the service's clock and this test's are both Date.now() in one process; one
 * millisecond absorbs a core that reads a sub-millisecond clock (timeOrigin + performance.now()).
 */
const CLOCK_TOLERANCE_MS = 1;
/** A Kinesis-like 56-digit sequence number; each checkpoint draws a larger one. */
const FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898n;

const SILENT = new Logger({ logLevel: 'SILENT' });

// ---- what the workers see ----------------------------------------------------------------------------

/** The lease as returned (the core's type is being rewritten: only these fields are relied on). */
interface LeaseView {
  readonly shardId: string;
  readonly owner?: string;
  readonly leaseTimeout?: string;
  readonly leaseCounter?: number;
  readonly checkpoint?: string;
  readonly claimRequest?: string;
}

/** RenewLeases' answer; `failed` is new in the fixed core, so optional here. */
interface RenewView {
  readonly renewed: readonly LeaseView[];
  readonly lost: ReadonlyArray<{ readonly shardId: string; readonly code: string; readonly owner?: string }>;
  readonly failed?: ReadonlyArray<{ readonly shardId: string; readonly code: string }>;
}

type Op = keyof typeof OP_WEIGHTS;

interface Success {
  readonly ok: true;
  readonly lease?: LeaseView;
  readonly renew?: RenewView;
}

interface Failure {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
  readonly owner?: string;
  readonly status?: number;
}

type Answer = Success | Failure;

interface Api {
  getLease(shardId: string): Promise<Answer>;
  renew(shardIds: readonly string[]): Promise<Answer>;
  checkpoint(shardId: string, checkpoint: string, leaseCounter: number | undefined): Promise<Answer>;
  release(shardId: string): Promise<Answer>;
  claim(shardId: string): Promise<Answer>;
}

const CONTRACT_CODES = new Set([
  'ValidationError',
  'PayloadTooLarge',
  'NotFound',
  'MethodNotAllowed',
  'LeaseNotAcquired',
  'ShardClaimed',
  'LeaseLost',
  'CheckpointRegression',
  'SequenceIDNotFound',
  'NoLeaseOwner',
  'ShardNotAssigned',
  'ShardEnded',
  'InvalidDynamoDBSchema',
  'Throttled',
  'Internal',
]);

/** A thrown error as the caller sees it: its contract code, or Internal for anything untyped. */
function failureOf(error: unknown): Failure {
  const e = error as { code?: unknown; message?: unknown; details?: { owner?: unknown } } | undefined;
  const code = typeof e?.code === 'string' && CONTRACT_CODES.has(e.code) ? e.code : 'Internal';
  const owner = e?.details?.owner;
  return {
    ok: false,
    code,
    message: String(e?.message ?? error),
    ...(typeof owner === 'string' && { owner }),
  };
}

function directApi(checkpointer: DynamoCheckpointer, workerId: string): Api {
  const answer = async (run: () => Promise<Omit<Success, 'ok'>>): Promise<Answer> => {
    try {
      return { ok: true, ...(await run()) };
    } catch (error) {
      return failureOf(error);
    }
  };
  return {
    getLease: (shardId) =>
      answer(async () => ({ lease: (await checkpointer.getLease(shardId, { workerId })) as LeaseView })),
    renew: (shardIds) =>
      answer(async () => ({ renew: (await checkpointer.renewLeases(workerId, shardIds)) as RenewView })),
    checkpoint: (shardId, checkpoint, leaseCounter) =>
      answer(async () => ({
        lease: (await checkpointer.checkpointSequence(shardId, {
          workerId,
          checkpoint,
          ...(leaseCounter !== undefined && { leaseCounter }),
        })) as LeaseView,
      })),
    release: (shardId) =>
      answer(async () => {
        await checkpointer.removeLeaseOwner(shardId, workerId);
        return {};
      }),
    claim: (shardId) =>
      answer(async () => ({ lease: (await checkpointer.claimShard(shardId, workerId)) as LeaseView })),
  };
}

function header(response: APIGatewayProxyStructuredResultV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(response.headers ?? {})) {
    if (key.toLowerCase() === name) return String(value);
  }
  return undefined;
}

/** What is wrong with a 5xx or 429 answer of the HTTP API: it must be a clean problem+json. */
function problemDefects(response: APIGatewayProxyStructuredResultV2): string[] {
  const status = response.statusCode ?? 0;
  const defects: string[] = [];
  const contentType = header(response, 'content-type');
  if (contentType !== 'application/problem+json') defects.push(`content-type ${contentType}`);
  const text = typeof response.body === 'string' ? response.body : '';
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    defects.push('body is not JSON');
  }
  const expected = status === 429 ? 'Throttled' : status === 500 ? 'Internal' : undefined;
  if (expected === undefined) defects.push(`status ${status} (only 500 Internal and 429 Throttled)`);
  else if (body.code !== expected) defects.push(`code ${String(body.code)} with status ${status}`);
  if (status === 429 && header(response, 'retry-after') === undefined)
    defects.push('429 without retry-after');
  if (typeof body.requestId !== 'string' || body.requestId === '') defects.push('no requestId');
  for (const leak of [
    / at /,
    /Exception/,
    /injected/i,
    /node_modules/,
    /\/work\//,
    /\.(?:ts|js):\d/,
    /stack/i,
  ]) {
    if (leak.test(text)) defects.push(`body shows internals (${leak})`);
  }
  return defects;
}

/** The same calls through the Lambda handlers; every 5xx/429 answer is checked on arrival. */
function httpApi(
  checkpointer: DynamoCheckpointer,
  workerId: string,
  onProblem: (defects: string[]) => void,
): Api {
  const deps = { checkpointer, logger: SILENT };
  const handlers = {
    getLease: createHttpHandler('getLease', () => deps),
    renewLeases: createHttpHandler('renewLeases', () => deps),
    checkpoint: createHttpHandler('checkpoint', () => deps),
    removeLeaseOwner: createHttpHandler('removeLeaseOwner', () => deps),
    claimShard: createHttpHandler('claimShard', () => deps),
  };
  const invoke = async (
    name: keyof typeof handlers,
    options: Parameters<typeof apiGatewayEvent>[1],
  ): Promise<Answer> => {
    const response = await handlers[name](apiGatewayEvent(name, options), lambdaContext());
    const status = response.statusCode ?? 0;
    if (status === 204) return { ok: true };
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(typeof response.body === 'string' ? response.body : '{}') as Record<string, unknown>;
    } catch {
      // problemDefects reports it for errors; a 200 that is not JSON fails (a) for want of a lease.
    }
    if (status === 200) {
      return name === 'renewLeases'
        ? { ok: true, renew: body as unknown as RenewView }
        : { ok: true, lease: body as unknown as LeaseView };
    }
    if (status >= 500 || status === 429) onProblem(problemDefects(response).map((d) => `${name}: ${d}`));
    return {
      ok: false,
      status,
      code: typeof body.code === 'string' ? body.code : `HTTP ${status}`,
      message: typeof body.message === 'string' ? body.message : '',
      ...(typeof body.owner === 'string' && { owner: body.owner }),
    };
  };
  return {
    getLease: (shardId) => invoke('getLease', { pathParameters: { shardId }, body: { workerId } }),
    renew: (shardIds) =>
      invoke('renewLeases', { pathParameters: { workerId }, body: { shardIds: [...shardIds] } }),
    checkpoint: (shardId, checkpoint, leaseCounter) =>
      invoke('checkpoint', {
        pathParameters: { shardId },
        body: { workerId, checkpoint, ...(leaseCounter !== undefined && { leaseCounter }) },
      }),
    release: (shardId) => invoke('removeLeaseOwner', { pathParameters: { shardId }, query: { workerId } }),
    claim: (shardId) => invoke('claimShard', { pathParameters: { shardId }, body: { workerId } }),
  };
}

// ---- time ------------------------------------------------------------------------------------------

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Epoch nanoseconds of an RFC 3339 instant with 0 to 9 fraction digits; undefined if malformed. */
function instantNs(value: unknown): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const m = INSTANT.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) return undefined;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/** Epoch milliseconds (floored) of an instant: ms precision is what the real clocks here have. */
function instantMs(value: unknown): number | undefined {
  const ns = instantNs(value);
  return ns === undefined ? undefined : Number(ns / 1_000_000n);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Sequence numbers as big integers; SHARD_END after every number; undefined (none yet) before all. */
function compareCheckpoints(a: unknown, b: unknown): number {
  const rank = (x: unknown): [number, bigint] =>
    x === undefined ? [0, 0n] : x === 'SHARD_END' ? [2, 0n] : [1, BigInt(String(x))];
  const [ra, va] = rank(a);
  const [rb, vb] = rank(b);
  if (ra !== rb) return ra - rb;
  return va === vb ? 0 : va < vb ? -1 : 1;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- one run -----------------------------------------------------------------------------------------

/** What a worker believes it holds: from its last confirmed lease on the shard. */
interface Belief {
  readonly leaseCounter: number;
  readonly leaseTimeout: string;
  readonly timeoutMs: number;
}

interface CallRecord {
  readonly actor: number;
  readonly worker: string;
  readonly via: 'direct' | 'http';
  readonly op: Op;
  readonly callId: number;
  readonly shardId?: string;
  readonly shardIds?: readonly string[];
  readonly checkpoint?: string;
  readonly leaseCounter?: number;
  /** The worker's beliefs about the shards of the call, just before it. */
  readonly beliefs: ReadonlyMap<string, Belief>;
  readonly startedAtMs: number;
  readonly answeredAtMs: number;
  readonly answer: Answer;
}

const INVARIANTS = {
  a: 'no false success: a returned lease is a state some write really left (owner, timeout, counter, checkpoint)',
  a2: 'no success on an answer that does not prove it: the last request behind a success met no answer fault',
  b: 'no two workers with overlapping confirmed leases on a shard',
  c: 'no checkpoint accepted outside a live lease of the writer',
  d: 'no checkpoint moved backwards (happens-before order of real writes; the final row)',
  e: 'every HTTP 5xx/429 answer is a clean problem+json (Internal 500 / Throttled 429) without internals',
  f: 'server time read afresh at every attempt: written instants lie between the previous attempt and the send',
  g: 'the lease counter moves only when the lease changes hands (not on renewing a live lease)',
  h: 'release is refused (LeaseLost) only when another worker owns the shard',
} as const;
type InvariantId = keyof typeof INVARIANTS;
const INVARIANT_IDS = Object.keys(INVARIANTS) as InvariantId[];
/**
 * The fewest checks of each invariant one seed must make, about a third of the fewest any of the
 * default seeds made when this was set (e: 3 to 6 a seed, h: 7 to 12): a seed or workload change that
 * stops exercising one fails.
 */
const MIN_CHECKS_PER_SEED: Record<InvariantId, number> = {
  a: 60,
  a2: 60,
  b: 200,
  c: 20,
  d: 800,
  e: 2,
  f: 70,
  g: 20,
  h: 3,
};

interface Violation {
  readonly invariant: InvariantId;
  readonly text: string;
}

const zero = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

class Run {
  readonly tableName = uniqueTableName('faults');
  readonly ledger = new WriteLedger();
  readonly calls: CallRecord[] = [];
  readonly violations: Violation[] = [];
  readonly checks = zero(INVARIANT_IDS);
  readonly actors: Actor[] = [];
  httpAnswers = 0;
  private sequence = FIRST_SEQUENCE;

  constructor(readonly seed: number) {}

  nextSequence(step: bigint): string {
    this.sequence += step;
    return this.sequence.toString();
  }

  violate(invariant: InvariantId, text: string): void {
    this.violations.push({ invariant, text });
  }

  actorOf(worker: string): Actor | undefined {
    return this.actors.find((a) => a.worker === worker);
  }
}

class Actor {
  readonly worker: string;
  readonly via: 'direct' | 'http';
  readonly layer: FaultLayer;
  readonly beliefs = new Map<string, Belief>();
  private current: CallContext | undefined;
  private nextCallId = 1;
  private readonly api: Api;
  private readonly random: Random;

  constructor(
    private readonly run: Run,
    readonly index: number,
  ) {
    this.worker = `worker-${index}`;
    this.via = HTTP_ACTORS.has(index) ? 'http' : 'direct';
    this.random = seededRandom(run.seed, 'schedule', index);
    const client = createDynamoClient({ endpoint: testEndpoint() });
    this.layer = withFaults(client, {
      seed: run.seed,
      actor: this.worker,
      probabilities: FAULTS,
      maxDelayMs: 25,
      hangMs: 15,
      throttleStormProbability: THROTTLE_STORM_PROBABILITY,
      throttleStormLength: RETRY.maxAttempts,
      ledger: run.ledger,
      context: () => this.current,
    });
    const checkpointer = new DynamoCheckpointer({
      client,
      tableName: run.tableName,
      leaseDurationMs: LEASE_MS,
      claimTimeoutMs: CLAIM_TIMEOUT_MS,
      // The HTTP actors retry less, so that faults outlast their retries and reach them as 5xx/429
      // answers, whose shape (e) checks: with the full budget a run saw a handful.
      retry: {
        ...(this.via === 'http' ? HTTP_RETRY : RETRY),
        random: seededRandom(run.seed, 'backoff', index),
      },
    });
    this.api =
      this.via === 'http'
        ? httpApi(checkpointer, this.worker, (defects) => {
            this.run.httpAnswers++;
            this.run.checks.e++;
            if (defects.length > 0) {
              this.run.violate(
                'e',
                `${this.worker} ${this.current?.op}#${this.current?.callId}: ${defects.join('; ')}`,
              );
            }
          })
        : directApi(checkpointer, this.worker);
  }

  async runUntil(deadline: number): Promise<void> {
    for (let n = 0; n < OPS_PER_ACTOR && Date.now() < deadline; n++) await this.step();
  }

  close(): void {
    this.layer.client.destroy();
  }

  /** One operation. Every draw is taken up front, the same number each step, so schedules stay aligned. */
  private async step(): Promise<void> {
    const r = this.random;
    const drawn = weighted(r, OP_WEIGHTS);
    const anyShard = pick(r, SHARD_IDS);
    const heldRoll = r();
    const stray = r() < 0.15;
    const sequenceStep = BigInt(randomInt(r, 1, 1_000));
    const pauseRoll = r();
    const pauseMs = randomInt(r, LEASE_MS, 2 * LEASE_MS);
    const thinkMs = randomInt(r, 0, 20);

    const held = [...this.beliefs.keys()].sort();
    const heldShard = held.length > 0 ? held[Math.floor(heldRoll * held.length)] : undefined;
    let op: Op = drawn;
    if (op === 'renew' && heldShard === undefined) op = 'getLease';
    switch (op) {
      case 'getLease':
        await this.getLease(anyShard);
        break;
      case 'renew':
        await this.renew(held);
        break;
      case 'checkpoint': {
        // Mostly a shard it holds, with its fencing token; sometimes any shard, which must be refused
        // unless it happens to hold it.
        const shardId = heldShard !== undefined && !stray ? heldShard : anyShard;
        const counter = shardId === heldShard && !stray ? this.beliefs.get(shardId)?.leaseCounter : undefined;
        await this.checkpoint(shardId, this.run.nextSequence(sequenceStep), counter);
        break;
      }
      case 'release':
        // Sometimes a shard it does not hold (a stale give-back): refused only if another worker owns it (h).
        await this.release(heldShard !== undefined && !stray ? heldShard : anyShard);
        break;
      case 'claim':
        await this.claim(anyShard);
        break;
    }
    await sleep(thinkMs + (pauseRoll < PAUSE_PROBABILITY ? pauseMs : 0));
  }

  private async call(
    op: Op,
    fields: Pick<CallRecord, 'shardId' | 'shardIds' | 'checkpoint' | 'leaseCounter'>,
    invoke: () => Promise<Answer>,
  ): Promise<CallRecord> {
    const callId = this.nextCallId++;
    const involved = fields.shardIds ?? (fields.shardId !== undefined ? [fields.shardId] : []);
    const beliefs = new Map<string, Belief>();
    for (const shardId of involved) {
      const belief = this.beliefs.get(shardId);
      if (belief) beliefs.set(shardId, belief);
    }
    this.current = { op, callId };
    const startedAtMs = Date.now();
    let answer: Answer;
    try {
      answer = await invoke();
    } finally {
      this.current = undefined;
    }
    const record: CallRecord = {
      actor: this.index,
      worker: this.worker,
      via: this.via,
      op,
      callId,
      ...fields,
      beliefs,
      startedAtMs,
      answeredAtMs: Date.now(),
      answer,
    };
    this.run.calls.push(record);
    return record;
  }

  /** Believe a returned lease only if it names this worker, this shard and a readable timeout. */
  private believe(shardId: string, lease: LeaseView | undefined): void {
    const timeoutMs = instantMs(lease?.leaseTimeout);
    if (lease?.shardId === shardId && lease.owner === this.worker && timeoutMs !== undefined) {
      this.beliefs.set(shardId, {
        leaseCounter: lease.leaseCounter ?? 0,
        leaseTimeout: lease.leaseTimeout as string,
        timeoutMs,
      });
    } else {
      this.beliefs.delete(shardId);
    }
  }

  private async getLease(shardId: string): Promise<void> {
    const { answer } = await this.call('getLease', { shardId }, () => this.api.getLease(shardId));
    if (answer.ok) this.believe(shardId, answer.lease);
    else this.beliefs.delete(shardId);
  }

  private async renew(shardIds: readonly string[]): Promise<void> {
    const { answer } = await this.call('renew', { shardIds }, () => this.api.renew(shardIds));
    // A failed call (today: one throttled shard fails the batch) leaves the beliefs as they were.
    if (!answer.ok) return;
    for (const lease of answer.renew?.renewed ?? []) {
      if (shardIds.includes(lease.shardId)) this.believe(lease.shardId, lease);
    }
    for (const lost of answer.renew?.lost ?? []) this.beliefs.delete(lost.shardId);
  }

  private async checkpoint(
    shardId: string,
    checkpoint: string,
    leaseCounter: number | undefined,
  ): Promise<void> {
    const { answer } = await this.call('checkpoint', { shardId, checkpoint, leaseCounter }, () =>
      this.api.checkpoint(shardId, checkpoint, leaseCounter),
    );
    if (answer.ok) {
      if (this.beliefs.has(shardId) || answer.lease?.owner === this.worker)
        this.believe(shardId, answer.lease);
    } else if (answer.code === 'LeaseLost') this.beliefs.delete(shardId);
  }

  private async release(shardId: string): Promise<void> {
    // It stops treating the shard as its own when it starts releasing it, whatever the answer.
    this.beliefs.delete(shardId);
    await this.call('release', { shardId }, () => this.api.release(shardId));
  }

  private async claim(shardId: string): Promise<void> {
    await this.call('claim', { shardId }, () => this.api.claim(shardId));
  }
}

// ---- the invariants ----------------------------------------------------------------------------------

/** A success the worker was told about, per shard (a renewal has one per renewed shard). */
interface Told {
  readonly call: CallRecord;
  readonly shardId: string;
  readonly lease: LeaseView | undefined;
}

function successes(run: Run): Told[] {
  const told: Told[] = [];
  for (const call of run.calls) {
    if (!call.answer.ok || call.op === 'release') continue;
    if (call.op === 'renew') {
      for (const lease of call.answer.renew?.renewed ?? [])
        told.push({ call, shardId: lease.shardId, lease });
    } else told.push({ call, shardId: call.shardId as string, lease: call.answer.lease });
  }
  return told;
}

function describeCall(call: CallRecord): string {
  const a = call.answer;
  const outcome = a.ok ? 'ok' : `${a.code}${a.owner ? ` (owner ${a.owner})` : ''}`;
  const target = call.shardId ?? call.shardIds?.join(',');
  const extra = call.checkpoint ? ` checkpoint ${call.checkpoint} counter ${call.leaseCounter ?? '-'}` : '';
  return `${call.worker} ${call.op}#${call.callId} via ${call.via} ${target}${extra} [${iso(call.startedAtMs)} .. ${iso(call.answeredAtMs)}] -> ${outcome}`;
}

function describeEntry(e: LedgerEntry): string {
  return `ledger#${e.seq} ${e.actor} ${e.op}#${e.callId ?? '-'} ${e.command}/${e.kind} ${e.shardId} [sent ${iso(e.sentAtMs)} answered ${iso(e.answeredAtMs)}] ${JSON.stringify(e.row)}`;
}

function requestsOf(run: Run, worker: string, callId: number, shardId?: string): RequestRecord[] {
  const layer = run.actorOf(worker)?.layer;
  return (layer?.requests ?? []).filter(
    (r) => r.callId === callId && (shardId === undefined || r.shardId === shardId),
  );
}

function traceOf(run: Run, worker: string, callId: number, shardId?: string): string {
  return requestsOf(run, worker, callId, shardId)
    .map((r) => `\n      ${traceLine(r)}`)
    .join('');
}

const text = (row: Row | undefined, attr: string): string | undefined => {
  const v = row?.[attr];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/** The returned lease is exactly this stored state. */
function isState(row: Row, lease: LeaseView, withClaim: boolean): boolean {
  return (
    text(row, 'AssignedTo') === lease.owner &&
    text(row, 'LeaseTimeout') === lease.leaseTimeout &&
    (typeof row.LeaseCounter === 'number' ? row.LeaseCounter : 0) === (lease.leaseCounter ?? 0) &&
    text(row, 'Checkpoint') === lease.checkpoint &&
    (!withClaim || text(row, 'ClaimRequest') === lease.claimRequest)
  );
}

/** (a) and (a2). */
function checkNoFalseSuccess(run: Run, byShard: ReadonlyMap<string, LedgerEntry[]>): void {
  for (const { call, shardId, lease } of successes(run)) {
    run.checks.a++;
    const defects: string[] = [];
    if (lease?.shardId !== shardId) defects.push(`names shard ${String(lease?.shardId)}`);
    if (call.shardIds !== undefined && !call.shardIds.includes(shardId)) defects.push('shard not asked for');
    if (call.op !== 'claim' && lease?.owner !== call.worker)
      defects.push(`names owner ${String(lease?.owner)}`);
    if (call.op === 'claim' && lease?.claimRequest !== call.worker)
      defects.push(`names claimer ${String(lease?.claimRequest)}`);
    if (call.op === 'checkpoint' && lease?.checkpoint !== call.checkpoint)
      defects.push(`names checkpoint ${String(lease?.checkpoint)}`);
    if (instantNs(lease?.leaseTimeout) === undefined) defects.push(`timeout ${String(lease?.leaseTimeout)}`);
    const history = byShard.get(shardId) ?? [];
    const match =
      lease &&
      history.find(
        (e) =>
          e.row !== undefined &&
          e.sentAtMs <= call.answeredAtMs &&
          isState(e.row, lease, call.op === 'claim'),
      );
    if (!match) defects.push('no write in the ledger left this state');
    if (defects.length > 0) {
      const recent = history
        .filter((e) => e.sentAtMs <= call.answeredAtMs)
        .slice(-3)
        .map((e) => `\n      ${describeEntry(e)}`)
        .join('');
      run.violate(
        'a',
        `${describeCall(call)}: success ${defects.join('; ')}\n    lease ${JSON.stringify(lease)}\n    last writes:${recent}\n    requests:${traceOf(run, call.worker, call.callId, shardId)}`,
      );
    }
  }
  // (a2) the last request behind each success (per shard) returned a real answer, untouched.
  for (const call of run.calls) {
    if (!call.answer.ok) continue;
    const shards =
      call.op === 'renew'
        ? (call.answer.renew?.renewed ?? []).map((l) => l.shardId).filter((s) => call.shardIds?.includes(s))
        : [call.shardId as string];
    for (const shardId of shards) {
      run.checks.a2++;
      const last = requestsOf(run, call.worker, call.callId, shardId).at(-1);
      if (!last) {
        run.violate('a2', `${describeCall(call)}: success for ${shardId} without any request`);
      } else if (last.fault !== 'none' && last.fault !== 'delay') {
        run.violate(
          'a2',
          `${describeCall(call)}: success for ${shardId} on an answer that proves nothing (${last.fault})\n    requests:${traceOf(run, call.worker, call.callId, shardId)}`,
        );
      }
    }
  }
}

/** A confirmed lease: a getLease or renew success naming the caller, and the span it was held. */
interface Held {
  readonly told: Told;
  readonly worker: string;
  readonly timeoutMs: number;
  readonly nominalStartMs: number;
  readonly learnedAtMs: number;
  readonly endMs: number;
  /** The holder gave it up itself (started releasing it) before it expired. */
  readonly cutByRelease: boolean;
}

function heldLeases(run: Run): Map<string, Held[]> {
  const releases = run.calls.filter((c) => c.op === 'release');
  const byShard = new Map<string, Held[]>();
  for (const told of successes(run)) {
    const { call, shardId, lease } = told;
    if (call.op !== 'getLease' && call.op !== 'renew') continue;
    const timeoutMs = instantMs(lease?.leaseTimeout);
    if (lease?.owner !== call.worker || lease.shardId !== shardId || timeoutMs === undefined) continue;
    if (call.shardIds !== undefined && !call.shardIds.includes(shardId)) continue;
    const releaseStart = releases
      .filter((r) => r.worker === call.worker && r.shardId === shardId && r.startedAtMs >= call.answeredAtMs)
      .map((r) => r.startedAtMs)
      .sort((x, y) => x - y)[0];
    const cutByRelease = releaseStart !== undefined && releaseStart < timeoutMs;
    const held: Held = {
      told,
      worker: call.worker,
      timeoutMs,
      nominalStartMs: timeoutMs - LEASE_MS,
      learnedAtMs: call.answeredAtMs,
      endMs: cutByRelease ? (releaseStart as number) : timeoutMs,
      cutByRelease,
    };
    byShard.set(shardId, [...(byShard.get(shardId) ?? []), held]);
  }
  return byShard;
}

/**
 * (b) A lease is held over [timeout − duration, timeout], cut short at the moment its holder starts
 * releasing it. After a release the next owner's take may have read its clock before that release
 * (its request was in flight), so against a lease cut by its holder's release the other lease counts
 * from the moment its holder learned of it: it cannot act on it earlier.
 */
function checkNoOverlap(
  run: Run,
  held: ReadonlyMap<string, Held[]>,
  byShard: ReadonlyMap<string, LedgerEntry[]>,
): void {
  for (const [shardId, leases] of held) {
    for (let i = 0; i < leases.length; i++) {
      for (let j = i + 1; j < leases.length; j++) {
        const x = leases[i] as Held;
        const y = leases[j] as Held;
        if (x.worker === y.worker) continue;
        run.checks.b++;
        const startX = y.cutByRelease ? x.learnedAtMs : x.nominalStartMs;
        const startY = x.cutByRelease ? y.learnedAtMs : y.nominalStartMs;
        const from = Math.max(startX, startY);
        const to = Math.min(x.endMs, y.endMs);
        if (from < to) {
          const first = Math.min(x.told.call.startedAtMs, y.told.call.startedAtMs);
          const last = Math.max(x.told.call.answeredAtMs, y.told.call.answeredAtMs);
          const between = (byShard.get(shardId) ?? [])
            .filter((e) => e.answeredAtMs >= first && e.sentAtMs <= last)
            .map((e) => `\n      ${describeEntry(e)}`)
            .join('');
          run.violate(
            'b',
            `${shardId}: ${x.worker} and ${y.worker} both held it over ${iso(from)} .. ${iso(to)} (${to - from} ms)\n    ${describeCall(x.told.call)} lease ${JSON.stringify(x.told.lease)}${x.cutByRelease ? ` released at ${iso(x.endMs)}` : ''}\n    ${describeCall(y.told.call)} lease ${JSON.stringify(y.told.lease)}${y.cutByRelease ? ` released at ${iso(y.endMs)}` : ''}\n    writes from the first call to the last answer:${between}`,
          );
        }
      }
    }
  }
}

/**
 * (c) Every checkpoint write that really happened: the writer owns the row it left, the checkpoint
 * time is before that lease's timeout, and no other worker had learned of a lease still running at
 * that time (strictly earlier by the integer-ms clock, so that equal readings are not misjudged).
 */
function checkCheckpointsInsideLeases(run: Run, held: ReadonlyMap<string, Held[]>): void {
  for (const e of run.ledger.entries) {
    if (e.kind !== 'checkpoint') continue;
    run.checks.c++;
    const owner = text(e.row, 'AssignedTo');
    const at = instantNs(e.row?.CheckpointedAt);
    const until = instantNs(e.row?.LeaseTimeout);
    const defects: string[] = [];
    if (owner !== e.actor) defects.push(`the row it left is owned by ${String(owner)}`);
    if (at === undefined || until === undefined || at >= until)
      defects.push(
        `CheckpointedAt ${String(e.row?.CheckpointedAt)} not before LeaseTimeout ${String(e.row?.LeaseTimeout)}`,
      );
    const atMs = at === undefined ? undefined : Number(at / 1_000_000n);
    const rival =
      atMs === undefined
        ? undefined
        : (held.get(e.shardId) ?? []).find(
            (h) => h.worker !== e.actor && h.learnedAtMs < atMs && atMs < h.endMs,
          );
    if (rival)
      defects.push(
        `${rival.worker} held it then: ${describeCall(rival.told.call)} ${JSON.stringify(rival.told.lease)}`,
      );
    if (defects.length > 0) run.violate('c', `${describeEntry(e)}: ${defects.join('; ')}`);
  }
}

/** (d) */
function checkCheckpointsForward(
  run: Run,
  byShard: ReadonlyMap<string, LedgerEntry[]>,
  finalRows: ReadonlyMap<string, Row | undefined>,
): void {
  for (const [shardId, entries] of byShard) {
    const states = entries.filter((e) => e.row !== undefined).sort((x, y) => x.sentAtMs - y.sentAtMs);
    for (const e1 of states) {
      if (e1.row?.Checkpoint === undefined) continue;
      for (const e2 of states) {
        if (!(e1.answeredAtMs < e2.sentAtMs)) continue;
        run.checks.d++;
        if (compareCheckpoints(e2.row?.Checkpoint, e1.row?.Checkpoint) < 0) {
          run.violate(
            'd',
            `${shardId}: checkpoint went from ${String(e1.row?.Checkpoint)} back to ${String(e2.row?.Checkpoint)}\n    ${describeEntry(e1)}\n    ${describeEntry(e2)}`,
          );
        }
      }
    }
  }
  for (const [shardId, row] of finalRows) {
    const finalCheckpoint = row?.Checkpoint;
    const known = [
      ...(byShard.get(shardId) ?? []).map((e) => ({ what: describeEntry(e), checkpoint: e.row?.Checkpoint })),
      ...successes(run)
        .filter((t) => t.shardId === shardId && t.call.op === 'checkpoint')
        .map((t) => ({ what: describeCall(t.call), checkpoint: t.lease?.checkpoint })),
    ];
    for (const { what, checkpoint } of known) {
      if (checkpoint === undefined) continue;
      run.checks.d++;
      if (compareCheckpoints(finalCheckpoint, checkpoint) < 0) {
        run.violate(
          'd',
          `${shardId}: the final checkpoint ${String(finalCheckpoint)} is behind ${checkpoint}: ${what}`,
        );
      }
    }
  }
}

/**
 * (f) The instant a write carries (a take's LeaseTimeout − duration, a checkpoint's CheckpointedAt, a
 * release's LeaseTimeout)
 * was read after the previous attempt of the same call on that shard ended (or after the call
 * started), and before the request left.
 */
function checkFreshTime(run: Run): void {
  const calls = new Map(run.calls.map((c) => [`${c.worker}/${c.callId}`, c]));
  for (const e of run.ledger.entries) {
    if (e.kind !== 'take' && e.kind !== 'renew' && e.kind !== 'checkpoint' && e.kind !== 'release') continue;
    const call = e.callId === undefined ? undefined : calls.get(`${e.actor}/${e.callId}`);
    if (!call) continue;
    const written =
      e.kind === 'checkpoint' ? instantMs(e.row?.CheckpointedAt) : instantMs(e.row?.LeaseTimeout);
    if (written === undefined) continue;
    const nowMs = e.kind === 'checkpoint' || e.kind === 'release' ? written : written - LEASE_MS;
    const before = requestsOf(run, e.actor, e.callId as number, e.shardId).filter(
      (r) => r.seq < e.requestSeq && ['UpdateItem', 'PutItem', 'DeleteItem'].includes(r.command),
    );
    const previous = before.at(-1);
    const floor = previous?.endedAtMs ?? call.startedAtMs;
    run.checks.f++;
    if (nowMs < floor - CLOCK_TOLERANCE_MS || nowMs > e.sentAtMs + CLOCK_TOLERANCE_MS) {
      const which = previous ? `the previous attempt ended ${iso(floor)}` : `the call started ${iso(floor)}`;
      run.violate(
        'f',
        `${describeEntry(e)}: written with server time ${iso(nowMs)}, but ${which} and the request left ${iso(e.sentAtMs)} (${floor - nowMs} ms stale)\n    requests:${traceOf(run, e.actor, e.callId as number, e.shardId)}`,
      );
    }
  }
}

/**
 * (g) When a worker renews (or takes again) a lease it holds and that is still live at the answer
 * (its believed timeout is later), nothing changed hands: the counter must be the one it held.
 */
function checkCounter(run: Run): void {
  for (const { call, shardId, lease } of successes(run)) {
    if (call.op !== 'getLease' && call.op !== 'renew') continue;
    const belief = call.beliefs.get(shardId);
    if (!belief || lease?.owner !== call.worker || !(belief.timeoutMs > call.answeredAtMs)) continue;
    run.checks.g++;
    if ((lease.leaseCounter ?? 0) !== belief.leaseCounter) {
      run.violate(
        'g',
        `${describeCall(call)}: counter ${belief.leaseCounter} -> ${String(lease.leaseCounter)} on renewing a live lease (held until ${belief.leaseTimeout})\n    requests:${traceOf(run, call.worker, call.callId, shardId)}`,
      );
    }
  }
}

/** (h) */
function checkRelease(run: Run): void {
  for (const call of run.calls) {
    if (call.op !== 'release' || call.answer.ok || call.answer.code !== 'LeaseLost') continue;
    run.checks.h++;
    const owner = call.answer.owner;
    if (owner === undefined || owner === call.worker) {
      run.violate(
        'h',
        `${describeCall(call)}: refused although no other worker owns it (owner ${String(owner)}; "${call.answer.message}")\n    requests:${traceOf(run, call.worker, call.callId, call.shardId)}`,
      );
    }
  }
}

function checkInvariants(run: Run, finalRows: ReadonlyMap<string, Row | undefined>): void {
  const byShard = new Map<string, LedgerEntry[]>();
  for (const e of run.ledger.entries) byShard.set(e.shardId, [...(byShard.get(e.shardId) ?? []), e]);
  const held = heldLeases(run);
  checkNoFalseSuccess(run, byShard);
  checkNoOverlap(run, held, byShard);
  checkCheckpointsInsideLeases(run, held);
  checkCheckpointsForward(run, byShard, finalRows);
  checkFreshTime(run);
  checkCounter(run);
  checkRelease(run);
}

interface SeedReport {
  readonly seed: number;
  readonly operations: number;
  readonly requests: number;
  readonly writes: number;
  readonly faults: Record<FaultKind, number>;
  readonly storms: number;
  readonly skipped: number;
  readonly checks: Record<InvariantId, number>;
  readonly violations: readonly Violation[];
  readonly outcomes: Record<string, number>;
  /** A few distinct messages of Internal failures, for debugging. */
  readonly internals: readonly string[];
  readonly ms: number;
}

async function runSeed(seed: number): Promise<SeedReport> {
  const started = Date.now();
  const run = new Run(seed);
  const setup = createDynamoClient({ endpoint: testEndpoint() });
  try {
    await new DynamoCheckpointer({
      client: setup,
      tableName: run.tableName,
      createTableIfMissing: true,
    }).init();
    for (let i = 0; i < ACTORS; i++) run.actors.push(new Actor(run, i));
    const deadline = Date.now() + RUN_BOUND_MS;
    await Promise.all(run.actors.map((a) => a.runUntil(deadline)));
    const finalRows = new Map<string, Row | undefined>();
    for (const shardId of SHARD_IDS) {
      finalRows.set(shardId, fromItem(await rawItem(setup, run.tableName, shardId)) as Row | undefined);
    }
    checkInvariants(run, finalRows);
  } finally {
    for (const actor of run.actors) actor.close();
    setup.destroy();
  }
  const faults = zero(FAULT_KINDS);
  let requests = 0;
  let storms = 0;
  let skipped = 0;
  for (const { layer } of run.actors) {
    for (const k of FAULT_KINDS) faults[k] += layer.counts[k];
    requests += layer.stats.requests;
    storms += layer.stats.storms;
    skipped += layer.stats.skipped;
  }
  const outcomes: Record<string, number> = {};
  const tally = (key: string) => {
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  };
  for (const call of run.calls) {
    tally(`${call.op}:${call.answer.ok ? 'ok' : call.answer.code}`);
    // Per shard of a renewal; a whole batch that failed (before `failed` existed) counts once above.
    if (call.op !== 'renew' || !call.answer.ok) continue;
    for (const _ of call.answer.renew?.renewed ?? []) tally('renewShard:renewed');
    for (const lost of call.answer.renew?.lost ?? []) tally(`renewShard:lost:${lost.code}`);
    for (const failed of call.answer.renew?.failed ?? []) tally(`renewShard:failed:${failed.code}`);
  }
  const internals = [
    ...new Set(
      run.calls.flatMap((c) =>
        !c.answer.ok && c.answer.code === 'Internal' ? [`${c.op}: ${c.answer.message.split('\n')[0]}`] : [],
      ),
    ),
  ].slice(0, 5);
  return {
    seed,
    internals,
    operations: run.calls.length,
    requests,
    writes: run.ledger.entries.length,
    faults,
    storms,
    skipped,
    checks: { ...run.checks },
    violations: run.violations,
    outcomes,
    ms: Date.now() - started,
  };
}

const SHOWN_PER_INVARIANT = 3;

function describeViolations(report: SeedReport): string {
  const lines = [
    `seed ${report.seed}: ${report.violations.length} invariant violations (rerun: FAULT_SEED=${report.seed} npx jest test/store/faults.test.ts)`,
  ];
  for (const id of INVARIANT_IDS) {
    const found = report.violations.filter((v) => v.invariant === id);
    if (found.length === 0) continue;
    lines.push(`(${id}) ${INVARIANTS[id]}: ${found.length} of ${report.checks[id]} checks failed`);
    for (const v of found.slice(0, SHOWN_PER_INVARIANT)) lines.push(`  [seed ${report.seed}] ${v.text}`);
    if (found.length > SHOWN_PER_INVARIANT) lines.push(`  … and ${found.length - SHOWN_PER_INVARIANT} more`);
  }
  lines.push(`outcomes ${JSON.stringify(report.outcomes)}`);
  if (report.internals.length > 0) lines.push(`Internal failures (sample): ${report.internals.join(' | ')}`);
  return lines.join('\n');
}

/** Per-shard renewal outcomes, and renewal calls that failed as a whole. */
function renewals(reports: readonly SeedReport[]): string {
  const count = (match: (key: string) => boolean) =>
    reports.reduce(
      (n, r) => n + Object.entries(r.outcomes).reduce((m, [k, v]) => m + (match(k) ? v : 0), 0),
      0,
    );
  return [
    `renewed=${count((k) => k === 'renewShard:renewed')}`,
    `lost=${count((k) => k.startsWith('renewShard:lost:'))}`,
    `failed=${count((k) => k.startsWith('renewShard:failed:'))}`,
    `batchFailed=${count((k) => k.startsWith('renew:') && k !== 'renew:ok')}`,
  ].join(' ');
}

function summaryLine(reports: readonly SeedReport[]): string {
  const sum = <K extends string>(keys: readonly K[], get: (r: SeedReport) => Record<K, number>) => {
    const total = zero(keys);
    for (const r of reports) for (const k of keys) total[k] += get(r)[k];
    return Object.entries(total)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  };
  const violations = zero(INVARIANT_IDS);
  for (const r of reports) for (const v of r.violations) violations[v.invariant]++;
  const total = (get: (r: SeedReport) => number) => reports.reduce((s, r) => s + get(r), 0);
  return [
    `fault injection: seeds=${reports.map((r) => r.seed).join(',')}`,
    `operations=${total((r) => r.operations)} requests=${total((r) => r.requests)} writes=${total((r) => r.writes)}`,
    `faults{${sum(FAULT_KINDS, (r) => r.faults)} storms=${total((r) => r.storms)} skipped=${total((r) => r.skipped)}}`,
    `renewals{${renewals(reports)}}`,
    `checks{${sum(INVARIANT_IDS, (r) => r.checks)}}`,
    `violations{${Object.entries(violations)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}}`,
    `ms=${total((r) => r.ms)}`,
  ].join(' ');
}

// ---- the test ----------------------------------------------------------------------------------------

describe('the service under injected DynamoDB faults', () => {
  const reports: SeedReport[] = [];

  afterAll(() => {
    if (reports.length > 0) console.log(summaryLine(reports));
  });

  it.each(SEEDS)('keeps every invariant with seed %i (6 workers × 8 shards, lease 400 ms)', async (seed) => {
    const report = await runSeed(seed);
    reports.push(report);
    if (process.env.FAULT_VERBOSE) console.log(describeViolations(report));
    if (report.violations.length > 0) throw new Error(describeViolations(report));
    // An invariant checked too rarely proves little: every seed must exercise each one.
    const under = INVARIANT_IDS.filter((id) => report.checks[id] < MIN_CHECKS_PER_SEED[id]).map(
      (id) => `(${id}) checked ${report.checks[id]} times, fewer than ${MIN_CHECKS_PER_SEED[id]}`,
    );
    expect(under).toEqual([]);
  });

  it('injected every kind of fault', () => {
    const injected = zero(FAULT_KINDS);
    for (const r of reports) for (const k of FAULT_KINDS) injected[k] += r.faults[k];
    const missing = FAULT_KINDS.filter((k) => injected[k] === 0);
    expect({ seeds: reports.map((r) => r.seed), missing }).toEqual({ seeds: [...SEEDS], missing: [] });
  });
});
