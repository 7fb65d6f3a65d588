/**
 * The `Checkpointer` over the HTTP API: every operation is one request (retried on throttling, faults
 * and network failures), signed with SigV4 for API Gateway's IAM authorisation unless it goes to a
 * local server, and a refusal comes back as the core's typed error. Inputs are validated by the
 * server, with the same rules and field names as DynamoCheckpointer; the client only makes sure each
 * path parameter stays one path segment.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type {
  ActiveWorkers,
  Checkpointer,
  HeartbeatRequest,
  HeartbeatResult,
  InitResult,
  LeaseTerms,
  ListActiveWorkersOptions,
  ListShardsOptions,
  ReleaseRequest,
  RenewResult,
  ShardPage,
} from '../core/checkpointer';
import { ErrorCode, ShardLeaseError, ValidationError } from '../core/errors';
import type { Lease } from '../core/lease-row';
import type { CheckpointRequest, RemoveRowRequest, TakeRequest } from '../core/rules';
import { errorFromResponse } from './errors';
import { type Backoff, backoffDelayMs, DEFAULT_MAX_ATTEMPTS, isRetryableStatus } from './retry';
import { createRequestSigner, type RequestSigner } from './sigv4';

export interface RequestInfo {
  /** The operation name, as the server logs it (e.g. `getLease`). */
  readonly operation: string;
  /** The HTTP status, or 0 when no response came (network failure, timeout). */
  readonly status: number;
  /** 1-based. */
  readonly attempt: number;
  readonly durationMs: number;
}

export interface ShardLeaseClientOptions {
  /** `https://{api}.execute-api.{region}.amazonaws.com[/stage]`, a custom domain, or `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  /** SigV4 region. @default parsed from an execute-api URL, else `AWS_REGION` */
  readonly region?: string;
  /** @default the default credential chain (`fromNodeProviderChain()`) */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** @default true, except for http:// loopback URLs (the local server has no authorisation) */
  readonly sign?: boolean;
  /** Tries in all, for throttling (429), faults (5xx) and network failures. @default 10 */
  readonly maxAttempts?: number;
  /** Full-jitter exponential backoff between tries. @default { baseDelayMs: 50, maxDelayMs: 2000 } */
  readonly backoff?: Backoff;
  /** Per try: a request with no answer by then is abandoned (and retried while the deadline allows). @default 5000 */
  readonly timeoutMs?: number;
  /** The whole call, every try and backoff included: no call waits longer. @default 30000 */
  readonly deadlineMs?: number;
  /** Called after every try, e.g. for metrics. */
  readonly onRequest?: (info: RequestInfo) => void;
}

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_DEADLINE_MS = 30_000;

const EXECUTE_API_HOST = /\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The region of an `execute-api` URL, if it is one. */
export function regionOfUrl(url: URL): string | undefined {
  return EXECUTE_API_HOST.exec(url.hostname)?.[1];
}

export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * One path segment. `.` and `..` would be folded away by URL normalisation (in fetch and in the API's
 * router alike), and an empty segment would name another route, so those are refused here.
 */
function segment(field: string, value: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new ValidationError([{ field, message: 'must be a non-empty id other than . or ..' }]);
  }
  return rfc3986(value);
}

/**
 * Strict percent-encoding (space as %20, never `+`): the query on the wire then reads the same to
 * every server and to the SigV4 canonical form, which encodes all but unreserved characters.
 */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Call {
  readonly operation: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export class ShardLeaseClient implements Checkpointer {
  readonly baseUrl: URL;
  private readonly basePath: string;
  private readonly signer: RequestSigner | undefined;
  private readonly maxAttempts: number;
  private readonly backoff: Backoff;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly onRequest: ((info: RequestInfo) => void) | undefined;

  constructor(options: ShardLeaseClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new ValidationError([{ field: 'baseUrl', message: 'must be an absolute http(s) URL' }]);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ValidationError([{ field: 'baseUrl', message: 'must be an absolute http(s) URL' }]);
    }
    this.baseUrl = base;
    // A stage prefix (`/prod`) without its trailing slash; '' for a bare host.
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoff = options.backoff ?? {};
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.onRequest = options.onRequest;
    if (options.sign ?? !isLoopbackHttp(base)) {
      const region = options.region ?? regionOfUrl(base) ?? process.env.AWS_REGION;
      if (!region) {
        throw new ValidationError([
          { field: 'region', message: 'cannot be told from baseUrl: set the region option or AWS_REGION' },
        ]);
      }
      this.signer = createRequestSigner({ region, credentials: options.credentials ?? defaultCredentials() });
    }
  }

  async init(): Promise<InitResult> {
    return (await this.call({ operation: 'init', method: 'POST', path: '/init' })) as InitResult;
  }

  async getLease(shardId: string, request: TakeRequest): Promise<Lease> {
    return (await this.call({
      operation: 'getLease',
      method: 'POST',
      path: `/shards/${segment('shardId', shardId)}/lease`,
      body: request,
    })) as Lease;
  }

  async checkpointSequence(shardId: string, request: CheckpointRequest): Promise<Lease> {
    return (await this.call({
      operation: 'checkpoint',
      method: 'PUT',
      path: `/shards/${segment('shardId', shardId)}/checkpoint`,
      body: request,
    })) as Lease;
  }

  async fetchCheckpoint(shardId: string): Promise<Lease> {
    return (await this.call({
      operation: 'fetchCheckpoint',
      method: 'GET',
      path: `/shards/${segment('shardId', shardId)}/checkpoint`,
    })) as Lease;
  }

  async removeLeaseInfo(shardId: string, request: RemoveRowRequest = {}): Promise<void> {
    const query: Record<string, string> = {};
    if (request.workerId !== undefined) query.workerId = request.workerId;
    if (request.force !== undefined) query.force = String(request.force);
    await this.call({
      operation: 'removeLeaseInfo',
      method: 'DELETE',
      path: `/shards/${segment('shardId', shardId)}`,
      query,
    });
  }

  async removeLeaseOwner(shardId: string, workerId: string, request: ReleaseRequest = {}): Promise<void> {
    await this.call({
      operation: 'removeLeaseOwner',
      method: 'DELETE',
      path: `/shards/${segment('shardId', shardId)}/lease`,
      // Releasing is idempotent on the server: a retry after a lost answer finds the shard unowned and succeeds.
      query: {
        workerId,
        ...(request.leaseCounter !== undefined && { leaseCounter: String(request.leaseCounter) }),
        ...(request.takeId !== undefined && { takeId: request.takeId }),
      },
    });
  }

  async getLeaseOwner(shardId: string): Promise<string> {
    const out = (await this.call({
      operation: 'getLeaseOwner',
      method: 'GET',
      path: `/shards/${segment('shardId', shardId)}/owner`,
    })) as { owner: string };
    return out.owner;
  }

  async listActiveWorkers(options: ListActiveWorkersOptions = {}): Promise<ActiveWorkers> {
    const query: Record<string, string> = {};
    if (options.shardIds !== undefined) query.shardIds = options.shardIds.join(',');
    if (options.strict !== undefined) query.strict = String(options.strict);
    return (await this.call({
      operation: 'listActiveWorkers',
      method: 'GET',
      path: '/workers',
      query,
    })) as ActiveWorkers;
  }

  async renewLeases(workerId: string, shardIds: readonly string[]): Promise<RenewResult> {
    const out = (await this.call({
      operation: 'renewLeases',
      method: 'POST',
      path: `/workers/${segment('workerId', workerId)}/renew`,
      body: { shardIds },
    })) as Partial<RenewResult>;
    // A server older than per-shard faults sends no `failed`.
    return { renewed: out.renewed ?? [], lost: out.lost ?? [], failed: out.failed ?? [] };
  }

  async heartbeat(workerId: string, request: HeartbeatRequest): Promise<HeartbeatResult> {
    const out = (await this.call({
      operation: 'heartbeat',
      method: 'POST',
      path: `/workers/${segment('workerId', workerId)}/heartbeat`,
      body: request,
    })) as Partial<HeartbeatResult> | undefined;
    return {
      renewed: out?.renewed ?? [],
      lost: out?.lost ?? [],
      failed: out?.failed ?? [],
      take: out?.take ?? [],
      steals: out?.steals ?? [],
      target: out?.target ?? 0,
      overdue: out?.overdue ?? [],
      // The coordinator paces renewals and local expiry by these: an answer without them is a fault.
      terms: statedTerms('heartbeat', out?.terms),
    };
  }

  async leaseTerms(): Promise<LeaseTerms> {
    return statedTerms(
      'describeTerms',
      await this.call({ operation: 'describeTerms', method: 'GET', path: '/terms' }),
    );
  }

  async claimShard(shardId: string, claimerId: string): Promise<Lease> {
    return (await this.call({
      operation: 'claimShard',
      method: 'POST',
      path: `/shards/${segment('shardId', shardId)}/claim`,
      body: { workerId: claimerId },
    })) as Lease;
  }

  async withdrawClaim(shardId: string, claimerId: string): Promise<void> {
    await this.call({
      operation: 'withdrawClaim',
      method: 'DELETE',
      path: `/shards/${segment('shardId', shardId)}/claim`,
      // Idempotent on the server: a retry after a lost answer finds no claim of the caller's and succeeds.
      query: { workerId: claimerId },
    });
  }

  async listShards(options: ListShardsOptions = {}): Promise<ShardPage> {
    const query: Record<string, string> = {};
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.cursor !== undefined) query.cursor = options.cursor;
    return (await this.call({ operation: 'listShards', method: 'GET', path: '/shards', query })) as ShardPage;
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  private urlOf(call: Call): URL {
    const url = new URL(this.baseUrl.href);
    url.pathname = `${this.basePath}${call.path}`;
    url.search = Object.entries(call.query ?? {})
      .map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`)
      .join('&');
    return url;
  }

  /** Signing fails only for want of credentials: no request can succeed, so none is sent. */
  private async sign(
    call: Call,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    try {
      return await (this.signer as RequestSigner)({ method: call.method, url, headers, body });
    } catch (error) {
      throw new ShardLeaseError(
        ErrorCode.Internal,
        `${call.operation}: cannot sign the request: ${(error as Error)?.message ?? String(error)}`,
        { status: 0 },
        { cause: error },
      );
    }
  }

  /** The parsed body of a 2xx response (undefined for 204), after as many tries as it takes. */
  private async call(call: Call): Promise<unknown> {
    const url = this.urlOf(call);
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const baseHeaders: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      ...(body !== undefined && { 'content-type': 'application/json' }),
    };
    const deadline = performance.now() + this.deadlineMs;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const report = (status: number) =>
        this.onRequest?.({
          operation: call.operation,
          status,
          attempt,
          durationMs: Math.round((performance.now() - started) * 100) / 100,
        });
      const remainingMs = deadline - started;
      const last = attempt >= this.maxAttempts || remainingMs <= this.timeoutMs;
      // Signed per try: the signature carries the time, and API Gateway refuses one 5 minutes old.
      const headers = this.signer ? await this.sign(call, url, baseHeaders, body) : baseHeaders;
      // fetch sets Host itself (from the URL the signature was made for) and refuses it as a header.
      const { host: _host, ...sent } = headers;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method: call.method,
          headers: sent,
          ...(body !== undefined && { body }),
          // Whole milliseconds: AbortSignal.timeout throws a RangeError on a fraction.
          signal: AbortSignal.timeout(Math.max(1, Math.ceil(Math.min(this.timeoutMs, remainingMs)))),
        });
        text = await response.text();
      } catch (error) {
        report(0);
        if (last) throw networkError(call, attempt, error);
        await sleep(
          Math.max(0, Math.min(backoffDelayMs(attempt, this.backoff), deadline - performance.now())),
        );
        continue;
      }
      report(response.status);
      if (response.ok) {
        if (text === '') return undefined;
        const value = parseJson(text);
        if (value === undefined) {
          throw new ShardLeaseError(
            ErrorCode.Internal,
            `${call.operation}: HTTP ${response.status} with a body that is not JSON`,
            { status: response.status },
          );
        }
        return value;
      }
      const parsed = parseObject(text);
      const code = typeof parsed?.code === 'string' ? parsed.code : undefined;
      if (!last && isRetryableStatus(response.status, code)) {
        await sleep(
          Math.max(0, Math.min(backoffDelayMs(attempt, this.backoff), deadline - performance.now())),
        );
        continue;
      }
      const requestId =
        (typeof parsed?.requestId === 'string' ? parsed.requestId : undefined) ??
        response.headers.get('apigw-requestid') ??
        response.headers.get('x-amzn-requestid') ??
        undefined;
      const error = errorFromResponse({ status: response.status, body: parsed, text, requestId });
      throw error;
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  const value = parseJson(text);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

const isPositiveNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0;

/**
 * The lease terms an answer states, or Internal: an answer that does not prove them (a service older
 * than the terms, a body that did not come from the service) is a fault, never a guess at the defaults.
 */
function statedTerms(operation: string, value: unknown): LeaseTerms {
  const terms = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { leaseDurationMs, claimTimeoutMs } = terms;
  if (isPositiveNumber(leaseDurationMs) && isPositiveNumber(claimTimeoutMs)) {
    return { leaseDurationMs, claimTimeoutMs };
  }
  const got = value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 200);
  throw new ShardLeaseError(
    ErrorCode.Internal,
    `${operation}: the service did not state its lease terms (leaseDurationMs and claimTimeoutMs, ` +
      `positive numbers); got ${got}`,
    {},
    {
      hint: 'the answer lacks the lease terms the service runs with: the service may be older than this client, or the answer did not come from it; check the URL and the service version',
    },
  );
}

function networkError(call: Call, attempts: number, error: unknown): ShardLeaseError {
  const { name, cause } = error as { name?: string; cause?: { code?: string; message?: string } };
  const reason = cause?.code ?? cause?.message ?? name ?? 'error';
  return new ShardLeaseError(
    ErrorCode.Internal,
    `${call.operation}: no response after ${attempts} attempts (${reason})`,
    { status: 0 },
    { cause: error },
  );
}

/** The default chain, loaded only when a request is signed (a local client never needs it). */
function defaultCredentials(): AwsCredentialIdentityProvider {
  let provider: AwsCredentialIdentityProvider | undefined;
  return async (options) => {
    if (!provider) {
      const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
      provider = fromNodeProviderChain();
    }
    return provider(options);
  };
}
