/**
 * The one map from error code to HTTP status, and the problem+json bodies built from errors. Only
 * our typed errors are described to callers; anything else is a 500 `Internal` that names the
 * request id and nothing of the internals (the log has the whole error).
 */
import { ErrorCode, ShardLeaseError, ValidationError } from '../core/errors';

export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  ValidationError: 400,
  PayloadTooLarge: 413,
  NotFound: 404,
  MethodNotAllowed: 405,
  LeaseNotAcquired: 409,
  ShardClaimed: 409,
  LeaseLost: 409,
  CheckpointRegression: 409,
  SequenceIDNotFound: 404,
  NoLeaseOwner: 404,
  ShardNotAssigned: 409,
  ShardEnded: 409,
  InvalidDynamoDBSchema: 500,
  Throttled: 429,
  Internal: 500,
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const INTERNAL_MESSAGE = 'internal error; the request id locates it in the logs';

export interface Problem {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export function problemFor(error: unknown, requestId: string): Problem {
  if (error instanceof ShardLeaseError) {
    const status = STATUS_BY_CODE[error.code];
    const body: Record<string, unknown> = {
      code: error.code,
      message: error.message,
      ...(error.hint !== undefined && { hint: error.hint }),
      ...error.details,
      requestId,
    };
    if (error instanceof ValidationError) body.fields = error.issues;
    return { status, body };
  }
  return {
    status: 500,
    body: {
      code: ErrorCode.Internal,
      message: INTERNAL_MESSAGE,
      requestId,
    },
  };
}

export function problem(
  code: ErrorCode,
  message: string,
  requestId: string,
  extra: Record<string, unknown> = {},
): Problem {
  return { status: STATUS_BY_CODE[code], body: { code, message, ...extra, requestId } };
}
