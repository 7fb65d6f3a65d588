/**
 * Issue 2: what the lease rules cost over a bare SDK call of the same shape. GetLease (renewal of an
 * owned lease, take of a free shard), CheckpointSequence and FetchCheckpoint through DynamoCheckpointer,
 * each beside a plain conditional UpdateItem (ReturnValues ALL_NEW) or consistent GetItem on the same
 * table and keys, sequential and 32 in flight, in interleaved rounds.
 */
import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Condition } from '../lib/core/condition';
import { Attr } from '../lib/core/lease-row';
import { formatLeaseTime } from '../lib/core/lease-time';
import {
  type CheckpointRequest,
  checkpointRenewsCondition,
  checkpointRenewsUpdate,
  type RowUpdate,
  renewCondition,
  renewUpdate,
  ruleTimes,
  takeCondition,
  takeUpdate,
} from '../lib/core/rules';
import { DynamoCheckpointer } from '../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../lib/store/dynamo-client';
import { compileExpressions } from '../lib/store/expressions';
import {
  compare,
  formatMs,
  formatRate,
  formatRatio,
  type Load,
  type Op,
  ratioAgainst,
  type Summary,
} from './measure';
import type { BenchContext, BenchSection } from './section';

export const TARGET_CORE_RATIO = 0.9;
export const WORKER = 'bench-worker';
/** Long enough that no lease taken during setup expires while the bench runs. */
export const BENCH_LEASE_MS = 3_600_000;
const CLAIM_TIMEOUT_MS = 120_000;

export const LOADS: readonly Load[] = [
  { inFlight: 1, opsPerRound: 48, rounds: 10, warmUpOps: 40 },
  { inFlight: 32, opsPerRound: 256, rounds: 6, warmUpOps: 96 },
];

export interface CountingClient {
  readonly client: DynamoDBClient;
  /** HTTP requests put on the wire since the last reset. */
  requests(): number;
  reset(): void;
}

/** The service's own client, with a middleware counting each request it sends (retries included). */
export function countingClient(endpoint: string): CountingClient {
  const client = createDynamoClient({ endpoint });
  let requests = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      requests++;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'benchCountRequests' },
  );
  return {
    client,
    requests: () => requests,
    reset: () => {
      requests = 0;
    },
  };
}

/** The shard a pool slot works on: one shard per slot, so no two calls in flight touch the same row. */
export const laneShard = (lane: number): string => `lane-${lane}`;

/** Kinesis-sized sequence numbers (56 digits), strictly increasing across every variant. */
function sequenceNumbers(): () => string {
  let next = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n;
  return () => String(next++);
}

interface Case {
  readonly operation: string;
  readonly core: (prefix: string) => Op;
  readonly bare: (prefix: string) => Op;
  /** The core's own expressions sent straight through the SDK: splits the gap into client and server. */
  readonly sameExpression?: (prefix: string) => Op;
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  const tableName = `bench-core-${randomUUID().slice(0, 8)}`;
  const coreIo = countingClient(ctx.dynamoEndpoint);
  const bareIo = countingClient(ctx.dynamoEndpoint);
  const exprIo = countingClient(ctx.dynamoEndpoint);
  const checkpointer = new DynamoCheckpointer({
    client: coreIo.client,
    tableName,
    createTableIfMissing: true,
    leaseDurationMs: BENCH_LEASE_MS,
    claimTimeoutMs: CLAIM_TIMEOUT_MS,
  });
  await checkpointer.init();
  const nextSequence = sequenceNumbers();
  const maxLanes = Math.max(...LOADS.map((l) => l.inFlight));
  for (let lane = 0; lane < maxLanes; lane++) {
    await checkpointer.getLease(laneShard(lane), { workerId: WORKER });
    await checkpointer.checkpointSequence(laneShard(lane), { workerId: WORKER, checkpoint: nextSequence() });
  }

  const bare = bareCalls(bareIo.client, tableName);
  const sameExpression = coreExpressionCalls(exprIo.client, tableName);
  const cases: Case[] = [
    {
      // The renewal path: one conditional write per shard (RenewLeases, one shard per call here).
      operation: 'Renew an owned lease (RenewLeases)',
      core: () => (lane) => checkpointer.renewLeases(WORKER, [laneShard(lane)]),
      bare: () => (lane) => bare.renew(laneShard(lane)),
      sameExpression: () => (lane) => sameExpression.renew(laneShard(lane)),
    },
    {
      // GetLease by the holder: the take is refused (the counter moves only on a take), then the renewal.
      operation: 'GetLease by the holder (refused take, then renew)',
      core: () => (lane) => checkpointer.getLease(laneShard(lane), { workerId: WORKER }),
      bare: () => (lane) => bare.renew(laneShard(lane)),
      sameExpression: () => (lane) => sameExpression.renew(laneShard(lane)),
    },
    {
      operation: 'GetLease, take a free shard',
      core: (prefix) => (_lane, i) => checkpointer.getLease(`${prefix}-core-${i}`, { workerId: WORKER }),
      bare: (prefix) => (_lane, i) => bare.take(`${prefix}-bare-${i}`),
      sameExpression: (prefix) => (_lane, i) => sameExpression.take(`${prefix}-expr-${i}`),
    },
    {
      operation: 'CheckpointSequence',
      core: () => (lane) =>
        checkpointer.checkpointSequence(laneShard(lane), { workerId: WORKER, checkpoint: nextSequence() }),
      bare: () => (lane) => bare.checkpoint(laneShard(lane), nextSequence()),
      sameExpression: () => (lane) => sameExpression.checkpoint(laneShard(lane), nextSequence()),
    },
    {
      operation: 'FetchCheckpoint',
      core: () => (lane) => checkpointer.fetchCheckpoint(laneShard(lane)),
      bare: () => (lane) => bare.read(laneShard(lane)),
    },
  ];

  const rows: (string | number)[][] = [];
  try {
    for (const c of cases) {
      for (const load of LOADS) {
        const prefix = `free-k${load.inFlight}`;
        coreIo.reset();
        bareIo.reset();
        const [core, plain, same] = (await compare(
          [
            { name: 'core', op: c.core(prefix) },
            { name: 'bare', op: c.bare(prefix) },
            ...(c.sameExpression ? [{ name: 'same expression', op: c.sameExpression(prefix) }] : []),
          ],
          load,
        )) as [Summary, Summary, Summary | undefined];
        const calls = load.rounds * load.opsPerRound + load.warmUpOps;
        rows.push([
          c.operation,
          load.inFlight === 1 ? 'sequential' : `${load.inFlight} in flight`,
          formatRate(core.opsPerSec),
          formatRate(plain.opsPerSec),
          ratioAgainst(core.opsPerSec / plain.opsPerSec, TARGET_CORE_RATIO),
          same ? formatRate(same.opsPerSec) : '—',
          same ? formatRatio(core.opsPerSec / same.opsPerSec) : '—',
          `${formatMs(core.medianMs)} / ${formatMs(core.p99Ms)}`,
          `${formatMs(plain.medianMs)} / ${formatMs(plain.p99Ms)}`,
          `${(coreIo.requests() / calls).toFixed(2)} / ${(bareIo.requests() / calls).toFixed(2)}`,
        ]);
      }
    }
  } finally {
    coreIo.client.destroy();
    bareIo.client.destroy();
    exprIo.client.destroy();
  }

  const seq = LOADS[0] as Load;
  const pool = LOADS[1] as Load;
  return {
    title: 'Core operations vs a bare SDK call (DynamoCheckpointer on dynalite in a child process)',
    columns: [
      'operation',
      'load',
      'core ops/s',
      'bare ops/s',
      `core ÷ bare (target ≥ ${TARGET_CORE_RATIO})`,
      'same-expression ops/s',
      'core ÷ same-expression',
      'core median / p99 ms',
      'bare median / p99 ms',
      'DynamoDB requests/op (core / bare)',
    ],
    rows,
    notes: [
      'bare: one UpdateItem with a one-clause condition and ReturnValues ALL_NEW (renew: SET owner and ' +
        'timeout, ADD counter, if owned; take: the same, if unowned or expired; checkpoint: SET Checkpoint ' +
        'and CheckpointedAt, if owned) or one consistent GetItem, on the same table and the same shards.',
      'same-expression: the very condition and update DynamoCheckpointer compiles from the rules, sent ' +
        'as one UpdateItem by hand (writes only). same-expression ÷ bare is what the longer expression ' +
        'costs dynalite (its parser and evaluator); core ÷ same-expression is what the core adds in the ' +
        'client (validation, compiling, mapping the row back to a lease).',
      'core: DynamoCheckpointer with its full conditions (claims, expiry, fencing, sequence order), input ' +
        'validation and error explanation, over the same client configuration (createDynamoClient).',
      `Rounds interleaved (core, bare, same-expression, then the reverse, and so on): ${seq.rounds} × ${seq.opsPerRound} ` +
        `sequential calls and ${pool.rounds} × ${pool.opsPerRound} with ${pool.inFlight} in flight per ` +
        `variant, after ${seq.warmUpOps} / ${pool.warmUpOps} untimed warm-up calls; one shard per pool slot.`,
      'Requests/op counted by a middleware on each client (warm-up included): 1.00 means no extra read. ' +
        'GetLease by the current holder is a refused take then the renewal (one UpdateItem cannot both ' +
        'move the counter on a take and keep it on a renewal): 2 requests on DynamoDB, 3 here, since ' +
        'dynalite does not return the item with a refused condition and the core reads it (README, Limits).',
      'dynalite is CPU-bound on this 2-core machine: compare the ratios, not the absolute rates.',
    ],
  };
}

/** The baseline: what one hand-written SDK call of the same shape costs. */
function bareCalls(client: DynamoDBClient, tableName: string) {
  const names = {
    '#owner': Attr.AssignedTo,
    '#timeout': Attr.LeaseTimeout,
    '#counter': Attr.LeaseCounter,
  };
  const lease = (shardId: string, condition: string) => {
    const now = Date.now();
    return client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [Attr.ShardId]: { S: shardId } },
        UpdateExpression: 'SET #owner = :worker, #timeout = :timeout ADD #counter :one',
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':worker': { S: WORKER },
          ':timeout': { S: formatLeaseTime(now + BENCH_LEASE_MS) },
          ':one': { N: '1' },
          ...(condition.includes(':now') && { ':now': { S: formatLeaseTime(now) } }),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
  };
  return {
    renew: (shardId: string) => lease(shardId, '#owner = :worker'),
    take: (shardId: string) => lease(shardId, 'attribute_not_exists(#owner) OR #timeout < :now'),
    checkpoint: (shardId: string, sequence: string) =>
      client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { [Attr.ShardId]: { S: shardId } },
          UpdateExpression: 'SET #checkpoint = :checkpoint, #at = :now',
          ConditionExpression: '#owner = :worker',
          ExpressionAttributeNames: {
            '#checkpoint': Attr.Checkpoint,
            '#at': Attr.CheckpointedAt,
            '#owner': Attr.AssignedTo,
          },
          ExpressionAttributeValues: {
            ':checkpoint': { S: sequence },
            ':now': { S: formatLeaseTime(Date.now()) },
            ':worker': { S: WORKER },
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    read: (shardId: string) =>
      client.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { [Attr.ShardId]: { S: shardId } },
          ConsistentRead: true,
        }),
      ),
  };
}

/** The core's compiled condition and update, sent by hand: the same request, without the core around it. */
function coreExpressionCalls(client: DynamoDBClient, tableName: string) {
  const update = (shardId: string, condition: Condition, rowUpdate: RowUpdate) =>
    client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [Attr.ShardId]: { S: shardId } },
        ...compileExpressions({ condition, update: rowUpdate }),
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  const terms = { leaseDurationMs: BENCH_LEASE_MS, claimTimeoutMs: CLAIM_TIMEOUT_MS };
  return {
    take: (shardId: string) => {
      const t = ruleTimes(Date.now(), terms);
      return update(shardId, takeCondition(WORKER, t), takeUpdate({ workerId: WORKER }, t));
    },
    renew: (shardId: string) => {
      const t = ruleTimes(Date.now(), terms);
      return update(shardId, renewCondition(WORKER, t), renewUpdate(WORKER, t));
    },
    checkpoint: (shardId: string, sequence: string) => {
      const t = ruleTimes(Date.now(), terms);
      const request: CheckpointRequest = { workerId: WORKER, checkpoint: sequence };
      // What the core sends first: the checkpoint and the renewal in one write.
      return update(shardId, checkpointRenewsCondition(request, t), checkpointRenewsUpdate(request, t));
    },
  };
}
