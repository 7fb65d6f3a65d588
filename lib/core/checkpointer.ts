/**
 * The operations of vmware-go-kcl-v2's `checkpoint.Checkpointer`, plus RenewLeases and a paged
 * listing, as one interface: `DynamoCheckpointer` serves it straight from the table and
 * `ShardLeaseClient` over HTTP, and one behaviour suite holds both to it.
 */
import type { ErrorCode } from './errors';
import type { Lease } from './lease-row';
import type { CheckpointRequest, RemoveRowRequest, TakeRequest } from './rules';

export interface InitResult {
  readonly table: string;
  readonly status: string;
}

export interface ActiveWorkers {
  /** Worker id → the live leases it holds (unexpired, shard not ended). */
  readonly workers: Readonly<Record<string, readonly Lease[]>>;
  /** Shards not ended and without a live owner (of the asked set, when one was given). */
  readonly unassigned: readonly string[];
}

export interface ListActiveWorkersOptions {
  /** Consider only these shards; a shard with no row counts as unassigned. */
  readonly shardIds?: readonly string[];
  /** Fail with ShardNotAssigned when a shard is unassigned (vmware-go-kcl-v2's behaviour). */
  readonly strict?: boolean;
}

export interface LostLease {
  readonly shardId: string;
  readonly code: Extract<ErrorCode, 'LeaseLost' | 'ShardClaimed'>;
  readonly message: string;
  readonly owner?: string;
  readonly claimRequest?: string;
}

/** A shard whose renewal met a fault (throttling through every retry, an unproven answer): try again. */
export interface FailedRenewal {
  readonly shardId: string;
  readonly code: Extract<ErrorCode, 'Throttled' | 'Internal'>;
}

export interface RenewResult {
  readonly renewed: readonly Lease[];
  /** The lease is gone (another owner, expired) or claimed: stop processing the shard. */
  readonly lost: readonly LostLease[];
  /** Not known either way: the lease is held as before, until its own expiry. */
  readonly failed: readonly FailedRenewal[];
}

export interface ReleaseRequest {
  /**
   * Release only the lease with this counter (the one the caller took): a release that lands late,
   * after this worker took the shard again, then leaves the newer lease alone.
   */
  readonly leaseCounter?: number;
}

export interface ListShardsOptions {
  /** 1..1000, default 100. */
  readonly limit?: number;
  readonly cursor?: string;
}

export interface ShardPage {
  readonly shards: readonly Lease[];
  readonly nextCursor?: string;
}

export interface Checkpointer {
  init(): Promise<InitResult>;
  getLease(shardId: string, request: TakeRequest): Promise<Lease>;
  checkpointSequence(shardId: string, request: CheckpointRequest): Promise<Lease>;
  fetchCheckpoint(shardId: string): Promise<Lease>;
  /** Deletes the shard's row; refused (LeaseNotAcquired) while another worker holds a live lease, unless forced. */
  removeLeaseInfo(shardId: string, request?: RemoveRowRequest): Promise<void>;
  /** Releases the caller's lease; idempotent (succeeds when nobody owns the shard); LeaseLost when another worker does. */
  removeLeaseOwner(shardId: string, workerId: string, request?: ReleaseRequest): Promise<void>;
  getLeaseOwner(shardId: string): Promise<string>;
  listActiveWorkers(options?: ListActiveWorkersOptions): Promise<ActiveWorkers>;
  renewLeases(workerId: string, shardIds: readonly string[]): Promise<RenewResult>;
  claimShard(shardId: string, claimerId: string): Promise<Lease>;
  listShards(options?: ListShardsOptions): Promise<ShardPage>;
}
