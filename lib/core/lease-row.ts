import { parseLeaseTime } from './lease-time';

/**
 * The lease table, attribute by attribute. The first six are vmware-go-kcl-v2's, with its names and
 * formats, so both can share one table; the rest are ours, and the Go library ignores them (and drops
 * them when it rewrites a row with PutItem, which is why a missing LeaseCounter counts as 0).
 */
export const Attr = {
  /** Hash key (S). */
  ShardId: 'ShardID',
  /** Worker id of the lease owner (S). */
  AssignedTo: 'AssignedTo',
  /** RFC 3339 UTC instant the lease expires (S); see lease-time.ts. */
  LeaseTimeout: 'LeaseTimeout',
  /** Kinesis sequence number or SHARD_END (S). */
  Checkpoint: 'Checkpoint',
  ParentShardId: 'ParentShardId',
  /** Worker id that asked to steal the shard (S). */
  ClaimRequest: 'ClaimRequest',
  /** Ours (N): +1 when the lease changes hands (a take), kept by renewals; the fencing token. */
  LeaseCounter: 'LeaseCounter',
  /** Ours (S, RFC 3339): when the checkpoint was last written. */
  CheckpointedAt: 'CheckpointedAt',
  /** Ours (S, RFC 3339): when the pending claim was made; claims older than the claim timeout lapse. */
  ClaimedAt: 'ClaimedAt',
  /** Ours (S): a merged shard's second parent, recorded by shard discovery (the Go library has one). */
  AdjacentParentShardId: 'AdjacentParentShardId',
  /** Ours (S, RFC 3339): when shard discovery created the row. */
  DiscoveredAt: 'DiscoveredAt',
  /**
   * Ours (S): the id the caller gave the take that granted the current lease. A retry or a late copy
   * of that take finds it and is answered with the lease instead of taking the shard again.
   */
  TakeId: 'TakeId',
  /** Ours, worker rows only (S, RFC 3339): when the worker's heartbeat was last recorded. */
  LastSeen: 'LastSeen',
  /** Ours, worker rows only (S, RFC 3339): when the worker joined (or came back after being gone). */
  FirstSeen: 'FirstSeen',
  /** Ours, worker rows only (N): the most leases the worker wants to hold. */
  Capacity: 'Capacity',
  /** Ours, worker rows only (S, RFC 3339): when the worker said it was stopping; gone until heard again. */
  LeftAt: 'LeftAt',
} as const;

/** Attributes holding numbers; every other attribute holds a string. */
export const NUMBER_ATTRS: ReadonlySet<string> = new Set([Attr.LeaseCounter, Attr.Capacity]);

/**
 * The worker registry shares the table, under keys no shard id can have ('@' and '/' are outside the
 * shard id alphabet). vmware-go-kcl-v2 never scans the table (it reads the rows of the shards Kinesis
 * lists), so these rows are invisible to it; every scan of ours skips them.
 */
export const WORKER_ROW_PREFIX = '@worker/';

export const workerRowKey = (workerId: string): string => `${WORKER_ROW_PREFIX}${workerId}`;

export const isWorkerRow = (row: LeaseRow): boolean =>
  String(row[Attr.ShardId] ?? '').startsWith(WORKER_ROW_PREFIX);
export type AttrName = (typeof Attr)[keyof typeof Attr];

export type AttrValue = string | number;

/** A row as stored: string attributes, LeaseCounter a number. Unknown attributes are carried along. */
export type LeaseRow = Readonly<Record<string, AttrValue | undefined>>;

/** A lease as the API and the client show it. */
export interface Lease {
  readonly shardId: string;
  readonly owner?: string;
  readonly leaseTimeout?: string;
  readonly leaseCounter: number;
  readonly checkpoint?: string;
  readonly checkpointedAt?: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
  readonly claimRequest?: string;
  readonly claimedAt?: string;
}

function text(row: LeaseRow, attr: AttrName): string | undefined {
  const value = row[attr];
  // The Go library treats an empty string as absent; so do we.
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The optional fields of a lease and the attributes they come from. */
const LEASE_FIELDS: ReadonlyArray<readonly [keyof Lease, AttrName]> = [
  ['owner', Attr.AssignedTo],
  ['leaseTimeout', Attr.LeaseTimeout],
  ['checkpoint', Attr.Checkpoint],
  ['checkpointedAt', Attr.CheckpointedAt],
  ['parentShardId', Attr.ParentShardId],
  ['adjacentParentShardId', Attr.AdjacentParentShardId],
  ['claimRequest', Attr.ClaimRequest],
  ['claimedAt', Attr.ClaimedAt],
];

export function toLease(row: LeaseRow): Lease {
  const counter = row[Attr.LeaseCounter];
  const lease: Record<string, string | number> = {
    shardId: String(row[Attr.ShardId]),
    leaseCounter: typeof counter === 'number' ? counter : 0,
  };
  for (const [field, attr] of LEASE_FIELDS) {
    const value = text(row, attr);
    if (value !== undefined) lease[field] = value;
  }
  return lease as unknown as Lease;
}

/** A lease as the API returns it, back as the row it came from, so the core's rules apply to it. */
export function toRow(lease: Lease): LeaseRow {
  const row: Record<string, AttrValue> = {
    [Attr.ShardId]: lease.shardId,
    [Attr.LeaseCounter]: lease.leaseCounter,
  };
  for (const [field, attr] of LEASE_FIELDS) {
    const value = lease[field];
    if (typeof value === 'string') row[attr] = value;
  }
  return row;
}

/**
 * Whether this checkpoint's answer shows that the same write renewed the lease: both instants come from
 * one clock reading, a lease apart. A checkpoint that could not renew (a claim pending) leaves the
 * timeout of the last renewal, less than a lease after the checkpoint.
 */
export function checkpointRenewed(
  lease: Pick<Lease, 'leaseTimeout' | 'checkpointedAt'>,
  leaseDurationMs: number,
): boolean {
  const timeout = lease.leaseTimeout === undefined ? undefined : parseLeaseTime(lease.leaseTimeout);
  const at = lease.checkpointedAt === undefined ? undefined : parseLeaseTime(lease.checkpointedAt);
  return timeout !== undefined && at !== undefined && timeout - at === leaseDurationMs;
}
