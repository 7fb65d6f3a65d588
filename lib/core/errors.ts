/**
 * The typed errors of the lease engine. Codes are the contract's names; messages of the errors that
 * vmware-go-kcl-v2 also has are its messages, so logs read the same in a mixed fleet.
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

export class ShardLeaseError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    this.details = details;
  }
}

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** Bad input; names every offending field. Raised before anything is written. */
export class ValidationError extends ShardLeaseError {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    super(ErrorCode.ValidationError, issues.map((i) => `${i.field}: ${i.message}`).join('; '), {
      fields: issues.map((i) => i.field),
    });
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
    super(ErrorCode.NotFound, `shard ${shardId} has no lease row`, { shardId });
  }
}

export class LeaseNotAcquiredError extends ShardLeaseError {
  constructor(cause: string, details: LeaseConflictDetails = {}) {
    super(ErrorCode.LeaseNotAcquired, `lease not acquired: ${cause}`, { ...details });
  }
}

/** vmware-go-kcl-v2's ErrShardClaimed: another worker has a fresh claim on the shard. */
export class ShardClaimedError extends ShardLeaseError {
  constructor(details: LeaseConflictDetails = {}) {
    super(ErrorCode.ShardClaimed, 'shard is already claimed by another node', { ...details });
  }
}

/** The caller no longer owns an unexpired lease (or the lease counter moved on): it must stop. */
export class LeaseLostError extends ShardLeaseError {
  constructor(reason: string, details: LeaseConflictDetails = {}) {
    super(ErrorCode.LeaseLost, `lease lost: ${reason}`, { ...details });
  }
}

export class CheckpointRegressionError extends ShardLeaseError {
  constructor(requested: string, details: LeaseConflictDetails = {}) {
    super(
      ErrorCode.CheckpointRegression,
      `checkpoint ${requested} is behind the recorded checkpoint ${details.checkpoint ?? ''}`.trim(),
      { ...details, requested },
    );
  }
}

export class SequenceIdNotFoundError extends ShardLeaseError {
  constructor(details: LeaseConflictDetails = {}) {
    super(ErrorCode.SequenceIDNotFound, 'SequenceIDNotFoundForShard', { ...details });
  }
}

export class NoLeaseOwnerError extends ShardLeaseError {
  constructor() {
    super(ErrorCode.NoLeaseOwner, 'no LeaseOwner in checkpoints table');
  }
}

export class ShardNotAssignedError extends ShardLeaseError {
  constructor(shardIds: readonly string[]) {
    super(ErrorCode.ShardNotAssigned, 'AssignedToNotFoundForShard', { shardIds });
  }
}

export class ShardEndedError extends ShardLeaseError {
  constructor(shardId: string) {
    super(ErrorCode.ShardEnded, `shard ${shardId} has ended (checkpoint SHARD_END)`, { shardId });
  }
}

export class InvalidDynamoDbSchemaError extends ShardLeaseError {
  constructor(tableName: string, reason: string) {
    super(ErrorCode.InvalidDynamoDBSchema, `table ${tableName}: ${reason}`, { table: tableName });
  }
}

/** DynamoDB kept throttling (or failing transiently) through every retry. */
export class ThrottledError extends ShardLeaseError {
  constructor(attempts: number, options?: ErrorOptions) {
    super(ErrorCode.Throttled, `DynamoDB throttled the request through ${attempts} attempts`, {}, options);
  }
}
