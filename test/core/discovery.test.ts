import { evaluateCondition } from '../../lib/core/condition';
import { discoveryWrite, shardsToDiscover } from '../../lib/core/discovery';
import { ruleTimes } from '../../lib/core/rules';

const shard = (shardId: string, extra: { parentShardId?: string; adjacentParentShardId?: string } = {}) => ({
  shardId,
  closed: false,
  ...extra,
});

describe('shardsToDiscover', () => {
  it('lists the shards without a row, with their parents', () => {
    const listed = [shard('s0'), shard('s1', { parentShardId: 's0' }), shard('s2', { parentShardId: 's0' })];
    expect(shardsToDiscover(listed, new Set(['s0'])).map((s) => s.shardId)).toEqual(['s1', 's2']);
  });

  it('never brings back a retired parent: a child of it has a row, so it was read to its end', () => {
    const listed = [
      shard('p'),
      shard('q'),
      shard('child', { parentShardId: 'p' }),
      shard('merged', { parentShardId: 'q', adjacentParentShardId: 'p' }),
    ];
    expect(shardsToDiscover(listed, new Set(['child'])).map((s) => s.shardId)).toEqual(['q', 'merged']);
    expect(shardsToDiscover(listed, new Set(['merged'])).map((s) => s.shardId)).toEqual(['child']);
  });
});

describe('discoveryWrite', () => {
  it('creates a row only where none exists, recording both parents of a merge', () => {
    const t = ruleTimes(Date.parse('2026-11-30T00:00:00.000Z'), { leaseDurationMs: 1, claimTimeoutMs: 1 });
    const write = discoveryWrite(shard('m', { parentShardId: 'a', adjacentParentShardId: 'b' }), t);
    expect(evaluateCondition(write.condition, undefined)).toBe(true);
    expect(evaluateCondition(write.condition, { ShardID: 'm' })).toBe(false);
    expect(write.update.set).toEqual([
      ['DiscoveredAt', { kind: 'set', value: t.now }],
      ['ParentShardId', { kind: 'set', value: 'a' }],
      ['AdjacentParentShardId', { kind: 'set', value: 'b' }],
    ]);
  });
});
