import { evaluateCondition } from '../../lib/core/condition';
import {
  CheckpointRegressionError,
  LeaseLostError,
  LeaseNotAcquiredError,
  ShardClaimedError,
  ShardEndedError,
  ShardNotFoundError,
} from '../../lib/core/errors';
import { checkpointRenewed, type Lease, type LeaseRow, toLease, toRow } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import {
  answerShowsUpdate,
  checkpointCondition,
  checkpointPlan,
  checkpointUpdate,
  claimCondition,
  explainCheckpointRefusal,
  explainClaimRefusal,
  explainReleaseRefusal,
  explainRemoveRowRefusal,
  explainRenewRefusal,
  explainTakeRefusal,
  handoverWindowMs,
  isWellFormed,
  leaseIsLive,
  type RowUpdate,
  renewCondition,
  renewUpdate,
  ruleTimes,
  takeCondition,
  takePlan,
} from '../../lib/core/rules';

const NOW = Date.parse('2026-11-24T19:00:00.000Z');
const terms = { leaseDurationMs: 10_000, claimTimeoutMs: 60_000 };
const t = ruleTimes(NOW, terms);
const at = (offsetMs: number) => formatLeaseTime(NOW + offsetMs);

const live: LeaseRow = {
  ShardID: 's',
  AssignedTo: 'w1',
  LeaseTimeout: at(5_000),
  LeaseCounter: 4,
  Checkpoint: '100',
};
const expired: LeaseRow = { ...live, LeaseTimeout: at(-1) };
const claimed: LeaseRow = { ...live, ClaimRequest: 'w2', ClaimedAt: at(-1_000) };

describe('ruleTimes', () => {
  it('derives every instant from one clock reading', () => {
    expect(t).toEqual({
      nowMs: NOW,
      now: '2026-11-24T19:00:00.000000001Z',
      claimCutoff: '2026-11-24T18:59:00.000000001Z',
      handoverCutoff: '2026-11-24T18:59:55.000000001Z',
      newLeaseTimeout: '2026-11-24T19:00:10.000000001Z',
    });
  });
});

describe('take and renew conditions', () => {
  it('let a worker take a free or expired lease (its own included), and nobody a live one', () => {
    expect(evaluateCondition(takeCondition('w2', t), undefined)).toBe(true);
    expect(evaluateCondition(takeCondition('w2', t), expired)).toBe(true);
    expect(evaluateCondition(takeCondition('w1', t), expired)).toBe(true);
    // The holder's own live lease is renewed, not taken: the counter moves only when hands change.
    expect(evaluateCondition(takeCondition('w1', t), live)).toBe(false);
    expect(evaluateCondition(renewCondition('w1', t), live)).toBe(true);
    expect(evaluateCondition(takeCondition('w2', t), live)).toBe(false);
    // A lease is live while now is before its timeout: at the timeout it is free.
    expect(evaluateCondition(takeCondition('w2', t), { ...live, LeaseTimeout: at(0) })).toBe(true);
  });

  it('let only the claimer take a claimed shard, and never renew what the caller does not hold', () => {
    expect(evaluateCondition(takeCondition('w1', t), claimed)).toBe(false);
    expect(evaluateCondition(takeCondition('w2', t), { ...claimed, LeaseTimeout: at(-1) })).toBe(true);
    expect(evaluateCondition(takeCondition('w3', t), { ...claimed, LeaseTimeout: at(-1) })).toBe(false);
    expect(evaluateCondition(renewCondition('w2', t), expired)).toBe(false);
    // An expired lease is not renewed: its holder was told to stop at its expiry.
    expect(evaluateCondition(renewCondition('w1', t), expired)).toBe(false);
    expect(evaluateCondition(renewCondition('w1', t), claimed)).toBe(false);
  });

  it('never let a renewal shorten the lease the caller holds', () => {
    const longer = { ...live, LeaseTimeout: at(terms.leaseDurationMs + 1) };
    expect(evaluateCondition(renewCondition('w1', t), longer)).toBe(false);
    expect(evaluateCondition(renewCondition('w1', t), { ...live, LeaseTimeout: t.newLeaseTimeout })).toBe(
      true,
    );
  });

  it('let a Go-written claim (no ClaimedAt) lapse a claim timeout after the lease expired', () => {
    const goClaim: LeaseRow = {
      ShardID: 's',
      AssignedTo: 'w1',
      ClaimRequest: 'w2',
      LeaseTimeout: at(-59_999),
    };
    expect(evaluateCondition(takeCondition('w3', t), goClaim)).toBe(false);
    expect(evaluateCondition(takeCondition('w3', t), { ...goClaim, LeaseTimeout: at(-60_000) })).toBe(true);
  });
});

describe('claims', () => {
  it('lapse half a lease after the claimed lease ended, so that a crashed claimer blocks nobody for long', () => {
    const released: LeaseRow = {
      ShardID: 's',
      LeaseTimeout: at(-1),
      ClaimRequest: 'w2',
      ClaimedAt: at(-1_000),
    };
    expect(evaluateCondition(takeCondition('w3', t), released)).toBe(false);
    const window = Math.ceil(terms.leaseDurationMs / 2);
    expect(evaluateCondition(takeCondition('w3', t), { ...released, LeaseTimeout: at(-window + 1) })).toBe(
      false,
    );
    expect(evaluateCondition(takeCondition('w3', t), { ...released, LeaseTimeout: at(-window) })).toBe(true);
    // Still the claimer's meanwhile.
    expect(evaluateCondition(takeCondition('w2', t), released)).toBe(true);
  });
});

describe('explainTakeRefusal', () => {
  it('is ShardClaimed with the claimer when another worker’s claim is fresh', () => {
    const error = explainTakeRefusal(claimed, 'w1', t);
    expect(error).toBeInstanceOf(ShardClaimedError);
    expect(error.details).toMatchObject({ owner: 'w1', claimRequest: 'w2', leaseCounter: 4 });
  });

  it('is LeaseNotAcquired with the owner and timeout while another worker’s lease is live', () => {
    const error = explainTakeRefusal(live, 'w2', t);
    expect(error).toBeInstanceOf(LeaseNotAcquiredError);
    expect(error.message).toBe('lease not acquired: current lease timeout not yet expired');
    expect(error.details).toEqual({
      owner: 'w1',
      leaseTimeout: at(5_000),
      checkpoint: '100',
      leaseCounter: 4,
    });
  });

  it('is LeaseNotAcquired (changed concurrently) when the row as read would now allow the take', () => {
    const error = explainTakeRefusal(expired, 'w2', t);
    expect(error).toBeInstanceOf(LeaseNotAcquiredError);
    expect(error.message).toMatch(/changed concurrently/);
  });
});

describe('explainRenewRefusal', () => {
  it('is LeaseLost for a missing row, another owner, or no owner', () => {
    expect(explainRenewRefusal(undefined, 'w1', t)).toBeInstanceOf(LeaseLostError);
    const taken = explainRenewRefusal(live, 'w2', t);
    expect(taken).toBeInstanceOf(LeaseLostError);
    expect(taken.message).toBe('lease lost: the shard is owned by w1');
    expect(taken.details).toMatchObject({ owner: 'w1' });
    const { AssignedTo: _, ...unowned } = live;
    expect(explainRenewRefusal(unowned, 'w1', t).message).toBe('lease lost: the shard has no owner');
  });

  it('is ShardClaimed when the owner’s renewal meets another worker’s fresh claim', () => {
    expect(explainRenewRefusal(claimed, 'w1', t)).toBeInstanceOf(ShardClaimedError);
  });
});

describe('explainCheckpointRefusal', () => {
  const request = { workerId: 'w1', checkpoint: '200' };

  it('is LeaseLost naming the new owner for a zombie', () => {
    const error = explainCheckpointRefusal({ ...live, AssignedTo: 'w2' }, request, t);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.message).toBe('lease lost: the shard is owned by w2');
  });

  it('is LeaseLost naming the timeout when the caller’s lease expired', () => {
    const error = explainCheckpointRefusal(expired, request, t);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.message).toBe(`lease lost: the lease expired at ${at(-1)}`);
    // The row still names the caller: the hint must not tell it that it (someone else) holds the lease.
    expect(error.hint).toMatch(/^the lease expired before this worker renewed it/);
    expect(error.hint).not.toContain('w1');
  });

  it('is LeaseLost naming both counters when the fencing token moved on', () => {
    const error = explainCheckpointRefusal(live, { ...request, leaseCounter: 3 }, t);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.message).toMatch(/lease counter 4, not 3/);
    expect(error.hint).toMatch(/^the lease was taken again under this worker id/);
  });

  it('is CheckpointRegression with the requested and recorded checkpoints when it would go backwards', () => {
    const error = explainCheckpointRefusal(live, { ...request, checkpoint: '99' }, t);
    expect(error).toBeInstanceOf(CheckpointRegressionError);
    expect(error.details).toMatchObject({ requested: '99', checkpoint: '100' });
    expect(explainCheckpointRefusal({ ...live, Checkpoint: 'SHARD_END' }, request, t)).toBeInstanceOf(
      CheckpointRegressionError,
    );
  });

  it('agrees with the condition: SHARD_END may be written again, and nothing after it', () => {
    const ended = { ...live, Checkpoint: 'SHARD_END' };
    expect(
      evaluateCondition(checkpointCondition({ workerId: 'w1', checkpoint: 'SHARD_END' }, t), ended),
    ).toBe(true);
    expect(
      evaluateCondition(checkpointCondition({ workerId: 'w1', checkpoint: '9'.repeat(128) }, t), ended),
    ).toBe(false);
    expect(evaluateCondition(checkpointCondition({ workerId: 'w1', checkpoint: '100' }, t), live)).toBe(true);
    expect(evaluateCondition(checkpointCondition({ workerId: 'w1', checkpoint: '1000' }, t), live)).toBe(
      true,
    );
  });
});

describe('explainReleaseRefusal', () => {
  it('is LeaseLost naming the real owner', () => {
    const error = explainReleaseRefusal(live, 'w2');
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.message).toBe('lease lost: the shard is owned by w1, not w2');
    expect(explainReleaseRefusal(undefined, 'w2').message).toMatch(/no lease row/);
  });
});

describe('explainClaimRefusal', () => {
  it('is NotFound without a row and ShardEnded for an ended shard', () => {
    expect(evaluateCondition(claimCondition(t), undefined)).toBe(false);
    expect(explainClaimRefusal(undefined, 's', 'w2', t)).toBeInstanceOf(ShardNotFoundError);
    expect(explainClaimRefusal({ ...live, Checkpoint: 'SHARD_END' }, 's', 'w2', t)).toBeInstanceOf(
      ShardEndedError,
    );
  });

  it('is ShardClaimed for another claimer, and nothing for the same claimer again', () => {
    expect(evaluateCondition(claimCondition(t), claimed)).toBe(false);
    const error = explainClaimRefusal(claimed, 's', 'w3', t);
    expect(error).toBeInstanceOf(ShardClaimedError);
    expect(error?.details).toMatchObject({ claimRequest: 'w2' });
    expect(explainClaimRefusal(claimed, 's', 'w2', t)).toBeUndefined();
  });

  it('lets a lapsed claim be replaced', () => {
    expect(evaluateCondition(claimCondition(t), { ...claimed, ClaimedAt: at(-60_000) })).toBe(true);
  });
});

describe('leaseIsLive', () => {
  const instant = Date.parse('2026-11-24T19:10:41.000Z');
  const lease = (extra: Partial<Lease>): Lease => ({ shardId: 's', leaseCounter: 1, ...extra });

  it('holds while the owner’s timeout is ahead, and not at the timeout itself', () => {
    const live = lease({ owner: 'w1', leaseTimeout: formatLeaseTime(instant + 1) });
    expect(leaseIsLive(live, instant)).toBe(true);
    expect(leaseIsLive(live, instant + 1)).toBe(false);
  });

  it('does not hold without an owner, or without a timeout', () => {
    expect(leaseIsLive(lease({ leaseTimeout: formatLeaseTime(instant + 10_000) }), instant)).toBe(false);
    expect(leaseIsLive(lease({ owner: 'w1' }), instant)).toBe(false);
  });

  it('reads a Go whole-second timeout as the table’s writes do (live until the next second)', () => {
    const go = lease({ owner: 'w1', leaseTimeout: '2026-11-24T19:10:41Z' });
    expect(leaseIsLive(go, instant + 999)).toBe(true);
    expect(leaseIsLive(go, instant + 1000)).toBe(false);
  });

  it('agrees with the row it came from', () => {
    const row: LeaseRow = {
      ShardID: 's',
      AssignedTo: 'w1',
      LeaseTimeout: formatLeaseTime(instant + 5),
      LeaseCounter: 3,
    };
    expect(toRow(toLease(row))).toEqual(row);
  });
});

describe('answerShowsUpdate (a write counts as done only when the answer proves it)', () => {
  const update: RowUpdate = {
    set: [
      ['AssignedTo', { kind: 'set', value: 'w1' }],
      ['Checkpoint', { kind: 'setIfMissing', value: '' }],
      ['LeaseCounter', { kind: 'increment', by: 1 }],
    ],
    remove: ['ClaimRequest'],
  };
  const answer: LeaseRow = { ShardID: 's', AssignedTo: 'w1', Checkpoint: '100', LeaseCounter: 5 };

  it('accepts the row with every value set, every counter a whole number and every removal gone', () => {
    expect(answerShowsUpdate(answer, 's', update)).toBe(true);
    expect(answerShowsUpdate(answer, 's', { set: [], remove: [] })).toBe(true);
  });

  it('refuses no answer, another shard, or a row with a wrongly typed attribute', () => {
    expect(answerShowsUpdate(undefined, 's', update)).toBe(false);
    expect(answerShowsUpdate(answer, 'other', update)).toBe(false);
    expect(answerShowsUpdate({ ...answer, LeaseTimeout: 5 }, 's', update)).toBe(false);
  });

  it('refuses a value not as written, a set-if-missing of another type, a counter that is no whole number', () => {
    expect(answerShowsUpdate({ ...answer, AssignedTo: 'w2' }, 's', update)).toBe(false);
    expect(answerShowsUpdate({ ...answer, Checkpoint: undefined }, 's', update)).toBe(false);
    expect(answerShowsUpdate({ ...answer, LeaseCounter: undefined }, 's', update)).toBe(false);
    expect(answerShowsUpdate({ ...answer, LeaseCounter: 5.5 }, 's', update)).toBe(false);
  });

  it('refuses a row that still has an attribute the update removes', () => {
    expect(answerShowsUpdate({ ...answer, ClaimRequest: 'w2' }, 's', update)).toBe(false);
  });
});

describe('isWellFormed', () => {
  it('wants strings for the string attributes and numbers for the counters, and ignores unknown ones', () => {
    expect(isWellFormed({ ShardID: 's', LeaseCounter: 1, Capacity: 4, Foreign: 7 })).toBe(true);
    expect(isWellFormed({ ShardID: 's', LeaseCounter: '1' })).toBe(false);
    expect(isWellFormed({ ShardID: 's', Capacity: '4' })).toBe(false);
    expect(isWellFormed({ ShardID: 's', AssignedTo: 3 })).toBe(false);
    expect(isWellFormed({ ShardID: 7 })).toBe(false);
  });
});

describe('handoverWindowMs', () => {
  it('is half a lease, in whole milliseconds rounded up: longer than the claimer’s renewal period', () => {
    expect(handoverWindowMs({ leaseDurationMs: 10_000 })).toBe(5_000);
    expect(handoverWindowMs({ leaseDurationMs: 9_001 })).toBe(4_501);
    for (const leaseDurationMs of [3_000, 9_001, 10_000, 60_000]) {
      expect(handoverWindowMs({ leaseDurationMs })).toBeGreaterThan(leaseDurationMs / 3);
    }
  });
});

describe('the refusals nothing else explains (found by mutation testing: their words were unchecked)', () => {
  const { LeaseTimeout: _timeout, ...noTimeout } = live;
  const { AssignedTo: _owner, ...unowned } = live;
  const request = { workerId: 'w1', checkpoint: '200' };

  it('says a lease with no timeout expired at an unknown time', () => {
    expect(explainRenewRefusal(noTimeout, 'w1', t).message).toBe(
      'lease lost: the lease expired at an unknown time',
    );
    expect(explainCheckpointRefusal(noTimeout, request, t).message).toBe(
      'lease lost: the lease expired at an unknown time',
    );
  });

  it('says the lease changed concurrently when the row as read would now allow the write', () => {
    expect(explainRenewRefusal(live, 'w1', t).message).toBe('lease lost: the lease changed concurrently');
    const error = explainCheckpointRefusal(live, { ...request, leaseCounter: 4 }, t);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error.message).toBe('lease lost: the lease changed concurrently');
  });

  it('names a missing row, a missing owner and an unknown holder', () => {
    expect(explainCheckpointRefusal(undefined, request, t).message).toBe(
      'lease lost: the shard has no lease row',
    );
    expect(explainReleaseRefusal(unowned, 'w2').message).toBe('lease lost: the shard has no owner');
    expect(explainRemoveRowRefusal(undefined).message).toBe(
      'lease not acquired: another worker holds a live lease on the shard (force=true deletes it anyway)',
    );
    expect(explainRemoveRowRefusal(live).message).toMatch(/^lease not acquired: w1 holds a live lease/);
  });
});

describe('checkpointUpdate and checkpointPlan', () => {
  it('records the parent shard only when the checkpoint names one, and never over a recorded one', () => {
    const withParent = checkpointUpdate({ workerId: 'w1', checkpoint: '200', parentShardId: 'p' }, t);
    expect(withParent.set).toContainEqual(['ParentShardId', { kind: 'setIfMissing', value: 'p' }]);
    const without = checkpointUpdate({ workerId: 'w1', checkpoint: '200' }, t);
    expect(without.set.map(([name]) => name)).toEqual(['Checkpoint', 'CheckpointedAt']);
  });

  it('writes once more over an unnormalized stored checkpoint that is not ahead (equal included)', () => {
    const plan = checkpointPlan({ workerId: 'w1', checkpoint: '123' });
    const decision = plan(t).onRefusal({ ...live, Checkpoint: '000123' });
    expect(decision.kind).toBe('next');
  });

  it('does not write again over a normalized stored checkpoint: the refusal is explained', () => {
    const plan = checkpointPlan({ workerId: 'w1', checkpoint: '200' });
    // The renewing write refused on a row the checkpoint alone fits: that is written next, and its own
    // refusal on the same row is a concurrent change.
    const alone = plan(t).onRefusal(live);
    expect(alone.kind).toBe('next');
    expect(alone.kind === 'next' && alone.plan(t).onRefusal(live)).toMatchObject({
      kind: 'fail',
      error: { message: 'lease lost: the lease changed concurrently' },
    });
    expect(plan(t).onRefusal({ ...live, Checkpoint: '000300' }).kind).toBe('fail');
  });

  it('renews the lease in the same write: a lease from now, never shorter, never while a claim is pending', () => {
    const write = checkpointPlan({ workerId: 'w1', checkpoint: '200' })(t);
    expect(write.update.set).toContainEqual(['LeaseTimeout', { kind: 'set', value: t.newLeaseTimeout }]);
    expect(evaluateCondition(write.condition, live)).toBe(true);
    expect(evaluateCondition(write.condition, { ...live, LeaseTimeout: at(terms.leaseDurationMs) })).toBe(
      true,
    );
    const longer: LeaseRow = { ...live, LeaseTimeout: at(terms.leaseDurationMs + 1) };
    const lapsedClaim: LeaseRow = { ...live, ClaimRequest: 'w2', ClaimedAt: at(-terms.claimTimeoutMs - 1) };
    expect(evaluateCondition(write.condition, lapsedClaim)).toBe(true);
    // Settled in the same write, as a renewal settles it: a claim left in the answer is a pending one.
    expect(write.update.remove).toEqual(expect.arrayContaining(['ClaimRequest', 'ClaimedAt']));
    for (const row of [claimed, longer]) {
      expect(evaluateCondition(write.condition, row)).toBe(false);
      // Refused there: the checkpoint alone, which leaves the timeout as it is.
      const decision = write.onRefusal(row);
      expect(decision.kind).toBe('next');
      const alone = decision.kind === 'next' ? decision.plan(t) : undefined;
      expect(alone?.update.set.map(([name]) => name)).toEqual(['Checkpoint', 'CheckpointedAt']);
      expect(alone && evaluateCondition(alone.condition, row)).toBe(true);
    }
    // Not the caller's lease (expired here): explained at once, nothing more written.
    expect(write.onRefusal(expired)).toMatchObject({ kind: 'fail', error: { code: 'LeaseLost' } });
  });
});

describe('checkpointRenewed', () => {
  const lease = (
    checkpointedAtMs: number,
    timeoutMs: number,
  ): Pick<Lease, 'leaseTimeout' | 'checkpointedAt'> => ({
    checkpointedAt: formatLeaseTime(checkpointedAtMs),
    leaseTimeout: formatLeaseTime(timeoutMs),
  });

  it('is true when the answer’s timeout is exactly a lease after its checkpoint (one write, one clock reading)', () => {
    expect(checkpointRenewed(lease(NOW, NOW + 10_000), 10_000)).toBe(true);
    expect(checkpointRenewed(lease(NOW, NOW + 9_999), 10_000)).toBe(false);
    expect(checkpointRenewed(lease(NOW, NOW + 10_001), 10_000)).toBe(false);
    expect(checkpointRenewed({ checkpointedAt: formatLeaseTime(NOW) }, 10_000)).toBe(false);
    expect(checkpointRenewed({ leaseTimeout: formatLeaseTime(NOW) }, 10_000)).toBe(false);
    expect(checkpointRenewed({ checkpointedAt: 'soon', leaseTimeout: formatLeaseTime(NOW) }, 0)).toBe(false);
  });
});

describe('what the last mutation run of the rules left unguarded', () => {
  it('does not count an answer whose counter is not a whole number as proof of a take', () => {
    const take: RowUpdate = { set: [['LeaseCounter', { kind: 'increment', by: 1 }]], remove: [] };
    expect(answerShowsUpdate({ ...live, LeaseCounter: 5 }, 's', take)).toBe(true);
    expect(answerShowsUpdate({ ...live, LeaseCounter: 1.5 }, 's', take)).toBe(false);
  });

  it('records, when a GetLease turns out to be a renewal, the parent the row lacks', () => {
    expect(renewUpdate('w1', t, { parentShardId: 'p' }).set).toContainEqual([
      'ParentShardId',
      { kind: 'setIfMissing', value: 'p' },
    ]);
    // The holder's take is refused (the lease is live) and becomes that renewal, parent included; a
    // renewal refused because the lease expired meanwhile becomes a take again.
    const decision = takePlan({ workerId: 'w1', parentShardId: 'p' })(t).onRefusal(live);
    expect(decision.kind).toBe('next');
    const renewal = decision.kind === 'next' ? decision.plan(t) : undefined;
    expect(renewal?.update.set).toContainEqual(['ParentShardId', { kind: 'setIfMissing', value: 'p' }]);
    expect(renewal?.onRefusal({ ...live, LeaseTimeout: at(-1) }).kind).toBe('next');
  });

  it('explains a refused claim on a row that changed meanwhile (no claim left, not ended) as ShardClaimed', () => {
    const unclaimed: LeaseRow = { ShardID: 's', AssignedTo: 'w1', LeaseTimeout: at(5_000) };
    expect(explainClaimRefusal(unclaimed, 's', 'w2', t)).toMatchObject({ code: 'ShardClaimed' });
  });
});
