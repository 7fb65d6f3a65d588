/**
 * The package entry: the lease engine on DynamoDB (`DynamoCheckpointer`), the HTTP client
 * (`ShardLeaseClient`), the lease coordinator, and the types and errors they share. The CDK construct
 * lives at the `./cdk` subpath so that consumers never load aws-cdk-lib.
 */

export {
  type CoordinatorEvents,
  type CoordinatorLogger,
  LeaseCoordinator,
  type LeaseCoordinatorOptions,
  type LeaseLossReason,
  type LeaseLostEvent,
  type ShardLease,
  type StopResult,
} from './client/coordinator';
export {
  createShardConsumerHandler,
  type InitialPosition,
  type LambdaContextLike,
  readShard,
  ShardConsumerError,
  type ShardConsumerEvent,
  type ShardConsumerHandler,
  type ShardConsumerHandlerOptions,
  type ShardConsumerSummary,
  type ShardReaderOptions,
  type ShardReadOutcome,
  type ShardReadStats,
} from './client/lambda-consumer';
export type { Backoff } from './client/retry';
export {
  type RequestInfo,
  regionOfUrl,
  ShardLeaseClient,
  type ShardLeaseClientOptions,
} from './client/shard-lease-client';
export { processShard, type ShardOutcome, type ShardProcessorOptions } from './client/shard-processor';
export type {
  ActiveWorkers,
  Checkpointer,
  FailedRenewal,
  HeartbeatRequest,
  HeartbeatResult,
  InitResult,
  ListActiveWorkersOptions,
  ListShardsOptions,
  LostLease,
  ReleaseRequest,
  RenewResult,
  ShardPage,
} from './core/checkpointer';
export { type Clock, ManualClock, systemClock } from './core/clock';
export {
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
} from './core/errors';
export type { Lease } from './core/lease-row';
export type { CheckpointRequest, LeaseTerms, TakeRequest } from './core/rules';
export {
  DeadlineExceededError,
  type Scheduler,
  systemScheduler,
  VirtualScheduler,
  withDeadline,
} from './core/scheduler';
export { SHARD_END } from './core/sequence-number';
export { DynamoCheckpointer, type DynamoCheckpointerOptions } from './store/dynamo-checkpointer';
export { createDynamoClient } from './store/dynamo-client';
export { KinesisShardSource, type ShardSource, type StreamShard } from './store/kinesis-shard-source';
