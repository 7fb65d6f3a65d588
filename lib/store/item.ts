/** Rows in and out of DynamoDB's attribute-value form. Only S and N occur in the lease table. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Attr, type AttrValue, type LeaseRow } from '../core/lease-row';

export function toAttributeValue(value: AttrValue): AttributeValue {
  return typeof value === 'number' ? { N: String(value) } : { S: value };
}

export function toItem(row: LeaseRow): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(row))
    if (value !== undefined) item[name] = toAttributeValue(value);
  return item;
}

export function fromItem(item: Record<string, AttributeValue> | undefined): LeaseRow | undefined {
  if (!item) return undefined;
  const row: Record<string, AttrValue> = {};
  for (const [name, value] of Object.entries(item)) {
    if (value.S !== undefined) row[name] = value.S;
    else if (value.N !== undefined) row[name] = Number(value.N);
  }
  return row;
}

export function keyOf(shardId: string): Record<string, AttributeValue> {
  return { [Attr.ShardId]: { S: shardId } };
}
