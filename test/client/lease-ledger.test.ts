import { LeaseLedger } from '../../lib/client/lease-ledger';

/**
 * The ledger decides what `stop()` reports as still owed (and what it releases by take id): a lease
 * counted as settled when it is not leaves a shard idle for a lease period with nobody told, and one
 * counted as owed when it is not sends a release that is refused.
 */
describe('LeaseLedger', () => {
  it('owes a granted lease until it is released, and counts each release once', () => {
    const ledger = new LeaseLedger();
    ledger.granted('a', 3);
    ledger.granted('b', 7);
    expect(ledger.result()).toEqual({
      leasesTaken: 2,
      leasesReleased: 0,
      leasesNotReleased: ['a', 'b'],
      claimsNotWithdrawn: [],
    });

    ledger.releasedLease('a', 3);
    ledger.releasedLease('a', 3);
    expect(ledger.result()).toMatchObject({ leasesTaken: 2, leasesReleased: 1, leasesNotReleased: ['b'] });
  });

  it('settles only the lease whose counter is given, or any lease without one', () => {
    const ledger = new LeaseLedger();
    ledger.granted('a', 5);
    // The release of an older lease of the same shard (counter 4) does not settle the newer one.
    ledger.releasedLease('a', 4);
    expect(ledger.result()).toMatchObject({ leasesReleased: 0, leasesNotReleased: ['a'] });

    ledger.releasedLease('a');
    expect(ledger.result()).toMatchObject({ leasesReleased: 1, leasesNotReleased: [] });

    // Nothing owed: a release changes nothing.
    ledger.releasedLease('never-taken');
    expect(ledger.result()).toMatchObject({ leasesTaken: 1, leasesReleased: 1 });
  });

  it('forgets a lease another worker holds now, without counting it as released', () => {
    const ledger = new LeaseLedger();
    ledger.granted('a', 1);
    ledger.granted('b', 2);
    ledger.gone('a', 9);
    expect(ledger.result()).toMatchObject({ leasesReleased: 0, leasesNotReleased: ['a', 'b'] });

    ledger.gone('a', 1);
    ledger.gone('b');
    expect(ledger.result()).toMatchObject({ leasesTaken: 2, leasesReleased: 0, leasesNotReleased: [] });
  });

  it('owes what an unanswered take may have granted, with its take id, until it is settled', () => {
    const ledger = new LeaseLedger();
    ledger.takeUnanswered('a', 'take-a');
    ledger.takeUnanswered('b', 'take-b');
    ledger.takeUnanswered('c', 'take-c');
    expect(ledger.uncertainTakes()).toEqual([
      { shardId: 'a', takeId: 'take-a' },
      { shardId: 'b', takeId: 'take-b' },
      { shardId: 'c', takeId: 'take-c' },
    ]);
    expect(ledger.result().leasesNotReleased).toEqual(['a', 'b', 'c']);

    // A later answer grants one, another is released by take id, the third seen in another's hands.
    ledger.granted('a', 1);
    ledger.releasedUncertain('b');
    ledger.gone('c');
    expect(ledger.uncertainTakes()).toEqual([]);
    expect(ledger.result()).toMatchObject({ leasesTaken: 1, leasesNotReleased: ['a'] });
  });

  it('keeps an unanswered take owed when another lease of the shard is seen gone by its counter', () => {
    const ledger = new LeaseLedger();
    ledger.takeUnanswered('a', 'take-a');
    // Another worker's lease with a known counter says nothing about what our take may have granted.
    ledger.gone('a', 4);
    expect(ledger.uncertainTakes()).toEqual([{ shardId: 'a', takeId: 'take-a' }]);
  });

  it('does not file a take as unanswered while the shard is owed anyway', () => {
    const ledger = new LeaseLedger();
    ledger.granted('a', 2);
    ledger.takeUnanswered('a', 'take-a');
    expect(ledger.uncertainTakes()).toEqual([]);
  });

  it('lists pending claims until they are settled or the lease comes over', () => {
    const ledger = new LeaseLedger();
    ledger.claimed('a');
    ledger.claimed('b');
    ledger.claimed('c');
    expect(ledger.pendingClaims()).toEqual(['a', 'b', 'c']);

    ledger.claimSettled('a');
    ledger.granted('b', 1);
    expect(ledger.pendingClaims()).toEqual(['c']);
    expect(ledger.result().claimsNotWithdrawn).toEqual(['c']);
  });

  it('adds takes still in flight to what is not released, once each, sorted', () => {
    const ledger = new LeaseLedger();
    ledger.granted('b', 1);
    ledger.takeUnanswered('c', 'take-c');
    expect(ledger.result(['d', 'b', 'a']).leasesNotReleased).toEqual(['a', 'b', 'c', 'd']);
    expect(ledger.result().claimsNotWithdrawn).toEqual([]);
  });

  it('sorts what it reports', () => {
    const ledger = new LeaseLedger();
    ledger.claimed('z');
    ledger.claimed('m');
    ledger.granted('y', 1);
    ledger.granted('k', 1);
    expect(ledger.result()).toMatchObject({ leasesNotReleased: ['k', 'y'], claimsNotWithdrawn: ['m', 'z'] });
  });

  it('starts afresh on reset', () => {
    const ledger = new LeaseLedger();
    ledger.granted('a', 1);
    ledger.releasedLease('a', 1);
    ledger.granted('b', 2);
    ledger.claimed('c');
    ledger.takeUnanswered('d', 'take-d');
    ledger.reset();
    expect(ledger.result()).toEqual({
      leasesTaken: 0,
      leasesReleased: 0,
      leasesNotReleased: [],
      claimsNotWithdrawn: [],
    });
    expect(ledger.uncertainTakes()).toEqual([]);
    expect(ledger.pendingClaims()).toEqual([]);
  });
});
