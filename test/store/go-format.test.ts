/**
 * Rows as vmware-go-kcl-v2 writes them: whole items by PutItem, with its six attributes only (no
 * LeaseCounter, no ClaimedAt), LeaseTimeout as Go's time.RFC3339 (whole seconds) or with
 * nanoseconds. We must read them, take them over when expired, refuse them while live, and write rows
 * that the Go library reads back.
 */
import { type AttributeValue, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import { LeaseLostError, LeaseNotAcquiredError, ShardClaimedError } from '../../lib/core/errors';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { createTestTable, rawItem as readRawItem, type TestTable } from '../support/dynamo';

const LEASE = 10_000;
const CLAIM = 60_000;
/** Go's time.RFC3339 and RFC3339Nano layouts as they print in UTC. */
const GO_RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

let table: TestTable;
let clock: ManualClock;

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-11-24T19:10:30.000Z'));
  table = await createTestTable('go-format', { clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM });
});

let n = 0;
const shard = () => `shardId-${String(++n).padStart(12, '0')}`;

/** A row as the Go library's PutItem writes it. */
async function putGoRow(shardId: string, attrs: Record<string, string>) {
  const item: Record<string, AttributeValue> = { ShardID: { S: shardId } };
  for (const [k, v] of Object.entries(attrs)) item[k] = { S: v };
  await table.io.client.send(new PutItemCommand({ TableName: table.tableName, Item: item }));
}

const rawItem = (shardId: string) => readRawItem(table.io.client, table.tableName, shardId);

describe('rows written by vmware-go-kcl-v2', () => {
  // Go's RFC3339Nano trims trailing zeros, so a timeout carries 0 to 9 fraction digits. For each
  // width: live (refused) at its instant's millisecond, never taken early; free within the
  // documented late bound (10^-d s, so at most one second) after it.
  it.each([
    ['2026-11-24T19:10:41Z', 0],
    ['2026-11-24T19:10:41.1Z', 1],
    ['2026-11-24T19:10:41.12Z', 2],
    ['2026-11-24T19:10:41.123Z', 3],
    ['2026-11-24T19:10:41.1234Z', 4],
    ['2026-11-24T19:10:41.12345Z', 5],
    ['2026-11-24T19:10:41.123456Z', 6],
    ['2026-11-24T19:10:41.1234567Z', 7],
    ['2026-11-24T19:10:41.12345678Z', 8],
    ['2026-11-24T19:10:41.123456789Z', 9],
  ])(
    'with a %s timeout (%i fraction digits) are refused until it and taken once past it',
    async (timeout, digits) => {
      const id = shard();
      await putGoRow(id, { AssignedTo: 'go-worker', LeaseTimeout: timeout, Checkpoint: '7' });
      const instantMs =
        Date.parse(`${timeout.slice(0, 19)}Z`) +
        Math.floor(Number(`0.${timeout.slice(20, -1) || '0'}`) * 1000);
      clock.set(instantMs - 1);
      await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).rejects.toBeInstanceOf(
        LeaseNotAcquiredError,
      );
      const lateBoundMs = 10 ** (3 - digits);
      clock.set(instantMs + Math.max(1, lateBoundMs));
      await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).resolves.toMatchObject({
        owner: 'ts-worker',
        checkpoint: '7',
        leaseCounter: 1,
      });
    },
  );

  it('are read with their checkpoint, owner, timeout, parent and claim, and counter 0', async () => {
    const id = shard();
    await putGoRow(id, {
      AssignedTo: 'go-worker-1',
      LeaseTimeout: '2026-11-24T19:10:41Z',
      Checkpoint: '49590338271490256608559692538361571095921575989136588898',
      ParentShardId: 'shardId-000000000000',
      ClaimRequest: 'go-worker-2',
    });
    await expect(table.checkpointer.fetchCheckpoint(id)).resolves.toEqual({
      shardId: id,
      owner: 'go-worker-1',
      leaseTimeout: '2026-11-24T19:10:41Z',
      leaseCounter: 0,
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
      parentShardId: 'shardId-000000000000',
      claimRequest: 'go-worker-2',
    });
    await expect(table.checkpointer.getLeaseOwner(id)).resolves.toBe('go-worker-1');
  });

  it('are refused while live and taken over once expired, whole-second timeout (time.RFC3339)', async () => {
    const id = shard();
    await putGoRow(id, { AssignedTo: 'go-worker', LeaseTimeout: '2026-11-24T19:10:41Z', Checkpoint: '7' });
    clock.set(Date.parse('2026-11-24T19:10:40.999Z'));
    const refused = await table.checkpointer.getLease(id, { workerId: 'ts-worker' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LeaseNotAcquiredError);
    expect(refused).toMatchObject({
      details: { owner: 'go-worker', leaseTimeout: '2026-11-24T19:10:41Z', leaseCounter: 0 },
    });

    // Conditions compare instants as strings, and '...:41Z' sorts after '...:41.500Z': a whole-second
    // Go timeout lives up to one second longer here (the safe side; see lease-time.ts).
    clock.set(Date.parse('2026-11-24T19:10:41.500Z'));
    await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).rejects.toBeInstanceOf(
      LeaseNotAcquiredError,
    );
    clock.set(Date.parse('2026-11-24T19:10:42.000Z'));
    await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).resolves.toEqual({
      shardId: id,
      owner: 'ts-worker',
      leaseTimeout: '2026-11-24T19:10:52.000000001Z',
      leaseCounter: 1,
      checkpoint: '7',
    });
  });

  it('are refused while live and taken over once expired, nanosecond timeout (time.RFC3339Nano)', async () => {
    const id = shard();
    await putGoRow(id, { AssignedTo: 'go-worker', LeaseTimeout: '2026-11-24T19:10:41.123456789Z' });
    clock.set(Date.parse('2026-11-24T19:10:41.122Z'));
    await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).rejects.toBeInstanceOf(
      LeaseNotAcquiredError,
    );
    await expect(
      table.checkpointer.checkpointSequence(id, { workerId: 'go-worker', checkpoint: '1' }),
    ).resolves.toMatchObject({
      owner: 'go-worker',
      checkpoint: '1',
      leaseCounter: 0,
    });
    // That checkpoint renewed the lease; the Go worker writes its row back whole, as it does.
    await putGoRow(id, {
      AssignedTo: 'go-worker',
      LeaseTimeout: '2026-11-24T19:10:41.123456789Z',
      Checkpoint: '1',
    });
    clock.set(Date.parse('2026-11-24T19:10:41.124Z'));
    await expect(
      table.checkpointer.checkpointSequence(id, { workerId: 'go-worker', checkpoint: '2' }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).resolves.toMatchObject({
      owner: 'ts-worker',
      leaseCounter: 1,
    });
  });

  it('honour a Go claim (no ClaimedAt) until a claim timeout after the lease it targets expired', async () => {
    const id = shard();
    await putGoRow(id, {
      AssignedTo: 'owner',
      LeaseTimeout: '2026-11-24T19:10:41Z',
      ClaimRequest: 'claimer',
    });
    clock.set(Date.parse('2026-11-24T19:10:35.000Z'));
    // The owner may not renew a claimed shard, as in Go.
    await expect(table.checkpointer.getLease(id, { workerId: 'owner' })).rejects.toBeInstanceOf(
      ShardClaimedError,
    );

    clock.set(Date.parse('2026-11-24T19:10:50.000Z'));
    await expect(table.checkpointer.getLease(id, { workerId: 'bystander' })).rejects.toBeInstanceOf(
      ShardClaimedError,
    );
    const taken = await table.checkpointer.getLease(id, { workerId: 'claimer' });
    expect(taken).toMatchObject({ owner: 'claimer', leaseCounter: 1 });
    expect(taken.claimRequest).toBeUndefined();
  });

  it('let a lapsed Go claim be ignored', async () => {
    const id = shard();
    await putGoRow(id, {
      AssignedTo: 'owner',
      LeaseTimeout: '2026-11-24T19:10:41Z',
      ClaimRequest: 'claimer',
    });
    clock.set(Date.parse('2026-11-24T19:10:41.000Z') + CLAIM + 1_000);
    await expect(table.checkpointer.getLease(id, { workerId: 'bystander' })).resolves.toMatchObject({
      owner: 'bystander',
    });
  });

  it('keep a timeout longer than ours when we checkpoint on them: the checkpoint is recorded, the lease not shortened', async () => {
    const id = shard();
    clock.set(Date.parse('2026-11-24T19:20:00.000Z'));
    // Our worker holds the shard under a timeout a Go worker's longer lease left (an hour on).
    await putGoRow(id, { AssignedTo: 'ts-worker', LeaseTimeout: '2026-11-24T20:20:00Z', Checkpoint: '7' });
    const after = await table.checkpointer.checkpointSequence(id, { workerId: 'ts-worker', checkpoint: '8' });
    expect(after).toMatchObject({ checkpoint: '8', leaseTimeout: '2026-11-24T20:20:00Z' });
    expect((await rawItem(id))?.LeaseTimeout).toEqual({ S: '2026-11-24T20:20:00Z' });
  });

  it('see a normal, later RFC 3339 timeout after our checkpoint renewed the lease', async () => {
    const id = shard();
    clock.set(Date.parse('2026-11-24T19:30:00.000Z'));
    await putGoRow(id, { AssignedTo: 'ts-worker', LeaseTimeout: '2026-11-24T19:30:05Z', Checkpoint: '7' });
    await table.checkpointer.checkpointSequence(id, { workerId: 'ts-worker', checkpoint: '8' });
    expect((await rawItem(id))?.LeaseTimeout).toEqual({
      S: formatLeaseTime(Date.parse('2026-11-24T19:30:00.000Z') + LEASE),
    });
  });

  it('restart the counter after Go rewrites a row we wrote, dropping LeaseCounter', async () => {
    const id = shard();
    clock.set(Date.parse('2026-11-24T19:20:00.000Z'));
    await table.checkpointer.getLease(id, { workerId: 'ts-worker' });
    await table.checkpointer.getLease(id, { workerId: 'ts-worker' });
    // Go takes the expired lease with a whole-item PutItem.
    clock.advance(LEASE);
    await putGoRow(id, { AssignedTo: 'go-worker', LeaseTimeout: '2026-11-24T19:20:20Z' });
    clock.set(Date.parse('2026-11-24T19:20:21.000Z'));
    await expect(table.checkpointer.getLease(id, { workerId: 'ts-worker' })).resolves.toMatchObject({
      leaseCounter: 1,
    });
  });

  it('count a live Go owner in listActiveWorkers', async () => {
    const id = shard();
    clock.set(Date.parse('2026-11-24T19:30:00.000Z'));
    await putGoRow(id, { AssignedTo: 'go-lister', LeaseTimeout: '2026-11-24T19:30:05Z' });
    const active = await table.checkpointer.listActiveWorkers({ shardIds: [id] });
    expect(active.workers['go-lister']?.map((l) => l.shardId)).toEqual([id]);
  });
});

describe('rows we write', () => {
  it('keep Go’s attribute names, string types and RFC 3339 UTC timeouts, adding only our own attributes', async () => {
    const id = shard();
    clock.set(Date.parse('2026-11-24T19:40:00.123Z'));
    await table.checkpointer.getLease(id, { workerId: 'ts-worker', parentShardId: 'shardId-000000000000' });
    await table.checkpointer.checkpointSequence(id, { workerId: 'ts-worker', checkpoint: '12345' });
    await table.checkpointer.claimShard(id, 'thief');
    const item = (await rawItem(id)) ?? {};

    const goAttributes = ['AssignedTo', 'LeaseTimeout', 'Checkpoint', 'ParentShardId', 'ClaimRequest'];
    for (const name of ['ShardID', ...goAttributes]) expect(Object.keys(item[name] ?? {})).toEqual(['S']);
    expect(item).toMatchObject({
      ShardID: { S: id },
      AssignedTo: { S: 'ts-worker' },
      LeaseTimeout: { S: '2026-11-24T19:40:10.123000001Z' },
      Checkpoint: { S: '12345' },
      ParentShardId: { S: 'shardId-000000000000' },
      ClaimRequest: { S: 'thief' },
    });
    expect(item.LeaseTimeout?.S).toMatch(GO_RFC3339);
    // What Go's time.Parse(time.RFC3339, ...) reads is the instant we meant.
    expect(Date.parse(item.LeaseTimeout?.S ?? '')).toBe(clock.now() + LEASE);
    const ours = Object.keys(item).filter((k) => k !== 'ShardID' && !goAttributes.includes(k));
    expect(ours.sort()).toEqual(['CheckpointedAt', 'ClaimedAt', 'LeaseCounter']);
    expect(item.LeaseCounter).toEqual({ N: '1' });
    expect(item.CheckpointedAt?.S).toMatch(GO_RFC3339);
    expect(item.ClaimedAt?.S).toMatch(GO_RFC3339);
  });

  it('write the release instant as LeaseTimeout on release, in Go’s format, so that a Go claim lapses a claim timeout after the release', async () => {
    const id = shard();
    await table.checkpointer.getLease(id, { workerId: 'ts-worker' });
    clock.advance(1_234);
    await table.checkpointer.removeLeaseOwner(id, 'ts-worker');
    const item = await rawItem(id);
    expect(item?.AssignedTo).toBeUndefined();
    expect(item?.LeaseTimeout?.S).toMatch(GO_RFC3339);
    expect(Date.parse(item?.LeaseTimeout?.S ?? '')).toBe(clock.now());
    // A release by a worker that does not own it (a retry, a stray call) leaves the row as it is.
    clock.advance(1_000);
    await table.checkpointer.removeLeaseOwner(id, 'ts-worker');
    expect((await rawItem(id))?.LeaseTimeout).toEqual(item?.LeaseTimeout);
  });
});
