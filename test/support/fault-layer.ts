/**
 * A fault layer for a real DynamoDBClient, for tests on dynalite. It injects ONLY faults that the real
 * server (dynalite, on loopback) cannot produce on its own: slow and lost requests, lost, empty,
 * malformed and truncated answers, throttling and connection resets. Everything else (conditions,
 * refusals, the items themselves) comes from the real server. Every error it throws says in its
 * message that this layer injected it, it counts what it injected by kind, keeps one trace record
 * per request, and keeps a ledger of the writes the server really applied (see fault-ledger.ts).
 *
 * Where it sits: one middleware in the SDK's `deserialize` step at high priority, i.e. after signing
 * and the SDK's own (disabled) retries, and wrapping the SDK's deserializer and the HTTP handler. So
 * `next(args)` is the real round trip: faults "before sending" skip it, faults "after DynamoDB
 * applied" call it first and then replace or alter the parsed answer.
 *
 * Determinism: the draws come from mulberry32 streams derived from (plan seed, actor, shard id of the
 * request), all taken synchronously when the request enters the layer, so the n-th request an actor
 * sends about a shard always gets the same fault, whatever the other actors do. Which requests an
 * actor sends depends on what the server answered, and the interleaving on the real server is the
 * OS's: a seed reproduces the schedules, not the race.
 *
 * Kinds:
 * - delay: sleeps 0..maxDelayMs, then sends normally.
 * - dropRequest: never sends; hangs up to hangMs, then throws a TimeoutError (what the SDK's HTTP
 *   handler throws when a request times out), transient for lib/store/retry.ts.
 * - reset: never sends; throws Error code ECONNRESET ("socket hang up"), transient.
 * - throttle: never sends; throws the SDK's ThrottlingException (HTTP 400). With
 *   throttleStormProbability, a throttle starts a storm: the next throttleStormLength - 1 requests of
 *   the same actor about the same shard are throttled too (enough to exhaust the retries).
 * - dropAnswer: sends, the server applies it, then throws a TimeoutError instead of the answer.
 * - emptyAnswer: sends, then returns the answer without Attributes, as if DynamoDB had answered `{}`.
 *   Only for writes that asked for ReturnValues and got them: a GetItem without Item is a real
 *   answer ("no such item") that no client could tell from a lie, so it is not injected there.
 * - garbleAnswer: sends, then returns the item (UpdateItem Attributes or GetItem Item) malformed:
 *   either without its ShardID, or with AssignedTo of the wrong type ({N: '1'}).
 * - truncateAnswer: sends, then throws what the SDK throws for a JSON body cut short: a SyntaxError
 *   with $metadata.httpStatusCode 200 and the deserializer's hint. Classification: such an answer
 *   proves nothing about the write (here it was applied; the caller cannot know that), so it must
 *   never become a success. It is an ambiguous outcome like a lost answer: as every write of the
 *   service is conditional and safe for the same caller to repeat, retrying it is right, and once the
 *   retries are spent it is a 500 Internal.
 * An answer-fault drawn for a request whose real answer was a refusal (ConditionalCheckFailed) drops
 * or truncates that refusal; empty/garble do not apply to refusals and are then counted as `skipped`.
 */
import { type AttributeValue, type DynamoDBClient, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { fromItem } from '../../lib/store/item';
import { classifyWrite, type Row, shardOfRequest, type WriteLedger } from './fault-ledger';
import { type Random, randomInt, seededRandom, weighted } from './seeded-random';

export const FAULT_KINDS = [
  'delay',
  'dropRequest',
  'dropAnswer',
  'emptyAnswer',
  'garbleAnswer',
  'truncateAnswer',
  'throttle',
  'reset',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The marker every injected error carries in its message. */
export const INJECTED = 'injected by the test fault layer (test/support/fault-layer.ts)';

/** What the caller is doing, so that requests and ledger entries can be tied to its calls. */
export interface CallContext {
  readonly op: string;
  readonly callId: number;
}

export interface FaultPlan {
  readonly seed: number;
  /** The actor's label in traces and in the ledger (e.g. its worker id). */
  readonly actor: string;
  /** Probability per request of each kind; the rest of the mass passes untouched. Sum at most 1. */
  readonly probabilities: Readonly<Partial<Record<FaultKind, number>>>;
  /** Upper bound of an injected delay. Default 25 ms. */
  readonly maxDelayMs?: number;
  /** Upper bound of how long a dropped request hangs before its timeout error. Default 15 ms. */
  readonly hangMs?: number;
  /** Chance that a throttle starts a storm. Default 0. */
  readonly throttleStormProbability?: number;
  /** Requests throttled in a row by a storm, the first one included. Default 10 (NumMaxRetries). */
  readonly throttleStormLength?: number;
  /** Where writes that really happened are recorded. */
  readonly ledger?: WriteLedger;
  /** Read at each request: the caller's current operation and call id. */
  readonly context?: () => CallContext | undefined;
}

export interface RequestRecord {
  /** Per layer, in order of arrival at the layer. */
  readonly seq: number;
  readonly actor: string;
  readonly op: string;
  readonly callId: number | undefined;
  readonly command: string;
  readonly shardId: string | undefined;
  /** The fault applied; `none` when the request passed untouched. */
  fault: FaultKind | 'none';
  /** A drawn fault that did not apply to the real answer (e.g. emptyAnswer on a refusal). */
  skipped?: FaultKind;
  detail?: string;
  readonly enteredAtMs: number;
  /** When the request left for the server; undefined if it never did. */
  sentAtMs?: number;
  /** When the layer handed its result (answer or error) back to the SDK. */
  endedAtMs?: number;
  /** `ok`, or the name of the error the caller got from this request. */
  result?: string;
  /** The server applied this write (answered it with success). */
  applied?: boolean;
}

export interface FaultLayer {
  readonly client: DynamoDBClient;
  readonly plan: FaultPlan;
  /** Injected faults by kind (only those applied). */
  readonly counts: Record<FaultKind, number>;
  readonly stats: { requests: number; skipped: number; storms: number };
  readonly requests: RequestRecord[];
  /** One line per request, e.g. `#12 worker-3 getLease#45 UpdateItem shard-2 dropAnswer -> TimeoutError (applied) 4ms`. */
  traceLines(filter?: (r: RequestRecord) => boolean): string[];
  /** Stops (false) or resumes (true) injecting; requests are still traced and written to the ledger. */
  setActive(active: boolean): void;
}

export function traceLine(r: RequestRecord): string {
  const call = r.callId === undefined ? r.op : `${r.op}#${r.callId}`;
  const fault = r.fault === 'none' ? (r.skipped ? `none(skipped ${r.skipped})` : 'none') : r.fault;
  const detail = r.detail ? ` [${r.detail}]` : '';
  const took = r.endedAtMs !== undefined ? ` ${r.endedAtMs - r.enteredAtMs}ms` : '';
  return `#${r.seq} ${r.actor} ${call} ${r.command} ${r.shardId ?? '-'} ${fault}${detail} -> ${r.result ?? '?'}${r.applied ? ' (applied)' : ''}${took}`;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function timeoutError(what: string): Error {
  return Object.assign(new Error(`Request timed out: ${what}; ${INJECTED}`), {
    name: 'TimeoutError',
    code: 'ETIMEDOUT',
  });
}

function resetError(): Error {
  return Object.assign(new Error(`socket hang up: connection reset before sending; ${INJECTED}`), {
    code: 'ECONNRESET',
  });
}

function throttlingError(seq: number): Error {
  return new ThrottlingException({
    message: `Throughput exceeds the current capacity of your table or index; ${INJECTED}`,
    $metadata: { httpStatusCode: 400, requestId: `fault-layer-${seq}` },
  });
}

function truncatedBodyError(seq: number, answer: unknown): Error {
  const text = JSON.stringify(answer ?? {});
  const error = new SyntaxError(
    `Unexpected end of JSON input (answer body cut short after the server handled the request; ${INJECTED})\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.`,
  );
  Object.defineProperty(error, '$responseBodyText', { value: text.slice(0, Math.floor(text.length / 2)) });
  return Object.assign(error, { $metadata: { httpStatusCode: 200, requestId: `fault-layer-${seq}` } });
}

type Item = Record<string, AttributeValue>;

/** A malformed copy of an item: one of the two breakages, chosen by `variant`. */
function garbled(item: Item, variant: number): { item: Item; detail: string } {
  const copy: Item = { ...item };
  if (variant === 0) {
    delete copy.ShardID;
    return { item: copy, detail: 'ShardID removed' };
  }
  copy.AssignedTo = { N: '1' };
  return { item: copy, detail: 'AssignedTo as {N:"1"}' };
}

const WRITES = new Set(['UpdateItem', 'PutItem', 'DeleteItem']);

interface Stream {
  readonly random: Random;
  stormLeft: number;
}

interface Draw {
  readonly kind: FaultKind | 'none';
  readonly delayMs: number;
  readonly hangMs: number;
  readonly garbleVariant: number;
  readonly stormStarts: boolean;
  readonly inStorm: boolean;
}

/** Adds the fault middleware to `client` (a real client, e.g. createDynamoClient({ endpoint })). */
export function withFaults(client: DynamoDBClient, plan: FaultPlan): FaultLayer {
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const stats = { requests: 0, skipped: 0, storms: 0 };
  const requests: RequestRecord[] = [];
  const streams = new Map<string, Stream>();
  const maxDelayMs = plan.maxDelayMs ?? 25;
  const maxHangMs = plan.hangMs ?? 15;
  const stormLength = plan.throttleStormLength ?? 10;
  const stormProbability = plan.throttleStormProbability ?? 0;
  const faultMass = FAULT_KINDS.reduce((sum, k) => sum + (plan.probabilities[k] ?? 0), 0);
  if (faultMass > 1) throw new Error(`fault probabilities sum to ${faultMass} > 1`);
  const weights = {
    ...Object.fromEntries(FAULT_KINDS.map((k) => [k, plan.probabilities[k] ?? 0])),
    none: 1 - faultMass,
  } as Record<FaultKind | 'none', number>;
  let active = true;
  let nextSeq = 1;

  const streamFor = (key: string): Stream => {
    let stream = streams.get(key);
    if (!stream) {
      stream = { random: seededRandom(plan.seed, plan.actor, key), stormLeft: 0 };
      streams.set(key, stream);
    }
    return stream;
  };

  /** Every draw of a request, taken at once and always the same number of them, so streams stay aligned. */
  const draw = (key: string): Draw => {
    const stream = streamFor(key);
    const r = stream.random;
    const drawn = weighted(r, weights);
    const delayMs = randomInt(r, 0, maxDelayMs);
    const hangMs = randomInt(r, 0, maxHangMs);
    const garbleVariant = randomInt(r, 0, 1);
    const stormRoll = r();
    if (!active) return { kind: 'none', delayMs, hangMs, garbleVariant, stormStarts: false, inStorm: false };
    if (stream.stormLeft > 0) {
      stream.stormLeft--;
      return { kind: 'throttle', delayMs, hangMs, garbleVariant, stormStarts: false, inStorm: true };
    }
    const stormStarts = drawn === 'throttle' && stormRoll < stormProbability;
    if (stormStarts) stream.stormLeft = stormLength - 1;
    return { kind: drawn, delayMs, hangMs, garbleVariant, stormStarts, inStorm: false };
  };

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      const input = args.input as Record<string, unknown>;
      const shardId = shardOfRequest(input);
      const call = plan.context?.();
      const d = draw(shardId ?? '*');
      const record: RequestRecord = {
        seq: nextSeq++,
        actor: plan.actor,
        op: call?.op ?? 'unknown',
        callId: call?.callId,
        command,
        shardId,
        fault: d.kind,
        enteredAtMs: Date.now(),
      };
      requests.push(record);
      stats.requests++;
      const inject = (kind: FaultKind, detail?: string) => {
        record.fault = kind;
        if (detail) record.detail = detail;
        counts[kind]++;
      };
      const skip = (kind: FaultKind) => {
        record.fault = 'none';
        record.skipped = kind;
        stats.skipped++;
      };
      try {
        // ---- before sending: the server never sees the request
        if (d.kind === 'dropRequest') {
          inject('dropRequest', `hung ${d.hangMs}ms`);
          await sleep(d.hangMs);
          throw timeoutError(`${command} was never sent (dropped)`);
        }
        if (d.kind === 'reset') {
          inject('reset');
          throw resetError();
        }
        if (d.kind === 'throttle') {
          if (d.stormStarts) stats.storms++;
          inject('throttle', d.inStorm ? 'storm' : d.stormStarts ? 'storm starts' : undefined);
          throw throttlingError(record.seq);
        }
        if (d.kind === 'delay') {
          inject('delay', `${d.delayMs}ms`);
          await sleep(d.delayMs);
        }

        // ---- the real round trip
        record.sentAtMs = Date.now();
        let result: Awaited<ReturnType<typeof next>>;
        try {
          result = await next(args);
        } catch (error) {
          // A real refusal (or other real error): only losing or cutting the answer applies to it.
          if (d.kind === 'dropAnswer') {
            inject('dropAnswer', `real answer was ${(error as Error).name}`);
            throw timeoutError(`the answer to ${command} was lost after the server handled it`);
          }
          if (d.kind === 'truncateAnswer') {
            inject('truncateAnswer', `real answer was ${(error as Error).name}`);
            throw truncatedBodyError(record.seq, { __type: (error as Error).name });
          }
          if (d.kind === 'emptyAnswer' || d.kind === 'garbleAnswer') skip(d.kind);
          throw error;
        }
        const answeredAtMs = Date.now();
        const output = result.output as unknown as Record<string, unknown>;

        if (WRITES.has(command) && shardId !== undefined) {
          record.applied = true;
          const write = classifyWrite(command, input);
          plan.ledger?.record({
            actor: plan.actor,
            op: record.op,
            callId: record.callId,
            requestSeq: record.seq,
            command,
            kind: write.kind,
            set: write.set,
            remove: write.remove,
            shardId,
            sentAtMs: record.sentAtMs,
            answeredAtMs,
            row: fromItem(output.Attributes as Item | undefined) as Row | undefined,
          });
        }

        // ---- after the server applied it: the answer is lost, emptied, garbled or cut short
        switch (d.kind) {
          case 'dropAnswer':
            inject('dropAnswer');
            throw timeoutError(`the answer to ${command} was lost after the server applied it`);
          case 'truncateAnswer':
            inject('truncateAnswer');
            throw truncatedBodyError(record.seq, output);
          case 'emptyAnswer': {
            if (!WRITES.has(command) || output.Attributes === undefined) {
              skip('emptyAnswer');
              return result;
            }
            inject('emptyAnswer', 'Attributes removed');
            const { Attributes: _dropped, ...rest } = output;
            return { ...result, output: rest as unknown as typeof result.output };
          }
          case 'garbleAnswer': {
            const field =
              output.Attributes !== undefined ? 'Attributes' : output.Item !== undefined ? 'Item' : '';
            if (field === '') {
              skip('garbleAnswer');
              return result;
            }
            const { item, detail } = garbled(output[field] as Item, d.garbleVariant);
            inject('garbleAnswer', `${field}: ${detail}`);
            return { ...result, output: { ...output, [field]: item } as unknown as typeof result.output };
          }
          default:
            return result;
        }
      } catch (error) {
        record.result = (error as Error)?.name ?? 'Error';
        throw error;
      } finally {
        record.result ??= 'ok';
        record.endedAtMs = Date.now();
      }
    },
    { step: 'deserialize', name: 'testFaultLayer', priority: 'high' },
  );

  return {
    client,
    plan,
    counts,
    stats,
    requests,
    traceLines: (filter) => requests.filter(filter ?? (() => true)).map(traceLine),
    setActive: (on) => {
      active = on;
    },
  };
}
