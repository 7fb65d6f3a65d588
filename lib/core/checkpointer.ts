/**
 * The operations of vmware-go-kcl-v2's `checkpoint.Checkpointer`, plus RenewLeases and a paged
 * listing, as one interface: `DynamoCheckpointer` serves it straight from the table and
 * `ShardLeaseClient` over HTTP, and one behaviour suite holds both to it.
 */
import type { ErrorCode } from './errors';
import type { Lease } from './lease-row';
import type { CheckpointRequest, LeaseTerms, RemoveRowRequest, TakeRequest } from './rules';

export type { LeaseTerms };

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
  /**
   * Release only the lease granted by the take with this id: for a take whose answer never came, whose
   * counter the caller never learned. Another lease of the caller's stays.
   */
  readonly takeId?: string;
}

export interface HeldLease {
  readonly shardId: string;
  /** The counter of the lease the worker holds: only that lease is renewed. */
  readonly leaseCounter: number;
}

export interface HeartbeatRequest {
  /** Every lease the worker holds (at most 250 a heartbeat). */
  readonly held: readonly HeldLease[];
  /** The most leases this worker wants to hold. */
  readonly capacity?: number;
  /**
   * The worker is stopping and holds nothing any more (`held` empty): the plan forgets it at once, so
   * that what it gave back goes to the others instead of waiting for it to be counted gone.
   */
  readonly leaving?: boolean;
}

/** A shard to claim from an overloaded worker. */
export interface StealAdvice {
  readonly shardId: string;
  readonly victim: string;
}

export interface HeartbeatResult extends RenewResult {
  /** Shards to take now (free, eligible, parents before children), up to this worker's target. */
  readonly take: readonly string[];
  /** Shards to claim, when no free shard is left for this worker and others are above their targets. */
  readonly steals: readonly StealAdvice[];
  /** How many leases this worker should hold. */
  readonly target: number;
  /**
   * Free shards planned for others that nobody took within a renewal period of becoming free: take
   * them if there is room, whatever the target (takes are conditional; another worker may be first).
   */
  readonly overdue: readonly string[];
  /** The service's lease terms: the coordinator paces renewals and local expiry by them. */
  readonly terms: LeaseTerms;
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
  /** Takes back the caller's pending claim on the shard; idempotent (nothing to withdraw is success). */
  withdrawClaim(shardId: string, claimerId: string): Promise<void>;
  /** The lease duration and claim timeout the service writes leases and claims with. */
  leaseTerms(): Promise<LeaseTerms>;
  /**
   * One request per renewal period, whatever the worker holds: renews the held leases (per-shard
   * outcomes, as RenewLeases) and returns this worker's part of the fleet plan.
   */
  heartbeat(workerId: string, request: HeartbeatRequest): Promise<HeartbeatResult>;
  listShards(options?: ListShardsOptions): Promise<ShardPage>;
}
