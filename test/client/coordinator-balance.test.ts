import { planBalance } from '../../lib/client/balance';
import type { Lease } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { SHARD_END } from '../../lib/core/sequence-number';
import type { StreamShard } from '../../lib/store/kinesis-shard-source';

const NOW = Date.parse('2026-11-25T00:00:00.000Z');
const live = formatLeaseTime(NOW + 5_000);
const expired = formatLeaseTime(NOW - 1);
const shard = (n: number, extra: Partial<StreamShard> = {}): StreamShard => ({
  shardId: `s${n}`,
  closed: false,
  ...extra,
});
const owned = (n: number, owner: string, extra: Partial<Lease> = {}): Lease => ({
  shardId: `s${n}`,
  owner,
  leaseTimeout: live,
  leaseCounter: 1,
  ...extra,
});
const shards = (count: number) => Array.from({ length: count }, (_, i) => shard(i));

describe('planBalance', () => {
  it('counts itself as a live worker, so a newcomer sees a share of ceil(shards ÷ workers)', () => {
    const rows = [0, 1, 2, 3, 4, 5].map((n) => owned(n, 'a'));
    const plan = planBalance({ workerId: 'b', shards: shards(6), rows, nowMs: NOW });
    expect(plan.share).toBe(3);
    expect(plan.steal).toEqual({ shardId: 's0', victim: 'a' });
  });

  it('treats expired leases and shards without rows as free, and does not steal while free shards fill the share', () => {
    const rows = [owned(0, 'a'), owned(1, 'a', { leaseTimeout: expired })];
    const plan = planBalance({ workerId: 'b', shards: shards(3), rows, nowMs: NOW });
    expect(plan.free).toEqual(['s1', 's2']);
    expect(plan.steal).toBeUndefined();
  });

  it('puts shards claimed by this worker first and shards claimed by others last', () => {
    const rows = [
      owned(0, 'x', { leaseTimeout: expired, claimRequest: 'other' }),
      owned(1, 'x', { leaseTimeout: expired }),
      owned(2, 'x', { leaseTimeout: expired, claimRequest: 'me' }),
    ];
    expect(planBalance({ workerId: 'me', shards: shards(3), rows, nowMs: NOW }).free).toEqual([
      's2',
      's1',
      's0',
    ]);
  });

  it('steals only from a worker holding at least two more, and never a shard already claimed', () => {
    // 7 shards, 3 workers: 3/3/1 is not settled (share 3), 3/2/2 is.
    const unsettled = [0, 1, 2]
      .map((n) => owned(n, 'a'))
      .concat(
        [3, 4, 5].map((n) => owned(n, 'b')),
        owned(6, 'c'),
      );
    expect(planBalance({ workerId: 'c', shards: shards(7), rows: unsettled, nowMs: NOW }).steal).toEqual({
      shardId: 's0',
      victim: 'a',
    });
    const claimed = unsettled.map((r) => (r.shardId === 's0' ? { ...r, claimRequest: 'z' } : r));
    expect(planBalance({ workerId: 'c', shards: shards(7), rows: claimed, nowMs: NOW }).steal).toEqual({
      shardId: 's1',
      victim: 'a',
    });
    const settled = [0, 1, 2]
      .map((n) => owned(n, 'a'))
      .concat(
        [3, 4].map((n) => owned(n, 'b')),
        owned(5, 'c'),
        owned(6, 'c'),
      );
    for (const workerId of ['a', 'b', 'c']) {
      expect(planBalance({ workerId, shards: shards(7), rows: settled, nowMs: NOW }).steal).toBeUndefined();
    }
  });

  it('keeps a child out until its parent row says SHARD_END, then counts the parent out', () => {
    const family = [
      shard(0, { closed: true }),
      shard(1, { parentShardId: 's0' }),
      shard(2, { parentShardId: 's0' }),
    ];
    const before = planBalance({
      workerId: 'w',
      shards: family,
      rows: [owned(0, 'w', { checkpoint: '7' })],
      nowMs: NOW,
    });
    expect(before.eligible).toEqual(['s0']);
    const noRowYet = planBalance({ workerId: 'w', shards: family, rows: [], nowMs: NOW });
    expect(noRowYet.eligible).toEqual(['s0']);
    const after = planBalance({
      workerId: 'w',
      shards: family,
      rows: [owned(0, 'w', { checkpoint: SHARD_END })],
      nowMs: NOW,
    });
    expect(after.eligible).toEqual(['s1', 's2']);
  });

  it('takes a merged child only when both parents have ended', () => {
    const merge = [
      shard(0, { closed: true }),
      shard(1, { closed: true }),
      shard(2, { parentShardId: 's0', adjacentParentShardId: 's1' }),
    ];
    const one = [owned(0, 'w', { checkpoint: SHARD_END }), owned(1, 'w', { checkpoint: '9' })];
    expect(planBalance({ workerId: 'w', shards: merge, rows: one, nowMs: NOW }).eligible).toEqual(['s1']);
    const both = [owned(0, 'w', { checkpoint: SHARD_END }), owned(1, 'w', { checkpoint: SHARD_END })];
    expect(planBalance({ workerId: 'w', shards: merge, rows: both, nowMs: NOW }).eligible).toEqual(['s2']);
  });

  it('counts a parent whose row is gone as done, and not to be read again, once Kinesis no longer lists it or a child has a row', () => {
    const trimmed = [shard(1, { parentShardId: 's0' })];
    expect(planBalance({ workerId: 'w', shards: trimmed, rows: [], nowMs: NOW }).eligible).toEqual(['s1']);
    const reaped = [shard(0, { closed: true }), shard(1, { parentShardId: 's0' })];
    const childRow = [owned(1, 'w', { leaseTimeout: expired, checkpoint: '3' })];
    expect(planBalance({ workerId: 'w', shards: reaped, rows: childRow, nowMs: NOW }).eligible).toEqual([
      's1',
    ]);
  });
});
