/**
 * API Gateway HTTP API (payload 2.0) event → operation → response. The same function serves every
 * Lambda and the local server: body limits, JSON parsing, validation, the core call, and the
 * mapping of results and typed errors to responses all happen here, once.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import type { Checkpointer } from '../core/checkpointer';
import { type FieldIssue, PayloadTooLargeError, ShardLeaseError, ValidationError } from '../core/errors';
import { fieldIssues } from '../core/inputs';
import type { Operation } from './operations';
import { PROBLEM_CONTENT_TYPE, problemFor } from './problem';

export const MAX_BODY_BYTES = 16 * 1024;

export interface DispatchOutcome {
  readonly response: APIGatewayProxyStructuredResultV2;
  readonly statusCode: number;
  /** The error code of a failed request. */
  readonly code?: string;
  /** The error behind a 5xx, for the log only. */
  readonly fault?: unknown;
  /** The shard and worker the request is about, as far as they are known, for the log line. */
  readonly keys: { shardId?: string; workerId?: string };
  /** The operation's own numbers for the log line (OperationResult.logFields). */
  readonly fields?: Readonly<Record<string, number>>;
}

const clip = (value: unknown): string | undefined =>
  typeof value === 'string' ? value.slice(0, 256) : undefined;

function bodyText(event: APIGatewayProxyEventV2): string | undefined {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

function parseJsonBody(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: 'body', message: 'is not valid JSON' }]);
  }
}

function parsePart(
  schema: z.core.$ZodType | undefined,
  value: unknown,
  part: 'path' | 'query' | 'body',
  issues: FieldIssue[],
) {
  if (!schema) return undefined;
  const result = z.safeParse(schema, value ?? (part === 'body' ? undefined : {}));
  if (result.success) return result.data;
  if (part === 'body' && value === undefined)
    issues.push({ field: 'body', message: 'is required (a JSON object)' });
  else if (part === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    issues.push({ field: 'body', message: 'must be a JSON object' });
  } else issues.push(...fieldIssues(result.error));
  return undefined;
}

/**
 * Why a body is refused where the operation takes none, and where its inputs go instead:
 * `must be empty: DELETE /shards/{shardId} takes no body; send workerId, force in the query string
 * (?workerId=…&force=true)`.
 */
function bodilessMessage(operation: Operation): string {
  const { method, path } = operation.route;
  const shape = (operation.query as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)
    ?._zod?.def?.shape;
  const names = Object.keys(shape ?? {});
  const where =
    names.length === 0
      ? ''
      : `; send ${names.join(', ')} in the query string (?${names.map((n) => `${n}=…`).join('&')})`;
  return `must be empty: ${method} ${path} takes no body${where}`;
}

/** Seconds a throttled caller should wait: DynamoDB's throttling clears within about a second. */
const RETRY_AFTER_SECONDS = '1';

function json(
  statusCode: number,
  body: unknown,
  contentType = 'application/json',
): APIGatewayProxyStructuredResultV2 {
  if (statusCode === 204) return { statusCode, headers: {} };
  return {
    statusCode,
    headers: {
      'content-type': contentType,
      ...(statusCode === 429 && { 'retry-after': RETRY_AFTER_SECONDS }),
    },
    body: JSON.stringify(body),
  };
}

export async function dispatch(
  operation: Operation,
  event: APIGatewayProxyEventV2,
  checkpointer: Checkpointer,
  requestId: string,
): Promise<DispatchOutcome> {
  const keys: { shardId?: string; workerId?: string } = {};
  const shardId = clip(event.pathParameters?.shardId);
  const workerId = clip(event.pathParameters?.workerId ?? event.queryStringParameters?.workerId);
  if (shardId) keys.shardId = shardId;
  if (workerId) keys.workerId = workerId;
  try {
    const text = bodyText(event);
    // Unknown input is refused, a body where the operation takes none included.
    if (!operation.body && text !== undefined) {
      throw new ValidationError([{ field: 'body', message: bodilessMessage(operation) }]);
    }
    const body = operation.body ? parseJsonBody(text) : undefined;
    const issues: FieldIssue[] = [];
    const input = {
      path: parsePart(operation.path, event.pathParameters, 'path', issues),
      query: parsePart(operation.query, event.queryStringParameters, 'query', issues),
      body: parsePart(operation.body, body, 'body', issues),
    };
    if (issues.length > 0) throw new ValidationError(issues);
    const bodyWorker = clip((input.body as { workerId?: unknown } | undefined)?.workerId);
    if (bodyWorker) keys.workerId = bodyWorker;
    // The operation table pairs each schema with its run, so the parsed input has the run's type.
    const result = await operation.run(checkpointer, input as never);
    return {
      response: json(result.status, result.body),
      statusCode: result.status,
      keys,
      ...(result.logFields && { fields: result.logFields }),
    };
  } catch (error) {
    const { status, body } = problemFor(error, requestId);
    return {
      response: json(status, body, PROBLEM_CONTENT_TYPE),
      statusCode: status,
      code: String(body.code),
      keys,
      ...((status >= 500 || !(error instanceof ShardLeaseError)) && { fault: error }),
    };
  }
}
