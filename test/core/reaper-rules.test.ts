/**
 * The reaper's delete decisions as a pure function (the row store and the reaper's I/O are tested
 * against dynalite and kinesalite in test/store and test/integration): the stream is authoritative
 * about children, and an ended row goes only once every child it has has a row.
 */
import { Attr, type LeaseRow } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { decideDeletes, type ListedShard, reaperTimes, streamViewProblem } from '../../lib/core/reaper-rules';
import { SHARD_END } from '../../lib/core/sequence-number';

const T0 = Date.parse('2026-11-25T00:00:00.000Z');
const times = reaperTimes(T0, { leaseDurationMs: 10_000, claimTimeoutMs: 120_000, graceMs: 10_000 });

const ended = (shardId: string): LeaseRow => ({
  [Attr.ShardId]: shardId,
  [Attr.Checkpoint]: SHARD_END,
  [Attr.LeaseTimeout]: formatLeaseTime(T0 - 60_000),
});
const open = (shardId: string, parent?: string): LeaseRow => ({
  [Attr.ShardId]: shardId,
  [Attr.Checkpoint]: '49590338271490256608559692538361571095921575989136588898',
  [Attr.LeaseTimeout]: formatLeaseTime(T0 - 60_000),
  ...(parent && { [Attr.ParentShardId]: parent }),
});
const listed = (shardId: string, extra: Partial<ListedShard> = {}): ListedShard => ({
  shardId,
  closed: false,
  ...extra,
});

const deleted = (rows: LeaseRow[], stream?: ListedShard[]) =>
  decideDeletes({ rows, ...(stream && { stream }), times }).map((d) => `${d.shardId}:${d.reason}`);

describe('decideDeletes', () => {
  it('keeps an ended parent while any child the stream lists has no row, whichever child it lists first', () => {
    const stream = [
      listed('p', { closed: true }),
      listed('a', { parentShardId: 'p' }),
      listed('b', { parentShardId: 'p' }),
    ];
    // Only the child listed last has a row: the one listed first still waits for its row.
    expect(deleted([ended('p'), open('b', 'p')], stream)).toEqual([]);
    expect(deleted([ended('p'), open('a', 'p')], stream)).toEqual([]);
    expect(deleted([ended('p'), open('a', 'p'), open('b', 'p')], stream)).toEqual(['p:ended']);
  });

  it('keeps an ended row whose shard the stream still lists as open', () => {
    const rows = [ended('p'), open('a', 'p')];
    expect(deleted(rows, [listed('p', { closed: false }), listed('a', { parentShardId: 'p' })])).toEqual([]);
    expect(deleted(rows, [listed('p', { closed: true }), listed('a', { parentShardId: 'p' })])).toEqual([
      'p:ended',
    ]);
  });

  it('counts a merge child listed as the adjacent parent’s child', () => {
    const stream = [
      listed('p', { closed: true }),
      listed('q', { closed: true }),
      listed('m', { parentShardId: 'q', adjacentParentShardId: 'p' }),
    ];
    expect(deleted([ended('p'), ended('q')], stream)).toEqual([]);
    expect(deleted([ended('p'), ended('q'), open('m', 'q')], stream).sort()).toEqual(['p:ended', 'q:ended']);
  });

  it('deletes a row the stream no longer lists as gone, and keeps an ended row without any known child', () => {
    expect(deleted([open('old')], [listed('new')])).toEqual(['old:gone']);
    expect(deleted([ended('p')], [listed('p', { closed: true })])).toEqual([]);
    expect(deleted([ended('p')])).toEqual([]);
  });
});

describe('streamViewProblem (a listing that must not drive deletes)', () => {
  it('refuses an empty listing and one without an open shard, and accepts one with an open shard', () => {
    expect(streamViewProblem([])).toBe('the stream listed no shards');
    expect(streamViewProblem([listed('a', { closed: true })])).toBe('the stream listed no open shard');
    expect(streamViewProblem([listed('a', { closed: true }), listed('b')])).toBeUndefined();
  });
});
