/**
 * The condition language has two interpreters: compiled to a DynamoDB ConditionExpression, and
 * `evaluateCondition` in memory (used to explain refusals). This property holds them to each other:
 * for random conditions over the lease attributes and random rows, dynalite and the core agree.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import {
  and,
  attr,
  type Comparator,
  type Condition,
  compare,
  evaluateCondition,
  missing,
  type Operand,
  or,
} from '../../lib/core/condition';
import { Attr, type AttrName, type AttrValue, type LeaseRow } from '../../lib/core/lease-row';
import { compileExpressions } from '../../lib/store/expressions';
import { toAttributeValue } from '../../lib/store/item';
import { createTestTable, type TestTable } from '../support/dynamo';

let table: TestTable;
beforeAll(async () => {
  table = await createTestTable('expressions');
});

const names = Object.values(Attr).filter((n) => n !== Attr.ShardId);
const attrName = fc.constantFrom<AttrName>(...Object.values(Attr));
// Few distinct values, so that equalities and orderings between row and condition often hold. ASCII
// only: beyond it dynalite departs from DynamoDB (size() counts UTF-16 units, not UTF-8 bytes, and
// strings order by UTF-16 units), and the rules measure and order only ASCII attributes (instants,
// sequence numbers); evaluateCondition follows DynamoDB there.
const text = fc.oneof(
  fc.constantFrom('', 'a', 'b', 'ab', 'w1', 'w2', 'SHARD_END', '10', '9', '100'),
  fc.constantFrom('2026-11-24T19:10:41.123Z', '2026-11-24T19:10:41Z', '2026-11-24T19:10:41.123456789Z'),
);
const number = fc.integer({ min: -2, max: 12 });
const value: fc.Arbitrary<AttrValue> = fc.oneof(text, number);
const comparator = fc.constantFrom<Comparator>('=', '<>', '<', '<=', '>', '>=');
const path: fc.Arbitrary<Operand> = fc.oneof(
  attrName.map((name) => ({ kind: 'attr' as const, name })),
  attrName.map((name) => ({ kind: 'size' as const, name })),
);
// The rules compare a path with a value, never two paths: dynalite, unlike DynamoDB, holds two
// missing operands equal (size(#a) = size(#a) on a missing row is true there), so path-with-path
// comparisons would test dynalite, not the compiler.
const operand: fc.Arbitrary<Operand> = value.map((v) => ({ kind: 'value' as const, value: v }));

const { condition } = fc.letrec<{ condition: Condition }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    attrName.map((name) => ({ kind: 'exists' as const, name })),
    attrName.map((name) => ({ kind: 'missing' as const, name })),
    fc.record({ kind: fc.constant('compare' as const), op: comparator, left: path, right: operand }),
    tie('condition').map((term) => ({ kind: 'not' as const, term })),
    fc.record({
      kind: fc.constantFrom('and' as const, 'or' as const),
      terms: fc.array(tie('condition'), { minLength: 1, maxLength: 3 }),
    }),
  ),
}));

/** A row holding a random subset of the attributes, each a string or a number; or no row at all. */
const row = fc.option(fc.dictionary(fc.constantFrom(...names), value, { maxKeys: names.length }), {
  nil: undefined,
  freq: 6,
});

let n = 0;
async function dynamoVerdict(shardId: string, c: Condition, stored: LeaseRow | undefined): Promise<boolean> {
  if (stored) {
    await table.io.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: Object.fromEntries(
          Object.entries(stored).map(([k, v]) => [k, toAttributeValue(v as AttrValue)]),
        ),
      }),
    );
  }
  try {
    // Rewriting the row as it is changes nothing: only the condition's verdict matters.
    await table.io.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: Object.fromEntries(
          Object.entries(stored ?? { [Attr.ShardId]: shardId }).map(([k, v]) => [
            k,
            toAttributeValue(v as AttrValue),
          ]),
        ),
        ...compileExpressions({ condition: c }),
      }),
    );
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

describe('compiled conditions', () => {
  it('give dynalite’s verdict on a row the same as evaluateCondition’s', async () => {
    let passed = 0;
    await fc.assert(
      fc.asyncProperty(condition, row, async (c, attrs) => {
        const shardId = `expr-${++n}`;
        const stored = attrs ? { ...attrs, [Attr.ShardId]: shardId } : undefined;
        const expected = evaluateCondition(c, stored);
        const actual = await dynamoVerdict(shardId, c, stored);
        expect({ condition: compileExpressions({ condition: c }), row: stored, verdict: actual }).toEqual({
          condition: compileExpressions({ condition: c }),
          row: stored,
          verdict: expected,
        });
        if (actual) passed++;
      }),
      { numRuns: 400, seed: Number(process.env.EXPRESSIONS_SEED ?? 424242) },
    );
    // Both verdicts must be common, or agreement would be trivial.
    expect(passed).toBeGreaterThan(40);
    expect(passed).toBeLessThan(360);
  });
});

describe('compiled expressions stay short for dynalite', () => {
  it('drops a group that repeats a sibling atom (A AND (B OR A) is A), and keeps the rest', () => {
    const owned = compare(attr(Attr.AssignedTo), '=', 'w1');
    const live = compare(attr(Attr.LeaseTimeout), '>', '2026-11-24T19:00:00.000Z');
    const compiled = compileExpressions({
      condition: and(owned, or(missing(Attr.AssignedTo), owned), or(missing(Attr.ClaimRequest), live)),
    });
    expect(compiled.ConditionExpression).toBe(
      '#AssignedTo = :v0 AND (attribute_not_exists(#ClaimRequest) OR #LeaseTimeout > :v1)',
    );
  });
});
