import {
  and,
  attr,
  compare,
  evaluateCondition,
  exists,
  missing,
  not,
  or,
  size,
} from '../../lib/core/condition';
import type { LeaseRow } from '../../lib/core/lease-row';

const row: LeaseRow = {
  ShardID: 'shardId-1',
  AssignedTo: 'w1',
  LeaseTimeout: '2026-11-24T19:10:41.123Z',
  Checkpoint: '12345',
  LeaseCounter: 3,
};

describe('evaluateCondition', () => {
  it('tests presence, and treats a missing row as having no attributes', () => {
    expect(evaluateCondition(exists('AssignedTo'), row)).toBe(true);
    expect(evaluateCondition(missing('ClaimRequest'), row)).toBe(true);
    expect(evaluateCondition(exists('ShardID'), undefined)).toBe(false);
    expect(evaluateCondition(missing('ShardID'), undefined)).toBe(true);
  });

  it('compares strings lexically and numbers numerically', () => {
    expect(evaluateCondition(compare(attr('AssignedTo'), '=', 'w1'), row)).toBe(true);
    expect(evaluateCondition(compare(attr('AssignedTo'), '<>', 'w2'), row)).toBe(true);
    expect(evaluateCondition(compare(attr('LeaseTimeout'), '>', '2026-11-24T19:10:41.122Z'), row)).toBe(true);
    expect(evaluateCondition(compare(attr('LeaseTimeout'), '<=', '2026-11-24T19:10:41.123Z'), row)).toBe(
      true,
    );
    expect(evaluateCondition(compare(attr('LeaseCounter'), '<', 10), row)).toBe(true);
    expect(evaluateCondition(compare(attr('LeaseCounter'), '>=', 4), row)).toBe(false);
    // Lexical, not numeric: '12345' > '9' is false.
    expect(evaluateCondition(compare(attr('Checkpoint'), '>', '9'), row)).toBe(false);
  });

  it('is false for every comparison but <> with a missing attribute or across types, and <> is true (DynamoDB)', () => {
    for (const op of ['=', '<', '<=', '>', '>='] as const) {
      expect(evaluateCondition(compare(attr('ClaimRequest'), op, 'x'), row)).toBe(false);
      expect(evaluateCondition(compare(attr('LeaseCounter'), op, '3'), row)).toBe(false);
      expect(evaluateCondition(compare(attr('AssignedTo'), op, 1), undefined)).toBe(false);
    }
    expect(evaluateCondition(compare(attr('ClaimRequest'), '<>', 'x'), row)).toBe(true);
    expect(evaluateCondition(compare(attr('LeaseCounter'), '<>', '3'), row)).toBe(true);
    expect(evaluateCondition(compare(attr('AssignedTo'), '<>', 1), undefined)).toBe(true);
  });

  it('measures size() in UTF-8 bytes of a string, and has no size for a number or missing attribute', () => {
    expect(evaluateCondition(compare(size('Checkpoint'), '=', 5), row)).toBe(true);
    expect(evaluateCondition(compare(size('AssignedTo'), '=', 3), { AssignedTo: 'wé' })).toBe(true);
    expect(evaluateCondition(compare(size('LeaseCounter'), '>=', 0), row)).toBe(false);
    expect(evaluateCondition(compare(size('ClaimRequest'), '>=', 0), row)).toBe(false);
    expect(evaluateCondition(compare(size('Checkpoint'), '<', 'a'), row)).toBe(false);
  });

  it('combines with and, or and not', () => {
    const owned = compare(attr('AssignedTo'), '=', 'w1');
    const claimed = exists('ClaimRequest');
    expect(evaluateCondition(and(owned, not(claimed)), row)).toBe(true);
    expect(evaluateCondition(and(owned, claimed), row)).toBe(false);
    expect(evaluateCondition(or(claimed, owned), row)).toBe(true);
    expect(evaluateCondition(or(claimed, not(owned)), row)).toBe(false);
    // not() of a comparison with a missing attribute is true, as in DynamoDB.
    expect(evaluateCondition(not(compare(attr('ClaimRequest'), '=', 'x')), row)).toBe(true);
    expect(and(owned)).toBe(owned);
    expect(or(owned)).toBe(owned);
  });
});
