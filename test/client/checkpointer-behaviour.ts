/**
 * What every `Checkpointer` does, success and failure, written once and run against each
 * implementation (DynamoCheckpointer on the table, ShardLeaseClient over HTTP): same results, same
 * error classes, codes, messages, details and field names.
 */
import type { Checkpointer } from '../../lib/core/checkpointer';
import { ManualClock } from '../../lib/core/clock';
import {
  CheckpointRegressionError,
  LeaseLostError,
  LeaseNotAcquiredError,
  NoLeaseOwnerError,
  SequenceIdNotFoundError,
  ShardClaimedError,
  ShardEndedError,
  ShardLeaseError,
  ShardNotAssignedError,
  ShardNotFoundError,
  ValidationError,
} from '../../lib/core/errors';
import { checkpointRenewed } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';

/** The terms every fixture must run with, so the suite knows when leases and claims lapse. */
export const BEHAVIOUR_TERMS = { leaseDurationMs: 10_000, claimTimeoutMs: 60_000 } as const;
export const BEHAVIOUR_T0 = Date.parse('2026-11-24T19:00:00.000Z');

export interface CheckpointerFixture {
  readonly checkpointer: Checkpointer;
  /** The server's clock (the one the lease rules read), starting at BEHAVIOUR_T0. */
  readonly clock: ManualClock;
  /** The table init() reports. */
  readonly tableName: string;
  close(): Promise<void>;
}

export type CheckpointerFactory = () => Promise<CheckpointerFixture>;

export function newBehaviourClock(): ManualClock {
  return new ManualClock(BEHAVIOUR_T0);
}

/** The rejection of `promise`, which must be a ShardLeaseError. */
async function failure(promise: Promise<unknown>): Promise<ShardLeaseError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ShardLeaseError);
    return error as ShardLeaseError;
  }
  throw new Error('expected the call to fail, and it succeeded');
}

function fieldsOf(error: ShardLeaseError): string[] {
  expect(error).toBeInstanceOf(ValidationError);
  expect(error.code).toBe('ValidationError');
  return (error as ValidationError).issues.map((i) => i.field);
}

export function describeCheckpointerBehaviour(name: string, factory: CheckpointerFactory): void {
  describe(`${name} behaves as a Checkpointer`, () => {
    let fixture: CheckpointerFixture;
    let cp: Checkpointer;
    let clock: ManualClock;
    const { leaseDurationMs, claimTimeoutMs } = BEHAVIOUR_TERMS;

    beforeAll(async () => {
      fixture = await factory();
      cp = fixture.checkpointer;
      clock = fixture.clock;
    });
    afterAll(async () => {
      await fixture?.close();
    });

    let n = 0;
    /** A fresh shard id per use, so cases share the table but never a row. */
    const shard = () => `shardId-${name.replace(/\W/g, '')}-${String(++n).padStart(6, '0')}`;

    describe('init', () => {
      it('reports the table and that it is active', async () => {
        await expect(cp.init()).resolves.toEqual({ table: fixture.tableName, status: 'ACTIVE' });
      });
    });

    describe('getLease', () => {
      it('takes a shard with no row, with LeaseCounter 1, the server-clock timeout, parent and checkpoint', async () => {
        const id = shard();
        const lease = await cp.getLease(id, {
          workerId: 'w1',
          parentShardId: 'shardId-parent',
          checkpoint: '00042',
        });
        expect(lease).toEqual({
          shardId: id,
          owner: 'w1',
          leaseTimeout: formatLeaseTime(clock.now() + leaseDurationMs),
          leaseCounter: 1,
          parentShardId: 'shardId-parent',
          checkpoint: '42',
        });
      });

      it('answers a repeated take (the same takeId: a retry, a late copy) with the lease it granted, writing nothing', async () => {
        const id = shard();
        const first = await cp.getLease(id, { workerId: 'w1', newLease: true, takeId: 'take-1' });
        clock.advance(1_000);
        const again = await cp.getLease(id, { workerId: 'w1', newLease: true, takeId: 'take-1' });
        // The same lease: neither a new counter nor a later timeout.
        expect(again).toEqual(first);
        const next = await cp.getLease(id, { workerId: 'w1', newLease: true, takeId: 'take-2' });
        expect(next.leaseCounter).toBe(first.leaseCounter + 1);
        // Another worker's take with the same id is a take like any other (refused: the lease is live).
        expect((await failure(cp.getLease(id, { workerId: 'w2', takeId: 'take-2' }))).code).toBe(
          'LeaseNotAcquired',
        );
      });

      it('fails with ValidationError naming takeId when it is not 1..64 of A-Z a-z 0-9 _ . : -', async () => {
        const id = shard();
        for (const takeId of ['', 'a b', 'x'.repeat(65)]) {
          expect(fieldsOf(await failure(cp.getLease(id, { workerId: 'w1', takeId })))).toEqual(['takeId']);
        }
        await expect(cp.fetchCheckpoint(id)).rejects.toMatchObject({ code: 'SequenceIDNotFound' });
      });

      it('renews the caller’s own lease, moving the timeout and keeping LeaseCounter', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        clock.advance(1_000);
        const renewed = await cp.getLease(id, { workerId: 'w1' });
        expect(renewed).toMatchObject({
          owner: 'w1',
          leaseCounter: 1,
          leaseTimeout: formatLeaseTime(clock.now() + leaseDurationMs),
        });
      });

      it('fails with LeaseNotAcquired naming the owner and timeout while another worker’s lease is live', async () => {
        const id = shard();
        const held = await cp.getLease(id, { workerId: 'w1' });
        const error = await failure(cp.getLease(id, { workerId: 'w2' }));
        expect(error).toBeInstanceOf(LeaseNotAcquiredError);
        expect(error.code).toBe('LeaseNotAcquired');
        expect(error.message).toBe('lease not acquired: current lease timeout not yet expired');
        expect(error.details).toMatchObject({
          owner: 'w1',
          leaseTimeout: held.leaseTimeout,
          leaseCounter: 1,
        });
      });

      it('takes another worker’s lease once it has expired', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        clock.advance(leaseDurationMs + 1);
        await expect(cp.getLease(id, { workerId: 'w2' })).resolves.toMatchObject({
          owner: 'w2',
          leaseCounter: 2,
        });
      });

      it('fails with ShardClaimed for anyone but the claimer while a claim is fresh, then lets the claimer take it', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.claimShard(id, 'w2');
        const renewal = await failure(cp.getLease(id, { workerId: 'w1' }));
        expect(renewal).toBeInstanceOf(ShardClaimedError);
        expect(renewal.message).toBe('shard is already claimed by another node');
        expect(renewal.details).toMatchObject({ owner: 'w1', claimRequest: 'w2' });
        clock.advance(leaseDurationMs + 1);
        const taken = await cp.getLease(id, { workerId: 'w2' });
        expect(taken.owner).toBe('w2');
        expect(taken.claimRequest).toBeUndefined();
      });

      it('fails with ValidationError naming each bad field, and creates no row', async () => {
        const id = shard();
        const error = await failure(cp.getLease(id, { workerId: '', checkpoint: 'abc' }));
        expect(fieldsOf(error).sort()).toEqual(['checkpoint', 'workerId']);
        const unknown = await failure(cp.getLease(id, { workerId: 'w1', extra: 1 } as never));
        expect(fieldsOf(unknown)).toEqual(['extra']);
        await expect(cp.fetchCheckpoint(id)).rejects.toBeInstanceOf(SequenceIdNotFoundError);
        await expect(cp.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
      });

      it('fails with ValidationError naming shardId for an id with a slash or too long', async () => {
        expect(fieldsOf(await failure(cp.getLease('a/b', { workerId: 'w1' })))).toEqual(['shardId']);
        expect(fieldsOf(await failure(cp.getLease('x'.repeat(129), { workerId: 'w1' })))).toEqual([
          'shardId',
        ]);
        expect(fieldsOf(await failure(cp.getLease('a b?c#d', { workerId: 'w1' })))).toEqual(['shardId']);
      });
    });

    describe('checkpointSequence', () => {
      it('records the owner’s checkpoint and returns the lease', async () => {
        const id = shard();
        const lease = await cp.getLease(id, { workerId: 'w1' });
        const after = await cp.checkpointSequence(id, {
          workerId: 'w1',
          checkpoint: '49590338271490256608559692538361571095921575989136588898',
          leaseCounter: lease.leaseCounter,
        });
        expect(after).toMatchObject({
          shardId: id,
          owner: 'w1',
          checkpoint: '49590338271490256608559692538361571095921575989136588898',
          leaseCounter: 1,
        });
        await expect(cp.fetchCheckpoint(id)).resolves.toMatchObject({
          checkpoint: '49590338271490256608559692538361571095921575989136588898',
        });
      });

      it('renews the owner’s lease in the same write: a lease from the checkpoint on, same counter', async () => {
        const id = shard();
        const start = clock.now();
        await cp.getLease(id, { workerId: 'w1' });
        clock.advance(4_000);
        const after = await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5', leaseCounter: 1 });
        expect(after).toMatchObject({
          checkpoint: '5',
          leaseCounter: 1,
          checkpointedAt: formatLeaseTime(start + 4_000),
          leaseTimeout: formatLeaseTime(start + 4_000 + leaseDurationMs),
        });
        expect(checkpointRenewed(after, leaseDurationMs)).toBe(true);
        // Past the first lease's end, the checkpoint kept it: no renewal was needed.
        clock.advance(leaseDurationMs - 1_000);
        await expect(
          cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '6', leaseCounter: 1 }),
        ).resolves.toMatchObject({ owner: 'w1', checkpoint: '6' });
        await expect(cp.getLease(id, { workerId: 'w2' })).rejects.toMatchObject({ code: 'LeaseNotAcquired' });
      });

      it('does not renew while a claim is pending: the checkpoint is recorded and the lease ends on time for the claimer', async () => {
        const id = shard();
        const start = clock.now();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.claimShard(id, 'w2');
        clock.advance(4_000);
        const after = await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5', leaseCounter: 1 });
        expect(after).toMatchObject({
          checkpoint: '5',
          claimRequest: 'w2',
          leaseTimeout: formatLeaseTime(start + leaseDurationMs),
        });
        expect(checkpointRenewed(after, leaseDurationMs)).toBe(false);
        clock.advance(leaseDurationMs - 4_000);
        await expect(cp.getLease(id, { workerId: 'w2' })).resolves.toMatchObject({
          owner: 'w2',
          checkpoint: '5',
        });
      });

      it('fails with LeaseLost naming the new owner for a worker whose lease was taken', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        clock.advance(leaseDurationMs + 1);
        await cp.getLease(id, { workerId: 'w2' });
        const error = await failure(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5' }));
        expect(error).toBeInstanceOf(LeaseLostError);
        expect(error.code).toBe('LeaseLost');
        expect(error.message).toBe('lease lost: the shard is owned by w2');
        expect(error.details).toMatchObject({ owner: 'w2', leaseCounter: 2 });
      });

      it('fails with LeaseLost once the caller’s lease has expired', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        clock.advance(leaseDurationMs);
        const error = await failure(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5' }));
        expect(error).toBeInstanceOf(LeaseLostError);
        expect(error.message).toMatch(/^lease lost: the lease expired at /);
      });

      it('fails with LeaseLost when the lease counter (fencing token) moved on', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        // A renewal keeps the token; a take after expiry moves it.
        await cp.getLease(id, { workerId: 'w1' });
        await expect(
          cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '4', leaseCounter: 1 }),
        ).resolves.toMatchObject({ checkpoint: '4' });
        clock.advance(leaseDurationMs);
        await cp.getLease(id, { workerId: 'w1' });
        const error = await failure(
          cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '5', leaseCounter: 1 }),
        );
        expect(error).toBeInstanceOf(LeaseLostError);
        expect(error.details).toMatchObject({ leaseCounter: 2 });
      });

      it('fails with CheckpointRegression when the sequence number goes backwards, and treats SHARD_END as final', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '100' });
        const back = await failure(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '99' }));
        expect(back).toBeInstanceOf(CheckpointRegressionError);
        expect(back.code).toBe('CheckpointRegression');
        expect(back.details).toMatchObject({ checkpoint: '100', requested: '99' });
        await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: 'SHARD_END' });
        const afterEnd = await failure(cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '101' }));
        expect(afterEnd).toBeInstanceOf(CheckpointRegressionError);
        await expect(cp.fetchCheckpoint(id)).resolves.toMatchObject({ checkpoint: 'SHARD_END' });
      });

      it('fails with ValidationError naming checkpoint and leaseCounter', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        const error = await failure(
          cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '12a', leaseCounter: -1 }),
        );
        expect(fieldsOf(error).sort()).toEqual(['checkpoint', 'leaseCounter']);
      });
    });

    describe('fetchCheckpoint', () => {
      it('returns checkpoint, owner, timeout, counter, parent and claim', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1', parentShardId: 'shardId-p' });
        await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7' });
        await cp.claimShard(id, 'w2');
        const lease = await cp.fetchCheckpoint(id);
        expect(lease).toMatchObject({
          shardId: id,
          owner: 'w1',
          leaseTimeout: formatLeaseTime(clock.now() + leaseDurationMs),
          leaseCounter: 1,
          checkpoint: '7',
          parentShardId: 'shardId-p',
          claimRequest: 'w2',
        });
      });

      it('fails with SequenceIDNotFound for a row without a checkpoint and for no row', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        const noCheckpoint = await failure(cp.fetchCheckpoint(id));
        expect(noCheckpoint).toBeInstanceOf(SequenceIdNotFoundError);
        expect(noCheckpoint.code).toBe('SequenceIDNotFound');
        expect(noCheckpoint.message).toBe('SequenceIDNotFoundForShard');
        expect(noCheckpoint.details).toMatchObject({ owner: 'w1' });
        await expect(cp.fetchCheckpoint(shard())).rejects.toBeInstanceOf(SequenceIdNotFoundError);
      });
    });

    describe('removeLeaseOwner', () => {
      it('releases the caller’s lease so that another worker can take it at once', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await expect(cp.removeLeaseOwner(id, 'w1')).resolves.toBeUndefined();
        await expect(cp.getLease(id, { workerId: 'w2' })).resolves.toMatchObject({ owner: 'w2' });
      });

      it('fails with LeaseLost naming the owner when the caller is not the owner, changing nothing', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        const error = await failure(cp.removeLeaseOwner(id, 'w2'));
        expect(error).toBeInstanceOf(LeaseLostError);
        expect(error.details).toMatchObject({ owner: 'w1' });
        await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
      });

      it('fails with ValidationError naming workerId', async () => {
        expect(fieldsOf(await failure(cp.removeLeaseOwner(shard(), '')))).toEqual(['workerId']);
      });
    });

    describe('getLeaseOwner and removeLeaseInfo', () => {
      it('returns the owner, fails with NoLeaseOwner once the row is removed, and removing twice is fine', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
        await expect(cp.removeLeaseInfo(id, { workerId: 'w1' })).resolves.toBeUndefined();
        const error = await failure(cp.getLeaseOwner(id));
        expect(error).toBeInstanceOf(NoLeaseOwnerError);
        expect(error.code).toBe('NoLeaseOwner');
        expect(error.message).toBe('no LeaseOwner in checkpoints table');
        await expect(cp.removeLeaseInfo(id)).resolves.toBeUndefined();
        await expect(cp.fetchCheckpoint(id)).rejects.toBeInstanceOf(SequenceIdNotFoundError);
      });

      it('refuses with LeaseNotAcquired to delete a row another worker holds, unless forced', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        for (const request of [undefined, { workerId: 'w2' }]) {
          const error = await failure(cp.removeLeaseInfo(id, request));
          expect(error).toBeInstanceOf(LeaseNotAcquiredError);
          expect(error.details).toMatchObject({ owner: 'w1' });
        }
        await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
        await expect(cp.removeLeaseInfo(id, { force: true })).resolves.toBeUndefined();
        await expect(cp.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
      });

      it('releases idempotently: an unowned or missing shard is released already', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.removeLeaseOwner(id, 'w1');
        await expect(cp.removeLeaseOwner(id, 'w1')).resolves.toBeUndefined();
        await expect(cp.removeLeaseOwner(shard(), 'w1')).resolves.toBeUndefined();
      });

      it('releases only the lease with the given counter, leaving a newer lease of the caller alone', async () => {
        const id = shard();
        const first = await cp.getLease(id, { workerId: 'w1' });
        await cp.removeLeaseOwner(id, 'w1', { leaseCounter: first.leaseCounter });
        const second = await cp.getLease(id, { workerId: 'w1' });
        expect(second.leaseCounter).toBe(first.leaseCounter + 1);
        await expect(
          cp.removeLeaseOwner(id, 'w1', { leaseCounter: first.leaseCounter }),
        ).resolves.toBeUndefined();
        await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
        await cp.removeLeaseOwner(id, 'w1', { leaseCounter: second.leaseCounter });
        await expect(cp.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
      });

      it('releases only the lease a given take granted (takeId), leaving another lease of the caller alone', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1', newLease: true, takeId: 'first-take' });
        await cp.getLease(id, { workerId: 'w1', newLease: true, takeId: 'second-take' });
        // A late release for the first take (its answer never came): the second take's lease stays.
        await cp.removeLeaseOwner(id, 'w1', { takeId: 'first-take' });
        await expect(cp.getLeaseOwner(id)).resolves.toBe('w1');
        await cp.removeLeaseOwner(id, 'w1', { takeId: 'second-take' });
        await expect(cp.getLeaseOwner(id)).rejects.toMatchObject({ code: 'NoLeaseOwner' });
        expect(fieldsOf(await failure(cp.removeLeaseOwner(id, 'w1', { takeId: 'not ok' })))).toEqual([
          'takeId',
        ]);
      });

      it('fails with NoLeaseOwner for a released lease', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.removeLeaseOwner(id, 'w1');
        await expect(cp.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
      });

      it('fails with ValidationError naming shardId', async () => {
        expect(fieldsOf(await failure(cp.removeLeaseInfo('bad/id')))).toEqual(['shardId']);
        expect(fieldsOf(await failure(cp.getLeaseOwner('')))).toEqual(['shardId']);
      });
    });

    describe('claimShard', () => {
      it('records the claim, and the same claimer again changes nothing', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        const claimed = await cp.claimShard(id, 'w2');
        expect(claimed).toMatchObject({ shardId: id, owner: 'w1', claimRequest: 'w2' });
        clock.advance(1_000);
        const again = await cp.claimShard(id, 'w2');
        expect(again).toMatchObject({ claimRequest: 'w2', claimedAt: claimed.claimedAt });
      });

      it('fails with ShardClaimed for a second claimer while the first claim is fresh, not after it lapses', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.claimShard(id, 'w2');
        const error = await failure(cp.claimShard(id, 'w3'));
        expect(error).toBeInstanceOf(ShardClaimedError);
        expect(error.code).toBe('ShardClaimed');
        expect(error.details).toMatchObject({ owner: 'w1', claimRequest: 'w2' });
        clock.advance(claimTimeoutMs + 1);
        await expect(cp.claimShard(id, 'w3')).resolves.toMatchObject({ claimRequest: 'w3' });
      });

      it('fails with NotFound for a shard without a row, and ShardEnded for an ended shard', async () => {
        const missing = shard();
        const notFound = await failure(cp.claimShard(missing, 'w2'));
        expect(notFound).toBeInstanceOf(ShardNotFoundError);
        expect(notFound.code).toBe('NotFound');
        expect(notFound.details).toMatchObject({ shardId: missing });
        const ended = shard();
        await cp.getLease(ended, { workerId: 'w1' });
        await cp.checkpointSequence(ended, { workerId: 'w1', checkpoint: 'SHARD_END' });
        const error = await failure(cp.claimShard(ended, 'w2'));
        expect(error).toBeInstanceOf(ShardEndedError);
        expect(error.code).toBe('ShardEnded');
        expect(error.details).toMatchObject({ shardId: ended });
      });

      it('fails with ValidationError naming workerId', async () => {
        expect(fieldsOf(await failure(cp.claimShard(shard(), 'x'.repeat(257))))).toEqual(['workerId']);
      });
    });

    describe('withdrawClaim', () => {
      it('removes the caller’s claim, so that the owner’s next renewal succeeds instead of ShardClaimed', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.claimShard(id, 'w2');
        await expect(cp.getLease(id, { workerId: 'w1' })).rejects.toBeInstanceOf(ShardClaimedError);
        await expect(cp.withdrawClaim(id, 'w2')).resolves.toBeUndefined();
        clock.advance(1_000);
        const renewed = await cp.getLease(id, { workerId: 'w1' });
        expect(renewed).toMatchObject({ owner: 'w1', leaseCounter: 1 });
        expect(renewed.claimRequest).toBeUndefined();
        expect(renewed.claimedAt).toBeUndefined();
        // Withdrawn, the shard takes a new claim from anyone.
        await expect(cp.claimShard(id, 'w3')).resolves.toMatchObject({ claimRequest: 'w3' });
      });

      it('leaves another worker’s claim alone, and succeeds', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        const claimed = await cp.claimShard(id, 'w2');
        await expect(cp.withdrawClaim(id, 'w3')).resolves.toBeUndefined();
        await expect(cp.withdrawClaim(id, 'w1')).resolves.toBeUndefined();
        const error = await failure(cp.getLease(id, { workerId: 'w1' }));
        expect(error).toBeInstanceOf(ShardClaimedError);
        expect(error.details).toMatchObject({ owner: 'w1', claimRequest: 'w2' });
        await expect(cp.claimShard(id, 'w2')).resolves.toMatchObject({ claimedAt: claimed.claimedAt });
      });

      it('is idempotent: a second withdrawal and one on an unclaimed shard succeed and change nothing', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '7' });
        await cp.claimShard(id, 'w2');
        await cp.withdrawClaim(id, 'w2');
        const before = await cp.fetchCheckpoint(id);
        await expect(cp.withdrawClaim(id, 'w2')).resolves.toBeUndefined();
        const unclaimed = shard();
        await cp.getLease(unclaimed, { workerId: 'w1' });
        await cp.checkpointSequence(unclaimed, { workerId: 'w1', checkpoint: '8' });
        const unclaimedBefore = await cp.fetchCheckpoint(unclaimed);
        await expect(cp.withdrawClaim(unclaimed, 'w2')).resolves.toBeUndefined();
        await expect(cp.fetchCheckpoint(id)).resolves.toEqual(before);
        await expect(cp.fetchCheckpoint(unclaimed)).resolves.toEqual(unclaimedBefore);
      });

      it('succeeds on a shard with no row, and creates none', async () => {
        const id = shard();
        await expect(cp.withdrawClaim(id, 'w2')).resolves.toBeUndefined();
        await expect(cp.claimShard(id, 'w2')).rejects.toBeInstanceOf(ShardNotFoundError);
      });

      it('fails with ValidationError naming shardId or workerId, and changes nothing', async () => {
        const id = shard();
        await cp.getLease(id, { workerId: 'w1' });
        await cp.checkpointSequence(id, { workerId: 'w1', checkpoint: '9' });
        await cp.claimShard(id, 'w2');
        const before = await cp.fetchCheckpoint(id);
        expect(fieldsOf(await failure(cp.withdrawClaim('bad/id', 'w2')))).toEqual(['shardId']);
        expect(fieldsOf(await failure(cp.withdrawClaim('x'.repeat(129), 'w2')))).toEqual(['shardId']);
        expect(fieldsOf(await failure(cp.withdrawClaim(id, '')))).toEqual(['workerId']);
        expect(fieldsOf(await failure(cp.withdrawClaim(id, 'x'.repeat(257))))).toEqual(['workerId']);
        expect(fieldsOf(await failure(cp.withdrawClaim(id, 'w\u00072')))).toEqual(['workerId']);
        await expect(cp.fetchCheckpoint(id)).resolves.toEqual(before);
        expect(before.claimRequest).toBe('w2');
      });
    });

    describe('leaseTerms', () => {
      it('states the lease duration and claim timeout the service runs with, and nothing else', async () => {
        await expect(cp.leaseTerms()).resolves.toEqual(BEHAVIOUR_TERMS);
      });
    });

    describe('renewLeases', () => {
      it('renews the worker’s leases and reports each lost one with its reason, never taking a shard', async () => {
        const [mine, taken, claimed, free] = [shard(), shard(), shard(), shard()];
        await cp.getLease(mine, { workerId: 'w1' });
        await cp.getLease(taken, { workerId: 'w2' });
        await cp.getLease(claimed, { workerId: 'w1' });
        await cp.claimShard(claimed, 'w3');
        clock.advance(1_000);
        const result = await cp.renewLeases('w1', [mine, taken, claimed, free]);
        expect(result.failed).toEqual([]);
        expect(result.renewed).toEqual([
          expect.objectContaining({
            shardId: mine,
            owner: 'w1',
            leaseCounter: 1,
            leaseTimeout: formatLeaseTime(clock.now() + leaseDurationMs),
          }),
        ]);
        expect(result.lost).toEqual([
          expect.objectContaining({ shardId: taken, code: 'LeaseLost', owner: 'w2' }),
          expect.objectContaining({ shardId: claimed, code: 'ShardClaimed', claimRequest: 'w3' }),
          expect.objectContaining({ shardId: free, code: 'LeaseLost' }),
        ]);
        await expect(cp.getLeaseOwner(free)).rejects.toBeInstanceOf(NoLeaseOwnerError);
        await expect(cp.getLeaseOwner(taken)).resolves.toBe('w2');
      });

      it('fails with ValidationError naming shardIds for an empty list or a bad id', async () => {
        expect(fieldsOf(await failure(cp.renewLeases('w1', [])))).toEqual(['shardIds']);
        expect(fieldsOf(await failure(cp.renewLeases('w1', ['ok', 'bad/id'])))).toEqual(['shardIds.1']);
      });
    });

    describe('listActiveWorkers', () => {
      it('groups live leases by worker, skips ended shards, and lists the unassigned of the asked set', async () => {
        const [a, b, c, ended, expired, absent] = [shard(), shard(), shard(), shard(), shard(), shard()];
        await cp.getLease(expired, { workerId: 'w9' });
        clock.advance(leaseDurationMs + 1);
        await cp.getLease(a, { workerId: 'w1' });
        await cp.getLease(b, { workerId: 'w1' });
        await cp.getLease(c, { workerId: 'w2' });
        await cp.getLease(ended, { workerId: 'w2' });
        await cp.checkpointSequence(ended, { workerId: 'w2', checkpoint: 'SHARD_END' });
        const active = await cp.listActiveWorkers({ shardIds: [a, b, c, ended, expired, absent] });
        expect(Object.keys(active.workers).sort()).toEqual(['w1', 'w2']);
        expect(active.workers.w1?.map((l) => l.shardId).sort()).toEqual([a, b]);
        expect(active.workers.w2?.map((l) => l.shardId)).toEqual([c]);
        expect([...active.unassigned].sort()).toEqual([absent, expired].sort());
      });

      it('fails with ShardNotAssigned listing the unassigned shards when strict', async () => {
        const [owned, free] = [shard(), shard()];
        await cp.getLease(owned, { workerId: 'w1' });
        const error = await failure(cp.listActiveWorkers({ shardIds: [owned, free], strict: true }));
        expect(error).toBeInstanceOf(ShardNotAssignedError);
        expect(error.code).toBe('ShardNotAssigned');
        expect(error.message).toBe('AssignedToNotFoundForShard');
        expect(error.details).toMatchObject({ shardIds: [free] });
        await expect(cp.listActiveWorkers({ shardIds: [owned], strict: true })).resolves.toMatchObject({
          unassigned: [],
        });
      });

      it('fails with ValidationError naming shardIds for a bad id in the set', async () => {
        const error = await failure(cp.listActiveWorkers({ shardIds: ['ok', 'no way'] }));
        expect(fieldsOf(error)).toEqual(['shardIds.1']);
      });
    });

    describe('heartbeat', () => {
      it('renews the held leases and carries the lease terms and the overdue shards', async () => {
        const id = shard();
        const held = await cp.getLease(id, { workerId: 'hb-w1' });
        clock.advance(1_000);
        const answer = await cp.heartbeat('hb-w1', {
          held: [{ shardId: id, leaseCounter: held.leaseCounter }],
          capacity: 1,
        });
        expect(answer.renewed).toEqual([
          expect.objectContaining({
            shardId: id,
            owner: 'hb-w1',
            leaseTimeout: formatLeaseTime(clock.now() + leaseDurationMs),
          }),
        ]);
        expect(answer.terms).toEqual(BEHAVIOUR_TERMS);
        expect(Array.isArray(answer.overdue)).toBe(true);
        expect(answer.overdue.every((shardId) => typeof shardId === 'string')).toBe(true);
      });

      it('carries the lease terms when the worker holds nothing', async () => {
        const answer = await cp.heartbeat('hb-w2', { held: [], capacity: 0 });
        expect(answer).toMatchObject({ renewed: [], lost: [], failed: [], terms: BEHAVIOUR_TERMS });
        expect(Array.isArray(answer.overdue)).toBe(true);
      });
    });

    describe('heartbeat plans (each on its own table: the plan reads every row)', () => {
      const { leaseDurationMs: lease } = BEHAVIOUR_TERMS;

      it('tells a worker to take again the live leases under its id that it did not list (an earlier process’s)', async () => {
        const own = await factory();
        try {
          await own.checkpointer.getLease('shardId-orphan', { workerId: 'restarted' });
          own.clock.advance(lease / 2);
          const answer = await own.checkpointer.heartbeat('restarted', { held: [] });
          expect(answer.take).toContain('shardId-orphan');
        } finally {
          await own.close();
        }
      });

      it('leaving: forgets the worker at once, so the shards it gave back are planned for the others', async () => {
        const own = await factory();
        const c = own.checkpointer;
        try {
          // Two workers heard from and past their join delay; `a` holds both shards.
          for (const w of ['a', 'b']) await c.heartbeat(w, { held: [] });
          own.clock.advance(lease / 2);
          const leases = await Promise.all(
            ['shardId-l0', 'shardId-l1'].map((id) => c.getLease(id, { workerId: 'a' })),
          );
          own.clock.advance(lease / 3);
          const before = await c.heartbeat('b', { held: [] });
          // Counted in the plan, `a` keeps one; `b` is to claim the other.
          expect(before.target).toBe(1);
          for (const held of leases)
            await c.removeLeaseOwner(held.shardId, 'a', { leaseCounter: held.leaseCounter });
          const left = await c.heartbeat('a', { held: [], leaving: true });
          expect(left).toMatchObject({ renewed: [], take: [], steals: [], overdue: [], target: 0 });
          const after = await c.heartbeat('b', { held: [] });
          expect(after.target).toBe(2);
          expect([...after.take].sort()).toEqual(['shardId-l0', 'shardId-l1']);
        } finally {
          await own.close();
        }
      });

      it('refuses to leave while listing held leases, naming held, and changes nothing', async () => {
        const error = await failure(
          cp.heartbeat('leaving-w', { held: [{ shardId: shard(), leaseCounter: 1 }], leaving: true }),
        );
        expect(fieldsOf(error)).toEqual(['held']);
      });
    });

    describe('listShards', () => {
      let listing: CheckpointerFixture;
      const ids = ['shardId-a', 'shardId-b', 'shardId-c', 'shardId-d', 'shardId-e'];

      beforeAll(async () => {
        // Its own table: a listing sees every row, so it must not share one with the other cases.
        listing = await factory();
        for (const id of ids) await listing.checkpointer.getLease(id, { workerId: 'w1' });
      });
      afterAll(async () => {
        await listing?.close();
      });

      it('pages through every shard with a cursor, at most `limit` per page', async () => {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await listing.checkpointer.listShards({ limit: 2, ...(cursor && { cursor }) });
          expect(page.shards.length).toBeLessThanOrEqual(2);
          seen.push(...page.shards.map((s) => s.shardId));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== undefined && pages < 10);
        expect(seen.sort()).toEqual(ids);
        expect(pages).toBeGreaterThanOrEqual(3);
      });

      it('pages past the worker registry rows of a heartbeating fleet, whichever row a page ends on', async () => {
        const fleet = await factory();
        try {
          for (const id of ids) await fleet.checkpointer.getLease(id, { workerId: 'w1' });
          for (const worker of ['w1', 'w2', 'w 3']) await fleet.checkpointer.heartbeat(worker, { held: [] });
          // Pages of one: some page ends on a registry row, and its cursor must lead on.
          const seen: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await fleet.checkpointer.listShards({ limit: 1, ...(cursor && { cursor }) });
            seen.push(...page.shards.map((s) => s.shardId));
            cursor = page.nextCursor;
            pages++;
          } while (cursor !== undefined && pages < 20);
          expect(seen.sort()).toEqual(ids);
          expect(pages).toBeGreaterThanOrEqual(ids.length + 3);
        } finally {
          await fleet.close();
        }
      });

      it('returns every shard as a lease on one page by default, with no cursor', async () => {
        const page = await listing.checkpointer.listShards();
        expect(page.nextCursor).toBeUndefined();
        expect(page.shards.map((s) => s.shardId).sort()).toEqual(ids);
        expect(page.shards[0]).toMatchObject({ owner: 'w1', leaseCounter: 1 });
      });

      it('fails with ValidationError naming limit and cursor', async () => {
        expect(fieldsOf(await failure(listing.checkpointer.listShards({ limit: 0 })))).toEqual(['limit']);
        expect(fieldsOf(await failure(listing.checkpointer.listShards({ limit: 1001 })))).toEqual(['limit']);
        expect(fieldsOf(await failure(listing.checkpointer.listShards({ cursor: '!!' })))).toEqual([
          'cursor',
        ]);
      });
    });
  });
}
