/**
 * A small condition language with two interpreters: the store compiles a condition to a DynamoDB
 * ConditionExpression, and `evaluateCondition` runs the same condition on a row in memory, with
 * DynamoDB's semantics. Each lease rule is therefore written once, and when DynamoDB refuses a write
 * the core can tell which part of the rule failed by evaluating the parts on the current row.
 */
import type { AttrName, AttrValue, LeaseRow } from './lease-row';

export type Operand =
  | { readonly kind: 'attr'; readonly name: AttrName }
  | { readonly kind: 'size'; readonly name: AttrName }
  | { readonly kind: 'value'; readonly value: AttrValue };

export type Comparator = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { readonly kind: 'and'; readonly terms: readonly Condition[] }
  | { readonly kind: 'or'; readonly terms: readonly Condition[] }
  | { readonly kind: 'not'; readonly term: Condition }
  | { readonly kind: 'exists'; readonly name: AttrName }
  | { readonly kind: 'missing'; readonly name: AttrName }
  | { readonly kind: 'compare'; readonly op: Comparator; readonly left: Operand; readonly right: Operand };

export const attr = (name: AttrName): Operand => ({ kind: 'attr', name });
export const size = (name: AttrName): Operand => ({ kind: 'size', name });
const operand = (x: Operand | AttrValue): Operand =>
  typeof x === 'object' ? x : { kind: 'value', value: x };

export const and = (first: Condition, ...rest: Condition[]): Condition =>
  rest.length === 0 ? first : { kind: 'and', terms: [first, ...rest] };
export const or = (first: Condition, ...rest: Condition[]): Condition =>
  rest.length === 0 ? first : { kind: 'or', terms: [first, ...rest] };
export const not = (term: Condition): Condition => ({ kind: 'not', term });
export const exists = (name: AttrName): Condition => ({ kind: 'exists', name });
export const missing = (name: AttrName): Condition => ({ kind: 'missing', name });
export const compare = (left: Operand, op: Comparator, right: Operand | AttrValue): Condition => ({
  kind: 'compare',
  op,
  left,
  right: operand(right),
});

function resolve(row: LeaseRow | undefined, x: Operand): AttrValue | undefined {
  switch (x.kind) {
    case 'value':
      return x.value;
    case 'attr':
      return row?.[x.name];
    case 'size': {
      const value = row?.[x.name];
      return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : undefined;
    }
  }
}

/**
 * DynamoDB semantics: a comparison with a missing attribute, or across types, is false, except `<>`,
 * which is true there (the operands are not equal).
 */
function comparePresent(op: Comparator, a: AttrValue | undefined, b: AttrValue | undefined): boolean {
  if (a === undefined || b === undefined || typeof a !== typeof b) return op === '<>';
  switch (op) {
    case '=':
      return a === b;
    case '<>':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/** Evaluates a condition on a row; `undefined` is a row that does not exist. */
export function evaluateCondition(condition: Condition, row: LeaseRow | undefined): boolean {
  switch (condition.kind) {
    case 'and':
      return condition.terms.every((t) => evaluateCondition(t, row));
    case 'or':
      return condition.terms.some((t) => evaluateCondition(t, row));
    case 'not':
      return !evaluateCondition(condition.term, row);
    case 'exists':
      return row?.[condition.name] !== undefined;
    case 'missing':
      return row?.[condition.name] === undefined;
    case 'compare':
      return comparePresent(condition.op, resolve(row, condition.left), resolve(row, condition.right));
  }
}
