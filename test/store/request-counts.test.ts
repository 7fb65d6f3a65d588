/**
 * The contract's cost table, measured: the DynamoDB requests each operation puts on the wire, counted
 * by a middleware on the real client. dynalite omits the row from a refused conditional write, so a
 * refusal costs one extra consistent read here (real DynamoDB returns the row with the refusal).
 */
import { ManualClock } from '../../lib/core/clock';
import type { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { DynamoCheckpointer as Checkpointer } from '../../lib/store/dynamo-checkpointer';
import { createTestTable, type TestTable, uniqueTableName } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
let table: TestTable;
let cp: DynamoCheckpointer;
let clock: ManualClock;

beforeAll(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('requests', { clock, leaseDurationMs: 10_000, claimTimeoutMs: 60_000 });
  cp = table.checkpointer;
});

let n = 0;
const shard = () => `shardId-${String(++n).padStart(12, '0')}`;

/** The requests `call` made, by operation, whether it succeeded or failed. */
async function requestsOf(call: () => Promise<unknown>): Promise<Record<string, number>> {
  table.io.reset();
  await call().catch(() => undefined);
  return Object.fromEntries(table.io.counts);
}

describe('DynamoDB requests per operation', () => {
  it('getLease: one UpdateItem taking; a refusal adds one GetItem (dynalite omits the row)', async () => {
    const id = shard();
    expect(await requestsOf(() => cp.getLease(id, { workerId: 'w1' }))).toEqual({ UpdateItem: 1 });
    expect(await requestsOf(() => cp.getLease(id, { workerId: 'w2' }))).toEqual({
      UpdateItem: 1,
      GetItem: 1,
    });
  });

  it('getLease by the holder: the refused take, then the renewal, which keeps the counter (it moves only on a take)', async () => {
    const id = shard();
    const taken = await cp.getLease(id, { workerId: 'w1' });
    let renewed: Awaited<ReturnType<typeof cp.getLease>> | undefined;
    expect(
      await requestsOf(async () => {
        renewed = await cp.getLease(id, { workerId: 'w1' });
      }),
    ).toEqual({ UpdateItem: 2, GetItem: 1 });
    expect(renewed?.leaseCounter).toBe(taken.leaseCounter);
    expect((await cp.listShards({ limit: 1000 })).shards.find((l) => l.shardId === id)?.leaseCounter).toBe(
      taken.leaseCounter,
    );
  });

  it('renewLeases: one UpdateItem per shard held', async () => {
    const ids = [shard(), shard(), shard()];
    for (const id of ids) await cp.getLease(id, { workerId: 'w1' });
    expect(await requestsOf(() => cp.renewLeases('w1', ids))).toEqual({ UpdateItem: 3 });
  });

  it('checkpointSequence: one UpdateItem; a refusal adds one GetItem', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    expect(await requestsOf(() => cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5' }))).toEqual({
      UpdateItem: 1,
    });
    expect(await requestsOf(() => cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '4' }))).toEqual({
      UpdateItem: 1,
      GetItem: 1,
    });
  });

  it('checkpointSequence with a claim pending: the renewing write is refused, the checkpoint alone is written', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.claimShard(id, 'w2');
    expect(await requestsOf(() => cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5' }))).toEqual({
      UpdateItem: 2,
      GetItem: 1,
    });
  });

  it('fetchCheckpoint and getLeaseOwner: one consistent GetItem each', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1', checkpoint: '1' });
    expect(await requestsOf(() => cp.fetchCheckpoint(id))).toEqual({ GetItem: 1 });
    expect(await requestsOf(() => cp.getLeaseOwner(id))).toEqual({ GetItem: 1 });
    expect(await requestsOf(() => cp.fetchCheckpoint('no-such-shard'))).toEqual({ GetItem: 1 });
  });

  it('removeLeaseOwner: one UpdateItem; a refusal adds one GetItem', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    expect(await requestsOf(() => cp.removeLeaseOwner(id, 'w2'))).toEqual({ UpdateItem: 1, GetItem: 1 });
    expect(await requestsOf(() => cp.removeLeaseOwner(id, 'w1'))).toEqual({ UpdateItem: 1 });
  });

  it('removeLeaseInfo: one DeleteItem, also for a missing row; a refusal adds one GetItem', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    expect(await requestsOf(() => cp.removeLeaseInfo(id, { workerId: 'w2' }))).toEqual({
      DeleteItem: 1,
      GetItem: 1,
    });
    expect(await requestsOf(() => cp.removeLeaseInfo(id, { workerId: 'w1' }))).toEqual({ DeleteItem: 1 });
    expect(await requestsOf(() => cp.removeLeaseInfo(id))).toEqual({ DeleteItem: 1 });
  });

  it('claimShard: one UpdateItem; a refusal or a repeated claim adds one GetItem', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    expect(await requestsOf(() => cp.claimShard(id, 'w2'))).toEqual({ UpdateItem: 1 });
    expect(await requestsOf(() => cp.claimShard(id, 'w2'))).toEqual({ UpdateItem: 1, GetItem: 1 });
    expect(await requestsOf(() => cp.claimShard(id, 'w3'))).toEqual({ UpdateItem: 1, GetItem: 1 });
  });

  it('renewLeases: one UpdateItem per distinct shard, plus one GetItem per lost shard', async () => {
    const mine = [shard(), shard(), shard(), shard()];
    const theirs = [shard(), shard()];
    for (const id of mine) await cp.getLease(id, { workerId: 'w1' });
    for (const id of theirs) await cp.getLease(id, { workerId: 'w2' });
    expect(await requestsOf(() => cp.renewLeases('w1', [...mine, mine[0] as string]))).toEqual({
      UpdateItem: 4,
    });
    expect(await requestsOf(() => cp.renewLeases('w1', [...mine, ...theirs]))).toEqual({
      UpdateItem: 6,
      GetItem: 2,
    });
  });

  it('listActiveWorkers and listShards: one Scan for a table that fits one page', async () => {
    expect(await requestsOf(() => cp.listActiveWorkers())).toEqual({ Scan: 1 });
    expect(await requestsOf(() => cp.listActiveWorkers({ shardIds: ['a'], strict: true }))).toEqual({
      Scan: 1,
    });
    expect(await requestsOf(() => cp.listShards({ limit: 10 }))).toEqual({ Scan: 1 });
  });

  it('init: one DescribeTable for an existing table', async () => {
    expect(await requestsOf(() => cp.init())).toEqual({ DescribeTable: 1 });
  });

  // The contract's "1 (+1 create)" leaves out the wait: CreateTable answers CREATING (dynalite too),
  // and Init polls DescribeTable until the table is ACTIVE, which on dynalite takes one poll.
  it('init in local mode: one CreateTable for a missing table, and one DescribeTable poll until ACTIVE', async () => {
    const fresh = new Checkpointer({
      client: table.io.client,
      tableName: uniqueTableName('requests-init'),
      createTableIfMissing: true,
    });
    expect(await requestsOf(() => fresh.init())).toEqual({ DescribeTable: 2, CreateTable: 1 });
  });

  it('sends nothing at all for bad input', async () => {
    expect(await requestsOf(() => cp.getLease('bad/id', { workerId: 'w1' }))).toEqual({});
    expect(
      await requestsOf(() => cp.checkpointSequence('s', { workerId: 'w1', checkpoint: 'LATEST' })),
    ).toEqual({});
    expect(await requestsOf(() => cp.renewLeases('w1', []))).toEqual({});
    expect(await requestsOf(() => cp.claimShard('s', ''))).toEqual({});
  });
});
