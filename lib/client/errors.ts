/**
 * problem+json → the core's typed error, so a caller of the HTTP client catches the same classes, with
 * the same codes, messages and details, as a caller of DynamoCheckpointer. Anything without a code we
 * know (an API Gateway error page, a proxy's HTML) becomes `Internal` carrying the status.
 */
import {
  CheckpointRegressionError,
  ErrorCode,
  type FieldIssue,
  InvalidDynamoDbSchemaError,
  type LeaseConflictDetails,
  LeaseLostError,
  LeaseNotAcquiredError,
  NoLeaseOwnerError,
  PayloadTooLargeError,
  SequenceIdNotFoundError,
  ShardClaimedError,
  ShardEndedError,
  ShardLeaseError,
  ShardNotAssignedError,
  ShardNotFoundError,
  ThrottledError,
  ValidationError,
} from '../core/errors';

/** What the server said, beyond the code and message: conflict details, field issues, request id. */
type ProblemBody = Readonly<Record<string, unknown>>;

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

function conflict(body: ProblemBody): LeaseConflictDetails {
  const details: Record<string, unknown> = {};
  for (const key of ['owner', 'leaseTimeout', 'claimRequest', 'checkpoint'] as const) {
    if (typeof body[key] === 'string') details[key] = body[key];
  }
  if (typeof body.leaseCounter === 'number') details.leaseCounter = body.leaseCounter;
  return details;
}

function fieldIssuesOf(body: ProblemBody): FieldIssue[] {
  const fields = Array.isArray(body.fields) ? body.fields : [];
  return fields
    .filter((f): f is { field: string; message?: unknown } => typeof f?.field === 'string')
    .map((f) => ({ field: f.field, message: str(f.message) }));
}

const BUILDERS: Readonly<Record<ErrorCode, (body: ProblemBody) => ShardLeaseError>> = {
  ValidationError: (body) => new ValidationError(fieldIssuesOf(body)),
  PayloadTooLarge: (body) =>
    new PayloadTooLargeError(typeof body.limitBytes === 'number' ? body.limitBytes : 0),
  NotFound: (body) => new ShardNotFoundError(str(body.shardId)),
  MethodNotAllowed: (body) => new ShardLeaseError(ErrorCode.MethodNotAllowed, str(body.message)),
  LeaseNotAcquired: (body) => new LeaseNotAcquiredError('', conflict(body)),
  ShardClaimed: (body) => new ShardClaimedError(conflict(body)),
  LeaseLost: (body) => new LeaseLostError('', conflict(body)),
  CheckpointRegression: (body) => new CheckpointRegressionError(str(body.requested), conflict(body)),
  SequenceIDNotFound: (body) => new SequenceIdNotFoundError(conflict(body)),
  NoLeaseOwner: () => new NoLeaseOwnerError(),
  ShardNotAssigned: (body) => new ShardNotAssignedError(strings(body.shardIds)),
  ShardEnded: (body) => new ShardEndedError(str(body.shardId)),
  InvalidDynamoDBSchema: (body) => new InvalidDynamoDbSchemaError(str(body.table), ''),
  Throttled: () => new ThrottledError(0),
  Internal: (body) => new ShardLeaseError(ErrorCode.Internal, str(body.message)),
};

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCode, code);
}

/** Keys of a problem body that are the envelope, not details of the error. */
const ENVELOPE = new Set(['code', 'message', 'fields', 'hint']);

export interface HttpFailure {
  readonly status: number;
  /** The parsed JSON body, or undefined when the body was not a JSON object. */
  readonly body: ProblemBody | undefined;
  /** The raw text, for a message when the body is not ours. */
  readonly text: string;
  /** From the body, or else the API Gateway request id header. */
  readonly requestId: string | undefined;
}

/**
 * The typed error for a failed response. Its message is the server's message verbatim, and its
 * details are everything the server sent besides the envelope, plus `status` and `requestId`.
 */
export function errorFromResponse(failure: HttpFailure): ShardLeaseError {
  const { status, body, requestId } = failure;
  const extra = { status, ...(requestId !== undefined && { requestId }) };
  if (body && isErrorCode(body.code)) {
    const error = BUILDERS[body.code](body);
    // The classes compose their messages from parts the problem does not all carry; the server's own
    // text is the authority, so it replaces the composed one (readonly is a compile-time promise only).
    const details = Object.fromEntries(Object.entries(body).filter(([k]) => !ENVELOPE.has(k)));
    return Object.assign(error, {
      message: typeof body.message === 'string' ? body.message : error.message,
      // The server knew why (a hint may depend on the caller, which the body does not name).
      ...(typeof body.hint === 'string' && { hint: body.hint }),
      details: { ...error.details, ...details, ...extra },
    });
  }
  const said = typeof body?.message === 'string' ? body.message : failure.text.trim().slice(0, 200);
  const code = status === 429 ? ErrorCode.Throttled : ErrorCode.Internal;
  return new ShardLeaseError(code, `HTTP ${status}${said ? `: ${said}` : ''}`, extra);
}
