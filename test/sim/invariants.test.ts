/**
 * The simulation's checks, driven by hand: each fires on the history it is about, and stays quiet on
 * the one that is fine, so that a green simulation means the histories were fine.
 */
import { Attr, type LeaseRow } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { VirtualScheduler } from '../../lib/core/scheduler';
import { Invariants } from './invariants';
import type { AppliedWrite } from './memory-row-store';
import { Trace } from './trace';

const L = 1_000;
const PARENTS: Record<string, string[]> = { child: ['p1', 'p2'] };

function setup() {
  const scheduler = new VirtualScheduler(0);
  const invariants = new Invariants({
    clock: scheduler,
    trace: new Trace(scheduler),
    leaseDurationMs: L,
    shardIds: ['s', 'p1', 'p2', 'child'],
    parentsOf: (shardId) => PARENTS[shardId] ?? [],
  });
  const row = (owner: string, expiresAtMs: number, checkpoint?: string): LeaseRow => ({
    [Attr.ShardId]: 's',
    [Attr.AssignedTo]: owner,
    [Attr.LeaseTimeout]: formatLeaseTime(expiresAtMs),
    ...(checkpoint !== undefined && { [Attr.Checkpoint]: checkpoint }),
  });
  const write = (
    shardId: string,
    before: LeaseRow | undefined,
    after: LeaseRow | undefined,
  ): AppliedWrite => ({
    kind: 'update',
    shardId,
    before,
    after,
    atMs: scheduler.now(),
  });
  return { scheduler, invariants, row, write };
}

const kinds = (invariants: Invariants) => invariants.violations.map((v) => v.kind);

describe('the invariants', () => {
  it('see two processors of a shard when the second is gained before the first aborts', async () => {
    const { scheduler, invariants } = setup();
    const first = invariants.gained('s', 'w0#1');
    await scheduler.advance(10);
    const second = invariants.gained('s', 'w1#1');
    expect(kinds(invariants)).toEqual(['twoProcessors']);
    invariants.ended(first, 'aborted');
    invariants.sideEffect(second, { from: 0, to: 1, lastSequenceNumber: '1' });
    expect(kinds(invariants)).toEqual(['twoProcessors']);
  });

  it('accept a handover once the first processor was aborted, and refuse its side effects after that', () => {
    const { invariants } = setup();
    const first = invariants.gained('s', 'w0#1');
    invariants.ended(first, 'aborted');
    const second = invariants.gained('s', 'w1#1');
    invariants.sideEffect(second, { from: 0, to: 1, lastSequenceNumber: '1' });
    expect(invariants.ok).toBe(true);
    invariants.sideEffect(first, { from: 1, to: 2, lastSequenceNumber: '2' });
    expect(kinds(invariants)).toEqual(['sideEffectOutsideLease', 'twoProcessors']);
  });

  it('see a checkpoint go back (as big integers), move after SHARD_END, or land without a live lease', async () => {
    const { scheduler, invariants, row, write } = setup();
    invariants.applied(write('s', undefined, row('w0', 1_000, '900000000000000000001')));
    invariants.applied(write('s', undefined, row('w0', 1_000, '1000000000000000000000')));
    expect(invariants.ok).toBe(true);
    invariants.applied(write('s', undefined, row('w0', 1_000, '999999999999999999999')));
    expect(kinds(invariants)).toEqual(['checkpointRegression']);
    invariants.applied(write('s', undefined, row('w0', 1_000, 'SHARD_END')));
    invariants.applied(write('s', undefined, row('w0', 1_000, '5')));
    expect(kinds(invariants)).toEqual(['checkpointRegression', 'checkpointRegression']);
    await scheduler.advance(1_000);
    invariants.applied(write('s', undefined, row('w0', 1_000, 'SHARD_END')));
    expect(kinds(invariants)).toEqual([
      'checkpointRegression',
      'checkpointRegression',
      'checkpointWithoutLease',
    ]);
  });

  it('see a checkpoint reported as recorded that the table does not hold', () => {
    const { invariants, row, write } = setup();
    const processor = invariants.gained('s', 'w0#1');
    invariants.applied(write('s', undefined, row('w0', 1_000, '20')));
    invariants.checkpointConfirmed(processor, '20');
    invariants.checkpointConfirmed(processor, '3');
    expect(invariants.ok).toBe(true);
    invariants.checkpointConfirmed(processor, '21');
    expect(kinds(invariants)).toEqual(['phantomCheckpoint']);
  });

  it('see a live lease change hands, but not an expired one', async () => {
    const { scheduler, invariants, row, write } = setup();
    invariants.applied(write('s', row('w0', 500), row('w1', 1_500)));
    expect(kinds(invariants)).toEqual(['liveLeaseChangedHands']);
    await scheduler.advance(500);
    invariants.applied(write('s', row('w0', 500), row('w1', 1_500)));
    expect(kinds(invariants)).toEqual(['liveLeaseChangedHands']);
  });

  it('see a child processed before both its parents ended', () => {
    const { invariants, row, write } = setup();
    invariants.applied(write('p1', undefined, { ...row('w0', 1_000, 'SHARD_END'), [Attr.ShardId]: 'p1' }));
    const child = invariants.gained('child', 'w0#1');
    invariants.sideEffect(child, { from: 0, to: 1, lastSequenceNumber: '1' });
    expect(kinds(invariants)).toEqual(['childBeforeParent']);
    invariants.applied(write('p2', undefined, { ...row('w0', 1_000, 'SHARD_END'), [Attr.ShardId]: 'p2' }));
    invariants.sideEffect(child, { from: 1, to: 2, lastSequenceNumber: '2' });
    expect(kinds(invariants)).toEqual(['childBeforeParent']);
  });

  it('after the heal, see a due shard left unprocessed for more than three lease periods', async () => {
    const { scheduler, invariants } = setup();
    const processor = invariants.gained('s', 'w0#1');
    await scheduler.advance(5_000);
    invariants.healed();
    await scheduler.advance(2_000);
    invariants.sideEffect(processor, { from: 0, to: 1, lastSequenceNumber: '1' });
    invariants.checkRecovery();
    // s recovered after 2 periods; p1 and p2 (no parents) were never processed; child is not due.
    expect(invariants.worstRecoveryMs).toBe(2_000);
    expect(invariants.undecided().sort()).toEqual(['p1', 'p2']);
    await scheduler.advance(1_001);
    invariants.checkRecovery();
    expect(invariants.violations.map((v) => v.message.split(' ')[0])).toEqual(['p1', 'p2']);
    expect(kinds(invariants)).toEqual(['notRecovered', 'notRecovered']);
  });
});
