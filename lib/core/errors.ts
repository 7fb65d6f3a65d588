/**
 * The typed errors of the lease engine. Codes are the contract's names; messages of the errors that
 * vmware-go-kcl-v2 also has are its messages (`SequenceIDNotFoundForShard`, `AssignedToNotFoundForShard`,
 * `no LeaseOwner in checkpoints table`, `shard is already claimed by another node`), so logs read the
 * same in a mixed fleet and callers that match on them keep working. Each error also carries a `hint`:
 * what the error means in plain words, what it refers to, and what to do about it. The hint is for
 * people (the CLI prints it under the message); code matches on `code`.
 */

export const ErrorCode = {
  ValidationError: 'ValidationError',
  PayloadTooLarge: 'PayloadTooLarge',
  NotFound: 'NotFound',
  MethodNotAllowed: 'MethodNotAllowed',
  LeaseNotAcquired: 'LeaseNotAcquired',
  ShardClaimed: 'ShardClaimed',
  LeaseLost: 'LeaseLost',
  CheckpointRegression: 'CheckpointRegression',
  SequenceIDNotFound: 'SequenceIDNotFound',
  NoLeaseOwner: 'NoLeaseOwner',
  ShardNotAssigned: 'ShardNotAssigned',
  ShardEnded: 'ShardEnded',
  InvalidDynamoDBSchema: 'InvalidDynamoDBSchema',
  Throttled: 'Throttled',
  Internal: 'Internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What a conflict reports of the row as it stood when the write was refused. */
export interface LeaseConflictDetails {
  readonly owner?: string;
  readonly leaseTimeout?: string;
  readonly claimRequest?: string;
  readonly checkpoint?: string;
  readonly leaseCounter?: number;
}

export interface ShardLeaseErrorOptions extends ErrorOptions {
  /** What the error means in plain words and how to fix it. */
  readonly hint?: string;
}

export class ShardLeaseError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  /** What the error means in plain words, what it refers to, and what to do about it. */
  readonly hint?: string;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ShardLeaseErrorOptions,
  ) {
    const { hint, ...errorOptions } = options ?? {};
    super(message, errorOptions);
    this.code = code;
    this.name = new.target.name;
    this.details = details;
    if (hint !== undefined) this.hint = hint;
  }
}

/** At most `max` ids, then how many more: `a, b, c and 7 more`. */
export function listIds(ids: readonly string[], max = 10): string {
  if (ids.length <= max) return ids.join(', ');
  return `${ids.slice(0, max).join(', ')} and ${ids.length - max} more`;
}

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** Bad input; names every offending field. Raised before anything is written. */
export class ValidationError extends ShardLeaseError {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    super(
      ErrorCode.ValidationError,
      issues.map((i) => `${i.field}: ${i.message}`).join('; '),
      { fields: issues.map((i) => i.field) },
      { hint: 'nothing was changed; correct the fields named and send the request again' },
    );
    this.issues = issues;
  }
}

export class PayloadTooLargeError extends ShardLeaseError {
  constructor(limitBytes: number) {
    super(ErrorCode.PayloadTooLarge, `body: larger than ${limitBytes} bytes`, { field: 'body', limitBytes });
  }
}

export class ShardNotFoundError extends ShardLeaseError {
  constructor(shardId: string) {
    super(
      ErrorCode.NotFound,
      `shard ${shardId} has no lease row`,
      { shardId },
      {
        hint: 'a shard gets its row when a worker first takes its lease or shard discovery finds it in the stream; check the shard id (and that this is the table of the right stream)',
      },
    );
  }
}

export class LeaseNotAcquiredError extends ShardLeaseError {
  constructor(cause: string, details: LeaseConflictDetails = {}) {
    const holder = details.owner
      ? `worker ${details.owner} holds a live lease on this shard${details.leaseTimeout ? ` until ${details.leaseTimeout}` : ''}`
      : 'another worker changed the lease at the same moment';
    super(
      ErrorCode.LeaseNotAcquired,
      `lease not acquired: ${cause}`,
      { ...details },
      {
        hint: `${holder}; wait until it expires or is released, or record a claim on the shard to have it handed over`,
      },
    );
  }
}

/** vmware-go-kcl-v2's ErrShardClaimed: another worker has a fresh claim on the shard. */
export class ShardClaimedError extends ShardLeaseError {
  constructor(details: LeaseConflictDetails = {}) {
    super(
      ErrorCode.ShardClaimed,
      'shard is already claimed by another node',
      { ...details },
      {
        hint: `${details.claimRequest ? `worker ${details.claimRequest}` : 'another worker'} has asked to take this shard over (a steal claim): only that worker may take it until the claim is fulfilled or times out, and its current owner should finish its batch and release it`,
      },
    );
  }
}

/** Why a lease is lost, where the row alone does not tell the caller (it may still name the caller). */
export type LeaseLostCause = 'expired' | 'retaken';

const LEASE_LOST_HINTS: Readonly<Record<LeaseLostCause, string>> = {
  expired:
    'the lease expired before this worker renewed it, so any worker may take the shard now: stop processing the shard, and take the lease again before checkpointing',
  retaken:
    'the lease was taken again under this worker id since (another process with the same id, or a retried take): this lease is over, so stop processing under it',
};

/** The caller no longer owns an unexpired lease (or the lease counter moved on): it must stop. */
export class LeaseLostError extends ShardLeaseError {
  constructor(reason: string, details: LeaseConflictDetails = {}, cause?: LeaseLostCause) {
    super(
      ErrorCode.LeaseLost,
      `lease lost: ${reason}`,
      { ...details },
      {
        hint:
          cause === undefined
            ? `this worker no longer holds the lease${details.owner ? ` (worker ${details.owner} does)` : ''}: stop processing the shard, and take the lease again before checkpointing`
            : LEASE_LOST_HINTS[cause],
      },
    );
  }
}

export class CheckpointRegressionError extends ShardLeaseError {
  constructor(requested: string, details: LeaseConflictDetails = {}) {
    super(
      ErrorCode.CheckpointRegression,
      `checkpoint ${requested} is behind the recorded checkpoint ${details.checkpoint ?? ''}`.trim(),
      { ...details, requested },
      {
        hint: 'a checkpoint only moves forward (and SHARD_END is final); nothing was changed, and the shard resumes after the recorded checkpoint',
      },
    );
  }
}

export class SequenceIdNotFoundError extends ShardLeaseError {
  constructor(details: LeaseConflictDetails = {}) {
    super(
      ErrorCode.SequenceIDNotFound,
      'SequenceIDNotFoundForShard',
      { ...details },
      {
        hint: `no checkpoint has been recorded for this shard yet${details.owner ? ` (worker ${details.owner} holds its lease)` : ''}: a consumer starts it from its initial position (TRIM_HORIZON or LATEST, as configured)`,
      },
    );
  }
}

export class NoLeaseOwnerError extends ShardLeaseError {
  constructor() {
    super(
      ErrorCode.NoLeaseOwner,
      'no LeaseOwner in checkpoints table',
      {},
      {
        hint: 'no worker holds a lease on this shard (never taken, released, or cleared after it expired), or the shard has no row: any worker may take it',
      },
    );
  }
}

export class ShardNotAssignedError extends ShardLeaseError {
  constructor(shardIds: readonly string[]) {
    const which = shardIds.length === 1 ? `shard ${shardIds[0]}` : `${shardIds.length} shards`;
    super(
      ErrorCode.ShardNotAssigned,
      'AssignedToNotFoundForShard',
      { shardIds },
      {
        hint: `no live worker holds ${which} of the set asked about${shardIds.length === 1 ? '' : `: ${listIds(shardIds)}`}; any worker may take ${shardIds.length === 1 ? 'it' : 'them'} (without strict, unowned shards are listed as unassigned instead of failing)`,
      },
    );
  }
}

export class ShardEndedError extends ShardLeaseError {
  constructor(shardId: string) {
    super(
      ErrorCode.ShardEnded,
      `shard ${shardId} has ended (checkpoint SHARD_END)`,
      { shardId },
      { hint: 'an ended shard holds no more records to process: work on its child shards instead' },
    );
  }
}

export class InvalidDynamoDbSchemaError extends ShardLeaseError {
  constructor(tableName: string, reason: string) {
    super(
      ErrorCode.InvalidDynamoDBSchema,
      `table ${tableName}: ${reason}`,
      { table: tableName },
      { hint: 'a lease table has the hash key ShardID (S) and no sort key: point TABLE_NAME at one' },
    );
  }
}

/** DynamoDB kept throttling (or failing transiently) through every retry. */
export class ThrottledError extends ShardLeaseError {
  constructor(attempts: number, options?: ErrorOptions) {
    super(
      ErrorCode.Throttled,
      `DynamoDB throttled the request through ${attempts} attempts`,
      {},
      {
        ...options,
        hint: 'DynamoDB kept refusing the request (throttling or a transient fault) through every retry: retry in a second or two',
      },
    );
  }
}
