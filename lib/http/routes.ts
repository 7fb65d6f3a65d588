/**
 * Every operation of the API as data: its route, the Lambda entry that serves it, and the DynamoDB
 * actions it needs. The dispatcher, the local server's router and the CDK construct all read this
 * one table, so a new operation is one row here, one entry in operations.ts and a two-line handler.
 * No imports: the CDK app loads it without pulling in the runtime.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Route {
  /** Operation name, as in logs and metrics. */
  readonly name: OperationName;
  /** PascalCase id: the construct id of its function is `${id}Function`. */
  readonly id: string;
  readonly method: HttpMethod;
  /** API Gateway route path, `{param}` for path parameters. */
  readonly path: string;
  /** File under lambda/, without extension. */
  readonly entry: string;
  /**
   * Least privilege: exactly what the operation calls (GetItem reads the row after a refused write).
   * Empty for an operation that reads nothing from the table: its function gets no DynamoDB policy.
   */
  readonly dynamoActions: readonly string[];
  /**
   * Who may call it, for the construct's IAM grants: `read` changes nothing; `consume` is what a worker
   * does to its own leases (a consumer also gets every `read` route); `admin` acts on the table or on
   * rows a caller does not hold (Init, deleting a row).
   */
  readonly access: 'read' | 'consume' | 'admin';
}

export const OPERATION_NAMES = [
  'init',
  'getLease',
  'checkpoint',
  'fetchCheckpoint',
  'removeLeaseOwner',
  'getLeaseOwner',
  'removeLeaseInfo',
  'claimShard',
  'withdrawClaim',
  'listActiveWorkers',
  'listShards',
  'renewLeases',
  'heartbeat',
  'describeTerms',
] as const;
export type OperationName = (typeof OPERATION_NAMES)[number];

const WRITE = ['dynamodb:UpdateItem', 'dynamodb:GetItem'] as const;

export const ROUTES: readonly Route[] = [
  {
    name: 'init',
    id: 'Init',
    method: 'POST',
    path: '/init',
    entry: 'init',
    dynamoActions: ['dynamodb:DescribeTable'],
    access: 'admin',
  },
  {
    name: 'getLease',
    id: 'GetLease',
    method: 'POST',
    path: '/shards/{shardId}/lease',
    entry: 'get-lease',
    dynamoActions: WRITE,
    access: 'consume',
  },
  {
    name: 'checkpoint',
    id: 'Checkpoint',
    method: 'PUT',
    path: '/shards/{shardId}/checkpoint',
    entry: 'checkpoint',
    dynamoActions: WRITE,
    access: 'consume',
  },
  {
    name: 'fetchCheckpoint',
    id: 'FetchCheckpoint',
    method: 'GET',
    path: '/shards/{shardId}/checkpoint',
    entry: 'fetch-checkpoint',
    dynamoActions: ['dynamodb:GetItem'],
    access: 'read',
  },
  {
    name: 'removeLeaseOwner',
    id: 'RemoveLeaseOwner',
    method: 'DELETE',
    path: '/shards/{shardId}/lease',
    entry: 'remove-lease-owner',
    dynamoActions: WRITE,
    access: 'consume',
  },
  {
    name: 'getLeaseOwner',
    id: 'GetLeaseOwner',
    method: 'GET',
    path: '/shards/{shardId}/owner',
    entry: 'get-lease-owner',
    dynamoActions: ['dynamodb:GetItem'],
    access: 'read',
  },
  {
    name: 'removeLeaseInfo',
    id: 'RemoveLeaseInfo',
    method: 'DELETE',
    path: '/shards/{shardId}',
    entry: 'remove-lease-info',
    dynamoActions: ['dynamodb:DeleteItem'],
    access: 'admin',
  },
  {
    name: 'claimShard',
    id: 'ClaimShard',
    method: 'POST',
    path: '/shards/{shardId}/claim',
    entry: 'claim-shard',
    dynamoActions: WRITE,
    access: 'consume',
  },
  {
    name: 'withdrawClaim',
    id: 'WithdrawClaim',
    method: 'DELETE',
    path: '/shards/{shardId}/claim',
    entry: 'withdraw-claim',
    dynamoActions: WRITE,
    // A worker takes back its own claim.
    access: 'consume',
  },
  {
    name: 'listActiveWorkers',
    id: 'ListActiveWorkers',
    method: 'GET',
    path: '/workers',
    entry: 'list-active-workers',
    dynamoActions: ['dynamodb:Scan'],
    access: 'read',
  },
  {
    name: 'listShards',
    id: 'ListShards',
    method: 'GET',
    path: '/shards',
    entry: 'list-shards',
    dynamoActions: ['dynamodb:Scan'],
    access: 'read',
  },
  {
    name: 'renewLeases',
    id: 'RenewLeases',
    method: 'POST',
    path: '/workers/{workerId}/renew',
    entry: 'renew-leases',
    dynamoActions: WRITE,
    access: 'consume',
  },
  {
    name: 'heartbeat',
    id: 'Heartbeat',
    method: 'POST',
    path: '/workers/{workerId}/heartbeat',
    entry: 'heartbeat',
    // Renewals are conditional writes; the fleet plan reads the whole table (a Scan) every few seconds.
    dynamoActions: [...WRITE, 'dynamodb:Scan'],
    access: 'consume',
  },
  {
    name: 'describeTerms',
    id: 'DescribeTerms',
    method: 'GET',
    path: '/terms',
    entry: 'describe-terms',
    // The service's configuration: nothing is read from the table.
    dynamoActions: [],
    access: 'read',
  },
];
