import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import {
  CheckpointRegressionError,
  InvalidDynamoDbSchemaError,
  LeaseLostError,
  LeaseNotAcquiredError,
  NoLeaseOwnerError,
  SequenceIdNotFoundError,
  ShardClaimedError,
  ShardEndedError,
  ShardNotAssignedError,
  ShardNotFoundError,
  ValidationError,
} from '../../lib/core/errors';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createTestTable, rawItem as readRawItem, type TestTable, uniqueTableName } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;
const CLAIM = 60_000;

let clock: ManualClock;
let table: TestTable;
let cp: DynamoCheckpointer;

beforeAll(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('checkpointer', { clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM });
  cp = table.checkpointer;
});

let n = 0;
/** A fresh shard id per test, so tests share the table but never a row. */
const shard = () => `shardId-${String(++n).padStart(12, '0')}`;

const rawItem = (shardId: string) => readRawItem(table.io.client, table.tableName, shardId);

describe('init', () => {
  it('reports an existing table with the ShardID key', async () => {
    await expect(cp.init()).resolves.toEqual({ table: table.tableName, status: 'ACTIVE' });
  });

  it('fails with InvalidDynamoDBSchema when the table is missing and may not be created', async () => {
    const other = new DynamoCheckpointer({ client: table.io.client, tableName: uniqueTableName('absent') });
    await expect(other.init()).rejects.toBeInstanceOf(InvalidDynamoDbSchemaError);
  });

  it('fails with InvalidDynamoDBSchema when the key schema is not ShardID (S)', async () => {
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    const name = uniqueTableName('wrongkey');
    await table.io.client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'LeaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'LeaseKey', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const wrong = new DynamoCheckpointer({ client: table.io.client, tableName: name });
    await expect(wrong.init()).rejects.toThrow(/key schema must be ShardID \(HASH\) alone, found LeaseKey/);
  });
});

describe('getLease', () => {
  it('takes an unowned shard, creating its row, with LeaseCounter 1 and the server-clock timeout', async () => {
    const id = shard();
    const lease = await cp.getLease(id, { workerId: 'w1', parentShardId: 'shardId-parent' });
    expect(lease).toEqual({
      shardId: id,
      owner: 'w1',
      leaseTimeout: '2026-11-24T19:00:10.000000001Z',
      leaseCounter: 1,
      parentShardId: 'shardId-parent',
    });
    expect(await rawItem(id)).toEqual({
      ShardID: { S: id },
      AssignedTo: { S: 'w1' },
      LeaseTimeout: { S: '2026-11-24T19:00:10.000000001Z' },
      LeaseCounter: { N: '1' },
      ParentShardId: { S: 'shardId-parent' },
    });
  });

  it('renews the caller’s own live lease, moving the timeout and keeping LeaseCounter', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(3_000);
    const renewed = await cp.getLease(id, { workerId: 'w1' });
    expect(renewed.leaseCounter).toBe(1);
    expect(renewed.leaseTimeout).toBe(formatLeaseTime(clock.now() + LEASE));
  });

  it('takes the caller’s own expired lease afresh, moving LeaseCounter: the lease changed hands', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE);
    await expect(cp.getLease(id, { workerId: 'w1' })).resolves.toMatchObject({ leaseCounter: 2 });
  });

  it('takes a new lease with newLease even from the holder, so that a late release of the old one is fenced off', async () => {
    const id = shard();
    const old = await cp.getLease(id, { workerId: 'w1' });
    const fresh = await cp.getLease(id, { workerId: 'w1', newLease: true });
    expect(fresh.leaseCounter).toBe(old.leaseCounter + 1);
    await cp.removeLeaseOwner(id, 'w1', { leaseCounter: old.leaseCounter });
    await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5', leaseCounter: old.leaseCounter }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // Still refused while another worker holds it.
    await expect(cp.getLease(id, { workerId: 'w2', newLease: true })).rejects.toBeInstanceOf(
      LeaseNotAcquiredError,
    );
  });

  it('never shortens a lease: a renewal computed at an earlier instant answers with the longer lease', async () => {
    const id = shard();
    const late = new ManualClock(clock.now() + 2_000);
    await table.checkpointerWith({ clock: late }).getLease(id, { workerId: 'w1' });
    const longer = formatLeaseTime(late.now() + LEASE);
    // A delayed renewal whose clock reading came first lands second.
    const delayed = await cp.getLease(id, { workerId: 'w1' });
    expect(delayed).toMatchObject({ leaseTimeout: longer, leaseCounter: 1 });
    expect((await rawItem(id))?.LeaseTimeout).toEqual({ S: longer });
    const batch = await cp.renewLeases('w1', [id]);
    expect(batch.renewed).toEqual([expect.objectContaining({ leaseTimeout: longer })]);
  });

  it('records an initial checkpoint over the empty Checkpoint a Go claim can write', async () => {
    const id = shard();
    await table.io.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: { ShardID: { S: id }, Checkpoint: { S: '' }, ClaimRequest: { S: 'w1' } },
      }),
    );
    await expect(cp.getLease(id, { workerId: 'w1', checkpoint: '100' })).resolves.toMatchObject({
      owner: 'w1',
      checkpoint: '100',
      leaseCounter: 1,
    });
    expect((await rawItem(id))?.ClaimRequest).toBeUndefined();
  });

  it('fails with LeaseNotAcquired naming the owner while another worker’s lease is live', async () => {
    const id = shard();
    const held = await cp.getLease(id, { workerId: 'w1' });
    const error = await cp.getLease(id, { workerId: 'w2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseNotAcquiredError);
    expect(error).toMatchObject({
      code: 'LeaseNotAcquired',
      message: 'lease not acquired: current lease timeout not yet expired',
      details: { owner: 'w1', leaseTimeout: held.leaseTimeout, leaseCounter: 1 },
    });
    expect((await rawItem(id))?.AssignedTo).toEqual({ S: 'w1' });
  });

  it('takes an expired lease and increments LeaseCounter', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE + 1);
    const taken = await cp.getLease(id, { workerId: 'w2' });
    expect(taken).toMatchObject({ owner: 'w2', leaseCounter: 2 });
  });

  it('holds a lease until its timeout and frees it at that instant (Go: live while now is before it)', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE - 1);
    await expect(cp.getLease(id, { workerId: 'w2' })).rejects.toBeInstanceOf(LeaseNotAcquiredError);
    clock.advance(1);
    await expect(cp.getLease(id, { workerId: 'w2' })).resolves.toMatchObject({ owner: 'w2' });
  });

  it('records an initial checkpoint and parent only when the row has none', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1', checkpoint: '100', parentShardId: 'p1' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '200' });
    const again = await cp.getLease(id, { workerId: 'w1', checkpoint: '50', parentShardId: 'p2' });
    expect(again).toMatchObject({ checkpoint: '200', parentShardId: 'p1' });
  });

  it('changes nothing and names the fields on bad input', async () => {
    const id = shard();
    const error = (await cp
      .getLease('bad id!', { workerId: '', checkpoint: '12x' } as never)
      .catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues.map((i) => i.field).sort()).toEqual(['checkpoint', 'shardId', 'workerId']);
    await expect(cp.getLease(id, { workerId: 'w1', extra: 1 } as never)).rejects.toThrow(
      'extra: is not a known field',
    );
    expect(await rawItem(id)).toBeUndefined();
  });
});

describe('claims', () => {
  it('blocks the owner’s renewal with ShardClaimed and hands the shard to the claimer when the lease expires', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'owner' });
    const claimed = await cp.claimShard(id, 'thief');
    expect(claimed).toMatchObject({ owner: 'owner', claimRequest: 'thief', claimedAt: clock.iso() });

    await expect(cp.getLease(id, { workerId: 'owner' })).rejects.toBeInstanceOf(ShardClaimedError);
    await expect(cp.getLease(id, { workerId: 'bystander' })).rejects.toBeInstanceOf(ShardClaimedError);
    await expect(cp.getLease(id, { workerId: 'thief' })).rejects.toBeInstanceOf(LeaseNotAcquiredError);

    clock.advance(LEASE + 1);
    await expect(cp.getLease(id, { workerId: 'bystander' })).rejects.toMatchObject({
      code: 'ShardClaimed',
      details: { claimRequest: 'thief', owner: 'owner' },
    });
    const taken = await cp.getLease(id, { workerId: 'thief' });
    expect(taken).toMatchObject({ owner: 'thief', leaseCounter: 2 });
    expect(taken.claimRequest).toBeUndefined();
    expect((await rawItem(id))?.ClaimedAt).toBeUndefined();
  });

  it('lets the claimer take the shard at once when the owner releases it', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'owner' });
    await cp.claimShard(id, 'thief');
    await cp.removeLeaseOwner(id, 'owner');
    await expect(cp.getLease(id, { workerId: 'thief' })).resolves.toMatchObject({ owner: 'thief' });
  });

  it('stops counting a claim older than the claim timeout', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'owner' });
    await cp.claimShard(id, 'thief');
    clock.advance(CLAIM + 1);
    const renewed = await cp.getLease(id, { workerId: 'owner' });
    expect(renewed).toMatchObject({ owner: 'owner' });
    expect(renewed.claimRequest).toBeUndefined();
  });

  it('refuses a second claimer with ShardClaimed, and treats the same claimer again as a no-op', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'owner' });
    const first = await cp.claimShard(id, 'thief');
    clock.advance(1_000);
    await expect(cp.claimShard(id, 'thief')).resolves.toEqual(first);
    await expect(cp.claimShard(id, 'other')).rejects.toMatchObject({
      code: 'ShardClaimed',
      details: { claimRequest: 'thief' },
    });
  });

  it('replaces a lapsed claim', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'owner' });
    await cp.claimShard(id, 'thief');
    clock.advance(CLAIM + 1);
    await expect(cp.claimShard(id, 'other')).resolves.toMatchObject({
      claimRequest: 'other',
      claimedAt: clock.iso(),
    });
  });

  it('fails with NotFound for a shard without a row, and ShardEnded for an ended shard', async () => {
    const missing = shard();
    await expect(cp.claimShard(missing, 'thief')).rejects.toBeInstanceOf(ShardNotFoundError);
    expect(await rawItem(missing)).toBeUndefined();
    const ended = shard();
    await cp.getLease(ended, { workerId: 'owner' });
    await cp.checkpointSequence(ended, { workerId: 'owner', checkpoint: 'SHARD_END' });
    await expect(cp.claimShard(ended, 'thief')).rejects.toBeInstanceOf(ShardEndedError);
  });
});

describe('checkpointSequence', () => {
  it('records the checkpoint and when it was made', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    const lease = await cp.checkpointSequence(id, {
      workerId: 'w1',
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
    });
    expect(lease).toMatchObject({
      checkpoint: '49590338271490256608559692538361571095921575989136588898',
      checkpointedAt: clock.iso(),
      owner: 'w1',
    });
  });

  it('compares sequence numbers as big integers, never moving backwards', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '99' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '100' }); // longer, so larger
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '100' }); // the same again is fine
    const error = await cp
      .checkpointSequence(id, { workerId: 'w1', checkpoint: '99' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointRegressionError);
    expect(error).toMatchObject({ details: { checkpoint: '100', requested: '99' } });
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '0000101' })).resolves.toMatchObject(
      {
        checkpoint: '101',
      },
    );
    const big = `1${'0'.repeat(127)}`;
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: big })).resolves.toMatchObject({
      checkpoint: big,
    });
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: `9${'9'.repeat(126)}` }),
    ).rejects.toBeInstanceOf(CheckpointRegressionError);
  });

  it('treats SHARD_END as final', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: 'SHARD_END' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: 'SHARD_END' });
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '9'.repeat(128) }),
    ).rejects.toBeInstanceOf(CheckpointRegressionError);
  });

  it('fails with LeaseLost for a zombie whose lease was taken over', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'zombie' });
    clock.advance(LEASE + 1);
    await cp.getLease(id, { workerId: 'heir' });
    await expect(cp.checkpointSequence(id, { workerId: 'zombie', checkpoint: '7' })).rejects.toMatchObject({
      code: 'LeaseLost',
      message: 'lease lost: the shard is owned by heir',
      details: { owner: 'heir' },
    });
    expect((await rawItem(id))?.Checkpoint).toBeUndefined();
  });

  it('fails with LeaseLost when the caller’s lease has expired, even if nobody took it', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE + 1);
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7' })).rejects.toThrow(
      /lease expired at/,
    );
  });

  it('passes with the lease counter of the lease, however often it was renewed meanwhile', async () => {
    const id = shard();
    const first = await cp.getLease(id, { workerId: 'w1' });
    clock.advance(1_000);
    await cp.getLease(id, { workerId: 'w1' });
    await cp.renewLeases('w1', [id]);
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7', leaseCounter: first.leaseCounter }),
    ).resolves.toMatchObject({ checkpoint: '7', leaseCounter: 1 });
  });

  it('fails with LeaseLost when the lease counter (fencing token) moved on', async () => {
    const id = shard();
    const first = await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE);
    await cp.getLease(id, { workerId: 'w1' });
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7', leaseCounter: first.leaseCounter }),
    ).rejects.toThrow(/lease counter 2, not 1/);
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7', leaseCounter: 2 }),
    ).resolves.toMatchObject({
      checkpoint: '7',
    });
  });

  it('fails with LeaseLost for a shard without a row, and creates none', async () => {
    const id = shard();
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7' })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await rawItem(id)).toBeUndefined();
  });
});

describe('fetchCheckpoint', () => {
  it('returns checkpoint, owner, timeout, counter, parent and claim', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1', parentShardId: 'p' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '42' });
    await cp.claimShard(id, 'w2');
    await expect(cp.fetchCheckpoint(id)).resolves.toEqual({
      shardId: id,
      owner: 'w1',
      leaseTimeout: formatLeaseTime(clock.now() + LEASE),
      leaseCounter: 1,
      checkpoint: '42',
      checkpointedAt: clock.iso(),
      parentShardId: 'p',
      claimRequest: 'w2',
      claimedAt: clock.iso(),
    });
  });

  it('fails with SequenceIDNotFound when the shard has no checkpoint or no row', async () => {
    const id = shard();
    await expect(cp.fetchCheckpoint(id)).rejects.toThrow('SequenceIDNotFoundForShard');
    await cp.getLease(id, { workerId: 'w1' });
    const error = await cp.fetchCheckpoint(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceIdNotFoundError);
    // The rest of the lease comes with it, so a caller can show who holds a shard not yet checkpointed.
    expect((error as SequenceIdNotFoundError).details).toEqual({
      owner: 'w1',
      leaseTimeout: formatLeaseTime(clock.now() + LEASE),
      leaseCounter: 1,
    });
  });
});

describe('removeLeaseOwner', () => {
  it('releases the caller’s lease so that another worker can take it at once', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.removeLeaseOwner(id, 'w1');
    await expect(cp.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
    await expect(cp.getLease(id, { workerId: 'w2' })).resolves.toMatchObject({
      owner: 'w2',
      leaseCounter: 2,
    });
  });

  it('is idempotent: releasing a shard nobody owns, or that has no row, succeeds and creates nothing', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.removeLeaseOwner(id, 'w1');
    // A retry whose first try released the lease and lost the answer.
    await expect(cp.removeLeaseOwner(id, 'w1')).resolves.toBeUndefined();
    const none = shard();
    await expect(cp.removeLeaseOwner(none, 'w1')).resolves.toBeUndefined();
    expect(await rawItem(none)).toBeUndefined();
  });

  it('fails with LeaseLost when the caller is not the owner, changing nothing', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await expect(cp.removeLeaseOwner(id, 'w2')).rejects.toThrow(
      'lease lost: the shard is owned by w1, not w2',
    );
    await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
  });
});

describe('getLeaseOwner and removeLeaseInfo', () => {
  it('returns the owner, fails with NoLeaseOwner once the row is removed, and removing twice is fine', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
    await cp.removeLeaseInfo(id, { workerId: 'w1' });
    await cp.removeLeaseInfo(id);
    expect(await rawItem(id)).toBeUndefined();
    await expect(cp.getLeaseOwner(id)).rejects.toThrow('no LeaseOwner in checkpoints table');
  });

  it('refuses to delete a row another worker holds a live lease on, unless forced', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '42' });
    for (const request of [{}, { workerId: 'w2' }, { force: false }]) {
      const error = await cp.removeLeaseInfo(id, request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseNotAcquiredError);
      expect(error).toMatchObject({ details: { owner: 'w1', checkpoint: '42' } });
    }
    expect((await rawItem(id))?.Checkpoint).toEqual({ S: '42' });
    clock.advance(LEASE);
    // Once the lease has expired, nobody's work is lost by deleting the row.
    await cp.getLease(id, { workerId: 'w1' });
    await cp.removeLeaseInfo(id, { force: true });
    expect(await rawItem(id)).toBeUndefined();
  });

  it('deletes a row whose lease has expired without any guard', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE);
    await cp.removeLeaseInfo(id);
    expect(await rawItem(id)).toBeUndefined();
  });
});

describe('renewLeases', () => {
  it('renews the worker’s leases and reports each lost one with its reason, never taking a shard', async () => {
    const [mine, mine2, taken, claimed, free, expired] = [
      shard(),
      shard(),
      shard(),
      shard(),
      shard(),
      shard(),
    ];
    const T_EXPIRED = clock.now() + LEASE;
    for (const id of [taken, expired]) await cp.getLease(id, { workerId: 'w1' });
    clock.advance(LEASE + 1);
    for (const id of [mine, mine2, claimed]) await cp.getLease(id, { workerId: 'w1' });
    await cp.getLease(taken, { workerId: 'w2' });
    await cp.claimShard(claimed, 'w3');
    clock.advance(1_000);
    const result = await cp.renewLeases('w1', [mine, taken, claimed, free, mine2, expired]);
    expect(result.renewed.map((l) => [l.shardId, l.owner, l.leaseCounter, l.leaseTimeout])).toEqual([
      [mine, 'w1', 1, formatLeaseTime(clock.now() + LEASE)],
      [mine2, 'w1', 1, formatLeaseTime(clock.now() + LEASE)],
    ]);
    expect(result.lost).toEqual([
      { shardId: taken, code: 'LeaseLost', message: 'lease lost: the shard is owned by w2', owner: 'w2' },
      {
        shardId: claimed,
        code: 'ShardClaimed',
        message: 'shard is already claimed by another node',
        owner: 'w1',
        claimRequest: 'w3',
      },
      { shardId: free, code: 'LeaseLost', message: 'lease lost: the shard has no lease row' },
      {
        shardId: expired,
        code: 'LeaseLost',
        message: `lease lost: the lease expired at ${formatLeaseTime(T_EXPIRED)}`,
        owner: 'w1',
      },
    ]);
    expect(result.failed).toEqual([]);
    expect(await rawItem(free)).toBeUndefined();
    // An expired lease is not revived by a renewal: the worker was told to stop at its expiry.
    expect((await rawItem(expired))?.LeaseTimeout).toEqual({ S: formatLeaseTime(T_EXPIRED) });
  });
});

describe('listActiveWorkers', () => {
  it('groups live leases by worker, skips ended shards, and lists the unassigned', async () => {
    const local = await createTestTable('workers', { clock, leaseDurationMs: LEASE });
    const c = local.checkpointer;
    await c.getLease('a', { workerId: 'w1' });
    await c.getLease('b', { workerId: 'w1' });
    await c.getLease('c', { workerId: 'w2' });
    await c.getLease('ended', { workerId: 'w2' });
    await c.checkpointSequence('ended', { workerId: 'w2', checkpoint: 'SHARD_END' });
    await c.getLease('released', { workerId: 'w3' });
    await c.removeLeaseOwner('released', 'w3');

    const all = await c.listActiveWorkers();
    expect(
      Object.fromEntries(Object.entries(all.workers).map(([w, ls]) => [w, ls.map((l) => l.shardId).sort()])),
    ).toEqual({
      w1: ['a', 'b'],
      w2: ['c'],
    });
    expect(all.unassigned).toEqual(['released']);

    const asked = await c.listActiveWorkers({ shardIds: ['a', 'never-seen'] });
    expect(Object.keys(asked.workers)).toEqual(['w1']);
    expect(asked.unassigned).toEqual(['never-seen']);
    await expect(c.listActiveWorkers({ shardIds: ['a', 'never-seen'], strict: true })).rejects.toBeInstanceOf(
      ShardNotAssignedError,
    );
    await expect(c.listActiveWorkers({ shardIds: ['a', 'c'], strict: true })).resolves.toMatchObject({
      unassigned: [],
    });

    clock.advance(LEASE + 1);
    const expired = await c.listActiveWorkers();
    expect(expired.workers).toEqual({});
    expect(expired.unassigned).toEqual(['a', 'b', 'c', 'released']);
  });
});

describe('rows written by another writer', () => {
  it('accepts the owner’s fenced checkpoint after a Go claim rewrote the row without LeaseCounter', async () => {
    const id = shard();
    const lease = await cp.getLease(id, { workerId: 'w1' });
    const item = await rawItem(id);
    // vmware-go-kcl-v2's ClaimShard: a whole-item PutItem with the owner and the re-formatted timeout it read.
    await table.io.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ShardID: { S: id },
          AssignedTo: item?.AssignedTo as { S: string },
          LeaseTimeout: item?.LeaseTimeout as { S: string },
          Checkpoint: { S: '' },
          ClaimRequest: { S: 'go-thief' },
        },
      }),
    );
    await expect(
      cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '9', leaseCounter: lease.leaseCounter }),
    ).resolves.toMatchObject({ owner: 'w1', checkpoint: '9', claimRequest: 'go-thief' });
    // Someone else's lease is still refused, counter or not.
    await expect(
      cp.checkpointSequence(id, { workerId: 'w2', checkpoint: '10', leaseCounter: 0 }),
    ).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('compares a Go checkpoint stored with leading zeros by its value', async () => {
    const id = shard();
    await cp.getLease(id, { workerId: 'w1' });
    const item = await rawItem(id);
    await table.io.client.send(
      new PutItemCommand({ TableName: table.tableName, Item: { ...item, Checkpoint: { S: '0005' } } }),
    );
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '3' })).rejects.toBeInstanceOf(
      CheckpointRegressionError,
    );
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '10' })).resolves.toMatchObject({
      checkpoint: '10',
    });
    await expect(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '9' })).rejects.toBeInstanceOf(
      CheckpointRegressionError,
    );
  });

  it('counts a row without LeaseCounter as counter 0 for fencing', async () => {
    const id = shard();
    await table.io.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ShardID: { S: id },
          AssignedTo: { S: 'go-worker' },
          LeaseTimeout: { S: new Date(clock.now() + 5000).toISOString() },
        },
      }),
    );
    await expect(
      cp.checkpointSequence(id, { workerId: 'go-worker', checkpoint: '1', leaseCounter: 0 }),
    ).resolves.toMatchObject({
      leaseCounter: 0,
    });
    // Once we hold the counter again, fencing by it is exact. (That checkpoint renewed the lease: a
    // lease from then on.)
    clock.advance(LEASE + 1);
    await cp.getLease(id, { workerId: 'w9' });
    await expect(
      cp.checkpointSequence(id, { workerId: 'w9', checkpoint: '2', leaseCounter: 0 }),
    ).rejects.toBeInstanceOf(LeaseLostError);
  });
});
